// port_frames(): the frame sizes a port's MTU needs, before the EAL probes the device. Pure string
// and arithmetic work; the numbers for net_af_packet follow its DPDK 22.11 driver (TPACKET_V2).
#include <gtest/gtest.h>

#include "esprit/fastpath/port.hpp"

namespace esprit {
namespace {

TEST(PortFrames, PhysicalAndOtherVdevsKeepTheirDevice) {
  for (const char* dev : {"0000:03:00.0", "0000:03:00.0,rx_low_latency=1", "net_pcap0,rx_pcap=a.pcap", "net_tap0"}) {
    const PortFrames f = port_frames(dev, 9000);
    EXPECT_EQ(f.device, dev);
    EXPECT_EQ(f.rx_frame, 9014u) << dev;
  }
  EXPECT_EQ(port_frames("net_null0", 1500).rx_frame, 1514u);
}

TEST(PortFrames, AfPacketGetsFramesForJumboAndKernelReassembly) {
  // MTU 1500: frames still take 9000 bytes of IP (the kernel reassembles IPv4 fragments first).
  const PortFrames f = port_frames("net_af_packet0,iface=veth0", 1500);
  EXPECT_EQ(f.device, "net_af_packet0,iface=veth0,blocksz=20480,framesz=10240");
  EXPECT_EQ(f.rx_frame, 10240u - 32);
  EXPECT_GE(f.rx_frame, 9000u + 14);
  // MTU 9000 gives the same; a larger MTU larger frames, blocks of whole pages.
  EXPECT_EQ(port_frames("net_af_packet0,iface=veth0", 9000).device, f.device);
  const PortFrames big = port_frames("eth_af_packet1,iface=eth1", 16000);
  EXPECT_EQ(big.device, "eth_af_packet1,iface=eth1,blocksz=16384,framesz=16384");
  EXPECT_GE(big.rx_frame, 16000u + 14);
  // The operator's framesz wins (and bounds the frames); blocksz given alone is kept.
  const PortFrames own = port_frames("net_af_packet0,iface=veth0,framesz=4096,blocksz=4096", 1500);
  EXPECT_EQ(own.device, "net_af_packet0,iface=veth0,framesz=4096,blocksz=4096");
  EXPECT_EQ(own.rx_frame, 4096u - 32);
  EXPECT_EQ(port_frames("net_af_packet0,iface=veth0,blocksz=65536", 1500).device,
            "net_af_packet0,iface=veth0,blocksz=65536,framesz=10240");
}

}  // namespace
}  // namespace esprit
