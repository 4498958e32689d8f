// Kill and resume: a run killed with SIGKILL (between epochs or mid-epoch) and continued
// with --resume ends bitwise where the uninterrupted run ends, for the rating task and the
// ranking one; resume auto; bad resume points.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "data/movielens.h"
#include "data/sample.h"
#include "dnnrec/error.h"
#include "test_util.h"
#include "train/checkpoint.h"

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace dnnrec {
namespace {

const std::string& data_dir() {
  static testing::TempDir* dir = new testing::TempDir();
  static const std::string path = [] {
    const std::string p = dir->file("data");
    write_sample_movielens(p, SampleOptions{120, 200, 8000, 300, 3});
    return p;
  }();
  return path;
}

using testing::kill_when;
using testing::shell;

// history.csv without the timing columns (seconds, samples_per_sec).
std::string history_without_timing(const std::string& run_dir) {
  std::ifstream in(run_dir + "/history.csv");
  std::string line, out;
  std::vector<bool> keep;
  while (std::getline(in, line)) {
    std::vector<std::string> cells;
    std::stringstream ss(line);
    std::string cell;
    while (std::getline(ss, cell, ',')) cells.push_back(cell);
    if (keep.empty()) {
      for (const auto& c : cells) keep.push_back(c != "seconds" && c != "samples_per_sec");
    }
    for (size_t i = 0; i < cells.size() && i < keep.size(); ++i) {
      if (keep[i]) out += cells[i] + ",";
    }
    out += "\n";
  }
  return out;
}

json info(const std::string& checkpoint) {
  return json::parse(shell("info --checkpoint " + checkpoint + " --json").out);
}

// The uninterrupted run and a killed-and-resumed one end with the same weights (last.pt and
// best.pt), the same history and the same test metrics.
void expect_same_shell(const std::string& a, const std::string& b, const json& metrics_a,
                       const json& metrics_b) {
  EXPECT_EQ(info(a + "/last.pt")["weights_digest"], info(b + "/last.pt")["weights_digest"]);
  EXPECT_EQ(info(a + "/best.pt")["weights_digest"], info(b + "/best.pt")["weights_digest"]);
  EXPECT_EQ(info(a + "/last.pt")["step"], info(b + "/last.pt")["step"]);
  EXPECT_EQ(history_without_timing(a), history_without_timing(b));
  EXPECT_EQ(metrics_a["test"], metrics_b["test"]) << metrics_a.dump() << metrics_b.dump();
  EXPECT_EQ(metrics_a["val"], metrics_b["val"]);
  EXPECT_EQ(metrics_a["best_epoch"], metrics_b["best_epoch"]);
}

TEST(Resume, SigkillBetweenEpochsThenResumeIsBitwiseTheUninterruptedRun) {
  testing::TempDir tmp;
  const std::string args = "train --data " + data_dir() +
                           " --epochs 4 --hidden 32,16 --embedding-dim 8 --threads 2 --dropout 0.2"
                           " --set output.plots=false -q";
  const testing::Shell whole = shell(args + " --out " + tmp.file("a") + " --json");
  ASSERT_EQ(whole.code, 0);
  const std::string b = tmp.file("b");
  // last.pt first appears at the end of epoch 1.
  ASSERT_TRUE(kill_when(args + " --out " + b, [&] { return fs::exists(b + "/last.pt"); }));
  ASSERT_FALSE(fs::exists(b + "/metrics.json"));
  const int epoch_at_kill = info(b + "/last.pt")["epoch"];
  EXPECT_GE(epoch_at_kill, 1);
  EXPECT_LT(epoch_at_kill, 4);
  const testing::Shell resumed = shell("train --resume " + b + " --json -q");
  ASSERT_EQ(resumed.code, 0) << resumed.out;
  expect_same_shell(tmp.file("a"), b, json::parse(whole.out), json::parse(resumed.out));
}

TEST(Resume, SigkillMidEpochThenResumeIsBitwiseTheUninterruptedRun) {
  testing::TempDir tmp;
  // Batches of 32: 200 steps an epoch; last.pt every 7 steps is a mid-epoch resume point.
  const std::string args = "train --data " + data_dir() +
                           " --epochs 2 --batch-size 32 --hidden 32,16 --embedding-dim 8"
                           " --threads 2 --checkpoint-every-steps 7 --set output.plots=false -q";
  const testing::Shell whole = shell(args + " --out " + tmp.file("a") + " --json");
  ASSERT_EQ(whole.code, 0);
  const std::string b = tmp.file("b");
  ASSERT_TRUE(kill_when(args + " --out " + b, [&] { return fs::exists(b + "/last.pt"); }));
  const json at_kill = info(b + "/last.pt");
  EXPECT_TRUE(at_kill["resumable"].get<bool>());
  EXPECT_EQ(at_kill["step"].get<int>() % 7, 0) << "killed at a step checkpoint";
  EXPECT_LT(at_kill["step"].get<int>(), 200) << "killed within the first epoch";
  const testing::Shell resumed = shell("train --resume " + b + "/last.pt --json -q");
  ASSERT_EQ(resumed.code, 0) << resumed.out;
  expect_same_shell(tmp.file("a"), b, json::parse(whole.out), json::parse(resumed.out));
}

TEST(Resume, SigintMidEpochThenResumeIsBitwiseTheUninterruptedRun) {
  testing::TempDir tmp;
  // Epoch 1 improves on nothing, so it is the best epoch when the run is interrupted in epoch
  // 2: interrupted.pt must hold the weights of the interrupt, not those restore_best brings
  // back at the end of a finished run.
  const std::string args = "train --data " + data_dir() +
                           " --epochs 3 --batch-size 32 --hidden 32,16 --embedding-dim 8"
                           " --threads 2 --set output.plots=false -q";
  const testing::Shell whole = shell(args + " --out " + tmp.file("a") + " --json");
  ASSERT_EQ(whole.code, 0);
  const std::string b = tmp.file("b");
  const std::string script = "\"$0\" \"$@\" & p=$!; for i in $(seq 6000); do [ -f " + b +
                             "/last.pt ] && break; sleep 0.02; done; kill -INT $p; wait $p";
  const testing::Shell stopped = shell(args + " --out " + b, "sh -c '" + script + "'");
  ASSERT_EQ(stopped.code, kExitInterrupted) << stopped.err;
  const json at_stop = info(b + "/interrupted.pt");
  EXPECT_GT(at_stop["step"].get<int>(), 200) << "interrupted after epoch 1";
  EXPECT_LT(at_stop["step"].get<int>(), 400) << "interrupted within epoch 2";
  const testing::Shell resumed = shell("train --resume " + b + " --json -q");
  ASSERT_EQ(resumed.code, 0) << resumed.err;
  expect_same_shell(tmp.file("a"), b, json::parse(whole.out), json::parse(resumed.out));
}

TEST(Resume, AutoTakesTheNewestGoodCheckpointOrStartsAfresh) {
  testing::TempDir tmp;
  const std::string out = tmp.file("run");
  const std::string args = "train --data " + data_dir() +
                           " --epochs 3 --hidden 16 --embedding-dim 8 --threads 2"
                           " --set output.plots=false -q --json --resume auto --out " +
                           out;
  // Nothing to resume: a new run.
  const testing::Shell first = shell(args);
  ASSERT_EQ(first.code, 0);
  const json full = json::parse(first.out);
  // A damaged last.pt is skipped for the newest periodic checkpoint (epoch 3's).
  std::string bytes = testing::read_file(out + "/last.pt");
  testing::write_file(out + "/last.pt", bytes.substr(0, bytes.size() / 2));
  fs::remove(out + "/metrics.json");
  const testing::Shell again = shell(args);
  ASSERT_EQ(again.code, 0);
  EXPECT_EQ(json::parse(again.out)["test"], full["test"]);
  // A weights-only checkpoint cannot be resumed from.
  const std::string weights = tmp.file("weights");
  ASSERT_EQ(shell("train --data " + data_dir() + " --epochs 1 --hidden 16 --out " + weights +
                  " --set train.save_weights_only=true --set output.plots=false -q")
                .code,
            0);
  const testing::Shell refused = shell("train --resume " + weights + "/last.pt");
  EXPECT_EQ(refused.code, kExitBadInput);
  EXPECT_EQ(shell("train --resume " + tmp.file("nothing-here")).code, kExitBadInput);
}

// The ranking task resumes from the end of an epoch: a feature ranker with dropout (torch's
// generator), sampled negatives (SplitMix64), a plateau schedule and restore_best, killed after
// an epoch and resumed, ends bitwise as the uninterrupted run.
TEST(Resume, RankingRunKilledBetweenEpochsThenResumedIsBitwiseTheUninterruptedRun) {
  testing::TempDir tmp;
  const std::string args =
      "train --data " + data_dir() +
      " --task ranking --split random-per-user --model dnn --epochs 4 --hidden 16 --embedding-dim "
      "8 --dropout 0.3"
      " --batch-size 256 --threads 2 --set train.negatives=2 --set train.lr_schedule=plateau"
      " --set train.lr_patience=1 --set train.patience=0 --set data.min_user_interactions=5"
      " --set data.min_item_interactions=5 --set output.plots=false -q";
  const testing::Shell whole = shell(args + " --out " + tmp.file("a") + " --json");
  ASSERT_EQ(whole.code, 0) << whole.err;
  const std::string b = tmp.file("b");
  ASSERT_TRUE(kill_when(args + " --out " + b, [&] { return fs::exists(b + "/last.pt"); }));
  ASSERT_FALSE(fs::exists(b + "/metrics.json"));
  const json at_kill = info(b + "/last.pt");
  EXPECT_TRUE(at_kill["resumable"].get<bool>());
  EXPECT_GE(at_kill["epoch"].get<int>(), 1);
  EXPECT_LT(at_kill["epoch"].get<int>(), 4);
  const testing::Shell resumed = shell("train --resume " + b + " --json -q");
  ASSERT_EQ(resumed.code, 0) << resumed.err;
  expect_same_shell(tmp.file("a"), b, json::parse(whole.out), json::parse(resumed.out));
}

}  // namespace
}  // namespace dnnrec
