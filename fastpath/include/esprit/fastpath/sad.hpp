// The Security Association Database (RFC 4301 4.4.2) as the workers see it.
//
// SAs live in slots. A slot index is the "SA index": the SPD's PolicyRule::sa_index names the slot
// of an outbound SA, and the inbound key table maps (SPI, local address) to the slot of an inbound
// SA. The key table is an rte_hash with lock-free readers (RTE_HASH_EXTRA_FLAGS_RW_CONCURRENCY_LF);
// each slot holds an atomic EspSa pointer.
//
// Threading. One control thread writes (add, replace, remove, reclaim, synchronize); any number of
// workers read (get, lookup_inbound, find_inbound) without locks, allocation or waiting. A worker
// keeps what it read (EspSa pointers, slot numbers) only until its next RCU quiescent state
// (Rcu::quiescent). The control core unpublishes first, then frees the old EspSa, the key-table
// entry and the slot only once every online worker has passed a quiescent state: it records an
// RCU token (rte_rcu_qsbr_start) per change and reclaims, without blocking, the changes whose
// token every worker has passed. reclaim() does that; add/replace/remove call it first, and the
// control loop should call it from a timer so memory comes back when nothing else happens.
//
// Rekey. Outbound: replace() swaps the SA of a slot, so the SPD keeps pointing at the slot and the
// next burst uses the new SPI. Inbound: add() the new SA (new SPI) and remove() the old one once the
// peer has switched; both are looked up and decapsulated during the overlap.
//
// Owner. Each inbound SA has one owner worker, the only one that decapsulates it (its replay
// window and counters have a single writer): add() assigns owners round-robin over the SAD's
// workers and owner(slot) tells a worker whether to decapsulate or hand the packet to the owner
// (GatewayWorker's handoff rings). Outbound SAs report owner 0 and may be used by any worker.
//
// Counters. counters(worker, slot) is a block per worker and slot that only that worker writes
// (counter_add: relaxed, no locked instruction); totals(slot) sums the blocks for the control core
// while workers run (a value may be one burst old). A slot's counters survive replace() (they
// count the slot: a tunnel's SA across rekeys; each EspSa keeps its own lifetime counters) and are
// zeroed when the slot is reused.
#pragma once

#include <rte_memory.h>

#include <atomic>
#include <cassert>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <type_traits>
#include <vector>

#include "esprit/common/ip_address.hpp"
#include "esprit/common/sa_descriptor.hpp"
#include "esprit/fastpath/esp.hpp"
#include "esprit/fastpath/rcu.hpp"
#include "esprit/fastpath/sa_counters.hpp"

struct rte_hash;

namespace esprit {

/// Slot number that names no SA.
inline constexpr uint32_t kNoSaSlot = UINT32_MAX;

/// Largest number of keys the key table is asked for in one call; lookup_inbound() cuts longer
/// bursts in chunks.
inline constexpr uint32_t kSadLookupBatch = 64;

/// The key of an inbound SA: SPI and the local (outer destination) address. Every byte is
/// significant to the hash, so padding is explicit and zero.
struct SadKey {
  uint32_t spi = 0;         ///< host order
  uint8_t family = 0;       ///< 4 or 6 (IpFamily); 0 never matches an SA
  uint8_t reserved[3] = {};
  uint8_t addr[16] = {};    ///< network order; IPv4 in the first 4 bytes, the rest zero

