// Per-packet IP header helpers of the gateway pipeline: TTL decrement with an exact incremental
// checksum, software IPv4 header checksum check, martian addresses, the walk of IPv6 extension
// headers to the upper-layer header. Header-only and allocation free; the unit tests check them
// against full recomputations.
#pragma once

#include <cstdint>
#include <cstring>

namespace esprit {

/// Decrements the TTL / hop limit of the IP packet at `l3` (header already validated) and, for
/// IPv4, updates the header checksum incrementally; false (packet untouched) when it would reach
/// zero. RFC 1624 eqn. 3, HC' = ~(~HC + ~m + m'): the TTL is the high byte of its 16-bit word, so
/// ~m + m' = 0xfeff whatever the TTL and protocol. Unlike HC + 0x0100 (RFC 1141), this never gives
/// 0xffff where a full recomputation gives 0x0000: the result equals rte_ipv4_cksum() of the new
/// header for every valid header (and for a checksum stored as 0xffff, the other zero).
inline bool decrement_ttl(uint8_t* l3) noexcept {
  if (l3[0] >> 4 == 4) {
    if (l3[8] <= 1) return false;
    --l3[8];
    uint32_t sum = static_cast<uint16_t>(~(l3[10] << 8 | l3[11])) + 0xfeffu;
    sum = (sum & 0xffff) + (sum >> 16);
    const uint16_t hc = static_cast<uint16_t>(~sum);
    l3[10] = static_cast<uint8_t>(hc >> 8);
    l3[11] = static_cast<uint8_t>(hc);
    return true;
  }
  if (l3[7] <= 1) return false;
  --l3[7];
  return true;
}

/// Whether the IPv4 header at `l3` (`hlen` bytes, 20..60, readable) has a correct checksum: the
/// one's complement sum of its 16-bit words, checksum included, is 0xffff (RFC 791, RFC 1071).
/// Sums 32-bit words (the one's complement sum is byte-order independent, RFC 1071 2(B)), five of
/// them for the usual 20-byte header. That header (no options) is summed from three loads in
/// registers: the generic loop, vectorised inline in the worker's process(), went through the
/// stack (store-forwarding stalls per packet, docs/performance.md "64 B pipeline").
[[nodiscard]] inline bool ipv4_header_checksum_ok(const uint8_t* l3, uint32_t hlen) noexcept {
  uint64_t sum = 0;
  if (hlen == 20) [[likely]] {
    uint64_t a, b;
    uint32_t c;
    std::memcpy(&a, l3, 8);
    std::memcpy(&b, l3 + 8, 8);
    std::memcpy(&c, l3 + 16, 4);
    sum = (a & 0xffffffff) + (a >> 32) + (b & 0xffffffff) + (b >> 32) + c;
  } else {
    for (uint32_t i = 0; i < hlen; i += 4) {
      uint32_t w;
      std::memcpy(&w, l3 + i, 4);
      sum += w;
    }
  }
  sum = (sum & 0xffffffff) + (sum >> 32);
  sum = (sum & 0xffff) + (sum >> 16);
  sum = (sum & 0xffff) + (sum >> 16);
  sum = (sum & 0xffff) + (sum >> 16);
  return sum == 0xffff;
}

/// Addresses that are never forwarded (RFC 1812 5.3.7, RFC 6890, RFC 4291 2.5.2/2.5.3/2.7):
/// IPv4 source or destination in 0.0.0.0/8 or 127.0.0.0/8, destination 255.255.255.255 (the limited
/// broadcast) or source 255.255.255.255, source in 224.0.0.0/4 (multicast) or 240.0.0.0/4;
/// IPv6 source or destination :: or ::1, multicast source (ff00::/8).
/// `l3` holds a validated IPv4 (20 bytes) or IPv6 (40 bytes) header.
[[nodiscard]] inline bool is_martian(const uint8_t* l3, bool v6) noexcept {
  if (!v6) {
    const uint8_t s = l3[12], d = l3[16];
    if (s == 0 || s == 127 || s >= 224 || d == 0 || d == 127) return true;
    return d == 255 && l3[17] == 255 && l3[18] == 255 && l3[19] == 255;
  }
  auto unspecified_or_loopback = [](const uint8_t* a) {
    static constexpr uint8_t kZero[15] = {};
    return std::memcmp(a, kZero, 15) == 0 && a[15] <= 1;
  };
  return l3[8] == 0xff || unspecified_or_loopback(l3 + 8) || unspecified_or_loopback(l3 + 24);
}

/// Most IPv6 extension headers walked before the upper-layer header; a longer chain is malformed
/// (RFC 8200 4.1 recommends each header at most once, Destination Options twice: 6 in all).
inline constexpr uint32_t kMaxIpv6ExtHeaders = 8;

/// Where the upper-layer header of an IPv6 packet is (ipv6_upper_layer()).
struct Ipv6UpperLayer {
  enum class Status : uint8_t {
    kOk,             ///< `offset` is the upper-layer header (or ESP, AH, No Next Header, unknown)
    kLaterFragment,  ///< a Fragment header with a non-zero offset: no upper-layer header here
    kMalformed,      ///< cut short, Hop-by-Hop not first, or more than kMaxIpv6ExtHeaders headers
  };
  uint8_t proto = 0;    ///< the last Next Header read (kLaterFragment: the fragment header's)
  uint32_t offset = 0;  ///< of the header `proto` names, from the IPv6 header's start
  Status status = Status::kOk;
};

/// Walks the extension headers of the IPv6 packet at `ip`, of which `limit` (>= 40) bytes may be
/// read (min(buffer, 40 + payload length)): Hop-by-Hop (0, only right after the fixed header,
/// RFC 8200 4.3), Routing (43), Destination Options (60) and Fragment (44); it stops at any other
/// Next Header: ESP (50) and AH (51), whose payload is not ours to read, upper-layer protocols, No
/// Next Header (59), unknown values. Bounded: at most kMaxIpv6ExtHeaders headers, each of at
/// least 8 bytes, none read past `limit`.
[[nodiscard]] inline Ipv6UpperLayer ipv6_upper_layer(const uint8_t* ip, uint32_t limit) noexcept {
  Ipv6UpperLayer u;
  uint8_t nh = ip[6];
  uint32_t off = 40;
  for (uint32_t walked = 0;; ++walked) {
    if (nh != 0 && nh != 43 && nh != 60 && nh != 44) break;
    if (walked == kMaxIpv6ExtHeaders || off + 8 > limit || (nh == 0 && walked != 0)) [[unlikely]] {
      u.status = Ipv6UpperLayer::Status::kMalformed;
      break;
    }
    const uint8_t next = ip[off];
    if (nh == 44) {
      const bool later = (static_cast<uint16_t>(ip[off + 2] << 8 | ip[off + 3]) & 0xfff8u) != 0;
      off += 8;
      nh = next;
      if (later) {
        u.status = Ipv6UpperLayer::Status::kLaterFragment;
        break;
      }
    } else {
      off += (ip[off + 1] + 1u) * 8u;
      nh = next;
    }
  }
  // A chain that ends exactly at `limit` is fine (No Next Header, or an upper layer cut short:
  // the caller checks the length it needs); one whose last header overruns it is not.
  if (u.status == Ipv6UpperLayer::Status::kOk && off > limit) u.status = Ipv6UpperLayer::Status::kMalformed;
  u.proto = nh;
  u.offset = off;
  return u;
}

}  // namespace esprit
