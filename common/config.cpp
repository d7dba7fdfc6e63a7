// Loading espritd.toml (toml++) into the Config model, with a position and key path on every error.
//
// Shape: a Loader walks the parsed document section by section. Each TOML table is read through a
// Section, which first refuses keys it does not know (with a "did you mean"), then hands out typed
// values; any failure throws a LoadFailure carrying the ConfigError, which the public functions turn
// into a ConfigResult. After the sections, cross_check() looks at references between them while the
// parsed document (and so every source position) is still alive.
#include "esprit/common/config.hpp"
#include "esprit/common/lcores.hpp"

#include <toml++/toml.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <initializer_list>
#include <limits>
#include <map>
#include <set>
#include <unordered_map>
#include <utility>

#include "esprit/common/secret.hpp"
#include "ike_config_loader.hpp"

namespace esprit {

// ---------------------------------------------------------------------------------------------
// Small value types
// ---------------------------------------------------------------------------------------------

namespace {

int hex_digit(char c) noexcept {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

std::optional<MacAddress> MacAddress::parse(std::string_view text) {
  // Six groups of two hex digits, all separated by ':' or all by '-'.
  if (text.size() != 17) return std::nullopt;
  const char sep = text[2];
  if (sep != ':' && sep != '-') return std::nullopt;
  MacAddress m;
  for (std::size_t i = 0; i < 6; ++i) {
    const std::size_t at = i * 3;
    if (i > 0 && text[at - 1] != sep) return std::nullopt;
    const int hi = hex_digit(text[at]);
    const int lo = hex_digit(text[at + 1]);
    if (hi < 0 || lo < 0) return std::nullopt;
    m.bytes[i] = static_cast<uint8_t>(hi << 4 | lo);
  }
  return m;
}

std::string MacAddress::to_string() const {
  char buf[18];
  std::snprintf(buf, sizeof(buf), "%02x:%02x:%02x:%02x:%02x:%02x", bytes[0], bytes[1], bytes[2], bytes[3], bytes[4],
                bytes[5]);
  return buf;
}

bool MacAddress::is_zero() const noexcept {
  return std::all_of(bytes.begin(), bytes.end(), [](uint8_t b) { return b == 0; });
}

std::string InterfaceAddress::to_string() const { return address.to_string() + "/" + std::to_string(prefix_len); }

std::string_view to_string(LogLevel l) noexcept {
  switch (l) {
    case LogLevel::kError:
      return "error";
    case LogLevel::kWarning:
      return "warning";
    case LogLevel::kNotice:
      return "notice";
    case LogLevel::kInfo:
      return "info";
    case LogLevel::kDebug:
      return "debug";
  }
  return "?";
}

std::string_view to_string(PortRole r) noexcept { return r == PortRole::kProtected ? "protected" : "unprotected"; }

std::string_view to_string(PolicyDirections d) noexcept {
  switch (d) {
    case PolicyDirections::kOut:
      return "out";
    case PolicyDirections::kIn:
      return "in";
    case PolicyDirections::kBoth:
      return "both";
  }
  return "?";
}

const PortConfig* Config::find_port(std::string_view name) const noexcept {
  for (const auto& p : ports)
    if (p.name == name) return &p;
  return nullptr;
}

const SaConfig* Config::find_sa(std::string_view name) const noexcept {
  for (const auto& s : sas)
    if (s.name == name) return &s;
  return nullptr;
}

const TunnelConfig* Config::find_tunnel(std::string_view name) const noexcept {
  for (const auto& t : tunnels)
    if (t.name == name) return &t;
  return nullptr;
}

std::string ConfigError::to_string() const {
  std::string s = file;
  if (line != 0) {
    s += ":" + std::to_string(line);
    if (column != 0) s += ":" + std::to_string(column);
  }
  s += ": ";
  if (!key.empty()) s += key + ": ";
  s += message;
  return s;
}

// ---------------------------------------------------------------------------------------------
// Loader
// ---------------------------------------------------------------------------------------------

namespace {

struct LoadFailure {
  ConfigError error;
};

struct Where {
  uint32_t line = 0;
  uint32_t column = 0;
};

Where where(const toml::source_region& r) { return {r.begin.line, r.begin.column}; }

/// Hex that could be a key pasted into the wrong place: at least 8 bytes of hex digits, with an
/// optional "0x" and ':' between byte pairs (an IPv6 address has groups of 1-4 digits).
bool looks_like_key_material(std::string_view s) {
  if (s.starts_with("0x") || s.starts_with("0X")) s.remove_prefix(2);
  std::size_t digits = 0;
  std::size_t group = 0;
  const bool colons = s.find(':') != std::string_view::npos;
  for (char c : s) {
    if (c == ':') {
      if (group != 2) return false;
      group = 0;
      continue;
    }
    if (hex_digit(c) < 0) return false;
    ++digits;
    ++group;
  }
  return digits >= 16 && (!colons || group == 2);
}

/// A value from the file, quoted for a message; never something that looks like key material.
std::string quoted(std::string_view s) {
  if (looks_like_key_material(s)) return "(a value that looks like key material, not shown)";
  return "\"" + std::string(s) + "\"";
}

std::string join_quoted(const std::vector<std::string_view>& words) {
  std::string s;
  for (std::size_t i = 0; i < words.size(); ++i) {
    if (i) s += ", ";
    s += quoted(words[i]);
  }
  return s;
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

/// Optimal-string-alignment distance (Levenshtein plus adjacent transpositions), case-insensitive.
std::size_t edit_distance(std::string_view a_in, std::string_view b_in) {
  const std::string a = lower(a_in);
  const std::string b = lower(b_in);
  std::vector<std::vector<std::size_t>> d(a.size() + 1, std::vector<std::size_t>(b.size() + 1));
  for (std::size_t i = 0; i <= a.size(); ++i) d[i][0] = i;
  for (std::size_t j = 0; j <= b.size(); ++j) d[0][j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const std::size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
      d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1])
        d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
    }
  }
  return d[a.size()][b.size()];
}

/// The candidate closest to `word` when it is close enough to be a likely typo.
std::optional<std::string_view> closest(std::string_view word, const std::vector<std::string_view>& candidates) {
  const std::size_t limit = word.size() <= 3 ? 1 : word.size() <= 6 ? 2 : 3;
  std::optional<std::string_view> best;
  std::size_t best_d = limit + 1;
  for (std::string_view c : candidates) {
    const std::size_t dist = edit_distance(word, c);
    if (dist < best_d) {
      best_d = dist;
      best = c;
    }
  }
  if (best || word.size() < 3) return best;
  // A truncated key ("remote" for "remote_port") is a likely slip too, when only one fits.
  for (std::string_view c : candidates) {
    if (lower(c).starts_with(lower(word))) {
      if (best) return std::nullopt;
      best = c;
    }
  }
  return best;
}

std::string did_you_mean(std::string_view word, const std::vector<std::string_view>& candidates) {
  if (auto c = closest(word, candidates)) return "; did you mean " + quoted(*c) + "?";
  return {};
}

std::string type_name(const toml::node& n) {
  switch (n.type()) {
    case toml::node_type::string:
      return "a string";
    case toml::node_type::integer:
      return "an integer";
    case toml::node_type::floating_point:
      return "a floating-point number";
    case toml::node_type::boolean:
      return "a boolean";
    case toml::node_type::table:
      return "a table";
    case toml::node_type::array:
      return "an array";
    case toml::node_type::date:
      return "a date";
    case toml::node_type::time:
      return "a time";
    case toml::node_type::date_time:
      return "a date-time";
    case toml::node_type::none:
      break;
  }
  return "nothing";
}

/// "sa" + 2 -> "sa[2]".
std::string indexed(std::string base, std::size_t i) {
  base += '[';
  base += std::to_string(i);
  base += ']';
  return base;
}

std::string range_text(int64_t lo, int64_t hi) { return std::to_string(lo) + ".." + std::to_string(hi); }

std::string_view family_name(IpFamily f) { return f == IpFamily::kV4 ? "IPv4" : "IPv6"; }

bool is_unspecified(const IpAddress& a) {
  return std::all_of(a.bytes(), a.bytes() + a.size(), [](uint8_t b) { return b == 0; });
}

bool is_multicast(const IpAddress& a) { return a.is_v4() ? (a.bytes()[0] & 0xf0) == 0xe0 : a.bytes()[0] == 0xff; }

bool is_loopback(const IpAddress& a) {
  if (a.is_v4()) return a.bytes()[0] == 127;
  return std::all_of(a.bytes(), a.bytes() + 15, [](uint8_t b) { return b == 0; }) && a.bytes()[15] == 1;
}

IpPrefix host_prefix(const IpAddress& a) { return IpPrefix(a, static_cast<uint8_t>(a.is_v4() ? 32 : 128)); }

bool parse_u64(std::string_view s, int base, uint64_t& out) {
  if (s.empty()) return false;
  const auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out, base);
  return ec == std::errc() && p == s.data() + s.size();
}

/// Names of ports, tunnels, policies and SAs: they appear in show commands and on the control socket.
bool valid_name(std::string_view s) {
  if (s.empty() || s.size() > 63) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.';
  });
}

/// Key names whose values are secrets: never echoed, wiped from the parsed document after loading.
bool secret_key_name(std::string_view k) {
  return k == "key" || k.ends_with("_key") || k == "psk" || k == "secret" || k == "password";
}

class Loader;

/// One TOML table being read: unknown keys are refused on construction.
class Section {
 public:
  Section(const Loader& loader, const toml::table& table, std::string path, std::vector<std::string_view> keys);

  [[nodiscard]] const toml::table& table() const { return *table_; }
  [[nodiscard]] const std::string& path() const { return path_; }
  [[nodiscard]] std::string path(std::string_view key) const {
    return path_.empty() ? std::string(key) : path_ + "." + std::string(key);
  }
  /// "port[0].ipv4[1]" for the element of an array value, "port[0].ipv4" for a single value.
  [[nodiscard]] std::string element_path(std::string_view key, std::size_t i) const {
    const toml::node* n = get(key);
    return n && n->is_array() ? indexed(path(key), i) : path(key);
  }
  [[nodiscard]] const toml::node* get(std::string_view key) const { return table_->get(key); }
  [[nodiscard]] bool has(std::string_view key) const { return table_->contains(key); }
  /// The key's value position, or the table's when the key is absent.
  [[nodiscard]] Where where(std::string_view key) const;

  [[noreturn]] void fail(std::string_view key, std::string message) const;
  [[noreturn]] void fail_at(const toml::node& n, std::string key_path, std::string message) const;
  [[noreturn]] void fail_table(std::string message) const;
  [[noreturn]] void missing(std::string_view key, std::string_view what) const {
    fail(key, "missing: " + std::string(what));
  }

