// Extensible Authentication payload (RFC 7296 3.16). Esprit does not support EAP: the payload is
// accepted and kept opaque so that the exchange can refuse it with the right notify rather than the
// parser calling it malformed.
#pragma once

#include "esprit/control/ike/payloads/payload_codec.hpp"

namespace esprit::ike {

struct EapPayload {
  static constexpr PayloadType kType = PayloadType::kEap;
  Bytes message;  ///< the EAP message (RFC 3748 4): Code, Identifier, Length, Data

  [[nodiscard]] PayloadType type() const noexcept { return kType; }
  [[nodiscard]] Verdict verify() const;
  void encode_body(wire::Writer& w) const;
  [[nodiscard]] static bool decode_body(wire::Reader& r, EapPayload& out, Fault& f);
  friend bool operator==(const EapPayload&, const EapPayload&) = default;
};

}  // namespace esprit::ike
