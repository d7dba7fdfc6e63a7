// libFuzzer target for the ESP receive path: arbitrary bytes into decap_burst() (RFC 4303 3.4,
// RFC 3948 3, RFC 6040 4.2), over a fixed set of SAs that covers every crypto kind, both families,
// both modes, NAT-T, ESN and a large replay window.
//
// Input layout:
//   [0]     SA index (mod the number of SAs in kSas)
//   [1]     flags: bits 0-1 mode (Mode), bits 2-3 packets - 1, bit 4 first packet in two segments,
//           bit 5 ... with room to linearize, bit 6 replicate the burst to kEspMaxBatch + 2 packets,
//           bit 7 start the replay window at a given top (EspSa::set_replay_top), e.g. near 2^32 or
//           in a later ESN subspace
//   [2]     bits 0-2 number of mutations, bits 3-6 bytes of L2 padding after each IP packet
//   [3]     outer DSCP/ECN byte (SEAL mode)
//   [4..7]  low 32 bits of the first sequence number (big-endian)
//   [8]     step between the packets' sequence numbers (int8; SEAL); in ENCAP mode, bit 0 patches
//           the inner headers to what encap accepts (the outbound SA numbers the burst itself)
//   [9..16] only with flag bit 7: the window's top, big-endian (low 32 bits only without ESN)
//   then    4 bytes per mutation: packet, offset (big-endian 16 bits), xor mask
//   then    2 bytes (big-endian) per packet but the last: its length; the rest is the last packet.
//
// Modes:
//   RAW    each packet is an outer IP packet as received from the wire.
//   FIXUP  as RAW, with version, lengths, protocol, UDP length and SPI patched to fit the SA, so the
//          fuzzer spends its time past the header checks.
//   ENCAP  each packet is an inner packet (tunnel) or an IP packet (transport), encapsulated by the
//          matching outbound SA before decap. Mutations then hit the outer headers (not covered by
//          the ICV: ECN, lengths, extension headers) or break the ICV.
//   SEAL   each packet is [header byte][ESP plaintext, trailer included]: an independent OpenSSL
//          implementation of the SA seals it with a valid ICV, so the fuzzer owns everything the
//          engine sees after the ICV check: padding, pad length, next header, inner packet, ECN.
//
// Checks on every input: all mbufs come back (no loss, no duplicate, pool count restored), the
// good packets are well-formed mbufs no longer than their input, counters.packets + drops equals
// the packets given. In ENCAP and SEAL modes without an effective mutation, an independent model
// (set-based replay window, RFC 4303 A.2.2 inference, RFC 4303 2.4 padding, RFC 6040 ECN) predicts
// every drop reason and the exact output bytes.
//
// The SAs are created once, at initialisation; each input starts its inbound SA's replay window
// afresh (set_replay_top), so a crash reproduces from its input alone (a window carried over from
// earlier inputs would make the verdicts depend on history and, once its top reached 2^32 - 1,
// starve RAW inputs). Outbound numbers are set per input too.
//
// ESPRIT_FUZZ_WRITE_SEEDS=DIR makes the target write seed inputs (valid packets in every mode and
// SA, and one per drop reason after the ICV) into DIR at start-up; pass DIR as the corpus to fuzz
// from them. ESPRIT_FUZZ_VERBOSE=1 prints one line per burst: what an input or corpus exercises.
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>
#include <sys/stat.h>

#include <algorithm>
#include <array>
#include <cstdarg>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <vector>

#include "dpdk_env.hpp"
#include "esprit/fastpath/esp.hpp"

namespace esprit::fuzz {
namespace {

// ---------------------------------------------------------------------------------------------
// The SAs

struct SaSpec {
  const char* name;
  EncrAlg encr;
  IntegAlg integ;
  SaMode mode;
  bool v6;
  bool natt;
  bool esn;
  uint32_t window;
  InnerFamily inner_family;
  bool ecn;
};

constexpr SaSpec kSas[] = {
    {"aes128gcm16-tunnel-v4", EncrAlg::kAesGcm16_128, IntegAlg::kNone, SaMode::kTunnel, false, false, false, 64,
     InnerFamily::kAny, true},
    {"aes256-sha256-esn-w1024-tunnel-v6", EncrAlg::kAesCbc256, IntegAlg::kHmacSha256_128, SaMode::kTunnel, true, false,
     true, 1024, InnerFamily::kAny, true},
    {"chacha20poly1305-natt-tunnel-v4-inner-v4", EncrAlg::kChaCha20Poly1305, IntegAlg::kNone, SaMode::kTunnel, false,
     true, false, 64, InnerFamily::kV4, true},
    {"3des-sha1-transport-v6", EncrAlg::kTripleDesCbc, IntegAlg::kHmacSha1_96, SaMode::kTransport, true, false, false,
     64, InnerFamily::kAny, true},
    {"null-sha256-natt-tunnel-v6-no-ecn", EncrAlg::kNull, IntegAlg::kHmacSha256_128, SaMode::kTunnel, true, true, false,
     64, InnerFamily::kAny, false},
    {"aes256gcm16-esn-transport-v4", EncrAlg::kAesGcm16_256, IntegAlg::kNone, SaMode::kTransport, false, false, true,
     64, InnerFamily::kAny, true},
};
constexpr std::size_t kNumSas = std::size(kSas);
constexpr uint32_t kSpi = 0x1000abcd;
constexpr std::size_t kMaxChunk = 2000;   // bytes of one packet taken from the input
constexpr uint16_t kEncapHeadroom = 128;  // like a pool mbuf
constexpr uint16_t kEncapTailroom = 64;   // padding (< 16) + 2 + ICV (<= 32), rounded up
constexpr uint16_t kReplicated = kEspMaxBatch + 2;
// EspSa::set_replay_top(T) treats T as already received (a replay of T is refused); the model
// checks that. (The fuzzer found reset() accepting T once; kept as a switch for bisecting.)
constexpr bool kTopIsReceived = true;

std::vector<uint8_t> key_of(std::size_t len, uint8_t seed) {
  std::vector<uint8_t> k(len);
  for (std::size_t i = 0; i < len; ++i) k[i] = static_cast<uint8_t>(seed + i * 7);
  return k;
}

SaDescriptor descriptor(const SaSpec& s, SaDirection dir) {
  SaDescriptor d;
  d.spi = kSpi;
  d.direction = dir;
  d.mode = s.mode;
  auto a = *IpAddress::parse(s.v6 ? "2001:db8::1" : "192.0.2.1");
  auto b = *IpAddress::parse(s.v6 ? "2001:db8::2" : "198.51.100.2");
  d.local = dir == SaDirection::kOutbound ? a : b;
  d.remote = dir == SaDirection::kOutbound ? b : a;
  d.inner_family = s.inner_family;
  d.encr = s.encr;
  d.encr_key = SecretBytes(key_of(info(s.encr).keymat_len(), 0x11));
  d.integ = s.integ;
  d.integ_key = SecretBytes(key_of(info(s.integ).key_len, 0x5a));
  d.esn = s.esn;
  d.replay_window = s.window;
  d.ecn = s.ecn;
  if (s.natt) d.natt = NatTraversal{4500, 4500};
  return d;
}

struct Ctx {
  std::unique_ptr<EspWorker> worker;
  std::unique_ptr<EspSa> out[kNumSas];
  std::unique_ptr<EspSa> in[kNumSas];
  rte_mempool* pool = nullptr;
  unsigned pool_avail = 0;
};
Ctx* g_ctx = nullptr;

// Context for failure messages: which SA and mode the failing input used.
std::string g_where;
// ESPRIT_FUZZ_VERBOSE=1: one line per decap burst (to see what a corpus exercises).
bool g_verbose = false;

[[noreturn]] __attribute__((format(printf, 1, 2))) void fail(const char* fmt, ...) {
  std::fprintf(stderr, "\n*** esp_decap_fuzz invariant violated [%s]: ", g_where.c_str());
  va_list ap;
  va_start(ap, fmt);
  std::vfprintf(stderr, fmt, ap);
  va_end(ap);
  std::fprintf(stderr, "\n");
  std::abort();
}
#define FUZZ_CHECK(cond, ...) \
  do {                        \
    if (!(cond)) [[unlikely]] \
      fail(__VA_ARGS__);      \
  } while (0)

uint16_t be16(const uint8_t* p) { return static_cast<uint16_t>(p[0] << 8 | p[1]); }
void put16(uint8_t* p, uint32_t v) {
  p[0] = static_cast<uint8_t>(v >> 8);
  p[1] = static_cast<uint8_t>(v);
}
void put32(uint8_t* p, uint32_t v) {
  put16(p, v >> 16);
  put16(p + 2, v & 0xffff);
}

/// One's-complement sum check of an IPv4 header: true when its checksum verifies.
bool ipv4_csum_ok(const uint8_t* h, unsigned len) {
  uint32_t s = 0;
  for (unsigned i = 0; i + 1 < len; i += 2) s += be16(h + i);
  while (s >> 16) s = (s & 0xffff) + (s >> 16);
  return s == 0xffff;
}
void ipv4_set_csum(uint8_t* h, unsigned len) {
  h[10] = h[11] = 0;
  uint32_t s = 0;
  for (unsigned i = 0; i + 1 < len; i += 2) s += be16(h + i);
  while (s >> 16) s = (s & 0xffff) + (s >> 16);
  put16(h + 10, ~s & 0xffff);
}

// ---------------------------------------------------------------------------------------------
// mbufs with ASan-visible data: the data lives in a malloc'ed external buffer of exactly the
// packet's size (plus the requested head/tailroom), so reading or writing one byte outside it is
// a heap-buffer-overflow. Pool mbuf data areas are invisible to ASan.

void free_extbuf(void* addr, void* opaque) {
  std::free(addr);
  delete static_cast<rte_mbuf_ext_shared_info*>(opaque);
}

rte_mbuf* ext_mbuf(std::span<const uint8_t> bytes, uint16_t headroom, uint16_t room_after) {
  const std::size_t size = headroom + bytes.size() + room_after;
  FUZZ_CHECK(size <= UINT16_MAX, "packet too large for one mbuf");
  rte_mbuf* m = rte_pktmbuf_alloc(g_ctx->pool);
  FUZZ_CHECK(m != nullptr, "mbuf pool exhausted (leak?)");
  auto* buf = static_cast<uint8_t*>(std::malloc(size ? size : 1));
  auto* shinfo = new rte_mbuf_ext_shared_info{};
  shinfo->free_cb = free_extbuf;
  shinfo->fcb_opaque = shinfo;
  rte_mbuf_ext_refcnt_set(shinfo, 1);
  // Any non-zero IOVA: nothing DMAs from these buffers, and rte_mbuf_check() rejects 0.
  rte_pktmbuf_attach_extbuf(m, buf, reinterpret_cast<uintptr_t>(buf), static_cast<uint16_t>(size), shinfo);
  m->data_off = headroom;
  if (!bytes.empty()) std::memcpy(buf + headroom, bytes.data(), bytes.size());
  m->data_len = static_cast<uint16_t>(bytes.size());
  m->pkt_len = static_cast<uint32_t>(bytes.size());
  return m;
}

/// Two segments, split at `at`; the first has room for the whole packet when `room`, else none
/// (rte_pktmbuf_linearize() then fails and decap must drop it as kSegmented).
rte_mbuf* segmented_mbuf(std::span<const uint8_t> bytes, std::size_t at, bool room) {
  rte_mbuf* first = ext_mbuf(bytes.first(at), 0, room ? static_cast<uint16_t>(bytes.size() - at) : 0);
  rte_mbuf* second = ext_mbuf(bytes.subspan(at), 0, 0);
  FUZZ_CHECK(rte_pktmbuf_chain(first, second) == 0, "rte_pktmbuf_chain failed");
  return first;
}

std::vector<uint8_t> bytes_of(const rte_mbuf* m) {
  std::vector<uint8_t> v(rte_pktmbuf_pkt_len(m));
  const void* p = rte_pktmbuf_read(m, 0, static_cast<uint32_t>(v.size()), v.data());
  if (p != v.data() && !v.empty()) std::memcpy(v.data(), p, v.size());
  return v;
}

// ---------------------------------------------------------------------------------------------
// Independent model of the receiver (RFC 4303 3.4.3, A.2.2; RFC 6040 4.2)

/// The replay window as a set of numbers seen and a top: nothing shared with the engine's bitmap.
struct WindowModel {
  uint64_t top = 0;
  uint32_t w = 64;
  bool esn = false;
  std::set<uint64_t> seen;

