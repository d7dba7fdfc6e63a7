// Hub and spoke: what a peer sent through a tunnel may go on to another peer. Decapsulated packets
// go through the outbound SPD as if they had arrived on a protected port; PROTECT encrypts them
// again with the rule's SA, a route into a tunnel interface with that tunnel's SA. Clear text
// still never leaves towards the unprotected side (forward(..., decrypted = true)), and nothing is
// encrypted back to the peer it came from (hub_loop).
#include <rte_byteorder.h>
#include <rte_mbuf.h>

#include <cstring>
#include <span>

#include "esprit/fastpath/gateway.hpp"
#include "esprit/fastpath/ip_checks.hpp"
#include "esprit/fastpath/route.hpp"
#include "esprit/fastpath/spd.hpp"

namespace esprit {
namespace {
constexpr uint16_t kBurst = 32;  // as gateway_worker.cpp: inbound_esp() passes at most one RX burst
}  // namespace

bool GatewayWorker::same_peer(uint32_t in_slot, uint32_t out_slot) const noexcept {
  if (in_slot >= t_.sa_peer.size() || out_slot >= t_.sa_peer.size()) return false;
  const uint32_t p = t_.sa_peer[in_slot];
  return p != 0 && p == t_.sa_peer[out_slot];
}

void GatewayWorker::hub_forward(rte_mbuf** pkts, const uint32_t* from, uint16_t n,
                                std::chrono::nanoseconds now) noexcept {
  // Martians inside the tunnel: neither forwarded nor encrypted again.
  rte_mbuf* live[kBurst];
  uint32_t live_from[kBurst];
  uint16_t nlive = 0;
  for (uint16_t i = 0; i < n; ++i) {
    const uint8_t* ip = rte_pktmbuf_mtod(pkts[i], const uint8_t*);
    if (is_martian(ip, ip[0] >> 4 == 6)) [[unlikely]] {
      drop(pkts[i], GatewayDrop::kMartian);
      continue;
    }
    live_from[nlive] = from[i];
    live[nlive++] = pkts[i];
  }
  SpdMatch match[kBurst];
  t_.spd->outbound()->classify(std::span<rte_mbuf* const>(live, nlive), match, id_);
  rte_mbuf* sealed[kBurst];  // to encrypt again (one multi-SA engine call), then to route
  uint32_t sealed_slot[kBurst];
  rte_mbuf* pass[kBurst];    // forwarded as before: protected ports only
  rte_mbuf* unmatched[kBurst];
  uint32_t unmatched_from[kBurst];
  uint16_t nsealed = 0, npass = 0, nunmatched = 0;
  for (uint16_t i = 0; i < nlive; ++i) {
    if (match[i].action == PolicyAction::kDiscard) {
      if (match[i].rule == SpdMatch::kNoRule) {
        unmatched_from[nunmatched] = live_from[i];
        unmatched[nunmatched++] = live[i];
      } else {
        drop(live[i], match[i].rule == SpdMatch::kInvalid ? GatewayDrop::kBadExtHeaders : GatewayDrop::kPolicyDiscard);
      }
    } else if (match[i].action == PolicyAction::kBypass) {
      pass[npass++] = live[i];
    } else if (same_peer(live_from[i], match[i].sa_index)) [[unlikely]] {
      drop(live[i], GatewayDrop::kHubLoop);
    } else {
      sealed_slot[nsealed] = match[i].sa_index;
      sealed[nsealed++] = live[i];
    }
  }
  // Unmatched: a route into a tunnel interface encrypts with the tunnel's SA (before the default
  // action, as for traffic from a protected port); any other route is forward()'s business.
  if (nunmatched && t_.tunnels == 0) {
    for (uint16_t i = 0; i < nunmatched; ++i) pass[npass++] = unmatched[i];
  } else if (nunmatched) {
    uint32_t nh[kBurst];
    lookup_next_hops(unmatched, nunmatched, nh);
    for (uint16_t i = 0; i < nunmatched; ++i) {
      const NextHop& hop = t_.fib->next_hop(nh[i]);
      if (hop.kind != NextHopKind::kTunnel) {
        pass[npass++] = unmatched[i];
        continue;
      }
      if (hop.tunnel >= t_.tunnels) {
        drop(unmatched[i], GatewayDrop::kNoRoute);
        continue;
      }
      const uint32_t slot = t_.tunnel_sa[hop.tunnel].load(std::memory_order_acquire);
      if (same_peer(unmatched_from[i], slot)) [[unlikely]] {
        drop(unmatched[i], GatewayDrop::kHubLoop);
        continue;
      }
      sealed_slot[nsealed] = slot;
      sealed[nsealed++] = unmatched[i];
    }
  }
  if (nsealed) nsealed = encap(sealed_slot, sealed, nsealed, now);
  if (npass) forward(pass, npass, now, false, false, true);
  if (nsealed) forward(sealed, nsealed, now, false);
}

}  // namespace esprit
