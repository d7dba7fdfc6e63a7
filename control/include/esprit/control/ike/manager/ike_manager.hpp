// The IKE SA manager (docs/ike.md "The IKE SA manager"): the piece between the IKE SAs
// (control/ike/sa) and the daemon. It owns the IKE SA table (by our SPI, responder half-open SAs
// also by (peer address, port, SPIi, nonce)), turns the configuration model's resolved settings
// into the SA code's settings, routes datagrams in (receive) and out (a send callback), drives
// every timer from tick(now): retransmissions, soft/hard lifetimes with jittered rekeys, DPD,
// connect type auto (bring up, re-establish) and trigger (acquire, rate-limited), NAT-T float and
// NAT mapping changes, INITIAL_CONTACT (RFC 7296 2.4: older IKE SAs between the same identities
// go). Runs on the control core; may allocate. No DPDK.
//
// Scale: each SA sits in a min-heap keyed by its next deadline (resend or give-up, DPD, NAT
// keepalive, soft/hard lifetimes of it and its Child SAs, half-open expiry, destroy), recomputed
// after everything that happens to it; tick() pops what is due, so a tick costs O(expired log N),
// not O(N). Lookups on the path of a message are hashed (SPI, half-open key, identity); a
// destroyed SA is reaped in O(1) amortised.
//
//   IkeManager m(peers, {&rng, &clock, &sink, send_fn});
//   m.start();                                   // connect_type auto peers initiate
//   m.receive(local, 500, remote, 500, bytes);   // per datagram from the punt path
//   m.tick();                                    // at m.next_deadline()
//   m.shutdown();                                // on stop: Deletes; receive/tick until shutdown_pending() == 0
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <queue>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "esprit/common/ike_config.hpp"
#include "esprit/control/ike/sa/ike_sa.hpp"

