// The IKEv2 message codec: round trips of every payload and of realistic messages, published wire
// bytes, malformed input (every length lying, truncation at every offset, loops), critical bit,
// the verify() rules and the error policy.
#include <gtest/gtest.h>

#include <stdexcept>
#include <string>
#include <vector>

#include "esprit/common/algorithms.hpp"
#include "esprit/control/ike/message.hpp"
#include "ike_samples.hpp"

namespace esprit::ike {
namespace {

using test::ike_samples;
using test::pattern;
using test::Sample;

std::vector<uint8_t> from_hex(std::string_view hex) {
  std::vector<uint8_t> out;
  auto nibble = [](char c) { return c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10; };
  for (std::size_t i = 0; i + 1 < hex.size(); i += 2)
    out.push_back(static_cast<uint8_t>(nibble(hex[i]) << 4 | nibble(hex[i + 1])));
  return out;
}

/// The model parse() should return for `m` encoded as `wire`.
Message as_parsed(Message m, const std::vector<uint8_t>& wire) {
  m.header.next_payload = m.payloads.empty() ? PayloadType::kNone : payload_type(m.payloads.front());
  m.header.length = static_cast<uint32_t>(wire.size());
  return m;
}

void set_u16(std::vector<uint8_t>& b, std::size_t at, uint16_t v) {
  b.at(at) = static_cast<uint8_t>(v >> 8);
  b.at(at + 1) = static_cast<uint8_t>(v);
}
void set_u32(std::vector<uint8_t>& b, std::size_t at, uint32_t v) {
  for (int i = 0; i < 4; ++i) b.at(at + i) = static_cast<uint8_t>(v >> (24 - 8 * i));
}
void fix_length(std::vector<uint8_t>& b) { set_u32(b, 24, static_cast<uint32_t>(b.size())); }

/// Offsets of the generic payload headers of an encoded message's outer chain.
std::vector<std::size_t> payload_offsets(const std::vector<uint8_t>& b) {
  std::vector<std::size_t> at;
  std::size_t pos = kHeaderSize;
  uint8_t next = b[16];
  while (next != 0 && pos + 4 <= b.size()) {
    at.push_back(pos);
    const bool sk = next == 46 || next == 53;
    next = b[pos];
    pos += static_cast<std::size_t>(b[pos + 2]) << 8 | b[pos + 3];
    if (sk) break;
  }
  return at;
}

// ---------------------------------------------------------------------------------------------
// Round trips

TEST(IkeCodec, EverySampleRoundTrips) {
  for (const Sample& s : ike_samples()) {
    SCOPED_TRACE(s.name);
    EXPECT_FALSE(s.message.verify()) << s.message.verify()->to_string();
    const auto wire = s.message.encode();
    auto parsed = Message::parse(wire);
    ASSERT_TRUE(parsed) << parsed.error().to_string();
    EXPECT_EQ(*parsed, as_parsed(s.message, wire));
    EXPECT_EQ(parsed->encode(), wire);
  }
}

TEST(IkeCodec, EveryPayloadTypeAloneRoundTrips) {
  // Each payload struct, alone in a message: covers every alternative of Payload.
  std::vector<Payload> all;
  for (const Sample& s : ike_samples()) {
    for (const auto& p : s.message.payloads) all.push_back(p);
    for (const auto& p : s.inner) all.push_back(p);
  }
  all.push_back(UnknownPayload{static_cast<PayloadType>(200), false, {1, 2, 3}});
  std::vector<bool> seen(std::variant_size_v<Payload>, false);
  for (const auto& p : all) {
    seen[p.index()] = true;
    Message m;
    m.payloads.push_back(p);
    const auto wire = m.encode();
    auto parsed = Message::parse(wire);
    ASSERT_TRUE(parsed) << parsed.error().to_string();
    EXPECT_EQ(*parsed, as_parsed(m, wire)) << to_string(payload_type(p));
  }
  for (std::size_t i = 0; i < seen.size(); ++i) EXPECT_TRUE(seen[i]) << "variant alternative " << i << " not covered";
}

TEST(IkeCodec, SkPlaintextChainRoundTripsAndRegionIsExact) {
  for (const Sample& s : ike_samples()) {
    const auto* sk = s.message.find<EncryptedPayload>();
    if (sk == nullptr) continue;
    SCOPED_TRACE(s.name);
    const auto wire = s.message.encode();
    const auto region = Message::sk_region(wire);
    ASSERT_TRUE(region);
    EXPECT_EQ(region->type, PayloadType::kEncrypted);
    EXPECT_EQ(region->inner_first, sk->inner_first);
    EXPECT_EQ(region->body_length, sk->body.size());
    EXPECT_EQ(region->body_offset + region->body_length, wire.size());  // SK is last
    EXPECT_EQ(region->aad_length, wire.size() - sk->body.size());       // header .. SK header
    EXPECT_TRUE(std::equal(sk->body.begin(), sk->body.end(), wire.begin() + region->body_offset));
    // The fake body is IV(16) | plaintext | padding | pad length | ICV(16).
    const std::size_t pad = wire[wire.size() - 17];
    const std::span<const uint8_t> plain(wire.data() + region->body_offset + 16, region->body_length - 32 - pad - 1);
    auto inner = parse_inner(region->inner_first, plain);
    ASSERT_TRUE(inner) << inner.error().to_string();
    EXPECT_EQ(*inner, s.inner);
    EXPECT_EQ(encode_inner(*inner), std::vector<uint8_t>(plain.begin(), plain.end()));
  }
}

TEST(IkeCodec, SkfRegionCoversTheFragmentHeader) {
  for (const Sample& s : ike_samples()) {
    const auto* skf = s.message.find<EncryptedFragmentPayload>();
    if (skf == nullptr) continue;
    const auto wire = s.message.encode();
    const auto region = Message::sk_region(wire);
    ASSERT_TRUE(region);
    EXPECT_EQ(region->type, PayloadType::kEncryptedFragment);
    // RFC 7383 2.5: the associated data includes Fragment Number and Total Fragments.
    EXPECT_EQ(region->aad_length, kHeaderSize + 8);
    EXPECT_EQ(region->body_length, skf->body.size());
  }
}

TEST(IkeCodec, EncodeWritesTheRfcFields) {
  const auto samples = ike_samples();
  const auto wire = samples.front().message.encode();  // IKE_SA_INIT request
  EXPECT_EQ(wire[16], 33);    // Next Payload: SA
  EXPECT_EQ(wire[17], 0x20);  // version 2.0
  EXPECT_EQ(wire[18], 34);    // IKE_SA_INIT
  EXPECT_EQ(wire[19], 0x08);  // Initiator
  EXPECT_EQ(wire[28 + 1], 0);  // critical bit clear on RFC 7296 payloads
  const uint32_t length = uint32_t(wire[24]) << 24 | uint32_t(wire[25]) << 16 | uint32_t(wire[26]) << 8 | wire[27];
  EXPECT_EQ(length, wire.size());
  // SA payload: first proposal "more" (2), its first transform "more" (3), KEY_LENGTH in TV form.
  EXPECT_EQ(wire[32], 2);
  EXPECT_EQ(wire[40], 3);
  EXPECT_EQ(wire[48], 0x80);
  EXPECT_EQ(wire[49], 14);
}

TEST(IkeCodec, EncodeRefusesWhatTheLengthFieldsCannotSay) {
  Message m;
  m.payloads.push_back(VendorPayload{std::vector<uint8_t>(0xffff - 4, 1)});  // exactly 65535
  EXPECT_EQ(m.encode().size(), kHeaderSize + 0xffff);
  m.payloads[0] = VendorPayload{std::vector<uint8_t>(0xffff - 3, 1)};
  EXPECT_THROW((void)m.encode(), std::length_error);
  TsPayload ts{true, std::vector<TrafficSelector>(256)};
  EXPECT_TRUE(ts.verify());
  EXPECT_THROW((void)encode_inner(std::vector<Payload>{ts}), std::length_error);
}

TEST(IkeCodec, FindHelpers) {
  const auto samples = ike_samples();
  const Message& m = samples.front().message;
  ASSERT_NE(m.find<KePayload>(), nullptr);
  EXPECT_EQ(m.find<KePayload>()->dh_group, 14);
  ASSERT_NE(m.find_notify(NotifyType::kNatDetectionDestinationIp), nullptr);
  EXPECT_EQ(m.find_notify(NotifyType::kCookie), nullptr);
  EXPECT_EQ(std::get<SaPayload>(m.payloads[0]).proposals[0].transforms[0].key_length(), 256);
  EXPECT_FALSE(std::get<SaPayload>(m.payloads[0]).proposals[0].transforms[1].key_length());
}

// ---------------------------------------------------------------------------------------------
// Published wire bytes: AOSP's IKEv2 library test vectors, IkeMessageTest.java in
// https://android.googlesource.com/platform/packages/modules/IPsec (tests/iketests/src/java/com/
// android/internal/net/ipsec/ike/message/IkeMessageTest.java): captured messages of its IKE stack.

constexpr std::string_view kAospIkeSaInit =
    "8f54bf6d8b48e6e10000000000000000212022080000000000000150"
    "220000300000002c010100040300000c0100000c"
    "800e00800300000803000002030000080400000200000008"
    "020000022800008800020000b4a2faf4bb54878ae21d6385"
    "12ece55d9236fc5046ab6cef82220f421f3ce6361faf3656"
    "4ecb6d28798a94aad7b2b4b603ddeaaa5630adb9ece8ac37"
    "534036040610ebdd92f46bef84f0be7db860351843858f8a"
    "cf87056e272377f70c9f2d81e29c7b0ce4f291a3a72476bb"
    "0b278fd4b7b0a4c26bbeb08214c707137607958729000024"
    "c39b7f368f4681b89fa9b7be6465abd7c5f68b6ed5d3b4c7"
    "2cb4240eb5c464122900001c00004004e54f73b7d83f6beb"
    "881eab2051d8663f421d10b02b00001c00004005d915368c"
    "a036004cb578ae3e3fb268509aeab1900000002069936922"
    "8741c6d4ca094c93e242c9de19e7b7c60000000500000500";

constexpr std::string_view kAospIkeAuth =
    "5f54bf6d8b48e6e1909232b3d1edcb5c2e20230800000001000000ec"
    "230000d0b9132b7bb9f658dfdc648e5017a6322a030c316c"
    "e55f365760d46426ce5cfc78bd1ed9abff63eb9594c1bd58"
    "46de333ecd3ea2b705d18293b130395300ba92a351041345"
    "0a10525cea51b2753b4e92b081fd78d995659a98f742278f"
    "f9b8fd3e21554865c15c79a5134d66b2744966089e416c60"
    "a274e44a9a3f084eb02f3bdce1e7de9de8d9a62773ab563b"
    "9a69ba1db03c752acb6136452b8a86c41addb4210d68c423"
    "efed80e26edca5fa3fe5d0a5ca9375ce332c474b93fb1fa3"
    "59eb4e81ae6e0f22abdad69ba8007d50";

// The decrypted SK body of kAospIkeAuth (plaintext chain, padding, pad length).
constexpr std::string_view kAospIkeAuthPlaintextPadded =
    "2400000c010000000a50500d2700000c010000000a505050"
    "2100001c02000000df7c038aefaaa32d3f44b228b52a3327"
    "44dfb2c12c00002c00000028010304032ad4c0a20300000c"
    "0100000c800e008003000008030000020000000805000000"
    "2d00001801000000070000100000ffff00000000ffffffff"
    "2900001801000000070000100000ffff00000000ffffffff"
    "29000008000040000000000c000040010000000100000000"
    "000000000000000b";

constexpr std::string_view kAospSkf =
    "939ae1251d18eb9077a99551b15c6e9335202320000000010000"
    "00c0000000a400020002fd7c7931705af184b7be76bbd45a"
    "8ecbb3ffd58b9438b93f67e9fe86b06229f80e9b52d2ff6a"
    "fde3f2c13ae93ce55a801f62e1a818c9003880a36bbe986f"
    "e6979ba233b9f4f0ddc992d06dbad5a2b998be18fae947e5"
    "ccfb37775d069344e711fbf499bb289cf4cca245bd450ad8"
    "9d18689207759507ba18d47247e920b9e000a25a7596e413"
    "0929e5cdc37d5c1b0d90bbaae946c260f4d3cf815f6d";

constexpr std::string_view kAospEmptyInformational =
    "5f54bf6d8b48e6e1909232b3d1edcb5c2e20252800000000"
    "0000004c00000030e376871750fdba9f7012446c5dc3f97a"
    "f83b48ba0dbc68bcc4a78136832100aa4192f251cd4d1b97"
    "d298e550";

// A captured IKE_SA_INIT request of another implementation (Cisco vendor IDs; AES-GCM-16-256,
// PRF-HMAC-SHA2-256, ECP-256; IKEV2_FRAGMENTATION_SUPPORTED, REDIRECT_SUPPORTED,
// SIGNATURE_HASH_ALGORITHMS): the sample of tests/Message.test.ts in
// https://github.com/hyavari/node-ikev2.
constexpr std::string_view kNodeIkev2IkeSaInit =
    "89922c915f35570e000000000000000021202208000000000000012c2200002800000024010100030300000c0100"
    "0014800e0100030000080200000500000008040000132800004800130000db253178440ce776a794133cb8b69e5e"
    "b074733536570c64d7b630549c899c0712d828b37168500885e051024578afc75c101f73b8943cad62d74a30f2be"
    "1fca2b00002c09cb538b2c3dbd4d0bb0eec8d318cb801a9b4715b207828d9b5ff1f4ec64ed58863707bcf14ccf05"
    "2b000014eb4c1b788afd4a9cb7730a68d56c53212b000014c61baca1f1a60cc108000000000000002b0000184048"
    "b7d56ebce88525e7de7f00d6c2d3c0000000290000144048b7d56ebce88525e7de7f00d6c2d3290000080000402e"
    "2900000800004016000000100000402f0001000200030004";

TEST(IkeCodecPublished, NodeIkev2IkeSaInit) {
  const auto wire = from_hex(kNodeIkev2IkeSaInit);
  ASSERT_EQ(wire.size(), 300u);
  auto m = Message::parse(wire);
  ASSERT_TRUE(m) << m.error().to_string();
  const std::vector<PayloadType> types = {
      PayloadType::kSa,     PayloadType::kKe,     PayloadType::kNonce,  PayloadType::kVendor, PayloadType::kVendor,
      PayloadType::kVendor, PayloadType::kVendor, PayloadType::kNotify, PayloadType::kNotify, PayloadType::kNotify};
  ASSERT_EQ(m->payloads.size(), types.size());
  for (std::size_t i = 0; i < types.size(); ++i) EXPECT_EQ(payload_type(m->payloads[i]), types[i]) << i;
  const auto& t = std::get<SaPayload>(m->payloads[0]).proposals.at(0).transforms;
  ASSERT_EQ(t.size(), 3u);
  EXPECT_EQ(encr_from_ikev2(t[0].id, *t[0].key_length()), EncrAlg::kAesGcm16_256);
  EXPECT_EQ(std::get<KePayload>(m->payloads[1]).dh_group, 19);
  EXPECT_EQ(std::get<KePayload>(m->payloads[1]).data.size(), 64u);  // ECP-256 x | y (RFC 5903)
  EXPECT_EQ(std::get<NoncePayload>(m->payloads[2]).nonce.size(), 40u);
  EXPECT_NE(m->find_notify(NotifyType::kIkev2FragmentationSupported), nullptr);
  EXPECT_NE(m->find_notify(NotifyType::kRedirectSupported), nullptr);
  ASSERT_NE(m->find_notify(NotifyType::kSignatureHashAlgorithms), nullptr);
  EXPECT_EQ(m->find_notify(NotifyType::kSignatureHashAlgorithms)->data, (std::vector<uint8_t>{0, 1, 0, 2, 0, 3, 0, 4}));
  EXPECT_EQ(m->encode(), wire);
}

TEST(IkeCodecPublished, AospIkeSaInit) {
  const auto wire = from_hex(kAospIkeSaInit);
  ASSERT_EQ(wire.size(), 336u);
  auto m = Message::parse(wire);
  ASSERT_TRUE(m) << m.error().to_string();
  EXPECT_EQ(m->header.spi_i, 0x8f54bf6d8b48e6e1ull);
  EXPECT_EQ(m->header.spi_r, 0u);
  EXPECT_EQ(m->header.exchange, ExchangeType::kIkeSaInit);
  EXPECT_TRUE(m->header.initiator());
  EXPECT_TRUE(m->header.request());
  const std::vector<PayloadType> types = {PayloadType::kSa, PayloadType::kKe, PayloadType::kNonce,
                                          PayloadType::kNotify, PayloadType::kNotify, PayloadType::kVendor};
  ASSERT_EQ(m->payloads.size(), types.size());
  for (std::size_t i = 0; i < types.size(); ++i) EXPECT_EQ(payload_type(m->payloads[i]), types[i]);
  const auto& prop = std::get<SaPayload>(m->payloads[0]).proposals.at(0);
  EXPECT_EQ(prop.protocol, ProtocolId::kIke);
  ASSERT_EQ(prop.transforms.size(), 4u);
  EXPECT_EQ(prop.transforms[0].type, TransformType::kEncr);
  EXPECT_EQ(encr_from_ikev2(prop.transforms[0].id, *prop.transforms[0].key_length()), EncrAlg::kAesCbc128);
  EXPECT_EQ(prop.transforms[1].type, TransformType::kInteg);
  EXPECT_EQ(integ_from_ikev2(prop.transforms[1].id), IntegAlg::kHmacSha1_96);
  EXPECT_EQ(prop.transforms[3].type, TransformType::kPrf);
  EXPECT_EQ(std::get<KePayload>(m->payloads[1]).dh_group, 2);
  EXPECT_EQ(std::get<KePayload>(m->payloads[1]).data.size(), 128u);
  EXPECT_EQ(std::get<NoncePayload>(m->payloads[2]).nonce.size(), 32u);
  EXPECT_EQ(std::get<NotifyPayload>(m->payloads[3]).notify_type, NotifyType::kNatDetectionSourceIp);
  EXPECT_EQ(std::get<NotifyPayload>(m->payloads[4]).notify_type, NotifyType::kNatDetectionDestinationIp);
  EXPECT_EQ(m->encode(), wire);  // byte-exact
  EXPECT_FALSE(Message::sk_region(wire));
}

TEST(IkeCodecPublished, AospIkeAuthWithSk) {
  const auto wire = from_hex(kAospIkeAuth);
  auto m = Message::parse(wire);
  ASSERT_TRUE(m) << m.error().to_string();
  EXPECT_EQ(m->header.exchange, ExchangeType::kIkeAuth);
  EXPECT_EQ(m->header.message_id, 1u);
  ASSERT_EQ(m->payloads.size(), 1u);
  const auto& sk = std::get<EncryptedPayload>(m->payloads[0]);
  EXPECT_EQ(sk.inner_first, PayloadType::kIdi);
  const auto region = Message::sk_region(wire);
  ASSERT_TRUE(region);
  EXPECT_EQ(region->aad_length, 32u);
  EXPECT_EQ(region->body_length, 0xd0u - 4);
  EXPECT_EQ(m->encode(), wire);

  const auto padded = from_hex(kAospIkeAuthPlaintextPadded);
  const std::size_t pad = padded.back();
  const std::span<const uint8_t> plain(padded.data(), padded.size() - pad - 1);
  auto inner = parse_inner(region->inner_first, plain);
  ASSERT_TRUE(inner) << inner.error().to_string();
  const std::vector<PayloadType> types = {PayloadType::kIdi, PayloadType::kIdr, PayloadType::kAuth,
                                          PayloadType::kSa,  PayloadType::kTsi, PayloadType::kTsr,
                                          PayloadType::kNotify, PayloadType::kNotify};
  ASSERT_EQ(inner->size(), types.size());
  for (std::size_t i = 0; i < types.size(); ++i) EXPECT_EQ(payload_type((*inner)[i]), types[i]);
  const auto& idi = std::get<IdPayload>((*inner)[0]);
  EXPECT_EQ(idi.id_type, IdType::kIpv4Addr);
  EXPECT_EQ(idi.data, (std::vector<uint8_t>{10, 80, 80, 13}));
  EXPECT_EQ(std::get<AuthPayload>((*inner)[2]).method, AuthMethod::kSharedKeyMic);
  const auto& esp = std::get<SaPayload>((*inner)[3]).proposals.at(0);
  EXPECT_EQ(esp.protocol, ProtocolId::kEsp);
  EXPECT_EQ(esp.spi, (std::vector<uint8_t>{0x2a, 0xd4, 0xc0, 0xa2}));
  const auto& tsi = std::get<TsPayload>((*inner)[4]).selectors.at(0);
  EXPECT_EQ(tsi.start.to_string(), "0.0.0.0");
  EXPECT_EQ(tsi.end.to_string(), "255.255.255.255");
  EXPECT_EQ(tsi.end_port, 0xffff);
  EXPECT_EQ(std::get<NotifyPayload>((*inner)[6]).notify_type, NotifyType::kInitialContact);
  EXPECT_EQ(std::get<NotifyPayload>((*inner)[7]).notify_type, NotifyType::kSetWindowSize);
  EXPECT_EQ(encode_inner(*inner), std::vector<uint8_t>(plain.begin(), plain.end()));
}

TEST(IkeCodecPublished, AospFragmentAndEmptyInformational) {
  const auto frag = from_hex(kAospSkf);
  auto f = Message::parse(frag);
  ASSERT_TRUE(f) << f.error().to_string();
  const auto& skf = std::get<EncryptedFragmentPayload>(f->payloads.at(0));
  EXPECT_EQ(skf.fragment_number, 2);
  EXPECT_EQ(skf.total_fragments, 2);
  EXPECT_EQ(skf.inner_first, PayloadType::kNone);
  EXPECT_TRUE(f->header.response());
  EXPECT_EQ(f->encode(), frag);

  const auto info = from_hex(kAospEmptyInformational);
  auto i = Message::parse(info);
  ASSERT_TRUE(i) << i.error().to_string();
  EXPECT_EQ(i->header.exchange, ExchangeType::kInformational);
  const auto& sk = std::get<EncryptedPayload>(i->payloads.at(0));
  EXPECT_EQ(sk.inner_first, PayloadType::kNone);
  EXPECT_EQ(sk.body.size(), 16u + 16 + 12);  // IV, one block, HMAC-SHA1-96
  auto empty = parse_inner(sk.inner_first, {});
  ASSERT_TRUE(empty);
  EXPECT_TRUE(empty->empty());
}

// ---------------------------------------------------------------------------------------------
// Malformed input

TEST(IkeCodecMalformed, TruncationAtEveryOffsetFails) {
  auto check = [](const std::vector<uint8_t>& wire, const std::string& name) {
    for (std::size_t n = 0; n < wire.size(); ++n) {
      std::vector<uint8_t> cut(wire.begin(), wire.begin() + static_cast<std::ptrdiff_t>(n));
      auto as_is = Message::parse(cut);  // header Length now lies
      ASSERT_FALSE(as_is) << name << " cut at " << n;
      EXPECT_EQ(as_is.error().code, n < kHeaderSize ? ParseErrorCode::kTooShort : ParseErrorCode::kLengthMismatch);
      if (n < kHeaderSize) continue;
      fix_length(cut);  // header Length agrees: the payload chain itself is cut short
      auto fixed = Message::parse(cut);
      ASSERT_FALSE(fixed) << name << " cut at " << n << " with the length fixed";
      EXPECT_LE(fixed.error().offset, n) << name << " " << fixed.error().to_string();
    }
  };
  for (const Sample& s : ike_samples()) check(s.message.encode(), s.name);
  check(from_hex(kAospIkeSaInit), "aosp_ike_sa_init");
  check(from_hex(kAospIkeAuth), "aosp_ike_auth");
  check(from_hex(kNodeIkev2IkeSaInit), "node_ikev2_ike_sa_init");
}

TEST(IkeCodecMalformed, InnerChainTruncationAtEveryOffsetFails) {
  for (const Sample& s : ike_samples()) {
    if (s.inner.empty()) continue;
    const auto plain = encode_inner(s.inner);
    for (std::size_t n = 0; n < plain.size(); ++n) {
      auto r = parse_inner(payload_type(s.inner.front()), std::span<const uint8_t>(plain.data(), n));
      ASSERT_FALSE(r) << s.name << " cut at " << n;
    }
  }
}

TEST(IkeCodecMalformed, TotalLengthMismatch) {
  auto wire = from_hex(kAospIkeSaInit);
  set_u32(wire, 24, 337);
  EXPECT_EQ(Message::parse(wire).error().code, ParseErrorCode::kLengthMismatch);
  set_u32(wire, 24, 335);
  EXPECT_EQ(Message::parse(wire).error().code, ParseErrorCode::kLengthMismatch);
  set_u32(wire, 24, 0xffffffff);
  EXPECT_EQ(Message::parse(wire).error().code, ParseErrorCode::kLengthMismatch);
  // Trailing bytes the header counts but no payload claims (AOSP: "unexpected bytes in the end").
  wire = from_hex(kAospIkeSaInit);
  wire.push_back(0);
  wire.push_back(0);
  fix_length(wire);
  auto r = Message::parse(wire);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ParseErrorCode::kInvalidSyntax);
  EXPECT_EQ(r.error().offset, 336u);
}

TEST(IkeCodecMalformed, EveryPayloadLengthLying) {
  for (const Sample& s : ike_samples()) {
    const auto wire = s.message.encode();
    const auto offsets = payload_offsets(wire);
    ASSERT_EQ(offsets.size(), s.message.payloads.size()) << s.name;
    for (std::size_t i = 0; i < offsets.size(); ++i) {
      const std::size_t at = offsets[i];
      const uint16_t len = static_cast<uint16_t>(wire[at + 2] << 8 | wire[at + 3]);
      for (uint16_t bad : {uint16_t(0), uint16_t(1), uint16_t(3)}) {  // zero-length loop, below the header
        auto b = wire;
        set_u16(b, at + 2, bad);
        auto r = Message::parse(b);
        ASSERT_FALSE(r) << s.name << " payload " << i;
        EXPECT_EQ(r.error().code, ParseErrorCode::kInvalidSyntax);
        EXPECT_EQ(r.error().offset, at + 2);
        EXPECT_EQ(r.error().payload_index, i);
      }
      for (int delta : {1, 2, 0x1000}) {  // past the end of the message
        if (i + 1 != offsets.size()) continue;
        auto b = wire;
        set_u16(b, at + 2, static_cast<uint16_t>(len + delta));
        auto r = Message::parse(b);
        ASSERT_FALSE(r);
        EXPECT_EQ(r.error().code, ParseErrorCode::kTruncated);
      }
      for (int delta : {-1, 1}) {  // into the neighbour: never read out of bounds, never accepted
        auto b = wire;
        set_u16(b, at + 2, static_cast<uint16_t>(len + delta));
        auto r = Message::parse(b);
        if (r) ADD_FAILURE() << s.name << " payload " << i << " length " << delta << " accepted";
      }
    }
  }
}

/// Mutations of the AOSP IKE_SA_INIT's inner length and count fields. Offsets: SA payload at 28,
/// proposal at 32 (length 34, SPI size 38, Num Transforms 39), transforms at 40, 52, 60, 68
/// (lengths at +2), the first transform's KEY_LENGTH attribute at 48; KE at 76; Nonce at 212;
/// the first Notify at 248 (SPI Size at 253).
struct Mutation {
  const char* what;
  std::size_t at;
  std::vector<uint8_t> bytes;
  ParseErrorCode code;
};

TEST(IkeCodecMalformed, InnerLengthsAndCountsLying) {
  const std::vector<Mutation> mutations = {
      {"proposal length 0", 34, {0, 0}, ParseErrorCode::kInvalidSyntax},
      {"proposal length +1", 34, {0, 0x2d}, ParseErrorCode::kTruncated},
      {"proposal length -1", 34, {0, 0x2b}, ParseErrorCode::kTruncated},  // its last transform
      {"proposal Last Substruc 2 but last", 32, {2}, ParseErrorCode::kInvalidSyntax},
      {"proposal Last Substruc 1", 32, {1}, ParseErrorCode::kInvalidSyntax},
      {"SPI size past the proposal", 38, {0xff}, ParseErrorCode::kTruncated},
      {"SPI size 8 eats transforms", 38, {8}, ParseErrorCode::kInvalidSyntax},
      {"Num Transforms 5", 39, {5}, ParseErrorCode::kInvalidSyntax},
      {"Num Transforms 3", 39, {3}, ParseErrorCode::kInvalidSyntax},
      {"Num Transforms 0", 39, {0}, ParseErrorCode::kInvalidSyntax},
      {"transform length 0", 42, {0, 0}, ParseErrorCode::kInvalidSyntax},
      {"transform length 7", 42, {0, 7}, ParseErrorCode::kInvalidSyntax},
      {"transform length past the proposal", 42, {0x01, 0}, ParseErrorCode::kTruncated},
      {"transform Last Substruc 0 too early", 40, {0}, ParseErrorCode::kInvalidSyntax},
      {"last transform Last Substruc 3", 68, {3}, ParseErrorCode::kInvalidSyntax},
      {"KEY_LENGTH in TLV form", 48, {0x00, 0x0e}, ParseErrorCode::kTruncated},  // length 0x80 past it
      {"KEY_LENGTH TLV, length 0", 48, {0x00, 0x0e, 0x00, 0x00}, ParseErrorCode::kInvalidSyntax},
      {"attribute header cut", 42, {0, 0x0a}, ParseErrorCode::kTruncated},
      {"KE length 4 (no data)", 78, {0, 8}, ParseErrorCode::kInvalidSyntax},
      {"nonce of 15 bytes", 214, {0, 4 + 15}, ParseErrorCode::kInvalidSyntax},
      {"SA payload length 4 (no proposals)", 30, {0, 4}, ParseErrorCode::kInvalidSyntax},
      {"unknown proposal protocol", 37, {9}, ParseErrorCode::kInvalidSyntax},
      {"notify reserved bits", 249, {0x7f}, ParseErrorCode::kCount},  // ignored: accepted
      {"notify SPI size past the payload", 253, {0xff}, ParseErrorCode::kTruncated},
      {"NAT detection data of 19 bytes", 250, {0x00, 0x1b}, ParseErrorCode::kInvalidSyntax},
  };
  for (const auto& mu : mutations) {
    auto b = from_hex(kAospIkeSaInit);
    std::copy(mu.bytes.begin(), mu.bytes.end(), b.begin() + static_cast<std::ptrdiff_t>(mu.at));
    auto r = Message::parse(b);
    if (mu.code == ParseErrorCode::kCount) {  // a change the parser must ignore
      EXPECT_TRUE(r) << mu.what << ": " << r.error().to_string();
      continue;
    }
    if (r) {
      ADD_FAILURE() << mu.what << ": accepted";
      continue;
    }
    EXPECT_EQ(r.error().code, mu.code) << mu.what << ": " << r.error().to_string();
  }
}

TEST(IkeCodecMalformed, ChainsOfEmptyPayloadsAreBounded) {
  auto chain = [](std::size_t n, uint8_t type) {
    std::vector<uint8_t> b(kHeaderSize, 0);
    b[16] = type;
    b[17] = 0x20;
    b[18] = 34;
    b[19] = 0x08;
    for (std::size_t i = 0; i < n; ++i) {
      b.push_back(i + 1 < n ? type : 0);
      b.push_back(0);
      b.push_back(0);
      b.push_back(4);
    }
    fix_length(b);
    return b;
  };
  auto r = Message::parse(chain(1000, 200));  // 1000 empty unknown non-critical payloads
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ParseErrorCode::kTooManyPayloads);
  EXPECT_EQ(r.error().payload_index, kMaxPayloads);
  auto ok = Message::parse(chain(kMaxPayloads, 200));
  ASSERT_TRUE(ok) << ok.error().to_string();
  EXPECT_EQ(ok->payloads.size(), kMaxPayloads);
  // Empty known payloads are caught by their own rules (an empty Vendor ID).
  auto v = Message::parse(chain(1000, 43));
  ASSERT_FALSE(v);
  EXPECT_EQ(v.error().code, ParseErrorCode::kInvalidSyntax);
  EXPECT_EQ(v.error().payload_index, 0u);
}

