// IKE SA benchmark (Google Benchmark): one complete IKE_SA_INIT + IKE_AUTH with the first Child SA
// between two Esprit IKE stacks in one process (both sides' work: two DH key pairs and derivations,
// codec, SK seal/open, PSK AUTH, Child SA KEYMAT), and one Child SA rekey with PFS. No sockets.
//
//   ninja -C build tests/bench/ike_sa_bench && build/tests/bench/ike_sa_bench
#include <benchmark/benchmark.h>

#include <memory>

#include "esprit/control/ike/sa/ike_sa.hpp"

namespace esprit::ike {
namespace {

class Clock0 final : public Clock {
 public:
  Duration now() const noexcept override { return std::chrono::seconds(1); }
};
class NullSink final : public ChildSaSink {
 public:
  void install_inbound(const SaDescriptor&, const ChildSelectors&) override {}
  void install_outbound(const SaDescriptor&, const ChildSelectors&, uint32_t) override {}
  void remove(uint32_t, SaDirection) override {}
};

const char* const kSuites[][2] = {{"3des-sha1-modp1024", "3des-sha1"},
                                  {"aes256-sha256-modp2048", "aes256-sha256"},
                                  {"aes128gcm16-prfsha256-x25519", "aes128gcm16-curve25519"}};

IkeSettings make(bool initiator, int suite) {
  IkeSettings s;
  s.ike_proposals.push_back(*parse_proposal(kSuites[suite][0], ProtocolId::kIke));
  s.child.esp_proposals.push_back(*parse_proposal(kSuites[suite][1], ProtocolId::kEsp));
  s.psk = SecretBytes{'b', 'e', 'n', 'c', 'h', '-', 'p', 's', 'k', '!'};
  IpAddress a = *IpAddress::parse("192.0.2.1"), b = *IpAddress::parse("192.0.2.2");
  s.local_addr = initiator ? a : b;
  s.remote_addr = initiator ? b : a;
  s.local_id = Identity::fqdn(initiator ? "left" : "right");
  auto l = ts_range(*IpAddress::parse("10.0.0.0"), *IpAddress::parse("10.0.255.255"));
  auto r = ts_range(*IpAddress::parse("10.1.0.0"), *IpAddress::parse("10.1.255.255"));
  s.child.local_ts = {initiator ? l : r};
  s.child.remote_ts = {initiator ? r : l};
  return s;
}

void pump(IkeSa& i, IkeSa& r) {
  for (int n = 0; n < 10; ++n) {
    auto a = std::move(i.outbox());
    i.outbox().clear();
    for (auto& d : a) r.receive(d);
    auto b = std::move(r.outbox());
    r.outbox().clear();
    for (auto& d : b) i.receive(d);
    if (a.empty() && b.empty()) return;
  }
}

void BM_Establish(benchmark::State& state) {
  const int suite = static_cast<int>(state.range(0));
  state.SetLabel(kSuites[suite][0]);
  Clock0 clock;
  NullSink sink;
  IkeSettings si = make(true, suite), sr = make(false, suite);
  for (auto _ : state) {
    IkeSa i(IkeRole::kInitiator, si, IkeSaEnv{&SystemRandom::instance(), &clock, &sink, nullptr});
    IkeSa r(IkeRole::kResponder, sr, IkeSaEnv{&SystemRandom::instance(), &clock, &sink, nullptr});
    i.initiate();
    pump(i, r);
    if (i.state() != IkeState::kEstablished || i.child_sas().size() != 1) state.SkipWithError("not established");
  }
}
BENCHMARK(BM_Establish)->DenseRange(0, 2)->Unit(benchmark::kMicrosecond);

void BM_ChildRekey(benchmark::State& state) {
  const int suite = static_cast<int>(state.range(0));
  state.SetLabel(kSuites[suite][1]);
  Clock0 clock;
  NullSink sink;
  IkeSa i(IkeRole::kInitiator, make(true, suite), IkeSaEnv{&SystemRandom::instance(), &clock, &sink, nullptr});
  IkeSa r(IkeRole::kResponder, make(false, suite), IkeSaEnv{&SystemRandom::instance(), &clock, &sink, nullptr});
  i.initiate();
  pump(i, r);
  for (auto _ : state) {
    i.rekey_child(i.child_sas()[0].spi_in);
    pump(i, r);
    if (i.child_sas().size() != 1) state.SkipWithError("rekey failed");
  }
}
BENCHMARK(BM_ChildRekey)->DenseRange(0, 2)->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace esprit::ike

BENCHMARK_MAIN();
