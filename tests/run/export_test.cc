// dnnrec export: every model of both registries as a TorchScript module that C++'s
// torch::jit::load and Python's torch.jit.load (python3-torch) run to dnnrec predict's
// predictions and dnnrec recommend's lists; embeddings a Faiss index (python3-faiss) ranks as
// recommend does; Triton's layout; and the refusals.
#include <gtest/gtest.h>
#include <torch/script.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "data/load.h"
#include "dnnrec/pipeline.h"
#include "run/ranking_run.h"
#include "run/run_common.h"
#include "test_util.h"
#include "train/checkpoint.h"
#include "train/ranking_eval.h"

namespace dnnrec {
namespace {

namespace fs = std::filesystem;
using testing::Shell;
using testing::TempDir;

constexpr double kTolerance = 1e-6;

std::string checker() { return std::string(DNNREC_SOURCE_DIR) + "/tests/run/check_export.py"; }

// Trains on `data` with a small model and returns the checkpoint.
std::string train(const std::string& data, const std::string& out, const std::string& args) {
  const Shell run =
      testing::shell("train --data " + data + " --out " + out +
                     " --epochs 2 --hidden 16,8 --embedding-dim 8 --threads 2 --batch-size 256"
                     " --set output.plots=false -q --json " +
                     args);
  EXPECT_EQ(run.code, 0) << args << "\n" << run.err;
  if (run.code != 0) return "";
  return nlohmann::json::parse(run.out)["checkpoint"].get<std::string>();
}

std::string export_to(const std::string& checkpoint, const std::string& out,
                      const std::string& format = "torchscript") {
  const Shell run = testing::shell("export --checkpoint " + checkpoint + " --format " + format +
                                   " --out " + out + " --json");
  EXPECT_EQ(run.code, 0) << run.err;
  if (run.code != 0) return "";
  return nlohmann::json::parse(run.out)["files"][0].get<std::string>();
}

torch::Tensor ids(const std::vector<int64_t>& v) { return torch::tensor(v, torch::kLong); }

// How far an exported ranking model's score may be from dnnrec's: 1e-6, relative above 1. A
// user's scores come from one matrix product in the module and from a block of users' in
// dnnrec, and BLAS sums the two in different orders (a few units in the last place).
double tolerance(double score) { return kTolerance * std::max(1.0, std::abs(score)); }

// Whether `got` (ids, scores) is dnnrec's `list`: scores within tolerance position by position,
// and the same ids in the same order but within ties (runs of scores within tolerance, which
// the two sums may order either way; the last run may hold another item of that score).
void expect_same_list(const torch::Tensor& got_ids, const torch::Tensor& got_scores,
                      const std::vector<std::pair<int64_t, double>>& list, int64_t user,
                      double* worst) {
  ASSERT_EQ(got_ids.size(0), static_cast<int64_t>(list.size())) << "user " << user;
  const auto n = static_cast<int64_t>(list.size());
  for (int64_t i = 0; i < n; ++i) {
    const double diff = std::abs(got_scores[i].item<double>() - list[i].second);
    *worst = std::max(*worst, diff / std::max(1.0, std::abs(list[i].second)));
  }
  for (int64_t begin = 0; begin < n;) {
    int64_t end = begin + 1;
    while (end < n && list[end - 1].second - list[end].second <= tolerance(list[end].second)) ++end;
    std::multiset<int64_t> want, got;
    for (int64_t i = begin; i < end; ++i) {
      want.insert(list[i].first);
      got.insert(got_ids[i].item<int64_t>());
    }
    if (end < n) {
      EXPECT_EQ(got, want) << "user " << user << " ranks " << begin << ".." << end - 1;
    } else {  // the last run: its scores tie with items beyond the list
      const double high = list[begin].second, low = list[end - 1].second;
      for (int64_t i = begin; i < end; ++i) {
        const double score = got_scores[i].item<double>();
        EXPECT_TRUE(score <= high + tolerance(high) && score >= low - tolerance(low))
            << "user " << user << " rank " << i << ": " << score << " outside the tie run [" << low
            << ", " << high << "]";
      }
    }
    begin = end;
  }
}

// Checks the module's recommend against `dnnrec recommend --users all -k 10`'s file for every
// user in it, and that `scorer` ("forward" for a ranking model, "raw" for a rating model, whose
// lists rank the unclipped output) gives the listed scores; returns the largest score difference.
double check_lists(torch::jit::Module& module, const std::string& recs, const std::string& scorer) {
  std::map<int64_t, std::vector<std::pair<int64_t, double>>> lists;
  const auto rows = testing::read_csv(recs);
  for (size_t r = 1; r < rows.size(); ++r) {
    lists[std::stoll(rows[r][0])].emplace_back(std::stoll(rows[r][2]), std::stod(rows[r][3]));
  }
  EXPECT_GT(lists.size(), 100u);
  double worst = 0.0;
  for (const auto& [user, list] : lists) {
    const auto tuple =
        module.get_method("recommend")({user, static_cast<int64_t>(list.size())}).toTuple();
    const torch::Tensor got_ids = tuple->elements()[0].toTensor();
    const torch::Tensor got_scores = tuple->elements()[1].toTensor().to(torch::kDouble);
    expect_same_list(got_ids, got_scores, list, user, &worst);
    std::vector<int64_t> movies;
    for (const auto& entry : list) movies.push_back(entry.first);
    const torch::Tensor scored =
        module
            .get_method(scorer)(
                {torch::full({static_cast<int64_t>(movies.size())}, user, torch::kLong),
                 ids(movies)})
            .toTensor()
            .to(torch::kDouble);
    for (size_t i = 0; i < list.size(); ++i) {
      const double diff = std::abs(scored[static_cast<int64_t>(i)].item<double>() - list[i].second);
      worst = std::max(worst, diff / std::max(1.0, std::abs(list[i].second)));
    }
  }
  return worst;
}

// check_lists within the tolerance, the largest difference printed under `label`.
void expect_lists(torch::jit::Module& module, const std::string& recs, const std::string& scorer,
                  const std::string& label) {
  const double worst = check_lists(module, recs, scorer);
  EXPECT_LE(worst, kTolerance);
  std::printf(
      "[ export   ] %s: recommend's lists, largest score difference %.3g (relative above "
      "1)\n",
      label.c_str(), worst);
}

std::string recommend_all(const std::string& checkpoint, const std::string& out) {
  const Shell run =
      testing::shell("recommend --checkpoint " + checkpoint + " --users all -k 10 --output " + out);
  EXPECT_EQ(run.code, 0) << run.err;
  return out;
}

// The sample the tests train on: 200 users, 300 movies, 20,000 ratings with tags.
class Export : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir();
    const Shell run = testing::shell("sample --out " + dir_->file("data") + " --seed 3");
    ASSERT_EQ(run.code, 0) << run.err;
  }
  static void TearDownTestSuite() { delete dir_; }
  static std::string data() { return dir_->file("data"); }
  static TempDir* dir_;
};
TempDir* Export::dir_ = nullptr;

