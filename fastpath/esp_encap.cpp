// ESP encapsulation of a burst for one outbound SA (RFC 4303 3.3, RFC 3948 2.1).
//
// Per batch of at most kEspMaxBatch packets: one pass prepares each packet (headers, padding,
// IV, sequence number) and fills its IPsec-MB job, one call runs all jobs, and a completion pass
// does what needs the ciphertext (the IPv6 NAT-T UDP checksum) and the counters. The variant is a
// template instance chosen when the SA is created.
#include <rte_mbuf.h>
#include <rte_prefetch.h>

#include <algorithm>

#include "esp_internal.hpp"
#include "esp_net.hpp"

namespace esprit {
namespace {

/// AES-GCM encap fills no IPsec-MB job: after the prepare pass each packet goes through IPsec-MB's
/// direct GCM function (gcm_encap_direct; EspSa::State::direct_gcm marks these SAs for multi-SA
/// batches).
template <CryptoKind kKind>
inline constexpr bool kDirectGcm = kKind == CryptoKind::kAesGcm;

/// Prepares packet `i` of a batch (headers, padding, IV, sequence number `seq`) and fills `job`.
/// Shared by the single-SA burst (inlined) and the multi-SA burst (through EspSa::State::prep).
template <bool kV6, bool kNatT, bool kTunnel, CryptoKind kKind>
[[gnu::always_inline]] inline DropReason encap_one(EspWorker::State& w, EspSa::State& sa, rte_mbuf* m, uint16_t i,
                                                  uint64_t seq, IMB_JOB* job) noexcept {
  constexpr bool kAead = kKind == CryptoKind::kAesGcm || kKind == CryptoKind::kChaCha;
  constexpr unsigned kOuter = kV6 ? 40 : 20;
  constexpr unsigned kUdp = kNatT ? 8 : 0;
  const unsigned iv_len = sa.iv_len;
  const unsigned icv_len = sa.icv_len;
  const unsigned block_mask = sa.block_mask;
  const unsigned add = kUdp + 8 + iv_len;  // bytes inserted after the (outer) IP header
  if (m->nb_segs != 1) [[unlikely]] {
    if (rte_pktmbuf_linearize(m) != 0) {
      return DropReason::kSegmented;
    }
  }
  uint8_t* ip = rte_pktmbuf_mtod(m, uint8_t*);
  const uint32_t len = m->data_len;
  uint8_t* head;        // new start of the packet
  uint8_t* esp;
  uint32_t payload;     // bytes to protect (before padding)
  uint8_t nh;
  uint32_t hdrs;        // IP header bytes kept in front (transport) or added (tunnel)
  uint8_t nh_byte_off = 0;  // transport IPv6: offset of the next-header byte to rewrite

  if constexpr (kTunnel) {
    // Plain 32-bit values, not bool/uint8_t: GCC spilled the byte-sized ones to the stack and read
    // them back wider, a store-forwarding stall per packet (docs/performance.md).
    uint32_t tos;
    uint32_t df_bit;  ///< 0x40 when the inner packet has DF (IPv6: always), else 0
    uint32_t inner_len;
    const unsigned ver = len ? ip[0] >> 4 : 0;
    if (ver == 4 && len >= 20) [[likely]] {
      if (sa.inner_family == InnerFamily::kV6) [[unlikely]] {
        return DropReason::kInnerFamily;
      }
      tos = ip[1];
      df_bit = ip[6] & 0x40u;
      nh = kProtoIpip;
      inner_len = load_be16(ip + 2);
      if (inner_len < 20) [[unlikely]]
        inner_len = UINT32_MAX;
    } else if (ver == 6 && len >= 40) {
      if (sa.inner_family == InnerFamily::kV4) [[unlikely]] {
        return DropReason::kInnerFamily;
      }
      tos = (uint32_t{ip[0]} << 4 | ip[1] >> 4) & 0xff;
      df_bit = 0x40;  // IPv6 is never fragmented on the way: keep the outer packet whole too
      nh = kProtoIpv6;
      inner_len = 40u + load_be16(ip + 4);
    } else {
      return DropReason::kBadInner;
    }
    if (inner_len > len) [[unlikely]] {
      return DropReason::kBadInner;
    }
    if (inner_len < len) rte_pktmbuf_trim(m, static_cast<uint16_t>(len - inner_len));  // L2 padding
    payload = inner_len;
    hdrs = kOuter;
    const uint32_t padded = (payload + 2 + block_mask) & ~block_mask;
    const uint32_t total = kOuter + add + padded + icv_len;
    if (total - (kV6 ? 40 : 0) > 0xffff) [[unlikely]] {
      return DropReason::kTooBig;
    }
    if (rte_pktmbuf_tailroom(m) < padded - payload + icv_len) [[unlikely]] {
      return DropReason::kNoTailroom;
    }
    if (rte_pktmbuf_headroom(m) < kOuter + add) [[unlikely]] {
      return DropReason::kNoHeadroom;
    }
    head = ip - kOuter - add;
    std::memcpy(head, sa.hdr_template, kOuter + kUdp);
    // DSCP copy or set, ECN copy or not (RFC 6040), DF copy, set or clear: masks chosen at SA creation.
    const uint32_t otos = (tos & sa.tos_and) | sa.tos_or;
    if constexpr (!kV6) {
      const uint32_t id = w.ip_id++ & 0xffffu;
      const uint32_t frag = ((df_bit & sa.df_and) | sa.df_or) << 8;  // never a fragment: offset 0
      head[1] = static_cast<uint8_t>(otos);
      store_be16(head + 2, static_cast<uint16_t>(total));
      store_be16(head + 4, static_cast<uint16_t>(id));
      store_be16(head + 6, static_cast<uint16_t>(frag));
      store_be16(head + 10, fold_csum(sa.v4_csum_base + otos + total + id + frag));
    } else {
      store_be32(head, 0x60000000u | uint32_t{otos} << 20);
      store_be16(head + 4, static_cast<uint16_t>(total - 40));
    }
    if constexpr (kNatT) store_be16(head + kOuter + 4, static_cast<uint16_t>(total - kOuter));
    esp = head + kOuter + kUdp;
  } else {
    // Transport: ESP goes between the packet's own IP header(s) and its payload.
    uint32_t ip_total;
    if constexpr (!kV6) {
      if (len < 20 || ip[0] >> 4 != 4) [[unlikely]] {
        return DropReason::kBadInner;
      }
      hdrs = (ip[0] & 0x0f) * 4u;
      ip_total = load_be16(ip + 2);
      if (hdrs < 20 || ip_total < hdrs || ip_total > len) [[unlikely]] {
        return DropReason::kBadInner;
      }
      if (load_be16(ip + 6) & 0x3fff) [[unlikely]] {
        return DropReason::kFragment;
      }
      nh = ip[9];
    } else {
      if (len < 40 || ip[0] >> 4 != 6) [[unlikely]] {
        return DropReason::kBadInner;
      }
      ip_total = 40u + load_be16(ip + 4);
      if (ip_total > len) [[unlikely]] {
        return DropReason::kBadInner;
      }
      const Ipv6HeaderChain chain = walk_ipv6_headers(ip, ip_total);
      if (chain.reason != DropReason::kNone) [[unlikely]] {
        return chain.reason == DropReason::kBadOuterHeader ? DropReason::kBadInner : chain.reason;
      }
      hdrs = chain.len;
      nh = chain.next_header;
      nh_byte_off = chain.nh_offset;
    }
    if (ip_total < len) rte_pktmbuf_trim(m, static_cast<uint16_t>(len - ip_total));  // L2 padding
    payload = ip_total - hdrs;
    const uint32_t padded = (payload + 2 + block_mask) & ~block_mask;
    const uint32_t total = ip_total + add + (padded - payload) + icv_len;
    if (total - (kV6 ? 40 : 0) > 0xffff) [[unlikely]] {
      return DropReason::kTooBig;
    }
    if (rte_pktmbuf_tailroom(m) < padded - payload + icv_len) [[unlikely]] {
      return DropReason::kNoTailroom;
    }
    if (rte_pktmbuf_headroom(m) < add) [[unlikely]] {
      return DropReason::kNoHeadroom;
    }
    head = ip - add;
    std::memmove(head, ip, hdrs);
    const uint8_t proto = kNatT ? kProtoUdp : kProtoEsp;
    if constexpr (!kV6) {
      head[9] = proto;
      store_be16(head + 2, static_cast<uint16_t>(total));
      head[10] = head[11] = 0;
      store_be16(head + 10, fold_csum(ipv4_sum(head, hdrs)));
    } else {
      head[nh_byte_off] = proto;
      store_be16(head + 4, static_cast<uint16_t>(total - 40));
    }
    if constexpr (kNatT) {
      uint8_t* udp = head + hdrs;
      std::memcpy(udp, sa.hdr_template + kOuter, 4);
      store_be16(udp + 4, static_cast<uint16_t>(total - hdrs));
      udp[6] = udp[7] = 0;
    }
    esp = head + hdrs + kUdp;
  }

  const uint32_t padded = (payload + 2 + block_mask) & ~block_mask;
  const uint32_t pad = padded - payload - 2;
  const uint32_t trailer = pad + 2 + icv_len;
  const uint32_t grow = static_cast<uint32_t>(ip - head);
  m->data_off = static_cast<uint16_t>(m->data_off - grow);
  m->data_len = static_cast<uint16_t>(m->data_len + grow + trailer);
  m->pkt_len = m->data_len;

  uint8_t* tail = esp + 8 + iv_len + payload;
  // Fixed-size copies instead of a variable memcpy: pad < 16, and the bytes written past the
  // padding land on the pad length, next header and ICV, which are written afterwards.
  std::memcpy(tail, kPadBytes.data(), 8);
  if (pad > 8) std::memcpy(tail + 8, kPadBytes.data() + 8, 8);
  tail[pad] = static_cast<uint8_t>(pad);
  tail[pad + 1] = nh;

      std::memcpy(esp, &sa.spi_be, 4);
  store_be32(esp + 4, static_cast<uint32_t>(seq));

  PktMeta& pm = w.meta[i];
  pm.esp = esp;
  pm.icv = tail + pad + 2;
  pm.seq = seq;
  pm.cipher_len = padded;
  pm.hash_len = 8 + iv_len + padded;
  pm.l3_len = static_cast<uint16_t>(payload);
  if constexpr (kAead) {
    // RFC 4106 3.1 / RFC 7634 2: the 64-bit IV is the sequence number, unique per key.
    store_be64(esp + 8, seq);
    std::memcpy(w.nonce[i], sa.salt, 4);
    std::memcpy(w.nonce[i] + 4, esp + 8, 8);
    if (sa.esn) {  // RFC 4106 5: AAD = SPI | seq high | seq low
      std::memcpy(w.aad[i], esp, 4);
      store_be32(w.aad[i] + 4, static_cast<uint32_t>(seq >> 32));
      std::memcpy(w.aad[i] + 8, esp + 4, 4);
    }
  } else {
    if constexpr (kKind == CryptoKind::kCbcHmac) std::memcpy(esp + 8, w.iv.take(iv_len), iv_len);
    if (sa.esn) {  // RFC 4303 3.3.2.2: the high bits are authenticated, not sent
      store_be32(pm.icv, static_cast<uint32_t>(seq >> 32));
      pm.hash_len += 4;
    }
  }
  if constexpr (!kDirectGcm<kKind>) {
    fill_job<kKind, true>(job, sa, pm, w.nonce[i], sa.esn ? w.aad[i] : esp, pm.icv);
    job->user_data = reinterpret_cast<void*>(uintptr_t{i});
  } else {
    (void)job;  // encrypted after the prepare pass: gcm_encap_direct()
  }
  return DropReason::kNone;
}

/// What needs the ciphertext: the IPv6 NAT-T UDP checksum (RFC 3948 2.1 allows none for IPv4).
template <bool kV6, bool kNatT, bool kTunnel, CryptoKind kKind>
[[gnu::always_inline]] inline DropReason encap_fin(EspWorker::State& w, EspSa::State&, rte_mbuf* m,
                                                  uint16_t i) noexcept {
  if constexpr (kV6 && kNatT) set_udp6_checksum(rte_pktmbuf_mtod(m, uint8_t*), w.meta[i].esp - 8);
  return DropReason::kNone;
}

template <bool kV6, bool kNatT, bool kTunnel, CryptoKind kKind>
uint16_t encap(EspWorker::State& w, EspSa::State& sa, rte_mbuf** pkts, uint16_t n, SaCounters& c) noexcept {
  DropReason* reason = w.reason;

  if (sa.life_state.load(std::memory_order_relaxed) == kLifeHard) [[unlikely]] {
    std::fill_n(reason, n, DropReason::kLifetimeExpired);
    return compact(pkts, n, reason, c);
  }
  uint64_t seq0;
  const uint16_t granted = reserve_seq(sa, n, seq0);
  if (granted < n) [[unlikely]] {
    std::fill(reason + granted, reason + n, DropReason::kSeqExhausted);
    if (sa.life_state.exchange(kLifeHard, std::memory_order_relaxed) != kLifeHard)
      raise_event(w, sa, SaEventKind::kSeqExhausted);
  }
  if constexpr (kKind == CryptoKind::kCbcHmac) w.iv.reserve(w.mgr, std::size_t{granted} * sa.iv_len);

  uint16_t njobs = 0;

  // Job slots for the whole batch; only the first njobs (the packets that got this far) are submitted.
  // Direct GCM needs none (gcm_encap_direct after this pass).
  uint16_t slots = granted;
  if constexpr (!kDirectGcm<kKind>) {
    slots = static_cast<uint16_t>(IMB_GET_NEXT_BURST(w.mgr, granted, w.jobs));
    if (slots < granted) [[unlikely]]
      std::fill(reason + slots, reason + granted, DropReason::kCryptoError);
  }

  for (uint16_t i = 0; i < slots; ++i) {
    if (i + 2 < slots) rte_prefetch0(rte_pktmbuf_mtod(pkts[i + 2], void*));
    reason[i] = encap_one<kV6, kNatT, kTunnel, kKind>(w, sa, pkts[i], i, seq0 + i,
                                                      kDirectGcm<kKind> ? nullptr : w.jobs[njobs]);
    if (reason[i] != DropReason::kNone) [[unlikely]]
      continue;
    if constexpr (!kDirectGcm<kKind>) w.job_pkt[njobs++] = static_cast<uint8_t>(i);
  }
  crypto_pass<true, kDirectGcm<kKind>>(w, sa, slots, njobs, reason);

  uint64_t bytes = 0;
  uint16_t ok = 0;
  for (uint16_t i = 0; i < granted; ++i) {
    if (reason[i] != DropReason::kNone) continue;
    encap_fin<kV6, kNatT, kTunnel, kKind>(w, sa, pkts[i], i);
    bytes += w.meta[i].l3_len;
    ++ok;
  }
  account_lifetime(w, sa, ok, bytes, reason, granted, [](uint16_t) { return true; },
                   [&w](uint16_t i) -> uint64_t { return w.meta[i].l3_len; });
  counter_add(c.packets, ok);
  counter_add(c.bytes, bytes);
  return compact(pkts, n, reason, c);
}

struct EncapImpl {
  template <bool kV6, bool kNatT, bool kTunnel, CryptoKind kKind>
  static uint16_t fn(EspWorker::State& w, EspSa::State& sa, rte_mbuf** pkts, uint16_t n, SaCounters& c) noexcept {
    return encap<kV6, kNatT, kTunnel, kKind>(w, sa, pkts, n, c);
  }
};
struct EncapPrepImpl {
  template <bool kV6, bool kNatT, bool kTunnel, CryptoKind kKind>
  static DropReason fn(EspWorker::State& w, EspSa::State& sa, rte_mbuf* m, uint16_t i, uint64_t seq,
                       IMB_JOB* job) noexcept {
    return encap_one<kV6, kNatT, kTunnel, kKind>(w, sa, m, i, seq, job);
  }
};
struct EncapFinImpl {
  template <bool kV6, bool kNatT, bool kTunnel, CryptoKind kKind>
  static DropReason fn(EspWorker::State& w, EspSa::State& sa, rte_mbuf* m, uint16_t i) noexcept {
    return encap_fin<kV6, kNatT, kTunnel, kKind>(w, sa, m, i);
  }
};

/// One static SaOps per variant (EspSa::State::ops points at it).
struct EncapOpsImpl {
  template <bool kV6, bool kNatT, bool kTunnel, CryptoKind kKind>
  static constexpr SaOps fn{&EncapImpl::fn<kV6, kNatT, kTunnel, kKind>, &EncapPrepImpl::fn<kV6, kNatT, kTunnel, kKind>,
                            &EncapFinImpl::fn<kV6, kNatT, kTunnel, kKind>};
};

}  // namespace

const SaOps* select_encap_ops(const SaDescriptor& d, CryptoKind kind) noexcept {
  return select_variant<EncapOpsImpl, const SaOps*>(d, kind);
}

uint16_t encap_burst(EspWorker& worker, EspSa& sa, std::span<rte_mbuf*> pkts, SaCounters& counters) noexcept {
  return run_in_batches(worker.state(), sa.state(), pkts, counters, SaDirection::kOutbound);
}

}  // namespace esprit