namespace esprit::ike {

// ---------------------------------------------------------------------------------------------
// Configuration: one peer as the manager runs it
// ---------------------------------------------------------------------------------------------

/// What the manager needs of one [[peer]] (with the policies or tunnel bound to it).
struct ManagedPeer {
  std::string name;
  std::optional<IpAddress> address;  ///< nullopt: any (responder only)
  IkeSettings sa;                    ///< settings of the IKE SA (local/remote address filled)
  NegotiationDirection direction = NegotiationDirection::kBoth;
  ConnectType connect = ConnectType::kTrigger;
  NattMode natt = NattMode::kOn;
  Duration child_lifetime{};   ///< hard; 0 = none
  Duration ike_lifetime{};     ///< hard; 0 = none
  Duration rekey_margin{};
  Duration rekey_jitter{};
  uint64_t child_bytes = 0;    ///< hard byte limit per Child SA direction; 0 = none
  uint64_t child_packets = 0;  ///< hard packet limit; 0 = none
  Duration dpd_interval{};     ///< 0 = off
  uint16_t natt_port = kDefaultIkeNattPort;
  Duration nat_keepalive{};    ///< RFC 3948 4 when we are behind a NAT; 0 = off
  /// Where this peer's Child SAs go (FastpathInstaller::sink(name)); nullptr: IkeManagerEnv::sink.
  ChildSaSink* sink = nullptr;
};

/// Converts the configuration model's effective settings of `peer` (resolve_ike_settings) into
/// what the IKE SA code takes: proposals through their strongSwan text, identities, PSK, the
/// retransmission schedule (waits after each transmission summed into times from the first one),
/// lifetimes, selectors. nullopt with `error` when a proposal does not convert.
[[nodiscard]] std::optional<ManagedPeer> make_managed_peer(const IkeConfig& ike, const IkePeer& peer,
                                                           const EffectiveIkeSettings& eff,
                                                           const IpAddress& local_addr,
                                                           std::vector<TrafficSelector> local_ts,
                                                           std::vector<TrafficSelector> remote_ts,
                                                           std::string* error = nullptr);

// ---------------------------------------------------------------------------------------------
// Statistics and snapshots
// ---------------------------------------------------------------------------------------------

/// Exchange counters (`show ikev2 statistics`), per exchange type as the NEC output lists them.
struct ExchangeStats {
  uint64_t send_request = 0, recv_response = 0, recv_request = 0, send_response = 0;
  uint64_t resend = 0, timeout = 0;
};
struct IkeStats {
  ExchangeStats init, auth, create_child, informational;
  uint64_t established = 0, failed = 0, deleted = 0, dpd_sent = 0, rekeys_ike = 0, rekeys_child = 0;
  uint64_t acquire = 0, acquire_limited = 0;
  uint64_t nat_keepalives = 0;
  /// Child SA packet/byte limits the fast path reported (events, or the poll after lost events):
  /// soft (rekeys started), hard (Child SAs stopped and deleted); lost: rings found full.
  uint64_t limit_soft = 0, limit_hard = 0, limit_lost = 0;
  uint64_t dropped = 0;  ///< datagrams that matched no SA or did not parse
  uint64_t initial_contact = 0;  ///< older IKE SAs dropped for an INITIAL_CONTACT (RFC 7296 2.4)
  std::map<std::string, uint64_t> failures;  ///< by notify name ("AUTHENTICATION_FAILED", "TIMEOUT")
  /// Now, not counters: the SAs in the table and about how much memory they hold.
  struct Memory {
    uint64_t ike_sas = 0;    ///< IKE SAs in the table (any state)
    uint64_t half_open = 0;  ///< of which not established yet
    uint64_t child_sas = 0;
    uint64_t bytes = 0;      ///< estimate: IkeSa::memory_estimate() + the manager's entry and indexes
  } memory;
  [[nodiscard]] ExchangeStats& of(ExchangeType t) noexcept;
};

struct ChildSnapshot {
  uint32_t spi_in = 0, spi_out = 0;
  std::string encr, integ;
  bool esn = false, transport = false, natt = false;
  int64_t remaining_s = -1;  ///< to the hard lifetime; -1 = none
  bool rekeyed = false;
  /// What it does now (child_status_text() for the operator): "active" (its outbound SA sends),
  /// "outbound_pending" (a rekey we answered: the Child SA it rekeys still sends until the peer
  /// uses this one or deletes the old one, switch_in_ms at the latest), "rekeying" (sends, its
  /// rekey under way), "rekeyed" (replaced: receives until deleted), "deleting" (our Delete under
  /// way), "inbound_only" (a rekey collision's redundant Child SA, until deleted).
  std::string status;
  int64_t switch_in_ms = -1;  ///< outbound_pending: time left before it sends anyway; else -1
  std::vector<TrafficSelector> local_ts, remote_ts;
  uint64_t in_packets = 0, in_octets = 0, in_errors = 0, out_packets = 0, out_octets = 0, out_errors = 0;
};

struct IkeSaSnapshot {
  std::string peer;
  uint64_t spi_i = 0, spi_r = 0;
  uint64_t serial = 0;
  int64_t remaining_s = -1;
  std::string direction;  ///< initiator / responder
  IpAddress local_addr, remote_addr;
  uint16_t local_port = 0, remote_port = 0;
  std::string local_id, remote_id;
  std::string status;  ///< connecting / authenticating / establish / deleting
  uint32_t local_mid = 0, peer_mid = 0;
  std::string encr, integ, prf, dh;
  bool pfs = false;
  uint32_t dpd_interval_s = 0;
  bool nat_local = false, nat_remote = false;
  std::vector<ChildSnapshot> children;
};

/// `show ikev2 sa` / `show ikev2 child-sa` / `show ikev2 statistics` in the NEC layout.
[[nodiscard]] std::string format_ike_sas(const std::vector<IkeSaSnapshot>& sas);
[[nodiscard]] std::string format_child_sas(const std::vector<IkeSaSnapshot>& sas);
[[nodiscard]] std::string format_statistics(const IkeStats& s);
[[nodiscard]] std::string ike_sas_json(const std::vector<IkeSaSnapshot>& sas);
[[nodiscard]] std::string statistics_json(const IkeStats& s);

// ---------------------------------------------------------------------------------------------
// The manager
// ---------------------------------------------------------------------------------------------

/// Packets/octets/errors of one SA of the fast path (the counters callback), and whether it crossed
/// its soft packet/byte limit or reached its hard one (the fast path's state, the truth when the
/// descriptors carry the limits; a source without it leaves them false and the counts decide).
struct ChildCounters {
  uint64_t packets = 0, octets = 0, errors = 0;
  bool soft = false, hard = false;
};

/// What the fast path reports about a Child SA direction's packet/byte limits.
enum class ChildLimitEvent : uint8_t {
  kSoft,  ///< crossed the soft limit: rekey
  kHard,  ///< reached the hard limit (or its sequence numbers ran out): the fast path stopped it
};

struct IkeManagerEnv {
  RandomSource* rng = nullptr;
  const Clock* clock = nullptr;
  ChildSaSink* sink = nullptr;
  /// A datagram to send: from (local, lport) to (remote, rport); `bytes` is the IKE message (the
  /// transport adds the non-ESP marker on port 4500).
  std::function<void(const IpAddress& local, uint16_t lport, const IpAddress& remote, uint16_t rport,
                     std::span<const uint8_t> bytes)>
      send;
  /// A NAT-keepalive (RFC 3948 2.3: the single byte 0xFF, no non-ESP marker) to send; empty: none.
  std::function<void(const IpAddress& local, uint16_t lport, const IpAddress& remote, uint16_t rport)> send_keepalive;
  /// The fast path's counters of one SA; empty: packet/byte limits and the snapshot counters are off.
  std::function<ChildCounters(uint32_t spi, SaDirection dir)> counters;
  /// An IKE SA became established: made by IKE_AUTH or by a rekey (CREATE_CHILD_SA), either role.
  /// Called once per IKE SA, after its keys are in place and before anything is sent on it (the
  /// daemon writes its keys to the Wireshark keys file); empty: none.
  std::function<void(const std::string& peer, const IkeSa& sa)> on_established;
  /// How often a Child SA's packet/byte counters are compared with child_lifetime_bytes/packets
  /// when the limits are not delivered as events (limit_events false).
  Duration limit_poll = std::chrono::seconds(1);
  /// The fast path delivers its packet/byte limit events (child_limit_event(), and
  /// child_limit_events_lost() when some were lost): no periodic poll, a poll only after a loss.
  bool limit_events = false;
  /// How often the inbound packet counter of a Child SA whose outbound switch is pending (a rekey we
  /// answered: ChildSa::outbound_pending) is read: its first packet says the peer has the new Child
  /// SA, and it starts sending (docs/ike.md "Child SA rekey"). Needs `counters`.
  Duration switch_poll = std::chrono::milliseconds(10);
  /// Minimum time between two acquires of one peer that start an exchange.
  Duration acquire_holdoff = std::chrono::seconds(1);
  /// Wait before re-establishing an auto peer whose IKE SA was lost.
  Duration reconnect_delay = std::chrono::seconds(1);
  std::size_t cookie_threshold = kDefaultCookieThreshold;
};

enum class InitiateResult : uint8_t { kStarted, kAlreadyUp, kUnknownPeer, kResponderOnly, kRateLimited, kShuttingDown };
[[nodiscard]] std::string_view to_string(InitiateResult r) noexcept;

class IkeManager {
 public:
  IkeManager(std::vector<ManagedPeer> peers, IkeManagerEnv env);
  ~IkeManager();
  IkeManager(const IkeManager&) = delete;
  IkeManager& operator=(const IkeManager&) = delete;

