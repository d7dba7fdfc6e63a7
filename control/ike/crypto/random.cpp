#include "esprit/control/ike/crypto/random.hpp"

#include <openssl/rand.h>

#include <climits>

namespace esprit::ike {

bool SystemRandom::fill(std::span<uint8_t> out) noexcept {
  // RAND_bytes takes an int length; IKE never asks for more than a few hundred bytes at once.
  while (!out.empty()) {
    const std::size_t n = out.size() < static_cast<std::size_t>(INT_MAX) ? out.size() : INT_MAX;
    if (RAND_bytes(out.data(), static_cast<int>(n)) != 1) return false;
    out = out.subspan(n);
  }
  return true;
}

SystemRandom& SystemRandom::instance() noexcept {
  static SystemRandom r;
  return r;
}

std::vector<uint8_t> make_nonce(RandomSource& rng, std::size_t len) {
  std::vector<uint8_t> n(len);
  if (!rng.fill(n)) n.clear();
  return n;
}

uint64_t make_ike_spi(RandomSource& rng) noexcept {
  for (int tries = 0; tries < 8; ++tries) {
    uint8_t b[8];
    if (!rng.fill(b)) return 0;
    uint64_t v = 0;
    for (uint8_t x : b) v = v << 8 | x;
    if (v != 0) return v;
  }
  return 0;
}

uint32_t make_esp_spi(RandomSource& rng) noexcept {
  for (int tries = 0; tries < 8; ++tries) {
    uint8_t b[4];
    if (!rng.fill(b)) return 0;
    const uint32_t v = uint32_t{b[0]} << 24 | uint32_t{b[1]} << 16 | uint32_t{b[2]} << 8 | b[3];
    if (v > 255) return v;
  }
  return 0;
}

}  // namespace esprit::ike
