// NeighborTable / NeighborWorker: learning and lookup, aging on a fake clock, static entries,
// hold queues and their bounds, resolution requests and their rate limits, and lookups from a
// worker thread while the control thread changes, removes and re-adds entries.
#include <gtest/gtest.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <random>
#include <thread>
#include <vector>

#include "dpdk_env.hpp"
#include "esprit/fastpath/control_wake.hpp"
#include "esprit/fastpath/neighbor.hpp"
#include "esprit/fastpath/rcu.hpp"

namespace esprit {
namespace {

using std::chrono::milliseconds;
using std::chrono::nanoseconds;
using std::chrono::seconds;
using Hold = NeighborWorker::HoldResult;

rte_ether_addr mac(uint8_t a, uint8_t b = 0, uint8_t c = 0) { return rte_ether_addr{{0x02, 0, 0, a, b, c}}; }

bool same(const rte_ether_addr& x, const rte_ether_addr& y) {
  return std::memcmp(x.addr_bytes, y.addr_bytes, RTE_ETHER_ADDR_LEN) == 0;
}

NeighborKey k4(uint32_t host, uint16_t port = 0) { return NeighborKey::v4(port, host); }

class NeighborTest : public ::testing::Test {
 protected:
  static NeighborTableConfig base_config() {
    NeighborTableConfig c;
    c.max_entries = 256;
    c.reachable_time = seconds(30);
    c.remove_after = seconds(120);
    c.retransmit_time = seconds(1);
    c.max_probes = 3;
    c.hold_per_entry = 3;
    c.hold_total = 16;
    c.request_ring_size = 256;
    c.worker_requests_per_window = 64;
    return c;
  }

  void SetUp() override {
    test::init_dpdk();
    pool_ = test::mbuf_pool();
    avail_before_ = rte_mempool_avail_count(pool_);
    std::string error;
    rcu_ = Rcu::create(2, &error);
    ASSERT_TRUE(rcu_) << error;
    make_table(base_config());
  }

  void TearDown() override {
    out_.free_released();
    worker_.reset();
    table_.reset();
    // Every mbuf the table held, queued or dropped went back to the pool.
    EXPECT_EQ(rte_mempool_avail_count(pool_), avail_before_);
  }

  void make_table(const NeighborTableConfig& c) {
    worker_.reset();
    table_.reset();
    std::string error;
    table_ = NeighborTable::create(c, *rcu_, &error);
    ASSERT_TRUE(table_) << error;
    worker_ = std::make_unique<NeighborWorker>(*table_);
  }

  rte_mbuf* pkt(uint8_t tag) {
    const uint8_t bytes[1] = {tag};
    return test::make_mbuf(bytes);
  }

  /// The worker's part for one packet: hand it over or drop it (the caller's duty).
  Hold offer(NeighborWorker& w, const NeighborKey& key, uint8_t tag) {
    rte_mbuf* m = pkt(tag);
    const Hold r = w.hold(key, m, now_);
    if (r != Hold::kHandedOver) rte_pktmbuf_free(m);
    return r;
  }

  uint64_t count(NeighborCounter c) const { return table_->counters().get(c); }
  uint64_t wcount(NeighborWorkerCounter c) const { return worker_->counters().get(c); }

