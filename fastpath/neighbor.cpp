// Neighbour table: lock-free worker lookups, control-core updates, hold queues, worker request
// budgets. See neighbor.hpp for the design.
#include "esprit/fastpath/neighbor.hpp"

#include <rte_errno.h>
#include <rte_hash.h>
#include <rte_hash_crc.h>
#include <rte_mbuf.h>
#include <rte_ring.h>
#include <rte_ring_elem.h>

#include <algorithm>
#include <cstdio>
#include <cstring>

#include "esprit/fastpath/control_wake.hpp"

namespace esprit {
namespace {

using std::chrono::nanoseconds;

std::atomic<uint32_t> g_serial{0};  // rte_hash and rte_ring names are process-wide

constexpr uint32_t kFilterSlots = 256;  // per worker, direct-mapped by key hash
constexpr uint32_t kDrainBurst = 32;

/// One element of the request ring: resolve `key`; hold `pkt` meanwhile (null: re-confirm a
/// stale entry).
struct Request {
  NeighborKey key;
  rte_mbuf* pkt = nullptr;
};
static_assert(sizeof(Request) == 32 && sizeof(Request) % 4 == 0);

bool is_zero(const rte_ether_addr& m) noexcept {
  return std::all_of(std::begin(m.addr_bytes), std::end(m.addr_bytes), [](uint8_t b) { return b == 0; });
}

bool same_mac(const rte_ether_addr& a, const rte_ether_addr& b) noexcept {
  return std::memcmp(a.addr_bytes, b.addr_bytes, RTE_ETHER_ADDR_LEN) == 0;
}

bool usable(NeighborState s) noexcept {
  return s == NeighborState::kReachable || s == NeighborState::kStale || s == NeighborState::kStatic;
}

void set_error(std::string* error, std::string msg) {
  if (error) *error = std::move(msg);
}

}  // namespace

// ---- small types ------------------------------------------------------------------------------

std::string_view to_string(NeighborState s) noexcept {
  switch (s) {
    case NeighborState::kNone: return "none";
    case NeighborState::kIncomplete: return "incomplete";
    case NeighborState::kReachable: return "reachable";
    case NeighborState::kStale: return "stale";
    case NeighborState::kStatic: return "static";
  }
  return "?";
}

NeighborKey NeighborKey::v4(uint16_t port, uint32_t host_order) noexcept {
  NeighborKey k;
  k.addr[0] = static_cast<uint8_t>(host_order >> 24);
  k.addr[1] = static_cast<uint8_t>(host_order >> 16);
  k.addr[2] = static_cast<uint8_t>(host_order >> 8);
  k.addr[3] = static_cast<uint8_t>(host_order);
  k.port = port;
  k.family = IpFamily::kV4;
  return k;
}

NeighborKey NeighborKey::v6(uint16_t port, const uint8_t* addr16) noexcept {
  NeighborKey k;
  std::memcpy(k.addr.data(), addr16, 16);
  k.port = port;
  k.family = IpFamily::kV6;
  return k;
}

NeighborKey NeighborKey::of(uint16_t port, const IpAddress& addr) noexcept {
  NeighborKey k;
  std::memcpy(k.addr.data(), addr.bytes(), addr.size());
  k.port = port;
  k.family = addr.family();
  return k;
}

IpAddress NeighborKey::address() const {
  if (family == IpFamily::kV4)
    return IpAddress::v4(static_cast<uint32_t>(addr[0]) << 24 | static_cast<uint32_t>(addr[1]) << 16 |
                         static_cast<uint32_t>(addr[2]) << 8 | addr[3]);
  return IpAddress::v6(addr);
}

std::string NeighborKey::to_string() const { return address().to_string() + " port " + std::to_string(port); }

NeighborInfo NeighborInfo::make(const rte_ether_addr& mac, NeighborState state) noexcept {
  uint64_t w = static_cast<uint64_t>(state) << 48;
  for (unsigned i = 0; i < RTE_ETHER_ADDR_LEN; ++i) w |= static_cast<uint64_t>(mac.addr_bytes[i]) << (8 * i);
  return NeighborInfo(w);
}

rte_ether_addr NeighborInfo::mac() const noexcept {
  rte_ether_addr m;
  for (unsigned i = 0; i < RTE_ETHER_ADDR_LEN; ++i) m.addr_bytes[i] = static_cast<uint8_t>(raw_ >> (8 * i));
  return m;
}

void NeighborActions::free_released() noexcept {
  for (NeighborRelease& r : released) rte_pktmbuf_free(r.pkt);
  released.clear();
}

// ---- control state ----------------------------------------------------------------------------

struct NeighborTable::Control {
  struct Entry {
    bool live = false;
    NeighborKey key;
    NeighborState state = NeighborState::kNone;
    rte_ether_addr mac{};
    bool probing = false;
    uint32_t probes = 0;         ///< sent in the current attempt
    nanoseconds since{0};        ///< created (incomplete), or last confirmed / changed
    nanoseconds last_probe{0};
    std::vector<rte_mbuf*> held;  ///< FIFO, at most hold_per_entry
  };

