// The training loop: shuffled permutation, one gather per column per batch, callbacks.
#include "dnnrec/trainer.h"

#include <ATen/CPUGeneratorImpl.h>
#include <spdlog/spdlog.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <numeric>
#include <sstream>

#include "dnnrec/distributed.h"
#include "dnnrec/error.h"
#include "dnnrec/metrics.h"
#include "dnnrec/random.h"
#include "dnnrec/runtime.h"
#include "dnnrec/signals.h"
#include "hash.h"

namespace dnnrec {
namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

std::vector<float> to_vector(const torch::Tensor& t) {
  torch::Tensor c = t.to(torch::kCPU, torch::kFloat).contiguous();
  return std::vector<float>(c.data_ptr<float>(), c.data_ptr<float>() + c.numel());
}

}  // namespace

Trainer::Trainer(RecModel model, const Config& config, torch::Device device)
    : model_(std::move(model)),
      config_(config),
      device_(device),
      loss_name_(config.effective_loss()),
      current_lr_(config.train.lr) {
  model_->to(device_);
  optimizer_ = std::make_unique<ModelOptimizer>(config_.train, *model_);
  params_ = model_->parameters();
  model_->track_penalty(config_.train.embedding_l2 > 0);
  dropout_seed_ =
      static_cast<uint64_t>(torch::randint(INT64_MAX, {1}, torch::kLong).item<int64_t>());
}

namespace {

// torch's CPU generator state as hex text, and back (the generator behind randperm).
std::string generator_state() {
  auto gen = at::detail::getDefaultCPUGenerator();
  std::lock_guard<std::mutex> lock(gen.mutex());
  torch::Tensor state = gen.get_state();
  const uint8_t* p = state.data_ptr<uint8_t>();
  static const char* digits = "0123456789abcdef";
  std::string text;
  for (int64_t i = 0; i < state.numel(); ++i) {
    text += digits[p[i] >> 4];
    text += digits[p[i] & 15];
  }
  return text;
}

void set_generator_state(const std::string& text) {
  if (text.size() % 2 != 0) throw CheckpointError("resume state: bad generator state");
  torch::Tensor state = torch::empty({static_cast<int64_t>(text.size() / 2)}, torch::kUInt8);
  uint8_t* p = state.data_ptr<uint8_t>();
  auto nibble = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    throw CheckpointError("resume state: bad generator state");
  };
  for (size_t i = 0; i < text.size() / 2; ++i) {
    p[i] = static_cast<uint8_t>(nibble(text[2 * i]) * 16 + nibble(text[2 * i + 1]));
  }
  auto gen = at::detail::getDefaultCPUGenerator();
  std::lock_guard<std::mutex> lock(gen.mutex());
  gen.set_state(state);
}

}  // namespace

std::string Trainer::resume_state() const {
  nlohmann::json j;
  // After an epoch has ended the next fit starts the next epoch, whose shuffle comes from the
  // generator as it is now; within an epoch it repeats this epoch's shuffle and skips the
  // batches already done.
  if (epoch_ended_) {
    j["epoch"] = state_.epoch + 1;
    j["batch"] = 0;
    j["loss_sum"] = 0.0;
    j["seen"] = 0;
    j["rng"] = generator_state();
  } else {
    j["epoch"] = state_.epoch;
    j["batch"] = state_.batch;
    j["loss_sum"] = epoch_loss_sum_;
    j["seen"] = epoch_seen_;
    j["rng"] = epoch_rng_str_;
  }
  j["step"] = state_.step;
  // An interrupt's stop is not part of the run; early stopping's is, once its epoch ended.
  j["stop_requested"] = epoch_ended_ && state_.stop_requested;
  j["elapsed_seconds"] = state_.elapsed_seconds;
  j["dropout_seed"] = std::to_string(dropout_seed_);
  j["lr"] = current_lr_;
  j["schedule"] = schedule_.save_state();
  return j.dump();
}

