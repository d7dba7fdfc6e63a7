// Private to the ESP engine: SA and worker state, shared by esp_sa.cpp, esp_worker.cpp,
// esp_encap.cpp and esp_decap.cpp.
#pragma once

#include <intel-ipsec-mb.h>

#include <array>
#include <bit>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <algorithm>
#include <cstring>

#include "esprit/fastpath/esp.hpp"
#include "esprit/fastpath/replay_window.hpp"

namespace esprit {

/// How the crypto job of a packet is filled; chosen when the SA is created.
enum class CryptoKind : uint8_t {
  kAesGcm,    ///< RFC 4106: salt|IV nonce, AAD = SPI|seq
  kChaCha,    ///< RFC 7634: same layout as GCM
  kCbcHmac,   ///< AES-CBC or 3DES-CBC with explicit random IV, then HMAC
  kNullHmac,  ///< RFC 2410 NULL encryption with HMAC
};

using BurstFn = uint16_t (*)(EspWorker::State&, EspSa::State&, rte_mbuf**, uint16_t, SaCounters&) noexcept;
/// Multi-SA batches: prepares packet `i` of the batch with its SA's variant and fills `job`
/// (encap: `seq` is the packet's reserved sequence number; decap ignores it).
using PrepFn = DropReason (*)(EspWorker::State&, EspSa::State&, rte_mbuf*, uint16_t i, uint64_t seq,
                              IMB_JOB* job) noexcept;
/// Multi-SA batches: completes packet `i` after its job ran (decap: ICV, replay update, strip).
using FinishFn = DropReason (*)(EspWorker::State&, EspSa::State&, rte_mbuf*, uint16_t i) noexcept;

enum LifetimeState : uint8_t { kLifeOk = 0, kLifeSoft = 1, kLifeHard = 2 };

/// IPsec-MB 1.3's layout of gcm_key_data for its VAES/AVX-512 code (the arch init_mb_mgr_auto
/// picks here): 15 AES round-key slots (240 bytes), then the GHASH key powers HashKey^48 first,
/// HashKey^1 last, 16 bytes each. The offset of HashKey^i:
inline constexpr std::size_t gcm_hash_key_offset(unsigned i) noexcept { return 240 + 16 * (48 - i); }

/// Expanded key material, wiped when the SA is destroyed.
struct alignas(64) EspKeys {
  /// Puts the key schedule at 16 mod 64: an AES-128 schedule (176 bytes) still takes 3 lines, and
  /// GCM's HashKey^8..HashKey^1 (128 bytes: packets of up to 8 blocks with the AAD block) take 2
  /// lines instead of 3 (static_assert below the state).
  uint8_t align_pad_[16] = {};
  union {
    struct gcm_key_data gcm;
    struct {
      alignas(16) uint32_t enc[60];
      alignas(16) uint32_t dec[60];
    } aes;
    struct {
      alignas(16) uint64_t ks[3][16];
      const void* ptrs[3];
    } des3;
    alignas(16) uint8_t chacha[32];
  } cipher;
  alignas(16) uint8_t ipad[64];
  alignas(16) uint8_t opad[64];
};

/// The template instances of one SA variant (direction, outer family, NAT-T, mode, crypto kind):
/// one static table per variant, so the SA's hot line holds one pointer for all three.
struct SaOps {
  BurstFn burst;    ///< the single-SA burst, everything inlined
  PrepFn prep;      ///< multi-SA batches: per-packet halves of the same variant
  FinishFn finish;
};

struct alignas(64) EspSa::State {
  // What a packet of a random SA among many touches is a cache miss per line (and prefetch_sas()
  // loads each line for the whole burst first), so the fields a packet needs sit in as few lines as
  // possible: AES-GCM encap reads lines 0-1 (one 128-byte aligned pair, the SA arena sees to it)
  // and its key schedule; decap line 0 and the replay window; CBC/ChaCha jobs line 2 too.

