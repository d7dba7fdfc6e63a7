// The configuration loader: the documented example, defaults, number formats, both policy
// directions, IPv6, route-based tunnels, and one test per class of error (position + key path).
#include "esprit/common/config.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

namespace esprit {
namespace {

namespace fs = std::filesystem;

// ----- helpers ------------------------------------------------------------------------------

/// The source tree's root, from this file's path (meson passes it relative to the build root,
/// which is three levels above the test binary: build/tests/unit/test_common_config).
fs::path source_root() {
  fs::path f(__FILE__);
  if (f.is_relative()) f = fs::read_symlink("/proc/self/exe").parent_path().parent_path().parent_path() / f;
  return fs::weakly_canonical(f).parent_path().parent_path().parent_path().parent_path();
}

std::string read_file(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

/// The first ```toml block after `heading` in docs/configuration.md.
std::string doc_example(std::string_view heading) {
  const std::string doc = read_file(source_root() / "docs" / "configuration.md");
  const std::size_t h = doc.find(heading);
  if (h == std::string::npos) return {};
  const std::size_t open = doc.find("```toml\n", h);
  if (open == std::string::npos) return {};
  const std::size_t begin = open + 8;
  const std::size_t close = doc.find("\n```", begin);
  return doc.substr(begin, close - begin + 1);
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

/// 1-based line of the first occurrence of `needle` (of its first character that is not a newline).
uint32_t line_of(std::string_view text, std::string_view needle) {
  std::size_t at = text.find(needle);
  if (at == std::string_view::npos) return 0;
  while (at < text.size() && text[at] == '\n') ++at;
  return static_cast<uint32_t>(std::count(text.begin(), text.begin() + static_cast<std::ptrdiff_t>(at), '\n') + 1);
}

/// `base` with each `from` replaced by `to` (the `from` must occur).
std::string edit(std::string base, std::initializer_list<std::pair<std::string_view, std::string_view>> edits) {
  for (const auto& [from, to] : edits) {
    const std::size_t at = base.find(from);
    EXPECT_NE(at, std::string::npos) << "test bug: " << from << " not in base config";
    if (at != std::string::npos) base.replace(at, from.size(), to);
  }
  return base;
}

std::vector<uint8_t> bytes(const SecretBytes& s) { return {s.data(), s.data() + s.size()}; }

IpPrefix pfx(const char* s) { return *IpPrefix::parse(s); }
IpAddress ip(const char* s) { return *IpAddress::parse(s); }

// A small valid configuration the error cases edit.
const std::string kBase = R"([[port]]
name = "lan"
device = "net_tap0"
role = "protected"
ipv4 = ["10.1.0.1/24"]

[[port]]
name = "wan"
device = "net_af_packet0,iface=veth0"
role = "unprotected"
ipv4 = ["192.0.2.1/24"]

[[policy]]
name = "p1"
src = "10.1.0.0/24"
dst = "10.2.0.0/24"
action = "protect"
sa = "out1"
sa_in = "in1"

[[sa]]
name = "out1"
spi = 0x1001
direction = "out"
local = "192.0.2.1"
remote = "192.0.2.2"
encr = "aes128gcm16"
encr_key = "000102030405060708090a0b0c0d0e0f10111213"

[[sa]]
name = "in1"
spi = 0x2001
direction = "in"
local = "192.0.2.1"
remote = "192.0.2.2"
encr = "aes128gcm16"
encr_key = "131211100f0e0d0c0b0a09080706050403020100"
)";

// ----- the documented example ---------------------------------------------------------------

TEST(Config, DocumentedExampleLoads) {
  const std::string text = doc_example("## Complete example");
  ASSERT_FALSE(text.empty()) << "no example found in " << (source_root() / "docs/configuration.md");
  const Config c = load_ok(text);

  EXPECT_EQ(c.daemon.log_level, LogLevel::kInfo);
  EXPECT_EQ(c.daemon.control_socket, "/run/esprit/espritd.sock");
  EXPECT_EQ(c.daemon.worker_lcores, (std::vector<uint32_t>{1, 2}));
  EXPECT_EQ(c.daemon.worker_count, 2u);
  EXPECT_EQ(c.daemon.main_lcore, 0u);
  EXPECT_EQ(c.eal.args, (std::vector<std::string>{"--in-memory", "--file-prefix", "esprit-west"}));
  EXPECT_EQ(c.spd.default_action, PolicyAction::kDiscard);

  ASSERT_EQ(c.ports.size(), 2u);
  const PortConfig& lan = c.ports[0];
  EXPECT_EQ(lan.name, "lan");
  EXPECT_EQ(lan.device_kind, DeviceKind::kPci);
  EXPECT_EQ(lan.device_name, "0000:03:00.0");
  EXPECT_EQ(lan.role, PortRole::kProtected);
  EXPECT_EQ(lan.mtu, 1500);
  ASSERT_EQ(lan.ipv4.size(), 1u);
  EXPECT_EQ(lan.ipv4[0].to_string(), "10.1.0.1/16");
  EXPECT_EQ(lan.ipv4[0].subnet(), pfx("10.1.0.0/16"));
  ASSERT_EQ(lan.ipv6.size(), 1u);
  EXPECT_EQ(lan.ipv6[0].address, ip("2001:db8:1::1"));
  EXPECT_EQ(lan.rx_queues, 2);
  EXPECT_FALSE(lan.tx_queues);
  EXPECT_FALSE(lan.mac);
  const PortConfig& wan = c.ports[1];
  EXPECT_EQ(wan.device_kind, DeviceKind::kVdev);
  EXPECT_EQ(wan.device_name, "net_af_packet0");
  EXPECT_EQ(wan.device_args, "iface=veth-wan,qpairs=2");
  EXPECT_EQ(wan.role, PortRole::kUnprotected);
  ASSERT_TRUE(wan.mac);
  EXPECT_EQ(wan.mac->to_string(), "02:00:5e:00:53:01");
  EXPECT_EQ(wan.rx_desc, 2048);
  EXPECT_EQ(wan.tx_desc, 2048);

  ASSERT_EQ(c.routes.size(), 5u);
  EXPECT_EQ(c.routes[0].kind, RouteKind::kNextHop);
  EXPECT_EQ(c.routes[0].prefix, pfx("0.0.0.0/0"));
  EXPECT_EQ(c.routes[0].via, ip("192.0.2.254"));
  EXPECT_EQ(c.routes[0].port, "wan");  // resolved from the gateway's subnet
  EXPECT_EQ(c.routes[1].via, ip("2001:db8:ff::fe"));
  EXPECT_EQ(c.routes[1].port, "wan");
  EXPECT_EQ(c.routes[2].kind, RouteKind::kTunnel);
  EXPECT_EQ(c.routes[2].tunnel, "vti-east");
  EXPECT_EQ(c.routes[3].prefix, pfx("2001:db8:3::/48"));
  EXPECT_EQ(c.routes[4].kind, RouteKind::kBlackhole);

  ASSERT_EQ(c.neighbors.size(), 1u);
  EXPECT_EQ(c.neighbors[0].ip, ip("192.0.2.254"));
  EXPECT_EQ(c.neighbors[0].mac.to_string(), "02:00:5e:00:53:fe");
  EXPECT_EQ(c.neighbors[0].port, "wan");

  ASSERT_EQ(c.policies.size(), 4u);
  const PolicyConfig& south = c.policies[0];
  EXPECT_EQ(south.name, "south-v4");
  EXPECT_EQ(south.direction, PolicyDirections::kBoth);
  EXPECT_EQ(south.selector.src, pfx("10.1.0.0/16"));
  EXPECT_EQ(south.selector.dst, pfx("10.2.0.0/16"));
  EXPECT_EQ(south.selector.proto, 0);
  EXPECT_TRUE(south.selector.sport.any());
  EXPECT_EQ(south.action, PolicyAction::kProtect);
  EXPECT_EQ(south.sa, "south-out");
  EXPECT_EQ(south.sa_in, (std::vector<std::string>{"south-in"}));
  EXPECT_EQ(c.policies[1].selector.proto, 6);
  EXPECT_EQ(c.policies[1].selector.dport, (PortRange{443, 443}));
  EXPECT_EQ(c.policies[2].direction, PolicyDirections::kOut);
  EXPECT_EQ(c.policies[2].selector.dport, (PortRange{137, 139}));
  EXPECT_EQ(c.policies[2].action, PolicyAction::kDiscard);
  EXPECT_EQ(c.policies[3].selector.src, pfx("10.1.0.10/32"));
  EXPECT_EQ(c.policies[3].selector.sport, (PortRange{22, 22}));
  EXPECT_EQ(c.policies[3].action, PolicyAction::kBypass);

  ASSERT_EQ(c.sas.size(), 7u);
  const SaDescriptor& so = c.sas[0].descriptor;
  EXPECT_EQ(c.sas[0].name, "south-out");
  EXPECT_EQ(so.spi, 0x1001u);
  EXPECT_EQ(so.direction, SaDirection::kOutbound);
  EXPECT_EQ(so.mode, SaMode::kTunnel);
  EXPECT_EQ(so.local, ip("192.0.2.1"));
  EXPECT_EQ(so.remote, ip("198.51.100.2"));
  EXPECT_EQ(so.encr, EncrAlg::kAesGcm16_128);
  EXPECT_EQ(bytes(so.encr_key), (std::vector<uint8_t>{0x20, 0x24, 0xfd, 0xa6, 0x96, 0xee, 0x5f, 0x77, 0x66, 0xe2,
                                                      0xfe, 0xe1, 0x44, 0xa3, 0xf3, 0xf9, 0xe6, 0xe7, 0xa8, 0x85}));
  EXPECT_EQ(so.integ, IntegAlg::kNone);
  EXPECT_EQ(c.sas[0].tcp_mss, (TcpMssClamp{TcpMssClamp::Mode::kFixed, 1360}));
  const SaDescriptor& si = c.sas[1].descriptor;
  EXPECT_EQ(si.spi, 0x2001u);
  EXPECT_EQ(si.direction, SaDirection::kInbound);
  EXPECT_EQ(si.encr_key.size(), 20u);
  EXPECT_EQ(si.encr_key.data()[0], 0xfb);
  EXPECT_EQ(si.replay_window, 1024u);
  const SaDescriptor& s6 = c.sas[2].descriptor;
  EXPECT_EQ(s6.spi, 4099u);
  EXPECT_EQ(s6.encr, EncrAlg::kAesCbc256);
  EXPECT_EQ(s6.integ, IntegAlg::kHmacSha256_128);
  EXPECT_EQ(s6.integ_key.size(), 32u);
  EXPECT_TRUE(s6.esn);
  EXPECT_EQ(s6.inner_family, InnerFamily::kV6);
  EXPECT_EQ(s6.dscp_mode, DscpMode::kSet);
  EXPECT_EQ(s6.dscp, 10);
  const SaDescriptor& eo = c.sas[4].descriptor;
  EXPECT_EQ(eo.encr, EncrAlg::kChaCha20Poly1305);
  ASSERT_TRUE(eo.natt);
  EXPECT_EQ(eo.natt->local_port, 4500);
  EXPECT_EQ(eo.natt->remote_port, 4501);
  EXPECT_EQ(eo.df, DfMode::kClear);
  EXPECT_EQ(eo.soft.bytes, 900'000'000'000u);
  EXPECT_EQ(eo.hard.bytes, 1'000'000'000'000u);
  EXPECT_EQ(eo.hard.packets, 0u);
  ASSERT_TRUE(c.sas[5].descriptor.natt);
  EXPECT_EQ(c.sas[5].descriptor.natt->remote_port, 4501);
  ASSERT_TRUE(c.sas[6].descriptor.natt);
  EXPECT_EQ(c.sas[6].descriptor.natt->local_port, 4500);
  for (const SaConfig& s : c.sas) EXPECT_FALSE(to_descriptor(s).validate()) << s.name;

  ASSERT_EQ(c.tunnels.size(), 1u);
  const TunnelConfig& t = c.tunnels[0];
  EXPECT_EQ(t.name, "vti-east");
  EXPECT_EQ(t.sa_out, "east-out");
  EXPECT_EQ(t.sa_in, (std::vector<std::string>{"east-in", "east-in-next"}));
  EXPECT_EQ(t.local, ip("192.0.2.1"));  // from the SA
  EXPECT_EQ(t.remote, ip("203.0.113.7"));
  EXPECT_EQ(t.mtu, 1400);
  EXPECT_EQ(t.tcp_mss.mode, TcpMssClamp::Mode::kAuto);
  EXPECT_EQ(t.fragmentation, FragmentMode::kPre);

  EXPECT_EQ(c.find_port("wan"), &c.ports[1]);
  EXPECT_EQ(c.find_sa("east-in"), &c.sas[5]);
  EXPECT_EQ(c.find_tunnel("nope"), nullptr);
}

TEST(Config, DocumentedLabExampleLoads) {
  const std::string text = doc_example("## A lab example");
  ASSERT_FALSE(text.empty());
  const Config c = load_ok(text);
  ASSERT_EQ(c.ports.size(), 2u);
  EXPECT_EQ(c.ports[0].device_name, "net_pcap0");
  EXPECT_EQ(c.ports[1].device_name, "net_null0");
  EXPECT_EQ(c.eal.args, (std::vector<std::string>{"--no-huge", "-m", "512"}));
}

TEST(Config, LoadsFromAFileAndNamesIt) {
  const fs::path p = fs::temp_directory_path() / ("esprit_config_test_" + std::to_string(::getpid()) + ".toml");
  {
    std::ofstream out(p);
    out << kBase;
  }
  ConfigResult ok = load_config_file(p.string());
  ASSERT_TRUE(ok) << ok.error().to_string();
  EXPECT_EQ(ok->sas.size(), 2u);
  {
    std::ofstream out(p);
    out << edit(kBase, {{"encr = \"aes128gcm16\"", "encr = \"aes129\""}});
  }
  ConfigResult bad = load_config_file(p.string());
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().file, p.string());
  EXPECT_NE(bad.error().to_string().find(p.string() + ":27:8: sa[0].encr: unknown algorithm \"aes129\""),
            std::string::npos)
      << bad.error().to_string();
  fs::remove(p);

  ConfigResult missing = load_config_file("/nonexistent/espritd.toml");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().to_string(), "/nonexistent/espritd.toml: cannot open: No such file or directory");
}

// ----- defaults -----------------------------------------------------------------------------

TEST(Config, DefaultsWhenOmitted) {
  const Config c = load_ok(kBase);
  EXPECT_EQ(c.daemon.log_level, LogLevel::kInfo);
  EXPECT_EQ(c.daemon.control_socket, "/run/esprit/espritd.sock");
  EXPECT_TRUE(c.daemon.worker_lcores.empty());
  EXPECT_EQ(c.daemon.worker_count, 0u);  // every worker lcore EAL enables
  EXPECT_FALSE(c.daemon.main_lcore);
  EXPECT_EQ(c.daemon.mbufs, 0u);  // the daemon sizes the pool for its rings
  EXPECT_EQ(c.daemon.worker_idle_sleep_us, 0u);  // workers busy-poll
  EXPECT_TRUE(c.eal.args.empty());
  EXPECT_EQ(c.spd.default_action, PolicyAction::kDiscard);
  EXPECT_EQ(c.fragmentation.reassembly_packets, 128u);
  EXPECT_EQ(c.fragmentation.reassembly_fragments, 8u);
  EXPECT_EQ(c.fragmentation.reassembly_timeout_ms, 3000u);
  EXPECT_EQ(c.fragmentation.icmp_rate, 100u);
  EXPECT_EQ(c.fragmentation.icmp_burst, 10u);

  const PortConfig& p = c.ports[0];
  EXPECT_EQ(p.mtu, 1500);
  EXPECT_TRUE(p.ipv6.empty());
  EXPECT_FALSE(p.mac);
  EXPECT_FALSE(p.rx_queues);
  EXPECT_FALSE(p.tx_queues);
  EXPECT_EQ(p.rx_desc, 1024);
  EXPECT_EQ(p.tx_desc, 1024);
  EXPECT_EQ(p.device_args, "");

  const PolicyConfig& pol = c.policies[0];
  EXPECT_EQ(pol.direction, PolicyDirections::kBoth);
  EXPECT_EQ(pol.selector.proto, 0);
  EXPECT_TRUE(pol.selector.sport.any());
  EXPECT_TRUE(pol.selector.dport.any());

  const SaConfig& s = c.sas[0];
  const SaDescriptor& d = s.descriptor;
  EXPECT_EQ(d.mode, SaMode::kTunnel);
  EXPECT_EQ(d.inner_family, InnerFamily::kAny);
  EXPECT_EQ(d.integ, IntegAlg::kNone);
  EXPECT_TRUE(d.integ_key.empty());
  EXPECT_FALSE(d.esn);
  EXPECT_FALSE(d.natt);
  EXPECT_EQ(d.dscp_mode, DscpMode::kCopy);
  EXPECT_TRUE(d.ecn);
  EXPECT_EQ(d.df, DfMode::kCopy);
  EXPECT_EQ(d.ttl, 64);
  EXPECT_EQ(d.soft.packets, 0u);
  EXPECT_EQ(d.hard.bytes, 0u);
  EXPECT_EQ(d.cookie, 0u);
  EXPECT_EQ(s.fragmentation, FragmentMode::kPost);
  EXPECT_EQ(s.tcp_mss.mode, TcpMssClamp::Mode::kOff);
  const SaDescriptor& in = c.sas[1].descriptor;
  EXPECT_TRUE(in.anti_replay);
  EXPECT_EQ(in.replay_window, kDefaultReplayWindow);
}

TEST(Config, QueuesFollowEalWhenWorkersAreNotGiven) {
  // Without [daemon] workers the worker count is EAL's, so any queue count is accepted here.
  const Config c = load_ok(edit(kBase, {{"name = \"lan\"", "name = \"lan\"\nrx_queues = 4\ntx_queues = 5"}}));
  ASSERT_EQ(c.ports.size(), 2u);
  EXPECT_EQ(c.ports[0].rx_queues, 4);
  EXPECT_EQ(c.ports[0].tx_queues, 5);
}

TEST(Config, WorkerIdleSleep) {
  EXPECT_EQ(load_ok("[daemon]\nworker_idle_sleep_us = 50\n" + kBase).daemon.worker_idle_sleep_us, 50u);
  EXPECT_EQ(load_ok("[daemon]\nworker_idle_sleep_us = 0\n" + kBase).daemon.worker_idle_sleep_us, 0u);
}

TEST(Config, FragmentationLimits) {
  const Config c = load_ok(kBase +
                           "\n[fragmentation]\nreassembly_packets = 1024\nreassembly_fragments = 4\n"
                           "reassembly_timeout_ms = 500\nicmp_rate = 1000\nicmp_burst = 50\n");
  EXPECT_EQ(c.fragmentation.reassembly_packets, 1024u);
  EXPECT_EQ(c.fragmentation.reassembly_fragments, 4u);
  EXPECT_EQ(c.fragmentation.reassembly_timeout_ms, 500u);
  EXPECT_EQ(c.fragmentation.icmp_rate, 1000u);
  EXPECT_EQ(c.fragmentation.icmp_burst, 50u);
}

TEST(Config, BypassIsTheOption) {
  const Config c = load_ok(kBase + "\n[spd]\ndefault_action = \"bypass\"\n");
  EXPECT_EQ(c.spd.default_action, PolicyAction::kBypass);
}

// ----- number formats -----------------------------------------------------------------------

TEST(Config, NumberFormats) {
  struct Case {
    const char* spi;
    uint32_t want;
  };
  for (const Case& k : {Case{"4097", 4097}, Case{"0x1001", 0x1001}, Case{"\"0x1001\"", 0x1001}, Case{"\"4097\"", 4097},
                        Case{"0xffffffff", 0xffffffff}, Case{"1_000_000", 1000000}, Case{"0o10001", 4097},
                        Case{"\"0xDEADBEEF\"", 0xdeadbeef}}) {
    const Config c = load_ok(edit(kBase, {{"spi = 0x1001", std::string("spi = ") + k.spi}}));
    ASSERT_EQ(c.sas.size(), 2u) << k.spi;
    EXPECT_EQ(c.sas[0].descriptor.spi, k.want) << k.spi;
  }
  // Keys: "0x" prefix, ':' separators, upper case.
  const Config keys = load_ok(edit(kBase, {{"\"000102030405060708090a0b0c0d0e0f10111213\"",
                                            "\"0x00:01:02:03:04:05:06:07:08:09:0A:0B:0C:0D:0E:0F:10:11:12:13\""}}));
  ASSERT_EQ(keys.sas.size(), 2u);
  EXPECT_EQ(keys.sas[0].descriptor.encr_key.data()[10], 0x0a);

  // Ports: integer, string, range, "any"; protocol by number.
  const Config ports = load_ok(edit(
      kBase, {{"action = \"protect\"", "proto = 17\nsport = \"any\"\ndport = \"1000-2000\"\naction = \"protect\""}}));
  ASSERT_EQ(ports.policies.size(), 1u);
  EXPECT_EQ(ports.policies[0].selector.proto, 17);
  EXPECT_TRUE(ports.policies[0].selector.sport.any());
  EXPECT_EQ(ports.policies[0].selector.dport, (PortRange{1000, 2000}));
  const Config one =
      load_ok(edit(kBase, {{"action = \"protect\"", "proto = \"udp\"\ndport = \"53\"\naction = \"protect\""}}));
  EXPECT_EQ(one.policies[0].selector.dport, (PortRange{53, 53}));

  // Counts, lcore lists and lifetimes with separators.
  const Config misc = load_ok(
      "[daemon]\nworkers = 3\n" +
      edit(kBase, {{"spi = 0x1001", "spi = 0x1001\nlifetime = { soft_packets = 1_000, hard_packets = 0x10000 }"}}));
  EXPECT_EQ(misc.daemon.worker_count, 3u);
  EXPECT_EQ(misc.sas[0].descriptor.soft.packets, 1000u);
  EXPECT_EQ(misc.sas[0].descriptor.hard.packets, 65536u);

  // Lifetime as a [sa.lifetime] sub-table.
  const Config sub = load_ok(kBase + "[sa.lifetime]\nhard_bytes = 1_000_000\n");
  EXPECT_EQ(sub.sas[1].descriptor.hard.bytes, 1000000u);
}

// ----- policies -----------------------------------------------------------------------------

TEST(Config, BothDirectionsExpandToMirroredRules) {
  const std::string text =
      edit(kBase, {{"action = \"protect\"", "proto = \"tcp\"\nsport = 1024\ndport = 443\naction = \"protect\""}}) + R"(
[[policy]]
name = "out-only"
direction = "out"
src = "10.1.0.0/24"
dst = "0.0.0.0/0"
action = "discard"

[[policy]]
name = "in-only"
direction = "in"
src = "203.0.113.0/24"
dst = "10.1.0.10"
proto = "tcp"
dport = 22
action = "bypass"
)";
  const Config c = load_ok(text);
  const std::vector<NamedPolicyRule> rules = expand_policies(c);
  ASSERT_EQ(rules.size(), 4u);
  // p1 (both): outbound as written, then inbound mirrored.
  EXPECT_EQ(rules[0].rule.name, "p1");
  EXPECT_EQ(rules[0].rule.direction, PolicyDirection::kOutbound);
  EXPECT_EQ(rules[0].rule.selector.src, pfx("10.1.0.0/24"));
  EXPECT_EQ(rules[0].rule.selector.dst, pfx("10.2.0.0/24"));
  EXPECT_EQ(rules[0].rule.selector.sport, (PortRange{1024, 1024}));
  EXPECT_EQ(rules[0].rule.selector.dport, (PortRange{443, 443}));
  EXPECT_EQ(rules[0].sa, "out1");
  EXPECT_TRUE(rules[0].sa_in.empty());
  EXPECT_EQ(rules[1].rule.direction, PolicyDirection::kInbound);
  EXPECT_EQ(rules[1].rule.selector.src, pfx("10.2.0.0/24"));
  EXPECT_EQ(rules[1].rule.selector.dst, pfx("10.1.0.0/24"));
  EXPECT_EQ(rules[1].rule.selector.sport, (PortRange{443, 443}));
  EXPECT_EQ(rules[1].rule.selector.dport, (PortRange{1024, 1024}));
  EXPECT_EQ(rules[1].rule.selector.proto, 6);
  EXPECT_EQ(rules[1].sa_in, (std::vector<std::string>{"in1"}));
  EXPECT_EQ(rules[1].policy_index, 0u);
  // out-only and in-only: one rule each, as written.
  EXPECT_EQ(rules[2].rule.direction, PolicyDirection::kOutbound);
  EXPECT_EQ(rules[2].rule.action, PolicyAction::kDiscard);
  EXPECT_EQ(rules[3].rule.direction, PolicyDirection::kInbound);
  EXPECT_EQ(rules[3].rule.selector.src, pfx("203.0.113.0/24"));
  EXPECT_EQ(rules[3].rule.selector.dst, pfx("10.1.0.10/32"));
  EXPECT_EQ(rules[3].policy_index, 2u);

