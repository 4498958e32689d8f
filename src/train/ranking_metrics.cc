// Full-ranking top-K metrics (RecBole's definitions) and the top-K selection they rank with.
#include "train/ranking_metrics.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <unordered_set>

#include "dnnrec/error.h"

namespace dnnrec {

std::vector<int64_t> top_k(const float* scores, int64_t n_items,
                           const std::vector<int64_t>& excluded, int k) {
  if (k <= 0 || n_items <= 0) return {};
  // One pass keeping the k best so far in a heap whose top is the worst of them: most items
  // lose to it at the first comparison, so a user costs about one read of their scores.
  thread_local std::vector<uint8_t> skip;
  if (skip.size() < static_cast<size_t>(n_items)) skip.resize(static_cast<size_t>(n_items), 0);
  for (int64_t item : excluded) {
    if (item >= 0 && item < n_items) skip[static_cast<size_t>(item)] = 1;
  }
  using Entry = std::pair<float, int64_t>;
  // Better score first, then the lower index; NaN counts as -inf (ranks last).
  auto better = [](const Entry& a, const Entry& b) {
    return a.first != b.first ? a.first > b.first : a.second < b.second;
  };
  std::vector<Entry> heap;
  heap.reserve(static_cast<size_t>(k));
  for (int64_t item = 0; item < n_items; ++item) {
    if (skip[static_cast<size_t>(item)]) continue;
    const float raw = scores[item];
    const Entry entry{std::isnan(raw) ? -std::numeric_limits<float>::infinity() : raw, item};
    if (heap.size() < static_cast<size_t>(k)) {
      heap.push_back(entry);
      std::push_heap(heap.begin(), heap.end(), better);
    } else if (better(entry, heap.front())) {
      std::pop_heap(heap.begin(), heap.end(), better);
      heap.back() = entry;
      std::push_heap(heap.begin(), heap.end(), better);
    }
  }
  for (int64_t item : excluded) {
    if (item >= 0 && item < n_items) skip[static_cast<size_t>(item)] = 0;
  }
  std::sort(heap.begin(), heap.end(), better);
  std::vector<int64_t> out(heap.size());
  for (size_t i = 0; i < heap.size(); ++i) out[i] = heap[i].second;
  return out;
}

RankingMetrics::RankingMetrics(std::vector<int> ks, std::vector<int64_t> popularity)
    : ks_(std::move(ks)), popularity_(std::move(popularity)) {
  for (int k : ks_) {
    if (k < 1) throw Error("ranking metrics: every K must be >= 1, got " + std::to_string(k));
    max_k_ = std::max(max_k_, k);
  }
  const size_t n = ks_.size();
  ndcg_.assign(n, 0);
  recall_.assign(n, 0);
  mrr_.assign(n, 0);
  hit_.assign(n, 0);
  precision_.assign(n, 0);
  popularity_sum_.assign(n, 0);
  listed_.assign(n, 0);
  covered_.assign(n, std::vector<bool>(popularity_.size(), false));
}

void RankingMetrics::add(const std::vector<int64_t>& ranked, const std::vector<int64_t>& relevant) {
  if (relevant.empty()) return;
  const std::unordered_set<int64_t> wanted(relevant.begin(), relevant.end());
  ++users_;
  for (size_t j = 0; j < ks_.size(); ++j) {
    const size_t k = std::min(ranked.size(), static_cast<size_t>(ks_[j]));
    double dcg = 0, first_hit = 0;
    int64_t hits = 0;
    for (size_t r = 0; r < k; ++r) {
      const int64_t item = ranked[r];
      if (item >= 0 && static_cast<size_t>(item) < popularity_.size()) {
        popularity_sum_[j] += static_cast<double>(popularity_[static_cast<size_t>(item)]);
        covered_[j][static_cast<size_t>(item)] = true;
      }
      ++listed_[j];
      if (!wanted.count(item)) continue;
      ++hits;
      dcg += 1.0 / std::log2(static_cast<double>(r) + 2.0);
      if (first_hit == 0) first_hit = 1.0 / (static_cast<double>(r) + 1.0);
    }
    double ideal = 0;
    const size_t best = std::min(wanted.size(), static_cast<size_t>(ks_[j]));
    for (size_t r = 0; r < best; ++r) ideal += 1.0 / std::log2(static_cast<double>(r) + 2.0);
    ndcg_[j] += dcg / ideal;
    recall_[j] += static_cast<double>(hits) / static_cast<double>(wanted.size());
    mrr_[j] += first_hit;
    hit_[j] += hits > 0 ? 1.0 : 0.0;
    precision_[j] += static_cast<double>(hits) / ks_[j];
  }
}

std::map<std::string, double> RankingMetrics::result() const {
  std::map<std::string, double> out;
  const double users = users_ > 0 ? static_cast<double>(users_) : 1.0;
  for (size_t j = 0; j < ks_.size(); ++j) {
    const std::string at = "@" + std::to_string(ks_[j]);
    out["ndcg" + at] = ndcg_[j] / users;
    out["recall" + at] = recall_[j] / users;
    out["mrr" + at] = mrr_[j] / users;
    out["hit" + at] = hit_[j] / users;
    out["precision" + at] = precision_[j] / users;
    const auto covered = std::count(covered_[j].begin(), covered_[j].end(), true);
    out["coverage" + at] =
        popularity_.empty() ? 0.0 : static_cast<double>(covered) / popularity_.size();
    out["popularity" + at] =
        listed_[j] > 0 ? popularity_sum_[j] / static_cast<double>(listed_[j]) : 0.0;
  }
  return out;
}

}  // namespace dnnrec
