// A payload whose type this codec does not know, without the critical bit (RFC 7296 2.5, 3.2):
// skipped by the exchanges, kept in the model so that parse/encode round trips are exact.
#pragma once

#include "esprit/control/ike/payloads/payload_codec.hpp"

namespace esprit::ike {

struct UnknownPayload {
  PayloadType raw_type = PayloadType::kNone;
  bool critical = false;  ///< always false after a parse (critical unknowns fail it)
  Bytes body;

  [[nodiscard]] PayloadType type() const noexcept { return raw_type; }
  [[nodiscard]] Verdict verify() const;
  void encode_body(wire::Writer& w) const;
  [[nodiscard]] static bool decode_body(wire::Reader& r, UnknownPayload& out, Fault& f);
  friend bool operator==(const UnknownPayload&, const UnknownPayload&) = default;
};

}  // namespace esprit::ike
