// The IKEv2 configuration model: [ike], [ike.default], [[ike.profile]], [[peer]] and the `peer` /
// `overrides` of a [[policy]] or [[tunnel]]. Plain data plus the resolution of a peer's effective
// settings; no protocol. Loaded by config.cpp through ike_config_loader.hpp; docs/configuration.md
// ("IKE") documents every key.
//
// Defaults are those of the NEC UNIVERGE IX IKEv2 guide's table of default values
// (/work/shared/seeds/003_89f0549d43f3dd7f.txt, "デフォルトの設定値について", rows 1-16), and settings
// resolve as in its priority list: tunnel > IKEv2 profile > default profile > built-in default.
// Esprit adds one level the NEC box folds into the tunnel: a [[peer]]'s own settings, between the
// tunnel/policy and the profile.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "esprit/common/algorithms.hpp"
#include "esprit/common/ip_address.hpp"
#include "esprit/common/secret.hpp"

namespace esprit {

// ---------------------------------------------------------------------------------------------
// Identities (RFC 7296 3.5)
// ---------------------------------------------------------------------------------------------

enum class IkeIdType : uint8_t {
  kIpv4Addr = 1,    ///< ID_IPV4_ADDR
  kFqdn = 2,        ///< ID_FQDN
  kRfc822Addr = 3,  ///< ID_RFC822_ADDR (user FQDN, "email:")
  kIpv6Addr = 5,    ///< ID_IPV6_ADDR
  kKeyId = 11,      ///< ID_KEY_ID
};
[[nodiscard]] std::string_view to_string(IkeIdType t) noexcept;

/// An IKE identity as it goes on the wire: its type and the identification data.
struct IkeIdentity {
  IkeIdType type = IkeIdType::kIpv4Addr;
  std::vector<uint8_t> data;

