// Ranking models for top-K recommendation from implicit interactions: each scores every item
// of the catalogue for a block of users. Closed-form ones (pop, itemknn, ease) are computed from
// the training interactions; trained ones (bpr, two-tower) learn from sampled negatives.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "dnnrec/config.h"
#include "models/ranker_names.h"
#include "train/ranking_eval.h"

namespace dnnrec {

/// What the ranking models see of the data: the interactions and the items' features.
struct RankingData {
  InteractionIndex index;
  /// Per user: the training and the validation items in time order, oldest first (what a
  /// sequential model reads).
  std::vector<std::vector<int64_t>> train_sequence, val_sequence, test_sequence;
  /// Per user: the timestamp of each item of train_sequence (seconds).
  std::vector<std::vector<int64_t>> train_times;
  /// Per item: genre ids (1..n_genres, 0 = padding) [n_items, max genres], and year id
  /// (1..n_years, 0 = unknown) [n_items].
  torch::Tensor item_genres, item_year;
  int64_t n_genres = 0, n_years = 0;
  /// Per user: the tokens of their description (user_tokens; 1..n_profile, 0 = padding)
  /// [n_users, longest]; n_profile 0 when the data describes no user or
  /// features.user_features is off (user_profile then undefined).
  torch::Tensor user_profile;
  int64_t n_profile = 0;
};

/// Users with their training items, as embedding_bag input: `items` flat, user j's items at
/// [offsets[j], offsets[j + 1]) (the last up to items.size(0)).
struct UserBlock {
  torch::Tensor users;    ///< [B] user indices
  torch::Tensor items;    ///< training items of the users, concatenated
  torch::Tensor offsets;  ///< [B] where each user's items begin
  torch::Tensor counts;   ///< [B] how many training items each user has
  /// [B, L] the user's latest L items in time order, item index + 1, left-padded with 0; only
  /// for models with a sequence_length() (undefined otherwise).
  torch::Tensor sequence;
  /// The part the block is scored for ("val", "test", "serve", "train"; "" = only the training
  /// items known): what excluded_items leaves out of the users' lists.
  std::string part;
  /// The training items as a 0/1 matrix [B, n_items].
  torch::Tensor dense(int64_t n_items) const;
};

/// The users [begin, end) of `index`.
UserBlock user_block(const InteractionIndex& index, int64_t begin, int64_t end);
/// The given users of `index`; with `leave_out`, row j's list without the item leave_out[j]
/// (a training example's history without its own positive).
UserBlock user_block(const InteractionIndex& index, const std::vector<int64_t>& users,
                     const std::vector<int64_t>* leave_out = nullptr);
/// The given users of `data`, with `sequence` when length > 0: for part "val" (and "train") the
/// training items, for "test" the training then the validation items, for "serve" the test
/// items after those, as the user's history. With `leave_out`, row j's items and history
/// without the item leave_out[j] (a training example's history without its own positive).
UserBlock user_block(const RankingData& data, const std::vector<int64_t>& users,
                     const std::string& part, int64_t length,
                     const std::vector<int64_t>* leave_out = nullptr);

/// One training batch of a trained ranker.
struct RankBatch {
  torch::Tensor items;      ///< [B] positive items
  torch::Tensor negatives;  ///< bpr: [B, n] per example; two-tower: [n] shared; may be empty
  UserBlock users;  ///< the example's user (one per example), with their training items but the
                    ///< positive when the model trains_on_history(), and their history but the
                    ///< positive when it has a sequence_length()
};

/// A ranking model: scores of every item for a block of users.
class RankerImpl : public torch::nn::Module {
 public:
  /// Closed-form models compute their weights from the training interactions here.
  virtual void fit(const RankingData& data) {}
  /// Whether the model learns by gradient steps on RankBatch (bpr, two-tower, sasrec).
  virtual bool trainable() const { return false; }
  /// The history length L a sequential model reads from UserBlock::sequence; 0 for the others.
  virtual int64_t sequence_length() const { return 0; }
  /// Whether training reads RankBatch::users' item lists (each without the example's positive);
  /// the others get only the user indices.
  virtual bool trains_on_history() const { return false; }
  /// Whether a training batch is a set of users (their training sequences, L + 1 items) rather
  /// than a set of interactions.
  virtual bool trains_on_users() const { return false; }
  /// Scores [B, n_items]: higher ranks first.
  virtual torch::Tensor score(const UserBlock& block) = 0;
  /// Mean loss of a batch (trained models only), plus `embedding_l2` times the mean squared
  /// norm of the embedding rows it touched.
  virtual torch::Tensor loss(const RankBatch& batch, double embedding_l2);
  /// Scores come from a fixed copy of the item vectors (after training, for evaluation and
  /// serving); false drops the copy. No effect on models without item vectors.
  virtual void freeze_items(bool on) {}

  // What `dnnrec export` reads: score() as a product of a users' side and an items' side.
  /// The users' side of score() for a block, [B, k]: a dot-product model's user vectors (bpr,
  /// two-tower, sasrec), a linear item-item model's row of (weighted) items (itemknn, ease).
  /// Undefined for models without one.
  virtual torch::Tensor user_factors(const UserBlock& block) { return {}; }
  /// The items' side, as score() multiplies by it: [n_items, k] item vectors of a dot-product
  /// model (score = user_factors . item_factors^T, plus item_bias), the [n_items, n_items]
  /// item-item matrix of a linear one (score = user_factors x item_factors). Undefined for
  /// models without one.
  virtual torch::Tensor item_factors() { return {}; }
  /// A dot-product model's item bias, [n_items, 1]; undefined when it has none.
  virtual torch::Tensor item_bias() { return {}; }
};
using Ranker = std::shared_ptr<RankerImpl>;

/// Builds the ranking model of `config` (model.name) for `data`, closed-form weights not yet
/// computed (fit does it). A blend's members are built from `members` (their configs, in
/// order: one per model.members entry), each as make_ranker builds it, weights unset (a blend's
/// fit computes none: its members are fitted or trained alone, then their weights loaded).
/// Throws ConfigError for an unknown name or a blend without its members' configs.
Ranker make_ranker(const Config& config, const RankingData& data,
                   const std::vector<Config>& members = {});

/// A blend's members: member i is the submodule "member<i>".
std::vector<Ranker> blend_members(RankerImpl& blend);

/// Each item's rank in each row of `scores` [B, n] among the items not in `excluded` [B, n]
/// (bool): how many allowed items score strictly higher (0 = first; tied items share a rank).
/// Excluded items rank after every allowed one. Returns [B, n] long.
torch::Tensor competition_ranks(const torch::Tensor& scores, const torch::Tensor& excluded);

}  // namespace dnnrec
