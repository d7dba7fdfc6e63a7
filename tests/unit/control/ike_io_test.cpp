// The IKE datagram transport (control/ike_io.cpp): parsing punted frames (IPv4/IPv6, UDP 500 /
// 4500 with the non-ESP marker of RFC 3948 2.2, UDP length and checksum rules of RFC 768 and
// RFC 8200 8.1), building and fragmenting replies, the NAT-T keepalive timeline (RFC 3948 4) on a
// fake clock, and the whole receive/echo path through the real gateway worker, LocalServices and
// the neighbour table on a net_ring port, and the TX backlog behind a full control TX queue
// (a burst larger than the queue leaves whole and in order; only a full backlog drops).
#include <gtest/gtest.h>

#include <rte_ether.h>
#include <rte_ring.h>

#include <cstring>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "dpdk_env.hpp"
#include "esprit/control/ike_io.hpp"
#include "esprit/control/local_services.hpp"
#include "esprit/fastpath/gateway.hpp"
#include "esprit/fastpath/neighbor.hpp"
#include "esprit/fastpath/port.hpp"
#include "esprit/fastpath/rcu.hpp"
#include "esprit/fastpath/route.hpp"
#include "esprit/fastpath/sad.hpp"
#include "esprit/fastpath/spd.hpp"

