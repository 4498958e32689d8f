// The model interface, the pieces models share (embedding lookups, bias terms, the MLP tower)
// and the registry that makes models by name. The feature embeddings: feature_embeddings.h.
#pragma once

#include <torch/torch.h>

#include <memory>
#include <string>
#include <vector>

#include "data/batch.h"
#include "data/features.h"
#include "dnnrec/config.h"

namespace dnnrec {

/// Every model maps a batch to one raw score per example: the predicted rating for the
/// rating task, the logit of "liked" for the binary task.
class RecModelImpl : public torch::nn::Module {
 public:
  virtual torch::Tensor forward(const Batch& batch) = 0;

  /// Turns on the bookkeeping of the embedding rows forward touches (for train.embedding_l2).
  void track_penalty(bool on) { track_penalty_ = on; }
  /// Sum of squares of the embedding rows the last forward on this thread touched, divided by
  /// the batch size (a scalar); cleared by the call. Zero when nothing was tracked. The
  /// bookkeeping is per thread, so slices of a batch can run forward in parallel.
  torch::Tensor take_penalty();
  /// The rows of `table` at `ids`, recorded for the embedding penalty when tracking: every
  /// embedding lookup of a model goes through here.
  torch::Tensor lookup(torch::nn::Embedding& table, const torch::Tensor& ids);
  /// The masked mean of the rows of `table` at each row of `ids` [B, L] -> [B, dim]; id 0 is
  /// padding and does not count. One fused embedding_bag (no [B, L, dim] intermediate),
  /// except while the embedding penalty needs the individual rows.
  torch::Tensor pooled(torch::nn::Embedding& table, const torch::Tensor& ids);

 private:
  bool track_penalty_ = false;
};
using RecModel = std::shared_ptr<RecModelImpl>;

/// x = max(x, 0) over n CPU floats, in place (NaN stays NaN, as with torch's relu).
void relu_in_place(float* x, int64_t n);

/// Inverted dropout like nn::Dropout (identity in eval mode), with the keep mask drawn from a
/// fast portable generator (splitmix64, 16 bits per draw) instead of torch's per-element
/// Bernoulli sampling, which costs more than the tower's matrix products on CPU. The generator
/// is seeded from torch's, so train.seed makes it reproducible; while a DropoutStream is
/// active on the calling thread, masks come from that stream instead.
class FastDropoutImpl : public torch::nn::Module {
 public:
  explicit FastDropoutImpl(double p);
  torch::Tensor forward(const torch::Tensor& x);
  /// relu then this dropout (training mode; identity mask in eval mode) in place over n CPU
  /// floats, drawing the mask forward() would: the fused tower's activation.
  void relu_and_drop(float* x, int64_t n);
  /// The factor kept units are scaled by while training (1 / keep probability, or 1).
  float train_scale() const { return threshold_ == 0 ? 1.0f : scale_; }

 private:
  /// n 16-bit draws (a unit is dropped when its draw is below threshold_), in a per-thread
  /// buffer valid until the next call on the thread.
  const uint16_t* draw(int64_t n);

  double p_;
  uint32_t threshold_;  // a 16-bit draw below it drops the unit
  float scale_;         // 1 / keep probability
  uint64_t state_;
};
TORCH_MODULE(FastDropout);

/// Makes every FastDropout on this thread draw its masks from a stream seeded with `seed`
/// for the guard's lifetime: the trainer seeds each slice of each step, so masks do not
/// depend on which thread runs which slice.
class DropoutStream {
 public:
  explicit DropoutStream(uint64_t seed);
  ~DropoutStream();
  DropoutStream(const DropoutStream&) = delete;
  DropoutStream& operator=(const DropoutStream&) = delete;
};

/// An MLP as nn::Sequential: [Linear -> (BatchNorm) -> activation -> (Dropout)] per hidden
/// size, then Linear(last, output) when output > 0.
torch::nn::Sequential make_tower(int64_t input, const std::vector<int64_t>& hidden,
                                 const std::string& activation, double dropout, bool batch_norm,
                                 int64_t output = 1);

/// Masked mean of embedded id sequences [B, L, dim] over ids [B, L] -> [B, dim]; id 0 is
/// padding (its rows are zero).
torch::Tensor masked_mean(const torch::Tensor& embedded, const torch::Tensor& ids);

/// User and movie bias terms, starting at zero.
class BiasTermsImpl : public torch::nn::Module {
 public:
  explicit BiasTermsImpl(const FeatureSpec& spec);
  /// b_user + b_movie per example, [B].
  torch::Tensor forward(const Batch& batch, RecModelImpl& owner);

 private:
  torch::nn::Embedding user_{nullptr}, movie_{nullptr};
};
TORCH_MODULE(BiasTerms);

/// An embedding table whose padding row (0) is zero, rows uniform in [-scale, scale].
torch::nn::Embedding make_embedding(int64_t rows, int64_t dim, double scale);

/// Builds the model `config.name`; `offset` is added to the output (the training mean rating,
/// or the logit of the training "liked" rate). Throws ConfigError for an unknown name.
RecModel make_model(const ModelConfig& config, const FeatureSpec& spec, double offset);

/// Names make_model accepts.
std::vector<std::string> model_names();

}  // namespace dnnrec