  // ---- line 0: read-only after creation (every packet, both directions)
  const SaOps* ops = nullptr;  ///< the variant's burst, prep and finish functions
  uint32_t spi_be = 0;
  uint8_t salt[4] = {};
  uint32_t v4_csum_base = 0;   ///< one's-complement sum of the template's fixed words
  CryptoKind kind{};
  uint8_t key_len = 0;         ///< cipher key bytes
  uint8_t iv_len = 0;          ///< explicit IV bytes in the packet
  uint8_t icv_len = 0;
  uint8_t block_mask = 0;      ///< ciphertext alignment - 1
  uint8_t outer_len = 0;       ///< outer IP header bytes (20 or 40)
  uint8_t encap_len = 0;       ///< outer + UDP + ESP header + IV
  bool esn = false;
  InnerFamily inner_family = InnerFamily::kAny;
  SaDirection direction = SaDirection::kOutbound;
  /// AES-GCM (both directions): `prep` fills no job; after the prepare pass the packet goes through
  /// IPsec-MB's direct GCM API, gcm_encap_direct() or gcm_decap_direct().
  bool direct_gcm = false;
  bool ecn = true;             ///< decap: RFC 6040 normal mode (encap: folded into tos_and)
  // Outbound tunnel: outer TOS = (inner TOS & tos_and) | tos_or (DSCP copy or set, ECN copy or
  // Not-ECT); outer DF byte = (inner DF bit & df_and) | df_or (DF copy, set or clear).
  uint8_t tos_and = 0xff;
  uint8_t tos_or = 0;
  uint8_t df_and = 0x40;
  uint8_t df_or = 0;
  /// Outbound: outer IPv4/IPv6 header, then UDP for NAT-T (20, 28, 40 or 48 bytes used: IPv4
  /// within line 0, IPv6 into line 1).
  uint8_t hdr_template[48] = {};

  // ---- line 1 (from byte 64): the template's end; lifetime and sequence counter
  std::atomic<uint8_t> life_state{kLifeOk};
  /// The smallest soft or hard limit set (packets, bytes; UINT64_MAX: none): a batch that stays
  /// below both needs neither `soft` nor `hard` (line 2).
  uint64_t life_check_packets = UINT64_MAX;
  uint64_t life_check_bytes = UINT64_MAX;
  /// Mutable, shared by the workers that use the SA.
  std::atomic<uint64_t> next_seq{1};
  std::atomic<uint64_t> life_packets{0};
  std::atomic<uint64_t> life_bytes{0};

  // ---- line 2: job fields (CBC + HMAC, ChaCha20), the limits themselves, control-only fields
  alignas(64) const void* enc_keys = nullptr;
  const void* dec_keys = nullptr;
  const uint8_t* ipad = nullptr;
  const uint8_t* opad = nullptr;
  IMB_CIPHER_MODE cipher_mode{};
  IMB_HASH_ALG hash_alg{};
  LifetimeLimit soft;
  LifetimeLimit hard;
  uint64_t cookie = 0;
  uint32_t spi = 0;
  SaMode mode = SaMode::kTunnel;

  // ---- inbound: owned by the one worker that decapsulates the SA
  alignas(64) ReplayWindow replay;

  // ---- key schedules, read by IPsec-MB
  EspKeys keys;

  /// Highest sequence number that may be sent.
  uint64_t seq_limit() const noexcept { return esn ? UINT64_MAX : UINT32_MAX; }

