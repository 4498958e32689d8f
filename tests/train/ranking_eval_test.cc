// Tests of full-ranking evaluation: exclusions and averaging on a hand-made split, EASE's memory
// limit, and the yardsticks reproducing the published anchors of issue 16 on ml-latest-small.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <string>
#include <vector>

#include "data/interactions.h"
#include "data/load.h"
#include "dnnrec/error.h"
#include "train/ranking_eval.h"

namespace dnnrec {
namespace {

// Users 10, 11, 12; movies 100..103. Training: 10 {100, 101}, 11 {100, 102}, 12 {100, 103};
// val: 10 {103}; test: 11 {101}.
struct Tiny {
  Ratings ratings;
  Split split;
  Tiny() {
    const std::vector<std::pair<int64_t, int64_t>> rows = {
        {10, 100}, {10, 101}, {11, 100}, {11, 102}, {12, 100}, {12, 103}, {10, 103}, {11, 101}};
    for (const auto& [user, movie] : rows) {
      ratings.user.push_back(user);
      ratings.movie.push_back(movie);
      ratings.rating.push_back(4.0f);
      ratings.timestamp.push_back(0);
    }
    split.train = {0, 1, 2, 3, 4, 5};
    split.val = {6};
    split.test = {7};
  }
};

TEST(RankingEval, PopularityRanksEveryUnseenItemWithTheRightExclusions) {
  const Tiny tiny;
  const InteractionIndex index = index_interactions(tiny.ratings, tiny.split);
  ASSERT_EQ(index.n_users(), 3);
  ASSERT_EQ(index.n_items(), 4);
  EXPECT_EQ(index.popularity(), (std::vector<int64_t>{3, 1, 1, 1}));
  // Test, user 11: its training items 100 and 102 are left out; 101 and 103 tie at one
  // interaction and the lower index, 101, comes first: a hit at rank 1.
  const auto test = evaluate_ranking(index, popularity_scorer(index), "test", {1, 2});
  EXPECT_DOUBLE_EQ(test.at("ndcg@1"), 1.0);
  EXPECT_DOUBLE_EQ(test.at("hit@1"), 1.0);
  // Val, user 10: 100 and 101 are left out; 102 then 103, the held-out one, at rank 2.
  const auto val = evaluate_ranking(index, popularity_scorer(index), "val", {1, 2});
  EXPECT_DOUBLE_EQ(val.at("hit@1"), 0.0);
  EXPECT_DOUBLE_EQ(val.at("ndcg@2"), 1 / std::log2(3.0));
  EXPECT_DOUBLE_EQ(val.at("mrr@2"), 0.5);
  EXPECT_THROW(evaluate_ranking(index, popularity_scorer(index), "train", {1}), Error);
}

TEST(RankingEval, EaseRefusesItemCountsOverItsMemoryLimit) {
  const Tiny tiny;
  const InteractionIndex index = index_interactions(tiny.ratings, tiny.split);
  EXPECT_NO_THROW(ease_scorer(index, 1.0));
  try {
    ease_scorer(index, 1.0, /*max_bytes=*/100);
    FAIL() << "no error";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("4 items need"), std::string::npos) << e.what();
  }
}

// Issue 16's protocol on ml-latest-small: ratings >= 3, a 10-core, a per-user random
// 0.8/0.1/0.1 split, full ranking. The anchors: Pop NDCG@10 0.1216, ItemKNN (cosine,
// 100 neighbours) 0.2361, EASE (lambda 200) 0.2770. With about 600 test users one split's
// NDCG@10 moves by about 0.01 from seed to seed, so the test holds the five seeds' mean to the
// issue's tolerance, 0.01.
TEST(RankingEval, PopItemKnnAndEaseReproduceTheAnchorsOnMovieLens) {
  const std::string data = std::string(DNNREC_SOURCE_DIR) + "/data/ml-latest-small";
  ASSERT_TRUE(std::filesystem::exists(data + "/ratings.csv"))
      << data << " is missing: run scripts/fetch-movielens.sh (make test does)";
  const MovieLens ml = load_movielens(data);
  const auto rows = k_core(ml.ratings, interaction_rows(ml.ratings, 3.0), 10, 10);
  double pop_mean = 0, knn_mean = 0, ease_mean = 0;
  constexpr int kSeeds = 5;
  for (uint64_t seed = 1; seed <= kSeeds; ++seed) {
    const InteractionIndex index =
        index_interactions(ml.ratings, split_random_per_user(ml.ratings, rows, 0.1, 0.1, seed));
    EXPECT_EQ(index.n_users(), 603);
    EXPECT_EQ(index.n_items(), 1862);
    const double pop =
        evaluate_ranking(index, popularity_scorer(index), "test", {10}).at("ndcg@10");
    const double knn =
        evaluate_ranking(index, itemknn_scorer(index, 100), "test", {10}).at("ndcg@10");
    const double ease =
        evaluate_ranking(index, ease_scorer(index, 200.0), "test", {10}).at("ndcg@10");
    std::printf("[          ] split seed %d: pop ndcg@10 %.4f, itemknn %.4f, ease %.4f\n",
                static_cast<int>(seed), pop, knn, ease);
    EXPECT_GT(ease, 1.8 * pop) << seed;
    pop_mean += pop / kSeeds;
    knn_mean += knn / kSeeds;
    ease_mean += ease / kSeeds;
  }
  EXPECT_NEAR(pop_mean, 0.1216, 0.01);
  EXPECT_NEAR(knn_mean, 0.2361, 0.01);
  EXPECT_NEAR(ease_mean, 0.2770, 0.01);
  EXPECT_GT(knn_mean, pop_mean);
  EXPECT_GT(ease_mean, knn_mean);
}

}  // namespace
}  // namespace dnnrec
