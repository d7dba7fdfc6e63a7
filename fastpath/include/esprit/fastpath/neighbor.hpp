// The neighbour table (ARP for IPv4, ND for IPv6): (port, address) -> MAC and state, read by
// workers without locks and written by the control core alone.
//
// Workers. lookup()/lookup_bulk() read an rte_hash created with
// RTE_HASH_EXTRA_FLAGS_RW_CONCURRENCY_LF; the key's position indexes an array of 64-bit words,
// each holding the MAC (48 bits) and the state (8 bits) of one entry. The control core publishes
// an entry by storing its whole word at once, so a reader sees the old or the new MAC+state,
// never a mix. A deleted entry's word is zeroed first (readers see "no entry"); its hash
// position is handed back to rte_hash (and may then carry another key) only after an RCU grace
// period, so a worker that found the position before the delete is done with it. Workers must
// therefore be registered with the table's Rcu and online while they look up.
//
//   For each packet with a next hop to send to:
//     info = table.lookup(key)
//     reachable / static   -> send to info.mac()
//     stale                -> send to info.mac(); worker.refresh(key, now) asks for re-confirmation
//     incomplete / none    -> worker.hold(key, pkt, now): kHandedOver = the control core owns the
//                             packet now; otherwise the caller drops it (the reason is counted)
//
// Resolution requests. A worker never writes the table. It sends requests (optionally carrying
// the packet) through one multi-producer / single-consumer rte_ring that the control core drains
// (process_requests). A flood cannot fill the ring: each worker limits itself, per key, to
// hold_per_entry packets and one refresh per window (window = retransmit_time), and in total to
// worker_requests_per_window requests per window; over budget the packet is dropped and counted
// (drop_rate_limited) and the ring is not touched. The per-key limit uses a small direct-mapped
// filter per worker; two keys sharing a filter slot reset each other's count, which only the
// per-worker budget then bounds. With W workers the ring receives at most
// W x worker_requests_per_window requests per window: size the ring for that
// (request_ring_size) and it overflows only if the control core stalls a whole window.
//
// Control core. process_requests() creates an incomplete entry for an unknown key and asks the
// caller for a broadcast probe (ARP request / multicast NS), puts packets in the entry's hold
// queue (at most hold_per_entry per entry, hold_total in all; beyond that the packet is freed and
// counted), and hands a packet straight back if its entry was resolved meanwhile. learn() applies
// an ARP/ND answer; when an incomplete entry gets its MAC its held packets come back in
// NeighborActions::released, in arrival order, for the caller to send. age() moves reachable
// entries to stale after reachable_time, removes stale ones remove_after after their last
// confirmation, retransmits probes every retransmit_time and gives up after max_probes (an
// incomplete entry is removed and its held packets freed and counted; a stale entry being
// re-confirmed by unicast probes is removed). Static entries never age and ignore ARP/ND.
// Time is passed in by the caller (any monotonic clock in nanoseconds), so tests are exact.
//
// Mbuf ownership: the table never reads or writes packet data. Packets handed over by hold() are
// owned by the table until it frees them (counted) or returns them in `released`, after which the
// caller owns them. Everything still held or queued is freed when the table is destroyed.
#pragma once

#include <rte_ether.h>

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "esprit/common/ip_address.hpp"
#include "esprit/fastpath/rcu.hpp"

struct rte_hash;
struct rte_mbuf;
struct rte_ring;

namespace esprit {

class ControlWake;

enum class NeighborState : uint8_t {
  kNone = 0,        ///< no entry (lookup miss)
  kIncomplete = 1,  ///< resolution in progress: no MAC yet
  kReachable = 2,   ///< MAC confirmed less than reachable_time ago
  kStale = 3,       ///< MAC usable, not confirmed recently
  kStatic = 4,      ///< from configuration: never ages, never overwritten by ARP/ND
};
[[nodiscard]] std::string_view to_string(NeighborState s) noexcept;

/// (port, IPv4 or IPv6 address). Hashed as its 24 raw bytes: build it with the factories so
/// unused bytes stay zero. 8-byte aligned because rte_hash_crc reads the key in 8-byte words.
struct alignas(8) NeighborKey {
  std::array<uint8_t, 16> addr{};  ///< network byte order; IPv4 in the first 4 bytes
  uint16_t port = 0;
  IpFamily family = IpFamily::kV4;
  uint8_t reserved0 = 0;
  uint32_t reserved1 = 0;

