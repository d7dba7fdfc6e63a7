#include "esprit/fastpath/replay_window.hpp"

#include <bit>

namespace esprit {

ReplayWindow::ReplayWindow(uint32_t window, bool esn, bool enabled)
    : window_(window == 0 ? 1 : window), esn_(esn), enabled_(enabled) {
  // Blocks to cover the window, plus one so the block being cleared on advance holds no live bit.
  const uint32_t blocks = std::bit_ceil((window_ + 63) / 64 + 1);
  block_mask_ = blocks - 1;
  bits_ = std::make_unique<uint64_t[]>(blocks);  // value-initialised: zero
}

void ReplayWindow::reset(uint64_t top) noexcept {
  for (uint32_t i = 0; i <= block_mask_; ++i) bits_[i] = 0;
  top_ = top;
  if (top != 0) bits_[block_of(top)] |= uint64_t{1} << (top & 63);  // `top` itself was received
}

}  // namespace esprit
