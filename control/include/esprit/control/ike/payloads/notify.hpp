// Notify payload (RFC 7296 3.10).
#pragma once

#include "esprit/control/ike/payloads/payload_codec.hpp"

namespace esprit::ike {

struct NotifyPayload {
  static constexpr PayloadType kType = PayloadType::kNotify;
  ProtocolId protocol = ProtocolId::kNone;  ///< 0 when there is no SPI
  NotifyType notify_type = NotifyType::kInitialContact;
  Bytes spi;   ///< empty (IKE SA or none) or 4 bytes (AH/ESP Child SA)
  Bytes data;  ///< notification data

  [[nodiscard]] bool is_error() const noexcept {
    return static_cast<uint16_t>(notify_type) < kFirstStatusNotify;
  }
  [[nodiscard]] PayloadType type() const noexcept { return kType; }
  [[nodiscard]] Verdict verify() const;
  void encode_body(wire::Writer& w) const;
  [[nodiscard]] static bool decode_body(wire::Reader& r, NotifyPayload& out, Fault& f);
  friend bool operator==(const NotifyPayload&, const NotifyPayload&) = default;
};

}  // namespace esprit::ike
