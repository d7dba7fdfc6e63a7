// Every drop reason the ESP engine can give, the padding and next-header rules, RFC 6040 ECN,
// DSCP/DF handling, lifetimes and sequence-number exhaustion.
//
// Packets with hand-made trailers are authenticated with OpenSSL's HMAC (NULL encryption,
// RFC 2410), so they pass the ICV check and reach the checks that follow it.
#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <rte_mbuf.h>
#include <rte_ring.h>

#include <cstring>

#include "dpdk_env.hpp"
#include "esprit/fastpath/control_wake.hpp"
#include "esprit/fastpath/esp.hpp"

namespace esprit {
namespace {

using test::make_mbuf;
using test::mbuf_bytes;

constexpr uint32_t kSpi = 0x2000beef;
const std::vector<uint8_t> kIntegKey(32, 0x42);

SaDescriptor null_sha256(SaDirection dir, SaMode mode = SaMode::kTunnel) {
  SaDescriptor d;
  d.spi = kSpi;
  d.direction = dir;
  d.mode = mode;
  d.local = *IpAddress::parse(dir == SaDirection::kOutbound ? "192.0.2.1" : "192.0.2.2");
  d.remote = *IpAddress::parse(dir == SaDirection::kOutbound ? "192.0.2.2" : "192.0.2.1");
  d.encr = EncrAlg::kNull;
  d.integ = IntegAlg::kHmacSha256_128;
  d.integ_key = SecretBytes(kIntegKey);
  return d;
}

std::vector<uint8_t> ipv4_header(uint16_t total, uint8_t proto, uint8_t tos = 0, uint16_t frag = 0) {
  std::vector<uint8_t> h = {0x45, tos, static_cast<uint8_t>(total >> 8), static_cast<uint8_t>(total), 0, 0,
                            static_cast<uint8_t>(frag >> 8), static_cast<uint8_t>(frag), 64, proto, 0, 0,
                            192, 0, 2, 1, 192, 0, 2, 2};
  uint32_t s = 0;
  for (int i = 0; i < 20; i += 2) s += h[i] << 8 | h[i + 1];
  while (s >> 16) s = (s & 0xffff) + (s >> 16);
  h[10] = static_cast<uint8_t>(~s >> 8);
  h[11] = static_cast<uint8_t>(~s);
  return h;
}

/// An inner IPv4 packet with `payload` bytes.
std::vector<uint8_t> inner_v4(std::size_t payload, uint8_t tos = 0, bool df = false) {
  auto p = ipv4_header(static_cast<uint16_t>(20 + payload), 17, tos, df ? 0x4000 : 0);
  for (std::size_t i = 0; i < payload; ++i) p.push_back(static_cast<uint8_t>(i));
  return p;
}

/// Outer IPv4 + ESP(NULL) over `plaintext` (which must already end with pad, pad length, next
/// header), with a correct HMAC-SHA-256-128 ICV computed by OpenSSL.
std::vector<uint8_t> craft(uint32_t seq, const std::vector<uint8_t>& plaintext, uint8_t outer_tos = 0) {
  std::vector<uint8_t> esp = {kSpi >> 24, (kSpi >> 16) & 0xff, (kSpi >> 8) & 0xff, kSpi & 0xff,
                              static_cast<uint8_t>(seq >> 24), static_cast<uint8_t>(seq >> 16),
                              static_cast<uint8_t>(seq >> 8), static_cast<uint8_t>(seq)};
  esp.insert(esp.end(), plaintext.begin(), plaintext.end());
  uint8_t mac[32];
  unsigned mac_len = 0;
  HMAC(EVP_sha256(), kIntegKey.data(), static_cast<int>(kIntegKey.size()), esp.data(), esp.size(), mac, &mac_len);
  esp.insert(esp.end(), mac, mac + 16);
  auto pkt = ipv4_header(static_cast<uint16_t>(20 + esp.size()), 50, outer_tos);
  pkt.insert(pkt.end(), esp.begin(), esp.end());
  return pkt;
}

/// Plaintext = inner + RFC 4303 padding to 4 bytes + pad length + next header.
std::vector<uint8_t> with_trailer(std::vector<uint8_t> inner, uint8_t nh, int extra_pad = 0) {
  std::size_t pad = (4 - (inner.size() + 2) % 4) % 4 + extra_pad;
  for (std::size_t i = 1; i <= pad; ++i) inner.push_back(static_cast<uint8_t>(i));
  inner.push_back(static_cast<uint8_t>(pad));
  inner.push_back(nh);
  return inner;
}

class EspDrops : public ::testing::Test {
 protected:
  void SetUp() override {
    test::init_dpdk();
    std::string err;
    worker = EspWorker::create(nullptr, &err);
    ASSERT_TRUE(worker) << err;
    in = EspSa::create(null_sha256(SaDirection::kInbound), &err);
    ASSERT_TRUE(in) << err;
  }
  /// Decaps one packet; returns the output bytes (empty on drop) and leaves the counters.
  std::vector<uint8_t> decap_one(const std::vector<uint8_t>& bytes, EspSa* sa = nullptr) {
    rte_mbuf* m = make_mbuf(bytes);
    rte_mbuf* arr[1] = {m};
    const uint16_t ok = decap_burst(*worker, sa ? *sa : *in, arr, ctr);
    std::vector<uint8_t> out = ok ? mbuf_bytes(m) : std::vector<uint8_t>{};
    rte_pktmbuf_free(m);
    return out;
  }
  std::unique_ptr<EspWorker> worker;
  std::unique_ptr<EspSa> in;
  SaCounters ctr;
};

TEST_F(EspDrops, CraftedPacketIsAccepted) {
  const auto inner = inner_v4(33);
  EXPECT_EQ(decap_one(craft(1, with_trailer(inner, 4))), inner);
  EXPECT_EQ(ctr.packets, 1u);
  EXPECT_EQ(ctr.bytes, inner.size());
}

TEST_F(EspDrops, PaddingMayBeLongerThanNeeded) {
  const auto inner = inner_v4(32);
  EXPECT_EQ(decap_one(craft(1, with_trailer(inner, 4, 8))), inner);  // RFC 4303 2.4: up to 255 bytes
}

TEST_F(EspDrops, PaddingBytesMustCount123) {
  auto pt = with_trailer(inner_v4(32), 4, 4);
  pt[pt.size() - 4] ^= 0x80;  // a padding byte, not the pad length
  EXPECT_TRUE(decap_one(craft(1, pt)).empty());
  EXPECT_EQ(ctr.drop(DropReason::kBadPadding), 1u);
}

// Every pad length from 0 to 40 (the word-wise check up to 16, memcmp beyond): accepted as sent,
// dropped when its first, middle or last padding byte is wrong.
TEST_F(EspDrops, EveryPadLengthIsChecked) {
  uint32_t seq = 1;
  uint64_t bad = 0;
  std::vector<bool> seen(41);
  for (std::size_t payload = 30; payload < 34; ++payload) {
    const auto inner = inner_v4(payload);
    for (int extra = 0; extra <= 40; extra += 4) {
      const auto pt = with_trailer(inner, 4, extra);
      const unsigned pad = pt[pt.size() - 2];
      if (pad > 40) continue;
      seen[pad] = true;
      EXPECT_EQ(decap_one(craft(seq++, pt)), inner) << "pad " << pad;
      if (pad == 0) continue;
      const std::size_t first = pt.size() - 2 - pad;
      for (const std::size_t at : {first, first + (pad - 1) / 2, first + pad - 1}) {
        auto broken = pt;
        broken[at] ^= 0x10;
        EXPECT_TRUE(decap_one(craft(seq++, broken)).empty()) << "pad " << pad << " byte " << at - first;
        EXPECT_EQ(ctr.drop(DropReason::kBadPadding), ++bad);
      }
    }
  }
  for (unsigned pad = 0; pad <= 40; ++pad) EXPECT_TRUE(seen[pad]) << "pad " << pad << " not covered";
}

TEST_F(EspDrops, PadLengthBeyondThePayload) {
  auto pt = with_trailer(inner_v4(32), 4);
  pt[pt.size() - 2] = 200;
  EXPECT_TRUE(decap_one(craft(1, pt)).empty());
  EXPECT_EQ(ctr.drop(DropReason::kBadPadding), 1u);
}

TEST_F(EspDrops, NextHeaderRulesInTunnelMode) {
  EXPECT_TRUE(decap_one(craft(1, with_trailer(inner_v4(32), 59))).empty());  // dummy (RFC 4303 2.6)
  EXPECT_EQ(ctr.drop(DropReason::kDummyPacket), 1u);
  EXPECT_TRUE(decap_one(craft(2, with_trailer(inner_v4(32), 6))).empty());  // TCP is not a tunnel payload
  EXPECT_EQ(ctr.drop(DropReason::kBadNextHeader), 1u);
  EXPECT_TRUE(decap_one(craft(3, with_trailer(inner_v4(32), 41))).empty());  // says IPv6, carries IPv4
  EXPECT_EQ(ctr.drop(DropReason::kBadInner), 1u);
}

TEST_F(EspDrops, InnerLengthSanity) {
  auto inner = inner_v4(32);
  inner[2] = 0x10;  // total length 4096 > what was carried
  EXPECT_TRUE(decap_one(craft(1, with_trailer(inner, 4))).empty());
  EXPECT_EQ(ctr.drop(DropReason::kBadInner), 1u);
}

TEST_F(EspDrops, TfcPaddingAfterTheInnerPacketIsCut) {
  const auto inner = inner_v4(20);
  auto padded = inner;
  padded.resize(inner.size() + 24, 0xee);  // RFC 4303 2.7 traffic flow confidentiality padding
  EXPECT_EQ(decap_one(craft(1, with_trailer(padded, 4))), inner);
}

TEST_F(EspDrops, ReplayAndWindow) {
  const auto pt = with_trailer(inner_v4(8), 4);
  EXPECT_FALSE(decap_one(craft(100, pt)).empty());
  EXPECT_TRUE(decap_one(craft(100, pt)).empty());
  EXPECT_EQ(ctr.drop(DropReason::kReplay), 1u);
  EXPECT_TRUE(decap_one(craft(100 - 64, pt)).empty());
  EXPECT_EQ(ctr.drop(DropReason::kTooOld), 1u);
  EXPECT_FALSE(decap_one(craft(100 - 63, pt)).empty());
}

TEST_F(EspDrops, ReplayInsideOneBurst) {
  const auto bytes = craft(7, with_trailer(inner_v4(8), 4));
  rte_mbuf* arr[3] = {make_mbuf(bytes), make_mbuf(bytes), make_mbuf(craft(8, with_trailer(inner_v4(8), 4)))};
  rte_mbuf* second = arr[1];
  EXPECT_EQ(decap_burst(*worker, *in, arr, ctr), 2u);
  EXPECT_EQ(arr[2], second);  // the failed one is moved behind the good ones and still ours
  EXPECT_EQ(ctr.drop(DropReason::kReplay), 1u);
  for (rte_mbuf* m : arr) rte_pktmbuf_free(m);
}

TEST_F(EspDrops, FailuresInsideABurstKeepOrder) {
  // Early failures (before crypto) and late ones (after) mixed in one burst of 70 (two batches).
  std::vector<rte_mbuf*> pkts;
  std::vector<std::vector<uint8_t>> expect;
  for (uint32_t i = 0; i < 70; ++i) {
    const auto inner = inner_v4(i % 9);
    auto bytes = craft(i + 1, with_trailer(inner, 4));
    if (i % 5 == 1) bytes[23] ^= 0xff;       // bad SPI: fails in the prepare pass
    else if (i % 5 == 3) bytes[40] ^= 0x01;  // ICV: fails after the crypto batch
    else expect.push_back(inner);
    pkts.push_back(make_mbuf(bytes));
  }
  const uint16_t ok = decap_burst(*worker, *in, pkts, ctr);
  ASSERT_EQ(ok, expect.size());
  for (std::size_t i = 0; i < ok; ++i) EXPECT_EQ(mbuf_bytes(pkts[i]), expect[i]) << i;
  EXPECT_EQ(ctr.drop(DropReason::kBadSpi), 14u);
  EXPECT_EQ(ctr.drop(DropReason::kIcvFail), 14u);
  for (rte_mbuf* m : pkts) rte_pktmbuf_free(m);
}

// Inbound SAs count too: a burst that would pass the hard limit delivers only what fits.
TEST_F(EspDrops, InboundHardLimitStopsInsideABurst) {
  std::string err;
  auto d = null_sha256(SaDirection::kInbound);
  d.hard.packets = 3;
  auto sa = EspSa::create(d, &err);
  ASSERT_TRUE(sa) << err;
  std::vector<rte_mbuf*> pkts;
  for (uint32_t seq = 1; seq <= 5; ++seq) pkts.push_back(make_mbuf(craft(seq, with_trailer(inner_v4(8), 4))));
  EXPECT_EQ(decap_burst(*worker, *sa, pkts, ctr), 3);
  EXPECT_EQ(sa->lifetime_packets(), 3u);
  EXPECT_EQ(ctr.drop(DropReason::kLifetimeExpired), 2u);
  EXPECT_TRUE(sa->hard_expired());
  for (rte_mbuf* m : pkts) rte_pktmbuf_free(m);
}

TEST_F(EspDrops, IcvFailureDoesNotMoveTheWindow) {
  auto bytes = craft(50, with_trailer(inner_v4(8), 4));
  bytes[30] ^= 1;
  EXPECT_TRUE(decap_one(bytes).empty());
  EXPECT_EQ(ctr.drop(DropReason::kIcvFail), 1u);
  EXPECT_EQ(in->sequence(), 0u);
  EXPECT_FALSE(decap_one(craft(50, with_trailer(inner_v4(8), 4))).empty());
}

TEST_F(EspDrops, EveryIcvByteIsCompared) {
  uint32_t seq = 1;
  const auto inner = inner_v4(20);
  for (unsigned k = 1; k <= 16; ++k) {
    auto bytes = craft(seq++, with_trailer(inner, 4));
    bytes[bytes.size() - k] ^= 0x80;
    EXPECT_TRUE(decap_one(bytes).empty()) << "ICV byte " << 16 - k;
    EXPECT_EQ(ctr.drop(DropReason::kIcvFail), k);
  }
  EXPECT_EQ(decap_one(craft(seq, with_trailer(inner, 4))), inner);
}

TEST_F(EspDrops, IcvFailureLeavesNoPlaintext) {
  auto bytes = craft(60, with_trailer(inner_v4(40), 4));
  bytes.back() ^= 1;  // the ICV itself
  rte_mbuf* m = make_mbuf(bytes);
  rte_mbuf* arr[1] = {m};
  ASSERT_EQ(decap_burst(*worker, *in, arr, ctr), 0u);
  const auto after = mbuf_bytes(m);
  ASSERT_EQ(after.size(), bytes.size());
  for (std::size_t i = 28; i < after.size() - 16; ++i) ASSERT_EQ(after[i], 0) << i;  // payload wiped
  rte_pktmbuf_free(m);
}

TEST_F(EspDrops, HeaderLevelDrops) {
  const auto good = craft(1, with_trailer(inner_v4(8), 4));
  auto bad_spi = good;
  bad_spi[23] ^= 1;
  EXPECT_TRUE(decap_one(bad_spi).empty());
  EXPECT_EQ(ctr.drop(DropReason::kBadSpi), 1u);

  auto short_pkt = std::vector<uint8_t>(good.begin(), good.begin() + 40);
  short_pkt[3] = 40;
  EXPECT_TRUE(decap_one(short_pkt).empty());
  EXPECT_EQ(ctr.drop(DropReason::kShortPacket), 1u);

  auto frag = good;
  frag[6] = 0x20;  // MF
  EXPECT_TRUE(decap_one(frag).empty());
  EXPECT_EQ(ctr.drop(DropReason::kFragment), 1u);

  auto udp = good;
  udp[9] = 17;
  EXPECT_TRUE(decap_one(udp).empty());
  EXPECT_EQ(ctr.drop(DropReason::kEncapMismatch), 1u);

  auto truncated = good;
  truncated[3] = static_cast<uint8_t>(truncated[3] + 4);  // IP length beyond the buffer
  EXPECT_TRUE(decap_one(truncated).empty());
  EXPECT_EQ(ctr.drop(DropReason::kBadOuterHeader), 1u);
}

TEST_F(EspDrops, CiphertextMustBeBlockAligned) {
  std::string err;
  SaDescriptor d = null_sha256(SaDirection::kInbound);
  d.encr = EncrAlg::kAesCbc128;
  d.encr_key = SecretBytes(std::vector<uint8_t>(16, 3));
  auto cbc = EspSa::create(d, &err);
  ASSERT_TRUE(cbc) << err;
  // 16-byte IV + 20 bytes of "ciphertext" + 16-byte ICV: 20 is not a multiple of the AES block.
  std::vector<uint8_t> esp = {0x20, 0x00, 0xbe, 0xef, 0, 0, 0, 1};
  esp.resize(8 + 16 + 20 + 16, 0xab);
  auto pkt = ipv4_header(static_cast<uint16_t>(20 + esp.size()), 50);
  pkt.insert(pkt.end(), esp.begin(), esp.end());
  EXPECT_TRUE(decap_one(pkt, cbc.get()).empty());
  EXPECT_EQ(ctr.drop(DropReason::kBadLength), 1u);
}

TEST_F(EspDrops, Rfc6040EcnOnDecap) {
  struct Case {
    uint8_t inner, outer;
    int expect;  // -1 = drop
  } cases[] = {{0, 0, 0}, {0, 1, 0}, {0, 2, 0}, {0, 3, -1}, {2, 1, 1}, {2, 3, 3},
               {1, 3, 3}, {1, 2, 1}, {3, 0, 3}, {2, 0, 2}};
  uint32_t seq = 1;
  for (const Case& c : cases) {
    const auto inner = inner_v4(16, static_cast<uint8_t>(0xb8 | c.inner));
    const auto out = decap_one(craft(seq++, with_trailer(inner, 4), static_cast<uint8_t>(c.outer)));
    if (c.expect < 0) {
      EXPECT_TRUE(out.empty());
      continue;
    }
    ASSERT_FALSE(out.empty()) << int(c.inner) << "/" << int(c.outer);
    EXPECT_EQ(out[1], 0xb8 | c.expect) << int(c.inner) << "/" << int(c.outer);  // DSCP kept
    uint32_t s = 0;
    for (int i = 0; i < 20; i += 2) s += out[i] << 8 | out[i + 1];
    while (s >> 16) s = (s & 0xffff) + (s >> 16);
    EXPECT_EQ(s, 0xffffu) << "inner IPv4 checksum after ECN update";
  }
  EXPECT_EQ(ctr.drop(DropReason::kEcnDrop), 1u);
}

class EspEncapOptions : public ::testing::Test {
 protected:
  void SetUp() override {
    test::init_dpdk();
    std::string err;
    worker = EspWorker::create(ring(), &err);
    ASSERT_TRUE(worker) << err;
  }
  static rte_ring* ring() {
    static rte_ring* r = [] {
      test::init_dpdk();
      return rte_ring_create_elem("esp_events", sizeof(SaEvent), 64, 0, RING_F_SP_ENQ | RING_F_SC_DEQ);
    }();
    return r;
  }
  std::vector<SaEvent> drain_events() {
    std::vector<SaEvent> ev;
    SaEvent e;
    while (rte_ring_dequeue_elem(ring(), &e, sizeof(e)) == 0) ev.push_back(e);
    return ev;
  }
  std::vector<uint8_t> encap_one(EspSa& sa, const std::vector<uint8_t>& bytes) {
    rte_mbuf* m = make_mbuf(bytes);
    rte_mbuf* arr[1] = {m};
    const uint16_t ok = encap_burst(*worker, sa, arr, ctr);
    std::vector<uint8_t> out = ok ? mbuf_bytes(m) : std::vector<uint8_t>{};
    rte_pktmbuf_free(m);
    return out;
  }
  std::unique_ptr<EspWorker> worker;
  SaCounters ctr;
};

TEST_F(EspEncapOptions, OuterHeaderFromTemplate) {
  std::string err;
  auto d = null_sha256(SaDirection::kOutbound);
  d.ttl = 17;
  auto sa = EspSa::create(d, &err);
  ASSERT_TRUE(sa) << err;
  const auto out = encap_one(*sa, inner_v4(31, 0xb9, true));
  ASSERT_FALSE(out.empty());
  EXPECT_EQ(out[1], 0xb9);     // DSCP and ECN copied (RFC 6040 normal mode)
  EXPECT_EQ(out[6] & 0x40, 0x40);  // DF copied
  EXPECT_EQ(out[8], 17);
  EXPECT_EQ(out[9], 50);
  EXPECT_EQ(out.size(), static_cast<std::size_t>(out[2] << 8 | out[3]));
  uint32_t s = 0;
  for (int i = 0; i < 20; i += 2) s += out[i] << 8 | out[i + 1];
  while (s >> 16) s = (s & 0xffff) + (s >> 16);
  EXPECT_EQ(s, 0xffffu);
  // ESP payload: inner (51) + 3 padding bytes 1, 2, 3 + pad length + next header; 16-byte ICV.
  ASSERT_EQ(out.size(), 20u + 8 + 51 + 3 + 2 + 16);
  EXPECT_EQ(out[28 + 51], 1);
  EXPECT_EQ(out[28 + 53], 3);
  EXPECT_EQ(out[28 + 54], 3);  // pad length
  EXPECT_EQ(out[28 + 55], 4);  // next header: IPv4
}

TEST_F(EspEncapOptions, DscpSetEcnOffDfClear) {
  std::string err;
  auto d = null_sha256(SaDirection::kOutbound);
  d.dscp_mode = DscpMode::kSet;
  d.dscp = 46;
  d.ecn = false;
  d.df = DfMode::kClear;
  auto sa = EspSa::create(d, &err);
  ASSERT_TRUE(sa) << err;
  const auto out = encap_one(*sa, inner_v4(30, 0x03, true));
  ASSERT_FALSE(out.empty());
  EXPECT_EQ(out[1], 46 << 2);  // EF, outer Not-ECT
  EXPECT_EQ(out[6] & 0x40, 0);
}

// Every DSCP / ECN / DF mode against inner packets with and without DF, and the outer checksum.
TEST_F(EspEncapOptions, TosAndDfModes) {
  struct Case {
    DscpMode dscp_mode;
    bool ecn;
    DfMode df;
    uint8_t inner_tos;
    bool inner_df;
    uint8_t outer_tos;
    bool outer_df;
  };
  const Case cases[] = {
      {DscpMode::kCopy, true, DfMode::kCopy, 0xb9, false, 0xb9, false},
      {DscpMode::kCopy, false, DfMode::kCopy, 0xb9, true, 0xb8, true},   // ECN compatibility mode
      {DscpMode::kSet, true, DfMode::kSet, 0xb9, false, 10 << 2 | 1, true},  // ECN copied under a set DSCP
      {DscpMode::kSet, false, DfMode::kSet, 0x03, true, 10 << 2, true},
      {DscpMode::kCopy, true, DfMode::kClear, 0x02, true, 0x02, false},
  };
  for (const Case& c : cases) {
    std::string err;
    auto d = null_sha256(SaDirection::kOutbound);
    d.dscp_mode = c.dscp_mode;
    d.dscp = 10;
    d.ecn = c.ecn;
    d.df = c.df;
    auto sa = EspSa::create(d, &err);
    ASSERT_TRUE(sa) << err;
    const auto out = encap_one(*sa, inner_v4(30, c.inner_tos, c.inner_df));
    ASSERT_FALSE(out.empty());
    EXPECT_EQ(out[1], c.outer_tos) << int(c.inner_tos);
    EXPECT_EQ((out[6] & 0x40) != 0, c.outer_df);
    EXPECT_EQ(out[6] & 0xbf, 0);  // never a fragment
    EXPECT_EQ(out[7], 0);
    EXPECT_EQ(sa->outer_df(c.inner_df), c.outer_df);
    uint32_t s = 0;
    for (int i = 0; i < 20; i += 2) s += out[i] << 8 | out[i + 1];
    while (s >> 16) s = (s & 0xffff) + (s >> 16);
    EXPECT_EQ(s, 0xffffu);
  }
}

TEST_F(EspEncapOptions, NatTUdpHeader) {
  std::string err;
  auto d = null_sha256(SaDirection::kOutbound);
  d.natt = NatTraversal{4500, 31337};
  auto sa = EspSa::create(d, &err);
  ASSERT_TRUE(sa) << err;
  const auto out = encap_one(*sa, inner_v4(30));
  ASSERT_FALSE(out.empty());
  EXPECT_EQ(out[9], 17);
  EXPECT_EQ(out[20] << 8 | out[21], 4500);
  EXPECT_EQ(out[22] << 8 | out[23], 31337);
  EXPECT_EQ(static_cast<std::size_t>(out[24] << 8 | out[25]), out.size() - 20);
  EXPECT_EQ(out[26] | out[27], 0);  // zero UDP checksum over IPv4 (RFC 3948 2.1)
}

TEST_F(EspEncapOptions, InnerFamilyRestriction) {
  std::string err;
  auto d = null_sha256(SaDirection::kOutbound);
  d.inner_family = InnerFamily::kV6;
  auto sa = EspSa::create(d, &err);
  ASSERT_TRUE(sa) << err;
  EXPECT_TRUE(encap_one(*sa, inner_v4(30)).empty());
  EXPECT_EQ(ctr.drop(DropReason::kInnerFamily), 1u);
  EXPECT_TRUE(encap_one(*sa, {0x45, 0, 0}).empty());
  EXPECT_EQ(ctr.drop(DropReason::kBadInner), 1u);
}

TEST_F(EspEncapOptions, InnerLengthFieldIsHonoured) {
  std::string err;
  auto out_sa = EspSa::create(null_sha256(SaDirection::kOutbound), &err);
  auto in_sa = EspSa::create(null_sha256(SaDirection::kInbound), &err);
  ASSERT_TRUE(out_sa && in_sa) << err;
  const auto inner = inner_v4(10);
  auto padded = inner;
  padded.resize(46, 0);  // Ethernet minimum-frame padding behind a 30-byte packet
  rte_mbuf* m = make_mbuf(padded);
  rte_mbuf* arr[1] = {m};
  ASSERT_EQ(encap_burst(*worker, *out_sa, arr, ctr), 1u);
  EXPECT_EQ(m->data_len, 20u + 8 + 30 + 2 + 16);  // the padding was not encrypted
  ASSERT_EQ(decap_burst(*worker, *in_sa, arr, ctr), 1u);
  EXPECT_EQ(mbuf_bytes(m), inner);
  rte_pktmbuf_free(m);

  auto lying = inner_v4(10);
  lying[3] = 200;  // says 200 bytes, carries 30
  EXPECT_TRUE(encap_one(*out_sa, lying).empty());
  EXPECT_EQ(ctr.drop(DropReason::kBadInner), 1u);
}

TEST_F(EspEncapOptions, NoHeadroomOrTailroom) {
  std::string err;
  auto sa = EspSa::create(null_sha256(SaDirection::kOutbound), &err);
  ASSERT_TRUE(sa) << err;
  const auto inner = inner_v4(30);
  // A packet placed `offset` bytes into its buffer.
  auto placed = [&](uint16_t offset) {
    rte_mbuf* m = rte_pktmbuf_alloc(test::mbuf_pool());
    m->data_off = offset;
    std::memcpy(rte_pktmbuf_append(m, static_cast<uint16_t>(inner.size())), inner.data(), inner.size());
    return m;
  };
  rte_mbuf* m = placed(4);  // no room for 28 header bytes in front
  rte_mbuf* arr[1] = {m};
  EXPECT_EQ(encap_burst(*worker, *sa, arr, ctr), 0u);
  EXPECT_EQ(ctr.drop(DropReason::kNoHeadroom), 1u);
  EXPECT_EQ(mbuf_bytes(m), inner);  // untouched
  const uint16_t buf_len = m->buf_len;
  rte_pktmbuf_free(m);

  m = placed(static_cast<uint16_t>(buf_len - inner.size() - 3));  // 3 bytes of tailroom
  arr[0] = m;
  EXPECT_EQ(encap_burst(*worker, *sa, arr, ctr), 0u);
  EXPECT_EQ(ctr.drop(DropReason::kNoTailroom), 1u);
  EXPECT_EQ(mbuf_bytes(m), inner);
  rte_pktmbuf_free(m);
}

TEST_F(EspEncapOptions, SequenceExhaustionWithoutEsn) {
  std::string err;
  auto sa = EspSa::create(null_sha256(SaDirection::kOutbound), &err);
  ASSERT_TRUE(sa) << err;
  drain_events();
  sa->set_next_sequence(0xfffffffeu);
  std::vector<rte_mbuf*> pkts;
  for (int i = 0; i < 5; ++i) pkts.push_back(make_mbuf(inner_v4(10)));
  EXPECT_EQ(encap_burst(*worker, *sa, pkts, ctr), 2u);  // 0xfffffffe and 0xffffffff, never 0
  EXPECT_EQ(ctr.drop(DropReason::kSeqExhausted), 3u);
  EXPECT_EQ(mbuf_bytes(pkts[1])[24], 0xff);
  EXPECT_TRUE(sa->hard_expired());
  const auto ev = drain_events();
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].kind, SaEventKind::kSeqExhausted);
  EXPECT_EQ(ev[0].spi, kSpi);
  for (rte_mbuf* m : pkts) rte_pktmbuf_free(m);
  EXPECT_TRUE(encap_one(*sa, inner_v4(10)).empty());  // stays stopped
}

