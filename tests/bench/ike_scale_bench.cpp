// IKE responder scale benchmark (issue 4): one IkeManager responder with a real FastpathInstaller
// (RCU, SAD, SPD with rte_acl; --no-huge EAL) accepts N IKE SAs (each with its Child SA) from N
// in-process IkeSa initiators (one address, IDs client-0.., inner addresses 10.2.x.y: road
// warriors), 64 at a time, aes128gcm16-prfsha256-x25519 / aes128gcm16. Prints:
//   - setups/s of the responder alone (its thread CPU time in receive(), tick(), flush());
//   - CPU time of one control-loop turn (tick() + flush()) with N idle SAs;
//   - SPD publications, rules and build times;
//   - memory: heap of the responder (in use after setup, after freeing the initiators), RSS delta,
//     and what `show ikev2 statistics` estimates.
// A benchmark, not a test: no assertions on figures.
//
//   ninja -C build tests/bench/ike_scale_bench && build/tests/bench/ike_scale_bench [N]
#include <cstdio>
#include <cstdlib>

#include "ike_scale_rig.hpp"

using namespace esprit;

int main(int argc, char** argv) {
  const std::size_t n = argc > 1 ? std::strtoul(argv[1], nullptr, 10) : 10000;
  const std::size_t batch = 64;
  test::ScaleRig rig(n);
  const std::size_t heap0 = test::heap_in_use(), rss0 = test::rss_bytes();
  const auto w0 = std::chrono::steady_clock::now();
  double ticks_during = 0;
  for (std::size_t first = 0; first < n; first += batch) {
    rig.connect(first, std::min(n, first + batch));
    rig.clock.t += std::chrono::milliseconds(20);  // 64 setups / 20 ms: the turns as they come
    ticks_during += rig.turn();
  }
  rig.installer->flush(true);
  const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - w0).count();
  const double cpu = rig.responder_cpu_s + ticks_during;
  std::printf("ike_scale_bench: %zu IKE SAs from one address (%s / %s)\n", n, test::ScaleRig::kSuiteIke,
              test::ScaleRig::kSuiteEsp);
  std::printf("  established: responder %zu IKE SAs, initiators %zu with their Child SA, SAD %u SAs\n",
              rig.manager->sa_count(), rig.established_initiators(), rig.sad->size());
  std::printf("  responder CPU: %.3f s for %zu setups = %.0f setups/s (%.1f us/setup); wall (both sides) %.2f s\n",
              cpu, n, static_cast<double>(n) / cpu, cpu * 1e6 / static_cast<double>(n), wall);
  std::printf("  responder wall time in receive() + flush(): %.3f s = %.0f setups/s\n", rig.responder_wall_s,
              static_cast<double>(n) / rig.responder_wall_s);
  std::printf("  of which control-loop turns (tick + flush) during setup: %.3f s\n", ticks_during);

  // Idle: every SA has deadlines (DPD 30 s, rekeys in about an hour) but none is due.
  const int turns = 200;
  double idle = 0, worst = 0;
  for (int i = 0; i < turns; ++i) {
    rig.clock.t += std::chrono::milliseconds(100);
    double t = rig.turn();
    idle += t;
    worst = std::max(worst, t);
  }
  std::printf("  control-loop turn with %zu idle SAs: %.1f us mean, %.1f us worst (%d turns, 100 ms apart)\n",
              rig.manager->sa_count(), idle * 1e6 / turns, worst * 1e6, turns);
  const auto& ps = rig.installer->publish_stats();
  std::printf("  SPD: %lu publications for %zu Child SAs, last with %lu rules (%lu narrowed); build+publish "
              "last %.1f ms, max %.1f ms, total %.3f s (%.3f s CPU)\n",
              static_cast<unsigned long>(ps.publications), n, static_cast<unsigned long>(ps.rules),
              static_cast<unsigned long>(ps.narrowed), ps.last_build_s * 1e3, ps.max_build_s * 1e3, ps.total_build_s,
              ps.total_build_cpu_s);
  {
    auto t0 = std::chrono::steady_clock::now();
    const double c0 = test::thread_cpu_s();
    std::string err;
    bool ok = rig.installer->publish(&err);
    const double c = test::thread_cpu_s() - c0;
    double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::printf("  SPD rebuild + publish at %lu rules: %.1f ms CPU, %.1f ms wall%s\n", static_cast<unsigned long>(ps.rules),
                c * 1e3, s * 1e3, ok ? "" : " (failed)");
  }
  const std::size_t heap1 = test::heap_in_use(), rss1 = test::rss_bytes();
  rig.initiators.clear();
  rig.by_spi.clear();
  const std::size_t heap2 = test::heap_in_use();
  std::printf("  memory: RSS +%.1f MiB (both sides), heap +%.1f MiB (both sides), responder heap +%.1f MiB = %.0f B "
              "per IKE SA with its Child SA\n",
              static_cast<double>(rss1 - rss0) / 1048576.0, static_cast<double>(heap1 - heap0) / 1048576.0,
              static_cast<double>(heap2 - heap0) / 1048576.0, static_cast<double>(heap2 - heap0) / static_cast<double>(n));
  const auto& st = rig.manager->statistics();
  std::printf("  show ikev2 statistics: %lu IKE SAs, %lu Child SAs, estimated %.1f MiB\n",
              static_cast<unsigned long>(st.memory.ike_sas), static_cast<unsigned long>(st.memory.child_sas),
              static_cast<double>(st.memory.bytes) / 1048576.0);
  return 0;
}
