// The training loop: shuffled permutation, one gather per column per batch, callbacks.
#include "train/trainer.h"

#include <spdlog/spdlog.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <numeric>
#include <sstream>

#include "base/hash.h"
#include "base/random.h"
#include "base/runtime.h"
#include "base/signals.h"
#include "dnnrec/error.h"
#include "train/checkpoint.h"
#include "train/data_parallel.h"
#include "train/metrics.h"

namespace dnnrec {
namespace {

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

Trainer::~Trainer() = default;

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
    j["rng"] = torch_generator_state();
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
  const FitRun run = begin_fit(train);
  for (auto& cb : callbacks) cb->on_train_begin(*this);
  for (int epoch = run.first_epoch; epoch <= config_.train.epochs && !state_.stop_requested;
       ++epoch) {
    state_.epoch = epoch;
    state_.logs.clear();
    epoch_ended_ = false;
    for (auto& cb : callbacks) cb->on_epoch_begin(*this);
    run_epoch(train, run, callbacks);
    if (!end_epoch(val, run, callbacks)) break;
  }
  if (parallel_ == nullptr) interrupted_ = interrupt_requested().load();
  compare_weights();
  for (auto& cb : callbacks) cb->on_train_end(*this);
}

Trainer::FitRun Trainer::begin_fit(const TensorData& train) {
  const int64_t n = train.size();
  if (n == 0) throw DataError("training split is empty");
  const int64_t batch_size = config_.train.batch_size;
  state_ = TrainState{};
  state_.epochs = config_.train.epochs;
  state_.train_size = n;
  state_.batches = (n + batch_size - 1) / batch_size;
  schedule_ = LrSchedule(config_, state_.batches);
  interrupted_ = false;
  FitRun run;
  // In a group every rank starts from rank 0's state, its resume state included.
  if (parallel_ != nullptr) synchronize_start();
  if (!resume_.empty()) apply_resume(run);
  run.start = Clock::now();
  return run;
}

void Trainer::apply_resume(FitRun& run) {
  const auto j = nlohmann::json::parse(resume_);
  resume_.clear();
  run.first_epoch = j.at("epoch").get<int>();
  run.first_batch = j.at("batch").get<int64_t>();
  run.first_rng = j.at("rng").get<std::string>();
  state_.step = j.at("step").get<int64_t>();
  state_.stop_requested = j.at("stop_requested").get<bool>();
  run.elapsed_before = j.at("elapsed_seconds").get<double>();
  dropout_seed_ = std::stoull(j.at("dropout_seed").get<std::string>());
  schedule_.load_state(j.at("schedule").get<std::string>());
  set_lr(j.at("lr").get<double>());
  epoch_loss_sum_ = j.at("loss_sum").get<double>();
  epoch_seen_ = j.at("seen").get<int64_t>();
  if (run.first_batch > state_.batches) {
    throw CheckpointError("resume state: batch " + std::to_string(run.first_batch) +
                          " of an epoch of " + std::to_string(state_.batches) +
                          " (different data or batch size)");
  }
}

bool Trainer::interrupt_seen() const {
  return parallel_ != nullptr ? interrupted_ : interrupt_requested().load();
}

void Trainer::run_epoch(const TensorData& train, const FitRun& run,
                        const std::vector<CallbackPtr>& callbacks) {
  const int64_t n = train.size();
  const int64_t batch_size = config_.train.batch_size;
  const int epoch = state_.epoch;
  model_->train();
  const auto epoch_start = Clock::now();
  const int64_t skip = epoch == run.first_epoch ? run.first_batch : 0;
  if (epoch == run.first_epoch && !run.first_rng.empty()) set_torch_generator_state(run.first_rng);
  epoch_rng_str_ = torch_generator_state();
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
    const double loss_value = train_batch(train, order, begin, end, b);
    loss_sum += loss_value * static_cast<double>(end - begin);
    seen += end - begin;
    state_.batch = b + 1;
    state_.batch_loss = loss_value;
    state_.running_loss = loss_sum / static_cast<double>(seen);
    state_.epoch_seconds = seconds_since(epoch_start);
    state_.elapsed_seconds = run.elapsed_before + seconds_since(run.start);
    state_.samples_per_sec =
        static_cast<double>(seen - seen_before) / std::max(state_.epoch_seconds, 1e-9);
    for (auto& cb : callbacks) cb->on_batch_end(*this);
    if (interrupt_seen()) state_.stop_requested = true;
    if (state_.stop_requested) break;
  }
}

