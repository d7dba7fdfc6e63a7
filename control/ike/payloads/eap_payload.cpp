// EAP payload (RFC 7296 3.16), kept opaque: Esprit does not support EAP authentication.
#include "esprit/control/ike/payloads/eap.hpp"

namespace esprit::ike {

Verdict EapPayload::verify() const {
  // RFC 3748 4: Code (1), Identifier (1), Length (2) covering the whole EAP message.
  if (message.size() < 4) return "EAP message shorter than its 4-byte header (RFC 3748 4)";
  if ((static_cast<std::size_t>(message[2]) << 8 | message[3]) != message.size())
    return "EAP Length differs from the EAP payload's (RFC 7296 3.16, RFC 3748 4)";
  return std::nullopt;
}

//                      1                   2                   3
//  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// | Next Payload  |C|  RESERVED   |         Payload Length        |
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// ~                       EAP Message                             ~
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
void EapPayload::encode_body(wire::Writer& w) const { w.bytes(message); }

bool EapPayload::decode_body(wire::Reader& r, EapPayload& out, Fault& /*f*/) {
  out.message = r.vec(r.remaining());
  return true;
}

}  // namespace esprit::ike
