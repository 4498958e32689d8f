// Where a run continues from: the checkpoint `--resume` names and the config it brings, the
// config every rank of a group trains, and loading a resume point into a freshly built run.
#pragma once

#include <optional>
#include <string>

#include "dnnrec/config.h"

namespace dnnrec {

class ProcessGroup;
struct Checkpoint;
struct TrainRun;

/// The run `dnnrec train --resume TARGET` trains.
struct ResumePlan {
  Config config;           ///< the resumed run's own config, or the given one for a new run
  std::string checkpoint;  ///< the resume point; "" = a new run
};

/// Chooses the checkpoint `--resume target` continues from and the config to train. target
/// "auto": the newest good resume point in config.output.dir (ConfigError when that is empty),
/// a new run with `config` when there is none; else a run directory or a checkpoint file
/// (CheckpointError when it holds none). A resumed run trains the checkpoint's config with
/// output.dir its folder and data.dir config.data.dir when `data_flag_given` (--data), else
/// the checkpoint's data folder.
ResumePlan plan_resume(const Config& config, const std::string& target, bool data_flag_given);

/// The config each rank of `group` trains: rank 0 sends `run_config` (returned unchanged on
/// rank 0); the others train it with their own (`own`) threads and device, their own data
/// folder when `data_flag_given`, and no output directory.
Config share_run_config(ProcessGroup& group, const Config& run_config, const Config& own,
                        bool data_flag_given);

/// Throws CheckpointError unless `ckpt` was trained on the ratings `data_dir` holds now, whose
/// fingerprint is `now`: a resumed run must see the same data.
void check_resume_data(const Checkpoint& ckpt, const std::string& now, const std::string& data_dir);

/// The run's best.pt when it holds epoch `best_epoch`, whose weights restore_best ends a resumed
/// run with; nullopt, with a warning that the run keeps its last weights, otherwise.
std::optional<Checkpoint> best_checkpoint(const std::string& run_dir, int best_epoch);

/// Continues a freshly built run from `checkpoint`: weights, optimizer, trainer and callback
/// state, and with train.restore_best the best epoch's weights from best.pt. Throws
/// CheckpointError for a checkpoint without training state or trained on other ratings.
void load_resume_point(TrainRun& run, const std::string& checkpoint);

}  // namespace dnnrec
