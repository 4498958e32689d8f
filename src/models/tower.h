// The MLP tower's forward and backward as one autograd node on the CPU.
#pragma once

#include <torch/torch.h>

namespace dnnrec {

/// tower->forward(x). A tower of [Linear -> ReLU -> (FastDropout)] layers and an optional last
/// Linear (what make_tower builds without batch norm, with ReLU) runs on the CPU as one autograd
/// node: one addmm per layer with relu and the dropout mask applied in place, and a backward
/// of two matrix products per layer with the relu/dropout gradient and the bias sum done in
/// one pass. Values and gradients are those of the modules run one by one; any other tower,
/// dtype or device runs them one by one.
torch::Tensor run_tower(torch::nn::Sequential& tower, const torch::Tensor& x);

}  // namespace dnnrec
