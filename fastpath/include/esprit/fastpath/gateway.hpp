// The gateway's worker pipeline: rx burst -> classify -> SPD / SAD -> ESP -> route -> neighbour ->
// tx burst, run to completion on one lcore per set of RX queues.
//
// Classification of a received frame:
//   ARP                                             -> punt (control core)
//   IPv4/IPv6 to one of our addresses:
//     ESP (proto 50), UDP 4500 without the non-ESP marker  -> inbound ESP
//     UDP 500, UDP 4500 with the marker (IKE), ICMP, ICMPv6 -> punt
//     NAT keepalive (UDP 4500, one byte 0xff)               -> dropped, counted
//     (500 and 4500 are GatewayTables::ike_port / natt_port: [ike] port and natt_port)
//     anything else                                          -> dropped, counted
//   IPv6 to a multicast address, ICMPv6 (neighbour discovery) -> punt
//   other IP arriving on a protected port           -> outbound policy (SPD out: protect/bypass/discard;
//                                                      unmatched traffic routed into a tunnel
//                                                      interface is encapsulated before the default)
//   other IP arriving on an unprotected port        -> inbound policy: only BYPASS forwards clear text
//   (martian addresses, e.g. 127/8, 0/8, 255.255.255.255, ::1, are dropped before either policy)
// Inbound ESP: SAD lookup by (SPI, destination); an SA owned by another worker (several workers,
// RSS) is handed to its owner's ring (GatewayTables::handoff) and decapsulated there, so one SA has
// one decapsulating worker; then decap, then the inner packet must match one of the
// traffic selectors of the SA it came in on (RFC 4301 5.2); an SA of a route-based tunnel
// interface carries 0.0.0.0/0 and ::/0. Decapsulated packets then go through the outbound SPD
// (hub and spoke): PROTECT re-encrypts them towards another peer, never back to their own.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string_view>
#include <vector>

#include "esprit/common/ip_address.hpp"
#include "esprit/common/policy.hpp"
#include "esprit/fastpath/counter.hpp"
#include "esprit/fastpath/esp.hpp"
#include "esprit/fastpath/fragment.hpp"
#include "esprit/fastpath/icmp_error.hpp"

struct rte_mbuf;
struct rte_mempool;
struct rte_ring;

