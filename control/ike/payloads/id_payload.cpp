// Identification payloads (RFC 7296 3.5).
#include "esprit/control/ike/payloads/id.hpp"

namespace esprit::ike {

Verdict IdPayload::verify() const {
  switch (id_type) {
    case IdType::kIpv4Addr:
      if (data.size() != 4) return "ID_IPV4_ADDR is 4 bytes (RFC 7296 3.5)";
      break;
    case IdType::kIpv6Addr:
      if (data.size() != 16) return "ID_IPV6_ADDR is 16 bytes (RFC 7296 3.5)";
      break;
    default:
      if (static_cast<uint8_t>(id_type) == 0) return "ID type 0 is reserved (RFC 7296 3.5)";
      if (data.empty()) return "empty identification data (RFC 7296 3.5)";
      break;
  }
  return std::nullopt;
}

//                      1                   2                   3
//  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// | Next Payload  |C|  RESERVED   |         Payload Length        |
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// |   ID Type     |                 RESERVED                      |
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// ~                   Identification Data                         ~
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
void IdPayload::encode_body(wire::Writer& w) const {
  w.u8(static_cast<uint8_t>(id_type));
  w.zeros(3);
  w.bytes(data);
}

bool IdPayload::decode_body(wire::Reader& r, IdPayload& out, Fault& f) {
  const std::size_t at = r.offset();
  out.id_type = static_cast<IdType>(r.u8());
  r.skip(3);
  if (!r.ok()) return fail(f, ParseErrorCode::kTruncated, at, "ID payload shorter than its 4 fixed bytes (RFC 7296 3.5)");
  out.data = r.vec(r.remaining());
  return true;
}

}  // namespace esprit::ike
