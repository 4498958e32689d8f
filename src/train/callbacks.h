// Training callbacks: progress, periodic / best checkpoints, early stopping, history CSV.
#pragma once

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "train/trainer.h"

namespace dnnrec {

/// Formats a Python-style template: "{epoch:04d}-{val_rmse:.4f}" with values by name.
/// Supported specs: d with width / zero fill, f, e, g with precision. Throws ConfigError
/// naming an unknown placeholder.
std::string format_template(const std::string& pattern,
                            const std::map<std::string, double>& values);

/// Where a periodic checkpoint goes: <run_dir>/checkpoints/ (created) and the file name
/// `pattern` makes of an epoch's logged values plus "epoch", "step" and "monitor".
std::string periodic_checkpoint_path(const std::string& run_dir, const std::string& pattern,
                                     std::map<std::string, double> values, int epoch, int64_t step,
                                     double monitor);

/// Names used by a template's placeholders.
std::vector<std::string> template_names(const std::string& pattern);

/// One line per epoch (loss, validation metrics, samples/s, elapsed, ETA) at info level, and a
/// live bar on stderr when it is a terminal (throttled to 10 updates a second).
class ProgressLogger : public Callback {
 public:
  explicit ProgressLogger(bool live_bar);
  void on_epoch_begin(Trainer& trainer) override;
  void on_batch_end(Trainer& trainer) override;
  void on_epoch_end(Trainer& trainer) override;

 private:
  bool live_bar_;
  double last_draw_ = -1.0;
};

/// Writes checkpoints: every `every` epochs into dir/checkpoints/<name template>, last.pt after
/// each epoch, and best.pt whenever the monitored metric improves.
class ModelCheckpoint : public Callback {
 public:
  /// save(path, weights_only) writes one checkpoint file atomically.
  using SaveFn = std::function<void(const std::string& path, bool weights_only)>;
  ModelCheckpoint(std::string run_dir, const TrainConfig& config, SaveFn save);
  void on_epoch_end(Trainer& trainer) override;
  /// Every train.checkpoint_every_steps steps within an epoch: last.pt (a resume point).
  void on_batch_end(Trainer& trainer) override;
  std::string save_state() const override;
  void load_state(const std::string& json) override;
  /// Epoch of the best checkpoint, 0 when none.
  int best_epoch() const { return best_epoch_; }
  double best_value() const { return best_; }
  const std::vector<std::string>& written() const { return written_; }

 private:
  std::string run_dir_;
  TrainConfig config_;
  SaveFn save_;
  std::string monitor_;
  bool maximize_;
  double best_;
  int best_epoch_ = 0;
  std::vector<std::string> written_;
};

/// Tracks the best monitored value, stops after `patience` epochs without an improvement of
/// more than min_delta (patience 0: never stops), and restores the best weights at the end.
class EarlyStopping : public Callback {
 public:
  explicit EarlyStopping(const TrainConfig& config);
  void on_epoch_end(Trainer& trainer) override;
  void on_train_end(Trainer& trainer) override;
  std::string save_state() const override;
  /// Restores the counters; the best weights (restored at the end) come from
  /// set_best_weights, as a checkpoint holds one set of weights.
  void load_state(const std::string& json) override;
  void set_best_weights(const RecModelImpl& model);
  int best_epoch() const { return best_epoch_; }
  double best_value() const { return best_; }
  /// Epoch at which training was stopped early, 0 when it ran to the end.
  int stopped_epoch() const { return stopped_epoch_; }

 private:
  TrainConfig config_;
  std::string monitor_;
  bool maximize_;
  double best_;
  double reference_ = 0.0;  // value at the last patience reset
  int best_epoch_ = 0;
  int wait_ = 0;
  int stopped_epoch_ = 0;
  std::vector<torch::Tensor> best_weights_;
};

/// Rewrites history.csv (epoch, train_loss, val metrics, lr, seconds, samples_per_sec) after
/// each epoch, atomically.
class HistoryWriter : public Callback {
 public:
  explicit HistoryWriter(std::string path);
  void on_epoch_end(Trainer& trainer) override;
  std::string save_state() const override;
  void load_state(const std::string& json) override;
  /// Rows written so far: one map of column -> value per epoch.
  const std::vector<std::map<std::string, double>>& rows() const { return rows_; }

 private:
  std::string path_;
  std::vector<std::map<std::string, double>> rows_;
};

/// The value of `monitor` in the trainer's end-of-epoch logs; throws when it is absent.
double monitored_value(const Trainer& trainer, const std::string& monitor);

}  // namespace dnnrec
