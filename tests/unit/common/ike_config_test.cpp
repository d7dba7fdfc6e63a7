// The IKE configuration model: built-in defaults against the NEC UNIVERGE IX table of default values
// (seed 003, rows 1-16), resolution precedence at each level with its source, strongSwan proposal
// parsing into the registry's transforms, every IKE ID type, errors with line and key path, and PSKs
// that never appear in an error.
#include "esprit/common/ike_config.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "esprit/common/config.hpp"

namespace esprit {
namespace {

namespace fs = std::filesystem;

fs::path source_root() {
  fs::path f(__FILE__);
  if (f.is_relative()) f = fs::read_symlink("/proc/self/exe").parent_path().parent_path().parent_path() / f;
  return fs::weakly_canonical(f).parent_path().parent_path().parent_path().parent_path();
}

std::string doc_example(std::string_view heading) {
  std::ifstream in(source_root() / "docs" / "configuration.md");
  std::stringstream ss;
  ss << in.rdbuf();
  const std::string doc = ss.str();
  const std::size_t h = doc.find(heading);
  if (h == std::string::npos) return {};
  const std::size_t open = doc.find("```toml\n", h);
  if (open == std::string::npos) return {};
  const std::size_t begin = open + 8;
  return doc.substr(begin, doc.find("\n```", begin) - begin + 1);
}

Config load_ok(std::string_view text) {
  ConfigResult r = load_config_string(text, "test.toml");
  EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().to_string());
  if (!r.ok()) return Config{};
  return std::move(r).value();
}

ConfigError load_err(std::string_view text) {
  ConfigResult r = load_config_string(text, "test.toml");
  EXPECT_FALSE(r.ok()) << "expected an error";
  if (r.ok()) return ConfigError{};
  return r.error();
}

uint32_t line_of(std::string_view text, std::string_view needle) {
  const std::size_t at = text.find(needle);
  if (at == std::string_view::npos) return 0;
  return static_cast<uint32_t>(std::count(text.begin(), text.begin() + static_cast<std::ptrdiff_t>(at), '\n') + 1);
}

const std::string kPorts = R"([[port]]
name = "lan"
device = "net_tap0"
role = "protected"
ipv4 = ["10.1.0.1/24"]

[[port]]
name = "wan"
device = "net_af_packet0,iface=veth0"
role = "unprotected"
ipv4 = ["192.0.2.1/24"]
)";

constexpr std::string_view kPsk = "correct-horse-battery-staple-42";

std::string peer(std::string_view extra = "") {
  return "\n[[peer]]\nname = \"east\"\naddress = \"192.0.2.2\"\npsk = \"" + std::string(kPsk) + "\"\n" +
         std::string(extra);
}

std::vector<std::string> names(const std::vector<EncrAlg>& v) {
  std::vector<std::string> out;
  for (EncrAlg a : v) out.emplace_back(info(a).name);
  return out;
}

std::vector<std::string> dh_names(const std::vector<uint16_t>& v) {
  std::vector<std::string> out;
  for (uint16_t g : v) out.emplace_back(dh_from_ikev2(g)->name);
  return out;
}

// ----- defaults (NEC table) -----------------------------------------------------------------

TEST(IkeConfig, BuiltinDefaultsAreTheNecTable) {
  const Config c = load_ok(kPorts + peer());
  ASSERT_EQ(c.ike.peers.size(), 1u);
  const EffectiveIkeSettings e = resolve_ike_settings(c.ike, c.ike.peers[0]);
  // Row 1: own ID = source address.
  EXPECT_FALSE(e.local_id.value.has_value());
  // Rows 2, 3: everything supported is offered (checked in DefaultProposalOrder).
  EXPECT_EQ(e.ike_proposals.value, default_proposals(ProposalKind::kIke));
  EXPECT_EQ(e.esp_proposals.value, default_proposals(ProposalKind::kEsp));
  EXPECT_EQ(e.child_pfs.value, dh_groups_strongest_first());
  EXPECT_EQ(e.connect_type.value, ConnectType::kTrigger);                   // row 4
  EXPECT_EQ(e.dpd_interval.value, 0u);                                      // row 5: off
  EXPECT_EQ(e.negotiation_direction.value, NegotiationDirection::kBoth);    // row 6
  EXPECT_TRUE(e.anti_replay.value);                                         // row 7
  EXPECT_EQ(e.retransmit_waits(), (std::vector<uint32_t>{2, 4, 8, 16}));    // row 12: 30 s in all
  EXPECT_EQ(e.ike_lifetime.value, 86400u);                                  // row 13
  EXPECT_EQ(e.child_lifetime.value, 28800u);                                // row 14
  EXPECT_EQ(e.child_lifetime_bytes.value, 0u);
  EXPECT_EQ(e.child_lifetime_packets.value, 0u);
  EXPECT_EQ(e.nat_keepalive.value, 20u);
  EXPECT_EQ(e.natt.value, NattMode::kOn);
  EXPECT_TRUE(e.ike_fragmentation.value);  // RFC 7383, as strongSwan's default
  EXPECT_EQ(e.ike_fragment_size.value, 1280u);
  EXPECT_EQ(c.ike.port, 500);
  EXPECT_EQ(c.ike.natt_port, 4500);
  EXPECT_TRUE(c.ike.keys_file.empty());
  for (const std::string& line : e.describe()) EXPECT_NE(line.find("(built-in default)"), std::string::npos) << line;
  // The remote ID defaults to the peer's address.
  EXPECT_EQ(c.ike.peers[0].effective_remote_id().to_string(), "ipv4:192.0.2.2");
}

