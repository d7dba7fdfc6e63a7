// The daemon's configuration: a plain-data model of espritd.toml and its loader.
//
// The loader (toml++) checks every value and the references between sections, so a Config it
// returns is consistent: every name a policy, route, neighbour or tunnel mentions exists, every SA
// passes SaDescriptor::validate(), no key is unknown. A ConfigError names the file, line, column,
// key path ("sa[2].encr_key") and what was expected. Key material is never copied into an error.
// docs/configuration.md documents every key.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <variant>
#include <vector>

#include "esprit/common/ike_config.hpp"
#include "esprit/common/ip_address.hpp"
#include "esprit/common/ip_prefix.hpp"
#include "esprit/common/policy.hpp"
#include "esprit/common/sa_descriptor.hpp"

namespace esprit {

// ---------------------------------------------------------------------------------------------
// Small value types
// ---------------------------------------------------------------------------------------------

/// An Ethernet address ("02:00:5e:00:53:01" or with '-').
struct MacAddress {
  std::array<uint8_t, 6> bytes{};
  [[nodiscard]] static std::optional<MacAddress> parse(std::string_view text);
  [[nodiscard]] std::string to_string() const;  ///< lower-case, ':'-separated
  [[nodiscard]] bool is_multicast() const noexcept { return (bytes[0] & 1) != 0; }
  [[nodiscard]] bool is_zero() const noexcept;
  friend bool operator==(const MacAddress&, const MacAddress&) = default;
};

/// An address assigned to a port: the address itself and the length of its subnet (the connected
/// route). Unlike IpPrefix it keeps the host bits.
struct InterfaceAddress {
  IpAddress address;
  uint8_t prefix_len = 0;
  [[nodiscard]] IpPrefix subnet() const { return IpPrefix(address, prefix_len); }
  [[nodiscard]] std::string to_string() const;  ///< "192.0.2.1/24"
  friend bool operator==(const InterfaceAddress&, const InterfaceAddress&) = default;
};

enum class LogLevel : uint8_t { kError, kWarning, kNotice, kInfo, kDebug };
[[nodiscard]] std::string_view to_string(LogLevel l) noexcept;

// ---------------------------------------------------------------------------------------------
// [daemon], [eal]
// ---------------------------------------------------------------------------------------------

inline constexpr std::string_view kDefaultControlSocket = "/run/esprit/espritd.sock";
inline constexpr uint32_t kMaxLcoreId = 1023;
inline constexpr uint32_t kMaxMbufs = 1u << 24;  ///< [daemon] mbufs: 16 M buffers (32 GiB of 2 KiB mbufs)

struct DaemonConfig {
  LogLevel log_level = LogLevel::kInfo;
  std::string control_socket{kDefaultControlSocket};
  /// Group allowed to use the control socket (mode 0660); empty: owner only (mode 0600).
  std::string control_socket_group;
  /// Explicit worker lcores (`workers = [1, 2]`); empty when `workers` is a count.
  std::vector<uint32_t> worker_lcores;
  /// Number of worker lcores; equals worker_lcores.size() when the list is given. 0 (the default):
  /// every lcore EAL enables other than the main one.
  uint32_t worker_count = 0;
  /// The control core; nullopt = EAL's default (the first lcore EAL enables).
  std::optional<uint32_t> main_lcore;
  /// Minimum number of mbufs in the packet pool (0: what the rings need, computed by the daemon).
  uint32_t mbufs = 0;
  /// Worker idle behaviour: 0 (the default) busy-polls; N > 0 makes a worker that found nothing
  /// in kWorkerIdlePolls polls in a row sleep N microseconds before it polls again (VPP's
  /// poll-sleep-usec, DPDK l3fwd-power): for CPUs shared with other work, at the cost of latency.
  uint32_t worker_idle_sleep_us = 0;
};

/// Largest [daemon] worker_idle_sleep_us: 10 ms (a longer sleep overflows the RX rings at line rate).
inline constexpr uint32_t kMaxWorkerIdleSleepUs = 10000;

struct EalConfig {
  /// Extra EAL arguments, one argv word each (the config's strings are split at blanks).
  std::vector<std::string> args;
};

// ---------------------------------------------------------------------------------------------
// [[port]]
// ---------------------------------------------------------------------------------------------

enum class PortRole : uint8_t { kProtected, kUnprotected };
enum class DeviceKind : uint8_t { kPci, kVdev };
[[nodiscard]] std::string_view to_string(PortRole r) noexcept;

inline constexpr uint16_t kDefaultMtu = 1500;
inline constexpr uint16_t kDefaultRingSize = 1024;

struct PortConfig {
  std::string name;
  std::string device;  ///< as written: "0000:03:00.0" or "net_af_packet0,iface=veth0"
  DeviceKind device_kind = DeviceKind::kPci;
  /// The EAL device name: the PCI address in full form ("0000:03:00.0", also for "03:00.0") or
  /// the vdev name ("net_af_packet0"): what rte_eth_dev_get_port_by_name() takes.
  std::string device_name;
  std::string device_args;  ///< text after the first ',' (devargs), may be empty
  PortRole role = PortRole::kProtected;
  uint16_t mtu = kDefaultMtu;
  std::vector<InterfaceAddress> ipv4;
  std::vector<InterfaceAddress> ipv6;
  std::optional<MacAddress> mac;      ///< nullopt: the device's own address
  std::optional<uint16_t> rx_queues;  ///< nullopt: one per worker
  std::optional<uint16_t> tx_queues;  ///< nullopt: one per worker plus one for the control core
  uint16_t rx_desc = kDefaultRingSize;
  uint16_t tx_desc = kDefaultRingSize;
};

// ---------------------------------------------------------------------------------------------
// [[route]], [[neighbor]]
// ---------------------------------------------------------------------------------------------

enum class RouteKind : uint8_t {
  kNextHop,    ///< out of `port`, to `via` (a gateway) or, without via, on-link
  kTunnel,     ///< into a route-based tunnel interface
  kBlackhole,  ///< dropped (and counted)
};

struct RouteConfig {
  IpPrefix prefix;
  RouteKind kind = RouteKind::kNextHop;
  std::optional<IpAddress> via;  ///< kNextHop: the gateway; nullopt = destination is on-link
  /// kNextHop: the egress port. The loader fills it in when only `via` is given (the port whose
  /// subnet holds the gateway).
  std::string port;
  std::string tunnel;  ///< kTunnel: the [[tunnel]] name
};

struct NeighborConfig {
  IpAddress ip;
  MacAddress mac;
  std::string port;
};

// ---------------------------------------------------------------------------------------------
// [spd], [[policy]]
// ---------------------------------------------------------------------------------------------

/// [fragmentation]: per-worker bounds of inbound reassembly and of ICMP error generation
/// (docs/fragmentation.md). The defaults are the values these had before they were keys.
struct FragmentationConfig {
  uint32_t reassembly_packets = 128;   ///< packets being reassembled at once, per worker
  uint32_t reassembly_fragments = 8;   ///< fragments of one packet (rte_ip_frag holds at most 8)
  uint32_t reassembly_timeout_ms = 3000;
  uint32_t icmp_rate = 100;  ///< ICMP errors per second and worker (token bucket)
  uint32_t icmp_burst = 10;  ///< bucket depth
};
/// What rte_ip_frag (RTE_LIBRTE_IP_FRAG_MAX_FRAG in DPDK 22.11) can hold per packet.
inline constexpr uint32_t kMaxReassemblyFragments = 8;

struct SpdConfig {
  /// Unmatched traffic (no rule, no route into a tunnel). Discard by default: RFC 4301 5.
  PolicyAction default_action = PolicyAction::kDiscard;
};

enum class PolicyDirections : uint8_t { kOut, kIn, kBoth };
[[nodiscard]] std::string_view to_string(PolicyDirections d) noexcept;

struct PolicyConfig {
  std::string name;
  PolicyDirections direction = PolicyDirections::kBoth;
  /// As written. For kBoth: the outbound view (src = our side); the inbound rule mirrors it.
  TrafficSelector selector;
  PolicyAction action = PolicyAction::kDiscard;
  std::string sa;                  ///< kProtect with out/both: the outbound SA's name
  std::vector<std::string> sa_in;  ///< kProtect with in/both: inbound SAs this traffic may arrive on
  /// IKE: the [[peer]] negotiating its SAs; then sa/sa_in are empty and expand_policies() gives rules
  /// without SA names (espritd refuses to run them until IKE exists).
  std::string peer;
  IkeSettings ike;                 ///< IKE: `overrides` of the peer's settings for this policy
};

// ---------------------------------------------------------------------------------------------
// [[sa]] and [[tunnel]]
// ---------------------------------------------------------------------------------------------

/// Where an outbound packet that does not fit the egress MTU is fragmented.
enum class FragmentMode : uint8_t {
  kPost,  ///< encrypt, then fragment the ESP packet (NEC default; the peer reassembles)
  kPre,   ///< fragment the inner packet, then encrypt each fragment
};

/// TCP MSS clamping on SYNs carried by the SA or tunnel.
struct TcpMssClamp {
  enum class Mode : uint8_t { kOff, kAuto, kFixed };
  Mode mode = Mode::kOff;
  uint16_t value = 0;  ///< kFixed: the MSS
  friend bool operator==(const TcpMssClamp&, const TcpMssClamp&) = default;
};

inline constexpr uint16_t kMinTcpMss = 536;  // RFC 9293 3.7.1 default send MSS for IPv4
inline constexpr uint16_t kMaxTcpMss = 65495;

/// One manually keyed SA (Cisco `crypto map ... ipsec-manual`, DPDK ipsec-secgw `sa`).
struct SaConfig {
  std::string name;
  /// The ESP parameters as the fast path takes them (cookie left 0: the daemon assigns it).
  SaDescriptor descriptor;
  FragmentMode fragmentation = FragmentMode::kPost;
  TcpMssClamp tcp_mss;
};

struct TunnelConfig {
  std::string name;
  std::string sa_out;
  std::vector<std::string> sa_in;  ///< several during a rekey overlap
  IpAddress local;                 ///< outer addresses; the SAs' when not written
  IpAddress remote;
  std::optional<uint16_t> mtu;  ///< inner MTU; nullopt = egress port MTU minus ESP overhead
  TcpMssClamp tcp_mss;
  FragmentMode fragmentation = FragmentMode::kPost;
  std::string peer;  ///< IKE: the [[peer]] negotiating its SAs (then sa_out/sa_in are empty)
  IkeSettings ike;   ///< IKE: `overrides` of the peer's settings for this tunnel
};

// ---------------------------------------------------------------------------------------------
// The whole file
// ---------------------------------------------------------------------------------------------

struct Config {
  DaemonConfig daemon;
  EalConfig eal;
  std::vector<PortConfig> ports;
  std::vector<RouteConfig> routes;
  std::vector<NeighborConfig> neighbors;
  SpdConfig spd;
  FragmentationConfig fragmentation;
  std::vector<PolicyConfig> policies;  ///< in file order: first match wins
  std::vector<SaConfig> sas;
  std::vector<TunnelConfig> tunnels;
  IkeConfig ike;  ///< [ike], [[ike.profile]], [[peer]] (ike_config.hpp)

