// The fast path's routing table: longest-prefix match over rte_fib (IPv4, DIR24_8) and rte_fib6
// (IPv6, TRIE) to the index of a next hop in a table of immutable next hops.
//
// Concurrency. DPDK 22.11's FIB gives no guarantee for a lookup that runs while the same table is
// modified: the headers say nothing, and unlike rte_lpm there is no RCU hook (later DPDK releases
// added one for tbl8 reclamation). dir24_8 frees a tbl8 group with plain stores (tbl24 entry
// rewritten, then the group zeroed and returned to the free bitmap, where the next add may refill
// it for another prefix), so a concurrent reader can follow a stale tbl8 index into zeroed or
// reused entries. Failed adds can also leave a partial update behind. We therefore never modify a
// table a worker may be reading:
//
//   Left-right publication. Each family has two FIBs, A (active, read by workers) and B (standby,
//   read by nobody) holding the same routes. A change (or a batch of changes) is applied to B,
//   B is published (one atomic pointer, release), the control core waits for an RCU grace period
//   (Rcu::synchronize: every worker that could still be in A has passed a quiescent state), then
//   the same change is applied to A, now the standby. Workers see the whole batch at once or
//   not at all, never a table under construction, and never wait. If a change fails half-way on
//   the standby (rte_fib_add has partial-failure paths), the standby is rebuilt from the control
//   core's own list of routes, which stays authoritative. Cost: two FIBs per family (with 2-byte
//   next hops: 2 x 32 MiB for IPv4 and 2 x 32 MiB for IPv6 of tbl24, plus tbl8 groups).
//
//   DPDK 22.11 defects worked around (both reproduced on 22.11.11, see route.cpp):
//   - a route longer than /24 that has its parent's next-hop value, once deleted, leaks dir24_8's
//     tbl8 reservation; repeated, every later such route fails with ENOSPC. A table therefore
//     stores slot * 2 + alias, never the value of the route's parent; lookups shift it off.
//   - adding or deleting a prefix whose more specific routes end, adjacent, at the top of the
//     address space (128.0.0.0/1 over 160.0.0.0/3 + 192.0.0.0/2; the same in IPv6) rewrites the
//     whole table. Such a change is made by rebuilding the standby table, shortest prefixes
//     first (table_rebuilds() counts them); rare, and costs one table allocation and the adds.
//
//   Next hops are immutable while reachable. A next-hop slot is written only while no FIB refers
//   to it and no reader can hold its index: a slot whose last route goes away is returned to the
//   free list only after the grace period of the commit that removed it (both FIBs updated).
//   Identical next hops share one slot (reference counted), so replacing a route's next hop
//   points the prefix at another slot and never rewrites one in place. A reader's index, and the
//   reference next_hop() returns, stay valid until that worker's next quiescent state.
//
// Threading: control API (add/remove/apply/routes) from one thread, the control core. Worker API
// (lookup4/lookup6/next_hop) from threads registered with the same Rcu, online, which report a
// quiescent state between bursts and hold no index across it.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "esprit/common/ip_address.hpp"
#include "esprit/common/ip_prefix.hpp"
#include "esprit/fastpath/rcu.hpp"

struct rte_fib;
struct rte_fib6;

namespace esprit {

enum class NextHopKind : uint8_t {
  kBlackhole = 0,  ///< drop (and count)
  kConnected = 1,  ///< on-link: resolve the packet's own destination on `port`
  kGateway = 2,    ///< resolve `gateway` on `port` and send there
  kTunnel = 3,     ///< route-based tunnel interface `tunnel`; the daemon maps it to its outbound SA
};

[[nodiscard]] std::string_view to_string(NextHopKind k) noexcept;

struct NextHop {
  NextHopKind kind = NextHopKind::kBlackhole;
  uint16_t port = 0;    ///< kConnected, kGateway: egress port id; 0 otherwise
  uint32_t tunnel = 0;  ///< kTunnel: tunnel interface id; 0 otherwise
  IpAddress gateway;    ///< kGateway: next-hop address (either family); 0.0.0.0 otherwise

  [[nodiscard]] static NextHop connected(uint16_t port) noexcept;
  [[nodiscard]] static NextHop via(uint16_t port, const IpAddress& gateway) noexcept;
  [[nodiscard]] static NextHop tunnel_interface(uint32_t tunnel_id) noexcept;
  [[nodiscard]] static NextHop blackhole() noexcept;

