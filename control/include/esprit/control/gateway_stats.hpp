// The gateway's counters and tables as the operator sees them: one collection routine used by the
// control socket's show commands (espritctl), by `espritd --stats-interval` and by the exit
// summary, so the three never disagree.
//
// Counters are written by the workers while this runs (counter_add / counter_load: relaxed, no
// torn values; a figure may be one burst old). `clear counters` never writes worker memory: it
// stores a snapshot as the baseline, and the show commands report the difference.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "esprit/common/config.hpp"
#include "esprit/control/ike_io.hpp"
#include "esprit/control/local_services.hpp"
#include "esprit/fastpath/gateway.hpp"
#include "esprit/fastpath/neighbor.hpp"
#include "esprit/fastpath/sa_counters.hpp"

namespace esprit {

class CommandRegistry;
class ControlServer;

/// What the collection reads; everything belongs to the daemon and outlives the GatewayStats.
struct GatewayView {
  const Config* config = nullptr;
  const GatewayTables* tables = nullptr;
  std::vector<const GatewayWorker*> workers;
  std::vector<uint32_t> worker_lcores;  ///< lcore of workers[i]
  const LocalServices* services = nullptr;
  const IkeTransport* ike = nullptr;       ///< the IKE transport (UDP 500/4500); may be null
  const ControlServer* control = nullptr;  ///< may be null
  std::vector<std::string> sa_names;       ///< by SAD slot ("" for none)
};

struct PortSnapshot {
  uint16_t id = 0;
  uint64_t ipackets = 0, opackets = 0, ibytes = 0, obytes = 0;
  uint64_t ierrors = 0, oerrors = 0, imissed = 0, rx_nombuf = 0;
};

struct WorkerSnapshot {
  uint32_t id = 0;
  GatewayCounters counters;
  std::array<uint64_t, static_cast<std::size_t>(NeighborWorkerCounter::kCount)> neighbor{};
};

struct SaSnapshot {
  uint32_t slot = 0;
  uint32_t spi = 0;
  SaDirection direction = SaDirection::kOutbound;
  SaCounters counters;
};

/// Hits of one SPD rule; index kDefaultRule / kInvalidRule for the table's default and invalid slots.
struct PolicySnapshot {
  static constexpr uint32_t kDefaultRule = UINT32_MAX;
  static constexpr uint32_t kInvalidRule = UINT32_MAX - 1;
  PolicyDirection direction = PolicyDirection::kOutbound;
  uint32_t index = 0;
  std::string name;
  uint64_t hits = 0;
};

struct CounterSnapshot {
  std::chrono::steady_clock::time_point taken{};
  std::vector<PortSnapshot> ports;
  std::vector<WorkerSnapshot> workers;
  std::vector<SaSnapshot> sas;
  std::vector<PolicySnapshot> policies;
  LocalServiceCounters control;
  IkeIoCounters ike;           ///< zero when the view has no transport
  std::size_t ike_backlog = 0;  ///< IKE frames in the TX backlog now (a level, not a count)
  NeighborCounters neighbor;
};

/// Reads every counter once (control core).
[[nodiscard]] CounterSnapshot collect_counters(const GatewayView& view);
/// `now` minus `base`, entry by entry (same port, worker, SA slot and SPI, rule). An entry absent
/// from `base`, or smaller there (a slot reused, a table rebuilt), keeps its full value.
[[nodiscard]] CounterSnapshot counters_since(const CounterSnapshot& now, const CounterSnapshot& base);

class GatewayStats {
 public:
  explicit GatewayStats(GatewayView view);

  /// Counters since the last clear() (since start before any).
  [[nodiscard]] CounterSnapshot current() const;
  /// Makes the current values the baseline (writes nothing the workers own).
  void clear();

  // The show commands' results (JSON, documented in docs/operations.md).
  [[nodiscard]] nlohmann::json show_version() const;
  [[nodiscard]] nlohmann::json show_counters() const;
  [[nodiscard]] nlohmann::json show_ports() const;
  [[nodiscard]] nlohmann::json show_sa() const;
  [[nodiscard]] nlohmann::json show_policy() const;
  [[nodiscard]] nlohmann::json show_routes() const;
  [[nodiscard]] nlohmann::json show_neighbors() const;
  [[nodiscard]] nlohmann::json show_drops() const;

  /// Registers "show ..." and "clear counters" (and "help").
  void register_commands(CommandRegistry& registry);

  /// The summary espritd prints at exit and every --stats-interval: totals since start (the
  /// baseline is ignored), one line per worker, SA and the control core. Above `max_sa_lines`
  /// SAs, one line says how many there are instead (100 000 lines a second would flood the log).
  void print_summary(std::FILE* out, uint32_t max_sa_lines = UINT32_MAX) const;

 private:
  [[nodiscard]] std::string port_name(uint16_t id) const;
  [[nodiscard]] nlohmann::json since_json(const CounterSnapshot& s) const;

  GatewayView v_;
  std::chrono::steady_clock::time_point started_;
  std::chrono::system_clock::time_point started_wall_;
  CounterSnapshot baseline_;
  bool cleared_ = false;
  std::chrono::system_clock::time_point cleared_wall_{};
};

}  // namespace esprit