  [[nodiscard]] const PortConfig* find_port(std::string_view name) const noexcept;
  [[nodiscard]] const SaConfig* find_sa(std::string_view name) const noexcept;
  [[nodiscard]] const TunnelConfig* find_tunnel(std::string_view name) const noexcept;
};

/// What is wrong with a configuration and where.
struct ConfigError {
  std::string file;     ///< the path or source name given to the loader
  uint32_t line = 0;    ///< 1-based; 0 when unknown (e.g. the file cannot be read)
  uint32_t column = 0;  ///< 1-based; 0 when unknown
  std::string key;      ///< "sa[2].encr_key"; empty for TOML syntax and I/O errors
  std::string message;  ///< what was found and what was expected
  /// "espritd.toml:14:12: sa[1].encr: unknown algorithm ...".
  [[nodiscard]] std::string to_string() const;
};

/// Either a Config or the first error found (std::expected-like).
class ConfigResult {
 public:
  ConfigResult(Config c) : v_(std::move(c)) {}       // NOLINT(google-explicit-constructor)
  ConfigResult(ConfigError e) : v_(std::move(e)) {}  // NOLINT(google-explicit-constructor)
  [[nodiscard]] bool ok() const noexcept { return v_.index() == 0; }
  explicit operator bool() const noexcept { return ok(); }
  [[nodiscard]] Config& value() & { return std::get<Config>(v_); }
  [[nodiscard]] const Config& value() const& { return std::get<Config>(v_); }
  [[nodiscard]] Config&& value() && { return std::get<Config>(std::move(v_)); }
  [[nodiscard]] const ConfigError& error() const { return std::get<ConfigError>(v_); }
  Config* operator->() { return &value(); }
  const Config* operator->() const { return &value(); }

