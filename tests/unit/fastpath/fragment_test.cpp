// MSS clamp (checked against a full checksum recomputation), the ICMP error builder and its
// limits, the rate limiter, and a fragment -> reassemble round trip through rte_ip_frag for IPv4
// and IPv6 (which also pins how Reassembler::add sets l2_len / l3_len for the library).
#include <gtest/gtest.h>

#include <rte_mbuf.h>

#include <cstring>
#include <vector>

#include "dpdk_env.hpp"
#include "esprit/fastpath/esp.hpp"
#include "esprit/fastpath/fragment.hpp"
#include "esprit/fastpath/icmp_error.hpp"

namespace esprit {
namespace {

using Bytes = std::vector<uint8_t>;

uint16_t be16(const uint8_t* p) { return static_cast<uint16_t>(p[0] << 8 | p[1]); }
void put16(uint8_t* p, uint32_t v) {
  p[0] = static_cast<uint8_t>(v >> 8);
  p[1] = static_cast<uint8_t>(v);
}
uint32_t sum(const uint8_t* p, std::size_t n, uint32_t s = 0) {
  for (std::size_t i = 0; i + 1 < n; i += 2) s += be16(p + i);
  if (n & 1) s += uint32_t{p[n - 1]} << 8;
  return s;
}
uint16_t fold(uint32_t s) {
  while (s >> 16) s = (s & 0xffff) + (s >> 16);
  return static_cast<uint16_t>(~s);
}

/// The checksum of the TCP/UDP/ICMPv6 segment at `off` computed from scratch (field zeroed).
uint16_t l4_checksum(Bytes p, std::size_t off, std::size_t csum_at, uint8_t proto) {
  const bool v6 = p[0] >> 4 == 6;
  p[off + csum_at] = p[off + csum_at + 1] = 0;
  const std::size_t seg = p.size() - off;
  uint32_t s = 0;
  if (proto != 1) s = v6 ? sum(p.data() + 8, 32) : sum(p.data() + 12, 8);
  if (proto != 1) s += static_cast<uint32_t>(seg) + proto;
  return fold(sum(p.data() + off, seg, s));
}

Bytes ipv4(uint8_t proto, std::size_t payload, const uint8_t src[4], const uint8_t dst[4], bool df = false) {
  Bytes p(20 + payload, 0);
  p[0] = 0x45;
  put16(&p[2], static_cast<uint32_t>(p.size()));
  put16(&p[4], 0x1234);
  p[6] = df ? 0x40 : 0;
  p[8] = 64;
  p[9] = proto;
  std::memcpy(&p[12], src, 4);
  std::memcpy(&p[16], dst, 4);
  put16(&p[10], fold(sum(p.data(), 20)));
  for (std::size_t i = 20; i < p.size(); ++i) p[i] = static_cast<uint8_t>(i * 7);
  return p;
}

Bytes ipv6(uint8_t nh, std::size_t payload) {
  Bytes p(40 + payload, 0);
  p[0] = 0x60;
  put16(&p[4], static_cast<uint32_t>(payload));
  p[6] = nh;
  p[7] = 64;
  p[8] = 0x20, p[9] = 0x01, p[10] = 0x0d, p[11] = 0xb8, p[23] = 5;
  p[24] = 0x20, p[25] = 0x01, p[26] = 0x0d, p[27] = 0xb8, p[39] = 7;
  for (std::size_t i = 40; i < p.size(); ++i) p[i] = static_cast<uint8_t>(i * 3);
  return p;
}

constexpr uint8_t kHost[4] = {10, 1, 0, 5};
constexpr uint8_t kFar[4] = {10, 2, 0, 7};

/// A TCP SYN with `options` (padded to 4 bytes) in an IPv4 or IPv6 packet, checksum valid.
Bytes syn(const Bytes& options, bool v6 = false, uint8_t flags = 0x02) {
  const std::size_t olen = (options.size() + 3) & ~std::size_t{3};
  Bytes p = v6 ? ipv6(6, 20 + olen) : ipv4(6, 20 + olen, kHost, kFar);
  const std::size_t off = v6 ? 40 : 20;
  std::memset(&p[off], 0, 20 + olen);
  put16(&p[off], 40000);
  put16(&p[off + 2], 80);
  p[off + 12] = static_cast<uint8_t>((20 + olen) / 4 << 4);
  p[off + 13] = flags;
  std::memcpy(&p[off + 20], options.data(), options.size());
  put16(&p[off + 16], l4_checksum(p, off, 16, 6));
  return p;
}

TEST(MssClamp, LowersTheOptionAndKeepsTheChecksumValid) {
  // Aligned (MSS first) and straddling two checksum words (after one NOP).
  for (const Bytes& opts : {Bytes{2, 4, 0x05, 0xb4, 1, 3, 3, 7}, Bytes{1, 2, 4, 0x23, 0x01, 4, 2}}) {
    for (bool v6 : {false, true}) {
      Bytes p = syn(opts, v6);
      const std::size_t off = v6 ? 40 : 20;
      ASSERT_TRUE(clamp_tcp_mss(p.data(), static_cast<uint32_t>(p.size()), 1200));
      const std::size_t at = off + 20 + (opts[0] == 1 ? 3 : 2);
      EXPECT_EQ(be16(&p[at]), 1200);
      EXPECT_EQ(be16(&p[off + 16]), l4_checksum(p, off, 16, 6)) << "v6 " << v6;
    }
  }
}

TEST(MssClamp, LeavesOtherPacketsAlone) {
  Bytes small = syn({2, 4, 0x03, 0xe8});  // 1000 already below
  EXPECT_FALSE(clamp_tcp_mss(small.data(), static_cast<uint32_t>(small.size()), 1200));
  Bytes ack = syn({2, 4, 0x05, 0xb4}, false, 0x10);
  EXPECT_FALSE(clamp_tcp_mss(ack.data(), static_cast<uint32_t>(ack.size()), 1200));
  Bytes bad = syn({3, 0, 2, 4, 0x05, 0xb4});  // an option of length 0: stop, never loop
  EXPECT_FALSE(clamp_tcp_mss(bad.data(), static_cast<uint32_t>(bad.size()), 1200));
  Bytes overrun = syn({2, 40, 0x05, 0xb4});
  EXPECT_FALSE(clamp_tcp_mss(overrun.data(), static_cast<uint32_t>(overrun.size()), 1200));
  Bytes p = syn({2, 4, 0x05, 0xb4});
  EXPECT_FALSE(clamp_tcp_mss(p.data(), 30, 1200));  // truncated TCP header
  put16(&p[6], 0x0010);                             // a non-first fragment
  EXPECT_FALSE(clamp_tcp_mss(p.data(), static_cast<uint32_t>(p.size()), 1200));
  Bytes udp = ipv4(17, 40, kHost, kFar);
  EXPECT_FALSE(clamp_tcp_mss(udp.data(), static_cast<uint32_t>(udp.size()), 1200));
}

TEST(MssClamp, AutoValue) {
  const TcpMssClamp a{TcpMssClamp::Mode::kAuto, 0};
  EXPECT_EQ(clamp_mss_value(a, 1446, false), 1406);
  EXPECT_EQ(clamp_mss_value(a, 1446, true), 1386);
  EXPECT_EQ(clamp_mss_value(a, 0, false), 0);  // path unknown
  EXPECT_EQ(clamp_mss_value(a, 300, false), kMinTcpMss);
  EXPECT_EQ(clamp_mss_value({TcpMssClamp::Mode::kFixed, 1300}, 1446, false), 1300);
  EXPECT_EQ(clamp_mss_value({}, 1446, false), 0);
}

TEST(IcmpError, Limits) {
  Bytes udp = ipv4(17, 40, kHost, kFar);
  EXPECT_TRUE(icmp_error_allowed(udp.data(), static_cast<uint32_t>(udp.size())));
  Bytes frag = udp;
  put16(&frag[6], 0x0020);
  EXPECT_FALSE(icmp_error_allowed(frag.data(), static_cast<uint32_t>(frag.size())));
  const uint8_t mcast[4] = {224, 0, 0, 5}, bcast[4] = {255, 255, 255, 255}, zero[4] = {};
  Bytes m = ipv4(17, 40, mcast, kFar), b = ipv4(17, 40, kHost, bcast), z = ipv4(17, 40, zero, kFar);
  EXPECT_FALSE(icmp_error_allowed(m.data(), static_cast<uint32_t>(m.size())));
  EXPECT_FALSE(icmp_error_allowed(b.data(), static_cast<uint32_t>(b.size())));
  EXPECT_FALSE(icmp_error_allowed(z.data(), static_cast<uint32_t>(z.size())));
  Bytes echo = ipv4(1, 16, kHost, kFar), unreach = echo;
  echo[20] = 8;
  unreach[20] = 3;
  EXPECT_TRUE(icmp_error_allowed(echo.data(), static_cast<uint32_t>(echo.size())));
  EXPECT_FALSE(icmp_error_allowed(unreach.data(), static_cast<uint32_t>(unreach.size())));
  Bytes v6 = ipv6(58, 16), v6err = v6;
  v6[40] = 128;  // echo request
  v6err[40] = 1;
  EXPECT_TRUE(icmp_error_allowed(v6.data(), static_cast<uint32_t>(v6.size())));
  EXPECT_FALSE(icmp_error_allowed(v6err.data(), static_cast<uint32_t>(v6err.size())));
}

TEST(IcmpError, FragmentationNeededV4) {
  test::init_dpdk();
  Bytes p = ipv4(17, 1400, kHost, kFar, true);
  rte_mbuf* out = rte_pktmbuf_alloc(test::mbuf_pool());
  const auto src = *IpAddress::parse("10.1.0.1");
  ASSERT_TRUE(build_icmp_error(out, p.data(), static_cast<uint32_t>(p.size()), IcmpErrorKind::kTooBig, 1446, src, 9));
  const Bytes e = test::mbuf_bytes(out);
  rte_pktmbuf_free(out);
  ASSERT_EQ(e.size(), 20u + 8 + 28);  // RFC 792: the IP header and 64 bits of the datagram
  EXPECT_EQ(fold(sum(e.data(), 20)), 0);
  EXPECT_EQ(e[9], 1);
  EXPECT_EQ(0, std::memcmp(&e[12], src.bytes(), 4));
  EXPECT_EQ(0, std::memcmp(&e[16], kHost, 4));
  EXPECT_EQ(e[20], 3);
  EXPECT_EQ(e[21], 4);
  EXPECT_EQ(be16(&e[26]), 1446);
  EXPECT_EQ(fold(sum(e.data() + 20, e.size() - 20)), 0);
  EXPECT_EQ(0, std::memcmp(&e[28], p.data(), 28));
}

TEST(IcmpError, PacketTooBigV6QuotesUpTo1280) {
  test::init_dpdk();
  Bytes p = ipv6(17, 1460);
  rte_mbuf* out = rte_pktmbuf_alloc(test::mbuf_pool());
  const auto src = *IpAddress::parse("2001:db8:1::1");
  ASSERT_TRUE(build_icmp_error(out, p.data(), static_cast<uint32_t>(p.size()), IcmpErrorKind::kTooBig, 1400, src, 0));
  const Bytes e = test::mbuf_bytes(out);
  rte_pktmbuf_free(out);
  ASSERT_EQ(e.size(), 1280u);  // RFC 4443 2.4 (c)
  EXPECT_EQ(e[6], 58);
  EXPECT_EQ(e[40], 2);
  EXPECT_EQ(be16(&e[46]), 1400);
  EXPECT_EQ(be16(&e[42]), l4_checksum(e, 40, 2, 58));
  EXPECT_EQ(0, std::memcmp(&e[24], &p[8], 16));
  // Time exceeded for IPv4 is type 11 code 0.
  Bytes v4 = ipv4(17, 100, kHost, kFar);
  out = rte_pktmbuf_alloc(test::mbuf_pool());
  ASSERT_TRUE(build_icmp_error(out, v4.data(), static_cast<uint32_t>(v4.size()), IcmpErrorKind::kTimeExceeded, 0,
                               *IpAddress::parse("10.1.0.1"), 0));
  EXPECT_EQ(rte_pktmbuf_mtod(out, uint8_t*)[20], 11);
  rte_pktmbuf_free(out);
  out = rte_pktmbuf_alloc(test::mbuf_pool());
  EXPECT_FALSE(build_icmp_error(out, v4.data(), static_cast<uint32_t>(v4.size()), IcmpErrorKind::kTimeExceeded, 0,
                                src, 0))
      << "family of the source must match";
  rte_pktmbuf_free(out);
}

TEST(IcmpRateLimiter, BurstThenRate) {
  using namespace std::chrono;
  IcmpRateLimiter l(100, 10);
  const nanoseconds t0 = seconds(1000);
  int n = 0;
  for (int i = 0; i < 50; ++i) n += l.allow(t0);
  EXPECT_EQ(n, 10);
  EXPECT_FALSE(l.allow(t0 + milliseconds(5)));
  EXPECT_TRUE(l.allow(t0 + milliseconds(11)));  // one token per 10 ms
  n = 0;
  for (int i = 0; i < 50; ++i) n += l.allow(t0 + seconds(10));
  EXPECT_EQ(n, 10);  // never more than the burst
}

std::unique_ptr<EspSa> sa(EncrAlg encr, std::size_t key, IntegAlg integ, std::size_t ikey, bool natt, DfMode df,
                          const char* local = "192.0.2.1", const char* remote = "192.0.2.2") {
  SaDescriptor d;
  d.spi = 0x100;
  d.local = *IpAddress::parse(local);
  d.remote = *IpAddress::parse(remote);
  d.encr = encr;
  d.encr_key = SecretBytes(Bytes(key, 7));
  d.integ = integ;
  d.integ_key = SecretBytes(Bytes(ikey, 9));
  if (natt) d.natt = NatTraversal{};
  d.df = df;
  std::string err;
  auto s = EspSa::create(d, &err);
  EXPECT_TRUE(s) << err;
  return s;
}

TEST(EspPath, LargestInnerPacket) {
  // AES-GCM-16: 20 + 8 + 8 bytes in front, 16 ICV, payload + 2 aligned to 4: (1500 - 52) - 2.
  auto gcm = sa(EncrAlg::kAesGcm16_128, 20, IntegAlg::kNone, 0, false, DfMode::kCopy);
  EXPECT_EQ(gcm->max_inner_len(1500), 1446u);
  EXPECT_EQ(sa(EncrAlg::kAesGcm16_128, 20, IntegAlg::kNone, 0, true, DfMode::kCopy)->max_inner_len(1500), 1438u);
  // AES-CBC + HMAC-SHA1-96: 20 + 8 + 16 in front, 12 ICV, aligned to 16: 1444 -> 1440, - 2.
  EXPECT_EQ(sa(EncrAlg::kAesCbc128, 16, IntegAlg::kHmacSha1_96, 20, false, DfMode::kCopy)->max_inner_len(1500), 1438u);
  EXPECT_EQ(gcm->max_inner_len(40), 0u);
  EXPECT_TRUE(gcm->outer_df(true));
  EXPECT_FALSE(gcm->outer_df(false));
  EXPECT_TRUE(sa(EncrAlg::kAesGcm16_128, 20, IntegAlg::kNone, 0, false, DfMode::kSet)->outer_df(false));
  EXPECT_FALSE(sa(EncrAlg::kAesGcm16_128, 20, IntegAlg::kNone, 0, false, DfMode::kClear)->outer_df(true));
  EXPECT_FALSE(sa(EncrAlg::kAesGcm16_128, 20, IntegAlg::kNone, 0, false, DfMode::kCopy, "2001:db8::1", "2001:db8::2")
                   ->outer_df(true));  // an IPv6 outer header has no DF
}

rte_mempool* indirect_pool() {
  static rte_mempool* p = rte_pktmbuf_pool_create("frag_test_ind", 1023, 0, 0, 0, SOCKET_ID_ANY);
  return p;
}

void roundtrip(const Bytes& packet, uint16_t mtu, std::size_t expect_frags) {
  test::init_dpdk();
  rte_mbuf* m = test::make_mbuf(packet);
  rte_mbuf* frags[kMaxFragments];
  const uint16_t k = fragment_packet(m, mtu, frags, kMaxFragments, test::mbuf_pool(), indirect_pool(), 0xabcd);
  ASSERT_EQ(k, expect_frags);
  std::string err;
  auto r = Reassembler::create({}, SOCKET_ID_ANY, &err);
  ASSERT_TRUE(r) << err;
  const bool v6 = packet[0] >> 4 == 6;
  rte_mbuf* whole = nullptr;
  const auto now = std::chrono::seconds(5);
  for (uint16_t i = k; i-- > 0;) {  // last first: order does not matter
    EXPECT_LE(frags[i]->pkt_len, mtu);
    if (v6) {
      EXPECT_EQ(rte_pktmbuf_mtod(frags[i], uint8_t*)[6], 44);
      EXPECT_EQ(be16(rte_pktmbuf_mtod(frags[i], uint8_t*) + 46), 0xabcd);
    } else {
      EXPECT_EQ(fold(sum(rte_pktmbuf_mtod(frags[i], uint8_t*), 20)), 0);
    }
    auto* eth = reinterpret_cast<uint8_t*>(rte_pktmbuf_prepend(frags[i], 14));
    ASSERT_NE(eth, nullptr);
    std::memset(eth, 0, 14);
    eth[12] = v6 ? 0x86 : 0x08;
    eth[13] = v6 ? 0xdd : 0x00;
    const auto res = r->add(frags[i], v6, v6 ? 48 : 20, now);
    EXPECT_EQ(res.dropped, 0u);
    if (res.packet) whole = res.packet;
  }
  ASSERT_NE(whole, nullptr);
  ASSERT_EQ(rte_pktmbuf_linearize(whole), 0);
  rte_pktmbuf_adj(whole, 14);
  EXPECT_EQ(test::mbuf_bytes(whole), packet);
  rte_pktmbuf_free(whole);
  EXPECT_EQ(r->expire(now), 0u);
}

TEST(Fragment, Ipv4RoundTrip) { roundtrip(ipv4(17, 1780, kHost, kFar), 1500, 2); }
TEST(Fragment, Ipv6RoundTrip) { roundtrip(ipv6(50, 1800), 1280, 2); }

TEST(Fragment, RefusesDfAndTimesOut) {
  test::init_dpdk();
  rte_mbuf* m = test::make_mbuf(ipv4(17, 1780, kHost, kFar, true));
  rte_mbuf* frags[kMaxFragments];
  EXPECT_EQ(fragment_packet(m, 1500, frags, kMaxFragments, test::mbuf_pool(), indirect_pool(), 0), 0);
  rte_pktmbuf_free(m);
  // A lone first fragment is given up after the timeout.
  m = test::make_mbuf(ipv4(17, 1780, kHost, kFar));
  ASSERT_EQ(fragment_packet(m, 1500, frags, kMaxFragments, test::mbuf_pool(), indirect_pool(), 0), 2);
  rte_pktmbuf_free(frags[1]);
  auto r = Reassembler::create({16, std::chrono::seconds(1)}, SOCKET_ID_ANY, nullptr);
  ASSERT_TRUE(r);
  ASSERT_NE(rte_pktmbuf_prepend(frags[0], 14), nullptr);
  EXPECT_EQ(r->add(frags[0], false, 20, std::chrono::seconds(10)).packet, nullptr);
  EXPECT_EQ(r->expire(std::chrono::milliseconds(10500)), 0u);
  EXPECT_EQ(r->expire(std::chrono::seconds(12)), 1u);
}

/// Fragments `packet` to `mtu` and prepends a zero Ethernet header to each fragment. The headers
/// come from mbufs of 256 data bytes, so the reassembled chain cannot be linearized in place.
std::vector<rte_mbuf*> fragments_with_l2(const Bytes& packet, uint16_t mtu) {
  static rte_mempool* small = rte_pktmbuf_pool_create("frag_test_small", 255, 0, 0, RTE_PKTMBUF_HEADROOM + 256, SOCKET_ID_ANY);
  rte_mbuf* m = test::make_mbuf(packet);
  rte_mbuf* frags[kMaxFragments];
  const uint16_t k = fragment_packet(m, mtu, frags, kMaxFragments, small, indirect_pool(), 0x77);
  EXPECT_GT(k, 0);
  std::vector<rte_mbuf*> out(frags, frags + k);
  for (rte_mbuf* f : out) {
    auto* eth = reinterpret_cast<uint8_t*>(rte_pktmbuf_prepend(f, 14));
    EXPECT_NE(eth, nullptr);
    std::memset(eth, 0, 14);
    eth[12] = 0x08;
  }
  return out;
}

// [fragmentation] reassembly_fragments below rte_ip_frag's 8: the fragments past the limit are
// refused (dropped, counted by the caller) and the packet never completes; at the limit it does.
TEST(Fragment, MaxFragmentsHonoured) {
  test::init_dpdk();
  const Bytes packet = ipv4(50, 1700, kFar, kHost);  // 4 fragments at MTU 500
  const auto now = std::chrono::seconds(5);
  {
    auto r = Reassembler::create({16, std::chrono::seconds(1), 3}, SOCKET_ID_ANY, nullptr);
    ASSERT_TRUE(r);
    auto frags = fragments_with_l2(packet, 500);
    ASSERT_EQ(frags.size(), 4u);
    uint32_t dropped = 0;
    for (rte_mbuf* f : frags) {
      const auto res = r->add(f, false, 20, now);
      EXPECT_EQ(res.packet, nullptr);
      dropped += res.dropped;
    }
    EXPECT_EQ(dropped, 1u);
    EXPECT_EQ(r->expire(std::chrono::seconds(7)), 3u);  // the three it held, at the timeout
  }
  auto r = Reassembler::create({16, std::chrono::seconds(1), 4}, SOCKET_ID_ANY, nullptr);
  ASSERT_TRUE(r);
  rte_mbuf* whole = nullptr;
  for (int round = 0; round < 2; ++round) {  // the count is per packet: a second one completes too
    for (rte_mbuf* f : fragments_with_l2(packet, 500)) {
      const auto res = r->add(f, false, 20, now);
      EXPECT_EQ(res.dropped, 0u);
      if (res.packet) whole = res.packet;
    }
    ASSERT_NE(whole, nullptr);
    if (round == 0) {
      rte_pktmbuf_free(whole);
      whole = nullptr;
    }
  }
  // 1734 bytes in a chain whose first mbuf has 256 bytes of room: copied into one big mbuf.
  ASSERT_GT(whole->nb_segs, 1);
  EXPECT_EQ(make_contiguous(whole, nullptr), nullptr);  // no big pool: refused, chain untouched
  ASSERT_GT(whole->nb_segs, 1);
  static rte_mempool* big = rte_pktmbuf_pool_create("frag_test_big", 15, 0, 0, 8192, SOCKET_ID_ANY);
  ASSERT_NE(big, nullptr);
  rte_mbuf* one = make_contiguous(whole, big);
  ASSERT_NE(one, nullptr);
  EXPECT_EQ(one->nb_segs, 1);
  EXPECT_EQ(one->pool, big);
  rte_pktmbuf_adj(one, 14);
  EXPECT_EQ(test::mbuf_bytes(one), packet);
  rte_pktmbuf_free(one);
  EXPECT_EQ(rte_mempool_avail_count(big), 15u);
}

}  // namespace
}  // namespace esprit
