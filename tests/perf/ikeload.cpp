// esprit-ikeload: an IKEv2 load generator (issue 4). Opens N IKE SAs, each with its first Child SA
// (IKE_SA_INIT + IKE_AUTH, PSK), against a responder over a kernel UDP socket, with at most C setups
// in flight, and prints setups/s, latency percentiles, failures by reason and its own CPU time.
// Each SA is Esprit's IkeSa initiator (control/ike/sa) with OpenSSL's RNG and the steady clock; SA i
// authenticates as the local ID pattern with %u replaced by i and proposes host i of the TS base
// (10.200.0.0/14 by default) as TSi and the responder's net as TSr. docs/performance.md "IKE setup rate".
//
//   esprit-ikeload --target 10.99.0.1 --count 1000 --concurrency 64 --proposal gcm --psk SECRET
//       --remote-ts 10.10.1.0/24 [--hold | --hold-seconds S]
//
// A setup counts as done only when the IKE_AUTH response installed a Child SA; a notify, a timeout
// (after the retransmission schedule) or an IKE SA without Child SA counts as a failure by reason.
// With --hold the SAs stay up after the last setup, their responder's requests (DPD, deletes) are
// answered, until SIGINT/SIGTERM or --hold-seconds. No NAT-T: the generator stays on its port.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "esprit/control/ike/message.hpp"
#include "esprit/control/ike/sa/ike_sa.hpp"

