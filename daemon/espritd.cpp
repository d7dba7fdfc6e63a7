// espritd: the Esprit IPsec gateway daemon.
//   espritd --config FILE [--check-config] [--log-level LEVEL] [--stats-interval N] [-- EAL arguments]
// The main lcore is the control core: local services, the control socket (espritctl) and the
// timers. The worker lcores ([daemon] workers, or every other lcore the EAL enables) run workers.
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_launch.h>
#include <rte_lcore.h>
#include <rte_ip_frag.h>
#include <rte_mbuf.h>
#include <rte_pause.h>
#include <rte_ring.h>

#include <poll.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <boost/program_options.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cinttypes>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <variant>
#include <vector>

#include "esprit/common/config.hpp"
#include "esprit/common/lcores.hpp"
#include "esprit/common/log.hpp"
#include "esprit/control/control_socket.hpp"
#include "esprit/control/gateway_stats.hpp"
#include "esprit/control/ike/crypto/random.hpp"
#include "esprit/control/ike/manager/fastpath_sink.hpp"
#include "esprit/control/ike/manager/ike_manager.hpp"
#include "esprit/control/ike_io.hpp"
#include "esprit/control/local_services.hpp"
#include "esprit/control/wireshark_keys.hpp"
#include "esprit/fastpath/control_wake.hpp"
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

/// SIGTERM / SIGINT received so far: the first stops the daemon after its IKE SAs' Deletes (at
/// most kShutdownWait), a second one at once.
std::atomic<int> g_signals{0};
/// The control core's doorbell while the control loop runs: a signal wakes the blocked control
/// core whichever thread the kernel delivered it to.
std::atomic<ControlWake*> g_wake{nullptr};
void on_signal(int) {
  g_signals.fetch_add(1);
  if (ControlWake* w = g_wake.load()) w->ring();  // write(2): async-signal-safe
}
/// Set once the control loop has ended: the workers run until then, so the Deletes leave.
std::atomic<bool> g_workers_stop{false};
static_assert(std::atomic<int>::is_always_lock_free, "the signal handler needs a lock-free counter");
static_assert(std::atomic<ControlWake*>::is_always_lock_free, "the signal handler reads the doorbell");

/// Our control socket once created, so that a fatal error does not leave it behind.
std::string g_control_socket;

[[noreturn]] void die(const std::string& msg) {
  ESPRIT_LOG_ERROR("%s", msg.c_str());
  if (!g_control_socket.empty()) ::unlink(g_control_socket.c_str());
  std::exit(1);
}

/// A peer's ChildSaSink that also writes each negotiated Child SA's keys to the Wireshark keys file
/// ([ike] keys_file, a debugging aid), then hands the SA to the FastpathInstaller's sink.
class KeysWritingSink final : public ike::ChildSaSink {
 public:
  KeysWritingSink(ike::ChildSaSink& inner, WiresharkKeys& keys) : inner_(inner), keys_(keys) {}
  void install_inbound(const SaDescriptor& sa, const ike::ChildSelectors& ts) override {
    write(sa);
    inner_.install_inbound(sa, ts);
  }
  void install_outbound(const SaDescriptor& sa, const ike::ChildSelectors& ts, uint32_t replaces_spi) override {
    write(sa);
    inner_.install_outbound(sa, ts, replaces_spi);
  }
  void remove(uint32_t spi, SaDirection direction) override { inner_.remove(spi, direction); }
  void remove_outbound(uint32_t spi, const SaDescriptor& sa) override { inner_.remove_outbound(spi, sa); }
  bool inbound_spi_in_use(uint32_t spi) const noexcept override { return inner_.inbound_spi_in_use(spi); }

 private:
  void write(const SaDescriptor& sa) {
    if (!keys_.add_esp_sa(sa))
      ESPRIT_LOG_WARNING("keys_file: Child SA 0x%08x: no Wireshark name for its algorithms, not written", sa.spi);
  }
  ike::ChildSaSink& inner_;
  WiresharkKeys& keys_;
};

/// [ike] keys_file: the keys of an IKE SA the manager established (IKE_AUTH or rekey, either role)
/// as one line of Wireshark's ikev2_decryption_table.
void write_ike_sa_keys(WiresharkKeys& keys, const std::string& peer, const ike::IkeSa& sa) {
  const ike::IkeSaKeys& k = sa.keys();
  const ike::IkeSaTransforms& t = sa.init_result().transforms;
  const IkeSaKeys line{sa.spi_i(), sa.spi_r(), t.encr, k.sk_ei.span(), k.sk_er.span(),
                       t.integ,    k.sk_ai.span(), k.sk_ar.span()};
  if (!keys.add_ike_sa(line))
    ESPRIT_LOG_WARNING("keys_file: peer %s: IKE SA %016" PRIx64 "/%016" PRIx64
                       ": no Wireshark name for its algorithms or the write failed, not written",
                       peer.c_str(), sa.spi_i(), sa.spi_r());
}

/// Everything the daemon owns, torn down in reverse order.
struct Daemon {
  Config config;
  rte_mempool* pool = nullptr;
  std::unique_ptr<WiresharkKeys> keys;  ///< [ike] keys_file: the Wireshark keys files (debugging aid)
  rte_mempool* indirect_pool = nullptr;  ///< fragments' segments pointing into the original packet
  rte_mempool* jumbo_pool = nullptr;     ///< one-segment copies of chains (reassembled packets)
  std::vector<PortFrames> frames;        ///< per config port: device string and largest RX frame
  std::unique_ptr<Rcu> rcu;
  std::unique_ptr<Sad> sad;
  std::unique_ptr<Fib> fib;
  std::unique_ptr<NeighborTable> neighbors;
  std::unique_ptr<Spd> spd;
  std::vector<std::unique_ptr<Port>> ports;
  GatewayTables tables;
  std::vector<std::unique_ptr<GatewayWorker>> workers;
  std::vector<uint32_t> worker_lcores;
  std::vector<std::string> sa_names;  ///< by SAD slot
  /// IKE ([[peer]]s): Child SAs into the SAD/SPD; nullptr without peers.
  std::unique_ptr<ike::FastpathInstaller> installer;
  rte_ring* sa_events = nullptr;  ///< the workers' SA lifetime events, for the IKE manager (with peers)
  /// Rung by the workers after they enqueue onto punt, neighbour-request or SA-event rings, so
  /// the idle control core can block (run_control_loop, control_wake.hpp).
  std::unique_ptr<ControlWake> wake;
  std::vector<NamedPolicyRule> named_rules;  ///< the SPD rules as expanded from the policies
  std::vector<std::unique_ptr<KeysWritingSink>> keys_sinks;  ///< with [ike] keys_file
};

