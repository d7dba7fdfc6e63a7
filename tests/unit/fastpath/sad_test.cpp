// The SAD: keys, add / lookup / replace / remove, errors, RCU reclamation with a worker thread,
// the inbound rekey overlap, churn while a worker decapsulates, per-worker counters, the workers'
// copies of the SA pointers.
#include <gtest/gtest.h>

#include <rte_mbuf.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <functional>
#include <random>
#include <set>
#include <thread>

#include "dpdk_env.hpp"
#include "esprit/fastpath/sad.hpp"

namespace esprit {
namespace {

using test::make_mbuf;
using test::mbuf_bytes;

const char* kGwA4 = "192.0.2.1";  // the peer: encapsulates what the SAD's inbound SAs receive
const char* kGwB4 = "198.51.100.2";  // us
const char* kGwA6 = "2001:db8::a";
const char* kGwB6 = "2001:db8::b";

SecretBytes key_of(std::size_t len, uint8_t seed) {
  std::vector<uint8_t> k(len);
  for (std::size_t i = 0; i < len; ++i) k[i] = static_cast<uint8_t>(seed + i * 13);
  return SecretBytes(k);
}

/// AES-GCM-128 tunnel SA between A and B. Outbound = A's sender, inbound = B's receiver: the
/// outbound SA of a pair makes the packets the inbound SA (in the SAD) decapsulates.
SaDescriptor sa(uint32_t spi, SaDirection dir, bool v6 = false, uint8_t key_seed = 0x11, bool anti_replay = true) {
  SaDescriptor d;
  d.spi = spi;
  d.direction = dir;
  const IpAddress a = *IpAddress::parse(v6 ? kGwA6 : kGwA4);
  const IpAddress b = *IpAddress::parse(v6 ? kGwB6 : kGwB4);
  d.local = dir == SaDirection::kOutbound ? a : b;
  d.remote = dir == SaDirection::kOutbound ? b : a;
  d.encr = EncrAlg::kAesGcm16_128;
  d.encr_key = key_of(info(d.encr).keymat_len(), key_seed);
  d.anti_replay = anti_replay;
  d.cookie = spi;
  return d;
}

/// An inner IPv4 UDP packet with a recognisable payload.
std::vector<uint8_t> inner_v4(uint8_t fill, std::size_t payload = 36) {
  std::vector<uint8_t> p(28 + payload);
  p[0] = 0x45;
  p[2] = static_cast<uint8_t>(p.size() >> 8);
  p[3] = static_cast<uint8_t>(p.size());
  p[8] = 64;
  p[9] = 17;
  p[12] = 10, p[15] = 1;
  p[16] = 10, p[18] = 1, p[19] = 1;
  uint32_t sum = 0;
  for (int i = 0; i < 20; i += 2) sum += p[i] << 8 | p[i + 1];
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  p[10] = static_cast<uint8_t>(~sum >> 8);
  p[11] = static_cast<uint8_t>(~sum);
  p[24] = static_cast<uint8_t>((8 + payload) >> 8);
  p[25] = static_cast<uint8_t>(8 + payload);
  for (std::size_t i = 0; i < payload; ++i) p[28 + i] = static_cast<uint8_t>(fill + i);
  return p;
}

/// Sets an mbuf back to `bytes` at the default headroom (decap works in place).
void restore(rte_mbuf* m, const std::vector<uint8_t>& bytes) {
  m->data_off = RTE_PKTMBUF_HEADROOM;
  m->data_len = static_cast<uint16_t>(bytes.size());
  m->pkt_len = m->data_len;
  std::memcpy(rte_pktmbuf_mtod(m, uint8_t*), bytes.data(), bytes.size());
}

SadKey key_of_packet(const rte_mbuf* m) {
  const auto* ip = rte_pktmbuf_mtod(m, const uint8_t*);
  return SadKey::from_packet(ip, ip + ((ip[0] >> 4) == 6 ? 40 : 20));
}

/// What the sender side of a test needs: an IPsec-MB manager and its outbound SAs.
struct Peer {
  Peer() {
    std::string err;
    worker = EspWorker::create(nullptr, &err);
    EXPECT_TRUE(worker) << err;
  }
  /// ESP bytes of `inner` sent on the outbound SA `d`.
  std::vector<uint8_t> encrypt(const SaDescriptor& d, const std::vector<uint8_t>& inner) {
    std::string err;
    auto out = EspSa::create(d, &err);
    EXPECT_TRUE(out) << err;
    rte_mbuf* m = make_mbuf(inner);
    SaCounters c;
    EXPECT_EQ(encap_burst(*worker, *out, std::span<rte_mbuf*>(&m, 1), c), 1);
    auto bytes = mbuf_bytes(m);
    rte_pktmbuf_free(m);
    return bytes;
  }
  std::unique_ptr<EspWorker> worker;
};

/// Joins a thread on every way out of a test, after telling it to stop (a failed ASSERT returns early).
class Joiner {
 public:
  Joiner(std::thread& t, std::function<void()> stop) : t_(t), stop_(std::move(stop)) {}
  ~Joiner() {
    stop_();
    if (t_.joinable()) t_.join();
  }

 private:
  std::thread& t_;
  std::function<void()> stop_;
};

class SadTest : public ::testing::Test {
 protected:
  void SetUp() override { test::init_dpdk(); }

