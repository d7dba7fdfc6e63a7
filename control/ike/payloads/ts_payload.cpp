// Traffic Selector payloads (RFC 7296 3.13).
#include <algorithm>
#include <array>
#include <stdexcept>

#include "esprit/control/ike/payloads/ts.hpp"

namespace esprit::ike {
namespace {

constexpr uint16_t kTsV4Length = 16;  // RFC 7296 3.13.1
constexpr uint16_t kTsV6Length = 40;

IpAddress read_address(wire::Reader& r, TsType t) {
  if (t == TsType::kIpv4AddrRange) return IpAddress::v4(r.u32());
  std::array<uint8_t, 16> b{};
  r.copy(b);
  return IpAddress::v6(b);
}

bool address_le(const IpAddress& a, const IpAddress& b) {
  return !std::lexicographical_compare(b.bytes(), b.bytes() + b.size(), a.bytes(), a.bytes() + a.size());
}

}  // namespace

Verdict TsPayload::verify() const {
  if (selectors.empty()) return "TS payload without traffic selectors (RFC 7296 3.13)";
  if (selectors.size() > 0xff) return "more than 255 traffic selectors (RFC 7296 3.13)";
  for (const auto& ts : selectors) {
    if (!ts.known()) continue;  // other TS types: opaque (the exchange ignores them)
    const IpFamily family = ts.ts_type == TsType::kIpv4AddrRange ? IpFamily::kV4 : IpFamily::kV6;
    if (ts.start.family() != family || ts.end.family() != family)
      return "traffic selector addresses of the TS type's family (RFC 7296 3.13.1)";
    if (ts.start_port > ts.end_port && !ts.opaque_ports())
      return "traffic selector start port above end port, other than OPAQUE 65535-0 (RFC 7296 3.13.1)";
    if (!address_le(ts.start, ts.end)) return "traffic selector starting address above ending address (RFC 7296 3.13.1)";
    if (!ts.other.empty()) return "IPv4/IPv6 traffic selector with extra bytes (RFC 7296 3.13.1)";
  }
  return std::nullopt;
}

//                      1                   2                   3
//  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// | Next Payload  |C|  RESERVED   |         Payload Length        |
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// | Number of TSs |                 RESERVED                      |
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// ~                       <Traffic Selectors>                     ~
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//
// Traffic Selector (RFC 7296 3.13.1):
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// |   TS Type     |IP Protocol ID*|       Selector Length         |
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// |           Start Port*         |           End Port*           |
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// ~                         Starting Address*                     ~
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// ~                         Ending Address*                       ~
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
void TsPayload::encode_body(wire::Writer& w) const {
  if (selectors.size() > 0xff) throw std::length_error("IKE TS payload with more than 255 selectors");
  w.u8(static_cast<uint8_t>(selectors.size()));
  w.zeros(3);
  for (const auto& ts : selectors) {
    const std::size_t start = w.offset();
    w.u8(static_cast<uint8_t>(ts.ts_type));
    w.u8(ts.ip_protocol);
    const std::size_t length_at = w.offset();
    w.u16(0);
    if (ts.known()) {
      w.u16(ts.start_port);
      w.u16(ts.end_port);
      w.bytes({ts.start.bytes(), ts.start.size()});
      w.bytes({ts.end.bytes(), ts.end.size()});
    }
    w.bytes(ts.other);
    w.patch_length16(length_at, start);
  }
}

bool TsPayload::decode_body(wire::Reader& r, TsPayload& out, Fault& f) {
  const std::size_t at = r.offset();
  const uint8_t count = r.u8();
  r.skip(3);
  if (!r.ok()) return fail(f, ParseErrorCode::kTruncated, at, "TS payload shorter than its 4 fixed bytes (RFC 7296 3.13)");
  for (unsigned i = 0; i < count; ++i) {
    const std::size_t ts_at = r.offset();
    TrafficSelector ts;
    ts.ts_type = static_cast<TsType>(r.u8());
    ts.ip_protocol = r.u8();
    const uint16_t length = r.u16();
    if (!r.ok()) return fail(f, ParseErrorCode::kTruncated, ts_at, "traffic selector header past the TS payload (RFC 7296 3.13.1)");
    if (length < 4) return fail(f, ParseErrorCode::kInvalidSyntax, ts_at + 2, "traffic selector length below 4 (RFC 7296 3.13.1)");
    wire::Reader body = r.sub(length - 4u);
    if (!r.ok()) return fail(f, ParseErrorCode::kTruncated, ts_at + 2, "traffic selector length past the TS payload (RFC 7296 3.13.1)");
    if (ts.known()) {
      if (length != (ts.ts_type == TsType::kIpv4AddrRange ? kTsV4Length : kTsV6Length))
        return fail(f, ParseErrorCode::kInvalidSyntax, ts_at + 2, "traffic selector length 16 (IPv4) or 40 (IPv6) (RFC 7296 3.13.1)");
      ts.start_port = body.u16();
      ts.end_port = body.u16();
      ts.start = read_address(body, ts.ts_type);
      ts.end = read_address(body, ts.ts_type);
    } else {
      ts.end_port = 0;
      ts.other = body.vec(body.remaining());
    }
    out.selectors.push_back(std::move(ts));
  }
  if (!r.empty())
    return fail(f, ParseErrorCode::kInvalidSyntax, r.offset(), "bytes after the last traffic selector (Number of TSs, RFC 7296 3.13)");
  return true;
}

}  // namespace esprit::ike
