// IKEv2 message codec (RFC 7296 3.1, 3.2): the header and the payload chain.
#include "esprit/control/ike/message.hpp"

#include <stdexcept>

namespace esprit::ike {
namespace {

constexpr uint8_t kCriticalBit = 0x80;  // RFC 7296 3.2

ParseError make_error(ParseErrorCode code, PayloadType payload, std::size_t index, std::size_t offset,
                      std::string_view rule) {
  return ParseError{code, payload, index, offset, rule};
}

bool is_encrypted(PayloadType t) {
  return t == PayloadType::kEncrypted || t == PayloadType::kEncryptedFragment;
}

/// Decodes one payload body of known type `t` into `out`.
template <class T>
bool decode_as(wire::Reader& body, Payload& out, Fault& f) {
  T p;
  if (!T::decode_body(body, p, f)) return false;
  out = std::move(p);
  return true;
}

bool decode_known(PayloadType t, wire::Reader& body, Payload& out, Fault& f) {
  switch (t) {
    case PayloadType::kSa: return decode_as<SaPayload>(body, out, f);
    case PayloadType::kKe: return decode_as<KePayload>(body, out, f);
    case PayloadType::kIdi:
    case PayloadType::kIdr: {
      IdPayload p;
      p.initiator = t == PayloadType::kIdi;
      if (!IdPayload::decode_body(body, p, f)) return false;
      out = std::move(p);
      return true;
    }
    case PayloadType::kCert: return decode_as<CertPayload>(body, out, f);
    case PayloadType::kCertReq: return decode_as<CertReqPayload>(body, out, f);
    case PayloadType::kAuth: return decode_as<AuthPayload>(body, out, f);
    case PayloadType::kNonce: return decode_as<NoncePayload>(body, out, f);
    case PayloadType::kNotify: return decode_as<NotifyPayload>(body, out, f);
    case PayloadType::kDelete: return decode_as<DeletePayload>(body, out, f);
    case PayloadType::kVendor: return decode_as<VendorPayload>(body, out, f);
    case PayloadType::kTsi:
    case PayloadType::kTsr: {
      TsPayload p;
      p.initiator = t == PayloadType::kTsi;
      if (!TsPayload::decode_body(body, p, f)) return false;
      out = std::move(p);
      return true;
    }
    case PayloadType::kEncrypted: return decode_as<EncryptedPayload>(body, out, f);
    case PayloadType::kConfig: return decode_as<ConfigPayload>(body, out, f);
    case PayloadType::kEap: return decode_as<EapPayload>(body, out, f);
    case PayloadType::kEncryptedFragment: return decode_as<EncryptedFragmentPayload>(body, out, f);
    case PayloadType::kNone: break;
  }
  return fail(f, ParseErrorCode::kInvalidSyntax, body.base_offset(), "payload type not known to the codec");
}

/// Walks a payload chain starting with type `first` over `r` (which must be consumed exactly).
/// `outer`: the message's own chain, where SK/SKF may end it; inside SK they are invalid.
Result<std::vector<Payload>> parse_chain(PayloadType first, wire::Reader r, bool outer) {
  std::vector<Payload> payloads;
  PayloadType next = first;
  std::size_t index = 0;
  while (next != PayloadType::kNone) {
    const std::size_t at = r.offset();
    if (index >= kMaxPayloads)
      return make_error(ParseErrorCode::kTooManyPayloads, next, index, at, "more than kMaxPayloads payloads in one chain");
    const PayloadType type = next;
    next = static_cast<PayloadType>(r.u8());
    const bool critical = (r.u8() & kCriticalBit) != 0;
    const uint16_t length = r.u16();
    if (!r.ok())
      return make_error(ParseErrorCode::kTruncated, type, index, at,
                        "generic payload header past the end of the message (RFC 7296 3.2)");
    if (length < kPayloadHeaderSize)
      return make_error(ParseErrorCode::kInvalidSyntax, type, index, at + 2, "payload length below 4 (RFC 7296 3.2)");
    wire::Reader body = r.sub(length - kPayloadHeaderSize);
    if (!r.ok())
      return make_error(ParseErrorCode::kTruncated, type, index, at + 2,
                        "payload length past the end of the message (RFC 7296 3.2)");

    Payload p;
    if (!is_known(type)) {
      // RFC 7296 2.5: reject the message for an unknown critical payload, skip it otherwise.
      if (critical)
        return make_error(ParseErrorCode::kUnsupportedCritical, type, index, at,
                          "unknown payload type with the critical bit set (RFC 7296 2.5)");
      UnknownPayload u;
      u.raw_type = type;
      Fault unused;
      (void)UnknownPayload::decode_body(body, u, unused);
      p = std::move(u);
    } else {
      if (!outer && is_encrypted(type))
        return make_error(ParseErrorCode::kInvalidSyntax, type, index, at, "SK/SKF payload inside an SK payload (RFC 7296 3.14)");
      Fault f;
      if (!decode_known(type, body, p, f)) return make_error(f.code, type, index, f.offset, f.rule);
      if (!body.empty())  // every decoder consumes its body; a decoder bug must not pass silently
        return make_error(ParseErrorCode::kInvalidSyntax, type, index, body.offset(), "bytes left in a payload body");
    }
    if (auto rule = std::visit([](const auto& x) { return x.verify(); }, p))
      return make_error(ParseErrorCode::kInvalidSyntax, type, index, at, *rule);

    if (is_encrypted(type)) {
      // The SK payload's Next Payload is the first inner payload's type, and SK is the last
      // payload of the message (RFC 7296 3.14; RFC 7383 2.5 for SKF).
      if (auto* sk = std::get_if<EncryptedPayload>(&p)) sk->inner_first = next;
      if (auto* skf = std::get_if<EncryptedFragmentPayload>(&p)) {
        skf->inner_first = next;
        if (auto rule = skf->verify()) return make_error(ParseErrorCode::kInvalidSyntax, type, index, at, *rule);
      }
      payloads.push_back(std::move(p));
      ++index;
      if (!r.empty())
        return make_error(ParseErrorCode::kInvalidSyntax, type, index - 1, r.offset(),
                          "bytes after the SK payload, which must be the last (RFC 7296 3.14)");
      return payloads;
    }
    payloads.push_back(std::move(p));
    ++index;
  }
  if (!r.empty())
    return make_error(ParseErrorCode::kInvalidSyntax, PayloadType::kNone, index, r.offset(),
                      "bytes after the last payload (RFC 7296 3.2)");
  return payloads;
}

/// Writes one payload: generic header (RFC 7296 3.2) and body, with `next` as its Next Payload.
//                      1                   2                   3
//  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// | Next Payload  |C|  RESERVED   |         Payload Length        |
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
void encode_payload(wire::Writer& w, const Payload& p, PayloadType next) {
  if (const auto* sk = std::get_if<EncryptedPayload>(&p)) next = sk->inner_first;
  if (const auto* skf = std::get_if<EncryptedFragmentPayload>(&p)) next = skf->inner_first;
  const auto* unknown = std::get_if<UnknownPayload>(&p);
  const std::size_t start = w.offset();
  w.u8(static_cast<uint8_t>(next));
  // RFC 7296 3.2: the critical bit is zero for every payload this document defines.
  w.u8(unknown != nullptr && unknown->critical ? kCriticalBit : 0);
  const std::size_t length_at = w.offset();
  w.u16(0);
  std::visit([&w](const auto& x) { x.encode_body(w); }, p);
  w.patch_length16(length_at, start);
}

void encode_chain(wire::Writer& w, std::span<const Payload> payloads) {
  for (std::size_t i = 0; i < payloads.size(); ++i)
    encode_payload(w, payloads[i], i + 1 < payloads.size() ? payload_type(payloads[i + 1]) : PayloadType::kNone);
}

}  // namespace

PayloadType payload_type(const Payload& p) noexcept {
  return std::visit([](const auto& x) { return x.type(); }, p);
}

//                      1                   2                   3
//  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// |                       IKE SA Initiator's SPI                  |
// |                                                               |
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// |                       IKE SA Responder's SPI                  |
// |                                                               |
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// |  Next Payload | MjVer | MnVer | Exchange Type |     Flags     |
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// |                          Message ID                           |
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// |                            Length                             |
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
std::vector<uint8_t> Message::encode() const {
  std::vector<uint8_t> out;
  out.reserve(512);
  wire::Writer w(out);
  w.u64(header.spi_i);
  w.u64(header.spi_r);
  w.u8(static_cast<uint8_t>(payloads.empty() ? PayloadType::kNone : payload_type(payloads.front())));
  w.u8(static_cast<uint8_t>((header.major & 0x0f) << 4 | (header.minor & 0x0f)));
  w.u8(static_cast<uint8_t>(header.exchange));
  w.u8(header.flags);
  w.u32(header.message_id);
  const std::size_t length_at = w.offset();
  w.u32(0);
  encode_chain(w, payloads);
  if (out.size() > 0xffffffffu) throw std::length_error("IKE message too long");
  w.patch_u32(length_at, static_cast<uint32_t>(out.size()));
  return out;
}

Result<Header> Message::parse_header(std::span<const uint8_t> datagram) {
  if (datagram.size() < kHeaderSize)
    return make_error(ParseErrorCode::kTooShort, PayloadType::kNone, 0, datagram.size(),
                      "datagram shorter than the IKE header (RFC 7296 3.1)");
  wire::Reader r(datagram);
  Header h;
  h.spi_i = r.u64();
  h.spi_r = r.u64();
  h.next_payload = static_cast<PayloadType>(r.u8());
  const uint8_t version = r.u8();
  h.major = version >> 4;
  h.minor = version & 0x0f;
  h.exchange = static_cast<ExchangeType>(r.u8());
  h.flags = r.u8();
  h.message_id = r.u32();
  h.length = r.u32();
  if (h.major < 2)
    return make_error(ParseErrorCode::kNotIkev2, PayloadType::kNone, 0, 17, "major version below 2 (RFC 7296 3.1)");
  if (h.major > 2)
    return make_error(ParseErrorCode::kInvalidMajorVersion, PayloadType::kNone, 0, 17,
                      "major version above 2 (RFC 7296 2.5)");
  if (h.length != datagram.size())
    return make_error(ParseErrorCode::kLengthMismatch, PayloadType::kNone, 0, 24,
                      "IKE header Length differs from the datagram length (RFC 7296 3.1)");
  return h;
}

Result<Message> Message::parse(std::span<const uint8_t> datagram) {
  auto header = parse_header(datagram);
  if (!header) return header.error();
  Message m;
  m.header = *header;
  auto chain = parse_chain(m.header.next_payload, wire::Reader(datagram.subspan(kHeaderSize), kHeaderSize), true);
  if (!chain) return chain.error();
  m.payloads = std::move(chain).value();
  return m;
}

std::optional<ParseError> Message::verify() const {
  if (header.major != 2)
    return make_error(ParseErrorCode::kInvalidMajorVersion, PayloadType::kNone, 0, 17, "IKEv2 messages carry major version 2");
  for (std::size_t i = 0; i < payloads.size(); ++i) {
    const PayloadType t = payload_type(payloads[i]);
    if (auto rule = std::visit([](const auto& x) { return x.verify(); }, payloads[i])) {
      const auto code = std::holds_alternative<UnknownPayload>(payloads[i]) ? ParseErrorCode::kUnsupportedCritical
                                                                             : ParseErrorCode::kInvalidSyntax;
      return make_error(code, t, i, 0, *rule);
    }
    if (is_encrypted(t) && i + 1 != payloads.size())
      return make_error(ParseErrorCode::kInvalidSyntax, t, i, 0, "the SK payload must be the last (RFC 7296 3.14)");
    if (std::holds_alternative<UnknownPayload>(payloads[i]) && is_known(t))
      return make_error(ParseErrorCode::kInvalidSyntax, t, i, 0, "unknown-payload holder with a known type");
  }
  if (payloads.size() > kMaxPayloads)
    return make_error(ParseErrorCode::kTooManyPayloads, PayloadType::kNone, kMaxPayloads, 0,
                      "more than kMaxPayloads payloads in one chain");
  return std::nullopt;
}

std::optional<SkRegion> Message::sk_region(std::span<const uint8_t> encoded) noexcept {
  wire::Reader r(encoded);
  if (!r.skip(16)) return std::nullopt;
  auto next = static_cast<PayloadType>(r.u8());
  if (!r.skip(11)) return std::nullopt;
  for (std::size_t i = 0; i < kMaxPayloads && next != PayloadType::kNone; ++i) {
    const std::size_t at = r.offset();
    const auto inner = static_cast<PayloadType>(r.u8());
    r.u8();
    const uint16_t length = r.u16();
    if (!r.ok() || length < kPayloadHeaderSize || !r.need(length - kPayloadHeaderSize)) return std::nullopt;
    if (is_encrypted(next)) {
      const std::size_t header =
          kPayloadHeaderSize + (next == PayloadType::kEncryptedFragment ? EncryptedFragmentPayload::kExtraHeader : 0);
      if (length < header) return std::nullopt;
      SkRegion sk;
      sk.type = next;
      sk.inner_first = inner;
      sk.aad_length = at + header;
      sk.body_offset = at + header;
      sk.body_length = length - header;
      return sk;
    }
    r.skip(length - kPayloadHeaderSize);
    next = inner;
  }
  return std::nullopt;
}

const NotifyPayload* Message::find_notify(NotifyType t) const noexcept {
  for (const auto& p : payloads)
    if (const auto* n = std::get_if<NotifyPayload>(&p); n != nullptr && n->notify_type == t) return n;
  return nullptr;
}

std::vector<uint8_t> encode_inner(std::span<const Payload> payloads) {
  std::vector<uint8_t> out;
  wire::Writer w(out);
  encode_chain(w, payloads);
  return out;
}

Result<std::vector<Payload>> parse_inner(PayloadType first, std::span<const uint8_t> plaintext) {
  return parse_chain(first, wire::Reader(plaintext), false);
}

}  // namespace esprit::ike
