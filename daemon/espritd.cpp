// espritd: the Esprit IPsec gateway daemon.
//   espritd --config FILE [--check-config] [--log-level LEVEL] [-- EAL arguments]
// The main lcore is the control core; every other lcore given to the EAL runs a worker.
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_launch.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>
#include <rte_ring.h>

#include <boost/program_options.hpp>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <iostream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "esprit/common/config.hpp"
#include "esprit/control/local_services.hpp"
#include "esprit/fastpath/gateway.hpp"
#include "esprit/fastpath/neighbor.hpp"
#include "esprit/fastpath/port.hpp"
#include "esprit/fastpath/rcu.hpp"
#include "esprit/fastpath/route.hpp"
#include "esprit/fastpath/sad.hpp"
#include "esprit/fastpath/spd.hpp"

namespace po = boost::program_options;

namespace esprit {
namespace {

std::atomic<bool> g_stop{false};
void on_signal(int) { g_stop.store(true); }

[[noreturn]] void die(const std::string& msg) {
  std::fprintf(stderr, "espritd: %s\n", msg.c_str());
  std::exit(1);
}

/// Everything the daemon owns, torn down in reverse order.
struct Daemon {
  Config config;
  rte_mempool* pool = nullptr;
  std::unique_ptr<Rcu> rcu;
  std::unique_ptr<Sad> sad;
  std::unique_ptr<Fib> fib;
  std::unique_ptr<NeighborTable> neighbors;
  std::unique_ptr<Spd> spd;
  std::vector<std::unique_ptr<Port>> ports;
  GatewayTables tables;
  std::vector<std::unique_ptr<GatewayWorker>> workers;
  std::vector<unsigned> worker_lcores;
};

int worker_main(void* arg) {
  static_cast<GatewayWorker*>(arg)->run(g_stop);
  return 0;
}

void build(Daemon& d) {
  std::string err;
  const Config& c = d.config;
  const uint32_t nworkers = static_cast<uint32_t>(d.worker_lcores.size());

  // Enough mbufs for every RX and TX ring, the per-lcore caches, the punt and control rings, the
  // neighbour hold queue and the bursts in flight.
  constexpr unsigned kCache = 256;
  uint64_t mbufs = 4096 + 1024 * c.ports.size() + 256 + (rte_lcore_count() + 1) * kCache + 4 * 64 * nworkers;
  for (const PortConfig& pc : c.ports)
    mbufs += uint64_t{pc.rx_queues.value_or(static_cast<uint16_t>(nworkers))} * pc.rx_desc +
             uint64_t{nworkers + 1} * pc.tx_desc;
  mbufs = std::max<uint64_t>(mbufs, 8192);
  d.pool = rte_pktmbuf_pool_create("esprit_mbufs", static_cast<unsigned>(mbufs), kCache, 0, RTE_MBUF_DEFAULT_BUF_SIZE,
                                   static_cast<int>(rte_socket_id()));
  if (!d.pool) die(std::string("mbuf pool: ") + rte_strerror(rte_errno));
  d.rcu = Rcu::create(nworkers, &err);
  if (!d.rcu) die(err);
  SadConfig sc;
  sc.capacity = 4096;
  sc.workers = nworkers;
  sc.rcu = d.rcu.get();
  d.sad = Sad::create(sc, &err);
  if (!d.sad) die("SAD: " + err);
  d.fib = Fib::create(FibConfig{}, *d.rcu, &err);
  if (!d.fib) die("FIB: " + err);
  d.neighbors = NeighborTable::create(NeighborTableConfig{}, *d.rcu, &err);
  if (!d.neighbors) die("neighbours: " + err);

  // Ports: one RX queue and one TX queue per worker, plus the control core's TX queue.
  std::unordered_map<std::string, uint16_t> port_id;
  for (const PortConfig& pc : c.ports) {
    PortSpec ps;
    ps.name = pc.name;
    ps.device = pc.device;
    ps.role = pc.role;
    ps.mtu = pc.mtu;
    ps.ethdev_name = pc.device_name;
    ps.rx_queues = pc.rx_queues.value_or(static_cast<uint16_t>(nworkers));
    // Worker w polls queue w: a queue no worker polls would silently lose its share of RSS.
    if (ps.rx_queues > nworkers)
      die("port " + pc.name + ": rx_queues " + std::to_string(ps.rx_queues) + " above the " +
          std::to_string(nworkers) + " worker lcore(s) the EAL was given");
    ps.tx_queues = static_cast<uint16_t>(nworkers);
    ps.rx_desc = pc.rx_desc;
    ps.tx_desc = pc.tx_desc;
    auto port = Port::open(ps, d.pool, &err);
    if (!port) die(err);
    port_id[pc.name] = port->id();
    if (d.tables.ports.size() <= port->id()) d.tables.ports.resize(port->id() + 1u, nullptr);
    d.tables.ports[port->id()] = port.get();
    for (const auto* list : {&pc.ipv4, &pc.ipv6}) {
      for (const InterfaceAddress& a : *list) {
        d.tables.local.push_back({a.address, port->id()});
        if (!d.fib->add_connected(port->id(), a.subnet(), &err)) die("port " + pc.name + ": " + err);
      }
    }
    std::printf("espritd: port %s (%s) id %u %s\n", pc.name.c_str(), pc.device.c_str(), port->id(),
                std::string(to_string(pc.role)).c_str());
    d.ports.push_back(std::move(port));
  }

  // Static SAs.
  SaIndexMap sa_index;
  for (const SaConfig& s : c.sas) {
    auto slot = d.sad->add(s.descriptor, &err);
    if (!slot) die("sa " + s.name + ": " + err);
    sa_index[s.name] = *slot;
  }
  d.tables.sa_selectors.assign(d.sad->capacity(), {});

  // Route-based tunnels.
  d.tables.tunnels = static_cast<uint32_t>(c.tunnels.size());
  d.tables.tunnel_sa = std::make_unique<std::atomic<uint32_t>[]>(std::max<std::size_t>(1, c.tunnels.size()));
  std::unordered_map<std::string, uint32_t> tunnel_id;
  for (uint32_t i = 0; i < c.tunnels.size(); ++i) {
    const TunnelConfig& t = c.tunnels[i];
    tunnel_id[t.name] = i;
    d.tables.tunnel_sa[i].store(sa_index.at(t.sa_out));
    // Inbound SAs of a tunnel keep empty selectors: 0.0.0.0/0 and ::/0.
  }

  // Policies: outbound and inbound SPD; inbound SAs learn the selectors of the policies naming them.
  const auto named = expand_policies(c);
  for (const NamedPolicyRule& r : named) {
    for (const std::string& in : r.sa_in) d.tables.sa_selectors[sa_index.at(in)].push_back(r.rule.selector);
  }
  auto rules = to_policy_rules(named, sa_index);
  if (auto* e = std::get_if<std::string>(&rules)) die("policies: " + *e);
  const auto& list = std::get<std::vector<PolicyRule>>(rules);
  SpdTable::Options out_opt{PolicyDirection::kOutbound, c.spd.default_action, nworkers, -1, 0};
  SpdTable::Options in_opt{PolicyDirection::kInbound, c.spd.default_action, nworkers, -1, 0};
  auto out = SpdTable::build(list, out_opt, &err);
  if (!out) die("outbound SPD: " + err);
  auto in = SpdTable::build(list, in_opt, &err);
  if (!in) die("inbound SPD: " + err);
  d.spd = std::make_unique<Spd>(*d.rcu, std::move(out), std::move(in));

  // Routes and static neighbours.
  for (const RouteConfig& r : c.routes) {
    NextHop nh;
    if (r.kind == RouteKind::kBlackhole) nh = NextHop::blackhole();
    else if (r.kind == RouteKind::kTunnel) nh = NextHop::tunnel_interface(tunnel_id.at(r.tunnel));
    else if (r.via) nh = NextHop::via(port_id.at(r.port), *r.via);
    else nh = NextHop::connected(port_id.at(r.port));
    if (!d.fib->add_route(r.prefix, nh, &err)) die("route " + r.prefix.to_string() + ": " + err);
  }
  NeighborActions actions;
  const auto now = std::chrono::steady_clock::now().time_since_epoch();
  for (const NeighborConfig& n : c.neighbors) {
    rte_ether_addr mac;
    std::memcpy(mac.addr_bytes, n.mac.bytes.data(), 6);
    if (!d.neighbors->add_static(NeighborKey::of(port_id.at(n.port), n.ip), mac, now, actions, &err))
      die("neighbor " + n.ip.to_string() + ": " + err);
  }
  actions.free_released();

  d.tables.rcu = d.rcu.get();
  d.tables.sad = d.sad.get();
  d.tables.spd = d.spd.get();
  d.tables.fib = d.fib.get();
  d.tables.neighbors = d.neighbors.get();
  d.tables.punt = rte_ring_create("esprit_punt", 4096, static_cast<int>(rte_socket_id()), RING_F_SC_DEQ);
  if (!d.tables.punt) die(std::string("punt ring: ") + rte_strerror(rte_errno));
  d.tables.control_tx.assign(d.tables.ports.size(), nullptr);
  for (const auto& p : d.ports) {
    if (p->control_tx_queue() != Port::kNoControlQueue) continue;
    const std::string name = "esprit_ctl_tx" + std::to_string(p->id());
    d.tables.control_tx[p->id()] = rte_ring_create(name.c_str(), 1024, static_cast<int>(rte_socket_id()),
                                                   RING_F_SP_ENQ | RING_F_SC_DEQ);
    if (!d.tables.control_tx[p->id()]) die("control TX ring: " + std::string(rte_strerror(rte_errno)));
  }

  // Workers: worker i polls RX queue i of every port and sends on TX queue i.
  for (uint32_t w = 0; w < nworkers; ++w) {
    std::vector<RxQueue> rx;
    for (const auto& p : d.ports)
      if (w < p->spec().rx_queues) rx.push_back({p->id(), static_cast<uint16_t>(w)});
    auto esp = EspWorker::create(nullptr, &err);
    if (!esp) die("ESP worker: " + err);
    d.workers.push_back(std::make_unique<GatewayWorker>(d.tables, w, std::move(rx), static_cast<uint16_t>(w),
                                                        std::move(esp),
                                                        std::make_unique<NeighborWorker>(*d.neighbors)));
  }
}

void print_counters(const Daemon& d, const LocalServices& ls) {
  for (const auto& w : d.workers) {
    const GatewayCounters& c = w->counters();
    std::printf("worker %u: rx %lu tx %lu punted %lu encap %lu decap %lu bypass %lu", w->id(), c.rx, c.tx,
                c.punted, c.encapsulated, c.decapsulated, c.bypassed);
    for (const auto& info : kGatewayDrops) {
      const uint64_t v = c.drops[static_cast<std::size_t>(info.drop)];
      if (v) std::printf(" %s %lu", info.name.data(), v);
    }
    std::printf("\n");
  }
  d.sad->for_each([&](uint32_t slot, const EspSa& sa) {
    const SaCounters t = d.sad->totals(slot);
    std::printf("sa slot %u spi 0x%08x %s: packets %lu bytes %lu", slot, sa.spi(),
                std::string(to_string(sa.direction())).c_str(), t.packets, t.bytes);
    for (const auto& r : kDropReasons)
      if (t.drop(r.reason)) std::printf(" %s %lu", r.name.data(), t.drop(r.reason));
    std::printf("\n");
  });
  const LocalServiceCounters& l = ls.counters();
  std::printf("control: arp_requests %lu arp_replies %lu echo_replies %lu nd_solicits %lu nd_adverts %lu probes %lu "
              "released %lu ike %lu ignored %lu\n",
              l.arp_requests, l.arp_replies, l.echo_replies, l.nd_solicits, l.nd_adverts, l.probes_sent, l.released,
              l.ike, l.ignored);
  std::fflush(stdout);
}

}  // namespace
}  // namespace esprit