  [[nodiscard]] std::optional<std::string> string(std::string_view key) const;
  [[nodiscard]] std::string required_string(std::string_view key, std::string_view what) const;
  [[nodiscard]] std::optional<bool> boolean(std::string_view key) const;
  [[nodiscard]] std::optional<int64_t> integer(std::string_view key, int64_t lo, int64_t hi) const;
  /// A string or an array of strings, with each element's node (for positions).
  [[nodiscard]] std::vector<std::pair<std::string, const toml::node*>> string_list(std::string_view key) const;
  [[nodiscard]] std::string name(std::string_view key = "name") const;
  [[nodiscard]] std::optional<IpAddress> address(std::string_view key) const;
  /// A prefix with no host bits set ("10.0.0.0/8"; a bare address is a host prefix).
  [[nodiscard]] std::optional<IpPrefix> prefix(std::string_view key) const;
  [[nodiscard]] std::optional<MacAddress> mac(std::string_view key) const;

  template <class E>
  [[nodiscard]] std::optional<E> choice(std::string_view key,
                                        std::initializer_list<std::pair<std::string_view, E>> options) const {
    const auto s = string(key);
    if (!s) return std::nullopt;
    std::vector<std::string_view> names;
    for (const auto& [n, v] : options) {
      if (n == *s) return v;
      names.push_back(n);
    }
    fail(key, "expected one of " + join_quoted(names) + ", got " + quoted(*s) + did_you_mean(*s, names));
  }

  /// A sub-table (`natt = { ... }` or `[sa.lifetime]`).
  [[nodiscard]] std::optional<Section> sub(std::string_view key, std::vector<std::string_view> keys) const;

 private:
  const Loader* loader_;
  const toml::table* table_;
  std::string path_;
};

class Loader {
 public:
  explicit Loader(std::string file) : file_(std::move(file)) {}

  [[noreturn]] void fail(Where w, std::string key, std::string message) const {
    throw LoadFailure{ConfigError{file_, w.line, w.column, std::move(key), std::move(message)}};
  }

  Config load(const toml::table& root);

 private:
  void check_sections(const toml::table& root);
  const toml::table* single(const toml::table& root, std::string_view name);
  std::vector<const toml::table*> array(const toml::table& root, std::string_view name);

  void parse_daemon(const Section& t, DaemonConfig& d);
  void parse_eal(const Section& t, EalConfig& e);
  void parse_spd(const Section& t, SpdConfig& s);
  void parse_fragmentation(const Section& t, FragmentationConfig& f);
  PortConfig parse_port(const Section& t);
  void parse_device(const Section& t, PortConfig& p);
  std::vector<InterfaceAddress> parse_port_addresses(const Section& t, std::string_view key, IpFamily family);
  SaConfig parse_sa(const Section& t);
  void parse_natt(const Section& t, SaDescriptor& d);
  TcpMssClamp parse_tcp_mss(const Section& t);
  PolicyConfig parse_policy(const Section& t);
  PortRange parse_port_range(const Section& t, std::string_view key);
  TunnelConfig parse_tunnel(const Section& t);
  RouteConfig parse_route(const Section& t);
  NeighborConfig parse_neighbor(const Section& t);

  void check_eal(const Section* eal);
  void check_ports();
  void check_sas();
  void check_tunnels();
  void check_policies();
  void check_routes();
  void check_neighbors();
  void check_sa_usage();

  /// The port whose subnet holds `a` (longest match), or nullptr.
  const PortConfig* on_link_port(const IpAddress& a, const PortConfig* only = nullptr) const;
  bool is_our_address(const IpAddress& a) const;
  void sa_ref(const Section& t, std::string_view key, const toml::node* at, const std::string& key_path,
              const std::string& name, SaDirection want, std::size_t& index_out) const;

  std::string file_;
  Config c_;
  std::vector<Section> port_t_, sa_t_, policy_t_, tunnel_t_, route_t_, neighbor_t_;
  /// Per SA: who uses it ("policy[2]" / "tunnel[0]"), for the single-owner and unused checks.
  std::vector<std::vector<std::string>> sa_users_;
  std::vector<bool> sa_in_tunnel_;
  /// SA name -> index of its first [[sa]]; keeps the checks linear with 100 000 SAs.
  std::unordered_map<std::string_view, std::size_t> sa_by_name_;
};

// ----- Section ------------------------------------------------------------------------------

Section::Section(const Loader& loader, const toml::table& table, std::string path, std::vector<std::string_view> keys)
    : loader_(&loader), table_(&table), path_(std::move(path)) {
  for (auto&& [k, v] : table) {
    (void)v;
    if (std::find(keys.begin(), keys.end(), k.str()) != keys.end()) continue;
    std::string msg = "unknown key";
    const std::string hint = did_you_mean(k.str(), keys);
    msg += hint.empty() ? "; expected one of " + join_quoted(keys) : hint;
    loader.fail(esprit::where(k.source()), this->path(k.str()), msg);
  }
}

Where Section::where(std::string_view key) const {
  if (const toml::node* n = get(key)) return esprit::where(n->source());
  return esprit::where(table_->source());
}

void Section::fail(std::string_view key, std::string message) const {
  loader_->fail(where(key), path(key), std::move(message));
}

void Section::fail_at(const toml::node& n, std::string key_path, std::string message) const {
  loader_->fail(esprit::where(n.source()), std::move(key_path), std::move(message));
}

void Section::fail_table(std::string message) const {
  loader_->fail(esprit::where(table_->source()), path_, std::move(message));
}

std::optional<std::string> Section::string(std::string_view key) const {
  const toml::node* n = get(key);
  if (!n) return std::nullopt;
  if (!n->is_string()) fail(key, "expected a string, got " + type_name(*n));
  return n->as_string()->get();
}

std::string Section::required_string(std::string_view key, std::string_view what) const {
  auto s = string(key);
  if (!s) missing(key, what);
  return *s;
}

std::optional<bool> Section::boolean(std::string_view key) const {
  const toml::node* n = get(key);
  if (!n) return std::nullopt;
  if (!n->is_boolean()) fail(key, "expected true or false, got " + type_name(*n));
  return n->as_boolean()->get();
}

std::optional<int64_t> Section::integer(std::string_view key, int64_t lo, int64_t hi) const {
  const toml::node* n = get(key);
  if (!n) return std::nullopt;
  if (!n->is_integer()) fail(key, "expected an integer " + range_text(lo, hi) + ", got " + type_name(*n));
  const int64_t v = n->as_integer()->get();
  if (v < lo || v > hi) fail(key, "expected " + range_text(lo, hi) + ", got " + std::to_string(v));
  return v;
}

std::vector<std::pair<std::string, const toml::node*>> Section::string_list(std::string_view key) const {
  std::vector<std::pair<std::string, const toml::node*>> out;
  const toml::node* n = get(key);
  if (!n) return out;
  if (n->is_string()) {
    out.emplace_back(n->as_string()->get(), n);
    return out;
  }
  if (!n->is_array()) fail(key, "expected a string or an array of strings, got " + type_name(*n));
  const toml::array& a = *n->as_array();
  for (std::size_t i = 0; i < a.size(); ++i) {
    const toml::node& e = a[i];
    if (!e.is_string()) fail_at(e, indexed(path(key), i), "expected a string, got " + type_name(e));
    out.emplace_back(e.as_string()->get(), &e);
  }
  return out;
}

std::string Section::name(std::string_view key) const {
  const std::string s = required_string(key, "every entry needs a name");
  if (!valid_name(s)) fail(key, "expected 1 to 63 letters, digits, '-', '_' or '.', got " + quoted(s));
  return s;
}

std::optional<IpAddress> Section::address(std::string_view key) const {
  const auto s = string(key);
  if (!s) return std::nullopt;
  const auto a = IpAddress::parse(*s);
  if (!a) {
    if (s->find('/') != std::string::npos) fail(key, "expected an address without a prefix length, got " + quoted(*s));
    fail(key, "expected an IPv4 or IPv6 address, got " + quoted(*s));
  }
  return a;
}

std::optional<IpPrefix> Section::prefix(std::string_view key) const {
  const auto s = string(key);
  if (!s) return std::nullopt;
  const auto p = IpPrefix::parse(*s);
  if (!p) fail(key, "expected a prefix like \"10.0.0.0/8\" or \"2001:db8::/32\", got " + quoted(*s));
  // IpPrefix clears host bits; a prefix written with host bits is most likely a typo.
  const auto a = IpAddress::parse(std::string_view(*s).substr(0, s->find('/')));
  if (a && !(*a == p->address()))
    fail(key, quoted(*s) + " has host bits set; did you mean " + quoted(p->to_string()) + "?");
  return p;
}

std::optional<MacAddress> Section::mac(std::string_view key) const {
  const auto s = string(key);
  if (!s) return std::nullopt;
  const auto m = MacAddress::parse(*s);
  if (!m) fail(key, "expected a MAC address like \"02:00:5e:00:53:01\", got " + quoted(*s));
  if (m->is_multicast() || m->is_zero()) fail(key, quoted(*s) + " is not a unicast MAC address");
  return m;
}

std::optional<Section> Section::sub(std::string_view key, std::vector<std::string_view> keys) const {
  const toml::node* n = get(key);
  if (!n) return std::nullopt;
  if (!n->is_table()) fail(key, "expected a table, got " + type_name(*n));
  return Section(*loader_, *n->as_table(), path(key), std::move(keys));
}

// ----- sections -----------------------------------------------------------------------------

const std::vector<std::string_view> kSections = {"daemon", "eal",    "spd", "fragmentation", "port", "route",
                                                 "neighbor", "policy", "sa", "tunnel", "ike", "peer"};

void Loader::check_sections(const toml::table& root) {
  for (auto&& [k, v] : root) {
    (void)v;
    const std::string_view name = k.str();
    if (std::find(kSections.begin(), kSections.end(), name) != kSections.end()) continue;
    const std::string hint = did_you_mean(name, kSections);
    fail(where(k.source()), std::string(name),
         "unknown section" + (hint.empty() ? "; expected one of " + join_quoted(kSections) : hint));
  }
}

const toml::table* Loader::single(const toml::table& root, std::string_view name) {
  const toml::node* n = root.get(name);
  if (!n) return nullptr;
  if (!n->is_table())
    fail(where(n->source()), std::string(name),
         "expected a table [" + std::string(name) + "], got " + type_name(*n) +
             (n->is_array() ? " (write [" + std::string(name) + "], not [[" + std::string(name) + "]])" : ""));
  return n->as_table();
}

