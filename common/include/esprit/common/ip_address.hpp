// IPv4/IPv6 address value type shared by both planes.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace esprit {

enum class IpFamily : uint8_t { kV4 = 4, kV6 = 6 };

class IpAddress {
 public:
  IpAddress() = default;
  /// Parses dotted-quad IPv4 or RFC 4291 text IPv6.
  [[nodiscard]] static std::optional<IpAddress> parse(std::string_view text);
  [[nodiscard]] static IpAddress v4(uint32_t host_order);
  [[nodiscard]] static IpAddress v6(const std::array<uint8_t, 16>& bytes);

  [[nodiscard]] IpFamily family() const noexcept { return family_; }
  [[nodiscard]] bool is_v4() const noexcept { return family_ == IpFamily::kV4; }
  /// Network-order bytes: 4 significant bytes for IPv4, 16 for IPv6.
  [[nodiscard]] const uint8_t* bytes() const noexcept { return bytes_.data(); }
  [[nodiscard]] std::size_t size() const noexcept { return is_v4() ? 4 : 16; }
  [[nodiscard]] std::string to_string() const;
  friend bool operator==(const IpAddress&, const IpAddress&) = default;

 private:
  IpFamily family_ = IpFamily::kV4;
  std::array<uint8_t, 16> bytes_{};
};

}  // namespace esprit