  /// The key of an SA: `local` is the destination of the packets it receives.
  [[nodiscard]] static SadKey of(uint32_t spi, const IpAddress& local) noexcept;
  /// The key of a received packet: `outer_ip` is the outer IPv4/IPv6 header (its version nibble
  /// selects the family; the classifier has checked the header), `esp` the ESP header (its first
  /// 4 bytes are the SPI). Any other version gives a key that matches nothing.
  [[nodiscard]] static SadKey from_packet(const uint8_t* outer_ip, const uint8_t* esp) noexcept;
  [[nodiscard]] IpAddress address() const noexcept;
  [[nodiscard]] std::string to_string() const;
  friend bool operator==(const SadKey&, const SadKey&) = default;
};
static_assert(sizeof(SadKey) == 24 && std::is_trivially_copyable_v<SadKey>);

struct SadConfig {
  uint32_t capacity = 1 << 17;  ///< slots (SAs of both directions); memory: ~(200 + 256 * workers) B each
  uint32_t workers = 1;         ///< counter blocks: worker ids 0..workers-1
  Rcu* rcu = nullptr;           ///< required: the RCU the workers report quiescent states to
  int socket_id = SOCKET_ID_ANY;
  std::string name = "esprit_sad";  ///< rte_hash name: unique in the process, < 32 bytes
};

/// A worker's view of a slot, one block per worker and slot: its copy of the slot's SA pointer
/// (published by the control core together with the slot's own) and its counters, so a packet of
/// a random SA among many finds both on one cache line (the SA pointer and `packets`, `bytes`).
struct alignas(64) SadWorkerSlot {
  std::atomic<EspSa*> sa{nullptr};
  SaCounters counters;
};
static_assert(offsetof(SadWorkerSlot, counters) + 2 * sizeof(uint64_t) <= 64,
              "the SA pointer and the packet and byte counts share the block's first line");

/// What the SAD keeps about a slot beside the EspSa (control core, show commands).
struct SadSlotInfo {
  SaDirection direction = SaDirection::kOutbound;
  uint32_t spi = 0;
  IpAddress local;
  IpAddress remote;
  uint64_t cookie = 0;
  uint32_t owner = 0;  ///< inbound: the worker that decapsulates it
};

class Sad {
 public:
  static std::unique_ptr<Sad> create(const SadConfig& config, std::string* error);
  /// Frees every SA. Workers must have stopped using the SAD.
  ~Sad();
  Sad(const Sad&) = delete;
  Sad& operator=(const Sad&) = delete;

  // ---- control core (one thread)

  /// Creates the SA and publishes it in a free slot. Inbound SAs are also entered in the key
  /// table. Fails, naming the reason, on an invalid descriptor, a duplicate inbound key, or when
  /// no slot is free (slots awaiting a grace period are not free yet).
  std::optional<uint32_t> add(const SaDescriptor& d, std::string* error);
  /// Puts a new SA made from `d` in `slot`; the old one is freed after a grace period. The
  /// direction must stay, and for inbound the key (SPI, local address) too: an inbound rekey is
  /// add() + remove(), since both SPIs must be accepted during the overlap. An outbound SA that
  /// replaces one with the same SPI (the same SA on a new path) continues it: its sequence numbers
  /// kSeqHandoverGap past the last one handed out (never a number twice under one key), and its
  /// soft/hard packet and byte limits less what the old one used.
  bool replace(uint32_t slot, const SaDescriptor& d, std::string* error);
  /// Sequence numbers skipped when an outbound SA is replaced by itself: more than the workers can
  /// reserve on the old SA between the swap and their next quiescent state.
  static constexpr uint64_t kSeqHandoverGap = 1u << 16;
  /// Unpublishes the SA; its slot and key are reusable after a grace period. False if the slot
  /// holds no SA.
  bool remove(uint32_t slot);
  /// Frees what every worker has stopped seeing; never blocks. Returns the number of changes
  /// (replaced or removed SAs) reclaimed.
  uint32_t reclaim() noexcept;
  /// Waits for a grace period, then reclaims everything unpublished so far. Blocks while an
  /// online worker does not report quiescent states: for shutdown and tests.
  void synchronize() noexcept;
  /// The slot the next add() will use (after reclaim()), or kNoSaSlot when none is free: lets the
  /// control core fill a slot's side tables (GatewayTables::sa_selectors) before the SA appears.
  [[nodiscard]] uint32_t next_free_slot() noexcept {
    reclaim();
    return free_.empty() ? kNoSaSlot : free_.back();
  }
  /// Changes waiting for a grace period.
  [[nodiscard]] uint32_t pending() const noexcept { return static_cast<uint32_t>(pending_.size()); }

  /// SAs installed (not counting those awaiting reclamation).
  [[nodiscard]] uint32_t size() const noexcept { return size_; }
  [[nodiscard]] uint32_t capacity() const noexcept { return capacity_; }
  [[nodiscard]] uint32_t workers() const noexcept { return workers_; }
  /// Calls f for every installed SA, in slot order.
  void for_each(const std::function<void(uint32_t slot, const EspSa& sa)>& f) const;
  [[nodiscard]] std::optional<SadSlotInfo> info(uint32_t slot) const;
  /// Sum of every worker's counters for the slot.
  [[nodiscard]] SaCounters totals(uint32_t slot) const noexcept;

  // ---- workers (and control): lock-free, no allocation

