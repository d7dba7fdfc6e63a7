// Two IkeManagers in one process on the sites of ike_sa_pair.hpp, joined by their send callbacks: a
// tiny "network" that can drop one side's datagrams or NAT side a, a fake clock, deterministic
// random, recording sinks (or the peers' own sinks: FastpathInstaller::sink). Real IKE SAs, codec
// and crypto underneath. For the manager's and the FastpathSink's unit tests.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "esprit/control/ike/manager/ike_manager.hpp"
#include "ike_sa_pair.hpp"

namespace esprit::test {

/// Changes to a peer's configuration-model settings (proposals, lifetimes, connect_type ...).
using PeerTweak = std::function<void(esprit::IkeSettings&)>;

inline void auto_connect(esprit::IkeSettings& s) { s.connect_type = ConnectType::kAuto; }

/// The configuration model's settings for one side, resolved and converted as the daemon will:
/// PSK, IKE aes128gcm16-prfsha256-x25519 and ESP aes128gcm16 unless `tweak` changes them, the
/// sites' selectors. The left side (local 192.0.2.1, or 10.9.0.1 behind the NAT) has the ID
/// fqdn:left.example, and the peer named "left" expects it; the others keep their default IDs.
inline ike::ManagedPeer peer_config(const char* name, std::optional<IpAddress> addr, const IpAddress& local,
                                    const PeerTweak& tweak = {}) {
  IkeConfig ike;
  IkePeer p;
  p.name = name;
  p.address = addr;
  p.psk = psk_bytes();
  if (std::string_view(name) == "left") p.remote_id = IkeIdentity::parse("fqdn:left.example");
  p.settings.ike_proposals = std::vector<IkeProposal>{*esprit::parse_proposal("aes128gcm16-prfsha256-x25519", ProposalKind::kIke)};
  p.settings.esp_proposals = std::vector<IkeProposal>{*esprit::parse_proposal("aes128gcm16", ProposalKind::kEsp)};
  if (tweak) tweak(p.settings);
  auto eff = resolve_ike_settings(ike, p);
  const bool left = local == left_addr() || local == ip("10.9.0.1");
  std::string err;
  auto m = ike::make_managed_peer(ike, p, eff, local, {left ? left_net() : right_net()},
                                  {left ? right_net() : left_net()}, &err);
  EXPECT_TRUE(m) << err;
  if (!m) return {};
  if (left) m->sa.local_id = ike::Identity::fqdn("left.example");
  return *m;
}

struct Datagram {
  IpAddress from;
  uint16_t fport;
  IpAddress to;
  uint16_t tport;
  std::vector<uint8_t> bytes;
};

/// Manager a (left, peer "right") and manager b (right, peer "left").
struct Net {
  /// The peers from peer_config with the tweaks; `nat`: a sits behind a NAT (10.9.0.1, seen as
  /// 203.0.113.5 with ports 40000/40001), and b's peer has no address (any).
  explicit Net(PeerTweak tweak_a = {}, PeerTweak tweak_b = {}, bool nat = false) : nat_(nat) {
    IpAddress a_local = nat ? a_private : a_addr;
    start(peer_config("right", b_addr, a_local, tweak_a),
          peer_config("left", nat ? std::nullopt : std::optional(a_addr), b_addr, tweak_b));
  }
  /// Given peers (a's local address a_addr, b's b_addr; e.g. with their own sinks), no NAT.
  Net(ike::ManagedPeer peer_a, ike::ManagedPeer peer_b) : nat_(false) { start(std::move(peer_a), std::move(peer_b)); }

  // What on_established reported: (peer, SPIi, SPIr, keys present).
  struct Established {
    std::string peer;
    uint64_t spi_i, spi_r;
    bool keys;
  };
  ike::IkeManagerEnv env(DeterministicRandom& rng, RecordingSink& sink, std::vector<Established>& established) {
    ike::IkeManagerEnv e;
    e.on_established = [&established](const std::string& peer, const ike::IkeSa& sa) {
      established.push_back({peer, sa.spi_i(), sa.spi_r(), !sa.keys().sk_ei.empty() && !sa.keys().sk_er.empty()});
    };
    e.rng = &rng;
    e.clock = &clock;
    e.sink = &sink;
    e.send = [this](const IpAddress& l, uint16_t lp, const IpAddress& r, uint16_t rp, std::span<const uint8_t> b) {
      wire.push_back({l, lp, r, rp, std::vector<uint8_t>(b.begin(), b.end())});
    };
    e.counters = [this](uint32_t spi, SaDirection) { return counters[spi]; };
    e.send_keepalive = [this](const IpAddress&, uint16_t lp, const IpAddress&, uint16_t rp) {
      keepalives.push_back({lp, rp});
    };
    return e;
  }
  /// Delivers what is on the wire (and what that makes them send) for up to `rounds` rounds.
  void pump(int rounds = 50) {
    for (int n = 0; n < rounds && !wire.empty(); ++n) {
      auto batch = std::move(wire);
      wire.clear();
      for (auto& d : batch) {
        ++delivered;
        if (d.to == b_addr) {
          if (silent_a) continue;
          if (d.from == a_private) {  // NAT: the private source becomes the public mapping
            d.from = a_public;
            d.fport = d.fport == 4500 ? nat_port_4500 : nat_port_500;
          }
          b->receive(d.to, d.tport, d.from, d.fport, d.bytes);
        } else {
          if (silent_b) continue;
          if (d.to == a_public) {
            d.to = a_private;
            d.tport = d.tport == nat_port_500 ? 500 : 4500;
          }
          a->receive(d.to, d.tport, d.from, d.fport, d.bytes);
        }
      }
    }
  }
  // Advances the clock in steps, ticking both and delivering.
  void run(ike::Duration total, ike::Duration step = 1s) {
    for (ike::Duration t{}; t < total; t += step) {
      clock.t += step;
      a->tick();
      b->tick();
      pump();
    }
  }

  IpAddress a_addr = left_addr(), b_addr = right_addr();
  IpAddress a_private = ip("10.9.0.1"), a_public = ip("203.0.113.5");
  uint16_t nat_port_500 = 40000, nat_port_4500 = 40001;
  bool nat_;
  bool silent_a = false, silent_b = false;  ///< drop what a (b) sends
  FakeClock clock;
  DeterministicRandom rng_a{11}, rng_b{22};
  RecordingSink sink_a, sink_b;  ///< unless the peer has its own sink
  std::vector<Established> established_a, established_b;
  std::map<uint32_t, ike::ChildCounters> counters;  ///< what the fast path counted, per SPI
  std::vector<Datagram> wire;
  std::size_t delivered = 0;
  std::vector<std::pair<uint16_t, uint16_t>> keepalives;
  std::unique_ptr<ike::IkeManager> a, b;

 private:
  void start(ike::ManagedPeer peer_a, ike::ManagedPeer peer_b) {
    a = std::make_unique<ike::IkeManager>(std::vector<ike::ManagedPeer>{std::move(peer_a)},
                                          env(rng_a, sink_a, established_a));
    b = std::make_unique<ike::IkeManager>(std::vector<ike::ManagedPeer>{std::move(peer_b)},
                                          env(rng_b, sink_b, established_b));
  }
};

}  // namespace esprit::test
