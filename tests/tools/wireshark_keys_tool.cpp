// wireshark_keys_tool: writes Wireshark keys files with the real writer (control/wireshark_keys.cpp)
// for tests/functional/ike_keys_tshark_test.py, which has tshark decrypt with them.
//   wireshark_keys_tool ike DIR cbc|gcm
//       appends the IKE SA's keys to DIR/ikev2_decryption_table and prints the hex of an IKE_AUTH
//       request (tests/support/ike_samples.cpp) built by the codec and sealed by SkCipher with them
//   wireshark_keys_tool esp DIR cbc|gcm SRC DST SPI ENCR_KEY_HEX [INTEG_KEY_HEX]
//       appends the outbound SA's line to DIR/esp_sa (cbc: AES-CBC-128 + HMAC-SHA1-96; gcm:
//       AES-GCM-128 with a 16-byte ICV, key | salt)
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <string>
#include <vector>

#include "esprit/common/sa_descriptor.hpp"
#include "esprit/control/ike/crypto/sk_cipher.hpp"
#include "esprit/control/ike/message.hpp"
#include "esprit/control/wireshark_keys.hpp"
#include "ike_samples.hpp"

using namespace esprit;

namespace {

int usage() {
  std::fprintf(stderr,
               "usage: wireshark_keys_tool ike DIR cbc|gcm\n"
               "       wireshark_keys_tool esp DIR cbc|gcm SRC DST SPI ENCR_KEY_HEX [INTEG_KEY_HEX]\n");
  return 2;
}

std::vector<uint8_t> unhex(const std::string& s) {
  std::vector<uint8_t> out;
  for (std::size_t i = 0; i + 1 < s.size(); i += 2) out.push_back(static_cast<uint8_t>(std::stoul(s.substr(i, 2), nullptr, 16)));
  return out;
}

int ike_case(const std::string& dir, bool gcm) {
  std::string err;
  auto keys = WiresharkKeys::open(dir + "/ikev2_decryption_table", &err);
  if (!keys) {
    std::fprintf(stderr, "%s\n", err.c_str());
    return 1;
  }
  // Keys: deterministic patterns (the file and the message must agree, nothing more).
  const EncrAlg encr = gcm ? EncrAlg::kAesGcm16_256 : EncrAlg::kAesCbc128;
  const IntegAlg integ = gcm ? IntegAlg::kNone : IntegAlg::kHmacSha256_128;
  const auto sk_ei = ike::test::pattern(gcm ? 36 : 16, 101), sk_er = ike::test::pattern(gcm ? 36 : 16, 102);
  const auto sk_ai = gcm ? std::vector<uint8_t>{} : ike::test::pattern(32, 103);
  const auto sk_ar = gcm ? std::vector<uint8_t>{} : ike::test::pattern(32, 104);
  ike::Message m;
  std::vector<ike::Payload> inner;
  for (const auto& s : ike::test::ike_samples())
    if (s.name == "ike_auth_request") {
      m.header = s.message.header;
      inner = s.inner;
    }
  if (inner.empty()) return 1;
  IkeSaKeys k{m.header.spi_i, m.header.spi_r, encr, sk_ei, sk_er, integ, sk_ai, sk_ar};
  if (!keys->add_ike_sa(k)) return 1;

  auto cipher = ike::SkCipher::create(encr, integ, SecretBytes(sk_ei), SecretBytes(sk_ai),
                                      ike::SystemRandom::instance(), &err);
  if (!cipher) {
    std::fprintf(stderr, "%s\n", err.c_str());
    return 1;
  }
  const auto plain = ike::encode_inner(inner);
  ike::EncryptedPayload sk;
  sk.inner_first = ike::payload_type(inner.front());
  sk.body.assign(cipher->body_size(plain.size()), 0);
  m.payloads.push_back(std::move(sk));
  auto wire = m.encode();
  const auto region = ike::Message::sk_region(wire);
  if (!region) return 1;
  if (cipher->seal(std::span<const uint8_t>(wire.data(), region->aad_length), plain,
                   std::span<uint8_t>(wire.data() + region->body_offset, region->body_length)) != ike::SkStatus::kOk)
    return 1;
  for (uint8_t b : wire) std::printf("%02x", b);
  std::printf("\n");
  return 0;
}

int esp_case(char** a, bool gcm) {
  std::string err;
  auto keys = WiresharkKeys::open(std::string(a[0]) + "/ikev2_decryption_table", &err);
  if (!keys) {
    std::fprintf(stderr, "%s\n", err.c_str());
    return 1;
  }
  SaDescriptor sa;
  sa.direction = SaDirection::kOutbound;
  sa.local = *IpAddress::parse(a[1]);
  sa.remote = *IpAddress::parse(a[2]);
  sa.spi = static_cast<uint32_t>(std::stoul(a[3], nullptr, 0));
  sa.encr = gcm ? EncrAlg::kAesGcm16_128 : EncrAlg::kAesCbc128;
  sa.encr_key = SecretBytes(unhex(a[4]));
  sa.integ = gcm ? IntegAlg::kNone : IntegAlg::kHmacSha1_96;
  if (!gcm && a[5]) sa.integ_key = SecretBytes(unhex(a[5]));
  return keys->add_esp_sa(sa) ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 4) return usage();
  const std::string what = argv[1], alg = argv[3];
  if (alg != "cbc" && alg != "gcm") return usage();
  if (what == "ike" && argc == 4) return ike_case(argv[2], alg == "gcm");
  if (what == "esp" && argc >= 8) {
    char* a[6] = {argv[2], argv[4], argv[5], argv[6], argv[7], argc > 8 ? argv[8] : nullptr};
    return esp_case(a, alg == "gcm");
  }
  return usage();
}