TEST_F(Export, EveryRatingModelServesPredictsPredictionsAndRecommendsListsInCppAndPython) {
  TempDir dir;
  // Known pairs, a movie nobody rated in training, an unknown user and an unknown movie.
  std::string pairs = "userId,movieId\n";
  for (int u = 1; u <= 40; ++u) {
    for (int m : {1, 7, 50, 133, 299}) pairs += std::to_string(u) + "," + std::to_string(m) + "\n";
  }
  pairs += "999999,5\n3,999999\n999999,999999\n";
  testing::write_file(dir.file("pairs.csv"), pairs);
  // Every model of the registry, both tasks, and towers with batch norm and each activation.
  const std::vector<std::pair<std::string, std::string>> runs = {
      {"global-mean", "--model global-mean"},
      {"bias", "--model bias"},
      {"mf", "--model mf"},
      {"dnn", "--model dnn"},
      {"dnn-implicit", "--model dnn --set model.implicit=true --set model.bias_terms=true"},
      {"dnn-bn-gelu", "--model dnn --set model.batch_norm=true --set model.activation=gelu"},
      {"dnn-binary-tanh", "--model dnn --task binary --set model.activation=tanh"},
      {"wide-deep", "--model wide-deep --set model.activation=leaky_relu"},
      {"deepfm", "--model deepfm --set model.dropout=0.2"},
      {"neumf", "--model neumf --set model.activation=sigmoid"},
  };
  for (const auto& [name, args] : runs) {
    SCOPED_TRACE(name);
    const std::string checkpoint = train(data(), dir.file(name), args);
    ASSERT_FALSE(checkpoint.empty());
    const std::string model_path = export_to(checkpoint, dir.file("repo-" + name));
    ASSERT_FALSE(model_path.empty());
    const Shell predict =
        testing::shell("predict --checkpoint " + checkpoint + " --input " + dir.file("pairs.csv") +
                       " --output " + dir.file(name + ".csv"));
    ASSERT_EQ(predict.code, 0) << predict.err;
    const auto rows = testing::read_csv(dir.file(name + ".csv"));
    std::vector<int64_t> users, movies;
    std::vector<double> expected;
    for (size_t r = 1; r < rows.size(); ++r) {
      users.push_back(std::stoll(rows[r][0]));
      movies.push_back(std::stoll(rows[r][1]));
      expected.push_back(std::stod(rows[r][2]));
    }
    torch::jit::Module module = torch::jit::load(model_path);
    const torch::Tensor got =
        module.forward({ids(users), ids(movies)}).toTensor().to(torch::kDouble).contiguous();
    ASSERT_EQ(got.size(0), static_cast<int64_t>(expected.size()));
    double worst = 0.0;
    for (size_t i = 0; i < expected.size(); ++i) {
      worst = std::max(worst, std::abs(got[static_cast<int64_t>(i)].item<double>() - expected[i]));
    }
    EXPECT_LE(worst, kTolerance);
    std::printf("[ export   ] %s: %zu pairs, largest difference %.3g\n", name.c_str(),
                expected.size(), worst);
    // recommend: dnnrec recommend's lists, ranked by the unclipped output.
    const std::string recs = recommend_all(checkpoint, dir.file(name + "-recs.csv"));
    expect_lists(module, recs, "raw", name);
    EXPECT_THROW(module.get_method("recommend")({int64_t{999999}, int64_t{5}}), std::exception);
    // Python, as a serving user loads it.
    Shell python = testing::run_command("/usr/bin/python3 " + checker() + " predict " + model_path +
                                        " " + dir.file(name + ".csv"));
    EXPECT_EQ(python.code, 0) << python.err << python.out;
    python = testing::run_command("/usr/bin/python3 " + checker() + " recommend " + model_path +
                                  " " + recs);
    EXPECT_EQ(python.code, 0) << python.err << python.out;
  }
}

