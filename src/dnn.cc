// The DNN model: embeddings of every id feature, masked mean pooling, concat, MLP tower.
#include "dnnrec/dnn.h"

namespace dnnrec {
namespace {

torch::nn::Embedding make_table(int64_t rows, int64_t dim) {
  auto table = torch::nn::Embedding(torch::nn::EmbeddingOptions(rows, dim).padding_idx(0));
  // Keras' default embedding initialiser: uniform(-0.05, 0.05); the padding row stays zero.
  torch::NoGradGuard no_grad;
  table->weight.uniform_(-0.05, 0.05);
  table->weight[0].zero_();
  return table;
}

}  // namespace

DNNImpl::DNNImpl(const ModelConfig& config, const FeatureSpec& spec, double offset)
    : user_(register_module("user", make_table(spec.n_users, config.embedding_dim))),
      movie_(register_module("movie", make_table(spec.n_movies, config.embedding_dim))),
      genre_(register_module("genre", make_table(spec.n_genres, config.embedding_dim))),
      tag_(register_module("tag", make_table(spec.n_tags, config.embedding_dim))),
      history_(register_module("history", make_table(spec.n_movies, config.embedding_dim))),
      year_(register_module("year", make_table(spec.n_years, config.embedding_dim))),
      tower_(register_module("tower",
                             make_tower(6 * config.embedding_dim, config.hidden, config.activation,
                                        config.dropout, config.batch_norm))),
      offset_(register_buffer("offset", torch::tensor(offset, torch::kFloat))) {}

torch::Tensor DNNImpl::forward(const Batch& b) {
  torch::Tensor x = torch::cat(
      {user_->forward(b.user), movie_->forward(b.movie), masked_mean(genre_, b.genres),
       masked_mean(tag_, b.tags), masked_mean(history_, b.history), year_->forward(b.year)},
      /*dim=*/1);
  return tower_->forward(x).squeeze(1) + offset_;
}

}  // namespace dnnrec