  [[nodiscard]] static NeighborKey v4(uint16_t port, uint32_t host_order) noexcept;
  [[nodiscard]] static NeighborKey v6(uint16_t port, const uint8_t* addr16) noexcept;
  [[nodiscard]] static NeighborKey of(uint16_t port, const IpAddress& addr) noexcept;
  [[nodiscard]] IpAddress address() const;
  [[nodiscard]] std::string to_string() const;  ///< "192.0.2.1 port 0"
  friend bool operator==(const NeighborKey&, const NeighborKey&) = default;
};
static_assert(sizeof(NeighborKey) == 24 && alignof(NeighborKey) == 8);  // no implicit padding

/// MAC and state of one entry as a worker reads it: one 64-bit word, MAC byte i in bits
/// 8i..8i+7, the state in bits 48..55.
class NeighborInfo {
 public:
  constexpr NeighborInfo() = default;
  constexpr explicit NeighborInfo(uint64_t raw) : raw_(raw) {}
  [[nodiscard]] static NeighborInfo make(const rte_ether_addr& mac, NeighborState state) noexcept;

  [[nodiscard]] NeighborState state() const noexcept { return static_cast<NeighborState>(raw_ >> 48 & 0xff); }
  [[nodiscard]] rte_ether_addr mac() const noexcept;
  /// The MAC can be sent to: reachable, stale or static.
  [[nodiscard]] bool usable() const noexcept {
    const NeighborState s = state();
    return s == NeighborState::kReachable || s == NeighborState::kStale || s == NeighborState::kStatic;
  }
  [[nodiscard]] uint64_t raw() const noexcept { return raw_; }

