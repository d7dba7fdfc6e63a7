// IKE crypto: known answers from the RFCs and NIST CAVS, RFC 6989 rejections, SK payload
// protection round trips and tamper tests. Every vector names its source.
#include <gtest/gtest.h>
#include <openssl/bn.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "deterministic_random.hpp"
#include "esprit/control/ike/crypto/auth.hpp"
#include "esprit/control/ike/crypto/cookie.hpp"
#include "esprit/control/ike/crypto/dh.hpp"
#include "esprit/control/ike/crypto/kdf.hpp"
#include "esprit/control/ike/crypto/natd.hpp"
#include "esprit/control/ike/crypto/prf.hpp"
#include "esprit/control/ike/crypto/random.hpp"
#include "esprit/control/ike/crypto/sk_cipher.hpp"

namespace esprit::ike {
namespace {

using test::DeterministicRandom;

std::vector<uint8_t> hex(std::string_view s) {
  std::vector<uint8_t> out;
  int hi = -1;
  for (char c : s) {
    int v;
    if (c >= '0' && c <= '9') v = c - '0';
    else if (c >= 'a' && c <= 'f') v = c - 'a' + 10;
    else if (c >= 'A' && c <= 'F') v = c - 'A' + 10;
    else continue;  // spaces and line breaks as the RFCs print them
    if (hi < 0) {
      hi = v;
    } else {
      out.push_back(static_cast<uint8_t>(hi << 4 | v));
      hi = -1;
    }
  }
  return out;
}

std::string to_hex(std::span<const uint8_t> b) {
  static const char* d = "0123456789abcdef";
  std::string s;
  for (uint8_t x : b) {
    s += d[x >> 4];
    s += d[x & 15];
  }
  return s;
}

std::vector<uint8_t> bytes(std::string_view s) { return {s.begin(), s.end()}; }
std::vector<uint8_t> repeat(uint8_t v, std::size_t n) { return std::vector<uint8_t>(n, v); }
std::vector<uint8_t> counting(std::size_t n) {
  std::vector<uint8_t> v(n);
  for (std::size_t i = 0; i < n; ++i) v[i] = static_cast<uint8_t>(i);
  return v;
}
std::vector<uint8_t> cat(std::initializer_list<std::span<const uint8_t>> parts) {
  std::vector<uint8_t> out;
  for (auto p : parts) out.insert(out.end(), p.begin(), p.end());
  return out;
}

std::string prf_hex(PrfAlg alg, std::span<const uint8_t> key, std::span<const uint8_t> data) {
  return to_hex(Prf(alg)(key, {data}).span());
}

// ------------------------------------------------------------------------------------------------
// PRF known answers

TEST(IkePrf, HmacMd5AndSha1Rfc2202) {
  // RFC 2202 2 (HMAC-MD5) and 3 (HMAC-SHA-1), test cases 1, 2 and 6 (key longer than a block).
  EXPECT_EQ(prf_hex(PrfAlg::kHmacMd5, repeat(0x0b, 16), bytes("Hi There")), "9294727a3638bb1c13f48ef8158bfc9d");
  EXPECT_EQ(prf_hex(PrfAlg::kHmacMd5, bytes("Jefe"), bytes("what do ya want for nothing?")),
            "750c783e6ab0b503eaa86e310a5db738");
  EXPECT_EQ(prf_hex(PrfAlg::kHmacMd5, repeat(0xaa, 80), bytes("Test Using Larger Than Block-Size Key - Hash Key First")),
            "6b1ab7fe4bd7bf8f0b62e6ce61b9d0cd");
  EXPECT_EQ(prf_hex(PrfAlg::kHmacSha1, repeat(0x0b, 20), bytes("Hi There")),
            "b617318655057264e28bc0b6fb378c8ef146be00");
  EXPECT_EQ(prf_hex(PrfAlg::kHmacSha1, bytes("Jefe"), bytes("what do ya want for nothing?")),
            "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79");
  EXPECT_EQ(prf_hex(PrfAlg::kHmacSha1, repeat(0xaa, 80), bytes("Test Using Larger Than Block-Size Key - Hash Key First")),
            "aa4ae5e15272d00e95705637ce8a3b55ed402112");
}

TEST(IkePrf, HmacSha2Rfc4231) {
  // RFC 4231 4.2 (test case 1), 4.3 (test case 2), 4.7 (test case 6: 131-byte key).
  EXPECT_EQ(prf_hex(PrfAlg::kHmacSha256, repeat(0x0b, 20), bytes("Hi There")),
            "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
  EXPECT_EQ(prf_hex(PrfAlg::kHmacSha384, repeat(0x0b, 20), bytes("Hi There")),
            "afd03944d84895626b0825f4ab46907f15f9dadbe4101ec682aa034c7cebc59c"
            "faea9ea9076ede7f4af152e8b2fa9cb6");
  EXPECT_EQ(prf_hex(PrfAlg::kHmacSha512, repeat(0x0b, 20), bytes("Hi There")),
            "87aa7cdea5ef619d4ff0b4241a1d6cb02379f4e2ce4ec2787ad0b30545e17cde"
            "daa833b7d6b8a702038b274eaea3f4e4be9d914eeb61f1702e696c203a126854");
  EXPECT_EQ(prf_hex(PrfAlg::kHmacSha256, bytes("Jefe"), bytes("what do ya want for nothing?")),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
  EXPECT_EQ(prf_hex(PrfAlg::kHmacSha256, repeat(0xaa, 131), bytes("Test Using Larger Than Block-Size Key - Hash Key First")),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
}

TEST(IkePrf, AesXcbcMac96Rfc3566) {
  // RFC 3566 4, test cases 1-7: key 000102..0f, messages of 0, 3, 16, 20, 32, 34 and 1000 bytes.
  const auto key = counting(16);
  struct Case {
    std::vector<uint8_t> msg;
    const char* mac;
  };
  const Case cases[] = {
      {{}, "75f0251d528ac01c4573dfd584d79f29"},
      {counting(3), "5b376580ae2f19afe7219ceef172756f"},
      {counting(16), "d2a246fa349b68a79998a4394ff7a263"},
      {counting(20), "47f51b4564966215b8985c63055ed308"},
      {counting(32), "f54f0ec8d2b9f3d36807734bd5283fd4"},
      {counting(34), "becbb3bccdb518a30677d5481fb6b4d8"},
      {repeat(0, 1000), "f0dafee895db30253761103b5d84528f"},
  };
  for (const auto& c : cases) {
    uint8_t mac[16];
    ASSERT_TRUE(aes_xcbc_mac(key, {c.msg}, mac));
    EXPECT_EQ(to_hex(mac), c.mac) << c.msg.size() << " bytes";
    // The same MAC with the message split at every position (the streaming path).
    for (std::size_t cut = 0; cut <= c.msg.size() && c.msg.size() <= 34; ++cut) {
      uint8_t m2[16];
      ASSERT_TRUE(aes_xcbc_mac(key, {std::span(c.msg).first(cut), std::span(c.msg).subspan(cut)}, m2));
      EXPECT_EQ(to_hex(m2), c.mac) << "split at " << cut;
    }
  }
}

TEST(IkePrf, AesXcbcPrf128Rfc4434) {
  // RFC 4434 6: message 000102..13 (20 bytes) with keys of 16, 10 and 18 bytes.
  const auto msg = counting(20);
  EXPECT_EQ(prf_hex(PrfAlg::kAesXcbc128, counting(16), msg), "47f51b4564966215b8985c63055ed308");
  EXPECT_EQ(prf_hex(PrfAlg::kAesXcbc128, counting(10), msg), "0fa087af7d866e7653434e602fdde835");
  auto k18 = counting(16);
  k18.push_back(0xed);
  k18.push_back(0xcb);
  EXPECT_EQ(prf_hex(PrfAlg::kAesXcbc128, k18, msg), "8cd3c93ae598a9803006ffb67c40e9e4");
  // A 20-byte key (the length of a SHA-1 sized PSK) follows the same rule: K = XCBC(0^128, key).
  const auto k20 = counting(20);
  const SecretBytes condensed = Prf(PrfAlg::kAesXcbc128)(repeat(0, 16), {k20});
  EXPECT_EQ(prf_hex(PrfAlg::kAesXcbc128, k20, msg), prf_hex(PrfAlg::kAesXcbc128, condensed.span(), msg));
  EXPECT_NE(prf_hex(PrfAlg::kAesXcbc128, k20, msg), prf_hex(PrfAlg::kAesXcbc128, counting(16), msg));
}

TEST(IkePrf, PrfPlusIsTheRfcConstruction) {
  // RFC 7296 2.13: T1 = prf(K, S | 0x01), T2 = prf(K, T1 | S | 0x02), ...; checked against
  // OpenSSL's one-shot HMAC, independent of Prf.
  const auto key = counting(32);
  const auto seed = bytes("seed material");
  const SecretBytes out = Prf(PrfAlg::kHmacSha256).plus(key, {seed}, 70);
  ASSERT_EQ(out.size(), 70u);
  std::vector<uint8_t> expect;
  std::vector<uint8_t> t;
  for (uint8_t i = 1; expect.size() < 70; ++i) {
    std::vector<uint8_t> in = cat({t, seed});
    in.push_back(i);
    uint8_t md[32];
    unsigned int len = 0;
    HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()), in.data(), in.size(), md, &len);
    t.assign(md, md + 32);
    expect.insert(expect.end(), t.begin(), t.end());
  }
  expect.resize(70);
  EXPECT_EQ(to_hex(out.span()), to_hex(expect));
  // Split seeds give the same stream; 255 blocks is the limit.
  const SecretBytes split = Prf(PrfAlg::kHmacSha256).plus(key, {std::span(seed).first(4), std::span(seed).subspan(4)}, 70);
  EXPECT_EQ(to_hex(split.span()), to_hex(out.span()));
  EXPECT_EQ(Prf(PrfAlg::kHmacSha256).plus(key, {seed}, 255 * 32).size(), 255u * 32);
  EXPECT_TRUE(Prf(PrfAlg::kHmacSha256).plus(key, {seed}, 255 * 32 + 1).empty());
}

// ------------------------------------------------------------------------------------------------
// KDF known answers: NIST CAVS 12.0 SP 800-135 IKEv2 KDF test data (ikev2.rsp / .fax, [SHA-1],
// Ni and Nr 64 bits, g^ir 256 bits, DKM 1056 bits, COUNT = 0), as run and printed by libreswan's
// IKEv2 CAVS driver (programs/ikev2kdf CAVS tool, comment "./libreswan-ikev2-cavs -g 4b2c... -h 2").

struct CavsIkev2 {
  std::vector<uint8_t> gir = hex("4b2c1f971981a8ad8d0abeafabf38cf75fc8349c148142465ed9c8b516b8be52");
  std::vector<uint8_t> gir_new = hex("863f3c9d06efd39d2b907b97f8699e5dd5251ef64a2a176f36ee40c87d4f9330");
  std::vector<uint8_t> ni = hex("32b50d5f4a3763f3");
  std::vector<uint8_t> nr = hex("9206a04b26564cb1");
  uint64_t spi_i = 0x34c9e7c188868785ULL;
  uint64_t spi_r = 0x3ff77d760d2b2199ULL;
  std::string skeyseed = "a9a7b222b59f8f48645f28a1db5b5f5d7479cba7";
  std::string dkm =
      "a14293677cc80ff8f9cc0eee30d895da9d8f405666e30ef0dfcb63c634a46002a2a63080e514a062768b76606f9fa5e9"
      "92204fc5a670bde3f10d6b027113936a5c55b648a194ae587b0088d52204b702c979fa280870d2ed41efa9c549fd1119"
      "8af1670b143d384bd275c5f594cf266b05ebadca855e4249520a441a81157435a7a56cc4";
  std::string dkm_child =
      "8059e3ee8810e6c3a91bc8bcd2a7a41151b8d0e6ae239c7b38093ad85ef4c5811a8e7b5d1cdabd9560b2d5e092d1f24e"
      "2d4b85eccdf0ad0dc9abd94b51ee71814ca6dbc8bb51b6309f5b9545c7eb35cf5580b1e521a8fe20754a2d883ba0c2cf"
      "285f524aea6545b33106bc03e614296d319d41d4b50b3f510b1c0a22f3e664994d234cb4";
  std::string dkm_child_dh =
      "bb43244c1860ad65ee1e211ffe8bb3661750c8f89cb9f547df7f4fa61d37301628190e38c66232eab4b3ab14c400a519"
      "7dd3730ed4820a8a10394d51e1c0400052f63ebd36b0e7ef53aaed31eba4a5080d7d4b5666023a8bbb5ffb7857240f9a"
      "05884d1b7d2f933708450b7b3288f1fc863ab49fa901227cffc06e27899c7054d56fd74c";
  std::string skeyseed_rekey = "63e81194946ebd05df7df5ebf5d8750056bf1f1d";
};

TEST(IkeKdf, CavsSkeyseedAndPrfPlus) {
  const CavsIkev2 v;
  const SecretBytes seed = skeyseed(PrfAlg::kHmacSha1, v.ni, v.nr, v.gir);
  EXPECT_EQ(to_hex(seed.span()), v.skeyseed);
  uint8_t spis[16];
  for (int i = 0; i < 8; ++i) spis[i] = static_cast<uint8_t>(v.spi_i >> (8 * (7 - i)));
  for (int i = 0; i < 8; ++i) spis[8 + i] = static_cast<uint8_t>(v.spi_r >> (8 * (7 - i)));
  const SecretBytes dkm = Prf(PrfAlg::kHmacSha1).plus(seed.span(), {v.ni, v.nr, std::span<const uint8_t>(spis)}, 132);
  EXPECT_EQ(to_hex(dkm.span()), v.dkm);
  const auto sk_d = dkm.span().first(20);
  EXPECT_EQ(to_hex(Prf(PrfAlg::kHmacSha1).plus(sk_d, {v.ni, v.nr}, 132).span()), v.dkm_child);
  EXPECT_EQ(to_hex(Prf(PrfAlg::kHmacSha1).plus(sk_d, {v.gir_new, v.ni, v.nr}, 132).span()), v.dkm_child_dh);
  EXPECT_EQ(to_hex(skeyseed_rekey(PrfAlg::kHmacSha1, sk_d, v.gir_new, v.ni, v.nr).span()), v.skeyseed_rekey);
}

TEST(IkeKdf, CavsSplitIntoTheSevenKeys) {
  // prf-hmac-sha1 + aes128-cbc + hmac-sha1-96 needs 3*20 + 2*20 + 2*16 = 132 bytes: the CAVS DKM.
  const CavsIkev2 v;
  const IkeSaTransforms t{PrfAlg::kHmacSha1, EncrAlg::kAesCbc128, IntegAlg::kHmacSha1_96};
  ASSERT_EQ(ike_sa_keymat_len(t), 132u);
  const SecretBytes seed = skeyseed(PrfAlg::kHmacSha1, v.ni, v.nr, v.gir);
  const IkeSaKeys k = derive_ike_sa_keys(t, seed.span(), v.ni, v.nr, v.spi_i, v.spi_r);
  // RFC 7296 2.14 order: SK_d | SK_ai | SK_ar | SK_ei | SK_er | SK_pi | SK_pr.
  const std::string all = to_hex(k.sk_d.span()) + to_hex(k.sk_ai.span()) + to_hex(k.sk_ar.span()) +
                          to_hex(k.sk_ei.span()) + to_hex(k.sk_er.span()) + to_hex(k.sk_pi.span()) +
                          to_hex(k.sk_pr.span());
  EXPECT_EQ(all, v.dkm);
  EXPECT_EQ(k.sk_ei.size(), 16u);
  EXPECT_EQ(k.sk_pr.size(), 20u);

  // Child SA KEYMAT (RFC 7296 2.17): encr_i | integ_i | encr_r | integ_r, with and without PFS.
  const ChildSaKeys c = derive_child_sa_keys(PrfAlg::kHmacSha1, k.sk_d.span(), EncrAlg::kAesCbc128,
                                             IntegAlg::kHmacSha1_96, {}, v.ni, v.nr);
  EXPECT_EQ(to_hex(c.encr_i.span()) + to_hex(c.integ_i.span()) + to_hex(c.encr_r.span()) + to_hex(c.integ_r.span()),
            v.dkm_child.substr(0, 2 * 72));
  const ChildSaKeys p = derive_child_sa_keys(PrfAlg::kHmacSha1, k.sk_d.span(), EncrAlg::kAesCbc128,
                                             IntegAlg::kHmacSha1_96, v.gir_new, v.ni, v.nr);
  EXPECT_EQ(to_hex(p.encr_i.span()) + to_hex(p.integ_i.span()) + to_hex(p.encr_r.span()) + to_hex(p.integ_r.span()),
            v.dkm_child_dh.substr(0, 2 * 72));
}

TEST(IkeKdf, KeyLengthsFollowTheTransforms) {
  const std::vector<uint8_t> ni = repeat(1, 32), nr = repeat(2, 32), gir = repeat(3, 256);
  const SecretBytes seed = skeyseed(PrfAlg::kHmacSha256, ni, nr, gir);
  ASSERT_EQ(seed.size(), 32u);
  // AES-GCM-16-256: 32-byte key + 4-byte salt (RFC 5282 7.1), no integrity keys.
  const IkeSaKeys g = derive_ike_sa_keys({PrfAlg::kHmacSha384, EncrAlg::kAesGcm16_256, IntegAlg::kNone}, seed.span(),
                                         ni, nr, 1, 2);
  EXPECT_EQ(g.sk_d.size(), 48u);
  EXPECT_TRUE(g.sk_ai.empty());
  EXPECT_EQ(g.sk_ei.size(), 36u);
  EXPECT_EQ(g.sk_pi.size(), 48u);
  // ChaCha20-Poly1305: 32 + 4 (RFC 7634 3).
  const ChildSaKeys c = derive_child_sa_keys(PrfAlg::kHmacSha256, g.sk_d.span(), EncrAlg::kChaCha20Poly1305,
                                             IntegAlg::kNone, {}, ni, nr);
  EXPECT_EQ(c.encr_i.size(), 36u);
  EXPECT_TRUE(c.integ_i.empty());
  EXPECT_NE(to_hex(c.encr_i.span()), to_hex(c.encr_r.span()));
  // 3DES + HMAC-SHA2-512-256 with an XCBC PRF: SK_d is 16 bytes (RFC 4434).
  const IkeSaKeys x = derive_ike_sa_keys({PrfAlg::kAesXcbc128, EncrAlg::kTripleDesCbc, IntegAlg::kHmacSha512_256},
                                         seed.span(), ni, nr, 1, 2);
  EXPECT_EQ(x.sk_d.size(), 16u);
  EXPECT_EQ(x.sk_ai.size(), 64u);
  EXPECT_EQ(x.sk_ei.size(), 24u);
}

TEST(IkeKdf, XcbcSkeyseedUsesSixtyFourBitsOfEachNonce) {
  // RFC 7296 2.14: with AES-XCBC-PRF-128 the key is the first 8 bytes of Ni | the first 8 of Nr.
  const auto ni = counting(32);
  const auto nr = repeat(0x5a, 32);
  const auto gir = repeat(7, 32);
  const auto key = cat({std::span(ni).first(8), std::span(nr).first(8)});
  EXPECT_EQ(to_hex(skeyseed(PrfAlg::kAesXcbc128, ni, nr, gir).span()), prf_hex(PrfAlg::kAesXcbc128, key, gir));
  EXPECT_TRUE(skeyseed(PrfAlg::kAesXcbc128, std::span(ni).first(7), nr, gir).empty());
}

// ------------------------------------------------------------------------------------------------
// Diffie-Hellman

std::vector<uint8_t> derive_ok(const DhGroup& g, std::span<const uint8_t> peer) {
  SecretBytes s;
  const DhStatus st = g.derive(peer, s);
  EXPECT_EQ(st, DhStatus::kOk) << to_string(st);
  return {s.span().begin(), s.span().end()};
}

TEST(IkeDh, EveryGroupAgreesWithItself) {
  DeterministicRandom rng(1);
  for (const DhInfo& info : dh_groups()) {
    auto a = DhGroup::create(info.ikev2_id);
    auto b = DhGroup::create(info.ikev2_id);
    ASSERT_TRUE(a && b) << info.name;
    ASSERT_TRUE(a->generate(rng) && b->generate(rng)) << info.name;
    EXPECT_EQ(a->public_value().size(), info.public_len) << info.name;
    EXPECT_EQ(a->check_peer(b->public_value()), DhStatus::kOk) << info.name;
    const auto s1 = derive_ok(*a, b->public_value());
    const auto s2 = derive_ok(*b, a->public_value());
    EXPECT_EQ(s1.size(), info.shared_len) << info.name;
    EXPECT_EQ(to_hex(s1), to_hex(s2)) << info.name;
    EXPECT_NE(to_hex(a->public_value()), to_hex(b->public_value())) << info.name;
  }
  EXPECT_FALSE(DhGroup::create(22));  // RFC 5114 groups are not offered
  EXPECT_FALSE(DhGroup::create(0));
}

TEST(IkeDh, DeterministicSourceGivesTheSameKeys) {
  DeterministicRandom r1(42), r2(42);
  auto a = DhGroup::create(19), b = DhGroup::create(19);
  ASSERT_TRUE(a->generate(r1) && b->generate(r2));
  EXPECT_EQ(to_hex(a->public_value()), to_hex(b->public_value()));
  DeterministicRandom broken(1);
  broken.fail_from_now_on();
  auto c = DhGroup::create(14);
  EXPECT_FALSE(c->generate(broken));
  SecretBytes s;
  EXPECT_EQ(c->derive(a->public_value(), s), DhStatus::kNoKey);
}

struct EcpVector {
  uint16_t group;
  const char* i;
  const char* gix_giy;
  const char* r;
  const char* girx;
};

TEST(IkeDh, EcpRfc5903) {
  // RFC 5903 8.1 (256-bit), 8.2 (384-bit), 8.3 (521-bit): i, g^i = gix | giy, r, and g^ir's x.
  const EcpVector vectors[] = {
      {19, "C88F01F510D9AC3F70A292DAA2316DE544E9AAB8AFE84049C62A9C57862D1433",
       "DAD0B65394221CF9B051E1FECA5787D098DFE637FC90B9EF945D0C3772581180"
       "5271A0461CDB8252D61F1C456FA3E59AB1F45B33ACCF5F58389E0577B8990BB3",
       "C6EF9C5D78AE012A011164ACB397CE2088685D8F06BF9BE0B283AB46476BEE53",
       "D6840F6B42F6EDAFD13116E0E12565202FEF8E9ECE7DCE03812464D04B9442DE"},
      {20,
       "099F3C7034D4A2C699884D73A375A67F7624EF7C6B3C0F160647B67414DCE655E35B538041E649EE3FAEF896783AB194",
       "667842D7D180AC2CDE6F74F37551F55755C7645C20EF73E31634FE72B4C55EE6DE3AC808ACB4BDB4C88732AEE95F41AA"
       "9482ED1FC0EEB9CAFC4984625CCFC23F65032149E0E144ADA024181535A0F38EEB9FCFF3C2C947DAE69B4C634573A81C",
       "41CB0779B4BDB85D47846725FBEC3C9430FAB46CC8DC5060855CC9BDA0AA2942E0308312916B8ED2960E4BD55A7448FC",
       "11187331C279962D93D604243FD592CB9D0A926F422E47187521287E7156C5C4D603135569B9E9D09CF5D4A270F59746"},
      {21,
       "0037ADE9319A89F4DABDB3EF411AACCCA5123C61ACAB57B5393DCE47608172A095AA85A30FE1C2952C6771D937BA9777"
       "F5957B2639BAB072462F68C27A57382D4A52",
       "0015417E84DBF28C0AD3C278713349DC7DF153C897A1891BD98BAB4357C9ECBEE1E3BF42E00B8E380AEAE57C2D107564"
       "941885942AF5A7F4601723C4195D176CED3E"
       "017CAE20B6641D2EEB695786D8C946146239D099E18E1D5A514C739D7CB4A10AD8A788015AC405D7799DC75E7B7D5B6C"
       "F2261A6A7F1507438BF01BEB6CA3926F9582",
       "0145BA99A847AF43793FDD0E872E7CDFA16BE30FDC780F97BCCC3F078380201E9C677D600B343757A3BDBF2A3163E4C2"
       "F869CCA7458AA4A4EFFC311F5CB151685EB9",
       "01144C7D79AE6956BC8EDB8E7C787C4521CB086FA64407F97894E5E6B2D79B04D1427E73CA4BAA240A34786859810C06"
       "B3C715A3A8CC3151F2BEE417996D19F3DDEA"},
  };
  for (const auto& v : vectors) {
    auto i = DhGroup::create(v.group), r = DhGroup::create(v.group);
    ASSERT_TRUE(i->set_private_key(hex(v.i)) && r->set_private_key(hex(v.r))) << v.group;
    EXPECT_EQ(to_hex(i->public_value()), to_hex(hex(v.gix_giy))) << v.group;
    EXPECT_EQ(to_hex(derive_ok(*i, r->public_value())), to_hex(hex(v.girx))) << v.group;
    EXPECT_EQ(to_hex(derive_ok(*r, i->public_value())), to_hex(hex(v.girx))) << v.group;
  }
}

TEST(IkeDh, X25519Rfc7748) {
  // RFC 7748 6.1 (also RFC 8031's reference): Alice's and Bob's keys and the shared secret K.
  auto a = DhGroup::create(31), b = DhGroup::create(31);
  ASSERT_TRUE(a->set_private_key(hex("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a")));
  ASSERT_TRUE(b->set_private_key(hex("5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb")));
  EXPECT_EQ(to_hex(a->public_value()), "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a");
  EXPECT_EQ(to_hex(b->public_value()), "de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f");
  EXPECT_EQ(to_hex(derive_ok(*a, b->public_value())), "4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742");
  EXPECT_EQ(to_hex(derive_ok(*b, a->public_value())), "4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742");
}

TEST(IkeDh, X25519RefusesLowOrderPoints) {
  // RFC 8031 2.3 / RFC 7748 6.1: the all-zero shared secret means a low-order peer point.
  auto a = DhGroup::create(31);
  DeterministicRandom rng(3);
  ASSERT_TRUE(a->generate(rng));
  SecretBytes s;
  EXPECT_EQ(a->derive(repeat(0, 32), s), DhStatus::kZeroSecret);  // u = 0
  EXPECT_TRUE(s.empty());
  auto one = repeat(0, 32);
  one[0] = 1;  // u = 1 (little-endian), order 4
  EXPECT_EQ(a->derive(one, s), DhStatus::kZeroSecret);
  EXPECT_EQ(a->derive(repeat(9, 31), s), DhStatus::kBadLength);
}

std::vector<uint8_t> bn_bytes(const BIGNUM* b, int len) {
  std::vector<uint8_t> out(static_cast<std::size_t>(len));
  BN_bn2binpad(b, out.data(), len);
  return out;
}

TEST(IkeDh, ModpRfc6989Rejections) {
  // RFC 6989 2.1: 1 < y < p-1. Checked for groups 2 and 14 with the RFC 2409 / RFC 3526 primes.
  for (uint16_t group : {uint16_t{2}, uint16_t{14}}) {
    auto g = DhGroup::create(group);
    DeterministicRandom rng(group);
    ASSERT_TRUE(g->generate(rng));
    const std::size_t len = g->info().public_len;
    BIGNUM* p = group == 2 ? BN_get_rfc2409_prime_1024(nullptr) : BN_get_rfc3526_prime_2048(nullptr);
    BIGNUM* v = BN_dup(p);
    const auto p_bytes = bn_bytes(p, static_cast<int>(len));
    BN_sub_word(v, 1);
    const auto pm1 = bn_bytes(v, static_cast<int>(len));
    BN_sub_word(v, 1);
    const auto pm2 = bn_bytes(v, static_cast<int>(len));
    BN_free(v);
    BN_free(p);
    auto one = repeat(0, len);
    one[len - 1] = 1;
    auto two = repeat(0, len);
    two[len - 1] = 2;
    SecretBytes s;
    for (const auto& bad : {repeat(0, len), one, pm1, p_bytes, repeat(0xff, len)}) {
      EXPECT_EQ(g->check_peer(bad), DhStatus::kInvalidPublic) << group;
      EXPECT_EQ(g->derive(bad, s), DhStatus::kInvalidPublic) << group;
      EXPECT_TRUE(s.empty());
    }
    EXPECT_EQ(g->check_peer(two), DhStatus::kOk);  // the generator itself is a fine public value
    EXPECT_EQ(g->check_peer(pm2), DhStatus::kOk);
    EXPECT_EQ(g->derive(repeat(1, len - 1), s), DhStatus::kBadLength);
    EXPECT_EQ(g->derive(repeat(1, len + 1), s), DhStatus::kBadLength);
  }
}

TEST(IkeDh, EcpRfc6989Rejections) {
  // RFC 6989 2.3 / RFC 5903 7: the peer's point must be on the curve; coordinates below p.
  for (uint16_t group : {uint16_t{19}, uint16_t{20}, uint16_t{21}}) {
    auto a = DhGroup::create(group), b = DhGroup::create(group);
    DeterministicRandom rng(group);
    ASSERT_TRUE(a->generate(rng) && b->generate(rng));
    const std::size_t len = a->info().public_len;
    auto off = std::vector<uint8_t>(b->public_value().begin(), b->public_value().end());
    off.back() ^= 1;  // y changed: not on the curve
    SecretBytes s;
    EXPECT_EQ(a->check_peer(off), DhStatus::kInvalidPublic) << group;
    EXPECT_EQ(a->derive(off, s), DhStatus::kInvalidPublic) << group;
    EXPECT_EQ(a->derive(repeat(0, len), s), DhStatus::kInvalidPublic) << group;     // (0, 0)
    EXPECT_EQ(a->derive(repeat(0xff, len), s), DhStatus::kInvalidPublic) << group;  // x, y >= p
    EXPECT_EQ(a->derive(repeat(0, len - 1), s), DhStatus::kBadLength) << group;
    EXPECT_TRUE(s.empty());
  }
  // A point given with x + p (same residue, out of range) is refused, not reduced: P-256's p.
  auto a = DhGroup::create(19), b = DhGroup::create(19);
  DeterministicRandom rng(9);
  ASSERT_TRUE(a->generate(rng) && b->generate(rng));
  const auto pub = b->public_value();
  BIGNUM* x = BN_bin2bn(pub.data(), 32, nullptr);
  BIGNUM* p = BN_new();
  BN_hex2bn(&p, "FFFFFFFF00000001000000000000000000000000FFFFFFFFFFFFFFFFFFFFFFFF");  // FIPS 186-4 D.1.2.3
  BN_add(x, x, p);
  if (BN_num_bytes(x) <= 32) {  // only when x + p still fits the 32-byte field
    auto bad = std::vector<uint8_t>(pub.begin(), pub.end());
    BN_bn2binpad(x, bad.data(), 32);
    SecretBytes s;
    EXPECT_EQ(a->derive(bad, s), DhStatus::kInvalidPublic);
  }
  BN_free(x);
  BN_free(p);
}

// ------------------------------------------------------------------------------------------------
// SK payload protection

struct SkCase {
  EncrAlg encr;
  IntegAlg integ;
};

class SkCipherTest : public ::testing::TestWithParam<SkCase> {};

std::pair<std::unique_ptr<SkCipher>, std::unique_ptr<SkCipher>> make_pair_of(const SkCase& c, RandomSource& rng) {
  DeterministicRandom keys(77);
  SecretBytes ek = SecretBytes::zeroed(info(c.encr).keymat_len());
  SecretBytes ak = SecretBytes::zeroed(info(c.integ).key_len);
  EXPECT_TRUE(keys.fill(ek.mutable_span()) && keys.fill(ak.mutable_span()));
  std::string err;
  auto tx = SkCipher::create(c.encr, c.integ, ek, ak, rng, &err);
  EXPECT_TRUE(tx) << err;
  auto rx = SkCipher::create(c.encr, c.integ, ek, ak, rng, &err);
  return {std::move(tx), std::move(rx)};
}

TEST_P(SkCipherTest, RoundTripsEveryLength) {
  DeterministicRandom rng(5);
  auto [tx, rx] = make_pair_of(GetParam(), rng);
  ASSERT_TRUE(tx && rx);
  const auto aad = counting(32);  // stands for IKE header (28) + SK generic header (4)
  for (std::size_t n = 0; n <= 70; ++n) {
    const auto pt = repeat(static_cast<uint8_t>(n), n);
    std::vector<uint8_t> body(tx->body_size(n));
    ASSERT_EQ(tx->seal(aad, pt, body), SkStatus::kOk) << n;
    const std::size_t ct = body.size() - tx->iv_len() - tx->icv_len();
    const std::size_t block = tx->aead() ? 1 : info(GetParam().encr).block_size;
    EXPECT_EQ(ct % block, 0u);
    EXPECT_LT(ct - n - 1, block);  // minimal padding (RFC 7296 3.14)
    std::vector<uint8_t> out;
    ASSERT_EQ(rx->open(aad, body, out), SkStatus::kOk) << n;
    EXPECT_EQ(out, pt);
    std::vector<uint8_t> wrong(tx->body_size(n) + 1);
    EXPECT_EQ(tx->seal(aad, pt, wrong), SkStatus::kBadBuffer);
  }
}

TEST_P(SkCipherTest, EveryFlippedBitIsRejected) {
  DeterministicRandom rng(6);
  auto [tx, rx] = make_pair_of(GetParam(), rng);
  ASSERT_TRUE(tx && rx);
  auto aad = counting(32);
  const auto pt = bytes("inner payload chain");
  std::vector<uint8_t> body(tx->body_size(pt.size()));
  ASSERT_EQ(tx->seal(aad, pt, body), SkStatus::kOk);
  std::vector<uint8_t> out;
  for (std::size_t i = 0; i < body.size() * 8; ++i) {
    body[i / 8] ^= static_cast<uint8_t>(1u << (i % 8));
    EXPECT_EQ(rx->open(aad, body, out), SkStatus::kRejected) << "body bit " << i;
    EXPECT_TRUE(out.empty());
    body[i / 8] ^= static_cast<uint8_t>(1u << (i % 8));
  }
  for (std::size_t i = 0; i < aad.size() * 8; ++i) {
    aad[i / 8] ^= static_cast<uint8_t>(1u << (i % 8));
    EXPECT_EQ(rx->open(aad, body, out), SkStatus::kRejected) << "aad bit " << i;
    aad[i / 8] ^= static_cast<uint8_t>(1u << (i % 8));
  }
  // Truncated or extended bodies, and a shorter AAD (the length the ICV covers changed).
  EXPECT_EQ(rx->open(aad, std::span(body).first(body.size() - 1), out), SkStatus::kRejected);
  auto longer = body;
  longer.push_back(0);
  EXPECT_EQ(rx->open(aad, longer, out), SkStatus::kRejected);
  EXPECT_EQ(rx->open(std::span(aad).first(31), body, out), SkStatus::kRejected);
  EXPECT_EQ(rx->open(aad, std::span(body).first(3), out), SkStatus::kRejected);
  ASSERT_EQ(rx->open(aad, body, out), SkStatus::kOk);
  EXPECT_EQ(out, pt);
}

TEST_P(SkCipherTest, IvsNeverRepeat) {
  DeterministicRandom rng(8);
  auto [tx, rx] = make_pair_of(GetParam(), rng);
  ASSERT_TRUE(tx);
  std::vector<std::string> ivs;
  const auto aad = counting(32);
  const auto pt = bytes("x");
  for (int i = 0; i < 50; ++i) {
    std::vector<uint8_t> body(tx->body_size(1));
    ASSERT_EQ(tx->seal(aad, pt, body), SkStatus::kOk);
    ivs.push_back(to_hex(std::span(body).first(tx->iv_len())));
  }
  std::sort(ivs.begin(), ivs.end());
  EXPECT_EQ(std::adjacent_find(ivs.begin(), ivs.end()), ivs.end());
}

INSTANTIATE_TEST_SUITE_P(
    Algorithms, SkCipherTest,
    ::testing::Values(SkCase{EncrAlg::kAesCbc128, IntegAlg::kHmacSha1_96},
                      SkCase{EncrAlg::kAesCbc192, IntegAlg::kHmacSha256_128},
                      SkCase{EncrAlg::kAesCbc256, IntegAlg::kHmacSha384_192},
                      SkCase{EncrAlg::kAesCbc256, IntegAlg::kHmacSha512_256},
                      SkCase{EncrAlg::kTripleDesCbc, IntegAlg::kHmacMd5_96},
                      SkCase{EncrAlg::kTripleDesCbc, IntegAlg::kHmacSha1_96},
                      SkCase{EncrAlg::kAesCbc128, IntegAlg::kAesXcbc96},
                      SkCase{EncrAlg::kAesCbc256, IntegAlg::kAesXcbc96},
                      SkCase{EncrAlg::kAesGcm16_128, IntegAlg::kNone}, SkCase{EncrAlg::kAesGcm16_192, IntegAlg::kNone},
                      SkCase{EncrAlg::kAesGcm16_256, IntegAlg::kNone}, SkCase{EncrAlg::kAesGcm8_128, IntegAlg::kNone},
                      SkCase{EncrAlg::kAesGcm12_256, IntegAlg::kNone},
                      SkCase{EncrAlg::kChaCha20Poly1305, IntegAlg::kNone}),
    [](const ::testing::TestParamInfo<SkCase>& p) {
      std::string n = std::string(esprit::info(p.param.encr).name) + "_" + std::string(esprit::info(p.param.integ).name);
      return n;
    });

TEST(SkCipher, RefusesUnusableTransforms) {
  DeterministicRandom rng(1);
  std::string err;
  EXPECT_FALSE(SkCipher::create(EncrAlg::kNull, IntegAlg::kHmacSha1_96, {}, SecretBytes::zeroed(20), rng, &err));
  EXPECT_NE(err.find("null"), std::string::npos);
  EXPECT_FALSE(SkCipher::create(EncrAlg::kAesGcm16_128, IntegAlg::kHmacSha1_96, SecretBytes::zeroed(20),
                                SecretBytes::zeroed(20), rng, &err));
  EXPECT_FALSE(SkCipher::create(EncrAlg::kAesCbc128, IntegAlg::kNone, SecretBytes::zeroed(16), {}, rng, &err));
  EXPECT_FALSE(SkCipher::create(EncrAlg::kAesCbc128, IntegAlg::kHmacSha1_96, SecretBytes::zeroed(15),
                                SecretBytes::zeroed(20), rng, &err));
  EXPECT_NE(err.find("SK_e"), std::string::npos);
  EXPECT_FALSE(SkCipher::create(EncrAlg::kAesGcm16_128, IntegAlg::kNone, SecretBytes::zeroed(16), {}, rng, &err));
}

TEST(SkCipher, CbcRandomFailureIsReported) {
  DeterministicRandom rng(1);
  auto tx = SkCipher::create(EncrAlg::kAesCbc128, IntegAlg::kHmacSha256_128, SecretBytes::zeroed(16),
                             SecretBytes::zeroed(32), rng);
  ASSERT_TRUE(tx);
  rng.fail_from_now_on();
  std::vector<uint8_t> body(tx->body_size(4));
  EXPECT_EQ(tx->seal(counting(32), counting(4), body), SkStatus::kInternal);
}

TEST(SkCipher, AesXcbc96IcvIsTheRfc3566MacOfHeaderIvAndCiphertext) {
  // AUTH_AES_XCBC_96 (RFC 7296 3.3.2 transform 5, RFC 3566): ICV = the first 96 bits of
  // AES-XCBC-MAC(SK_a, aad | IV | ciphertext) (RFC 7296 3.14). aes_xcbc_mac() itself is pinned by
  // the RFC 3566 4 vectors above; here the RFC 3566 test-case key 000102..0f as SK_a.
  DeterministicRandom rng(9);
  const auto ak = counting(16);
  SecretBytes ek(repeat(0x42, 16));
  auto tx = SkCipher::create(EncrAlg::kAesCbc128, IntegAlg::kAesXcbc96, ek, SecretBytes(ak), rng);
  auto rx = SkCipher::create(EncrAlg::kAesCbc128, IntegAlg::kAesXcbc96, ek, SecretBytes(ak), rng);
  ASSERT_TRUE(tx && rx);
  EXPECT_EQ(tx->icv_len(), 12u);
  const auto aad = counting(32);
  for (std::size_t n : {0u, 15u, 16u, 33u}) {
    std::vector<uint8_t> body(tx->body_size(n));
    ASSERT_EQ(tx->seal(aad, repeat(7, n), body), SkStatus::kOk);
    uint8_t mac[16];
    const auto signed_part = std::span<const uint8_t>(body).first(body.size() - 12);
    ASSERT_TRUE(aes_xcbc_mac(ak, {aad, signed_part}, mac));
    EXPECT_EQ(to_hex(std::span<const uint8_t>(mac, 12)), to_hex(std::span<const uint8_t>(body).last(12))) << n;
    std::vector<uint8_t> out;
    EXPECT_EQ(rx->open(aad, body, out), SkStatus::kOk);
    EXPECT_EQ(out, repeat(7, n));
  }
  // SK_a must be the 128-bit key of RFC 3566 2.1.
  std::string err;
  EXPECT_FALSE(SkCipher::create(EncrAlg::kAesCbc128, IntegAlg::kAesXcbc96, ek, SecretBytes(repeat(1, 20)), rng, &err));
  EXPECT_NE(err.find("aesxcbc"), std::string::npos) << err;
  // IKE SA keys for it: SK_ai/SK_ar 16 bytes.
  const IkeSaKeys k = derive_ike_sa_keys({PrfAlg::kAesXcbc128, EncrAlg::kAesCbc128, IntegAlg::kAesXcbc96},
                                         repeat(3, 16), repeat(1, 16), repeat(2, 16), 1, 2);
  EXPECT_EQ(k.sk_ai.size(), 16u);
  EXPECT_EQ(k.sk_d.size(), 16u);
}

TEST(SkCipher, AesGcmKnownAnswer) {
  // The GCM specification (McGrew & Viega, "The Galois/Counter Mode of Operation", test case 4),
  // the same primitive draft-mcgrew-gcm-test-01 applies to ESP: K = feffe992..., IV = cafebabe
  // facedbaddecaf888 (salt | 8-byte IV as RFC 5282 splits it), A = feedface... (20 bytes).
  // Its 60-byte plaintext ends in 0x39: read as IKE padding that is a pad length of 57, so open()
  // must return the first 2 bytes.
  DeterministicRandom rng(1);
  SecretBytes key(hex("feffe9928665731c6d6a8f9467308308" "cafebabe"));
  auto rx = SkCipher::create(EncrAlg::kAesGcm16_128, IntegAlg::kNone, key, {}, rng);
  ASSERT_TRUE(rx);
  const auto aad = hex("feedfacedeadbeeffeedfacedeadbeefabaddad2");
  const auto body = hex(
      "facedbaddecaf888"
      "42831ec2217774244b7221b784d0d49ce3aa212f2c02a4e035c17e2329aca12e21d514b25466931c7d8f6a5aac84aa05"
      "1ba30b396a0aac973d58e091"
      "5bc94fbc3221a5db94fae95ae7121a47");
  std::vector<uint8_t> out;
  ASSERT_EQ(rx->open(aad, body, out), SkStatus::kOk);
  EXPECT_EQ(to_hex(out), "d931");
}

TEST(SkCipher, ChaCha20Poly1305KnownAnswer) {
  // RFC 8439 2.8.2 (the AEAD RFC 7634 uses): key 80..9f, nonce 07000000 | 4041424344454647 (salt |
  // IV as RFC 7634 2 builds it), AAD 50515253c0c1c2c3c4c5c6c7. The plaintext ends in '.' (0x2e):
  // as IKE padding that is a pad length of 46, so 114 - 47 = 67 bytes come out.
  DeterministicRandom rng(1);
  SecretBytes key(cat({counting(32), hex("07000000")}));
  for (std::size_t i = 0; i < 32; ++i) key.mutable_data()[i] = static_cast<uint8_t>(0x80 + i);
  auto rx = SkCipher::create(EncrAlg::kChaCha20Poly1305, IntegAlg::kNone, key, {}, rng);
  ASSERT_TRUE(rx);
  const auto aad = hex("50515253c0c1c2c3c4c5c6c7");
  const auto body = hex(
      "4041424344454647"
      "d31a8d34648e60db7b86afbc53ef7ec2a4aded51296e08fea9e2b5a736ee62d63dbea45e8ca9671282fafb69da92728b"
      "1a71de0a9e060b2905d6a5b67ecd3b3692ddbd7f2d778b8c9803aee328091b58fab324e4fad675945585808b4831d7bc"
      "3ff4def08e4b7a9de576d26586cec64b6116"
      "1ae10b594f09e26a7e902ecbd0600691");
  std::vector<uint8_t> out;
  ASSERT_EQ(rx->open(aad, body, out), SkStatus::kOk);
  const std::string text = "Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the future";
  EXPECT_EQ(std::string(out.begin(), out.end()), text.substr(0, 67));
}

// Real IKE messages with their SK keys, from AOSP's IKE library tests (packages/modules/IPsec,
// tests/iketests/.../ike/message/IkeEncryptedPayloadBodyTest.java, Android 11): an IKE_AUTH request
// under AES-CBC-128 + HMAC-SHA1-96, a message under 3DES + HMAC-SHA1-96, one under AES-GCM-16-256,
// and SKF fragments (RFC 7383: the associated data then also covers Fragment Number and Total
// Fragments, which the opaque `aad` handles).

struct AospMessage {
  EncrAlg encr;
  IntegAlg integ;
  const char* encr_key;
  const char* integ_key;
  const char* message;
  std::size_t aad_len;  // IKE header + SK (4) or SKF (8) header
  const char* plaintext;
};

TEST(SkCipher, OpensAospCapturedMessages) {
  const AospMessage msgs[] = {
      {EncrAlg::kAesCbc128, IntegAlg::kHmacSha1_96, "5cbfd33f75796c0188c4a3a546aec4a1",
       "554fbf5a05b7f511e05a30ce23d874db9ef55e51",
       "5f54bf6d8b48e6e1909232b3d1edcb5c2e20230800000001000000ec" "230000d0" "b9132b7bb9f658dfdc648e5017a6322a"
       "030c316ce55f365760d46426ce5cfc78bd1ed9abff63eb9594c1bd5846de333ecd3ea2b705d18293b130395300ba92a351041345"
       "0a10525cea51b2753b4e92b081fd78d995659a98f742278ff9b8fd3e21554865c15c79a5134d66b2744966089e416c60"
       "a274e44a9a3f084eb02f3bdce1e7de9de8d9a62773ab563b9a69ba1db03c752acb6136452b8a86c41addb4210d68c423"
       "efed80e26edca5fa3fe5d0a5ca9375ce332c474b93fb1fa359eb4e81" "ae6e0f22abdad69ba8007d50",
       32,
       "2400000c010000000a50500d2700000c010000000a5050502100001c02000000df7c038aefaaa32d3f44b228b52a3327"
       "44dfb2c12c00002c00000028010304032ad4c0a20300000c0100000c800e008003000008030000020000000805000000"
       "2d00001801000000070000100000ffff00000000ffffffff2900001801000000070000100000ffff00000000ffffffff"
       "29000008000040000000000c0000400100000001"},
      {EncrAlg::kTripleDesCbc, IntegAlg::kHmacSha1_96, "ee0fdd6d35bbdbe9eeef2f24495b6632e5047bdd8e413c87",
       "867a0bd019108db856cf6984fc9fb62d70c0de74",
       "5837b1bd28ec424f85ddd0c609c8dbfe2e2023200000000200000064300000488beaf41d88544baabd95eac60269f19a"
       "5986295fe318ce02f65368cd957985f36b183794c4c78d35437762297a131a773d7f7806aaa0c590f48b9d71001f4d65"
       "70a44533",
       32, "00000028013c00241a013c001f10dac4f8b759138776091dd0f00033c5b07374726f6e675377616e"},
      {EncrAlg::kTripleDesCbc, IntegAlg::kHmacSha1_96, "6BBF6CB3526D6492F4DA0AF45E9B9FD3E1FF534280352073",
       "293449E8E518060780B9C06F15838A06EEF57814",
       "939ae1251d18eb9077a99551b15c6e933520232000000001000000c0000000a400050005fd7c7931705af184b7be76bb"
       "d45a8ecbb3ffd58b9438b93f67e9fe86b06229f80e9b52d2ff6afde3f2c13ae93ce55a801f62e1a818c9003880a36bbe"
       "986fe6979ba233b9f4f0ddc992d06dbad5a2b998be18fae947e5ccfb37775d069344e711fbf499bb289cf4cca245bd45"
       "0ad89d18689207759507ba18d47247e920b9e000a25a7596e4130929e5cdc37d5c1b0d90bbaae946c260f4d3cf815f6d",
       36,
       "54ebd95c572100002002000000000100040a0a0a01000300040808080800030004080804042c00002c00000028020304"
       "03cc86090a0300000c0100000c800e0100030000080300000200000008050000002d00001801000000070000100000ff"
       "ff0a0a0a010a0a0a010000001801000000070000100000ffff00000000ffffffff"},
      {EncrAlg::kAesGcm16_256, IntegAlg::kNone,
       "7C04513660DEC572D896105254EF92608054F8E6EE19E79CE52AB8697B2B5F2C2AA90C29", "",
       "77c708b4523e39a471dc683c1d4f21362e202308000000050000006127000045fbd69d9ee2dafc5e7c03a0106761065b2"
       "8fa8d11aed6046f7f8af117e44da7635be6e0dfafcb0a387c53fb46ba5d6fa9509161915929de97b7fbe23dc65723b0fe",
       32, "000000280200000033233837e909ec805d56151bef5b1fa9b8e25b32419c9b3fc96ee699ec29d501"},
      {EncrAlg::kAesGcm16_256, IntegAlg::kNone,
       "955ED949D6F18857220E97B17D9285C830A39F8D4DC46AB43943668093C62A3D66664F8C", "",
       "77c708b4523e39a471dc683c1d4f2136352023200000000100000113000000f7000200026faf9e5c04c67571871681d443"
       "01489f99fd78d318b0517a5a99bf6a3e1770f43d7d997c9e0d186038d16df3fd525eda821f80b3a40fc6bce397ac67539e"
       "40042919a5e9af38c70881d092a8571f0e131f594c0e8d6b84ea116f0c95619439b0a267b35bc47dac72bbfb3d3776feb3"
       "86d7d4f819b0248f52f60bf4371ab6384e37819a9685c27d8e41abe30cd6f60905dd5c05c351ec0a1fcf9b99360161d2f3"
       "4dcf6401829df9392121d88e2201d279200e25d750678af6a7f4892a5c8d4a7358ec50cdf12cfa7652488f756ba6d07441"
       "e9a27aad3976ac8a705ff796857cb2df9ce360c3992e0285b34834255b06",
       36,
       "0fce6e996f4936ec8db8097339c371c686be75f4bed3f259c14d39c3ad90cb864085c6375f75b724d9f9daa8e7b22a106a"
       "488bc48c081997b7416fd33b146882e51ff6a640edf7602127f2454d502e92262ba3dd07cff52ee1bb1ea85f582db41a68"
       "aaf6dace362e5d8b10cfeb65eebc7572690e2c415a11cae57020810cf7aa56d9f2d5c2be3a633f8e4c6af5483a2b1f05bd"
       "4340ab551ddf7f51def57eaf5a37793ff6aa1e1ec288a2adfa647c369f15efa61a619966a320f24e1765c0e00c5ed394aa"
       "ef14512032b005827c000000090100000501"},
  };
  for (const auto& m : msgs) {
    DeterministicRandom rng(1);
    std::string err;
    auto rx = SkCipher::create(m.encr, m.integ, SecretBytes(hex(m.encr_key)), SecretBytes(hex(m.integ_key)), rng, &err);
    ASSERT_TRUE(rx) << err;
    const auto wire = hex(m.message);
    ASSERT_GT(wire.size(), m.aad_len);
    std::vector<uint8_t> out;
    ASSERT_EQ(rx->open(std::span(wire).first(m.aad_len), std::span(wire).subspan(m.aad_len), out), SkStatus::kOk)
        << esprit::info(m.encr).name;
    EXPECT_EQ(to_hex(out), to_hex(hex(m.plaintext))) << esprit::info(m.encr).name;
  }
}

TEST(SkCipher, SealsTheAospIkeAuthRequestBitForBit) {
  // The same AOSP IKE_AUTH request: with its IV forced through the random source, seal() must
  // produce the captured body exactly (zero padding, pad length 11, ICV over header..ciphertext).
  DeterministicRandom rng(1);
  rng.queue(hex("b9132b7bb9f658dfdc648e5017a6322a"));
  auto tx = SkCipher::create(EncrAlg::kAesCbc128, IntegAlg::kHmacSha1_96,
                             SecretBytes(hex("5cbfd33f75796c0188c4a3a546aec4a1")),
                             SecretBytes(hex("554fbf5a05b7f511e05a30ce23d874db9ef55e51")), rng);
  ASSERT_TRUE(tx);
  const auto aad = hex("5f54bf6d8b48e6e1909232b3d1edcb5c2e20230800000001000000ec" "230000d0");
  const auto inner = hex(
      "2400000c010000000a50500d2700000c010000000a5050502100001c02000000df7c038aefaaa32d3f44b228b52a3327"
      "44dfb2c12c00002c00000028010304032ad4c0a20300000c0100000c800e008003000008030000020000000805000000"
      "2d00001801000000070000100000ffff00000000ffffffff2900001801000000070000100000ffff00000000ffffffff"
      "29000008000040000000000c0000400100000001");
  std::vector<uint8_t> body(tx->body_size(inner.size()));
  ASSERT_EQ(aad.size() + body.size(), 0xecu);  // the IKE header's Length
  ASSERT_EQ(tx->seal(aad, inner, body), SkStatus::kOk);
  EXPECT_EQ(to_hex(body),
            "b9132b7bb9f658dfdc648e5017a6322a"
            "030c316ce55f365760d46426ce5cfc78bd1ed9abff63eb9594c1bd5846de333ecd3ea2b705d18293b130395300ba92a351041345"
            "0a10525cea51b2753b4e92b081fd78d995659a98f742278ff9b8fd3e21554865c15c79a5134d66b2744966089e416c60"
            "a274e44a9a3f084eb02f3bdce1e7de9de8d9a62773ab563b9a69ba1db03c752acb6136452b8a86c41addb4210d68c423"
            "efed80e26edca5fa3fe5d0a5ca9375ce332c474b93fb1fa359eb4e81"
            "ae6e0f22abdad69ba8007d50");
}

/// Seals `padded` (already padded, pad length byte included) with AES-GCM-128 directly through OpenSSL.
std::vector<uint8_t> raw_gcm(const SecretBytes& key_salt, std::span<const uint8_t> aad, std::span<const uint8_t> padded) {
  const uint8_t iv[8] = {0, 0, 0, 0, 0, 0, 0, 9};
  uint8_t nonce[12];
  std::memcpy(nonce, key_salt.data() + 16, 4);
  std::memcpy(nonce + 4, iv, 8);
  std::vector<uint8_t> body(iv, iv + 8);
  body.resize(8 + padded.size() + 16);
  EVP_CIPHER_CTX* ctx = EVP_CIPHER_CTX_new();
  int len = 0;
  EVP_EncryptInit_ex(ctx, EVP_aes_128_gcm(), nullptr, key_salt.data(), nonce);
  EVP_EncryptUpdate(ctx, nullptr, &len, aad.data(), static_cast<int>(aad.size()));
  EVP_EncryptUpdate(ctx, body.data() + 8, &len, padded.data(), static_cast<int>(padded.size()));
  EVP_EncryptFinal_ex(ctx, body.data() + 8 + len, &len);
  EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, 16, body.data() + 8 + padded.size());
  EVP_CIPHER_CTX_free(ctx);
  return body;
}

TEST(SkCipher, PaddingRules) {
  // RFC 7296 3.14: the receiver accepts any padding content and length that fits, and the pad
  // length byte must leave room for itself.
  DeterministicRandom rng(1);
  DeterministicRandom keys(2);
  SecretBytes key = SecretBytes::zeroed(20);
  ASSERT_TRUE(keys.fill(key.mutable_span()));
  auto rx = SkCipher::create(EncrAlg::kAesGcm16_128, IntegAlg::kNone, key, {}, rng);
  ASSERT_TRUE(rx);
  const auto aad = counting(32);
  std::vector<uint8_t> out;
  // 5 bytes of payload, 10 bytes of arbitrary padding, pad length 10.
  auto padded = cat({bytes("hello"), repeat(0xee, 10)});
  padded.push_back(10);
  ASSERT_EQ(rx->open(aad, raw_gcm(key, aad, padded), out), SkStatus::kOk);
  EXPECT_EQ(std::string(out.begin(), out.end()), "hello");
  // Pad length 15 with 16 bytes of plaintext: empty payload chain, still fine.
  padded.back() = 15;
  ASSERT_EQ(rx->open(aad, raw_gcm(key, aad, padded), out), SkStatus::kOk);
  EXPECT_TRUE(out.empty());
  // Pad length 16 or more cannot fit: rejected although the tag is right.
  for (uint8_t bad : {uint8_t{16}, uint8_t{200}, uint8_t{255}}) {
    padded.back() = bad;
    EXPECT_EQ(rx->open(aad, raw_gcm(key, aad, padded), out), SkStatus::kRejected) << int(bad);
    EXPECT_TRUE(out.empty());
  }
  // CBC: a ciphertext that is not a whole number of blocks is rejected before anything else.
  auto cbc = SkCipher::create(EncrAlg::kAesCbc128, IntegAlg::kHmacSha256_128, SecretBytes::zeroed(16),
                              SecretBytes::zeroed(32), rng);
  std::vector<uint8_t> body(cbc->body_size(20));
  ASSERT_EQ(cbc->seal(aad, counting(20), body), SkStatus::kOk);
  EXPECT_EQ(body.size(), 16u + 32u + 16u);  // IV + 2 blocks (20 + 11 padding + 1) + ICV
  body.insert(body.begin() + 20, 0);
  EXPECT_EQ(cbc->open(aad, body, out), SkStatus::kRejected);
}

// ------------------------------------------------------------------------------------------------
// AUTH, NAT detection, cookies, random helpers

std::vector<uint8_t> hmac256(std::span<const uint8_t> key, std::span<const uint8_t> data) {
  uint8_t md[32];
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()), data.data(), data.size(), md, &len);
  return {md, md + 32};
}

