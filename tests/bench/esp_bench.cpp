// ESP engine benchmark (Google Benchmark): encap and decap per core for 64 B, IMIX and 1420 B
// packets, and raw Intel IPsec-MB crypto on the same buffer sizes, in one run. After the
// benchmarks it prints a summary: Mpps, Gbps, cycles/packet and ESP/raw-crypto ratios.
//
// Sizes are inner IP packet lengths (what the protected side hands to the gateway); Gbps counts
// those bytes. IMIX is 7 x 64 : 4 x 576 : 1 x 1500 in bursts of 36; fixed sizes use bursts of 32.
// Decap restores each burst's ciphertext with memcpy before every run (decryption is in place);
// that copy is measured on its own ("restore") and subtracted in the summary. The decap SAs run
// with anti-replay off so the same packets can be decapsulated again; the window's own cost is
// measured by the ReplayWindow benchmark.
#include <benchmark/benchmark.h>
#include <intel-ipsec-mb.h>

#include <rte_cycles.h>
#include <rte_mbuf.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "dpdk_env.hpp"
#include "esprit/fastpath/esp.hpp"
#include "esprit/fastpath/replay_window.hpp"

namespace esprit {
namespace {

struct Suite {
  const char* name;
  EncrAlg encr;
  IntegAlg integ;
};
constexpr Suite kSuites[] = {
    {"aes-gcm-128", EncrAlg::kAesGcm16_128, IntegAlg::kNone},
    {"aes-gcm-256", EncrAlg::kAesGcm16_256, IntegAlg::kNone},
    {"aes-cbc-128+sha1", EncrAlg::kAesCbc128, IntegAlg::kHmacSha1_96},
    {"aes-cbc-256+sha256", EncrAlg::kAesCbc256, IntegAlg::kHmacSha256_128},
    {"chacha20-poly1305", EncrAlg::kChaCha20Poly1305, IntegAlg::kNone},
};

struct Profile {
  const char* name;
  std::vector<uint16_t> sizes;  // one burst
};
std::vector<Profile> profiles() {
  std::vector<uint16_t> imix;
  for (int r = 0; r < 3; ++r) {
    for (int i = 0; i < 7; ++i) imix.push_back(64);
    for (int i = 0; i < 4; ++i) imix.push_back(576);
    imix.push_back(1500);
  }
  return {{"64", std::vector<uint16_t>(32, 64)}, {"imix", imix}, {"1420", std::vector<uint16_t>(32, 1420)}};
}

SaDescriptor descriptor(const Suite& s, SaDirection dir) {
  SaDescriptor d;
  d.spi = 0x4242;
  d.direction = dir;
  d.local = *IpAddress::parse(dir == SaDirection::kOutbound ? "192.0.2.1" : "192.0.2.2");
  d.remote = *IpAddress::parse(dir == SaDirection::kOutbound ? "192.0.2.2" : "192.0.2.1");
  d.encr = s.encr;
  d.encr_key = SecretBytes(std::vector<uint8_t>(info(s.encr).keymat_len(), 0x17));
  d.integ = s.integ;
  d.integ_key = SecretBytes(std::vector<uint8_t>(info(s.integ).key_len, 0x29));
  d.esn = true;
  d.anti_replay = dir == SaDirection::kOutbound;  // see the header comment
  return d;
}

std::vector<uint8_t> inner_packet(uint16_t len) {
  std::vector<uint8_t> p(len, 0x5a);
  p[0] = 0x45;
  p[2] = static_cast<uint8_t>(len >> 8);
  p[3] = static_cast<uint8_t>(len);
  p[8] = 64;
  p[9] = 17;
  return p;
}

/// Packets of one burst: the mbufs and the bytes to put back before each run.
struct Burst {
  std::vector<rte_mbuf*> mbufs;
  std::vector<std::vector<uint8_t>> bytes;
  uint64_t payload_bytes = 0;
  ~Burst() {
    for (rte_mbuf* m : mbufs) rte_pktmbuf_free(m);
  }
  /// Puts packet i back at the default headroom. `full` copies every byte, else only the first 20
  /// (encap leaves the inner packet in place and only needs its header back).
  void restore(bool full) noexcept {
    for (std::size_t i = 0; i < mbufs.size(); ++i) {
      rte_mbuf* m = mbufs[i];
      const auto& b = bytes[i];
      m->data_off = RTE_PKTMBUF_HEADROOM;
      m->data_len = static_cast<uint16_t>(b.size());
      m->pkt_len = m->data_len;
      std::memcpy(rte_pktmbuf_mtod(m, uint8_t*), b.data(), full ? b.size() : 20);
    }
  }
};

Burst make_burst(const std::vector<uint16_t>& sizes) {
  Burst b;
  for (uint16_t s : sizes) {
    b.bytes.push_back(inner_packet(s));
    b.mbufs.push_back(test::make_mbuf(b.bytes.back()));
    b.payload_bytes += s;
  }
  return b;
}

struct Result {
  double cycles_per_pkt = 0;
  double mpps = 0;
  double gbps = 0;
  double min_cycles_per_pkt = 0;  ///< the fastest burst
};
std::map<std::string, Result> g_results;

/// `best_burst_cycles` / `burst_pkts`: the fastest single burst (cycles a packet), printed as
/// `min-cyc/pkt`: on a shared machine the mean moves with other people's load, the best burst much
/// less (a burst of 32 packets takes a few microseconds, rarely interrupted).
void report(benchmark::State& state, const std::string& key, uint64_t tsc_total, uint64_t pkts, uint64_t bytes,
            uint64_t best_burst_cycles = 0, uint64_t burst_pkts = 0) {
  const double hz = static_cast<double>(rte_get_tsc_hz());
  const double secs = static_cast<double>(tsc_total) / hz;
  Result r;
  r.cycles_per_pkt = static_cast<double>(tsc_total) / static_cast<double>(pkts);
  r.mpps = static_cast<double>(pkts) / secs / 1e6;
  r.gbps = static_cast<double>(bytes) * 8 / secs / 1e9;
  state.counters["Mpps"] = r.mpps;
  state.counters["Gbps"] = r.gbps;
  state.counters["cyc/pkt"] = r.cycles_per_pkt;
  if (burst_pkts) {
    r.min_cycles_per_pkt = static_cast<double>(best_burst_cycles) / static_cast<double>(burst_pkts);
    state.counters["min-cyc/pkt"] = r.min_cycles_per_pkt;
  }
  g_results[key] = r;
}

EspWorker& worker() {
  static std::unique_ptr<EspWorker> w = [] {
    std::string err;
    auto p = EspWorker::create(nullptr, &err);
    if (!p) {
      std::fprintf(stderr, "EspWorker: %s\n", err.c_str());
      std::abort();
    }
    return p;
  }();
  return *w;
}

void bench_encap(benchmark::State& state, const Suite& s, const Profile& p) {
  std::string err;
  auto sa = EspSa::create(descriptor(s, SaDirection::kOutbound), &err);
  Burst b = make_burst(p.sizes);
  SaCounters c;
  uint64_t tsc = 0, pkts = 0, bytes = 0, best = UINT64_MAX;
  for (auto _ : state) {
    b.restore(false);
    const uint64_t t0 = rte_rdtsc_precise();
    const uint16_t ok = encap_burst(worker(), *sa, b.mbufs, c);
    const uint64_t dt = rte_rdtsc_precise() - t0;
    tsc += dt;
    best = std::min(best, dt);
    if (ok != b.mbufs.size()) state.SkipWithError("encap dropped packets");
    pkts += ok;
    bytes += b.payload_bytes;
  }
  report(state, std::string("encap/") + s.name + "/" + p.name, tsc, pkts, bytes, best, b.mbufs.size());
}

void bench_decap(benchmark::State& state, const Suite& s, const Profile& p) {
  std::string err;
  auto out = EspSa::create(descriptor(s, SaDirection::kOutbound), &err);
  auto in = EspSa::create(descriptor(s, SaDirection::kInbound), &err);
  Burst b = make_burst(p.sizes);
  SaCounters c;
  if (encap_burst(worker(), *out, b.mbufs, c) != b.mbufs.size()) state.SkipWithError("encap failed");
  for (std::size_t i = 0; i < b.mbufs.size(); ++i) b.bytes[i] = test::mbuf_bytes(b.mbufs[i]);
  uint64_t tsc = 0, pkts = 0, bytes = 0, best = UINT64_MAX;
  for (auto _ : state) {
    b.restore(true);
    const uint64_t t0 = rte_rdtsc_precise();
    const uint16_t ok = decap_burst(worker(), *in, b.mbufs, c);
    const uint64_t dt = rte_rdtsc_precise() - t0;
    tsc += dt;
    best = std::min(best, dt);
    if (ok != b.mbufs.size()) state.SkipWithError("decap dropped packets");
    pkts += ok;
    bytes += b.payload_bytes;
  }
  report(state, std::string("decap/") + s.name + "/" + p.name, tsc, pkts, bytes, best, b.mbufs.size());
}

/// Many SAs: packets of each burst round-robin over `nsas` outbound SAs (each burst of 32 hits 32
/// different SAs once nsas >= 32), as a worker sees 1 000 or 100 000 interleaved flows. `multi`
/// hands the burst to encap_burst_multi(); otherwise each run of same-SA packets goes to
/// encap_burst(), which is what the worker did before (one call, one IPsec-MB batch, per packet).
void bench_many_sas(benchmark::State& state, const Suite& s, uint16_t size, uint32_t nsas, bool multi) {
  std::string err;
  std::vector<std::unique_ptr<EspSa>> sas;
  sas.reserve(nsas);
  for (uint32_t k = 0; k < nsas; ++k) {
    SaDescriptor d = descriptor(s, SaDirection::kOutbound);
    d.spi = 0x10000 + k;
    sas.push_back(EspSa::create(d, &err));
  }
  Burst b = make_burst(std::vector<uint16_t>(32, size));
  std::vector<SaCounters> counters(nsas);  // per SA, as the SAD keeps them
  std::vector<EspSa*> burst_sa(32);
  std::vector<SaCounters*> burst_ctr(32);
  uint64_t tsc = 0, pkts = 0, bytes = 0, best = UINT64_MAX;
  uint32_t next = 0;
  for (auto _ : state) {
    b.restore(false);
    for (std::size_t i = 0; i < 32; ++i) {
      burst_sa[i] = sas[next].get();
      burst_ctr[i] = &counters[next];
      if (++next == nsas) next = 0;
    }
    const uint64_t t0 = rte_rdtsc_precise();
    uint16_t ok = 0;
    if (multi) {
      ok = encap_burst_multi(worker(), b.mbufs, burst_sa, burst_ctr);
    } else {
      for (std::size_t i = 0; i < 32;) {
        std::size_t j = i + 1;
        while (j < 32 && burst_sa[j] == burst_sa[i]) ++j;
        ok += encap_burst(worker(), *burst_sa[i], std::span<rte_mbuf*>(b.mbufs.data() + i, j - i), *burst_ctr[i]);
        i = j;
      }
    }
    const uint64_t dt = rte_rdtsc_precise() - t0;
    tsc += dt;
    best = std::min(best, dt);
    if (ok != 32) state.SkipWithError("encap dropped packets");
    pkts += ok;
    bytes += b.payload_bytes;
  }
  report(state, std::string("sas/") + s.name + "/" + std::to_string(size) + "/" + std::to_string(nsas) +
                    (multi ? "/multi" : "/per-sa"), tsc, pkts, bytes, best, 32);
}

/// Decap over many SAs: packets of each burst round-robin over `nsas` inbound SAs, one
/// decap_burst_multi() per burst. All SAs share the SPI and keys of descriptor() (their states,
/// key schedules and replay windows are still their own, cache misses included), so one burst of
/// ciphertext made once decapsulates under any of them; anti-replay is off (see the header
/// comment) and the ciphertext is put back before each burst, outside the timed region.
void bench_many_sas_decap(benchmark::State& state, const Suite& s, uint16_t size, uint32_t nsas) {
  std::string err;
  auto out = EspSa::create(descriptor(s, SaDirection::kOutbound), &err);
  std::vector<std::unique_ptr<EspSa>> sas;
  sas.reserve(nsas);
  for (uint32_t k = 0; k < nsas; ++k) sas.push_back(EspSa::create(descriptor(s, SaDirection::kInbound), &err));
  Burst b = make_burst(std::vector<uint16_t>(32, size));
  SaCounters oc;
  if (encap_burst(worker(), *out, b.mbufs, oc) != b.mbufs.size()) state.SkipWithError("encap failed");
  for (std::size_t i = 0; i < b.mbufs.size(); ++i) b.bytes[i] = test::mbuf_bytes(b.mbufs[i]);
  std::vector<SaCounters> counters(nsas);
  std::vector<EspSa*> burst_sa(32);
  std::vector<SaCounters*> burst_ctr(32);
  uint64_t tsc = 0, pkts = 0, bytes = 0, best = UINT64_MAX;
  std::vector<rte_mbuf*> mbufs(32);
  uint32_t next = 0;
  for (auto _ : state) {
    b.restore(true);
    for (std::size_t i = 0; i < 32; ++i) {
      burst_sa[i] = sas[next].get();
      burst_ctr[i] = &counters[next];
      if (++next == nsas) next = 0;
    }
    std::copy(b.mbufs.begin(), b.mbufs.end(), mbufs.begin());  // decap_burst_multi permutes pkts with sas
    const uint64_t t0 = rte_rdtsc_precise();
    const uint16_t ok = decap_burst_multi(worker(), mbufs, burst_sa, burst_ctr);
    const uint64_t dt = rte_rdtsc_precise() - t0;
    tsc += dt;
    best = std::min(best, dt);
    if (ok != 32) state.SkipWithError("decap dropped packets");
    pkts += ok;
    bytes += b.payload_bytes;
  }
  report(state, std::string("sas-dec/") + s.name + "/" + std::to_string(size) + "/" + std::to_string(nsas) + "/multi",
         tsc, pkts, bytes, best, 32);
}

constexpr uint32_t kManySas[] = {1, 1000, 100000};
constexpr uint16_t kManySasSizes[] = {64, 1420};
constexpr std::size_t kManySasSuites[] = {0, 2};  // aes-gcm-128, aes-cbc-128+sha1

/// The memcpy that puts ciphertext back before each decap run, timed alone.
void bench_restore(benchmark::State& state, const Profile& p) {
  Burst b = make_burst(p.sizes);
  uint64_t tsc = 0, pkts = 0, bytes = 0;
  for (auto _ : state) {
    const uint64_t t0 = rte_rdtsc_precise();
    b.restore(true);
    benchmark::ClobberMemory();
    tsc += rte_rdtsc_precise() - t0;
    pkts += b.mbufs.size();
    bytes += b.payload_bytes;
  }
  report(state, std::string("restore/") + p.name, tsc, pkts, bytes);
}

/// Where the raw-crypto buffers live: in mbufs of the same pool, at the offset where the engine
/// has the ESP header (encap: cipher text starts at the default headroom; decap: behind a 20-byte
/// outer IPv4 header), or in plain heap memory. Placement alone changes IPsec-MB's speed (store
/// alignment, cache sets), so the ESP ratio is taken against the mbuf placement and the heap
/// figure is printed beside it.
enum class Placement { kMbuf, kHeap };

/// IPsec-MB alone: the same cipher and integrity over the same ESP payload lengths, one burst.
/// `direct`: AES-GCM through IPsec-MB's direct API (IMB_AES128_GCM_ENC / _DEC, _256_, one call a
/// packet, what the engine's GCM encap and decap use) instead of the job API's burst.
void bench_raw(benchmark::State& state, const Suite& s, bool encrypt, const Profile& p, Placement where,
               bool direct) {
  IMB_MGR* mgr = alloc_mb_mgr(0);
  init_mb_mgr_auto(mgr, nullptr);
  const EncrInfo& e = info(s.encr);
  const IntegInfo& ig = info(s.integ);
  const unsigned icv = e.aead() ? e.icv_len : ig.icv_len;
  alignas(64) static struct gcm_key_data gcm;
  alignas(16) static uint32_t enc[60], dec[60];
  alignas(16) static uint8_t ipad[64], opad[64], chacha[32], iv[16], aad[16];
  std::vector<uint8_t> key(e.key_len, 0x17);
  if (e.family == CipherFamily::kAesGcm) {
    if (e.key_len == 16) IMB_AES128_GCM_PRE(mgr, key.data(), &gcm);
    else IMB_AES256_GCM_PRE(mgr, key.data(), &gcm);
  } else if (e.family == CipherFamily::kAesCbc) {
    if (e.key_len == 16) IMB_AES_KEYEXP_128(mgr, key.data(), enc, dec);
    else IMB_AES_KEYEXP_256(mgr, key.data(), enc, dec);
    std::memset(ipad, 0x36, 64);  // HMAC pads: value does not matter for timing
    std::memset(opad, 0x5c, 64);
  } else {
    std::memcpy(chacha, key.data(), 32);
  }
  // Buffers shaped like ESP packets: header + IV + padded payload + ICV.
  std::vector<std::vector<uint8_t>> bufs;
  std::vector<uint32_t> clen;
  uint64_t payload = 0;
  for (uint16_t sz : p.sizes) {
    const uint32_t padded = (sz + 2 + e.block_size - 1) / e.block_size * e.block_size;
    bufs.emplace_back(8 + e.iv_len + padded + icv + 4, 0x33);
    clen.push_back(padded);
    payload += sz;
  }
  std::vector<uint8_t> tags(bufs.size() * 32);
  std::vector<uint8_t*> data;  // ESP header of each buffer
  std::vector<rte_mbuf*> mbufs;
  for (auto& b : bufs) {
    if (where == Placement::kHeap) {
      data.push_back(b.data());
      continue;
    }
    rte_mbuf* m = test::make_mbuf(b);
    const int off = encrypt ? -(8 + e.iv_len) : 20;
    rte_pktmbuf_append(m, 64);
    data.push_back(rte_pktmbuf_mtod(m, uint8_t*) + off);
    mbufs.push_back(m);
  }
  std::vector<IMB_JOB*> jobs(bufs.size());
  uint64_t tsc = 0, pkts = 0, bytes = 0, best = UINT64_MAX;
  if (direct) {
    gcm_context_data ctx;
    for (auto _ : state) {
      const uint64_t t0 = rte_rdtsc_precise();
      for (std::size_t i = 0; i < bufs.size(); ++i) {
        uint8_t* c = data[i] + 8 + e.iv_len;
        if (encrypt) {
          if (e.key_len == 16) IMB_AES128_GCM_ENC(mgr, &gcm, &ctx, c, c, clen[i], iv, aad, 12, &tags[i * 32], icv);
          else IMB_AES256_GCM_ENC(mgr, &gcm, &ctx, c, c, clen[i], iv, aad, 12, &tags[i * 32], icv);
        } else {
          if (e.key_len == 16) IMB_AES128_GCM_DEC(mgr, &gcm, &ctx, c, c, clen[i], iv, aad, 12, &tags[i * 32], icv);
          else IMB_AES256_GCM_DEC(mgr, &gcm, &ctx, c, c, clen[i], iv, aad, 12, &tags[i * 32], icv);
        }
      }
      const uint64_t dt = rte_rdtsc_precise() - t0;
      tsc += dt;
      best = std::min(best, dt);
      pkts += bufs.size();
      bytes += payload;
    }
    free_mb_mgr(mgr);
    for (rte_mbuf* m : mbufs) rte_pktmbuf_free(m);
    report(state, std::string(encrypt ? "raw-enc-direct/" : "raw-dec-direct/") + s.name + "/" + p.name, tsc, pkts,
           bytes, best, bufs.size());
    return;
  }
  for (auto _ : state) {
    const uint64_t t0 = rte_rdtsc_precise();
    const uint32_t n = IMB_GET_NEXT_BURST(mgr, static_cast<uint32_t>(bufs.size()), jobs.data());
    for (uint32_t i = 0; i < n; ++i) {
      IMB_JOB* j = jobs[i];
      uint8_t* b = data[i];
      j->src = b;
      j->dst = b + 8 + e.iv_len;
      j->cipher_start_src_offset_in_bytes = 8 + e.iv_len;
      j->msg_len_to_cipher_in_bytes = clen[i];
      j->cipher_direction = encrypt ? IMB_DIR_ENCRYPT : IMB_DIR_DECRYPT;
      j->chain_order = encrypt ? IMB_ORDER_CIPHER_HASH : IMB_ORDER_HASH_CIPHER;
      j->key_len_in_bytes = e.key_len;
      j->auth_tag_output = &tags[i * 32];
      j->auth_tag_output_len_in_bytes = icv;
      if (e.family == CipherFamily::kAesGcm || e.family == CipherFamily::kChaCha20Poly1305) {
        const bool gcm_mode = e.family == CipherFamily::kAesGcm;
        j->cipher_mode = gcm_mode ? IMB_CIPHER_GCM : IMB_CIPHER_CHACHA20_POLY1305;
        j->hash_alg = gcm_mode ? IMB_AUTH_AES_GMAC : IMB_AUTH_CHACHA20_POLY1305;
        j->enc_keys = j->dec_keys = gcm_mode ? static_cast<const void*>(&gcm) : chacha;
        j->hash_start_src_offset_in_bytes = 8 + e.iv_len;
        j->msg_len_to_hash_in_bytes = clen[i];
        j->iv = iv;
        j->iv_len_in_bytes = 12;
        if (gcm_mode) {
          j->u.GCM.aad = aad;
          j->u.GCM.aad_len_in_bytes = 12;
        } else {
          j->u.CHACHA20_POLY1305.aad = aad;
          j->u.CHACHA20_POLY1305.aad_len_in_bytes = 12;
        }
      } else {
        j->cipher_mode = IMB_CIPHER_CBC;
        j->hash_alg = s.integ == IntegAlg::kHmacSha1_96 ? IMB_AUTH_HMAC_SHA_1 : IMB_AUTH_HMAC_SHA_256;
        j->enc_keys = enc;
        j->dec_keys = dec;
        j->iv = b + 8;
        j->iv_len_in_bytes = 16;
        j->hash_start_src_offset_in_bytes = 0;
        j->msg_len_to_hash_in_bytes = 8 + 16 + clen[i] + 4;  // ESN high bits included, as in ESP
        j->u.HMAC._hashed_auth_key_xor_ipad = ipad;
        j->u.HMAC._hashed_auth_key_xor_opad = opad;
      }
    }
    uint32_t done = IMB_SUBMIT_BURST_NOCHECK(mgr, n, jobs.data());
    while (done < n) done += IMB_FLUSH_BURST(mgr, n - done, jobs.data());
    const uint64_t dt = rte_rdtsc_precise() - t0;
    tsc += dt;
    best = std::min(best, dt);
    pkts += n;
    bytes += payload;
  }
  free_mb_mgr(mgr);
  for (rte_mbuf* m : mbufs) rte_pktmbuf_free(m);
  report(state, std::string(encrypt ? "raw-enc" : "raw-dec") + (where == Placement::kHeap ? "-heap/" : "/") + s.name + "/" +
                    p.name, tsc, pkts, bytes, best, bufs.size());
}

void bench_replay(benchmark::State& state) {
  ReplayWindow w(4096, true, true);
  uint64_t seq = 1;
  uint64_t tsc = 0, pkts = 0;
  for (auto _ : state) {
    const uint64_t t0 = rte_rdtsc_precise();
    for (int i = 0; i < 32; ++i, ++seq) {
      const auto s = w.infer(static_cast<uint32_t>(seq));
      benchmark::DoNotOptimize(w.check(*s));
      benchmark::DoNotOptimize(w.update(*s));
    }
    tsc += rte_rdtsc_precise() - t0;
    pkts += 32;
  }
  report(state, "replay-window", tsc, pkts, 0);
}

void print_summary() {
  std::printf("\nESP engine per core (TSC %.2f GHz). Sizes are inner IP packet bytes.\n",
              static_cast<double>(rte_get_tsc_hz()) / 1e9);
  std::printf("%-20s %-5s | %8s %7s %8s | %8s %7s %8s | %6s %10s | %9s %6s\n", "suite", "size", "ESP Mpps", "Gbps",
              "cyc/pkt", "raw Mpps", "Gbps", "cyc/pkt", "ratio", "ESP extra", "heap cyc", "ratio");
  for (const char* dir : {"encap", "decap"}) {
    std::printf("-- %s%s\n", dir,
                std::strcmp(dir, "decap") == 0 ? " (restore memcpy subtracted from ESP cycles)" : "");
    for (const Suite& s : kSuites) {
      for (const Profile& p : profiles()) {
        const std::string tail = std::string(s.name) + "/" + p.name;
        const Result esp = g_results[std::string(dir) + "/" + tail];
        const std::string raw_key = std::strcmp(dir, "encap") == 0 ? "raw-enc" : "raw-dec";
        const Result raw = g_results[raw_key + "/" + tail];
        const Result heap = g_results[raw_key + "-heap/" + tail];
        double esp_cyc = esp.cycles_per_pkt;
        if (std::strcmp(dir, "decap") == 0) esp_cyc -= g_results[std::string("restore/") + p.name].cycles_per_pkt;
        if (esp_cyc <= 0 || raw.cycles_per_pkt <= 0) continue;
        const double hz = static_cast<double>(rte_get_tsc_hz());
        const double mpps = hz / esp_cyc / 1e6;
        const double gbps = esp.gbps * (esp.cycles_per_pkt / esp_cyc);
        std::printf("%-20s %-5s | %8.2f %7.2f %8.0f | %8.2f %7.2f %8.0f | %5.1f%% %10.0f | %9.0f %5.1f%%\n", s.name,
                    p.name, mpps, gbps, esp_cyc, raw.mpps, raw.gbps, raw.cycles_per_pkt,
                    100.0 * raw.cycles_per_pkt / esp_cyc, esp_cyc - raw.cycles_per_pkt, heap.cycles_per_pkt,
                    100.0 * heap.cycles_per_pkt / esp_cyc);
      }
    }
  }
  std::printf("raw = IPsec-MB alone on buffers placed as the engine places them (mbufs, same offsets);\n"
              "ratio = ESP throughput / raw throughput; ESP extra = cycles per packet beyond the crypto;\n"
              "heap = IPsec-MB alone on plain heap buffers, and the ESP ratio against that.\n");
  std::printf("replay window (4096, ESN): %.1f cycles per packet (infer + check + update)\n",
              g_results["replay-window"].cycles_per_pkt);
  std::printf("\nRaw AES-GCM, IPsec-MB job API (burst) vs direct API (one call a packet, as the engine runs GCM):\n");
  for (const char* raw : {"raw-enc", "raw-dec"}) {
    for (const Suite& s : kSuites) {
      for (const Profile& p : profiles()) {
        const std::string tail = std::string(s.name) + "/" + p.name;
        const Result job = g_results[std::string(raw) + "/" + tail];
        const Result dir = g_results[std::string(raw) + "-direct/" + tail];
        if (job.cycles_per_pkt <= 0 || dir.cycles_per_pkt <= 0) continue;
        std::printf("%-7s %-20s %-5s | job %6.0f cyc/pkt (fastest burst %5.0f) | direct %6.0f cyc/pkt (fastest burst %5.0f)\n",
                    raw, s.name, p.name, job.cycles_per_pkt, job.min_cycles_per_pkt, dir.cycles_per_pkt,
                    dir.min_cycles_per_pkt);
      }
    }
  }
  std::printf("\nEncap over many SAs, packets round-robin over the SAs (bursts of 32).\n"
              "per-sa = one encap_burst() per run of same-SA packets; multi = encap_burst_multi().\n");
  std::printf("%-20s %-5s %7s | %12s %12s | %7s | %s\n", "suite", "size", "SAs", "per-sa Mpps", "multi Mpps",
              "speedup", "multi vs 1 SA encap_burst");
  for (std::size_t si : kManySasSuites) {
    const Suite& s = kSuites[si];
    for (uint16_t size : kManySasSizes) {
      const std::string base = std::string("sas/") + s.name + "/" + std::to_string(size) + "/";
      const Result one = g_results[base + "1/per-sa"];
      for (uint32_t n : kManySas) {
        const Result a = g_results[base + std::to_string(n) + "/per-sa"];
        const Result m = g_results[base + std::to_string(n) + "/multi"];
        if (a.mpps <= 0 || m.mpps <= 0) continue;
        std::printf("%-20s %-5u %7u | %12.3f %12.3f | %6.2fx | %5.1f%%\n", s.name, size, n, a.mpps, m.mpps,
                    m.mpps / a.mpps, one.mpps > 0 ? 100.0 * m.mpps / one.mpps : 0.0);
      }
    }
  }
  std::printf("\nDecap over many SAs, packets round-robin over the SAs (bursts of 32), decap_burst_multi().\n");
  std::printf("%-20s %-5s %7s | %8s %8s %11s\n", "suite", "size", "SAs", "Mpps", "cyc/pkt", "min-cyc/pkt");
  for (std::size_t si : kManySasSuites) {
    const Suite& s = kSuites[si];
    for (uint16_t size : kManySasSizes) {
      for (uint32_t n : kManySas) {
        const Result m = g_results[std::string("sas-dec/") + s.name + "/" + std::to_string(size) + "/" +
                                   std::to_string(n) + "/multi"];
        if (m.mpps <= 0) continue;
        std::printf("%-20s %-5u %7u | %8.3f %8.0f %11.0f\n", s.name, size, n, m.mpps, m.cycles_per_pkt,
                    m.min_cycles_per_pkt);
      }
    }
  }
}

}  // namespace
}  // namespace esprit