namespace esprit {
namespace {

using namespace std::chrono_literals;

IpAddress ip(const char* s) { return *IpAddress::parse(s); }

uint16_t be16(const uint8_t* p) { return static_cast<uint16_t>(p[0] << 8 | p[1]); }

/// An independent one's-complement sum (RFC 1071) used to check what we build.
uint16_t inet_sum(const std::vector<uint8_t>& b, uint32_t s = 0) {
  for (std::size_t i = 0; i + 1 < b.size(); i += 2) s += b[i] << 8 | b[i + 1];
  if (b.size() & 1) s += b.back() << 8;
  while (s >> 16) s = (s & 0xffff) + (s >> 16);
  return static_cast<uint16_t>(s);
}

/// Ethernet + the IP packet.
std::vector<uint8_t> frame_of(const std::vector<uint8_t>& pkt) {
  std::vector<uint8_t> f(14 + pkt.size(), 0);
  f[0] = 0x02;
  f[6] = 0x02;
  f[5] = 1;
  f[11] = 2;
  const bool v6 = pkt[0] >> 4 == 6;
  f[12] = v6 ? 0x86 : 0x08;
  f[13] = v6 ? 0xdd : 0x00;
  if (!pkt.empty()) std::memcpy(f.data() + 14, pkt.data(), pkt.size());
  return f;
}

std::vector<uint8_t> ike_message(std::size_t n, uint8_t seed = 1) {
  std::vector<uint8_t> m(n);
  for (std::size_t i = 0; i < n; ++i) m[i] = static_cast<uint8_t>(seed + i * 7);
  if (n >= 4) m[0] = m[1] = m[2] = m[3] = 0x11;  // an SPI: never looks like the marker
  return m;
}

/// The peer -> us packet, built by our builder (then swapped round by the test's own means).
std::vector<uint8_t> packet(const IkeEndpoint& from, const IkeEndpoint& to, const std::vector<uint8_t>& msg) {
  std::vector<uint8_t> out(70000);
  const std::size_t n = build_ike_packet(from, to, msg, 0x1234, out);
  out.resize(n);
  return out;
}

struct Case {
  const char* name;
  const char* us;
  const char* peer;
  uint16_t port;
};

class IkeIoParse : public ::testing::TestWithParam<Case> {};

TEST_P(IkeIoParse, BuildThenParseRoundTrips) {
  const Case c = GetParam();
  const IkeEndpoint peer{ip(c.peer), static_cast<uint16_t>(c.port == 500 ? 500 : 31000)};
  const IkeEndpoint us{ip(c.us), c.port};
  const auto msg = ike_message(300);
  const auto pkt = packet(peer, us, msg);
  const bool v6 = !us.address.is_v4();
  const std::size_t hl = v6 ? 40 : 20;
  ASSERT_EQ(pkt.size(), hl + 8 + (c.port == 4500 ? 4 : 0) + msg.size());
  // Headers as an independent reader sees them.
  if (!v6) {
    EXPECT_EQ(inet_sum(std::vector<uint8_t>(pkt.begin(), pkt.begin() + 20)), 0xffff);  // header checksum
    EXPECT_EQ(be16(&pkt[2]), pkt.size());
    EXPECT_EQ(pkt[9], 17);
    EXPECT_EQ(be16(&pkt[6]) & 0x4000, 0);  // DF clear: IKE may be fragmented
  } else {
    EXPECT_EQ(be16(&pkt[4]), pkt.size() - 40);
  }
  const uint8_t* udp = &pkt[hl];
  EXPECT_EQ(be16(udp), peer.port);
  EXPECT_EQ(be16(udp + 2), us.port);
  EXPECT_EQ(be16(udp + 4), pkt.size() - hl);
  EXPECT_NE(be16(udp + 6), 0);
  if (c.port == 4500) {
    EXPECT_EQ(udp[8] | udp[9] | udp[10] | udp[11], 0);  // non-ESP marker
  }

  const auto frame = frame_of(pkt);
  const IkeParseResult r = parse_ike_frame(frame, 3);
  ASSERT_TRUE(r.ok()) << kIkeIoDrops[static_cast<int>(r.error)].name;
  EXPECT_EQ(r.datagram.port_id, 3);
  EXPECT_EQ(r.datagram.local, us);
  EXPECT_EQ(r.datagram.remote, peer);
  EXPECT_EQ(std::vector<uint8_t>(r.datagram.message.begin(), r.datagram.message.end()), msg);
}

TEST_P(IkeIoParse, BadLengthsAndChecksumsAreCounted) {
  const Case c = GetParam();
  const IkeEndpoint peer{ip(c.peer), 500};
  const IkeEndpoint us{ip(c.us), c.port};
  const auto good = frame_of(packet(peer, us, ike_message(64)));
  const bool v6 = !us.address.is_v4();
  const std::size_t udp = 14 + (v6 ? 40 : 20);
  auto error = [](const std::vector<uint8_t>& f) { return parse_ike_frame(f).error; };

  auto f = good;
  f[udp + 5] += 1;  // UDP length one beyond the IP packet
  EXPECT_EQ(error(f), IkeIoDrop::kBadUdpLength);
  f = good;
  f[udp + 4] = 0, f[udp + 5] = 7;  // UDP length below the header
  EXPECT_EQ(error(f), IkeIoDrop::kBadUdpLength);
  f = good;
  f.back() ^= 0x40;  // payload corrupted
  EXPECT_EQ(error(f), IkeIoDrop::kBadUdpChecksum);
  f = good;
  f[udp + 6] = f[udp + 7] = 0;  // no checksum: allowed over IPv4 only
  EXPECT_EQ(error(f), v6 ? IkeIoDrop::kBadUdpChecksum : IkeIoDrop::kCount);
  f = good;
  f.resize(f.size() - 10);  // frame shorter than the IP packet says
  EXPECT_EQ(error(f), IkeIoDrop::kMalformed);
  f = good;
  f.resize(14 + 10);
  EXPECT_EQ(error(f), IkeIoDrop::kMalformed);
  EXPECT_EQ(error(std::vector<uint8_t>(good.begin(), good.begin() + 13)), IkeIoDrop::kMalformed);
  // Trailing Ethernet padding is not part of the datagram.
  f = good;
  f.insert(f.end(), 20, 0);
  const auto r = parse_ike_frame(f);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.datagram.message.size(), 64u);
}

INSTANTIATE_TEST_SUITE_P(All, IkeIoParse,
                         ::testing::Values(Case{"v4_500", "198.51.100.2", "192.0.2.1", 500},
                                           Case{"v4_4500", "198.51.100.2", "192.0.2.1", 4500},
                                           Case{"v6_500", "2001:db8::2", "2001:db8:1::1", 500},
                                           Case{"v6_4500", "2001:db8::2", "2001:db8:1::1", 4500}),
                         [](const auto& info) { return std::string(info.param.name); });

// [ike] port = 5500, natt_port = 5501: the marker goes with 5501, parsing takes 5500 and 5501 and
// refuses 500/4500.
TEST(IkeIoParse, ConfiguredPorts) {
  const IkeEndpoint us5500{ip("198.51.100.2"), 5500}, us5501{ip("198.51.100.2"), 5501};
  const IkeEndpoint peer{ip("192.0.2.1"), 40000};
  const auto msg = ike_message(100);
  std::vector<uint8_t> out(400);
  const std::size_t n5500 = build_ike_packet(peer, us5500, msg, 1, out, 5501);
  EXPECT_EQ(n5500, 20 + 8 + msg.size());  // no marker on the IKE port
  const std::size_t n5501 = build_ike_packet(peer, us5501, msg, 1, out, 5501);
  EXPECT_EQ(n5501, 20 + 8 + 4 + msg.size());  // marker on the NAT-T port
  EXPECT_EQ(build_ike_packet(peer, {ip("198.51.100.2"), 4500}, msg, 1, out, 5501), 20 + 8 + msg.size());
  EXPECT_TRUE(ike_needs_marker(5501, 40000, 5501));
  EXPECT_FALSE(ike_needs_marker(4500, 4500, 5501));

  for (const IkeEndpoint& us : {us5500, us5501}) {
    std::vector<uint8_t> pkt(400);
    pkt.resize(build_ike_packet(peer, us, msg, 1, pkt, 5501));
    const std::vector<uint8_t> frame = frame_of(pkt);  // the datagram views into it
    const auto r = parse_ike_frame(frame, 0, 5500, 5501);
    ASSERT_TRUE(r.ok()) << us.port << ": " << kIkeIoDrops[static_cast<int>(r.error)].name;
    EXPECT_EQ(r.datagram.local, us);
    EXPECT_EQ(std::vector<uint8_t>(r.datagram.message.begin(), r.datagram.message.end()), msg);
  }
  EXPECT_EQ(parse_ike_frame(frame_of(packet(peer, {ip("198.51.100.2"), 500}, msg)), 0, 5500, 5501).error,
            IkeIoDrop::kNotIkePort);
  EXPECT_EQ(parse_ike_frame(frame_of(packet(peer, {ip("198.51.100.2"), 4500}, msg)), 0, 5500, 5501).error,
            IkeIoDrop::kNotIkePort);
}

TEST(IkeIoParse, MarkerPortsAndFragments) {
  const IkeEndpoint peer{ip("192.0.2.1"), 4500};
  // 4500 with a payload of three bytes: no room for the marker.
  auto f = frame_of(packet({ip("192.0.2.1"), 1}, {ip("198.51.100.2"), 1}, {1, 2, 3}));
  f[14 + 22] = 0x11, f[14 + 23] = 0x94;  // destination port 4500 (checksum now off: clear it)
  f[14 + 26] = f[14 + 27] = 0;
  EXPECT_EQ(parse_ike_frame(f).error, IkeIoDrop::kNoMarker);
  // A marker and nothing after it.
  f = frame_of(packet(peer, {ip("198.51.100.2"), 4500}, {}));
  EXPECT_EQ(parse_ike_frame(f).error, IkeIoDrop::kEmpty);
  // Neither 500 nor 4500.
  f = frame_of(packet({ip("192.0.2.1"), 500}, {ip("198.51.100.2"), 501}, ike_message(40)));
  EXPECT_EQ(parse_ike_frame(f).error, IkeIoDrop::kNotIkePort);
  // Fragments (the worker reassembles those; one that still arrives is refused).
  const auto big = packet(peer, {ip("198.51.100.2"), 4500}, ike_message(3000));
  const auto frags4 = fragment_ip_packet(big, 1500, 7);
  ASSERT_EQ(frags4.size(), 3u);
  EXPECT_EQ(parse_ike_frame(frame_of(frags4[0])).error, IkeIoDrop::kFragment);
  EXPECT_EQ(parse_ike_frame(frame_of(frags4[2])).error, IkeIoDrop::kFragment);
  const auto big6 = packet({ip("2001:db8:1::1"), 500}, {ip("2001:db8::2"), 500}, ike_message(3000));
  const auto frags6 = fragment_ip_packet(big6, 1280, 9);
  ASSERT_EQ(frags6.size(), 3u);
  EXPECT_EQ(parse_ike_frame(frame_of(frags6[1])).error, IkeIoDrop::kFragment);
}

/// Puts fragments back together by their offsets (an independent reassembly for the test).
std::vector<uint8_t> reassemble(const std::vector<std::vector<uint8_t>>& frags) {
  std::vector<uint8_t> payload;
  const bool v6 = frags[0][0] >> 4 == 6;
  const std::size_t hl = v6 ? 48 : 20;
  for (const auto& f : frags) {
    const uint16_t word = be16(&f[v6 ? 42 : 6]);
    const std::size_t off = (v6 ? word & 0xfff8 : (word & 0x1fff) * 8u);
    if (payload.size() < off + f.size() - hl) payload.resize(off + f.size() - hl);
    std::memcpy(payload.data() + off, f.data() + hl, f.size() - hl);
  }
  return payload;
}

TEST(IkeIoFragment, Ipv4AndIpv6FragmentsFitAndReassemble) {
  for (const char* family : {"v4", "v6"}) {
    SCOPED_TRACE(family);
    const bool v6 = family[1] == '6';
    const IkeEndpoint a{ip(v6 ? "2001:db8::2" : "198.51.100.2"), 4500};
    const IkeEndpoint b{ip(v6 ? "2001:db8:1::1" : "192.0.2.1"), 4500};
    const auto pkt = packet(a, b, ike_message(3000));
    const uint16_t mtu = v6 ? 1280 : 1500;
    const auto frags = fragment_ip_packet(pkt, mtu, 0xabcdef);
    ASSERT_EQ(frags.size(), 3u);
    for (std::size_t i = 0; i < frags.size(); ++i) {
      const auto& f = frags[i];
      EXPECT_LE(f.size(), mtu);
      const bool last = i + 1 == frags.size();
      if (v6) {
        EXPECT_EQ(f[6], 44);  // fragment header
        EXPECT_EQ(f[40], 17);
        EXPECT_EQ(be16(&f[42]) & 1, last ? 0 : 1);
        EXPECT_EQ(be16(&f[44]) << 16 | be16(&f[46]), 0xabcdef);
        EXPECT_EQ(be16(&f[4]), f.size() - 40);
        if (!last) {
          EXPECT_EQ((f.size() - 48) % 8, 0u);
        }
      } else {
        EXPECT_EQ(inet_sum(std::vector<uint8_t>(f.begin(), f.begin() + 20)), 0xffff);
        EXPECT_EQ(be16(&f[2]), f.size());
        EXPECT_EQ((be16(&f[6]) & 0x2000) != 0, !last);
        EXPECT_EQ(be16(&f[4]), 0x1234);  // same identification in every fragment
      }
    }
    const std::size_t hl = v6 ? 40 : 20;
    EXPECT_EQ(reassemble(frags), std::vector<uint8_t>(pkt.begin() + hl, pkt.end()));
  }
  // Fits: the packet itself. Too small an MTU: refused.
  const auto small = packet({ip("198.51.100.2"), 500}, {ip("192.0.2.1"), 500}, ike_message(100));
  ASSERT_EQ(fragment_ip_packet(small, 1500, 1).size(), 1u);
  EXPECT_TRUE(fragment_ip_packet(small, 20, 1).empty());
}

// ---- NAT-T keepalives on a fake clock -------------------------------------------------------

TEST(NattKeepalives, SentEveryIntervalUnlessSomethingWentToThePeer) {
  std::vector<std::pair<std::chrono::nanoseconds, IkeEndpoint>> sent;
  NattKeepalives k(
      [&](const IpAddress&, const IkeEndpoint& r, std::chrono::nanoseconds now) {
        sent.emplace_back(now, r);
        return true;
      },
      20s);
  const IkeEndpoint peer{ip("192.0.2.1"), 31000};
  const IkeEndpoint other{ip("192.0.2.9"), 4500};
  k.add(ip("198.51.100.2"), peer, 0s);
  k.add(ip("198.51.100.2"), other, 5s);
  EXPECT_EQ(k.next_due(), 20s);
  EXPECT_EQ(k.poll(19s), 0u);
  EXPECT_EQ(k.poll(20s), 1u);  // peer
  EXPECT_EQ(k.poll(25s), 1u);  // other
  k.note_sent(peer, 30s);      // an IKE message went to the peer: its keepalive waits
  EXPECT_EQ(k.poll(40s), 0u);
  EXPECT_EQ(k.poll(45s), 1u);  // other again
  EXPECT_EQ(k.poll(50s), 1u);  // peer, 20 s after the IKE message
  k.remove(ip("198.51.100.2"), other);
  EXPECT_EQ(k.poll(100s), 1u);  // a late poll sends once, not once per missed interval
  EXPECT_EQ(k.poll(100s), 0u);
  ASSERT_EQ(sent.size(), 5u);
  EXPECT_EQ(sent[0], std::make_pair(std::chrono::nanoseconds(20s), peer));
  EXPECT_EQ(sent[1], std::make_pair(std::chrono::nanoseconds(25s), other));
  EXPECT_EQ(sent[2], std::make_pair(std::chrono::nanoseconds(45s), other));
  EXPECT_EQ(sent[3], std::make_pair(std::chrono::nanoseconds(50s), peer));
  EXPECT_EQ(sent[4], std::make_pair(std::chrono::nanoseconds(100s), peer));
  // Off (0): never.
  NattKeepalives off([&](auto&&...) { return true; }, 0s);
  off.add(ip("198.51.100.2"), peer, 0s);
  EXPECT_EQ(off.poll(1000s), 0u);
  EXPECT_EQ(off.next_due(), std::chrono::nanoseconds::max());
}

// ---- The whole path: worker -> punt -> LocalServices -> IkeTransport -> echo -> port ----------

/// One worker, one net_ring port "wan" (198.51.100.2/24 and 2001:db8::2/64). The test puts frames
/// in RX queue 0's ring and reads what the control core sent from TX queue 1's ring (the port's
/// control TX queue).
struct Lab {
  std::unique_ptr<Rcu> rcu;
  std::unique_ptr<Sad> sad;
  std::unique_ptr<Fib> fib;
  std::unique_ptr<NeighborTable> neighbors;
  std::unique_ptr<Spd> spd;
  std::unique_ptr<Port> wan;
  GatewayTables tables;
  std::unique_ptr<GatewayWorker> worker;
  std::unique_ptr<LocalServices> services;
  std::unique_ptr<IkeTransport> ike;
  rte_ring* rx = nullptr;
  rte_ring* ctl_tx = nullptr;
  rte_mempool* indirect = nullptr;
  std::vector<IkeDatagram> seen;
  std::vector<std::vector<uint8_t>> seen_bytes;

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
    indirect = rte_pktmbuf_pool_create("ikeio_ind", 1023, 0, 0, 0, SOCKET_ID_ANY);
    ASSERT_TRUE(indirect);
    rcu = Rcu::create(1, &err);
    ASSERT_TRUE(rcu) << err;
    SadConfig sc;
    sc.capacity = 16;
    sc.workers = 1;
    sc.rcu = rcu.get();
    sc.name = "ikeio_sad";
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
    PortSpec ws;
    ws.name = "wan";
    ws.device = "net_ring_ikeio";
    ws.role = PortRole::kUnprotected;
    wan = Port::open(ws, pool, &err);
    ASSERT_TRUE(wan) << err;
    ASSERT_NE(wan->control_tx_queue(), Port::kNoControlQueue);
    rx = rte_ring_lookup("ETH_RXTX0_net_ring_ikeio");
    ctl_tx = rte_ring_lookup(("ETH_RXTX" + std::to_string(wan->control_tx_queue()) + "_net_ring_ikeio").c_str());
    ASSERT_TRUE(rx && ctl_tx);
    ASSERT_TRUE(fib->add_connected(wan->id(), *IpPrefix::parse("198.51.100.0/24"), &err)) << err;
    ASSERT_TRUE(fib->add_route(*IpPrefix::parse("192.0.2.0/24"), NextHop::via(wan->id(), ip("198.51.100.1")), &err))
        << err;
    ASSERT_TRUE(fib->add_connected(wan->id(), *IpPrefix::parse("2001:db8::/64"), &err)) << err;
    ASSERT_TRUE(fib->add_route(*IpPrefix::parse("2001:db8:1::/48"), NextHop::via(wan->id(), ip("2001:db8::1")), &err))
        << err;
    NeighborActions actions;
    const rte_ether_addr mac{{0x02, 0, 0, 0, 0, 0x01}};
    ASSERT_TRUE(neighbors->add_static(NeighborKey::of(wan->id(), ip("198.51.100.1")), mac, {}, actions, &err)) << err;
    ASSERT_TRUE(neighbors->add_static(NeighborKey::of(wan->id(), ip("2001:db8::1")), mac, {}, actions, &err)) << err;

