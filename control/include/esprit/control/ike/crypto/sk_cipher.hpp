// Protection of the Encrypted payload (SK, RFC 7296 3.14) of IKE messages: AES-CBC-128/192/256 and
// 3DES-CBC with an integrity transform (HMAC-MD5-96, -SHA1-96, -SHA2-256-128, -384-192, -512-256),
// or AES-GCM (RFC 5282; 16-, 12- or 8-byte ICV) and ChaCha20-Poly1305 (RFC 7634) alone.
//
// Contract with the message codec — one SkCipher per direction of an IKE SA (SK_ei/SK_ai for what
// the initiator sends, SK_er/SK_ar for what the responder sends):
//
//   message  = IKE header | ... | SK generic header (4 bytes) | body
//   body     = IV | ciphertext | ICV,  ciphertext = Enc(inner payloads | padding | pad length)
//   aad      = the message bytes from the first byte of the IKE header through the SK generic
//              header, *with their final values*: the IKE header's Length and the SK header's
//              Payload Length both count the body. So:
//     1. n = body_size(inner_payloads.size());
//     2. write the IKE header (Length = aad.size() + n) and the SK header (Payload Length = 4 + n);
//     3. seal(aad, inner_payloads, body) with body.size() == n; send aad | body.
//   To receive: open(aad, body, plaintext) with aad and body cut at the same place; the lengths in
//   aad were already checked against the datagram by the codec.
//
// For CBC the ICV is the truncated HMAC over aad | IV | ciphertext (RFC 7296 3.14: "from the
// beginning of the IKE header through the end of the encrypted data"). For AEAD the associated data
// is aad (RFC 5282 5.1: IKE header through SK header, the IV excluded), the nonce salt | IV, the ICV
// the tag. Padding: CBC pads to the block size with zero bytes; AEAD sends no padding (pad length 0).
// open() accepts any padding that fits (RFC 7296 3.14: the receiver ignores the pad bytes).
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "esprit/common/algorithms.hpp"
#include "esprit/common/secret.hpp"
#include "esprit/control/ike/crypto/random.hpp"

namespace esprit::ike {

enum class SkStatus : uint8_t {
  kOk,
  /// open(): the body failed authentication, or its padding or length is impossible. One answer on
  /// purpose: the caller drops the message (RFC 7296 2.21.2) without learning which check failed.
  kRejected,
  kBadBuffer,    ///< seal(): body.size() != body_size(plaintext.size())
  kIvExhausted,  ///< seal(): the AEAD IV counter would repeat (2^64 messages); rekey the IKE SA
  kInternal,     ///< OpenSSL or the random source failed
};

class SkCipher {
 public:
  /// Takes one direction's keys: `encr_key` is SK_e (key | salt for AEAD), `integ_key` SK_a (empty
  /// for AEAD). nullptr and a message in `error` when the pair is not usable for IKE (ENCR_NULL,
  /// AEAD with an integrity transform, CBC without one, wrong key lengths).
  [[nodiscard]] static std::unique_ptr<SkCipher> create(EncrAlg encr, IntegAlg integ, SecretBytes encr_key,
                                                        SecretBytes integ_key, RandomSource& rng,
                                                        std::string* error = nullptr);
  ~SkCipher();
  SkCipher(const SkCipher&) = delete;
  SkCipher& operator=(const SkCipher&) = delete;

  [[nodiscard]] EncrAlg encr() const noexcept { return encr_; }
  [[nodiscard]] IntegAlg integ() const noexcept { return integ_; }
  [[nodiscard]] bool aead() const noexcept { return aead_; }
  [[nodiscard]] std::size_t iv_len() const noexcept { return iv_len_; }
  [[nodiscard]] std::size_t icv_len() const noexcept { return icv_len_; }

  /// Size of the SK body (IV | ciphertext | ICV) that seal() produces for `plaintext_len` bytes of
  /// inner payloads.
  [[nodiscard]] std::size_t body_size(std::size_t plaintext_len) const noexcept;

  /// Encrypts and authenticates `plaintext` (the inner payload chain) into `body`, which must be
  /// exactly body_size(plaintext.size()) bytes. CBC draws a fresh IV from the random source; AEAD
  /// uses this SA's 64-bit message counter as IV so it never repeats for the key (RFC 5282 3.1).
  [[nodiscard]] SkStatus seal(std::span<const uint8_t> aad, std::span<const uint8_t> plaintext,
                              std::span<uint8_t> body);

  /// Verifies (in constant time) and decrypts `body`; on kOk `plaintext` holds the inner payload
  /// chain without padding. On failure `plaintext` is empty.
  [[nodiscard]] SkStatus open(std::span<const uint8_t> aad, std::span<const uint8_t> body,
                              std::vector<uint8_t>& plaintext) const;

 private:
  struct Impl;
  SkCipher(EncrAlg encr, IntegAlg integ, RandomSource& rng);
  EncrAlg encr_;
  IntegAlg integ_;
  bool aead_ = false;
  std::size_t iv_len_ = 0;
  std::size_t icv_len_ = 0;
  std::size_t block_ = 1;
  uint64_t next_iv_ = 1;
  RandomSource* rng_;
  std::unique_ptr<Impl> impl_;
};

}  // namespace esprit::ike
