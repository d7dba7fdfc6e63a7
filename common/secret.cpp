#include "esprit/common/secret.hpp"

#include <openssl/crypto.h>

namespace esprit {

void secure_wipe(void* p, std::size_t len) noexcept { OPENSSL_cleanse(p, len); }

bool constant_time_equal(const uint8_t* a, const uint8_t* b, std::size_t len) noexcept {
  return CRYPTO_memcmp(a, b, len) == 0;
}

namespace {
int hex_value(char c) noexcept {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}
}  // namespace

bool SecretBytes::from_hex(std::string_view hex, SecretBytes& out) {
  if (hex.starts_with("0x") || hex.starts_with("0X")) hex.remove_prefix(2);
  std::vector<uint8_t> bytes;
  bytes.reserve(hex.size() / 2);
  int hi = -1;
  for (char c : hex) {
    if (c == ':' || c == ' ') {
      if (hi >= 0) return false;  // separator inside a byte
      continue;
    }
    const int v = hex_value(c);
    if (v < 0) return false;
    if (hi < 0) {
      hi = v;
    } else {
      bytes.push_back(static_cast<uint8_t>(hi << 4 | v));
      hi = -1;
    }
  }
  const bool ok = hi < 0;
  if (ok) out = SecretBytes(bytes);
  secure_wipe(bytes.data(), bytes.size());
  return ok;
}

}  // namespace esprit
