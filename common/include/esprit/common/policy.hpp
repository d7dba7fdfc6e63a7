// Security policy rules (RFC 4301 4.4.1): the SPD's entries as the control plane hands them to the
// fast path. Rules are ordered: the first match wins.
#pragma once

#include <cstdint>
#include <string>

#include "esprit/common/ip_prefix.hpp"

namespace esprit {

enum class PolicyAction : uint8_t { kProtect, kBypass, kDiscard };
enum class PolicyDirection : uint8_t { kOutbound, kInbound };

struct PortRange {
  uint16_t lo = 0;
  uint16_t hi = 65535;
  [[nodiscard]] bool any() const noexcept { return lo == 0 && hi == 65535; }
  [[nodiscard]] bool contains(uint16_t p) const noexcept { return p >= lo && p <= hi; }
  friend bool operator==(const PortRange&, const PortRange&) = default;
};

/// The selector part of a rule: what traffic it matches. For inbound rules src/dst are the
/// packet's (inner, after decapsulation) source and destination, as for outbound.
struct TrafficSelector {
  IpPrefix src;
  IpPrefix dst;
  uint8_t proto = 0;  ///< 0 = any
  PortRange sport;    ///< only for TCP, UDP, SCTP (other protocols with ports are refused)
  PortRange dport;
  [[nodiscard]] IpFamily family() const noexcept { return src.family(); }
};

struct PolicyRule {
  std::string name;  ///< from the configuration, for counters and show commands
  PolicyDirection direction = PolicyDirection::kOutbound;
  TrafficSelector selector;
  PolicyAction action = PolicyAction::kDiscard;
  uint32_t sa_index = 0;  ///< kProtect: the SAD slot of the outbound SA (inbound: unused)
};

[[nodiscard]] std::string_view to_string(PolicyAction a) noexcept;
[[nodiscard]] std::string_view to_string(PolicyDirection d) noexcept;

}  // namespace esprit
