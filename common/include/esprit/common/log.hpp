// A small logger for the control plane: one process-wide level, lines to stderr with a UTC
// timestamp and the level:
//   2026-11-23T05:24:11.123Z espritd info: port lan (net_pcap0) id 0 protected
// Never call it on the per-packet path (workers count, they do not log). ESPRIT_LOG checks the
// level before the arguments are formatted, so a filtered-out debug line costs one load.
#pragma once

#include <optional>
#include <string_view>

#include "esprit/common/config.hpp"  // LogLevel

namespace esprit {

/// Lines above `level` (less severe) are dropped. Default: kInfo.
void set_log_level(LogLevel level) noexcept;
[[nodiscard]] LogLevel log_level() noexcept;
[[nodiscard]] bool log_enabled(LogLevel level) noexcept;
/// The program name in each line (default "esprit").
void set_log_ident(std::string_view ident);
/// "error", "warning", "notice", "info", "debug" (the names of docs/configuration.md).
[[nodiscard]] std::optional<LogLevel> parse_log_level(std::string_view name) noexcept;

/// Formats (printf) and writes one line; prefer ESPRIT_LOG, which skips the formatting when the
/// level is filtered out.
void log_write(LogLevel level, const char* format, ...) noexcept __attribute__((format(printf, 2, 3)));

}  // namespace esprit

#define ESPRIT_LOG(level, ...)                                                \
  do {                                                                        \
    if (::esprit::log_enabled(level)) ::esprit::log_write(level, __VA_ARGS__); \
  } while (0)
#define ESPRIT_LOG_ERROR(...) ESPRIT_LOG(::esprit::LogLevel::kError, __VA_ARGS__)
#define ESPRIT_LOG_WARNING(...) ESPRIT_LOG(::esprit::LogLevel::kWarning, __VA_ARGS__)
#define ESPRIT_LOG_NOTICE(...) ESPRIT_LOG(::esprit::LogLevel::kNotice, __VA_ARGS__)
#define ESPRIT_LOG_INFO(...) ESPRIT_LOG(::esprit::LogLevel::kInfo, __VA_ARGS__)
#define ESPRIT_LOG_DEBUG(...) ESPRIT_LOG(::esprit::LogLevel::kDebug, __VA_ARGS__)
