// IKEv2 numbers (RFC 7296 section 3 and the IANA "IKEv2 Parameters" registry): exchange types,
// payload types, protocol IDs, transform types, the KEY_LENGTH attribute, ID, TS, authentication,
// certificate and configuration types, and notify message types.
//
// Fields that carry these numbers keep the raw wire value (an enum class with an underlying type is
// allowed to hold values that have no enumerator), so an unknown value read from the wire survives
// a decode/encode round trip; the name functions return "" for values they do not know.
// Transform IDs are not repeated here: the algorithm registry (esprit/common/algorithms.hpp) maps
// ENCR and INTEG IDs; the codec keeps transform IDs as plain numbers.
#pragma once

#include <cstdint>
#include <string_view>

namespace esprit::ike {

/// RFC 7296 3.1 "Exchange Type".
enum class ExchangeType : uint8_t {
  kIkeSaInit = 34,
  kIkeAuth = 35,
  kCreateChildSa = 36,
  kInformational = 37,
};

/// RFC 7296 3.2 "Next Payload" values, RFC 7383 2.5 (SKF).
enum class PayloadType : uint8_t {
  kNone = 0,
  kSa = 33,
  kKe = 34,
  kIdi = 35,
  kIdr = 36,
  kCert = 37,
  kCertReq = 38,
  kAuth = 39,
  kNonce = 40,  ///< Ni and Nr
  kNotify = 41,
  kDelete = 42,
  kVendor = 43,
  kTsi = 44,
  kTsr = 45,
  kEncrypted = 46,  ///< SK
  kConfig = 47,     ///< CP
  kEap = 48,
  kEncryptedFragment = 53,  ///< SKF, RFC 7383
};

/// RFC 7296 3.3.1 "Protocol ID" (also in Notify and Delete payloads).
enum class ProtocolId : uint8_t { kNone = 0, kIke = 1, kAh = 2, kEsp = 3 };

/// RFC 7296 3.3.2 "Transform Type".
enum class TransformType : uint8_t { kEncr = 1, kPrf = 2, kInteg = 3, kDh = 4, kEsn = 5 };

/// RFC 7296 3.3.5 transform attribute types; KEY_LENGTH is the only one defined, always TV.
inline constexpr uint16_t kAttrKeyLength = 14;

/// RFC 7296 3.5 "ID Type".
enum class IdType : uint8_t {
  kIpv4Addr = 1,
  kFqdn = 2,
  kRfc822Addr = 3,
  kIpv6Addr = 5,
  kDerAsn1Dn = 9,
  kDerAsn1Gn = 10,
  kKeyId = 11,
};

/// RFC 7296 3.8 "Auth Method", RFC 7427 (digital signature).
enum class AuthMethod : uint8_t {
  kRsaSig = 1,
  kSharedKeyMic = 2,
  kDssSig = 3,
  kEcdsa256 = 9,
  kEcdsa384 = 10,
  kEcdsa521 = 11,
  kDigitalSignature = 14,
};

/// RFC 7296 3.6 "Cert Encoding" (the two this codec checks beyond "opaque").
inline constexpr uint8_t kCertX509Signature = 4;

/// RFC 7296 3.13.1 "TS Type".
enum class TsType : uint8_t { kIpv4AddrRange = 7, kIpv6AddrRange = 8 };

/// RFC 7296 3.15 "CFG Type".
enum class CfgType : uint8_t { kRequest = 1, kReply = 2, kSet = 3, kAck = 4 };

/// RFC 7296 3.15.1 configuration attribute types.
enum class CfgAttr : uint16_t {
  kInternalIp4Address = 1,
  kInternalIp4Netmask = 2,
  kInternalIp4Dns = 3,
  kInternalIp4Nbns = 4,
  kInternalIp4Dhcp = 6,
  kApplicationVersion = 7,
  kInternalIp6Address = 8,
  kInternalIp6Dns = 10,
  kInternalIp6Dhcp = 12,
  kInternalIp4Subnet = 13,
  kSupportedAttributes = 14,
  kInternalIp6Subnet = 15,
};

/// Notify Message Types: every error and status type of RFC 7296 3.10.1, plus a few of later RFCs
/// that peers such as strongSwan send (RFC 4555, 4739, 5685, 7383, 7427). Other status types are
/// legal on the wire; receivers ignore the ones they do not know (RFC 7296 3.10.1).
enum class NotifyType : uint16_t {
  // Errors (RFC 7296 3.10.1)
  kUnsupportedCriticalPayload = 1,
  kInvalidIkeSpi = 4,
  kInvalidMajorVersion = 5,
  kInvalidSyntax = 7,
  kInvalidMessageId = 9,
  kInvalidSpi = 11,
  kNoProposalChosen = 14,
  kInvalidKePayload = 17,
  kAuthenticationFailed = 24,
  kSinglePairRequired = 34,
  kNoAdditionalSas = 35,
  kInternalAddressFailure = 36,
  kFailedCpRequired = 37,
  kTsUnacceptable = 38,
  kInvalidSelectors = 39,
  kTemporaryFailure = 43,
  kChildSaNotFound = 44,
  // Status (RFC 7296 3.10.1)
  kInitialContact = 16384,
  kSetWindowSize = 16385,
  kAdditionalTsPossible = 16386,
  kIpcompSupported = 16387,
  kNatDetectionSourceIp = 16388,
  kNatDetectionDestinationIp = 16389,
  kCookie = 16390,
  kUseTransportMode = 16391,
  kHttpCertLookupSupported = 16392,
  kRekeySa = 16393,
  kEspTfcPaddingNotSupported = 16394,
  kNonFirstFragmentsAlso = 16395,
  // Later RFCs
  kMobikeSupported = 16396,              ///< RFC 4555
  kMultipleAuthSupported = 16404,        ///< RFC 4739
  kRedirectSupported = 16406,            ///< RFC 5685
  kIkev2FragmentationSupported = 16430,  ///< RFC 7383 2.3
  kSignatureHashAlgorithms = 16431,      ///< RFC 7427 4
};

/// Notify types below this value are errors (RFC 7296 3.10.1).
inline constexpr uint16_t kFirstStatusNotify = 16384;

[[nodiscard]] std::string_view to_string(ExchangeType t) noexcept;
[[nodiscard]] std::string_view to_string(PayloadType t) noexcept;  ///< "SA", "KE", "IDi", ..., "" if unknown
[[nodiscard]] std::string_view to_string(ProtocolId p) noexcept;
[[nodiscard]] std::string_view to_string(TransformType t) noexcept;
[[nodiscard]] std::string_view to_string(IdType t) noexcept;
[[nodiscard]] std::string_view to_string(TsType t) noexcept;
[[nodiscard]] std::string_view to_string(NotifyType t) noexcept;  ///< "NAT_DETECTION_SOURCE_IP", ...

/// Payload types this codec understands (RFC 7296 3.2: for those the critical bit is ignored).
[[nodiscard]] bool is_known(PayloadType t) noexcept;

}  // namespace esprit::ike
