// Security Policy Database (RFC 4301 4.4.1) for the fast path: one table per direction, IPv4 and
// IPv6 rules together, built with rte_acl on the control core and published to workers under RCU.
//
// A table is immutable once built. Its rules are the caller's rules of one direction, in the caller's
// order; the first rule that matches a packet wins. A rule matches on source and destination prefix,
// the next-layer protocol (0 = any) and, for TCP, UDP and SCTP, source and destination port ranges.
// Traffic that matches no rule gets the table's default action (Cisco-like: bypass; secure: discard).
// A rule with a port range and a protocol other than TCP, UDP or SCTP (including "any") is a build
// error, not a rule whose ports are ignored: ignoring them would widen the rule.
//
// What a worker hands in: a pointer to an IPv4 or IPv6 header and the bytes available from there
// (v4 and v6 may be mixed in one burst). Outbound, that is the cleartext packet from the protected
// side; inbound, the INNER packet after decapsulation (RFC 4301 5.2). The classifier never reads
// past min(available bytes, the header's own total / payload length), and:
//   - IPv4 options are skipped using IHL.
//   - IPv6 Hop-by-Hop (0, first only), Routing (43) and Destination Options (60) headers are
//     walked, and a Fragment header (44) stepped over, at most kSpdMaxExtHeaders of them; the walk
//     stops at ESP, AH and any other Next Header (ipv6_upper_layer() in ip_checks.hpp).
//   - The first fragment (offset 0) of a fragmented packet is classified like a whole packet.
//     A non-first fragment has no ports: its ports are "opaque" (RFC 4301 4.4.1.1, OPAQUE) and its
//     protocol is the IPv4 protocol field or the Fragment header's Next Header.
//   - A packet too short for its ports is classified with the fields it has: ports opaque.
//   - An IPv6 extension-header chain that cannot be finished (a header past the packet's end,
//     Hop-by-Hop not first, more than kSpdMaxExtHeaders headers) is malformed: kInvalid, DISCARD.
//   - A packet with opaque ports matches only rules whose port ranges are both "any": a rule such as
//     "tcp dport 0-1023" never catches a fragment whose ports nobody has seen.
//   - Not a usable IP header (version not 4/6, shorter than 20/40 bytes, IHL < 5, IHL beyond the
//     packet or beyond its total length): SpdMatch::kInvalid, action DISCARD, whatever the default.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <vector>

#include "esprit/common/policy.hpp"
#include "esprit/fastpath/ip_checks.hpp"

struct rte_acl_ctx;
struct rte_mbuf;

namespace esprit {

class Rcu;

/// Extension headers (0, 43, 60, 44) walked; a longer chain is malformed (kInvalid).
inline constexpr uint32_t kSpdMaxExtHeaders = kMaxIpv6ExtHeaders;
/// Packets handed to one rte_acl_classify() call; longer bursts are cut into chunks of this size.
inline constexpr uint32_t kSpdBatch = 64;

/// The decision for one packet.
struct SpdMatch {
  static constexpr uint32_t kNoRule = UINT32_MAX;       ///< no rule matched: the default action
  static constexpr uint32_t kInvalid = UINT32_MAX - 1;  ///< not an IP header: DISCARD
  uint32_t rule;      ///< index into SpdTable::rules(), or kNoRule / kInvalid
  uint32_t sa_index;  ///< the rule's sa_index (PROTECT), else 0
  PolicyAction action;
  friend bool operator==(const SpdMatch&, const SpdMatch&) = default;
};

/// One packet to classify: its L3 header and the contiguous bytes available from there.
struct SpdPacket {
  const uint8_t* l3;
  uint32_t len;
};

/// One direction's policies, immutable once built. Built and destroyed on the control core;
/// classify() may run on any number of workers at once.
class SpdTable {
 public:
  struct Options {
    PolicyDirection direction = PolicyDirection::kOutbound;
    /// For traffic no rule matches: kBypass or kDiscard (kProtect is rejected: no SA to use).
    PolicyAction default_action = PolicyAction::kDiscard;
    /// Per-worker hit-counter blocks: classify(..., worker) counts for worker < workers.
    uint32_t workers = 1;
    int socket_id = -1;  ///< SOCKET_ID_ANY; NUMA node for the rte_acl tries
    /// rte_acl's max_size: 0 = no limit (rte_acl then builds its smallest tries); with a limit it
    /// starts from larger, faster tries and shrinks them until they fit.
    std::size_t max_acl_bytes = 0;
    /// Up to this many IPv4 rules, classify() compares a packet with the rules in order instead of
    /// walking the rte_acl trie (a handful of site-to-site policies: a few compares beat the
    /// trie's memory walk). Same decisions either way; 0 = always rte_acl.
    uint32_t linear_max = 8;
  };