int worker_main(void* arg) {
  static_cast<GatewayWorker*>(arg)->run(g_workers_stop);
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
  // Each worker's reassembly table holds up to reassembly_packets packets of up to
  // reassembly_fragments fragments (fragment.hpp), and its death row up to 288 mbufs; fragments
  // and ICMP errors of a burst take headers from this pool too.
  const FragmentationConfig& fc = c.fragmentation;
  mbufs += uint64_t{nworkers} * (uint64_t{fc.reassembly_packets} * fc.reassembly_fragments + 288 + 512);
  // [daemon] mbufs raises the floor: a source that holds packets of its own in the pool (net_pcap
  // with infinite_rx keeps the whole capture in mbufs) needs more than the rings.
  mbufs = std::max<uint64_t>({mbufs, 8192, c.daemon.mbufs});
  // One mbuf holds the largest frame any port delivers (port_frames: MTU + 14, or net_af_packet's
  // frames), plus room for the ESP trailer and ICV of its encapsulation; at least DPDK's default.
  uint32_t max_frame = 0;
  uint32_t max_mtu = 0;
  for (std::size_t i = 0; i < c.ports.size(); ++i) {
    max_frame = std::max(max_frame, d.frames[i].rx_frame);
    max_mtu = std::max<uint32_t>(max_mtu, c.ports[i].mtu);
  }
  constexpr uint32_t kEspTail = 128;  // pad (to 16), pad length, next header, ICV (up to 32), spare
  const uint32_t room = std::min<uint32_t>(UINT16_MAX, std::max<uint32_t>(RTE_MBUF_DEFAULT_DATAROOM,
                                                                          max_frame + kEspTail) + RTE_PKTMBUF_HEADROOM);
  ESPRIT_LOG_INFO("mbuf pool: %llu mbufs of %u bytes", static_cast<unsigned long long>(mbufs), room);
  d.pool = rte_pktmbuf_pool_create("esprit_mbufs", static_cast<unsigned>(mbufs), kCache, 0, static_cast<uint16_t>(room),
                                   static_cast<int>(rte_socket_id()));
  if (!d.pool) die(std::string("mbuf pool: ") + rte_strerror(rte_errno));
  // Indirect mbufs carry no data: one per fragment in flight (TX rings, neighbour hold queue).
  d.indirect_pool = rte_pktmbuf_pool_create("esprit_indirect", static_cast<unsigned>(mbufs), kCache, 0, 0,
                                            static_cast<int>(rte_socket_id()));
  if (!d.indirect_pool) die(std::string("indirect mbuf pool: ") + rte_strerror(rte_errno));
  // Chains the worker must hold in one segment (a reassembled packet: fragments of up to the
  // largest MTU) and that do not fit `pool` are copied into one of these; a few per worker, as
  // reassembled packets are rare and leave within their burst (TX rings hold some longer).
  const uint32_t jumbo_room = static_cast<uint32_t>(std::min<uint64_t>(
      UINT16_MAX, uint64_t{fc.reassembly_fragments} * max_mtu + kPortL2Overhead + kEspTail + RTE_PKTMBUF_HEADROOM));
  if (jumbo_room > room) {
    d.jumbo_pool = rte_pktmbuf_pool_create("esprit_jumbo", 256 * nworkers + 64, 0, 0, static_cast<uint16_t>(jumbo_room),
                                           static_cast<int>(rte_socket_id()));
    if (!d.jumbo_pool) die(std::string("jumbo mbuf pool: ") + rte_strerror(rte_errno));
  }
  d.rcu = Rcu::create(nworkers, &err);
  if (!d.rcu) die(err);
  SadConfig sc;
  // Every static SA plus 4096 slots for SAs installed while running (IKE, rekeys).
  sc.capacity = static_cast<uint32_t>(c.sas.size() + 4096);
  sc.workers = nworkers;
  sc.rcu = d.rcu.get();
  d.sad = Sad::create(sc, &err);
  if (!d.sad) die("SAD: " + err);
  d.fib = Fib::create(FibConfig{}, *d.rcu, &err);
  if (!d.fib) die("FIB: " + err);
  d.neighbors = NeighborTable::create(NeighborTableConfig{}, *d.rcu, &err);
  if (!d.neighbors) die("neighbours: " + err);
  d.wake = ControlWake::create(&err);
  if (!d.wake) die("control core wake-up: " + err);
  d.neighbors->set_control_wake(d.wake.get());
  d.tables.control_wake = d.wake.get();

  // Ports: one RX queue and one TX queue per worker, plus the control core's TX queue.
  std::unordered_map<std::string, uint16_t> port_id;
  for (const PortConfig& pc : c.ports) {
    PortSpec ps;
    ps.name = pc.name;
    ps.device = d.frames[static_cast<std::size_t>(&pc - c.ports.data())].device;
    ps.role = pc.role;
    ps.mtu = pc.mtu;
    ps.ethdev_name = pc.device_name;
    ps.rx_queues = pc.rx_queues.value_or(static_cast<uint16_t>(nworkers));
    // Worker w polls queue w: a queue no worker polls would silently lose its share of RSS.
    if (ps.rx_queues > nworkers)
      die("port " + pc.name + ": rx_queues " + std::to_string(ps.rx_queues) + " above the " +
          std::to_string(nworkers) + " worker lcore(s) the EAL was given");
    // Worker w sends on TX queue w; one more queue, if there is one, is the control core's.
    ps.tx_queues = static_cast<uint16_t>(nworkers);
    if (pc.tx_queues) {
      if (*pc.tx_queues < nworkers || *pc.tx_queues > nworkers + 1)
        die("port " + pc.name + ": tx_queues " + std::to_string(*pc.tx_queues) + ": each of the " +
            std::to_string(nworkers) + " worker(s) needs a TX queue of its own, plus at most one for the control "
            "core (give " + std::to_string(nworkers) + " or " + std::to_string(nworkers + 1) + ")");
      ps.control_tx_queue = *pc.tx_queues > nworkers;
    }
    if (pc.mac) {
      rte_ether_addr mac;
      std::memcpy(mac.addr_bytes, pc.mac->bytes.data(), 6);
      ps.mac = mac;
    }
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
    const rte_ether_addr& m = port->mac();
    ESPRIT_LOG_INFO("port %s (%s) id %u %s, MAC %02x:%02x:%02x:%02x:%02x:%02x", pc.name.c_str(), pc.device.c_str(),
                    port->id(), std::string(to_string(pc.role)).c_str(), m.addr_bytes[0], m.addr_bytes[1],
                    m.addr_bytes[2], m.addr_bytes[3], m.addr_bytes[4], m.addr_bytes[5]);
    d.ports.push_back(std::move(port));
  }
  // The workers punt IKE on these ports (and take ESP in UDP on natt_port); the transport parses
  // and sends on them.
  d.tables.ike_port = c.ike.port;
  d.tables.natt_port = c.ike.natt_port;

  // The Wireshark keys files (off unless [ike] keys_file is set; a debugging aid, logged as a warning):
  // the static SAs' keys now, IKE SAs' and their Child SAs' keys as they are negotiated.
  if (!c.ike.keys_file.empty()) {
    d.keys = WiresharkKeys::open(c.ike.keys_file, &err);
    if (!d.keys) die("[ike] keys_file: " + err);
    for (const SaConfig& s : c.sas)
      if (!d.keys->add_esp_sa(s.descriptor))
        ESPRIT_LOG_WARNING("keys_file: sa %s: no Wireshark name for its algorithms, not written", s.name.c_str());
  }

  // Static SAs.
  SaIndexMap sa_index;
  for (const SaConfig& s : c.sas) {
    auto slot = d.sad->add(s.descriptor, &err);
    if (!slot) die("sa " + s.name + ": " + err);
    sa_index[s.name] = *slot;
    if (d.sa_names.size() <= *slot) d.sa_names.resize(*slot + 1u);
    d.sa_names[*slot] = s.name;
  }
  d.tables.sa_selectors.assign(d.sad->capacity(), {});
  // Fragmentation and MSS clamp per SA; a tunnel's settings override those of its SAs.
  d.tables.sa_paths.assign(d.sad->capacity(), {});
  for (const SaConfig& s : c.sas) {
    SaPathOptions& o = d.tables.sa_paths[sa_index.at(s.name)];
    o.fragmentation = s.fragmentation;
    o.tcp_mss = s.tcp_mss;
    o.remote = s.descriptor.remote;
    o.configured = true;
  }
  // Peers: the SAs of one remote address (and NAT-T port) share an id, so a decrypted packet is
  // never encrypted back to the peer it came from (hub and spoke, GatewayTables::sa_peer).
  d.tables.sa_peer.assign(d.sad->capacity(), 0);
  std::map<std::pair<std::string, uint16_t>, uint32_t> peer_id;
  for (const SaConfig& s : c.sas) {
    const auto key = std::make_pair(s.descriptor.remote.to_string(),
                                    s.descriptor.natt ? s.descriptor.natt->remote_port : uint16_t{0});
    const auto it = peer_id.emplace(key, static_cast<uint32_t>(peer_id.size() + 1)).first;
    d.tables.sa_peer[sa_index.at(s.name)] = it->second;
  }
  for (const TunnelConfig& t : c.tunnels) {
    if (!t.peer.empty()) continue;  // IKE negotiates its SAs
    std::vector<std::string> names = t.sa_in;
    names.push_back(t.sa_out);
    for (const std::string& n : names) {
      SaPathOptions& o = d.tables.sa_paths[sa_index.at(n)];
      o.fragmentation = t.fragmentation;
      o.tcp_mss = t.tcp_mss;
      o.inner_mtu = t.mtu.value_or(0);
    }
  }

  // Route-based tunnels.
  d.tables.tunnels = static_cast<uint32_t>(c.tunnels.size());
  d.tables.tunnel_sa = std::make_unique<std::atomic<uint32_t>[]>(std::max<std::size_t>(1, c.tunnels.size()));
  std::unordered_map<std::string, uint32_t> tunnel_id;
  for (uint32_t i = 0; i < c.tunnels.size(); ++i) {
    const TunnelConfig& t = c.tunnels[i];
    tunnel_id[t.name] = i;
    // A tunnel bound to an IKE peer has no SA until its Child SA is installed: dropped as no_sa.
    d.tables.tunnel_sa[i].store(t.peer.empty() ? sa_index.at(t.sa_out) : kNoTunnelSa);
    // Inbound SAs of a tunnel keep empty selectors: 0.0.0.0/0 and ::/0.
  }

  // Policies: outbound and inbound SPD; inbound SAs learn the selectors of the policies naming them.
  const auto named = expand_policies(c);
  for (const NamedPolicyRule& r : named) {
    for (const std::string& in : r.sa_in) d.tables.sa_selectors[sa_index.at(in)].push_back(r.rule.selector);
  }
  // Rules of policies bound to an IKE peer have no SA yet: their outbound PROTECT rules point at
  // kNoSaSlot (the worker drops with no_sa, never sends in clear) until the FastpathInstaller
  // installs a Child SA.
  std::vector<NamedPolicyRule> static_named;
  std::vector<ike::InstallerRule> installer_rules;
  for (const NamedPolicyRule& r : named) {
    const std::string& peer = c.policies[r.policy_index].peer;
    if (peer.empty()) static_named.push_back(r);
  }
  auto rules = to_policy_rules(static_named, sa_index);
  if (auto* e = std::get_if<std::string>(&rules)) die("policies: " + *e);
  std::vector<PolicyRule> list;
  {
    const auto& stat = std::get<std::vector<PolicyRule>>(rules);
    std::size_t k = 0;
    for (const NamedPolicyRule& r : named) {
      const std::string& peer = c.policies[r.policy_index].peer;
      PolicyRule rule = peer.empty() ? stat[k++] : r.rule;
      if (!peer.empty() && rule.action == PolicyAction::kProtect && rule.direction == PolicyDirection::kOutbound)
        rule.sa_index = kNoSaSlot;
      list.push_back(rule);
      installer_rules.push_back({rule, peer});
    }
  }
  d.named_rules = named;
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
  d.tables.pool = d.pool;
  d.tables.indirect_pool = d.indirect_pool;
  d.tables.jumbo_pool = d.jumbo_pool;
  d.tables.reassembly.max_entries = c.fragmentation.reassembly_packets;
  d.tables.reassembly.max_fragments = c.fragmentation.reassembly_fragments;
  d.tables.reassembly.timeout = std::chrono::milliseconds(c.fragmentation.reassembly_timeout_ms);
  d.tables.icmp_rate = c.fragmentation.icmp_rate;
  d.tables.icmp_burst = c.fragmentation.icmp_burst;
  if (!c.ike.peers.empty()) {
    ike::FastpathInstallerConfig ic;
    ic.tables = &d.tables;
    ic.rules = std::move(installer_rules);
    for (const TunnelConfig& t : c.tunnels) ic.tunnel_peer.push_back(t.peer);
    // Fragmentation, MSS clamp and MTU of a peer's Child SAs: its tunnel's; defaults for policies.
    for (const IkePeer& p : c.ike.peers) ic.peer_paths[p.name] = SaPathOptions{};
    for (const TunnelConfig& t : c.tunnels) {
      if (t.peer.empty()) continue;
      SaPathOptions& o = ic.peer_paths[t.peer];
      o.fragmentation = t.fragmentation;
      o.tcp_mss = t.tcp_mss;
      o.inner_mtu = t.mtu.value_or(0);
    }
    ic.outbound = out_opt;
    ic.inbound = in_opt;
    ic.batch_publish = true;  // the control loop flush()es once per turn (docs/ike.md)
    // Child SA packet/byte limits: the workers' events, drained once per control-loop turn.
    d.sa_events = rte_ring_create_elem("esprit_sa_events", sizeof(SaEvent), 4096, static_cast<int>(rte_socket_id()),
                                       RING_F_SC_DEQ);
    if (!d.sa_events) die(std::string("SA event ring: ") + rte_strerror(rte_errno));
    ic.events = d.sa_events;
    d.installer = std::make_unique<ike::FastpathInstaller>(std::move(ic));
    if (!d.installer->publish(&err)) die("SPD with IKE-bound policies: " + err);
  }
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

  // Inbound SA steering: with several workers, ESP for an SA that RSS gave to another worker is
  // handed to the SA's owner (one decapsulating worker per SA).
  if (nworkers > 1) {
    for (uint32_t w = 0; w < nworkers; ++w) {
      const std::string name = "esprit_handoff" + std::to_string(w);
      rte_ring* r = rte_ring_create(name.c_str(), kHandoffRing, static_cast<int>(rte_socket_id()), RING_F_SC_DEQ);
      if (!r) die("handoff ring: " + std::string(rte_strerror(rte_errno)));
      d.tables.handoff.push_back(r);
    }
  }

  // Workers: worker i polls RX queue i of every port and sends on TX queue i.
  for (uint32_t w = 0; w < nworkers; ++w) {
    std::vector<RxQueue> rx;
    for (const auto& p : d.ports)
      if (w < p->spec().rx_queues) rx.push_back({p->id(), static_cast<uint16_t>(w)});
    auto esp = EspWorker::create(d.sa_events, &err, d.wake.get());
    if (!esp) die("ESP worker: " + err);
    d.workers.push_back(std::make_unique<GatewayWorker>(d.tables, w, std::move(rx), static_cast<uint16_t>(w),
                                                        std::move(esp),
                                                        std::make_unique<NeighborWorker>(*d.neighbors)));
    d.workers.back()->set_idle_sleep(std::chrono::microseconds(c.daemon.worker_idle_sleep_us));
    if (!d.workers.back()->fragmentation_ready()) die("worker " + std::to_string(w) + ": reassembly table");
  }
}