 private:
  uint64_t raw_ = 0;
};

struct NeighborTableConfig {
  uint32_t max_entries = 4096;
  std::chrono::nanoseconds reachable_time = std::chrono::seconds(30);  ///< reachable -> stale
  std::chrono::nanoseconds remove_after = std::chrono::seconds(300);   ///< stale, unconfirmed -> gone
  std::chrono::nanoseconds retransmit_time = std::chrono::seconds(1);  ///< between probes; rate window
  uint32_t max_probes = 3;       ///< unanswered probes before giving up
  uint32_t hold_per_entry = 3;   ///< packets held per unresolved entry
  uint32_t hold_total = 256;     ///< packets held in all
  uint32_t request_ring_size = 1024;
  uint32_t worker_requests_per_window = 64;  ///< per worker: ring requests per retransmit_time
  int socket_id = -1;
};

// X(enumerator, name, description): per-worker counters.
#define ESPRIT_NEIGHBOR_WORKER_COUNTERS(X)                                                              \
  X(kHandedOver, "handed_over", "packets passed to the control core to wait for resolution")           \
  X(kDropRateLimited, "drop_rate_limited", "dropped: the key's or the worker's request budget was spent") \
  X(kDropRingFull, "drop_ring_full", "dropped: the resolution request ring was full")                 \
  X(kRefreshSent, "refresh_sent", "requests to re-confirm a stale entry in use")                      \
  X(kRefreshLost, "refresh_lost", "re-confirmation requests not sent: budget spent or ring full")

// X(enumerator, name, description): control-core counters.
#define ESPRIT_NEIGHBOR_COUNTERS(X)                                                                        \
  X(kRequests, "requests", "requests drained from the resolution ring")                                   \
  X(kProbes, "probes", "ARP requests / neighbour solicitations asked of the caller")                      \
  X(kHeld, "held", "packets put in a hold queue")                                                         \
  X(kReleased, "released", "held or in-flight packets handed back for sending once resolved")             \
  X(kDropHoldEntryFull, "drop_hold_entry_full", "dropped: the entry already held hold_per_entry packets")  \
  X(kDropHoldTotalFull, "drop_hold_total_full", "dropped: hold_total packets were already held")          \
  X(kDropTableFull, "drop_table_full", "dropped: no room for a new entry")                               \
  X(kDropUnresolved, "drop_unresolved", "dropped from a hold queue: no answer to max_probes probes")      \
  X(kDropRemoved, "drop_removed", "dropped from a hold queue: entry removed or replaced by a command")   \
  X(kLearned, "learned", "entries created or changed by ARP/ND")                                        \
  X(kStaticIgnored, "static_ignored", "ARP/ND updates ignored because the entry is static")             \
  X(kResolutionFailed, "resolution_failed", "incomplete entries removed after max_probes probes")        \
  X(kProbeFailed, "probe_failed", "stale entries removed after max_probes unanswered unicast probes")    \
  X(kAgedOut, "aged_out", "stale entries removed remove_after their last confirmation")

enum class NeighborWorkerCounter : uint8_t {
#define ESPRIT_X(e, n, d) e,
  ESPRIT_NEIGHBOR_WORKER_COUNTERS(ESPRIT_X)
#undef ESPRIT_X
      kCount
};
enum class NeighborCounter : uint8_t {
#define ESPRIT_X(e, n, d) e,
  ESPRIT_NEIGHBOR_COUNTERS(ESPRIT_X)
#undef ESPRIT_X
      kCount
};

struct NeighborCounterInfo {
  std::string_view name;
  std::string_view description;
};
inline constexpr std::array<NeighborCounterInfo, static_cast<std::size_t>(NeighborWorkerCounter::kCount)>
    kNeighborWorkerCounters = {{
#define ESPRIT_X(e, n, d) {n, d},
        ESPRIT_NEIGHBOR_WORKER_COUNTERS(ESPRIT_X)
#undef ESPRIT_X
    }};
inline constexpr std::array<NeighborCounterInfo, static_cast<std::size_t>(NeighborCounter::kCount)>
    kNeighborCounters = {{
#define ESPRIT_X(e, n, d) {n, d},
        ESPRIT_NEIGHBOR_COUNTERS(ESPRIT_X)
#undef ESPRIT_X
    }};

/// Written by one worker, read by anyone (relaxed atomics: no torn values, no ordering).
class NeighborWorkerCounters {
 public:
  [[nodiscard]] uint64_t get(NeighborWorkerCounter c) const noexcept {
    return v_[static_cast<std::size_t>(c)].load(std::memory_order_relaxed);
  }
  void bump(NeighborWorkerCounter c) noexcept {  // single writer: no read-modify-write needed
    auto& x = v_[static_cast<std::size_t>(c)];
    x.store(x.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
  }

 private:
  std::array<std::atomic<uint64_t>, static_cast<std::size_t>(NeighborWorkerCounter::kCount)> v_{};
};

/// Control-core counters (written and read on the control core).
struct NeighborCounters {
  std::array<uint64_t, static_cast<std::size_t>(NeighborCounter::kCount)> v{};
  [[nodiscard]] uint64_t get(NeighborCounter c) const noexcept { return v[static_cast<std::size_t>(c)]; }
  void add(NeighborCounter c, uint64_t n = 1) noexcept { v[static_cast<std::size_t>(c)] += n; }
};

/// An ARP request / neighbour solicitation the caller should send for `key`.
struct NeighborProbe {
  NeighborKey key;
  bool unicast = false;  ///< re-confirming a stale entry: send to `mac` (else broadcast / multicast)
  rte_ether_addr mac{};
};

/// A packet whose next hop is now resolved. The caller owns `pkt`: it writes the Ethernet header
/// (destination `mac`) and sends it on key.port, or frees it.
struct NeighborRelease {
  rte_mbuf* pkt = nullptr;
  NeighborKey key;
  rte_ether_addr mac{};
};

/// What the control core must do after a table operation. Operations append; the caller clears.
struct NeighborActions {
  std::vector<NeighborProbe> probes;
  std::vector<NeighborRelease> released;
  void clear() noexcept {
    probes.clear();
    released.clear();
  }
  /// Frees every released packet and clears the list (when they cannot be sent).
  void free_released() noexcept;
};

/// What an ARP/ND message tells about a neighbour.
enum class NeighborEvidence : uint8_t {
  kReply,     ///< ARP reply to us, solicited NA: reachable; creates the entry if missing
  kRequest,   ///< ARP request / NS from the neighbour (its source MAC): creates a stale entry if
              ///< missing; a different MAC replaces the old one and makes the entry stale
  kAnnounce,  ///< gratuitous ARP, unsolicited NA with Override: as kRequest, existing entries only
};

enum class LearnResult : uint8_t {
  kCreated,
  kUpdated,         ///< MAC, state or confirmation time changed
  kUnchanged,
  kIgnoredStatic,   ///< static entries keep their configured MAC
  kIgnoredUnknown,  ///< kAnnounce for a key we have no entry for
  kTableFull,
};

/// One entry as `show neighbors` lists it.
struct NeighborEntryInfo {
  NeighborKey key;
  rte_ether_addr mac{};
  NeighborState state = NeighborState::kNone;
  bool probing = false;             ///< probes outstanding (incomplete, or stale being re-confirmed)
  uint32_t probes = 0;              ///< probes sent in the current attempt
  std::chrono::nanoseconds age{0};  ///< since created (incomplete) or last confirmed / changed
  uint32_t held = 0;                ///< packets in the hold queue
};

class NeighborTable {
 public:
  /// `rcu` must outlive the table; workers that look up register with it.
  [[nodiscard]] static std::unique_ptr<NeighborTable> create(const NeighborTableConfig& config, Rcu& rcu,
                                                             std::string* error);
  ~NeighborTable();
  NeighborTable(const NeighborTable&) = delete;
  NeighborTable& operator=(const NeighborTable&) = delete;

  // ---- workers ------------------------------------------------------------------------------

  [[nodiscard]] NeighborInfo lookup(const NeighborKey& key) const noexcept;
  /// out[i] = lookup(keys[i]); any n, no allocation.
  void lookup_bulk(const NeighborKey* keys, uint32_t n, NeighborInfo* out) const noexcept;

