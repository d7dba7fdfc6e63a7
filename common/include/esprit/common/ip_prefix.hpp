// An IPv4 or IPv6 prefix ("10.0.0.0/8", "2001:db8::/32"); host bits are cleared on parse.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "esprit/common/ip_address.hpp"

namespace esprit {

class IpPrefix {
 public:
  IpPrefix() = default;
  IpPrefix(const IpAddress& addr, uint8_t len);
  /// "a.b.c.d/n", "x::y/n", or a bare address (a host prefix). nullopt on bad input.
  [[nodiscard]] static std::optional<IpPrefix> parse(std::string_view text);
  /// 0.0.0.0/0 or ::/0.
  [[nodiscard]] static IpPrefix any(IpFamily family);

  [[nodiscard]] const IpAddress& address() const noexcept { return addr_; }
  [[nodiscard]] uint8_t length() const noexcept { return len_; }
  [[nodiscard]] IpFamily family() const noexcept { return addr_.family(); }
  [[nodiscard]] bool contains(const IpAddress& a) const noexcept;
  [[nodiscard]] std::string to_string() const;
  friend bool operator==(const IpPrefix&, const IpPrefix&) = default;

 private:
  IpAddress addr_;
  uint8_t len_ = 0;
};

}  // namespace esprit
