// Known-answer tests: published ESP vectors through Esprit's decap (and, where the vector allows,
// encap), so the nonce, AAD, ICV and trailer conventions are checked against other people's bytes
// rather than against our own encapsulation.
//
// Sources, each cited again at its table:
//   - draft-mcgrew-gcm-test-01 ("Test Cases for the use of GCM and GMAC in IPsec ESP"), Section 4:
//     AES-GCM-ESP packets with 128/192/256-bit keys, 32-bit and 64-bit (ESN) sequence numbers.
//   - RFC 7634 Appendix A: a tunnel-mode ChaCha20-Poly1305 ESP packet with its outer IPv4 header.
//   - RFC 4868 Section 2.7.2 (HMAC-SHA-256-128/384-192/512-256) and RFC 2202 Section 2/3 (the
//     HMAC-MD5 and HMAC-SHA-1 cases RFC 2403 / RFC 2404 point to): authenticator vectors over raw data.
//
// Not covered, and why:
//   - RFC 3602 Section 4 cases #5-#8 are complete ESP packets, but AES-CBC without integrity: they
//     carry no ICV, and an Esprit SA never runs CBC without integrity (SaDescriptor::validate).
//     Cases #1-#4 are bare AES-CBC blocks, not packets.
//   - RFC 4868 and RFC 2404 publish no ESP packets (RFC 2404 defers to RFC 2202's HMAC test
//     cases); their authenticator vectors are used below through a NULL-encryption SA instead.
//   - draft-mcgrew-gcm-test-01 test case 4 (page 10) uses SPI 0, which RFC 4303 2.1 reserves and
//     EspSa::create refuses; test case 15 (page 19) is AES-GMAC-ESP (RFC 4543), which Esprit
//     does not implement.
//
// Encapsulation: Esprit sends the 64-bit sequence number as the GCM / ChaCha20-Poly1305 IV (RFC 4106
// 3.1 and RFC 7634 2 allow any unique IV). No published vector has IV == sequence number, so the
// published ICVs can only be checked on decapsulation. The encap direction is still checked by
// starting an ESN SA's counter at the vector's IV: the packet then carries the published IV, and as
// the ciphertext depends on key, salt and IV only, it must equal the published ciphertext byte for
// byte. Its ICV differs, because the AAD then holds that counter instead of the vector's sequence
// number, and is not compared.
#include <gtest/gtest.h>

#include <rte_mbuf.h>

#include <array>
#include <cstdint>
#include <cstring>
#include <memory>
#include <ostream>
#include <span>
#include <string>
#include <vector>

#include "dpdk_env.hpp"
#include "esprit/fastpath/esp.hpp"

namespace esprit {
namespace {

using test::from_hex;
using test::make_mbuf;
using test::mbuf_bytes;
using test::to_hex;

using Bytes = std::vector<uint8_t>;

constexpr std::size_t kEspHeader = 8;  // SPI | sequence number (low 32 bits)
constexpr std::size_t kAeadIv = 8;     // RFC 4106 / RFC 7634 explicit IV

Bytes slice(std::span<const uint8_t> b, std::size_t from, std::size_t len) {
  return Bytes(b.begin() + static_cast<std::ptrdiff_t>(from), b.begin() + static_cast<std::ptrdiff_t>(from + len));
}

Bytes concat(std::span<const uint8_t> a, std::span<const uint8_t> b) {
  Bytes out(a.begin(), a.end());
  out.insert(out.end(), b.begin(), b.end());
  return out;
}

uint32_t be32_at(std::span<const uint8_t> b, std::size_t at) {
  return uint32_t{b[at]} << 24 | uint32_t{b[at + 1]} << 16 | uint32_t{b[at + 2]} << 8 | b[at + 3];
}

uint64_t be64_at(std::span<const uint8_t> b, std::size_t at) {
  return uint64_t{be32_at(b, at)} << 32 | be32_at(b, at + 4);
}

uint16_t ipv4_checksum(std::span<const uint8_t> hdr) {
  uint32_t sum = 0;
  for (std::size_t i = 0; i + 1 < hdr.size(); i += 2) sum += uint32_t{hdr[i]} << 8 | hdr[i + 1];
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return static_cast<uint16_t>(~sum);
}

/// An IPv4 packet (no options, ID 0x1234, TTL 64, no DF) carrying `payload` as protocol `proto`.
Bytes ipv4(const char* src, const char* dst, uint8_t proto, std::span<const uint8_t> payload) {
  Bytes p(20);
  const std::size_t total = p.size() + payload.size();
  p[0] = 0x45;
  p[2] = static_cast<uint8_t>(total >> 8);
  p[3] = static_cast<uint8_t>(total);
  p[4] = 0x12;
  p[5] = 0x34;
  p[8] = 64;
  p[9] = proto;
  std::memcpy(&p[12], IpAddress::parse(src)->bytes(), 4);
  std::memcpy(&p[16], IpAddress::parse(dst)->bytes(), 4);
  const uint16_t ck = ipv4_checksum(p);
  p[10] = static_cast<uint8_t>(ck >> 8);
  p[11] = static_cast<uint8_t>(ck);
  p.insert(p.end(), payload.begin(), payload.end());
  return p;
}

std::string drops_of(const SaCounters& c) {
  std::string s;
  for (const auto& r : kDropReasons) {
    if (c.drop(r.reason)) s += std::string(r.name) + "=" + std::to_string(c.drop(r.reason)) + " ";
  }
  return s.empty() ? "no drops" : s;
}

/// What one SA of a vector needs; the sender's outer address is the outbound SA's local one.
struct SaSpec {
  uint32_t spi = 0;
  EncrAlg encr = EncrAlg::kAesGcm16_128;
  Bytes keymat;  ///< cipher key | salt
  IntegAlg integ = IntegAlg::kNone;
  Bytes integ_key;
  SaMode mode = SaMode::kTransport;
  bool esn = false;
  const char* sender = "192.0.2.1";
  const char* receiver = "198.51.100.2";
};

std::unique_ptr<EspSa> make_sa(const SaSpec& s, SaDirection dir) {
  SaDescriptor d;
  d.spi = s.spi;
  d.direction = dir;
  d.mode = s.mode;
  const IpAddress sender = *IpAddress::parse(s.sender);
  const IpAddress receiver = *IpAddress::parse(s.receiver);
  d.local = dir == SaDirection::kOutbound ? sender : receiver;
  d.remote = dir == SaDirection::kOutbound ? receiver : sender;
  d.encr = s.encr;
  d.encr_key = SecretBytes(s.keymat);
  d.integ = s.integ;
  d.integ_key = SecretBytes(s.integ_key);
  d.esn = s.esn;
  std::string err;
  auto sa = EspSa::create(d, &err);
  EXPECT_TRUE(sa) << err;
  return sa;
}

/// The result of handing one packet to encap_burst() or decap_burst().
struct Outcome {
  uint16_t ok = 0;
  SaCounters ctr;
  Bytes bytes;  ///< the mbuf's bytes afterwards: the output on success, what is left on failure
};

enum class Op { kEncap, kDecap };

Outcome run_one(EspWorker& w, EspSa& sa, std::span<const uint8_t> pkt, Op op) {
  rte_mbuf* m = make_mbuf(pkt);
  std::array<rte_mbuf*, 1> pkts{m};
  Outcome o;
  o.ok = op == Op::kEncap ? encap_burst(w, sa, pkts, o.ctr) : decap_burst(w, sa, pkts, o.ctr);
  // Success or failure, the mbuf comes back to the caller, who frees it.
  EXPECT_EQ(pkts[0], m);
  o.bytes = mbuf_bytes(m);
  rte_pktmbuf_free(m);
  return o;
}

class EspKat : public ::testing::Test {
 protected:
  void SetUp() override {
    test::init_dpdk();
    std::string err;
    worker_ = EspWorker::create(nullptr, &err);
    ASSERT_TRUE(worker_) << err;
  }