  // The daemon's SAD numbering fills sa_index of outbound protect rules.
  auto filled = to_policy_rules(rules, SaIndexMap{{"out1", 7}, {"in1", 8}});
  ASSERT_EQ(filled.index(), 0u) << std::get<std::string>(filled);
  const auto& pr = std::get<std::vector<PolicyRule>>(filled);
  ASSERT_EQ(pr.size(), 4u);
  EXPECT_EQ(pr[0].sa_index, 7u);
  EXPECT_EQ(pr[1].sa_index, 0u);
  EXPECT_EQ(pr[0].name, "p1");

  auto missing = to_policy_rules(rules, SaIndexMap{{"in1", 8}});
  ASSERT_EQ(missing.index(), 1u);
  EXPECT_EQ(std::get<std::string>(missing), "policy \"p1\": SA \"out1\" has no SAD slot");
}

TEST(Config, TransportModeProtectsTrafficToThePeer) {
  const std::string transport = edit(kBase, {{"dst = \"10.2.0.0/24\"", "dst = \"192.0.2.2\""},
                                             {"src = \"10.1.0.0/24\"", "src = \"192.0.2.1\""},
                                             {"direction = \"out\"", "direction = \"out\"\nmode = \"transport\""},
                                             {"direction = \"in\"", "direction = \"in\"\nmode = \"transport\""}});
  const Config c = load_ok(transport);
  EXPECT_EQ(c.sas[0].descriptor.mode, SaMode::kTransport);
}

// ----- IPv6 ---------------------------------------------------------------------------------

TEST(Config, Ipv6Everywhere) {
  const std::string text = R"([[port]]
name = "lan"
device = "0000:03:00.0"
role = "protected"
ipv6 = ["2001:db8:1::1/64", "fe80::1/64"]

[[port]]
name = "wan"
device = "03:00.1"
role = "unprotected"
mtu = 9000
ipv6 = "2001:db8:ff::1/64"

[[route]]
prefix = "::/0"
via = "2001:db8:ff::fe"

[[route]]
prefix = "2001:db8:1:100::/56"
via = "2001:db8:1::fe"
port = "lan"

[[neighbor]]
ip = "2001:db8:ff::fe"
mac = "02-00-00-00-00-fe"
port = "wan"

[[policy]]
name = "v6"
src = "2001:db8:1::/48"
dst = "2001:db8:2::/48"
proto = "icmpv6"
action = "protect"
sa = "o"
sa_in = ["i"]

[[sa]]
name = "o"
spi = 0x100
direction = "out"
local = "2001:db8:ff::1"
remote = "2001:db8:ee::2"
encr = "aes256gcm16"
encr_key = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f20212223"

[[sa]]
name = "i"
spi = 0x101
direction = "in"
local = "2001:db8:ff::1"
remote = "2001:db8:ee::2"
encr = "aes256gcm16"
encr_key = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f20212223"
)";
  const Config c = load_ok(text);
  ASSERT_EQ(c.ports.size(), 2u);
  EXPECT_EQ(c.ports[0].ipv6.size(), 2u);
  EXPECT_EQ(c.ports[1].device_name, "0000:03:00.1");
  EXPECT_EQ(c.ports[1].ipv6[0].subnet(), pfx("2001:db8:ff::/64"));
  EXPECT_EQ(c.routes[0].port, "wan");
  EXPECT_EQ(c.routes[1].port, "lan");
  EXPECT_EQ(c.neighbors[0].mac.to_string(), "02:00:00:00:00:fe");
  EXPECT_EQ(c.policies[0].selector.family(), IpFamily::kV6);
  EXPECT_EQ(c.policies[0].selector.proto, 58);
  EXPECT_FALSE(to_descriptor(c.sas[0]).validate());
  EXPECT_EQ(to_descriptor(c.sas[0]).remote, ip("2001:db8:ee::2"));
}

