// IKEv2 key exchange (RFC 7296 1.2, 2.14) over OpenSSL 3: MODP groups 1, 2, 5, 14-18, ECP groups
// 19-21 (RFC 5903) and Curve25519 (group 31, RFC 8031), with the peer public value checks of
// RFC 6989. One DhGroup object is one ephemeral key pair; it is used for one exchange and dropped.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string_view>
#include <vector>

#include "esprit/common/algorithms.hpp"
#include "esprit/common/secret.hpp"
#include "esprit/control/ike/crypto/random.hpp"

namespace esprit::ike {

enum class DhStatus : uint8_t {
  kOk,
  kBadLength,       ///< the peer's value is not the group's KE length (RFC 7296 3.4: INVALID_SYNTAX)
  kInvalidPublic,   ///< RFC 6989: out of range, not on the curve, or the point at infinity
  kZeroSecret,      ///< X25519 gave the all-zero shared secret (RFC 7748 6.1, RFC 8031 2.3)
  kNoKey,           ///< generate()/set_private_key() was not called or failed
  kInternal,        ///< OpenSSL failed (out of memory, RNG failure)
};

[[nodiscard]] std::string_view to_string(DhStatus s) noexcept;

class DhGroup {
 public:
  virtual ~DhGroup() = default;

  /// A key pair holder for IKEv2 group number `group`; nullptr when Esprit does not implement it
  /// (the caller answers INVALID_KE_PAYLOAD / NO_PROPOSAL_CHOSEN).
  [[nodiscard]] static std::unique_ptr<DhGroup> create(uint16_t group);

  [[nodiscard]] const DhInfo& info() const noexcept { return *info_; }
  [[nodiscard]] uint16_t group() const noexcept { return info_->ikev2_id; }

  /// Draws a fresh private key from `rng` and computes the public value. False on failure.
  [[nodiscard]] virtual bool generate(RandomSource& rng) = 0;

  /// Uses the given private key (big-endian integer for MODP and ECP, the 32 raw bytes for X25519).
  /// For known-answer tests and deterministic test peers; the daemon uses generate().
  [[nodiscard]] virtual bool set_private_key(std::span<const uint8_t> priv) = 0;

  /// Our public value as the KE payload carries it (info().public_len bytes): MODP big-endian,
  /// zero-padded to the prime's length (RFC 7296 3.4); ECP x | y without the 0x04 prefix (RFC 5903
  /// 7); X25519 the 32-byte u-coordinate (RFC 8031 2). Empty before generate().
  [[nodiscard]] std::span<const uint8_t> public_value() const noexcept { return public_; }

  /// RFC 6989 checks of the peer's KE data, without computing anything secret: MODP 1 < y < p-1
  /// (the groups here are safe primes, for which this range check is sufficient, RFC 6989 2.2);
  /// ECP: a point on the curve (and so not the point at infinity, RFC 6989 2.3); X25519: length
  /// only (the all-zero result is caught by derive()).
  [[nodiscard]] virtual DhStatus check_peer(std::span<const uint8_t> peer) const = 0;

  /// g^ir from the peer's KE data: check_peer() first, then the agreement. MODP: zero-padded to
  /// the prime's length; ECP: the x coordinate, padded to the field size (RFC 5903 7); X25519:
  /// 32 bytes, refused when all zero. `out` is left empty on any failure.
  [[nodiscard]] virtual DhStatus derive(std::span<const uint8_t> peer, SecretBytes& out) const = 0;

 protected:
  explicit DhGroup(const DhInfo& info) : info_(&info) {}
  const DhInfo* info_;
  std::vector<uint8_t> public_;
};

}  // namespace esprit::ike
