// Quiescent-state RCU (rte_rcu_qsbr) shared by the tables the control core publishes to workers
// (SAD, SPD, FIB). Workers report a quiescent state once per poll-loop iteration, when they hold no
// pointer into a table; the control core swaps a pointer, then waits (synchronize) before freeing
// what it replaced. Workers never wait.
#pragma once

#include <rte_rcu_qsbr.h>

#include <cstdint>
#include <memory>
#include <string>

namespace esprit {

class Rcu {
 public:
  /// `max_threads`: worker ids 0..max_threads-1.
  static std::unique_ptr<Rcu> create(uint32_t max_threads, std::string* error);
  ~Rcu();
  Rcu(const Rcu&) = delete;
  Rcu& operator=(const Rcu&) = delete;

  [[nodiscard]] rte_rcu_qsbr* qsbr() noexcept { return qs_; }
  [[nodiscard]] uint32_t max_threads() const noexcept { return max_threads_; }

  /// Worker side. register_thread once, then online/offline around periods of table use.
  void register_thread(uint32_t id) noexcept;
  void online(uint32_t id) noexcept { rte_rcu_qsbr_thread_online(qs_, id); }
  void offline(uint32_t id) noexcept { rte_rcu_qsbr_thread_offline(qs_, id); }
  void quiescent(uint32_t id) noexcept { rte_rcu_qsbr_quiescent(qs_, id); }

  /// Control side: returns once every online worker has passed a quiescent state, so nothing
  /// unpublished before the call is still in use.
  void synchronize() noexcept { rte_rcu_qsbr_synchronize(qs_, RTE_QSBR_THRID_INVALID); }

 private:
  Rcu(rte_rcu_qsbr* qs, uint32_t max_threads) : qs_(qs), max_threads_(max_threads) {}
  rte_rcu_qsbr* qs_;
  uint32_t max_threads_;
};

}  // namespace esprit