// ----- route-based tunnels ------------------------------------------------------------------

const std::string kTunnel = R"([[port]]
name = "lan"
device = "net_tap0"
role = "protected"
ipv4 = ["10.1.0.1/24"]

[[port]]
name = "wan"
device = "net_memif0,role=client"
role = "unprotected"
ipv4 = ["192.0.2.1/24"]

[[route]]
prefix = "10.3.0.0/16"
tunnel = "vti0"

[[route]]
prefix = "2001:db8:3::/48"
tunnel = "vti0"

[[tunnel]]
name = "vti0"
sa_out = "t-out"
sa_in = "t-in"
remote = "198.51.100.9"

[[sa]]
name = "t-out"
spi = 0x3001
direction = "out"
local = "192.0.2.1"
remote = "198.51.100.9"
encr = "aes128"
encr_key = "000102030405060708090a0b0c0d0e0f"
integ = "sha1"
integ_key = "000102030405060708090a0b0c0d0e0f10111213"

[[sa]]
name = "t-in"
spi = 0x3002
direction = "in"
local = "192.0.2.1"
remote = "198.51.100.9"
encr = "3des"
encr_key = "000102030405060708090a0b0c0d0e0f1011121314151617"
integ = "sha512"
integ_key = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
)";

TEST(Config, RouteBasedTunnel) {
  const Config c = load_ok(kTunnel);
  ASSERT_EQ(c.tunnels.size(), 1u);
  const TunnelConfig& t = c.tunnels[0];
  EXPECT_EQ(t.local, ip("192.0.2.1"));
  EXPECT_EQ(t.remote, ip("198.51.100.9"));
  EXPECT_FALSE(t.mtu);
  EXPECT_EQ(t.tcp_mss.mode, TcpMssClamp::Mode::kOff);
  EXPECT_EQ(t.fragmentation, FragmentMode::kPost);
  EXPECT_EQ(c.routes[0].kind, RouteKind::kTunnel);
  EXPECT_TRUE(c.policies.empty());
  EXPECT_TRUE(expand_policies(c).empty());

  const auto sel = tunnel_selectors(c, t);
  ASSERT_EQ(sel.size(), 2u);
  EXPECT_EQ(sel[0].src, pfx("0.0.0.0/0"));
  EXPECT_EQ(sel[0].dst, pfx("0.0.0.0/0"));
  EXPECT_EQ(sel[1].src, pfx("::/0"));
  EXPECT_EQ(sel[1].proto, 0);
  EXPECT_TRUE(sel[1].dport.any());

  // inner_family narrows the implicit selectors.
  const Config v4 = load_ok(
      edit(kTunnel, {{"prefix = \"2001:db8:3::/48\"\ntunnel = \"vti0\"", "prefix = \"10.4.0.0/16\"\ntunnel = \"vti0\""},
                     {"spi = 0x3001", "spi = 0x3001\ninner_family = \"ipv4\""}}));
  const auto sel4 = tunnel_selectors(v4, v4.tunnels[0]);
  ASSERT_EQ(sel4.size(), 1u);
  EXPECT_EQ(sel4[0].family(), IpFamily::kV4);
}

