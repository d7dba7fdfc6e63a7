// The IKE SA manager: two IkeManagers in one process joined by their send callbacks (Net in
// ike_manager_pair.hpp: a tiny "network" that can drop datagrams or NAT one side), a fake clock and
// deterministic random. Real IKE SAs, codec and crypto underneath.
#include "esprit/control/ike/manager/ike_manager.hpp"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <set>

#include "ike_manager_pair.hpp"

namespace esprit::ike {
namespace {

using namespace test;  // Net, peer_config, auto_connect, FakeClock, RecordingSink, Datagram, ip

TEST(IkeManagerConfig, ConvertsResolvedSettings) {
  ManagedPeer m = peer_config("right", ip("198.51.100.2"), ip("192.0.2.1"), [](esprit::IkeSettings& s) {
    s.dpd_interval = 30;
    s.retransmit_count = 3;
    s.retransmit_interval = 0;  // backoff
  });
  // NEC row 12 through retransmit_waits() {2, 4, 8, 16}: resend 2, 6, 14 s after the first send, give up at 30 s.
  ASSERT_EQ(m.sa.retransmit.resend_at.size(), 3u);
  EXPECT_EQ(m.sa.retransmit.resend_at[0], 2s);
  EXPECT_EQ(m.sa.retransmit.resend_at[1], 6s);
  EXPECT_EQ(m.sa.retransmit.resend_at[2], 14s);
  EXPECT_EQ(m.sa.retransmit.give_up_at, 30s);
  EXPECT_EQ(m.dpd_interval, 30s);
  EXPECT_EQ(m.nat_keepalive, 20s);  // RFC 3948 / strongSwan default
  EXPECT_EQ(m.ike_lifetime, 86400s);   // NEC default
  EXPECT_EQ(m.child_lifetime, 28800s);  // NEC default
  EXPECT_EQ(m.sa.child.lifetime, 28800s);
  ASSERT_EQ(m.sa.ike_proposals.size(), 1u);
  ASSERT_EQ(m.sa.child.esp_proposals.size(), 1u);
  ASSERT_TRUE(m.sa.remote_id);
  EXPECT_EQ(m.sa.remote_id->type, IdType::kIpv4Addr);  // the peer's address when remote_id is not written
  EXPECT_EQ(m.sa.remote_addr, ip("198.51.100.2"));
  EXPECT_EQ(m.sa.remote_port, 500);
  EXPECT_EQ(m.connect, ConnectType::kTrigger);  // NEC default
  EXPECT_EQ(m.direction, NegotiationDirection::kBoth);
  EXPECT_EQ(m.sa.child.limit.packets, 0u);  // no packet/byte limits by default
  EXPECT_EQ(m.sa.child.limit.bytes, 0u);
}

// Packet/byte limits go to the Child SAs' descriptors; the soft fraction follows the time
// lifetime's margin and jitter (as fractions of child_lifetime), the margin at least 10 %.
TEST(IkeManagerConfig, VolumeLimitsAndTheirSoftFraction) {
  ManagedPeer m = peer_config("right", ip("198.51.100.2"), ip("192.0.2.1"), [](esprit::IkeSettings& s) {
    s.child_lifetime_packets = 200;
    s.child_lifetime_bytes = 1000000;
  });
  EXPECT_EQ(m.sa.child.limit.packets, 200u);
  EXPECT_EQ(m.sa.child.limit.bytes, 1000000u);
  // 28800 s, margin 540 s (1.9 %, so 10 %), jitter 180 s (0.625 %).
  EXPECT_DOUBLE_EQ(m.sa.child.soft_max, 0.9);
  EXPECT_DOUBLE_EQ(m.sa.child.soft_min, 0.9 - 180.0 / 28800);
  // (child_lifetime, ike_lifetime, rekey_margin, rekey_jitter) -> soft fraction range.
  struct Case {
    uint32_t child, ike, margin, jitter;
    double max, min;
  };
  for (const Case& c : {Case{100, 100, 20, 10, 0.8, 0.7},
                        Case{10, 14, 5, 1, 0.5, 0.5}}) {  // never below half the limit
    ManagedPeer x = peer_config("right", ip("198.51.100.2"), ip("192.0.2.1"), [&](esprit::IkeSettings& e) {
      e.child_lifetime_packets = 200;
      e.child_lifetime = c.child;
      e.ike_lifetime = c.ike;
      e.rekey_margin = c.margin;
      e.rekey_jitter = c.jitter;
    });
    EXPECT_DOUBLE_EQ(x.sa.child.soft_max, c.max) << c.child;
    EXPECT_DOUBLE_EQ(x.sa.child.soft_min, c.min) << c.child;
  }
}

// Lifetime events with a recording sink: the descriptors name the Child SA (cookie = our inbound
// SPI); a soft event rekeys at once (the request is sent in the call), a second one does nothing,
// an unknown cookie is refused.
TEST(IkeManager, SoftLimitEventRekeysInTheSameCall) {
  Net n([](esprit::IkeSettings& s) { s.child_lifetime_packets = 1000; });
  ASSERT_EQ(n.a->initiate("right"), InitiateResult::kStarted);
  n.pump();
  ASSERT_EQ(n.sink_a.in.size(), 1u);
  const SaDescriptor in = n.sink_a.in[0];  // a copy: the vector grows with the rekey
  EXPECT_EQ(in.cookie, in.spi);
  EXPECT_EQ(n.sink_a.out[0].cookie, in.spi);
  EXPECT_EQ(in.hard.packets, 1000u);
  EXPECT_GE(in.soft.packets, 893u);
  EXPECT_LE(in.soft.packets, 900u);
  EXPECT_EQ(n.sink_a.out[0].soft.packets, in.soft.packets);
  EXPECT_FALSE(n.a->child_limit_event(12345, ChildLimitEvent::kSoft));
  EXPECT_TRUE(n.wire.empty());
  EXPECT_TRUE(n.a->child_limit_event(in.cookie, ChildLimitEvent::kSoft));
  EXPECT_EQ(n.wire.size(), 1u);  // CREATE_CHILD_SA, before any tick
  EXPECT_TRUE(n.a->child_limit_event(in.cookie, ChildLimitEvent::kSoft));  // the other direction's
  EXPECT_EQ(n.wire.size(), 1u);
  EXPECT_EQ(n.a->statistics().rekeys_child, 1u);
  n.pump();
  ASSERT_EQ(n.a->established("right")->child_sas().size(), 1u);
  EXPECT_NE(n.a->established("right")->child_sas()[0].spi_in, in.spi);
  EXPECT_FALSE(n.a->child_limit_event(in.cookie, ChildLimitEvent::kHard));  // gone
}

TEST(IkeManager, AutoConnectEstablishesAndSnapshots) {
  Net n(auto_connect);
  n.a->start();
  n.b->start();  // trigger: nothing
  n.pump();
  ASSERT_NE(n.a->established("right"), nullptr);
  ASSERT_NE(n.b->established("left"), nullptr);
  EXPECT_EQ(n.sink_a.in.size(), 1u);
  EXPECT_EQ(n.sink_a.out.size(), 1u);
  EXPECT_EQ(n.sink_b.out[0].spi, n.sink_a.in[0].spi);
  EXPECT_EQ(n.a->statistics().init.send_request, 1u);
  EXPECT_EQ(n.a->statistics().auth.recv_response, 1u);
  EXPECT_EQ(n.b->statistics().init.recv_request, 1u);
  EXPECT_EQ(n.b->statistics().established, 1u);

  auto snap = n.a->snapshot();
  ASSERT_EQ(snap.size(), 1u);
  EXPECT_EQ(snap[0].direction, "initiator");
  EXPECT_EQ(snap[0].status, "establish");
  EXPECT_EQ(snap[0].remaining_s, 86400);
  ASSERT_EQ(snap[0].children.size(), 1u);
  EXPECT_EQ(snap[0].children[0].remaining_s, 28800);
  std::string text = format_ike_sas(snap);
  EXPECT_NE(text.find("IKEv2 SA - 1 created"), std::string::npos) << text;
  EXPECT_NE(text.find("Direction : initiator"), std::string::npos);
  EXPECT_NE(text.find("Local Addr : 192.0.2.1:500"), std::string::npos);
  EXPECT_NE(text.find("Peer Addr : 198.51.100.2:500"), std::string::npos);
  EXPECT_NE(text.find("Local ID : FQDN left.example"), std::string::npos);
  EXPECT_NE(text.find("Status : establish"), std::string::npos);
  EXPECT_NE(text.find("Local message ID : 2"), std::string::npos);
  EXPECT_NE(text.find("DH group : curve25519"), std::string::npos) << text;
  EXPECT_NE(text.find("DPD : off"), std::string::npos);
  std::string child = format_child_sas(snap);
  EXPECT_NE(child.find("Child SA - 1 connected"), std::string::npos) << child;
  EXPECT_NE(child.find("Address Range 10.0.0.0 to 10.0.255.255"), std::string::npos) << child;
  auto j = nlohmann::json::parse(ike_sas_json(snap));
  EXPECT_EQ(j[0]["status"], "establish");
  EXPECT_EQ(j[0]["children"].size(), 1u);
  auto st = nlohmann::json::parse(statistics_json(n.a->statistics()));
  EXPECT_EQ(st["ike_sa_init"]["send_request"], 1);
  std::string stats = format_statistics(n.b->statistics());
  EXPECT_NE(stats.find("IKE_SA_INIT : 0 send request, 0 recv response\n1 recv request, 1 send response"), std::string::npos)
      << stats;
}

TEST(IkeManager, RetransmittedInitHitsTheSameHalfOpenSa) {
  Net n(auto_connect);
  n.a->start();
  ASSERT_EQ(n.wire.size(), 1u);
  Datagram init = n.wire[0];
  n.b->receive(init.to, init.tport, init.from, init.fport, init.bytes);
  n.b->receive(init.to, init.tport, init.from, init.fport, init.bytes);
  EXPECT_EQ(n.b->sa_count(), 1u);
  EXPECT_EQ(n.b->statistics().init.recv_request, 2u);
}

TEST(IkeManager, ChildRekeyAtSoftLifetimeWithinJitter) {
  auto tweak = [](esprit::IkeSettings& s) {
    s.connect_type = ConnectType::kAuto;
    s.child_lifetime = 600;
    s.rekey_margin = 60;
    s.rekey_jitter = 30;
  };
  Net n(tweak, [](esprit::IkeSettings& s) { s.child_lifetime = 6000; });
  n.a->start();
  n.pump();
  ASSERT_NE(n.a->established("right"), nullptr);
  Duration t0 = n.clock.t;
  Duration rekeyed_at{};
  for (int i = 0; i < 600 && !rekeyed_at.count(); ++i) {
    n.run(1s);
    if (n.a->statistics().rekeys_child) rekeyed_at = n.clock.t - t0;
  }
  EXPECT_GE(rekeyed_at, 510s);  // lifetime - margin - jitter
  EXPECT_LE(rekeyed_at, 541s);  // lifetime - margin (+ one tick)
  n.run(2s);
  // make-before-break: the new inbound then the new outbound replacing the old one
  ASSERT_EQ(n.sink_a.out.size(), 2u);
  EXPECT_EQ(n.sink_a.replaced[1], n.sink_a.out[0].spi);
  ASSERT_EQ(n.a->established("right")->child_sas().size(), 1u);
  EXPECT_EQ(n.a->established("right")->child_sas()[0].spi_in, n.sink_a.in[1].spi);
  EXPECT_EQ(n.b->established("left")->child_sas()[0].spi_out, n.sink_a.in[1].spi);
}

TEST(IkeManager, IkeRekeyAtSoftLifetime) {
  auto tweak = [](esprit::IkeSettings& s) {
    s.connect_type = ConnectType::kAuto;
    s.ike_lifetime = 1000;
    s.rekey_margin = 100;
    s.rekey_jitter = 0;
  };
  Net n(tweak, [](esprit::IkeSettings& s) { s.ike_lifetime = 100000; });
  n.a->start();
  n.pump();
  uint64_t old_spi = n.a->established("right")->spi_i();
  n.run(905s, 5s);
  EXPECT_EQ(n.a->statistics().rekeys_ike, 1u);
  EXPECT_EQ(n.b->statistics().rekeys_ike, 1u);
  ASSERT_NE(n.a->established("right"), nullptr);
  EXPECT_NE(n.a->established("right")->spi_i(), old_spi);
  EXPECT_EQ(n.a->sa_count(), 1u);
  EXPECT_EQ(n.b->sa_count(), 1u);
  EXPECT_EQ(n.a->established("right")->child_sas().size(), 1u);  // the Child SA moved over
}

// The hook behind the daemon's Wireshark keys file: every IKE SA, initial and rekeyed, both roles,
// reported once with its SPIs and keys in place.
TEST(IkeManager, OnEstablishedReportsInitialAndRekeyedIkeSas) {
  auto tweak = [](esprit::IkeSettings& s) {
    s.connect_type = ConnectType::kAuto;
    s.ike_lifetime = 1000;
    s.rekey_margin = 100;
    s.rekey_jitter = 0;
  };
  Net n(tweak, [](esprit::IkeSettings& s) { s.ike_lifetime = 100000; });
  n.a->start();
  n.pump();
  ASSERT_EQ(n.established_a.size(), 1u);
  ASSERT_EQ(n.established_b.size(), 1u);
  for (const auto* v : {&n.established_a, &n.established_b}) {
    EXPECT_TRUE(v->front().keys);
    EXPECT_EQ(v->front().spi_i, n.a->established("right")->spi_i());
    EXPECT_EQ(v->front().spi_r, n.a->established("right")->spi_r());
  }
  EXPECT_EQ(n.established_a.front().peer, "right");
  EXPECT_EQ(n.established_b.front().peer, "left");
  n.run(905s, 5s);  // a rekeys the IKE SA (a is the rekey's initiator, b its responder)
  ASSERT_EQ(n.a->statistics().rekeys_ike, 1u);
  ASSERT_EQ(n.established_a.size(), 2u);
  ASSERT_EQ(n.established_b.size(), 2u);
  const IkeSa* now = n.a->established("right");
  ASSERT_NE(now, nullptr);
  for (const auto* v : {&n.established_a, &n.established_b}) {
    EXPECT_TRUE(v->back().keys);
    EXPECT_EQ(v->back().spi_i, now->spi_i());
    EXPECT_EQ(v->back().spi_r, now->spi_r());
    EXPECT_NE(v->back().spi_i, v->front().spi_i);
  }
}

// RFC 7296 2.18: an IKE SA rekey moves the Child SAs to the new IKE SA; their lifetimes run on
// (a rekey of the IKE SA does not postpone theirs).
TEST(IkeManager, ChildLifetimeRunsOnAcrossIkeRekey) {
  auto tweak = [](esprit::IkeSettings& s) {
    s.connect_type = ConnectType::kAuto;
    s.ike_lifetime = 100;
    s.child_lifetime = 150;
    s.rekey_margin = 10;
    s.rekey_jitter = 0;
  };
  Net n(tweak, [](esprit::IkeSettings& s) {
    s.ike_lifetime = 100000;
    s.child_lifetime = 100000;
  });
  n.a->start();
  n.pump();
  n.run(95s);
  ASSERT_EQ(n.a->statistics().rekeys_ike, 1u);  // at 90 s
  EXPECT_EQ(n.a->statistics().rekeys_child, 0u);
  n.run(50s);
  EXPECT_EQ(n.a->statistics().rekeys_child, 1u);  // at 140 s from its installation, not 90 + 140
}

TEST(IkeManager, SimultaneousIkeRekeyLeavesOneIkeSa) {
  // Same lifetime, no jitter: both sides rekey the IKE SA in the same tick (RFC 7296 2.8.2). Both
  // new IKE SAs join the tables; the redundant one is deleted, the Child SA stays in the fast path.
  auto tweak = [](esprit::IkeSettings& s) {
    s.connect_type = ConnectType::kAuto;
    s.ike_lifetime = 1000;
    s.rekey_margin = 100;
    s.rekey_jitter = 0;
  };
  Net n(tweak, tweak);
  n.a->start();
  n.pump();
  ASSERT_NE(n.a->established("right"), nullptr);
  uint64_t old_spi = n.a->established("right")->spi_i();
  n.run(905s, 5s);
  EXPECT_EQ(n.a->statistics().rekeys_ike, 1u);
  EXPECT_EQ(n.b->statistics().rekeys_ike, 1u);
  EXPECT_EQ(n.a->sa_count(), 1u);
  EXPECT_EQ(n.b->sa_count(), 1u);
  const IkeSa* a = n.a->established("right");
  const IkeSa* b = n.b->established("left");
  ASSERT_TRUE(a && b);
  EXPECT_NE(a->spi_i(), old_spi);
  EXPECT_EQ(a->spi_i(), b->spi_i());
  EXPECT_EQ(a->spi_r(), b->spi_r());
  ASSERT_EQ(a->child_sas().size(), 1u);
  EXPECT_EQ(b->child_sas().size(), 1u);
  EXPECT_TRUE(n.sink_a.removed.empty());
  EXPECT_TRUE(n.sink_b.removed.empty());
  // A real collision: each side saw the old and the redundant IKE SA go.
  EXPECT_EQ(n.a->statistics().deleted, 2u);
  EXPECT_EQ(n.b->statistics().deleted, 2u);
  EXPECT_EQ(n.a->statistics().failed + n.b->statistics().failed, 0u);
}

TEST(IkeManager, HardPacketLimitDeletesChild) {
  Net n([](esprit::IkeSettings& s) {
    s.connect_type = ConnectType::kAuto;
    s.child_lifetime_packets = 1000;
  });
  n.a->start();
  n.pump();
  uint32_t spi_in = n.sink_a.in[0].spi;
  // Without lifetime events the manager polls the counters (limit_poll).
  n.counters[spi_in] = ChildCounters{1000, 100000, 0};
  n.run(1s);
  // Deleted; connect_type auto asked for a new Child SA at once (trigger waits for an acquire:
  // AcquireWithoutChildSaCreatesOneOnTheIkeSa).
  ASSERT_EQ(n.a->established("right")->child_sas().size(), 1u);
  EXPECT_NE(n.a->established("right")->child_sas()[0].spi_in, spi_in);
  EXPECT_EQ(n.b->established("left")->child_sas().size(), 1u);
  EXPECT_EQ(n.a->statistics().limit_hard, 1u);
  EXPECT_EQ(n.a->statistics().rekeys_child, 0u);
  bool removed = false;
  for (auto& [spi, d] : n.sink_a.removed) removed |= spi == spi_in && d == SaDirection::kInbound;
  EXPECT_TRUE(removed);
}

// Found by two espritd back to back (gateway_ike_netns): with the IKE SA up and its only Child SA
// gone (here its hard packet limit), the policy's traffic was dropped as no_sa for good: acquire
// only started IKE SAs. Now it creates a Child SA on the established IKE SA.
TEST(IkeManager, AcquireWithoutChildSaCreatesOneOnTheIkeSa) {
  Net n([](esprit::IkeSettings& s) { s.child_lifetime_packets = 1000; });
  EXPECT_EQ(n.a->acquire("right"), InitiateResult::kStarted);
  n.pump();
  ASSERT_NE(n.a->established("right"), nullptr);
  n.counters[n.sink_a.in[0].spi] = ChildCounters{1000, 100000, 0};
  n.run(1s);
  ASSERT_TRUE(n.a->established("right")->child_sas().empty());
  const std::size_t installed = n.sink_a.in.size();
  n.clock.t += 5s;  // past the acquire hold-off
  EXPECT_EQ(n.a->acquire("right"), InitiateResult::kStarted);
  n.pump();
  ASSERT_NE(n.a->established("right"), nullptr);
  EXPECT_EQ(n.a->established("right")->child_sas().size(), 1u);
  EXPECT_EQ(n.b->established("left")->child_sas().size(), 1u);
  EXPECT_EQ(n.sink_a.in.size(), installed + 1);
  EXPECT_EQ(n.a->snapshot().size(), 1u);  // on the same IKE SA, not a second one
  n.clock.t += 5s;
  EXPECT_EQ(n.a->acquire("right"), InitiateResult::kAlreadyUp);
}

// Found by two espritd back to back (gateway_ike_netns, restart): a restarted initiator's new IKE
// SA carries INITIAL_CONTACT (RFC 7296 2.4); the responder kept the old IKE SA and Child SA next to
// the new ones until their lifetime. Now the old ones go (no Delete: the peer forgot them).
TEST(IkeManager, InitialContactFromARestartedPeerReplacesItsOldIkeSa) {
  Net n(auto_connect);
  n.a->start();
  n.pump();
  ASSERT_NE(n.b->established("left"), nullptr);
  const uint32_t old_in = n.sink_b.in.at(0).spi, old_out = n.sink_b.out.at(0).spi;
  const uint64_t old_spi_r = n.b->snapshot().at(0).spi_r;
  n.clock.t += 10s;
  // a restarts: a fresh manager, same configuration, nothing of the old SA.
  test::DeterministicRandom rng{33};
  RecordingSink sink;
  n.a = std::make_unique<IkeManager>(std::vector<ManagedPeer>{peer_config("right", n.b_addr, n.a_addr, auto_connect)},
                                     n.env(rng, sink, n.established_a));
  n.a->start();
  n.pump();
  ASSERT_NE(n.a->established("right"), nullptr);
  const auto snap = n.b->snapshot();
  ASSERT_EQ(snap.size(), 1u);
  EXPECT_NE(snap[0].spi_r, old_spi_r);
  EXPECT_EQ(n.b->established("left")->child_sas().size(), 1u);
  bool in_gone = false, out_gone = false;
  for (auto& [spi, d] : n.sink_b.removed) {
    in_gone |= spi == old_in && d == SaDirection::kInbound;
    out_gone |= spi == old_out && d == SaDirection::kOutbound;
  }
  EXPECT_TRUE(in_gone && out_gone);
  EXPECT_EQ(n.b->statistics().deleted, 1u);
}

// Both sides auto: each initiates at once, each IKE SA carries INITIAL_CONTACT; neither may take
// the other's down (both sides would be left with IKE SAs the other no longer has).
TEST(IkeManager, SimultaneousInitialContactsKeepBothIkeSas) {
  Net n(auto_connect, auto_connect);
  n.a->start();
  n.b->start();
  n.pump();
  auto spis = [](const std::vector<IkeSaSnapshot>& s) {
    std::set<std::pair<uint64_t, uint64_t>> out;
    for (const auto& x : s) out.insert({x.spi_i, x.spi_r});
    return out;
  };
  EXPECT_EQ(n.a->snapshot().size(), 2u);
  EXPECT_EQ(spis(n.a->snapshot()), spis(n.b->snapshot()));
}

TEST(IkeManager, IkeHardLifetimeDeletes) {
  // No margin and no jitter: the soft time is the hard time, and the hard limit wins (Delete).
  Net n([](esprit::IkeSettings& s) {
    s.ike_lifetime = 200;
    s.rekey_margin = 0;
    s.rekey_jitter = 0;
  });
  ASSERT_EQ(n.a->initiate("right"), InitiateResult::kStarted);
  n.pump();
  ASSERT_NE(n.a->established("right"), nullptr);
  n.run(199s);
  EXPECT_EQ(n.a->sa_count(), 1u);
  n.run(2s);
  EXPECT_EQ(n.a->sa_count(), 0u);  // trigger: not re-established
  EXPECT_EQ(n.b->sa_count(), 0u);
  EXPECT_EQ(n.a->statistics().rekeys_ike, 0u);
  EXPECT_EQ(n.a->statistics().deleted, 1u);
  EXPECT_EQ(n.b->statistics().deleted, 1u);
  EXPECT_EQ(n.a->statistics().informational.send_request, 1u);
  EXPECT_EQ(n.sink_a.removed.size(), 2u);  // both SAs of the Child SA left the fast path
}

TEST(IkeManager, DpdDetectsSilentPeerAndAutoReestablishes) {
  Net n([](esprit::IkeSettings& s) {
    s.connect_type = ConnectType::kAuto;
    s.dpd_interval = 10;
  });
  n.a->start();
  n.pump();
  ASSERT_NE(n.a->established("right"), nullptr);
  n.run(11s);
  EXPECT_EQ(n.a->statistics().dpd_sent, 1u);  // answered
  EXPECT_NE(n.a->established("right"), nullptr);
  n.silent_b = true;
  n.run(45s);  // DPD at +10 s, retransmissions, give-up at +30 s, reconnect 1 s later
  EXPECT_GE(n.a->statistics().failures.at("TIMEOUT"), 1u);
  EXPECT_GE(n.a->statistics().informational.resend, 3u);
  EXPECT_EQ(n.a->statistics().informational.timeout, 1u);
  EXPECT_GE(n.a->statistics().init.send_request, 2u);  // re-establishing
  n.silent_b = false;
  n.run(40s);
  EXPECT_NE(n.a->established("right"), nullptr);
}

TEST(IkeManager, RetransmissionGiveUp) {
  Net n(auto_connect);
  n.silent_a = true;  // nothing reaches b
  n.a->start();
  n.run(29s);
  EXPECT_EQ(n.a->statistics().init.send_request, 1u);
  EXPECT_EQ(n.a->statistics().init.resend, 3u);  // at 2, 6 and 14 s
  EXPECT_EQ(n.a->statistics().failed, 0u);
  n.run(2s);  // gives up at 30 s
  EXPECT_EQ(n.a->statistics().failed, 1u);
  EXPECT_EQ(n.a->statistics().failures.at("TIMEOUT"), 1u);
  EXPECT_EQ(n.a->statistics().init.timeout, 1u);
  EXPECT_EQ(n.a->statistics().informational.timeout, 0u);
  // (auto: a new IKE_SA_INIT goes out 1 s after the give-up)
  EXPECT_NE(format_statistics(n.a->statistics()).find("IKE_SA_INIT : 2 send request, 0 recv response\n0 recv request, 0 send response\n3 resend, 1 timeout"),
            std::string::npos)
      << format_statistics(n.a->statistics());
}

TEST(IkeManager, ResponderOnlyRefusesToInitiate) {
  Net n([](esprit::IkeSettings& s) {
    s.connect_type = ConnectType::kAuto;
    s.negotiation_direction = NegotiationDirection::kResponder;
  });
  n.a->start();
  EXPECT_TRUE(n.wire.empty());
  EXPECT_EQ(n.a->initiate("right"), InitiateResult::kResponderOnly);
  EXPECT_EQ(n.a->acquire("right"), InitiateResult::kResponderOnly);
  EXPECT_EQ(n.a->initiate("nobody"), InitiateResult::kUnknownPeer);
  // and it still answers
  EXPECT_EQ(n.b->initiate("left"), InitiateResult::kStarted);
  n.pump();
  EXPECT_NE(n.a->established("right"), nullptr);
}

TEST(IkeManager, InitiatorOnlyIgnoresRequests) {
  Net n({}, [](esprit::IkeSettings& s) { s.negotiation_direction = NegotiationDirection::kInitiator; });
  EXPECT_EQ(n.a->initiate("right"), InitiateResult::kStarted);
  n.pump();
  EXPECT_EQ(n.b->sa_count(), 0u);
  EXPECT_EQ(n.b->statistics().dropped, 1u);
}

TEST(IkeManager, TriggerAcquireIsRateLimited) {
  Net n;
  EXPECT_EQ(n.a->acquire("right"), InitiateResult::kStarted);
  EXPECT_EQ(n.a->acquire("right"), InitiateResult::kRateLimited);
  EXPECT_EQ(n.wire.size(), 1u);
  n.pump();
  n.clock.t += 2s;
  EXPECT_EQ(n.a->acquire("right"), InitiateResult::kAlreadyUp);
  EXPECT_EQ(n.a->statistics().acquire, 3u);
  EXPECT_EQ(n.a->statistics().acquire_limited, 1u);
}

TEST(IkeManager, NatFloatAndMappingChange) {
  Net n(auto_connect, {}, /*nat=*/true);
  n.a->start();
  n.pump();
  ASSERT_NE(n.a->established("right"), nullptr);
  ASSERT_NE(n.b->established("left"), nullptr);
  auto sa = n.a->snapshot()[0];
  EXPECT_TRUE(sa.nat_local);
  EXPECT_EQ(sa.local_port, 4500);
  EXPECT_EQ(sa.remote_port, 4500);
  auto sb = n.b->snapshot()[0];
  EXPECT_TRUE(sb.nat_remote);
  EXPECT_EQ(sb.local_port, 4500);
  EXPECT_EQ(sb.remote_addr, n.a_public);
  EXPECT_EQ(sb.remote_port, 40001);
  ASSERT_FALSE(n.sink_b.out.empty());
  ASSERT_TRUE(n.sink_b.out.back().natt);
  EXPECT_EQ(n.sink_b.out.back().natt->remote_port, 40001);
  EXPECT_EQ(n.sink_b.out.back().natt->local_port, 4500);
  ASSERT_TRUE(n.sink_a.out.back().natt);
  EXPECT_EQ(n.sink_a.out.back().natt->local_port, 4500);
  // the NAT mapping changes: b follows on the next authenticated message
  n.nat_port_4500 = 40099;
  ASSERT_EQ(n.a->clear("nobody"), 0u);
  EXPECT_EQ(n.a->initiate("right"), InitiateResult::kAlreadyUp);
  const_cast<IkeSa*>(n.a->established("right"))->dpd();
  n.run(1s);
  sb = n.b->snapshot()[0];
  EXPECT_EQ(sb.remote_port, 40099);
  EXPECT_EQ(n.sink_b.out.back().natt->remote_port, 40099);
  EXPECT_EQ(n.sink_b.replaced.back(), n.sink_b.out.back().spi);
  // RFC 3948 4: a, behind the NAT, sends keepalives from 4500 after 20 s of silence (default); b does not.
  EXPECT_TRUE(n.keepalives.empty());
  n.run(21s);
  ASSERT_EQ(n.keepalives.size(), 1u);
  EXPECT_EQ(n.keepalives[0], (std::pair<uint16_t, uint16_t>{4500, 4500}));
  EXPECT_EQ(n.a->statistics().nat_keepalives, 1u);
  EXPECT_EQ(n.b->statistics().nat_keepalives, 0u);
}

TEST(IkeManager, ClearDeletesAndAutoComesBack) {
  Net n(auto_connect);
  n.a->start();
  n.pump();
  EXPECT_EQ(n.a->clear("right"), 1u);
  n.run(1s);
  EXPECT_EQ(n.b->sa_count(), 0u);
  EXPECT_EQ(n.b->statistics().deleted, 1u);
  n.run(3s);
  EXPECT_NE(n.a->established("right"), nullptr);
  EXPECT_NE(n.b->established("left"), nullptr);
}

// RFC 7296 1.4.1 on stop (espritd's SIGTERM): a Delete on every IKE SA, answered by the peer, which
// forgets the SA at once; nothing new starts or is accepted on the stopping side.
TEST(IkeManager, ShutdownDeletesEveryIkeSaAndAcceptsNothingNew) {
  Net n(auto_connect);
  n.a->start();
  n.pump();
  ASSERT_NE(n.b->established("left"), nullptr);
  const std::size_t children = n.sink_b.in.size();
  EXPECT_EQ(n.b->shutdown(), 1u);
  EXPECT_TRUE(n.b->shutting_down());
  ASSERT_EQ(n.wire.size(), 1u);  // the INFORMATIONAL Delete
  EXPECT_EQ(n.b->statistics().informational.send_request, 1u);
  EXPECT_EQ(n.b->shutdown_pending(), 1u);
  n.pump();  // a answers
  EXPECT_EQ(n.b->shutdown_pending(), 0u);
  EXPECT_EQ(n.b->sa_count(), 0u);
  EXPECT_EQ(n.b->statistics().deleted, 1u);
  EXPECT_EQ(n.a->established("right"), nullptr);  // the peer knows at once, no DPD needed
  EXPECT_EQ(n.a->statistics().deleted, 1u);
  EXPECT_EQ(n.sink_b.removed.size(), 2 * children);  // its Child SAs left the fast path
  // a (auto) comes back 1 s later; the stopping b drops its IKE_SA_INIT and starts nothing itself.
  n.run(3s);
  EXPECT_GE(n.a->statistics().init.send_request, 2u);
  EXPECT_EQ(n.b->sa_count(), 0u);
  EXPECT_GE(n.b->statistics().dropped, 1u);
  EXPECT_EQ(n.b->initiate("left"), InitiateResult::kShuttingDown);
  EXPECT_EQ(n.b->acquire("left"), InitiateResult::kShuttingDown);
  EXPECT_EQ(to_string(InitiateResult::kShuttingDown), "shutting down");
}

TEST(IkeManager, ShutdownOfAnAutoInitiatorDoesNotReconnect) {
  Net n(auto_connect);
  n.a->start();
  n.pump();
  EXPECT_EQ(n.a->shutdown(), 1u);
  n.pump();
  EXPECT_EQ(n.a->shutdown_pending(), 0u);
  EXPECT_EQ(n.b->sa_count(), 0u);
  n.run(5s);  // reconnect_delay is 1 s
  EXPECT_EQ(n.a->statistics().init.send_request, 1u);
  EXPECT_EQ(n.a->sa_count(), 0u);
}

TEST(IkeManager, ShutdownDropsHalfOpenSasAndWaitsForUnansweredDeletes) {
  Net m;
  m.silent_b = true;  // b's answers are lost
  ASSERT_EQ(m.a->initiate("right"), InitiateResult::kStarted);
  m.pump();
  ASSERT_EQ(m.b->sa_count(), 1u);  // half-open responder SA
  EXPECT_EQ(m.b->shutdown(), 0u);   // no Delete for it
  EXPECT_EQ(m.b->shutdown_pending(), 1u);
  ASSERT_TRUE(m.b->next_deadline());
  m.b->tick();  // dropped at the next tick
  EXPECT_EQ(m.b->shutdown_pending(), 0u);
  // An established SA whose peer is silent: the Delete stays unanswered, pending until the caller
  // gives up (espritd: 1 s).
  Net q(auto_connect);
  q.a->start();
  q.pump();
  q.silent_b = true;  // nothing reaches a any more
  EXPECT_EQ(q.b->shutdown(), 1u);
  q.pump();
  EXPECT_EQ(q.b->shutdown_pending(), 1u);
  q.clock.t += 1s;
  q.b->tick();
  EXPECT_EQ(q.b->shutdown_pending(), 1u);
}

}  // namespace
}  // namespace esprit::ike
