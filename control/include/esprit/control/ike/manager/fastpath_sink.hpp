// Child SAs into the real fast path (docs/ike.md "The IKE SA manager"): a ChildSaSink per peer
// over the SAD (Sad::add/replace/remove make the EspSa from the descriptor) and the SPD.
//
// FastpathInstaller holds what the daemon built at start (GatewayTables, the SPD rules with the
// peer each IKE-bound rule belongs to, the tunnels bound to peers) and rebuilds the SPD when a
// peer's outbound SA changes: the rules of that peer whose selector the Child SA's negotiated TS
// cover get its slot, copy-then-swap (SpdTable::build off to the side, Spd::publish under RCU).
// An IKE-bound PROTECT rule without SA points at kNoSaSlot: the worker drops with kNoSa, never
// sends in clear. Make-before-break: install_inbound adds the new inbound SA (its sa_selectors,
// the negotiated TS, written before the SA is published); install_outbound replaces the old
// outbound SA in its slot (Sad::replace) so policies and tunnels follow at once; the old inbound
// SA goes only at remove(). A tunnel bound to the peer gets tunnel_sa[tunnel] = slot (atomic).
// Control core only; not for the workers.
#pragma once

#include <chrono>
#include <list>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "esprit/common/policy.hpp"
#include "esprit/control/ike/manager/ike_manager.hpp"  // ChildCounters
#include "esprit/control/ike/sa/child_sa_sink.hpp"
#include "esprit/fastpath/gateway.hpp"
#include "esprit/fastpath/spd.hpp"

struct rte_ring;

namespace esprit::ike {

/// One SPD rule as the daemon built it, and the peer whose Child SAs give its SA ("" = static: its
/// sa_index is kept).
struct InstallerRule {
  PolicyRule rule;
  std::string peer;
};

struct FastpathInstallerConfig {
  GatewayTables* tables = nullptr;  ///< sad, spd, sa_selectors (sized to the SAD), tunnel_sa
  std::vector<InstallerRule> rules;  ///< both directions, in SPD order
  std::vector<std::string> tunnel_peer;  ///< per tunnel id: the peer negotiating its SAs ("" = static)
  /// Per peer: fragmentation, MSS clamp and inner MTU of its Child SAs (a [[tunnel]]'s settings);
  /// peers not listed get the defaults. Every installed SA's slot gets GatewayTables::sa_paths
  /// (configured, remote = the SA's peer), so packets that do not fit the path are fragmented or
  /// answered with ICMP "fragmentation needed" like those of static SAs, not dropped silently.
  std::map<std::string, SaPathOptions> peer_paths;
  SpdTable::Options outbound{PolicyDirection::kOutbound, PolicyAction::kDiscard, 1, -1, 0};
  SpdTable::Options inbound{PolicyDirection::kInbound, PolicyAction::kDiscard, 1, -1, 0};
  /// false: every change of an outbound SA publishes at once (tests, small setups); true: changes are
  /// coalesced and flush() publishes (espritd, once per control-loop turn).
  bool batch_publish = false;
  /// The ring of SaEvent elements the workers' EspWorkers raise lifetime events into (multi-producer,
  /// single consumer: deliver_events()); nullptr: none. Not owned.
  rte_ring* events = nullptr;
};

/// SPD publications by the installer (`show ikev2 statistics`, benchmarks).
struct SpdPublishStats {
  uint64_t publications = 0;   ///< SPD builds published (start included)
  uint64_t rules = 0;          ///< rules (both directions) in the last one
  uint64_t narrowed = 0;       ///< of which narrowed Child SA rules
  double last_build_s = 0;     ///< wall time of the last build (both rte_acl tables) + publish
  double max_build_s = 0;
  double total_build_s = 0;
  double total_build_cpu_s = 0;  ///< CPU time of the control thread in them (builds; the RCU wait spins)
};

class FastpathInstaller {
 public:
  explicit FastpathInstaller(FastpathInstallerConfig config);
  ~FastpathInstaller();
  FastpathInstaller(const FastpathInstaller&) = delete;
  FastpathInstaller& operator=(const FastpathInstaller&) = delete;

  /// The sink for one peer's IKE SAs (owned by the installer; lives as long as it).
  [[nodiscard]] ChildSaSink& sink(const std::string& peer);
  /// Builds and publishes the SPD from the current state (the daemon calls it once at start so that
  /// IKE-bound PROTECT rules point at kNoSaSlot). False with `error` if rte_acl refuses.
  bool publish(std::string* error = nullptr);
  /// batch_publish: publishes if an SA change is pending and the pacing allows (see above), then
  /// removes the outbound SAs that waited for it. `force`: ignore the pacing. Cheap when nothing
  /// is pending. Returns false if a build failed (counted in failures(); retried on the next call).
  bool flush(bool force = false);
  /// An SA change waits for flush().
  [[nodiscard]] bool pending() const noexcept { return dirty_ || !doomed_.empty(); }
  /// When the pacing lets flush() publish a pending change (the control loop sleeps no longer).
  [[nodiscard]] std::chrono::steady_clock::time_point next_publish() const noexcept { return next_publish_; }
  [[nodiscard]] const SpdPublishStats& publish_stats() const noexcept { return stats_; }

