// The DNN model: shared feature embeddings, concatenated, MLP tower, bias and implicit terms.
#include "models/dnn.h"

#include "models/tower.h"

namespace dnnrec {

DNNImpl::DNNImpl(const ModelConfig& config, const FeatureSpec& spec, double offset)
    : implicit_(config.implicit),
      embeddings_(register_module("embeddings", FeatureEmbeddings(spec, config.embedding_dim))),
      tower_(register_module("tower", make_feature_tower(config, spec))),
      offset_(register_buffer("offset", torch::tensor(offset, torch::kFloat))) {
  if (config.bias_terms) biases_ = register_module("bias", BiasTerms(spec));
}

torch::Tensor DNNImpl::forward(const Batch& b) {
  const FieldVectors fields = embeddings_->forward(b, *this);
  torch::Tensor out = run_tower(tower_, fields.concat()).squeeze(1) + offset_;
  if (biases_) out = out + biases_->forward(b, *this);
  // SVD++: the movie factor against the user factor plus the mean of the factors of the
  // movies in the user's (training) history.
  if (implicit_) {
    out = out + (fields.at("movie") * (fields.at("user") + fields.at("history"))).sum(1);
  }
  return out;
}

}  // namespace dnnrec