TEST_F(EspEncapOptions, SequenceExhaustionWithEsnStopsAt2To64) {
  std::string err;
  auto d = null_sha256(SaDirection::kOutbound);
  d.esn = true;
  auto sa = EspSa::create(d, &err);
  ASSERT_TRUE(sa) << err;
  sa->set_next_sequence(0xfffffffeu);
  EXPECT_FALSE(encap_one(*sa, inner_v4(10)).empty());
  EXPECT_FALSE(encap_one(*sa, inner_v4(10)).empty());
  EXPECT_FALSE(encap_one(*sa, inner_v4(10)).empty());  // 2^32: low half 0 on the wire is fine with ESN
  sa->set_next_sequence(UINT64_MAX);
  EXPECT_FALSE(encap_one(*sa, inner_v4(10)).empty());
  EXPECT_TRUE(encap_one(*sa, inner_v4(10)).empty());
  EXPECT_EQ(ctr.drop(DropReason::kSeqExhausted), 1u);
  drain_events();
}

// A lifetime event rings the control core's doorbell once it sleeps (control_wake.hpp): the
// soft event while it is awake writes nothing, the hard event after prepare_sleep() writes once.
TEST_F(EspEncapOptions, LifetimeEventsWakeTheSleepingControlCore) {
  std::string err;
  auto wake = ControlWake::create(&err);
  ASSERT_TRUE(wake) << err;
  auto w = EspWorker::create(ring(), &err, wake.get());
  ASSERT_TRUE(w) << err;
  auto d = null_sha256(SaDirection::kOutbound);
  d.soft.packets = 2;
  d.hard.packets = 4;
  auto sa = EspSa::create(d, &err);
  ASSERT_TRUE(sa) << err;
  drain_events();
  auto send = [&](int n) {
    for (int i = 0; i < n; ++i) {
      rte_mbuf* arr[1] = {make_mbuf(inner_v4(10))};
      (void)encap_burst(*w, *sa, arr, ctr);
      rte_pktmbuf_free(arr[0]);
    }
  };
  send(2);  // soft, control core awake
  EXPECT_EQ(drain_events().size(), 1u);
  EXPECT_EQ(wake->rings(), 0u);
  wake->prepare_sleep();
  send(3);  // hard, then a packet dropped past it: one event, one write
  EXPECT_EQ(wake->rings(), 1u);
  EXPECT_TRUE(wake->wait(std::chrono::seconds(30))) << "the eventfd was not written";
  EXPECT_EQ(drain_events().size(), 1u);
  EXPECT_EQ(wake->woken(), 1u);
}

