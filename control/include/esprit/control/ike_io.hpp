// The IKE datagram transport of the control core (docs/ike.md, "Transport"): IKE messages in and
// out of the DPDK ports on UDP 500 and 4500 (RFC 7296 2.11, RFC 3948 2.2 non-ESP marker), NAT-T
// keepalives (RFC 3948 4) and the Wireshark keys file (a debugging aid, off by default).
//
// Receive. Workers punt UDP 500 and UDP 4500 with the non-ESP marker addressed to one of our
// addresses (gateway.hpp); fragments to us were already reassembled by the worker's bounded
// Reassembler (fragment.hpp), so a fragment that still reaches the transport is dropped and
// counted (kFragment). parse_ike_frame() checks the UDP length and checksum (IPv4: 0 = none,
// allowed; IPv6: required, RFC 8200 8.1) and yields the endpoints and the IKE message (marker
// removed); IkeTransport::receive() hands it to the registered handler (the IKE SA manager).
//
// Send. IkeTransport::send() builds IP + UDP (+ marker on 4500), routes it through the FIB,
// fragments it (IPv4 and IPv6: the transport is the source, RFC 8200 4.5) above the egress port's
// MTU, resolves the next hop in the neighbour
// table like the workers do (unresolved: held by the table while it probes) and sends through the
// port's control TX path. A frame that path refuses (queue or ring full: a burst larger than it,
// such as the Deletes of every IKE SA at shutdown) waits, in order, in a bounded TX backlog that
// flush() retries each control-loop turn; only a full backlog drops (counted tx_full).
#pragma once

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <deque>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "esprit/common/ip_address.hpp"

struct rte_mbuf;
struct rte_mempool;

