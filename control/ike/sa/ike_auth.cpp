// IKE_AUTH (RFC 7296 1.2, 2.15, 2.9, 2.17): IDi/IDr, PSK AUTH both ways, INITIAL_CONTACT, and the
// first Child SA (SA, TSi/TSr with narrowing, USE_TRANSPORT_MODE, ESP_TFC_PADDING_NOT_SUPPORTED,
// KEYMAT split into the two ESP SAs).
#include "esprit/control/ike/crypto/auth.hpp"
#include "tasks.hpp"

namespace esprit::ike::sa_detail {

namespace {

class IkeAuth final : public Task {
 public:
  ExchangeType exchange() const noexcept override { return ExchangeType::kIkeAuth; }
  std::string_view name() const noexcept override { return "ike_auth"; }

  TaskStatus build_i(IkeSa& sa, std::vector<Payload>& out) override {
    const IkeSettings& s = sa.settings();
    IdPayload id{true, s.local_id.type, s.local_id.data};
    out.push_back(id);
    out.push_back(auth(sa, true, id));
    if (s.send_initial_contact) out.push_back(notify(NotifyType::kInitialContact));
    if (s.child.transport_mode) out.push_back(notify(NotifyType::kUseTransportMode));
    spi_in_ = sa.new_inbound_spi();
    if (spi_in_ == 0) return TaskStatus::kDestroySa;
    out.push_back(offer(s.child.esp_proposals, ProtocolId::kEsp, spi_bytes(spi_in_), false));
    out.push_back(TsPayload{true, s.child.local_ts});
    out.push_back(TsPayload{false, s.child.remote_ts});
    return TaskStatus::kSuccess;
  }

  TaskStatus process_i(IkeSa& sa, const std::vector<Payload>& in) override {
    const IkeSettings& s = sa.settings();
    if (const auto* e = find_notify(in, NotifyType::kAuthenticationFailed)) {
      count_notify(sa, e->notify_type);
      sa.set_error(e->notify_type);
      return TaskStatus::kDestroySa;
    }
    const auto* idr = find<IdPayload>(in, false);
    const auto* au = find<AuthPayload>(in);
    if (!idr || !au || !verify(sa, false, *idr, *au)) {
      sa.count(IkeSaEvent::kAuthFailed);
      sa.set_error(NotifyType::kAuthenticationFailed);
      return TaskStatus::kDestroySa;
    }
    sa.set_peer_id(Identity{idr->id_type, idr->data}, find_notify(in, NotifyType::kInitialContact) != nullptr);
    sa.set_state(IkeState::kEstablished);
    sa.count(IkeSaEvent::kEstablished);
    // The Child SA may fail while the IKE SA stands (RFC 7296 2.21.3).
    if (const auto* e = find_error(in)) {
      count_notify(sa, e->notify_type);
      sa.set_error(e->notify_type);
      return TaskStatus::kSuccess;
    }
    const auto* sap = find<SaPayload>(in);
    const auto* tsi = find<TsPayload>(in, true);
    const auto* tsr = find<TsPayload>(in, false);
    std::optional<Selected> sel;
    if (sap) sel = check_reply(*sap, s.child.esp_proposals, ProtocolId::kEsp, false);
    if (!sel || !tsi || !tsr || spi_value(sel->proposal.spi) == 0) {
      sa.set_error(NotifyType::kNoProposalChosen);
      sa.count(IkeSaEvent::kNoProposalChosen);
      return TaskStatus::kSuccess;  // a real stack would now delete the half-made Child SA
    }
    // The responder may only narrow what we proposed (RFC 7296 2.9).
    if (!covered(tsi->selectors, s.child.local_ts) || !covered(tsr->selectors, s.child.remote_ts)) {
      sa.set_error(NotifyType::kTsUnacceptable);
      sa.count(IkeSaEvent::kTsUnacceptable);
      return TaskStatus::kSuccess;
    }
    bool transport = find_notify(in, NotifyType::kUseTransportMode) != nullptr;
    if (transport && !s.child.transport_mode) return TaskStatus::kSuccess;
    install_child(sa, *sel, spi_in_, spi_value(sel->proposal.spi), tsi->selectors, tsr->selectors, transport,
                  find_notify(in, NotifyType::kEspTfcPaddingNotSupported) == nullptr, {}, sa.ex().ni, sa.ex().nr, 0,
                  sa.role() == IkeRole::kInitiator);
    return TaskStatus::kSuccess;
  }

