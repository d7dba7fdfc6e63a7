// Bounds-checked big-endian wire reading and writing for control-plane protocols (IKE).
//
// Reader: a non-owning view over received bytes. Every read checks the remaining length first; the
// first read that does not fit poisons the reader: it and every later read return zero/empty, and
// ok() stays false. A parser can therefore read a whole fixed structure and test ok() once, and a
// length from the wire can never make it read outside the buffer. Offsets are absolute (relative
// to the start of the outermost buffer), so errors can name the byte where they happened.
//
// Writer: appends to a std::vector<uint8_t> and can back-patch length fields once the size of
// what follows is known (the IKE payload and message lengths). It may allocate: it is for the
// control plane, not for the packet path.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <stdexcept>
#include <vector>

namespace esprit::wire {

class Reader {
 public:
  Reader() = default;
  /// Reads `data`; `base_offset` is the absolute offset of data[0] (for error reports).
  explicit Reader(std::span<const uint8_t> data, std::size_t base_offset = 0) noexcept
      : data_(data), base_(base_offset) {}

  /// False once a read did not fit; a poisoned reader stays poisoned.
  [[nodiscard]] bool ok() const noexcept { return ok_; }
  /// Bytes not read yet (0 when poisoned).
  [[nodiscard]] std::size_t remaining() const noexcept { return ok_ ? data_.size() - pos_ : 0; }
  [[nodiscard]] bool empty() const noexcept { return remaining() == 0; }
  /// Absolute offset of the next byte to read (of the failed read when poisoned).
  [[nodiscard]] std::size_t offset() const noexcept { return base_ + pos_; }
  /// Absolute offset of the first byte of this reader's range.
  [[nodiscard]] std::size_t base_offset() const noexcept { return base_; }
  /// Total size of this reader's range.
  [[nodiscard]] std::size_t size() const noexcept { return data_.size(); }
  /// The unread bytes, without consuming them (empty when poisoned).
  [[nodiscard]] std::span<const uint8_t> rest() const noexcept {
    return ok_ ? data_.subspan(pos_) : std::span<const uint8_t>{};
  }

  /// Checks that `n` bytes remain; poisons the reader otherwise.
  bool need(std::size_t n) noexcept {
    if (ok_ && n <= data_.size() - pos_) return true;
    ok_ = false;
    return false;
  }

  uint8_t u8() noexcept {
    if (!need(1)) return 0;
    return data_[pos_++];
  }
  uint16_t u16() noexcept {
    if (!need(2)) return 0;
    const uint16_t v = static_cast<uint16_t>(data_[pos_] << 8 | data_[pos_ + 1]);
    pos_ += 2;
    return v;
  }
  uint32_t u32() noexcept {
    if (!need(4)) return 0;
    uint32_t v = 0;
    for (int i = 0; i < 4; ++i) v = v << 8 | data_[pos_ + i];
    pos_ += 4;
    return v;
  }
  uint64_t u64() noexcept {
    if (!need(8)) return 0;
    uint64_t v = 0;
    for (int i = 0; i < 8; ++i) v = v << 8 | data_[pos_ + i];
    pos_ += 8;
    return v;
  }
  /// The next `n` bytes as a view into the buffer (empty and poisoned if they do not fit).
  std::span<const uint8_t> bytes(std::size_t n) noexcept {
    if (!need(n)) return {};
    auto s = data_.subspan(pos_, n);
    pos_ += n;
    return s;
  }
  /// Copies the next `out.size()` bytes into `out` (zeroes it if they do not fit).
  bool copy(std::span<uint8_t> out) noexcept {
    if (!need(out.size())) {
      if (!out.empty()) std::memset(out.data(), 0, out.size());
      return false;
    }
    if (!out.empty()) std::memcpy(out.data(), data_.data() + pos_, out.size());
    pos_ += out.size();
    return true;
  }
  /// The next `n` bytes appended to a vector (for fields the model owns).
  std::vector<uint8_t> vec(std::size_t n) {
    auto s = bytes(n);
    return {s.begin(), s.end()};
  }
  bool skip(std::size_t n) noexcept {
    if (!need(n)) return false;
    pos_ += n;
    return true;
  }
  /// A reader over the next `n` bytes, which this reader then skips. If they do not fit, both
  /// this reader and the returned one are poisoned.
  Reader sub(std::size_t n) noexcept {
    const std::size_t at = offset();
    if (!need(n)) {
      Reader r({}, at);
      r.ok_ = false;
      return r;
    }
    Reader r(data_.subspan(pos_, n), at);
    pos_ += n;
    return r;
  }
  /// Marks the reader as failed (a value read was out of range for its field).
  void poison() noexcept { ok_ = false; }

 private:
  std::span<const uint8_t> data_;
  std::size_t base_ = 0;
  std::size_t pos_ = 0;
  bool ok_ = true;
};

class Writer {
 public:
  /// Appends to `out` (which may already hold bytes: offsets are indices into `out`).
  explicit Writer(std::vector<uint8_t>& out) noexcept : out_(out) {}

  /// Current end of the output: the offset the next byte will have.
  [[nodiscard]] std::size_t offset() const noexcept { return out_.size(); }

  void u8(uint8_t v) { out_.push_back(v); }
  void u16(uint16_t v) {
    out_.push_back(static_cast<uint8_t>(v >> 8));
    out_.push_back(static_cast<uint8_t>(v));
  }
  void u32(uint32_t v) {
    for (int s = 24; s >= 0; s -= 8) out_.push_back(static_cast<uint8_t>(v >> s));
  }
  void u64(uint64_t v) {
    for (int s = 56; s >= 0; s -= 8) out_.push_back(static_cast<uint8_t>(v >> s));
  }
  void bytes(std::span<const uint8_t> b) { out_.insert(out_.end(), b.begin(), b.end()); }
  void zeros(std::size_t n) { out_.insert(out_.end(), n, 0); }

  /// Overwrites the 2 bytes at `at` (a field written earlier, e.g. a placeholder length).
  /// Throws std::out_of_range if they are not inside the output.
  void patch_u16(std::size_t at, uint16_t v) {
    if (at > out_.size() || out_.size() - at < 2) throw std::out_of_range("wire::Writer::patch_u16");
    out_[at] = static_cast<uint8_t>(v >> 8);
    out_[at + 1] = static_cast<uint8_t>(v);
  }
  void patch_u32(std::size_t at, uint32_t v) {
    if (at > out_.size() || out_.size() - at < 4) throw std::out_of_range("wire::Writer::patch_u32");
    for (int i = 0; i < 4; ++i) out_[at + i] = static_cast<uint8_t>(v >> (24 - 8 * i));
  }
  void patch_u8(std::size_t at, uint8_t v) {
    if (at >= out_.size()) throw std::out_of_range("wire::Writer::patch_u8");
    out_[at] = v;
  }

  /// Back-patches the 16-bit length at `length_at` with the bytes written since `start`.
  /// Throws std::length_error if that does not fit in 16 bits.
  void patch_length16(std::size_t length_at, std::size_t start) {
    const std::size_t len = out_.size() - start;
    if (len > 0xffff) throw std::length_error("wire::Writer: 16-bit length overflow");
    patch_u16(length_at, static_cast<uint16_t>(len));
  }

 private:
  std::vector<uint8_t>& out_;
};

}  // namespace esprit::wire