TEST(IkeConfig, DefaultProposalOrder) {
  // The order documented in docs/configuration.md ("Default proposals").
  const auto ike = default_proposals(ProposalKind::kIke);
  ASSERT_EQ(ike.size(), 2u);
  EXPECT_EQ(names(ike[0].encr),
            (std::vector<std::string>{"aes256gcm16", "chacha20poly1305", "aes192gcm16", "aes128gcm16", "aes256gcm12",
                                      "aes192gcm12", "aes128gcm12", "aes256gcm8", "aes192gcm8", "aes128gcm8"}));
  EXPECT_EQ(names(ike[1].encr), (std::vector<std::string>{"aes256", "aes192", "aes128", "3des"}));
  EXPECT_TRUE(ike[0].integ.empty());
  EXPECT_EQ(ike[1].to_string().substr(0, 50), "aes256-aes192-aes128-3des-sha512-sha384-sha256-sha");
  std::vector<std::string> prf;
  for (PrfAlg p : ike[0].prf) prf.emplace_back(info(p).name);
  EXPECT_EQ(prf, (std::vector<std::string>{"prfsha512", "prfsha384", "prfsha256", "prfsha1", "prfaesxcbc", "prfmd5"}));
  EXPECT_EQ(dh_names(ike[0].dh),
            (std::vector<std::string>{"ecp521", "ecp384", "modp8192", "modp6144", "modp4096", "modp3072", "curve25519",
                                      "ecp256", "modp2048", "modp1536", "modp1024", "modp768"}));
  const auto esp = default_proposals(ProposalKind::kEsp);
  ASSERT_EQ(esp.size(), 2u);
  EXPECT_TRUE(esp[0].dh.empty());
  EXPECT_TRUE(esp[1].prf.empty());
  // ENCR_NULL is never offered by default.
  for (const auto& p : esp)
    for (EncrAlg a : p.encr) EXPECT_NE(a, EncrAlg::kNull);
}

// ----- precedence ---------------------------------------------------------------------------

TEST(IkeConfig, PrecedenceAtEachLevel) {
  const std::string text = kPorts + R"(
[ike]
dpd_interval = 10
ike_lifetime = 7200
child_lifetime = 3600
nat_keepalive = 30

[[ike.profile]]
name = "branch"
dpd_interval = 20
ike_lifetime = 14400

[[peer]]
name = "east"
address = "192.0.2.2"
psk = "correct-horse-battery-staple-42"
profile = "branch"
dpd_interval = 30

[[tunnel]]
name = "t0"
peer = "east"
overrides = { dpd_interval = 40 }
)";
  const Config c = load_ok(text);
  ASSERT_EQ(c.tunnels.size(), 1u);
  EXPECT_EQ(c.tunnels[0].peer, "east");
  EXPECT_EQ(c.tunnels[0].remote.to_string(), "192.0.2.2");
  const IkePeer& p = c.ike.peers[0];
  const EffectiveIkeSettings t = resolve_ike_settings(c.ike, p, &c.tunnels[0].ike);
  EXPECT_EQ(t.dpd_interval.value, 40u);
  EXPECT_EQ(t.dpd_interval.source, IkeSource::kTunnel);
  EXPECT_EQ(t.ike_lifetime.value, 14400u);
  EXPECT_EQ(t.ike_lifetime.source, IkeSource::kProfile);
  EXPECT_EQ(t.child_lifetime.value, 3600u);
  EXPECT_EQ(t.child_lifetime.source, IkeSource::kDefaultProfile);
  EXPECT_EQ(t.nat_keepalive.value, 30u);
  EXPECT_EQ(t.anti_replay.source, IkeSource::kBuiltin);

  const EffectiveIkeSettings e = resolve_ike_settings(c.ike, p);
  EXPECT_EQ(e.dpd_interval.value, 30u);
  EXPECT_EQ(e.dpd_interval.source, IkeSource::kPeer);
  IkePeer bare = p;
  bare.settings = {};
  EXPECT_EQ(resolve_ike_settings(c.ike, bare).dpd_interval.source, IkeSource::kProfile);
  bare.profile.clear();
  EXPECT_EQ(resolve_ike_settings(c.ike, bare).dpd_interval.value, 10u);
  EXPECT_EQ(resolve_ike_settings(c.ike, bare).dpd_interval.source, IkeSource::kDefaultProfile);

  bool found = false;
  for (const std::string& line : t.describe())
    if (line == "dpd_interval = 40  (tunnel/policy)") found = true;
  EXPECT_TRUE(found);
}

