// Random bytes for the IKE control plane: nonces, SPIs, IVs, DH private keys and COOKIE secrets.
// Everything that needs randomness takes a RandomSource&, so tests can run two IKE stacks in one
// process with deterministic nonces by passing their own source (tests/support/deterministic_random.hpp).
#pragma once

#include <cstdint>
#include <span>
#include <vector>

namespace esprit::ike {

/// Source of random bytes. fill() returns false when the source failed (the caller must then abort
/// what it was doing: a nonce or key made of zeros is never used).
class RandomSource {
 public:
  virtual ~RandomSource() = default;
  [[nodiscard]] virtual bool fill(std::span<uint8_t> out) noexcept = 0;
};

/// OpenSSL's CSPRNG (RAND_bytes, the default DRBG seeded by the operating system).
class SystemRandom final : public RandomSource {
 public:
  [[nodiscard]] bool fill(std::span<uint8_t> out) noexcept override;
  /// The process-wide instance.
  static SystemRandom& instance() noexcept;
};

/// A nonce of `len` bytes (RFC 7296 2.10: at least 16 and at least half the PRF key size; 32 is
/// what Esprit sends). Empty when the source failed.
[[nodiscard]] std::vector<uint8_t> make_nonce(RandomSource& rng, std::size_t len = 32);

/// A non-zero IKE SA SPI (RFC 7296 3.1: zero means "not yet known"); 0 when the source failed.
[[nodiscard]] uint64_t make_ike_spi(RandomSource& rng) noexcept;

/// An ESP SPI outside the IANA-reserved 0..255 range (RFC 4303 2.1); 0 when the source failed.
[[nodiscard]] uint32_t make_esp_spi(RandomSource& rng) noexcept;

}  // namespace esprit::ike
