#include "esprit/control/gateway_stats.hpp"

#include <intel-ipsec-mb.h>
#include <rte_ethdev.h>
#include <rte_version.h>
#include <unistd.h>

#include <algorithm>
#include <ctime>

#include "esprit/common/algorithms.hpp"
#include "esprit/common/log.hpp"
#include "esprit/control/control_socket.hpp"
#include "esprit/fastpath/drop_reason.hpp"
#include "esprit/fastpath/port.hpp"
#include "esprit/fastpath/route.hpp"
#include "esprit/fastpath/sad.hpp"
#include "esprit/fastpath/spd.hpp"

#ifndef ESPRIT_VERSION
#define ESPRIT_VERSION "unknown"
#endif

namespace esprit {
namespace {

using nlohmann::json;

uint64_t minus(uint64_t now, uint64_t base) { return now >= base ? now - base : now; }

/// Each listed counter field of `r` less the same field of `base` (as minus()).
template <class T, class... F>
void subtract_fields(T& r, const T& base, F... fields) {
  ((r.*fields = minus(r.*fields, base.*fields)), ...);
}

std::string mac_text(const rte_ether_addr& m) {
  char b[18];
  std::snprintf(b, sizeof b, "%02x:%02x:%02x:%02x:%02x:%02x", m.addr_bytes[0], m.addr_bytes[1], m.addr_bytes[2],
                m.addr_bytes[3], m.addr_bytes[4], m.addr_bytes[5]);
  return b;
}

std::string iso_time(std::chrono::system_clock::time_point t) {
  const std::time_t s = std::chrono::system_clock::to_time_t(t);
  tm utc{};
  gmtime_r(&s, &utc);
  char b[32];
  std::strftime(b, sizeof b, "%Y-%m-%dT%H:%M:%SZ", &utc);
  return b;
}

std::string ports_text(const PortRange& r) {
  if (r.any()) return "any";
  return r.lo == r.hi ? std::to_string(r.lo) : std::to_string(r.lo) + "-" + std::to_string(r.hi);
}

json gateway_counters_json(const GatewayCounters& c) {
  json drops = json::object();
  uint64_t total = 0;
  for (const auto& info : kGatewayDrops) {
    const uint64_t v = c.drops[static_cast<std::size_t>(info.drop)];
    drops[std::string(info.name)] = v;
    total += v;
  }
  json j = json::object();
#define ESPRIT_X(f, d) j[#f] = c.f;
  ESPRIT_GATEWAY_COUNTERS(ESPRIT_X)
#undef ESPRIT_X
  j["dropped"] = total;
  j["drops"] = drops;
  return j;
}

json neighbor_worker_json(const std::array<uint64_t, static_cast<std::size_t>(NeighborWorkerCounter::kCount)>& a) {
  json j = json::object();
  for (std::size_t i = 0; i < a.size(); ++i) j[std::string(kNeighborWorkerCounters[i].name)] = a[i];
  return j;
}

json local_json(const LocalServiceCounters& l) {
  return {{"arp_requests", l.arp_requests}, {"arp_replies", l.arp_replies}, {"echo_replies", l.echo_replies},
          {"nd_solicits", l.nd_solicits},   {"nd_adverts", l.nd_adverts},   {"probes_sent", l.probes_sent},
          {"released", l.released},         {"ike", l.ike},                 {"ignored", l.ignored},
          {"tx_full", l.tx_full}};
}

json ike_json(const IkeIoCounters& c, std::size_t backlog) {
  json drops = json::object();
  uint64_t total = 0;
  for (const auto& info : kIkeIoDrops) {
    drops[std::string(info.name)] = c.drop(info.drop);
    total += c.drop(info.drop);
  }
  return {{"rx_500", c.rx_500},
          {"rx_4500", c.rx_4500},
          {"tx", c.tx},
          {"tx_fragments", c.tx_fragments},
          {"held", c.held},
          {"keepalives", c.keepalives},
          {"handler_errors", c.handler_errors},
          {"tx_deferred", c.tx_deferred},
          {"tx_backlog_max", c.tx_backlog_max},
          {"tx_backlog", backlog},
          {"dropped", total},
          {"drops", drops}};
}

}  // namespace

// ---- collection

CounterSnapshot collect_counters(const GatewayView& v) {
  CounterSnapshot s;
  s.taken = std::chrono::steady_clock::now();
  for (const Port* p : v.tables->ports) {
    if (!p) continue;
    PortSnapshot ps;
    ps.id = p->id();
    rte_eth_stats st{};
    if (rte_eth_stats_get(p->id(), &st) == 0) {
      ps.ipackets = st.ipackets;
      ps.opackets = st.opackets;
      ps.ibytes = st.ibytes;
      ps.obytes = st.obytes;
      ps.ierrors = st.ierrors;
      ps.oerrors = st.oerrors;
      ps.imissed = st.imissed;
      ps.rx_nombuf = st.rx_nombuf;
    }
    s.ports.push_back(ps);
  }
  for (const GatewayWorker* w : v.workers) {
    WorkerSnapshot ws;
    ws.id = w->id();
    ws.counters = w->counters().snapshot();
    for (std::size_t i = 0; i < ws.neighbor.size(); ++i)
      ws.neighbor[i] = w->neighbor_counters().get(static_cast<NeighborWorkerCounter>(i));
    s.workers.push_back(ws);
  }
  v.tables->sad->for_each([&](uint32_t slot, const EspSa& sa) {
    s.sas.push_back({slot, sa.spi(), sa.direction(), v.tables->sad->totals(slot)});
  });
  for (PolicyDirection d : {PolicyDirection::kOutbound, PolicyDirection::kInbound}) {
    const SpdTable* t = v.tables->spd->table(d);
    const auto rules = t->rules();
    for (uint32_t i = 0; i < rules.size(); ++i) s.policies.push_back({d, i, rules[i].name, t->hits(i)});
    s.policies.push_back({d, PolicySnapshot::kDefaultRule, "", t->default_hits()});
    s.policies.push_back({d, PolicySnapshot::kInvalidRule, "", t->invalid_hits()});
  }
  s.control = v.services->counters();
  if (v.ike) {
    s.ike = v.ike->counters();
    s.ike_backlog = v.ike->tx_backlog();
  }
  s.neighbor = v.tables->neighbors->counters();
  return s;
}

CounterSnapshot counters_since(const CounterSnapshot& now, const CounterSnapshot& base) {
  CounterSnapshot r = now;
  for (PortSnapshot& p : r.ports) {
    auto b = std::find_if(base.ports.begin(), base.ports.end(), [&](const PortSnapshot& x) { return x.id == p.id; });
    if (b == base.ports.end()) continue;
    subtract_fields(p, *b, &PortSnapshot::ipackets, &PortSnapshot::opackets, &PortSnapshot::ibytes,
                    &PortSnapshot::obytes, &PortSnapshot::ierrors, &PortSnapshot::oerrors, &PortSnapshot::imissed,
                    &PortSnapshot::rx_nombuf);
  }
  for (WorkerSnapshot& w : r.workers) {
    auto b = std::find_if(base.workers.begin(), base.workers.end(), [&](const WorkerSnapshot& x) { return x.id == w.id; });
    if (b == base.workers.end()) continue;
    GatewayCounters& c = w.counters;
    const GatewayCounters& o = b->counters;
#define ESPRIT_X(f, d) c.f = minus(c.f, o.f);
    ESPRIT_GATEWAY_COUNTERS(ESPRIT_X)
#undef ESPRIT_X
    for (std::size_t i = 0; i < std::size(c.drops); ++i) c.drops[i] = minus(c.drops[i], o.drops[i]);
    for (std::size_t i = 0; i < w.neighbor.size(); ++i) w.neighbor[i] = minus(w.neighbor[i], b->neighbor[i]);
  }
  for (SaSnapshot& s : r.sas) {
    auto b = std::find_if(base.sas.begin(), base.sas.end(), [&](const SaSnapshot& x) {
      return x.slot == s.slot && x.spi == s.spi && x.direction == s.direction;
    });
    if (b == base.sas.end()) continue;
    SaCounters& c = s.counters;
    const SaCounters& o = b->counters;
    if (c.packets < o.packets || c.bytes < o.bytes) continue;  // the slot was reused
    c.packets -= o.packets;
    c.bytes -= o.bytes;
    for (std::size_t i = 0; i < c.drops.size(); ++i) c.drops[i] = minus(c.drops[i], o.drops[i]);
  }
  for (PolicySnapshot& p : r.policies) {
    auto b = std::find_if(base.policies.begin(), base.policies.end(), [&](const PolicySnapshot& x) {
      return x.direction == p.direction && x.index == p.index && x.name == p.name;
    });
    if (b != base.policies.end()) p.hits = minus(p.hits, b->hits);
  }
  using L = LocalServiceCounters;
  subtract_fields(r.control, base.control, &L::arp_requests, &L::arp_replies, &L::echo_replies, &L::nd_solicits,
                  &L::nd_adverts, &L::probes_sent, &L::released, &L::ike, &L::ignored, &L::tx_full);
  // tx_backlog_max is a high-water mark: kept, not subtracted.
  using I = IkeIoCounters;
  subtract_fields(r.ike, base.ike, &I::rx_500, &I::rx_4500, &I::tx, &I::tx_fragments, &I::held, &I::keepalives,
                  &I::handler_errors, &I::tx_deferred);
  for (std::size_t i = 0; i < std::size(r.ike.drops); ++i) r.ike.drops[i] = minus(now.ike.drops[i], base.ike.drops[i]);
  for (std::size_t i = 0; i < r.neighbor.v.size(); ++i) r.neighbor.v[i] = minus(now.neighbor.v[i], base.neighbor.v[i]);
  return r;
}

// ---- GatewayStats

GatewayStats::GatewayStats(GatewayView view)
    : v_(std::move(view)), started_(std::chrono::steady_clock::now()), started_wall_(std::chrono::system_clock::now()) {}

CounterSnapshot GatewayStats::current() const {
  CounterSnapshot now = collect_counters(v_);
  return cleared_ ? counters_since(now, baseline_) : now;
}

void GatewayStats::clear() {
  baseline_ = collect_counters(v_);
  cleared_ = true;
  cleared_wall_ = std::chrono::system_clock::now();
}

std::string GatewayStats::port_name(uint16_t id) const {
  if (id < v_.tables->ports.size() && v_.tables->ports[id]) return v_.tables->ports[id]->spec().name;
  return "port" + std::to_string(id);
}

json GatewayStats::since_json(const CounterSnapshot& s) const {
  const auto secs = std::chrono::duration<double>(s.taken - (cleared_ ? baseline_.taken : started_)).count();
  return {{"since", cleared_ ? "clear" : "start"},
          {"since_time", iso_time(cleared_ ? cleared_wall_ : started_wall_)},
          {"seconds", secs}};
}

json GatewayStats::show_version() const {
  const auto up = std::chrono::duration<double>(std::chrono::steady_clock::now() - started_).count();
  return {{"name", "espritd"},
          {"version", ESPRIT_VERSION},
          {"dpdk", std::string(rte_version()).substr(std::string_view(rte_version()).starts_with("DPDK ") ? 5 : 0)},
          {"ipsec_mb", IMB_VERSION_STR},
          {"pid", static_cast<int64_t>(getpid())},
          {"started", iso_time(started_wall_)},
          {"uptime_seconds", up},
          {"workers", v_.workers.size()},
          {"worker_lcores", v_.worker_lcores},
          {"main_lcore", rte_get_main_lcore()},
          {"log_level", std::string(to_string(log_level()))},
          {"control_socket", v_.config->daemon.control_socket}};
}

json GatewayStats::show_counters() const {
  const CounterSnapshot s = current();
  json j = since_json(s);
  json ports = json::array();
  for (const PortSnapshot& p : s.ports)
    ports.push_back({{"name", port_name(p.id)}, {"id", p.id}, {"ipackets", p.ipackets}, {"opackets", p.opackets},
                     {"ibytes", p.ibytes}, {"obytes", p.obytes}, {"ierrors", p.ierrors}, {"oerrors", p.oerrors},
                     {"imissed", p.imissed}, {"rx_nombuf", p.rx_nombuf}});
  j["ports"] = ports;
  json workers = json::array();
  GatewayCounters total;
  std::array<uint64_t, static_cast<std::size_t>(NeighborWorkerCounter::kCount)> ntotal{};
  for (std::size_t i = 0; i < s.workers.size(); ++i) {
    const WorkerSnapshot& w = s.workers[i];
    json wj = gateway_counters_json(w.counters);
    wj["id"] = w.id;
    wj["lcore"] = i < v_.worker_lcores.size() ? v_.worker_lcores[i] : 0;
    wj["neighbor"] = neighbor_worker_json(w.neighbor);
    workers.push_back(wj);
#define ESPRIT_X(f, d) total.f += w.counters.f;
    ESPRIT_GATEWAY_COUNTERS(ESPRIT_X)
#undef ESPRIT_X
    for (std::size_t k = 0; k < std::size(total.drops); ++k) total.drops[k] += w.counters.drops[k];
    for (std::size_t k = 0; k < ntotal.size(); ++k) ntotal[k] += w.neighbor[k];
  }
  j["workers"] = workers;
  json tj = gateway_counters_json(total);
  tj["neighbor"] = neighbor_worker_json(ntotal);
  j["total"] = tj;
  SaCounters esp;
  for (const SaSnapshot& sa : s.sas) esp += sa.counters;
  json espj = {{"packets", esp.packets}, {"bytes", esp.bytes}, {"dropped", esp.total_drops()}};
  j["esp"] = espj;
  j["control"] = local_json(s.control);
  j["ike"] = ike_json(s.ike, s.ike_backlog);
  json nj = json::object();
  for (std::size_t i = 0; i < s.neighbor.v.size(); ++i) nj[std::string(kNeighborCounters[i].name)] = s.neighbor.v[i];
  j["neighbor"] = nj;
  return j;
}

json GatewayStats::show_ports() const {
  const CounterSnapshot s = current();
  json ports = json::array();
  for (const PortSnapshot& p : s.ports) {
    const Port* port = v_.tables->ports[p.id];
    const PortSpec& spec = port->spec();
    rte_eth_link link{};
    const bool have_link = rte_eth_link_get_nowait(p.id, &link) == 0;
    json addrs = json::array();
    if (const PortConfig* pc = v_.config->find_port(spec.name)) {
      for (const auto* list : {&pc->ipv4, &pc->ipv6})
        for (const InterfaceAddress& a : *list) addrs.push_back(a.to_string());
    }
    ports.push_back({{"name", spec.name},
                     {"id", p.id},
                     {"device", spec.device},
                     {"role", std::string(to_string(spec.role))},
                     {"mac", mac_text(port->mac())},
                     {"mtu", spec.mtu},
                     {"addresses", addrs},
                     {"rx_queues", spec.rx_queues},
                     {"tx_queues", spec.tx_queues},
                     {"control_tx_queue", port->control_tx_queue() != Port::kNoControlQueue},
                     {"link_up", have_link && link.link_status == RTE_ETH_LINK_UP},
                     {"link_speed_mbps", have_link ? link.link_speed : 0},
                     {"ipackets", p.ipackets},
                     {"opackets", p.opackets},
                     {"ibytes", p.ibytes},
                     {"obytes", p.obytes},
                     {"ierrors", p.ierrors},
                     {"oerrors", p.oerrors},
                     {"imissed", p.imissed},
                     {"rx_nombuf", p.rx_nombuf}});
  }
  json j = since_json(s);
  j["ports"] = ports;
  return j;
}

json GatewayStats::show_sa() const {
  const CounterSnapshot s = current();
  json sas = json::array();
  for (const SaSnapshot& sa : s.sas) {
    const std::string name = sa.slot < v_.sa_names.size() ? v_.sa_names[sa.slot] : "";
    json j = {{"slot", sa.slot},
              {"name", name},
              {"spi", sa.spi},
              {"direction", std::string(to_string(sa.direction))},
              {"packets", sa.counters.packets},
              {"bytes", sa.counters.bytes},
              {"dropped", sa.counters.total_drops()}};
    if (auto info = v_.tables->sad->info(sa.slot)) {
      j["local"] = info->local.to_string();
      j["peer"] = info->remote.to_string();
    }
    if (const SaConfig* c = v_.config->find_sa(name)) {
      const SaDescriptor& d = c->descriptor;
      j["mode"] = std::string(to_string(d.mode));
      j["encr"] = std::string(info(d.encr).name);
      j["integ"] = std::string(info(d.integ).name);
      j["esn"] = d.esn;
      if (d.direction == SaDirection::kInbound) {
        j["anti_replay"] = d.anti_replay;
        j["replay_window"] = d.replay_window;
      }
      j["natt"] = d.natt ? json{{"local_port", d.natt->local_port}, {"remote_port", d.natt->remote_port}} : json(nullptr);
      for (const TunnelConfig& t : v_.config->tunnels)
        if (t.sa_out == name || std::find(t.sa_in.begin(), t.sa_in.end(), name) != t.sa_in.end()) j["tunnel"] = t.name;
    }
    if (const EspSa* e = v_.tables->sad->get(sa.slot)) {
      if (sa.direction == SaDirection::kOutbound) j["sequence"] = e->sequence();
      j["lifetime_packets"] = e->lifetime_packets();
      j["lifetime_bytes"] = e->lifetime_bytes();
      j["soft_expired"] = e->soft_expired();
      j["hard_expired"] = e->hard_expired();
    }
    json drops = json::object();
    for (const auto& r : kDropReasons) drops[std::string(r.name)] = sa.counters.drop(r.reason);
    j["drops"] = drops;
    sas.push_back(j);
  }
  json j = since_json(s);
  j["sas"] = sas;
  return j;
}

json GatewayStats::show_policy() const {
  const CounterSnapshot s = current();
  json j = since_json(s);
  for (PolicyDirection d : {PolicyDirection::kOutbound, PolicyDirection::kInbound}) {
    const SpdTable* t = v_.tables->spd->table(d);
    const auto rules = t->rules();
    auto hits = [&](uint32_t index) -> uint64_t {
      for (const PolicySnapshot& p : s.policies)
        if (p.direction == d && p.index == index) return p.hits;
      return 0;
    };
    json list = json::array();
    for (uint32_t i = 0; i < rules.size(); ++i) {
      const PolicyRule& r = rules[i];
      json rj = {{"index", i},
                 {"name", r.name},
                 {"action", std::string(to_string(r.action))},
                 {"src", r.selector.src.to_string()},
                 {"dst", r.selector.dst.to_string()},
                 {"proto", r.selector.proto},
                 {"sport", ports_text(r.selector.sport)},
                 {"dport", ports_text(r.selector.dport)},
                 {"hits", hits(i)}};
      if (r.action == PolicyAction::kProtect && d == PolicyDirection::kOutbound)
        rj["sa"] = r.sa_index < v_.sa_names.size() ? v_.sa_names[r.sa_index] : "";
      list.push_back(rj);
    }
    j[std::string(to_string(d))] = {{"default_action", std::string(to_string(t->default_action()))},
                                    {"default_hits", hits(PolicySnapshot::kDefaultRule)},
                                    {"invalid_hits", hits(PolicySnapshot::kInvalidRule)},
                                    {"rules", list}};
  }
  return j;
}

json GatewayStats::show_routes() const {
  json list = json::array();
  for (const RouteInfo& r : v_.tables->fib->routes()) {
    const NextHop& nh = r.next_hop;
    json j = {{"prefix", r.prefix.to_string()}, {"kind", std::string(to_string(nh.kind))}};
    if (nh.kind == NextHopKind::kConnected || nh.kind == NextHopKind::kGateway) j["port"] = port_name(nh.port);
    if (nh.kind == NextHopKind::kGateway) j["via"] = nh.gateway.to_string();
    if (nh.kind == NextHopKind::kTunnel)
      j["tunnel"] = nh.tunnel < v_.config->tunnels.size() ? v_.config->tunnels[nh.tunnel].name
                                                           : "tunnel" + std::to_string(nh.tunnel);
    list.push_back(j);
  }
  return {{"routes", list}};
}

json GatewayStats::show_neighbors() const {
  const auto now = std::chrono::steady_clock::now().time_since_epoch();
  json list = json::array();
  for (const NeighborEntryInfo& e : v_.tables->neighbors->entries(now)) {
    list.push_back({{"port", port_name(e.key.port)},
                    {"ip", e.key.address().to_string()},
                    {"mac", e.state == NeighborState::kIncomplete ? json(nullptr) : json(mac_text(e.mac))},
                    {"state", std::string(to_string(e.state))},
                    {"age_seconds", std::chrono::duration<double>(e.age).count()},
                    {"probes", e.probes},
                    {"held", e.held}});
  }
  return {{"neighbors", list}, {"held_packets", v_.tables->neighbors->held_packets()}};
}

json GatewayStats::show_drops() const {
  const CounterSnapshot s = current();
  json j = since_json(s);
  json list = json::array();
  auto add = [&](std::string_view layer, std::string_view name, std::string_view description, uint64_t count) {
    list.push_back({{"layer", layer}, {"name", name}, {"description", description}, {"count", count}});
  };
  for (const auto& info : kGatewayDrops) {
    uint64_t n = 0;
    for (const WorkerSnapshot& w : s.workers) n += w.counters.drops[static_cast<std::size_t>(info.drop)];
    add("gateway", info.name, info.description, n);
  }
  for (const auto& r : kDropReasons) {
    uint64_t n = 0;
    for (const SaSnapshot& sa : s.sas) n += sa.counters.drop(r.reason);
    add("esp", r.name, r.description, n);
  }
  for (std::size_t i = 0; i < kNeighborWorkerCounters.size(); ++i) {
    if (!kNeighborWorkerCounters[i].name.starts_with("drop_")) continue;
    uint64_t n = 0;
    for (const WorkerSnapshot& w : s.workers) n += w.neighbor[i];
    add("neighbor", kNeighborWorkerCounters[i].name, kNeighborWorkerCounters[i].description, n);
  }
  for (std::size_t i = 0; i < kNeighborCounters.size(); ++i) {
    if (!kNeighborCounters[i].name.starts_with("drop_")) continue;
    add("neighbor", kNeighborCounters[i].name, kNeighborCounters[i].description, s.neighbor.v[i]);
  }
  add("control", "tx_full", "the control core's TX queue or ring refused a frame (ARP/ND/ICMP answer)",
      s.control.tx_full);
  for (const auto& info : kIkeIoDrops) add("ike", info.name, info.description, s.ike.drop(info.drop));
  uint64_t imissed = 0, nombuf = 0, ierrors = 0;
  for (const PortSnapshot& p : s.ports) {
    imissed += p.imissed;
    nombuf += p.rx_nombuf;
    ierrors += p.ierrors;
  }
  add("port", "imissed", "the NIC dropped received frames: RX ring full (workers too slow)", imissed);
  add("port", "rx_nombuf", "the NIC had no mbuf for a received frame (mbuf pool exhausted)", nombuf);
  add("port", "ierrors", "frames the NIC received with errors (CRC, length)", ierrors);
  j["drops"] = list;
  return j;
}

void GatewayStats::register_commands(CommandRegistry& r) {
  auto no_args = [](const json& args) {
    if (!args.empty()) throw CommandError("this command takes no arguments");
  };
  r.add("show version", "daemon, DPDK and IPsec-MB versions, uptime, lcores",
        [this, no_args](const json& a) { return no_args(a), show_version(); });
  r.add("show counters", "port, worker, ESP, control-core and IKE transport counters",
        [this, no_args](const json& a) { return no_args(a), show_counters(); });
  r.add("show ports", "ports: device, role, MAC, link, NIC statistics",
        [this, no_args](const json& a) { return no_args(a), show_ports(); });
  r.add("show sa", "SAs: SPI, direction, peer, algorithms, packets, bytes, drops by reason",
        [this, no_args](const json& a) { return no_args(a), show_sa(); });
  r.add("show policy", "SPD rules per direction with hit counters",
        [this, no_args](const json& a) { return no_args(a), show_policy(); });
  r.add("show routes", "the routing table (FIB)", [this, no_args](const json& a) { return no_args(a), show_routes(); });
  r.add("show neighbors", "the ARP / ND table",
        [this, no_args](const json& a) { return no_args(a), show_neighbors(); });
  r.add("show drops", "every drop reason with its count",
        [this, no_args](const json& a) { return no_args(a), show_drops(); });
  r.add("clear counters", "count from zero again (show commands subtract a baseline)", [this, no_args](const json& a) {
    no_args(a);
    clear();
    return json{{"cleared", true}, {"since_time", iso_time(cleared_wall_)}};
  });
  r.add("help", "the commands", [&r](const json&) { return r.list(); });
}

void GatewayStats::print_summary(std::FILE* out, uint32_t max_sa_lines) const {
  const CounterSnapshot s = collect_counters(v_);
  for (const WorkerSnapshot& w : s.workers) {
    const GatewayCounters& c = w.counters;
    std::fprintf(out, "worker %u: rx %lu tx %lu punted %lu encap %lu decap %lu bypass %lu fragmented %lu "
                 "fragments %lu reassembled %lu mss_clamped %lu icmp_sent %lu icmp_suppressed %lu handed_off %lu",
                 w.id, c.rx, c.tx, c.punted, c.encapsulated, c.decapsulated, c.bypassed, c.fragmented, c.fragments,
                 c.reassembled, c.mss_clamped, c.icmp_sent, c.icmp_suppressed, c.handed_off);
    for (const auto& info : kGatewayDrops) {
      const uint64_t n = c.drops[static_cast<std::size_t>(info.drop)];
      if (n) std::fprintf(out, " %s %lu", info.name.data(), n);
    }
    std::fprintf(out, "\n");
  }
  if (s.sas.size() > max_sa_lines)
    std::fprintf(out, "sa: %zu installed (per-SA counters: espritctl show sa, or at exit)\n", s.sas.size());
  else for (const SaSnapshot& sa : s.sas) {
    std::fprintf(out, "sa slot %u spi 0x%08x %s: packets %lu bytes %lu", sa.slot, sa.spi,
                 std::string(to_string(sa.direction)).c_str(), sa.counters.packets, sa.counters.bytes);
    for (const auto& r : kDropReasons)
      if (sa.counters.drop(r.reason)) std::fprintf(out, " %s %lu", r.name.data(), sa.counters.drop(r.reason));
    std::fprintf(out, "\n");
  }
  const LocalServiceCounters& l = s.control;
  std::fprintf(out,
               "control: arp_requests %lu arp_replies %lu echo_replies %lu nd_solicits %lu nd_adverts %lu probes %lu "
               "released %lu ike %lu ignored %lu\n",
               l.arp_requests, l.arp_replies, l.echo_replies, l.nd_solicits, l.nd_adverts, l.probes_sent, l.released,
               l.ike, l.ignored);
  if (v_.ike) {
    const IkeIoCounters& k = s.ike;
    std::fprintf(out, "ike: rx_500 %lu rx_4500 %lu tx %lu tx_fragments %lu held %lu keepalives %lu handler_errors %lu "
                 "tx_deferred %lu tx_backlog_max %lu",
                 k.rx_500, k.rx_4500, k.tx, k.tx_fragments, k.held, k.keepalives, k.handler_errors, k.tx_deferred,
                 k.tx_backlog_max);
    for (const auto& info : kIkeIoDrops)
      if (k.drop(info.drop)) std::fprintf(out, " %s %lu", info.name.data(), k.drop(info.drop));
    std::fprintf(out, "\n");
  }
  std::fflush(out);
}

}  // namespace esprit