TEST(IkeConfig, DefaultProfileAsSubTableAndBothPlacesRefused) {
  const Config c = load_ok(kPorts + "\n[ike.default]\nconnect_type = \"auto\"\nesp = \"aes128gcm16\"\n" + peer());
  const auto e = resolve_ike_settings(c.ike, c.ike.peers[0]);
  EXPECT_EQ(e.connect_type.value, ConnectType::kAuto);
  EXPECT_EQ(e.connect_type.source, IkeSource::kDefaultProfile);
  ASSERT_EQ(e.esp_proposals.value.size(), 1u);
  // child_pfs (default: all groups) applies to an ESP proposal without DH.
  EXPECT_EQ(e.child_proposals()[0].dh, dh_groups_strongest_first());

  const std::string both = kPorts + "\n[ike]\ndpd_interval = 10\n[ike.default]\ndpd_interval = 20\n";
  const ConfigError err = load_err(both);
  EXPECT_EQ(err.key, "ike.default.dpd_interval");
  EXPECT_NE(err.message.find("also set in [ike]"), std::string::npos) << err.message;
}

TEST(IkeConfig, ValueForms) {
  const Config c = load_ok(kPorts + R"(
[ike]
port = 1500
natt_port = 14500
cookie_threshold = 0
keys_file = "/var/lib/esprit/ikev2_decryption_table"
)" + peer(R"(local = "192.0.2.1"
natt = "force"
nat_keepalive = "off"
dpd_interval = "off"
retransmit_count = 2
retransmit_interval = 10
child_lifetime_bytes = 1_000_000_000
child_lifetime_packets = "none"
child_pfs = ["x25519", "modp2048"]
anti_replay = false
negotiation_direction = "initiator"
connect_type = "auto"
rekey_margin = 60
rekey_jitter = 0
ike_fragmentation = false
ike_fragment_size = 576
)"));
  EXPECT_EQ(c.ike.port, 1500);
  EXPECT_EQ(c.ike.peers[0].local->to_string(), "192.0.2.1");
  EXPECT_EQ(c.ike.natt_port, 14500);
  EXPECT_EQ(c.ike.cookie_threshold, 0u);
  EXPECT_EQ(c.ike.keys_file, "/var/lib/esprit/ikev2_decryption_table");
  const auto e = resolve_ike_settings(c.ike, c.ike.peers[0]);
  EXPECT_EQ(e.natt.value, NattMode::kForce);
  EXPECT_EQ(e.nat_keepalive.value, 0u);
  EXPECT_EQ(e.dpd_interval.value, 0u);
  EXPECT_EQ(e.retransmit_waits(), (std::vector<uint32_t>{10, 10, 10}));
  EXPECT_EQ(e.child_lifetime_bytes.value, 1000000000u);
  EXPECT_EQ(e.child_lifetime_packets.value, 0u);
  EXPECT_EQ(e.child_pfs.value, (std::vector<uint16_t>{31, 14}));
  EXPECT_FALSE(e.anti_replay.value);
  EXPECT_EQ(e.negotiation_direction.value, NegotiationDirection::kInitiator);
  EXPECT_EQ(e.connect_type.value, ConnectType::kAuto);
  EXPECT_EQ(e.rekey_margin.value, 60u);
  EXPECT_FALSE(e.ike_fragmentation.value);
  EXPECT_EQ(e.ike_fragment_size.value, 576u);
  const auto lines = e.describe();
  EXPECT_NE(std::find(lines.begin(), lines.end(), "nat_keepalive = off  (peer)"), lines.end());
  EXPECT_NE(std::find(lines.begin(), lines.end(), "child_pfs = [curve25519, modp2048]  (peer)"), lines.end());
}

// ----- proposals ----------------------------------------------------------------------------

