// An Ethernet port driven by a DPDK poll-mode driver: a PCI device ("0000:03:00.0") or a virtual
// device string ("net_af_packet0,iface=veth0", "net_pcap0,rx_pcap=in.pcap,tx_pcap=out.pcap",
// "net_tap0", "net_memif0,...", "net_null0", "net_ring0"). The same code drives both: a
// device string is probed with rte_dev_probe unless the EAL already probed it (PCI allowlist).
#pragma once

#include <rte_ether.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "esprit/common/config.hpp"  // PortRole

struct rte_mempool;

namespace esprit {

struct PortSpec {
  std::string name;    ///< ours, for logs and counters
  std::string device;  ///< PCI address or vdev string, with devargs after the first ','
  std::string ethdev_name{};  ///< the ethdev's name ("0000:03:00.0", "net_pcap0"); empty: from `device`
  PortRole role = PortRole::kProtected;
  uint16_t mtu = 1500;
  uint16_t rx_queues = 1;
  uint16_t tx_queues = 1;  ///< for workers; one more queue is added for the control core
  /// false: no TX queue for the control core even if the device has one to spare (its frames
  /// then go through GatewayTables::control_tx).
  bool control_tx_queue = true;
  /// Set as the port's MAC (rte_eth_dev_default_mac_addr_set); nullopt: the device's own.
  std::optional<rte_ether_addr> mac{};
  uint16_t rx_desc = 1024;
  uint16_t tx_desc = 1024;
  bool promiscuous = false;  ///< a gateway only needs frames for its own MAC
};

/// Frame sizes a port needs for its MTU, known before the EAL probes the device.
struct PortFrames {
  /// The device string to probe: `device`, plus for net_af_packet `framesz`/`blocksz` when they are
  /// not given (its default 2048-byte frames cut anything above a 1500 MTU).
  std::string device;
  /// The largest frame (Ethernet header included) the port may deliver, which its RX mbufs must
  /// hold in one segment: `mtu` + 14; for net_af_packet what its frames hold (framesz - 32, the
  /// driver's own check), at least 9014 bytes when espritd chose framesz: its kernel socket
  /// reassembles IPv4 fragments (PACKET_FANOUT_FLAG_DEFRAG) into datagrams larger than the MTU.
  uint32_t rx_frame = 0;
};
[[nodiscard]] PortFrames port_frames(const std::string& device, uint16_t mtu);

/// Ethernet header bytes counted in a frame on top of the IP MTU (no VLAN tag, no FCS).
inline constexpr uint32_t kPortL2Overhead = 14;

class Port {
 public:
  /// Probes (if needed), configures and starts the device. RSS is enabled when rx_queues > 1.
  /// The port's MTU is set on the device (rte_eth_dev_set_mtu; for a device bound to a Linux
  /// interface whose driver refuses MTUs above its 1518-byte frames, net_af_packet in DPDK 22.11,
  /// on the interface itself). Frames of `mtu` + 14 bytes that do not fit one mbuf of `pool` need
  /// RX scatter (multi-segment mbufs): enabled when the device has it, else an error.
  static std::unique_ptr<Port> open(const PortSpec& spec, rte_mempool* pool, std::string* error);
  ~Port();
  Port(const Port&) = delete;
  Port& operator=(const Port&) = delete;

  [[nodiscard]] uint16_t id() const noexcept { return id_; }
  [[nodiscard]] const PortSpec& spec() const noexcept { return spec_; }
  [[nodiscard]] const rte_ether_addr& mac() const noexcept { return mac_; }
  /// The control core's own TX queue, or kNoControlQueue when the device has no queue to spare
  /// (then control packets go through GatewayTables::control_tx, drained by the worker of queue 0).
  [[nodiscard]] uint16_t control_tx_queue() const noexcept { return control_queue_; }
  static constexpr uint16_t kNoControlQueue = UINT16_MAX;
  /// Device TX offloads in use (IPv4 checksum), so workers can choose software or hardware.
  [[nodiscard]] bool tx_ipv4_cksum_offload() const noexcept { return tx_ipv4_cksum_; }

 private:
  Port(const PortSpec& spec, uint16_t id) : spec_(spec), id_(id) {}
  PortSpec spec_;
  uint16_t id_;
  rte_ether_addr mac_{};
  bool tx_ipv4_cksum_ = false;
  uint16_t control_queue_ = kNoControlQueue;
  bool started_ = false;
};

}  // namespace esprit
