// Encap then decap through Esprit for every algorithm, mode, family and NAT-T, plus the drop
// paths that need a live SA (replay, ICV, padding, lifetimes, sequence exhaustion).
#include <gtest/gtest.h>

#include <rte_mbuf.h>

#include <cstring>
#include <numeric>
#include <tuple>

#include "dpdk_env.hpp"
#include "esprit/fastpath/esp.hpp"

namespace esprit {
namespace {

using test::from_hex;
using test::make_mbuf;
using test::mbuf_bytes;

SecretBytes key_of(std::size_t len, uint8_t seed) {
  std::vector<uint8_t> k(len);
  for (std::size_t i = 0; i < len; ++i) k[i] = static_cast<uint8_t>(seed + i * 7);
  return SecretBytes(k);
}

struct SaPairOptions {
  EncrAlg encr = EncrAlg::kAesGcm16_128;
  IntegAlg integ = IntegAlg::kNone;
  SaMode mode = SaMode::kTunnel;
  bool v6_outer = false;
  bool natt = false;
  bool esn = false;
  uint32_t window = 64;
};

SaDescriptor descriptor(const SaPairOptions& o, SaDirection dir) {
  SaDescriptor d;
  d.spi = 0x1000abcd;
  d.direction = dir;
  d.mode = o.mode;
  auto a = *IpAddress::parse(o.v6_outer ? "2001:db8::1" : "192.0.2.1");
  auto b = *IpAddress::parse(o.v6_outer ? "2001:db8::2" : "198.51.100.2");
  d.local = dir == SaDirection::kOutbound ? a : b;
  d.remote = dir == SaDirection::kOutbound ? b : a;
  d.encr = o.encr;
  d.encr_key = key_of(info(o.encr).keymat_len(), 0x11);
  d.integ = o.integ;
  d.integ_key = key_of(info(o.integ).key_len, 0x5a);
  d.esn = o.esn;
  d.replay_window = o.window;
  if (o.natt) d.natt = NatTraversal{4500, 4500};
  return d;
}

/// An IPv4 UDP packet 10.0.0.1 -> 10.0.1.1 with `payload` bytes of pattern data.
std::vector<uint8_t> ipv4_udp(std::size_t payload, uint8_t tos = 0, uint8_t fill = 0) {
  std::vector<uint8_t> p(28 + payload);
  const std::size_t total = p.size();
  p[0] = 0x45;
  p[1] = tos;
  p[2] = static_cast<uint8_t>(total >> 8);
  p[3] = static_cast<uint8_t>(total);
  p[6] = 0x40;
  p[8] = 64;
  p[9] = 17;
  p[12] = 10, p[15] = 1;
  p[16] = 10, p[18] = 1, p[19] = 1;
  uint32_t sum = 0;
  for (int i = 0; i < 20; i += 2) sum += p[i] << 8 | p[i + 1];
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  p[10] = static_cast<uint8_t>(~sum >> 8);
  p[11] = static_cast<uint8_t>(~sum);
  p[20] = 0x30, p[21] = 0x39, p[22] = 0x01, p[23] = 0xbb;
  p[24] = static_cast<uint8_t>((8 + payload) >> 8);
  p[25] = static_cast<uint8_t>(8 + payload);
  for (std::size_t i = 0; i < payload; ++i) p[28 + i] = static_cast<uint8_t>(fill + i);
  return p;
}

/// An IPv6 UDP packet 2001:db8:1::1 -> 2001:db8:2::1.
std::vector<uint8_t> ipv6_udp(std::size_t payload, uint8_t tc = 0) {
  std::vector<uint8_t> p(48 + payload);
  p[0] = static_cast<uint8_t>(0x60 | tc >> 4);
  p[1] = static_cast<uint8_t>(tc << 4);
  p[4] = static_cast<uint8_t>((8 + payload) >> 8);
  p[5] = static_cast<uint8_t>(8 + payload);
  p[6] = 17;
  p[7] = 64;
  const uint8_t src[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
  const uint8_t dst[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
  std::memcpy(&p[8], src, 16);
  std::memcpy(&p[24], dst, 16);
  p[40] = 0x30, p[41] = 0x39, p[42] = 0x01, p[43] = 0xbb;
  p[44] = p[4], p[45] = p[5];
  for (std::size_t i = 0; i < payload; ++i) p[48 + i] = static_cast<uint8_t>(i * 3);
  return p;
}

class EspFixture {
 public:
  explicit EspFixture(const SaPairOptions& o) {
    test::init_dpdk();
    std::string err;
    worker = EspWorker::create(nullptr, &err);
    EXPECT_TRUE(worker) << err;
    out = EspSa::create(descriptor(o, SaDirection::kOutbound), &err);
    EXPECT_TRUE(out) << err;
    in = EspSa::create(descriptor(o, SaDirection::kInbound), &err);
    EXPECT_TRUE(in) << err;
  }
  std::unique_ptr<EspWorker> worker;
  std::unique_ptr<EspSa> out;
  std::unique_ptr<EspSa> in;
  SaCounters out_ctr;
  SaCounters in_ctr;
};

void free_all(std::span<rte_mbuf*> pkts) {
  for (rte_mbuf* m : pkts) rte_pktmbuf_free(m);
}

using Algo = std::tuple<EncrAlg, IntegAlg>;
using Param = std::tuple<Algo, SaMode, bool /*v6 outer*/, bool /*natt*/, bool /*esn*/>;

class EspRoundTrip : public ::testing::TestWithParam<Param> {};

TEST_P(EspRoundTrip, EncapThenDecapRestoresTheBurst) {
  const auto& [algo, mode, v6, natt, esn] = GetParam();
  SaPairOptions o;
  o.encr = std::get<0>(algo);
  o.integ = std::get<1>(algo);
  o.mode = mode;
  o.v6_outer = v6;
  o.natt = natt;
  o.esn = esn;
  EspFixture f(o);
  ASSERT_TRUE(f.out && f.in && f.worker);
  if (esn) f.out->set_next_sequence((uint64_t{1} << 32) - 100);  // cross the 2^32 boundary

  // 257 packets: one more than four full batches; varied sizes exercise every padding length.
  constexpr std::size_t kN = 257;
  std::vector<std::vector<uint8_t>> orig;
  std::vector<rte_mbuf*> pkts;
  for (std::size_t i = 0; i < kN; ++i) {
    // Transport mode keeps the packet's own IP header, which must match the SA's family.
    const bool inner_v6 = mode == SaMode::kTransport ? v6 : (i % 3 == 0);
    orig.push_back(inner_v6 ? ipv6_udp(i % 97) : ipv4_udp(i % 113, static_cast<uint8_t>(i & 0xfc)));
    pkts.push_back(make_mbuf(orig.back()));
  }
  ASSERT_EQ(encap_burst(*f.worker, *f.out, pkts, f.out_ctr), kN);
  EXPECT_EQ(f.out_ctr.packets, kN);
  EXPECT_EQ(f.out_ctr.total_drops(), 0u);
  for (std::size_t i = 0; i < kN; ++i) ASSERT_NE(mbuf_bytes(pkts[i]), orig[i]) << i;

  // With ESN the receiver's window starts at 0 and the sender near 2^32: the first packet moves the
  // window there (a batch infers the high half from the window as it was before the batch).
  std::span<rte_mbuf*> all(pkts);
  const std::size_t first = esn ? 1 : 0;
  uint16_t decapped = esn ? decap_burst(*f.worker, *f.in, all.first(1), f.in_ctr) : 0;
  decapped += decap_burst(*f.worker, *f.in, all.subspan(first), f.in_ctr);
  for (const auto& r : kDropReasons) EXPECT_EQ(f.in_ctr.drop(r.reason), 0u) << r.name;
  ASSERT_EQ(decapped, kN);
  EXPECT_EQ(f.in_ctr.packets, kN);
  EXPECT_EQ(f.in_ctr.total_drops(), 0u);
  for (std::size_t i = 0; i < kN; ++i) ASSERT_EQ(mbuf_bytes(pkts[i]), orig[i]) << "packet " << i;
  EXPECT_EQ(f.in->sequence(), f.out->sequence());
  free_all(pkts);
}

const Algo kAlgos[] = {
    {EncrAlg::kAesGcm16_128, IntegAlg::kNone},       {EncrAlg::kAesGcm16_192, IntegAlg::kNone},
    {EncrAlg::kAesGcm16_256, IntegAlg::kNone},       {EncrAlg::kAesGcm8_128, IntegAlg::kNone},
    {EncrAlg::kAesGcm12_256, IntegAlg::kNone},       {EncrAlg::kChaCha20Poly1305, IntegAlg::kNone},
    {EncrAlg::kAesCbc128, IntegAlg::kHmacSha1_96},   {EncrAlg::kAesCbc192, IntegAlg::kHmacSha256_128},
    {EncrAlg::kAesCbc256, IntegAlg::kHmacSha384_192}, {EncrAlg::kAesCbc256, IntegAlg::kHmacSha512_256},
    {EncrAlg::kAesCbc128, IntegAlg::kHmacMd5_96},    {EncrAlg::kTripleDesCbc, IntegAlg::kHmacSha1_96},
    {EncrAlg::kNull, IntegAlg::kHmacSha256_128},     {EncrAlg::kNull, IntegAlg::kHmacMd5_96},
};

std::string param_name(const ::testing::TestParamInfo<Param>& p) {
  const auto& [algo, mode, v6, natt, esn] = p.param;
  std::string n = std::string(info(std::get<0>(algo)).name) + "_" + std::string(info(std::get<1>(algo)).name) + "_" +
                  std::string(to_string(mode)) + (v6 ? "_v6" : "_v4") + (natt ? "_natt" : "") + (esn ? "_esn" : "");
  return n;
}

INSTANTIATE_TEST_SUITE_P(AllAlgorithms, EspRoundTrip,
                         ::testing::Combine(::testing::ValuesIn(kAlgos),
                                            ::testing::Values(SaMode::kTunnel, SaMode::kTransport),
                                            ::testing::Bool(), ::testing::Bool(), ::testing::Bool()),
                         param_name);

}  // namespace
}  // namespace esprit
