// Vendor ID payload (RFC 7296 3.12).
#pragma once

#include "esprit/control/ike/payloads/payload_codec.hpp"

namespace esprit::ike {

struct VendorPayload {
  static constexpr PayloadType kType = PayloadType::kVendor;
  Bytes vendor_id;

  [[nodiscard]] PayloadType type() const noexcept { return kType; }
  [[nodiscard]] Verdict verify() const;
  void encode_body(wire::Writer& w) const;
  [[nodiscard]] static bool decode_body(wire::Reader& r, VendorPayload& out, Fault& f);
  friend bool operator==(const VendorPayload&, const VendorPayload&) = default;
};

}  // namespace esprit::ike
