// The control socket: a UNIX stream socket that espritctl (and later IKE tooling) talks to.
//
// Protocol: the client sends one request per line, a JSON object
//     {"command": "show sa", "args": {...}, "id": 7}        ("args" and "id" optional)
// and gets one line back, a JSON object:
//     {"ok": true, "result": {...}, "id": 7}   or   {"ok": false, "error": "what went wrong", "id": 7}
// A client may send several requests on one connection; answers come in order.
//
// Serving. ControlServer::poll() runs on the control core's loop: one poll(2) with a zero timeout
// over the listening socket and the clients, then non-blocking accept/recv/send. It never blocks,
// and workers never see it. Limits keep a client from hurting the daemon: a request line longer
// than kMaxRequestBytes gets an error answer and the connection is closed; a client that sends
// nothing (and reads nothing) for `idle_timeout` is disconnected; at most kMaxClients connections (more are closed at
// once, after an error line); answers a client does not read are buffered up to kMaxPendingOutput,
// then the client is dropped.
//
// Commands live in a registry (name -> handler): the daemon registers the show/clear commands, IKE
// will add its own. A handler gets the request's "args" (an object, possibly empty) and returns
// the result, or throws CommandError (or any std::exception) whose message becomes the error.
//
// The socket file. open() refuses a path longer than sockaddr_un allows, creates the parent
// directory if missing (mode 0755, one level), removes a stale socket (nobody accepts on it) but
// refuses to start when another process is listening on it or when the path is not a socket, and
// sets the mode to 0600 (owner only) or 0660 with `group` as the group. The file is removed when
// the server is destroyed.
#pragma once

#include <poll.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace esprit {

inline constexpr std::size_t kMaxRequestBytes = 4096;
inline constexpr std::size_t kMaxClients = 16;
inline constexpr std::size_t kMaxPendingOutput = 16u << 20;
inline constexpr std::size_t kMaxCommandLength = 64;

/// A parsed request line.
struct ControlRequest {
  std::string command;
  nlohmann::json args = nlohmann::json::object();
  nlohmann::json id;  ///< echoed back; null when absent
};

/// Parses one request line (without its newline). The error says what is wrong, for the answer.
[[nodiscard]] std::variant<ControlRequest, std::string> parse_request(std::string_view line);

/// The answer lines (with the trailing newline).
[[nodiscard]] std::string ok_response(const nlohmann::json& result, const nlohmann::json& id);
[[nodiscard]] std::string error_response(std::string_view error, const nlohmann::json& id);

/// Thrown by a command handler: the message goes to the client as the error.
class CommandError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

using CommandHandler = std::function<nlohmann::json(const nlohmann::json& args)>;

/// name -> handler, with a one-line help text per command.
class CommandRegistry {
 public:
  /// Adds a command; false if the name is taken or not 1..kMaxCommandLength characters.
  bool add(std::string name, std::string help, CommandHandler handler);
  /// Runs the request's command; the complete answer line.
  [[nodiscard]] std::string dispatch(const ControlRequest& request) const;
  /// Parses and runs one request line; the complete answer line.
  [[nodiscard]] std::string handle_line(std::string_view line) const;
  /// {"name": "help", ...} for `help`.
  [[nodiscard]] nlohmann::json list() const;

 private:
  struct Entry {
    std::string help;
    CommandHandler handler;
  };
  std::map<std::string, Entry, std::less<>> commands_;
};

struct ControlServerOptions {
  std::string path;
  std::string group;  ///< empty: mode 0600; else mode 0660 and this group
  std::chrono::milliseconds idle_timeout{5000};
};

struct ControlServerCounters {
  uint64_t accepted = 0;
  uint64_t requests = 0;
  uint64_t errors = 0;       ///< requests answered with an error
  uint64_t oversize = 0;     ///< connections closed for a line above kMaxRequestBytes
  uint64_t idle_closed = 0;  ///< connections closed for idleness
  uint64_t refused = 0;      ///< connections over kMaxClients
  uint64_t slow_reader = 0;  ///< connections closed with kMaxPendingOutput unread
};

class ControlServer {
 public:
  /// Creates, binds and listens; nullptr and a message naming the path on failure.
  [[nodiscard]] static std::unique_ptr<ControlServer> open(const ControlServerOptions& options, std::string* error);
  ~ControlServer();
  ControlServer(const ControlServer&) = delete;
  ControlServer& operator=(const ControlServer&) = delete;

  [[nodiscard]] CommandRegistry& commands() noexcept { return registry_; }
  /// Accepts, reads, answers and writes what is ready; never blocks. Returns the requests served.
  uint32_t poll(std::chrono::steady_clock::time_point now);
  /// Appends what poll() waits for (the listening socket, each client) for a caller that blocks
  /// until one of them is ready (espritd's idle control core).
  void add_wait_fds(std::vector<pollfd>& out) const;
  [[nodiscard]] const ControlServerCounters& counters() const noexcept { return c_; }
  [[nodiscard]] std::size_t clients() const noexcept { return clients_.size(); }
  [[nodiscard]] const std::string& path() const noexcept { return options_.path; }

 private:
  struct Client {
    int fd = -1;
    std::string in;
    std::string out;
    std::chrono::steady_clock::time_point last_active;
    bool closing = false;  ///< close once `out` is sent
  };
  explicit ControlServer(ControlServerOptions options) : options_(std::move(options)) {}
  void accept_clients(std::chrono::steady_clock::time_point now);
  /// false: the client is gone.
  bool read_client(Client& c, std::chrono::steady_clock::time_point now, uint32_t& served);
  bool write_client(Client& c, std::chrono::steady_clock::time_point now);

  ControlServerOptions options_;
  int listen_fd_ = -1;
  CommandRegistry registry_;
  std::vector<std::unique_ptr<Client>> clients_;
  ControlServerCounters c_;
};

}  // namespace esprit
