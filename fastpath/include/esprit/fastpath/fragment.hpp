// Packets that do not fit the path: outbound fragmentation (of the ESP packet after encryption,
// or of the inner packet before it), TCP MSS clamping on tunnel traffic, and the bounded inbound
// reassembly of fragmented ESP addressed to the gateway. docs/fragmentation.md tells the story.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "esprit/common/config.hpp"  // FragmentMode, TcpMssClamp
#include "esprit/common/ip_address.hpp"

struct rte_mbuf;
struct rte_mempool;
struct rte_ip_frag_tbl;
struct rte_ip_frag_death_row;

namespace esprit {

/// Per SAD slot: what the configuration says about the SA's (or its tunnel's) packets that do not
/// fit, and the MSS clamp. A side table like GatewayTables::sa_selectors.
struct SaPathOptions {
  FragmentMode fragmentation = FragmentMode::kPost;
  TcpMssClamp tcp_mss;
  uint16_t inner_mtu = 0;  ///< the tunnel's `mtu`; 0: egress port MTU minus the SA's ESP overhead
  IpAddress remote;        ///< the peer: the route to it gives the egress port and its MTU
  bool configured = false; ///< false: a slot without options (defaults, no clamp)
};

/// The MSS a clamp gives for inner packets that may be `max_inner` bytes long (0: no clamp).
/// `auto`: max_inner - 40 (IPv4) / - 60 (IPv6), never below 536 / 1220.
[[nodiscard]] uint16_t clamp_mss_value(const TcpMssClamp& clamp, uint32_t max_inner, bool v6) noexcept;

/// Lowers the MSS option of a TCP SYN (or SYN-ACK) in the IP packet at `l3` (`len` bytes) to `mss`
/// when it is larger, and fixes the TCP checksum incrementally (RFC 1624 eqn. 3). Packets that are
/// not TCP SYNs, non-first fragments and malformed options are left alone. True when rewritten.
bool clamp_tcp_mss(uint8_t* l3, uint32_t len, uint16_t mss) noexcept;

/// Whether the IP packet at `l3` is a fragment: IPv4 MF or offset, IPv6 a fragment header right
/// after the fixed header. `len` >= 20 / 40 is the caller's business.
[[nodiscard]] bool is_fragment(const uint8_t* l3, bool v6) noexcept;

/// Most fragments one packet is cut into (64 KiB at the IPv4 minimum MTU of 68 needs more: refused).
inline constexpr uint16_t kMaxFragments = 64;

/// Splits the IP packet in `m` (starting at its IP header, IPv4 without DF or IPv6 without
/// extension headers) into fragments of at most `mtu` bytes of IP: out[0, k) are chained mbufs (a
/// direct one with the header, indirect ones pointing into `m`), IPv4 header checksums filled in,
/// IPv6 fragment headers carrying `id`. On success `m` is released (the fragments keep its data
/// alive); on failure (0) `m` stays with the caller.
[[nodiscard]] uint16_t fragment_packet(rte_mbuf* m, uint16_t mtu, rte_mbuf** out, uint16_t max_out,
                                       rte_mempool* direct, rte_mempool* indirect, uint32_t id) noexcept;

/// Makes the packet in `m` contiguous (one segment): in place when its first segment has the
/// room (rte_pktmbuf_linearize), else copied into one mbuf of `big` (metadata copied, `m` freed).
/// Returns the one-segment packet, or nullptr when neither fits (`big` null, empty, or its data
/// room too small); then `m` is untouched and still the caller's.
[[nodiscard]] rte_mbuf* make_contiguous(rte_mbuf* m, rte_mempool* big) noexcept;

/// One worker's reassembly of fragmented packets addressed to the gateway (rte_ip_frag), bounded
/// in entries, in fragments per packet (at most RTE_LIBRTE_IP_FRAG_MAX_FRAG, 8) and in time.
class Reassembler {
 public:
  struct Options {
    uint32_t max_entries = 128;  ///< packets being reassembled at once (power-of-two buckets of 4)
    std::chrono::nanoseconds timeout = std::chrono::seconds(3);
    /// Fragments of one packet, 2..8: rte_ip_frag refuses a 9th itself; below 8 a side table of
    /// counts per (source, destination, identification) refuses the rest of the packet's fragments.
    uint32_t max_fragments = 8;
  };
  static std::unique_ptr<Reassembler> create(const Options& options, int socket, std::string* error);
  ~Reassembler();
  Reassembler(const Reassembler&) = delete;
  Reassembler& operator=(const Reassembler&) = delete;

  struct Result {
    rte_mbuf* packet = nullptr;  ///< the whole packet (still starting at its L2 header), or nullptr
    uint32_t dropped = 0;        ///< fragments this call gave up on (overlap, too many, table full)
  };
  /// Takes a fragment that starts at its 14-byte Ethernet header, IP header checked by the caller;
  /// `l3_len`: IPv4 header bytes, or 48 (IPv6 header and fragment header). The fragment is owned by
  /// the reassembler from here on.
  Result add(rte_mbuf* m, bool v6, uint32_t l3_len, std::chrono::nanoseconds now) noexcept;
  /// Gives up on packets older than the timeout; returns the fragments released. Frees what the
  /// table released (the death row): call it once per poll.
  uint32_t expire(std::chrono::nanoseconds now) noexcept;

 private:
  /// Fragments seen of one packet (keyed by a hash of its identity), for max_fragments below 8.
  struct Count {
    uint64_t key = 0;
    uint64_t first_ns = 0;
    uint32_t n = 0;
  };
  Reassembler(rte_ip_frag_tbl* tbl, std::unique_ptr<rte_ip_frag_death_row> dr, const Options& o);
  /// The count entry of the packet of fragment `ip` (IPv4 or IPv6 with its fragment header).
  Count& count_of(const uint8_t* ip, bool v6, uint64_t& key) noexcept;
  rte_ip_frag_tbl* tbl_;
  std::unique_ptr<rte_ip_frag_death_row> dr_;
  Options options_;
  std::unique_ptr<Count[]> counts_;  ///< power of two, null when max_fragments is rte_ip_frag's own
  uint32_t counts_mask_ = 0;
};

}  // namespace esprit
