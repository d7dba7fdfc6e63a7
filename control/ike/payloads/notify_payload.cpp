// Notify payload (RFC 7296 3.10).
#include <stdexcept>

#include "esprit/control/ike/payloads/notify.hpp"

namespace esprit::ike {

Verdict NotifyPayload::verify() const {
  // RFC 7296 3.10: SPI Size is 0 for the IKE SA (and when no SPI applies), the SPI's size for
  // AH/ESP Child SAs.
  if (!spi.empty()) {
    if (protocol != ProtocolId::kAh && protocol != ProtocolId::kEsp)
      return "notify SPI only for AH/ESP; SPI Size 0 for the IKE SA (RFC 7296 3.10)";
    if (spi.size() != 4) return "AH/ESP notify SPI size 4 (RFC 7296 3.10)";
  }
  switch (notify_type) {
    case NotifyType::kUnsupportedCriticalPayload:
      if (data.size() != 1) return "UNSUPPORTED_CRITICAL_PAYLOAD data is the 1-byte payload type (RFC 7296 3.10.1)";
      break;
    case NotifyType::kInvalidKePayload:
      if (data.size() != 2) return "INVALID_KE_PAYLOAD data is the 2-byte DH group (RFC 7296 3.10.1)";
      break;
    case NotifyType::kNatDetectionSourceIp:
    case NotifyType::kNatDetectionDestinationIp:
      if (data.size() != 20) return "NAT_DETECTION_* data is a 20-byte SHA-1 hash (RFC 7296 2.23)";
      break;
    case NotifyType::kCookie:
      if (data.empty() || data.size() > 64) return "COOKIE data 1..64 bytes (RFC 7296 2.6)";
      break;
    case NotifyType::kSetWindowSize:
      if (data.size() != 4) return "SET_WINDOW_SIZE data is a 4-byte window size (RFC 7296 3.10.1)";
      break;
    case NotifyType::kRekeySa:
      if (spi.size() != 4) return "REKEY_SA carries the AH/ESP SPI being rekeyed (RFC 7296 1.3.3)";
      break;
    case NotifyType::kIkev2FragmentationSupported:
      if (!data.empty()) return "IKEV2_FRAGMENTATION_SUPPORTED has no data (RFC 7383 2.3)";
      break;
    default:
      break;
  }
  return std::nullopt;
}

//                      1                   2                   3
//  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// | Next Payload  |C|  RESERVED   |         Payload Length        |
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// |  Protocol ID  |   SPI Size    |      Notify Message Type      |
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// ~                Security Parameter Index (SPI)                 ~
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// ~                       Notification Data                       ~
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
void NotifyPayload::encode_body(wire::Writer& w) const {
  if (spi.size() > 0xff) throw std::length_error("IKE notify SPI too long");
  // "If the SPI field is empty, this field MUST be sent as zero" (RFC 7296 3.10).
  w.u8(spi.empty() ? 0 : static_cast<uint8_t>(protocol));
  w.u8(static_cast<uint8_t>(spi.size()));
  w.u16(static_cast<uint16_t>(notify_type));
  w.bytes(spi);
  w.bytes(data);
}

bool NotifyPayload::decode_body(wire::Reader& r, NotifyPayload& out, Fault& f) {
  const std::size_t at = r.offset();
  const uint8_t protocol = r.u8();
  const uint8_t spi_size = r.u8();
  out.notify_type = static_cast<NotifyType>(r.u16());
  if (!r.ok()) return fail(f, ParseErrorCode::kTruncated, at, "Notify payload shorter than its 4 fixed bytes (RFC 7296 3.10)");
  out.spi = r.vec(spi_size);
  if (!r.ok()) return fail(f, ParseErrorCode::kTruncated, at + 1, "notify SPI Size past the payload (RFC 7296 3.10)");
  // "... and MUST be ignored on receipt" when the SPI is empty.
  out.protocol = spi_size == 0 ? ProtocolId::kNone : static_cast<ProtocolId>(protocol);
  out.data = r.vec(r.remaining());
  return true;
}

}  // namespace esprit::ike
