// The yardsticks every result is measured against: global mean, user + movie biases, and
// biased matrix factorisation.
#pragma once

#include "models/models.h"

namespace dnnrec {

/// Predicts one learned constant, starting at the training mean.
class GlobalMeanImpl : public RecModelImpl {
 public:
  GlobalMeanImpl(const ModelConfig& config, const FeatureSpec& spec, double offset);
  torch::Tensor forward(const Batch& batch) override;

 private:
  torch::Tensor bias_;
};
TORCH_MODULE(GlobalMean);

/// mean + b_user + b_movie; regularise with train.embedding_l2.
class BiasModelImpl : public RecModelImpl {
 public:
  BiasModelImpl(const ModelConfig& config, const FeatureSpec& spec, double offset);
  torch::Tensor forward(const Batch& batch) override;

 protected:
  BiasTerms biases_{nullptr};
  torch::Tensor offset_;
};
TORCH_MODULE(BiasModel);

/// Biased matrix factorisation: the bias model + p_user . q_movie, with model.embedding_dim
/// factors.
class MFImpl : public BiasModelImpl {
 public:
  MFImpl(const ModelConfig& config, const FeatureSpec& spec, double offset);
  torch::Tensor forward(const Batch& batch) override;

 private:
  torch::nn::Embedding user_{nullptr}, movie_{nullptr};
};
TORCH_MODULE(MF);

}  // namespace dnnrec
