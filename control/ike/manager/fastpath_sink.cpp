#include "esprit/control/ike/manager/fastpath_sink.hpp"

#include <algorithm>
#include <cstring>

#include "esprit/fastpath/sad.hpp"

namespace esprit::ike {

namespace {

using U128 = unsigned __int128;

U128 to_int(const IpAddress& a) {
  U128 v = 0;
  for (std::size_t i = 0; i < a.size(); ++i) v = (v << 8) | a.bytes()[i];
  return v;
}
IpAddress from_int(U128 v, bool v4) {
  if (v4) return IpAddress::v4(static_cast<uint32_t>(v));
  std::array<uint8_t, 16> b{};
  for (int i = 15; i >= 0; --i) {
    b[static_cast<std::size_t>(i)] = static_cast<uint8_t>(v & 0xff);
    v >>= 8;
  }
  return IpAddress::v6(b);
}
unsigned bits_of(bool v4) { return v4 ? 32 : 128; }
U128 prefix_last(U128 first, unsigned len, bool v4) {
  unsigned host = bits_of(v4) - len;
  if (host == 0) return first;
  U128 mask = host >= 128 ? ~U128{0} : ((U128{1} << host) - 1);
  return first | mask;
}

bool family_v4(const ike::TrafficSelector& t) { return t.ts_type == TsType::kIpv4AddrRange; }

bool prefix_in_range(const IpPrefix& p, const ike::TrafficSelector& t) {
  if (!t.known() || (p.family() == IpFamily::kV4) != family_v4(t)) return false;
  bool v4 = family_v4(t);
  U128 first = to_int(p.address());
  U128 last = prefix_last(first, p.length(), v4);
  return first >= to_int(t.start) && last <= to_int(t.end);
}

bool ports_in(const PortRange& r, const ike::TrafficSelector& t) {
  if (t.opaque_ports()) return r.any();
  return r.lo >= t.start_port && r.hi <= t.end_port;
}

/// The fewest prefixes covering [first, last].
std::vector<IpPrefix> range_prefixes(const IpAddress& start, const IpAddress& end) {
  std::vector<IpPrefix> out;
  bool v4 = start.is_v4();
  unsigned width = bits_of(v4);
  U128 a = to_int(start), b = to_int(end);
  if (a > b) return out;
  while (true) {
    unsigned host = 0;  // the largest block aligned at a that stays inside [a, b]
    while (host < width) {
      const unsigned h = host + 1;
      if (h == 128) {
        if (a == 0 && b == ~U128{0}) host = 128;
        break;
      }
      const U128 size = U128{1} << h;
      if ((a & (size - 1)) != 0 || b - a < size - 1) break;
      host = h;
    }
    out.emplace_back(from_int(a, v4), static_cast<uint8_t>(width - host));
    const U128 last = host == 128 ? ~U128{0} : a + ((U128{1} << host) - 1);
    if (last >= b) break;
    a = last + 1;
  }
  return out;
}

}  // namespace

bool covered_by(const esprit::TrafficSelector& sel, const std::vector<ike::TrafficSelector>& local,
                const std::vector<ike::TrafficSelector>& remote) noexcept {
  auto fits = [&](const IpPrefix& p, const PortRange& ports, const std::vector<ike::TrafficSelector>& ts) {
    for (const auto& t : ts)
      if (prefix_in_range(p, t) && (t.ip_protocol == 0 || t.ip_protocol == sel.proto) && ports_in(ports, t)) return true;
    return false;
  };
  return fits(sel.src, sel.sport, local) && fits(sel.dst, sel.dport, remote);
}

std::vector<esprit::TrafficSelector> to_policy_selectors(const std::vector<ike::TrafficSelector>& src,
                                                         const std::vector<ike::TrafficSelector>& dst) {
  std::vector<esprit::TrafficSelector> out;
  for (const auto& s : src) {
    if (!s.known()) continue;
    for (const auto& d : dst) {
      if (!d.known() || family_v4(s) != family_v4(d)) continue;
      for (const IpPrefix& ps : range_prefixes(s.start, s.end))
        for (const IpPrefix& pd : range_prefixes(d.start, d.end)) {
          esprit::TrafficSelector t;
          t.src = ps;
          t.dst = pd;
          t.proto = s.ip_protocol ? s.ip_protocol : d.ip_protocol;
          if (!s.opaque_ports()) t.sport = {s.start_port, s.end_port};
          if (!d.opaque_ports()) t.dport = {d.start_port, d.end_port};
          out.push_back(t);
        }
    }
  }
  return out;
}

class FastpathInstaller::PeerSink final : public ChildSaSink {
 public:
  PeerSink(FastpathInstaller& owner, std::string peer) : owner_(owner), peer_(std::move(peer)) {}
  void install_inbound(const SaDescriptor& sa, const ChildSelectors& ts) override {
    owner_.install_inbound(peer_, sa, ts);
  }
  void install_outbound(const SaDescriptor& sa, const ChildSelectors& ts, uint32_t replaces) override {
    owner_.install_outbound(peer_, sa, ts, replaces);
  }
  void remove(uint32_t spi, SaDirection d) override { owner_.remove(peer_, spi, d); }

