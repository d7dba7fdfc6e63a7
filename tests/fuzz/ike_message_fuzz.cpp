// libFuzzer target for the IKEv2 message codec (control/ike, docs/ike.md).
//
// Each input is used twice:
//   1. as a whole datagram: Message::parse();
//   2. as an SK plaintext chain: parse_inner(first = input[0], input[1..]).
// Beyond "no crash, no sanitizer report", every successful parse must be stable:
//   - the parsed model passes verify() (the parser calls it, so this checks they agree);
//   - encode(parse(x)) has the length of x and parses back to the same model, and encoding that
//     model again gives the same bytes (parse(encode(parse(x))) == parse(x));
//   - sk_region() of x finds the SK/SKF payload parse() found, with the same body bytes;
//   - an SK payload's body is fed to parse_inner() as well (more coverage of the inner chain).
// A violation prints "ike_message_fuzz: invariant violated: ..." and aborts.
//
// ESPRIT_FUZZ_WRITE_SEEDS=DIR makes the target write seeds (every sample message of
// tests/support/ike_samples.cpp, and their plaintext chains in the input[0] = type layout) into
// DIR at start-up; pass DIR as the corpus to fuzz from them.
#include <sys/stat.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "esprit/control/ike/message.hpp"
#include "ike_samples.hpp"

namespace {

using namespace esprit::ike;

[[noreturn]] void violated(const char* what) {
  std::fprintf(stderr, "ike_message_fuzz: invariant violated: %s\n", what);
  std::abort();
}

void write_file(const std::string& dir, const std::string& name, const std::vector<uint8_t>& bytes) {
  const std::string path = dir + "/seed_" + name;
  if (FILE* f = std::fopen(path.c_str(), "wb")) {
    std::fwrite(bytes.data(), 1, bytes.size(), f);
    std::fclose(f);
  }
}

void write_seeds(const char* dir) {
  ::mkdir(dir, 0755);  // may exist already
  for (const auto& s : test::ike_samples()) {
    write_file(dir, s.name, s.message.encode());
    if (!s.inner.empty()) {
      std::vector<uint8_t> in{static_cast<uint8_t>(payload_type(s.inner.front()))};
      const auto plain = encode_inner(s.inner);
      in.insert(in.end(), plain.begin(), plain.end());
      write_file(dir, s.name + "_inner", in);
    }
  }
}

void check_inner(PayloadType first, std::span<const uint8_t> bytes) {
  auto inner = parse_inner(first, bytes);
  if (!inner) {
    if (inner.error().offset > bytes.size()) violated("inner error offset past the input");
    return;
  }
  const auto again = encode_inner(*inner);
  if (again.size() != bytes.size()) violated("encode_inner(parse_inner(x)) changed the length");
  const PayloadType first2 = inner->empty() ? PayloadType::kNone : payload_type(inner->front());
  auto reparsed = parse_inner(first2, again);
  if (!reparsed) violated("parse_inner(encode_inner(parse_inner(x))) failed");
  if (*reparsed != *inner) violated("parse_inner(encode_inner(m)) != m");
  if (encode_inner(*reparsed) != again) violated("encode_inner is not stable");
}

void check_message(std::span<const uint8_t> data) {
  auto m = Message::parse(data);
  if (!m) {
    if (m.error().offset > data.size()) violated("error offset past the datagram");
    return;
  }
  if (auto e = m->verify()) violated("a parsed message fails verify()");
  const auto wire = m->encode();
  if (wire.size() != data.size()) violated("encode(parse(x)) changed the length");
  auto again = Message::parse(wire);
  if (!again) violated("parse(encode(parse(x))) failed");
  if (*again != *m) violated("parse(encode(m)) != m");
  if (again->encode() != wire) violated("encode is not stable");

  const auto region = Message::sk_region(data);
  const auto* sk = m->find<EncryptedPayload>();
  const auto* skf = m->find<EncryptedFragmentPayload>();
  if ((sk != nullptr || skf != nullptr) != region.has_value()) violated("sk_region() disagrees with parse()");
  if (region) {
    const auto& body = sk != nullptr ? sk->body : skf->body;
    if (region->body_offset + region->body_length != data.size()) violated("SK region does not end the datagram");
    if (region->body_length != body.size() ||
        !std::equal(body.begin(), body.end(), data.begin() + static_cast<std::ptrdiff_t>(region->body_offset)))
      violated("SK region is not the SK body");
    check_inner(region->inner_first, body);
  }
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int* /*argc*/, char*** /*argv*/) {
  if (const char* dir = std::getenv("ESPRIT_FUZZ_WRITE_SEEDS")) write_seeds(dir);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::span<const uint8_t> in(data, size);
  check_message(in);
  if (size > 0) check_inner(static_cast<PayloadType>(data[0]), in.subspan(1));
  return 0;
}