// ----- errors -------------------------------------------------------------------------------

struct ErrorCase {
  const char* what;
  std::string text;
  std::string at;       ///< text on the line the error must name
  std::string key;      ///< the key path
  std::string message;  ///< a part of the message
};

void PrintTo(const ErrorCase& c, std::ostream* os) { *os << c.what; }

class ConfigErrors : public ::testing::TestWithParam<ErrorCase> {};

TEST_P(ConfigErrors, NameFileLineAndKey) {
  const ErrorCase& c = GetParam();
  const ConfigError e = load_err(c.text);
  const std::string s = e.to_string();
  const uint32_t line = line_of(c.text, c.at);
  ASSERT_NE(line, 0u) << "test bug: marker not found";
  EXPECT_EQ(e.file, "test.toml");
  EXPECT_EQ(e.line, line) << s;
  EXPECT_GT(e.column, 0u) << s;
  EXPECT_EQ(e.key, c.key) << s;
  EXPECT_NE(s.find("test.toml:" + std::to_string(line) + ":"), std::string::npos) << s;
  if (!c.key.empty()) {
    EXPECT_NE(s.find(": " + c.key + ": "), std::string::npos) << s;
  }
  EXPECT_NE(s.find(c.message), std::string::npos) << s;
}

INSTANTIATE_TEST_SUITE_P(
    Classes, ConfigErrors,
    ::testing::Values(
        // TOML syntax, reported by toml++ with its position.
        ErrorCase{"syntax", edit(kBase, {{"role = \"protected\"", "role = protected"}}), "role = protected", "",
                  "Error while parsing"},
        ErrorCase{"duplicate TOML key",
                  edit(kBase, {{"role = \"protected\"", "role = \"protected\"\nrole = \"unprotected\""}}),
                  "role = \"unprotected\"\n", "", "redefine"},
        // Unknown keys and sections, with suggestions.
        ErrorCase{"unknown key", edit(kBase, {{"encr_key = \"1312", "encr_kye = \"1312"}}), "encr_kye",
                  "sa[1].encr_kye", "unknown key; did you mean \"encr_key\"?"},
        ErrorCase{"unknown key, no suggestion",
                  edit(kBase, {{"role = \"unprotected\"", "role = \"unprotected\"\nspeed = 10"}}), "speed",
                  "port[1].speed", "unknown key; expected one of \"name\", \"device\""},
        ErrorCase{"unknown section", kBase + "[[neighbour]]\nip = \"192.0.2.9\"\n", "[[neighbour]]", "neighbour",
                  "unknown section; did you mean \"neighbor\"?"},
        ErrorCase{"ike written as an array", kBase + "[[ike]]\n", "[[ike]]", "ike", "write [ike], not [[ike]]"},
        ErrorCase{"table instead of array", "[port]\nname = \"x\"\n", "[port]", "port", "write [[port]]"},
        // Types and ranges.
        ErrorCase{"wrong type", edit(kBase, {{"name = \"lan\"", "name = \"lan\"\nmtu = \"1500\""}}), "mtu = \"1500\"",
                  "port[0].mtu", "expected an integer 68..65535, got a string"},
        ErrorCase{"out of range", edit(kBase, {{"name = \"lan\"", "name = \"lan\"\nmtu = 70000"}}), "mtu = 70000",
                  "port[0].mtu", "expected 68..65535, got 70000"},
        ErrorCase{"float for integer", edit(kBase, {{"spi = 0x1001", "spi = 4097.0"}}), "spi = 4097.0", "sa[0].spi",
                  "got a floating-point number"},
        ErrorCase{"bad enum", edit(kBase, {{"role = \"protected\"", "role = \"protect\""}}), "role = \"protect\"",
                  "port[0].role",
                  "expected one of \"protected\", \"unprotected\", got \"protect\"; did you mean \"protected\"?"},
        ErrorCase{"missing key", edit(kBase, {{"role = \"unprotected\"\n", ""}}), "[[port]]\nname = \"wan\"",
                  "port[1].role", "missing: \"protected\""},
        ErrorCase{"bad name", edit(kBase, {{"name = \"p1\"", "name = \"p 1\""}}), "name = \"p 1\"", "policy[0].name",
                  "expected 1 to 63 letters"},
        ErrorCase{"duplicate policy name",
                  kBase + "[[policy]]\nname = \"p1\"\nsrc = \"10.5.0.0/16\"\ndst = \"10.6.0.0/16\"\naction = \"bypass\"\n",
                  "name = \"p1\"\nsrc = \"10.5", "policy[1].name", "\"p1\" is already the name of policy[0]"},
        // Algorithms and keys.
        ErrorCase{"unknown algorithm", edit(kBase, {{"encr = \"aes128gcm16\"", "encr = \"aes129\""}}),
                  "encr = \"aes129\"", "sa[0].encr",
                  "unknown algorithm \"aes129\"; expected one of \"null\", \"3des\", \"aes128\""},
        ErrorCase{"unknown integrity",
                  edit(kBase, {{"encr = \"aes128gcm16\"", "encr = \"aes128\"\ninteg = \"sha2-256\""}}),
                  "integ = \"sha2-256\"", "sa[0].integ", "unknown algorithm \"sha2-256\""},
        ErrorCase{"key length",
                  edit(kBase, {{"000102030405060708090a0b0c0d0e0f10111213", "000102030405060708090a0b0c0d0e0f"}}),
                  "encr_key = \"000102", "sa[0].encr_key", "aes128gcm16 needs 20 bytes, got 16 (40 hex digits"},
        ErrorCase{"missing key", edit(kBase, {{"encr_key = \"000102030405060708090a0b0c0d0e0f10111213\"\n", ""}}),
                  "[[sa]]\nname = \"out1\"", "sa[0].encr_key", "missing: aes128gcm16 needs a 20-byte key"},
        ErrorCase{"integrity with AEAD",
                  edit(kBase, {{"encr = \"aes128gcm16\"",
                                "encr = \"aes128gcm16\"\ninteg = \"sha1\"\ninteg_key = "
                                "\"000102030405060708090a0b0c0d0e0f10111213\""}}),
                  "integ = \"sha1\"", "sa[0].integ", "combined-mode cipher"},
        ErrorCase{"CBC without integrity",
                  edit(kBase, {{"encr = \"aes128gcm16\"\nencr_key = \"000102030405060708090a0b0c0d0e0f10111213\"",
                                "encr = \"aes128\"\nencr_key = \"000102030405060708090a0b0c0d0e0f\""}}),
                  "[[sa]]\nname = \"out1\"", "sa[0].integ", "needs an integrity algorithm"},
        ErrorCase{"reserved SPI", edit(kBase, {{"spi = 0x1001", "spi = 255"}}), "spi = 255", "sa[0].spi",
                  "values 0-255 are reserved"},
        ErrorCase{"bad SPI string", edit(kBase, {{"spi = 0x1001", "spi = \"0x1g\""}}), "spi = \"0x1g\"", "sa[0].spi",
                  "expected an SPI 256..4294967295"},
        ErrorCase{"lifetime soft above hard",
                  edit(kBase, {{"spi = 0x1001", "spi = 0x1001\nlifetime = { soft_packets = 10, hard_packets = 5 }"}}),
                  "lifetime = {", "sa[0].lifetime.soft_packets", "above hard_packets"},
        ErrorCase{"replay window", edit(kBase, {{"spi = 0x2001", "spi = 0x2001\nreplay_window = 16"}}),
                  "replay_window = 16", "sa[1].replay_window", "expected 32..8192, got 16"},
        ErrorCase{"outbound key on inbound SA", edit(kBase, {{"spi = 0x2001", "spi = 0x2001\nttl = 32"}}), "ttl = 32",
                  "sa[1].ttl", "only applies to outbound SAs"},
        ErrorCase{"inbound key on outbound SA", edit(kBase, {{"spi = 0x1001", "spi = 0x1001\nanti_replay = false"}}),
                  "anti_replay = false", "sa[0].anti_replay", "only applies to inbound SAs"},
        ErrorCase{"natt twice", edit(kBase, {{"spi = 0x1001", "spi = 0x1001\nnatt = true\nnatt_remote_port = 4501"}}),
                  "natt = true", "sa[0].natt", "not both"},
        ErrorCase{"natt port", edit(kBase, {{"spi = 0x1001", "spi = 0x1001\nnatt = { remote_port = 0 }"}}), "natt = {",
                  "sa[0].natt.remote_port", "expected 1..65535, got 0"},
        ErrorCase{"natt table typo", edit(kBase, {{"spi = 0x1001", "spi = 0x1001\nnatt = { remote = 4501 }"}}),
                  "natt = {", "sa[0].natt.remote", "unknown key; did you mean \"remote_port\"?"},
        ErrorCase{"dscp", edit(kBase, {{"spi = 0x1001", "spi = 0x1001\ndscp = 64"}}), "dscp = 64", "sa[0].dscp",
                  "expected 0..63, got 64"},
        ErrorCase{"tcp_mss", edit(kBase, {{"spi = 0x1001", "spi = 0x1001\ntcp_mss = \"on\""}}), "tcp_mss",
                  "sa[0].tcp_mss", "expected \"off\", \"auto\" or an MSS 536..65495"},
        // Names and references.
        ErrorCase{"duplicate SA name", edit(kBase, {{"name = \"in1\"", "name = \"out1\""}}),
                  "name = \"out1\"\nspi = 0x2001", "sa[1].name", "\"out1\" is already the name of sa[0]"},
        ErrorCase{"duplicate port name", edit(kBase, {{"name = \"wan\"", "name = \"lan\""}}),
                  "name = \"lan\"\ndevice = \"net_af", "port[1].name", "already the name of port[0]"},
        ErrorCase{"unknown SA", edit(kBase, {{"sa = \"out1\"", "sa = \"out2\""}}), "sa = \"out2\"", "policy[0].sa",
                  "unknown SA \"out2\"; did you mean \"out1\"?"},
        ErrorCase{"protect on an inbound SA", edit(kBase, {{"sa = \"out1\"", "sa = \"in1\""}}), "sa = \"in1\"",
                  "policy[0].sa", "SA \"in1\" is inbound"},
        ErrorCase{"sa_in names an outbound SA", edit(kBase, {{"sa_in = \"in1\"", "sa_in = [\"out1\"]"}}), "sa_in = [",
                  "policy[0].sa_in[0]", "SA \"out1\" is outbound"},
        ErrorCase{"protect without sa_in", edit(kBase, {{"sa_in = \"in1\"\n", ""}}), "[[policy]]", "policy[0].sa_in",
                  "missing: a protect policy with direction = \"both\""},
        ErrorCase{"SA on a bypass rule", edit(kBase, {{"action = \"protect\"", "action = \"bypass\""}}),
                  "sa = \"out1\"", "policy[0].sa", "only protect policies name SAs"},
        ErrorCase{"unused SA",
                  kBase + "\n[[sa]]\nname = \"spare\"\nspi = 0x5000\ndirection = \"in\"\nlocal = \"192.0.2.1\"\n"
                          "remote = \"192.0.2.3\"\nencr = \"null\"\ninteg = \"sha1\"\n"
                          "integ_key = \"000102030405060708090a0b0c0d0e0f10111213\"\n",
                  "[[sa]]\nname = \"spare\"", "sa[2]", "is used by no policy's sa_in"},
        ErrorCase{"duplicate inbound SPI",
                  kBase + "\n[[sa]]\nname = \"in2\"\nspi = 8193\ndirection = \"in\"\nlocal = \"192.0.2.1\"\n"
                          "remote = \"192.0.2.3\"\nencr = \"null\"\ninteg = \"sha1\"\n"
                          "integ_key = \"000102030405060708090a0b0c0d0e0f10111213\"\n",
                  "spi = 8193", "sa[2].spi", "inbound SPI 8193 is already used by sa[1] \"in1\""},
        ErrorCase{"duplicate outbound SPI to one peer",
                  kBase + "\n[[sa]]\nname = \"out2\"\nspi = \"4097\"\ndirection = \"out\"\n"
                          "local = \"192.0.2.1\"\nremote = \"192.0.2.2\"\nencr = \"null\"\n"
                          "integ = \"sha1\"\ninteg_key = \"000102030405060708090a0b0c0d0e0f10111213\"\n",
                  "spi = \"4097\"", "sa[2].spi", "outbound SPI 4097 to 192.0.2.2 is already used by sa[0] \"out1\""},
        ErrorCase{"SA local not ours", edit(kBase, {{"local = \"192.0.2.1\"", "local = \"192.0.2.9\""}}),
                  "local = \"192.0.2.9\"", "sa[0].local", "is not an address of any port"},
        ErrorCase{"SA families", edit(kBase, {{"remote = \"192.0.2.2\"", "remote = \"2001:db8::2\""}}),
                  "remote = \"2001:db8::2\"", "sa[0].remote", "outer addresses must be of one family"},
        ErrorCase{"peers differ",
                  edit(kBase, {{"remote = \"192.0.2.2\"\nencr = \"aes128gcm16\"\nencr_key = \"1312",
                                "remote = \"192.0.2.3\"\nencr = \"aes128gcm16\"\nencr_key = \"1312"}}),
                  "sa_in = \"in1\"", "policy[0].sa_in", "both directions of a policy go to one peer"},
        // Selectors.
        ErrorCase{"mixed families", edit(kBase, {{"dst = \"10.2.0.0/24\"", "dst = \"2001:db8:2::/48\""}}),
                  "dst = \"2001", "policy[0].dst", "mixed families"},
        ErrorCase{"host bits", edit(kBase, {{"src = \"10.1.0.0/24\"", "src = \"10.1.0.1/24\""}}),
                  "src = \"10.1.0.1/24\"", "policy[0].src", "has host bits set; did you mean \"10.1.0.0/24\"?"},
        ErrorCase{"ports without protocol", edit(kBase, {{"action = \"protect\"", "dport = 80\naction = \"protect\""}}),
                  "dport = 80", "policy[0].dport", "port selectors need proto"},
        ErrorCase{
            "port range",
            edit(kBase, {{"action = \"protect\"", "proto = \"tcp\"\ndport = \"2000-1000\"\naction = \"protect\""}}),
            "dport = \"2000", "policy[0].dport", "runs backwards"},
        ErrorCase{"icmp in IPv6",
                  edit(kBase, {{"src = \"10.1.0.0/24\"\ndst = \"10.2.0.0/24\"",
                                "src = \"2001:db8:1::/48\"\ndst = \"2001:db8:2::/48\"\nproto = \"icmp\""}}),
                  "proto = \"icmp\"", "policy[0].proto", "IPv6 uses \"icmpv6\""},
        ErrorCase{"unknown protocol", edit(kBase, {{"action = \"protect\"", "proto = \"tpc\"\naction = \"protect\""}}),
                  "proto = \"tpc\"", "policy[0].proto", "did you mean \"tcp\"?"},
        ErrorCase{"inner family", edit(kBase, {{"spi = 0x1001", "spi = 0x1001\ninner_family = \"ipv6\""}}),
                  "sa = \"out1\"", "policy[0].sa", "carries only IPv6"},
        ErrorCase{"transport mode peer",
                  edit(kBase, {{"direction = \"out\"", "direction = \"out\"\nmode = \"transport\""}}), "sa = \"out1\"",
                  "policy[0].sa", "is in transport mode: the policy's dst must be the peer 192.0.2.2/32"},
        // Ports.
        ErrorCase{"IPv6 in ipv4",
                  edit(kBase, {{"ipv4 = [\"10.1.0.1/24\"]", "ipv4 = [\"10.1.0.1/24\", \"2001:db8::1/64\"]"}}),
                  "2001:db8::1/64", "port[0].ipv4[1]", "is an IPv6 address; list it in ipv6"},
        ErrorCase{"no prefix length", edit(kBase, {{"ipv4 = [\"10.1.0.1/24\"]", "ipv4 = [\"10.1.0.1\"]"}}),
                  "ipv4 = [\"10.1.0.1\"]", "port[0].ipv4[0]", "missing prefix length"},
        ErrorCase{"not an address", edit(kBase, {{"ipv4 = [\"10.1.0.1/24\"]", "ipv4 = [\"10.1.0.256/24\"]"}}),
                  "10.1.0.256", "port[0].ipv4[0]", "expected an IPv4 address with prefix length"},
        ErrorCase{"network address", edit(kBase, {{"ipv4 = [\"10.1.0.1/24\"]", "ipv4 = [\"10.1.0.0/24\"]"}}),
                  "10.1.0.0/24\"]", "port[0].ipv4[0]", "network address"},
        ErrorCase{"same subnet twice", edit(kBase, {{"ipv4 = [\"192.0.2.1/24\"]", "ipv4 = [\"10.1.0.2/24\"]"}}),
                  "10.1.0.2/24", "port[1].ipv4[0]", "already connected on port \"lan\""},
        ErrorCase{"device", edit(kBase, {{"device = \"net_tap0\"", "device = \"eth0\""}}), "device = \"eth0\"",
                  "port[0].device", "write \"net_af_packet0,iface=eth0\""},
        ErrorCase{"duplicate device",
                  edit(kBase, {{"device = \"net_tap0\"", "device = \"net_af_packet0,iface=veth1\""}}),
                  "device = \"net_af_packet0,iface=veth0\"", "port[1].device", "already used by port[0]"},
        ErrorCase{"bad MAC",
                  edit(kBase, {{"role = \"protected\"", "role = \"protected\"\nmac = \"01:00:5e:00:00:01\""}}),
                  "mac = ", "port[0].mac", "is not a unicast MAC address"},
        ErrorCase{"no unprotected port", edit(kBase, {{"role = \"unprotected\"", "role = \"protected\""}}), "[[port]]",
                  "port", "no port has role = \"unprotected\""},
        ErrorCase{"queues above workers", "[daemon]\nworkers = 1\n" + edit(kBase, {{"name = \"lan\"", "name = \"lan\"\nrx_queues = 2"}}),
                  "rx_queues", "port[0].rx_queues", "2 RX queues but 1 worker(s)"},
        ErrorCase{"IPv6 MTU",
                  edit(kBase, {{"name = \"lan\"", "name = \"lan\"\nmtu = 1200\nipv6 = [\"2001:db8:1::1/64\"]"}}),
                  "mtu = 1200", "port[0].mtu", "at least 1280"},
        // Daemon and EAL.
        ErrorCase{"lcores in two places", "[daemon]\nworkers = [1, 2]\n[eal]\nargs = [\"-l 0-2\"]\n" + kBase,
                  "args = ", "eal.args", "set lcores in one place"},
        ErrorCase{"main lcore is a worker", "[daemon]\nworkers = [1, 2]\nmain_lcore = 2\n" + kBase, "main_lcore",
                  "daemon.main_lcore", "also in workers"},
        ErrorCase{"duplicate worker", "[daemon]\nworkers = [1, 1]\n" + kBase, "workers", "daemon.workers[1]",
                  "listed twice"},
        ErrorCase{"too many mbufs", "[daemon]\nmbufs = 20000000\n" + kBase, "mbufs", "daemon.mbufs",
                  "expected 0..16777216, got 20000000"},
        ErrorCase{"worker sleep too long", "[daemon]\nworker_idle_sleep_us = 20000\n" + kBase, "worker_idle_sleep_us",
                  "daemon.worker_idle_sleep_us", "expected 0..10000, got 20000"},
        ErrorCase{"log level", "[daemon]\nlog_level = \"verbose\"\n" + kBase, "log_level", "daemon.log_level",
                  "expected one of \"error\", \"warning\", \"notice\", \"info\", \"debug\""},
        ErrorCase{"protect as default", kBase + "[spd]\ndefault_action = \"protect\"\n", "default_action",
                  "spd.default_action", "needs an SA"},
        // [fragmentation]
        ErrorCase{"too many fragments", kBase + "[fragmentation]\nreassembly_fragments = 16\n", "reassembly_fragments",
                  "fragmentation.reassembly_fragments", "expected 2..8, got 16"},
        ErrorCase{"no reassembly entries", kBase + "[fragmentation]\nreassembly_packets = 0\n", "reassembly_packets",
                  "fragmentation.reassembly_packets", "expected 1..65536, got 0"},
        ErrorCase{"reassembly timeout", kBase + "[fragmentation]\nreassembly_timeout_ms = 120000\n",
                  "reassembly_timeout_ms", "fragmentation.reassembly_timeout_ms", "expected 1..60000, got 120000"},
        ErrorCase{"icmp rate zero", kBase + "[fragmentation]\nicmp_rate = 0\n", "icmp_rate", "fragmentation.icmp_rate",
                  "expected 1..1000000, got 0"},
        ErrorCase{"fragmentation typo", kBase + "[fragmentation]\nicmp_burts = 5\n", "icmp_burts",
                  "fragmentation.icmp_burts", "did you mean \"icmp_burst\""},
        // Routes and neighbours.
        ErrorCase{"route port unknown",
                  kBase + "[[route]]\nprefix = \"10.9.0.0/16\"\nvia = \"192.0.2.254\"\nport = \"wna\"\n",
                  "port = \"wna\"", "route[0].port", "unknown port \"wna\"; did you mean \"wan\"?"},
        ErrorCase{"route tunnel unknown", kBase + "[[route]]\nprefix = \"10.9.0.0/16\"\ntunnel = \"vti9\"\n",
                  "tunnel = \"vti9\"", "route[0].tunnel", "unknown tunnel \"vti9\""},
        ErrorCase{"gateway off-link", kBase + "[[route]]\nprefix = \"0.0.0.0/0\"\nvia = \"198.51.100.1\"\n",
                  "via = \"198.51.100.1\"", "route[0].via", "not inside any port's subnet"},
        ErrorCase{"gateway family", kBase + "[[route]]\nprefix = \"::/0\"\nvia = \"192.0.2.254\"\n",
                  "via = \"192.0.2.254\"", "route[0].via", "is IPv4 but prefix ::/0 is IPv6"},
        ErrorCase{"route without target", kBase + "[[route]]\nprefix = \"10.9.0.0/16\"\n", "[[route]]", "route[0]",
                  "a route needs via"},
        ErrorCase{"route tunnel and via",
                  kBase + "[[route]]\nprefix = \"10.9.0.0/16\"\ntunnel = \"x\"\nvia = \"192.0.2.254\"\n",
                  "via = \"192.0.2.254\"", "route[0].via", "a route into a tunnel takes no via"},
        ErrorCase{"duplicate route",
                  kBase + "[[route]]\nprefix = \"10.9.0.0/16\"\nblackhole = true\n[[route]]\nprefix = "
                          "\"10.9.0.0/16\"\nport = \"wan\"\n",
                  "prefix = \"10.9.0.0/16\"\nport", "route[1].prefix", "already routed by route[0]"},
        ErrorCase{"neighbor port unknown",
                  kBase + "[[neighbor]]\nip = \"192.0.2.7\"\nmac = \"02:00:00:00:00:07\"\nport = \"lan0\"\n",
                  "port = \"lan0\"", "neighbor[0].port", "unknown port \"lan0\"; did you mean \"lan\"?"},
        ErrorCase{"neighbor off-link",
                  kBase + "[[neighbor]]\nip = \"192.0.2.7\"\nmac = \"02:00:00:00:00:07\"\nport = \"lan\"\n",
                  "ip = \"192.0.2.7\"", "neighbor[0].ip", "not inside any subnet of port \"lan\""},
        // Tunnels.
        ErrorCase{"tunnel with transport SA", edit(kTunnel, {{"spi = 0x3001", "spi = 0x3001\nmode = \"transport\""}}),
                  "sa_out = \"t-out\"", "tunnel[0].sa_out", "transport mode"},
        ErrorCase{"tunnel remote differs",
                  edit(kTunnel, {{"remote = \"198.51.100.9\"\n\n", "remote = \"198.51.100.8\"\n\n"}}),
                  "remote = \"198.51.100.8\"", "tunnel[0].remote", "differs from sa_out"},
        ErrorCase{"tunnel SA sets tcp_mss", edit(kTunnel, {{"spi = 0x3002", "spi = 0x3002\ntcp_mss = 1300"}}),
                  "tcp_mss = 1300", "sa[1].tcp_mss", "set tcp_mss on the tunnel"},
        ErrorCase{"tunnel named like a port",
                  edit(kTunnel, {{"name = \"vti0\"", "name = \"wan\""}, {"tunnel = \"vti0\"", "tunnel = \"wan\""}}),
                  "name = \"wan\"\nsa_out", "tunnel[0].name", "already the name of a port"},
        ErrorCase{"tunnel route family", edit(kTunnel, {{"spi = 0x3001", "spi = 0x3001\ninner_family = \"ipv4\""}}),
                  "prefix = \"2001:db8:3::/48\"", "route[1].prefix", "carries only IPv4"},
        ErrorCase{"tunnel SA in a policy",
                  kTunnel + "[[policy]]\nname = \"p\"\ndirection = \"out\"\nsrc = \"10.1.0.0/24\"\n"
                            "dst = \"10.3.0.0/16\"\naction = \"protect\"\nsa = \"t-out\"\n",
                  "sa = \"t-out\"", "policy[0].sa", "belongs to tunnel[0] \"vti0\""}));

