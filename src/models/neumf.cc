// NeuMF on the shared feature embeddings.
#include "models/neumf.h"

#include "models/tower.h"

namespace dnnrec {

NeuMFImpl::NeuMFImpl(const ModelConfig& config, const FeatureSpec& spec, double offset)
    : gmf_user_(
          register_module("gmf_user", make_embedding(spec.n_users, config.embedding_dim, 0.05))),
      gmf_movie_(
          register_module("gmf_movie", make_embedding(spec.n_movies, config.embedding_dim, 0.05))),
      embeddings_(register_module("embeddings", FeatureEmbeddings(spec, config.embedding_dim))),
      mlp_(register_module("mlp", make_feature_tower(config, spec, /*output=*/0))),
      fuse_(register_module(
          "fuse", torch::nn::Linear(
                      config.embedding_dim +
                          (config.hidden.empty()
                               ? FeatureEmbeddingsImpl::num_fields(spec) * config.embedding_dim
                               : config.hidden.back()),
                      1))),
      offset_(register_buffer("offset", torch::tensor(offset, torch::kFloat))) {}

torch::Tensor NeuMFImpl::forward(const Batch& b) {
  torch::Tensor gmf = lookup(gmf_user_, b.user) * lookup(gmf_movie_, b.movie);
  torch::Tensor mlp = run_tower(mlp_, embeddings_->forward(b, *this).concat());
  return fuse_->forward(torch::cat({gmf, mlp}, /*dim=*/1)).squeeze(1) + offset_;
}

}  // namespace dnnrec
