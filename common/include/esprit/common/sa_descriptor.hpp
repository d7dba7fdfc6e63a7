// The SA descriptor: everything the control plane (IKE or static configuration) hands to the fast
// path to create one ESP SA. Plain data; validate() says what is wrong with it.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "esprit/common/algorithms.hpp"
#include "esprit/common/ip_address.hpp"
#include "esprit/common/secret.hpp"

namespace esprit {

enum class SaDirection : uint8_t { kInbound, kOutbound };
enum class SaMode : uint8_t { kTunnel, kTransport };

/// Which inner families a tunnel-mode SA carries (v4-in-v4, v6-in-v6, v4-in-v6, v6-in-v4).
enum class InnerFamily : uint8_t { kAny, kV4, kV6 };

/// Outer DSCP on encapsulation: copied from the inner header, or a fixed value.
enum class DscpMode : uint8_t { kCopy, kSet };

/// Outer IPv4 DF bit on encapsulation.
enum class DfMode : uint8_t { kCopy, kSet, kClear };

struct NatTraversal {
  uint16_t local_port = 4500;   ///< our UDP port (source on outbound)
  uint16_t remote_port = 4500;  ///< the peer's UDP port, possibly NAT-mapped
};

/// Lifetime limit; 0 means unlimited.
struct LifetimeLimit {
  uint64_t packets = 0;
  uint64_t bytes = 0;
};

inline constexpr uint32_t kMinReplayWindow = 32;
inline constexpr uint32_t kMaxReplayWindow = 8192;
inline constexpr uint32_t kDefaultReplayWindow = 64;

struct SaDescriptor {
  uint32_t spi = 0;
  SaDirection direction = SaDirection::kOutbound;
  SaMode mode = SaMode::kTunnel;
  /// Outer addresses. Outbound: source = local, destination = remote. Inbound: the reverse.
  /// In transport mode they identify the SA only: the packet's own addresses are kept.
  IpAddress local;
  IpAddress remote;
  InnerFamily inner_family = InnerFamily::kAny;

  EncrAlg encr = EncrAlg::kAesGcm16_128;
  SecretBytes encr_key;  ///< cipher key followed by the salt for GCM / ChaCha20-Poly1305
  IntegAlg integ = IntegAlg::kNone;
  SecretBytes integ_key;

  bool esn = false;
  bool anti_replay = true;
  uint32_t replay_window = kDefaultReplayWindow;  ///< packets, kMinReplayWindow..kMaxReplayWindow

  std::optional<NatTraversal> natt;  ///< UDP encapsulation (RFC 3948) when set

  DscpMode dscp_mode = DscpMode::kCopy;
  uint8_t dscp = 0;          ///< used with DscpMode::kSet
  bool ecn = true;           ///< RFC 6040 normal mode; false = compatibility mode (outer Not-ECT)
  DfMode df = DfMode::kCopy;
  uint8_t ttl = 64;          ///< outer TTL / hop limit

  LifetimeLimit soft;        ///< crossing it raises an event (rekey)
  LifetimeLimit hard;        ///< reaching it stops the SA

  uint64_t cookie = 0;       ///< opaque to the fast path, echoed in lifetime events

  /// Empty when the descriptor is usable; otherwise what is wrong, naming the field.
  [[nodiscard]] std::optional<std::string> validate() const;
};

[[nodiscard]] std::string_view to_string(SaDirection d) noexcept;
[[nodiscard]] std::string_view to_string(SaMode m) noexcept;

}  // namespace esprit