TEST_F(EspEncapOptions, SoftAndHardLifetimes) {
  std::string err;
  auto d = null_sha256(SaDirection::kOutbound);
  d.soft.packets = 10;
  d.hard.packets = 20;
  d.cookie = 77;
  auto sa = EspSa::create(d, &err);
  ASSERT_TRUE(sa) << err;
  drain_events();
  for (int i = 0; i < 9; ++i) EXPECT_FALSE(encap_one(*sa, inner_v4(10)).empty());
  EXPECT_FALSE(sa->soft_expired());
  EXPECT_FALSE(encap_one(*sa, inner_v4(10)).empty());
  EXPECT_TRUE(sa->soft_expired());
  auto ev = drain_events();
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].kind, SaEventKind::kSoftLifetime);
  EXPECT_EQ(ev[0].cookie, 77u);
  for (int i = 0; i < 10; ++i) EXPECT_FALSE(encap_one(*sa, inner_v4(10)).empty());
  EXPECT_TRUE(sa->hard_expired());
  ev = drain_events();
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].kind, SaEventKind::kHardLifetime);
  EXPECT_TRUE(encap_one(*sa, inner_v4(10)).empty());
  EXPECT_EQ(ctr.drop(DropReason::kLifetimeExpired), 1u);
}

TEST_F(EspEncapOptions, ByteLifetimeCountsPlaintext) {
  std::string err;
  auto d = null_sha256(SaDirection::kOutbound);
  d.hard.bytes = 100;
  auto sa = EspSa::create(d, &err);
  ASSERT_TRUE(sa) << err;
  EXPECT_FALSE(encap_one(*sa, inner_v4(30)).empty());  // 50 bytes
  EXPECT_EQ(sa->lifetime_bytes(), 50u);
  EXPECT_FALSE(encap_one(*sa, inner_v4(30)).empty());  // 100: limit reached
  EXPECT_TRUE(sa->hard_expired());
  EXPECT_TRUE(encap_one(*sa, inner_v4(30)).empty());
  drain_events();
}

