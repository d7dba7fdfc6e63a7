#include "ossl.hpp"

#include <openssl/core_names.h>
#include <openssl/params.h>

#include <cstring>
#include <map>
#include <mutex>
#include <string>

#include "esprit/common/secret.hpp"

namespace esprit::ike::detail {

EVP_MAC* hmac() noexcept {
  static EVP_MAC* const mac = EVP_MAC_fetch(nullptr, "HMAC", nullptr);
  return mac;
}

const char* digest_name(PrfAlg alg) noexcept {
  switch (alg) {
    case PrfAlg::kHmacMd5: return "MD5";
    case PrfAlg::kHmacSha1: return "SHA1";
    case PrfAlg::kHmacSha256: return "SHA256";
    case PrfAlg::kHmacSha384: return "SHA384";
    case PrfAlg::kHmacSha512: return "SHA512";
    case PrfAlg::kAesXcbc128: break;
  }
  return nullptr;
}

const char* digest_name(IntegAlg alg) noexcept {
  switch (alg) {
    case IntegAlg::kHmacMd5_96: return "MD5";
    case IntegAlg::kHmacSha1_96: return "SHA1";
    case IntegAlg::kHmacSha256_128: return "SHA256";
    case IntegAlg::kHmacSha384_192: return "SHA384";
    case IntegAlg::kHmacSha512_256: return "SHA512";
    case IntegAlg::kNone:
    case IntegAlg::kAesXcbc96: break;  // not an HMAC (sk_cipher.cpp uses aes_xcbc_mac)
  }
  return nullptr;
}

EVP_CIPHER* cipher(const char* name) noexcept {
  // A handful of names; fetched on first use and kept for the life of the process.
  static std::mutex mu;
  static std::map<std::string, EVP_CIPHER*>* cache = new std::map<std::string, EVP_CIPHER*>();
  std::lock_guard lock(mu);
  auto it = cache->find(name);
  if (it != cache->end()) return it->second;
  EVP_CIPHER* c = EVP_CIPHER_fetch(nullptr, name, nullptr);
  if (c) (*cache)[name] = c;
  return c;
}

MacCtx hmac_keyed(const char* digest, const uint8_t* key, std::size_t key_len) noexcept {
  EVP_MAC* mac = hmac();
  if (!mac || !digest) return nullptr;
  MacCtx ctx(EVP_MAC_CTX_new(mac));
  if (!ctx) return nullptr;
  OSSL_PARAM params[] = {
      OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, const_cast<char*>(digest), 0),
      OSSL_PARAM_construct_end(),
  };
  // EVP_MAC_init refuses a NULL key even when its length is 0: hand it a valid pointer.
  static const uint8_t kEmpty = 0;
  if (EVP_MAC_init(ctx.get(), key_len ? key : &kEmpty, key_len, params) != 1) return nullptr;
  return ctx;
}

bool hmac_from(const EVP_MAC_CTX* keyed, std::initializer_list<std::pair<const uint8_t*, std::size_t>> data,
               uint8_t* out, std::size_t out_len) noexcept {
  MacCtx ctx(EVP_MAC_CTX_dup(keyed));
  bool ok = static_cast<bool>(ctx);
  for (const auto& [p, n] : data)
    if (ok && n) ok = EVP_MAC_update(ctx.get(), p, n) == 1;
  std::size_t len = 0;
  ok = ok && EVP_MAC_final(ctx.get(), out, &len, out_len) == 1 && len == out_len;
  if (!ok) secure_wipe(out, out_len);
  return ok;
}

bool hmac_compute(const char* digest, const uint8_t* key, std::size_t key_len,
                  std::initializer_list<std::pair<const uint8_t*, std::size_t>> data, uint8_t* out,
                  std::size_t out_len) noexcept {
  const MacCtx ctx = hmac_keyed(digest, key, key_len);
  return ctx && hmac_from(ctx.get(), data, out, out_len);
}

}  // namespace esprit::ike::detail