/// A policy selector's side as an IKE traffic selector (address range, protocol, ports).
ike::TrafficSelector to_ike_ts(const IpPrefix& p, uint8_t proto, const PortRange& ports) {
  std::array<uint8_t, 16> lo{}, hi{};
  const bool v4 = p.family() == IpFamily::kV4;
  const std::size_t n = v4 ? 4 : 16;
  std::memcpy(lo.data(), p.address().bytes(), n);
  for (std::size_t i = 0; i < n; ++i) {
    const int bits = std::clamp(static_cast<int>(p.length()) - static_cast<int>(i * 8), 0, 8);
    const uint8_t mask = static_cast<uint8_t>(0xff00u >> bits);
    lo[i] &= mask;
    hi[i] = static_cast<uint8_t>(lo[i] | static_cast<uint8_t>(~mask));
  }
  auto addr = [&](const std::array<uint8_t, 16>& b) {
    return v4 ? IpAddress::v4((uint32_t{b[0]} << 24) | (uint32_t{b[1]} << 16) | (uint32_t{b[2]} << 8) | b[3])
              : IpAddress::v6(b);
  };
  return ike::ts_range(addr(lo), addr(hi), proto, ports.lo, ports.hi);
}

/// Our outer address towards an IKE peer: [[peer]] local, else an address of a port whose
/// connected subnet holds the peer, else the first address of the peer's family.
std::optional<IpAddress> local_address_for(const Config& c, const IkePeer& peer) {
  if (peer.local) return peer.local;
  if (!peer.address) {
    for (const PortConfig& pc : c.ports)
      if (pc.role != PortRole::kProtected && !pc.ipv4.empty()) return pc.ipv4.front().address;
    return std::nullopt;
  }
  for (const PortConfig& pc : c.ports)
    for (const auto* list : {&pc.ipv4, &pc.ipv6})
      for (const InterfaceAddress& a : *list)
        if (a.subnet().contains(*peer.address)) return a.address;
  for (const PortConfig& pc : c.ports)
    for (const auto* list : {&pc.ipv4, &pc.ipv6})
      for (const InterfaceAddress& a : *list)
        if (a.address.family() == peer.address->family() && pc.role != PortRole::kProtected) return a.address;
  return std::nullopt;
}

