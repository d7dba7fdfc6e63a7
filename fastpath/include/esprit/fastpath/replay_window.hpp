// Anti-replay window (RFC 4303 3.4.3) with extended sequence numbers (RFC 4303 Appendix A).
//
// The bitmap is a ring of 64-bit blocks (RFC 6479): advancing the window clears whole blocks and
// never shifts bits, so the cost of a jump does not grow with the window size. The ring has one
// block more than the window needs, so the block being cleared never holds a live bit.
//
// Use: infer() the 64-bit number from the received low 32 bits, check() before crypto, and
// update() only after the ICV verified; update() checks again, since two packets of one burst
// may carry the same number.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>

#include "esprit/fastpath/drop_reason.hpp"

namespace esprit {

class ReplayWindow {
 public:
  /// `window` in packets (any value 1..; the bitmap is rounded up to whole blocks).
  /// With `enabled` false nothing is rejected, but the top is still tracked for ESN inference.
  ReplayWindow(uint32_t window, bool esn, bool enabled);

  /// The full sequence number for the received low 32 bits (RFC 4303 A.2.2). Without ESN the high
  /// half is 0. nullopt when the packet would lie below sequence number 0 (too old by definition).
  [[nodiscard]] std::optional<uint64_t> infer(uint32_t seq_lo) const noexcept {
    if (!esn_) return seq_lo;
    const uint32_t tl = static_cast<uint32_t>(top_);
    const uint32_t th = static_cast<uint32_t>(top_ >> 32);
    const uint32_t bottom = tl - (window_ - 1);  // mod 2^32
    uint32_t sh;
    if (tl >= window_ - 1) {  // window within one sequence-number subspace
      sh = seq_lo >= bottom ? th : th + 1;
    } else {                  // window spans two subspaces
      if (seq_lo >= bottom) {
        if (th == 0) [[unlikely]]
          return std::nullopt;
        sh = th - 1;
      } else {
        sh = th;
      }
    }
    return static_cast<uint64_t>(sh) << 32 | seq_lo;
  }

  /// kNone if `seq` may be accepted, else kReplay or kTooOld. Does not change the window.
  [[nodiscard]] DropReason check(uint64_t seq) const noexcept {
    if (!enabled_) return DropReason::kNone;
    if (seq == 0) [[unlikely]]
      return DropReason::kTooOld;  // sequence number 0 is never sent (RFC 4303 3.3.3)
    if (seq > top_) return DropReason::kNone;
    if (top_ - seq >= window_) return DropReason::kTooOld;
    return (bits_[block_of(seq)] >> (seq & 63) & 1) ? DropReason::kReplay : DropReason::kNone;
  }

  /// Records `seq` after its ICV verified. Same answers as check(); on kNone the window moved.
  [[nodiscard]] DropReason update(uint64_t seq) noexcept {
    if (!enabled_) {
      if (seq > top_) top_ = seq;
      return DropReason::kNone;
    }
    if (seq == 0) [[unlikely]]
      return DropReason::kTooOld;
    if (seq > top_) {
      advance(seq);
    } else if (top_ - seq >= window_) {
      return DropReason::kTooOld;
    }
    uint64_t& block = bits_[block_of(seq)];
    const uint64_t bit = uint64_t{1} << (seq & 63);
    if (block & bit) return DropReason::kReplay;
    block |= bit;
    return DropReason::kNone;
  }

  /// Restarts the window with `top` as the highest number received and nothing below it seen.
  void reset(uint64_t top) noexcept;

  [[nodiscard]] uint64_t top() const noexcept { return top_; }
  [[nodiscard]] uint32_t window() const noexcept { return window_; }
  [[nodiscard]] bool enabled() const noexcept { return enabled_; }
  [[nodiscard]] bool esn() const noexcept { return esn_; }

 private:
  [[nodiscard]] uint32_t block_of(uint64_t seq) const noexcept { return static_cast<uint32_t>(seq >> 6) & block_mask_; }

  void advance(uint64_t seq) noexcept {
    const uint64_t old_block = top_ >> 6;
    const uint64_t new_block = seq >> 6;
    uint64_t diff = new_block - old_block;
    if (diff > block_mask_) diff = block_mask_ + 1;  // the whole ring is stale
    for (uint64_t i = 1; i <= diff; ++i) bits_[(old_block + i) & block_mask_] = 0;
    top_ = seq;
  }

  uint64_t top_ = 0;
  uint32_t window_;
  uint32_t block_mask_;
  bool esn_;
  bool enabled_;
  std::unique_ptr<uint64_t[]> bits_;
};

}  // namespace esprit