  /// Initiates every connect_type auto peer that may initiate.
  void start();
  /// A datagram from the peer (UDP payload, non-ESP marker removed).
  void receive(const IpAddress& local, uint16_t lport, const IpAddress& remote, uint16_t rport,
               std::span<const uint8_t> bytes);
  /// The timers that are due: retransmissions, lifetimes, DPD, re-establishment. O(due SAs).
  void tick();
  /// The earliest deadline of any SA or peer (nullopt: none); tick() before it does nothing. An
  /// exchange queued on an SA from outside the manager makes it due now.
  [[nodiscard]] std::optional<Duration> next_deadline() const noexcept;
  /// SAs whose deadline tick() handled since start (tests, benchmarks).
  [[nodiscard]] uint64_t timer_runs() const noexcept { return timer_runs_; }
  /// `espritctl initiate <peer>`.
  InitiateResult initiate(std::string_view peer);
  /// The fast path saw a packet for a PROTECT policy of `peer` without SA (connect type trigger).
  InitiateResult acquire(std::string_view peer);
  /// `espritctl clear ikev2 sa [peer]`: deletes the IKE SAs (of one peer, or all); returns how many.
  std::size_t clear(std::string_view peer = {});
  /// The fast path says a direction of the Child SA whose descriptors carry `cookie` (our inbound
  /// SPI) crossed its soft packet/byte limit (its rekey starts now: CREATE_CHILD_SA sent in this
  /// call unless a request is outstanding) or reached its hard limit (it is deleted now and, for
  /// connect_type auto, a new Child SA is requested at once; trigger waits for traffic). False when
  /// no Child SA has that cookie (gone already, or a static SA).
  bool child_limit_event(uint64_t cookie, ChildLimitEvent kind);
  /// Limit events may have been lost (the fast path's ring was full): every Child SA's counters
  /// are polled at the next tick (env counters; limits as in the poll).
  void child_limit_events_lost();

