// SAD benchmark (Google Benchmark): how fast the control core installs SAs, with and without a
// worker decapsulating traffic meanwhile, and how fast a worker looks up inbound SAs by key with
// 1, 1 000 and 100 000 SAs installed.
//
//   ninja -C build tests/bench/sad_bench && build/tests/bench/sad_bench
//
// Install: AES-GCM-128 inbound SAs (key expansion included: EspSa::create is part of an install),
// beside the cost of EspSa::create alone. The "under traffic" run has a worker thread registered
// with the RCU that looks up and decapsulates real packets of 8 SAs that stay installed, reporting
// a quiescent state per burst; it counts any of those packets that is not decapsulated
// (stable_lost, which must be 0), then the SAs are removed again while the traffic still flows.
// Lookup: bursts of 32 keys drawn uniformly from the installed SAs, each followed by the slot
// load (lookup_inbound does both).
#include <benchmark/benchmark.h>

#include <rte_mbuf.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <random>
#include <thread>
#include <vector>

#include "dpdk_env.hpp"
#include "esprit/fastpath/sad.hpp"

namespace esprit {
namespace {

constexpr uint32_t kManySas = 100'000;

SaDescriptor inbound(uint32_t spi, uint8_t key_seed = 0x17) {
  SaDescriptor d;
  d.spi = spi;
  d.direction = SaDirection::kInbound;
  d.local = *IpAddress::parse("198.51.100.2");
  d.remote = *IpAddress::parse("192.0.2.1");
  d.encr = EncrAlg::kAesGcm16_128;
  d.encr_key = SecretBytes(std::vector<uint8_t>(info(d.encr).keymat_len(), key_seed));
  return d;
}

/// Descriptors of SPIs 0x1000.. built once: building them is not part of an install.
const std::vector<SaDescriptor>& descriptors() {
  static const std::vector<SaDescriptor> all = [] {
    std::vector<SaDescriptor> v;
    v.reserve(kManySas);
    for (uint32_t i = 0; i < kManySas; ++i) v.push_back(inbound(0x1000 + i));
    return v;
  }();
  return all;
}

Rcu& rcu() {
  static std::unique_ptr<Rcu> r = [] {
    std::string err;
    auto p = Rcu::create(1, &err);
    if (!p) {
      std::fprintf(stderr, "Rcu: %s\n", err.c_str());
      std::abort();
    }
    return p;
  }();
  return *r;
}

std::unique_ptr<Sad> make_sad(const char* name) {
  test::init_dpdk();
  SadConfig c;
  c.rcu = &rcu();
  c.name = name;
  std::string err;
  auto s = Sad::create(c, &err);
  if (!s) {
    std::fprintf(stderr, "Sad: %s\n", err.c_str());
    std::abort();
  }
  return s;
}

void BM_EspSaCreate(benchmark::State& state) {
  test::init_dpdk();
  const auto& ds = descriptors();
  std::vector<std::unique_ptr<EspSa>> sas(ds.size());
  for (auto _ : state) {
    std::string err;
    for (std::size_t i = 0; i < ds.size(); ++i) sas[i] = EspSa::create(ds[i], &err);
    state.PauseTiming();
    for (auto& s : sas) s.reset();
    state.ResumeTiming();
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * ds.size()));
}
BENCHMARK(BM_EspSaCreate)->Unit(benchmark::kMillisecond)->Iterations(3);

void BM_SadAdd(benchmark::State& state) {
  const auto& ds = descriptors();
  for (auto _ : state) {
    state.PauseTiming();
    auto sad = make_sad("sad_bench_add");
    state.ResumeTiming();
    std::string err;
    for (const auto& d : ds) {
      if (!sad->add(d, &err)) {
        state.SkipWithError(err.c_str());
        return;
      }
    }
    state.PauseTiming();
    sad.reset();
    state.ResumeTiming();
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * ds.size()));
}
BENCHMARK(BM_SadAdd)->Unit(benchmark::kMillisecond)->Iterations(3);

/// Outer-IPv4 ESP packets of `n` SAs (SPIs 0x100..), made by their outbound twins.
std::vector<std::vector<uint8_t>> packets_of(uint32_t n) {
  std::string err;
  auto w = EspWorker::create(nullptr, &err);
  std::vector<std::vector<uint8_t>> out;
  for (uint32_t i = 0; i < n; ++i) {
    SaDescriptor d = inbound(0x100 + i);
    d.direction = SaDirection::kOutbound;
    std::swap(d.local, d.remote);
    auto sa = EspSa::create(d, &err);
    std::vector<uint8_t> inner(64, 0x5a);
    inner[0] = 0x45, inner[2] = 0, inner[3] = 64, inner[8] = 64, inner[9] = 17;
    rte_mbuf* m = test::make_mbuf(inner);
    SaCounters c;
    if (!sa || encap_burst(*w, *sa, std::span<rte_mbuf*>(&m, 1), c) != 1) std::abort();
    out.push_back(test::mbuf_bytes(m));
    rte_pktmbuf_free(m);
  }
  return out;
}

