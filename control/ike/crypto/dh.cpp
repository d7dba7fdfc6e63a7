#include "esprit/control/ike/crypto/dh.hpp"

#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/obj_mac.h>

#include <cstring>

#include "ossl.hpp"

namespace esprit::ike {
namespace {

using detail::Bn;
using detail::BnCtx;
using detail::Pkey;
using detail::PkeyCtx;

bool all_zero(const uint8_t* p, std::size_t n) noexcept {
  uint8_t acc = 0;
  for (std::size_t i = 0; i < n; ++i) acc |= p[i];
  return acc == 0;
}

// ---------------------------------------------------------------------------------------------
// MODP (RFC 2409 6, RFC 3526): y = 2^x mod p. All these primes are safe primes (p = 2q + 1).

BIGNUM* modp_prime(uint16_t group) noexcept {
  switch (group) {
    case 1: return BN_get_rfc2409_prime_768(nullptr);
    case 2: return BN_get_rfc2409_prime_1024(nullptr);
    case 5: return BN_get_rfc3526_prime_1536(nullptr);
    case 14: return BN_get_rfc3526_prime_2048(nullptr);
    case 15: return BN_get_rfc3526_prime_3072(nullptr);
    case 16: return BN_get_rfc3526_prime_4096(nullptr);
    case 17: return BN_get_rfc3526_prime_6144(nullptr);
    case 18: return BN_get_rfc3526_prime_8192(nullptr);
    default: return nullptr;
  }
}

/// Private exponent bytes: at least twice the upper strength estimate of RFC 3526 8's table.
std::size_t modp_exponent_len(uint16_t bits) noexcept {
  if (bits <= 1536) return 32;
  if (bits <= 2048) return 40;
  if (bits <= 3072) return 56;
  if (bits <= 4096) return 64;
  if (bits <= 6144) return 72;
  return 80;
}

class ModpGroup final : public DhGroup {
 public:
  explicit ModpGroup(const DhInfo& info) : DhGroup(info), p_(modp_prime(info.ikev2_id)), ctx_(BN_CTX_secure_new()) {
    if (p_) {
      pm1_.reset(BN_dup(p_.get()));
      if (pm1_) BN_sub_word(pm1_.get(), 1);
    }
  }
  [[nodiscard]] bool usable() const noexcept { return p_ && pm1_ && ctx_; }

  bool generate(RandomSource& rng) override {
    SecretBytes x = SecretBytes::zeroed(modp_exponent_len(info().bits));
    for (int tries = 0; tries < 16; ++tries) {
      if (!rng.fill(x.mutable_span())) return false;
      if (set_private_key(x.span())) return true;  // refuses only x <= 1 (or >= p-1)
    }
    return false;
  }

  bool set_private_key(std::span<const uint8_t> priv) override {
    public_.clear();
    x_.reset();
    if (!usable() || priv.empty() || priv.size() > info().public_len) return false;
    Bn x(BN_secure_new());
    Bn y(BN_new());
    BIGNUM* g = BN_new();
    bool ok = x && y && g && BN_bin2bn(priv.data(), static_cast<int>(priv.size()), x.get()) &&
              BN_cmp(x.get(), BN_value_one()) > 0 && BN_cmp(x.get(), pm1_.get()) < 0 && BN_set_word(g, 2);
    if (ok) {
      BN_set_flags(x.get(), BN_FLG_CONSTTIME);
      ok = BN_mod_exp_mont_consttime(y.get(), g, x.get(), p_.get(), ctx_.get(), nullptr) == 1;
    }
    BN_free(g);
    if (!ok) return false;
    public_.assign(info().public_len, 0);
    if (BN_bn2binpad(y.get(), public_.data(), static_cast<int>(public_.size())) < 0) {
      public_.clear();
      return false;
    }
    x_ = std::move(x);
    return true;
  }

  DhStatus check_peer(std::span<const uint8_t> peer) const override {
    Bn y;
    return parse_peer(peer, y);
  }

