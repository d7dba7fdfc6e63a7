// The control socket: request parsing, the command registry, and the server on a real UNIX
// socket (stale files, permissions, limits) driven by poll() from the test thread.
#include "esprit/control/control_socket.hpp"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <string>
#include <thread>

namespace esprit {
namespace {

using nlohmann::json;

TEST(ParseRequest, AcceptsCommandArgsAndId) {
  auto r = parse_request(R"({"command": "show sa", "args": {"slot": 1}, "id": 7})");
  ASSERT_TRUE(std::holds_alternative<ControlRequest>(r));
  const auto& q = std::get<ControlRequest>(r);
  EXPECT_EQ(q.command, "show sa");
  EXPECT_EQ(q.args["slot"], 1);
  EXPECT_EQ(q.id, 7);
  auto bare = parse_request("{\"command\":\"show version\"}\r");
  ASSERT_TRUE(std::holds_alternative<ControlRequest>(bare));
  EXPECT_TRUE(std::get<ControlRequest>(bare).args.empty());
  EXPECT_TRUE(std::get<ControlRequest>(bare).id.is_null());
}

TEST(ParseRequest, RefusesWithAReason) {
  auto err = [](std::string_view line) {
    auto r = parse_request(line);
    return std::holds_alternative<std::string>(r) ? std::get<std::string>(r) : std::string("(accepted)");
  };
  EXPECT_NE(err("garbage").find("not valid JSON"), std::string::npos);
  EXPECT_NE(err("").find("not valid JSON"), std::string::npos);
  EXPECT_NE(err("[1, 2]").find("JSON object"), std::string::npos);
  EXPECT_NE(err("{}").find("missing \"command\""), std::string::npos);
  EXPECT_NE(err(R"({"command": 5})").find("must be a string"), std::string::npos);
  EXPECT_NE(err(R"({"command": ""})").find("missing"), std::string::npos);
  EXPECT_NE(err(R"({"command": "x", "args": [1]})").find("\"args\" must be an object"), std::string::npos);
  EXPECT_NE(err(R"({"command": "x", "id": {}})").find("\"id\""), std::string::npos);
  EXPECT_NE(err(R"({"command": "x", "bogus": 1})").find("unknown key \"bogus\""), std::string::npos);
  EXPECT_NE(err(R"({"command": ")" + std::string(100, 'a') + "\"}").find("too long"), std::string::npos);
  EXPECT_NE(err(std::string(kMaxRequestBytes + 1, ' ')).find("longer than"), std::string::npos);
  // Deep nesting and invalid UTF-8 are refused, never a crash.
  EXPECT_NE(err(std::string(2000, '[') + std::string(2000, ']')).find("JSON object"), std::string::npos);
  EXPECT_NE(err("{\"command\": \"\xff\xfe\"}").find("not valid JSON"), std::string::npos);
}

TEST(Registry, DispatchesAndReportsErrors) {
  CommandRegistry r;
  EXPECT_TRUE(r.add("show x", "x", [](const json& a) { return json{{"echo", a}}; }));
  EXPECT_FALSE(r.add("show x", "again", [](const json&) { return json(); }));
  EXPECT_FALSE(r.add("", "empty", [](const json&) { return json(); }));
  EXPECT_TRUE(r.add("fail", "throws", [](const json&) -> json { throw CommandError("no such SA"); }));

  json ok = json::parse(r.handle_line(R"({"command": "show x", "args": {"a": 1}, "id": "q1"})"));
  EXPECT_EQ(ok["ok"], true);
  EXPECT_EQ(ok["result"]["echo"]["a"], 1);
  EXPECT_EQ(ok["id"], "q1");
  json unknown = json::parse(r.handle_line(R"({"command": "show nothing"})"));
  EXPECT_EQ(unknown["ok"], false);
  EXPECT_NE(unknown["error"].get<std::string>().find("unknown command \"show nothing\"; known: fail, show x"),
            std::string::npos);
  json failed = json::parse(r.handle_line(R"({"command": "fail", "id": 3})"));
  EXPECT_EQ(failed["ok"], false);
  EXPECT_EQ(failed["error"], "no such SA");
  EXPECT_EQ(failed["id"], 3);
  // The answer is one line, "ok" first.
  const std::string line = r.handle_line("nope");
  EXPECT_EQ(line.find('\n'), line.size() - 1);
  EXPECT_EQ(line.rfind("{\"ok\":false,", 0), 0u);
}

// ---- the server on a real socket

class ServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/esprit-ctl-test-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    path_ = dir_ + "/run/espritd.sock";
  }
  void TearDown() override { std::system(("rm -rf " + dir_).c_str()); }

  std::unique_ptr<ControlServer> open(std::chrono::milliseconds idle = std::chrono::milliseconds(5000)) {
    std::string err;
    auto s = ControlServer::open({path_, "", idle}, &err);
    EXPECT_TRUE(s) << err;
    if (s) s->commands().add("ping", "", [](const json&) { return json{{"pong", true}}; });
    return s;
  }
  int connect_client() const {
    const int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un sa{};
    sa.sun_family = AF_UNIX;
    std::memcpy(sa.sun_path, path_.c_str(), path_.size());
    EXPECT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa), 0);
    return fd;
  }
  /// Polls the server until a full line arrives on fd (or ~2 s); "" on EOF/timeout.
  static std::string answer(ControlServer& s, int fd) {
    std::string in;
    for (int i = 0; i < 2000; ++i) {
      s.poll(std::chrono::steady_clock::now());
      char buf[8192];
      const ssize_t n = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
      if (n == 0) return in;
      if (n > 0) in.append(buf, static_cast<std::size_t>(n));
      if (!in.empty() && in.back() == '\n') return in;
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    return in;
  }
  static bool closed_by_server(ControlServer& s, int fd) {
    for (int i = 0; i < 2000; ++i) {
      s.poll(std::chrono::steady_clock::now());
      char buf[256];
      const ssize_t n = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
      if (n == 0) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    return false;
  }

  std::string dir_;
  std::string path_;
};

TEST_F(ServerTest, AnswersAndIsOwnerOnly) {
  auto s = open();
  ASSERT_TRUE(s);
  struct stat st{};
  ASSERT_EQ(stat(path_.c_str(), &st), 0);
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  const int fd = connect_client();
  const std::string two = "{\"command\":\"ping\",\"id\":1}\n{\"command\":\"ping\",\"id\":2}\n";
  ASSERT_EQ(send(fd, two.data(), two.size(), 0), static_cast<ssize_t>(two.size()));
  std::string got = answer(*s, fd);
  if (std::count(got.begin(), got.end(), '\n') < 2) got += answer(*s, fd);
  EXPECT_EQ(got, "{\"ok\":true,\"result\":{\"pong\":true},\"id\":1}\n{\"ok\":true,\"result\":{\"pong\":true},\"id\":2}\n");
  close(fd);
  s.reset();
  EXPECT_NE(access(path_.c_str(), F_OK), 0) << "the socket file is removed with the server";
}

TEST_F(ServerTest, StaleSocketReplacedLiveOneAndOtherFilesRefused) {
  {
    auto first = open();
    ASSERT_TRUE(first);
    std::string err;
    EXPECT_FALSE(ControlServer::open({path_, "", std::chrono::milliseconds(5000)}, &err));
    EXPECT_NE(err.find("listening on it"), std::string::npos) << err;
  }
  // A stale socket: bound, never listened on, left behind.
  const int fd = socket(AF_UNIX, SOCK_STREAM, 0);
  sockaddr_un sa{};
  sa.sun_family = AF_UNIX;
  std::memcpy(sa.sun_path, path_.c_str(), path_.size());
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa), 0);
  close(fd);
  EXPECT_TRUE(open());
  // A regular file is never removed.
  std::ofstream(path_) << "precious";
  std::string err;
  EXPECT_FALSE(ControlServer::open({path_, "", std::chrono::milliseconds(5000)}, &err));
  EXPECT_NE(err.find("not a socket"), std::string::npos) << err;
  // Too long for sockaddr_un.
  EXPECT_FALSE(ControlServer::open({"/tmp/" + std::string(120, 'x'), "", std::chrono::milliseconds(5000)}, &err));
  EXPECT_NE(err.find("1 to 107 bytes"), std::string::npos) << err;
  EXPECT_FALSE(ControlServer::open({dir_ + "/b.sock", "no-such-group-esprit", std::chrono::milliseconds(5000)}, &err));
  EXPECT_NE(err.find("unknown group"), std::string::npos) << err;
}

