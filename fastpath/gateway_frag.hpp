// Private to the gateway worker: the per-worker state of gateway_frag.cpp.
#pragma once

#include <memory>

#include "esprit/fastpath/fragment.hpp"
#include "esprit/fastpath/gateway.hpp"
#include "esprit/fastpath/icmp_error.hpp"

namespace esprit {

struct GatewayWorker::FragState {
  static constexpr uint16_t kIcmpQueue = 64;
  static constexpr uint16_t kFragQueue = 4 * kMaxFragments;
  std::unique_ptr<Reassembler> reassembler;
  IcmpRateLimiter limiter;  ///< GatewayTables::icmp_rate / icmp_burst (RFC 4443 2.4 (f))
  uint16_t ip_id = 0;
  uint16_t min_mtu = 0;  ///< the smallest MTU of our ports: below it no route lookup is needed
  uint32_t frag_id = 0;
  uint16_t nicmp = 0;
  uint16_t nicmp_tunnel = 0;
  uint16_t nfrags = 0;
  rte_mbuf* icmp[kIcmpQueue];         ///< routed back the way the packet came
  rte_mbuf* icmp_tunnel[kIcmpQueue];  ///< about decrypted packets: through the outbound SPD
  rte_mbuf* frags[kFragQueue];
};

}  // namespace esprit