  /// With ESN the receiver infers a number's high half from its window (RFC 4303 Appendix A2), and
  /// a window can climb only one 2^32 subspace per packet, so a vector whose ESN has a non-zero high
  /// half decrypts only at a receiver that has already accepted a nearby number: start the window
  /// there, as a gateway taking over an SA would.
  static void advance_window(EspSa& in, uint64_t seq) {
    in.set_replay_top(seq);
    ASSERT_EQ(in.sequence(), seq);
  }

  /// Decapsulates `esp` (behind an outer IPv4 header sender -> receiver) on a fresh inbound SA whose
  /// window was moved next to `seq`; first with one ciphertext bit flipped, which must fail the ICV
  /// check and leave the packet with the caller, then as published. Returns the second outcome.
  Outcome decap_vector(const SaSpec& spec, uint64_t seq, std::span<const uint8_t> esp, std::size_t iv_len) {
    auto in = make_sa(spec, SaDirection::kInbound);
    if (!in) return {};
    if (spec.esn && (seq >> 32) != 0) {
      advance_window(*in, seq - 1);
      if (::testing::Test::HasFatalFailure()) return {};
    }
    const Bytes good = ipv4(spec.sender, spec.receiver, 50, esp);
    const std::size_t first_ct = 20 + kEspHeader + iv_len;
    Bytes bad = good;
    bad[first_ct] ^= 0x01;
    const Outcome f = run_one(*worker_, *in, bad, Op::kDecap);
    EXPECT_EQ(f.ok, 0);
    EXPECT_EQ(f.ctr.drop(DropReason::kIcvFail), 1u) << drops_of(f.ctr);
    EXPECT_EQ(f.ctr.total_drops(), 1u) << drops_of(f.ctr);
    EXPECT_EQ(f.ctr.packets, 0u);
    // Not stripped: the outer header, ESP header and IV are where they were, and the in-place
    // decryption of the forged ciphertext was wiped.
    EXPECT_EQ(f.bytes.size(), bad.size());
    EXPECT_EQ(to_hex(slice(f.bytes, 0, first_ct)), to_hex(slice(bad, 0, first_ct)));
    const std::size_t icv_len = info(spec.encr).aead() ? info(spec.encr).icv_len : info(spec.integ).icv_len;
    for (std::size_t k = first_ct; k < f.bytes.size() - icv_len; ++k) EXPECT_EQ(f.bytes[k], 0) << k;

    Outcome o = run_one(*worker_, *in, good, Op::kDecap);
    EXPECT_EQ(o.ok, 1) << drops_of(o.ctr);
    EXPECT_EQ(o.ctr.total_drops(), 0u) << drops_of(o.ctr);
    if (o.ok == 1) {
      EXPECT_EQ(o.ctr.packets, 1u);
      EXPECT_EQ(o.ctr.bytes, o.bytes.size());
      EXPECT_EQ(in->sequence(), seq);
    }
    return o;
  }

