// One IKEv2 SA (RFC 7296): state, SPIs, role, keys, message IDs with window 1, request
// retransmission, the cached last response, a task queue, and its Child SAs. Datagrams go out
// through outbox(); time comes from an injectable Clock. Runs on the control core; may allocate.
//
//   IkeSa sa(IkeRole::kInitiator, settings, env);   sa.initiate();
//   peer.receive(sa.outbox().back()); ...            sa.tick();   // retransmissions, give-up
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

#include "esprit/common/secret.hpp"
#include "esprit/control/ike/crypto/cookie.hpp"
#include "esprit/control/ike/crypto/dh.hpp"
#include "esprit/control/ike/crypto/kdf.hpp"
#include "esprit/control/ike/crypto/random.hpp"
#include "esprit/control/ike/crypto/sk_cipher.hpp"
#include "esprit/control/ike/message.hpp"
#include "esprit/control/ike/sa/child_sa_sink.hpp"
#include "esprit/control/ike/sa/settings.hpp"
#include "esprit/control/ike/sa/task.hpp"

namespace esprit::ike {

/// Monotonic time, injectable (tests drive a fake clock).
class Clock {
 public:
  virtual ~Clock() = default;
  [[nodiscard]] virtual Duration now() const noexcept = 0;
};
class SteadyClock final : public Clock {
 public:
  [[nodiscard]] Duration now() const noexcept override {
    return std::chrono::steady_clock::now().time_since_epoch();
  }
};

/// The one table of IKE SA events: enumerator, counter name, description.
#define ESPRIT_IKE_SA_EVENTS(X)                                                                   \
  X(kEstablished, "ike_sa_established", "IKE SA established (IKE_AUTH done)")                     \
  X(kChildInstalled, "child_sa_installed", "Child SA installed (both directions)")                \
  X(kChildDeleted, "child_sa_deleted", "Child SA deleted")                                        \
  X(kRetransmit, "request_retransmitted", "request resent after a timeout")                       \
  X(kGiveUp, "request_timeout", "no response after the retransmission schedule: SA destroyed")    \
  X(kDuplicateRequest, "duplicate_request", "retransmitted request answered from the cache")      \
  X(kDropped, "message_dropped", "message dropped (parse error, bad ICV, unexpected ID or SPI)")   \
  X(kNoProposalChosen, "no_proposal_chosen", "NO_PROPOSAL_CHOSEN sent or received")               \
  X(kInvalidKe, "invalid_ke_payload", "INVALID_KE_PAYLOAD sent or received")                      \
  X(kCookie, "cookie", "COOKIE demanded or received")                                             \
  X(kAuthFailed, "authentication_failed", "AUTHENTICATION_FAILED sent or received")               \
  X(kTsUnacceptable, "ts_unacceptable", "TS_UNACCEPTABLE sent or received")                       \
  X(kInvalidSyntax, "invalid_syntax", "INVALID_SYNTAX sent or received")                          \
  X(kOtherError, "other_error_notify", "another error notify (TEMPORARY_FAILURE, CHILD_SA_NOT_FOUND, ...)") \
  X(kDeleted, "ike_sa_deleted", "IKE SA deleted (INFORMATIONAL with D, either side)")             \
  X(kDpd, "dpd_sent", "liveness check (empty INFORMATIONAL) sent")

enum class IkeSaEvent : uint8_t {
#define ESPRIT_X(e, n, d) e,
  ESPRIT_IKE_SA_EVENTS(ESPRIT_X)
#undef ESPRIT_X
      kCount
};
[[nodiscard]] std::string_view counter_name(IkeSaEvent e) noexcept;

struct IkeSaCounters {
  std::array<uint64_t, static_cast<std::size_t>(IkeSaEvent::kCount)> value{};
  void count(IkeSaEvent e) noexcept { ++value[static_cast<std::size_t>(e)]; }
  [[nodiscard]] uint64_t operator[](IkeSaEvent e) const noexcept { return value[static_cast<std::size_t>(e)]; }
};

/// Shared by the IKE SAs of one responder: cookie secret and the half-open count (RFC 7296 2.6).
struct ResponderContext {
  explicit ResponderContext(RandomSource& rng) : cookies(rng) { (void)cookies.rotate(); }
  CookieGenerator cookies;
  std::size_t half_open = 0;
};

/// What an IKE SA needs from outside: randomness, time, the Child SA sink, the responder context.
struct IkeSaEnv {
  RandomSource* rng = nullptr;
  const Clock* clock = nullptr;
  ChildSaSink* sink = nullptr;
  ResponderContext* responder = nullptr;  ///< responders only; nullptr: never demand cookies
};

enum class IkeRole : uint8_t { kInitiator, kResponder };

enum class IkeState : uint8_t {
  kCreated,     ///< nothing sent or received
  kConnecting,  ///< IKE_SA_INIT in progress
  kAuthenticating,
  kEstablished,
  kDeleting,
  kDestroyed,   ///< final: failed, timed out or deleted
};
[[nodiscard]] std::string_view to_string(IkeState s) noexcept;

/// One negotiated Child SA (both directions).
struct ChildSa {
  uint32_t spi_in = 0;   ///< ours (the peer sends with it)
  uint32_t spi_out = 0;  ///< the peer's
  ProtocolId protocol = ProtocolId::kEsp;
  EncrAlg encr = EncrAlg::kAesGcm16_128;
  IntegAlg integ = IntegAlg::kNone;
  bool esn = false;
  bool transport = false;
  bool tfc_padding_ok = true;  ///< false: the peer sent ESP_TFC_PADDING_NOT_SUPPORTED
  ChildSelectors ts;
  bool rekeyed = false;          ///< a rekey of it completed or is under way
  bool outbound_active = false;  ///< its outbound SA is the one the selectors use
  bool deleting = false;         ///< our Delete of it is under way (RFC 7296 2.25)
  /// Its outbound SA is in the sink (installed and not replaced by another Child SA's since).
  bool outbound_installed = false;
  /// We answered the peer's rekey that made it and have not installed its outbound SA yet: the
  /// Child SA it rekeys still sends (docs/ike.md "Child SA rekey"; the peer can use the new SA only
  /// once it has read our answer). It takes over when the peer shows it has the new SA (a packet on
  /// our new inbound SA: IkeManager polls the counters and calls switch_outbound), when the old
  /// Child SA goes (the peer's Delete, our Delete, its hard limit: hand_off_outbound), or at
  /// `outbound_switch_at` at the latest (tick()).
  bool outbound_pending = false;
  Duration outbound_switch_at{};
  /// A peer's rekey of this Child SA answered while ours was outstanding (RFC 7296 2.8.1): the
  /// Child SA it made (our inbound SPI) and the lowest nonce of that exchange.
  uint32_t peer_rekey_spi = 0;
  std::vector<uint8_t> peer_rekey_min_nonce;
  SaDescriptor inbound;
  SaDescriptor outbound;
};

/// Results of IKE_SA_INIT.
struct IkeSaInitResult {
  IkeSaTransforms transforms;
  uint16_t dh_group = 0;
  bool nat_local = false;   ///< we are behind a NAT (the peer saw another address/port of ours)
  bool nat_remote = false;  ///< the peer is behind a NAT
  bool fragmentation = false;  ///< both sent IKEV2_FRAGMENTATION_SUPPORTED (RFC 7383 2.3)
};

/// RFC 7383 reassembly bounds: a message in more fragments, or larger once decrypted, is dropped.
inline constexpr std::size_t kMaxIkeFragments = 64;
inline constexpr std::size_t kMaxReassembledBytes = 64 * 1024;

class IkeSa {
 public:
  IkeSa(IkeRole role, IkeSettings settings, IkeSaEnv env);
  ~IkeSa();
  IkeSa(const IkeSa&) = delete;
  IkeSa& operator=(const IkeSa&) = delete;

