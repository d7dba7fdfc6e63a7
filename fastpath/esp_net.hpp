// Small IP header helpers for the ESP engine (private).
#pragma once

#include <rte_ip.h>

#include <cstdint>
#include <cstring>

#include "esp_internal.hpp"
#include "esprit/fastpath/net_constants.hpp"

namespace esprit {

using net::kProtoEsp;
using net::kProtoIpip;
using net::kProtoIpv6;
using net::kProtoNone;
using net::kProtoUdp;

/// The IPv6 header chain in front of the upper-layer (or ESP) header: Hop-by-Hop (0),
/// Routing (43) and Destination Options (60) are walked; a Fragment header (44) is reported.
struct Ipv6HeaderChain {
  uint32_t len;         ///< bytes of the fixed header and the walked extension headers
  uint8_t next_header;  ///< the header that follows them
  uint8_t nh_offset;    ///< offset of the byte that names next_header
  DropReason reason;    ///< kNone, kFragment, or kBadOuterHeader when the chain overruns `limit`
};

inline Ipv6HeaderChain walk_ipv6_headers(const uint8_t* ip, uint32_t limit) noexcept {
  uint32_t off = 40;
  uint32_t nh_off = 6;
  uint8_t nh = ip[6];
  while (nh == 0 || nh == 43 || nh == 60) {
    if (off + 8 > limit || off > 248) [[unlikely]]
      return {off, nh, 0, DropReason::kBadOuterHeader};
    nh_off = off;
    nh = ip[off];
    off += (ip[off + 1] + 1u) * 8u;
  }
  if (off > limit) [[unlikely]]
    return {off, nh, 0, DropReason::kBadOuterHeader};
  if (nh == 44) [[unlikely]]
    return {off, nh, static_cast<uint8_t>(nh_off), DropReason::kFragment};
  return {off, nh, static_cast<uint8_t>(nh_off), DropReason::kNone};
}

/// UDP checksum over IPv6 (mandatory there, RFC 8200 8.1), for ESP-in-UDP over IPv6.
inline void set_udp6_checksum(const uint8_t* ip6, uint8_t* udp) noexcept {
  const uint16_t udp_len = load_be16(udp + 4);
  uint8_t pseudo[40];
  std::memcpy(pseudo, ip6 + 8, 32);  // source and destination
  store_be32(pseudo + 32, udp_len);
  store_be32(pseudo + 36, kProtoUdp);
  udp[6] = udp[7] = 0;
  uint32_t sum = __rte_raw_cksum(pseudo, sizeof(pseudo), 0);
  sum = __rte_raw_cksum(udp, udp_len, sum);
  uint16_t ck = static_cast<uint16_t>(~__rte_raw_cksum_reduce(sum));
  if (ck == 0) ck = 0xffff;
  std::memcpy(udp + 6, &ck, 2);
}

/// Cuts a burst into batches for the SA's variant and keeps good packets in front, in order.
inline uint16_t run_in_batches(EspWorker::State& w, EspSa::State& sa, std::span<rte_mbuf*> pkts, SaCounters& c,
                               SaDirection expected) noexcept {
  const std::size_t n = pkts.size() > UINT16_MAX ? UINT16_MAX : pkts.size();
  if (sa.direction != expected) [[unlikely]] {
    c.drops[static_cast<std::size_t>(DropReason::kBadSpi)] += n;
    return 0;
  }
  std::size_t good = 0;
  for (std::size_t s = 0; s < n; s += kEspMaxBatch) {
    const auto cnt = static_cast<uint16_t>(n - s < kEspMaxBatch ? n - s : kEspMaxBatch);
    const uint16_t g = sa.ops->burst(w, sa, pkts.data() + s, cnt, c);
    // Earlier failures sit in [good, s): rotate this batch's good packets in front of them.
    if (good != s) std::rotate(pkts.begin() + good, pkts.begin() + s, pkts.begin() + s + g);
    good += g;
  }
  return static_cast<uint16_t>(good);
}

}  // namespace esprit
