// Left-right publication of rte_fib / rte_fib6 and the immutable next-hop table; see route.hpp.
#include "esprit/fastpath/route.hpp"

#include <rte_errno.h>
#include <rte_fib.h>
#include <rte_fib6.h>
#include <rte_rib.h>
#include <rte_rib6.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <cstring>
#include <map>
#include <unordered_map>

namespace esprit {
namespace {

// FIB entries keep one bit for their own use: 2-byte entries hold values up to 2^15 - 1.
constexpr uint32_t kMaxNh2B = (1u << 15) - 1;
constexpr uint32_t kMaxNh4B = (1u << 31) - 1;
// The value a FIB stores for a route is slot * 2 + alias (see fib_value()); lookups shift the
// alias off, so slot s fits in an entry that holds 2s + 1.
constexpr uint32_t kMaxSlots4B = kMaxNh4B >> 1;
constexpr uint64_t kNoParent = UINT64_MAX;
constexpr uint32_t kLookupChunk = 64;

std::atomic<uint32_t> g_serial{0};  // rte_fib/rte_rib names are process-wide

uint32_t host_order_v4(const IpAddress& a) noexcept {
  const uint8_t* b = a.bytes();
  return static_cast<uint32_t>(b[0]) << 24 | static_cast<uint32_t>(b[1]) << 16 |
         static_cast<uint32_t>(b[2]) << 8 | b[3];
}

bool is_unspecified(const IpAddress& a) noexcept {
  for (std::size_t i = 0; i < a.size(); ++i)
    if (a.bytes()[i] != 0) return false;
  return true;
}

/// The map key of a route: family first (IPv4 sorts first), then address, then length.
struct RouteKey {
  IpFamily family = IpFamily::kV4;
  std::array<uint8_t, 16> addr{};
  uint8_t len = 0;

  explicit RouteKey(const IpPrefix& p) : family(p.family()), len(p.length()) {
    std::memcpy(addr.data(), p.address().bytes(), p.address().size());
  }
  friend auto operator<=>(const RouteKey&, const RouteKey&) = default;
};

struct NextHopHash {
  std::size_t operator()(const NextHop& nh) const noexcept {
    std::size_t h = static_cast<std::size_t>(nh.kind) * 0x9e3779b97f4a7c15ull;
    h ^= (static_cast<std::size_t>(nh.port) << 32 | nh.tunnel) + 0x9e3779b97f4a7c15ull + (h << 6) + (h >> 2);
    h ^= static_cast<std::size_t>(nh.gateway.family());
    for (std::size_t i = 0; i < nh.gateway.size(); ++i) h = h * 131 + nh.gateway.bytes()[i];
    return h;
  }
};

/// The canonical form of a next hop (fields its kind does not use cleared), so that equal routes
/// share one slot; nullopt if it cannot be installed.
std::optional<NextHop> canonical(const NextHop& nh, std::string* why) {
  switch (nh.kind) {
    case NextHopKind::kBlackhole:
      return NextHop::blackhole();
    case NextHopKind::kConnected:
      return NextHop::connected(nh.port);
    case NextHopKind::kGateway:
      if (is_unspecified(nh.gateway)) {
        *why = "gateway next hop needs an address";
        return std::nullopt;
      }
      return NextHop::via(nh.port, nh.gateway);
    case NextHopKind::kTunnel:
      return NextHop::tunnel_interface(nh.tunnel);
  }
  *why = "unknown next-hop kind";
  return std::nullopt;
}

void set_error(std::string* error, std::string msg) {
  if (error) *error = std::move(msg);
}

}  // namespace

// ---- NextHop ----------------------------------------------------------------------------------

std::string_view to_string(NextHopKind k) noexcept {
  switch (k) {
    case NextHopKind::kBlackhole: return "blackhole";
    case NextHopKind::kConnected: return "connected";
    case NextHopKind::kGateway: return "gateway";
    case NextHopKind::kTunnel: return "tunnel";
  }
  return "?";
}

NextHop NextHop::connected(uint16_t port) noexcept {
  NextHop nh;
  nh.kind = NextHopKind::kConnected;
  nh.port = port;
  return nh;
}

NextHop NextHop::via(uint16_t port, const IpAddress& gateway) noexcept {
  NextHop nh;
  nh.kind = NextHopKind::kGateway;
  nh.port = port;
  nh.gateway = gateway;
  return nh;
}

NextHop NextHop::tunnel_interface(uint32_t tunnel_id) noexcept {
  NextHop nh;
  nh.kind = NextHopKind::kTunnel;
  nh.tunnel = tunnel_id;
  return nh;
}

NextHop NextHop::blackhole() noexcept { return NextHop{}; }

std::string NextHop::to_string() const {
  switch (kind) {
    case NextHopKind::kBlackhole: return "blackhole";
    case NextHopKind::kConnected: return "connected port " + std::to_string(port);
    case NextHopKind::kGateway: return "via " + gateway.to_string() + " port " + std::to_string(port);
    case NextHopKind::kTunnel: return "tunnel " + std::to_string(tunnel);
  }
  return "?";
}

// ---- Fib internals ----------------------------------------------------------------------------

struct Fib::Tables {
  rte_fib* v4 = nullptr;
  rte_fib6* v6 = nullptr;
};

struct Fib::Control {
  struct Route {
    IpPrefix prefix;
    uint32_t nh = kNoRoute;
  };
  /// One effective change, as replayed on the second table.
  struct Op {
    IpPrefix prefix;
    std::optional<uint32_t> nh;  ///< nullopt: delete
    bool existed = false;        ///< the prefix had a route before this op
  };
  struct Undo {
    RouteKey key;
    std::optional<Route> before;
    std::optional<uint32_t> added_nh;
  };

