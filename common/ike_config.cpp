// The IKEv2 configuration model and its loader ([ike], [[ike.profile]], [[peer]], the IKE side of
// [[policy]] / [[tunnel]]). Defaults: the NEC UNIVERGE IX IKEv2 guide's table of default values
// (seed 003, "デフォルトの設定値について"); row numbers are cited where each default is set.
#include "esprit/common/ike_config.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <tuple>
#include <utility>

#include "ike_config_loader.hpp"

namespace esprit {

namespace {

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

int hex_value(char c) noexcept {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

/// "0x0a0b" or "0a0b" (':' between bytes allowed) -> bytes; false on odd length or bad digits.
bool parse_hex(std::string_view s, std::vector<uint8_t>& out) {
  if (s.starts_with("0x") || s.starts_with("0X")) s.remove_prefix(2);
  std::string digits;
  for (char c : s)
    if (c != ':') digits += c;
  if (digits.empty() || digits.size() % 2 != 0) return false;
  out.clear();
  for (std::size_t i = 0; i < digits.size(); i += 2) {
    const int hi = hex_value(digits[i]);
    const int lo = hex_value(digits[i + 1]);
    if (hi < 0 || lo < 0) return false;
    out.push_back(static_cast<uint8_t>(hi << 4 | lo));
  }
  return true;
}

std::string hex(std::span<const uint8_t> b) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string s = "0x";
  for (uint8_t v : b) {
    s += kDigits[v >> 4];
    s += kDigits[v & 15];
  }
  return s;
}

bool valid_fqdn(std::string_view s) {
  if (s.empty() || s.size() > 253) return false;
  std::size_t label = 0;
  for (char c : s) {
    if (c == '.') {
      if (label == 0) return false;
      label = 0;
      continue;
    }
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_') return false;
    if (++label > 63) return false;
  }
  return label != 0;
}

bool valid_email(std::string_view s) {
  const std::size_t at = s.find('@');
  if (at == std::string_view::npos || at == 0 || at + 1 == s.size() || s.find('@', at + 1) != std::string_view::npos)
    return false;
  return std::none_of(s.begin(), s.end(), [](char c) { return std::isspace(static_cast<unsigned char>(c)); });
}

/// Hex that could be a key pasted into the wrong place (16 or more hex digits, optional "0x" and
/// ':' between byte pairs): never echoed, like config.cpp's values.
bool looks_like_key_material(std::string_view s) {
  if (s.starts_with("0x") || s.starts_with("0X")) s.remove_prefix(2);
  std::size_t digits = 0;
  for (char c : s) {
    if (c == ':') continue;
    if (hex_value(c) < 0) return false;
    ++digits;
  }
  return digits >= 16;
}

/// A value from the file, quoted for a message, unless it looks like key material.
std::string shown(std::string_view s) {
  if (looks_like_key_material(s)) return "(a value that looks like key material, not shown)";
  std::string q = "\"";
  q.append(s);
  q += '"';
  return q;
}

void set_error(std::string* error, std::string msg) {
  if (error) *error = std::move(msg);
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Identities
// ---------------------------------------------------------------------------------------------

std::string_view to_string(IkeIdType t) noexcept {
  switch (t) {
    case IkeIdType::kIpv4Addr:
      return "ipv4";
    case IkeIdType::kFqdn:
      return "fqdn";
    case IkeIdType::kRfc822Addr:
      return "email";
    case IkeIdType::kIpv6Addr:
      return "ipv6";
    case IkeIdType::kKeyId:
      return "keyid";
  }
  return "?";
}

IkeIdentity IkeIdentity::from_address(const IpAddress& a) {
  IkeIdentity id;
  id.type = a.is_v4() ? IkeIdType::kIpv4Addr : IkeIdType::kIpv6Addr;
  id.data.assign(a.bytes(), a.bytes() + a.size());
  return id;
}

std::optional<IkeIdentity> IkeIdentity::parse(std::string_view text, std::string* error) {
  const std::string_view kinds = "write it as \"ipv4:...\", \"ipv6:...\", \"fqdn:...\", \"email:...\" or \"keyid:...\"";
  auto typed = [&](std::string_view type, std::string_view value) -> std::optional<IkeIdentity> {
    IkeIdentity id;
    if (type == "ipv4" || type == "ipv6") {
      const auto a = IpAddress::parse(value);
      if (!a || a->is_v4() != (type == "ipv4")) {
        set_error(error, shown(value) + " is not an " + (type == "ipv4" ? "IPv4" : "IPv6") + " address");
        return std::nullopt;
      }
      return from_address(*a);
    }
    if (type == "fqdn") {
      // "*.example": a wildcard remote_id (any name ending in ".example"; docs/configuration.md).
      if (!valid_fqdn(value.starts_with("*.") ? value.substr(2) : value)) {
        set_error(error, shown(value) + " is not a domain name (letters, digits, '-', dot-separated labels)");
        return std::nullopt;
      }
      id.type = IkeIdType::kFqdn;
    } else if (type == "email" || type == "userfqdn" || type == "rfc822") {
      if (!valid_email(value)) {
        set_error(error, shown(value) + " is not a user FQDN like \"user@example.com\"");
        return std::nullopt;
      }
      id.type = IkeIdType::kRfc822Addr;
    } else if (type == "keyid") {
      id.type = IkeIdType::kKeyId;
      if (value.starts_with("0x") || value.starts_with("0X")) {
        if (!parse_hex(value, id.data)) {
          set_error(error, "key ID " + shown(value) + " is not an even number of hex digits");
          return std::nullopt;
        }
        return id;
      }
      if (value.empty()) {
        set_error(error, "empty key ID");
        return std::nullopt;
      }
    } else {
      set_error(error, "unknown ID type \"" + std::string(type) + "\"; " + std::string(kinds));
      return std::nullopt;
    }
    id.data.assign(value.begin(), value.end());
    return id;
  };

  if (text.empty()) {
    set_error(error, "empty ID; " + std::string(kinds));
    return std::nullopt;
  }
  if (text.starts_with("@#")) return typed("keyid", "0x" + std::string(text.substr(2)));
  if (text.starts_with("@")) return typed("fqdn", text.substr(1));
  if (const std::size_t colon = text.find(':'); colon != std::string_view::npos) {
    const std::string type = lower(text.substr(0, colon));
    if (type == "ipv4" || type == "ipv6" || type == "fqdn" || type == "email" || type == "userfqdn" ||
        type == "rfc822" || type == "keyid")
      return typed(type, text.substr(colon + 1));
  }
  if (auto a = IpAddress::parse(text)) return from_address(*a);
  if (text.find('@') != std::string_view::npos) return typed("email", text);
  if (text.find('.') != std::string_view::npos && valid_fqdn(text)) return typed("fqdn", text);
  set_error(error, "cannot tell the type of ID " + shown(text) + "; " + std::string(kinds));
  return std::nullopt;
}

std::string IkeIdentity::to_string() const {
  std::string s(esprit::to_string(type));
  s += ':';
  switch (type) {
    case IkeIdType::kIpv4Addr:
      if (data.size() == 4)
        return s + IpAddress::v4(uint32_t{data[0]} << 24 | uint32_t{data[1]} << 16 | uint32_t{data[2]} << 8 | data[3])
                       .to_string();
      break;
    case IkeIdType::kIpv6Addr:
      if (data.size() == 16) {
        std::array<uint8_t, 16> b{};
        std::copy(data.begin(), data.end(), b.begin());
        return s + IpAddress::v6(b).to_string();
      }
      break;
    case IkeIdType::kFqdn:
    case IkeIdType::kRfc822Addr:
      return s + std::string(data.begin(), data.end());
    case IkeIdType::kKeyId:
      break;
  }
  return s + hex(data);
}

IkeIdentity IkePeer::effective_remote_id() const {
  if (remote_id) return *remote_id;
  return address ? IkeIdentity::from_address(*address) : IkeIdentity{};
}

// ---------------------------------------------------------------------------------------------
// Proposals
// ---------------------------------------------------------------------------------------------

bool IkeProposal::aead() const noexcept { return !encr.empty() && info(encr.front()).aead(); }

std::string IkeProposal::to_string() const {
  std::string s;
  auto add = [&](std::string_view w) {
    if (!s.empty()) s += '-';
    s += w;
  };
  for (EncrAlg a : encr) add(info(a).name);
  for (IntegAlg a : integ) add(info(a).name);
  for (PrfAlg a : prf) add(info(a).name);
  for (uint16_t g : dh)
    if (const DhInfo* d = dh_from_ikev2(g)) add(d->name);
  return s;
}

namespace {

/// Spellings strongSwan accepts that the registry names differently.
std::string canonical_token(std::string_view token) {
  std::string t = lower(token);
  if (t == "x25519") return "curve25519";
  if (t == "sha2_256") return "sha256";
  if (t == "sha2_384") return "sha384";
  if (t == "sha2_512") return "sha512";
  for (std::string_view bits : {"128", "192", "256"}) {
    const std::string base = "aes" + std::string(bits) + "gcm";
    if (t == base || t == base + "128") return base + "16";  // strongSwan: aes128gcm = 16-byte ICV
    if (t == base + "96") return base + "12";
    if (t == base + "64") return base + "8";
  }
  return t;
}

std::string supported_list(ProposalKind kind) {
  std::string s = "supported: encryption";
  for (const EncrInfo& e : encr_algorithms())
    if (kind == ProposalKind::kEsp || e.alg != EncrAlg::kNull) s.append(" ").append(e.name);
  s += "; integrity";
  for (const IntegInfo& i : integ_algorithms())
    if (i.alg != IntegAlg::kNone && (kind == ProposalKind::kIke || i.esp)) s.append(" ").append(i.name);
  if (kind == ProposalKind::kIke) {
    s += "; prf";
    for (const PrfInfo& p : prf_algorithms()) s.append(" ").append(p.name);
  }
  s += kind == ProposalKind::kIke ? "; dh" : "; dh (PFS, optional)";
  for (const DhInfo& d : dh_groups()) s.append(" ").append(d.name);
  if (kind == ProposalKind::kIke) s += " (x25519 = curve25519)";
  return s;
}

template <class T>
bool add_once(std::vector<T>& v, T x) {
  if (std::find(v.begin(), v.end(), x) != v.end()) return false;
  v.push_back(x);
  return true;
}

/// Security strength in bits, for "strongest first". ECP: half the field size (RFC 5903);
/// Curve25519: 128 (RFC 8031); MODP 1536-8192: RFC 3526 section 8 (the lower estimate);
/// MODP 1024: 80 (NIST SP 800-57 Part 1 Rev. 5, Table 2); MODP 768: below that, 60.
unsigned dh_strength(const DhInfo& d) {
  switch (d.kind) {
    case DhKind::kEcp:
      return d.bits / 2u;
    case DhKind::kCurve25519:
      return 128;
    case DhKind::kModp:
      break;
  }
  switch (d.bits) {
    case 768: return 60;
    case 1024: return 80;
    case 1536: return 90;
    case 2048: return 110;
    case 3072: return 130;
    case 4096: return 150;
    case 6144: return 170;
    case 8192: return 190;
    default: return d.bits / 20u;
  }
}

unsigned dh_kind_rank(DhKind k) { return k == DhKind::kCurve25519 ? 2 : k == DhKind::kEcp ? 1 : 0; }

std::vector<EncrAlg> encr_strongest_first(bool aead) {
  std::vector<const EncrInfo*> v;
  for (const EncrInfo& e : encr_algorithms())
    if (e.alg != EncrAlg::kNull && e.aead() == aead) v.push_back(&e);
  // AEAD: longer ICV, then longer key. CBC: AES before 3DES, then longer key.
  std::stable_sort(v.begin(), v.end(), [](const EncrInfo* a, const EncrInfo* b) {
    const auto key = [](const EncrInfo* e) {
      return std::tuple(e->icv_len, e->family != CipherFamily::kDesCbc, e->key_len);
    };
    return key(a) > key(b);
  });
  std::vector<EncrAlg> out;
  for (const EncrInfo* e : v) out.push_back(e->alg);
  return out;
}

std::vector<IntegAlg> integ_strongest_first() {
  std::vector<const IntegInfo*> v;
  // AES-XCBC-96 is IKE-only and never proposed by default (configure "aesxcbc" explicitly).
  for (const IntegInfo& i : integ_algorithms())
    if (i.alg != IntegAlg::kNone && i.esp) v.push_back(&i);
  std::stable_sort(v.begin(), v.end(), [](const IntegInfo* a, const IntegInfo* b) {
    return std::tuple(a->icv_len, a->key_len) > std::tuple(b->icv_len, b->key_len);
  });
  std::vector<IntegAlg> out;
  for (const IntegInfo* i : v) out.push_back(i->alg);
  return out;
}

std::vector<PrfAlg> prf_strongest_first() {
  std::vector<const PrfInfo*> v;
  for (const PrfInfo& p : prf_algorithms()) v.push_back(&p);
  std::stable_sort(v.begin(), v.end(), [](const PrfInfo* a, const PrfInfo* b) {
    return std::tuple(a->out_len, a->alg != PrfAlg::kHmacMd5) > std::tuple(b->out_len, b->alg != PrfAlg::kHmacMd5);
  });
  std::vector<PrfAlg> out;
  for (const PrfInfo* p : v) out.push_back(p->alg);
  return out;
}

}  // namespace

std::vector<uint16_t> dh_groups_strongest_first() {
  std::vector<const DhInfo*> v;
  for (const DhInfo& d : dh_groups()) v.push_back(&d);
  std::stable_sort(v.begin(), v.end(), [](const DhInfo* a, const DhInfo* b) {
    return std::tuple(dh_strength(*a), dh_kind_rank(a->kind)) > std::tuple(dh_strength(*b), dh_kind_rank(b->kind));
  });
  std::vector<uint16_t> out;
  for (const DhInfo* d : v) out.push_back(d->ikev2_id);
  return out;
}

std::vector<IkeProposal> default_proposals(ProposalKind kind) {
  std::vector<IkeProposal> out(2);
  out[0].encr = encr_strongest_first(true);
  out[1].encr = encr_strongest_first(false);
  out[1].integ = integ_strongest_first();
  if (kind == ProposalKind::kIke) {
    for (IkeProposal& p : out) {
      p.prf = prf_strongest_first();
      p.dh = dh_groups_strongest_first();
    }
  }
  return out;
}

std::optional<IkeProposal> parse_proposal(std::string_view text, ProposalKind kind, std::string* error) {
  const bool ike = kind == ProposalKind::kIke;
  const std::string whole = shown(text);
  IkeProposal p;
  if (text.empty()) {
    set_error(error, "empty proposal; " + supported_list(kind));
    return std::nullopt;
  }
  std::size_t start = 0;
  while (start <= text.size()) {
    const std::size_t dash = std::min(text.find('-', start), text.size());
    const std::string_view raw = text.substr(start, dash - start);
    start = dash + 1;
    const std::string tok = canonical_token(raw);
    bool fresh = true;
    if (tok.empty()) {
      set_error(error, "empty algorithm name in " + whole + " (two '-' in a row?)");
      return std::nullopt;
    }
    if (auto e = encr_from_name(tok)) {
      fresh = add_once(p.encr, *e);
    } else if (auto i = integ_from_name(tok); i && *i != IntegAlg::kNone) {
      if (!ike && !info(*i).esp) {
        set_error(error, shown(raw) + " in " + whole + " (" + std::string(info(*i).rfc_name) +
                             ") protects IKE messages only; the ESP engine does not implement it");
        return std::nullopt;
      }
      fresh = add_once(p.integ, *i);
    } else if (auto f = prf_from_name(tok)) {
      if (!ike) {
        set_error(error, shown(raw) + " in " + whole +
                             " is a PRF; an ESP proposal has none (PRFs belong to the IKE proposal)");
        return std::nullopt;
      }
      fresh = add_once(p.prf, *f);
    } else if (const DhInfo* d = dh_from_name(tok)) {
      fresh = add_once(p.dh, d->ikev2_id);
    } else {
      set_error(error, "unknown algorithm " + shown(raw) + " in " + whole + "; " + supported_list(kind));
      return std::nullopt;
    }
    if (!fresh) {
      set_error(error, shown(raw) + " is listed twice in " + whole);
      return std::nullopt;
    }
  }
  if (p.encr.empty()) {
    set_error(error, whole + " names no encryption algorithm; " + supported_list(kind));
    return std::nullopt;
  }
  const bool aead = info(p.encr.front()).aead();
  for (EncrAlg e : p.encr) {
    if (info(e).aead() != aead) {
      set_error(error, whole + " mixes AEAD (" + std::string(info(aead ? p.encr.front() : e).name) +
                           ") and non-AEAD (" + std::string(info(aead ? e : p.encr.front()).name) +
                           ") encryption; write them as two proposals (RFC 7296 3.3)");
      return std::nullopt;
    }
    if (ike && e == EncrAlg::kNull) {
      set_error(error, whole + ": null encryption is not allowed for IKE (RFC 7296 3.3.2)");
      return std::nullopt;
    }
  }
  if (aead && !p.integ.empty()) {
    set_error(error, whole + ": " + std::string(info(p.encr.front()).name) +
                         " is an AEAD algorithm, which provides integrity itself; remove \"" +
                         std::string(info(p.integ.front()).name) + "\" (RFC 7296 3.3, RFC 5282 8)");
    return std::nullopt;
  }
  if (!aead && p.integ.empty()) {
    set_error(error, whole + ": " + std::string(info(p.encr.front()).name) +
                         " needs an integrity algorithm (e.g. sha256), or use an AEAD algorithm like aes128gcm16");
    return std::nullopt;
  }
  if (ike) {
    if (p.prf.empty()) {
      if (aead) {
        set_error(error, whole + ": an AEAD IKE proposal needs a PRF, e.g. \"" + std::string(text) + "-prfsha256\"");
        return std::nullopt;
      }
      // strongSwan's rule: the PRF follows the integrity algorithm (sha256 -> prfsha256).
      for (IntegAlg i : p.integ) {
        const std::string name = "prf" + std::string(info(i).name);
        if (auto f = prf_from_name(name)) add_once(p.prf, *f);
      }
    }
    if (p.dh.empty()) {
      set_error(error, whole + " names no DH group; an IKE proposal needs one (e.g. -modp2048, -ecp256, -x25519)");
      return std::nullopt;
    }
  }
  return p;
}

// ---------------------------------------------------------------------------------------------
// Settings
// ---------------------------------------------------------------------------------------------

std::string_view to_string(NegotiationDirection d) noexcept {
  switch (d) {
    case NegotiationDirection::kBoth:
      return "both";
    case NegotiationDirection::kInitiator:
      return "initiator";
    case NegotiationDirection::kResponder:
      return "responder";
  }
  return "?";
}

std::string_view to_string(ConnectType c) noexcept { return c == ConnectType::kAuto ? "auto" : "trigger"; }

std::string_view to_string(NattMode m) noexcept {
  switch (m) {
    case NattMode::kOn:
      return "on";
    case NattMode::kOff:
      return "off";
    case NattMode::kForce:
      return "force";
  }
  return "?";
}

std::string_view to_string(IkeSource s) noexcept {
  switch (s) {
    case IkeSource::kBuiltin:
      return "built-in default";
    case IkeSource::kDefaultProfile:
      return "default profile";
    case IkeSource::kProfile:
      return "profile";
    case IkeSource::kPeer:
      return "peer";
    case IkeSource::kTunnel:
      return "tunnel/policy";
  }
  return "?";
}

const IkeSettings& builtin_ike_settings() {
  static const IkeSettings s = [] {
    IkeSettings b;
    b.local_id = std::optional<IkeIdentity>{};                // row 1: our source address
    b.ike_proposals = default_proposals(ProposalKind::kIke);  // row 2: all supported, strongest chosen
    b.esp_proposals = default_proposals(ProposalKind::kEsp);  // row 3: all supported, strongest chosen
    b.child_pfs = dh_groups_strongest_first();                // row 3 ("PRF" = child-pfs): all supported
    b.ike_lifetime = 86400;                                   // row 13: 24 hours
    b.child_lifetime = 28800;                                 // row 14: 8 hours
    b.child_lifetime_bytes = 0;                               // NEC: none (Cisco: lifetime kilobytes)
    b.child_lifetime_packets = 0;
    b.rekey_margin = 540;                                     // strongSwan margintime 9m (NEC: not given)
    b.rekey_jitter = 180;
    b.dpd_interval = 0;                                       // row 5: off
    b.retransmit_count = 3;                                   // row 12: 2, 4, 8 s, then give up 16 s later
    b.retransmit_interval = 0;                                //         (backoff)
    b.negotiation_direction = NegotiationDirection::kBoth;    // row 6
    b.connect_type = ConnectType::kTrigger;                   // row 4: SA made on traffic
    b.natt = NattMode::kOn;                                   // RFC 7296 2.23: detect, encapsulate when NATed
    b.nat_keepalive = 20;                                     // strongSwan keep_alive 20 s, RFC 3948 4
    b.anti_replay = true;                                     // row 7
    b.ike_fragmentation = true;                               // strongSwan fragmentation = yes (RFC 7383)
    b.ike_fragment_size = 1280;                               // strongSwan charon.fragment_size
    return b;
  }();
  return s;
}

EffectiveIkeSettings resolve_ike_settings(const IkeConfig& ike, const IkePeer& peer, const IkeSettings* tunnel) {
  const IkeSettings& builtin = builtin_ike_settings();
  const IkeProfile* profile = peer.profile.empty() ? nullptr : ike.find_profile(peer.profile);
  EffectiveIkeSettings e;
#define ESPRIT_X(type, field, key)                                                        \
  e.field = {*builtin.field, IkeSource::kBuiltin};                                        \
  if (ike.default_profile.field) e.field = {*ike.default_profile.field, IkeSource::kDefaultProfile}; \
  if (profile && profile->settings.field) e.field = {*profile->settings.field, IkeSource::kProfile}; \
  if (peer.settings.field) e.field = {*peer.settings.field, IkeSource::kPeer};            \
  if (tunnel && tunnel->field) e.field = {*tunnel->field, IkeSource::kTunnel};
  ESPRIT_IKE_SETTINGS(ESPRIT_X)
#undef ESPRIT_X
  return e;
}

std::vector<IkeProposal> EffectiveIkeSettings::child_proposals() const {
  std::vector<IkeProposal> out = esp_proposals.value;
  for (IkeProposal& p : out)
    if (p.dh.empty()) p.dh = child_pfs.value;
  return out;
}

std::vector<uint32_t> EffectiveIkeSettings::retransmit_waits() const {
  std::vector<uint32_t> w;
  const uint32_t n = retransmit_count.value;
  for (uint32_t i = 0; i <= n; ++i)
    w.push_back(retransmit_interval.value == 0 ? (2u << std::min<uint32_t>(i, 20)) : retransmit_interval.value);
  return w;
}

namespace {

std::string show(const std::optional<IkeIdentity>& id) { return id ? id->to_string() : "(our source address)"; }
std::string show(const std::vector<IkeProposal>& v) {
  std::string s = "[";
  for (std::size_t i = 0; i < v.size(); ++i) s += (i ? ", " : "") + v[i].to_string();
  return s + "]";
}
std::string show(const std::vector<uint16_t>& groups) {
  if (groups.empty()) return "off";
  std::string s;
  for (uint16_t g : groups)
    if (const DhInfo* d = dh_from_ikev2(g)) s += (s.empty() ? "" : ", ") + std::string(d->name);
  return "[" + s + "]";
}
std::string show(NegotiationDirection d) { return std::string(to_string(d)); }
std::string show(ConnectType c) { return std::string(to_string(c)); }
std::string show(NattMode m) { return std::string(to_string(m)); }
std::string show(bool b) { return b ? "true" : "false"; }
std::string show(uint64_t v) { return std::to_string(v); }
std::string show(uint32_t v) { return std::to_string(v); }

}  // namespace

std::vector<std::string> EffectiveIkeSettings::describe() const {
  std::vector<std::string> out;
  auto line = [&](std::string_view key, std::string value, IkeSource src, std::string_view zero_means) {
    if (!zero_means.empty() && value == "0") value = std::string(zero_means);
    out.push_back(std::string(key) + " = " + value + "  (" + std::string(to_string(src)) + ")");
  };
  auto zero = [](std::string_view key) -> std::string_view {
    if (key == "dpd_interval" || key == "nat_keepalive") return "off";
    if (key == "retransmit_interval") return "backoff";
    if (key == "child_lifetime_bytes" || key == "child_lifetime_packets") return "no limit";
    return {};
  };
#define ESPRIT_X(type, field, key) line(key, show(field.value), field.source, zero(key));
  ESPRIT_IKE_SETTINGS(ESPRIT_X)
#undef ESPRIT_X
  return out;
}

const IkePeer* IkeConfig::find_peer(std::string_view name) const noexcept {
  for (const IkePeer& p : peers)
    if (p.name == name) return &p;
  return nullptr;
}

const IkeProfile* IkeConfig::find_profile(std::string_view name) const noexcept {
  for (const IkeProfile& p : profiles)
    if (p.name == name) return &p;
  return nullptr;
}

// ---------------------------------------------------------------------------------------------
// Loader
// ---------------------------------------------------------------------------------------------

namespace {

struct IkeLoadFailure {
  ConfigError error;
};

std::string quote(std::string_view s) { return shown(s); }

std::string join_quoted(const std::vector<std::string_view>& words) {
  std::string s;
  for (std::size_t i = 0; i < words.size(); ++i) s += (i ? ", " : "") + quote(words[i]);
  return s;
}

std::size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<std::size_t> prev(b.size() + 1), cur(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j)
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1)});
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

std::string did_you_mean(std::string_view word, const std::vector<std::string_view>& candidates) {
  const std::size_t limit = word.size() <= 3 ? 1 : word.size() <= 6 ? 2 : 3;
  std::string_view best;
  std::size_t best_d = limit + 1;
  for (std::string_view c : candidates) {
    const std::size_t d = edit_distance(lower(word), lower(c));
    if (d < best_d) {
      best_d = d;
      best = c;
    }
  }
  return best.empty() ? std::string() : "; did you mean " + quote(best) + "?";
}

std::string type_name(const toml::node& n) {
  if (n.is_string()) return "a string";
  if (n.is_integer()) return "an integer";
  if (n.is_boolean()) return "a boolean";
  if (n.is_table()) return "a table";
  if (n.is_array()) return "an array";
  if (n.is_floating_point()) return "a floating-point number";
  return "a date or time";
}

bool valid_name(std::string_view s) {
  if (s.empty() || s.size() > 63) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.';
  });
}

