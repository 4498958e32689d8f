// The optimizer of a model: torch's optimizers for dense parameters, and row-wise (lazy)
// updates of embedding tables from their sparse gradients, so a step costs what the batch
// touches rather than the size of the tables.
#pragma once

#include <torch/torch.h>

#include <memory>
#include <string>
#include <vector>

#include "dnnrec/config.h"
#include "models/models.h"

namespace dnnrec {

namespace detail {
/// The update rules, and the constants of one step, as the update kernel takes them.
enum class UpdateRule { kAdam, kAdamW, kSgd, kAdagrad, kRmsprop };
struct StepConstants {
  float lr, scale, step_size, bias2_sqrt, momentum;
};
}  // namespace detail

/// Owns every update rule of a model, written as one fused pass over each parameter (torch's
/// optimizers spend more time dispatching their dozen element-wise ops per tensor than
/// computing them at these sizes). The formulas are torch's, with its default betas and
/// epsilons; a test checks every rule against torch::optim. Embedding tables produce sparse
/// gradients; with train.lazy_embeddings (the default) only the rows a batch touched change,
/// each with the rule applied to that row alone (the "lazy" Adam of TensorFlow Addons: a
/// row's moments decay only when it is touched). Adagrad and momentum-free sgd are then
/// exactly the dense rule; adam, adamw, rmsprop and sgd with momentum differ from it only for
/// rows a batch does not touch. With lazy_embeddings false every row is updated every step.
class ModelOptimizer {
 public:
  /// The rule named in config (adam, adamw, sgd, adagrad, rmsprop); weight_decay applies to
  /// dense weights only, never to embedding tables. Throws ConfigError.
  ModelOptimizer(const TrainConfig& config, torch::nn::Module& model);
  ~ModelOptimizer();

  /// Drops every parameter's gradient.
  void zero_grad();
  /// Applies the gradients in the parameters' .grad (dense for dense parameters, sparse for
  /// embedding tables, duplicate rows allowed), after clipping their global norm to
  /// train.clip_norm when it is set. Parameters without a gradient are left alone.
  void step();
  /// The same with the gradient given in parts: parts[k][i] is part k of the gradient of
  /// parameter i (in the model's parameters() order; undefined where part k has none). The
  /// parts of a parameter are summed in order k = 0, 1, ... - the trainer's slices of a batch,
  /// read where they lie instead of being added or concatenated first.
  void step(const std::vector<std::vector<torch::Tensor>>& parts);
  void set_lr(double lr) { lr_ = lr; }

  /// Number of embedding tables updated row-wise.
  size_t lazy_tables() const;
  /// Steps taken.
  int64_t steps() const { return steps_; }

  void save(torch::serialize::OutputArchive& archive) const;
  /// Throws c10::Error when the archive does not fit this model and configuration.
  void load(torch::serialize::InputArchive& archive);

 private:
  struct Param;
  using Rule = detail::UpdateRule;
  using StepConstants = detail::StepConstants;
  /// Reads p's gradient parts (summing duplicate rows of a table); returns the squared norm
  /// of their sum when clipping, else 0.
  double prepare(Param& p, const std::vector<torch::Tensor>& parts) const;
  void update(Param& p, const StepConstants& k) const;

  TrainConfig config_;
  Rule rule_ = Rule::kAdam;
  std::vector<std::unique_ptr<Param>> params_;
  double lr_ = 0.0;
  int64_t steps_ = 0;
};

}  // namespace dnnrec
