// Top-K quality as the field measures it: full ranking over every item a user has not
// interacted with, Recall / NDCG / MRR / Hit / Precision at each K, averaged over the users with
// at least one held-out item, and the catalogue coverage and mean popularity of the lists.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace dnnrec {

/// The k best items of one user's scores over the whole catalogue, best first, leaving out
/// `excluded` (the user's training items, and for test also their validation items). Ties go to
/// the lower item index, so a list does not depend on the sort. k is capped by the items left.
std::vector<int64_t> top_k(const float* scores, int64_t n_items,
                           const std::vector<int64_t>& excluded, int k);

/// Adds up users' ranked lists against their held-out items.
class RankingMetrics {
 public:
  /// ks: the cut-offs (eval.topk, e.g. 10 and 20); popularity: each item's number of training
  /// interactions, whose mean over the recommended items is reported.
  RankingMetrics(std::vector<int> ks, std::vector<int64_t> popularity);

  /// One user: `ranked` (at least max(ks) long, unless the catalogue is smaller) against the
  /// held-out items `relevant`. A user without relevant items is not counted.
  void add(const std::vector<int64_t>& ranked, const std::vector<int64_t>& relevant);

  /// Deepest cut-off: how long each ranked list must be.
  int max_k() const { return max_k_; }
  /// Users counted so far.
  int64_t users() const { return users_; }

  /// ndcg@K, recall@K, mrr@K, hit@K, precision@K (means over counted users), coverage@K (the
  /// share of the catalogue in any top-K list) and popularity@K (the mean training interaction
  /// count of the top-K items), for each K.
  std::map<std::string, double> result() const;

 private:
  std::vector<int> ks_;
  int max_k_ = 0;
  std::vector<int64_t> popularity_;
  int64_t users_ = 0;
  std::vector<double> ndcg_, recall_, mrr_, hit_, precision_, popularity_sum_;
  std::vector<int64_t> listed_;             // items listed per K
  std::vector<std::vector<bool>> covered_;  // per K, per item: in some top-K list
};

}  // namespace dnnrec