int main(int argc, char** argv) {
  using namespace esprit;
  test::init_dpdk();
  static const auto kProfiles = profiles();
  for (const Suite& s : kSuites) {
    for (const Profile& p : kProfiles) {
      const std::string tail = std::string(s.name) + "/" + p.name;
      benchmark::RegisterBenchmark(("encap/" + tail).c_str(), bench_encap, s, p);
      benchmark::RegisterBenchmark(("raw-enc/" + tail).c_str(), bench_raw, s, true, p, Placement::kMbuf, false);
      benchmark::RegisterBenchmark(("raw-enc-heap/" + tail).c_str(), bench_raw, s, true, p, Placement::kHeap, false);
      if (s.encr == EncrAlg::kAesGcm16_128 || s.encr == EncrAlg::kAesGcm16_256)
        benchmark::RegisterBenchmark(("raw-enc-direct/" + tail).c_str(), bench_raw, s, true, p, Placement::kMbuf,
                                     true);
      benchmark::RegisterBenchmark(("decap/" + tail).c_str(), bench_decap, s, p);
      benchmark::RegisterBenchmark(("raw-dec/" + tail).c_str(), bench_raw, s, false, p, Placement::kMbuf, false);
      if (s.encr == EncrAlg::kAesGcm16_128 || s.encr == EncrAlg::kAesGcm16_256)
        benchmark::RegisterBenchmark(("raw-dec-direct/" + tail).c_str(), bench_raw, s, false, p, Placement::kMbuf,
                                     true);
      benchmark::RegisterBenchmark(("raw-dec-heap/" + tail).c_str(), bench_raw, s, false, p, Placement::kHeap, false);
    }
  }
  for (std::size_t si : kManySasSuites) {
    for (uint16_t size : kManySasSizes) {
      for (uint32_t n : kManySas) {
        for (bool multi : {false, true}) {
          const std::string name = std::string("sas/") + kSuites[si].name + "/" + std::to_string(size) + "/" +
                                   std::to_string(n) + (multi ? "/multi" : "/per-sa");
          benchmark::RegisterBenchmark(name.c_str(), bench_many_sas, kSuites[si], size, n, multi);
        }
        const std::string dname = std::string("sas-dec/") + kSuites[si].name + "/" + std::to_string(size) + "/" +
                                  std::to_string(n) + "/multi";
        benchmark::RegisterBenchmark(dname.c_str(), bench_many_sas_decap, kSuites[si], size, n);
      }
    }
  }
  for (const Profile& p : kProfiles) benchmark::RegisterBenchmark(("restore/" + std::string(p.name)).c_str(), bench_restore, p);
  benchmark::RegisterBenchmark("replay-window", bench_replay);
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  print_summary();
  return 0;
}