TEST(IkeProposalParse, Valid) {
  auto p = parse_proposal("aes256-sha256-modp2048", ProposalKind::kIke);
  ASSERT_TRUE(p);
  EXPECT_EQ(p->encr, std::vector<EncrAlg>{EncrAlg::kAesCbc256});
  EXPECT_EQ(p->integ, std::vector<IntegAlg>{IntegAlg::kHmacSha256_128});
  EXPECT_EQ(p->prf, std::vector<PrfAlg>{PrfAlg::kHmacSha256});  // from the integrity algorithm
  EXPECT_EQ(p->dh, std::vector<uint16_t>{14});
  EXPECT_EQ(p->to_string(), "aes256-sha256-prfsha256-modp2048");

  p = parse_proposal("aes128gcm16-prfsha256-x25519", ProposalKind::kIke);
  ASSERT_TRUE(p);
  EXPECT_TRUE(p->aead());
  EXPECT_EQ(p->dh, std::vector<uint16_t>{31});
  EXPECT_EQ(p->to_string(), "aes128gcm16-prfsha256-curve25519");

  p = parse_proposal("aes128gcm-aes256gcm16-prfsha384-ecp384-ecp256", ProposalKind::kIke);  // several per type
  ASSERT_TRUE(p);
  EXPECT_EQ(names(p->encr), (std::vector<std::string>{"aes128gcm16", "aes256gcm16"}));
  EXPECT_EQ(p->dh, (std::vector<uint16_t>{20, 19}));

  p = parse_proposal("aes128gcm16-modp2048", ProposalKind::kEsp);  // PFS group
  ASSERT_TRUE(p);
  EXPECT_EQ(p->dh, std::vector<uint16_t>{14});
  p = parse_proposal("aes128gcm16", ProposalKind::kEsp);  // missing DH: no PFS, allowed
  ASSERT_TRUE(p);
  EXPECT_TRUE(p->dh.empty());
  p = parse_proposal("3des-sha1", ProposalKind::kEsp);  // the Cisco example's transform set
  ASSERT_TRUE(p);
  EXPECT_EQ(p->integ, std::vector<IntegAlg>{IntegAlg::kHmacSha1_96});
  EXPECT_TRUE(parse_proposal("null-sha256", ProposalKind::kEsp));
  // AES-XCBC-96 (RFC 3566) for IKE, strongSwan's name; its PRF follows it like sha256 -> prfsha256.
  p = parse_proposal("aes128-aesxcbc-modp2048", ProposalKind::kIke);
  ASSERT_TRUE(p);
  EXPECT_EQ(p->integ, std::vector<IntegAlg>{IntegAlg::kAesXcbc96});
  EXPECT_EQ(p->prf, std::vector<PrfAlg>{PrfAlg::kAesXcbc128});
  EXPECT_EQ(p->to_string(), "aes128-aesxcbc-prfaesxcbc-modp2048");
}

struct BadProposal {
  std::string_view text;
  ProposalKind kind;
  std::string_view message;
};

TEST(IkeProposalParse, Invalid) {
  const BadProposal cases[] = {
      {"aes999-sha256-modp2048", ProposalKind::kIke, "unknown algorithm \"aes999\""},
      {"aes128gcm16-sha256-prfsha256-modp2048", ProposalKind::kIke, "is an AEAD algorithm"},
      {"aes128gcm16-sha256", ProposalKind::kEsp, "is an AEAD algorithm"},
      {"aes256-sha256", ProposalKind::kIke, "names no DH group"},
      {"aes128gcm16-modp2048", ProposalKind::kIke, "needs a PRF"},
      {"aes256-modp2048", ProposalKind::kIke, "needs an integrity algorithm"},
      {"aes128", ProposalKind::kEsp, "needs an integrity algorithm"},
      {"aes128gcm16-aes128-sha256", ProposalKind::kEsp, "mixes AEAD"},
      {"null-sha256-modp2048", ProposalKind::kIke, "null encryption is not allowed for IKE"},
      {"aes128gcm16-prfsha256", ProposalKind::kEsp, "is a PRF"},
      {"sha256-modp2048", ProposalKind::kIke, "names no encryption"},
      {"aes128--sha256", ProposalKind::kEsp, "empty algorithm name"},
      {"aes128-sha256-sha256", ProposalKind::kEsp, "listed twice"},
      {"", ProposalKind::kEsp, "empty proposal"},
      {"aes128-aesxcbc", ProposalKind::kEsp, "protects IKE messages only; the ESP engine does not implement it"},
  };
  for (const BadProposal& c : cases) {
    std::string err;
    EXPECT_FALSE(parse_proposal(c.text, c.kind, &err)) << c.text;
    EXPECT_NE(err.find(c.message), std::string::npos) << c.text << ": " << err;
  }
  std::string err;
  (void)parse_proposal("aes999-sha256-modp2048", ProposalKind::kIke, &err);
  // The error lists what is supported, by transform type.
  for (std::string_view w : {"supported: encryption", "aes128gcm16", "integrity", "sha256", "prf", "prfsha256", "dh",
                             "curve25519", "aesxcbc"})
    EXPECT_NE(err.find(w), std::string::npos) << w << " in " << err;
  (void)parse_proposal("aes999-sha256", ProposalKind::kEsp, &err);
  EXPECT_EQ(err.find("aesxcbc"), std::string::npos) << "not offered for ESP: " << err;
  // Never in the default proposals (IKE-only and not needed by the NEC table).
  for (ProposalKind k : {ProposalKind::kIke, ProposalKind::kEsp})
    for (const IkeProposal& d : default_proposals(k))
      for (IntegAlg i : d.integ) EXPECT_NE(i, IntegAlg::kAesXcbc96);
}

