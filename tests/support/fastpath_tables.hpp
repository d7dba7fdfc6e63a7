// Test support: one gateway's fast path tables without ports or workers, for the control plane's
// tests and benchmarks over the real SAD/SPD (--no-huge EAL): RCU, SAD, an SPD that discards until
// a FastpathInstaller publishes its rules, and the GatewayTables pointing at them with every
// per-slot vector sized to the SAD, as the daemon builds them. Used by
// tests/unit/control/ike_fastpath_sink_test.cpp and ike_scale_rig.hpp (unit test and benchmark).
#pragma once

#include <atomic>
#include <cstdint>
#include <cstring>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "dpdk_env.hpp"
#include "esprit/control/ike/manager/fastpath_sink.hpp"
#include "esprit/fastpath/rcu.hpp"
#include "esprit/fastpath/sad.hpp"

namespace esprit::test {

struct FastpathTables {
  /// `capacity` SAD slots named `sad_name`; `tunnels` route-based tunnel ids (tunnel_sa, all
  /// kNoTunnelSa). A failure leaves `error` set (the first one) and the failed table null.
  FastpathTables(const char* sad_name, uint32_t capacity, uint32_t tunnels = 0) {
    init_dpdk();
    rcu = Rcu::create(1, &error);
    if (!rcu) return;
    SadConfig sc;
    sc.capacity = capacity;
    sc.rcu = rcu.get();
    sc.name = sad_name;
    sad = Sad::create(sc, &error);
    if (!sad) return;
    auto out = SpdTable::build({}, {PolicyDirection::kOutbound, PolicyAction::kDiscard, 1, -1, 0}, &error);
    auto in = SpdTable::build({}, {PolicyDirection::kInbound, PolicyAction::kDiscard, 1, -1, 0}, &error);
    if (!out || !in) return;
    spd = std::make_unique<Spd>(*rcu, std::move(out), std::move(in));
    tables.rcu = rcu.get();
    tables.sad = sad.get();
    tables.spd = spd.get();
    tables.sa_selectors.assign(sad->capacity(), {});
    tables.sa_peer.assign(sad->capacity(), 0);
    tables.sa_paths.assign(sad->capacity(), {});
    tables.tunnels = tunnels;
    if (tunnels) {
      tables.tunnel_sa = std::make_unique<std::atomic<uint32_t>[]>(tunnels);
      for (uint32_t t = 0; t < tunnels; ++t) tables.tunnel_sa[t].store(kNoTunnelSa);
    }
  }

  /// The outbound SPD's decision for an inner IPv4 UDP packet src -> dst.
  SpdMatch classify(const IpAddress& src, const IpAddress& dst) const {
    std::vector<uint8_t> p(28, 0);
    p[0] = 0x45;
    p[3] = 28;
    p[9] = 17;
    std::memcpy(&p[12], src.bytes(), 4);
    std::memcpy(&p[16], dst.bytes(), 4);
    SpdPacket pk{p.data(), static_cast<uint32_t>(p.size())};
    SpdMatch m{};
    spd->outbound()->classify(std::span<const SpdPacket>(&pk, 1), &m);
    return m;
  }
  SpdMatch classify(const char* src, const char* dst) const {
    return classify(*IpAddress::parse(src), *IpAddress::parse(dst));
  }

  std::string error;
  std::unique_ptr<Rcu> rcu;
  std::unique_ptr<Sad> sad;
  std::unique_ptr<Spd> spd;
  GatewayTables tables;
};

/// A site-to-site PROTECT policy bound to IKE peer `peer`, as the daemon hands it to the
/// FastpathInstaller: outbound src -> dst ("to-<peer>"), then the inbound reverse ("from-<peer>").
inline std::vector<ike::InstallerRule> protect_rules(const std::string& peer, const char* src, const char* dst) {
  esprit::TrafficSelector sel;
  sel.src = *IpPrefix::parse(src);
  sel.dst = *IpPrefix::parse(dst);
  esprit::TrafficSelector rev{sel.dst, sel.src, 0, {}, {}};
  return {{PolicyRule{"to-" + peer, PolicyDirection::kOutbound, sel, PolicyAction::kProtect, 0}, peer},
          {PolicyRule{"from-" + peer, PolicyDirection::kInbound, rev, PolicyAction::kProtect, 0}, peer}};
}

}  // namespace esprit::test
