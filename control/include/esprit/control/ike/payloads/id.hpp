// Identification payloads IDi and IDr (RFC 7296 3.5).
#pragma once

#include "esprit/control/ike/payloads/payload_codec.hpp"

namespace esprit::ike {

struct IdPayload {
  bool initiator = true;  ///< IDi (35) or IDr (36)
  IdType id_type = IdType::kFqdn;
  Bytes data;  ///< 4 bytes (IPv4), 16 (IPv6), text (FQDN, RFC822), DER, or opaque (KEY_ID)

  [[nodiscard]] PayloadType type() const noexcept { return initiator ? PayloadType::kIdi : PayloadType::kIdr; }
  [[nodiscard]] Verdict verify() const;
  void encode_body(wire::Writer& w) const;
  [[nodiscard]] static bool decode_body(wire::Reader& r, IdPayload& out, Fault& f);
  friend bool operator==(const IdPayload&, const IdPayload&) = default;
};

}  // namespace esprit::ike
