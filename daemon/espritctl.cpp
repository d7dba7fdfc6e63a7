// espritctl: the operator's command line for a running espritd, over its control socket.
//   espritctl [--socket PATH] [--json] [--all] show counters|ports|sa|policy|routes|neighbors|drops|version
//   espritctl [--socket PATH] clear counters
// It sends one JSON request line and prints the answer as aligned tables, or with --json the
// result as JSON (for scripts). The protocol is in control/include/esprit/control/control_socket.hpp;
// the commands and every counter are documented in docs/operations.md.
#include <errno.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <boost/program_options.hpp>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "esprit/common/config.hpp"  // kDefaultControlSocket

namespace po = boost::program_options;
using nlohmann::json;

namespace {

[[noreturn]] void fail(const std::string& msg, int code = 1) {
  std::fprintf(stderr, "espritctl: %s\n", msg.c_str());
  std::exit(code);
}

// ---- the socket

std::string request(const std::string& path, const std::string& line, int timeout_ms) {
  sockaddr_un sa{};
  sa.sun_family = AF_UNIX;
  if (path.empty() || path.size() >= sizeof sa.sun_path)
    fail("socket path must be 1 to " + std::to_string(sizeof sa.sun_path - 1) + " bytes", 2);
  std::memcpy(sa.sun_path, path.data(), path.size());
  const int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) fail(std::string("socket: ") + std::strerror(errno));
  if (connect(fd, reinterpret_cast<const sockaddr*>(&sa), sizeof sa) != 0) {
    const int e = errno;
    std::string why = std::strerror(e);
    if (e == ENOENT || e == ECONNREFUSED)
      fail("cannot connect to " + path + ": " + why + ": is espritd running? (--socket PATH, [daemon] control_socket)");
    if (e == EACCES) fail("cannot connect to " + path + ": " + why + " (the socket is for root or its group)");
    fail("cannot connect to " + path + ": " + why);
  }
  std::size_t off = 0;
  while (off < line.size()) {
    const ssize_t n = send(fd, line.data() + off, line.size() - off, MSG_NOSIGNAL);
    if (n < 0) fail(std::string("send: ") + std::strerror(errno));
    off += static_cast<std::size_t>(n);
  }
  std::string in;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) fail("no answer from espritd within " + std::to_string(timeout_ms / 1000) + " s");
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left.count())) < 0 && errno != EINTR)
      fail(std::string("poll: ") + std::strerror(errno));
    char buf[65536];
    const ssize_t n = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
    if (n == 0) fail("espritd closed the connection without an answer");
    if (n < 0) {
      if (errno == EAGAIN || errno == EINTR) continue;
      fail(std::string("recv: ") + std::strerror(errno));
    }
    in.append(buf, static_cast<std::size_t>(n));
    if (const auto nl = in.find('\n'); nl != std::string::npos) {
      close(fd);
      return in.substr(0, nl);
    }
  }
}

// ---- formatting

std::string num(const json& v) {
  if (v.is_number_unsigned()) return std::to_string(v.get<uint64_t>());
  if (v.is_number_integer()) return std::to_string(v.get<int64_t>());
  if (v.is_number_float()) {
    char b[32];
    std::snprintf(b, sizeof b, "%.1f", v.get<double>());
    return b;
  }
  if (v.is_boolean()) return v.get<bool>() ? "yes" : "no";
  if (v.is_string()) return v.get<std::string>();
  if (v.is_null()) return "-";
  return v.dump();
}

std::string str(const json& j, const char* key) { return j.contains(key) ? num(j[key]) : "-"; }

/// A text table: columns padded to their widest cell; numbers right-aligned.
class Table {
 public:
  explicit Table(std::vector<std::string> head) : head_(std::move(head)), right_(head_.size(), false) {}
  Table& right(std::initializer_list<std::size_t> cols) {
    for (std::size_t c : cols) right_[c] = true;
    return *this;
  }
  void row(std::vector<std::string> r) {
    r.resize(head_.size());
    rows_.push_back(std::move(r));
  }
  [[nodiscard]] bool empty() const { return rows_.empty(); }
  void print(const std::string& indent = "") const {
    std::vector<std::size_t> w(head_.size());
    for (std::size_t c = 0; c < head_.size(); ++c) {
      w[c] = head_[c].size();
      for (const auto& r : rows_) w[c] = std::max(w[c], r[c].size());
    }
    auto line = [&](const std::vector<std::string>& r) {
      std::string s = indent;
      for (std::size_t c = 0; c < r.size(); ++c) {
        const std::size_t pad = w[c] - r[c].size();
        if (right_[c]) s += std::string(pad, ' ') + r[c];
        else s += r[c] + (c + 1 < r.size() ? std::string(pad, ' ') : "");
        if (c + 1 < r.size()) s += "  ";
      }
      while (!s.empty() && s.back() == ' ') s.pop_back();
      std::puts(s.c_str());
    };
    line(head_);
    for (const auto& r : rows_) line(r);
  }

