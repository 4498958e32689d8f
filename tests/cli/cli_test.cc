// The CLI: argv parsing, config precedence, the run directory, evaluate / predict / recommend /
// info on a saved checkpoint, and the built binary's exit codes and file:line messages.
#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <sstream>

#include "base/runtime.h"
#include "base/simd.h"
#include "cli/cli.h"
#include "data/load.h"
#include "data/sample.h"
#include "dnnrec/config.h"
#include "dnnrec/error.h"
#include "test_util.h"

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace dnnrec {
namespace {

std::string run_cli(std::vector<std::string> args) {
  args.insert(args.begin(), "dnnrec");
  std::ostringstream out;
  EXPECT_EQ(cli::run(args, out), 0);
  return out.str();
}

std::string cli_error(std::vector<std::string> args) {
  args.insert(args.begin(), "dnnrec");
  std::ostringstream out;
  try {
    cli::run(args, out);
  } catch (const Error& e) {
    return e.what();
  }
  return "no error";
}

using testing::shell;
using testing::Shell;

// One small trained run shared by the tests of this file.
struct TrainedRun {
  testing::TempDir dir;
  std::string data, run;
  json metrics;
  TrainedRun() {
    data = dir.file("data");
    write_sample_movielens(data, SampleOptions{100, 150, 6000, 300, 11});
    run = dir.file("run");
    const std::string out = run_cli(
        {"train", "--data", data, "--out", run, "--epochs", "2", "--json", "--log-level", "warn"});
    metrics = json::parse(out);
  }
};

const TrainedRun& trained() {
  static TrainedRun* run = new TrainedRun();
  return *run;
}

TEST(Cli, ReadmeConfigTableIsTheGeneratedOne) {
  const std::string readme = testing::read_file(std::string(DNNREC_SOURCE_DIR) + "/README.md");
  const std::string begin = "<!-- config-table:begin -->\n";
  const size_t from = readme.find(begin);
  const size_t to = readme.find("<!-- config-table:end -->");
  ASSERT_NE(from, std::string::npos);
  ASSERT_NE(to, std::string::npos);
  EXPECT_EQ(readme.substr(from + begin.size(), to - from - begin.size()),
            run_cli({"config", "--markdown"}))
      << "README.md is out of date: run scripts/update-readme-table.sh";
  EXPECT_NE(run_cli({"config", "--set", "lr=0.003"}).find("lr: 0.003"), std::string::npos);
  EXPECT_EQ(run_cli({"config", "--models"}),
            "bias\ndeepfm\ndnn\nglobal-mean\nmf\nneumf\nwide-deep\n"
            "pop (train.task ranking)\nitemknn (train.task ranking)\nease (train.task ranking)\n"
            "bpr (train.task ranking)\ntwo-tower (train.task ranking)\n"
            "sasrec (train.task ranking)\nblend (train.task ranking)\n");
}

TEST(Cli, HelpAndUnknownCommandsAndFlags) {
  EXPECT_NE(run_cli({"--help"}).find("commands:"), std::string::npos);
  // --version names the machine: CPU, BLAS and the kernel paths (scripts/test-cpu-paths.sh
  // reads libtorch's).
  const std::string version = run_cli({"--version"});
  EXPECT_EQ(version.rfind("dnnrec ", 0), 0u) << version;
  EXPECT_NE(version.find("; kernels: libtorch "), std::string::npos) << version;
  EXPECT_NE(run_cli({"train", "--help"}).find("--batch-size"), std::string::npos);
  EXPECT_NE(run_cli({"evaluate", "--help"}).find("--checkpoint"), std::string::npos);
  EXPECT_NE(cli_error({"trian"}).find("did you mean 'train'?"), std::string::npos);
  EXPECT_NE(cli_error({"train", "--lrr", "0.1"}).find("did you mean '--lr'?"), std::string::npos);
  EXPECT_NE(cli_error({"train", "--set", "train.lrr=1"}).find("did you mean 'train.lr'?"),
            std::string::npos);
  EXPECT_NE(cli_error({"evaluate"}).find("--checkpoint is required"), std::string::npos);
  EXPECT_NE(cli_error({"train", "--epochs", "0"}).find("train.epochs"), std::string::npos);
}

TEST(Cli, TrainWritesTheRunDirectory) {
  const TrainedRun& t = trained();
  for (const char* name : {"config.yaml", "history.csv", "metrics.json", "best.pt", "last.pt",
                           "train.log", "command.txt"}) {
    EXPECT_TRUE(fs::exists(t.run + "/" + name)) << name;
  }
  int periodic = 0;
  for (const auto& entry : fs::directory_iterator(t.run + "/checkpoints")) {
    EXPECT_EQ(entry.path().filename().string().rfind("epoch000", 0), 0u);
    ++periodic;
  }
  EXPECT_EQ(periodic, 2);
  const json& m = t.metrics;
  EXPECT_EQ(m, json::parse(testing::read_file(t.run + "/metrics.json")));
  EXPECT_TRUE(m["test"]["rmse"].is_number());
  EXPECT_TRUE(m["test"]["mae"].is_number());
  EXPECT_TRUE(m["val"]["rmse"].is_number());
  EXPECT_EQ(m["epochs_run"], 2);
  EXPECT_GE(m["best_epoch"].get<int>(), 1);
  EXPECT_GT(m["train_samples_per_sec"].get<double>(), 0);
  // The machine the numbers come from: CPU, BLAS kernels and both kernel paths.
  const std::string machine = m["machine"];
  EXPECT_EQ(machine, machine_info().summary());
  EXPECT_NE(machine.find("; BLAS "), std::string::npos) << machine;
  EXPECT_NE(machine.find("kernels: libtorch "), std::string::npos) << machine;
  EXPECT_NE(machine.find(", dnnrec " + simd_path_name(simd_path())), std::string::npos) << machine;
}

TEST(Cli, DryRunLoadsAndBuildsButDoesNotTrain) {
  const TrainedRun& t = trained();
  const std::string out =
      run_cli({"train", "--data", t.data, "--out", t.dir.file("dry"), "--dry-run", "--json", "-q"});
  const json m = json::parse(out);
  EXPECT_GT(m["load_seconds"].get<double>(), 0);
  EXPECT_GT(m["parameters"].get<int64_t>(), 1000);
  EXPECT_GT(m["peak_rss_mib"].get<double>(), 0);
  EXPECT_EQ(m["epochs_run"], 0);
  const std::string run = m["run_dir"];
  EXPECT_TRUE(fs::exists(run + "/config.yaml"));
  EXPECT_FALSE(fs::exists(run + "/metrics.json"));
  EXPECT_FALSE(fs::exists(run + "/last.pt"));
}

TEST(Cli, EvaluateReproducesTheRunsTestMetricsExactly) {
  const TrainedRun& t = trained();
  json e = json::parse(run_cli({"evaluate", "--checkpoint", t.run + "/best.pt", "--json", "-q"}));
  EXPECT_EQ(e["test"]["rmse"].get<double>(), t.metrics["test"]["rmse"].get<double>());
  EXPECT_EQ(e["test"]["mae"].get<double>(), t.metrics["test"]["mae"].get<double>());
  json v = json::parse(
      run_cli({"evaluate", "--checkpoint", t.run + "/best.pt", "--split", "val", "--json", "-q"}));
  EXPECT_EQ(v["val"]["rmse"].get<double>(), t.metrics["val"]["rmse"].get<double>());
}

TEST(Cli, RecommendListsUnratedMoviesOnly) {
  const TrainedRun& t = trained();
  json r = json::parse(run_cli(
      {"recommend", "--checkpoint", t.run + "/best.pt", "--user", "1", "-k", "7", "--json", "-q"}));
  ASSERT_EQ(r["recommendations"].size(), 7u);
  MovieLens data = load_movielens(t.data);
  std::set<int64_t> rated;
  for (size_t i = 0; i < data.ratings.size(); ++i) {
    if (data.ratings.user[i] == 1) rated.insert(data.ratings.movie[i]);
  }
  double previous = 1e9;
  for (const auto& item : r["recommendations"]) {
    EXPECT_EQ(rated.count(item["movieId"].get<int64_t>()), 0u);
    EXPECT_FALSE(item["title"].get<std::string>().empty());
    EXPECT_LE(item["score"].get<double>(), previous + 1e-9);
    previous = item["score"].get<double>();
  }
  const std::string table =
      run_cli({"recommend", "--checkpoint", t.run + "/best.pt", "--user", "1", "-k", "3", "-q"});
  EXPECT_EQ(std::count(table.begin(), table.end(), '\n'), 4);  // header + 3
  // The run directory stands for the checkpoint its metrics.json names (best.pt here).
  EXPECT_EQ(run_cli({"recommend", "--checkpoint", t.run, "--user", "1", "-k", "3", "-q"}), table);
  EXPECT_NE(cli_error({"recommend", "--checkpoint", t.run + "/best.pt", "--user", "999999", "-q"})
                .find("has no ratings"),
            std::string::npos);
}

TEST(Cli, PredictScoresPairsIncludingUnknownIds) {
  const TrainedRun& t = trained();
  testing::write_file(t.dir.file("pairs.csv"), "userId,movieId\n1,1\n2,3\n123456,1\n1,999999\n");
  run_cli({"predict", "--checkpoint", t.run + "/best.pt", "--input", t.dir.file("pairs.csv"),
           "--output", t.dir.file("pred.csv"), "-q"});
  const std::string out = testing::read_file(t.dir.file("pred.csv"));
  EXPECT_EQ(out.rfind("userId,movieId,prediction\n1,1,", 0), 0u);
  EXPECT_EQ(std::count(out.begin(), out.end(), '\n'), 5);
  run_cli({"predict", "--checkpoint", t.run, "--input", t.dir.file("pairs.csv"), "--output",
           t.dir.file("pred-dir.csv"), "-q"});
  EXPECT_EQ(testing::read_file(t.dir.file("pred-dir.csv")), out);  // the run's best.pt
  testing::write_file(t.dir.file("bad.csv"), "userId,movieId\n1,1\nx,3\n");
  EXPECT_NE(cli_error({"predict", "--checkpoint", t.run + "/best.pt", "--input",
                       t.dir.file("bad.csv"), "-q"})
                .find("bad.csv:3:"),
            std::string::npos);
}

TEST(Cli, InfoDescribesTheCheckpoint) {
  const TrainedRun& t = trained();
  json info = json::parse(run_cli({"info", "--checkpoint", t.run + "/last.pt", "--json"}));
  EXPECT_EQ(info["model"], "dnn");
  EXPECT_EQ(info["epoch"], 2);
  EXPECT_EQ(info["format_version"], 1);
  EXPECT_GT(info["vocab"]["movies"].get<int>(), 10);
  EXPECT_EQ(json::parse(run_cli({"info", "--checkpoint", t.run, "--json"}))["checkpoint"],
            t.run + "/best.pt");
}

TEST(Cli, ConfigPrecedenceDefaultsFileFlagsSet) {
  const TrainedRun& t = trained();
  testing::write_file(
      t.dir.file("c.yaml"),
      "train:\n  epochs: 3\n  batch_size: 512\n  lr: 0.002\nmodel:\n  hidden: [32]\n");
  const std::string run = t.dir.file("precedence");
  run_cli({"train", "--config", t.dir.file("c.yaml"), "--data", t.data, "--out", run, "--epochs",
           "2", "--batch-size", "128", "--set", "train.epochs=1", "-q", "--json"});
  Config effective;
  effective.merge_yaml_file(run + "/config.yaml");
  EXPECT_EQ(effective.train.epochs, 1);         // --set beats the flag and the file
  EXPECT_EQ(effective.train.batch_size, 128);   // the flag beats the file
  EXPECT_DOUBLE_EQ(effective.train.lr, 0.002);  // the file beats the default
  EXPECT_EQ(effective.model.hidden, (std::vector<int64_t>{32}));
  EXPECT_EQ(effective.train.patience, 0);  // the default
  EXPECT_NE(testing::read_file(run + "/command.txt").find("--set train.epochs=1"),
            std::string::npos);
  testing::write_file(t.dir.file("typo.yaml"), "train:\n  epochz: 3\n");
  EXPECT_NE(cli_error({"train", "--config", t.dir.file("typo.yaml")})
                .find("did you mean 'train.epochs'?"),
            std::string::npos);
}

TEST(Cli, SeedsReportMeanAndStdOverSubRuns) {
  const TrainedRun& t = trained();
  const std::string run = t.dir.file("seeds");
  json m = json::parse(run_cli({"train", "--data", t.data, "--out", run, "--epochs", "1", "--seeds",
                                "2", "--seed", "7", "--json", "-q"}));
  ASSERT_EQ(m["per_seed"].size(), 2u);
  EXPECT_EQ(m["seeds"], json::array({7, 8}));
  const double a = m["per_seed"][0]["test"]["rmse"].get<double>();
  const double b = m["per_seed"][1]["test"]["rmse"].get<double>();
  EXPECT_NE(a, b);  // different seeds, different models
  EXPECT_NEAR(m["test"]["rmse"].get<double>(), (a + b) / 2, 1e-12);
  // Sample standard deviation of two values: |a - b| / sqrt(2).
  EXPECT_NEAR(m["test_std"]["rmse"].get<double>(), std::abs(a - b) / std::sqrt(2.0), 1e-12);
  EXPECT_TRUE(fs::exists(run + "/seed-7/best.pt"));
  EXPECT_TRUE(fs::exists(run + "/seed-8/metrics.json"));
  EXPECT_EQ(m, json::parse(testing::read_file(run + "/metrics.json")));
}

// Every shipped config runs unchanged on another MovieLens folder (no dataset constants).
TEST(Cli, ShippedConfigsRunOnAnyMovieLensFolder) {
  const TrainedRun& t = trained();
  int configs = 0;
  for (const auto& entry : fs::directory_iterator(std::string(DNNREC_SOURCE_DIR) + "/configs")) {
    if (entry.path().extension() != ".yaml") continue;
    SCOPED_TRACE(entry.path().string());
    const std::string run = t.dir.file("config-" + entry.path().stem().string());
    Config config;
    config.merge_yaml_file(entry.path().string());
    // A config for one layout runs in that layout's tests (ctr-ml1m.yaml: MovieLensFormats,
    // shop.yaml: EventLog).
    if (config.data.format != "auto") continue;
    // A ranking config runs its own task; the others run both rating and binary.
    const std::vector<std::string> tasks = config.train.task == "ranking"
                                               ? std::vector<std::string>{"ranking"}
                                               : std::vector<std::string>{"rating", "binary"};
    for (const std::string& task : tasks) {
      json m = json::parse(
          run_cli({"train", "--config", entry.path().string(), "--data", t.data, "--out",
                   run + "-" + task, "--task", task, "--epochs", "1", "--json", "-q"}));
      const char* metric = task == "rating" ? "rmse" : task == "binary" ? "auc" : "ndcg@10";
      EXPECT_TRUE(m["test"].contains(metric)) << task;
    }
    ++configs;
  }
  EXPECT_GE(configs, 9);  // default, best, and one per model
}

TEST(Binary, JsonGoesToStdoutAndErrorsGiveExitCodes) {
  const TrainedRun& t = trained();
  Shell ok = shell("evaluate --checkpoint " + t.run + "/best.pt --json");
  EXPECT_EQ(ok.code, 0);
  EXPECT_NO_THROW(json::parse(ok.out)) << ok.out;  // only the JSON object on stdout
  EXPECT_NE(ok.err.find("info"), std::string::npos) << "logs go to stderr";
  EXPECT_EQ(shell("evaluate --checkpoint " + t.dir.file("nope.pt")).code, kExitBadInput);
  EXPECT_EQ(shell("train --epochs abc").code, kExitBadInput);
  Shell missing =
      shell("train --data " + t.dir.file("no-such-folder") + " --out " + t.dir.file("r-missing"));
  EXPECT_EQ(missing.code, kExitBadInput);
  EXPECT_NE(missing.err.find("scripts/fetch-movielens.sh"), std::string::npos) << missing.err;
}

// Each malformed ratings.csv: "ratings.csv:LINE:" and exit 2; with --on-bad-row skip, a count.
TEST(Binary, BadRowsGiveFileLineAndExitTwo) {
  const TrainedRun& t = trained();
  const std::string header = "userId,movieId,rating,timestamp\n";
  const std::string good = "1,1,4.0,964982703\n2,1,3.0,964982704\n";
  struct Case {
    const char* name;
    std::string ratings;
    int line;
  };
  const std::vector<Case> cases = {
      {"missing column", header + good + "3,1,4.0\n", 4},
      {"non-numeric id", header + good + "abc,1,4.0,964982703\n", 4},
      {"rating out of range", header + "1,1,7.5,964982703\n" + good, 2},
      {"broken quote", header + good + "\"3,1,4.0,964982703\n", 4},
      {"movie absent from movies.csv", header + good + "3,999999,4.0,964982703\n", 4},
  };
  MovieLens base = load_movielens(t.data);
  for (const Case& c : cases) {
    const std::string folder = t.dir.file(std::string("bad-") + std::to_string(&c - &cases[0]));
    fs::create_directories(folder);
    fs::copy_file(t.data + "/movies.csv", folder + "/movies.csv");
    testing::write_file(folder + "/ratings.csv", c.ratings);
    Shell fail = shell("train --epochs 1 -q --data " + folder + " --out " + folder + "/run");
    EXPECT_EQ(fail.code, kExitBadInput) << c.name << ": " << fail.err;
    EXPECT_NE(fail.err.find("ratings.csv:" + std::to_string(c.line) + ":"), std::string::npos)
        << c.name << ": " << fail.err;
  }
  // Fatal even when skipping: an empty file and a wrong header.
  const std::string folder = t.dir.file("bad-header");
  fs::create_directories(folder);
  fs::copy_file(t.data + "/movies.csv", folder + "/movies.csv");
  testing::write_file(folder + "/ratings.csv", "user,movie,rating,timestamp\n" + good);
  Shell header_error = shell("train -q --on-bad-row skip --data " + folder);
  EXPECT_EQ(header_error.code, kExitBadInput);
  EXPECT_NE(header_error.err.find("ratings.csv:1:"), std::string::npos) << header_error.err;
  testing::write_file(folder + "/ratings.csv", "");
  Shell empty = shell("train -q --data " + folder);
  EXPECT_EQ(empty.code, kExitBadInput);
  EXPECT_NE(empty.err.find("ratings.csv: empty file"), std::string::npos) << empty.err;
}

TEST(Binary, SkipModeCountsAndReportsBadRows) {
  const TrainedRun& t = trained();
  const std::string folder = t.dir.file("skip");
  fs::create_directories(folder);
  for (const char* name : {"movies.csv", "tags.csv", "links.csv"}) {
    fs::copy_file(t.data + "/" + name, folder + "/" + name);
  }
  std::string ratings = testing::read_file(t.data + "/ratings.csv");
  ratings += "1,1,9.0,964982703\nx,1,4.0,1\n1,999999,4.0,1\n";
  testing::write_file(folder + "/ratings.csv", ratings);
  Shell s = shell("train --epochs 1 --on-bad-row skip --json --log-level warn --data " + folder +
                  " --out " + folder + "/run");
  ASSERT_EQ(s.code, 0) << s.err;
  EXPECT_NE(s.err.find("ratings.csv: 3 rows skipped"), std::string::npos) << s.err;
  EXPECT_EQ(json::parse(s.out)["skipped_rows"], 3);
  json m = json::parse(testing::read_file(folder + "/run/metrics.json"));
  EXPECT_EQ(m["skipped_rows"], 3);
}

TEST(Binary, SigintFinishesTheBatchWritesACheckpointAndExits130) {
  const TrainedRun& t = trained();
  const std::string run = t.dir.file("interrupted");
  // timeout sends SIGINT after 5 s; --preserve-status returns dnnrec's own exit code.
  Shell s = shell("train --epochs 100000 --data " + t.data + " --out " + run,
                  "timeout --preserve-status -s INT 5");
  EXPECT_EQ(s.code, kExitInterrupted) << s.err;
  EXPECT_NE(s.err.find("interrupted during epoch"), std::string::npos) << s.err;
  EXPECT_NE(s.err.find("dnnrec train --resume " + run), std::string::npos) << s.err;
  EXPECT_TRUE(fs::exists(run + "/interrupted.pt"));
  json info = json::parse(run_cli({"info", "--checkpoint", run + "/interrupted.pt", "--json"}));
  EXPECT_EQ(info["model"], "dnn");
  EXPECT_TRUE(info["resumable"].get<bool>());
}

TEST(Binary, ASignalDeliveredTwiceAtOnceIsOneInterrupt) {
  const TrainedRun& t = trained();
  const std::string run = t.dir.file("interrupted-twice");
  // Two SIGINTs a few microseconds apart, as timeout and a process-group kill send them: one
  // interrupt (finish the batch, save, 130), not "interrupted again: leave at once".
  Shell s = shell("train --epochs 100000 --data " + t.data + " --out " + run,
                  "sh -c '\"$0\" \"$@\" & p=$!; sleep 4; kill -INT $p; kill -INT $p; wait $p'");
  EXPECT_EQ(s.code, kExitInterrupted) << s.err;
  EXPECT_NE(s.err.find("interrupted during epoch"), std::string::npos) << s.err;
  EXPECT_NE(s.err.find("dnnrec train --resume " + run), std::string::npos) << s.err;
  EXPECT_TRUE(fs::exists(run + "/interrupted.pt"));
}

TEST(Binary, ASecondSigintLeavesAtOnceAndLeavesNothingHalfWritten) {
  const TrainedRun& t = trained();
  const std::string run = t.dir.file("interrupted-hard");
  const std::string log = t.dir.file("interrupted-hard.log");
  // The whole training set in one batch through a 4096-wide tower: a step of many seconds, so
  // both signals come while the first batch runs. The first asks to stop after the batch; the
  // second, 300 ms later, must end the process before the batch does: exit 130 and no
  // interrupted.pt, where a single SIGINT always writes one.
  const std::string script =
      "\"$0\" \"$@\" 2>" + log +
      " & p=$!; for i in $(seq 1200); do grep -q \"parameters; optimizer\" " + log +
      " && break; sleep 0.05; done; sleep 0.5; kill -INT $p; sleep 0.3; kill -INT $p; wait $p";
  Shell s = shell(
      "train --epochs 1 --batch-size 100000 --hidden 4096,4096 --data " + t.data + " --out " + run,
      "sh -c '" + script + "'");
  const std::string err = testing::read_file(log);
  EXPECT_EQ(s.code, kExitInterrupted) << err;
  EXPECT_NE(err.find("interrupted: finishing the current batch"), std::string::npos) << err;
  EXPECT_NE(err.find("interrupted again: leaving at once"), std::string::npos) << err;
  EXPECT_EQ(err.find("interrupted during epoch"), std::string::npos) << err;
  EXPECT_FALSE(fs::exists(run + "/interrupted.pt"));
  for (const auto& entry : fs::recursive_directory_iterator(run)) {
    EXPECT_EQ(entry.path().string().find(".tmp"), std::string::npos) << entry.path();
  }
  // The run directory is still usable: --resume auto finds nothing to resume and starts afresh.
  Shell again =
      shell("train --resume auto --epochs 1 --dry-run --data " + t.data + " --out " + run);
  EXPECT_EQ(again.code, 0) << again.err;
}

}  // namespace
}  // namespace dnnrec