// ----- identities ---------------------------------------------------------------------------

TEST(IkeIdentityParse, EveryType) {
  struct Case {
    std::string_view text;
    IkeIdType type;
    std::string_view canonical;
    std::vector<uint8_t> data;
  };
  const Case cases[] = {
      {"ipv4:192.0.2.1", IkeIdType::kIpv4Addr, "ipv4:192.0.2.1", {192, 0, 2, 1}},
      {"192.0.2.1", IkeIdType::kIpv4Addr, "ipv4:192.0.2.1", {192, 0, 2, 1}},
      {"ipv6:2001:db8::1", IkeIdType::kIpv6Addr, "ipv6:2001:db8::1",
       {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}},
      {"2001:db8::1", IkeIdType::kIpv6Addr, "ipv6:2001:db8::1",
       {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}},
      {"fqdn:gw.example", IkeIdType::kFqdn, "fqdn:gw.example", {'g', 'w', '.', 'e', 'x', 'a', 'm', 'p', 'l', 'e'}},
      {"gw.example", IkeIdType::kFqdn, "fqdn:gw.example", {'g', 'w', '.', 'e', 'x', 'a', 'm', 'p', 'l', 'e'}},
      {"@gw", IkeIdType::kFqdn, "fqdn:gw", {'g', 'w'}},
      {"fqdn:*.gw.lab", IkeIdType::kFqdn, "fqdn:*.gw.lab", {'*', '.', 'g', 'w', '.', 'l', 'a', 'b'}},  // wildcard
      {"email:a@b", IkeIdType::kRfc822Addr, "email:a@b", {'a', '@', 'b'}},
      {"userfqdn:a@b", IkeIdType::kRfc822Addr, "email:a@b", {'a', '@', 'b'}},
      {"a@b", IkeIdType::kRfc822Addr, "email:a@b", {'a', '@', 'b'}},
      {"keyid:0x0102ff", IkeIdType::kKeyId, "keyid:0x0102ff", {1, 2, 0xff}},
      {"@#0102ff", IkeIdType::kKeyId, "keyid:0x0102ff", {1, 2, 0xff}},
      {"keyid:ab", IkeIdType::kKeyId, "keyid:0x6162", {'a', 'b'}},
  };
  for (const Case& c : cases) {
    std::string err;
    const auto id = IkeIdentity::parse(c.text, &err);
    ASSERT_TRUE(id) << c.text << ": " << err;
    EXPECT_EQ(id->type, c.type) << c.text;
    EXPECT_EQ(id->data, c.data) << c.text;
    EXPECT_EQ(id->to_string(), c.canonical);
    EXPECT_EQ(IkeIdentity::parse(id->to_string()), id) << c.text;  // round trip
  }
  for (std::string_view bad : {"", "gateway", "ipv4:2001:db8::1", "ipv6:192.0.2.1", "fqdn:a..b", "fqdn:*", "fqdn:*gw.lab", "fqdn:a.*.lab", "email:nobody",
                               "keyid:0x123", "keyid:", "x509:CN=a"}) {
    std::string err;
    EXPECT_FALSE(IkeIdentity::parse(bad, &err)) << bad;
    EXPECT_FALSE(err.empty()) << bad;
  }
}

// ----- peers, bindings, errors --------------------------------------------------------------

TEST(IkeConfig, PeersAndBindings) {
  const std::string text = kPorts + peer("local_id = \"fqdn:west.example\"\nremote_id = \"email:east@example\"\n") +
                           R"(
[[peer]]
name = "roadwarriors"
address = "%any"
remote_id = "keyid:0x0a0b"
psk = "0x000102030405060708090a0b0c0d0e0f10111213"

[[policy]]
name = "site"
src = "10.1.0.0/24"
dst = "10.2.0.0/24"
action = "protect"
peer = "east"
overrides = { esp = ["aes256gcm16-ecp384"], child_pfs = "off" }

[[policy]]
name = "rw"
src = "10.1.0.0/24"
dst = "10.9.0.0/16"
action = "protect"
peer = "roadwarriors"
)";
  const Config c = load_ok(text);
  ASSERT_EQ(c.ike.peers.size(), 2u);
  const IkePeer& east = *c.ike.find_peer("east");
  EXPECT_EQ(east.psk.size(), kPsk.size());
  EXPECT_EQ(std::string(east.psk.data(), east.psk.data() + east.psk.size()), kPsk);
  EXPECT_EQ(east.remote_id->to_string(), "email:east@example");
  EXPECT_EQ(resolve_ike_settings(c.ike, east).local_id.value->to_string(), "fqdn:west.example");
  const IkePeer& rw = *c.ike.find_peer("roadwarriors");
  EXPECT_FALSE(rw.address);
  EXPECT_EQ(rw.psk.size(), 20u);
  EXPECT_EQ(rw.psk.data()[19], 0x13);
  ASSERT_EQ(c.policies.size(), 2u);
  EXPECT_EQ(c.policies[0].peer, "east");
  EXPECT_TRUE(c.policies[0].sa.empty());
  const auto e = resolve_ike_settings(c.ike, east, &c.policies[0].ike);
  EXPECT_TRUE(e.child_pfs.value.empty());
  EXPECT_EQ(e.child_proposals()[0].dh, std::vector<uint16_t>{20});  // the proposal's own group stays
  EXPECT_TRUE(c.ike.warnings.empty());
}

