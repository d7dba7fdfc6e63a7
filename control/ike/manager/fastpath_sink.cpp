#include "esprit/control/ike/manager/fastpath_sink.hpp"

#include <algorithm>
#include <cstring>
#include <ctime>

#include <rte_ring.h>
#include <rte_ring_elem.h>

#include "esprit/fastpath/esp.hpp"
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

namespace {
/// The narrower of two prefixes when one contains the other.
std::optional<IpPrefix> prefix_meet(const IpPrefix& a, const IpPrefix& b) noexcept {
  if (a.family() != b.family()) return std::nullopt;
  if (a.length() <= b.length() && a.contains(b.address())) return b;
  if (b.length() <= a.length() && b.contains(a.address())) return a;
  return std::nullopt;
}
bool has_ports(uint8_t proto) noexcept { return proto == 6 || proto == 17 || proto == 132; }
}  // namespace

std::optional<esprit::TrafficSelector> intersect(const esprit::TrafficSelector& a,
                                                 const esprit::TrafficSelector& b) noexcept {
  auto src = prefix_meet(a.src, b.src);
  auto dst = prefix_meet(a.dst, b.dst);
  if (!src || !dst) return std::nullopt;
  if (a.proto && b.proto && a.proto != b.proto) return std::nullopt;
  esprit::TrafficSelector x;
  x.src = *src;
  x.dst = *dst;
  x.proto = a.proto ? a.proto : b.proto;
  x.sport = {std::max(a.sport.lo, b.sport.lo), std::min(a.sport.hi, b.sport.hi)};
  x.dport = {std::max(a.dport.lo, b.dport.lo), std::min(a.dport.hi, b.dport.hi)};
  if (x.sport.lo > x.sport.hi || x.dport.lo > x.dport.hi) return std::nullopt;
  // Ports without a protocol that has them cannot be one SPD rule (SpdTable refuses it).
  if ((!x.sport.any() || !x.dport.any()) && !has_ports(x.proto)) return std::nullopt;
  return x;
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
  PeerSink(FastpathInstaller& owner, std::string peer, uint32_t id)
      : owner_(owner), peer_(std::move(peer)), id_(id) {}
  /// The peer's id in GatewayTables::sa_peer (hub_loop detection).
  [[nodiscard]] uint32_t id() const noexcept { return id_; }
  void install_inbound(const SaDescriptor& sa, const ChildSelectors& ts) override {
    owner_.install_inbound(peer_, sa, ts);
  }
  void install_outbound(const SaDescriptor& sa, const ChildSelectors& ts, uint32_t replaces) override {
    owner_.install_outbound(peer_, sa, ts, replaces);
  }
  void remove(uint32_t spi, SaDirection d) override { owner_.remove(peer_, spi, d); }
  void remove_outbound(uint32_t spi, const SaDescriptor& sa) override {
    owner_.remove(peer_, spi, SaDirection::kOutbound, &sa);
  }
  bool inbound_spi_in_use(uint32_t spi) const noexcept override { return owner_.inbound_slot_.count(spi) != 0; }

 private:
  FastpathInstaller& owner_;
  std::string peer_;
  uint32_t id_;
};

namespace {
/// IKE peers' ids in GatewayTables::sa_peer: above those espritd gives static SAs (1, 2, ...,
/// one per remote address), so the two never collide.
constexpr uint32_t kIkePeerIdBase = 0x80000000u;
}  // namespace

FastpathInstaller::FastpathInstaller(FastpathInstallerConfig config)
    : cfg_(std::move(config)), events_lost_seen_(sa_events_lost()) {}
FastpathInstaller::~FastpathInstaller() = default;

ChildSaSink& FastpathInstaller::sink(const std::string& peer) {
  auto& s = sinks_[peer];
  if (!s) s = std::make_unique<PeerSink>(*this, peer, kIkePeerIdBase + static_cast<uint32_t>(sinks_.size()));
  return *s;
}

void FastpathInstaller::fail(std::string msg) {
  ++failures_;
  last_error_ = std::move(msg);
}

void FastpathInstaller::set_peer(const std::string& peer, uint32_t slot) noexcept {
  auto& ids = cfg_.tables->sa_peer;
  const auto it = sinks_.find(peer);
  if (slot < ids.size()) ids[slot] = it == sinks_.end() ? 0 : it->second->id();
}

uint32_t FastpathInstaller::slot_of(uint32_t spi, SaDirection d) const noexcept {
  if (d == SaDirection::kOutbound) {
    auto it = outbound_pos_.find(spi);  // the first of equal SPIs (counters, tests)
    return it == outbound_pos_.end() ? kNoSaSlot : it->second->slot;
  }
  auto it = inbound_slot_.find(spi);
  return it == inbound_slot_.end() ? kNoSaSlot : it->second;
}

