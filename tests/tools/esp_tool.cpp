// esp_tool: one encap_burst() or decap_burst() over packets given on stdin, so that an independent
// ESP implementation (scapy, tests/functional/esp_scapy_test.py) can check the engine's output.
//
// stdin, one JSON object:
//   {"sa": {"spi": 4096, "direction": "inbound"|"outbound", "mode": "tunnel"|"transport",
//           "local": "192.0.2.1", "remote": "198.51.100.2",
//           "encr": "aes128gcm16", "encr_key": "hex (with the 4-byte salt for GCM/ChaCha)",
//           "integ": "none"|"sha1"|..., "integ_key": "hex",
//           "esn": false, "anti_replay": true, "replay_window": 64,
//           "natt": {"local_port": 4500, "remote_port": 4500} | null,
//           "next_seq": 1  (optional, outbound only)},
//    "packets": ["hex of an IP packet, no L2 header", ...]}
// All packets go to the engine as ONE burst. stdout, one JSON object:
//   {"ok": k, "packets": [hex of pkts[0,k) in order], "failed": n - k,
//    "drops": {"icv_fail": 1, ...} (non-zero counters only), "sequence": EspSa::sequence()}
// A request the tool or EspSa::create() rejects gives {"error": "..."} and exit code 2.
//
// The EAL logs to stdout; the tool keeps its own descriptor for the answer and
// points fd 1 at stderr, so stdout carries nothing but the JSON.
#include <nlohmann/json.hpp>
#include <rte_mbuf.h>
#include <unistd.h>

#include <cctype>
#include <cstdio>
#include <iostream>
#include <iterator>
#include <optional>
#include <string>
#include <vector>

#include "dpdk_env.hpp"
#include "esprit/fastpath/esp.hpp"