  explicit State(const SaDescriptor& d) : replay(d.replay_window, d.esn, d.anti_replay) {}
  ~State();
};
static_assert(sizeof(gcm_key_data) >= gcm_hash_key_offset(1) + 16, "IPsec-MB's gcm_key_data as described above");
static_assert((offsetof(EspSa::State, keys) + offsetof(EspKeys, cipher) + gcm_hash_key_offset(8)) % 64 == 0 &&
                  offsetof(EspKeys, cipher) % 16 == 0,
              "GCM's HashKey^8..1 on two lines (prefetch_sas), the schedule 16-byte aligned for IPsec-MB");
static_assert(offsetof(EspSa::State, hdr_template) == 36 && offsetof(EspSa::State, life_state) == 84 &&
                  offsetof(EspSa::State, next_seq) == 104 && sizeof(std::atomic<uint64_t>) == 8 &&
                  offsetof(EspSa::State, life_bytes) == 120 && offsetof(EspSa::State, enc_keys) == 128,
              "EspSa::State: hot lines 0-1 as documented (ops, lengths, salt, template; template end, "
              "lifetime, sequence), job fields from line 2");
/// Unpredictable IVs for CBC (RFC 3602 3): AES-128-CTR keystream under a random key and counter
/// from OpenSSL's RAND_bytes, generated by IPsec-MB 4 KiB at a time, before a batch starts.
class IvGenerator {
 public:
  static constexpr std::size_t kBufSize = 4096;
  bool init(IMB_MGR* mgr) noexcept;
  /// Makes sure `bytes` can be taken without a refill; call before a batch's jobs are requested.
  void reserve(IMB_MGR* mgr, std::size_t bytes) noexcept {
    if (pos_ + bytes > kBufSize) [[unlikely]]
      refill(mgr);
  }
  const uint8_t* take(std::size_t n) noexcept {
    const uint8_t* p = buf_ + pos_;
    pos_ += n;
    return p;
  }
  ~IvGenerator();

 private:
  void refill(IMB_MGR* mgr) noexcept;
  alignas(64) uint8_t buf_[kBufSize];
  std::size_t pos_ = kBufSize;
  alignas(16) uint32_t enc_keys_[60];
  alignas(16) uint32_t dec_keys_[60];
  alignas(16) uint8_t ctr_[16];
};

/// Per-packet bookkeeping between the prepare pass and the completion pass of one batch.
struct PktMeta {
  uint8_t* esp;          ///< ESP header
  uint8_t* icv;          ///< ICV in the packet
  uint64_t seq;          ///< full sequence number
  uint32_t cipher_len;   ///< bytes from the end of the IV to the ICV
  uint32_t hash_len;     ///< bytes authenticated from the ESP header (HMAC), including ESN high bits
  uint16_t l3_len;       ///< decap: outer IP header(s) bytes; encap: inner plaintext length
  uint8_t outer_tos;     ///< decap: outer DSCP/ECN byte
  uint8_t nh_off;        ///< decap transport: offset of the next-header byte in the outer header
};

/// One distinct SA of a batch.
struct SaGroup {
  EspSa::State* sa;
  SaCounters* counters;
  uint64_t next_seq;   ///< encap: next sequence number to hand out in this batch
  uint64_t bytes;
  uint16_t count;      ///< packets of the batch for this SA
  uint16_t granted;    ///< encap: sequence numbers reserved
  uint16_t used;       ///< encap: sequence numbers handed out so far
  uint16_t ok;
  DropReason all;      ///< a reason that fails every packet of the SA (direction, lifetime)
};

/// Distinct SAs of one batch: open addressing on the SA's address, cleared per batch by the list
/// of used slots (at most kEspMaxBatch SAs, so the table is never more than half full).
struct SaTable {
  static constexpr unsigned kSize = 2 * kEspMaxBatch;
  int8_t slot[kSize];  // group index or -1
  SaGroup group[kEspMaxBatch];
  uint8_t pos[kEspMaxBatch];  ///< table positions in use
  uint16_t ngroups = 0;

