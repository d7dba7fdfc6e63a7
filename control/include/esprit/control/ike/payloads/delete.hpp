// Delete payload (RFC 7296 3.11).
#pragma once

#include "esprit/control/ike/payloads/payload_codec.hpp"

namespace esprit::ike {

struct DeletePayload {
  static constexpr PayloadType kType = PayloadType::kDelete;
  ProtocolId protocol = ProtocolId::kEsp;
  /// SPI Size as sent: 0 for the IKE SA, 4 for AH/ESP. Kept so that a lying size is seen by
  /// verify() (and encodable by tests); the codec's encoder writes it as is.
  uint8_t spi_size = 4;
  std::vector<uint32_t> spis;  ///< AH/ESP SPIs (empty for IKE)

  /// A delete of the IKE SA, or of Child SAs with these SPIs (sizes set as the RFC says).
  [[nodiscard]] static DeletePayload ike_sa() { return {ProtocolId::kIke, 0, {}}; }
  [[nodiscard]] static DeletePayload child_sas(ProtocolId p, std::vector<uint32_t> spis) {
    return {p, 4, std::move(spis)};
  }
  [[nodiscard]] PayloadType type() const noexcept { return kType; }
  [[nodiscard]] Verdict verify() const;
  void encode_body(wire::Writer& w) const;
  [[nodiscard]] static bool decode_body(wire::Reader& r, DeletePayload& out, Fault& f);
  friend bool operator==(const DeletePayload&, const DeletePayload&) = default;
};

}  // namespace esprit::ike