  Control(const NeighborTableConfig& c, Rcu& r) : config(c), rcu(r) {}

  ~Control() {
    for (Entry& e : entries)
      for (rte_mbuf* m : e.held) rte_pktmbuf_free(m);
    if (ring) {
      Request req;
      while (rte_ring_dequeue_elem(ring, &req, sizeof(Request)) == 0) rte_pktmbuf_free(req.pkt);
      rte_ring_free(ring);
    }
    rte_hash_free(hash);
  }

  NeighborTableConfig config;
  Rcu& rcu;
  rte_hash* hash = nullptr;
  rte_ring* ring = nullptr;
  std::unique_ptr<std::atomic<uint64_t>[]> words;
  std::vector<Entry> entries;    ///< by hash position
  std::vector<int32_t> pending;  ///< deleted positions waiting for a grace period
  std::size_t live = 0;
  uint32_t held_total = 0;
  NeighborCounters counters;
  /// No entry has a timer due before this: age() returns at once until then, so the control
  /// core may call it every loop iteration.
  nanoseconds next_event = nanoseconds::max();

  [[nodiscard]] nanoseconds due(const Entry& e) const noexcept {
    switch (e.state) {
      case NeighborState::kIncomplete: return e.last_probe + config.retransmit_time;
      case NeighborState::kReachable: return e.since + config.reachable_time;
      case NeighborState::kStale:
        return e.probing ? e.last_probe + config.retransmit_time : e.since + config.remove_after;
      case NeighborState::kStatic:
      case NeighborState::kNone: break;
    }
    return nanoseconds::max();
  }
  void schedule(const Entry& e) noexcept { next_event = std::min(next_event, due(e)); }

  [[nodiscard]] int32_t find(const NeighborKey& key) const noexcept { return rte_hash_lookup(hash, &key); }

  /// Makes the entry's MAC and state visible to workers (one atomic store) and notes its timer.
  void publish(int32_t pos) noexcept {
    const Entry& e = entries[static_cast<std::size_t>(pos)];
    words[static_cast<std::size_t>(pos)].store(NeighborInfo::make(e.mac, e.state).raw(), std::memory_order_release);
    schedule(e);
  }

  /// A new entry; negative when the table has no room.
  int32_t insert(const NeighborKey& key, NeighborState state, const rte_ether_addr& mac, nanoseconds now) {
    const int32_t pos = rte_hash_add_key(hash, &key);
    if (pos < 0) return pos;
    Entry& e = entries[static_cast<std::size_t>(pos)];
    e.live = true;
    e.key = key;
    e.state = state;
    e.mac = mac;
    e.probing = false;
    e.probes = 0;
    e.since = now;
    e.last_probe = now;
    e.held.clear();
    e.held.reserve(config.hold_per_entry);
    ++live;
    publish(pos);  // the word was zero until now: readers that found the key saw "no entry"
    return pos;
  }

  void probe(Entry& e, bool unicast, nanoseconds now, NeighborActions& out) {
    out.probes.push_back({e.key, unicast, e.mac});
    e.probing = true;
    ++e.probes;
    e.last_probe = now;
    counters.add(NeighborCounter::kProbes);
    schedule(e);
  }

  void release_held(Entry& e, NeighborActions& out) {
    for (rte_mbuf* m : e.held) out.released.push_back({m, e.key, e.mac});
    counters.add(NeighborCounter::kReleased, e.held.size());
    held_total -= static_cast<uint32_t>(e.held.size());
    e.held.clear();
  }