std::vector<std::string_view> settings_keys() {
  std::vector<std::string_view> k;
#define ESPRIT_X(type, field, key) k.push_back(key);
  ESPRIT_IKE_SETTINGS(ESPRIT_X)
#undef ESPRIT_X
  return k;
}

std::vector<std::string_view> with(std::vector<std::string_view> a, const std::vector<std::string_view>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

/// One TOML table of the IKE sections: unknown keys refused, typed reads, errors with positions.
class Table {
 public:
  /// Reads `t` as it is (its keys were checked elsewhere).
  Table(const std::string& file, const toml::table& t, std::string path)
      : file_(&file), t_(&t), path_(std::move(path)) {}
  Table(const std::string& file, const toml::table& t, std::string path, const std::vector<std::string_view>& keys)
      : file_(&file), t_(&t), path_(std::move(path)) {
    for (auto&& [k, v] : t) {
      (void)v;
      if (std::find(keys.begin(), keys.end(), k.str()) != keys.end()) continue;
      const std::string hint = did_you_mean(k.str(), keys);
      fail_pos(k.source(), key_path(k.str()),
               "unknown key" + (hint.empty() ? "; expected one of " + join_quoted(keys) : hint));
    }
  }

  [[nodiscard]] std::string key_path(std::string_view key) const {
    return path_.empty() ? std::string(key) : path_ + "." + std::string(key);
  }
  [[nodiscard]] const toml::node* get(std::string_view key) const { return t_->get(key); }
  [[nodiscard]] bool has(std::string_view key) const { return t_->contains(key); }
  [[nodiscard]] const toml::table& table() const { return *t_; }
  [[nodiscard]] const std::string& path() const { return path_; }

  [[noreturn]] void fail_pos(const toml::source_region& r, std::string key, std::string msg) const {
    throw IkeLoadFailure{ConfigError{*file_, r.begin.line, r.begin.column, std::move(key), std::move(msg)}};
  }
  [[noreturn]] void fail(std::string_view key, std::string msg) const {
    const toml::node* n = get(key);
    fail_pos(n ? n->source() : t_->source(), key_path(key), std::move(msg));
  }
  [[noreturn]] void fail_table(std::string msg) const { fail_pos(t_->source(), path_, std::move(msg)); }

  std::optional<std::string> string(std::string_view key) const {
    const toml::node* n = get(key);
    if (!n) return std::nullopt;
    if (!n->is_string()) fail(key, "expected a string, got " + type_name(*n));
    return n->as_string()->get();
  }
  std::optional<int64_t> integer(std::string_view key, int64_t lo, int64_t hi) const {
    const toml::node* n = get(key);
    if (!n) return std::nullopt;
    if (!n->is_integer())
      fail(key, "expected an integer " + std::to_string(lo) + ".." + std::to_string(hi) + ", got " + type_name(*n));
    const int64_t v = n->as_integer()->get();
    if (v < lo || v > hi)
      fail(key, "expected " + std::to_string(lo) + ".." + std::to_string(hi) + ", got " + std::to_string(v));
    return v;
  }
  /// An integer in lo..hi, or the word `word` meaning `word_value` (dpd_interval = "off").
  std::optional<int64_t> integer_or(std::string_view key, int64_t lo, int64_t hi, std::string_view word,
                                    int64_t word_value) const {
    const toml::node* n = get(key);
    if (!n) return std::nullopt;
    if (n->is_string()) {
      if (n->as_string()->get() == word) return word_value;
      fail(key, "expected " + quote(word) + " or an integer " + std::to_string(lo) + ".." + std::to_string(hi) +
                    ", got " + quote(n->as_string()->get()));
    }
    const std::string expected = "expected " + quote(word) + " or an integer " + std::to_string(lo) + ".." +
                                 std::to_string(hi) + ", got ";
    if (!n->is_integer()) fail(key, expected + type_name(*n));
    const int64_t v = n->as_integer()->get();
    if (v < lo || v > hi) fail(key, expected + std::to_string(v));
    return v;
  }
  std::optional<bool> boolean(std::string_view key) const {
    const toml::node* n = get(key);
    if (!n) return std::nullopt;
    if (!n->is_boolean()) fail(key, "expected true or false, got " + type_name(*n));
    return n->as_boolean()->get();
  }
  template <class E>
  std::optional<E> choice(std::string_view key, std::initializer_list<std::pair<std::string_view, E>> options) const {
    const auto s = string(key);
    if (!s) return std::nullopt;
    std::vector<std::string_view> names;
    for (const auto& [n, v] : options) {
      if (n == *s) return v;
      names.push_back(n);
    }
    fail(key, "expected one of " + join_quoted(names) + ", got " + quote(*s) + did_you_mean(*s, names));
  }
  /// A string or an array of strings, each with its node and key path.
  struct Item {
    std::string text;
    const toml::node* node;
    std::string path;
  };
  std::vector<Item> string_list(std::string_view key) const {
    std::vector<Item> out;
    const toml::node* n = get(key);
    if (!n) return out;
    if (n->is_string()) {
      out.push_back({n->as_string()->get(), n, key_path(key)});
      return out;
    }
    if (!n->is_array()) fail(key, "expected a string or an array of strings, got " + type_name(*n));
    const toml::array& a = *n->as_array();
    if (a.empty()) fail(key, "empty list");
    for (std::size_t i = 0; i < a.size(); ++i) {
      const std::string p = key_path(key) + "[" + std::to_string(i) + "]";
      if (!a[i].is_string()) fail_pos(a[i].source(), p, "expected a string, got " + type_name(a[i]));
      out.push_back({a[i].as_string()->get(), &a[i], p});
    }
    return out;
  }
  std::optional<Table> sub(std::string_view key, const std::vector<std::string_view>& keys) const {
    const toml::node* n = get(key);
    if (!n) return std::nullopt;
    if (!n->is_table()) fail(key, "expected a table, got " + type_name(*n));
    return Table(*file_, *n->as_table(), key_path(key), keys);
  }
  [[nodiscard]] const std::string& file() const { return *file_; }

 private:
  const std::string* file_;
  const toml::table* t_;
  std::string path_;
};

std::vector<IkeProposal> read_proposals(const Table& t, std::string_view key, ProposalKind kind) {
  std::vector<IkeProposal> out;
  for (const auto& item : t.string_list(key)) {
    std::string err;
    auto p = parse_proposal(item.text, kind, &err);
    if (!p) t.fail_pos(item.node->source(), item.path, err);
    out.push_back(std::move(*p));
  }
  return out;
}

bool is_zero(const toml::node* n) { return n && n->is_integer() && n->as_integer()->get() == 0; }

void read_settings(const Table& t, IkeSettings& s) {
  if (auto v = t.string("local_id")) {
    std::string err;
    auto id = IkeIdentity::parse(*v, &err);
    if (!id) t.fail("local_id", err);
    s.local_id = std::optional<IkeIdentity>(std::move(*id));
  }
  if (t.has("ike")) s.ike_proposals = read_proposals(t, "ike", ProposalKind::kIke);
  if (t.has("esp")) s.esp_proposals = read_proposals(t, "esp", ProposalKind::kEsp);
  if (t.has("child_pfs")) {
    std::vector<uint16_t> groups;
    const auto items = t.string_list("child_pfs");
    for (const auto& item : items) {
      if (item.text == "off") {
        if (items.size() != 1) t.fail_pos(item.node->source(), item.path, "\"off\" cannot be listed with groups");
        continue;
      }
      const DhInfo* d = dh_from_name(canonical_token(item.text));
      if (!d) {
        std::vector<std::string_view> names;
        std::string list;
        for (const DhInfo& g : dh_groups()) {
          names.push_back(g.name);
          list += (list.empty() ? "" : ", ") + std::string(g.name);
        }
        t.fail_pos(item.node->source(), item.path,
                   "unknown DH group " + quote(item.text) + "; expected \"off\" or groups from: " + list +
                       did_you_mean(item.text, names));
      }
      if (!add_once(groups, d->ikev2_id))
        t.fail_pos(item.node->source(), item.path, quote(item.text) + " is listed twice");
    }
    s.child_pfs = std::move(groups);
  }
  if (auto v = t.integer("ike_lifetime", kMinLifetime, kMaxLifetime)) s.ike_lifetime = static_cast<uint32_t>(*v);
  if (auto v = t.integer("child_lifetime", kMinLifetime, kMaxLifetime)) s.child_lifetime = static_cast<uint32_t>(*v);
  constexpr int64_t kMaxVolume = int64_t{1} << 62;
  if (auto v = t.integer_or("child_lifetime_bytes", 0, kMaxVolume, "none", 0))
    s.child_lifetime_bytes = static_cast<uint64_t>(*v);
  if (auto v = t.integer_or("child_lifetime_packets", 0, kMaxVolume, "none", 0))
    s.child_lifetime_packets = static_cast<uint64_t>(*v);
  if (auto v = t.integer("rekey_margin", 0, kMaxLifetime)) s.rekey_margin = static_cast<uint32_t>(*v);
  if (auto v = t.integer("rekey_jitter", 0, kMaxLifetime)) s.rekey_jitter = static_cast<uint32_t>(*v);
  if (is_zero(t.get("dpd_interval")))
    s.dpd_interval = 0;
  else if (auto v = t.integer_or("dpd_interval", 10, 3600, "off", 0))
    s.dpd_interval = static_cast<uint32_t>(*v);
  if (auto v = t.integer("retransmit_count", 2, 10)) s.retransmit_count = static_cast<uint32_t>(*v);
  if (auto v = t.integer_or("retransmit_interval", 5, 60, "backoff", 0))
    s.retransmit_interval = static_cast<uint32_t>(*v);
  if (auto v =
          t.choice<NegotiationDirection>("negotiation_direction", {{"both", NegotiationDirection::kBoth},
                                                                   {"initiator", NegotiationDirection::kInitiator},
                                                                   {"responder", NegotiationDirection::kResponder}}))
    s.negotiation_direction = *v;
  if (auto v =
          t.choice<ConnectType>("connect_type", {{"trigger", ConnectType::kTrigger}, {"auto", ConnectType::kAuto}}))
    s.connect_type = *v;
  if (auto v =
          t.choice<NattMode>("natt", {{"on", NattMode::kOn}, {"off", NattMode::kOff}, {"force", NattMode::kForce}}))
    s.natt = *v;
  if (is_zero(t.get("nat_keepalive")))
    s.nat_keepalive = 0;
  else if (auto v = t.integer_or("nat_keepalive", 1, 3600, "off", 0))
    s.nat_keepalive = static_cast<uint32_t>(*v);
  if (auto v = t.boolean("anti_replay")) s.anti_replay = *v;
  if (auto v = t.boolean("ike_fragmentation")) s.ike_fragmentation = *v;
  if (auto v = t.integer("ike_fragment_size", kMinIkeFragmentSize, kMaxIkeFragmentSize))
    s.ike_fragment_size = static_cast<uint32_t>(*v);
}

/// The first key of `s` that is set, for positioning an error about the effective settings.
std::string_view first_set(const Table& t, std::initializer_list<std::string_view> keys) {
  for (std::string_view k : keys)
    if (t.has(k)) return k;
  return {};
}

/// Checks that need every level: fails at `t` (the peer, or a tunnel's/policy's overrides), on the
/// first of the keys involved that `t` sets, else on the table itself.
void check_effective(const Table& t, const EffectiveIkeSettings& e, const IkePeer& peer) {
  auto fail = [&](std::initializer_list<std::string_view> keys, const std::string& msg) {
    const std::string_view k = first_set(t, keys);
    if (k.empty()) t.fail_table(msg);
    t.fail(k, msg);
  };
  const uint32_t shortest = std::min(e.ike_lifetime.value, e.child_lifetime.value);
  if (uint64_t{e.rekey_margin.value} + e.rekey_jitter.value >= shortest)
    fail({"rekey_margin", "rekey_jitter", "child_lifetime", "ike_lifetime"},
         "rekey_margin " + std::to_string(e.rekey_margin.value) + " s (" +
             std::string(to_string(e.rekey_margin.source)) + ") + rekey_jitter " +
             std::to_string(e.rekey_jitter.value) + " s (" + std::string(to_string(e.rekey_jitter.source)) +
             ") must be less than the shortest lifetime, " + std::to_string(shortest) +
             " s; lower them or raise the lifetime");
  if (!peer.address && e.negotiation_direction.value == NegotiationDirection::kInitiator)
    fail({"negotiation_direction"},
         "peer " + quote(peer.name) + " has address \"any\": Esprit can only respond to it, not initiate");
  if (!peer.address && e.connect_type.value == ConnectType::kAuto)
    fail({"connect_type"},
         "peer " + quote(peer.name) + " has address \"any\": connect_type = \"auto\" needs an address to connect to");
  if (e.negotiation_direction.value == NegotiationDirection::kResponder && e.connect_type.value == ConnectType::kAuto)
    fail({"connect_type", "negotiation_direction"},
         "connect_type = \"auto\" (" + std::string(to_string(e.connect_type.source)) +
             ") initiates, but negotiation_direction = \"responder\" (" +
             std::string(to_string(e.negotiation_direction.source)) + ") forbids it");
}

/// Reads `psk` or `psk_file` into `out` without ever echoing a byte of it.
void read_psk(const Table& t, const std::string& file, IkePeer& p, std::vector<std::string>& warnings) {
  const bool inline_psk = t.has("psk");
  const bool from_file = t.has("psk_file");
  if (inline_psk && from_file) t.fail("psk_file", "give either psk or psk_file, not both");
  if (!inline_psk && !from_file)
    t.fail_table("missing: psk (the pre-shared key: text, or \"0x\" and hex) or psk_file (a file holding it)");
  std::string text;
  if (inline_psk) {
    const toml::node* n = t.get("psk");
    if (!n->is_string()) t.fail("psk", "expected a string, got " + type_name(*n));
    text = n->as_string()->get();
  } else {
    std::string path = *t.string("psk_file");
    if (path.empty()) t.fail("psk_file", "empty path");
    if (path.front() != '/') {
      const std::size_t slash = file.rfind('/');
      if (slash != std::string::npos) path = file.substr(0, slash + 1) + path;
    }
    std::FILE* f = std::fopen(path.c_str(), "rb");
    if (!f) t.fail("psk_file", "cannot open " + quote(path) + ": " + std::strerror(errno));
    constexpr std::size_t kMaxPskFile = 4096;
    text.reserve(kMaxPskFile + 512);  // no reallocation: no unwiped copy left in freed memory
    char buf[512];
    std::size_t n = 0;
    while ((n = std::fread(buf, 1, sizeof(buf), f)) > 0 && text.size() <= kMaxPskFile) text.append(buf, n);
    const bool failed = std::ferror(f) != 0;
    std::fclose(f);
    secure_wipe(buf, sizeof(buf));
    if (failed || text.size() > kMaxPskFile) {
      secure_wipe(text.data(), text.size());
      t.fail("psk_file", failed ? "cannot read " + quote(path)
                                : quote(path) + " is larger than " + std::to_string(kMaxPskFile) +
                                      " bytes; it should hold only the pre-shared key");
    }
    while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
  }
  const std::string_view key = inline_psk ? "psk" : "psk_file";
  bool ok = true;
  std::string why;
  if (text.starts_with("0x") || text.starts_with("0X")) {
    if (!SecretBytes::from_hex(text, p.psk)) {
      ok = false;
      why = "starts with \"0x\" but is not valid hex (value not shown)";
    }
  } else {
    p.psk = SecretBytes(std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(text.data()), text.size()));
  }
  secure_wipe(text.data(), text.size());
  if (!ok) t.fail(key, why);
  if (p.psk.size() < kPskMinLength)
    t.fail(key, "the pre-shared key is " + std::to_string(p.psk.size()) + " bytes; at least " +
                    std::to_string(kPskMinLength) + " are required (value not shown)");
  if (p.psk.size() < kPskWarnLength)
    warnings.push_back(file + ":" + std::to_string(t.get(key)->source().begin.line) + ": " + t.key_path(key) +
                       ": the pre-shared key of peer " + quote(p.name) + " is only " + std::to_string(p.psk.size()) +
                       " bytes; use at least " + std::to_string(kPskWarnLength) +
                       " random bytes (RFC 7296 2.15: a PSK is as strong as its unpredictability)");
}

