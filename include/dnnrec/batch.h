// Whole-column tensors of a split and the batches cut from them with one gather per column.
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
};

/// A split held as whole-column tensors.
class TensorData {
 public:
  TensorData() = default;
  /// Converts columns to tensors; for task "binary" the target is rating >= like_threshold.
  TensorData(const Columns& columns, const std::string& task, double like_threshold,
             torch::Device device = torch::kCPU);

  int64_t size() const { return all_.user.defined() ? all_.user.size(0) : 0; }
  /// The rows at `index` (int64, on the data's device): one index_select per column.
  Batch gather(const torch::Tensor& index) const;
  /// Rows [begin, end) without copying.
  Batch slice(int64_t begin, int64_t end) const;
  /// Targets of every row, on the CPU.
  std::vector<float> targets() const;
  torch::Device device() const { return device_; }

 private:
  Batch all_;
  torch::Device device_ = torch::kCPU;
};

}  // namespace dnnrec
