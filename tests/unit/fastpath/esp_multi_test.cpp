// encap_burst_multi / decap_burst_multi: bursts of 257 packets spread over many SAs that mix
// algorithms, modes, outer families, NAT-T and ESN. Each packet must come back through its own SA
// (with the multi decap and with the single-SA decap), sequence numbers stay contiguous per SA,
// replay, ICV failures and counters stay per SA, and garbage never crashes the multi decap.
#include <gtest/gtest.h>

#include <rte_mbuf.h>

#include <cstring>
#include <map>
#include <random>

#include "dpdk_env.hpp"
#include "esprit/fastpath/esp.hpp"

namespace esprit {
namespace {

using test::make_mbuf;
using test::mbuf_bytes;

SecretBytes key_of(std::size_t len, uint8_t seed) {
  std::vector<uint8_t> k(len);
  for (std::size_t i = 0; i < len; ++i) k[i] = static_cast<uint8_t>(seed + i * 7);
  return SecretBytes(k);
}

struct Algo {
  EncrAlg encr;
  IntegAlg integ;
};
const Algo kAlgos[] = {
    {EncrAlg::kAesGcm16_128, IntegAlg::kNone},        {EncrAlg::kAesGcm16_256, IntegAlg::kNone},
    {EncrAlg::kAesGcm8_128, IntegAlg::kNone},         {EncrAlg::kChaCha20Poly1305, IntegAlg::kNone},
    {EncrAlg::kAesCbc128, IntegAlg::kHmacSha1_96},    {EncrAlg::kAesCbc192, IntegAlg::kHmacSha256_128},
    {EncrAlg::kAesCbc256, IntegAlg::kHmacSha512_256}, {EncrAlg::kTripleDesCbc, IntegAlg::kHmacSha1_96},
    {EncrAlg::kNull, IntegAlg::kHmacSha256_128},      {EncrAlg::kAesCbc128, IntegAlg::kHmacMd5_96},
    {EncrAlg::kAesGcm12_256, IntegAlg::kNone},
};
constexpr std::size_t kNumAlgos = sizeof(kAlgos) / sizeof(kAlgos[0]);

/// The shape of SA number `k`: every algorithm meets both modes, both families, NAT-T and ESN.
struct Shape {
  Algo algo;
  SaMode mode;
  bool v6;
  bool natt;
  bool esn;
};
Shape shape_of(std::size_t k) {
  return Shape{kAlgos[k % kNumAlgos], (k / 2) % 2 ? SaMode::kTransport : SaMode::kTunnel, k % 3 == 0, k % 4 == 1,
               k % 5 == 2};
}

SaDescriptor descriptor(std::size_t k, SaDirection dir) {
  const Shape s = shape_of(k);
  SaDescriptor d;
  d.spi = 0x2000 + static_cast<uint32_t>(k);
  d.direction = dir;
  d.mode = s.mode;
  auto a = *IpAddress::parse(s.v6 ? "2001:db8::1" : "192.0.2.1");
  auto b = *IpAddress::parse(s.v6 ? "2001:db8::2" : "198.51.100.2");
  d.local = dir == SaDirection::kOutbound ? a : b;
  d.remote = dir == SaDirection::kOutbound ? b : a;
  d.encr = s.algo.encr;
  d.encr_key = key_of(info(s.algo.encr).keymat_len(), static_cast<uint8_t>(0x11 + k));  // a key per SA
  d.integ = s.algo.integ;
  d.integ_key = key_of(info(s.algo.integ).key_len, static_cast<uint8_t>(0x5a + k));
  d.esn = s.esn;
  d.replay_window = 64;
  if (s.natt) d.natt = NatTraversal{4500, 4500};
  return d;
}

std::vector<uint8_t> ipv4_udp(std::size_t payload, uint8_t fill) {
  std::vector<uint8_t> p(28 + payload);
  const std::size_t total = p.size();
  p[0] = 0x45;
  p[2] = static_cast<uint8_t>(total >> 8);
  p[3] = static_cast<uint8_t>(total);
  p[8] = 64;
  p[9] = 17;
  p[12] = 10, p[15] = 1;
  p[16] = 10, p[18] = 1, p[19] = 1;
  uint32_t sum = 0;
  for (int i = 0; i < 20; i += 2) sum += p[i] << 8 | p[i + 1];
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  p[10] = static_cast<uint8_t>(~sum >> 8);
  p[11] = static_cast<uint8_t>(~sum);
  p[24] = static_cast<uint8_t>((8 + payload) >> 8);
  p[25] = static_cast<uint8_t>(8 + payload);
  for (std::size_t i = 0; i < payload; ++i) p[28 + i] = static_cast<uint8_t>(fill + i);
  return p;
}

std::vector<uint8_t> ipv6_udp(std::size_t payload, uint8_t fill) {
  std::vector<uint8_t> p(48 + payload);
  p[0] = 0x60;
  p[4] = static_cast<uint8_t>((8 + payload) >> 8);
  p[5] = static_cast<uint8_t>(8 + payload);
  p[6] = 17;
  p[7] = 64;
  p[8] = 0x20, p[9] = 0x01, p[23] = 1;
  p[24] = 0x20, p[25] = 0x01, p[39] = 2;
  p[44] = p[4], p[45] = p[5];
  for (std::size_t i = 0; i < payload; ++i) p[48 + i] = static_cast<uint8_t>(fill + i * 3);
  return p;
}

constexpr std::size_t kSas = 24;
constexpr std::size_t kN = 257;  // one more than four full batches

class EspMulti : public ::testing::Test {
 protected:
  void SetUp() override {
    test::init_dpdk();
    std::string err;
    worker = EspWorker::create(nullptr, &err);
    ASSERT_TRUE(worker) << err;
    for (std::size_t k = 0; k < kSas; ++k) {
      out.push_back(EspSa::create(descriptor(k, SaDirection::kOutbound), &err));
      ASSERT_TRUE(out.back()) << err;
      in.push_back(EspSa::create(descriptor(k, SaDirection::kInbound), &err));
      ASSERT_TRUE(in.back()) << err;
    }
    out_ctr.resize(kSas);
    in_ctr.resize(kSas);
  }
  void TearDown() override {
    for (rte_mbuf* m : pkts) rte_pktmbuf_free(m);
  }

