#include "dpdk_env.hpp"

#include <rte_eal.h>
#include <rte_errno.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>

namespace esprit::test {

void init_dpdk() {
  static std::once_flag once;
  std::call_once(once, [] {
    std::vector<std::string> args = {"esprit-test", "--no-huge", "-m", "512", "--no-pci", "--no-telemetry",
                                     "--no-shconf", "--log-level=lib.eal:error", "-l", "0"};
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    if (rte_eal_init(static_cast<int>(argv.size()), argv.data()) < 0) {
      std::fprintf(stderr, "rte_eal_init failed: %s\n", rte_strerror(rte_errno));
      std::abort();
    }
  });
}

rte_mempool* mbuf_pool() {
  static rte_mempool* pool = [] {
    init_dpdk();
    rte_mempool* p = rte_pktmbuf_pool_create("esprit_test", 8191, 256, 0, RTE_MBUF_DEFAULT_BUF_SIZE, 0);
    if (!p) {
      std::fprintf(stderr, "rte_pktmbuf_pool_create failed: %s\n", rte_strerror(rte_errno));
      std::abort();
    }
    return p;
  }();
  return pool;
}

rte_mbuf* make_mbuf(std::span<const uint8_t> bytes) {
  rte_mbuf* m = rte_pktmbuf_alloc(mbuf_pool());
  if (!m) std::abort();
  char* p = rte_pktmbuf_append(m, static_cast<uint16_t>(bytes.size()));
  if (!p) std::abort();
  if (!bytes.empty()) std::memcpy(p, bytes.data(), bytes.size());  // an empty span may have no data()
  return m;
}

std::vector<uint8_t> mbuf_bytes(const rte_mbuf* m) {
  const auto* p = rte_pktmbuf_mtod(m, const uint8_t*);
  return {p, p + rte_pktmbuf_data_len(m)};
}

std::vector<uint8_t> from_hex(std::string_view hex) {
  std::vector<uint8_t> out;
  int hi = -1;
  for (char c : hex) {
    int v;
    if (c >= '0' && c <= '9') v = c - '0';
    else if (c >= 'a' && c <= 'f') v = c - 'a' + 10;
    else if (c >= 'A' && c <= 'F') v = c - 'A' + 10;
    else continue;  // spaces, newlines, separators
    if (hi < 0) {
      hi = v;
    } else {
      out.push_back(static_cast<uint8_t>(hi << 4 | v));
      hi = -1;
    }
  }
  return out;
}

std::string to_hex(std::span<const uint8_t> bytes) {
  static const char* d = "0123456789abcdef";
  std::string s;
  s.reserve(bytes.size() * 2);
  for (uint8_t b : bytes) {
    s.push_back(d[b >> 4]);
    s.push_back(d[b & 15]);
  }
  return s;
}

}  // namespace esprit::test
