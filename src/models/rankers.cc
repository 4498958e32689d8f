// The ranking models: popularity, ItemKNN, EASE, BPR-MF and a two-tower retrieval model.
#include "models/rankers.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <map>

#include "dnnrec/error.h"
#include "models/embedding_ops.h"
#include "models/models.h"

namespace dnnrec {

torch::Tensor UserBlock::dense(int64_t n_items) const {
  const int64_t b = users.size(0);
  torch::Tensor rows = torch::repeat_interleave(torch::arange(b, torch::kLong), counts);
  torch::Tensor x = torch::zeros({b, n_items}, torch::kFloat);
  if (items.numel() > 0) x.index_put_({rows, items}, torch::ones({items.size(0)}));
  return x;
}

UserBlock user_block(const InteractionIndex& index, const std::vector<int64_t>& users,
                     const std::vector<int64_t>* leave_out) {
  std::vector<int64_t> items, offsets, counts;
  offsets.reserve(users.size());
  counts.reserve(users.size());
  for (size_t j = 0; j < users.size(); ++j) {
    const auto& list = index.train[static_cast<size_t>(users[j])];
    const auto begin = static_cast<int64_t>(items.size());
    offsets.push_back(begin);
    items.insert(items.end(), list.begin(), list.end());
    if (leave_out != nullptr) {
      const auto at = std::find(items.begin() + begin, items.end(), (*leave_out)[j]);
      if (at != items.end()) items.erase(at);
    }
    counts.push_back(static_cast<int64_t>(items.size()) - begin);
  }
  UserBlock block;
  block.users = torch::tensor(users, torch::kLong);
  block.items = torch::tensor(items, torch::kLong);
  block.offsets = torch::tensor(offsets, torch::kLong);
  block.counts = torch::tensor(counts, torch::kLong);
  return block;
}

UserBlock user_block(const InteractionIndex& index, int64_t begin, int64_t end) {
  std::vector<int64_t> users(static_cast<size_t>(end - begin));
  for (int64_t u = begin; u < end; ++u) users[static_cast<size_t>(u - begin)] = u;
  return user_block(index, users);
}

UserBlock user_block(const RankingData& data, const std::vector<int64_t>& users,
                     const std::string& part, int64_t length,
                     const std::vector<int64_t>* leave_out) {
  UserBlock block = user_block(data.index, users, leave_out);
  block.part = part;
  if (length <= 0) return block;
  block.sequence = torch::zeros({static_cast<int64_t>(users.size()), length}, torch::kLong);
  auto seq = block.sequence.accessor<int64_t, 2>();
  for (size_t j = 0; j < users.size(); ++j) {
    std::vector<int64_t> history = data.train_sequence[static_cast<size_t>(users[j])];
    if (part == "test" || part == "serve") {
      const auto& val = data.val_sequence[static_cast<size_t>(users[j])];
      history.insert(history.end(), val.begin(), val.end());
    }
    if (part == "serve") {
      const auto& test = data.test_sequence[static_cast<size_t>(users[j])];
      history.insert(history.end(), test.begin(), test.end());
    }
    if (leave_out != nullptr) {
      history.erase(std::remove(history.begin(), history.end(), (*leave_out)[j]), history.end());
    }
    const auto n = static_cast<int64_t>(history.size());
    for (int64_t t = 0; t < std::min(n, length); ++t) {
      seq[static_cast<int64_t>(j)][length - 1 - t] = history[static_cast<size_t>(n - 1 - t)] + 1;
    }
  }
  return block;
}

torch::Tensor RankerImpl::loss(const RankBatch&, double) {
  throw Error("this ranking model is computed in closed form and has no training loss");
}

namespace {

// Popularity: every user gets the items' training interaction counts.
class PopImpl : public RankerImpl {
 public:
  explicit PopImpl(int64_t n_items)
      : counts_(register_buffer("counts", torch::zeros({n_items}, torch::kFloat))) {}
  void fit(const RankingData& data) override {
    const std::vector<int64_t> counts = data.index.popularity();
    counts_.copy_(torch::tensor(counts, torch::kLong).to(torch::kFloat));
  }
  torch::Tensor score(const UserBlock& block) override {
    return counts_.unsqueeze(0).expand({block.users.size(0), -1});
  }

