// Batches assembled from compact columns and the shared feature tables, one pass per column.
#include "data/batch.h"

#include <algorithm>
#include <numeric>

#include "dnnrec/error.h"

namespace dnnrec {
namespace {

// The id columns that have a member of their own, in the order Batch::map visits them.
struct Member {
  const char* name;
  torch::Tensor Batch::*tensor;
};
constexpr Member kMembers[] = {{"user", &Batch::user}, {"movie", &Batch::movie},
                               {"year", &Batch::year}, {"genres", &Batch::genres},
                               {"tags", &Batch::tags}, {"history", &Batch::history}};

// The column `name` of b (const or not), or nullptr.
template <class B>
auto find_column(B& b, const std::string& name) -> decltype(&b.user) {
  for (const Member& m : kMembers) {
    if (name == m.name) return &(b.*m.tensor);
  }
  for (auto& [key, tensor] : b.more) {
    if (key == name) return &tensor;
  }
  return nullptr;
}

}  // namespace

const torch::Tensor& Batch::column(const std::string& name) const {
  if (const torch::Tensor* found = find_column(*this, name)) return *found;
  throw Error("batch has no column '" + name + "'");
}

torch::Tensor& Batch::column(const std::string& name) {
  if (torch::Tensor* found = find_column(*this, name)) return *found;
  return more.emplace_back(name, torch::Tensor()).second;
}

Batch Batch::map(const std::function<torch::Tensor(const torch::Tensor&)>& fn) const {
  Batch b;
  for (const Member& m : kMembers) b.*m.tensor = fn(this->*m.tensor);
  for (const auto& [name, tensor] : more) b.more.emplace_back(name, fn(tensor));
  b.target = fn(target);
  return b;
}

Batch Batch::slice(int64_t begin, int64_t end) const {
  return map([&](const torch::Tensor& t) { return t.slice(0, begin, end); });
}

TensorData::TensorData(Columns columns, const std::string& task, double like_threshold,
                       torch::Device device)
    : columns_(std::move(columns)), targets_(columns_.rating), device_(device) {
  if (task == "binary") {
    for (float& t : targets_) t = t >= like_threshold ? 1.0f : 0.0f;
  }
}

Batch TensorData::assemble(const int64_t* rows, int64_t n) const {
  const auto ids = torch::TensorOptions(torch::kLong);
  Batch b;
  for (const BatchColumn& column : batch_columns()) {
    torch::Tensor t = column.length ? torch::empty({n, column.length(*columns_.tables)}, ids)
                                    : torch::empty({n}, ids);
    column.fill(columns_, rows, n, t.data_ptr<int64_t>());
    b.column(column.name) = std::move(t);
  }
  b.target = torch::empty({n}, torch::TensorOptions(torch::kFloat));
  float* target = b.target.data_ptr<float>();
  for (int64_t i = 0; i < n; ++i) target[i] = targets_[rows[i]];
  if (device_.is_cpu()) return b;
  return b.map([this](const torch::Tensor& t) { return t.to(device_, /*non_blocking=*/true); });
}

Batch TensorData::gather(const int64_t* rows, int64_t n) const {
  for (int64_t i = 0; i < n; ++i) {
    TORCH_CHECK(rows[i] >= 0 && rows[i] < size(), "example ", rows[i], " out of range");
  }
  return assemble(rows, n);
}

Batch TensorData::gather(const torch::Tensor& index) const {
  torch::Tensor rows = index.to(torch::kCPU, torch::kLong).contiguous();
  return gather(rows.data_ptr<int64_t>(), rows.numel());
}

Batch TensorData::slice(int64_t begin, int64_t end) const {
  begin = std::clamp<int64_t>(begin, 0, size());
  end = std::clamp<int64_t>(end, begin, size());
  std::vector<int64_t> rows(end - begin);
  std::iota(rows.begin(), rows.end(), begin);
  return assemble(rows.data(), end - begin);
}

}  // namespace dnnrec
