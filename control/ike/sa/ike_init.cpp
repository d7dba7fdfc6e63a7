// IKE_SA_INIT (RFC 7296 1.2, 2.6, 2.7, 2.10, 2.14, 2.23): proposal, KE with INVALID_KE_PAYLOAD
// retry, nonces, COOKIE, NAT detection, SKEYSEED and the IKE SA keys.
#include <algorithm>

#include "esprit/control/ike/crypto/natd.hpp"
#include "tasks.hpp"

namespace esprit::ike::sa_detail {

namespace {

constexpr int kMaxRetries = 3;  // COOKIE and INVALID_KE answers followed before giving up

std::vector<uint8_t> natd(uint64_t spi_i, uint64_t spi_r, const IpAddress& a, uint16_t port) {
  auto h = nat_detection_hash(spi_i, spi_r, a, port);
  return {h.begin(), h.end()};
}

bool offered_group(const IkeSettings& s, uint16_t group) {
  for (const auto& p : s.ike_proposals)
    for (const auto& t : p.transforms)
      if (t.type == TransformType::kDh && t.id == group) return true;
  return false;
}

class IkeInit final : public Task {
 public:
  ExchangeType exchange() const noexcept override { return ExchangeType::kIkeSaInit; }
  std::string_view name() const noexcept override { return "ike_init"; }

  TaskStatus build_i(IkeSa& sa, std::vector<Payload>& out) override {
    auto& ex = sa.ex();
    const IkeSettings& s = sa.settings();
    if (sa.spi_i() == 0) sa.set_spi_i(make_ike_spi(sa.rng()));
    if (ex.ni.empty()) ex.ni = make_nonce(sa.rng(), s.nonce_len);
    if (!ex.dh) {
      uint16_t group = 0;
      for (const auto& p : s.ike_proposals) {
        for (const auto& t : p.transforms)
          if (t.type == TransformType::kDh) {
            group = t.id;
            break;
          }
        if (group) break;
      }
      if (!start_dh(sa, group)) return TaskStatus::kDestroySa;
    }
    if (sa.spi_i() == 0 || ex.ni.empty()) return TaskStatus::kDestroySa;
    if (!ex.cookie.empty()) out.push_back(notify(NotifyType::kCookie, ex.cookie));
    out.push_back(offer(s.ike_proposals, ProtocolId::kIke, {}, true));
    auto pub = ex.dh->public_value();
    out.push_back(KePayload{ex.dh->group(), {pub.begin(), pub.end()}});
    out.push_back(NoncePayload{ex.ni});
    out.push_back(notify(NotifyType::kNatDetectionSourceIp, natd(sa.spi_i(), 0, s.local_addr, s.local_port)));
    out.push_back(notify(NotifyType::kNatDetectionDestinationIp, natd(sa.spi_i(), 0, s.remote_addr, s.remote_port)));
    if (s.fragmentation) out.push_back(notify(NotifyType::kIkev2FragmentationSupported));  // RFC 7383 2.3
    return TaskStatus::kSuccess;
  }