TEST(IkeConfig, PskFileAndShortPskWarning) {
  char dir_tmpl[] = "/tmp/esprit-ikecfg-XXXXXX";
  ASSERT_NE(mkdtemp(dir_tmpl), nullptr);
  const fs::path dir(dir_tmpl);
  {
    std::ofstream(dir / "east.psk") << "0x00112233445566778899aabbccddeeff\n";
  }
  const std::string text = kPorts + "\n[[peer]]\nname = \"east\"\naddress = \"192.0.2.2\"\npsk_file = \"east.psk\"\n";
  {
    std::ofstream(dir / "espritd.toml") << text;
  }
  ConfigResult r = load_config_file((dir / "espritd.toml").string());
  ASSERT_TRUE(r.ok()) << r.error().to_string();
  const IkePeer& p = r->ike.peers[0];
  ASSERT_EQ(p.psk.size(), 16u);
  EXPECT_EQ(p.psk.data()[15], 0xff);
  ASSERT_EQ(r->ike.warnings.size(), 1u);  // 16 bytes < 20: accepted with a warning
  EXPECT_NE(r->ike.warnings[0].find("peer[0].psk_file"), std::string::npos) << r->ike.warnings[0];
  // A file that is more than a key is refused without showing it.
  {
    std::ofstream(dir / "big.psk") << std::string(5000, 'k');
  }
  const ConfigError big =
      load_err(kPorts + "\n[[peer]]\nname = \"east\"\naddress = \"192.0.2.2\"\npsk_file = \"" +
               (dir / "big.psk").string() + "\"\n");
  EXPECT_EQ(big.key, "peer[0].psk_file");
  EXPECT_NE(big.message.find("larger than 4096 bytes"), std::string::npos) << big.message;
  EXPECT_EQ(big.message.find("kkkk"), std::string::npos);
  fs::remove_all(dir);
}

struct ErrorCase {
  std::string_view name;
  std::string text;
  std::string_view at;  ///< text on the line the error must point to
  std::string_view key;
  std::string_view message;
};

std::ostream& operator<<(std::ostream& os, const ErrorCase& c) { return os << c.name; }

class IkeConfigError : public testing::TestWithParam<ErrorCase> {};

TEST_P(IkeConfigError, NamesLineKeyAndProblem) {
  const ErrorCase& c = GetParam();
  const ConfigError e = load_err(c.text);
  EXPECT_EQ(e.line, line_of(c.text, c.at)) << e.to_string();
  EXPECT_EQ(e.key, c.key) << e.to_string();
  EXPECT_NE(e.message.find(c.message), std::string::npos) << e.to_string();
  EXPECT_EQ(e.to_string().find(kPsk), std::string::npos) << e.to_string();
}

const std::string kPolicy = R"(
[[policy]]
name = "site"
src = "10.1.0.0/24"
dst = "10.2.0.0/24"
action = "protect"
)";

