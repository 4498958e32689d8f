// Wide & Deep and DeepFM on the shared feature embeddings. The two differ only by the FM term
// and by their modules' names, which are checkpoint keys.
#include "models/wide_deep.h"

#include "models/tower.h"

namespace dnnrec {

WideDeepImpl::WideDeepImpl(const ModelConfig& config, const FeatureSpec& spec, double offset,
                           bool fm)
    : fm_(fm),
      wide_(register_module(fm ? "first_order" : "wide",
                            FeatureEmbeddings(spec, 1, /*init_scale=*/0.0))),
      deep_(register_module(fm ? "embeddings" : "deep",
                            FeatureEmbeddings(spec, config.embedding_dim))),
      tower_(register_module("tower", make_feature_tower(config, spec))),
      offset_(register_buffer("offset", torch::tensor(offset, torch::kFloat))) {
  if (config.bias_terms) biases_ = register_module("bias", BiasTerms(spec));
}

torch::Tensor WideDeepImpl::forward(const Batch& b) {
  torch::Tensor out = wide_->forward(b, *this).concat().sum(1);
  const FieldVectors fields = deep_->forward(b, *this);
  if (fm_) {
    torch::Tensor stacked = torch::stack(fields.list(), /*dim=*/1);  // [B, fields, dim]
    // Sum over field pairs of <e_i, e_j> = ((sum e)^2 - sum e^2) / 2, summed over dimensions.
    out = out + 0.5 * (stacked.sum(1).pow(2) - stacked.pow(2).sum(1)).sum(1);
  }
  out = out + run_tower(tower_, fields.concat()).squeeze(1) + offset_;
  if (biases_) out = out + biases_->forward(b, *this);
  return out;
}

}  // namespace dnnrec
