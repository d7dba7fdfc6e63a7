// The gateway worker's handling of packets that do not fit (docs/fragmentation.md): MSS clamp and
// the SA's fragmentation rules at the tunnel's entry, fragmentation or ICMP at the egress port,
// ICMP errors, and the reassembly of fragments addressed to the gateway. Kept out of
// gateway_worker.cpp, which only calls in at a few places.
#include <rte_mbuf.h>

#include <algorithm>
#include <cstring>

#include "esprit/fastpath/neighbor.hpp"
#include "esprit/fastpath/port.hpp"
#include "esprit/fastpath/route.hpp"
#include "esprit/fastpath/sad.hpp"
#include "gateway_frag.hpp"

namespace esprit {
namespace {

constexpr uint16_t kChunk = 32;  // forward() takes at most one burst

bool source_is_local(const GatewayTables& t, const uint8_t* ip) noexcept {
  const bool v6 = ip[0] >> 4 == 6;
  for (const LocalAddress& a : t.local)
    if (a.address.is_v4() != v6 && std::memcmp(a.address.bytes(), ip + (v6 ? 8 : 12), v6 ? 16 : 4) == 0) return true;
  return false;
}

}  // namespace

bool GatewayWorker::fragmentation_ready() const noexcept { return frag_ && frag_->reassembler; }

std::unique_ptr<GatewayWorker::FragState> GatewayWorker::make_frag_state(const GatewayTables& t, uint32_t worker_id) {
  auto s = std::make_unique<FragState>();
  s->reassembler = Reassembler::create(t.reassembly, SOCKET_ID_ANY, nullptr);
  s->limiter = IcmpRateLimiter(t.icmp_rate, t.icmp_burst);
  s->frag_id = worker_id << 24;
  return s;
}

void GatewayWorker::reassembly_poll(std::chrono::nanoseconds now) noexcept {
  if (frag_->reassembler) {
    const uint32_t n = frag_->reassembler->expire(now);
    if (n) [[unlikely]]
      counters_.drop(GatewayDrop::kFragTimeout, n);
  }
}

uint32_t GatewayWorker::sa_max_inner(uint32_t slot, const EspSa& sa) noexcept {
  if (slot >= t_.sa_paths.size() || !t_.sa_paths[slot].configured) return 0;
  const SaPathOptions& o = t_.sa_paths[slot];
  uint32_t nh;
  if (o.remote.is_v4()) {
    uint32_t d;
    std::memcpy(&d, o.remote.bytes(), 4);
    d = rte_be_to_cpu_32(d);
    t_.fib->lookup4(&d, 1, &nh);
  } else {
    uint8_t a[1][16];
    std::memcpy(a[0], o.remote.bytes(), 16);
    t_.fib->lookup6(a, 1, &nh);
  }
  const NextHop& hop = t_.fib->next_hop(nh);
  uint32_t max = 0;
  if ((hop.kind == NextHopKind::kConnected || hop.kind == NextHopKind::kGateway) && hop.port < t_.ports.size() &&
      t_.ports[hop.port])
    max = sa.max_inner_len(t_.ports[hop.port]->spec().mtu);
  if (o.inner_mtu) max = max ? std::min<uint32_t>(max, o.inner_mtu) : o.inner_mtu;
  return max;
}

uint16_t GatewayWorker::tunnel_ingress(uint32_t slot, EspSa& sa, rte_mbuf** pkts, uint16_t n,
                                       std::chrono::nanoseconds now) noexcept {
  if (slot >= t_.sa_paths.size() || !t_.sa_paths[slot].configured) [[unlikely]]
    return n;
  if (t_.sa_paths[slot].tcp_mss.mode == TcpMssClamp::Mode::kOff) [[likely]] {
    // The common case: no clamp, and every packet fits whatever port the peer's route takes.
    if (!frag_->min_mtu) {
      frag_->min_mtu = UINT16_MAX;
      for (const Port* p : t_.ports)
        if (p) frag_->min_mtu = std::min(frag_->min_mtu, p->spec().mtu);
    }
    uint32_t fits = sa.max_inner_len(frag_->min_mtu);
    if (t_.sa_paths[slot].inner_mtu) fits = std::min<uint32_t>(fits, t_.sa_paths[slot].inner_mtu);
    uint32_t longest = 0;
    for (uint16_t i = 0; i < n; ++i) longest = std::max(longest, pkts[i]->pkt_len);
    if (longest <= fits) return n;
  }
  const uint32_t max_inner = sa_max_inner(slot, sa);
  if (max_inner == 0) return n;  // no options or no route to the peer: forward() decides
  const SaPathOptions& o = t_.sa_paths[slot];
  const uint16_t mss4 = clamp_mss_value(o.tcp_mss, max_inner, false);
  const uint16_t mss6 = clamp_mss_value(o.tcp_mss, max_inner, true);
  uint16_t keep = 0;
  for (uint16_t i = 0; i < n; ++i) {
    rte_mbuf* m = pkts[i];
    uint8_t* ip = rte_pktmbuf_mtod(m, uint8_t*);
    const bool v6 = ip[0] >> 4 == 6;
    if (mss4 && clamp_tcp_mss(ip, m->data_len, v6 ? mss6 : mss4)) counter_add(counters_.mss_clamped);
    const uint32_t len = m->pkt_len;
    if (len <= max_inner) [[likely]] {
      pkts[keep++] = m;
      continue;
    }
    const bool inner_df = v6 || (ip[6] & 0x40);
    // Above the tunnel's own MTU, in pre mode, or when the outer header would carry DF: the inner
    // packet is the one to fragment (or to refuse). Otherwise forward() fragments the ESP packet.
    const bool pre = (o.inner_mtu && len > o.inner_mtu) || o.fragmentation == FragmentMode::kPre ||
                     sa.outer_df(inner_df);
    if (!pre) {
      pkts[keep++] = m;
      continue;
    }
    if (inner_df) {
      icmp_error(m, IcmpErrorKind::kTooBig, max_inner);
      drop(m, GatewayDrop::kTooBig);
      continue;
    }
    rte_mbuf* frags[kMaxFragments];
    const uint16_t k = fragment_packet(m, static_cast<uint16_t>(std::min<uint32_t>(max_inner, 0xffff)), frags,
                                       kMaxFragments, t_.pool, t_.indirect_pool, 0);
    if (!k) {
      drop(m, GatewayDrop::kFragFailed);
      continue;
    }
    counter_add(counters_.fragmented);
    counter_add(counters_.fragments, k);
    const uint16_t e = encap_burst(*esp_, sa, std::span<rte_mbuf*>(frags, k), t_.sad->counters(id_, slot));
    for (uint16_t j = e; j < k; ++j) rte_pktmbuf_free(frags[j]);  // counted per SA by the engine
    counter_add(counters_.encapsulated, e);
    for (uint16_t j = 0; j < e; j += kChunk)
      forward(frags + j, static_cast<uint16_t>(std::min<uint16_t>(kChunk, e - j)), now, false);
  }
  return keep;
}

void GatewayWorker::tunnel_egress(uint32_t slot, EspSa& sa, rte_mbuf** pkts, uint16_t n) noexcept {
  if (slot >= t_.sa_paths.size() || t_.sa_paths[slot].tcp_mss.mode == TcpMssClamp::Mode::kOff) return;
  const uint32_t max_inner = sa_max_inner(slot, sa);
  const uint16_t mss4 = clamp_mss_value(t_.sa_paths[slot].tcp_mss, max_inner, false);
  const uint16_t mss6 = clamp_mss_value(t_.sa_paths[slot].tcp_mss, max_inner, true);
  if (!mss4) return;
  for (uint16_t i = 0; i < n; ++i) {
    uint8_t* ip = rte_pktmbuf_mtod(pkts[i], uint8_t*);
    if (clamp_tcp_mss(ip, pkts[i]->data_len, ip[0] >> 4 == 6 ? mss6 : mss4)) counter_add(counters_.mss_clamped);
  }
}

void GatewayWorker::too_big(rte_mbuf* m, uint16_t mtu, bool decrypted) noexcept {
  const uint8_t* ip = rte_pktmbuf_mtod(m, const uint8_t*);
  const bool v6 = ip[0] >> 4 == 6;
  const bool ours = source_is_local(t_, ip);
  // IPv4 without DF: any router may fragment it. IPv6: only the source, so only our own ESP.
  const bool may_fragment = v6 ? ours : !(ip[6] & 0x40);
  if (may_fragment) {
    FragState& f = *frag_;
    const uint16_t room = static_cast<uint16_t>(FragState::kFragQueue - f.nfrags);
    const uint16_t k = fragment_packet(m, mtu, f.frags + f.nfrags, std::min<uint16_t>(room, kMaxFragments), t_.pool,
                                       t_.indirect_pool, f.frag_id++);
    if (!k) {
      drop(m, GatewayDrop::kFragFailed);
      return;
    }
    f.nfrags = static_cast<uint16_t>(f.nfrags + k);
    counter_add(counters_.fragmented);
    counter_add(counters_.fragments, k);
    return;
  }
  if (!ours) icmp_error(m, IcmpErrorKind::kTooBig, mtu, decrypted);
  drop(m, GatewayDrop::kTooBig);
}

void GatewayWorker::forward_fragments(std::chrono::nanoseconds now, bool decrypted) noexcept {
  FragState& f = *frag_;
  if (!f.nfrags) [[likely]]
    return;
  rte_mbuf* frags[FragState::kFragQueue];
  const uint16_t n = f.nfrags;
  std::memcpy(frags, f.frags, n * sizeof(rte_mbuf*));
  f.nfrags = 0;
  for (uint16_t j = 0; j < n; j += kChunk)
    forward(frags + j, static_cast<uint16_t>(std::min<uint16_t>(kChunk, n - j)), now, false, false, decrypted);
}

void GatewayWorker::icmp_error(const rte_mbuf* m, IcmpErrorKind kind, uint32_t mtu, bool decrypted) noexcept {
  const uint8_t* ip = rte_pktmbuf_mtod(m, const uint8_t*);
  const uint32_t len = m->data_len;
  if (!icmp_error_allowed(ip, len)) return;
  FragState& f = *frag_;
  const bool v6 = ip[0] >> 4 == 6;
  // From the gateway's address on the arrival port; about a decrypted packet, from its address on
  // a protected port (the inside one the policies name), since the error goes back into the tunnel.
  const LocalAddress* src = nullptr;
  for (const LocalAddress& a : t_.local) {
    if (a.address.is_v4() == v6) continue;
    const bool fits = decrypted ? a.port < t_.ports.size() && t_.ports[a.port] &&
                                      t_.ports[a.port]->spec().role == PortRole::kProtected
                                : a.port == m->port;
    if (fits) {
      src = &a;
      break;
    }
  }
  // Only back where the packet came from: an error towards a source routed elsewhere (spoofed, or
  // a site behind a tunnel) could leave in clear what policy protects.
  uint32_t nh;
  if (!v6) {
    uint32_t d;
    std::memcpy(&d, ip + 12, 4);
    d = rte_be_to_cpu_32(d);
    t_.fib->lookup4(&d, 1, &nh);
  } else {
    uint8_t a[1][16];
    std::memcpy(a[0], ip + 8, 16);
    t_.fib->lookup6(a, 1, &nh);
  }
  const NextHop& back = t_.fib->next_hop(nh);
  const bool same_way = decrypted || ((back.kind == NextHopKind::kConnected || back.kind == NextHopKind::kGateway) &&
                                      back.port == m->port);
  uint16_t& queued = decrypted ? f.nicmp_tunnel : f.nicmp;
  if (!src || !same_way || !t_.pool || queued == FragState::kIcmpQueue ||
      !f.limiter.allow(std::chrono::steady_clock::now().time_since_epoch())) {
    counter_add(counters_.icmp_suppressed);
    return;
  }
  rte_mbuf* e = rte_pktmbuf_alloc(t_.pool);
  if (!e) {
    counter_add(counters_.icmp_suppressed);
    return;
  }
  if (!build_icmp_error(e, ip, len, kind, mtu, src->address, f.ip_id++)) {
    rte_pktmbuf_free(e);
    counter_add(counters_.icmp_suppressed);
    return;
  }
  e->port = m->port;
  (decrypted ? f.icmp_tunnel : f.icmp)[queued++] = e;
  counter_add(counters_.icmp_sent);
}

void GatewayWorker::flush_icmp(std::chrono::nanoseconds now) noexcept {
  FragState& f = *frag_;
  while (f.nicmp_tunnel) {
    // Classified like traffic from the protected side: PROTECT puts them into the SA the policy
    // names, an unmatched one may take a route into a tunnel, anything else the policy's action.
    rte_mbuf* batch[kChunk];
    const uint16_t k = std::min<uint16_t>(kChunk, f.nicmp_tunnel);
    std::memcpy(batch, f.icmp_tunnel + f.nicmp_tunnel - k, k * sizeof(rte_mbuf*));
    f.nicmp_tunnel = static_cast<uint16_t>(f.nicmp_tunnel - k);
    outbound(batch, k, now);
  }
  while (f.nicmp) {  // errors about errors are never generated: this ends
    rte_mbuf* batch[kChunk];
    const uint16_t k = std::min<uint16_t>(kChunk, f.nicmp);
    std::memcpy(batch, f.icmp + f.nicmp - k, k * sizeof(rte_mbuf*));
    f.nicmp = static_cast<uint16_t>(f.nicmp - k);
    forward(batch, k, now, false);
  }
}

rte_mbuf* GatewayWorker::reassemble(rte_mbuf* m, bool v6, uint32_t l3_len, std::chrono::nanoseconds now) noexcept {
  if (!frag_->reassembler) {
    drop(m, GatewayDrop::kFragInvalid);
    return nullptr;
  }
  const Reassembler::Result r = frag_->reassembler->add(m, v6, l3_len, now);
  if (r.dropped) counters_.drop(GatewayDrop::kFragInvalid, r.dropped);
  if (!r.packet) return nullptr;
  // rte_ip_frag chains the fragments; classification and the ESP engine need the whole packet in
  // one segment: linearized in place, or copied into one mbuf of the jumbo pool.
  rte_mbuf* whole = make_contiguous(r.packet, t_.jumbo_pool);
  if (!whole) {
    drop(r.packet, GatewayDrop::kFragTooBig);
    return nullptr;
  }
  counter_add(counters_.reassembled);
  return whole;
}

}  // namespace esprit
