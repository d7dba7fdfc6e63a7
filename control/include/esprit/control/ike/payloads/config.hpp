// Configuration payload CP (RFC 7296 3.15).
#pragma once

#include "esprit/control/ike/payloads/payload_codec.hpp"

namespace esprit::ike {

/// RFC 7296 3.15.1; the reserved top bit is not kept (sent as zero, ignored on receipt).
struct CfgAttribute {
  uint16_t type = 0;  ///< 15 bits, CfgAttr values
  Bytes value;
  friend bool operator==(const CfgAttribute&, const CfgAttribute&) = default;
};

struct ConfigPayload {
  static constexpr PayloadType kType = PayloadType::kConfig;
  CfgType cfg_type = CfgType::kRequest;
  std::vector<CfgAttribute> attributes;

  [[nodiscard]] PayloadType type() const noexcept { return kType; }
  [[nodiscard]] Verdict verify() const;
  void encode_body(wire::Writer& w) const;
  [[nodiscard]] static bool decode_body(wire::Reader& r, ConfigPayload& out, Fault& f);
  friend bool operator==(const ConfigPayload&, const ConfigPayload&) = default;
};

}  // namespace esprit::ike