 private:
  torch::Tensor counts_;
};

torch::Tensor sequential_rules(const RankingData& data, int64_t window);

// ItemKNN and EASE: a user's scores are their training row times an item-item matrix.
class ItemItemImpl : public RankerImpl {
 public:
  using WeightsFn = std::function<torch::Tensor(const RankingData&)>;
  // recency_tau > 0: the user's row weighs their latest `length` items by recency. window > 0:
  // sequential rules join the weights (add_sequential_rules).
  ItemItemImpl(int64_t n_items, WeightsFn weights, const ModelConfig& model, int64_t length)
      : weights_fn_(std::move(weights)),
        weights_(register_buffer("weights", torch::zeros({n_items, n_items}, torch::kFloat))),
        recency_tau_(model.recency_tau),
        length_(model.recency_tau > 0 ? length : 0),
        window_(model.sequence_window),
        rules_weight_(model.sequence_weight) {}
  void fit(const RankingData& data) override {
    weights_.copy_(weights_fn_(data));
    if (window_ > 0) add_sequential_rules(data);
  }
  int64_t sequence_length() const override { return length_; }
  torch::Tensor score(const UserBlock& block) override {
    return torch::matmul(user_factors(block), weights_);
  }
  // The user's row: their training items, 1 each; with recency_tau, their latest `length` items
  // weighted by recency.
  torch::Tensor user_factors(const UserBlock& block) override {
    const int64_t n_items = weights_.size(0);
    if (length_ == 0) return block.dense(n_items);
    // block.sequence is right-aligned (newest last) with item + 1, 0 = padding: column c is the
    // (L - 1 - c)-th newest item.
    const int64_t b = block.sequence.size(0), l = block.sequence.size(1);
    const torch::Tensor age = torch::arange(l - 1, -1, -1, torch::kFloat);
    const torch::Tensor weight = torch::exp(-age / recency_tau_).unsqueeze(0).expand({b, l});
    torch::Tensor row = torch::zeros({b, n_items + 1}, torch::kFloat);
    row.scatter_add_(1, block.sequence, weight);
    return row.slice(1, 1);
  }
  torch::Tensor item_factors() override { return weights_; }

 private:
  // weights += alpha s T: T the sequential rules (sequential_rules), s the ratio of the standard
  // deviations of the training rows' scores by the weights and by T (every user, every item), so
  // that alpha weighs the two on the same scale whatever the data.
  void add_sequential_rules(const RankingData& data) {
    torch::NoGradGuard no_grad;
    const torch::Tensor rules = sequential_rules(data, window_);
    const torch::Tensor weights = weights_.to(torch::kDouble);
    const int64_t n_users = data.index.n_users();
    double sum[2] = {0, 0}, squares[2] = {0, 0};
    for (int64_t begin = 0; begin < n_users; begin += 256) {
      std::vector<int64_t> users;
      for (int64_t u = begin; u < std::min(n_users, begin + 256); ++u) users.push_back(u);
      const torch::Tensor rows =
          user_factors(user_block(data, users, "val", length_)).to(torch::kDouble);
      const torch::Tensor scores[2] = {torch::matmul(rows, weights), torch::matmul(rows, rules)};
      for (int k = 0; k < 2; ++k) {
        sum[k] += scores[k].sum().item<double>();
        squares[k] += scores[k].pow(2).sum().item<double>();
      }
    }
    const double count = static_cast<double>(n_users) * static_cast<double>(weights_.size(0));
    double spread[2];
    for (int k = 0; k < 2; ++k) {
      const double mean = sum[k] / count;
      spread[k] = std::sqrt(std::max(0.0, squares[k] / count - mean * mean));
    }
    if (spread[1] <= 0) return;  // no user has a rule: nothing to add
    const double scale = rules_weight_ * spread[0] / spread[1];
    weights_.add_(rules.to(torch::kFloat), scale);
  }

