// Embedding lookups with hand-written CPU kernels and gradients. torch's embedding and
// embedding_bag backward passes (padding filters, offset bookkeeping, sorting) cost more per
// training step than the whole tower's matrix products; these give the same values and
// gradients in one pass each. Row 0 of every table is padding: it is never pooled and never
// receives a gradient.
#pragma once

#include <torch/torch.h>

namespace dnnrec {

/// weight[ids]: ids of any shape -> ids.sizes() + [dim]. The gradient is sparse (COO, one
/// entry per id, uncoalesced) when `sparse`, dense otherwise; padding ids get none.
torch::Tensor embedding_rows(const torch::Tensor& weight, const torch::Tensor& ids, bool sparse);

/// The mean of weight's rows at each row of ids [B, L] -> [B, dim], leaving padding out of the
/// count (an all-padding row gives zeros): embedding_bag in mean mode with padding_idx 0.
/// Gradient as for embedding_rows.
torch::Tensor embedding_mean(const torch::Tensor& weight, const torch::Tensor& ids, bool sparse);

}  // namespace dnnrec