int main(int argc, char** argv) {
  using namespace esprit;
  // EAL arguments follow "--"; everything before is ours.
  std::vector<char*> ours;
  std::vector<std::string> eal_extra;
  bool after = false;
  for (int i = 0; i < argc; ++i) {
    if (!after && std::string(argv[i]) == "--") {
      after = true;
      continue;
    }
    if (after) eal_extra.emplace_back(argv[i]);
    else ours.push_back(argv[i]);
  }
  po::options_description desc("espritd options (EAL arguments after --)");
  std::string config_path, log_level;
  double stats_interval = 0;
  desc.add_options()("help,h", "this help")("config,c", po::value(&config_path), "configuration file (TOML)")(
      "check-config", "load and check the configuration, then exit")(
      "log-level", po::value(&log_level)->default_value("info"), "error, warning, notice, info or debug")(
      "stats-interval", po::value(&stats_interval)->default_value(0), "print counters every N seconds (0: at exit)");
  po::variables_map vm;
  try {
    po::store(po::parse_command_line(static_cast<int>(ours.size()), ours.data(), desc), vm);
    po::notify(vm);
  } catch (const po::error& e) {
    std::fprintf(stderr, "espritd: %s\n%s", e.what(), "try espritd --help\n");
    return 2;
  }
  if (vm.count("help")) {
    std::cout << desc << "\n";
    return 0;
  }
  if (config_path.empty()) {
    std::fprintf(stderr, "espritd: --config FILE is required\n");
    return 2;
  }
  auto loaded = load_config_file(config_path);
  if (!loaded) {
    std::fprintf(stderr, "espritd: %s\n", loaded.error().to_string().c_str());
    return 2;
  }
  // IKE (issue 4): the configuration is loaded and checked, the protocol is not there yet. Say so;
  // a policy or tunnel that waits for IKE-negotiated SAs could never carry traffic, so don't run it.
  if (const IkeConfig& ike = loaded->ike; !ike.peers.empty()) {
    for (const std::string& w : ike.warnings) std::fprintf(stderr, "espritd: warning: %s\n", w.c_str());
    std::size_t bound = 0;
    for (const PolicyConfig& p : loaded->policies) bound += p.peer.empty() ? 0 : 1;
    for (const TunnelConfig& t : loaded->tunnels) bound += t.peer.empty() ? 0 : 1;
    std::fprintf(stderr,
                 "espritd: warning: %zu IKE peer(s) configured (%zu policies/tunnels bound to them), but IKE is not "
                 "implemented yet: no SA will be negotiated\n",
                 ike.peers.size(), bound);
    if (bound != 0 && !vm.count("check-config")) {
      std::fprintf(stderr,
                   "espritd: %s: refusing to run policies/tunnels bound to IKE peers without IKE; use static [[sa]] "
                   "for now (--check-config validates the IKE sections)\n",
                   config_path.c_str());
      return 2;
    }
  }
  if (vm.count("check-config")) {
    std::printf("espritd: %s: configuration OK\n", config_path.c_str());
    return 0;
  }

  Daemon d;
  d.config = std::move(loaded).value();
  std::vector<std::string> eal = {"espritd"};
  for (const auto& a : d.config.eal.args) eal.push_back(a);
  // The EAL attaches exactly our devices: PCI ports by allowlist, virtual ones by --vdev.
  bool any_pci = false;
  for (const PortConfig& pc : d.config.ports) {
    if (pc.device_kind == DeviceKind::kPci) {
      eal.insert(eal.end(), {"-a", pc.device});
      any_pci = true;
    } else {
      eal.insert(eal.end(), {"--vdev", pc.device});
    }
  }
  if (!any_pci) eal.emplace_back("--no-pci");
  for (const auto& a : eal_extra) eal.push_back(a);
  std::vector<char*> eal_argv;
  for (auto& a : eal) eal_argv.push_back(a.data());
  if (rte_eal_init(static_cast<int>(eal_argv.size()), eal_argv.data()) < 0)
    die(std::string("EAL: ") + rte_strerror(rte_errno));
  unsigned lcore;
  RTE_LCORE_FOREACH_WORKER(lcore) d.worker_lcores.push_back(lcore);
  if (d.worker_lcores.empty()) die("no worker lcore: give the EAL at least two (e.g. -l 0,1)");

  build(d);
  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);
  for (std::size_t i = 0; i < d.workers.size(); ++i) {
    if (rte_eal_remote_launch(worker_main, d.workers[i].get(), d.worker_lcores[i]) != 0)
      die("cannot launch worker " + std::to_string(i) + " on lcore " + std::to_string(d.worker_lcores[i]));
  }
  std::printf("espritd: running with %zu worker(s)\n", d.workers.size());
  std::fflush(stdout);

  LocalServices services(d.tables, d.pool);
  auto next_stats = std::chrono::steady_clock::now() + std::chrono::duration<double>(stats_interval);
  while (!g_stop.load()) {
    services.poll(std::chrono::steady_clock::now().time_since_epoch());
    d.sad->reclaim();  // frees SAs unpublished a grace period ago (never blocks)
    if (stats_interval > 0 && std::chrono::steady_clock::now() >= next_stats) {
      print_counters(d, services);
      next_stats += std::chrono::duration_cast<std::chrono::steady_clock::duration>(
          std::chrono::duration<double>(stats_interval));
    }
    std::this_thread::sleep_for(std::chrono::microseconds(100));
  }
  rte_eal_mp_wait_lcore();
  print_counters(d, services);
  // Everything below lives in EAL memory: release it before the EAL goes.
  d.workers.clear();
  d.spd.reset();
  d.neighbors.reset();
  d.fib.reset();
  d.sad.reset();
  d.ports.clear();
  for (rte_ring* r : d.tables.control_tx) rte_ring_free(r);
  rte_ring_free(d.tables.punt);
  d.rcu.reset();
  rte_mempool_free(d.pool);
  rte_eal_cleanup();
  return 0;
}