ChildCounters FastpathInstaller::counters(uint32_t spi, SaDirection d) const noexcept {
  ChildCounters cc;
  const uint32_t slot = slot_of(spi, d);
  if (slot == kNoSaSlot) return cc;
  const Sad& sad = *cfg_.tables->sad;
  if (const EspSa* sa = sad.get(slot)) {
    cc.packets = sa->lifetime_packets();
    cc.octets = sa->lifetime_bytes();
    cc.soft = sa->soft_expired();
    cc.hard = sa->hard_expired();
  }
  cc.errors = sad.totals(slot).total_drops();
  return cc;
}

std::size_t FastpathInstaller::deliver_events(IkeManager& manager) {
  rte_ring* ring = cfg_.events;
  if (!ring) return 0;
  // An event that found the ring full is gone (the SA keeps its state): the manager then polls
  // every Child SA once (read before draining: a loss during the drain shows next time).
  const uint64_t lost_now = sa_events_lost();
  const bool lost = lost_now != events_lost_seen_;
  events_lost_seen_ = lost_now;
  std::size_t n = 0;
  SaEvent batch[32];
  for (;;) {
    const unsigned got = rte_ring_dequeue_burst_elem(ring, batch, sizeof(SaEvent), 32, nullptr);
    for (unsigned i = 0; i < got; ++i) {
      const SaEvent& ev = batch[i];
      const ChildLimitEvent kind = ev.kind == SaEventKind::kSoftLifetime ? ChildLimitEvent::kSoft : ChildLimitEvent::kHard;
      if (!manager.child_limit_event(ev.cookie, kind)) ++stray_events_;
    }
    n += got;
    if (got < 32) break;
  }
  if (lost) manager.child_limit_events_lost();
  return n;
}

namespace {
double thread_cpu_s() noexcept {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}
}  // namespace