TEST(IkeCodecMalformed, HeaderVersions) {
  auto b = from_hex(kAospIkeSaInit);
  b[17] = 0x30;
  auto r = Message::parse(b);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ParseErrorCode::kInvalidMajorVersion);
  EXPECT_EQ(answer_for(r.error(), false, true).notify, NotifyType::kInvalidMajorVersion);
  b[17] = 0x10;  // IKEv1
  EXPECT_EQ(Message::parse(b).error().code, ParseErrorCode::kNotIkev2);
  b[17] = 0x25;  // minor version: ignored (RFC 7296 3.1), kept
  auto minor = Message::parse(b);
  ASSERT_TRUE(minor);
  EXPECT_EQ(minor->header.minor, 5);
  b[19] = 0xff;  // reserved flag bits: ignored on receipt
  EXPECT_TRUE(Message::parse(b));
  EXPECT_EQ(Message::parse(std::span<const uint8_t>(b.data(), 27)).error().code, ParseErrorCode::kTooShort);
}

TEST(IkeCodecMalformed, HeaderStillReadableWhenPayloadsFail) {
  auto b = from_hex(kAospIkeAuth);
  b[kHeaderSize + 2] = 0;  // SK payload length 0
  b[kHeaderSize + 3] = 0;
  EXPECT_FALSE(Message::parse(b));
  auto h = Message::parse_header(b);
  ASSERT_TRUE(h);
  EXPECT_EQ(h->spi_r, 0x909232b3d1edcb5cull);
  EXPECT_EQ(h->message_id, 1u);
  EXPECT_TRUE(h->request());
  EXPECT_EQ(Message::parse_header(std::span<const uint8_t>(b.data(), 20)).error().code, ParseErrorCode::kTooShort);
}

