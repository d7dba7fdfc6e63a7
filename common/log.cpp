#include "esprit/common/log.hpp"

#include <algorithm>
#include <atomic>
#include <cstdarg>
#include <cstdio>
#include <ctime>
#include <string>

namespace esprit {
namespace {

std::atomic<LogLevel> g_level{LogLevel::kInfo};
char g_ident[32] = "esprit";

}  // namespace

void set_log_level(LogLevel level) noexcept { g_level.store(level, std::memory_order_relaxed); }
LogLevel log_level() noexcept { return g_level.load(std::memory_order_relaxed); }
bool log_enabled(LogLevel level) noexcept {
  return static_cast<uint8_t>(level) <= static_cast<uint8_t>(g_level.load(std::memory_order_relaxed));
}

void set_log_ident(std::string_view ident) {
  const std::size_t n = std::min(ident.size(), sizeof(g_ident) - 1);
  ident.copy(g_ident, n);
  g_ident[n] = '\0';
}

std::optional<LogLevel> parse_log_level(std::string_view name) noexcept {
  for (LogLevel l : {LogLevel::kError, LogLevel::kWarning, LogLevel::kNotice, LogLevel::kInfo, LogLevel::kDebug})
    if (to_string(l) == name) return l;
  return std::nullopt;
}

void log_write(LogLevel level, const char* format, ...) noexcept {
  if (!log_enabled(level)) return;
  timespec ts{};
  clock_gettime(CLOCK_REALTIME, &ts);
  tm utc{};
  gmtime_r(&ts.tv_sec, &utc);
  char line[1024];
  int n = std::snprintf(line, sizeof line, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %s %s: ", utc.tm_year + 1900,
                        utc.tm_mon + 1, utc.tm_mday, utc.tm_hour, utc.tm_min, utc.tm_sec, ts.tv_nsec / 1000000,
                        g_ident, std::string(to_string(level)).c_str());
  if (n < 0) return;
  va_list ap;
  va_start(ap, format);
  const int m = std::vsnprintf(line + n, sizeof line - static_cast<std::size_t>(n), format, ap);
  va_end(ap);
  if (m < 0) return;
  std::size_t len = std::min(sizeof line - 2, static_cast<std::size_t>(n) + static_cast<std::size_t>(m));
  line[len++] = '\n';
  // One write per line: lines from several threads do not interleave.
  std::fwrite(line, 1, len, stderr);
  std::fflush(stderr);
}

}  // namespace esprit
