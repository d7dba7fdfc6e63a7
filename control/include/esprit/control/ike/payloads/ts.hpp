// Traffic Selector payloads TSi and TSr (RFC 7296 3.13).
#pragma once

#include "esprit/common/ip_address.hpp"
#include "esprit/control/ike/payloads/payload_codec.hpp"

namespace esprit::ike {

/// RFC 7296 3.13.1. For TS_IPV4_ADDR_RANGE / TS_IPV6_ADDR_RANGE the addresses are of that family;
/// a selector of another type (RFC 4595, RFC 9478, ...) keeps its body opaque in `other`.
struct TrafficSelector {
  TsType ts_type = TsType::kIpv4AddrRange;
  uint8_t ip_protocol = 0;  ///< 0 = any
  uint16_t start_port = 0;
  uint16_t end_port = 0xffff;
  IpAddress start;
  IpAddress end;
  Bytes other;  ///< body after the length field, for unknown TS types only

  [[nodiscard]] bool known() const noexcept {
    return ts_type == TsType::kIpv4AddrRange || ts_type == TsType::kIpv6AddrRange;
  }
  /// OPAQUE ports: start 65535, end 0 (RFC 7296 3.13.1).
  [[nodiscard]] bool opaque_ports() const noexcept { return start_port == 0xffff && end_port == 0; }
  friend bool operator==(const TrafficSelector&, const TrafficSelector&) = default;
};

struct TsPayload {
  bool initiator = true;  ///< TSi (44) or TSr (45)
  std::vector<TrafficSelector> selectors;

  [[nodiscard]] PayloadType type() const noexcept { return initiator ? PayloadType::kTsi : PayloadType::kTsr; }
  [[nodiscard]] Verdict verify() const;
  void encode_body(wire::Writer& w) const;
  [[nodiscard]] static bool decode_body(wire::Reader& r, TsPayload& out, Fault& f);
  friend bool operator==(const TsPayload&, const TsPayload&) = default;
};

}  // namespace esprit::ike
