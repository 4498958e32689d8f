// Global mean, bias and matrix-factorisation baselines.
#include "models/baselines.h"

namespace dnnrec {

GlobalMeanImpl::GlobalMeanImpl(const ModelConfig&, const FeatureSpec&, double offset)
    : bias_(register_parameter("bias", torch::tensor(offset, torch::kFloat))) {}

torch::Tensor GlobalMeanImpl::forward(const Batch& b) { return bias_.expand({b.size()}); }

BiasModelImpl::BiasModelImpl(const ModelConfig&, const FeatureSpec& spec, double offset)
    : biases_(register_module("bias", BiasTerms(spec))),
      offset_(register_buffer("offset", torch::tensor(offset, torch::kFloat))) {}

torch::Tensor BiasModelImpl::forward(const Batch& b) {
  return biases_->forward(b, *this) + offset_;
}

// The factors register after the bias terms, so the parameter order (and the optimizer state's)
// is the one MF had when it held bias terms of its own.
MFImpl::MFImpl(const ModelConfig& config, const FeatureSpec& spec, double offset)
    : BiasModelImpl(config, spec, offset),
      user_(register_module("user", make_embedding(spec.n_users, config.embedding_dim, 0.05))),
      movie_(register_module("movie", make_embedding(spec.n_movies, config.embedding_dim, 0.05))) {}

torch::Tensor MFImpl::forward(const Batch& b) {
  return (lookup(user_, b.user) * lookup(movie_, b.movie)).sum(1) + biases_->forward(b, *this) +
         offset_;
}

}  // namespace dnnrec
