// Snapshots of the IKE SA table and their text (the NEC IX layout of `show ikev2 sa`,
// `show ikev2 child-sa`, `show ikev2 statistics`; /work/shared/seeds/003_89f0549d43f3dd7f.txt) and JSON.
// Keys are never shown (the NEC box prints them; we do not).
#include <algorithm>
#include <array>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <sstream>

#include "esprit/common/algorithms.hpp"
#include "esprit/control/ike/manager/ike_manager.hpp"

namespace esprit::ike {

namespace {

std::string hex64(uint64_t v) {
  char b[24];
  std::snprintf(b, sizeof b, "0x%016llx", static_cast<unsigned long long>(v));
  return b;
}
std::string hex32(uint32_t v) {
  char b[16];
  std::snprintf(b, sizeof b, "0x%08x", v);
  return b;
}
std::string id_text(const Identity& id) {
  switch (id.type) {
    case IdType::kIpv4Addr:
      if (id.data.size() == 4)
        return "IPV4-ADDR " + IpAddress::v4(uint32_t{id.data[0]} << 24 | uint32_t{id.data[1]} << 16 |
                                            uint32_t{id.data[2]} << 8 | id.data[3])
                                  .to_string();
      break;
    case IdType::kIpv6Addr:
      if (id.data.size() == 16) {
        std::array<uint8_t, 16> b{};
        std::copy(id.data.begin(), id.data.end(), b.begin());
        return "IPV6-ADDR " + IpAddress::v6(b).to_string();
      }
      break;
    case IdType::kFqdn: return "FQDN " + std::string(id.data.begin(), id.data.end());
    case IdType::kRfc822Addr: return "USER-FQDN " + std::string(id.data.begin(), id.data.end());
    default: break;
  }
  std::string s = "KEY-ID 0x";
  for (uint8_t b : id.data) {
    char x[3];
    std::snprintf(x, sizeof x, "%02x", b);
    s += x;
  }
  return s;
}
std::string status_text(IkeState s) {
  switch (s) {
    case IkeState::kCreated:
    case IkeState::kConnecting: return "connecting";
    case IkeState::kAuthenticating: return "authenticating";
    case IkeState::kEstablished: return "establish";
    case IkeState::kDeleting: return "deleting";
    case IkeState::kDestroyed: return "destroyed";
  }
  return "?";
}
std::string ts_family(const TrafficSelector& t) {
  return t.ts_type == TsType::kIpv6AddrRange ? "IPV6-ADDR-RANGE" : "IPV4-ADDR-RANGE";
}
void ts_text(std::ostringstream& o, const std::vector<TrafficSelector>& v) {
  for (const auto& t : v) {
    o << "TS type : " << ts_family(t) << "\n";
    if (t.ip_protocol == 0)
      o << "Protocol any\n";
    else
      o << "Protocol " << unsigned(t.ip_protocol) << "\n";
    o << "Address Range " << t.start.to_string() << " to " << t.end.to_string() << "\n";
    o << "Port Range " << t.start_port << " to " << t.end_port << "\n";
  }
}
std::string child_status(const ChildSa& c) {
  if (c.deleting) return "deleting";
  if (c.outbound_pending) return "outbound_pending";
  if (c.outbound_active) return c.rekeyed ? "rekeying" : "active";
  return c.rekeyed ? "rekeyed" : "inbound_only";
}
/// The status line of `show ikev2 child-sa`.
std::string child_status_text(const ChildSnapshot& c) {
  if (c.status == "outbound_pending") {
    char b[160];
    std::snprintf(b, sizeof b,
                  "new, outbound pending (rekey answered: the old Child SA sends until the peer uses this one "
                  "or deletes the old one, at most %.1f s more)",
                  static_cast<double>(std::max<int64_t>(c.switch_in_ms, 0)) / 1000.0);
    return b;
  }
  if (c.status == "rekeying") return "rekeying (sends until its new Child SA takes over)";
  if (c.status == "rekeyed") return "rekeyed (receives until deleted)";
  if (c.status == "inbound_only") return "inbound only (until deleted)";
  return c.status;
}
int64_t remaining(Duration deadline, Duration now) {
  if (deadline == Duration::zero()) return -1;
  auto s = std::chrono::duration_cast<std::chrono::seconds>(deadline - now).count();
  return s < 0 ? 0 : s;
}

}  // namespace

std::vector<IkeSaSnapshot> IkeManager::snapshot() const {
  std::vector<IkeSaSnapshot> out;
  Duration t = now();
  out.reserve(sas_.size());
  for (const auto& [serial, ep] : sas_) {
    const Entry& e = *ep;
    const IkeSa& sa = *e.sa;
    const ManagedPeer& cfg = peers_[e.peer].cfg;
    IkeSaSnapshot s;
    s.peer = cfg.name;
    s.spi_i = sa.spi_i();
    s.spi_r = sa.spi_r();
    s.serial = e.serial;
    s.remaining_s = remaining(e.ike_hard, t);
    s.direction = sa.role() == IkeRole::kInitiator ? "initiator" : "responder";
    s.local_addr = e.local;
    s.local_port = e.lport;
    s.remote_addr = e.remote;
    s.remote_port = e.rport;
    s.local_id = id_text(sa.settings().local_id);
    s.remote_id = sa.settings().remote_id ? id_text(*sa.settings().remote_id) : "any";
    s.status = status_text(sa.state());
    s.local_mid = sa.next_request_id();
    s.peer_mid = sa.peer_request_id();
    if (sa.state() == IkeState::kEstablished || sa.state() == IkeState::kDeleting) {
      const auto& r = sa.init_result();
      s.encr = std::string(info(r.transforms.encr).rfc_name);
      s.integ = r.transforms.integ == IntegAlg::kNone ? "none" : std::string(info(r.transforms.integ).rfc_name);
      s.prf = std::string(info(r.transforms.prf).rfc_name);
      if (const DhInfo* d = dh_from_ikev2(r.dh_group)) s.dh = std::string(d->name);
      s.nat_local = r.nat_local;
      s.nat_remote = r.nat_remote;
    }
    for (const auto& p : cfg.sa.child.esp_proposals)
      for (const auto& tr : p.transforms)
        if (tr.type == TransformType::kDh) s.pfs = true;
    s.dpd_interval_s = static_cast<uint32_t>(std::chrono::duration_cast<std::chrono::seconds>(cfg.dpd_interval).count());
    for (const ChildSa& c : sa.child_sas()) {
      ChildSnapshot cs;
      cs.spi_in = c.spi_in;
      cs.spi_out = c.spi_out;
      cs.encr = std::string(info(c.encr).rfc_name);
      cs.integ = c.integ == IntegAlg::kNone ? "none" : std::string(info(c.integ).rfc_name);
      cs.esn = c.esn;
      cs.transport = c.transport;
      cs.natt = c.outbound.natt.has_value();
      cs.rekeyed = c.rekeyed;
      cs.status = child_status(c);
      if (c.outbound_pending)
        cs.switch_in_ms = std::max<int64_t>(
            0, std::chrono::duration_cast<std::chrono::milliseconds>(c.outbound_switch_at - t).count());
      if (auto it = e.children.find(c.spi_in); it != e.children.end()) cs.remaining_s = remaining(it->second.hard, t);
      cs.local_ts = c.ts.local;
      cs.remote_ts = c.ts.remote;
      if (env_.counters) {
        auto in = env_.counters(c.spi_in, SaDirection::kInbound);
        auto o = env_.counters(c.spi_out, SaDirection::kOutbound);
        cs.in_packets = in.packets, cs.in_octets = in.octets, cs.in_errors = in.errors;
        cs.out_packets = o.packets, cs.out_octets = o.octets, cs.out_errors = o.errors;
      }
      s.children.push_back(std::move(cs));
    }
    out.push_back(std::move(s));
  }
  return out;
}

std::string format_ike_sas(const std::vector<IkeSaSnapshot>& sas) {
  std::ostringstream o;
  o << "IKEv2 SA - " << sas.size() << " created\n";
  for (const auto& s : sas) {
    o << "Peer " << s.peer << "\n";
    o << "SPI (I)" << hex64(s.spi_i) << " (R)" << hex64(s.spi_r) << "\n";
    o << "Remain lifetime[sec] : " << (s.remaining_s < 0 ? std::string("-") : std::to_string(s.remaining_s)) << "\n";
    o << "Serial : " << s.serial << "\n";
    o << "Direction : " << s.direction << "\n";
    o << "Local Addr : " << s.local_addr.to_string() << ":" << s.local_port << "\n";
    o << "Peer Addr : " << s.remote_addr.to_string() << ":" << s.remote_port << "\n";
    o << "Local ID : " << s.local_id << "\n";
    o << "Peer ID : " << s.remote_id << "\n";
    o << "Status : " << s.status << "\n";
    o << "Local message ID : " << s.local_mid << "\n";
    o << "Peer message ID : " << s.peer_mid << "\n";
    if (!s.encr.empty()) {
      o << "Encryption alg : " << s.encr << "\n";
      o << "Integrity alg : " << s.integ << "\n";
      o << "PRF alg : " << s.prf << "\n";
      o << "DH group : " << s.dh << "\n";
    }
    o << "PFS : " << (s.pfs ? "on" : "off") << "\n";
    if (s.dpd_interval_s)
      o << "DPD : interval " << s.dpd_interval_s << "[sec]\n";
    else
      o << "DPD : off\n";
    o << "NAT : " << (s.nat_local ? "local " : "") << (s.nat_remote ? "peer" : "") << (!s.nat_local && !s.nat_remote ? "none" : "")
      << "\n";
    o << "Child\nProt SPI(IN) SPI(OUT) Lifetime[sec]\n";
    for (const auto& c : s.children)
      o << "ESP " << hex32(c.spi_in) << " " << hex32(c.spi_out) << " "
        << (c.remaining_s < 0 ? std::string("-") : std::to_string(c.remaining_s)) << "\n";
  }
  return o.str();
}

std::string format_child_sas(const std::vector<IkeSaSnapshot>& sas) {
  std::size_t n = 0;
  for (const auto& s : sas) n += s.children.size();
  std::ostringstream o;
  o << "Child SA - " << n << " connected\n";
  for (const auto& s : sas)
    for (const auto& c : s.children) {
      o << "Peer " << s.peer << "\n";
      o << "IKE Peer ID : " << s.remote_id << "\n";
      o << "IKE SPI (I)" << hex64(s.spi_i) << " (R)" << hex64(s.spi_r) << "\n";
      o << "IKE SA serial : " << s.serial << "\n";
      o << "Child SA\nProtocol : ESP\n";
      o << "Local Addr : " << s.local_addr.to_string() << "\n";
      o << "Peer Addr : " << s.remote_addr.to_string() << "\n";
      o << "Enc alg : " << c.encr << "\n";
      o << "Hash alg : " << c.integ << "\n";
      o << "Remain lifetime[sec] : " << (c.remaining_s < 0 ? std::string("-") : std::to_string(c.remaining_s)) << "\n";
      o << "Status : " << child_status_text(c) << "\n";
      o << "Mode : " << (c.transport ? "transport" : "tunnel") << (c.natt ? ", UDP-encapsulated" : "") << "\n";
      o << "Direction is outbound\nSPI : " << hex32(c.spi_out) << "\n";
      o << "Direction is inbound\nSPI : " << hex32(c.spi_in) << "\n";
      o << "Local TS:\n";
      ts_text(o, c.local_ts);
      o << "Peer TS:\n";
      ts_text(o, c.remote_ts);
      o << "Statistics\nOutbound\n" << c.out_packets << " packets, " << c.out_octets << " octets\n"
        << c.out_errors << " errors\n";
      o << "Inbound\n" << c.in_packets << " packets, " << c.in_octets << " octets\n" << c.in_errors << " errors\n";
    }
  return o.str();
}

std::string format_statistics(const IkeStats& s) {
  std::ostringstream o;
  o << "IKEv2 Statistics\n";
  o << "SA : " << s.established << " established, " << s.failed << " failed, " << s.deleted << " deleted\n";
  o << "Rekey : " << s.rekeys_ike << " IKE SA, " << s.rekeys_child << " Child SA\n";
  o << "Acquire : " << s.acquire << " received, " << s.acquire_limited << " rate limited\n";
  o << "DPD : " << s.dpd_sent << " sent\n";
  o << "NAT keepalive : " << s.nat_keepalives << " sent\n";
  o << "Packet/byte limit : " << s.limit_soft << " soft, " << s.limit_hard << " hard, " << s.limit_lost
    << " events lost\n";
  o << "Initial contact : " << s.initial_contact << " older IKE SA deleted\n";
  {
    char mem[32];
    std::snprintf(mem, sizeof mem, "%.1f", static_cast<double>(s.memory.bytes) / 1024.0);
    o << "Memory : " << s.memory.ike_sas << " IKE SA (" << s.memory.half_open << " half-open), " << s.memory.child_sas
      << " Child SA, about " << mem << " KiB\n";
  }
  o << "Exchange\n";
  auto ex = [&](const char* name, const ExchangeStats& x) {
    o << name << " : " << x.send_request << " send request, " << x.recv_response << " recv response\n"
      << x.recv_request << " recv request, " << x.send_response << " send response\n"
      << x.resend << " resend, " << x.timeout << " timeout\n";
  };
  ex("IKE_SA_INIT", s.init);
  ex("IKE_AUTH", s.auth);
  ex("CREATE_CHILD_SA", s.create_child);
  ex("INFORMATIONAL", s.informational);
  o << "Failures\n";
  for (const auto& [k, v] : s.failures) o << k << " : " << v << "\n";
  o << "Dropped : " << s.dropped << "\n";
  return o.str();
}

namespace {
nlohmann::json ts_json(const std::vector<TrafficSelector>& v) {
  auto a = nlohmann::json::array();
  for (const auto& t : v)
    a.push_back({{"type", ts_family(t)}, {"protocol", t.ip_protocol}, {"start", t.start.to_string()},
                 {"end", t.end.to_string()}, {"start_port", t.start_port}, {"end_port", t.end_port}});
  return a;
}
nlohmann::json ex_json(const ExchangeStats& x) {
  return {{"send_request", x.send_request}, {"recv_response", x.recv_response}, {"recv_request", x.recv_request},
          {"send_response", x.send_response}, {"resend", x.resend},           {"timeout", x.timeout}};
}
}  // namespace

std::string ike_sas_json(const std::vector<IkeSaSnapshot>& sas) {
  auto a = nlohmann::json::array();
  for (const auto& s : sas) {
    auto children = nlohmann::json::array();
    for (const auto& c : s.children)
      children.push_back({{"spi_in", hex32(c.spi_in)},
                          {"spi_out", hex32(c.spi_out)},
                          {"encr", c.encr},
                          {"integ", c.integ},
                          {"esn", c.esn},
                          {"mode", c.transport ? "transport" : "tunnel"},
                          {"udp_encap", c.natt},
                          {"remaining_s", c.remaining_s},
                          {"status", c.status},
                          {"switch_in_ms", c.switch_in_ms},
                          {"local_ts", ts_json(c.local_ts)},
                          {"remote_ts", ts_json(c.remote_ts)},
                          {"in", {{"packets", c.in_packets}, {"octets", c.in_octets}, {"errors", c.in_errors}}},
                          {"out", {{"packets", c.out_packets}, {"octets", c.out_octets}, {"errors", c.out_errors}}}});
    a.push_back({{"peer", s.peer},
                 {"spi_i", hex64(s.spi_i)},
                 {"spi_r", hex64(s.spi_r)},
                 {"serial", s.serial},
                 {"remaining_s", s.remaining_s},
                 {"direction", s.direction},
                 {"local", s.local_addr.to_string() + ":" + std::to_string(s.local_port)},
                 {"remote", s.remote_addr.to_string() + ":" + std::to_string(s.remote_port)},
                 {"local_id", s.local_id},
                 {"remote_id", s.remote_id},
                 {"status", s.status},
                 {"local_message_id", s.local_mid},
                 {"peer_message_id", s.peer_mid},
                 {"encr", s.encr},
                 {"integ", s.integ},
                 {"prf", s.prf},
                 {"dh", s.dh},
                 {"pfs", s.pfs},
                 {"dpd_interval_s", s.dpd_interval_s},
                 {"nat_local", s.nat_local},
                 {"nat_remote", s.nat_remote},
                 {"children", children}});
  }
  return a.dump();
}

std::string statistics_json(const IkeStats& s) {
  nlohmann::json j = {{"established", s.established}, {"failed", s.failed},     {"deleted", s.deleted},
                      {"rekeys_ike", s.rekeys_ike},   {"rekeys_child", s.rekeys_child},
                      {"acquire", s.acquire},         {"acquire_limited", s.acquire_limited},
                      {"dpd_sent", s.dpd_sent},       {"dropped", s.dropped},
                      {"nat_keepalives", s.nat_keepalives},
                      {"limit_soft", s.limit_soft},   {"limit_hard", s.limit_hard},
                      {"limit_lost", s.limit_lost},
                      {"ike_sa_init", ex_json(s.init)}, {"ike_auth", ex_json(s.auth)},
                      {"create_child_sa", ex_json(s.create_child)}, {"informational", ex_json(s.informational)},
                      {"failures", s.failures},
                      {"initial_contact", s.initial_contact},
                      {"memory", {{"ike_sas", s.memory.ike_sas}, {"half_open", s.memory.half_open},
                                  {"child_sas", s.memory.child_sas}, {"bytes", s.memory.bytes}}}};
  return j.dump();
}

}  // namespace esprit::ike
