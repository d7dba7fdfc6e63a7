// Key Exchange payload (RFC 7296 3.4).
#pragma once

#include "esprit/control/ike/payloads/payload_codec.hpp"

namespace esprit::ike {

struct KePayload {
  static constexpr PayloadType kType = PayloadType::kKe;
  uint16_t dh_group = 0;  ///< transform type 4 ID
  Bytes data;             ///< public value; its size is the DH group's business (crypto)

  [[nodiscard]] PayloadType type() const noexcept { return kType; }
  [[nodiscard]] Verdict verify() const;
  void encode_body(wire::Writer& w) const;
  [[nodiscard]] static bool decode_body(wire::Reader& r, KePayload& out, Fault& f);
  friend bool operator==(const KePayload&, const KePayload&) = default;
};

}  // namespace esprit::ike
