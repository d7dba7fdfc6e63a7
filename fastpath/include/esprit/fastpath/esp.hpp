// The ESP engine: encapsulation and decapsulation of rte_mbuf bursts of one SA or of many SAs
// (RFC 4303, RFC 3948 UDP encapsulation, RFC 4106 GCM, RFC 7634 ChaCha20-Poly1305,
// RFC 3602/2451/2404/4868 CBC + HMAC), with crypto done by Intel IPsec-MB in one batch per burst.
//
// Packet contract: an mbuf handed to encap_burst() starts at the inner IP header (no L2 header);
// after success it starts at the outer IP header. decap_burst() takes the outer IP header and
// leaves the inner IP packet (tunnel mode) or the restored transport packet. The daemon strips and
// adds the L2 header; 128 bytes of default mbuf headroom leave room for both.
//
// Threading: an EspWorker belongs to one lcore. An outbound SA may be used by several workers at
// once (the sequence counter is atomic and reserved once per burst). An inbound SA is decapsulated
// by one worker at a time (the daemon steers an SPI to one worker), because its replay window is
// plain memory.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>

#include "esprit/common/sa_descriptor.hpp"
#include "esprit/fastpath/drop_reason.hpp"
#include "esprit/fastpath/sa_counters.hpp"

struct rte_mbuf;
struct rte_ring;
typedef struct IMB_MGR IMB_MGR;

namespace esprit {

class ControlWake;
class EspSa;
class EspWorker;

/// Largest number of packets handed to IPsec-MB in one batch; longer bursts are cut in chunks.
inline constexpr uint16_t kEspMaxBatch = 64;

/// Lifetime events raised by the fast path and read by the control core from the worker's ring.
enum class SaEventKind : uint8_t { kSoftLifetime = 1, kHardLifetime = 2, kSeqExhausted = 3 };

struct SaEvent {
  uint64_t cookie;  ///< SaDescriptor::cookie
  uint32_t spi;
  SaEventKind kind;
  SaDirection direction;
  uint16_t reserved = 0;
};
static_assert(sizeof(SaEvent) == 16);

/// Lifetime events that found their ring full (lost; the SA's state still shows the change), since
/// start, over all workers and rings. The control core compares it between drains to know when to
/// poll the SAs' states instead.
[[nodiscard]] uint64_t sa_events_lost() noexcept;

/// pkts[0,k) are encapsulated and ready to send; pkts[k,n) failed, are still owned by the caller,
/// and each failure was counted in `counters.drops`. Order is kept within both parts.
[[nodiscard]] uint16_t encap_burst(EspWorker& worker, EspSa& sa, std::span<rte_mbuf*> pkts,
                                   SaCounters& counters) noexcept;

/// As encap_burst(), for inbound packets of one SA: pkts[0,k) now hold the inner packets.
[[nodiscard]] uint16_t decap_burst(EspWorker& worker, EspSa& sa, std::span<rte_mbuf*> pkts,
                                   SaCounters& counters) noexcept;

/// Encapsulates a burst whose packets belong to many outbound SAs (pkts[i] with sas[i], counted in
/// counters[i]) with one IPsec-MB batch per kEspMaxBatch packets: each packet is prepared by its
/// own SA's variant, each SA's sequence numbers are reserved once per batch for all its packets
/// (in burst order), and all jobs go to the manager together. pkts[0,k) are encapsulated; pkts[k,n)
/// failed and are still owned by the caller, each drop counted in its own counters. `sas` and
/// `counters` are permuted with `pkts` so sas[j] stays the SA of pkts[j]; order is kept within both
/// parts. All packets of one SA must share one counters block. The spans must have the same size
/// (the shortest one bounds the burst).
[[nodiscard]] uint16_t encap_burst_multi(EspWorker& worker, std::span<rte_mbuf*> pkts, std::span<EspSa*> sas,
                                         std::span<SaCounters*> counters) noexcept;

/// Brings into the cache what encap/decap read from each SA: its two hot state lines (variant,
/// lengths, outer header template, lifetime, sequence counter), the replay window (inbound), the
/// job fields of CBC and ChaCha20 SAs, and the key schedule lines a GCM or CBC call reads first.
/// For bursts whose SAs are likely cache misses (many SAs), called once for the burst before any
/// of them is used, so their misses overlap (encap_burst_multi and decap_burst_multi do it for
/// batches of several SAs). No effect on results.
void prefetch_sas(EspSa* const* sas, uint16_t n) noexcept;

/// As encap_burst_multi(), for inbound packets of many SAs. Each SA's replay window is checked and
/// updated in burst order (a duplicate within the burst is caught as in decap_burst()); the rule
/// "one decapsulating worker per inbound SA" still holds.
[[nodiscard]] uint16_t decap_burst_multi(EspWorker& worker, std::span<rte_mbuf*> pkts, std::span<EspSa*> sas,
                                         std::span<SaCounters*> counters) noexcept;

/// Per-lcore state: the IPsec-MB manager, the CBC IV generator, scratch for one batch.
class EspWorker {
 public:
  /// `events` (optional) is an rte_ring of SaEvent elements (rte_ring_create_elem, 16-byte elements;
  /// multi-producer when several workers share it) that receives lifetime events; when it is full
  /// the event is counted in sa_events_lost() and still visible in the SA's state. `wake`
  /// (optional) is the control core's doorbell, rung after each event (control_wake.hpp).
  static std::unique_ptr<EspWorker> create(rte_ring* events, std::string* error, ControlWake* wake = nullptr);
  ~EspWorker();
  EspWorker(const EspWorker&) = delete;
  EspWorker& operator=(const EspWorker&) = delete;

