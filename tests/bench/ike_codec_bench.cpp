// IKEv2 codec benchmark (Google Benchmark): parse and encode of the sample messages the exchanges
// send (tests/support/ike_samples.cpp), and of an SK plaintext chain. The control core's setup
// rate target (issue 4) needs the codec far below the cost of the DH it accompanies.
//
//   ninja -C build tests/bench/ike_codec_bench && build/tests/bench/ike_codec_bench
#include <benchmark/benchmark.h>

#include <cstdlib>

#include <string>
#include <vector>

#include "esprit/control/ike/message.hpp"
#include "ike_samples.hpp"

namespace esprit::ike {
namespace {

const test::Sample& sample(const std::string& name) {
  static const auto samples = test::ike_samples();
  for (const auto& s : samples)
    if (s.name == name) return s;
  std::abort();
}

void BM_Parse(benchmark::State& state, const std::string& name) {
  const auto wire = sample(name).message.encode();
  for (auto _ : state) {
    auto m = Message::parse(wire);
    benchmark::DoNotOptimize(m);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * wire.size()));
}

void BM_Encode(benchmark::State& state, const std::string& name) {
  const Message& m = sample(name).message;
  std::size_t size = 0;
  for (auto _ : state) {
    auto wire = m.encode();
    size = wire.size();
    benchmark::DoNotOptimize(wire);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * size));
}

void BM_ParseInner(benchmark::State& state) {
  const auto& s = sample("ike_auth_request");
  const auto plain = encode_inner(s.inner);
  for (auto _ : state) {
    auto inner = parse_inner(payload_type(s.inner.front()), plain);
    benchmark::DoNotOptimize(inner);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * plain.size()));
}

BENCHMARK_CAPTURE(BM_Parse, ike_sa_init_request, std::string("ike_sa_init_request"));
BENCHMARK_CAPTURE(BM_Parse, ike_auth_request_sk, std::string("ike_auth_request"));
BENCHMARK_CAPTURE(BM_Parse, every_payload_clear, std::string("every_payload_clear"));
BENCHMARK_CAPTURE(BM_Encode, ike_sa_init_request, std::string("ike_sa_init_request"));
BENCHMARK_CAPTURE(BM_Encode, every_payload_clear, std::string("every_payload_clear"));
BENCHMARK(BM_ParseInner);

}  // namespace
}  // namespace esprit::ike

BENCHMARK_MAIN();
