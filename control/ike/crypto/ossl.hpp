// Private helpers around OpenSSL 3 for the IKE crypto: owning handles and algorithm objects
// fetched once per process (EVP_*_fetch is slow; the fetched objects are immutable and thread-safe).
#pragma once

#include <openssl/evp.h>
#include <openssl/bn.h>

#include <cstdint>
#include <initializer_list>
#include <memory>
#include <utility>

#include "esprit/common/algorithms.hpp"

namespace esprit::ike::detail {

struct MacCtxFree {
  void operator()(EVP_MAC_CTX* c) const noexcept { EVP_MAC_CTX_free(c); }
};
struct CipherCtxFree {
  void operator()(EVP_CIPHER_CTX* c) const noexcept { EVP_CIPHER_CTX_free(c); }
};
struct BnFree {  // clears: BIGNUMs here hold private keys and shared secrets
  void operator()(BIGNUM* b) const noexcept { BN_clear_free(b); }
};
struct BnCtxFree {
  void operator()(BN_CTX* c) const noexcept { BN_CTX_free(c); }
};
struct PkeyFree {
  void operator()(EVP_PKEY* p) const noexcept { EVP_PKEY_free(p); }
};
struct PkeyCtxFree {
  void operator()(EVP_PKEY_CTX* p) const noexcept { EVP_PKEY_CTX_free(p); }
};
using MacCtx = std::unique_ptr<EVP_MAC_CTX, MacCtxFree>;
using CipherCtx = std::unique_ptr<EVP_CIPHER_CTX, CipherCtxFree>;
using Bn = std::unique_ptr<BIGNUM, BnFree>;
using BnCtx = std::unique_ptr<BN_CTX, BnCtxFree>;
using Pkey = std::unique_ptr<EVP_PKEY, PkeyFree>;
using PkeyCtx = std::unique_ptr<EVP_PKEY_CTX, PkeyCtxFree>;

/// The HMAC EVP_MAC, fetched once.
[[nodiscard]] EVP_MAC* hmac() noexcept;
/// OpenSSL digest name for an HMAC-based PRF or an integrity algorithm ("SHA256", ...).
[[nodiscard]] const char* digest_name(PrfAlg alg) noexcept;
[[nodiscard]] const char* digest_name(IntegAlg alg) noexcept;
/// Ciphers fetched once: "AES-128-ECB", "AES-256-CBC", "DES-EDE3-CBC", "AES-128-GCM", "ChaCha20-Poly1305".
[[nodiscard]] EVP_CIPHER* cipher(const char* name) noexcept;

/// HMAC-<digest>(key, data...) into `out` (the full digest length). False on OpenSSL failure.
[[nodiscard]] bool hmac_compute(const char* digest, const uint8_t* key, std::size_t key_len,
                                std::initializer_list<std::pair<const uint8_t*, std::size_t>> data, uint8_t* out,
                                std::size_t out_len) noexcept;

/// An HMAC context with the key already processed, to be copied (EVP_MAC_CTX_dup) once per message
/// when many messages share a key (prf+). Null on OpenSSL failure.
[[nodiscard]] MacCtx hmac_keyed(const char* digest, const uint8_t* key, std::size_t key_len) noexcept;

/// MAC of data... with a copy of `keyed`; `out` receives out_len bytes (the digest length).
[[nodiscard]] bool hmac_from(const EVP_MAC_CTX* keyed, std::initializer_list<std::pair<const uint8_t*, std::size_t>> data,
                             uint8_t* out, std::size_t out_len) noexcept;

}  // namespace esprit::ike::detail
