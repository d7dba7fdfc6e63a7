// The AUTH payload for pre-shared keys (RFC 7296 2.15).
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "esprit/common/algorithms.hpp"
#include "esprit/common/secret.hpp"

namespace esprit::ike {

/// <SignedOctets> = RealMessage | Nonce | prf(SK_p, IDx') (RFC 7296 2.15). For the initiator:
/// its IKE_SA_INIT request, the responder's nonce Nr, prf(SK_pi, IDi'); for the responder: its
/// IKE_SA_INIT response, Ni, prf(SK_pr, IDr'). IDx' is the ID payload without its 4-byte generic
/// header (ID Type | 3 reserved bytes | identification data). Empty on an OpenSSL failure.
[[nodiscard]] std::vector<uint8_t> signed_octets(PrfAlg prf, std::span<const uint8_t> real_message,
                                                 std::span<const uint8_t> peer_nonce,
                                                 std::span<const uint8_t> sk_p,
                                                 std::span<const uint8_t> id_body);

/// AUTH = prf(prf(Shared Secret, "Key Pad for IKEv2"), <SignedOctets>) (RFC 7296 2.15), prf
/// output length bytes. The PSK is only ever used as a key here; nothing logs it.
[[nodiscard]] SecretBytes psk_auth(PrfAlg prf, const SecretBytes& psk, std::span<const uint8_t> signed_octets);

/// Recomputes the peer's AUTH and compares in constant time. False on any length mismatch.
[[nodiscard]] bool verify_psk_auth(PrfAlg prf, const SecretBytes& psk, std::span<const uint8_t> signed_octets,
                                   std::span<const uint8_t> received_auth);

}  // namespace esprit::ike