namespace esprit {

struct GatewayTables;
class NeighborWorker;

/// One end of an IKE conversation: address and UDP port.
struct IkeEndpoint {
  IpAddress address;
  uint16_t port = 0;
  friend bool operator==(const IkeEndpoint&, const IkeEndpoint&) = default;
};

/// A received IKE message. `message` points into the frame: valid only during the handler call.
struct IkeDatagram {
  uint16_t port_id = 0;  ///< DPDK port it arrived on
  IkeEndpoint local;     ///< our address and port ([ike] port or natt_port: 500 or 4500 by default)
  IkeEndpoint remote;    ///< the peer (possibly behind NAT: any port)
  std::span<const uint8_t> message;  ///< the IKE message, without the non-ESP marker
};

// X(enumerator, name, description): why a punted IKE frame or an IKE message to send was dropped.
#define ESPRIT_IKE_IO_DROPS(X)                                                                     \
  X(kMalformed, "malformed", "received: Ethernet/IP header truncated or not IPv4/IPv6 UDP")       \
  X(kFragment, "fragment", "received: an IP fragment (the workers reassemble those to us)")      \
  X(kBadUdpLength, "bad_udp_length", "received: UDP length beyond the IP packet or below 8")      \
  X(kBadUdpChecksum, "bad_udp_checksum", "received: UDP checksum wrong (or zero over IPv6)")      \
  X(kNotIkePort, "not_ike_port", "received: destination port neither the IKE nor the NAT-T port") \
  X(kNoMarker, "no_marker", "received: NAT-T port payload too short for the non-ESP marker")       \
  X(kEmpty, "empty", "received: no IKE message bytes")                                             \
  X(kNoHandler, "no_handler", "received: no IKE handler registered")                               \
  X(kBadRequest, "bad_request", "send: endpoints of different families, or message too long")    \
  X(kNoRoute, "no_route", "send: no route to the peer, a blackhole or tunnel route")              \
  X(kNoSource, "no_source", "send: the local address is not one of ours")                          \
  X(kNoMbuf, "no_mbuf", "send: mbuf pool empty")                                                   \
  X(kTooBig, "too_big", "send: above the port MTU and cannot be fragmented (>64 fragments)")   \
  X(kNeighborDrop, "neighbor_drop", "send: next hop unresolved and the hold request was refused")  \
  X(kTxFull, "tx_full", "send: the control TX queue did not take the frame and the TX backlog was full")

enum class IkeIoDrop : uint8_t {
#define ESPRIT_X(e, n, d) e,
  ESPRIT_IKE_IO_DROPS(ESPRIT_X)
#undef ESPRIT_X
      kCount
};
struct IkeIoDropInfo {
  IkeIoDrop drop;
  std::string_view name;
  std::string_view description;
};
inline constexpr IkeIoDropInfo kIkeIoDrops[] = {
#define ESPRIT_X(e, n, d) {IkeIoDrop::e, n, d},
    ESPRIT_IKE_IO_DROPS(ESPRIT_X)
#undef ESPRIT_X
};

struct IkeIoCounters {
  uint64_t rx_500 = 0;      ///< IKE messages received on the IKE port (UDP 500) and handed to the handler
  uint64_t rx_4500 = 0;     ///< the same on the NAT-T port (UDP 4500; marker removed)
  uint64_t tx = 0;          ///< IKE messages sent (or held for neighbour resolution)
  uint64_t tx_fragments = 0;  ///< IPv4 fragments those needed (0 when they fit)
  uint64_t held = 0;        ///< messages handed to the neighbour table to wait for resolution
  uint64_t keepalives = 0;  ///< NAT-T keepalives sent (RFC 3948 4)
  uint64_t handler_errors = 0;  ///< the handler threw (logged; the message is dropped)
  uint64_t tx_deferred = 0;  ///< frames the control TX path refused at once that waited in the TX backlog
  uint64_t tx_backlog_max = 0;  ///< most frames the TX backlog ever held at once
  uint64_t drops[static_cast<std::size_t>(IkeIoDrop::kCount)] = {};
  [[nodiscard]] uint64_t drop(IkeIoDrop d) const noexcept { return drops[static_cast<std::size_t>(d)]; }
};

/// What parse_ike_frame() found: on success `error` is kCount and `datagram` is filled.
struct IkeParseResult {
  IkeIoDrop error = IkeIoDrop::kCount;
  IkeDatagram datagram;
  [[nodiscard]] bool ok() const noexcept { return error == IkeIoDrop::kCount; }
};

/// Parses an Ethernet + IPv4/IPv6 + UDP frame punted as IKE (no VLAN tags, IPv6 without extension
/// headers, as the workers classify). Every length is checked against the frame.
/// `ike_port` and `natt_port` are the UDP ports IKE runs on ([ike] port and natt_port); on
/// `natt_port` the message follows the non-ESP marker.
[[nodiscard]] IkeParseResult parse_ike_frame(std::span<const uint8_t> frame, uint16_t port_id = 0,
                                             uint16_t ike_port = 500, uint16_t natt_port = 4500) noexcept;

/// Writes IP + UDP (+ the non-ESP marker when local.port or remote.port is `natt_port`) + `message` into
/// `out`, UDP checksum filled in (both families), IPv4 header checksum filled in, DF clear, TTL /
/// hop limit 64, IPv4 identification `ip_id`. Returns the bytes written, 0 if `out` is too small,
/// the families differ or the packet would exceed 65535 bytes.
[[nodiscard]] std::size_t build_ike_packet(const IkeEndpoint& local, const IkeEndpoint& remote,
                                           std::span<const uint8_t> message, uint16_t ip_id,
                                           std::span<uint8_t> out, uint16_t natt_port = 4500) noexcept;

/// Whether sending from or to the NAT-T port (`natt_port`, [ike] natt_port) needs the non-ESP
/// marker (RFC 3948 2.2).
[[nodiscard]] constexpr bool ike_needs_marker(uint16_t local_port, uint16_t remote_port,
                                              uint16_t natt_port = 4500) noexcept {
  return local_port == natt_port || remote_port == natt_port;
}

/// Cuts the IP packet `pkt` (IPv4 without DF, or IPv6 without extension headers) into fragments of
/// at most `mtu` bytes of IP (RFC 791; RFC 8200 4.5 with identification `id`). The packet itself
/// when it fits; empty when it cannot be fragmented (DF, MTU too small, more than kMaxFragments).
[[nodiscard]] std::vector<std::vector<uint8_t>> fragment_ip_packet(std::span<const uint8_t> pkt, uint16_t mtu,
                                                                   uint32_t id);

class IkeTransport {
 public:
  using Handler = std::function<void(const IkeDatagram&)>;

  /// `tables` gives the FIB, the neighbour table, the ports and our addresses; `pool` the mbufs
  /// of sent messages (and fragment headers; fragments' data segments from tables.indirect_pool).
  IkeTransport(GatewayTables& tables, rte_mempool* pool);
  ~IkeTransport();
  IkeTransport(const IkeTransport&) = delete;
  IkeTransport& operator=(const IkeTransport&) = delete;

  /// The IKE SA manager registers here; without a handler received messages are dropped (counted).
  void set_handler(Handler h) { handler_ = std::move(h); }

