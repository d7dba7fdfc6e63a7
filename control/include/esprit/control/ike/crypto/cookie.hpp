// The COOKIE helper against half-open IKE SA floods (RFC 7296 2.6).
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "esprit/common/ip_address.hpp"
#include "esprit/common/secret.hpp"
#include "esprit/control/ike/crypto/random.hpp"

namespace esprit::ike {

/// Stateless cookies (RFC 7296 2.6): Cookie = <VersionIDofSecret> | Hash(Ni | IPi | SPIi | <secret>),
/// a 4-byte version (network order) and SHA-256, 36 bytes in all. rotate() makes a new secret and
/// keeps the previous one so cookies handed out just before still verify.
class CookieGenerator {
 public:
  static constexpr std::size_t kCookieLen = 4 + 32;
  static constexpr std::size_t kSecretLen = 32;

  /// Draws the first secret; check valid() (false when the random source failed).
  explicit CookieGenerator(RandomSource& rng);
  [[nodiscard]] bool valid() const noexcept { return !current_.empty(); }
  /// New secret (version + 1); the old one stays accepted until the next rotate(). False on RNG failure.
  [[nodiscard]] bool rotate();
  [[nodiscard]] uint32_t version() const noexcept { return version_; }

  [[nodiscard]] std::vector<uint8_t> make(std::span<const uint8_t> ni, const IpAddress& ip_i, uint64_t spi_i) const;
  /// True when `cookie` is what make() gives for these values under the current or previous secret.
  [[nodiscard]] bool verify(std::span<const uint8_t> cookie, std::span<const uint8_t> ni, const IpAddress& ip_i,
                            uint64_t spi_i) const;

 private:
  RandomSource* rng_;
  uint32_t version_ = 0;
  SecretBytes current_;
  SecretBytes previous_;
};

}  // namespace esprit::ike