  /// Initiator: starts IKE_SA_INIT then IKE_AUTH with the first Child SA.
  void initiate();
  /// Queues an exchange (run when no request is outstanding).
  void queue(std::unique_ptr<Task> task);
  /// Called after every queue() (dpd(), delete_ike_sa(), rekey_child(), ...): lets the owner, whose
  /// timers only visit SAs with a deadline, see an exchange started from outside its own calls.
  void set_queue_hook(std::function<void()> hook) { queue_hook_ = std::move(hook); }
  void dpd();              ///< queue an empty INFORMATIONAL
  void delete_ike_sa();    ///< queue an INFORMATIONAL with Delete(IKE)
  void delete_child(uint32_t spi_in);
  /// Queue a CREATE_CHILD_SA for a new Child SA with the settings' selectors (PFS when the ESP
  /// proposals carry a DH group).
  void create_child();
  /// Queue a rekey of the Child SA with this inbound SPI (RFC 7296 2.8): new SA installed, then the
  /// old one deleted.
  void rekey_child(uint32_t spi_in);
  /// Queue a rekey of this IKE SA (RFC 7296 2.18). When it completes, take_successor() gives the new
  /// IKE SA (it owns the Child SAs) and this one deletes itself.
  void rekey_ike_sa();
  /// The IKE SAs a rekey made, survivor first: usually one. After a simultaneous rekey (RFC 7296
  /// 2.8.2) a second call gives the redundant new IKE SA (no Child SAs), which is being deleted
  /// (by us, or by the peer that made it) and must stay reachable until then. nullptr: none left.
  [[nodiscard]] std::unique_ptr<IkeSa> take_successor() noexcept {
    if (successors_.empty()) return nullptr;
    auto s = std::move(successors_.front());
    successors_.pop_front();
    return s;
  }

