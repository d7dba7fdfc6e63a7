#include "esprit/common/lcores.hpp"

#include <algorithm>

namespace esprit {

bool is_lcore_eal_arg(const std::string& a) noexcept {
  return a == "-l" || a == "-c" || a.starts_with("--lcores") || a.starts_with("--main-lcore") ||
         (a.size() > 2 && (a.starts_with("-l") || a.starts_with("-c")) && a[2] != '-');
}

std::vector<std::string> lcore_eal_args(const DaemonConfig& d, std::span<const std::string> user_args) {
  if (std::any_of(user_args.begin(), user_args.end(), [](const std::string& a) { return is_lcore_eal_arg(a); }))
    return {};
  if (d.worker_lcores.empty() && d.worker_count == 0 && !d.main_lcore) return {};
  std::vector<uint32_t> workers = d.worker_lcores;
  uint32_t main = 0;
  if (d.main_lcore) {
    main = *d.main_lcore;
  } else {  // the lowest lcore that is not a worker
    while (std::find(workers.begin(), workers.end(), main) != workers.end()) ++main;
  }
  if (workers.empty() && d.worker_count != 0) {
    for (uint32_t l = 0; workers.size() < d.worker_count && l <= kMaxLcoreId; ++l)
      if (l != main) workers.push_back(l);
  }
  if (workers.empty()) return {"--main-lcore", std::to_string(main)};  // main_lcore alone: EAL's lcores
  std::vector<uint32_t> all = workers;
  all.push_back(main);
  std::sort(all.begin(), all.end());
  std::string list;
  for (uint32_t l : all) {
    if (!list.empty()) list += ",";
    list += std::to_string(l);
  }
  return {"-l", list, "--main-lcore", std::to_string(main)};
}

std::variant<std::vector<uint32_t>, std::string> select_worker_lcores(const DaemonConfig& d,
                                                                      std::span<const uint32_t> enabled,
                                                                      uint32_t main_lcore) {
  if (!d.worker_lcores.empty()) {
    for (uint32_t l : d.worker_lcores) {
      if (l == main_lcore)
        return "workers: lcore " + std::to_string(l) + " is the EAL's main lcore (the control core)";
      if (std::find(enabled.begin(), enabled.end(), l) == enabled.end())
        return "workers: lcore " + std::to_string(l) + " is not enabled in the EAL (check -l after --)";
    }
    return d.worker_lcores;
  }
  std::vector<uint32_t> out(enabled.begin(), enabled.end());
  if (d.worker_count != 0) {
    if (out.size() < d.worker_count)
      return "workers = " + std::to_string(d.worker_count) + " but the EAL enabled only " +
             std::to_string(out.size()) + " lcore(s) besides the main one";
    out.resize(d.worker_count);
  }
  if (out.empty()) return std::string("no worker lcore: give the EAL at least two (e.g. -l 0,1) or set [daemon] workers");
  return out;
}

}  // namespace esprit
