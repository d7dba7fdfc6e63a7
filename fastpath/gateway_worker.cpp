// The worker pipeline (see gateway.hpp for the classification table).
#include <rte_ethdev.h>
#include <rte_ip.h>
#include <rte_mbuf.h>
#include <rte_prefetch.h>
#include <rte_ring.h>

#include <time.h>

#include <algorithm>
#include <array>
#include <bit>
#include <cstring>

#include "esprit/fastpath/control_wake.hpp"
#include "esprit/fastpath/gateway.hpp"
#include "esprit/fastpath/ip_checks.hpp"
#include "esprit/fastpath/neighbor.hpp"
#include "esprit/fastpath/net_constants.hpp"
#include "esprit/fastpath/port.hpp"
#include "esprit/fastpath/rcu.hpp"
#include "esprit/fastpath/route.hpp"
#include "esprit/fastpath/sad.hpp"
#include "esprit/fastpath/spd.hpp"
#include "gateway_frag.hpp"

namespace esprit {
namespace {

using namespace net;
constexpr uint16_t kBurst = 32;

inline uint16_t be16(const uint8_t* p) noexcept { return static_cast<uint16_t>(p[0] << 8 | p[1]); }

/// rte_pktmbuf_adj(m, 14) for a single-segment frame already checked to hold 14 bytes.
inline rte_mbuf* strip_l2(rte_mbuf* m) noexcept {
  m->data_off = static_cast<uint16_t>(m->data_off + 14);
  m->data_len = static_cast<uint16_t>(m->data_len - 14);
  m->pkt_len -= 14;
  return m;
}

}  // namespace

bool selector_matches(const TrafficSelector& ts, const uint8_t* l3, uint32_t len) noexcept {
  if (len < 20) return false;
  const bool v6 = l3[0] >> 4 == 6;
  if (v6 != (ts.family() == IpFamily::kV6) || (v6 && len < 40)) return false;
  // Whole words under a mask: no memcmp call of a variable length per packet (decap profile).
  auto in_prefix = [&](const IpPrefix& p, const uint8_t* a) {
    const unsigned bits = p.length();
    const uint8_t* pb = p.address().bytes();
    const auto word = [](const uint8_t* b, unsigned off) {
      uint64_t w;
      std::memcpy(&w, b + off, 8);
      return __builtin_bswap64(w);
    };
    const auto mask = [](unsigned n) { return n == 0 ? 0 : n >= 64 ? ~uint64_t{0} : ~uint64_t{0} << (64 - n); };
    if (!v6) {
      uint32_t x;
      uint32_t y;
      std::memcpy(&x, pb, 4);
      std::memcpy(&y, a, 4);
      return ((uint64_t{__builtin_bswap32(x ^ y)} << 32) & mask(bits)) == 0;
    }
    return (((word(pb, 0) ^ word(a, 0)) & mask(bits)) | ((word(pb, 8) ^ word(a, 8)) & mask(bits > 64 ? bits - 64 : 0))) == 0;
  };
  if (!in_prefix(ts.src, l3 + (v6 ? 8 : 12)) || !in_prefix(ts.dst, l3 + (v6 ? 24 : 16))) return false;
  uint8_t proto;
  uint32_t l4;
  bool ports_here;  // false: a non-first fragment (RFC 4301 7.1: it carries no ports)
  if (!v6) {
    proto = l3[9];
    l4 = (l3[0] & 15) * 4u;
    ports_here = (be16(l3 + 6) & 0x1fff) == 0;
  } else {
    // The upper-layer protocol and ports sit behind the extension headers (the SPD's walk).
    const uint32_t payload = be16(l3 + 4);
    const uint32_t limit = payload == 0 || 40 + payload > len ? len : 40 + payload;
    const Ipv6UpperLayer u = ipv6_upper_layer(l3, limit);
    if (u.status == Ipv6UpperLayer::Status::kMalformed) return false;  // matches no selector
    proto = u.proto;
    l4 = u.offset;
    ports_here = u.status == Ipv6UpperLayer::Status::kOk;
    len = limit;
  }
  if (ts.proto != 0 && ts.proto != proto) return false;
  if (ts.sport.any() && ts.dport.any()) return true;
  // RFC 4301 7.1: a non-first fragment carries no ports; it matches only selectors whose ports are
  // ANY (above). A first fragment too short to hold them is refused below like any short packet.
  if (!ports_here) return false;
  if (proto != net::kProtoTcp && proto != net::kProtoUdp && proto != net::kProtoSctp) return false;  // ports only exist for TCP/UDP/SCTP
  if (len < l4 + 4) return false;
  return ts.sport.contains(be16(l3 + l4)) && ts.dport.contains(be16(l3 + l4 + 2));
}

struct GatewayWorker::TxBuffer {
  rte_mbuf* pkts[2 * kBurst];
  uint16_t n = 0;
};

GatewayWorker::GatewayWorker(GatewayTables& tables, uint32_t worker_id, std::vector<RxQueue> rx, uint16_t tx_queue,
                             std::unique_ptr<EspWorker> esp, std::unique_ptr<NeighborWorker> neighbor)
    : t_(tables),
      id_(worker_id),
      rx_(std::move(rx)),
      tx_queue_(tx_queue),
      esp_(std::move(esp)),
      neighbor_(std::move(neighbor)),
      tx_(std::make_unique<TxBuffer[]>(tables.ports.size())),
      frag_(make_frag_state(tables, worker_id)),
      ike_port_(tables.ike_port),
      natt_port_(tables.natt_port) {
  for (const LocalAddress& a : t_.local) {
    if (a.address.is_v4()) {
      uint32_t d;
      std::memcpy(&d, a.address.bytes(), 4);
      local4_.push_back(d);
    } else {
      std::array<uint8_t, 16> d;
      std::memcpy(d.data(), a.address.bytes(), 16);
      local6_.push_back(d);
    }
  }
}

GatewayWorker::~GatewayWorker() {
  for (std::size_t p = 0; p < t_.ports.size(); ++p)
    for (uint16_t i = 0; i < tx_[p].n; ++i) rte_pktmbuf_free(tx_[p].pkts[i]);
  if (id_ < t_.handoff.size() && t_.handoff[id_]) {  // the other workers have stopped too
    void* m;
    while (rte_ring_dequeue(t_.handoff[id_], &m) == 0) rte_pktmbuf_free(static_cast<rte_mbuf*>(m));
  }
}

void GatewayWorker::run(const std::atomic<bool>& stop) noexcept {
  t_.rcu->register_thread(id_);
  t_.rcu->online(id_);
  uint32_t empty = 0;
  while (!stop.load(std::memory_order_relaxed)) {
    const auto now = std::chrono::steady_clock::now().time_since_epoch();
    const uint32_t work = poll_once(now);
    t_.rcu->quiescent(id_);
    if (idle_sleep_.count() == 0) continue;  // busy poll: the fast path as without the option
    if (work != 0) {
      empty = 0;
      continue;
    }
    if (++empty < kIdlePolls) continue;
    // Idle: sleep with RCU offline, so that the control core's grace periods (SA installs, SPD
    // publications) do not wait for this sleep. Nothing of the tables is held across it.
    empty = 0;
    t_.rcu->offline(id_);
    idle_sleeps_.fetch_add(1, std::memory_order_relaxed);
    timespec ts{0, static_cast<long>(idle_sleep_.count()) * 1000};
    nanosleep(&ts, nullptr);
    t_.rcu->online(id_);
  }
  t_.rcu->offline(id_);
}

uint32_t GatewayWorker::poll_once(std::chrono::nanoseconds now) noexcept {
  uint32_t total = 0;
  rte_mbuf* pkts[kBurst];
  for (const RxQueue& q : rx_) {
    const uint16_t n = rte_eth_rx_burst(q.port, q.queue, pkts, kBurst);
    if (n == 0) continue;
    counter_add(counters_.rx, n);
    total += n;
    process(q.port, pkts, n, now);
  }
  if (!t_.handoff.empty()) {  // inbound ESP for our SAs that arrived at other workers
    void* objs[kBurst];
    const unsigned k = rte_ring_dequeue_burst(t_.handoff[id_], objs, kBurst, nullptr);
    if (k) inbound_esp(reinterpret_cast<rte_mbuf**>(objs), static_cast<uint16_t>(k), now);
    total += k;
  }
  if (tx_queue_ == 0) {  // frames the control core could not send on a queue of its own
    for (std::size_t p = 0; p < t_.control_tx.size(); ++p) {
      if (!t_.control_tx[p]) continue;
      void* objs[kBurst];
      const unsigned k = rte_ring_dequeue_burst(t_.control_tx[p], objs, kBurst, nullptr);
      for (unsigned i = 0; i < k; ++i) send(static_cast<uint16_t>(p), static_cast<rte_mbuf*>(objs[i]));
      total += k;
    }
  }
  reassembly_poll(now);
  flush();
  return total;
}

const NeighborWorkerCounters& GatewayWorker::neighbor_counters() const noexcept { return neighbor_->counters(); }

void GatewayWorker::drop(rte_mbuf* m, GatewayDrop why) noexcept {
  counters_.drop(why);
  rte_pktmbuf_free(m);
}

void GatewayWorker::process(uint16_t port, rte_mbuf** pkts, uint16_t n, std::chrono::nanoseconds now) noexcept {
  rte_mbuf* punt[kBurst];
  rte_mbuf* out[kBurst];
  SpdPacket out_l3[kBurst];  // out[i]'s IP header and length, for the outbound SPD
  rte_mbuf* clear[kBurst];
  rte_mbuf* esp[kBurst];
  uint16_t npunt = 0, nout = 0, nclear = 0, nesp = 0;
  const Port* rx_port = t_.ports[port];
  const bool from_protected = rx_port && rx_port->spec().role == PortRole::kProtected;
  // Read once per burst: the packet stores below (byte-typed) would make the compiler reload them
  // through `this` for every packet.
  const uint32_t* const local4 = local4_.data();
  const std::size_t nlocal4 = local4_.size();

  for (uint16_t i = 0; i < n; ++i) {
    rte_mbuf* m = pkts[i];
  reparse:  // a reassembled packet is classified again
    if (m->nb_segs != 1) [[unlikely]] {  // RX scatter: the pipeline and the ESP engine want one segment
      rte_mbuf* c = make_contiguous(m, t_.jumbo_pool);
      if (!c) {
        drop(m, GatewayDrop::kSegmented);
        continue;
      }
      m = c;
    }
    uint8_t* f = rte_pktmbuf_mtod(m, uint8_t*);
    const uint32_t len = m->data_len;
    if (len < 14) {
      drop(m, GatewayDrop::kNotIp);
      continue;
    }
    const uint16_t type = be16(f + 12);
    if (type == kEtherArp) {
      punt[npunt++] = m;
      continue;
    }
    if (type != kEtherIpv4 && type != kEtherIpv6) {
      drop(m, GatewayDrop::kNotIp);
      continue;
    }
    const uint8_t* ip = f + 14;
    const uint32_t frame_ip = len - 14;  // bytes after the Ethernet header, padding included
    const bool v6 = type == kEtherIpv6;
    uint32_t ip_len;  // the IP packet's own length
    uint32_t l4;
    uint8_t proto;
    if (!v6) {
      if (frame_ip < 20 || ip[0] >> 4 != 4 || (ip[0] & 15) < 5 ||
          (m->ol_flags & RTE_MBUF_F_RX_IP_CKSUM_MASK) == RTE_MBUF_F_RX_IP_CKSUM_BAD) {
        drop(m, GatewayDrop::kBadIpHeader);
        continue;
      }
      l4 = (ip[0] & 15) * 4u;
      ip_len = be16(ip + 2);
      if (ip_len < l4 || ip_len > frame_ip) {
        drop(m, GatewayDrop::kBadIpHeader);
        continue;
      }
      // The NIC did not check the header checksum (no offload, or not for this packet): we do.
      if ((m->ol_flags & RTE_MBUF_F_RX_IP_CKSUM_MASK) == RTE_MBUF_F_RX_IP_CKSUM_UNKNOWN &&
          !ipv4_header_checksum_ok(ip, l4)) [[unlikely]] {
        drop(m, GatewayDrop::kBadIpHeader);
        continue;
      }
      proto = ip[9];
    } else {
      if (frame_ip < 40 || ip[0] >> 4 != 6 || 40u + be16(ip + 4) > frame_ip) {
        drop(m, GatewayDrop::kBadIpHeader);
        continue;
      }
      l4 = 40;
      ip_len = 40u + be16(ip + 4);
      proto = ip[6];  // extension headers in front of ESP/UDP to us are not walked (rare)
    }
    if (ip_len < frame_ip) rte_pktmbuf_trim(m, static_cast<uint16_t>(frame_ip - ip_len));  // Ethernet padding
    // Ours? (a few addresses: a linear scan of fixed-size compares beats a hash)
    bool local = false;
    if (!v6) {
      uint32_t d;
      std::memcpy(&d, ip + 16, 4);
      for (std::size_t a = 0; a < nlocal4; ++a) local |= local4[a] == d;
    } else {
      for (const auto& a : local6_) local |= std::memcmp(a.data(), ip + 24, 16) == 0;
    }
    if (!local && v6 && ip[24] == 0xff) {  // multicast: neighbour discovery and friends
      if (proto == kProtoIcmp6) punt[npunt++] = m;
      else drop(m, GatewayDrop::kToUsUnsupported);
      continue;
    }
    if (local && is_fragment(ip, v6)) [[unlikely]] {
      // ESP and ESP in UDP to us are reassembled (bounded, see fragment.hpp); other fragments to us
      // have no service.
      const uint32_t l3_len = v6 ? 48 : l4;
      const uint8_t fproto = v6 ? (ip_len >= 48 ? ip[40] : 0) : proto;
      if (fproto != kProtoEsp && fproto != kProtoUdp) {
        drop(m, GatewayDrop::kToUsUnsupported);
        continue;
      }
      m = reassemble(m, v6, l3_len, now);
      if (!m) continue;
      goto reparse;
    }
    if (local) {
      if (proto == kProtoEsp) {
        if (ip_len < l4 + 8) drop(m, GatewayDrop::kBadIpHeader);  // no room for the ESP header
        else esp[nesp++] = strip_l2(m);
      } else if (proto == kProtoUdp && ip_len >= l4 + 8) {
        const uint16_t dport = be16(ip + l4 + 2);
        const uint32_t payload = ip_len - l4 - 8;
        const uint8_t* u = ip + l4 + 8;
        if (dport == natt_port_ && payload == 1 && u[0] == 0xff) {
          drop(m, GatewayDrop::kNattKeepalive);
        } else if (dport == natt_port_ && payload >= 4 && (u[0] | u[1] | u[2] | u[3]) != 0) {
          esp[nesp++] = strip_l2(m);  // ESP in UDP (RFC 3948): no non-ESP marker
        } else if (dport == natt_port_ || dport == ike_port_) {
          punt[npunt++] = m;
        } else {
          drop(m, GatewayDrop::kToUsUnsupported);
        }
      } else if (proto == kProtoIcmp || proto == kProtoIcmp6) {
        punt[npunt++] = m;
      } else {
        drop(m, GatewayDrop::kToUsUnsupported);
      }
      continue;
    }
    if (is_martian(ip, v6)) [[unlikely]] {  // before any policy: neither forwarded nor encrypted
      drop(m, GatewayDrop::kMartian);
      continue;
    }
    if (!from_protected) {
      clear[nclear++] = strip_l2(m);
      continue;
    }
    // Outbound: the TTL is decremented here, while the header is in registers and cache, rather
    // than in a pass of its own over the burst (outbound()); the SPD gets the header and length
    // found above (the data length once stripped and trimmed) instead of reading the mbufs again.
    strip_l2(m);
    if (!decrement_ttl(f + 14)) [[unlikely]] {
      icmp_error(m, IcmpErrorKind::kTimeExceeded, 0);
      drop(m, GatewayDrop::kTtlExceeded);
      continue;
    }
    out_l3[nout] = {ip, ip_len};
    out[nout++] = m;
  }

  if (npunt) {
    const unsigned sent = rte_ring_enqueue_burst(t_.punt, reinterpret_cast<void**>(punt), npunt, nullptr);
    if (sent && t_.control_wake) t_.control_wake->notify();  // after the enqueue: control_wake.hpp
    counter_add(counters_.punted, sent);
    for (unsigned i = sent; i < npunt; ++i) drop(punt[i], GatewayDrop::kPuntFull);
  }
  // From here on packets start at their IP header (strip_l2 above, while the mbuf is in cache).
  if (nesp) inbound_esp(esp, nesp, now);
  if (nout) outbound_policy(out, out_l3, nout, now);
  if (nclear) clear_inbound(clear, nclear, now);
  flush_icmp(now);
}

void GatewayWorker::outbound(rte_mbuf** pkts, uint16_t n, std::chrono::nanoseconds now) noexcept {
  rte_mbuf* live[kBurst];
  SpdPacket l3[kBurst];
  uint16_t nlive = 0;
  for (uint16_t i = 0; i < n; ++i) {
    uint8_t* ip = rte_pktmbuf_mtod(pkts[i], uint8_t*);
    if (decrement_ttl(ip)) {
      l3[nlive] = {ip, rte_pktmbuf_data_len(pkts[i])};
      live[nlive++] = pkts[i];
    } else {
      icmp_error(pkts[i], IcmpErrorKind::kTimeExceeded, 0);
      drop(pkts[i], GatewayDrop::kTtlExceeded);
    }
  }
  if (nlive) outbound_policy(live, l3, nlive, now);
}

void GatewayWorker::outbound_policy(rte_mbuf** live, const SpdPacket* l3, uint16_t nlive,
                                    std::chrono::nanoseconds now) noexcept {
  SpdMatch match[kBurst];
  t_.spd->outbound()->classify(std::span<const SpdPacket>(l3, nlive), match, id_);
  rte_mbuf* bypass[kBurst];
  rte_mbuf* unmatched[kBurst];  // no rule, default DISCARD: only a route into a tunnel saves them
  rte_mbuf* sealed[kBurst];     // to encapsulate, then to route
  uint32_t sealed_slot[kBurst];
  uint16_t nbypass = 0, nunmatched = 0, nsealed = 0;
  for (uint16_t i = 0; i < nlive;) {
    if (match[i].action == PolicyAction::kDiscard) {
      if (match[i].rule == SpdMatch::kNoRule) unmatched[nunmatched++] = live[i];
      else drop(live[i], match[i].rule == SpdMatch::kInvalid ? GatewayDrop::kBadExtHeaders : GatewayDrop::kPolicyDiscard);
      ++i;
      continue;
    }
    if (match[i].action == PolicyAction::kBypass) {
      bypass[nbypass++] = live[i];
      ++i;
      continue;
    }
    // PROTECT: every protected packet of the burst goes to ESP in one multi-SA call, whatever its
    // SA; what it encapsulated is routed together (one FIB and neighbour pass for the burst).
    sealed_slot[nsealed] = match[i].sa_index;
    sealed[nsealed++] = live[i++];
  }
  if (nsealed) nsealed = encap(sealed_slot, sealed, nsealed, now);
  if (nsealed) forward(sealed, nsealed, now, false);
  counter_add(counters_.bypassed, nbypass);
  if (nbypass) forward(bypass, nbypass, now, true);
  // Route-based tunnels come after the policy rules and before the default action.
  if (nunmatched) forward(unmatched, nunmatched, now, true, true);
}

void GatewayWorker::clear_inbound(rte_mbuf** pkts, uint16_t n, std::chrono::nanoseconds now) noexcept {
  SpdMatch match[kBurst];
  t_.spd->inbound()->classify(std::span<rte_mbuf* const>(pkts, n), match, id_);
  rte_mbuf* pass[kBurst];
  uint16_t npass = 0;
  for (uint16_t i = 0; i < n; ++i) {
    if (match[i].action != PolicyAction::kBypass) {
      drop(pkts[i], match[i].rule == SpdMatch::kInvalid       ? GatewayDrop::kBadExtHeaders
                    : match[i].action == PolicyAction::kDiscard ? GatewayDrop::kPolicyDiscard
                                                                : GatewayDrop::kClearNotBypass);
    } else if (!decrement_ttl(rte_pktmbuf_mtod(pkts[i], uint8_t*))) {
      icmp_error(pkts[i], IcmpErrorKind::kTimeExceeded, 0);
      drop(pkts[i], GatewayDrop::kTtlExceeded);
    } else {
      pass[npass++] = pkts[i];
    }
  }
  counter_add(counters_.bypassed, npass);
  if (npass) forward(pass, npass, now, false);
}

uint16_t GatewayWorker::encap(const uint32_t* slots, rte_mbuf** pkts, uint16_t n,
                             std::chrono::nanoseconds now) noexcept {
  EspSa* sas[kBurst];
  SaCounters* ctr[kBurst];
  uint16_t nready = 0;
  // Many SAs: each packet's SA is a chain of cache misses (the worker's SAD block -> EspSa -> its
  // state and key schedule; the path options). A burst of several SAs starts every level for the
  // whole burst, one level per pass, before the first packet is handled; a burst of one SA (whose
  // state stays hot) skips this. The worker's block of a slot holds its copy of the SA pointer and
  // its counters on one line (SadWorkerSlot).
  uint16_t nruns = 0;
  for (uint16_t i = 0; i < n; ++i) {
    if (i && slots[i] == slots[i - 1]) continue;
    t_.sad->prefetch(id_, slots[i]);
    if (slots[i] < t_.sa_paths.size()) rte_prefetch0(&t_.sa_paths[slots[i]]);
    ++nruns;
  }
  if (nruns > 1) {
    for (uint16_t i = 0; i < n; ++i) {
      if (i && slots[i] == slots[i - 1]) continue;
      EspSa* sa = slots[i] == kNoTunnelSa ? nullptr : t_.sad->get(id_, slots[i]);
      if (sa) sas[nready++] = sa;  // its state is loaded by prefetch_sas (no load through the EspSa)
    }
    prefetch_sas(sas, nready);
    nready = 0;
  }
  for (uint16_t i = 0; i < n;) {
    const uint32_t slot = slots[i];
    uint16_t j = i + 1;
    while (j < n && slots[j] == slot) ++j;
    EspSa* sa = slot == kNoTunnelSa ? nullptr : t_.sad->get(id_, slot);
    if (!sa) {
      for (; i < j; ++i) drop(pkts[i], GatewayDrop::kNoSa);
      continue;
    }
    // MSS clamp; inner packets that do not fit are fragmented and encapsulated there, per SA.
    const uint16_t k = tunnel_ingress(slot, *sa, pkts + i, static_cast<uint16_t>(j - i), now);
    SaCounters& c = t_.sad->counters(id_, slot);
    for (uint16_t m = 0; m < k; ++m) {
      pkts[nready] = pkts[i + m];  // nready <= i + m: compacting in place
      sas[nready] = sa;
      ctr[nready++] = &c;
    }
    i = j;
  }
  if (!nready) return 0;
  const uint16_t k = encap_burst_multi(*esp_, std::span<rte_mbuf*>(pkts, nready), std::span<EspSa*>(sas, nready),
                                       std::span<SaCounters*>(ctr, nready));
  for (uint16_t i = k; i < nready; ++i) rte_pktmbuf_free(pkts[i]);  // counted per SA by the engine
  counter_add(counters_.encapsulated, k);
  return k;
}

void GatewayWorker::inbound_esp(rte_mbuf** pkts, uint16_t n, std::chrono::nanoseconds now) noexcept {
  SadKey keys[kBurst];
  EspSa* sas[kBurst];
  uint32_t slots[kBurst];
  for (uint16_t i = 0; i < n; ++i) {
    const uint8_t* ip = rte_pktmbuf_mtod(pkts[i], const uint8_t*);
    const bool v6 = ip[0] >> 4 == 6;
    uint32_t off = v6 ? 40 : (ip[0] & 15) * 4u;
    if ((v6 ? ip[6] : ip[9]) == kProtoUdp) off += 8;
    keys[i] = SadKey::from_packet(ip, ip + off);
  }
  t_.sad->lookup_inbound(keys, n, sas, slots);
  if (!t_.handoff.empty()) {
    // Several workers: decapsulate only the SAs we own; the rest go to their owners.
    rte_mbuf* foreign[kBurst];
    uint32_t owner[kBurst];
    uint16_t nforeign = 0, nown = 0;
    for (uint16_t i = 0; i < n; ++i) {
      const uint32_t o = sas[i] ? t_.sad->owner(slots[i]) : id_;
      if (o != id_) [[unlikely]] {
        foreign[nforeign] = pkts[i];
        owner[nforeign++] = o;
      } else {
        pkts[nown] = pkts[i];
        sas[nown] = sas[i];
        slots[nown++] = slots[i];
      }
    }
    if (nforeign) hand_off(foreign, owner, nforeign);
    n = nown;
  }
  // Every packet with an SA goes to ESP in one multi-SA call.
  rte_mbuf* esp[kBurst];
  rte_mbuf* esp_in[kBurst];  // the same, before the call: gives each good packet its slot back
  EspSa* esp_sa[kBurst];
  SaCounters* ctr[kBurst];
  uint32_t esp_slot[kBurst];
  uint16_t nesp = 0;
  for (uint16_t i = 0; i < n; ++i) {
    if (!sas[i]) {
      drop(pkts[i], GatewayDrop::kNoSa);
      continue;
    }
    esp[nesp] = esp_in[nesp] = pkts[i];
    esp_sa[nesp] = sas[i];
    esp_slot[nesp] = slots[i];
    ctr[nesp++] = &t_.sad->counters(id_, slots[i]);
  }
  const uint16_t ndec = decap_burst_multi(*esp_, std::span<rte_mbuf*>(esp, nesp), std::span<EspSa*>(esp_sa, nesp),
                                          std::span<SaCounters*>(ctr, nesp));
  // Good packets keep their order, so one walk over the burst finds their slots.
  for (uint16_t g = 0, b = 0; g < ndec; ++b) {
    if (esp_in[b] == esp[g]) slots[g++] = esp_slot[b];
  }
  for (uint16_t j = ndec; j < nesp; ++j) rte_pktmbuf_free(esp[j]);  // counted per SA by the engine
  counter_add(counters_.decapsulated, ndec);
  rte_mbuf* inner[kBurst];
  uint32_t inner_sa[kBurst];  // the inbound slot each came from (hub_forward's loop check)
  uint16_t ninner = 0;
  for (uint16_t i = 0; i < ndec;) {
    const uint32_t slot = slots[i];
    EspSa* sa = esp_sa[i];
    rte_mbuf** run = esp + i;
    uint16_t k = 0;
    while (i < ndec && slots[i] == slot) ++i, ++k;
    // RFC 4301 5.2: the inner packet must be one this SA is allowed to carry.
    rte_mbuf* pass[kBurst];
    uint16_t npass = 0;
    const std::vector<TrafficSelector>* ts = slot < t_.sa_selectors.size() ? &t_.sa_selectors[slot] : nullptr;
    for (uint16_t j = 0; j < k; ++j) {
      bool ok = !ts || ts->empty();
      if (!ok) {
        const uint8_t* l3 = rte_pktmbuf_mtod(run[j], const uint8_t*);
        for (const TrafficSelector& sel : *ts) {
          if (selector_matches(sel, l3, run[j]->data_len)) {
            ok = true;
            break;
          }
        }
      }
      if (ok) pass[npass++] = run[j];
      else drop(run[j], GatewayDrop::kInboundPolicy);
    }
    uint16_t nfwd = 0;
    for (uint16_t j = 0; j < npass; ++j) {
      if (decrement_ttl(rte_pktmbuf_mtod(pass[j], uint8_t*))) {
        pass[nfwd++] = pass[j];
      } else {
        icmp_error(pass[j], IcmpErrorKind::kTimeExceeded, 0, true);  // back through the tunnel
        drop(pass[j], GatewayDrop::kTtlExceeded);
      }
    }
    tunnel_egress(slot, *sa, pass, nfwd);  // MSS clamp
    for (uint16_t j = 0; j < nfwd; ++j) inner_sa[ninner] = slot, inner[ninner++] = pass[j];
  }
  // Every SA's inner packets go through the outbound SPD and are routed together
  // (gateway_hub.cpp: re-encryption towards another peer).
  if (ninner) hub_forward(inner, inner_sa, ninner, now);
}

void GatewayWorker::hand_off(rte_mbuf** pkts, const uint32_t* owner, uint16_t n) noexcept {
  rte_mbuf* group[kBurst];
  bool done[kBurst] = {};
  for (uint16_t i = 0; i < n; ++i) {
    if (done[i]) continue;
    const uint32_t o = owner[i];
    uint16_t ngroup = 0;
    for (uint16_t j = i; j < n; ++j) {
      if (!done[j] && owner[j] == o) {
        group[ngroup++] = pkts[j];
        done[j] = true;
      }
    }
    rte_ring* ring = o < t_.handoff.size() ? t_.handoff[o] : nullptr;
    const unsigned sent =
        ring ? rte_ring_enqueue_burst(ring, reinterpret_cast<void**>(group), ngroup, nullptr) : 0;
    counter_add(counters_.handed_off, sent);
    for (unsigned j = sent; j < ngroup; ++j) drop(group[j], GatewayDrop::kHandoffFull);
  }
}

uint32_t GatewayWorker::lookup_next_hops(rte_mbuf* const* pkts, uint16_t n, uint32_t* nh) const noexcept {
  uint32_t dst4[kBurst];
  uint8_t dst6[kBurst][16];
  uint16_t idx4[kBurst], idx6[kBurst];
  uint16_t n4 = 0, n6 = 0;
  uint32_t v6 = 0;
  static_assert(kBurst <= 32, "one bit per packet");
  for (uint16_t i = 0; i < n; ++i) {
    const uint8_t* ip = rte_pktmbuf_mtod(pkts[i], const uint8_t*);
    if (ip[0] >> 4 == 4) {
      uint32_t d;
      std::memcpy(&d, ip + 16, 4);
      dst4[n4] = rte_be_to_cpu_32(d);
      idx4[n4++] = i;
    } else {
      std::memcpy(dst6[n6], ip + 24, 16);
      idx6[n6++] = i;
      v6 |= 1u << i;
    }
  }
  if (n4 == n) {  // all IPv4 (the usual burst): looked up in place, no scatter
    if (n) t_.fib->lookup4(dst4, n, nh);
    return 0;
  }
  uint32_t nh4[kBurst], nh6[kBurst];
  if (n4) t_.fib->lookup4(dst4, n4, nh4);
  if (n6) t_.fib->lookup6(dst6, n6, nh6);
  for (uint16_t j = 0; j < n4; ++j) nh[idx4[j]] = nh4[j];
  for (uint16_t j = 0; j < n6; ++j) nh[idx6[j]] = nh6[j];
  return v6;
}

void GatewayWorker::forward(rte_mbuf** pkts, uint16_t n, std::chrono::nanoseconds now, bool allow_tunnel,
                            bool tunnel_only, bool decrypted) noexcept {
  uint32_t nh[kBurst];
  const uint32_t v6_mask = lookup_next_hops(pkts, n, nh);

  rte_mbuf* tunneled[kBurst];
  uint32_t tunnel_slot[kBurst];
  uint16_t ntunneled = 0;
  // The neighbour of the last next hop. What every packet reads of it stays in locals the compiler
  // can keep in registers (the next hop it is for, whether it is usable, the Ethernet addresses as
  // two words): `cache_key` and `cache_ni` have their address taken by the neighbour table's
  // calls, and each store into a packet (byte-typed) made the compiler read such struct fields
  // back from the stack for every packet, some of them (the 12-byte header copy) with wider loads
  // than the narrow stores that had written them.
  uint32_t cache_nh = UINT32_MAX;  ///< gateway route of the cached entry; kNoRoute: keyed by `cache_key`
  NeighborKey cache_key;
  cache_key.port = UINT16_MAX;  // matches no real key
  bool usable = false;
  uint64_t eth_lo = 0;  ///< destination MAC, then the first two bytes of the source MAC
  uint32_t eth_hi = 0;  ///< the last four bytes of the source MAC
  static_assert(std::endian::native == std::endian::little, "eth_lo/eth_hi are stored as they lie in memory");

  // Packets to send are gathered per run of one egress port and appended to that port's TX buffer
  // once per run (send_run()), not one send() call and one count update in memory per packet.
  rte_mbuf* txq[kBurst];
  uint16_t ntx = 0;
  uint16_t tx_port = 0;

  // What the route says is resolved once per run of packets with the same next hop (a burst is
  // usually one run): the next-hop entry, its port and the checks that depend on them only. Per
  // packet this was a chain of dependent loads (FIB slot, port table, Port, its spec) ahead of the
  // MTU check.
  enum class Verdict : uint8_t { kSend, kTunnel, kNoRoute, kPolicyDiscard };
  uint32_t run_nh = 0;
  bool resolved = false;
  Verdict verdict = Verdict::kNoRoute;
  const NextHop* hopp = nullptr;
  const Port* outp = nullptr;
  uint16_t mtu = 0;
  uint16_t hop_port = 0;
  bool via_gateway = false;

  for (uint16_t i = 0; i < n; ++i) {
    rte_mbuf* m = pkts[i];
    if (!resolved || nh[i] != run_nh) {
      resolved = true;
      run_nh = nh[i];
      hopp = &t_.fib->next_hop(run_nh);
      const NextHop& h = *hopp;
      if (h.kind == NextHopKind::kTunnel) {
        verdict = !allow_tunnel || h.tunnel >= t_.tunnels ? Verdict::kNoRoute : Verdict::kTunnel;
      } else if (tunnel_only) {  // unmatched by the SPD and not routed into a tunnel: the default DISCARD
        verdict = Verdict::kPolicyDiscard;
      } else if (h.kind == NextHopKind::kBlackhole || h.port >= t_.ports.size() || !t_.ports[h.port]) {
        verdict = Verdict::kNoRoute;
      } else {
        outp = t_.ports[h.port];
        // What a peer sent through a tunnel never leaves in clear towards the unprotected side
        // (hub_forward() re-encrypts what the outbound SPD or a tunnel route protects).
        verdict = decrypted && outp->spec().role == PortRole::kUnprotected ? Verdict::kPolicyDiscard : Verdict::kSend;
        mtu = outp->spec().mtu;
        hop_port = h.port;
        via_gateway = h.kind == NextHopKind::kGateway;
      }
    }
    if (verdict != Verdict::kSend) [[unlikely]] {
      if (verdict == Verdict::kTunnel) {
        tunneled[ntunneled] = m;
        tunnel_slot[ntunneled++] = t_.tunnel_sa[hopp->tunnel].load(std::memory_order_acquire);
      } else {
        drop(m, verdict == Verdict::kNoRoute ? GatewayDrop::kNoRoute : GatewayDrop::kPolicyDiscard);
      }
      continue;
    }
    if (m->pkt_len > mtu) [[unlikely]] {
      too_big(m, mtu, decrypted);  // fragmented (sent below) or answered with ICMP
      continue;
    }
    const uint8_t* ip = rte_pktmbuf_mtod(m, const uint8_t*);
    const bool v4 = !(v6_mask >> i & 1);  // lookup_next_hops() read the version: not again per packet
    // Consecutive packets to the same next hop (a gateway route, or one connected host) share
    // one neighbour lookup per burst: the table is read once and a stale entry refreshed once.
    // (The key is built only on a miss: a NeighborKey is 24 bytes to zero.)
    const IpFamily family = v4 ? IpFamily::kV4 : IpFamily::kV6;
    const uint8_t* dst = ip + (v4 ? 16 : 24);
    const bool miss =
        via_gateway ? nh[i] != cache_nh
                    // Connected: the destination itself, compared in place before a key is built.
                    : cache_nh != kNoRoute || cache_key.port != hop_port || cache_key.family != family ||
                          (v4 ? std::memcmp(cache_key.addr.data(), dst, 4) != 0
                              : std::memcmp(cache_key.addr.data(), dst, 16) != 0);
    if (miss) [[unlikely]] {
      NeighborKey key;
      if (via_gateway) {
        key = NeighborKey::of(hop_port, hopp->gateway);
      } else {
        key.port = hop_port;
        key.family = family;
        std::memcpy(key.addr.data(), dst, v4 ? 4 : 16);
      }
      cache_nh = via_gateway ? nh[i] : kNoRoute;
      cache_key = key;
      const NeighborInfo ni = t_.neighbors->lookup(key);
      usable = ni.usable();
      if (usable) {
        if (ni.state() == NeighborState::kStale) neighbor_->refresh(key, now);
        // Combined in registers (two loads of the port's MAC), not through a stack slot.
        const uint8_t* src = outp->mac().addr_bytes;
        uint32_t s0;
        uint16_t s1;
        std::memcpy(&s0, src, 4);
        std::memcpy(&s1, src + 4, 2);
        eth_lo = (ni.raw() & 0xffffffffffffull) | static_cast<uint64_t>(s0 & 0xffff) << 48;  // MAC byte i in bits 8i..8i+7
        eth_hi = s0 >> 16 | static_cast<uint32_t>(s1) << 16;
      }
    }
    if (!usable) {
      if (neighbor_->hold(cache_key, m, now) != NeighborWorker::HoldResult::kHandedOver)
        drop(m, GatewayDrop::kNeighborDrop);
      continue;
    }
    const uint16_t ether_type = rte_cpu_to_be_16(v4 ? kEtherIpv4 : kEtherIpv6);
    auto* eth = reinterpret_cast<uint8_t*>(rte_pktmbuf_prepend(m, sizeof(rte_ether_hdr)));
    if (!eth) {
      drop(m, GatewayDrop::kTooBig);
      continue;
    }
    std::memcpy(eth, &eth_lo, 8);
    std::memcpy(eth + 8, &eth_hi, 4);
    std::memcpy(eth + 12, &ether_type, 2);
    if (ntx && hop_port != tx_port) {
      send_run(tx_port, txq, ntx);
      ntx = 0;
    }
    tx_port = hop_port;
    txq[ntx++] = m;
  }
  if (ntx) send_run(tx_port, txq, ntx);
  forward_fragments(now, decrypted);
  // Packets routed into tunnels go to ESP in one multi-SA call, like policy-protected ones, and
  // are routed together afterwards.
  if (ntunneled) ntunneled = encap(tunnel_slot, tunneled, ntunneled, now);
  if (ntunneled) forward(tunneled, ntunneled, now, false);
}

void GatewayWorker::send(uint16_t port, rte_mbuf* m) noexcept { send_run(port, &m, 1); }

void GatewayWorker::send_run(uint16_t port, rte_mbuf* const* pkts, uint16_t n) noexcept {
  TxBuffer& b = tx_[port];
  while (n) {
    const uint16_t k = std::min<uint16_t>(n, static_cast<uint16_t>(2 * kBurst - b.n));
    std::memcpy(b.pkts + b.n, pkts, k * sizeof(rte_mbuf*));
    b.n = static_cast<uint16_t>(b.n + k);
    pkts += k;
    n = static_cast<uint16_t>(n - k);
    if (b.n == 2 * kBurst) {
      const uint16_t sent = rte_eth_tx_burst(port, tx_queue_, b.pkts, b.n);
      counter_add(counters_.tx, sent);
      for (uint16_t i = sent; i < b.n; ++i) drop(b.pkts[i], GatewayDrop::kTxFull);
      b.n = 0;
    }
  }
}

void GatewayWorker::flush() noexcept {
  for (std::size_t p = 0; p < t_.ports.size(); ++p) {
    TxBuffer& b = tx_[p];
    if (!b.n) continue;
    const uint16_t sent = rte_eth_tx_burst(static_cast<uint16_t>(p), tx_queue_, b.pkts, b.n);
    counter_add(counters_.tx, sent);
    for (uint16_t i = sent; i < b.n; ++i) drop(b.pkts[i], GatewayDrop::kTxFull);
    b.n = 0;
  }
}

}  // namespace esprit