bool FastpathInstaller::publish(std::string* error) {
  const auto t0 = std::chrono::steady_clock::now();
  const double c0 = thread_cpu_s();
  std::vector<PolicyRule> rules;
  rules.reserve(cfg_.rules.size() + outbound_pos_.size());
  uint64_t narrowed = 0;
  for (const InstallerRule& r : cfg_.rules) {
    PolicyRule p = r.rule;
    if (!r.peer.empty() && p.action == PolicyAction::kProtect && p.direction == PolicyDirection::kOutbound) {
      p.sa_index = kNoSaSlot;  // no SA yet: the worker drops (kNoSa)
      auto it = outbound_.find(r.peer);
      if (it != outbound_.end())
        for (auto o = it->second.rbegin(); o != it->second.rend(); ++o) {
          if (covered_by(p.selector, o->ts.local, o->ts.remote)) {
            p.sa_index = o->slot;
            break;
          }
          // A Child SA for part of the rule (a road warrior's address): that part goes to it.
          for (const esprit::TrafficSelector& sel : o->selectors)
            if (auto x = intersect(p.selector, sel)) {
              rules.push_back(PolicyRule{p.name, p.direction, *x, PolicyAction::kProtect, o->slot});
              ++narrowed;
            }
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
  dirty_ = false;
  const auto t1 = std::chrono::steady_clock::now();
  const double s = std::chrono::duration<double>(t1 - t0).count();
  ++stats_.publications;
  stats_.rules = rules.size();
  stats_.narrowed = narrowed;
  stats_.last_build_s = s;
  stats_.max_build_s = std::max(stats_.max_build_s, s);
  stats_.total_build_s += s;
  stats_.total_build_cpu_s += thread_cpu_s() - c0;
  next_publish_ = t1 + (t1 - t0);  // pacing: at most about half the control core in SPD builds
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

bool FastpathInstaller::flush(bool force) {
  if (!dirty_ && doomed_.empty()) return true;
  if (dirty_) {
    if (!force && std::chrono::steady_clock::now() < next_publish_) return true;
    std::string err;
    if (!publish(&err)) return false;  // the old SPD stays; doomed SAs stay until one succeeds
  }
  // No published rule points at these slots any more.
  for (uint32_t slot : doomed_) cfg_.tables->sad->remove(slot);
  doomed_.clear();
  return true;
}

void FastpathInstaller::outbound_changed() {
  dirty_ = true;
  if (!cfg_.batch_publish) (void)flush(true);
}

void FastpathInstaller::install_inbound(const std::string& peer, const SaDescriptor& sa, const ChildSelectors& ts) {
  Sad& sad = *cfg_.tables->sad;
  // The inner packets it may carry: src in the peer's TS, dst in ours. Written before the SA
  // becomes visible (the slot add() will use), so a worker never reads a half-written vector.
  auto sel = to_policy_selectors(ts.remote, ts.local);
  uint32_t next = sad.next_free_slot();
  auto& side = cfg_.tables->sa_selectors;
  if (next != kNoSaSlot && next < side.size()) side[next] = sel;
  if (next != kNoSaSlot) set_peer(peer, next);
  set_path(peer, sa, next);  // MSS clamp of decapsulated packets
  std::string err;
  auto slot = sad.add(sa, &err);
  if (!slot) {
    fail("peer " + peer + ": inbound SA: " + err);
    return;
  }
  if (*slot != next && *slot < side.size()) side[*slot] = std::move(sel);
  if (*slot != next) set_peer(peer, *slot);
  if (*slot != next) set_path(peer, sa, *slot);
  inbound_slot_[sa.spi] = *slot;
}

namespace {
uint16_t natt_port(const SaDescriptor& sa) noexcept { return sa.natt ? sa.natt->remote_port : 0; }
}  // namespace

FastpathInstaller::OutboundIndex::iterator FastpathInstaller::find_outbound(uint32_t spi,
                                                                          const SaDescriptor* sa) noexcept {
  auto [first, last] = outbound_pos_.equal_range(spi);
  if (first == last || std::next(first) == last || !sa) return first == last ? outbound_pos_.end() : first;
  for (auto it = first; it != last; ++it)
    if (it->second->remote == sa->remote && it->second->remote_port == natt_port(*sa)) return it;
  return outbound_pos_.end();  // ambiguous and none with that address and port: touch nothing
}

void FastpathInstaller::install_outbound(const std::string& peer, const SaDescriptor& sa, const ChildSelectors& ts,
                                         uint32_t replaces) {
  Sad& sad = *cfg_.tables->sad;
  std::string err;
  auto& list = outbound_[peer];
  if (replaces != sa.spi)
    if (auto self = find_outbound(sa.spi, &sa);
        self != outbound_pos_.end() && self->second->remote == sa.remote && self->second->remote_port == natt_port(sa)) {
      // Installed already: the survivor of a Child SA rekey collision taking over from the
      // redundant Child SA (RFC 7296 2.8.1), whose removal follows. It keeps its slot and its
      // lifetime (a second slot with the same SA would count from zero) and becomes the newest, so
      // the policies and tunnels move to it when the other one goes.
      const uint32_t slot = self->second->slot;
      list.splice(list.end(), list, self->second);
      for (uint32_t t = 0; t < cfg_.tunnel_peer.size() && t < cfg_.tables->tunnels; ++t)
        if (cfg_.tunnel_peer[t] == peer) cfg_.tables->tunnel_sa[t].store(slot, std::memory_order_release);
      outbound_changed();
      return;
    }
  auto pos = replaces ? find_outbound(replaces, &sa) : outbound_pos_.end();
  uint32_t slot = kNoSaSlot;
  const bool replacing = pos != outbound_pos_.end();
  if (replacing) {
    // Rekey (or a NAT mapping change: same SPI, new port): the slot keeps its policies and tunnel.
    auto old = pos->second;
    // The same SPI (a new mapping) continues its limits and sequence numbers (Sad::replace).
    if (!sad.replace(old->slot, sa, &err)) {
      fail("peer " + peer + ": outbound SA replace: " + err);
      return;
    }
    slot = old->slot;
    outbound_pos_.erase(pos);
    Outbound moved{sa.spi, slot, sa.remote, natt_port(sa), ts, std::move(old->selectors)};
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
    list.push_back(Outbound{sa.spi, slot, sa.remote, natt_port(sa), ts, to_policy_selectors(ts.local, ts.remote)});
  }
  // Before a policy or tunnel points at the slot: a packet decrypted from this peer is never
  // encrypted back into it (hub_loop).
  set_peer(peer, slot);
  outbound_pos_.emplace(sa.spi, std::prev(list.end()));
  for (uint32_t t = 0; t < cfg_.tunnel_peer.size() && t < cfg_.tables->tunnels; ++t)
    if (cfg_.tunnel_peer[t] == peer) cfg_.tables->tunnel_sa[t].store(slot, std::memory_order_release);
  // A replaced SA keeps its slot: the SPD already points there (no rebuild, no grace period).
  if (!replacing) outbound_changed();
}

void FastpathInstaller::remove(const std::string& peer, uint32_t spi, SaDirection d, const SaDescriptor* sa) {
  Sad& sad = *cfg_.tables->sad;
  if (d == SaDirection::kInbound) {
    auto it = inbound_slot_.find(spi);
    if (it == inbound_slot_.end()) return;
    sad.remove(it->second);
    // sa_selectors of the slot are rewritten by the next install_inbound that reuses it.
    inbound_slot_.erase(it);
    return;
  }
  auto pos = find_outbound(spi, sa);
  if (pos == outbound_pos_.end()) return;
  const uint32_t slot = pos->second->slot;
  auto& list = outbound_[peer];
  list.erase(pos->second);
  outbound_pos_.erase(pos);
  // Policies and tunnels stop pointing at the slot before the SA goes (kNoSa from then on).
  for (uint32_t t = 0; t < cfg_.tunnel_peer.size() && t < cfg_.tables->tunnels; ++t)
    if (cfg_.tunnel_peer[t] == peer && cfg_.tables->tunnel_sa[t].load() == slot)
      cfg_.tables->tunnel_sa[t].store(list.empty() ? kNoTunnelSa : list.back().slot, std::memory_order_release);
  doomed_.push_back(slot);  // removed from the SAD once the SPD without it is published
  outbound_changed();
}

}  // namespace esprit::ike