// The ranking models' lists: recommend --users all, the module's recommend and forward.
TEST_F(Export, EveryRankingModelRecommendsDnnrecsListsInCppAndPython) {
  TempDir dir;
  for (const std::string& model : ranker_names()) {
    SCOPED_TRACE(model);
    // A blend has no TorchScript form: its refusal is checked in RankingRun.ABlendTrains...
    if (model == "blend") continue;
    std::string args = "--task ranking --model " + model;
    if (model == "sasrec") {
      args += " --split leave-last --seq-len 10 --set model.blocks=1 --set model.heads=1";
    } else if (model == "ease") {  // with the recency weights of configs/ease-sequential.yaml
      args += " --split leave-last --seq-len 20 --set model.recency_tau=3";
    } else {
      args += " --split random-per-user";
    }
    const std::string checkpoint = train(data(), dir.file(model), args);
    ASSERT_FALSE(checkpoint.empty());
    const std::string model_path = export_to(checkpoint, dir.file("repo-" + model));
    ASSERT_FALSE(model_path.empty());
    const std::string recs = recommend_all(checkpoint, dir.file(model + "-recs.csv"));
    torch::jit::Module module = torch::jit::load(model_path);
    expect_lists(module, recs, "forward", model);
    // An unknown user or movie scores NaN; recommend refuses an unknown user.
    const torch::Tensor unknown =
        module.forward({ids({999999, std::stoll(testing::read_csv(recs)[1][0])}), ids({1, 999999})})
            .toTensor();
    EXPECT_TRUE(std::isnan(unknown[0].item<float>()));
    EXPECT_TRUE(std::isnan(unknown[1].item<float>()));
    EXPECT_THROW(module.get_method("recommend")({int64_t{999999}, int64_t{5}}), std::exception);
    const Shell python = testing::run_command("/usr/bin/python3 " + checker() + " recommend " +
                                              model_path + " " + recs);
    EXPECT_EQ(python.code, 0) << python.err << python.out;
  }
}

