// Key material that is wiped when it is freed.
#pragma once

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <span>
#include <string_view>
#include <vector>

namespace esprit {

/// Overwrites `len` bytes at `p` in a way the compiler may not elide (OPENSSL_cleanse).
void secure_wipe(void* p, std::size_t len) noexcept;

/// Constant-time comparison of two equally long byte ranges; true when equal.
[[nodiscard]] bool constant_time_equal(const uint8_t* a, const uint8_t* b, std::size_t len) noexcept;

/// Owning byte buffer for keys: wiped on destruction, on assignment and on clear().
class SecretBytes {
 public:
  SecretBytes() = default;
  explicit SecretBytes(std::span<const uint8_t> bytes) : bytes_(bytes.begin(), bytes.end()) {}
  SecretBytes(std::initializer_list<uint8_t> bytes) : bytes_(bytes) {}
  SecretBytes(const SecretBytes& other) = default;
  SecretBytes(SecretBytes&& other) noexcept : bytes_(std::move(other.bytes_)) {}
  SecretBytes& operator=(const SecretBytes& other) {
    if (this != &other) {
      clear();
      bytes_ = other.bytes_;
    }
    return *this;
  }
  SecretBytes& operator=(SecretBytes&& other) noexcept {
    if (this != &other) {
      clear();
      bytes_ = std::move(other.bytes_);
    }
    return *this;
  }
  ~SecretBytes() { clear(); }

  /// `n` zero bytes, to be filled in place through mutable_data() (no unwiped copy is ever made).
  [[nodiscard]] static SecretBytes zeroed(std::size_t n) {
    SecretBytes s;
    s.bytes_.assign(n, 0);
    return s;
  }

  /// Parses hex ("0x" prefix and ':' separators allowed); returns false on bad input.
  [[nodiscard]] static bool from_hex(std::string_view hex, SecretBytes& out);

  void clear() noexcept {
    if (!bytes_.empty()) secure_wipe(bytes_.data(), bytes_.size());
    bytes_.clear();
  }
  [[nodiscard]] std::size_t size() const noexcept { return bytes_.size(); }
  [[nodiscard]] bool empty() const noexcept { return bytes_.empty(); }
  [[nodiscard]] const uint8_t* data() const noexcept { return bytes_.data(); }
  [[nodiscard]] std::span<const uint8_t> span() const noexcept { return bytes_; }
  [[nodiscard]] uint8_t* mutable_data() noexcept { return bytes_.data(); }
  [[nodiscard]] std::span<uint8_t> mutable_span() noexcept { return bytes_; }
  /// Keeps the first `n` bytes (n <= size()); the dropped tail is wiped.
  void truncate(std::size_t n) noexcept {
    if (n >= bytes_.size()) return;
    secure_wipe(bytes_.data() + n, bytes_.size() - n);
    bytes_.resize(n);
  }

 private:
  std::vector<uint8_t> bytes_;
};

}  // namespace esprit
