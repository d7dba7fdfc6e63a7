#include "esprit/control/ike_io.hpp"

#include <rte_ethdev.h>
#include <rte_mbuf.h>
#include <rte_ring.h>

#include <algorithm>
#include <cstring>
#include <exception>

#include "esprit/common/log.hpp"
#include "esprit/fastpath/fragment.hpp"  // kMaxFragments
#include "esprit/fastpath/gateway.hpp"
#include "esprit/fastpath/neighbor.hpp"
#include "esprit/fastpath/net_constants.hpp"
#include "esprit/fastpath/port.hpp"
#include "esprit/fastpath/route.hpp"

namespace esprit {
namespace {

using namespace net;

inline uint16_t be16(const uint8_t* p) { return static_cast<uint16_t>(p[0] << 8 | p[1]); }
inline void put16(uint8_t* p, uint16_t v) {
  p[0] = static_cast<uint8_t>(v >> 8);
  p[1] = static_cast<uint8_t>(v);
}
uint32_t sum16(const uint8_t* p, std::size_t n, uint32_t s = 0) {
  for (std::size_t i = 0; i + 1 < n; i += 2) s += be16(p + i);
  if (n & 1) s += static_cast<uint32_t>(p[n - 1]) << 8;
  return s;
}
uint16_t fold(uint32_t s) {
  while (s >> 16) s = (s & 0xffff) + (s >> 16);
  return static_cast<uint16_t>(~s);
}
/// The UDP checksum (RFC 768; RFC 8200 8.1 for IPv6) over the pseudo header and `udp` (`len`
/// bytes, checksum field included as it is). 0 over a correct datagram.
uint16_t udp_checksum(bool v6, const uint8_t* src, const uint8_t* dst, const uint8_t* udp, uint32_t len) {
  const std::size_t alen = v6 ? 16 : 4;
  uint32_t s = sum16(src, alen);
  s = sum16(dst, alen, s);
  s += kProtoUdp;
  s += len & 0xffff;
  s += len >> 16;
  return fold(sum16(udp, len, s));
}

}  // namespace

IkeParseResult parse_ike_frame(std::span<const uint8_t> frame, uint16_t port_id, uint16_t ike_port,
                               uint16_t natt_port) noexcept {
  IkeParseResult r;
  auto fail = [&](IkeIoDrop d) {
    r.error = d;
    return r;
  };
  if (frame.size() < 14) return fail(IkeIoDrop::kMalformed);
  const uint16_t type = be16(frame.data() + 12);
  const uint8_t* ip = frame.data() + 14;
  const std::size_t avail = frame.size() - 14;
  const bool v6 = type == kEtherIpv6;
  uint32_t hl, ip_len;
  const uint8_t *src, *dst;
  if (type == kEtherIpv4) {
    if (avail < 20 || ip[0] >> 4 != 4 || (ip[0] & 15) < 5) return fail(IkeIoDrop::kMalformed);
    hl = (ip[0] & 15) * 4u;
    ip_len = be16(ip + 2);
    if (ip_len < hl || ip_len > avail || ip[9] != kProtoUdp) return fail(IkeIoDrop::kMalformed);
    if (be16(ip + 6) & 0x3fff) return fail(IkeIoDrop::kFragment);  // MF or an offset
    src = ip + 12;
    dst = ip + 16;
  } else if (v6) {
    if (avail < 40 || ip[0] >> 4 != 6) return fail(IkeIoDrop::kMalformed);
    hl = 40;
    ip_len = 40u + be16(ip + 4);
    if (ip_len > avail) return fail(IkeIoDrop::kMalformed);
    if (ip[6] == kProtoFragment) return fail(IkeIoDrop::kFragment);
    if (ip[6] != kProtoUdp) return fail(IkeIoDrop::kMalformed);
    src = ip + 8;
    dst = ip + 24;
  } else {
    return fail(IkeIoDrop::kMalformed);
  }
  if (ip_len < hl + 8) return fail(IkeIoDrop::kBadUdpLength);
  const uint8_t* udp = ip + hl;
  const uint32_t ulen = be16(udp + 4);
  if (ulen < 8 || ulen > ip_len - hl) return fail(IkeIoDrop::kBadUdpLength);
  const uint16_t csum = be16(udp + 6);
  if (v6 && csum == 0) return fail(IkeIoDrop::kBadUdpChecksum);  // RFC 8200 8.1: mandatory
  if (csum != 0 && udp_checksum(v6, src, dst, udp, ulen) != 0) return fail(IkeIoDrop::kBadUdpChecksum);
  const uint16_t sport = be16(udp), dport = be16(udp + 2);
  const uint8_t* payload = udp + 8;
  uint32_t plen = ulen - 8;
  if (dport == natt_port) {
    // RFC 3948 2.2: IKE on the NAT-T port follows four zero bytes; anything else is not for us here.
    if (plen < 4 || (payload[0] | payload[1] | payload[2] | payload[3]) != 0) return fail(IkeIoDrop::kNoMarker);
    payload += 4;
    plen -= 4;
  } else if (dport != ike_port) {
    return fail(IkeIoDrop::kNotIkePort);
  }
  if (plen == 0) return fail(IkeIoDrop::kEmpty);
  IkeDatagram& d = r.datagram;
  d.port_id = port_id;
  if (v6) {
    std::array<uint8_t, 16> a{}, b{};
    std::memcpy(a.data(), dst, 16);
    std::memcpy(b.data(), src, 16);
    d.local.address = IpAddress::v6(a);
    d.remote.address = IpAddress::v6(b);
  } else {
    auto host = [](const uint8_t* p) {
      return static_cast<uint32_t>(p[0]) << 24 | static_cast<uint32_t>(p[1]) << 16 | p[2] << 8 | p[3];
    };
    d.local.address = IpAddress::v4(host(dst));
    d.remote.address = IpAddress::v4(host(src));
  }
  d.local.port = dport;
  d.remote.port = sport;
  d.message = std::span<const uint8_t>(payload, plen);
  return r;
}

std::size_t build_ike_packet(const IkeEndpoint& local, const IkeEndpoint& remote, std::span<const uint8_t> message,
                             uint16_t ip_id, std::span<uint8_t> out, uint16_t natt_port) noexcept {
  if (local.address.is_v4() != remote.address.is_v4()) return 0;
  const bool v6 = !local.address.is_v4();
  const uint32_t hl = v6 ? 40 : 20;
  const uint32_t marker = ike_needs_marker(local.port, remote.port, natt_port) ? 4 : 0;
  const std::size_t ulen = 8 + marker + message.size();
  const std::size_t total = hl + ulen;
  if (ulen > 0xffff || (!v6 && total > 0xffff) || total > out.size()) return 0;
  uint8_t* ip = out.data();
  std::memset(ip, 0, hl + 8 + marker);
  uint8_t* udp = ip + hl;
  if (v6) {
    ip[0] = 0x60;
    put16(ip + 4, static_cast<uint16_t>(ulen));
    ip[6] = kProtoUdp;
    ip[7] = 64;
    std::memcpy(ip + 8, local.address.bytes(), 16);
    std::memcpy(ip + 24, remote.address.bytes(), 16);
  } else {
    ip[0] = 0x45;
    put16(ip + 2, static_cast<uint16_t>(total));
    put16(ip + 4, ip_id);
    ip[8] = 64;
    ip[9] = kProtoUdp;
    std::memcpy(ip + 12, local.address.bytes(), 4);
    std::memcpy(ip + 16, remote.address.bytes(), 4);
    put16(ip + 10, fold(sum16(ip, 20)));
  }
  put16(udp, local.port);
  put16(udp + 2, remote.port);
  put16(udp + 4, static_cast<uint16_t>(ulen));
  if (!message.empty()) std::memcpy(udp + 8 + marker, message.data(), message.size());
  uint16_t c = udp_checksum(v6, ip + (v6 ? 8 : 12), ip + (v6 ? 24 : 16), udp, static_cast<uint32_t>(ulen));
  if (c == 0) c = 0xffff;  // RFC 768: a computed 0 is sent as all ones
  put16(udp + 6, c);
  return total;
}

IkeTransport::IkeTransport(GatewayTables& tables, rte_mempool* pool)
    : t_(tables), pool_(pool), neighbor_(tables.neighbors ? std::make_unique<NeighborWorker>(*tables.neighbors) : nullptr) {}

IkeTransport::~IkeTransport() = default;

void IkeTransport::receive(rte_mbuf* m) noexcept {
  if (m->nb_segs != 1 && rte_pktmbuf_linearize(m) != 0) {
    count(IkeIoDrop::kMalformed);
    rte_pktmbuf_free(m);
    return;
  }
  const IkeParseResult r =
      parse_ike_frame(std::span<const uint8_t>(rte_pktmbuf_mtod(m, const uint8_t*), m->data_len), m->port,
                      t_.ike_port, t_.natt_port);
  if (!r.ok()) {
    count(r.error);
  } else if (!handler_) {
    count(IkeIoDrop::kNoHandler);
  } else {
    ++(r.datagram.local.port == t_.ike_port ? c_.rx_500 : c_.rx_4500);
    try {
      handler_(r.datagram);
    } catch (const std::exception& e) {  // a handler bug must not take the control core down
      ++c_.handler_errors;
      ESPRIT_LOG_ERROR("IKE handler failed on a message from %s: %s", r.datagram.remote.address.to_string().c_str(),
                       e.what());
    } catch (...) {
      ++c_.handler_errors;
    }
  }
  rte_pktmbuf_free(m);
}

bool IkeTransport::send(const IkeEndpoint& local, const IkeEndpoint& remote, std::span<const uint8_t> message,
                        std::chrono::nanoseconds now) noexcept {
  const bool v6 = !local.address.is_v4();
  const std::size_t need = (v6 ? 40 : 20) + 8 + 4 + message.size();
  if (local.address.is_v4() != remote.address.is_v4() || need > 0xffff) {
    count(IkeIoDrop::kBadRequest);
    return false;
  }
  std::vector<uint8_t> pkt(need);
  const std::size_t len = build_ike_packet(local, remote, message, ip_id_++, pkt, t_.natt_port);
  if (len == 0) {
    count(IkeIoDrop::kBadRequest);
    return false;
  }
  pkt.resize(len);
  if (!send_packet(local.address, remote.address, pkt, now)) return false;
  ++c_.tx;
  return true;
}

bool IkeTransport::send_keepalive(const IpAddress& local, const IkeEndpoint& remote, std::chrono::nanoseconds now) noexcept {
  if (local.is_v4() != remote.address.is_v4()) {
    count(IkeIoDrop::kBadRequest);
    return false;
  }
  // Not an IKE message, so no marker: built with port 0 on both sides (no marker), then the ports
  // set to our NAT-T port -> the peer's NAT-T port (RFC 3948 2.3) and the checksum recomputed.
  const bool v6 = !local.is_v4();
  std::vector<uint8_t> pkt((v6 ? 40 : 20) + 8 + 1);
  const uint8_t ff = 0xff;
  (void)build_ike_packet({local, 0}, {remote.address, 0}, std::span<const uint8_t>(&ff, 1), ip_id_++, pkt);
  uint8_t* udp = pkt.data() + (v6 ? 40 : 20);
  put16(udp, t_.natt_port);
  put16(udp + 2, remote.port);
  put16(udp + 6, 0);
  const uint16_t c = udp_checksum(v6, pkt.data() + (v6 ? 8 : 12), pkt.data() + (v6 ? 24 : 16), udp, 9);
  put16(udp + 6, c == 0 ? 0xffff : c);
  if (!send_packet(local, remote.address, pkt, now)) return false;
  ++c_.keepalives;
  return true;
}

std::vector<std::vector<uint8_t>> fragment_ip_packet(std::span<const uint8_t> pkt, uint16_t mtu, uint32_t id) {
  std::vector<std::vector<uint8_t>> out;
  if (pkt.size() < 20) return out;
  const bool v6 = pkt[0] >> 4 == 6;
  const uint32_t hl = v6 ? 40 : (pkt[0] & 15) * 4u;
  const uint32_t fh = v6 ? 8 : 0;  // IPv6 fragment header (RFC 8200 4.5)
  if (pkt.size() <= mtu || mtu < hl + fh + 8 || pkt.size() < hl) {
    if (pkt.size() <= mtu) out.emplace_back(pkt.begin(), pkt.end());
    return out;
  }
  if (!v6 && (be16(pkt.data() + 6) & 0x4000)) return out;  // DF
  const uint32_t chunk = (mtu - hl - fh) & ~7u;
  const uint32_t payload = static_cast<uint32_t>(pkt.size()) - hl;
  for (uint32_t off = 0; off < payload; off += chunk) {
    const uint32_t n = std::min(chunk, payload - off);
    const bool more = off + n < payload;
    std::vector<uint8_t> f(hl + fh + n);
    std::memcpy(f.data(), pkt.data(), hl);
    std::memcpy(f.data() + hl + fh, pkt.data() + hl + off, n);
    if (v6) {
      put16(f.data() + 4, static_cast<uint16_t>(fh + n));
      uint8_t* x = f.data() + 40;
      x[0] = pkt[6];  // next header: what followed the fixed header
      x[1] = 0;
      put16(x + 2, static_cast<uint16_t>(off | (more ? 1 : 0)));
      x[4] = static_cast<uint8_t>(id >> 24);
      x[5] = static_cast<uint8_t>(id >> 16);
      x[6] = static_cast<uint8_t>(id >> 8);
      x[7] = static_cast<uint8_t>(id);
      f[6] = kProtoFragment;
    } else {
      put16(f.data() + 2, static_cast<uint16_t>(hl + n));
      put16(f.data() + 6, static_cast<uint16_t>((be16(pkt.data() + 6) & 0x1fff) + off / 8) | (more ? 0x2000 : 0));
      f[10] = f[11] = 0;
      put16(f.data() + 10, fold(sum16(f.data(), hl)));
    }
    out.push_back(std::move(f));
  }
  if (out.size() > kMaxFragments) out.clear();
  return out;
}

rte_mbuf* IkeTransport::to_mbuf(std::span<const uint8_t> bytes) noexcept {
  rte_mbuf* m = rte_pktmbuf_alloc(pool_);
  if (!m) return nullptr;
  rte_mbuf* last = m;
  std::size_t off = 0;
  while (off < bytes.size()) {
    uint16_t room = rte_pktmbuf_tailroom(last);
    if (room == 0) {
      rte_mbuf* seg = rte_pktmbuf_alloc(pool_);
      if (!seg || rte_pktmbuf_chain(m, seg) != 0) {
        if (seg) rte_pktmbuf_free(seg);
        rte_pktmbuf_free(m);
        return nullptr;
      }
      last = seg;
      room = rte_pktmbuf_tailroom(last);
    }
    const uint16_t n = static_cast<uint16_t>(std::min<std::size_t>(room, bytes.size() - off));
    std::memcpy(rte_pktmbuf_mtod_offset(last, uint8_t*, last->data_len), bytes.data() + off, n);
    last->data_len = static_cast<uint16_t>(last->data_len + n);
    m->pkt_len += n;
    off += n;
  }
  return m;
}

bool IkeTransport::send_packet(const IpAddress& local, const IpAddress& remote, std::span<const uint8_t> pkt,
                               std::chrono::nanoseconds now) noexcept {
  bool ours = false;
  for (const LocalAddress& a : t_.local) ours |= a.address == local;
  if (!ours) return count(IkeIoDrop::kNoSource), false;
  if (!t_.fib || !pool_) return count(IkeIoDrop::kNoRoute), false;
  const NextHop& nh = t_.fib->next_hop(t_.fib->lookup(remote));
  if ((nh.kind != NextHopKind::kConnected && nh.kind != NextHopKind::kGateway) || nh.port >= t_.ports.size() ||
      !t_.ports[nh.port])
    return count(IkeIoDrop::kNoRoute), false;
  const uint16_t port = nh.port;
  const uint16_t mtu = t_.ports[port]->spec().mtu;
  std::vector<std::vector<uint8_t>> frags;
  if (pkt.size() > mtu) {
    frags = fragment_ip_packet(pkt, mtu, frag_id_++);
    if (frags.empty()) return count(IkeIoDrop::kTooBig), false;
    c_.tx_fragments += frags.size();
  }
  const NeighborKey key = NeighborKey::of(port, nh.kind == NextHopKind::kGateway ? nh.gateway : remote);
  const NeighborInfo info = t_.neighbors ? t_.neighbors->lookup(key) : NeighborInfo{};
  if (info.state() == NeighborState::kStale && neighbor_) neighbor_->refresh(key, now);
  bool ok = true;
  const std::size_t n = frags.empty() ? 1 : frags.size();
  for (std::size_t i = 0; i < n; ++i) {
    const std::span<const uint8_t> bytes = frags.empty() ? pkt : std::span<const uint8_t>(frags[i]);
    rte_mbuf* f = to_mbuf(bytes);
    if (!f) {
      count(IkeIoDrop::kNoMbuf);
      ok = false;
      continue;
    }
    if (!info.usable()) {
      // The neighbour table holds the packet (starting at its IP header) and probes; LocalServices
      // sends it with its Ethernet header once resolved (NeighborActions::released).
      if (neighbor_ && neighbor_->hold(key, f, now) == NeighborWorker::HoldResult::kHandedOver) {
        ++c_.held;
        continue;
      }
      count(IkeIoDrop::kNeighborDrop);
      rte_pktmbuf_free(f);
      ok = false;
      continue;
    }
    auto* eth = reinterpret_cast<rte_ether_hdr*>(rte_pktmbuf_prepend(f, sizeof(rte_ether_hdr)));
    if (!eth) {
      count(IkeIoDrop::kNoMbuf);
      rte_pktmbuf_free(f);
      ok = false;
      continue;
    }
    eth->dst_addr = info.mac();
    eth->src_addr = t_.ports[port]->mac();
    eth->ether_type = rte_cpu_to_be_16(local.is_v4() ? kEtherIpv4 : kEtherIpv6);
    ok &= transmit(port, f);
  }
  return ok;
}

uint16_t IkeTransport::offer(uint16_t port, rte_mbuf** m, uint16_t n) noexcept {
  const uint16_t q = t_.ports[port]->control_tx_queue();
  if (q != Port::kNoControlQueue) return rte_eth_tx_burst(port, q, m, n);
  if (port >= t_.control_tx.size() || !t_.control_tx[port]) return 0;
  return static_cast<uint16_t>(rte_ring_enqueue_burst(t_.control_tx[port], reinterpret_cast<void**>(m), n, nullptr));
}

bool IkeTransport::transmit(uint16_t port, rte_mbuf* m) noexcept {
  if (t_.ports[port]->control_tx_queue() == Port::kNoControlQueue &&
      (port >= t_.control_tx.size() || !t_.control_tx[port])) {  // no control TX path at all
    count(IkeIoDrop::kTxFull);
    rte_pktmbuf_free(m);
    return false;
  }
  // Behind the port's backlog, never before it: a port's frames leave in the order they were sent.
  if ((port >= backlog_.size() || backlog_[port].empty() || flush_port(port)) && offer(port, &m, 1) == 1) return true;
  if (backlog_size_ >= backlog_limit_) {
    count(IkeIoDrop::kTxFull);
    rte_pktmbuf_free(m);
    return false;
  }
  // Kept as bytes, not as the mbuf: the backlog must not hold the pool's mbufs (the workers' RX).
  std::vector<uint8_t> bytes;
  try {
    bytes.resize(m->pkt_len);
    if (backlog_.size() <= port) backlog_.resize(port + 1u);
    const void* p = rte_pktmbuf_read(m, 0, m->pkt_len, bytes.data());
    if (p != bytes.data()) std::memcpy(bytes.data(), p, m->pkt_len);
    backlog_[port].push_back(std::move(bytes));
  } catch (...) {  // out of memory: as a full backlog
    count(IkeIoDrop::kTxFull);
    rte_pktmbuf_free(m);
    return false;
  }
  rte_pktmbuf_free(m);
  ++backlog_size_;
  ++c_.tx_deferred;
  c_.tx_backlog_max = std::max<uint64_t>(c_.tx_backlog_max, backlog_size_);
  return true;
}

bool IkeTransport::flush_port(uint16_t port) noexcept {
  auto& q = backlog_[port];
  constexpr uint16_t kBurst = 32;
  rte_mbuf* ms[kBurst];
  uint16_t burst = 1;  // one frame first: a queue still full costs one copy, not kBurst
  while (!q.empty()) {
    uint16_t n = 0;
    for (; n < burst && n < q.size(); ++n) {
      ms[n] = to_mbuf(q[n]);
      if (!ms[n]) break;  // pool empty: the frames wait for the next turn
    }
    const uint16_t sent = n ? offer(port, ms, n) : 0;
    for (uint16_t i = sent; i < n; ++i) rte_pktmbuf_free(ms[i]);
    q.erase(q.begin(), q.begin() + sent);
    backlog_size_ -= sent;
    if (n == 0 || sent < n) return q.empty();
    burst = kBurst;
  }
  return true;
}

std::size_t IkeTransport::flush() noexcept {
  if (backlog_size_ == 0) return 0;
  const std::size_t before = backlog_size_;
  for (std::size_t port = 0; port < backlog_.size(); ++port)
    if (!backlog_[port].empty()) (void)flush_port(static_cast<uint16_t>(port));
  return before - backlog_size_;
}

void NattKeepalives::add(const IpAddress& local, const IkeEndpoint& remote, std::chrono::nanoseconds now) {
  for (Entry& e : entries_)
    if (e.local == local && e.remote == remote) {
      e.last = now;
      return;
    }
  entries_.push_back({local, remote, now});
}

void NattKeepalives::remove(const IpAddress& local, const IkeEndpoint& remote) {
  std::erase_if(entries_, [&](const Entry& e) { return e.local == local && e.remote == remote; });
}

void NattKeepalives::note_sent(const IkeEndpoint& remote, std::chrono::nanoseconds now) noexcept {
  for (Entry& e : entries_)
    if (e.remote.address == remote.address) e.last = std::max(e.last, now);
}

uint32_t NattKeepalives::poll(std::chrono::nanoseconds now) {
  if (interval_.count() <= 0) return 0;
  uint32_t sent = 0;
  for (Entry& e : entries_) {
    if (now - e.last < interval_) continue;
    // Whether or not the send succeeded, wait a whole interval: no retry storm when unresolved.
    e.last = now;
    if (send_ && send_(e.local, e.remote, now)) ++sent;
  }
  return sent;
}

std::chrono::nanoseconds NattKeepalives::next_due() const noexcept {
  auto due = std::chrono::nanoseconds::max();
  if (interval_.count() <= 0) return due;
  for (const Entry& e : entries_) due = std::min(due, e.last + interval_);
  return due;
}

}  // namespace esprit