TEST(IkeCodecMalformed, SkMustBeLast) {
  Message m;
  m.payloads.push_back(EncryptedPayload{PayloadType::kIdi, pattern(48, 1)});
  m.payloads.push_back(NoncePayload{pattern(16, 2)});
  EXPECT_TRUE(m.verify());
  auto wire = m.encode();
  auto r = Message::parse(wire);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ParseErrorCode::kInvalidSyntax);
  EXPECT_EQ(r.error().payload, PayloadType::kEncrypted);
  // An SK payload inside the plaintext chain.
  const std::vector<Payload> nested = {NoncePayload{pattern(16, 3)}, EncryptedPayload{PayloadType::kNone, {1}}};
  auto inner = parse_inner(PayloadType::kNonce, encode_inner(nested));
  ASSERT_FALSE(inner);
  EXPECT_EQ(inner.error().payload_index, 1u);
}

// ---------------------------------------------------------------------------------------------
// Critical bit

TEST(IkeCodecCritical, UnknownPayloads) {
  auto b = from_hex(kAospIkeSaInit);
  b[16] = 0xff;  // the first payload becomes an unknown type
  auto skipped = Message::parse(b);
  ASSERT_TRUE(skipped) << skipped.error().to_string();
  ASSERT_TRUE(std::holds_alternative<UnknownPayload>(skipped->payloads[0]));
  EXPECT_EQ(payload_type(skipped->payloads[0]), static_cast<PayloadType>(0xff));
  EXPECT_EQ(skipped->payloads.size(), 6u);  // the other payloads are still there
  EXPECT_EQ(skipped->encode(), b);

  b[kHeaderSize + 1] = 0x80;  // ... with the critical bit
  auto rejected = Message::parse(b);
  ASSERT_FALSE(rejected);
  EXPECT_EQ(rejected.error().code, ParseErrorCode::kUnsupportedCritical);
  EXPECT_EQ(rejected.error().payload, static_cast<PayloadType>(0xff));
  EXPECT_EQ(rejected.error().offset, kHeaderSize);
  const auto answer = answer_for(rejected.error(), false, true);
  EXPECT_EQ(answer.notify, NotifyType::kUnsupportedCriticalPayload);
  EXPECT_EQ(answer.data, 0xff);  // RFC 7296 3.10.1: the payload type

  // The critical bit on a known payload is ignored (RFC 7296 3.2).
  auto known = from_hex(kAospIkeSaInit);
  known[kHeaderSize + 1] = 0x80;
  auto accepted = Message::parse(known);
  ASSERT_TRUE(accepted);
  EXPECT_EQ(accepted->payloads.size(), 6u);

  // An unknown critical payload inside SK.
  const std::vector<Payload> inner = {UnknownPayload{static_cast<PayloadType>(150), true, {1, 2}}};
  auto r = parse_inner(static_cast<PayloadType>(150), encode_inner(inner));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ParseErrorCode::kUnsupportedCritical);
  EXPECT_EQ(answer_for(r.error(), true, true).notify, NotifyType::kUnsupportedCriticalPayload);
}