  /// Keeps the rules of `opt.direction` from `rules` (in order) and builds the tries. nullptr and a
  /// message naming the rule (its name and position in `rules`) or the rte_acl failure on error.
  static std::unique_ptr<SpdTable> build(std::span<const PolicyRule> rules, const Options& opt,
                                         std::string* error);
  ~SpdTable();
  SpdTable(const SpdTable&) = delete;
  SpdTable& operator=(const SpdTable&) = delete;

  /// Never counts.
  static constexpr uint32_t kUncounted = UINT32_MAX;

  /// out[i] is the decision for pkts[i]; `out` has room for pkts.size() entries. With a worker id,
  /// the hit counter of the chosen rule (or of the default / invalid slot) of that worker is
  /// incremented. No allocation, no locks; any burst size.
  void classify(std::span<const SpdPacket> pkts, SpdMatch* out, uint32_t worker = kUncounted) const noexcept;
  /// The same for mbufs whose data starts at the L3 header (the ESP engine's packet contract);
  /// headers are read from the first segment.
  void classify(std::span<rte_mbuf* const> pkts, SpdMatch* out, uint32_t worker = kUncounted) const noexcept;

  [[nodiscard]] PolicyDirection direction() const noexcept { return direction_; }
  [[nodiscard]] PolicyAction default_action() const noexcept { return matches_[0].action; }
  /// The rules kept, in order: SpdMatch::rule indexes this.
  [[nodiscard]] std::span<const PolicyRule> rules() const noexcept { return rules_; }
  /// Position in build()'s `rules` argument of rules()[i].
  [[nodiscard]] uint32_t source_index(uint32_t i) const noexcept { return source_index_[i]; }
  [[nodiscard]] uint32_t workers() const noexcept { return workers_; }
  /// Unique per build() in this process (from 1). Tells a rebuilt table from the one it replaced
  /// even when the allocator put it at the freed table's address, which a pointer compare cannot.
  [[nodiscard]] uint64_t serial() const noexcept { return serial_; }

  /// Control side: sums over workers (each value may be one burst old). Counters live and die with
  /// the table; fold them by rule name before dropping a retired table to keep totals over reloads.
  [[nodiscard]] uint64_t hits(uint32_t rule) const noexcept;
  [[nodiscard]] uint64_t default_hits() const noexcept;
  [[nodiscard]] uint64_t invalid_hits() const noexcept;

 private:
  SpdTable() = default;
  void classify_chunk(const SpdPacket* pkts, uint32_t n, SpdMatch* out, uint64_t* counters) const noexcept;
  [[nodiscard]] uint64_t sum_slot(uint32_t slot) const noexcept;

