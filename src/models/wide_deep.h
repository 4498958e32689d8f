// Wide & Deep and DeepFM: a linear model over every sparse feature beside the DNN tower; DeepFM
// adds the factorisation-machine pairwise interactions of the same field embeddings.
#pragma once

#include "models/feature_embeddings.h"

namespace dnnrec {

/// offset + [b_user + b_movie] + wide (one learned weight per id of every feature, pooled like
/// the embeddings) + [FM(field vectors)] + deep (tower over the concatenated field vectors).
class WideDeepImpl : public RecModelImpl {
 public:
  /// fm: DeepFM (the wide part is then its first-order terms).
  WideDeepImpl(const ModelConfig& config, const FeatureSpec& spec, double offset, bool fm = false);
  torch::Tensor forward(const Batch& batch) override;

 private:
  bool fm_;
  FeatureEmbeddings wide_{nullptr};
  FeatureEmbeddings deep_{nullptr};
  BiasTerms biases_{nullptr};
  torch::nn::Sequential tower_{nullptr};
  torch::Tensor offset_;
};
TORCH_MODULE(WideDeep);

/// DeepFM: first-order terms + FM pairwise interactions of the field vectors + the deep tower.
class DeepFMImpl : public WideDeepImpl {
 public:
  DeepFMImpl(const ModelConfig& config, const FeatureSpec& spec, double offset)
      : WideDeepImpl(config, spec, offset, /*fm=*/true) {}
};
TORCH_MODULE(DeepFM);

}  // namespace dnnrec
