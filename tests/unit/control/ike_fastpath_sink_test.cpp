// FastpathSink with the real fast path objects (RCU, SAD, SPD; --no-huge EAL; fastpath_tables.hpp):
// two IkeManagers negotiate (Net, ike_manager_pair.hpp), each installs into its own SAD/SPD through
// a FastpathInstaller, then the ESP engine encapsulates with one side's outbound SA and
// decapsulates with the other side's inbound SA.
#include "esprit/control/ike/manager/fastpath_sink.hpp"

#include <gtest/gtest.h>

#include "dpdk_env.hpp"
#include "esprit/control/ike/manager/ike_manager.hpp"
#include "esprit/fastpath/esp.hpp"
#include "fastpath_tables.hpp"
#include "ike_manager_pair.hpp"

namespace esprit::ike {
namespace {

using namespace test;  // FastpathTables, protect_rules, Net, peer_config, ip

/// One gateway's fast path tables (no ports, no workers; one route-based tunnel bound to the
/// peer) and its FastpathInstaller with a PROTECT policy between the sites for `peer`.
struct Gateway : FastpathTables {
  Gateway(const char* name, const char* peer, bool left) : FastpathTables(name, 16, /*tunnels=*/1) {
    EXPECT_EQ(error, "");
    FastpathInstallerConfig c;
    c.tables = &tables;
    c.rules = protect_rules(peer, left ? "10.0.0.0/16" : "10.1.0.0/16", left ? "10.1.0.0/16" : "10.0.0.0/16");
    c.tunnel_peer = {peer};
    if (left) c.peer_paths[peer].tcp_mss.mode = TcpMssClamp::Mode::kAuto;  // the tunnel's settings
    installer = std::make_unique<FastpathInstaller>(std::move(c));
    std::string err;
    EXPECT_TRUE(installer->publish(&err)) << err;
  }
  std::unique_ptr<FastpathInstaller> installer;
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

}  // namespace
}  // namespace esprit::ike
