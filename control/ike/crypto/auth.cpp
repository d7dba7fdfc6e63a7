#include "esprit/control/ike/crypto/auth.hpp"

#include <cstring>
#include <string_view>

#include "esprit/control/ike/crypto/prf.hpp"

namespace esprit::ike {
namespace {
constexpr std::string_view kKeyPad = "Key Pad for IKEv2";  // RFC 7296 2.15, 17 ASCII bytes, no NUL
}

std::vector<uint8_t> signed_octets(PrfAlg prf_alg, std::span<const uint8_t> real_message,
                                   std::span<const uint8_t> peer_nonce, std::span<const uint8_t> sk_p,
                                   std::span<const uint8_t> id_body) {
  const Prf prf(prf_alg);
  std::vector<uint8_t> out(real_message.size() + peer_nonce.size() + prf.out_len());
  if (!real_message.empty()) std::memcpy(out.data(), real_message.data(), real_message.size());
  if (!peer_nonce.empty()) std::memcpy(out.data() + real_message.size(), peer_nonce.data(), peer_nonce.size());
  if (!prf.compute(sk_p, {id_body}, out.data() + real_message.size() + peer_nonce.size())) out.clear();
  return out;
}

SecretBytes psk_auth(PrfAlg prf_alg, const SecretBytes& psk, std::span<const uint8_t> signed_octets) {
  const Prf prf(prf_alg);
  const SecretBytes k =
      prf(psk.span(), {Bytes{reinterpret_cast<const uint8_t*>(kKeyPad.data()), kKeyPad.size()}});
  if (k.empty()) return {};
  return prf(k.span(), {signed_octets});
}

bool verify_psk_auth(PrfAlg prf, const SecretBytes& psk, std::span<const uint8_t> signed_octets,
                     std::span<const uint8_t> received_auth) {
  const SecretBytes expected = psk_auth(prf, psk, signed_octets);
  if (expected.empty() || expected.size() != received_auth.size()) return false;
  return constant_time_equal(expected.data(), received_auth.data(), expected.size());
}

}  // namespace esprit::ike
