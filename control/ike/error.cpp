#include "esprit/control/ike/error.hpp"

#include <string>

namespace esprit::ike {

std::string ParseError::to_string() const {
  std::string s(ike::to_string(code));
  if (code == ParseErrorCode::kUnsupportedCritical) {
    s += " payload type " + std::to_string(static_cast<unsigned>(payload));
  } else if (payload != PayloadType::kNone) {
    const auto name = ike::to_string(payload);
    s += " in payload #" + std::to_string(payload_index) + " (" +
         (name.empty() ? std::to_string(static_cast<unsigned>(payload)) : std::string(name)) + ")";
  } else {
    s += " in the IKE header";
  }
  s += " at offset " + std::to_string(offset);
  if (!rule.empty()) {
    s += ": ";
    s += rule;
  }
  return s;
}

ErrorAnswer answer_for(const ParseError& e, bool authenticated, bool request) noexcept {
  if (!request) return {};  // RFC 7296 2.21: never answer a response
  switch (e.code) {
    case ParseErrorCode::kInvalidMajorVersion:
      return {NotifyType::kInvalidMajorVersion, std::nullopt};  // RFC 7296 2.5
    case ParseErrorCode::kUnsupportedCritical:
      return {NotifyType::kUnsupportedCriticalPayload, static_cast<uint8_t>(e.payload)};  // RFC 7296 3.10.1
    case ParseErrorCode::kTruncated:
    case ParseErrorCode::kInvalidSyntax:
    case ParseErrorCode::kTooManyPayloads:
      // RFC 7296 2.21.2, 3.10.1: INVALID_SYNTAX only in an authenticated exchange; otherwise the
      // message is dropped, so that unauthenticated garbage costs us nothing but a counter.
      if (authenticated) return {NotifyType::kInvalidSyntax, std::nullopt};
      return {};
    case ParseErrorCode::kTooShort:
    case ParseErrorCode::kNotIkev2:
    case ParseErrorCode::kLengthMismatch:
    case ParseErrorCode::kCount:
      return {};
  }
  return {};
}

}  // namespace esprit::ike
