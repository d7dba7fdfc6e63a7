// Fragmentation, MSS clamping and reassembly (see fragment.hpp).
#define ALLOW_EXPERIMENTAL_API 1  // rte_ip_frag_table_del_expired_entries (experimental in 22.11)
#include "esprit/fastpath/fragment.hpp"

#include <rte_hash_crc.h>
#include <rte_ip.h>
#include <rte_ip_frag.h>
#include <rte_mbuf.h>

#include <algorithm>
#include <cstring>

#include "esprit/fastpath/net_constants.hpp"

namespace esprit {
namespace {

inline uint16_t be16(const uint8_t* p) noexcept { return static_cast<uint16_t>(p[0] << 8 | p[1]); }

/// RFC 1624 eqn. 3: HC' = ~(~HC + ~m + m') for each changed 16-bit word.
inline void csum_replace(uint8_t* csum, uint16_t old_word, uint16_t new_word) noexcept {
  uint32_t s = static_cast<uint16_t>(~be16(csum)) + uint32_t{static_cast<uint16_t>(~old_word)} + new_word;
  s = (s & 0xffff) + (s >> 16);
  s = (s & 0xffff) + (s >> 16);
  const uint16_t r = static_cast<uint16_t>(~s);
  csum[0] = static_cast<uint8_t>(r >> 8);
  csum[1] = static_cast<uint8_t>(r);
}

}  // namespace

uint16_t clamp_mss_value(const TcpMssClamp& clamp, uint32_t max_inner, bool v6) noexcept {
  switch (clamp.mode) {
    case TcpMssClamp::Mode::kOff:
      return 0;
    case TcpMssClamp::Mode::kFixed:
      return clamp.value;
    case TcpMssClamp::Mode::kAuto: {
      const uint32_t hdrs = v6 ? 60 : 40;
      const uint32_t floor = v6 ? 1220 : kMinTcpMss;
      if (max_inner == 0) return 0;  // path unknown: leave the SYN alone
      return static_cast<uint16_t>(std::clamp<uint32_t>(max_inner > hdrs ? max_inner - hdrs : 0, floor, kMaxTcpMss));
    }
  }
  return 0;
}

bool clamp_tcp_mss(uint8_t* l3, uint32_t len, uint16_t mss) noexcept {
  if (mss == 0 || len < 20) return false;
  uint32_t l4, end;
  if (l3[0] >> 4 == 4) {
    l4 = (l3[0] & 15) * 4u;
    end = std::min<uint32_t>(len, be16(l3 + 2));
    if (l4 < 20 || l3[9] != net::kProtoTcp || (be16(l3 + 6) & 0x1fff) != 0) return false;
  } else if (l3[0] >> 4 == 6 && len >= 40) {
    l4 = 40;
    end = std::min<uint32_t>(len, 40u + be16(l3 + 4));
    uint8_t nh = l3[6];
    if (nh == net::kProtoFragment) {  // a first fragment still carries the TCP header
      if (end < 48 || (be16(l3 + 42) & 0xfff8) != 0) return false;
      nh = l3[40];
      l4 = 48;
    }
    if (nh != net::kProtoTcp) return false;
  } else {
    return false;
  }
  if (end < l4 + 20) return false;
  uint8_t* tcp = l3 + l4;
  const uint32_t seg = end - l4;
  if (!(tcp[13] & 0x02)) return false;  // SYN
  const uint32_t doff = (tcp[12] >> 4) * 4u;
  if (doff < 20 || doff > seg) return false;
  for (uint32_t i = 20; i < doff;) {
    const uint8_t kind = tcp[i];
    if (kind == 0) break;  // end of option list
    if (kind == 1) {       // no-operation
      ++i;
      continue;
    }
    if (i + 1 >= doff) return false;
    const uint8_t olen = tcp[i + 1];
    if (olen < 2 || i + olen > doff) return false;
    if (kind == 2 && olen == 4) {
      if (be16(tcp + i + 2) <= mss) return false;
      const uint32_t v = i + 2;  // offset of the MSS value in the segment
      if (v % 2 == 0) {
        const uint16_t old_word = be16(tcp + v);
        tcp[v] = static_cast<uint8_t>(mss >> 8);
        tcp[v + 1] = static_cast<uint8_t>(mss);
        csum_replace(tcp + 16, old_word, mss);
      } else {
        // The value straddles two checksum words: [v-1, v] and [v+1, v+2].
        if (v + 2 >= seg) return false;
        const uint16_t w1 = be16(tcp + v - 1), w2 = be16(tcp + v + 1);
        tcp[v] = static_cast<uint8_t>(mss >> 8);
        tcp[v + 1] = static_cast<uint8_t>(mss);
        csum_replace(tcp + 16, w1, be16(tcp + v - 1));
        csum_replace(tcp + 16, w2, be16(tcp + v + 1));
      }
      return true;
    }
    i += olen;
  }
  return false;
}

bool is_fragment(const uint8_t* l3, bool v6) noexcept {
  if (!v6) return (be16(l3 + 6) & 0x3fff) != 0;  // MF or an offset
  return l3[6] == net::kProtoFragment;
}

uint16_t fragment_packet(rte_mbuf* m, uint16_t mtu, rte_mbuf** out, uint16_t max_out, rte_mempool* direct,
                         rte_mempool* indirect, uint32_t id) noexcept {
  if (!direct || !indirect) return 0;
  const bool v6 = rte_pktmbuf_mtod(m, const uint8_t*)[0] >> 4 == 6;
  const int32_t k = v6 ? rte_ipv6_fragment_packet(m, out, max_out, mtu, direct, indirect)
                       : rte_ipv4_fragment_packet(m, out, max_out, mtu, direct, indirect);
  if (k <= 0) return 0;
  for (int32_t i = 0; i < k; ++i) {
    uint8_t* ip = rte_pktmbuf_mtod(out[i], uint8_t*);
    out[i]->ol_flags = 0;
    out[i]->port = m->port;
    if (!v6) {
      auto* h = reinterpret_cast<rte_ipv4_hdr*>(ip);
      h->hdr_checksum = 0;
      h->hdr_checksum = rte_ipv4_cksum(h);
    } else {
      // rte_ipv6_fragment_packet leaves the identification 0: every packet needs its own.
      const uint32_t be = rte_cpu_to_be_32(id);
      std::memcpy(ip + 40 + 4, &be, 4);
    }
  }
  rte_pktmbuf_free(m);
  return static_cast<uint16_t>(k);
}

rte_mbuf* make_contiguous(rte_mbuf* m, rte_mempool* big) noexcept {
  if (m->nb_segs == 1) return m;
  if (rte_pktmbuf_linearize(m) == 0) return m;
  if (!big) return nullptr;
  const uint32_t len = m->pkt_len;
  if (len + RTE_PKTMBUF_HEADROOM > uint32_t{rte_pktmbuf_data_room_size(big)}) return nullptr;
  rte_mbuf* c = rte_pktmbuf_alloc(big);
  if (!c) return nullptr;
  uint8_t* dst = reinterpret_cast<uint8_t*>(rte_pktmbuf_append(c, static_cast<uint16_t>(len)));
  uint32_t off = 0;
  for (const rte_mbuf* s = m; s; s = s->next) {
    std::memcpy(dst + off, rte_pktmbuf_mtod(s, const uint8_t*), s->data_len);
    off += s->data_len;
  }
  c->port = m->port;
  c->ol_flags = m->ol_flags;
  c->packet_type = m->packet_type;
  c->hash = m->hash;
  c->tx_offload = m->tx_offload;
  c->vlan_tci = m->vlan_tci;
  rte_pktmbuf_free(m);
  return c;
}

Reassembler::Reassembler(rte_ip_frag_tbl* tbl, std::unique_ptr<rte_ip_frag_death_row> dr, const Options& o)
    : tbl_(tbl), dr_(std::move(dr)), options_(o) {
  if (o.max_fragments < RTE_LIBRTE_IP_FRAG_MAX_FRAG) {
    const uint32_t n = rte_align32pow2(2 * std::max<uint32_t>(o.max_entries, 8));
    counts_ = std::make_unique<Count[]>(n);
    counts_mask_ = n - 1;
  }
}

Reassembler::Count& Reassembler::count_of(const uint8_t* ip, bool v6, uint64_t& key) noexcept {
  // The packet's identity as rte_ip_frag keys it: addresses and identification (and protocol).
  // Copied to an aligned buffer first: rte_hash_crc reads 8-byte words, and the IP header of a
  // frame behind a 14-byte Ethernet header is only 2-byte aligned.
  alignas(8) uint8_t k[40];
  uint32_t len, seed;
  if (!v6) {
    std::memcpy(k, ip + 12, 8);  // source and destination
    std::memcpy(k + 8, ip + 4, 2);  // identification
    len = 10;
    seed = ip[9];
  } else {
    std::memcpy(k, ip + 8, 32);
    std::memcpy(k + 32, ip + 44, 4);  // fragment header's identification
    len = 36;
    seed = 0;
  }
  const uint32_t h1 = rte_hash_crc(k, len, seed);
  const uint32_t h2 = rte_hash_crc(k, len, seed ^ 0x9e3779b9u);
  key = (uint64_t{h1} << 32 | h2) | 1;  // never 0 (a free entry)
  return counts_[h1 & counts_mask_];
}

Reassembler::~Reassembler() {
  rte_ip_frag_free_death_row(dr_.get(), 0);
  rte_ip_frag_table_destroy(tbl_);  // frees the fragments still held
}

std::unique_ptr<Reassembler> Reassembler::create(const Options& o, int socket, std::string* error) {
  constexpr uint32_t kBucketEntries = 4;
  const uint32_t buckets = rte_align32pow2(std::max<uint32_t>(1, (o.max_entries + kBucketEntries - 1) / kBucketEntries));
  rte_ip_frag_tbl* tbl = rte_ip_frag_table_create(buckets, kBucketEntries, o.max_entries,
                                                  static_cast<uint64_t>(o.timeout.count()), socket);
  if (!tbl) {
    if (error) *error = "reassembly table of " + std::to_string(o.max_entries) + " entries could not be created";
    return nullptr;
  }
  auto dr = std::make_unique<rte_ip_frag_death_row>();
  dr->cnt = 0;
  return std::unique_ptr<Reassembler>(new Reassembler(tbl, std::move(dr), o));
}

Reassembler::Result Reassembler::add(rte_mbuf* m, bool v6, uint32_t l3_len, std::chrono::nanoseconds now) noexcept {
  // rte_ip_frag appends to the death row without a bound check: keep room for one call (the
  // fragment and a full evicted entry).
  if (dr_->cnt + 2 * (RTE_LIBRTE_IP_FRAG_MAX_FRAG + 1) > RTE_IP_FRAG_DEATH_ROW_MBUF_LEN)
    rte_ip_frag_free_death_row(dr_.get(), 0);
  m->l2_len = 14;
  m->l3_len = l3_len;
  const uint32_t before = dr_->cnt;
  const uint64_t tms = static_cast<uint64_t>(now.count());
  uint8_t* ip = rte_pktmbuf_mtod_offset(m, uint8_t*, 14);
  Count* count = nullptr;
  if (counts_) {
    uint64_t key;
    count = &count_of(ip, v6, key);
    // A new packet, or one whose entry the table has given up on (timeout): count afresh. Two
    // packets hashing to one entry restart each other's count (bounded by rte_ip_frag's 8).
    if (count->key != key || tms - count->first_ns > static_cast<uint64_t>(options_.timeout.count()))
      *count = Count{key, tms, 0};
    if (++count->n > options_.max_fragments) {
      rte_pktmbuf_free(m);
      return Result{nullptr, 1};
    }
  }
  rte_mbuf* r =
      v6 ? rte_ipv6_frag_reassemble_packet(tbl_, dr_.get(), m, tms, reinterpret_cast<rte_ipv6_hdr*>(ip),
                                           reinterpret_cast<rte_ipv6_fragment_ext*>(ip + 40))
         : rte_ipv4_frag_reassemble_packet(tbl_, dr_.get(), m, tms, reinterpret_cast<rte_ipv4_hdr*>(ip));
  Result res;
  res.dropped = dr_->cnt - before;
  if (r && count) *count = Count{};
  if (r && !v6) {
    auto* h = rte_pktmbuf_mtod_offset(r, rte_ipv4_hdr*, 14);
    h->hdr_checksum = 0;
    h->hdr_checksum = rte_ipv4_cksum(h);
  }
  res.packet = r;
  return res;
}

uint32_t Reassembler::expire(std::chrono::nanoseconds now) noexcept {
  rte_ip_frag_free_death_row(dr_.get(), 0);
  rte_ip_frag_table_del_expired_entries(tbl_, dr_.get(), static_cast<uint64_t>(now.count()));
  const uint32_t n = dr_->cnt;
  rte_ip_frag_free_death_row(dr_.get(), 0);
  return n;
}

}  // namespace esprit
