// Proposals: parsing keyword strings into transform lists, the responder's choice, the
// initiator's check of the answer, and the SA payload we offer (RFC 7296 2.7, 3.3).
#include <algorithm>
#include <tuple>

#include "esprit/common/algorithms.hpp"
#include "tasks.hpp"

namespace esprit::ike {

namespace {

Transform encr_transform(const EncrInfo& e) {
  Transform t{TransformType::kEncr, e.ikev2_id, {}};
  if (e.key_bits != 0) t.attributes.push_back(TransformAttribute{kAttrKeyLength, true, e.key_bits, {}});
  return t;
}

}  // namespace

std::optional<ProposalSpec> parse_proposal(std::string_view text, ProtocolId protocol, std::string* error) {
  ProposalSpec spec;
  auto fail = [&](std::string msg) -> std::optional<ProposalSpec> {
    if (error) *error = std::move(msg);
    return std::nullopt;
  };
  bool have_encr = false, have_prf = false, have_dh = false, aead = false, have_integ = false, have_esn = false;
  std::vector<PrfAlg> implied_prf;
  std::size_t pos = 0;
  while (pos <= text.size()) {
    std::size_t dash = text.find('-', pos);
    if (dash == std::string_view::npos) dash = text.size();
    std::string_view tok = text.substr(pos, dash - pos);
    pos = dash + 1;
    if (tok.empty()) return fail("empty algorithm keyword in '" + std::string(text) + "'");
    if (tok == "x25519") tok = "curve25519";
    if (auto e = encr_from_name(tok)) {
      const EncrInfo& i = info(*e);
      if (*e == EncrAlg::kNull && protocol == ProtocolId::kIke) return fail("null encryption is not allowed for IKE");
      spec.transforms.push_back(encr_transform(i));
      have_encr = true;
      aead = aead || i.aead();
    } else if (auto g = integ_from_name(tok); g && *g != IntegAlg::kNone) {
      if (protocol != ProtocolId::kIke && !info(*g).esp)
        return fail("'" + std::string(tok) + "' (" + std::string(info(*g).rfc_name) +
                    ") is for IKE only; the ESP engine does not implement it");
      spec.transforms.push_back(Transform{TransformType::kInteg, info(*g).ikev2_id, {}});
      have_integ = true;
      if (protocol == ProtocolId::kIke) {
        for (const PrfInfo& p : prf_algorithms())
          if (p.name.substr(0, 3) == "prf" && p.name.substr(3) == tok) implied_prf.push_back(p.alg);
      }
    } else if (auto p = prf_from_name(tok)) {
      if (protocol != ProtocolId::kIke) return fail("a PRF in an ESP proposal: '" + std::string(tok) + "'");
      spec.transforms.push_back(Transform{TransformType::kPrf, info(*p).ikev2_id, {}});
      have_prf = true;
    } else if (const DhInfo* d = dh_from_name(tok)) {
      spec.transforms.push_back(Transform{TransformType::kDh, d->ikev2_id, {}});
      have_dh = true;
    } else if (tok == "esn" || tok == "noesn") {
      if (protocol == ProtocolId::kIke) return fail("ESN in an IKE proposal");
      spec.transforms.push_back(Transform{TransformType::kEsn, static_cast<uint16_t>(tok == "esn" ? 1 : 0), {}});
      have_esn = true;
    } else {
      return fail("unknown algorithm keyword '" + std::string(tok) + "'");
    }
  }
  if (!have_encr) return fail("no encryption algorithm in '" + std::string(text) + "'");
  if (!aead && !have_integ) return fail("no integrity algorithm in '" + std::string(text) + "'");
  if (aead && have_integ) return fail("integrity algorithm with an AEAD cipher in '" + std::string(text) + "'");
  if (protocol == ProtocolId::kIke) {
    if (!have_prf) {
      if (implied_prf.empty()) return fail("no PRF in '" + std::string(text) + "'");
      for (PrfAlg p : implied_prf) spec.transforms.push_back(Transform{TransformType::kPrf, info(p).ikev2_id, {}});
    }
    if (!have_dh) return fail("no DH group in '" + std::string(text) + "'");
  } else if (!have_esn) {
    spec.transforms.push_back(Transform{TransformType::kEsn, 0, {}});
  }
  return spec;
}

}  // namespace esprit::ike