 private:
  std::vector<std::string> head_;
  std::vector<bool> right_;
  std::vector<std::vector<std::string>> rows_;
};

void since_line(const json& r, const char* what) {
  std::printf("%s since %s (%s, %s s ago)\n", what, r.value("since", "start") == "clear" ? "clear counters" : "start",
              r.value("since_time", "?").c_str(), num(r.value("seconds", json(0.0))).c_str());
}

std::string proto_name(unsigned p) {
  switch (p) {
    case 0: return "any";
    case 1: return "icmp";
    case 6: return "tcp";
    case 17: return "udp";
    case 50: return "esp";
    case 58: return "icmpv6";
    case 132: return "sctp";
    default: return std::to_string(p);
  }
}

std::string hex_spi(const json& v) {
  char b[16];
  std::snprintf(b, sizeof b, "0x%08x", v.get<uint32_t>());
  return b;
}

/// "name value, name value" for the non-zero entries of an object of counters.
std::string nonzero(const json& obj) {
  std::string s;
  for (auto it = obj.begin(); it != obj.end(); ++it)
    if (it->is_number() && it->get<uint64_t>() != 0) {
      if (!s.empty()) s += ", ";
      s += it.key() + " " + num(*it);
    }
  return s.empty() ? "none" : s;
}

void show_counters(const json& r) {
  since_line(r, "Counters");
  std::puts("\nPorts (NIC statistics)");
  Table p({"PORT", "RX-PACKETS", "TX-PACKETS", "RX-BYTES", "TX-BYTES", "RX-ERRORS", "TX-ERRORS", "RX-MISSED", "RX-NOMBUF"});
  p.right({1, 2, 3, 4, 5, 6, 7, 8});
  for (const auto& x : r["ports"])
    p.row({str(x, "name"), str(x, "ipackets"), str(x, "opackets"), str(x, "ibytes"), str(x, "obytes"),
           str(x, "ierrors"), str(x, "oerrors"), str(x, "imissed"), str(x, "rx_nombuf")});
  p.print("  ");
  std::puts("\nWorkers");
  Table w({"WORKER", "LCORE", "RX", "TX", "PUNTED", "ENCAP", "DECAP", "BYPASS", "DROPPED"});
  w.right({1, 2, 3, 4, 5, 6, 7, 8});
  auto wrow = [&](const std::string& id, const std::string& lcore, const json& x) {
    w.row({id, lcore, str(x, "rx"), str(x, "tx"), str(x, "punted"), str(x, "encapsulated"), str(x, "decapsulated"),
           str(x, "bypassed"), str(x, "dropped")});
  };
  for (const auto& x : r["workers"]) wrow(str(x, "id"), str(x, "lcore"), x);
  wrow("total", "", r["total"]);
  w.print("  ");
  std::puts("\nWorker drops (non-zero; every reason: espritctl show drops)");
  Table d({"WORKER", "REASON", "COUNT"});
  d.right({2});
  for (const auto& x : r["workers"])
    for (auto it = x["drops"].begin(); it != x["drops"].end(); ++it)
      if (it->get<uint64_t>()) d.row({str(x, "id"), it.key(), num(*it)});
  if (d.empty()) std::puts("  none");
  else d.print("  ");
  const json& e = r["esp"];
  std::printf("\nESP (all SAs): packets %s, bytes %s, dropped %s (per SA: espritctl show sa)\n", str(e, "packets").c_str(),
              str(e, "bytes").c_str(), str(e, "dropped").c_str());
  const json& t = r["total"];
  std::printf("Fragmentation and ICMP (workers): fragmented %s into %s fragments, reassembled %s, MSS clamped %s, "
              "ICMP errors sent %s, suppressed %s; ESP handed to the SA's owner %s\n",
              str(t, "fragmented").c_str(), str(t, "fragments").c_str(), str(t, "reassembled").c_str(),
              str(t, "mss_clamped").c_str(), str(t, "icmp_sent").c_str(), str(t, "icmp_suppressed").c_str(),
              str(t, "handed_off").c_str());
  std::printf("Neighbour resolution (workers): %s\n", nonzero(r["total"]["neighbor"]).c_str());
  std::printf("Neighbour table (control core): %s\n", nonzero(r["neighbor"]).c_str());
  std::printf("Control core: %s\n", nonzero(r["control"]).c_str());
  if (r.contains("ike")) {
    const json& k = r["ike"];
    std::printf("IKE transport (UDP 500/4500): %s", nonzero(k).c_str());
    if (k.value("dropped", uint64_t{0}) != 0) std::printf("; drops: %s", nonzero(k["drops"]).c_str());
    std::printf("\n");
  }
}

