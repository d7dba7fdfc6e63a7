// The gateway's per-packet IP header helpers (ip_checks.hpp) and selector_matches() on fragments
// and IPv6 extension headers.
// Checksums are checked against DPDK's rte_ipv4_cksum() (an independent full recomputation).
#include <gtest/gtest.h>

#include <rte_ip.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <vector>

#include "esprit/fastpath/gateway.hpp"
#include "esprit/fastpath/ip_checks.hpp"

// Instrumented or unoptimised builds (scripts/sanitize) try every 17th TTL and the last one, all
// checksum values still; optimised builds try every TTL (about a second).
#if defined(__SANITIZE_ADDRESS__) || !defined(__OPTIMIZE__)
#define ESPRIT_SLOW_BUILD 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define ESPRIT_SLOW_BUILD 1
#endif
#endif
#ifdef ESPRIT_SLOW_BUILD
constexpr unsigned kTtlStep = 17;
#else
constexpr unsigned kTtlStep = 1;
#endif

namespace esprit {
namespace {

uint16_t stored_checksum(const uint8_t* h) { return static_cast<uint16_t>(h[10] << 8 | h[11]); }

/// Writes rte_ipv4_cksum() of the 20-byte header (checksum field zeroed first).
void recompute(uint8_t* h) {
  h[10] = h[11] = 0;
  const uint16_t c = rte_ipv4_cksum(reinterpret_cast<const rte_ipv4_hdr*>(h));
  std::memcpy(h + 10, &c, 2);  // rte_ipv4_cksum's result is in memory (network) order
}

// RFC 1624 section 3 (eqn. 3) and 5: the incremental update must give what a full recomputation
// gives, including the 0x0000 / 0xffff edge that HC + 0x0100 (RFC 1141) gets wrong. Every TTL that
// can be decremented, and every stored checksum value: the IP ID sweeps the header's sum over all
// of 0x0000..0xfffe, and a header whose checksum is 0x0000 is also tried stored as 0xffff (the other
// one's complement zero, which verifies as well).
TEST(DecrementTtl, ChecksumEqualsFullRecomputationForAllChecksumsAndTtls) {
  std::array<uint8_t, 20> h = {0x45, 0, 0, 40, 0, 0, 0x40, 0, 64, 17, 0, 0, 10, 1, 0, 5, 10, 2, 0, 7};
  std::vector<bool> seen(65536);
  uint64_t mismatches = 0, checked = 0;
  for (unsigned ttl = 2; ttl <= 255; ttl = ttl == 255 || ttl + kTtlStep <= 255 ? ttl + kTtlStep : 255) {
    for (unsigned id = 0; id <= 0xffff; ++id) {
      h[4] = static_cast<uint8_t>(id >> 8);
      h[5] = static_cast<uint8_t>(id);
      h[8] = static_cast<uint8_t>(ttl);
      recompute(h.data());
      for (int variant = 0; variant < 2; ++variant) {
        std::array<uint8_t, 20> in = h;
        if (variant == 1) {
          if (stored_checksum(h.data()) != 0) break;
          in[10] = in[11] = 0xff;
        }
        ASSERT_TRUE(ipv4_header_checksum_ok(in.data(), 20));
        seen[stored_checksum(in.data())] = true;
        std::array<uint8_t, 20> got = in;
        ASSERT_TRUE(decrement_ttl(got.data()));
        std::array<uint8_t, 20> want = in;
        want[8] = static_cast<uint8_t>(ttl - 1);
        recompute(want.data());
        mismatches += got != want;
        ++checked;
      }
    }
  }
  EXPECT_EQ(mismatches, 0u) << "of " << checked;
  EXPECT_EQ(std::count(seen.begin(), seen.end(), true), 65536);
}

TEST(DecrementTtl, RefusesTtlOneAndZeroAndHopLimitOne) {
  std::array<uint8_t, 20> h = {0x45, 0, 0, 20, 0, 0, 0, 0, 1, 17, 0, 0, 10, 1, 0, 5, 10, 2, 0, 7};
  recompute(h.data());
  const auto before = h;
  EXPECT_FALSE(decrement_ttl(h.data()));
  h[8] = 0;
  EXPECT_FALSE(decrement_ttl(h.data()));
  h[8] = 1;
  EXPECT_EQ(h, before);
  std::array<uint8_t, 40> v6{};
  v6[0] = 0x60;
  v6[7] = 1;
  EXPECT_FALSE(decrement_ttl(v6.data()));
  v6[7] = 2;
  EXPECT_TRUE(decrement_ttl(v6.data()));
  EXPECT_EQ(v6[7], 1);
}

TEST(Ipv4HeaderChecksum, GoodBadAndOptions) {
  std::array<uint8_t, 24> h = {0x46, 0, 0, 24, 0, 1, 0, 0, 64, 6, 0, 0, 192, 0, 2, 2, 192, 0, 2, 1, 1, 1, 1, 0};
  h[10] = h[11] = 0;
  const uint16_t c = rte_ipv4_cksum(reinterpret_cast<const rte_ipv4_hdr*>(h.data()));
  std::memcpy(&h[10], &c, 2);
  EXPECT_TRUE(ipv4_header_checksum_ok(h.data(), 24));
  for (std::size_t i = 0; i < h.size(); ++i) {  // any single flipped bit is caught
    auto b = h;
    b[i] ^= 0x10;
    EXPECT_FALSE(ipv4_header_checksum_ok(b.data(), 24)) << "byte " << i;
  }
}

std::array<uint8_t, 20> v4(const char* src, const char* dst) {
  std::array<uint8_t, 20> h{};
  h[0] = 0x45;
  std::memcpy(&h[12], IpAddress::parse(src)->bytes(), 4);
  std::memcpy(&h[16], IpAddress::parse(dst)->bytes(), 4);
  return h;
}

std::array<uint8_t, 40> v6(const char* src, const char* dst) {
  std::array<uint8_t, 40> h{};
  h[0] = 0x60;
  std::memcpy(&h[8], IpAddress::parse(src)->bytes(), 16);
  std::memcpy(&h[24], IpAddress::parse(dst)->bytes(), 16);
  return h;
}

TEST(Martian, Ipv4) {
  EXPECT_FALSE(is_martian(v4("10.1.0.5", "10.2.0.7").data(), false));
  EXPECT_FALSE(is_martian(v4("10.1.0.5", "224.0.0.5").data(), false));  // multicast destination: routed or not by the FIB
  EXPECT_FALSE(is_martian(v4("10.1.0.5", "10.2.255.255").data(), false));  // directed broadcast: a FIB question
  EXPECT_TRUE(is_martian(v4("0.0.0.0", "10.2.0.7").data(), false));
  EXPECT_TRUE(is_martian(v4("0.1.2.3", "10.2.0.7").data(), false));
  EXPECT_TRUE(is_martian(v4("10.1.0.5", "0.0.0.0").data(), false));
  EXPECT_TRUE(is_martian(v4("127.0.0.1", "10.2.0.7").data(), false));
  EXPECT_TRUE(is_martian(v4("10.1.0.5", "127.9.9.9").data(), false));
  EXPECT_TRUE(is_martian(v4("224.0.0.1", "10.2.0.7").data(), false));
  EXPECT_TRUE(is_martian(v4("239.1.1.1", "10.2.0.7").data(), false));
  EXPECT_TRUE(is_martian(v4("240.0.0.1", "10.2.0.7").data(), false));
  EXPECT_TRUE(is_martian(v4("255.255.255.255", "10.2.0.7").data(), false));
  EXPECT_TRUE(is_martian(v4("10.1.0.5", "255.255.255.255").data(), false));
  EXPECT_FALSE(is_martian(v4("10.1.0.5", "255.255.255.254").data(), false));
}

TEST(Martian, Ipv6) {
  EXPECT_FALSE(is_martian(v6("2001:db8:1::5", "2001:db8:2::7").data(), true));
  EXPECT_FALSE(is_martian(v6("2001:db8:1::5", "ff05::2").data(), true));
  EXPECT_FALSE(is_martian(v6("::2", "2001:db8:2::7").data(), true));
  EXPECT_TRUE(is_martian(v6("::", "2001:db8:2::7").data(), true));
  EXPECT_TRUE(is_martian(v6("::1", "2001:db8:2::7").data(), true));
  EXPECT_TRUE(is_martian(v6("2001:db8:1::5", "::").data(), true));
  EXPECT_TRUE(is_martian(v6("2001:db8:1::5", "::1").data(), true));
  EXPECT_TRUE(is_martian(v6("ff02::1", "2001:db8:2::7").data(), true));
}

/// IPv4 UDP 10.1.0.5:1000 -> 10.2.0.7:53, `len` bytes, fragment offset `frag` (8-byte units).
std::vector<uint8_t> udp4(uint16_t frag, uint16_t len = 40) {
  std::vector<uint8_t> p(len);
  p[0] = 0x45;
  p[2] = static_cast<uint8_t>(len >> 8);
  p[3] = static_cast<uint8_t>(len);
  p[6] = static_cast<uint8_t>(frag >> 8);
  p[7] = static_cast<uint8_t>(frag);
  p[9] = 17;
  std::memcpy(&p[12], IpAddress::parse("10.1.0.5")->bytes(), 4);
  std::memcpy(&p[16], IpAddress::parse("10.2.0.7")->bytes(), 4);
  if (len >= 24) p[20] = 1000 >> 8, p[21] = 1000 & 0xff, p[22] = 0, p[23] = 53;
  return p;
}

TrafficSelector sel(PortRange sport, PortRange dport, uint8_t proto = 17) {
  TrafficSelector ts;
  ts.src = *IpPrefix::parse("10.1.0.0/16");
  ts.dst = *IpPrefix::parse("10.2.0.0/16");
  ts.proto = proto;
  ts.sport = sport;
  ts.dport = dport;
  return ts;
}

// Prefix matching at every length, IPv4 and IPv6: the packet's address differs from the
// selector's in exactly one bit; it matches the prefixes that stop before that bit, not the others.
TEST(SelectorMatches, EveryPrefixLength) {
  for (const bool v6 : {false, true}) {
    const unsigned width = v6 ? 128 : 32;
    const unsigned off = v6 ? 8 : 12;  // source address in the header
    std::array<uint8_t, 40> pkt{};
    pkt[0] = v6 ? 0x60 : 0x45;
    pkt[9] = 59;  // IPv4: some protocol without ports
    pkt[6] = v6 ? 59 : 0;  // IPv6: no next header
    std::array<uint8_t, 16> base{};
    for (unsigned i = 0; i < 16; ++i) base[i] = static_cast<uint8_t>(0xa5 ^ (i * 37));
    const IpAddress addr = v6 ? IpAddress::v6(base) : IpAddress::v4(uint32_t{base[0]} << 24 | base[1] << 16 | base[2] << 8 | base[3]);
    for (unsigned flip = 0; flip < width; ++flip) {
      std::memcpy(&pkt[off], addr.bytes(), width / 8);
      std::memcpy(&pkt[off + (v6 ? 16 : 4)], addr.bytes(), width / 8);  // destination: the same
      pkt[off + flip / 8] ^= static_cast<uint8_t>(0x80 >> (flip % 8));
      for (unsigned len = 0; len <= width; ++len) {
        TrafficSelector ts;
        ts.src = IpPrefix(addr, static_cast<uint8_t>(len));
        ts.dst = IpPrefix(addr, static_cast<uint8_t>(len));
        EXPECT_EQ(selector_matches(ts, pkt.data(), 40), len <= flip) << (v6 ? "v6" : "v4") << " /" << len << " flip " << flip;
      }
    }
  }
}

// RFC 4301 7.1: non-first fragments carry no ports; they match only selectors whose ports are ANY.
TEST(SelectorMatches, FragmentsAndPorts) {
  const TrafficSelector any = sel({}, {});
  const TrafficSelector dns = sel({}, {53, 53});
  const TrafficSelector from1000 = sel({1000, 1000}, {});
  const auto whole = udp4(0);
  const auto first = udp4(0x2000);         // MF, offset 0: has its ports
  const auto later = udp4(0x2000 | 185);   // MF, offset 1480: bytes 20..23 are payload
  const auto last = udp4(185);
  const auto short_first = udp4(0x2000, 22);  // first fragment too short for both ports
  for (const auto* p : {&whole, &first, &later, &last, &short_first})
    EXPECT_TRUE(selector_matches(any, p->data(), static_cast<uint32_t>(p->size())));
  EXPECT_TRUE(selector_matches(dns, whole.data(), 40));
  EXPECT_TRUE(selector_matches(dns, first.data(), 40));
  EXPECT_TRUE(selector_matches(from1000, first.data(), 40));
  EXPECT_FALSE(selector_matches(dns, later.data(), 40)) << "bytes where the ports would be say 53";
  EXPECT_FALSE(selector_matches(from1000, later.data(), 40));
  EXPECT_FALSE(selector_matches(dns, last.data(), 40));
  EXPECT_FALSE(selector_matches(dns, short_first.data(), 22));
  EXPECT_FALSE(selector_matches(sel({}, {}, 6), later.data(), 40)) << "protocol still checked";
}

/// IPv6 TCP 2001:db8:1::5:1000 -> 2001:db8:2::7:80 behind extension headers `ext` (0 Hop-by-Hop,
/// 43 Routing, 60 Destination Options of 16 bytes, 44 Fragment with offset `frag_offset`, or any
/// other Next Header written as an 8-byte header of that type), RFC 8200 4.3-4.6 layouts.
std::vector<uint8_t> tcp6(const std::vector<uint8_t>& ext, uint16_t frag_offset = 0, uint8_t proto = 6) {
  std::vector<uint8_t> p(40, 0);
  p[0] = 0x60;
  p[7] = 64;
  std::memcpy(&p[8], IpAddress::parse("2001:db8:1::5")->bytes(), 16);
  std::memcpy(&p[24], IpAddress::parse("2001:db8:2::7")->bytes(), 16);
  std::size_t nh_at = 6;
  for (uint8_t type : ext) {
    p[nh_at] = type;
    nh_at = p.size();
    std::vector<uint8_t> h;
    if (type == 60) h = {0, 1, 1, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
    else if (type == 44) h = {0, 0, static_cast<uint8_t>(frag_offset >> 5), static_cast<uint8_t>(frag_offset << 3 | 1), 0, 0, 0, 9};
    else h = {0, 0, 1, 4, 0, 0, 0, 0};  // Hop-by-Hop PadN; Routing with segments left 0
    p.insert(p.end(), h.begin(), h.end());
  }
  p[nh_at] = proto;
  const std::vector<uint8_t> tcp = {0x03, 0xe8, 0x00, 0x50, 0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x02, 0xff, 0xff, 0, 0, 0, 0};
  p.insert(p.end(), tcp.begin(), tcp.end());
  p[4] = static_cast<uint8_t>((p.size() - 40) >> 8);
  p[5] = static_cast<uint8_t>(p.size() - 40);
  return p;
}

TEST(Ipv6UpperLayer, WalksBoundedChains) {
  using S = Ipv6UpperLayer::Status;
  auto walk = [](const std::vector<uint8_t>& p) { return ipv6_upper_layer(p.data(), static_cast<uint32_t>(p.size())); };
  auto u = walk(tcp6({}));
  EXPECT_EQ(u.status, S::kOk);
  EXPECT_EQ(u.proto, 6);
  EXPECT_EQ(u.offset, 40u);
  u = walk(tcp6({0, 43, 60, 44, 60}));
  EXPECT_EQ(u.status, S::kOk);
  EXPECT_EQ(u.proto, 6);
  EXPECT_EQ(u.offset, 40u + 8 + 8 + 16 + 8 + 16);
  // A first fragment has the upper-layer header; a later one has not.
  EXPECT_EQ(walk(tcp6({0, 44}, 0)).status, S::kOk);
  u = walk(tcp6({0, 44}, 100));
  EXPECT_EQ(u.status, S::kLaterFragment);
  EXPECT_EQ(u.proto, 6);
  // ESP and AH end the walk: what follows is not ours to read.
  u = walk(tcp6({0}, 0, 50));
  EXPECT_EQ(u.status, S::kOk);
  EXPECT_EQ(u.proto, 50);
  EXPECT_EQ(u.offset, 48u);
  u = walk(tcp6({60, 51}));  // AH, then (unread) a TCP header
  EXPECT_EQ(u.status, S::kOk);
  EXPECT_EQ(u.proto, 51);
  EXPECT_EQ(u.offset, 56u);
  // Malformed: Hop-by-Hop not first, more than kMaxIpv6ExtHeaders headers, cut short.
  EXPECT_EQ(walk(tcp6({60, 0})).status, S::kMalformed);
  EXPECT_EQ(walk(tcp6(std::vector<uint8_t>(kMaxIpv6ExtHeaders, 43))).status, S::kOk);
  EXPECT_EQ(walk(tcp6(std::vector<uint8_t>(kMaxIpv6ExtHeaders + 1, 43))).status, S::kMalformed);
  auto p = tcp6({0, 60});
  EXPECT_EQ(ipv6_upper_layer(p.data(), 52).status, S::kMalformed);  // inside the Destination Options
  EXPECT_EQ(ipv6_upper_layer(p.data(), 64).status, S::kOk);         // ends right after it: the caller checks the TCP length
  p[49] = 255;  // Destination Options of 2048 bytes
  EXPECT_EQ(walk(p).status, S::kMalformed);
}

TrafficSelector sel6(PortRange sport, PortRange dport, uint8_t proto = 6) {
  TrafficSelector ts;
  ts.src = *IpPrefix::parse("2001:db8:1::/64");
  ts.dst = *IpPrefix::parse("2001:db8:2::/64");
  ts.proto = proto;
  ts.sport = sport;
  ts.dport = dport;
  return ts;
}

// The inbound check of a decapsulated IPv6 packet finds protocol and ports behind its extension
// headers (RFC 4301 5.1.1 / 7.1 for the fragments), and refuses malformed chains.
TEST(SelectorMatches, Ipv6ExtensionHeaders) {
  const TrafficSelector web = sel6({}, {80, 80});
  const TrafficSelector tcp = sel6({}, {});
  const TrafficSelector any = sel6({}, {}, 0);
  auto m = [](const TrafficSelector& ts, const std::vector<uint8_t>& p) {
    return selector_matches(ts, p.data(), static_cast<uint32_t>(p.size()));
  };
  for (const auto& chain : std::vector<std::vector<uint8_t>>{{}, {0}, {43}, {60}, {0, 43, 60}, {0, 44, 60}}) {
    EXPECT_TRUE(m(web, tcp6(chain))) << chain.size();
    EXPECT_TRUE(m(tcp, tcp6(chain))) << chain.size();
  }
  EXPECT_FALSE(m(sel6({}, {81, 81}), tcp6({0, 60})));
  EXPECT_FALSE(m(sel6({}, {}, 17), tcp6({0, 60})));  // TCP, not UDP
  // A later fragment: protocol known, ports not; only port-ANY selectors.
  EXPECT_TRUE(m(tcp, tcp6({44}, 100)));
  EXPECT_FALSE(m(web, tcp6({44}, 100)));
  // A first fragment cut before its ports: refused by a port selector.
  auto first = tcp6({44}, 0);
  first.resize(40 + 8 + 2);
  first[5] = 10;
  EXPECT_TRUE(m(tcp, first));
  EXPECT_FALSE(m(web, first));
  // Malformed chains match nothing, not even "any".
  EXPECT_FALSE(m(any, tcp6({60, 0})));
  EXPECT_FALSE(m(any, tcp6(std::vector<uint8_t>(kMaxIpv6ExtHeaders + 1, 60))));
  auto cut = tcp6({0, 60});
  cut[5] = 12;  // payload length ends inside the Destination Options header
  EXPECT_FALSE(m(any, cut));
}

}  // namespace
}  // namespace esprit