  FibConfig config;
  uint32_t capacity = 0;  ///< next-hop slots 1..capacity
  rte_fib_dir24_8_nh_sz nh_sz4 = RTE_FIB_DIR24_8_2B;
  rte_fib_trie_nh_sz nh_sz6 = RTE_FIB6_TRIE_2B;
  std::array<Tables, 2> tables{};
  /// [table][0 = IPv4, 1 = IPv6]: the table differs from `routes` and must be rebuilt.
  std::array<std::array<bool, 2>, 2> broken{};
  std::map<RouteKey, Route> routes;
  std::vector<uint32_t> refcount;  ///< per slot: routes using it
  std::vector<uint32_t> free_slots;
  std::unordered_map<NextHop, uint32_t, NextHopHash> interned;
  std::vector<uint32_t> released;  ///< slots whose count fell to 0 in the current batch
  uint64_t rebuilds = 0;

  ~Control() {
    for (Tables& t : tables) destroy(t);
  }

  static void destroy(Tables& t) {
    rte_fib_free(t.v4);
    rte_fib6_free(t.v6);
    t = Tables{};
  }

  bool create4(Tables& t, std::string* error) {
    char name[32];
    std::snprintf(name, sizeof(name), "esprit_fib4_%u", g_serial.fetch_add(1, std::memory_order_relaxed));
    rte_fib_conf c{};
    c.type = RTE_FIB_DIR24_8;
    c.default_nh = kNoRoute;
    c.max_routes = static_cast<int>(config.max_routes_v4);
    c.rib_ext_sz = 0;
    c.dir24_8.nh_sz = nh_sz4;
    c.dir24_8.num_tbl8 = config.tbl8_groups_v4;
    t.v4 = rte_fib_create(name, config.socket_id, &c);
    if (!t.v4) set_error(error, std::string("rte_fib_create: ") + rte_strerror(rte_errno));
    return t.v4 != nullptr;
  }

