// The gateway worker with two workers: inbound SA steering. ESP of one SA arriving on both
// workers' RX queues (RSS) is decapsulated only by the SA's owner (Sad::owner), once per packet,
// with one replay window across both queues; a full handoff ring drops with a counter.
//
// Two net_ring ports: "wan" with two RX queues (worker w polls queue w; the test fills the PMD's
// ring behind each queue) and "lan", whose TX queue w collects what worker w forwarded. The
// workers are polled in turn from the test thread (poll_once), so the run is deterministic.
// Also: an idle worker on its own thread sleeping ([daemon] worker_idle_sleep_us); the classification of UDP to us follows GatewayTables::ike_port / natt_port ([ike] port and
// natt_port), not fixed 500/4500.
#include <gtest/gtest.h>

#include <rte_ether.h>
#include <rte_ring.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "dpdk_env.hpp"
#include "esprit/fastpath/control_wake.hpp"
#include "esprit/fastpath/gateway.hpp"
#include "esprit/fastpath/neighbor.hpp"
#include "esprit/fastpath/port.hpp"
#include "esprit/fastpath/rcu.hpp"
#include "esprit/fastpath/route.hpp"
#include "esprit/fastpath/sad.hpp"
#include "esprit/fastpath/spd.hpp"

namespace esprit {
namespace {

const char* kPeer = "192.0.2.1";  // sends ESP to us
const char* kUs = "198.51.100.2";
constexpr uint32_t kInnerDst = 0x0a010101;  // 10.1.1.1, behind the lan port

SecretBytes key_of(std::size_t len, uint8_t seed) {
  std::vector<uint8_t> k(len);
  for (std::size_t i = 0; i < len; ++i) k[i] = static_cast<uint8_t>(seed + i * 7);
  return SecretBytes(k);
}

SaDescriptor sa(uint32_t spi, SaDirection dir) {
  SaDescriptor d;
  d.spi = spi;
  d.direction = dir;
  const IpAddress peer = *IpAddress::parse(kPeer);
  const IpAddress us = *IpAddress::parse(kUs);
  d.local = dir == SaDirection::kOutbound ? peer : us;
  d.remote = dir == SaDirection::kOutbound ? us : peer;
  d.encr = EncrAlg::kAesGcm16_128;
  d.encr_key = key_of(info(d.encr).keymat_len(), static_cast<uint8_t>(spi));
  d.anti_replay = true;
  d.cookie = spi;
  return d;
}

/// Inner IPv4 UDP 10.0.0.1 -> 10.1.1.1 whose payload names the SA and the packet: (tag, index).
std::vector<uint8_t> inner(uint8_t tag, uint16_t index) {
  std::vector<uint8_t> p(28 + 16);
  p[0] = 0x45;
  p[3] = static_cast<uint8_t>(p.size());
  p[8] = 64;
  p[9] = 17;
  p[12] = 10, p[15] = 1;
  p[16] = 10, p[17] = 1, p[18] = 1, p[19] = 1;
  uint32_t sum = 0;
  for (int i = 0; i < 20; i += 2) sum += p[i] << 8 | p[i + 1];
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  p[10] = static_cast<uint8_t>(~sum >> 8);
  p[11] = static_cast<uint8_t>(~sum);
  p[25] = 24;
  p[28] = tag;
  p[29] = static_cast<uint8_t>(index >> 8);
  p[30] = static_cast<uint8_t>(index);
  return p;
}

/// Everything one daemon would build, for two workers; created once per process.
struct Lab {
  std::unique_ptr<Rcu> rcu;
  std::unique_ptr<Sad> sad;
  std::unique_ptr<Fib> fib;
  std::unique_ptr<NeighborTable> neighbors;
  std::unique_ptr<Spd> spd;
  std::unique_ptr<Port> wan, lan;
  GatewayTables tables;
  std::unique_ptr<GatewayWorker> workers[2];
  rte_ring* wan_rx[2] = {};  // behind wan RX queue w
  rte_ring* lan_tx[2] = {};  // behind lan TX queue w
  std::unique_ptr<EspWorker> sender;  // the peer's ESP engine

  static Lab& get() {
    static Lab* lab = [] {
      auto* l = new Lab();
      l->build();
      return l;
    }();
    return *lab;
  }

