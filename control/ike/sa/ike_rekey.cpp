// CREATE_CHILD_SA rekeying the IKE SA (RFC 7296 1.3.2, 2.18): new SPIs, nonces and KE; SKEYSEED =
// prf(SK_d (old), g^ir (new) | Ni | Nr); the Child SAs move to the new IKE SA, whose original
// initiator is the rekey's initiator; the rekey's initiator then deletes the old IKE SA.
// Simultaneous rekeys (2.8.2): both exchanges succeed; the new IKE SA made by the exchange with the
// lowest of the four nonces is redundant and deleted by the side that made it, the other one takes
// the Child SAs, and its maker deletes the old IKE SA.
#include <algorithm>

#include "tasks.hpp"

namespace esprit::ike::sa_detail {

namespace {

std::vector<uint8_t> spi64(uint64_t v) {
  std::vector<uint8_t> b(8);
  for (int k = 0; k < 8; ++k) b[k] = static_cast<uint8_t>(v >> (56 - 8 * k));
  return b;
}
std::vector<uint8_t> min_nonce(const std::vector<uint8_t>& a, const std::vector<uint8_t>& b) {
  return std::lexicographical_compare(a.begin(), a.end(), b.begin(), b.end()) ? a : b;
}
uint64_t spi64_value(const std::vector<uint8_t>& b) {
  uint64_t v = 0;
  if (b.size() != 8) return 0;
  for (uint8_t x : b) v = v << 8 | x;
  return v;
}

class IkeRekey final : public Task {
 public:
  ExchangeType exchange() const noexcept override { return ExchangeType::kCreateChildSa; }
  std::string_view name() const noexcept override { return "ike_rekey"; }

  TaskStatus build_i(IkeSa& sa, std::vector<Payload>& out) override {
    if (sa.rekeyed()) return TaskStatus::kFailed;  // the peer rekeyed it meanwhile: nothing to do
    if (spi_ == 0) spi_ = make_ike_spi(sa.rng());
    if (ni_.empty()) ni_ = make_nonce(sa.rng(), sa.settings().nonce_len);
    if (group_ == 0) group_ = sa.init_result().dh_group;
    if (spi_ == 0 || ni_.empty()) return TaskStatus::kFailed;
    if (!dh_ || dh_->group() != group_) {
      dh_ = DhGroup::create(group_);
      if (!dh_ || !dh_->generate(sa.rng())) return TaskStatus::kFailed;
    }
    out.push_back(offer(sa.settings().ike_proposals, ProtocolId::kIke, spi64(spi_), true));
    out.push_back(NoncePayload{ni_});
    auto pub = dh_->public_value();
    out.push_back(KePayload{group_, {pub.begin(), pub.end()}});
    return TaskStatus::kSuccess;
  }

  TaskStatus process_i(IkeSa& sa, const std::vector<Payload>& in) override {
    if (const auto* n = find_notify(in, NotifyType::kInvalidKePayload)) {
      sa.count(IkeSaEvent::kInvalidKe);
      uint16_t g = n->data.size() == 2 ? static_cast<uint16_t>(n->data[0] << 8 | n->data[1]) : 0;
      if (g == 0 || g == group_ || ++retries_ > 2) return TaskStatus::kFailed;
      group_ = g;
      return TaskStatus::kNeedMore;
    }
    if (const auto* e = find_error(in)) {
      count_notify(sa, e->notify_type);
      sa.set_error(e->notify_type);
      return TaskStatus::kFailed;
    }
    const auto* sap = find<SaPayload>(in);
    const auto* nr = find<NoncePayload>(in);
    const auto* ke = find<KePayload>(in);
    std::optional<Selected> sel;
    if (sap) sel = check_reply(*sap, sa.settings().ike_proposals, ProtocolId::kIke, true);
    if (!sel || !nr || !ke || ke->dh_group != group_ || sel->dh != group_) return TaskStatus::kFailed;
    uint64_t peer_spi = spi64_value(sel->proposal.spi);
    SecretBytes g_ir;
    if (peer_spi == 0 || dh_->derive(ke->data, g_ir) != DhStatus::kOk) return TaskStatus::kFailed;
    auto mine = make_successor(sa, IkeRole::kInitiator, *sel, g_ir, spi_, peer_spi, ni_, nr->nonce);
    if (!mine) return TaskStatus::kFailed;
    if (sa.peer_rekey_pending()) {
      // Simultaneous rekey (2.8.2): the exchange with the lowest of the four nonces made the
      // redundant IKE SA (nonces compared as unsigned byte strings, as for Child SAs in 2.8.1).
      auto ours = min_nonce(ni_, nr->nonce);
      const auto& theirs = sa.peer_rekey_min_nonce();
      bool ours_redundant = std::lexicographical_compare(ours.begin(), ours.end(), theirs.begin(), theirs.end());
      auto peers = sa.take_peer_rekey();
      if (ours_redundant) {
        // We lost: the peer's new IKE SA takes the Child SAs and its maker deletes the old one;
        // we delete ours, over itself.
        mine->delete_ike_sa();
        sa.hand_over(std::move(peers));
        sa.set_successor(std::move(mine));
        return TaskStatus::kSuccess;
      }
      // We won: ours takes the Child SAs; the peer deletes its redundant one (kept reachable).
      sa.hand_over(std::move(mine));
      sa.set_successor(std::move(peers));
    } else {
      sa.hand_over(std::move(mine));
    }
    sa.delete_ike_sa();  // the old IKE SA goes; its Child SAs already moved
    return TaskStatus::kSuccess;
  }