// ---------------------------------------------------------------------------------------------
// verify() rules, on the model and through the parser

template <class P>
Verdict check(const P& p) {
  Message m;
  m.payloads.push_back(p);
  const auto from_model = p.verify();
  auto parsed = Message::parse(m.encode());
  EXPECT_EQ(parsed.ok(), !from_model) << (from_model ? *from_model : "");
  if (!parsed) {
    EXPECT_EQ(parsed.error().code, ParseErrorCode::kInvalidSyntax);
    EXPECT_GE(parsed.error().offset, kHeaderSize);  // the payload, or a field inside it
    EXPECT_EQ(parsed.error().payload_index, 0u);
  }
  return from_model;
}

TEST(IkeCodecVerify, Nonce) {
  EXPECT_FALSE(check(NoncePayload{pattern(16, 1)}));
  EXPECT_FALSE(check(NoncePayload{pattern(256, 1)}));
  EXPECT_TRUE(check(NoncePayload{pattern(15, 1)}));
  EXPECT_TRUE(check(NoncePayload{pattern(257, 1)}));
  EXPECT_TRUE(check(NoncePayload{}));
}

TEST(IkeCodecVerify, ProposalsAndTransforms) {
  const auto good = std::get<SaPayload>(ike_samples().front().message.payloads[0]);
  EXPECT_FALSE(check(good));
  auto p = good;
  p.proposals[1].number = 3;  // 1, 3, 3: must grow by one
  EXPECT_TRUE(check(p));
  p = good;
  p.proposals[0].number = 0;
  EXPECT_TRUE(check(p));
  p = good;
  p.proposals.resize(1);
  p.proposals[0].number = 7;  // a responder's single chosen proposal keeps its number
  EXPECT_FALSE(check(p));
  p = good;
  p.proposals[0].spi = pattern(4, 1);  // IKE: 0 or 8
  EXPECT_TRUE(check(p));
  p.proposals[0].spi = pattern(8, 1);
  EXPECT_FALSE(check(p));
  p.proposals[0].protocol = ProtocolId::kEsp;  // ESP: 4
  EXPECT_TRUE(check(p));
  p.proposals[0].spi = pattern(4, 1);
  EXPECT_FALSE(check(p));
  p.proposals[0].spi.clear();
  EXPECT_TRUE(check(p));
  p = good;
  p.proposals[0].transforms.clear();
  EXPECT_TRUE(check(p));
  p = good;
  p.proposals[0].transforms[0].attributes[0].tv = false;  // KEY_LENGTH only TV
  p.proposals[0].transforms[0].attributes[0].data = {0, 128};
  EXPECT_TRUE(check(p));
  p = good;
  p.proposals[0].transforms[0].attributes.push_back({0x4000, false, 0, {1, 2, 3}});  // unknown TLV: kept
  EXPECT_FALSE(check(p));
  EXPECT_TRUE(check(SaPayload{}));
}

