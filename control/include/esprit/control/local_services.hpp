// What the control core does for packets the workers punt to it: IKE goes to the IkeTransport
// (ike_io.hpp); the rest is answered here: ARP, ICMP echo,
// IPv6 neighbour discovery and echo, and the neighbour table's probes and released packets.
// Replies leave through each port's control TX queue, which no worker uses.
#pragma once

#include <chrono>
#include <cstdint>
#include <vector>

#include "esprit/fastpath/gateway.hpp"
#include "esprit/fastpath/neighbor.hpp"

struct rte_mbuf;
struct rte_mempool;

namespace esprit {

struct LocalServiceCounters {
  uint64_t arp_requests = 0;   ///< ARP requests for one of our addresses, answered
  uint64_t arp_replies = 0;    ///< ARP replies learnt
  uint64_t echo_replies = 0;   ///< ICMP / ICMPv6 echo replies sent
  uint64_t nd_solicits = 0;    ///< neighbour solicitations for our addresses, answered
  uint64_t nd_adverts = 0;     ///< neighbour advertisements learnt
  uint64_t probes_sent = 0;    ///< ARP requests / neighbour solicitations we sent
  uint64_t released = 0;       ///< held packets sent after resolution
  uint64_t ike = 0;            ///< UDP frames punted as IKE: handed to the IkeTransport (dropped without one)
  uint64_t ignored = 0;        ///< anything else punted
  uint64_t tx_full = 0;        ///< control TX queue refused a packet
};

class IkeTransport;

class LocalServices {
 public:
  LocalServices(GatewayTables& tables, rte_mempool* pool) : t_(tables), pool_(pool) {}

  /// Punted IKE frames (UDP 500, UDP 4500 with the non-ESP marker) go to `ike` (nullptr: dropped).
  void set_ike(IkeTransport* ike) noexcept { ike_ = ike; }

  /// Drains the punt ring and the neighbour table's requests and timers once; returns the punted
  /// frames it handled (0: an idle turn).
  uint32_t poll(std::chrono::nanoseconds now);
  [[nodiscard]] const LocalServiceCounters& counters() const noexcept { return c_; }

 private:
  void handle(rte_mbuf* m, std::chrono::nanoseconds now);
  void handle_arp(uint16_t port, rte_mbuf* m, std::chrono::nanoseconds now);
  void handle_icmp4(uint16_t port, rte_mbuf* m);
  void handle_icmp6(uint16_t port, rte_mbuf* m, std::chrono::nanoseconds now);
  void act(std::chrono::nanoseconds now);
  void probe(const NeighborProbe& p);
  void send(uint16_t port, rte_mbuf* m);
  [[nodiscard]] const IpAddress* source_for(uint16_t port, bool v6) const;

  GatewayTables& t_;
  rte_mempool* pool_;
  IkeTransport* ike_ = nullptr;
  NeighborActions actions_;
  LocalServiceCounters c_;
};

}  // namespace esprit
