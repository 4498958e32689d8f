// The training loop: shuffled permutation, one gather per column per batch, callbacks.
#include "dnnrec/trainer.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <cmath>

#include "dnnrec/error.h"
#include "dnnrec/metrics.h"

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

std::atomic<bool>& Trainer::interrupt_flag() {
  static std::atomic<bool> flag{false};
  return flag;
}

std::unique_ptr<torch::optim::Optimizer> make_optimizer(const TrainConfig& c, RecModelImpl& model) {
  namespace optim = torch::optim;
  // Embedding tables are never decayed densely (that would shrink every row at every step,
  // touched or not): they get train.embedding_l2 on the rows a batch touches instead.
  std::vector<torch::Tensor> dense, embeddings;
  for (const auto& module : model.modules(/*include_self=*/false)) {
    if (auto* table = dynamic_cast<torch::nn::EmbeddingImpl*>(module.get())) {
      embeddings.push_back(table->weight);
    }
  }
  for (const auto& p : model.parameters()) {
    bool is_table = false;
    for (const auto& e : embeddings) is_table |= p.is_same(e);
    if (!is_table) dense.push_back(p);
  }
  auto groups = [&](auto make_options) {
    std::vector<optim::OptimizerParamGroup> out;
    if (!dense.empty()) out.emplace_back(dense, make_options(c.weight_decay));
    if (!embeddings.empty()) out.emplace_back(embeddings, make_options(0.0));
    return out;
  };
  if (c.optimizer == "adam") {
    auto options = [&](double wd) {
      return std::make_unique<optim::AdamOptions>(optim::AdamOptions(c.lr).weight_decay(wd));
    };
    return std::make_unique<optim::Adam>(groups(options), optim::AdamOptions(c.lr));
  }
  if (c.optimizer == "adamw") {
    auto options = [&](double wd) {
      return std::make_unique<optim::AdamWOptions>(optim::AdamWOptions(c.lr).weight_decay(wd));
    };
    return std::make_unique<optim::AdamW>(groups(options), optim::AdamWOptions(c.lr));
  }
  if (c.optimizer == "sgd") {
    auto options = [&](double wd) {
      return std::make_unique<optim::SGDOptions>(
          optim::SGDOptions(c.lr).momentum(c.momentum).weight_decay(wd));
    };
    return std::make_unique<optim::SGD>(groups(options), optim::SGDOptions(c.lr));
  }
  if (c.optimizer == "adagrad") {
    auto options = [&](double wd) {
      return std::make_unique<optim::AdagradOptions>(optim::AdagradOptions(c.lr).weight_decay(wd));
    };
    return std::make_unique<optim::Adagrad>(groups(options), optim::AdagradOptions(c.lr));
  }
  if (c.optimizer == "rmsprop") {
    auto options = [&](double wd) {
      return std::make_unique<optim::RMSpropOptions>(
          optim::RMSpropOptions(c.lr).momentum(c.momentum).weight_decay(wd));
    };
    return std::make_unique<optim::RMSprop>(groups(options), optim::RMSpropOptions(c.lr));
  }
  throw ConfigError("train.optimizer: unknown optimizer '" + c.optimizer +
                    "' (adam | adamw | sgd | adagrad | rmsprop)");
}

Trainer::Trainer(RecModel model, const Config& config, torch::Device device)
    : model_(std::move(model)),
      config_(config),
      device_(device),
      loss_name_(config.effective_loss()),
      current_lr_(config.train.lr) {
  model_->to(device_);
  optimizer_ = make_optimizer(config_.train, *model_);
  model_->track_penalty(config_.train.embedding_l2 > 0);
}

LrSchedule::LrSchedule(const Config& config, int64_t steps_per_epoch)
    : train_(config.train),
      maximize_(config.effective_mode() == "max"),
      steps_per_epoch_(std::max<int64_t>(1, steps_per_epoch)),
      warmup_steps_(static_cast<int64_t>(std::ceil(config.train.warmup_epochs * steps_per_epoch))),
      plateau_lr_(config.train.lr) {}

double LrSchedule::rate(int64_t step, int epoch) const {
  const TrainConfig& c = train_;
  double lr = c.lr;
  if (c.lr_schedule == "step") {
    lr = c.lr * std::pow(c.lr_gamma, (epoch - 1) / c.lr_step_epochs);
  } else if (c.lr_schedule == "cosine") {
    const double total = static_cast<double>(c.epochs) * steps_per_epoch_ - warmup_steps_;
    const double progress = std::clamp((step - warmup_steps_) / std::max(total, 1.0), 0.0, 1.0);
    lr = c.min_lr + (c.lr - c.min_lr) * 0.5 * (1 + std::cos(M_PI * progress));
  } else if (c.lr_schedule == "plateau") {
    lr = plateau_lr_;
  }
  lr = std::max(lr, c.min_lr);
  // Linear warm-up from lr / warmup_steps to the scheduled rate.
  if (step < warmup_steps_) lr *= static_cast<double>(step + 1) / warmup_steps_;
  return lr;
}

void LrSchedule::end_epoch(double monitored) {
  if (train_.lr_schedule != "plateau" || !std::isfinite(monitored)) return;
  if (!seen_ || (maximize_ ? monitored > best_ : monitored < best_)) {
    best_ = monitored;
    seen_ = true;
    wait_ = 0;
    return;
  }
  if (++wait_ >= train_.lr_patience) {
    plateau_lr_ = std::max(train_.min_lr, plateau_lr_ * train_.lr_gamma);
    wait_ = 0;
    spdlog::info("learning rate reduced to {:.3g} ({} epochs without improvement)", plateau_lr_,
                 train_.lr_patience);
  }
}