  TaskStatus process_i(IkeSa& sa, const std::vector<Payload>& in) override {
    auto& ex = sa.ex();
    if (const auto* c = find_notify(in, NotifyType::kCookie)) {
      sa.count(IkeSaEvent::kCookie);
      if (++retries_ > kMaxRetries || c->data.empty()) return TaskStatus::kDestroySa;
      ex.cookie = c->data;
      sa.set_spi_r(0);
      return TaskStatus::kNeedMore;
    }
    if (const auto* n = find_notify(in, NotifyType::kInvalidKePayload)) {
      sa.count(IkeSaEvent::kInvalidKe);
      if (n->data.size() != 2 || ++retries_ > kMaxRetries) return fail(sa, NotifyType::kInvalidKePayload);
      uint16_t group = static_cast<uint16_t>(n->data[0] << 8 | n->data[1]);
      // Only a group we offered, and not the one just refused (RFC 7296 1.3).
      if (!offered_group(sa.settings(), group) || group == ex.dh->group())
        return fail(sa, NotifyType::kInvalidKePayload);
      if (!start_dh(sa, group)) return TaskStatus::kDestroySa;
      sa.set_spi_r(0);
      return TaskStatus::kNeedMore;
    }
    if (const auto* e = find_error(in)) {
      count_notify(sa, e->notify_type);
      return fail(sa, e->notify_type);
    }
    const auto* sap = find<SaPayload>(in);
    const auto* ke = find<KePayload>(in);
    const auto* nr = find<NoncePayload>(in);
    if (!sap || !ke || !nr || sa.spi_r() == 0) return fail(sa, NotifyType::kInvalidSyntax);
    auto sel = check_reply(*sap, sa.settings().ike_proposals, ProtocolId::kIke, true);
    if (!sel || sel->dh != ex.dh->group() || ke->dh_group != ex.dh->group())
      return fail(sa, NotifyType::kNoProposalChosen);
    ex.nr = nr->nonce;
    SecretBytes g_ir;
    if (ex.dh->derive(ke->data, g_ir) != DhStatus::kOk) return fail(sa, NotifyType::kInvalidSyntax);
    auto& r = sa.init_result_mut();
    r.transforms = IkeSaTransforms{*sel->prf, *sel->encr, *sel->integ};
    r.dh_group = sel->dh;
    r.fragmentation = sa.settings().fragmentation && find_notify(in, NotifyType::kIkev2FragmentationSupported);
    check_natd(sa, in);
    if (!sa.derive_keys(g_ir)) return TaskStatus::kDestroySa;
    sa.set_state(IkeState::kAuthenticating);
    return TaskStatus::kSuccess;
  }

  TaskStatus process_r(IkeSa& sa, const std::vector<Payload>& in) override {
    auto& ex = sa.ex();
    const IkeSettings& s = sa.settings();
    const auto* sap = find<SaPayload>(in);
    const auto* ke = find<KePayload>(in);
    const auto* ni = find<NoncePayload>(in);
    if (!sap || !ke || !ni) return refuse(sa, NotifyType::kInvalidSyntax);
    // COOKIE (RFC 7296 2.6): only when too many SAs are half-open.
    if (ResponderContext* rc = sa.responder_context(); rc && rc->half_open >= s.cookie_threshold) {
      const auto* c = find_notify(in, NotifyType::kCookie);
      if (!c || !rc->cookies.verify(c->data, ni->nonce, sa.remote_addr(), sa.spi_i())) {
        sa.count(IkeSaEvent::kCookie);
        reply_ = notify(NotifyType::kCookie, rc->cookies.make(ni->nonce, sa.remote_addr(), sa.spi_i()));
        return TaskStatus::kDestroySa;
      }
    }
    auto sel = select_proposal(sap->proposals, s.ike_proposals, ProtocolId::kIke, ke->dh_group, true);
    if (!sel) return refuse(sa, NotifyType::kNoProposalChosen);
    if (sel->dh != ke->dh_group) {
      sa.count(IkeSaEvent::kInvalidKe);
      reply_ = notify(NotifyType::kInvalidKePayload,
                      {static_cast<uint8_t>(sel->dh >> 8), static_cast<uint8_t>(sel->dh)});
      sa.set_error(NotifyType::kInvalidKePayload);
      return TaskStatus::kDestroySa;
    }
    if (!start_dh(sa, sel->dh)) return TaskStatus::kDestroySa;
    SecretBytes g_ir;
    if (ex.dh->derive(ke->data, g_ir) != DhStatus::kOk) return refuse(sa, NotifyType::kInvalidSyntax);
    ex.ni = ni->nonce;
    ex.nr = make_nonce(sa.rng(), s.nonce_len);
    sa.set_spi_r(make_ike_spi(sa.rng()));
    if (ex.nr.empty() || sa.spi_r() == 0) return TaskStatus::kDestroySa;
    auto& r = sa.init_result_mut();
    r.transforms = IkeSaTransforms{*sel->prf, *sel->encr, *sel->integ};
    r.dh_group = sel->dh;
    r.fragmentation = s.fragmentation && find_notify(in, NotifyType::kIkev2FragmentationSupported);
    chosen_ = sel->proposal;
    check_natd(sa, in);
    if (!sa.derive_keys(g_ir)) return TaskStatus::kDestroySa;
    sa.set_state(IkeState::kAuthenticating);
    return TaskStatus::kSuccess;
  }