void show_ports(const json& r) {
  Table t({"PORT", "ID", "ROLE", "DEVICE", "MAC", "MTU", "LINK", "RXQ", "TXQ", "ADDRESSES"});
  t.right({1, 5, 7, 8});
  for (const auto& x : r["ports"]) {
    std::string addrs;
    for (const auto& a : x["addresses"]) {
      if (!addrs.empty()) addrs += " ";
      addrs += a.get<std::string>();
    }
    std::string link = x.value("link_up", false) ? "up" : "down";
    if (x.value("link_up", false) && x.value("link_speed_mbps", 0u)) link += " " + num(x["link_speed_mbps"]) + "M";
    const std::string txq = str(x, "tx_queues") + (x.value("control_tx_queue", false) ? "+1" : "");
    t.row({str(x, "name"), str(x, "id"), str(x, "role"), str(x, "device"), str(x, "mac"), str(x, "mtu"), link,
           str(x, "rx_queues"), txq, addrs.empty() ? "-" : addrs});
  }
  t.print();
  std::puts("");
  since_line(r, "Statistics");
  Table s({"PORT", "RX-PACKETS", "TX-PACKETS", "RX-BYTES", "TX-BYTES", "RX-ERRORS", "TX-ERRORS", "RX-MISSED", "RX-NOMBUF"});
  s.right({1, 2, 3, 4, 5, 6, 7, 8});
  for (const auto& x : r["ports"])
    s.row({str(x, "name"), str(x, "ipackets"), str(x, "opackets"), str(x, "ibytes"), str(x, "obytes"),
           str(x, "ierrors"), str(x, "oerrors"), str(x, "imissed"), str(x, "rx_nombuf")});
  s.print();
}

void show_sa(const json& r, bool all) {
  since_line(r, "Counters");
  if (r["sas"].empty()) std::puts("\nno SA installed");
  for (const auto& x : r["sas"]) {
    const bool out = x.value("direction", "") == "outbound";
    std::printf("\nSA \"%s\" (slot %s)%s\n", x.value("name", "").c_str(), str(x, "slot").c_str(),
                x.contains("tunnel") ? (" tunnel " + x["tunnel"].get<std::string>()).c_str() : "");
    std::printf("   %s esp sa: spi %s (%s)   mode %s\n", out ? "outbound" : "inbound", hex_spi(x["spi"]).c_str(),
                str(x, "spi").c_str(), str(x, "mode").c_str());
    std::printf("   local %s   peer %s%s\n", str(x, "local").c_str(), str(x, "peer").c_str(),
                x.contains("natt") && !x["natt"].is_null()
                    ? ("   nat-t udp " + num(x["natt"]["local_port"]) + "/" + num(x["natt"]["remote_port"])).c_str()
                    : "");
    std::printf("   transform %s, integrity %s, esn %s", str(x, "encr").c_str(), str(x, "integ").c_str(),
                str(x, "esn").c_str());
    if (!out) std::printf(", anti-replay %s (window %s)", str(x, "anti_replay").c_str(), str(x, "replay_window").c_str());
    std::printf("\n");
    std::printf("   #pkts %s: %s, #bytes %s: %s", out ? "encaps" : "decaps", str(x, "packets").c_str(),
                out ? "encaps" : "decaps", str(x, "bytes").c_str());
    if (out) std::printf(", sequence %s", str(x, "sequence").c_str());
    std::printf("\n   lifetime: %s packets, %s bytes%s\n", str(x, "lifetime_packets").c_str(),
                str(x, "lifetime_bytes").c_str(),
                x.value("hard_expired", false) ? " (hard limit reached)"
                                               : x.value("soft_expired", false) ? " (soft limit reached)" : "");
    std::printf("   #pkts dropped: %s\n", str(x, "dropped").c_str());
    for (auto it = x["drops"].begin(); it != x["drops"].end(); ++it)
      if (all || it->get<uint64_t>()) std::printf("      %-18s %s\n", it.key().c_str(), num(*it).c_str());
  }
}