// ----- key material -------------------------------------------------------------------------

TEST(Config, KeyMaterialNeverInErrors) {
  // A key that is not valid hex: the message says so without echoing it.
  const ConfigError bad_hex =
      load_err(edit(kBase, {{"000102030405060708090a0b0c0d0e0f10111213", "s3cr3tK3yMaterial000102030405060708090a"}}));
  EXPECT_EQ(bad_hex.key, "sa[0].encr_key");
  EXPECT_EQ(bad_hex.to_string().find("s3cr3t"), std::string::npos) << bad_hex.to_string();
  EXPECT_NE(bad_hex.message.find("value not shown"), std::string::npos);

  // A key written as a TOML integer too large for 64 bits: toml++ quotes the digits; we do not.
  const ConfigError big = load_err(
      edit(kBase, {{"\"000102030405060708090a0b0c0d0e0f10111213\"", "0x1234567890abcdef1234567890abcdef12345678"}}));
  EXPECT_EQ(big.line, line_of(kBase, "encr_key = \"000102"));
  EXPECT_EQ(big.to_string().find("1234567890abcdef"), std::string::npos) << big.to_string();
  EXPECT_NE(big.to_string().find("value not shown"), std::string::npos) << big.to_string();

  // A key of the wrong length: the lengths are shown, the bytes are not.
  const ConfigError len = load_err(edit(kBase, {{"000102030405060708090a0b0c0d0e0f10111213", "deadbeefdeadbeef"}}));
  EXPECT_EQ(len.to_string().find("deadbeef"), std::string::npos) << len.to_string();

  // A key as a small TOML integer: refused as the wrong type, not converted.
  const ConfigError num = load_err(edit(kBase, {{"\"000102030405060708090a0b0c0d0e0f10111213\"", "0x1234"}}));
  EXPECT_NE(num.message.find("expected a string of hex digits"), std::string::npos);
  EXPECT_EQ(num.to_string().find("1234"), std::string::npos) << num.to_string();

  // A key pasted into the wrong key: an echoed value that looks like key material is not shown,
  // in our messages and in toml++'s.
  const ConfigError pasted =
      load_err(edit(kBase, {{"encr = \"aes128gcm16\"", "encr = \"0x2024fda696ee5f7766e2fee144a3f3f9\""}}));
  EXPECT_EQ(pasted.key, "sa[0].encr");
  EXPECT_EQ(pasted.to_string().find("2024fda6"), std::string::npos) << pasted.to_string();
  EXPECT_NE(pasted.to_string().find("looks like key material"), std::string::npos) << pasted.to_string();
  const ConfigError pasted_colons =
      load_err(edit(kBase, {{"sa = \"out1\"", "sa = \"20:24:fd:a6:96:ee:5f:77:66:e2\""}}));
  EXPECT_EQ(pasted_colons.to_string().find("fd:a6"), std::string::npos) << pasted_colons.to_string();
  const ConfigError pasted_bare = load_err(edit(kBase, {{"spi = 0x1001", "spi = 0x2024fda696ee5f7766e2fee144a3f3f9"}}));
  EXPECT_EQ(pasted_bare.to_string().find("2024fda6"), std::string::npos) << pasted_bare.to_string();
  // Addresses are still shown.
  const ConfigError addr =
      load_err(edit(kBase, {{"local = \"192.0.2.1\"", "local = \"2001:0db8:0000:0000:0000:0000:0000:00zz\""}}));
  EXPECT_NE(addr.to_string().find("2001:0db8"), std::string::npos) << addr.to_string();
}