  void build() {
    std::string err;
    rte_mempool* pool = test::mbuf_pool();
    rcu = Rcu::create(2, &err);
    ASSERT_TRUE(rcu) << err;
    SadConfig sc;
    sc.capacity = 64;
    sc.workers = 2;
    sc.rcu = rcu.get();
    sc.name = "gwt_sad";
    sad = Sad::create(sc, &err);
    ASSERT_TRUE(sad) << err;
    fib = Fib::create(FibConfig{}, *rcu, &err);
    ASSERT_TRUE(fib) << err;
    neighbors = NeighborTable::create(NeighborTableConfig{}, *rcu, &err);
    ASSERT_TRUE(neighbors) << err;
    auto out = SpdTable::build({}, {PolicyDirection::kOutbound, PolicyAction::kDiscard, 2, -1, 0}, &err);
    auto in = SpdTable::build({}, {PolicyDirection::kInbound, PolicyAction::kDiscard, 2, -1, 0}, &err);
    ASSERT_TRUE(out && in) << err;
    spd = std::make_unique<Spd>(*rcu, std::move(out), std::move(in));

    PortSpec ws{.name = "wan", .device = "net_ring_gwtw", .role = PortRole::kUnprotected, .rx_queues = 2,
                .tx_queues = 2};
    PortSpec ls{.name = "lan", .device = "net_ring_gwtl", .role = PortRole::kProtected, .rx_queues = 1,
                .tx_queues = 2};
    wan = Port::open(ws, pool, &err);
    ASSERT_TRUE(wan) << err;
    lan = Port::open(ls, pool, &err);
    ASSERT_TRUE(lan) << err;
    for (unsigned q = 0; q < 2; ++q) {
      // net_ring backs RX queue q and TX queue q of a port with one ring, ETH_RXTX<q>_<name>.
      wan_rx[q] = rte_ring_lookup(("ETH_RXTX" + std::to_string(q) + "_net_ring_gwtw").c_str());
      lan_tx[q] = rte_ring_lookup(("ETH_RXTX" + std::to_string(q) + "_net_ring_gwtl").c_str());
      ASSERT_TRUE(wan_rx[q] && lan_tx[q]);
    }
    ASSERT_TRUE(fib->add_connected(wan->id(), *IpPrefix::parse("198.51.100.0/24"), &err)) << err;
    ASSERT_TRUE(fib->add_connected(lan->id(), *IpPrefix::parse("10.1.0.0/16"), &err)) << err;
    NeighborActions actions;
    const rte_ether_addr mac{{0x02, 0, 0, 0, 0x0a, 0x01}};
    ASSERT_TRUE(neighbors->add_static(NeighborKey::v4(lan->id(), kInnerDst), mac, {}, actions, &err)) << err;

    tables.rcu = rcu.get();
    tables.sad = sad.get();
    tables.spd = spd.get();
    tables.fib = fib.get();
    tables.neighbors = neighbors.get();
    tables.ports.assign(std::max(wan->id(), lan->id()) + 1u, nullptr);
    tables.ports[wan->id()] = wan.get();
    tables.ports[lan->id()] = lan.get();
    tables.local.push_back({*IpAddress::parse(kUs), wan->id()});
    tables.punt = rte_ring_create("gwt_punt", 64, SOCKET_ID_ANY, RING_F_SC_DEQ);
    tables.control_tx.assign(tables.ports.size(), nullptr);
    tables.tunnel_sa = std::make_unique<std::atomic<uint32_t>[]>(1);
    tables.sa_selectors.assign(sad->capacity(), {});
    for (unsigned w = 0; w < 2; ++w) {
      rte_ring* r = rte_ring_create(("gwt_handoff" + std::to_string(w)).c_str(), kHandoffRing, SOCKET_ID_ANY,
                                    RING_F_SC_DEQ);
      ASSERT_TRUE(r);
      tables.handoff.push_back(r);
    }
    for (uint16_t w = 0; w < 2; ++w) {
      auto esp = EspWorker::create(nullptr, &err);
      ASSERT_TRUE(esp) << err;
      workers[w] = std::make_unique<GatewayWorker>(tables, w, std::vector<RxQueue>{{wan->id(), w}}, w,
                                                   std::move(esp), std::make_unique<NeighborWorker>(*neighbors));
    }
    sender = EspWorker::create(nullptr, &err);
    ASSERT_TRUE(sender) << err;
  }

