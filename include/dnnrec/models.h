// The model interface, the MLP tower builder shared by models, and the registry by name.
#pragma once

#include <torch/torch.h>

#include <memory>
#include <string>
#include <vector>

#include "dnnrec/batch.h"
#include "dnnrec/config.h"
#include "dnnrec/features.h"

namespace dnnrec {

/// Every model maps a batch to one raw score per example: the predicted rating for the
/// rating task, the logit of "liked" for the binary task.
class RecModelImpl : public torch::nn::Module {
 public:
  virtual torch::Tensor forward(const Batch& batch) = 0;
};
using RecModel = std::shared_ptr<RecModelImpl>;

/// An MLP as nn::Sequential: [Linear -> (BatchNorm) -> activation -> (Dropout)] per hidden
/// size, then Linear(last, out).
torch::nn::Sequential make_tower(int64_t input, const std::vector<int64_t>& hidden,
                                 const std::string& activation, double dropout, bool batch_norm,
                                 int64_t output = 1);

/// Masked mean of embedded id sequences [B, L] -> [B, dim]; index 0 is padding.
torch::Tensor masked_mean(torch::nn::Embedding table, const torch::Tensor& ids);

/// Builds the model `config.name`; `offset` is added to the output (the training mean rating,
/// or the logit of the training "liked" rate). Throws ConfigError for an unknown name.
RecModel make_model(const ModelConfig& config, const FeatureSpec& spec, double offset);

/// Names make_model accepts.
std::vector<std::string> model_names();

}  // namespace dnnrec
