// Wide & Deep on the shared feature embeddings.
#include "dnnrec/wide_deep.h"

#include "dnnrec/tower.h"

namespace dnnrec {

WideDeepImpl::WideDeepImpl(const ModelConfig& config, const FeatureSpec& spec, double offset)
    : wide_(register_module("wide", FeatureEmbeddings(spec, 1, /*init_scale=*/0.0))),
      deep_(register_module("deep", FeatureEmbeddings(spec, config.embedding_dim))),
      tower_(register_module("tower", make_feature_tower(config, spec))),
      offset_(register_buffer("offset", torch::tensor(offset, torch::kFloat))) {
  if (config.bias_terms) biases_ = register_module("bias", BiasTerms(spec));
}

torch::Tensor WideDeepImpl::forward(const Batch& b) {
  torch::Tensor wide = torch::cat(wide_->forward(b, *this), /*dim=*/1).sum(1);
  torch::Tensor deep =
      run_tower(tower_, torch::cat(deep_->forward(b, *this), /*dim=*/1)).squeeze(1);
  torch::Tensor out = wide + deep + offset_;
  if (biases_) out = out + biases_->forward(b, *this);
  return out;
}

}  // namespace dnnrec