  bool create6(Tables& t, std::string* error) {
    char name[32];
    std::snprintf(name, sizeof(name), "esprit_fib6_%u", g_serial.fetch_add(1, std::memory_order_relaxed));
    rte_fib6_conf c{};
    c.type = RTE_FIB6_TRIE;
    c.default_nh = kNoRoute;
    c.max_routes = static_cast<int>(config.max_routes_v6);
    c.rib_ext_sz = 0;
    c.trie.nh_sz = nh_sz6;
    c.trie.num_tbl8 = config.tbl8_groups_v6;
    t.v6 = rte_fib6_create(name, config.socket_id, &c);
    if (!t.v6) set_error(error, std::string("rte_fib6_create: ") + rte_strerror(rte_errno));
    return t.v6 != nullptr;
  }

  /// The value stored for a route of slot `slot` whose nearest covering route in the same
  /// table stores `parent`: slot * 2, or slot * 2 + 1 when the parent already stores slot * 2.
  ///
  /// Never giving a route its parent's value works around DPDK 22.11's dir24_8: an add whose
  /// next hop equals the parent's returns early, before it reserves the prefix's tbl8 group,
  /// while the delete releases the reservation anyway; the counter underflows and every later
  /// route longer than /24 in a new /24 fails with ENOSPC. (trie's add has the same early
  /// return; 22.11.11 did not leak there, and the rule costs nothing, so both families use it.)
  static uint64_t fib_value(uint32_t slot, uint64_t parent) noexcept {
    const uint64_t v = static_cast<uint64_t>(slot) << 1;
    return parent == v ? v | 1 : v;
  }

  static uint64_t parent_value4(rte_fib* fib, uint32_t ip, uint8_t depth) {
    for (rte_rib_node* n = rte_rib_lookup(rte_fib_get_rib(fib), ip); n; n = rte_rib_lookup_parent(n)) {
      uint8_t d = 0;
      uint64_t nh = 0;
      rte_rib_get_depth(n, &d);
      if (d < depth && rte_rib_get_nh(n, &nh) == 0) return nh;
    }
    return kNoParent;
  }

  static uint64_t parent_value6(rte_fib6* fib, const uint8_t* ip, uint8_t depth) {
    for (rte_rib6_node* n = rte_rib6_lookup(rte_fib6_get_rib(fib), ip); n; n = rte_rib6_lookup_parent(n)) {
      uint8_t d = 0;
      uint64_t nh = 0;
      rte_rib6_get_depth(n, &d);
      if (d < depth && rte_rib6_get_nh(n, &nh) == 0) return nh;
    }
    return kNoParent;
  }

  /// True if DPDK 22.11 would overwrite the whole table when asked to add or delete `p`.
  ///
  /// Both dir24_8 and trie write a prefix's range piece by piece between its more specific
  /// routes (rte_rib_get_nxt, COVER). When such a route starts exactly where the previous piece
  /// ended and reaches the top of the address space, the "nothing to write here" branch moves
  /// the left edge past the end, where it wraps to 0 (::); unlike the branch that writes, it
  /// does not stop there, and the final range [0, 0) is then written as "everything": every
  /// address, tbl8-backed ones included, gets the prefix's next hop (or, on delete, its
  /// parent's). Seen with 128.0.0.0/1 added over 160.0.0.0/3 + 192.0.0.0/2. We mirror the walk
  /// and, when it would wrap in that branch, rebuild the table instead (see rebuild()).
  static bool hits_wrap_bug(Tables& t, const IpPrefix& p) {
    const uint8_t depth = p.length();
    if (p.family() == IpFamily::kV4) {
      rte_rib* rib = rte_fib_get_rib(t.v4);
      const uint32_t ip = host_order_v4(p.address());
      uint32_t ledge = ip;
      for (rte_rib_node* n = rte_rib_get_nxt(rib, ip, depth, nullptr, RTE_RIB_GET_NXT_COVER); n;
           n = rte_rib_get_nxt(rib, ip, depth, n, RTE_RIB_GET_NXT_COVER)) {
        uint8_t d = 0;
        uint32_t sub = 0;
        rte_rib_get_depth(n, &d);
        rte_rib_get_ip(n, &sub);
        if (d == depth) continue;
        const uint32_t redge = sub & rte_rib_depth_to_mask(d);
        const uint32_t next = redge + static_cast<uint32_t>(1ull << (32 - d));
        if (ledge == redge && next == 0) return true;
        ledge = next;
      }
      return false;
    }
    rte_rib6* rib = rte_fib6_get_rib(t.v6);
    const uint8_t* ip = p.address().bytes();
    std::array<uint8_t, 16> ledge;
    std::memcpy(ledge.data(), ip, 16);
    for (rte_rib6_node* n = rte_rib6_get_nxt(rib, ip, depth, nullptr, RTE_RIB6_GET_NXT_COVER); n;
         n = rte_rib6_get_nxt(rib, ip, depth, n, RTE_RIB6_GET_NXT_COVER)) {
      uint8_t d = 0;
      std::array<uint8_t, 16> redge{};
      rte_rib6_get_depth(n, &d);
      rte_rib6_get_ip(n, redge.data());
      if (d == depth || d == 0) continue;
      // next = redge + 2^(128 - d): add one at bit d-1 counted from the top, carrying upwards.
      std::array<uint8_t, 16> next = redge;
      int byte = (d - 1) / 8;
      unsigned carry = 1u << (7 - (d - 1) % 8);
      for (; byte >= 0 && carry; --byte) {
        const unsigned sum = next[static_cast<std::size_t>(byte)] + carry;
        next[static_cast<std::size_t>(byte)] = static_cast<uint8_t>(sum);
        carry = sum >> 8;
      }
      if (ledge == redge && carry) return true;  // wrapped past ffff:...:ffff
      ledge = next;
    }
    return false;
  }