  /// Takes a punted frame (owned from here on: freed before returning).
  void receive(rte_mbuf* m) noexcept;
  /// Sends `message` from `local` to `remote`. False when dropped (reason counted). True when
  /// handed to the port or held for neighbour resolution.
  bool send(const IkeEndpoint& local, const IkeEndpoint& remote, std::span<const uint8_t> message,
            std::chrono::nanoseconds now) noexcept;
  /// A NAT-T keepalive: the single byte 0xff from local:natt_port to remote (RFC 3948 2.3), no marker.
  bool send_keepalive(const IpAddress& local, const IkeEndpoint& remote, std::chrono::nanoseconds now) noexcept;

  /// Frames the TX backlog holds at most (all ports together) before a refused frame is dropped
  /// as tx_full. The backlog keeps the frames' bytes on the heap, not mbufs: a long backlog never
  /// takes the workers' mbufs.
  static constexpr std::size_t kDefaultTxBacklog = 16384;
  /// Changes the bound (frames already held stay, even above it).
  void set_tx_backlog_limit(std::size_t frames) noexcept { backlog_limit_ = frames; }
  /// Hands the TX backlog's frames, oldest first, to their ports' control TX path until it refuses
  /// one; a port's later frames always leave behind its earlier ones. The control loop calls it
  /// every turn. Returns how many frames left.
  std::size_t flush() noexcept;
  /// Frames waiting in the TX backlog (the control loop does not sleep long while there are).
  [[nodiscard]] std::size_t tx_backlog() const noexcept { return backlog_size_; }

  [[nodiscard]] const IkeIoCounters& counters() const noexcept { return c_; }

 private:
  bool send_packet(const IpAddress& local, const IpAddress& remote, std::span<const uint8_t> pkt,
                   std::chrono::nanoseconds now) noexcept;
  rte_mbuf* to_mbuf(std::span<const uint8_t> bytes) noexcept;
  bool transmit(uint16_t port, rte_mbuf* m) noexcept;
  /// Offers `n` mbufs to the port's control TX queue or ring; returns how many it took (owns those).
  uint16_t offer(uint16_t port, rte_mbuf** m, uint16_t n) noexcept;
  /// Sends the port's backlogged frames until the path refuses; true when none is left.
  bool flush_port(uint16_t port) noexcept;
  void count(IkeIoDrop d) noexcept { ++c_.drops[static_cast<std::size_t>(d)]; }

  GatewayTables& t_;
  rte_mempool* pool_;
  std::unique_ptr<NeighborWorker> neighbor_;  ///< the control core's resolution budget
  Handler handler_;
  IkeIoCounters c_;
  uint16_t ip_id_ = 1;
  uint32_t frag_id_ = 1;  ///< IPv6 fragment identification
  /// Per port (index: port id), the frames (Ethernet header included) its control TX path refused,
  /// oldest first.
  std::vector<std::deque<std::vector<uint8_t>>> backlog_;
  std::size_t backlog_size_ = 0;  ///< frames in backlog_, all ports
  std::size_t backlog_limit_ = kDefaultTxBacklog;
};

/// NAT-T keepalives (RFC 3948 4): for every registered (local, remote) a 0xff datagram to the
/// peer's UDP port every `interval`, unless an IKE message went to that peer meanwhile (note_sent).
/// ESP traffic to the peer does not yet count as "meanwhile" (the workers do not report it).
/// Driven by poll(now) on the control loop: no thread, no blocking, time passed in.
class NattKeepalives {
 public:
  /// `send(local, remote, now)` sends one keepalive (IkeTransport::send_keepalive in espritd).
  using Sender = std::function<bool(const IpAddress&, const IkeEndpoint&, std::chrono::nanoseconds)>;
  NattKeepalives(Sender send, std::chrono::nanoseconds interval) : send_(std::move(send)), interval_(interval) {}

  /// Starts keepalives for the pair (the first one interval from now); re-adding resets its timer.
  void add(const IpAddress& local, const IkeEndpoint& remote, std::chrono::nanoseconds now);
  void remove(const IpAddress& local, const IkeEndpoint& remote);
  /// Something was sent to `remote`: its next keepalive is due interval from now.
  void note_sent(const IkeEndpoint& remote, std::chrono::nanoseconds now) noexcept;
  /// Sends the keepalives that are due; returns how many were sent.
  uint32_t poll(std::chrono::nanoseconds now);
  /// When poll() next has something to do (nanoseconds::max() with nothing registered).
  [[nodiscard]] std::chrono::nanoseconds next_due() const noexcept;
  [[nodiscard]] std::size_t size() const noexcept { return entries_.size(); }

 private:
  struct Entry {
    IpAddress local;
    IkeEndpoint remote;
    std::chrono::nanoseconds last;  ///< last packet (keepalive or IKE) sent to the peer
  };
  Sender send_;
  std::chrono::nanoseconds interval_;
  std::vector<Entry> entries_;
};

}  // namespace esprit
