// Where an IKE SA puts the Child SAs it negotiates. The daemon implements it over the SAD/SPD; the
// tests record the calls. Calls come in make-before-break order on a rekey: the new inbound SA,
// then the new outbound SA (which replaces the old outbound for the same selectors), and the old
// inbound SA is removed only when the old Child SA is deleted.
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
};

}  // namespace esprit::ike