    tables.rcu = rcu.get();
    tables.sad = sad.get();
    tables.spd = spd.get();
    tables.fib = fib.get();
    tables.neighbors = neighbors.get();
    tables.ports.assign(wan->id() + 1u, nullptr);
    tables.ports[wan->id()] = wan.get();
    tables.local.push_back({ip("198.51.100.2"), wan->id()});
    tables.local.push_back({ip("2001:db8::2"), wan->id()});
    tables.punt = rte_ring_create("ikeio_punt", 256, SOCKET_ID_ANY, RING_F_SC_DEQ);
    tables.control_tx.assign(tables.ports.size(), nullptr);
    tables.tunnel_sa = std::make_unique<std::atomic<uint32_t>[]>(1);
    tables.sa_selectors.assign(sad->capacity(), {});
    tables.pool = pool;
    tables.indirect_pool = indirect;
    auto esp = EspWorker::create(nullptr, &err);
    ASSERT_TRUE(esp) << err;
    worker = std::make_unique<GatewayWorker>(tables, 0, std::vector<RxQueue>{{wan->id(), 0}}, 0, std::move(esp),
                                             std::make_unique<NeighborWorker>(*neighbors));
    services = std::make_unique<LocalServices>(tables, pool);
    ike = std::make_unique<IkeTransport>(tables, pool);
    services->set_ike(ike.get());
    set_echo();
  }

