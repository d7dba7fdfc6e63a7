// ESP over a burst whose packets belong to many SAs, as VPP's multi-SA frames (esp_encrypt_inline):
// one IPsec-MB batch for all packets of a batch, whatever their SA.
//
// Per batch of at most kEspMaxBatch packets: the distinct SAs are found (a small open-addressing
// table in the worker), each SA's lifetime is checked and its sequence numbers reserved once for
// all its packets (fetch-and-add per SA per batch); then every packet is prepared by its own SA's
// variant (EspSa::State::prep, the per-packet half of the same template instance the single-SA
// burst inlines) and its job filled; IPsec-MB runs all jobs of the batch (each job carries its own
// key schedule pointers, so jobs of different SAs and algorithms mix in one submit_burst); the
// completion pass finishes each packet with its SA (EspSa::State::finish), and packets, lifetime
// and drops are counted per SA. Packets of AES-GCM SAs fill no job: after the prepare pass each
// goes through IPsec-MB's direct GCM call (encrypt, or decrypt and compute the tag that the
// completion pass compares).
#include <rte_mbuf.h>
#include <rte_prefetch.h>

#include <algorithm>

#include "esp_internal.hpp"

namespace esprit {
namespace {


template <bool kEncap>
uint16_t multi_batch(EspWorker::State& w, rte_mbuf** pkts, EspSa** sas, SaCounters** counters,
                     uint16_t n) noexcept {
  SaTable& t = w.sa_table;
  DropReason* reason = w.reason;
  uint8_t grp[kEspMaxBatch];
  const SaDirection want = kEncap ? SaDirection::kOutbound : SaDirection::kInbound;

  t.clear();
  // With many SAs their states are cache misses: load them all before the first is used
  // (prefetch_sas; for a batch of one SA, whose state is hot, nothing).
  bool several = false;
  for (uint16_t i = 1; i < n; ++i) several |= sas[i] != sas[0];
  if (several) prefetch_sas(sas, n);
  for (uint16_t i = 0; i < n; ++i) {
    EspSa::State* sa = &sas[i]->state();
    // Runs of one SA skip the table.
    const uint8_t g = (i && sas[i] == sas[i - 1]) ? grp[i - 1] : t.find(sa, counters[i]);
    grp[i] = g;
    ++t.group[g].count;
  }
  if (t.ngroups == 1 && t.group[0].sa->direction == want) {
    // One SA in the whole batch: its own burst function, the template instance with everything
    // inlined (sas and counters are the same for every packet, nothing to permute).
    return t.group[0].sa->ops->burst(w, *t.group[0].sa, pkts, n, *t.group[0].counters);
  }
  for (uint16_t g = 0; g < t.ngroups; ++g) {
    SaGroup& sg = t.group[g];
    EspSa::State& sa = *sg.sa;
    if (sa.direction != want) [[unlikely]] {
      sg.all = DropReason::kBadSpi;
    } else if (sa.life_state.load(std::memory_order_relaxed) == kLifeHard) [[unlikely]] {
      sg.all = DropReason::kLifetimeExpired;
    } else if constexpr (kEncap) {
      sg.granted = reserve_seq(sa, sg.count, sg.next_seq);
      if (sg.granted < sg.count) [[unlikely]] {
        if (sa.life_state.exchange(kLifeHard, std::memory_order_relaxed) != kLifeHard)
          raise_event(w, sa, SaEventKind::kSeqExhausted);
      }
    }
  }
  if constexpr (kEncap) w.iv.reserve(w.mgr, std::size_t{n} * 16);  // at most 16 IV bytes a packet

  const uint16_t slots = static_cast<uint16_t>(IMB_GET_NEXT_BURST(w.mgr, n, w.jobs));
  if (slots < n) [[unlikely]]
    std::fill(reason + slots, reason + n, DropReason::kCryptoError);
  uint16_t njobs = 0;
  for (uint16_t i = 0; i < slots; ++i) {
    if (i + 2 < slots) rte_prefetch0(rte_pktmbuf_mtod(pkts[i + 2], void*));
    SaGroup& sg = t.group[grp[i]];
    if (sg.all != DropReason::kNone) [[unlikely]] {
      reason[i] = sg.all;
      continue;
    }
    uint64_t seq = 0;
    if constexpr (kEncap) {
      if (sg.used == sg.granted) [[unlikely]] {
        reason[i] = DropReason::kSeqExhausted;
        continue;
      }
      seq = sg.next_seq + sg.used++;
    }
    reason[i] = sg.sa->ops->prep(w, *sg.sa, pkts[i], i, seq, w.jobs[njobs]);
    if (reason[i] != DropReason::kNone) [[unlikely]]
      continue;
    if (sg.sa->direct_gcm) continue;  // no job: gcm_encap_direct() / gcm_decap_direct() below
    w.job_pkt[njobs++] = static_cast<uint8_t>(i);
  }
  if (njobs < slots) {  // AES-GCM SAs' packets (or drops)
    for (uint16_t i = 0; i < slots; ++i) {
      const EspSa::State& sa = *t.group[grp[i]].sa;
      if (reason[i] != DropReason::kNone || !sa.direct_gcm) continue;
      if constexpr (kEncap) gcm_encap_direct(w, sa, w.gcm_enc_fn(sa.key_len), i);
      else gcm_decap_direct(w, sa, w.gcm_dec_fn(sa.key_len), i);
    }
  }
  run_jobs(w, njobs, reason);

  for (uint16_t i = 0; i < n; ++i) {
    if (reason[i] != DropReason::kNone) continue;
    SaGroup& sg = t.group[grp[i]];
    reason[i] = sg.sa->ops->finish(w, *sg.sa, pkts[i], i);
    if (reason[i] == DropReason::kNone) [[likely]] {
      sg.bytes += kEncap ? w.meta[i].l3_len : pkts[i]->data_len;
      ++sg.ok;
    }
  }
  for (uint16_t g = 0; g < t.ngroups; ++g) {
    SaGroup& sg = t.group[g];
    if (!sg.ok) continue;
    account_lifetime(w, *sg.sa, sg.ok, sg.bytes, reason, n, [&grp, g](uint16_t i) { return grp[i] == g; },
                     [&w, pkts](uint16_t i) -> uint64_t { return kEncap ? w.meta[i].l3_len : pkts[i]->data_len; });
    counter_add(sg.counters->packets, sg.ok);
    counter_add(sg.counters->bytes, sg.bytes);
  }
  return compact_multi(pkts, sas, counters, n, reason);
}

template <bool kEncap>
uint16_t run_multi(EspWorker::State& w, std::span<rte_mbuf*> pkts, std::span<EspSa*> sas,
                   std::span<SaCounters*> counters) noexcept {
  std::size_t n = std::min({pkts.size(), sas.size(), counters.size()});
  if (n > UINT16_MAX) n = UINT16_MAX;
  std::size_t good = 0;
  for (std::size_t s = 0; s < n; s += kEspMaxBatch) {
    const auto cnt = static_cast<uint16_t>(n - s < kEspMaxBatch ? n - s : kEspMaxBatch);
    const uint16_t g = multi_batch<kEncap>(w, pkts.data() + s, sas.data() + s, counters.data() + s, cnt);
    // Earlier failures sit in [good, s): rotate this batch's good packets in front of them.
    if (good != s) {
      std::rotate(pkts.begin() + good, pkts.begin() + s, pkts.begin() + s + g);
      std::rotate(sas.begin() + good, sas.begin() + s, sas.begin() + s + g);
      std::rotate(counters.begin() + good, counters.begin() + s, counters.begin() + s + g);
    }
    good += g;
  }
  return static_cast<uint16_t>(good);
}

}  // namespace

void prefetch_sas(EspSa* const* sas, uint16_t n) noexcept {
  // Loads, not prefetch instructions: with many SAs every state sits on a page whose TLB entry may
  // be gone, and on this project's VM prefetcht0 of those lines did not help (perf: the GHASH key
  // load in IPsec-MB and max_inner_len's first read stayed misses); one independent load per line
  // makes the misses of the whole burst overlap instead of each packet waiting for its own.
  uint8_t sink = 0;
  auto touch = [&sink](const void* p) { sink ^= *static_cast<const volatile uint8_t*>(p); };
  // Pass 1: the state's hot lines (esp_internal.hpp: 0 variant, lengths, salt, header template;
  // 1 the template's end, lifetime and sequence counter). Their addresses need no load
  // (EspSa::state()).
  for (uint16_t i = 0; i < n; ++i) {
    const EspSa::State* st = &sas[i]->state();
    touch(st);
    // Other workers may be reserving sequence numbers of the same SA: an atomic load.
    sink ^= static_cast<uint8_t>(st->next_seq.load(std::memory_order_relaxed));
  }
  // Pass 2: the key schedule lines the SA's cipher reads first, at fixed offsets in the state;
  // which ones depends on line 0 (in flight from pass 1 for every SA, so this waits about one miss,
  // not one per SA).
  for (uint16_t i = 0; i < n; ++i) {
    const EspSa::State* st = &sas[i]->state();
    const bool out = st->direction == SaDirection::kOutbound;
    if (!out) touch(&st->replay);
    switch (st->kind) {
      case CryptoKind::kAesGcm: {
        // AES round keys (GCM-128: the first 176 bytes, 3 lines) and the GHASH key powers packets
        // of up to 8 blocks use, HashKey^8..HashKey^1: 2 lines (EspKeys puts them there; IPsec-MB's
        // VAES code keeps HashKey^1 last, gcm_hash_key_offset()). The same schedule serves both
        // directions.
        const auto* k = reinterpret_cast<const uint8_t*>(&st->keys.cipher.gcm);
        touch(k);
        touch(k + 64);
        touch(k + 128);
        touch(k + gcm_hash_key_offset(8));
        touch(k + gcm_hash_key_offset(1));
        break;
      }
      case CryptoKind::kChaCha:
        touch(&st->enc_keys);  // line 2: the job's fields
        touch(st->keys.cipher.chacha);
        break;
      case CryptoKind::kCbcHmac:
      case CryptoKind::kNullHmac: {
        touch(&st->enc_keys);  // line 2: the job's fields and pad pointers
        if (st->kind == CryptoKind::kCbcHmac) {
          // AES round keys of the direction (3DES: its first key schedule lines either way)
          const auto* k = out ? reinterpret_cast<const uint8_t*>(st->keys.cipher.aes.enc)
                              : reinterpret_cast<const uint8_t*>(st->keys.cipher.aes.dec);
          touch(k);
          touch(k + 64);
          touch(k + 128);
        }
        touch(st->keys.ipad);
        touch(st->keys.opad);
        break;
      }
    }
  }
  asm volatile("" ::"r"(sink));
}

uint16_t encap_burst_multi(EspWorker& worker, std::span<rte_mbuf*> pkts, std::span<EspSa*> sas,
                           std::span<SaCounters*> counters) noexcept {
  return run_multi<true>(worker.state(), pkts, sas, counters);
}

uint16_t decap_burst_multi(EspWorker& worker, std::span<rte_mbuf*> pkts, std::span<EspSa*> sas,
                           std::span<SaCounters*> counters) noexcept {
  return run_multi<false>(worker.state(), pkts, sas, counters);
}

}  // namespace esprit
