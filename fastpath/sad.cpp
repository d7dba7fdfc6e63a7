// The SAD: slots of atomic EspSa pointers, an rte_hash with lock-free readers for inbound keys,
// and deferred reclamation by RCU tokens (see sad.hpp for the contract).
#include "esprit/fastpath/sad.hpp"

#include <rte_errno.h>
#include <rte_hash.h>
#include <rte_hash_crc.h>
#include <rte_malloc.h>

#include <algorithm>
#include <cassert>
#include <cstdio>
#include <cstring>
#include <new>

namespace esprit {
namespace {

uint32_t load_be32(const uint8_t* p) noexcept {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return __builtin_bswap32(v);
}

std::string hex_spi(uint32_t spi) {
  char buf[16];
  std::snprintf(buf, sizeof(buf), "0x%08x", spi);
  return buf;
}

void set_error(std::string* error, std::string msg) {
  if (error) *error = std::move(msg);
}

/// Relaxed load of a counter its worker writes with counter_add (fastpath/counter.hpp).
uint64_t read_counter(const uint64_t& v) noexcept { return counter_load(v); }

}  // namespace

// ---- SadKey

SadKey SadKey::of(uint32_t spi, const IpAddress& local) noexcept {
  SadKey k;
  k.spi = spi;
  k.family = static_cast<uint8_t>(local.family());
  std::memcpy(k.addr, local.bytes(), local.size());
  return k;
}

SadKey SadKey::from_packet(const uint8_t* outer_ip, const uint8_t* esp) noexcept {
  SadKey k;
  k.spi = load_be32(esp);
  switch (outer_ip[0] >> 4) {
    case 4:
      k.family = 4;
      std::memcpy(k.addr, outer_ip + 16, 4);
      break;
    case 6:
      k.family = 6;
      std::memcpy(k.addr, outer_ip + 24, 16);
      break;
    default:
      break;
  }
  return k;
}

IpAddress SadKey::address() const noexcept {
  if (family == 6) {
    std::array<uint8_t, 16> b;
    std::memcpy(b.data(), addr, 16);
    return IpAddress::v6(b);
  }
  return IpAddress::v4(load_be32(addr));
}

std::string SadKey::to_string() const { return "SPI " + hex_spi(spi) + " to " + address().to_string(); }

// ---- creation

std::unique_ptr<Sad> Sad::create(const SadConfig& c, std::string* error) {
  if (!c.rcu) {
    set_error(error, "SAD: an Rcu is required");
    return nullptr;
  }
  if (c.capacity == 0 || c.capacity > (1u << 24)) {
    set_error(error, "SAD capacity " + std::to_string(c.capacity) + " out of range 1..16777216");
    return nullptr;
  }
  if (c.workers == 0 || c.workers > 1024) {
    set_error(error, "SAD workers " + std::to_string(c.workers) + " out of range 1..1024");
    return nullptr;
  }
  if (c.name.empty() || c.name.size() >= RTE_HASH_NAMESIZE) {
    set_error(error, "SAD name '" + c.name + "' must have 1.." + std::to_string(RTE_HASH_NAMESIZE - 1) + " bytes");
    return nullptr;
  }

  std::unique_ptr<Sad> s(new Sad());
  s->capacity_ = c.capacity;
  s->workers_ = c.workers;
  s->rcu_ = c.rcu;

  // Lock-free readers with one writer. The extendable bucket table lets every one of `capacity`
  // keys in, whatever the cuckoo displacement does; rte_hash needs at least one bucket of entries.
  if (rte_hash_find_existing(c.name.c_str())) {
    set_error(error, "SAD '" + c.name + "': a hash of that name already exists");
    return nullptr;
  }
  rte_hash_parameters hp{};
  hp.name = c.name.c_str();
  hp.entries = std::max<uint32_t>(c.capacity, 8);
  hp.key_len = sizeof(SadKey);
  hp.hash_func = rte_hash_crc;
  hp.hash_func_init_val = 0;
  hp.socket_id = c.socket_id;
  hp.extra_flag = RTE_HASH_EXTRA_FLAGS_RW_CONCURRENCY_LF | RTE_HASH_EXTRA_FLAGS_EXT_TABLE;
  s->keys_ = rte_hash_create(&hp);
  if (!s->keys_) {
    set_error(error, "SAD '" + c.name + "': rte_hash_create: " + rte_strerror(rte_errno));
    return nullptr;
  }

  const std::size_t slot_bytes = sizeof(std::atomic<EspSa*>) * c.capacity;
  void* slots = rte_zmalloc_socket("esprit_sad_slots", slot_bytes, RTE_CACHE_LINE_SIZE, c.socket_id);
  const std::size_t ctr_bytes = sizeof(SadWorkerSlot) * c.capacity * c.workers;
  void* ctrs = rte_zmalloc_socket("esprit_sad_counters", ctr_bytes, RTE_CACHE_LINE_SIZE, c.socket_id);
  if (!slots || !ctrs) {
    rte_free(slots);
    rte_free(ctrs);
    set_error(error, "SAD '" + c.name + "': rte_zmalloc of " + std::to_string((slot_bytes + ctr_bytes) >> 20) +
                         " MiB for slots and counters failed");
    return nullptr;
  }
  s->slots_ = static_cast<std::atomic<EspSa*>*>(slots);
  for (uint32_t i = 0; i < c.capacity; ++i) new (&s->slots_[i]) std::atomic<EspSa*>(nullptr);
  s->owners_ = std::make_unique<std::atomic<uint16_t>[]>(c.capacity);
  s->wslots_ = static_cast<SadWorkerSlot*>(ctrs);
  for (std::size_t i = 0; i < std::size_t{c.capacity} * c.workers; ++i) new (&s->wslots_[i]) SadWorkerSlot();

  s->meta_.resize(c.capacity);
  s->free_.reserve(c.capacity);
  for (uint32_t i = c.capacity; i-- > 0;) s->free_.push_back(i);  // slot 0 first
  return s;
}

Sad::~Sad() {
  for (const Pending& p : pending_) delete p.sa;  // the key table goes as a whole below
  if (slots_) {
    for (uint32_t i = 0; i < capacity_; ++i) delete slots_[i].load(std::memory_order_relaxed);
  }
  rte_hash_free(keys_);
  rte_free(slots_);
  rte_free(wslots_);
}

// ---- control core

std::optional<uint32_t> Sad::add(const SaDescriptor& d, std::string* error) {
  reclaim();
  const bool inbound = d.direction == SaDirection::kInbound;
  const SadKey key = SadKey::of(d.spi, d.local);
  if (inbound) {
    // rte_hash_add_key_data() would overwrite an existing key's slot: refuse duplicates first.
    void* other = nullptr;
    if (rte_hash_lookup_data(keys_, &key, &other) >= 0) {
      set_error(error, "inbound SA " + key.to_string() + " already installed in slot " +
                           std::to_string(reinterpret_cast<uintptr_t>(other)));
      return std::nullopt;
    }
  }
  if (free_.empty()) {
    std::string msg = "SAD full: " + std::to_string(capacity_) + " slots";
    if (!pending_.empty())
      msg += ", " + std::to_string(pending_.size()) + " changes awaiting an RCU grace period (retry after reclaim())";
    set_error(error, std::move(msg));
    return std::nullopt;
  }
  std::string why;
  std::unique_ptr<EspSa> sa = EspSa::create(d, &why);
  if (!sa) {
    set_error(error, "SA " + hex_spi(d.spi) + ": " + why);
    return std::nullopt;
  }

  const uint32_t slot = free_.back();
  // The key goes in first: a worker that finds it before the SA is published reads a null slot
  // (a miss), and a failed insert leaves nothing a worker could have seen.
  if (inbound) {
    const int rc = rte_hash_add_key_data(keys_, &key, reinterpret_cast<void*>(static_cast<uintptr_t>(slot)));
    if (rc < 0) {
      set_error(error, "inbound SA " + key.to_string() + ": key table insert failed: " + rte_strerror(-rc));
      return std::nullopt;
    }
  }
  free_.pop_back();
  Slot& m = meta_[slot];
  m.state = Slot::State::kUsed;
  uint32_t owner = 0;
  if (inbound) {
    owner = next_owner_;
    next_owner_ = (next_owner_ + 1) % workers_;
  }
  m.info = SadSlotInfo{d.direction, d.spi, d.local, d.remote, d.cookie, owner};
  m.key = inbound ? key : SadKey{};
  owners_[slot].store(static_cast<uint16_t>(owner), std::memory_order_relaxed);
  EspSa* p = sa.release();
  slots_[slot].store(p, std::memory_order_release);
  publish_copies(slot, p);
  ++size_;
  return slot;
}

bool Sad::replace(uint32_t slot, const SaDescriptor& d, std::string* error) {
  reclaim();
  if (slot >= capacity_ || meta_[slot].state != Slot::State::kUsed) {
    set_error(error, "SAD slot " + std::to_string(slot) + " holds no SA");
    return false;
  }
  Slot& m = meta_[slot];
  if (d.direction != m.info.direction) {
    set_error(error, "SAD slot " + std::to_string(slot) + " holds an " + std::string(to_string(m.info.direction)) +
                         " SA; a replacement must keep the direction");
    return false;
  }
  if (d.direction == SaDirection::kInbound && !(SadKey::of(d.spi, d.local) == m.key)) {
    set_error(error, "SAD slot " + std::to_string(slot) + ": an inbound replacement must keep " + m.key.to_string() +
                         " (for an inbound rekey add the new SA, then remove the old one)");
    return false;
  }
  // The same outbound SA again (same SPI: a NAT mapping change, new path settings) goes on where
  // the old one was: its packet/byte limits less what the old one used (no second allowance), and
  // its sequence numbers. Starting again at 1 would repeat sequence numbers under the same key
  // (AES-GCM: the same nonce) and the peer's replay window would drop the packets. Workers may
  // still reserve numbers on the old SA until they pass a quiescent state (a burst or two), so the
  // new one starts kSeqHandoverGap past what the old one had handed out.
  const EspSa* cur = slots_[slot].load(std::memory_order_acquire);
  const bool continues = d.direction == SaDirection::kOutbound && cur && cur->spi() == d.spi;
  SaDescriptor cd = d;
  if (continues) {
    auto left = [](uint64_t limit, uint64_t used) -> uint64_t {
      return limit == 0 ? 0 : limit > used ? limit - used : 1;  // 0 = no limit; 1 = stops at once
    };
    cd.hard = LifetimeLimit{left(d.hard.packets, cur->lifetime_packets()), left(d.hard.bytes, cur->lifetime_bytes())};
    cd.soft = LifetimeLimit{left(d.soft.packets, cur->lifetime_packets()), left(d.soft.bytes, cur->lifetime_bytes())};
  }
  std::string why;
  std::unique_ptr<EspSa> sa = EspSa::create(cd, &why);
  if (!sa) {
    set_error(error, "SA " + hex_spi(d.spi) + ": " + why);
    return false;
  }
  // (sequence() is the last number handed out; past UINT64_MAX - gap the SA is used up: 0.)
  if (continues)
    sa->set_next_sequence(cur->sequence() < UINT64_MAX - 1 - kSeqHandoverGap ? cur->sequence() + 1 + kSeqHandoverGap
                                                                                : 0);
  EspSa* p = sa.release();
  EspSa* old = slots_[slot].exchange(p, std::memory_order_acq_rel);
  publish_copies(slot, p);
  m.info = SadSlotInfo{d.direction, d.spi, d.local, d.remote, d.cookie, m.info.owner};  // same key, same owner
  retire(old, kNoSaSlot, -1);
  return true;
}

bool Sad::remove(uint32_t slot) {
  reclaim();
  if (slot >= capacity_ || meta_[slot].state != Slot::State::kUsed) return false;
  Slot& m = meta_[slot];
  int32_t pos = -1;
  if (m.info.direction == SaDirection::kInbound) {
    pos = rte_hash_del_key(keys_, &m.key);
    assert(pos >= 0);  // every used inbound slot has its key in the table
  }
  EspSa* old = slots_[slot].exchange(nullptr, std::memory_order_acq_rel);
  publish_copies(slot, nullptr);
  m.state = Slot::State::kReclaiming;
  --size_;
  retire(old, slot, pos);
  return true;
}

void Sad::retire(EspSa* sa, uint32_t slot, int32_t key_pos) {
  // The token is taken after the pointer and key were unpublished: a worker that has reported a
  // quiescent state past it can no longer hold them.
  const uint64_t token = rte_rcu_qsbr_start(rcu_->qsbr());
  pending_.push_back(Pending{token, sa, slot, key_pos});
}

void Sad::free_pending(const Pending& p) noexcept {
  delete p.sa;
  if (p.key_pos >= 0) rte_hash_free_key_with_position(keys_, p.key_pos);
  if (p.slot != kNoSaSlot) {
    for (uint32_t w = 0; w < workers_; ++w) counters(w, p.slot) = SaCounters{};
    Slot& m = meta_[p.slot];
    m.state = Slot::State::kFree;
    m.info = SadSlotInfo{};
    m.key = SadKey{};
    free_.push_back(p.slot);
  }
}

uint32_t Sad::reclaim() noexcept {
  uint32_t n = 0;
  // Tokens grow in queue order: the first one not yet passed stops the scan.
  while (!pending_.empty() && rte_rcu_qsbr_check(rcu_->qsbr(), pending_.front().token, false) == 1) {
    free_pending(pending_.front());
    pending_.pop_front();
    ++n;
  }
  return n;
}

void Sad::synchronize() noexcept {
  if (pending_.empty()) return;
  rcu_->synchronize();  // every token handed out before this call has been passed
  while (!pending_.empty()) {
    free_pending(pending_.front());
    pending_.pop_front();
  }
}

void Sad::for_each(const std::function<void(uint32_t slot, const EspSa& sa)>& f) const {
  for (uint32_t i = 0; i < capacity_; ++i) {
    if (meta_[i].state != Slot::State::kUsed) continue;
    if (const EspSa* sa = slots_[i].load(std::memory_order_relaxed)) f(i, *sa);
  }
}

std::optional<SadSlotInfo> Sad::info(uint32_t slot) const {
  if (slot >= capacity_ || meta_[slot].state != Slot::State::kUsed) return std::nullopt;
  return meta_[slot].info;
}

SaCounters Sad::totals(uint32_t slot) const noexcept {
  SaCounters t;
  if (slot >= capacity_) return t;
  for (uint32_t w = 0; w < workers_; ++w) {
    const SaCounters& c = wslot(w, slot).counters;
    t.packets += read_counter(c.packets);
    t.bytes += read_counter(c.bytes);
    for (std::size_t i = 0; i < c.drops.size(); ++i) t.drops[i] += read_counter(c.drops[i]);
  }
  return t;
}

// ---- workers

uint32_t Sad::lookup_inbound(const SadKey* keys, uint32_t n, EspSa** sas, uint32_t* slots) const noexcept {
  uint32_t hits = 0;
  const void* kp[kSadLookupBatch];
  void* data[kSadLookupBatch];
  for (uint32_t base = 0; base < n; base += kSadLookupBatch) {
    const uint32_t m = std::min(n - base, kSadLookupBatch);
    for (uint32_t i = 0; i < m; ++i) kp[i] = &keys[base + i];
    uint64_t mask = 0;
    rte_hash_lookup_bulk_data(keys_, kp, m, &mask, data);
    for (uint32_t i = 0; i < m; ++i) {
      EspSa* sa = nullptr;
      uint32_t slot = kNoSaSlot;
      if (mask >> i & 1) {
        slot = static_cast<uint32_t>(reinterpret_cast<uintptr_t>(data[i]));
        sa = slots_[slot].load(std::memory_order_acquire);
        if (!sa) [[unlikely]]
          slot = kNoSaSlot;  // removed while we looked
      }
      sas[base + i] = sa;
      slots[base + i] = slot;
      hits += sa != nullptr;
    }
  }
  return hits;
}

uint32_t Sad::find_inbound(const SadKey& key) const noexcept {
  void* data = nullptr;
  if (rte_hash_lookup_data(keys_, &key, &data) < 0) return kNoSaSlot;
  const auto slot = static_cast<uint32_t>(reinterpret_cast<uintptr_t>(data));
  return slots_[slot].load(std::memory_order_acquire) ? slot : kNoSaSlot;
}

}  // namespace esprit
