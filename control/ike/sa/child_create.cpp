// CREATE_CHILD_SA for a Child SA (RFC 7296 1.3.1, 1.3.3, 2.8, 2.17): a new Child SA or the rekey
// of one (N(REKEY_SA)), optional PFS with INVALID_KE retry, make-before-break installation, and
// the simultaneous-rekey rule of 2.8.1 (the exchange with the lowest nonce made the redundant SA).
#include <algorithm>

#include "tasks.hpp"

namespace esprit::ike::sa_detail {

namespace {

std::vector<uint8_t> min_nonce(const std::vector<uint8_t>& a, const std::vector<uint8_t>& b) {
  return std::lexicographical_compare(a.begin(), a.end(), b.begin(), b.end()) ? a : b;
}

uint16_t first_group(const std::vector<ProposalSpec>& ps) {
  for (const auto& p : ps)
    for (const auto& t : p.transforms)
      if (t.type == TransformType::kDh && t.id != 0) return t.id;
  return 0;
}

class ChildCreate final : public Task {
 public:
  explicit ChildCreate(uint32_t rekey_spi) : rekey_spi_(rekey_spi) {}
  ExchangeType exchange() const noexcept override { return ExchangeType::kCreateChildSa; }
  std::string_view name() const noexcept override { return rekey_spi_ ? "child_rekey" : "child_create"; }

  TaskStatus build_i(IkeSa& sa, std::vector<Payload>& out) override {
    const ChildSettings& cs = sa.settings().child;
    std::vector<TrafficSelector> local = cs.local_ts, remote = cs.remote_ts;
    transport_ = cs.transport_mode;
    if (rekey_spi_) {
      ChildSa* old = sa.find_child(rekey_spi_, false);
      if (!old || (old->rekeyed && spi_in_ == 0)) return TaskStatus::kFailed;  // gone or already rekeyed
      old->rekeyed = true;
      local = old->ts.local;
      remote = old->ts.remote;
      transport_ = old->transport;
      NotifyPayload n = notify(NotifyType::kRekeySa);
      n.protocol = ProtocolId::kEsp;
      n.spi = spi_bytes(rekey_spi_);
      out.push_back(std::move(n));
    }
    if (transport_) out.push_back(notify(NotifyType::kUseTransportMode));
    if (spi_in_ == 0) spi_in_ = sa.new_inbound_spi();
    if (ni_.empty()) ni_ = make_nonce(sa.rng(), sa.settings().nonce_len);
    if (spi_in_ == 0 || ni_.empty()) return TaskStatus::kFailed;
    if (group_ == 0) group_ = first_group(cs.esp_proposals);
    out.push_back(offer(cs.esp_proposals, ProtocolId::kEsp, spi_bytes(spi_in_), group_ != 0));
    out.push_back(NoncePayload{ni_});
    if (group_ != 0) {
      if (!dh_ || dh_->group() != group_) {
        dh_ = DhGroup::create(group_);
        if (!dh_ || !dh_->generate(sa.rng())) return TaskStatus::kFailed;
      }
      auto pub = dh_->public_value();
      out.push_back(KePayload{group_, {pub.begin(), pub.end()}});
    }
    out.push_back(TsPayload{true, local});
    out.push_back(TsPayload{false, remote});
    return TaskStatus::kSuccess;
  }

