// [daemon] workers / main_lcore -> EAL lcore arguments and the worker lcores chosen after EAL init.
#include "esprit/common/lcores.hpp"

#include <gtest/gtest.h>

namespace esprit {
namespace {

using Words = std::vector<std::string>;

DaemonConfig daemon(std::vector<uint32_t> list, uint32_t count = 0, std::optional<uint32_t> main = std::nullopt) {
  DaemonConfig d;
  d.worker_lcores = std::move(list);
  d.worker_count = d.worker_lcores.empty() ? count : static_cast<uint32_t>(d.worker_lcores.size());
  d.main_lcore = main;
  return d;
}

TEST(LcoreEalArgs, FromTheDaemonSection) {
  EXPECT_EQ(lcore_eal_args(daemon({}), {}), Words{});  // nothing set: EAL's default
  EXPECT_EQ(lcore_eal_args(daemon({2, 3}, 0, 1), {}), (Words{"-l", "1,2,3", "--main-lcore", "1"}));
  EXPECT_EQ(lcore_eal_args(daemon({0, 1}), {}), (Words{"-l", "0,1,2", "--main-lcore", "2"}));
  EXPECT_EQ(lcore_eal_args(daemon({}, 2), {}), (Words{"-l", "0,1,2", "--main-lcore", "0"}));
  EXPECT_EQ(lcore_eal_args(daemon({}, 2, 1), {}), (Words{"-l", "0,1,2", "--main-lcore", "1"}));
  EXPECT_EQ(lcore_eal_args(daemon({}, 0, 3), {}), (Words{"--main-lcore", "3"}));
}

TEST(LcoreEalArgs, TheUsersOwnLcoreArgumentsWin) {
  for (const char* a : {"-l", "-l0-3", "-c", "--lcores=0@0,1@1", "--main-lcore"}) {
    const Words user = {"--no-huge", a, "0,1"};
    EXPECT_EQ(lcore_eal_args(daemon({2, 3}, 0, 1), user), Words{}) << a;
  }
  EXPECT_FALSE(is_lcore_eal_arg("--log-level"));
  EXPECT_FALSE(is_lcore_eal_arg("-m"));
}

TEST(SelectWorkerLcores, ListCountAndErrors) {
  const std::vector<uint32_t> enabled = {1, 2, 3};
  using Out = std::vector<uint32_t>;
  EXPECT_EQ(std::get<Out>(select_worker_lcores(daemon({}), enabled, 0)), (Out{1, 2, 3}));
  EXPECT_EQ(std::get<Out>(select_worker_lcores(daemon({}, 2), enabled, 0)), (Out{1, 2}));
  EXPECT_EQ(std::get<Out>(select_worker_lcores(daemon({3, 1}), enabled, 0)), (Out{3, 1}));
  auto err = [&](const DaemonConfig& d, uint32_t main, std::span<const uint32_t> en) {
    auto r = select_worker_lcores(d, en, main);
    return std::holds_alternative<std::string>(r) ? std::get<std::string>(r) : std::string("(accepted)");
  };
  EXPECT_NE(err(daemon({}, 4), 0, enabled).find("only 3 lcore(s)"), std::string::npos);
  EXPECT_NE(err(daemon({5}), 0, enabled).find("lcore 5 is not enabled"), std::string::npos);
  EXPECT_NE(err(daemon({0}), 0, enabled).find("main lcore"), std::string::npos);
  EXPECT_NE(err(daemon({}), 0, {}).find("no worker lcore"), std::string::npos);
}

}  // namespace
}  // namespace esprit