  /// An IPv4 rule for the in-order comparison (Options::linear_max): addresses and masks as they
  /// lie in memory (network order), ports in host order, the result slot (rule index + 1).
  struct Linear4 {
    uint32_t src, src_mask, dst, dst_mask;
    uint16_t sport_lo, sport_hi, dport_lo, dport_hi;
    uint8_t proto;  ///< 0: any
    bool ports;     ///< has a port range: opaque ports never match
    uint32_t slot;
  };
  std::vector<Linear4> linear4_;
  bool use_linear4_ = false;
  rte_acl_ctx* acl4_ = nullptr;  ///< nullptr when no IPv4 rule: every IPv4 packet gets the default
  rte_acl_ctx* acl6_ = nullptr;
  /// matches_[0] = the default decision, matches_[i + 1] = rule i's. rte_acl userdata = i + 1, so a
  /// classify result (0 = no match) indexes this array and the counter slots directly.
  std::vector<SpdMatch> matches_;
  /// Counter slots per worker: [0] default, [1..n] rules, [n + 1] invalid; `stride_` slots
  /// per worker, rounded to a cache line so workers never share one.
  struct AlignedFree {
    void operator()(uint64_t* p) const noexcept;
  };
  std::unique_ptr<uint64_t[], AlignedFree> counters_;
  uint32_t stride_ = 0;
  uint32_t workers_ = 0;
  PolicyDirection direction_ = PolicyDirection::kOutbound;
  std::vector<PolicyRule> rules_;
  std::vector<uint32_t> source_index_;
  uint64_t serial_ = 0;
};

/// Control core: the PROTECT rules without an SA yet (sa_index == `no_sa`) whose hit counters moved
/// since the previous poll(): what starts an IKE negotiation for connect_type "trigger". A table
/// other than the one polled last (another serial(): rebuilt, often at the same address) is compared
/// with zero counts, never with the counters of the table before.
class SpdNoSaWatch {
 public:
  explicit SpdNoSaWatch(uint32_t no_sa) noexcept : no_sa_(no_sa) {}
  /// Calls hit(rule) once for each such rule of `t` that traffic hit since the last poll.
  template <class F>
  void poll(const SpdTable& t, F&& hit) {
    const std::span<const PolicyRule> rules = t.rules();
    if (t.serial() != serial_ || hits_.size() != rules.size()) {
      serial_ = t.serial();
      hits_.assign(rules.size(), 0);
    }
    for (uint32_t i = 0; i < rules.size(); ++i) {
      const PolicyRule& r = rules[i];
      if (r.action != PolicyAction::kProtect || r.sa_index != no_sa_) continue;
      const uint64_t h = t.hits(i);
      if (h == hits_[i]) continue;
      hits_[i] = h;
      hit(r);
    }
  }

 private:
  uint32_t no_sa_;
  uint64_t serial_ = 0;  ///< the table hits_ belongs to (0: none yet)
  std::vector<uint64_t> hits_;
};

/// The SPD workers read: one table per direction, replaced as a whole under RCU.
///
/// Worker: `const SpdTable* t = spd.outbound();` then classify with `t` until the worker's next
/// quiescent state (Rcu::quiescent); never keep the pointer across it.
/// Control core: build new tables off to the side, then publish(): the pointers are swapped
/// (release), the call waits until every online worker has passed a quiescent state, and returns
/// the tables it replaced — no worker can still see them, so their counters are final.
class Spd {
 public:
  /// Both tables are required. Throws std::invalid_argument if one is null or of the wrong direction.
  Spd(Rcu& rcu, std::unique_ptr<SpdTable> outbound, std::unique_ptr<SpdTable> inbound);
  /// Frees the current tables: workers must no longer use them (stopped or offline).
  ~Spd();
  Spd(const Spd&) = delete;
  Spd& operator=(const Spd&) = delete;

  struct Retired {
    std::unique_ptr<SpdTable> outbound;
    std::unique_ptr<SpdTable> inbound;
  };

  /// Control core. A null table leaves that direction as it is. Throws std::invalid_argument (before
  /// anything changes) if a table has the wrong direction. Blocks until the old tables are unused;
  /// do not call it from a thread that is an online RCU reader.
  Retired publish(std::unique_ptr<SpdTable> outbound, std::unique_ptr<SpdTable> inbound);

  /// Workers: valid until the caller's next quiescent state. Never null.
  [[nodiscard]] const SpdTable* outbound() const noexcept { return out_.load(std::memory_order_acquire); }
  [[nodiscard]] const SpdTable* inbound() const noexcept { return in_.load(std::memory_order_acquire); }
  [[nodiscard]] const SpdTable* table(PolicyDirection d) const noexcept {
    return d == PolicyDirection::kOutbound ? outbound() : inbound();
  }

 private:
  Rcu& rcu_;
  std::mutex publish_mu_;  ///< one publisher at a time (the control core; tests may race)
  std::atomic<SpdTable*> out_;
  std::atomic<SpdTable*> in_;
};

}  // namespace esprit
