// Two Esprit IKE stacks in one process (STYLE.md "Two IKE peers in one process"), for the IKE SA's
// unit tests, and what the IKE tests share: a fake clock, a sink that records what a daemon bridge
// would do to the SAD/SPD, the two sites. Every message is encoded, passed as bytes and parsed
// again (real codec, real crypto), with deterministic random sources.
//
//   left  192.0.2.1     (ID left.example,  10.0.0.0/16)  the initiator of a Pair
//   right 198.51.100.2  (ID right.example, 10.1.0.0/16)  the responder
//
// ike_manager_pair.hpp builds two IkeManagers on the same sites.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "deterministic_random.hpp"
#include "esprit/control/ike/sa/ike_sa.hpp"

namespace esprit::test {

using namespace std::chrono_literals;

class FakeClock final : public ike::Clock {
 public:
  ike::Duration now() const noexcept override { return t; }
  ike::Duration t = 1000s;
};

inline IpAddress ip(const char* s) { return *IpAddress::parse(s); }

/// The PSK both sides of the pairs share.
inline constexpr std::string_view kPsk = "correct horse battery staple";
inline SecretBytes psk_bytes(std::string_view s = kPsk) {
  return SecretBytes(std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(s.data()), s.size()));
}
inline IpAddress left_addr() { return ip("192.0.2.1"); }
inline IpAddress right_addr() { return ip("198.51.100.2"); }
inline ike::TrafficSelector left_net() { return ike::ts_range(ip("10.0.0.0"), ip("10.0.255.255")); }
inline ike::TrafficSelector right_net() { return ike::ts_range(ip("10.1.0.0"), ip("10.1.255.255")); }

struct SinkEvent {
  enum Kind { kIn, kOut, kRemove } kind;
  uint32_t spi;
  SaDirection dir;
  uint32_t replaces = 0;
};

/// Records what a daemon bridge would do to the SAD/SPD: every call in order (events), and per
/// kind (in, out with what it replaces, removed). The FastpathSink test uses the real SAD/SPD.
class RecordingSink final : public ike::ChildSaSink {
 public:
  void install_inbound(const SaDescriptor& sa, const ike::ChildSelectors&) override {
    events.push_back({SinkEvent::kIn, sa.spi, sa.direction});
    installed.push_back(sa);
    in.push_back(sa);
  }
  void install_outbound(const SaDescriptor& sa, const ike::ChildSelectors&, uint32_t replaces) override {
    events.push_back({SinkEvent::kOut, sa.spi, sa.direction, replaces});
    installed.push_back(sa);
    out.push_back(sa);
    replaced.push_back(replaces);
  }
  void remove(uint32_t spi, SaDirection d) override {
    events.push_back({SinkEvent::kRemove, spi, d});
    removed.push_back({spi, d});
  }
  std::vector<SinkEvent> events;
  std::vector<SaDescriptor> installed;  ///< inbound and outbound, in order
  std::vector<SaDescriptor> in, out;
  std::vector<uint32_t> replaced;  ///< per out: the SPI it replaces (0: none)
  std::vector<std::pair<uint32_t, SaDirection>> removed;
};

/// Proposals from their strongSwan text; a name that does not parse fails the test.
inline std::vector<ike::ProposalSpec> props(std::initializer_list<const char*> names, ike::ProtocolId p) {
  std::vector<ike::ProposalSpec> out;
  for (const char* n : names) {
    std::string err;
    auto s = ike::parse_proposal(n, p, &err);
    EXPECT_TRUE(s) << n << ": " << err;
    if (s) out.push_back(*s);
  }
  return out;
}

/// The IKE SA settings of the left side (initiator) or the right side: one IKE and one ESP
/// proposal, the PSK, the sites' addresses, IDs and selectors (tunnel mode).
inline ike::IkeSettings settings(bool initiator, const char* ike_proposal, const char* esp_proposal) {
  ike::IkeSettings s;
  s.ike_proposals = props({ike_proposal}, ike::ProtocolId::kIke);
  s.child.esp_proposals = props({esp_proposal}, ike::ProtocolId::kEsp);
  s.psk = psk_bytes();
  s.local_addr = initiator ? left_addr() : right_addr();
  s.remote_addr = initiator ? right_addr() : left_addr();
  s.local_id = ike::Identity::fqdn(initiator ? "left.example" : "right.example");
  s.child.local_ts = {initiator ? left_net() : right_net()};
  s.child.remote_ts = {initiator ? right_net() : left_net()};
  return s;
}

/// Takes (and clears) what an IKE SA queued to send.
inline std::vector<std::vector<uint8_t>> take(ike::IkeSa& sa) {
  auto out = std::move(sa.outbox());
  sa.outbox().clear();
  return out;
}

/// An initiator (i, left) and a responder (r, right) joined by their outboxes.
struct Pair {
  Pair(ike::IkeSettings si, ike::IkeSettings sr, std::size_t cookie_threshold = 1000)
      : si_(std::move(si)), sr_(std::move(sr)) {
    sr_.cookie_threshold = cookie_threshold;
    i = std::make_unique<ike::IkeSa>(ike::IkeRole::kInitiator, si_, ike::IkeSaEnv{&rng_i, &clock, &sink_i, nullptr});
    new_responder();
  }
  /// Both sides with the same proposals.
  Pair(const char* ike_proposal, const char* esp_proposal)
      : Pair(settings(true, ike_proposal, esp_proposal), settings(false, ike_proposal, esp_proposal)) {}

  void new_responder() {
    r = fresh_responder();
    ++responders;
  }
  /// A new responder with r's settings, random source, clock, sink and responder context.
  std::unique_ptr<ike::IkeSa> fresh_responder() {
    return std::make_unique<ike::IkeSa>(ike::IkeRole::kResponder, sr_, ike::IkeSaEnv{&rng_r, &clock, &sink_r, &ctx});
  }
  // Delivers every queued datagram until both sides are quiet. A responder that answered
  // statelessly (COOKIE, INVALID_KE) is replaced, as the daemon would make a new one per request.
  void pump(int max_rounds = 20) {
    for (int n = 0; n < max_rounds; ++n) {
      auto to_r = take(*i);
      for (auto& d : to_r) {
        if (r->state() == ike::IkeState::kDestroyed && i->state() == ike::IkeState::kConnecting) new_responder();
        wire_log.push_back(d);
        r->receive(d);
      }
      auto to_i = take(*r);
      for (auto& d : to_i) {
        wire_log.push_back(d);
        i->receive(d);
      }
      if (to_r.empty() && to_i.empty()) return;
    }
  }
  void establish() {
    i->initiate();
    pump();
  }
  /// Runs IKE_SA_INIT by hand (nothing in wire_log) and returns the initiator's IKE_AUTH request
  /// datagrams (taken from its outbox, not delivered).
  std::vector<std::vector<uint8_t>> init_exchange() {
    i->initiate();
    auto init = take(*i);
    EXPECT_EQ(init.size(), 1u);
    if (init.empty()) return {};
    r->receive(init[0]);
    auto init_r = take(*r);
    EXPECT_EQ(init_r.size(), 1u);
    if (init_r.empty()) return {};
    i->receive(init_r[0]);
    return take(*i);
  }

  ike::IkeSettings si_, sr_;
  DeterministicRandom rng_i{1}, rng_r{2}, rng_ctx{3};
  FakeClock clock;
  RecordingSink sink_i, sink_r;
  ike::ResponderContext ctx{rng_ctx};
  std::unique_ptr<ike::IkeSa> i, r;
  int responders = 0;
  std::vector<std::vector<uint8_t>> wire_log;
};

}  // namespace esprit::test