// The Triton layout and the module's description.
TEST_F(Export, TheRepositoryFollowsTritonsLayout) {
  TempDir dir;
  const std::string checkpoint = train(data(), dir.file("run"), "--model deepfm");
  ASSERT_FALSE(checkpoint.empty());
  const Shell run = testing::shell("export --checkpoint " + dir.file("run") + " --out " +
                                   dir.file("repo") + " --name movies");
  ASSERT_EQ(run.code, 0) << run.err;
  EXPECT_TRUE(fs::exists(dir.file("repo/movies/1/model.pt")));
  const std::string config = testing::read_file(dir.file("repo/movies/config.pbtxt"));
  EXPECT_NE(config.find("name: \"movies\""), std::string::npos) << config;
  EXPECT_NE(config.find("platform: \"pytorch_libtorch\""), std::string::npos);
  EXPECT_NE(config.find("TYPE_INT64"), std::string::npos);
  EXPECT_NE(config.find("TYPE_FP32"), std::string::npos);
  torch::jit::ExtraFilesMap extra = {{"dnnrec.json", ""}};
  torch::jit::load(dir.file("repo/movies/1/model.pt"), torch::kCPU, extra);
  const auto meta = nlohmann::json::parse(extra["dnnrec.json"]);
  EXPECT_EQ(meta["model"], "deepfm");
  EXPECT_EQ(meta["task"], "rating");
  EXPECT_EQ(meta["weights_digest"], load_checkpoint(checkpoint).weights_digest());
  EXPECT_FALSE(fs::exists(dir.file("repo/movies/ids.tsv")));  // MovieLens ids are the ids

  // A csv log's string ids: ids.tsv gives the int64 the module takes for each, and recommend
  // lists recommend's items.
  ASSERT_EQ(testing::shell("sample --format csv --out " + dir.file("shop") +
                           " --users 120 --movies 150 --ratings 6000")
                .code,
            0);
  const std::string shop =
      train(dir.file("shop"), dir.file("shop-run"),
            "--config " + std::string(DNNREC_SOURCE_DIR) + "/configs/shop.yaml --task ranking");
  ASSERT_FALSE(shop.empty());
  ASSERT_FALSE(export_to(shop, dir.file("shop-repo")).empty());
  std::map<std::string, int64_t> id_of;
  std::map<int64_t, std::string> key_of;
  std::istringstream table(testing::read_file(dir.file("shop-repo/dnnrec-ease/ids.tsv")));
  std::string line;
  std::getline(table, line);
  EXPECT_EQ(line, "key\tid");
  while (std::getline(table, line)) {
    const size_t tab = line.find('\t');
    id_of[line.substr(0, tab)] = std::stoll(line.substr(tab + 1));
    key_of[std::stoll(line.substr(tab + 1))] = line.substr(0, tab);
  }
  const auto rows = testing::read_csv(recommend_all(shop, dir.file("shop-recs.csv")));
  ASSERT_GT(rows.size(), 10u);
  torch::jit::Module ease = torch::jit::load(dir.file("shop-repo/dnnrec-ease/1/model.pt"));
  const auto list = ease.get_method("recommend")({id_of.at(rows[1][0]), int64_t{10}}).toTuple();
  const torch::Tensor items = list->elements()[0].toTensor();
  for (int64_t i = 0; i < 3; ++i) {
    EXPECT_EQ(key_of.at(items[i].item<int64_t>()), rows[1 + i][2]) << "rank " << i;
  }
}

