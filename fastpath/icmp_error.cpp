// ICMP / ICMPv6 error messages (see icmp_error.hpp).
#include "esprit/fastpath/icmp_error.hpp"

#include <rte_mbuf.h>

#include <algorithm>
#include <cstring>

#include "esprit/fastpath/net_constants.hpp"

namespace esprit {
namespace {

inline uint16_t be16(const uint8_t* p) noexcept { return static_cast<uint16_t>(p[0] << 8 | p[1]); }
inline void put16(uint8_t* p, uint32_t v) noexcept {
  p[0] = static_cast<uint8_t>(v >> 8);
  p[1] = static_cast<uint8_t>(v);
}
inline uint32_t sum16(const uint8_t* p, uint32_t len, uint32_t s = 0) noexcept {
  for (uint32_t i = 0; i + 1 < len; i += 2) s += be16(p + i);
  if (len & 1) s += uint32_t{p[len - 1]} << 8;
  return s;
}
inline uint16_t fold(uint32_t s) noexcept {
  while (s >> 16) s = (s & 0xffff) + (s >> 16);
  return static_cast<uint16_t>(~s);
}

// ICMP types that are errors (RFC 792, RFC 1812 4.3.2.7): never answered with an error.
inline bool icmp4_is_error(uint8_t type) noexcept {
  return type == 3 || type == 4 || type == 5 || type == 11 || type == 12;
}

}  // namespace

bool icmp_error_allowed(const uint8_t* l3, uint32_t len) noexcept {
  if (len < 20) return false;
  if (l3[0] >> 4 == 4) {
    const uint32_t ihl = (l3[0] & 15) * 4u;
    const uint8_t* s = l3 + 12;
    const uint8_t* d = l3 + 16;
    if (s[0] >= 224 || s[0] == 0 || s[0] == 127) return false;  // multicast/reserved, "this network", loopback
    if (d[0] >= 224 && d[0] < 240) return false;                 // sent to a group
    if (d[0] == 255 && d[1] == 255 && d[2] == 255 && d[3] == 255) return false;
    if ((be16(l3 + 6) & 0x1fff) != 0) return false;  // not the first fragment
    if (l3[9] == net::kProtoIcmp) {
      if (len <= ihl) return false;
      if (icmp4_is_error(l3[ihl])) return false;
    }
    return true;
  }
  if (l3[0] >> 4 != 6 || len < 40) return false;
  static constexpr uint8_t kZero[16] = {};
  if (l3[8] == 0xff || std::memcmp(l3 + 8, kZero, 16) == 0) return false;  // multicast or unspecified source
  if (l3[24] == 0xff) return false;                                        // to a group
  uint8_t nh = l3[6];
  uint32_t off = 40;
  if (nh == net::kProtoFragment) {
    if (len < 48 || (be16(l3 + 42) & 0xfff8) != 0) return false;  // not the first fragment
    nh = l3[40];
    off = 48;
  }
  if (nh == net::kProtoIcmp6) {
    if (len <= off) return false;
    if (l3[off] < 128) return false;  // ICMPv6 error messages have types 0..127 (RFC 4443 2.1)
  }
  return true;
}

bool build_icmp_error(rte_mbuf* out, const uint8_t* l3, uint32_t len, IcmpErrorKind kind, uint32_t mtu,
                      const IpAddress& src, uint16_t ip_id) noexcept {
  const bool v6 = l3[0] >> 4 == 6;
  if (src.is_v4() == v6) return false;
  uint32_t quote;
  if (!v6) {
    const uint32_t ihl = (l3[0] & 15) * 4u;
    quote = std::min<uint32_t>({len, be16(l3 + 2), ihl + 8});
  } else {
    quote = std::min<uint32_t>({len, 40u + be16(l3 + 4), 1280u - 40 - 8});
  }
  const uint32_t hdr = v6 ? 40 : 20;
  const uint32_t total = hdr + 8 + quote;
  auto* p = reinterpret_cast<uint8_t*>(rte_pktmbuf_append(out, static_cast<uint16_t>(total)));
  if (!p) return false;
  std::memset(p, 0, hdr + 8);
  uint8_t* icmp = p + hdr;
  std::memcpy(icmp + 8, l3, quote);
  if (!v6) {
    p[0] = 0x45;
    p[1] = 0xc0;  // internetwork control (RFC 1812 4.3.2.5)
    put16(p + 2, total);
    put16(p + 4, ip_id);
    p[8] = 64;
    p[9] = net::kProtoIcmp;
    std::memcpy(p + 12, src.bytes(), 4);
    std::memcpy(p + 16, l3 + 12, 4);
    put16(p + 10, fold(sum16(p, 20)));
    if (kind == IcmpErrorKind::kTooBig) {
      icmp[0] = 3;  // destination unreachable
      icmp[1] = 4;  // fragmentation needed and DF set
      put16(icmp + 6, std::min<uint32_t>(mtu, 0xffff));  // next-hop MTU (RFC 1191 4)
    } else {
      icmp[0] = 11;  // time exceeded
      icmp[1] = 0;   // TTL exceeded in transit
    }
    put16(icmp + 2, fold(sum16(icmp, 8 + quote)));
  } else {
    p[0] = 0x60;
    put16(p + 4, 8 + quote);
    p[6] = net::kProtoIcmp6;
    p[7] = 64;
    std::memcpy(p + 8, src.bytes(), 16);
    std::memcpy(p + 24, l3 + 8, 16);
    if (kind == IcmpErrorKind::kTooBig) {
      icmp[0] = 2;  // packet too big
      const uint32_t m = mtu;
      icmp[4] = static_cast<uint8_t>(m >> 24);
      icmp[5] = static_cast<uint8_t>(m >> 16);
      icmp[6] = static_cast<uint8_t>(m >> 8);
      icmp[7] = static_cast<uint8_t>(m);
    } else {
      icmp[0] = 3;  // time exceeded, code 0: hop limit exceeded in transit
    }
    // Pseudo-header (RFC 8200 8.1): addresses, upper-layer length, next header.
    uint32_t s = sum16(p + 8, 32);
    s += 8 + quote;
    s += net::kProtoIcmp6;
    put16(icmp + 2, fold(sum16(icmp, 8 + quote, s)));
  }
  return true;
}

}  // namespace esprit
