// SA install rate into the live SAD while a worker forwards, and what happens meanwhile to the
// packets of the SAs already installed. Runs the real fast-path pipeline in-process, set up as
// espritd sets it up for a decap benchmark: a GatewayWorker on worker lcore 1 polls port "wan"
// (net_pcap, infinite_rx=1, replaying ESP of `--stable` inbound AES-GCM-128 SAs) and sends the
// decapsulated packets to port "lan" (net_null); the control thread (main lcore 0) installs `--sas`
// more inbound AES-GCM-128 SAs with Sad::add at full speed (key expansion included), then removes
// them again with Sad::remove, as IKE will through the control socket.
//
//   build/tests/bench/gateway_install_bench [--sas N] [--stable K] [--warmup-ms MS]
//
// Prints installs/s, removals/s, the worker's rate before and during the changes (and while the
// control thread only makes the same SAs without publishing them, to tell a busy control core from
// SAD changes), and every packet
// of the stable SAs received during the changes that was not decapsulated and forwarded (the worker's
// drop counters and the stable SAs' ESP drop counters); that count should be 0. A benchmark, not a
// test: it prints figures and exits 0 unless the setup fails.
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_launch.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>
#include <rte_ring.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "esprit/fastpath/esp.hpp"
#include "esprit/fastpath/gateway.hpp"
#include "esprit/fastpath/neighbor.hpp"
#include "esprit/fastpath/port.hpp"
#include "esprit/fastpath/rcu.hpp"
#include "esprit/fastpath/route.hpp"
#include "esprit/fastpath/sad.hpp"
#include "esprit/fastpath/spd.hpp"

namespace esprit {
namespace {

using Clock = std::chrono::steady_clock;

[[noreturn]] void die(const std::string& msg) {
  std::fprintf(stderr, "gateway_install_bench: %s\n", msg.c_str());
  std::exit(1);
}

constexpr uint32_t kStableSpi = 0x100;
constexpr uint32_t kNewSpi = 0x10000;
constexpr uint32_t kPcapPackets = 4096;

SaDescriptor gcm_inbound(uint32_t spi, uint8_t key_seed) {
  SaDescriptor d;
  d.spi = spi;
  d.direction = SaDirection::kInbound;
  d.local = *IpAddress::parse("192.0.2.1");
  d.remote = *IpAddress::parse("192.0.2.2");
  d.encr = EncrAlg::kAesGcm16_128;
  d.encr_key = SecretBytes(std::vector<uint8_t>(info(d.encr).keymat_len(), key_seed));
  return d;
}

uint16_t ip_checksum(const uint8_t* h) {
  uint32_t s = 0;
  for (int i = 0; i < 20; i += 2) s += static_cast<uint32_t>(h[i] << 8 | h[i + 1]);
  while (s >> 16) s = (s & 0xffff) + (s >> 16);
  return static_cast<uint16_t>(~s);
}

/// 64-byte UDP packet 10.2.0.<flow> -> 10.1.0.5.
std::vector<uint8_t> inner_packet(uint32_t flow) {
  std::vector<uint8_t> p(64, 0x62);
  const uint8_t hdr[28] = {0x45, 0, 0, 64, 0, 0, 0x40, 0, 64, 17, 0, 0, 10, 2, 0, static_cast<uint8_t>(flow),
                           10, 1, 0, 5, 0x03, 0xe8, 0x07, 0xd0, 0, 44, 0, 0};
  std::memcpy(p.data(), hdr, sizeof hdr);
  const uint16_t c = ip_checksum(p.data());
  p[10] = static_cast<uint8_t>(c >> 8);
  p[11] = static_cast<uint8_t>(c);
  return p;
}

/// Writes a pcap of kPcapPackets Ethernet frames: ESP of the stable SAs in turn, made by their
/// outbound twins (sequence numbers 1.. per SA; the inbound SAs run without anti-replay because
/// infinite_rx replays them).
void write_pcap(const std::string& path, uint32_t stable, rte_mempool* pool) {
  std::string err;
  auto w = EspWorker::create(nullptr, &err);
  if (!w) die("EspWorker: " + err);
  std::vector<std::unique_ptr<EspSa>> twins;
  for (uint32_t i = 0; i < stable; ++i) {
    SaDescriptor d = gcm_inbound(kStableSpi + i, static_cast<uint8_t>(0x40 + i));
    d.direction = SaDirection::kOutbound;
    std::swap(d.local, d.remote);
    twins.push_back(EspSa::create(d, &err));
    if (!twins.back()) die("outbound twin: " + err);
  }
  FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) die("cannot write " + path);
  const uint32_t file_hdr[6] = {0xa1b2c3d4, 2 | (4u << 16), 0, 0, 65535, 1};
  std::fwrite(file_hdr, sizeof file_hdr, 1, f);
  SaCounters c;
  for (uint32_t n = 0; n < kPcapPackets; ++n) {
    const uint32_t i = n % stable;
    const auto inner = inner_packet(i);
    rte_mbuf* m = rte_pktmbuf_alloc(pool);
    if (!m) die("mbuf");
    std::memcpy(rte_pktmbuf_append(m, static_cast<uint16_t>(inner.size())), inner.data(), inner.size());
    if (encap_burst(*w, *twins[i], std::span<rte_mbuf*>(&m, 1), c) != 1) die("encap of the pcap's packets failed");
    const uint8_t eth[14] = {2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 2, 2, 0x08, 0x00};
    const uint32_t len = 14 + rte_pktmbuf_pkt_len(m);
    const uint32_t rec[4] = {0, n, len, len};
    std::fwrite(rec, sizeof rec, 1, f);
    std::fwrite(eth, sizeof eth, 1, f);
    std::fwrite(rte_pktmbuf_mtod(m, const uint8_t*), rte_pktmbuf_pkt_len(m), 1, f);
    rte_pktmbuf_free(m);
  }
  std::fclose(f);
}

struct Snapshot {
  uint64_t rx = 0, tx = 0, decap = 0, gw_drops = 0, esp_drops = 0;
};

int worker_main(void* arg) {
  auto* p = static_cast<std::pair<GatewayWorker*, std::atomic<bool>*>*>(arg);
  p->first->run(*p->second);
  return 0;
}

}  // namespace
}  // namespace esprit