  /// RFC 4303 A.2.2, with "Seqh = Th - 1" below zero meaning too old.
  [[nodiscard]] std::optional<uint64_t> infer(uint32_t seql) const {
    if (!esn) return seql;
    const uint32_t tl = static_cast<uint32_t>(top);
    const uint64_t th = top >> 32;
    uint64_t seqh;
    if (tl >= w - 1) {
      seqh = seql >= tl - (w - 1) ? th : th + 1;
    } else if (seql >= static_cast<uint32_t>(tl - (w - 1))) {
      if (th == 0) return std::nullopt;
      seqh = th - 1;
    } else {
      seqh = th;
    }
    return seqh << 32 | seql;
  }
  [[nodiscard]] DropReason check(uint64_t s) const {
    if (s == 0) return DropReason::kTooOld;
    if (s > top) return DropReason::kNone;
    if (top - s >= w) return DropReason::kTooOld;
    return seen.count(s) ? DropReason::kReplay : DropReason::kNone;
  }
  DropReason update(uint64_t s) {
    const DropReason r = check(s);
    if (r != DropReason::kNone) return r;
    seen.insert(s);
    top = std::max(top, s);
    return DropReason::kNone;
  }
};

/// RFC 6040 Figure 4 (normal mode), rows inner Not-ECT, ECT(1), ECT(0), CE by codepoint value
/// (0 Not-ECT, 1 ECT(1), 2 ECT(0), 3 CE); columns the outer codepoint; -1 drop.
constexpr int kEcnTable[4][4] = {
    {0, 0, 0, -1},  // inner Not-ECT
    {1, 1, 1, 3},   // inner ECT(1)
    {2, 1, 2, 3},   // inner ECT(0)
    {3, 3, 3, 3},   // inner CE
};

/// How the bytes of an IPv4 header checksum (output offset 10-11) are checked.
enum class Csum : uint8_t {
  kCompare,  ///< like every other byte
  kVerify,   ///< recomputed by the engine: the header (v4_hdr_len bytes) must verify
  kSkip,     ///< updated incrementally over a header that did not verify before either
};

/// What one packet should become.
struct Expect {
  bool modelled = false;
  DropReason pre = DropReason::kNone;  ///< drop found before the sequence number (segments, length)
  uint64_t sealed_seq = 0;             ///< the full number the ICV was computed over
  uint32_t seq_lo = 0;
  // Verdict once the ICV has verified, and the output then.
  DropReason post = DropReason::kNone;
  std::vector<uint8_t> out;
  Csum csum = Csum::kCompare;
  unsigned v4_hdr_len = 0;
};

/// The plaintext P (payload, padding, pad length, next header) after a verified ICV.
/// `hdr` is the packet's IP header for transport mode (nh_off: where its next header sits).
void model_plaintext(const SaSpec& sa, std::span<const uint8_t> p, unsigned outer_ecn, std::span<const uint8_t> hdr,
                     unsigned nh_off, Expect& e) {
  const std::size_t len = p.size();
  const unsigned pad = p[len - 2];
  const uint8_t nh = p[len - 1];
  if (pad + 2 > len) {
    e.post = DropReason::kBadPadding;
    return;
  }
  for (unsigned k = 0; k < pad; ++k) {
    if (p[len - 2 - pad + k] != static_cast<uint8_t>(k + 1)) {
      e.post = DropReason::kBadPadding;
      return;
    }
  }
  if (nh == 59) {
    e.post = DropReason::kDummyPacket;
    return;
  }
  const std::size_t ptl = len - 2 - pad;
  if (sa.mode == SaMode::kTransport) {
    e.out.assign(hdr.begin(), hdr.end());
    e.out.insert(e.out.end(), p.begin(), p.begin() + static_cast<std::ptrdiff_t>(ptl));
    e.out[nh_off] = nh;
    if (!sa.v6) {
      put16(e.out.data() + 2, static_cast<uint32_t>(e.out.size()));
      e.csum = Csum::kVerify;
      e.v4_hdr_len = static_cast<unsigned>(hdr.size());
    } else {
      put16(e.out.data() + 4, static_cast<uint32_t>(e.out.size() - 40));
    }
    e.post = DropReason::kNone;
    return;
  }
  std::size_t tl;
  unsigned inner_ecn;
  if (nh == 4) {
    if (sa.inner_family == InnerFamily::kV6) {
      e.post = DropReason::kInnerFamily;
      return;
    }
    if (ptl < 20 || p[0] >> 4 != 4 || (p[0] & 15u) < 5) {
      e.post = DropReason::kBadInner;
      return;
    }
    tl = be16(p.data() + 2);
    if (tl < (p[0] & 15u) * 4 || tl > ptl) {
      e.post = DropReason::kBadInner;
      return;
    }
    inner_ecn = p[1] & 3;
  } else if (nh == 41) {
    if (sa.inner_family == InnerFamily::kV4) {
      e.post = DropReason::kInnerFamily;
      return;
    }
    if (ptl < 40 || p[0] >> 4 != 6) {
      e.post = DropReason::kBadInner;
      return;
    }
    tl = 40u + be16(p.data() + 4);
    if (tl > ptl) {
      e.post = DropReason::kBadInner;
      return;
    }
    inner_ecn = p[1] >> 4 & 3;
  } else {
    e.post = DropReason::kBadNextHeader;
    return;
  }
  e.out.assign(p.begin(), p.begin() + static_cast<std::ptrdiff_t>(tl));
  if (sa.ecn) {
    const int ecn = kEcnTable[inner_ecn][outer_ecn & 3];
    if (ecn < 0) {
      e.post = DropReason::kEcnDrop;
      return;
    }
    if (static_cast<unsigned>(ecn) != inner_ecn) {
      if (nh == 4) {
        // The engine updates the checksum incrementally; a header that verified must still verify.
        e.v4_hdr_len = (p[0] & 15u) * 4;
        e.csum = ipv4_csum_ok(e.out.data(), e.v4_hdr_len) ? Csum::kVerify : Csum::kSkip;
        e.out[1] = static_cast<uint8_t>((e.out[1] & 0xfc) | ecn);
      } else {
        e.out[1] = static_cast<uint8_t>((e.out[1] & 0xcf) | ecn << 4);
      }
    }
  }
  e.post = DropReason::kNone;
}

// ---------------------------------------------------------------------------------------------
// Independent sealing with OpenSSL (RFC 4106, RFC 7634, RFC 3602/2451 + RFC 2404/4868, RFC 2410)

struct EvpCtx {
  EVP_CIPHER_CTX* c = EVP_CIPHER_CTX_new();
  ~EvpCtx() { EVP_CIPHER_CTX_free(c); }
};

/// ESP header + IV + ciphertext + ICV for plaintext `p` (length already a multiple of the block).
std::vector<uint8_t> seal(const SaSpec& sa, uint64_t seq, std::span<const uint8_t> p) {
  const EncrInfo& e = info(sa.encr);
  const IntegInfo& ii = info(sa.integ);
  const auto ekey = key_of(e.keymat_len(), 0x11);
  const auto ikey = key_of(ii.key_len, 0x5a);
  const unsigned icv_len = e.aead() ? e.icv_len : ii.icv_len;
  std::vector<uint8_t> esp(8 + e.iv_len + p.size() + icv_len);
  put32(esp.data(), kSpi);
  put32(esp.data() + 4, static_cast<uint32_t>(seq));
  uint8_t* iv = esp.data() + 8;
  for (unsigned k = 0; k < e.iv_len; ++k) iv[k] = static_cast<uint8_t>(seq >> (8 * (k % 8)) ^ (0xa5 + k));
  uint8_t* ct = iv + e.iv_len;
  uint8_t* icv = ct + p.size();
  EvpCtx ctx;
  int outl = 0;
  bool ok = true;
  if (e.aead()) {
    const EVP_CIPHER* cipher = e.family == CipherFamily::kChaCha20Poly1305 ? EVP_chacha20_poly1305()
                               : e.key_len == 16                           ? EVP_aes_128_gcm()
                               : e.key_len == 24                           ? EVP_aes_192_gcm()
                                                                           : EVP_aes_256_gcm();
    uint8_t nonce[12];
    std::memcpy(nonce, ekey.data() + e.key_len, 4);  // salt
    std::memcpy(nonce + 4, iv, 8);
    uint8_t aad[12];
    int aad_len = 8;
    std::memcpy(aad, esp.data(), 4);
    if (sa.esn) {
      put32(aad + 4, static_cast<uint32_t>(seq >> 32));
      std::memcpy(aad + 8, esp.data() + 4, 4);
      aad_len = 12;
    } else {
      std::memcpy(aad + 4, esp.data() + 4, 4);
    }
    ok = EVP_EncryptInit_ex(ctx.c, cipher, nullptr, nullptr, nullptr) == 1 &&
         EVP_CIPHER_CTX_ctrl(ctx.c, EVP_CTRL_AEAD_SET_IVLEN, 12, nullptr) == 1 &&
         EVP_EncryptInit_ex(ctx.c, nullptr, nullptr, ekey.data(), nonce) == 1 &&
         EVP_EncryptUpdate(ctx.c, nullptr, &outl, aad, aad_len) == 1 &&
         (p.empty() || EVP_EncryptUpdate(ctx.c, ct, &outl, p.data(), static_cast<int>(p.size())) == 1) &&
         EVP_EncryptFinal_ex(ctx.c, ct + p.size(), &outl) == 1 &&
         EVP_CIPHER_CTX_ctrl(ctx.c, EVP_CTRL_AEAD_GET_TAG, static_cast<int>(icv_len), icv) == 1;
  } else {
    if (e.family == CipherFamily::kNull) {
      if (!p.empty()) std::memcpy(ct, p.data(), p.size());
    } else {
      const EVP_CIPHER* cipher = e.family == CipherFamily::kDesCbc ? EVP_des_ede3_cbc()
                                 : e.key_len == 16                 ? EVP_aes_128_cbc()
                                 : e.key_len == 24                 ? EVP_aes_192_cbc()
                                                                   : EVP_aes_256_cbc();
      ok = EVP_EncryptInit_ex(ctx.c, cipher, nullptr, ekey.data(), iv) == 1 &&
           EVP_CIPHER_CTX_set_padding(ctx.c, 0) == 1 &&
           (p.empty() || EVP_EncryptUpdate(ctx.c, ct, &outl, p.data(), static_cast<int>(p.size())) == 1) &&
           EVP_EncryptFinal_ex(ctx.c, ct + p.size(), &outl) == 1;
    }
    const EVP_MD* md = sa.integ == IntegAlg::kHmacMd5_96       ? EVP_md5()
                       : sa.integ == IntegAlg::kHmacSha1_96    ? EVP_sha1()
                       : sa.integ == IntegAlg::kHmacSha256_128 ? EVP_sha256()
                       : sa.integ == IntegAlg::kHmacSha384_192 ? EVP_sha384()
                                                               : EVP_sha512();
    std::vector<uint8_t> authed(esp.begin(), esp.end() - icv_len);
    if (sa.esn) {  // RFC 4303 3.3.2.2: the high half is authenticated after the trailer
      authed.resize(authed.size() + 4);
      put32(authed.data() + authed.size() - 4, static_cast<uint32_t>(seq >> 32));
    }
    uint8_t mac[EVP_MAX_MD_SIZE];
    unsigned mac_len = 0;
    ok = ok &&
         HMAC(md, ikey.data(), static_cast<int>(ikey.size()), authed.data(), authed.size(), mac, &mac_len) != nullptr;
    std::memcpy(icv, mac, icv_len);
  }
  FUZZ_CHECK(ok, "OpenSSL failed to seal a packet");
  return esp;
}

/// Outer IP header (+ UDP for NAT-T) in front of `esp_len` bytes of ESP. `h` shapes it: IPv4
/// options (low 4 bits, words) or IPv6 extension headers (bits 0-1 count, then 2 bits per type).
/// Returns the IP header length in `l3` and, for IPv6, the offset of the byte naming ESP/UDP.
std::vector<uint8_t> outer_header(const SaSpec& sa, uint8_t h, uint8_t tos, std::size_t esp_len, unsigned& l3,
                                  unsigned& nh_off) {
  const uint8_t proto = sa.natt ? 17 : 50;
  const unsigned udp = sa.natt ? 8 : 0;
  std::vector<uint8_t> o;
  if (!sa.v6) {
    const unsigned words = (h & 15u) % 11;
    l3 = 20 + 4 * words;
    o.assign(l3 + udp, 0);
    o[0] = static_cast<uint8_t>(0x40 | l3 / 4);
    o[1] = tos;
    put16(o.data() + 2, static_cast<uint32_t>(l3 + udp + esp_len));
    put16(o.data() + 4, 0x1234);
    o[6] = h & 0x80 ? 0x40 : 0;  // DF or not: either is a whole packet
    o[8] = 64;
    o[9] = proto;
    const uint8_t src[4] = {192, 0, 2, 1}, dst[4] = {198, 51, 100, 2};
    std::memcpy(&o[12], src, 4);
    std::memcpy(&o[16], dst, 4);
    for (unsigned k = 20; k < l3; ++k) o[k] = k == 20 ? 1 : 0;  // NOP option, then end-of-list
    ipv4_set_csum(o.data(), l3);
    nh_off = 9;
  } else {
    const unsigned n_ext = h & 3u;
    l3 = 40 + 8 * n_ext;
    o.assign(l3 + udp, 0);
    o[0] = static_cast<uint8_t>(0x60 | tos >> 4);
    o[1] = static_cast<uint8_t>(tos << 4);
    put16(o.data() + 4, static_cast<uint32_t>(l3 - 40 + udp + esp_len));
    o[7] = 64;
    const uint8_t src[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
    const uint8_t dst[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2};
    std::memcpy(&o[8], src, 16);
    std::memcpy(&o[24], dst, 16);
    static constexpr uint8_t kTypes[4] = {0, 43, 60, 60};  // Hop-by-Hop, Routing, Destination Options
    nh_off = 6;
    for (unsigned k = 0; k < n_ext; ++k) {
      o[nh_off] = kTypes[h >> (2 + 2 * k) & 3];
      nh_off = 40 + 8 * k;  // 8 bytes each (length field 0), options all Pad1
    }
    o[nh_off] = proto;
  }
  if (sa.natt) {
    put16(o.data() + l3, 4500);
    put16(o.data() + l3 + 2, 4500);
    put16(o.data() + l3 + 4, static_cast<uint32_t>(8 + esp_len));
  }
  return o;
}

// ---------------------------------------------------------------------------------------------
// Input parsing

enum class Mode : uint8_t { kRaw = 0, kFixup = 1, kEncap = 2, kSeal = 3 };

struct Reader {
  const uint8_t* p;
  std::size_t n;
  uint8_t u8() {
    if (!n) return 0;
    --n;
    return *p++;
  }
  uint16_t u16() {
    const unsigned hi = u8();  // two statements: the operands of | are unsequenced
    return static_cast<uint16_t>(hi << 8 | u8());
  }
  uint32_t u32() {
    const uint32_t hi = u16();
    return hi << 16 | u16();
  }
  std::span<const uint8_t> take(std::size_t k) {
    k = std::min(k, n);
    std::span<const uint8_t> s(p, k);
    p += k;
    n -= k;
    return s;
  }
};

struct Mutation {
  uint8_t pkt;
  uint16_t off;
  uint8_t mask;
};

struct Input {
  std::size_t sa;
  Mode mode;
  unsigned npkts;
  bool segment, seg_room, replicate, start_top;
  uint64_t top;
  unsigned l2pad;
  uint8_t tos;
  uint32_t seq;
  int8_t step;
  std::vector<Mutation> muts;
  std::vector<std::span<const uint8_t>> chunks;
};

Input parse(const uint8_t* data, std::size_t size) {
  Reader r{data, size};
  Input in{};
  in.sa = r.u8() % kNumSas;
  const uint8_t f = r.u8();
  in.mode = static_cast<Mode>(f & 3);
  in.npkts = 1 + (f >> 2 & 3);
  in.segment = f & 0x10;
  in.seg_room = f & 0x20;
  in.replicate = f & 0x40;
  in.start_top = f & 0x80;
  const uint8_t m = r.u8();
  in.l2pad = m >> 3 & 15;
  in.tos = r.u8();
  in.seq = r.u32();
  in.step = static_cast<int8_t>(r.u8());
  if (in.start_top) {
    const uint64_t hi = r.u32();
    in.top = hi << 32 | r.u32();
    if (!kSas[in.sa].esn) in.top &= UINT32_MAX;
  }
  for (unsigned k = 0; k < (m & 7u); ++k) {
    Mutation mu;
    mu.pkt = r.u8();
    mu.off = r.u16();
    mu.mask = r.u8();
    in.muts.push_back(mu);
  }
  std::vector<uint16_t> lens;
  for (unsigned k = 1; k < in.npkts; ++k) lens.push_back(r.u16());
  for (unsigned k = 0; k + 1 < in.npkts; ++k) in.chunks.push_back(r.take(std::min<std::size_t>(lens[k], kMaxChunk)));
  in.chunks.push_back(r.take(kMaxChunk));
  return in;
}

/// The inverse of parse(), for seeds.
struct InputWriter {
  std::vector<uint8_t> b;
  InputWriter(std::size_t sa, Mode mode, unsigned flags_extra, uint8_t tos, uint32_t seq, int8_t step,
              const std::vector<std::vector<uint8_t>>& pkts, unsigned l2pad = 0, const std::vector<Mutation>& muts = {},
              uint64_t top = 0) {
    b.push_back(static_cast<uint8_t>(sa));
    b.push_back(static_cast<uint8_t>(static_cast<unsigned>(mode) | (pkts.size() - 1) << 2 | flags_extra));
    b.push_back(static_cast<uint8_t>(muts.size() | l2pad << 3));
    b.push_back(tos);
    for (int k = 3; k >= 0; --k) b.push_back(static_cast<uint8_t>(seq >> (8 * k)));
    b.push_back(static_cast<uint8_t>(step));
    if (flags_extra & 0x80)
      for (int k = 7; k >= 0; --k) b.push_back(static_cast<uint8_t>(top >> (8 * k)));
    for (const Mutation& mu : muts) {
      b.push_back(mu.pkt);
      b.push_back(static_cast<uint8_t>(mu.off >> 8));
      b.push_back(static_cast<uint8_t>(mu.off));
      b.push_back(mu.mask);
    }
    for (std::size_t k = 0; k + 1 < pkts.size(); ++k) {
      b.push_back(static_cast<uint8_t>(pkts[k].size() >> 8));
      b.push_back(static_cast<uint8_t>(pkts[k].size()));
    }
    for (const auto& p : pkts) b.insert(b.end(), p.begin(), p.end());
  }
};

// ---------------------------------------------------------------------------------------------
// Building the burst

struct Pkt {
  std::vector<uint8_t> bytes;  ///< what decap receives
  Expect e;
};

/// Patches an outer packet so it gets past the header checks of `sa`'s decap variant.
void fixup_outer(const SaSpec& sa, std::vector<uint8_t>& b) {
  const uint8_t proto = sa.natt ? 17 : 50;
  unsigned l3;
  if (!sa.v6) {
    if (b.size() < 20) b.resize(20);
    unsigned ihl = b[0] & 15u;
    if (ihl < 5 || ihl * 4 > b.size()) ihl = 5;
    b[0] = static_cast<uint8_t>(0x40 | ihl);
    l3 = ihl * 4;
    put16(b.data() + 2, static_cast<uint32_t>(b.size()));
    b[6] &= 0x40;
    b[7] = 0;
    b[9] = proto;
  } else {
    if (b.size() < 40) b.resize(40);
    b[0] = static_cast<uint8_t>(0x60 | (b[0] & 15));
    put16(b.data() + 4, static_cast<uint32_t>(b.size() - 40));
    if (b[6] == 0 || b[6] == 43 || b[6] == 60) return;  // leave extension chains to the fuzzer
    b[6] = proto;
    l3 = 40;
  }
  std::size_t off = l3;
  if (sa.natt) {
    if (b.size() < l3 + 8) b.resize(l3 + 8);
    put16(b.data() + l3 + 4, static_cast<uint32_t>(b.size() - l3));
    if (!sa.v6)
      put16(b.data() + 2, static_cast<uint32_t>(b.size()));
    else
      put16(b.data() + 4, static_cast<uint32_t>(b.size() - 40));
    off += 8;
  }
  if (b.size() >= off + 4) put32(b.data() + off, kSpi);
}

/// Makes an inner packet acceptable to encap of `sa` (the version and lengths the fuzzer would
/// otherwise have to guess).
void fixup_inner(const SaSpec& sa, std::vector<uint8_t>& b) {
  const unsigned ver = b.empty() ? 0 : b[0] >> 4;
  bool v6 = sa.mode == SaMode::kTransport ? sa.v6 : (ver == 6 || (ver != 4 && !b.empty() && (b[0] & 1)));
  if (sa.inner_family == InnerFamily::kV4) v6 = false;
  if (sa.inner_family == InnerFamily::kV6) v6 = true;
  if (!v6) {
    if (b.size() < 20) b.resize(20);
    unsigned ihl = b[0] & 15u;
    if (ihl < 5 || ihl * 4 > b.size()) ihl = 5;
    b[0] = static_cast<uint8_t>(0x40 | ihl);
    put16(b.data() + 2, static_cast<uint32_t>(b.size()));
    b[6] &= 0x40;
    b[7] = 0;
    ipv4_set_csum(b.data(), ihl * 4);
  } else {
    if (b.size() < 40) b.resize(40);
    b[0] = static_cast<uint8_t>(0x60 | (b[0] & 15));
    put16(b.data() + 4, static_cast<uint32_t>(b.size() - 40));
  }
}

/// For ENCAP's oracle: the IPv6 upper-layer protocol behind the extension headers.
/// Only used on packets encap accepted (or produced), whose chain fits; checked anyway.
std::pair<unsigned, uint8_t> v6_upper(const std::vector<uint8_t>& b) {
  unsigned off = 40;
  uint8_t nh = b[6];
  while (nh == 0 || nh == 43 || nh == 60) {
    FUZZ_CHECK(off + 2 <= b.size(), "IPv6 extension headers overrun a packet encap accepted");
    nh = b[off];
    off += (b[off + 1] + 1u) * 8;
  }
  return {off, nh};
}

/// The next sequence number in the burst: seq, seq + step, ... (low 32 bits; wraps).
uint32_t seq_at(const Input& in, unsigned i) {
  return in.seq + static_cast<uint32_t>(static_cast<int32_t>(in.step) * static_cast<int32_t>(i));
}

/// SEAL: [header byte][plaintext] -> sealed outer packet, and the expected result.
Pkt build_sealed(const SaSpec& sa, std::span<const uint8_t> chunk, uint8_t tos, uint64_t seq, unsigned l2pad) {
  Reader r{chunk.data(), chunk.size()};
  const uint8_t h = r.u8();
  std::span<const uint8_t> p = r.take(r.n);
  const unsigned block = info(sa.encr).block_size;
  Pkt pk;
  // Cut to whole cipher blocks; under 4 bytes there is no room for a trailer (kShortPacket).
  const std::vector<uint8_t> plain(p.begin(), p.begin() + static_cast<std::ptrdiff_t>(p.size() / block * block));
  if (plain.size() < 4) pk.e.pre = DropReason::kShortPacket;
  const std::vector<uint8_t> esp = seal(sa, seq, plain);
  unsigned l3, nh_off;
  std::vector<uint8_t> outer = outer_header(sa, h, tos, esp.size(), l3, nh_off);
  pk.bytes = outer;
  pk.bytes.insert(pk.bytes.end(), esp.begin(), esp.end());
  pk.bytes.insert(pk.bytes.end(), l2pad, 0xee);
  pk.e.modelled = true;
  pk.e.sealed_seq = seq;
  pk.e.seq_lo = static_cast<uint32_t>(seq);
  if (pk.e.pre == DropReason::kNone) {
    unsigned outer_ecn = sa.v6 ? (outer[1] >> 4 & 3) : (outer[1] & 3);
    std::vector<uint8_t> hdr(outer.begin(), outer.begin() + l3);
    model_plaintext(sa, plain, outer_ecn, hdr, nh_off, pk.e);
  }
  return pk;
}

/// Creates the burst's mbufs. Packet 0 may be split in two segments.
std::vector<rte_mbuf*> make_mbufs(const std::vector<Pkt>& pkts, const Input& in) {
  std::vector<rte_mbuf*> v;
  for (std::size_t i = 0; i < pkts.size(); ++i) {
    const auto& b = pkts[i].bytes;
    if (i == 0 && in.segment && b.size() >= 2) {
      const std::size_t at = 1 + (in.seq % (b.size() - 1));
      v.push_back(segmented_mbuf(b, at, in.seg_room));
    } else {
      v.push_back(ext_mbuf(b, 0, 0));
    }
  }
  return v;
}

/// Runs the model over the burst as the engine batches it: the high half of each number is
/// inferred from the window as it was before the packet's batch; check() before crypto, update()
/// after the ICV.
void run_model(WindowModel& win, std::vector<Pkt>& pkts, std::array<uint64_t, kDropReasonCount>& drops,
               std::vector<std::size_t>& good) {
  for (std::size_t s = 0; s < pkts.size(); s += kEspMaxBatch) {
    const std::size_t end = std::min(pkts.size(), s + kEspMaxBatch);
    const WindowModel pre = win;
    std::vector<DropReason> r(end - s, DropReason::kNone);
    std::vector<uint64_t> seq(end - s);
    for (std::size_t i = s; i < end; ++i) {
      const Expect& e = pkts[i].e;
      DropReason& ri = r[i - s];
      if (e.pre != DropReason::kNone) {
        ri = e.pre;
        continue;
      }
      const auto q = pre.infer(e.seq_lo);
      if (!q) {
        ri = DropReason::kTooOld;
        continue;
      }
      seq[i - s] = *q;
      ri = pre.check(*q);
    }
    for (std::size_t i = s; i < end; ++i) {
      DropReason& ri = r[i - s];
      if (ri != DropReason::kNone) continue;
      if (seq[i - s] != pkts[i].e.sealed_seq) {
        ri = DropReason::kIcvFail;  // the receiver authenticates another high half
        continue;
      }
      ri = win.update(seq[i - s]);
      if (ri == DropReason::kNone) ri = pkts[i].e.post;
    }
    for (std::size_t i = s; i < end; ++i) {
      if (r[i - s] == DropReason::kNone)
        good.push_back(i);
      else
        ++drops[static_cast<std::size_t>(r[i - s])];
    }
  }
}

const char* mode_name(Mode m) {
  switch (m) {
    case Mode::kRaw: return "raw";
    case Mode::kFixup: return "fixup";
    case Mode::kEncap: return "encap";
    case Mode::kSeal: return "seal";
  }
  return "?";
}

/// Decapsulates `pkts` with `sa`, checks the invariants (and the model when every packet is
/// modelled), frees every mbuf. Returns the number of good packets.
uint16_t decap_and_check(std::size_t sai, EspSa& sa_in, std::vector<Pkt>& pkts, const Input& in, WindowModel* win) {
  const SaSpec& sa = kSas[sai];
  std::vector<rte_mbuf*> mbufs = make_mbufs(pkts, in);
  const std::vector<rte_mbuf*> given = mbufs;
  SaCounters c;
  const uint16_t k = decap_burst(*g_ctx->worker, sa_in, mbufs, c);
  const std::size_t n = mbufs.size();

  // Ownership: the burst is a permutation of what was given, good packets first, order kept.
  FUZZ_CHECK(k <= n, "decap returned %u for %zu packets", k, n);
  {
    std::vector<rte_mbuf*> a = mbufs, b = given;
    std::sort(a.begin(), a.end());
    std::sort(b.begin(), b.end());
    FUZZ_CHECK(a == b, "decap lost or duplicated an mbuf");
  }
  std::vector<std::size_t> idx(n);  // original index of each returned mbuf
  for (std::size_t i = 0; i < n; ++i)
    idx[i] = static_cast<std::size_t>(std::find(given.begin(), given.end(), mbufs[i]) - given.begin());
  for (std::size_t i = 1; i < n; ++i) {
    if (i != k) FUZZ_CHECK(idx[i - 1] < idx[i], "decap reordered packets within the good or the failed part");
  }
  FUZZ_CHECK(c.packets == k, "counters.packets %lu != returned %u", static_cast<unsigned long>(c.packets), k);
  FUZZ_CHECK(c.packets + c.total_drops() == n, "packets %lu + drops %lu != %zu given",
             static_cast<unsigned long>(c.packets), static_cast<unsigned long>(c.total_drops()), n);

  uint64_t bytes = 0;
  for (std::size_t i = 0; i < k; ++i) {
    rte_mbuf* m = mbufs[i];
    const char* why = nullptr;
    FUZZ_CHECK(rte_mbuf_check(m, 1, &why) == 0, "good packet %zu is a broken mbuf: %s", idx[i], why);
    FUZZ_CHECK(m->nb_segs == 1 && m->data_len == m->pkt_len, "good packet %zu not linear", idx[i]);
    FUZZ_CHECK(m->pkt_len <= pkts[idx[i]].bytes.size(), "output %u bytes longer than input %zu", m->pkt_len,
               pkts[idx[i]].bytes.size());
    const uint8_t* o = rte_pktmbuf_mtod(m, const uint8_t*);
    FUZZ_CHECK(m->pkt_len >= (sa.v6 && sa.mode == SaMode::kTransport ? 40u : 20u), "output of %u bytes", m->pkt_len);
    const unsigned ver = o[0] >> 4;
    if (sa.mode == SaMode::kTransport)
      FUZZ_CHECK(ver == (sa.v6 ? 6u : 4u), "transport output version %u", ver);
    else
      FUZZ_CHECK(ver == 4 || ver == 6, "tunnel output version %u", ver);
    bytes += m->pkt_len;
  }
  FUZZ_CHECK(c.bytes == bytes, "counters.bytes %lu != %lu", static_cast<unsigned long>(c.bytes),
             static_cast<unsigned long>(bytes));

  if (g_verbose) {
    std::fprintf(stderr, "[%s] %zu packets, %u good", g_where.c_str(), n, k);
    for (const auto& r : kDropReasons)
      if (c.drop(r.reason))
        std::fprintf(stderr, ", %s %lu", std::string(r.name).c_str(), static_cast<unsigned long>(c.drop(r.reason)));
    std::fprintf(stderr, "\n");
  }
  const bool modelled = win && std::all_of(pkts.begin(), pkts.end(), [](const Pkt& p) { return p.e.modelled; });
  if (modelled) {
    std::array<uint64_t, kDropReasonCount> drops{};
    std::vector<std::size_t> good;
    run_model(*win, pkts, drops, good);
    for (std::size_t r = 0; r < kDropReasonCount; ++r) {
      FUZZ_CHECK(c.drops[r] == drops[r], "drops[%s]: engine %lu, model %lu", std::string(kDropReasons[r].name).c_str(),
                 static_cast<unsigned long>(c.drops[r]), static_cast<unsigned long>(drops[r]));
    }
    FUZZ_CHECK(good.size() == k, "engine passed %u packets, model %zu", k, good.size());
    for (std::size_t i = 0; i < k; ++i) {
      FUZZ_CHECK(idx[i] == good[i], "engine passed packet %zu, model packet %zu", idx[i], good[i]);
      const Expect& e = pkts[idx[i]].e;
      const std::vector<uint8_t> got = bytes_of(mbufs[i]);
      FUZZ_CHECK(got.size() == e.out.size(), "packet %zu: output %zu bytes, model %zu", idx[i], got.size(),
                 e.out.size());
      for (std::size_t j = 0; j < got.size(); ++j) {
        if (e.csum != Csum::kCompare && (j == 10 || j == 11)) continue;
        FUZZ_CHECK(got[j] == e.out[j], "packet %zu: output byte %zu is %02x, model %02x", idx[i], j, got[j], e.out[j]);
      }
      if (e.csum == Csum::kVerify)
        FUZZ_CHECK(ipv4_csum_ok(got.data(), e.v4_hdr_len), "packet %zu: IPv4 header checksum does not verify", idx[i]);
    }
  }
  for (rte_mbuf* m : mbufs) rte_pktmbuf_free(m);
  return k;
}

/// A valid inner packet for `sa` (tunnel: IPv4 unless the SA carries IPv6 only; transport: the
/// SA's family), `payload` bytes of UDP data.
std::vector<uint8_t> inner_udp(const SaSpec& sa, std::size_t payload, bool want_v6, uint8_t tos) {
  bool v6 = sa.mode == SaMode::kTransport ? sa.v6 : want_v6;
  if (sa.inner_family == InnerFamily::kV4) v6 = false;
  std::vector<uint8_t> p;
  if (!v6) {
    p.assign(28 + payload, 0);
    p[0] = 0x45;
    p[1] = tos;
    put16(p.data() + 2, static_cast<uint32_t>(p.size()));
    p[6] = 0x40;
    p[8] = 64;
    p[9] = 17;
    p[12] = 10, p[15] = 1, p[16] = 10, p[18] = 1, p[19] = 1;
    ipv4_set_csum(p.data(), 20);
    put16(p.data() + 20, 12345);
    put16(p.data() + 22, 443);
    put16(p.data() + 24, static_cast<uint32_t>(8 + payload));
    for (std::size_t i = 0; i < payload; ++i) p[28 + i] = static_cast<uint8_t>(i);
  } else {
    p.assign(48 + payload, 0);
    p[0] = static_cast<uint8_t>(0x60 | tos >> 4);
    p[1] = static_cast<uint8_t>(tos << 4);
    put16(p.data() + 4, static_cast<uint32_t>(8 + payload));
    p[6] = 17;
    p[7] = 64;
    p[8] = 0x20, p[9] = 0x01, p[23] = 1, p[24] = 0x20, p[25] = 0x01, p[39] = 2;
    put16(p.data() + 40, 12345);
    put16(p.data() + 42, 443);
    put16(p.data() + 44, static_cast<uint32_t>(8 + payload));
    for (std::size_t i = 0; i < payload; ++i) p[48 + i] = static_cast<uint8_t>(i * 3);
  }
  return p;
}

/// ESP plaintext for SEAL: payload, minimal padding 1, 2, 3..., pad length, next header.
std::vector<uint8_t> with_trailer(const SaSpec& sa, std::vector<uint8_t> payload, uint8_t nh) {
  const unsigned block = info(sa.encr).block_size;
  const std::size_t padded = (payload.size() + 2 + block - 1) / block * block;
  const std::size_t pad = padded - payload.size() - 2;
  for (std::size_t k = 0; k < pad; ++k) payload.push_back(static_cast<uint8_t>(k + 1));
  payload.push_back(static_cast<uint8_t>(pad));
  payload.push_back(nh);
  return payload;
}

/// Tunnel: the inner packet's next header; transport: what the SEAL payload claims to be (UDP).
uint8_t nh_for(const SaSpec& sa, const std::vector<uint8_t>& inner) {
  if (sa.mode == SaMode::kTransport) return 17;
  return inner[0] >> 4 == 6 ? 41 : 4;
}

int run_one(const uint8_t* data, std::size_t size) {
  if (size < 2) return -1;  // not worth an execution; keeps the corpus free of trivial inputs
  const Input in = parse(data, size);
  const SaSpec& sa = kSas[in.sa];
  g_where = std::string(sa.name) + " " + mode_name(in.mode);

  // A fresh replay window (see the file comment), or one that starts at the input's top.
  EspSa& sa_in = *g_ctx->in[in.sa];
  sa_in.set_replay_top(in.start_top ? in.top : 0);
  FUZZ_CHECK(sa_in.sequence() == (in.start_top ? in.top : 0), "set_replay_top did not take");
  WindowModel win;
  win.w = sa.window;
  win.esn = sa.esn;
  win.top = in.start_top ? in.top : 0;
  if (kTopIsReceived && win.top != 0) win.seen.insert(win.top);

  std::vector<Pkt> pkts;
  bool modelled = false;
  switch (in.mode) {
    case Mode::kRaw:
    case Mode::kFixup:
      for (auto c : in.chunks) {
        Pkt p;
        p.bytes.assign(c.begin(), c.end());
        if (in.mode == Mode::kFixup) fixup_outer(sa, p.bytes);
        pkts.push_back(std::move(p));
      }
      pkts.reserve(kReplicated);
      if (in.replicate)
        for (std::size_t i = pkts.size(); i < kReplicated; ++i) pkts.push_back(pkts[i % in.chunks.size()]);
      break;

    case Mode::kSeal: {
      modelled = true;
      // Each packet sealed with the full number the receiver will infer for its low half.
      const std::size_t count = in.replicate ? kReplicated : in.chunks.size();
      pkts.reserve(count);
      for (std::size_t i = 0; i < count; ++i) {
        const std::size_t ci = i % in.chunks.size();
        if (i >= in.chunks.size()) {
          pkts.push_back(pkts[ci]);  // a replay of packet ci
          continue;
        }
        const uint32_t lo = seq_at(in, static_cast<unsigned>(i));
        const uint64_t seq = win.infer(lo).value_or(lo);
        pkts.push_back(build_sealed(sa, in.chunks[ci], in.tos, seq, in.l2pad));
      }
      break;
    }

    case Mode::kEncap: {
      modelled = true;
      const bool fix = in.step & 1;  // low bit of the step byte: patch the inner headers
      std::vector<std::vector<uint8_t>> inner;
      const std::size_t count = in.replicate ? kReplicated : in.chunks.size();
      for (std::size_t i = 0; i < count; ++i) {
        const auto c = in.chunks[i % in.chunks.size()];
        inner.emplace_back(c.begin(), c.end());
        if (fix) fixup_inner(sa, inner.back());
      }
      // Outbound numbers are consecutive from the inferred first one; never at or past the limit,
      // which would retire the shared outbound SA (kSeqExhausted makes it hard-expired).
      const uint64_t limit = sa.esn ? UINT64_MAX : UINT32_MAX;
      uint64_t first = win.infer(in.seq).value_or(in.seq);
      if (first == 0) first = 1;
      if (first > limit - count + 1) first = limit - count + 1;
      EspSa& out = *g_ctx->out[in.sa];
      out.set_next_sequence(first);
      std::vector<rte_mbuf*> m;
      for (const auto& b : inner) m.push_back(ext_mbuf(b, kEncapHeadroom, kEncapTailroom));
      SaCounters oc;
      const uint16_t ok = encap_burst(*g_ctx->worker, out, m, oc);
      FUZZ_CHECK(oc.packets + oc.total_drops() == m.size(), "encap: packets + drops != given");
      if (g_verbose) {
        std::fprintf(stderr, "[%s] encap: %zu packets, %u good", g_where.c_str(), m.size(), ok);
        for (const auto& r : kDropReasons)
          if (oc.drop(r.reason))
            std::fprintf(stderr, ", %s %lu", std::string(r.name).c_str(),
                         static_cast<unsigned long>(oc.drop(r.reason)));
        std::fprintf(stderr, "\n");
      }
      FUZZ_CHECK(oc.drop(DropReason::kSeqExhausted) == 0 && oc.drop(DropReason::kLifetimeExpired) == 0,
                 "encap: outbound SA retired by the harness");
      for (uint16_t i = 0; i < ok; ++i) {
        Pkt p;
        p.bytes = bytes_of(m[i]);
        pkts.push_back(std::move(p));
      }
      // encap reserves numbers for the whole batch, so the j-th inner packet carries first + j:
      // read the low half of each ESP header back to find its inner packet.
      const unsigned l3_out = sa.v6 ? 40 : 20;
      for (std::size_t i = 0; i < pkts.size(); ++i) {
        auto& b = pkts[i].bytes;
        unsigned esp_off;
        if (sa.mode == SaMode::kTunnel) {
          esp_off = l3_out + (sa.natt ? 8 : 0);
        } else {
          // v6_upper() stops at ESP (or UDP): the end of the IP header(s).
          const unsigned l3 = sa.v6 ? v6_upper(b).first : (b[0] & 15u) * 4;
          esp_off = l3 + (sa.natt ? 8 : 0);
        }
        FUZZ_CHECK(b.size() >= esp_off + 8, "encap output of %zu bytes", b.size());
        const uint32_t lo =
            static_cast<uint32_t>(b[esp_off + 4]) << 24 | b[esp_off + 5] << 16 | b[esp_off + 6] << 8 | b[esp_off + 7];
        const std::size_t j = static_cast<uint32_t>(lo - static_cast<uint32_t>(first));
        FUZZ_CHECK(j < inner.size(), "encap: sequence number %u outside the burst", lo);
        Expect& e = pkts[i].e;
        e.modelled = true;
        e.sealed_seq = first + j;
        e.seq_lo = lo;
        const auto& orig = inner[j];
        if (sa.mode == SaMode::kTunnel) {
          // The trailer encap adds is valid by construction; a zero-length pad stands in for it.
          // Encap sends the inner packet up to its own length field, decap returns just that.
          std::vector<uint8_t> plain = orig;
          plain.push_back(0);
          plain.push_back(orig[0] >> 4 == 4 ? 4 : 41);
          // Outer ECN: copied from the inner header, cleared when the SA has ECN off.
          const unsigned ecn = !sa.ecn ? 0 : (orig[0] >> 4 == 4 ? orig[1] & 3 : orig[1] >> 4 & 3);
          model_plaintext(sa, plain, ecn, {}, 0, e);
        } else {
          // Transport: the original packet (up to its IP length) comes back, its header fields
          // restored; IPv4's checksum is recomputed, so it is checked, not compared.
          const std::size_t total = sa.v6 ? 40u + be16(orig.data() + 4) : be16(orig.data() + 2);
          const auto [hl, nh] = sa.v6 ? v6_upper(orig) : std::pair<unsigned, uint8_t>{(orig[0] & 15u) * 4, orig[9]};
          if (nh == 59) {
            e.post = DropReason::kDummyPacket;  // RFC 4303 2.6 reads next header 59 as a dummy
          } else {
            e.post = DropReason::kNone;
            e.out.assign(orig.begin(), orig.begin() + static_cast<std::ptrdiff_t>(total));
            if (!sa.v6) {
              e.csum = Csum::kVerify;
              e.v4_hdr_len = hl;
            }
          }
        }
        b.insert(b.end(), in.l2pad, 0xee);
      }
      for (rte_mbuf* x : m) rte_pktmbuf_free(x);
      break;
    }
  }
  if (pkts.empty()) return 0;

  // Mutations; an effective one leaves the model out.
  for (const Mutation& mu : in.muts) {
    auto& b = pkts[mu.pkt % pkts.size()].bytes;
    if (b.empty() || mu.mask == 0) continue;
    b[mu.off % b.size()] ^= mu.mask;
    modelled = false;
  }
  if (in.segment && pkts[0].bytes.size() >= 2 && !in.seg_room) pkts[0].e.pre = DropReason::kSegmented;
  // See kTopIsReceived: a burst that carries the window's starting top T.
  if (!kTopIsReceived && in.start_top && in.top != 0)
    for (const auto& p : pkts)
      if (p.e.modelled && win.infer(p.e.seq_lo) == std::optional<uint64_t>(in.top)) modelled = false;
  if (!modelled)
    for (auto& p : pkts) p.e.modelled = false;
  decap_and_check(in.sa, sa_in, pkts, in, &win);
  return 0;
}

// ---------------------------------------------------------------------------------------------
// Seeds

void write_file(const std::string& dir, const std::string& name, const std::vector<uint8_t>& b) {
  const std::string path = dir + "/" + name;
  FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) {
    std::fprintf(stderr, "cannot write %s\n", path.c_str());
    std::exit(1);
  }
  std::fwrite(b.data(), 1, b.size(), f);
  std::fclose(f);
}

void write_seeds(const std::string& dir) {
  mkdir(dir.c_str(), 0755);
  int count = 0;
  for (std::size_t s = 0; s < kNumSas; ++s) {
    const SaSpec& sa = kSas[s];
    const std::string base = "seed-" + std::to_string(s) + "-";
    auto add = [&](const std::string& name, const std::vector<uint8_t>& b) {
      write_file(dir, base + name, b);
      ++count;
    };
    const auto v4 = inner_udp(sa, 37, false, 0x02);  // ECT(0)
    const auto v6 = inner_udp(sa, 21, true, 0x01);   // ECT(1) when IPv6
    // SEAL: plaintext with a valid trailer behind a one-byte header shape.
    auto seal_chunk = [&](const std::vector<uint8_t>& inner, uint8_t h) {
      std::vector<uint8_t> payload =
          sa.mode == SaMode::kTransport
              ? std::vector<uint8_t>(inner.begin() + (inner[0] >> 4 == 6 ? 40 : 20), inner.end())
              : inner;
      auto plain = with_trailer(sa, payload, nh_for(sa, inner));
      std::vector<uint8_t> c{h};
      c.insert(c.end(), plain.begin(), plain.end());
      return c;
    };
    add("seal", InputWriter(s, Mode::kSeal, 0, 0, 1, 1, {seal_chunk(v4, 0)}).b);
    add("seal-burst", InputWriter(s, Mode::kSeal, 0, 0x03, 7, 1, {seal_chunk(v4, 0x02), seal_chunk(v6, 0x81)}, 3).b);
    add("seal-replay", InputWriter(s, Mode::kSeal, 0, 0, 9, 0, {seal_chunk(v4, 0), seal_chunk(v4, 0)}).b);
    // A window already in the second ESN subspace (without ESN: near 2^32, so too old).
    add("seal-top", InputWriter(s, Mode::kSeal, 0x80, 0, 5, -3, {seal_chunk(v6, 0x05), seal_chunk(v4, 0)}, 0, {},
                                (uint64_t{1} << 32) + 0x10)
                        .b);
    add("seal-big-burst", InputWriter(s, Mode::kSeal, 0x40, 0, 100, 1, {seal_chunk(v4, 0)}).b);
    // One SEAL seed per verdict after the ICV (tunnel SAs; transport ones accept most of these),
    // so that the corpus starts next to every drop reason.
    auto seal_plain = [&](std::vector<uint8_t> plain) {
      plain.insert(plain.begin(), 0);  // header shape byte
      return InputWriter(s, Mode::kSeal, 0, 0, 1, 1, {plain}).b;
    };
    auto payload_of = [&](const std::vector<uint8_t>& inner) {
      if (sa.mode == SaMode::kTunnel) return inner;
      return std::vector<uint8_t>(inner.begin() + (inner[0] >> 4 == 6 ? 40 : 20), inner.end());
    };
    {
      auto p = with_trailer(sa, payload_of(v4), nh_for(sa, v4));
      p[p.size() - 2] = 0xff;  // pad length beyond the plaintext
      add("seal-bad-padding", seal_plain(p));
      add("seal-dummy", seal_plain(with_trailer(sa, payload_of(v4), 59)));
      add("seal-bad-next-header", seal_plain(with_trailer(sa, payload_of(v4), 17)));
      auto bad4 = v4;
      bad4[0] = 0x44;  // IHL 4
      add("seal-bad-inner-v4", seal_plain(with_trailer(sa, payload_of(bad4), nh_for(sa, bad4))));
      auto bad6 = inner_udp(sa, 21, true, 0);
      bad6[4] = static_cast<uint8_t>(bad6[4] + 1);  // payload length 256 bytes too long
      add("seal-bad-inner-v6", seal_plain(with_trailer(sa, payload_of(bad6), nh_for(sa, bad6))));
      SaSpec any = sa;  // an IPv6 inner packet even where the SA carries IPv4 only (kInnerFamily)
      any.inner_family = InnerFamily::kAny;
      const auto inner6 = inner_udp(any, 30, true, 0);
      add("seal-inner-v6", seal_plain(with_trailer(sa, payload_of(inner6), nh_for(any, inner6))));
      const auto not_ect = inner_udp(sa, 37, false, 0);
      add("seal-ecn-drop", InputWriter(s, Mode::kSeal, 0, 0x03, 1, 1, {seal_chunk(not_ect, 0)}).b);  // outer CE
      add("seal-ecn-ce", InputWriter(s, Mode::kSeal, 0, 0x03, 1, 1, {seal_chunk(v4, 0), seal_chunk(v6, 0)}).b);
    }
    // ENCAP: the fuzzer's bytes are the inner packets.
    add("encap", InputWriter(s, Mode::kEncap, 0, 0, 1, 1, {v4, v6}).b);
    add("encap-segmented", InputWriter(s, Mode::kEncap, 0x30, 0, 1000, 2, {v6, v4}, 2).b);
    add("encap-ce", InputWriter(s, Mode::kEncap, 0, 0, 3, 1, {v4}, 0, {{0, 1, 0x01}}).b);  // outer ECN -> CE
    add("encap-top", InputWriter(s, Mode::kEncap, 0x80, 0, 17, 1, {v4}, 0, {}, 0xffff0000u).b);
    // RAW / FIXUP: real ESP packets from the engine's encap, as they arrive from the wire.
    {
      std::vector<rte_mbuf*> m;
      for (const auto& b : {v4, v6}) m.push_back(ext_mbuf(b, kEncapHeadroom, kEncapTailroom));
      EspSa& out = *g_ctx->out[s];
      out.set_next_sequence(1);
      SaCounters oc;
      const uint16_t ok = encap_burst(*g_ctx->worker, out, m, oc);
      std::vector<std::vector<uint8_t>> wire;
      for (uint16_t i = 0; i < ok; ++i) wire.push_back(bytes_of(m[i]));
      for (rte_mbuf* x : m) rte_pktmbuf_free(x);
      if (!wire.empty()) {
        add("raw", InputWriter(s, Mode::kRaw, 0, 0, 0, 0, {wire[0]}).b);
        add("raw-burst", InputWriter(s, Mode::kRaw, 0, 0, 0, 0, wire).b);
        add("fixup", InputWriter(s, Mode::kFixup, 0, 0, 0, 0, wire).b);
      }
    }
  }
  std::fprintf(stderr, "esp_decap_fuzz: wrote %d seeds to %s\n", count, dir.c_str());
}

}  // namespace
}  // namespace esprit::fuzz

