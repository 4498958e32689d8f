// dnnrec export: a checkpoint as a TorchScript module built in C++ (torch::jit::Module, its
// forward written with define(), no Python) in Triton's model-repository layout, or as user and
// item vectors (.npy, id maps as TSV) for nearest-neighbour search.
//
// The module takes raw ids. What a model reads besides its weights (the user's history and
// description, the movie's genres, tags and year; a ranking model's user side and the items each
// user has already seen) is computed at export by the code evaluate, predict and recommend run,
// and stored as tables keyed by raw id, so the module scores as dnnrec serves.
#include <spdlog/spdlog.h>
#include <torch/script.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <numeric>
#include <set>

#include "base/runtime.h"
#include "data/batch.h"
#include "dnnrec/error.h"
#include "dnnrec/pipeline.h"
#include "models/feature_embeddings.h"
#include "run/inference.h"
#include "run/ranking_run.h"
#include "run/run_common.h"

namespace fs = std::filesystem;
using json = nlohmann::ordered_json;

namespace dnnrec {
namespace {

// A double as TorchScript source that reads back to the same value.
std::string literal(double value) {
  char buffer[40];
  std::snprintf(buffer, sizeof(buffer), "%.17g", value);
  std::string text = buffer;
  if (text.find_first_of(".en") == std::string::npos) text += ".0";
  return text;
}

// A tensor name as a TorchScript attribute: dots and dashes become underscores.
std::string attribute_name(const std::string& name) {
  std::string out = name;
  for (char& c : out) {
    if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
  }
  return out;
}

// The module under construction: its tensors and its TorchScript source.
class Script {
 public:
  explicit Script(const std::string& name) : module_("dnnrec_" + attribute_name(name)) {}

  /// A trained tensor, registered as a parameter; returns its expression ("self.name").
  std::string parameter(const std::string& name, const torch::Tensor& t) {
    return add(name, t, /*buffer=*/false);
  }
  /// A lookup table, registered as a buffer.
  std::string buffer(const std::string& name, const torch::Tensor& t) {
    return add(name, t, /*buffer=*/true);
  }
  /// A line of source at `indent` levels (4 spaces each).
  void line(int indent, const std::string& text) {
    source_ += std::string(static_cast<size_t>(4 * indent), ' ') + text + "\n";
  }
  torch::jit::Module finish() {
    try {
      module_.define(source_);
    } catch (const c10::Error& e) {
      throw Error(std::string("export: the generated TorchScript does not compile: ") +
                  e.what_without_backtrace());
    }
    module_.eval();
    return module_;
  }

 private:
  std::string add(const std::string& name, const torch::Tensor& t, bool buffer) {
    const std::string attr = attribute_name(name);
    if (!added_.insert(attr).second) return "self." + attr;
    torch::Tensor copy = t.detach().clone().to(torch::kCPU);
    module_.register_parameter(attr, copy, buffer);
    return "self." + attr;
  }

  torch::jit::Module module_;
  std::string source_;
  std::set<std::string> added_;
};

// The helpers every module has: raw ids to table rows, and the pooled mean of a padded id
// sequence, summed position by position as dnnrec's embedding_mean kernel sums (the same floats).
void emit_helpers(Script& s) {
  s.line(0, "def _rows(self, keys: Tensor, ids: Tensor) -> Tensor:");
  s.line(1, "# 1 + the position of each id in the sorted keys; 0 for an id not among them");
  s.line(1, "pos = torch.searchsorted(keys, ids).clamp(0, keys.size(0) - 1)");
  s.line(1, "return torch.where(keys.index_select(0, pos) == ids, pos + 1, torch.zeros_like(pos))");
  s.line(0, "def _pooled(self, w: Tensor, ids: Tensor) -> Tensor:");
  s.line(1, "out = torch.zeros([ids.size(0), w.size(1)], dtype=w.dtype)");
  s.line(1, "for l in range(ids.size(1)):");
  s.line(2, "out = out + w.index_select(0, ids.select(1, l))");
  s.line(1, "n = ids.ne(0).sum(1, keepdim=True).clamp_min(1).to(w.dtype)");
  s.line(1, "return out / n");
}

using Named = std::map<std::string, torch::Tensor>;

Named named_tensors(torch::nn::Module& model) {
  Named out;
  for (const auto& p : model.named_parameters(/*recurse=*/true)) out[p.key()] = p.value();
  for (const auto& b : model.named_buffers(/*recurse=*/true)) out[b.key()] = b.value();
  return out;
}

std::shared_ptr<torch::nn::Module> submodule(torch::nn::Module& model, const std::string& path) {
  for (const auto& m : model.named_modules("", /*include_self=*/false)) {
    if (m.key() == path) return m.value();
  }
  return nullptr;
}

// Emits the statements of a feature model of the rating task's registry (global-mean, bias, mf,
// dnn, wide-deep, deepfm, neumf) over the local tensors user, movie, year, genres, tags, history
// and profile (its batch columns, at indent 1), ending with `out`, the model's raw output, as its
// forward computes it operation by operation. `prefix` is the model's path in `root`.
class FeatureModelEmitter {
 public:
  FeatureModelEmitter(Script& s, torch::nn::Module& root, const std::string& prefix,
                      const ModelConfig& config)
      : s_(s), root_(root), named_(named_tensors(root)), prefix_(prefix), config_(config) {}