INSTANTIATE_TEST_SUITE_P(
    Cases, IkeConfigError,
    testing::Values(
        ErrorCase{"unknown algorithm", kPorts + peer("ike = [\"aes256-sha256-modp2048\", \"aes999-sha1-modp2048\"]\n"),
                  "ike = [", "peer[0].ike[1]", "unknown algorithm \"aes999\""},
        ErrorCase{"AEAD with integrity", kPorts + "\n[ike]\nesp = \"aes128gcm16-sha256\"\n", "esp =", "ike.esp",
                  "is an AEAD algorithm"},
        ErrorCase{"IKE without DH", kPorts + "\n[[ike.profile]]\nname = \"p\"\nike = \"aes128-sha256\"\n", "ike = \"",
                  "ike.profile[0].ike", "names no DH group"},
        ErrorCase{"unknown key with hint", kPorts + peer("dpd_intervall = 10\n"), "dpd_intervall",
                  "peer[0].dpd_intervall", "did you mean \"dpd_interval\""},
        ErrorCase{"lifetime out of range", kPorts + peer("child_lifetime = 9\n"), "child_lifetime",
                  "peer[0].child_lifetime", "expected 10..691200"},
        ErrorCase{"dpd out of range", kPorts + "\n[ike]\ndpd_interval = 5\n", "dpd_interval", "ike.dpd_interval",
                  "\"off\" or an integer 10..3600"},
        ErrorCase{"fragment size out of range", kPorts + peer("ike_fragment_size = 100\n"), "ike_fragment_size",
                  "peer[0].ike_fragment_size", "576..1900"},
        ErrorCase{"aesxcbc for ESP", kPorts + "\n[ike]\nesp = \"aes128-aesxcbc\"\n", "esp =", "ike.esp",
                  "protects IKE messages only"},
        ErrorCase{"bad id", kPorts + peer("remote_id = \"fqdn:bad..name\"\n"), "remote_id", "peer[0].remote_id",
                  "is not a domain name"},
        ErrorCase{"any without remote_id",
                  kPorts + "\n[[peer]]\nname = \"rw\"\naddress = \"any\"\npsk = \"correct-horse-battery-staple-42\"\n",
                  "[[peer]]", "peer[0]", "missing: remote_id"},
        ErrorCase{"any as initiator",
                  kPorts + "\n[[peer]]\nname = \"rw\"\naddress = \"any\"\nremote_id = \"a@b\"\n"
                           "psk = \"correct-horse-battery-staple-42\"\nnegotiation_direction = \"initiator\"\n",
                  "negotiation_direction", "peer[0].negotiation_direction", "can only respond"},
        ErrorCase{"auto responder", kPorts + peer("negotiation_direction = \"responder\"\nconnect_type = \"auto\"\n"),
                  "connect_type", "peer[0].connect_type", "forbids it"},
        ErrorCase{"rekey margin over lifetime", kPorts + peer("child_lifetime = 600\n"), "child_lifetime",
                  "peer[0].child_lifetime", "must be less than the shortest lifetime"},
        ErrorCase{"unknown profile", kPorts + "\n[[ike.profile]]\nname = \"branch\"\n" + peer("profile = \"brnch\"\n"),
                  "profile = \"brnch\"", "peer[0].profile", "did you mean \"branch\""},
        ErrorCase{"duplicate address",
                  kPorts + peer() +
                      "\n[[peer]]\nname = \"east2\"\naddress = \"192.0.2.2\" # dup\n"
                      "psk = \"correct-horse-battery-staple-42\"\n",
                  "address = \"192.0.2.2\" # dup", "peer[1].address", "peers are keyed by address"},
        ErrorCase{"local not ours", kPorts + peer("local = \"192.0.2.9\"\n"), "local =", "peer[0].local",
                  "is not an address of an unprotected port"},
        ErrorCase{"missing psk", kPorts + "\n[[peer]]\nname = \"east\"\naddress = \"192.0.2.2\"\n", "[[peer]]",
                  "peer[0]", "missing: psk"},
        ErrorCase{"policy names unknown peer", kPorts + peer() + kPolicy + "peer = \"est\"\n", "peer = \"est\"",
                  "policy[0].peer", "did you mean \"east\""},
        ErrorCase{"peer and static SA", kPorts + peer() + kPolicy + "peer = \"east\"\nsa = \"out1\"\n", "sa = \"out1\"",
                  "policy[0].sa", "write one or the other"},
        ErrorCase{"peer on a bypass policy",
                  kPorts + peer() +
                      "\n[[policy]]\nname = \"b\"\nsrc = \"10.1.0.0/24\"\ndst = \"10.2.0.0/24\"\n"
                      "action = \"bypass\"\npeer = \"east\"\n",
                  "peer = \"east\"\n", "policy[0].peer", "only protect policies"},
        ErrorCase{"overrides without peer", kPorts + "\n[[tunnel]]\nname = \"t0\"\noverrides = { dpd_interval = 10 }\n",
                  "overrides", "tunnel[0].overrides", "name the peer"},
        ErrorCase{"bad override",
                  kPorts + peer() +
                      "\n[[tunnel]]\nname = \"t0\"\npeer = \"east\"\n"
                      "overrides = { esp = \"aes128gcm16-sha1\" }\n",
                  "overrides", "tunnel[0].overrides.esp", "is an AEAD algorithm"},
        ErrorCase{"tunnel to an any peer",
                  kPorts + "\n[[peer]]\nname = \"rw\"\naddress = \"any\"\nremote_id = \"a@b\"\n"
                           "psk = \"correct-horse-battery-staple-42\"\n\n[[tunnel]]\nname = \"t0\"\npeer = \"rw\"\n",
                  "peer = \"rw\"", "tunnel[0].peer", "needs a peer with an address"},
        ErrorCase{"tunnel remote differs",
                  kPorts + peer() +
                      "\n[[tunnel]]\nname = \"t0\"\npeer = \"east\"\n"
                      "remote = \"192.0.2.3\"\n",
                  "remote = ", "tunnel[0].remote", "differs from peer \"east\"'s address"},
        ErrorCase{"ike as array", kPorts + "\n[[ike]]\nport = 500\n", "[[ike]]", "ike", "write [ike], not [[ike]]"}),
    [](const testing::TestParamInfo<ErrorCase>& i) {
      std::string n(i.param.name);
      for (char& ch : n)
        if (!std::isalnum(static_cast<unsigned char>(ch))) ch = '_';
      return n;
    });