const std::vector<std::string_view> kPeerOwnKeys = {"name", "address",  "local",  "remote_id",
                                                    "psk",  "psk_file", "profile"};
const std::vector<std::string_view> kIkeOwnKeys = {"port",      "natt_port", "cookie_threshold",
                                                   "keys_file", "default",   "profile"};

std::optional<IpAddress> read_address(const Table& t, std::string_view key) {
  const auto s = t.string(key);
  if (!s) return std::nullopt;
  const auto a = IpAddress::parse(*s);
  if (!a) t.fail(key, "expected an IPv4 or IPv6 address, got " + quote(*s));
  return a;
}

std::vector<const toml::table*> table_array(const Table& parent_or_root_dummy, const toml::node* n,
                                            const std::string& path) {
  std::vector<const toml::table*> out;
  if (!n) return out;
  if (!n->is_array())
    parent_or_root_dummy.fail_pos(n->source(), path,
                                  "expected an array of tables (write [[" + path + "]]), got " + type_name(*n));
  const toml::array& a = *n->as_array();
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (!a[i].is_table())
      parent_or_root_dummy.fail_pos(a[i].source(), path + "[" + std::to_string(i) + "]",
                                    "expected a table, got " + type_name(a[i]));
    out.push_back(a[i].as_table());
  }
  return out;
}

