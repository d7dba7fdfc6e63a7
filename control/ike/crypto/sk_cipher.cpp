#include "esprit/control/ike/crypto/sk_cipher.hpp"

#include <openssl/core_names.h>

#include <cstring>

#include "esprit/control/ike/crypto/prf.hpp"
#include "ossl.hpp"

namespace esprit::ike {

namespace {

const char* cipher_name(EncrAlg alg) noexcept {
  switch (alg) {
    case EncrAlg::kTripleDesCbc: return "DES-EDE3-CBC";
    case EncrAlg::kAesCbc128: return "AES-128-CBC";
    case EncrAlg::kAesCbc192: return "AES-192-CBC";
    case EncrAlg::kAesCbc256: return "AES-256-CBC";
    case EncrAlg::kAesGcm8_128:
    case EncrAlg::kAesGcm12_128:
    case EncrAlg::kAesGcm16_128: return "AES-128-GCM";
    case EncrAlg::kAesGcm8_192:
    case EncrAlg::kAesGcm12_192:
    case EncrAlg::kAesGcm16_192: return "AES-192-GCM";
    case EncrAlg::kAesGcm8_256:
    case EncrAlg::kAesGcm12_256:
    case EncrAlg::kAesGcm16_256: return "AES-256-GCM";
    case EncrAlg::kChaCha20Poly1305: return "ChaCha20-Poly1305";
    case EncrAlg::kNull: break;
  }
  return nullptr;
}

constexpr std::size_t kMaxIcv = 32;
constexpr std::size_t kMaxMac = 64;

}  // namespace

namespace {

/// The full MAC over aad | IV | ciphertext (RFC 7296 3.14): HMAC (`digest`) or, without a digest,
/// AES-XCBC-MAC (RFC 3566, AUTH_AES_XCBC_96: the caller keeps the first 12 of the 16 bytes).
bool integrity_mac(const char* digest, const SecretBytes& key, std::span<const uint8_t> aad, const uint8_t* iv_ct,
                   std::size_t iv_ct_len, uint8_t* mac) noexcept {
  if (!digest) return aes_xcbc_mac(key.span(), {aad, {iv_ct, iv_ct_len}}, mac);
  return detail::hmac_compute(digest, key.data(), key.size(), {{aad.data(), aad.size()}, {iv_ct, iv_ct_len}}, mac,
                              key.size());  // HMAC keys are digest-sized (RFC 2404, 4868)
}

}  // namespace

struct SkCipher::Impl {
  EVP_CIPHER* cipher = nullptr;
  const char* digest = nullptr;
  SecretBytes key;   ///< cipher key (without salt)
  SecretBytes salt;  ///< AEAD: 4 bytes
  SecretBytes integ_key;
};

SkCipher::SkCipher(EncrAlg encr, IntegAlg integ, RandomSource& rng)
    : encr_(encr), integ_(integ), rng_(&rng), impl_(std::make_unique<Impl>()) {}

SkCipher::~SkCipher() = default;

std::unique_ptr<SkCipher> SkCipher::create(EncrAlg encr, IntegAlg integ, SecretBytes encr_key, SecretBytes integ_key,
                                           RandomSource& rng, std::string* error) {
  auto fail = [&](std::string msg) -> std::unique_ptr<SkCipher> {
    if (error) *error = std::move(msg);
    return nullptr;
  };
  const EncrInfo& e = info(encr);
  const IntegInfo& i = info(integ);
  const char* name = cipher_name(encr);
  if (!name) return fail(std::string(e.name) + " cannot protect IKE messages (RFC 7296 5: no ENCR_NULL for IKE)");
  if (e.aead() && integ != IntegAlg::kNone)
    return fail(std::string(e.name) + " is a combined-mode cipher; integrity must be none (RFC 5282 8)");
  if (!e.aead() && integ == IntegAlg::kNone) return fail(std::string(e.name) + " needs an integrity algorithm");
  if (encr_key.size() != e.keymat_len())
    return fail("SK_e of " + std::to_string(encr_key.size()) + " bytes; " + std::string(e.name) + " needs " +
                std::to_string(e.keymat_len()));
  if (integ_key.size() != i.key_len)
    return fail("SK_a of " + std::to_string(integ_key.size()) + " bytes; " + std::string(i.name) + " needs " +
                std::to_string(i.key_len));
  std::unique_ptr<SkCipher> c(new SkCipher(encr, integ, rng));
  c->impl_->cipher = detail::cipher(name);
  if (!c->impl_->cipher) return fail(std::string("OpenSSL has no ") + name);
  c->aead_ = e.aead();
  c->iv_len_ = e.iv_len;
  if (c->aead_) {
    c->icv_len_ = e.icv_len;
    c->block_ = 1;  // RFC 5282 3: no alignment needed; Esprit sends pad length 0
    c->impl_->key = SecretBytes(encr_key.span().first(e.key_len));
    c->impl_->salt = SecretBytes(encr_key.span().subspan(e.key_len));
  } else {
    c->icv_len_ = i.icv_len;
    c->block_ = e.block_size;
    c->impl_->key = std::move(encr_key);
    c->impl_->digest = detail::digest_name(integ);
    c->impl_->integ_key = std::move(integ_key);
    if (!c->impl_->digest && integ != IntegAlg::kAesXcbc96)
      return fail(std::string(i.name) + " is neither an HMAC nor AES-XCBC");
  }
  return c;
}

std::size_t SkCipher::body_size(std::size_t plaintext_len) const noexcept {
  const std::size_t padded = (plaintext_len + 1 + block_ - 1) / block_ * block_;  // + pad length byte
  return iv_len_ + padded + icv_len_;
}

SkStatus SkCipher::seal(std::span<const uint8_t> aad, std::span<const uint8_t> plaintext, std::span<uint8_t> body) {
  const std::size_t n = body_size(plaintext.size());
  if (body.size() != n) return SkStatus::kBadBuffer;
  const std::size_t ct_len = n - iv_len_ - icv_len_;
  uint8_t* iv = body.data();
  uint8_t* ct = iv + iv_len_;
  uint8_t* icv = ct + ct_len;

  // Plaintext | padding (zeros) | pad length, encrypted in place.
  if (!plaintext.empty()) std::memcpy(ct, plaintext.data(), plaintext.size());
  const std::size_t pad = ct_len - plaintext.size() - 1;
  std::memset(ct + plaintext.size(), 0, pad);
  ct[ct_len - 1] = static_cast<uint8_t>(pad);

  detail::CipherCtx ctx(EVP_CIPHER_CTX_new());
  if (!ctx) return SkStatus::kInternal;
  int len = 0;
  int fin = 0;
  if (aead_) {
    if (next_iv_ == 0) return SkStatus::kIvExhausted;  // wrapped: every 64-bit value was used
    uint64_t v = next_iv_++;
    for (std::size_t k = iv_len_; k-- > 0;) {
      iv[k] = static_cast<uint8_t>(v);
      v >>= 8;
    }
    uint8_t nonce[12];
    std::memcpy(nonce, impl_->salt.data(), 4);
    std::memcpy(nonce + 4, iv, 8);
    const bool ok = EVP_EncryptInit_ex2(ctx.get(), impl_->cipher, nullptr, nullptr, nullptr) == 1 &&
                    EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_AEAD_SET_IVLEN, 12, nullptr) == 1 &&
                    EVP_EncryptInit_ex2(ctx.get(), nullptr, impl_->key.data(), nonce, nullptr) == 1 &&
                    EVP_EncryptUpdate(ctx.get(), nullptr, &len, aad.data(), static_cast<int>(aad.size())) == 1 &&
                    EVP_EncryptUpdate(ctx.get(), ct, &len, ct, static_cast<int>(ct_len)) == 1 &&
                    EVP_EncryptFinal_ex(ctx.get(), ct + len, &fin) == 1 &&
                    EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_AEAD_GET_TAG, static_cast<int>(icv_len_), icv) == 1;
    if (!ok) return SkStatus::kInternal;
    return SkStatus::kOk;
  }

  if (!rng_->fill(std::span<uint8_t>(iv, iv_len_))) return SkStatus::kInternal;
  const bool ok = EVP_EncryptInit_ex2(ctx.get(), impl_->cipher, impl_->key.data(), iv, nullptr) == 1 &&
                  EVP_CIPHER_CTX_set_padding(ctx.get(), 0) == 1 &&
                  EVP_EncryptUpdate(ctx.get(), ct, &len, ct, static_cast<int>(ct_len)) == 1 &&
                  EVP_EncryptFinal_ex(ctx.get(), ct + len, &fin) == 1 && static_cast<std::size_t>(len + fin) == ct_len;
  if (!ok) return SkStatus::kInternal;
  uint8_t mac[kMaxMac];
  if (!integrity_mac(impl_->digest, impl_->integ_key, aad, iv, iv_len_ + ct_len, mac)) return SkStatus::kInternal;
  std::memcpy(icv, mac, icv_len_);
  return SkStatus::kOk;
}

