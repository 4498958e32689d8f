// The learning rate at each step: warm-up, then none | step | cosine | plateau.
#include "train/lr_schedule.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cmath>
#include <nlohmann/json.hpp>

namespace dnnrec {

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

std::string LrSchedule::save_state() const {
  return nlohmann::json{
      {"plateau_lr", plateau_lr_}, {"best", best_}, {"seen", seen_}, {"wait", wait_}}
      .dump();
}

void LrSchedule::load_state(const std::string& text) {
  const auto j = nlohmann::json::parse(text);
  plateau_lr_ = j.at("plateau_lr").get<double>();
  if (!j.at("best").is_null()) best_ = j.at("best").get<double>();
  seen_ = j.at("seen").get<bool>();
  wait_ = j.at("wait").get<int>();
}

}  // namespace dnnrec