  SaTable() noexcept { std::fill_n(slot, kSize, int8_t{-1}); }
  void clear() noexcept {
    for (uint16_t g = 0; g < ngroups; ++g) slot[pos[g]] = -1;
    ngroups = 0;
  }
  /// The group of `sa`, created on first sight.
  uint8_t find(EspSa::State* sa, SaCounters* c) noexcept {
    const auto h = static_cast<uint64_t>(reinterpret_cast<uintptr_t>(sa) >> 6) * 0x9e3779b97f4a7c15ull;
    unsigned p = static_cast<unsigned>(h >> 57);  // 7 bits: kSize == 128
    while (true) {
      const int8_t g = slot[p];
      if (g < 0) break;
      if (group[g].sa == sa) return static_cast<uint8_t>(g);
      p = (p + 1) & (kSize - 1);
    }
    const auto g = static_cast<uint8_t>(ngroups++);
    slot[p] = static_cast<int8_t>(g);
    pos[g] = static_cast<uint8_t>(p);
    group[g] = SaGroup{sa, c, 0, 0, 0, 0, 0, 0, DropReason::kNone};
    return g;
  }
};
static_assert(SaTable::kSize == 128, "the hash takes 7 bits");

struct alignas(64) EspWorker::State {
  IMB_MGR* mgr = nullptr;
  /// AES-GCM encap and decap through IPsec-MB's direct API (the manager's best-arch functions), by
  /// key length: [0] 128, [1] 192, [2] 256 bits. gcm_enc_fn(key_len) / gcm_dec_fn(key_len) pick one.
  aes_gcm_enc_dec_t gcm_enc[3] = {};
  aes_gcm_enc_dec_t gcm_dec[3] = {};
  aes_gcm_enc_dec_t gcm_enc_fn(unsigned key_len) const noexcept { return gcm_enc[(key_len >> 3) - 2]; }
  aes_gcm_enc_dec_t gcm_dec_fn(unsigned key_len) const noexcept { return gcm_dec[(key_len >> 3) - 2]; }
  rte_ring* events = nullptr;
  ControlWake* wake = nullptr;  ///< rung after each event
  uint16_t ip_id = 0;
  IvGenerator iv;
  PktMeta meta[kEspMaxBatch];
  DropReason reason[kEspMaxBatch];
  IMB_JOB* jobs[kEspMaxBatch];
  uint8_t job_pkt[kEspMaxBatch];  ///< packet index of each submitted job
  alignas(64) uint8_t nonce[kEspMaxBatch][16];
  alignas(64) uint8_t aad[kEspMaxBatch][16];
  alignas(64) uint8_t icv_calc[kEspMaxBatch][32];
  alignas(64) uint8_t icv_rx[kEspMaxBatch][32];
  SaTable sa_table;  ///< multi-SA batches: the distinct SAs of the batch
  alignas(64) gcm_context_data gcm_ctx;  ///< scratch of the direct GCM calls (wiped at exit)
  ~State();
};

// ---- helpers shared by encap and decap

/// Padding bytes 1, 2, 3, ... (RFC 4303 2.4), copied by encap and compared by decap.
inline constexpr std::array<uint8_t, 256> kPadBytes = [] {
  std::array<uint8_t, 256> a{};
  for (std::size_t i = 0; i < a.size(); ++i) a[i] = static_cast<uint8_t>(i + 1);
  return a;
}();

/// Whether the `pad` bytes at `p` are 1, 2, ..., pad (RFC 4303 2.4). Up to 16 padding bytes (all
/// that Esprit and common peers send with 4- and 16-byte blocks) are compared in two 8-byte words
/// instead of a libc memcmp call per packet; that reads up to 16 bytes from `p`, which the caller
/// guarantees are in the packet: the pad length, next header and an ICV of at least 12 bytes follow.
inline bool pad_bytes_ok(const uint8_t* p, unsigned pad) noexcept {
  if constexpr (std::endian::native == std::endian::little) {
    if (pad <= 16) [[likely]] {
      if (pad == 0) return true;
      uint64_t a;
      uint64_t ref;
      std::memcpy(&a, p, 8);
      std::memcpy(&ref, kPadBytes.data(), 8);
      a ^= ref;
      uint64_t b = 0;
      if (pad > 8) {
        std::memcpy(&b, p + 8, 8);
        std::memcpy(&ref, kPadBytes.data() + 8, 8);
        b ^= ref;
      }
      // The first n bytes of a little-endian word are its low 8n bits.
      const auto low = [](unsigned n) { return n >= 8 ? ~uint64_t{0} : (uint64_t{1} << (8 * n)) - 1; };
      return ((a & low(pad)) | (b & low(pad > 8 ? pad - 8 : 0))) == 0;
    }
  }
  return std::memcmp(p, kPadBytes.data(), pad) == 0;
}

inline uint16_t load_be16(const uint8_t* p) noexcept { return static_cast<uint16_t>(p[0] << 8 | p[1]); }
inline uint32_t load_be32(const uint8_t* p) noexcept {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return __builtin_bswap32(v);
}
inline void store_be16(uint8_t* p, uint16_t v) noexcept {
  p[0] = static_cast<uint8_t>(v >> 8);
  p[1] = static_cast<uint8_t>(v);
}
inline void store_be32(uint8_t* p, uint32_t v) noexcept {
  v = __builtin_bswap32(v);
  std::memcpy(p, &v, 4);
}
inline void store_be64(uint8_t* p, uint64_t v) noexcept {
  v = __builtin_bswap64(v);
  std::memcpy(p, &v, 8);
}

/// Sum of the big-endian 16-bit words of an IPv4 header (checksum field included).
inline uint32_t ipv4_sum(const uint8_t* h, unsigned len) noexcept {
  uint32_t s = 0;
  for (unsigned i = 0; i < len; i += 2) s += load_be16(h + i);
  return s;
}
inline uint16_t fold_csum(uint32_t s) noexcept {
  s = (s & 0xffff) + (s >> 16);
  s = (s & 0xffff) + (s >> 16);
  return static_cast<uint16_t>(~s);
}

/// Grants up to `n` sequence numbers, first in `first`; never wraps (RFC 4303 3.3.3).
inline uint16_t reserve_seq(EspSa::State& sa, uint16_t n, uint64_t& first) noexcept {
  uint64_t cur = sa.next_seq.load(std::memory_order_relaxed);
  uint64_t grant;
  do {
    // cur == 0 means the 64-bit counter was used up to UINT64_MAX.
    if (cur == 0 || cur > sa.seq_limit()) {
      grant = 0;
      break;
    }
    grant = std::min<uint64_t>(n, sa.seq_limit() - cur + 1);
  } while (!sa.next_seq.compare_exchange_weak(cur, cur + grant, std::memory_order_relaxed));
  first = cur;
  return static_cast<uint16_t>(grant);
}

/// Raises a lifetime event once per state change (control core reads it from the worker's ring).
void raise_event(EspWorker::State& w, const EspSa::State& sa, SaEventKind kind) noexcept;

/// Moves the lifetime state to what `packets`/`bytes` (the SA's totals) reach, raising one event
/// per change.
void lifetime_moved(EspWorker::State& w, EspSa::State& sa, uint64_t packets, uint64_t bytes) noexcept;

/// Adds a finished batch (`ok` packets of `bytes` lifetime bytes) to the SA's lifetime and moves
/// its state when a limit is crossed. The hard limit is never passed: when the batch would pass it
/// (the packets are counted before any of them leaves the caller), its packets are kept in burst
/// order while they fit under both limits, the rest get kLifetimeExpired and leave `ok`/`bytes`,
/// and the SA stops. Several workers on one outbound SA each reserve their batch with one
/// fetch_add, so together they never pass it either. `in_batch(i)` says whether packet i (reason
/// kNone) belongs to the SA, `len_of(i)` gives its lifetime bytes; both are used only then.
template <class InBatch, class LenOf>
inline void account_lifetime(EspWorker::State& w, EspSa::State& sa, uint16_t& ok, uint64_t& bytes,
                             DropReason* reason, uint16_t n, InBatch in_batch, LenOf len_of) noexcept {
  const uint64_t p0 = sa.life_packets.fetch_add(ok, std::memory_order_relaxed);
  const uint64_t b0 = sa.life_bytes.fetch_add(bytes, std::memory_order_relaxed);
  // Below the smallest limit: no limit is reached or passed (and `soft`/`hard`, line 2, stay unread).
  if (p0 + ok < sa.life_check_packets && b0 + bytes < sa.life_check_bytes) [[likely]]
    return;
  if ((sa.hard.packets && p0 + ok > sa.hard.packets) || (sa.hard.bytes && b0 + bytes > sa.hard.bytes)) [[unlikely]] {
    const uint64_t room_p = sa.hard.packets ? sa.hard.packets - std::min(p0, sa.hard.packets) : UINT64_MAX;
    const uint64_t room_b = sa.hard.bytes ? sa.hard.bytes - std::min(b0, sa.hard.bytes) : UINT64_MAX;
    uint16_t kept = 0;
    uint64_t kept_b = 0;
    bool full = false;
    for (uint16_t i = 0; i < n; ++i) {
      if (reason[i] != DropReason::kNone || !in_batch(i)) continue;
      const uint64_t len = len_of(i);
      if (!full && kept < room_p && len <= room_b - kept_b) {
        ++kept;
        kept_b += len;
      } else {
        full = true;  // later packets neither: the SA stops here, in order
        reason[i] = DropReason::kLifetimeExpired;
      }
    }
    // Give back what the batch reserved and does not send.
    sa.life_packets.fetch_sub(ok - kept, std::memory_order_relaxed);
    sa.life_bytes.fetch_sub(bytes - kept_b, std::memory_order_relaxed);
    ok = kept;
    bytes = kept_b;
    uint8_t cur = sa.life_state.load(std::memory_order_relaxed);
    while (cur < kLifeHard)
      if (sa.life_state.compare_exchange_weak(cur, kLifeHard, std::memory_order_relaxed)) {
        raise_event(w, sa, SaEventKind::kHardLifetime);
        break;
      }
    return;
  }
  lifetime_moved(w, sa, p0 + ok, b0 + bytes);
}

/// Moves pkts whose reason is not kNone behind the good ones, keeping order; counts the drops.
uint16_t compact(rte_mbuf** pkts, uint16_t n, const DropReason* reason, SaCounters& c) noexcept;

/// Fills one IPsec-MB job for the packet described by `m`. `nonce` and `aad` are the packet's
/// scratch slots (AEAD), `tag` where the computed ICV goes.
template <CryptoKind kKind, bool kEncrypt>
inline void fill_job(IMB_JOB* job, const EspSa::State& sa, const PktMeta& m, const uint8_t* nonce,
                     const uint8_t* aad, uint8_t* tag) noexcept {
  job->cipher_mode = sa.cipher_mode;
  job->hash_alg = sa.hash_alg;
  job->cipher_direction = kEncrypt ? IMB_DIR_ENCRYPT : IMB_DIR_DECRYPT;
  job->chain_order = kEncrypt ? IMB_ORDER_CIPHER_HASH : IMB_ORDER_HASH_CIPHER;
  job->enc_keys = sa.enc_keys;
  job->dec_keys = sa.dec_keys;
  job->key_len_in_bytes = sa.key_len;
  job->src = m.esp;
  job->dst = m.esp + 8 + sa.iv_len;  // IPsec-MB: input at src + cipher offset, output at dst itself
  job->cipher_start_src_offset_in_bytes = 8u + sa.iv_len;
  job->msg_len_to_cipher_in_bytes = m.cipher_len;
  job->auth_tag_output = tag;
  job->auth_tag_output_len_in_bytes = sa.icv_len;
  if constexpr (kKind == CryptoKind::kAesGcm || kKind == CryptoKind::kChaCha) {
    job->hash_start_src_offset_in_bytes = 8u + sa.iv_len;
    job->msg_len_to_hash_in_bytes = m.cipher_len;
    job->iv = nonce;
    job->iv_len_in_bytes = 12;
    if constexpr (kKind == CryptoKind::kAesGcm) {
      job->u.GCM.aad = aad;
      job->u.GCM.aad_len_in_bytes = sa.esn ? 12 : 8;
    } else {
      job->u.CHACHA20_POLY1305.aad = aad;
      job->u.CHACHA20_POLY1305.aad_len_in_bytes = sa.esn ? 12 : 8;
    }
  } else {
    job->hash_start_src_offset_in_bytes = 0;
    job->msg_len_to_hash_in_bytes = m.hash_len;
    job->iv = m.esp + 8;
    job->iv_len_in_bytes = sa.iv_len;
    job->u.HMAC._hashed_auth_key_xor_ipad = sa.ipad;
    job->u.HMAC._hashed_auth_key_xor_opad = sa.opad;
  }
}

/// AES-GCM encap of prepared packet `i` (w.meta[i], w.nonce[i], w.aad[i]) with IPsec-MB's direct
/// API, `fn` = w.gcm_enc_fn(sa.key_len). GCM is not multi-buffered in IPsec-MB: its job API runs
/// the same single-buffer code after filling and dispatching a job, which this skips (12-15
/// cycles a packet at 64 B, docs/performance.md). Called in a pass of its own after the prepare
/// pass: run right after a packet's headers, trailer and nonce were written, the cipher's wide
/// loads of them stall on store forwarding (measured: 60 cycles a packet more).
inline void gcm_encap_direct(EspWorker::State& w, const EspSa::State& sa, aes_gcm_enc_dec_t fn,
                             uint16_t i) noexcept {
  const PktMeta& pm = w.meta[i];
  uint8_t* text = pm.esp + 8 + sa.iv_len;
  fn(&sa.keys.cipher.gcm, &w.gcm_ctx, text, text, pm.cipher_len, w.nonce[i],
     sa.esn ? w.aad[i] : pm.esp, sa.esn ? 12 : 8, pm.icv, sa.icv_len);
}

/// AES-GCM decap of prepared packet `i` (w.meta[i], w.nonce[i], w.aad[i]) with IPsec-MB's direct
/// API, `fn` = w.gcm_dec_fn(sa.key_len): decrypts in place and writes the computed tag to
/// w.icv_calc[i]. Nothing is verified here: the completion pass (decap_fin) compares the tag with
/// the packet's ICV in constant time before the replay window moves or the plaintext is used, as
/// for a job. Called in a pass of its own after the prepare pass, as gcm_encap_direct().
inline void gcm_decap_direct(EspWorker::State& w, const EspSa::State& sa, aes_gcm_enc_dec_t fn,
                             uint16_t i) noexcept {
  const PktMeta& pm = w.meta[i];
  uint8_t* text = pm.esp + 8 + sa.iv_len;
  fn(&sa.keys.cipher.gcm, &w.gcm_ctx, text, text, pm.cipher_len, w.nonce[i],
     sa.esn ? w.aad[i] : pm.esp, sa.esn ? 12 : 8, w.icv_calc[i], sa.icv_len);
}

/// Runs the `n` jobs in w.jobs to completion and marks packets whose job failed.
/// Jobs complete in submission order; user_data carries the packet index.
inline void run_jobs(EspWorker::State& w, uint16_t n, DropReason* reason) noexcept {
  if (n == 0) return;
#ifdef NDEBUG
  uint32_t done = IMB_SUBMIT_BURST_NOCHECK(w.mgr, n, w.jobs);
#else
  // Debug and sanitizer builds let IPsec-MB validate every job.
  uint32_t done = IMB_SUBMIT_BURST(w.mgr, n, w.jobs);
  if (done == 0 && imb_get_errno(w.mgr) != 0) {
    for (uint16_t j = 0; j < n; ++j) reason[w.job_pkt[j]] = DropReason::kCryptoError;
    while (IMB_FLUSH_BURST(w.mgr, n, w.jobs) != 0) {
    }
    return;
  }
#endif
  auto check = [&](uint32_t k) {
    for (uint32_t j = 0; j < k; ++j) {
      const IMB_JOB* job = w.jobs[j];
      if (job->status != IMB_STATUS_COMPLETED) [[unlikely]]
        reason[reinterpret_cast<uintptr_t>(job->user_data)] = DropReason::kCryptoError;
    }
  };
  check(done);
  while (done < n) {
    const uint32_t k = IMB_FLUSH_BURST(w.mgr, n - done, w.jobs);
    if (k == 0) [[unlikely]]
      break;
    check(k);
    done += k;
  }
}

/// The crypto pass of a single-SA batch of `slots` prepared packets: AES-GCM (`kDirectGcm`) through
/// IPsec-MB's direct call for each packet that passed the prepare pass, other suites as the
/// `njobs` jobs the prepare pass filled.
template <bool kEncap, bool kDirectGcm>
inline void crypto_pass(EspWorker::State& w, const EspSa::State& sa, uint16_t slots, uint16_t njobs,
                        DropReason* reason) noexcept {
  if constexpr (kDirectGcm) {
    const aes_gcm_enc_dec_t fn = kEncap ? w.gcm_enc_fn(sa.key_len) : w.gcm_dec_fn(sa.key_len);
    for (uint16_t i = 0; i < slots; ++i) {
      if (reason[i] != DropReason::kNone) [[unlikely]]
        continue;
      if constexpr (kEncap) gcm_encap_direct(w, sa, fn, i);
      else gcm_decap_direct(w, sa, fn, i);
    }
  } else {
    run_jobs(w, njobs, reason);
  }
}


/// Moves pkts (and the parallel sas and counters) whose reason is not kNone behind the good ones,
/// keeping order; counts each drop in that packet's own counters.
uint16_t compact_multi(rte_mbuf** pkts, EspSa** sas, SaCounters** counters, uint16_t n,
                       const DropReason* reason) noexcept;

const SaOps* select_encap_ops(const SaDescriptor& d, CryptoKind kind) noexcept;
const SaOps* select_decap_ops(const SaDescriptor& d, CryptoKind kind) noexcept;

/// The template instance of `Impl::fn<kV6, kNatT, kTunnel, kKind>` for an SA (encap or decap).
template <typename Impl, typename Fn = BurstFn>
Fn select_variant(const SaDescriptor& d, CryptoKind kind) noexcept {
  auto by_kind = [kind]<bool kV6, bool kNatT, bool kTunnel>() -> Fn {
    switch (kind) {
      case CryptoKind::kAesGcm: return &Impl::template fn<kV6, kNatT, kTunnel, CryptoKind::kAesGcm>;
      case CryptoKind::kChaCha: return &Impl::template fn<kV6, kNatT, kTunnel, CryptoKind::kChaCha>;
      case CryptoKind::kCbcHmac: return &Impl::template fn<kV6, kNatT, kTunnel, CryptoKind::kCbcHmac>;
      case CryptoKind::kNullHmac: return &Impl::template fn<kV6, kNatT, kTunnel, CryptoKind::kNullHmac>;
    }
    return nullptr;
  };
  auto by_mode = [&]<bool kV6, bool kNatT>() -> Fn {
    return d.mode == SaMode::kTunnel ? by_kind.template operator()<kV6, kNatT, true>()
                                     : by_kind.template operator()<kV6, kNatT, false>();
  };
  auto by_natt = [&]<bool kV6>() -> Fn {
    return d.natt ? by_mode.template operator()<kV6, true>() : by_mode.template operator()<kV6, false>();
  };
  return d.local.is_v4() ? by_natt.template operator()<false>() : by_natt.template operator()<true>();
}

}  // namespace esprit