  TaskStatus process_r(IkeSa& sa, const std::vector<Payload>& in) override {
    const IkeSettings& s = sa.settings();
    const auto* idi = find<IdPayload>(in, true);
    const auto* au = find<AuthPayload>(in);
    bool id_ok = idi && (!s.remote_id || id_matches(*s.remote_id, *idi));
    if (!idi || !au || !id_ok || !verify(sa, true, *idi, *au)) {
      sa.count(IkeSaEvent::kAuthFailed);
      sa.set_error(NotifyType::kAuthenticationFailed);
      auth_failed_ = true;
      return TaskStatus::kDestroySa;
    }
    // INITIAL_CONTACT (RFC 7296 2.4): the owner (IkeManager) drops the older IKE SAs between the
    // same two identities once this one is established.
    sa.set_peer_id(Identity{idi->id_type, idi->data}, find_notify(in, NotifyType::kInitialContact) != nullptr);
    sa.set_state(IkeState::kEstablished);
    sa.count(IkeSaEvent::kEstablished);
    const auto* sap = find<SaPayload>(in);
    const auto* tsi = find<TsPayload>(in, true);
    const auto* tsr = find<TsPayload>(in, false);
    if (!sap || !tsi || !tsr) return TaskStatus::kSuccess;  // IKE SA without a Child SA
    auto sel = select_proposal(sap->proposals, s.child.esp_proposals, ProtocolId::kEsp, 0, false);
    if (!sel || spi_value(sel->proposal.spi = find_spi(*sap, sel->proposal.number)) == 0) {
      child_error_ = NotifyType::kNoProposalChosen;
      count_notify(sa, *child_error_);
      return TaskStatus::kSuccess;
    }
    // TSi is the initiator's side (our remote), TSr ours (RFC 7296 2.9).
    auto ni = narrow(tsi->selectors, s.child.remote_ts);
    auto nr = narrow(tsr->selectors, s.child.local_ts);
    if (ni.empty() || nr.empty()) {
      child_error_ = NotifyType::kTsUnacceptable;
      count_notify(sa, *child_error_);
      return TaskStatus::kSuccess;
    }
    transport_ = find_notify(in, NotifyType::kUseTransportMode) && s.child.transport_mode;
    uint32_t peer_spi = spi_value(sel->proposal.spi);
    spi_in_ = sa.new_inbound_spi();
    if (spi_in_ == 0) return TaskStatus::kDestroySa;
    sel->proposal.spi = spi_bytes(spi_in_);
    selected_ = sel;
    tsi_ = ni;
    tsr_ = nr;
    install_child(sa, *sel, spi_in_, peer_spi, nr, ni, transport_,
                  find_notify(in, NotifyType::kEspTfcPaddingNotSupported) == nullptr, {}, sa.ex().ni, sa.ex().nr, 0,
                  sa.role() == IkeRole::kInitiator);
    return TaskStatus::kSuccess;
  }

  TaskStatus build_r(IkeSa& sa, std::vector<Payload>& out) override {
    if (auth_failed_) {
      out.push_back(notify(NotifyType::kAuthenticationFailed));
      return TaskStatus::kDestroySa;
    }
    const IkeSettings& s = sa.settings();
    IdPayload id{false, s.local_id.type, s.local_id.data};
    out.push_back(id);
    out.push_back(auth(sa, false, id));
    if (child_error_) {
      out.push_back(notify(*child_error_));
      return TaskStatus::kSuccess;
    }
    if (!selected_) return TaskStatus::kSuccess;
    if (transport_) out.push_back(notify(NotifyType::kUseTransportMode));
    SaPayload reply;
    reply.proposals.push_back(selected_->proposal);
    out.push_back(std::move(reply));
    out.push_back(TsPayload{true, tsi_});
    out.push_back(TsPayload{false, tsr_});
    return TaskStatus::kSuccess;
  }

 private:
  static std::vector<uint8_t> find_spi(const SaPayload& sa, uint8_t number) {
    for (const auto& p : sa.proposals)
      if (p.number == number) return p.spi;
    return {};
  }

  // AUTH = prf(prf(PSK, "Key Pad for IKEv2"), <SignedOctets>) (RFC 7296 2.15): the initiator signs
  // its IKE_SA_INIT request, Nr and prf(SK_pi, IDi'); the responder its response, Ni, prf(SK_pr, IDr').
  static AuthPayload auth(IkeSa& sa, bool initiator, const IdPayload& id) {
    const auto& ex = sa.ex();
    PrfAlg prf = sa.init_result().transforms.prf;
    auto octets = signed_octets(prf, initiator ? ex.init_request : ex.init_response, initiator ? ex.nr : ex.ni,
                                initiator ? sa.keys().sk_pi.span() : sa.keys().sk_pr.span(), id_body(id));
    SecretBytes a = psk_auth(prf, sa.settings().psk, octets);
    return AuthPayload{AuthMethod::kSharedKeyMic, {a.span().begin(), a.span().end()}};
  }

  static bool verify(IkeSa& sa, bool initiator, const IdPayload& id, const AuthPayload& au) {
    if (au.method != AuthMethod::kSharedKeyMic) return false;
    const auto& ex = sa.ex();
    PrfAlg prf = sa.init_result().transforms.prf;
    auto octets = signed_octets(prf, initiator ? ex.init_request : ex.init_response, initiator ? ex.nr : ex.ni,
                                initiator ? sa.keys().sk_pi.span() : sa.keys().sk_pr.span(), id_body(id));
    return verify_psk_auth(prf, sa.settings().psk, octets, au.data);
  }

  uint32_t spi_in_ = 0;
  bool auth_failed_ = false;
  bool transport_ = false;
  std::optional<NotifyType> child_error_;
  std::optional<Selected> selected_;
  std::vector<TrafficSelector> tsi_, tsr_;
};

}  // namespace

std::unique_ptr<Task> make_ike_auth() { return std::make_unique<IkeAuth>(); }

}  // namespace esprit::ike::sa_detail
