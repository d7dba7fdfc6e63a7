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

/// ESP integrity algorithm (kNone for AEAD ciphers).
enum class IntegAlg : uint8_t {
  kNone,
  kHmacMd5_96,
  kHmacSha1_96,
  kHmacSha256_128,
  kHmacSha384_192,
  kHmacSha512_256,
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

}  // namespace esprit
