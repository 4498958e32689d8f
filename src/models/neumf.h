// NeuMF: generalised matrix factorisation (GMF) and an MLP, fused by a final linear layer.
#pragma once

#include "models/feature_embeddings.h"

namespace dnnrec {

/// offset + Linear(concat(p_user * q_movie, MLP(concat(feature embeddings)))). The GMF factors
/// are separate from the MLP's embeddings, as in the NeuMF paper.
class NeuMFImpl : public RecModelImpl {
 public:
  NeuMFImpl(const ModelConfig& config, const FeatureSpec& spec, double offset);
  torch::Tensor forward(const Batch& batch) override;

 private:
  torch::nn::Embedding gmf_user_{nullptr}, gmf_movie_{nullptr};
  FeatureEmbeddings embeddings_{nullptr};
  torch::nn::Sequential mlp_{nullptr};
  torch::nn::Linear fuse_{nullptr};
  torch::Tensor offset_;
};
TORCH_MODULE(NeuMF);

}  // namespace dnnrec
