// Delete payload (RFC 7296 3.11).
#include <stdexcept>

#include "esprit/control/ike/payloads/delete.hpp"

namespace esprit::ike {

Verdict DeletePayload::verify() const {
  switch (protocol) {
    case ProtocolId::kIke:
      if (spi_size != 0 || !spis.empty()) return "IKE SA delete has SPI Size 0 and no SPIs (RFC 7296 3.11)";
      break;
    case ProtocolId::kAh:
    case ProtocolId::kEsp:
      if (spi_size != 4) return "AH/ESP delete SPI Size 4 (RFC 7296 3.11)";
      if (spis.empty()) return "AH/ESP delete without SPIs (RFC 7296 3.11)";
      if (spis.size() > 0xffff) return "more than 65535 SPIs in a delete (RFC 7296 3.11)";
      break;
    default:
      return "delete protocol ID must be IKE, AH or ESP (RFC 7296 3.11)";
  }
  return std::nullopt;
}

//                      1                   2                   3
//  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// | Next Payload  |C|  RESERVED   |         Payload Length        |
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// | Protocol ID   |   SPI Size    |          Num of SPIs          |
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// ~               Security Parameter Index(es) (SPI)              ~
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
void DeletePayload::encode_body(wire::Writer& w) const {
  if (spis.size() > 0xffff) throw std::length_error("IKE delete with more than 65535 SPIs");
  w.u8(static_cast<uint8_t>(protocol));
  w.u8(spi_size);
  w.u16(static_cast<uint16_t>(spis.size()));
  for (uint32_t spi : spis) w.u32(spi);
}

bool DeletePayload::decode_body(wire::Reader& r, DeletePayload& out, Fault& f) {
  const std::size_t at = r.offset();
  out.protocol = static_cast<ProtocolId>(r.u8());
  out.spi_size = r.u8();
  const uint16_t count = r.u16();
  if (!r.ok()) return fail(f, ParseErrorCode::kTruncated, at, "Delete payload shorter than its 4 fixed bytes (RFC 7296 3.11)");
  if (static_cast<std::size_t>(count) * out.spi_size != r.remaining())
    return fail(f, ParseErrorCode::kInvalidSyntax, at + 2, "Num of SPIs times SPI Size differs from the payload length (RFC 7296 3.11)");
  if (out.spi_size == 0) {
    if (count != 0) return fail(f, ParseErrorCode::kInvalidSyntax, at + 2, "SPIs of size 0 (RFC 7296 3.11)");
    return true;
  }
  if (out.spi_size != 4) return fail(f, ParseErrorCode::kInvalidSyntax, at + 1, "delete SPI Size 0 (IKE) or 4 (AH/ESP) (RFC 7296 3.11)");
  out.spis.reserve(count);
  for (unsigned i = 0; i < count; ++i) out.spis.push_back(r.u32());
  return true;
}

}  // namespace esprit::ike
