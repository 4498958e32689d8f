// Train / validation / test splits of the ratings: random, temporal and leave-last.
#pragma once

#include <cstdint>
#include <vector>

#include "base/random.h"
#include "data/movielens.h"
#include "dnnrec/config.h"

namespace dnnrec {

/// Row indices into Ratings, each list ascending.
struct Split {
  std::vector<int64_t> train;
  std::vector<int64_t> val;
  std::vector<int64_t> test;
};

/// Leave-last over `rows` of `ratings`: per user in time order, the last row to test and the
/// one before to val (users with at least three rows; with two, the last to test).
Split split_leave_last(const Ratings& ratings, std::vector<int64_t> rows);

/// Splits by config.split: random (ratios, split_seed), temporal (global timestamp cut by
/// ratios: the newest ratings are test, the ones before val), leave-last (per user: the last
/// rating to test and the one before to val, for users with at least three ratings),
/// random-per-user (split_random_per_user in interactions.h).
/// Deterministic across platforms for a given seed.
Split split_ratings(const Ratings& ratings, const DataConfig& config);

/// Leaves out of every part of `split` the ratings strictly between `dislike` and `like`: the
/// binary task's unlabelled middle (train.dislike_threshold). Nothing when dislike < 0.
void drop_unlabelled(const Ratings& ratings, double dislike, double like, Split* split);

}  // namespace dnnrec
