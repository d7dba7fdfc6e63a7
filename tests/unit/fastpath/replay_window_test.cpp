// Anti-replay window (RFC 4303 3.4.3) and ESN inference (RFC 4303 Appendix A).
#include <gtest/gtest.h>

#include "esprit/fastpath/replay_window.hpp"

namespace esprit {
namespace {

DropReason accept(ReplayWindow& w, uint64_t seq) {
  if (DropReason r = w.check(seq); r != DropReason::kNone) return r;
  return w.update(seq);
}

TEST(ReplayWindow, InOrder) {
  ReplayWindow w(64, false, true);
  for (uint64_t s = 1; s <= 1000; ++s) ASSERT_EQ(accept(w, s), DropReason::kNone) << s;
  EXPECT_EQ(w.top(), 1000u);
}

TEST(ReplayWindow, SequenceZeroIsNeverValid) {
  ReplayWindow w(64, false, true);
  EXPECT_EQ(w.check(0), DropReason::kTooOld);
}

TEST(ReplayWindow, DuplicatesAreReplays) {
  ReplayWindow w(64, false, true);
  EXPECT_EQ(accept(w, 5), DropReason::kNone);
  EXPECT_EQ(accept(w, 5), DropReason::kReplay);
  EXPECT_EQ(accept(w, 3), DropReason::kNone);
  EXPECT_EQ(accept(w, 3), DropReason::kReplay);
}

TEST(ReplayWindow, OutOfOrderInsideTheWindow) {
  ReplayWindow w(64, false, true);
  for (uint64_t s : {10u, 3u, 7u, 100u, 37u, 99u, 50u}) EXPECT_EQ(accept(w, s), DropReason::kNone) << s;
  for (uint64_t s : {3u, 7u, 37u, 99u, 50u, 100u}) EXPECT_EQ(w.check(s), s < 37 ? DropReason::kTooOld : DropReason::kReplay) << s;
}

TEST(ReplayWindow, WindowEdges) {
  for (uint32_t size : {32u, 64u, 100u, 1024u, 4096u, 8192u}) {
    ReplayWindow w(size, false, true);
    const uint64_t top = 100000;
    ASSERT_EQ(accept(w, top), DropReason::kNone);
    EXPECT_EQ(w.check(top - size + 1), DropReason::kNone) << size;  // the oldest number still inside
    EXPECT_EQ(w.check(top - size), DropReason::kTooOld) << size;    // the first one outside
    EXPECT_EQ(accept(w, top - size + 1), DropReason::kNone);
    EXPECT_EQ(accept(w, top - size + 1), DropReason::kReplay);
    // Sliding by exactly one window clears everything that was seen.
    ASSERT_EQ(accept(w, top + size), DropReason::kNone);
    EXPECT_EQ(w.check(top), DropReason::kTooOld);
    EXPECT_EQ(w.check(top + 1), DropReason::kNone);
    EXPECT_EQ(w.check(top + size - 1), DropReason::kNone);
  }
}

TEST(ReplayWindow, LargeJumpClearsStaleBits) {
  ReplayWindow w(64, false, true);
  for (uint64_t s = 1; s <= 64; ++s) ASSERT_EQ(accept(w, s), DropReason::kNone);
  // Jump so far that the ring wraps onto the blocks holding 1..64: those bits must be gone.
  const uint64_t far = 64 + 128 * 64 + 5;
  ASSERT_EQ(accept(w, far), DropReason::kNone);
  for (uint64_t s = far - 63; s < far; ++s) EXPECT_EQ(w.check(s), DropReason::kNone) << s;
}

TEST(ReplayWindow, UpdateRechecksForDuplicatesInOneBurst) {
  ReplayWindow w(64, false, true);
  // Two copies pass check() before either is recorded, as in one burst; update() catches the second.
  EXPECT_EQ(w.check(9), DropReason::kNone);
  EXPECT_EQ(w.check(9), DropReason::kNone);
  EXPECT_EQ(w.update(9), DropReason::kNone);
  EXPECT_EQ(w.update(9), DropReason::kReplay);
  // A number that fell out of the window between check and update is refused too.
  EXPECT_EQ(w.check(20), DropReason::kNone);
  EXPECT_EQ(w.update(500), DropReason::kNone);
  EXPECT_EQ(w.update(20), DropReason::kTooOld);
}

TEST(ReplayWindow, DisabledAcceptsEverythingButTracksTop) {
  ReplayWindow w(64, true, false);
  EXPECT_EQ(accept(w, 5), DropReason::kNone);
  EXPECT_EQ(accept(w, 5), DropReason::kNone);
  EXPECT_EQ(accept(w, 1), DropReason::kNone);
  EXPECT_EQ(w.top(), 5u);
}

TEST(ReplayWindow, ResetTreatsTheTopAsReceived) {
  ReplayWindow w(64, false, true);
  ASSERT_EQ(accept(w, 3), DropReason::kNone);
  w.reset(1000);
  EXPECT_EQ(w.check(1000), DropReason::kReplay);
  EXPECT_EQ(w.check(999), DropReason::kNone);  // below the top, not seen
  EXPECT_EQ(w.check(1000 - 64), DropReason::kTooOld);
  EXPECT_EQ(accept(w, 1001), DropReason::kNone);
}

TEST(ReplayWindowEsn, InferWithinOneSubspace) {
  ReplayWindow w(64, true, true);
  ASSERT_EQ(accept(w, 1000), DropReason::kNone);
  EXPECT_EQ(w.infer(1001), 1001u);
  EXPECT_EQ(w.infer(940), 940u);        // inside the window: same subspace
  EXPECT_EQ(w.infer(937), 937u);        // bottom edge Tl - W + 1 = 937
  // Below the bottom edge the RFC takes the next subspace (the packet is far ahead, not old).
  EXPECT_EQ(w.infer(936), (uint64_t{1} << 32) + 936);
}

TEST(ReplayWindowEsn, WrapOver2To32) {
  ReplayWindow w(64, true, true);
  const uint64_t base = (uint64_t{1} << 32) - 10;
  ASSERT_EQ(accept(w, base), DropReason::kNone);
  // Sender goes on across 2^32: low halves 0xfffffff7.. then 0, 1, 2 ...
  for (uint64_t s = base + 1; s < base + 40; ++s) {
    const auto inferred = w.infer(static_cast<uint32_t>(s));
    ASSERT_TRUE(inferred);
    ASSERT_EQ(*inferred, s) << s;
    ASSERT_EQ(accept(w, s), DropReason::kNone);
  }
  EXPECT_EQ(w.top() >> 32, 1u);
  // Window spans the two subspaces now: late packets from before the wrap map to high half 0.
  EXPECT_EQ(w.infer(0xfffffffcu), uint64_t{0xfffffffcu});
  EXPECT_EQ(accept(w, 0xfffffffcu), DropReason::kReplay);
  // A low half just above the top is in the current subspace.
  EXPECT_EQ(w.infer(static_cast<uint32_t>(base + 45)), base + 45);
}

TEST(ReplayWindowEsn, NothingBelowZero) {
  ReplayWindow w(64, true, true);
  ASSERT_EQ(accept(w, 10), DropReason::kNone);
  EXPECT_FALSE(w.infer(0xfffffff0u));  // would be in subspace -1
}

TEST(ReplayWindowEsn, WithoutEsnTheHighHalfIsZero) {
  ReplayWindow w(64, false, true);
  ASSERT_EQ(accept(w, 0xfffffff0u), DropReason::kNone);
  EXPECT_EQ(w.infer(5), 5u);
  EXPECT_EQ(w.check(5), DropReason::kTooOld);
}

}  // namespace
}  // namespace esprit
