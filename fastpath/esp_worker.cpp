// Per-lcore ESP state: IPsec-MB manager and the CBC IV generator.
#include <openssl/rand.h>

#include "esp_internal.hpp"

namespace esprit {

bool IvGenerator::init(IMB_MGR* mgr) noexcept {
  alignas(16) uint8_t key[16];
  if (RAND_bytes(key, sizeof(key)) != 1 || RAND_bytes(ctr_, 12) != 1) return false;
  // The low 32 bits start at 0 and each refill adds a multiple of 256 blocks, so one refill never
  // crosses a 2^32 boundary of the counter (IPsec-MB increments the low word only).
  std::memset(ctr_ + 12, 0, 4);
  IMB_AES_KEYEXP_128(mgr, key, enc_keys_, dec_keys_);
  secure_wipe(key, sizeof(key));
  pos_ = kBufSize;
  return true;
}

void IvGenerator::refill(IMB_MGR* mgr) noexcept {
  std::memset(buf_, 0, kBufSize);
  IMB_JOB* job = IMB_GET_NEXT_JOB(mgr);
  job->cipher_mode = IMB_CIPHER_CNTR;
  job->cipher_direction = IMB_DIR_ENCRYPT;
  job->chain_order = IMB_ORDER_CIPHER_HASH;
  job->hash_alg = IMB_AUTH_NULL;
  job->enc_keys = enc_keys_;
  job->dec_keys = enc_keys_;
  job->key_len_in_bytes = 16;
  job->src = buf_;
  job->dst = buf_;
  job->cipher_start_src_offset_in_bytes = 0;
  job->msg_len_to_cipher_in_bytes = kBufSize;
  job->hash_start_src_offset_in_bytes = 0;
  job->msg_len_to_hash_in_bytes = 0;
  job->iv = ctr_;
  job->iv_len_in_bytes = 16;
  job->auth_tag_output = nullptr;
  job->auth_tag_output_len_in_bytes = 0;
  job->user_data = nullptr;
  IMB_SUBMIT_JOB(mgr);
  while (IMB_FLUSH_JOB(mgr) != nullptr) {
  }
  // Advance the 128-bit big-endian counter by the blocks just used.
  unsigned carry = kBufSize / 16;
  for (int i = 15; i >= 0 && carry; --i) {
    const unsigned v = ctr_[i] + carry;
    ctr_[i] = static_cast<uint8_t>(v);
    carry = v >> 8;
  }
  pos_ = 0;
}

IvGenerator::~IvGenerator() {
  secure_wipe(enc_keys_, sizeof(enc_keys_));
  secure_wipe(dec_keys_, sizeof(dec_keys_));
  secure_wipe(buf_, sizeof(buf_));
}

EspWorker::State::~State() {
  secure_wipe(&gcm_ctx, sizeof(gcm_ctx));
  if (mgr) free_mb_mgr(mgr);
}

EspWorker::EspWorker(std::unique_ptr<State> s) : state_(std::move(s)) {}
EspWorker::~EspWorker() = default;

std::unique_ptr<EspWorker> EspWorker::create(rte_ring* events, std::string* error, ControlWake* wake) {
  auto s = std::make_unique<State>();
  s->mgr = alloc_mb_mgr(0);
  if (!s->mgr) {
    if (error) *error = "alloc_mb_mgr failed";
    return nullptr;
  }
  init_mb_mgr_auto(s->mgr, nullptr);
  if (imb_get_errno(s->mgr) != 0) {
    if (error) *error = std::string("init_mb_mgr_auto: ") + imb_get_strerror(imb_get_errno(s->mgr));
    return nullptr;
  }
  s->gcm_enc[0] = s->mgr->gcm128_enc;
  s->gcm_enc[1] = s->mgr->gcm192_enc;
  s->gcm_enc[2] = s->mgr->gcm256_enc;
  s->gcm_dec[0] = s->mgr->gcm128_dec;
  s->gcm_dec[1] = s->mgr->gcm192_dec;
  s->gcm_dec[2] = s->mgr->gcm256_dec;
  if (!s->iv.init(s->mgr)) {
    if (error) *error = "RAND_bytes failed while seeding the IV generator";
    return nullptr;
  }
  s->events = events;
  s->wake = wake;
  return std::unique_ptr<EspWorker>(new EspWorker(std::move(s)));
}

}  // namespace esprit
