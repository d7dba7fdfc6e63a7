// IKE crypto benchmark (Google Benchmark): the cost of the crypto in one IKE SA setup, for the
// IKE setup-rate target (issue 4).
//
//   ninja -C build tests/bench/ike_crypto_bench && build/tests/bench/ike_crypto_bench
//
// BM_DhExchange/<group>: one side's key generation plus its derivation of g^ir from the peer's
// public value (what a responder does per IKE_SA_INIT), with OpenSSL's CSPRNG. The peer's key is
// made once outside the timing. BM_PrfPlus: prf+ producing the IKE SA keying material of
// aes256/sha256/prfsha256 (224 bytes) and of a 36-byte AEAD Child SA pair, from SKEYSEED. BM_IkeKeys:
// SKEYSEED + the seven keys + one Child SA KEYMAT. BM_SkSeal/Open: one 200-byte IKE_AUTH-sized
// inner payload chain.
#include <benchmark/benchmark.h>

#include <vector>

#include "esprit/control/ike/crypto/dh.hpp"
#include "esprit/control/ike/crypto/kdf.hpp"
#include "esprit/control/ike/crypto/prf.hpp"
#include "esprit/control/ike/crypto/random.hpp"
#include "esprit/control/ike/crypto/sk_cipher.hpp"

namespace esprit::ike {
namespace {

void BM_DhExchange(benchmark::State& state) {
  const auto group = static_cast<uint16_t>(state.range(0));
  RandomSource& rng = SystemRandom::instance();
  auto peer = DhGroup::create(group);
  if (!peer || !peer->generate(rng)) {
    state.SkipWithError("group not available");
    return;
  }
  for (auto _ : state) {
    auto self = DhGroup::create(group);
    if (!self->generate(rng)) state.SkipWithError("generate failed");
    SecretBytes s;
    if (self->derive(peer->public_value(), s) != DhStatus::kOk) state.SkipWithError("derive failed");
    benchmark::DoNotOptimize(s.data());
  }
  state.SetLabel(std::string(peer->info().name));
}
BENCHMARK(BM_DhExchange)
    ->Arg(2)->Arg(5)->Arg(14)->Arg(15)->Arg(16)->Arg(18)->Arg(19)->Arg(20)->Arg(21)->Arg(31)
    ->Unit(benchmark::kMicrosecond);

void BM_PrfPlus(benchmark::State& state) {
  const auto prf_alg = static_cast<PrfAlg>(state.range(0));
  const std::size_t len = static_cast<std::size_t>(state.range(1));
  const Prf prf(prf_alg);
  const std::vector<uint8_t> key(prf.key_len(), 0x42), ni(32, 1), nr(32, 2), spis(16, 3);
  for (auto _ : state) {
    SecretBytes km = prf.plus(key, {ni, nr, spis}, len);
    benchmark::DoNotOptimize(km.data());
  }
  state.SetLabel(std::string(prf.info().name) + " " + std::to_string(len) + " B");
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * len));
}
BENCHMARK(BM_PrfPlus)
    ->Args({static_cast<int>(PrfAlg::kHmacSha256), 224})
    ->Args({static_cast<int>(PrfAlg::kHmacSha256), 72})
    ->Args({static_cast<int>(PrfAlg::kHmacSha1), 132})
    ->Args({static_cast<int>(PrfAlg::kHmacSha512), 448})
    ->Args({static_cast<int>(PrfAlg::kAesXcbc128), 132});

void BM_IkeKeys(benchmark::State& state) {
  const std::vector<uint8_t> ni(32, 1), nr(32, 2), gir(256, 7);
  const IkeSaTransforms t{PrfAlg::kHmacSha256, EncrAlg::kAesCbc256, IntegAlg::kHmacSha256_128};
  for (auto _ : state) {
    const SecretBytes seed = skeyseed(t.prf, ni, nr, gir);
    const IkeSaKeys k = derive_ike_sa_keys(t, seed.span(), ni, nr, 0x1111, 0x2222);
    const ChildSaKeys c =
        derive_child_sa_keys(t.prf, k.sk_d.span(), EncrAlg::kAesGcm16_128, IntegAlg::kNone, {}, ni, nr);
    benchmark::DoNotOptimize(c.encr_i.data());
  }
}
BENCHMARK(BM_IkeKeys);

void BM_SkSealOpen(benchmark::State& state) {
  const auto encr = static_cast<EncrAlg>(state.range(0));
  const auto integ = static_cast<IntegAlg>(state.range(1));
  RandomSource& rng = SystemRandom::instance();
  SecretBytes ek = SecretBytes::zeroed(info(encr).keymat_len());
  SecretBytes ak = SecretBytes::zeroed(info(integ).key_len);
  auto tx = SkCipher::create(encr, integ, ek, ak, rng);
  auto rx = SkCipher::create(encr, integ, ek, ak, rng);
  if (!tx || !rx) {
    state.SkipWithError("cipher not available");
    return;
  }
  const std::vector<uint8_t> aad(32, 9), pt(200, 5);
  std::vector<uint8_t> body(tx->body_size(pt.size()));
  std::vector<uint8_t> out;
  for (auto _ : state) {
    if (tx->seal(aad, pt, body) != SkStatus::kOk || rx->open(aad, body, out) != SkStatus::kOk)
      state.SkipWithError("seal/open failed");
    benchmark::DoNotOptimize(out.data());
  }
  state.SetLabel(std::string(info(encr).name) + "/" + std::string(info(integ).name));
}
BENCHMARK(BM_SkSealOpen)
    ->Args({static_cast<int>(EncrAlg::kAesGcm16_128), static_cast<int>(IntegAlg::kNone)})
    ->Args({static_cast<int>(EncrAlg::kAesCbc256), static_cast<int>(IntegAlg::kHmacSha256_128)})
    ->Args({static_cast<int>(EncrAlg::kTripleDesCbc), static_cast<int>(IntegAlg::kHmacSha1_96)})
    ->Args({static_cast<int>(EncrAlg::kAesCbc128), static_cast<int>(IntegAlg::kAesXcbc96)})
    ->Args({static_cast<int>(EncrAlg::kAesCbc128), static_cast<int>(IntegAlg::kHmacSha1_96)})
    ->Args({static_cast<int>(EncrAlg::kChaCha20Poly1305), static_cast<int>(IntegAlg::kNone)});

}  // namespace
}  // namespace esprit::ike

BENCHMARK_MAIN();
