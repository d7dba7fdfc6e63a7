// Test support: one IkeManager responder over a real FastpathInstaller (RCU, SAD, SPD with rte_acl;
// --no-huge EAL; the tables of fastpath_tables.hpp) that N in-process IkeSa initiators connect to,
// all from one address with their own IDs (client-N) and their own inner address (10.2.x.y, a road
// warrior's), a few at a time. Used by tests/bench/ike_scale_bench.cpp (10 000 SAs, figures) and
// the unit test ike_scale_test.cpp (500, correctness). Only the responder's calls (receive, tick,
// FastpathInstaller::flush) are timed, with the thread's CPU clock.
#pragma once

#include <malloc.h>
#include <time.h>

#include <chrono>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "deterministic_random.hpp"
#include "esprit/control/ike/manager/fastpath_sink.hpp"
#include "esprit/control/ike/manager/ike_manager.hpp"
#include "esprit/control/ike/message.hpp"
#include "fastpath_tables.hpp"

namespace esprit::test {

class ScaleClock final : public ike::Clock {
 public:
  ike::Duration now() const noexcept override { return t; }
  ike::Duration t = std::chrono::seconds(1000);
};

/// CPU time of the calling thread, in seconds.
inline double thread_cpu_s() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}
/// Heap bytes in use (glibc).
inline std::size_t heap_in_use() { return mallinfo2().uordblks; }
/// Resident set size in bytes.
inline std::size_t rss_bytes() {
  long pages = 0, resident = 0;
  if (FILE* f = std::fopen("/proc/self/statm", "r")) {
    if (std::fscanf(f, "%ld %ld", &pages, &resident) != 2) resident = 0;
    std::fclose(f);
  }
  return static_cast<std::size_t>(resident) * 4096;
}

struct ScaleRig : FastpathTables {
  static constexpr const char* kSuiteIke = "aes128gcm16-prfsha256-x25519";
  static constexpr const char* kSuiteEsp = "aes128gcm16";

  explicit ScaleRig(std::size_t max_sas) : FastpathTables("scale_sad", static_cast<uint32_t>(2 * max_sas + 64)) {
    if (!error.empty()) std::fprintf(stderr, "fast path tables: %s\n", error.c_str());
    ike::FastpathInstallerConfig c;
    c.tables = &tables;
    c.rules = protect_rules("rw", "10.1.0.0/16", "10.2.0.0/16");
    c.batch_publish = true;  // as espritd runs it: flush() once per control-loop turn
    installer = std::make_unique<ike::FastpathInstaller>(std::move(c));
    std::string err;
    if (!installer->publish(&err)) std::fprintf(stderr, "SPD: %s\n", err.c_str());

    ike::ManagedPeer p;
    p.name = "rw";
    p.direction = NegotiationDirection::kResponder;
    p.sa = settings(false, 0);
    p.child_lifetime = std::chrono::hours(1);
    p.ike_lifetime = std::chrono::hours(4);
    p.rekey_margin = std::chrono::minutes(5);
    p.rekey_jitter = std::chrono::minutes(2);
    p.dpd_interval = std::chrono::seconds(30);
    p.sink = &installer->sink("rw");
    ike::IkeManagerEnv env;
    env.rng = &rng_r;
    env.clock = &clock;
    env.send = [this](const IpAddress&, uint16_t, const IpAddress&, uint16_t, std::span<const uint8_t> b) {
      to_initiators.emplace_back(b.begin(), b.end());
    };
    manager = std::make_unique<ike::IkeManager>(std::vector<ike::ManagedPeer>{std::move(p)}, std::move(env));
  }