namespace esprit {

class ControlWake;
class Rcu;
class Sad;
class Spd;
class Fib;
class NeighborTable;
class NeighborWorker;
class NeighborWorkerCounters;
class Port;
struct SpdPacket;

// X(enumerator, name, description)
#define ESPRIT_GATEWAY_DROPS(X)                                                                 \
  X(kNotIp, "not_ip", "frame too short, or neither ARP, IPv4 nor IPv6 (VLAN tags unsupported)") \
  X(kBadIpHeader, "bad_ip_header", "IP header malformed, or IPv4 header checksum bad (NIC flag, else checked in software)") \
  X(kToUsUnsupported, "to_us_unsupported", "addressed to the gateway, no local service")        \
  X(kNattKeepalive, "natt_keepalive", "NAT-T keepalive received (RFC 3948 2.3)")                 \
  X(kPuntFull, "punt_full", "the control core's punt ring was full")                            \
  X(kPolicyDiscard, "policy_discard", "SPD rule (or default) says DISCARD")                     \
  X(kBadExtHeaders, "bad_ext_headers", "IPv6 extension header chain cut short, Hop-by-Hop not first, or more than 8 headers") \
  X(kClearNotBypass, "clear_not_bypass", "clear text on an unprotected port without BYPASS")    \
  X(kNoSa, "no_sa", "no SA for the SPI and destination, or the policy's SA is gone")           \
  X(kInboundPolicy, "inbound_policy", "decapsulated packet outside its SA's selectors")          \
  X(kTtlExceeded, "ttl_exceeded", "TTL or hop limit would reach zero")                          \
  X(kNoRoute, "no_route", "no route to the destination, or a blackhole route")                  \
  X(kTooBig, "too_big", "above the path MTU and may not be fragmented (DF, IPv6): ICMP sent")   \
  X(kFragFailed, "frag_failed", "fragmentation failed (no mbufs, more than 64 fragments)")       \
  X(kFragTimeout, "frag_timeout", "inbound fragment whose packet was not complete in time")     \
  X(kFragInvalid, "frag_invalid", "inbound fragment refused: overlap, too many, table full")    \
  X(kFragTooBig, "frag_too_big", "reassembled packet larger than one mbuf (of the jumbo pool)")   \
  X(kSegmented, "segmented", "frame received in segments that could not be made contiguous")     \
  X(kNeighborDrop, "neighbor_drop", "next hop unresolved and the hold request was refused")     \
  X(kTxFull, "tx_full", "the port's TX queue did not take the packet")                         \
  X(kHandoffFull, "handoff_full", "the owner worker's handoff ring for inbound ESP was full")     \
  X(kMartian, "martian", "source or destination never routed (0/8, 127/8, broadcast, ::, ::1, multicast source)") \
  X(kHubLoop, "hub_loop", "decrypted packet that policy or route would encrypt back to the peer it came from")

enum class GatewayDrop : uint8_t {
#define ESPRIT_X(e, n, d) e,
  ESPRIT_GATEWAY_DROPS(ESPRIT_X)
#undef ESPRIT_X
      kCount
};

struct GatewayDropInfo {
  GatewayDrop drop;
  std::string_view name;
  std::string_view description;
};
inline constexpr GatewayDropInfo kGatewayDrops[] = {
#define ESPRIT_X(e, n, d) {GatewayDrop::e, n, d},
    ESPRIT_GATEWAY_DROPS(ESPRIT_X)
#undef ESPRIT_X
};

// X(field, description): the scalar per-worker counters, in the order they are shown.
#define ESPRIT_GATEWAY_COUNTERS(X)                                                       \
  X(rx, "frames received")                                                              \
  X(tx, "frames sent")                                                                  \
  X(punted, "frames handed to the control core")                                        \
  X(encapsulated, "packets encapsulated in ESP")                                        \
  X(decapsulated, "ESP packets decapsulated")                                           \
  X(bypassed, "packets forwarded in clear by a BYPASS rule")                            \
  X(fragmented, "packets cut into fragments (outer after ESP, or inner before)")        \
  X(fragments, "fragments those gave")                                                  \
  X(reassembled, "inbound packets put together from fragments")                         \
  X(mss_clamped, "TCP SYNs whose MSS option was lowered")                               \
  X(icmp_sent, "ICMP errors generated (too big, time exceeded)")                        \
  X(icmp_suppressed, "ICMP errors not sent: rate limit, no source address, no mbuf")     \
  X(handed_off, "inbound ESP passed to the worker owning its SA")

/// Per-worker counters: written by their worker only (counter_add), read by the control core
/// while the worker runs (snapshot()).
struct alignas(64) GatewayCounters {
#define ESPRIT_X(f, d) uint64_t f = 0;
  ESPRIT_GATEWAY_COUNTERS(ESPRIT_X)
#undef ESPRIT_X
  uint64_t drops[static_cast<std::size_t>(GatewayDrop::kCount)] = {};
  void drop(GatewayDrop d, uint64_t n = 1) noexcept { counter_add(drops[static_cast<std::size_t>(d)], n); }
  /// A copy read with relaxed loads (any thread).
  [[nodiscard]] GatewayCounters snapshot() const noexcept {
    GatewayCounters s;
#define ESPRIT_X(f, d) s.f = counter_load(f);
    ESPRIT_GATEWAY_COUNTERS(ESPRIT_X)
#undef ESPRIT_X
    for (std::size_t i = 0; i < std::size(drops); ++i) s.drops[i] = counter_load(drops[i]);
    return s;
  }
};

/// An address of the gateway and the port it is configured on.
struct LocalAddress {
  IpAddress address;
  uint16_t port;
};

/// What the workers read. Built by the daemon before the workers start; the pointed-to tables
/// are updated by the control core under RCU while workers run.
struct GatewayTables {
  Rcu* rcu = nullptr;
  Sad* sad = nullptr;
  Spd* spd = nullptr;
  Fib* fib = nullptr;
  NeighborTable* neighbors = nullptr;
  std::vector<Port*> ports;            ///< indexed by DPDK port id (nullptr: not ours)
  std::vector<LocalAddress> local;     ///< the gateway's own addresses
  /// UDP ports of IKE to our addresses ([ike] port and natt_port): ike_port is punted; on natt_port
  /// the non-ESP marker tells IKE (punted) from ESP in UDP (decapsulated). Fixed once workers run.
  uint16_t ike_port = 500;
  uint16_t natt_port = 4500;
  rte_ring* punt = nullptr;            ///< mbufs (with L2) for the control core, multi-producer
  /// The control core's doorbell, rung after a burst is punted (control_wake.hpp); nullptr: the
  /// control core polls without sleeping on it.
  ControlWake* control_wake = nullptr;
  /// Per port id: frames from the control core for a port without a spare TX queue (single
  /// producer, single consumer: the worker that owns TX queue 0); nullptr when not needed.
  std::vector<rte_ring*> control_tx;
  /// Route-based tunnels: tunnel id -> outbound SA slot (kNoTunnelSa when none).
  std::unique_ptr<std::atomic<uint32_t>[]> tunnel_sa;
  uint32_t tunnels = 0;
  /// Inbound SAD slot -> the traffic selectors its inner packets must match (RFC 4301 5.2): those
  /// of the policies that name the SA. Empty for an SA of a route-based tunnel (0.0.0.0/0, ::/0).
  /// Set before the workers start (static SAs); IKE will publish them with the SA.
  std::vector<std::vector<TrafficSelector>> sa_selectors;
  /// SAD slot -> fragmentation mode, MSS clamp and tunnel MTU of the SA (docs/fragmentation.md).
  std::vector<SaPathOptions> sa_paths;
  /// SAD slot -> the peer of the SA (0: unknown), equal for the inbound and outbound SAs of one
  /// peer (same remote address and NAT-T port). A decrypted packet that policy or a tunnel route
  /// would encrypt into an SA of the peer it came from is dropped (hub_loop), not sent back.
  std::vector<uint32_t> sa_peer;
  /// Fragments: headers come from `pool`, indirect segments pointing into the original packet from
  /// `indirect_pool`; ICMP errors from `pool`. Without them, packets that do not fit are dropped.
  rte_mempool* pool = nullptr;
  rte_mempool* indirect_pool = nullptr;
  /// One-segment mbufs large enough for the biggest packet a worker must hold contiguous: a
  /// reassembled packet (up to `reassembly.max_fragments` fragments of the largest port MTU) or a
  /// frame a port delivered in segments (RX scatter). A chain that does not fit `pool`'s data room
  /// is copied into one of these; without it (or when it is empty or too small) such packets are
  /// dropped (frag_too_big, segmented).
  rte_mempool* jumbo_pool = nullptr;
  /// Per-worker bounds of inbound reassembly and the ICMP error rate ([fragmentation]).
  Reassembler::Options reassembly;
  uint32_t icmp_rate = 100;  ///< errors per second and worker
  uint32_t icmp_burst = 10;
  /// Per worker id: a ring (multi-producer, single-consumer, capacity kHandoffRing) of inbound ESP
  /// mbufs (starting at the outer IP header) for the SAs that worker owns (Sad::owner), filled by
  /// the other workers and drained by the owner on every poll. Empty with one worker: nothing is
  /// handed off and the check costs one branch per burst.
  std::vector<rte_ring*> handoff;
};

/// Entries of each handoff ring: a few RX bursts of every other worker.
inline constexpr unsigned kHandoffRing = 1024;

/// Whether the IP packet at `l3` (`len` bytes) matches `ts` (addresses, protocol, ports).
[[nodiscard]] bool selector_matches(const TrafficSelector& ts, const uint8_t* l3, uint32_t len) noexcept;
inline constexpr uint32_t kNoTunnelSa = UINT32_MAX;

struct RxQueue {
  uint16_t port;
  uint16_t queue;
};

/// One worker lcore's pipeline.
class GatewayWorker {
 public:
  GatewayWorker(GatewayTables& tables, uint32_t worker_id, std::vector<RxQueue> rx, uint16_t tx_queue,
                std::unique_ptr<EspWorker> esp, std::unique_ptr<NeighborWorker> neighbor);
  ~GatewayWorker();
  GatewayWorker(const GatewayWorker&) = delete;
  GatewayWorker& operator=(const GatewayWorker&) = delete;