  /// The test's echo handler: every message goes back where it came from, from where it arrived.
  void set_echo() {
    ike->set_handler([this](const IkeDatagram& d) {
      seen.push_back(d);
      seen_bytes.emplace_back(d.message.begin(), d.message.end());
      (void)ike->send(d.local, d.remote, d.message, 1s);
    });
  }

  void inject(const std::vector<uint8_t>& frame) {
    std::vector<uint8_t> f = frame;
    std::memcpy(f.data(), wan->mac().addr_bytes, 6);  // to us
    rte_mbuf* m = test::make_mbuf(f);
    m->port = wan->id();  // a real PMD sets it; net_ring hands the test's mbuf over as it is
    ASSERT_EQ(rte_ring_enqueue(rx, m), 0);
  }

  /// Runs the worker and the control core until quiet; returns the frames the control core sent.
  std::vector<std::vector<uint8_t>> run() {
    for (int i = 0; i < 20; ++i) {
      worker->poll_once(1s);
      services->poll(1s);
    }
    std::vector<std::vector<uint8_t>> out;
    void* m;
    while (rte_ring_dequeue(ctl_tx, &m) == 0) {
      out.push_back(test::mbuf_bytes(static_cast<rte_mbuf*>(m)));
      rte_pktmbuf_free(static_cast<rte_mbuf*>(m));
    }
    return out;
  }
};

