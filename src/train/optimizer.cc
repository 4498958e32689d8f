// Fused update rules over dense parameters and over the rows of embedding tables that a batch
// touched.
#include "train/optimizer.h"

#include <algorithm>
#include <cmath>
#include <functional>

#include "base/runtime.h"
#include "base/simd.h"
#include "dnnrec/error.h"

namespace dnnrec {

struct ModelOptimizer::Param {
  std::string name;
  torch::Tensor weight;
  /// Per-element state: adam/adamw/rmsprop first = mean (rmsprop: momentum buffer), second =
  /// mean square; sgd first = momentum buffer; adagrad second = sum of squares.
  torch::Tensor first, second;
  float decay = 0.0f;
  bool row_wise = false;
  /// Row-wise: the batch's distinct rows and their summed gradients; slot[row] is the row's
  /// position in `rows` during a step and -1 otherwise.
  std::vector<int32_t> slot;
  std::vector<int64_t> rows;
  std::vector<float> row_grad;
  /// Dense: the gradient as a contiguous float tensor.
  torch::Tensor grad;
};

namespace {

constexpr float kBeta1 = 0.9f, kBeta2 = 0.999f, kAdamEps = 1e-8f;  // torch's Adam defaults
constexpr float kAdagradEps = 1e-10f;
constexpr float kRmsAlpha = 0.99f, kRmsEps = 1e-8f;  // torch's RMSprop defaults

// One fused update of n consecutive elements. The loops vectorise (this file is compiled with
// -fno-math-errno, so a square root is one instruction); simd.h picks the copy.
static inline __attribute__((always_inline)) void apply_update_body(
    detail::UpdateRule rule, const detail::StepConstants& k, float* __restrict w,
    float* __restrict first, float* __restrict second, const float* __restrict grad, int64_t n,
    float decay) {
  using Rule = detail::UpdateRule;
  const float lr = k.lr, scale = k.scale;
  switch (rule) {
    case Rule::kAdam:
    case Rule::kAdamW: {
      const float step_size = k.step_size, bias2_sqrt = k.bias2_sqrt;
      const bool coupled = rule == Rule::kAdam;
      const float shrink = rule == Rule::kAdamW ? 1.0f - lr * decay : 1.0f;
      for (int64_t i = 0; i < n; ++i) {
        const float g = grad[i] * scale + (coupled ? decay * w[i] : 0.0f);
        first[i] = kBeta1 * first[i] + (1 - kBeta1) * g;
        second[i] = kBeta2 * second[i] + (1 - kBeta2) * g * g;
        w[i] = w[i] * shrink -
               step_size * first[i] / (__builtin_sqrtf(second[i]) / bias2_sqrt + kAdamEps);
      }
      break;
    }
    case Rule::kSgd: {
      const float momentum = k.momentum;
      for (int64_t i = 0; i < n; ++i) {
        float g = grad[i] * scale + decay * w[i];
        if (momentum > 0) g = first[i] = momentum * first[i] + g;
        w[i] -= lr * g;
      }
      break;
    }
    case Rule::kAdagrad:
      for (int64_t i = 0; i < n; ++i) {
        const float g = grad[i] * scale + decay * w[i];
        second[i] += g * g;
        w[i] -= lr * g / (__builtin_sqrtf(second[i]) + kAdagradEps);
      }
      break;
    case Rule::kRmsprop: {
      const float momentum = k.momentum;
      for (int64_t i = 0; i < n; ++i) {
        const float g = grad[i] * scale + decay * w[i];
        second[i] = kRmsAlpha * second[i] + (1 - kRmsAlpha) * g * g;
        float update = g / (__builtin_sqrtf(second[i]) + kRmsEps);
        if (momentum > 0) update = first[i] = momentum * first[i] + update;
        w[i] -= lr * update;
      }
      break;
    }
  }
}
DNNREC_SIMD_KERNEL(void, apply_update,
                   (detail::UpdateRule rule, const detail::StepConstants& k, float* w, float* first,
                    float* second, const float* grad, int64_t n, float decay),
                   (rule, k, w, first, second, grad, n, decay))

}  // namespace

ModelOptimizer::ModelOptimizer(const TrainConfig& config, torch::nn::Module& model)
    : config_(config), lr_(config.lr) {
  if (config.optimizer == "adam") {
    rule_ = Rule::kAdam;
  } else if (config.optimizer == "adamw") {
    rule_ = Rule::kAdamW;
  } else if (config.optimizer == "sgd") {
    rule_ = Rule::kSgd;
  } else if (config.optimizer == "adagrad") {
    rule_ = Rule::kAdagrad;
  } else if (config.optimizer == "rmsprop") {
    rule_ = Rule::kRmsprop;
  } else {
    throw ConfigError("train.optimizer: unknown optimizer '" + config.optimizer +
                      "' (adam | adamw | sgd | adagrad | rmsprop)");
  }
  std::vector<torch::Tensor> tables;
  for (const auto& module : model.modules(/*include_self=*/false)) {
    if (auto* table = dynamic_cast<torch::nn::EmbeddingImpl*>(module.get())) {
      table->options.sparse(true);  // gradients list the rows touched, not the whole table
      tables.push_back(table->weight);
    }
  }
  for (const auto& item : model.named_parameters()) {
    auto p = std::make_unique<Param>();
    p->name = item.key();
    p->weight = item.value();
    TORCH_CHECK(p->weight.is_contiguous() && p->weight.scalar_type() == torch::kFloat, "parameter ",
                p->name, " is not a contiguous float tensor");
    p->first = torch::zeros_like(p->weight);
    p->second = torch::zeros_like(p->weight);
    const bool is_table = std::any_of(tables.begin(), tables.end(),
                                      [&](const torch::Tensor& t) { return t.is_same(p->weight); });
    // Embedding tables are never decayed densely: that would shrink every row at every step.
    p->decay = is_table ? 0.0f : static_cast<float>(config.weight_decay);
    p->row_wise = is_table && config.lazy_embeddings && p->weight.dim() == 2;
    if (p->row_wise) p->slot.assign(p->weight.size(0), -1);
    params_.push_back(std::move(p));
  }
}

ModelOptimizer::~ModelOptimizer() = default;

size_t ModelOptimizer::lazy_tables() const {
  return std::count_if(params_.begin(), params_.end(), [](const auto& p) { return p->row_wise; });
}

void ModelOptimizer::zero_grad() {
  // Dropped rather than zeroed: the trainer assigns fresh gradients, which may be views.
  for (auto& p : params_) p->weight.mutable_grad() = torch::Tensor();
}

double ModelOptimizer::prepare(Param& p, const std::vector<torch::Tensor>& parts) const {
  p.rows.clear();
  p.row_grad.clear();
  p.grad = torch::Tensor();
  if (!p.row_wise) {
    for (const torch::Tensor& part : parts) {
      if (!part.defined()) continue;
      torch::Tensor g = (part.is_sparse() ? part.coalesce().to_dense() : part).to(torch::kFloat);
      p.grad = p.grad.defined() ? p.grad + g : g.contiguous();
    }
    if (!p.grad.defined() || config_.clip_norm <= 0) return 0.0;
    return p.grad.to(torch::kDouble).pow(2).sum().item<double>();
  }
  // Sum the gradient rows per distinct row, in the order rows first appear.
  const int64_t dim = p.weight.size(1);
  for (const torch::Tensor& g : parts) {
    if (!g.defined()) continue;
    torch::Tensor index, values;
    if (g.is_sparse()) {
      index = g._indices().reshape({-1}).contiguous();
      values = g._values().to(torch::kFloat).contiguous();
    } else {
      index = torch::arange(g.size(0), torch::kLong);
      values = g.to(torch::kFloat).contiguous();
    }
    const int64_t* idx = index.data_ptr<int64_t>();
    const float* val = values.data_ptr<float>();
    for (int64_t i = 0; i < index.numel(); ++i) {
      int32_t& s = p.slot[idx[i]];
      if (s < 0) {
        s = static_cast<int32_t>(p.rows.size());
        p.rows.push_back(idx[i]);
        p.row_grad.resize(p.row_grad.size() + dim, 0.0f);
      }
      float* acc = p.row_grad.data() + static_cast<int64_t>(s) * dim;
      const float* row = val + i * dim;
      for (int64_t d = 0; d < dim; ++d) acc[d] += row[d];
    }
  }
  for (int64_t row : p.rows) p.slot[row] = -1;
  double norm2 = 0.0;
  if (config_.clip_norm > 0) {
    for (float x : p.row_grad) norm2 += static_cast<double>(x) * x;
  }
  return norm2;
}

void ModelOptimizer::update(Param& p, const StepConstants& k) const {
  float* w = p.weight.data_ptr<float>();
  float* first = p.first.data_ptr<float>();
  float* second = p.second.data_ptr<float>();
  if (p.grad.defined()) {
    apply_update(rule_, k, w, first, second, p.grad.data_ptr<float>(), p.weight.numel(), p.decay);
    return;
  }
  const int64_t dim = p.row_wise ? p.weight.size(1) : 0;
  const size_t n = p.rows.size();
  constexpr size_t kAhead = 4;  // rows are scattered: fetch a few rows ahead
  for (size_t s = 0; s < n; ++s) {
    if (s + kAhead < n) {
      const int64_t ahead = p.rows[s + kAhead] * dim;
      for (int64_t d = 0; d < dim; d += 16) {
        __builtin_prefetch(w + ahead + d, 1);
        __builtin_prefetch(first + ahead + d, 1);
        __builtin_prefetch(second + ahead + d, 1);
      }
    }
    const int64_t off = p.rows[s] * dim;
    apply_update(rule_, k, w + off, first + off, second + off, p.row_grad.data() + s * dim, dim,
                 0.0f);
  }
}

void ModelOptimizer::step() {
  std::vector<std::vector<torch::Tensor>> parts(1);
  for (const auto& p : params_) parts[0].push_back(p->weight.grad());
  step(parts);
}

void ModelOptimizer::step(const std::vector<std::vector<torch::Tensor>>& parts) {
  ++steps_;
  StepConstants k;
  k.lr = static_cast<float>(lr_);
  k.scale = 1.0f;
  k.step_size = static_cast<float>(lr_ / (1 - std::pow(0.9, steps_)));
  k.bias2_sqrt = static_cast<float>(std::sqrt(1 - std::pow(0.999, steps_)));
  k.momentum = static_cast<float>(config_.momentum);
  const int64_t n = static_cast<int64_t>(params_.size());
  std::vector<std::vector<torch::Tensor>> grads(n);
  std::vector<std::pair<int64_t, int64_t>> order;  // (cost, parameter)
  for (int64_t i = 0; i < n; ++i) {
    int64_t cost = 0;
    for (const auto& part : parts) {
      TORCH_CHECK(static_cast<int64_t>(part.size()) == n, "gradient part has ", part.size(),
                  " tensors for ", n, " parameters");
      if (!part[i].defined()) continue;
      grads[i].push_back(part[i]);
      cost += part[i].is_sparse() ? part[i]._values().numel() : part[i].numel();
    }
    order.emplace_back(cost, i);
  }
  // Parameters are independent: each thread takes whole parameters, the costliest first (a
  // step's largest work is a table's rows or the first tower layer, not known in advance).
  std::sort(order.begin(), order.end(), std::greater<>());
  const bool clip = config_.clip_norm > 0;
  std::vector<double> norms(n, 0.0);
  torch::NoGradGuard no_grad;
  const int threads = std::max(1, at::get_num_threads());
  // Without clipping one pass prepares and updates; with it, the global norm sits between
  // the two.
  if (!clip) {
    parallel_each(n, threads, [&](int64_t j) {
      Param& p = *params_[order[j].second];
      prepare(p, grads[order[j].second]);
      update(p, k);
    });
    return;
  }
  parallel_each(n, threads, [&](int64_t j) {
    const int64_t i = order[j].second;
    norms[i] = prepare(*params_[i], grads[i]);
  });
  double norm2 = 0.0;
  for (double value : norms) norm2 += value;  // in order: the same sum on any thread count
  // torch::nn::utils::clip_grad_norm_'s rule, over dense and row gradients together.
  const double coef = config_.clip_norm / (std::sqrt(norm2) + 1e-6);
  if (coef < 1.0) k.scale = static_cast<float>(coef);
  parallel_each(n, threads, [&](int64_t j) { update(*params_[order[j].second], k); });
}

void ModelOptimizer::save(torch::serialize::OutputArchive& archive) const {
  archive.write("rule", c10::IValue(config_.optimizer));
  archive.write("steps", torch::tensor(steps_, torch::kLong), /*is_buffer=*/true);
  for (const auto& p : params_) {
    archive.write("state." + p->name + ".first", p->first, /*is_buffer=*/true);
    archive.write("state." + p->name + ".second", p->second, /*is_buffer=*/true);
  }
}

void ModelOptimizer::load(torch::serialize::InputArchive& archive) {
  c10::IValue rule;
  archive.read("rule", rule);
  TORCH_CHECK(rule.isString() && rule.toStringRef() == config_.optimizer,
              "optimizer state is for '", rule.isString() ? rule.toStringRef() : "?",
              "', not for '", config_.optimizer, "'");
  torch::Tensor steps;
  archive.read("steps", steps, /*is_buffer=*/true);
  torch::NoGradGuard no_grad;
  for (auto& p : params_) {
    for (auto [suffix, state] : {std::pair{".first", &p->first}, {".second", &p->second}}) {
      torch::Tensor value;
      archive.read("state." + p->name + suffix, value, /*is_buffer=*/true);
      TORCH_CHECK(value.sizes() == state->sizes(), "optimizer state of ", p->name, " has shape ",
                  value.sizes(), ", the parameter ", state->sizes());
      state->copy_(value);
    }
  }
  steps_ = steps.item<int64_t>();
}

}  // namespace dnnrec
