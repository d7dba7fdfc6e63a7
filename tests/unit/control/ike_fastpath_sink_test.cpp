// FastpathSink with the real fast path objects (RCU, SAD, SPD; --no-huge EAL; fastpath_tables.hpp):
// two IkeManagers negotiate (Net, ike_manager_pair.hpp), each installs into its own SAD/SPD through
// a FastpathInstaller, then the ESP engine encapsulates with one side's outbound SA and
// decapsulates with the other side's inbound SA.
#include "esprit/control/ike/manager/fastpath_sink.hpp"

#include <gtest/gtest.h>

#include <optional>
#include <set>
#include <string>

#include <rte_ring.h>

#include "dpdk_env.hpp"
#include "esprit/control/ike/manager/ike_manager.hpp"
#include "esprit/fastpath/esp.hpp"
#include "fastpath_tables.hpp"
#include "ike_manager_pair.hpp"

namespace esprit::ike {
namespace {

using namespace test;  // FastpathTables, protect_rules, Net, peer_config, ip
using namespace std::chrono_literals;

/// One gateway's fast path tables (no ports, no workers; one route-based tunnel bound to the
/// peer) and its FastpathInstaller with a PROTECT policy between the sites for `peer`.
/// `event_ring` > 0: a ring of that many lifetime events (SaEvent) for the installer and an ESP
/// worker raising into it.
struct Gateway : FastpathTables {
  Gateway(const char* name, const char* peer, bool left, unsigned event_ring = 0)
      : FastpathTables(name, 16, /*tunnels=*/1) {
    EXPECT_EQ(error, "");
    if (event_ring) {
      std::string err;
      events = rte_ring_create_elem((std::string(name) + "_ev").c_str(), sizeof(SaEvent), event_ring, 0, RING_F_SC_DEQ);
      EXPECT_NE(events, nullptr);
      worker = EspWorker::create(events, &err);
      EXPECT_TRUE(worker) << err;
    }
    FastpathInstallerConfig c;
    c.events = events;
    c.tables = &tables;
    c.rules = protect_rules(peer, left ? "10.0.0.0/16" : "10.1.0.0/16", left ? "10.1.0.0/16" : "10.0.0.0/16");
    c.tunnel_peer = {peer};
    if (left) c.peer_paths[peer].tcp_mss.mode = TcpMssClamp::Mode::kAuto;  // the tunnel's settings
    installer = std::make_unique<FastpathInstaller>(std::move(c));
    std::string err;
    EXPECT_TRUE(installer->publish(&err)) << err;
  }
  ~Gateway() {
    installer.reset();
    worker.reset();
    rte_ring_free(events);
  }
  std::unique_ptr<FastpathInstaller> installer;
  rte_ring* events = nullptr;
  std::unique_ptr<EspWorker> worker;
};

/// peer_config with ESP aes256gcm16, its Child SAs going to `sink`.
ManagedPeer peer(const char* name, const IpAddress& local, const IpAddress& remote, ChildSaSink& sink) {
  ManagedPeer m = peer_config(name, remote, local, [](esprit::IkeSettings& s) {
    s.esp_proposals = std::vector<IkeProposal>{*esprit::parse_proposal("aes256gcm16", ProposalKind::kEsp)};
  });
  m.sink = &sink;
  return m;
}

TEST(FastpathSink, RangesBecomePrefixes) {
  auto sel = to_policy_selectors({ts_range(ip("10.0.0.1"), ip("10.0.0.6"))}, {ts_range(ip("0.0.0.0"), ip("255.255.255.255"))});
  ASSERT_EQ(sel.size(), 4u);
  EXPECT_EQ(sel[0].src.to_string(), "10.0.0.1/32");
  EXPECT_EQ(sel[1].src.to_string(), "10.0.0.2/31");
  EXPECT_EQ(sel[2].src.to_string(), "10.0.0.4/31");
  EXPECT_EQ(sel[3].src.to_string(), "10.0.0.6/32");
  EXPECT_EQ(sel[0].dst.to_string(), "0.0.0.0/0");
  auto v6 = to_policy_selectors({ts_range(ip("::"), ip("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"))},
                                {ts_range(ip("2001:db8::"), ip("2001:db8::ffff"))});
  ASSERT_EQ(v6.size(), 1u);
  EXPECT_EQ(v6[0].src.to_string(), "::/0");
  EXPECT_EQ(v6[0].dst.to_string(), "2001:db8::/112");
  esprit::TrafficSelector in;
  in.src = *IpPrefix::parse("10.0.0.0/24");
  in.dst = *IpPrefix::parse("10.1.0.0/16");
  EXPECT_TRUE(covered_by(in, {ts_range(ip("10.0.0.0"), ip("10.0.255.255"))}, {ts_range(ip("10.1.0.0"), ip("10.1.255.255"))}));
  in.dst = *IpPrefix::parse("10.0.0.0/8");
  EXPECT_FALSE(covered_by(in, {ts_range(ip("10.0.0.0"), ip("10.0.255.255"))}, {ts_range(ip("10.1.0.0"), ip("10.1.255.255"))}));
}

TEST(FastpathSink, InstallsSasTheEngineUses) {
  Gateway left("fps_left", "right", true), right("fps_right", "left", false);
  // Before IKE: the PROTECT policy has no SA; the packet is dropped (kNoSa), never sent in clear.
  SpdMatch m0 = left.classify("10.0.0.5", "10.1.0.7");
  EXPECT_EQ(m0.action, PolicyAction::kProtect);
  EXPECT_EQ(left.sad->get(m0.sa_index), nullptr);

  IpAddress a = left_addr(), b = right_addr();
  Net n(peer("right", a, b, left.installer->sink("right")), peer("left", b, a, right.installer->sink("left")));
  IkeManager& ml = *n.a;
  ASSERT_EQ(ml.initiate("right"), InitiateResult::kStarted);
  n.pump();
  ASSERT_NE(ml.established("right"), nullptr);
  EXPECT_EQ(left.installer->failures(), 0u) << left.installer->last_error();
  EXPECT_EQ(right.installer->failures(), 0u) << right.installer->last_error();
  EXPECT_EQ(left.sad->size(), 2u);
  EXPECT_EQ(right.sad->size(), 2u);

  const ChildSa& c = ml.established("right")->child_sas().at(0);
  uint32_t out_slot = left.installer->slot_of(c.spi_out, SaDirection::kOutbound);
  ASSERT_NE(out_slot, kNoSaSlot);
  SpdMatch m1 = left.classify("10.0.0.5", "10.1.0.7");
  EXPECT_EQ(m1.sa_index, out_slot);
  EXPECT_EQ(left.tables.tunnel_sa[0].load(), out_slot);
  uint32_t in_slot = right.installer->slot_of(c.spi_out, SaDirection::kInbound);
  ASSERT_NE(in_slot, kNoSaSlot);
  ASSERT_EQ(right.tables.sa_selectors[in_slot].size(), 1u);
  EXPECT_EQ(right.tables.sa_selectors[in_slot][0].src.to_string(), "10.0.0.0/16");
  EXPECT_EQ(right.tables.sa_selectors[in_slot][0].dst.to_string(), "10.1.0.0/16");
  // Both SAs of one peer carry the same non-zero peer id (hub_loop detection in the workers).
  const uint32_t left_in = left.installer->slot_of(c.spi_in, SaDirection::kInbound);
  ASSERT_NE(left_in, kNoSaSlot);
  EXPECT_NE(left.tables.sa_peer[out_slot], 0u);
  EXPECT_EQ(left.tables.sa_peer[left_in], left.tables.sa_peer[out_slot]);
  EXPECT_NE(right.tables.sa_peer[in_slot], 0u);
  // Path options on both slots (found by gateway_ike_netns: without them, TCP with DF above the
  // tunnel's MTU was dropped as too_big with no ICMP, a PMTU black hole).
  EXPECT_TRUE(left.tables.sa_paths[out_slot].configured);
  EXPECT_EQ(left.tables.sa_paths[out_slot].remote, b);
  EXPECT_EQ(left.tables.sa_paths[out_slot].tcp_mss.mode, TcpMssClamp::Mode::kAuto);
  EXPECT_TRUE(right.tables.sa_paths[in_slot].configured);
  EXPECT_EQ(right.tables.sa_paths[in_slot].remote, a);
  EXPECT_EQ(right.tables.sa_paths[in_slot].tcp_mss.mode, TcpMssClamp::Mode::kOff);

  // The engine: encapsulate on the left, decapsulate on the right.
  std::string err;
  auto worker = EspWorker::create(nullptr, &err);
  ASSERT_TRUE(worker) << err;
  std::vector<uint8_t> pkt(40, 0);
  pkt[0] = 0x45;
  pkt[3] = 40;
  pkt[8] = 64;
  pkt[9] = 17;
  pkt[12] = 10, pkt[15] = 5;
  pkt[16] = 10, pkt[17] = 1, pkt[19] = 7;
  uint32_t sum = 0;
  for (int i = 0; i < 20; i += 2) sum += pkt[i] << 8 | pkt[i + 1];
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  pkt[10] = static_cast<uint8_t>(~sum >> 8);
  pkt[11] = static_cast<uint8_t>(~sum);
  pkt[28] = 0xab;
  rte_mbuf* mb = test::make_mbuf(pkt);
  ASSERT_EQ(encap_burst(*worker, *left.sad->get(out_slot), std::span<rte_mbuf*>(&mb, 1), left.sad->counters(0, out_slot)), 1);
  auto wire_pkt = test::mbuf_bytes(mb);
  EXPECT_EQ(wire_pkt[9], 50);  // ESP
  ASSERT_EQ(decap_burst(*worker, *right.sad->get(in_slot), std::span<rte_mbuf*>(&mb, 1), right.sad->counters(0, in_slot)), 1);
  EXPECT_EQ(test::mbuf_bytes(mb), pkt);
  rte_pktmbuf_free(mb);
  EXPECT_EQ(left.installer->counters(c.spi_out, SaDirection::kOutbound).packets, 1u);
  EXPECT_EQ(left.installer->counters(c.spi_out, SaDirection::kOutbound).octets, 40u);
  EXPECT_EQ(right.installer->counters(c.spi_out, SaDirection::kInbound).packets, 1u);

  // Child SA rekey: the new outbound SA replaces the old one in its slot (the SPD and tunnel keep
  // pointing there), the new inbound SA is added, the old inbound goes with the old Child SA.
  uint32_t old_out_spi = c.spi_out;
  const_cast<IkeSa*>(ml.established("right"))->rekey_child(c.spi_in);
  ml.tick();  // sends what the SA queued
  n.pump();
  ASSERT_EQ(ml.established("right")->child_sas().size(), 1u);
  const ChildSa& c2 = ml.established("right")->child_sas().at(0);
  EXPECT_NE(c2.spi_out, old_out_spi);
  EXPECT_EQ(left.installer->slot_of(c2.spi_out, SaDirection::kOutbound), out_slot);
  EXPECT_EQ(left.classify("10.0.0.5", "10.1.0.7").sa_index, out_slot);
  EXPECT_EQ(left.sad->size(), 2u);
  EXPECT_EQ(right.sad->size(), 2u);
  EXPECT_EQ(right.installer->slot_of(old_out_spi, SaDirection::kInbound), kNoSaSlot);
  uint32_t in_slot2 = right.installer->slot_of(c2.spi_out, SaDirection::kInbound);
  ASSERT_NE(in_slot2, kNoSaSlot);
  EXPECT_EQ(right.tables.sa_peer[in_slot2], right.tables.sa_peer[in_slot]);  // a rekey keeps the peer
  const uint32_t left_in2 = left.installer->slot_of(c2.spi_in, SaDirection::kInbound);
  ASSERT_NE(left_in2, kNoSaSlot);
  EXPECT_EQ(left.tables.sa_peer[left_in2], left.tables.sa_peer[out_slot]);
  mb = test::make_mbuf(pkt);
  ASSERT_EQ(encap_burst(*worker, *left.sad->get(out_slot), std::span<rte_mbuf*>(&mb, 1), left.sad->counters(0, out_slot)), 1);
  ASSERT_EQ(decap_burst(*worker, *right.sad->get(in_slot2), std::span<rte_mbuf*>(&mb, 1), right.sad->counters(0, in_slot2)), 1);
  EXPECT_EQ(test::mbuf_bytes(mb), pkt);
  rte_pktmbuf_free(mb);
  // The new Child SA's lifetime counts its own packets, not the slot's (which the old SA shared):
  // counting the slot made a packet-limited Child SA rekey again at every tick after its first rekey.
  EXPECT_EQ(left.sad->totals(out_slot).packets, 2u);
  EXPECT_EQ(left.installer->counters(c2.spi_out, SaDirection::kOutbound).packets, 1u);
  EXPECT_EQ(right.installer->counters(c2.spi_out, SaDirection::kInbound).packets, 1u);
  EXPECT_EQ(left.installer->counters(old_out_spi, SaDirection::kOutbound).packets, 0u);  // gone

  // Deleting the IKE SA takes the SAs out; the policy is back to "no SA" (dropped, not clear).
  EXPECT_EQ(ml.clear("right"), 1u);
  n.pump();
  n.clock.t += 1s;
  ml.tick();
  EXPECT_EQ(left.sad->size(), 0u);
  EXPECT_EQ(right.sad->size(), 0u);
  SpdMatch m2 = left.classify("10.0.0.5", "10.1.0.7");
  EXPECT_EQ(m2.action, PolicyAction::kProtect);
  EXPECT_EQ(left.sad->get(m2.sa_index), nullptr);
  EXPECT_EQ(left.tables.tunnel_sa[0].load(), kNoTunnelSa);
}

// ---------------------------------------------------------------------------------------------
// Child SA packet limits (child_lifetime_packets) in the fast path: two gateways whose ESP
// workers raise lifetime events into their installers' rings, and an inner packet stream
// left -> right through whatever SAs the SPD and SAD hold at the time.
// ---------------------------------------------------------------------------------------------

struct LimitPair {
  LimitPair(const char* tag, bool auto_connect, uint64_t packets, unsigned left_ring = 256)
      : left((std::string(tag) + "_l").c_str(), "right", true, left_ring),
        right((std::string(tag) + "_r").c_str(), "left", false, 256) {
    a = left_addr();
    b = right_addr();
    auto cfg = [&](const char* name, const IpAddress& local, const IpAddress& remote, bool l, Gateway& g) {
      ManagedPeer m = peer(name, local, remote, g.installer->sink(name));
      m.child_packets = packets;
      m.sa.child.limit.packets = packets;  // as make_managed_peer does from child_lifetime_packets
      if (l && auto_connect) m.connect = ConnectType::kAuto;
      return m;
    };
    ml = std::make_unique<IkeManager>(std::vector<ManagedPeer>{cfg("right", a, b, true, left)}, env(rng_l, true, left));
    mr = std::make_unique<IkeManager>(std::vector<ManagedPeer>{cfg("left", b, a, false, right)}, env(rng_r, false, right));
    // IPv4/UDP packets 10.0.0.5 -> 10.1.0.7 and back (inside the TS), 40 bytes.
    for (bool ltr : {true, false}) {
      std::vector<uint8_t>& q = ltr ? pkt : pkt_rl;
      q.assign(40, 0);
      q[0] = 0x45, q[3] = 40, q[8] = 64, q[9] = 17;
      q[12] = 10, q[15] = 5, q[16] = 10, q[17] = 1, q[19] = 7;
      if (!ltr) std::swap_ranges(q.begin() + 12, q.begin() + 16, q.begin() + 16);
      uint32_t sum = 0;
      for (int i = 0; i < 20; i += 2) sum += q[i] << 8 | q[i + 1];
      while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
      q[10] = static_cast<uint8_t>(~sum >> 8);
      q[11] = static_cast<uint8_t>(~sum);
    }
  }
  IkeManagerEnv env(DeterministicRandom& rng, bool from_left, Gateway& g) {
    IkeManagerEnv e;
    e.rng = &rng;
    e.clock = &clock;
    e.send = [this, from_left](const IpAddress&, uint16_t, const IpAddress&, uint16_t, std::span<const uint8_t> x) {
      wire.emplace_back(from_left, std::vector<uint8_t>(x.begin(), x.end()));
    };
    e.counters = [&g](uint32_t spi, SaDirection d) { return g.installer->counters(spi, d); };
    e.limit_events = true;
    return e;
  }
  void pump() {
    for (int i = 0; i < 20 && !wire.empty(); ++i) {
      auto batch = std::move(wire);
      wire.clear();
      for (auto& [from_left, bytes] : batch) {
        if (from_left)
          mr->receive(b, 500, a, 500, bytes);
        else
          ml->receive(a, 500, b, 500, bytes);
      }
    }
  }
  /// Delivers the oldest datagram on the wire (what it makes them send queues behind); false if
  /// the wire is empty.
  bool deliver_one() {
    if (wire.empty()) return false;
    auto [from_left, bytes] = std::move(wire.front());
    wire.erase(wire.begin());
    if (from_left)
      mr->receive(b, 500, a, 500, bytes);
    else
      ml->receive(a, 500, b, 500, bytes);
    return true;
  }
  /// What espritd's loop does each turn: events to the managers, SPD publications.
  void turn() {
    left.installer->deliver_events(*ml);
    right.installer->deliver_events(*mr);
  }
  /// One packet left -> right (or right -> left): classify, encapsulate with the slot's SA,
  /// decapsulate with the inbound SA of the packet's SPI. True if it came out intact.
  bool send_one(bool left_to_right = true) {
    Gateway& from = left_to_right ? left : right;
    Gateway& to = left_to_right ? right : left;
    const std::vector<uint8_t>& inner = left_to_right ? pkt : pkt_rl;
    const SpdMatch m = left_to_right ? left.classify("10.0.0.5", "10.1.0.7") : right.classify("10.1.0.7", "10.0.0.5");
    EspSa* out = from.sad->get(m.sa_index);
    if (m.action != PolicyAction::kProtect || !out) {
      ++no_sa;
      return false;
    }
    rte_mbuf* mb = test::make_mbuf(inner);
    bool ok = false;
    if (encap_burst(*from.worker, *out, std::span<rte_mbuf*>(&mb, 1), left_to_right ? out_ctr : rl_out_ctr) == 1) {
      const auto w = test::mbuf_bytes(mb);
      EXPECT_EQ(w[9], 50);  // ESP, never the inner packet in clear
      const uint32_t spi = uint32_t{w[20]} << 24 | uint32_t{w[21]} << 16 | uint32_t{w[22]} << 8 | w[23];
      (left_to_right ? spis : rl_spis).insert(spi);
      const uint32_t slot = to.installer->slot_of(spi, SaDirection::kInbound);
      if (EspSa* in = to.sad->get(slot))
        ok = decap_burst(*to.worker, *in, std::span<rte_mbuf*>(&mb, 1), left_to_right ? in_ctr : rl_in_ctr) == 1 &&
             test::mbuf_bytes(mb) == inner;
      else
        ++no_inbound_sa;
    }
    rte_pktmbuf_free(mb);
    return ok;
  }
  /// The outbound SPI right's SPD sends its packets to the left with now.
  uint32_t right_out_spi() const {
    const EspSa* sa = right.sad->get(right.classify("10.1.0.7", "10.0.0.5").sa_index);
    return sa ? sa->spi() : 0;
  }
  Gateway left, right;
  FakeClock clock;
  DeterministicRandom rng_l{15}, rng_r{16};
  IpAddress a, b;
  std::vector<std::tuple<bool, std::vector<uint8_t>>> wire;
  std::unique_ptr<IkeManager> ml, mr;
  std::vector<uint8_t> pkt, pkt_rl;
  SaCounters out_ctr, in_ctr, rl_out_ctr, rl_in_ctr;
  std::set<uint32_t> spis, rl_spis;
  uint64_t no_sa = 0, no_inbound_sa = 0;
};

// The soft limit starts the Child SA rekey in the same control-loop turn as the event (the
// CREATE_CHILD_SA request is on the wire before any tick), and make-before-break keeps a stream of
// 1000 packets whole across five rekeys of a 200-packet Child SA: nothing lost, nothing expired.
TEST(FastpathSinkLimits, SoftEventRekeysAtOnceAndNothingIsLost) {
  LimitPair p("lim_soft", false, 200);
  ASSERT_EQ(p.ml->initiate("right"), InitiateResult::kStarted);
  p.pump();
  ASSERT_NE(p.ml->established("right"), nullptr);
  // Descriptors carry the limits: hard = 200, soft within [1 - 10 % - jitter, 1 - 10 %] of it.
  const ChildSa& c0 = p.ml->established("right")->child_sas().at(0);
  EXPECT_EQ(c0.outbound.hard.packets, 200u);
  EXPECT_GE(c0.outbound.soft.packets, 178u);
  EXPECT_LE(c0.outbound.soft.packets, 180u);
  EXPECT_EQ(c0.inbound.soft.packets, c0.outbound.soft.packets);
  EXPECT_EQ(c0.inbound.cookie, c0.spi_in);
  int delivered = 0, rekeys_seen = 0;
  for (int i = 0; i < 1000; ++i) {
    delivered += p.send_one();
    const uint64_t before = p.ml->statistics().rekeys_child + p.mr->statistics().rekeys_child;
    p.turn();
    if (p.ml->statistics().rekeys_child + p.mr->statistics().rekeys_child > before) {
      ++rekeys_seen;
      EXPECT_FALSE(p.wire.empty()) << "the rekey's CREATE_CHILD_SA goes out in the event's turn";
    }
    p.pump();
  }
  EXPECT_EQ(delivered, 1000);
  EXPECT_EQ(p.no_sa, 0u);
  EXPECT_EQ(p.out_ctr.drop(DropReason::kLifetimeExpired), 0u);
  EXPECT_EQ(p.in_ctr.drop(DropReason::kLifetimeExpired), 0u);
  EXPECT_GE(rekeys_seen, 5);
  EXPECT_GE(p.spis.size(), 6u);  // a new outbound SPI each time
  EXPECT_EQ(p.ml->statistics().limit_hard + p.mr->statistics().limit_hard, 0u);
  EXPECT_GE(p.ml->statistics().limit_soft + p.mr->statistics().limit_soft, 5u);
  EXPECT_EQ(p.ml->established("right")->child_sas().size(), 1u);
  EXPECT_EQ(p.mr->established("left")->child_sas().size(), 1u);
  EXPECT_EQ(p.left.installer->failures(), 0u) << p.left.installer->last_error();
  EXPECT_EQ(p.right.installer->failures(), 0u) << p.right.installer->last_error();
  // The old SAs went after each rekey. Both sides count the same stream, so some rekeys collide
  // (RFC 7296 2.8.1); the survivor's outbound SA took over its own slot: before, the installer put
  // it in the redundant one's slot as well (two slots with one SA, the second never removed and
  // counting its lifetime from zero).
  EXPECT_EQ(p.left.sad->size(), 2u);
  EXPECT_EQ(p.right.sad->size(), 2u);
}

// Without the managers reacting (events not delivered), the fast path stops the Child SA at its
// hard limit: exactly 200 packets go, the rest are dropped as lifetime_expired, never in clear.
// The hard event then deletes the Child SA, and a connect_type auto peer gets a new one at once.
TEST(FastpathSinkLimits, HardLimitStopsTheSaAndAutoRecreatesIt) {
  LimitPair p("lim_hard", true, 200);
  p.ml->start();
  p.pump();
  ASSERT_NE(p.ml->established("right"), nullptr);
  const uint32_t spi0 = p.ml->established("right")->child_sas().at(0).spi_out;
  int delivered = 0;
  for (int i = 0; i < 250; ++i) delivered += p.send_one();
  EXPECT_EQ(delivered, 200);
  EXPECT_EQ(p.out_ctr.drop(DropReason::kLifetimeExpired), 50u);
  EXPECT_EQ(p.left.installer->counters(spi0, SaDirection::kOutbound).packets, 200u);
  EXPECT_TRUE(p.left.installer->counters(spi0, SaDirection::kOutbound).hard);
  EXPECT_TRUE(p.right.installer->counters(spi0, SaDirection::kInbound).hard);
  // The rings hold each side's soft and hard events. Hand over only the left side's hard one (as
  // if its soft event had come too late): the Child SA is deleted and, connect_type auto, a new
  // one requested in the same call.
  auto drain = [](rte_ring* r) {
    std::vector<SaEvent> v;
    SaEvent e;
    while (rte_ring_dequeue_elem(r, &e, sizeof e) == 0) v.push_back(e);
    return v;
  };
  const auto left_events = drain(p.left.events);
  ASSERT_EQ(left_events.size(), 2u);
  EXPECT_EQ(left_events[0].kind, SaEventKind::kSoftLifetime);
  EXPECT_EQ(left_events[1].kind, SaEventKind::kHardLifetime);
  EXPECT_EQ(left_events[1].direction, SaDirection::kOutbound);
  EXPECT_EQ(left_events[1].spi, spi0);
  EXPECT_EQ(drain(p.right.events).size(), 2u);
  ASSERT_TRUE(p.ml->child_limit_event(left_events[1].cookie, ChildLimitEvent::kHard));
  EXPECT_FALSE(p.wire.empty());
  p.pump();
  EXPECT_EQ(p.ml->statistics().limit_hard, 1u);
  EXPECT_EQ(p.ml->statistics().rekeys_child, 0u);
  EXPECT_FALSE(p.ml->child_limit_event(left_events[1].cookie, ChildLimitEvent::kHard));  // gone now
  ASSERT_NE(p.ml->established("right"), nullptr);
  ASSERT_EQ(p.ml->established("right")->child_sas().size(), 1u);
  const uint32_t spi1 = p.ml->established("right")->child_sas().at(0).spi_out;
  EXPECT_NE(spi1, spi0);
  EXPECT_EQ(p.mr->established("left")->child_sas().size(), 1u);
  EXPECT_EQ(p.left.installer->slot_of(spi0, SaDirection::kOutbound), kNoSaSlot);
  p.left.installer->flush(true);
  for (int i = 0; i < 10; ++i) EXPECT_TRUE(p.send_one());
  EXPECT_EQ(p.left.sad->size(), 2u);
  EXPECT_EQ(p.right.sad->size(), 2u);
}

// A full event ring loses events (the fast path counts them): the installer tells the manager,
// which polls every Child SA's fast-path state at its next tick and rekeys the one past its soft
// limit, as the event would have.
TEST(FastpathSinkLimits, LostEventsFallBackToAPoll) {
  LimitPair p("lim_lost", false, 200, 4);  // the left ring holds 3 events
  ASSERT_EQ(p.ml->initiate("right"), InitiateResult::kStarted);
  p.pump();
  ASSERT_NE(p.ml->established("right"), nullptr);
  const uint32_t spi0 = p.ml->established("right")->child_sas().at(0).spi_out;
  // Fill the left ring with events of no Child SA (stale ones).
  SaEvent junk{0, 0x1234, SaEventKind::kSoftLifetime, SaDirection::kOutbound, 0};
  for (int i = 0; i < 3; ++i) ASSERT_EQ(rte_ring_enqueue_elem(p.left.events, &junk, sizeof junk), 0);
  const uint64_t lost0 = sa_events_lost();
  for (int i = 0; i < 185; ++i) EXPECT_TRUE(p.send_one());  // past the soft limit
  EXPECT_GT(sa_events_lost(), lost0);
  EXPECT_TRUE(p.left.installer->counters(spi0, SaDirection::kOutbound).soft);
  p.left.installer->deliver_events(*p.ml);  // only the left side: its soft event was lost
  EXPECT_EQ(p.left.installer->stray_events(), 3u);
  EXPECT_EQ(p.ml->statistics().limit_lost, 1u);
  EXPECT_EQ(p.ml->statistics().rekeys_child, 0u);
  EXPECT_TRUE(p.wire.empty());
  p.ml->tick();  // the poll
  EXPECT_EQ(p.ml->statistics().rekeys_child, 1u);
  EXPECT_EQ(p.ml->statistics().limit_soft, 1u);
  p.pump();
  EXPECT_NE(p.ml->established("right")->child_sas().at(0).spi_out, spi0);
  for (int i = 0; i < 10; ++i) EXPECT_TRUE(p.send_one());
  EXPECT_EQ(p.out_ctr.drop(DropReason::kLifetimeExpired), 0u);
  // Back to events: no periodic poll without a loss.
  const uint64_t runs = p.ml->timer_runs();
  p.clock.t += std::chrono::seconds(5);
  p.ml->tick();
  EXPECT_LE(p.ml->timer_runs(), runs + 1);
}


// ---------------------------------------------------------------------------------------------
// Child SA rekey, the responder's switch (docs/ike.md "Child SA rekey"): IKE datagrams delivered
// one at a time with packets both ways in between, through the real SAD/SPD of both gateways. The
// rekey responder keeps sending on the old Child SA until the initiator has the new one; before,
// a packet it sent between its answer and the initiator reading it was lost (no inbound SA yet).
// ---------------------------------------------------------------------------------------------

/// The left side's IKE SA (it initiated) or the right side's, for starting exchanges on it.
IkeSa& ike_sa(IkeManager& m, const char* peer) { return *const_cast<IkeSa*>(m.established(peer)); }

/// The Child SA of `m`'s IKE SA whose snapshot status is `status`, or nullptr.
std::optional<ChildSnapshot> child_with_status(const IkeManager& m, const std::string& status) {
  for (const IkeSaSnapshot& s : m.snapshot())
    for (const ChildSnapshot& c : s.children)
      if (c.status == status) return c;
  return std::nullopt;
}

/// Brings the pair up (left initiates), then has left send a rekey of its Child SA, not yet
/// delivered. Returns right's outbound SPI before the rekey (0 if the pair did not come up).
uint32_t up_then_rekey_request(LimitPair& p) {
  EXPECT_EQ(p.ml->initiate("right"), InitiateResult::kStarted);
  p.pump();
  if (!p.ml->established("right") || !p.mr->established("left")) {
    ADD_FAILURE() << "the IKE SA did not come up";
    return 0;
  }
  const uint32_t old_rl = p.right_out_spi();
  IkeSa& l = ike_sa(*p.ml, "right");
  l.rekey_child(l.child_sas().at(0).spi_in);
  p.ml->tick();
  return old_rl;
}

// (a) The first packet on the new inbound SA says the initiator has the new Child SA: the
// responder's manager, polling that counter, switches at its next tick; until then it sends on the
// old one, which the initiator still accepts. `show ikev2 child-sa` shows the pending switch.
TEST(FastpathSinkRekey, ResponderSwitchesOnTheFirstPacketOnItsNewInboundSa) {
  LimitPair p("rk_first", false, 0);
  const uint32_t old_rl = up_then_rekey_request(p);
  ASSERT_NE(p.mr->established("left"), nullptr);
  ASSERT_NE(old_rl, 0u);
  ASSERT_EQ(p.wire.size(), 1u);
  ASSERT_TRUE(p.deliver_one());  // right answers: new inbound SA in, its outbound waits
  ASSERT_EQ(p.wire.size(), 1u);  // the answer, not read yet
  const IkeSa& r = *p.mr->established("left");
  ASSERT_EQ(r.child_sas().size(), 2u);
  const uint32_t new_rl = r.child_sas()[1].spi_out;
  EXPECT_TRUE(r.child_sas()[1].outbound_pending);
  EXPECT_NE(p.right.installer->slot_of(r.child_sas()[1].spi_in, SaDirection::kInbound), kNoSaSlot);
  EXPECT_EQ(p.right.installer->slot_of(new_rl, SaDirection::kOutbound), kNoSaSlot);
  EXPECT_EQ(p.right_out_spi(), old_rl);
  // What the operator sees on the responder.
  auto pending = child_with_status(*p.mr, "outbound_pending");
  ASSERT_TRUE(pending);
  EXPECT_EQ(pending->spi_out, new_rl);
  EXPECT_EQ(pending->switch_in_ms, 2000);
  EXPECT_TRUE(child_with_status(*p.mr, "rekeying"));  // the old one: still sending
  const std::string text = format_child_sas(p.mr->snapshot());
  EXPECT_NE(text.find("Status : new, outbound pending"), std::string::npos) << text;
  EXPECT_NE(ike_sas_json(p.mr->snapshot()).find(R"("status":"outbound_pending","switch_in_ms":2000)"), std::string::npos);
  for (int i = 0; i < 5; ++i) {
    EXPECT_TRUE(p.send_one(false));  // right -> left on the old Child SA: left could not read the new one yet
    EXPECT_TRUE(p.send_one(true));   // left -> right on the old one too
  }
  p.clock.t += 10ms;
  p.mr->tick();  // polls: nothing on the new inbound SA yet
  EXPECT_EQ(p.right_out_spi(), old_rl);
  ASSERT_TRUE(p.deliver_one());  // left reads the answer: both new SAs; its Delete waits on the wire
  ASSERT_EQ(p.wire.size(), 1u);
  EXPECT_TRUE(p.send_one(false));  // still the old SA: left keeps its old inbound SA until the Delete
  EXPECT_TRUE(p.send_one(true));   // left sends on the new SA: the first packet on right's new inbound
  EXPECT_EQ(p.right_out_spi(), old_rl);
  // The manager's next deadline is the next poll (the control loop, which sleeps, wakes for it).
  ASSERT_TRUE(p.mr->next_deadline());
  EXPECT_LE(*p.mr->next_deadline(), p.clock.t + 10ms);
  p.clock.t += 10ms;
  p.mr->tick();
  EXPECT_EQ(p.right_out_spi(), new_rl);
  EXPECT_FALSE(child_with_status(*p.mr, "outbound_pending"));
  EXPECT_TRUE(p.send_one(false));
  EXPECT_TRUE(p.rl_spis.count(new_rl));
  p.pump();  // the Delete of the old Child SA and its answer
  EXPECT_EQ(p.ml->established("right")->child_sas().size(), 1u);
  EXPECT_EQ(p.mr->established("left")->child_sas().size(), 1u);
  EXPECT_TRUE(child_with_status(*p.mr, "active"));
  for (int i = 0; i < 3; ++i) {
    EXPECT_TRUE(p.send_one(false));
    EXPECT_TRUE(p.send_one(true));
  }
  EXPECT_EQ(p.no_sa + p.no_inbound_sa, 0u);
  EXPECT_EQ(p.left.sad->size(), 2u);
  EXPECT_EQ(p.right.sad->size(), 2u);
  EXPECT_EQ(p.left.installer->failures() + p.right.installer->failures(), 0u);
}

// (b) The initiator's Delete of the old Child SA arrives before any packet: the responder switches
// then, before the old SAs go.
TEST(FastpathSinkRekey, ResponderSwitchesOnThePeersDelete) {
  LimitPair p("rk_del", false, 0);
  const uint32_t old_rl = up_then_rekey_request(p);
  ASSERT_NE(old_rl, 0u);
  ASSERT_TRUE(p.deliver_one());
  ASSERT_TRUE(p.deliver_one());
  ASSERT_EQ(p.wire.size(), 1u);  // left's Delete
  const uint32_t new_rl = p.mr->established("left")->child_sas().at(1).spi_out;
  EXPECT_EQ(p.right_out_spi(), old_rl);
  ASSERT_TRUE(p.deliver_one());
  EXPECT_EQ(p.right_out_spi(), new_rl);
  EXPECT_EQ(p.right.installer->slot_of(old_rl, SaDirection::kOutbound), kNoSaSlot);
  EXPECT_TRUE(p.send_one(false));
  EXPECT_TRUE(p.send_one(true));
  p.pump();
  EXPECT_TRUE(p.send_one(false));
  EXPECT_TRUE(p.send_one(true));
  EXPECT_EQ(p.left.sad->size(), 2u);
  EXPECT_EQ(p.right.sad->size(), 2u);
}

// (c) An initiator that neither sends nor deletes (its Delete lost): the responder switches
// outbound_switch_delay (2 s) after its answer; its manager's next deadline covers it, and the old
// Child SA is still installed (not expired) until then and after.
TEST(FastpathSinkRekey, ResponderSwitchesAfterTheDelayAtTheLatest) {
  LimitPair p("rk_delay", false, 0);
  const uint32_t old_rl = up_then_rekey_request(p);
  ASSERT_NE(old_rl, 0u);
  const uint32_t old_lr = ike_sa(*p.ml, "right").child_sas().at(0).spi_out;  // not replaced before the answer
  ASSERT_TRUE(p.deliver_one());
  ASSERT_TRUE(p.deliver_one());
  p.wire.clear();  // the Delete is lost
  const IkeSa& r = *p.mr->established("left");
  const uint32_t new_rl = r.child_sas().at(1).spi_out;
  const Duration switch_at = r.child_sas().at(1).outbound_switch_at;
  for (int i = 0; i < 19; ++i) {
    p.clock.t += 100ms;
    p.mr->tick();
    ASSERT_TRUE(p.mr->next_deadline());
    EXPECT_LE(*p.mr->next_deadline(), switch_at);
    EXPECT_TRUE(p.send_one(false));  // one way only: right -> left, on the old SA
  }
  EXPECT_EQ(p.right_out_spi(), old_rl);
  p.clock.t += 100ms;
  p.mr->tick();
  EXPECT_EQ(p.right_out_spi(), new_rl);
  EXPECT_NE(p.right.installer->slot_of(old_lr, SaDirection::kInbound), kNoSaSlot);  // the old still receives
  EXPECT_TRUE(p.send_one(false));
  EXPECT_TRUE(p.send_one(true));
  // The Delete retransmitted: the old Child SA goes.
  p.clock.t += 2s;
  p.ml->tick();
  p.pump();
  EXPECT_EQ(p.right.installer->slot_of(old_lr, SaDirection::kInbound), kNoSaSlot);
  EXPECT_EQ(p.mr->established("left")->child_sas().size(), 1u);
  EXPECT_TRUE(p.send_one(false));
  EXPECT_TRUE(p.send_one(true));
  EXPECT_EQ(p.left.sad->size(), 2u);
  EXPECT_EQ(p.right.sad->size(), 2u);
}

// The old Child SA reaches its hard limit while the switch waits: the new one sends from that
// event on (the fast path stopped the old one), before the responder's own Delete goes out.
TEST(FastpathSinkRekey, ResponderSwitchesWhenTheOldSaReachesItsHardLimit) {
  LimitPair p("rk_hard", false, 0);
  ASSERT_NE(up_then_rekey_request(p), 0u);
  const uint32_t old_in = p.mr->established("left")->child_sas().at(0).spi_in;
  ASSERT_TRUE(p.deliver_one());
  ASSERT_TRUE(p.deliver_one());  // left has the new SAs; its Delete waits
  const uint32_t new_rl = p.mr->established("left")->child_sas().at(1).spi_out;
  ASSERT_TRUE(p.mr->child_limit_event(old_in, ChildLimitEvent::kHard));
  EXPECT_EQ(p.right_out_spi(), new_rl);
  EXPECT_TRUE(p.send_one(false));
  p.pump();
  EXPECT_EQ(p.ml->established("right")->child_sas().size(), 1u);
  EXPECT_EQ(p.mr->established("left")->child_sas().size(), 1u);
  EXPECT_TRUE(p.send_one(false));
  EXPECT_TRUE(p.send_one(true));
}

// No packet lost through Child SA rekeys started by either side, with traffic both ways, or one
// way only (then the responder learns of the new SA from the Delete, or from the packets): one
// IKE datagram delivered per step, packets sent between every two.
TEST(FastpathSinkRekey, NoPacketLostThroughRekeysWithTrafficBothWaysOrOneWay) {
  enum Traffic { kBoth, kLeftToRight, kRightToLeft };
  int n = 0;
  for (Traffic traffic : {kBoth, kLeftToRight, kRightToLeft})
    for (bool left_rekeys : {true, false}) {
      SCOPED_TRACE(std::string(traffic == kBoth ? "both ways" : traffic == kLeftToRight ? "left -> right only" : "right -> left only") +
                   (left_rekeys ? ", left rekeys" : ", right rekeys"));
      LimitPair p(("rk_all" + std::to_string(n++)).c_str(), false, 0);
      ASSERT_EQ(p.ml->initiate("right"), InitiateResult::kStarted);
      p.pump();
      ASSERT_NE(p.mr->established("left"), nullptr);
      int sent = 0, got = 0;
      auto traffic_step = [&] {
        for (bool ltr : {true, false}) {
          if ((ltr && traffic == kRightToLeft) || (!ltr && traffic == kLeftToRight)) continue;
          ++sent;
          got += p.send_one(ltr);
        }
      };
      for (int k = 0; k < 3; ++k) {
        IkeManager& m = left_rekeys ? *p.ml : *p.mr;
        IkeSa& sa = ike_sa(m, left_rekeys ? "right" : "left");
        ASSERT_EQ(sa.child_sas().size(), 1u);
        sa.rekey_child(sa.child_sas()[0].spi_in);
        m.tick();
        for (int step = 0; step < 400; ++step) {
          const bool moved = p.deliver_one();
          traffic_step();
          p.clock.t += 1ms;
          p.ml->tick();
          p.mr->tick();
          if (!moved && p.wire.empty() && !ike_sa(*p.ml, "right").outbound_switch_pending() &&
              !ike_sa(*p.mr, "left").outbound_switch_pending())
            break;
        }
        EXPECT_EQ(p.ml->established("right")->child_sas().size(), 1u);
        EXPECT_EQ(p.mr->established("left")->child_sas().size(), 1u);
      }
      for (int i = 0; i < 3; ++i) traffic_step();
      EXPECT_EQ(got, sent);
      EXPECT_EQ(p.no_sa, 0u);
      EXPECT_EQ(p.no_inbound_sa, 0u);
      EXPECT_EQ(p.left.sad->size(), 2u);
      EXPECT_EQ(p.right.sad->size(), 2u);
      EXPECT_GE(p.spis.size() + p.rl_spis.size(), 4u);  // the new SAs carried traffic
      EXPECT_EQ(p.left.installer->failures() + p.right.installer->failures(), 0u);
    }
}

}  // namespace
}  // namespace esprit::ike