TEST(IkeTransportPath, EchoesOverIpv4AndIpv6On500And4500) {
  Lab& lab = Lab::get();
  for (const Case& c : {Case{"v4_500", "198.51.100.2", "192.0.2.1", 500}, Case{"v4_4500", "198.51.100.2", "192.0.2.1", 4500},
                        Case{"v6_500", "2001:db8::2", "2001:db8:1::1", 500},
                        Case{"v6_4500", "2001:db8::2", "2001:db8:1::1", 4500}}) {
    SCOPED_TRACE(c.name);
    lab.seen.clear();
    lab.seen_bytes.clear();
    const IkeEndpoint peer{ip(c.peer), static_cast<uint16_t>(c.port == 500 ? 500 : 31000)};
    const IkeEndpoint us{ip(c.us), c.port};
    const auto msg = ike_message(200, static_cast<uint8_t>(c.port));
    const auto before = lab.ike->counters();
    lab.inject(frame_of(packet(peer, us, msg)));
    const auto out = lab.run();
    ASSERT_EQ(lab.seen.size(), 1u);
    EXPECT_EQ(lab.seen_bytes[0], msg);
    EXPECT_EQ(lab.seen[0].remote, peer);
    EXPECT_EQ(lab.seen[0].local, us);
    ASSERT_EQ(out.size(), 1u);
    // Ethernet to the gateway's next hop, from us; the rest parses (checksums included) as the reply.
    const rte_ether_addr nh{{0x02, 0, 0, 0, 0, 0x01}};
    EXPECT_EQ(std::memcmp(out[0].data(), nh.addr_bytes, 6), 0);
    EXPECT_EQ(std::memcmp(out[0].data() + 6, lab.wan->mac().addr_bytes, 6), 0);
      const IkeEndpoint as_peer_sees = {us.address, us.port};
    const IkeParseResult r = parse_ike_frame(out[0]);
    // Destination port is the peer's (31000 for the NAT case): the parser only accepts 500/4500,
    // so check the NAT case by hand.
    const bool v6 = !us.address.is_v4();
    const uint8_t* udp = out[0].data() + 14 + (v6 ? 40 : 20);
    EXPECT_EQ(be16(udp), us.port);
    EXPECT_EQ(be16(udp + 2), peer.port);
    if (peer.port == 500) {
      ASSERT_TRUE(r.ok()) << kIkeIoDrops[static_cast<int>(r.error)].name;
      EXPECT_EQ(r.datagram.remote, as_peer_sees);
      EXPECT_EQ(std::vector<uint8_t>(r.datagram.message.begin(), r.datagram.message.end()), msg);
    } else {
      EXPECT_EQ(udp[8] | udp[9] | udp[10] | udp[11], 0);  // marker on 4500
      EXPECT_EQ(std::vector<uint8_t>(udp + 12, out[0].data() + out[0].size()), msg);
    }
    EXPECT_EQ(lab.ike->counters().tx, before.tx + 1);
    EXPECT_EQ(lab.ike->counters().rx_500 + lab.ike->counters().rx_4500, before.rx_500 + before.rx_4500 + 1);
  }
}