  WeightsFn weights_fn_;
  torch::Tensor weights_;
  double recency_tau_;
  int64_t length_;
  int64_t window_;
  double rules_weight_;
};

// Sequential rules (Ludewig & Jannach 2018), [n_items, n_items] in double: T[i][j] sums 1 / gap
// over every time item j follows item i at most `window` positions later in a user's training
// sequence; each row then divided by its sum (rows without a follower stay zero).
torch::Tensor sequential_rules(const RankingData& data, int64_t window) {
  const int64_t n = data.index.n_items();
  torch::Tensor rules = torch::zeros({n, n}, torch::kDouble);
  double* t = rules.data_ptr<double>();
  for (const auto& items : data.train_sequence) {
    const auto length = static_cast<int64_t>(items.size());
    for (int64_t a = 0; a < length; ++a) {
      for (int64_t gap = 1; gap <= window && a + gap < length; ++gap) {
        t[items[static_cast<size_t>(a)] * n + items[static_cast<size_t>(a + gap)]] +=
            1.0 / static_cast<double>(gap);
      }
    }
  }
  const torch::Tensor sums = rules.sum(1, /*keepdim=*/true);
  return torch::where(sums > 0, rules / sums, rules);
}

// X^T X with each co-occurrence of items i and j in a user's training interactions weighted by
// exp(-|t_i - t_j| / tau) (1 on the diagonal: the items' counts), in double.
torch::Tensor time_kernel_gram(const RankingData& data, double tau) {
  const int64_t n = data.index.n_items();
  torch::Tensor gram = torch::zeros({n, n}, torch::kDouble);
  for (size_t u = 0; u < data.train_sequence.size(); ++u) {
    const auto& items = data.train_sequence[u];
    if (items.empty()) continue;
    const torch::Tensor ids = torch::tensor(items, torch::kLong);
    // Relative to the user's first time, so doubles keep every second.
    const std::vector<int64_t>& times = data.train_times[u];
    std::vector<double> t(times.size());
    for (size_t i = 0; i < t.size(); ++i) t[i] = static_cast<double>(times[i] - times.front());
    const torch::Tensor tt = torch::tensor(t, torch::kDouble);
    const torch::Tensor kernel = torch::exp(-(tt.unsqueeze(1) - tt.unsqueeze(0)).abs() / tau);
    const auto m = static_cast<int64_t>(items.size());
    gram.index_put_({ids.unsqueeze(1).expand({m, m}).reshape({-1}),
                     ids.unsqueeze(0).expand({m, m}).reshape({-1})},
                    kernel.reshape({-1}), /*accumulate=*/true);
  }
  return gram;
}

torch::nn::Embedding normal_table(int64_t rows, int64_t dim, double std) {
  torch::nn::Embedding table(rows, dim);
  torch::NoGradGuard no_grad;
  table->weight.normal_(0.0, std);
  return table;
}

// Mean squared norm per example of the rows a batch looked up.
torch::Tensor row_penalty(const std::vector<torch::Tensor>& rows, int64_t batch) {
  torch::Tensor sum = torch::zeros({});
  for (const auto& r : rows) sum = sum + r.pow(2).sum();
  return sum / static_cast<double>(std::max<int64_t>(batch, 1));
}

// BPR-MF (Rendle et al. 2009): user . item + item bias, each positive ranked above uniform
// negatives.
class BprImpl : public RankerImpl {
 public:
  BprImpl(int64_t n_users, int64_t n_items, int64_t dim)
      : user_(register_module("user", normal_table(n_users, dim, 0.1))),
        item_(register_module("item", normal_table(n_items, dim, 0.1))),
        bias_(register_module("item_bias", normal_table(n_items, 1, 0.0))) {}
  bool trainable() const override { return true; }
  torch::Tensor score(const UserBlock& block) override {
    // One pass over the [B, n_items] result: at full-catalogue scale, memory traffic is the cost.
    return torch::addmm(bias_->weight.t(), user_(block.users), item_->weight.t());
  }
  torch::Tensor user_factors(const UserBlock& block) override { return user_(block.users); }
  torch::Tensor item_factors() override { return item_->weight; }
  torch::Tensor item_bias() override { return bias_->weight; }
  torch::Tensor loss(const RankBatch& batch, double embedding_l2) override {
    const torch::Tensor u = user_(batch.users.users);  // [B, d]
    const torch::Tensor pos = item_(batch.items);      // [B, d]
    const torch::Tensor neg = item_(batch.negatives);  // [B, n, d]
    const torch::Tensor s_pos = (u * pos).sum(1) + bias_(batch.items).squeeze(1);
    const torch::Tensor s_neg =
        torch::bmm(neg, u.unsqueeze(2)).squeeze(2) + bias_(batch.negatives).squeeze(2);
    torch::Tensor loss = -torch::log_sigmoid(s_pos.unsqueeze(1) - s_neg).mean();
    if (embedding_l2 > 0) {
      loss = loss + embedding_l2 * row_penalty({u, pos, neg}, batch.items.size(0));
    }
    return loss;
  }

