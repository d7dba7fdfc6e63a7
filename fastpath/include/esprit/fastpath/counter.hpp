// Counters with one writer (a worker) and concurrent readers (the control core).
//
// A worker owns its counter blocks and is their only writer, so an increment needs no atomic
// read-modify-write: counter_add() is a relaxed load and a relaxed store through std::atomic_ref,
// which on x86-64 compiles to a plain `add` to memory (no `lock` prefix) yet is a data race
// neither for the C++ memory model nor for ThreadSanitizer. counter_load() is the readers' side:
// it never sees a torn value; it may see one burst's worth less than the writer has counted.
// Nobody but the owning worker ever writes a counter: `espritctl clear counters` keeps a baseline on
// the control core instead (control/include/esprit/control/gateway_stats.hpp).
#pragma once

#include <atomic>
#include <cstdint>

namespace esprit {

/// Single writer only: adds `n` to `c` (relaxed load + relaxed store, no locked instruction).
inline void counter_add(uint64_t& c, uint64_t n = 1) noexcept {
  std::atomic_ref<uint64_t> a(c);
  a.store(a.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
}

/// Any thread: the counter's current value (relaxed).
[[nodiscard]] inline uint64_t counter_load(const uint64_t& c) noexcept {
  // atomic_ref<const T> is C++26; the load does not write, so casting const away is sound.
  return std::atomic_ref<uint64_t>(const_cast<uint64_t&>(c)).load(std::memory_order_relaxed);
}

}  // namespace esprit
