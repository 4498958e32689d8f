// One training run's parts, built stage by stage by train_run.cc and continued from a resume
// point by resume.cc.
#pragma once

#include <torch/torch.h>

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "base/runtime.h"
#include "data/batch.h"
#include "data/features.h"
#include "data/movielens.h"
#include "data/split.h"
#include "dnnrec/config.h"
#include "dnnrec/pipeline.h"
#include "models/models.h"
#include "train/callbacks.h"
#include "train/checkpoint.h"
#include "train/trainer.h"

namespace dnnrec {

/// A run in progress: each stage fills the members it owns (declaration order is build order,
/// so the train log closes last). Callbacks refer to it, so it never moves.
struct TrainRun {
  TrainRun(Config run_config, ProcessGroup* process_group);
  TrainRun(const TrainRun&) = delete;
  TrainRun& operator=(const TrainRun&) = delete;

  Config config;
  std::string command_line;  ///< as `dnnrec train` was called (start_run)
  ProcessGroup* group;       ///< null: one process
  bool lead;                 ///< in a group only rank 0 (the lead) writes files
  TrainResult result;
  std::optional<ScopedLogFile> log_file;
  torch::Device device = torch::kCPU;

  // Data and features (load_and_featurise).
  MovieLens data;
  Split split;
  std::unique_ptr<FeatureBuilder> features;
  FeatureSpec spec;
  TensorData train, val, test;
  std::string data_dir;          ///< absolute, as checkpoints store it
  std::string data_fingerprint;  ///< of data.ratings

  // Model and trainer (build_model).
  double offset = 0.0;
  RecModel model{nullptr};
  std::unique_ptr<Trainer> trainer;

  // Callbacks (make_callbacks).
  std::vector<CallbackPtr> callbacks;
  std::shared_ptr<EarlyStopping> stopper;
  std::shared_ptr<HistoryWriter> history;
  std::string last_good;  ///< the last checkpoint written, named when a write fails
};

/// Opens the run: train log, command.txt and config.yaml, threads, device, seed, machine.
void start_run(TrainRun& run, const std::string& command_line);

/// The metadata of a checkpoint of `run` written now, after `epoch` epochs, with `metrics`
/// (that epoch's logs); with the training state for --resume unless `weights_only`.
CheckpointMeta checkpoint_meta(const TrainRun& run, int epoch,
                               const std::map<std::string, double>& metrics, bool weights_only);

}  // namespace dnnrec