  /// A datagram from the peer (UDP payload without the non-ESP marker).
  void receive(std::span<const uint8_t> datagram);
  /// Retransmits or gives up on the outstanding request; runs queued tasks.
  void tick();

  /// Datagrams to send, oldest first; the owner clears it after sending.
  [[nodiscard]] std::vector<std::vector<uint8_t>>& outbox() noexcept { return outbox_; }

  [[nodiscard]] IkeRole role() const noexcept { return role_; }
  [[nodiscard]] IkeState state() const noexcept { return state_; }
  [[nodiscard]] uint64_t spi_i() const noexcept { return spi_i_; }
  [[nodiscard]] uint64_t spi_r() const noexcept { return spi_r_; }
  [[nodiscard]] const IkeSaKeys& keys() const noexcept { return keys_; }
  [[nodiscard]] const IkeSaInitResult& init_result() const noexcept { return init_; }
  [[nodiscard]] const std::vector<ChildSa>& child_sas() const noexcept { return children_; }
  [[nodiscard]] const IkeSaCounters& counters() const noexcept { return counters_; }
  [[nodiscard]] const IkeSettings& settings() const noexcept { return settings_; }
  /// The error notify that ended the SA or the last failed exchange (0 if none).
  [[nodiscard]] NotifyType last_error() const noexcept { return last_error_; }
  [[nodiscard]] uint32_t next_request_id() const noexcept { return next_mid_; }
  /// The message ID the next request from the peer must carry.
  [[nodiscard]] uint32_t peer_request_id() const noexcept { return expected_peer_mid_; }
  /// The owner moved the SA (NAT-T float to 4500, or the peer's NAT mapping changed): later
  /// messages and Child SA descriptors use these ports and this peer address.
  void set_endpoints(uint16_t local_port, const IpAddress& remote, uint16_t remote_port) noexcept {
    settings_.local_port = local_port;
    settings_.remote_addr = remote;
    settings_.remote_port = remote_port;
  }
  [[nodiscard]] bool request_outstanding() const noexcept { return current_ != nullptr; }
  /// When tick() has something to do: the next resend or the give-up of the outstanding request,
  /// or now if a queued exchange may start. nullopt: nothing until a message arrives or the owner
  /// queues an exchange. (The owner's timer wheel keys on it instead of ticking every SA.)
  [[nodiscard]] std::optional<Duration> next_timer() const noexcept;
  /// The peer's authenticated identity (nullopt before IKE_AUTH completes) and whether its IKE_AUTH
  /// carried INITIAL_CONTACT (RFC 7296 2.4).
  [[nodiscard]] const std::optional<Identity>& peer_id() const noexcept { return peer_id_; }
  [[nodiscard]] bool peer_initial_contact() const noexcept { return peer_initial_contact_; }
  void set_peer_id(Identity id, bool initial_contact) {
    peer_id_ = std::move(id);
    peer_initial_contact_ = initial_contact;
  }
  /// Frees what only IKE_SA_INIT and IKE_AUTH needed (the IKE_SA_INIT messages, the DH key, the
  /// cookie); the owner calls it once the SA is established. The nonces stay.
  void release_exchange() noexcept {
    ex_.init_request = {};
    ex_.init_response = {};
    ex_.cookie = {};
    ex_.dh.reset();
  }
  /// About how many bytes this SA holds (the object, its buffers, keys, cipher contexts and Child
  /// SAs), for `show ikev2 statistics`. An estimate: capacities, plus fixed sizes for OpenSSL state.
  [[nodiscard]] std::size_t memory_estimate() const noexcept;

