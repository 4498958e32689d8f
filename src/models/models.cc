// Shared model pieces (bias terms, tower, pooling, the embedding penalty)
// and the registry that makes models by name.
#include "models/models.h"

#include <functional>
#include <map>

#include "base/random.h"
#include "base/simd.h"
#include "dnnrec/error.h"
#include "models/baselines.h"
#include "models/dnn.h"
#include "models/embedding_ops.h"
#include "models/neumf.h"
#include "models/wide_deep.h"

namespace dnnrec {
namespace {

using Factory = std::function<RecModel(const ModelConfig&, const FeatureSpec&, double)>;

template <class Holder>
Factory factory() {
  return [](const ModelConfig& c, const FeatureSpec& s, double offset) -> RecModel {
    return Holder(c, s, offset).ptr();
  };
}

// Explicit table rather than static self-registration: objects of a static library that
// nothing references are dropped by the linker, and their registrars with them.
const std::map<std::string, Factory>& registry() {
  static const std::map<std::string, Factory> models = {
      {"global-mean", factory<GlobalMean>()},
      {"bias", factory<BiasModel>()},
      {"mf", factory<MF>()},
      {"dnn", factory<DNN>()},
      {"wide-deep", factory<WideDeep>()},
      {"deepfm", factory<DeepFM>()},
      {"neumf", factory<NeuMF>()},
  };
  return models;
}

}  // namespace

namespace {

// Per thread: slices of one batch run forward on several threads at once.
torch::Tensor& thread_penalty() {
  static thread_local torch::Tensor penalty;
  return penalty;
}

thread_local std::unique_ptr<SplitMix64> active_dropout_stream;

}  // namespace

torch::Tensor RecModelImpl::take_penalty() {
  torch::Tensor& penalty = thread_penalty();
  torch::Tensor p = penalty.defined() ? penalty : torch::zeros({});
  penalty = torch::Tensor();
  return p;
}

torch::Tensor RecModelImpl::lookup(torch::nn::Embedding& table, const torch::Tensor& ids) {
  torch::Tensor rows = embedding_rows(table->weight, ids, table->options.sparse());
  if (track_penalty_ && is_training()) {
    torch::Tensor p = rows.pow(2).sum() / rows.size(0);
    torch::Tensor& penalty = thread_penalty();
    penalty = penalty.defined() ? penalty + p : p;
  }
  return rows;
}

torch::Tensor RecModelImpl::pooled(torch::nn::Embedding& table, const torch::Tensor& ids) {
  if (track_penalty_ && is_training()) return masked_mean(lookup(table, ids), ids);
  return embedding_mean(table->weight, ids, table->options.sparse());
}

DropoutStream::DropoutStream(uint64_t seed) {
  active_dropout_stream = std::make_unique<SplitMix64>(seed);
}

DropoutStream::~DropoutStream() { active_dropout_stream.reset(); }

torch::nn::Embedding make_embedding(int64_t rows, int64_t dim, double scale) {
  auto table = torch::nn::Embedding(torch::nn::EmbeddingOptions(rows, dim).padding_idx(0));
  torch::NoGradGuard no_grad;
  if (scale > 0) {
    table->weight.uniform_(-scale, scale);  // Keras' default is 0.05
  } else {
    table->weight.zero_();
  }
  table->weight[0].zero_();
  return table;
}

FastDropoutImpl::FastDropoutImpl(double p)
    : p_(p),
      threshold_(static_cast<uint32_t>(std::lround(p * 65536.0))),
      scale_(static_cast<float>(65536.0 / (65536.0 - threshold_))),
      state_(static_cast<uint64_t>(torch::randint(INT64_MAX, {1}, torch::kLong).item<int64_t>())) {}

namespace {

// The element loops vectorise; simd.h picks the copy.
static inline __attribute__((always_inline)) void mask_from_bits_body(
    const uint16_t* __restrict bits, float* __restrict out, int64_t n, uint32_t threshold,
    float scale) {
  for (int64_t i = 0; i < n; ++i)
    out[i] = static_cast<uint32_t>(bits[i]) < threshold ? 0.0f : scale;
}
DNNREC_SIMD_KERNEL(void, mask_from_bits,
                   (const uint16_t* bits, float* out, int64_t n, uint32_t threshold, float scale),
                   (bits, out, n, threshold, scale))

static inline __attribute__((always_inline)) void relu_mask_in_place_body(
    float* __restrict x, const uint16_t* __restrict bits, int64_t n, uint32_t threshold,
    float scale) {
  for (int64_t i = 0; i < n; ++i) {
    const float kept = static_cast<uint32_t>(bits[i]) < threshold ? 0.0f : scale;
    x[i] = (x[i] < 0.0f ? 0.0f : x[i]) * kept;  // relu keeps NaN, as torch's does
  }
}
DNNREC_SIMD_KERNEL(void, relu_mask_in_place,
                   (float* x, const uint16_t* bits, int64_t n, uint32_t threshold, float scale),
                   (x, bits, n, threshold, scale))

static inline __attribute__((always_inline)) void relu_in_place_body(float* __restrict x,
                                                                     int64_t n) {
  for (int64_t i = 0; i < n; ++i) x[i] = x[i] < 0.0f ? 0.0f : x[i];
}

}  // namespace

DNNREC_SIMD_KERNEL(void, relu_in_place, (float* x, int64_t n), (x, n))

const uint16_t* FastDropoutImpl::draw(int64_t n) {
  // Each 64-bit draw gives the 16-bit draws of four consecutive units.
  static thread_local std::vector<uint16_t> bits;
  bits.resize(static_cast<size_t>((n + 3) / 4 * 4));
  SplitMix64 own(state_);
  SplitMix64& rng = active_dropout_stream ? *active_dropout_stream : own;
  for (int64_t i = 0; i < n; i += 4) {
    const uint64_t b = rng.next();
    for (int k = 0; k < 4; ++k) bits[i + k] = static_cast<uint16_t>(b >> (16 * k));
  }
  if (!active_dropout_stream) state_ = own.next();  // the next call draws a fresh stream
  return bits.data();
}

torch::Tensor FastDropoutImpl::forward(const torch::Tensor& x) {
  if (!is_training() || threshold_ == 0) return x;
  if (!x.device().is_cpu()) return torch::dropout(x, p_, /*train=*/true);
  torch::Tensor mask = torch::empty(x.sizes(), x.options().requires_grad(false));
  const int64_t n = mask.numel();
  mask_from_bits(draw(n), mask.data_ptr<float>(), n, threshold_, scale_);
  return x * mask;
}

void FastDropoutImpl::relu_and_drop(float* x, int64_t n) {
  if (!is_training() || threshold_ == 0) return relu_in_place(x, n);
  relu_mask_in_place(x, draw(n), n, threshold_, scale_);
}

torch::nn::Sequential make_tower(int64_t input, const std::vector<int64_t>& hidden,
                                 const std::string& activation, double dropout, bool batch_norm,
                                 int64_t output) {
  torch::nn::Sequential tower;
  int64_t width = input;
  for (int64_t size : hidden) {
    tower->push_back(torch::nn::Linear(width, size));
    if (batch_norm) tower->push_back(torch::nn::BatchNorm1d(size));
    if (activation == "relu") {
      tower->push_back(torch::nn::ReLU());
    } else if (activation == "gelu") {
      tower->push_back(torch::nn::GELU());
    } else if (activation == "tanh") {
      tower->push_back(torch::nn::Tanh());
    } else if (activation == "sigmoid") {
      tower->push_back(torch::nn::Sigmoid());
    } else if (activation == "leaky_relu") {
      tower->push_back(torch::nn::LeakyReLU());
    } else {
      throw ConfigError("model.activation: unknown activation '" + activation + "'");
    }
    if (dropout > 0) tower->push_back(FastDropout(dropout));
    width = size;
  }
  if (output > 0) tower->push_back(torch::nn::Linear(width, output));
  return tower;
}

torch::Tensor masked_mean(const torch::Tensor& embedded, const torch::Tensor& ids) {
  // Padding rows of the tables are zero (padding_idx = 0), so a plain sum skips them.
  torch::Tensor count = ids.ne(0).sum(1, /*keepdim=*/true).clamp_min(1).to(embedded.dtype());
  return embedded.sum(1) / count;
}

BiasTermsImpl::BiasTermsImpl(const FeatureSpec& spec)
    : user_(register_module("user", make_embedding(spec.n_users, 1, 0.0))),
      movie_(register_module("movie", make_embedding(spec.n_movies, 1, 0.0))) {}

torch::Tensor BiasTermsImpl::forward(const Batch& b, RecModelImpl& owner) {
  return (owner.lookup(user_, b.user) + owner.lookup(movie_, b.movie)).squeeze(1);
}

RecModel make_model(const ModelConfig& config, const FeatureSpec& spec, double offset) {
  auto it = registry().find(config.name);
  if (it == registry().end()) {
    std::string hint = nearest(config.name, model_names());
    throw ConfigError("model.name: unknown model '" + config.name + "'" +
                      (hint.empty() ? "" : "; did you mean '" + hint + "'?") + " (" +
                      [] {
                        std::string all;
                        for (const auto& name : model_names())
                          all += (all.empty() ? "" : " | ") + name;
                        return all;
                      }() +
                      ")");
  }
  return it->second(config, spec, offset);
}

std::vector<std::string> model_names() {
  std::vector<std::string> names;
  for (const auto& entry : registry()) names.push_back(entry.first);
  return names;
}

}  // namespace dnnrec