namespace esprit {
namespace {

using nlohmann::json;

/// The answer goes here: a duplicate of the original stdout.
FILE* g_out = stdout;

void answer(const json& j) {
  const std::string s = j.dump() + "\n";
  std::fwrite(s.data(), 1, s.size(), g_out);
  std::fflush(g_out);
}

int fail(const std::string& msg) {
  answer(json{{"error", msg}});
  return 2;
}

/// Strict hex (even length, hex digits only): test::from_hex() skips junk, which would hide typos.
std::optional<std::vector<uint8_t>> parse_hex(const std::string& hex) {
  if (hex.size() % 2 != 0) return std::nullopt;
  for (char c : hex) {
    if (!std::isxdigit(static_cast<unsigned char>(c))) return std::nullopt;
  }
  return test::from_hex(hex);
}

/// An unsigned field of `j` no larger than `max`; `fallback` when absent, nullopt when out of range.
std::optional<uint64_t> uint_field(const json& j, const char* name, uint64_t max, std::optional<uint64_t> fallback) {
  const auto it = j.find(name);
  if (it == j.end() || it->is_null()) return fallback;
  if (!it->is_number_unsigned() || it->get<uint64_t>() > max) return std::nullopt;
  return it->get<uint64_t>();
}

/// Fills `d` from the request's "sa" object; an error message naming the field, or nullopt.
std::optional<std::string> parse_sa(const json& j, SaDescriptor& d, std::optional<uint64_t>& next_seq) {
  if (!j.is_object()) return "sa: must be an object";
  const auto spi = uint_field(j, "spi", UINT32_MAX, std::nullopt);
  if (!spi) return "sa.spi: a 32-bit unsigned number is required";
  d.spi = static_cast<uint32_t>(*spi);

  const auto dir = j.at("direction").get<std::string>();
  if (dir == "inbound") d.direction = SaDirection::kInbound;
  else if (dir == "outbound") d.direction = SaDirection::kOutbound;
  else return "sa.direction: inbound or outbound, got '" + dir + "'";

  const auto mode = j.at("mode").get<std::string>();
  if (mode == "tunnel") d.mode = SaMode::kTunnel;
  else if (mode == "transport") d.mode = SaMode::kTransport;
  else return "sa.mode: tunnel or transport, got '" + mode + "'";

  for (const char* field : {"local", "remote"}) {
    const auto text = j.at(field).get<std::string>();
    const auto addr = IpAddress::parse(text);
    if (!addr) return std::string("sa.") + field + ": not an IP address: '" + text + "'";
    (std::string_view(field) == "local" ? d.local : d.remote) = *addr;
  }

  const auto encr = j.at("encr").get<std::string>();
  const auto ealg = encr_from_name(encr);
  if (!ealg) return "sa.encr: unknown algorithm '" + encr + "'";
  d.encr = *ealg;
  const auto integ = j.value("integ", std::string("none"));
  const auto ialg = integ_from_name(integ);
  if (!ialg) return "sa.integ: unknown algorithm '" + integ + "'";
  d.integ = *ialg;
  if (!SecretBytes::from_hex(j.value("encr_key", std::string()), d.encr_key)) return "sa.encr_key: bad hex";
  if (!SecretBytes::from_hex(j.value("integ_key", std::string()), d.integ_key)) return "sa.integ_key: bad hex";

  d.esn = j.value("esn", false);
  d.anti_replay = j.value("anti_replay", true);
  const auto window = uint_field(j, "replay_window", UINT32_MAX, kDefaultReplayWindow);
  if (!window) return "sa.replay_window: not a 32-bit unsigned number";
  d.replay_window = static_cast<uint32_t>(*window);
  if (const auto it = j.find("natt"); it != j.end() && !it->is_null()) {
    const auto local = uint_field(*it, "local_port", UINT16_MAX, 4500);
    const auto remote = uint_field(*it, "remote_port", UINT16_MAX, 4500);
    if (!local || !remote) return "sa.natt: ports must be 0..65535";
    d.natt = NatTraversal{static_cast<uint16_t>(*local), static_cast<uint16_t>(*remote)};
  }
  if (j.contains("next_seq") && !j["next_seq"].is_null()) {
    if (d.direction != SaDirection::kOutbound) return "sa.next_seq: only for outbound SAs";
    next_seq = uint_field(j, "next_seq", UINT64_MAX, std::nullopt);
    if (!next_seq) return "sa.next_seq: not a 64-bit unsigned number";
  }
  return std::nullopt;
}

int run(const json& req) {
  SaDescriptor desc;
  std::optional<uint64_t> next_seq;
  if (auto err = parse_sa(req.at("sa"), desc, next_seq)) return fail(*err);

  const json& hex_pkts = req.at("packets");
  if (!hex_pkts.is_array()) return fail("packets: must be an array");
  // The test pool holds 8191 mbufs, and make_mbuf() aborts when it runs dry.
  constexpr std::size_t kMaxPackets = 4096;
  if (hex_pkts.size() > kMaxPackets) return fail("packets: at most " + std::to_string(kMaxPackets));
  std::vector<std::vector<uint8_t>> input;
  for (std::size_t i = 0; i < hex_pkts.size(); ++i) {
    auto bytes = parse_hex(hex_pkts[i].get<std::string>());
    if (!bytes) return fail("packets[" + std::to_string(i) + "]: bad hex");
    // make_mbuf() aborts when the data room (2048 bytes) is too small; say so instead.
    if (bytes->size() > RTE_MBUF_DEFAULT_DATAROOM)
      return fail("packets[" + std::to_string(i) + "]: longer than one mbuf (" +
                  std::to_string(RTE_MBUF_DEFAULT_DATAROOM) + " bytes)");
    input.push_back(std::move(*bytes));
  }

  test::init_dpdk();
  std::string err;
  auto sa = EspSa::create(desc, &err);
  if (!sa) return fail(err);
  if (next_seq) sa->set_next_sequence(*next_seq);
  auto worker = EspWorker::create(nullptr, &err);
  if (!worker) return fail("EspWorker::create: " + err);

  std::vector<rte_mbuf*> pkts;
  pkts.reserve(input.size());
  for (const auto& p : input) pkts.push_back(test::make_mbuf(p));

  SaCounters counters;
  const uint16_t ok = desc.direction == SaDirection::kOutbound ? encap_burst(*worker, *sa, pkts, counters)
                                                               : decap_burst(*worker, *sa, pkts, counters);

  json out_pkts = json::array();
  for (uint16_t i = 0; i < ok; ++i) out_pkts.push_back(test::to_hex(test::mbuf_bytes(pkts[i])));
  json drops = json::object();
  for (const auto& r : kDropReasons) {
    if (const uint64_t n = counters.drop(r.reason)) drops[std::string(r.name)] = n;
  }
  for (rte_mbuf* m : pkts) rte_pktmbuf_free(m);

  answer(json{{"ok", ok},
              {"packets", std::move(out_pkts)},
              {"failed", pkts.size() - ok},
              {"drops", std::move(drops)},
              {"sequence", sa->sequence()}});
  return 0;
}

}  // namespace
}  // namespace esprit

int main() {
  // Keep the real stdout for the answer; everything else written to fd 1 (EAL logs) goes to stderr.
  const int out_fd = dup(STDOUT_FILENO);
  if (out_fd >= 0) {
    if (FILE* f = fdopen(out_fd, "w")) {
      esprit::g_out = f;
      std::fflush(stdout);
      dup2(STDERR_FILENO, STDOUT_FILENO);
    }
  }
  try {
    const std::string text{std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>()};
    return esprit::run(nlohmann::json::parse(text));
  } catch (const nlohmann::json::exception& e) {
    return esprit::fail(std::string("bad request: ") + e.what());
  }
}
