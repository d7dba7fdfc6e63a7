// SPD matching semantics (first match wins, prefixes, protocol, port ranges, defaults), header
// parsing (IPv4 options, IPv6 extension headers, fragments, truncated and invalid packets),
// batching, counters, a cross-check against a linear matcher on random rules and packets, and
// publication under RCU while a worker thread classifies.
#include <gtest/gtest.h>

#include <rte_mbuf.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <ostream>
#include <random>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "dpdk_env.hpp"
#include "esprit/fastpath/rcu.hpp"
#include "esprit/fastpath/spd.hpp"

namespace esprit {

// For gtest's messages (ADL finds it here, not in the unnamed namespace).
std::ostream& operator<<(std::ostream& os, const SpdMatch& m) {
  os << "{rule ";
  if (m.rule == SpdMatch::kNoRule) os << "none";
  else if (m.rule == SpdMatch::kInvalid) os << "invalid";
  else os << m.rule;
  return os << ", sa " << m.sa_index << ", " << to_string(m.action) << "}";
}

namespace {

constexpr uint8_t kIcmp = 1;
constexpr uint8_t kTcp = 6;
constexpr uint8_t kUdp = 17;
constexpr uint8_t kIcmp6 = 58;
constexpr uint8_t kSctp = 132;
constexpr PortRange kAny{};

IpAddress addr(const char* s) { return *IpAddress::parse(s); }
IpPrefix prefix(const char* s) { return *IpPrefix::parse(s); }

PolicyRule rule(std::string name, const char* src, const char* dst, PolicyAction action, uint8_t proto = 0,
                PortRange sport = kAny, PortRange dport = kAny, uint32_t sa = 0,
                PolicyDirection dir = PolicyDirection::kOutbound) {
  PolicyRule r;
  r.name = std::move(name);
  r.direction = dir;
  r.selector.src = prefix(src);
  r.selector.dst = prefix(dst);
  r.selector.proto = proto;
  r.selector.sport = sport;
  r.selector.dport = dport;
  r.action = action;
  r.sa_index = sa;
  return r;
}

PolicyRule protect(std::string name, const char* src, const char* dst, uint32_t sa, uint8_t proto = 0,
                   PortRange sport = kAny, PortRange dport = kAny) {
  return rule(std::move(name), src, dst, PolicyAction::kProtect, proto, sport, dport, sa);
}

// ---- packets

struct Flow {
  IpAddress src;
  IpAddress dst;
  uint8_t proto = kUdp;
  uint16_t sport = 0;
  uint16_t dport = 0;
};

Flow flow(const char* src, const char* dst, uint8_t proto = kUdp, uint16_t sport = 1024, uint16_t dport = 80) {
  return {addr(src), addr(dst), proto, sport, dport};
}

void put16(std::vector<uint8_t>& p, std::size_t at, uint16_t v) {
  p[at] = static_cast<uint8_t>(v >> 8);
  p[at + 1] = static_cast<uint8_t>(v);
}

/// The upper-layer header (20 bytes: enough for TCP) with the ports where TCP/UDP/SCTP keep them.
std::vector<uint8_t> l4(const Flow& f) {
  std::vector<uint8_t> h(20, 0);
  if (f.proto == kTcp || f.proto == kUdp || f.proto == kSctp) {
    put16(h, 0, f.sport);
    put16(h, 2, f.dport);
  } else {
    h[0] = 8;  // e.g. ICMP echo request; these bytes must never be read as ports
    h[1] = 0;
    h[2] = 0xde;
    h[3] = 0xad;
  }
  return h;
}

struct V4Options {
  uint8_t option_words = 0;  ///< IHL - 5
  uint16_t frag_offset = 0;  ///< in 8-byte units
  bool more_fragments = false;
};

std::vector<uint8_t> v4(const Flow& f, const V4Options& o = {}) {
  const std::size_t ihl = 20 + 4u * o.option_words;
  std::vector<uint8_t> p(ihl, 0);
  p[0] = static_cast<uint8_t>(0x40 | (5 + o.option_words));
  put16(p, 6, static_cast<uint16_t>((o.more_fragments ? 0x2000 : 0) | o.frag_offset));
  p[8] = 64;
  p[9] = f.proto;
  std::memcpy(&p[12], f.src.bytes(), 4);
  std::memcpy(&p[16], f.dst.bytes(), 4);
  for (std::size_t i = 20; i < ihl; ++i) p[i] = 1;  // NOP options
  const auto up = l4(f);
  p.insert(p.end(), up.begin(), up.end());
  put16(p, 2, static_cast<uint16_t>(p.size()));
  return p;
}

/// An IPv6 packet with extension headers `ext` (0, 43, 60 or 44) in that order before the
/// upper-layer header; `frag_offset` goes into every Fragment header.
std::vector<uint8_t> v6(const Flow& f, const std::vector<uint8_t>& ext = {}, uint16_t frag_offset = 0) {
  std::vector<uint8_t> p(40, 0);
  p[0] = 0x60;
  p[7] = 64;
  std::memcpy(&p[8], f.src.bytes(), 16);
  std::memcpy(&p[24], f.dst.bytes(), 16);
  std::size_t nh_at = 6;
  for (uint8_t type : ext) {
    p[nh_at] = type;
    nh_at = p.size();
    std::vector<uint8_t> h;
    switch (type) {
      case 0: h = {0, 0, 1, 4, 0, 0, 0, 0}; break;                      // Hop-by-Hop, PadN
      case 43: h = {0, 0, 4, 0, 0, 0, 0, 0}; break;                     // Routing, segments left 0
      case 60: h = {0, 1, 1, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}; break;  // Dest. options, 16 bytes
      case 44:
        h = {0, 0, static_cast<uint8_t>(frag_offset >> 5), static_cast<uint8_t>(frag_offset << 3 | 1), 0, 0, 0, 7};
        break;
      default: ADD_FAILURE() << "unknown extension header " << int{type};
    }
    p.insert(p.end(), h.begin(), h.end());
  }
  p[nh_at] = f.proto;
  const auto up = l4(f);
  p.insert(p.end(), up.begin(), up.end());
  put16(p, 4, static_cast<uint16_t>(p.size() - 40));
  return p;
}

std::vector<SpdMatch> classify(const SpdTable& t, const std::vector<std::vector<uint8_t>>& pkts,
                               uint32_t worker = SpdTable::kUncounted) {
  std::vector<SpdPacket> in;
  for (const auto& p : pkts) in.push_back({p.data(), static_cast<uint32_t>(p.size())});
  std::vector<SpdMatch> out(pkts.size(), SpdMatch{0xdead, 0xdead, PolicyAction::kProtect});
  t.classify(in, out.data(), worker);
  return out;
}

SpdMatch classify1(const SpdTable& t, const std::vector<uint8_t>& p) { return classify(t, {p})[0]; }

SpdMatch match(uint32_t rule, PolicyAction a, uint32_t sa = 0) { return {rule, sa, a}; }
SpdMatch no_rule(PolicyAction a) { return {SpdMatch::kNoRule, 0, a}; }
const SpdMatch kInvalidMatch{SpdMatch::kInvalid, 0, PolicyAction::kDiscard};

std::unique_ptr<SpdTable> build(const std::vector<PolicyRule>& rules,
                                PolicyAction def = PolicyAction::kDiscard,
                                PolicyDirection dir = PolicyDirection::kOutbound, uint32_t workers = 1,
                                uint32_t linear_max = SpdTable::Options{}.linear_max) {
  std::string err;
  SpdTable::Options o;
  o.direction = dir;
  o.default_action = def;
  o.workers = workers;
  o.linear_max = linear_max;
  auto t = SpdTable::build(rules, o, &err);
  EXPECT_TRUE(t) << err;
  return t;
}

// ---- the linear reference matcher

struct Parsed {
  Flow flow;
  bool ports_known = true;
};

SpdMatch reference(const std::vector<PolicyRule>& rules, const Parsed& p, PolicyAction def) {
  for (uint32_t i = 0; i < rules.size(); ++i) {
    const TrafficSelector& s = rules[i].selector;
    if (!s.src.contains(p.flow.src) || !s.dst.contains(p.flow.dst)) continue;
    if (s.proto != 0 && s.proto != p.flow.proto) continue;
    if (!s.sport.any() || !s.dport.any()) {
      if (!p.ports_known || !s.sport.contains(p.flow.sport) || !s.dport.contains(p.flow.dport)) continue;
    }
    return {i, rules[i].action == PolicyAction::kProtect ? rules[i].sa_index : 0, rules[i].action};
  }
  return no_rule(def);
}

class SpdTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { test::init_dpdk(); }
};

// ---- matching semantics

TEST_F(SpdTest, FirstMatchWinsInRuleOrder) {
  const std::vector<PolicyRule> rules = {
      rule("deny-host", "10.0.0.5/32", "0.0.0.0/0", PolicyAction::kDiscard),
      protect("net", "10.0.0.0/24", "192.168.0.0/16", 7),
      rule("bypass-wide", "10.0.0.0/8", "0.0.0.0/0", PolicyAction::kBypass),
      protect("never", "10.0.0.0/24", "192.168.0.0/16", 9),  // shadowed by "net"
  };
  auto t = build(rules);
  EXPECT_EQ(classify1(*t, v4(flow("10.0.0.5", "192.168.1.1"))), match(0, PolicyAction::kDiscard));
  EXPECT_EQ(classify1(*t, v4(flow("10.0.0.6", "192.168.1.1"))), match(1, PolicyAction::kProtect, 7));
  EXPECT_EQ(classify1(*t, v4(flow("10.0.1.6", "192.168.1.1"))), match(2, PolicyAction::kBypass));
  EXPECT_EQ(classify1(*t, v4(flow("11.0.0.6", "192.168.1.1"))), no_rule(PolicyAction::kDiscard));

  // The same rules in the opposite order: now the wide bypass shadows everything under 10/8.
  auto reversed = std::vector<PolicyRule>(rules.rbegin(), rules.rend());
  auto r = build(reversed);
  EXPECT_EQ(classify1(*r, v4(flow("10.0.0.5", "192.168.1.1"))), match(0, PolicyAction::kProtect, 9));
  EXPECT_EQ(classify1(*r, v4(flow("10.0.0.5", "8.8.8.8"))), match(1, PolicyAction::kBypass));
}

TEST_F(SpdTest, Ipv4PrefixLengths) {
  auto t = build({
      rule("host", "0.0.0.0/0", "198.51.100.7/32", PolicyAction::kDiscard),
      protect("p31", "0.0.0.0/0", "198.51.100.8/31", 31),
      protect("p24", "0.0.0.0/0", "198.51.100.0/24", 24),
      protect("p9", "0.0.0.0/0", "198.0.0.0/9", 9),
      protect("p1", "128.0.0.0/1", "0.0.0.0/0", 1),
      rule("all", "0.0.0.0/0", "0.0.0.0/0", PolicyAction::kBypass),
  });
  const char* src = "10.1.1.1";
  EXPECT_EQ(classify1(*t, v4(flow(src, "198.51.100.7"))), match(0, PolicyAction::kDiscard));
  EXPECT_EQ(classify1(*t, v4(flow(src, "198.51.100.6"))).rule, 2u);
  EXPECT_EQ(classify1(*t, v4(flow(src, "198.51.100.8"))).sa_index, 31u);
  EXPECT_EQ(classify1(*t, v4(flow(src, "198.51.100.9"))).sa_index, 31u);
  EXPECT_EQ(classify1(*t, v4(flow(src, "198.51.100.10"))).sa_index, 24u);
  EXPECT_EQ(classify1(*t, v4(flow(src, "198.51.100.255"))).sa_index, 24u);
  EXPECT_EQ(classify1(*t, v4(flow(src, "198.51.101.0"))).sa_index, 9u);
  EXPECT_EQ(classify1(*t, v4(flow(src, "198.127.255.255"))).sa_index, 9u);
  EXPECT_EQ(classify1(*t, v4(flow(src, "198.128.0.0"))), match(5, PolicyAction::kBypass));
  EXPECT_EQ(classify1(*t, v4(flow("128.0.0.0", "1.1.1.1"))).sa_index, 1u);
  EXPECT_EQ(classify1(*t, v4(flow("255.255.255.255", "1.1.1.1"))).sa_index, 1u);
  EXPECT_EQ(classify1(*t, v4(flow("127.255.255.255", "1.1.1.1"))), match(5, PolicyAction::kBypass));
}

TEST_F(SpdTest, Ipv6PrefixLengthsAcrossWordBoundaries) {
  auto t = build({
      protect("host", "::/0", "2001:db8::1/128", 128),
      protect("p127", "::/0", "2001:db8::2/127", 127),
      protect("p97", "::/0", "2001:db8::1:8000:0:0/97", 97),
      protect("p64", "::/0", "2001:db8::/64", 64),
      protect("p33", "::/0", "2001:db8::/33", 33),
      protect("p32", "::/0", "2001:db8::/32", 32),
      protect("p3", "2000::/3", "::/0", 3),
  });
  const char* src = "fe80::1";
  EXPECT_EQ(classify1(*t, v6(flow(src, "2001:db8::1"))).sa_index, 128u);
  EXPECT_EQ(classify1(*t, v6(flow(src, "2001:db8::2"))).sa_index, 127u);
  EXPECT_EQ(classify1(*t, v6(flow(src, "2001:db8::3"))).sa_index, 127u);
  EXPECT_EQ(classify1(*t, v6(flow(src, "2001:db8::4"))).sa_index, 64u);
  EXPECT_EQ(classify1(*t, v6(flow(src, "2001:db8::1:8000:0:1"))).sa_index, 97u);
  EXPECT_EQ(classify1(*t, v6(flow(src, "2001:db8::1:8000:7fff:ffff"))).sa_index, 97u);
  EXPECT_EQ(classify1(*t, v6(flow(src, "2001:db8::1:8000:8000:0"))).sa_index, 64u);
  EXPECT_EQ(classify1(*t, v6(flow(src, "2001:db8::1:8001:0:0"))).sa_index, 64u);
  EXPECT_EQ(classify1(*t, v6(flow(src, "2001:db8:0:1::"))).sa_index, 33u);
  EXPECT_EQ(classify1(*t, v6(flow(src, "2001:db8:7fff::"))).sa_index, 33u);
  EXPECT_EQ(classify1(*t, v6(flow(src, "2001:db8:8000::"))).sa_index, 32u);
  EXPECT_EQ(classify1(*t, v6(flow(src, "2001:db9::"))), no_rule(PolicyAction::kDiscard));
  EXPECT_EQ(classify1(*t, v6(flow("3fff::1", "2001:db9::"))).sa_index, 3u);
  EXPECT_EQ(classify1(*t, v6(flow("4000::1", "2001:db9::"))), no_rule(PolicyAction::kDiscard));
}

TEST_F(SpdTest, ProtocolAnyAndSpecific) {
  auto t = build({
      protect("icmp", "10.0.0.0/8", "10.0.0.0/8", 1, kIcmp),
      protect("sctp", "10.0.0.0/8", "10.0.0.0/8", 132, kSctp),
      protect("any", "10.0.0.0/8", "10.0.0.0/8", 999),
      protect("icmp6", "2001:db8::/32", "::/0", 58, kIcmp6),
  });
  EXPECT_EQ(classify1(*t, v4(flow("10.0.0.1", "10.0.0.2", kIcmp))).sa_index, 1u);
  EXPECT_EQ(classify1(*t, v4(flow("10.0.0.1", "10.0.0.2", kSctp))).sa_index, 132u);
  EXPECT_EQ(classify1(*t, v4(flow("10.0.0.1", "10.0.0.2", kTcp))).sa_index, 999u);
  EXPECT_EQ(classify1(*t, v4(flow("10.0.0.1", "10.0.0.2", 47))).sa_index, 999u);  // GRE
  EXPECT_EQ(classify1(*t, v6(flow("2001:db8::1", "::2", kIcmp6))).sa_index, 58u);
  EXPECT_EQ(classify1(*t, v6(flow("2001:db8::1", "::2", kIcmp))), no_rule(PolicyAction::kDiscard));
}

TEST_F(SpdTest, PortRanges) {
  auto t = build({
      protect("dns", "0.0.0.0/0", "0.0.0.0/0", 53, kUdp, kAny, {53, 53}),
      protect("web", "0.0.0.0/0", "0.0.0.0/0", 80, kTcp, kAny, {80, 443}),
      protect("src-hi", "0.0.0.0/0", "0.0.0.0/0", 60000, kTcp, {60000, 65535}, kAny),
      protect("both", "0.0.0.0/0", "0.0.0.0/0", 22, kTcp, {1, 1023}, {22, 22}),
      protect("zero", "0.0.0.0/0", "0.0.0.0/0", 7, kSctp, {0, 0}, kAny),
      rule("udp-rest", "0.0.0.0/0", "0.0.0.0/0", PolicyAction::kBypass, kUdp),
  });
  const char* a = "10.0.0.1";
  const char* b = "10.0.0.2";
  EXPECT_EQ(classify1(*t, v4(flow(a, b, kUdp, 5353, 53))).sa_index, 53u);
  EXPECT_EQ(classify1(*t, v4(flow(a, b, kUdp, 5353, 54))), match(5, PolicyAction::kBypass));
  EXPECT_EQ(classify1(*t, v4(flow(a, b, kUdp, 5353, 52))), match(5, PolicyAction::kBypass));
  EXPECT_EQ(classify1(*t, v4(flow(a, b, kTcp, 5353, 53))), no_rule(PolicyAction::kDiscard));
  EXPECT_EQ(classify1(*t, v4(flow(a, b, kTcp, 2000, 79))), no_rule(PolicyAction::kDiscard));
  EXPECT_EQ(classify1(*t, v4(flow(a, b, kTcp, 2000, 80))).sa_index, 80u);
  EXPECT_EQ(classify1(*t, v4(flow(a, b, kTcp, 2000, 443))).sa_index, 80u);
  EXPECT_EQ(classify1(*t, v4(flow(a, b, kTcp, 2000, 444))), no_rule(PolicyAction::kDiscard));
  EXPECT_EQ(classify1(*t, v4(flow(a, b, kTcp, 59999, 1))), no_rule(PolicyAction::kDiscard));
  EXPECT_EQ(classify1(*t, v4(flow(a, b, kTcp, 60000, 1))).sa_index, 60000u);
  EXPECT_EQ(classify1(*t, v4(flow(a, b, kTcp, 65535, 1))).sa_index, 60000u);
  EXPECT_EQ(classify1(*t, v4(flow(a, b, kTcp, 1023, 22))).sa_index, 22u);
  EXPECT_EQ(classify1(*t, v4(flow(a, b, kTcp, 1024, 22))), no_rule(PolicyAction::kDiscard));
  EXPECT_EQ(classify1(*t, v4(flow(a, b, kTcp, 0, 22))), no_rule(PolicyAction::kDiscard));
  EXPECT_EQ(classify1(*t, v4(flow(a, b, kTcp, 1, 23))), no_rule(PolicyAction::kDiscard));
  EXPECT_EQ(classify1(*t, v4(flow(a, b, kSctp, 0, 9))).sa_index, 7u);
  EXPECT_EQ(classify1(*t, v4(flow(a, b, kSctp, 1, 9))), no_rule(PolicyAction::kDiscard));
  // ICMP bytes where ports would be never match a port rule.
  EXPECT_EQ(classify1(*t, v4(flow(a, b, kIcmp))), no_rule(PolicyAction::kDiscard));
}

TEST_F(SpdTest, DefaultActionWhenNothingMatches) {
  const std::vector<PolicyRule> rules = {protect("only", "10.0.0.0/8", "10.0.0.0/8", 1)};
  const auto pkts = std::vector<std::vector<uint8_t>>{v4(flow("11.0.0.1", "10.0.0.1")), v6(flow("::1", "::2"))};
  for (PolicyAction def : {PolicyAction::kBypass, PolicyAction::kDiscard}) {
    auto t = build(rules, def);
    EXPECT_EQ(t->default_action(), def);
    for (const auto& m : classify(*t, pkts)) EXPECT_EQ(m, no_rule(def));
  }
  // No rules at all (neither family has an rte_acl context).
  auto empty = build({}, PolicyAction::kBypass);
  for (const auto& m : classify(*empty, pkts)) EXPECT_EQ(m, no_rule(PolicyAction::kBypass));
}

TEST_F(SpdTest, KeepsOnlyItsDirection) {
  const std::vector<PolicyRule> rules = {
      rule("in0", "0.0.0.0/0", "0.0.0.0/0", PolicyAction::kDiscard, 0, kAny, kAny, 0, PolicyDirection::kInbound),
      protect("out0", "10.0.0.0/8", "0.0.0.0/0", 5),
      rule("in1", "10.0.0.0/8", "0.0.0.0/0", PolicyAction::kBypass, 0, kAny, kAny, 0, PolicyDirection::kInbound),
      rule("out1", "::/0", "::/0", PolicyAction::kBypass),
  };
  auto out = build(rules, PolicyAction::kDiscard, PolicyDirection::kOutbound);
  auto in = build(rules, PolicyAction::kDiscard, PolicyDirection::kInbound);
  ASSERT_EQ(out->rules().size(), 2u);
  EXPECT_EQ(out->rules()[1].name, "out1");
  EXPECT_EQ(out->source_index(0), 1u);
  EXPECT_EQ(out->source_index(1), 3u);
  EXPECT_EQ(out->direction(), PolicyDirection::kOutbound);
  ASSERT_EQ(in->rules().size(), 2u);
  EXPECT_EQ(in->source_index(1), 2u);
  const auto p = v4(flow("10.1.1.1", "1.1.1.1"));
  EXPECT_EQ(classify1(*out, p), match(0, PolicyAction::kProtect, 5));
  EXPECT_EQ(classify1(*in, p), match(0, PolicyAction::kDiscard));
}

TEST_F(SpdTest, BuildErrorsNameTheRule) {
  std::string err;
  SpdTable::Options o;
  auto expect_error = [&](const PolicyRule& r, const std::string& what) {
    err.clear();
    const std::vector<PolicyRule> rules = {protect("fine", "10.0.0.0/8", "0.0.0.0/0", 1), r};
    EXPECT_FALSE(SpdTable::build(rules, o, &err)) << r.name;
    EXPECT_NE(err.find("'" + r.name + "' (#1)"), std::string::npos) << err;
    EXPECT_NE(err.find(what), std::string::npos) << err;
  };
  expect_error(protect("ports-any-proto", "0.0.0.0/0", "0.0.0.0/0", 1, 0, kAny, {80, 80}), "need protocol");
  expect_error(protect("ports-icmp", "0.0.0.0/0", "0.0.0.0/0", 1, kIcmp, {1, 1}, kAny), "not 1");
  expect_error(protect("mixed", "0.0.0.0/0", "::/0", 1), "different families");
  expect_error(protect("empty-range", "0.0.0.0/0", "0.0.0.0/0", 1, kTcp, kAny, {90, 80}), "lo > hi");
  o.default_action = PolicyAction::kProtect;
  EXPECT_FALSE(SpdTable::build({}, o, &err));
  EXPECT_NE(err.find("default action"), std::string::npos) << err;
}

// ---- header parsing

TEST_F(SpdTest, Ipv4OptionsDoNotMoveThePorts) {
  auto t = build({protect("web", "0.0.0.0/0", "0.0.0.0/0", 80, kTcp, kAny, {80, 80})});
  for (uint8_t words = 0; words <= 10; ++words) {
    EXPECT_EQ(classify1(*t, v4(flow("1.1.1.1", "2.2.2.2", kTcp, 1234, 80), {words})).sa_index, 80u) << int{words};
    EXPECT_EQ(classify1(*t, v4(flow("1.1.1.1", "2.2.2.2", kTcp, 1234, 81), {words})).rule, SpdMatch::kNoRule);
  }
}

TEST_F(SpdTest, Ipv6ExtensionHeadersAreWalked) {
  auto t = build({
      protect("web", "::/0", "::/0", 80, kTcp, kAny, {80, 80}),
      protect("tcp", "::/0", "::/0", 6, kTcp),
      protect("any", "::/0", "::/0", 1),
  });
  const Flow web = flow("2001:db8::1", "2001:db8::2", kTcp, 999, 80);
  const std::vector<std::vector<uint8_t>> chains = {{}, {0}, {43}, {60}, {0, 43, 60}, {0, 60, 43, 60}, {44}, {0, 44, 60}};
  for (const auto& chain : chains) EXPECT_EQ(classify1(*t, v6(web, chain)).sa_index, 80u) << chain.size();
  // More than kSpdMaxExtHeaders headers: malformed, refused whatever the rules (kInvalid, DISCARD).
  const std::vector<uint8_t> long_chain(kSpdMaxExtHeaders + 1, 60);
  EXPECT_EQ(classify1(*t, v6(web, long_chain)), kInvalidMatch);
  EXPECT_EQ(classify1(*t, v6(web, std::vector<uint8_t>(kSpdMaxExtHeaders, 60))).sa_index, 80u);
  // Hop-by-Hop anywhere but first (RFC 8200 4.3): malformed.
  EXPECT_EQ(classify1(*t, v6(web, {60, 0})), kInvalidMatch);
  // A header whose length runs past the packet: malformed, also when the buffer goes on (the
  // payload length ends the packet).
  auto cut = v6(web, {0, 60});
  cut[48 + 1] = 200;  // Destination Options of 1608 bytes
  EXPECT_EQ(classify1(*t, cut), kInvalidMatch);
  auto short_payload = v6(web, {0, 60});
  put16(short_payload, 4, 8 + 4);  // the payload ends inside the Destination Options header
  EXPECT_EQ(classify1(*t, short_payload), kInvalidMatch);
  // The walk stops at ESP and AH: their protocol, no ports.
  Flow esp = web;
  esp.proto = 50;
  EXPECT_EQ(classify1(*t, v6(esp, {0, 60})).sa_index, 1u);
}

TEST_F(SpdTest, FragmentsNonFirstHaveOpaquePorts) {
  // A port rule whose range includes 0 must not catch a non-first fragment (ports unknown);
  // a protocol rule with any ports still does.
  auto t = build({
      protect("low-ports", "0.0.0.0/0", "0.0.0.0/0", 1, kUdp, {0, 1023}, kAny),
      protect("low-ports6", "::/0", "::/0", 1, kUdp, {0, 1023}, kAny),
      protect("udp", "0.0.0.0/0", "0.0.0.0/0", 17),
      protect("udp6", "::/0", "::/0", 17, kUdp),
  });
  const Flow f4 = flow("10.0.0.1", "10.0.0.2", kUdp, 53, 5353);
  const Flow f6 = flow("2001:db8::1", "2001:db8::2", kUdp, 53, 5353);
  EXPECT_EQ(classify1(*t, v4(f4, {0, 0, true})).rule, 0u);   // first fragment: ports read
  EXPECT_EQ(classify1(*t, v4(f4, {0, 185, true})).rule, 2u);  // middle fragment
  EXPECT_EQ(classify1(*t, v4(f4, {0, 185, false})).rule, 2u);  // last fragment
  EXPECT_EQ(classify1(*t, v4(f4, {2, 1, false})).rule, 2u);
  EXPECT_EQ(classify1(*t, v6(f6, {44}, 0)).rule, 1u);
  EXPECT_EQ(classify1(*t, v6(f6, {44}, 185)).rule, 3u);
  EXPECT_EQ(classify1(*t, v6(f6, {0, 44}, 1)).rule, 3u);
}

TEST_F(SpdTest, TruncatedPacketsClassifyWithOpaquePorts) {
  auto t = build({
      protect("web", "0.0.0.0/0", "0.0.0.0/0", 80, kTcp, kAny, {80, 80}),
      protect("web6", "::/0", "::/0", 80, kTcp, kAny, {80, 80}),
      protect("tcp", "0.0.0.0/0", "0.0.0.0/0", 6, kTcp),
      protect("any6", "::/0", "::/0", 60),
  });
  const Flow w4 = flow("1.1.1.1", "2.2.2.2", kTcp, 1234, 80);
  const Flow w6 = flow("2001:db8::1", "2001:db8::2", kTcp, 1234, 80);
  auto p4 = v4(w4);
  auto cut = [](std::vector<uint8_t> p, std::size_t len) {
    p.resize(len);
    return p;
  };
  EXPECT_EQ(classify1(*t, cut(p4, 24)).sa_index, 80u);  // exactly the ports
  EXPECT_EQ(classify1(*t, cut(p4, 23)).sa_index, 6u);   // buffer too short
  EXPECT_EQ(classify1(*t, cut(p4, 20)).sa_index, 6u);
  // The header's total length counts, not the buffer: bytes past it are L2 padding.
  auto short_total = p4;
  put16(short_total, 2, 22);
  EXPECT_EQ(classify1(*t, short_total).sa_index, 6u);
  auto p6 = v6(w6, {0, 60});
  EXPECT_EQ(classify1(*t, cut(p6, 40 + 8 + 16 + 4)).sa_index, 80u);
  EXPECT_EQ(classify1(*t, cut(p6, 40 + 8 + 16 + 3)).sa_index, 60u);
  // An extension-header chain cut short is malformed (protocol unknown): refused, not classified
  // by the last Next Header read.
  EXPECT_EQ(classify1(*t, cut(p6, 40 + 8 + 15)), kInvalidMatch);  // inside the Destination Options
  EXPECT_EQ(classify1(*t, cut(p6, 40 + 7)), kInvalidMatch);       // inside the Hop-by-Hop header
  auto short_payload = p6;
  put16(short_payload, 4, 8 + 16 + 2);  // the chain is whole, the TCP header cut: ports opaque
  EXPECT_EQ(classify1(*t, short_payload).sa_index, 60u);
  // A Hop-by-Hop length pointing far past the packet.
  auto long_hbh = p6;
  long_hbh[41] = 255;
  EXPECT_EQ(classify1(*t, long_hbh), kInvalidMatch);
}

TEST_F(SpdTest, InvalidHeadersAreDiscarded) {
  auto t = build({rule("all4", "0.0.0.0/0", "0.0.0.0/0", PolicyAction::kBypass),
                  rule("all6", "::/0", "::/0", PolicyAction::kBypass)},
                 PolicyAction::kBypass);
  const auto good4 = v4(flow("1.1.1.1", "2.2.2.2"));
  const auto good6 = v6(flow("::1", "::2"));
  std::vector<std::vector<uint8_t>> bad;
  bad.push_back({});
  bad.emplace_back(good4.begin(), good4.begin() + 19);
  bad.emplace_back(good6.begin(), good6.begin() + 39);
  auto v5 = good4;
  v5[0] = 0x55;
  bad.push_back(v5);
  auto ihl4 = good4;
  ihl4[0] = 0x44;
  bad.push_back(ihl4);
  auto ihl_long = good4;
  ihl_long[0] = 0x4f;  // 60-byte header in a 40-byte packet
  bad.push_back(ihl_long);
  auto total_short = good4;
  put16(total_short, 2, 19);
  bad.push_back(total_short);
  auto v4_in_v6 = good6;
  v4_in_v6[0] = 0x40;  // an IPv6 header with version 4: IHL 0
  bad.push_back(v4_in_v6);
  const auto res = classify(*t, bad, 0);
  for (std::size_t i = 0; i < res.size(); ++i) EXPECT_EQ(res[i], kInvalidMatch) << i;
  EXPECT_EQ(t->invalid_hits(), bad.size());
  EXPECT_EQ(t->default_hits(), 0u);
}

// ---- bursts

TEST_F(SpdTest, MixedFamiliesInAnyBurstSize) {
  const std::vector<PolicyRule> rules = {
      protect("v4", "10.0.0.0/8", "0.0.0.0/0", 4),
      protect("v6", "2001:db8::/32", "::/0", 6),
      rule("v6-rest", "::/0", "::/0", PolicyAction::kDiscard),
  };
  auto t = build(rules, PolicyAction::kBypass);
  for (std::size_t n : {0u, 1u, 2u, 63u, 64u, 65u, 128u, 255u, 256u, 257u, 1000u}) {
    std::vector<std::vector<uint8_t>> pkts;
    std::vector<SpdMatch> want;
    for (std::size_t i = 0; i < n; ++i) {
      switch (i % 5) {
        case 0: pkts.push_back(v4(flow("10.0.0.1", "1.1.1.1"))); want.push_back(match(0, PolicyAction::kProtect, 4)); break;
        case 1: pkts.push_back(v6(flow("2001:db8::1", "::1"))); want.push_back(match(1, PolicyAction::kProtect, 6)); break;
        case 2: pkts.push_back(v4(flow("11.0.0.1", "1.1.1.1"))); want.push_back(no_rule(PolicyAction::kBypass)); break;
        case 3: pkts.push_back(v6(flow("2001:db9::1", "::1"))); want.push_back(match(2, PolicyAction::kDiscard)); break;
        case 4: pkts.push_back({0x00, 0x01}); want.push_back(kInvalidMatch); break;
      }
    }
    EXPECT_EQ(classify(*t, pkts), want) << "burst of " << n;
  }
}

TEST_F(SpdTest, MbufBurst) {
  auto t = build({protect("v4", "10.0.0.0/8", "0.0.0.0/0", 4), protect("v6", "2001:db8::/32", "::/0", 6)});
  std::vector<rte_mbuf*> m;
  for (int i = 0; i < 257; ++i) {
    const auto p = i % 2 ? v6(flow("2001:db8::1", "::1", kTcp)) : v4(flow("10.0.0.1", "1.1.1.1", kTcp), {3});
    m.push_back(test::make_mbuf(p));
  }
  std::vector<SpdMatch> out(m.size());
  t->classify(std::span<rte_mbuf* const>(m), out.data(), 0);
  for (int i = 0; i < 257; ++i) EXPECT_EQ(out[i].sa_index, i % 2 ? 6u : 4u) << i;
  EXPECT_EQ(t->hits(0), 129u);
  EXPECT_EQ(t->hits(1), 128u);
  for (auto* p : m) rte_pktmbuf_free(p);
}

// ---- counters

TEST_F(SpdTest, HitCountersPerWorkerSummedOnRead) {
  auto t = build({protect("a", "10.0.0.0/8", "0.0.0.0/0", 1), protect("b", "::/0", "::/0", 2)},
                 PolicyAction::kBypass, PolicyDirection::kOutbound, 3);
  ASSERT_EQ(t->workers(), 3u);
  const std::vector<std::vector<uint8_t>> pkts = {v4(flow("10.0.0.1", "1.1.1.1")), v4(flow("10.0.0.2", "1.1.1.1")),
                                                  v6(flow("::1", "::2")), v4(flow("11.0.0.1", "1.1.1.1")),
                                                  {0x70}};
  classify(*t, pkts, 0);
  classify(*t, pkts, 2);
  classify(*t, pkts, 2);
  classify(*t, pkts);     // uncounted
  classify(*t, pkts, 3);  // no such worker: uncounted
  EXPECT_EQ(t->hits(0), 6u);
  EXPECT_EQ(t->hits(1), 3u);
  EXPECT_EQ(t->hits(2), 0u);  // no such rule
  EXPECT_EQ(t->default_hits(), 3u);
  EXPECT_EQ(t->invalid_hits(), 3u);

  auto none = build({protect("a", "10.0.0.0/8", "0.0.0.0/0", 1)}, PolicyAction::kBypass,
                    PolicyDirection::kOutbound, 0);
  classify(*none, pkts, 0);
  EXPECT_EQ(none->hits(0), 0u);
}

// espritd's connect_type "trigger" poll. An SPD rebuilt for a new Child SA usually lands at the
// address of the table it replaced (the allocator hands the freed block straight back). Compared by
// pointer, the rebuilt table looked like the old one: its hits were compared with the old table's
// counters (a missed acquire), and once it had more rules than the old one the counter vector was
// read and written past its end (heap corruption in espritd under scripts/ikeload).
TEST_F(SpdTest, NoSaWatchTellsARebuiltTableAtTheSameAddress) {
  constexpr uint32_t kNoSa = UINT32_MAX;
  const std::vector<std::vector<uint8_t>> pkts = {v4(flow("10.1.0.1", "10.2.1.1")), v4(flow("10.1.0.2", "10.2.1.1"))};
  SpdNoSaWatch watch(kNoSa);
  auto poll = [&](const SpdTable& t) {
    std::vector<std::string> hit;
    watch.poll(t, [&](const PolicyRule& r) { hit.push_back(r.name); });
    return hit;
  };
  const std::vector<std::string> trigger = {"trigger"};
  const PolicyRule no_sa = protect("trigger", "10.1.0.0/16", "10.2.0.0/16", kNoSa);

  auto a = build({protect("rw", "10.1.0.0/16", "10.2.0.9/32", 3), no_sa});
  classify(*a, pkts, 0);
  EXPECT_EQ(poll(*a), trigger);
  EXPECT_TRUE(poll(*a).empty());  // no new hits
  classify(*a, pkts, 0);
  EXPECT_EQ(poll(*a), trigger);

  // The same rules again (two hits in each table): a new table, so its hits are new.
  const SpdTable* where = a.get();
  uint64_t serial = a->serial();
  a.reset();
  auto b = build({protect("rw", "10.1.0.0/16", "10.2.0.9/32", 3), no_sa});
  EXPECT_NE(b->serial(), serial);
  std::printf("rebuilt table %s the old one's address\n", b.get() == where ? "at" : "not at");
  classify(*b, pkts, 0);
  classify(*b, pkts, 0);
  EXPECT_EQ(poll(*b), trigger);
  EXPECT_TRUE(poll(*b).empty());

  // Many narrowed rules before the one without an SA, as FastpathInstaller builds them for road
  // warriors: the rule without an SA is far past the old table's counters.
  std::vector<PolicyRule> rules;
  for (uint32_t i = 0; i < 200; ++i)
    rules.push_back(protect("rw", "10.1.0.0/16", ("10.2.0." + std::to_string(i) + "/32").c_str(), i));
  rules.push_back(no_sa);
  where = b.get();
  serial = b->serial();
  b.reset();
  auto c = build(rules);
  EXPECT_NE(c->serial(), serial);
  std::printf("rebuilt table %s the old one's address\n", c.get() == where ? "at" : "not at");
  EXPECT_TRUE(poll(*c).empty());  // no hits in it yet
  classify(*c, pkts, 0);
  EXPECT_EQ(c->hits(200), 2u);
  EXPECT_EQ(poll(*c), trigger);
  EXPECT_TRUE(poll(*c).empty());
}

// ---- against a linear matcher

struct RandomSpd {
  std::vector<PolicyRule> rules;
  std::vector<std::vector<uint8_t>> pkts;
  std::vector<Parsed> parsed;
};

IpAddress random_in(std::mt19937& rng, const IpPrefix& p) {
  std::array<uint8_t, 16> b{};
  std::memcpy(b.data(), p.address().bytes(), p.address().size());
  for (std::size_t bit = p.length(); bit < p.address().size() * 8; ++bit)
    if (rng() & 1) b[bit / 8] |= static_cast<uint8_t>(0x80 >> (bit % 8));
  if (p.family() == IpFamily::kV4) return IpAddress::v4(static_cast<uint32_t>(b[0]) << 24 | b[1] << 16 | b[2] << 8 | b[3]);
  return IpAddress::v6(b);
}

/// Which port ranges random rules get: the table leaves out the key fields no rule needs, so each
/// mode builds a different rte_acl layout (see KeyUse in spd.cpp).
enum class PortMode {
  kAny,       ///< ranges may contain port 0 on both sides: ports + "opaque" flag
  kNoZero,    ///< every port rule excludes port 0 on one side: ports only
  kNoPorts,   ///< no port ranges: addresses and protocol only
};

void PrintTo(PortMode m, std::ostream* os) {
  *os << (m == PortMode::kAny ? "ports+opaque" : m == PortMode::kNoZero ? "ports without 0" : "no ports");
}

/// Rules over a small address space (so they overlap a lot), packets half aimed at a rule.
RandomSpd random_spd(uint32_t seed, std::size_t nrules, std::size_t npkts, PortMode mode = PortMode::kAny) {
  std::mt19937 rng(seed);
  auto pick = [&](auto const& v) { return v[rng() % v.size()]; };
  const std::vector<uint8_t> v4_lens = {0, 8, 14, 16, 20, 22, 24, 28, 31, 32};
  const std::vector<uint8_t> v6_lens = {0, 16, 32, 48, 60, 64, 96, 100, 120, 127, 128};
  const std::vector<uint8_t> protos = {0, 0, kTcp, kTcp, kUdp, kUdp, kSctp, kIcmp, kIcmp6, 47};
  auto base = [&](bool is_v4) {
    if (is_v4) return IpAddress::v4(0x0a000000u | (rng() % 4) << 16 | (rng() % 4) << 8 | (rng() % 8));
    std::array<uint8_t, 16> b{0x20, 0x01, 0x0d, 0xb8};
    b[5] = static_cast<uint8_t>(rng() % 4);
    b[7] = static_cast<uint8_t>(rng() % 4);
    b[9] = static_cast<uint8_t>(rng() % 2);
    b[15] = static_cast<uint8_t>(rng() % 8);
    return IpAddress::v6(b);
  };
  auto ports = [&]() -> PortRange {
    switch (rng() % 4) {
      case 0: return kAny;
      case 1: { const auto p = static_cast<uint16_t>(rng() % 40); return {p, p}; }
      case 2: { const auto lo = static_cast<uint16_t>(rng() % 40); return {lo, static_cast<uint16_t>(lo + rng() % 30)}; }
      default: return {static_cast<uint16_t>(rng() % 2 ? 0 : 65000), static_cast<uint16_t>(65000 + rng() % 536)};
    }
  };
  RandomSpd r;
  for (std::size_t i = 0; i < nrules; ++i) {
    const bool is_v4 = rng() % 2;
    const auto& lens = is_v4 ? v4_lens : v6_lens;
    PolicyRule pr;
    pr.name = "r";  // (not "r" + to_string: GCC 12's -Wrestrict false positive, bug 105329)
    pr.name += std::to_string(i);
    pr.selector.src = IpPrefix(base(is_v4), pick(lens));
    pr.selector.dst = IpPrefix(base(is_v4), pick(lens));
    pr.selector.proto = pick(protos);
    if ((pr.selector.proto == kTcp || pr.selector.proto == kUdp || pr.selector.proto == kSctp) &&
        mode != PortMode::kNoPorts) {
      pr.selector.sport = rng() % 3 ? kAny : ports();
      pr.selector.dport = ports();
      if (mode == PortMode::kNoZero && pr.selector.sport.contains(0) && pr.selector.dport.contains(0)) {
        if (pr.selector.dport.lo == 0 && pr.selector.dport.hi == 0) pr.selector.dport.hi = 1;
        pr.selector.dport.lo = 1;
      }
    }
    pr.action = static_cast<PolicyAction>(rng() % 3);
    pr.sa_index = pr.action == PolicyAction::kProtect ? static_cast<uint32_t>(i + 100) : 0;
    r.rules.push_back(pr);
  }
  for (std::size_t i = 0; i < npkts; ++i) {
    Parsed p;
    Flow& f = p.flow;
    if (rng() % 2) {
      const TrafficSelector& s = r.rules[rng() % r.rules.size()].selector;
      f.src = random_in(rng, s.src);
      f.dst = random_in(rng, s.dst);
      f.proto = s.proto ? s.proto : pick(protos);
      f.sport = static_cast<uint16_t>(s.sport.lo + rng() % (s.sport.hi - s.sport.lo + 1u));
      f.dport = static_cast<uint16_t>(s.dport.lo + rng() % (s.dport.hi - s.dport.lo + 1u));
    } else {
      const bool is_v4 = rng() % 2;
      f.src = random_in(rng, IpPrefix(base(is_v4), is_v4 ? 29 : 120));
      f.dst = random_in(rng, IpPrefix(base(is_v4), is_v4 ? 29 : 120));
      f.proto = pick(protos);
      f.sport = static_cast<uint16_t>(rng() % 50);
      f.dport = static_cast<uint16_t>(rng() % 4 ? rng() % 50 : 65000 + rng() % 536);
    }
    if (f.proto == 0) f.proto = kUdp;
    const bool port_proto = f.proto == kTcp || f.proto == kUdp || f.proto == kSctp;
    if (!port_proto) f.sport = f.dport = 0;
    const unsigned shape = rng() % 10;  // 0: non-first fragment, 1: options / extension headers
    if (f.src.is_v4()) {
      V4Options o;
      if (shape == 0) o.frag_offset = static_cast<uint16_t>(1 + rng() % 100);
      if (shape == 1) o.option_words = static_cast<uint8_t>(1 + rng() % 10);
      r.pkts.push_back(v4(f, o));
    } else {
      if (shape == 0) r.pkts.push_back(v6(f, {44}, static_cast<uint16_t>(1 + rng() % 100)));
      else if (shape == 1) r.pkts.push_back(v6(f, {0, 43, 60}));
      else r.pkts.push_back(v6(f));
    }
    p.ports_known = shape != 0 || !port_proto;
    r.parsed.push_back(p);
  }
  return r;
}

class SpdRandomTest : public SpdTest, public ::testing::WithParamInterface<PortMode> {};

// Both classifiers: rte_acl (linear_max 0) and the in-order IPv4 comparison (every table small
// enough), against the reference.
TEST_P(SpdRandomTest, MatchesLinearReference) {
  for (uint32_t seed : {1u, 2u, 3u, 4u}) {
    for (std::size_t nrules : {5u, 50u, 400u}) {
     for (uint32_t linear_max : {0u, 1000u}) {
      SCOPED_TRACE("linear_max " + std::to_string(linear_max));
      const auto r = random_spd(seed * 1000 + static_cast<uint32_t>(nrules), nrules, 3000, GetParam());
      const PolicyAction def = seed % 2 ? PolicyAction::kBypass : PolicyAction::kDiscard;
      auto t = build(r.rules, def, PolicyDirection::kOutbound, 1, linear_max);
      ASSERT_TRUE(t);
      const auto got = classify(*t, r.pkts);
      std::size_t wrong = 0;
      std::size_t matched = 0;
      for (std::size_t i = 0; i < got.size(); ++i) {
        const SpdMatch want = reference(r.rules, r.parsed[i], def);
        matched += want.rule != SpdMatch::kNoRule;
        if (got[i] != want && ++wrong <= 5)
          ADD_FAILURE() << "seed " << seed << ", " << nrules << " rules, packet " << i << " "
                        << r.parsed[i].flow.src.to_string() << " -> " << r.parsed[i].flow.dst.to_string() << " proto "
                        << int{r.parsed[i].flow.proto} << " " << r.parsed[i].flow.sport << " -> "
                        << r.parsed[i].flow.dport << (r.parsed[i].ports_known ? "" : " (opaque)") << ": got "
                        << got[i] << ", want " << want;
      }
      EXPECT_EQ(wrong, 0u);
      EXPECT_GT(matched, got.size() / 3) << "the random packets should mostly hit rules";
     }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(PortModes, SpdRandomTest,
                         ::testing::Values(PortMode::kAny, PortMode::kNoZero, PortMode::kNoPorts),
                         [](const auto& info) {
                           switch (info.param) {
                             case PortMode::kAny: return "PortsAndOpaque";
                             case PortMode::kNoZero: return "PortsWithoutZero";
                             case PortMode::kNoPorts: return "NoPorts";
                           }
                           return "?";
                         });

TEST_F(SpdTest, LargeTableBuildsAndClassifies) {
  // 10 000 site-to-site rules (the 100 000-rule build is timed by spd_bench, not here).
  constexpr uint32_t kRules = 10000;
  std::vector<PolicyRule> rules;
  for (uint32_t i = 0; i < kRules; ++i) {
    PolicyRule r;
    r.name = "site";
    r.name += std::to_string(i);
    r.selector.src = IpPrefix(IpAddress::v4(0x0a000000u | i << 8), 24);
    r.selector.dst = IpPrefix(IpAddress::v4(0xac100000u | i << 4), 28);
    if (i % 3 == 0) {
      r.selector.proto = kTcp;
      r.selector.dport = {static_cast<uint16_t>(i % 1000), static_cast<uint16_t>(i % 1000 + 10)};
    }
    r.action = PolicyAction::kProtect;
    r.sa_index = i;
    rules.push_back(r);
  }
  const auto t0 = std::chrono::steady_clock::now();
  auto t = build(rules);
  ASSERT_TRUE(t);
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0);
  std::printf("[          ] %u rules built in %lld ms\n", kRules, static_cast<long long>(ms.count()));
  std::vector<std::vector<uint8_t>> pkts;
  std::vector<SpdMatch> want;
  for (uint32_t i = 0; i < kRules; i += 7) {
    const Flow f{IpAddress::v4(0x0a000000u | i << 8 | 5), IpAddress::v4(0xac100000u | i << 4 | 3), kTcp, 999,
                 static_cast<uint16_t>(i % 1000 + 5)};
    pkts.push_back(v4(f));
    want.push_back(match(i, PolicyAction::kProtect, i));
  }
  EXPECT_EQ(classify(*t, pkts), want);
}

// ---- publication under RCU

TEST_F(SpdTest, PublishWhileAWorkerClassifies) {
  std::string err;
  auto rcu = Rcu::create(1, &err);
  ASSERT_TRUE(rcu) << err;
  rcu->register_thread(0);

  // Table "A" protects with SA 1000 + rule, table "B" with SA 2000 + rule and other rules, so each
  // burst's results show which table produced them.
  const auto ra = random_spd(11, 40, 257);
  auto rules_b = random_spd(12, 60, 0).rules;
  for (auto& r : rules_b) r.sa_index += 5000;
  auto make = [&](bool a, PolicyDirection dir) {
    auto rules = a ? ra.rules : rules_b;
    for (auto& r : rules) r.direction = dir;
    return build(rules, a ? PolicyAction::kBypass : PolicyAction::kDiscard, dir);
  };
  const auto want_a = classify(*make(true, PolicyDirection::kOutbound), ra.pkts);
  const auto want_b = classify(*make(false, PolicyDirection::kOutbound), ra.pkts);
  ASSERT_NE(want_a, want_b);

  Spd spd(*rcu, make(true, PolicyDirection::kOutbound), make(true, PolicyDirection::kInbound));
  std::vector<SpdPacket> in;
  for (const auto& p : ra.pkts) in.push_back({p.data(), static_cast<uint32_t>(p.size())});

  std::atomic<bool> stop{false};
  std::atomic<uint64_t> bursts{0};
  std::atomic<uint64_t> bad{0};
  std::atomic<uint64_t> seen_a{0};
  std::atomic<uint64_t> seen_b{0};
  std::thread worker([&] {
    rcu->online(0);
    std::vector<SpdMatch> out(in.size());
    while (!stop.load(std::memory_order_relaxed)) {
      for (PolicyDirection d : {PolicyDirection::kOutbound, PolicyDirection::kInbound}) {
        const SpdTable* t = spd.table(d);
        t->classify(in, out.data(), 0);
        if (out == want_a) seen_a.fetch_add(1, std::memory_order_relaxed);
        else if (out == want_b) seen_b.fetch_add(1, std::memory_order_relaxed);
        else bad.fetch_add(1, std::memory_order_relaxed);
      }
      rcu->quiescent(0);
      bursts.fetch_add(1, std::memory_order_release);
    }
    rcu->offline(0);
  });

  constexpr int kPublishes = 60;
  uint64_t retired_hits = 0;
  auto total_hits = [](const SpdTable& t) {
    uint64_t s = t.default_hits() + t.invalid_hits();
    for (uint32_t i = 0; i < t.rules().size(); ++i) s += t.hits(i);
    return s;
  };
  for (int i = 1; i <= kPublishes; ++i) {
    const bool a = i % 2 == 0;
    Spd::Retired old;
    if (i % 3 == 0)
      old = spd.publish(make(a, PolicyDirection::kOutbound), nullptr);
    else
      old = spd.publish(make(a, PolicyDirection::kOutbound), make(a, PolicyDirection::kInbound));
    // The retired tables are no longer used: their counters are final and they can be freed.
    for (const auto* t : {old.outbound.get(), old.inbound.get()})
      if (t) retired_hits += total_hits(*t);
    const uint64_t before = bursts.load(std::memory_order_acquire);
    while (bursts.load(std::memory_order_acquire) < before + 2) std::this_thread::yield();
  }
  stop.store(true);
  worker.join();

  EXPECT_EQ(bad.load(), 0u);
  EXPECT_GT(seen_a.load(), 0u);
  EXPECT_GT(seen_b.load(), 0u);
  // Every packet the worker classified was counted in exactly one table.
  const uint64_t live_hits = total_hits(*spd.outbound()) + total_hits(*spd.inbound());
  EXPECT_EQ(retired_hits + live_hits, 2 * bursts.load() * in.size());
}

TEST_F(SpdTest, PublishChecksDirections) {
  std::string err;
  auto rcu = Rcu::create(1, &err);
  ASSERT_TRUE(rcu) << err;
  auto out = [] { return build({}, PolicyAction::kBypass, PolicyDirection::kOutbound); };
  auto in = [] { return build({}, PolicyAction::kBypass, PolicyDirection::kInbound); };
  EXPECT_THROW((Spd{*rcu, in(), in()}), std::invalid_argument);
  EXPECT_THROW((Spd{*rcu, out(), nullptr}), std::invalid_argument);
  Spd spd(*rcu, out(), in());
  const SpdTable* before = spd.outbound();
  EXPECT_THROW(spd.publish(in(), nullptr), std::invalid_argument);
  EXPECT_EQ(spd.outbound(), before);
  auto old = spd.publish(nullptr, in());  // no worker online: returns at once
  EXPECT_FALSE(old.outbound);
  ASSERT_TRUE(old.inbound);
  EXPECT_EQ(old.inbound->direction(), PolicyDirection::kInbound);
  EXPECT_EQ(spd.outbound(), before);
}

}  // namespace
}  // namespace esprit