  /// "connected port 0", "via 192.0.2.1 port 1", "tunnel 3", "blackhole".
  [[nodiscard]] std::string to_string() const;
  friend bool operator==(const NextHop&, const NextHop&) = default;
};

/// Lookup result when no route (not even a default route) covers the destination.
/// next_hop(kNoRoute) is a blackhole entry, so a caller that forgets the check still drops.
inline constexpr uint32_t kNoRoute = 0;

struct FibConfig {
  uint32_t max_routes_v4 = 65536;
  uint32_t max_routes_v6 = 65536;
  /// tbl8 groups (256 entries each) for IPv4 prefixes longer than /24: one per distinct /24
  /// that holds such a prefix.
  uint32_t tbl8_groups_v4 = 4096;
  /// tbl8 groups for the IPv6 trie: a /128 host route can take up to 13.
  uint32_t tbl8_groups_v6 = 16384;
  /// Distinct next hops (routes with equal next hops share one). Up to 16383 (and up to 32767
  /// tbl8 groups) the FIBs store 2-byte entries (32 MiB of tbl24 per FIB), above that 4-byte
  /// ones (64 MiB); at most 2^30 - 1.
  uint32_t max_next_hops = 4096;
  int socket_id = -1;  ///< NUMA socket for the tables; -1 = any
};

/// One change of a batch (Fib::apply).
struct RouteChange {
  enum class Op : uint8_t { kAdd, kRemove };
  Op op = Op::kAdd;
  IpPrefix prefix;
  NextHop next_hop;  ///< kAdd only

  [[nodiscard]] static RouteChange add(const IpPrefix& p, const NextHop& nh) { return {Op::kAdd, p, nh}; }
  [[nodiscard]] static RouteChange remove(const IpPrefix& p) { return {Op::kRemove, p, {}}; }
};

/// A route as the control core lists it (show commands).
struct RouteInfo {
  IpPrefix prefix;
  NextHop next_hop;
  uint32_t next_hop_index = kNoRoute;
};

class Fib {
 public:
  /// Creates both families' tables (empty). `rcu` must outlive the Fib; the workers that look up
  /// register with it.
  [[nodiscard]] static std::unique_ptr<Fib> create(const FibConfig& config, Rcu& rcu, std::string* error);
  ~Fib();
  Fib(const Fib&) = delete;
  Fib& operator=(const Fib&) = delete;

  // ---- control core -------------------------------------------------------------------------

  /// The connected route of a port address: `subnet` (host bits already cleared by IpPrefix) is
  /// on-link on `port`. Same as add_route(subnet, NextHop::connected(port)).
  bool add_connected(uint16_t port, const IpPrefix& subnet, std::string* error = nullptr);
  /// Adds the route, or replaces the next hop of an existing route for the same prefix.
  bool add_route(const IpPrefix& prefix, const NextHop& next_hop, std::string* error = nullptr);
  /// Removes the route for exactly this prefix; fails if there is none.
  bool remove_route(const IpPrefix& prefix, std::string* error = nullptr);
  /// Applies the changes in order, all or nothing, and publishes them to workers at once (one
  /// grace period for the batch: a configuration reload swaps its static routes atomically).
  /// On failure nothing changed, for workers and for routes().
  bool apply(std::span<const RouteChange> changes, std::string* error = nullptr);

  /// Every route, IPv4 first, each family ordered by address then prefix length.
  [[nodiscard]] std::vector<RouteInfo> routes() const;
  /// The route for exactly this prefix.
  [[nodiscard]] std::optional<RouteInfo> find(const IpPrefix& prefix) const;
  [[nodiscard]] std::size_t route_count() const noexcept;
  /// Next-hop slots in use (distinct next hops of the installed routes).
  [[nodiscard]] std::size_t next_hop_count() const noexcept;
  /// Tables rebuilt from the route list rather than changed in place (failed changes, and
  /// changes DPDK 22.11 would get wrong: see route.cpp). Diagnostics.
  [[nodiscard]] uint64_t table_rebuilds() const noexcept;
  /// Longest-prefix match from the control core (tests, show route for an address).
  [[nodiscard]] uint32_t lookup(const IpAddress& dst) const noexcept;

  // ---- workers ------------------------------------------------------------------------------

  /// nh_index[i] = next-hop index of the longest prefix covering dst_host_order[i], or kNoRoute.
  /// Any n; no allocation.
  void lookup4(const uint32_t* dst_host_order, uint32_t n, uint32_t* nh_index) const noexcept;
  /// As lookup4 for IPv6 destinations (network byte order, 16 bytes each).
  void lookup6(const uint8_t (*dst)[16], uint32_t n, uint32_t* nh_index) const noexcept;
  /// The next hop behind an index from lookup4/lookup6 (valid until the worker's next quiescent
  /// state). Index kNoRoute gives a blackhole.
  [[nodiscard]] const NextHop& next_hop(uint32_t index) const noexcept { return slots_[index]; }

 private:
  struct Tables;
  struct Control;
  Fib(Rcu& rcu, std::unique_ptr<NextHop[]> slots, std::unique_ptr<Control> ctl);
  Rcu& rcu_;
  std::unique_ptr<NextHop[]> slots_;  ///< [0] = kNoRoute's blackhole; capacity max_next_hops + 1
  std::atomic<const Tables*> active_{nullptr};
  std::unique_ptr<Control> ctl_;
};

}  // namespace esprit