  /// Polls every RX queue once and processes what arrived; returns the packets it handled: those
  /// received, those handed over by other workers and the control core's frames it sent.
  uint32_t poll_once(std::chrono::nanoseconds now) noexcept;
  /// Registers with RCU and polls until `stop` is set; reports a quiescent state every round.
  /// With an idle sleep set, sleeps that long (RCU offline) after kIdlePolls empty polls in a row.
  void run(const std::atomic<bool>& stop) noexcept;
  /// [daemon] worker_idle_sleep_us: 0 busy-polls (the default); set before run().
  void set_idle_sleep(std::chrono::microseconds sleep) noexcept { idle_sleep_ = sleep; }
  /// Empty polls in a row before an idle sleep: about 30 us of polling on a virtual port, so a
  /// burst's stragglers and the control core's answer to a punted packet are still caught awake.
  static constexpr uint32_t kIdlePolls = 32;
  /// Idle sleeps taken so far (relaxed; read by any thread).
  [[nodiscard]] uint64_t idle_sleeps() const noexcept { return idle_sleeps_.load(std::memory_order_relaxed); }

  /// Written by this worker only; read them with GatewayCounters::snapshot().
  [[nodiscard]] const GatewayCounters& counters() const noexcept { return counters_; }
  /// The neighbour-resolution counters of this worker (relaxed atomics).
  [[nodiscard]] const NeighborWorkerCounters& neighbor_counters() const noexcept;
  [[nodiscard]] uint32_t id() const noexcept { return id_; }

