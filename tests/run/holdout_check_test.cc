// scripts/holdout-check.sh: rows removed before dnnrec sees them, then served with predict.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <cmath>
#include <fstream>
#include <set>
#include <sstream>

#include "data/movielens.h"
#include "data/sample.h"
#include "test_util.h"

namespace dnnrec {
namespace {

using json = nlohmann::json;

// The rows of a CSV file without its header, each split at commas (tags here have none).
std::vector<std::vector<std::string>> rows_of(const std::string& path) {
  std::vector<std::vector<std::string>> rows = testing::read_csv(path);
  if (!rows.empty()) rows.erase(rows.begin());
  return rows;
}

TEST(HoldoutCheck, RemovesTheRowsAndTheirTagsThenServesThem) {
  testing::TempDir tmp;
  const std::string data = tmp.file("ml");
  SampleOptions sample;
  sample.ratings = 4000;
  sample.tags = 400;
  write_sample_movielens(data, sample);
  const std::string keep = tmp.file("keep");
  const std::string script = std::string(DNNREC_SOURCE_DIR) + "/scripts/holdout-check.sh ";
  const std::string mf = std::string(DNNREC_SOURCE_DIR) + "/configs/mf.yaml";
  const testing::Shell run =
      testing::run_command("KEEP=" + keep + " DNNREC=" + std::string(DNNREC_BINARY) + " " + script +
                           mf + " " + data + " --fraction 0.2 --seed 7 --json -- --epochs 2");
  ASSERT_EQ(run.code, 0) << run.err;
  const json result = json::parse(run.out);

  // A fifth of the ratings, by a binomial draw: 800 expected, the standard deviation is 25.
  const auto all = rows_of(data + "/ratings.csv"), kept = rows_of(keep + "/data/ratings.csv");
  const auto held = rows_of(keep + "/heldout.csv");
  EXPECT_EQ(kept.size() + held.size(), all.size());
  EXPECT_NEAR(static_cast<double>(held.size()), 800.0, 125.0);
  EXPECT_EQ(result["heldout"].get<size_t>(), held.size());
  std::set<std::pair<std::string, std::string>> pairs;
  for (const auto& r : held) pairs.emplace(r[0], r[1]);
  for (const auto& r : kept) EXPECT_EQ(pairs.count({r[0], r[1]}), 0u);
  // Tags of held-out pairs are gone; every other tag stays.
  const auto tags = rows_of(data + "/tags.csv"), kept_tags = rows_of(keep + "/data/tags.csv");
  size_t removed = 0;
  for (const auto& r : tags) removed += pairs.count({r[0], r[1]});
  EXPECT_GT(removed, 0u);
  EXPECT_EQ(kept_tags.size(), tags.size() - removed);
  for (const auto& r : kept_tags) EXPECT_EQ(pairs.count({r[0], r[1]}), 0u);

  // The served RMSE is predict's output against the removed ratings.
  const auto predictions = rows_of(keep + "/predictions.csv");
  ASSERT_EQ(predictions.size(), held.size());
  double squares = 0;
  for (size_t i = 0; i < held.size(); ++i) {
    ASSERT_EQ(predictions[i][0], held[i][0]);
    ASSERT_EQ(predictions[i][1], held[i][1]);
    const double error = std::stod(predictions[i][2]) - std::stod(held[i][2]);
    squares += error * error;
  }
  const double served = std::sqrt(squares / static_cast<double>(held.size()));
  EXPECT_NEAR(result["served"]["rmse"].get<double>(), served, 1e-4);  // predictions.csv rounds
  EXPECT_GT(served, 0.3);
  EXPECT_LT(served, 2.0);
  EXPECT_GT(result["test"]["rmse"].get<double>(), 0.3);
  EXPECT_EQ(result["config"].get<std::string>(), mf);

  // Bad arguments are one line and exit 2.
  EXPECT_EQ(testing::run_command(script + "/nonexistent.yaml").code, 2);
  EXPECT_EQ(testing::run_command(script + mf + " " + data + " --fractoin 0.1").code, 2);
}

}  // namespace
}  // namespace dnnrec
