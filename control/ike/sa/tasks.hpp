// Private: the exchange tasks (one file each) and the helpers they share.
#pragma once

#include <memory>
#include <optional>
#include <vector>

#include "esprit/control/ike/sa/ike_sa.hpp"

namespace esprit::ike::sa_detail {

std::unique_ptr<Task> make_ike_init();
std::unique_ptr<Task> make_ike_auth();
std::unique_ptr<Task> make_informational_responder();
std::unique_ptr<Task> make_dpd();
std::unique_ptr<Task> make_ike_delete();
std::unique_ptr<Task> make_child_delete(uint32_t spi_in);
/// CREATE_CHILD_SA for a new Child SA (rekey_spi 0) or a rekey of the one with this inbound SPI.
std::unique_ptr<Task> make_child_create(uint32_t rekey_spi);
std::unique_ptr<Task> make_ike_rekey();

inline std::vector<uint8_t> spi_bytes(uint32_t spi) {
  return {static_cast<uint8_t>(spi >> 24), static_cast<uint8_t>(spi >> 16), static_cast<uint8_t>(spi >> 8),
          static_cast<uint8_t>(spi)};
}
inline uint32_t spi_value(const std::vector<uint8_t>& b) {
  return b.size() == 4 ? (uint32_t{b[0]} << 24 | uint32_t{b[1]} << 16 | uint32_t{b[2]} << 8 | b[3]) : 0;
}

/// A negotiated proposal reduced to one transform per type.
struct Selected {
  Proposal proposal;  ///< what the responder sends back (the peer's number, our SPI set later)
  std::optional<EncrAlg> encr;
  std::optional<IntegAlg> integ;  ///< kNone with AEAD
  std::optional<PrfAlg> prf;
  uint16_t dh = 0;  ///< 0: none
  bool esn = false;
};

/// Responder choice (strongest acceptable, RFC 7296 2.7): over every peer proposal and every
/// proposal of ours, the common transforms, the strongest combination; among its DH groups the one
/// of `prefer_dh` if it is acceptable (saves an INVALID_KE round trip), else the strongest.
std::optional<Selected> select_proposal(const std::vector<Proposal>& peer, const std::vector<ProposalSpec>& ours,
                                        ProtocolId protocol, uint16_t prefer_dh, bool dh_required);
/// Initiator check of the responder's single proposal: every transform must be one we offered in
/// the same proposal, one per type, nothing missing. nullopt if not.
std::optional<Selected> check_reply(const SaPayload& reply, const std::vector<ProposalSpec>& ours,
                                    ProtocolId protocol, bool dh_expected);
/// Our proposals as an SA payload (numbered 1..n), with `spi` in each; DH dropped if !with_dh.
SaPayload offer(const std::vector<ProposalSpec>& ours, ProtocolId protocol, const std::vector<uint8_t>& spi,
                bool with_dh);

/// RFC 7296 2.9 narrowing: the parts of `proposed` that `allowed` also covers (empty: unacceptable).
std::vector<TrafficSelector> narrow(const std::vector<TrafficSelector>& proposed,
                                    const std::vector<TrafficSelector>& allowed);
/// True if every selector of `inner` lies inside some selector of `outer`.
bool covered(const std::vector<TrafficSelector>& inner, const std::vector<TrafficSelector>& outer);

/// The ID payload body without its generic header (IDx' of RFC 7296 2.15).
std::vector<uint8_t> id_body(const IdPayload& id);
/// The peer's ID is the one configured: same type and data, or, for a configured FQDN or RFC 822
/// ID starting with '*' ("*.gw.lab", "*@example.com", as strongSwan writes them), any non-empty
/// prefix followed by the rest of it.
bool id_matches(const Identity& want, const IdPayload& got);
NotifyPayload notify(NotifyType t, std::vector<uint8_t> data = {});
const NotifyPayload* find_notify(const std::vector<Payload>& p, NotifyType t);
/// The first error notify (type < 16384), or nullptr.
const NotifyPayload* find_error(const std::vector<Payload>& p);
template <class T>
const T* find(const std::vector<Payload>& payloads, std::optional<bool> initiator = std::nullopt) {
  for (const auto& p : payloads)
    if (const T* t = std::get_if<T>(&p)) {
      if constexpr (requires { t->initiator; }) {
        if (initiator && t->initiator != *initiator) continue;
      }
      return t;
    }
  return nullptr;
}
struct Selected;
/// Derives KEYMAT (RFC 7296 2.17: prf+(SK_d, [g^ir |] Ni | Nr)) and installs the Child SA.
void install_child(IkeSa& sa, const Selected& sel, uint32_t spi_in, uint32_t spi_out,
                   std::vector<TrafficSelector> local, std::vector<TrafficSelector> remote, bool transport,
                   bool tfc_ok, std::span<const uint8_t> g_ir, std::span<const uint8_t> ni,
                   std::span<const uint8_t> nr, uint32_t replaces_spi, bool exchange_initiator);
/// Counts the event that goes with an error notify.
void count_notify(IkeSa& sa, NotifyType t);

}  // namespace esprit::ike::sa_detail