  /// A SAD with its own RCU; the hash name is unique per SAD.
  std::unique_ptr<Sad> make(uint32_t capacity, uint32_t workers = 1, uint32_t rcu_threads = 1) {
    std::string err;
    rcu_ = Rcu::create(rcu_threads, &err);
    EXPECT_TRUE(rcu_) << err;
    SadConfig c;
    c.capacity = capacity;
    c.workers = workers;
    c.rcu = rcu_.get();
    static int n = 0;
    c.name = "sad_test_" + std::to_string(n++);
    auto s = Sad::create(c, &err);
    EXPECT_TRUE(s) << err;
    return s;
  }
  std::unique_ptr<Rcu> rcu_;
};

TEST_F(SadTest, KeyFromSaEqualsKeyFromPacket) {
  Peer peer;
  for (bool v6 : {false, true}) {
    const auto pkt = peer.encrypt(sa(0xabcd0123, SaDirection::kOutbound, v6), inner_v4(1));
    rte_mbuf* m = make_mbuf(pkt);
    const SadKey from_pkt = key_of_packet(m);
    const SadKey from_sa = SadKey::of(0xabcd0123, *IpAddress::parse(v6 ? kGwB6 : kGwB4));
    EXPECT_EQ(from_pkt, from_sa) << from_pkt.to_string() << " vs " << from_sa.to_string();
    EXPECT_EQ(from_sa.family, v6 ? 6 : 4);
    EXPECT_EQ(from_sa.address(), *IpAddress::parse(v6 ? kGwB6 : kGwB4));
    rte_pktmbuf_free(m);
  }
  const SadKey v4 = SadKey::of(0x100, *IpAddress::parse("10.1.2.3"));
  for (int i = 4; i < 16; ++i) EXPECT_EQ(v4.addr[i], 0) << "IPv4 keys are zero-padded";
  EXPECT_EQ(v4.to_string(), "SPI 0x00000100 to 10.1.2.3");

  const uint8_t not_ip[40] = {0x50};
  const uint8_t spi[4] = {0, 0, 0, 1};
  EXPECT_EQ(SadKey::from_packet(not_ip, spi).family, 0);
}

TEST_F(SadTest, CreateChecksItsConfiguration) {
  std::string err;
  SadConfig c;
  EXPECT_FALSE(Sad::create(c, &err));
  EXPECT_NE(err.find("Rcu"), std::string::npos) << err;
  auto rcu = Rcu::create(1, &err);
  c.rcu = rcu.get();
  c.capacity = 0;
  EXPECT_FALSE(Sad::create(c, &err));
  EXPECT_NE(err.find("capacity"), std::string::npos) << err;
  c.capacity = 16;
  c.name = "sad_test_same_name";
  auto first = Sad::create(c, &err);
  ASSERT_TRUE(first) << err;
  EXPECT_FALSE(Sad::create(c, &err));
  EXPECT_NE(err.find("already exists"), std::string::npos) << err;
}

TEST_F(SadTest, AddLookupRemoveV4AndV6) {
  auto sad = make(64);
  ASSERT_TRUE(sad);
  std::string err;
  // The same SPI in both families and in both directions: four different SAs.
  auto in4 = sad->add(sa(0x1000, SaDirection::kInbound, false), &err);
  ASSERT_TRUE(in4) << err;
  auto in6 = sad->add(sa(0x1000, SaDirection::kInbound, true), &err);
  ASSERT_TRUE(in6) << err;
  auto out4 = sad->add(sa(0x1000, SaDirection::kOutbound, false), &err);
  ASSERT_TRUE(out4) << err;
  auto in4b = sad->add(sa(0x2000, SaDirection::kInbound, false), &err);
  ASSERT_TRUE(in4b) << err;
  EXPECT_EQ(sad->size(), 4u);
  EXPECT_EQ(std::set<uint32_t>({*in4, *in6, *out4, *in4b}).size(), 4u);

  ASSERT_NE(sad->get(*out4), nullptr);
  EXPECT_EQ(sad->get(*out4)->direction(), SaDirection::kOutbound);
  EXPECT_EQ(sad->get(*in6)->spi(), 0x1000u);
  EXPECT_EQ(sad->get(kNoSaSlot), nullptr);
  EXPECT_EQ(sad->get(63), nullptr);
  auto i6 = sad->info(*in6);
  ASSERT_TRUE(i6);
  EXPECT_EQ(i6->local, *IpAddress::parse(kGwB6));
  EXPECT_EQ(i6->remote, *IpAddress::parse(kGwA6));
  EXPECT_EQ(i6->direction, SaDirection::kInbound);

  // 257 keys (more than four batches of the key table) cycling through hits and misses.
  const SadKey k4 = SadKey::of(0x1000, *IpAddress::parse(kGwB4));
  const SadKey k6 = SadKey::of(0x1000, *IpAddress::parse(kGwB6));
  const SadKey k4b = SadKey::of(0x2000, *IpAddress::parse(kGwB4));
  const SadKey miss_spi = SadKey::of(0x3000, *IpAddress::parse(kGwB4));
  const SadKey miss_addr = SadKey::of(0x1000, *IpAddress::parse(kGwA4));  // the outbound SA's local
  const SadKey cycle[] = {k4, k6, k4b, miss_spi, miss_addr};
  const uint32_t expect_slot[] = {*in4, *in6, *in4b, kNoSaSlot, kNoSaSlot};
  constexpr uint32_t kN = 257;
  std::vector<SadKey> keys(kN);
  std::vector<EspSa*> sas(kN, reinterpret_cast<EspSa*>(1));
  std::vector<uint32_t> slots(kN, 12345);
  uint32_t expect_hits = 0;
  for (uint32_t i = 0; i < kN; ++i) {
    keys[i] = cycle[i % 5];
    expect_hits += i % 5 < 3;
  }
  EXPECT_EQ(sad->lookup_inbound(keys.data(), kN, sas.data(), slots.data()), expect_hits);
  for (uint32_t i = 0; i < kN; ++i) {
    ASSERT_EQ(slots[i], expect_slot[i % 5]) << i;
    ASSERT_EQ(sas[i], sad->get(expect_slot[i % 5])) << i;
  }
  EXPECT_EQ(sad->find_inbound(k6), *in6);
  EXPECT_EQ(sad->find_inbound(miss_spi), kNoSaSlot);

  std::vector<uint32_t> seen;
  sad->for_each([&](uint32_t slot, const EspSa& s) {
    seen.push_back(slot);
    EXPECT_EQ(&s, sad->get(slot));
  });
  EXPECT_EQ(seen.size(), 4u);

  // Removal is visible at once; the slot and key come back after the grace period (no worker is
  // registered here, so it has already passed).
  EXPECT_TRUE(sad->remove(*in6));
  EXPECT_EQ(sad->size(), 3u);
  EXPECT_EQ(sad->get(*in6), nullptr);
  EXPECT_EQ(sad->find_inbound(k6), kNoSaSlot);
  EXPECT_FALSE(sad->info(*in6));
  EXPECT_EQ(sad->pending(), 1u);
  EXPECT_EQ(sad->reclaim(), 1u);
  EXPECT_EQ(sad->pending(), 0u);
  EXPECT_FALSE(sad->remove(*in6));
  EXPECT_FALSE(sad->remove(kNoSaSlot));
  EXPECT_EQ(sad->lookup_inbound(keys.data(), kN, sas.data(), slots.data()), expect_hits - (kN + 3) / 5);

  // The key can be installed again and the v4 SAs were not disturbed.
  auto again = sad->add(sa(0x1000, SaDirection::kInbound, true), &err);
  ASSERT_TRUE(again) << err;
  EXPECT_EQ(sad->find_inbound(k6), *again);
  EXPECT_EQ(sad->find_inbound(k4), *in4);
  EXPECT_TRUE(sad->remove(*in4));
  EXPECT_TRUE(sad->remove(*out4));
  EXPECT_TRUE(sad->remove(*in4b));
  EXPECT_TRUE(sad->remove(*again));
  EXPECT_EQ(sad->size(), 0u);
  sad->synchronize();
  EXPECT_EQ(sad->pending(), 0u);
}

TEST_F(SadTest, DuplicateInboundKeyIsRefused) {
  auto sad = make(16);
  ASSERT_TRUE(sad);
  std::string err;
  auto first = sad->add(sa(0x4200, SaDirection::kInbound), &err);
  ASSERT_TRUE(first) << err;
  EXPECT_FALSE(sad->add(sa(0x4200, SaDirection::kInbound, false, 0x77), &err));
  EXPECT_EQ(err, "inbound SA SPI 0x00004200 to 198.51.100.2 already installed in slot " + std::to_string(*first));
  EXPECT_EQ(sad->size(), 1u);
  EXPECT_EQ(sad->find_inbound(SadKey::of(0x4200, *IpAddress::parse(kGwB4))), *first);
  // The same SPI to another local address, or outbound, is another SA.
  SaDescriptor other = sa(0x4200, SaDirection::kInbound);
  other.local = *IpAddress::parse("203.0.113.9");
  EXPECT_TRUE(sad->add(other, &err)) << err;
  EXPECT_TRUE(sad->add(sa(0x4200, SaDirection::kOutbound), &err)) << err;
}

TEST_F(SadTest, InvalidDescriptorIsRefusedWithoutUsingASlot) {
  auto sad = make(1);
  ASSERT_TRUE(sad);
  std::string err;
  SaDescriptor bad = sa(0x9900, SaDirection::kInbound);
  bad.encr_key = key_of(3, 0);
  EXPECT_FALSE(sad->add(bad, &err));
  EXPECT_NE(err.find("SA 0x00009900: "), std::string::npos) << err;
  EXPECT_EQ(sad->find_inbound(SadKey::of(0x9900, bad.local)), kNoSaSlot);
  EXPECT_TRUE(sad->add(sa(0x9900, SaDirection::kInbound), &err)) << err;  // the one slot is still free
}

TEST_F(SadTest, CapacityExhaustionIsAnError) {
  // Every slot an inbound SA: the key table takes as many keys as there are slots.
  constexpr uint32_t kCap = 1000;
  auto sad = make(kCap);
  ASSERT_TRUE(sad);
  std::string err;
  for (uint32_t i = 0; i < kCap; ++i) ASSERT_TRUE(sad->add(sa(0x100 + i, SaDirection::kInbound), &err)) << i << err;
  EXPECT_FALSE(sad->add(sa(0x5000, SaDirection::kInbound), &err));
  EXPECT_EQ(err, "SAD full: 1000 slots");
  EXPECT_FALSE(sad->add(sa(0x5000, SaDirection::kOutbound), &err));
  EXPECT_EQ(sad->size(), kCap);
  for (uint32_t i = 0; i < kCap; ++i) ASSERT_EQ(sad->find_inbound(SadKey::of(0x100 + i, *IpAddress::parse(kGwB4))), i);

  // A removed SA's slot is not free while a worker may still hold it.
  rcu_->register_thread(0);
  rcu_->online(0);
  const uint32_t victim = 123;
  sad->counters(0, victim).packets = 7;
  ASSERT_TRUE(sad->remove(victim));
  EXPECT_FALSE(sad->add(sa(0x5000, SaDirection::kInbound), &err));
  EXPECT_EQ(err, "SAD full: 1000 slots, 1 changes awaiting an RCU grace period (retry after reclaim())");
  rcu_->quiescent(0);  // the worker moves on
  auto slot = sad->add(sa(0x5000, SaDirection::kInbound), &err);
  ASSERT_TRUE(slot) << err;
  EXPECT_EQ(*slot, victim);
  EXPECT_EQ(sad->totals(victim).packets, 0u) << "a reused slot starts with zero counters";
  rcu_->offline(0);
}

TEST_F(SadTest, ReplaceKeepsTheSlotAndFreesTheOldSaAfterAGracePeriod) {
  auto sad = make(8);
  ASSERT_TRUE(sad);
  std::string err;
  auto slot = sad->add(sa(0x7001, SaDirection::kOutbound), &err);
  ASSERT_TRUE(slot) << err;
  sad->counters(0, *slot).packets = 5;

  // A worker holds the SA of the slot across the replacement, then reports a quiescent state.
  enum Phase { kStart, kHolding, kReplaced, kChecked, kNotReclaimed, kQuiescent, kDone };
  std::atomic<int> phase{kStart};
  auto wait_for = [&](int p) {
    while (phase.load() < p) std::this_thread::yield();
  };
  uint32_t old_spi_seen = 0;
  uint32_t new_spi_seen = 0;
  std::thread worker([&] {
    rcu_->register_thread(0);
    rcu_->online(0);
    EspSa* held = sad->get(*slot);
    phase = kHolding;
    wait_for(kReplaced);
    old_spi_seen = held->spi();  // still valid: ASan reports a use after free otherwise
    new_spi_seen = sad->get(*slot)->spi();
    phase = kChecked;
    wait_for(kNotReclaimed);
    rcu_->quiescent(0);
    phase = kQuiescent;
    wait_for(kDone);
    rcu_->offline(0);
  });
  Joiner joiner(worker, [&] { phase = kDone; });
  wait_for(kHolding);
  ASSERT_TRUE(sad->replace(*slot, sa(0x7002, SaDirection::kOutbound), &err)) << err;
  phase = kReplaced;
  wait_for(kChecked);
  EXPECT_EQ(sad->pending(), 1u);
  EXPECT_EQ(sad->reclaim(), 0u) << "the worker has not passed a quiescent state";
  EXPECT_EQ(sad->pending(), 1u);
  phase = kNotReclaimed;
  wait_for(kQuiescent);
  EXPECT_EQ(sad->reclaim(), 1u);
  EXPECT_EQ(sad->pending(), 0u);
  phase = kDone;
  worker.join();
  EXPECT_EQ(old_spi_seen, 0x7001u);
  EXPECT_EQ(new_spi_seen, 0x7002u);
  EXPECT_EQ(sad->info(*slot)->spi, 0x7002u);
  EXPECT_EQ(sad->size(), 1u);
  EXPECT_EQ(sad->totals(*slot).packets, 5u) << "a slot's counters carry over a replace";
}

TEST_F(SadTest, ReplaceRefusesWhatWouldBreakTheSlot) {
  auto sad = make(8);
  ASSERT_TRUE(sad);
  std::string err;
  auto in = sad->add(sa(0x1010, SaDirection::kInbound), &err);
  auto out = sad->add(sa(0x2020, SaDirection::kOutbound), &err);
  ASSERT_TRUE(in && out) << err;
  EXPECT_FALSE(sad->replace(*in, sa(0x1010, SaDirection::kOutbound), &err));
  EXPECT_NE(err.find("keep the direction"), std::string::npos) << err;
  EXPECT_FALSE(sad->replace(*in, sa(0x1011, SaDirection::kInbound), &err));
  EXPECT_NE(err.find("add the new SA, then remove the old one"), std::string::npos) << err;
  EXPECT_FALSE(sad->replace(7, sa(0x2020, SaDirection::kOutbound), &err));
  EXPECT_EQ(err, "SAD slot 7 holds no SA");
  SaDescriptor bad = sa(0x2021, SaDirection::kOutbound);
  bad.encr_key = key_of(1, 0);
  EspSa* before = sad->get(*out);
  EXPECT_FALSE(sad->replace(*out, bad, &err));
  EXPECT_EQ(sad->get(*out), before) << "a failed replace leaves the SA in place";
  // Same key, new keys/state (e.g. a NAT-T port change): allowed.
  EXPECT_TRUE(sad->replace(*in, sa(0x1010, SaDirection::kInbound, false, 0x33), &err)) << err;
  EXPECT_EQ(sad->find_inbound(SadKey::of(0x1010, *IpAddress::parse(kGwB4))), *in);
  EXPECT_EQ(sad->pending(), 1u);
}

TEST_F(SadTest, OutboundReplacedByItselfContinuesItsSequenceNumbers) {
  // A NAT mapping change re-installs the same outbound SA (same SPI and key) on a new port: the
  // new EspSa must not hand out sequence numbers (GCM nonces under the same key) a second time.
  auto sad = make(8);
  ASSERT_TRUE(sad);
  std::string err;
  auto slot = sad->add(sa(0xc100, SaDirection::kOutbound), &err);
  ASSERT_TRUE(slot) << err;
  Peer peer;
  std::vector<uint8_t> esp;
  auto send = [&] {
    rte_mbuf* m = make_mbuf(inner_v4(1));
    ASSERT_EQ(encap_burst(*peer.worker, *sad->get(*slot), std::span<rte_mbuf*>(&m, 1), sad->counters(0, *slot)), 1);
    esp = mbuf_bytes(m);
    rte_pktmbuf_free(m);
  };
  auto seq_of = [&] {  // the ESP header's sequence number (outer IPv4 of 20 bytes)
    return uint32_t{esp[24]} << 24 | uint32_t{esp[25]} << 16 | uint32_t{esp[26]} << 8 | esp[27];
  };
  for (int i = 0; i < 3; ++i) send();
  EXPECT_EQ(seq_of(), 3u);

  ASSERT_TRUE(sad->replace(*slot, sa(0xc100, SaDirection::kOutbound), &err)) << err;
  EXPECT_EQ(sad->get(*slot)->sequence(), 3 + Sad::kSeqHandoverGap);
  send();
  EXPECT_EQ(seq_of(), 4 + Sad::kSeqHandoverGap);

  // A rekey (another SPI) is another SA: it starts at 1.
  ASSERT_TRUE(sad->replace(*slot, sa(0xc200, SaDirection::kOutbound, false, 0x22), &err)) << err;
  send();
  EXPECT_EQ(seq_of(), 1u);
}

/// Looks up and decapsulates `pkts` one packet at a time; returns the number decapsulated.
uint32_t decap_all(Sad& sad, EspWorker& w, std::span<rte_mbuf*> pkts, std::vector<EspSa*>& sas,
                   std::vector<uint32_t>& slots) {
  std::vector<SadKey> keys;
  for (rte_mbuf* m : pkts) keys.push_back(key_of_packet(m));
  sas.assign(pkts.size(), nullptr);
  slots.assign(pkts.size(), kNoSaSlot);
  sad.lookup_inbound(keys.data(), static_cast<uint32_t>(keys.size()), sas.data(), slots.data());
  uint32_t ok = 0;
  for (std::size_t i = 0; i < pkts.size(); ++i) {
    if (sas[i]) ok += decap_burst(w, *sas[i], pkts.subspan(i, 1), sad.counters(0, slots[i]));
  }
  return ok;
}

TEST_F(SadTest, InboundRekeyOverlapAcceptsBothSpis) {
  auto sad = make(8);
  ASSERT_TRUE(sad);
  Peer peer;
  std::string err;
  // The old SA and its rekeyed successor: new SPI, new keys.
  const auto old_pkt = peer.encrypt(sa(0xa100, SaDirection::kOutbound, false, 0x10), inner_v4(1));
  const auto new_pkt = peer.encrypt(sa(0xb200, SaDirection::kOutbound, false, 0x20), inner_v4(2));
  auto old_slot = sad->add(sa(0xa100, SaDirection::kInbound, false, 0x10), &err);
  ASSERT_TRUE(old_slot) << err;
  auto new_slot = sad->add(sa(0xb200, SaDirection::kInbound, false, 0x20), &err);
  ASSERT_TRUE(new_slot) << err;

  std::vector<rte_mbuf*> pkts = {make_mbuf(old_pkt), make_mbuf(new_pkt)};
  std::vector<EspSa*> sas;
  std::vector<uint32_t> slots;
  EXPECT_EQ(decap_all(*sad, *peer.worker, pkts, sas, slots), 2u);
  EXPECT_EQ(slots[0], *old_slot);
  EXPECT_EQ(slots[1], *new_slot);
  EXPECT_EQ(mbuf_bytes(pkts[0]), inner_v4(1));
  EXPECT_EQ(mbuf_bytes(pkts[1]), inner_v4(2));
  EXPECT_EQ(sad->totals(*old_slot).packets, 1u);
  EXPECT_EQ(sad->totals(*new_slot).packets, 1u);

  // The peer has switched: the old SA goes, the new one stays.
  ASSERT_TRUE(sad->remove(*old_slot));
  restore(pkts[0], old_pkt);
  SaDescriptor next = sa(0xb200, SaDirection::kOutbound, false, 0x20);
  std::string err2;
  auto sender = EspSa::create(next, &err2);
  ASSERT_TRUE(sender) << err2;
  sender->set_next_sequence(2);
  rte_pktmbuf_free(pkts[1]);
  pkts[1] = make_mbuf(inner_v4(3));
  SaCounters c;
  ASSERT_EQ(encap_burst(*peer.worker, *sender, std::span<rte_mbuf*>(&pkts[1], 1), c), 1);
  EXPECT_EQ(decap_all(*sad, *peer.worker, pkts, sas, slots), 1u);
  EXPECT_EQ(sas[0], nullptr);
  EXPECT_EQ(slots[0], kNoSaSlot);
  EXPECT_EQ(slots[1], *new_slot);
  EXPECT_EQ(mbuf_bytes(pkts[1]), inner_v4(3));
  for (rte_mbuf* m : pkts) rte_pktmbuf_free(m);
}

TEST_F(SadTest, ChurnWhileAWorkerDecapsulates) {
  // A worker thread looks up and decapsulates real ESP packets of stable SAs (v4 and v6 outer)
  // and of SAs the control thread keeps adding, replacing and removing; it also encapsulates on
  // outbound slots the control thread replaces, and reads whatever SA a range of slots holds.
  // ASan sees any SA freed too early; no packet of a stable SA may be lost.
  constexpr uint32_t kCap = 512;
  constexpr uint32_t kStable = 8;
  constexpr uint32_t kChurnKeys = 64;
  constexpr uint32_t kOps = 3000;
  auto sad = make(kCap);
  ASSERT_TRUE(sad);
  Peer peer;
  std::string err;

  std::vector<std::vector<uint8_t>> stable_pkts;
  std::vector<uint32_t> stable_slots;
  for (uint32_t i = 0; i < kStable; ++i) {
    const bool v6 = i % 2 == 1;
    stable_pkts.push_back(peer.encrypt(sa(0x100 + i, SaDirection::kOutbound, v6), inner_v4(static_cast<uint8_t>(i))));
    auto s = sad->add(sa(0x100 + i, SaDirection::kInbound, v6, 0x11, false), &err);
    ASSERT_TRUE(s) << err;
    stable_slots.push_back(*s);
  }
  std::vector<std::vector<uint8_t>> churn_pkts;
  for (uint32_t j = 0; j < kChurnKeys; ++j)
    churn_pkts.push_back(peer.encrypt(sa(0x10000 + j, SaDirection::kOutbound), inner_v4(0x80)));
  uint32_t out_slots[2];
  for (uint32_t i = 0; i < 2; ++i) {
    auto slot = sad->add(sa(0x900 + i, SaDirection::kOutbound), &err);
    ASSERT_TRUE(slot) << err;
    out_slots[i] = *slot;
  }

  std::unique_ptr<EspWorker> wk = EspWorker::create(nullptr, &err);
  ASSERT_TRUE(wk) << err;
  std::atomic<bool> control_done{false};
  std::atomic<uint64_t> iterations{0};
  std::atomic<uint64_t> stable_lost{0};
  std::atomic<uint64_t> stable_wrong{0};
  std::atomic<uint64_t> churn_hits{0};
  std::atomic<uint64_t> churn_failed{0};
  std::atomic<uint64_t> encap_failed{0};
  std::atomic<uint64_t> spi_sum{0};
  std::atomic<uint64_t> stale_held{0};  // decapsulated on an SA replaced or removed since the lookup
  // Pacing in both directions: the control thread makes at most 8 changes per worker lookup, and
  // the worker holds its lookups of even iterations until a change was made.
  std::atomic<uint64_t> looked_up{0};
  std::atomic<uint64_t> ops_done{0};

  std::thread worker([&] {
    rcu_->register_thread(0);
    rcu_->online(0);
    constexpr uint32_t kBurst = kStable + 8;
    rte_mbuf* pkts[kBurst];
    for (rte_mbuf*& m : pkts) m = make_mbuf(stable_pkts[0]);
    rte_mbuf* plain = make_mbuf(inner_v4(9));
    SadKey keys[kBurst];
    EspSa* sas[kBurst];
    uint32_t slots[kBurst];
    uint64_t it = 0;
    for (; !control_done.load(std::memory_order_relaxed) || it < 200; ++it) {
      for (uint32_t i = 0; i < kBurst; ++i) {
        restore(pkts[i], i < kStable ? stable_pkts[i] : churn_pkts[(it * 8 + i) % kChurnKeys]);
        keys[i] = key_of_packet(pkts[i]);
      }
      const uint64_t ops_at_lookup = ops_done.load(std::memory_order_acquire);
      sad->lookup_inbound(keys, kBurst, sas, slots);
      looked_up.store(it + 1, std::memory_order_release);
      // Every other iteration, hold the SAs found until the control thread has made a change, so
      // that some are replaced or removed under this worker's feet whatever the scheduler does.
      if (it % 2 == 0) {
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
        while (ops_done.load(std::memory_order_acquire) == ops_at_lookup && !control_done.load() &&
               std::chrono::steady_clock::now() < deadline)
          std::this_thread::yield();
      }
      for (uint32_t i = 0; i < kBurst; ++i) {
        if (!sas[i]) {
          if (i < kStable) stable_lost.fetch_add(1, std::memory_order_relaxed);
          continue;
        }
        const uint16_t ok = decap_burst(*wk, *sas[i], std::span<rte_mbuf*>(&pkts[i], 1), sad->counters(0, slots[i]));
        if (i < kStable) {
          if (!ok) stable_lost.fetch_add(1, std::memory_order_relaxed);
          else if (mbuf_bytes(pkts[i]) != inner_v4(static_cast<uint8_t>(i))) stable_wrong.fetch_add(1);
        } else {
          if (sad->get(slots[i]) != sas[i]) stale_held.fetch_add(1, std::memory_order_relaxed);
          churn_hits.fetch_add(1, std::memory_order_relaxed);
          if (!ok) churn_failed.fetch_add(1, std::memory_order_relaxed);
        }
      }
      // Encapsulate on an outbound slot that the control thread keeps replacing.
      const uint32_t os = out_slots[it % 2];
      if (EspSa* o = sad->get(os)) {
        restore(plain, inner_v4(9));
        if (encap_burst(*wk, *o, std::span<rte_mbuf*>(&plain, 1), sad->counters(0, os)) != 1) encap_failed.fetch_add(1);
      } else {
        encap_failed.fetch_add(1);
      }
      // Touch whatever SAs a window of slots holds right now.
      uint64_t sum = 0;
      for (uint32_t s = 0; s < 16; ++s) {
        if (const EspSa* any = sad->get(static_cast<uint32_t>((it * 16 + s) % kCap))) sum += any->spi() + any->cookie();
      }
      spi_sum.fetch_add(sum, std::memory_order_relaxed);
      rcu_->quiescent(0);
    }
    iterations = it;
    rcu_->offline(0);
    for (rte_mbuf* m : pkts) rte_pktmbuf_free(m);
    rte_pktmbuf_free(plain);
  });
  Joiner joiner(worker, [&] { control_done = true; });

  // The control thread: thousands of adds, replaces and removes.
  std::mt19937 rng(12345);
  std::vector<uint32_t> churn_slot(kChurnKeys, kNoSaSlot);
  std::vector<uint32_t> churn_out;
  uint32_t adds = 0, replaces = 0, removes = 0, max_slot = 0;
  auto add_retrying = [&](const SaDescriptor& d) -> std::optional<uint32_t> {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    for (;;) {
      std::string e;
      if (auto s = sad->add(d, &e)) return s;
      EXPECT_NE(e.find("SAD full"), std::string::npos) << e;
      if (e.find("SAD full") == std::string::npos || std::chrono::steady_clock::now() > deadline) return std::nullopt;
      std::this_thread::yield();  // slots are waiting for the worker's next quiescent state
    }
  };
  uint64_t seen = 0;
  auto wait_worker = [&] {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (looked_up.load(std::memory_order_acquire) == seen && std::chrono::steady_clock::now() < deadline)
      std::this_thread::yield();
    seen = looked_up.load(std::memory_order_acquire);
  };
  for (uint32_t op = 0; op < kOps; ++op, ops_done.store(op, std::memory_order_release)) {
    if (op % 8 == 0) wait_worker();
    const uint32_t j = rng() % kChurnKeys;
    const SaDescriptor in = sa(0x10000 + j, SaDirection::kInbound, false, 0x11, false);
    if (churn_slot[j] == kNoSaSlot) {
      auto s = add_retrying(in);
      ASSERT_TRUE(s);
      churn_slot[j] = *s;
      max_slot = std::max(max_slot, *s);
      ++adds;
    } else if (rng() % 3 == 0) {
      ASSERT_TRUE(sad->replace(churn_slot[j], in, &err)) << err;
      ++replaces;
    } else {
      ASSERT_TRUE(sad->remove(churn_slot[j]));
      churn_slot[j] = kNoSaSlot;
      ++removes;
    }
    if (op % 4 == 0) {  // outbound rekey on a slot the worker encapsulates on
      ASSERT_TRUE(sad->replace(out_slots[op % 8 == 0], sa(0x20000 + op, SaDirection::kOutbound), &err)) << err;
      ++replaces;
    }
    if (op % 3 == 0) {  // outbound SAs that come and go in slots the worker reads
      if (churn_out.size() < 32 && rng() % 2) {
        auto s = add_retrying(sa(0x30000 + op, SaDirection::kOutbound));
        ASSERT_TRUE(s);
        churn_out.push_back(*s);
        ++adds;
      } else if (!churn_out.empty()) {
        ASSERT_TRUE(sad->remove(churn_out.back()));
        churn_out.pop_back();
        ++removes;
      }
    }
  }
  // Leave some churn SAs installed so that the worker's last iterations hit them.
  for (uint32_t j = 0; j < kChurnKeys; j += 2) {
    if (churn_slot[j] == kNoSaSlot) {
      auto s = add_retrying(sa(0x10000 + j, SaDirection::kInbound, false, 0x11, false));
      ASSERT_TRUE(s);
      churn_slot[j] = *s;
    }
  }
  control_done = true;
  worker.join();
  sad->synchronize();

  EXPECT_GE(adds + replaces + removes, kOps);
  EXPECT_EQ(stable_lost.load(), 0u);
  EXPECT_EQ(stable_wrong.load(), 0u);
  EXPECT_EQ(churn_failed.load(), 0u);
  EXPECT_GT(churn_hits.load(), 0u);
  EXPECT_GT(stale_held.load(), 0u) << "the worker never used an SA after it was unpublished";
  EXPECT_EQ(encap_failed.load(), 0u);
  for (uint32_t s : stable_slots) {
    const SaCounters t = sad->totals(s);
    EXPECT_EQ(t.packets, iterations.load()) << "slot " << s;
    EXPECT_EQ(t.total_drops(), 0u) << "slot " << s;
  }
  EXPECT_EQ(sad->totals(out_slots[0]).packets + sad->totals(out_slots[1]).packets, iterations.load());
  EXPECT_LT(max_slot, kCap);
  EXPECT_EQ(sad->pending(), 0u);
  uint32_t installed = kStable + 2 + static_cast<uint32_t>(churn_out.size());
  for (uint32_t s : churn_slot) installed += s != kNoSaSlot;
  EXPECT_EQ(sad->size(), installed);
}

TEST_F(SadTest, InboundSasGetOwnersRoundRobinKeptAcrossReplace) {
  auto sad = make(16, 3);
  ASSERT_TRUE(sad);
  std::string err;
  std::vector<uint32_t> slots;
  for (uint32_t i = 0; i < 7; ++i) {
    // Outbound SAs in between take no turn: they are used by every worker.
    if (i == 2) {
      ASSERT_TRUE(sad->add(sa(0x6100, SaDirection::kOutbound), &err)) << err;
    }
    auto slot = sad->add(sa(0x6000 + i, SaDirection::kInbound), &err);
    ASSERT_TRUE(slot) << err;
    slots.push_back(*slot);
  }
  for (uint32_t i = 0; i < slots.size(); ++i) {
    EXPECT_EQ(sad->owner(slots[i]), i % 3) << "SA " << i;
    EXPECT_EQ(sad->info(slots[i])->owner, i % 3);
  }
  // A replacement keeps the key, so it keeps the owner (one decapsulating worker across rekeys).
  ASSERT_TRUE(sad->replace(slots[4], sa(0x6004, SaDirection::kInbound, false, 0x22), &err)) << err;
  EXPECT_EQ(sad->owner(slots[4]), 1u);
  EXPECT_EQ(sad->info(slots[4])->owner, 1u);
}

TEST_F(SadTest, CountersAreSummedAcrossWorkers) {
  auto sad = make(8, 2);
  ASSERT_TRUE(sad);
  std::string err;
  auto slot = sad->add(sa(0x4040, SaDirection::kOutbound), &err);
  ASSERT_TRUE(slot) << err;
  // Two workers encapsulate on the same outbound SA, each into its own counter block.
  constexpr uint32_t kBursts[2] = {40, 25};
  constexpr uint32_t kBurst = 16;
  std::vector<std::thread> threads;
  for (uint32_t w = 0; w < 2; ++w) {
    threads.emplace_back([&, w] {
      std::string e;
      auto wk = EspWorker::create(nullptr, &e);
      if (!wk) return;
      rte_mbuf* pkts[kBurst];
      for (uint32_t i = 0; i < kBurst; ++i) pkts[i] = make_mbuf(inner_v4(static_cast<uint8_t>(w), 36 + w * 10));
      for (uint32_t b = 0; b < kBursts[w]; ++b) {
        for (rte_mbuf* m : pkts) restore(m, inner_v4(static_cast<uint8_t>(w), 36 + w * 10));
        (void)encap_burst(*wk, *sad->get(*slot), pkts, sad->counters(w, *slot));
      }
      for (rte_mbuf* m : pkts) rte_pktmbuf_free(m);
    });
  }
  for (auto& t : threads) t.join();
  const uint64_t len0 = inner_v4(0, 36).size();
  const uint64_t len1 = inner_v4(1, 46).size();
  EXPECT_EQ(sad->counters(0, *slot).packets, kBursts[0] * kBurst);
  EXPECT_EQ(sad->counters(1, *slot).packets, kBursts[1] * kBurst);
  const SaCounters t = sad->totals(*slot);
  EXPECT_EQ(t.packets, (kBursts[0] + kBursts[1]) * kBurst);
  EXPECT_EQ(t.bytes, kBursts[0] * kBurst * len0 + kBursts[1] * kBurst * len1);
  EXPECT_EQ(t.total_drops(), 0u);
  EXPECT_EQ(sad->get(*slot)->sequence(), (kBursts[0] + kBursts[1]) * kBurst);

  // A drop counted by one worker shows in the total too.
  sad->counters(1, *slot).drops[static_cast<std::size_t>(DropReason::kSeqExhausted)] = 3;
  EXPECT_EQ(sad->totals(*slot).drop(DropReason::kSeqExhausted), 3u);
  // Reusing the slot starts from zero for every worker.
  ASSERT_TRUE(sad->remove(*slot));
  sad->synchronize();
  auto again = sad->add(sa(0x4041, SaDirection::kOutbound), &err);
  ASSERT_TRUE(again) << err;
  EXPECT_EQ(*again, *slot);
  EXPECT_EQ(sad->totals(*again).packets, 0u);
  EXPECT_EQ(sad->totals(*again).total_drops(), 0u);
}

TEST_F(SadTest, EveryWorkersCopyOfTheSaPointerFollowsAddReplaceRemove) {
  auto sad = make(8, 3);
  ASSERT_TRUE(sad);
  std::string err;
  auto expect_copies = [&](uint32_t slot, const EspSa* want) {
    EXPECT_EQ(sad->get(slot), want);
    for (uint32_t w = 0; w < 3; ++w) EXPECT_EQ(sad->get(w, slot), want) << "worker " << w;
  };
  auto out = sad->add(sa(0x5050, SaDirection::kOutbound), &err);
  ASSERT_TRUE(out) << err;
  auto in = sad->add(sa(0x5051, SaDirection::kInbound), &err);
  ASSERT_TRUE(in) << err;
  ASSERT_NE(sad->get(*out), nullptr);
  expect_copies(*out, sad->get(*out));
  expect_copies(*in, sad->get(*in));

  const EspSa* old = sad->get(*out);
  ASSERT_TRUE(sad->replace(*out, sa(0x5052, SaDirection::kOutbound), &err)) << err;
  EXPECT_NE(sad->get(*out), old);
  expect_copies(*out, sad->get(*out));
  EXPECT_EQ(sad->get(2, *out)->spi(), 0x5052u);

  ASSERT_TRUE(sad->remove(*out));
  expect_copies(*out, nullptr);
  expect_copies(*in, sad->get(*in));
  // Out of range: nullptr, as get(slot).
  EXPECT_EQ(sad->get(3, *in), nullptr);
  EXPECT_EQ(sad->get(0, 8), nullptr);
  sad->synchronize();
  // The reused slot publishes the new SA to every worker again.
  auto again = sad->add(sa(0x5053, SaDirection::kOutbound), &err);
  ASSERT_TRUE(again) << err;
  EXPECT_EQ(*again, *out);
  expect_copies(*again, sad->get(*again));
  EXPECT_EQ(sad->get(0, *again)->spi(), 0x5053u);
}

}  // namespace
}  // namespace esprit