double Trainer::train_batch(const TensorData& train, const torch::Tensor& order, int64_t begin,
                            int64_t end, int64_t b) {
  // This rank's share of the batch, and the slices of the shares before it.
  BatchShare share{begin, end, 0};
  if (parallel_ != nullptr) {
    share = parallel_->share_of_batch(begin, end - begin, [this](int64_t s) { return slices(s); });
  }
  // The embedding penalty joins the gradient, not the reported loss.
  double loss_value = compute_gradients(train, order.data_ptr<int64_t>() + share.begin,
                                        share.end - share.begin, end - begin, share.first_slice);
  if (parallel_ != nullptr) {
    const DataParallel::Reduced all =
        parallel_->reduce_gradients(grads_, loss_value, interrupt_requested().load());
    if (all.interrupted) {
      interrupted_ = true;
      interrupt_requested().store(true);
    }
    loss_value = all.loss;
  }
  if (!std::isfinite(loss_value)) {
    throw DivergedError("training diverged: loss is " + std::to_string(loss_value) + " at epoch " +
                        std::to_string(state_.epoch) + ", batch " + std::to_string(b + 1) +
                        " (try a lower --lr)");
  }
  set_lr(schedule_.rate(state_.step, state_.epoch));
  optimizer_->step(grads_);
  grads_.clear();
  ++state_.step;
  return loss_value;
}

bool Trainer::end_epoch(const TensorData* val, const FitRun& run,
                        const std::vector<CallbackPtr>& callbacks) {
  state_.logs["train_loss"] = state_.running_loss;
  state_.logs["lr"] = current_lr_;
  if (val != nullptr && val->size() > 0 && !interrupt_seen()) {
    const auto metrics = parallel_ != nullptr ? evaluate_in_group(*val) : evaluate(*val);
    for (const auto& [name, value] : metrics) state_.logs["val_" + name] = value;
  }
  state_.elapsed_seconds = run.elapsed_before + seconds_since(run.start);
  // An interrupted epoch is not a finished epoch: callbacks do not see it as one.
  if (interrupt_seen()) return false;
  auto monitored = state_.logs.find(config_.effective_monitor());
  if (monitored != state_.logs.end()) schedule_.end_epoch(monitored->second);
  epoch_ended_ = true;
  for (auto& cb : callbacks) cb->on_epoch_end(*this);
  return true;
}

void Trainer::set_process_group(ProcessGroup* group) {
  parallel_ = group != nullptr ? std::make_unique<DataParallel>(*group, *model_, params_) : nullptr;
}

void Trainer::synchronize_start() {
  nlohmann::json start;
  start["resume"] = resume_;
  start["rng"] = torch_generator_state();
  start["dropout_seed"] = std::to_string(dropout_seed_);
  start = nlohmann::json::parse(parallel_->synchronize_start(
      *model_, *optimizer_, parallel_->rank() == 0 ? start.dump() : ""));
  resume_ = start.at("resume").get<std::string>();
  set_torch_generator_state(start.at("rng").get<std::string>());
  dropout_seed_ = std::stoull(start.at("dropout_seed").get<std::string>());
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
  const auto [begin, end] = parallel_->share_of(data.size());
  const torch::Tensor raw = parallel_->gather_predictions(predict_range(data, begin, end));
  return metrics_of(raw.to(device_), data);
}

void Trainer::compare_weights() {
  rank_digests_ = parallel_ != nullptr ? parallel_->weight_digests(*model_)
                                       : std::vector<std::string>{hex64(weights_hash(*model_))};
  check_same_weights(rank_digests_);
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