  TaskStatus build_r(IkeSa& sa, std::vector<Payload>& out) override {
    if (reply_) {
      out.push_back(*reply_);
      return TaskStatus::kDestroySa;  // stateless answer: nothing kept (RFC 7296 2.6, 1.3)
    }
    const auto& ex = sa.ex();
    const IkeSettings& s = sa.settings();
    SaPayload reply;
    reply.proposals.push_back(chosen_);
    out.push_back(std::move(reply));
    auto pub = ex.dh->public_value();
    out.push_back(KePayload{ex.dh->group(), {pub.begin(), pub.end()}});
    out.push_back(NoncePayload{ex.nr});
    out.push_back(notify(NotifyType::kNatDetectionSourceIp, natd(sa.spi_i(), sa.spi_r(), s.local_addr, s.local_port)));
    out.push_back(
        notify(NotifyType::kNatDetectionDestinationIp, natd(sa.spi_i(), sa.spi_r(), s.remote_addr, s.remote_port)));
    if (sa.init_result().fragmentation) out.push_back(notify(NotifyType::kIkev2FragmentationSupported));
    return TaskStatus::kSuccess;
  }

 private:
  static bool start_dh(IkeSa& sa, uint16_t group) {
    auto& ex = sa.ex();
    ex.dh = DhGroup::create(group);
    return ex.dh && ex.dh->generate(sa.rng());
  }

  TaskStatus fail(IkeSa& sa, NotifyType n) {
    sa.set_error(n);
    return TaskStatus::kDestroySa;
  }

  TaskStatus refuse(IkeSa& sa, NotifyType n) {
    count_notify(sa, n);
    sa.set_error(n);
    reply_ = notify(n);
    return TaskStatus::kDestroySa;
  }

  // RFC 7296 2.23: the peer's SOURCE hash against the address we see it at, its DESTINATION hash
  // against ours. The hashes use the SPIs of the message that carried them (SPIr 0 in a request).
  static void check_natd(IkeSa& sa, const std::vector<Payload>& in) {
    const IkeSettings& s = sa.settings();
    uint64_t spi_r = sa.role() == IkeRole::kInitiator ? sa.spi_r() : 0;
    auto src = natd(sa.spi_i(), spi_r, s.remote_addr, s.remote_port);
    auto dst = natd(sa.spi_i(), spi_r, s.local_addr, s.local_port);
    bool any_src = false, src_ok = false, any_dst = false, dst_ok = false;
    for (const auto& p : in)
      if (const auto* n = std::get_if<NotifyPayload>(&p)) {
        if (n->notify_type == NotifyType::kNatDetectionSourceIp) {
          any_src = true;
          src_ok = src_ok || n->data == src;
        } else if (n->notify_type == NotifyType::kNatDetectionDestinationIp) {
          any_dst = true;
          dst_ok = dst_ok || n->data == dst;
        }
      }
    auto& r = sa.init_result_mut();
    r.nat_remote = any_src && !src_ok;
    r.nat_local = any_dst && !dst_ok;
  }

  int retries_ = 0;
  std::optional<NotifyPayload> reply_;
  Proposal chosen_;
};

}  // namespace

std::unique_ptr<Task> make_ike_init() { return std::make_unique<IkeInit>(); }

}  // namespace esprit::ike::sa_detail