 private:
  torch::nn::Embedding user_, item_, bias_;
};

// Two towers (YouTube DNN candidate generation, Covington et al. 2016; sampling-bias-corrected
// softmax, Yi et al. 2019). User: id + mean of the history items' vectors (+ mean of the
// description tokens' vectors where the data describes its users); item: id + mean of its
// genres + year. Each tower is a sum, or an MLP over the concatenation when model.hidden is
// set; the outputs are L2-normalised and scored by dot product.
class TwoTowerImpl : public RankerImpl {
 public:
  TwoTowerImpl(const Config& config, const RankingData& data) {
    const int64_t d = config.model.embedding_dim;
    const int64_t n_items = data.index.n_items();
    temperature_ = config.model.temperature;
    logq_ = config.model.logq;
    user_ = register_module("user", normal_table(data.index.n_users(), d, 0.1));
    history_ = register_module("history", normal_table(n_items, d, 0.1));
    item_ = register_module("item", normal_table(n_items, d, 0.1));
    genre_ = register_module("genre", make_embedding(data.n_genres + 1, d, 0.1));
    year_ = register_module("year", make_embedding(data.n_years + 1, d, 0.1));
    item_genres_ = register_buffer("item_genres", data.item_genres.clone());
    item_year_ = register_buffer("item_year", data.item_year.clone());
    if (data.n_profile > 0) {
      profile_ = register_module("profile", make_embedding(data.n_profile + 1, d, 0.1));
      user_profile_ = register_buffer("user_profile", data.user_profile.clone());
    }
    // Log of each item's share of the training interactions: its in-batch sampling rate.
    const std::vector<int64_t> counts = data.index.popularity();
    torch::Tensor c = torch::tensor(counts, torch::kLong).to(torch::kFloat).clamp_min(1);
    log_q_ = register_buffer("log_q", (c / c.sum()).log());
    const auto& hidden = config.model.hidden;
    if (!hidden.empty()) {
      const auto& m = config.model;
      user_mlp_ = register_module("user_mlp", make_tower((profile_ ? 3 : 2) * d, hidden,
                                                         m.activation, m.dropout, m.batch_norm, d));
      item_mlp_ = register_module(
          "item_mlp", make_tower(3 * d, hidden, m.activation, m.dropout, m.batch_norm, d));
    }
  }
  bool trainable() const override { return true; }
  bool trains_on_history() const override { return true; }

  torch::Tensor score(const UserBlock& block) override {
    return torch::matmul(user_vectors(block), item_factors().t());
  }
  torch::Tensor user_factors(const UserBlock& block) override { return user_vectors(block); }
  torch::Tensor item_factors() override {
    return frozen_.defined() ? frozen_ : item_vectors(all_items());
  }

  void freeze_items(bool on) override {
    frozen_ = torch::Tensor();
    if (!on) return;
    torch::NoGradGuard no_grad;
    frozen_ = item_vectors(all_items());
  }

  torch::Tensor loss(const RankBatch& batch, double embedding_l2) override {
    const torch::Tensor u = user_vectors(batch.users);  // [B, d], positives left out

    const torch::Tensor v = item_vectors(batch.items);  // [B, d]
    const int64_t b = batch.items.size(0);
    // In-batch: row i's positive is column i, the other rows' positives are its negatives
    // (an accidental hit, the same item, is masked out).
    torch::Tensor logits = torch::matmul(u, v.t()) / temperature_;
    if (logq_) logits = logits - (log_q_.index_select(0, batch.items) + std::log(double(b)));
    const torch::Tensor same = batch.items.unsqueeze(1).eq(batch.items.unsqueeze(0));
    const torch::Tensor eye = torch::eye(b, torch::kBool);
    logits = logits.masked_fill(same.logical_and(eye.logical_not()), -1e9);
    if (batch.negatives.defined() && batch.negatives.numel() > 0) {
      // Shared uniform negatives: expected count n / n_items each.
      const int64_t n = batch.negatives.size(0);
      torch::Tensor extra = torch::matmul(u, item_vectors(batch.negatives).t()) / temperature_;
      if (logq_) extra = extra - std::log(double(n) / double(log_q_.size(0)));
      extra = extra.masked_fill(batch.items.unsqueeze(1).eq(batch.negatives.unsqueeze(0)), -1e9);
      logits = torch::cat({logits, extra}, 1);
    }
    torch::Tensor loss = torch::nn::functional::cross_entropy(logits, torch::arange(b));
    if (embedding_l2 > 0) {
      loss = loss + embedding_l2 * row_penalty({user_(batch.users.users), item_(batch.items)}, b);
    }
    return loss;
  }