  DhStatus derive(std::span<const uint8_t> peer, SecretBytes& out) const override {
    out.clear();
    if (!x_) return DhStatus::kNoKey;
    Bn y;
    if (const DhStatus s = parse_peer(peer, y); s != DhStatus::kOk) return s;
    Bn z(BN_secure_new());
    if (!z || BN_mod_exp_mont_consttime(z.get(), y.get(), x_.get(), p_.get(), ctx_.get(), nullptr) != 1)
      return DhStatus::kInternal;
    SecretBytes s = SecretBytes::zeroed(info().shared_len);
    if (BN_bn2binpad(z.get(), s.mutable_data(), static_cast<int>(s.size())) < 0) return DhStatus::kInternal;
    out = std::move(s);
    return DhStatus::kOk;
  }

 private:
  DhStatus parse_peer(std::span<const uint8_t> peer, Bn& y) const {
    if (peer.size() != info().public_len) return DhStatus::kBadLength;
    if (!usable()) return DhStatus::kInternal;
    y.reset(BN_bin2bn(peer.data(), static_cast<int>(peer.size()), nullptr));
    if (!y) return DhStatus::kInternal;
    // RFC 6989 2.1: 1 < y < p-1. With a safe prime, the only small subgroups are {1} and {1, p-1}
    // (RFC 6989 2.2), so the range check is the whole test.
    if (BN_cmp(y.get(), BN_value_one()) <= 0 || BN_cmp(y.get(), pm1_.get()) >= 0) return DhStatus::kInvalidPublic;
    return DhStatus::kOk;
  }

  Bn p_;
  Bn pm1_;
  BnCtx ctx_;
  Bn x_;
};

// ---------------------------------------------------------------------------------------------
// ECP (RFC 5903): NIST P-256, P-384, P-521. KE data is x | y, each padded to the field size.

struct EcGroupFree {
  void operator()(EC_GROUP* g) const noexcept { EC_GROUP_free(g); }
};
struct EcPointFree {
  void operator()(EC_POINT* p) const noexcept { EC_POINT_clear_free(p); }
};
using EcGroupPtr = std::unique_ptr<EC_GROUP, EcGroupFree>;
using EcPointPtr = std::unique_ptr<EC_POINT, EcPointFree>;

int ecp_nid(uint16_t group) noexcept {
  switch (group) {
    case 19: return NID_X9_62_prime256v1;
    case 20: return NID_secp384r1;
    case 21: return NID_secp521r1;
    default: return NID_undef;
  }
}

class EcpGroup final : public DhGroup {
 public:
  explicit EcpGroup(const DhInfo& info)
      : DhGroup(info), group_(EC_GROUP_new_by_curve_name(ecp_nid(info.ikev2_id))), ctx_(BN_CTX_secure_new()) {}
  [[nodiscard]] bool usable() const noexcept { return group_ && ctx_; }
  [[nodiscard]] std::size_t coord_len() const noexcept { return info().shared_len; }

  bool generate(RandomSource& rng) override {
    if (!usable()) return false;
    const BIGNUM* order = EC_GROUP_get0_order(group_.get());
    const int order_bits = BN_num_bits(order);
    SecretBytes d = SecretBytes::zeroed(static_cast<std::size_t>((order_bits + 7) / 8));
    const int extra = static_cast<int>(d.size()) * 8 - order_bits;
    // Rejection sampling of d in [1, n-1] (FIPS 186-4 B.4.2): no modulo bias.
    for (int tries = 0; tries < 64; ++tries) {
      if (!rng.fill(d.mutable_span())) return false;
      d.mutable_data()[0] &= static_cast<uint8_t>(0xff >> extra);
      if (set_private_key(d.span())) return true;
    }
    return false;
  }

