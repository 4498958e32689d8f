// Splits: sizes, disjointness, determinism, temporal order and leave-last per user.
#include <gtest/gtest.h>

#include <algorithm>
#include <set>

#include "data/split.h"
#include "dnnrec/error.h"

namespace dnnrec {
namespace {

Ratings make_ratings(int users, int per_user) {
  Ratings r;
  for (int u = 1; u <= users; ++u) {
    for (int i = 0; i < per_user; ++i) {
      r.user.push_back(u);
      r.movie.push_back(100 + i);
      r.rating.push_back(3.0f);
      // Timestamps interleave users so the global order differs from file order.
      r.timestamp.push_back(1000 + i * 10 + u);
    }
  }
  return r;
}

void expect_partition(const Split& s, size_t n) {
  std::set<int64_t> all;
  for (const auto* part : {&s.train, &s.val, &s.test}) {
    EXPECT_TRUE(std::is_sorted(part->begin(), part->end()));
    all.insert(part->begin(), part->end());
  }
  EXPECT_EQ(all.size(), n);
  EXPECT_EQ(s.train.size() + s.val.size() + s.test.size(), n);
}

TEST(Split, RandomHasTheRatiosAndIsDeterministic) {
  Ratings r = make_ratings(10, 100);  // 1000 rows
  DataConfig c;                       // random 0.8 / 0.1 / 0.1, seed 42
  Split a = split_ratings(r, c);
  expect_partition(a, 1000);
  EXPECT_EQ(a.test.size(), 100u);
  EXPECT_EQ(a.val.size(), 100u);
  EXPECT_EQ(a.train.size(), 800u);
  Split b = split_ratings(r, c);
  EXPECT_EQ(a.test, b.test);
  EXPECT_EQ(a.val, b.val);
  c.split_seed = 43;
  Split other = split_ratings(r, c);
  EXPECT_NE(a.test, other.test);
}

TEST(Split, TemporalPutsTheNewestRatingsInTest) {
  Ratings r = make_ratings(5, 20);  // 100 rows
  DataConfig c;
  c.split = "temporal";
  c.val_ratio = 0.2;
  c.test_ratio = 0.1;
  Split s = split_ratings(r, c);
  expect_partition(s, 100);
  ASSERT_EQ(s.test.size(), 10u);
  ASSERT_EQ(s.val.size(), 20u);
  int64_t max_train = 0, min_val = INT64_MAX, max_val = 0, min_test = INT64_MAX;
  for (int64_t i : s.train) max_train = std::max(max_train, r.timestamp[i]);
  for (int64_t i : s.val) min_val = std::min(min_val, r.timestamp[i]);
  for (int64_t i : s.val) max_val = std::max(max_val, r.timestamp[i]);
  for (int64_t i : s.test) min_test = std::min(min_test, r.timestamp[i]);
  EXPECT_LE(max_train, min_val);
  EXPECT_LE(max_val, min_test);
}

TEST(Split, LeaveLastHoldsOutEachUsersLastTwo) {
  Ratings r;
  // user 1: three ratings in shuffled file order; user 2: two; user 3: one.
  auto add = [&](int64_t u, int64_t m, int64_t t) {
    r.user.push_back(u);
    r.movie.push_back(m);
    r.rating.push_back(4.0f);
    r.timestamp.push_back(t);
  };
  add(1, 10, 300);  // row 0: last of user 1 -> test
  add(1, 11, 100);  // row 1: first -> train
  add(1, 12, 200);  // row 2: second to last -> val
  add(2, 10, 50);   // row 3: train
  add(2, 11, 60);   // row 4: last of user 2 -> test
  add(3, 10, 70);   // row 5: the only rating -> train
  DataConfig c;
  c.split = "leave-last";
  Split s = split_ratings(r, c);
  EXPECT_EQ(s.test, (std::vector<int64_t>{0, 4}));
  EXPECT_EQ(s.val, (std::vector<int64_t>{2}));
  EXPECT_EQ(s.train, (std::vector<int64_t>{1, 3, 5}));
}

// The binary task's unlabelled middle (train.dislike_threshold): ratings strictly between the
// two thresholds leave every part; the rest stay where the split put them.
TEST(Split, DropUnlabelledLeavesOutTheMiddleRatings) {
  Ratings r;
  const std::vector<float> stars = {1, 2, 2.5f, 3, 3.5f, 4, 5, 3, 1, 4};
  for (size_t i = 0; i < stars.size(); ++i) {
    r.user.push_back(1);
    r.movie.push_back(static_cast<int64_t>(i));
    r.rating.push_back(stars[i]);
    r.timestamp.push_back(static_cast<int64_t>(i));
  }
  Split s{{0, 1, 2, 3, 4}, {5, 6, 7}, {8, 9}};
  Split kept = s;
  drop_unlabelled(r, -1, 4, &kept);  // off
  EXPECT_EQ(kept.train, s.train);
  drop_unlabelled(r, 2, 4, &kept);
  EXPECT_EQ(kept.train, (std::vector<int64_t>{0, 1}));
  EXPECT_EQ(kept.val, (std::vector<int64_t>{5, 6}));
  EXPECT_EQ(kept.test, (std::vector<int64_t>{8, 9}));
}

TEST(Split, RejectsEmptyDataAndUnknownMethods) {
  DataConfig c;
  EXPECT_THROW(split_ratings(Ratings{}, c), DataError);
  c.split = "randm";
  EXPECT_THROW(split_ratings(make_ratings(2, 5), c), ConfigError);
}

}  // namespace
}  // namespace dnnrec