  /// SA of packet i: mostly a stride over the SAs, with a run of 5 packets on one SA now and then.
  static std::size_t sa_of(std::size_t i) { return (i % 40 < 5) ? 7 : (i * 7) % kSas; }

  /// Fills pkts/orig/which with kN plaintext packets and encapsulates them with encap_burst_multi.
  void encap_all() {
    std::vector<EspSa*> sas;
    std::vector<SaCounters*> ctr;
    for (std::size_t i = 0; i < kN; ++i) {
      const std::size_t k = sa_of(i);
      const Shape s = shape_of(k);
      const bool inner_v6 = s.mode == SaMode::kTransport ? s.v6 : (i % 3 == 0);
      orig.push_back(inner_v6 ? ipv6_udp(i % 97, static_cast<uint8_t>(i)) : ipv4_udp(i % 113, static_cast<uint8_t>(i)));
      pkts.push_back(make_mbuf(orig.back()));
      which.push_back(k);
      sas.push_back(out[k].get());
      ctr.push_back(&out_ctr[k]);
    }
    ASSERT_EQ(encap_burst_multi(*worker, pkts, sas, ctr), kN);
    for (std::size_t i = 0; i < kN; ++i) {
      ASSERT_EQ(sas[i], out[which[i]].get()) << "sas stays parallel to pkts";
      ASSERT_NE(mbuf_bytes(pkts[i]), orig[i]);
    }
  }

  /// The ESP header of an encapsulated packet of SA k.
  uint8_t* esp_of(std::size_t i) {
    const Shape s = shape_of(which[i]);
    uint8_t* p = rte_pktmbuf_mtod(pkts[i], uint8_t*);
    return p + (s.v6 ? 40 : 20) + (s.natt ? 8 : 0);
  }

  /// Decapsulates pkts with decap_burst_multi; returns the count, `sas` permuted like pkts.
  uint16_t decap_multi(std::vector<EspSa*>& sas) {
    std::vector<SaCounters*> ctr;
    sas.clear();
    for (std::size_t i = 0; i < pkts.size(); ++i) {
      sas.push_back(in[which[i]].get());
      ctr.push_back(&in_ctr[which[i]]);
    }
    return decap_burst_multi(*worker, pkts, sas, ctr);
  }