  TaskStatus process_i(IkeSa& sa, const std::vector<Payload>& in) override {
    const ChildSettings& cs = sa.settings().child;
    if (const auto* n = find_notify(in, NotifyType::kInvalidKePayload)) {
      sa.count(IkeSaEvent::kInvalidKe);
      uint16_t g = n->data.size() == 2 ? static_cast<uint16_t>(n->data[0] << 8 | n->data[1]) : 0;
      bool offered = false;
      for (const auto& p : cs.esp_proposals)
        for (const auto& t : p.transforms) offered = offered || (t.type == TransformType::kDh && t.id == g);
      if (!offered || g == group_ || ++retries_ > 2) return abandon(sa, NotifyType::kInvalidKePayload);
      group_ = g;
      return TaskStatus::kNeedMore;
    }
    if (const auto* e = find_error(in)) {
      count_notify(sa, e->notify_type);
      return abandon(sa, e->notify_type);
    }
    const auto* sap = find<SaPayload>(in);
    const auto* nr = find<NoncePayload>(in);
    const auto* tsi = find<TsPayload>(in, true);
    const auto* tsr = find<TsPayload>(in, false);
    std::optional<Selected> sel;
    if (sap) sel = check_reply(*sap, cs.esp_proposals, ProtocolId::kEsp, group_ != 0);
    if (!sel || !nr || !tsi || !tsr || spi_value(sel->proposal.spi) == 0) {
      sa.count(IkeSaEvent::kNoProposalChosen);
      return abandon(sa, NotifyType::kNoProposalChosen);
    }
    SecretBytes g_ir;
    if (group_ != 0) {
      const auto* ke = find<KePayload>(in);
      if (!ke || ke->dh_group != group_ || dh_->derive(ke->data, g_ir) != DhStatus::kOk)
        return abandon(sa, NotifyType::kInvalidSyntax);
    }
    uint32_t replaces = 0;
    ChildSa* old = rekey_spi_ ? sa.find_child(rekey_spi_, false) : nullptr;
    // Deleted by the peer meanwhile (2.25): the new Child SA stands on its own.
    if (old) replaces = old->spi_out;
    install_child(sa, *sel, spi_in_, spi_value(sel->proposal.spi), tsi->selectors, tsr->selectors,
                  find_notify(in, NotifyType::kUseTransportMode) != nullptr,
                  find_notify(in, NotifyType::kEspTfcPaddingNotSupported) == nullptr, g_ir.span(), ni_, nr->nonce,
                  replaces, /*exchange_initiator=*/true);
    if (!rekey_spi_) return TaskStatus::kSuccess;
    if (!old) return TaskStatus::kSuccess;
    old = sa.find_child(rekey_spi_, false);
    if (old && old->peer_rekey_spi != 0) {
      // Simultaneous rekey (2.8.1): the exchange with the lowest of the four nonces made the
      // redundant Child SA; its initiator deletes it, the other side deletes the old one.
      auto mine = min_nonce(ni_, nr->nonce);
      const auto& theirs = old->peer_rekey_min_nonce;
      if (std::lexicographical_compare(mine.begin(), mine.end(), theirs.begin(), theirs.end())) {
        sa.delete_child(spi_in_);  // we lost: our new SA goes, the peer deletes the old one
        return TaskStatus::kSuccess;
      }
    }
    sa.delete_child(rekey_spi_);  // make-before-break: the old SA goes only now
    return TaskStatus::kSuccess;
  }