std::vector<const toml::table*> Loader::array(const toml::table& root, std::string_view name) {
  std::vector<const toml::table*> out;
  const toml::node* n = root.get(name);
  if (!n) return out;
  if (!n->is_array())
    fail(where(n->source()), std::string(name),
         "expected an array of tables (write [[" + std::string(name) + "]], not [" + std::string(name) + "]), got " +
             type_name(*n));
  const toml::array& a = *n->as_array();
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (!a[i].is_table())
      fail(where(a[i].source()), indexed(std::string(name), i), "expected a table, got " + type_name(a[i]));
    out.push_back(a[i].as_table());
  }
  return out;
}

void Loader::parse_daemon(const Section& t, DaemonConfig& d) {
  if (auto l = t.choice<LogLevel>("log_level", {{"error", LogLevel::kError},
                                                {"warning", LogLevel::kWarning},
                                                {"notice", LogLevel::kNotice},
                                                {"info", LogLevel::kInfo},
                                                {"debug", LogLevel::kDebug}}))
    d.log_level = *l;
  if (auto s = t.string("control_socket")) {
    if (s->empty()) t.fail("control_socket", "expected a path, got an empty string");
    // sockaddr_un::sun_path holds 108 bytes including the terminating NUL.
    if (s->size() > 107) t.fail("control_socket", "longer than 107 bytes, the limit of a UNIX socket path");
    d.control_socket = *s;
  }
  if (auto g = t.string("control_socket_group")) {
    if (g->empty() || g->size() > 32) t.fail("control_socket_group", "expected a group name of 1 to 32 characters");
    d.control_socket_group = *g;
  }
  if (const toml::node* n = t.get("workers")) {
    if (n->is_integer()) {
      d.worker_count = static_cast<uint32_t>(*t.integer("workers", 1, kMaxLcoreId));
    } else if (n->is_array()) {
      const toml::array& a = *n->as_array();
      if (a.empty()) t.fail("workers", "expected at least one lcore id");
      for (std::size_t i = 0; i < a.size(); ++i) {
        const std::string p = indexed(t.path("workers"), i);
        if (!a[i].is_integer()) t.fail_at(a[i], p, "expected an lcore id (integer), got " + type_name(a[i]));
        const int64_t v = a[i].as_integer()->get();
        if (v < 0 || v > kMaxLcoreId)
          t.fail_at(a[i], p, "expected an lcore id " + range_text(0, kMaxLcoreId) + ", got " + std::to_string(v));
        const auto id = static_cast<uint32_t>(v);
        if (std::find(d.worker_lcores.begin(), d.worker_lcores.end(), id) != d.worker_lcores.end())
          t.fail_at(a[i], p, "lcore " + std::to_string(id) + " is listed twice");
        d.worker_lcores.push_back(id);
      }
      d.worker_count = static_cast<uint32_t>(d.worker_lcores.size());
    } else {
      t.fail("workers", "expected a worker count (integer) or a list of lcore ids, got " + type_name(*n));
    }
  }
  if (auto m = t.integer("main_lcore", 0, kMaxLcoreId)) {
    d.main_lcore = static_cast<uint32_t>(*m);
    if (std::find(d.worker_lcores.begin(), d.worker_lcores.end(), *d.main_lcore) != d.worker_lcores.end())
      t.fail("main_lcore", "lcore " + std::to_string(*m) + " is also in workers; the main lcore is the control core");
  }
  if (auto m = t.integer("mbufs", 0, kMaxMbufs)) d.mbufs = static_cast<uint32_t>(*m);
  if (auto m = t.integer("worker_idle_sleep_us", 0, kMaxWorkerIdleSleepUs))
    d.worker_idle_sleep_us = static_cast<uint32_t>(*m);
}

void Loader::parse_eal(const Section& t, EalConfig& e) {
  for (const auto& [s, node] : t.string_list("args")) {
    std::size_t words = 0;
    std::size_t i = 0;
    while (i < s.size()) {
      while (i < s.size() && (s[i] == ' ' || s[i] == '\t')) ++i;
      const std::size_t start = i;
      while (i < s.size() && s[i] != ' ' && s[i] != '\t') ++i;
      if (i > start) {
        e.args.push_back(s.substr(start, i - start));
        ++words;
      }
    }
    if (words == 0) t.fail_at(*node, t.path("args"), "empty argument");
  }
}

void Loader::check_eal(const Section* eal) {
  if (!eal) return;
  const toml::node* args_node = eal->get("args");
  const bool daemon_sets_lcores = !c_.daemon.worker_lcores.empty() || c_.daemon.main_lcore.has_value();
  bool any_pci = false;
  for (const auto& p : c_.ports) any_pci |= p.device_kind == DeviceKind::kPci;
  for (const std::string& a : c_.eal.args) {
    const bool lcore_arg = is_lcore_eal_arg(a);
    if (lcore_arg && daemon_sets_lcores)
      fail(where(args_node->source()), "eal.args",
           quoted(a) + " sets lcores while [daemon] sets " +
               (c_.daemon.worker_lcores.empty() ? std::string("main_lcore") : std::string("workers")) +
               "; set lcores in one place (espritd derives -l and --main-lcore from [daemon])");
    if (a == "--no-pci" && any_pci)
      fail(where(args_node->source()), "eal.args", "\"--no-pci\" but a [[port]] is a PCI device");
  }
}

void Loader::parse_fragmentation(const Section& t, FragmentationConfig& f) {
  // Each worker's table holds reassembly_packets x reassembly_fragments mbufs: 65536 packets of 8
  // are 512 Ki mbufs, far more than any pool; beyond that the key is a typo, not a need.
  if (auto v = t.integer("reassembly_packets", 1, 65536)) f.reassembly_packets = static_cast<uint32_t>(*v);
  if (auto v = t.integer("reassembly_fragments", 2, kMaxReassemblyFragments))
    f.reassembly_fragments = static_cast<uint32_t>(*v);
  // 1 ms .. 60 s: RFC 791 suggests 15 s as a lower bound of a host's timer; a gateway that only
  // reassembles its own ESP wants less, never minutes (each entry holds mbufs).
  if (auto v = t.integer("reassembly_timeout_ms", 1, 60000)) f.reassembly_timeout_ms = static_cast<uint32_t>(*v);
  if (auto v = t.integer("icmp_rate", 1, 1000000)) f.icmp_rate = static_cast<uint32_t>(*v);
  if (auto v = t.integer("icmp_burst", 1, 1000000)) f.icmp_burst = static_cast<uint32_t>(*v);
}

void Loader::parse_spd(const Section& t, SpdConfig& s) {
  if (t.has("default_action") && t.string("default_action") == "protect")
    t.fail("default_action", "\"protect\" needs an SA; the default action is \"bypass\" or \"discard\"");
  if (auto a = t.choice<PolicyAction>("default_action",
                                      {{"discard", PolicyAction::kDiscard}, {"bypass", PolicyAction::kBypass}}))
    s.default_action = *a;
}

// ----- [[port]] -----------------------------------------------------------------------------

/// "[DDDD:]BB:DD.F" -> "dddd:bb:dd.f", else nullopt.
std::optional<std::string> normalize_pci(std::string_view s) {
  std::string full(s);
  if (full.size() == 7) full = "0000:" + full;
  if (full.size() != 12 || full[4] != ':' || full[7] != ':' || full[10] != '.') return std::nullopt;
  for (std::size_t i : {0, 1, 2, 3, 5, 6, 8, 9})
    if (hex_digit(full[i]) < 0) return std::nullopt;
  if (full[11] < '0' || full[11] > '7') return std::nullopt;
  if (hex_digit(full[8]) > 1) return std::nullopt;  // device 0x00..0x1f
  return lower(full);
}

bool valid_vdev_name(std::string_view s) {
  if (!(s.starts_with("net_") || s.starts_with("eth_")) || s.size() <= 4 || s.size() > 63) return false;
  return std::all_of(s.begin(), s.end(),
                     [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; });
}

void Loader::parse_device(const Section& t, PortConfig& p) {
  p.device = t.required_string("device", "a PCI address (\"0000:03:00.0\") or a vdev (\"net_af_packet0,iface=veth0\")");
  const std::string_view dev = p.device;
  const std::size_t comma = dev.find(',');
  const std::string_view head = dev.substr(0, comma);
  p.device_args = comma == std::string_view::npos ? std::string() : std::string(dev.substr(comma + 1));
  if (auto pci = normalize_pci(head)) {
    p.device_kind = DeviceKind::kPci;
    p.device_name = *pci;
  } else if (valid_vdev_name(head)) {
    p.device_kind = DeviceKind::kVdev;
    p.device_name = std::string(head);
  } else {
    std::string msg =
        quoted(dev) +
        " is neither a PCI address (\"0000:03:00.0\") nor an ethdev vdev (\"net_af_packet0,iface=veth0\", "
        "\"net_pcap0,rx_pcap=in.pcap,tx_pcap=out.pcap\", \"net_tap0\", \"net_memif0\", \"net_null0\", "
        "\"net_ring0\")";
    const bool looks_like_ifname = !head.empty() && head.find_first_of(":._") == std::string_view::npos;
    if (looks_like_ifname)
      msg += "; to attach to the Linux interface " + quoted(head) +
             " write \"net_af_packet0,iface=" + std::string(head) + "\"";
    t.fail("device", msg);
  }
  if (comma != std::string_view::npos) {
    std::string_view rest = p.device_args;
    while (true) {
      const std::size_t c = rest.find(',');
      if (rest.substr(0, c).empty()) t.fail("device", "empty device argument in " + quoted(dev));
      if (c == std::string_view::npos) break;
      rest.remove_prefix(c + 1);
    }
  }
}

std::vector<InterfaceAddress> Loader::parse_port_addresses(const Section& t, std::string_view key, IpFamily family) {
  std::vector<InterfaceAddress> out;
  const auto list = t.string_list(key);
  const std::string_view example = family == IpFamily::kV4 ? "\"192.0.2.1/24\"" : "\"2001:db8::1/64\"";
  for (std::size_t i = 0; i < list.size(); ++i) {
    const auto& [s, node] = list[i];
    const std::string p = t.element_path(key, i);
    const std::size_t slash = s.find('/');
    const auto addr = IpAddress::parse(std::string_view(s).substr(0, slash));
    if (!addr)
      t.fail_at(*node, p,
                "expected an " + std::string(family_name(family)) + " address with prefix length like " +
                    std::string(example) + ", got " + quoted(s));
    if (addr->family() != family) {
      const std::string other = family == IpFamily::kV4 ? "ipv6" : "ipv4";
      t.fail_at(*node, p,
                quoted(s) + " is an " + std::string(family_name(addr->family())) + " address; list it in " + other);
    }
    if (slash == std::string::npos)
      t.fail_at(*node, p, "missing prefix length (the connected subnet): write e.g. " + std::string(example));
    uint64_t len = 0;
    const unsigned max = family == IpFamily::kV4 ? 32 : 128;
    if (!parse_u64(std::string_view(s).substr(slash + 1), 10, len) || len > max)
      t.fail_at(*node, p, "prefix length must be 0.." + std::to_string(max) + ", got " + quoted(s));
    if (is_unspecified(*addr) || is_multicast(*addr) || is_loopback(*addr))
      t.fail_at(*node, p, quoted(s) + " is not a unicast host address");
    const InterfaceAddress ia{*addr, static_cast<uint8_t>(len)};
    if (family == IpFamily::kV4 && len <= 30) {
      const IpPrefix net = ia.subnet();
      if (net.address() == *addr) t.fail_at(*node, p, quoted(s) + " is the subnet's network address");
      uint32_t host_bits = (len == 0) ? 0xffffffffu : (0xffffffffu >> len);
      const uint8_t* b = addr->bytes();
      const uint32_t v = static_cast<uint32_t>(b[0]) << 24 | b[1] << 16 | b[2] << 8 | b[3];
      if ((v & host_bits) == host_bits) t.fail_at(*node, p, quoted(s) + " is the subnet's broadcast address");
    }
    out.push_back(ia);
  }
  return out;
}

