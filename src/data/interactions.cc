// Interactions, the k-core filter and the per-user random split of the ranking task.
#include "data/interactions.h"

#include <algorithm>
#include <unordered_map>

#include "base/random.h"

namespace dnnrec {

std::vector<int64_t> interaction_rows(const Ratings& ratings, double min_rating) {
  std::vector<int64_t> rows;
  for (size_t i = 0; i < ratings.size(); ++i) {
    if (ratings.rating[i] >= min_rating) rows.push_back(static_cast<int64_t>(i));
  }
  return rows;
}

std::vector<int64_t> k_core(const Ratings& ratings, const std::vector<int64_t>& rows,
                            int64_t min_user, int64_t min_item) {
  std::vector<int64_t> kept = rows;
  for (;;) {
    std::unordered_map<int64_t, int64_t> per_user, per_item;
    for (int64_t row : kept) {
      ++per_user[ratings.user[row]];
      ++per_item[ratings.movie[row]];
    }
    std::vector<int64_t> next;
    next.reserve(kept.size());
    for (int64_t row : kept) {
      if (per_user[ratings.user[row]] >= min_user && per_item[ratings.movie[row]] >= min_item) {
        next.push_back(row);
      }
    }
    if (next.size() == kept.size()) break;
    kept = std::move(next);
  }
  std::sort(kept.begin(), kept.end());
  return kept;
}

namespace {

// RecBole's _calcu_split_ids: the sizes of train, val and test for a user's n rows.
void part_sizes(int64_t n, double val_ratio, double test_ratio, int64_t sizes[3]) {
  const double ratios[3] = {1.0 - val_ratio - test_ratio, val_ratio, test_ratio};
  sizes[1] = static_cast<int64_t>(ratios[1] * static_cast<double>(n));
  sizes[2] = static_cast<int64_t>(ratios[2] * static_cast<double>(n));
  sizes[0] = n - sizes[1] - sizes[2];
  for (int part = 2; part >= 1; --part) {
    if (sizes[0] <= 1) break;
    const double share = ratios[part] * static_cast<double>(n);
    if (share > 0 && share < 1) {
      ++sizes[part];
      --sizes[0];
    }
  }
}

}  // namespace

Split split_random_per_user(const Ratings& ratings, const std::vector<int64_t>& rows,
                            double val_ratio, double test_ratio, uint64_t seed) {
  // Users in order of first appearance, each with its rows in file order: the result does not
  // depend on hash-map iteration order.
  std::unordered_map<int64_t, size_t> index;
  std::vector<std::vector<int64_t>> groups;
  for (int64_t row : rows) {
    auto [it, added] = index.emplace(ratings.user[row], groups.size());
    if (added) groups.emplace_back();
    groups[it->second].push_back(row);
  }
  SplitMix64 rng(seed);
  Split split;
  for (std::vector<int64_t>& group : groups) {
    for (size_t i = group.size(); i > 1; --i) std::swap(group[i - 1], group[rng.below(i)]);
    int64_t sizes[3];
    part_sizes(static_cast<int64_t>(group.size()), val_ratio, test_ratio, sizes);
    const auto begin = group.begin();
    split.train.insert(split.train.end(), begin, begin + sizes[0]);
    split.val.insert(split.val.end(), begin + sizes[0], begin + sizes[0] + sizes[1]);
    split.test.insert(split.test.end(), begin + sizes[0] + sizes[1], group.end());
  }
  for (auto* part : {&split.train, &split.val, &split.test}) std::sort(part->begin(), part->end());
  return split;
}

}  // namespace dnnrec
