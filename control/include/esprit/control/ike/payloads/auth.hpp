// Authentication payload (RFC 7296 3.8).
#pragma once

#include "esprit/control/ike/payloads/payload_codec.hpp"

namespace esprit::ike {

struct AuthPayload {
  static constexpr PayloadType kType = PayloadType::kAuth;
  AuthMethod method = AuthMethod::kSharedKeyMic;
  Bytes data;

  [[nodiscard]] PayloadType type() const noexcept { return kType; }
  [[nodiscard]] Verdict verify() const;
  void encode_body(wire::Writer& w) const;
  [[nodiscard]] static bool decode_body(wire::Reader& r, AuthPayload& out, Fault& f);
  friend bool operator==(const AuthPayload&, const AuthPayload&) = default;
};

}  // namespace esprit::ike
