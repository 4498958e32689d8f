// The ranking task (train.task ranking): interactions from ratings, the k-core filter, a per-user
// split, a ranking model trained or computed, and full-ranking metrics on val and test. Its
// checkpoints are read back by evaluate and recommend through restore_ranking, so a served list
// is ranked exactly as evaluation ranked it.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "data/movielens.h"
#include "dnnrec/config.h"
#include "dnnrec/pipeline.h"
#include "models/rankers.h"
#include "train/checkpoint.h"

namespace dnnrec {

struct TrainRun;

/// The ranking data of `data` as configured: ratings of at least data.min_interaction_rating,
/// the iterative k-core (data.min_user_interactions, data.min_item_interactions), split per user
/// (data.split: random-per-user or leave-last), indexed, with each item's genres and year.
RankingData prepare_ranking(const Config& config, const MovieLens& data);

/// Trains (or computes) the ranking model of an opened run and writes its files (history.csv,
/// best.pt, last.pt, metrics.json); dry_run stops once the model is built. `resume`, when not
/// empty, is a checkpoint of this run written at the end of an epoch (last.pt or a periodic
/// one): training continues after that epoch exactly as the uninterrupted run would have
/// (weights, optimizer, both random generators, history, best epoch, patience and schedule).
TrainResult train_ranking(TrainRun& run, bool dry_run, const std::string& resume = "");

/// A ranking checkpoint with its data and model, ready to score.
struct RestoredRanking {
  Checkpoint ckpt;
  MovieLens data;
  RankingData ranking;
  Ranker model;
};

/// Users per block of full-ranking scores ([block, n_items] floats at a time, about 24 MiB).
int64_t user_block_size(int64_t n_items);

/// Rebuilds a loaded ranking checkpoint's data and model (data_dir empty: the stored folder).
RestoredRanking restore_ranking(Checkpoint ckpt, const std::string& data_dir);

/// Full-ranking metrics of the restored model on "val" or "test" (eval.topk of its config);
/// *users gets the number of users measured.
std::map<std::string, double> evaluate_restored(RestoredRanking& r, const std::string& part,
                                                int64_t* users = nullptr);

/// The restored model's scores of every item for the user indices `users`, in the blocks
/// evaluation scores them in (the same products), with `part`'s histories (as user_block):
/// fn(position of the block's first user in `users`, the block's users, their scores
/// [block, n_items], float and contiguous).
void score_blocks(
    RestoredRanking& r, const std::vector<int64_t>& users, const std::string& part,
    const std::function<void(size_t, const std::vector<int64_t>&, const torch::Tensor&)>& fn);

/// The k best items of each user index in `users`. candidates "test": what test evaluation
/// ranks (training and validation items left out, the history of a sequential model ending
/// with the validation item): the lists the test metrics measured. "serve": every item the
/// user has no interaction with in any split (a served list), the history ending with the
/// latest. "val": what validation ranks (training items left out, the history ending with the
/// last training item). All with the same scores and eval.exclude.
/// With `scores`, also each listed item's score.
std::vector<std::vector<int64_t>> rank_users(RestoredRanking& r, const std::vector<int64_t>& users,
                                             int k, const std::string& candidates,
                                             std::vector<std::vector<float>>* scores = nullptr);

}  // namespace dnnrec
