#include "esprit/control/control_socket.hpp"

#include <errno.h>
#include <grp.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>

#include "esprit/common/log.hpp"

namespace esprit {
namespace {

std::string sys_error(const std::string& what) { return what + ": " + std::strerror(errno); }

/// Fills `sa` for `path`; false if the path does not fit sun_path (with its NUL).
bool make_address(const std::string& path, sockaddr_un& sa) {
  std::memset(&sa, 0, sizeof sa);
  sa.sun_family = AF_UNIX;
  if (path.empty() || path.size() >= sizeof sa.sun_path) return false;
  std::memcpy(sa.sun_path, path.data(), path.size());
  return true;
}

}  // namespace

// ---- requests

std::variant<ControlRequest, std::string> parse_request(std::string_view line) {
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  if (line.size() > kMaxRequestBytes)
    return "request longer than " + std::to_string(kMaxRequestBytes) + " bytes";
  nlohmann::json j = nlohmann::json::parse(line.begin(), line.end(), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return std::string("request is not valid JSON; expected {\"command\": \"show counters\"}");
  if (!j.is_object()) return std::string("request must be a JSON object, e.g. {\"command\": \"show counters\"}");
  ControlRequest r;
  for (auto it = j.begin(); it != j.end(); ++it) {
    if (it.key() == "command") {
      if (!it->is_string()) return std::string("\"command\" must be a string");
      r.command = it->get<std::string>();
    } else if (it.key() == "args") {
      if (!it->is_object()) return std::string("\"args\" must be an object");
      r.args = *it;
    } else if (it.key() == "id") {
      if (!it->is_number_integer() && !it->is_string()) return std::string("\"id\" must be an integer or a string");
      r.id = *it;
    } else {
      std::string key = it.key().substr(0, 32);
      for (char& ch : key)
        if (static_cast<unsigned char>(ch) < 0x20 || static_cast<unsigned char>(ch) > 0x7e) ch = '?';
      return "unknown key \"" + key + "\"; a request has \"command\", \"args\" and \"id\"";
    }
  }
  if (r.command.empty()) return std::string("missing \"command\"");
  if (r.command.size() > kMaxCommandLength) return std::string("\"command\" too long");
  return r;
}

namespace {
// Invalid UTF-8 (e.g. echoed from a request) is replaced rather than thrown.
std::string dump(const nlohmann::json& j) { return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace); }
}  // namespace

// Written by hand so that "ok" comes first (nlohmann::json orders keys alphabetically).
std::string ok_response(const nlohmann::json& result, const nlohmann::json& id) {
  return "{\"ok\":true,\"result\":" + dump(result) + (id.is_null() ? "" : ",\"id\":" + dump(id)) + "}\n";
}

std::string error_response(std::string_view error, const nlohmann::json& id) {
  return "{\"ok\":false,\"error\":" + dump(std::string(error)) + (id.is_null() ? "" : ",\"id\":" + dump(id)) +
         "}\n";
}

// ---- registry

bool CommandRegistry::add(std::string name, std::string help, CommandHandler handler) {
  if (name.empty() || name.size() > kMaxCommandLength || !handler) return false;
  return commands_.emplace(std::move(name), Entry{std::move(help), std::move(handler)}).second;
}

std::string CommandRegistry::dispatch(const ControlRequest& request) const {
  const auto it = commands_.find(request.command);
  if (it == commands_.end()) {
    std::string known;
    for (const auto& [name, e] : commands_) {
      if (!known.empty()) known += ", ";
      known += name;
    }
    std::string shown = request.command;
    for (char& ch : shown)
      if (static_cast<unsigned char>(ch) < 0x20 || static_cast<unsigned char>(ch) > 0x7e) ch = '?';
    return error_response("unknown command \"" + shown + "\"; known: " + known, request.id);
  }
  try {
    return ok_response(it->second.handler(request.args), request.id);
  } catch (const std::exception& e) {
    return error_response(e.what(), request.id);
  }
}

std::string CommandRegistry::handle_line(std::string_view line) const {
  auto parsed = parse_request(line);
  if (auto* err = std::get_if<std::string>(&parsed)) return error_response(*err, nullptr);
  return dispatch(std::get<ControlRequest>(parsed));
}

nlohmann::json CommandRegistry::list() const {
  nlohmann::json j = nlohmann::json::object();
  for (const auto& [name, e] : commands_) j[name] = e.help;
  return j;
}

// ---- server

std::unique_ptr<ControlServer> ControlServer::open(const ControlServerOptions& options, std::string* error) {
  auto fail = [&](const std::string& what) -> std::unique_ptr<ControlServer> {
    if (error) *error = "control socket " + options.path + ": " + what;
    return nullptr;
  };
  sockaddr_un sa;
  if (!make_address(options.path, sa))
    return fail("the path must be 1 to " + std::to_string(sizeof sa.sun_path - 1) + " bytes");
  gid_t gid = static_cast<gid_t>(-1);
  if (!options.group.empty()) {
    group grp{};
    group* found = nullptr;
    char buf[4096];
    if (getgrnam_r(options.group.c_str(), &grp, buf, sizeof buf, &found) != 0 || !found)
      return fail("unknown group \"" + options.group + "\" (control_socket_group)");
    gid = found->gr_gid;
  }

  // The parent directory (one level, like /run/esprit).
  const auto slash = options.path.rfind('/');
  if (slash != std::string::npos && slash > 0) {
    const std::string dir = options.path.substr(0, slash);
    struct stat st{};
    if (stat(dir.c_str(), &st) != 0) {
      if (errno != ENOENT || mkdir(dir.c_str(), 0755) != 0) return fail(sys_error("directory " + dir));
    } else if (!S_ISDIR(st.st_mode)) {
      return fail(dir + " is not a directory");
    }
  }

  // An existing file: a live daemon's socket (refuse), a stale socket (remove), anything else (refuse).
  struct stat st{};
  if (lstat(options.path.c_str(), &st) == 0) {
    if (!S_ISSOCK(st.st_mode)) return fail("exists and is not a socket; remove it or choose another path");
    const int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (probe < 0) return fail(sys_error("socket"));
    const int rc = connect(probe, reinterpret_cast<const sockaddr*>(&sa), sizeof sa);
    const int saved = errno;
    close(probe);
    if (rc == 0) return fail("another process (an espritd?) is listening on it");
    if (saved != ECONNREFUSED && saved != ENOENT) {
      errno = saved;
      return fail(sys_error("probing the existing socket"));
    }
    if (unlink(options.path.c_str()) != 0 && errno != ENOENT) return fail(sys_error("removing the stale socket"));
    ESPRIT_LOG_NOTICE("control socket %s: removed a stale socket file", options.path.c_str());
  }

  auto server = std::unique_ptr<ControlServer>(new ControlServer(options));
  server->listen_fd_ = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (server->listen_fd_ < 0) return fail(sys_error("socket"));
  // No window in which the socket is reachable with a wider mode than asked for.
  const mode_t mode = options.group.empty() ? 0600 : 0660;
  const mode_t old_mask = umask(static_cast<mode_t>(0777 & ~mode));
  const int brc = bind(server->listen_fd_, reinterpret_cast<const sockaddr*>(&sa), sizeof sa);
  const int saved = errno;
  umask(old_mask);
  if (brc != 0) {
    errno = saved;
    return fail(sys_error("bind"));
  }
  if (gid != static_cast<gid_t>(-1) && chown(options.path.c_str(), static_cast<uid_t>(-1), gid) != 0) {
    const std::string e = sys_error("chown to group " + options.group);
    unlink(options.path.c_str());
    return fail(e);
  }
  if (chmod(options.path.c_str(), mode) != 0 || listen(server->listen_fd_, 16) != 0) {
    const std::string e = sys_error("chmod/listen");
    unlink(options.path.c_str());
    return fail(e);
  }
  return server;
}

ControlServer::~ControlServer() {
  for (const auto& c : clients_) close(c->fd);
  if (listen_fd_ >= 0) {
    close(listen_fd_);
    unlink(options_.path.c_str());
  }
}

void ControlServer::accept_clients(std::chrono::steady_clock::time_point now) {
  for (;;) {
    const int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) return;  // EAGAIN, or an error that the next poll retries
    if (clients_.size() >= kMaxClients) {
      ++c_.refused;
      const std::string e = error_response("too many control connections", nullptr);
      (void)!send(fd, e.data(), e.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
      close(fd);
      continue;
    }
    ++c_.accepted;
    auto c = std::make_unique<Client>();
    c->fd = fd;
    c->last_active = now;
    clients_.push_back(std::move(c));
  }
}

bool ControlServer::read_client(Client& c, std::chrono::steady_clock::time_point now, uint32_t& served) {
  char buf[4096];
  for (;;) {
    const ssize_t n = recv(c.fd, buf, sizeof buf, MSG_DONTWAIT);
    if (n == 0) return !c.out.empty() && (c.closing = true);  // peer closed: finish sending, then close
    if (n < 0) return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR;
    c.last_active = now;
    if (c.closing) continue;  // answering an oversize line: discard the rest
    c.in.append(buf, static_cast<std::size_t>(n));
    std::size_t start = 0;
    for (std::size_t nl; (nl = c.in.find('\n', start)) != std::string::npos; start = nl + 1) {
      const std::string_view line(c.in.data() + start, nl - start);
      if (line.empty() || line == "\r") continue;
      ++c_.requests;
      ++served;
      std::string answer = registry_.handle_line(line);
      const bool failed = answer.starts_with("{\"ok\":false");
      if (failed) ++c_.errors;
      ESPRIT_LOG_DEBUG("control request (%zu bytes): %s", line.size(), failed ? "error" : "ok");
      c.out += answer;
    }
    c.in.erase(0, start);
    if (c.in.size() > kMaxRequestBytes) {
      ++c_.oversize;
      ++c_.errors;
      c.out += error_response("request longer than " + std::to_string(kMaxRequestBytes) + " bytes; closing", nullptr);
      c.in.clear();
      c.closing = true;
    }
    if (c.out.size() > kMaxPendingOutput) {
      ++c_.slow_reader;
      return false;
    }
  }
}

bool ControlServer::write_client(Client& c, std::chrono::steady_clock::time_point now) {
  while (!c.out.empty()) {
    const ssize_t n = send(c.fd, c.out.data(), c.out.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n < 0) return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR;
    c.last_active = now;
    c.out.erase(0, static_cast<std::size_t>(n));
  }
  return !c.closing;
}

namespace {
/// What a client's descriptor waits for: a request, and room for the answer while one is queued.
pollfd client_pollfd(int fd, bool answer_queued) {
  return {fd, static_cast<short>(POLLIN | (answer_queued ? POLLOUT : 0)), 0};
}
}  // namespace

void ControlServer::add_wait_fds(std::vector<pollfd>& out) const {
  out.push_back({listen_fd_, POLLIN, 0});
  for (const auto& c : clients_) out.push_back(client_pollfd(c->fd, !c->out.empty()));
}

uint32_t ControlServer::poll(std::chrono::steady_clock::time_point now) {
  pollfd fds[kMaxClients + 1];
  std::size_t nfds = 0;
  fds[nfds++] = {listen_fd_, POLLIN, 0};
  for (const auto& c : clients_) fds[nfds++] = client_pollfd(c->fd, !c->out.empty());
  uint32_t served = 0;
  const int ready = ::poll(fds, static_cast<nfds_t>(nfds), 0);
  if (ready > 0) {
    for (std::size_t i = 0; i < clients_.size(); ++i) {
      Client& c = *clients_[i];
      const short re = fds[i + 1].revents;
      bool alive = true;
      if (re & (POLLIN | POLLHUP | POLLERR)) alive = read_client(c, now, served);
      if (alive && (!c.out.empty() || c.closing)) alive = write_client(c, now);
      if (!alive) c.fd = -c.fd - 1;  // marked; removed below
    }
    if (fds[0].revents & POLLIN) {
      // Removing first keeps room for the new ones.
      std::erase_if(clients_, [](const auto& c) {
        if (c->fd >= 0) return false;
        close(-c->fd - 1);
        return true;
      });
      accept_clients(now);
    }
  }
  std::erase_if(clients_, [&](const auto& c) {
    if (c->fd < 0) {
      close(-c->fd - 1);
      return true;
    }
    if (now - c->last_active > options_.idle_timeout) {
      ++c_.idle_closed;
      close(c->fd);
      return true;
    }
    return false;
  });
  return served;
}

}  // namespace esprit