  /// The daemon stops (RFC 7296 1.4.1; strongSwan does the same on shutdown): an INFORMATIONAL
  /// Delete goes out on every established IKE SA (queued behind an exchange under way), half-open
  /// SAs are dropped at the next tick, and from now on no IKE SA starts (new IKE_SA_INIT requests
  /// are dropped and counted, initiate/acquire answer kShuttingDown, no re-establishment). The
  /// caller keeps receiving and ticking until shutdown_pending() is 0 or its own time limit.
  /// Returns the IKE SAs whose Delete is under way.
  std::size_t shutdown();
  /// IKE SAs not gone yet (their Delete unanswered, or half-open before the next tick).
  [[nodiscard]] std::size_t shutdown_pending() const noexcept { return sas_.size() - dead_.size(); }
  [[nodiscard]] bool shutting_down() const noexcept { return shutting_down_; }

  [[nodiscard]] std::vector<IkeSaSnapshot> snapshot() const;
  [[nodiscard]] const IkeStats& statistics() const noexcept { return global_; }
  /// Per peer (memory: its SAs); nullptr if unknown.
  [[nodiscard]] const IkeStats* statistics(std::string_view peer) const noexcept;
  [[nodiscard]] std::size_t sa_count() const noexcept { return sas_.size(); }
  /// The established IKE SA of a peer (the newest), or nullptr.
  [[nodiscard]] const IkeSa* established(std::string_view peer) const noexcept;

 private:
  struct ChildTimers {
    Duration installed{};
    Duration soft{};  ///< rekey at
    Duration hard{};
    bool rekey_asked = false;  ///< we queued its rekey (it may not have started yet)
  };
  static constexpr Duration kNever = Duration::max();
  struct Entry {
    std::unique_ptr<IkeSa> sa;
    std::size_t peer = 0;
    uint64_t serial = 0;
    IpAddress local;
    uint16_t lport = 0;
    IpAddress remote;
    uint16_t rport = 0;
    Duration created{}, established_at{}, last_rx{}, last_tx{};
    Duration ike_soft{}, ike_hard{};
    bool was_established = false;
    bool floated = false;
    bool rekey_started = false;
    bool hard_deleting = false;
    Duration destroy_at{};  ///< clear() of an SA not yet established: dropped at the next tick
    // responder half-open demux
    std::string init_index;  ///< its key in by_init_ (empty: none)
    std::map<uint32_t, ChildTimers> children;  ///< by our inbound SPI
    IkeSaCounters last_counters{};
    bool have_last_request = false;
    uint32_t last_request_mid = 0;
    ExchangeType last_request_exchange = ExchangeType::kInformational;
    // scheduling and bookkeeping
    Duration due = kNever;      ///< its key in timers_ (kNever: not there)
    Duration last_poll{};       ///< Child SA counters last compared with the byte/packet limits
    Duration switch_poll_at{};  ///< next read of the inbound counters of Child SAs whose switch waits
    bool poll_now = false;      ///< limit events were lost: poll at the next tick
    uint64_t tick_seen = 0;     ///< the tick() that last ran it (each SA at most once per tick)
    uint64_t indexed_spi = 0;   ///< its key in by_spi_ (0: none)
    std::string id_key;         ///< its key in by_id_ (empty: none)
    bool dead = false;          ///< in dead_, reaped soon
    bool counted_established = false;  ///< in the memory statistics as established
    std::size_t mem = 0;        ///< bytes counted in the memory statistics
    std::size_t child_count = 0;
  };
  struct Due {
    Duration at;
    uint64_t serial;
    bool operator>(const Due& o) const noexcept { return at != o.at ? at > o.at : serial > o.serial; }
  };
  struct PeerState {
    ManagedPeer cfg;
    IkeStats stats;
    Duration last_acquire{};
    bool acquired_once = false;
    Duration reconnect_at{};  ///< 0: none pending
    std::map<uint64_t, Entry*> entries;  ///< its SAs in sas_, by serial
  };

