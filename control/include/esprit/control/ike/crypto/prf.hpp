// IKEv2 pseudo-random functions (RFC 7296 2.13): HMAC-MD5/SHA1/SHA2 through OpenSSL's EVP_MAC, and
// AES-XCBC-PRF-128 (RFC 4434, built on OpenSSL's AES: OpenSSL 3 has no XCBC MAC) — plus prf+.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <span>

#include "esprit/common/algorithms.hpp"
#include "esprit/common/secret.hpp"

namespace esprit::ike {

using Bytes = std::span<const uint8_t>;

class Prf {
 public:
  explicit Prf(PrfAlg alg) noexcept : alg_(alg) {}

  [[nodiscard]] PrfAlg alg() const noexcept { return alg_; }
  [[nodiscard]] const PrfInfo& info() const noexcept { return esprit::info(alg_); }
  /// Output bytes of one prf() call.
  [[nodiscard]] std::size_t out_len() const noexcept { return info().out_len; }
  /// Preferred key length (the length of SK_d, SK_pi, SK_pr).
  [[nodiscard]] std::size_t key_len() const noexcept { return info().key_len; }

  /// prf(key, data[0] | data[1] | ...). Any key length: HMAC hashes long keys (RFC 2104), XCBC
  /// zero-pads short keys and condenses long ones (RFC 4434 2). Writes out_len() bytes to `out`.
  /// Returns false only when OpenSSL fails (out of memory); `out` is then wiped.
  [[nodiscard]] bool compute(Bytes key, std::initializer_list<Bytes> data, uint8_t* out) const noexcept;

  /// prf() into SecretBytes (empty on an OpenSSL failure).
  [[nodiscard]] SecretBytes operator()(Bytes key, std::initializer_list<Bytes> data) const;

  /// prf+(key, seed) truncated to `len` bytes (RFC 7296 2.13): T1 = prf(K, S | 0x01), Tn =
  /// prf(K, Tn-1 | S | n). At most 255 blocks; longer requests (and OpenSSL failures) give an
  /// empty result.
  [[nodiscard]] SecretBytes plus(Bytes key, std::initializer_list<Bytes> seed, std::size_t len) const;

 private:
  PrfAlg alg_;
};

/// AES-XCBC-MAC-96 (RFC 3566) with a 16-byte key: the first 12 bytes of the full 16-byte MAC are
/// the ICV. `out` receives the full 16 bytes. Exposed for the known-answer tests of RFC 3566 4.
[[nodiscard]] bool aes_xcbc_mac(Bytes key16, std::initializer_list<Bytes> data, uint8_t out[16]) noexcept;

}  // namespace esprit::ike