TEST_F(ServerTest, OversizeLineAnsweredThenClosed) {
  auto s = open();
  ASSERT_TRUE(s);
  const int fd = connect_client();
  const std::string big(kMaxRequestBytes + 100, 'x');
  ASSERT_EQ(send(fd, big.data(), big.size(), 0), static_cast<ssize_t>(big.size()));
  const json a = json::parse(answer(*s, fd));
  EXPECT_EQ(a["ok"], false);
  EXPECT_NE(a["error"].get<std::string>().find("longer than"), std::string::npos);
  EXPECT_TRUE(closed_by_server(*s, fd));
  EXPECT_EQ(s->counters().oversize, 1u);
  close(fd);
  // The server still serves.
  const int fd2 = connect_client();
  ASSERT_GT(send(fd2, "{\"command\":\"ping\"}\n", 19, 0), 0);
  EXPECT_EQ(json::parse(answer(*s, fd2))["ok"], true);
  close(fd2);
}

TEST_F(ServerTest, IdleClientDisconnectedOthersServed) {
  auto s = open(std::chrono::milliseconds(100));
  ASSERT_TRUE(s);
  const int idle = connect_client();
  const int busy = connect_client();
  ASSERT_GT(send(busy, "{\"command\":\"ping\"}\n", 19, 0), 0);
  EXPECT_EQ(json::parse(answer(*s, busy))["ok"], true);
  EXPECT_TRUE(closed_by_server(*s, idle));
  EXPECT_GE(s->counters().idle_closed, 1u);
  close(idle);
  close(busy);
}

TEST_F(ServerTest, TooManyClientsRefusedPolitely) {
  auto s = open();
  ASSERT_TRUE(s);
  std::vector<int> fds;
  for (std::size_t i = 0; i < kMaxClients; ++i) fds.push_back(connect_client());
  for (int i = 0; i < 20; ++i) s->poll(std::chrono::steady_clock::now());
  EXPECT_EQ(s->clients(), kMaxClients);
  const int extra = connect_client();
  const json a = json::parse(answer(*s, extra));
  EXPECT_EQ(a["error"], "too many control connections");
  for (int fd : fds) close(fd);
  close(extra);
}

}  // namespace
}  // namespace esprit