  /// Writes one change into a table nobody reads. A replacement is a delete and an add: DPDK
  /// 22.11's dir24_8 reports success for an add over an existing prefix even when it failed.
  static int write(Tables& t, const Op& op) {
    const IpPrefix& p = op.prefix;
    if (p.family() == IpFamily::kV4) {
      const uint32_t ip = host_order_v4(p.address());
      if (op.existed) {
        const int rc = rte_fib_delete(t.v4, ip, p.length());
        if (rc < 0) return rc;
      }
      if (!op.nh) return 0;
      return rte_fib_add(t.v4, ip, p.length(), fib_value(*op.nh, parent_value4(t.v4, ip, p.length())));
    }
    const uint8_t* ip = p.address().bytes();
    if (op.existed) {
      const int rc = rte_fib6_delete(t.v6, ip, p.length());
      if (rc < 0) return rc;
    }
    if (!op.nh) return 0;
    return rte_fib6_add(t.v6, ip, p.length(), fib_value(*op.nh, parent_value6(t.v6, ip, p.length())));
  }

  /// Brings table `i` (not published) from the state before `ops` to `routes`, the state after
  /// them. Negative errno if a write failed; every family the ops touch is then marked broken
  /// (part of the batch may be in it).
  int update(std::size_t i, const std::vector<Op>& ops, std::string* error) {
    std::array<bool, 2> rebuilt{};  // per family: the table already holds `routes`
    for (const Op& op : ops) {
      const bool v4 = op.prefix.family() == IpFamily::kV4;
      if (rebuilt[v4 ? 0 : 1]) continue;
      if (hits_wrap_bug(tables[i], op.prefix)) {
        if (!rebuild(i, v4 ? IpFamily::kV4 : IpFamily::kV6, error)) {
          for (const Op& o : ops) broken[i][o.prefix.family() == IpFamily::kV4 ? 0 : 1] = true;
          return -ENOSPC;
        }
        rebuilt[v4 ? 0 : 1] = true;
        continue;
      }
      const int rc = write(tables[i], op);
      if (rc < 0) {
        for (const Op& o : ops) broken[i][o.prefix.family() == IpFamily::kV4 ? 0 : 1] = true;
        set_error(error, op.prefix.to_string() + ": " + rte_strerror(-rc));
        return rc;
      }
    }
    return 0;
  }

