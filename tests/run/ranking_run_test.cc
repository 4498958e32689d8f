// The ranking task end to end on ml-latest-small: train writes full-ranking metrics under the
// issue's names; evaluate reproduces them from the checkpoint; the lists `recommend --users all`
// writes, scored against the test (val) split, give exactly the evaluated test (val) metrics; the
// trained rankers beat the popularity list.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "data/load.h"
#include "dnnrec/config.h"
#include "dnnrec/error.h"
#include "dnnrec/pipeline.h"
#include "run/ranking_run.h"
#include "run/run_common.h"
#include "test_util.h"
#include "train/checkpoint.h"
#include "train/ranking_metrics.h"

namespace dnnrec {
namespace {

using testing::TempDir;

std::string movielens_dir() { return std::string(DNNREC_SOURCE_DIR) + "/data/ml-latest-small"; }

Config ranking_config(const std::string& model, const std::string& out) {
  Config c;
  c.data.dir = movielens_dir();
  c.data.split = "random-per-user";
  c.train.task = "ranking";
  c.model.name = model;
  c.output.dir = out;
  c.output.plots = false;
  c.train.threads = 2;
  return c;
}

// Scores lists in recommendations_csv's format against the test (or val) split of `config`.
std::map<std::string, double> score_lists(const std::string& csv, const Config& config,
                                          const std::string& part = "test") {
  const RankingData data = prepare_ranking(config, load_data(config));
  const InteractionIndex& index = data.index;
  std::unordered_map<int64_t, int64_t> user_row, item_row;
  for (int64_t u = 0; u < index.n_users(); ++u) user_row[index.users[u]] = u;
  for (int64_t i = 0; i < index.n_items(); ++i) item_row[index.items[i]] = i;
  std::vector<int64_t> order;                      // users in file order
  std::map<int64_t, std::vector<int64_t>> ranked;  // user row -> item rows
  const auto rows = testing::read_csv(csv);
  EXPECT_EQ(rows.front(), (std::vector<std::string>{"userId", "rank", "movieId", "score"}));
  for (size_t r = 1; r < rows.size(); ++r) {
    const int64_t u = user_row.at(std::stoll(rows[r][0]));
    if (ranked.find(u) == ranked.end()) order.push_back(u);
    EXPECT_EQ(std::stoll(rows[r][1]), static_cast<int64_t>(ranked[u].size()) + 1);
    ranked[u].push_back(item_row.at(std::stoll(rows[r][2])));
  }
  const std::vector<int> ks(config.eval.topk.begin(), config.eval.topk.end());
  RankingMetrics metrics(ks, index.popularity());
  const auto& held_out = part == "val" ? index.val : index.test;
  for (int64_t u : order) metrics.add(ranked[u], held_out[static_cast<size_t>(u)]);
  return metrics.result();
}

// The metrics of the lists `recommend --users all --candidates PART -k 20` writes to `csv` (the CLI
// as users run it), scored against PART of `config`'s split; empty when the command fails.
std::map<std::string, double> listed_metrics(const std::string& checkpoint, const Config& config,
                                             const std::string& part, const std::string& csv) {
  const testing::Shell shell =
      testing::shell("recommend --checkpoint " + checkpoint + " --users all --candidates " + part +
                     " -k 20 --output " + csv);
  EXPECT_EQ(shell.code, 0) << shell.err;
  if (shell.code != 0) return {};
  return score_lists(csv, config, part);
}

TEST(RankingRun, RecommendListsGiveExactlyTheEvaluatedTestMetrics) {
  TempDir dir;
  const Config config = ranking_config("ease", dir.file("run"));
  const TrainResult result = run_train(config, "dnnrec train --model ease");
  // The metric names, under val and test.
  for (const char* name : {"ndcg@10", "recall@10", "mrr@10", "hit@10", "precision@10", "ndcg@20",
                           "recall@20", "coverage@10", "popularity@10"}) {
    EXPECT_TRUE(result.test.count(name)) << name;
    EXPECT_TRUE(result.val.count(name)) << name;
  }
  EXPECT_GT(result.test.at("ndcg@10"), 0.22);
  EXPECT_LT(result.test.at("ndcg@10"), 0.32);
  const auto doc = nlohmann::json::parse(testing::read_file(dir.file("run/metrics.json")));
  EXPECT_DOUBLE_EQ(doc["test"]["ndcg@10"].get<double>(), result.test.at("ndcg@10"));
  EXPECT_TRUE(std::filesystem::exists(dir.file("run/history.csv")));

  // evaluate reads the checkpoint back and measures the same.
  const EvalResult evaluated = run_evaluate(result.checkpoint, "", "test");
  EXPECT_EQ(evaluated.metrics, result.test);
  EXPECT_GT(evaluated.examples, 500);
  EXPECT_EQ(run_evaluate(result.checkpoint, "", "val").metrics, result.val);

  // recommend --users all, as the CLI writes it, scored against the test split.
  EXPECT_EQ(listed_metrics(result.checkpoint, config, "test", dir.file("recs.csv")),
            evaluated.metrics);
  // --candidates val: the lists the val metrics measured.
  EXPECT_EQ(listed_metrics(result.checkpoint, config, "val", dir.file("val.csv")), result.val);

  // Served lists (the default) leave out every interaction of the user, test items included.
  const RankingData data = prepare_ranking(config, load_data(config));
  const auto served = run_recommend_users(result.checkpoint, "", {}, 20);
  ASSERT_EQ(served.size(), static_cast<size_t>(data.index.n_users()));
  for (size_t u = 0; u < served.size(); ++u) {
    ASSERT_EQ(served[u].user, data.index.users[u]);
    std::set<int64_t> known;
    for (const auto* part : {&data.index.train, &data.index.val, &data.index.test}) {
      for (int64_t item : (*part)[u]) known.insert(data.index.items[item]);
    }
    for (const auto& rec : served[u].items) EXPECT_EQ(known.count(rec.movie), 0u);
  }
  // The test lists do list test items: that is what the metrics count.
  int64_t test_items_listed = 0;
  const auto test_lists = run_recommend_users(result.checkpoint, "", {}, 20, "test");
  for (size_t u = 0; u < test_lists.size(); ++u) {
    for (const auto& rec : test_lists[u].items) {
      for (int64_t item : data.index.test[u]) {
        test_items_listed += rec.movie == data.index.items[item];
      }
    }
  }
  EXPECT_GT(test_items_listed, 100);

  // The library's single-user list is the same list.
  const auto lists = run_recommend_users(result.checkpoint, "", {}, 20);
  const auto one = run_recommend(result.checkpoint, "", lists[3].user, 20);
  ASSERT_EQ(one.size(), 20u);
  for (size_t i = 0; i < one.size(); ++i) EXPECT_EQ(one[i].movie, lists[3].items[i].movie);

  // A user file: its users' lists, an unknown user left out; a bad id names file:line.
  testing::write_file(dir.file("users.csv"),
                      "userId\n" + std::to_string(lists[3].user) + "\n999999\n");
  const auto some =
      run_recommend_users(result.checkpoint, "", read_user_ids(dir.file("users.csv")), 5);
  ASSERT_EQ(some.size(), 1u);
  EXPECT_EQ(some[0].items[0].movie, lists[3].items[0].movie);
  testing::write_file(dir.file("bad.csv"), "userId\n12\nx7\n");
  const testing::Shell bad = testing::shell("recommend --checkpoint " + result.checkpoint +
                                            " --users " + dir.file("bad.csv"));
  EXPECT_EQ(bad.code, 2);
  EXPECT_NE(bad.err.find("bad.csv:3"), std::string::npos) << bad.err;
  // A ranking model predicts no ratings: a clear refusal.
  testing::write_file(dir.file("pairs.csv"), "userId,movieId\n1,1\n");
  EXPECT_THROW(run_predict(result.checkpoint, "", dir.file("pairs.csv"), "-"), ConfigError);
}

TEST(RankingRun, TrainedRankersBeatPopularityWithEarlyStoppingOnValNdcg) {
  TempDir dir;
  Config pop = ranking_config("pop", dir.file("pop"));
  const double pop_ndcg = run_train(pop, "pop").test.at("ndcg@10");
  Config bpr = ranking_config("bpr", dir.file("bpr"));
  bpr.train.epochs = 6;
  bpr.train.batch_size = 1024;
  bpr.train.lr = 0.01;
  bpr.model.embedding_dim = 32;
  const TrainResult b = run_train(bpr, "bpr");
  EXPECT_GT(b.test.at("ndcg@10"), pop_ndcg + 0.02) << "pop " << pop_ndcg;
  const auto history = testing::read_csv(dir.file("bpr/history.csv"));
  EXPECT_EQ(history.size(), 1u + b.epochs_run);
  EXPECT_EQ(history.front()[0], "epoch");
  EXPECT_NE(std::find(history.front().begin(), history.front().end(), "val_ndcg@10"),
            history.front().end());
  // The test metrics come from the best validation epoch's weights, which best.pt holds.
  EXPECT_EQ(run_evaluate(b.checkpoint, "", "test").metrics, b.test);

  Config tower = ranking_config("two-tower", dir.file("tower"));
  tower.train.epochs = 4;
  tower.train.batch_size = 512;
  tower.train.lr = 0.01;
  tower.model.hidden = {};
  const TrainResult t = run_train(tower, "two-tower");
  EXPECT_GT(t.test.at("ndcg@10"), pop_ndcg + 0.02) << "pop " << pop_ndcg;
  EXPECT_EQ(run_evaluate(t.checkpoint, "", "test").metrics, t.test);
}

// model blend: a run trains its config-file members into members/ (with the blend's data and
// seed), then ranks by -sum w ln(1 + rank) of the members' lists; evaluate and recommend serve
// exactly the evaluated lists; the members' checkpoints blend to the same metrics without
// training; members of another split, missing files and export are refused by name.
TEST(RankingRun, ABlendTrainsItsMembersAndRanksByTheirFusedRanks) {
  TempDir dir;
  std::filesystem::create_directories(dir.file("configs"));
  testing::write_file(dir.file("configs/ease.yaml"),
                      "features:\n  history_len: 30\nmodel:\n  name: ease\n  recency_tau: 5\n");
  testing::write_file(dir.file("configs/sasrec.yaml"),
                      "features:\n  history_len: 20\ntrain:\n  epochs: 2\n  batch_size: 128\n"
                      "  checkpoint_every: 0\nmodel:\n  name: sasrec\n  embedding_dim: 16\n"
                      "  blocks: 1\n");
  testing::write_file(dir.file("configs/blend.yaml"),
                      "data:\n  split: leave-last\nmodel:\n  name: blend\n"
                      "  members: [ease.yaml, sasrec.yaml]\n  member_weights: [0.7, 0.3]\n");
  Config config = ranking_config("blend", dir.file("run"));
  config.train.seed = 7;
  config.merge_yaml_file(dir.file("configs/blend.yaml"));
  const TrainResult result = run_train(config, "dnnrec train --config blend.yaml");
  EXPECT_GT(result.test.at("ndcg@10"), 0.0);

  // The members trained in their own runs, with the blend's split and seed and their own keys.
  const std::string members[2] = {dir.file("run/members/0-ease"), dir.file("run/members/1-sasrec")};
  for (const auto& m : members) {
    EXPECT_TRUE(std::filesystem::exists(m + "/best.pt")) << m;
    EXPECT_TRUE(std::filesystem::exists(m + "/metrics.json")) << m;
  }
  const Checkpoint ckpt = load_checkpoint(result.checkpoint);
  ASSERT_EQ(ckpt.members.size(), 2u);
  EXPECT_EQ(ckpt.members[0].model.name, "ease");
  EXPECT_EQ(ckpt.members[0].features.history_len, 30);
  EXPECT_EQ(ckpt.members[1].model.name, "sasrec");
  EXPECT_EQ(ckpt.members[1].features.history_len, 20);
  for (const Config& m : ckpt.members) {
    EXPECT_EQ(m.data.split, "leave-last");
    EXPECT_EQ(m.train.seed, 7);
  }
  const testing::Shell info = testing::shell("info --checkpoint " + result.checkpoint);
  EXPECT_NE(info.out.find("members: ease (weight 0.7), sasrec (weight 0.3)\n"), std::string::npos)
      << info.out;
  const testing::Shell json_info = testing::shell("info --json --checkpoint " + result.checkpoint);
  ASSERT_EQ(json_info.code, 0) << json_info.err;
  const auto described = nlohmann::json::parse(json_info.out);
  ASSERT_EQ(described["members"].size(), 2u);
  EXPECT_EQ(described["members"][1]["model"], "sasrec");
  EXPECT_EQ(described["members"][1]["weight"], 0.3);

  // Each user's test list holds the items of highest fused value, computed here from the
  // members' own full test lists: rank = how many candidates the member scores higher.
  const RankingData data = prepare_ranking(config, load_data(config));
  const int all = static_cast<int>(data.index.n_items());
  std::vector<std::vector<UserRecommendations>> full;
  for (const auto& m : members)
    full.push_back(run_recommend_users(m + "/best.pt", "", {}, all, "test"));
  const auto blended = run_recommend_users(result.checkpoint, "", {}, 10, "test");
  ASSERT_EQ(blended.size(), full[0].size());
  const double weights[2] = {0.7, 0.3};
  for (size_t u = 0; u < blended.size(); ++u) {
    std::map<int64_t, double> fused;
    for (size_t m = 0; m < 2; ++m) {
      const auto& items = full[m][u].items;
      for (const auto& item : items) {
        int64_t above = 0;
        for (const auto& other : items) above += other.score > item.score;
        fused[item.movie] -= weights[m] * std::log1p(static_cast<double>(above));
      }
    }
    std::set<int64_t> listed;
    double previous = 1.0;
    for (const auto& rec : blended[u].items) {
      ASSERT_TRUE(fused.count(rec.movie)) << "user " << blended[u].user << " movie " << rec.movie;
      EXPECT_NEAR(rec.score, fused[rec.movie], 1e-5);
      EXPECT_LE(fused[rec.movie], previous + 1e-5);
      previous = fused[rec.movie];
      listed.insert(rec.movie);
    }
    for (const auto& [movie, value] : fused) {
      if (!listed.count(movie)) EXPECT_LE(value, previous + 1e-5) << "user " << blended[u].user;
    }
  }

  // evaluate measures what train measured; recommend's lists score exactly those metrics.
  const EvalResult evaluated = run_evaluate(result.checkpoint, "", "test");
  EXPECT_EQ(evaluated.metrics, result.test);
  EXPECT_EQ(run_evaluate(result.checkpoint, "", "val").metrics, result.val);
  EXPECT_EQ(listed_metrics(result.checkpoint, config, "test", dir.file("recs.csv")),
            evaluated.metrics);

  // The trained members (run directories) blend to the same metrics, training nothing.
  Config reuse = ranking_config("blend", dir.file("reuse"));
  reuse.data.split = "leave-last";
  reuse.model.members = {members[0], members[1]};
  reuse.model.member_weights = {0.7, 0.3};
  EXPECT_EQ(run_train(reuse, "reuse").test, result.test);
  EXPECT_FALSE(std::filesystem::exists(dir.file("reuse/members")));

  // A member trained on another split, a missing member file: refused, named.
  const TrainResult other = run_train(ranking_config("pop", dir.file("pop")), "pop");
  reuse.output.dir = dir.file("refused");
  reuse.model.members = {members[0], other.checkpoint};
  std::string message;
  try {
    run_train(reuse, "refused");
  } catch (const ConfigError& e) {
    message = e.what();
  }
  EXPECT_NE(message.find("member 2 " + other.checkpoint), std::string::npos) << message;
  EXPECT_NE(message.find("data.split random-per-user (blend: leave-last)"), std::string::npos)
      << message;
  reuse.model.members = {members[0], dir.file("configs/none.yaml")};
  EXPECT_THROW(run_train(reuse, "refused"), ConfigError);
  // export names what a blend cannot do.
  const testing::Shell exported =
      testing::shell("export --checkpoint " + result.checkpoint + " --out " + dir.file("exported"));
  EXPECT_EQ(exported.code, 2);
  EXPECT_NE(exported.err.find("a blend has no TorchScript form"), std::string::npos)
      << exported.err;
  EXPECT_FALSE(std::filesystem::exists(dir.file("exported")));
}

// The rating task's feature models rank too: each positive against train.negatives uniform
// negatives with binary cross-entropy, full ranking by scoring every (user, item) pair. Each
// beats popularity after four epochs, its checkpoint evaluates to the same metrics, and the lists
// `recommend` writes score exactly those metrics.
TEST(RankingRun, FeatureModelsRankWithSampledNegativesAndBinaryCrossEntropy) {
  TempDir dir;
  const double pop_ndcg =
      run_train(ranking_config("pop", dir.file("pop")), "pop").test.at("ndcg@10");
  for (const std::string name : {"dnn", "deepfm", "neumf"}) {
    SCOPED_TRACE(name);
    Config c = ranking_config(name, dir.file(name));
    c.features.history_len = 20;
    c.model.hidden = {64};  // full ranking runs the tower on 603 x 1,862 pairs per evaluation
    c.train.negatives = 4;
    c.train.epochs = 4;
    c.train.batch_size = 1024;
    c.train.lr = 0.005;
    EXPECT_EQ(c.effective_loss(), "bce");
    const TrainResult r = run_train(c, name);
    EXPECT_GT(r.test.at("ndcg@10"), pop_ndcg + 0.01) << "pop " << pop_ndcg;
    const EvalResult evaluated = run_evaluate(r.checkpoint, "", "test");
    EXPECT_EQ(evaluated.metrics, r.test);
    if (name != "dnn") continue;
    EXPECT_EQ(listed_metrics(r.checkpoint, c, "test", dir.file("dnn-recs.csv")), evaluated.metrics);
  }
}

// train.lr_schedule and warm-up drive the ranking loop's optimizer as they do the rating one's:
// history.csv logs each epoch's rate, and a different schedule trains different weights.
// train.checkpoint_every writes periodic checkpoints named by train.checkpoint_name.
TEST(RankingRun, LearningRateSchedulesAndPeriodicCheckpointsFollowTheTrainKeys) {
  TempDir dir;
  Config c = ranking_config("bpr", dir.file("step"));
  c.train.epochs = 3;
  c.train.batch_size = 4096;
  c.train.lr = 0.01;
  c.model.embedding_dim = 8;
  c.train.lr_schedule = "step";
  c.train.lr_step_epochs = 1;
  c.train.lr_gamma = 0.5;
  c.train.checkpoint_every = 2;
  c.train.checkpoint_name = "e{epoch:02d}-{val_ndcg@10:.3f}-{lr:.4f}.pt";
  const TrainResult stepped = run_train(c, "bpr");
  // Periodic checkpoints: epoch 2 of 3, named by the template; each one evaluates.
  std::vector<std::string> written;
  for (const auto& e : std::filesystem::directory_iterator(dir.file("step/checkpoints"))) {
    written.push_back(e.path().filename().string());
  }
  ASSERT_EQ(written.size(), 1u);
  EXPECT_EQ(written[0].rfind("e02-0.", 0), 0u) << written[0];
  EXPECT_NE(written[0].find("-0.0050.pt"), std::string::npos) << written[0];
  EXPECT_NO_THROW(run_evaluate(dir.file("step/checkpoints/" + written[0]), "", "val"));
  const auto history = testing::read_csv(dir.file("step/history.csv"));
  const auto& header = history.front();
  const size_t lr = std::find(header.begin(), header.end(), "lr") - header.begin();
  ASSERT_LT(lr, header.size());
  ASSERT_EQ(history.size(), 4u);
  EXPECT_DOUBLE_EQ(std::stod(history[1][lr]), 0.01);
  EXPECT_DOUBLE_EQ(std::stod(history[2][lr]), 0.005);
  EXPECT_DOUBLE_EQ(std::stod(history[3][lr]), 0.0025);

  c.output.dir = dir.file("flat");
  c.train.lr_schedule = "none";
  c.train.checkpoint_every = 0;
  const TrainResult flat = run_train(c, "bpr");
  EXPECT_NE(flat.val.at("ndcg@10"), stepped.val.at("ndcg@10"));
  const auto flat_history = testing::read_csv(dir.file("flat/history.csv"));
  EXPECT_DOUBLE_EQ(std::stod(flat_history[3][lr]), 0.01);
}

}  // namespace
}  // namespace dnnrec
