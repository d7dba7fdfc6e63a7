// What every IKEv2 payload type of this codec provides. A payload struct holds the fields of the
// RFC's diagram after the 4-byte generic payload header (RFC 7296 3.2), which the message codec
// (message.hpp) writes and reads for it:
//
//   static constexpr PayloadType kType;          // its Next Payload value
//   PayloadType type() const;                    // kType (IDi/IDr and TSi/TSr: per instance)
//   std::optional<std::string_view> verify() const;  // the RFC's rules; the first one broken
//   void encode_body(wire::Writer&) const;       // the body as on the wire, no validation
//   static bool decode_body(wire::Reader& body, T& out, Fault& f);  // bounds-checked
//
// decode_body() gets a reader over exactly the payload's body (the generic header's length minus
// 4); it fails with kTruncated when a length inside the body points past it, and kInvalidSyntax
// when a field has a value the RFC forbids on the wire (e.g. a transform's "last" marker).
// Parsing then calls verify(); encode_body() does not, so tests and the fuzzer can build invalid
// payloads on purpose: the exchange code calls Message::verify() before sending.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

#include "esprit/common/wire.hpp"
#include "esprit/control/ike/error.hpp"
#include "esprit/control/ike/types.hpp"

namespace esprit::ike {

using Bytes = std::vector<uint8_t>;
using Verdict = std::optional<std::string_view>;  ///< nullopt: valid; else the rule broken

/// Sets `f` and returns false: the decoders' one-line failure.
inline bool fail(Fault& f, ParseErrorCode code, std::size_t offset, std::string_view rule) noexcept {
  f = Fault{code, offset, rule};
  return false;
}

/// Size of the generic payload header (RFC 7296 3.2).
inline constexpr std::size_t kPayloadHeaderSize = 4;

}  // namespace esprit::ike