  /// `n` ESP frames (Ethernet + outer IPv4) from the peer's SA `out`, payloads inner(tag, 0..n-1).
  std::vector<std::vector<uint8_t>> esp_frames(EspSa& out, uint8_t tag, uint16_t n) {
    std::vector<std::vector<uint8_t>> frames;
    SaCounters c;
    for (uint16_t i = 0; i < n; ++i) {
      rte_mbuf* m = test::make_mbuf(inner(tag, i));
      rte_mbuf* one[1] = {m};
      EXPECT_EQ(encap_burst(*sender, out, std::span<rte_mbuf*>(one, 1), c), 1);
      auto* eth = reinterpret_cast<uint8_t*>(rte_pktmbuf_prepend(m, 14));
      EXPECT_NE(eth, nullptr);
      if (!eth) continue;
      std::memset(eth, 0, 12);
      eth[12] = 0x08;
      frames.push_back(test::mbuf_bytes(m));
      rte_pktmbuf_free(m);
    }
    return frames;
  }

  void inject(unsigned queue, const std::vector<uint8_t>& frame) {
    rte_mbuf* m = test::make_mbuf(frame);
    ASSERT_EQ(rte_ring_enqueue(wan_rx[queue], m), 0);
  }

  /// Polls both workers until nothing is left in the RX and handoff rings.
  void run() {
    for (int round = 0; round < 1000; ++round) {
      for (auto& w : workers) w->poll_once({});
      bool idle = true;
      for (unsigned q = 0; q < 2; ++q) idle = idle && rte_ring_count(wan_rx[q]) == 0 && rte_ring_count(tables.handoff[q]) == 0;
      if (idle) break;
    }
    for (auto& w : workers) w->poll_once({});  // flush
  }