  bool set_private_key(std::span<const uint8_t> priv) override {
    public_.clear();
    d_.reset();
    if (!usable() || priv.empty() || priv.size() > coord_len()) return false;
    Bn d(BN_secure_new());
    if (!d || !BN_bin2bn(priv.data(), static_cast<int>(priv.size()), d.get())) return false;
    if (BN_is_zero(d.get()) || BN_cmp(d.get(), EC_GROUP_get0_order(group_.get())) >= 0) return false;
    BN_set_flags(d.get(), BN_FLG_CONSTTIME);
    EcPointPtr q(EC_POINT_new(group_.get()));
    if (!q || EC_POINT_mul(group_.get(), q.get(), d.get(), nullptr, nullptr, ctx_.get()) != 1) return false;
    std::vector<uint8_t> pub(2 * coord_len());
    if (!point_to_xy(q.get(), pub.data(), pub.data() + coord_len())) return false;
    public_ = std::move(pub);
    d_ = std::move(d);
    return true;
  }

  DhStatus check_peer(std::span<const uint8_t> peer) const override {
    EcPointPtr q;
    return parse_peer(peer, q);
  }

  DhStatus derive(std::span<const uint8_t> peer, SecretBytes& out) const override {
    out.clear();
    if (!d_) return DhStatus::kNoKey;
    EcPointPtr q;
    if (const DhStatus s = parse_peer(peer, q); s != DhStatus::kOk) return s;
    EcPointPtr z(EC_POINT_new(group_.get()));
    if (!z || EC_POINT_mul(group_.get(), z.get(), nullptr, q.get(), d_.get(), ctx_.get()) != 1)
      return DhStatus::kInternal;
    // The curves here have cofactor 1: a valid peer point times d in [1, n-1] is never infinity.
    if (EC_POINT_is_at_infinity(group_.get(), z.get())) return DhStatus::kInvalidPublic;
    SecretBytes s = SecretBytes::zeroed(coord_len());
    if (!point_to_xy(z.get(), s.mutable_data(), nullptr)) return DhStatus::kInternal;
    out = std::move(s);
    return DhStatus::kOk;
  }

 private:
  bool point_to_xy(const EC_POINT* p, uint8_t* x_out, uint8_t* y_out) const {
    Bn x(BN_secure_new());
    Bn y(BN_secure_new());
    if (!x || !y || EC_POINT_get_affine_coordinates(group_.get(), p, x.get(), y.get(), ctx_.get()) != 1) return false;
    const int n = static_cast<int>(coord_len());
    if (BN_bn2binpad(x.get(), x_out, n) < 0) return false;
    return !y_out || BN_bn2binpad(y.get(), y_out, n) >= 0;
  }

  DhStatus parse_peer(std::span<const uint8_t> peer, EcPointPtr& q) const {
    if (peer.size() != info().public_len) return DhStatus::kBadLength;
    if (!usable()) return DhStatus::kInternal;
    const int n = static_cast<int>(coord_len());
    Bn x(BN_bin2bn(peer.data(), n, nullptr));
    Bn y(BN_bin2bn(peer.data() + n, n, nullptr));
    q.reset(EC_POINT_new(group_.get()));
    if (!x || !y || !q) return DhStatus::kInternal;
    // RFC 6989 2.3 / RFC 5903 7: coordinates in [0, p-1] and the point on the curve. The point at
    // infinity has no affine x | y encoding, so it cannot be sent in this format at all.
    // EC_POINT_set_affine_coordinates refuses coordinates >= p and points off the curve.
    if (EC_POINT_set_affine_coordinates(group_.get(), q.get(), x.get(), y.get(), ctx_.get()) != 1)
      return DhStatus::kInvalidPublic;
    if (EC_POINT_is_on_curve(group_.get(), q.get(), ctx_.get()) != 1 || EC_POINT_is_at_infinity(group_.get(), q.get()))
      return DhStatus::kInvalidPublic;
    return DhStatus::kOk;
  }

  EcGroupPtr group_;
  BnCtx ctx_;
  Bn d_;
};

// ---------------------------------------------------------------------------------------------
// Curve25519 (RFC 8031, RFC 7748): X25519 through EVP_PKEY.

class X25519Group final : public DhGroup {
 public:
  explicit X25519Group(const DhInfo& info) : DhGroup(info) {}