void load_sections(const toml::table& root, const std::string& file, const std::vector<PortConfig>& ports,
                   IkeConfig& out) {
  const Table top(file, root, "");  // config.cpp checks the root's keys
  const std::vector<std::string_view> settings = settings_keys();

  if (const toml::node* n = root.get("ike")) {
    if (!n->is_table())
      top.fail_pos(n->source(), "ike", "expected a table [ike], got " + type_name(*n) + " (write [ike], not [[ike]])");
    const Table ike(file, *n->as_table(), "ike", with(kIkeOwnKeys, settings));
    if (auto v = ike.integer("port", 1, 65535)) out.port = static_cast<uint16_t>(*v);
    if (auto v = ike.integer("natt_port", 1, 65535)) out.natt_port = static_cast<uint16_t>(*v);
    if (out.port == out.natt_port)
      ike.fail("natt_port", "the NAT-T port must differ from port (both " + std::to_string(out.port) + ")");
    if (auto v = ike.integer("cookie_threshold", 0, 1000000)) out.cookie_threshold = static_cast<uint32_t>(*v);
    if (auto v = ike.string("keys_file")) {
      if (v->empty()) ike.fail("keys_file", "empty path; leave keys_file out to write no keys");
      out.keys_file = *v;
    }
    read_settings(ike, out.default_profile);
    if (auto d = ike.sub("default", settings)) {
      for (std::string_view k : settings)
        if (ike.has(k) && d->has(k))
          d->fail(k, "also set in [ike] itself (line " + std::to_string(ike.get(k)->source().begin.line) +
                         "); set the default profile's " + std::string(k) + " in one place");
      read_settings(*d, out.default_profile);
    }
    const auto profiles = table_array(ike, ike.get("profile"), "ike.profile");
    for (std::size_t i = 0; i < profiles.size(); ++i) {
      const Table pt(file, *profiles[i], "ike.profile[" + std::to_string(i) + "]", with({"name"}, settings));
      IkeProfile p;
      const auto name = pt.string("name");
      if (!name) pt.fail_table("missing: name (peers refer to the profile by it)");
      if (!valid_name(*name)) pt.fail("name", "expected 1 to 63 letters, digits, '-', '_' or '.', got " + quote(*name));
      if (out.find_profile(*name)) pt.fail("name", quote(*name) + " is already the name of another profile");
      p.name = *name;
      read_settings(pt, p.settings);
      out.profiles.push_back(std::move(p));
    }
  }

  const auto peers = table_array(top, root.get("peer"), "peer");
  for (std::size_t i = 0; i < peers.size(); ++i) {
    const Table pt(file, *peers[i], "peer[" + std::to_string(i) + "]", with(kPeerOwnKeys, settings));
    IkePeer p;
    const auto name = pt.string("name");
    if (!name) pt.fail_table("missing: name (policies and tunnels name the peer by it)");
    if (!valid_name(*name)) pt.fail("name", "expected 1 to 63 letters, digits, '-', '_' or '.', got " + quote(*name));
    if (out.find_peer(*name)) pt.fail("name", quote(*name) + " is already the name of another peer");
    p.name = *name;
    const auto addr = pt.string("address");
    if (!addr) pt.fail_table("missing: address (the peer's IP address, or \"any\" for a responder-only peer)");
    if (*addr != "any" && *addr != "%any") p.address = read_address(pt, "address");
    p.local = read_address(pt, "local");
    if (p.local) {
      bool ours = false;
      for (const PortConfig& port : ports) {
        if (port.role != PortRole::kUnprotected) continue;
        for (const auto* list : {&port.ipv4, &port.ipv6})
          for (const InterfaceAddress& ia : *list) ours = ours || ia.address == *p.local;
      }
      if (!ours) pt.fail("local", p.local->to_string() + " is not an address of an unprotected port");
    }
    if (p.address && p.local && p.address->is_v4() != p.local->is_v4())
      pt.fail("local", "local " + p.local->to_string() + " and address " + p.address->to_string() +
                           " are of different families");
    if (auto v = pt.string("remote_id")) {
      std::string err;
      auto id = IkeIdentity::parse(*v, &err);
      if (!id) pt.fail("remote_id", err);
      p.remote_id = std::move(*id);
    } else if (!p.address) {
      pt.fail_table("missing: remote_id (a peer with address \"any\" is recognised by its ID only)");
    }
    if (auto v = pt.string("profile")) {
      if (!out.find_profile(*v)) {
        std::vector<std::string_view> names;
        for (const IkeProfile& q : out.profiles) names.push_back(q.name);
        pt.fail("profile", "unknown profile " + quote(*v) +
                               (names.empty() ? "; no [[ike.profile]] is defined" : did_you_mean(*v, names)));
      }
      p.profile = *v;
    }
    read_settings(pt, p.settings);
    read_psk(pt, file, p, out.warnings);
    for (const IkePeer& q : out.peers) {
      if (p.address && q.address && *p.address == *q.address)
        pt.fail("address", "peer " + quote(q.name) + " has the same address; peers are keyed by address");
      if (!p.address && !q.address && p.remote_id && q.remote_id && *p.remote_id == *q.remote_id)
        pt.fail("remote_id", "peer " + quote(q.name) + " also has address \"any\" and this remote_id");
    }
    check_effective(pt, resolve_ike_settings(out, p), p);
    out.peers.push_back(std::move(p));
  }
}

}  // namespace