TEST(IkeCodecVerify, TrafficSelectors) {
  TrafficSelector ts;
  ts.start = *IpAddress::parse("10.0.0.1");
  ts.end = *IpAddress::parse("10.0.0.9");
  ts.start_port = 10;
  ts.end_port = 20;
  EXPECT_FALSE(check(TsPayload{true, {ts}}));
  auto bad = ts;
  bad.start_port = 21;
  EXPECT_TRUE(check(TsPayload{true, {bad}}));
  bad.start_port = 0xffff;  // OPAQUE (RFC 7296 3.13.1)
  bad.end_port = 0;
  EXPECT_FALSE(check(TsPayload{true, {bad}}));
  bad = ts;
  bad.start = *IpAddress::parse("10.0.0.10");
  EXPECT_TRUE(check(TsPayload{false, {bad}}));
  bad = ts;
  bad.end = *IpAddress::parse("2001:db8::1");  // family of the TS type
  EXPECT_TRUE(check(TsPayload{false, {bad}}));
  EXPECT_TRUE(check(TsPayload{true, {}}));
  TrafficSelector other;  // an unknown TS type is carried opaque
  other.ts_type = static_cast<TsType>(10);
  other.ip_protocol = 0;
  other.end_port = 0;
  other.other = {1, 2, 3, 4, 5};
  EXPECT_FALSE(check(TsPayload{true, {ts, other}}));

  // Selector lengths other than 16/40 on the wire.
  Message m;
  m.payloads.push_back(TsPayload{true, {ts}});
  auto wire = m.encode();
  set_u16(wire, kHeaderSize + 8 + 2, 40);  // IPv4 selector claiming 40 bytes
  EXPECT_FALSE(Message::parse(wire));
  wire[kHeaderSize + 4] = 2;  // Number of TSs 2, one present
  set_u16(wire, kHeaderSize + 8 + 2, 16);
  EXPECT_EQ(Message::parse(wire).error().code, ParseErrorCode::kTruncated);
  wire[kHeaderSize + 4] = 0;  // Number of TSs 0, one present
  EXPECT_EQ(Message::parse(wire).error().code, ParseErrorCode::kInvalidSyntax);
}