  bool generate(RandomSource& rng) override {
    SecretBytes k = SecretBytes::zeroed(32);
    if (!rng.fill(k.mutable_span())) return false;
    return set_private_key(k.span());  // X25519 clamps the scalar itself (RFC 7748 5)
  }

  bool set_private_key(std::span<const uint8_t> priv) override {
    public_.clear();
    key_.reset();
    if (priv.size() != 32) return false;
    Pkey key(EVP_PKEY_new_raw_private_key(EVP_PKEY_X25519, nullptr, priv.data(), priv.size()));
    if (!key) return false;
    std::vector<uint8_t> pub(32);
    std::size_t len = pub.size();
    if (EVP_PKEY_get_raw_public_key(key.get(), pub.data(), &len) != 1 || len != 32) return false;
    public_ = std::move(pub);
    key_ = std::move(key);
    return true;
  }

  DhStatus check_peer(std::span<const uint8_t> peer) const override {
    // Every 32-byte string is a u-coordinate (RFC 7748 5); low-order points show up as the
    // all-zero shared secret, which derive() refuses (RFC 8031 2.3).
    return peer.size() == 32 ? DhStatus::kOk : DhStatus::kBadLength;
  }

  DhStatus derive(std::span<const uint8_t> peer, SecretBytes& out) const override {
    out.clear();
    if (!key_) return DhStatus::kNoKey;
    if (const DhStatus s = check_peer(peer); s != DhStatus::kOk) return s;
    Pkey pk(EVP_PKEY_new_raw_public_key(EVP_PKEY_X25519, nullptr, peer.data(), peer.size()));
    PkeyCtx ctx(EVP_PKEY_CTX_new_from_pkey(nullptr, key_.get(), nullptr));
    if (!pk || !ctx || EVP_PKEY_derive_init(ctx.get()) != 1 || EVP_PKEY_derive_set_peer_ex(ctx.get(), pk.get(), 0) != 1)
      return DhStatus::kInternal;
    SecretBytes s = SecretBytes::zeroed(32);
    std::size_t len = s.size();
    // OpenSSL's X25519 derive fails exactly when the result is all zero (ossl_x25519 returns 0);
    // the explicit check below keeps that guarantee whatever the provider does.
    if (EVP_PKEY_derive(ctx.get(), s.mutable_data(), &len) != 1) return DhStatus::kZeroSecret;
    if (len != 32) return DhStatus::kInternal;
    if (all_zero(s.data(), s.size())) return DhStatus::kZeroSecret;
    out = std::move(s);
    return DhStatus::kOk;
  }

 private:
  Pkey key_;
};

}  // namespace

std::string_view to_string(DhStatus s) noexcept {
  switch (s) {
    case DhStatus::kOk: return "ok";
    case DhStatus::kBadLength: return "key exchange data has the wrong length for the group";
    case DhStatus::kInvalidPublic: return "peer public value refused (RFC 6989)";
    case DhStatus::kZeroSecret: return "all-zero shared secret refused (RFC 8031)";
    case DhStatus::kNoKey: return "no private key";
    case DhStatus::kInternal: return "crypto library failure";
  }
  return "?";
}

std::unique_ptr<DhGroup> DhGroup::create(uint16_t group) {
  const DhInfo* info = dh_from_ikev2(group);
  if (!info) return nullptr;
  switch (info->kind) {
    case DhKind::kModp: {
      auto g = std::make_unique<ModpGroup>(*info);
      return g->usable() ? std::move(g) : nullptr;
    }
    case DhKind::kEcp: {
      auto g = std::make_unique<EcpGroup>(*info);
      return g->usable() ? std::move(g) : nullptr;
    }
    case DhKind::kCurve25519: return std::make_unique<X25519Group>(*info);
  }
  return nullptr;
}

}  // namespace esprit::ike