  // ---- for tasks ----
  struct Exchange {
    std::vector<uint8_t> init_request;   ///< IKE_SA_INIT request bytes (AUTH's RealMessage1)
    std::vector<uint8_t> init_response;  ///< RealMessage2
    std::vector<uint8_t> ni, nr;
    std::unique_ptr<DhGroup> dh;
    std::vector<uint8_t> cookie;
  };
  [[nodiscard]] Exchange& ex() noexcept { return ex_; }
  [[nodiscard]] RandomSource& rng() noexcept { return *env_.rng; }
  [[nodiscard]] ChildSaSink& sink() noexcept { return *env_.sink; }
  [[nodiscard]] ResponderContext* responder_context() noexcept { return env_.responder; }
  [[nodiscard]] IkeSaInitResult& init_result_mut() noexcept { return init_; }
  [[nodiscard]] std::vector<ChildSa>& children() noexcept { return children_; }
  void count(IkeSaEvent e) noexcept { counters_.count(e); }
  void set_error(NotifyType n) noexcept { last_error_ = n; }
  void set_state(IkeState s) noexcept;
  void set_spi_i(uint64_t s) noexcept { spi_i_ = s; }
  void set_spi_r(uint64_t s) noexcept { spi_r_ = s; }
  /// Installs SK_* from g^ir (IKE_SA_INIT done). False if the crypto failed.
  [[nodiscard]] bool derive_keys(const SecretBytes& g_ir);
  /// Installs given keys (an IKE SA made by a rekey). False if the crypto failed.
  [[nodiscard]] bool install_keys(IkeSaKeys keys);
  /// A rekey's new IKE SA: established, message IDs from 0, owning these Child SAs.
  void adopt_established(std::vector<ChildSa> children) {
    children_ = std::move(children);
    state_ = IkeState::kEstablished;
  }
  /// Hands a new IKE SA made by a rekey to the owner (take_successor()); this SA is rekeyed from now on.
  void set_successor(std::unique_ptr<IkeSa> s) {
    successors_.push_back(std::move(s));
    rekeyed_ = true;
  }
  /// Our IKE SA rekey is outstanding, or this SA was rekeyed (by either side).
  [[nodiscard]] bool ike_rekey_under_way() const noexcept { return rekeyed_ || ike_rekey_outstanding(); }
  /// A rekey of this IKE SA completed (either side's): it only waits to be deleted.
  [[nodiscard]] bool rekeyed() const noexcept { return rekeyed_; }
  [[nodiscard]] bool ike_rekey_outstanding() const noexcept { return current_ && current_->name() == "ike_rekey"; }
  /// A CREATE_CHILD_SA of ours for a Child SA (new or rekey) is outstanding.
  [[nodiscard]] bool child_exchange_outstanding() const noexcept {
    return current_ && current_->exchange() == ExchangeType::kCreateChildSa && !ike_rekey_outstanding();
  }
  /// Simultaneous IKE SA rekey (RFC 7296 2.8.2): the new IKE SA made by answering the peer's rekey
  /// while ours was outstanding, kept aside (without the Child SAs) with the lowest nonce of that
  /// exchange until ours completes and the tie-break says which one survives.
  void set_peer_rekey(std::unique_ptr<IkeSa> next, std::vector<uint8_t> min_nonce) {
    peer_rekey_ = std::move(next);
    peer_rekey_min_nonce_ = std::move(min_nonce);
  }
  [[nodiscard]] bool peer_rekey_pending() const noexcept { return peer_rekey_ != nullptr; }
  [[nodiscard]] const std::vector<uint8_t>& peer_rekey_min_nonce() const noexcept { return peer_rekey_min_nonce_; }
  [[nodiscard]] std::unique_ptr<IkeSa> take_peer_rekey() noexcept {
    peer_rekey_min_nonce_.clear();
    return std::move(peer_rekey_);
  }
  /// Moves the Child SAs to `next` and hands it over as the successor (survivor of a rekey), with
  /// the Child SA exchanges queued here (they run there at its next tick).
  void hand_over(std::unique_ptr<IkeSa> next);
  [[nodiscard]] IkeSaEnv env() const noexcept { return env_; }
  /// Child SAs by our inbound SPI; nullptr if unknown.
  [[nodiscard]] ChildSa* find_child(uint32_t spi, bool peer_spi) noexcept;
  /// The Child SA's descriptors and the sink calls (inbound first). `replaces_spi`: the outbound SPI
  /// of the Child SA this one rekeys (0 for a new one).
  /// `exchange_initiator`: we initiated the exchange that created it (IKE_AUTH: our IKE role; a
  /// CREATE_CHILD_SA either side may start). RFC 7296 2.17 takes the keys of that exchange's
  /// initiator->responder direction first, whoever initiated the IKE SA.
  void install_child(ChildSa child, const ChildSaKeys& keys, uint32_t replaces_spi, bool exchange_initiator);
  /// A random inbound ESP SPI that the sink does not use yet (ChildSaSink::inbound_spi_in_use);
  /// 0 if the RNG failed or eight draws in a row were taken.
  [[nodiscard]] uint32_t new_inbound_spi() noexcept;
  /// Removes a Child SA found by our inbound SPI or the peer's; false if unknown. If it was the one
  /// sending for its selectors, another Child SA for them takes over first (hand_off_outbound).
  bool remove_child_by_spi(uint32_t spi, bool peer_spi);
  /// The Child SA with this inbound SPI, whose outbound switch is pending, starts sending now (its
  /// outbound SA replaces the one in use for its selectors). False if none such is pending.
  bool switch_outbound(uint32_t spi_in);
  /// The Child SA with this inbound SPI must stop sending (it is being deleted, or reached its hard
  /// limit): if it is the one sending for its selectors, another Child SA for them takes over now,
  /// the one whose switch is pending first, else the newest. False if none took over.
  bool hand_off_outbound(uint32_t spi_in);
  /// Child SAs whose outbound switch is pending (ChildSa::outbound_pending).
  [[nodiscard]] bool outbound_switch_pending() const noexcept;
  /// The IKE_SA_INIT request seen by the responder came from this address (for cookies).
  [[nodiscard]] const IpAddress& remote_addr() const noexcept { return settings_.remote_addr; }

