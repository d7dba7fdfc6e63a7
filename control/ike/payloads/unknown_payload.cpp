// Payloads of unknown type (RFC 7296 2.5, 3.2): kept opaque.
#include "esprit/control/ike/payloads/unknown.hpp"

namespace esprit::ike {

Verdict UnknownPayload::verify() const {
  if (critical) return "unknown payload type with the critical bit set (RFC 7296 2.5)";
  return std::nullopt;
}

void UnknownPayload::encode_body(wire::Writer& w) const { w.bytes(body); }

bool UnknownPayload::decode_body(wire::Reader& r, UnknownPayload& out, Fault& /*f*/) {
  out.body = r.vec(r.remaining());
  return true;
}

}  // namespace esprit::ike