  /// Settings of the responder (initiator false) or of initiator `i`.
  static ike::IkeSettings settings(bool initiator, std::size_t i) {
    ike::IkeSettings s;
    s.ike_proposals.push_back(*ike::parse_proposal(kSuiteIke, ike::ProtocolId::kIke));
    s.child.esp_proposals.push_back(*ike::parse_proposal(kSuiteEsp, ike::ProtocolId::kEsp));
    static const char kPsk[] = "scale-test-psk";
    s.psk = SecretBytes(std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(kPsk), sizeof kPsk - 1));
    IpAddress gw = *IpAddress::parse("192.0.2.1"), nat = *IpAddress::parse("192.0.2.2");
    s.local_addr = initiator ? nat : gw;
    s.remote_addr = initiator ? gw : nat;
    s.child.lifetime = std::chrono::hours(1);
    s.ike_lifetime = std::chrono::hours(4);
    auto net1 = ike::ts_range(*IpAddress::parse("10.1.0.0"), *IpAddress::parse("10.1.255.255"));
    if (!initiator) {
      s.local_id = ike::Identity::fqdn("gw");
      s.child.local_ts = {net1};
      s.child.remote_ts = {ike::ts_range(*IpAddress::parse("10.2.0.0"), *IpAddress::parse("10.2.255.255"))};
      return s;
    }
    s.local_id = ike::Identity::fqdn("client-" + std::to_string(i));
    IpAddress inner = inner_address(i);
    s.child.local_ts = {ike::ts_range(inner, inner)};
    s.child.remote_ts = {net1};
    return s;
  }
  static IpAddress inner_address(std::size_t i) {
    return IpAddress::v4(0x0a020000u + 1 + static_cast<uint32_t>(i));
  }

  /// A new initiator (index i: ID client-i, inner address 10.2.x.y; `id` overrides the ID) that
  /// has queued its IKE_SA_INIT; returns its index.
  std::size_t add_initiator(std::size_t i, const char* id = nullptr) {
    auto s = settings(true, i);
    if (id) s.local_id = ike::Identity::fqdn(id);
    auto sa = std::make_unique<ike::IkeSa>(ike::IkeRole::kInitiator, std::move(s),
                                           ike::IkeSaEnv{&rng_i, &clock, &null_sink, nullptr});
    sa->initiate();
    by_spi[sa->spi_i()] = initiators.size();
    initiators.push_back(std::move(sa));
    return initiators.size() - 1;
  }

  /// Starts initiators [first, last), runs the exchanges to the end; the responder's CPU time
  /// goes to responder_cpu_s.
  void connect(std::size_t first, std::size_t last, bool flush = true) {
    for (std::size_t i = first; i < last; ++i) add_initiator(i);
    pump(first, last, flush);
  }

  /// Delivers datagrams both ways between the responder and initiators [first, last) until quiet.
  /// `flush`: the installer publishes (paced) after each round, as espritd's loop does.
  void pump(std::size_t first, std::size_t last, bool flush = true) {
    const IpAddress gw = *IpAddress::parse("192.0.2.1"), nat = *IpAddress::parse("192.0.2.2");
    for (int round = 0; round < 16; ++round) {
      std::vector<std::vector<uint8_t>> to_responder;
      for (std::size_t i = first; i < last; ++i) {
        for (auto& d : initiators[i]->outbox()) to_responder.push_back(std::move(d));
        initiators[i]->outbox().clear();
      }
      if (to_responder.empty() && to_initiators.empty()) break;
      double t0 = thread_cpu_s();
      auto w0 = std::chrono::steady_clock::now();
      for (auto& d : to_responder) manager->receive(gw, 500, nat, 500, d);
      if (flush) installer->flush();
      responder_cpu_s += thread_cpu_s() - t0;
      responder_wall_s += std::chrono::duration<double>(std::chrono::steady_clock::now() - w0).count();
      auto replies = std::move(to_initiators);
      to_initiators.clear();
      for (auto& d : replies) {
        auto h = ike::Message::parse_header(d);
        if (!h) continue;
        auto it = by_spi.find(h->spi_i);
        if (it != by_spi.end()) initiators[it->second]->receive(d);
      }
    }
  }
  void pump_all(bool flush = true) { pump(0, initiators.size(), flush); }

  /// One control-loop turn of the responder: tick() and the installer's flush(); its CPU time.
  double turn() {
    double t0 = thread_cpu_s();
    manager->tick();
    installer->flush();
    return thread_cpu_s() - t0;
  }

  std::size_t established_initiators() const {
    std::size_t n = 0;
    for (const auto& sa : initiators)
      if (sa->state() == ike::IkeState::kEstablished && sa->child_sas().size() == 1) ++n;
    return n;
  }

  struct NullSink final : ike::ChildSaSink {
    void install_inbound(const SaDescriptor&, const ike::ChildSelectors&) override {}
    void install_outbound(const SaDescriptor&, const ike::ChildSelectors&, uint32_t) override {}
    void remove(uint32_t, SaDirection) override {}
  };

  ScaleClock clock;
  DeterministicRandom rng_r{1}, rng_i{2};
  std::unique_ptr<ike::FastpathInstaller> installer;
  std::unique_ptr<ike::IkeManager> manager;
  NullSink null_sink;
  std::vector<std::unique_ptr<ike::IkeSa>> initiators;
  std::unordered_map<uint64_t, std::size_t> by_spi;
  std::vector<std::vector<uint8_t>> to_initiators;
  double responder_cpu_s = 0;
  double responder_wall_s = 0;  ///< the same calls in wall time (SPD publications wait for RCU)
};

}  // namespace esprit::test
