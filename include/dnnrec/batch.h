// A split's examples and the batches assembled from them.
#pragma once

#include <torch/torch.h>

#include "dnnrec/features.h"

namespace dnnrec {

/// One mini-batch: every feature column as a tensor with the batch as first dimension.
struct Batch {
  torch::Tensor user;     ///< [B] int64
  torch::Tensor movie;    ///< [B] int64
  torch::Tensor year;     ///< [B] int64
  torch::Tensor genres;   ///< [B, genre_len] int64
  torch::Tensor tags;     ///< [B, tag_len] int64
  torch::Tensor history;  ///< [B, history_len] int64
  torch::Tensor target;   ///< [B] float: the rating, or 0/1 liked for the binary task
  int64_t size() const { return user.size(0); }
  /// Examples [begin, end) as views, without copying.
  Batch slice(int64_t begin, int64_t end) const;
};

/// A split: its compact columns, from which each batch is assembled on the CPU (one pass
/// over the batch's examples, reading genres, tags, year and history from the shared feature
/// tables) and then moved to the device.
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
  template <class RowAt>
  Batch assemble(int64_t n, RowAt row_at) const;

  Columns columns_;
  std::vector<float> targets_;
  torch::Device device_ = torch::kCPU;
};

}  // namespace dnnrec
