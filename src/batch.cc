// Batches assembled from compact columns and the shared feature tables in one pass.
#include "dnnrec/batch.h"

#include <algorithm>

namespace dnnrec {

TensorData::TensorData(Columns columns, const std::string& task, double like_threshold,
                       torch::Device device)
    : columns_(std::move(columns)), targets_(columns_.rating), device_(device) {
  if (task == "binary") {
    for (float& t : targets_) t = t >= like_threshold ? 1.0f : 0.0f;
  }
}

template <class RowAt>
Batch TensorData::assemble(int64_t n, RowAt row_at) const {
  const Columns& c = columns_;
  const FeatureTables& t = *c.tables;
  const auto ids = torch::TensorOptions(torch::kLong);
  Batch b;
  b.user = torch::empty({n}, ids);
  b.movie = torch::empty({n}, ids);
  b.year = torch::empty({n}, ids);
  b.genres = torch::empty({n, t.genre_len}, ids);
  b.tags = torch::empty({n, t.tag_len}, ids);
  b.history = torch::empty({n, t.history_len}, ids);
  b.target = torch::empty({n}, torch::TensorOptions(torch::kFloat));
  int64_t* user = b.user.data_ptr<int64_t>();
  int64_t* movie = b.movie.data_ptr<int64_t>();
  int64_t* year = b.year.data_ptr<int64_t>();
  int64_t* genres = b.genres.data_ptr<int64_t>();
  int64_t* tags = b.tags.data_ptr<int64_t>();
  int64_t* history = b.history.data_ptr<int64_t>();
  float* target = b.target.data_ptr<float>();
  for (int64_t i = 0; i < n; ++i) {
    const int64_t r = row_at(i);
    const int64_t item = c.item[r];
    user[i] = c.user[r];
    movie[i] = c.movie[r];
    year[i] = t.year[item];
    std::copy_n(t.genres.data() + item * t.genre_len, t.genre_len, genres + i * t.genre_len);
    std::copy_n(t.tags.data() + item * t.tag_len, t.tag_len, tags + i * t.tag_len);
    t.history(c.user[r], c.history[r], c.exclude[r], history + i * t.history_len);
    target[i] = targets_[r];
  }
  if (device_.is_cpu()) return b;
  for (torch::Tensor* field :
       {&b.user, &b.movie, &b.year, &b.genres, &b.tags, &b.history, &b.target}) {
    *field = field->to(device_, /*non_blocking=*/true);
  }
  return b;
}

Batch TensorData::gather(const int64_t* rows, int64_t n) const {
  for (int64_t i = 0; i < n; ++i) {
    TORCH_CHECK(rows[i] >= 0 && rows[i] < size(), "example ", rows[i], " out of range");
  }
  return assemble(n, [rows](int64_t i) { return rows[i]; });
}

Batch TensorData::gather(const torch::Tensor& index) const {
  torch::Tensor rows = index.to(torch::kCPU, torch::kLong).contiguous();
  return gather(rows.data_ptr<int64_t>(), rows.numel());
}

Batch TensorData::slice(int64_t begin, int64_t end) const {
  begin = std::clamp<int64_t>(begin, 0, size());
  end = std::clamp<int64_t>(end, begin, size());
  return assemble(end - begin, [begin](int64_t i) { return begin + i; });
}

Batch Batch::slice(int64_t begin, int64_t end) const {
  Batch b;
  b.user = user.slice(0, begin, end);
  b.movie = movie.slice(0, begin, end);
  b.year = year.slice(0, begin, end);
  b.genres = genres.slice(0, begin, end);
  b.tags = tags.slice(0, begin, end);
  b.history = history.slice(0, begin, end);
  b.target = target.slice(0, begin, end);
  return b;
}

}  // namespace dnnrec
