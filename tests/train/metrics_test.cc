// Tests of the evaluation metrics against values worked out by hand.
#include "train/metrics.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <set>

#include "dnnrec/error.h"

namespace dnnrec {
namespace {

TEST(MetricsTest, RmseAndMae) {
  const std::vector<float> pred = {1, 2, 3};
  const std::vector<float> target = {1, 3, 5};
  // errors 0, -1, -2: squares 0 + 1 + 4 = 5, rmse = sqrt(5 / 3)
  EXPECT_DOUBLE_EQ(rmse(pred, target), std::sqrt(5.0 / 3.0));
  // |errors| 0 + 1 + 2 = 3, mae = 3 / 3
  EXPECT_DOUBLE_EQ(mae(pred, target), 1.0);
  EXPECT_DOUBLE_EQ(rmse(target, target), 0.0);
}

TEST(MetricsTest, AucRanksPositivesAboveNegatives) {
  // Sorted: 0.1 (neg) rank 1, 0.35 (pos) rank 2, 0.4 (neg) rank 3, 0.8 (pos) rank 4.
  // Positive rank sum 2 + 4 = 6; (6 - 2 * 3 / 2) / (2 * 2) = 3 / 4.
  EXPECT_DOUBLE_EQ(auc({0.1f, 0.4f, 0.35f, 0.8f}, {0, 0, 1, 1}), 0.75);
  EXPECT_DOUBLE_EQ(auc({0.1f, 0.2f, 0.8f, 0.9f}, {0, 0, 1, 1}), 1.0);
  EXPECT_DOUBLE_EQ(auc({0.9f, 0.8f, 0.2f, 0.1f}, {0, 0, 1, 1}), 0.0);
}

TEST(MetricsTest, AucCountsTiesAsHalf) {
  // Three scores tie at 0.5 and share rank (1 + 2 + 3) / 3 = 2; 0.9 has rank 4.
  // Positive rank sum 2 + 4 = 6; (6 - 3) / (2 * 2) = 0.75.
  // By pairs: pos 0.5 vs negs 0.5, 0.5 -> 0.5 + 0.5; pos 0.9 vs both -> 2; 3 of 4 pairs.
  EXPECT_DOUBLE_EQ(auc({0.5f, 0.5f, 0.5f, 0.9f}, {0, 1, 0, 1}), 0.75);
  // pos 0.2: vs neg 0.2 tie 0.5, vs 0.7 and 0.9 lose -> 0.5
  // pos 0.7: vs neg 0.2 win 1, vs 0.7 tie 0.5, vs 0.9 lose -> 1.5;  (0.5 + 1.5) / (2 * 3) = 1/3
  EXPECT_DOUBLE_EQ(auc({0.2f, 0.2f, 0.7f, 0.7f, 0.9f}, {1, 0, 0, 1, 0}), 1.0 / 3.0);
  // Every score equal: every pair is a tie.
  EXPECT_DOUBLE_EQ(auc({0.3f, 0.3f, 0.3f}, {1, 0, 1}), 0.5);
}

TEST(MetricsTest, AucIsHalfWhenOneClassIsAbsent) {
  EXPECT_DOUBLE_EQ(auc({0.1f, 0.9f}, {1, 1}), 0.5);
  EXPECT_DOUBLE_EQ(auc({0.1f, 0.9f}, {0, 0}), 0.5);
}

TEST(MetricsTest, AucMatchesPairCountingOnRandomData) {
  std::mt19937 rng(7);
  std::uniform_int_distribution<int> level(0, 9);  // few distinct scores: many ties
  std::bernoulli_distribution coin(0.4);
  std::vector<float> score(300);
  std::vector<float> label(300);
  for (size_t i = 0; i < score.size(); ++i) {
    score[i] = level(rng) / 10.0f;
    label[i] = coin(rng) ? 1.0f : 0.0f;
  }
  double wins = 0;
  double pairs = 0;
  for (size_t i = 0; i < score.size(); ++i) {
    for (size_t j = 0; j < score.size(); ++j) {
      if (label[i] != 1 || label[j] != 0) continue;
      pairs += 1;
      wins += score[i] > score[j] ? 1 : score[i] == score[j] ? 0.5 : 0;
    }
  }
  EXPECT_NEAR(auc(score, label), wins / pairs, 1e-12);
}

TEST(MetricsTest, LoglossByHand) {
  // -(log 0.5 + log(1 - 0.25)) / 2
  EXPECT_DOUBLE_EQ(logloss({0.5f, 0.25f}, {1, 0}), -(std::log(0.5) + std::log(0.75)) / 2);
  // 0 and 1 are clipped to 1e-7 and 1 - 1e-7: a confident miss costs -log(1e-7) = 16.118...
  EXPECT_NEAR(logloss({0.0f, 1.0f}, {1, 0}), -std::log(1e-7), 1e-6);
  EXPECT_TRUE(std::isfinite(logloss({0.0f, 1.0f}, {1, 0})));
  // ... and a confident hit costs -log(1 - 1e-7) ~= 1e-7, not exactly 0.
  EXPECT_NEAR(logloss({0.0f, 1.0f}, {0, 1}), 1e-7, 1e-9);
}

TEST(MetricsTest, AccuracyUsesHalfAsThreshold) {
  // 0.9 -> 1 right, 0.2 -> 0 right, 0.6 -> 1 wrong, 0.5 -> 0 (not above 0.5) wrong: 2 / 4.
  EXPECT_DOUBLE_EQ(accuracy({0.9f, 0.2f, 0.6f, 0.5f}, {1, 0, 0, 1}), 0.5);
  EXPECT_DOUBLE_EQ(accuracy({0.51f}, {1}), 1.0);
}

TEST(MetricsTest, ComputeMetricsNamesByTask) {
  const auto rating = compute_metrics("rating", {1, 2, 3}, {1, 3, 5});
  ASSERT_EQ(rating.size(), 2u);
  EXPECT_DOUBLE_EQ(rating.at("rmse"), std::sqrt(5.0 / 3.0));
  EXPECT_DOUBLE_EQ(rating.at("mae"), 1.0);

  const auto binary = compute_metrics("binary", {0.1f, 0.4f, 0.35f, 0.8f}, {0, 0, 1, 1});
  ASSERT_EQ(binary.size(), 3u);
  EXPECT_DOUBLE_EQ(binary.at("auc"), 0.75);
  EXPECT_TRUE(binary.count("logloss"));
  // 0.1 -> 0 right, 0.4 -> 0 right, 0.35 -> 0 wrong, 0.8 -> 1 right: 3 / 4.
  EXPECT_DOUBLE_EQ(binary.at("accuracy"), 0.75);

  EXPECT_EQ(task_metrics("rating"), (std::vector<std::string>{"rmse", "mae"}));
  EXPECT_EQ(task_metrics("binary"), (std::vector<std::string>{"auc", "logloss", "accuracy"}));
  EXPECT_TRUE(task_metrics("ranking").empty());  // no cut-offs given
  EXPECT_EQ(task_metrics("ranking", {5}),
            (std::vector<std::string>{"ndcg@5", "recall@5", "mrr@5", "hit@5", "precision@5",
                                      "coverage@5", "popularity@5"}));
  EXPECT_THROW(task_metrics("ranknig"), Error);
}

TEST(MetricsTest, BadInputThrows) {
  EXPECT_THROW(compute_metrics("rating", {1, 2}, {1}), Error);
  EXPECT_THROW(rmse({1, 2}, {1}), Error);
  EXPECT_THROW(auc({1}, {1, 0}), Error);
  try {
    compute_metrics("binary", {}, {});
    FAIL() << "no exception";
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "no examples to evaluate");
  }
  EXPECT_THROW(auc({NAN, 0.5f}, {1, 0}), Error);
}

TEST(MetricsTest, TheTableDeclaresEachMetricOnceAndDrivesEveryReport) {
  std::set<std::string> names;
  const std::vector<float> pred = {0.2f, 0.9f, 0.4f}, target = {0, 1, 1};
  for (const MetricInfo& m : metric_table()) {
    SCOPED_TRACE(m.name);
    EXPECT_TRUE(names.insert(m.name).second) << "declared twice";
    const auto report = compute_metrics(m.task, pred, target);
    EXPECT_EQ(report.at(m.name), m.fn(pred, target));
    EXPECT_EQ(metric_higher_is_better(std::string("val_") + m.name), m.higher_is_better);
  }
  EXPECT_EQ(names.size(), 5u);
}

TEST(MetricsTest, HigherIsBetter) {
  EXPECT_TRUE(metric_higher_is_better("auc"));
  EXPECT_TRUE(metric_higher_is_better("accuracy"));
  EXPECT_TRUE(metric_higher_is_better("val_auc"));
  EXPECT_FALSE(metric_higher_is_better("rmse"));
  EXPECT_FALSE(metric_higher_is_better("logloss"));
  EXPECT_FALSE(metric_higher_is_better("train_loss"));
}

}  // namespace
}  // namespace dnnrec
