// Encrypted Fragment payload SKF (RFC 7383 2.5): the body is opaque to the codec.
#include "esprit/control/ike/payloads/encrypted.hpp"

namespace esprit::ike {

Verdict EncryptedFragmentPayload::verify() const {
  if (fragment_number == 0 || total_fragments == 0 || fragment_number > total_fragments)
    return "fragment number 1..Total Fragments (RFC 7383 2.5)";
  if (fragment_number != 1 && inner_first != PayloadType::kNone)
    return "Next Payload is 0 in every fragment but the first (RFC 7383 2.5)";
  if (body.empty()) return "SKF payload without IV, ciphertext and checksum (RFC 7383 2.5)";
  return std::nullopt;
}

//                      1                   2                   3
//  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// | Next Payload  |C|  RESERVED   |         Payload Length        |
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// |        Fragment Number        |        Total Fragments        |
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// |                     Initialization Vector                     |
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// ~                      Encrypted content                        ~
// +               +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// |               |             Padding (0-255 octets)            |
// +-+-+-+-+-+-+-+-+                               +-+-+-+-+-+-+-+-+
// |                                               |  Pad Length   |
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// ~                    Integrity Checksum Data                    ~
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
void EncryptedFragmentPayload::encode_body(wire::Writer& w) const {
  w.u16(fragment_number);
  w.u16(total_fragments);
  w.bytes(body);
}

bool EncryptedFragmentPayload::decode_body(wire::Reader& r, EncryptedFragmentPayload& out, Fault& f) {
  const std::size_t at = r.offset();
  out.fragment_number = r.u16();
  out.total_fragments = r.u16();
  if (!r.ok()) return fail(f, ParseErrorCode::kTruncated, at, "SKF payload shorter than its 4 fixed bytes (RFC 7383 2.5)");
  out.body = r.vec(r.remaining());
  return true;
}

}  // namespace esprit::ike