TEST(IkeAuth, PskAuthIsRfc7296Section2_15) {
  // AUTH = prf(prf(Shared Secret, "Key Pad for IKEv2"), <SignedOctets>), SignedOctets =
  // RealMessage | Nonce | prf(SK_p, IDx'); recomputed here with OpenSSL's HMAC directly.
  const auto message = counting(300);
  const auto nr = repeat(0x11, 32);
  const auto sk_pi = repeat(0x22, 32);
  const auto id = hex("01000000c0000201");  // ID_IPV4_ADDR 192.0.2.1
  const std::vector<uint8_t> octets = signed_octets(PrfAlg::kHmacSha256, message, nr, sk_pi, id);
  EXPECT_EQ(to_hex(octets), to_hex(cat({message, nr, hmac256(sk_pi, id)})));
  const SecretBytes psk(bytes("a pre-shared key"));
  const SecretBytes auth = psk_auth(PrfAlg::kHmacSha256, psk, octets);
  EXPECT_EQ(to_hex(auth.span()), to_hex(hmac256(hmac256(psk.span(), bytes("Key Pad for IKEv2")), octets)));
  EXPECT_TRUE(verify_psk_auth(PrfAlg::kHmacSha256, psk, octets, auth.span()));
  auto bad = std::vector<uint8_t>(auth.span().begin(), auth.span().end());
  bad[5] ^= 0x40;
  EXPECT_FALSE(verify_psk_auth(PrfAlg::kHmacSha256, psk, octets, bad));
  EXPECT_FALSE(verify_psk_auth(PrfAlg::kHmacSha256, psk, octets, std::span(auth.span()).first(16)));
  EXPECT_FALSE(verify_psk_auth(PrfAlg::kHmacSha256, SecretBytes(bytes("another key")), octets, auth.span()));
  // XCBC: a PSK of any length works as a key (RFC 4434 2, RFC 7296 2.15's note on PSK length).
  EXPECT_EQ(psk_auth(PrfAlg::kAesXcbc128, psk, octets).size(), 16u);
}