std::optional<ConfigError> load_ike_sections(const toml::table& root, const std::string& file,
                                             const std::vector<PortConfig>& ports, IkeConfig& out) {
  try {
    load_sections(root, file, ports, out);
  } catch (const IkeLoadFailure& f) {
    return f.error;
  }
  return std::nullopt;
}

std::optional<ConfigError> load_ike_binding(const toml::table& t, const std::string& file, const std::string& path,
                                            const IkeConfig& ike, const std::vector<std::string_view>& static_keys,
                                            bool protect, bool for_tunnel, std::string& peer, IkeSettings& overrides) {
  try {
    const Table tt(file, t, path);  // config.cpp checked the keys
    const auto name = tt.string("peer");
    if (!name) {
      if (tt.has("overrides"))
        tt.fail("overrides", "overrides adjust the IKE settings of a peer; name the peer with peer = \"...\"");
      peer.clear();
      return std::nullopt;
    }
    if (!protect)
      tt.fail("peer", "only protect policies are negotiated with a peer; bypass and discard need none");
    for (std::string_view k : static_keys)
      if (tt.has(k))
        tt.fail(k, "this " + std::string(for_tunnel ? "tunnel" : "policy") + " names IKE peer " + quote(*name) +
                       ", whose SAs IKE negotiates; " + std::string(k) +
                       " names a static [[sa]]: write one or the other (peer, or static SAs), not both");
    const IkePeer* p = ike.find_peer(*name);
    if (!p) {
      std::vector<std::string_view> names;
      for (const IkePeer& q : ike.peers) names.push_back(q.name);
      tt.fail("peer", "unknown peer " + quote(*name) +
                          (names.empty() ? "; no [[peer]] is defined" : did_you_mean(*name, names)));
    }
    if (for_tunnel && !p->address)
      tt.fail("peer", "peer " + quote(*name) +
                          " has address \"any\"; a tunnel interface needs a peer with an address (policies may "
                          "serve \"any\" peers)");
    peer = *name;
    overrides = IkeSettings{};
    if (auto o = tt.sub("overrides", settings_keys())) {
      read_settings(*o, overrides);
      check_effective(*o, resolve_ike_settings(ike, *p, &overrides), *p);
    }
  } catch (const IkeLoadFailure& f) {
    return f.error;
  }
  return std::nullopt;
}

}  // namespace esprit
