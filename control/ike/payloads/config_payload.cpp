// Configuration payload CP (RFC 7296 3.15).
#include <stdexcept>

#include "esprit/control/ike/payloads/config.hpp"

namespace esprit::ike {
namespace {

/// RFC 7296 3.15.1's table: is `len` a valid length for attribute `type`? (unknown types: any)
bool length_ok(uint16_t type, std::size_t len) {
  switch (static_cast<CfgAttr>(type)) {
    case CfgAttr::kInternalIp4Address:
    case CfgAttr::kInternalIp4Netmask:
    case CfgAttr::kInternalIp4Dns:
    case CfgAttr::kInternalIp4Nbns:
    case CfgAttr::kInternalIp4Dhcp:
      return len == 0 || len == 4;
    case CfgAttr::kInternalIp6Dns:
    case CfgAttr::kInternalIp6Dhcp:
      return len == 0 || len == 16;
    case CfgAttr::kInternalIp6Address:
    case CfgAttr::kInternalIp6Subnet:  // 17 in the table; 0 in a request
      return len == 0 || len == 17;
    case CfgAttr::kInternalIp4Subnet:
      return len == 0 || len == 8;
    case CfgAttr::kSupportedAttributes:
      return len % 2 == 0;
    case CfgAttr::kApplicationVersion:
      return true;
  }
  return true;
}

}  // namespace

Verdict ConfigPayload::verify() const {
  const auto t = static_cast<uint8_t>(cfg_type);
  if (t < 1 || t > 4) return "CFG Type must be REQUEST, REPLY, SET or ACK (RFC 7296 3.15)";
  for (const auto& a : attributes) {
    if (a.type > 0x7fff) return "configuration attribute type above 15 bits (RFC 7296 3.15.1)";
    if (a.value.size() > 0xffff) return "configuration attribute longer than 65535 bytes (RFC 7296 3.15.1)";
    if (!length_ok(a.type, a.value.size())) return "configuration attribute length not in RFC 7296 3.15.1's table";
  }
  return std::nullopt;
}

//                      1                   2                   3
//  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// | Next Payload  |C| RESERVED    |         Payload Length        |
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// |   CFG Type    |                    RESERVED                   |
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// ~                   Configuration Attributes                    ~
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//
// Configuration Attribute (RFC 7296 3.15.1):
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// |R|         Attribute Type      |            Length             |
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// |                                                               |
// ~                             Value                             ~
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
void ConfigPayload::encode_body(wire::Writer& w) const {
  w.u8(static_cast<uint8_t>(cfg_type));
  w.zeros(3);
  for (const auto& a : attributes) {
    if (a.value.size() > 0xffff) throw std::length_error("IKE configuration attribute too long");
    w.u16(a.type & 0x7fff);
    w.u16(static_cast<uint16_t>(a.value.size()));
    w.bytes(a.value);
  }
}

bool ConfigPayload::decode_body(wire::Reader& r, ConfigPayload& out, Fault& f) {
  const std::size_t at = r.offset();
  out.cfg_type = static_cast<CfgType>(r.u8());
  r.skip(3);
  if (!r.ok()) return fail(f, ParseErrorCode::kTruncated, at, "CP payload shorter than its 4 fixed bytes (RFC 7296 3.15)");
  while (!r.empty()) {
    const std::size_t attr_at = r.offset();
    CfgAttribute a;
    a.type = r.u16() & 0x7fff;  // R bit: ignored on receipt
    const uint16_t length = r.u16();
    if (!r.ok()) return fail(f, ParseErrorCode::kTruncated, attr_at, "configuration attribute header past the CP payload (RFC 7296 3.15.1)");
    a.value = r.vec(length);
    if (!r.ok()) return fail(f, ParseErrorCode::kTruncated, attr_at + 2, "configuration attribute length past the CP payload (RFC 7296 3.15.1)");
    out.attributes.push_back(std::move(a));
  }
  return true;
}

}  // namespace esprit::ike