namespace esprit::ike {
namespace {

volatile std::sig_atomic_t g_stop = 0;
void on_signal(int) { g_stop = 1; }

const char* const kUsage =
    "usage: esprit-ikeload --target ADDR[:PORT] [options]\n"
    "  --count N            IKE SAs to open (default 100)\n"
    "  --concurrency C      setups in flight at most (default 32)\n"
    "  --proposal P         nec | aes256 | gcm (default gcm): IKE 3des-sha1-modp1024 /\n"
    "                       aes256-sha256-modp2048 / aes128gcm16-prfsha256-x25519, ESP to match\n"
    "  --ike TEXT --esp TEXT  proposals verbatim instead of --proposal\n"
    "  --psk SECRET         pre-shared key (default esprit-lab-psk-0123456789)\n"
    "  --local ADDR[:PORT]  our address and port (default: the route's source address, port 500)\n"
    "  --local-id PATTERN   IDi of SA i, %u = i (default %u.gw.lab; fqdn, or ipv4:/email: prefix)\n"
    "  --remote-id ID       IDr the responder must present (default: any)\n"
    "  --ts-base ADDR       TSi of SA i = host ADDR+i (default 10.200.0.0)\n"
    "  --remote-ts PREFIX   TSr (the responder's protected net, default 10.10.1.0/24)\n"
    "  --retransmit LIST    resend times in s from the first send, the last one gives up\n"
    "                       (default 2,4,8,16)\n"
    "  --hold               keep the SAs up after the last setup until SIGINT/SIGTERM\n"
    "  --hold-seconds S     ... or for S seconds\n"
    "  --quiet              only the summary\n";

struct Options {
  IpAddress target;
  uint16_t target_port = 500;
  std::optional<IpAddress> local;
  uint16_t local_port = 500;
  uint32_t count = 100;
  uint32_t concurrency = 32;
  std::string proposal = "gcm";
  std::string ike, esp;
  std::string psk = "esprit-lab-psk-0123456789";
  std::string local_id = "%u.gw.lab";
  std::optional<Identity> remote_id;
  IpAddress ts_base = IpAddress::v4(0x0ac80000);  // 10.200.0.0
  IpAddress remote_ts_start = IpAddress::v4(0x0a0a0100), remote_ts_end = IpAddress::v4(0x0a0a01ff);
  std::vector<double> retransmit{2, 4, 8, 16};
  bool hold = false;
  double hold_seconds = 0;
  bool quiet = false;
};

[[noreturn]] void die(const std::string& msg) {
  std::fprintf(stderr, "esprit-ikeload: %s\n", msg.c_str());
  std::exit(2);
}

bool parse_u32(std::string_view s, uint32_t& out) {
  if (s.empty() || s.size() > 9) return false;
  uint32_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + static_cast<uint32_t>(c - '0');
  }
  out = v;
  return true;
}

/// "ADDR" or "ADDR:PORT" (IPv4), or "[ADDR]:PORT" / "ADDR" (IPv6).
bool parse_endpoint(std::string_view s, IpAddress& addr, uint16_t& port) {
  std::string_view a = s, p;
  if (!s.empty() && s.front() == '[') {
    auto close = s.find(']');
    if (close == std::string_view::npos) return false;
    a = s.substr(1, close - 1);
    if (close + 1 < s.size()) {
      if (s[close + 1] != ':') return false;
      p = s.substr(close + 2);
    }
  } else if (std::count(s.begin(), s.end(), ':') == 1) {
    a = s.substr(0, s.find(':'));
    p = s.substr(s.find(':') + 1);
  }
  auto ip = IpAddress::parse(a);
  if (!ip) return false;
  addr = *ip;
  if (!p.empty()) {
    uint32_t v = 0;
    if (!parse_u32(p, v) || v == 0 || v > 65535) return false;
    port = static_cast<uint16_t>(v);
  }
  return true;
}

/// PREFIX/LEN (IPv4) -> first and last address.
bool parse_prefix(std::string_view s, IpAddress& start, IpAddress& end) {
  auto slash = s.find('/');
  auto ip = IpAddress::parse(s.substr(0, slash));
  if (!ip || !ip->is_v4()) return false;
  uint32_t len = 32;
  if (slash != std::string_view::npos && (!parse_u32(s.substr(slash + 1), len) || len > 32)) return false;
  const uint8_t* b = ip->bytes();
  uint32_t a = uint32_t{b[0]} << 24 | uint32_t{b[1]} << 16 | uint32_t{b[2]} << 8 | b[3];
  uint32_t mask = len == 0 ? 0 : ~uint32_t{0} << (32 - len);
  start = IpAddress::v4(a & mask);
  end = IpAddress::v4((a & mask) | ~mask);
  return true;
}

/// "fqdn:x", "ipv4:a.b.c.d", "email:x@y", or untyped (an address, then x@y as email, else FQDN).
Identity parse_id(const std::string& text) {
  auto typed = [&](std::string_view prefix) { return text.rfind(prefix, 0) == 0; };
  auto bytes = [](std::string_view s) { return std::vector<uint8_t>(s.begin(), s.end()); };
  std::string_view v = text;
  if (typed("fqdn:")) return {IdType::kFqdn, bytes(v.substr(5))};
  if (typed("email:")) return {IdType::kRfc822Addr, bytes(v.substr(6))};
  if (typed("ipv4:") || typed("ipv6:")) v = v.substr(5);
  if (auto ip = IpAddress::parse(v))
    return {ip->is_v4() ? IdType::kIpv4Addr : IdType::kIpv6Addr, std::vector<uint8_t>(ip->bytes(), ip->bytes() + ip->size())};
  if (v.find('@') != std::string_view::npos) return {IdType::kRfc822Addr, bytes(v)};
  return {IdType::kFqdn, bytes(v)};
}

Options parse_args(int argc, char** argv) {
  Options o;
  bool have_target = false;
  for (int i = 1; i < argc; ++i) {
    std::string_view a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) die(std::string(a) + " needs a value");
      return argv[++i];
    };
    if (a == "--target") {
      if (!parse_endpoint(value(), o.target, o.target_port)) die("--target: ADDR[:PORT]");
      have_target = true;
    } else if (a == "--local") {
      IpAddress l;
      if (!parse_endpoint(value(), l, o.local_port)) die("--local: ADDR[:PORT]");
      o.local = l;
    } else if (a == "--count") {
      if (!parse_u32(value(), o.count) || o.count == 0) die("--count: a number > 0");
    } else if (a == "--concurrency") {
      if (!parse_u32(value(), o.concurrency) || o.concurrency == 0) die("--concurrency: a number > 0");
    } else if (a == "--proposal") {
      o.proposal = value();
    } else if (a == "--ike") {
      o.ike = value();
    } else if (a == "--esp") {
      o.esp = value();
    } else if (a == "--psk") {
      o.psk = value();
    } else if (a == "--local-id") {
      o.local_id = value();
    } else if (a == "--remote-id") {
      o.remote_id = parse_id(value());
    } else if (a == "--ts-base") {
      auto ip = IpAddress::parse(value());
      if (!ip || !ip->is_v4()) die("--ts-base: an IPv4 address");
      o.ts_base = *ip;
    } else if (a == "--remote-ts") {
      if (!parse_prefix(value(), o.remote_ts_start, o.remote_ts_end)) die("--remote-ts: an IPv4 PREFIX/LEN");
    } else if (a == "--retransmit") {
      o.retransmit.clear();
      std::string v = value();
      for (std::size_t p = 0; p <= v.size();) {
        auto q = v.find(',', p);
        if (q == std::string::npos) q = v.size();
        char* end = nullptr;
        std::string part = v.substr(p, q - p);
        double d = std::strtod(part.c_str(), &end);
        if (part.empty() || *end != '\0' || d <= 0 || (!o.retransmit.empty() && d <= o.retransmit.back()))
          die("--retransmit: increasing seconds, e.g. 2,4,8,16");
        o.retransmit.push_back(d);
        p = q + 1;
      }
    } else if (a == "--hold") {
      o.hold = true;
    } else if (a == "--hold-seconds") {
      char* end = nullptr;
      std::string v = value();
      o.hold_seconds = std::strtod(v.c_str(), &end);
      if (v.empty() || *end != '\0' || o.hold_seconds <= 0) die("--hold-seconds: seconds > 0");
      o.hold = true;
    } else if (a == "--quiet") {
      o.quiet = true;
    } else if (a == "--help" || a == "-h") {
      std::fputs(kUsage, stdout);
      std::exit(0);
    } else {
      std::fputs(kUsage, stderr);
      die("unknown option " + std::string(a));
    }
  }
  if (!have_target) {
    std::fputs(kUsage, stderr);
    die("--target is required");
  }
  if (!o.target.is_v4()) die("--target: IPv4 only (the TS per SA are IPv4)");
  return o;
}

