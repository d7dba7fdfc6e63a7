// Fib: longest-prefix match (IPv4 over rte_fib DIR24_8, IPv6 over rte_fib6 TRIE), next-hop
// sharing and reclamation, all-or-nothing batches, a brute-force cross-check, and lookups from a
// worker thread while the control thread changes routes.
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstring>
#include <map>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "dpdk_env.hpp"
#include "esprit/fastpath/rcu.hpp"
#include "esprit/fastpath/route.hpp"

namespace esprit {
namespace {

IpPrefix P(const char* text) {
  const auto p = IpPrefix::parse(text);
  EXPECT_TRUE(p.has_value()) << text;
  return p.value_or(IpPrefix());
}

IpAddress A(const char* text) {
  const auto a = IpAddress::parse(text);
  EXPECT_TRUE(a.has_value()) << text;
  return a.value_or(IpAddress());
}

uint32_t host_order(const IpAddress& a) {
  const uint8_t* b = a.bytes();
  return static_cast<uint32_t>(b[0]) << 24 | static_cast<uint32_t>(b[1]) << 16 |
         static_cast<uint32_t>(b[2]) << 8 | b[3];
}

class FibTest : public ::testing::Test {
 protected:
  static FibConfig small_config() {
    FibConfig c;
    c.max_routes_v4 = 4096;
    c.max_routes_v6 = 4096;
    c.tbl8_groups_v4 = 1024;
    c.tbl8_groups_v6 = 8192;
    c.max_next_hops = 1024;
    return c;
  }

  void SetUp() override {
    test::init_dpdk();
    std::string error;
    rcu_ = Rcu::create(2, &error);
    ASSERT_TRUE(rcu_) << error;
    fib_ = Fib::create(small_config(), *rcu_, &error);
    ASSERT_TRUE(fib_) << error;
  }

  /// The next hop an address resolves to, nullopt for kNoRoute.
  std::optional<NextHop> resolve(const char* addr) const {
    const uint32_t i = fib_->lookup(A(addr));
    if (i == kNoRoute) return std::nullopt;
    return fib_->next_hop(i);
  }

  void add(const char* prefix, const NextHop& nh) {
    std::string error;
    ASSERT_TRUE(fib_->add_route(P(prefix), nh, &error)) << prefix << ": " << error;
  }
  void del(const char* prefix) {
    std::string error;
    ASSERT_TRUE(fib_->remove_route(P(prefix), &error)) << prefix << ": " << error;
  }