// ----- small types --------------------------------------------------------------------------

TEST(Config, ValueTypes) {
  EXPECT_EQ(MacAddress::parse("02:00:5E:00:53:01")->to_string(), "02:00:5e:00:53:01");
  EXPECT_EQ(MacAddress::parse("02-00-5e-00-53-01")->to_string(), "02:00:5e:00:53:01");
  EXPECT_FALSE(MacAddress::parse("02:00-5e:00:53:01"));
  EXPECT_FALSE(MacAddress::parse("02:00:5e:00:53"));
  EXPECT_FALSE(MacAddress::parse("02:00:5e:00:53:0g"));
  EXPECT_TRUE(MacAddress::parse("01:00:5e:00:00:01")->is_multicast());
  EXPECT_TRUE(MacAddress::parse("00:00:00:00:00:00")->is_zero());

  ConfigError e{"f.toml", 3, 7, "sa[0].spi", "bad"};
  EXPECT_EQ(e.to_string(), "f.toml:3:7: sa[0].spi: bad");
  e.key.clear();
  EXPECT_EQ(e.to_string(), "f.toml:3:7: bad");
  e.line = 0;
  EXPECT_EQ(e.to_string(), "f.toml: bad");

  EXPECT_EQ(to_string(LogLevel::kNotice), "notice");
  EXPECT_EQ(to_string(PortRole::kUnprotected), "unprotected");
  EXPECT_EQ(to_string(PolicyDirections::kBoth), "both");
}

}  // namespace
}  // namespace esprit