TEST(IkeCodecVerify, Notify) {
  NotifyPayload n;
  n.notify_type = NotifyType::kRekeySa;
  n.protocol = ProtocolId::kEsp;
  n.spi = {1, 2, 3, 4};
  EXPECT_FALSE(check(n));
  n.spi = {1, 2, 3};
  EXPECT_TRUE(check(n));
  n.spi = pattern(8, 1);  // no 8-byte IKE SPI in a notify (RFC 7296 3.10)
  n.protocol = ProtocolId::kIke;
  n.notify_type = NotifyType::kInitialContact;
  EXPECT_TRUE(check(n));
  n.spi.clear();
  EXPECT_FALSE(check(n));
  n.notify_type = NotifyType::kCookie;
  EXPECT_TRUE(check(n));
  n.data = pattern(64, 1);
  EXPECT_FALSE(check(n));
  n.data = pattern(65, 1);
  EXPECT_TRUE(check(n));
  n.notify_type = NotifyType::kInvalidKePayload;
  n.data = {0, 14};
  EXPECT_FALSE(check(n));
  n.data = {14};
  EXPECT_TRUE(check(n));
  n.notify_type = NotifyType::kNatDetectionSourceIp;
  n.data = pattern(20, 1);
  EXPECT_FALSE(check(n));
  n.data.pop_back();
  EXPECT_TRUE(check(n));
  n.notify_type = static_cast<NotifyType>(40000);  // unknown status: legal, kept
  EXPECT_FALSE(check(n));
}

