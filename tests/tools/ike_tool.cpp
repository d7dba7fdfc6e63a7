// ike_tool: the IKEv2 codec driven from the command line, for cross-checks with independent
// decoders (tests/functional/ike_tshark_test.py).
//   ike_tool dump     one line per sample message Esprit sends: "<name> <hex of the datagram>"
//   ike_tool parse    reads hex datagrams, one per line, from stdin; prints for each
//                     "ok <payload types, comma-separated>" or "error <ParseError::to_string()>"
#include <cstdio>
#include <iostream>
#include <string>
#include <vector>

#include "esprit/control/ike/message.hpp"
#include "ike_samples.hpp"

namespace {

std::string hex(const std::vector<uint8_t>& b) {
  static const char* digits = "0123456789abcdef";
  std::string s;
  for (uint8_t x : b) {
    s += digits[x >> 4];
    s += digits[x & 15];
  }
  return s;
}

bool from_hex(const std::string& s, std::vector<uint8_t>& out) {
  auto nibble = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  if (s.size() % 2 != 0) return false;
  for (std::size_t i = 0; i < s.size(); i += 2) {
    const int hi = nibble(s[i]), lo = nibble(s[i + 1]);
    if (hi < 0 || lo < 0) return false;
    out.push_back(static_cast<uint8_t>(hi << 4 | lo));
  }
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace esprit::ike;
  const std::string mode = argc > 1 ? argv[1] : "";
  if (mode == "dump") {
    for (const auto& s : test::ike_samples()) {
      if (auto err = s.message.verify()) {
        std::fprintf(stderr, "ike_tool: sample %s does not verify: %s\n", s.name.c_str(), err->to_string().c_str());
        return 1;
      }
      std::printf("%s %s\n", s.name.c_str(), hex(s.message.encode()).c_str());
    }
    return 0;
  }
  if (mode == "parse") {
    std::string line;
    while (std::getline(std::cin, line)) {
      std::vector<uint8_t> bytes;
      if (!from_hex(line, bytes)) {
        std::printf("error bad hex\n");
        continue;
      }
      auto m = Message::parse(bytes);
      if (!m) {
        std::printf("error %s\n", m.error().to_string().c_str());
        continue;
      }
      std::string types;
      for (const auto& p : m->payloads) {
        if (!types.empty()) types += ',';
        const auto name = to_string(payload_type(p));
        types += name.empty() ? std::to_string(static_cast<unsigned>(payload_type(p))) : std::string(name);
      }
      std::printf("ok %s\n", types.empty() ? "-" : types.c_str());
    }
    return 0;
  }
  std::fprintf(stderr, "usage: ike_tool dump | parse\n");
  return 2;
}
