// DNN: user, movie, genre, tag, history and year embeddings, concatenated into an MLP tower.
#pragma once

#include "dnnrec/models.h"

namespace dnnrec {

/// The seed's subclassed model: embeddings pooled over padded sequences, concatenated, fed
/// to the tower, plus a constant offset (the training mean).
class DNNImpl : public RecModelImpl {
 public:
  DNNImpl(const ModelConfig& config, const FeatureSpec& spec, double offset);
  torch::Tensor forward(const Batch& batch) override;

 private:
  torch::nn::Embedding user_{nullptr};
  torch::nn::Embedding movie_{nullptr};
  torch::nn::Embedding genre_{nullptr};
  torch::nn::Embedding tag_{nullptr};
  torch::nn::Embedding history_{nullptr};
  torch::nn::Embedding year_{nullptr};
  torch::nn::Sequential tower_{nullptr};
  torch::Tensor offset_;
};
TORCH_MODULE(DNN);

}  // namespace dnnrec
