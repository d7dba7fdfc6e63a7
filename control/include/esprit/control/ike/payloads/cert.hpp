// Certificate and Certificate Request payloads (RFC 7296 3.6, 3.7). Esprit authenticates with PSK
// for now; these are parsed so that a peer sending them (strongSwan sends CERTREQ) is understood.
#pragma once

#include "esprit/control/ike/payloads/payload_codec.hpp"

namespace esprit::ike {

struct CertPayload {
  static constexpr PayloadType kType = PayloadType::kCert;
  uint8_t encoding = kCertX509Signature;
  Bytes data;

  [[nodiscard]] PayloadType type() const noexcept { return kType; }
  [[nodiscard]] Verdict verify() const;
  void encode_body(wire::Writer& w) const;
  [[nodiscard]] static bool decode_body(wire::Reader& r, CertPayload& out, Fault& f);
  friend bool operator==(const CertPayload&, const CertPayload&) = default;
};

struct CertReqPayload {
  static constexpr PayloadType kType = PayloadType::kCertReq;
  uint8_t encoding = kCertX509Signature;
  Bytes authorities;  ///< X.509 signature: concatenated SHA-1 hashes of CA public keys

  [[nodiscard]] PayloadType type() const noexcept { return kType; }
  [[nodiscard]] Verdict verify() const;
  void encode_body(wire::Writer& w) const;
  [[nodiscard]] static bool decode_body(wire::Reader& r, CertReqPayload& out, Fault& f);
  friend bool operator==(const CertReqPayload&, const CertReqPayload&) = default;
};

}  // namespace esprit::ike
