// The feature field table, and the embeddings and tower the feature models build from it.
#include "models/feature_embeddings.h"

#include "dnnrec/error.h"

namespace dnnrec {

const std::vector<FeatureField>& feature_fields() {
  using S = FeatureSpec;
  using K = FieldKind;
  // Order is the checkpoint's parameter order and the concatenation order: append new rows.
  // clang-format off
  static const std::vector<FeatureField> fields = {
      // name     kind        vocabulary    batch column  switch
      {"user",    K::kId,     &S::n_users,  "user",       nullptr},
      {"movie",   K::kId,     &S::n_movies, "movie",      nullptr},
      {"genre",   K::kPooled, &S::n_genres, "genres",     nullptr},
      {"tag",     K::kPooled, &S::n_tags,   "tags",       nullptr},
      {"history", K::kPooled, &S::n_movies, "history",    nullptr},
      {"year",    K::kId,     &S::n_years,  "year",       &S::use_year},
      {"profile", K::kPooled, &S::n_profile, "profile",   &S::use_profile},
  };
  // clang-format on
  return fields;
}

namespace {

bool enabled(const FeatureField& field, const FeatureSpec& spec) {
  return field.enabled == nullptr || spec.*field.enabled;
}

}  // namespace

const torch::Tensor& FieldVectors::at(const std::string& name) const {
  for (size_t i = 0; i < fields_.size(); ++i) {
    if (name == fields_[i]->name) return vectors_[i];
  }
  throw Error("feature field '" + name + "' is not enabled");
}

int64_t FeatureEmbeddingsImpl::num_fields(const FeatureSpec& spec) {
  int64_t n = 0;
  for (const FeatureField& field : feature_fields()) n += enabled(field, spec);
  return n;
}

FeatureEmbeddingsImpl::FeatureEmbeddingsImpl(const FeatureSpec& spec, int64_t dim,
                                             double init_scale)
    : dim_(dim) {
  for (const FeatureField& field : feature_fields()) {
    if (!enabled(field, spec)) continue;
    fields_.push_back(&field);
    tables_.push_back(
        register_module(field.name, make_embedding(spec.*field.rows, dim, init_scale)));
  }
}

FieldVectors FeatureEmbeddingsImpl::forward(const Batch& b, RecModelImpl& owner) {
  std::vector<torch::Tensor> vectors;
  vectors.reserve(fields_.size());
  for (size_t i = 0; i < fields_.size(); ++i) {
    const torch::Tensor& ids = b.column(fields_[i]->column);
    vectors.push_back(fields_[i]->kind == FieldKind::kId ? owner.lookup(tables_[i], ids)
                                                         : owner.pooled(tables_[i], ids));
  }
  return FieldVectors(fields_, std::move(vectors));
}

torch::nn::Sequential make_feature_tower(const ModelConfig& config, const FeatureSpec& spec,
                                         int64_t output) {
  return make_tower(FeatureEmbeddingsImpl::num_fields(spec) * config.embedding_dim, config.hidden,
                    config.activation, config.dropout, config.batch_norm, output);
}

}  // namespace dnnrec