PortConfig Loader::parse_port(const Section& t) {
  PortConfig p;
  p.name = t.name();
  parse_device(t, p);
  const auto role =
      t.choice<PortRole>("role", {{"protected", PortRole::kProtected}, {"unprotected", PortRole::kUnprotected}});
  if (!role) t.missing("role", "\"protected\" (the hosts' side) or \"unprotected\" (the peers' side)");
  p.role = *role;
  if (auto m = t.integer("mtu", 68, 65535)) p.mtu = static_cast<uint16_t>(*m);  // 68: RFC 791 minimum
  p.ipv4 = parse_port_addresses(t, "ipv4", IpFamily::kV4);
  p.ipv6 = parse_port_addresses(t, "ipv6", IpFamily::kV6);
  if (!p.ipv6.empty() && p.mtu < 1280)
    t.fail("mtu",
           "a port with IPv6 addresses needs an MTU of at least 1280 (RFC 8200 5), got " + std::to_string(p.mtu));
  p.mac = t.mac("mac");
  if (auto q = t.integer("rx_queues", 1, 1024)) p.rx_queues = static_cast<uint16_t>(*q);
  if (auto q = t.integer("tx_queues", 1, 1024)) p.tx_queues = static_cast<uint16_t>(*q);
  if (auto n = t.integer("rx_desc", 32, 32768)) p.rx_desc = static_cast<uint16_t>(*n);
  if (auto n = t.integer("tx_desc", 32, 32768)) p.tx_desc = static_cast<uint16_t>(*n);
  return p;
}

void Loader::check_ports() {
  std::map<std::string, std::size_t> devices;
  bool have_protected = false;
  bool have_unprotected = false;
  for (std::size_t i = 0; i < c_.ports.size(); ++i) {
    const PortConfig& p = c_.ports[i];
    const Section& t = port_t_[i];
    for (std::size_t j = 0; j < i; ++j) {
      if (c_.ports[j].name == p.name)
        t.fail("name", quoted(p.name) + " is already the name of port[" + std::to_string(j) + "]");
    }
    if (auto [it, fresh] = devices.emplace(p.device_name, i); !fresh)
      t.fail("device", quoted(p.device_name) + " is already used by port[" + std::to_string(it->second) + "]");
    have_protected |= p.role == PortRole::kProtected;
    have_unprotected |= p.role == PortRole::kUnprotected;
    if (p.rx_queues && c_.daemon.worker_count != 0 && *p.rx_queues > c_.daemon.worker_count)
      t.fail("rx_queues", std::to_string(*p.rx_queues) + " RX queues but " + std::to_string(c_.daemon.worker_count) +
                              " worker(s): RSS would steer packets to queues no worker polls");
    // The same address or the same subnet on two ports makes neighbours and connected routes ambiguous.
    for (std::size_t j = 0; j < i; ++j) {
      for (const auto* list : {&p.ipv4, &p.ipv6}) {
        for (std::size_t k = 0; k < list->size(); ++k) {
          const InterfaceAddress& a = (*list)[k];
          const std::string_view key = a.address.is_v4() ? "ipv4" : "ipv6";
          const toml::node* n = t.get(key);
          if (n && n->is_array()) n = n->as_array()->get(k);
          const std::string path = t.element_path(key, k);
          for (const auto* other : {&c_.ports[j].ipv4, &c_.ports[j].ipv6}) {
            for (const InterfaceAddress& b : *other) {
              if (a.address == b.address)
                t.fail_at(*n, path,
                          a.address.to_string() + " is already an address of port " + quoted(c_.ports[j].name));
              if (a.subnet() == b.subnet())
                t.fail_at(
                    *n, path,
                    "subnet " + a.subnet().to_string() + " is already connected on port " + quoted(c_.ports[j].name));
            }
          }
        }
      }
    }
  }
  if (c_.ports.empty())
    fail(Where{1, 1}, "port", "no [[port]]: espritd needs at least one protected and one unprotected port");
  if (!have_protected)
    fail(where(port_t_[0].table().source()), "port", "no port has role = \"protected\" (the hosts' side)");
  if (!have_unprotected)
    fail(where(port_t_[0].table().source()), "port", "no port has role = \"unprotected\" (the peers' side)");
}

const PortConfig* Loader::on_link_port(const IpAddress& a, const PortConfig* only) const {
  const PortConfig* best = nullptr;
  int best_len = -1;
  for (const PortConfig& p : c_.ports) {
    if (only && &p != only) continue;
    for (const auto* list : {&p.ipv4, &p.ipv6}) {
      for (const InterfaceAddress& ia : *list) {
        if (ia.subnet().contains(a) && ia.prefix_len > best_len) {
          best = &p;
          best_len = ia.prefix_len;
        }
      }
    }
  }
  return best;
}

bool Loader::is_our_address(const IpAddress& a) const {
  for (const PortConfig& p : c_.ports)
    for (const auto* list : {&p.ipv4, &p.ipv6})
      for (const InterfaceAddress& ia : *list)
        if (ia.address == a) return true;
  return false;
}

// ----- [[sa]] -------------------------------------------------------------------------------

const std::vector<std::string_view> kSaKeys = {"name",
                                               "spi",
                                               "direction",
                                               "mode",
                                               "local",
                                               "remote",
                                               "inner_family",
                                               "encr",
                                               "encr_key",
                                               "integ",
                                               "integ_key",
                                               "esn",
                                               "anti_replay",
                                               "replay_window",
                                               "natt",
                                               "natt_local_port",
                                               "natt_remote_port",
                                               "dscp",
                                               "ecn",
                                               "df",
                                               "ttl",
                                               "lifetime",
                                               "fragmentation",
                                               "tcp_mss"};

/// Reads a hex key into `out`. The value itself never appears in a message.
void read_key(const Section& t, std::string_view key, SecretBytes& out) {
  const toml::node* n = t.get(key);
  if (!n) return;
  if (!n->is_string())
    t.fail(key, "expected a string of hex digits (\"0x\" prefix and ':' separators allowed), got " + type_name(*n));
  if (!SecretBytes::from_hex(n->as_string()->get(), out))
    t.fail(key,
           "not valid hex (value not shown): expected pairs of hex digits, \"0x\" prefix and ':' separators "
           "allowed");
}

uint16_t udp_port(const Section& t, std::string_view key, uint16_t dflt) {
  if (auto v = t.integer(key, 1, 65535)) return static_cast<uint16_t>(*v);
  return dflt;
}

void Loader::parse_natt(const Section& t, SaDescriptor& d) {
  const bool flat = t.has("natt_local_port") || t.has("natt_remote_port");
  if (const toml::node* n = t.get("natt")) {
    if (flat)
      t.fail("natt", "give NAT-T ports either in natt = { ... } or as natt_local_port / natt_remote_port, not both");
    if (n->is_boolean()) {
      if (n->as_boolean()->get()) d.natt = NatTraversal{};
      return;
    }
    if (!n->is_table())
      t.fail("natt", "expected true, false or { local_port = 4500, remote_port = 4500 }, got " + type_name(*n));
    const auto s = t.sub("natt", {"local_port", "remote_port"});
    NatTraversal nt;
    nt.local_port = udp_port(*s, "local_port", nt.local_port);
    nt.remote_port = udp_port(*s, "remote_port", nt.remote_port);
    d.natt = nt;
    return;
  }
  if (flat) {
    NatTraversal nt;
    nt.local_port = udp_port(t, "natt_local_port", nt.local_port);
    nt.remote_port = udp_port(t, "natt_remote_port", nt.remote_port);
    d.natt = nt;
  }
}

TcpMssClamp Loader::parse_tcp_mss(const Section& t) {
  TcpMssClamp m;
  const toml::node* n = t.get("tcp_mss");
  if (!n) return m;
  if (n->is_integer()) {
    m.mode = TcpMssClamp::Mode::kFixed;
    m.value = static_cast<uint16_t>(*t.integer("tcp_mss", kMinTcpMss, kMaxTcpMss));
    return m;
  }
  const std::string expected = "expected \"off\", \"auto\" or an MSS " + range_text(kMinTcpMss, kMaxTcpMss);
  if (!n->is_string()) t.fail("tcp_mss", expected + ", got " + type_name(*n));
  const std::string_view s = n->as_string()->get();
  if (s == "auto")
    m.mode = TcpMssClamp::Mode::kAuto;
  else if (s != "off")
    t.fail("tcp_mss", expected + " (as an integer), got " + quoted(s));
  return m;
}

/// The config key that holds the field SaDescriptor::validate() names.
std::string_view sa_key_for_field(std::string_view field) {
  if (field == "local/remote") return "remote";
  if (field == "soft.packets") return "lifetime.soft_packets";
  if (field == "soft.bytes") return "lifetime.soft_bytes";
  return field;
}

