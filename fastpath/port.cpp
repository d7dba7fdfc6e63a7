#include "esprit/fastpath/port.hpp"

#include <rte_dev.h>
#include <rte_errno.h>
#include <rte_ethdev.h>

#include <cstring>

namespace esprit {
namespace {

std::string err_text(int rc) { return rte_strerror(rc < 0 ? -rc : rc); }

/// The ethdev name of a device string: the part before the first ',' ("net_pcap0,rx_pcap=a").
std::string device_name(const std::string& device) { return device.substr(0, device.find(',')); }

}  // namespace

std::unique_ptr<Port> Port::open(const PortSpec& spec, rte_mempool* pool, std::string* error) {
  auto fail = [&](const std::string& what) -> std::unique_ptr<Port> {
    if (error) *error = "port " + spec.name + " (" + spec.device + "): " + what;
    return nullptr;
  };
  const std::string name = spec.ethdev_name.empty() ? device_name(spec.device) : spec.ethdev_name;
  uint16_t id;
  if (rte_eth_dev_get_port_by_name(name.c_str(), &id) != 0) {
    const int rc = rte_dev_probe(spec.device.c_str());
    if (rc != 0) return fail("probe failed: " + err_text(rc));
    if (rte_eth_dev_get_port_by_name(name.c_str(), &id) != 0) return fail("no ethdev named " + name + " after probe");
  }
  auto port = std::unique_ptr<Port>(new Port(spec, id));

  rte_eth_dev_info info{};
  if (int rc = rte_eth_dev_info_get(id, &info); rc != 0) return fail("dev_info: " + err_text(rc));
  if (spec.rx_queues > info.max_rx_queues) return fail("rx_queues above the device's " + std::to_string(info.max_rx_queues));
  if (spec.tx_queues > info.max_tx_queues) return fail("tx_queues above the device's " + std::to_string(info.max_tx_queues));
  // The control core gets a TX queue of its own when the device has one more; otherwise its
  // packets go through a ring that the worker owning queue 0 drains (never two writers on a queue).
  port->control_queue_ =
      spec.control_tx_queue && spec.tx_queues < info.max_tx_queues ? spec.tx_queues : kNoControlQueue;
  const uint16_t txq = static_cast<uint16_t>(spec.tx_queues + (port->control_queue_ != kNoControlQueue ? 1 : 0));

  rte_eth_conf conf{};
  if (spec.rx_queues > 1) {
    conf.rxmode.mq_mode = RTE_ETH_MQ_RX_RSS;
    conf.rx_adv_conf.rss_conf.rss_hf = (RTE_ETH_RSS_IP | RTE_ETH_RSS_UDP) & info.flow_type_rss_offloads;
  }
  if (info.tx_offload_capa & RTE_ETH_TX_OFFLOAD_IPV4_CKSUM) {
    conf.txmode.offloads |= RTE_ETH_TX_OFFLOAD_IPV4_CKSUM;
    port->tx_ipv4_cksum_ = true;
  }
  if (info.tx_offload_capa & RTE_ETH_TX_OFFLOAD_MULTI_SEGS) conf.txmode.offloads |= RTE_ETH_TX_OFFLOAD_MULTI_SEGS;
  // The NIC checks received IPv4 header checksums when it can (RTE_MBUF_F_RX_IP_CKSUM_GOOD / BAD);
  // the worker checks in software what arrives flagged UNKNOWN.
  if (info.rx_offload_capa & RTE_ETH_RX_OFFLOAD_IPV4_CKSUM) conf.rxmode.offloads |= RTE_ETH_RX_OFFLOAD_IPV4_CKSUM;
  if (int rc = rte_eth_dev_configure(id, spec.rx_queues, txq, &conf); rc != 0) return fail("configure: " + err_text(rc));
  if (int rc = rte_eth_dev_set_mtu(id, spec.mtu); rc != 0 && rc != -ENOTSUP)
    return fail("set_mtu " + std::to_string(spec.mtu) + ": " + err_text(rc));

  uint16_t rx_desc = spec.rx_desc;
  uint16_t tx_desc = spec.tx_desc;
  if (int rc = rte_eth_dev_adjust_nb_rx_tx_desc(id, &rx_desc, &tx_desc); rc != 0)
    return fail("descriptors: " + err_text(rc));
  const int socket = rte_eth_dev_socket_id(id);
  for (uint16_t q = 0; q < spec.rx_queues; ++q) {
    if (int rc = rte_eth_rx_queue_setup(id, q, rx_desc, socket, nullptr, pool); rc != 0)
      return fail("rx queue " + std::to_string(q) + ": " + err_text(rc));
  }
  rte_eth_txconf txconf = info.default_txconf;
  txconf.offloads = conf.txmode.offloads;
  for (uint16_t q = 0; q < txq; ++q) {
    if (int rc = rte_eth_tx_queue_setup(id, q, tx_desc, socket, &txconf); rc != 0)
      return fail("tx queue " + std::to_string(q) + ": " + err_text(rc));
  }
  if (spec.mac) {
    rte_ether_addr mac = *spec.mac;
    if (int rc = rte_eth_dev_default_mac_addr_set(id, &mac); rc != 0)
      return fail("cannot set the MAC address (mac): " + err_text(rc));
  }
  if (int rc = rte_eth_dev_start(id); rc != 0) return fail("start: " + err_text(rc));
  port->started_ = true;
  if (spec.promiscuous) {
    if (int rc = rte_eth_promiscuous_enable(id); rc != 0 && rc != -ENOTSUP) return fail("promiscuous: " + err_text(rc));
  }
  rte_eth_macaddr_get(id, &port->mac_);
  return port;
}

Port::~Port() {
  if (started_) {
    (void)rte_eth_dev_stop(id_);
    (void)rte_eth_dev_close(id_);
  }
}

}  // namespace esprit