namespace esprit::ike::sa_detail {

namespace {

bool same(const Transform& a, const Transform& b) {
  return a.type == b.type && a.id == b.id && a.key_length() == b.key_length();
}

int dh_strength(uint16_t group) {
  const DhInfo* d = dh_from_ikev2(group);
  if (!d) return 0;
  if (d->kind == DhKind::kCurve25519) return 128;
  if (d->kind == DhKind::kEcp) return d->bits / 2;
  // RFC 3526 8 (lower estimates)
  if (d->bits <= 768) return 56;
  if (d->bits <= 1024) return 80;
  if (d->bits <= 1536) return 90;
  if (d->bits <= 2048) return 110;
  if (d->bits <= 3072) return 130;
  if (d->bits <= 4096) return 150;
  if (d->bits <= 6144) return 170;
  return 190;
}

int strength(const Transform& t) {
  switch (t.type) {
    case TransformType::kEncr: {
      auto e = encr_from_ikev2(t.id, t.key_length().value_or(0));
      if (!e) return -1;
      const EncrInfo& i = info(*e);
      return i.key_len * 8 * 4 + (i.aead() ? 2 : 0) + i.icv_len / 8;
    }
    case TransformType::kInteg: {
      auto g = integ_from_ikev2(t.id);
      return g ? info(*g).icv_len : -1;
    }
    case TransformType::kPrf: {
      auto p = prf_from_ikev2(t.id);
      return p ? info(*p).out_len : -1;
    }
    case TransformType::kDh:
      return dh_strength(t.id);
    case TransformType::kEsn:
      return t.id;  // prefer ESN when both sides allow it
  }
  return -1;
}

bool known(const Transform& t) { return strength(t) >= 0 && (t.type != TransformType::kDh || dh_from_ikev2(t.id)); }

std::vector<const Transform*> of_type(const std::vector<Transform>& ts, TransformType type) {
  std::vector<const Transform*> out;
  for (const auto& t : ts)
    if (t.type == type) out.push_back(&t);
  return out;
}

constexpr TransformType kTypes[] = {TransformType::kEncr, TransformType::kPrf, TransformType::kInteg,
                                    TransformType::kDh, TransformType::kEsn};

bool fill(Selected& s) {
  for (const auto& t : s.proposal.transforms) {
    switch (t.type) {
      case TransformType::kEncr: s.encr = encr_from_ikev2(t.id, t.key_length().value_or(0)); break;
      case TransformType::kInteg: s.integ = integ_from_ikev2(t.id); break;
      case TransformType::kPrf: s.prf = prf_from_ikev2(t.id); break;
      case TransformType::kDh: s.dh = t.id; break;
      case TransformType::kEsn: s.esn = t.id == 1; break;
    }
  }
  if (!s.encr) return false;
  if (info(*s.encr).aead()) {
    if (s.integ && *s.integ != IntegAlg::kNone) return false;
    s.integ = IntegAlg::kNone;
  } else if (!s.integ || *s.integ == IntegAlg::kNone) {
    return false;
  }
  if (s.proposal.protocol == ProtocolId::kIke && !s.prf) return false;
  return true;
}

}  // namespace

std::optional<Selected> select_proposal(const std::vector<Proposal>& peer, const std::vector<ProposalSpec>& ours,
                                        ProtocolId protocol, uint16_t prefer_dh, bool dh_required) {
  std::optional<Selected> best;
  std::tuple<int, int, int, int> best_score{-1, -1, -1, -1};
  for (const Proposal& p : peer) {
    if (p.protocol != protocol) continue;
    for (const ProposalSpec& o : ours) {
      Selected s;
      s.proposal.number = p.number;
      s.proposal.protocol = protocol;
      bool ok = true;
      for (TransformType type : kTypes) {
        auto theirs = of_type(p.transforms, type);
        auto mine = of_type(o.transforms, type);
        // NONE (ID 0) for INTEG/DH means "absent" (RFC 7296 3.3.3); ESN 0 is a real choice.
        if (type != TransformType::kEsn) {
          std::erase_if(theirs, [](const Transform* t) { return t->id == 0; });
          std::erase_if(mine, [](const Transform* t) { return t->id == 0; });
        }
        if (type == TransformType::kEsn && mine.empty()) {
          static const Transform kNoEsn{TransformType::kEsn, 0, {}};
          mine.push_back(&kNoEsn);
        }
        if (theirs.empty() && mine.empty()) continue;
        if (type == TransformType::kDh && !dh_required && protocol != ProtocolId::kIke) continue;
        if (type == TransformType::kEsn && theirs.empty()) continue;  // peer sent none: no ESN
        const Transform* chosen = nullptr;
        for (const Transform* t : theirs) {
          if (!known(*t)) continue;
          bool common = std::any_of(mine.begin(), mine.end(), [&](const Transform* m) { return same(*m, *t); });
          if (!common) continue;
          if (type == TransformType::kDh && t->id == prefer_dh) {
            chosen = t;
            break;
          }
          if (!chosen || strength(*t) > strength(*chosen)) chosen = t;
        }
        if (!chosen) {
          if (type == TransformType::kInteg && !theirs.empty() && mine.empty()) {
            ok = false;  // peer wants integrity we do not list
          } else if (type == TransformType::kInteg && theirs.empty()) {
            continue;  // AEAD on the peer's side: fill() checks
          } else {
            ok = false;
          }
          break;
        }
        s.proposal.transforms.push_back(*chosen);
      }
      if (!ok || !fill(s)) continue;
      if (protocol == ProtocolId::kIke && s.dh == 0) continue;
      if (dh_required && s.dh == 0) continue;
      std::tuple<int, int, int, int> score{
          strength(Transform{TransformType::kEncr, info(*s.encr).ikev2_id,
                             info(*s.encr).key_bits ? std::vector<TransformAttribute>{{kAttrKeyLength, true,
                                                                                       info(*s.encr).key_bits, {}}}
                                                    : std::vector<TransformAttribute>{}}),
          dh_strength(s.dh), s.prf ? info(*s.prf).out_len : 0, info(*s.integ).icv_len};
      if (!best || score > best_score) {
        best = std::move(s);
        best_score = score;
      }
    }
  }
  return best;
}

std::optional<Selected> check_reply(const SaPayload& reply, const std::vector<ProposalSpec>& ours,
                                    ProtocolId protocol, bool dh_expected) {
  if (reply.proposals.size() != 1) return std::nullopt;
  const Proposal& p = reply.proposals[0];
  if (p.protocol != protocol || p.number == 0 || p.number > ours.size()) return std::nullopt;
  const ProposalSpec& o = ours[p.number - 1];
  Selected s;
  s.proposal = p;
  for (TransformType type : kTypes) {
    auto theirs = of_type(p.transforms, type);
    if (theirs.size() > 1) return std::nullopt;
    if (theirs.empty()) continue;
    auto mine = of_type(o.transforms, type);
    if (type == TransformType::kEsn && mine.empty() && theirs[0]->id == 0) continue;
    if (!std::any_of(mine.begin(), mine.end(), [&](const Transform* m) { return same(*m, *theirs[0]); }))
      return std::nullopt;
  }
  if (!fill(s)) return std::nullopt;
  if (dh_expected != (s.dh != 0)) return std::nullopt;
  return s;
}

SaPayload offer(const std::vector<ProposalSpec>& ours, ProtocolId protocol, const std::vector<uint8_t>& spi,
                bool with_dh) {
  SaPayload sa;
  uint8_t n = 1;
  for (const ProposalSpec& o : ours) {
    Proposal p{n++, protocol, spi, {}};
    for (const Transform& t : o.transforms)
      if (with_dh || t.type != TransformType::kDh) p.transforms.push_back(t);
    sa.proposals.push_back(std::move(p));
  }
  return sa;
}

}  // namespace esprit::ike::sa_detail