  rte_mempool* pool_ = nullptr;
  unsigned avail_before_ = 0;
  nanoseconds now_ = seconds(1000);  // the fake clock
  std::unique_ptr<Rcu> rcu_;
  std::unique_ptr<NeighborTable> table_;
  std::unique_ptr<NeighborWorker> worker_;
  NeighborActions out_;
};

TEST(NeighborInfoTest, PacksMacAndStateInOneWord) {
  const rte_ether_addr m{{0xde, 0xad, 0xbe, 0xef, 0x01, 0x02}};
  const NeighborInfo i = NeighborInfo::make(m, NeighborState::kStale);
  EXPECT_EQ(i.state(), NeighborState::kStale);
  EXPECT_TRUE(same(i.mac(), m));
  EXPECT_TRUE(i.usable());
  EXPECT_EQ(i.raw(), 0x0003'0201efbeaddeull);
  EXPECT_EQ(NeighborInfo{}.state(), NeighborState::kNone);
  EXPECT_FALSE(NeighborInfo::make(rte_ether_addr{}, NeighborState::kIncomplete).usable());
  EXPECT_NE(NeighborInfo::make(rte_ether_addr{}, NeighborState::kIncomplete).raw(), 0u);  // not "no entry"
}

TEST(NeighborKeyTest, FactoriesAgree) {
  const auto a = IpAddress::parse("192.0.2.7");
  EXPECT_EQ(NeighborKey::v4(3, 0xc0000207), NeighborKey::of(3, *a));
  EXPECT_EQ(NeighborKey::v4(3, 0xc0000207).address(), *a);
  EXPECT_NE(NeighborKey::v4(3, 0xc0000207), NeighborKey::v4(4, 0xc0000207));
  const auto b = IpAddress::parse("2001:db8::7");
  EXPECT_EQ(NeighborKey::v6(1, b->bytes()), NeighborKey::of(1, *b));
  EXPECT_EQ(NeighborKey::of(1, *b).to_string(), "2001:db8::7 port 1");
  // A v4 key and the v6 key whose first bytes are equal stay different.
  std::array<uint8_t, 16> v6{0xc0, 0x00, 0x02, 0x07};
  EXPECT_NE(NeighborKey::v6(3, v6.data()), NeighborKey::v4(3, 0xc0000207));
}

TEST_F(NeighborTest, LearnAndLookup) {
  const NeighborKey a = k4(0x0a000001), b = k4(0x0a000002), c = k4(0x0a000003);
  EXPECT_EQ(table_->lookup(a).state(), NeighborState::kNone);
  EXPECT_EQ(table_->learn(a, mac(1), NeighborEvidence::kReply, now_, out_), LearnResult::kCreated);
  EXPECT_EQ(table_->learn(b, mac(2), NeighborEvidence::kRequest, now_, out_), LearnResult::kCreated);
  EXPECT_EQ(table_->learn(c, mac(3), NeighborEvidence::kAnnounce, now_, out_), LearnResult::kIgnoredUnknown);
  EXPECT_EQ(table_->lookup(a).state(), NeighborState::kReachable);
  EXPECT_TRUE(same(table_->lookup(a).mac(), mac(1)));
  EXPECT_EQ(table_->lookup(b).state(), NeighborState::kStale);  // seen, not confirmed
  EXPECT_EQ(table_->lookup(c).state(), NeighborState::kNone);
  // The same address on another port is another neighbour.
  EXPECT_EQ(table_->lookup(k4(0x0a000001, 1)).state(), NeighborState::kNone);

  // A reply confirms; a request with the same MAC changes nothing; a new MAC makes it stale.
  EXPECT_EQ(table_->learn(b, mac(2), NeighborEvidence::kReply, now_, out_), LearnResult::kUpdated);
  EXPECT_EQ(table_->lookup(b).state(), NeighborState::kReachable);
  EXPECT_EQ(table_->learn(b, mac(2), NeighborEvidence::kRequest, now_, out_), LearnResult::kUnchanged);
  EXPECT_EQ(table_->learn(b, mac(9), NeighborEvidence::kAnnounce, now_, out_), LearnResult::kUpdated);
  EXPECT_EQ(table_->lookup(b).state(), NeighborState::kStale);
  EXPECT_TRUE(same(table_->lookup(b).mac(), mac(9)));
  EXPECT_TRUE(out_.released.empty());
  EXPECT_TRUE(out_.probes.empty());

  // IPv6 keys, and a bulk lookup longer than one rte_hash burst with hits and misses.
  const auto v6 = IpAddress::parse("2001:db8::1");
  EXPECT_EQ(table_->learn(NeighborKey::of(0, *v6), mac(6), NeighborEvidence::kReply, now_, out_), LearnResult::kCreated);
  std::vector<NeighborKey> keys;
  for (uint32_t i = 0; i < 257; ++i) keys.push_back(k4(0x0a000000 + i));
  keys.push_back(NeighborKey::of(0, *v6));
  std::vector<NeighborInfo> infos(keys.size());
  table_->lookup_bulk(keys.data(), static_cast<uint32_t>(keys.size()), infos.data());
  for (std::size_t i = 0; i < 257; ++i) {
    if (i == 1 || i == 2)
      EXPECT_TRUE(infos[i].usable()) << i;
    else
      EXPECT_EQ(infos[i].state(), NeighborState::kNone) << i;
  }
  EXPECT_TRUE(same(infos[257].mac(), mac(6)));
  EXPECT_EQ(table_->size(), 3u);
}

TEST_F(NeighborTest, ReachableBecomesStaleThenIsRemoved) {
  const NeighborKey a = k4(0x0a000001);
  table_->learn(a, mac(1), NeighborEvidence::kReply, now_, out_);
  table_->age(now_ + seconds(30) - nanoseconds(1), out_);
  EXPECT_EQ(table_->lookup(a).state(), NeighborState::kReachable);
  table_->age(now_ + seconds(30), out_);
  EXPECT_EQ(table_->lookup(a).state(), NeighborState::kStale);
  EXPECT_TRUE(same(table_->lookup(a).mac(), mac(1)));  // still usable
  table_->age(now_ + seconds(120) - nanoseconds(1), out_);
  EXPECT_EQ(table_->lookup(a).state(), NeighborState::kStale);
  table_->age(now_ + seconds(120), out_);
  EXPECT_EQ(table_->lookup(a).state(), NeighborState::kNone);
  EXPECT_EQ(count(NeighborCounter::kAgedOut), 1u);
  EXPECT_EQ(table_->size(), 0u);
  EXPECT_TRUE(out_.probes.empty());  // unused entries age out silently

  // A confirmation restarts the clock.
  table_->learn(a, mac(1), NeighborEvidence::kReply, now_, out_);
  table_->age(now_ + seconds(25), out_);
  table_->learn(a, mac(1), NeighborEvidence::kReply, now_ + seconds(25), out_);
  table_->age(now_ + seconds(50), out_);
  EXPECT_EQ(table_->lookup(a).state(), NeighborState::kReachable);
}

// age() returns at once until the earliest timer is due (the control core calls it every loop
// iteration); entries created or changed after an idle scan still get their timers.
TEST_F(NeighborTest, TimersSetAfterAnIdleScanAreHonoured) {
  table_->age(now_, out_);  // empty: nothing due, ever
  const NeighborKey a = k4(0x0a000001), b = k4(0x0a000002);
  std::string error;
  ASSERT_TRUE(table_->add_static(k4(0x0a000009), mac(9), now_, out_, &error)) << error;
  table_->age(now_ + seconds(5), out_);
  table_->learn(a, mac(1), NeighborEvidence::kReply, now_ + seconds(10), out_);
  table_->age(now_ + seconds(39), out_);
  EXPECT_EQ(table_->lookup(a).state(), NeighborState::kReachable);
  table_->age(now_ + seconds(40), out_);
  EXPECT_EQ(table_->lookup(a).state(), NeighborState::kStale);
  EXPECT_EQ(offer(*worker_, b, 1), Hold::kHandedOver);
  table_->process_requests(now_ + seconds(41), out_);
  EXPECT_EQ(out_.probes.size(), 1u);
  table_->age(now_ + seconds(42), out_);
  EXPECT_EQ(out_.probes.size(), 2u);  // the retransmission of b's probe
  table_->age(now_ + seconds(43), out_);
  table_->age(now_ + seconds(44), out_);
  EXPECT_EQ(out_.probes.size(), 3u);
  table_->age(now_ + seconds(130), out_);
  EXPECT_EQ(table_->lookup(a).state(), NeighborState::kNone);     // removed 120 s after confirmation
  EXPECT_EQ(table_->lookup(b).state(), NeighborState::kNone);     // resolution failed
  EXPECT_EQ(table_->lookup(k4(0x0a000009)).state(), NeighborState::kStatic);
  EXPECT_EQ(count(NeighborCounter::kDropUnresolved), 1u);
}

TEST_F(NeighborTest, StaticEntriesNeverAgeAndIgnoreArp) {
  const NeighborKey a = k4(0x0a000001);
  std::string error;
  ASSERT_TRUE(table_->add_static(a, mac(7), now_, out_, &error)) << error;
  EXPECT_EQ(table_->learn(a, mac(8), NeighborEvidence::kReply, now_, out_), LearnResult::kIgnoredStatic);
  EXPECT_EQ(count(NeighborCounter::kStaticIgnored), 1u);
  table_->age(now_ + std::chrono::hours(24 * 365), out_);
  EXPECT_EQ(table_->lookup(a).state(), NeighborState::kStatic);
  EXPECT_TRUE(same(table_->lookup(a).mac(), mac(7)));
  // A static entry overrides a learned one, survives a port flush, and goes on remove().
  const NeighborKey b = k4(0x0a000002);
  table_->learn(b, mac(2), NeighborEvidence::kReply, now_, out_);
  ASSERT_TRUE(table_->add_static(b, mac(3), now_, out_, &error)) << error;
  EXPECT_TRUE(same(table_->lookup(b).mac(), mac(3)));
  table_->learn(k4(0x0a000003), mac(4), NeighborEvidence::kReply, now_, out_);
  EXPECT_EQ(table_->flush_port(0), 1u);
  EXPECT_EQ(table_->size(), 2u);
  EXPECT_TRUE(table_->remove(a));
  EXPECT_FALSE(table_->remove(a));
  EXPECT_EQ(table_->lookup(a).state(), NeighborState::kNone);
  // Bad MACs are refused.
  EXPECT_FALSE(table_->add_static(a, rte_ether_addr{}, now_, out_, &error));
  EXPECT_FALSE(table_->add_static(a, rte_ether_addr{{0x01, 0, 0x5e, 0, 0, 1}}, now_, out_, &error));
  EXPECT_NE(error.find("multicast"), std::string::npos) << error;
}

// A worker's request rings the control core's doorbell when it sleeps (control_wake.hpp), once
// per sleep however many requests follow; requests_pending() is the control core's re-check.
TEST_F(NeighborTest, RequestsWakeTheSleepingControlCore) {
  std::string error;
  auto wake = ControlWake::create(&error);
  ASSERT_TRUE(wake) << error;
  table_->set_control_wake(wake.get());
  NeighborWorker w(*table_);  // takes the doorbell when made
  const NeighborKey a = k4(0xc0000201, 1);
  EXPECT_FALSE(table_->requests_pending());
  EXPECT_EQ(offer(w, a, 1), Hold::kHandedOver);  // awake: no write
  EXPECT_EQ(wake->rings(), 0u);
  EXPECT_TRUE(table_->requests_pending());
  EXPECT_EQ(table_->process_requests(now_, out_), 1u);
  EXPECT_FALSE(table_->requests_pending());
  wake->prepare_sleep();
  EXPECT_EQ(offer(w, a, 2), Hold::kHandedOver);
  EXPECT_EQ(offer(w, a, 3), Hold::kHandedOver);
  EXPECT_EQ(wake->rings(), 1u);
  EXPECT_TRUE(wake->wait(seconds(30)));
  EXPECT_EQ(table_->process_requests(now_, out_), 2u);
  table_->set_control_wake(nullptr);
}

TEST_F(NeighborTest, HeldPacketsAreReleasedInOrderOnResolution) {
  const NeighborKey a = k4(0xc0000201, 1);
  for (uint8_t i = 0; i < 3; ++i) EXPECT_EQ(offer(*worker_, a, i), Hold::kHandedOver);
  EXPECT_EQ(table_->process_requests(now_, out_), 3u);
  EXPECT_EQ(table_->lookup(a).state(), NeighborState::kIncomplete);
  ASSERT_EQ(out_.probes.size(), 1u);  // one broadcast probe for the three packets
  EXPECT_EQ(out_.probes[0].key, a);
  EXPECT_FALSE(out_.probes[0].unicast);
  EXPECT_EQ(table_->held_packets(), 3u);
  EXPECT_EQ(count(NeighborCounter::kHeld), 3u);
  ASSERT_EQ(table_->entries(now_).size(), 1u);
  EXPECT_EQ(table_->entries(now_)[0].held, 3u);

  out_.clear();
  EXPECT_EQ(table_->learn(a, mac(5), NeighborEvidence::kReply, now_ + milliseconds(3), out_), LearnResult::kUpdated);
  ASSERT_EQ(out_.released.size(), 3u);
  for (uint8_t i = 0; i < 3; ++i) {
    EXPECT_EQ(*rte_pktmbuf_mtod(out_.released[i].pkt, const uint8_t*), i);  // arrival order
    EXPECT_TRUE(same(out_.released[i].mac, mac(5)));
    EXPECT_EQ(out_.released[i].key, a);
  }
  EXPECT_EQ(table_->held_packets(), 0u);
  EXPECT_EQ(count(NeighborCounter::kReleased), 3u);
  EXPECT_EQ(table_->lookup(a).state(), NeighborState::kReachable);
  out_.free_released();
}

TEST_F(NeighborTest, PacketResolvedWhileInTheRingComesStraightBack) {
  const NeighborKey a = k4(0xc0000201);
  EXPECT_EQ(offer(*worker_, a, 1), Hold::kHandedOver);
  table_->learn(a, mac(5), NeighborEvidence::kReply, now_, out_);  // before the ring is drained
  EXPECT_EQ(table_->process_requests(now_, out_), 1u);
  ASSERT_EQ(out_.released.size(), 1u);
  EXPECT_TRUE(same(out_.released[0].mac, mac(5)));
  EXPECT_TRUE(out_.probes.empty());
  EXPECT_EQ(table_->held_packets(), 0u);
}

TEST_F(NeighborTest, HoldQueueBoundsPerEntryAndInTotal) {
  // Two workers each hand over their per-key budget (3) for one key: the entry keeps 3.
  NeighborWorker w2(*table_);
  const NeighborKey a = k4(0xc0000201);
  for (uint8_t i = 0; i < 3; ++i) {
    EXPECT_EQ(offer(*worker_, a, i), Hold::kHandedOver);
    EXPECT_EQ(offer(w2, a, static_cast<uint8_t>(10 + i)), Hold::kHandedOver);
  }
  table_->process_requests(now_, out_);
  EXPECT_EQ(table_->held_packets(), 3u);
  EXPECT_EQ(count(NeighborCounter::kHeld), 3u);
  EXPECT_EQ(count(NeighborCounter::kDropHoldEntryFull), 3u);

  // The global cap (16): 8 more keys with 3 packets each: 13 more fit, 11 are dropped.
  for (uint32_t k = 0; k < 8; ++k)
    for (uint8_t i = 0; i < 3; ++i) EXPECT_EQ(offer(*worker_, k4(0xc0000300 + k), i), Hold::kHandedOver);
  table_->process_requests(now_, out_);
  EXPECT_EQ(table_->held_packets(), 16u);
  EXPECT_EQ(count(NeighborCounter::kDropHoldTotalFull), 11u);
  EXPECT_EQ(table_->size(), 9u);  // every key still gets its entry and its probe
  EXPECT_EQ(out_.probes.size(), 9u);
  // TearDown checks that the held packets are freed with the table.
}

TEST_F(NeighborTest, UnansweredProbesFailTheEntryAndFreeItsPackets) {
  const NeighborKey a = k4(0xc0000201);
  for (uint8_t i = 0; i < 2; ++i) EXPECT_EQ(offer(*worker_, a, i), Hold::kHandedOver);
  table_->process_requests(now_, out_);
  EXPECT_EQ(out_.probes.size(), 1u);
  table_->age(now_ + milliseconds(999), out_);
  EXPECT_EQ(out_.probes.size(), 1u);  // not before retransmit_time
  table_->age(now_ + seconds(1), out_);
  table_->age(now_ + seconds(2), out_);
  EXPECT_EQ(out_.probes.size(), 3u);  // max_probes
  EXPECT_EQ(table_->lookup(a).state(), NeighborState::kIncomplete);
  table_->age(now_ + seconds(3), out_);
  EXPECT_EQ(table_->lookup(a).state(), NeighborState::kNone);
  EXPECT_EQ(out_.probes.size(), 3u);
  EXPECT_EQ(count(NeighborCounter::kResolutionFailed), 1u);
  EXPECT_EQ(count(NeighborCounter::kDropUnresolved), 2u);
  EXPECT_EQ(table_->held_packets(), 0u);
  EXPECT_EQ(count(NeighborCounter::kProbes), 3u);
}

TEST_F(NeighborTest, StaleEntryInUseIsReconfirmedByUnicastProbes) {
  const NeighborKey a = k4(0xc0000201);
  table_->learn(a, mac(1), NeighborEvidence::kReply, now_, out_);
  now_ += seconds(31);
  table_->age(now_, out_);
  ASSERT_EQ(table_->lookup(a).state(), NeighborState::kStale);

  // The worker keeps sending to the stale MAC and asks once per window for re-confirmation.
  for (int i = 0; i < 100; ++i) worker_->refresh(a, now_);
  EXPECT_EQ(wcount(NeighborWorkerCounter::kRefreshSent), 1u);
  EXPECT_EQ(table_->process_requests(now_, out_), 1u);
  ASSERT_EQ(out_.probes.size(), 1u);
  EXPECT_TRUE(out_.probes[0].unicast);
  EXPECT_TRUE(same(out_.probes[0].mac, mac(1)));
  // The next window: another request, but the entry is already probing: no new probe.
  worker_->refresh(a, now_ + seconds(1));
  table_->process_requests(now_ + seconds(1), out_);
  EXPECT_EQ(wcount(NeighborWorkerCounter::kRefreshSent), 2u);
  table_->age(now_ + seconds(1), out_);
  table_->age(now_ + seconds(2), out_);
  EXPECT_EQ(out_.probes.size(), 3u);
  table_->age(now_ + seconds(3), out_);
  EXPECT_EQ(table_->lookup(a).state(), NeighborState::kNone);  // the neighbour is gone
  EXPECT_EQ(count(NeighborCounter::kProbeFailed), 1u);

  // With an answer the entry is reachable again.
  const NeighborKey b = k4(0xc0000202);
  table_->learn(b, mac(2), NeighborEvidence::kReply, now_, out_);
  table_->age(now_ + seconds(30), out_);
  worker_->refresh(b, now_ + seconds(30));
  table_->process_requests(now_ + seconds(30), out_);
  table_->learn(b, mac(2), NeighborEvidence::kReply, now_ + seconds(30), out_);
  EXPECT_EQ(table_->lookup(b).state(), NeighborState::kReachable);
  table_->age(now_ + seconds(40), out_);
  EXPECT_EQ(table_->lookup(b).state(), NeighborState::kReachable);
}

TEST_F(NeighborTest, WorkerRequestsAreRateLimitedPerKeyAndPerWorker) {
  // A flood towards one unresolved key: 3 packets per window reach the ring.
  const NeighborKey a = k4(0xc0000201);
  int handed = 0;
  for (int i = 0; i < 10000; ++i) handed += offer(*worker_, a, 0) == Hold::kHandedOver;
  EXPECT_EQ(handed, 3);
  EXPECT_EQ(wcount(NeighborWorkerCounter::kDropRateLimited), 9997u);
  EXPECT_EQ(table_->process_requests(now_, out_), 3u);

  // A scan of many keys: the worker's budget (64 per window, 3 already spent) caps it.
  handed = 0;
  for (uint32_t k = 0; k < 1000; ++k) handed += offer(*worker_, k4(0x0a000000 + k), 0) == Hold::kHandedOver;
  EXPECT_EQ(handed, 61);
  EXPECT_LE(table_->process_requests(now_, out_), 61u);

  // The next window opens both budgets again.
  now_ += seconds(1);
  EXPECT_EQ(offer(*worker_, a, 0), Hold::kHandedOver);
  EXPECT_EQ(offer(*worker_, k4(0x0b000000), 0), Hold::kHandedOver);
  table_->process_requests(now_, out_);
}

TEST_F(NeighborTest, FullRingDropsAndTheCallerKeepsThePacket) {
  NeighborTableConfig c = base_config();
  c.request_ring_size = 4;
  make_table(c);
  for (uint32_t k = 0; k < 4; ++k) EXPECT_EQ(offer(*worker_, k4(0x0a000000 + k), 0), Hold::kHandedOver);
  rte_mbuf* m = pkt(9);
  EXPECT_EQ(worker_->hold(k4(0x0a0000ff), m, now_), Hold::kRingFull);
  EXPECT_EQ(*rte_pktmbuf_mtod(m, const uint8_t*), 9);  // still ours
  rte_pktmbuf_free(m);
  EXPECT_EQ(wcount(NeighborWorkerCounter::kDropRingFull), 1u);
  // The four in the ring are freed with the table (TearDown checks the pool).
}

TEST_F(NeighborTest, FullTableDropsNewKeys) {
  NeighborTableConfig c = base_config();
  c.max_entries = 8;
  c.hold_total = 1000;
  c.worker_requests_per_window = 1000;
  make_table(c);
  uint32_t learned = 0;
  for (uint32_t k = 0; k < 32; ++k)
    learned += table_->learn(k4(0x0a000000 + k), mac(1), NeighborEvidence::kReply, now_, out_) == LearnResult::kCreated;
  EXPECT_GE(learned, 8u);
  EXPECT_LT(learned, 32u);
  EXPECT_EQ(offer(*worker_, k4(0x0b000000), 0), Hold::kHandedOver);
  table_->process_requests(now_, out_);
  EXPECT_EQ(count(NeighborCounter::kDropTableFull), 1u);
  std::string error;
  EXPECT_FALSE(table_->add_static(k4(0x0c000000), mac(1), now_, out_, &error));
  EXPECT_NE(error.find("full"), std::string::npos) << error;
  // Removing entries makes room again (positions come back after the grace period).
  EXPECT_EQ(table_->flush_port(0), learned);
  EXPECT_EQ(table_->learn(k4(0x0d000000), mac(1), NeighborEvidence::kReply, now_, out_), LearnResult::kCreated);
}

TEST_F(NeighborTest, RemovingAnEntryDropsItsHeldPackets) {
  const NeighborKey a = k4(0xc0000201, 2);
  for (uint8_t i = 0; i < 3; ++i) EXPECT_EQ(offer(*worker_, a, i), Hold::kHandedOver);
  table_->process_requests(now_, out_);
  EXPECT_EQ(table_->flush_port(2), 1u);
  EXPECT_EQ(count(NeighborCounter::kDropRemoved), 3u);
  EXPECT_EQ(table_->held_packets(), 0u);
  // The worker's budget for this key is spent until the next window.
  EXPECT_EQ(offer(*worker_, a, 0), Hold::kRateLimited);
  // A static entry replacing an incomplete one releases its packets to the static MAC.
  now_ += seconds(1);
  for (uint8_t i = 0; i < 3; ++i) EXPECT_EQ(offer(*worker_, a, i), Hold::kHandedOver);
  table_->process_requests(now_, out_);
  out_.clear();
  std::string error;
  ASSERT_TRUE(table_->add_static(a, mac(4), now_, out_, &error)) << error;
  ASSERT_EQ(out_.released.size(), 3u);
  EXPECT_TRUE(same(out_.released[0].mac, mac(4)));
  out_.free_released();
}

// A worker thread looks up keys in a loop (registered with the Rcu, quiescent after each
// burst) while this thread learns new MACs, ages, removes and re-adds entries, so hash
// positions are freed and reused. Every usable answer must carry a MAC this key really had:
// its bytes encode the key and a version, whole (a torn word would mix two versions).
TEST_F(NeighborTest, LookupsDuringUpdatesNeverSeeATornOrForeignMac) {
  constexpr uint32_t kKeys = 32;
  std::vector<NeighborKey> keys;
  for (uint32_t k = 0; k < kKeys; ++k) keys.push_back(k4(0x0a000000 + k));
  auto mac_of = [](uint32_t key, uint8_t version) {
    return rte_ether_addr{{0x02, static_cast<uint8_t>(key), version, version, version, version}};
  };

  std::atomic<bool> ready{false}, stop{false};
  std::atomic<uint64_t> bad{0}, seen{0};
  std::thread worker([&] {
    rcu_->register_thread(1);
    rcu_->online(1);
    ready.store(true);
    std::vector<NeighborInfo> out(kKeys);
    while (!stop.load(std::memory_order_relaxed)) {
      table_->lookup_bulk(keys.data(), kKeys, out.data());
      for (uint32_t k = 0; k < kKeys; ++k) {
        if (!out[k].usable()) continue;
        const rte_ether_addr m = out[k].mac();
        const uint8_t* b = m.addr_bytes;
        if (b[0] != 0x02 || b[1] != k || b[2] != b[3] || b[3] != b[4] || b[4] != b[5]) bad.fetch_add(1);
        seen.fetch_add(1, std::memory_order_relaxed);
      }
      rcu_->quiescent(1);
      std::this_thread::yield();
    }
    rcu_->offline(1);
  });
  while (!ready.load()) std::this_thread::yield();

  std::mt19937 rng(7);
  const auto deadline = std::chrono::steady_clock::now() + milliseconds(1000);
  for (int i = 0; i < 3000 && (i < 300 || std::chrono::steady_clock::now() < deadline); ++i) {
    const uint32_t k = rng() % kKeys;
    const auto version = static_cast<uint8_t>(rng());
    std::string error;
    switch (rng() % 6) {
      case 0:
      case 1:
        table_->learn(keys[k], mac_of(k, version), NeighborEvidence::kReply, now_, out_);
        break;
      case 2:
        table_->learn(keys[k], mac_of(k, version), NeighborEvidence::kRequest, now_, out_);
        break;
      case 3:
        table_->remove(keys[k]);  // waits for the worker's next quiescent state
        break;
      case 4:
        if (!table_->add_static(keys[k], mac_of(k, version), now_, out_, &error)) bad.fetch_add(1000000);
        break;
      case 5:
        now_ += seconds(rng() % 200);
        table_->age(now_, out_);
        break;
    }
  }
  stop.store(true);
  worker.join();
  EXPECT_EQ(bad.load(), 0u);
  EXPECT_GT(seen.load(), 0u);
  out_.clear();
}

}  // namespace
}  // namespace esprit