/// One ManagedPeer per [[peer]]: its effective settings (under the overrides of the first policy
/// or tunnel bound to it), our address towards it, the TS of its policies (outbound rules: src is
/// ours) or 0.0.0.0/0 and ::/0 for a tunnel.
std::vector<ike::ManagedPeer> managed_peers(Daemon& d) {
  const Config& c = d.config;
  std::vector<ike::ManagedPeer> out;
  for (const IkePeer& peer : c.ike.peers) {
    std::vector<ike::TrafficSelector> local_ts, remote_ts;
    const IkeSettings* overrides = nullptr;
    for (const NamedPolicyRule& r : d.named_rules) {
      const PolicyConfig& pol = c.policies[r.policy_index];
      if (pol.peer != peer.name || r.rule.direction != PolicyDirection::kOutbound ||
          r.rule.action != PolicyAction::kProtect)
        continue;
      if (!overrides) overrides = &pol.ike;
      local_ts.push_back(to_ike_ts(r.rule.selector.src, r.rule.selector.proto, r.rule.selector.sport));
      remote_ts.push_back(to_ike_ts(r.rule.selector.dst, r.rule.selector.proto, r.rule.selector.dport));
    }
    for (const TunnelConfig& t : c.tunnels) {
      if (t.peer != peer.name) continue;
      if (!overrides) overrides = &t.ike;
      for (IpFamily f : {IpFamily::kV4, IpFamily::kV6}) {
        local_ts.push_back(to_ike_ts(IpPrefix::any(f), 0, PortRange{}));
        remote_ts.push_back(to_ike_ts(IpPrefix::any(f), 0, PortRange{}));
      }
    }
    if (local_ts.empty()) {
      ESPRIT_LOG_WARNING("peer %s: no policy or tunnel is bound to it; it negotiates 0.0.0.0/0 and ::/0",
                         peer.name.c_str());
      for (IpFamily f : {IpFamily::kV4, IpFamily::kV6}) {
        local_ts.push_back(to_ike_ts(IpPrefix::any(f), 0, PortRange{}));
        remote_ts.push_back(to_ike_ts(IpPrefix::any(f), 0, PortRange{}));
      }
    }
    const auto local = local_address_for(c, peer);
    if (!local) die("peer " + peer.name + ": no local address of ours reaches it (set local = ...)");
    std::string err;
    auto m = ike::make_managed_peer(c.ike, peer, resolve_ike_settings(c.ike, peer, overrides), *local,
                                    std::move(local_ts), std::move(remote_ts), &err);
    if (!m) die("peer " + peer.name + ": " + err);
    m->sink = &d.installer->sink(peer.name);
    if (d.keys) {
      d.keys_sinks.push_back(std::make_unique<KeysWritingSink>(*m->sink, *d.keys));
      m->sink = d.keys_sinks.back().get();
    }
    ESPRIT_LOG_INFO("IKE peer %s: %s, local %s", peer.name.c_str(),
                    peer.address ? peer.address->to_string().c_str() : "any", local->to_string().c_str());
    out.push_back(std::move(*m));
  }
  return out;
}

