#include "esprit/common/sa_descriptor.hpp"

#include <string>

namespace esprit {

std::string_view to_string(SaDirection d) noexcept { return d == SaDirection::kInbound ? "inbound" : "outbound"; }
std::string_view to_string(SaMode m) noexcept { return m == SaMode::kTunnel ? "tunnel" : "transport"; }

std::optional<std::string> SaDescriptor::validate() const {
  const EncrInfo& e = info(encr);
  const IntegInfo& i = info(integ);
  if (spi < 256) return "spi: values 0-255 are reserved (RFC 4303 2.1), got " + std::to_string(spi);
  if (encr_key.size() != e.keymat_len())
    return "encr_key: " + std::string(e.name) + " needs " + std::to_string(e.keymat_len()) + " bytes, got " +
           std::to_string(encr_key.size());
  if (e.aead()) {
    if (integ != IntegAlg::kNone) return "integ: " + std::string(e.name) + " is a combined-mode cipher, integrity must be none";
  } else if (integ == IntegAlg::kNone) {
    return "integ: " + std::string(e.name) + " needs an integrity algorithm (ESP without integrity is not offered)";
  }
  if (!i.esp)
    return "integ: " + std::string(i.name) + " (" + std::string(i.rfc_name) +
           ") is for IKE only; the ESP engine does not implement it";
  if (integ_key.size() != i.key_len)
    return "integ_key: " + std::string(i.name) + " needs " + std::to_string(i.key_len) + " bytes, got " +
           std::to_string(integ_key.size());
  if (local.family() != remote.family()) return "local/remote: outer addresses must be of one family";
  if (replay_window < kMinReplayWindow || replay_window > kMaxReplayWindow)
    return "replay_window: must be " + std::to_string(kMinReplayWindow) + ".." + std::to_string(kMaxReplayWindow) +
           ", got " + std::to_string(replay_window);
  if (dscp > 63) return "dscp: must be 0..63, got " + std::to_string(dscp);
  if (ttl == 0) return "ttl: must be 1..255";
  if (natt && (natt->local_port == 0 || natt->remote_port == 0)) return "natt: ports must be non-zero";
  if (mode == SaMode::kTransport && inner_family != InnerFamily::kAny)
    return "inner_family: only meaningful in tunnel mode";
  if (soft.packets && hard.packets && soft.packets > hard.packets) return "soft.packets: above hard.packets";
  if (soft.bytes && hard.bytes && soft.bytes > hard.bytes) return "soft.bytes: above hard.bytes";
  return std::nullopt;
}

}  // namespace esprit
