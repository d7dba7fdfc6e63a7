// SPD benchmark (Google Benchmark): classify rate for bursts of 32 packets against 1, 1 000 and
// 100 000 rules, and the time to build those tables (rte_acl on the control core).
//
// Rules look like a site-to-site gateway's: rule i protects 10.x.y.0/24 (x.y = i) towards
// 172.16.0.0/12 + i * 16 /28 ("subnets"); in "ports", every third rule is also limited to TCP and
// an 11-port destination range (some include port 0, so the table needs the full key with the
// "ports opaque" flag: the slowest layout). Packets (a pool of 4096, bursts taken in turn so the
// tries are not all in cache) aim at a random rule; one in eight misses every rule (default
// action). "v6" uses the same shapes in 2001:db8:<i>::/48 -> fd00:<i>::/64.
// Counters are on (worker 0), as on a worker. Mpps = packets classified per second / 1e6;
// build_ms on a classify line is that table's single build.
#include <benchmark/benchmark.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "dpdk_env.hpp"
#include "esprit/fastpath/spd.hpp"

namespace esprit {
namespace {

constexpr uint32_t kBurst = 32;
constexpr uint32_t kPool = 4096;

IpAddress v6_of(uint16_t a, uint16_t b, uint32_t i, uint8_t low) {
  std::array<uint8_t, 16> x{};
  x[0] = static_cast<uint8_t>(a >> 8);
  x[1] = static_cast<uint8_t>(a);
  x[2] = static_cast<uint8_t>(b >> 8);
  x[3] = static_cast<uint8_t>(b);
  x[4] = static_cast<uint8_t>(i >> 24);
  x[5] = static_cast<uint8_t>(i >> 16);
  x[6] = static_cast<uint8_t>(i >> 8);
  x[7] = static_cast<uint8_t>(i);
  x[15] = low;
  return IpAddress::v6(x);
}

std::vector<PolicyRule> make_rules(uint32_t n, bool v6, bool ports) {
  std::vector<PolicyRule> rules(n);
  for (uint32_t i = 0; i < n; ++i) {
    PolicyRule& r = rules[i];
    r.name = "site";
    r.name += std::to_string(i);
    if (v6) {
      r.selector.src = IpPrefix(v6_of(0x2001, 0x0db8, i << 16, 0), 48);
      r.selector.dst = IpPrefix(v6_of(0xfd00, 0, i, 0), 64);
    } else {
      r.selector.src = IpPrefix(IpAddress::v4(0x0a000000u | i << 8), 24);
      r.selector.dst = IpPrefix(IpAddress::v4(0xac100000u + (i << 4)), 28);
    }
    if (ports && i % 3 == 0) {
      r.selector.proto = 6;
      r.selector.dport = {static_cast<uint16_t>(i % 1000), static_cast<uint16_t>(i % 1000 + 10)};
    }
    r.action = PolicyAction::kProtect;
    r.sa_index = i;
  }
  return rules;
}

std::vector<uint8_t> packet(bool v6, uint32_t rule, bool miss) {
  const uint16_t dport = static_cast<uint16_t>(rule % 1000 + 5);
  std::vector<uint8_t> p(v6 ? 60 : 40, 0);
  uint8_t* l4;
  if (v6) {
    p[0] = 0x60;
    p[5] = 20;
    p[6] = 6;
    p[7] = 64;
    const IpAddress s = v6_of(0x2001, miss ? 0x0db9 : 0x0db8, rule << 16, 5);
    const IpAddress d = v6_of(0xfd00, 0, rule, 3);
    std::memcpy(&p[8], s.bytes(), 16);
    std::memcpy(&p[24], d.bytes(), 16);
    l4 = &p[40];
  } else {
    p[0] = 0x45;
    p[3] = 40;
    p[8] = 64;
    p[9] = 6;
    const IpAddress s = IpAddress::v4((miss ? 0x0b000000u : 0x0a000000u) | rule << 8 | 5);
    const IpAddress d = IpAddress::v4(0xac100000u + (rule << 4) + 3);
    std::memcpy(&p[12], s.bytes(), 4);
    std::memcpy(&p[16], d.bytes(), 4);
    l4 = &p[20];
  }
  l4[0] = 0x30;
  l4[1] = 0x39;
  l4[2] = static_cast<uint8_t>(dport >> 8);
  l4[3] = static_cast<uint8_t>(dport);
  return p;
}

std::unique_ptr<SpdTable> build(const std::vector<PolicyRule>& rules, std::size_t max_acl_bytes) {
  SpdTable::Options o;
  o.default_action = PolicyAction::kDiscard;
  o.max_acl_bytes = max_acl_bytes;
  std::string err;
  auto t = SpdTable::build(rules, o, &err);
  if (!t) {
    std::fprintf(stderr, "SPD build failed: %s\n", err.c_str());
    std::abort();
  }
  return t;
}

void bench_classify(benchmark::State& state, uint32_t nrules, bool v6, bool ports, std::size_t max_acl_bytes) {
  const auto rules = make_rules(nrules, v6, ports);
  const auto t0 = std::chrono::steady_clock::now();
  const auto table = build(rules, max_acl_bytes);
  const double build_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();

  std::mt19937 rng(42);
  std::vector<std::vector<uint8_t>> pkts;
  std::vector<SpdPacket> views;
  for (uint32_t i = 0; i < kPool; ++i) pkts.push_back(packet(v6, static_cast<uint32_t>(rng() % nrules), rng() % 8 == 0));
  for (const auto& p : pkts) views.push_back({p.data(), static_cast<uint32_t>(p.size())});
  std::vector<SpdMatch> out(kBurst);
  uint32_t at = 0;
  uint64_t protect = 0;
  for (auto _ : state) {
    table->classify(std::span<const SpdPacket>(views.data() + at, kBurst), out.data(), 0);
    protect += out[0].action == PolicyAction::kProtect;
    at = (at + kBurst) % kPool;
    benchmark::ClobberMemory();
  }
  benchmark::DoNotOptimize(protect);
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()) * kBurst);
  state.counters["Mpps"] =
      benchmark::Counter(static_cast<double>(state.iterations()) * kBurst / 1e6, benchmark::Counter::kIsRate);
  state.counters["build_ms"] = build_ms;
}

void bench_build(benchmark::State& state, uint32_t nrules, bool v6, bool ports) {
  const auto rules = make_rules(nrules, v6, ports);
  for (auto _ : state) {
    auto t = build(rules, 0);
    benchmark::DoNotOptimize(t.get());
  }
  state.counters["rules"] = nrules;
}

}  // namespace
}  // namespace esprit

int main(int argc, char** argv) {
  using namespace esprit;
  test::init_dpdk();
  for (const bool ports : {false, true}) {
    const std::string shape = ports ? "ports" : "subnets";
    for (uint32_t n : {1u, 1000u, 100000u})
      benchmark::RegisterBenchmark(("classify/v4/" + shape + "/rules:" + std::to_string(n)).c_str(), bench_classify, n,
                                   false, ports, 0);
    benchmark::RegisterBenchmark(("classify/v6/" + shape + "/rules:1000").c_str(), bench_classify, 1000u, true, ports,
                                 0);
  }
  for (const bool ports : {false, true}) {
    for (uint32_t n : {1u, 1000u, 100000u}) {
      const std::string name = std::string("build/v4/") + (ports ? "ports" : "subnets") + "/rules:" + std::to_string(n);
      auto* b = benchmark::RegisterBenchmark(name.c_str(), bench_build, n, false, ports);
      b->Unit(benchmark::kMillisecond);
      if (n >= 100000) b->Iterations(2);
    }
  }
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