  void drop_held(Entry& e, NeighborCounter reason) {
    for (rte_mbuf* m : e.held) rte_pktmbuf_free(m);
    counters.add(reason, e.held.size());
    held_total -= static_cast<uint32_t>(e.held.size());
    e.held.clear();
  }

  /// Unpublishes the entry now; its position returns to rte_hash in reclaim().
  void erase(int32_t pos, NeighborCounter held_reason) {
    Entry& e = entries[static_cast<std::size_t>(pos)];
    words[static_cast<std::size_t>(pos)].store(0, std::memory_order_release);
    rte_hash_del_key(hash, &e.key);
    drop_held(e, held_reason);
    e.live = false;
    e.state = NeighborState::kNone;
    --live;
    pending.push_back(pos);
  }

  /// Once every worker has passed a quiescent state none can still use a deleted position.
  void reclaim() {
    if (pending.empty()) return;
    rcu.synchronize();
    for (int32_t pos : pending) rte_hash_free_key_with_position(hash, pos);
    pending.clear();
  }

  void handle(const Request& req, nanoseconds now, NeighborActions& out) {
    counters.add(NeighborCounter::kRequests);
    int32_t pos = find(req.key);
    if (pos < 0) {
      if (!req.pkt) return;  // re-confirmation for an entry since removed: the next packet starts over
      pos = insert(req.key, NeighborState::kIncomplete, rte_ether_addr{}, now);
      if (pos < 0) {
        rte_pktmbuf_free(req.pkt);
        counters.add(NeighborCounter::kDropTableFull);
        return;
      }
      probe(entries[static_cast<std::size_t>(pos)], false, now, out);
    }
    Entry& e = entries[static_cast<std::size_t>(pos)];
    if (usable(e.state)) {
      if (req.pkt) {  // resolved while the request was in the ring
        out.released.push_back({req.pkt, e.key, e.mac});
        counters.add(NeighborCounter::kReleased);
      } else if (e.state == NeighborState::kStale && !e.probing) {
        e.probes = 0;
        probe(e, true, now, out);
      }
      return;
    }
    if (!req.pkt) return;
    if (e.held.size() >= config.hold_per_entry) {
      rte_pktmbuf_free(req.pkt);
      counters.add(NeighborCounter::kDropHoldEntryFull);
    } else if (held_total >= config.hold_total) {
      rte_pktmbuf_free(req.pkt);
      counters.add(NeighborCounter::kDropHoldTotalFull);
    } else {
      e.held.push_back(req.pkt);
      ++held_total;
      counters.add(NeighborCounter::kHeld);
    }
  }
};

// ---- NeighborTable ----------------------------------------------------------------------------

NeighborTable::NeighborTable(std::unique_ptr<Control> ctl)
    : hash_(ctl->hash), words_(ctl->words.get()), ring_(ctl->ring), ctl_(std::move(ctl)) {}

NeighborTable::~NeighborTable() = default;

std::unique_ptr<NeighborTable> NeighborTable::create(const NeighborTableConfig& config, Rcu& rcu,
                                                     std::string* error) {
  if (config.max_entries < 8 || config.max_entries > (1u << 24)) {
    set_error(error, "max_entries must be in 8..16777216");
    return nullptr;
  }
  if (config.hold_per_entry == 0 || config.max_probes == 0 || config.request_ring_size == 0 ||
      config.worker_requests_per_window == 0) {
    set_error(error, "hold_per_entry, max_probes, request_ring_size and worker_requests_per_window must be > 0");
    return nullptr;
  }
  if (config.reachable_time.count() <= 0 || config.retransmit_time.count() <= 0 ||
      config.remove_after < config.reachable_time) {
    set_error(error, "times must be > 0 and remove_after >= reachable_time");
    return nullptr;
  }

  auto ctl = std::make_unique<Control>(config, rcu);
  const uint32_t serial = g_serial.fetch_add(1, std::memory_order_relaxed);
  char name[RTE_HASH_NAMESIZE];
  std::snprintf(name, sizeof(name), "esprit_nb_%u", serial);
  rte_hash_parameters hp{};
  hp.name = name;
  hp.entries = config.max_entries;
  hp.key_len = sizeof(NeighborKey);
  hp.hash_func = rte_hash_crc;
  hp.hash_func_init_val = 0;
  hp.socket_id = config.socket_id;
  // Lock-free readers; one writer (the control core); a deleted key's position is freed by us
  // after a grace period (implied by RW_CONCURRENCY_LF without the hash's own RCU).
  hp.extra_flag = RTE_HASH_EXTRA_FLAGS_RW_CONCURRENCY_LF;
  ctl->hash = rte_hash_create(&hp);
  if (!ctl->hash) {
    set_error(error, std::string("rte_hash_create: ") + rte_strerror(rte_errno));
    return nullptr;
  }
  std::snprintf(name, sizeof(name), "esprit_nbq_%u", serial);
  ctl->ring = rte_ring_create_elem(name, sizeof(Request), config.request_ring_size, config.socket_id,
                                   RING_F_SC_DEQ | RING_F_EXACT_SZ);
  if (!ctl->ring) {
    set_error(error, std::string("rte_ring_create_elem: ") + rte_strerror(rte_errno));
    return nullptr;
  }
  const int32_t max_key = rte_hash_max_key_id(ctl->hash);
  if (max_key < 0) {
    set_error(error, "rte_hash_max_key_id failed");
    return nullptr;
  }
  const std::size_t positions = static_cast<std::size_t>(max_key) + 1;
  ctl->words = std::make_unique<std::atomic<uint64_t>[]>(positions);  // value-initialised: 0
  ctl->entries.resize(positions);
  return std::unique_ptr<NeighborTable>(new NeighborTable(std::move(ctl)));
}

NeighborInfo NeighborTable::lookup(const NeighborKey& key) const noexcept {
  const int32_t pos = rte_hash_lookup(hash_, &key);
  if (pos < 0) return NeighborInfo{};
  return NeighborInfo(words_[pos].load(std::memory_order_acquire));
}

void NeighborTable::lookup_bulk(const NeighborKey* keys, uint32_t n, NeighborInfo* out) const noexcept {
  const void* kp[RTE_HASH_LOOKUP_BULK_MAX];
  int32_t pos[RTE_HASH_LOOKUP_BULK_MAX];
  for (uint32_t i = 0; i < n; i += RTE_HASH_LOOKUP_BULK_MAX) {
    const uint32_t k = std::min<uint32_t>(RTE_HASH_LOOKUP_BULK_MAX, n - i);
    for (uint32_t j = 0; j < k; ++j) kp[j] = &keys[i + j];
    rte_hash_lookup_bulk(hash_, kp, k, pos);
    for (uint32_t j = 0; j < k; ++j)
      out[i + j] = pos[j] < 0 ? NeighborInfo{} : NeighborInfo(words_[pos[j]].load(std::memory_order_acquire));
  }
}

uint32_t NeighborTable::process_requests(nanoseconds now, NeighborActions& out, uint32_t max) {
  Control& c = *ctl_;
  Request batch[kDrainBurst];
  uint32_t done = 0;
  while (done < max) {
    const unsigned want = std::min(kDrainBurst, max - done);
    const unsigned n = rte_ring_dequeue_burst_elem(c.ring, batch, sizeof(Request), want, nullptr);
    for (unsigned i = 0; i < n; ++i) c.handle(batch[i], now, out);
    done += n;
    if (n < want) break;
  }
  return done;
}

LearnResult NeighborTable::learn(const NeighborKey& key, const rte_ether_addr& mac, NeighborEvidence evidence,
                                 nanoseconds now, NeighborActions& out) {
  Control& c = *ctl_;
  const NeighborState fresh = evidence == NeighborEvidence::kReply ? NeighborState::kReachable : NeighborState::kStale;
  int32_t pos = c.find(key);
  if (pos < 0) {
    if (evidence == NeighborEvidence::kAnnounce) return LearnResult::kIgnoredUnknown;
    if (c.insert(key, fresh, mac, now) < 0) return LearnResult::kTableFull;
    c.counters.add(NeighborCounter::kLearned);
    return LearnResult::kCreated;
  }
  Control::Entry& e = c.entries[static_cast<std::size_t>(pos)];
  bool changed = true;
  switch (e.state) {
    case NeighborState::kStatic:
      c.counters.add(NeighborCounter::kStaticIgnored);
      return LearnResult::kIgnoredStatic;
    case NeighborState::kIncomplete:
      e.mac = mac;
      e.state = fresh;
      break;
    default:
      if (evidence == NeighborEvidence::kReply) {
        changed = !same_mac(e.mac, mac) || e.state != NeighborState::kReachable;
        e.mac = mac;
        e.state = NeighborState::kReachable;
      } else if (!same_mac(e.mac, mac)) {
        e.mac = mac;
        e.state = NeighborState::kStale;
      } else {
        return LearnResult::kUnchanged;  // same MAC seen again: no confirmation of reachability
      }
      break;
  }
  e.since = now;
  e.probing = false;
  e.probes = 0;
  c.publish(pos);
  c.release_held(e, out);  // only an incomplete entry holds packets
  if (changed) c.counters.add(NeighborCounter::kLearned);
  return LearnResult::kUpdated;
}

bool NeighborTable::add_static(const NeighborKey& key, const rte_ether_addr& mac, nanoseconds now,
                               NeighborActions& out, std::string* error) {
  if (is_zero(mac) || rte_is_multicast_ether_addr(&mac)) {
    set_error(error, key.to_string() + ": a neighbour's MAC cannot be zero or multicast");
    return false;
  }
  Control& c = *ctl_;
  const int32_t pos = c.find(key);
  if (pos < 0) {
    if (c.insert(key, NeighborState::kStatic, mac, now) < 0) {
      set_error(error, key.to_string() + ": neighbour table full");
      return false;
    }
    return true;
  }
  Control::Entry& e = c.entries[static_cast<std::size_t>(pos)];
  e.mac = mac;
  e.state = NeighborState::kStatic;
  e.since = now;
  e.probing = false;
  e.probes = 0;
  c.publish(pos);
  c.release_held(e, out);
  return true;
}

bool NeighborTable::remove(const NeighborKey& key) {
  Control& c = *ctl_;
  const int32_t pos = c.find(key);
  if (pos < 0) return false;
  c.erase(pos, NeighborCounter::kDropRemoved);
  c.reclaim();
  return true;
}

uint32_t NeighborTable::flush_port(uint16_t port) {
  Control& c = *ctl_;
  uint32_t n = 0;
  for (std::size_t i = 0; i < c.entries.size(); ++i) {
    const Control::Entry& e = c.entries[i];
    if (e.live && e.key.port == port && e.state != NeighborState::kStatic) {
      c.erase(static_cast<int32_t>(i), NeighborCounter::kDropRemoved);
      ++n;
    }
  }
  c.reclaim();
  return n;
}

void NeighborTable::age(nanoseconds now, NeighborActions& out) {
  Control& c = *ctl_;
  if (now < c.next_event) return;
  c.next_event = nanoseconds::max();
  const NeighborTableConfig& cfg = c.config;
  for (std::size_t i = 0; i < c.entries.size(); ++i) {
    Control::Entry& e = c.entries[i];
    if (!e.live) continue;
    const auto pos = static_cast<int32_t>(i);
    switch (e.state) {
      case NeighborState::kIncomplete:
        if (now - e.last_probe >= cfg.retransmit_time) {
          if (e.probes < cfg.max_probes) {
            c.probe(e, false, now, out);
          } else {
            c.counters.add(NeighborCounter::kResolutionFailed);
            c.erase(pos, NeighborCounter::kDropUnresolved);
          }
        }
        break;
      case NeighborState::kReachable:
      case NeighborState::kStale:
        if (e.state == NeighborState::kReachable && now - e.since >= cfg.reachable_time) {
          e.state = NeighborState::kStale;
          c.publish(pos);
        }
        if (e.state != NeighborState::kStale) break;
        if (e.probing) {
          if (now - e.last_probe >= cfg.retransmit_time) {
            if (e.probes < cfg.max_probes) {
              c.probe(e, true, now, out);
            } else {
              c.counters.add(NeighborCounter::kProbeFailed);
              c.erase(pos, NeighborCounter::kDropRemoved);
            }
          }
        } else if (now - e.since >= cfg.remove_after) {
          c.counters.add(NeighborCounter::kAgedOut);
          c.erase(pos, NeighborCounter::kDropRemoved);
        }
        break;
      case NeighborState::kStatic:
      case NeighborState::kNone:
        break;
    }
    if (e.live) c.schedule(e);
  }
  c.reclaim();
}

std::vector<NeighborEntryInfo> NeighborTable::entries(nanoseconds now) const {
  std::vector<NeighborEntryInfo> out;
  out.reserve(ctl_->live);
  for (const Control::Entry& e : ctl_->entries) {
    if (!e.live) continue;
    out.push_back({e.key, e.mac, e.state, e.probing, e.probes, now - e.since, static_cast<uint32_t>(e.held.size())});
  }
  std::sort(out.begin(), out.end(), [](const NeighborEntryInfo& a, const NeighborEntryInfo& b) {
    if (a.key.port != b.key.port) return a.key.port < b.key.port;
    if (a.key.family != b.key.family) return a.key.family < b.key.family;
    return a.key.addr < b.key.addr;
  });
  return out;
}

std::size_t NeighborTable::size() const noexcept { return ctl_->live; }
uint32_t NeighborTable::held_packets() const noexcept { return ctl_->held_total; }
const NeighborCounters& NeighborTable::counters() const noexcept { return ctl_->counters; }
const NeighborTableConfig& NeighborTable::config() const noexcept { return ctl_->config; }
bool NeighborTable::requests_pending() const noexcept { return !rte_ring_empty(ring_); }

// ---- NeighborWorker ---------------------------------------------------------------------------

struct NeighborWorker::FilterSlot {
  NeighborKey key;
  bool valid = false;
  bool refreshed = false;  ///< a re-confirmation was asked for (or lost) in this window
  uint32_t packets = 0;    ///< handed over in this window
  nanoseconds start{0};
};

NeighborWorker::NeighborWorker(NeighborTable& table)
    : ring_(table.ring_),
      wake_(table.wake_),
      window_(table.config().retransmit_time),
      per_key_(table.config().hold_per_entry),
      per_window_(table.config().worker_requests_per_window),
      filter_(std::make_unique<FilterSlot[]>(kFilterSlots)) {}

NeighborWorker::~NeighborWorker() = default;

NeighborWorker::FilterSlot& NeighborWorker::slot_for(const NeighborKey& key, nanoseconds now) noexcept {
  FilterSlot& s = filter_[rte_hash_crc(&key, sizeof(key), 0) & (kFilterSlots - 1)];
  if (!s.valid || !(s.key == key) || now - s.start >= window_) {
    s.key = key;
    s.valid = true;
    s.refreshed = false;
    s.packets = 0;
    s.start = now;
  }
  return s;
}

bool NeighborWorker::budget_left(nanoseconds now) noexcept {
  if (!budget_started_ || now - budget_start_ >= window_) {
    budget_started_ = true;
    budget_start_ = now;
    budget_used_ = 0;
  }
  return budget_used_ < per_window_;
}

bool NeighborWorker::enqueue(const NeighborKey& key, rte_mbuf* pkt) noexcept {
  Request req;
  req.key = key;
  req.pkt = pkt;
  if (rte_ring_enqueue_elem(ring_, &req, sizeof(Request)) != 0) return false;
  if (wake_) wake_->notify();  // after the enqueue (control_wake.hpp)
  return true;
}

NeighborWorker::HoldResult NeighborWorker::hold(const NeighborKey& key, rte_mbuf* pkt, nanoseconds now) noexcept {
  FilterSlot& s = slot_for(key, now);
  if (s.packets >= per_key_ || !budget_left(now)) [[unlikely]] {
    counters_.bump(NeighborWorkerCounter::kDropRateLimited);
    return HoldResult::kRateLimited;
  }
  if (!enqueue(key, pkt)) [[unlikely]] {
    counters_.bump(NeighborWorkerCounter::kDropRingFull);
    return HoldResult::kRingFull;
  }
  ++s.packets;
  ++budget_used_;
  counters_.bump(NeighborWorkerCounter::kHandedOver);
  return HoldResult::kHandedOver;
}

void NeighborWorker::refresh(const NeighborKey& key, nanoseconds now) noexcept {
  FilterSlot& s = slot_for(key, now);
  if (s.refreshed) return;  // asked already in this window
  s.refreshed = true;
  if (!budget_left(now) || !enqueue(key, nullptr)) {
    counters_.bump(NeighborWorkerCounter::kRefreshLost);
    return;
  }
  ++budget_used_;
  counters_.bump(NeighborWorkerCounter::kRefreshSent);
}

}  // namespace esprit
