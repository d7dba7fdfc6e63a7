// Key Exchange payload (RFC 7296 3.4).
#include "esprit/control/ike/payloads/ke.hpp"

namespace esprit::ike {

Verdict KePayload::verify() const {
  if (dh_group == 0) return "KE payload with Diffie-Hellman group 0 (RFC 7296 3.4)";
  if (data.empty()) return "KE payload without key exchange data (RFC 7296 3.4)";
  return std::nullopt;
}

//                      1                   2                   3
//  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// | Next Payload  |C|  RESERVED   |         Payload Length        |
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// |   Diffie-Hellman Group Num    |           RESERVED            |
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// ~                       Key Exchange Data                       ~
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
void KePayload::encode_body(wire::Writer& w) const {
  w.u16(dh_group);
  w.u16(0);
  w.bytes(data);
}

bool KePayload::decode_body(wire::Reader& r, KePayload& out, Fault& f) {
  const std::size_t at = r.offset();
  out.dh_group = r.u16();
  r.u16();
  if (!r.ok()) return fail(f, ParseErrorCode::kTruncated, at, "KE payload shorter than its 4 fixed bytes (RFC 7296 3.4)");
  out.data = r.vec(r.remaining());
  return true;
}

}  // namespace esprit::ike
