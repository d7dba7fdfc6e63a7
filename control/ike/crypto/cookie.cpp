#include "esprit/control/ike/crypto/cookie.hpp"

#include <openssl/evp.h>

#include <cstring>

namespace esprit::ike {
namespace {

bool cookie_hash(const SecretBytes& secret, std::span<const uint8_t> ni, const IpAddress& ip, uint64_t spi_i,
                 uint8_t out[32]) {
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  if (!ctx) return false;
  uint8_t spi[8];
  for (int i = 0; i < 8; ++i) spi[i] = static_cast<uint8_t>(spi_i >> (8 * (7 - i)));
  unsigned int len = 0;
  const bool ok = EVP_DigestInit_ex(ctx, EVP_sha256(), nullptr) == 1 &&
                  EVP_DigestUpdate(ctx, ni.data(), ni.size()) == 1 &&
                  EVP_DigestUpdate(ctx, ip.bytes(), ip.size()) == 1 && EVP_DigestUpdate(ctx, spi, 8) == 1 &&
                  EVP_DigestUpdate(ctx, secret.data(), secret.size()) == 1 &&
                  EVP_DigestFinal_ex(ctx, out, &len) == 1 && len == 32;
  EVP_MD_CTX_free(ctx);
  return ok;
}

}  // namespace

CookieGenerator::CookieGenerator(RandomSource& rng) : rng_(&rng) {
  SecretBytes s = SecretBytes::zeroed(kSecretLen);
  if (rng_->fill(s.mutable_span())) current_ = std::move(s);
}

bool CookieGenerator::rotate() {
  SecretBytes s = SecretBytes::zeroed(kSecretLen);
  if (!rng_->fill(s.mutable_span())) return false;
  previous_ = std::move(current_);
  current_ = std::move(s);
  ++version_;
  return true;
}

std::vector<uint8_t> CookieGenerator::make(std::span<const uint8_t> ni, const IpAddress& ip_i, uint64_t spi_i) const {
  if (current_.empty()) return {};
  std::vector<uint8_t> c(kCookieLen);
  for (int i = 0; i < 4; ++i) c[i] = static_cast<uint8_t>(version_ >> (8 * (3 - i)));
  if (!cookie_hash(current_, ni, ip_i, spi_i, c.data() + 4)) return {};
  return c;
}

bool CookieGenerator::verify(std::span<const uint8_t> cookie, std::span<const uint8_t> ni, const IpAddress& ip_i,
                             uint64_t spi_i) const {
  if (cookie.size() != kCookieLen) return false;
  const uint32_t v = uint32_t{cookie[0]} << 24 | uint32_t{cookie[1]} << 16 | uint32_t{cookie[2]} << 8 | cookie[3];
  const SecretBytes* secret = nullptr;
  if (v == version_) secret = &current_;
  else if (v + 1 == version_ && !previous_.empty()) secret = &previous_;
  if (!secret || secret->empty()) return false;
  uint8_t h[32];
  if (!cookie_hash(*secret, ni, ip_i, spi_i, h)) return false;
  return constant_time_equal(h, cookie.data() + 4, 32);
}

}  // namespace esprit::ike