TEST(IkeAuth, AospCapturedPskAuth) {
  // AOSP IKE library tests (packages/modules/IPsec, tests/iketests/.../ike/message/
  // IkeAuthPskPayloadTest.java, Android 11): a real initiator AUTH with PRF_HMAC_SHA1, PSK
  // "juniper123", its IKE_SA_INIT request, the responder's nonce, IDi' = ID_IPV4_ADDR 10.80.80.13.
  const auto init_request = hex(
      "5f54bf6d8b48e6e10000000000000000212022080000000000000150220000300000002c010100040300000c0100000c"
      "800e008003000008030000020300000804000002000000080200000228000088"
      "00020000b4a2faf4bb54878ae21d638512ece55d9236fc5046ab6cef82220f421f3ce6361faf36564ecb6d28798a94aad7"
      "b2b4b603ddeaaa5630adb9ece8ac37534036040610ebdd92f46bef84f0be7db860351843858f8acf87056e272377f70c9f"
      "2d81e29c7b0ce4f291a3a72476bb0b278fd4b7b0a4c26bbeb08214c707137607958729000024c39b7f368f4681b89fa9b7"
      "be6465abd7c5f68b6ed5d3b4c72cb4240eb5c464122900001c00004004e54f73b7d83f6beb881eab2051d8663f421d10b0"
      "2b00001c00004005d915368ca036004cb578ae3e3fb268509aeab19000000020699369228741c6d4ca094c93e242c9de19"
      "e7b7c60000000500000500");
  ASSERT_EQ(init_request.size(), 0x150u);  // its header's Length
  const auto nr = hex("9756112ca539f5c25abacc7ee92b73091942a9c06950f98848f1af1694c4ddff");
  const auto sk_pi = hex("094787780EE466E2CB049FA327B43908BC57E485");
  const auto id_body = hex("010000000a50500d");
  const SecretBytes psk(hex("6A756E69706572313233"));
  const auto octets = signed_octets(PrfAlg::kHmacSha1, init_request, nr, sk_pi, id_body);
  EXPECT_EQ(to_hex(psk_auth(PrfAlg::kHmacSha1, psk, octets).span()), "df7c038aefaaa32d3f44b228b52a332744dfb2c1");
  EXPECT_TRUE(verify_psk_auth(PrfAlg::kHmacSha1, psk, octets, hex("df7c038aefaaa32d3f44b228b52a332744dfb2c1")));
}

