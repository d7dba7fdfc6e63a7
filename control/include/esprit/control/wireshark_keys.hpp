// The Wireshark keys file: a debugging aid, off by default ([ike] keys_file, docs/operations.md).
// IKE SA keys are appended to `keys_file` in the format of Wireshark's `ikev2_decryption_table`
// UAT, ESP SA keys to `esp_sa` in the same directory (Wireshark's ESP SA UAT): point Wireshark's
// configuration directory (or a profile) at that directory and it decrypts the IKE_AUTH and later
// exchanges and the ESP traffic. The files hold secrets: created 0600, and a warning is logged
// when the writer is opened.
//
// Line formats as Wireshark 4.0 reads them (epan/dissectors/packet-isakmp.c ikev2_uat_flds,
// packet-esp.c esp_uat_flds; checked against tshark in tests/functional/ike_keys_tshark_test.py):
//   ikev2_decryption_table:  SPIi,SPIr,SK_ei,SK_er,"<encr>",SK_ai,SK_ar,"<integ>"  (hex, no 0x)
//   esp_sa:  "IPv4","<src>","<dst>","0x<spi>","<encr>","0x<key>","<auth>","0x<key>"
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "esprit/common/algorithms.hpp"

namespace esprit {

struct SaDescriptor;

/// Wireshark's names of our algorithms, or nullopt when Wireshark cannot decrypt it.
[[nodiscard]] std::optional<std::string_view> wireshark_ikev2_encr(EncrAlg a) noexcept;
[[nodiscard]] std::optional<std::string_view> wireshark_ikev2_integ(IntegAlg a) noexcept;
[[nodiscard]] std::optional<std::string_view> wireshark_esp_encr(EncrAlg a) noexcept;
[[nodiscard]] std::optional<std::string_view> wireshark_esp_auth(IntegAlg a) noexcept;

/// The keys of one IKE SA (RFC 7296 2.14).
struct IkeSaKeys {
  uint64_t spi_i = 0;
  uint64_t spi_r = 0;
  EncrAlg encr = EncrAlg::kAesCbc128;
  std::span<const uint8_t> sk_ei, sk_er;  ///< for AEAD: key followed by the salt, as negotiated
  IntegAlg integ = IntegAlg::kHmacSha256_128;
  std::span<const uint8_t> sk_ai, sk_ar;  ///< empty for AEAD
};

/// One line of each table (without the newline), or nullopt for algorithms Wireshark lacks.
[[nodiscard]] std::optional<std::string> ikev2_decryption_line(const IkeSaKeys& k);
[[nodiscard]] std::optional<std::string> esp_sa_line(const SaDescriptor& sa);

class WiresharkKeys {
 public:
  /// Opens (creates 0600, appends) `ikev2_path` and `<its directory>/esp_sa`; logs the warning.
  /// nullptr with `error` set when a file cannot be opened.
  [[nodiscard]] static std::unique_ptr<WiresharkKeys> open(const std::string& ikev2_path, std::string* error);
  ~WiresharkKeys();
  WiresharkKeys(const WiresharkKeys&) = delete;
  WiresharkKeys& operator=(const WiresharkKeys&) = delete;

  /// Appends (and flushes) one line; false when the algorithm has no Wireshark name or the write failed.
  bool add_ike_sa(const IkeSaKeys& keys);
  bool add_esp_sa(const SaDescriptor& sa);

  [[nodiscard]] const std::string& ikev2_path() const noexcept { return ikev2_path_; }
  [[nodiscard]] const std::string& esp_path() const noexcept { return esp_path_; }

 private:
  WiresharkKeys(std::string ikev2_path, std::string esp_path, int ikev2_fd, int esp_fd);
  static bool append(int fd, const std::string& line);
  std::string ikev2_path_, esp_path_;
  int ikev2_fd_, esp_fd_;
};

}  // namespace esprit
