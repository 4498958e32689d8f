// Splitting ratings into train / val / test without looking at anything but ids and times.
#include "data/split.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <unordered_map>

#include "data/interactions.h"
#include "dnnrec/error.h"

namespace dnnrec {
namespace {

void sort_all(Split& split) {
  std::sort(split.train.begin(), split.train.end());
  std::sort(split.val.begin(), split.val.end());
  std::sort(split.test.begin(), split.test.end());
}

// Cuts an ordering of rows into train | val | test by the configured ratios.
Split cut(const std::vector<int64_t>& order, const DataConfig& config) {
  const auto n = static_cast<int64_t>(order.size());
  const auto n_test = static_cast<int64_t>(std::llround(n * config.test_ratio));
  const auto n_val = static_cast<int64_t>(std::llround(n * config.val_ratio));
  const int64_t n_train = n - n_test - n_val;
  if (n_train <= 0) throw DataError("split: no training rows left with these ratios");
  Split split;
  split.train.assign(order.begin(), order.begin() + n_train);
  split.val.assign(order.begin() + n_train, order.begin() + n_train + n_val);
  split.test.assign(order.begin() + n_train + n_val, order.end());
  return split;
}

}  // namespace

Split split_leave_last(const Ratings& ratings, std::vector<int64_t> order) {
  std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) {
    if (ratings.user[a] != ratings.user[b]) return ratings.user[a] < ratings.user[b];
    return ratings.timestamp[a] < ratings.timestamp[b];
  });
  const auto n = static_cast<int64_t>(order.size());
  Split split;
  for (int64_t begin = 0; begin < n;) {
    int64_t end = begin;
    while (end < n && ratings.user[order[end]] == ratings.user[order[begin]]) ++end;
    const int64_t count = end - begin;
    int64_t train_end = end;
    if (count >= 3) {
      split.test.push_back(order[end - 1]);
      split.val.push_back(order[end - 2]);
      train_end = end - 2;
    } else if (count == 2) {
      split.test.push_back(order[end - 1]);
      train_end = end - 1;
    }
    split.train.insert(split.train.end(), order.begin() + begin, order.begin() + train_end);
    begin = end;
  }
  sort_all(split);
  return split;
}

void drop_unlabelled(const Ratings& ratings, double dislike, double like, Split* split) {
  if (dislike < 0) return;
  for (std::vector<int64_t>* part : {&split->train, &split->val, &split->test}) {
    part->erase(std::remove_if(part->begin(), part->end(),
                               [&](int64_t row) {
                                 const double r = ratings.rating[static_cast<size_t>(row)];
                                 return r > dislike && r < like;
                               }),
                part->end());
  }
}

Split split_ratings(const Ratings& ratings, const DataConfig& config) {
  const auto n = static_cast<int64_t>(ratings.size());
  if (n == 0) throw DataError("split: there are no ratings to split");
  std::vector<int64_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  Split split;
  if (config.split == "random") {
    SplitMix64 rng(static_cast<uint64_t>(config.split_seed));
    for (int64_t i = n - 1; i > 0; --i) std::swap(order[i], order[rng.below(i + 1)]);
    split = cut(order, config);
  } else if (config.split == "temporal") {
    std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) {
      return ratings.timestamp[a] < ratings.timestamp[b];
    });
    split = cut(order, config);
  } else if (config.split == "leave-last") {
    return split_leave_last(ratings, std::move(order));
  } else if (config.split == "random-per-user") {
    return split_random_per_user(ratings, order, config.val_ratio, config.test_ratio,
                                 static_cast<uint64_t>(config.split_seed));
  } else {
    throw ConfigError("data.split: unknown split '" + config.split +
                      "' (random | temporal | leave-last | random-per-user)");
  }
  sort_all(split);
  return split;
}

}  // namespace dnnrec