int main(int argc, char** argv) {
  using namespace esprit;
  uint32_t sas = 100'000, stable = 8, warmup_ms = 1000;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (i + 1 < argc && a == "--sas") sas = static_cast<uint32_t>(std::strtoul(argv[++i], nullptr, 0));
    else if (i + 1 < argc && a == "--stable") stable = static_cast<uint32_t>(std::strtoul(argv[++i], nullptr, 0));
    else if (i + 1 < argc && a == "--warmup-ms") warmup_ms = static_cast<uint32_t>(std::strtoul(argv[++i], nullptr, 0));
    else {
      std::fprintf(stderr, "usage: gateway_install_bench [--sas N] [--stable K (1..200)] [--warmup-ms MS]\n");
      return 2;
    }
  }
  if (stable < 1 || stable > 200 || sas < 1 || sas > 4'000'000) die("--stable 1..200, --sas 1..4000000");

  char dir_tmpl[] = "/tmp/esprit-install-XXXXXX";
  if (!mkdtemp(dir_tmpl)) die("mkdtemp");
  const std::string dir = dir_tmpl;
  const std::string pcap = dir + "/esp.pcap";

  // EAL: main lcore 0 is the control thread, lcore 1 the worker; vdevs attached by Port::open.
  const std::string prefix = "--file-prefix=esprit-install-" + std::to_string(getpid());
  std::vector<std::string> eal = {"gateway_install_bench", "--no-huge", "--no-shconf", "-m", "1024", "-l", "0,1",
                                  "--no-pci", "--log-level=lib.eal:error", prefix};
  std::vector<char*> eal_argv;
  for (auto& s : eal) eal_argv.push_back(s.data());
  if (rte_eal_init(static_cast<int>(eal_argv.size()), eal_argv.data()) < 0)
    die(std::string("EAL: ") + rte_strerror(rte_errno));
  const unsigned worker_lcore = rte_get_next_lcore(rte_get_main_lcore(), 1, 0);
  if (worker_lcore >= RTE_MAX_LCORE) die("no worker lcore");

  rte_mempool* pool = rte_pktmbuf_pool_create("install_mbufs", 16384 + kPcapPackets, 256, 0,
                                              RTE_MBUF_DEFAULT_BUF_SIZE, static_cast<int>(rte_socket_id()));
  if (!pool) die(std::string("mbuf pool: ") + rte_strerror(rte_errno));
  write_pcap(pcap, stable, pool);

  std::string err;
  auto rcu = Rcu::create(1, &err);
  if (!rcu) die(err);
  SadConfig sc;
  sc.capacity = stable + sas + 4096;
  sc.workers = 1;
  sc.rcu = rcu.get();
  auto sad = Sad::create(sc, &err);
  if (!sad) die("SAD: " + err);
  auto fib = Fib::create(FibConfig{}, *rcu, &err);
  if (!fib) die("FIB: " + err);
  auto neighbors = NeighborTable::create(NeighborTableConfig{}, *rcu, &err);
  if (!neighbors) die("neighbours: " + err);

  GatewayTables t;
  std::vector<std::unique_ptr<Port>> ports;
  struct P {
    const char* name;
    std::string device;
    PortRole role;
    const char* addr;
    const char* subnet;
  };
  const P specs[] = {{"lan", "net_null0,no-rx=1", PortRole::kProtected, "10.1.0.1", "10.1.0.0/16"},
                     {"wan", "net_pcap0,rx_pcap=" + pcap + ",infinite_rx=1", PortRole::kUnprotected, "192.0.2.1",
                      "192.0.2.0/24"}};
  for (const P& s : specs) {
    PortSpec ps;
    ps.name = s.name;
    ps.device = s.device;
    ps.role = s.role;
    // The pool's mbufs hold 2048 bytes: a port must not promise frames longer than that (Port::open
    // refuses an MTU whose frames do not fit one mbuf on a device without RX scatter).
    ps.mtu = 1500;
    auto port = Port::open(ps, pool, &err);
    if (!port) die(err);
    if (t.ports.size() <= port->id()) t.ports.resize(port->id() + 1u, nullptr);
    t.ports[port->id()] = port.get();
    t.local.push_back({*IpAddress::parse(s.addr), port->id()});
    if (!fib->add_connected(port->id(), *IpPrefix::parse(s.subnet), &err)) die(err);
    ports.push_back(std::move(port));
  }
  const uint16_t lan = ports[0]->id();
  NeighborActions actions;
  const rte_ether_addr host_mac = {{2, 0, 0, 0, 1, 1}};
  if (!neighbors->add_static(NeighborKey::of(lan, *IpAddress::parse("10.1.0.5")), host_mac,
                             Clock::now().time_since_epoch(), actions, &err))
    die("neighbour: " + err);
  actions.free_released();

  // The stable SAs and their inbound policies (selectors checked after decapsulation).
  t.sa_selectors.assign(sad->capacity(), {});
  std::vector<PolicyRule> rules;
  std::vector<uint32_t> stable_slots;
  for (uint32_t i = 0; i < stable; ++i) {
    SaDescriptor d = gcm_inbound(kStableSpi + i, static_cast<uint8_t>(0x40 + i));
    d.anti_replay = false;  // infinite_rx replays the same sequence numbers
    auto slot = sad->add(d, &err);
    if (!slot) die("stable SA: " + err);
    stable_slots.push_back(*slot);
    PolicyRule r;
    r.name = "stable" + std::to_string(i);
    r.direction = PolicyDirection::kInbound;
    r.selector.src = *IpPrefix::parse("10.2.0." + std::to_string(i) + "/32");
    r.selector.dst = *IpPrefix::parse("10.1.0.0/16");
    r.action = PolicyAction::kProtect;
    t.sa_selectors[*slot].push_back(r.selector);
    rules.push_back(r);
  }
  auto out = SpdTable::build(rules, {PolicyDirection::kOutbound, PolicyAction::kDiscard, 1, -1, 0}, &err);
  auto in = SpdTable::build(rules, {PolicyDirection::kInbound, PolicyAction::kDiscard, 1, -1, 0}, &err);
  if (!out || !in) die("SPD: " + err);
  auto spd = std::make_unique<Spd>(*rcu, std::move(out), std::move(in));

  t.rcu = rcu.get();
  t.sad = sad.get();
  t.spd = spd.get();
  t.fib = fib.get();
  t.neighbors = neighbors.get();
  t.punt = rte_ring_create("install_punt", 4096, static_cast<int>(rte_socket_id()), RING_F_SC_DEQ);
  if (!t.punt) die("punt ring");
  t.control_tx.assign(t.ports.size(), nullptr);
  t.tunnel_sa = std::make_unique<std::atomic<uint32_t>[]>(1);

  std::vector<RxQueue> rx;
  for (const auto& p : ports) rx.push_back({p->id(), 0});
  auto esp = EspWorker::create(nullptr, &err);
  if (!esp) die("ESP worker: " + err);
  auto worker = std::make_unique<GatewayWorker>(t, 0, std::move(rx), 0, std::move(esp),
                                                std::make_unique<NeighborWorker>(*neighbors));

  // Descriptors of the SAs to install, built before the clock starts.
  std::vector<SaDescriptor> news;
  news.reserve(sas);
  for (uint32_t i = 0; i < sas; ++i) news.push_back(gcm_inbound(kNewSpi + i, static_cast<uint8_t>(i)));

  std::atomic<bool> stop{false};
  std::pair<GatewayWorker*, std::atomic<bool>*> arg{worker.get(), &stop};
  if (rte_eal_remote_launch(worker_main, &arg, worker_lcore) != 0) die("cannot launch the worker");

  auto snapshot = [&] {
    const GatewayCounters& c = worker->counters();
    Snapshot s;
    // The worker counts rx, then decapsulated, then tx (plain stores, read here while it runs: a
    // snapshot may be a burst off). Reading them the other way round keeps sent <= received.
    s.tx = __atomic_load_n(&c.tx, __ATOMIC_ACQUIRE);
    s.decap = __atomic_load_n(&c.decapsulated, __ATOMIC_ACQUIRE);
    s.rx = __atomic_load_n(&c.rx, __ATOMIC_ACQUIRE);
    for (const uint64_t& d : c.drops) s.gw_drops += __atomic_load_n(&d, __ATOMIC_RELAXED);
    for (uint32_t slot : stable_slots) {
      const SaCounters tot = sad->totals(slot);
      for (uint64_t d : tot.drops) s.esp_drops += d;
    }
    return s;
  };
  auto secs = [](Clock::time_point a, Clock::time_point b) { return std::chrono::duration<double>(b - a).count(); };

  std::this_thread::sleep_for(std::chrono::milliseconds(warmup_ms));  // the traffic runs first
  const Snapshot s0 = snapshot();
  const auto t0 = Clock::now();
  std::this_thread::sleep_for(std::chrono::milliseconds(500));  // baseline rate
  Snapshot s1 = snapshot();
  auto t1 = Clock::now();
  // Control: the same SAs made (key expansion, allocation) but not published, so that the worker's
  // rate meanwhile separates the cost of a busy control core from that of SAD changes.
  double create_s = 0, create_mpps = 0;
  {
    std::vector<std::unique_ptr<EspSa>> made(news.size());
    for (std::size_t i = 0; i < news.size(); ++i) made[i] = EspSa::create(news[i], &err);
    const auto tc = Clock::now();
    const Snapshot sc = snapshot();
    create_s = secs(t1, tc);
    create_mpps = static_cast<double>(sc.tx - s1.tx) / create_s / 1e6;
  }
  s1 = snapshot();
  t1 = Clock::now();
  std::vector<uint32_t> slots;
  slots.reserve(sas);
  for (const SaDescriptor& d : news) {
    auto s = sad->add(d, &err);
    if (!s) {
      stop = true;
      rte_eal_mp_wait_lcore();
      die("Sad::add: " + err);
    }
    slots.push_back(*s);
  }
  const auto t2 = Clock::now();
  const Snapshot s2 = snapshot();
  for (uint32_t s : slots) sad->remove(s);
  const auto t3 = Clock::now();
  const Snapshot s3 = snapshot();
  std::this_thread::sleep_for(std::chrono::milliseconds(200));  // and after
  stop = true;
  rte_eal_mp_wait_lcore();
  sad->synchronize();
  const Snapshot s4 = snapshot();

  const double base = static_cast<double>(s1.tx - s0.tx) / secs(t0, t1) / 1e6;
  const double add_s = secs(t1, t2), rm_s = secs(t2, t3);
  const uint64_t rx_during = s3.rx - s1.rx, ok_during = s3.tx - s1.tx;
  const uint64_t lost_during = (s3.gw_drops - s1.gw_drops) + (s3.esp_drops - s1.esp_drops);
  std::printf("SA install into the live SAD while one worker decapsulates %u SA(s) (GatewayWorker, "
              "net_pcap -> net_null, AES-GCM-128, 64 B):\n", stable);
  std::printf("  EspSa::create alone (not published) for %u SAs: %.3f s = %.0f SAs/s (worker %.2f Mpps meanwhile)\n",
              sas, create_s, sas / create_s, create_mpps);
  std::printf("  install %u SAs: %.3f s = %.0f SAs/s (worker %.2f Mpps meanwhile, %.2f Mpps before)\n", sas, add_s,
              sas / add_s, static_cast<double>(s2.tx - s1.tx) / add_s / 1e6, base);
  std::printf("  remove  %u SAs: %.3f s = %.0f SAs/s (worker %.2f Mpps meanwhile)\n", sas, rm_s, sas / rm_s,
              static_cast<double>(s3.tx - s2.tx) / rm_s / 1e6);
  std::printf("  packets of the installed SAs during install + remove: %lu received, %lu decapsulated and sent, "
              "%lu dropped\n", static_cast<unsigned long>(rx_during), static_cast<unsigned long>(ok_during),
              static_cast<unsigned long>(lost_during));
  std::printf("  whole run: rx %lu tx %lu decap %lu, worker drops %lu, ESP drops of the stable SAs %lu\n",
              static_cast<unsigned long>(s4.rx), static_cast<unsigned long>(s4.tx),
              static_cast<unsigned long>(s4.decap), static_cast<unsigned long>(s4.gw_drops),
              static_cast<unsigned long>(s4.esp_drops));

  worker.reset();
  spd.reset();
  sad.reset();
  neighbors.reset();
  fib.reset();
  ports.clear();
  rte_ring_free(t.punt);
  rcu.reset();
  rte_mempool_free(pool);
  rte_eal_cleanup();
  std::remove(pcap.c_str());
  rmdir(dir.c_str());
  return 0;
}