 private:
  torch::Tensor all_items() const { return torch::arange(item_->weight.size(0), torch::kLong); }

  // The user tower: the user's id and the mean of their history's vectors.
  torch::Tensor user_vectors(const UserBlock& block) {
    // Sparse gradients, one row per distinct item, as the optimizer updates tables row-wise.
    const torch::Tensor history =
        embedding_bag_mean(history_->weight, block.items, block.offsets, /*sparse=*/true);
    const torch::Tensor id = user_(block.users);
    std::vector<torch::Tensor> parts = {id, history};
    if (profile_) {
      const torch::Tensor ids = user_profile_.index_select(0, block.users);
      parts.push_back(masked_mean(profile_(ids), ids));
    }
    torch::Tensor out = parts[0];
    if (user_mlp_) {
      out = user_mlp_->forward(torch::cat(parts, 1));
    } else {
      for (size_t k = 1; k < parts.size(); ++k) out = out + parts[k];
    }
    return torch::nn::functional::normalize(out,
                                            torch::nn::functional::NormalizeFuncOptions().dim(1));
  }

  torch::Tensor item_vectors(const torch::Tensor& items) {
    const torch::Tensor ids = item_genres_.index_select(0, items);
    const torch::Tensor genres = masked_mean(genre_(ids), ids);
    const torch::Tensor year = year_(item_year_.index_select(0, items));
    const torch::Tensor id = item_(items);
    torch::Tensor out =
        item_mlp_ ? item_mlp_->forward(torch::cat({id, genres, year}, 1)) : id + genres + year;
    return torch::nn::functional::normalize(out,
                                            torch::nn::functional::NormalizeFuncOptions().dim(1));
  }

  double temperature_ = 0.1;
  bool logq_ = true;
  torch::nn::Embedding user_{nullptr}, history_{nullptr}, item_{nullptr}, genre_{nullptr},
      year_{nullptr}, profile_{nullptr};
  torch::nn::Sequential user_mlp_{nullptr}, item_mlp_{nullptr};
  torch::Tensor item_genres_, item_year_, user_profile_, log_q_, frozen_;
};

// SASRec (Kang & McAuley 2018): causal self-attention over the user's latest L items; the last
// position's output scores every item by dot product with the item embeddings. Trained on each
// user's training sequence to predict every next item, with a full softmax over the catalogue
// (cross-entropy, as in Petrov & Macdonald 2023: stronger than one sampled negative).
class SasRecImpl : public RankerImpl {
 public:
  SasRecImpl(const Config& config, const RankingData& data)
      : length_(config.features.history_len), dim_(config.model.embedding_dim) {
    const auto& m = config.model;
    const int64_t n_items = data.index.n_items();
    items_ = register_parameter("items", torch::randn({n_items + 1, dim_}) * 0.05);
    positions_ = register_parameter("positions", torch::randn({length_, dim_}) * 0.05);
    for (int b = 0; b < m.blocks; ++b) {
      auto options = torch::nn::TransformerEncoderLayerOptions(dim_, m.heads)
                         .dim_feedforward(dim_)
                         .dropout(m.dropout)
                         .activation(torch::kGELU);
      layers_.push_back(register_module("block" + std::to_string(b),
                                        torch::nn::TransformerEncoderLayer(options)));
    }
    norm_ = register_module("norm", torch::nn::LayerNorm(torch::nn::LayerNormOptions({dim_})));
    dropout_ = register_module("dropout", torch::nn::Dropout(m.dropout));
  }
  bool trainable() const override { return true; }
  int64_t sequence_length() const override { return length_; }
  bool trains_on_users() const override { return true; }

  torch::Tensor score(const UserBlock& block) override {
    return torch::matmul(user_factors(block), item_factors().t());
  }
  // The last position's output of the user's latest L items.
  torch::Tensor user_factors(const UserBlock& block) override {
    return encode(block.sequence).select(1, length_ - 1);  // of [B, L, d]
  }
  torch::Tensor item_factors() override { return items_.slice(0, 1); }