TEST(IkeCodecVerify, Delete) {
  EXPECT_FALSE(check(DeletePayload::ike_sa()));
  EXPECT_FALSE(check(DeletePayload::child_sas(ProtocolId::kEsp, {1, 2, 3})));
  EXPECT_TRUE(check(DeletePayload::child_sas(ProtocolId::kEsp, {})));
  EXPECT_TRUE(check(DeletePayload{ProtocolId::kIke, 4, {1}}));
  // Num of SPIs * SPI Size must equal the rest of the payload.
  Message m;
  m.payloads.push_back(DeletePayload::child_sas(ProtocolId::kAh, {7, 8}));
  auto wire = m.encode();
  wire[kHeaderSize + 7] = 3;  // Num of SPIs 3, 2 present
  auto r = Message::parse(wire);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ParseErrorCode::kInvalidSyntax);
  EXPECT_EQ(r.error().offset, kHeaderSize + 6);
  wire[kHeaderSize + 7] = 2;
  wire[kHeaderSize + 5] = 2;  // SPI Size 2: 2 * 2 != 8
  EXPECT_FALSE(Message::parse(wire));
}

TEST(IkeCodecVerify, IdAuthKeCertEapVendor) {
  EXPECT_FALSE(check(IdPayload{true, IdType::kIpv4Addr, {1, 2, 3, 4}}));
  EXPECT_TRUE(check(IdPayload{true, IdType::kIpv4Addr, {1, 2, 3}}));
  EXPECT_TRUE(check(IdPayload{false, IdType::kIpv6Addr, pattern(4, 1)}));
  EXPECT_TRUE(check(IdPayload{false, IdType::kFqdn, {}}));
  EXPECT_TRUE(check(AuthPayload{AuthMethod::kSharedKeyMic, {}}));
  EXPECT_TRUE(check(KePayload{14, {}}));
  EXPECT_TRUE(check(KePayload{0, {1}}));
  EXPECT_TRUE(check(CertReqPayload{kCertX509Signature, pattern(21, 1)}));
  EXPECT_FALSE(check(CertReqPayload{kCertX509Signature, {}}));
  EXPECT_TRUE(check(CertPayload{kCertX509Signature, {}}));
  EXPECT_FALSE(check(EapPayload{{1, 1, 0, 5, 1}}));
  EXPECT_TRUE(check(EapPayload{{1, 1, 0, 9, 1}}));
  EXPECT_TRUE(check(VendorPayload{}));
}