void BM_SadAddUnderTraffic(benchmark::State& state) {
  const auto& ds = descriptors();
  constexpr uint32_t kStable = 8;
  const auto stable_pkts = packets_of(kStable);
  double add_secs = 0, remove_secs = 0;
  uint64_t worker_pkts = 0, lost = 0;
  for (auto _ : state) {
    auto sad = make_sad("sad_bench_traffic");
    std::string err;
    for (uint32_t i = 0; i < kStable; ++i) {
      SaDescriptor d = inbound(0x100 + i);
      d.anti_replay = false;  // the same packets are decapsulated again and again
      if (!sad->add(d, &err)) std::abort();
    }
    std::atomic<bool> stop{false};
    std::atomic<uint64_t> done{0}, missed{0};
    std::thread worker([&] {
      std::string e;
      auto w = EspWorker::create(nullptr, &e);
      rte_mbuf* pkts[kStable];
      for (uint32_t i = 0; i < kStable; ++i) pkts[i] = test::make_mbuf(stable_pkts[i]);
      SadKey keys[kStable];
      EspSa* sas[kStable];
      uint32_t slots[kStable];
      rcu().register_thread(0);
      rcu().online(0);
      uint64_t n = 0, miss = 0;
      while (!stop.load(std::memory_order_relaxed)) {
        for (uint32_t i = 0; i < kStable; ++i) {
          rte_mbuf* m = pkts[i];
          m->data_off = RTE_PKTMBUF_HEADROOM;
          m->data_len = static_cast<uint16_t>(stable_pkts[i].size());
          m->pkt_len = m->data_len;
          std::memcpy(rte_pktmbuf_mtod(m, uint8_t*), stable_pkts[i].data(), stable_pkts[i].size());
          const auto* ip = rte_pktmbuf_mtod(m, const uint8_t*);
          keys[i] = SadKey::from_packet(ip, ip + 20);
        }
        sad->lookup_inbound(keys, kStable, sas, slots);
        for (uint32_t i = 0; i < kStable; ++i) {
          if (!sas[i] || decap_burst(*w, *sas[i], std::span<rte_mbuf*>(&pkts[i], 1), sad->counters(0, slots[i])) != 1)
            ++miss;
        }
        n += kStable;
        rcu().quiescent(0);
      }
      rcu().offline(0);
      done = n;
      missed = miss;
      for (rte_mbuf* m : pkts) rte_pktmbuf_free(m);
    });
    std::this_thread::sleep_for(std::chrono::milliseconds(20));  // traffic first

    const auto t0 = std::chrono::steady_clock::now();
    std::vector<uint32_t> slots;
    slots.reserve(ds.size());
    for (const auto& d : ds) {
      auto s = sad->add(d, &err);
      if (!s) {
        stop = true;
        worker.join();
        state.SkipWithError(err.c_str());
        return;
      }
      slots.push_back(*s);
    }
    const auto t1 = std::chrono::steady_clock::now();
    for (uint32_t s : slots) sad->remove(s);
    const auto t2 = std::chrono::steady_clock::now();
    stop = true;
    worker.join();
    sad->synchronize();
    add_secs += std::chrono::duration<double>(t1 - t0).count();
    remove_secs += std::chrono::duration<double>(t2 - t1).count();
    worker_pkts += done;
    lost += missed;
  }
  const double n = static_cast<double>(state.iterations() * ds.size());
  state.counters["add/s"] = n / add_secs;
  state.counters["remove/s"] = n / remove_secs;
  state.counters["worker_Mpps"] = static_cast<double>(worker_pkts) / (add_secs + remove_secs) / 1e6;
  state.counters["stable_lost"] = static_cast<double>(lost);
}
BENCHMARK(BM_SadAddUnderTraffic)->Unit(benchmark::kMillisecond)->Iterations(3)->UseRealTime();

void BM_SadLookup(benchmark::State& state) {
  const auto n = static_cast<uint32_t>(state.range(0));
  auto sad = make_sad("sad_bench_lookup");
  std::string err;
  const auto& ds = descriptors();
  for (uint32_t i = 0; i < n; ++i) {
    if (!sad->add(ds[i], &err)) {
      state.SkipWithError(err.c_str());
      return;
    }
  }
  // Keys as the classifier makes them; random SAs so that the table's cache footprint counts.
  constexpr uint32_t kKeys = 1 << 14;
  constexpr uint32_t kBurst = 32;
  std::vector<SadKey> keys(kKeys);
  std::mt19937 rng(7);
  for (auto& k : keys) k = SadKey::of(ds[rng() % n].spi, ds[0].local);
  EspSa* sas[kBurst];
  uint32_t slots[kBurst];
  uint32_t pos = 0;
  uint64_t hits = 0;
  for (auto _ : state) {
    hits += sad->lookup_inbound(&keys[pos], kBurst, sas, slots);
    benchmark::DoNotOptimize(sas);
    pos = (pos + kBurst) & (kKeys - 1);
  }
  const uint64_t looked = state.iterations() * kBurst;
  if (hits != looked) state.SkipWithError("lookup missed an installed SA");
  state.SetItemsProcessed(static_cast<int64_t>(looked));  // items_per_second = lookups/s
}
BENCHMARK(BM_SadLookup)->Arg(1)->Arg(1000)->Arg(kManySas);

}  // namespace
}  // namespace esprit

BENCHMARK_MAIN();
