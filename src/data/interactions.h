// Implicit feedback for the ranking task: which ratings count as interactions, the iterative
// k-core filter, and the per-user random split.
#pragma once

#include <cstdint>
#include <vector>

#include "data/movielens.h"
#include "data/split.h"

namespace dnnrec {

/// The rows of `ratings` whose rating is at least `min_rating`, ascending.
std::vector<int64_t> interaction_rows(const Ratings& ratings, double min_rating);

/// The iterative k-core of `rows`: drops the rows of users with fewer than `min_user` and of
/// movies with fewer than `min_item` interactions, again and again until every user and movie
/// left has enough (a dropped movie can push a user under the limit, and back). A user or movie
/// counts its rows, duplicates included. Returns the kept rows, ascending; 0 turns a limit off.
std::vector<int64_t> k_core(const Ratings& ratings, const std::vector<int64_t>& rows,
                            int64_t min_user, int64_t min_item);

/// The per-user random split of the ranking protocol: each user's rows are shuffled, then cut
/// into train / val / test at floor((1 - val - test) n) and floor((1 - test) n) of its n rows,
/// test taking the remainder (numpy's np.split idiom); train keeps at least one row.
/// Deterministic for a seed; each list ascending.
Split split_random_per_user(const Ratings& ratings, const std::vector<int64_t>& rows,
                            double val_ratio, double test_ratio, uint64_t seed);

}  // namespace dnnrec
