// The trainer's side of data-parallel training: which rows of a batch a rank computes, the
// start every rank takes from rank 0, the combined gradient of a batch, validation over the
// ranks' shares and the check that every rank ends with the same weights.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

namespace dnnrec {

class ModelOptimizer;
class ProcessGroup;

/// The rows of a batch one rank computes, and the slices the ranks before it cut theirs into
/// (dropout seeds follow the slice numbering of the whole batch).
struct BatchShare {
  int64_t begin = 0;    ///< first row (a position in the epoch's order)
  int64_t end = 0;      ///< one past the last
  int first_slice = 0;  ///< slices of the shares before this one
};

/// FNV-1a over every parameter's bytes: two ranks hold the same weights when theirs agree.
uint64_t weights_hash(const torch::nn::Module& model);
/// Throws DistributedError when the ranks' weight digests differ: they did not apply the
/// same updates.
void check_same_weights(const std::vector<std::string>& digests);

/// Data-parallel training with the ranks of a process group. Every rank holds the whole model
/// and computes its share of every batch; the shares' gradients are combined so that every
/// rank applies the update one process would have made from the whole batch, bit for bit.
class DataParallel {
 public:
  /// `params` are the model's parameters in the order the trainer's gradients list them; the
  /// model's embedding tables among them are exchanged as sparse rows.
  DataParallel(ProcessGroup& group, const torch::nn::Module& model,
               std::vector<torch::Tensor> params);

  int rank() const;
  int world_size() const;

  /// This rank's consecutive part of the batch [begin, begin + size), each rank's part cut
  /// into as many slices as `slices` says for its size.
  BatchShare share_of_batch(int64_t begin, int64_t size,
                            const std::function<int(int64_t)>& slices) const;
  /// Broadcasts rank 0's weights, buffers and optimizer state into `model` and `optimizer`,
  /// then returns rank 0's `start` (the trainer's resume and generator state) on every rank.
  std::string synchronize_start(torch::nn::Module& model, ModelOptimizer& optimizer,
                                const std::string& start);

  /// What every rank knows after a batch's gradients were combined.
  struct Reduced {
    double loss = 0.0;         ///< the whole batch's loss
    bool interrupted = false;  ///< an interrupt came on some rank
  };
  /// Combines `grads` (grads[slice][parameter], this rank's slices) over the ranks into one
  /// part: dense gradients summed by allreduce (with the losses and the interrupt flags), the
  /// embedding tables' sparse parts gathered in rank order.
  Reduced reduce_gradients(std::vector<std::vector<torch::Tensor>>& grads, double loss,
                           bool interrupted);

  /// Rows [begin, end) of `n` examples: this rank's share when each predicts a part.
  std::pair<int64_t, int64_t> share_of(int64_t n) const;
  /// Every rank's predictions for its share_of(n), concatenated in rank order (CPU, float).
  torch::Tensor gather_predictions(const torch::Tensor& mine);
  /// Every rank's weights_hash as 16 hex digits, in rank order.
  std::vector<std::string> weight_digests(const torch::nn::Module& model);

 private:
  /// The dense parts of `grads` (one tensor per non-table parameter, then `scalars`) and the
  /// tables' sparse rows and values, as this rank contributes them.
  struct Local;
  Local pack(const std::vector<std::vector<torch::Tensor>>& grads, double loss,
             bool interrupted) const;

  ProcessGroup& group_;
  std::vector<torch::Tensor> params_;
  std::vector<bool> is_table_;  ///< per parameter: an embedding table (sparse gradients)
};

}  // namespace dnnrec