void Trainer::resume(const std::string& state) {
  if (!nlohmann::json::accept(state)) {  // fail now, not in fit
    throw CheckpointError("resume state is not valid JSON");
  }
  resume_ = state;
}

void Trainer::set_lr(double lr) {
  current_lr_ = lr;
  optimizer_->set_lr(lr);
}

torch::Tensor Trainer::loss(const torch::Tensor& output, const torch::Tensor& target) const {
  return loss_sum(output, target) / static_cast<double>(output.numel());
}

torch::Tensor Trainer::loss_sum(const torch::Tensor& output, const torch::Tensor& target) const {
  if (loss_name_ == "mse") return torch::mse_loss(output, target, at::Reduction::Sum);
  if (loss_name_ == "huber") {
    return torch::huber_loss(output, target, at::Reduction::Sum, config_.train.huber_delta);
  }
  if (loss_name_ == "bce") {
    return torch::binary_cross_entropy_with_logits(output, target, {}, {}, at::Reduction::Sum);
  }
  throw ConfigError("train.loss: unknown loss '" + loss_name_ + "' (mse | huber | bce)");
}

int Trainer::slices(int64_t size) const {
  // Batch norm needs the whole batch's statistics, and its running averages are not
  // thread-safe; slices below 32 examples cost more in overhead than they gain.
  if (!device_.is_cpu() || config_.model.batch_norm) return 1;
  const int threads = config_.train.threads > 0 ? config_.train.threads : at::get_num_threads();
  return static_cast<int>(std::clamp<int64_t>(size / 32, 1, std::max(threads, 1)));
}

double Trainer::compute_gradients(const TensorData& data, const int64_t* rows, int64_t size,
                                  int64_t total, int first_slice) {
  if (size == 0) {  // a rank's share of a batch smaller than the group
    grads_.clear();
    return 0.0;
  }
  const int n = slices(size);
  const double l2 = config_.train.embedding_l2;
  std::vector<std::vector<torch::Tensor>> grads(n);
  std::vector<double> losses(n, 0.0);
  SplitMix64 seeds(dropout_seed_ ^ (static_cast<uint64_t>(state_.step) * 0x9E3779B97F4A7C15ULL));
  for (int k = 0; k < first_slice; ++k) seeds.next();
  std::vector<uint64_t> slice_seeds(n);
  for (auto& seed : slice_seeds) seed = seeds.next();
  auto run = [&](int k) {
    const int64_t begin = size * k / n, end = size * (k + 1) / n;
    // Each slice assembles its own examples, on its own thread.
    const Batch part = data.gather(rows + begin, end - begin);
    DropoutStream stream(slice_seeds[k]);
    // Each slice's loss is its sum over the whole batch size, so the slices' gradients add up
    // to the gradient of the batch mean; the penalty is scaled the same way.
    torch::Tensor value = loss_sum(model_->forward(part), part.target) / static_cast<double>(total);
    losses[k] = value.item<double>();
    if (l2 > 0) {
      value = value + model_->take_penalty() * (l2 * static_cast<double>(end - begin) / total);
    }
    grads[k] = torch::autograd::grad({value}, params_, {}, /*retain_graph=*/false,
                                     /*create_graph=*/false, /*allow_unused=*/true);
  };
  // Inside the OpenMP team each slice runs single-threaded on its own core.
  parallel_each(n, n, run);
  // The optimizer adds the slices' gradients up in slice order, so a run does not depend on
  // thread timing.
  grads_ = std::move(grads);
  double loss = 0.0;
  for (double value : losses) loss += value;
  return loss;
}

