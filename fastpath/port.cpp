#include "esprit/fastpath/port.hpp"

#include <net/if.h>
#include <rte_dev.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_mbuf.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>

namespace esprit {
namespace {

std::string err_text(int rc) { return rte_strerror(rc < 0 ? -rc : rc); }

/// The ethdev name of a device string: the part before the first ',' ("net_pcap0,rx_pcap=a").
std::string device_name(const std::string& device) { return device.substr(0, device.find(',')); }

/// The value of devarg `key` in "name,k=v,k=v", or nullopt.
std::optional<std::string> devarg(const std::string& device, const std::string& key) {
  std::size_t pos = device.find(',');
  while (pos != std::string::npos) {
    const std::size_t end = device.find(',', pos + 1);
    const std::string kv = device.substr(pos + 1, end == std::string::npos ? std::string::npos : end - pos - 1);
    if (kv.rfind(key + "=", 0) == 0) return kv.substr(key.size() + 1);
    pos = end;
  }
  return std::nullopt;
}

bool is_af_packet(const std::string& device) {
  const std::string n = device_name(device);
  return n.rfind("net_af_packet", 0) == 0 || n.rfind("eth_af_packet", 0) == 0;
}

// net_af_packet (DPDK 22.11, TPACKET_V2): the kernel writes a received frame 34 bytes into its ring
// frame (TPACKET_ALIGN(32 + 16) - 14) and cuts what does not fit; the driver requires mbufs of at
// least framesz - 32 data bytes and sends at most framesz - 32 bytes.
constexpr uint32_t kAfPacketRxOffset = 34;
constexpr uint32_t kAfPacketDataOffset = 32;
/// IPv4 datagrams the kernel reassembles before af_packet sees them fit frames of this much IP.
constexpr uint32_t kAfPacketMinIp = 9000;

/// Sets the MTU of the Linux interface `if_index` (what net_af_packet's own mtu_set does).
int set_kernel_mtu(uint32_t if_index, uint16_t mtu) {
  char name[IF_NAMESIZE];
  if (!if_indextoname(if_index, name)) return -errno;
  ifreq ifr{};
  static_assert(sizeof(ifr.ifr_name) == IF_NAMESIZE);
  std::memcpy(ifr.ifr_name, name, sizeof(ifr.ifr_name));  // NUL-terminated by if_indextoname
  ifr.ifr_mtu = mtu;
  const int s = socket(AF_INET, SOCK_DGRAM, 0);
  if (s < 0) return -errno;
  const int rc = ioctl(s, SIOCSIFMTU, &ifr) < 0 ? -errno : 0;
  close(s);
  return rc;
}

}  // namespace

PortFrames port_frames(const std::string& device, uint16_t mtu) {
  PortFrames f{device, mtu + kPortL2Overhead};
  if (!is_af_packet(device)) return f;
  const auto framesz = devarg(device, "framesz");
  if (framesz) {  // the operator's choice; the driver checks it against the mbufs
    const unsigned long v = std::strtoul(framesz->c_str(), nullptr, 10);
    f.rx_frame = static_cast<uint32_t>(v > kAfPacketDataOffset ? v - kAfPacketDataOffset : 0);
    return f;
  }
  // Frames for max(mtu, 9000) bytes of IP, in 2 KiB steps; blocks of whole pages holding whole frames.
  const uint32_t need = std::max<uint32_t>(mtu, kAfPacketMinIp) + kPortL2Overhead + kAfPacketRxOffset;
  const uint32_t frame = (need + 2047) / 2048 * 2048;
  const uint32_t block = frame % 4096 == 0 ? frame : 2 * frame;
  if (!devarg(device, "blocksz")) f.device += ",blocksz=" + std::to_string(block);
  f.device += ",framesz=" + std::to_string(frame);
  f.rx_frame = frame - kAfPacketDataOffset;
  return f;
}

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
  // Frames of the MTU must reach the worker whole: in one mbuf, or in several (RX scatter) that
  // the worker puts together (GatewayTables::jumbo_pool). The ESP engine never sees a chain.
  const uint32_t frame = spec.mtu + kPortL2Overhead;
  const uint32_t room = rte_pktmbuf_data_room_size(pool) - RTE_PKTMBUF_HEADROOM;
  if (frame > room) {
    if (!(info.rx_offload_capa & RTE_ETH_RX_OFFLOAD_SCATTER))
      return fail("mtu " + std::to_string(spec.mtu) + ": frames of " + std::to_string(frame) +
                  " bytes do not fit the mbufs' " + std::to_string(room) + " bytes and the device has no RX scatter");
    conf.rxmode.offloads |= RTE_ETH_RX_OFFLOAD_SCATTER;
  }
  if (int rc = rte_eth_dev_configure(id, spec.rx_queues, txq, &conf); rc != 0) return fail("configure: " + err_text(rc));
  if (int rc = rte_eth_dev_set_mtu(id, spec.mtu); rc != 0 && rc != -ENOTSUP) {
    // DPDK 22.11 checks the MTU against the driver's max_rx_pktlen, which net_af_packet reports as
    // 1518 whatever its frames hold: for a device bound to a Linux interface, set the interface's
    // MTU (the driver's own mtu_set does no more); its frames were sized by port_frames().
    if (rc != -EINVAL || info.if_index == 0 || spec.mtu + kPortL2Overhead <= info.max_rx_pktlen)
      return fail("set_mtu " + std::to_string(spec.mtu) + ": " + err_text(rc));
    if (int krc = set_kernel_mtu(info.if_index, spec.mtu); krc != 0)
      return fail("mtu " + std::to_string(spec.mtu) + " on interface " + std::to_string(info.if_index) + ": " +
                  std::strerror(-krc));
  }

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
