#include "esprit/control/wireshark_keys.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstring>

#include "esprit/common/log.hpp"
#include "esprit/common/sa_descriptor.hpp"

namespace esprit {
namespace {

std::string hex(std::span<const uint8_t> b) {
  static const char* d = "0123456789abcdef";
  std::string s;
  s.reserve(b.size() * 2);
  for (uint8_t x : b) {
    s += d[x >> 4];
    s += d[x & 15];
  }
  return s;
}

}  // namespace

// Names as Wireshark 4.0 spells them: packet-isakmp.c vs_ikev2_encr_algs / vs_ikev2_auth_algs
// (IKEv2 table) and packet-esp.c esp_encryption_type_vals / esp_authentication_type_vals (esp_sa).
std::optional<std::string_view> wireshark_ikev2_encr(EncrAlg a) noexcept {
  switch (a) {
    case EncrAlg::kNull: return "NULL [RFC2410]";
    case EncrAlg::kTripleDesCbc: return "3DES [RFC2451]";
    case EncrAlg::kAesCbc128: return "AES-CBC-128 [RFC3602]";
    case EncrAlg::kAesCbc192: return "AES-CBC-192 [RFC3602]";
    case EncrAlg::kAesCbc256: return "AES-CBC-256 [RFC3602]";
    case EncrAlg::kAesGcm8_128: return "AES-GCM-128 with 8 octet ICV [RFC5282]";
    case EncrAlg::kAesGcm8_192: return "AES-GCM-192 with 8 octet ICV [RFC5282]";
    case EncrAlg::kAesGcm8_256: return "AES-GCM-256 with 8 octet ICV [RFC5282]";
    case EncrAlg::kAesGcm12_128: return "AES-GCM-128 with 12 octet ICV [RFC5282]";
    case EncrAlg::kAesGcm12_192: return "AES-GCM-192 with 12 octet ICV [RFC5282]";
    case EncrAlg::kAesGcm12_256: return "AES-GCM-256 with 12 octet ICV [RFC5282]";
    case EncrAlg::kAesGcm16_128: return "AES-GCM-128 with 16 octet ICV [RFC5282]";
    case EncrAlg::kAesGcm16_192: return "AES-GCM-192 with 16 octet ICV [RFC5282]";
    case EncrAlg::kAesGcm16_256: return "AES-GCM-256 with 16 octet ICV [RFC5282]";
    case EncrAlg::kChaCha20Poly1305: return std::nullopt;  // not in Wireshark 4.0's IKEv2 table
  }
  return std::nullopt;
}

std::optional<std::string_view> wireshark_ikev2_integ(IntegAlg a) noexcept {
  switch (a) {
    case IntegAlg::kNone: return "NONE [RFC4306]";
    case IntegAlg::kHmacMd5_96: return "HMAC_MD5_96 [RFC2403]";
    case IntegAlg::kHmacSha1_96: return "HMAC_SHA1_96 [RFC2404]";
    case IntegAlg::kHmacSha256_128: return "HMAC_SHA2_256_128 [RFC4868]";
    case IntegAlg::kHmacSha384_192: return "HMAC_SHA2_384_192 [RFC4868]";
    case IntegAlg::kHmacSha512_256: return "HMAC_SHA2_512_256 [RFC4868]";
    case IntegAlg::kAesXcbc96: return std::nullopt;  // Wireshark's IKEv2 table has no AES-XCBC
  }
  return std::nullopt;
}

std::optional<std::string_view> wireshark_esp_encr(EncrAlg a) noexcept {
  switch (a) {
    case EncrAlg::kNull: return "NULL";
    case EncrAlg::kTripleDesCbc: return "TripleDES-CBC [RFC2451]";
    case EncrAlg::kAesCbc128:
    case EncrAlg::kAesCbc192:
    case EncrAlg::kAesCbc256: return "AES-CBC [RFC3602]";
    case EncrAlg::kAesGcm8_128:
    case EncrAlg::kAesGcm8_192:
    case EncrAlg::kAesGcm8_256: return "AES-GCM with 8 octet ICV [RFC4106]";
    case EncrAlg::kAesGcm12_128:
    case EncrAlg::kAesGcm12_192:
    case EncrAlg::kAesGcm12_256: return "AES-GCM with 12 octet ICV [RFC4106]";
    case EncrAlg::kAesGcm16_128:
    case EncrAlg::kAesGcm16_192:
    case EncrAlg::kAesGcm16_256: return "AES-GCM with 16 octet ICV [RFC4106]";
    case EncrAlg::kChaCha20Poly1305: return std::nullopt;
  }
  return std::nullopt;
}

std::optional<std::string_view> wireshark_esp_auth(IntegAlg a) noexcept {
  switch (a) {
    case IntegAlg::kNone: return "NULL";
    case IntegAlg::kHmacMd5_96: return "HMAC-MD5-96 [RFC2403]";
    case IntegAlg::kHmacSha1_96: return "HMAC-SHA-1-96 [RFC2404]";
    case IntegAlg::kHmacSha256_128: return "HMAC-SHA-256-128 [RFC4868]";
    case IntegAlg::kHmacSha384_192: return "HMAC-SHA-384-192 [RFC4868]";
    case IntegAlg::kHmacSha512_256: return "HMAC-SHA-512-256 [RFC4868]";
    case IntegAlg::kAesXcbc96: return std::nullopt;  // IKE only, never an ESP SA
  }
  return std::nullopt;
}

std::optional<std::string> ikev2_decryption_line(const IkeSaKeys& k) {
  const auto e = wireshark_ikev2_encr(k.encr);
  const auto i = wireshark_ikev2_integ(k.integ);
  if (!e || !i) return std::nullopt;
  char spis[40];
  std::snprintf(spis, sizeof spis, "%016" PRIx64 ",%016" PRIx64, k.spi_i, k.spi_r);
  return std::string(spis) + "," + hex(k.sk_ei) + "," + hex(k.sk_er) + ",\"" + std::string(*e) + "\"," +
         hex(k.sk_ai) + "," + hex(k.sk_ar) + ",\"" + std::string(*i) + "\"";
}

std::optional<std::string> esp_sa_line(const SaDescriptor& sa) {
  const auto e = wireshark_esp_encr(sa.encr);
  const auto a = wireshark_esp_auth(sa.integ);
  if (!e || !a) return std::nullopt;
  // Wireshark keys the SA by (source, destination, SPI) of the ESP packets it carries.
  const bool out = sa.direction == SaDirection::kOutbound;
  const IpAddress& src = out ? sa.local : sa.remote;
  const IpAddress& dst = out ? sa.remote : sa.local;
  char spi[16];
  std::snprintf(spi, sizeof spi, "0x%08" PRIx32, sa.spi);
  auto key = [](const SecretBytes& k) { return k.empty() ? std::string() : "0x" + hex(k.span()); };
  // Appended field by field (GCC 12 warns -Wrestrict, falsely, on a long operator+ chain).
  std::string line;
  for (const std::string& f : {std::string(src.is_v4() ? "IPv4" : "IPv6"), src.to_string(), dst.to_string(),
                               std::string(spi), std::string(*e), key(sa.encr_key), std::string(*a), key(sa.integ_key)}) {
    line += line.empty() ? "\"" : ",\"";
    line += f;
    line += '"';
  }
  return line;
}

std::unique_ptr<WiresharkKeys> WiresharkKeys::open(const std::string& ikev2_path, std::string* error) {
  const auto slash = ikev2_path.rfind('/');
  const std::string esp_path = (slash == std::string::npos ? std::string() : ikev2_path.substr(0, slash + 1)) + "esp_sa";
  auto open_one = [&](const std::string& p) {
    const int fd = ::open(p.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (fd < 0 && error) *error = p + ": " + std::strerror(errno);
    if (fd >= 0) (void)::fchmod(fd, 0600);  // an existing file keeps no wider mode
    return fd;
  };
  const int a = open_one(ikev2_path);
  if (a < 0) return nullptr;
  const int b = open_one(esp_path);
  if (b < 0) {
    ::close(a);
    return nullptr;
  }
  ESPRIT_LOG_WARNING("writing IKE and ESP keys to %s and %s ([ike] keys_file): a debugging aid, the files hold "
                     "secrets; remove keys_file from the configuration when done",
                     ikev2_path.c_str(), esp_path.c_str());
  return std::unique_ptr<WiresharkKeys>(new WiresharkKeys(ikev2_path, esp_path, a, b));
}

WiresharkKeys::WiresharkKeys(std::string ikev2_path, std::string esp_path, int ikev2_fd, int esp_fd)
    : ikev2_path_(std::move(ikev2_path)), esp_path_(std::move(esp_path)), ikev2_fd_(ikev2_fd), esp_fd_(esp_fd) {}

WiresharkKeys::~WiresharkKeys() {
  ::close(ikev2_fd_);
  ::close(esp_fd_);
}

bool WiresharkKeys::append(int fd, const std::string& line) {
  const std::string l = line + "\n";
  return ::write(fd, l.data(), l.size()) == static_cast<ssize_t>(l.size());  // O_APPEND: one write per line
}

bool WiresharkKeys::add_ike_sa(const IkeSaKeys& keys) {
  const auto l = ikev2_decryption_line(keys);
  return l && append(ikev2_fd_, *l);
}

bool WiresharkKeys::add_esp_sa(const SaDescriptor& sa) {
  const auto l = esp_sa_line(sa);
  return l && append(esp_fd_, *l);
}

}  // namespace esprit
