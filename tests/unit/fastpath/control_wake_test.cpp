// ControlWake (control_wake.hpp): the control core blocks on an eventfd while idle and workers
// that enqueue onto its rings wake it. Tests assert that it is woken, never how fast (the
// timeouts are generous: reaching one means a lost wake-up).
#include "esprit/fastpath/control_wake.hpp"

#include <gtest/gtest.h>
#include <rte_ring.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <thread>
#include <vector>

#include "dpdk_env.hpp"

namespace esprit {
namespace {

using std::chrono::seconds;

TEST(ControlWake, WaitEndsByEventFdOrTimeout) {
  std::string err;
  auto wake = ControlWake::create(&err);
  ASSERT_TRUE(wake) << err;
  EXPECT_FALSE(wake->wait(std::chrono::microseconds(100)));  // nothing: the timeout
  wake->notify();                                            // awake: no write
  EXPECT_EQ(wake->rings(), 0u);
  EXPECT_FALSE(wake->wait(std::chrono::microseconds(100)));
  wake->prepare_sleep();
  wake->notify();
  wake->notify();  // the first cleared the flag: one write per sleep
  EXPECT_EQ(wake->rings(), 1u);
  EXPECT_TRUE(wake->wait(seconds(30)));
  EXPECT_FALSE(wake->wait(std::chrono::microseconds(100)));  // the eventfd was drained
  wake->ring();  // a signal handler's: whatever the flag
  EXPECT_TRUE(wake->wait(seconds(30)));
  EXPECT_EQ(wake->sleeps(), 5u);
  EXPECT_EQ(wake->woken(), 2u);
  // Another descriptor ready ends the wait too, with its revents.
  int p[2];
  ASSERT_EQ(pipe(p), 0);
  ASSERT_EQ(write(p[1], "x", 1), 1);
  pollfd fds[1] = {{p[0], POLLIN, 0}};
  EXPECT_FALSE(wake->wait(seconds(30), fds));
  EXPECT_TRUE(fds[0].revents & POLLIN);
  close(p[0]);
  close(p[1]);
}

// The handshake under races: producers on other threads enqueue one entry at a time onto a real
// rte_ring and notify(); the consumer drains, announces its sleep, re-checks the ring and blocks.
// Each producer waits until its entry is consumed before the next, so every entry meets a consumer
// on its way to sleep, in all interleavings the machine produces. A lost wake-up would leave the
// consumer blocked with an entry in the ring: its 20 s timeout ends the test with a failure.
TEST(ControlWake, NoLostWakeUpWithRacingProducers) {
  test::init_dpdk();
  std::string err;
  auto wake = ControlWake::create(&err);
  ASSERT_TRUE(wake) << err;
  rte_ring* ring = rte_ring_create("cwake_test", 1024, SOCKET_ID_ANY, RING_F_SC_DEQ);
  ASSERT_TRUE(ring);
  constexpr int kProducers = 2;
  constexpr int kEach = 1500;
  std::atomic<int> consumed{0};
  std::atomic<bool> lost{false};
  std::thread consumer([&] {
    int got = 0;
    while (got < kProducers * kEach) {
      void* obj;
      while (rte_ring_dequeue(ring, &obj) == 0) ++got;
      consumed.store(got);
      if (got == kProducers * kEach) break;
      wake->prepare_sleep();
      if (!rte_ring_empty(ring)) {
        wake->cancel_sleep();
        continue;
      }
      if (!wake->wait(seconds(20)) && !rte_ring_empty(ring)) {
        lost.store(true);
        break;
      }
    }
  });
  std::vector<std::thread> producers;
  for (int p = 0; p < kProducers; ++p) {
    producers.emplace_back([&, p] {
      for (int i = 0; i < kEach && !lost.load(); ++i) {
        const int before = consumed.load();
        while (rte_ring_enqueue(ring, reinterpret_cast<void*>(uintptr_t{1})) != 0) std::this_thread::yield();
        wake->notify();
        // Vary the interleavings: now and then let the consumer reach its block first.
        if ((i + p) % 7 == 0) std::this_thread::sleep_for(std::chrono::microseconds(50));
        while (consumed.load() <= before && !lost.load()) std::this_thread::yield();
      }
    });
  }
  for (auto& t : producers) t.join();
  consumer.join();
  EXPECT_FALSE(lost.load()) << "the consumer slept on a non-empty ring until its timeout";
  EXPECT_EQ(consumed.load(), kProducers * kEach);
  // What happened (not asserted: the split depends on the scheduler).
  std::printf("%llu sleeps, %llu ended by the eventfd, %llu eventfd writes for %d entries\n",
              static_cast<unsigned long long>(wake->sleeps()), static_cast<unsigned long long>(wake->woken()),
              static_cast<unsigned long long>(wake->rings()), kProducers * kEach);
  rte_ring_free(ring);
}

}  // namespace
}  // namespace esprit