// ----- PSKs never in errors -----------------------------------------------------------------

TEST(IkeConfig, PskNeverInErrors) {
  const std::string secret = "hunter2";  // 7 bytes: refused
  ConfigError e = load_err(kPorts + "\n[[peer]]\nname = \"east\"\naddress = \"192.0.2.2\"\npsk = \"" + secret + "\"\n");
  EXPECT_EQ(e.key, "peer[0].psk");
  EXPECT_NE(e.message.find("at least 8"), std::string::npos) << e.message;
  EXPECT_EQ(e.to_string().find(secret), std::string::npos) << e.to_string();

  const std::string bad_hex = "0x00112233445566778899aabbccddeeffzz";
  e = load_err(kPorts + "\n[[peer]]\nname = \"east\"\naddress = \"192.0.2.2\"\npsk = \"" + bad_hex + "\"\n");
  EXPECT_NE(e.message.find("not valid hex"), std::string::npos) << e.message;
  EXPECT_EQ(e.to_string().find("00112233"), std::string::npos) << e.to_string();

  // A TOML syntax error on the psk line does not quote the value either.
  e = load_err(kPorts + "\n[[peer]]\nname = \"east\"\naddress = \"192.0.2.2\"\npsk = \"" + std::string(kPsk) + "\n");
  EXPECT_EQ(e.to_string().find(kPsk), std::string::npos) << e.to_string();
  // A key pasted into another key is not echoed either.
  e = load_err(kPorts + peer("remote_id = \"0x00112233445566778899aabbccddeeff\"\n"));
  EXPECT_EQ(e.key, "peer[0].remote_id");
  EXPECT_EQ(e.to_string().find("00112233"), std::string::npos) << e.to_string();
  // psk with the wrong type, and an unreadable psk_file.
  e = load_err(kPorts + "\n[[peer]]\nname = \"east\"\naddress = \"192.0.2.2\"\npsk = 12345678901\n");
  EXPECT_EQ(e.to_string().find("12345678901"), std::string::npos) << e.to_string();
  e = load_err(kPorts + peer("psk_file = \"/nonexistent\"\n"));
  EXPECT_EQ(e.key, "peer[0].psk_file");
  EXPECT_EQ(e.to_string().find(kPsk), std::string::npos) << e.to_string();
}

// ----- the documented example ---------------------------------------------------------------

TEST(IkeConfig, DocumentedExampleLoads) {
  const std::string text = doc_example("## IKE example");
  ASSERT_FALSE(text.empty()) << "no IKE example in docs/configuration.md";
  const Config c = load_ok(text);
  ASSERT_EQ(c.ike.peers.size(), 3u);
  ASSERT_EQ(c.ike.profiles.size(), 1u);
  ASSERT_EQ(c.ike.warnings.size(), 1u);  // branch1's 9-byte "ikev2pass"
  EXPECT_NE(c.ike.warnings[0].find("branch1"), std::string::npos);
  EXPECT_EQ(c.ike.warnings[0].find("ikev2pass"), std::string::npos);
  const IkePeer& branch = *c.ike.find_peer("branch1");
  const EffectiveIkeSettings b = resolve_ike_settings(c.ike, branch, &c.policies[0].ike);
  EXPECT_EQ(b.dpd_interval.value, 10u);
  EXPECT_EQ(b.dpd_interval.source, IkeSource::kProfile);
  EXPECT_EQ(b.local_id.source, IkeSource::kPeer);
  EXPECT_EQ(resolve_ike_settings(c.ike, *c.ike.find_peer("east")).local_id.value->to_string(), "fqdn:west.example");
  EXPECT_TRUE(b.child_pfs.value.empty());
  ASSERT_EQ(c.tunnels.size(), 1u);
  EXPECT_EQ(resolve_ike_settings(c.ike, *c.ike.find_peer("east"), &c.tunnels[0].ike).child_lifetime.value, 3600u);
}

}  // namespace
}  // namespace esprit