TEST(IkeTransportPath, LargeReplyIsFragmentedAndBadChecksumIsDropped) {
  Lab& lab = Lab::get();
  const IkeEndpoint peer{ip("192.0.2.1"), 4500};
  const IkeEndpoint us{ip("198.51.100.2"), 4500};
  // A request arrives in fragments (the worker reassembles it; the whole frame must fit one mbuf
  // of the test pool, 2 KiB) and is answered in one frame.
  const auto msg = ike_message(1400, 9);
  const auto before = lab.ike->counters();
  for (const auto& f : fragment_ip_packet(packet(peer, us, msg), 576, 0)) lab.inject(frame_of(f));
  auto out = lab.run();
  ASSERT_FALSE(lab.seen_bytes.empty());
  ASSERT_EQ(lab.seen_bytes.back(), msg);
  ASSERT_EQ(out.size(), 1u);  // 1400 + 32 fits 1500
  // Now a 3000-byte reply.
  const auto big = ike_message(3000, 3);
  ASSERT_TRUE(lab.ike->send(us, peer, big, 1s));
  out = lab.run();
  ASSERT_EQ(out.size(), 3u);
  std::vector<std::vector<uint8_t>> ip_frags;
  for (const auto& f : out) {
    EXPECT_LE(f.size() - 14, 1500u);
    ip_frags.emplace_back(f.begin() + 14, f.end());
  }
  const auto payload = reassemble(ip_frags);
  ASSERT_EQ(payload.size(), 8 + 4 + big.size());
  EXPECT_EQ(std::vector<uint8_t>(payload.begin() + 12, payload.end()), big);
  EXPECT_EQ(lab.ike->counters().tx_fragments, before.tx_fragments + 3);

  // A corrupted checksum never reaches the handler.
  const std::size_t n = lab.seen.size();
  auto f = frame_of(packet(peer, us, ike_message(80)));
  f.back() ^= 1;
  lab.inject(f);
  EXPECT_TRUE(lab.run().empty());
  EXPECT_EQ(lab.seen.size(), n);
  EXPECT_EQ(lab.ike->counters().drop(IkeIoDrop::kBadUdpChecksum), before.drop(IkeIoDrop::kBadUdpChecksum) + 1);
}