SaConfig Loader::parse_sa(const Section& t) {
  SaConfig s;
  SaDescriptor& d = s.descriptor;
  s.name = t.name();

  // spi: a TOML integer (decimal or 0x...) or a string "0x..." / "4097".
  const toml::node* spi = t.get("spi");
  if (!spi) t.missing("spi", "the SA's SPI, 256..4294967295 (decimal or \"0x...\")");
  if (spi->is_integer()) {
    d.spi = static_cast<uint32_t>(*t.integer("spi", 0, 0xffffffffLL));
  } else if (spi->is_string()) {
    std::string_view v = spi->as_string()->get();
    uint64_t x = 0;
    const bool hex = v.starts_with("0x") || v.starts_with("0X");
    if (!parse_u64(hex ? v.substr(2) : v, hex ? 16 : 10, x) || x > 0xffffffffULL)
      t.fail("spi", "expected an SPI 256..4294967295 in decimal or \"0x\" hex, got " + quoted(v));
    d.spi = static_cast<uint32_t>(x);
  } else {
    t.fail("spi", "expected an integer or a string (\"0x1000\"), got " + type_name(*spi));
  }

  const auto dir = t.choice<SaDirection>("direction", {{"in", SaDirection::kInbound}, {"out", SaDirection::kOutbound}});
  if (!dir) t.missing("direction", "\"in\" or \"out\"");
  d.direction = *dir;
  if (auto m = t.choice<SaMode>("mode", {{"tunnel", SaMode::kTunnel}, {"transport", SaMode::kTransport}})) d.mode = *m;

  const auto local = t.address("local");
  if (!local) t.missing("local", "our outer address (an address of a port)");
  const auto remote = t.address("remote");
  if (!remote) t.missing("remote", "the peer's outer address");
  d.local = *local;
  d.remote = *remote;
  if (d.local.family() != d.remote.family())
    t.fail("remote", d.remote.to_string() + " is " + std::string(family_name(d.remote.family())) + " but local " +
                         d.local.to_string() + " is " + std::string(family_name(d.local.family())) +
                         "; outer addresses must be of one family");
  if (auto f = t.choice<InnerFamily>(
          "inner_family", {{"any", InnerFamily::kAny}, {"ipv4", InnerFamily::kV4}, {"ipv6", InnerFamily::kV6}}))
    d.inner_family = *f;

  std::vector<std::string_view> encr_names;
  for (const auto& e : encr_algorithms()) encr_names.push_back(e.name);
  const auto encr = t.string("encr");
  if (!encr) t.missing("encr", "an encryption algorithm, one of " + join_quoted(encr_names));
  const auto ea = encr_from_name(*encr);
  if (!ea)
    t.fail("encr", "unknown algorithm " + quoted(*encr) + "; expected one of " + join_quoted(encr_names) +
                       did_you_mean(*encr, encr_names));
  d.encr = *ea;

  std::vector<std::string_view> integ_names;
  for (const auto& i : integ_algorithms()) integ_names.push_back(i.name);
  if (auto integ = t.string("integ")) {
    const auto ia = integ_from_name(*integ);
    if (!ia)
      t.fail("integ", "unknown algorithm " + quoted(*integ) + "; expected one of " + join_quoted(integ_names) +
                          did_you_mean(*integ, integ_names));
    d.integ = *ia;
  }

  read_key(t, "encr_key", d.encr_key);
  read_key(t, "integ_key", d.integ_key);
  const EncrInfo& ei = info(d.encr);
  const IntegInfo& ii = info(d.integ);
  if (!t.has("encr_key") && ei.keymat_len() != 0) {
    std::string what = std::string(ei.name) + " needs a " + std::to_string(ei.keymat_len()) + "-byte key (" +
                       std::to_string(2 * ei.keymat_len()) + " hex digits";
    if (ei.salt_len)
      what += ": the " + std::to_string(ei.key_len) + "-byte key followed by its " + std::to_string(ei.salt_len) +
              "-byte salt";
    t.missing("encr_key", what + ")");
  }
  if (!t.has("integ_key") && ii.key_len != 0)
    t.missing("integ_key", std::string(ii.name) + " needs a " + std::to_string(ii.key_len) + "-byte key (" +
                               std::to_string(2 * ii.key_len) + " hex digits)");

  if (auto b = t.boolean("esn")) d.esn = *b;
  if (auto b = t.boolean("anti_replay")) d.anti_replay = *b;
  if (auto w = t.integer("replay_window", kMinReplayWindow, kMaxReplayWindow))
    d.replay_window = static_cast<uint32_t>(*w);
  parse_natt(t, d);

  if (const toml::node* n = t.get("dscp")) {
    if (n->is_integer()) {
      d.dscp_mode = DscpMode::kSet;
      d.dscp = static_cast<uint8_t>(*t.integer("dscp", 0, 63));
    } else if (n->is_string()) {
      if (n->as_string()->get() != "copy")
        t.fail("dscp", "expected \"copy\" or a DSCP value 0..63, got " + quoted(n->as_string()->get()));
      d.dscp_mode = DscpMode::kCopy;
    } else {
      t.fail("dscp", "expected \"copy\" or a DSCP value 0..63, got " + type_name(*n));
    }
  }
  if (auto b = t.boolean("ecn")) d.ecn = *b;
  if (auto df = t.choice<DfMode>("df", {{"copy", DfMode::kCopy}, {"set", DfMode::kSet}, {"clear", DfMode::kClear}}))
    d.df = *df;
  if (auto ttl = t.integer("ttl", 1, 255)) d.ttl = static_cast<uint8_t>(*ttl);
  if (auto lt = t.sub("lifetime", {"soft_packets", "hard_packets", "soft_bytes", "hard_bytes"})) {
    constexpr int64_t kMax = std::numeric_limits<int64_t>::max();
    if (auto v = lt->integer("soft_packets", 0, kMax)) d.soft.packets = static_cast<uint64_t>(*v);
    if (auto v = lt->integer("hard_packets", 0, kMax)) d.hard.packets = static_cast<uint64_t>(*v);
    if (auto v = lt->integer("soft_bytes", 0, kMax)) d.soft.bytes = static_cast<uint64_t>(*v);
    if (auto v = lt->integer("hard_bytes", 0, kMax)) d.hard.bytes = static_cast<uint64_t>(*v);
  }
  if (auto f = t.choice<FragmentMode>("fragmentation", {{"post", FragmentMode::kPost}, {"pre", FragmentMode::kPre}}))
    s.fragmentation = *f;
  s.tcp_mss = parse_tcp_mss(t);

  // Keys that only mean something in one direction: refuse them in the other rather than ignore them.
  const bool inbound = d.direction == SaDirection::kInbound;
  for (std::string_view k : {"dscp", "df", "ttl", "fragmentation"})
    if (inbound && t.has(k)) t.fail(k, "only applies to outbound SAs (it shapes the packets we encapsulate)");
  for (std::string_view k : {"anti_replay", "replay_window"})
    if (!inbound && t.has(k)) t.fail(k, "only applies to inbound SAs (the receiver checks replay)");

  if (auto err = d.validate()) {
    const std::size_t colon = err->find(": ");
    const std::string field = colon == std::string::npos ? std::string() : err->substr(0, colon);
    const std::string text = colon == std::string::npos ? *err : err->substr(colon + 2);
    const std::string_view key = sa_key_for_field(field);
    std::string hint;
    if (key == "encr_key" && ei.salt_len)
      hint = " (" + std::to_string(2 * ei.keymat_len()) + " hex digits: the " + std::to_string(ei.key_len) +
             "-byte key followed by its " + std::to_string(ei.salt_len) + "-byte salt)";
    else if (key == "encr_key" || key == "integ_key")
      hint = " (" + std::to_string(2 * (key == "encr_key" ? ei.keymat_len() : ii.key_len)) + " hex digits)";
    if (key.empty()) t.fail_table(text);
    // Lifetime fields sit in the sub-table.
    if (key.starts_with("lifetime.")) {
      std::string text_cfg = text;
      for (const auto& [from, to] : {std::pair<std::string_view, std::string_view>{"hard.packets", "hard_packets"},
                                     {"hard.bytes", "hard_bytes"}})
        if (const std::size_t at = text_cfg.find(from); at != std::string::npos) text_cfg.replace(at, from.size(), to);
      const toml::node* lt = t.get("lifetime");
      const toml::node* n = lt && lt->is_table() ? lt->as_table()->get(key.substr(9)) : nullptr;
      if (n) t.fail_at(*n, t.path(key), text_cfg);
      t.fail("lifetime", text_cfg);
    }
    t.fail(key, text + hint);
  }
  return s;
}

void Loader::check_sas() {
  // First index of each name, inbound SPI and (outbound SPI, peer): the error names the earliest
  // earlier SA that clashes, as a pairwise scan would, in linear time.
  std::unordered_map<uint32_t, std::size_t> in_spi;
  std::unordered_map<std::string, std::size_t> out_spi;  // "spi/remote"
  sa_by_name_.clear();
  for (std::size_t i = 0; i < c_.sas.size(); ++i) {
    const SaConfig& s = c_.sas[i];
    const SaDescriptor& d = s.descriptor;
    const Section& t = sa_t_[i];
    const auto [by_name, fresh_name] = sa_by_name_.try_emplace(s.name, i);
    std::size_t spi_clash = c_.sas.size();
    if (d.direction == SaDirection::kInbound) {
      const auto [it, fresh] = in_spi.try_emplace(d.spi, i);
      if (!fresh) spi_clash = it->second;
    } else {
      const auto [it, fresh] = out_spi.try_emplace(std::to_string(d.spi) + "/" + d.remote.to_string(), i);
      if (!fresh) spi_clash = it->second;
    }
    if (!fresh_name && by_name->second <= spi_clash)
      t.fail("name", quoted(s.name) + " is already the name of sa[" + std::to_string(by_name->second) + "]");
    if (spi_clash < c_.sas.size()) {
      const std::size_t j = spi_clash;
      // Inbound SPIs are ours to choose and find the SA on their own; outbound ones are the peers',
      // so two peers may pick the same value.
      if (d.direction == SaDirection::kInbound)
        t.fail("spi", "inbound SPI " + std::to_string(d.spi) + " is already used by sa[" + std::to_string(j) + "] " +
                          quoted(c_.sas[j].name));
      t.fail("spi", "outbound SPI " + std::to_string(d.spi) + " to " + d.remote.to_string() +
                        " is already used by sa[" + std::to_string(j) + "] " + quoted(c_.sas[j].name));
    }
    if (!is_our_address(d.local))
      t.fail("local", d.local.to_string() + " is not an address of any port (list it in a port's ipv4/ipv6)");
    if (is_our_address(d.remote)) t.fail("remote", d.remote.to_string() + " is one of our own port addresses");
  }
}

// ----- [[tunnel]] ---------------------------------------------------------------------------

TunnelConfig Loader::parse_tunnel(const Section& t) {
  TunnelConfig tu;
  tu.name = t.name();
  if (auto e = load_ike_binding(t.table(), file_, t.path(), c_.ike, {"sa_out", "sa_in"}, true, true, tu.peer, tu.ike))
    throw LoadFailure{std::move(*e)};
  if (tu.peer.empty()) {  // static SAs
    tu.sa_out = t.required_string("sa_out", "the outbound SA's name (or peer = \"...\" to negotiate SAs with IKE)");
    for (const auto& [s, node] : t.string_list("sa_in")) tu.sa_in.push_back(s);
    if (tu.sa_in.empty()) t.missing("sa_in", "the inbound SA's name (or a list of names during a rekey overlap)");
  }
  if (auto a = t.address("local")) tu.local = *a;
  if (auto a = t.address("remote")) tu.remote = *a;
  if (auto m = t.integer("mtu", 68, 65535)) tu.mtu = static_cast<uint16_t>(*m);
  tu.tcp_mss = parse_tcp_mss(t);
  if (auto f = t.choice<FragmentMode>("fragmentation", {{"post", FragmentMode::kPost}, {"pre", FragmentMode::kPre}}))
    tu.fragmentation = *f;
  return tu;
}