  // ---- control core -------------------------------------------------------------------------

  /// Drains up to `max` worker requests (see the file comment). Returns how many were drained.
  uint32_t process_requests(std::chrono::nanoseconds now, NeighborActions& out, uint32_t max = 512);
  /// Applies what an ARP/ND message says about `key`. An incomplete entry that gets its MAC
  /// releases its held packets into out.released.
  LearnResult learn(const NeighborKey& key, const rte_ether_addr& mac, NeighborEvidence evidence,
                    std::chrono::nanoseconds now, NeighborActions& out);
  /// Adds or overwrites a static entry (from configuration); releases held packets of an
  /// incomplete entry it replaces. Fails for a zero or multicast MAC, or a full table.
  bool add_static(const NeighborKey& key, const rte_ether_addr& mac, std::chrono::nanoseconds now,
                  NeighborActions& out, std::string* error = nullptr);
  /// Removes the entry (static or dynamic); its held packets are freed (drop_removed).
  bool remove(const NeighborKey& key);
  /// Removes the dynamic entries of a port (link down, address change); returns how many.
  uint32_t flush_port(uint16_t port);
  /// Timers: reachable -> stale, stale -> removed, probe retransmission and failure. Returns at
  /// once while no timer is due, so the control core may call it every loop iteration.
  void age(std::chrono::nanoseconds now, NeighborActions& out);

  [[nodiscard]] std::vector<NeighborEntryInfo> entries(std::chrono::nanoseconds now) const;
  [[nodiscard]] std::size_t size() const noexcept;
  [[nodiscard]] uint32_t held_packets() const noexcept;
  [[nodiscard]] const NeighborCounters& counters() const noexcept;
  [[nodiscard]] const NeighborTableConfig& config() const noexcept;
  /// The control core's doorbell (control_wake.hpp), rung by a NeighborWorker after each request
  /// it enqueues; set before the NeighborWorkers are made. nullptr (the default): none.
  void set_control_wake(ControlWake* wake) noexcept { wake_ = wake; }
  /// Whether resolution requests wait in the ring: the control core's look before it sleeps.
  [[nodiscard]] bool requests_pending() const noexcept;

 private:
  friend class NeighborWorker;
  struct Control;
  explicit NeighborTable(std::unique_ptr<Control> ctl);

  // Read by workers; owned by ctl_.
  const rte_hash* hash_;
  const std::atomic<uint64_t>* words_;  ///< MAC + state by hash position
  rte_ring* ring_;                      ///< resolution requests, workers -> control core
  ControlWake* wake_ = nullptr;
  std::unique_ptr<Control> ctl_;
};

/// A worker's side of resolution: its request budget and counters. One per worker lcore.
class NeighborWorker {
 public:
  enum class HoldResult : uint8_t {
    kHandedOver,   ///< the control core owns the packet now
    kRateLimited,  ///< not sent: the caller still owns the packet and drops it
    kRingFull,     ///< not sent: the caller still owns the packet and drops it
  };

  explicit NeighborWorker(NeighborTable& table);
  ~NeighborWorker();
  NeighborWorker(const NeighborWorker&) = delete;
  NeighborWorker& operator=(const NeighborWorker&) = delete;

  /// For a packet whose next hop is unresolved (lookup gave none or incomplete): asks the control
  /// core to resolve `key` and to hold `pkt` meanwhile. Counts the outcome.
  [[nodiscard]] HoldResult hold(const NeighborKey& key, rte_mbuf* pkt, std::chrono::nanoseconds now) noexcept;
  /// For a stale entry in use: asks the control core to re-confirm it, once per window per key.
  void refresh(const NeighborKey& key, std::chrono::nanoseconds now) noexcept;

  [[nodiscard]] const NeighborWorkerCounters& counters() const noexcept { return counters_; }

 private:
  struct FilterSlot;
  bool budget_left(std::chrono::nanoseconds now) noexcept;
  FilterSlot& slot_for(const NeighborKey& key, std::chrono::nanoseconds now) noexcept;
  bool enqueue(const NeighborKey& key, rte_mbuf* pkt) noexcept;

  rte_ring* ring_;
  ControlWake* wake_;  ///< NeighborTable::set_control_wake
  std::chrono::nanoseconds window_;
  uint32_t per_key_;     ///< packets per key per window
  uint32_t per_window_;  ///< requests per window in all
  bool budget_started_ = false;
  std::chrono::nanoseconds budget_start_{0};
  uint32_t budget_used_ = 0;
  std::unique_ptr<FilterSlot[]> filter_;
  NeighborWorkerCounters counters_;
};

}  // namespace esprit