 private:
  void process(uint16_t port, rte_mbuf** pkts, uint16_t n, std::chrono::nanoseconds now) noexcept;
  /// TTL / hop limit, then outbound_policy() (packets start at their IP header).
  void outbound(rte_mbuf** pkts, uint16_t n, std::chrono::nanoseconds now) noexcept;
  /// The outbound SPD and what it says for live[0,n), whose TTL is already decremented; l3[i] is
  /// live[i]'s IP header and data length.
  void outbound_policy(rte_mbuf** live, const SpdPacket* l3, uint16_t n, std::chrono::nanoseconds now) noexcept;
  void clear_inbound(rte_mbuf** pkts, uint16_t n, std::chrono::nanoseconds now) noexcept;
  void inbound_esp(rte_mbuf** pkts, uint16_t n, std::chrono::nanoseconds now) noexcept;
  /// Passes pkts[0,n) to the workers owner[0,n) through their handoff rings.
  void hand_off(rte_mbuf** pkts, const uint32_t* owner, uint16_t n) noexcept;
  // gateway_hub.cpp: decrypted packets towards another peer (hub and spoke).
  /// Decapsulated packets pkts[0,n), from the inbound SAD slots from[0,n): martians dropped, then
  /// the outbound SPD: PROTECT re-encrypts (unless back to the same peer), BYPASS forwards (never
  /// in clear to an unprotected port), a DISCARD rule drops; unmatched packets follow their route
  /// (a tunnel interface encrypts with its SA; a protected port forwards; else dropped).
  void hub_forward(rte_mbuf** pkts, const uint32_t* from, uint16_t n, std::chrono::nanoseconds now) noexcept;
  /// Whether the SA in `out_slot` leads back to the peer of the inbound SA in `in_slot`.
  [[nodiscard]] bool same_peer(uint32_t in_slot, uint32_t out_slot) const noexcept;
  /// Encapsulates pkts[0,n), pkts[i] with the SA in slots[i], in one multi-SA engine call (per-SA
  /// path options, MSS clamp and pre-fragmentation, first, per run of one slot): pkts[0,k) are
  /// ready to route, failures freed.
  uint16_t encap(const uint32_t* slots, rte_mbuf** pkts, uint16_t n, std::chrono::nanoseconds now) noexcept;
  /// Routes and sends packets that start at their IP header. `allow_tunnel`: a route into a
  /// tunnel interface encapsulates; `tunnel_only`: any other route means the SPD default (DISCARD);
  /// `decrypted`: packets that came out of a tunnel, never sent in clear to an unprotected port.
  void forward(rte_mbuf** pkts, uint16_t n, std::chrono::nanoseconds now, bool allow_tunnel,
               bool tunnel_only = false, bool decrypted = false) noexcept;
  /// The FIB next hop of each packet's destination (IPv4 and IPv6 looked up in one batch each).
  /// Returns a mask of the IPv6 packets (bit i: pkts[i]; n <= 32), the others being IPv4.
  uint32_t lookup_next_hops(rte_mbuf* const* pkts, uint16_t n, uint32_t* nh) const noexcept;
  void send(uint16_t port, rte_mbuf* m) noexcept;
  /// Appends pkts[0,n) to the port's TX buffer, sending a full buffer as it goes.
  void send_run(uint16_t port, rte_mbuf* const* pkts, uint16_t n) noexcept;
  // gateway_frag.cpp: packets that do not fit, MSS clamp, ICMP errors, reassembly.
  /// MSS clamp, then the SA's fragmentation rules for inner packets that do not fit; pre-fragmented
  /// packets are encapsulated and forwarded here. Returns the packets left for encapsulation.
  uint16_t tunnel_ingress(uint32_t slot, EspSa& sa, rte_mbuf** pkts, uint16_t n, std::chrono::nanoseconds now) noexcept;
  /// MSS clamp on packets decapsulated from `slot`.
  void tunnel_egress(uint32_t slot, EspSa& sa, rte_mbuf** pkts, uint16_t n) noexcept;
  /// A packet above the egress MTU in forward(): fragmented (sent by forward_fragments()), or
  /// dropped with an ICMP error (none about `decrypted` packets).
  void too_big(rte_mbuf* m, uint16_t mtu, bool decrypted) noexcept;
  /// Forwards what too_big() fragmented (after forward()'s loop) with the same flags.
  void forward_fragments(std::chrono::nanoseconds now, bool decrypted) noexcept;
  /// Queues an ICMP error about `m` (still owned by the caller), rate-limited. `decrypted`: `m`
  /// came out of a tunnel, the error goes through the outbound SPD (back into the tunnel, RFC 4301
  /// 6.2) from the gateway's address on a protected port.
  void icmp_error(const rte_mbuf* m, IcmpErrorKind kind, uint32_t mtu, bool decrypted = false) noexcept;
  /// Routes the queued ICMP errors (end of process()).
  void flush_icmp(std::chrono::nanoseconds now) noexcept;
  /// A fragment addressed to us: nullptr while incomplete or dropped, else the whole packet.
  rte_mbuf* reassemble(rte_mbuf* m, bool v6, uint32_t l3_len, std::chrono::nanoseconds now) noexcept;
  /// Gives up on reassemblies that timed out; once per poll.
  void reassembly_poll(std::chrono::nanoseconds now) noexcept;
  struct FragState;
  static std::unique_ptr<FragState> make_frag_state(const GatewayTables& t, uint32_t worker_id);
  /// The largest inner packet of `sa` that fits its path (0: unknown).
  uint32_t sa_max_inner(uint32_t slot, const EspSa& sa) noexcept;
  void flush() noexcept;
  void drop(rte_mbuf* m, GatewayDrop why) noexcept;

  GatewayTables& t_;
  uint32_t id_;
  std::vector<RxQueue> rx_;
  uint16_t tx_queue_;
  std::unique_ptr<EspWorker> esp_;
  std::unique_ptr<NeighborWorker> neighbor_;
  GatewayCounters counters_;
  struct TxBuffer;
  std::unique_ptr<TxBuffer[]> tx_;  ///< one per port id
  std::unique_ptr<FragState> frag_;  ///< gateway_frag.cpp

 public:
  /// False when the reassembly table could not be created (the daemon refuses to start).
  [[nodiscard]] bool fragmentation_ready() const noexcept;

 private:
  /// The gateway's addresses (GatewayTables::local, fixed once workers run), network order.
  std::vector<uint32_t> local4_;
  std::vector<std::array<uint8_t, 16>> local6_;
  std::chrono::microseconds idle_sleep_{0};  ///< [daemon] worker_idle_sleep_us
  std::atomic<uint64_t> idle_sleeps_{0};
  uint16_t ike_port_;   ///< GatewayTables::ike_port
  uint16_t natt_port_;  ///< GatewayTables::natt_port
};

}  // namespace esprit
