#include "esprit/control/local_services.hpp"

#include <rte_ethdev.h>
#include <rte_ip.h>
#include <rte_mbuf.h>
#include <rte_ring.h>

#include <cstring>

#include "esprit/control/ike_io.hpp"
#include "esprit/fastpath/net_constants.hpp"
#include "esprit/fastpath/port.hpp"

namespace esprit {
namespace {

using namespace net;

inline uint16_t be16(const uint8_t* p) { return static_cast<uint16_t>(p[0] << 8 | p[1]); }
inline void put16(uint8_t* p, uint16_t v) {
  p[0] = static_cast<uint8_t>(v >> 8);
  p[1] = static_cast<uint8_t>(v);
}

uint16_t fold(uint32_t s) {
  while (s >> 16) s = (s & 0xffff) + (s >> 16);
  return static_cast<uint16_t>(~s);
}
uint32_t sum16(const uint8_t* p, std::size_t n, uint32_t s = 0) {
  for (std::size_t i = 0; i + 1 < n; i += 2) s += be16(p + i);
  if (n & 1) s += static_cast<uint32_t>(p[n - 1]) << 8;
  return s;
}
/// ICMPv6 checksum (RFC 4443 2.3) over the pseudo header and the message at ip6 + 40.
uint16_t icmp6_checksum(const uint8_t* ip6, uint32_t len) {
  uint32_t s = sum16(ip6 + 8, 32);  // source, destination
  s += len;
  s += 58;
  return fold(sum16(ip6 + 40, len, s));
}

}  // namespace

uint32_t LocalServices::poll(std::chrono::nanoseconds now) {
  // Bounded, so a flood of punted packets cannot starve timers, resolution and shutdown.
  void* objs[32];
  uint32_t handled = 0;
  for (int round = 0; round < 8; ++round) {
    const unsigned n = rte_ring_dequeue_burst(t_.punt, objs, 32, nullptr);
    for (unsigned i = 0; i < n; ++i) handle(static_cast<rte_mbuf*>(objs[i]), now);
    handled += n;
    if (n < 32) break;
  }
  t_.neighbors->process_requests(now, actions_);
  t_.neighbors->age(now, actions_);
  act(now);
  return handled;
}

void LocalServices::handle(rte_mbuf* m, std::chrono::nanoseconds now) {
  const uint16_t port = m->port;
  const uint8_t* f = rte_pktmbuf_mtod(m, const uint8_t*);
  if (port >= t_.ports.size() || !t_.ports[port] || m->data_len < 14) {
    ++c_.ignored;
    rte_pktmbuf_free(m);
    return;
  }
  const uint16_t type = be16(f + 12);
  if (type == kEtherArp) return handle_arp(port, m, now);
  if (m->data_len < (type == kEtherIpv6 ? 14 + 40 : 14 + 20)) {
    ++c_.ignored;
    rte_pktmbuf_free(m);
    return;
  }
  const uint8_t* ip = f + 14;
  if (type == kEtherIpv4 && ip[9] == kProtoIcmp) return handle_icmp4(port, m);
  if (type == kEtherIpv6 && ip[6] == kProtoIcmp6) return handle_icmp6(port, m, now);
  if ((type == kEtherIpv4 && ip[9] == kProtoUdp) || (type == kEtherIpv6 && ip[6] == kProtoUdp)) {
    ++c_.ike;
    if (ike_) return ike_->receive(m);  // takes the frame
  } else {
    ++c_.ignored;
  }
  rte_pktmbuf_free(m);
}

const IpAddress* LocalServices::source_for(uint16_t port, bool v6) const {
  for (const LocalAddress& a : t_.local)
    if (a.port == port && a.address.is_v4() == !v6) return &a.address;
  return nullptr;
}

void LocalServices::handle_arp(uint16_t port, rte_mbuf* m, std::chrono::nanoseconds now) {
  uint8_t* f = rte_pktmbuf_mtod(m, uint8_t*);
  uint8_t* a = f + 14;
  // Ethernet/IPv4 ARP only: htype 1, ptype 0x0800, hlen 6, plen 4.
  if (m->data_len < 14 + 28 || be16(a) != 1 || be16(a + 2) != kEtherIpv4 || a[4] != 6 || a[5] != 4) {
    ++c_.ignored;
    rte_pktmbuf_free(m);
    return;
  }
  const uint16_t op = be16(a + 6);
  rte_ether_addr sender_mac;
  std::memcpy(sender_mac.addr_bytes, a + 8, 6);
  const uint32_t sender_ip = static_cast<uint32_t>(a[14]) << 24 | a[15] << 16 | a[16] << 8 | a[17];
  bool for_us = false;
  for (const LocalAddress& l : t_.local)
    if (l.port == port && l.address.is_v4() && std::memcmp(l.address.bytes(), a + 24, 4) == 0) for_us = true;
  if (sender_ip != 0 && !rte_is_zero_ether_addr(&sender_mac)) {
    const NeighborEvidence ev = op == 2 && for_us ? NeighborEvidence::kReply
                                : for_us           ? NeighborEvidence::kRequest
                                                   : NeighborEvidence::kAnnounce;
    (void)t_.neighbors->learn(NeighborKey::v4(port, sender_ip), sender_mac, ev, now, actions_);
  }
  if (op == 1 && for_us) {
    // Answer in place: target <- sender, sender <- us.
    const rte_ether_addr& mine = t_.ports[port]->mac();
    uint8_t target_ip[4];
    std::memcpy(target_ip, a + 24, 4);
    put16(a + 6, 2);
    std::memcpy(a + 18, a + 8, 10);  // target MAC + IP = the requester
    std::memcpy(a + 8, mine.addr_bytes, 6);
    std::memcpy(a + 14, target_ip, 4);
    std::memcpy(f, a + 18, 6);  // Ethernet destination: the requester
    std::memcpy(f + 6, mine.addr_bytes, 6);
    ++c_.arp_requests;
    send(port, m);
    return;
  }
  if (op == 2) ++c_.arp_replies;
  rte_pktmbuf_free(m);
}

void LocalServices::handle_icmp4(uint16_t port, rte_mbuf* m) {
  uint8_t* f = rte_pktmbuf_mtod(m, uint8_t*);
  uint8_t* ip = f + 14;
  const uint32_t ihl = (ip[0] & 15) * 4u;
  const uint32_t total = be16(ip + 2);
  if (total < ihl + 8 || 14 + total > m->data_len || (be16(ip + 6) & 0x3fff) /* fragment */ ||
      ip[ihl] != 8 /* echo request */) {
    ++c_.ignored;
    rte_pktmbuf_free(m);
    return;
  }
  uint8_t* icmp = ip + ihl;
  icmp[0] = 0;  // echo reply
  icmp[2] = icmp[3] = 0;
  put16(icmp + 2, fold(sum16(icmp, total - ihl)));
  uint8_t tmp[4];
  std::memcpy(tmp, ip + 12, 4);
  std::memcpy(ip + 12, ip + 16, 4);
  std::memcpy(ip + 16, tmp, 4);
  ip[8] = 64;
  ip[10] = ip[11] = 0;
  put16(ip + 10, fold(sum16(ip, ihl)));
  rte_pktmbuf_trim(m, static_cast<uint16_t>(m->data_len - 14 - total));
  uint8_t mac[6];
  std::memcpy(mac, f, 6);
  std::memcpy(f, f + 6, 6);
  std::memcpy(f + 6, mac, 6);
  ++c_.echo_replies;
  send(port, m);
}

void LocalServices::handle_icmp6(uint16_t port, rte_mbuf* m, std::chrono::nanoseconds now) {
  uint8_t* f = rte_pktmbuf_mtod(m, uint8_t*);
  uint8_t* ip = f + 14;
  const uint32_t plen = be16(ip + 4);
  if (plen < 8 || 14 + 40 + plen > m->data_len) {
    ++c_.ignored;
    rte_pktmbuf_free(m);
    return;
  }
  rte_pktmbuf_trim(m, static_cast<uint16_t>(m->data_len - 14 - 40 - plen));
  uint8_t* icmp = ip + 40;
  const uint8_t type = icmp[0];
  auto ours = [&](const uint8_t* addr) {
    for (const LocalAddress& l : t_.local)
      if (l.port == port && !l.address.is_v4() && std::memcmp(l.address.bytes(), addr, 16) == 0) return true;
    return false;
  };
  auto reply_to_sender = [&](uint8_t* src_addr) {
    std::memcpy(ip + 24, ip + 8, 16);     // destination <- sender
    std::memcpy(ip + 8, src_addr, 16);    // source <- our address
    ip[7] = 255;
    uint8_t mac[6];
    std::memcpy(mac, f + 6, 6);
    std::memcpy(f, mac, 6);
    std::memcpy(f + 6, t_.ports[port]->mac().addr_bytes, 6);
    icmp[2] = icmp[3] = 0;
    put16(icmp + 2, icmp6_checksum(ip, plen));
    send(port, m);
  };
  if (type == 128 && ours(ip + 24)) {  // echo request
    icmp[0] = 129;
    uint8_t me[16];
    std::memcpy(me, ip + 24, 16);
    ++c_.echo_replies;
    reply_to_sender(me);
    return;
  }
  if ((type == 135 || type == 136) && plen >= 24) {
    uint8_t* target = icmp + 8;
    // RFC 4861 7.1.1 / 7.1.2: only from on-link (hop limit 255), code 0, valid checksum, unicast target.
    if (ip[7] != 255 || icmp[1] != 0 || icmp6_checksum(ip, plen) != 0 || target[0] == 0xff) {
      ++c_.ignored;
      rte_pktmbuf_free(m);
      return;
    }
    // Source / target link-layer address option (RFC 4861 4.6.1).
    const uint8_t* lladdr = nullptr;
    for (uint32_t off = 24; off + 8 <= plen && icmp[off + 1] != 0; off += icmp[off + 1] * 8u) {
      if ((type == 135 && icmp[off] == 1) || (type == 136 && icmp[off] == 2)) lladdr = icmp + off + 2;
    }
    if (type == 136) {
      if (lladdr) {
        rte_ether_addr mac;
        std::memcpy(mac.addr_bytes, lladdr, 6);
        const bool solicited = icmp[4] & 0x40;
        (void)t_.neighbors->learn(NeighborKey::v6(port, target), mac,
                                  solicited ? NeighborEvidence::kReply : NeighborEvidence::kAnnounce, now, actions_);
        ++c_.nd_adverts;
      }
      rte_pktmbuf_free(m);
      return;
    }
    if (ours(target)) {
      bool unspecified = true;
      for (int i = 0; i < 16; ++i) unspecified &= ip[8 + i] == 0;
      if (lladdr && !unspecified) {
        rte_ether_addr mac;
        std::memcpy(mac.addr_bytes, lladdr, 6);
        (void)t_.neighbors->learn(NeighborKey::v6(port, ip + 8), mac, NeighborEvidence::kRequest, now, actions_);
      }
      if (unspecified) {  // duplicate address detection probe: answer to all-nodes (RFC 4861 7.2.4)
        static const uint8_t all_nodes[16] = {0xff, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
        std::memcpy(ip + 8, all_nodes, 16);
      }
      // Neighbour advertisement: router + solicited (unless DAD) + override, with our link-layer address.
      if (plen < 32) {
        if (!rte_pktmbuf_append(m, static_cast<uint16_t>(32 - plen))) {
          rte_pktmbuf_free(m);
          return;
        }
      } else {
        rte_pktmbuf_trim(m, static_cast<uint16_t>(plen - 32));
      }
      put16(ip + 4, 32);
      icmp[0] = 136;
      icmp[1] = 0;
      icmp[4] = static_cast<uint8_t>(0x80 | (unspecified ? 0 : 0x40) | 0x20);  // router, solicited, override
      icmp[5] = icmp[6] = icmp[7] = 0;
      icmp[24] = 2;  // target link-layer address
      icmp[25] = 1;
      std::memcpy(icmp + 26, t_.ports[port]->mac().addr_bytes, 6);
      uint8_t me[16];
      std::memcpy(me, target, 16);
      ++c_.nd_solicits;
      // Addressed back to the soliciting node (or all-nodes for DAD); the advertisement is 32 bytes.
      std::memcpy(ip + 24, ip + 8, 16);
      std::memcpy(ip + 8, me, 16);
      ip[7] = 255;
      uint8_t mac[6];
      std::memcpy(mac, f + 6, 6);
      if (unspecified) {
        const uint8_t mcast[6] = {0x33, 0x33, 0, 0, 0, 1};
        std::memcpy(f, mcast, 6);
      } else {
        std::memcpy(f, mac, 6);
      }
      std::memcpy(f + 6, t_.ports[port]->mac().addr_bytes, 6);
      icmp[2] = icmp[3] = 0;
      put16(icmp + 2, icmp6_checksum(ip, 32));
      send(port, m);
      return;
    }
  }
  ++c_.ignored;
  rte_pktmbuf_free(m);
}

void LocalServices::act(std::chrono::nanoseconds) {
  for (const NeighborProbe& p : actions_.probes) probe(p);
  for (NeighborRelease& r : actions_.released) {
    auto* eth = reinterpret_cast<rte_ether_hdr*>(rte_pktmbuf_prepend(r.pkt, sizeof(rte_ether_hdr)));
    if (!eth || r.key.port >= t_.ports.size() || !t_.ports[r.key.port]) {
      rte_pktmbuf_free(r.pkt);
      continue;
    }
    const uint8_t ver = rte_pktmbuf_mtod_offset(r.pkt, const uint8_t*, sizeof(rte_ether_hdr))[0] >> 4;
    eth->dst_addr = r.mac;
    eth->src_addr = t_.ports[r.key.port]->mac();
    eth->ether_type = rte_cpu_to_be_16(ver == 4 ? kEtherIpv4 : kEtherIpv6);
    ++c_.released;
    send(r.key.port, r.pkt);
  }
  actions_.clear();
}

void LocalServices::probe(const NeighborProbe& p) {
  const uint16_t port = p.key.port;
  if (port >= t_.ports.size() || !t_.ports[port]) return;
  const IpAddress target = p.key.address();
  const IpAddress* src = source_for(port, !target.is_v4());
  if (!src) return;
  rte_mbuf* m = rte_pktmbuf_alloc(pool_);
  if (!m) return;
  const rte_ether_addr& mine = t_.ports[port]->mac();
  if (target.is_v4()) {
    auto* f = reinterpret_cast<uint8_t*>(rte_pktmbuf_append(m, 42));
    if (!f) {
      rte_pktmbuf_free(m);
      return;
    }
    if (p.unicast) std::memcpy(f, p.mac.addr_bytes, 6);
    else std::memset(f, 0xff, 6);
    std::memcpy(f + 6, mine.addr_bytes, 6);
    put16(f + 12, kEtherArp);
    uint8_t* a = f + 14;
    put16(a, 1);
    put16(a + 2, kEtherIpv4);
    a[4] = 6;
    a[5] = 4;
    put16(a + 6, 1);
    std::memcpy(a + 8, mine.addr_bytes, 6);
    std::memcpy(a + 14, src->bytes(), 4);
    std::memset(a + 18, 0, 6);
    std::memcpy(a + 24, target.bytes(), 4);
  } else {
    // Neighbour solicitation to the solicited-node multicast address (or unicast when re-confirming).
    auto* f = reinterpret_cast<uint8_t*>(rte_pktmbuf_append(m, 14 + 40 + 32));
    if (!f) {
      rte_pktmbuf_free(m);
      return;
    }
    uint8_t dst[16] = {0xff, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0xff, 0, 0, 0};
    std::memcpy(dst + 13, target.bytes() + 13, 3);
    if (p.unicast) {
      std::memcpy(dst, target.bytes(), 16);
      std::memcpy(f, p.mac.addr_bytes, 6);
    } else {
      const uint8_t mcast[6] = {0x33, 0x33, 0xff, target.bytes()[13], target.bytes()[14], target.bytes()[15]};
      std::memcpy(f, mcast, 6);
    }
    std::memcpy(f + 6, mine.addr_bytes, 6);
    put16(f + 12, kEtherIpv6);
    uint8_t* ip = f + 14;
    std::memset(ip, 0, 40 + 32);
    ip[0] = 0x60;
    put16(ip + 4, 32);
    ip[6] = 58;
    ip[7] = 255;
    std::memcpy(ip + 8, src->bytes(), 16);
    std::memcpy(ip + 24, dst, 16);
    uint8_t* icmp = ip + 40;
    icmp[0] = 135;
    std::memcpy(icmp + 8, target.bytes(), 16);
    icmp[24] = 1;  // source link-layer address
    icmp[25] = 1;
    std::memcpy(icmp + 26, mine.addr_bytes, 6);
    put16(icmp + 2, icmp6_checksum(ip, 32));
  }
  ++c_.probes_sent;
  send(port, m);
}

void LocalServices::send(uint16_t port, rte_mbuf* m) {
  const uint16_t q = t_.ports[port]->control_tx_queue();
  const bool sent = q != Port::kNoControlQueue ? rte_eth_tx_burst(port, q, &m, 1) == 1
                                               : rte_ring_enqueue(t_.control_tx[port], m) == 0;
  if (!sent) {
    ++c_.tx_full;
    rte_pktmbuf_free(m);
  }
}

}  // namespace esprit
