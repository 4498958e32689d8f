// Tests of the ranking task's data: the interaction threshold, the iterative k-core filter and
// the per-user random split (its part sizes), on hand-made ratings.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <map>
#include <set>
#include <vector>

#include "data/interactions.h"

namespace dnnrec {
namespace {

Ratings make(const std::vector<std::pair<int64_t, int64_t>>& pairs, float rating = 4.0f) {
  Ratings r;
  for (const auto& [user, movie] : pairs) {
    r.user.push_back(user);
    r.movie.push_back(movie);
    r.rating.push_back(rating);
    r.timestamp.push_back(0);
  }
  return r;
}

std::vector<int64_t> all_rows(const Ratings& r) {
  std::vector<int64_t> rows(r.size());
  for (size_t i = 0; i < rows.size(); ++i) rows[i] = static_cast<int64_t>(i);
  return rows;
}

TEST(Interactions, RatingsAtOrAboveTheThresholdCount) {
  Ratings r = make({{1, 1}, {1, 2}, {2, 1}, {2, 3}});
  r.rating = {2.5f, 3.0f, 5.0f, 0.5f};
  EXPECT_EQ(interaction_rows(r, 3.0), (std::vector<int64_t>{1, 2}));
  EXPECT_EQ(interaction_rows(r, 0.0), (std::vector<int64_t>{0, 1, 2, 3}));
}

TEST(Interactions, KCoreIteratesUntilStable) {
  // Movie 3 has one rating: dropping it leaves user 2 with one, so user 2 goes, which leaves
  // movie 2 with one (user 1's), so movie 2 goes too; users 1 and 3 and movie 1 stay.
  const Ratings r = make({{1, 1}, {1, 2}, {2, 2}, {2, 3}, {3, 1}, {1, 4}, {3, 4}});
  EXPECT_EQ(k_core(r, all_rows(r), 2, 2), (std::vector<int64_t>{0, 4, 5, 6}));
  // Limits of 0 or 1 keep everything; a subset of rows is filtered on its own counts.
  EXPECT_EQ(k_core(r, all_rows(r), 1, 0), all_rows(r));
  EXPECT_EQ(k_core(r, {0, 4}, 1, 2), (std::vector<int64_t>{0, 4}));
  EXPECT_TRUE(k_core(r, {0, 4}, 2, 1).empty());
}

TEST(Interactions, PerUserSplitCutsAtTheFlooredCumulativeRatios) {
  // Cuts at floor(0.8 n) and floor(0.9 n): n = 10 gives 8/1/1; n = 15 gives 12/1/2 (test takes
  // the remainder); n = 5 gives 4/0/1; n = 2 gives 1/0/1; n = 1 keeps its row for training.
  std::vector<std::pair<int64_t, int64_t>> pairs;
  const std::map<int64_t, int64_t> counts = {{1, 10}, {2, 5}, {3, 2}, {4, 1}, {5, 15}};
  for (const auto& [user, n] : counts) {
    for (int64_t m = 0; m < n; ++m) pairs.emplace_back(user, 100 + m);
  }
  const Ratings r = make(pairs);
  const Split s = split_random_per_user(r, all_rows(r), 0.1, 0.1, 7);
  auto count = [&](const std::vector<int64_t>& rows, int64_t user) {
    return std::count_if(rows.begin(), rows.end(), [&](int64_t i) { return r.user[i] == user; });
  };
  const std::map<int64_t, std::vector<int64_t>> expected = {
      {1, {8, 1, 1}}, {2, {4, 0, 1}}, {3, {1, 0, 1}}, {4, {1, 0, 0}}, {5, {12, 1, 2}}};
  for (const auto& [user, sizes] : expected) {
    EXPECT_EQ(count(s.train, user), sizes[0]) << user;
    EXPECT_EQ(count(s.val, user), sizes[1]) << user;
    EXPECT_EQ(count(s.test, user), sizes[2]) << user;
  }
  // Every row once, each list ascending; the same seed the same split, another seed another.
  std::set<int64_t> seen;
  for (const auto* part : {&s.train, &s.val, &s.test}) {
    EXPECT_TRUE(std::is_sorted(part->begin(), part->end()));
    for (int64_t row : *part) EXPECT_TRUE(seen.insert(row).second) << row;
  }
  EXPECT_EQ(seen.size(), r.size());
  const Split again = split_random_per_user(r, all_rows(r), 0.1, 0.1, 7);
  EXPECT_EQ(again.test, s.test);
  EXPECT_EQ(again.val, s.val);
  bool differs = false;
  for (uint64_t seed = 8; seed < 12; ++seed) {
    differs |= split_random_per_user(r, all_rows(r), 0.1, 0.1, seed).test != s.test;
  }
  EXPECT_TRUE(differs);
}

}  // namespace
}  // namespace dnnrec