  void emit() {
    const std::string& name = config_.name;
    if (name == "global-mean") {
      line("out = " + p("bias") + ".expand([user.size(0)])");
    } else if (name == "bias") {
      line("out = " + biases() + " + " + p("offset"));
    } else if (name == "mf") {
      line("out = (" + lookup("user.weight", "user") + " * " + lookup("movie.weight", "movie") +
           ").sum(1) + " + biases() + " + " + p("offset"));
    } else if (name == "dnn") {
      const auto fields = emit_fields("embeddings");
      line("x = torch.cat([" + join(fields) + "], 1)");
      emit_tower("tower", "x", "t");
      line("out = t.squeeze(1) + " + p("offset"));
      if (has("bias.user.weight")) line("out = out + " + biases());
      if (config_.implicit) {
        line(
            "out = out + (f_embeddings_movie * (f_embeddings_user + f_embeddings_history)).sum(1)");
      }
    } else if (name == "wide-deep" || name == "deepfm") {
      const bool fm = name == "deepfm";
      const auto wide = emit_fields(fm ? "first_order" : "wide");
      line("out = torch.cat([" + join(wide) + "], 1).sum(1)");
      const auto deep = emit_fields(fm ? "embeddings" : "deep");
      if (fm) {
        line("stacked = torch.stack([" + join(deep) + "], 1)");
        line("out = out + 0.5 * (stacked.sum(1).pow(2) - stacked.pow(2).sum(1)).sum(1)");
      }
      line("x = torch.cat([" + join(deep) + "], 1)");
      emit_tower("tower", "x", "t");
      line("out = out + t.squeeze(1) + " + p("offset"));
      if (has("bias.user.weight")) line("out = out + " + biases());
    } else if (name == "neumf") {
      line("gmf = " + lookup("gmf_user.weight", "user") + " * " +
           lookup("gmf_movie.weight", "movie"));
      const auto fields = emit_fields("embeddings");
      line("x = torch.cat([" + join(fields) + "], 1)");
      emit_tower("mlp", "x", "mlp");
      line("out = torch.addmm(" + p("fuse.bias") + ", torch.cat([gmf, mlp], 1), " +
           p("fuse.weight") + ".t()).squeeze(1) + " + p("offset"));
    } else {
      throw ConfigError("export: model '" + name + "' has no TorchScript form");
    }
  }

 private:
  void line(const std::string& text) { s_.line(1, text); }
  bool has(const std::string& key) const { return named_.count(prefix_ + key) > 0; }
  std::string p(const std::string& key) {
    const auto it = named_.find(prefix_ + key);
    if (it == named_.end()) {
      throw Error("export: " + config_.name + " has no tensor '" + prefix_ + key + "'");
    }
    return s_.parameter(prefix_ + key, it->second);
  }
  std::string lookup(const std::string& key, const std::string& column) {
    return p(key) + ".index_select(0, " + column + ")";
  }
  // BiasTerms: (b_user + b_movie).squeeze(1).
  std::string biases() {
    return "(" + lookup("bias.user.weight", "user") + " + " + lookup("bias.movie.weight", "movie") +
           ").squeeze(1)";
  }
  static std::string join(const std::vector<std::string>& parts) {
    std::string out;
    for (const auto& part : parts) out += (out.empty() ? "" : ", ") + part;
    return out;
  }
  // The field vectors of the FeatureEmbeddings at `owner`, in feature_fields() order.
  std::vector<std::string> emit_fields(const std::string& owner) {
    std::vector<std::string> vars;
    for (const FeatureField& field : feature_fields()) {
      const std::string key = owner + "." + field.name + ".weight";
      if (!has(key)) continue;
      const std::string var = "f_" + attribute_name(owner) + "_" + field.name;
      line(var + " = " +
           (field.kind == FieldKind::kId ? lookup(key, field.column)
                                         : "self._pooled(" + p(key) + ", " + field.column + ")"));
      vars.push_back(var);
    }
    if (vars.empty()) throw Error("export: " + config_.name + " has no field tables at " + owner);
    return vars;
  }
  // The MLP tower at `path` (make_tower's layers) applied to `in`, into `out`.
  void emit_tower(const std::string& path, const std::string& in, const std::string& out) {
    auto tower =
        std::dynamic_pointer_cast<torch::nn::SequentialImpl>(submodule(root_, prefix_ + path));
    if (!tower) throw Error("export: " + config_.name + " has no tower '" + path + "'");
    line(out + " = " + in);
    for (const auto& child : tower->named_children()) {
      const std::string key = path + "." + child.key() + ".";
      torch::nn::Module* m = child.value().get();
      if (auto* linear = dynamic_cast<torch::nn::LinearImpl*>(m)) {
        line(out + " = " +
             (linear->bias.defined() ? "torch.addmm(" + p(key + "bias") + ", " + out + ", " +
                                           p(key + "weight") + ".t())"
                                     : "torch.mm(" + out + ", " + p(key + "weight") + ".t())"));
      } else if (auto* bn = dynamic_cast<torch::nn::BatchNorm1dImpl*>(m)) {
        line(out + " = torch.batch_norm(" + out + ", " + p(key + "weight") + ", " +
             p(key + "bias") + ", " + p(key + "running_mean") + ", " + p(key + "running_var") +
             ", False, 0.0, " + literal(bn->options.eps()) + ", False)");
      } else if (dynamic_cast<torch::nn::ReLUImpl*>(m)) {
        line(out + " = torch.relu(" + out + ")");
      } else if (dynamic_cast<torch::nn::GELUImpl*>(m)) {
        line(out + " = torch.gelu(" + out + ")");
      } else if (dynamic_cast<torch::nn::TanhImpl*>(m)) {
        line(out + " = torch.tanh(" + out + ")");
      } else if (dynamic_cast<torch::nn::SigmoidImpl*>(m)) {
        line(out + " = torch.sigmoid(" + out + ")");
      } else if (auto* leaky = dynamic_cast<torch::nn::LeakyReLUImpl*>(m)) {
        line(out + " = torch.leaky_relu(" + out + ", " + literal(leaky->options.negative_slope()) +
             ")");
      } else if (dynamic_cast<FastDropoutImpl*>(m) || dynamic_cast<torch::nn::DropoutImpl*>(m)) {
        // identity at inference
      } else {
        throw Error("export: " + config_.name + ": layer " + path + "." + child.key() +
                    " has no TorchScript form");
      }
    }
  }

