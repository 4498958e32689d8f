// Tests of full-ranking top-K selection and metrics, with every expected value worked out by
// hand from RecBole's definitions.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "dnnrec/error.h"
#include "train/ranking_metrics.h"

namespace dnnrec {
namespace {

TEST(TopK, BestFirstWithoutExcludedItemsTiesToTheLowerIndexNanLast) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const std::vector<float> scores = {0.5f, 0.9f, 0.9f, nan, 0.1f};
  EXPECT_EQ(top_k(scores.data(), 5, {1}, 3), (std::vector<int64_t>{2, 0, 4}));
  EXPECT_EQ(top_k(scores.data(), 5, {}, 3), (std::vector<int64_t>{1, 2, 0}));
  EXPECT_EQ(top_k(scores.data(), 5, {0, 1, 2}, 10), (std::vector<int64_t>{4, 3}));
  EXPECT_TRUE(top_k(scores.data(), 5, {}, 0).empty());
}

TEST(RankingMetrics, HandComputedValuesAtEachK) {
  RankingMetrics m({1, 3}, {10, 20, 30, 40, 50});
  EXPECT_EQ(m.max_k(), 3);
  m.add({2, 0, 4}, {0, 3});  // one of two found, at rank 2
  m.add({3, 1, 0}, {3});     // found at rank 1
  m.add({0, 1, 2}, {});      // nothing held out: not counted
  EXPECT_EQ(m.users(), 2);
  const auto r = m.result();
  EXPECT_DOUBLE_EQ(r.at("ndcg@1"), 0.5);
  EXPECT_DOUBLE_EQ(r.at("recall@1"), 0.5);
  EXPECT_DOUBLE_EQ(r.at("mrr@1"), 0.5);
  EXPECT_DOUBLE_EQ(r.at("hit@1"), 0.5);
  EXPECT_DOUBLE_EQ(r.at("precision@1"), 0.5);
  EXPECT_DOUBLE_EQ(r.at("coverage@1"), 2.0 / 5);  // items 2 and 3
  EXPECT_DOUBLE_EQ(r.at("popularity@1"), (30.0 + 40.0) / 2);
  // First user at 3: DCG 1/log2(3), ideal 1 + 1/log2(3).
  const double first = (1 / std::log2(3.0)) / (1 + 1 / std::log2(3.0));
  EXPECT_DOUBLE_EQ(r.at("ndcg@3"), (first + 1) / 2);
  EXPECT_DOUBLE_EQ(r.at("recall@3"), (0.5 + 1) / 2);
  EXPECT_DOUBLE_EQ(r.at("mrr@3"), (0.5 + 1) / 2);
  EXPECT_DOUBLE_EQ(r.at("hit@3"), 1.0);
  EXPECT_DOUBLE_EQ(r.at("precision@3"), 1.0 / 3);
  EXPECT_DOUBLE_EQ(r.at("coverage@3"), 1.0);
  EXPECT_DOUBLE_EQ(r.at("popularity@3"), (30.0 + 10 + 50 + 40 + 20 + 10) / 6);
  EXPECT_EQ(r.size(), 14u);
}

TEST(RankingMetrics, KBelowOneIsRefused) { EXPECT_THROW(RankingMetrics({10, 0}, {}), Error); }

}  // namespace
}  // namespace dnnrec
