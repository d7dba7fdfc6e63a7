// Encrypted and Authenticated payload SK (RFC 7296 3.14) and Encrypted Fragment payload SKF
// (RFC 7383 2.5). The codec keeps the body opaque: IV | ciphertext (with padding) | ICV; the IKE
// crypto (control/ike/crypto) seals and opens it. The generic header's Next Payload of an SK
// payload is the type of the first payload inside (`inner_first`), and SK is always the last
// payload of its message: the message codec enforces both.
#pragma once

#include "esprit/control/ike/payloads/payload_codec.hpp"

namespace esprit::ike {

struct EncryptedPayload {
  static constexpr PayloadType kType = PayloadType::kEncrypted;
  PayloadType inner_first = PayloadType::kNone;  ///< kNone: empty plaintext chain (e.g. DPD)
  Bytes body;                                    ///< IV | ciphertext | ICV

  [[nodiscard]] PayloadType type() const noexcept { return kType; }
  [[nodiscard]] Verdict verify() const;
  void encode_body(wire::Writer& w) const;
  [[nodiscard]] static bool decode_body(wire::Reader& r, EncryptedPayload& out, Fault& f);
  friend bool operator==(const EncryptedPayload&, const EncryptedPayload&) = default;
};

struct EncryptedFragmentPayload {
  static constexpr PayloadType kType = PayloadType::kEncryptedFragment;
  /// Inner first payload type in fragment 1; 0 in the others (RFC 7383 2.5).
  PayloadType inner_first = PayloadType::kNone;
  uint16_t fragment_number = 1;
  uint16_t total_fragments = 1;
  Bytes body;  ///< IV | ciphertext | ICV

  /// Bytes of the SKF header that belong to the associated data after the generic header.
  static constexpr std::size_t kExtraHeader = 4;
  [[nodiscard]] PayloadType type() const noexcept { return kType; }
  [[nodiscard]] Verdict verify() const;
  void encode_body(wire::Writer& w) const;
  [[nodiscard]] static bool decode_body(wire::Reader& r, EncryptedFragmentPayload& out, Fault& f);
  friend bool operator==(const EncryptedFragmentPayload&, const EncryptedFragmentPayload&) = default;
};

}  // namespace esprit::ike