std::vector<torch::Tensor> Trainer::batch_gradient(const TensorData& data, int64_t begin,
                                                   int64_t end, double* loss) {
  TORCH_CHECK(0 <= begin && begin < end && end <= data.size(), "batch_gradient: rows [", begin,
              ", ", end, ") are not within the ", data.size(), " examples");
  std::vector<int64_t> rows(static_cast<size_t>(end - begin));
  std::iota(rows.begin(), rows.end(), begin);
  model_->train();
  const double value = compute_gradients(data, rows.data(), end - begin, end - begin, 0);
  if (loss != nullptr) *loss = value;
  std::vector<torch::Tensor> sum(params_.size());
  for (const auto& part : grads_) {
    for (size_t i = 0; i < part.size(); ++i) {
      if (!part[i].defined()) continue;
      const torch::Tensor dense = part[i].is_sparse() ? part[i].to_dense() : part[i];
      sum[i] = sum[i].defined() ? sum[i] + dense : dense.clone();
    }
  }
  grads_.clear();
  return sum;
}

torch::Tensor Trainer::postprocess(const torch::Tensor& raw) const {
  if (config_.train.task == "binary") return torch::sigmoid(raw);
  return raw.clamp(config_.data.min_rating, config_.data.max_rating);
}

void Trainer::fit(const TensorData& train, const TensorData* val,
                  const std::vector<CallbackPtr>& callbacks) {
  const int64_t n = train.size();
  if (n == 0) throw DataError("training split is empty");
  const int64_t batch_size = config_.train.batch_size;
  state_ = TrainState{};
  state_.epochs = config_.train.epochs;
  state_.train_size = n;
  state_.batches = (n + batch_size - 1) / batch_size;
  schedule_ = LrSchedule(config_, state_.batches);
  int first_epoch = 1;
  int64_t first_batch = 0;
  std::string first_rng;
  double elapsed_before = 0.0;
  interrupted_ = false;
  const int world = group_ != nullptr ? group_->world_size() : 1;
  const int rank = group_ != nullptr ? group_->rank() : 0;
  // In a group every rank starts from rank 0's state, its resume state included.
  if (group_ != nullptr) synchronize_start();
  if (!resume_.empty()) {
    const auto j = nlohmann::json::parse(resume_);
    resume_.clear();
    first_epoch = j.at("epoch").get<int>();
    first_batch = j.at("batch").get<int64_t>();
    first_rng = j.at("rng").get<std::string>();
    state_.step = j.at("step").get<int64_t>();
    state_.stop_requested = j.at("stop_requested").get<bool>();
    elapsed_before = j.at("elapsed_seconds").get<double>();
    dropout_seed_ = std::stoull(j.at("dropout_seed").get<std::string>());
    schedule_.load_state(j.at("schedule").get<std::string>());
    set_lr(j.at("lr").get<double>());
    epoch_loss_sum_ = j.at("loss_sum").get<double>();
    epoch_seen_ = j.at("seen").get<int64_t>();
    if (first_batch > state_.batches) {
      throw CheckpointError("resume state: batch " + std::to_string(first_batch) +
                            " of an epoch of " + std::to_string(state_.batches) +
                            " (different data or batch size)");
    }
  }
  // In a group, an interrupt counts once every rank knows of it (after the batch's reduce);
  // alone, as soon as it comes.
  auto interrupt_seen = [&] {
    return group_ != nullptr ? interrupted_ : interrupt_requested().load();
  };
  const auto fit_start = Clock::now();
  for (auto& cb : callbacks) cb->on_train_begin(*this);
  for (int epoch = first_epoch; epoch <= config_.train.epochs && !state_.stop_requested; ++epoch) {
    state_.epoch = epoch;
    state_.logs.clear();
    epoch_ended_ = false;
    for (auto& cb : callbacks) cb->on_epoch_begin(*this);
    model_->train();
    const auto epoch_start = Clock::now();
    const int64_t skip = epoch == first_epoch ? first_batch : 0;
    if (epoch == first_epoch && !first_rng.empty()) set_generator_state(first_rng);
    epoch_rng_str_ = generator_state();
    torch::Tensor order = config_.train.shuffle
                              ? torch::randperm(n, torch::TensorOptions(torch::kLong))
                              : torch::arange(n, torch::TensorOptions(torch::kLong));

    if (skip == 0) {
      epoch_loss_sum_ = 0.0;
      epoch_seen_ = 0;
    }
    double& loss_sum = epoch_loss_sum_;
    int64_t& seen = epoch_seen_;
    const int64_t seen_before = seen;
    state_.batch = skip;
    state_.running_loss = seen > 0 ? loss_sum / static_cast<double>(seen) : 0.0;
    for (int64_t b = skip; b < state_.batches; ++b) {
      const int64_t begin = b * batch_size;
      const int64_t end = std::min(n, begin + batch_size);
      const int64_t m = end - begin;
      // This rank's share of the batch, and the slices of the shares before it.
      const int64_t lo = begin + m * rank / world, hi = begin + m * (rank + 1) / world;
      int first_slice = 0;
      for (int q = 0; q < rank; ++q) {
        const int64_t share = m * (q + 1) / world - m * q / world;
        if (share > 0) first_slice += slices(share);
      }
      // The embedding penalty joins the gradient, not the reported loss.
      double loss_value =
          compute_gradients(train, order.data_ptr<int64_t>() + lo, hi - lo, m, first_slice);
      if (group_ != nullptr) loss_value = reduce_gradients(loss_value);
      if (!std::isfinite(loss_value)) {
        throw DivergedError("training diverged: loss is " + std::to_string(loss_value) +
                            " at epoch " + std::to_string(epoch) + ", batch " +
                            std::to_string(b + 1) + " (try a lower --lr)");
      }
      set_lr(schedule_.rate(state_.step, epoch));
      optimizer_->step(grads_);
      grads_.clear();
      ++state_.step;
      loss_sum += loss_value * static_cast<double>(end - begin);
      seen += end - begin;
      state_.batch = b + 1;
      state_.batch_loss = loss_value;
      state_.running_loss = loss_sum / static_cast<double>(seen);
      state_.epoch_seconds = seconds_since(epoch_start);
      state_.elapsed_seconds = elapsed_before + seconds_since(fit_start);
      state_.samples_per_sec =
          static_cast<double>(seen - seen_before) / std::max(state_.epoch_seconds, 1e-9);
      for (auto& cb : callbacks) cb->on_batch_end(*this);
      if (interrupt_seen()) state_.stop_requested = true;
      if (state_.stop_requested) break;
    }
    state_.logs["train_loss"] = state_.running_loss;
    state_.logs["lr"] = current_lr_;
    if (val != nullptr && val->size() > 0 && !interrupt_seen()) {
      const auto metrics = group_ != nullptr ? evaluate_in_group(*val) : evaluate(*val);
      for (const auto& [name, value] : metrics) state_.logs["val_" + name] = value;
    }
    state_.elapsed_seconds = elapsed_before + seconds_since(fit_start);
    // An interrupted epoch is not a finished epoch: callbacks do not see it as one.
    if (interrupt_seen()) break;
    auto monitored = state_.logs.find(config_.effective_monitor());
    if (monitored != state_.logs.end()) schedule_.end_epoch(monitored->second);
    epoch_ended_ = true;
    for (auto& cb : callbacks) cb->on_epoch_end(*this);
  }
  if (group_ == nullptr) interrupted_ = interrupt_requested().load();
  compare_weights();
  for (auto& cb : callbacks) cb->on_train_end(*this);
}