  TaskStatus process_r(IkeSa& sa, const std::vector<Payload>& in) override {
    const auto* sap = find<SaPayload>(in);
    const auto* ni = find<NoncePayload>(in);
    const auto* ke = find<KePayload>(in);
    if (!sap || !ni || !ke) return refuse(sa, NotifyType::kInvalidSyntax);
    // RFC 7296 2.25.2: an IKE SA we already rekeyed or are deleting, a second rekey from the peer,
    // or a Child SA exchange of ours under way: TEMPORARY_FAILURE, the peer retries later. Our own
    // IKE rekey outstanding is the 2.8.2 collision: answered normally, resolved in process_i.
    if (sa.rekeyed() || sa.state() != IkeState::kEstablished || sa.peer_rekey_pending() ||
        sa.child_exchange_outstanding())
      return refuse(sa, NotifyType::kTemporaryFailure);
    auto sel = select_proposal(sap->proposals, sa.settings().ike_proposals, ProtocolId::kIke, ke->dh_group, true);
    if (!sel) return refuse(sa, NotifyType::kNoProposalChosen);
    if (sel->dh != ke->dh_group) {
      sa.count(IkeSaEvent::kInvalidKe);
      reply_ = notify(NotifyType::kInvalidKePayload,
                      {static_cast<uint8_t>(sel->dh >> 8), static_cast<uint8_t>(sel->dh)});
      return TaskStatus::kFailed;
    }
    uint64_t peer_spi = 0;
    for (const auto& p : sap->proposals)
      if (p.number == sel->proposal.number) peer_spi = spi64_value(p.spi);
    dh_ = DhGroup::create(sel->dh);
    SecretBytes g_ir;
    if (peer_spi == 0 || !dh_ || !dh_->generate(sa.rng()) || dh_->derive(ke->data, g_ir) != DhStatus::kOk)
      return refuse(sa, NotifyType::kInvalidSyntax);
    nr_ = make_nonce(sa.rng(), sa.settings().nonce_len);
    spi_ = make_ike_spi(sa.rng());
    if (nr_.empty() || spi_ == 0) return refuse(sa, NotifyType::kTemporaryFailure);
    sel->proposal.spi = spi64(spi_);
    chosen_ = sel->proposal;
    auto next = make_successor(sa, IkeRole::kResponder, *sel, g_ir, peer_spi, spi_, ni->nonce, nr_);
    if (!next) return refuse(sa, NotifyType::kTemporaryFailure);
    if (sa.ike_rekey_outstanding())
      sa.set_peer_rekey(std::move(next), min_nonce(ni->nonce, nr_));  // 2.8.2: decided when ours completes
    else
      sa.hand_over(std::move(next));
    return TaskStatus::kSuccess;
  }

  TaskStatus build_r(IkeSa&, std::vector<Payload>& out) override {
    if (reply_) {
      out.push_back(*reply_);
      return TaskStatus::kFailed;
    }
    SaPayload reply;
    reply.proposals.push_back(chosen_);
    out.push_back(std::move(reply));
    out.push_back(NoncePayload{nr_});
    auto pub = dh_->public_value();
    out.push_back(KePayload{dh_->group(), {pub.begin(), pub.end()}});
    return TaskStatus::kSuccess;
  }

 private:
  /// The new IKE SA (established, no Child SAs yet), or nullptr if the crypto failed.
  static std::unique_ptr<IkeSa> make_successor(IkeSa& sa, IkeRole role, const Selected& sel,
                                               const SecretBytes& g_ir, uint64_t spi_i, uint64_t spi_r,
                                               std::span<const uint8_t> ni, std::span<const uint8_t> nr) {
    SecretBytes seed = skeyseed_rekey(sa.init_result().transforms.prf, sa.keys().sk_d.span(), g_ir.span(), ni, nr);
    if (seed.empty()) return nullptr;
    IkeSaTransforms t{*sel.prf, *sel.encr, *sel.integ};
    auto next = std::make_unique<IkeSa>(role, sa.settings(), sa.env());
    next->set_spi_i(spi_i);
    next->set_spi_r(spi_r);
    IkeSaInitResult r = sa.init_result();
    r.transforms = t;
    r.dh_group = sel.dh;
    next->init_result_mut() = r;
    if (!next->install_keys(derive_ike_sa_keys(t, seed.span(), ni, nr, spi_i, spi_r))) return nullptr;
    next->adopt_established({});
    return next;
  }

  TaskStatus refuse(IkeSa& sa, NotifyType n) {
    count_notify(sa, n);
    sa.set_error(n);
    reply_ = notify(n);
    return TaskStatus::kFailed;
  }

  uint64_t spi_ = 0;
  uint16_t group_ = 0;
  int retries_ = 0;
  std::vector<uint8_t> ni_, nr_;
  std::unique_ptr<DhGroup> dh_;
  std::optional<NotifyPayload> reply_;
  Proposal chosen_;
};

}  // namespace

std::unique_ptr<Task> make_ike_rekey() { return std::make_unique<IkeRekey>(); }

}  // namespace esprit::ike::sa_detail
