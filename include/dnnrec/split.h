// Train / validation / test splits of the ratings: random, temporal and leave-last.
#pragma once

#include <cstdint>
#include <vector>

#include "dnnrec/config.h"
#include "dnnrec/movielens.h"

namespace dnnrec {

/// Row indices into Ratings, each list ascending.
struct Split {
  std::vector<int64_t> train;
  std::vector<int64_t> val;
  std::vector<int64_t> test;
};

/// Splits by config.split: random (ratios, split_seed), temporal (global timestamp cut by
/// ratios: the newest ratings are test, the ones before val), leave-last (per user: the last
/// rating to test and the one before to val, for users with at least three ratings).
/// Deterministic across platforms for a given seed.
Split split_ratings(const Ratings& ratings, const DataConfig& config);

/// A small, fast, portable random generator (splitmix64), used wherever results must not
/// depend on the standard library's distributions.
class SplitMix64 {
 public:
  explicit SplitMix64(uint64_t seed) : state_(seed) {}
  uint64_t next() {
    uint64_t z = (state_ += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
  }
  /// Uniform in [0, n), n > 0 (Lemire's multiply-shift; the bias is below 2^-32 for our n).
  uint64_t below(uint64_t n) { return static_cast<uint64_t>((__uint128_t(next()) * n) >> 64); }

 private:
  uint64_t state_;
};

}  // namespace dnnrec
