#include <gtest/gtest.h>

#include <stdexcept>
#include <vector>

#include "esprit/common/wire.hpp"

namespace esprit::wire {
namespace {

TEST(WireReader, ReadsBigEndian) {
  const std::vector<uint8_t> b = {0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b,
                                  0x0c, 0x0d, 0x0e, 0x0f, 0x10};
  Reader r(b);
  EXPECT_EQ(r.u8(), 0x01);
  EXPECT_EQ(r.u16(), 0x0203);
  EXPECT_EQ(r.u32(), 0x04050607u);
  EXPECT_EQ(r.u64(), 0x08090a0b0c0d0e0full);
  EXPECT_EQ(r.offset(), 15u);
  EXPECT_EQ(r.remaining(), 1u);
  EXPECT_TRUE(r.ok());
  EXPECT_EQ(r.u8(), 0x10);
  EXPECT_TRUE(r.empty());
  EXPECT_TRUE(r.ok());
}

TEST(WireReader, PoisonedAfterTheFirstFailure) {
  const std::vector<uint8_t> b = {0xaa, 0xbb, 0xcc};
  Reader r(b);
  EXPECT_EQ(r.u16(), 0xaabb);
  EXPECT_EQ(r.u16(), 0);  // one byte left: fails without consuming it
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(r.u8(), 0);  // the byte is there, but the reader stays poisoned
  EXPECT_EQ(r.remaining(), 0u);
  EXPECT_TRUE(r.bytes(1).empty());
  EXPECT_TRUE(r.rest().empty());
  EXPECT_EQ(r.offset(), 2u);  // where it failed
  EXPECT_FALSE(r.skip(0));
}

TEST(WireReader, LengthsFromTheWireCannotOverflow) {
  const std::vector<uint8_t> b(8, 0x11);
  Reader r(b);
  r.u8();
  EXPECT_TRUE(r.bytes(SIZE_MAX).empty());  // no pointer arithmetic overflow
  EXPECT_FALSE(r.ok());
  Reader r2(b);
  EXPECT_FALSE(r2.skip(SIZE_MAX - 1));
  Reader r3(b);
  std::vector<uint8_t> out(9, 0xff);
  EXPECT_FALSE(r3.copy(out));
  EXPECT_EQ(out, std::vector<uint8_t>(9, 0));  // zeroed, never partially copied
}

TEST(WireReader, SubReadersKeepAbsoluteOffsets) {
  const std::vector<uint8_t> b = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9};
  Reader r(b, 100);
  r.skip(2);
  Reader s = r.sub(4);
  EXPECT_TRUE(r.ok());
  EXPECT_EQ(r.offset(), 106u);
  EXPECT_EQ(s.base_offset(), 102u);
  EXPECT_EQ(s.size(), 4u);
  EXPECT_EQ(s.u16(), 0x0203);
  EXPECT_EQ(s.offset(), 104u);
  EXPECT_EQ(s.u32(), 0u);  // past the sub-range, though the parent has more bytes
  EXPECT_FALSE(s.ok());
  EXPECT_TRUE(r.ok());  // the parent is not affected

  Reader too_long = r.sub(5);
  EXPECT_FALSE(too_long.ok());
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(too_long.u8(), 0);
}

TEST(WireReader, VecAndRest) {
  const std::vector<uint8_t> b = {1, 2, 3, 4};
  Reader r(b);
  EXPECT_EQ(r.vec(2), (std::vector<uint8_t>{1, 2}));
  EXPECT_EQ(r.rest().size(), 2u);
  EXPECT_EQ(r.remaining(), 2u);  // rest() does not consume
  EXPECT_TRUE(r.vec(3).empty());
  EXPECT_FALSE(r.ok());
}

TEST(WireWriter, WritesBigEndianAndBackPatches) {
  std::vector<uint8_t> out = {0xee};  // existing bytes stay; offsets index `out`
  Writer w(out);
  w.u8(1);
  const std::size_t len_at = w.offset();
  w.u16(0);
  w.u32(0x02030405);
  w.u64(0x060708090a0b0c0dull);
  w.bytes(std::vector<uint8_t>{0xa, 0xb});
  w.zeros(2);
  w.patch_length16(len_at, 1);  // 19 bytes from offset 1 to the end
  EXPECT_EQ(out, (std::vector<uint8_t>{0xee, 1, 0, 19, 2, 3, 4, 5, 6, 7, 8, 9, 0xa, 0xb, 0xc, 0xd, 0xa, 0xb, 0, 0}));
  w.patch_u32(1, 0xdeadbeef);
  EXPECT_EQ(out[1], 0xde);
  EXPECT_EQ(out[4], 0xef);
  w.patch_u8(0, 0x55);
  EXPECT_EQ(out[0], 0x55);
}

TEST(WireWriter, PatchesOutsideTheOutputThrow) {
  std::vector<uint8_t> out(3);
  Writer w(out);
  EXPECT_THROW(w.patch_u16(2, 1), std::out_of_range);
  EXPECT_THROW(w.patch_u32(0, 1), std::out_of_range);
  EXPECT_THROW(w.patch_u8(3, 1), std::out_of_range);
  EXPECT_THROW(w.patch_u16(SIZE_MAX, 1), std::out_of_range);
  w.zeros(0x10000);
  EXPECT_THROW(w.patch_length16(0, 0), std::length_error);  // 65539 bytes do not fit 16 bits
}

}  // namespace
}  // namespace esprit::wire
