// Embedding lookups and their gradients as single passes over the ids (see embedding_ops.h).
#include "models/embedding_ops.h"

#include <ATen/Parallel.h>

#include <algorithm>
#include <vector>

#include "base/simd.h"

namespace dnnrec {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// The hand-written kernels cover float tables on the CPU; elsewhere torch's own ops run.
bool fast_path(const torch::Tensor& weight, const torch::Tensor& ids) {
  return weight.device().is_cpu() && ids.device().is_cpu() && weight.dim() == 2 &&
         weight.scalar_type() == torch::kFloat && ids.scalar_type() == torch::kLong;
}

void check_id(int64_t id, int64_t rows) {
  TORCH_CHECK_INDEX(id >= 0 && id < rows, "embedding id ", id, " is out of range for a table of ",
                    rows, " rows");
}

// The gradient of `rows` rows of width `dim` from one value row per id: a COO tensor of the
// entries as they are, or their sum into a dense table.
torch::Tensor table_gradient(const torch::Tensor& index, const torch::Tensor& values, int64_t rows,
                             bool sparse) {
  const int64_t dim = values.size(1);
  if (sparse) {
    return at::_sparse_coo_tensor_unsafe(index.reshape({1, -1}), values, {rows, dim});
  }
  return torch::zeros({rows, dim}, values.options()).index_add_(0, index, values);
}

// Sums the rows of src at each bag's non-zero ids into dst (zeroed), divides by their
// count, and stores the count. The rows are scattered over the table, so each is fetched a
// couple of ids ahead. Vectorised along the row; simd.h picks the copy.
static inline __attribute__((always_inline)) void pool_rows_body(const float* __restrict src,
                                                                 const int64_t* __restrict id,
                                                                 int64_t bags, int64_t width,
                                                                 int64_t dim, float* __restrict dst,
                                                                 float* __restrict count) {
  for (int64_t b = 0; b < bags; ++b) {
    float* __restrict o = dst + b * dim;
    const int64_t* ids = id + b * width;
    int64_t k = 0;
    for (int64_t l = 0; l < width; ++l) {
      if (l + 2 < width) __builtin_prefetch(src + ids[l + 2] * dim);
      if (ids[l] == 0) continue;
      const float* __restrict row = src + ids[l] * dim;
      for (int64_t d = 0; d < dim; ++d) o[d] += row[d];
      ++k;
    }
    count[b] = static_cast<float>(k);
    if (k > 1) {
      const float c = static_cast<float>(k);
      for (int64_t d = 0; d < dim; ++d) o[d] /= c;
    }
  }
}
DNNREC_SIMD_KERNEL(void, pool_rows,
                   (const float* src, const int64_t* id, int64_t bags, int64_t width, int64_t dim,
                    float* dst, float* count),
                   (src, id, bags, width, dim, dst, count))

class Rows : public torch::autograd::Function<Rows> {
 public:
  static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& weight,
                               const torch::Tensor& ids, bool sparse) {
    const torch::Tensor flat = ids.reshape({-1}).contiguous();
    const int64_t rows = weight.size(0), dim = weight.size(1), n = flat.numel();
    const int64_t* id = flat.data_ptr<int64_t>();
    const torch::Tensor w = weight.contiguous();
    const float* src = w.data_ptr<float>();
    torch::Tensor out = torch::empty({n, dim}, weight.options());
    float* dst = out.data_ptr<float>();
    for (int64_t i = 0; i < n; ++i) {
      check_id(id[i], rows);
      std::copy_n(src + id[i] * dim, dim, dst + i * dim);
    }
    ctx->saved_data["ids"] = flat;
    ctx->saved_data["rows"] = rows;
    ctx->saved_data["sparse"] = sparse;
    std::vector<int64_t> sizes = ids.sizes().vec();
    sizes.push_back(dim);
    return out.view(sizes);
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const torch::Tensor ids = ctx->saved_data["ids"].toTensor();
    const int64_t rows = ctx->saved_data["rows"].toInt();
    const int64_t n = ids.numel();
    torch::Tensor values = grads[0].reshape({n, -1}).to(torch::kFloat).contiguous();
    const int64_t* id = ids.data_ptr<int64_t>();
    if (std::find(id, id + n, 0) != id + n) {  // padding rows get no gradient
      values = values.clone();
      const int64_t dim = values.size(1);
      float* v = values.data_ptr<float>();
      for (int64_t i = 0; i < n; ++i) {
        if (id[i] == 0) std::fill_n(v + i * dim, dim, 0.0f);
      }
    }
    return {table_gradient(ids, values, rows, ctx->saved_data["sparse"].toBool()), {}, {}};
  }
};