 private:
  void run_next();
  void send_request(Task& task);
  void send_response(const Header& req, const std::vector<Payload>& payloads);
  /// The message as datagrams: one, or its RFC 7383 fragments. Empty if sealing failed.
  std::vector<std::vector<uint8_t>> encode(Header h, const std::vector<Payload>& payloads);
  std::vector<std::vector<uint8_t>> fragment(const Header& h, PayloadType first, std::span<const uint8_t> inner);
  void handle_request(const Message& m, std::span<const uint8_t> datagram);
  void handle_response(const Message& m, std::span<const uint8_t> datagram);
  enum class Opened : uint8_t { kOk, kRejected, kMalformed, kIncomplete };
  /// kRejected: no keys or the ICV failed (drop); kMalformed: authenticated, inner chain bad;
  /// kIncomplete: an authenticated fragment was kept, the message is not complete yet (RFC 7383).
  Opened open(const Message& m, std::span<const uint8_t> datagram, std::vector<Payload>& inner);
  void finish_task(TaskStatus st);
  void destroy();
  /// Installs c's outbound SA in place of the one sending for its selectors (if any).
  void activate_outbound(ChildSa& c);

  IkeRole role_;
  IkeSettings settings_;
  IkeSaEnv env_;
  IkeState state_ = IkeState::kCreated;
  bool half_open_counted_ = false;
  uint64_t spi_i_ = 0, spi_r_ = 0;
  IkeSaKeys keys_;
  IkeSaInitResult init_;
  std::unique_ptr<SkCipher> sk_out_, sk_in_;
  Exchange ex_;
  std::vector<ChildSa> children_;
  IkeSaCounters counters_;
  NotifyType last_error_ = static_cast<NotifyType>(0);

  // requests we send (window 1)
  std::deque<std::unique_ptr<Task>> queue_;
  std::unique_ptr<Task> current_;
  uint32_t next_mid_ = 0;
  std::vector<std::vector<uint8_t>> last_request_;  ///< its datagrams (several: fragments)
  Duration first_sent_{};
  std::size_t resends_ = 0;
  // requests we answer
  uint32_t expected_peer_mid_ = 0;
  std::vector<std::vector<uint8_t>> last_response_;
  bool have_response_ = false;
  /// RFC 7383 reassembly, one message at a time per direction ([0] requests, [1] responses).
  struct Reassembly {
    bool active = false;
    uint32_t message_id = 0;
    uint16_t total = 0;
    PayloadType first = PayloadType::kNone;
    std::vector<std::vector<uint8_t>> parts;  ///< decrypted plaintext of each fragment
    std::vector<bool> have;
    std::size_t received = 0;
    std::size_t bytes = 0;
  };
  Reassembly reassembly_[2];

  std::deque<std::unique_ptr<IkeSa>> successors_;
  bool rekeyed_ = false;
  std::unique_ptr<IkeSa> peer_rekey_;
  std::vector<uint8_t> peer_rekey_min_nonce_;
  std::vector<std::vector<uint8_t>> outbox_;
  std::optional<Identity> peer_id_;
  bool peer_initial_contact_ = false;
  std::function<void()> queue_hook_;
};

}  // namespace esprit::ike
