// Keras-like compile / fit / evaluate / predict on a model and whole-column tensors.
#pragma once

#include <torch/torch.h>

#include <atomic>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "base/runtime.h"
#include "data/batch.h"
#include "dnnrec/config.h"
#include "models/models.h"
#include "train/lr_schedule.h"
#include "train/optimizer.h"

namespace dnnrec {

class DataParallel;
class ProcessGroup;
class Trainer;

/// What callbacks see of a running fit.
struct TrainState {
  int epoch = 0;                 ///< current epoch, 1-based
  int epochs = 0;                ///< planned epochs
  int64_t step = 0;              ///< optimizer steps so far
  int64_t batch = 0;             ///< batch within the epoch, 1-based
  int64_t batches = 0;           ///< batches per epoch
  int64_t train_size = 0;        ///< training examples
  double batch_loss = 0.0;       ///< loss of the last batch
  double running_loss = 0.0;     ///< mean loss of the epoch so far
  double epoch_seconds = 0.0;    ///< seconds of the current epoch's training loop so far
  double elapsed_seconds = 0.0;  ///< seconds since fit began
  double samples_per_sec = 0.0;  ///< training throughput of the epoch
  /// End-of-epoch values: train_loss, val_<metric>..., lr.
  std::map<std::string, double> logs;
  bool stop_requested = false;
};

/// Keras-style callback; every hook gets the trainer (its state, model and stop switch).
class Callback {
 public:
  virtual ~Callback() = default;
  virtual void on_train_begin(Trainer& trainer) {}
  virtual void on_epoch_begin(Trainer& trainer) {}
  virtual void on_batch_end(Trainer& trainer) {}
  virtual void on_epoch_end(Trainer& trainer) {}
  virtual void on_train_end(Trainer& trainer) {}
  /// The callback's state as JSON text, stored in checkpoints so a resumed run continues
  /// exactly ("" when it has none); load_state takes it back.
  virtual std::string save_state() const { return ""; }
  virtual void load_state(const std::string& json) {}
};
using CallbackPtr = std::shared_ptr<Callback>;

/// Owns the zero_grad -> forward -> loss -> backward -> step loop. On the CPU each batch is
/// split into up to train.threads slices whose forward and backward passes run in parallel,
/// one thread each with single-threaded ops (small matrix products scale far better across
/// slices than inside one op); their gradients add up to the whole batch's.
class Trainer {
 public:
  /// compile: builds the optimizer and loss from config.train; the model moves to device.
  Trainer(RecModel model, const Config& config, torch::Device device);
  ~Trainer();

  /// Trains for config.train.epochs (or until a callback stops it), validating on `val`
  /// after each epoch when it is non-empty. Throws DivergedError on a non-finite loss.
  void fit(const TensorData& train, const TensorData* val,
           const std::vector<CallbackPtr>& callbacks);
  /// Metrics of the task on `data` (eval mode, no grad), plus "loss". With `predictions`, also
  /// the per-example predictions the metrics were computed from: what predict(data) returns.
  std::map<std::string, double> evaluate(const TensorData& data,
                                         std::vector<float>* predictions = nullptr);
  /// Predictions: ratings clipped to the rating range, or probabilities of "liked".
  std::vector<float> predict(const TensorData& data);
  /// Raw model outputs (unclipped ratings or logits) in eval mode.
  torch::Tensor predict_raw(const TensorData& data);
  /// The predictions of raw outputs: predict(data) is to_predictions(predict_raw(data)).
  std::vector<float> to_predictions(const torch::Tensor& raw) const;

  /// Number of slices a training batch of `size` examples is split into: up to
  /// train.threads, at least 32 examples each, 1 with batch norm or off the CPU.
  int slices(int64_t size) const;
  /// The gradient that one training step computes for examples [begin, end) of `data` as
  /// one batch: of their mean loss plus the embedding penalty, in training mode, summed over
  /// the batch's slices in slice order, one dense tensor per parameter (undefined where a
  /// parameter gets none). Sets *loss to the batch's mean loss when given. Tests compare it
  /// across slicings.
  std::vector<torch::Tensor> batch_gradient(const TensorData& data, int64_t begin, int64_t end,
                                            double* loss = nullptr);
  /// Asks fit to stop after the current batch (early stopping, interrupts).
  void stop_training() { state_.stop_requested = true; }
  const TrainState& state() const { return state_; }
  RecModel model() const { return model_; }
  ModelOptimizer& optimizer() { return *optimizer_; }
  const Config& config() const { return config_; }
  torch::Device device() const { return device_; }

  /// Where training stands, as JSON text for a checkpoint: the next batch to run (the next
  /// epoch's first after an epoch has ended), steps, the epoch's loss so far, the state of
  /// torch's generator when that epoch drew its shuffle, the dropout seed and the learning
  /// rate schedule. A fit after resume(state) continues from there with the same batches,
  /// masks and updates as the uninterrupted run (same device and train.threads).
  std::string resume_state() const;
  /// Makes the next fit start where resume_state() was taken.
  void resume(const std::string& state);

