// The learning-rate schedule of training: warm-up, then none | step | cosine | plateau.
#pragma once

#include <cstdint>
#include <string>

#include "dnnrec/config.h"

namespace dnnrec {

/// The learning rate at each step: warm-up, then none | step | cosine | plateau.
class LrSchedule {
 public:
  LrSchedule() = default;
  LrSchedule(const Config& config, int64_t steps_per_epoch);
  /// The rate for optimizer step `step` (0-based) in epoch `epoch` (1-based).
  double rate(int64_t step, int epoch) const;
  /// Feeds the monitored metric at the end of an epoch (plateau decays on it).
  void end_epoch(double monitored);
  /// The plateau state as JSON text, and back.
  std::string save_state() const;
  void load_state(const std::string& json);

 private:
  TrainConfig train_;
  bool maximize_ = false;
  int64_t steps_per_epoch_ = 1;
  int64_t warmup_steps_ = 0;
  double plateau_lr_ = 0.0;
  double best_ = 0.0;
  bool seen_ = false;
  int wait_ = 0;
};

}  // namespace dnnrec
