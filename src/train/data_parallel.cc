// Data-parallel training: shares of batches, rank 0's start, the gradient exchange after each
// batch, validation over the ranks and the final weights check.
#include "train/data_parallel.h"

#include <algorithm>
#include <sstream>

#include "base/hash.h"
#include "dnnrec/error.h"
#include "train/distributed.h"
#include "train/optimizer.h"

namespace dnnrec {

uint64_t weights_hash(const torch::nn::Module& model) {
  uint64_t hash = kFnv1aOffset;
  for (const auto& p : model.parameters()) {
    const torch::Tensor t = p.detach().to(torch::kCPU).contiguous();
    hash = fnv1a(t.data_ptr(), t.nbytes(), hash);
  }
  return hash;
}

void check_same_weights(const std::vector<std::string>& digests) {
  for (const auto& d : digests) {
    if (d != digests.front()) {
      throw DistributedError("the ranks' weights differ after training (digests " +
                             digests.front() + " and " + d +
                             "): the ranks did not apply the same updates");
    }
  }
}

DataParallel::DataParallel(ProcessGroup& group, const torch::nn::Module& model,
                           std::vector<torch::Tensor> params)
    : group_(group), params_(std::move(params)) {
  std::vector<torch::Tensor> tables;
  for (const auto& module : model.modules(/*include_self=*/false)) {
    if (auto* table = dynamic_cast<torch::nn::EmbeddingImpl*>(module.get())) {
      tables.push_back(table->weight);
    }
  }
  for (const auto& p : params_) {
    is_table_.push_back(std::any_of(tables.begin(), tables.end(),
                                    [&](const torch::Tensor& t) { return t.is_same(p); }));
  }
}

int DataParallel::rank() const { return group_.rank(); }

int DataParallel::world_size() const { return group_.world_size(); }

BatchShare DataParallel::share_of_batch(int64_t begin, int64_t size,
                                        const std::function<int(int64_t)>& slices) const {
  const int world = group_.world_size(), rank = group_.rank();
  BatchShare share;
  share.begin = begin + size * rank / world;
  share.end = begin + size * (rank + 1) / world;
  for (int q = 0; q < rank; ++q) {
    const int64_t part = size * (q + 1) / world - size * q / world;
    if (part > 0) share.first_slice += slices(part);
  }
  return share;
}

std::string DataParallel::synchronize_start(torch::nn::Module& model, ModelOptimizer& optimizer,
                                            const std::string& start) {
  torch::NoGradGuard no_grad;
  std::vector<torch::Tensor> tensors;
  for (const auto& p : model.parameters()) tensors.push_back(p);
  for (const auto& b : model.buffers()) tensors.push_back(b);
  group_.broadcast(tensors);
  std::string optimizer_bytes;
  if (group_.rank() == 0) {
    torch::serialize::OutputArchive archive;
    optimizer.save(archive);
    std::ostringstream out;
    archive.save_to(out);
    optimizer_bytes = out.str();
  }
  optimizer_bytes = group_.broadcast_bytes(optimizer_bytes);
  if (group_.rank() != 0) {
    std::istringstream in(optimizer_bytes);
    torch::serialize::InputArchive archive;
    archive.load_from(in);
    optimizer.load(archive);
  }
  return group_.broadcast_bytes(group_.rank() == 0 ? start : "");
}

struct DataParallel::Local {
  std::vector<torch::Tensor> dense;  ///< per dense parameter: its slices' sum (zeros if none)
  std::vector<size_t> dense_of;      ///< the parameter of each dense entry
  /// loss, interrupt flag, then per parameter: whether this rank has a gradient for it.
  torch::Tensor scalars;
  std::vector<size_t> tables;                           ///< the table parameters
  std::vector<int64_t> counts;                          ///< per table: the rows this rank has
  std::vector<torch::Tensor> index_parts, value_parts;  ///< their rows and values, in order
};

DataParallel::Local DataParallel::pack(const std::vector<std::vector<torch::Tensor>>& grads,
                                       double loss, bool interrupted) const {
  const size_t count = params_.size();
  Local local;
  local.scalars = torch::zeros({static_cast<int64_t>(2 + count)}, torch::kDouble);
  auto* scalar = local.scalars.data_ptr<double>();
  scalar[0] = loss;
  scalar[1] = interrupted ? 1.0 : 0.0;
  for (size_t i = 0; i < count; ++i) {
    if (is_table_[i]) {
      local.tables.push_back(i);
      int64_t n = 0;
      for (const auto& part : grads) {
        if (i >= part.size() || !part[i].defined()) continue;
        scalar[2 + i] = 1.0;
        torch::Tensor g = part[i];
        if (!g.is_sparse()) g = g.to_sparse();
        const torch::Tensor index = g._indices().reshape({-1});
        local.index_parts.push_back(index);
        local.value_parts.push_back(g._values().to(torch::kFloat).reshape({-1}));
        n += index.numel();
      }
      local.counts.push_back(n);
      continue;
    }
    torch::Tensor sum;
    for (const auto& part : grads) {
      if (i >= part.size() || !part[i].defined()) continue;
      scalar[2 + i] = 1.0;
      const torch::Tensor g = part[i].is_sparse() ? part[i].to_dense() : part[i];
      sum = sum.defined() ? sum + g : g.to(torch::kFloat).contiguous().clone();
    }
    local.dense.push_back(sum.defined() ? sum : torch::zeros_like(params_[i]));
    local.dense_of.push_back(i);
  }
  return local;
}

DataParallel::Reduced DataParallel::reduce_gradients(std::vector<std::vector<torch::Tensor>>& grads,
                                                     double loss, bool interrupted) {
  torch::NoGradGuard no_grad;
  // Dense parameters: each rank adds its slices' parts, and one allreduce adds the ranks'.
  // Embedding tables: their sparse parts (rows and values, uncoalesced, in slice order) are
  // gathered from every rank in rank order, so the optimizer reads exactly the parts one
  // process would have had: the same rows, summed in the same order, the same bits. This
  // costs what the batch touched, not the size of the tables.
  Local local = pack(grads, loss, interrupted);
  local.dense.push_back(local.scalars);
  group_.allreduce_sum(local.dense);
  const double* scalar = local.scalars.data_ptr<double>();
  // One gather of every table's rows (after a header of per-table counts), one of the values.
  torch::Tensor local_index = torch::tensor(local.counts, torch::kLong);
  if (!local.index_parts.empty()) {
    local.index_parts.insert(local.index_parts.begin(), local_index);
    local_index = torch::cat(local.index_parts);
  }
  const torch::Tensor local_values =
      local.value_parts.empty() ? torch::empty({0}, torch::kFloat) : torch::cat(local.value_parts);
  const std::vector<torch::Tensor> all_index = group_.allgather(local_index);
  const std::vector<torch::Tensor> all_values = group_.allgather(local_values);

  std::vector<torch::Tensor> reduced(params_.size());
  for (size_t k = 0; k < local.dense_of.size(); ++k) {
    if (scalar[2 + local.dense_of[k]] > 0) reduced[local.dense_of[k]] = local.dense[k];
  }
  const std::vector<size_t>& tables = local.tables;
  std::vector<std::vector<torch::Tensor>> rows(tables.size()), values(tables.size());
  for (size_t q = 0; q < all_index.size(); ++q) {
    const int64_t* header = all_index[q].data_ptr<int64_t>();
    int64_t at = static_cast<int64_t>(tables.size()), value_at = 0;
    for (size_t t = 0; t < tables.size(); ++t) {
      const int64_t n = header[t];
      const int64_t dim = params_[tables[t]].size(1);
      rows[t].push_back(all_index[q].narrow(0, at, n));
      values[t].push_back(all_values[q].narrow(0, value_at, n * dim).view({n, dim}));
      at += n;
      value_at += n * dim;
    }
  }
  for (size_t t = 0; t < tables.size(); ++t) {
    const size_t i = tables[t];
    if (scalar[2 + i] <= 0) continue;
    reduced[i] = torch::sparse_coo_tensor(torch::cat(rows[t]).unsqueeze(0), torch::cat(values[t]),
                                          params_[i].sizes());
  }
  grads = {reduced};
  return {scalar[0], scalar[1] > 0};
}

std::pair<int64_t, int64_t> DataParallel::share_of(int64_t n) const {
  const int world = group_.world_size(), rank = group_.rank();
  return {n * rank / world, n * (rank + 1) / world};
}

torch::Tensor DataParallel::gather_predictions(const torch::Tensor& mine) {
  return group_.allgather_cat(mine.to(torch::kCPU).to(torch::kFloat));
}

std::vector<std::string> DataParallel::weight_digests(const torch::nn::Module& model) {
  const uint64_t hash = weights_hash(model);
  const torch::Tensor all =
      group_.allgather_cat(torch::tensor({static_cast<int64_t>(hash)}, torch::kLong));
  std::vector<std::string> digests;
  for (int64_t q = 0; q < all.numel(); ++q) {
    digests.push_back(hex64(static_cast<uint64_t>(all[q].item<int64_t>())));
  }
  return digests;
}

}  // namespace dnnrec
