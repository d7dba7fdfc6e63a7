// Vendor ID payload (RFC 7296 3.12).
#include "esprit/control/ike/payloads/vendor.hpp"

namespace esprit::ike {

Verdict VendorPayload::verify() const {
  if (vendor_id.empty()) return "empty Vendor ID (RFC 7296 3.12)";
  return std::nullopt;
}

//                      1                   2                   3
//  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// | Next Payload  |C|  RESERVED   |         Payload Length        |
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// ~                        Vendor ID (VID)                        ~
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
void VendorPayload::encode_body(wire::Writer& w) const { w.bytes(vendor_id); }

bool VendorPayload::decode_body(wire::Reader& r, VendorPayload& out, Fault& /*f*/) {
  out.vendor_id = r.vec(r.remaining());
  return true;
}

}  // namespace esprit::ike