// The hard limit is never passed, not even by one burst: the packets past it are dropped
// (lifetime_expired) in burst order, the first ones go. A burst of 257 (more than one batch).
TEST_F(EspEncapOptions, HardPacketLimitStopsInsideABurst) {
  std::string err;
  auto d = null_sha256(SaDirection::kOutbound);
  d.soft.packets = 10;
  d.hard.packets = 20;
  d.cookie = 78;
  auto sa = EspSa::create(d, &err);
  ASSERT_TRUE(sa) << err;
  drain_events();
  std::vector<rte_mbuf*> pkts;
  for (int i = 0; i < 257; ++i) pkts.push_back(make_mbuf(inner_v4(10)));
  const std::vector<rte_mbuf*> sent(pkts.begin(), pkts.end());
  const uint16_t ok = encap_burst(*worker, *sa, pkts, ctr);
  EXPECT_EQ(ok, 20);
  EXPECT_EQ(ctr.drop(DropReason::kLifetimeExpired), 237u);
  EXPECT_EQ(sa->lifetime_packets(), 20u);
  EXPECT_EQ(ctr.packets, 20u);
  EXPECT_TRUE(sa->hard_expired());
  for (uint16_t i = 0; i < ok; ++i) {
    EXPECT_EQ(pkts[i], sent[i]);  // the first 20, in order, with sequence numbers 1..20
    const auto b = mbuf_bytes(pkts[i]);
    EXPECT_EQ(b[27], i + 1);
  }
  auto ev = drain_events();
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].kind, SaEventKind::kHardLifetime);
  EXPECT_EQ(ev[0].cookie, 78u);
  for (rte_mbuf* m : pkts) rte_pktmbuf_free(m);
}

