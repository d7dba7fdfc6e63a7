// SA creation: validation, key expansion (once, here), outer header template, variant selection.
#include <rte_ring.h>
#include <sys/mman.h>

#include <algorithm>
#include <cstring>
#include <mutex>
#include <new>
#include <vector>

#include "esp_internal.hpp"
#include "esprit/fastpath/control_wake.hpp"

namespace esprit {
namespace {

/// IPsec-MB manager for the control core's key expansion (one per thread that creates SAs).
IMB_MGR* control_mgr() {
  struct Holder {
    IMB_MGR* mgr = nullptr;
    Holder() {
      mgr = alloc_mb_mgr(0);
      if (mgr) init_mb_mgr_auto(mgr, nullptr);
    }
    ~Holder() {
      if (mgr) free_mb_mgr(mgr);
    }
  };
  thread_local Holder h;
  return h.mgr;
}

/// HMAC inner/outer pads hashed once (RFC 2104): the job carries the two intermediate states.
void hmac_pads(IMB_MGR* mgr, IntegAlg alg, const SecretBytes& key, EspKeys& k) {
  const unsigned block = (alg == IntegAlg::kHmacSha384_192 || alg == IntegAlg::kHmacSha512_256) ? 128 : 64;
  alignas(16) uint8_t ipad[128];
  alignas(16) uint8_t opad[128];
  std::memset(ipad, 0x36, block);
  std::memset(opad, 0x5c, block);
  // ESP integrity keys are never longer than the hash block (RFC 2404/4868 fix their length).
  for (std::size_t i = 0; i < key.size(); ++i) {
    ipad[i] ^= key.data()[i];
    opad[i] ^= key.data()[i];
  }
  switch (alg) {
    case IntegAlg::kHmacMd5_96:
      IMB_MD5_ONE_BLOCK(mgr, ipad, k.ipad);
      IMB_MD5_ONE_BLOCK(mgr, opad, k.opad);
      break;
    case IntegAlg::kHmacSha1_96:
      IMB_SHA1_ONE_BLOCK(mgr, ipad, k.ipad);
      IMB_SHA1_ONE_BLOCK(mgr, opad, k.opad);
      break;
    case IntegAlg::kHmacSha256_128:
      IMB_SHA256_ONE_BLOCK(mgr, ipad, k.ipad);
      IMB_SHA256_ONE_BLOCK(mgr, opad, k.opad);
      break;
    case IntegAlg::kHmacSha384_192:
      IMB_SHA384_ONE_BLOCK(mgr, ipad, k.ipad);
      IMB_SHA384_ONE_BLOCK(mgr, opad, k.opad);
      break;
    case IntegAlg::kHmacSha512_256:
      IMB_SHA512_ONE_BLOCK(mgr, ipad, k.ipad);
      IMB_SHA512_ONE_BLOCK(mgr, opad, k.opad);
      break;
    case IntegAlg::kNone:
    case IntegAlg::kAesXcbc96:  // IKE only: SaDescriptor::validate() refuses it for ESP
      break;
  }
  secure_wipe(ipad, sizeof(ipad));
  secure_wipe(opad, sizeof(opad));
}

IMB_HASH_ALG imb_hash(IntegAlg alg) {
  switch (alg) {
    case IntegAlg::kHmacMd5_96: return IMB_AUTH_MD5;
    case IntegAlg::kHmacSha1_96: return IMB_AUTH_HMAC_SHA_1;
    case IntegAlg::kHmacSha256_128: return IMB_AUTH_HMAC_SHA_256;
    case IntegAlg::kHmacSha384_192: return IMB_AUTH_HMAC_SHA_384;
    case IntegAlg::kHmacSha512_256: return IMB_AUTH_HMAC_SHA_512;
    case IntegAlg::kNone:
    case IntegAlg::kAesXcbc96: break;  // IKE only: SaDescriptor::validate() refuses it for ESP
  }
  return IMB_AUTH_NULL;
}

void build_template(const SaDescriptor& d, EspSa::State& s) {
  uint8_t* h = s.hdr_template;
  const uint8_t proto = d.natt ? 17 : 50;
  if (d.local.is_v4()) {
    h[0] = 0x45;
    h[8] = d.ttl;
    h[9] = proto;
    std::memcpy(h + 12, d.local.bytes(), 4);
    std::memcpy(h + 16, d.remote.bytes(), 4);
    s.v4_csum_base = ipv4_sum(h, 20);
  } else {
    h[0] = 0x60;
    h[6] = proto;
    h[7] = d.ttl;
    std::memcpy(h + 8, d.local.bytes(), 16);
    std::memcpy(h + 24, d.remote.bytes(), 16);
  }
  if (d.natt) {
    uint8_t* u = h + s.outer_len;
    store_be16(u, d.natt->local_port);
    store_be16(u + 2, d.natt->remote_port);
  }
}


// ---- the SA arena

#if defined(__SANITIZE_ADDRESS__)
#define ESPRIT_SA_ARENA_HEAP 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define ESPRIT_SA_ARENA_HEAP 1
#endif
#endif

/// Where every EspSa lives: one block per SA, [EspSa | State], carved from 2 MiB-aligned chunks
/// that the kernel is asked to back with transparent huge pages (MADV_HUGEPAGE; without THP they
/// are ordinary pages). With 100 000 SAs the blocks take about 150 MB; on 4 KiB pages a packet of
/// a random SA pays a TLB miss (a page walk, nested under a VM) before each cache miss on its state
/// and key schedule. Freed blocks are reused (free list), chunks are kept for the process's life.
/// Each chunk's first block starts 64 bytes in and blocks are a multiple of 128 bytes, so every
/// block is at 64 mod 128 and its state (kStateOffset = 64 behind it) at 0 mod 128: the state's two
/// hot lines are one aligned 128-byte pair (the pair the L2's adjacent-line prefetch fetches).
/// Control core only (SA creation and reclamation), under a mutex: never on the packet path.
/// Sanitizer builds take blocks from the heap so that use-after-free of an SA is still caught.
class SaArena {
 public:
  static constexpr std::size_t kBlock = (EspSa::kStateOffset + sizeof(EspSa::State) + 127) & ~std::size_t{127};
  static_assert(EspSa::kStateOffset % 128 == 64, "blocks at 64 mod 128 put the state at 0 mod 128");
  static constexpr std::size_t kChunk = std::size_t{2} << 20;
  static_assert(kBlock + 64 <= kChunk);