void Trainer::synchronize_start() {
  torch::NoGradGuard no_grad;
  std::vector<torch::Tensor> tensors;
  for (const auto& p : model_->parameters()) tensors.push_back(p);
  for (const auto& b : model_->buffers()) tensors.push_back(b);
  group_->broadcast(tensors);
  std::string optimizer_bytes;
  if (group_->rank() == 0) {
    torch::serialize::OutputArchive archive;
    optimizer_->save(archive);
    std::ostringstream out;
    archive.save_to(out);
    optimizer_bytes = out.str();
  }
  optimizer_bytes = group_->broadcast_bytes(optimizer_bytes);
  if (group_->rank() != 0) {
    std::istringstream in(optimizer_bytes);
    torch::serialize::InputArchive archive;
    archive.load_from(in);
    optimizer_->load(archive);
  }
  nlohmann::json start;
  start["resume"] = resume_;
  start["rng"] = generator_state();
  start["dropout_seed"] = std::to_string(dropout_seed_);
  start = nlohmann::json::parse(group_->broadcast_bytes(group_->rank() == 0 ? start.dump() : ""));
  resume_ = start.at("resume").get<std::string>();
  set_generator_state(start.at("rng").get<std::string>());
  dropout_seed_ = std::stoull(start.at("dropout_seed").get<std::string>());
}

