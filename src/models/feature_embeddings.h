// The feature fields the feature models embed, as one table (name, kind, vocabulary, batch
// column), and the embeddings and tower built from it. A new field is a row of the table.
#pragma once

#include <torch/torch.h>

#include <string>
#include <vector>

#include "models/models.h"

namespace dnnrec {

/// How a field's ids become its vector.
enum class FieldKind {
  kId,      ///< one id per example, [B]: its row
  kPooled,  ///< a padded id sequence per example, [B, L]: the masked mean of its rows
};

/// One feature field: a row of feature_fields().
struct FeatureField {
  /// What models address the field by, and its module name: the checkpoint key of its table
  /// is <owner>.<name>.weight (e.g. embeddings.genre.weight).
  const char* name;
  FieldKind kind;
  int64_t FeatureSpec::*rows;  ///< the vocabulary size: rows of its table
  const char* column;          ///< the Batch column of its ids (batch_columns())
  bool FeatureSpec::*enabled;  ///< the switch that turns it on; nullptr: always on
};

/// Every feature field, in the order their tables are registered and their vectors
/// concatenated: user, movie, genre, tag, history, year, profile (the user's description).
const std::vector<FeatureField>& feature_fields();

/// The field vectors of one forward, [B, dim] each, in feature_fields() order.
class FieldVectors {
 public:
  FieldVectors(std::vector<const FeatureField*> fields, std::vector<torch::Tensor> vectors)
      : fields_(std::move(fields)), vectors_(std::move(vectors)) {}
  /// The vector of field `name`; throws Error when the spec leaves that field out.
  const torch::Tensor& at(const std::string& name) const;
  /// Every vector, in order: what concatenation and stacking take.
  const std::vector<torch::Tensor>& list() const { return vectors_; }
  /// The vectors concatenated, [B, fields * dim].
  torch::Tensor concat() const { return torch::cat(vectors_, /*dim=*/1); }

 private:
  std::vector<const FeatureField*> fields_;
  std::vector<torch::Tensor> vectors_;
};

/// One embedding table per enabled feature field, shared by every feature-based model.
/// Padding rows stay zero.
class FeatureEmbeddingsImpl : public torch::nn::Module {
 public:
  /// Number of field vectors forward returns: the fields `spec` enables.
  static int64_t num_fields(const FeatureSpec& spec);
  /// init_scale: rows start uniform in [-init_scale, init_scale] (0: all zero).
  FeatureEmbeddingsImpl(const FeatureSpec& spec, int64_t dim, double init_scale = 0.05);
  /// The vectors of the enabled fields. The rows looked up are added to owner's embedding
  /// penalty.
  FieldVectors forward(const Batch& batch, RecModelImpl& owner);
  int64_t dim() const { return dim_; }

 private:
  int64_t dim_;
  std::vector<const FeatureField*> fields_;   ///< the enabled rows of feature_fields()
  std::vector<torch::nn::Embedding> tables_;  ///< one per field
};
TORCH_MODULE(FeatureEmbeddings);

/// The tower of the feature models: make_tower over the concatenated FeatureEmbeddings fields
/// (model.hidden, activation, dropout, batch_norm).
torch::nn::Sequential make_feature_tower(const ModelConfig& config, const FeatureSpec& spec,
                                         int64_t output = 1);

}  // namespace dnnrec