  std::unique_ptr<Rcu> rcu_;
  std::unique_ptr<Fib> fib_;
};

const NextHop kGwA = NextHop::via(1, IpAddress::v4(0xc0000201));  // 192.0.2.1 on port 1
const NextHop kGwB = NextHop::via(2, IpAddress::v4(0xc0000202));
const NextHop kTun7 = NextHop::tunnel_interface(7);
const NextHop kDrop = NextHop::blackhole();

TEST_F(FibTest, EmptyTableHasNoRouteAndKNoRouteIsABlackhole) {
  EXPECT_EQ(fib_->lookup(A("10.0.0.1")), kNoRoute);
  EXPECT_EQ(fib_->lookup(A("2001:db8::1")), kNoRoute);
  EXPECT_EQ(fib_->next_hop(kNoRoute).kind, NextHopKind::kBlackhole);
  EXPECT_EQ(fib_->route_count(), 0u);
  EXPECT_EQ(fib_->next_hop_count(), 0u);
}

TEST_F(FibTest, Ipv4LongestPrefixMatchOverOverlappingPrefixes) {
  add("0.0.0.0/0", kGwA);
  add("10.0.0.0/8", NextHop::connected(0));
  add("10.1.0.0/16", kTun7);
  add("10.1.2.0/24", kDrop);
  add("10.1.2.128/25", NextHop::connected(3));
  add("10.1.2.3/32", kGwB);
  add("255.255.255.255/32", NextHop::connected(4));

  EXPECT_EQ(resolve("8.8.8.8"), kGwA);                     // default route
  EXPECT_EQ(resolve("0.0.0.0"), kGwA);
  EXPECT_EQ(resolve("10.200.0.1"), NextHop::connected(0));  // /8
  EXPECT_EQ(resolve("10.1.200.1"), kTun7);                  // /16
  EXPECT_EQ(resolve("10.1.2.4"), kDrop);                    // /24
  EXPECT_EQ(resolve("10.1.2.127"), kDrop);
  EXPECT_EQ(resolve("10.1.2.128"), NextHop::connected(3));  // /25
  EXPECT_EQ(resolve("10.1.2.255"), NextHop::connected(3));
  EXPECT_EQ(resolve("10.1.2.3"), kGwB);                     // /32
  EXPECT_EQ(resolve("10.1.2.2"), kDrop);
  EXPECT_EQ(resolve("10.1.3.0"), kTun7);
  EXPECT_EQ(resolve("255.255.255.255"), NextHop::connected(4));
  EXPECT_EQ(resolve("255.255.255.254"), kGwA);

  // Removal falls back to the next shorter prefix, down to no route at all.
  del("10.1.2.3/32");
  EXPECT_EQ(resolve("10.1.2.3"), kDrop);
  del("10.1.2.0/24");
  EXPECT_EQ(resolve("10.1.2.3"), kTun7);
  EXPECT_EQ(resolve("10.1.2.200"), NextHop::connected(3));
  del("10.1.0.0/16");
  EXPECT_EQ(resolve("10.1.2.3"), NextHop::connected(0));
  del("10.0.0.0/8");
  EXPECT_EQ(resolve("10.1.2.3"), kGwA);
  del("0.0.0.0/0");
  EXPECT_EQ(resolve("10.1.2.3"), std::nullopt);
  EXPECT_EQ(resolve("10.1.2.200"), NextHop::connected(3));
}

TEST_F(FibTest, Ipv6LongestPrefixMatchOverOverlappingPrefixes) {
  const NextHop gw6 = NextHop::via(1, A("fe80::1"));
  add("::/0", gw6);
  add("2001:db8::/32", NextHop::connected(0));
  add("2001:db8:1::/48", kTun7);
  add("2001:db8:1::/64", kDrop);
  add("2001:db8:1:0:8000::/65", NextHop::connected(2));
  add("2001:db8:1::1/128", kGwB);
  add("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/128", NextHop::connected(5));

  EXPECT_EQ(resolve("2001:4860::8888"), gw6);
  EXPECT_EQ(resolve("::"), gw6);
  EXPECT_EQ(resolve("2001:db8:ffff::1"), NextHop::connected(0));
  EXPECT_EQ(resolve("2001:db8:1:1::1"), kTun7);
  EXPECT_EQ(resolve("2001:db8:1::2"), kDrop);
  EXPECT_EQ(resolve("2001:db8:1:0:7fff:ffff:ffff:ffff"), kDrop);
  EXPECT_EQ(resolve("2001:db8:1:0:8000::"), NextHop::connected(2));
  EXPECT_EQ(resolve("2001:db8:1::1"), kGwB);
  EXPECT_EQ(resolve("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"), NextHop::connected(5));
  EXPECT_EQ(resolve("ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe"), gw6);

  del("2001:db8:1::1/128");
  EXPECT_EQ(resolve("2001:db8:1::1"), kDrop);
  del("2001:db8:1::/64");
  EXPECT_EQ(resolve("2001:db8:1::1"), kTun7);
  EXPECT_EQ(resolve("2001:db8:1:0:8000::1"), NextHop::connected(2));
  del("::/0");
  EXPECT_EQ(resolve("2001:4860::8888"), std::nullopt);
  // The families are separate tables.
  EXPECT_EQ(resolve("10.0.0.1"), std::nullopt);
}

TEST_F(FibTest, ConnectedRouteFromAPortAddress) {
  std::string error;
  ASSERT_TRUE(fib_->add_connected(2, IpPrefix(A("198.51.100.7"), 24), &error)) << error;
  const auto r = fib_->find(P("198.51.100.0/24"));
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->next_hop, NextHop::connected(2));
  EXPECT_EQ(resolve("198.51.100.1"), NextHop::connected(2));
  EXPECT_EQ(resolve("198.51.101.1"), std::nullopt);
}

TEST_F(FibTest, ReplacingARouteSwapsItsNextHopAndFreesTheOldOne) {
  add("192.0.2.0/24", kGwA);
  const uint32_t first = fib_->lookup(A("192.0.2.9"));
  add("192.0.2.0/24", kGwB);  // same prefix: replaced, not duplicated
  EXPECT_EQ(fib_->route_count(), 1u);
  EXPECT_EQ(fib_->next_hop_count(), 1u);
  const uint32_t second = fib_->lookup(A("192.0.2.9"));
  EXPECT_NE(first, second);  // a new slot; the old one was never rewritten in place
  EXPECT_EQ(fib_->next_hop(second), kGwB);
  add("192.0.2.0/24", kGwB);  // the same route again: nothing changes
  EXPECT_EQ(fib_->lookup(A("192.0.2.9")), second);
}

TEST_F(FibTest, EqualNextHopsShareOneSlotUntilTheirLastRouteGoes) {
  add("10.0.0.0/8", kGwA);
  add("172.16.0.0/12", kGwA);
  add("2001:db8::/32", kGwA);  // an IPv4 gateway for IPv6 routes is allowed (RFC 5549 style)
  add("192.168.0.0/16", kTun7);
  EXPECT_EQ(fib_->next_hop_count(), 2u);
  const uint32_t a = fib_->lookup(A("10.1.1.1"));
  EXPECT_EQ(fib_->lookup(A("172.16.1.1")), a);
  EXPECT_EQ(fib_->lookup(A("2001:db8::1")), a);
  del("10.0.0.0/8");
  del("2001:db8::/32");
  EXPECT_EQ(fib_->lookup(A("172.16.1.1")), a);
  EXPECT_EQ(fib_->next_hop(a), kGwA);
  del("172.16.0.0/12");
  EXPECT_EQ(fib_->next_hop_count(), 1u);
  // Fields a kind does not use are ignored, so these are one next hop.
  NextHop odd = NextHop::tunnel_interface(7);
  odd.port = 9;
  add("198.18.0.0/15", odd);
  EXPECT_EQ(fib_->next_hop_count(), 1u);
  EXPECT_EQ(fib_->find(P("198.18.0.0/15"))->next_hop, kTun7);
}

TEST_F(FibTest, RoutesAreListedInOrder) {
  add("2001:db8::/32", kTun7);
  add("10.1.0.0/16", kGwB);
  add("10.0.0.0/8", kGwA);
  add("10.0.0.0/16", kDrop);
  const auto routes = fib_->routes();
  ASSERT_EQ(routes.size(), 4u);
  EXPECT_EQ(routes[0].prefix.to_string(), "10.0.0.0/8");
  EXPECT_EQ(routes[1].prefix.to_string(), "10.0.0.0/16");
  EXPECT_EQ(routes[2].prefix.to_string(), "10.1.0.0/16");
  EXPECT_EQ(routes[3].prefix.to_string(), "2001:db8::/32");
  EXPECT_EQ(routes[3].next_hop, kTun7);
  EXPECT_EQ(fib_->next_hop(routes[0].next_hop_index), kGwA);
  EXPECT_EQ(routes[1].next_hop.to_string(), "blackhole");
  EXPECT_EQ(routes[2].next_hop.to_string(), "via 192.0.2.2 port 2");
  EXPECT_EQ(NextHop::connected(3).to_string(), "connected port 3");
}

TEST_F(FibTest, InvalidChangesAreRejectedWithoutEffect) {
  add("10.0.0.0/8", kGwA);
  std::string error;
  EXPECT_FALSE(fib_->remove_route(P("10.0.0.0/9"), &error));
  EXPECT_NE(error.find("no route"), std::string::npos) << error;
  EXPECT_FALSE(fib_->add_route(P("10.2.0.0/16"), NextHop::via(1, A("0.0.0.0")), &error));
  EXPECT_NE(error.find("gateway"), std::string::npos) << error;
  EXPECT_EQ(fib_->route_count(), 1u);
  EXPECT_EQ(resolve("10.2.0.1"), kGwA);
}

TEST_F(FibTest, BatchIsAllOrNothing) {
  add("10.0.0.0/8", kGwA);
  const std::vector<RouteChange> bad = {
      RouteChange::add(P("10.1.0.0/16"), kGwB),
      RouteChange::add(P("2001:db8::/32"), kTun7),
      RouteChange::remove(P("10.0.0.0/8")),
      RouteChange::remove(P("192.0.2.0/24")),  // no such route: the whole batch fails
  };
  std::string error;
  EXPECT_FALSE(fib_->apply(bad, &error));
  EXPECT_EQ(resolve("10.1.0.1"), kGwA);
  EXPECT_EQ(resolve("2001:db8::1"), std::nullopt);
  EXPECT_EQ(fib_->route_count(), 1u);
  EXPECT_EQ(fib_->next_hop_count(), 1u);

  const std::vector<RouteChange> good(bad.begin(), bad.end() - 1);
  ASSERT_TRUE(fib_->apply(good, &error)) << error;
  EXPECT_EQ(resolve("10.1.0.1"), kGwB);
  EXPECT_EQ(resolve("10.2.0.1"), std::nullopt);
  EXPECT_EQ(resolve("2001:db8::1"), kTun7);
  EXPECT_EQ(fib_->next_hop_count(), 2u);
}

TEST_F(FibTest, NextHopTableFullFailsCleanly) {
  fib_.reset();
  FibConfig c = small_config();
  c.max_next_hops = 2;
  std::string error;
  fib_ = Fib::create(c, *rcu_, &error);
  ASSERT_TRUE(fib_) << error;
  add("10.0.0.0/8", kGwA);
  add("11.0.0.0/8", kGwB);
  add("12.0.0.0/8", kGwB);  // shared: no new slot
  EXPECT_FALSE(fib_->add_route(P("13.0.0.0/8"), kTun7, &error));
  EXPECT_NE(error.find("full"), std::string::npos) << error;
  EXPECT_EQ(resolve("13.0.0.1"), std::nullopt);
  // Replacing a route frees its slot after the commit, so the next one fits.
  add("10.0.0.0/8", kGwB);
  add("13.0.0.0/8", kTun7);
  EXPECT_EQ(resolve("13.0.0.1"), kTun7);
  EXPECT_EQ(resolve("10.0.0.1"), kGwB);
}

TEST_F(FibTest, Tbl8ExhaustionInABatchRollsBackAndTheTablesStayConsistent) {
  fib_.reset();
  FibConfig c = small_config();
  c.tbl8_groups_v4 = 64;  // DPDK rounds to multiples of 64
  std::string error;
  fib_ = Fib::create(c, *rcu_, &error);
  ASSERT_TRUE(fib_) << error;
  add("0.0.0.0/0", kGwA);
  // Each /32 in its own /24 takes one tbl8 group: 100 cannot fit, so the batch fails after
  // writing part of it into the standby table, which is then rebuilt.
  std::vector<RouteChange> batch;
  for (uint32_t i = 0; i < 100; ++i)
    batch.push_back(RouteChange::add(IpPrefix(IpAddress::v4(0x0a000001 + (i << 8)), 32), kGwB));
  EXPECT_FALSE(fib_->apply(batch, &error));
  EXPECT_EQ(fib_->route_count(), 1u);
  EXPECT_EQ(fib_->next_hop_count(), 1u);
  for (uint32_t i = 0; i < 100; ++i) EXPECT_EQ(fib_->next_hop(fib_->lookup(IpAddress::v4(0x0a000001 + (i << 8)))), kGwA);

  // 60 fit; both tables (the rebuilt one included) end up with them.
  batch.resize(60);
  ASSERT_TRUE(fib_->apply(batch, &error)) << error;
  add("192.0.2.0/24", kTun7);  // another commit: the other table becomes active
  for (int round = 0; round < 2; ++round) {
    for (uint32_t i = 0; i < 100; ++i) {
      const IpAddress a = IpAddress::v4(0x0a000001 + (i << 8));
      EXPECT_EQ(fib_->next_hop(fib_->lookup(a)), i < 60 ? kGwB : kGwA) << a.to_string();
    }
    EXPECT_EQ(resolve("192.0.2.1"), kTun7);
    del("192.0.2.0/24");
    add("192.0.2.0/24", kTun7);
  }
}

TEST_F(FibTest, BurstLookupsLongerThanOneChunk) {
  add("10.0.0.0/8", kGwA);
  add("10.0.0.0/24", kGwB);
  add("2001:db8::/32", kTun7);
  constexpr uint32_t kN = 257;
  std::vector<uint32_t> v4(kN), out(kN, 12345);
  std::vector<std::array<uint8_t, 16>> v6(kN);
  for (uint32_t i = 0; i < kN; ++i) {
    v4[i] = 0x0a000000 + i;  // 10.0.0.0 .. 10.0.1.0
    v6[i] = {0x20, 0x01, 0x0d, static_cast<uint8_t>(i % 2 ? 0xb8 : 0xb9)};
  }
  fib_->lookup4(v4.data(), kN, out.data());
  for (uint32_t i = 0; i < kN; ++i) EXPECT_EQ(fib_->next_hop(out[i]), i < 256 ? kGwB : kGwA) << i;
  std::fill(out.begin(), out.end(), 12345);
  fib_->lookup6(reinterpret_cast<const uint8_t(*)[16]>(v6.data()), kN, out.data());
  for (uint32_t i = 0; i < kN; ++i) {
    if (i % 2)
      EXPECT_EQ(fib_->next_hop(out[i]), kTun7) << i;
    else
      EXPECT_EQ(out[i], kNoRoute) << i;
  }
  fib_->lookup4(v4.data(), 0, out.data());  // n = 0 is fine
}

// DPDK 22.11's dir24_8 loses a tbl8 reservation when a route longer than /24 has its parent's
// next hop and is deleted again; after that every new /24 with such a route fails (ENOSPC). The
// Fib never stores a parent's value, so a small tbl8 budget survives many such cycles.
TEST_F(FibTest, RoutesWithTheirParentsNextHopDoNotExhaustTbl8Groups) {
  fib_.reset();
  FibConfig c = small_config();
  c.tbl8_groups_v4 = 64;
  std::string error;
  fib_ = Fib::create(c, *rcu_, &error);
  ASSERT_TRUE(fib_) << error;
  add("10.0.0.0/8", kGwA);
  for (int i = 0; i < 200; ++i) {
    add("10.1.2.3/32", kGwA);
    add("10.1.2.0/28", kGwA);
    del("10.1.2.3/32");
    del("10.1.2.0/28");
  }
  for (uint32_t i = 0; i < 60; ++i)
    ASSERT_TRUE(fib_->add_route(IpPrefix(IpAddress::v4(0x0b000001 + (i << 8)), 32), kGwB, &error)) << i << ": " << error;
  EXPECT_EQ(resolve("11.0.5.1"), kGwB);
  EXPECT_EQ(resolve("10.1.2.3"), kGwA);
}

// DPDK 22.11 writes a prefix's range piece by piece between its more specific routes; when the
// last of them starts where the previous piece ended and reaches the top of the address space,
// the whole table is overwritten. The Fib rebuilds the table for such a change instead.
TEST_F(FibTest, PrefixesWithAdjacentMoreSpecificsAtTheTopOfTheSpace) {
  add("10.0.0.0/8", kGwA);
  add("160.0.0.0/3", kGwB);
  add("192.0.0.0/2", kTun7);
  add("2001:db8::/32", kGwA);
  add("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffe0/124", kGwB);
  add("ffff:ffff:ffff:ffff:ffff:ffff:ffff:fff0/124", kTun7);
  const uint64_t before = fib_->table_rebuilds();

  add("128.0.0.0/1", kDrop);
  add("ff00::/8", kDrop);
  EXPECT_GT(fib_->table_rebuilds(), before);
  for (int round = 0; round < 2; ++round) {  // both tables
    EXPECT_EQ(resolve("10.0.0.1"), kGwA);
    EXPECT_EQ(resolve("1.0.0.0"), std::nullopt);
    EXPECT_EQ(resolve("128.0.0.1"), kDrop);
    EXPECT_EQ(resolve("160.0.0.1"), kGwB);
    EXPECT_EQ(resolve("191.255.255.255"), kGwB);
    EXPECT_EQ(resolve("192.0.0.0"), kTun7);
    EXPECT_EQ(resolve("255.255.255.255"), kTun7);
    EXPECT_EQ(resolve("2001:db8::1"), kGwA);
    EXPECT_EQ(resolve("100::"), std::nullopt);
    EXPECT_EQ(resolve("ff00::1"), kDrop);
    EXPECT_EQ(resolve("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffe1"), kGwB);
    EXPECT_EQ(resolve("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"), kTun7);
    add("198.51.100.0/24", kGwA);  // an unrelated commit swaps the tables
  }
  // Deleting (and replacing) such a prefix takes the same path.
  del("128.0.0.0/1");
  add("ff00::/8", kGwB);
  EXPECT_EQ(resolve("10.0.0.1"), kGwA);
  EXPECT_EQ(resolve("128.0.0.1"), std::nullopt);
  EXPECT_EQ(resolve("255.0.0.0"), kTun7);
  EXPECT_EQ(resolve("2001:db8::1"), kGwA);
  EXPECT_EQ(resolve("ff00::1"), kGwB);
  // A /0 over both halves.
  add("0.0.0.0/1", kGwB);
  add("128.0.0.0/1", kGwB);
  add("0.0.0.0/0", kDrop);
  EXPECT_EQ(resolve("10.0.0.1"), kGwA);
  EXPECT_EQ(resolve("9.0.0.1"), kGwB);
  EXPECT_EQ(resolve("200.0.0.1"), kTun7);
  del("0.0.0.0/0");
  EXPECT_EQ(resolve("9.0.0.1"), kGwB);
  EXPECT_EQ(resolve("10.0.0.1"), kGwA);
}

// ---- brute-force cross-check --------------------------------------------------------------------

struct Model {
  std::map<std::string, std::pair<IpPrefix, NextHop>> routes;

