// Encrypted and Authenticated payload SK (RFC 7296 3.14): the body is opaque to the codec.
#include "esprit/control/ike/payloads/encrypted.hpp"

namespace esprit::ike {

Verdict EncryptedPayload::verify() const {
  if (body.empty()) return "SK payload without IV, ciphertext and checksum (RFC 7296 3.14)";
  return std::nullopt;
}

//                      1                   2                   3
//  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// | Next Payload  |C|  RESERVED   |         Payload Length        |
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// |                     Initialization Vector                     |
// |         (length is block size for encryption algorithm)       |
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// ~                    Encrypted IKE Payloads                     ~
// +               +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// |               |             Padding (0-255 octets)            |
// +-+-+-+-+-+-+-+-+                               +-+-+-+-+-+-+-+-+
// |                                               |  Pad Length   |
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// ~                    Integrity Checksum Data                    ~
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// Next Payload is the first inner payload's type: the message codec writes it.
void EncryptedPayload::encode_body(wire::Writer& w) const { w.bytes(body); }

bool EncryptedPayload::decode_body(wire::Reader& r, EncryptedPayload& out, Fault& /*f*/) {
  out.body = r.vec(r.remaining());
  return true;
}

}  // namespace esprit::ike
