// Test support: one DPDK EAL for the process (no hugepages, no PCI) and an mbuf pool.
#pragma once

#include <rte_mbuf.h>

#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace esprit::test {

/// Initialises the EAL once with --no-huge --no-pci --in-memory; aborts with a message on failure.
void init_dpdk();

/// A pool of `count` mbufs of 2048 data bytes + 128 headroom, created on first use.
rte_mempool* mbuf_pool();

/// An mbuf holding a copy of `bytes` (headroom left at the default 128 bytes).
rte_mbuf* make_mbuf(std::span<const uint8_t> bytes);

std::vector<uint8_t> mbuf_bytes(const rte_mbuf* m);

/// Hex helpers for vectors.
std::vector<uint8_t> from_hex(std::string_view hex);
std::string to_hex(std::span<const uint8_t> bytes);

}  // namespace esprit::test
