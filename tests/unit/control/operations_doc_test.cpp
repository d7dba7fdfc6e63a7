// docs/operations.md lists every drop reason and neighbour counter with the name and meaning the
// code's tables give them (the tables are the source; this keeps the page from drifting).
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "esprit/control/ike_io.hpp"
#include "esprit/fastpath/drop_reason.hpp"
#include "esprit/fastpath/gateway.hpp"
#include "esprit/fastpath/neighbor.hpp"

namespace esprit {
namespace {

std::string page() {
  std::ifstream f(std::string(ESPRIT_SOURCE_ROOT) + "/docs/operations.md");
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}

/// The rows of the first table after `marker`.
std::vector<std::string> rows_after(const std::string& doc, const std::string& marker) {
  std::vector<std::string> rows;
  auto at = doc.find(marker);
  if (at == std::string::npos) return rows;
  at = doc.find("|---|---|\n", at);
  if (at == std::string::npos) return rows;
  std::istringstream in(doc.substr(at + 10));
  for (std::string line; std::getline(in, line) && line.starts_with("|");) rows.push_back(line);
  return rows;
}

std::string row(std::string_view name, std::string_view description) {
  return "| `" + std::string(name) + "` | " + std::string(description) + " |";
}

TEST(OperationsDoc, DropTablesMatchTheCode) {
  const std::string doc = page();
  ASSERT_FALSE(doc.empty()) << "docs/operations.md not found";
  std::vector<std::string> want;
  for (const auto& d : kGatewayDrops) want.push_back(row(d.name, d.description));
  EXPECT_EQ(rows_after(doc, "`ESPRIT_GATEWAY_DROPS`"), want);
  want.clear();
  for (const auto& d : kDropReasons) want.push_back(row(d.name, d.description));
  EXPECT_EQ(rows_after(doc, "`ESPRIT_DROP_REASONS`"), want);
  want.clear();
  for (const auto& d : kNeighborWorkerCounters) want.push_back(row(d.name, d.description));
  EXPECT_EQ(rows_after(doc, "`ESPRIT_NEIGHBOR_WORKER_COUNTERS`"), want);
  want.clear();
  for (const auto& d : kNeighborCounters) want.push_back(row(d.name, d.description));
  EXPECT_EQ(rows_after(doc, "`ESPRIT_NEIGHBOR_COUNTERS`"), want);
  want.clear();
  for (const auto& d : kIkeIoDrops) want.push_back(row(d.name, d.description));
  EXPECT_EQ(rows_after(doc, "`ESPRIT_IKE_IO_DROPS`"), want);
}

}  // namespace
}  // namespace esprit