void Loader::sa_ref(const Section& t, std::string_view key, const toml::node* at, const std::string& key_path,
                    const std::string& name, SaDirection want, std::size_t& index_out) const {
  const auto found = sa_by_name_.find(name);
  if (found != sa_by_name_.end()) {
    const std::size_t i = found->second;
    if (c_.sas[i].descriptor.direction != want) {
      const std::string msg =
          want == SaDirection::kOutbound
              ? "SA " + quoted(name) + " is inbound (direction = \"in\"); " + std::string(key) +
                    " names the outbound SA that encapsulates (inbound SAs go in sa_in)"
              : "SA " + quoted(name) + " is outbound (direction = \"out\"); " + std::string(key) + " names inbound SAs";
      if (at) t.fail_at(*at, key_path, msg);
      t.fail(key, msg);
    }
    index_out = i;
    return;
  }
  std::vector<std::string_view> names;
  for (const auto& s : c_.sas) names.push_back(s.name);
  const std::string msg = "unknown SA " + quoted(name) + did_you_mean(name, names);
  if (at) t.fail_at(*at, key_path, msg);
  t.fail(key, msg);
}

void Loader::check_tunnels() {
  for (std::size_t i = 0; i < c_.tunnels.size(); ++i) {
    TunnelConfig& tu = c_.tunnels[i];
    const Section& t = tunnel_t_[i];
    for (std::size_t j = 0; j < i; ++j)
      if (c_.tunnels[j].name == tu.name)
        t.fail("name", quoted(tu.name) + " is already the name of tunnel[" + std::to_string(j) + "]");
    if (c_.find_port(tu.name))
      t.fail("name", quoted(tu.name) + " is already the name of a port (ports and tunnels are interfaces)");
    if (!tu.peer.empty()) {  // IKE negotiates its SAs: outer addresses are the peer's
      const IkePeer& peer = *c_.ike.find_peer(tu.peer);
      if (!t.has("remote")) tu.remote = *peer.address;
      if (!(tu.remote == *peer.address))
        t.fail("remote", tu.remote.to_string() + " differs from peer " + quoted(tu.peer) + "'s address " +
                             peer.address->to_string());
      if (!t.has("local") && peer.local) tu.local = *peer.local;
      continue;
    }

    std::size_t out = 0;
    sa_ref(t, "sa_out", t.get("sa_out"), t.path("sa_out"), tu.sa_out, SaDirection::kOutbound, out);
    std::vector<std::size_t> ins;
    const auto in_list = t.string_list("sa_in");
    for (std::size_t k = 0; k < in_list.size(); ++k) {
      const std::string p = t.element_path("sa_in", k);
      std::size_t idx = 0;
      sa_ref(t, "sa_in", in_list[k].second, p, in_list[k].first, SaDirection::kInbound, idx);
      if (std::find(ins.begin(), ins.end(), idx) != ins.end())
        t.fail_at(*in_list[k].second, p, "SA " + quoted(in_list[k].first) + " is listed twice");
      ins.push_back(idx);
    }

    const SaDescriptor& od = c_.sas[out].descriptor;
    if (!t.has("local")) tu.local = od.local;
    if (!t.has("remote")) tu.remote = od.remote;
    if (!(tu.local == od.local))
      t.fail("local",
             tu.local.to_string() + " differs from sa_out " + quoted(tu.sa_out) + "'s local " + od.local.to_string());
    if (!(tu.remote == od.remote))
      t.fail("remote", tu.remote.to_string() + " differs from sa_out " + quoted(tu.sa_out) + "'s remote " +
                           od.remote.to_string());
    for (std::size_t k = 0; k < ins.size(); ++k) {
      const SaDescriptor& id = c_.sas[ins[k]].descriptor;
      if (!(id.local == tu.local) || !(id.remote == tu.remote))
        t.fail("sa_in", "SA " + quoted(c_.sas[ins[k]].name) + " runs " + id.local.to_string() + " <- " +
                            id.remote.to_string() + " but the tunnel runs " + tu.local.to_string() + " <-> " +
                            tu.remote.to_string());
    }
    std::vector<std::size_t> all = ins;
    all.insert(all.begin(), out);
    for (std::size_t idx : all) {
      const SaConfig& s = c_.sas[idx];
      const Section& st = sa_t_[idx];
      const std::string_view key = idx == out ? "sa_out" : "sa_in";
      if (s.descriptor.mode != SaMode::kTunnel)
        t.fail(key, "SA " + quoted(s.name) + " is in transport mode; a tunnel interface needs tunnel-mode SAs");
      for (std::string_view k : {"fragmentation", "tcp_mss"})
        if (st.has(k))
          st.fail(k, "this SA belongs to tunnel " + quoted(tu.name) + ": set " + std::string(k) + " on the tunnel");
      if (!sa_users_[idx].empty())
        t.fail(key, "SA " + quoted(s.name) + " is already used by " + sa_users_[idx].front() +
                        "; an SA serves one tunnel or policies, not both");
      sa_users_[idx].push_back("tunnel[" + std::to_string(i) + "] " + quoted(tu.name));
      sa_in_tunnel_[idx] = true;
    }
    const InnerFamily fam = od.inner_family;
    if (tu.mtu && *tu.mtu < 1280 && fam != InnerFamily::kV4)
      t.fail("mtu", "a tunnel carrying IPv6 needs an MTU of at least 1280 (RFC 8200 5), got " +
                        std::to_string(*tu.mtu) + "; raise it or set inner_family = \"ipv4\" on its SAs");
  }
}

// ----- [[policy]] ---------------------------------------------------------------------------

struct ProtoName {
  std::string_view name;
  uint8_t number;
};
constexpr ProtoName kProtocols[] = {{"any", 0},  {"icmp", 1}, {"igmp", 2},    {"tcp", 6},   {"udp", 17},  {"gre", 47},
                                    {"esp", 50}, {"ah", 51},  {"icmpv6", 58}, {"ospf", 89}, {"sctp", 132}};

bool has_ports(uint8_t proto) { return proto == 6 || proto == 17 || proto == 132; }

PortRange Loader::parse_port_range(const Section& t, std::string_view key) {
  PortRange r;
  const toml::node* n = t.get(key);
  if (!n) return r;
  const std::string expected = "expected \"any\", a port (80) or a range (\"1000-2000\")";
  if (n->is_integer()) {
    const auto v = static_cast<uint16_t>(*t.integer(key, 0, 65535));
    return PortRange{v, v};
  }
  if (!n->is_string()) t.fail(key, expected + ", got " + type_name(*n));
  const std::string_view s = n->as_string()->get();
  if (s == "any") return r;
  const std::size_t dash = s.find('-');
  uint64_t lo = 0;
  uint64_t hi = 0;
  if (!parse_u64(s.substr(0, dash), 10, lo) ||
      (dash != std::string_view::npos && !parse_u64(s.substr(dash + 1), 10, hi)))
    t.fail(key, expected + ", got " + quoted(s));
  if (dash == std::string_view::npos) hi = lo;
  if (lo > 65535 || hi > 65535) t.fail(key, "ports are 0..65535, got " + quoted(s));
  if (lo > hi) t.fail(key, "range " + quoted(s) + " runs backwards");
  return PortRange{static_cast<uint16_t>(lo), static_cast<uint16_t>(hi)};
}

PolicyConfig Loader::parse_policy(const Section& t) {
  PolicyConfig p;
  p.name = t.name();
  if (auto d = t.choice<PolicyDirections>(
          "direction",
          {{"out", PolicyDirections::kOut}, {"in", PolicyDirections::kIn}, {"both", PolicyDirections::kBoth}}))
    p.direction = *d;
  const auto src = t.prefix("src");
  if (!src) t.missing("src", "the source prefix (\"0.0.0.0/0\" or \"::/0\" for any)");
  const auto dst = t.prefix("dst");
  if (!dst) t.missing("dst", "the destination prefix (\"0.0.0.0/0\" or \"::/0\" for any)");
  if (src->family() != dst->family())
    t.fail("dst", "mixed families: src " + src->to_string() + " is " + std::string(family_name(src->family())) +
                      ", dst " + dst->to_string() + " is " + std::string(family_name(dst->family())) +
                      "; write one policy per family");
  p.selector.src = *src;
  p.selector.dst = *dst;

  if (const toml::node* n = t.get("proto")) {
    if (n->is_integer()) {
      p.selector.proto = static_cast<uint8_t>(*t.integer("proto", 0, 255));
    } else if (n->is_string()) {
      const std::string_view s = n->as_string()->get();
      std::vector<std::string_view> names;
      bool found = false;
      for (const ProtoName& pn : kProtocols) {
        names.push_back(pn.name);
        if (pn.name == s) {
          p.selector.proto = pn.number;
          found = true;
        }
      }
      if (!found)
        t.fail("proto", "unknown protocol " + quoted(s) + "; expected one of " + join_quoted(names) +
                            " or a protocol number 0..255" + did_you_mean(s, names));
    } else {
      t.fail("proto", "expected a protocol name or number, got " + type_name(*n));
    }
    if (p.selector.proto == 1 && p.selector.family() == IpFamily::kV6)
      t.fail("proto", "ICMP (1) in an IPv6 policy; IPv6 uses \"icmpv6\" (58)");
    if (p.selector.proto == 58 && p.selector.family() == IpFamily::kV4)
      t.fail("proto", "ICMPv6 (58) in an IPv4 policy; IPv4 uses \"icmp\" (1)");
  }
  p.selector.sport = parse_port_range(t, "sport");
  p.selector.dport = parse_port_range(t, "dport");
  for (std::string_view k : {"sport", "dport"}) {
    const PortRange& r = k == "sport" ? p.selector.sport : p.selector.dport;
    if (!r.any() && !has_ports(p.selector.proto)) t.fail(k, "port selectors need proto = \"tcp\", \"udp\" or \"sctp\"");
  }

  const auto action = t.choice<PolicyAction>(
      "action",
      {{"protect", PolicyAction::kProtect}, {"bypass", PolicyAction::kBypass}, {"discard", PolicyAction::kDiscard}});
  if (!action) t.missing("action", "\"protect\", \"bypass\" or \"discard\"");
  p.action = *action;
  if (auto s = t.string("sa")) p.sa = *s;
  for (const auto& [s, node] : t.string_list("sa_in")) p.sa_in.push_back(s);
  if (auto e = load_ike_binding(t.table(), file_, t.path(), c_.ike, {"sa", "sa_in"}, p.action == PolicyAction::kProtect,
                                false, p.peer, p.ike))
    throw LoadFailure{std::move(*e)};
  return p;
}

