// The IKE SA manager at scale and its deadline scheduling, with the real fast path tables: one
// IkeManager responder over a FastpathInstaller (RCU, SAD, SPD; --no-huge EAL) and in-process IkeSa
// initiators, all from one address (tests/support/ike_scale_rig.hpp; the benchmark is
// tests/bench/ike_scale_bench.cpp). Times are never asserted; what a tick visits is (timer_runs()).
#include <gtest/gtest.h>

#include "ike_scale_rig.hpp"

namespace esprit::ike {
namespace {

using namespace std::chrono_literals;
using test::ScaleRig;

const IpAddress kLan = *IpAddress::parse("10.1.0.9");

TEST(IkeScale, FiveHundredRoadWarriorsFromOneAddress) {
  constexpr std::size_t kN = 500;
  ScaleRig rig(kN);
  for (std::size_t first = 0; first < kN; first += 50) {
    rig.connect(first, first + 50);
    rig.clock.t += 20ms;
    (void)rig.turn();
  }
  ASSERT_TRUE(rig.installer->flush(true));
  // Different IDs from one address: each its own IKE SA and Child SA (INITIAL_CONTACT from each
  // one deletes nothing: the identities differ).
  EXPECT_EQ(rig.established_initiators(), kN);
  EXPECT_EQ(rig.manager->sa_count(), kN);
  EXPECT_EQ(rig.manager->statistics().established, kN);
  EXPECT_EQ(rig.manager->statistics().initial_contact, 0u);
  EXPECT_EQ(rig.installer->failures(), 0u) << rig.installer->last_error();
  EXPECT_EQ(rig.sad->size(), 2 * kN);
  // Publications were coalesced; the SPD has one narrowed rule per road warrior.
  const SpdPublishStats& ps = rig.installer->publish_stats();
  EXPECT_LT(ps.publications, kN / 4);
  EXPECT_EQ(ps.narrowed, kN);
  for (std::size_t i : {std::size_t{0}, kN / 2, kN - 1}) {
    const ChildSa& c = rig.initiators[i]->child_sas().at(0);
    // The initiator's inbound SPI is the responder's outbound one.
    const uint32_t slot = rig.installer->slot_of(c.spi_in, SaDirection::kOutbound);
    ASSERT_NE(slot, kNoSaSlot);
    SpdMatch m = rig.classify(kLan, ScaleRig::inner_address(i));
    EXPECT_EQ(m.action, PolicyAction::kProtect);
    EXPECT_EQ(m.sa_index, slot);
  }
  // Nobody at 10.2.255.1: the configured rule, no SA (dropped as no_sa, never in clear).
  SpdMatch none = rig.classify(kLan, *IpAddress::parse("10.2.255.1"));
  EXPECT_EQ(none.action, PolicyAction::kProtect);
  EXPECT_EQ(none.sa_index, kNoSaSlot);
  // Memory statistics.
  const auto& mem = rig.manager->statistics().memory;
  EXPECT_EQ(mem.ike_sas, kN);
  EXPECT_EQ(mem.half_open, 0u);
  EXPECT_EQ(mem.child_sas, kN);
  EXPECT_GT(mem.bytes, kN * 2000);
  EXPECT_NE(format_statistics(rig.manager->statistics()).find("Memory : 500 IKE SA (0 half-open), 500 Child SA"),
            std::string::npos);
  // Idle: no deadline is due within the next seconds (DPD 30 s), so a tick visits no SA.
  const uint64_t runs = rig.manager->timer_runs();
  for (int i = 0; i < 20; ++i) {
    rig.clock.t += 100ms;
    (void)rig.turn();
  }
  EXPECT_EQ(rig.manager->timer_runs(), runs);
  // Clearing: Deletes, answered; every SA leaves the SAD once the SPD without them is published.
  EXPECT_EQ(rig.manager->clear(), kN);
  rig.pump_all();
  EXPECT_EQ(rig.manager->sa_count(), 0u);
  ASSERT_TRUE(rig.installer->flush(true));
  EXPECT_EQ(rig.sad->size(), 0u);
  EXPECT_EQ(rig.installer->publish_stats().narrowed, 0u);
  EXPECT_EQ(rig.manager->statistics().memory.ike_sas, 0u);
  EXPECT_EQ(rig.manager->statistics().memory.child_sas, 0u);
  EXPECT_EQ(rig.manager->statistics().memory.bytes, 0u);
}

TEST(IkeScale, NewOutboundSaIsNotUsedBeforeItsRuleIsPublished) {
  ScaleRig rig(4);
  rig.connect(0, 1, /*flush=*/false);
  ASSERT_EQ(rig.established_initiators(), 1u);
  EXPECT_TRUE(rig.installer->pending());
  EXPECT_EQ(rig.sad->size(), 2u);  // both SAs live in the SAD at once
  SpdMatch before = rig.classify(kLan, ScaleRig::inner_address(0));
  EXPECT_EQ(before.action, PolicyAction::kProtect);
  EXPECT_EQ(before.sa_index, kNoSaSlot);  // no_sa until the narrowed rule is out
  ASSERT_TRUE(rig.installer->flush(true));
  EXPECT_FALSE(rig.installer->pending());
  const uint32_t slot = rig.installer->slot_of(rig.initiators[0]->child_sas().at(0).spi_in, SaDirection::kOutbound);
  EXPECT_EQ(rig.classify(kLan, ScaleRig::inner_address(0)).sa_index, slot);
  // The initiator deletes the IKE SA: the outbound SA stays in the SAD (the published rule points
  // at it) until the SPD without it is published.
  rig.initiators[0]->delete_ike_sa();
  rig.pump_all(/*flush=*/false);
  EXPECT_EQ(rig.manager->sa_count(), 0u);
  EXPECT_EQ(rig.sad->size(), 1u);
  EXPECT_NE(rig.sad->get(slot), nullptr);
  ASSERT_TRUE(rig.installer->flush(true));
  EXPECT_EQ(rig.sad->size(), 0u);
  EXPECT_EQ(rig.classify(kLan, ScaleRig::inner_address(0)).sa_index, kNoSaSlot);
}

TEST(IkeScale, DeadlineMovesLaterWithTraffic) {
  ScaleRig rig(4);  // DPD 30 s
  rig.connect(0, 1);
  ASSERT_EQ(rig.manager->sa_count(), 1u);
  rig.clock.t += 20s;
  // The initiator's liveness check reaches the responder: its own DPD moves to 30 s from now.
  rig.initiators[0]->dpd();
  rig.pump_all();
  const uint64_t runs = rig.manager->timer_runs();
  rig.clock.t += 15s;  // 35 s after setup, 15 s after the last message
  (void)rig.turn();
  EXPECT_EQ(rig.manager->timer_runs(), runs);
  EXPECT_EQ(rig.manager->statistics().dpd_sent, 0u);
  rig.clock.t += 15s;  // 30 s of silence
  (void)rig.turn();
  EXPECT_EQ(rig.manager->timer_runs(), runs + 1);
  EXPECT_EQ(rig.manager->statistics().dpd_sent, 1u);
  rig.pump_all();
  EXPECT_EQ(rig.manager->sa_count(), 1u);
}

TEST(IkeScale, DeadlineMovesEarlier) {
  ScaleRig rig(4);
  // A half-open SA (IKE_SA_INIT answered, no IKE_AUTH): it would expire in 2 x 16 s.
  const std::size_t i = rig.add_initiator(0);
  const IpAddress gw = *IpAddress::parse("192.0.2.1"), nat = *IpAddress::parse("192.0.2.2");
  for (auto& d : rig.initiators[i]->outbox()) rig.manager->receive(gw, 500, nat, 500, d);
  rig.initiators[i]->outbox().clear();
  ASSERT_EQ(rig.manager->sa_count(), 1u);
  EXPECT_EQ(rig.manager->statistics().memory.half_open, 1u);
  ASSERT_TRUE(rig.manager->next_deadline());
  EXPECT_GT(*rig.manager->next_deadline(), rig.clock.t + 30s);
  // clear(): destroyed at the next tick, not at its old deadline.
  EXPECT_EQ(rig.manager->clear(), 1u);
  EXPECT_LE(*rig.manager->next_deadline(), rig.clock.t);
  rig.clock.t += 100ms;
  (void)rig.turn();
  EXPECT_EQ(rig.manager->sa_count(), 0u);
  EXPECT_EQ(rig.manager->statistics().failed, 1u);
  EXPECT_EQ(rig.manager->statistics().memory.half_open, 0u);
}

TEST(IkeScale, DestroyedSaWithPendingDeadline) {
  ScaleRig rig(4);
  rig.connect(0, 2);
  ASSERT_EQ(rig.manager->sa_count(), 2u);
  // SA 0 goes (the peer deletes it) while its DPD deadline is in the heap.
  rig.initiators[0]->delete_ike_sa();
  rig.pump_all();
  ASSERT_EQ(rig.manager->sa_count(), 1u);
  const uint64_t runs = rig.manager->timer_runs();
  rig.clock.t += 31s;
  (void)rig.turn();
  EXPECT_EQ(rig.manager->timer_runs(), runs + 1);  // only the live one
  EXPECT_EQ(rig.manager->statistics().dpd_sent, 1u);
  rig.pump_all();
  EXPECT_EQ(rig.manager->sa_count(), 1u);
}

TEST(IkeScale, ManySasEachTickVisitsOnlyTheDueOnes) {
  constexpr std::size_t kBatch = 20, kBatches = 10;
  ScaleRig rig(kBatch * kBatches);
  for (std::size_t b = 0; b < kBatches; ++b) {  // set up one second apart
    rig.connect(b * kBatch, (b + 1) * kBatch);
    rig.clock.t += 1s;
  }
  ASSERT_EQ(rig.manager->sa_count(), kBatch * kBatches);
  rig.clock.t += 30s - std::chrono::seconds(kBatches) - 1s;  // 1 s before the first batch's DPD
  (void)rig.turn();
  uint64_t runs = rig.manager->timer_runs();
  for (std::size_t b = 0; b < kBatches; ++b) {
    rig.clock.t += 1s;
    (void)rig.turn();
    EXPECT_EQ(rig.manager->timer_runs() - runs, kBatch) << "batch " << b;
    EXPECT_EQ(rig.manager->statistics().dpd_sent, (b + 1) * kBatch);
    runs = rig.manager->timer_runs();
    rig.pump_all();  // the initiators answer
  }
  EXPECT_EQ(rig.manager->sa_count(), kBatch * kBatches);
}

TEST(IkeScale, InitialContactReplacesOnlyTheSameIdentity) {
  ScaleRig rig(8);
  const std::size_t a = rig.add_initiator(0, "alice");
  const std::size_t b = rig.add_initiator(1, "bob");
  rig.pump_all();
  ASSERT_EQ(rig.manager->sa_count(), 2u);
  const uint32_t alice_out = rig.installer->slot_of(rig.initiators[a]->child_sas().at(0).spi_in, SaDirection::kOutbound);
  ASSERT_NE(alice_out, kNoSaSlot);
  // Alice reboots (her old IKE SA is gone on her side) and comes back with INITIAL_CONTACT.
  const std::size_t a2 = rig.add_initiator(2, "alice");
  rig.pump_all();
  EXPECT_EQ(rig.initiators[a2]->state(), IkeState::kEstablished);
  EXPECT_EQ(rig.manager->sa_count(), 2u);  // alice (new) and bob
  EXPECT_EQ(rig.manager->statistics().initial_contact, 1u);
  EXPECT_EQ(rig.installer->slot_of(rig.initiators[a]->child_sas().at(0).spi_in, SaDirection::kOutbound), kNoSaSlot);
  ASSERT_TRUE(rig.installer->flush(true));
  EXPECT_EQ(rig.sad->size(), 4u);  // alice's new Child SA and bob's
  // Bob is untouched; the old SA sent nothing (the peer no longer knows it).
  EXPECT_EQ(rig.initiators[b]->state(), IkeState::kEstablished);
  EXPECT_TRUE(rig.to_initiators.empty());
  // Without INITIAL_CONTACT a second SA with the same ID is kept (RFC 7296 2.4 makes it optional).
  auto s = ScaleRig::settings(true, 3);
  s.local_id = Identity::fqdn("bob");
  s.send_initial_contact = false;
  auto sa = std::make_unique<IkeSa>(IkeRole::kInitiator, std::move(s), IkeSaEnv{&rig.rng_i, &rig.clock, &rig.null_sink, nullptr});
  sa->initiate();
  rig.by_spi[sa->spi_i()] = rig.initiators.size();
  rig.initiators.push_back(std::move(sa));
  rig.pump_all();
  EXPECT_EQ(rig.manager->sa_count(), 3u);
  EXPECT_EQ(rig.manager->statistics().initial_contact, 1u);
}

}  // namespace
}  // namespace esprit::ike

