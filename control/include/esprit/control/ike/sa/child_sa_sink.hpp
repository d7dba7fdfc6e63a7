// Where an IKE SA puts the Child SAs it negotiates. The daemon implements it over the SAD/SPD; the
// tests record the calls. Calls come in make-before-break order on a rekey: the new inbound SA,
// then the new outbound SA (which replaces the old outbound for the same selectors; the rekey's
// responder makes this call only once the peer has the new Child SA, docs/ike.md "Child SA
// rekey"), and the old inbound SA is removed only when the old Child SA is deleted.
#pragma once

#include <cstdint>
#include <vector>

#include "esprit/common/sa_descriptor.hpp"
#include "esprit/control/ike/payloads/ts.hpp"

namespace esprit::ike {

struct ChildSelectors {
  std::vector<TrafficSelector> local;   ///< our side (narrowed)
  std::vector<TrafficSelector> remote;  ///< the peer's side (narrowed)
};

class ChildSaSink {
 public:
  virtual ~ChildSaSink() = default;
  virtual void install_inbound(const SaDescriptor& sa, const ChildSelectors& ts) = 0;
  /// Replaces any outbound SA for the same selectors (`replaces_spi`, 0 if none).
  virtual void install_outbound(const SaDescriptor& sa, const ChildSelectors& ts, uint32_t replaces_spi) = 0;
  virtual void remove(uint32_t spi, SaDirection direction) = 0;
  /// remove() of an outbound SA, with its descriptor: outbound SPIs are chosen by the peers, so two
  /// road warriors (behind one NAT) may well use the same one; the peer's address and NAT-T port
  /// tell them apart.
  virtual void remove_outbound(uint32_t spi, const SaDescriptor& /*sa*/) { remove(spi, SaDirection::kOutbound); }
  /// Whether an inbound SA with this SPI is installed already: an IKE SA draws its inbound SPIs
  /// again until this says no (with thousands of Child SAs on one local address a random 32-bit SPI
  /// collides now and then, and the SAD would refuse the second one).
  [[nodiscard]] virtual bool inbound_spi_in_use(uint32_t /*spi*/) const noexcept { return false; }
};

}  // namespace esprit::ike