void show_policy(const json& r) {
  since_line(r, "Hits");
  for (const char* dir : {"outbound", "inbound"}) {
    const json& d = r[dir];
    std::printf("\n%s policies (first match wins; unmatched: %s)\n", dir, str(d, "default_action").c_str());
    Table t({"#", "NAME", "ACTION", "SRC", "DST", "PROTO", "SPORT", "DPORT", "SA", "HITS"});
    t.right({0, 9});
    for (const auto& x : d["rules"])
      t.row({str(x, "index"), str(x, "name"), str(x, "action"), str(x, "src"), str(x, "dst"),
             proto_name(x.value("proto", 0u)), str(x, "sport"), str(x, "dport"), str(x, "sa"), str(x, "hits")});
    t.row({"", "(default)", str(d, "default_action"), "", "", "", "", "", "", str(d, "default_hits")});
    t.row({"", "(not IP)", "discard", "", "", "", "", "", "", str(d, "invalid_hits")});
    t.print("  ");
  }
}

void show_routes(const json& r) {
  Table t({"PREFIX", "KIND", "VIA", "PORT", "TUNNEL"});
  for (const auto& x : r["routes"])
    t.row({str(x, "prefix"), str(x, "kind"), str(x, "via"), str(x, "port"), str(x, "tunnel")});
  t.print();
}

void show_neighbors(const json& r) {
  Table t({"PORT", "ADDRESS", "MAC", "STATE", "AGE(S)", "PROBES", "HELD"});
  t.right({4, 5, 6});
  for (const auto& x : r["neighbors"])
    t.row({str(x, "port"), str(x, "ip"), str(x, "mac"), str(x, "state"), str(x, "age_seconds"), str(x, "probes"),
           str(x, "held")});
  t.print();
  std::printf("%zu entr%s, %s packet(s) held\n", r["neighbors"].size(), r["neighbors"].size() == 1 ? "y" : "ies",
              str(r, "held_packets").c_str());
}

void show_drops(const json& r, bool all) {
  since_line(r, "Drops");
  Table t({"LAYER", "REASON", "COUNT", "MEANING"});
  t.right({2});
  std::size_t zero = 0;
  for (const auto& x : r["drops"]) {
    if (!all && x.value("count", uint64_t{0}) == 0) {
      ++zero;
      continue;
    }
    t.row({str(x, "layer"), str(x, "name"), str(x, "count"), str(x, "description")});
  }
  if (t.empty()) std::puts("no drops");
  else t.print();
  if (zero) std::printf("(%zu other reasons at zero; --all lists them)\n", zero);
}

void show_version(const json& r) {
  std::string lcores;
  for (const auto& l : r["worker_lcores"]) {
    if (!lcores.empty()) lcores += ",";
    lcores += num(l);
  }
  std::printf("espritd %s (pid %s), DPDK %s, Intel IPsec-MB %s\n", str(r, "version").c_str(), str(r, "pid").c_str(),
              str(r, "dpdk").c_str(), str(r, "ipsec_mb").c_str());
  std::printf("started %s, up %s s\n", str(r, "started").c_str(), str(r, "uptime_seconds").c_str());
  std::printf("main lcore %s, %s worker(s) on lcore(s) %s, log level %s\n", str(r, "main_lcore").c_str(),
              str(r, "workers").c_str(), lcores.c_str(), str(r, "log_level").c_str());
  std::printf("control socket %s\n", str(r, "control_socket").c_str());
}

}  // namespace