  std::unique_ptr<EspWorker> worker_;
};

// ---- draft-mcgrew-gcm-test-01, Section 4: AES-GCM-ESP ------------------------------------------
//
// Each entry copies the draft's fields: key (without salt), spi, seq (4 octets, or 8 octets for an
// extended sequence number), nonce (= salt | IV), plaintext (= payload | padding | pad length | next
// header) and packet (= SPI | low 32 bits of seq | IV | ciphertext | 16-octet ICV). The draft does
// not number its cases; they are numbered here in the order of Section 4, with the page they are on.
// Every case carries next header 1 and no outer IP header, so they run in transport mode behind an
// outer IPv4 header of ours, and the restored packet is that header with protocol 1 and the payload.
// All paddings are empty or 1, 2, ... (RFC 4303 2.4), which Esprit's trailer check requires.

struct GcmVector {
  const char* name;
  EncrAlg encr;  ///< 16-octet ICV, key size from the case
  const char* key;
  uint32_t spi;
  uint64_t seq;
  bool esn;  ///< the draft's seq has 8 octets
  const char* nonce;
  const char* plaintext;
  const char* packet;
};

const GcmVector kGcmVectors[] = {
    // Test case 1, page 7: 128-bit key, 64-bit ESN with zero low half. The window is seeded at
    // seq - 1 = 0x87654320ffffffff, so decap must also carry into the high half (RFC 4303 A2.2).
    {"Case01_Aes128_Esn", EncrAlg::kAesGcm16_128, "4c80cdefbb5d10da906ac73c3613a634", 0x00004321,
     0x8765432100000000, true, "2e443b684956ed7e3b244cfe",
     "45000048699a000080114db7c0a80102"
     "c0a801010a9bf15638d3010000010000"
     "00000000045f736970045f7564700373"
     "69700963796265726369747902646b00"
     "0021000101020201",
     "00004321000000004956ed7e3b244cfe"
     "fecf537e729d5b07dc30df528dd22b76"
     "8d1b98736696a6fd348509fa13ceac34"
     "cfa2436f14a3f3cf65925bf1f4a13c5d"
     "15b21e1884f5ff6247aeabb786b93bce"
     "61bc17d768fd9732459018148f6cbe72"
     "2fd04796562dfdb4"},
    // Test case 2, page 8: 128-bit key, 32-bit sequence number.
    {"Case02_Aes128", EncrAlg::kAesGcm16_128, "feffe9928665731c6d6a8f9467308308", 0x0000a5f8, 0x0000000a, false,
     "cafebabefacedbaddecaf888",
     "4500003e698f000080114dccc0a80102"
     "c0a801010a980035002a2343b2d00100"
     "00010000000000000373697009637962"
     "65726369747902646b00000100010001",
     "0000a5f80000000afacedbaddecaf888"
     "deb22cd9b07c72c16e3a65beeb8df304"
     "a5a5897d33ae530f1ba76d5d114d2a5c"
     "3de81827c10e9a4f51330d0eec416642"
     "cfbb85a5b47e48a4ec3b9ba95d918bd1"
     "83b70d3aa8bc6ee4c309e9d85a41ad4a"},
    // Test case 3, page 9: 256-bit key, 32-bit sequence number.
    {"Case03_Aes256", EncrAlg::kAesGcm16_256,
     "abbccddef00112233445566778899aab"
     "abbccddef00112233445566778899aab",
     0x4a2cbfe3, 0x00000002, false, "112233440102030405060708",
     "4500003069a6400080062690c0a80102"
     "9389155e0a9e008b2dc57ee000000000"
     "7002400020bf0000020405b401010402"
     "01020201",
     "4a2cbfe3000000020102030405060708"
     "ff425c9b724599df7a3bcd510194e00d"
     "6a78107f1b0b1cbf06efae9d65a5d763"
     "748a637985771d347f0545659f14e99d"
     "ef842d8eb335f4eecfdbf831824b4c49"
     "15956c96"},
    // (Test case 4, page 10, has SPI 0: not runnable, see the top of the file.)
    // Test case 5, page 11: 128-bit key, 64-bit ESN.
    {"Case05_Aes128_Esn", EncrAlg::kAesGcm16_128, "3de09874b388e6491988d0c3607eae1f", 0x42f67e3f,
     0x1010101010101010, true, "57690e434e280000a2fca1a3",
     "4500003c99c300008001cb7c40679318"
     "010101010800085c0200430061626364"
     "65666768696a6b6c6d6e6f7071727374"
     "75767761626364656667686901020201",
     "42f67e3f101010104e280000a2fca1a3"
     "fba2caa4853cf9f0f22cb10d86dd83b0"
     "fec75691cf1a04b00d1138ec9c357917"
     "65acbd8701ad79845bf9fe3fba487bc9"
     "1755e6662b4c8d0d1f5e22739530320a"
     "e0d731cc978ecafaeae88f00e80d6e48"},
    // Test case 6, page 12 (first): 128-bit key, 64-bit ESN, 28-octet plaintext.
    {"Case06_Aes128_Esn", EncrAlg::kAesGcm16_128, "3de09874b388e6491988d0c3607eae1f", 0x42f67e3f,
     0x1010101010101010, true, "57690e434e280000a2fca1a3",
     "4500001c42a200008001441f406793b6"
     "e00000020a00f5ff01020201",
     "42f67e3f101010104e280000a2fca1a3"
     "fba2ca845e5df9f0f22c3e6e86dd831e"
     "1fc65792cd1af9130e1379ed369f071f"
     "35e034be95f112e4e7d05d35"},
    // Test case 7, page 12 (second): 192-bit key, 32-bit sequence number.
    {"Case07_Aes192", EncrAlg::kAesGcm16_192,
     "feffe9928665731c6d6a8f9467308308"
     "feffe9928665731c",
     0x0000a5f8, 0x0000000a, false, "cafebabefacedbaddecaf888",
     "45000028a4ad4000400678800a01038f"
     "0a010612802306b8cb712602dd6bb03e"
     "501016d075680001",
     "0000a5f80000000afacedbaddecaf888"
     "a5b1f8066029aea40e598b8122de0242"
     "0938b3ab33f828e687b8858b5bfbdbd0"
     "315b27452144cc7795457b9652037f53"
     "18027b5b4cd7a636"},
    // Test case 8, page 13: 128-bit key, 64-bit ESN with zero high half.
    {"Case08_Aes128_Esn", EncrAlg::kAesGcm16_128, "abbccddef00112233445566778899aab", 0x00000100,
     0x0000000000000001, true, "decaf888cafedebaceface74",
     "4500004933ba00007f119106c3fb1d10"
     "c2b1d326c02831ce0035dd7b800302d5"
     "00004e20001e8c18d75b81dc91baa047"
     "6b91b924b280389d92c963bac046ec95"
     "9b6266c04722b14923010101",
     "0000010000000001cafedebaceface74"
     "18a6fd42f72cbf4ab2a2ea901f73d814"
     "e3e7f243d95412e1c349c1d2fbec168f"
     "9190feebaf2cb01984e65863965d7472"
     "b79da345e0e780191f0d2f0e0f496c22"
     "6f2127b27db35724e7845d68651f57e6"
     "5f354f75ff17015769623436"},
    // Test case 9, page 14: 256-bit key, 64-bit ESN.
    {"Case09_Aes256_Esn", EncrAlg::kAesGcm16_256,
     "abbccddef00112233445566778899aab"
     "abbccddef00112233445566778899aab",
     0x17405e67, 0x156f3126dd0db99b, true, "73616c74616e640169766563",
     "45080028732c00004006e9f90a010612"
     "0a01038f06b88023dd6bafbecb712602"
     "50101f646d540001",
     "17405e67dd0db99b616e640169766563"
     "f2d69ecdbd5a0d5b8d5ef38bad4da58d"
     "1f278fde98ef67549d524a3018d9a57f"
     "f4d3a31ce673119e451626c2415771e3"
     "b7eebca614c89b35"},
    // Test case 10, page 15: 128-bit key, 64-bit ESN.
    {"Case10_Aes128_Esn", EncrAlg::kAesGcm16_128, "3de09874b388e6491988d0c3607eae1f", 0x42f67e3f,
     0x1010101010101010, true, "57690e434e280000a2fca1a3",
     "45000049333e00007f119182c3fb1d10"
     "c2b1d326c02831ce0035cb458003025b"
     "000001e0001e8c18d65759d52284a035"
     "2c71475c8880391c764d6e5ee0496b32"
     "5ae270c03899493915010101",
     "42f67e3f101010104e280000a2fca1a3"
     "fba2cad12fc1f9f00d3cebf305410db8"
     "3d7784b607323d220f24b0a97d541828"
     "00cadb0f68d99ef0e0c0c89ae9bea888"
     "4e52d65bc1afd0740f742444747b5b39"
     "ab533163aad4550ee5160975cdb608c5"
     "769189609763b8e18caa81e2"},
    // Test case 11, page 16: 256-bit key, 64-bit ESN.
    {"Case11_Aes256_Esn", EncrAlg::kAesGcm16_256,
     "abbccddef00112233445566778899aab"
     "abbccddef00112233445566778899aab",
     0x17405e67, 0x156f3126dd0db99b, true, "73616c74616e640169766563",
     "636973636f0172756c65730174686501"
     "6e6574776501646566696e6501746865"
     "746563686e6f6c6f6769657301746861"
     "7477696c6c01646566696e65746f6d6f"
     "72726f7701020201",
     "17405e67dd0db99b616e640169766563"
     "d4b7ed86a1777f2ea13d6973d324c69e"
     "7b43f826fb56831226508bebd2dceb18"
     "d0a6df10e5487df074113e14c641024e"
     "3e6773d91a62ee429b043a10e3efe6b0"
     "12a49363412364f8c0cac587f249e56b"
     "11e24f30e44ccc76"},
    // Test case 12, page 17 (first): 128-bit key, sequence number 2^32 - 1, empty payload.
    {"Case12_Aes128", EncrAlg::kAesGcm16_128, "7d773d00c144c525ac619d18c84a3f47", 0x335467ae, 0xffffffff, false,
     "d966426743457e9182443bc6", "01020201",
     "335467aeffffffff43457e9182443bc6"
     "437f866bcb3f699fe9b0822bac961c45"
     "04bef270"},
    // Test case 13, page 17 (second): 128-bit key, 64-bit ESN 1.
    {"Case13_Aes128_Esn", EncrAlg::kAesGcm16_128, "abbccddef00112233445566778899aab", 0x00000100,
     0x0000000000000001, true, "decaf888cafedebaceface74",
     "746f016265016f72016e6f7401746f01"
     "62650001",
     "0000010000000001cafedebaceface74"
     "29c9fc69a197d038ccdd14e2ddfcaa05"
     "43332164412503524303ed3c6c5f2838"
     "43af8c3e"},
    // Test case 14, page 18: 256-bit key, 64-bit ESN 2^64 - 1.
    {"Case14_Aes256_Esn", EncrAlg::kAesGcm16_256,
     "6c6567616c697a656d6172696a75616e"
     "61616e64646f69746265666f72656961",
     0x796b6963, 0xffffffffffffffff, true, "7475726e333021696765746d",
     "45000030da3a00008001df3bc0a80005"
     "c0a800010800c6cd0200070061626364"
     "65666768696a6b6c6d6e6f7071727374"
     "01020201",
     "796b6963ffffffff333021696765746d"
     "f97ab2aa356d8edce17644ac8c78e25d"
     "d24dedbb29ebf1b64a274b39b49c3a86"
     "4cd3d78ca4ae68a32b42458fb57dbe82"
     "1dcc63b9d0937ba2945f669368661a32"
     "9fb4c053"},
    // (Test case 15, page 19, is AES-GMAC-ESP: not implemented, see the top of the file.)
    // Test case 16, page 20: 128-bit key, 64-bit ESN.
    {"Case16_Aes128_Esn", EncrAlg::kAesGcm16_128, "3de09874b388e6491988d0c3607eae1f", 0x3f7ef642,
     0x1010101010101010, true, "57690e434e280000a2fca1a3",
     "45000030da3a00008001df3bc0a80005"
     "c0a800010800c6cd0200070061626364"
     "65666768696a6b6c6d6e6f7071727374"
     "01020201",
     "3f7ef642101010104e280000a2fca1a3"
     "fba2caa8c6c5f9f0f22ca54a061210ad"
     "3f6e5791cf1aca210d117cec9c357917"
     "65acbd8701ad79845bf9fe3fba487bc9"
     "6321930684eecadb56912546e7a95c97"
     "40d7cb05"},
    // Test case 17, page 21: 128-bit key, 64-bit ESN.
    {"Case17_Aes128_Esn", EncrAlg::kAesGcm16_128, "4c80cdefbb5d10da906ac73c3613a634", 0x00004321,
     0x8765432100000007, true, "22433c644855ec7d3a234bfd",
     "0800c6cd020007006162636465666768"
     "696a6b6c6d6e6f707172737401020201",
     "00004321000000074855ec7d3a234bfd"
     "74752e8aeb5d873cd7c0f4acc36c4bff"
     "84b7d7b98f0ca8b6acda6894bc619069"
     "ef9cbc28fe1b56a7c4e0d58c86cd2bc0"},
};

void PrintTo(const GcmVector& v, std::ostream* os) { *os << v.name; }

/// A GcmVector decoded, with the ESP trailer taken off the plaintext (RFC 4303 2.4).
struct GcmCase {
  Bytes keymat;  ///< key | salt, as SaDescriptor::encr_key wants it
  Bytes iv;
  Bytes packet;
  Bytes ciphertext;  ///< the packet's bytes between the IV and the ICV
  Bytes payload;
  uint8_t next_header = 0;
};

GcmCase decode(const GcmVector& v) {
  GcmCase c;
  const Bytes nonce = from_hex(v.nonce);
  const Bytes plaintext = from_hex(v.plaintext);
  c.keymat = concat(from_hex(v.key), slice(nonce, 0, 4));
  c.iv = slice(nonce, 4, 8);
  c.packet = from_hex(v.packet);
  c.ciphertext = slice(c.packet, kEspHeader + kAeadIv, plaintext.size());
  c.next_header = plaintext.back();
  const std::size_t pad = plaintext[plaintext.size() - 2];
  c.payload = slice(plaintext, 0, plaintext.size() - 2 - pad);
  return c;
}

/// The AES-GCM variant with `key_len`-byte keys and `icv_len`-byte ICVs (RFC 4106 6).
EncrAlg gcm_alg(std::size_t key_len, uint8_t icv_len) {
  for (const EncrInfo& e : encr_algorithms()) {
    if (e.family == CipherFamily::kAesGcm && e.key_len == key_len && e.icv_len == icv_len) return e.alg;
  }
  ADD_FAILURE() << "no AES-GCM variant with a " << key_len << "-byte key and a " << int{icv_len} << "-byte ICV";
  return EncrAlg::kAesGcm16_128;
}

class McGrewGcm : public EspKat, public ::testing::WithParamInterface<GcmVector> {
 protected:
  static SaSpec spec_for(const GcmVector& v, const GcmCase& c, EncrAlg encr) {
    SaSpec s;
    s.spi = v.spi;
    s.encr = encr;
    s.keymat = c.keymat;
    s.esn = v.esn;
    return s;
  }
};

TEST_P(McGrewGcm, VectorIsConsistent) {
  // Guards the transcription: the packet's header fields and lengths agree with the other fields.
  const GcmVector& v = GetParam();
  const GcmCase c = decode(v);
  ASSERT_EQ(from_hex(v.nonce).size(), 12u);
  EXPECT_EQ(from_hex(v.key).size(), info(v.encr).key_len);
  EXPECT_EQ(be32_at(c.packet, 0), v.spi);
  EXPECT_EQ(be32_at(c.packet, 4), static_cast<uint32_t>(v.seq));
  EXPECT_EQ(to_hex(slice(c.packet, 8, kAeadIv)), to_hex(c.iv));
  EXPECT_EQ(c.packet.size(), kEspHeader + kAeadIv + from_hex(v.plaintext).size() + 16);
  EXPECT_TRUE(v.esn || (v.seq >> 32) == 0);
  // Not the published IV == sequence number case, which is why the ICV is only checked on decap.
  EXPECT_NE(be64_at(c.iv, 0), v.seq);
}

TEST_P(McGrewGcm, DecapRestoresThePublishedPlaintext) {
  const GcmVector& v = GetParam();
  const GcmCase c = decode(v);
  const SaSpec spec = spec_for(v, c, v.encr);
  const Outcome o = decap_vector(spec, v.seq, c.packet, kAeadIv);
  ASSERT_EQ(o.ok, 1);
  // Transport mode: our outer header, now with the vector's next header as protocol, then the payload.
  EXPECT_EQ(to_hex(o.bytes), to_hex(ipv4(spec.sender, spec.receiver, c.next_header, c.payload)));
}

TEST_P(McGrewGcm, TruncatedIcvsAreTheLeadingOctetsOfThePublishedTag) {
  // The draft publishes 16-octet ICVs; the 8- and 12-octet ICVs of RFC 4106 are the same tag cut
  // to its leading octets (NIST SP 800-38D 7.1: T = MSB_t), so the same packets with a shortened ICV
  // must decapsulate on the AES-GCM-8 and AES-GCM-12 variants.
  const GcmVector& v = GetParam();
  const GcmCase c = decode(v);
  for (const uint8_t icv : {uint8_t{12}, uint8_t{8}}) {
    SCOPED_TRACE(std::to_string(icv) + "-byte ICV");
    const SaSpec spec = spec_for(v, c, gcm_alg(info(v.encr).key_len, icv));
    const Bytes packet = slice(c.packet, 0, c.packet.size() - 16 + icv);
    const Outcome o = decap_vector(spec, v.seq, packet, kAeadIv);
    ASSERT_EQ(o.ok, 1);
    EXPECT_EQ(to_hex(o.bytes), to_hex(ipv4(spec.sender, spec.receiver, c.next_header, c.payload)));
  }
}

TEST_P(McGrewGcm, EncapWithTheVectorsIvReproducesItsCiphertext) {
  // See the top of the file: an ESN SA started at the vector's IV sends that IV (RFC 4106 3.1
  // nonce = salt | IV), so the ciphertext must be the published one; the ICV cannot be.
  const GcmVector& v = GetParam();
  const GcmCase c = decode(v);
  SaSpec spec = spec_for(v, c, v.encr);
  spec.esn = true;
  auto out = make_sa(spec, SaDirection::kOutbound);
  ASSERT_TRUE(out);
  const uint64_t iv = be64_at(c.iv, 0);
  out->set_next_sequence(iv);

  const Outcome o = run_one(*worker_, *out, ipv4(spec.sender, spec.receiver, c.next_header, c.payload), Op::kEncap);
  ASSERT_EQ(o.ok, 1) << drops_of(o.ctr);
  // Same padding as the vector (the shortest that aligns the trailer to 4 octets), hence same length.
  ASSERT_EQ(o.bytes.size(), 20 + c.packet.size());
  const Bytes hdr = slice(o.bytes, 0, 20);
  EXPECT_EQ(hdr[9], 50);
  EXPECT_EQ(ipv4_checksum(hdr), 0);
  EXPECT_EQ(be32_at(o.bytes, 20), v.spi);
  EXPECT_EQ(be32_at(o.bytes, 24), static_cast<uint32_t>(iv));  // the counter's low half
  EXPECT_EQ(to_hex(slice(o.bytes, 28, kAeadIv)), to_hex(c.iv));
  EXPECT_EQ(to_hex(slice(o.bytes, 36, c.ciphertext.size())), to_hex(c.ciphertext));
}

INSTANTIATE_TEST_SUITE_P(DraftMcgrewGcmTest01, McGrewGcm, ::testing::ValuesIn(kGcmVectors),
                         [](const ::testing::TestParamInfo<GcmVector>& p) { return std::string(p.param.name); });

// ---- RFC 7634 Appendix A: ChaCha20-Poly1305, tunnel mode ---------------------------------------
//
// Keying material, SA, source packet, nonce, ciphertext, tag and the complete ESP packet (outer IPv4
// header 203.0.113.153 -> 203.0.113.5 included) as printed in the appendix. The padding is 1, 2.

constexpr const char* kRfc7634Keymat =  // 32-octet key, then the 4-octet salt
    "80 81 82 83 84 85 86 87 88 89 8a 8b 8c 8d 8e 8f"
    "90 91 92 93 94 95 96 97 98 99 9a 9b 9c 9d 9e 9f"
    "a0 a1 a2 a3";
constexpr uint32_t kRfc7634Spi = 0x01020304;
constexpr uint64_t kRfc7634Seq = 5;
constexpr const char* kRfc7634Iv = "10 11 12 13 14 15 16 17";
constexpr const char* kRfc7634Source =
    "45 00 00 54 a6 f2 00 00 40 01 e7 78 c6 33 64 05"
    "c0 00 02 05 08 00 5b 7a 3a 08 00 00 55 3b ec 10"
    "00 07 36 27 08 09 0a 0b 0c 0d 0e 0f 10 11 12 13"
    "14 15 16 17 18 19 1a 1b 1c 1d 1e 1f 20 21 22 23"
    "24 25 26 27 28 29 2a 2b 2c 2d 2e 2f 30 31 32 33"
    "34 35 36 37";
constexpr const char* kRfc7634Ciphertext =
    "24 03 94 28 b9 7f 41 7e 3c 13 75 3a 4f 05 08 7b"
    "67 c3 52 e6 a7 fa b1 b9 82 d4 66 ef 40 7a e5 c6"
    "14 ee 80 99 d5 28 44 eb 61 aa 95 df ab 4c 02 f7"
    "2a a7 1e 7c 4c 4f 64 c9 be fe 2f ac c6 38 e8 f3"
    "cb ec 16 3f ac 46 9b 50 27 73 f6 fb 94 e6 64 da"
    "91 65 b8 28 29 f6 41 e0";
constexpr const char* kRfc7634Tag = "76 aa a8 26 6b 7f b0 f7 b1 1b 36 99 07 e1 ad 43";
constexpr const char* kRfc7634EspPacket =
    "45 00 00 8c 23 45 00 00 40 32 de 5b cb 00 71 99"
    "cb 00 71 05 01 02 03 04 00 00 00 05 10 11 12 13"
    "14 15 16 17 24 03 94 28 b9 7f 41 7e 3c 13 75 3a"
    "4f 05 08 7b 67 c3 52 e6 a7 fa b1 b9 82 d4 66 ef"
    "40 7a e5 c6 14 ee 80 99 d5 28 44 eb 61 aa 95 df"
    "ab 4c 02 f7 2a a7 1e 7c 4c 4f 64 c9 be fe 2f ac"
    "c6 38 e8 f3 cb ec 16 3f ac 46 9b 50 27 73 f6 fb"
    "94 e6 64 da 91 65 b8 28 29 f6 41 e0 76 aa a8 26"
    "6b 7f b0 f7 b1 1b 36 99 07 e1 ad 43";

SaSpec rfc7634_spec() {
  SaSpec s;
  s.spi = kRfc7634Spi;
  s.encr = EncrAlg::kChaCha20Poly1305;
  s.keymat = from_hex(kRfc7634Keymat);
  s.mode = SaMode::kTunnel;
  s.sender = "203.0.113.153";  // "the gateway IP address for this side"
  s.receiver = "203.0.113.5";  // "the peer address"
  return s;
}

TEST_F(EspKat, Rfc7634AppendixAIsConsistent) {
  const Bytes pkt = from_hex(kRfc7634EspPacket);
  ASSERT_EQ(pkt.size(), 140u);
  EXPECT_EQ(ipv4_checksum(slice(pkt, 0, 20)), 0);
  EXPECT_EQ(be32_at(pkt, 20), kRfc7634Spi);
  EXPECT_EQ(be32_at(pkt, 24), kRfc7634Seq);
  EXPECT_EQ(to_hex(slice(pkt, 28, 8)), to_hex(from_hex(kRfc7634Iv)));
  EXPECT_EQ(to_hex(slice(pkt, 36, 88)), to_hex(from_hex(kRfc7634Ciphertext)));
  EXPECT_EQ(to_hex(slice(pkt, 124, 16)), to_hex(from_hex(kRfc7634Tag)));
  EXPECT_EQ(from_hex(kRfc7634Source).size() + 4, 88u);  // source packet | 01 02 | 02 | 04
}

TEST_F(EspKat, Rfc7634AppendixADecapRestoresTheSourcePacket) {
  const SaSpec spec = rfc7634_spec();
  auto in = make_sa(spec, SaDirection::kInbound);
  ASSERT_TRUE(in);
  const Bytes pkt = from_hex(kRfc7634EspPacket);

  // Negative first (a failed ICV does not move the replay window): flip a ciphertext bit.
  Bytes bad = pkt;
  bad[20 + kEspHeader + kAeadIv + 10] ^= 0x80;
  const Outcome f = run_one(*worker_, *in, bad, Op::kDecap);
  EXPECT_EQ(f.ok, 0);
  EXPECT_EQ(f.ctr.drop(DropReason::kIcvFail), 1u) << drops_of(f.ctr);
  EXPECT_EQ(f.ctr.total_drops(), 1u) << drops_of(f.ctr);
  EXPECT_EQ(f.bytes.size(), bad.size());
  EXPECT_EQ(to_hex(slice(f.bytes, 0, 36)), to_hex(slice(bad, 0, 36)));

  const Outcome o = run_one(*worker_, *in, pkt, Op::kDecap);
  ASSERT_EQ(o.ok, 1) << drops_of(o.ctr);
  EXPECT_EQ(o.ctr.total_drops(), 0u);
  EXPECT_EQ(to_hex(o.bytes), to_hex(from_hex(kRfc7634Source)));
  EXPECT_EQ(in->sequence(), kRfc7634Seq);

  // The same packet again is a replay (RFC 4303 3.4.3), caught before any crypto.
  const Outcome r = run_one(*worker_, *in, pkt, Op::kDecap);
  EXPECT_EQ(r.ok, 0);
  EXPECT_EQ(r.ctr.drop(DropReason::kReplay), 1u) << drops_of(r.ctr);
}

TEST_F(EspKat, Rfc7634AppendixAEncapWithTheVectorsIvReproducesItsCiphertext) {
  // See the top of the file. The outer header differs only in the IPv4 ID (and so the checksum).
  SaSpec spec = rfc7634_spec();
  spec.esn = true;
  auto out = make_sa(spec, SaDirection::kOutbound);
  ASSERT_TRUE(out);
  const Bytes iv = from_hex(kRfc7634Iv);
  out->set_next_sequence(be64_at(iv, 0));

  const Outcome o = run_one(*worker_, *out, from_hex(kRfc7634Source), Op::kEncap);
  ASSERT_EQ(o.ok, 1) << drops_of(o.ctr);
  const Bytes want = from_hex(kRfc7634EspPacket);
  ASSERT_EQ(o.bytes.size(), want.size());
  EXPECT_EQ(ipv4_checksum(slice(o.bytes, 0, 20)), 0);
  EXPECT_EQ(to_hex(slice(o.bytes, 0, 4)), to_hex(slice(want, 0, 4)));    // version, TOS, length
  EXPECT_EQ(to_hex(slice(o.bytes, 6, 4)), to_hex(slice(want, 6, 4)));    // flags, TTL, protocol
  EXPECT_EQ(to_hex(slice(o.bytes, 12, 8)), to_hex(slice(want, 12, 8)));  // addresses
  EXPECT_EQ(be32_at(o.bytes, 20), kRfc7634Spi);
  EXPECT_EQ(be32_at(o.bytes, 24), 0x14151617u);  // the counter's low half
  EXPECT_EQ(to_hex(slice(o.bytes, 28, 8)), to_hex(iv));
  EXPECT_EQ(to_hex(slice(o.bytes, 36, 88)), to_hex(from_hex(kRfc7634Ciphertext)));
}

// ---- RFC 4868 2.7.2 and RFC 2202: HMAC authenticators through a NULL-encryption SA --------------
//
// No ESP packet vectors exist for these (see the top of the file), but the "what do ya want for
// nothing?" cases happen to parse as an ESP packet with NULL encryption (RFC 2410): SPI "what"
// (0x77686174), sequence number " do " (0x20646f20), 20 octets of payload whose last two, 'g' and
// '?', are the pad length and next header. The packet is that Data followed by the published
// truncated HMAC as ICV, so Esprit must accept the ICV and then reject the trailer: a pad length of
// 103 in 20 octets is kBadPadding. A flipped bit must fail the ICV instead.

struct HmacVector {
  const char* name;
  IntegAlg integ;
  const char* key;
  const char* data;
  const char* icv;  ///< the published HMAC, truncated to the ICV length
};

constexpr const char* kWhatDoYaWant =  // "what do ya want for nothing?"
    "7768617420646f2079612077616e7420"
    "666f72206e6f7468696e673f";

const HmacVector kHmacVectors[] = {
    // RFC 4868 2.7.2.1, Test Case AUTH256-2: key "Jefe" x 8; HMAC-SHA-256-128.
    {"Rfc4868_Auth256_2", IntegAlg::kHmacSha256_128,
     "4a6566654a6566654a6566654a656665"
     "4a6566654a6566654a6566654a656665",
     kWhatDoYaWant, "167f928588c5cc2eef8e3093caa0e87c"},
    // RFC 4868 2.7.2.2, Test Case AUTH384-2: key "Jefe" x 12; HMAC-SHA-384-192.
    {"Rfc4868_Auth384_2", IntegAlg::kHmacSha384_192,
     "4a6566654a6566654a6566654a656665"
     "4a6566654a6566654a6566654a656665"
     "4a6566654a6566654a6566654a656665",
     kWhatDoYaWant,
     "2c7353974f1842fd66d53c452ca42122"
     "b28c0b594cfb184d"},
    // RFC 4868 2.7.2.3, Test Case AUTH512-2: key "Jefe" x 16; HMAC-SHA-512-256.
    {"Rfc4868_Auth512_2", IntegAlg::kHmacSha512_256,
     "4a6566654a6566654a6566654a656665"
     "4a6566654a6566654a6566654a656665"
     "4a6566654a6566654a6566654a656665"
     "4a6566654a6566654a6566654a656665",
     kWhatDoYaWant,
     "cb370917ae8a7ce28cfd1d8f4705d614"
     "1c173b2a9362c15df235dfb251b15454"},
    // RFC 2202 Section 3, test_case 2 (the HMAC-SHA-1 tests RFC 2404 relies on): key "Jefe",
    // digest effcdf6ae5eb2fa2d27416d5f184df9c259a7c79, of which HMAC-SHA-1-96 keeps 12 octets. Our
    // SA key is 20 octets: "Jefe" and 16 zeros, the same HMAC key (RFC 2104 2 zero-pads K to B).
    {"Rfc2202_Sha1_2", IntegAlg::kHmacSha1_96,
     "4a656665000000000000000000000000"
     "00000000",
     kWhatDoYaWant, "effcdf6ae5eb2fa2d27416d5"},
    // RFC 2202 Section 2, test_case 2 (HMAC-MD5, as used by RFC 2403): key "Jefe", digest
    // 750c783e6ab0b503eaa86e310a5db738, HMAC-MD5-96 keeps 12 octets; 16-octet SA key zero-padded.
    {"Rfc2202_Md5_2", IntegAlg::kHmacMd5_96, "4a656665000000000000000000000000", kWhatDoYaWant,
     "750c783e6ab0b503eaa86e31"},
};

void PrintTo(const HmacVector& v, std::ostream* os) { *os << v.name; }

class HmacAuthenticator : public EspKat, public ::testing::WithParamInterface<HmacVector> {};

TEST_P(HmacAuthenticator, PublishedIcvVerifiesThenTheTrailerIsRejected) {
  const HmacVector& v = GetParam();
  const Bytes data = from_hex(v.data);
  const Bytes icv = from_hex(v.icv);
  ASSERT_EQ(icv.size(), info(v.integ).icv_len);
  SaSpec spec;
  spec.spi = be32_at(data, 0);
  spec.encr = EncrAlg::kNull;
  spec.integ = v.integ;
  spec.integ_key = from_hex(v.key);
  auto in = make_sa(spec, SaDirection::kInbound);
  ASSERT_TRUE(in);
  const Bytes good = ipv4(spec.sender, spec.receiver, 50, concat(data, icv));

  // Negative first: a failed ICV leaves the replay window alone, an accepted one does not.
  Bytes bad = good;
  bad[20 + kEspHeader + 3] ^= 0x04;
  const Outcome f = run_one(*worker_, *in, bad, Op::kDecap);
  EXPECT_EQ(f.ok, 0);
  EXPECT_EQ(f.ctr.drop(DropReason::kIcvFail), 1u) << drops_of(f.ctr);
  EXPECT_EQ(f.ctr.total_drops(), 1u) << drops_of(f.ctr);
  // The payload of a packet that failed its ICV is wiped; headers and ICV are left as they came.
  Bytes wiped = bad;
  std::fill(wiped.begin() + 20 + kEspHeader, wiped.end() - static_cast<std::ptrdiff_t>(icv.size()), 0);
  EXPECT_EQ(to_hex(f.bytes), to_hex(wiped));

  const Outcome o = run_one(*worker_, *in, good, Op::kDecap);
  EXPECT_EQ(o.ok, 0);
  EXPECT_EQ(o.ctr.drop(DropReason::kBadPadding), 1u) << drops_of(o.ctr);
  EXPECT_EQ(o.ctr.total_drops(), 1u) << drops_of(o.ctr);
  EXPECT_EQ(to_hex(o.bytes), to_hex(good));
  // The ICV verified, so the window moved (RFC 4303 3.4.3) even though the packet was dropped.
  EXPECT_EQ(in->sequence(), be32_at(data, 4));
}

INSTANTIATE_TEST_SUITE_P(PublishedHmac, HmacAuthenticator, ::testing::ValuesIn(kHmacVectors),
                         [](const ::testing::TestParamInfo<HmacVector>& p) { return std::string(p.param.name); });

}  // namespace
}  // namespace esprit