  /// "ipv4:192.0.2.1", "ipv6:2001:db8::1", "fqdn:gw.example", "email:a@b" (also "userfqdn:",
  /// "rfc822:"), "keyid:0x0102..." (hex) or "keyid:text"; strongSwan's "@gw.example" (FQDN) and
  /// "@#0102" (key ID) too. Untyped text is inferred: an IP address, then "x@y" as email, then a
  /// dotted name as FQDN. nullopt with a reason in `error` otherwise.
  [[nodiscard]] static std::optional<IkeIdentity> parse(std::string_view text, std::string* error = nullptr);
  /// The typed form parse() takes back: "fqdn:gw.example", "keyid:0x0102".
  [[nodiscard]] std::string to_string() const;
  /// ID_IPV4_ADDR / ID_IPV6_ADDR for an address.
  [[nodiscard]] static IkeIdentity from_address(const IpAddress& a);
  friend bool operator==(const IkeIdentity&, const IkeIdentity&) = default;
};

// ---------------------------------------------------------------------------------------------
// Proposals (RFC 7296 3.3), written in strongSwan syntax
// ---------------------------------------------------------------------------------------------

enum class ProposalKind : uint8_t { kIke, kEsp };

/// One proposal: every algorithm listed under a transform type is acceptable (the responder picks
/// one of each). Algorithms keep the order written; the registry's enums and IANA numbers only.
struct IkeProposal {
  std::vector<EncrAlg> encr;
  std::vector<IntegAlg> integ;  ///< empty for AEAD
  std::vector<PrfAlg> prf;      ///< IKE only
  std::vector<uint16_t> dh;     ///< IKEv2 transform type 4 IDs; ESP: empty = no PFS in this proposal
  [[nodiscard]] bool aead() const noexcept;
  /// strongSwan syntax: "aes256-sha256-prfsha256-modp2048".
  [[nodiscard]] std::string to_string() const;
  friend bool operator==(const IkeProposal&, const IkeProposal&) = default;
};

/// Parses one strongSwan proposal ("aes128gcm16-prfsha256-x25519", "aes256-sha256-modp2048").
/// IKE: at least one encryption algorithm and one DH group; integrity exactly when not AEAD; PRF
/// from integrity when omitted (sha256 -> prfsha256), required with AEAD. ESP: encryption;
/// integrity exactly when not AEAD; DH groups optional (PFS); no PRF. nullopt with the reason in
/// `error` (naming the unknown token and listing what is supported).
[[nodiscard]] std::optional<IkeProposal> parse_proposal(std::string_view text, ProposalKind kind,
                                                        std::string* error = nullptr);

/// "Everything supported, strongest first" (NEC table rows 2 and 3): one AEAD proposal and one
/// CBC+HMAC proposal, each listing the registry's algorithms in strength order. ENCR_NULL is never
/// offered by default. ESP defaults carry no DH groups (PFS comes from child_pfs).
[[nodiscard]] std::vector<IkeProposal> default_proposals(ProposalKind kind);
/// The registry's groups, strongest first (the child_pfs default and the IKE default's order).
[[nodiscard]] std::vector<uint16_t> dh_groups_strongest_first();

// ---------------------------------------------------------------------------------------------
// Settings: the keys a default profile, a profile, a peer or a tunnel/policy may set
// ---------------------------------------------------------------------------------------------

enum class NegotiationDirection : uint8_t { kBoth, kInitiator, kResponder };
enum class ConnectType : uint8_t { kTrigger, kAuto };
enum class NattMode : uint8_t { kOn, kOff, kForce };
[[nodiscard]] std::string_view to_string(NegotiationDirection d) noexcept;
[[nodiscard]] std::string_view to_string(ConnectType c) noexcept;
[[nodiscard]] std::string_view to_string(NattMode m) noexcept;

/// Bounds (NEC: sa-lifetime / child-lifetime 90-691200 s, dpd interval 10-3600 s, retransmit count
/// 2-10, interval 5-60 s). Lifetimes go down to 10 s, below NEC's 90 s, so that labs and interop
/// tests see rekeys within seconds (every NEC value stays valid).
inline constexpr uint32_t kMinLifetime = 10;
inline constexpr uint32_t kMaxLifetime = 691200;
/// ike_fragment_size bounds: the IPv4 minimum datagram RFC 7383 2.5.1 assumes (576), and what one
/// mbuf of espritd's pool holds after reassembly (2 KiB data room, docs/ike.md "Transport").
inline constexpr uint32_t kMinIkeFragmentSize = 576;
inline constexpr uint32_t kMaxIkeFragmentSize = 1900;

/// Every setting with a default. X(type, field, "key"). The built-in defaults are in
/// builtin_ike_settings() (ike_config.cpp), each citing the NEC table row.
#define ESPRIT_IKE_SETTINGS(X)                                    \
  X(std::optional<IkeIdentity>, local_id, "local_id")             \
  X(std::vector<IkeProposal>, ike_proposals, "ike")               \
  X(std::vector<IkeProposal>, esp_proposals, "esp")               \
  X(std::vector<uint16_t>, child_pfs, "child_pfs")                \
  X(uint32_t, ike_lifetime, "ike_lifetime")                       \
  X(uint32_t, child_lifetime, "child_lifetime")                   \
  X(uint64_t, child_lifetime_bytes, "child_lifetime_bytes")       \
  X(uint64_t, child_lifetime_packets, "child_lifetime_packets")   \
  X(uint32_t, rekey_margin, "rekey_margin")                       \
  X(uint32_t, rekey_jitter, "rekey_jitter")                       \
  X(uint32_t, dpd_interval, "dpd_interval")                       \
  X(uint32_t, retransmit_count, "retransmit_count")               \
  X(uint32_t, retransmit_interval, "retransmit_interval")         \
  X(NegotiationDirection, negotiation_direction, "negotiation_direction") \
  X(ConnectType, connect_type, "connect_type")                    \
  X(NattMode, natt, "natt")                                       \
  X(uint32_t, nat_keepalive, "nat_keepalive")                     \
  X(bool, anti_replay, "anti_replay")                             \
  X(bool, ike_fragmentation, "ike_fragmentation")                 \
  X(uint32_t, ike_fragment_size, "ike_fragment_size")

/// Settings as written at one level: nullopt = not set here. Meaning of the values:
///  local_id nullopt inside = "our source address" (ID_IPV4_ADDR/ID_IPV6_ADDR of the outer address);
///  child_pfs empty = off; child_lifetime_bytes/packets 0 = no limit; dpd_interval 0 = off;
///  retransmit_interval 0 = "backoff"; nat_keepalive 0 = off.
struct IkeSettings {
#define ESPRIT_X(type, field, key) std::optional<type> field;
  ESPRIT_IKE_SETTINGS(ESPRIT_X)
#undef ESPRIT_X
};

/// Where an effective value came from.
enum class IkeSource : uint8_t { kBuiltin, kDefaultProfile, kProfile, kPeer, kTunnel };
[[nodiscard]] std::string_view to_string(IkeSource s) noexcept;

template <class T>
struct Sourced {
  T value{};
  IkeSource source = IkeSource::kBuiltin;
};

/// Every setting resolved, each with its origin.
struct EffectiveIkeSettings {
#define ESPRIT_X(type, field, key) Sourced<type> field;
  ESPRIT_IKE_SETTINGS(ESPRIT_X)
#undef ESPRIT_X
  /// child_pfs applied: each ESP proposal without DH groups gets the child_pfs groups (none when off).
  [[nodiscard]] std::vector<IkeProposal> child_proposals() const;
  /// Seconds to wait after each transmission of a request, last one included: backoff with count 3
  /// gives {2, 4, 8, 16} (NEC row 12: retransmit at 2, 4, 8 s, give up 16 s later, 30 s in all).
  [[nodiscard]] std::vector<uint32_t> retransmit_waits() const;
  /// "key = value  (source)" lines, one per setting, in ESPRIT_IKE_SETTINGS order (for `show`).
  [[nodiscard]] std::vector<std::string> describe() const;
};

/// The built-in defaults (every field set).
[[nodiscard]] const IkeSettings& builtin_ike_settings();

// ---------------------------------------------------------------------------------------------
// [ike], [[ike.profile]], [[peer]]
// ---------------------------------------------------------------------------------------------

inline constexpr uint16_t kDefaultIkePort = 500;
inline constexpr uint16_t kDefaultIkeNattPort = 4500;  // RFC 3948
inline constexpr uint32_t kDefaultCookieThreshold = 10;  // strongSwan charon.cookie_threshold
/// PSKs shorter than this are refused; shorter than kPskWarnLength draw a warning (docs: "psk").
inline constexpr std::size_t kPskMinLength = 8;
inline constexpr std::size_t kPskWarnLength = 20;

struct IkeProfile {
  std::string name;
  IkeSettings settings;
};

struct IkePeer {
  std::string name;
  std::optional<IpAddress> address;  ///< nullopt: "any" / "%any" (responder only, matched by remote_id)
  std::optional<IpAddress> local;    ///< our outer address; nullopt: not fixed (NEC row 11)
  std::optional<IkeIdentity> remote_id;  ///< nullopt: the peer's address (ID_IPV4_ADDR / ID_IPV6_ADDR)
  SecretBytes psk;
  std::string profile;  ///< empty: none (default profile, then built-in defaults)
  IkeSettings settings;
  /// remote_id, or the address's ID when not written.
  [[nodiscard]] IkeIdentity effective_remote_id() const;
};

struct IkeConfig {
  uint16_t port = kDefaultIkePort;
  uint16_t natt_port = kDefaultIkeNattPort;
  /// Half-open IKE SAs above which a responder asks for a COOKIE (RFC 7296 2.6); 0 = always.
  uint32_t cookie_threshold = kDefaultCookieThreshold;
  std::string keys_file;  ///< Wireshark ikev2_decryption_table path; empty = off (the default)
  IkeSettings default_profile;  ///< [ike.default] or inline in [ike]
  std::vector<IkeProfile> profiles;
  std::vector<IkePeer> peers;
  /// Things the loader accepted but an operator should hear about (short PSKs); the daemon prints them.
  std::vector<std::string> warnings;

  [[nodiscard]] const IkePeer* find_peer(std::string_view name) const noexcept;
  [[nodiscard]] const IkeProfile* find_profile(std::string_view name) const noexcept;
};

/// The effective settings of `peer`, optionally under a tunnel's or policy's `overrides`:
/// tunnel/policy > peer > peer's profile > default profile > built-in default.
[[nodiscard]] EffectiveIkeSettings resolve_ike_settings(const IkeConfig& ike, const IkePeer& peer,
                                                        const IkeSettings* tunnel = nullptr);

}  // namespace esprit