class CountingSink final : public ChildSaSink {
 public:
  void install_inbound(const SaDescriptor&, const ChildSelectors&) override { ++installed; }
  void install_outbound(const SaDescriptor&, const ChildSelectors&, uint32_t) override {}
  void remove(uint32_t, SaDirection) override {}
  uint64_t installed = 0;
};

enum class SlotState : uint8_t { kIdle, kInFlight, kUp, kFailed, kLost };

struct Slot {
  std::unique_ptr<IkeSa> sa;
  Duration started{};
  IkeState last_state = IkeState::kCreated;
  SlotState state = SlotState::kIdle;
  uint32_t inflight_pos = 0;
};

double seconds_of(Duration d) { return std::chrono::duration<double>(d).count(); }

class Generator {
 public:
  explicit Generator(Options o) : o_(std::move(o)) {}

  int run() {
    setup_settings();
    open_socket();
    slots_.resize(o_.count);
    inflight_.reserve(o_.concurrency);
    by_spi_.reserve(o_.count * 2);
    if (!o_.quiet)
      std::printf("ikeload: %u IKE SAs to %s:%u from %s:%u, %u in flight, IKE %s, ESP %s, PSK, IDi %s\n", o_.count,
                  o_.target.to_string().c_str(), o_.target_port, local_.to_string().c_str(), o_.local_port,
                  o_.concurrency, ike_text_.c_str(), esp_text_.c_str(), o_.local_id.c_str());
    std::fflush(stdout);
    rusage ru0{};
    getrusage(RUSAGE_SELF, &ru0);
    Duration last_tick = clock_.now();
    bool reported_up = false;
    Duration hold_until{};
    while (!g_stop) {
      while (inflight_.size() < o_.concurrency && next_ < o_.count) start(next_++);
      bool finished = next_ == o_.count && inflight_.empty();
      if (finished && !reported_up) {
        reported_up = true;
        rusage ru1{};
        getrusage(RUSAGE_SELF, &ru1);
        report(ru0, ru1);
        if (!o_.hold) break;
        std::printf("hold: %lu IKE SAs up; answering the responder's requests until %s\n",
                    static_cast<unsigned long>(up_), o_.hold_seconds > 0 ? "--hold-seconds" : "SIGINT/SIGTERM");
        std::fflush(stdout);
        if (o_.hold_seconds > 0)
          hold_until = clock_.now() + std::chrono::duration_cast<Duration>(std::chrono::duration<double>(o_.hold_seconds));
      }
      if (hold_until != Duration{} && clock_.now() >= hold_until) break;
      pollfd p{fd_, POLLIN, 0};
      int r = ::poll(&p, 1, inflight_.empty() ? 200 : 10);
      if (r < 0 && errno != EINTR) die(std::string("poll: ") + std::strerror(errno));
      if (r > 0) drain();
      Duration now = clock_.now();
      if (now - last_tick >= std::chrono::milliseconds(50)) {
        last_tick = now;
        // Retransmissions and give-up of the setups in flight (established SAs have no request of ours).
        for (std::size_t i = 0; i < inflight_.size();) {
          uint32_t idx = inflight_[i];
          slots_[idx].sa->tick();
          after(idx);
          if (i < inflight_.size() && inflight_[i] == idx) ++i;
        }
      }
    }
    if (!reported_up) {
      rusage ru1{};
      getrusage(RUSAGE_SELF, &ru1);
      std::printf("interrupted: %u of %u setups started\n", next_, o_.count);
      report(ru0, ru1);
    }
    if (o_.hold) {
      uint64_t still = 0;
      for (const Slot& s : slots_)
        if (s.state == SlotState::kUp) ++still;
      std::printf("hold ended: %lu IKE SAs still up, %lu lost (deleted by the responder or timed out), "
                  "%lu requests of the responder answered\n",
                  static_cast<unsigned long>(still), static_cast<unsigned long>(lost_),
                  static_cast<unsigned long>(answered_));
    }
    ::close(fd_);
    return up_ == o_.count ? 0 : 1;
  }

