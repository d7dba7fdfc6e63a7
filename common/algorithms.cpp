#include "esprit/common/algorithms.hpp"

#include <array>

namespace esprit {
namespace {

// IKEv2 IDs: IANA "Transform Type 1 - Encryption Algorithm Transform IDs" and "Type 3 - Integrity".
// IKEv1 IDs: RFC 2407 4.4.4 (ESP transform IDs) and 4.5 (authentication algorithm attribute),
// RFC 4106 8.1 (ESP_AES-GCM), RFC 4868 (HMAC-SHA2 attribute values 5, 6, 7).
constexpr std::array kEncr = {
    //      alg                        name                 rfc_name                              family                          v2  v1  bits key salt iv blk icv
    EncrInfo{EncrAlg::kNull, "null", "NULL", CipherFamily::kNull, 11, 11, 0, 0, 0, 0, 4, 0},
    EncrInfo{EncrAlg::kTripleDesCbc, "3des", "3DES-CBC", CipherFamily::kDesCbc, 3, 3, 0, 24, 0, 8, 8, 0},
    EncrInfo{EncrAlg::kAesCbc128, "aes128", "AES-CBC-128", CipherFamily::kAesCbc, 12, 12, 128, 16, 0, 16, 16, 0},
    EncrInfo{EncrAlg::kAesCbc192, "aes192", "AES-CBC-192", CipherFamily::kAesCbc, 12, 12, 192, 24, 0, 16, 16, 0},
    EncrInfo{EncrAlg::kAesCbc256, "aes256", "AES-CBC-256", CipherFamily::kAesCbc, 12, 12, 256, 32, 0, 16, 16, 0},
    EncrInfo{EncrAlg::kAesGcm8_128, "aes128gcm8", "AES-GCM-128 (8-byte ICV)", CipherFamily::kAesGcm, 18, 18, 128, 16, 4, 8, 4, 8},
    EncrInfo{EncrAlg::kAesGcm8_192, "aes192gcm8", "AES-GCM-192 (8-byte ICV)", CipherFamily::kAesGcm, 18, 18, 192, 24, 4, 8, 4, 8},
    EncrInfo{EncrAlg::kAesGcm8_256, "aes256gcm8", "AES-GCM-256 (8-byte ICV)", CipherFamily::kAesGcm, 18, 18, 256, 32, 4, 8, 4, 8},
    EncrInfo{EncrAlg::kAesGcm12_128, "aes128gcm12", "AES-GCM-128 (12-byte ICV)", CipherFamily::kAesGcm, 19, 19, 128, 16, 4, 8, 4, 12},
    EncrInfo{EncrAlg::kAesGcm12_192, "aes192gcm12", "AES-GCM-192 (12-byte ICV)", CipherFamily::kAesGcm, 19, 19, 192, 24, 4, 8, 4, 12},
    EncrInfo{EncrAlg::kAesGcm12_256, "aes256gcm12", "AES-GCM-256 (12-byte ICV)", CipherFamily::kAesGcm, 19, 19, 256, 32, 4, 8, 4, 12},
    EncrInfo{EncrAlg::kAesGcm16_128, "aes128gcm16", "AES-GCM-128 (16-byte ICV)", CipherFamily::kAesGcm, 20, 20, 128, 16, 4, 8, 4, 16},
    EncrInfo{EncrAlg::kAesGcm16_192, "aes192gcm16", "AES-GCM-192 (16-byte ICV)", CipherFamily::kAesGcm, 20, 20, 192, 24, 4, 8, 4, 16},
    EncrInfo{EncrAlg::kAesGcm16_256, "aes256gcm16", "AES-GCM-256 (16-byte ICV)", CipherFamily::kAesGcm, 20, 20, 256, 32, 4, 8, 4, 16},
    // RFC 7634: 256-bit key + 32-bit salt, 64-bit IV, 16-byte tag. No IKEv1 ID is assigned.
    EncrInfo{EncrAlg::kChaCha20Poly1305, "chacha20poly1305", "ChaCha20-Poly1305", CipherFamily::kChaCha20Poly1305, 28, 0, 0, 32, 4, 8, 4, 16},
};

constexpr std::array kInteg = {
    IntegInfo{IntegAlg::kNone, "none", "NONE", 0, 0, 0, 0, true},
    IntegInfo{IntegAlg::kHmacMd5_96, "md5", "HMAC-MD5-96", 1, 1, 16, 12, true},
    IntegInfo{IntegAlg::kHmacSha1_96, "sha1", "HMAC-SHA1-96", 2, 2, 20, 12, true},
    IntegInfo{IntegAlg::kHmacSha256_128, "sha256", "HMAC-SHA2-256-128", 12, 5, 32, 16, true},
    IntegInfo{IntegAlg::kHmacSha384_192, "sha384", "HMAC-SHA2-384-192", 13, 6, 48, 24, true},
    IntegInfo{IntegAlg::kHmacSha512_256, "sha512", "HMAC-SHA2-512-256", 14, 7, 64, 32, true},
    // RFC 3566: 128-bit key, 96-bit ICV; IKEv2 transform 5, IKEv1 authentication algorithm 9.
    IntegInfo{IntegAlg::kAesXcbc96, "aesxcbc", "AES-XCBC-MAC-96", 5, 9, 16, 12, false},
};

// IKEv2 IDs: IANA "Transform Type 2 - Pseudorandom Function Transform IDs" (RFC 7296 3.3.2).
// IKEv1 hash attribute: RFC 2409 App. A (MD5 1, SHA 2), RFC 4868 2.4 (SHA2-256 4, -384 5, -512 6).
constexpr std::array kPrf = {
    PrfInfo{PrfAlg::kHmacMd5, "prfmd5", "PRF_HMAC_MD5", 1, 1, 16, 16},
    PrfInfo{PrfAlg::kHmacSha1, "prfsha1", "PRF_HMAC_SHA1", 2, 2, 20, 20},
    PrfInfo{PrfAlg::kAesXcbc128, "prfaesxcbc", "PRF_AES128_XCBC", 4, 0, 16, 16},  // RFC 4434
    PrfInfo{PrfAlg::kHmacSha256, "prfsha256", "PRF_HMAC_SHA2_256", 5, 4, 32, 32},  // RFC 4868
    PrfInfo{PrfAlg::kHmacSha384, "prfsha384", "PRF_HMAC_SHA2_384", 6, 5, 48, 48},
    PrfInfo{PrfAlg::kHmacSha512, "prfsha512", "PRF_HMAC_SHA2_512", 7, 6, 64, 64},
};

// IANA "Transform Type 4 - Key Exchange Method Transform IDs". MODP: RFC 2409 6 (1, 2), RFC 3526 (5,
// 14-18); ECP: RFC 5903 (19-21, public value x|y, shared secret x); Curve25519: RFC 8031 (31).
constexpr std::array kDh = {
    DhInfo{1, "modp768", "768-bit MODP (RFC 2409)", DhKind::kModp, 768, 96, 96},
    DhInfo{2, "modp1024", "1024-bit MODP (RFC 2409)", DhKind::kModp, 1024, 128, 128},
    DhInfo{5, "modp1536", "1536-bit MODP (RFC 3526)", DhKind::kModp, 1536, 192, 192},
    DhInfo{14, "modp2048", "2048-bit MODP (RFC 3526)", DhKind::kModp, 2048, 256, 256},
    DhInfo{15, "modp3072", "3072-bit MODP (RFC 3526)", DhKind::kModp, 3072, 384, 384},
    DhInfo{16, "modp4096", "4096-bit MODP (RFC 3526)", DhKind::kModp, 4096, 512, 512},
    DhInfo{17, "modp6144", "6144-bit MODP (RFC 3526)", DhKind::kModp, 6144, 768, 768},
    DhInfo{18, "modp8192", "8192-bit MODP (RFC 3526)", DhKind::kModp, 8192, 1024, 1024},
    DhInfo{19, "ecp256", "256-bit random ECP (RFC 5903)", DhKind::kEcp, 256, 64, 32},
    DhInfo{20, "ecp384", "384-bit random ECP (RFC 5903)", DhKind::kEcp, 384, 96, 48},
    DhInfo{21, "ecp521", "521-bit random ECP (RFC 5903)", DhKind::kEcp, 521, 132, 66},
    DhInfo{31, "curve25519", "Curve25519 (RFC 8031)", DhKind::kCurve25519, 255, 32, 32},
};

// The tables are indexed by enum value; keep them in enum order.
constexpr bool tables_in_enum_order() {
  for (std::size_t i = 0; i < kEncr.size(); ++i)
    if (static_cast<std::size_t>(kEncr[i].alg) != i) return false;
  for (std::size_t i = 0; i < kInteg.size(); ++i)
    if (static_cast<std::size_t>(kInteg[i].alg) != i) return false;
  for (std::size_t i = 0; i < kPrf.size(); ++i)
    if (static_cast<std::size_t>(kPrf[i].alg) != i) return false;
  return true;
}
static_assert(tables_in_enum_order());
static_assert(kEncr.size() == static_cast<std::size_t>(EncrAlg::kChaCha20Poly1305) + 1);
static_assert(kInteg.size() == static_cast<std::size_t>(IntegAlg::kAesXcbc96) + 1);
static_assert(kPrf.size() == static_cast<std::size_t>(PrfAlg::kHmacSha512) + 1);

}  // namespace

std::span<const EncrInfo> encr_algorithms() noexcept { return kEncr; }
std::span<const IntegInfo> integ_algorithms() noexcept { return kInteg; }
const EncrInfo& info(EncrAlg alg) noexcept { return kEncr[static_cast<std::size_t>(alg)]; }
const IntegInfo& info(IntegAlg alg) noexcept { return kInteg[static_cast<std::size_t>(alg)]; }

std::optional<EncrAlg> encr_from_name(std::string_view name) noexcept {
  for (const auto& e : kEncr)
    if (e.name == name) return e.alg;
  return std::nullopt;
}

std::optional<IntegAlg> integ_from_name(std::string_view name) noexcept {
  for (const auto& i : kInteg)
    if (i.name == name) return i.alg;
  return std::nullopt;
}

std::optional<EncrAlg> encr_from_ikev2(uint16_t id, uint16_t key_bits) noexcept {
  for (const auto& e : kEncr)
    if (e.ikev2_id == id && e.key_bits == key_bits) return e.alg;
  return std::nullopt;
}

std::optional<IntegAlg> integ_from_ikev2(uint16_t id) noexcept {
  for (const auto& i : kInteg)
    if (i.ikev2_id == id && i.alg != IntegAlg::kNone) return i.alg;
  return std::nullopt;
}

std::span<const PrfInfo> prf_algorithms() noexcept { return kPrf; }
const PrfInfo& info(PrfAlg alg) noexcept { return kPrf[static_cast<std::size_t>(alg)]; }

std::optional<PrfAlg> prf_from_name(std::string_view name) noexcept {
  for (const auto& p : kPrf)
    if (p.name == name) return p.alg;
  return std::nullopt;
}

std::optional<PrfAlg> prf_from_ikev2(uint16_t id) noexcept {
  for (const auto& p : kPrf)
    if (p.ikev2_id == id) return p.alg;
  return std::nullopt;
}

std::span<const DhInfo> dh_groups() noexcept { return kDh; }

const DhInfo* dh_from_ikev2(uint16_t group) noexcept {
  for (const auto& d : kDh)
    if (d.ikev2_id == group) return &d;
  return nullptr;
}

const DhInfo* dh_from_name(std::string_view name) noexcept {
  for (const auto& d : kDh)
    if (d.name == name) return &d;
  return nullptr;
}

}  // namespace esprit