  // batch.users.sequence holds L + 1 training items: inputs [0, L), next items [1, L].
  torch::Tensor loss(const RankBatch& batch, double embedding_l2) override {
    const torch::Tensor seq = batch.users.sequence;
    const torch::Tensor input = seq.slice(1, 0, length_);
    const torch::Tensor target = seq.slice(1, 1, length_ + 1) - 1;  // -1: padding
    const torch::Tensor h = encode(input);
    // Only the positions with a next item score the catalogue: with a long history most of a
    // batch is padding, and the [positions, items] logits are most of a step's work.
    const torch::Tensor flat = target.reshape({-1});
    const torch::Tensor valid = flat.ge(0).nonzero().squeeze(1);
    const torch::Tensor logits =
        torch::matmul(h.reshape({-1, h.size(2)}).index_select(0, valid), items_.slice(0, 1).t());
    torch::Tensor loss = torch::nn::functional::cross_entropy(logits, flat.index_select(0, valid));
    if (embedding_l2 > 0) loss = loss + embedding_l2 * items_.pow(2).sum() / seq.size(0);
    return loss;
  }

 private:
  torch::Tensor encode(const torch::Tensor& seq) {
    const torch::Tensor mask = seq.gt(0).unsqueeze(2).to(torch::kFloat);  // [B, L, 1]
    torch::Tensor x = torch::embedding(items_, seq) * std::sqrt(static_cast<double>(dim_));
    x = dropout_(x + positions_.unsqueeze(0)) * mask;
    const int64_t l = seq.size(1);
    // Each position sees itself and the positions before it.
    const torch::Tensor causal =
        torch::full({l, l}, -std::numeric_limits<float>::infinity()).triu(1);
    torch::Tensor h = x.transpose(0, 1);  // [L, B, d]
    for (auto& layer : layers_) h = layer->forward(h, causal) * mask.transpose(0, 1);
    return norm_(h.transpose(0, 1));
  }

  int64_t length_;
  int64_t dim_;
  torch::Tensor items_, positions_;
  std::vector<torch::nn::TransformerEncoderLayer> layers_;
  torch::nn::LayerNorm norm_{nullptr};
  torch::nn::Dropout dropout_{nullptr};
};

// A feature model of the rating task (dnn, deepfm, neumf) as a ranker: it scores (user, item)
// pairs from the user's id and pooled history (their latest features.history_len items in time
// order) and the item's id, genres and year, and learns each training interaction against
// train.negatives uniform negatives with binary cross-entropy. Full ranking runs the model on
// every (user, item) pair of a block, in chunks of about kChunkRows pairs.
class FeatureRankerImpl : public RankerImpl {
 public:
  FeatureRankerImpl(const Config& config, const RankingData& data)
      : length_(config.features.history_len) {
    // Ids shift by one: 0 is the tables' padding row.
    FeatureSpec spec;
    spec.n_users = data.index.n_users() + 1;
    spec.n_movies = data.index.n_items() + 1;
    spec.n_genres = data.n_genres + 1;
    spec.n_years = data.n_years + 1;
    spec.genre_len = static_cast<int>(data.item_genres.size(1));
    spec.history_len = static_cast<int>(length_);
    spec.use_year = config.features.use_year;
    spec.n_profile = data.n_profile + 1;
    spec.use_profile = data.n_profile > 0;
    model_ = register_module("model", make_model(config.model, spec, /*offset=*/0.0));
    item_genres_ = register_buffer("item_genres", data.item_genres.clone());
    item_year_ = register_buffer("item_year", data.item_year.clone());
    if (spec.use_profile)
      user_profile_ = register_buffer("user_profile", data.user_profile.clone());
  }
  bool trainable() const override { return true; }
  int64_t sequence_length() const override { return length_; }

  torch::Tensor score(const UserBlock& block) override {
    const int64_t b = block.users.size(0);
    const int64_t n_items = item_year_.size(0);
    const int64_t per_chunk = std::max<int64_t>(1, kChunkRows / std::max<int64_t>(n_items, 1));
    const torch::Tensor all_items = torch::arange(n_items, torch::kLong);
    const torch::Tensor history = history_of(block);
    std::vector<torch::Tensor> out;
    for (int64_t begin = 0; begin < b; begin += per_chunk) {
      const int64_t end = std::min(b, begin + per_chunk);
      const int64_t users = end - begin;
      out.push_back(model_
                        ->forward(pairs(block.users.slice(0, begin, end).repeat_interleave(n_items),
                                        all_items.repeat({users}),
                                        history.slice(0, begin, end).repeat_interleave(n_items, 0)))
                        .view({users, n_items}));
    }
    return torch::cat(out, 0);
  }