  std::optional<NextHop> lpm(const IpAddress& a) const {
    int best = -1;
    std::optional<NextHop> nh;
    for (const auto& [k, r] : routes) {
      if (r.first.contains(a) && r.first.length() > best) {
        best = r.first.length();
        nh = r.second;
      }
    }
    return nh;
  }
};

IpAddress random_address(std::mt19937& rng, IpFamily f) {
  std::array<uint8_t, 16> b{};
  for (auto& x : b) x = static_cast<uint8_t>(rng());
  // Crowd the space so prefixes nest, including both ends of the address space (all-zero and
  // all-one bits), where range arithmetic wraps.
  static constexpr uint8_t kFirst[] = {10, 172, 0x20, 0x00, 0xff};
  b[0] = kFirst[rng() % 5];
  if (rng() % 2) b[1] = static_cast<uint8_t>(rng() % 4);
  if (b[0] == 0xff && rng() % 2)
    for (std::size_t i = 1; i < 16; ++i) b[i] = rng() % 4 ? 0xff : b[i];
  if (b[0] == 0x00 && rng() % 2)
    for (std::size_t i = 1; i < 16; ++i) b[i] = rng() % 4 ? 0x00 : b[i];
  if (f == IpFamily::kV4) return IpAddress::v4(static_cast<uint32_t>(b[0]) << 24 | b[1] << 16 | b[2] << 8 | b[3]);
  return IpAddress::v6(b);
}

/// The other half of the prefix one bit shorter than `p` (p itself for /0).
IpPrefix sibling(const IpPrefix& p) {
  if (p.length() == 0) return p;
  std::array<uint8_t, 16> b{};
  std::memcpy(b.data(), p.address().bytes(), p.address().size());
  const unsigned bit = p.length() - 1u;
  b[bit / 8] ^= static_cast<uint8_t>(0x80u >> (bit % 8));
  if (p.family() == IpFamily::kV4)
    return IpPrefix(IpAddress::v4(static_cast<uint32_t>(b[0]) << 24 | b[1] << 16 | b[2] << 8 | b[3]), p.length());
  return IpPrefix(IpAddress::v6(b), p.length());
}

/// An address inside `p` with random host bits.
IpAddress inside(std::mt19937& rng, const IpPrefix& p) {
  std::array<uint8_t, 16> b{};
  const std::size_t n = p.address().size();
  for (std::size_t i = 0; i < n; ++i) {
    const int bits = static_cast<int>(p.length()) - static_cast<int>(i) * 8;
    const uint8_t mask = bits >= 8 ? 0xff : bits <= 0 ? 0 : static_cast<uint8_t>(0xff << (8 - bits));
    b[i] = static_cast<uint8_t>((p.address().bytes()[i] & mask) | (static_cast<uint8_t>(rng()) & ~mask));
  }
  if (n == 4) return IpAddress::v4(static_cast<uint32_t>(b[0]) << 24 | b[1] << 16 | b[2] << 8 | b[3]);
  return IpAddress::v6(b);
}

void cross_check(Fib& fib, const Model& model, std::mt19937& rng, IpFamily f) {
  std::vector<IpAddress> addrs;
  std::vector<const IpPrefix*> prefixes;
  for (const auto& [k, r] : model.routes)
    if (r.first.family() == f) prefixes.push_back(&r.first);
  for (int i = 0; i < 3000; ++i) {
    if (!prefixes.empty() && i % 2 == 0)
      addrs.push_back(inside(rng, *prefixes[rng() % prefixes.size()]));
    else
      addrs.push_back(random_address(rng, f));
  }
  std::vector<uint32_t> out(addrs.size());
  if (f == IpFamily::kV4) {
    std::vector<uint32_t> in;
    for (const auto& a : addrs) in.push_back(host_order(a));
    fib.lookup4(in.data(), static_cast<uint32_t>(in.size()), out.data());
  } else {
    std::vector<std::array<uint8_t, 16>> in;
    for (const auto& a : addrs) {
      std::array<uint8_t, 16> b;
      std::memcpy(b.data(), a.bytes(), 16);
      in.push_back(b);
    }
    fib.lookup6(reinterpret_cast<const uint8_t(*)[16]>(in.data()), static_cast<uint32_t>(in.size()), out.data());
  }
  int mismatches = 0;
  for (std::size_t i = 0; i < addrs.size(); ++i) {
    const auto want = model.lpm(addrs[i]);
    const std::optional<NextHop> got = out[i] == kNoRoute ? std::nullopt : std::optional<NextHop>(fib.next_hop(out[i]));
    if (want != got && ++mismatches <= 5)
      ADD_FAILURE() << addrs[i].to_string() << ": want " << (want ? want->to_string() : "none") << ", got "
                    << (got ? got->to_string() : "none");
  }
  EXPECT_EQ(mismatches, 0);
}

class FibCrossCheck : public FibTest, public ::testing::WithParamInterface<IpFamily> {};

TEST_P(FibCrossCheck, MatchesBruteForceLpmOverRandomRoutes) {
  const IpFamily f = GetParam();
  std::mt19937 rng(f == IpFamily::kV4 ? 4242 : 6464);
  const unsigned max_len = f == IpFamily::kV4 ? 32 : 128;
  std::vector<NextHop> hops;
  for (uint16_t i = 0; i < 12; ++i) hops.push_back(NextHop::via(i % 3, IpAddress::v4(0xc0000200 + i)));
  for (uint32_t i = 0; i < 6; ++i) hops.push_back(NextHop::tunnel_interface(i));
  hops.push_back(NextHop::connected(0));
  hops.push_back(NextHop::blackhole());

  Model model;
  std::string error;
  for (int i = 0; i < 300; ++i) {
    // Lengths spread over the whole range, more of them long (where tbl8 groups are used).
    const unsigned len = i % 3 == 0 ? rng() % (max_len + 1) : max_len - rng() % (max_len / 4 + 1);
    const IpPrefix p(random_address(rng, f), static_cast<uint8_t>(len));
    const NextHop nh = hops[rng() % hops.size()];
    ASSERT_TRUE(fib_->add_route(p, nh, &error)) << error;
    model.routes[p.to_string()] = {p, nh};
    if (rng() % 4 == 0) {  // adjacent siblings make ranges that meet exactly
      const IpPrefix q = sibling(p);
      const NextHop nq = hops[rng() % hops.size()];
      ASSERT_TRUE(fib_->add_route(q, nq, &error)) << error;
      model.routes[q.to_string()] = {q, nq};
    }
  }
  EXPECT_EQ(fib_->route_count(), model.routes.size());
  cross_check(*fib_, model, rng, f);

  // Remove about half, in batches, and check again; then the default route.
  std::vector<RouteChange> batch;
  for (auto it = model.routes.begin(); it != model.routes.end();) {
    if (rng() % 2) {
      batch.push_back(RouteChange::remove(it->second.first));
      it = model.routes.erase(it);
    } else {
      ++it;
    }
    if (batch.size() == 16) {
      ASSERT_TRUE(fib_->apply(batch, &error)) << error;
      batch.clear();
    }
  }
  ASSERT_TRUE(fib_->apply(batch, &error)) << error;
  cross_check(*fib_, model, rng, f);

  const IpPrefix any = IpPrefix::any(f);
  ASSERT_TRUE(fib_->add_route(any, hops[0], &error)) << error;
  model.routes[any.to_string()] = {any, hops[0]};
  cross_check(*fib_, model, rng, f);
  EXPECT_LE(fib_->next_hop_count(), hops.size());
}

INSTANTIATE_TEST_SUITE_P(Families, FibCrossCheck, ::testing::Values(IpFamily::kV4, IpFamily::kV6),
                         [](const auto& info) { return info.param == IpFamily::kV4 ? "IPv4" : "IPv6"; });

// ---- concurrency ----------------------------------------------------------------------------

// A worker thread looks up in a loop, reporting a quiescent state after each burst, while this
// thread adds, replaces and removes overlapping routes (including /25../32 routes that make
// dir24_8 allocate and recycle tbl8 groups). Every answer must be one of the next hops that a
// route covering the address has had, never kNoRoute (a /8 stays), never a torn next hop.
TEST_F(FibTest, LookupsDuringUpdatesAlwaysSeeAValidNextHop) {
  const NextHop base = NextHop::connected(0);
  std::vector<NextHop> variants;
  for (uint16_t i = 1; i <= 6; ++i) variants.push_back(NextHop::via(i, IpAddress::v4(0xc0000200 + i)));
  for (uint32_t i = 1; i <= 3; ++i) variants.push_back(NextHop::tunnel_interface(100 + i));
  add("10.0.0.0/8", base);
  add("2001:db8::/32", base);

  const std::vector<IpPrefix> toggled4 = {P("10.1.0.0/16"), P("10.1.2.0/24"), P("10.1.2.0/25"),
                                          P("10.1.2.0/28"), P("10.1.2.3/32"), P("10.1.2.200/32")};
  const std::vector<IpPrefix> toggled6 = {P("2001:db8:1::/48"), P("2001:db8:1::/64"), P("2001:db8:1::/100"),
                                          P("2001:db8:1::3/128")};
  const std::vector<uint32_t> probes4 = {0x0a010203, 0x0a0102c8, 0x0a010280, 0x0a010201, 0x0a0103ff, 0x0a020000};
  std::array<uint8_t, 16> probe6a = {0x20, 0x01, 0x0d, 0xb8, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 3};
  std::array<uint8_t, 16> probe6b = {0x20, 0x01, 0x0d, 0xb8, 0, 1, 0, 0, 0, 0, 0, 0, 0x80, 0, 0, 0};
  const std::array<std::array<uint8_t, 16>, 2> probes6 = {probe6a, probe6b};

  std::atomic<bool> ready{false}, stop{false};
  std::atomic<uint64_t> bad{0}, lookups{0};
  std::thread worker([&] {
    rcu_->register_thread(0);
    rcu_->online(0);
    ready.store(true);
    std::vector<uint32_t> out(16);
    while (!stop.load(std::memory_order_relaxed)) {
      fib_->lookup4(probes4.data(), static_cast<uint32_t>(probes4.size()), out.data());
      for (std::size_t i = 0; i < probes4.size(); ++i) {
        const NextHop nh = fib_->next_hop(out[i]);  // copied before the quiescent state
        const bool ok = out[i] != kNoRoute &&
                        (nh == base || std::find(variants.begin(), variants.end(), nh) != variants.end());
        if (!ok) bad.fetch_add(1);
      }
      fib_->lookup6(reinterpret_cast<const uint8_t(*)[16]>(probes6.data()), 2, out.data());
      for (std::size_t i = 0; i < 2; ++i) {
        const NextHop nh = fib_->next_hop(out[i]);
        const bool ok = out[i] != kNoRoute &&
                        (nh == base || std::find(variants.begin(), variants.end(), nh) != variants.end());
        if (!ok) bad.fetch_add(1);
      }
      lookups.fetch_add(1, std::memory_order_relaxed);
      rcu_->quiescent(0);
      std::this_thread::yield();  // a loaded CI machine may run both threads on one CPU
    }
    rcu_->offline(0);
  });
  while (!ready.load()) std::this_thread::yield();

  std::mt19937 rng(99);
  std::set<std::string> present;
  std::string error;
  // Each update waits for the worker's next quiescent state; on a loaded machine that is a
  // scheduling delay, so the run stops after a time budget (but not before 100 updates).
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(1000);
  for (int i = 0; i < 600 && (i < 100 || std::chrono::steady_clock::now() < deadline); ++i) {
    // no ASSERT in here: the worker must be joined
    const bool v6 = rng() % 3 == 0;
    const IpPrefix& p = v6 ? toggled6[rng() % toggled6.size()] : toggled4[rng() % toggled4.size()];
    bool ok;
    if (present.count(p.to_string()) && rng() % 2) {
      ok = fib_->remove_route(p, &error);
      present.erase(p.to_string());
    } else {
      ok = fib_->add_route(p, variants[rng() % variants.size()], &error);  // add or replace
      present.insert(p.to_string());
    }
    if (!ok) {
      ADD_FAILURE() << "update " << i << ", " << p.to_string() << ": " << error;
      break;
    }
  }
  stop.store(true);
  worker.join();
  EXPECT_EQ(bad.load(), 0u);
  EXPECT_GT(lookups.load(), 0u);
  // Every slot released on the way was reclaimed: only what the remaining routes use is left.
  std::set<uint32_t> used;
  for (const auto& r : fib_->routes()) used.insert(r.next_hop_index);
  EXPECT_EQ(fib_->next_hop_count(), used.size());
}

}  // namespace
}  // namespace esprit
