// DNN: the feature embeddings concatenated into an MLP tower, plus bias terms and an optional
// SVD++-like implicit term.
#pragma once

#include "models/feature_embeddings.h"

namespace dnnrec {

/// offset + [b_user + b_movie] + tower(concat(the feature field vectors))
/// + [q_movie . (p_user + mean of the history factors)] (model.implicit).
class DNNImpl : public RecModelImpl {
 public:
  DNNImpl(const ModelConfig& config, const FeatureSpec& spec, double offset);
  torch::Tensor forward(const Batch& batch) override;

 private:
  bool implicit_;
  FeatureEmbeddings embeddings_{nullptr};
  BiasTerms biases_{nullptr};
  torch::nn::Sequential tower_{nullptr};
  torch::Tensor offset_;
};
TORCH_MODULE(DNN);

}  // namespace dnnrec
