#include "esprit/control/ike/crypto/natd.hpp"

#include <openssl/evp.h>

#include <cstring>

namespace esprit::ike {

std::array<uint8_t, 20> nat_detection_hash(uint64_t spi_i, uint64_t spi_r, const IpAddress& addr,
                                           uint16_t port) noexcept {
  uint8_t buf[8 + 8 + 16 + 2];
  std::size_t n = 0;
  for (int i = 7; i >= 0; --i) buf[n++] = static_cast<uint8_t>(spi_i >> (8 * i));
  for (int i = 7; i >= 0; --i) buf[n++] = static_cast<uint8_t>(spi_r >> (8 * i));
  std::memcpy(buf + n, addr.bytes(), addr.size());
  n += addr.size();
  buf[n++] = static_cast<uint8_t>(port >> 8);
  buf[n++] = static_cast<uint8_t>(port);
  std::array<uint8_t, 20> out{};
  unsigned int len = 0;
  // SHA-1 is what RFC 7296 2.23 mandates here (a fingerprint, not a security function).
  if (EVP_Digest(buf, n, out.data(), &len, EVP_sha1(), nullptr) != 1 || len != 20) out.fill(0);
  return out;
}

}  // namespace esprit::ike
