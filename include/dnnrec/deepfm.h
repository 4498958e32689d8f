// DeepFM: first-order terms, factorisation-machine pairwise interactions of the feature
// fields, and a deep tower over the same embeddings.
#pragma once

#include "dnnrec/models.h"

namespace dnnrec {

/// offset + [b_user + b_movie] + first order + FM(field vectors) + tower(concat(field vectors)).
class DeepFMImpl : public RecModelImpl {
 public:
  DeepFMImpl(const ModelConfig& config, const FeatureSpec& spec, double offset);
  torch::Tensor forward(const Batch& batch) override;

 private:
  FeatureEmbeddings first_order_{nullptr};
  FeatureEmbeddings embeddings_{nullptr};
  BiasTerms biases_{nullptr};
  torch::nn::Sequential tower_{nullptr};
  torch::Tensor offset_;
};
TORCH_MODULE(DeepFM);

}  // namespace dnnrec
