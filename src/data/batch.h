// A split's examples and the batches assembled from them.
#pragma once

#include <torch/torch.h>

#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "data/features.h"

namespace dnnrec {

/// One mini-batch: every id column of batch_columns() as a tensor with the batch as first
/// dimension, and the targets. The columns the code addresses directly have members; a column
/// added to batch_columns() without one is kept in `more`, and column(name) finds either.
struct Batch {
  torch::Tensor user;     ///< [B] int64
  torch::Tensor movie;    ///< [B] int64
  torch::Tensor year;     ///< [B] int64
  torch::Tensor genres;   ///< [B, genre_len] int64
  torch::Tensor tags;     ///< [B, tag_len] int64
  torch::Tensor history;  ///< [B, history_len] int64
  torch::Tensor target;   ///< [B] float: the rating, or 0/1 liked for the binary task
  /// The id columns that have no member above, by name.
  std::vector<std::pair<std::string, torch::Tensor>> more;

  int64_t size() const { return user.size(0); }
  /// The id column `name` (a member or one of `more`); throws Error for an unknown name.
  const torch::Tensor& column(const std::string& name) const;
  /// The id column `name` to assign; a name without a member is added to `more`.
  torch::Tensor& column(const std::string& name);
  /// Examples [begin, end) as views, without copying.
  Batch slice(int64_t begin, int64_t end) const;
  /// This batch with fn applied to every tensor: the id columns, then the target.
  Batch map(const std::function<torch::Tensor(const torch::Tensor&)>& fn) const;
};

/// A split: its compact columns, from which each batch is assembled on the CPU (one pass per
/// column of batch_columns(), reading per-movie features and histories from the shared
/// feature tables) and then moved to the device.
class TensorData {
 public:
  TensorData() = default;
  /// For task "binary" the target is rating >= like_threshold.
  TensorData(Columns columns, const std::string& task, double like_threshold,
             torch::Device device = torch::kCPU);

  int64_t size() const { return columns_.rows; }
  /// The examples at `index` (int64, any device), in that order.
  Batch gather(const torch::Tensor& index) const;
  /// The examples at rows[0..n). Const methods are safe to call from several threads at once.
  Batch gather(const int64_t* rows, int64_t n) const;
  /// Examples [begin, end).
  Batch slice(int64_t begin, int64_t end) const;
  /// Targets of every example.
  const std::vector<float>& targets() const { return targets_; }
  torch::Device device() const { return device_; }

 private:
  /// The examples at rows[0..n), one pass per batch column, on device_.
  Batch assemble(const int64_t* rows, int64_t n) const;

  Columns columns_;
  std::vector<float> targets_;
  torch::Device device_ = torch::kCPU;
};

}  // namespace dnnrec