  Script& s_;
  torch::nn::Module& root_;
  Named named_;
  std::string prefix_;
  const ModelConfig& config_;
};

// Sorted raw ids with the row each has in tables built in that order (row 0: an unknown id).
std::vector<int64_t> sorted_unique(std::vector<int64_t> ids) {
  std::sort(ids.begin(), ids.end());
  ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
  return ids;
}

torch::Tensor long_tensor(const std::vector<int64_t>& values) {
  return torch::tensor(values, torch::kLong);
}

// The batch columns transform_pairs gives (raw user, raw movie) pairs, assembled as the
// trainer's batches are.
Batch pair_columns(Restored& r, const std::vector<int64_t>& users,
                   const std::vector<int64_t>& movies) {
  const Config& c = r.ckpt.config;
  TensorData data(r.features->transform_pairs(r.data, users, movies), c.train.task,
                  c.train.like_threshold, torch::kCPU);
  return data.slice(0, data.size());
}

// Lists as one flat buffer and where each begins: list r is flat[begin[r], begin[r + 1]).
struct Flat {
  std::vector<int64_t> flat, begin = {0};
  void add(const std::vector<int64_t>& list) {
    flat.insert(flat.end(), list.begin(), list.end());
    begin.push_back(static_cast<int64_t>(flat.size()));
  }
};

constexpr int64_t kUnknownId = -1;  // no raw id is negative: the row every unknown id reads

// A rating or binary model: forward(user_ids, movie_ids) -> predict's predictions.
torch::jit::Module rating_module(Restored& r, const std::string& name) {
  const Config& c = r.ckpt.config;
  Script s(name);
  // Every id the data or the vocabularies know; any other reads row 0, transform_pairs'
  // encoding of an id it has never seen.
  std::vector<int64_t> users = r.ckpt.vocabs.users.keys();
  for (int64_t u : r.data.ratings.user) users.push_back(u);
  for (const auto& info : r.data.users) users.push_back(info.id);
  std::vector<int64_t> movies = r.ckpt.vocabs.movies.keys();
  for (const Movie& m : r.data.movies) movies.push_back(m.id);
  users = sorted_unique(std::move(users));
  movies = sorted_unique(std::move(movies));
  std::vector<int64_t> user_rows = {kUnknownId}, movie_rows = {kUnknownId};
  user_rows.insert(user_rows.end(), users.begin(), users.end());
  movie_rows.insert(movie_rows.end(), movies.begin(), movies.end());
  const Batch by_user =
      pair_columns(r, user_rows, std::vector<int64_t>(user_rows.size(), kUnknownId));
  const Batch by_movie =
      pair_columns(r, std::vector<int64_t>(movie_rows.size(), kUnknownId), movie_rows);
  const std::string user_keys = s.buffer("user_keys", long_tensor(users));
  const std::string movie_keys = s.buffer("movie_keys", long_tensor(movies));
  emit_helpers(s);
  s.line(0, "def raw(self, user_ids: Tensor, movie_ids: Tensor) -> Tensor:");
  s.line(1, "u = self._rows(" + user_keys + ", user_ids)");
  s.line(1, "m = self._rows(" + movie_keys + ", movie_ids)");
  // The batch columns: user, history and profile follow the user; the others the movie.
  for (const BatchColumn& column : batch_columns()) {
    const std::string col = column.name;
    const bool of_user = col == "user" || col == "history" || col == "profile";
    const Batch& source = of_user ? by_user : by_movie;
    const std::string table = s.buffer("col_" + col, source.column(col));
    s.line(1, col + " = " + table + ".index_select(0, " + (of_user ? "u" : "m") + ")");
  }
  RecModel model = r.trainer->model();
  model->eval();
  FeatureModelEmitter(s, *model, "", c.model).emit();
  s.line(1, "return out");
  // recommend: as recommend_one, every movie of the catalogue the user has not rated, ranked by
  // the raw output (ties to the lower id); the movies each user rated, by user table row.
  std::vector<int64_t> catalogue;
  for (const Movie& m : r.data.movies) catalogue.push_back(m.id);
  std::vector<std::vector<int64_t>> rated(users.size() + 1);
  for (size_t i = 0; i < r.data.ratings.size(); ++i) {
    const auto at = std::lower_bound(users.begin(), users.end(), r.data.ratings.user[i]);
    rated[static_cast<size_t>(at - users.begin()) + 1].push_back(r.data.ratings.movie[i]);
  }
  Flat rated_flat;
  for (const auto& list : rated) rated_flat.add(list);
  s.buffer("catalogue", long_tensor(sorted_unique(catalogue)));
  s.buffer("rated_movies", long_tensor(rated_flat.flat));
  s.buffer("rated_begin", long_tensor(rated_flat.begin));
  s.line(0, "def recommend(self, user_id: int, k: int) -> Tuple[Tensor, Tensor]:");
  s.line(1, "u = int(self._rows(" + user_keys + ", torch.tensor([user_id]))[0])");
  s.line(1, "a = int(self.rated_begin[u])");
  s.line(1, "b = int(self.rated_begin[u + 1])");
  s.line(1, "assert b > a, 'dnnrec: user ' + str(user_id) + ' has no ratings in the data'");
  s.line(1,
         "candidates = self.catalogue[torch.isin(self.catalogue, "
         "self.rated_movies[a:b]).logical_not()]");
  s.line(1, "scores = self.raw(torch.full_like(candidates, user_id), candidates)");
  s.line(1,
         "key = torch.where(torch.isnan(scores), torch.full_like(scores, float('-inf')), scores)");
  s.line(1, "top = torch.sort(key, dim=0, descending=True, stable=True)[1][:k]");
  s.line(1, "return candidates.index_select(0, top), scores.index_select(0, top)");
  s.line(0, "def forward(self, user_ids: Tensor, movie_ids: Tensor) -> Tensor:");
  s.line(1, "out = self.raw(user_ids, movie_ids)");
  if (c.train.task == "binary") {
    s.line(1, "return torch.sigmoid(out)");
  } else {
    s.line(1, "return out.clamp(" + literal(c.data.min_rating) + ", " + literal(c.data.max_rating) +
                  ")");
  }
  return s.finish();
}

// Ids in ascending order, as the module's tables are laid out: keys[p] = ids[order[p]], and
// index = {0, order...}: table row p + 1 belongs to ids[order[p]], row 0 to an unknown id.
struct SortedKeys {
  std::vector<int64_t> keys, order, index;
};

SortedKeys sorted_keys(const std::vector<int64_t>& ids) {
  SortedKeys out;
  out.order.resize(ids.size());
  std::iota(out.order.begin(), out.order.end(), 0);
  std::sort(out.order.begin(), out.order.end(), [&](int64_t a, int64_t b) {
    return ids[static_cast<size_t>(a)] < ids[static_cast<size_t>(b)];
  });
  out.index = {0};
  for (int64_t i : out.order) {
    out.keys.push_back(ids[static_cast<size_t>(i)]);
    out.index.push_back(i);
  }
  return out;
}

// The kind of a ranking model's exported scorer.
std::string ranking_kind(const std::string& model) {
  if (model == "pop") return "pop";
  if (model == "itemknn" || model == "ease") return "item-item";
  if (model == "bpr" || model == "two-tower" || model == "sasrec") return "dot";
  if (model == "dnn" || model == "deepfm" || model == "neumf") return "features";
  if (model == "blend") {
    throw ConfigError(
        "export: a blend has no TorchScript form yet (its members' ranks are fused per user); "
        "serve it with dnnrec recommend or the C++ library (dnnrec/model.h), or export its "
        "members");
  }
  throw ConfigError("export: ranking model '" + model + "' has no TorchScript form");
}

// The ranking users' serve blocks, `block` users at a time: fn(first user, block).
template <class Fn>
void for_user_blocks(RestoredRanking& r, int64_t length, Fn fn) {
  const int64_t n = r.ranking.index.n_users();
  const int64_t step = std::max<int64_t>(1, user_block_size(r.ranking.index.n_items()));
  for (int64_t begin = 0; begin < n; begin += step) {
    std::vector<int64_t> users;
    for (int64_t u = begin; u < std::min(n, begin + step); ++u) users.push_back(u);
    fn(begin, user_block(r.ranking, users, "serve", length));
  }
}

// A ranking model: forward(user_ids, movie_ids) -> the scores recommend ranks by (NaN where the
// user or the item is not the model's); recommend(user_id, k) -> recommend's list (ids, scores).
torch::jit::Module ranking_module(RestoredRanking& r, const std::string& name) {
  const Config& c = r.ckpt.config;
  const std::string kind = ranking_kind(c.model.name);
  const InteractionIndex& index = r.ranking.index;
  torch::NoGradGuard no_grad;
  r.model->eval();
  r.model->freeze_items(true);
  Script s(name);
  const int64_t n_users = index.n_users();
  // Tables in sorted raw-id order (row 1 + position; row 0 for an unknown id).
  const SortedKeys users = sorted_keys(index.users), items = sorted_keys(index.items);
  const std::vector<int64_t>& order = users.order;
  // What recommend leaves out for each user (in table-row order).
  Flat excluded;
  excluded.add({});  // row 0: an unknown user
  for (int64_t u : order) excluded.add(excluded_items(index, u, "serve"));
  const std::string keys_u = s.buffer("user_keys", long_tensor(users.keys));
  const std::string keys_i = s.buffer("item_keys", long_tensor(items.keys));
  const std::string row_u = s.buffer("user_index", long_tensor(users.index));
  const std::string row_i = s.buffer("item_index", long_tensor(items.index));
  const std::string item_ids = s.buffer("item_ids", long_tensor(index.items));
  const std::string ex = s.buffer("excluded", long_tensor(excluded.flat));
  const std::string ex_begin = s.buffer("excluded_begin", long_tensor(excluded.begin));
  // Row r of a per-user table below belongs to user index user_index[r]; `order` maps.
  std::vector<int64_t> row_of(static_cast<size_t>(n_users));
  for (size_t k = 0; k < order.size(); ++k) {
    row_of[static_cast<size_t>(order[k])] = static_cast<int64_t>(k) + 1;
  }
  const auto row = [&](int64_t user) { return row_of[static_cast<size_t>(user)]; };
  emit_helpers(s);

  if (kind == "pop") {
    s.parameter("counts", named_tensors(*r.model).at("counts"));
    s.line(0, "def _score_users(self, u: Tensor) -> Tensor:");
    s.line(1, "return self.counts.unsqueeze(0).expand([u.size(0), -1])");
  } else if (kind == "item-item") {
    // Each user's row (their items, weighted), stored sparse: its nonzero entries.
    std::vector<torch::Tensor> entries(static_cast<size_t>(n_users)),
        values(static_cast<size_t>(n_users));
    for_user_blocks(r, r.model->sequence_length(), [&](int64_t begin, const UserBlock& block) {
      const torch::Tensor rows = r.model->user_factors(block).contiguous();
      for (int64_t j = 0; j < rows.size(0); ++j) {
        const torch::Tensor nz = rows[j].nonzero().squeeze(1);
        entries[static_cast<size_t>(begin + j)] = nz;
        values[static_cast<size_t>(begin + j)] = rows[j].index_select(0, nz);
      }
    });
    std::vector<torch::Tensor> flat_items, flat_values;
    std::vector<int64_t> begin = {0, 0};
    for (int64_t u : order) {
      flat_items.push_back(entries[static_cast<size_t>(u)]);
      flat_values.push_back(values[static_cast<size_t>(u)]);
      begin.push_back(begin.back() + entries[static_cast<size_t>(u)].size(0));
    }
    s.buffer("row_items", torch::cat(flat_items));
    s.buffer("row_values", torch::cat(flat_values));
    s.buffer("row_begin", long_tensor(begin));
    s.parameter("weights", r.model->item_factors());
    s.line(0, "def _score_users(self, u: Tensor) -> Tensor:");
    s.line(1, "rows = torch.zeros([u.size(0), self.weights.size(0)], dtype=self.weights.dtype)");
    s.line(1, "for j in range(u.size(0)):");
    s.line(2, "a = int(self.row_begin[u[j]])");
    s.line(2, "b = int(self.row_begin[u[j] + 1])");
    s.line(2, "rows.select(0, j).index_copy_(0, self.row_items[a:b], self.row_values[a:b])");
    s.line(1, "return torch.matmul(rows, self.weights)");
  } else if (kind == "dot") {
    torch::Tensor vectors;
    for_user_blocks(r, r.model->sequence_length(), [&](int64_t begin, const UserBlock& block) {
      const torch::Tensor v = r.model->user_factors(block).contiguous();
      if (!vectors.defined()) vectors = torch::zeros({n_users + 1, v.size(1)}, v.options());
      for (int64_t j = 0; j < v.size(0); ++j) vectors[row(begin + j)].copy_(v[j]);
    });
    s.parameter("user_vectors", vectors);
    s.parameter("item_vectors", r.model->item_factors());
    const torch::Tensor bias = r.model->item_bias();
    s.line(0, "def _score_users(self, u: Tensor) -> Tensor:");
    s.line(1, "v = self.user_vectors.index_select(0, u)");
    if (bias.defined()) {
      s.parameter("item_bias", bias);
      s.line(1, "return torch.addmm(self.item_bias.t(), v, self.item_vectors.t())");
    } else {
      s.line(1, "return torch.matmul(v, self.item_vectors.t())");
    }
  } else {  // features: the inner feature model over (user, item) pairs
    const Named named = named_tensors(*r.model);
    const int64_t length = r.model->sequence_length();
    torch::Tensor sequences = torch::zeros({n_users + 1, length}, torch::kLong);
    for_user_blocks(r, length, [&](int64_t begin, const UserBlock& block) {
      for (int64_t j = 0; j < block.users.size(0); ++j) {
        if (length > 0) sequences[row(begin + j)].copy_(block.sequence[j]);
      }
    });
    s.buffer("user_history", sequences);
    s.buffer("item_genres", named.at("item_genres"));
    s.buffer("item_year", named.at("item_year"));
    const bool profile = named.count("user_profile") > 0;
    if (profile) {
      torch::Tensor p = named.at("user_profile");
      torch::Tensor rows = torch::zeros({n_users + 1, p.size(1)}, torch::kLong);
      for (int64_t u = 0; u < n_users; ++u) rows[row(u)].copy_(p[u]);
      s.buffer("user_profile", rows);
    }
    // Pairs of table rows (users) and item indices.
    s.line(0, "def _score_pairs(self, u: Tensor, i: Tensor) -> Tensor:");
    s.line(1, "user = " + row_u + ".index_select(0, u) + 1");
    s.line(1, "movie = i + 1");
    s.line(1, "genres = self.item_genres.index_select(0, i)");
    s.line(1, "year = self.item_year.index_select(0, i)");
    s.line(1, "tags = i.new_zeros([i.size(0), 0])");
    s.line(1, "history = self.user_history.index_select(0, u)");
    s.line(1, profile ? "profile = self.user_profile.index_select(0, u)"
                      : "profile = i.new_zeros([i.size(0), 0])");
    FeatureModelEmitter(s, *r.model, "model.", c.model).emit();
    s.line(1, "return out");
    s.line(0, "def _score_users(self, u: Tensor) -> Tensor:");
    s.line(1, "n = self.item_genres.size(0)");
    s.line(1, "i = torch.arange(n).repeat([u.size(0)])");
    s.line(1, "return self._score_pairs(u.repeat_interleave(n), i).view([u.size(0), n])");
  }

  s.line(0, "def forward(self, user_ids: Tensor, movie_ids: Tensor) -> Tensor:");
  s.line(1, "u = self._rows(" + keys_u + ", user_ids)");
  s.line(1, "m = self._rows(" + keys_i + ", movie_ids)");
  s.line(1, "i = " + row_i + ".index_select(0, m)");
  s.line(1, "known = (u > 0) & (m > 0)");
  if (kind == "features") {
    s.line(1, "scores = self._score_pairs(u, i)");
  } else {
    s.line(1, "users, inverse, counts = torch._unique2(u, True, True, False)");
    s.line(1, "scores = self._score_users(users)[inverse, i]");
  }
  s.line(1, "return torch.where(known, scores, torch.full_like(scores, float('nan')))");

  s.line(0, "def recommend(self, user_id: int, k: int) -> Tuple[Tensor, Tensor]:");
  s.line(1, "u = self._rows(" + keys_u + ", torch.tensor([user_id]))");
  s.line(1,
         "assert int(u[0]) != 0, 'dnnrec: user ' + str(user_id) + ' has no training "
         "interactions in this model'");
  s.line(1, "scores = self._score_users(u)[0]");
  s.line(1, "a = int(" + ex_begin + "[u[0]])");
  s.line(1, "b = int(" + ex_begin + "[u[0] + 1])");
  s.line(1, "keep = torch.ones_like(scores).ne(0).index_fill_(0, " + ex + "[a:b], 0)");
  s.line(1, "candidates = keep.nonzero().squeeze(1)");
  s.line(1, "picked = scores.index_select(0, candidates)");
  s.line(1, "# best first, NaN last, ties to the lower item index (as dnnrec's top_k)");
  s.line(1,
         "key = torch.where(torch.isnan(picked), torch.full_like(picked, float('-inf')), picked)");
  s.line(1, "top = torch.sort(key, dim=0, descending=True, stable=True)[1][:k]");
  s.line(1, "items = candidates.index_select(0, top)");
  s.line(1, "return " + item_ids + ".index_select(0, items), scores.index_select(0, items)");
  r.model->freeze_items(false);
  return s.finish();
}

// Triton's config.pbtxt for the pytorch_libtorch backend.
std::string triton_config(const std::string& name, const std::string& output) {
  return "name: \"" + name +
         "\"\n"
         "platform: \"pytorch_libtorch\"\n"
         "max_batch_size: 0\n"
         "input [\n"
         "  { name: \"user_ids__0\" data_type: TYPE_INT64 dims: [ -1 ] },\n"
         "  { name: \"movie_ids__1\" data_type: TYPE_INT64 dims: [ -1 ] }\n"
         "]\n"
         "output [\n"
         "  { name: \"" +
         output +
         "__0\" data_type: TYPE_FP32 dims: [ -1 ] }\n"
         "]\n";
}

// A float32 matrix as a .npy file (format 1.0).
std::string npy(const torch::Tensor& matrix) {
  const torch::Tensor m = matrix.detach().to(torch::kCPU, torch::kFloat).contiguous();
  std::string header = "{'descr': '<f4', 'fortran_order': False, 'shape': (" +
                       std::to_string(m.size(0)) + ", " + std::to_string(m.size(1)) + "), }";
  const size_t unpadded = 10 + header.size() + 1;
  header += std::string((64 - unpadded % 64) % 64, ' ') + "\n";
  std::string out = "\x93NUMPY";
  out += '\x01';
  out += '\x00';
  const auto len = static_cast<uint16_t>(header.size());
  out += static_cast<char>(len & 0xff);
  out += static_cast<char>(len >> 8);
  out += header;
  out.append(reinterpret_cast<const char*>(m.data_ptr<float>()),
             static_cast<size_t>(m.numel()) * sizeof(float));
  return out;
}

// An id map: row, then the id as the data writes it (and a title for items).
std::string id_map(const MovieLens& data, const std::vector<int64_t>& ids, bool items) {
  std::string text = items ? "row\tmovieId\ttitle\n" : "row\tuserId\n";
  for (size_t row = 0; row < ids.size(); ++row) {
    text += std::to_string(row) + "\t" + data.name_of(ids[row]);
    if (items) {
      const Movie* movie = data.find_movie(ids[row]);
      std::string title = movie ? movie->title : "";
      std::replace(title.begin(), title.end(), '\t', ' ');
      text += "\t" + title;
    }
    text += "\n";
  }
  return text;
}

struct Vectors {
  torch::Tensor users, items;
  std::vector<int64_t> user_ids, item_ids;
  std::string score;  ///< how a model's score relates to the inner product
};

// mf: [p_u, 1] . [q_i, b_i] = the prediction less b_u and the mean, which do not change a
// user's ranking.
Vectors mf_vectors(Restored& r) {
  const Named named = named_tensors(*r.trainer->model());
  const Vocab<int64_t>& users = r.ckpt.vocabs.users;
  const Vocab<int64_t>& movies = r.ckpt.vocabs.movies;
  const int64_t nu = static_cast<int64_t>(users.keys().size());
  const int64_t nm = static_cast<int64_t>(movies.keys().size());
  Vectors v;
  const torch::Tensor p = named.at("user.weight").slice(0, 2, 2 + nu);
  const torch::Tensor q = named.at("movie.weight").slice(0, 2, 2 + nm);
  v.users = torch::cat({p, torch::ones({nu, 1})}, 1);
  v.items = torch::cat({q, named.at("bias.movie.weight").slice(0, 2, 2 + nm)}, 1);
  v.user_ids = users.keys();
  v.item_ids = movies.keys();
  v.score =
      "prediction = users[u] . items[i] + user bias + global mean (the same order for a user)";
  return v;
}

Vectors ranking_vectors(RestoredRanking& r) {
  torch::NoGradGuard no_grad;
  r.model->eval();
  r.model->freeze_items(true);
  const InteractionIndex& index = r.ranking.index;
  std::vector<torch::Tensor> users;
  for_user_blocks(r, r.model->sequence_length(), [&](int64_t, const UserBlock& block) {
    users.push_back(r.model->user_factors(block));
  });
  Vectors v;
  v.users = torch::cat(users);
  v.items = r.model->item_factors();
  const torch::Tensor bias = r.model->item_bias();
  if (bias.defined()) {
    v.users = torch::cat({v.users, torch::ones({v.users.size(0), 1})}, 1);
    v.items = torch::cat({v.items, bias}, 1);
  }
  v.user_ids = index.users;
  v.item_ids = index.items;
  v.score = "score = users[u] . items[i]";
  r.model->freeze_items(false);
  return v;
}

}  // namespace

std::string ExportResult::to_json() const {
  json out;
  out["format"] = format;
  out["model"] = model;
  out["name"] = name;
  out["out"] = out_dir;
  out["files"] = files;
  return out.dump(2);
}

const std::vector<std::string>& embedding_models() {
  static const std::vector<std::string> names = {"mf", "bpr", "two-tower", "sasrec"};
  return names;
}

ExportResult run_export(const std::string& checkpoint, const std::string& data_dir,
                        const std::string& format, const std::string& out_dir,
                        const std::string& name_in) {
  if (format != "torchscript" && format != "embeddings") {
    throw ConfigError("--format: torchscript or embeddings, got '" + format + "'");
  }
  if (out_dir.empty()) throw ConfigError("export: --out DIR is required");
  const std::string file = single_checkpoint(checkpoint);
  Checkpoint ckpt = load_checkpoint(file);
  const Config& config = ckpt.config;
  const bool ranking = config.train.task == "ranking";
  ExportResult result;
  result.format = format;
  result.model = config.model.name;
  result.name = name_in.empty() ? "dnnrec-" + config.model.name : name_in;
  result.out_dir = out_dir;
  const std::string& name = result.name;
  if (name.find_first_of("/\\") != std::string::npos || name == "." || name == "..") {
    throw ConfigError("--name: '" + name + "' is not a folder name");
  }
  json meta;
  meta["dnnrec_export"] = 1;
  meta["dnnrec_version"] = ckpt.meta.dnnrec_version;
  meta["checkpoint"] = file;
  meta["weights_digest"] = ckpt.weights_digest();
  meta["data_fingerprint"] = ckpt.meta.data_fingerprint;
  meta["model"] = config.model.name;
  meta["task"] = config.train.task;
  meta["ids_hashed"] = config.data.format == "csv";

  if (format == "embeddings") {
    const auto& allowed = embedding_models();
    if (std::find(allowed.begin(), allowed.end(), config.model.name) == allowed.end() ||
        (!ranking && config.model.name != "mf")) {
      throw ConfigError("export --format embeddings: '" + config.model.name + "' (" +
                        config.train.task +
                        " task) is not a dot-product model; embeddings come from mf, bpr, "
                        "two-tower and sasrec (export --format torchscript serves every model)");
    }
    Vectors v;
    MovieLens names;
    if (ranking) {
      RestoredRanking r = restore_ranking(std::move(ckpt), data_dir);
      v = ranking_vectors(r);
      names = std::move(r.data);
    } else {
      Restored r = restore(std::move(ckpt), data_dir);
      v = mf_vectors(r);
      names = std::move(r.data);
    }
    fs::create_directories(out_dir);
    const fs::path dir(out_dir);
    atomic_write_file((dir / "users.npy").string(), npy(v.users));
    atomic_write_file((dir / "items.npy").string(), npy(v.items));
    atomic_write_file((dir / "users.tsv").string(), id_map(names, v.user_ids, false));
    atomic_write_file((dir / "items.tsv").string(), id_map(names, v.item_ids, true));
    meta["users"] = v.users.size(0);
    meta["items"] = v.items.size(0);
    meta["dim"] = v.users.size(1);
    meta["metric"] = "inner_product";
    meta["score"] = v.score;
    atomic_write_file((dir / "embeddings.json").string(), meta.dump(2) + "\n");
    result.files = {(dir / "users.npy").string(), (dir / "items.npy").string(),
                    (dir / "users.tsv").string(), (dir / "items.tsv").string(),
                    (dir / "embeddings.json").string()};
    spdlog::info("{} user and {} item vectors of dimension {} written to {}", v.users.size(0),
                 v.items.size(0), v.users.size(1), out_dir);
    return result;
  }

  // A csv log's string ids hash to the int64 ids the module takes (id_of_key): ids.tsv lists them.
  std::string id_table;
  const auto ids_of = [&](const MovieLens& data) {
    std::vector<std::pair<std::string, int64_t>> keys;
    for (const auto& [id, key] : data.names) keys.emplace_back(key, id);
    std::sort(keys.begin(), keys.end());
    id_table = "key\tid\n";
    for (const auto& [key, id] : keys) id_table += key + "\t" + std::to_string(id) + "\n";
  };
  torch::jit::Module module = [&] {
    if (ranking) {
      RestoredRanking r = restore_ranking(std::move(ckpt), data_dir);
      ids_of(r.data);
      return ranking_module(r, name);
    }
    Restored r = restore(std::move(ckpt), data_dir);
    ids_of(r.data);
    return rating_module(r, name);
  }();
  meta["forward"] = ranking ? "scores recommend ranks by (NaN for an unknown user or item)"
                    : config.train.task == "binary"
                        ? "probability of liked, as dnnrec predict"
                        : "rating clipped to the scale, as dnnrec predict";
  meta["recommend"] = "recommend(user_id: int, k: int) -> (movie ids, scores), as dnnrec recommend";
  const fs::path version_dir = fs::path(out_dir) / name / "1";
  fs::create_directories(version_dir);
  const std::string model_path = (version_dir / "model.pt").string();
  const std::string tmp = model_path + ".tmp";
  torch::jit::ExtraFilesMap extra = {{"dnnrec.json", meta.dump(2)}};
  module.save(tmp, extra);
  fs::rename(tmp, model_path);
  const std::string pbtxt = (fs::path(out_dir) / name / "config.pbtxt").string();
  atomic_write_file(pbtxt, triton_config(name, ranking ? "scores" : "predictions"));
  result.files = {model_path, pbtxt};
  if (!id_table.empty() && id_table != "key\tid\n") {
    const std::string ids = (fs::path(out_dir) / name / "ids.tsv").string();
    atomic_write_file(ids, id_table);
    result.files.push_back(ids);
  }
  spdlog::info("TorchScript module written to {} (Triton layout: {}/{})", model_path, out_dir,
               name);
  return result;
}

}  // namespace dnnrec