int main(int argc, char** argv) {
  po::options_description desc(
      "usage: espritctl [options] COMMAND\n"
      "commands:\n"
      "  show counters | ports | sa | policy | routes | neighbors | drops | version\n"
      "  clear counters\n"
      "  show ikev2 sa | child-sa | statistics [PEER]\n"
      "  clear ikev2 sa [PEER]\n"
      "  initiate PEER\n"
      "options");
  std::string socket_path{esprit::kDefaultControlSocket};
  double timeout = 10;
  desc.add_options()("help,h", "this help")("socket,s", po::value(&socket_path),
                                            "espritd's control socket ([daemon] control_socket)")(
      "json,j", "print the result as JSON")("all,a", "list counters at zero too (show drops, show sa)")(
      "timeout", po::value(&timeout)->default_value(10), "seconds to wait for the answer");
  po::options_description hidden;
  hidden.add_options()("words", po::value<std::vector<std::string>>(), "");
  po::options_description all_opts;
  all_opts.add(desc).add(hidden);
  po::positional_options_description pos;
  pos.add("words", -1);
  po::variables_map vm;
  try {
    po::store(po::command_line_parser(argc, argv).options(all_opts).positional(pos).run(), vm);
    po::notify(vm);
  } catch (const po::error& e) {
    fail(std::string(e.what()) + "\ntry espritctl --help", 2);
  }
  if (vm.count("help") || !vm.count("words")) {
    std::cout << desc << "\n";
    return vm.count("help") ? 0 : 2;
  }
  std::string command;
  for (const auto& w : vm["words"].as<std::vector<std::string>>()) {
    if (!command.empty()) command += " ";
    command += w;
  }
  // Short forms operators type: "show neighbours", "show route", "show policies".
  if (command == "show neighbours" || command == "show neighbor" || command == "show arp") command = "show neighbors";
  if (command == "show route") command = "show routes";
  if (command == "show policies" || command == "show spd") command = "show policy";
  if (command == "show port") command = "show ports";
  if (command == "show counter") command = "show counters";
  if (command == "show sas" || command == "show crypto ipsec sa") command = "show sa";
  if (command == "clear counter") command = "clear counters";

  if (command == "show ike sa" || command == "show ikev2 sas") command = "show ikev2 sa";
  if (command == "show ikev2 stats") command = "show ikev2 statistics";
  // IKE commands take a peer name as their last word.
  json args = json::object();
  {
    const auto& words = vm["words"].as<std::vector<std::string>>();
    const bool with_peer = (words.size() == 2 && words[0] == "initiate") ||
                           (words.size() == 4 && words[0] == "clear" && words[1] == "ikev2" && words[2] == "sa") ||
                           (words.size() == 4 && words[0] == "show" && words[1] == "ikev2" && words[2] == "statistics");
    if (with_peer) {
      args["peer"] = words.back();
      command = command.substr(0, command.size() - words.back().size() - 1);
    }
  }
  json req{{"command", command}};
  if (!args.empty()) req["args"] = args;
  const std::string answer = request(socket_path, req.dump() + "\n", static_cast<int>(timeout * 1000));
  const json resp = json::parse(answer, nullptr, false);
  if (resp.is_discarded() || !resp.is_object()) fail("espritd answered something that is not JSON: " + answer.substr(0, 200));
  if (!resp.value("ok", false)) fail("espritd: " + resp.value("error", std::string("unknown error")));
  const json& r = resp["result"];
  if (vm.count("json")) {
    std::puts(r.dump(2).c_str());
    return 0;
  }
  const bool all = vm.count("all") != 0;
  try {
    if (command == "show counters") show_counters(r);
    else if (command == "show ports") show_ports(r);
    else if (command == "show sa") show_sa(r, all);
    else if (command == "show policy") show_policy(r);
    else if (command == "show routes") show_routes(r);
    else if (command == "show neighbors") show_neighbors(r);
    else if (command == "show drops") show_drops(r, all);
    else if (command == "show version") show_version(r);
    else if (command == "clear counters") std::printf("counters cleared at %s\n", str(r, "since_time").c_str());
    else if (r.is_object() && r.contains("text") && r["text"].is_string()) {
      // IKE commands: the daemon's text (NEC layout)
      const std::string t = r["text"].get<std::string>();
      std::fputs(t.c_str(), stdout);
      if (!t.empty() && t.back() != '\n') std::fputc('\n', stdout);
    }
    else std::puts(r.dump(2).c_str());  // a command this espritctl has no table for (e.g. added by IKE)
  } catch (const json::exception& e) {
    fail(std::string("unexpected answer from espritd (") + e.what() + "); --json shows it");
  }
  return 0;
}
