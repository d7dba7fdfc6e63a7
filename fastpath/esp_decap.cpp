// ESP decapsulation of a burst for one inbound SA (RFC 4303 3.4, RFC 3948 3, RFC 6040 4.2).
//
// Prepare pass: outer header, UDP encapsulation, SPI, sequence number (ESN inference and the
// replay check before any crypto), and the packet's IPsec-MB job. One call runs the batch; AES-GCM
// fills no job and each packet goes through IPsec-MB's direct GCM decrypt in a pass of its own
// (gcm_decap_direct). Completion pass: ICV comparison (constant time, for every suite: the crypto
// only computes the tag), replay window update (only now, RFC 4303 3.4.3), padding and next header,
// strip, inner sanity, ECN.
#include <rte_mbuf.h>
#include <rte_prefetch.h>

#include <algorithm>

#include "esp_internal.hpp"
#include "esp_net.hpp"

namespace esprit {
namespace {

/// AES-GCM decap fills no IPsec-MB job: after the prepare pass each packet goes through IPsec-MB's
/// direct GCM decrypt (gcm_decap_direct; EspSa::State::direct_gcm marks these SAs for multi-SA
/// batches). IPsec-MB 1.3 does not multi-buffer GCM, so the job API only adds the job's fill and
/// dispatch (docs/performance.md).
template <CryptoKind kKind>
inline constexpr bool kDirectGcm = kKind == CryptoKind::kAesGcm;

/// Constant-time comparison of two ICVs (no early exit on the first differing byte).
inline bool icv_equal(const uint8_t* a, const uint8_t* b, unsigned len) noexcept {
  // Eight bytes at a time (ICVs are 8 to 32 bytes), then the bytes left; the loop never stops
  // early, so its time does not depend on where the two differ.
  uint64_t diff = 0;
  unsigned k = 0;
  for (; k + 8 <= len; k += 8) {
    uint64_t x;
    uint64_t y;
    std::memcpy(&x, a + k, 8);
    std::memcpy(&y, b + k, 8);
    diff |= x ^ y;
  }
  for (; k < len; ++k) diff |= static_cast<uint8_t>(a[k] ^ b[k]);
  return diff == 0;
}

/// RFC 6040 4.2 normal mode: the inner ECN field after decapsulation, or -1 to drop.
inline int combine_ecn(unsigned inner, unsigned outer) noexcept {
  if (outer == 3) return inner == 0 ? -1 : 3;  // CE: propagate, but never onto a Not-ECT packet
  if (outer == 1 && inner == 2) return 1;      // ECT(1) over ECT(0)
  return static_cast<int>(inner);
}

/// Prepare pass for packet `i` of a batch: header checks, replay check, and its IPsec-MB job
/// (AES-GCM: none, `job` is not used).
/// Shared by the single-SA burst (inlined) and the multi-SA burst (through EspSa::State::prep).
template <bool kV6, bool kNatT, bool kTunnel, CryptoKind kKind>
[[gnu::always_inline]] inline DropReason decap_one(EspWorker::State& w, EspSa::State& sa, rte_mbuf* m, uint16_t i,
                                                  uint64_t, IMB_JOB* job) noexcept {
  constexpr uint8_t kExpectedProto = kNatT ? kProtoUdp : kProtoEsp;
  constexpr bool kAead = kKind == CryptoKind::kAesGcm || kKind == CryptoKind::kChaCha;
  const unsigned iv_len = sa.iv_len;
  const unsigned icv_len = sa.icv_len;
  const unsigned block_mask = sa.block_mask;
  if (m->nb_segs != 1) [[unlikely]] {
    if (rte_pktmbuf_linearize(m) != 0) return DropReason::kSegmented;
  }
  uint8_t* p = rte_pktmbuf_mtod(m, uint8_t*);
  const uint32_t len = m->data_len;
  uint32_t l3;
  uint32_t ip_total;
  uint8_t proto;
  uint8_t tos;
  uint8_t nh_off;
  if constexpr (!kV6) {
    if (len < 20 || p[0] >> 4 != 4) [[unlikely]]
      return DropReason::kBadOuterHeader;
    l3 = (p[0] & 0x0f) * 4u;
    ip_total = load_be16(p + 2);
    if (l3 < 20 || ip_total < l3 || ip_total > len) [[unlikely]]
      return DropReason::kBadOuterHeader;
    if (load_be16(p + 6) & 0x3fff) [[unlikely]]
      return DropReason::kFragment;
    proto = p[9];
    tos = p[1];
    nh_off = 9;
  } else {
    if (len < 40 || p[0] >> 4 != 6) [[unlikely]]
      return DropReason::kBadOuterHeader;
    ip_total = 40u + load_be16(p + 4);
    if (ip_total > len) [[unlikely]]
      return DropReason::kBadOuterHeader;
    const Ipv6HeaderChain chain = walk_ipv6_headers(p, ip_total);
    if (chain.reason != DropReason::kNone) [[unlikely]]
      return chain.reason;
    l3 = chain.len;
    proto = chain.next_header;
    nh_off = chain.nh_offset;
    tos = static_cast<uint8_t>(p[0] << 4 | p[1] >> 4);
  }
  if (proto != kExpectedProto) [[unlikely]]
    return DropReason::kEncapMismatch;
  uint32_t off = l3;
  if constexpr (kNatT) {
    if (ip_total < l3 + 8 || load_be16(p + l3 + 4) != ip_total - l3) [[unlikely]]
      return DropReason::kBadOuterHeader;
    off += 8;
    if (ip_total - off == 1 && p[off] == 0xff) return DropReason::kNotEsp;  // NAT keepalive
    if (ip_total - off >= 4 && load_be32(p + off) == 0) return DropReason::kNotEsp;  // non-ESP marker
  }
  const uint32_t esp_len = ip_total - off;
  if (esp_len < 8 + iv_len + icv_len + 4) [[unlikely]]
    return DropReason::kShortPacket;
  const uint32_t cipher_len = esp_len - 8 - iv_len - icv_len;
  if (cipher_len & block_mask) [[unlikely]]
    return DropReason::kBadLength;
  uint8_t* esp = p + off;
  if (std::memcmp(esp, &sa.spi_be, 4) != 0) [[unlikely]]
    return DropReason::kBadSpi;
  const std::optional<uint64_t> seq = sa.replay.infer(load_be32(esp + 4));
  if (!seq) [[unlikely]]
    return DropReason::kTooOld;
  if (const DropReason r = sa.replay.check(*seq); r != DropReason::kNone) [[unlikely]]
    return r;
  if (ip_total < len) rte_pktmbuf_trim(m, static_cast<uint16_t>(len - ip_total));  // L2 padding

  PktMeta& pm = w.meta[i];
  pm.esp = esp;
  pm.icv = esp + 8 + iv_len + cipher_len;
  pm.seq = *seq;
  pm.cipher_len = cipher_len;
  pm.hash_len = 8 + iv_len + cipher_len;
  pm.l3_len = static_cast<uint16_t>(off);
  pm.outer_tos = tos;
  pm.nh_off = nh_off;
  if constexpr (kAead) {
    std::memcpy(w.nonce[i], sa.salt, 4);
    std::memcpy(w.nonce[i] + 4, esp + 8, 8);
    if (sa.esn) {
      std::memcpy(w.aad[i], esp, 4);
      store_be32(w.aad[i] + 4, static_cast<uint32_t>(*seq >> 32));
      std::memcpy(w.aad[i] + 8, esp + 4, 4);
    }
  } else if (sa.esn) {
    // The high bits are authenticated after the trailer, where the ICV travels: keep the ICV aside.
    std::memcpy(w.icv_rx[i], pm.icv, icv_len);
    store_be32(pm.icv, static_cast<uint32_t>(*seq >> 32));
    pm.hash_len += 4;
  }
  if constexpr (!kDirectGcm<kKind>) {
    fill_job<kKind, false>(job, sa, pm, w.nonce[i], sa.esn ? w.aad[i] : pm.esp, w.icv_calc[i]);
    job->user_data = reinterpret_cast<void*>(uintptr_t{i});
  } else {
    (void)job;  // decrypted after the prepare pass: gcm_decap_direct()
  }
  return DropReason::kNone;
}

/// Completion pass for packet `i`: ICV, replay window update, padding, strip, inner checks, ECN.
template <bool kV6, bool kNatT, bool kTunnel, CryptoKind kKind>
[[gnu::always_inline]] inline DropReason decap_fin(EspWorker::State& w, EspSa::State& sa, rte_mbuf* m,
                                                  uint16_t i) noexcept {
  constexpr bool kAead = kKind == CryptoKind::kAesGcm || kKind == CryptoKind::kChaCha;
  const unsigned iv_len = sa.iv_len;
  const unsigned icv_len = sa.icv_len;
  const PktMeta& pm = w.meta[i];
  const uint8_t* rx_icv = (!kAead && sa.esn) ? w.icv_rx[i] : pm.icv;
  if (!icv_equal(w.icv_calc[i], rx_icv, icv_len)) [[unlikely]] {
    // Decryption ran in place before the ICV was known to be bad: never hand back the
    // decryption of a forged packet (it would expose keystream to whoever sees drops).
    std::memset(pm.esp + 8 + iv_len, 0, pm.cipher_len);
    return DropReason::kIcvFail;
  }
  if (const DropReason r = sa.replay.update(pm.seq); r != DropReason::kNone) [[unlikely]]
    return r;
  const uint8_t* trailer = pm.icv;  // pad length and next header sit right before the ICV
  const unsigned pad = trailer[-2];
  const uint8_t nh = trailer[-1];
  if (pad + 2 > pm.cipher_len || !pad_bytes_ok(trailer - 2 - pad, pad)) [[unlikely]]
    return DropReason::kBadPadding;
  if (nh == kProtoNone) [[unlikely]]
    return DropReason::kDummyPacket;
  uint8_t* pt = pm.esp + 8 + iv_len;  // plaintext
  const uint32_t pt_len = pm.cipher_len - pad - 2;
  uint8_t* head = rte_pktmbuf_mtod(m, uint8_t*);
  uint32_t out_len;
  uint8_t* out;
  if constexpr (kTunnel) {
    unsigned inner_ecn;
    if (nh == kProtoIpip) {
      if (sa.inner_family == InnerFamily::kV6) [[unlikely]]
        return DropReason::kInnerFamily;
      if (pt_len < 20 || pt[0] >> 4 != 4 || (pt[0] & 0x0f) < 5) [[unlikely]]
        return DropReason::kBadInner;
      out_len = load_be16(pt + 2);
      if (out_len < (pt[0] & 0x0f) * 4u || out_len > pt_len) [[unlikely]]
        return DropReason::kBadInner;
      inner_ecn = pt[1] & 3;
    } else if (nh == kProtoIpv6) {
      if (sa.inner_family == InnerFamily::kV4) [[unlikely]]
        return DropReason::kInnerFamily;
      if (pt_len < 40 || pt[0] >> 4 != 6) [[unlikely]]
        return DropReason::kBadInner;
      out_len = 40u + load_be16(pt + 4);
      if (out_len > pt_len) [[unlikely]]
        return DropReason::kBadInner;
      inner_ecn = pt[1] >> 4 & 3;
    } else {
      return DropReason::kBadNextHeader;
    }
    if (sa.ecn) {
      const int ecn = combine_ecn(inner_ecn, pm.outer_tos & 3);
      if (ecn < 0) [[unlikely]]
        return DropReason::kEcnDrop;
      if (static_cast<unsigned>(ecn) != inner_ecn) {
        if (nh == kProtoIpip) {
          // RFC 1624 incremental update of the header checksum for the changed TOS byte.
          const uint16_t old_word = load_be16(pt);
          pt[1] = static_cast<uint8_t>((pt[1] & 0xfc) | ecn);
          const uint32_t sum = static_cast<uint16_t>(~load_be16(pt + 10)) + static_cast<uint16_t>(~old_word) +
                               load_be16(pt);
          store_be16(pt + 10, fold_csum(sum));
        } else {
          pt[1] = static_cast<uint8_t>((pt[1] & 0xcf) | ecn << 4);
        }
      }
    }
    out = pt;  // TFC padding after the inner packet (RFC 4303 2.7) is cut by out_len
  } else {
    // Transport: move the IP header(s) up to the payload and restore the protocol field.
    const unsigned l3 = pm.l3_len - (kNatT ? 8 : 0);
    out = pt - l3;
    std::memmove(out, head, l3);
    out_len = l3 + pt_len;
    if constexpr (!kV6) {
      out[9] = nh;
      store_be16(out + 2, static_cast<uint16_t>(out_len));
      out[10] = out[11] = 0;
      store_be16(out + 10, fold_csum(ipv4_sum(out, l3)));
    } else {
      out[pm.nh_off] = nh;
      store_be16(out + 4, static_cast<uint16_t>(out_len - 40));
    }
  }
  m->data_off = static_cast<uint16_t>(m->data_off + (out - head));
  m->data_len = static_cast<uint16_t>(out_len);
  m->pkt_len = out_len;
  return DropReason::kNone;
}

template <bool kV6, bool kNatT, bool kTunnel, CryptoKind kKind>
uint16_t decap(EspWorker::State& w, EspSa::State& sa, rte_mbuf** pkts, uint16_t n, SaCounters& c) noexcept {
  DropReason* reason = w.reason;

  if (sa.life_state.load(std::memory_order_relaxed) == kLifeHard) [[unlikely]] {
    std::fill_n(reason, n, DropReason::kLifetimeExpired);
    return compact(pkts, n, reason, c);
  }
  uint16_t njobs = 0;

  // Job slots for the whole batch; only the first njobs (the packets that passed) are submitted.
  // Direct GCM needs none (gcm_decap_direct after this pass).
  uint16_t slots = n;
  if constexpr (!kDirectGcm<kKind>) {
    slots = static_cast<uint16_t>(IMB_GET_NEXT_BURST(w.mgr, n, w.jobs));
    if (slots < n) [[unlikely]]
      std::fill(reason + slots, reason + n, DropReason::kCryptoError);
  }
  for (uint16_t i = 0; i < slots; ++i) {
    if (i + 2 < slots) rte_prefetch0(rte_pktmbuf_mtod(pkts[i + 2], void*));
    reason[i] = decap_one<kV6, kNatT, kTunnel, kKind>(w, sa, pkts[i], i, 0,
                                                      kDirectGcm<kKind> ? nullptr : w.jobs[njobs]);
    if (reason[i] != DropReason::kNone) [[unlikely]]
      continue;
    if constexpr (!kDirectGcm<kKind>) w.job_pkt[njobs++] = static_cast<uint8_t>(i);
  }
  crypto_pass<false, kDirectGcm<kKind>>(w, sa, slots, njobs, reason);

  uint64_t bytes = 0;
  uint16_t ok = 0;
  for (uint16_t i = 0; i < n; ++i) {
    if (reason[i] != DropReason::kNone) continue;
    reason[i] = decap_fin<kV6, kNatT, kTunnel, kKind>(w, sa, pkts[i], i);
    if (reason[i] == DropReason::kNone) [[likely]] {
      bytes += pkts[i]->data_len;
      ++ok;
    }
  }
  account_lifetime(w, sa, ok, bytes, reason, n, [](uint16_t) { return true; },
                   [pkts](uint16_t i) -> uint64_t { return pkts[i]->data_len; });
  counter_add(c.packets, ok);
  counter_add(c.bytes, bytes);
  return compact(pkts, n, reason, c);
}

struct DecapImpl {
  template <bool kV6, bool kNatT, bool kTunnel, CryptoKind kKind>
  static uint16_t fn(EspWorker::State& w, EspSa::State& sa, rte_mbuf** pkts, uint16_t n, SaCounters& c) noexcept {
    return decap<kV6, kNatT, kTunnel, kKind>(w, sa, pkts, n, c);
  }
};
struct DecapPrepImpl {
  template <bool kV6, bool kNatT, bool kTunnel, CryptoKind kKind>
  static DropReason fn(EspWorker::State& w, EspSa::State& sa, rte_mbuf* m, uint16_t i, uint64_t seq,
                       IMB_JOB* job) noexcept {
    return decap_one<kV6, kNatT, kTunnel, kKind>(w, sa, m, i, seq, job);
  }
};
struct DecapFinImpl {
  template <bool kV6, bool kNatT, bool kTunnel, CryptoKind kKind>
  static DropReason fn(EspWorker::State& w, EspSa::State& sa, rte_mbuf* m, uint16_t i) noexcept {
    return decap_fin<kV6, kNatT, kTunnel, kKind>(w, sa, m, i);
  }
};

/// One static SaOps per variant (EspSa::State::ops points at it).
struct DecapOpsImpl {
  template <bool kV6, bool kNatT, bool kTunnel, CryptoKind kKind>
  static constexpr SaOps fn{&DecapImpl::fn<kV6, kNatT, kTunnel, kKind>, &DecapPrepImpl::fn<kV6, kNatT, kTunnel, kKind>,
                            &DecapFinImpl::fn<kV6, kNatT, kTunnel, kKind>};
};

}  // namespace

const SaOps* select_decap_ops(const SaDescriptor& d, CryptoKind kind) noexcept {
  return select_variant<DecapOpsImpl, const SaOps*>(d, kind);
}

uint16_t decap_burst(EspWorker& worker, EspSa& sa, std::span<rte_mbuf*> pkts, SaCounters& counters) noexcept {
  return run_in_batches(worker.state(), sa.state(), pkts, counters, SaDirection::kInbound);
}

}  // namespace esprit