TEST_F(EspEncapOptions, HardByteLimitStopsInsideABurst) {
  std::string err;
  auto d = null_sha256(SaDirection::kOutbound);
  d.hard.bytes = 120;
  auto sa = EspSa::create(d, &err);
  ASSERT_TRUE(sa) << err;
  std::vector<rte_mbuf*> pkts;
  for (int i = 0; i < 4; ++i) pkts.push_back(make_mbuf(inner_v4(30)));  // 50 bytes each
  EXPECT_EQ(encap_burst(*worker, *sa, pkts, ctr), 2);  // 100; a third would make 150
  EXPECT_EQ(sa->lifetime_bytes(), 100u);
  EXPECT_EQ(ctr.drop(DropReason::kLifetimeExpired), 2u);
  EXPECT_TRUE(sa->hard_expired());
  for (rte_mbuf* m : pkts) rte_pktmbuf_free(m);
  drain_events();
}

// Many SAs in one batch: each stops at its own limit, the others are untouched.
TEST_F(EspEncapOptions, HardLimitPerSaInAMultiSaBurst) {
  std::string err;
  auto da = null_sha256(SaDirection::kOutbound);
  da.hard.packets = 5;
  auto db = null_sha256(SaDirection::kOutbound);
  db.spi = kSpi + 1;
  auto a = EspSa::create(da, &err);
  auto b = EspSa::create(db, &err);
  ASSERT_TRUE(a && b) << err;
  SaCounters cb;
  std::vector<rte_mbuf*> pkts;
  std::vector<EspSa*> sas;
  std::vector<SaCounters*> ctrs;
  for (int i = 0; i < 40; ++i) {
    pkts.push_back(make_mbuf(inner_v4(10)));
    sas.push_back(i % 2 ? b.get() : a.get());
    ctrs.push_back(i % 2 ? &cb : &ctr);
  }
  EXPECT_EQ(encap_burst_multi(*worker, pkts, sas, ctrs), 25);
  EXPECT_EQ(a->lifetime_packets(), 5u);
  EXPECT_EQ(b->lifetime_packets(), 20u);
  EXPECT_EQ(ctr.drop(DropReason::kLifetimeExpired), 15u);
  EXPECT_EQ(cb.drop(DropReason::kLifetimeExpired), 0u);
  EXPECT_TRUE(a->hard_expired());
  EXPECT_FALSE(b->hard_expired());
  for (rte_mbuf* m : pkts) rte_pktmbuf_free(m);
  drain_events();
}

TEST_F(EspEncapOptions, WrongDirectionIsRefused) {
  std::string err;
  auto in = EspSa::create(null_sha256(SaDirection::kInbound), &err);
  ASSERT_TRUE(in) << err;
  EXPECT_TRUE(encap_one(*in, inner_v4(10)).empty());
}

TEST_F(EspEncapOptions, TransportModeFragmentsAreRefused) {
  std::string err;
  auto sa = EspSa::create(null_sha256(SaDirection::kOutbound, SaMode::kTransport), &err);
  ASSERT_TRUE(sa) << err;
  auto frag = ipv4_header(40, 17, 0, 0x2000);
  frag.resize(40, 0);
  EXPECT_TRUE(encap_one(*sa, frag).empty());
  EXPECT_EQ(ctr.drop(DropReason::kFragment), 1u);
}

}  // namespace
}  // namespace esprit
