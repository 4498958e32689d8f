// Wide & Deep: a linear model over every sparse feature beside the DNN tower.
#pragma once

#include "dnnrec/models.h"

namespace dnnrec {

/// offset + [b_user + b_movie] + wide (one learned weight per id of every feature, pooled like
/// the embeddings) + deep (tower over the concatenated feature embeddings).
class WideDeepImpl : public RecModelImpl {
 public:
  WideDeepImpl(const ModelConfig& config, const FeatureSpec& spec, double offset);
  torch::Tensor forward(const Batch& batch) override;

 private:
  FeatureEmbeddings wide_{nullptr};
  FeatureEmbeddings deep_{nullptr};
  BiasTerms biases_{nullptr};
  torch::nn::Sequential tower_{nullptr};
  torch::Tensor offset_;
};
TORCH_MODULE(WideDeep);

}  // namespace dnnrec