void Loader::check_policies() {
  std::unordered_map<std::string_view, std::size_t> by_name;
  for (std::size_t i = 0; i < c_.policies.size(); ++i) {
    const PolicyConfig& p = c_.policies[i];
    const Section& t = policy_t_[i];
    const std::string me = "policy[" + std::to_string(i) + "] " + quoted(p.name);
    if (const auto [it, fresh] = by_name.try_emplace(p.name, i); !fresh)
      t.fail("name", quoted(p.name) + " is already the name of policy[" + std::to_string(it->second) + "]");

    const bool out = p.direction != PolicyDirections::kIn;
    const bool in = p.direction != PolicyDirections::kOut;
    if (p.action != PolicyAction::kProtect) {
      for (std::string_view k : {"sa", "sa_in"})
        if (t.has(k)) t.fail(k, "only protect policies name SAs (action = " + quoted(to_string(p.action)) + ")");
      continue;
    }
    if (!p.peer.empty()) continue;  // IKE negotiates its SAs
    if (out && p.sa.empty())
      t.missing("sa", "a protect policy with direction = " + quoted(to_string(p.direction)) +
                          " names the outbound SA that encapsulates its traffic");
    if (!out && t.has("sa"))
      t.fail("sa", "an inbound-only policy names the SAs its traffic may arrive on in sa_in, not sa");
    if (in && p.sa_in.empty())
      t.missing("sa_in", "a protect policy with direction = " + quoted(to_string(p.direction)) +
                             " names the inbound SA(s) its traffic may arrive on");
    if (!in && t.has("sa_in")) t.fail("sa_in", "an outbound-only policy has no inbound SAs");

    // The SA's checks use the outbound view of the selector: src = our side.
    const IpFamily fam = p.selector.family();
    auto check_sa = [&](std::size_t idx, std::string_view key, const toml::node* at, const std::string& path) {
      const SaConfig& s = c_.sas[idx];
      const SaDescriptor& d = s.descriptor;
      auto bad = [&](const std::string& msg) {
        if (at) t.fail_at(*at, path, msg);
        t.fail(key, msg);
      };
      if (sa_in_tunnel_[idx])
        bad("SA " + quoted(s.name) + " belongs to " + sa_users_[idx].front() + "; policies cannot share it");
      if (d.mode == SaMode::kTunnel) {
        if ((d.inner_family == InnerFamily::kV4 && fam == IpFamily::kV6) ||
            (d.inner_family == InnerFamily::kV6 && fam == IpFamily::kV4))
          bad("SA " + quoted(s.name) + " carries only " +
              std::string(d.inner_family == InnerFamily::kV4 ? "IPv4" : "IPv6") +
              " (inner_family) but the selector is " + std::string(family_name(fam)));
      } else {
        // Transport mode keeps the packet's own header: the traffic must run between the SA's endpoints.
        const IpPrefix peer = host_prefix(d.remote);
        const IpPrefix ours_side = p.direction == PolicyDirections::kIn ? p.selector.src : p.selector.dst;
        if (d.remote.family() != fam || !(ours_side == peer))
          bad("SA " + quoted(s.name) + " is in transport mode: the policy's " +
              std::string(p.direction == PolicyDirections::kIn ? "src" : "dst") + " must be the peer " +
              peer.to_string() + ", got " + ours_side.to_string());
      }
      if (std::find(sa_users_[idx].begin(), sa_users_[idx].end(), me) == sa_users_[idx].end())
        sa_users_[idx].push_back(me);
    };

    std::size_t out_idx = c_.sas.size();
    if (out) {
      sa_ref(t, "sa", t.get("sa"), t.path("sa"), p.sa, SaDirection::kOutbound, out_idx);
      check_sa(out_idx, "sa", t.get("sa"), t.path("sa"));
    }
    if (in) {
      const auto list = t.string_list("sa_in");
      std::vector<std::size_t> seen;
      for (std::size_t k = 0; k < list.size(); ++k) {
        const std::string path = t.element_path("sa_in", k);
        std::size_t idx = 0;
        sa_ref(t, "sa_in", list[k].second, path, list[k].first, SaDirection::kInbound, idx);
        if (std::find(seen.begin(), seen.end(), idx) != seen.end())
          t.fail_at(*list[k].second, path, "SA " + quoted(list[k].first) + " is listed twice");
        seen.push_back(idx);
        check_sa(idx, "sa_in", list[k].second, path);
        if (out_idx < c_.sas.size()) {
          const SaDescriptor& od = c_.sas[out_idx].descriptor;
          const SaDescriptor& id = c_.sas[idx].descriptor;
          if (!(od.remote == id.remote) || !(od.local == id.local))
            t.fail_at(*list[k].second, path,
                      "SA " + quoted(list[k].first) + " runs " + id.local.to_string() + " <- " + id.remote.to_string() +
                          " but sa " + quoted(p.sa) + " runs " + od.local.to_string() + " -> " + od.remote.to_string() +
                          "; both directions of a policy go to one peer");
        }
      }
    }
  }
}

// ----- [[route]], [[neighbor]] --------------------------------------------------------------

RouteConfig Loader::parse_route(const Section& t) {
  RouteConfig r;
  const auto prefix = t.prefix("prefix");
  if (!prefix) t.missing("prefix", "the destination prefix (\"0.0.0.0/0\" for the default route)");
  r.prefix = *prefix;
  r.via = t.address("via");
  if (auto p = t.string("port")) r.port = *p;
  if (auto n = t.string("tunnel")) r.tunnel = *n;
  const bool blackhole = t.boolean("blackhole").value_or(false);
  if (!r.tunnel.empty()) {
    r.kind = RouteKind::kTunnel;
    for (std::string_view k : {"via", "port"})
      if (t.has(k)) t.fail(k, "a route into a tunnel takes no " + std::string(k));
    if (blackhole) t.fail("blackhole", "a route is either into a tunnel or a blackhole");
  } else if (blackhole) {
    r.kind = RouteKind::kBlackhole;
    for (std::string_view k : {"via", "port"})
      if (t.has(k)) t.fail(k, "a blackhole route takes no " + std::string(k));
  } else {
    r.kind = RouteKind::kNextHop;
    if (!r.via && r.port.empty())
      t.fail_table("a route needs via (a gateway) and/or port, or tunnel, or blackhole = true");
  }
  if (r.via && r.via->family() != r.prefix.family())
    t.fail("via", r.via->to_string() + " is " + std::string(family_name(r.via->family())) + " but prefix " +
                      r.prefix.to_string() + " is " + std::string(family_name(r.prefix.family())));
  return r;
}

void Loader::check_routes() {
  std::vector<std::string_view> ports;
  std::vector<std::string_view> tunnels;
  for (const auto& p : c_.ports) ports.push_back(p.name);
  for (const auto& tu : c_.tunnels) tunnels.push_back(tu.name);
  for (std::size_t i = 0; i < c_.routes.size(); ++i) {
    RouteConfig& r = c_.routes[i];
    const Section& t = route_t_[i];
    for (std::size_t j = 0; j < i; ++j)
      if (c_.routes[j].prefix == r.prefix)
        t.fail("prefix", r.prefix.to_string() + " is already routed by route[" + std::to_string(j) + "]");
    for (const PortConfig& p : c_.ports)
      for (const auto* list : {&p.ipv4, &p.ipv6})
        for (const InterfaceAddress& ia : *list)
          if (ia.subnet() == r.prefix)
            t.fail("prefix", r.prefix.to_string() + " is the connected subnet of port " + quoted(p.name));

    if (r.kind == RouteKind::kTunnel) {
      const TunnelConfig* tu = c_.find_tunnel(r.tunnel);
      if (!tu) t.fail("tunnel", "unknown tunnel " + quoted(r.tunnel) + did_you_mean(r.tunnel, tunnels));
      const SaConfig* tsa = c_.find_sa(tu->sa_out);  // none for a tunnel negotiated with IKE
      const InnerFamily fam = tsa ? tsa->descriptor.inner_family : InnerFamily::kAny;
      if ((fam == InnerFamily::kV4 && !r.prefix.address().is_v4()) ||
          (fam == InnerFamily::kV6 && r.prefix.address().is_v4()))
        t.fail("prefix", r.prefix.to_string() + " is " + std::string(family_name(r.prefix.family())) + " but tunnel " +
                             quoted(tu->name) + " carries only " +
                             std::string(fam == InnerFamily::kV4 ? "IPv4" : "IPv6") + " (its SA's inner_family)");
      continue;
    }
    if (r.kind != RouteKind::kNextHop) continue;
    const PortConfig* port = nullptr;
    if (!r.port.empty()) {
      port = c_.find_port(r.port);
      if (!port) {
        const std::string hint = did_you_mean(r.port, ports);
        t.fail("port", "unknown port " + quoted(r.port) +
                           (hint.empty() && c_.find_tunnel(r.port)
                                ? "; " + quoted(r.port) + " is a tunnel: write tunnel = " + quoted(r.port)
                                : hint));
      }
    }
    if (r.via) {
      if (is_our_address(*r.via)) t.fail("via", r.via->to_string() + " is one of our own addresses");
      const PortConfig* link = on_link_port(*r.via, port);
      if (!link) {
        if (port)
          t.fail("via", r.via->to_string() + " is not inside any subnet of port " + quoted(port->name) +
                            "; the gateway must be on-link");
        t.fail("via", r.via->to_string() + " is not inside any port's subnet; the gateway must be on-link");
      }
      r.port = link->name;
    }
  }
}

NeighborConfig Loader::parse_neighbor(const Section& t) {
  NeighborConfig n;
  const auto ip = t.address("ip");
  if (!ip) t.missing("ip", "the neighbour's IPv4 or IPv6 address");
  const auto mac = t.mac("mac");
  if (!mac) t.missing("mac", "the neighbour's MAC address");
  n.ip = *ip;
  n.mac = *mac;
  n.port = t.required_string("port", "the port the neighbour is on");
  return n;
}

void Loader::check_neighbors() {
  std::vector<std::string_view> ports;
  for (const auto& p : c_.ports) ports.push_back(p.name);
  for (std::size_t i = 0; i < c_.neighbors.size(); ++i) {
    const NeighborConfig& n = c_.neighbors[i];
    const Section& t = neighbor_t_[i];
    const PortConfig* port = c_.find_port(n.port);
    if (!port) t.fail("port", "unknown port " + quoted(n.port) + did_you_mean(n.port, ports));
    if (is_our_address(n.ip)) t.fail("ip", n.ip.to_string() + " is one of our own addresses");
    if (!on_link_port(n.ip, port))
      t.fail("ip", n.ip.to_string() + " is not inside any subnet of port " + quoted(port->name));
    for (std::size_t j = 0; j < i; ++j)
      if (c_.neighbors[j].ip == n.ip && c_.neighbors[j].port == n.port)
        t.fail("ip",
               n.ip.to_string() + " on port " + quoted(n.port) + " is already neighbor[" + std::to_string(j) + "]");
  }
}