  /// What worker w's lan TX queue holds: (tag, index) of every inner packet, freeing the mbufs.
  std::vector<std::pair<uint8_t, uint16_t>> drain_lan(unsigned w) {
    std::vector<std::pair<uint8_t, uint16_t>> got;
    void* m;
    while (rte_ring_dequeue(lan_tx[w], &m) == 0) {
      const auto bytes = test::mbuf_bytes(static_cast<rte_mbuf*>(m));
      rte_pktmbuf_free(static_cast<rte_mbuf*>(m));
      if (bytes.size() < 14 + 31) {
        ADD_FAILURE() << "short frame on lan";
        continue;
      }
      EXPECT_EQ(bytes[14 + 8], 63);  // TTL decremented once
      got.emplace_back(bytes[14 + 28], static_cast<uint16_t>(bytes[14 + 29] << 8 | bytes[14 + 30]));
    }
    return got;
  }
};

TEST(GatewayHandoff, EachSaDecapsulatedOnceByItsOwnerAcrossBothQueues) {
  Lab& lab = Lab::get();
  ASSERT_FALSE(::testing::Test::HasFatalFailure());
  std::string err;
  // Two inbound SAs: owners are assigned round-robin, so they belong to different workers.
  const auto slot_a = lab.sad->add(sa(0x2001, SaDirection::kInbound), &err);
  const auto slot_b = lab.sad->add(sa(0x2002, SaDirection::kInbound), &err);
  ASSERT_TRUE(slot_a && slot_b) << err;
  const uint32_t owner_a = lab.sad->owner(*slot_a);
  const uint32_t owner_b = lab.sad->owner(*slot_b);
  ASSERT_NE(owner_a, owner_b);
  EXPECT_EQ(lab.sad->info(*slot_a)->owner, owner_a);
  auto out_a = EspSa::create(sa(0x2001, SaDirection::kOutbound), &err);
  auto out_b = EspSa::create(sa(0x2002, SaDirection::kOutbound), &err);
  ASSERT_TRUE(out_a && out_b) << err;

  // Every ESP packet of both SAs arrives twice, once on each worker's queue (a replayed copy),
  // interleaved; 40 per SA makes more than one RX burst per queue.
  constexpr uint16_t kN = 40;
  const auto fa = lab.esp_frames(*out_a, 0xa, kN);
  const auto fb = lab.esp_frames(*out_b, 0xb, kN);
  for (uint16_t i = 0; i < kN; ++i) {
    lab.inject(i % 2, fa[i]);
    lab.inject(1 - i % 2, fa[i]);
    lab.inject(1 - i % 2, fb[i]);
    lab.inject(i % 2, fb[i]);
  }
  const GatewayCounters before[2] = {lab.workers[0]->counters(), lab.workers[1]->counters()};
  lab.run();

  // Each packet came out exactly once, from its SA's owner; every duplicate was a replay.
  std::map<std::pair<uint8_t, uint16_t>, int> seen;
  for (unsigned w = 0; w < 2; ++w) {
    for (const auto& p : lab.drain_lan(w)) {
      ++seen[p];
      EXPECT_EQ(w, p.first == 0xa ? owner_a : owner_b) << "tag " << int(p.first) << " index " << p.second;
    }
  }
  EXPECT_EQ(seen.size(), 2u * kN);
  for (const auto& [k, count] : seen) EXPECT_EQ(count, 1) << "tag " << int(k.first) << " index " << k.second;
  for (const uint32_t slot : {*slot_a, *slot_b}) {
    const SaCounters t = lab.sad->totals(slot);
    EXPECT_EQ(t.packets, kN);
    EXPECT_EQ(t.drop(DropReason::kReplay), kN);
    // Only the owner's counter block was written (single writer).
    const uint32_t other = 1 - lab.sad->owner(slot);
    EXPECT_EQ(lab.sad->counters(other, slot).packets, 0u);
    EXPECT_EQ(lab.sad->counters(other, slot).drop(DropReason::kReplay), 0u);
  }
  for (unsigned w = 0; w < 2; ++w) {
    const GatewayCounters& c = lab.workers[w]->counters();
    EXPECT_EQ(c.rx - before[w].rx, 2u * kN);
    EXPECT_EQ(c.handed_off - before[w].handed_off, kN);  // the other SA's copies on this queue
    EXPECT_EQ(c.decapsulated - before[w].decapsulated, kN);
    EXPECT_EQ(c.drops[static_cast<std::size_t>(GatewayDrop::kHandoffFull)], 0u);
  }
  lab.sad->remove(*slot_a);
  lab.sad->remove(*slot_b);
}

TEST(GatewayHandoff, FullRingDropsWithCounter) {
  Lab& lab = Lab::get();
  ASSERT_FALSE(::testing::Test::HasFatalFailure());
  std::string err;
  // Owners continue round-robin: take two SAs and use the one worker 0 does not own.
  const auto s1 = lab.sad->add(sa(0x3001, SaDirection::kInbound), &err);
  const auto s2 = lab.sad->add(sa(0x3002, SaDirection::kInbound), &err);
  ASSERT_TRUE(s1 && s2) << err;
  const uint32_t spi = lab.sad->owner(*s1) == 1 ? 0x3001 : 0x3002;
  auto out = EspSa::create(sa(spi, SaDirection::kOutbound), &err);
  ASSERT_TRUE(out) << err;

  // Worker 1 does not poll; worker 0 receives more than its ring holds.
  constexpr uint16_t kN = kHandoffRing + 40;
  const auto frames = lab.esp_frames(*out, 0xc, kN);
  const uint64_t full_before = lab.workers[0]->counters().drops[static_cast<std::size_t>(GatewayDrop::kHandoffFull)];
  const uint64_t handed_before = lab.workers[0]->counters().handed_off;
  for (uint16_t i = 0; i < kN; i += 32) {
    for (uint16_t j = i; j < std::min<uint16_t>(kN, i + 32); ++j) lab.inject(0, frames[j]);
    lab.workers[0]->poll_once({});
  }
  const GatewayCounters& c = lab.workers[0]->counters();
  const uint64_t handed = c.handed_off - handed_before;
  const uint64_t full = c.drops[static_cast<std::size_t>(GatewayDrop::kHandoffFull)] - full_before;
  EXPECT_EQ(handed, kHandoffRing - 1);  // an rte_ring holds one less than its size
  EXPECT_EQ(handed + full, kN);
  // The owner then decapsulates what the ring held, once.
  lab.run();
  EXPECT_EQ(lab.drain_lan(1).size(), kHandoffRing - 1);
  EXPECT_TRUE(lab.drain_lan(0).empty());
  lab.sad->remove(*s1);
  lab.sad->remove(*s2);
}

// [daemon] worker_idle_sleep_us: a worker running on its own thread sleeps when idle (RCU offline,
// so the control core's grace periods end meanwhile), and still decapsulates and forwards what
// arrives. No timing is asserted.
TEST(GatewayIdle, SleepingWorkerLetsGracePeriodsEndAndStillForwards) {
  Lab& lab = Lab::get();
  ASSERT_FALSE(::testing::Test::HasFatalFailure());
  std::string err;
  const auto s1 = lab.sad->add(sa(0x4001, SaDirection::kInbound), &err);
  const auto s2 = lab.sad->add(sa(0x4002, SaDirection::kInbound), &err);
  ASSERT_TRUE(s1 && s2) << err;
  const uint32_t spi = lab.sad->owner(*s1) == 0 ? 0x4001 : 0x4002;
  auto out = EspSa::create(sa(spi, SaDirection::kOutbound), &err);
  ASSERT_TRUE(out) << err;
  const auto frames = lab.esp_frames(*out, 0xd, 3);

  GatewayWorker& w = *lab.workers[0];
  w.set_idle_sleep(std::chrono::microseconds(500));
  const uint64_t sleeps0 = w.idle_sleeps();
  std::atomic<bool> stop{false};
  std::thread t([&] { w.run(stop); });
  auto wait_for = [](auto done) {
    for (int i = 0; i < 5000 && !done(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    return done();
  };
  EXPECT_TRUE(wait_for([&] { return w.idle_sleeps() >= sleeps0 + 3; })) << "the idle worker never slept";
  lab.rcu->synchronize();  // returns: a sleeping worker is offline, an awake one passes quiescent states
  std::vector<std::pair<uint8_t, uint16_t>> got;
  for (const auto& f : frames) lab.inject(0, f);
  EXPECT_TRUE(wait_for([&] {
    for (const auto& p : lab.drain_lan(0)) got.push_back(p);
    return got.size() >= frames.size();
  }));
  EXPECT_TRUE(wait_for([&] { return w.idle_sleeps() >= sleeps0 + 6; })) << "idle again, it sleeps again";
  stop.store(true);
  t.join();
  w.set_idle_sleep(std::chrono::microseconds(0));
  ASSERT_EQ(got.size(), frames.size());
  for (uint16_t i = 0; i < got.size(); ++i) EXPECT_EQ(got[i], std::make_pair(uint8_t{0xd}, i));
  lab.sad->remove(*s1);
  lab.sad->remove(*s2);
}

/// Ethernet + IPv4 (header checksum set) + UDP kPeer:sport -> kUs:dport + payload (UDP checksum 0).
std::vector<uint8_t> udp_to_us(uint16_t sport, uint16_t dport, const std::vector<uint8_t>& payload) {
  std::vector<uint8_t> f(14 + 28 + payload.size());
  f[12] = 0x08;
  uint8_t* ip = f.data() + 14;
  ip[0] = 0x45;
  const std::size_t len = 28 + payload.size();
  ip[2] = static_cast<uint8_t>(len >> 8), ip[3] = static_cast<uint8_t>(len);
  ip[8] = 64;
  ip[9] = 17;
  std::memcpy(ip + 12, IpAddress::parse(kPeer)->bytes(), 4);
  std::memcpy(ip + 16, IpAddress::parse(kUs)->bytes(), 4);
  uint32_t sum = 0;
  for (int i = 0; i < 20; i += 2) sum += ip[i] << 8 | ip[i + 1];
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  ip[10] = static_cast<uint8_t>(~sum >> 8), ip[11] = static_cast<uint8_t>(~sum);
  uint8_t* udp = ip + 20;
  udp[0] = static_cast<uint8_t>(sport >> 8), udp[1] = static_cast<uint8_t>(sport);
  udp[2] = static_cast<uint8_t>(dport >> 8), udp[3] = static_cast<uint8_t>(dport);
  const std::size_t ulen = 8 + payload.size();
  udp[4] = static_cast<uint8_t>(ulen >> 8), udp[5] = static_cast<uint8_t>(ulen);
  std::copy(payload.begin(), payload.end(), udp + 8);
  return f;
}

/// What one frame to us became in worker `w`: "punt", a drop reason's name, or "?".
std::string classify(Lab& lab, GatewayWorker& w, const std::vector<uint8_t>& frame) {
  const GatewayCounters before = w.counters().snapshot();
  lab.inject(0, frame);
  w.poll_once({});
  const GatewayCounters after = w.counters().snapshot();
  void* m;
  std::string what = "?";
  while (rte_ring_dequeue(lab.tables.punt, &m) == 0) {
    rte_pktmbuf_free(static_cast<rte_mbuf*>(m));
    what = "punt";
  }
  for (const GatewayDropInfo& d : kGatewayDrops) {
    const auto i = static_cast<std::size_t>(d.drop);
    if (after.drops[i] != before.drops[i]) what = std::string(d.name);
  }
  return what;
}

// A punted frame wakes the control core blocked on its doorbell (control_wake.hpp): the control
// thread announces its sleep, finds the punt ring empty and blocks for up to a minute; the worker
// then punts an IKE datagram. Only that the wait ended by the eventfd is asserted.
TEST(GatewayWake, PuntWakesTheBlockedControlCore) {
  Lab& lab = Lab::get();
  ASSERT_FALSE(::testing::Test::HasFatalFailure());
  std::string err;
  auto wake = ControlWake::create(&err);
  ASSERT_TRUE(wake) << err;
  lab.tables.control_wake = wake.get();
  std::atomic<int> result{-1};  // 1: woken by the eventfd, 0: timed out, 2: saw the frame before blocking
  std::thread control([&] {
    wake->prepare_sleep();
    if (!rte_ring_empty(lab.tables.punt)) {
      wake->cancel_sleep();
      result.store(2);
      return;
    }
    result.store(wake->wait(std::chrono::seconds(60)) ? 1 : 0);
  });
  for (int i = 0; i < 60000 && wake->sleeps() == 0; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  EXPECT_EQ(wake->sleeps(), 1u) << "the control thread never blocked";
  lab.inject(0, udp_to_us(500, 500, std::vector<uint8_t>(28, 0x11)));
  lab.workers[0]->poll_once({});
  control.join();
  EXPECT_EQ(result.load(), 1);
  EXPECT_EQ(wake->rings(), 1u);
  void* m;
  int punted = 0;
  while (rte_ring_dequeue(lab.tables.punt, &m) == 0) {
    rte_pktmbuf_free(static_cast<rte_mbuf*>(m));
    ++punted;
  }
  EXPECT_EQ(punted, 1);
  lab.tables.control_wake = nullptr;
}

TEST(GatewayClassify, IkePortsComeFromTheTables) {
  Lab& lab = Lab::get();
  ASSERT_FALSE(::testing::Test::HasFatalFailure());
  const std::vector<uint8_t> ike(28, 0x11);  // an IKE header's worth
  std::vector<uint8_t> marked(32, 0x11);     // non-ESP marker + IKE
  std::fill_n(marked.begin(), 4, 0);
  const std::vector<uint8_t> esp_in_udp = {0, 0, 0x77, 0x01, 0, 0, 0, 1, 0, 0, 0, 0};  // SPI 0x7701: no SA
  const std::vector<uint8_t> keepalive = {0xff};

  // Defaults: 500 and 4500.
  GatewayWorker& w0 = *lab.workers[0];
  EXPECT_EQ(classify(lab, w0, udp_to_us(500, 500, ike)), "punt");
  EXPECT_EQ(classify(lab, w0, udp_to_us(4500, 4500, marked)), "punt");
  EXPECT_EQ(classify(lab, w0, udp_to_us(4500, 4500, keepalive)), "natt_keepalive");
  EXPECT_EQ(classify(lab, w0, udp_to_us(4500, 4500, esp_in_udp)), "no_sa");
  EXPECT_EQ(classify(lab, w0, udp_to_us(5500, 5500, ike)), "to_us_unsupported");

  // [ike] port = 5500, natt_port = 5501: a worker built from such tables punts those, and 500/4500
  // are nothing to it.
  lab.tables.ike_port = 5500;
  lab.tables.natt_port = 5501;
  std::string err;
  auto esp = EspWorker::create(nullptr, &err);
  ASSERT_TRUE(esp) << err;
  GatewayWorker w(lab.tables, 0, std::vector<RxQueue>{{lab.wan->id(), 0}}, 0, std::move(esp),
                  std::make_unique<NeighborWorker>(*lab.neighbors));
  lab.tables.ike_port = 500;
  lab.tables.natt_port = 4500;
  EXPECT_EQ(classify(lab, w, udp_to_us(5500, 5500, ike)), "punt");
  EXPECT_EQ(classify(lab, w, udp_to_us(40000, 5501, marked)), "punt");
  EXPECT_EQ(classify(lab, w, udp_to_us(40000, 5501, keepalive)), "natt_keepalive");
  EXPECT_EQ(classify(lab, w, udp_to_us(40000, 5501, esp_in_udp)), "no_sa");
  EXPECT_EQ(classify(lab, w, udp_to_us(500, 500, ike)), "to_us_unsupported");
  EXPECT_EQ(classify(lab, w, udp_to_us(4500, 4500, marked)), "to_us_unsupported");
  EXPECT_EQ(classify(lab, w, udp_to_us(4500, 4500, esp_in_udp)), "to_us_unsupported");
}

}  // namespace
}  // namespace esprit
