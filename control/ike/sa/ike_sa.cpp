// The IKE SA: message IDs (window 1), retransmission, the response cache, SK protection, the
// task queue and the Child SAs it owns (RFC 7296 2.1-2.3, 2.21).
#include "esprit/control/ike/sa/ike_sa.hpp"

#include <algorithm>
#include <array>

#include "tasks.hpp"

namespace esprit::ike {

using namespace sa_detail;

std::string_view counter_name(IkeSaEvent e) noexcept {
  switch (e) {
#define ESPRIT_X(en, n, d) \
  case IkeSaEvent::en:     \
    return n;
    ESPRIT_IKE_SA_EVENTS(ESPRIT_X)
#undef ESPRIT_X
    case IkeSaEvent::kCount: break;
  }
  return "";
}

std::string_view to_string(IkeState s) noexcept {
  switch (s) {
    case IkeState::kCreated: return "created";
    case IkeState::kConnecting: return "connecting";
    case IkeState::kAuthenticating: return "authenticating";
    case IkeState::kEstablished: return "established";
    case IkeState::kDeleting: return "deleting";
    case IkeState::kDestroyed: return "destroyed";
  }
  return "";
}

IkeSa::IkeSa(IkeRole role, IkeSettings settings, IkeSaEnv env)
    : role_(role), settings_(std::move(settings)), env_(env) {}

IkeSa::~IkeSa() {
  if (half_open_counted_ && env_.responder) --env_.responder->half_open;
}

void IkeSa::set_state(IkeState s) noexcept {
  state_ = s;
  if (half_open_counted_ && s != IkeState::kConnecting && s != IkeState::kAuthenticating) {
    half_open_counted_ = false;
    if (env_.responder) --env_.responder->half_open;
  } else if (!half_open_counted_ && role_ == IkeRole::kResponder && s == IkeState::kAuthenticating &&
             env_.responder) {
    half_open_counted_ = true;
    ++env_.responder->half_open;
  }
}

void IkeSa::initiate() {
  if (state_ != IkeState::kCreated || role_ != IkeRole::kInitiator) return;
  set_state(IkeState::kConnecting);
  queue_.push_back(make_ike_init());
  queue_.push_back(make_ike_auth());
  run_next();
}

void IkeSa::queue(std::unique_ptr<Task> task) {
  if (state_ == IkeState::kDestroyed) return;
  queue_.push_back(std::move(task));
  run_next();
  if (queue_hook_) queue_hook_();
}

void IkeSa::dpd() {
  count(IkeSaEvent::kDpd);
  queue(make_dpd());
}
void IkeSa::delete_ike_sa() { queue(make_ike_delete()); }
void IkeSa::delete_child(uint32_t spi_in) { queue(make_child_delete(spi_in)); }
void IkeSa::create_child() { queue(make_child_create(0)); }
void IkeSa::rekey_child(uint32_t spi_in) { queue(make_child_create(spi_in)); }
void IkeSa::rekey_ike_sa() { queue(make_ike_rekey()); }

void IkeSa::hand_over(std::unique_ptr<IkeSa> next) {
  next->adopt_established(std::move(children_));
  children_.clear();
  // Exchanges for Child SAs queued here go with them: typically the Delete of a Child SA whose
  // rekey completed while this IKE SA's rekey waited in the queue before it. Left here, it found
  // no Child SA and was dropped: the old Child SA stayed on both sides, and a peer that switches
  // to the new one only on that Delete (strongSwan, us: docs/ike.md "Child SA rekey") kept
  // sending on the old one until its hard lifetime.
  for (auto it = queue_.begin(); it != queue_.end();) {
    const std::string_view n = (*it)->name();
    if (n == "child_delete" || n == "child_create" || n == "child_rekey") {
      next->queue_.push_back(std::move(*it));
      it = queue_.erase(it);
    } else {
      ++it;
    }
  }
  set_successor(std::move(next));
}

ChildSa* IkeSa::find_child(uint32_t spi, bool peer_spi) noexcept {
  for (ChildSa& c : children_)
    if ((peer_spi ? c.spi_out : c.spi_in) == spi) return &c;
  return nullptr;
}

void IkeSa::run_next() {
  if (current_ || queue_.empty() || state_ == IkeState::kDestroyed) return;
  // Only IKE_SA_INIT and IKE_AUTH run before the SA is established.
  if (state_ != IkeState::kEstablished && queue_.front()->exchange() != ExchangeType::kIkeSaInit &&
      queue_.front()->exchange() != ExchangeType::kIkeAuth)
    return;
  current_ = std::move(queue_.front());
  queue_.pop_front();
  send_request(*current_);
}

std::vector<std::vector<uint8_t>> IkeSa::encode(Header h, const std::vector<Payload>& payloads) {
  h.spi_i = spi_i_;
  h.spi_r = spi_r_;
  h.flags = static_cast<uint8_t>((role_ == IkeRole::kInitiator ? kFlagInitiator : 0) | (h.flags & kFlagResponse));
  Message m{h, {}};
  if (h.exchange == ExchangeType::kIkeSaInit) {
    m.payloads = payloads;
    return {m.encode()};
  }
  std::vector<uint8_t> inner = encode_inner(payloads);
  const PayloadType first = payloads.empty() ? PayloadType::kNone : payload_type(payloads[0]);
  std::size_t n = sk_out_->body_size(inner.size());
  // RFC 7383 2.5: with fragmentation negotiated, a message too big for one datagram goes in SKFs.
  constexpr std::size_t kSkOverhead = 28 + 4;  // IKE header + SK generic header
  if (init_.fragmentation && kSkOverhead + n > settings_.fragment_size) {
    auto frags = fragment(h, first, inner);
    if (!frags.empty()) return frags;  // else too small a fragment_size: sent whole
  }
  m.payloads.push_back(EncryptedPayload{first, std::vector<uint8_t>(n)});
  std::vector<uint8_t> wire = m.encode();
  auto r = Message::sk_region(wire);
  if (!r) return {};
  std::span<uint8_t> w(wire);
  if (sk_out_->seal(w.first(r->aad_length), inner, w.subspan(r->body_offset, r->body_length)) != SkStatus::kOk)
    return {};
  return {std::move(wire)};
}

std::vector<std::vector<uint8_t>> IkeSa::fragment(const Header& h, PayloadType first, std::span<const uint8_t> inner) {
  // Each datagram: IKE header (28) | SKF header (8: generic + Fragment Number + Total Fragments) |
  // IV | ciphertext of one chunk with its padding | ICV, at most fragment_size bytes (RFC 7383 2.5).
  constexpr std::size_t kSkfOverhead = 28 + 4 + EncryptedFragmentPayload::kExtraHeader;
  if (settings_.fragment_size <= kSkfOverhead) return {};
  const std::size_t room = settings_.fragment_size - kSkfOverhead;
  std::size_t chunk = room;
  while (chunk > 0 && sk_out_->body_size(chunk) > room) --chunk;
  if (chunk == 0) return {};
  const std::size_t total = (inner.size() + chunk - 1) / chunk;
  if (total < 2 || total > kMaxIkeFragments) return {};
  std::vector<std::vector<uint8_t>> out;
  for (std::size_t k = 0; k < total; ++k) {
    auto part = inner.subspan(k * chunk, std::min(chunk, inner.size() - k * chunk));
    EncryptedFragmentPayload f;
    f.inner_first = k == 0 ? first : PayloadType::kNone;  // Next Payload only in fragment 1 (2.5)
    f.fragment_number = static_cast<uint16_t>(k + 1);
    f.total_fragments = static_cast<uint16_t>(total);
    f.body.resize(sk_out_->body_size(part.size()));
    Message m{h, {std::move(f)}};
    std::vector<uint8_t> wire = m.encode();
    auto r = Message::sk_region(wire);
    if (!r) return {};
    std::span<uint8_t> w(wire);
    // Associated data: IKE header through Total Fragments (RFC 7383 2.5).
    if (sk_out_->seal(w.first(r->aad_length), part, w.subspan(r->body_offset, r->body_length)) != SkStatus::kOk)
      return {};
    out.push_back(std::move(wire));
  }
  return out;
}

void IkeSa::send_request(Task& task) {
  std::vector<Payload> payloads;
  TaskStatus st = task.build_i(*this, payloads);
  if (st != TaskStatus::kSuccess && st != TaskStatus::kNeedMore) {
    current_.reset();
    if (st == TaskStatus::kDestroySa) destroy();
    return;
  }
  Header h;
  h.exchange = task.exchange();
  h.flags = 0;
  // A retried IKE_SA_INIT (COOKIE, INVALID_KE) keeps message ID 0 (RFC 7296 2.6, 1.3).
  h.message_id = task.exchange() == ExchangeType::kIkeSaInit ? 0 : next_mid_;
  auto wire = encode(h, payloads);
  if (wire.empty()) {
    current_.reset();
    destroy();
    return;
  }
  if (task.exchange() == ExchangeType::kIkeSaInit) ex_.init_request = wire[0];
  last_request_ = wire;
  first_sent_ = env_.clock->now();
  resends_ = 0;
  for (auto& d : wire) outbox_.push_back(std::move(d));
}

void IkeSa::send_response(const Header& req, const std::vector<Payload>& payloads) {
  Header h = req;
  h.flags = kFlagResponse;
  auto wire = encode(h, payloads);
  if (wire.empty()) return;
  if (req.exchange == ExchangeType::kIkeSaInit) ex_.init_response = wire[0];
  last_response_ = wire;
  have_response_ = true;
  for (auto& d : wire) outbox_.push_back(std::move(d));
}

void IkeSa::tick() {
  if (state_ == IkeState::kDestroyed) return;
  // A rekey responder's bound on the old Child SA sending (install_child): the peer neither sent on
  // the new one nor deleted the old one in time.
  const Duration now = env_.clock->now();
  for (ChildSa& c : children_)
    if (c.outbound_pending && now >= c.outbound_switch_at) activate_outbound(c);
  if (current_) {
    Duration elapsed = env_.clock->now() - first_sent_;
    const RetransmitSchedule& rs = settings_.retransmit;
    if (elapsed >= rs.give_up_at) {
      count(IkeSaEvent::kGiveUp);
      current_.reset();
      destroy();
      return;
    }
    if (resends_ < rs.resend_at.size() && elapsed >= rs.resend_at[resends_]) {
      ++resends_;
      count(IkeSaEvent::kRetransmit);
      outbox_.insert(outbox_.end(), last_request_.begin(), last_request_.end());  // every fragment
    }
  }
  run_next();
}

uint32_t IkeSa::new_inbound_spi() noexcept {
  for (int i = 0; i < 8; ++i) {
    const uint32_t spi = make_esp_spi(*env_.rng);
    if (spi == 0) return 0;
    if (!env_.sink || !env_.sink->inbound_spi_in_use(spi)) return spi;
  }
  return 0;
}

std::optional<Duration> IkeSa::next_timer() const noexcept {
  if (state_ == IkeState::kDestroyed) return std::nullopt;
  std::optional<Duration> at;
  auto earliest = [&at](Duration d) {
    if (!at || d < *at) at = d;
  };
  for (const ChildSa& c : children_)
    if (c.outbound_pending) earliest(c.outbound_switch_at);
  if (current_) {
    const RetransmitSchedule& rs = settings_.retransmit;
    earliest(first_sent_ + rs.give_up_at);
    if (resends_ < rs.resend_at.size()) earliest(first_sent_ + rs.resend_at[resends_]);
  } else if (!queue_.empty() &&
             (state_ == IkeState::kEstablished || queue_.front()->exchange() == ExchangeType::kIkeSaInit ||
              queue_.front()->exchange() == ExchangeType::kIkeAuth)) {
    earliest(env_.clock->now());
  }
  return at;
}

std::size_t IkeSa::memory_estimate() const noexcept {
  // OpenSSL state we cannot see: an EVP_CIPHER_CTX with its key schedule per direction, a DH key.
  constexpr std::size_t kSkCipher = 1024, kDh = 512, kSecret = 64, kTask = 128;
  auto bytes = [](const auto& v) { return v.capacity() * sizeof(v[0]); };
  auto proposals = [&](const std::vector<ProposalSpec>& ps) {
    std::size_t n = bytes(ps);
    for (const auto& p : ps) n += bytes(p.transforms);
    return n;
  };
  std::size_t n = sizeof(IkeSa);
  n += proposals(settings_.ike_proposals) + proposals(settings_.child.esp_proposals);
  n += bytes(settings_.child.local_ts) + bytes(settings_.child.remote_ts) + kSecret;  // + PSK
  n += bytes(settings_.local_id.data) + (settings_.remote_id ? bytes(settings_.remote_id->data) : 0);
  n += bytes(settings_.retransmit.resend_at);
  n += keys_.empty() ? 0 : 7 * kSecret;
  n += (sk_out_ ? kSkCipher : 0) + (sk_in_ ? kSkCipher : 0);
  n += bytes(ex_.init_request) + bytes(ex_.init_response) + bytes(ex_.ni) + bytes(ex_.nr) + bytes(ex_.cookie);
  n += ex_.dh ? kDh : 0;
  n += bytes(children_);
  for (const ChildSa& c : children_)
    n += bytes(c.ts.local) + bytes(c.ts.remote) + bytes(c.peer_rekey_min_nonce) + 4 * kSecret;
  n += (queue_.size() + (current_ ? 1 : 0)) * kTask;
  n += bytes(last_request_) + bytes(last_response_) + bytes(outbox_);
  for (const auto& d : outbox_) n += bytes(d);
  n += peer_id_ ? bytes(peer_id_->data) : 0;
  return n;
}

IkeSa::Opened IkeSa::open(const Message& m, std::span<const uint8_t> datagram, std::vector<Payload>& inner) {
  if (!sk_in_) return Opened::kRejected;
  auto r = Message::sk_region(datagram);
  if (!r) return Opened::kRejected;
  const auto* frag = m.payloads.empty() ? nullptr : std::get_if<EncryptedFragmentPayload>(&m.payloads.back());
  // SKF only once negotiated (RFC 7383 2.5); the codec already checked 1 <= number <= total.
  if (r->type == PayloadType::kEncryptedFragment && (!init_.fragmentation || !frag)) return Opened::kRejected;
  std::vector<uint8_t> plain;
  if (sk_in_->open(datagram.first(r->aad_length), datagram.subspan(r->body_offset, r->body_length), plain) !=
      SkStatus::kOk)
    return Opened::kRejected;
  if (r->type == PayloadType::kEncryptedFragment) {
    // RFC 7383 2.6: each fragment is authenticated before it is kept; one message per direction
    // at a time (window 1), bounded in fragments and bytes.
    Reassembly& ra = reassembly_[m.header.response() ? 1 : 0];
    if (frag->total_fragments > kMaxIkeFragments) return Opened::kRejected;
    if (ra.active && ra.message_id == m.header.message_id && frag->total_fragments < ra.total)
      return Opened::kRejected;  // a stale fragment of a larger-fragment attempt (2.6.1)
    if (!ra.active || ra.message_id != m.header.message_id || frag->total_fragments > ra.total) {
      ra = Reassembly{};  // a new message, or the sender re-fragmented smaller (2.6.1)
      ra.active = true;
      ra.message_id = m.header.message_id;
      ra.total = frag->total_fragments;
      ra.parts.resize(ra.total);
      ra.have.resize(ra.total);
    }
    const std::size_t k = frag->fragment_number - 1u;
    if (ra.have[k]) return Opened::kIncomplete;  // a duplicate (retransmission)
    if (ra.bytes + plain.size() > kMaxReassembledBytes) {
      ra = Reassembly{};
      return Opened::kRejected;
    }
    if (k == 0) ra.first = frag->inner_first;
    ra.bytes += plain.size();
    ra.parts[k] = std::move(plain);
    ra.have[k] = true;
    if (++ra.received < ra.total) return Opened::kIncomplete;
    std::vector<uint8_t> all;
    all.reserve(ra.bytes);
    for (const auto& p : ra.parts) all.insert(all.end(), p.begin(), p.end());
    const PayloadType first = ra.first;
    ra = Reassembly{};
    auto chain = parse_inner(first, all);
    if (!chain) return Opened::kMalformed;
    inner = std::move(*chain);
    return Opened::kOk;
  }
  auto chain = parse_inner(r->inner_first, plain);
  if (!chain) return Opened::kMalformed;
  inner = std::move(*chain);
  return Opened::kOk;
}

void IkeSa::receive(std::span<const uint8_t> datagram) {
  if (state_ == IkeState::kDestroyed) return;
  auto m = Message::parse(datagram);
  if (!m) {
    count(IkeSaEvent::kDropped);
    return;
  }
  const Header& h = m->header;
  // Our role decides which I flag the peer's messages carry.
  bool peer_is_original_initiator = role_ == IkeRole::kResponder;
  if (h.initiator() != peer_is_original_initiator) {
    count(IkeSaEvent::kDropped);
    return;
  }
  if (h.request())
    handle_request(*m, datagram);
  else
    handle_response(*m, datagram);
}

void IkeSa::handle_request(const Message& m, std::span<const uint8_t> datagram) {
  const Header& h = m.header;
  if (state_ == IkeState::kCreated) {
    if (role_ != IkeRole::kResponder || h.exchange != ExchangeType::kIkeSaInit || h.message_id != 0 ||
        h.spi_r != 0) {
      count(IkeSaEvent::kDropped);
      return;
    }
    spi_i_ = h.spi_i;
  } else if (h.spi_i != spi_i_ || h.spi_r != spi_r_) {
    // A retransmitted IKE_SA_INIT still carries SPIr 0.
    if (!(h.exchange == ExchangeType::kIkeSaInit && h.spi_i == spi_i_ && h.spi_r == 0)) {
      count(IkeSaEvent::kDropped);
      return;
    }
  }
  if (have_response_ && h.message_id + 1 == expected_peer_mid_) {
    // A retransmitted fragmented request: answered once, on its first fragment (RFC 7383 2.6.2).
    const auto* f = m.payloads.empty() ? nullptr : std::get_if<EncryptedFragmentPayload>(&m.payloads.back());
    if (f && f->fragment_number != 1) return;
    count(IkeSaEvent::kDuplicateRequest);
    outbox_.insert(outbox_.end(), last_response_.begin(), last_response_.end());
    return;
  }
  if (h.message_id != expected_peer_mid_) {
    count(IkeSaEvent::kDropped);
    return;
  }
  std::vector<Payload> in;
  std::unique_ptr<Task> task;
  if (h.exchange != ExchangeType::kIkeSaInit && state_ != IkeState::kCreated && state_ != IkeState::kConnecting) {
    Opened o = open(m, datagram, in);
    if (o == Opened::kIncomplete) return;
    if (o == Opened::kRejected) {
      count(IkeSaEvent::kDropped);
      return;
    }
    if (o == Opened::kMalformed) {
      // Authenticated but malformed: INVALID_SYNTAX to a request (RFC 7296 2.21.2, docs/ike.md).
      count(IkeSaEvent::kInvalidSyntax);
      send_response(h, {notify(NotifyType::kInvalidSyntax)});
      ++expected_peer_mid_;
      return;
    }
  }
  switch (h.exchange) {
    case ExchangeType::kIkeSaInit:
      if (state_ != IkeState::kCreated) break;
      in = m.payloads;
      ex_.init_request.assign(datagram.begin(), datagram.end());
      set_state(IkeState::kConnecting);
      task = make_ike_init();
      break;
    case ExchangeType::kIkeAuth:
      if (state_ != IkeState::kAuthenticating) break;
      task = make_ike_auth();
      break;
    case ExchangeType::kCreateChildSa: {
      if (state_ != IkeState::kEstablished && state_ != IkeState::kDeleting) break;
      const auto* sap = find<SaPayload>(in);
      bool ike = sap && !sap->proposals.empty() && sap->proposals[0].protocol == ProtocolId::kIke;
      if (!ike && (state_ != IkeState::kEstablished || ike_rekey_under_way() || peer_rekey_)) {
        // A Child SA created or rekeyed on an IKE SA being rekeyed or deleted would be lost:
        // TEMPORARY_FAILURE, the peer retries on the new IKE SA (RFC 7296 2.25, 2.25.2).
        count(IkeSaEvent::kOtherError);
        send_response(h, {notify(NotifyType::kTemporaryFailure)});
        ++expected_peer_mid_;
        return;
      }
      task = ike ? make_ike_rekey() : make_child_create(0);
      break;
    }
    case ExchangeType::kInformational:
      if (state_ != IkeState::kEstablished && state_ != IkeState::kDeleting) break;
      task = make_informational_responder();
      break;
    default:
      break;
  }
  if (!task) {
    count(IkeSaEvent::kDropped);
    if (state_ == IkeState::kConnecting && h.exchange == ExchangeType::kIkeSaInit) set_state(IkeState::kCreated);
    return;
  }
  TaskStatus st = task->process_r(*this, in);
  std::vector<Payload> out;
  TaskStatus bst = task->build_r(*this, out);
  if (st == TaskStatus::kSuccess) st = bst;
  send_response(h, out);
  ++expected_peer_mid_;
  if (st == TaskStatus::kDestroySa) destroy();
}

void IkeSa::handle_response(const Message& m, std::span<const uint8_t> datagram) {
  const Header& h = m.header;
  if (!current_ || h.exchange != current_->exchange() || h.spi_i != spi_i_ ||
      h.message_id != (h.exchange == ExchangeType::kIkeSaInit ? 0 : next_mid_)) {
    count(IkeSaEvent::kDropped);
    return;
  }
  std::vector<Payload> in;
  if (h.exchange == ExchangeType::kIkeSaInit) {
    in = m.payloads;
    ex_.init_response.assign(datagram.begin(), datagram.end());
    if (h.spi_r != 0) spi_r_ = h.spi_r;
  } else if (h.spi_r != spi_r_) {
    count(IkeSaEvent::kDropped);
    return;
  } else if (Opened o = open(m, datagram, in); o != Opened::kOk) {
    if (o != Opened::kIncomplete) count(IkeSaEvent::kDropped);
    return;
  }
  TaskStatus st = current_->process_i(*this, in);
  if (h.exchange != ExchangeType::kIkeSaInit || st != TaskStatus::kNeedMore) ++next_mid_;
  finish_task(st);
}

void IkeSa::finish_task(TaskStatus st) {
  switch (st) {
    case TaskStatus::kNeedMore:
      send_request(*current_);
      return;
    case TaskStatus::kSuccess:
    case TaskStatus::kFailed:
      current_.reset();
      run_next();
      return;
    case TaskStatus::kDestroySa:
      current_.reset();
      destroy();
      return;
  }
}

void IkeSa::destroy() {
  for (const ChildSa& c : children_) {
    env_.sink->remove(c.spi_in, SaDirection::kInbound);
    if (c.outbound_installed) env_.sink->remove_outbound(c.spi_out, c.outbound);
  }
  children_.clear();
  queue_.clear();
  current_.reset();
  set_state(IkeState::kDestroyed);
}

bool IkeSa::derive_keys(const SecretBytes& g_ir) {
  const IkeSaTransforms& t = init_.transforms;
  SecretBytes seed = skeyseed(t.prf, ex_.ni, ex_.nr, g_ir.span());
  if (seed.empty()) return false;
  return install_keys(derive_ike_sa_keys(t, seed.span(), ex_.ni, ex_.nr, spi_i_, spi_r_));
}

bool IkeSa::install_keys(IkeSaKeys keys) {
  keys_ = std::move(keys);
  if (keys_.empty()) return false;
  const IkeSaTransforms& t = init_.transforms;
  bool i = role_ == IkeRole::kInitiator;
  sk_out_ = SkCipher::create(t.encr, t.integ, i ? keys_.sk_ei : keys_.sk_er, i ? keys_.sk_ai : keys_.sk_ar, *env_.rng);
  sk_in_ = SkCipher::create(t.encr, t.integ, i ? keys_.sk_er : keys_.sk_ei, i ? keys_.sk_ar : keys_.sk_ai, *env_.rng);
  return sk_out_ && sk_in_;
}

void IkeSa::install_child(ChildSa c, const ChildSaKeys& k, uint32_t replaces_spi, bool exchange_initiator) {
  // The exchange's initiator, not the IKE SA's (a Child SA rekey started by the IKE responder).
  const bool i = exchange_initiator;
  // Packet/byte limits: the same jittered soft fraction for both directions of this Child SA.
  const LifetimeLimit& hard = settings_.child.limit;
  LifetimeLimit soft;
  if (hard.packets || hard.bytes) {
    double f = settings_.child.soft_min;
    std::array<uint8_t, 4> r{};
    if (settings_.child.soft_max > f && env_.rng->fill(r))
      f += (settings_.child.soft_max - f) * static_cast<double>(uint32_t{r[0]} << 24 | uint32_t{r[1]} << 16 |
                                                                 uint32_t{r[2]} << 8 | r[3]) / 4294967295.0;
    auto part = [f](uint64_t v) -> uint64_t {
      if (v == 0) return 0;
      const auto x = static_cast<uint64_t>(static_cast<double>(v) * f);
      return std::clamp<uint64_t>(x, 1, v);
    };
    soft = LifetimeLimit{part(hard.packets), part(hard.bytes)};
  }
  auto fill = [&](SaDescriptor& d, SaDirection dir, uint32_t spi, const SecretBytes& ek, const SecretBytes& ak) {
    d.spi = spi;
    d.direction = dir;
    d.mode = c.transport ? SaMode::kTransport : SaMode::kTunnel;
    d.local = settings_.local_addr;
    d.remote = settings_.remote_addr;
    d.encr = c.encr;
    d.encr_key = ek;
    d.integ = c.integ;
    d.integ_key = ak;
    d.esn = c.esn;
    d.replay_window = settings_.child.replay_window;
    if (init_.nat_local || init_.nat_remote) d.natt = NatTraversal{settings_.local_port, settings_.remote_port};
    d.hard = hard;
    d.soft = soft;
    d.cookie = c.spi_in;  // lifetime events name the Child SA by our inbound SPI
  };
  // Keys: initiator->responder first (RFC 7296 2.17).
  fill(c.inbound, SaDirection::kInbound, c.spi_in, i ? k.encr_r : k.encr_i, i ? k.integ_r : k.integ_i);
  fill(c.outbound, SaDirection::kOutbound, c.spi_out, i ? k.encr_i : k.encr_r, i ? k.integ_i : k.integ_r);
  env_.sink->install_inbound(c.inbound, c.ts);
  ChildSa* sending = nullptr;  // the Child SA whose outbound SA the selectors use now
  for (ChildSa& o : children_)
    if (o.outbound_active && o.ts.local == c.ts.local && o.ts.remote == c.ts.remote) sending = &o;
  if (!exchange_initiator && replaces_spi != 0 && sending) {
    // Rekey responder. RFC 7296 2.8: "To rekey a Child SA within an existing IKE SA, create a new,
    // equivalent SA (see Section 2.17 below), and when the new one is established, delete the old
    // one" -- both stay valid meanwhile; the RFC does not say when either end starts sending on the
    // new one. The exchange initiator can install the new SA only once it has read our response
    // (its keys need Nr, and g^ir with PFS: 2.17), so a packet we sent on the new outbound SA before
    // that would find no inbound SA there and be dropped. The new inbound SA goes in now (the
    // initiator sends on the new SA as soon as it has read the response); the old Child SA keeps
    // sending until the peer shows it has the new one (a packet on our new inbound SA, its Delete
    // of the old one), or it must stop (our Delete, its hard limit), or outbound_switch_delay
    // passes (a peer that neither sends nor deletes), as strongSwan and the Linux-style gateways do.
    c.outbound_pending = true;
    c.outbound_switch_at = env_.clock->now() + settings_.child.outbound_switch_delay;
  } else {
    // What the selectors use now is what the new outbound SA replaces (a rekey collision's Child
    // SA may have taken over from the one this rekeys).
    if (replaces_spi != 0 && sending) replaces_spi = sending->spi_out;
    env_.sink->install_outbound(c.outbound, c.ts, replaces_spi);
    for (ChildSa& o : children_)
      if (o.ts.local == c.ts.local && o.ts.remote == c.ts.remote) {
        if (replaces_spi != 0 && o.spi_out == replaces_spi) o.outbound_installed = false;  // its slot is ours
        o.outbound_active = false;
        // A peer's rekey answered meanwhile (RFC 7296 2.8.1 collision) no longer switches by
        // itself: the tie-break deletes one of the two new Child SAs, and if it is ours, the
        // other takes over then (hand_off_outbound).
        o.outbound_pending = false;
      }
    c.outbound_active = true;
    c.outbound_installed = true;
  }
  count(IkeSaEvent::kChildInstalled);
  children_.push_back(std::move(c));
}

void IkeSa::activate_outbound(ChildSa& c) {
  ChildSa* cur = nullptr;
  for (ChildSa& o : children_)
    if (&o != &c && o.outbound_active && o.ts.local == c.ts.local && o.ts.remote == c.ts.remote) cur = &o;
  env_.sink->install_outbound(c.outbound, c.ts, cur ? cur->spi_out : 0);
  if (cur) {
    cur->outbound_active = false;
    // The sink put c's SA in cur's slot, unless c's was there already (it keeps its own slot).
    if (!c.outbound_installed) cur->outbound_installed = false;
  }
  c.outbound_active = true;
  c.outbound_installed = true;
  c.outbound_pending = false;
}

bool IkeSa::switch_outbound(uint32_t spi_in) {
  ChildSa* c = find_child(spi_in, false);
  if (!c || !c->outbound_pending) return false;
  activate_outbound(*c);
  return true;
}

bool IkeSa::outbound_switch_pending() const noexcept {
  return std::any_of(children_.begin(), children_.end(), [](const ChildSa& c) { return c.outbound_pending; });
}

bool IkeSa::hand_off_outbound(uint32_t spi_in) {
  ChildSa* c = find_child(spi_in, false);
  if (!c || !c->outbound_active) return false;
  auto same = [c](const ChildSa& o) { return &o != c && o.ts.local == c->ts.local && o.ts.remote == c->ts.remote; };
  // The Child SA whose switch waits (it rekeys c), else the newest (a rekey collision's survivor)
  // that is not being deleted, else the newest.
  ChildSa* next = nullptr;
  for (ChildSa& o : children_)
    if (same(o) && o.outbound_pending) next = &o;
  for (auto o = children_.rbegin(); !next && o != children_.rend(); ++o)
    if (same(*o) && !o->deleting) next = &*o;
  for (auto o = children_.rbegin(); !next && o != children_.rend(); ++o)
    if (same(*o)) next = &*o;
  if (!next) return false;
  activate_outbound(*next);
  return true;
}

bool IkeSa::remove_child_by_spi(uint32_t spi, bool peer_spi) {
  auto it = std::find_if(children_.begin(), children_.end(),
                         [&](const ChildSa& c) { return (peer_spi ? c.spi_out : c.spi_in) == spi; });
  if (it == children_.end()) return false;
  // Another Child SA for the same selectors (the rekey's new one whose switch waits, a rekey
  // collision's survivor) takes over outbound before this one goes.
  if (it->outbound_active) hand_off_outbound(it->spi_in);
  env_.sink->remove(it->spi_in, SaDirection::kInbound);
  if (it->outbound_installed) env_.sink->remove_outbound(it->spi_out, it->outbound);
  children_.erase(it);
  count(IkeSaEvent::kChildDeleted);
  return true;
}

}  // namespace esprit::ike