  [[nodiscard]] Duration now() const noexcept { return env_.clock->now(); }
  [[nodiscard]] Duration jitter(Duration max) noexcept;
  Entry& start_initiator(std::size_t peer);
  std::optional<std::size_t> match_peer(const IpAddress& remote) const noexcept;
  void after_activity(Entry& e);
  void flush(Entry& e);
  void count_datagram(Entry& e, std::span<const uint8_t> bytes, bool sent);
  void update_children(Entry& e);
  void maybe_float(Entry& e);
  void follow_mapping(Entry& e, const IpAddress& remote, uint16_t rport);
  void reap();
  void run_timers(Entry& e, Duration t);
  [[nodiscard]] Duration next_due(const Entry& e) const noexcept;
  void schedule(Entry& e);
  void note_dead(Entry& e);
  void account(Entry& e, bool gone = false);
  void initial_contact(Entry& e);
  /// A Child SA (by our inbound SPI) reached its soft or hard packet/byte limit.
  void child_limit(Entry& e, uint32_t spi_in, bool soft, bool hard);
  /// Where the Child SA with this inbound SPI is (child_owner_, checked), or nullptr.
  Entry* child_entry(uint32_t spi_in);
  [[nodiscard]] bool volume_limits(const ManagedPeer& cfg) const noexcept {
    return env_.counters && (cfg.child_bytes || cfg.child_packets);
  }
  Entry& add(std::unique_ptr<Entry> e);
  /// Marks the manager busy for the duration of a public call (SAs queued outside one are kicked_).
  struct Busy {
    explicit Busy(int& d) : depth(d) { ++depth; }
    ~Busy() { --depth; }
    int& depth;
  };
  void count_failure(std::size_t peer, std::string name);
  [[nodiscard]] bool has_sa(std::size_t peer) const noexcept;
  [[nodiscard]] ChildSaSink* sink_of(std::size_t peer) const noexcept {
    return peers_[peer].cfg.sink ? peers_[peer].cfg.sink : env_.sink;
  }
  [[nodiscard]] uint64_t our_spi(const IkeSa& sa) const noexcept {
    return sa.role() == IkeRole::kInitiator ? sa.spi_i() : sa.spi_r();
  }

  std::vector<PeerState> peers_;
  IkeManagerEnv env_;
  std::unique_ptr<ResponderContext> responder_;
  std::map<uint64_t, std::unique_ptr<Entry>> sas_;  ///< by serial: creation order
  std::priority_queue<Due, std::vector<Due>, std::greater<Due>> timers_;  ///< stale items skipped
  std::vector<Entry*> dead_;  ///< destroyed, to reap
  /// Established SAs by (peer, our ID, their ID): INITIAL_CONTACT's "same identities".
  std::unordered_map<std::string, std::vector<Entry*>> by_id_;
  uint64_t tick_no_ = 0, timer_runs_ = 0;
  int busy_ = 0;
  bool shutting_down_ = false;
  std::vector<uint64_t> kicked_;  ///< serials of SAs given an exchange from outside (run next tick)
  std::unordered_map<uint64_t, Entry*> by_spi_;  ///< our SPI -> SA (every SA whose SPI is known)
  /// Responder half-open demux: (peer address, port, SPIi, Ni) -> the SA its IKE_SA_INIT made.
  std::unordered_map<std::string, Entry*> by_init_;
  /// Child SAs' inbound SPIs -> the serial of the IKE SA that has them (lifetime events).
  std::unordered_map<uint32_t, uint64_t> child_owner_;
  static std::string init_key(const IpAddress& remote, uint16_t rport, uint64_t spi_i, std::span<const uint8_t> nonce);
  void index(Entry& e);
  uint64_t next_serial_ = 1;
  IkeStats global_;
};

}  // namespace esprit::ike