// Embeddings: users.npy . items.npy ranks as recommend does, in a Faiss inner-product index.
TEST_F(Export, FaissOverTheExportedVectorsGivesRecommendsTopTen) {
  TempDir dir;
  const std::vector<std::pair<std::string, std::string>> runs = {
      {"mf", "--model mf --epochs 3"},
      {"bpr", "--task ranking --model bpr --split random-per-user"},
      {"two-tower", "--task ranking --model two-tower --split random-per-user"},
      {"sasrec",
       "--task ranking --model sasrec --split leave-last --seq-len 10 --set model.blocks=1"},
  };
  for (const auto& [name, args] : runs) {
    SCOPED_TRACE(name);
    const std::string checkpoint = train(data(), dir.file(name), args);
    ASSERT_FALSE(checkpoint.empty());
    ASSERT_FALSE(export_to(checkpoint, dir.file("vectors-" + name), "embeddings").empty());
    for (const char* file : {"users.npy", "items.npy", "users.tsv", "items.tsv", "embeddings.json"})
      EXPECT_TRUE(fs::exists(dir.file("vectors-" + name + "/" + file))) << file;
    const std::string recs = dir.file(name + "-recs.csv");
    const Shell recommend = testing::shell("recommend --checkpoint " + checkpoint +
                                           " --users all -k 10 --output " + recs);
    ASSERT_EQ(recommend.code, 0) << recommend.err;
    // What recommend leaves out: a ranking model's interactions in every split, a rating
    // model's rated movies.
    const Checkpoint ckpt = load_checkpoint(checkpoint);
    std::string excluded = "userId,movieId\n";
    const MovieLens movielens = load_data(ckpt.config);
    if (ckpt.config.train.task == "ranking") {
      const RankingData ranking = prepare_ranking(ckpt.config, movielens);
      const InteractionIndex& index = ranking.index;
      for (int64_t u = 0; u < index.n_users(); ++u) {
        for (int64_t i : excluded_items(index, u, "serve")) {
          excluded += std::to_string(index.users[static_cast<size_t>(u)]) + "," +
                      std::to_string(index.items[static_cast<size_t>(i)]) + "\n";
        }
      }
    } else {
      for (size_t r = 0; r < movielens.ratings.size(); ++r) {
        excluded += std::to_string(movielens.ratings.user[r]) + "," +
                    std::to_string(movielens.ratings.movie[r]) + "\n";
      }
    }
    testing::write_file(dir.file(name + "-excluded.csv"), excluded);
    const Shell python = testing::run_command("/usr/bin/python3 " + checker() + " faiss " +
                                              dir.file("vectors-" + name) + " " + recs + " " +
                                              dir.file(name + "-excluded.csv"));
    EXPECT_EQ(python.code, 0) << python.err << python.out;
  }
}

// Damaged or foreign checkpoints, and models without vectors, are refused with a message.
TEST_F(Export, RefusesTruncatedAndForeignCheckpointsAndModelsWithoutVectors) {
  TempDir dir;
  const std::string checkpoint = train(data(), dir.file("run"), "--model dnn --epochs 1");
  ASSERT_FALSE(checkpoint.empty());
  const std::string bytes = testing::read_file(checkpoint);
  testing::write_file(dir.file("truncated.pt"), bytes.substr(0, bytes.size() / 2));
  Shell run = testing::shell("export --checkpoint " + dir.file("truncated.pt") + " --out " +
                             dir.file("out"));
  EXPECT_NE(run.code, 0);
  EXPECT_NE(run.err.find("truncated.pt"), std::string::npos) << run.err;
  EXPECT_FALSE(fs::exists(dir.file("out")));
  // A TorchScript file (an export) is not a checkpoint.
  const std::string exported = export_to(checkpoint, dir.file("repo"));
  ASSERT_FALSE(exported.empty());
  run = testing::shell("export --checkpoint " + exported + " --out " + dir.file("out"));
  EXPECT_NE(run.code, 0);
  EXPECT_NE(run.err.find("model.pt"), std::string::npos) << run.err;
  EXPECT_FALSE(fs::exists(dir.file("out")));
  // dnn has no user and item vectors.
  run = testing::shell("export --checkpoint " + checkpoint + " --format embeddings --out " +
                       dir.file("out"));
  EXPECT_EQ(run.code, 2);
  EXPECT_NE(run.err.find("not a dot-product model"), std::string::npos) << run.err;
  run = testing::shell("export --checkpoint " + checkpoint + " --format onnx --out " +
                       dir.file("out"));
  EXPECT_EQ(run.code, 2);
  EXPECT_NE(run.err.find("torchscript or embeddings"), std::string::npos) << run.err;
}

}  // namespace
}  // namespace dnnrec
