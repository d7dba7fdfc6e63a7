#include "esprit/control/ike/crypto/kdf.hpp"

#include <cstring>

#include "esprit/control/ike/crypto/prf.hpp"

namespace esprit::ike {
namespace {

void put_be64(uint64_t v, uint8_t out[8]) noexcept {
  for (int i = 7; i >= 0; --i) {
    out[i] = static_cast<uint8_t>(v);
    v >>= 8;
  }
}

/// Splits `km` into consecutive pieces; the lengths add up to km.size() by construction.
class Splitter {
 public:
  explicit Splitter(const SecretBytes& km) : km_(km) {}
  SecretBytes take(std::size_t n) {
    SecretBytes s(km_.span().subspan(off_, n));
    off_ += n;
    return s;
  }

 private:
  const SecretBytes& km_;
  std::size_t off_ = 0;
};

}  // namespace

std::size_t ike_sa_keymat_len(const IkeSaTransforms& t) noexcept {
  const std::size_t prf_key = info(t.prf).key_len;
  return 3 * prf_key + 2 * info(t.integ).key_len + 2 * info(t.encr).keymat_len();
}

SecretBytes skeyseed(PrfAlg prf_alg, std::span<const uint8_t> ni, std::span<const uint8_t> nr,
                     std::span<const uint8_t> g_ir) {
  const Prf prf(prf_alg);
  if (prf_alg == PrfAlg::kAesXcbc128) {
    // RFC 7296 2.14: with AES-XCBC-PRF-128 only the first 64 bits of Ni and of Nr are the key.
    if (ni.size() < 8 || nr.size() < 8) return {};
    uint8_t key[16];
    std::memcpy(key, ni.data(), 8);
    std::memcpy(key + 8, nr.data(), 8);
    SecretBytes out = prf(Bytes{key, 16}, {g_ir});
    secure_wipe(key, sizeof(key));
    return out;
  }
  // The key is Ni | Nr: public values, but copied into SecretBytes anyway for uniform wiping.
  SecretBytes key = SecretBytes::zeroed(ni.size() + nr.size());
  if (!ni.empty()) std::memcpy(key.mutable_data(), ni.data(), ni.size());
  if (!nr.empty()) std::memcpy(key.mutable_data() + ni.size(), nr.data(), nr.size());
  return prf(key.span(), {g_ir});
}

SecretBytes skeyseed_rekey(PrfAlg old_prf, std::span<const uint8_t> sk_d_old, std::span<const uint8_t> g_ir_new,
                           std::span<const uint8_t> ni, std::span<const uint8_t> nr) {
  return Prf(old_prf)(sk_d_old, {g_ir_new, ni, nr});
}

IkeSaKeys derive_ike_sa_keys(const IkeSaTransforms& t, std::span<const uint8_t> skeyseed,
                             std::span<const uint8_t> ni, std::span<const uint8_t> nr, uint64_t spi_i,
                             uint64_t spi_r) {
  uint8_t spis[16];
  put_be64(spi_i, spis);
  put_be64(spi_r, spis + 8);
  const std::size_t len = ike_sa_keymat_len(t);
  const SecretBytes km = Prf(t.prf).plus(skeyseed, {ni, nr, Bytes{spis, 16}}, len);
  IkeSaKeys k;
  if (km.size() != len) return k;
  const std::size_t prf_key = info(t.prf).key_len;
  const std::size_t integ_key = info(t.integ).key_len;
  const std::size_t encr_key = info(t.encr).keymat_len();
  Splitter s(km);
  k.sk_d = s.take(prf_key);
  k.sk_ai = s.take(integ_key);
  k.sk_ar = s.take(integ_key);
  k.sk_ei = s.take(encr_key);
  k.sk_er = s.take(encr_key);
  k.sk_pi = s.take(prf_key);
  k.sk_pr = s.take(prf_key);
  return k;
}

ChildSaKeys derive_child_sa_keys(PrfAlg prf, std::span<const uint8_t> sk_d, EncrAlg encr, IntegAlg integ,
                                 std::span<const uint8_t> g_ir, std::span<const uint8_t> ni,
                                 std::span<const uint8_t> nr) {
  const std::size_t encr_key = info(encr).keymat_len();
  const std::size_t integ_key = info(integ).key_len;
  const std::size_t len = 2 * (encr_key + integ_key);
  ChildSaKeys k;
  if (len == 0) return k;
  const SecretBytes km = Prf(prf).plus(sk_d, {g_ir, ni, nr}, len);
  if (km.size() != len) return k;
  Splitter s(km);
  k.encr_i = s.take(encr_key);
  k.integ_i = s.take(integ_key);
  k.encr_r = s.take(encr_key);
  k.integ_r = s.take(integ_key);
  return k;
}

}  // namespace esprit::ike
