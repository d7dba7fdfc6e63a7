// Per-SA, per-worker counters. A worker owns its block and is its only writer (counter_add: a
// relaxed load and store, no locked instruction); readers (the control core) sum the blocks of all
// workers with counter_load (Sad::totals) and tolerate a value one burst old.
#pragma once

#include <array>
#include <cstdint>

#include "esprit/fastpath/counter.hpp"
#include "esprit/fastpath/drop_reason.hpp"

namespace esprit {

// Not cache-line aligned itself: the SAD puts each worker's block for a slot right behind that
// worker's copy of the slot's SA pointer (SadWorkerSlot), so one line holds both and the packet
// and byte counts.
struct SaCounters {
  uint64_t packets = 0;  ///< packets processed successfully
  uint64_t bytes = 0;    ///< their bytes: plaintext (inner) length
  std::array<uint64_t, kDropReasonCount> drops{};

  [[nodiscard]] uint64_t drop(DropReason r) const noexcept { return drops[static_cast<std::size_t>(r)]; }
  [[nodiscard]] uint64_t total_drops() const noexcept {
    uint64_t t = 0;
    for (uint64_t d : drops) t += d;
    return t;
  }
  SaCounters& operator+=(const SaCounters& o) noexcept {
    packets += o.packets;
    bytes += o.bytes;
    for (std::size_t i = 0; i < drops.size(); ++i) drops[i] += o.drops[i];
    return *this;
  }
};

}  // namespace esprit
