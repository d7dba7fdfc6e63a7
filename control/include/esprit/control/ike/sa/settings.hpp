// Settings of one IKE SA and its Child SAs (issue 4). The IKE configuration model fills this struct;
// it holds only what the exchanges need: proposals as transform lists, the PSK, identities, traffic
// selectors, lifetimes and the retransmission schedule.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "esprit/common/ip_address.hpp"
#include "esprit/common/secret.hpp"
#include "esprit/control/ike/payloads/sa.hpp"
#include "esprit/control/ike/payloads/ts.hpp"
#include "esprit/control/ike/types.hpp"

namespace esprit::ike {

using Duration = std::chrono::nanoseconds;

/// One proposal: its transforms in preference order inside each type (ENCR, PRF, INTEG, DH, ESN).
struct ProposalSpec {
  std::vector<Transform> transforms;
};

/// "aes256-sha256-modp2048", "aes128gcm16-prfsha256-curve25519" (IKE) or "aes128gcm16-esn" (ESP):
/// algorithm keywords of esprit/common/algorithms.hpp joined by '-'. For IKE an INTEG keyword
/// without an explicit PRF adds the PRF of the same hash; "x25519" is an alias of "curve25519";
/// "esn"/"noesn" set the ESN transform (ESP only; default noesn). nullopt with `error` set on an
/// unknown keyword or a proposal that lacks an ENCR (or, for IKE, a PRF or a DH group).
[[nodiscard]] std::optional<ProposalSpec> parse_proposal(std::string_view text, ProtocolId protocol,
                                                         std::string* error = nullptr);

/// An identity (RFC 7296 3.5): type and data as in the ID payload.
struct Identity {
  IdType type = IdType::kFqdn;
  std::vector<uint8_t> data;
  [[nodiscard]] static Identity fqdn(std::string_view name) {
    return {IdType::kFqdn, std::vector<uint8_t>(name.begin(), name.end())};
  }
  friend bool operator==(const Identity&, const Identity&) = default;
};

/// Request retransmission (RFC 7296 2.1): resend the outstanding request at each time of
/// `resend_at` (measured from its first transmission), give up at `give_up_at`.
struct RetransmitSchedule {
  std::vector<Duration> resend_at{std::chrono::seconds(2), std::chrono::seconds(4), std::chrono::seconds(8)};
  Duration give_up_at = std::chrono::seconds(16);
};

struct ChildSettings {
  std::vector<ProposalSpec> esp_proposals;  ///< a DH transform here means PFS on CREATE_CHILD_SA
  std::vector<TrafficSelector> local_ts;    ///< ours: TSi when we initiate, TSr when we respond
  std::vector<TrafficSelector> remote_ts;
  bool transport_mode = false;               ///< request USE_TRANSPORT_MODE / accept it
  uint32_t replay_window = 64;
  Duration lifetime = std::chrono::hours(1);  ///< rekey time (the owner of the clock decides when)
  /// Packet/byte limits of each direction of each Child SA (0: none), programmed into its SA
  /// descriptors (SaDescriptor::hard/soft): the fast path stops a direction at `limit` and raises
  /// its soft event at `limit` times a fraction drawn per Child SA from [soft_min, soft_max]
  /// (the manager derives them from the rekey margin and jitter, docs/ike.md). Both descriptors
  /// carry the Child SA's inbound SPI as their cookie, so an event names the Child SA.
  LifetimeLimit limit;
  double soft_min = 0.9, soft_max = 0.9;
  /// Rekey responder: how long at most the old Child SA keeps sending after we answered the peer's
  /// rekey, when the peer neither sends on the new one nor deletes the old (ChildSa::outbound_pending).
  Duration outbound_switch_delay = std::chrono::seconds(2);
};

struct IkeSettings {
  std::vector<ProposalSpec> ike_proposals;
  SecretBytes psk;
  Identity local_id;
  std::optional<Identity> remote_id;  ///< when set, the peer's ID must equal it
  IpAddress local_addr;
  uint16_t local_port = 500;
  IpAddress remote_addr;
  uint16_t remote_port = 500;
  ChildSettings child;
  RetransmitSchedule retransmit;
  Duration ike_lifetime = std::chrono::hours(4);
  std::size_t nonce_len = 32;
  bool send_initial_contact = true;
  /// Responder: demand a COOKIE (RFC 7296 2.6) when this many IKE SAs are half-open.
  std::size_t cookie_threshold = 1000;
  /// IKE fragmentation (RFC 7383): offer/accept IKEV2_FRAGMENTATION_SUPPORTED in IKE_SA_INIT; when
  /// both sides did, an encrypted message whose datagram (UDP payload without the non-ESP marker)
  /// would exceed `fragment_size` bytes is sent as Encrypted Fragment payloads of at most that size.
  bool fragmentation = false;
  std::size_t fragment_size = 1280;
};

/// Traffic selector of one address (or range) with any protocol and port.
[[nodiscard]] TrafficSelector ts_range(const IpAddress& start, const IpAddress& end, uint8_t proto = 0,
                                       uint16_t start_port = 0, uint16_t end_port = 0xffff);

}  // namespace esprit::ike