/// connect_type trigger: an outbound PROTECT rule of a peer that has no SA yet (sa_index kNoSaSlot)
/// whose hit counter grew since the last look had packets dropped as no_sa: acquire(peer). The
/// manager rate-limits (acquire_holdoff) and ignores responder-only peers. Control core only.
class NoSaAcquirer {
 public:
  NoSaAcquirer(const Daemon& d, ike::IkeManager& m) : spd_(*d.spd), m_(m) {
    for (const NamedPolicyRule& r : d.named_rules)
      if (!d.config.policies[r.policy_index].peer.empty())
        peer_of_[r.rule.name] = d.config.policies[r.policy_index].peer;
  }
  void poll() {
    // The watch tells a rebuilt table by its serial: a Child SA's SPD rebuild usually lands at the
    // freed table's address, and a pointer compare kept the old, shorter counter vector (reads and
    // writes past its end: heap corruption, std::bad_alloc in the IKE handler under ikeload).
    watch_.poll(*spd_.outbound(), [&](const PolicyRule& r) {
      const auto p = peer_of_.find(r.name);
      // With the IKE SA up but no Child SA left (hard lifetime, the peer deleted it), acquire
      // creates one on it; with Child SAs up it is a no-op (kAlreadyUp).
      if (p != peer_of_.end()) (void)m_.acquire(p->second);
    });
  }

 private:
  const Spd& spd_;
  ike::IkeManager& m_;
  std::unordered_map<std::string, std::string> peer_of_;
  SpdNoSaWatch watch_{kNoSaSlot};
};

/// The IKE control socket commands over the manager (docs/operations.md).
void register_ike_commands(CommandRegistry& r, ike::IkeManager& m, const ike::FastpathInstaller* installer) {
  using nlohmann::json;
  auto json_flag = [](const json& a) {
    for (auto it = a.begin(); it != a.end(); ++it)
      if (it.key() != "peer") throw CommandError("unknown argument " + it.key());
  };
  r.add("show ikev2 sa", "IKE SAs (NEC layout; --json for every field)", [&m, json_flag](const json& a) {
    json_flag(a);
    const auto snap = m.snapshot();
    return json{{"text", ike::format_ike_sas(snap)}, {"sas", json::parse(ike::ike_sas_json(snap))}};
  });
  r.add("show ikev2 child-sa", "Child SAs of the IKE SAs (NEC layout)", [&m, json_flag](const json& a) {
    json_flag(a);
    const auto snap = m.snapshot();
    return json{{"text", ike::format_child_sas(snap)}, {"sas", json::parse(ike::ike_sas_json(snap))}};
  });
  r.add("show ikev2 statistics", "IKE exchange counters and failures (of one peer with \"peer\")",
        [&m, installer, json_flag](const json& a) {
          json_flag(a);
          const ike::IkeStats* s = &m.statistics();
          if (a.contains("peer")) {
            s = m.statistics(a["peer"].get<std::string>());
            if (!s) throw CommandError("unknown peer " + a["peer"].dump());
          }
          json out{{"text", ike::format_statistics(*s)}, {"statistics", json::parse(ike::statistics_json(*s))}};
          if (installer && !a.contains("peer")) {
            // The SPD publications of the Child SAs (docs/ike.md "SPD publication").
            const ike::SpdPublishStats& p = installer->publish_stats();
            char line[160];
            std::snprintf(line, sizeof line, "SPD : %llu publications, %llu rules (%llu narrowed), last build %.1f ms\n",
                          static_cast<unsigned long long>(p.publications), static_cast<unsigned long long>(p.rules),
                          static_cast<unsigned long long>(p.narrowed), p.last_build_s * 1e3);
            out["text"] = out["text"].get<std::string>() + line;
            out["statistics"]["spd"] = {{"publications", p.publications}, {"rules", p.rules},
                                        {"narrowed", p.narrowed},         {"last_build_ms", p.last_build_s * 1e3},
                                        {"max_build_ms", p.max_build_s * 1e3}, {"pending", installer->pending()}};
          }
          return out;
        });
  r.add("clear ikev2 sa", "delete the IKE SAs (and their Child SAs) of one peer, or all", [&m, json_flag](const json& a) {
    json_flag(a);
    const std::string peer = a.contains("peer") ? a["peer"].get<std::string>() : std::string();
    const std::size_t n = m.clear(peer);
    return json{{"cleared", n}, {"text", std::to_string(n) + " IKE SA(s) cleared"}};
  });
  r.add("initiate", "bring up the IKE SA of a peer (\"peer\")", [&m, json_flag](const json& a) {
    json_flag(a);
    if (!a.contains("peer") || !a["peer"].is_string()) throw CommandError("initiate needs a peer");
    const std::string peer = a["peer"].get<std::string>();
    const ike::InitiateResult res = m.initiate(peer);
    if (res == ike::InitiateResult::kUnknownPeer) throw CommandError("unknown peer " + peer);
    const std::string what(ike::to_string(res));
    return json{{"peer", peer}, {"result", what}, {"text", "peer " + peer + ": " + what}};
  });
}

