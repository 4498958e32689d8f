// Shared model pieces (tower, pooling) and the registry that makes models by name.
#include "dnnrec/models.h"

#include <functional>
#include <map>

#include "dnnrec/dnn.h"
#include "dnnrec/error.h"

namespace dnnrec {
namespace {

using Factory = std::function<RecModel(const ModelConfig&, const FeatureSpec&, double)>;

// Explicit table rather than static self-registration: objects of a static library that
// nothing references are dropped by the linker, and their registrars with them.
const std::map<std::string, Factory>& registry() {
  static const std::map<std::string, Factory> models = {
      {"dnn",
       [](const ModelConfig& c, const FeatureSpec& s, double offset) -> RecModel {
         return DNN(c, s, offset).ptr();
       }},
  };
  return models;
}

}  // namespace

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
    if (dropout > 0) tower->push_back(torch::nn::Dropout(dropout));
    width = size;
  }
  tower->push_back(torch::nn::Linear(width, output));
  return tower;
}

torch::Tensor masked_mean(torch::nn::Embedding table, const torch::Tensor& ids) {
  // Padding rows of the table are zero (padding_idx = 0), so a plain sum skips them.
  torch::Tensor summed = table->forward(ids).sum(1);
  torch::Tensor count = ids.ne(0).sum(1, /*keepdim=*/true).clamp_min(1).to(summed.dtype());
  return summed / count;
}

RecModel make_model(const ModelConfig& config, const FeatureSpec& spec, double offset) {
  auto it = registry().find(config.name);
  if (it == registry().end()) {
    std::string hint = nearest(config.name, model_names());
    throw ConfigError("model.name: unknown model '" + config.name + "'" +
                      (hint.empty() ? "" : "; did you mean '" + hint + "'?"));
  }
  return it->second(config, spec, offset);
}

std::vector<std::string> model_names() {
  std::vector<std::string> names;
  for (const auto& entry : registry()) names.push_back(entry.first);
  return names;
}

}  // namespace dnnrec
