// Security Association payload (RFC 7296 3.3).
#include <stdexcept>

#include "esprit/control/ike/payloads/sa.hpp"

namespace esprit::ike {
namespace {

constexpr uint8_t kMoreProposals = 2;   // RFC 7296 3.3.1 "Last Substruc"
constexpr uint8_t kMoreTransforms = 3;  // RFC 7296 3.3.2 "Last Substruc"
constexpr uint16_t kAttrFormatTv = 0x8000;

uint8_t checked_u8(std::size_t n, const char* what) {
  if (n > 0xff) throw std::length_error(what);
  return static_cast<uint8_t>(n);
}

// Data Attributes (RFC 7296 3.3.5):
//                      1                   2                   3
//  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// |A|       Attribute Type        |    AF=0  Attribute Length     |
// |F|                             |    AF=1  Attribute Value      |
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// |                   AF=0  Attribute Value                       |
// |                   AF=1  Not Transmitted                       |
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
void encode_attribute(wire::Writer& w, const TransformAttribute& a) {
  const uint16_t type = a.type & 0x7fff;
  if (a.tv) {
    w.u16(kAttrFormatTv | type);
    w.u16(a.value);
  } else {
    if (a.data.size() > 0xffff) throw std::length_error("IKE transform attribute too long");
    w.u16(type);
    w.u16(static_cast<uint16_t>(a.data.size()));
    w.bytes(a.data);
  }
}

bool decode_attribute(wire::Reader& r, TransformAttribute& a, Fault& f) {
  const std::size_t at = r.offset();
  const uint16_t type = r.u16();
  const uint16_t value = r.u16();
  if (!r.ok()) return fail(f, ParseErrorCode::kTruncated, at, "transform attribute header past the transform (RFC 7296 3.3.5)");
  a.type = type & 0x7fff;
  a.tv = (type & kAttrFormatTv) != 0;
  if (a.tv) {
    a.value = value;
    return true;
  }
  a.data = r.vec(value);
  if (!r.ok()) return fail(f, ParseErrorCode::kTruncated, at + 2, "transform attribute length past the transform (RFC 7296 3.3.5)");
  return true;
}

// Transform Substructure (RFC 7296 3.3.2):
//                      1                   2                   3
//  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// | Last Substruc |   RESERVED    |        Transform Length       |
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// |Transform Type |   RESERVED    |          Transform ID         |
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// ~                      Transform Attributes                     ~
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
void encode_transform(wire::Writer& w, const Transform& t, bool last) {
  const std::size_t start = w.offset();
  w.u8(last ? 0 : kMoreTransforms);
  w.u8(0);
  const std::size_t length_at = w.offset();
  w.u16(0);
  w.u8(static_cast<uint8_t>(t.type));
  w.u8(0);
  w.u16(t.id);
  for (const auto& a : t.attributes) encode_attribute(w, a);
  w.patch_length16(length_at, start);
}

bool decode_transform(wire::Reader& r, Transform& t, bool& last, Fault& f) {
  const std::size_t at = r.offset();
  const uint8_t more = r.u8();
  r.u8();
  const uint16_t length = r.u16();
  if (!r.ok()) return fail(f, ParseErrorCode::kTruncated, at, "transform header past the proposal (RFC 7296 3.3.2)");
  if (more != 0 && more != kMoreTransforms)
    return fail(f, ParseErrorCode::kInvalidSyntax, at, "transform Last Substruc must be 0 or 3 (RFC 7296 3.3.2)");
  last = more == 0;
  if (length < 8) return fail(f, ParseErrorCode::kInvalidSyntax, at + 2, "transform length below 8 (RFC 7296 3.3.2)");
  wire::Reader body = r.sub(length - 4u);
  if (!r.ok()) return fail(f, ParseErrorCode::kTruncated, at + 2, "transform length past the proposal (RFC 7296 3.3.2)");
  t.type = static_cast<TransformType>(body.u8());
  body.u8();
  t.id = body.u16();
  while (body.ok() && !body.empty()) {
    // Each attribute takes at least 4 bytes of a body below 64 KiB: bounded.
    TransformAttribute a;
    if (!decode_attribute(body, a, f)) return false;
    t.attributes.push_back(std::move(a));
  }
  return true;
}

}  // namespace

std::optional<uint16_t> Transform::key_length() const noexcept {
  for (const auto& a : attributes)
    if (a.type == kAttrKeyLength && a.tv) return a.value;
  return std::nullopt;
}

Verdict SaPayload::verify() const {
  if (proposals.empty()) return "SA payload without proposals (RFC 7296 3.3)";
  for (std::size_t i = 0; i < proposals.size(); ++i) {
    const Proposal& p = proposals[i];
    if (proposals.size() > 1 ? p.number != i + 1 : p.number == 0)
      return "proposal numbers start at 1 and grow by one (RFC 7296 3.3.1)";
    switch (p.protocol) {
      case ProtocolId::kIke:
        if (!p.spi.empty() && p.spi.size() != 8) return "IKE proposal SPI size 0 or 8 (RFC 7296 3.3.1)";
        break;
      case ProtocolId::kAh:
      case ProtocolId::kEsp:
        if (p.spi.size() != 4) return "AH/ESP proposal SPI size 4 (RFC 7296 3.3.1)";
        break;
      default:
        return "proposal protocol ID must be IKE, AH or ESP (RFC 7296 3.3.1)";
    }
    if (p.transforms.empty()) return "proposal without transforms (RFC 7296 3.3.1)";
    if (p.transforms.size() > 0xff) return "more than 255 transforms in a proposal (RFC 7296 3.3.1)";
    for (const auto& t : p.transforms) {
      for (const auto& a : t.attributes) {
        if (a.type > 0x7fff) return "transform attribute type above 15 bits (RFC 7296 3.3.5)";
        if (a.type == kAttrKeyLength && !a.tv) return "KEY_LENGTH attribute must use the TV format (RFC 7296 3.3.5)";
        if (a.tv && !a.data.empty()) return "TV attribute carries no variable data (RFC 7296 3.3.5)";
      }
    }
  }
  return std::nullopt;
}

// Security Association payload (RFC 7296 3.3), body after the generic header:
// ~                          <Proposals>                          ~
//
// Proposal Substructure (RFC 7296 3.3.1):
//                      1                   2                   3
//  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// | Last Substruc |   RESERVED    |         Proposal Length       |
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// | Proposal Num  |  Protocol ID  |    SPI Size   |Num  Transforms|
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// ~                        SPI (variable)                         ~
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// ~                        <Transforms>                           ~
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
void SaPayload::encode_body(wire::Writer& w) const {
  for (std::size_t i = 0; i < proposals.size(); ++i) {
    const Proposal& p = proposals[i];
    const std::size_t start = w.offset();
    w.u8(i + 1 == proposals.size() ? 0 : kMoreProposals);
    w.u8(0);
    const std::size_t length_at = w.offset();
    w.u16(0);
    w.u8(p.number);
    w.u8(static_cast<uint8_t>(p.protocol));
    w.u8(checked_u8(p.spi.size(), "IKE proposal SPI too long"));
    w.u8(checked_u8(p.transforms.size(), "IKE proposal with more than 255 transforms"));
    w.bytes(p.spi);
    for (std::size_t j = 0; j < p.transforms.size(); ++j)
      encode_transform(w, p.transforms[j], j + 1 == p.transforms.size());
    w.patch_length16(length_at, start);
  }
}

bool SaPayload::decode_body(wire::Reader& r, SaPayload& out, Fault& f) {
  while (!r.empty()) {
    const std::size_t at = r.offset();
    const uint8_t more = r.u8();
    r.u8();
    const uint16_t length = r.u16();
    if (!r.ok()) return fail(f, ParseErrorCode::kTruncated, at, "proposal header past the SA payload (RFC 7296 3.3.1)");
    if (more != 0 && more != kMoreProposals)
      return fail(f, ParseErrorCode::kInvalidSyntax, at, "proposal Last Substruc must be 0 or 2 (RFC 7296 3.3.1)");
    if (length < 8) return fail(f, ParseErrorCode::kInvalidSyntax, at + 2, "proposal length below 8 (RFC 7296 3.3.1)");
    wire::Reader body = r.sub(length - 4u);
    if (!r.ok()) return fail(f, ParseErrorCode::kTruncated, at + 2, "proposal length past the SA payload (RFC 7296 3.3.1)");
    Proposal p;
    p.number = body.u8();
    p.protocol = static_cast<ProtocolId>(body.u8());
    const uint8_t spi_size = body.u8();
    const uint8_t count = body.u8();
    p.spi = body.vec(spi_size);
    if (!body.ok()) return fail(f, ParseErrorCode::kTruncated, at + 6, "proposal SPI size past the proposal (RFC 7296 3.3.1)");
    bool last = false;
    for (unsigned i = 0; i < count; ++i) {
      if (body.empty())
        return fail(f, ParseErrorCode::kInvalidSyntax, body.offset(), "fewer transforms than Num Transforms (RFC 7296 3.3.1)");
      Transform t;
      if (!decode_transform(body, t, last, f)) return false;
      p.transforms.push_back(std::move(t));
      if (last != (i + 1 == count))
        return fail(f, ParseErrorCode::kInvalidSyntax, body.offset(), "transform Last Substruc disagrees with Num Transforms (RFC 7296 3.3.2)");
    }
    if (!body.empty())
      return fail(f, ParseErrorCode::kInvalidSyntax, body.offset(), "bytes after the transforms of a proposal (RFC 7296 3.3.1)");
    if ((more == 0) != r.empty())
      return fail(f, ParseErrorCode::kInvalidSyntax, at, "proposal Last Substruc disagrees with the SA payload length (RFC 7296 3.3.1)");
    out.proposals.push_back(std::move(p));
  }
  return true;
}

}  // namespace esprit::ike
