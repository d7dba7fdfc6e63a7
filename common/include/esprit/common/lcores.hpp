// From `[daemon] workers` / `main_lcore` to the EAL's lcore arguments, and from the lcores the EAL
// enabled to the worker lcores. Pure functions (no DPDK), so the rules are unit-tested.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <variant>
#include <vector>

#include "esprit/common/config.hpp"

namespace esprit {

/// Whether an EAL argument sets lcores: -l, -c, --lcores, --main-lcore (also "-l0-3" forms).
[[nodiscard]] bool is_lcore_eal_arg(const std::string& arg) noexcept;

/// The "-l LIST --main-lcore N" words espritd adds to the EAL arguments, or nothing when `user_args`
/// ([eal] args and the words after "--") already set lcores, or when [daemon] sets neither
/// `workers` nor `main_lcore` (the EAL's default). A worker count N without a list takes lcores
/// 0, 1, ... other than the main lcore (0 unless `main_lcore` says otherwise).
[[nodiscard]] std::vector<std::string> lcore_eal_args(const DaemonConfig& d, std::span<const std::string> user_args);

/// The worker lcores among `enabled` (the EAL's worker lcores, main excluded, in order): the
/// configured list (each must be enabled), or the first `worker_count` (0: all). An error names
/// what is missing.
[[nodiscard]] std::variant<std::vector<uint32_t>, std::string> select_worker_lcores(
    const DaemonConfig& d, std::span<const uint32_t> enabled, uint32_t main_lcore);

}  // namespace esprit
