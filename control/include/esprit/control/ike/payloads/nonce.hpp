// Nonce payload, Ni and Nr (RFC 7296 3.9).
#pragma once

#include "esprit/control/ike/payloads/payload_codec.hpp"

namespace esprit::ike {

inline constexpr std::size_t kNonceMin = 16;   ///< RFC 7296 3.9
inline constexpr std::size_t kNonceMax = 256;  ///< RFC 7296 3.9

struct NoncePayload {
  static constexpr PayloadType kType = PayloadType::kNonce;
  Bytes nonce;

  [[nodiscard]] PayloadType type() const noexcept { return kType; }
  [[nodiscard]] Verdict verify() const;
  void encode_body(wire::Writer& w) const;
  [[nodiscard]] static bool decode_body(wire::Reader& r, NoncePayload& out, Fault& f);
  friend bool operator==(const NoncePayload&, const NoncePayload&) = default;
};

}  // namespace esprit::ike
