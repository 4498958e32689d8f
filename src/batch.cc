// Column tensors and batch cutting: one index_select per column, never example by example.
#include "dnnrec/batch.h"

namespace dnnrec {
namespace {

torch::Tensor to_tensor(const std::vector<int64_t>& values, int64_t rows, int64_t width,
                        torch::Device device) {
  auto sizes = width < 0 ? std::vector<int64_t>{rows} : std::vector<int64_t>{rows, width};
  if (values.empty()) return torch::zeros(sizes, torch::kLong).to(device);
  return torch::from_blob(const_cast<int64_t*>(values.data()), sizes, torch::kLong)
      .to(device, /*non_blocking=*/false, /*copy=*/true);
}

}  // namespace

TensorData::TensorData(const Columns& c, const std::string& task, double like_threshold,
                       torch::Device device)
    : device_(device) {
  const int64_t n = c.rows;
  auto width = [n](const std::vector<int64_t>& v) {
    return n == 0 ? int64_t{0} : static_cast<int64_t>(v.size()) / n;
  };
  all_.user = to_tensor(c.user, n, -1, device);
  all_.movie = to_tensor(c.movie, n, -1, device);
  all_.year = to_tensor(c.year, n, -1, device);
  all_.genres = to_tensor(c.genres, n, width(c.genres), device);
  all_.tags = to_tensor(c.tags, n, width(c.tags), device);
  all_.history = to_tensor(c.history, n, width(c.history), device);
  torch::Tensor rating =
      torch::from_blob(const_cast<float*>(c.rating.data()), {n}, torch::kFloat).clone();
  if (task == "binary") rating = (rating >= like_threshold).to(torch::kFloat);
  all_.target = rating.to(device);
}

Batch TensorData::gather(const torch::Tensor& index) const {
  Batch b;
  b.user = all_.user.index_select(0, index);
  b.movie = all_.movie.index_select(0, index);
  b.year = all_.year.index_select(0, index);
  b.genres = all_.genres.index_select(0, index);
  b.tags = all_.tags.index_select(0, index);
  b.history = all_.history.index_select(0, index);
  b.target = all_.target.index_select(0, index);
  return b;
}

Batch TensorData::slice(int64_t begin, int64_t end) const {
  Batch b;
  b.user = all_.user.slice(0, begin, end);
  b.movie = all_.movie.slice(0, begin, end);
  b.year = all_.year.slice(0, begin, end);
  b.genres = all_.genres.slice(0, begin, end);
  b.tags = all_.tags.slice(0, begin, end);
  b.history = all_.history.slice(0, begin, end);
  b.target = all_.target.slice(0, begin, end);
  return b;
}

std::vector<float> TensorData::targets() const {
  torch::Tensor t = all_.target.to(torch::kCPU).contiguous();
  return std::vector<float>(t.data_ptr<float>(), t.data_ptr<float>() + t.numel());
}

}  // namespace dnnrec