void Trainer::set_lr(double lr) {
  current_lr_ = lr;
  for (auto& group : optimizer_->param_groups()) group.options().set_lr(lr);
}

torch::Tensor Trainer::loss(const torch::Tensor& output, const torch::Tensor& target) const {
  if (loss_name_ == "mse") return torch::mse_loss(output, target);
  if (loss_name_ == "huber") {
    return torch::huber_loss(output, target, at::Reduction::Mean, config_.train.huber_delta);
  }
  if (loss_name_ == "bce") return torch::binary_cross_entropy_with_logits(output, target);
  throw ConfigError("train.loss: unknown loss '" + loss_name_ + "' (mse | huber | bce)");
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
  const auto fit_start = Clock::now();
  for (auto& cb : callbacks) cb->on_train_begin(*this);
  for (int epoch = 1; epoch <= config_.train.epochs && !state_.stop_requested; ++epoch) {
    state_.epoch = epoch;
    state_.logs.clear();
    for (auto& cb : callbacks) cb->on_epoch_begin(*this);
    model_->train();
    const auto epoch_start = Clock::now();
    torch::Tensor order = config_.train.shuffle
                              ? torch::randperm(n, torch::TensorOptions(torch::kLong))
                              : torch::arange(n, torch::TensorOptions(torch::kLong));
    order = order.to(train.device());
    double loss_sum = 0.0;
    int64_t seen = 0;
    for (int64_t b = 0; b < state_.batches; ++b) {
      const int64_t begin = b * batch_size;
      const int64_t end = std::min(n, begin + batch_size);
      Batch batch = train.gather(order.slice(0, begin, end));
      optimizer_->zero_grad();
      torch::Tensor output = model_->forward(batch);
      torch::Tensor value = loss(output, batch.target);
      const double loss_value = value.item<double>();
      if (!std::isfinite(loss_value)) {
        throw DivergedError("training diverged: loss is " + std::to_string(loss_value) +
                            " at epoch " + std::to_string(epoch) + ", batch " +
                            std::to_string(b + 1) + " (try a lower --lr)");
      }
      // The embedding penalty joins the gradient, not the reported loss.
      if (config_.train.embedding_l2 > 0) {
        (value + config_.train.embedding_l2 * model_->take_penalty()).backward();
      } else {
        value.backward();
      }
      if (config_.train.clip_norm > 0) {
        torch::nn::utils::clip_grad_norm_(model_->parameters(), config_.train.clip_norm);
      }
      set_lr(schedule_.rate(state_.step, epoch));
      optimizer_->step();
      ++state_.step;
      loss_sum += loss_value * static_cast<double>(end - begin);
      seen += end - begin;
      state_.batch = b + 1;
      state_.batch_loss = loss_value;
      state_.running_loss = loss_sum / static_cast<double>(seen);
      state_.epoch_seconds = seconds_since(epoch_start);
      state_.elapsed_seconds = seconds_since(fit_start);
      state_.samples_per_sec = static_cast<double>(seen) / std::max(state_.epoch_seconds, 1e-9);
      for (auto& cb : callbacks) cb->on_batch_end(*this);
      if (interrupt_flag().load()) state_.stop_requested = true;
      if (state_.stop_requested) break;
    }
    state_.logs["train_loss"] = state_.running_loss;
    state_.logs["lr"] = current_lr_;
    if (val != nullptr && val->size() > 0 && !interrupt_flag().load()) {
      for (const auto& [name, value] : evaluate(*val)) state_.logs["val_" + name] = value;
    }
    state_.elapsed_seconds = seconds_since(fit_start);
    // An interrupted epoch is not a finished epoch: callbacks do not see it as one.
    if (interrupt_flag().load()) break;
    auto monitored = state_.logs.find(config_.effective_monitor());
    if (monitored != state_.logs.end()) schedule_.end_epoch(monitored->second);
    for (auto& cb : callbacks) cb->on_epoch_end(*this);
  }
  for (auto& cb : callbacks) cb->on_train_end(*this);
}

torch::Tensor Trainer::predict_raw(const TensorData& data) {
  torch::NoGradGuard no_grad;
  const bool was_training = model_->is_training();
  model_->eval();
  std::vector<torch::Tensor> outputs;
  const int64_t n = data.size();
  for (int64_t begin = 0; begin < n; begin += config_.train.eval_batch_size) {
    const int64_t end = std::min(n, begin + config_.train.eval_batch_size);
    outputs.push_back(model_->forward(data.slice(begin, end)));
  }
  model_->train(was_training);
  if (outputs.empty()) return torch::empty({0});
  return torch::cat(outputs);
}

std::vector<float> Trainer::predict(const TensorData& data) {
  return to_vector(postprocess(predict_raw(data)));
}

std::map<std::string, double> Trainer::evaluate(const TensorData& data) {
  torch::Tensor raw = predict_raw(data);
  std::vector<float> target = data.targets();
  auto metrics = compute_metrics(config_.train.task, to_vector(postprocess(raw)), target);
  {
    torch::NoGradGuard no_grad;
    metrics["loss"] = loss(raw, torch::tensor(target).to(raw.device())).item<double>();
  }
  return metrics;
}

}  // namespace dnnrec
