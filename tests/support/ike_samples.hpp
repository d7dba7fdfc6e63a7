// Realistic IKEv2 messages built with the codec, shared by the codec's unit tests, the tshark
// cross-check (tests/tools/ike_tool.cpp) and the fuzzer's seeds (tests/fuzz/ike_message_fuzz.cpp).
// Keys, nonces and ciphertexts are deterministic byte patterns: the codec does not look into them.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "esprit/control/ike/message.hpp"

namespace esprit::ike::test {

struct Sample {
  std::string name;
  Message message;
  /// For messages with an SK/SKF payload: the plaintext chain its body stands for (the body is a
  /// pattern IV | encode_inner(inner) | padding | pad length | ICV, not real ciphertext).
  std::vector<Payload> inner;
};

/// `n` deterministic bytes (a simple LCG seeded with `seed`).
[[nodiscard]] std::vector<uint8_t> pattern(std::size_t n, uint32_t seed);

/// Every message Esprit's IKEv2 exchanges will send, plus one clear message carrying every payload
/// type of RFC 7296 (for dissectors).
[[nodiscard]] std::vector<Sample> ike_samples();

}  // namespace esprit::ike::test