  /// Failures of SAD operations (descriptor refused, SAD full) since start, and the last message.
  [[nodiscard]] uint64_t failures() const noexcept { return failures_; }
  [[nodiscard]] const std::string& last_error() const noexcept { return last_error_; }
  /// The SAD slot of an SA by SPI and direction, kNoSaSlot if not installed (tests, show).
  [[nodiscard]] uint32_t slot_of(uint32_t spi, SaDirection d) const noexcept;
  /// The traffic of one Child SA direction (IkeManagerEnv::counters: lifetimes by packets and
  /// bytes, `show ikev2 child-sa`): packets and octets of that SA alone, not of its slot, which an
  /// outbound rekey reuses (Sad::replace keeps the slot's counters); errors are the slot's. Zero
  /// when not installed. Control thread only (the one that frees SAs).
  [[nodiscard]] ChildCounters counters(uint32_t spi, SaDirection d) const noexcept;
  /// Drains the lifetime event ring (config `events`) into the manager: soft events start Child SA
  /// rekeys, hard ones (and sequence exhaustion) delete and re-create (IkeManager::child_limit_event).
  /// When events were lost (sa_events_lost() grew: a full ring) the manager polls every Child SA's
  /// state once (child_limit_events_lost). Returns the events read. Control thread, once per loop turn.
  std::size_t deliver_events(IkeManager& manager);
  /// Events that named no Child SA of the manager (gone already, or a static SA), since start.
  [[nodiscard]] uint64_t stray_events() const noexcept { return stray_events_; }

 private:
  class PeerSink;
  friend class PeerSink;
  struct Outbound {
    uint32_t spi;
    uint32_t slot;
    IpAddress remote;  ///< the peer's address and NAT-T port (0: none): outbound SPIs of two road
    uint16_t remote_port;  ///< warriors behind one NAT may be equal
    ChildSelectors ts;
    std::vector<esprit::TrafficSelector> selectors;  ///< ts as policy selectors (local -> remote)
  };
  using OutboundList = std::list<Outbound>;
  void install_inbound(const std::string& peer, const SaDescriptor& sa, const ChildSelectors& ts);
  void install_outbound(const std::string& peer, const SaDescriptor& sa, const ChildSelectors& ts, uint32_t replaces);
  /// Writes sa_paths[slot] for a slot no worker reads yet (before Sad::add publishes the SA).
  void set_path(const std::string& peer, const SaDescriptor& sa, uint32_t slot);
  void remove(const std::string& peer, uint32_t spi, SaDirection d, const SaDescriptor* sa = nullptr);
  using OutboundIndex = std::unordered_multimap<uint32_t, OutboundList::iterator>;
  /// The outbound SA with this SPI (when several have it: the one with the remote address and NAT-T
  /// port of `sa`); end() if none.
  [[nodiscard]] OutboundIndex::iterator find_outbound(uint32_t spi, const SaDescriptor* sa) noexcept;
  void fail(std::string msg);
  /// Writes the peer's id into GatewayTables::sa_peer[slot] (hub_loop detection).
  void set_peer(const std::string& peer, uint32_t slot) noexcept;

  FastpathInstallerConfig cfg_;
  std::map<std::string, std::unique_ptr<PeerSink>> sinks_;
  void outbound_changed();
  std::map<std::string, OutboundList> outbound_;  ///< per peer, oldest first
  OutboundIndex outbound_pos_;  ///< the peers' SPI -> the entries
  std::unordered_map<uint32_t, uint32_t> inbound_slot_;  ///< our SPI -> slot
  bool dirty_ = false;
  std::vector<uint32_t> doomed_;  ///< outbound slots to remove after the next publication
  std::chrono::steady_clock::time_point next_publish_{};
  SpdPublishStats stats_;
  uint64_t failures_ = 0;
  uint64_t stray_events_ = 0;
  uint64_t events_lost_seen_ = 0;  ///< sa_events_lost() at the last deliver_events()
  std::string last_error_;
};

/// Whether the policy selector lies inside the IKE traffic selectors (src in `local`, dst in
/// `remote`, protocol and ports included).
[[nodiscard]] bool covered_by(const esprit::TrafficSelector& sel, const std::vector<ike::TrafficSelector>& local,
                              const std::vector<ike::TrafficSelector>& remote) noexcept;
/// The traffic both selectors match (nullopt: none, or not expressible as one rule).
[[nodiscard]] std::optional<esprit::TrafficSelector> intersect(const esprit::TrafficSelector& a,
                                                               const esprit::TrafficSelector& b) noexcept;
/// An IKE traffic selector (address range) as policy selectors (the fewest prefixes that make up the
/// range), `src` side; the other side any.
[[nodiscard]] std::vector<esprit::TrafficSelector> to_policy_selectors(const std::vector<ike::TrafficSelector>& src,
                                                                       const std::vector<ike::TrafficSelector>& dst);

}  // namespace esprit::ike
