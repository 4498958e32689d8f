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

/// The mean of weight's rows over each bag of a CSR list: bag b holds items[offsets[b] ..
/// offsets[b + 1]) (the last bag runs to the end), every id a real row (no padding); an empty
/// bag gives zeros. embedding_bag in mean mode, but the sparse gradient holds one row per
/// distinct id, summed over its bags, where torch's holds one per occurrence: a batch of long
/// histories (hundreds of ids per bag) then costs the catalogue's rows, not a copy of the
/// gradient per occurrence.
torch::Tensor embedding_bag_mean(const torch::Tensor& weight, const torch::Tensor& items,
                                 const torch::Tensor& offsets, bool sparse);

}  // namespace dnnrec