/// Per-SA lines are printed at every --stats-interval only up to this many SAs; at exit always.
constexpr uint32_t kPeriodicSaLines = 64;

/// What the control loop drives (main's objects).
struct ControlLoop {
  LocalServices& services;
  ControlServer& control;
  GatewayStats& stats;
  ike::FastpathInstaller* installer;  ///< nullptr without [[peer]]s
  Sad& sad;
  ike::IkeManager* manager;           ///< nullptr without [[peer]]s
  NoSaAcquirer* acquirer;             ///< with manager
  std::chrono::steady_clock::duration stats_interval;
  bool print_stats;
  /// The idle control core blocks on it; the workers ring it after enqueueing onto the rings below.
  ControlWake& wake;
  rte_ring* punt;                     ///< punted frames (LocalServices::poll drains it)
  const NeighborTable& neighbors;     ///< resolution requests (LocalServices::poll)
  rte_ring* sa_events;                ///< Child SA limit events (deliver_events); nullptr without peers
  IkeTransport& ike;                  ///< its TX backlog is retried every turn (flush)
};

/// A turn that did work is followed by the next at once, and so are idle turns for kSpinAfterWork
/// after the last one that did work: under load the next datagram is that close, and a blocked
/// thread waits for the scheduler to give the CPU back, often milliseconds on a shared CPU (the
/// setup rate under `scripts/ikeload` is lower without the spin). Then the control core blocks
/// until a worker hands it work (ControlWake), an espritctl client is ready, or the next thing
/// due: an IKE deadline, a paced SPD publication, the stats, kHousekeeping
/// (docs/performance.md "Control loop: woken by the workers").
constexpr std::chrono::microseconds kSpinAfterWork{200};
/// The connect_type trigger's look at the SPD counters (NoSaAcquirer), a tick of the IKE manager
/// even when its deadline heap says nothing is due, and the neighbour table's timers (ARP/ND
/// probe retransmission every second; they have no deadline of their own): the longest block.
constexpr std::chrono::milliseconds kHousekeeping{100};
/// Ticks at the manager's deadlines come at most this often: an SA left due by its own tick (it
/// runs once per tick) cannot make the loop spin, and no IKE timer needs finer steps.
constexpr std::chrono::milliseconds kMinTickGap{1};
/// While IKE frames wait in the transport's TX backlog (a burst larger than the control TX queue
/// or ring), the idle control core blocks at most this long between retries: the worker draining
/// the ring (or the NIC its queue) does not ring the doorbell.
constexpr std::chrono::microseconds kTxBacklogRetry{50};
/// The shortest block: a deadline already past (a stale heap item) never makes a busy loop.
constexpr std::chrono::microseconds kMinBlock{5};
/// At SIGTERM / SIGINT, how long the Deletes of the IKE SAs may wait for their answers.
constexpr std::chrono::milliseconds kShutdownWait{1000};

/// The control core's loop, until a signal (and the IKE SAs' Deletes, at most kShutdownWait).
/// Each turn: punted frames (IKE, ARP/ND, ICMP), the IKE timers when their deadline came, the SPD
/// publication of this turn's Child SA changes, the SAD's reclaim, espritctl requests, the stats.
void run_control_loop(const ControlLoop& l) {
  using clock = std::chrono::steady_clock;
  // Timer slack 1 us instead of Linux's 50 us default: a block until a deadline ends on time.
  (void)prctl(PR_SET_TIMERSLACK, 1000UL, 0UL, 0UL, 0UL);
  auto next_stats = clock::now() + l.stats_interval;
  auto next_housekeeping = clock::now();
  auto last_work = clock::now();
  auto last_tick = clock::now();
  uint64_t publications = l.installer ? l.installer->publish_stats().publications : 0;
  bool stopping = false;
  clock::time_point stop_by{};
  std::vector<pollfd> fds;  // the control socket's, while blocked
  auto at = [](ike::Duration d) { return clock::time_point(std::chrono::duration_cast<clock::duration>(d)); };
  // What the workers may have handed over since the last turn: the rings they ring the doorbell
  // for (after ControlWake::prepare_sleep(), whose fence orders this look after the flag's store).
  auto rings_waiting = [&l] {
    return !rte_ring_empty(l.punt) || l.neighbors.requests_pending() || (l.sa_events && !rte_ring_empty(l.sa_events));
  };
  for (;;) {
    const auto now = clock::now();
    const int signals = g_signals.load();
    if (signals > 0 && !stopping) {
      stopping = true;
      const std::size_t deletes = l.manager ? l.manager->shutdown() : 0;
      if (!l.manager || l.manager->shutdown_pending() == 0) return;
      ESPRIT_LOG_NOTICE("stopping: deleting %zu IKE SA(s) (RFC 7296 1.4.1), waiting up to %lld ms for the answers",
                        deletes, static_cast<long long>(kShutdownWait.count()));
      stop_by = now + kShutdownWait;
    }
    if (stopping) {
      if (l.manager->shutdown_pending() == 0) return;
      if (signals > 1) {
        ESPRIT_LOG_NOTICE("second signal: stopping without waiting for %zu IKE SA(s)", l.manager->shutdown_pending());
        return;
      }
      if (now >= stop_by) {
        ESPRIT_LOG_NOTICE("stopping: %zu IKE SA(s) not answered within %lld ms", l.manager->shutdown_pending(),
                          static_cast<long long>(kShutdownWait.count()));
        return;
      }
    }
    uint32_t work = l.services.poll(now.time_since_epoch());
    if (l.manager) {
      bool tick = false;
      if (now >= next_housekeeping) {
        l.acquirer->poll();  // connect_type trigger: no_sa drops of a peer's policy start its IKE SA
        next_housekeeping = now + kHousekeeping;
        tick = true;
      }
      // Retransmissions, lifetimes, DPD, re-establishment, NAT keepalives: when the earliest is due.
      if (const auto due = l.manager->next_deadline(); due && at(*due) <= now && now - last_tick >= kMinTickGap)
        tick = true;
      if (tick) {
        l.manager->tick();  // not counted as work: what it sends is answered later, if at all
        last_tick = now;
      }
    } else if (now >= next_housekeeping) {
      next_housekeeping = now + kHousekeeping;
    }
    if (l.installer) {
      // Child SA packet/byte limits the workers reached: soft starts a rekey, hard stops the SA.
      if (l.manager) work += static_cast<uint32_t>(l.installer->deliver_events(*l.manager));
      // Child SA changes of this turn: one SPD publication at most (paced; docs/ike.md).
      (void)l.installer->flush();
      work += static_cast<uint32_t>(l.installer->publish_stats().publications - publications);
      publications = l.installer->publish_stats().publications;
    }
    // IKE frames the control TX path refused earlier (a burst, e.g. the Deletes at shutdown).
    work += static_cast<uint32_t>(l.ike.flush());
    l.sad.reclaim();  // frees SAs unpublished a grace period ago (never blocks)
    work += l.control.poll(now);  // non-blocking: espritctl requests
    if (l.print_stats && now >= next_stats) {
      l.stats.print_summary(stdout, kPeriodicSaLines);
      next_stats += l.stats_interval;
    }
    if (work != 0) {
      last_work = now;
      continue;
    }
    if (now - last_work < kSpinAfterWork) {
      rte_pause();
      continue;
    }
    // Idle: block until the workers hand over work, a client is ready, or the next thing due.
    auto wake = next_housekeeping;
    if (l.manager)
      if (const auto due = l.manager->next_deadline()) wake = std::min(wake, std::max(at(*due), last_tick + kMinTickGap));
    if (l.installer && l.installer->pending()) wake = std::min(wake, l.installer->next_publish());
    if (l.print_stats) wake = std::min(wake, next_stats);
    if (stopping) wake = std::min(wake, stop_by);
    if (l.ike.tx_backlog() != 0) wake = std::min<clock::time_point>(wake, now + kTxBacklogRetry);
    l.wake.prepare_sleep();
    // A signal needs no look here: its handler writes the eventfd, so wait() returns at once.
    if (rings_waiting()) {
      l.wake.cancel_sleep();
      continue;
    }
    fds.clear();
    l.control.add_wait_fds(fds);
    (void)l.wake.wait(std::max<clock::duration>(wake - clock::now(), kMinBlock), fds);
  }
}

}  // namespace
}  // namespace esprit

