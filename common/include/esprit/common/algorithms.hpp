// The one algorithm registry: our enums <-> names, key/IV/ICV sizes and IKEv1/IKEv2 transform IDs.
// The fast path maps the same enums to Intel IPsec-MB parameters (fastpath/esp_sa.cpp).
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string_view>

namespace esprit {

/// ESP encryption (or combined-mode) algorithm with its key size and, for AEAD, its ICV size.
enum class EncrAlg : uint8_t {
  kNull,
  kTripleDesCbc,
  kAesCbc128,
  kAesCbc192,
  kAesCbc256,
  kAesGcm8_128,
  kAesGcm8_192,
  kAesGcm8_256,
  kAesGcm12_128,
  kAesGcm12_192,
  kAesGcm12_256,
  kAesGcm16_128,
  kAesGcm16_192,
  kAesGcm16_256,
  kChaCha20Poly1305,
};

/// Integrity algorithm of ESP and of IKE's SK payload (kNone for AEAD ciphers). Not every one is
/// in the ESP engine: see IntegInfo::esp.
enum class IntegAlg : uint8_t {
  kNone,
  kHmacMd5_96,
  kHmacSha1_96,
  kHmacSha256_128,
  kHmacSha384_192,
  kHmacSha512_256,
  kAesXcbc96,  ///< AUTH_AES_XCBC_96 (RFC 3566): IKE only, the ESP engine has no XCBC job set up
};

enum class CipherFamily : uint8_t { kNull, kDesCbc, kAesCbc, kAesGcm, kChaCha20Poly1305 };

struct EncrInfo {
  EncrAlg alg;
  std::string_view name;      ///< strongSwan/Esprit proposal keyword, e.g. "aes128gcm16"
  std::string_view rfc_name;  ///< human name, e.g. "AES-GCM-128 (16-byte ICV)"
  CipherFamily family;
  uint16_t ikev2_id;     ///< IKEv2 transform type 1 ID (RFC 7296, IANA)
  uint16_t ikev1_id;     ///< IKEv1 IPsec DOI ESP transform ID (RFC 2407), 0 if none
  uint16_t key_bits;     ///< IKE key-length attribute value, 0 when the algorithm has a fixed key
  uint8_t key_len;       ///< cipher key bytes, without salt
  uint8_t salt_len;      ///< bytes of salt appended to the key (RFC 4106, RFC 7634)
  uint8_t iv_len;        ///< explicit IV bytes carried in each packet
  uint8_t block_size;    ///< padding boundary of the ciphertext (at least 4, RFC 4303 2.4)
  uint8_t icv_len;       ///< ICV bytes for AEAD, 0 otherwise
  [[nodiscard]] bool aead() const noexcept { return icv_len != 0; }
  [[nodiscard]] uint8_t keymat_len() const noexcept { return key_len + salt_len; }
};

struct IntegInfo {
  IntegAlg alg;
  std::string_view name;      ///< e.g. "sha256"
  std::string_view rfc_name;  ///< e.g. "HMAC-SHA2-256-128"
  uint16_t ikev2_id;          ///< IKEv2 transform type 3 ID
  uint16_t ikev1_id;          ///< IKEv1 IPsec DOI authentication algorithm attribute value
  uint8_t key_len;
  uint8_t icv_len;
  bool esp;                   ///< the ESP engine (fastpath/esp_sa.cpp) implements it
};

/// IKEv2 pseudo-random function (transform type 2).
enum class PrfAlg : uint8_t {
  kHmacMd5,
  kHmacSha1,
  kAesXcbc128,
  kHmacSha256,
  kHmacSha384,
  kHmacSha512,
};

struct PrfInfo {
  PrfAlg alg;
  std::string_view name;      ///< e.g. "prfsha256" (strongSwan keyword)
  std::string_view rfc_name;  ///< e.g. "PRF_HMAC_SHA2_256"
  uint16_t ikev2_id;          ///< IKEv2 transform type 2 ID (RFC 7296 3.3.2, IANA)
  uint16_t ikev1_hash;        ///< IKEv1 hash algorithm attribute value (RFC 2409 App. A, RFC 4868), 0 if none
  uint8_t key_len;            ///< preferred key length (RFC 7296 2.13: the output length for HMAC; 16 for XCBC)
  uint8_t out_len;            ///< output bytes
};

enum class DhKind : uint8_t { kModp, kEcp, kCurve25519 };

/// IKEv2 Diffie-Hellman group (transform type 4). Esprit's enum is the IANA number itself.
struct DhInfo {
  uint16_t ikev2_id;          ///< IANA "Transform Type 4 - Key Exchange Method" number
  std::string_view name;      ///< strongSwan keyword, e.g. "modp2048", "ecp256", "x25519"
  std::string_view rfc_name;  ///< e.g. "2048-bit MODP (RFC 3526)"
  DhKind kind;
  uint16_t bits;              ///< prime (or field) size in bits
  uint16_t public_len;        ///< KE payload key-exchange data bytes
  uint16_t shared_len;        ///< g^ir bytes (RFC 7296 2.14 / RFC 5903 / RFC 8031)
};

[[nodiscard]] std::span<const EncrInfo> encr_algorithms() noexcept;
[[nodiscard]] std::span<const IntegInfo> integ_algorithms() noexcept;
[[nodiscard]] const EncrInfo& info(EncrAlg alg) noexcept;
[[nodiscard]] const IntegInfo& info(IntegAlg alg) noexcept;
[[nodiscard]] std::optional<EncrAlg> encr_from_name(std::string_view name) noexcept;
[[nodiscard]] std::optional<IntegAlg> integ_from_name(std::string_view name) noexcept;
/// IKEv2: transform ID plus key-length attribute (0 when absent).
[[nodiscard]] std::optional<EncrAlg> encr_from_ikev2(uint16_t id, uint16_t key_bits) noexcept;
[[nodiscard]] std::optional<IntegAlg> integ_from_ikev2(uint16_t id) noexcept;

[[nodiscard]] std::span<const PrfInfo> prf_algorithms() noexcept;
[[nodiscard]] const PrfInfo& info(PrfAlg alg) noexcept;
[[nodiscard]] std::optional<PrfAlg> prf_from_name(std::string_view name) noexcept;
[[nodiscard]] std::optional<PrfAlg> prf_from_ikev2(uint16_t id) noexcept;

[[nodiscard]] std::span<const DhInfo> dh_groups() noexcept;
/// nullptr when Esprit does not implement the group.
[[nodiscard]] const DhInfo* dh_from_ikev2(uint16_t group) noexcept;
[[nodiscard]] const DhInfo* dh_from_name(std::string_view name) noexcept;

}  // namespace esprit
