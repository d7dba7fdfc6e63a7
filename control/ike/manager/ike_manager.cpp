#include "esprit/control/ike/manager/ike_manager.hpp"

#include <algorithm>
#include <array>

#include "esprit/control/ike/message.hpp"

namespace esprit::ike {

using std::chrono::seconds;

std::string_view to_string(InitiateResult r) noexcept {
  switch (r) {
    case InitiateResult::kStarted: return "started";
    case InitiateResult::kAlreadyUp: return "already up";
    case InitiateResult::kUnknownPeer: return "unknown peer";
    case InitiateResult::kResponderOnly: return "negotiation_direction responder: not initiating";
    case InitiateResult::kRateLimited: return "rate limited";
    case InitiateResult::kShuttingDown: return "shutting down";
  }
  return "?";
}

ExchangeStats& IkeStats::of(ExchangeType t) noexcept {
  switch (t) {
    case ExchangeType::kIkeSaInit: return init;
    case ExchangeType::kIkeAuth: return auth;
    case ExchangeType::kCreateChildSa: return create_child;
    default: return informational;
  }
}

// ---------------------------------------------------------------------------------------------
// Configuration conversion
// ---------------------------------------------------------------------------------------------

namespace {

Identity to_identity(const IkeIdentity& id) { return Identity{static_cast<IdType>(id.type), id.data}; }

/// The least rekey margin of a packet/byte limit, as a fraction of it.
constexpr double kMinVolumeMargin = 0.10;

}  // namespace

std::optional<ManagedPeer> make_managed_peer(const IkeConfig& ike, const IkePeer& peer,
                                             const EffectiveIkeSettings& eff, const IpAddress& local_addr,
                                             std::vector<TrafficSelector> local_ts,
                                             std::vector<TrafficSelector> remote_ts, std::string* error) {
  ManagedPeer m;
  m.name = peer.name;
  m.address = peer.address;
  IkeSettings& s = m.sa;
  for (const IkeProposal& p : eff.ike_proposals.value) {
    std::string err;
    auto spec = parse_proposal(p.to_string(), ProtocolId::kIke, &err);
    if (!spec) {
      if (error) *error = "peer " + peer.name + ": ike proposal '" + p.to_string() + "': " + err;
      return std::nullopt;
    }
    s.ike_proposals.push_back(std::move(*spec));
  }
  for (const IkeProposal& p : eff.child_proposals()) {
    std::string err;
    auto spec = parse_proposal(p.to_string(), ProtocolId::kEsp, &err);
    if (!spec) {
      if (error) *error = "peer " + peer.name + ": esp proposal '" + p.to_string() + "': " + err;
      return std::nullopt;
    }
    s.child.esp_proposals.push_back(std::move(*spec));
  }
  s.psk = peer.psk;
  s.local_id = eff.local_id.value ? to_identity(*eff.local_id.value) : to_identity(IkeIdentity::from_address(local_addr));
  if (peer.address || peer.remote_id) s.remote_id = to_identity(peer.effective_remote_id());
  s.local_addr = local_addr;
  s.local_port = ike.port;
  if (peer.address) s.remote_addr = *peer.address;
  s.remote_port = ike.port;
  s.child.local_ts = std::move(local_ts);
  s.child.remote_ts = std::move(remote_ts);
  s.child.lifetime = seconds(eff.child_lifetime.value);
  // Packet/byte limits go into the Child SAs' descriptors (the fast path enforces them). The soft
  // limit follows the time lifetime's rekey margin and jitter as fractions of child_lifetime,
  // with a margin of at least 10 % (a volume has no time to rekey in): soft = limit x (1 - margin
  // - random(0..jitter)), never below half the limit (docs/ike.md).
  s.child.limit = LifetimeLimit{eff.child_lifetime_packets.value, eff.child_lifetime_bytes.value};
  {
    const double life = eff.child_lifetime.value;
    const double margin = life > 0 ? std::max(eff.rekey_margin.value / life, kMinVolumeMargin) : kMinVolumeMargin;
    const double jit = life > 0 ? eff.rekey_jitter.value / life : 0;
    s.child.soft_max = std::max(0.5, 1 - margin);
    s.child.soft_min = std::max(0.5, 1 - margin - jit);
  }
  s.ike_lifetime = seconds(eff.ike_lifetime.value);
  s.cookie_threshold = ike.cookie_threshold;
  s.fragmentation = eff.ike_fragmentation.value;
  s.fragment_size = eff.ike_fragment_size.value;
  // retransmit_waits(): the wait after each transmission, the last one before giving up.
  auto waits = eff.retransmit_waits();
  s.retransmit.resend_at.clear();
  Duration t{};
  for (std::size_t i = 0; i < waits.size(); ++i) {
    t += seconds(waits[i]);
    if (i + 1 < waits.size()) s.retransmit.resend_at.push_back(t);
  }
  s.retransmit.give_up_at = t;
  m.direction = eff.negotiation_direction.value;
  m.connect = eff.connect_type.value;
  m.natt = eff.natt.value;
  m.child_lifetime = seconds(eff.child_lifetime.value);
  m.ike_lifetime = seconds(eff.ike_lifetime.value);
  m.rekey_margin = seconds(eff.rekey_margin.value);
  m.rekey_jitter = seconds(eff.rekey_jitter.value);
  m.child_bytes = eff.child_lifetime_bytes.value;
  m.child_packets = eff.child_lifetime_packets.value;
  m.dpd_interval = seconds(eff.dpd_interval.value);
  m.natt_port = ike.natt_port;
  m.nat_keepalive = seconds(eff.nat_keepalive.value);
  return m;
}

// ---------------------------------------------------------------------------------------------
// The manager
// ---------------------------------------------------------------------------------------------

IkeManager::IkeManager(std::vector<ManagedPeer> peers, IkeManagerEnv env) : env_(std::move(env)) {
  for (auto& p : peers) peers_.push_back(PeerState{std::move(p), {}, {}, false, {}, {}});
  responder_ = std::make_unique<ResponderContext>(*env_.rng);
}

IkeManager::~IkeManager() = default;

Duration IkeManager::jitter(Duration max) noexcept {
  if (max <= Duration::zero()) return {};
  uint64_t r = 0;
  std::array<uint8_t, 8> b{};
  if (!env_.rng->fill(b)) return {};
  for (uint8_t x : b) r = (r << 8) | x;
  return Duration(static_cast<Duration::rep>(r % static_cast<uint64_t>(max.count() + 1)));
}

std::string IkeManager::init_key(const IpAddress& remote, uint16_t rport, uint64_t spi_i,
                                 std::span<const uint8_t> nonce) {
  std::string k(reinterpret_cast<const char*>(remote.bytes()), remote.size());
  k.append(reinterpret_cast<const char*>(&rport), sizeof rport);
  k.append(reinterpret_cast<const char*>(&spi_i), sizeof spi_i);
  k.append(reinterpret_cast<const char*>(nonce.data()), nonce.size());
  return k;
}

void IkeManager::index(Entry& e) {
  uint64_t spi = our_spi(*e.sa);
  if (spi != 0 && e.sa->state() != IkeState::kDestroyed) {
    by_spi_[spi] = &e;
    e.indexed_spi = spi;
  }
}

IkeManager::Entry& IkeManager::add(std::unique_ptr<Entry> e) {
  Entry& ref = *e;
  // An exchange queued on the SA by someone else (a test, a debugging aid) runs at the next tick,
  // as it did when tick() visited every SA.
  ref.sa->set_queue_hook([this, serial = ref.serial] {
    if (busy_ == 0) kicked_.push_back(serial);
  });
  peers_[ref.peer].entries.emplace(ref.serial, &ref);
  for (IkeStats* s : {&global_, &peers_[ref.peer].stats}) {
    ++s->memory.ike_sas;
    ++s->memory.half_open;
  }
  sas_.emplace(ref.serial, std::move(e));
  return ref;
}

void IkeManager::account(Entry& e, bool gone) {
  std::size_t mem = 0, children = 0;
  if (!gone) {
    // The SA, our entry, its Child SA timers and index entries (hash nodes, heap items).
    constexpr std::size_t kNode = 64;
    mem = e.sa->memory_estimate() + sizeof(Entry) + e.init_index.capacity() + e.id_key.capacity() +
          e.children.size() * (sizeof(ChildTimers) + kNode) + 4 * kNode;
    children = e.sa->child_sas().size();
  }
  const bool established_now = !gone && e.was_established && !e.counted_established;
  for (IkeStats* s : {&global_, &peers_[e.peer].stats}) {
    s->memory.bytes = s->memory.bytes - e.mem + mem;
    s->memory.child_sas = s->memory.child_sas - e.child_count + children;
    if (established_now) --s->memory.half_open;
    if (gone) {
      --s->memory.ike_sas;
      if (!e.counted_established) --s->memory.half_open;
    }
  }
  if (established_now) e.counted_established = true;
  e.mem = mem;
  e.child_count = children;
}

bool IkeManager::has_sa(std::size_t peer) const noexcept {
  const auto& es = peers_[peer].entries;
  return std::any_of(es.rbegin(), es.rend(), [](const auto& kv) {
    const IkeState s = kv.second->sa->state();
    return s != IkeState::kDestroyed && s != IkeState::kDeleting;
  });
}

const IkeSa* IkeManager::established(std::string_view peer) const noexcept {
  for (const PeerState& p : peers_) {
    if (p.cfg.name != peer) continue;
    for (auto it = p.entries.rbegin(); it != p.entries.rend(); ++it)  // the newest first
      if (it->second->sa->state() == IkeState::kEstablished) return it->second->sa.get();
    return nullptr;
  }
  return nullptr;
}

const IkeStats* IkeManager::statistics(std::string_view peer) const noexcept {
  for (const auto& p : peers_)
    if (p.cfg.name == peer) return &p.stats;
  return nullptr;
}

std::optional<std::size_t> IkeManager::match_peer(const IpAddress& remote) const noexcept {
  std::optional<std::size_t> any;
  for (std::size_t i = 0; i < peers_.size(); ++i) {
    if (peers_[i].cfg.address && *peers_[i].cfg.address == remote) return i;
    if (!peers_[i].cfg.address && !any) any = i;
  }
  return any;
}

IkeManager::Entry& IkeManager::start_initiator(std::size_t peer) {
  auto e = std::make_unique<Entry>();
  const ManagedPeer& cfg = peers_[peer].cfg;
  IkeSettings s = cfg.sa;
  e->sa = std::make_unique<IkeSa>(IkeRole::kInitiator, s, IkeSaEnv{env_.rng, env_.clock, sink_of(peer), nullptr});
  e->peer = peer;
  e->serial = next_serial_++;
  e->local = s.local_addr;
  e->lport = s.local_port;
  e->remote = s.remote_addr;
  e->rport = s.remote_port;
  e->created = e->last_rx = now();
  e->sa->initiate();
  Entry& ref = add(std::move(e));
  after_activity(ref);
  return ref;
}

void IkeManager::start() {
  Busy busy(busy_);
  for (std::size_t i = 0; i < peers_.size(); ++i) {
    const ManagedPeer& p = peers_[i].cfg;
    if (p.connect == ConnectType::kAuto && p.direction != NegotiationDirection::kResponder && p.address &&
        !has_sa(i))
      start_initiator(i);
  }
}

InitiateResult IkeManager::initiate(std::string_view name) {
  Busy busy(busy_);
  for (std::size_t i = 0; i < peers_.size(); ++i) {
    if (peers_[i].cfg.name != name) continue;
    if (shutting_down_) return InitiateResult::kShuttingDown;
    if (peers_[i].cfg.direction == NegotiationDirection::kResponder || !peers_[i].cfg.address)
      return InitiateResult::kResponderOnly;
    if (has_sa(i)) return InitiateResult::kAlreadyUp;
    start_initiator(i);
    return InitiateResult::kStarted;
  }
  return InitiateResult::kUnknownPeer;
}

InitiateResult IkeManager::acquire(std::string_view name) {
  for (std::size_t i = 0; i < peers_.size(); ++i) {
    PeerState& p = peers_[i];
    if (p.cfg.name != name) continue;
    if (shutting_down_) return InitiateResult::kShuttingDown;
    ++global_.acquire;
    ++p.stats.acquire;
    if (p.acquired_once && now() - p.last_acquire < env_.acquire_holdoff) {
      ++global_.acquire_limited;
      ++p.stats.acquire_limited;
      return InitiateResult::kRateLimited;
    }
    p.acquired_once = true;
    p.last_acquire = now();
    // The IKE SA is up but its Child SAs are gone (hard lifetime, the peer's Delete): the traffic
    // asks for a new Child SA on it (CREATE_CHILD_SA), not for a second IKE SA.
    for (auto& [serial, e] : sas_) {
      if (e->peer != i || e->sa->state() != IkeState::kEstablished || e->hard_deleting) continue;
      if (!e->sa->child_sas().empty() || e->sa->request_outstanding()) return InitiateResult::kAlreadyUp;
      Busy busy(busy_);
      e->sa->create_child();
      after_activity(*e);
      return InitiateResult::kStarted;
    }
    return initiate(name);
  }
  return InitiateResult::kUnknownPeer;
}

std::size_t IkeManager::clear(std::string_view peer) {
  Busy busy(busy_);
  std::size_t n = 0;
  for (auto& [serial, e] : sas_) {
    if (!peer.empty() && peers_[e->peer].cfg.name != peer) continue;
    if (e->sa->state() == IkeState::kEstablished) {
      e->sa->delete_ike_sa();
      e->hard_deleting = true;
      after_activity(*e);
      ++n;
    } else if (e->sa->state() != IkeState::kDestroyed) {
      e->sa->outbox().clear();
      ++n;
      e->hard_deleting = true;
      e->destroy_at = now();  // destroyed on the next tick
      schedule(*e);
    }
  }
  return n;
}

std::size_t IkeManager::shutdown() {
  shutting_down_ = true;
  for (PeerState& p : peers_) p.reconnect_at = Duration::zero();
  std::size_t deletes = 0;
  for (auto& [serial, e] : sas_)
    if (e->sa->state() == IkeState::kEstablished && !e->hard_deleting) ++deletes;
  (void)clear();  // Deletes on established SAs, half-open ones dropped at the next tick
  return deletes;
}

void IkeManager::count_datagram(Entry& e, std::span<const uint8_t> bytes, bool sent) {
  auto h = Message::parse_header(bytes);
  if (!h) return;
  // A request we send again with the message ID and exchange of the last one is a resend (the
  // SA's retransmission, or IKE_SA_INIT again after COOKIE / INVALID_KE_PAYLOAD).
  bool resend = false;
  if (sent && h->request()) {
    resend = e.have_last_request && e.last_request_mid == h->message_id && e.last_request_exchange == h->exchange;
    e.have_last_request = true;
    e.last_request_mid = h->message_id;
    e.last_request_exchange = h->exchange;
  }
  for (IkeStats* s : {&global_, &peers_[e.peer].stats}) {
    ExchangeStats& x = s->of(h->exchange);
    if (resend) {
      x.resend++;
    } else if (sent) {
      (h->response() ? x.send_response : x.send_request)++;
    } else {
      (h->response() ? x.recv_response : x.recv_request)++;
    }
  }
}

void IkeManager::flush(Entry& e) {
  auto& box = e.sa->outbox();
  if (!box.empty()) e.last_tx = now();
  for (auto& d : box) {
    count_datagram(e, d, true);
    if (env_.send) env_.send(e.local, e.lport, e.remote, e.rport, d);
  }
  box.clear();
}

void IkeManager::count_failure(std::size_t peer, std::string name) {
  ++global_.failures[name];
  ++peers_[peer].stats.failures[name];
}

void IkeManager::maybe_float(Entry& e) {
  const ManagedPeer& cfg = peers_[e.peer].cfg;
  if (e.floated || cfg.natt == NattMode::kOff) return;
  const IkeSaInitResult& r = e.sa->init_result();
  bool nat = r.nat_local || r.nat_remote || cfg.natt == NattMode::kForce;
  if (!nat || e.sa->state() == IkeState::kCreated || e.sa->state() == IkeState::kConnecting) return;
  e.floated = true;
  // RFC 7296 2.23: the initiator moves to 4500 after IKE_SA_INIT; the responder answers where the
  // request came from (it has seen it arrive on 4500 already).
  if (e.sa->role() == IkeRole::kInitiator && e.lport != cfg.natt_port) {
    e.lport = cfg.natt_port;
    e.rport = cfg.natt_port;
  }
  e.sa->set_endpoints(e.lport, e.remote, e.rport);
}

void IkeManager::follow_mapping(Entry& e, const IpAddress& remote, uint16_t rport) {
  if (remote == e.remote && rport == e.rport) return;
  // RFC 7296 2.23: only behind a NAT, and only on an authenticated message (the caller checks the
  // SA accepted it: its peer message ID or its state moved).
  const IkeSaInitResult& r = e.sa->init_result();
  if (!(r.nat_remote || r.nat_local || peers_[e.peer].cfg.natt == NattMode::kForce)) return;
  e.remote = remote;
  e.rport = rport;
  e.sa->set_endpoints(e.lport, e.remote, e.rport);
  for (ChildSa& c : e.sa->children()) {
    if (c.outbound.natt) c.outbound.natt->remote_port = rport;
    c.outbound.remote = remote;
    if (c.inbound.natt) c.inbound.natt->remote_port = rport;
    c.inbound.remote = remote;
    if (c.outbound_active && sink_of(e.peer)) sink_of(e.peer)->install_outbound(c.outbound, c.ts, c.spi_out);
  }
}

void IkeManager::update_children(Entry& e) {
  const ManagedPeer& cfg = peers_[e.peer].cfg;
  const auto& sas = e.sa->child_sas();
  // Nothing new or gone (the common case): keep the map as it is.
  if (sas.size() == e.children.size() &&
      std::all_of(sas.begin(), sas.end(), [&](const ChildSa& c) { return e.children.count(c.spi_in) != 0; }))
    return;
  std::map<uint32_t, ChildTimers> next;
  for (const ChildSa& c : sas) {
    auto it = e.children.find(c.spi_in);
    if (it != e.children.end()) {
      next.emplace(c.spi_in, it->second);
      continue;
    }
    ChildTimers t;
    t.installed = now();
    if (cfg.child_lifetime > Duration::zero()) {
      t.hard = t.installed + cfg.child_lifetime;
      Duration soft = cfg.child_lifetime - cfg.rekey_margin - jitter(cfg.rekey_jitter);
      if (soft < cfg.child_lifetime / 2) soft = cfg.child_lifetime / 2;
      t.soft = t.installed + soft;
    }
    next.emplace(c.spi_in, t);
  }
  if (e.children.empty() && !next.empty()) e.last_poll = now();
  for (const auto& [spi, t] : e.children)
    if (!next.count(spi))
      if (auto it = child_owner_.find(spi); it != child_owner_.end() && it->second == e.serial) child_owner_.erase(it);
  for (const auto& [spi, t] : next) child_owner_[spi] = e.serial;
  e.children = std::move(next);
}

void IkeManager::initial_contact(Entry& e) {
  // RFC 7296 2.4: INITIAL_CONTACT says this is the only IKE SA between the two authenticated
  // identities; older ones (the peer rebooted) go, with their Child SAs, without a Delete (the
  // peer no longer knows them). Other IDs from the same address (road warriors behind one NAT,
  // a load generator) are not touched. Only SAs the peer initiated: when both sides initiate at
  // once, each side's INITIAL_CONTACT would otherwise delete the SA the other one keeps.
  const auto& pid = e.sa->peer_id();
  if (!pid) return;
  const Identity& lid = e.sa->settings().local_id;
  std::string key(reinterpret_cast<const char*>(&e.peer), sizeof e.peer);
  key.push_back(static_cast<char>(lid.type));
  key.append(std::to_string(lid.data.size())).push_back(':');
  key.append(lid.data.begin(), lid.data.end());
  key.push_back(static_cast<char>(pid->type));
  key.append(pid->data.begin(), pid->data.end());
  auto& list = by_id_[key];
  if (e.sa->peer_initial_contact())
    for (Entry* o : list) {
      if (o == &e || o->sa->state() == IkeState::kDestroyed || o->sa->role() != IkeRole::kResponder) continue;
      o->sa->outbox().clear();
      o->sa->set_state(IkeState::kDestroyed);
      ++global_.initial_contact;
      ++peers_[o->peer].stats.initial_contact;
      note_dead(*o);
    }
  e.id_key = std::move(key);
  list.push_back(&e);
}

void IkeManager::after_activity(Entry& e) {
  index(e);
  maybe_float(e);
  const ManagedPeer& cfg = peers_[e.peer].cfg;
  if (!e.was_established && e.sa->state() == IkeState::kEstablished) {
    e.was_established = true;
    e.established_at = now();
    ++global_.established;
    ++peers_[e.peer].stats.established;
    if (env_.on_established) env_.on_established(cfg.name, *e.sa);
    if (cfg.ike_lifetime > Duration::zero()) {
      e.ike_hard = now() + cfg.ike_lifetime;
      Duration soft = cfg.ike_lifetime - cfg.rekey_margin - jitter(cfg.rekey_jitter);
      if (soft < cfg.ike_lifetime / 2) soft = cfg.ike_lifetime / 2;
      e.ike_soft = now() + soft;
    }
    if (e.id_key.empty()) initial_contact(e);
    e.sa->release_exchange();  // about 2 KB per SA that only IKE_SA_INIT and IKE_AUTH needed
  }
  // Timeouts: charged to the exchange of the last request sent.
  const IkeSaCounters& c = e.sa->counters();
  auto delta = [&](IkeSaEvent ev) { return c[ev] - e.last_counters[ev]; };
  if (delta(IkeSaEvent::kGiveUp)) {
    for (IkeStats* s : {&global_, &peers_[e.peer].stats})
      s->of(e.have_last_request ? e.last_request_exchange : ExchangeType::kInformational).timeout++;
    count_failure(e.peer, "TIMEOUT");
  }
  if (uint64_t d = delta(IkeSaEvent::kDpd)) {
    global_.dpd_sent += d;
    peers_[e.peer].stats.dpd_sent += d;
  }
  for (auto [ev, name] : {std::pair{IkeSaEvent::kNoProposalChosen, "NO_PROPOSAL_CHOSEN"},
                          std::pair{IkeSaEvent::kAuthFailed, "AUTHENTICATION_FAILED"},
                          std::pair{IkeSaEvent::kInvalidKe, "INVALID_KE_PAYLOAD"},
                          std::pair{IkeSaEvent::kTsUnacceptable, "TS_UNACCEPTABLE"},
                          std::pair{IkeSaEvent::kInvalidSyntax, "INVALID_SYNTAX"},
                          std::pair{IkeSaEvent::kOtherError, "OTHER"}})
    for (uint64_t i = 0; i < delta(ev); ++i) count_failure(e.peer, name);
  e.last_counters = c;
  flush(e);
  // An IKE SA rekey made a successor: it joins the table with the same peer and endpoints. After a
  // simultaneous rekey (RFC 7296 2.8.2) there are two: the survivor, then the redundant one, which
  // must stay reachable until its Delete exchange is done.
  bool first = true;
  while (auto next = e.sa->take_successor()) {
    auto n = std::make_unique<Entry>();
    n->sa = std::move(next);
    n->peer = e.peer;
    n->serial = next_serial_++;
    n->local = e.local;
    n->lport = e.lport;
    n->remote = e.remote;
    n->rport = e.rport;
    n->floated = e.floated;
    n->children = e.children;  // the Child SAs moved over keep their lifetimes (RFC 7296 2.18)
    e.children.clear();
    for (const auto& [spi, t] : n->children) child_owner_[spi] = n->serial;
    n->created = n->last_rx = now();
    n->sa->set_endpoints(e.lport, e.remote, e.rport);
    // The redundant IKE SA of a collision is already deleting itself: its end is a delete, not a
    // failed negotiation.
    n->was_established = n->sa->state() == IkeState::kDeleting;
    // It was established (its Delete goes out sealed with its keys): the keys file hears of it too.
    if (n->was_established && env_.on_established) env_.on_established(peers_[e.peer].cfg.name, *n->sa);
    // The successor is the same peer with the same identities (INITIAL_CONTACT finds it).
    if (!n->sa->peer_id() && e.sa->peer_id()) n->sa->set_peer_id(*e.sa->peer_id(), false);
    if (first) {  // one rekey, even when a collision made a second, redundant IKE SA
      ++global_.rekeys_ike;
      ++peers_[e.peer].stats.rekeys_ike;
    }
    first = false;
    Entry& ref = add(std::move(n));
    after_activity(ref);
  }
  update_children(e);  // after the hand-over: a successor takes the timers of the Child SAs it adopted
  account(e);
  schedule(e);  // after update_children: the Child SAs' lifetimes are among the deadlines
  note_dead(e);
}

void IkeManager::note_dead(Entry& e) {
  if (e.dead || e.sa->state() != IkeState::kDestroyed) return;
  e.dead = true;
  dead_.push_back(&e);
}

Duration IkeManager::next_due(const Entry& e) const noexcept {
  const IkeSa& sa = *e.sa;
  if (sa.state() == IkeState::kDestroyed) return kNever;
  const ManagedPeer& cfg = peers_[e.peer].cfg;
  Duration d = kNever;
  auto at = [&](Duration x) { d = std::min(d, x); };
  if (e.destroy_at != Duration::zero()) at(e.destroy_at);
  if (auto t = sa.next_timer()) at(*t);
  // Half-open responder SAs expire after twice the initiator's give-up time (strictly after).
  if (!e.was_established && sa.role() == IkeRole::kResponder)
    at(e.created + cfg.sa.retransmit.give_up_at * 2 + Duration(1));
  if (sa.state() != IkeState::kEstablished) return d;
  if (e.ike_hard != Duration::zero() && !e.hard_deleting) at(e.ike_hard);
  if (e.ike_soft != Duration::zero() && !e.rekey_started && !sa.ike_rekey_under_way()) at(e.ike_soft);
  if (env_.counters && sa.outbound_switch_pending()) at(e.switch_poll_at);
  bool limits = false;
  for (const auto& [spi, ct] : e.children) {
    const ChildSa* c = nullptr;
    for (const ChildSa& x : sa.child_sas())
      if (x.spi_in == spi) c = &x;
    if (!c || c->deleting) continue;
    limits = true;
    if (ct.hard != Duration::zero()) at(ct.hard);
    if (ct.soft != Duration::zero() && !c->rekeyed) at(ct.soft);
  }
  if (limits && volume_limits(cfg)) {
    if (e.poll_now) at(Duration::zero());  // events were lost: now
    else if (!env_.limit_events) at(e.last_poll + env_.limit_poll);
  }
  if (cfg.nat_keepalive > Duration::zero() && e.floated && sa.init_result().nat_local && env_.send_keepalive)
    at(e.last_tx + cfg.nat_keepalive);
  if (cfg.dpd_interval > Duration::zero() && !sa.request_outstanding()) at(e.last_rx + cfg.dpd_interval);
  return d;
}

void IkeManager::schedule(Entry& e) {
  Duration d = next_due(e);
  if (d == e.due) return;
  e.due = d;
  if (d != kNever) timers_.push(Due{d, e.serial});
  // Moved deadlines leave stale items behind (skipped when they come up); rebuild when they pile up.
  if (timers_.size() > 4 * sas_.size() + 1024) {
    std::vector<Due> live;
    live.reserve(sas_.size());
    for (const auto& [serial, x] : sas_)
      if (x->due != kNever) live.push_back(Due{x->due, serial});
    timers_ = decltype(timers_)(std::greater<Due>(), std::move(live));
  }
}

std::optional<Duration> IkeManager::next_deadline() const noexcept {
  std::optional<Duration> d;
  if (!kicked_.empty()) return now();  // an exchange queued from outside runs at the next tick
  if (!timers_.empty()) d = timers_.top().at;  // may be stale (earlier): tick() then skips it
  for (const PeerState& p : peers_)
    if (p.reconnect_at != Duration::zero() && (!d || p.reconnect_at < *d)) d = p.reconnect_at;
  return d;
}

void IkeManager::receive(const IpAddress& local, uint16_t lport, const IpAddress& remote, uint16_t rport,
                         std::span<const uint8_t> bytes) {
  Busy busy(busy_);
  auto h = Message::parse_header(bytes);
  if (!h) {
    ++global_.dropped;
    return;
  }
  Entry* target = nullptr;
  if (h->exchange == ExchangeType::kIkeSaInit && h->request() && h->spi_r == 0) {
    // Responder demux: a retransmitted IKE_SA_INIT (same address, port, SPIi and nonce) goes to
    // the half-open SA it created.
    auto m = Message::parse(bytes);
    const NoncePayload* ni = m ? m->find<NoncePayload>() : nullptr;
    if (!ni) {
      ++global_.dropped;
      return;
    }
    std::string key = init_key(remote, rport, h->spi_i, ni->nonce);
    if (auto it = by_init_.find(key); it != by_init_.end() && it->second->sa->state() != IkeState::kDestroyed)
      target = it->second;
    if (!target) {
      auto p = match_peer(remote);
      if (!p || peers_[*p].cfg.direction == NegotiationDirection::kInitiator || shutting_down_) {
        ++global_.dropped;
        return;
      }
      IkeSettings s = peers_[*p].cfg.sa;
      s.local_addr = local;
      s.local_port = lport;
      s.remote_addr = remote;
      s.remote_port = rport;
      auto e = std::make_unique<Entry>();
      e->sa = std::make_unique<IkeSa>(IkeRole::kResponder, s, IkeSaEnv{env_.rng, env_.clock, sink_of(*p), responder_.get()});
      e->peer = *p;
      e->serial = next_serial_++;
      e->local = local;
      e->lport = lport;
      e->remote = remote;
      e->rport = rport;
      e->created = now();
      e->init_index = key;
      e->floated = lport == peers_[*p].cfg.natt_port;  // [ike] natt_port, not "anything but 500"
      target = e.get();
      by_init_[key] = target;
      add(std::move(e));
    }
  } else {
    // Our SPI: SPIr when the sender is the original initiator, SPIi otherwise.
    uint64_t spi = h->initiator() ? h->spi_r : h->spi_i;
    if (auto it = by_spi_.find(spi); it != by_spi_.end() && it->second->sa->state() != IkeState::kDestroyed &&
                                     our_spi(*it->second->sa) == spi)
      target = it->second;
  }
  if (!target) {
    ++global_.dropped;
    return;
  }
  count_datagram(*target, bytes, false);
  // Our own port: a message after IKE_SA_INIT arriving on the NAT-T port means the peer floated
  // (RFC 7296 2.23); answer and send from there.
  if (lport != target->lport && target->sa->state() != IkeState::kCreated) {
    target->lport = lport;
    target->floated = true;
    target->sa->set_endpoints(target->lport, target->remote, target->rport);
  }
  uint32_t peer_mid = target->sa->peer_request_id();
  uint64_t dropped = target->sa->counters()[IkeSaEvent::kDropped];
  IkeState before = target->sa->state();
  target->sa->receive(bytes);
  bool accepted = target->sa->counters()[IkeSaEvent::kDropped] == dropped &&
                  (target->sa->peer_request_id() != peer_mid || target->sa->state() != before || h->response());
  if (accepted) {
    target->last_rx = now();
    if (target->sa->state() == IkeState::kEstablished) follow_mapping(*target, remote, rport);
  }
  after_activity(*target);
  reap();
}

void IkeManager::reap() {
  if (dead_.empty()) return;
  // In creation order, as a scan of the table would find them.
  std::sort(dead_.begin(), dead_.end(), [](const Entry* a, const Entry* b) { return a->serial < b->serial; });
  std::vector<std::size_t> dead_of_peer(peers_.size(), 0);
  for (const Entry* e : dead_) ++dead_of_peer[e->peer];
  auto dead = std::move(dead_);
  dead_.clear();
  for (Entry* ep : dead) {
    Entry& e = *ep;
    flush(e);
    PeerState& p = peers_[e.peer];
    if (e.was_established) {
      ++global_.deleted;
      ++p.stats.deleted;
    } else {
      ++global_.failed;
      ++p.stats.failed;
    }
    // A destroyed SA's Child SAs leave the fast path (the SA removes them on a delete it ran; a
    // timeout or a lost SA leaves them to us).
    if (ChildSaSink* sink = sink_of(e.peer))
      for (const ChildSa& c : e.sa->child_sas()) {
        sink->remove(c.spi_in, SaDirection::kInbound);
        if (c.outbound_installed) sink->remove_outbound(c.spi_out, c.outbound);
      }
    const std::size_t peer = e.peer;
    // Another SA of the peer still stands (the IKE SA was rekeyed away, or another road warrior).
    const bool rekeyed_away = p.entries.size() > dead_of_peer[peer];
    if (e.indexed_spi != 0)
      if (auto i = by_spi_.find(e.indexed_spi); i != by_spi_.end() && i->second == &e) by_spi_.erase(i);
    if (!e.init_index.empty()) {
      auto i = by_init_.find(e.init_index);
      if (i != by_init_.end() && i->second == &e) by_init_.erase(i);
    }
    for (const auto& [spi, t] : e.children)
      if (auto i = child_owner_.find(spi); i != child_owner_.end() && i->second == e.serial) child_owner_.erase(i);
    if (!e.id_key.empty())
      if (auto i = by_id_.find(e.id_key); i != by_id_.end()) {
        std::erase(i->second, &e);
        if (i->second.empty()) by_id_.erase(i);
      }
    account(e, true);
    p.entries.erase(e.serial);
    --dead_of_peer[peer];
    sas_.erase(e.serial);
    if (!rekeyed_away && !shutting_down_ && p.cfg.connect == ConnectType::kAuto &&
        p.cfg.direction != NegotiationDirection::kResponder && p.cfg.address)
      p.reconnect_at = now() + env_.reconnect_delay;
  }
}

IkeManager::Entry* IkeManager::child_entry(uint32_t spi_in) {
  auto it = child_owner_.find(spi_in);
  if (it == child_owner_.end()) return nullptr;
  auto e = sas_.find(it->second);
  if (e == sas_.end() || e->second->dead || !e->second->children.count(spi_in)) return nullptr;
  return e->second.get();
}

void IkeManager::child_limit(Entry& e, uint32_t spi_in, bool soft, bool hard) {
  IkeSa& sa = *e.sa;
  if (sa.state() != IkeState::kEstablished) return;
  const ChildSa* c = nullptr;
  for (const ChildSa& x : sa.child_sas())
    if (x.spi_in == spi_in) c = &x;
  auto ct = e.children.find(spi_in);
  if (!c || c->deleting || ct == e.children.end()) return;
  const ManagedPeer& cfg = peers_[e.peer].cfg;
  const bool rekeying = c->rekeyed || ct->second.rekey_asked;
  if (hard) {
    // The fast path stopped it (or its time is up). A rekey under way brings its successor;
    // otherwise an auto peer asks for a new Child SA before the Delete (the SPD moves to the new
    // outbound SA when it is installed), a trigger peer waits for traffic (acquire).
    const ChildSelectors ts = c->ts;
    bool others = false;
    for (const ChildSa& x : sa.child_sas())
      others |= x.spi_in != spi_in && !x.deleting && x.ts.local == ts.local && x.ts.remote == ts.remote;
    if (!rekeying && !others && cfg.connect == ConnectType::kAuto && cfg.direction != NegotiationDirection::kResponder)
      sa.create_child();
    // A rekey we answered whose switch waits: its new Child SA sends from now on, not only once our
    // Delete goes out (a request may be outstanding).
    sa.hand_off_outbound(spi_in);
    sa.delete_child(spi_in);
    ct->second.soft = ct->second.hard = Duration::zero();
    ct->second.rekey_asked = true;  // nothing more for it
  } else if (soft && !rekeying) {
    sa.rekey_child(spi_in);
    ++global_.rekeys_child;
    ++peers_[e.peer].stats.rekeys_child;
    ct->second.soft = Duration::zero();
    ct->second.rekey_asked = true;
  }
}

bool IkeManager::child_limit_event(uint64_t cookie, ChildLimitEvent kind) {
  if (cookie == 0 || cookie > UINT32_MAX) return false;
  Entry* e = child_entry(static_cast<uint32_t>(cookie));
  if (!e) return false;
  Busy busy(busy_);
  const bool hard = kind == ChildLimitEvent::kHard;
  ++(hard ? global_.limit_hard : global_.limit_soft);
  ++(hard ? peers_[e->peer].stats.limit_hard : peers_[e->peer].stats.limit_soft);
  child_limit(*e, static_cast<uint32_t>(cookie), !hard, hard);
  after_activity(*e);  // sends the exchange queued (it starts at once unless a request is outstanding)
  reap();
  return true;
}

void IkeManager::child_limit_events_lost() {
  ++global_.limit_lost;
  for (auto& [serial, e] : sas_) {
    if (e->children.empty() || e->dead || !volume_limits(peers_[e->peer].cfg)) continue;
    e->poll_now = true;
    schedule(*e);
  }
}

void IkeManager::run_timers(Entry& e, Duration t) {
  IkeSa& sa = *e.sa;
  if (sa.state() == IkeState::kDestroyed) return;
  ++timer_runs_;
  const ManagedPeer& cfg = peers_[e.peer].cfg;
  if (e.destroy_at != Duration::zero() && t >= e.destroy_at) {
    sa.set_state(IkeState::kDestroyed);
    note_dead(e);
    return;
  }
  sa.tick();
  // Half-open SAs that never complete (responders do not retransmit): dropped after the
  // initiator's give-up time.
  if (!e.was_established && sa.role() == IkeRole::kResponder && t - e.created > cfg.sa.retransmit.give_up_at * 2)
    sa.set_state(IkeState::kDestroyed);
  if (sa.state() == IkeState::kEstablished) {
    // Rekeys we answered: a packet on the new inbound SA says the peer has the new Child SA, which
    // then sends (docs/ike.md "Child SA rekey"; the delay bound is the SA's own timer).
    if (env_.counters && t >= e.switch_poll_at && sa.outbound_switch_pending()) {
      e.switch_poll_at = t + env_.switch_poll;
      std::vector<uint32_t> ready;
      for (const ChildSa& c : sa.child_sas())
        if (c.outbound_pending && env_.counters(c.spi_in, SaDirection::kInbound).packets > 0) ready.push_back(c.spi_in);
      for (uint32_t spi : ready) sa.switch_outbound(spi);
    }
    if (e.ike_hard != Duration::zero() && t >= e.ike_hard && !e.hard_deleting) {
      e.hard_deleting = true;
      sa.delete_ike_sa();
    } else if (e.ike_soft != Duration::zero() && t >= e.ike_soft && !e.rekey_started && !sa.ike_rekey_under_way()) {
      e.rekey_started = true;
      sa.rekey_ike_sa();
    }
    // Packet/byte limits: the fast path's events act at once (child_limit_event); without them,
    // or after some were lost, the counters are compared here.
    const bool poll =
        volume_limits(cfg) && (e.poll_now || (!env_.limit_events && t >= e.last_poll + env_.limit_poll));
    if (poll) {
      e.last_poll = t;
      e.poll_now = false;
    }
    std::vector<std::pair<uint32_t, std::pair<bool, bool>>> hit;  // spi, (soft, hard by volume)
    for (auto& [spi, ct] : e.children) {
      const ChildSa* c = nullptr;
      for (const ChildSa& x : sa.child_sas())
        if (x.spi_in == spi) c = &x;
      if (!c || c->deleting) continue;
      const bool hard = ct.hard != Duration::zero() && t >= ct.hard;
      const bool soft = ct.soft != Duration::zero() && t >= ct.soft;
      bool vsoft = false, vhard = false;
      if (poll) {
        ChildCounters in = env_.counters(c->spi_in, SaDirection::kInbound);
        ChildCounters out = env_.counters(c->spi_out, SaDirection::kOutbound);
        uint64_t bytes = std::max(in.octets, out.octets), pkts = std::max(in.packets, out.packets);
        const LifetimeLimit& lim = cfg.sa.child.limit;
        auto below = [&](uint64_t limit) { return static_cast<uint64_t>(static_cast<double>(limit) * cfg.sa.child.soft_min); };
        if (in.hard || out.hard || (cfg.child_bytes && bytes >= cfg.child_bytes) ||
            (cfg.child_packets && pkts >= cfg.child_packets))
          vhard = true;
        else if (in.soft || out.soft || (lim.bytes && bytes >= below(lim.bytes)) ||
                 (lim.packets && pkts >= below(lim.packets)))
          vsoft = true;
      }
      if (hard || soft || vsoft || vhard) hit.push_back({spi, {soft || vsoft, hard || vhard}});
      if (vhard) {
        ++global_.limit_hard;
        ++peers_[e.peer].stats.limit_hard;
      } else if (vsoft && !ct.rekey_asked && !c->rekeyed) {
        ++global_.limit_soft;
        ++peers_[e.peer].stats.limit_soft;
      }
    }
    for (const auto& [spi, sh] : hit) child_limit(e, spi, sh.first, sh.second);
    // RFC 3948 4: behind a NAT, keep the mapping alive when we have sent nothing for a while.
    if (cfg.nat_keepalive > Duration::zero() && e.floated && sa.init_result().nat_local &&
        t - e.last_tx >= cfg.nat_keepalive && env_.send_keepalive) {
      env_.send_keepalive(e.local, e.lport, e.remote, e.rport);
      e.last_tx = t;
      ++global_.nat_keepalives;
      ++peers_[e.peer].stats.nat_keepalives;
    }
    if (cfg.dpd_interval > Duration::zero() && !sa.request_outstanding() && t - e.last_rx >= cfg.dpd_interval) {
      sa.dpd();
      e.last_rx = t;  // next probe one interval later; the retransmission schedule detects death
    }
    sa.tick();
  }
  after_activity(e);
}

void IkeManager::tick() {
  Busy busy(busy_);
  const Duration t = now();
  ++tick_no_;
  // Pop what is due; an SA runs at most once per tick (a deadline it leaves at or before now waits
  // for the next tick). Stale heap items (the SA's deadline moved, or the SA is gone) are skipped.
  std::vector<Entry*> due;
  std::vector<Due> again;  // due once more after running this tick: kept for the next one
  for (uint64_t serial : kicked_)
    if (auto it = sas_.find(serial); it != sas_.end() && it->second->tick_seen != tick_no_) {
      timers_.push(Due{t, serial});
      it->second->due = t;
    }
  kicked_.clear();
  for (;;) {
    due.clear();
    while (!timers_.empty() && timers_.top().at <= t) {
      Due d = timers_.top();
      timers_.pop();
      auto it = sas_.find(d.serial);
      if (it == sas_.end()) continue;
      Entry& e = *it->second;
      if (e.due != d.at) continue;
      if (e.tick_seen == tick_no_) {
        again.push_back(d);
        continue;
      }
      e.tick_seen = tick_no_;
      e.due = kNever;
      due.push_back(&e);
    }
    if (due.empty()) break;
    // In creation order, as the scan of every SA ran them. A successor created meanwhile (IKE SA
    // rekey) runs in the same tick, as it did.
    std::sort(due.begin(), due.end(), [](const Entry* a, const Entry* b) { return a->serial < b->serial; });
    for (Entry* e : due) run_timers(*e, t);
  }
  for (const Due& d : again) timers_.push(d);
  reap();
  for (std::size_t i = 0; i < peers_.size(); ++i) {
    PeerState& p = peers_[i];
    if (p.reconnect_at != Duration::zero() && t >= p.reconnect_at) {
      p.reconnect_at = Duration::zero();
      if (!has_sa(i) && !shutting_down_) start_initiator(i);
    }
  }
}

}  // namespace esprit::ike