 private:
  std::variant<Config, ConfigError> v_;
};

/// Reads and loads a TOML file; the file's path names it in errors.
[[nodiscard]] ConfigResult load_config_file(const std::string& path);
/// Loads TOML text; `source_name` names it in errors.
[[nodiscard]] ConfigResult load_config_string(std::string_view text, std::string_view source_name);

// ---------------------------------------------------------------------------------------------
// From the configuration to what the fast path takes
// ---------------------------------------------------------------------------------------------

/// The SA's descriptor for EspSa::create() (a copy: keys included; cookie 0).
[[nodiscard]] SaDescriptor to_descriptor(const SaConfig& sa);

/// One SPD entry whose SAs are still named: the loader's policies expanded per direction
/// ("both" gives the outbound rule, then the inbound rule with src/dst and ports swapped).
struct NamedPolicyRule {
  PolicyRule rule;                 ///< sa_index 0: filled by to_policy_rules()
  std::string sa;                  ///< outbound kProtect: the SA to encapsulate with
  std::vector<std::string> sa_in;  ///< inbound kProtect: the SAs the traffic may arrive on
  std::size_t policy_index = 0;    ///< into Config::policies
};

/// Every policy as SPD entries, in file order per direction.
[[nodiscard]] std::vector<NamedPolicyRule> expand_policies(const Config& config);

/// SA name -> SAD slot (the daemon's numbering).
using SaIndexMap = std::unordered_map<std::string, uint32_t>;

/// The rules with sa_index filled from `sa_index` (outbound protect rules; inbound rules keep 0).
/// Fails, naming the SA, when a name is missing from the map.
[[nodiscard]] std::variant<std::vector<PolicyRule>, std::string> to_policy_rules(
    const std::vector<NamedPolicyRule>& rules, const SaIndexMap& sa_index);

/// The implicit selectors of a route-based tunnel: 0.0.0.0/0 and ::/0, any protocol and port,
/// limited to the inner family its outbound SA allows.
[[nodiscard]] std::vector<TrafficSelector> tunnel_selectors(const Config& config, const TunnelConfig& tunnel);

}  // namespace esprit