double Trainer::reduce_gradients(double loss) {
  const size_t count = params_.size();
  if (is_table_.empty()) {
    std::vector<torch::Tensor> tables;
    for (const auto& module : model_->modules(/*include_self=*/false)) {
      if (auto* table = dynamic_cast<torch::nn::EmbeddingImpl*>(module.get())) {
        tables.push_back(table->weight);
      }
    }
    for (const auto& p : params_) {
      is_table_.push_back(std::any_of(tables.begin(), tables.end(),
                                      [&](const torch::Tensor& t) { return t.is_same(p); }));
    }
  }
  torch::NoGradGuard no_grad;
  // Dense parameters: each rank adds its slices' parts, and one allreduce adds the ranks'.
  // Embedding tables: their sparse parts (rows and values, uncoalesced, in slice order) are
  // gathered from every rank in rank order, so the optimizer reads exactly the parts one
  // process would have had: the same rows, summed in the same order, the same bits. This
  // costs what the batch touched, not the size of the tables.
  std::vector<torch::Tensor> dense;
  std::vector<size_t> dense_of;
  torch::Tensor scalars = torch::zeros({static_cast<int64_t>(2 + count)}, torch::kDouble);
  auto* scalar = scalars.data_ptr<double>();
  scalar[0] = loss;
  scalar[1] = interrupt_requested().load() ? 1.0 : 0.0;
  std::vector<int64_t> counts;  // per table: entries this rank has
  std::vector<torch::Tensor> index_parts, value_parts;
  std::vector<size_t> tables;
  for (size_t i = 0; i < count; ++i) {
    if (is_table_[i]) {
      tables.push_back(i);
      int64_t n = 0;
      for (const auto& part : grads_) {
        if (i >= part.size() || !part[i].defined()) continue;
        scalar[2 + i] = 1.0;
        torch::Tensor g = part[i];
        if (!g.is_sparse()) g = g.to_sparse();
        const torch::Tensor index = g._indices().reshape({-1});
        index_parts.push_back(index);
        value_parts.push_back(g._values().to(torch::kFloat).reshape({-1}));
        n += index.numel();
      }
      counts.push_back(n);
      continue;
    }
    torch::Tensor sum;
    for (const auto& part : grads_) {
      if (i >= part.size() || !part[i].defined()) continue;
      scalar[2 + i] = 1.0;
      const torch::Tensor g = part[i].is_sparse() ? part[i].to_dense() : part[i];
      sum = sum.defined() ? sum + g : g.to(torch::kFloat).contiguous().clone();
    }
    dense.push_back(sum.defined() ? sum : torch::zeros_like(params_[i]));
    dense_of.push_back(i);
  }
  dense.push_back(scalars);
  group_->allreduce_sum(dense);
  // One gather of every table's rows (after a header of per-table counts), one of the values.
  torch::Tensor local_index = torch::tensor(counts, torch::kLong);
  if (!index_parts.empty()) {
    index_parts.insert(index_parts.begin(), local_index);
    local_index = torch::cat(index_parts);
  }
  const torch::Tensor local_values =
      value_parts.empty() ? torch::empty({0}, torch::kFloat) : torch::cat(value_parts);
  const std::vector<torch::Tensor> all_index = group_->allgather(local_index);
  const std::vector<torch::Tensor> all_values = group_->allgather(local_values);

  std::vector<torch::Tensor> reduced(count);
  for (size_t k = 0; k < dense_of.size(); ++k) {
    if (scalar[2 + dense_of[k]] > 0) reduced[dense_of[k]] = dense[k];
  }
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
  grads_ = {reduced};
  if (scalar[1] > 0) {
    interrupted_ = true;
    interrupt_requested().store(true);
  }
  return scalar[0];
}