TEST(IkeTransportPath, UnresolvedNextHopHoldsThenSendsAndKeepalive) {
  Lab& lab = Lab::get();
  // 198.51.100.7 is on-link and unknown: the message waits in the neighbour table, an ARP request
  // goes out, and the answer releases the message.
  const IkeEndpoint us{ip("198.51.100.2"), 4500};
  const IkeEndpoint peer{ip("198.51.100.7"), 4500};
  const auto before = lab.ike->counters();
  ASSERT_TRUE(lab.ike->send(us, peer, ike_message(60), 1s));
  auto out = lab.run();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(be16(out[0].data() + 12), 0x0806);  // ARP request
  EXPECT_EQ(lab.ike->counters().held, before.held + 1);
  // The ARP reply.
  std::vector<uint8_t> arp(42, 0);
  std::memcpy(arp.data() + 6, "\x02\x00\x00\x00\x00\x07", 6);
  arp[12] = 0x08, arp[13] = 0x06;
  const uint8_t hdr[] = {0, 1, 8, 0, 6, 4, 0, 2};
  std::memcpy(arp.data() + 14, hdr, 8);
  std::memcpy(arp.data() + 22, "\x02\x00\x00\x00\x00\x07", 6);
  const uint8_t sip[] = {198, 51, 100, 7}, tip[] = {198, 51, 100, 2};
  std::memcpy(arp.data() + 28, sip, 4);
  std::memcpy(arp.data() + 32, lab.wan->mac().addr_bytes, 6);
  std::memcpy(arp.data() + 38, tip, 4);
  lab.inject(arp);
  out = lab.run();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(std::memcmp(out[0].data(), "\x02\x00\x00\x00\x00\x07", 6), 0);
  EXPECT_EQ(be16(out[0].data() + 12), 0x0800);
  // A keepalive to the now-known peer: one byte 0xff, from 4500, no marker, valid checksum.
  ASSERT_TRUE(lab.ike->send_keepalive(us.address, {peer.address, 31000}, 2s));
  out = lab.run();
  ASSERT_EQ(out.size(), 1u);
  const auto& k = out[0];
  ASSERT_EQ(k.size(), 14u + 20 + 8 + 1);
  EXPECT_EQ(be16(&k[14 + 20]), 4500);
  EXPECT_EQ(be16(&k[14 + 22]), 31000);
  EXPECT_EQ(be16(&k[14 + 24]), 9);
  EXPECT_EQ(k.back(), 0xff);
  std::vector<uint8_t> pseudo(k.begin() + 14 + 12, k.begin() + 14 + 20);  // addresses
  pseudo.push_back(0);
  pseudo.push_back(17);
  pseudo.push_back(0);
  pseudo.push_back(9);
  pseudo.insert(pseudo.end(), k.begin() + 34, k.end());
  EXPECT_EQ(inet_sum(pseudo), 0xffff);
  EXPECT_EQ(lab.ike->counters().keepalives, before.keepalives + 1);
  // Not ours as a source; no route.
  EXPECT_FALSE(lab.ike->send({ip("198.51.100.99"), 500}, peer, ike_message(40), 2s));
  EXPECT_FALSE(lab.ike->send(us, {ip("203.0.113.1"), 500}, ike_message(40), 2s));
  EXPECT_EQ(lab.ike->counters().drop(IkeIoDrop::kNoSource), before.drop(IkeIoDrop::kNoSource) + 1);
  EXPECT_EQ(lab.ike->counters().drop(IkeIoDrop::kNoRoute), before.drop(IkeIoDrop::kNoRoute) + 1);
}

TEST(IkeTransportPath, ThrowingHandlerIsCountedNotFatal) {
  Lab& lab = Lab::get();
  const auto before = lab.ike->counters();
  lab.ike->set_handler([](const IkeDatagram&) { throw std::runtime_error("handler bug"); });
  lab.inject(frame_of(packet({ip("192.0.2.1"), 500}, {ip("198.51.100.2"), 500}, ike_message(40))));
  EXPECT_TRUE(lab.run().empty());
  EXPECT_EQ(lab.ike->counters().handler_errors, before.handler_errors + 1);
  lab.set_echo();
}

// ---- A burst larger than the control TX queue (issue 4: the Deletes of every IKE SA at shutdown) ----

/// Message `seq` of a burst: an SPI-like first word, then the sequence number.
std::vector<uint8_t> numbered(uint32_t seq) {
  auto m = ike_message(48, 5);
  m[4] = static_cast<uint8_t>(seq >> 24);
  m[5] = static_cast<uint8_t>(seq >> 16);
  m[6] = static_cast<uint8_t>(seq >> 8);
  m[7] = static_cast<uint8_t>(seq);
  return m;
}

