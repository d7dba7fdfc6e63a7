#include "esprit/common/ip_prefix.hpp"

#include <array>
#include <charconv>

namespace esprit {
namespace {

IpAddress masked(const IpAddress& a, uint8_t len) {
  std::array<uint8_t, 16> b{};
  for (std::size_t i = 0; i < a.size(); ++i) {
    const int bits = static_cast<int>(len) - static_cast<int>(i) * 8;
    const uint8_t mask = bits >= 8 ? 0xff : bits <= 0 ? 0 : static_cast<uint8_t>(0xff << (8 - bits));
    b[i] = a.bytes()[i] & mask;
  }
  if (a.is_v4()) return IpAddress::v4(static_cast<uint32_t>(b[0]) << 24 | b[1] << 16 | b[2] << 8 | b[3]);
  return IpAddress::v6(b);
}

}  // namespace

IpPrefix::IpPrefix(const IpAddress& addr, uint8_t len) : addr_(masked(addr, len)), len_(len) {}

std::optional<IpPrefix> IpPrefix::parse(std::string_view text) {
  const auto slash = text.find('/');
  const auto addr = IpAddress::parse(text.substr(0, slash));
  if (!addr) return std::nullopt;
  const unsigned max = addr->is_v4() ? 32 : 128;
  unsigned len = max;
  if (slash != std::string_view::npos) {
    const std::string_view n = text.substr(slash + 1);
    const auto [p, ec] = std::from_chars(n.data(), n.data() + n.size(), len);
    if (ec != std::errc() || p != n.data() + n.size() || n.empty() || len > max) return std::nullopt;
  }
  return IpPrefix(*addr, static_cast<uint8_t>(len));
}

IpPrefix IpPrefix::any(IpFamily family) {
  return family == IpFamily::kV4 ? IpPrefix(IpAddress::v4(0), 0) : IpPrefix(IpAddress::v6({}), 0);
}

bool IpPrefix::contains(const IpAddress& a) const noexcept {
  return a.family() == family() && masked(a, len_) == addr_;
}

std::string IpPrefix::to_string() const { return addr_.to_string() + "/" + std::to_string(len_); }

}  // namespace esprit