  /// Replaces one family's table of `i` (not published) by a fresh one holding `routes`, added
  /// shortest prefix first: then no add has more specific routes below it, so the walk of
  /// hits_wrap_bug() never happens. Marks the table broken on failure.
  bool rebuild(std::size_t i, IpFamily family, std::string* error) {
    ++rebuilds;
    Tables& t = tables[i];
    const std::size_t f = family == IpFamily::kV4 ? 0 : 1;
    if (f == 0) {
      rte_fib_free(t.v4);
      t.v4 = nullptr;
    } else {
      rte_fib6_free(t.v6);
      t.v6 = nullptr;
    }
    broken[i][f] = true;
    if (!(family == IpFamily::kV4 ? create4(t, error) : create6(t, error))) return false;
    std::vector<const Route*> order;
    for (const auto& kv : routes)
      if (kv.second.prefix.family() == family) order.push_back(&kv.second);
    std::stable_sort(order.begin(), order.end(),
                     [](const Route* a, const Route* b) { return a->prefix.length() < b->prefix.length(); });
    for (const Route* r : order) {
      const int rc = write(t, Op{r->prefix, r->nh, false});
      if (rc < 0) {
        set_error(error, "rebuilding the FIB: " + r->prefix.to_string() + ": " + rte_strerror(-rc));
        return false;
      }
    }
    broken[i][f] = false;
    return true;
  }

  /// Rebuilds the families of table `i` marked broken.
  bool repair(std::size_t i, std::string* error) {
    if (broken[i][0] && !rebuild(i, IpFamily::kV4, error)) return false;
    if (broken[i][1] && !rebuild(i, IpFamily::kV6, error)) return false;
    return true;
  }

  /// A slot holding `nh` with one more reference; nullopt when every slot is taken.
  std::optional<uint32_t> acquire(const NextHop& nh, NextHop* slots) {
    if (auto it = interned.find(nh); it != interned.end()) {
      ++refcount[it->second];
      return it->second;
    }
    if (free_slots.empty()) return std::nullopt;
    const uint32_t i = free_slots.back();
    free_slots.pop_back();
    // Unreachable: in no FIB, and freed only after the grace period that followed its last use.
    slots[i] = nh;
    refcount[i] = 1;
    interned.emplace(nh, i);
    return i;
  }

  void release(uint32_t i) {
    if (--refcount[i] == 0) released.push_back(i);
  }