class Mean : public torch::autograd::Function<Mean> {
 public:
  static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& weight,
                               const torch::Tensor& ids_in, bool sparse) {
    const torch::Tensor ids = ids_in.contiguous();
    const int64_t rows = weight.size(0), dim = weight.size(1);
    const int64_t bags = ids.size(0), width = ids.size(1);
    const torch::Tensor w = weight.contiguous();
    const float* src = w.data_ptr<float>();
    const int64_t* id = ids.data_ptr<int64_t>();
    torch::Tensor out = torch::zeros({bags, dim}, weight.options());
    torch::Tensor counts = torch::empty({bags}, torch::kFloat);
    float* dst = out.data_ptr<float>();
    float* count = counts.data_ptr<float>();
    for (int64_t i = 0; i < bags * width; ++i) check_id(id[i], rows);
    at::parallel_for(0, bags, 256, [&](int64_t begin, int64_t end) {
      pool_rows(src, id + begin * width, end - begin, width, dim, dst + begin * dim, count + begin);
    });
    ctx->saved_data["ids"] = ids;
    ctx->saved_data["counts"] = counts;
    ctx->saved_data["rows"] = rows;
    ctx->saved_data["sparse"] = sparse;
    return out;
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const torch::Tensor ids = ctx->saved_data["ids"].toTensor();
    const torch::Tensor counts = ctx->saved_data["counts"].toTensor();
    const int64_t rows = ctx->saved_data["rows"].toInt();
    const torch::Tensor g = grads[0].to(torch::kFloat).contiguous();
    const int64_t bags = ids.size(0), width = ids.size(1), dim = g.size(1);
    const int64_t* id = ids.data_ptr<int64_t>();
    const float* count = counts.data_ptr<float>();
    const float* grad = g.data_ptr<float>();
    int64_t entries = 0;
    for (int64_t b = 0; b < bags; ++b) entries += static_cast<int64_t>(count[b]);
    torch::Tensor index = torch::empty({entries}, torch::kLong);
    torch::Tensor values = torch::empty({entries, dim}, torch::kFloat);
    int64_t* out_id = index.data_ptr<int64_t>();
    float* out = values.data_ptr<float>();
    int64_t e = 0;
    for (int64_t b = 0; b < bags; ++b) {
      if (count[b] == 0) continue;
      const float* gb = grad + b * dim;
      const float c = count[b];
      float* first = out + e * dim;
      for (int64_t d = 0; d < dim; ++d) first[d] = gb[d] / c;
      for (int64_t l = 0; l < width; ++l) {
        const int64_t i = id[b * width + l];
        if (i == 0) continue;
        out_id[e] = i;
        if (out + e * dim != first) std::copy_n(first, dim, out + e * dim);
        ++e;
      }
    }
    return {table_gradient(index, values, rows, ctx->saved_data["sparse"].toBool()), {}, {}};
  }
};