  // Row i of the batch: its positive, then train.negatives[i] items, all with the user's history
  // less the positive (batch.users.sequence).
  torch::Tensor loss(const RankBatch& batch, double embedding_l2) override {
    const int64_t b = batch.items.size(0);
    const int64_t n = batch.negatives.size(1);
    const torch::Tensor candidates = torch::cat({batch.items.unsqueeze(1), batch.negatives}, 1);
    model_->track_penalty(embedding_l2 > 0);
    const torch::Tensor logits =
        model_
            ->forward(pairs(batch.users.users.repeat_interleave(1 + n), candidates.reshape({-1}),
                            history_of(batch.users).repeat_interleave(1 + n, 0)))
            .view({b, 1 + n});
    torch::Tensor labels = torch::zeros({b, 1 + n});
    labels.select(1, 0).fill_(1.0);
    torch::Tensor loss = torch::nn::functional::binary_cross_entropy_with_logits(logits, labels);
    if (embedding_l2 > 0) loss = loss + embedding_l2 * model_->take_penalty();
    model_->track_penalty(false);
    return loss;
  }

 private:
  static constexpr int64_t kChunkRows = 1 << 16;

  // The block's padded histories; with features.history_len 0, none.
  static torch::Tensor history_of(const UserBlock& block) {
    return block.sequence.defined() ? block.sequence
                                    : torch::zeros({block.users.size(0), 0}, torch::kLong);
  }

  // The model's batch for pairs of user and item indices; `history` holds item index + 1 (0 is
  // padding), as UserBlock::sequence.
  Batch pairs(const torch::Tensor& users, const torch::Tensor& items,
              const torch::Tensor& history) const {
    Batch batch;
    batch.user = users + 1;
    batch.movie = items + 1;
    batch.genres = item_genres_.index_select(0, items);
    batch.year = item_year_.index_select(0, items);
    batch.tags = torch::zeros({items.size(0), 0}, torch::kLong);
    batch.history = history;
    if (user_profile_.defined()) batch.column("profile") = user_profile_.index_select(0, users);
    batch.target = torch::zeros({items.size(0)});
    return batch;
  }

  int64_t length_;
  RecModel model_{nullptr};
  torch::Tensor item_genres_, item_year_, user_profile_;
};

Ranker make_feature_ranker(const Config& config, const RankingData& data) {
  return std::make_shared<FeatureRankerImpl>(config, data);
}

// The constructors of the models ranker_names() lists (ranker_names.cc, with their losses).
struct RankerEntry {
  const char* name;
  Ranker (*make)(const Config& config, const RankingData& data);
};

// clang-format off
const std::vector<RankerEntry>& ranker_table() {
  static const std::vector<RankerEntry> table = {
      {"pop", [](const Config&, const RankingData& d) -> Ranker {
         return std::make_shared<PopImpl>(d.index.n_items()); }},
      {"itemknn", [](const Config& c, const RankingData& d) -> Ranker {
         const int64_t k = c.model.neighbours;
         return std::make_shared<ItemItemImpl>(d.index.n_items(), [k](const RankingData& data) {
           return itemknn_weights(data.index, k); }, c.model, c.features.history_len); }},
      {"ease", [](const Config& c, const RankingData& d) -> Ranker {
         const double lambda = c.model.ease_lambda, tau = c.model.ease_tau;
         return std::make_shared<ItemItemImpl>(d.index.n_items(), [lambda, tau](const RankingData& data) {
           if (tau <= 0) return ease_weights(data.index, lambda);
           check_ease_memory(data.index.n_items(), int64_t{8} << 30);
           return ease_from_gram(time_kernel_gram(data, tau), lambda); },
           c.model, c.features.history_len); }},
      {"bpr", [](const Config& c, const RankingData& d) -> Ranker {
         return std::make_shared<BprImpl>(d.index.n_users(), d.index.n_items(),
                                          c.model.embedding_dim); }},
      {"two-tower", [](const Config& c, const RankingData& d) -> Ranker {
         return std::make_shared<TwoTowerImpl>(c, d); }},
      {"sasrec", [](const Config& c, const RankingData& d) -> Ranker {
         return std::make_shared<SasRecImpl>(c, d); }},
      {"dnn", make_feature_ranker},
      {"deepfm", make_feature_ranker},
      {"neumf", make_feature_ranker},
  };
  return table;
}
// clang-format on

// A rank blend: every member ranks the items a user's list may hold (all but excluded_items
// for the block's part), and an item scores -sum_m w_m ln(1 + rank_m). Ranks, not scores, so
// members whose scores live on different scales (EASE's regression, SASRec's logits) combine
// without calibration; the log puts the weight on the heads of the lists.
class BlendImpl : public RankerImpl {
 public:
  BlendImpl(std::vector<Ranker> members, std::vector<double> weights, const RankingData& data)
      : members_(std::move(members)), weights_(std::move(weights)), index_(data.index) {
    for (size_t i = 0; i < members_.size(); ++i) {
      register_module("member" + std::to_string(i), members_[i]);
      length_ = std::max(length_, members_[i]->sequence_length());
    }
  }
  int64_t sequence_length() const override { return length_; }
  void freeze_items(bool on) override {
    for (auto& m : members_) m->freeze_items(on);
  }
  torch::Tensor score(const UserBlock& block) override {
    const int64_t b = block.users.size(0), n = index_.n_items();
    torch::Tensor excluded = torch::zeros({b, n}, torch::kBool);
    const int64_t* users = block.users.data_ptr<int64_t>();
    bool* mask = excluded.data_ptr<bool>();
    for (int64_t j = 0; j < b; ++j) {
      for (int64_t item : excluded_items(index_, users[j], block.part)) mask[j * n + item] = true;
    }
    torch::Tensor fused = torch::zeros({b, n}, torch::kFloat);
    for (size_t m = 0; m < members_.size(); ++m) {
      if (weights_[m] == 0) continue;
      UserBlock own = block;  // the member reads the latest items of the history it takes
      const int64_t length = members_[m]->sequence_length();
      own.sequence = length > 0 ? block.sequence.slice(1, length_ - length) : torch::Tensor();
      const torch::Tensor ranks = competition_ranks(members_[m]->score(own), excluded);
      fused.sub_(torch::log1p(ranks.to(torch::kFloat)), weights_[m]);
    }
    return fused;
  }
  const std::vector<Ranker>& members() const { return members_; }

