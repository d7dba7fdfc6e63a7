#include "esprit/control/ike/crypto/prf.hpp"

#include <cstring>

#include "ossl.hpp"

namespace esprit::ike {
namespace {

using detail::CipherCtx;

constexpr std::size_t kAesBlock = 16;

/// AES-128 in ECB mode, one context per MAC computation (the key schedule is done once).
class Aes128 {
 public:
  explicit Aes128(const uint8_t key[16]) noexcept : ctx_(EVP_CIPHER_CTX_new()) {
    EVP_CIPHER* c = detail::cipher("AES-128-ECB");
    ok_ = ctx_ && c && EVP_EncryptInit_ex2(ctx_.get(), c, key, nullptr, nullptr) == 1 &&
          EVP_CIPHER_CTX_set_padding(ctx_.get(), 0) == 1;
  }
  [[nodiscard]] bool ok() const noexcept { return ok_; }
  [[nodiscard]] bool encrypt(const uint8_t in[16], uint8_t out[16]) noexcept {
    int len = 0;
    return ok_ && EVP_EncryptUpdate(ctx_.get(), out, &len, in, 16) == 1 && len == 16;
  }

 private:
  CipherCtx ctx_;
  bool ok_ = false;
};

/// AES-XCBC-MAC (RFC 3566 4) with exactly 16 bytes of key; full 16-byte output.
bool xcbc16(const uint8_t key[16], std::initializer_list<Bytes> data, uint8_t out[16]) noexcept {
  Aes128 k(key);
  uint8_t k1[16], k2[16], k3[16];
  uint8_t c1[16], c2[16], c3[16];
  std::memset(c1, 0x01, 16);
  std::memset(c2, 0x02, 16);
  std::memset(c3, 0x03, 16);
  bool ok = k.encrypt(c1, k1) && k.encrypt(c2, k2) && k.encrypt(c3, k3);
  if (ok) {
    Aes128 e(k1);
    ok = e.ok();
    std::size_t total = 0;
    for (const auto& d : data) total += d.size();
    uint8_t state[16] = {};  // E[0] = 0
    uint8_t block[16];
    std::size_t fill = 0;  // bytes in `block`
    std::size_t seen = 0;
    // Every block but the last is chained through K1; the last one gets K2 (full) or K3 (padded).
    for (const auto& d : data) {
      for (std::size_t i = 0; i < d.size() && ok; ++i) {
        block[fill++] = d[i];
        ++seen;
        if (fill == kAesBlock && seen < total) {
          for (std::size_t j = 0; j < kAesBlock; ++j) state[j] ^= block[j];
          ok = e.encrypt(state, state);
          fill = 0;
        }
      }
    }
    if (ok) {
      const uint8_t* kx = k2;
      if (fill < kAesBlock) {  // incomplete (or empty) last block: pad 0x80 00.. and use K3
        block[fill++] = 0x80;
        while (fill < kAesBlock) block[fill++] = 0;
        kx = k3;
      }
      for (std::size_t j = 0; j < kAesBlock; ++j) state[j] ^= block[j] ^ kx[j];
      ok = e.encrypt(state, out);
    }
    secure_wipe(state, sizeof(state));
    secure_wipe(block, sizeof(block));
  }
  secure_wipe(k1, 16);
  secure_wipe(k2, 16);
  secure_wipe(k3, 16);
  if (!ok) secure_wipe(out, 16);
  return ok;
}

/// AES-XCBC-PRF-128 (RFC 4434 2): keys shorter than 16 bytes are zero-padded, longer ones become
/// AES-XCBC-MAC(0^128, key).
bool xcbc_prf(Bytes key, std::initializer_list<Bytes> data, uint8_t out[16]) noexcept {
  uint8_t k[16] = {};
  bool ok = true;
  if (key.size() <= 16) {
    if (!key.empty()) std::memcpy(k, key.data(), key.size());
  } else {
    const uint8_t zero[16] = {};
    ok = xcbc16(zero, {key}, k);
  }
  ok = ok && xcbc16(k, data, out);
  secure_wipe(k, sizeof(k));
  return ok;
}

}  // namespace

bool aes_xcbc_mac(Bytes key16, std::initializer_list<Bytes> data, uint8_t out[16]) noexcept {
  if (key16.size() != 16) return false;
  return xcbc16(key16.data(), data, out);
}

bool Prf::compute(Bytes key, std::initializer_list<Bytes> data, uint8_t* out) const noexcept {
  if (alg_ == PrfAlg::kAesXcbc128) return xcbc_prf(key, data, out);
  // Up to 4 pieces: every caller here passes at most that many (prf+ uses 3).
  std::pair<const uint8_t*, std::size_t> p[4] = {};
  std::size_t n = 0;
  for (const auto& d : data) {
    if (n == 4) return false;
    p[n++] = {d.data(), d.size()};
  }
  return detail::hmac_compute(detail::digest_name(alg_), key.data(), key.size(), {p[0], p[1], p[2], p[3]}, out,
                              out_len());
}

SecretBytes Prf::operator()(Bytes key, std::initializer_list<Bytes> data) const {
  SecretBytes out = SecretBytes::zeroed(out_len());
  if (!compute(key, data, out.mutable_data())) out.clear();
  return out;
}

SecretBytes Prf::plus(Bytes key, std::initializer_list<Bytes> seed, std::size_t len) const {
  const std::size_t n = out_len();
  const std::size_t blocks = (len + n - 1) / n;
  if (blocks > 255) return {};
  // The seed is copied once (it is public: nonces, SPIs; with PFS g^ir, so it is wiped too).
  SecretBytes s;
  {
    std::size_t total = 0;
    for (const auto& d : seed) total += d.size();
    s = SecretBytes::zeroed(total);
    std::size_t off = 0;
    for (const auto& d : seed) {
      if (!d.empty()) std::memcpy(s.mutable_data() + off, d.data(), d.size());
      off += d.size();
    }
  }
  SecretBytes out = SecretBytes::zeroed(blocks * n);
  uint8_t* t = out.mutable_data();
  // HMAC: the key is processed once and the keyed state copied per block.
  const detail::MacCtx keyed =
      alg_ == PrfAlg::kAesXcbc128 ? nullptr : detail::hmac_keyed(detail::digest_name(alg_), key.data(), key.size());
  if (alg_ != PrfAlg::kAesXcbc128 && !keyed) return {};
  for (std::size_t i = 0; i < blocks; ++i) {
    const uint8_t counter = static_cast<uint8_t>(i + 1);
    const Bytes prev = i == 0 ? Bytes{} : Bytes{t - n, n};
    const bool ok = keyed ? detail::hmac_from(keyed.get(), {{prev.data(), prev.size()}, {s.data(), s.size()}, {&counter, 1}}, t, n)
                          : compute(key, {prev, s.span(), Bytes{&counter, 1}}, t);
    if (!ok) return {};
    t += n;
  }
  out.truncate(len);
  return out;
}

}  // namespace esprit::ike
