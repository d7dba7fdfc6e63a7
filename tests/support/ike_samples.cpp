#include "ike_samples.hpp"

#include "esprit/common/algorithms.hpp"

#include <optional>
#include <string>
#include <string_view>
#include <utility>

namespace esprit::ike::test {
namespace {

// ENCR and INTEG IDs come from the algorithm registry; PRF and DH IDs are IANA's (RFC 7296 3.3.2,
// RFC 4868, RFC 8031) until the registry carries them.
const uint16_t kEncrAesCbc = esprit::info(EncrAlg::kAesCbc256).ikev2_id;
const uint16_t kEncrAesGcm16 = esprit::info(EncrAlg::kAesGcm16_128).ikev2_id;
const uint16_t kEncr3Des = esprit::info(EncrAlg::kTripleDesCbc).ikev2_id;
const uint16_t kIntegSha1_96 = esprit::info(IntegAlg::kHmacSha1_96).ikev2_id;
const uint16_t kIntegSha256_128 = esprit::info(IntegAlg::kHmacSha256_128).ikev2_id;
constexpr uint16_t kPrfHmacSha1 = 2;
constexpr uint16_t kPrfHmacSha256 = 5;
constexpr uint16_t kDhModp1024 = 2;
constexpr uint16_t kDhModp2048 = 14;
constexpr uint16_t kDhCurve25519 = 31;

// A self-signed X.509 certificate (EC P-256, CN=esprit-test), made with
//   openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj /CN=esprit-test
// so that dissectors find DER where a CERT payload says X.509.
constexpr std::string_view kTestCertHex =
    "3082018230820129a00302010202143c4c4ef0f658c23436f3e8b07eac0b369dae78cd300a06082a8648ce3d04030230"
    "163114301206035504030c0b6573707269742d746573743020170d3236313132333035333532355a180f323132363130"
    "33303035333532355a30163114301206035504030c0b6573707269742d746573743059301306072a8648ce3d02010608"
    "2a8648ce3d0301070342000432872204c31f9c0abbda025306c92fad10938c21f76a250ffa7fbc000bbb3a8295e31a9d"
    "b050b3f6f9e6c5dc5053642246b9350f9203063642387e8a4d33a5c5a3533051301d0603551d0e041604149948245194"
    "34e3a80a46d029fe6c4fb6f2c46100301f0603551d23041830168014994824519434e3a80a46d029fe6c4fb6f2c46100"
    "300f0603551d130101ff040530030101ff300a06082a8648ce3d040302034700304402205583d142eb8ebe3c4fa0f9ca"
    "91ce6245f46183628c461ff1e53d5b110e5d494f022027283a44074917a15fa556215d790d0941cb4357f5a0c55603a6"
    "506575a59675";

std::vector<uint8_t> from_hex(std::string_view h) {
  std::vector<uint8_t> out;
  auto nibble = [](char c) { return c <= '9' ? c - '0' : c - 'a' + 10; };
  for (std::size_t i = 0; i + 1 < h.size(); i += 2) out.push_back(static_cast<uint8_t>(nibble(h[i]) << 4 | nibble(h[i + 1])));
  return out;
}

Transform tf(TransformType t, uint16_t id, std::optional<uint16_t> key_bits = std::nullopt) {
  Transform x{t, id, {}};
  if (key_bits) x.attributes.push_back({kAttrKeyLength, true, *key_bits, {}});
  return x;
}

SaPayload ike_proposals() {
  SaPayload sa;
  sa.proposals.push_back({1, ProtocolId::kIke, {},
                          {tf(TransformType::kEncr, kEncrAesCbc, 256), tf(TransformType::kPrf, kPrfHmacSha256),
                           tf(TransformType::kInteg, kIntegSha256_128), tf(TransformType::kDh, kDhModp2048)}});
  sa.proposals.push_back({2, ProtocolId::kIke, {},
                          {tf(TransformType::kEncr, kEncrAesGcm16, 128), tf(TransformType::kPrf, kPrfHmacSha256),
                           tf(TransformType::kDh, kDhCurve25519)}});
  sa.proposals.push_back({3, ProtocolId::kIke, {},
                          {tf(TransformType::kEncr, kEncr3Des), tf(TransformType::kPrf, kPrfHmacSha1),
                           tf(TransformType::kInteg, kIntegSha1_96), tf(TransformType::kDh, kDhModp1024)}});
  return sa;
}

SaPayload esp_proposal(uint8_t number, uint32_t spi) {
  SaPayload sa;
  sa.proposals.push_back({number, ProtocolId::kEsp, {uint8_t(spi >> 24), uint8_t(spi >> 16), uint8_t(spi >> 8), uint8_t(spi)},
                          {tf(TransformType::kEncr, kEncrAesCbc, 128), tf(TransformType::kInteg, kIntegSha256_128),
                           tf(TransformType::kEsn, 0)}});
  return sa;
}

NotifyPayload notify(NotifyType t, std::vector<uint8_t> data = {}) {
  NotifyPayload n;
  n.notify_type = t;
  n.data = std::move(data);
  return n;
}

TrafficSelector ts4(const char* start, const char* end, uint8_t proto = 0, uint16_t sp = 0, uint16_t ep = 0xffff) {
  TrafficSelector ts;
  ts.ts_type = TsType::kIpv4AddrRange;
  ts.ip_protocol = proto;
  ts.start_port = sp;
  ts.end_port = ep;
  ts.start = *IpAddress::parse(start);
  ts.end = *IpAddress::parse(end);
  return ts;
}

TrafficSelector ts6(const char* start, const char* end) {
  TrafficSelector ts;
  ts.ts_type = TsType::kIpv6AddrRange;
  ts.start = *IpAddress::parse(start);
  ts.end = *IpAddress::parse(end);
  return ts;
}

Header header(ExchangeType x, uint32_t mid, bool initiator, bool response, bool with_spi_r = true) {
  Header h;
  h.spi_i = 0x0123456789abcdefULL;
  h.spi_r = with_spi_r ? 0xfedcba9876543210ULL : 0;
  h.exchange = x;
  h.flags = static_cast<uint8_t>((initiator ? kFlagInitiator : 0) | (response ? kFlagResponse : 0));
  h.message_id = mid;
  return h;
}

/// A stand-in SK body: 16-byte IV, the plaintext, RFC 7296 3.14 padding to 16 bytes, 16-byte ICV.
std::vector<uint8_t> fake_sk_body(const std::vector<Payload>& inner, uint32_t seed) {
  std::vector<uint8_t> body = pattern(16, seed);
  const auto plain = encode_inner(inner);
  body.insert(body.end(), plain.begin(), plain.end());
  const std::size_t pad = 15 - plain.size() % 16;
  for (std::size_t i = 0; i < pad; ++i) body.push_back(0);
  body.push_back(static_cast<uint8_t>(pad));
  const auto icv = pattern(16, seed + 1);
  body.insert(body.end(), icv.begin(), icv.end());
  return body;
}

Sample encrypted(std::string name, Header h, std::vector<Payload> inner, uint32_t seed) {
  Sample s{std::move(name), Message{h, {}}, std::move(inner)};
  EncryptedPayload sk;
  sk.inner_first = s.inner.empty() ? PayloadType::kNone : payload_type(s.inner.front());
  sk.body = fake_sk_body(s.inner, seed);
  s.message.payloads.push_back(std::move(sk));
  return s;
}

}  // namespace

std::vector<uint8_t> pattern(std::size_t n, uint32_t seed) {
  std::vector<uint8_t> out(n);
  uint32_t x = seed * 2654435761u + 1;
  for (auto& b : out) {
    x = x * 1664525u + 1013904223u;
    b = static_cast<uint8_t>(x >> 24);
  }
  return out;
}

std::vector<Sample> ike_samples() {
  std::vector<Sample> out;
  const auto natd_src = notify(NotifyType::kNatDetectionSourceIp, pattern(20, 1));
  const auto natd_dst = notify(NotifyType::kNatDetectionDestinationIp, pattern(20, 2));
  const auto frag = notify(NotifyType::kIkev2FragmentationSupported);

  {  // IKE_SA_INIT request (RFC 7296 1.2): HDR, SAi1, KEi, Ni, N(NAT_DETECTION_*), V
    Message m{header(ExchangeType::kIkeSaInit, 0, true, false, false), {}};
    m.payloads.push_back(ike_proposals());
    m.payloads.push_back(KePayload{kDhModp2048, pattern(256, 3)});
    m.payloads.push_back(NoncePayload{pattern(32, 4)});
    m.payloads.push_back(natd_src);
    m.payloads.push_back(natd_dst);
    m.payloads.push_back(frag);
    m.payloads.push_back(VendorPayload{pattern(16, 5)});
    out.push_back({"ike_sa_init_request", std::move(m), {}});
  }
  {  // IKE_SA_INIT response: HDR, SAr1, KEr, Nr, N(NAT_DETECTION_*), [CERTREQ]
    Message m{header(ExchangeType::kIkeSaInit, 0, false, true), {}};
    SaPayload sa;
    sa.proposals.push_back(ike_proposals().proposals[0]);
    m.payloads.push_back(std::move(sa));
    m.payloads.push_back(KePayload{kDhModp2048, pattern(256, 6)});
    m.payloads.push_back(NoncePayload{pattern(32, 7)});
    m.payloads.push_back(natd_src);
    m.payloads.push_back(natd_dst);
    m.payloads.push_back(frag);
    out.push_back({"ike_sa_init_response", std::move(m), {}});
  }
  {  // IKE_SA_INIT response asking for another group (RFC 7296 1.2, 2.7): N(INVALID_KE_PAYLOAD)
    Message m{header(ExchangeType::kIkeSaInit, 0, false, true, false), {}};
    m.payloads.push_back(notify(NotifyType::kInvalidKePayload, {0x00, 0x1f}));
    out.push_back({"ike_sa_init_invalid_ke", std::move(m), {}});
  }
  {  // IKE_SA_INIT response with a cookie (RFC 7296 2.6): N(COOKIE)
    Message m{header(ExchangeType::kIkeSaInit, 0, false, true, false), {}};
    m.payloads.push_back(notify(NotifyType::kCookie, pattern(32, 8)));
    out.push_back({"ike_sa_init_cookie", std::move(m), {}});
  }
  {  // ... and the request again with the cookie first
    Message m = out.front().message;
    m.payloads.insert(m.payloads.begin(), notify(NotifyType::kCookie, pattern(32, 8)));
    out.push_back({"ike_sa_init_request_cookie", std::move(m), {}});
  }
  {  // IKE_AUTH request: HDR, SK {IDi, N(INITIAL_CONTACT), [IDr,] AUTH, SAi2, TSi, TSr, N(...)}
    std::vector<Payload> inner;
    inner.push_back(IdPayload{true, IdType::kFqdn, {'l', 'e', 'f', 't', '.', 'e', 'x'}});
    inner.push_back(notify(NotifyType::kInitialContact));
    inner.push_back(IdPayload{false, IdType::kIpv4Addr, {192, 0, 2, 2}});
    inner.push_back(AuthPayload{AuthMethod::kSharedKeyMic, pattern(32, 9)});
    inner.push_back(esp_proposal(1, 0xc0010001));
    inner.push_back(TsPayload{true, {ts4("10.1.0.0", "10.1.255.255")}});
    inner.push_back(TsPayload{false, {ts4("10.2.0.0", "10.2.255.255"), ts4("10.3.0.1", "10.3.0.1", 6, 80, 80)}});
    inner.push_back(notify(NotifyType::kUseTransportMode));
    inner.push_back(notify(NotifyType::kEspTfcPaddingNotSupported));
    inner.push_back(notify(NotifyType::kNonFirstFragmentsAlso));
    out.push_back(encrypted("ike_auth_request", header(ExchangeType::kIkeAuth, 1, true, false), std::move(inner), 10));
  }
  {  // IKE_AUTH response: HDR, SK {IDr, AUTH, SAr2, TSi, TSr}
    std::vector<Payload> inner;
    inner.push_back(IdPayload{false, IdType::kIpv4Addr, {192, 0, 2, 2}});
    inner.push_back(AuthPayload{AuthMethod::kSharedKeyMic, pattern(32, 11)});
    inner.push_back(esp_proposal(1, 0xc0020002));
    inner.push_back(TsPayload{true, {ts4("10.1.0.0", "10.1.255.255")}});
    inner.push_back(TsPayload{false, {ts4("10.2.0.0", "10.2.255.255")}});
    out.push_back(encrypted("ike_auth_response", header(ExchangeType::kIkeAuth, 1, false, true), std::move(inner), 12));
  }
  {  // CREATE_CHILD_SA rekeying a Child SA with PFS (RFC 7296 1.3.3)
    std::vector<Payload> inner;
    NotifyPayload rekey = notify(NotifyType::kRekeySa);
    rekey.protocol = ProtocolId::kEsp;
    rekey.spi = {0xc0, 0x01, 0x00, 0x01};
    inner.push_back(rekey);
    inner.push_back(esp_proposal(1, 0xc0010003));
    inner.push_back(NoncePayload{pattern(32, 13)});
    inner.push_back(KePayload{kDhCurve25519, pattern(32, 14)});
    inner.push_back(TsPayload{true, {ts4("10.1.0.0", "10.1.255.255")}});
    inner.push_back(TsPayload{false, {ts4("10.2.0.0", "10.2.255.255")}});
    out.push_back(encrypted("create_child_sa_rekey", header(ExchangeType::kCreateChildSa, 2, true, false), std::move(inner), 15));
  }
  {  // CREATE_CHILD_SA rekeying the IKE SA (RFC 7296 1.3.2)
    std::vector<Payload> inner;
    SaPayload sa;
    sa.proposals.push_back(ike_proposals().proposals[1]);
    sa.proposals[0].number = 1;
    sa.proposals[0].spi = pattern(8, 16);
    inner.push_back(std::move(sa));
    inner.push_back(NoncePayload{pattern(32, 17)});
    inner.push_back(KePayload{kDhCurve25519, pattern(32, 18)});
    out.push_back(encrypted("create_child_sa_ike_rekey", header(ExchangeType::kCreateChildSa, 3, true, false), std::move(inner), 19));
  }
  {  // INFORMATIONAL delete of Child SAs, of the IKE SA, and an empty one (liveness, RFC 7296 1.4)
    out.push_back(encrypted("informational_delete_child", header(ExchangeType::kInformational, 4, true, false),
                            {DeletePayload::child_sas(ProtocolId::kEsp, {0xc0010001, 0xc0010003})}, 20));
    out.push_back(encrypted("informational_delete_ike", header(ExchangeType::kInformational, 5, false, false),
                            {DeletePayload::ike_sa()}, 21));
    out.push_back(encrypted("informational_liveness", header(ExchangeType::kInformational, 6, true, false), {}, 22));
    out.push_back(encrypted("informational_liveness_response", header(ExchangeType::kInformational, 6, false, true), {}, 23));
  }
  {  // IKE_AUTH fragments (RFC 7383 2.5): fragment 1 names the first inner payload, 2 does not
    for (uint16_t n = 1; n <= 2; ++n) {
      Message m{header(ExchangeType::kIkeAuth, 1, true, false), {}};
      EncryptedFragmentPayload skf;
      skf.inner_first = n == 1 ? PayloadType::kIdi : PayloadType::kNone;
      skf.fragment_number = n;
      skf.total_fragments = 2;
      skf.body = pattern(16 + 96 + 16, 24 + n);
      m.payloads.push_back(std::move(skf));
      out.push_back({"ike_auth_fragment_" + std::to_string(n), std::move(m), {}});
    }
  }
  {  // Every RFC 7296 payload in clear, for the dissectors (not an exchange Esprit runs as is)
    Message m{header(ExchangeType::kIkeAuth, 1, true, false), {}};
    m.payloads.push_back(IdPayload{true, IdType::kRfc822Addr, {'a', '@', 'e', 'x'}});
    m.payloads.push_back(CertPayload{kCertX509Signature, from_hex(kTestCertHex)});
    m.payloads.push_back(CertReqPayload{kCertX509Signature, pattern(40, 31)});
    m.payloads.push_back(IdPayload{false, IdType::kIpv6Addr, pattern(16, 32)});
    m.payloads.push_back(AuthPayload{AuthMethod::kSharedKeyMic, pattern(32, 33)});
    ConfigPayload cp;
    cp.cfg_type = CfgType::kRequest;
    cp.attributes.push_back({static_cast<uint16_t>(CfgAttr::kInternalIp4Address), {}});
    cp.attributes.push_back({static_cast<uint16_t>(CfgAttr::kInternalIp4Dns), {}});
    cp.attributes.push_back({static_cast<uint16_t>(CfgAttr::kInternalIp6Address), {}});
    m.payloads.push_back(std::move(cp));
    m.payloads.push_back(esp_proposal(1, 0xc0010005));
    m.payloads.push_back(TsPayload{true, {ts4("10.1.0.0", "10.1.0.255", 17, 500, 4500), ts6("2001:db8::", "2001:db8::ffff")}});
    m.payloads.push_back(TsPayload{false, {ts4("0.0.0.0", "255.255.255.255")}});
    m.payloads.push_back(notify(NotifyType::kSetWindowSize, {0, 0, 0, 4}));
    m.payloads.push_back(DeletePayload::child_sas(ProtocolId::kEsp, {0x11223344}));
    m.payloads.push_back(VendorPayload{pattern(16, 34)});
    m.payloads.push_back(EapPayload{{2, 1, 0, 8, 1, 'e', 's', 'p'}});  // EAP Response/Identity
    out.push_back({"every_payload_clear", std::move(m), {}});
  }
  return out;
}

}  // namespace esprit::ike::test