// Bags of a CSR list (items, offsets), no padding: forward pools in parallel over bags; the
// backward sums each distinct id's share into one gradient row.
class BagMean : public torch::autograd::Function<BagMean> {
 public:
  static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& weight,
                               const torch::Tensor& items_in, const torch::Tensor& offsets_in,
                               bool sparse) {
    const torch::Tensor items = items_in.contiguous(), offsets = offsets_in.contiguous();
    const int64_t rows = weight.size(0), dim = weight.size(1);
    const int64_t bags = offsets.size(0), n = items.numel();
    const int64_t* id = items.data_ptr<int64_t>();
    const int64_t* start = offsets.data_ptr<int64_t>();
    for (int64_t i = 0; i < n; ++i) check_id(id[i], rows);
    for (int64_t b = 0; b < bags; ++b) {
      const int64_t end = b + 1 < bags ? start[b + 1] : n;
      TORCH_CHECK(start[b] >= 0 && start[b] <= end && end <= n,
                  "embedding_bag_mean: offsets must rise from 0 to at most ", n);
    }
    const torch::Tensor w = weight.contiguous();
    const float* src = w.data_ptr<float>();
    torch::Tensor out = torch::zeros({bags, dim}, weight.options());
    float* dst = out.data_ptr<float>();
    at::parallel_for(0, bags, 64, [&](int64_t first, int64_t last) {
      for (int64_t b = first; b < last; ++b) {
        const int64_t begin = start[b], end = b + 1 < bags ? start[b + 1] : n;
        float* o = dst + b * dim;
        for (int64_t j = begin; j < end; ++j) {
          if (j + 2 < end) __builtin_prefetch(src + id[j + 2] * dim);
          const float* row = src + id[j] * dim;
          for (int64_t d = 0; d < dim; ++d) o[d] += row[d];
        }
        if (end - begin > 1) {
          const float c = static_cast<float>(end - begin);
          for (int64_t d = 0; d < dim; ++d) o[d] /= c;
        }
      }
    });
    ctx->saved_data["items"] = items;
    ctx->saved_data["offsets"] = offsets;
    ctx->saved_data["rows"] = rows;
    ctx->saved_data["sparse"] = sparse;
    return out;
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const torch::Tensor items = ctx->saved_data["items"].toTensor();
    const torch::Tensor offsets = ctx->saved_data["offsets"].toTensor();
    const int64_t rows = ctx->saved_data["rows"].toInt();
    const torch::Tensor g = grads[0].to(torch::kFloat).contiguous();
    const int64_t bags = offsets.size(0), n = items.numel(), dim = g.size(1);
    const int64_t* id = items.data_ptr<int64_t>();
    const int64_t* start = offsets.data_ptr<int64_t>();
    const float* grad = g.data_ptr<float>();
    // Each distinct id gets a slot, in order of first appearance.
    std::vector<int64_t> slot(static_cast<size_t>(rows), -1);
    std::vector<int64_t> ids;
    for (int64_t j = 0; j < n; ++j) {
      int64_t& s = slot[static_cast<size_t>(id[j])];
      if (s < 0) {
        s = static_cast<int64_t>(ids.size());
        ids.push_back(id[j]);
      }
    }
    const auto distinct = static_cast<int64_t>(ids.size());
    torch::Tensor values = torch::zeros({distinct, dim}, torch::kFloat);
    float* acc = values.data_ptr<float>();
    std::vector<float> share(static_cast<size_t>(dim));
    for (int64_t b = 0; b < bags; ++b) {
      const int64_t begin = start[b], end = b + 1 < bags ? start[b + 1] : n;
      if (end == begin) continue;
      const float c = static_cast<float>(end - begin);
      for (int64_t d = 0; d < dim; ++d) share[static_cast<size_t>(d)] = grad[b * dim + d] / c;
      for (int64_t j = begin; j < end; ++j) {
        float* row = acc + slot[static_cast<size_t>(id[j])] * dim;
        for (int64_t d = 0; d < dim; ++d) row[d] += share[static_cast<size_t>(d)];
      }
    }
    const torch::Tensor index = torch::tensor(ids, torch::kLong);
    return {table_gradient(index, values, rows, ctx->saved_data["sparse"].toBool()), {}, {}, {}};
  }
};

}  // namespace

torch::Tensor embedding_rows(const torch::Tensor& weight, const torch::Tensor& ids, bool sparse) {
  if (!fast_path(weight, ids)) {
    return torch::embedding(weight, ids, /*padding_idx=*/0, /*scale_grad_by_freq=*/false, sparse);
  }
  return Rows::apply(weight, ids, sparse);
}

torch::Tensor embedding_mean(const torch::Tensor& weight, const torch::Tensor& ids, bool sparse) {
  TORCH_CHECK(ids.dim() == 2, "embedding_mean: ids must be [bags, length], not ", ids.sizes());
  if (!fast_path(weight, ids)) {
    const int64_t bags = ids.size(0), width = ids.size(1);
    if (width == 0) return torch::zeros({bags, weight.size(1)}, weight.options());
    torch::Tensor offsets = torch::arange(0, bags * width, width, ids.options());
    return std::get<0>(torch::embedding_bag(weight, ids.reshape({-1}), offsets,
                                            /*scale_grad_by_freq=*/false, /*mode=*/1, sparse,
                                            /*per_sample_weights=*/{},
                                            /*include_last_offset=*/false, /*padding_idx=*/0));
  }
  return Mean::apply(weight, ids, sparse);
}

torch::Tensor embedding_bag_mean(const torch::Tensor& weight, const torch::Tensor& items,
                                 const torch::Tensor& offsets, bool sparse) {
  TORCH_CHECK(items.dim() == 1 && offsets.dim() == 1,
              "embedding_bag_mean: items and offsets must be 1-d");
  if (!fast_path(weight, items) || offsets.scalar_type() != torch::kLong) {
    return std::get<0>(torch::embedding_bag(weight, items, offsets, /*scale_grad_by_freq=*/false,
                                            /*mode=*/1, sparse));
  }
  return BagMean::apply(weight, items, offsets, sparse);
}

}  // namespace dnnrec