  static SaArena& instance() {
    static SaArena* a = new SaArena;  // never destroyed: SAs may outlive static destructors
    return *a;
  }

  void* alloc() noexcept {
#ifdef ESPRIT_SA_ARENA_HEAP
    return ::operator new(kBlock, std::align_val_t{64}, std::nothrow);
#else
    std::lock_guard<std::mutex> lock(mu_);
    if (!free_.empty()) {
      void* p = free_.back();
      free_.pop_back();
      return p;
    }
    if (left_ < kBlock) {
      // 4 MiB mapped, the 2 MiB-aligned middle kept: a huge page needs an aligned 2 MiB range.
      void* m = mmap(nullptr, 2 * kChunk, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
      if (m == MAP_FAILED) return nullptr;
      const auto base = reinterpret_cast<uintptr_t>(m);
      const uintptr_t aligned = (base + kChunk - 1) & ~(kChunk - 1);
      if (aligned > base) munmap(m, aligned - base);
      if (aligned + kChunk < base + 2 * kChunk) munmap(reinterpret_cast<void*>(aligned + kChunk), base + kChunk - aligned);
      (void)madvise(reinterpret_cast<void*>(aligned), kChunk, MADV_HUGEPAGE);  // advice only: EINVAL without THP
      next_ = reinterpret_cast<unsigned char*>(aligned) + 64;
      left_ = kChunk - 64;
    }
    void* p = next_;
    next_ += kBlock;
    left_ -= kBlock;
    return p;
#endif
  }

  void release(void* p) noexcept {
    if (!p) return;
#ifdef ESPRIT_SA_ARENA_HEAP
    ::operator delete(p, std::align_val_t{64});
#else
    std::lock_guard<std::mutex> lock(mu_);
    try {
      free_.push_back(p);
    } catch (...) {  // out of memory for the list: the block is lost, not reused
    }
#endif
  }

 private:
#ifndef ESPRIT_SA_ARENA_HEAP
  std::mutex mu_;
  std::vector<void*> free_;
  unsigned char* next_ = nullptr;
  std::size_t left_ = 0;
#endif
};

}  // namespace


EspSa::State::~State() { secure_wipe(&keys, sizeof(keys)); }

EspSa::~EspSa() { state().~State(); }

void EspSa::operator delete(void* p) noexcept { SaArena::instance().release(p); }

std::unique_ptr<EspSa> EspSa::create(const SaDescriptor& d, std::string* error) {
  if (auto err = d.validate()) {
    if (error) *error = *err;
    return nullptr;
  }
  IMB_MGR* mgr = control_mgr();
  if (!mgr) {
    if (error) *error = "Intel IPsec-MB manager could not be allocated";
    return nullptr;
  }
  void* block = SaArena::instance().alloc();
  if (!block) {
    if (error) *error = "no memory for the SA's state";
    return nullptr;
  }
  // The state behind the EspSa in the same block; from here on the EspSa owns both (its destructor
  // destroys the state, its operator delete frees the block), and nothing below fails.
  State* s;
  try {
    s = ::new (static_cast<unsigned char*>(block) + kStateOffset) State(d);
  } catch (...) {
    SaArena::instance().release(block);
    throw;
  }
  std::unique_ptr<EspSa> sa(::new (block) EspSa());
  const EncrInfo& e = info(d.encr);
  const IntegInfo& i = info(d.integ);

  s->spi = d.spi;
  s->spi_be = __builtin_bswap32(d.spi);
  s->iv_len = e.iv_len;
  s->icv_len = e.aead() ? e.icv_len : i.icv_len;
  s->block_mask = static_cast<uint8_t>(e.block_size - 1);
  s->outer_len = d.local.is_v4() ? 20 : 40;
  s->encap_len = static_cast<uint8_t>(s->outer_len + (d.natt ? 8 : 0) + 8 + e.iv_len);
  s->esn = d.esn;
  s->inner_family = d.inner_family;
  s->ecn = d.ecn;
  const bool copy_dscp = d.dscp_mode == DscpMode::kCopy;
  s->tos_and = static_cast<uint8_t>((copy_dscp ? 0xfc : 0x00) | (d.ecn ? 0x03 : 0x00));
  s->tos_or = copy_dscp ? 0 : static_cast<uint8_t>(d.dscp << 2);
  s->df_and = d.df == DfMode::kCopy ? 0x40 : 0;
  s->df_or = d.df == DfMode::kSet ? 0x40 : 0;
  s->soft = d.soft;
  s->hard = d.hard;
  for (const LifetimeLimit& l : {d.soft, d.hard}) {
    if (l.packets) s->life_check_packets = std::min(s->life_check_packets, l.packets);
    if (l.bytes) s->life_check_bytes = std::min(s->life_check_bytes, l.bytes);
  }
  s->cookie = d.cookie;
  s->direction = d.direction;
  s->mode = d.mode;
  s->hash_alg = imb_hash(d.integ);
  s->key_len = e.key_len;

  EspKeys& k = s->keys;
  const uint8_t* key = d.encr_key.data();
  CryptoKind kind{};
  switch (e.family) {
    case CipherFamily::kAesGcm:
      kind = CryptoKind::kAesGcm;
      s->cipher_mode = IMB_CIPHER_GCM;
      s->hash_alg = IMB_AUTH_AES_GMAC;
      if (e.key_len == 16) IMB_AES128_GCM_PRE(mgr, key, &k.cipher.gcm);
      else if (e.key_len == 24) IMB_AES192_GCM_PRE(mgr, key, &k.cipher.gcm);
      else IMB_AES256_GCM_PRE(mgr, key, &k.cipher.gcm);
      s->enc_keys = s->dec_keys = &k.cipher.gcm;
      std::memcpy(s->salt, key + e.key_len, 4);
      break;
    case CipherFamily::kChaCha20Poly1305:
      kind = CryptoKind::kChaCha;
      s->cipher_mode = IMB_CIPHER_CHACHA20_POLY1305;
      s->hash_alg = IMB_AUTH_CHACHA20_POLY1305;
      std::memcpy(k.cipher.chacha, key, 32);
      s->enc_keys = s->dec_keys = k.cipher.chacha;
      std::memcpy(s->salt, key + e.key_len, 4);
      break;
    case CipherFamily::kAesCbc:
      kind = CryptoKind::kCbcHmac;
      s->cipher_mode = IMB_CIPHER_CBC;
      if (e.key_len == 16) IMB_AES_KEYEXP_128(mgr, key, k.cipher.aes.enc, k.cipher.aes.dec);
      else if (e.key_len == 24) IMB_AES_KEYEXP_192(mgr, key, k.cipher.aes.enc, k.cipher.aes.dec);
      else IMB_AES_KEYEXP_256(mgr, key, k.cipher.aes.enc, k.cipher.aes.dec);
      s->enc_keys = k.cipher.aes.enc;
      s->dec_keys = k.cipher.aes.dec;
      break;
    case CipherFamily::kDesCbc:
      kind = CryptoKind::kCbcHmac;
      s->cipher_mode = IMB_CIPHER_DES3;
      for (int n = 0; n < 3; ++n) {
        IMB_DES_KEYSCHED(mgr, k.cipher.des3.ks[n], key + 8 * n);
        k.cipher.des3.ptrs[n] = k.cipher.des3.ks[n];
      }
      s->enc_keys = s->dec_keys = k.cipher.des3.ptrs;
      break;
    case CipherFamily::kNull:
      kind = CryptoKind::kNullHmac;
      s->cipher_mode = IMB_CIPHER_NULL;
      s->key_len = 0;
      break;
  }
  if (!e.aead()) {
    hmac_pads(mgr, d.integ, d.integ_key, k);
    s->ipad = k.ipad;
    s->opad = k.opad;
  }
  if (d.direction == SaDirection::kOutbound) build_template(d, *s);
  const bool out = d.direction == SaDirection::kOutbound;
  s->ops = out ? select_encap_ops(d, kind) : select_decap_ops(d, kind);
  s->kind = kind;
  s->direct_gcm = kind == CryptoKind::kAesGcm;  // as kDirectGcm in esp_encap.cpp and esp_decap.cpp
  return sa;
}

uint32_t EspSa::spi() const noexcept { return state().spi; }

uint32_t EspSa::max_inner_len(uint32_t mtu) const noexcept {
  const State& s = state();
  if (mtu < uint32_t{s.encap_len} + s.icv_len + s.block_mask + 3u) return 0;
  const uint32_t padded = (mtu - s.encap_len - s.icv_len) & ~uint32_t{s.block_mask};  // payload + pad + 2
  return padded - 2;
}

bool EspSa::outer_df(bool inner_df) const noexcept {
  const State& s = state();
  if (s.outer_len != 20) return false;
  return (((inner_df ? 0x40u : 0u) & s.df_and) | s.df_or) != 0;
}
SaDirection EspSa::direction() const noexcept { return state().direction; }
uint64_t EspSa::cookie() const noexcept { return state().cookie; }
uint64_t EspSa::sequence() const noexcept {
  return state().direction == SaDirection::kOutbound ? state().next_seq.load(std::memory_order_relaxed) - 1
                                                     : state().replay.top();
}
void EspSa::set_next_sequence(uint64_t seq) noexcept { state().next_seq.store(seq, std::memory_order_relaxed); }
void EspSa::set_replay_top(uint64_t top) noexcept { state().replay.reset(top); }
uint64_t EspSa::lifetime_packets() const noexcept { return state().life_packets.load(std::memory_order_relaxed); }
uint64_t EspSa::lifetime_bytes() const noexcept { return state().life_bytes.load(std::memory_order_relaxed); }
bool EspSa::soft_expired() const noexcept { return state().life_state.load(std::memory_order_relaxed) >= kLifeSoft; }
bool EspSa::hard_expired() const noexcept { return state().life_state.load(std::memory_order_relaxed) >= kLifeHard; }

// ---- shared helpers

namespace {
std::atomic<uint64_t> g_events_lost{0};
}  // namespace

uint64_t sa_events_lost() noexcept { return g_events_lost.load(std::memory_order_relaxed); }

void raise_event(EspWorker::State& w, const EspSa::State& sa, SaEventKind kind) noexcept {
  if (!w.events) return;
  SaEvent ev{sa.cookie, sa.spi, kind, sa.direction, 0};
  // A full ring loses the event but not the state (soft_expired/hard_expired); the count tells
  // the control core to poll the states (at most once per SA and state change: not hot).
  if (rte_ring_enqueue_elem(w.events, &ev, sizeof(ev)) != 0) [[unlikely]]
    g_events_lost.fetch_add(1, std::memory_order_relaxed);
  // After the enqueue (control_wake.hpp); also for a lost event: its SA state is there to poll.
  if (w.wake) w.wake->notify();
}

void lifetime_moved(EspWorker::State& w, EspSa::State& sa, uint64_t p, uint64_t b) noexcept {
  uint8_t target = kLifeOk;
  if ((sa.hard.packets && p >= sa.hard.packets) || (sa.hard.bytes && b >= sa.hard.bytes)) {
    target = kLifeHard;
  } else if ((sa.soft.packets && p >= sa.soft.packets) || (sa.soft.bytes && b >= sa.soft.bytes)) {
    target = kLifeSoft;
  }
  if (target == kLifeOk) [[likely]]
    return;
  uint8_t cur = sa.life_state.load(std::memory_order_relaxed);
  while (cur < target) {
    if (sa.life_state.compare_exchange_weak(cur, target, std::memory_order_relaxed)) {
      raise_event(w, sa, target == kLifeHard ? SaEventKind::kHardLifetime : SaEventKind::kSoftLifetime);
      break;
    }
  }
}

uint16_t compact(rte_mbuf** pkts, uint16_t n, const DropReason* reason, SaCounters& c) noexcept {
  rte_mbuf* bad[kEspMaxBatch];
  uint16_t good = 0;
  uint16_t nbad = 0;
  for (uint16_t i = 0; i < n; ++i) {
    if (reason[i] == DropReason::kNone) [[likely]] {
      pkts[good++] = pkts[i];
    } else {
      bad[nbad++] = pkts[i];
      counter_add(c.drops[static_cast<std::size_t>(reason[i])]);
    }
  }
  if (nbad) std::memcpy(pkts + good, bad, nbad * sizeof(rte_mbuf*));
  return good;
}

uint16_t compact_multi(rte_mbuf** pkts, EspSa** sas, SaCounters** counters, uint16_t n,
                       const DropReason* reason) noexcept {
  rte_mbuf* bad[kEspMaxBatch];
  EspSa* bad_sa[kEspMaxBatch];
  SaCounters* bad_c[kEspMaxBatch];
  uint16_t good = 0;
  uint16_t nbad = 0;
  for (uint16_t i = 0; i < n; ++i) {
    if (reason[i] == DropReason::kNone) [[likely]] {
      pkts[good] = pkts[i];
      sas[good] = sas[i];
      counters[good++] = counters[i];
    } else {
      counter_add(counters[i]->drops[static_cast<std::size_t>(reason[i])]);
      bad[nbad] = pkts[i];
      bad_sa[nbad] = sas[i];
      bad_c[nbad++] = counters[i];
    }
  }
  if (nbad) {
    std::memcpy(pkts + good, bad, nbad * sizeof(rte_mbuf*));
    std::memcpy(sas + good, bad_sa, nbad * sizeof(EspSa*));
    std::memcpy(counters + good, bad_c, nbad * sizeof(SaCounters*));
  }
  return good;
}

}  // namespace esprit