TEST(IkeCodecVerify, ConfigAttributes) {
  ConfigPayload cp;
  cp.cfg_type = CfgType::kReply;
  cp.attributes = {{1, {10, 0, 0, 1}}, {2, {255, 255, 255, 0}}, {8, pattern(17, 1)}, {13, pattern(8, 1)},
                   {14, {0, 1, 0, 3}}, {7, {'x'}}, {0x1234, pattern(3, 1)}};
  EXPECT_FALSE(check(cp));
  auto bad = cp;
  bad.attributes[0].value = {10, 0, 0};
  EXPECT_TRUE(check(bad));
  bad = cp;
  bad.attributes[2].value = pattern(16, 1);  // INTERNAL_IP6_ADDRESS is 17 bytes
  EXPECT_TRUE(check(bad));
  bad = cp;
  bad.attributes[4].value = {0, 1, 0};
  EXPECT_TRUE(check(bad));
  bad = cp;
  bad.cfg_type = static_cast<CfgType>(5);
  EXPECT_TRUE(check(bad));
  // An attribute length past the payload.
  Message m;
  m.payloads.push_back(cp);
  auto wire = m.encode();
  set_u16(wire, kHeaderSize + 8 + 2, 200);
  EXPECT_EQ(Message::parse(wire).error().code, ParseErrorCode::kTruncated);
}

TEST(IkeCodecVerify, EncryptedFragments) {
  EncryptedFragmentPayload f;
  f.inner_first = PayloadType::kIdi;
  f.fragment_number = 1;
  f.total_fragments = 3;
  f.body = pattern(40, 1);
  EXPECT_FALSE(check(f));
  f.fragment_number = 2;  // Next Payload must be 0 past the first fragment
  EXPECT_TRUE(f.verify());
  EXPECT_FALSE(Message::parse(Message{{}, {f}}.encode()));
  f.inner_first = PayloadType::kNone;
  EXPECT_FALSE(check(f));
  f.fragment_number = 4;
  EXPECT_TRUE(check(f));
  f.fragment_number = 0;
  EXPECT_TRUE(check(f));
  EXPECT_TRUE(check(EncryptedPayload{PayloadType::kNone, {}}));
}

// ---------------------------------------------------------------------------------------------
// Error policy and reporting

TEST(IkeCodecErrors, AnswerPolicy) {
  const ParseError syntax{ParseErrorCode::kInvalidSyntax, PayloadType::kNonce, 2, 80, "nonce"};
  EXPECT_FALSE(answer_for(syntax, false, true).notify);  // unauthenticated: drop
  EXPECT_EQ(answer_for(syntax, true, true).notify, NotifyType::kInvalidSyntax);
  EXPECT_FALSE(answer_for(syntax, true, false).notify);  // never answer a response
  const ParseError truncated{ParseErrorCode::kTruncated, PayloadType::kSa, 0, 40, "x"};
  EXPECT_EQ(answer_for(truncated, true, true).notify, NotifyType::kInvalidSyntax);
  for (auto code : {ParseErrorCode::kTooShort, ParseErrorCode::kNotIkev2, ParseErrorCode::kLengthMismatch})
    EXPECT_FALSE(answer_for({code, PayloadType::kNone, 0, 0, ""}, true, true).notify) << to_string(code);
  const ParseError critical{ParseErrorCode::kUnsupportedCritical, static_cast<PayloadType>(99), 0, 28, ""};
  EXPECT_FALSE(answer_for(critical, true, false).notify);
}

TEST(IkeCodecErrors, MessagesNameThePayloadOffsetAndRule) {
  auto b = from_hex(kAospIkeSaInit);
  set_u16(b, 214, 4 + 15);  // a 15-byte nonce: the Nonce payload is #2 at offset 212
  auto r = Message::parse(b);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().payload, PayloadType::kNonce);
  EXPECT_EQ(r.error().payload_index, 2u);
  const std::string text = r.error().to_string();
  EXPECT_NE(text.find("payload #2 (Nonce)"), std::string::npos) << text;
  EXPECT_NE(text.find("RFC 7296"), std::string::npos) << text;
  EXPECT_EQ(ParseError({ParseErrorCode::kTooShort, PayloadType::kNone, 0, 3, "x"}).to_string(),
            "too_short in the IKE header at offset 3: x");
}

TEST(IkeCodecErrors, CountersAndTable) {
  ParseCounters c;
  c.count(ParseErrorCode::kTruncated);
  c.count(ParseErrorCode::kTruncated);
  EXPECT_EQ(c[ParseErrorCode::kTruncated], 2u);
  EXPECT_EQ(c[ParseErrorCode::kTooShort], 0u);
  for (std::size_t i = 0; i < kParseErrorCount; ++i) {
    EXPECT_EQ(static_cast<std::size_t>(kParseErrors[i].code), i);
    EXPECT_FALSE(kParseErrors[i].name.empty());
  }
}

TEST(IkeCodecTypes, Names) {
  EXPECT_EQ(to_string(NotifyType::kNatDetectionSourceIp), "NAT_DETECTION_SOURCE_IP");
  EXPECT_EQ(to_string(NotifyType::kIkev2FragmentationSupported), "IKEV2_FRAGMENTATION_SUPPORTED");
  EXPECT_EQ(to_string(static_cast<NotifyType>(12345)), "");
  EXPECT_EQ(to_string(PayloadType::kEncryptedFragment), "SKF");
  EXPECT_TRUE(is_known(PayloadType::kEap));
  EXPECT_FALSE(is_known(static_cast<PayloadType>(49)));
  EXPECT_FALSE(is_known(PayloadType::kNone));
  EXPECT_EQ(to_string(ExchangeType::kCreateChildSa), "CREATE_CHILD_SA");
}

}  // namespace
}  // namespace esprit::ike
