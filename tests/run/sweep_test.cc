// Sweeps: the trial hash, grid expansion, random ranges, running and resuming (also after
// SIGKILL), the leaderboard; the example shell loop; --json of every subcommand; the plots.
#include "run/sweep.h"
#include "data/sample.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>

#include "data/movielens.h"
#include "dnnrec/error.h"
#include "test_util.h"

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace dnnrec {
namespace {

// Small sample data shared by the tests that train (1 epoch trials take about a second).
const std::string& sample_data() {
  static testing::TempDir* dir = new testing::TempDir();
  static const std::string path = [] {
    const std::string p = dir->file("data");
    write_sample_movielens(p, SampleOptions{80, 120, 4000, 200, 5});
    return p;
  }();
  return path;
}

SweepOptions options_for(const std::string& out) {
  SweepOptions o;
  o.base.data.dir = sample_data();
  o.base.train.epochs = 1;
  o.base.model.hidden = {16};
  o.base.model.embedding_dim = 8;
  o.base.output.plots = false;
  o.out = out;
  o.binary = DNNREC_BINARY;
  o.jobs = 2;
  return o;
}

using testing::shell;
using testing::Shell;

// Live processes whose command line contains `text`.
int processes_mentioning(const std::string& text) {
  int n = 0;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator("/proc", ec)) {
    std::ifstream in(entry.path() / "cmdline", std::ios::binary);
    std::string cmdline((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    std::replace(cmdline.begin(), cmdline.end(), '\0', ' ');
    n += cmdline.find(text) != std::string::npos;
  }
  return n;
}

int csv_rows(const std::string& path) {
  std::ifstream in(path);
  std::string line;
  int rows = -1;  // the header
  while (std::getline(in, line)) rows += !line.empty();
  return rows;
}

TEST(Sweep, TrialIdIsAHashOfTheConfigWithoutRunEnvironment) {
  Config a, b;
  EXPECT_EQ(trial_id(a), trial_id(b));
  EXPECT_EQ(trial_id(a).size(), 16u);
  EXPECT_EQ(trial_id(a).find_first_not_of("0123456789abcdef"), std::string::npos);
  b.train.threads = 7;
  b.data.cache = false;
  b.output.dir = "elsewhere";
  b.output.plots = false;
  EXPECT_EQ(trial_id(a), trial_id(b)) << "threads, cache and output do not change results";
  b.train.lr = 0.003;
  EXPECT_NE(trial_id(a), trial_id(b));
  Config c;
  c.train.seed = 43;
  EXPECT_NE(trial_id(a), trial_id(c));
  // Only values away from the defaults count (so a new key, at its default, changes no id):
  // the id of a config with one change is the hash of that one line.
  Config d;
  d.train.lr = 0.003;
  EXPECT_EQ(trial_id(d), trial_id(b));
  EXPECT_EQ(trial_id(Config()), "cbf29ce484222325");  // FNV-1a of nothing
}

TEST(Sweep, GridIsTheCartesianProductFirstAxisSlowest) {
  SweepOptions o;
  o.grid.push_back(parse_grid_axis("lr=0.0003,0.001,0.003"));
  o.grid.push_back(parse_grid_axis("model.embedding_dim=16,32"));
  o.seeds = 2;
  const auto trials = expand_trials(o);
  ASSERT_EQ(trials.size(), 6u);
  EXPECT_EQ(trials[0].params[0], (std::pair<std::string, std::string>{"train.lr", "0.0003"}));
  EXPECT_EQ(trials[1].params[1].second, "32");
  EXPECT_EQ(trials[2].params[0].second, "0.001");
  EXPECT_DOUBLE_EQ(trials[5].config.train.lr, 0.003);
  EXPECT_EQ(trials[5].config.model.embedding_dim, 32);
  EXPECT_EQ(trials[5].config.train.seeds, 2);
  std::set<std::string> ids;
  for (const auto& t : trials) ids.insert(t.id);
  EXPECT_EQ(ids.size(), 6u);
  // A list key separates its alternatives with ';'.
  auto hidden = parse_grid_axis("hidden=64,32;128");
  EXPECT_EQ(hidden.first, "model.hidden");
  EXPECT_EQ(hidden.second, (std::vector<std::string>{"64,32", "128"}));
}

TEST(Sweep, BadGridsAreConfigErrorsNamingTheKey) {
  auto message = [](const std::string& text) -> std::string {
    try {
      parse_grid_axis(text);
    } catch (const ConfigError& e) {
      return e.what();
    }
    return "no error";
  };
  EXPECT_NE(message("lr=0.1,abc").find("train.lr"), std::string::npos) << message("lr=0.1,abc");
  EXPECT_NE(message("lrr=0.1").find("did you mean"), std::string::npos) << message("lrr=0.1");
  EXPECT_NE(message("lr=0.1,0.1").find("twice"), std::string::npos);
  EXPECT_NE(message("lr").find("KEY=V1,V2"), std::string::npos);
  EXPECT_NE(message("lr=0.1,,0.2").find("empty"), std::string::npos);
  SweepOptions o;
  o.grid.push_back(parse_grid_axis("dropout=0.1,1.5"));  // parses, but 1.5 is out of range
  EXPECT_THROW(expand_trials(o), ConfigError);
}

TEST(Sweep, RandomRangesDrawInsideTheirBoundsReproducibly) {
  SweepRange lr = parse_range("lr=1e-4:1e-2:log");
  EXPECT_EQ(lr.key, "train.lr");
  EXPECT_EQ(lr.scale, "log");
  SweepRange dim = parse_range("embedding_dim=8:64");
  EXPECT_EQ(dim.scale, "int");  // an integer key draws integers
  SweepOptions o;
  o.ranges = {lr, dim};
  o.random = 200;
  o.random_seed = 5;
  const auto trials = expand_trials(o);
  ASSERT_GT(trials.size(), 150u);  // distinct draws (a repeated draw is one trial)
  int below_1e3 = 0;
  std::set<int> dims;
  for (const auto& t : trials) {
    EXPECT_GE(t.config.train.lr, 1e-4 * 0.9999);
    EXPECT_LE(t.config.train.lr, 1e-2 * 1.0001);
    below_1e3 += t.config.train.lr < 1e-3;
    EXPECT_GE(t.config.model.embedding_dim, 8);
    EXPECT_LE(t.config.model.embedding_dim, 64);
    dims.insert(t.config.model.embedding_dim);
  }
  // Log-uniform: half the draws below the geometric middle 1e-3 (a linear range gives 9%).
  EXPECT_NEAR(below_1e3 / static_cast<double>(trials.size()), 0.5, 0.12);
  EXPECT_GT(dims.size(), 40u);
  EXPECT_TRUE(dims.count(8) && dims.count(64)) << "both ends can be drawn";
  // The same seed draws the same trials (so a re-run resumes); another seed others.
  EXPECT_EQ(expand_trials(o)[7].id, trials[7].id);
  o.random_seed = 6;
  EXPECT_NE(expand_trials(o)[7].id, trials[7].id);
  // Grid points times draws.
  o.grid.push_back(parse_grid_axis("optimizer=adam,sgd"));
  o.random = 3;
  EXPECT_EQ(expand_trials(o).size(), 6u);

  EXPECT_THROW(parse_range("lr=0:1e-2:log"), ConfigError);  // log needs LO > 0
  EXPECT_THROW(parse_range("lr=1e-2:1e-4"), ConfigError);   // LO < HI
  EXPECT_THROW(parse_range("lr=1e-4:1e-2:cubic"), ConfigError);
  EXPECT_THROW(parse_range("optimizer=1:2"), ConfigError);  // not a number
  EXPECT_THROW(parse_range("dropout=0:2"), ConfigError);    // 2 is not a dropout
  SweepOptions no_draws;
  no_draws.ranges = {lr};
  EXPECT_THROW(expand_trials(no_draws), ConfigError);  // --range needs --random
}

TEST(Sweep, RunsRanksAndResumesWithoutRedoingFinishedTrials) {
  testing::TempDir tmp;
  SweepOptions o = options_for(tmp.file("sweep"));
  o.grid.push_back(parse_grid_axis("lr=0.001,0.01"));
  o.grid.push_back(parse_grid_axis("dropout=0,0.3"));
  o.seeds = 2;
  SweepResult first = run_sweep(o);
  EXPECT_EQ(first.trials, 4);
  EXPECT_EQ(first.ran, 4);
  EXPECT_EQ(first.failed, 0);
  ASSERT_EQ(first.leaderboard.size(), 4u);
  for (size_t i = 0; i + 1 < first.leaderboard.size(); ++i) {  // ranked, best (lowest) first
    EXPECT_LE(first.leaderboard[i].score, first.leaderboard[i + 1].score);
    EXPECT_EQ(first.leaderboard[i].rank, static_cast<int>(i + 1));
  }
  EXPECT_GT(first.leaderboard[0].metrics.size(), 3u);
  EXPECT_EQ(csv_rows(o.out + "/leaderboard.csv"), 4);
  const std::string md = testing::read_file(o.out + "/leaderboard.md");
  EXPECT_NE(md.find(" ± "), std::string::npos) << md;
  EXPECT_NE(md.find("train.lr"), std::string::npos);
  ASSERT_TRUE(fs::exists(first.best_config));
  Config best;
  best.merge_yaml_file(first.best_config);  // ready to use
  EXPECT_EQ(best.output.dir, "");
  EXPECT_EQ(trial_id(best), first.leaderboard[0].id);

  // Make one trial unfinished (as a kill leaves it) and touch nothing else.
  const std::string victim = o.out + "/trials/" + first.leaderboard[2].id;
  fs::remove(victim + "/status");
  fs::remove(victim + "/run/metrics.json");
  const std::string kept = o.out + "/trials/" + first.leaderboard[0].id + "/run/metrics.json";
  const auto kept_time = fs::last_write_time(kept);
  SweepResult second = run_sweep(o);
  EXPECT_EQ(second.ran, 1);
  EXPECT_EQ(second.reused, 3);
  EXPECT_EQ(fs::last_write_time(kept), kept_time) << "a finished trial was run again";
  EXPECT_EQ(second.leaderboard.size(), 4u);
  for (const auto& row : second.leaderboard) EXPECT_EQ(row.status, "done");
}

TEST(Sweep, RanksRankingTrialsByValNdcgHighestFirst) {
  testing::TempDir tmp;
  SweepOptions o = options_for(tmp.file("sweep"));
  o.base.train.task = "ranking";
  o.base.data.split = "random-per-user";
  o.base.data.min_user_interactions = 5;
  o.base.data.min_item_interactions = 5;
  o.base.model.name = "itemknn";
  o.grid.push_back(parse_grid_axis("model.neighbours=1,5,50"));
  const SweepResult r = run_sweep(o);
  ASSERT_EQ(r.failed, 0);
  EXPECT_EQ(r.metric, "val_ndcg@10");  // the ranking task's monitor
  ASSERT_EQ(r.leaderboard.size(), 3u);
  // Ranked by val_ndcg@10, the best (highest) first.
  EXPECT_GE(r.leaderboard[0].score, r.leaderboard[1].score);
  EXPECT_GE(r.leaderboard[1].score, r.leaderboard[2].score);
  EXPECT_GT(r.leaderboard[0].score, 0.0);
  bool test_ndcg = false;
  for (const auto& [name, unused] : r.leaderboard[0].metrics) test_ndcg |= name == "test_ndcg@10";
  EXPECT_TRUE(test_ndcg);
  const std::string md = testing::read_file(o.out + "/leaderboard.md");
  EXPECT_NE(md.find("model.neighbours"), std::string::npos) << md;
  EXPECT_NE(md.find("val_ndcg@10"), std::string::npos) << md;
}

TEST(Sweep, ADivergedTrialIsRankedLastAndNotRerun) {
  testing::TempDir tmp;
  SweepOptions o = options_for(tmp.file("sweep"));
  o.base.train.optimizer = "sgd";
  o.grid.push_back(parse_grid_axis("lr=0.01,1e12"));
  SweepResult r = run_sweep(o);
  ASSERT_EQ(r.leaderboard.size(), 2u);
  EXPECT_EQ(r.leaderboard[0].status, "done");
  EXPECT_EQ(r.leaderboard[1].status, "diverged");
  EXPECT_TRUE(std::isnan(r.leaderboard[1].score));
  EXPECT_EQ(r.failed, 0);
  EXPECT_EQ(run_sweep(o).ran, 0);
}

TEST(Sweep, SigkillPartwayThenTheSameCommandFinishesIt) {
  testing::TempDir tmp;
  const std::string out = tmp.file("sweep");
  const std::string args = "sweep --data " + sample_data() +
                           " --epochs 1 --hidden 16 --embedding-dim 8 --grid lr=0.001,0.002,0.003"
                           " --grid dropout=0,0.3 --jobs 2 --out " +
                           out + " --set output.plots=false -q";
  // Kill it once two trials have finished.
  auto finished = [&] {
    int n = 0;
    std::error_code ec;
    if (!fs::exists(out + "/trials")) return 0;
    for (const auto& entry : fs::directory_iterator(out + "/trials", ec)) {
      n += fs::exists(entry.path() / "run/metrics.json");
    }
    return n;
  };
  ASSERT_TRUE(testing::kill_when(args, [&] { return finished() >= 2; }))
      << "the sweep finished before it was killed";
  const int done_before = finished();
  ASSERT_GE(done_before, 2);
  ASSERT_LT(done_before, 6) << "the sweep finished before it was killed";
  // The trials it was running died with it.
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_EQ(processes_mentioning(out + "/trials/"), 0) << "trials outlived the killed sweep";

  const Shell again = shell(args + " --json");
  ASSERT_EQ(again.code, 0) << again.out;
  const json summary = json::parse(again.out);
  EXPECT_EQ(summary["trials"], 6);
  EXPECT_EQ(summary["reused"], done_before);
  EXPECT_EQ(summary["ran"], 6 - done_before);
  EXPECT_EQ(summary["leaderboard"].size(), 6u);
  EXPECT_EQ(csv_rows(out + "/leaderboard.csv"), 6);
}

TEST(Sweep, EvaluateTakesARunOrASweepDirectory) {
  testing::TempDir tmp;
  SweepOptions o = options_for(tmp.file("sweep"));
  o.grid.push_back(parse_grid_axis("lr=0.001,0.01"));
  run_sweep(o);
  const Shell table = shell("evaluate --checkpoint " + o.out);
  EXPECT_EQ(table.code, 0);
  EXPECT_NE(table.out.find("| checkpoint | examples |"), std::string::npos) << table.out;
  const Shell all = shell("evaluate --checkpoint " + o.out + " --json");
  ASSERT_EQ(all.code, 0);
  const json doc = json::parse(all.out);
  ASSERT_EQ(doc["results"].size(), 2u);
  EXPECT_GT(doc["results"][0]["test"]["rmse"].get<double>(), 0.0);
  const std::string run = o.out + "/trials/" + trial_id(expand_trials(o)[0].config) + "/run";
  const json one = json::parse(shell("evaluate --checkpoint " + run + " --json").out);
  EXPECT_EQ(one["results"].size(), 1u);
  EXPECT_EQ(shell("evaluate --checkpoint " + tmp.path()).code, kExitBadInput);
}

TEST(Sweep, TheExampleShellLoopCollectsEveryRun) {
  testing::TempDir tmp;
  const std::string command =
      "DNNREC=" + std::string(DNNREC_BINARY) + " DNNREC_DATA=" + sample_data() +
      " EPOCHS=1 LRS='0.001 0.01' DIMS='8 16' " + std::string(DNNREC_SOURCE_DIR) +
      "/scripts/sweep-example.sh " + tmp.file("loop") + " >/dev/null 2>&1";
  ASSERT_EQ(std::system(command.c_str()), 0);
  const std::string csv = testing::read_file(tmp.file("loop/results.csv"));
  EXPECT_EQ(csv.rfind("lr,embedding_dim,val_rmse,test_rmse,run_dir\n", 0), 0u) << csv;
  EXPECT_EQ(csv_rows(tmp.file("loop/results.csv")), 4);
  EXPECT_NE(csv.find("0.01,16,0."), std::string::npos) << csv;
}

TEST(Sweep, EverySubcommandsJsonIsOneObjectOnStdout) {
  testing::TempDir tmp;
  const std::string run = tmp.file("run");
  const std::string common = " --data " + sample_data() + " --epochs 1 --hidden 16 -q";
  std::vector<std::string> commands = {
      "train" + common + " --out " + run + " --json",
      "evaluate --checkpoint " + run + "/best.pt --json",
      "evaluate --checkpoint " + run + " --json",
      "recommend --checkpoint " + run + "/best.pt --user 3 --json",
      "info --checkpoint " + run + "/best.pt --json",
      "sample --out " + tmp.file("s") + " --users 20 --movies 30 --ratings 300 --tags 20 --json",
      "config --json",
      "config --models --json",
      "sweep" + common + " --grid lr=0.001,0.01 --out " + tmp.file("sw") + " --json",
  };
  testing::write_file(tmp.file("pairs.csv"), "userId,movieId\n3,5\n");
  commands.push_back("predict --checkpoint " + run + "/best.pt --input " + tmp.file("pairs.csv") +
                     " --output " + tmp.file("p.csv") + " --json");
  for (const auto& command : commands) {
    const Shell r = shell(command);
    EXPECT_EQ(r.code, 0) << command;
    json doc;
    EXPECT_NO_THROW(doc = json::parse(r.out)) << command << "\n" << r.out;
    EXPECT_TRUE(doc.is_object()) << command;
  }
  EXPECT_EQ(json::parse(shell("config --json").out)["train"]["lr"], 0.001);
  EXPECT_EQ(
      shell("predict --checkpoint " + run + "/best.pt --input " + tmp.file("pairs.csv") + " --json")
          .code,
      kExitBadInput);  // the CSV would share stdout with the JSON
}

TEST(Plots, RunAndSweepPlotsAreWritten) {
  // python3-matplotlib is one of the project's dependencies (scripts/install-deps.sh).
  testing::TempDir tmp;
  SweepOptions o = options_for(tmp.file("sweep"));
  o.grid.push_back(parse_grid_axis("lr=0.001,0.01"));
  o.seeds = 2;
  run_sweep(o);
  const std::string plot =
      "/usr/bin/python3 " + std::string(DNNREC_SOURCE_DIR) + "/scripts/plot.py ";
  ASSERT_EQ(std::system((plot + o.out + " >/dev/null 2>&1").c_str()), 0);
  EXPECT_GT(fs::file_size(o.out + "/best_trials.png"), 5000u);
  EXPECT_GT(fs::file_size(o.out + "/metric_vs_params.png"), 5000u);
  const std::string run = o.out + "/trials/" + trial_id(expand_trials(o)[0].config) + "/run";
  ASSERT_EQ(std::system((plot + run + " >/dev/null 2>&1").c_str()), 0);
  EXPECT_GT(fs::file_size(run + "/learning_curves.png"), 5000u);
  // dnnrec train draws them itself unless told not to.
  const std::string train = "DNNREC_NO_PLOTS=0 " + std::string(DNNREC_BINARY) + " train --data " +
                            sample_data() + " --epochs 1 --hidden 16 -q --out " + tmp.file("r") +
                            " >/dev/null 2>&1";
  ASSERT_EQ(std::system(train.c_str()), 0);
  EXPECT_TRUE(fs::exists(tmp.file("r/learning_curves.png")));
  EXPECT_NE(std::system((plot + tmp.path() + " >/dev/null 2>&1").c_str()), 0);  // neither
}

}  // namespace
}  // namespace dnnrec
