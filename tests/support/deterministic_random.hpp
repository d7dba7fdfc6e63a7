// A reproducible RandomSource for tests: two IKE stacks in one process with deterministic nonces,
// SPIs and DH keys. SHA-256(seed | counter) blocks; never for shipped code.
#pragma once

#include <openssl/evp.h>

#include <cstdint>
#include <cstring>
#include <deque>
#include <span>
#include <vector>

#include "esprit/control/ike/crypto/random.hpp"

namespace esprit::test {

class DeterministicRandom final : public ike::RandomSource {
 public:
  explicit DeterministicRandom(uint64_t seed) noexcept : seed_(seed) {}

  /// Bytes handed out verbatim before the SHA-256 stream (to force edge cases such as a zero SPI).
  void queue(std::span<const uint8_t> bytes) { scripted_.insert(scripted_.end(), bytes.begin(), bytes.end()); }
  /// Makes every later fill() fail, as a broken RNG would.
  void fail_from_now_on() noexcept { failing_ = true; }

  [[nodiscard]] bool fill(std::span<uint8_t> out) noexcept override {
    if (failing_) return false;
    for (uint8_t& b : out) {
      if (!scripted_.empty()) {
        b = scripted_.front();
        scripted_.pop_front();
        continue;
      }
      if (pos_ == sizeof(block_)) refill();
      b = block_[pos_++];
    }
    return true;
  }

 private:
  void refill() noexcept {
    uint8_t in[16];
    for (int i = 0; i < 8; ++i) in[i] = static_cast<uint8_t>(seed_ >> (8 * i));
    for (int i = 0; i < 8; ++i) in[8 + i] = static_cast<uint8_t>(counter_ >> (8 * i));
    ++counter_;
    unsigned int len = 0;
    EVP_Digest(in, sizeof(in), block_, &len, EVP_sha256(), nullptr);
    pos_ = 0;
  }

  uint64_t seed_;
  uint64_t counter_ = 0;
  uint8_t block_[32] = {};
  std::size_t pos_ = sizeof(block_);
  std::deque<uint8_t> scripted_;
  bool failing_ = false;
};

}  // namespace esprit::test