 private:
  FastpathInstaller& owner_;
  std::string peer_;
};

FastpathInstaller::FastpathInstaller(FastpathInstallerConfig config) : cfg_(std::move(config)) {}
FastpathInstaller::~FastpathInstaller() = default;

ChildSaSink& FastpathInstaller::sink(const std::string& peer) {
  auto& s = sinks_[peer];
  if (!s) s = std::make_unique<PeerSink>(*this, peer);
  return *s;
}

void FastpathInstaller::fail(std::string msg) {
  ++failures_;
  last_error_ = std::move(msg);
}

uint32_t FastpathInstaller::slot_of(uint32_t spi, SaDirection d) const noexcept {
  const auto& m = d == SaDirection::kInbound ? inbound_slot_ : outbound_slot_;
  auto it = m.find(spi);
  return it == m.end() ? kNoSaSlot : it->second;
}

ChildCounters FastpathInstaller::counters(uint32_t spi, SaDirection d) const noexcept {
  ChildCounters cc;
  const uint32_t slot = slot_of(spi, d);
  if (slot == kNoSaSlot) return cc;
  const Sad& sad = *cfg_.tables->sad;
  if (const EspSa* sa = sad.get(slot)) {
    cc.packets = sa->lifetime_packets();
    cc.octets = sa->lifetime_bytes();
  }
  cc.errors = sad.totals(slot).total_drops();
  return cc;
}

bool FastpathInstaller::publish(std::string* error) {
  std::vector<PolicyRule> rules;
  rules.reserve(cfg_.rules.size());
  for (const InstallerRule& r : cfg_.rules) {
    PolicyRule p = r.rule;
    if (!r.peer.empty() && p.action == PolicyAction::kProtect && p.direction == PolicyDirection::kOutbound) {
      p.sa_index = kNoSaSlot;  // no SA yet: the worker drops (kNoSa)
      auto it = outbound_.find(r.peer);
      if (it != outbound_.end())
        for (auto o = it->second.rbegin(); o != it->second.rend(); ++o)
          if (covered_by(p.selector, o->ts.local, o->ts.remote)) {
            p.sa_index = o->slot;
            break;
          }
    }
    rules.push_back(std::move(p));
  }
  std::string err;
  auto out = SpdTable::build(rules, cfg_.outbound, &err);
  auto in = out ? SpdTable::build(rules, cfg_.inbound, &err) : nullptr;
  if (!out || !in) {
    if (error) *error = "SPD rebuild: " + err;
    fail("SPD rebuild: " + err);
    return false;
  }
  (void)cfg_.tables->spd->publish(std::move(out), std::move(in));  // waits for the grace period
  return true;
}

void FastpathInstaller::set_path(const std::string& peer, const SaDescriptor& sa, uint32_t slot) {
  auto& paths = cfg_.tables->sa_paths;
  if (slot == kNoSaSlot || slot >= paths.size()) return;
  auto it = cfg_.peer_paths.find(peer);
  SaPathOptions o = it != cfg_.peer_paths.end() ? it->second : SaPathOptions{};
  o.remote = sa.remote;
  o.configured = true;
  paths[slot] = o;
}

void FastpathInstaller::install_inbound(const std::string& peer, const SaDescriptor& sa, const ChildSelectors& ts) {
  Sad& sad = *cfg_.tables->sad;
  // The inner packets it may carry: src in the peer's TS, dst in ours. Written before the SA
  // becomes visible (the slot add() will use), so a worker never reads a half-written vector.
  auto sel = to_policy_selectors(ts.remote, ts.local);
  uint32_t next = sad.next_free_slot();
  auto& side = cfg_.tables->sa_selectors;
  if (next != kNoSaSlot && next < side.size()) side[next] = sel;
  set_path(peer, sa, next);  // MSS clamp of decapsulated packets
  std::string err;
  auto slot = sad.add(sa, &err);
  if (!slot) {
    fail("peer " + peer + ": inbound SA: " + err);
    return;
  }
  if (*slot != next && *slot < side.size()) side[*slot] = std::move(sel);
  if (*slot != next) set_path(peer, sa, *slot);
  inbound_slot_[sa.spi] = *slot;
}

void FastpathInstaller::install_outbound(const std::string& peer, const SaDescriptor& sa, const ChildSelectors& ts,
                                         uint32_t replaces) {
  Sad& sad = *cfg_.tables->sad;
  std::string err;
  auto& list = outbound_[peer];
  auto old = std::find_if(list.begin(), list.end(), [&](const Outbound& o) { return replaces && o.spi == replaces; });
  uint32_t slot = kNoSaSlot;
  const bool replacing = old != list.end();
  if (replacing) {
    // Rekey (or a NAT mapping change: same SPI, new port): the slot keeps its policies and tunnel.
    if (!sad.replace(old->slot, sa, &err)) {
      fail("peer " + peer + ": outbound SA replace: " + err);
      return;
    }
    slot = old->slot;
    outbound_slot_.erase(old->spi);
    Outbound moved{sa.spi, slot, ts};
    list.erase(old);
    list.push_back(std::move(moved));
  } else {
    // A replaced SA keeps its slot's path options (same peer address); a new slot gets them
    // before the SA is published.
    const uint32_t next = sad.next_free_slot();
    set_path(peer, sa, next);
    auto s = sad.add(sa, &err);
    if (!s) {
      fail("peer " + peer + ": outbound SA: " + err);
      return;
    }
    slot = *s;
    if (slot != next) set_path(peer, sa, slot);
    list.push_back(Outbound{sa.spi, slot, ts});
  }
  outbound_slot_[sa.spi] = slot;
  for (uint32_t t = 0; t < cfg_.tunnel_peer.size() && t < cfg_.tables->tunnels; ++t)
    if (cfg_.tunnel_peer[t] == peer) cfg_.tables->tunnel_sa[t].store(slot, std::memory_order_release);
  // A replaced SA keeps its slot: the SPD already points there (no rebuild, no grace period).
  if (!replacing) (void)publish(nullptr);
}

void FastpathInstaller::remove(const std::string& peer, uint32_t spi, SaDirection d) {
  Sad& sad = *cfg_.tables->sad;
  if (d == SaDirection::kInbound) {
    auto it = inbound_slot_.find(spi);
    if (it == inbound_slot_.end()) return;
    sad.remove(it->second);
    // sa_selectors of the slot are rewritten by the next install_inbound that reuses it.
    inbound_slot_.erase(it);
    return;
  }
  auto it = outbound_slot_.find(spi);
  if (it == outbound_slot_.end()) return;
  uint32_t slot = it->second;
  outbound_slot_.erase(it);
  auto& list = outbound_[peer];
  std::erase_if(list, [&](const Outbound& o) { return o.spi == spi; });
  // Policies and tunnels stop pointing at the slot before the SA goes (kNoSa from then on).
  for (uint32_t t = 0; t < cfg_.tunnel_peer.size() && t < cfg_.tables->tunnels; ++t)
    if (cfg_.tunnel_peer[t] == peer && cfg_.tables->tunnel_sa[t].load() == slot)
      cfg_.tables->tunnel_sa[t].store(list.empty() ? kNoTunnelSa : list.back().slot, std::memory_order_release);
  std::string perr;
  (void)publish(&perr);
  sad.remove(slot);
}

}  // namespace esprit::ike