 private:
  void setup_settings() {
    if (o_.ike.empty() != o_.esp.empty()) die("--ike and --esp go together");
    if (o_.ike.empty()) {
      if (o_.proposal == "nec") {
        ike_text_ = "3des-sha1-modp1024", esp_text_ = "3des-sha1-modp1024";
      } else if (o_.proposal == "aes256") {
        ike_text_ = "aes256-sha256-modp2048", esp_text_ = "aes256-sha256-modp2048";
      } else if (o_.proposal == "gcm") {
        ike_text_ = "aes128gcm16-prfsha256-x25519", esp_text_ = "aes128gcm16-x25519";
      } else {
        die("--proposal: nec, aes256 or gcm");
      }
    } else {
      ike_text_ = o_.ike, esp_text_ = o_.esp;
    }
    std::string err;
    auto ike = parse_proposal(ike_text_, ProtocolId::kIke, &err);
    if (!ike) die("IKE proposal '" + ike_text_ + "': " + err);
    auto esp = parse_proposal(esp_text_, ProtocolId::kEsp, &err);
    if (!esp) die("ESP proposal '" + esp_text_ + "': " + err);
    base_.ike_proposals = {*ike};
    base_.child.esp_proposals = {*esp};
    base_.psk = SecretBytes(std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(o_.psk.data()), o_.psk.size()));
    base_.remote_id = o_.remote_id;
    base_.remote_addr = o_.target;
    base_.remote_port = o_.target_port;
    base_.local_port = o_.local_port;
    // N IKE SAs from one address: INITIAL_CONTACT would tell the responder to drop the others.
    base_.send_initial_contact = false;
    base_.child.remote_ts = {ts_range(o_.remote_ts_start, o_.remote_ts_end)};
    base_.retransmit.resend_at.clear();
    for (std::size_t i = 0; i + 1 < o_.retransmit.size(); ++i)
      base_.retransmit.resend_at.push_back(
          std::chrono::duration_cast<Duration>(std::chrono::duration<double>(o_.retransmit[i])));
    base_.retransmit.give_up_at =
        std::chrono::duration_cast<Duration>(std::chrono::duration<double>(o_.retransmit.back()));
    const uint8_t* b = o_.ts_base.bytes();
    ts_base_ = uint32_t{b[0]} << 24 | uint32_t{b[1]} << 16 | uint32_t{b[2]} << 8 | b[3];
    if (uint64_t{ts_base_} + o_.count - 1 > 0xffffffffULL) die("--ts-base + --count overflows IPv4");
  }

  void open_socket() {
    fd_ = ::socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd_ < 0) die(std::string("socket: ") + std::strerror(errno));
    sockaddr_in to{};
    to.sin_family = AF_INET;
    to.sin_port = htons(o_.target_port);
    std::memcpy(&to.sin_addr, o_.target.bytes(), 4);
    if (o_.local) {
      local_ = *o_.local;
    } else {
      // The source address the kernel picks for the target (NAT detection hashes it).
      int probe = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
      sockaddr_in me{};
      socklen_t len = sizeof me;
      if (probe < 0 || ::connect(probe, reinterpret_cast<sockaddr*>(&to), sizeof to) != 0 ||
          ::getsockname(probe, reinterpret_cast<sockaddr*>(&me), &len) != 0)
        die(std::string("no route to the target: ") + std::strerror(errno));
      ::close(probe);
      local_ = IpAddress::v4(ntohl(me.sin_addr.s_addr));
    }
    int size = 8 << 20;
    (void)::setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
    (void)::setsockopt(fd_, SOL_SOCKET, SO_SNDBUF, &size, sizeof size);
    sockaddr_in me{};
    me.sin_family = AF_INET;
    me.sin_port = htons(o_.local_port);
    std::memcpy(&me.sin_addr, local_.bytes(), 4);
    if (::bind(fd_, reinterpret_cast<sockaddr*>(&me), sizeof me) != 0)
      die("bind " + local_.to_string() + ":" + std::to_string(o_.local_port) + ": " + std::strerror(errno));
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&to), sizeof to) != 0)
      die(std::string("connect: ") + std::strerror(errno));
    base_.local_addr = local_;
  }

  std::string local_id_of(uint32_t i) const {
    std::string s = o_.local_id;
    for (std::size_t p = s.find("%u"); p != std::string::npos; p = s.find("%u", p)) {
      std::string n = std::to_string(i);
      s.replace(p, 2, n);
      p += n.size();
    }
    return s;
  }

  void start(uint32_t i) {
    IkeSettings s = base_;
    s.local_id = parse_id(local_id_of(i));
    IpAddress host = IpAddress::v4(ts_base_ + i);
    s.child.local_ts = {ts_range(host, host)};
    Slot& slot = slots_[i];
    slot.sa = std::make_unique<IkeSa>(IkeRole::kInitiator, std::move(s),
                                      IkeSaEnv{&SystemRandom::instance(), &clock_, &sink_, nullptr});
    slot.started = clock_.now();
    if (first_sent_ == Duration{}) first_sent_ = slot.started;
    slot.state = SlotState::kInFlight;
    slot.inflight_pos = static_cast<uint32_t>(inflight_.size());
    inflight_.push_back(i);
    slot.sa->initiate();
    by_spi_[slot.sa->spi_i()] = i;
    after(i);
  }

  void send_all(IkeSa& sa) {
    for (auto& d : sa.outbox()) {
      if (::send(fd_, d.data(), d.size(), 0) < 0) ++send_errors_;  // the retransmission covers it
    }
    sa.outbox().clear();
  }

  void leave_inflight(uint32_t i) {
    Slot& s = slots_[i];
    uint32_t pos = s.inflight_pos;
    uint32_t last = inflight_.back();
    inflight_[pos] = last;
    slots_[last].inflight_pos = pos;
    inflight_.pop_back();
  }

  void fail(uint32_t i, std::string reason) {
    ++failures_[std::move(reason)];
    leave_inflight(i);
    Slot& s = slots_[i];
    s.state = SlotState::kFailed;
    retransmits_ += s.sa->counters()[IkeSaEvent::kRetransmit];
    by_spi_.erase(s.sa->spi_i());
    s.sa.reset();
  }

  /// After a datagram or a tick: send what the SA queued, and see whether the setup ended.
  void after(uint32_t i) {
    Slot& s = slots_[i];
    IkeSa& sa = *s.sa;
    send_all(sa);
    IkeState st = sa.state();
    if (s.state == SlotState::kUp) {
      if (st == IkeState::kDestroyed || st == IkeState::kDeleting) {
        s.state = SlotState::kLost;
        ++lost_;
      }
      return;
    }
    if (s.state != SlotState::kInFlight) return;
    if (st == IkeState::kEstablished && !sa.request_outstanding()) {
      if (!sa.child_sas().empty()) {
        Duration now = clock_.now();
        latencies_.push_back(now - s.started);
        last_done_ = now;
        ++up_;
        s.state = SlotState::kUp;
        retransmits_ += sa.counters()[IkeSaEvent::kRetransmit];
        leave_inflight(i);
        if (!o_.hold) {  // nothing more to answer: free it now
          by_spi_.erase(sa.spi_i());
          s.sa.reset();
        }
      } else {
        NotifyType e = sa.last_error();
        fail(i, std::string("no Child SA: ") + (static_cast<int>(e) ? std::string(to_string(e)) : "no TS/SA in the response"));
      }
      return;
    }
    if (st == IkeState::kDestroyed) {
      std::string reason;
      if (sa.counters()[IkeSaEvent::kGiveUp])
        reason = s.last_state == IkeState::kAuthenticating ? "timeout in IKE_AUTH" : "timeout in IKE_SA_INIT";
      else if (static_cast<int>(sa.last_error()))
        reason = std::string(to_string(sa.last_error()));
      else
        reason = "destroyed (no notify)";
      fail(i, reason);
      return;
    }
    s.last_state = st;
  }

  void drain() {
    uint8_t buf[65536];
    for (;;) {
      ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
      if (n < 0) {
        if (errno == EINTR) continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK && errno != ECONNREFUSED) ++recv_errors_;
        if (errno == ECONNREFUSED) {
          ++refused_;
          continue;
        }
        return;
      }
      std::span<const uint8_t> d(buf, static_cast<std::size_t>(n));
      auto h = Message::parse_header(d);
      if (!h) {
        ++unmatched_;
        continue;
      }
      auto it = by_spi_.find(h->spi_i);  // we are the original initiator of every SA: SPIi is ours
      if (it == by_spi_.end()) {
        ++unmatched_;
        continue;
      }
      uint32_t i = it->second;
      Slot& s = slots_[i];
      if (h->request()) ++answered_;
      s.sa->receive(d);
      after(i);
    }
  }

  void report(const rusage& ru0, const rusage& ru1) {
    auto tv = [](const timeval& t) { return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) / 1e6; };
    double user = tv(ru1.ru_utime) - tv(ru0.ru_utime), sys = tv(ru1.ru_stime) - tv(ru0.ru_stime);
    double wall = up_ ? seconds_of(last_done_ - first_sent_) : 0;
    double total_wall = seconds_of(clock_.now() - first_sent_);
    std::printf("done: %lu of %u IKE SAs with a Child SA in %.3f s (first IKE_SA_INIT to last IKE_AUTH response)\n",
                static_cast<unsigned long>(up_), o_.count, wall);
    std::printf("setups/s: %.1f\n", wall > 0 ? static_cast<double>(up_) / wall : 0.0);
    if (!latencies_.empty()) {
      std::sort(latencies_.begin(), latencies_.end());
      auto p = [&](double q) {
        std::size_t k = std::min(latencies_.size() - 1, static_cast<std::size_t>(static_cast<double>(latencies_.size()) * q));
        return seconds_of(latencies_[k]) * 1000;
      };
      std::printf("latency ms (IKE_SA_INIT sent -> IKE_AUTH response processed): p50 %.2f p90 %.2f p99 %.2f max %.2f\n",
                  p(0.5), p(0.9), p(0.99), seconds_of(latencies_.back()) * 1000);
    } else {
      std::printf("latency ms: none (no setup completed)\n");
    }
    uint64_t failed = 0;
    for (auto& [k, v] : failures_) failed += v;
    if (up_ + failed < o_.count)
      std::printf("unfinished: %lu in flight, %u not started\n", static_cast<unsigned long>(inflight_.size()),
                  o_.count - next_);
    std::printf("failures: %lu", static_cast<unsigned long>(failed));
    for (auto& [k, v] : failures_) std::printf(" | %s: %lu", k.c_str(), static_cast<unsigned long>(v));
    std::printf("\n");
    std::printf("retransmits: %lu, send errors: %lu, unmatched datagrams: %lu, ICMP refused: %lu\n",
                static_cast<unsigned long>(retransmits_), static_cast<unsigned long>(send_errors_),
                static_cast<unsigned long>(unmatched_), static_cast<unsigned long>(refused_));
    std::printf("cpu: user %.3f s, sys %.3f s (%.0f%% of one core over %.3f s)\n", user, sys,
                total_wall > 0 ? (user + sys) * 100 / total_wall : 0.0, total_wall);
    std::fflush(stdout);
  }

  Options o_;
  std::string ike_text_, esp_text_;
  IkeSettings base_;
  IpAddress local_;
  uint32_t ts_base_ = 0;
  int fd_ = -1;
  SteadyClock clock_;
  CountingSink sink_;
  std::vector<Slot> slots_;
  std::vector<uint32_t> inflight_;
  std::unordered_map<uint64_t, uint32_t> by_spi_;
  uint32_t next_ = 0;
  uint64_t up_ = 0, lost_ = 0, answered_ = 0;
  uint64_t retransmits_ = 0, send_errors_ = 0, recv_errors_ = 0, unmatched_ = 0, refused_ = 0;
  Duration first_sent_{}, last_done_{};
  std::vector<Duration> latencies_;
  std::map<std::string, uint64_t> failures_;
};

}  // namespace
}  // namespace esprit::ike

int main(int argc, char** argv) {
  auto o = esprit::ike::parse_args(argc, argv);
  struct sigaction sa{};
  sa.sa_handler = esprit::ike::on_signal;
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  std::signal(SIGPIPE, SIG_IGN);
  return esprit::ike::Generator(std::move(o)).run();
}
