// Certificate payload (RFC 7296 3.6).
#include "esprit/control/ike/payloads/cert.hpp"

namespace esprit::ike {

Verdict CertPayload::verify() const {
  if (encoding == 0) return "certificate encoding 0 is reserved (RFC 7296 3.6)";
  if (data.empty()) return "CERT payload without certificate data (RFC 7296 3.6)";
  return std::nullopt;
}

//                      1                   2                   3
//  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// | Next Payload  |C|  RESERVED   |         Payload Length        |
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// | Cert Encoding |                                               |
// +-+-+-+-+-+-+-+-+                                               |
// ~                       Certificate Data                        ~
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
void CertPayload::encode_body(wire::Writer& w) const {
  w.u8(encoding);
  w.bytes(data);
}

bool CertPayload::decode_body(wire::Reader& r, CertPayload& out, Fault& f) {
  const std::size_t at = r.offset();
  out.encoding = r.u8();
  if (!r.ok()) return fail(f, ParseErrorCode::kTruncated, at, "CERT payload without the encoding byte (RFC 7296 3.6)");
  out.data = r.vec(r.remaining());
  return true;
}

}  // namespace esprit::ike