  /// Trains data-parallel with the other ranks of `group` (nullptr: alone). Every rank runs
  /// fit on the same data: rank 0's weights, optimizer state, generator and resume state are
  /// broadcast first; each rank then computes its share of every batch (the batch's rows
  /// cut into world_size consecutive parts, dropout masks as the whole batch would draw
  /// them), the gradients are combined (allreduce for dense ones, a gather of the tables'
  /// sparse rows), and every rank applies the same update.
  /// Validation gathers every rank's share of predictions. An interrupt on any rank stops
  /// all of them after the same batch.
  void set_process_group(ProcessGroup* group);
  /// Whether the last fit stopped for an interrupt (on any rank of its group).
  bool interrupted() const { return interrupted_; }
  /// A digest (16 hex digits) of each rank's weights at the end of the last fit, in rank
  /// order (one entry when training alone). fit throws when they differ.
  const std::vector<std::string>& rank_digests() const { return rank_digests_; }

 private:
  /// Where a fit starts: from the beginning, or where resume_state() was taken.
  struct FitRun {
    int first_epoch = 1;
    int64_t first_batch = 0;      ///< batches of the first epoch already done
    std::string first_rng;        ///< generator state of the first epoch's shuffle ("": now)
    double elapsed_before = 0.0;  ///< seconds trained before the resume
    Clock::time_point start;      ///< when this fit's epochs began
  };
  /// Resets the state for a fit over `train`, takes rank 0's start in a group, and applies
  /// the pending resume state.
  FitRun begin_fit(const TensorData& train);
  /// Applies resume_ (then cleared) to the state and to `run`.
  void apply_resume(FitRun& run);
  /// Runs the batches of epoch state_.epoch (its remaining ones after a resume).
  void run_epoch(const TensorData& train, const FitRun& run,
                 const std::vector<CallbackPtr>& callbacks);
  /// One optimizer step on rows [begin, end) of the epoch's `order` (batch `b`, 0-based);
  /// returns the batch's loss.
  double train_batch(const TensorData& train, const torch::Tensor& order, int64_t begin,
                     int64_t end, int64_t b);
  /// The epoch's logs and validation, then on_epoch_end; false when an interrupt ends the fit.
  bool end_epoch(const TensorData* val, const FitRun& run,
                 const std::vector<CallbackPtr>& callbacks);
  /// In a group, an interrupt counts once every rank knows of it (after the batch's reduce);
  /// alone, as soon as it comes.
  bool interrupt_seen() const;

  torch::Tensor loss(const torch::Tensor& output, const torch::Tensor& target) const;
  /// Summed (not averaged) loss of a slice of a batch.
  torch::Tensor loss_sum(const torch::Tensor& output, const torch::Tensor& target) const;
  /// Computes the gradient of the mean loss (plus the embedding penalty) of the batch of
  /// data's examples rows[0..size) into grads_, one part per slice of the batch, and returns
  /// the mean loss. In a group, rows[0..size) is this rank's share of a batch of `total`
  /// examples whose earlier shares have `first_slice` slices: losses are divided by the
  /// whole batch, and dropout seeds follow the slice numbering of the whole batch.
  double compute_gradients(const TensorData& data, const int64_t* rows, int64_t size, int64_t total,
                           int first_slice);
  /// Rank 0's weights, optimizer state, generator state and resume state on every rank.
  void synchronize_start();
  /// evaluate() with each rank predicting its share of data.
  std::map<std::string, double> evaluate_in_group(const TensorData& data);
  std::map<std::string, double> metrics_of(const torch::Tensor& raw, const TensorData& data,
                                           std::vector<float>* predictions = nullptr);
  torch::Tensor predict_range(const TensorData& data, int64_t begin, int64_t end);
  /// Fills rank_digests_ and checks that every rank ends with the same weights.
  void compare_weights();

  torch::Tensor postprocess(const torch::Tensor& raw) const;
  void set_lr(double lr);

  RecModel model_;
  Config config_;
  torch::Device device_;
  std::unique_ptr<ModelOptimizer> optimizer_;
  std::vector<torch::Tensor> params_;
  /// The last batch's gradient: grads_[slice][parameter], summed by the optimizer's step.
  std::vector<std::vector<torch::Tensor>> grads_;
  uint64_t dropout_seed_ = 0;  ///< drawn from torch's generator: train.seed fixes it
  std::string loss_name_;
  TrainState state_;
  LrSchedule schedule_;
  double current_lr_ = 0.0;
  double epoch_loss_sum_ = 0.0;  ///< the current epoch's summed loss so far
  int64_t epoch_seen_ = 0;       ///< and its examples
  bool epoch_ended_ = false;     ///< the current epoch's batches and validation are done
  std::string epoch_rng_str_;    ///< torch's generator state when the epoch drew its shuffle
  std::string resume_;           ///< resume_state() to start the next fit from, or ""
  std::unique_ptr<DataParallel> parallel_;  ///< set in a process group, else null
  bool interrupted_ = false;
  std::vector<std::string> rank_digests_;
};

}  // namespace dnnrec