  struct State;
  State& state() noexcept { return *state_; }

 private:
  explicit EspWorker(std::unique_ptr<State> s);
  std::unique_ptr<State> state_;
};

/// One ESP SA as the fast path uses it: key schedules expanded once, outer header template,
/// sequence counter or replay window, lifetime accounting.
class EspSa {
 public:
  /// Validates the descriptor and expands keys. nullptr with a message naming the field on error.
  static std::unique_ptr<EspSa> create(const SaDescriptor& desc, std::string* error);
  ~EspSa();
  EspSa(const EspSa&) = delete;
  EspSa& operator=(const EspSa&) = delete;

  [[nodiscard]] uint32_t spi() const noexcept;
  [[nodiscard]] SaDirection direction() const noexcept;
  [[nodiscard]] uint64_t cookie() const noexcept;
  /// Outbound: the last sequence number reserved. Inbound: the top of the replay window.
  [[nodiscard]] uint64_t sequence() const noexcept;
  /// Outbound: the next sequence number to send (tests use it to reach the ESN and exhaustion edges).
  void set_next_sequence(uint64_t seq) noexcept;
  /// Inbound: starts the replay window at `top` (the highest sequence number already received),
  /// for an SA taken over from another worker or gateway. Control core, before traffic flows.
  void set_replay_top(uint64_t top) noexcept;
  [[nodiscard]] uint64_t lifetime_packets() const noexcept;
  [[nodiscard]] uint64_t lifetime_bytes() const noexcept;
  [[nodiscard]] bool soft_expired() const noexcept;
  [[nodiscard]] bool hard_expired() const noexcept;
  /// The largest inner packet (tunnel mode; transport: the whole packet) whose ESP packet fits
  /// `mtu` bytes of outer IP, padding and ICV included; 0 when none does.
  [[nodiscard]] uint32_t max_inner_len(uint32_t mtu) const noexcept;
  /// Whether encapsulation sets DF on the outer header for an inner packet with (`inner_df`) or
  /// without DF (an inner IPv6 packet counts as DF). Always false for an IPv6 outer header.
  [[nodiscard]] bool outer_df(bool inner_df) const noexcept;

  /// Destroys the state and gives the SA's memory back to the SA arena (esp_sa.cpp).
  static void operator delete(void* p) noexcept;

  struct State;
  /// The state sits right behind the EspSa object, in the same block of the SA arena: reaching it
  /// is an address computation, not a load (with many SAs every dependent load is a cache miss).
  State& state() noexcept {
    return *reinterpret_cast<State*>(reinterpret_cast<unsigned char*>(this) + kStateOffset);
  }
  const State& state() const noexcept {
    return *reinterpret_cast<const State*>(reinterpret_cast<const unsigned char*>(this) + kStateOffset);
  }
  static constexpr std::size_t kStateOffset = 64;

 private:
  EspSa() = default;
};

}  // namespace esprit
