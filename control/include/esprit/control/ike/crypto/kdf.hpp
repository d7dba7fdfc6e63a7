// IKEv2 key derivation (RFC 7296 2.14, 2.17, 2.18).
#pragma once

#include <cstdint>
#include <span>

#include "esprit/common/algorithms.hpp"
#include "esprit/common/secret.hpp"

namespace esprit::ike {

/// The transforms an IKE SA negotiated. integ is IntegAlg::kNone with an AEAD encr.
struct IkeSaTransforms {
  PrfAlg prf = PrfAlg::kHmacSha256;
  EncrAlg encr = EncrAlg::kAesCbc256;
  IntegAlg integ = IntegAlg::kHmacSha256_128;
};

/// The seven IKE SA secrets (RFC 7296 2.14), in the order prf+ produces them.
struct IkeSaKeys {
  SecretBytes sk_d;   ///< prf key length
  SecretBytes sk_ai;  ///< integ key (empty with AEAD)
  SecretBytes sk_ar;
  SecretBytes sk_ei;  ///< encr key | salt (salt: 4 bytes for GCM, RFC 5282 7.1; ChaCha20, RFC 7634 3)
  SecretBytes sk_er;
  SecretBytes sk_pi;  ///< prf key length
  SecretBytes sk_pr;
  [[nodiscard]] bool empty() const noexcept { return sk_d.empty(); }
};

/// The ESP keys of one Child SA (RFC 7296 2.17): KEYMAT gives initiator->responder first (encr
/// then integ), then responder->initiator. The initiator's outbound SA uses *_i, its inbound *_r;
/// the responder the other way round. Encryption keys include the salt for AEAD (RFC 4106 8.1).
struct ChildSaKeys {
  SecretBytes encr_i;
  SecretBytes integ_i;
  SecretBytes encr_r;
  SecretBytes integ_r;
  [[nodiscard]] bool empty() const noexcept { return encr_i.empty() && integ_i.empty(); }
};

/// SKEYSEED = prf(Ni | Nr, g^ir) (RFC 7296 2.14). With AES-XCBC-PRF-128 only the first 64 bits of
/// Ni and of Nr form the key (2.14: "for historical backward-compatibility reasons"). Nonces shorter
/// than 8 bytes give an empty result with XCBC (RFC 7296 2.10 requires at least 16).
[[nodiscard]] SecretBytes skeyseed(PrfAlg prf, std::span<const uint8_t> ni, std::span<const uint8_t> nr,
                                   std::span<const uint8_t> g_ir);

/// SKEYSEED of an IKE SA created by rekeying (RFC 7296 2.18): prf(SK_d (old), g^ir (new) | Ni | Nr),
/// with the old SA's PRF ("the rekeying exchange belongs to the old IKE SA"). Ni/Nr are the
/// CREATE_CHILD_SA nonces. The new SA's keys are then derive_ike_sa_keys() with the new SA's
/// transforms, nonces and SPIs.
[[nodiscard]] SecretBytes skeyseed_rekey(PrfAlg old_prf, std::span<const uint8_t> sk_d_old,
                                         std::span<const uint8_t> g_ir_new, std::span<const uint8_t> ni,
                                         std::span<const uint8_t> nr);

/// {SK_d | SK_ai | SK_ar | SK_ei | SK_er | SK_pi | SK_pr} = prf+(SKEYSEED, Ni | Nr | SPIi | SPIr)
/// (RFC 7296 2.14); an SPI is the IKE header's 8 bytes read as a big-endian integer. Key lengths
/// come from the transforms. Empty keys on failure.
[[nodiscard]] IkeSaKeys derive_ike_sa_keys(const IkeSaTransforms& t, std::span<const uint8_t> skeyseed,
                                           std::span<const uint8_t> ni, std::span<const uint8_t> nr,
                                           uint64_t spi_i, uint64_t spi_r);

/// KEYMAT = prf+(SK_d, Ni | Nr) or, with PFS, prf+(SK_d, g^ir (new) | Ni | Nr) (RFC 7296 2.17;
/// pass an empty g_ir without PFS), split as ChildSaKeys says. Empty keys on failure.
[[nodiscard]] ChildSaKeys derive_child_sa_keys(PrfAlg prf, std::span<const uint8_t> sk_d, EncrAlg encr,
                                               IntegAlg integ, std::span<const uint8_t> g_ir,
                                               std::span<const uint8_t> ni, std::span<const uint8_t> nr);

/// Bytes of IKE SA keying material prf+ must produce for these transforms.
[[nodiscard]] std::size_t ike_sa_keymat_len(const IkeSaTransforms& t) noexcept;

}  // namespace esprit::ike