  /// The SA in `slot`, or nullptr (free slot, removed, or out of range).
  [[nodiscard]] EspSa* get(uint32_t slot) const noexcept {
    return slot < capacity_ ? slots_[slot].load(std::memory_order_acquire) : nullptr;
  }
  /// As get(slot), from the worker's own copy of the pointer: on the line of its counters for the
  /// slot (SadWorkerSlot). Workers use it for outbound SAs (the SPD names the slot). nullptr for a
  /// bad worker or slot.
  [[nodiscard]] EspSa* get(uint32_t worker, uint32_t slot) const noexcept {
    return slot < capacity_ && worker < workers_ ? wslot(worker, slot).sa.load(std::memory_order_acquire) : nullptr;
  }
  /// Brings the worker's block for the slot (its copy of the SA pointer and its counters, one line)
  /// into the cache: bursts over many SAs do it for every slot before using any. No effect for a
  /// bad slot.
  void prefetch(uint32_t worker, uint32_t slot) const noexcept {
    if (slot >= capacity_ || worker >= workers_) return;
    // A load, not a prefetch: the block is on a page whose TLB entry is likely gone, and prefetches
    // of such lines did not help on this project's VM (see prefetch_sas()).
    const uint8_t b = *reinterpret_cast<const volatile uint8_t*>(&wslot(worker, slot));
    asm volatile("" ::"r"(b));
  }
  /// For each of keys[0,n): sas[i] and slots[i] of the inbound SA, or nullptr and kNoSaSlot.
  /// Returns the number of hits.
  uint32_t lookup_inbound(const SadKey* keys, uint32_t n, EspSa** sas, uint32_t* slots) const noexcept;
  /// The worker that owns the SA in `slot` (slot < capacity()); meaningful while the slot holds an
  /// inbound SA, which a worker checks by reading get() / lookup_inbound() first.
  [[nodiscard]] uint32_t owner(uint32_t slot) const noexcept {
    assert(slot < capacity_);
    return owners_[slot].load(std::memory_order_relaxed);
  }
  /// One key; kNoSaSlot if absent.
  [[nodiscard]] uint32_t find_inbound(const SadKey& key) const noexcept;
  /// The calling worker's counter block for the slot (worker < workers(), slot < capacity()).
  [[nodiscard]] SaCounters& counters(uint32_t worker, uint32_t slot) noexcept {
    assert(worker < workers_ && slot < capacity_);
    return wslot(worker, slot).counters;
  }

 private:
  /// Control-only state of a slot.
  struct Slot {
    enum class State : uint8_t { kFree, kUsed, kReclaiming };
    State state = State::kFree;
    SadSlotInfo info;
    SadKey key;  ///< inbound only
  };
  /// A change waiting for a grace period: what to free once every worker passed `token`.
  struct Pending {
    uint64_t token;
    EspSa* sa;           ///< the unpublished SA
    uint32_t slot;       ///< kNoSaSlot for a replace (the slot stays in use)
    int32_t key_pos;     ///< key-table position to free, or -1
  };

  Sad() = default;
  SadWorkerSlot& wslot(uint32_t worker, uint32_t slot) const noexcept {
    return wslots_[static_cast<std::size_t>(worker) * capacity_ + slot];
  }
  /// Stores `sa` in every worker's copy of the slot's pointer (after the slot's own).
  void publish_copies(uint32_t slot, EspSa* sa) noexcept {
    for (uint32_t w = 0; w < workers_; ++w) wslot(w, slot).sa.store(sa, std::memory_order_release);
  }
  void retire(EspSa* sa, uint32_t slot, int32_t key_pos);
  void free_pending(const Pending& p) noexcept;

  rte_hash* keys_ = nullptr;
  std::atomic<EspSa*>* slots_ = nullptr;  ///< capacity_ entries (rte_zmalloc)
  SadWorkerSlot* wslots_ = nullptr;      ///< workers_ x capacity_ blocks (rte_zmalloc)
  /// Per slot: the owner worker, written before the slot's SA is published (release).
  std::unique_ptr<std::atomic<uint16_t>[]> owners_;
  uint32_t capacity_ = 0;
  uint32_t workers_ = 0;
  Rcu* rcu_ = nullptr;

  // control core only
  std::vector<Slot> meta_;
  std::vector<uint32_t> free_;  ///< free slots, next one at the back
  std::deque<Pending> pending_;  ///< in token order
  uint32_t size_ = 0;
  uint32_t next_owner_ = 0;  ///< round-robin over workers_ for inbound SAs
};

}  // namespace esprit