  TaskStatus process_r(IkeSa& sa, const std::vector<Payload>& in) override {
    const ChildSettings& cs = sa.settings().child;
    const auto* sap = find<SaPayload>(in);
    const auto* ni = find<NoncePayload>(in);
    const auto* tsi = find<TsPayload>(in, true);
    const auto* tsr = find<TsPayload>(in, false);
    const auto* ke = find<KePayload>(in);
    if (!sap || !ni || !tsi || !tsr) return refuse(sa, NotifyType::kInvalidSyntax);
    uint32_t old_spi_out = 0;
    if (const auto* rk = find_notify(in, NotifyType::kRekeySa)) {
      old_spi_out = spi_value(rk->spi);
      const ChildSa* old = sa.find_child(old_spi_out, true);
      if (!old) return refuse(sa, NotifyType::kChildSaNotFound);
      if (old->deleting) return refuse(sa, NotifyType::kTemporaryFailure);  // 2.25
    }
    uint16_t ours = first_group(cs.esp_proposals);
    // PFS offered but not configured here: refuse rather than answer without KE, which the
    // initiator would reject after we installed the SA (offers of DH with NONE are not handled).
    if (ke && ours == 0) return refuse(sa, NotifyType::kNoProposalChosen);
    auto sel = select_proposal(sap->proposals, cs.esp_proposals, ProtocolId::kEsp, ke ? ke->dh_group : 0, ours != 0);
    if (!sel) return refuse(sa, NotifyType::kNoProposalChosen);
    for (const auto& p : sap->proposals)
      if (p.number == sel->proposal.number) sel->proposal.spi = p.spi;
    uint32_t peer_spi = spi_value(sel->proposal.spi);
    if (peer_spi == 0) return refuse(sa, NotifyType::kInvalidSyntax);
    SecretBytes g_ir;
    if (sel->dh != 0) {
      if (!ke || ke->dh_group != sel->dh) {
        sa.count(IkeSaEvent::kInvalidKe);
        reply_ = notify(NotifyType::kInvalidKePayload,
                        {static_cast<uint8_t>(sel->dh >> 8), static_cast<uint8_t>(sel->dh)});
        return TaskStatus::kFailed;
      }
      dh_ = DhGroup::create(sel->dh);
      if (!dh_ || !dh_->generate(sa.rng())) return refuse(sa, NotifyType::kTemporaryFailure);
      if (dh_->derive(ke->data, g_ir) != DhStatus::kOk) return refuse(sa, NotifyType::kInvalidSyntax);
    }
    tsi_ = narrow(tsi->selectors, cs.remote_ts);
    tsr_ = narrow(tsr->selectors, cs.local_ts);
    if (old_spi_out) {  // a rekey keeps the old Child SA's selectors
      const ChildSa* old = sa.find_child(old_spi_out, true);
      tsi_ = old->ts.remote;
      tsr_ = old->ts.local;
    }
    if (tsi_.empty() || tsr_.empty()) return refuse(sa, NotifyType::kTsUnacceptable);
    transport_ = find_notify(in, NotifyType::kUseTransportMode) && cs.transport_mode;
    nr_ = make_nonce(sa.rng(), sa.settings().nonce_len);
    spi_in_ = sa.new_inbound_spi();
    if (nr_.empty() || spi_in_ == 0) return refuse(sa, NotifyType::kTemporaryFailure);
    sel->proposal.spi = spi_bytes(spi_in_);
    selected_ = sel;
    uint32_t replaces = 0;
    if (ChildSa* old = old_spi_out ? sa.find_child(old_spi_out, true) : nullptr) {
      replaces = old->spi_out;
      uint32_t old_in = old->spi_in;
      install_child(sa, *sel, spi_in_, peer_spi, tsr_, tsi_, transport_,
                    find_notify(in, NotifyType::kEspTfcPaddingNotSupported) == nullptr, g_ir.span(), ni->nonce,
                    nr_, replaces, /*exchange_initiator=*/false);
      old = sa.find_child(old_in, false);  // install_child may have moved it
      if (old && old->rekeyed) {
        // We are rekeying it too (2.8.1): remember this exchange for the tie-break.
        old->peer_rekey_spi = spi_in_;
        old->peer_rekey_min_nonce = min_nonce(ni->nonce, nr_);
      } else if (old) {
        old->rekeyed = true;
      }
    } else {
      install_child(sa, *sel, spi_in_, peer_spi, tsr_, tsi_, transport_,
                    find_notify(in, NotifyType::kEspTfcPaddingNotSupported) == nullptr, g_ir.span(), ni->nonce,
                    nr_, 0, /*exchange_initiator=*/false);
    }
    return TaskStatus::kSuccess;
  }

  TaskStatus build_r(IkeSa&, std::vector<Payload>& out) override {
    if (reply_) {
      out.push_back(*reply_);
      return TaskStatus::kFailed;
    }
    if (transport_) out.push_back(notify(NotifyType::kUseTransportMode));
    SaPayload reply;
    reply.proposals.push_back(selected_->proposal);
    out.push_back(std::move(reply));
    out.push_back(NoncePayload{nr_});
    if (dh_) {
      auto pub = dh_->public_value();
      out.push_back(KePayload{dh_->group(), {pub.begin(), pub.end()}});
    }
    out.push_back(TsPayload{true, tsi_});
    out.push_back(TsPayload{false, tsr_});
    return TaskStatus::kSuccess;
  }

 private:
  TaskStatus abandon(IkeSa& sa, NotifyType n) {
    sa.set_error(n);
    if (ChildSa* old = rekey_spi_ ? sa.find_child(rekey_spi_, false) : nullptr) old->rekeyed = false;
    return TaskStatus::kFailed;
  }
  TaskStatus refuse(IkeSa& sa, NotifyType n) {
    count_notify(sa, n);
    sa.set_error(n);
    reply_ = notify(n);
    return TaskStatus::kFailed;
  }

  uint32_t rekey_spi_;
  uint32_t spi_in_ = 0;
  uint16_t group_ = 0;
  int retries_ = 0;
  bool transport_ = false;
  std::vector<uint8_t> ni_, nr_;
  std::unique_ptr<DhGroup> dh_;
  std::optional<NotifyPayload> reply_;
  std::optional<Selected> selected_;
  std::vector<TrafficSelector> tsi_, tsr_;
};

}  // namespace

std::unique_ptr<Task> make_child_create(uint32_t rekey_spi) { return std::make_unique<ChildCreate>(rekey_spi); }

}  // namespace esprit::ike::sa_detail