extern "C" int LLVMFuzzerInitialize(int* /*argc*/, char*** /*argv*/) {
  using namespace esprit;
  using namespace esprit::fuzz;
  test::init_dpdk();
  g_ctx = new Ctx;
  g_ctx->pool = test::mbuf_pool();
  std::string err;
  g_ctx->worker = EspWorker::create(nullptr, &err);
  if (!g_ctx->worker) {
    std::fprintf(stderr, "EspWorker::create: %s\n", err.c_str());
    std::abort();
  }
  for (std::size_t s = 0; s < kNumSas; ++s) {
    g_ctx->in[s] = EspSa::create(descriptor(kSas[s], SaDirection::kInbound), &err);
    g_ctx->out[s] = EspSa::create(descriptor(kSas[s], SaDirection::kOutbound), &err);
    if (!g_ctx->in[s] || !g_ctx->out[s]) {
      std::fprintf(stderr, "EspSa::create(%s): %s\n", kSas[s].name, err.c_str());
      std::abort();
    }
  }
  g_ctx->pool_avail = rte_mempool_avail_count(g_ctx->pool);
  g_verbose = std::getenv("ESPRIT_FUZZ_VERBOSE") != nullptr;
  if (const char* dir = std::getenv("ESPRIT_FUZZ_WRITE_SEEDS")) write_seeds(dir);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace esprit::fuzz;
  const int r = run_one(data, size);
  const unsigned avail = rte_mempool_avail_count(g_ctx->pool);
  FUZZ_CHECK(avail == g_ctx->pool_avail, "mbuf pool holds %u mbufs, %u before the input (leak or double free)", avail,
             g_ctx->pool_avail);
  return r;
}