void Loader::check_sa_usage() {
  for (std::size_t i = 0; i < c_.sas.size(); ++i) {
    if (!sa_users_[i].empty()) continue;
    const bool inbound = c_.sas[i].descriptor.direction == SaDirection::kInbound;
    sa_t_[i].fail_table(std::string("SA ") + quoted(c_.sas[i].name) + " is used by no " +
                        (inbound ? "policy's sa_in and no tunnel's sa_in: every packet it decapsulated would fail the "
                                   "inbound policy check"
                                 : "policy's sa and no tunnel's sa_out: nothing would be sent on it"));
  }
}

// ----- the whole document -------------------------------------------------------------------

Config Loader::load(const toml::table& root) {
  check_sections(root);
  std::optional<Section> daemon;
  std::optional<Section> eal;
  if (const toml::table* t = single(root, "daemon")) {
    daemon.emplace(*this, *t, "daemon",
                   std::vector<std::string_view>{"log_level", "control_socket", "control_socket_group", "workers",
                                                 "main_lcore", "mbufs", "worker_idle_sleep_us"});
    parse_daemon(*daemon, c_.daemon);
  }
  if (const toml::table* t = single(root, "eal")) {
    eal.emplace(*this, *t, "eal", std::vector<std::string_view>{"args"});
    parse_eal(*eal, c_.eal);
  }
  if (const toml::table* t = single(root, "spd")) parse_spd(Section(*this, *t, "spd", {"default_action"}), c_.spd);
  if (const toml::table* t = single(root, "fragmentation"))
    parse_fragmentation(Section(*this, *t, "fragmentation",
                                {"reassembly_packets", "reassembly_fragments", "reassembly_timeout_ms", "icmp_rate",
                                 "icmp_burst"}),
                        c_.fragmentation);

  auto elements = [&](std::string_view name, std::vector<std::string_view> keys, std::vector<Section>& out) {
    const auto tables = array(root, name);
    for (std::size_t i = 0; i < tables.size(); ++i)
      out.emplace_back(*this, *tables[i], indexed(std::string(name), i), keys);
  };
  elements("port",
           {"name", "device", "role", "mtu", "ipv4", "ipv6", "mac", "rx_queues", "tx_queues", "rx_desc", "tx_desc"},
           port_t_);
  elements("sa", kSaKeys, sa_t_);
  elements("tunnel",
           {"name", "sa_out", "sa_in", "local", "remote", "mtu", "tcp_mss", "fragmentation", "peer", "overrides"},
           tunnel_t_);
  elements("policy",
           {"name", "direction", "src", "dst", "proto", "sport", "dport", "action", "sa", "sa_in", "peer", "overrides"},
           policy_t_);
  elements("route", {"prefix", "via", "port", "tunnel", "blackhole"}, route_t_);
  elements("neighbor", {"ip", "mac", "port"}, neighbor_t_);

  for (const Section& t : port_t_) c_.ports.push_back(parse_port(t));
  check_ports();
  if (auto e = load_ike_sections(root, file_, c_.ports, c_.ike)) throw LoadFailure{std::move(*e)};
  check_eal(eal ? &*eal : nullptr);
  for (const Section& t : sa_t_) c_.sas.push_back(parse_sa(t));
  sa_users_.assign(c_.sas.size(), {});
  sa_in_tunnel_.assign(c_.sas.size(), false);
  check_sas();
  for (const Section& t : tunnel_t_) c_.tunnels.push_back(parse_tunnel(t));
  check_tunnels();
  for (const Section& t : policy_t_) c_.policies.push_back(parse_policy(t));
  check_policies();
  check_sa_usage();
  for (const Section& t : route_t_) c_.routes.push_back(parse_route(t));
  check_routes();
  for (const Section& t : neighbor_t_) c_.neighbors.push_back(parse_neighbor(t));
  check_neighbors();
  return std::move(c_);
}

/// Overwrites every secret string (encr_key, integ_key, ...) left in the parsed document.
void wipe_secrets(toml::node& n, std::string_view key) {
  if (auto* s = n.as_string()) {
    if (secret_key_name(key)) {
      std::string& v = s->get();
      secure_wipe(v.data(), v.size());
    }
  } else if (auto* t = n.as_table()) {
    for (auto&& [k, v] : *t) wipe_secrets(v, k.str());
  } else if (auto* a = n.as_array()) {
    for (auto& e : *a) wipe_secrets(e, key);
  }
}

/// toml++ quotes the offending text in some messages; on a line that sets a secret, drop the quotes.
std::string redacted_parse_error(std::string_view text, const toml::parse_error& e) {
  std::string desc(e.description());
  const uint32_t line = e.source().begin.line;
  std::size_t start = 0;
  for (uint32_t l = 1; l < line && start != std::string_view::npos; ++l) {
    start = text.find('\n', start);
    if (start != std::string_view::npos) ++start;
  }
  if (start == std::string_view::npos) start = text.size();
  std::string_view line_text = text.substr(start, text.find('\n', start) - start);
  std::string_view key = line_text.substr(0, line_text.find('='));
  while (!key.empty() && (key.front() == ' ' || key.front() == '\t' || key.front() == '"')) key.remove_prefix(1);
  while (!key.empty() && (key.back() == ' ' || key.back() == '\t' || key.back() == '"')) key.remove_suffix(1);
  if (const std::size_t dot = key.rfind('.'); dot != std::string_view::npos) key.remove_prefix(dot + 1);
  const bool secret_line = secret_key_name(key);
  // Drop each '...' quote of a secret line, and any quote elsewhere that looks like key material.
  std::string out;
  std::size_t i = 0;
  while (i < desc.size()) {
    const std::size_t open = desc.find('\'', i);
    const std::size_t close = open == std::string::npos ? std::string::npos : desc.find('\'', open + 1);
    if (close == std::string::npos) {
      out += desc.substr(i);
      break;
    }
    const std::string_view inner = std::string_view(desc).substr(open + 1, close - open - 1);
    out += desc.substr(i, open - i);
    out += secret_line || looks_like_key_material(inner) ? std::string("'<value not shown>'")
                                                         : desc.substr(open, close - open + 1);
    i = close + 1;
  }
  return out;
}

ConfigResult load_text(std::string_view text, std::string_view source_name) {
  const std::string file(source_name);
  toml::table root;
  try {
    root = toml::parse(text, std::string_view(file));
  } catch (const toml::parse_error& e) {
    return ConfigError{file, e.source().begin.line, e.source().begin.column, "", redacted_parse_error(text, e)};
  }
  struct Wiper {
    toml::table& t;
    ~Wiper() { wipe_secrets(t, ""); }
  } wiper{root};
  try {
    return Loader(file).load(root);
  } catch (const LoadFailure& f) {
    return f.error;
  }
}

}  // namespace

ConfigResult load_config_file(const std::string& path) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) return ConfigError{path, 0, 0, "", std::string("cannot open: ") + std::strerror(errno)};
  std::string text;
  char buf[4096];
  std::size_t n = 0;
  while ((n = std::fread(buf, 1, sizeof(buf), f)) > 0) text.append(buf, n);
  const bool failed = std::ferror(f) != 0;
  const int err = errno;
  std::fclose(f);
  secure_wipe(buf, sizeof(buf));
  if (failed) {
    secure_wipe(text.data(), text.size());
    return ConfigError{path, 0, 0, "", std::string("cannot read: ") + std::strerror(err)};
  }
  ConfigResult r = load_text(text, path);
  secure_wipe(text.data(), text.size());  // the file holds the SA keys
  return r;
}

ConfigResult load_config_string(std::string_view text, std::string_view source_name) {
  return load_text(text, source_name);
}

// ---------------------------------------------------------------------------------------------
// Conversions
// ---------------------------------------------------------------------------------------------

SaDescriptor to_descriptor(const SaConfig& sa) { return sa.descriptor; }

std::vector<NamedPolicyRule> expand_policies(const Config& config) {
  std::vector<NamedPolicyRule> out;
  for (std::size_t i = 0; i < config.policies.size(); ++i) {
    const PolicyConfig& p = config.policies[i];
    if (p.direction != PolicyDirections::kIn) {
      NamedPolicyRule r;
      r.rule.name = p.name;
      r.rule.direction = PolicyDirection::kOutbound;
      r.rule.selector = p.selector;
      r.rule.action = p.action;
      r.sa = p.sa;
      r.policy_index = i;
      out.push_back(std::move(r));
    }
    if (p.direction != PolicyDirections::kOut) {
      NamedPolicyRule r;
      r.rule.name = p.name;
      r.rule.direction = PolicyDirection::kInbound;
      r.rule.selector = p.selector;
      if (p.direction == PolicyDirections::kBoth) {  // written as outbound: mirror it
        std::swap(r.rule.selector.src, r.rule.selector.dst);
        std::swap(r.rule.selector.sport, r.rule.selector.dport);
      }
      r.rule.action = p.action;
      r.sa_in = p.sa_in;
      r.policy_index = i;
      out.push_back(std::move(r));
    }
  }
  return out;
}

std::variant<std::vector<PolicyRule>, std::string> to_policy_rules(const std::vector<NamedPolicyRule>& rules,
                                                                   const SaIndexMap& sa_index) {
  std::vector<PolicyRule> out;
  out.reserve(rules.size());
  for (const NamedPolicyRule& r : rules) {
    PolicyRule rule = r.rule;
    if (rule.action == PolicyAction::kProtect && rule.direction == PolicyDirection::kOutbound) {
      const auto it = sa_index.find(r.sa);
      if (it == sa_index.end()) return "policy " + quoted(rule.name) + ": SA " + quoted(r.sa) + " has no SAD slot";
      rule.sa_index = it->second;
    }
    out.push_back(std::move(rule));
  }
  return out;
}

std::vector<TrafficSelector> tunnel_selectors(const Config& config, const TunnelConfig& tunnel) {
  InnerFamily fam = InnerFamily::kAny;
  if (const SaConfig* sa = config.find_sa(tunnel.sa_out)) fam = sa->descriptor.inner_family;
  std::vector<TrafficSelector> out;
  for (IpFamily f : {IpFamily::kV4, IpFamily::kV6}) {
    if ((fam == InnerFamily::kV4 && f != IpFamily::kV4) || (fam == InnerFamily::kV6 && f != IpFamily::kV6)) continue;
    TrafficSelector ts;
    ts.src = IpPrefix::any(f);
    ts.dst = IpPrefix::any(f);
    out.push_back(ts);
  }
  return out;
}

}  // namespace esprit
