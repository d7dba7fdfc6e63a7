#include <gtest/gtest.h>

#include "esprit/common/algorithms.hpp"
#include "esprit/common/sa_descriptor.hpp"

namespace esprit {
namespace {

TEST(Algorithms, NamesRoundTrip) {
  for (const auto& e : encr_algorithms()) EXPECT_EQ(encr_from_name(e.name), e.alg) << e.name;
  for (const auto& i : integ_algorithms()) EXPECT_EQ(integ_from_name(i.name), i.alg) << i.name;
  EXPECT_FALSE(encr_from_name("aes129"));
}

TEST(Algorithms, Ikev2IdsWithKeyLength) {
  // RFC 7296 3.3.2 / IANA: ENCR_AES_CBC = 12 with a key-length attribute; ENCR_AES_GCM_16 = 20.
  EXPECT_EQ(encr_from_ikev2(12, 256), EncrAlg::kAesCbc256);
  EXPECT_EQ(encr_from_ikev2(20, 128), EncrAlg::kAesGcm16_128);
  EXPECT_EQ(encr_from_ikev2(3, 0), EncrAlg::kTripleDesCbc);
  EXPECT_EQ(encr_from_ikev2(28, 0), EncrAlg::kChaCha20Poly1305);
  EXPECT_EQ(integ_from_ikev2(12), IntegAlg::kHmacSha256_128);
  EXPECT_FALSE(integ_from_ikev2(0));
}

TEST(Algorithms, Ikev2PrfAndDhIds) {
  // IANA "Transform Type 2" (RFC 7296 3.3.2, RFC 4434, RFC 4868) and "Transform Type 4".
  EXPECT_EQ(prf_from_ikev2(2), PrfAlg::kHmacSha1);
  EXPECT_EQ(prf_from_ikev2(4), PrfAlg::kAesXcbc128);
  EXPECT_EQ(prf_from_ikev2(5), PrfAlg::kHmacSha256);
  EXPECT_EQ(prf_from_ikev2(7), PrfAlg::kHmacSha512);
  EXPECT_FALSE(prf_from_ikev2(3));  // PRF_HMAC_TIGER is not implemented
  for (const auto& p : prf_algorithms()) EXPECT_EQ(prf_from_name(p.name), p.alg) << p.name;
  EXPECT_EQ(info(PrfAlg::kHmacSha384).key_len, 48);  // RFC 7296 2.13: preferred key = output length
  EXPECT_EQ(info(PrfAlg::kAesXcbc128).key_len, 16);
  ASSERT_NE(dh_from_ikev2(14), nullptr);
  EXPECT_EQ(dh_from_ikev2(14)->public_len, 256);
  EXPECT_EQ(dh_from_ikev2(21)->public_len, 132);  // RFC 5903 7: x | y, 66 bytes each
  EXPECT_EQ(dh_from_ikev2(21)->shared_len, 66);
  EXPECT_EQ(dh_from_ikev2(31)->public_len, 32);  // RFC 8031 2
  EXPECT_EQ(dh_from_ikev2(22), nullptr);
  for (const auto& d : dh_groups()) EXPECT_EQ(dh_from_name(d.name), &d) << d.name;
}

TEST(Algorithms, SizesFollowTheRfcs) {
  EXPECT_EQ(info(EncrAlg::kAesGcm16_256).keymat_len(), 36);  // RFC 4106 8.1: key + 4-byte salt
  EXPECT_EQ(info(EncrAlg::kChaCha20Poly1305).keymat_len(), 36);  // RFC 7634 2
  EXPECT_EQ(info(EncrAlg::kTripleDesCbc).iv_len, 8);
  EXPECT_EQ(info(IntegAlg::kHmacSha384_192).icv_len, 24);  // RFC 4868 2.3
  EXPECT_EQ(info(IntegAlg::kHmacSha512_256).key_len, 64);
  for (const auto& e : encr_algorithms()) EXPECT_GE(e.block_size, 4) << e.name;  // RFC 4303 2.4
}

TEST(SaDescriptor, ValidateNamesTheField) {
  SaDescriptor d;
  d.spi = 0x100;
  d.local = *IpAddress::parse("192.0.2.1");
  d.remote = *IpAddress::parse("192.0.2.2");
  d.encr = EncrAlg::kAesGcm16_128;
  d.encr_key = SecretBytes(std::vector<uint8_t>(20, 1));
  EXPECT_FALSE(d.validate());
  d.encr_key = SecretBytes(std::vector<uint8_t>(16, 1));
  ASSERT_TRUE(d.validate());
  EXPECT_NE(d.validate()->find("encr_key"), std::string::npos);
  d.encr_key = SecretBytes(std::vector<uint8_t>(20, 1));
  d.replay_window = 10000;
  EXPECT_NE(d.validate()->find("replay_window"), std::string::npos);
  d.replay_window = 4096;
  d.encr = EncrAlg::kAesCbc128;
  d.encr_key = SecretBytes(std::vector<uint8_t>(16, 1));
  EXPECT_NE(d.validate()->find("integ"), std::string::npos);  // CBC without integrity is refused
  d.remote = *IpAddress::parse("2001:db8::1");
  d.integ = IntegAlg::kHmacSha1_96;
  d.integ_key = SecretBytes(std::vector<uint8_t>(20, 1));
  EXPECT_NE(d.validate()->find("local/remote"), std::string::npos);
}

TEST(SecretBytes, ParsesHex) {
  SecretBytes s;
  ASSERT_TRUE(SecretBytes::from_hex("0x01:02:ab", s));
  ASSERT_EQ(s.size(), 3u);
  EXPECT_EQ(s.data()[2], 0xab);
  EXPECT_FALSE(SecretBytes::from_hex("0x012", s));
  EXPECT_FALSE(SecretBytes::from_hex("zz", s));
}

}  // namespace
}  // namespace esprit