  std::unique_ptr<EspWorker> worker;
  std::vector<std::unique_ptr<EspSa>> out, in;
  std::vector<SaCounters> out_ctr, in_ctr;
  std::vector<rte_mbuf*> pkts;
  std::vector<std::vector<uint8_t>> orig;
  std::vector<std::size_t> which;
};

TEST_F(EspMulti, EncapSequencesAreContiguousPerSaAndMultiDecapRestoresEveryPacket) {
  encap_all();
  std::map<std::size_t, uint32_t> next;
  std::map<std::size_t, uint64_t> count;
  for (std::size_t i = 0; i < kN; ++i) {
    const uint8_t* esp = esp_of(i);
    const uint32_t spi = uint32_t{esp[0]} << 24 | esp[1] << 16 | esp[2] << 8 | esp[3];
    const uint32_t seq = uint32_t{esp[4]} << 24 | esp[5] << 16 | esp[6] << 8 | esp[7];
    EXPECT_EQ(spi, 0x2000 + which[i]) << i;
    EXPECT_EQ(seq, ++next[which[i]]) << "packet " << i << " SA " << which[i];
    ++count[which[i]];
  }
  for (std::size_t k = 0; k < kSas; ++k) {
    EXPECT_EQ(out_ctr[k].packets, count[k]) << k;
    EXPECT_EQ(out_ctr[k].total_drops(), 0u) << k;
    EXPECT_EQ(out[k]->sequence(), count[k]) << k;
    EXPECT_EQ(out[k]->lifetime_packets(), count[k]) << k;
  }
  std::vector<EspSa*> sas;
  ASSERT_EQ(decap_multi(sas), kN);
  for (std::size_t i = 0; i < kN; ++i) ASSERT_EQ(mbuf_bytes(pkts[i]), orig[i]) << "packet " << i;
  for (std::size_t k = 0; k < kSas; ++k) {
    EXPECT_EQ(in_ctr[k].packets, count[k]) << k;
    EXPECT_EQ(in_ctr[k].total_drops(), 0u) << k;
    EXPECT_EQ(in[k]->sequence(), count[k]) << k;
  }
}

TEST_F(EspMulti, SingleSaDecapReadsWhatTheMultiEncapWrote) {
  encap_all();
  for (std::size_t k = 0; k < kSas; ++k) {
    std::vector<rte_mbuf*> mine;
    std::vector<std::size_t> idx;
    for (std::size_t i = 0; i < kN; ++i) {
      if (which[i] == k) mine.push_back(pkts[i]), idx.push_back(i);
    }
    ASSERT_EQ(decap_burst(*worker, *in[k], mine, in_ctr[k]), mine.size()) << k;
    for (std::size_t j = 0; j < mine.size(); ++j) ASSERT_EQ(mbuf_bytes(mine[j]), orig[idx[j]]) << idx[j];
  }
}

TEST_F(EspMulti, MultiDecapReadsWhatTheSingleSaEncapWrote) {
  for (std::size_t i = 0; i < kN; ++i) {
    const std::size_t k = sa_of(i);
    const Shape s = shape_of(k);
    orig.push_back(s.v6 ? ipv6_udp(i % 61, static_cast<uint8_t>(i)) : ipv4_udp(i % 61, static_cast<uint8_t>(i)));
    pkts.push_back(make_mbuf(orig.back()));
    which.push_back(k);
    rte_mbuf* one[1] = {pkts.back()};
    ASSERT_EQ(encap_burst(*worker, *out[k], one, out_ctr[k]), 1u);
  }
  std::vector<EspSa*> sas;
  ASSERT_EQ(decap_multi(sas), kN);
  for (std::size_t i = 0; i < kN; ++i) ASSERT_EQ(mbuf_bytes(pkts[i]), orig[i]) << i;
}

TEST_F(EspMulti, IcvFailureAndReplayDropOnlyTheirPacketAndCountOnTheirSa) {
  encap_all();
  // Packet 100: corrupt its last byte (the ICV). Packet 30 is sent twice in the same burst and
  // packet 200 once more at the end: the copies are replays of their SA only.
  const std::size_t bad = 100, dup = 30, dup2 = 200;
  rte_pktmbuf_mtod(pkts[bad], uint8_t*)[pkts[bad]->data_len - 1] ^= 0x01;
  std::vector<uint8_t> dup_bytes = mbuf_bytes(pkts[dup]);
  std::vector<uint8_t> dup2_bytes = mbuf_bytes(pkts[dup2]);
  pkts.insert(pkts.begin() + dup + 1, make_mbuf(dup_bytes));
  which.insert(which.begin() + dup + 1, which[dup]);
  orig.insert(orig.begin() + dup + 1, orig[dup]);
  pkts.push_back(make_mbuf(dup2_bytes));
  which.push_back(which[dup2 + 1]);
  orig.push_back(orig[dup2 + 1]);
  const std::size_t bad_sa = which[bad + 1], dup_sa = which[dup], dup2_sa = which.back();

  std::vector<std::size_t> before = which;
  std::vector<EspSa*> sas;
  ASSERT_EQ(decap_multi(sas), kN + 2 - 3);
  // The good ones, in order, then the three failures in order.
  std::size_t g = 0;
  for (std::size_t i = 0; i < before.size(); ++i) {
    if (i == bad + 1 || i == dup + 1 || i == before.size() - 1) continue;
    ASSERT_EQ(mbuf_bytes(pkts[g]), orig[i]) << i;
    ASSERT_EQ(sas[g], in[before[i]].get()) << i;
    ++g;
  }
  for (std::size_t k = 0; k < kSas; ++k) {
    EXPECT_EQ(in_ctr[k].drop(DropReason::kIcvFail), k == bad_sa ? 1u : 0u) << k;
    EXPECT_EQ(in_ctr[k].drop(DropReason::kReplay), (k == dup_sa) + (k == dup2_sa)) << k;
    EXPECT_EQ(in_ctr[k].total_drops(), (k == bad_sa) + (k == dup_sa) + (k == dup2_sa)) << k;
  }
}

// AES-GCM decap goes through IPsec-MB's direct API while the other suites of the same batch are
// jobs. Two forged AES-GCM packets (one of an ESN SA: ICV byte; one of a 32-bit SA: ciphertext
// byte) sit in the middle of the first batch among AES-CBC, ChaCha20 and NULL packets: only they
// are dropped, as icv_fail on their own SA, with their decryption wiped; the windows did not move
// for them, so the genuine packets are accepted afterwards, and a second copy of those is a replay.
TEST_F(EspMulti, ForgedGcmPacketsInAMixedBatchDropOnlyThemselvesAndLeaveTheWindow) {
  encap_all();
  auto is_gcm = [](std::size_t k) { return info(shape_of(k).algo.encr).family == CipherFamily::kAesGcm; };
  std::size_t bad_esn = kN, bad_plain = kN;
  for (std::size_t i = 10; i < 50; ++i) {
    if (!is_gcm(which[i])) continue;
    if (shape_of(which[i]).esn && bad_esn == kN) bad_esn = i;
    if (!shape_of(which[i]).esn && bad_plain == kN && (bad_esn == kN || which[i] != which[bad_esn])) bad_plain = i;
  }
  ASSERT_LT(bad_esn, kN);
  ASSERT_LT(bad_plain, kN);
  ASSERT_NE(which[bad_esn], which[bad_plain]);
  std::size_t first_batch_other = 0;  // packets of other suites in the first batch of 64
  for (std::size_t i = 0; i < 64; ++i) first_batch_other += !is_gcm(which[i]);
  ASSERT_GT(first_batch_other, 20u) << "the batch mixes suites";

  const std::vector<uint8_t> genuine_esn = mbuf_bytes(pkts[bad_esn]);
  const std::vector<uint8_t> genuine_plain = mbuf_bytes(pkts[bad_plain]);
  rte_mbuf* const forged_esn = pkts[bad_esn];
  rte_mbuf* const forged_plain = pkts[bad_plain];
  rte_pktmbuf_mtod(forged_esn, uint8_t*)[forged_esn->data_len - 1] ^= 0x80;  // the ICV's last byte
  const std::size_t ct_plain = static_cast<std::size_t>(esp_of(bad_plain) - rte_pktmbuf_mtod(forged_plain, uint8_t*)) + 16;
  rte_pktmbuf_mtod(forged_plain, uint8_t*)[ct_plain] ^= 0x01;  // first ciphertext byte (after ESP header + IV)
  const std::size_t ct_esn = static_cast<std::size_t>(esp_of(bad_esn) - rte_pktmbuf_mtod(forged_esn, uint8_t*)) + 16;
  const std::size_t sa_esn = which[bad_esn], sa_plain = which[bad_plain];
  const uint64_t top_esn = in[sa_esn]->sequence(), top_plain = in[sa_plain]->sequence();

  const std::vector<std::size_t> before = which;
  std::vector<EspSa*> sas;
  ASSERT_EQ(decap_multi(sas), kN - 2);
  std::size_t g = 0;
  for (std::size_t i = 0; i < kN; ++i) {
    if (i == bad_esn || i == bad_plain) continue;
    ASSERT_EQ(mbuf_bytes(pkts[g]), orig[i]) << i;
    ASSERT_EQ(sas[g], in[before[i]].get()) << i;
    ++g;
  }
  // The failures follow in burst order, still the caller's, not stripped, their decryption wiped.
  const std::size_t first = std::min(bad_esn, bad_plain), second = std::max(bad_esn, bad_plain);
  ASSERT_EQ(pkts[kN - 2], first == bad_esn ? forged_esn : forged_plain);
  ASSERT_EQ(pkts[kN - 1], second == bad_esn ? forged_esn : forged_plain);
  const std::size_t icv_esn = info(shape_of(sa_esn).algo.encr).icv_len;
  const std::size_t icv_plain = info(shape_of(sa_plain).algo.encr).icv_len;
  ASSERT_EQ(forged_esn->data_len, genuine_esn.size());
  ASSERT_EQ(forged_plain->data_len, genuine_plain.size());
  for (std::size_t k = ct_esn; k < genuine_esn.size() - icv_esn; ++k)
    ASSERT_EQ(rte_pktmbuf_mtod(forged_esn, uint8_t*)[k], 0) << k;
  for (std::size_t k = ct_plain; k < genuine_plain.size() - icv_plain; ++k)
    ASSERT_EQ(rte_pktmbuf_mtod(forged_plain, uint8_t*)[k], 0) << k;
  for (std::size_t k = 0; k < kSas; ++k) {
    EXPECT_EQ(in_ctr[k].drop(DropReason::kIcvFail), (k == sa_esn) + (k == sa_plain)) << k;
    EXPECT_EQ(in_ctr[k].total_drops(), (k == sa_esn) + (k == sa_plain)) << k;
  }
  // The rest of the burst moved the two windows past the forged numbers; they are still free there.
  EXPECT_GT(in[sa_esn]->sequence(), top_esn);
  EXPECT_GT(in[sa_plain]->sequence(), top_plain);

  // The genuine packets through one multi-SA batch, each twice, with a good packet of two other
  // suites' SAs between them (made by their outbound SAs now): genuine ESN, other, other, genuine
  // 32-bit, then the two copies, which are replays.
  std::vector<std::size_t> others;
  std::vector<std::vector<uint8_t>> other_orig;
  std::vector<rte_mbuf*> other_pkts;
  for (std::size_t k = 0; k < kSas && others.size() < 2; ++k) {
    if (is_gcm(k)) continue;
    other_orig.push_back(shape_of(k).v6 ? ipv6_udp(33, 7) : ipv4_udp(33, 7));
    rte_mbuf* one[1] = {make_mbuf(other_orig.back())};
    ASSERT_EQ(encap_burst(*worker, *out[k], one, out_ctr[k]), 1u);
    others.push_back(k);
    other_pkts.push_back(one[0]);
  }
  std::vector<rte_mbuf*> again{make_mbuf(genuine_esn), other_pkts[0], other_pkts[1], make_mbuf(genuine_plain),
                               make_mbuf(genuine_esn), make_mbuf(genuine_plain)};
  const std::size_t again_sa[] = {sa_esn, others[0], others[1], sa_plain, sa_esn, sa_plain};
  std::vector<EspSa*> asas;
  std::vector<SaCounters*> actr;
  for (std::size_t k : again_sa) asas.push_back(in[k].get()), actr.push_back(&in_ctr[k]);
  ASSERT_EQ(decap_burst_multi(*worker, again, asas, actr), 4u);
  EXPECT_EQ(mbuf_bytes(again[0]), orig[bad_esn]);
  EXPECT_EQ(mbuf_bytes(again[1]), other_orig[0]);
  EXPECT_EQ(mbuf_bytes(again[2]), other_orig[1]);
  EXPECT_EQ(mbuf_bytes(again[3]), orig[bad_plain]);
  EXPECT_EQ(in_ctr[sa_esn].drop(DropReason::kReplay), 1u);
  EXPECT_EQ(in_ctr[sa_plain].drop(DropReason::kReplay), 1u);
  EXPECT_EQ(in_ctr[sa_esn].drop(DropReason::kIcvFail), 1u);
  for (rte_mbuf* m : again) rte_pktmbuf_free(m);
}

TEST_F(EspMulti, BurstsOfOneSaTakeTheSingleSaPathAndStayContiguous) {
  // A batch whose packets all belong to one SA runs that SA's own burst function.
  for (std::size_t k : {std::size_t{4}, std::size_t{9}}) {
    std::vector<rte_mbuf*> p;
    std::vector<std::vector<uint8_t>> o;
    std::vector<EspSa*> sas(kN, out[k].get());
    std::vector<SaCounters*> ctr(kN, &out_ctr[k]);
    const bool v6 = shape_of(k).v6;
    for (std::size_t i = 0; i < kN; ++i) {
      o.push_back(v6 ? ipv6_udp(i % 50, static_cast<uint8_t>(i)) : ipv4_udp(i % 50, static_cast<uint8_t>(i)));
      p.push_back(make_mbuf(o.back()));
    }
    ASSERT_EQ(encap_burst_multi(*worker, p, sas, ctr), kN);
    EXPECT_EQ(out[k]->sequence(), kN);
    EXPECT_EQ(out_ctr[k].packets, kN);
    std::vector<EspSa*> in_sas(kN, in[k].get());
    std::vector<SaCounters*> in_c(kN, &in_ctr[k]);
    ASSERT_EQ(decap_burst_multi(*worker, p, in_sas, in_c), kN);
    for (std::size_t i = 0; i < kN; ++i) ASSERT_EQ(mbuf_bytes(p[i]), o[i]) << i;
    for (std::size_t i = 0; i < kN; ++i) rte_pktmbuf_free(p[i]);
  }
  EXPECT_EQ(in_ctr[4].total_drops() + in_ctr[9].total_drops(), 0u);
}

TEST_F(EspMulti, WrongDirectionSaDropsAsBadSpi) {
  std::vector<rte_mbuf*> p{make_mbuf(ipv4_udp(10, 0)), make_mbuf(ipv4_udp(10, 1))};
  std::vector<EspSa*> sas{in[1].get(), out[1].get()};
  std::vector<SaCounters*> ctr{&in_ctr[1], &out_ctr[1]};
  ASSERT_EQ(encap_burst_multi(*worker, p, sas, ctr), 1u);
  EXPECT_EQ(sas[0], out[1].get());
  EXPECT_EQ(in_ctr[1].drop(DropReason::kBadSpi), 1u);
  for (rte_mbuf* m : p) rte_pktmbuf_free(m);
}

TEST_F(EspMulti, GarbageThroughMultiDecapIsDroppedNotCrashing) {
  std::mt19937 rng(4303);  // deterministic
  for (int round = 0; round < 20; ++round) {
    std::vector<rte_mbuf*> p;
    std::vector<EspSa*> sas;
    std::vector<SaCounters*> ctr;
    for (std::size_t i = 0; i < kN; ++i) {
      const std::size_t k = rng() % kSas;
      std::vector<uint8_t> b(rng() % 200);
      for (auto& x : b) x = static_cast<uint8_t>(rng());
      // Half of them look like the SA's outer header and SPI so the checks go deeper.
      const Shape s = shape_of(k);
      if (i % 2 && b.size() > 60) {
        const std::vector<uint8_t> hdr = s.v6 ? ipv6_udp(b.size() - 48, 0) : ipv4_udp(b.size() - 28, 0);
        std::memcpy(b.data(), hdr.data(), s.v6 ? 40 : 20);
        const std::size_t off = (s.v6 ? 40 : 20);
        b[s.v6 ? 6 : 9] = s.natt ? 17 : 50;
        if (s.natt) b[off + 4] = static_cast<uint8_t>((b.size() - off) >> 8), b[off + 5] = static_cast<uint8_t>(b.size() - off);
        const std::size_t esp = off + (s.natt ? 8 : 0);
        const uint32_t spi = 0x2000 + static_cast<uint32_t>(k);
        b[esp] = 0, b[esp + 1] = 0, b[esp + 2] = static_cast<uint8_t>(spi >> 8), b[esp + 3] = static_cast<uint8_t>(spi);
        if (!s.v6) {
          b[10] = b[11] = 0;
          b[6] = b[7] = 0;
        }
      }
      p.push_back(make_mbuf(b));
      sas.push_back(in[k].get());
      ctr.push_back(&in_ctr[k]);
    }
    const uint16_t k = decap_burst_multi(*worker, p, sas, ctr);
    EXPECT_EQ(k, 0u);
    for (rte_mbuf* m : p) rte_pktmbuf_free(m);
  }
  uint64_t drops = 0;
  for (const auto& c : in_ctr) drops += c.total_drops();
  EXPECT_EQ(drops, 20 * kN);
}

// SAs live in blocks of an arena of 2 MiB chunks (esp_sa.cpp), freed blocks reused: 3 000 SAs
// span several chunks; half are freed and as many made again in their blocks. Every SA keeps its
// own state (SPI, sequence counter), and a burst over SAs old and new, each packet on another SA,
// comes back through their inbound twins.
TEST(EspSaArena, SasAcrossChunksAndReusedBlocksKeepTheirOwnState) {
  test::init_dpdk();
  std::string err;
  auto worker = EspWorker::create(nullptr, &err);
  ASSERT_TRUE(worker) << err;
  constexpr std::size_t kMany = 3000;
  std::vector<std::unique_ptr<EspSa>> out(kMany);
  for (std::size_t k = 0; k < kMany; ++k) {
    out[k] = EspSa::create(descriptor(k, SaDirection::kOutbound), &err);
    ASSERT_TRUE(out[k]) << err;
  }
  std::vector<std::size_t> id(kMany);  // the descriptor number each slot holds now
  for (std::size_t k = 0; k < kMany; ++k) id[k] = k;
  for (std::size_t k = 0; k < kMany; k += 2) out[k].reset();
  for (std::size_t k = 0; k < kMany; k += 2) {
    id[k] = kMany + k;
    out[k] = EspSa::create(descriptor(id[k], SaDirection::kOutbound), &err);
    ASSERT_TRUE(out[k]) << err;
  }
  for (std::size_t k = 0; k < kMany; ++k) out[k]->set_next_sequence(1000 + k);
  for (std::size_t k = 0; k < kMany; ++k) {
    ASSERT_EQ(out[k]->spi(), 0x2000 + id[k]) << k;
    ASSERT_EQ(out[k]->sequence(), 999 + k) << k;
    ASSERT_EQ(reinterpret_cast<uintptr_t>(&out[k]->state()) % 64, 0u) << k;
  }
  // 64 SAs, old and new, one packet each, in one multi-SA burst there and back.
  std::vector<std::unique_ptr<EspSa>> in;
  std::vector<rte_mbuf*> pkts;
  std::vector<std::vector<uint8_t>> orig;
  std::vector<EspSa*> sas, in_sas;
  std::vector<SaCounters> ctr(64), in_ctr(64);
  std::vector<SaCounters*> cp, in_cp;
  for (std::size_t j = 0; j < 64; ++j) {
    const std::size_t k = j * 47 % kMany;
    in.push_back(EspSa::create(descriptor(id[k], SaDirection::kInbound), &err));
    ASSERT_TRUE(in.back()) << err;
    in.back()->set_replay_top(999 + k);
    const Shape sh = shape_of(id[k]);
    orig.push_back(sh.mode == SaMode::kTransport && sh.v6 ? ipv6_udp(j, static_cast<uint8_t>(j))
                                                           : ipv4_udp(j, static_cast<uint8_t>(j)));
    pkts.push_back(make_mbuf(orig.back()));
    sas.push_back(out[k].get());
    in_sas.push_back(in.back().get());
    cp.push_back(&ctr[j]);
    in_cp.push_back(&in_ctr[j]);
  }
  ASSERT_EQ(encap_burst_multi(*worker, pkts, sas, cp), 64u);
  ASSERT_EQ(decap_burst_multi(*worker, pkts, in_sas, in_cp), 64u);
  for (std::size_t j = 0; j < 64; ++j) {
    EXPECT_EQ(mbuf_bytes(pkts[j]), orig[j]) << j;
    rte_pktmbuf_free(pkts[j]);
  }
}

}  // namespace
}  // namespace esprit