/// Takes every frame out of the control TX queue, then lets the transport refill it from its
/// backlog, until both are empty; returns the sequence numbers of the messages, in TX order.
std::vector<uint32_t> drain_numbered(Lab& lab, std::size_t most = SIZE_MAX) {
  std::vector<uint32_t> seqs;
  for (int round = 0; round < 1000 && seqs.size() < most; ++round) {
    void* m;
    std::size_t got = 0;
    while (seqs.size() < most && rte_ring_dequeue(lab.ctl_tx, &m) == 0) {
      const auto f = test::mbuf_bytes(static_cast<rte_mbuf*>(m));
      rte_pktmbuf_free(static_cast<rte_mbuf*>(m));
      ++got;
      const IkeParseResult r = parse_ike_frame(f);
      EXPECT_TRUE(r.ok());
      if (!r.ok() || r.datagram.message.size() != 48) continue;
      const uint8_t* b = r.datagram.message.data() + 4;
      seqs.push_back(static_cast<uint32_t>(b[0]) << 24 | static_cast<uint32_t>(b[1]) << 16 |
                     static_cast<uint32_t>(b[2]) << 8 | b[3]);
    }
    if (seqs.size() >= most) break;
    const std::size_t moved = lab.ike->flush();
    if (got == 0 && moved == 0 && lab.ike->tx_backlog() == 0) break;
  }
  return seqs;
}

TEST(IkeTransportPath, BurstBeyondTheTxQueueWaitsInItsBacklogInOrder) {
  Lab& lab = Lab::get();
  const IkeEndpoint us{ip("198.51.100.2"), 500};
  const IkeEndpoint peer{ip("192.0.2.1"), 500};
  const std::size_t cap = rte_ring_get_capacity(lab.ctl_tx);
  ASSERT_EQ(rte_ring_count(lab.ctl_tx), 0u);
  const auto before = lab.ike->counters();
  // Nobody drains the queue meanwhile: 2.5 times what it holds.
  const uint32_t n = static_cast<uint32_t>(cap * 5 / 2);
  for (uint32_t i = 0; i < n; ++i) ASSERT_TRUE(lab.ike->send(us, peer, numbered(i), 1s)) << i;
  EXPECT_EQ(rte_ring_count(lab.ctl_tx), cap);
  EXPECT_EQ(lab.ike->tx_backlog(), n - cap);
  EXPECT_EQ(lab.ike->counters().tx_deferred, before.tx_deferred + (n - cap));
  EXPECT_GE(lab.ike->counters().tx_backlog_max, n - cap);
  // Some room in the queue, then one more send without a flush: it still goes behind the backlog.
  auto seqs = drain_numbered(lab, 100);
  ASSERT_TRUE(lab.ike->send(us, peer, numbered(n), 1s));
  const auto rest = drain_numbered(lab);
  seqs.insert(seqs.end(), rest.begin(), rest.end());
  ASSERT_EQ(seqs.size(), n + 1u);
  for (uint32_t i = 0; i <= n; ++i) ASSERT_EQ(seqs[i], i) << "frames reordered";
  EXPECT_EQ(lab.ike->tx_backlog(), 0u);
  EXPECT_EQ(lab.ike->flush(), 0u);
  EXPECT_EQ(lab.ike->counters().drop(IkeIoDrop::kTxFull), before.drop(IkeIoDrop::kTxFull));
  EXPECT_EQ(lab.ike->counters().tx, before.tx + n + 1);
}

TEST(IkeTransportPath, FullBacklogDropsTheExcessAsTxFull) {
  Lab& lab = Lab::get();
  const IkeEndpoint us{ip("198.51.100.2"), 500};
  const IkeEndpoint peer{ip("192.0.2.1"), 500};
  const std::size_t cap = rte_ring_get_capacity(lab.ctl_tx);
  ASSERT_EQ(rte_ring_count(lab.ctl_tx), 0u);
  const auto before = lab.ike->counters();
  lab.ike->set_tx_backlog_limit(100);
  const uint32_t n = static_cast<uint32_t>(cap + 150);
  uint32_t accepted = 0;
  for (uint32_t i = 0; i < n; ++i) accepted += lab.ike->send(us, peer, numbered(i), 1s);
  EXPECT_EQ(accepted, cap + 100);
  EXPECT_EQ(lab.ike->tx_backlog(), 100u);
  EXPECT_EQ(lab.ike->counters().drop(IkeIoDrop::kTxFull), before.drop(IkeIoDrop::kTxFull) + 50);
  // What was taken leaves, in order: the first cap + 100; the last 50 were dropped.
  const auto seqs = drain_numbered(lab);
  ASSERT_EQ(seqs.size(), cap + 100);
  for (uint32_t i = 0; i < seqs.size(); ++i) ASSERT_EQ(seqs[i], i);
  EXPECT_EQ(lab.ike->tx_backlog(), 0u);
  lab.ike->set_tx_backlog_limit(IkeTransport::kDefaultTxBacklog);
}

}  // namespace
}  // namespace esprit
