#include "esprit/common/policy.hpp"

namespace esprit {

std::string_view to_string(PolicyAction a) noexcept {
  switch (a) {
    case PolicyAction::kProtect: return "protect";
    case PolicyAction::kBypass: return "bypass";
    case PolicyAction::kDiscard: return "discard";
  }
  return "?";
}

std::string_view to_string(PolicyDirection d) noexcept {
  return d == PolicyDirection::kOutbound ? "outbound" : "inbound";
}

}  // namespace esprit
