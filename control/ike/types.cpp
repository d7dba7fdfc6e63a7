#include "esprit/control/ike/types.hpp"

namespace esprit::ike {

std::string_view to_string(ExchangeType t) noexcept {
  switch (t) {
    case ExchangeType::kIkeSaInit: return "IKE_SA_INIT";
    case ExchangeType::kIkeAuth: return "IKE_AUTH";
    case ExchangeType::kCreateChildSa: return "CREATE_CHILD_SA";
    case ExchangeType::kInformational: return "INFORMATIONAL";
  }
  return "";
}

std::string_view to_string(PayloadType t) noexcept {
  switch (t) {
    case PayloadType::kNone: return "NONE";
    case PayloadType::kSa: return "SA";
    case PayloadType::kKe: return "KE";
    case PayloadType::kIdi: return "IDi";
    case PayloadType::kIdr: return "IDr";
    case PayloadType::kCert: return "CERT";
    case PayloadType::kCertReq: return "CERTREQ";
    case PayloadType::kAuth: return "AUTH";
    case PayloadType::kNonce: return "Nonce";
    case PayloadType::kNotify: return "N";
    case PayloadType::kDelete: return "D";
    case PayloadType::kVendor: return "V";
    case PayloadType::kTsi: return "TSi";
    case PayloadType::kTsr: return "TSr";
    case PayloadType::kEncrypted: return "SK";
    case PayloadType::kConfig: return "CP";
    case PayloadType::kEap: return "EAP";
    case PayloadType::kEncryptedFragment: return "SKF";
  }
  return "";
}

bool is_known(PayloadType t) noexcept { return t != PayloadType::kNone && !to_string(t).empty(); }

std::string_view to_string(ProtocolId p) noexcept {
  switch (p) {
    case ProtocolId::kNone: return "NONE";
    case ProtocolId::kIke: return "IKE";
    case ProtocolId::kAh: return "AH";
    case ProtocolId::kEsp: return "ESP";
  }
  return "";
}

std::string_view to_string(TransformType t) noexcept {
  switch (t) {
    case TransformType::kEncr: return "ENCR";
    case TransformType::kPrf: return "PRF";
    case TransformType::kInteg: return "INTEG";
    case TransformType::kDh: return "DH";
    case TransformType::kEsn: return "ESN";
  }
  return "";
}

std::string_view to_string(IdType t) noexcept {
  switch (t) {
    case IdType::kIpv4Addr: return "ID_IPV4_ADDR";
    case IdType::kFqdn: return "ID_FQDN";
    case IdType::kRfc822Addr: return "ID_RFC822_ADDR";
    case IdType::kIpv6Addr: return "ID_IPV6_ADDR";
    case IdType::kDerAsn1Dn: return "ID_DER_ASN1_DN";
    case IdType::kDerAsn1Gn: return "ID_DER_ASN1_GN";
    case IdType::kKeyId: return "ID_KEY_ID";
  }
  return "";
}

std::string_view to_string(TsType t) noexcept {
  switch (t) {
    case TsType::kIpv4AddrRange: return "TS_IPV4_ADDR_RANGE";
    case TsType::kIpv6AddrRange: return "TS_IPV6_ADDR_RANGE";
  }
  return "";
}

std::string_view to_string(NotifyType t) noexcept {
  switch (t) {
    case NotifyType::kUnsupportedCriticalPayload: return "UNSUPPORTED_CRITICAL_PAYLOAD";
    case NotifyType::kInvalidIkeSpi: return "INVALID_IKE_SPI";
    case NotifyType::kInvalidMajorVersion: return "INVALID_MAJOR_VERSION";
    case NotifyType::kInvalidSyntax: return "INVALID_SYNTAX";
    case NotifyType::kInvalidMessageId: return "INVALID_MESSAGE_ID";
    case NotifyType::kInvalidSpi: return "INVALID_SPI";
    case NotifyType::kNoProposalChosen: return "NO_PROPOSAL_CHOSEN";
    case NotifyType::kInvalidKePayload: return "INVALID_KE_PAYLOAD";
    case NotifyType::kAuthenticationFailed: return "AUTHENTICATION_FAILED";
    case NotifyType::kSinglePairRequired: return "SINGLE_PAIR_REQUIRED";
    case NotifyType::kNoAdditionalSas: return "NO_ADDITIONAL_SAS";
    case NotifyType::kInternalAddressFailure: return "INTERNAL_ADDRESS_FAILURE";
    case NotifyType::kFailedCpRequired: return "FAILED_CP_REQUIRED";
    case NotifyType::kTsUnacceptable: return "TS_UNACCEPTABLE";
    case NotifyType::kInvalidSelectors: return "INVALID_SELECTORS";
    case NotifyType::kTemporaryFailure: return "TEMPORARY_FAILURE";
    case NotifyType::kChildSaNotFound: return "CHILD_SA_NOT_FOUND";
    case NotifyType::kInitialContact: return "INITIAL_CONTACT";
    case NotifyType::kSetWindowSize: return "SET_WINDOW_SIZE";
    case NotifyType::kAdditionalTsPossible: return "ADDITIONAL_TS_POSSIBLE";
    case NotifyType::kIpcompSupported: return "IPCOMP_SUPPORTED";
    case NotifyType::kNatDetectionSourceIp: return "NAT_DETECTION_SOURCE_IP";
    case NotifyType::kNatDetectionDestinationIp: return "NAT_DETECTION_DESTINATION_IP";
    case NotifyType::kCookie: return "COOKIE";
    case NotifyType::kUseTransportMode: return "USE_TRANSPORT_MODE";
    case NotifyType::kHttpCertLookupSupported: return "HTTP_CERT_LOOKUP_SUPPORTED";
    case NotifyType::kRekeySa: return "REKEY_SA";
    case NotifyType::kEspTfcPaddingNotSupported: return "ESP_TFC_PADDING_NOT_SUPPORTED";
    case NotifyType::kNonFirstFragmentsAlso: return "NON_FIRST_FRAGMENTS_ALSO";
    case NotifyType::kMobikeSupported: return "MOBIKE_SUPPORTED";
    case NotifyType::kMultipleAuthSupported: return "MULTIPLE_AUTH_SUPPORTED";
    case NotifyType::kRedirectSupported: return "REDIRECT_SUPPORTED";
    case NotifyType::kIkev2FragmentationSupported: return "IKEV2_FRAGMENTATION_SUPPORTED";
    case NotifyType::kSignatureHashAlgorithms: return "SIGNATURE_HASH_ALGORITHMS";
  }
  return "";
}

}  // namespace esprit::ike