  /// Frees the slots released by the batch that nothing uses any more. Call only when neither
  /// table refers to them and no reader can hold their index.
  void reclaim(const NextHop* slots) {
    for (uint32_t i : released) {
      if (refcount[i] != 0) continue;  // taken again later in the batch
      const auto it = interned.find(slots[i]);
      if (it != interned.end() && it->second == i) {
        interned.erase(it);
        free_slots.push_back(i);
      }
    }
    released.clear();
  }
};

// ---- Fib --------------------------------------------------------------------------------------

Fib::Fib(Rcu& rcu, std::unique_ptr<NextHop[]> slots, std::unique_ptr<Control> ctl)
    : rcu_(rcu), slots_(std::move(slots)), ctl_(std::move(ctl)) {}

Fib::~Fib() = default;

std::unique_ptr<Fib> Fib::create(const FibConfig& config, Rcu& rcu, std::string* error) {
  if (config.max_next_hops == 0 || config.max_next_hops > kMaxSlots4B) {
    set_error(error, "max_next_hops must be in 1.." + std::to_string(kMaxSlots4B));
    return nullptr;
  }
  constexpr uint32_t kMaxRoutes = static_cast<uint32_t>(INT32_MAX / 2);
  if (config.max_routes_v4 == 0 || config.max_routes_v6 == 0 || config.max_routes_v4 > kMaxRoutes ||
      config.max_routes_v6 > kMaxRoutes) {
    set_error(error, "max_routes must be in 1..1073741823");
    return nullptr;
  }
  if (config.tbl8_groups_v4 == 0 || config.tbl8_groups_v6 == 0 || config.tbl8_groups_v4 > kMaxNh4B ||
      config.tbl8_groups_v6 > kMaxNh4B) {
    set_error(error, "tbl8 group counts must be in 1..2147483647");
    return nullptr;
  }
  auto ctl = std::make_unique<Control>();
  ctl->config = config;
  ctl->capacity = config.max_next_hops;
  // Entries hold next-hop values (2 * slot + 1 at most) or tbl8 group indices: both must fit.
  const uint32_t max_value = 2 * config.max_next_hops + 1;
  ctl->nh_sz4 = std::max(max_value, config.tbl8_groups_v4) <= kMaxNh2B ? RTE_FIB_DIR24_8_2B : RTE_FIB_DIR24_8_4B;
  ctl->nh_sz6 = std::max(max_value, config.tbl8_groups_v6) <= kMaxNh2B ? RTE_FIB6_TRIE_2B : RTE_FIB6_TRIE_4B;
  ctl->refcount.assign(static_cast<std::size_t>(ctl->capacity) + 1, 0);
  ctl->free_slots.reserve(ctl->capacity);
  for (uint32_t i = ctl->capacity; i >= 1; --i) ctl->free_slots.push_back(i);  // lowest index first
  ctl->interned.reserve(64);

  for (Tables& t : ctl->tables)
    if (!ctl->create4(t, error) || !ctl->create6(t, error)) return nullptr;  // ~Control frees them

  auto slots = std::make_unique<NextHop[]>(static_cast<std::size_t>(ctl->capacity) + 1);
  slots[kNoRoute] = NextHop::blackhole();
  std::unique_ptr<Fib> fib(new Fib(rcu, std::move(slots), std::move(ctl)));
  fib->active_.store(&fib->ctl_->tables[0], std::memory_order_release);
  return fib;
}

bool Fib::add_connected(uint16_t port, const IpPrefix& subnet, std::string* error) {
  return add_route(subnet, NextHop::connected(port), error);
}

bool Fib::add_route(const IpPrefix& prefix, const NextHop& next_hop, std::string* error) {
  const RouteChange c = RouteChange::add(prefix, next_hop);
  return apply(std::span<const RouteChange>(&c, 1), error);
}

bool Fib::remove_route(const IpPrefix& prefix, std::string* error) {
  const RouteChange c = RouteChange::remove(prefix);
  return apply(std::span<const RouteChange>(&c, 1), error);
}

bool Fib::apply(std::span<const RouteChange> changes, std::string* error) {
  Control& c = *ctl_;
  const Tables* active = active_.load(std::memory_order_relaxed);  // only this thread stores it
  const std::size_t a = active == &c.tables[0] ? 0 : 1;
  const std::size_t s = 1 - a;

  // A standby left behind by an earlier failure is made whole first.
  if (!c.repair(s, error)) return false;

  // Pass 1: the control state (routes, next-hop references), with an undo log.
  std::vector<Control::Op> ops;
  std::vector<Control::Undo> undo;
  ops.reserve(changes.size());
  undo.reserve(changes.size());
  std::string why;
  bool ok = true;
  for (const RouteChange& ch : changes) {
    const RouteKey key(ch.prefix);
    const auto it = c.routes.find(key);
    std::optional<Control::Route> before;
    if (it != c.routes.end()) before = it->second;

    std::optional<uint32_t> nh;
    if (ch.op == RouteChange::Op::kRemove) {
      if (!before) {
        why = "no route for " + ch.prefix.to_string();
        ok = false;
        break;
      }
    } else {
      const auto canon = canonical(ch.next_hop, &why);
      if (!canon) {
        why = ch.prefix.to_string() + ": " + why;
        ok = false;
        break;
      }
      nh = c.acquire(*canon, slots_.get());
      if (!nh) {
        why = "next-hop table full (" + std::to_string(c.capacity) + " distinct next hops)";
        ok = false;
        break;
      }
      if (before && before->nh == *nh) {  // the same route again: nothing to do
        c.release(*nh);
        continue;
      }
    }
    undo.push_back({key, before, nh});
    if (before) c.release(before->nh);
    if (nh) {
      c.routes.insert_or_assign(key, Control::Route{ch.prefix, *nh});
    } else {
      c.routes.erase(key);
    }
    ops.push_back({ch.prefix, nh, before.has_value()});
  }

  // Pass 2: the standby table, which no worker reads.
  if (ok && c.update(s, ops, &why) < 0) ok = false;

  if (!ok) {
    for (auto u = undo.rbegin(); u != undo.rend(); ++u) {
      if (u->added_nh) c.release(*u->added_nh);
      if (u->before) {
        ++c.refcount[u->before->nh];
        c.routes.insert_or_assign(u->key, *u->before);
      } else {
        c.routes.erase(u->key);
      }
    }
    // A partly written standby starts again from the (restored) routes. If that fails too, the
    // next apply() retries before touching anything; workers keep using the intact active table.
    std::string ignored;
    (void)c.repair(s, &ignored);
    c.reclaim(slots_.get());  // unpublished slots of this batch
    set_error(error, why);
    return false;
  }
  if (ops.empty()) return true;

  // Publish the standby, wait until no worker can still be in the old table, bring it level.
  active_.store(&c.tables[s], std::memory_order_release);
  rcu_.synchronize();
  std::string ignored;
  if (c.update(a, ops, &ignored) < 0) (void)c.repair(a, &ignored);  // else retried by the next apply()
  c.reclaim(slots_.get());  // released slots are now in neither table and in no reader's hands
  return true;
}

std::vector<RouteInfo> Fib::routes() const {
  std::vector<RouteInfo> out;
  out.reserve(ctl_->routes.size());
  for (const auto& kv : ctl_->routes) out.push_back({kv.second.prefix, slots_[kv.second.nh], kv.second.nh});
  return out;
}

std::optional<RouteInfo> Fib::find(const IpPrefix& prefix) const {
  const auto it = ctl_->routes.find(RouteKey(prefix));
  if (it == ctl_->routes.end()) return std::nullopt;
  return RouteInfo{it->second.prefix, slots_[it->second.nh], it->second.nh};
}

std::size_t Fib::route_count() const noexcept { return ctl_->routes.size(); }

std::size_t Fib::next_hop_count() const noexcept { return ctl_->interned.size(); }

uint64_t Fib::table_rebuilds() const noexcept { return ctl_->rebuilds; }

uint32_t Fib::lookup(const IpAddress& dst) const noexcept {
  uint32_t nh = kNoRoute;
  if (dst.is_v4()) {
    const uint32_t ip = host_order_v4(dst);
    lookup4(&ip, 1, &nh);
  } else {
    uint8_t ip[1][16];
    std::memcpy(ip[0], dst.bytes(), 16);
    lookup6(ip, 1, &nh);
  }
  return nh;
}

void Fib::lookup4(const uint32_t* dst_host_order, uint32_t n, uint32_t* nh_index) const noexcept {
  const Tables* t = active_.load(std::memory_order_acquire);
  uint64_t nh[kLookupChunk];
  for (uint32_t i = 0; i < n; i += kLookupChunk) {
    const uint32_t k = std::min(kLookupChunk, n - i);
    // The lookup only reads the addresses; the C prototype lacks the const.
    rte_fib_lookup_bulk(t->v4, const_cast<uint32_t*>(dst_host_order + i), nh, static_cast<int>(k));
    for (uint32_t j = 0; j < k; ++j) nh_index[i + j] = static_cast<uint32_t>(nh[j] >> 1);  // alias off
  }
}

void Fib::lookup6(const uint8_t (*dst)[16], uint32_t n, uint32_t* nh_index) const noexcept {
  const Tables* t = active_.load(std::memory_order_acquire);
  uint64_t nh[kLookupChunk];
  for (uint32_t i = 0; i < n; i += kLookupChunk) {
    const uint32_t k = std::min(kLookupChunk, n - i);
    rte_fib6_lookup_bulk(t->v6, const_cast<uint8_t(*)[16]>(dst + i), nh, static_cast<int>(k));
    for (uint32_t j = 0; j < k; ++j) nh_index[i + j] = static_cast<uint32_t>(nh[j] >> 1);
  }
}

}  // namespace esprit
