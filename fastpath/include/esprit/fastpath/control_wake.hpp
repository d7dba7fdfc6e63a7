// The control core's doorbell: lets it block while idle and be woken by the workers that hand it
// work through rings (punted frames, neighbour requests, SA lifetime events), the interrupt-mode
// handshake of DPDK's and VPP's interrupt modes, over an eventfd.
//
//   control core                                  worker (after an enqueue onto a control ring)
//   prepare_sleep()   sleeping = true; fence      enqueue ... ; fence
//   if any ring non-empty: cancel_sleep()         if sleeping and exchange(sleeping, false):
//   else wait(timeout)  ppoll(eventfd, ...)          write(eventfd)   (non-blocking)
//
// Why no wake-up is lost (the store-buffering / Dekker pattern): each side stores, then issues a
// seq_cst fence, then loads what the other side stored. The control core stores `sleeping`, fences,
// loads the rings' producer tails; a worker stores a ring's producer tail (the enqueue), fences,
// loads `sleeping`. The two fences are totally ordered: if the control core's comes first, the
// worker's load of `sleeping` sees true and the worker writes the eventfd; if the worker's comes
// first, the control core's re-check sees the entry and it does not sleep. Both may see each
// other's store (the control core stays awake and the worker writes: one spurious wake-up, harmless);
// neither missing the other's is what the fences rule out. Without them, each store may still sit in
// its CPU's store buffer when the other side loads (x86 reorders a load before an earlier store to
// another address): the control core would sleep on a ring with an entry until its timeout.
// The exchange makes a burst of enqueues from any number of workers cost one eventfd write per
// sleep: the first worker to see the flag clears it, the others see it cleared.
//
// Workers never block here: the eventfd is non-blocking (a write fails only when its counter is
// near 2^64, which two writes per sleep never reach), and a worker that sees the flag clear pays
// one fence and one load of a line the control core writes once per sleep.
#pragma once

#include <poll.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <span>
#include <string>

namespace esprit {

class ControlWake {
 public:
  /// The eventfd (non-blocking, close-on-exec); nullptr and a message on failure.
  [[nodiscard]] static std::unique_ptr<ControlWake> create(std::string* error);
  ~ControlWake();
  ControlWake(const ControlWake&) = delete;
  ControlWake& operator=(const ControlWake&) = delete;

  // ---- workers (any thread, any number at once)

  /// Call after an enqueue onto a ring the control core drains (the fence orders the enqueue
  /// before the look at the flag): wakes the control core if it sleeps or is about to. Never blocks.
  void notify() noexcept {
    std::atomic_thread_fence(std::memory_order_seq_cst);
    // The plain load first: a control core that is awake costs no write to the shared line.
    if (sleeping_.load(std::memory_order_relaxed) && sleeping_.exchange(false, std::memory_order_relaxed)) ring();
  }
  /// Writes the eventfd whatever the flag says: for a signal handler (async-signal-safe).
  void ring() noexcept;

  // ---- the control core (one thread)

  /// Announces the sleep. Then re-check every ring the workers notify() for: work there means
  /// cancel_sleep() and another turn; else wait().
  void prepare_sleep() noexcept {
    sleeping_.store(true, std::memory_order_relaxed);
    std::atomic_thread_fence(std::memory_order_seq_cst);
  }
  void cancel_sleep() noexcept { sleeping_.store(false, std::memory_order_relaxed); }
  /// Blocks until a worker's notify() (or ring()), until one of `fds` is ready (their revents are
  /// set), or for `timeout`, whichever comes first; returns true when the eventfd woke it.
  /// Afterwards the flag is clear (a notify() racing with the timeout leaves the eventfd set: the
  /// next wait() returns at once, one spurious turn).
  bool wait(std::chrono::nanoseconds timeout, std::span<pollfd> fds = {}) noexcept;

  /// Sleeps (wait() calls), those the eventfd ended, and eventfd writes by notify()/ring().
  [[nodiscard]] uint64_t sleeps() const noexcept { return sleeps_.load(std::memory_order_relaxed); }
  [[nodiscard]] uint64_t woken() const noexcept { return woken_.load(std::memory_order_relaxed); }
  [[nodiscard]] uint64_t rings() const noexcept { return rings_.load(std::memory_order_relaxed); }
  [[nodiscard]] int fd() const noexcept { return fd_; }

 private:
  explicit ControlWake(int fd) noexcept : fd_(fd) {}
  /// Written by the control core once per sleep, read by every worker after an enqueue: alone on
  /// its cache line so the workers' counters and the fd stay out of that traffic.
  alignas(64) std::atomic<bool> sleeping_{false};
  alignas(64) int fd_;
  std::atomic<uint64_t> sleeps_{0};  // control core only
  std::atomic<uint64_t> woken_{0};   // control core only
  std::atomic<uint64_t> rings_{0};   // workers: at most one write per sleep
};

}  // namespace esprit
