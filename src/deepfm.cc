// DeepFM on the shared feature embeddings.
#include "dnnrec/deepfm.h"

#include "dnnrec/tower.h"

namespace dnnrec {

DeepFMImpl::DeepFMImpl(const ModelConfig& config, const FeatureSpec& spec, double offset)
    : first_order_(register_module("first_order", FeatureEmbeddings(spec, 1, /*init_scale=*/0.0))),
      embeddings_(register_module("embeddings", FeatureEmbeddings(spec, config.embedding_dim))),
      tower_(register_module("tower", make_feature_tower(config, spec))),
      offset_(register_buffer("offset", torch::tensor(offset, torch::kFloat))) {
  if (config.bias_terms) biases_ = register_module("bias", BiasTerms(spec));
}

torch::Tensor DeepFMImpl::forward(const Batch& b) {
  torch::Tensor first = torch::cat(first_order_->forward(b, *this), /*dim=*/1).sum(1);
  std::vector<torch::Tensor> fields = embeddings_->forward(b, *this);
  torch::Tensor stacked = torch::stack(fields, /*dim=*/1);  // [B, fields, dim]
  // Sum over field pairs of <e_i, e_j> = ((sum e)^2 - sum e^2) / 2, summed over dimensions.
  torch::Tensor fm = 0.5 * (stacked.sum(1).pow(2) - stacked.pow(2).sum(1)).sum(1);
  torch::Tensor deep = run_tower(tower_, torch::cat(fields, /*dim=*/1)).squeeze(1);
  torch::Tensor out = first + fm + deep + offset_;
  if (biases_) out = out + biases_->forward(b, *this);
  return out;
}

}  // namespace dnnrec
