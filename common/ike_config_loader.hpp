// Private: the narrow hook between config.cpp's loader and the IKE sections (ike_config.cpp).
// Both functions report the first problem as a ConfigError (file:line:col, key path, message);
// no message ever contains a PSK.
#pragma once

#include <toml++/toml.h>

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "esprit/common/config.hpp"
#include "esprit/common/ike_config.hpp"

namespace esprit {

/// Reads [ike] (with [ike.default] and [[ike.profile]]) and [[peer]] from the document root.
/// `file` names the source in errors and anchors relative psk_file paths (its directory); a peer's
/// `local` must be an address of one of `ports` with role unprotected.
[[nodiscard]] std::optional<ConfigError> load_ike_sections(const toml::table& root, const std::string& file,
                                                           const std::vector<PortConfig>& ports, IkeConfig& out);

/// The IKE side of one [[policy]] or [[tunnel]] (table `t` at key path `path`, e.g. "tunnel[1]"):
/// its `peer` and `overrides`. `static_keys` are the keys naming static SAs (mutually exclusive with
/// `peer`); `protect` is false for a bypass/discard policy (which may name no peer). Peers with
/// address "any" serve policies only (`for_tunnel` refuses them). Fills `peer` ("" when none) and
/// `overrides`.
[[nodiscard]] std::optional<ConfigError> load_ike_binding(const toml::table& t, const std::string& file,
                                                          const std::string& path, const IkeConfig& ike,
                                                          const std::vector<std::string_view>& static_keys,
                                                          bool protect, bool for_tunnel, std::string& peer,
                                                          IkeSettings& overrides);

}  // namespace esprit
