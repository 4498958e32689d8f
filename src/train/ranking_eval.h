// Full-ranking evaluation in blocks of users: each user's held-out items against a ranking of
// every item they have not interacted with (training items, and for test also validation items,
// left out).
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "data/movielens.h"
#include "data/split.h"

namespace dnnrec {

/// The interactions of a split by dense user and item index (users and items of the training
/// part; held-out rows of unseen users or items are dropped, as they cannot be ranked).
struct InteractionIndex {
  std::vector<int64_t> users;                          ///< raw userId of each user index
  std::vector<int64_t> items;                          ///< raw movieId of each item index
  std::vector<std::vector<int64_t>> train, val, test;  ///< per user: item indices
  /// Per user: items left out of every ranking besides the interactions (eval.exclude rated:
  /// the movies the user rated below the interaction threshold); empty lists by default.
  std::vector<std::vector<int64_t>> also_excluded;
  int64_t n_users() const { return static_cast<int64_t>(users.size()); }
  int64_t n_items() const { return static_cast<int64_t>(items.size()); }
  /// Each item's number of training interactions.
  std::vector<int64_t> popularity() const;
  /// The training interactions as a dense 0/1 matrix [n_users, n_items], float.
  torch::Tensor train_matrix() const;
};

/// Indexes the split's rows of `ratings`.
InteractionIndex index_interactions(const Ratings& ratings, const Split& split);

/// Scores of every item for the users [begin, end): [end - begin, n_items].
using BlockScorer = std::function<torch::Tensor(int64_t begin, int64_t end)>;

/// Ranks every item for each user (block by block) and measures the held-out part: "val"
/// (training items excluded) or "test" (training and validation items excluded). Metric names
/// as RankingMetrics::result.
std::map<std::string, double> evaluate_ranking(const InteractionIndex& index,
                                               const BlockScorer& scorer, const std::string& part,
                                               const std::vector<int>& ks, int64_t block = 512);

/// ItemKNN's item-item weights [n_items, n_items]: cosine similarity of the items' training
/// columns, each target item (column) keeping its `neighbours` most similar items (itself
/// excluded), the rest zero.
torch::Tensor itemknn_weights(const InteractionIndex& index, int64_t neighbours);

/// EASE's item-item weights B [n_items, n_items] (Steck 2019). Throws ConfigError when the
/// item-item matrices would need more than `max_bytes`, naming the limit.
torch::Tensor ease_weights(const InteractionIndex& index, double lambda,
                           int64_t max_bytes = int64_t{8} << 30);

/// Throws ConfigError naming `model` and the limit when n x n item pairs of bytes_per_pair
/// bytes each (the item-item matrices a model holds at once) would exceed max_bytes.
void check_item_item_memory(const std::string& model, int64_t n, int64_t max_bytes,
                            size_t bytes_per_pair);

/// Throws ConfigError when EASE's item-item matrices for n items would need more than
/// max_bytes, naming the limit.
void check_ease_memory(int64_t n, int64_t max_bytes);

/// EASE's B from a (double) Gram matrix: P = (G + lambda I)^-1, B = -P / diag(P), diag(B) = 0.
torch::Tensor ease_from_gram(torch::Tensor gram, double lambda);

/// The items ranking leaves out for `user`: the training items, for "test" also the
/// validation items, for "serve" (a served list) also the test items, and always the user's
/// also_excluded.
std::vector<int64_t> excluded_items(const InteractionIndex& index, int64_t user,
                                    const std::string& part);

/// The top-k lists of `users` from their rows of `scores` ([users, n_items], contiguous float),
/// leaving out excluded_items(user, part); users in parallel.
std::vector<std::vector<int64_t>> top_k_lists(const InteractionIndex& index,
                                              const torch::Tensor& scores,
                                              const std::vector<int64_t>& users,
                                              const std::string& part, int k);

/// Popularity: every user gets the items' training interaction counts as scores.
BlockScorer popularity_scorer(const InteractionIndex& index);

/// ItemKNN: cosine similarity between items' training columns, each item keeping only its
/// `neighbours` most similar items (itself excluded); a user's score of an item sums its
/// similarities to the user's training items.
BlockScorer itemknn_scorer(const InteractionIndex& index, int64_t neighbours);

/// EASE (Steck 2019): B = I - P diag(1 / diag(P)), P = (X^T X + lambda I)^-1, diag(B) = 0;
/// a user's scores are their training row times B. Throws ConfigError when the item-item
/// matrices would need more than `max_bytes`.
BlockScorer ease_scorer(const InteractionIndex& index, double lambda,
                        int64_t max_bytes = int64_t{8} << 30);

}  // namespace dnnrec