TEST(IkeNatd, HashIsSha1OfSpisAddressPort) {
  // RFC 7296 2.23: SHA-1(SPIi | SPIr | IP | port), checked against OpenSSL's one-shot SHA-1.
  const auto addr = *IpAddress::parse("192.0.2.10");
  const auto h = nat_detection_hash(0x0102030405060708ULL, 0, addr, 500);
  const auto in = hex("0102030405060708 0000000000000000 c000020a 01f4");
  uint8_t md[20];
  unsigned int len = 0;
  EVP_Digest(in.data(), in.size(), md, &len, EVP_sha1(), nullptr);
  EXPECT_EQ(to_hex(h), to_hex(md));
  const auto v6 = *IpAddress::parse("2001:db8::1");
  const auto in6 = hex("0102030405060708 1112131415161718 20010db8000000000000000000000001 1194");
  EVP_Digest(in6.data(), in6.size(), md, &len, EVP_sha1(), nullptr);
  EXPECT_EQ(to_hex(nat_detection_hash(0x0102030405060708ULL, 0x1112131415161718ULL, v6, 4500)), to_hex(md));
}

TEST(IkeCookie, MakeVerifyRotate) {
  DeterministicRandom rng(4);
  CookieGenerator gen(rng);
  ASSERT_TRUE(gen.valid());
  const auto ni = repeat(3, 32);
  const auto ip = *IpAddress::parse("198.51.100.7");
  const auto c0 = gen.make(ni, ip, 0x1234);
  ASSERT_EQ(c0.size(), CookieGenerator::kCookieLen);
  EXPECT_TRUE(gen.verify(c0, ni, ip, 0x1234));
  EXPECT_FALSE(gen.verify(c0, ni, *IpAddress::parse("198.51.100.8"), 0x1234));
  EXPECT_FALSE(gen.verify(c0, ni, ip, 0x1235));
  EXPECT_FALSE(gen.verify(c0, repeat(4, 32), ip, 0x1234));
  EXPECT_FALSE(gen.verify(std::span(c0).first(20), ni, ip, 0x1234));
  ASSERT_TRUE(gen.rotate());
  EXPECT_TRUE(gen.verify(c0, ni, ip, 0x1234));  // the previous secret still verifies
  const auto c1 = gen.make(ni, ip, 0x1234);
  EXPECT_NE(to_hex(c0), to_hex(c1));
  ASSERT_TRUE(gen.rotate());
  EXPECT_FALSE(gen.verify(c0, ni, ip, 0x1234));  // two rotations later it is gone
  EXPECT_TRUE(gen.verify(c1, ni, ip, 0x1234));
}

TEST(IkeRandom, SpisAndNonces) {
  DeterministicRandom rng(1);
  rng.queue(repeat(0, 8));               // a zero IKE SPI is drawn again
  rng.queue(hex("000000ff"));            // ESP SPI 255 is reserved: drawn again
  EXPECT_NE(make_ike_spi(rng), 0u);
  EXPECT_GT(make_esp_spi(rng), 255u);
  EXPECT_EQ(make_nonce(rng).size(), 32u);
  EXPECT_NE(to_hex(make_nonce(rng)), to_hex(make_nonce(rng)));
  std::vector<uint8_t> sys(32);
  EXPECT_TRUE(SystemRandom::instance().fill(sys));
  rng.fail_from_now_on();
  EXPECT_EQ(make_ike_spi(rng), 0u);
  EXPECT_TRUE(make_nonce(rng).empty());
}

}  // namespace
}  // namespace esprit::ike
