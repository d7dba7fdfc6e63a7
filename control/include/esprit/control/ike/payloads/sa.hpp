// Security Association payload (RFC 7296 3.3): proposals, transforms, transform attributes.
#pragma once

#include "esprit/control/ike/payloads/payload_codec.hpp"

namespace esprit::ike {

/// RFC 7296 3.3.5. TV form (AF=1): a 16-bit value; TLV form (AF=0): a byte string.
struct TransformAttribute {
  uint16_t type = kAttrKeyLength;  ///< 15 bits
  bool tv = true;
  uint16_t value = 0;  ///< TV form
  Bytes data;          ///< TLV form
  friend bool operator==(const TransformAttribute&, const TransformAttribute&) = default;
};

/// RFC 7296 3.3.2. `id` is the IANA transform ID for `type` (see esprit/common/algorithms.hpp).
struct Transform {
  TransformType type = TransformType::kEncr;
  uint16_t id = 0;
  std::vector<TransformAttribute> attributes;

  /// The KEY_LENGTH attribute's value, if present.
  [[nodiscard]] std::optional<uint16_t> key_length() const noexcept;
  friend bool operator==(const Transform&, const Transform&) = default;
};

/// RFC 7296 3.3.1.
struct Proposal {
  uint8_t number = 1;
  ProtocolId protocol = ProtocolId::kIke;
  Bytes spi;  ///< 0 bytes (IKE_SA_INIT), 8 (IKE rekey) or 4 (AH/ESP)
  std::vector<Transform> transforms;
  friend bool operator==(const Proposal&, const Proposal&) = default;
};

struct SaPayload {
  static constexpr PayloadType kType = PayloadType::kSa;
  std::vector<Proposal> proposals;

  [[nodiscard]] PayloadType type() const noexcept { return kType; }
  [[nodiscard]] Verdict verify() const;
  void encode_body(wire::Writer& w) const;
  [[nodiscard]] static bool decode_body(wire::Reader& r, SaPayload& out, Fault& f);
  friend bool operator==(const SaPayload&, const SaPayload&) = default;
};

}  // namespace esprit::ike