int main(int argc, char** argv) {
  using namespace esprit;
  set_log_ident("espritd");
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
  std::string config_path, log_level_arg;
  double stats_interval = 0;
  desc.add_options()("help,h", "this help")("config,c", po::value(&config_path), "configuration file (TOML)")(
      "check-config", "load and check the configuration, then exit")(
      "log-level", po::value(&log_level_arg),
      "error, warning, notice, info or debug (overrides [daemon] log_level; default info)")(
      "stats-interval", po::value(&stats_interval)->default_value(0),
      "print counters every N seconds (0: at exit); above 64 SAs, per-SA lines only at exit");
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
  std::optional<LogLevel> cli_level;
  if (vm.count("log-level")) {
    cli_level = parse_log_level(log_level_arg);
    if (!cli_level) {
      std::fprintf(stderr, "espritd: --log-level \"%s\": expected error, warning, notice, info or debug\n",
                   log_level_arg.c_str());
      return 2;
    }
    set_log_level(*cli_level);
  }
  if (!(stats_interval >= 0)) {
    std::fprintf(stderr, "espritd: --stats-interval must be 0 or more seconds\n");
    return 2;
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
  for (const std::string& w : loaded->ike.warnings) std::fprintf(stderr, "espritd: warning: %s\n", w.c_str());
  if (vm.count("check-config")) {
    std::printf("espritd: %s: configuration OK\n", config_path.c_str());
    return 0;
  }

  Daemon d;
  d.config = std::move(loaded).value();
  set_log_level(cli_level.value_or(d.config.daemon.log_level));

  // The control socket first: a second daemon on the same socket stops here, before it touches
  // the EAL or any device.
  std::string err;
  auto control = ControlServer::open({d.config.daemon.control_socket, d.config.daemon.control_socket_group}, &err);
  if (!control) die(err);
  g_control_socket = control->path();

  std::vector<std::string> eal = {"espritd"};
  for (const auto& a : d.config.eal.args) eal.push_back(a);
  // The EAL attaches exactly our devices: PCI ports by allowlist, virtual ones by --vdev.
  bool any_pci = false;
  for (const PortConfig& pc : d.config.ports) {
    // The frame sizes the MTU needs (net_af_packet: framesz/blocksz added to its arguments).
    d.frames.push_back(port_frames(pc.device, pc.mtu));
    if (d.frames.back().rx_frame < pc.mtu + kPortL2Overhead)
      die("port " + pc.name + ": the device's frames hold " + std::to_string(d.frames.back().rx_frame) +
          " bytes, below mtu " + std::to_string(pc.mtu) + " + 14 (raise framesz or lower mtu)");
    if (pc.device_kind == DeviceKind::kPci) {
      eal.insert(eal.end(), {"-a", d.frames.back().device});
      any_pci = true;
    } else {
      eal.insert(eal.end(), {"--vdev", d.frames.back().device});
    }
  }
  if (!any_pci) eal.emplace_back("--no-pci");
  // -l / --main-lcore from [daemon] workers / main_lcore, unless [eal] args or the words after
  // "--" set lcores themselves.
  {
    std::vector<std::string> user = d.config.eal.args;
    user.insert(user.end(), eal_extra.begin(), eal_extra.end());
    for (auto& a : lcore_eal_args(d.config.daemon, user)) eal.push_back(std::move(a));
  }
  // The EAL's own messages follow our level when it is below info (DPDK: 4 error .. 6 notice).
  if (!log_enabled(LogLevel::kInfo))
    eal.push_back("--log-level=" + std::to_string(4 + static_cast<int>(log_level())));
  for (const auto& a : eal_extra) eal.push_back(a);
  {
    std::string line;
    for (const auto& a : eal) {
      if (!line.empty()) line += " ";
      line += a;
    }
    ESPRIT_LOG_INFO("EAL arguments: %s", line.c_str());
  }
  std::vector<char*> eal_argv;
  for (auto& a : eal) eal_argv.push_back(a.data());
  if (rte_eal_init(static_cast<int>(eal_argv.size()), eal_argv.data()) < 0)
    die(std::string("EAL: ") + rte_strerror(rte_errno));
  std::vector<uint32_t> enabled;
  unsigned lcore;
  RTE_LCORE_FOREACH_WORKER(lcore) enabled.push_back(lcore);
  auto selected = select_worker_lcores(d.config.daemon, enabled, rte_get_main_lcore());
  if (auto* e = std::get_if<std::string>(&selected)) die(*e);
  d.worker_lcores = std::get<std::vector<uint32_t>>(selected);

  build(d);
  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);
  for (std::size_t i = 0; i < d.workers.size(); ++i) {
    if (rte_eal_remote_launch(worker_main, d.workers[i].get(), d.worker_lcores[i]) != 0)
      die("cannot launch worker " + std::to_string(i) + " on lcore " + std::to_string(d.worker_lcores[i]));
  }

  LocalServices services(d.tables, d.pool);
  // IKE datagrams (docs/ike.md, "Transport") go to the IKE SA manager ("The IKE SA manager"),
  // which sends through the transport; its NAT-T keepalives go out through the transport too (the
  // manager decides when, the transport's own NattKeepalives is not used).
  IkeTransport ike(d.tables, d.pool);
  ike::SteadyClock ike_clock;
  std::unique_ptr<ike::IkeManager> manager;
  std::unique_ptr<NoSaAcquirer> acquirer;
  if (d.installer) {
    ike::IkeManagerEnv env;
    env.rng = &ike::SystemRandom::instance();
    env.clock = &ike_clock;
    env.send = [&ike](const IpAddress& local, uint16_t lport, const IpAddress& remote, uint16_t rport,
                      std::span<const uint8_t> bytes) {
      (void)ike.send({local, lport}, {remote, rport}, bytes, std::chrono::steady_clock::now().time_since_epoch());
    };
    env.send_keepalive = [&ike](const IpAddress& local, uint16_t, const IpAddress& remote, uint16_t rport) {
      (void)ike.send_keepalive(local, {remote, rport}, std::chrono::steady_clock::now().time_since_epoch());
    };
    // The Child SA's own packets and bytes (not its slot's: an outbound rekey reuses the slot).
    env.counters = [&d](uint32_t spi, SaDirection dir) { return d.installer->counters(spi, dir); };
    env.limit_events = true;  // run_control_loop() drains the events (deliver_events)
    if (d.keys)
      env.on_established = [&d](const std::string& peer, const ike::IkeSa& sa) { write_ike_sa_keys(*d.keys, peer, sa); };
    manager = std::make_unique<ike::IkeManager>(managed_peers(d), std::move(env));
    ike.set_handler([&manager](const IkeDatagram& dg) {
      manager->receive(dg.local.address, dg.local.port, dg.remote.address, dg.remote.port, dg.message);
    });
    register_ike_commands(control->commands(), *manager, d.installer.get());
    acquirer = std::make_unique<NoSaAcquirer>(d, *manager);
  } else {
    ike.set_handler([](const IkeDatagram& dg) {
      ESPRIT_LOG_DEBUG("IKE message of %zu bytes from %s:%u to %s:%u dropped: no [[peer]] configured",
                       dg.message.size(), dg.remote.address.to_string().c_str(), dg.remote.port,
                       dg.local.address.to_string().c_str(), dg.local.port);
    });
  }
  services.set_ike(&ike);
  GatewayView view;
  view.config = &d.config;
  view.tables = &d.tables;
  for (const auto& w : d.workers) view.workers.push_back(w.get());
  view.worker_lcores = d.worker_lcores;
  view.services = &services;
  view.ike = &ike;
  view.control = control.get();
  view.sa_names = d.sa_names;
  GatewayStats stats(std::move(view));
  stats.register_commands(control->commands());

  ESPRIT_LOG_NOTICE("running with %zu worker(s) on lcore(s) %s, control core lcore %u, control socket %s",
                    d.workers.size(),
                    [&] {
                      std::string l;
                      for (uint32_t w : d.worker_lcores) {
                        if (!l.empty()) l += ",";
                        l += std::to_string(w);
                      }
                      return l;
                    }()
                        .c_str(),
                    rte_get_main_lcore(), control->path().c_str());
  // Scripts wait for this line on stdout.
  std::printf("espritd: running with %zu worker(s)\n", d.workers.size());
  std::fflush(stdout);

  const auto interval = std::chrono::duration_cast<std::chrono::steady_clock::duration>(
      std::chrono::duration<double>(stats_interval));
  if (d.config.daemon.worker_idle_sleep_us > 0)
    ESPRIT_LOG_NOTICE("workers sleep %u us after %u idle polls ([daemon] worker_idle_sleep_us)",
                      d.config.daemon.worker_idle_sleep_us, GatewayWorker::kIdlePolls);
  if (manager) manager->start();  // connect_type = "auto" peers initiate
  g_wake.store(d.wake.get());
  run_control_loop(ControlLoop{services, *control, stats, d.installer.get(), *d.sad, manager.get(), acquirer.get(),
                               interval, stats_interval > 0, *d.wake, d.tables.punt, *d.neighbors, d.sa_events, ike});
  g_wake.store(nullptr);
  g_workers_stop.store(true);
  ESPRIT_LOG_NOTICE("stopping");
  if (ike.tx_backlog() != 0)  // heap bytes, freed with the transport
    ESPRIT_LOG_NOTICE("%zu IKE frame(s) still in the TX backlog, not sent", ike.tx_backlog());
  acquirer.reset();
  manager.reset();
  d.installer.reset();
  rte_eal_mp_wait_lcore();
  stats.print_summary(stdout);
  control.reset();  // removes the socket file
  // Everything below lives in EAL memory: release it before the EAL goes.
  d.workers.clear();
  d.spd.reset();
  d.neighbors.reset();
  d.fib.reset();
  d.sad.reset();
  d.ports.clear();
  // Mbufs still in rings go back to the pool before it goes (the workers' destructors drained
  // their handoff rings and TX buffers; the neighbour table freed its hold queues and requests).
  auto free_ring = [](rte_ring* r) {
    if (!r) return;
    void* m;
    while (rte_ring_dequeue(r, &m) == 0) rte_pktmbuf_free(static_cast<rte_mbuf*>(m));
    rte_ring_free(r);
  };
  for (rte_ring* r : d.tables.control_tx) free_ring(r);
  for (rte_ring* r : d.tables.handoff) free_ring(r);
  free_ring(d.tables.punt);
  rte_ring_free(d.sa_events);
  // Every mbuf should be back now (caches included); anything else is a leak worth reporting.
  for (rte_mempool* mp : {d.pool, d.indirect_pool}) {
    const unsigned in_use = mp ? rte_mempool_in_use_count(mp) : 0;
    if (in_use) ESPRIT_LOG_WARNING("%u mbufs of %s not returned at shutdown", in_use, mp->name);
  }
  d.rcu.reset();
  rte_mempool_free(d.indirect_pool);
  rte_mempool_free(d.pool);
  rte_eal_cleanup();
  return 0;
}
