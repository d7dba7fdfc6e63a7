// ICMP and ICMPv6 error messages the workers send about packets they cannot forward:
// "fragmentation needed" (RFC 792, next-hop MTU from RFC 1191), ICMPv6 "packet too big"
// (RFC 4443 3.2), "time exceeded" (RFC 792 / RFC 4443 3.3), with the limits of RFC 1812 4.3.2.7
// and RFC 4443 2.4 (e): never about an ICMP error, a non-first fragment, or a packet from a
// multicast, broadcast or unspecified source. Rate-limited per worker (RFC 4443 2.4 (f)).
#pragma once

#include <chrono>
#include <cstdint>

#include "esprit/common/ip_address.hpp"

struct rte_mbuf;

namespace esprit {

enum class IcmpErrorKind : uint8_t {
  kTooBig,        ///< IPv4: type 3 code 4 with the next-hop MTU; IPv6: type 2 with the MTU
  kTimeExceeded,  ///< IPv4: type 11 code 0; IPv6: type 3 code 0 (TTL / hop limit)
};

/// Whether an error may be sent about the IP packet at `l3` (`len` bytes, header checked).
[[nodiscard]] bool icmp_error_allowed(const uint8_t* l3, uint32_t len) noexcept;

/// Writes into the empty mbuf `out` (which then starts at its IP header) the error about the
/// packet at `l3` (`len` bytes), from `src` (same family) to the packet's source, quoting the
/// offending IP header and 8 bytes of payload (IPv4, RFC 792) or as much as fits 1280 bytes
/// (IPv6, RFC 4443 2.4 (c)). `mtu` is used by kTooBig. False when `out` has no room.
bool build_icmp_error(rte_mbuf* out, const uint8_t* l3, uint32_t len, IcmpErrorKind kind, uint32_t mtu,
                      const IpAddress& src, uint16_t ip_id) noexcept;

/// Token bucket: `rate` errors per second on average, at most `burst` at once.
class IcmpRateLimiter {
 public:
  explicit IcmpRateLimiter(uint32_t rate = 100, uint32_t burst = 10) noexcept
      : rate_(rate), burst_(burst), tokens_(burst) {}
  /// Takes a token when there is one.
  bool allow(std::chrono::nanoseconds now) noexcept {
    if (now > last_) {
      const double add = std::chrono::duration<double>(now - last_).count() * rate_;
      tokens_ = tokens_ + add > burst_ ? burst_ : tokens_ + add;
      last_ = now;
    }
    if (tokens_ < 1.0) return false;
    tokens_ -= 1.0;
    return true;
  }

 private:
  double rate_;
  double burst_;
  double tokens_;
  std::chrono::nanoseconds last_{0};
};

}  // namespace esprit