torch::Tensor Trainer::predict_range(const TensorData& data, int64_t begin, int64_t end) {
  torch::NoGradGuard no_grad;
  const bool was_training = model_->is_training();
  model_->eval();
  std::vector<torch::Tensor> outputs;
  for (int64_t from = begin; from < end; from += config_.train.eval_batch_size) {
    const int64_t to = std::min(end, from + config_.train.eval_batch_size);
    outputs.push_back(model_->forward(data.slice(from, to)));
  }
  model_->train(was_training);
  if (outputs.empty()) return torch::empty({0});
  return torch::cat(outputs);
}

std::map<std::string, double> Trainer::evaluate_in_group(const TensorData& data) {
  const int64_t n = data.size();
  const int world = group_->world_size(), rank = group_->rank();
  const torch::Tensor mine = predict_range(data, n * rank / world, n * (rank + 1) / world);
  const torch::Tensor raw = group_->allgather_cat(mine.to(torch::kCPU).to(torch::kFloat));
  return metrics_of(raw.to(device_), data);
}

void Trainer::compare_weights() {
  // FNV-1a over every parameter's bytes.
  uint64_t hash = kFnv1aOffset;
  for (const auto& p : model_->parameters()) {
    const torch::Tensor t = p.detach().to(torch::kCPU).contiguous();
    hash = fnv1a(t.data_ptr(), t.nbytes(), hash);
  }
  rank_digests_ = {hex64(hash)};
  if (group_ == nullptr) return;
  const torch::Tensor all =
      group_->allgather_cat(torch::tensor({static_cast<int64_t>(hash)}, torch::kLong));
  rank_digests_.clear();
  for (int64_t q = 0; q < all.numel(); ++q) {
    rank_digests_.push_back(hex64(static_cast<uint64_t>(all[q].item<int64_t>())));
  }
  for (const auto& d : rank_digests_) {
    if (d != rank_digests_.front()) {
      throw DistributedError("the ranks' weights differ after training (digests " +
                             rank_digests_.front() + " and " + d +
                             "): the ranks did not apply the same updates");
    }
  }
}

torch::Tensor Trainer::predict_raw(const TensorData& data) {
  return predict_range(data, 0, data.size());
}

std::vector<float> Trainer::to_predictions(const torch::Tensor& raw) const {
  return to_vector(postprocess(raw));
}

std::vector<float> Trainer::predict(const TensorData& data) {
  return to_predictions(predict_raw(data));
}

std::map<std::string, double> Trainer::evaluate(const TensorData& data,
                                                std::vector<float>* predictions) {
  return metrics_of(predict_raw(data), data, predictions);
}

std::map<std::string, double> Trainer::metrics_of(const torch::Tensor& raw, const TensorData& data,
                                                  std::vector<float>* predictions) {
  std::vector<float> target = data.targets();
  std::vector<float> shown = to_predictions(raw);
  auto metrics = compute_metrics(config_.train.task, shown, target);
  {
    torch::NoGradGuard no_grad;
    metrics["loss"] = loss(raw, torch::tensor(target).to(raw.device())).item<double>();
  }
  if (predictions != nullptr) *predictions = std::move(shown);
  return metrics;
}

}  // namespace dnnrec