SkStatus SkCipher::open(std::span<const uint8_t> aad, std::span<const uint8_t> body,
                        std::vector<uint8_t>& plaintext) const {
  plaintext.clear();
  if (body.size() < iv_len_ + icv_len_ + 1) return SkStatus::kRejected;
  const std::size_t ct_len = body.size() - iv_len_ - icv_len_;
  if (ct_len % block_ != 0) return SkStatus::kRejected;
  const uint8_t* iv = body.data();
  const uint8_t* ct = iv + iv_len_;
  const uint8_t* icv = ct + ct_len;

  detail::CipherCtx ctx(EVP_CIPHER_CTX_new());
  if (!ctx) return SkStatus::kInternal;
  plaintext.resize(ct_len);
  int len = 0;
  int fin = 0;
  bool ok;
  if (aead_) {
    uint8_t nonce[12];
    std::memcpy(nonce, impl_->salt.data(), 4);
    std::memcpy(nonce + 4, iv, 8);
    uint8_t tag[kMaxIcv];
    std::memcpy(tag, icv, icv_len_);
    ok = EVP_DecryptInit_ex2(ctx.get(), impl_->cipher, nullptr, nullptr, nullptr) == 1 &&
         EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_AEAD_SET_IVLEN, 12, nullptr) == 1 &&
         EVP_DecryptInit_ex2(ctx.get(), nullptr, impl_->key.data(), nonce, nullptr) == 1 &&
         EVP_DecryptUpdate(ctx.get(), nullptr, &len, aad.data(), static_cast<int>(aad.size())) == 1 &&
         EVP_DecryptUpdate(ctx.get(), plaintext.data(), &len, ct, static_cast<int>(ct_len)) == 1 &&
         EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_AEAD_SET_TAG, static_cast<int>(icv_len_), tag) == 1 &&
         EVP_DecryptFinal_ex(ctx.get(), plaintext.data() + len, &fin) == 1;  // the constant-time tag check
  } else {
    uint8_t mac[kMaxMac];
    ok = integrity_mac(impl_->digest, impl_->integ_key, aad, iv, iv_len_ + ct_len, mac) &&
         constant_time_equal(mac, icv, icv_len_);
    // Encrypt-then-MAC: nothing is decrypted before the ICV verified.
    ok = ok && EVP_DecryptInit_ex2(ctx.get(), impl_->cipher, impl_->key.data(), iv, nullptr) == 1 &&
         EVP_CIPHER_CTX_set_padding(ctx.get(), 0) == 1 &&
         EVP_DecryptUpdate(ctx.get(), plaintext.data(), &len, ct, static_cast<int>(ct_len)) == 1 &&
         EVP_DecryptFinal_ex(ctx.get(), plaintext.data() + len, &fin) == 1;
  }
  const std::size_t pad = ok ? plaintext[ct_len - 1] : 0;
  if (!ok || pad + 1 > ct_len) {
    secure_wipe(plaintext.data(), plaintext.size());
    plaintext.clear();
    return SkStatus::kRejected;
  }
  secure_wipe(plaintext.data() + ct_len - pad - 1, pad + 1);
  plaintext.resize(ct_len - pad - 1);
  return SkStatus::kOk;
}

}  // namespace esprit::ike
