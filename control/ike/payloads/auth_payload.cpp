// Authentication payload (RFC 7296 3.8).
#include "esprit/control/ike/payloads/auth.hpp"

namespace esprit::ike {

Verdict AuthPayload::verify() const {
  if (static_cast<uint8_t>(method) == 0) return "authentication method 0 is reserved (RFC 7296 3.8)";
  if (data.empty()) return "AUTH payload without authentication data (RFC 7296 3.8)";
  return std::nullopt;
}

//                      1                   2                   3
//  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// | Next Payload  |C|  RESERVED   |         Payload Length        |
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// | Auth Method   |                RESERVED                       |
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// ~                      Authentication Data                      ~
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
void AuthPayload::encode_body(wire::Writer& w) const {
  w.u8(static_cast<uint8_t>(method));
  w.zeros(3);
  w.bytes(data);
}

bool AuthPayload::decode_body(wire::Reader& r, AuthPayload& out, Fault& f) {
  const std::size_t at = r.offset();
  out.method = static_cast<AuthMethod>(r.u8());
  r.skip(3);
  if (!r.ok()) return fail(f, ParseErrorCode::kTruncated, at, "AUTH payload shorter than its 4 fixed bytes (RFC 7296 3.8)");
  out.data = r.vec(r.remaining());
  return true;
}

}  // namespace esprit::ike
