// Full-ranking evaluation and the item-based yardsticks it is checked with (popularity, EASE).
#include "train/ranking_eval.h"

#include <unordered_map>

#include "dnnrec/error.h"
#include "train/ranking_metrics.h"

namespace dnnrec {

std::vector<int64_t> InteractionIndex::popularity() const {
  std::vector<int64_t> counts(items.size(), 0);
  for (const auto& list : train) {
    for (int64_t item : list) ++counts[static_cast<size_t>(item)];
  }
  return counts;
}

torch::Tensor InteractionIndex::train_matrix() const {
  torch::Tensor x = torch::zeros({n_users(), n_items()}, torch::kFloat);
  float* data = x.data_ptr<float>();
  for (size_t u = 0; u < train.size(); ++u) {
    for (int64_t item : train[u]) data[static_cast<int64_t>(u) * n_items() + item] = 1.0f;
  }
  return x;
}

InteractionIndex index_interactions(const Ratings& ratings, const Split& split) {
  InteractionIndex index;
  std::unordered_map<int64_t, int64_t> user_of, item_of;
  for (int64_t row : split.train) {
    auto [u, new_user] = user_of.emplace(ratings.user[row], index.n_users());
    if (new_user) {
      index.users.push_back(ratings.user[row]);
      index.train.emplace_back();
    }
    auto [i, new_item] = item_of.emplace(ratings.movie[row], index.n_items());
    if (new_item) index.items.push_back(ratings.movie[row]);
    index.train[static_cast<size_t>(u->second)].push_back(i->second);
  }
  index.val.resize(index.users.size());
  index.test.resize(index.users.size());
  auto held_out = [&](const std::vector<int64_t>& rows, std::vector<std::vector<int64_t>>& out) {
    for (int64_t row : rows) {
      const auto u = user_of.find(ratings.user[row]);
      const auto i = item_of.find(ratings.movie[row]);
      if (u != user_of.end() && i != item_of.end()) out[u->second].push_back(i->second);
    }
  };
  held_out(split.val, index.val);
  held_out(split.test, index.test);
  return index;
}

std::vector<std::vector<int64_t>> top_k_lists(const InteractionIndex& index,
                                              const torch::Tensor& scores,
                                              const std::vector<int64_t>& users,
                                              const std::string& part, int k) {
  std::vector<std::vector<int64_t>> lists(users.size());
  const float* data = scores.data_ptr<float>();
  const int64_t n = index.n_items();
  at::parallel_for(0, static_cast<int64_t>(users.size()), 16, [&](int64_t from, int64_t to) {
    for (int64_t j = from; j < to; ++j) {
      const int64_t u = users[static_cast<size_t>(j)];
      lists[static_cast<size_t>(j)] = top_k(data + j * n, n, excluded_items(index, u, part), k);
    }
  });
  return lists;
}

std::map<std::string, double> evaluate_ranking(const InteractionIndex& index,
                                               const BlockScorer& scorer, const std::string& part,
                                               const std::vector<int>& ks, int64_t block) {
  if (part != "val" && part != "test") throw Error("evaluate_ranking: part must be val or test");
  const auto& held_out = part == "val" ? index.val : index.test;
  RankingMetrics metrics(ks, index.popularity());
  torch::NoGradGuard no_grad;
  for (int64_t begin = 0; begin < index.n_users(); begin += block) {
    const int64_t end = std::min(index.n_users(), begin + block);
    const torch::Tensor scores = scorer(begin, end).to(torch::kFloat).contiguous();
    std::vector<int64_t> users(static_cast<size_t>(end - begin));
    for (int64_t u = begin; u < end; ++u) users[static_cast<size_t>(u - begin)] = u;
    const auto lists = top_k_lists(index, scores, users, part, metrics.max_k());
    // Added in user order, so the sums do not depend on the threads.
    for (int64_t u = begin; u < end; ++u) {
      metrics.add(lists[static_cast<size_t>(u - begin)], held_out[static_cast<size_t>(u)]);
    }
  }
  return metrics.result();
}

BlockScorer popularity_scorer(const InteractionIndex& index) {
  const std::vector<int64_t> counts = index.popularity();
  const torch::Tensor scores =
      torch::tensor(std::vector<int64_t>(counts.begin(), counts.end())).to(torch::kFloat);
  return [scores](int64_t begin, int64_t end) {
    return scores.unsqueeze(0).expand({end - begin, -1});
  };
}

std::vector<int64_t> excluded_items(const InteractionIndex& index, int64_t user,
                                    const std::string& part) {
  std::vector<int64_t> excluded = index.train[static_cast<size_t>(user)];
  if (part == "test" || part == "serve") {
    const auto& val = index.val[static_cast<size_t>(user)];
    excluded.insert(excluded.end(), val.begin(), val.end());
  }
  if (part == "serve") {
    const auto& test = index.test[static_cast<size_t>(user)];
    excluded.insert(excluded.end(), test.begin(), test.end());
  }
  if (!index.also_excluded.empty()) {
    const auto& also = index.also_excluded[static_cast<size_t>(user)];
    excluded.insert(excluded.end(), also.begin(), also.end());
  }
  return excluded;
}

torch::Tensor itemknn_weights(const InteractionIndex& index, int64_t neighbours) {
  check_item_item_memory("itemknn", index.n_items(), int64_t{8} << 30, 3 * sizeof(float));
  const torch::Tensor x = index.train_matrix();
  const torch::Tensor norms = x.sum(0).sqrt();  // 0/1 columns: the norm is sqrt(count)
  torch::Tensor sim = torch::matmul(x.t(), x) / (norms.unsqueeze(1) * norms.unsqueeze(0) + 1e-8);
  sim.diagonal().zero_();
  // For each target item (column) keep its `neighbours` most similar items (rows).
  const int64_t keep = std::min<int64_t>(neighbours, index.n_items());
  const torch::Tensor top = std::get<1>(sim.topk(keep, /*dim=*/0));
  return torch::zeros_like(sim).scatter_(0, top, sim.gather(0, top));
}

BlockScorer itemknn_scorer(const InteractionIndex& index, int64_t neighbours) {
  const torch::Tensor x = index.train_matrix();
  const torch::Tensor weights = itemknn_weights(index, neighbours);
  return [x, weights](int64_t begin, int64_t end) {
    return torch::matmul(x.slice(0, begin, end), weights);
  };
}

torch::Tensor ease_weights(const InteractionIndex& index, double lambda, int64_t max_bytes) {
  check_ease_memory(index.n_items(), max_bytes);
  const torch::Tensor x = index.train_matrix();
  return ease_from_gram(torch::matmul(x.t(), x).to(torch::kDouble), lambda);
}

void check_ease_memory(int64_t n, int64_t max_bytes) {
  // The Gram matrix, its inverse and B, in double while inverting.
  check_item_item_memory("ease", n, max_bytes, 3 * sizeof(double));
}

void check_item_item_memory(const std::string& model, int64_t n, int64_t max_bytes,
                            size_t bytes_per_pair) {
  const int64_t need = n * n * static_cast<int64_t>(bytes_per_pair);
  if (need > max_bytes) {
    throw ConfigError(model + ": " + std::to_string(n) + " items need " +
                      std::to_string(need >> 20) + " MiB for the item-item matrices, over the " +
                      "limit of " + std::to_string(max_bytes >> 20) +
                      " MiB; filter rare items (data.min_item_interactions)");
  }
}

torch::Tensor ease_from_gram(torch::Tensor gram, double lambda) {
  gram.diagonal().add_(lambda);
  const torch::Tensor p = torch::linalg_inv(gram);
  torch::Tensor b = -p / p.diagonal().unsqueeze(0);
  b.diagonal().zero_();
  return b.to(torch::kFloat);
}

BlockScorer ease_scorer(const InteractionIndex& index, double lambda, int64_t max_bytes) {
  const torch::Tensor x = index.train_matrix();
  const torch::Tensor weights = ease_weights(index, lambda, max_bytes);
  return [x, weights](int64_t begin, int64_t end) {
    return torch::matmul(x.slice(0, begin, end), weights);
  };
}

}  // namespace dnnrec
