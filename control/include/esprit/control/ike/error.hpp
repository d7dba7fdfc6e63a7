// The one table of IKE message parse failures (enum, short name for counters and logs, description)
// and what RFC 7296 says to do about each: answer with a notify, or drop and count.
//
// Error policy (docs/ike.md):
//   - header failures (too short, IKEv1, length mismatch) and every failure in a message that is
//     not protected by an authenticated IKE SA: drop, count the reason; no answer (RFC 7296 2.21:
//     an unauthenticated peer learns nothing, and an attacker cannot make us send INVALID_SYNTAX);
//   - major version above 2: answer INVALID_MAJOR_VERSION (RFC 7296 2.5, 1.5) to a request;
//   - unknown payload with the critical bit: answer UNSUPPORTED_CRITICAL_PAYLOAD with the type
//     (RFC 7296 2.5, 3.2) to a request;
//   - any other syntax failure inside an authenticated SA (after the SK payload verified): answer
//     INVALID_SYNTAX to a request (RFC 7296 2.21.2, 3.10.1).
//   Responses are never answered (RFC 7296 2.21); they are dropped and counted.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "esprit/control/ike/types.hpp"

namespace esprit::ike {

// X(enumerator, name, description)
#define ESPRIT_IKE_PARSE_ERRORS(X)                                                                   \
  X(kTooShort, "too_short", "datagram shorter than the 28-byte IKE header")                          \
  X(kNotIkev2, "not_ikev2", "major version below 2 (an IKEv1 message)")                              \
  X(kInvalidMajorVersion, "invalid_major_version", "major version above 2")                          \
  X(kLengthMismatch, "length_mismatch", "IKE header length differs from the datagram length")       \
  X(kTruncated, "truncated", "a payload or field runs past the length that encloses it")            \
  X(kInvalidSyntax, "invalid_syntax", "a field breaks a rule of RFC 7296 (or RFC 7383)")             \
  X(kUnsupportedCritical, "unsupported_critical", "unknown payload type with the critical bit set") \
  X(kTooManyPayloads, "too_many_payloads", "more payloads in one chain than the codec accepts")

enum class ParseErrorCode : uint8_t {
#define ESPRIT_X(e, n, d) e,
  ESPRIT_IKE_PARSE_ERRORS(ESPRIT_X)
#undef ESPRIT_X
      kCount,
};

inline constexpr std::size_t kParseErrorCount = static_cast<std::size_t>(ParseErrorCode::kCount);

struct ParseErrorInfo {
  ParseErrorCode code;
  std::string_view name;
  std::string_view description;
};

inline constexpr std::array<ParseErrorInfo, kParseErrorCount> kParseErrors = {{
#define ESPRIT_X(e, n, d) {ParseErrorCode::e, n, d},
    ESPRIT_IKE_PARSE_ERRORS(ESPRIT_X)
#undef ESPRIT_X
}};

[[nodiscard]] constexpr std::string_view to_string(ParseErrorCode c) noexcept {
  return kParseErrors[static_cast<std::size_t>(c)].name;
}

/// Where and why a payload body failed to decode (filled by the payload decoders).
struct Fault {
  ParseErrorCode code = ParseErrorCode::kInvalidSyntax;
  std::size_t offset = 0;  ///< absolute byte offset of the offending field
  std::string_view rule;   ///< the rule, e.g. "nonce length 16..256 (RFC 7296 3.9)"
};

/// A failed parse: which rule, at which byte, in which payload.
struct ParseError {
  ParseErrorCode code = ParseErrorCode::kInvalidSyntax;
  /// The payload being parsed (kNone: the IKE header). For kUnsupportedCritical, the unknown type.
  PayloadType payload = PayloadType::kNone;
  std::size_t payload_index = 0;  ///< position in its chain (0 = first payload)
  std::size_t offset = 0;         ///< absolute byte offset (in the datagram, or in the SK plaintext)
  std::string_view rule;          ///< static text naming the rule and its RFC section

  /// "invalid_syntax in payload #2 (Ni) at offset 76: nonce length 16..256 (RFC 7296 3.9)"
  [[nodiscard]] std::string to_string() const;
  friend bool operator==(const ParseError&, const ParseError&) = default;
};

/// What to do about a parse failure (the policy above).
struct ErrorAnswer {
  /// The notify to send back (in the answer to the request), or nothing: drop and count.
  std::optional<NotifyType> notify;
  /// Notification data: for UNSUPPORTED_CRITICAL_PAYLOAD, the one-octet payload type.
  std::optional<uint8_t> data;
};

/// `authenticated`: the message arrived inside an authenticated IKE SA (its SK payload verified);
/// `request`: the message is a request (R flag clear).
[[nodiscard]] ErrorAnswer answer_for(const ParseError& e, bool authenticated, bool request) noexcept;

/// Drop counters, one per parse failure (the control core is one thread: plain counters).
struct ParseCounters {
  std::array<uint64_t, kParseErrorCount> by_code{};
  void count(ParseErrorCode c) noexcept { ++by_code[static_cast<std::size_t>(c)]; }
  [[nodiscard]] uint64_t operator[](ParseErrorCode c) const noexcept {
    return by_code[static_cast<std::size_t>(c)];
  }
};

}  // namespace esprit::ike
