// The accuracy a run reports is the accuracy users get: evaluate scores every held-out row
// exactly as predict serves its (user, movie) pair, for every split kind and every model.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "cli/cli.h"
#include "data/movielens.h"
#include "data/sample.h"
#include "dnnrec/config.h"
#include "dnnrec/error.h"
#include "models/models.h"
#include "test_util.h"

namespace dnnrec {
namespace {

using json = nlohmann::json;

json run_json(const std::vector<std::string>& args) {
  std::ostringstream out;
  const int code = cli::run(args, out);
  if (code != 0) throw Error("exit code " + std::to_string(code));
  return json::parse(out.str());
}

TEST(Pipeline, EvaluatePredictionsArePredictsBitForBitForEverySplitAndModel) {
  testing::TempDir dir;
  const std::string data = dir.file("data");
  write_sample_movielens(data, SampleOptions{80, 120, 4000, 300, 11});
  struct Case {
    std::string split, model, task;
  };
  std::vector<Case> cases;
  for (const char* split : {"random", "temporal", "leave-last"}) {
    for (const std::string& model : model_names()) cases.push_back({split, model, "rating"});
  }
  cases.push_back({"random", "dnn", "binary"});
  cases.push_back({"leave-last", "deepfm", "binary"});
  for (const Case& c : cases) {
    SCOPED_TRACE(c.split + " " + c.model + " " + c.task);
    const std::string run = dir.file(c.split + "-" + c.model + "-" + c.task);
    const json trained = run_json({"dnnrec",   "train",   "--data",
                                   data,       "--out",   run,
                                   "--epochs", "2",       "--split",
                                   c.split,    "--model", c.model,
                                   "--task",   c.task,    "--seq-len",
                                   "5",        "--json",  "--log-level",
                                   "warn",     "--set",   "train.checkpoint_every=0"});
    const std::string checkpoint = trained["checkpoint"].get<std::string>();
    // The checkpoint names the history its training examples got (auto resolved by the split).
    const json info = run_json({"dnnrec", "info", "--checkpoint", checkpoint, "--json", "-q"});
    const std::string expected = c.split == "random" ? "history: others\n" : "history: before\n";
    EXPECT_NE(info["config"].get<std::string>().find(expected), std::string::npos)
        << info["config"];
    const std::string scored = dir.file("evaluate.csv");
    const json evaluated = run_json({"dnnrec", "evaluate", "--checkpoint", checkpoint,
                                     "--predictions", scored, "--json", "-q"});
    // The run's reported test metrics are evaluate's, exactly.
    EXPECT_EQ(evaluated["test"], trained["test"]);

    const auto rows = testing::read_csv(scored);
    ASSERT_GT(rows.size(), 10u);
    ASSERT_EQ(rows.front(),
              (std::vector<std::string>{"userId", "movieId", "rating", "prediction"}));
    EXPECT_EQ(static_cast<int64_t>(rows.size()) - 1, evaluated["examples"].get<int64_t>());
    std::string pairs = "userId,movieId\n";
    for (size_t i = 1; i < rows.size(); ++i) pairs += rows[i][0] + "," + rows[i][1] + "\n";
    testing::write_file(dir.file("pairs.csv"), pairs);
    std::ostringstream ignored;
    ASSERT_EQ(cli::run({"dnnrec", "predict", "--checkpoint", checkpoint, "--input",
                        dir.file("pairs.csv"), "--output", dir.file("predict.csv"), "-q"},
                       ignored),
              0);
    const auto served = testing::read_csv(dir.file("predict.csv"));
    ASSERT_EQ(served.size(), rows.size());
    double squared = 0.0;
    for (size_t i = 1; i < rows.size(); ++i) {
      ASSERT_EQ(served[i][0], rows[i][0]);
      ASSERT_EQ(served[i][1], rows[i][1]);
      // Nine significant digits read back to the same float: equal text is equal bits.
      ASSERT_EQ(served[i][2], rows[i][3]) << "row " << i;
      const float prediction = std::stof(rows[i][3]);
      const float rating = std::stof(rows[i][2]);
      EXPECT_EQ(std::stof(served[i][2]), prediction);
      squared += std::pow(static_cast<double>(prediction) - rating, 2);
    }
    if (c.task == "rating") {
      // The file's predictions give the reported RMSE (up to float summation order).
      const double rmse = std::sqrt(squared / static_cast<double>(rows.size() - 1));
      EXPECT_NEAR(rmse, evaluated["test"]["rmse"].get<double>(), 1e-5);
    }
  }
}

TEST(Pipeline, EvaluatePredictionsNeedsOneCheckpoint) {
  testing::TempDir dir;
  const std::string data = dir.file("data");
  write_sample_movielens(data, SampleOptions{30, 40, 600, 20, 3});
  std::ostringstream out;
  ASSERT_EQ(cli::run({"dnnrec", "train", "--data", data, "--out", dir.file("run"), "--epochs", "1",
                      "--model", "mf", "--seeds", "2", "-q"},
                     out),
            0);
  std::ostringstream err;
  EXPECT_THROW(cli::run({"dnnrec", "evaluate", "--checkpoint", dir.file("run"), "--predictions",
                         dir.file("p.csv"), "-q"},
                        err),
               ConfigError);
  EXPECT_FALSE(std::filesystem::exists(dir.file("p.csv")));
}

TEST(Pipeline, BeforeHistoryWithARandomSplitIsAConfigError) {
  testing::TempDir dir;
  std::ostringstream out;
  try {
    cli::run({"dnnrec", "train", "--data", dir.file("none"), "--out", dir.file("run"), "--set",
              "features.history=before", "-q"},
             out);
    FAIL() << "features.history=before with the random split was accepted";
  } catch (const ConfigError& e) {
    EXPECT_EQ(e.exit_code(), kExitBadInput);
    EXPECT_NE(std::string(e.what()).find("features.history"), std::string::npos) << e.what();
  }
  // The same history with a split that keeps held-out ratings after training is accepted.
  Config config;
  config.data.split = "leave-last";
  config.features.history = "before";
  EXPECT_NO_THROW(config.validate());
}

}  // namespace
}  // namespace dnnrec
