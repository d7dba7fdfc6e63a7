// Nonce payload (RFC 7296 3.9).
#include "esprit/control/ike/payloads/nonce.hpp"

namespace esprit::ike {

Verdict NoncePayload::verify() const {
  if (nonce.size() < kNonceMin || nonce.size() > kNonceMax) return "nonce length 16..256 bytes (RFC 7296 3.9)";
  return std::nullopt;
}

//                      1                   2                   3
//  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// | Next Payload  |C|  RESERVED   |         Payload Length        |
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// ~                            Nonce Data                         ~
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
void NoncePayload::encode_body(wire::Writer& w) const { w.bytes(nonce); }

bool NoncePayload::decode_body(wire::Reader& r, NoncePayload& out, Fault& /*f*/) {
  out.nonce = r.vec(r.remaining());
  return true;
}

}  // namespace esprit::ike