namespace esprit::ike {
namespace {

/// Says the first `taken` inbound SPIs asked about are installed already.
struct TakenSink final : ChildSaSink {
  void install_inbound(const SaDescriptor&, const ChildSelectors&) override {}
  void install_outbound(const SaDescriptor&, const ChildSelectors&, uint32_t) override {}
  void remove(uint32_t, SaDirection) override {}
  bool inbound_spi_in_use(uint32_t spi) const noexcept override {
    asked.push_back(spi);
    return asked.size() <= taken;
  }
  std::size_t taken = 0;
  mutable std::vector<uint32_t> asked;
};

TEST(IkeScale, InboundSpiDrawnAgainWhenTaken) {
  test::ScaleClock clock;
  test::DeterministicRandom rng{7};
  TakenSink sink;
  sink.taken = 2;
  IkeSa sa(IkeRole::kResponder, test::ScaleRig::settings(false, 0), IkeSaEnv{&rng, &clock, &sink, nullptr});
  const uint32_t spi = sa.new_inbound_spi();
  ASSERT_EQ(sink.asked.size(), 3u);
  EXPECT_EQ(spi, sink.asked[2]);
  EXPECT_NE(sink.asked[0], sink.asked[1]);
  sink.taken = 100;  // everything taken: give up (the exchange then fails as for a broken RNG)
  EXPECT_EQ(sa.new_inbound_spi(), 0u);
}

}  // namespace
}  // namespace esprit::ike

