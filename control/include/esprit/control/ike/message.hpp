// IKEv2 messages (RFC 7296 3.1, 3.2): the header, an ordered list of payloads, and the codec.
//
//   auto m = Message::parse(datagram);        // bounds-checked; every payload verify()'d
//   if (!m) counters.count(m.error().code);   // + answer_for(m.error(), ...) (error.hpp)
//   std::vector<uint8_t> wire = msg.encode(); // lengths and Next Payload chain written here
//
// Encrypted messages: the SK payload's body is opaque here. To send, the exchange encodes the
// inner chain with encode_inner(), asks the crypto for the sealed size, puts an EncryptedPayload
// with a body of that size into the message, encodes it, and seals in place at sk_region(): the
// associated data is bytes [0, aad_length) (IKE header through the SK generic header, RFC 5282
// 5.1, RFC 7383 2.5 for SKF), the body [body_offset, body_offset + body_length). To receive, it
// opens the body found at sk_region() of the datagram and parses the plaintext chain with
// parse_inner(sk.inner_first, plaintext).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <variant>
#include <vector>

#include "esprit/control/ike/error.hpp"
#include "esprit/control/ike/payloads/auth.hpp"
#include "esprit/control/ike/payloads/cert.hpp"
#include "esprit/control/ike/payloads/config.hpp"
#include "esprit/control/ike/payloads/delete.hpp"
#include "esprit/control/ike/payloads/eap.hpp"
#include "esprit/control/ike/payloads/encrypted.hpp"
#include "esprit/control/ike/payloads/id.hpp"
#include "esprit/control/ike/payloads/ke.hpp"
#include "esprit/control/ike/payloads/nonce.hpp"
#include "esprit/control/ike/payloads/notify.hpp"
#include "esprit/control/ike/payloads/sa.hpp"
#include "esprit/control/ike/payloads/ts.hpp"
#include "esprit/control/ike/payloads/unknown.hpp"
#include "esprit/control/ike/payloads/vendor.hpp"
#include "esprit/control/ike/result.hpp"
#include "esprit/control/ike/types.hpp"

namespace esprit::ike {

using Payload = std::variant<SaPayload, KePayload, IdPayload, CertPayload, CertReqPayload, AuthPayload,
                             NoncePayload, NotifyPayload, DeletePayload, VendorPayload, TsPayload,
                             EncryptedPayload, EncryptedFragmentPayload, ConfigPayload, EapPayload,
                             UnknownPayload>;

[[nodiscard]] PayloadType payload_type(const Payload& p) noexcept;

inline constexpr std::size_t kHeaderSize = 28;  ///< RFC 7296 3.1
/// Bound on the payloads of one chain (the outer message, or an SK plaintext): a bigger chain is
/// refused (kTooManyPayloads) rather than walked. Real messages carry a few dozen at most.
inline constexpr std::size_t kMaxPayloads = 128;

inline constexpr uint8_t kFlagInitiator = 0x08;  ///< RFC 7296 3.1 "I"
inline constexpr uint8_t kFlagVersion = 0x10;    ///< "V": a higher major version is supported
inline constexpr uint8_t kFlagResponse = 0x20;   ///< "R"

struct Header {
  uint64_t spi_i = 0;
  uint64_t spi_r = 0;
  /// As received. encode() writes the first payload's type instead.
  PayloadType next_payload = PayloadType::kNone;
  uint8_t major = 2;  ///< parse() accepts only 2 (see kNotIkev2, kInvalidMajorVersion)
  uint8_t minor = 0;  ///< sent as 0, ignored on receipt (RFC 7296 3.1); kept as received
  ExchangeType exchange = ExchangeType::kIkeSaInit;
  /// As received, reserved bits included (they are ignored on receipt; RFC 7296 3.1).
  uint8_t flags = kFlagInitiator;
  uint32_t message_id = 0;
  /// As received. encode() writes the encoded size instead.
  uint32_t length = 0;

  [[nodiscard]] bool initiator() const noexcept { return (flags & kFlagInitiator) != 0; }
  [[nodiscard]] bool response() const noexcept { return (flags & kFlagResponse) != 0; }
  [[nodiscard]] bool request() const noexcept { return !response(); }
  friend bool operator==(const Header&, const Header&) = default;
};

/// Where the SK (or SKF) payload sits in an encoded message (offsets into its bytes).
struct SkRegion {
  PayloadType type = PayloadType::kEncrypted;  ///< kEncrypted or kEncryptedFragment
  PayloadType inner_first = PayloadType::kNone;
  std::size_t aad_length = 0;   ///< associated data: bytes [0, aad_length)
  std::size_t body_offset = 0;  ///< IV | ciphertext | ICV starts here (== aad_length)
  std::size_t body_length = 0;
  friend bool operator==(const SkRegion&, const SkRegion&) = default;
};

struct Message {
  Header header;
  std::vector<Payload> payloads;

  /// Parses a whole datagram (UDP payload, without the non-ESP marker on port 4500).
  [[nodiscard]] static Result<Message> parse(std::span<const uint8_t> datagram);

  /// Only the header, with parse()'s header checks (size, version, Length). When parse() fails
  /// in the payloads, this still gives the SPIs, message ID and flags the answer needs (which IKE
  /// SA, request or response: answer_for()).
  [[nodiscard]] static Result<Header> parse_header(std::span<const uint8_t> datagram);

  /// The wire form. Writes Next Payload fields and lengths from the payload list (an SK payload's
  /// Next Payload is its inner_first). Throws std::length_error if a payload or the message does
  /// not fit its length field. Does not call verify().
  [[nodiscard]] std::vector<uint8_t> encode() const;

  /// The first broken rule of the model: each payload's verify(), and the message rules (major
  /// version 2, at most one SK/SKF payload and it is the last, no critical unknown payload).
  [[nodiscard]] std::optional<ParseError> verify() const;

  /// The SK/SKF payload's position in `encoded` (a datagram that parse() accepts, or encode()'s
  /// output); nullopt if it has none or if `encoded` is not a well-formed chain.
  [[nodiscard]] static std::optional<SkRegion> sk_region(std::span<const uint8_t> encoded) noexcept;

  /// First payload of type T (and for IdPayload/TsPayload: any direction), or nullptr.
  template <class T>
  [[nodiscard]] const T* find() const noexcept {
    for (const auto& p : payloads)
      if (const T* t = std::get_if<T>(&p)) return t;
    return nullptr;
  }
  /// First Notify payload of this type, or nullptr.
  [[nodiscard]] const NotifyPayload* find_notify(NotifyType t) const noexcept;

  friend bool operator==(const Message&, const Message&) = default;
};

/// The plaintext payload chain of an SK payload (without padding: the crypto adds it). The first
/// payload's type is what goes into the SK payload's inner_first (payload_type(payloads[0]), or
/// kNone for an empty chain). Throws std::length_error if a payload does not fit its length.
[[nodiscard]] std::vector<uint8_t> encode_inner(std::span<const Payload> payloads);

/// Parses a decrypted SK plaintext chain (padding and pad length already removed). Offsets in
/// errors are relative to the plaintext. An SK/SKF payload inside is invalid syntax.
[[nodiscard]] Result<std::vector<Payload>> parse_inner(PayloadType first, std::span<const uint8_t> plaintext);

}  // namespace esprit::ike
