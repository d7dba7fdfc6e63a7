#include "esprit/fastpath/rcu.hpp"

#include <rte_errno.h>
#include <rte_malloc.h>

namespace esprit {

std::unique_ptr<Rcu> Rcu::create(uint32_t max_threads, std::string* error) {
  const size_t sz = rte_rcu_qsbr_get_memsize(max_threads);
  auto* qs = static_cast<rte_rcu_qsbr*>(rte_zmalloc("esprit_rcu", sz, RTE_CACHE_LINE_SIZE));
  if (!qs) {
    if (error) *error = "rte_zmalloc for the RCU state failed";
    return nullptr;
  }
  if (rte_rcu_qsbr_init(qs, max_threads) != 0) {
    if (error) *error = std::string("rte_rcu_qsbr_init: ") + rte_strerror(rte_errno);
    rte_free(qs);
    return nullptr;
  }
  return std::unique_ptr<Rcu>(new Rcu(qs, max_threads));
}

Rcu::~Rcu() { rte_free(qs_); }

void Rcu::register_thread(uint32_t id) noexcept { rte_rcu_qsbr_thread_register(qs_, id); }

}  // namespace esprit