namespace esprit::ike {
namespace {

TEST(IkeScale, EqualOutboundSpisBehindOneNatStayApart) {
  // Outbound SPIs are the peers' choice: two road warriors behind one NAT may pick the same one.
  ScaleRig rig(8);
  rig.connect(0, 1);
  const IkeSa* sa = rig.manager->established("rw");
  ASSERT_NE(sa, nullptr);
  SaDescriptor a = sa->child_sas().at(0).outbound, b = a;
  a.spi = b.spi = 0x5eed0001;
  a.natt = NatTraversal{4500, 40001};
  b.natt = NatTraversal{4500, 40002};
  ChildSelectors ts_a{{ts_range(kLan, kLan)}, {ts_range(ScaleRig::inner_address(5), ScaleRig::inner_address(5))}};
  ChildSelectors ts_b{{ts_range(kLan, kLan)}, {ts_range(ScaleRig::inner_address(6), ScaleRig::inner_address(6))}};
  ChildSaSink& sink = rig.installer->sink("rw");
  const uint32_t before = rig.sad->size();
  sink.install_outbound(a, ts_a, 0);
  sink.install_outbound(b, ts_b, 0);
  ASSERT_TRUE(rig.installer->flush(true));
  EXPECT_EQ(rig.sad->size(), before + 2);
  const uint32_t slot_a = rig.classify(kLan, ScaleRig::inner_address(5)).sa_index;
  const uint32_t slot_b = rig.classify(kLan, ScaleRig::inner_address(6)).sa_index;
  ASSERT_NE(slot_a, kNoSaSlot);
  ASSERT_NE(slot_b, kNoSaSlot);
  EXPECT_NE(slot_a, slot_b);
  // b's rekey replaces b's SA, not a's.
  SaDescriptor b2 = b;
  b2.spi = 0x5eed0002;
  sink.install_outbound(b2, ts_b, b.spi);
  ASSERT_TRUE(rig.installer->flush(true));
  EXPECT_EQ(rig.installer->slot_of(b2.spi, SaDirection::kOutbound), slot_b);
  EXPECT_EQ(rig.classify(kLan, ScaleRig::inner_address(5)).sa_index, slot_a);
  // a goes: b stays.
  sink.remove_outbound(a.spi, a);
  ASSERT_TRUE(rig.installer->flush(true));
  EXPECT_EQ(rig.classify(kLan, ScaleRig::inner_address(5)).sa_index, kNoSaSlot);
  EXPECT_EQ(rig.classify(kLan, ScaleRig::inner_address(6)).sa_index, slot_b);
  EXPECT_EQ(rig.sad->size(), before + 1);
  EXPECT_EQ(rig.installer->failures(), 0u) << rig.installer->last_error();
}

}  // namespace
}  // namespace esprit::ike