 private:
  std::vector<Ranker> members_;
  std::vector<double> weights_;
  InteractionIndex index_;  // each user's excluded items
  int64_t length_ = 0;
};

}  // namespace

torch::Tensor competition_ranks(const torch::Tensor& scores, const torch::Tensor& excluded) {
  const torch::Tensor allowed =
      scores.to(torch::kFloat).masked_fill(excluded, -std::numeric_limits<float>::infinity());
  // Ascending negated scores: searchsorted(left) counts the allowed items strictly above.
  const torch::Tensor ascending = std::get<0>(torch::sort(-allowed, /*dim=*/1));
  torch::Tensor ranks = torch::searchsorted(ascending.contiguous(), (-allowed).contiguous());
  const torch::Tensor last = (~excluded).sum(1, /*keepdim=*/true).expand_as(ranks);
  return torch::where(excluded, last, ranks);
}

std::vector<Ranker> blend_members(RankerImpl& blend) {
  auto* b = dynamic_cast<BlendImpl*>(&blend);
  if (b == nullptr) throw Error("blend_members: the model is not a blend");
  return b->members();
}

Ranker make_ranker(const Config& config, const RankingData& data,
                   const std::vector<Config>& members) {
  if (config.model.name == "blend") {
    if (members.size() != config.model.members.size() || members.size() < 2) {
      throw ConfigError("model blend: " + std::to_string(config.model.members.size()) +
                        " members named, " + std::to_string(members.size()) +
                        " member configs given (a blend needs two or more)");
    }
    std::vector<Ranker> built;
    for (const Config& m : members) {
      if (m.model.name == "blend") throw ConfigError("model blend: a member cannot be a blend");
      built.push_back(make_ranker(m, data));
    }
    return std::make_shared<BlendImpl>(std::move(built), blend_weights(config.model), data);
  }
  const auto& names = ranker_names();
  const bool listed = std::find(names.begin(), names.end(), config.model.name) != names.end();
  for (const auto& e : ranker_table()) {
    if (listed && config.model.name == e.name) return e.make(config, data);
  }
  const std::string near = nearest(config.model.name, ranker_names());
  throw ConfigError("model.name: unknown ranking model '" + config.model.name + "'" +
                    (near.empty() ? "" : "; did you mean '" + near + "'?"));
}

}  // namespace dnnrec
