// Certificate Request payload (RFC 7296 3.7).
#include "esprit/control/ike/payloads/cert.hpp"

namespace esprit::ike {

Verdict CertReqPayload::verify() const {
  if (encoding == 0) return "certificate encoding 0 is reserved (RFC 7296 3.7)";
  // RFC 7296 3.7: for X.509 certificates, a list of 20-byte SHA-1 hashes of CA public keys.
  if (encoding == kCertX509Signature && authorities.size() % 20 != 0)
    return "X.509 CERTREQ authority is a list of 20-byte SHA-1 hashes (RFC 7296 3.7)";
  return std::nullopt;
}

//                      1                   2                   3
//  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// | Next Payload  |C|  RESERVED   |         Payload Length        |
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// | Cert Encoding |                                               |
// +-+-+-+-+-+-+-+-+                                               |
// ~                    Certification Authority                    ~
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
void CertReqPayload::encode_body(wire::Writer& w) const {
  w.u8(encoding);
  w.bytes(authorities);
}

bool CertReqPayload::decode_body(wire::Reader& r, CertReqPayload& out, Fault& f) {
  const std::size_t at = r.offset();
  out.encoding = r.u8();
  if (!r.ok()) return fail(f, ParseErrorCode::kTruncated, at, "CERTREQ payload without the encoding byte (RFC 7296 3.7)");
  out.authorities = r.vec(r.remaining());
  return true;
}

}  // namespace esprit::ike
