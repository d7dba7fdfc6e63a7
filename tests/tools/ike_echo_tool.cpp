// ike_echo_tool: the real fast path and control core (gateway worker, LocalServices, IkeTransport,
// FIB, neighbour table) on one net_pcap port, with a test-only handler that echoes every IKE
// message back to where it came from (tests/functional/ike_transport_pcap_test.py).
//   ike_echo_tool RX_PCAP TX_PCAP
// The port ("wan", MTU 1500) has 198.51.100.2/24 and 2001:db8::2/64; peers 192.0.2.0/24 via
// 198.51.100.1 and 2001:db8:1::/48 via 2001:db8::1, both next hops static at 02:00:00:00:02:02.
// Reads RX_PCAP once, answers, writes what the control core sent to TX_PCAP; prints the port's MAC
// ("mac xx:xx:..") on one line and the IkeIoCounters ("name value ...") on the next.
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_mbuf.h>
#include <rte_ring.h>

#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "esprit/control/ike_io.hpp"
#include "esprit/control/local_services.hpp"
#include "esprit/fastpath/gateway.hpp"
#include "esprit/fastpath/neighbor.hpp"
#include "esprit/fastpath/port.hpp"
#include "esprit/fastpath/rcu.hpp"
#include "esprit/fastpath/route.hpp"
#include "esprit/fastpath/sad.hpp"
#include "esprit/fastpath/spd.hpp"

using namespace esprit;
using namespace std::chrono_literals;

namespace {

[[noreturn]] void die(const std::string& m) {
  std::fprintf(stderr, "ike_echo_tool: %s\n", m.c_str());
  std::exit(1);
}
IpAddress ip(const char* s) { return *IpAddress::parse(s); }

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) die("usage: ike_echo_tool RX_PCAP TX_PCAP");
  std::vector<std::string> args = {"ike_echo_tool", "--no-huge", "-m", "512", "--no-pci", "--no-telemetry",
                                   "--no-shconf", "--log-level=lib.eal:error", "-l", "0"};
  std::vector<char*> eal;
  for (auto& a : args) eal.push_back(a.data());
  if (rte_eal_init(static_cast<int>(eal.size()), eal.data()) < 0) die(rte_strerror(rte_errno));
  {
    std::string err;
    // Mbufs large enough for a reassembled 3000-byte IKE request (the worker reassembles into one).
    rte_mempool* pool = rte_pktmbuf_pool_create("echo_pool", 4095, 64, 0, 9216 + RTE_PKTMBUF_HEADROOM, SOCKET_ID_ANY);
    rte_mempool* indirect = rte_pktmbuf_pool_create("echo_ind", 1023, 0, 0, 0, SOCKET_ID_ANY);
    if (!pool || !indirect) die("mbuf pools");
    auto rcu = Rcu::create(1, &err);
    if (!rcu) die(err);
    SadConfig sc;
    sc.capacity = 16;
    sc.workers = 1;
    sc.rcu = rcu.get();
    sc.name = "echo_sad";
    auto sad = Sad::create(sc, &err);
    auto fib = Fib::create(FibConfig{}, *rcu, &err);
    auto neighbors = NeighborTable::create(NeighborTableConfig{}, *rcu, &err);
    if (!sad || !fib || !neighbors) die(err);
    auto out = SpdTable::build({}, {PolicyDirection::kOutbound, PolicyAction::kDiscard, 2, -1, 0}, &err);
    auto in = SpdTable::build({}, {PolicyDirection::kInbound, PolicyAction::kDiscard, 2, -1, 0}, &err);
    if (!out || !in) die(err);
    auto spd = std::make_unique<Spd>(*rcu, std::move(out), std::move(in));
    PortSpec ws;
    ws.name = "wan";
    ws.device = std::string("net_pcap_echo,rx_pcap=") + argv[1] + ",tx_pcap=" + argv[2];
    ws.role = PortRole::kUnprotected;
    ws.mtu = 1500;
    auto wan = Port::open(ws, pool, &err);
    if (!wan) die(err);
    if (!fib->add_connected(wan->id(), *IpPrefix::parse("198.51.100.0/24"), &err) ||
        !fib->add_route(*IpPrefix::parse("192.0.2.0/24"), NextHop::via(wan->id(), ip("198.51.100.1")), &err) ||
        !fib->add_connected(wan->id(), *IpPrefix::parse("2001:db8::/64"), &err) ||
        !fib->add_route(*IpPrefix::parse("2001:db8:1::/48"), NextHop::via(wan->id(), ip("2001:db8::1")), &err))
      die(err);
    NeighborActions actions;
    const rte_ether_addr peer_mac{{0x02, 0, 0, 0, 0x02, 0x02}};
    if (!neighbors->add_static(NeighborKey::of(wan->id(), ip("198.51.100.1")), peer_mac, {}, actions, &err) ||
        !neighbors->add_static(NeighborKey::of(wan->id(), ip("2001:db8::1")), peer_mac, {}, actions, &err))
      die(err);

    GatewayTables t;
    t.rcu = rcu.get();
    t.sad = sad.get();
    t.spd = spd.get();
    t.fib = fib.get();
    t.neighbors = neighbors.get();
    t.ports.assign(wan->id() + 1u, nullptr);
    t.ports[wan->id()] = wan.get();
    t.local.push_back({ip("198.51.100.2"), wan->id()});
    t.local.push_back({ip("2001:db8::2"), wan->id()});
    t.punt = rte_ring_create("echo_punt", 1024, SOCKET_ID_ANY, RING_F_SC_DEQ);
    t.control_tx.assign(t.ports.size(), nullptr);
    if (wan->control_tx_queue() == Port::kNoControlQueue) {
      t.control_tx[wan->id()] = rte_ring_create("echo_ctl", 1024, SOCKET_ID_ANY, RING_F_SP_ENQ | RING_F_SC_DEQ);
    }
    t.tunnel_sa = std::make_unique<std::atomic<uint32_t>[]>(1);
    t.sa_selectors.assign(sad->capacity(), {});
    t.pool = pool;
    t.indirect_pool = indirect;
    auto esp = EspWorker::create(nullptr, &err);
    if (!esp) die(err);
    GatewayWorker worker(t, 0, {{wan->id(), 0}}, 0, std::move(esp), std::make_unique<NeighborWorker>(*neighbors));
    LocalServices services(t, pool);
    IkeTransport ike(t, pool);
    services.set_ike(&ike);
    ike.set_handler([&ike](const IkeDatagram& d) { (void)ike.send(d.local, d.remote, d.message, 1s); });

    for (int i = 0; i < 2000; ++i) {  // the pcap is read once; a few thousand polls drain it
      worker.poll_once(1s);
      services.poll(1s);
    }
    const rte_ether_addr& mac = wan->mac();
    std::printf("mac %02x:%02x:%02x:%02x:%02x:%02x\n", mac.addr_bytes[0], mac.addr_bytes[1], mac.addr_bytes[2],
                mac.addr_bytes[3], mac.addr_bytes[4], mac.addr_bytes[5]);
    const IkeIoCounters& c = ike.counters();
    std::printf("rx_500 %lu rx_4500 %lu tx %lu tx_fragments %lu", c.rx_500, c.rx_4500, c.tx, c.tx_fragments);
    for (const auto& d : kIkeIoDrops) std::printf(" %s %lu", std::string(d.name).c_str(), c.drop(d.drop));
    std::printf("\n");
    wan.reset();  // closes the pcap files
    rte_ring_free(t.punt);
    for (rte_ring* r : t.control_tx) rte_ring_free(r);
  }
  rte_eal_cleanup();
  return 0;
}
