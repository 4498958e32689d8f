// What training and inference share: the device choice, loading the data folder as configured,
// its fingerprint, and metrics as JSON.
#pragma once

#include <torch/torch.h>

#include <map>
#include <nlohmann/json.hpp>
#include <string>

#include "base/runtime.h"
#include "data/movielens.h"
#include "dnnrec/config.h"
#include "train/checkpoint.h"

namespace dnnrec {

/// train.device as a torch device; throws ConfigError for an unknown name or a missing GPU.
torch::Device select_device(const std::string& name);

/// Count and hash of the ratings ("count:16 hex digits"): a changed data folder is noticed.
std::string fingerprint(const Ratings& ratings);

/// Loads config.data.dir with the data section's options; warns about skipped rows.
MovieLens load_data(const Config& config);
/// Throws ConfigError when the task or split needs what the data lacks: a rating column (an
/// implicit log serves only the ranking task) or timestamps (temporal, leave-last, history
/// before).
void check_data_fits(const Config& config, const MovieLens& data);

/// The data a checkpoint is read back with: sets its config's data.dir to `data_dir` (empty:
/// the folder stored in the checkpoint), loads it, and warns when its ratings differ from the
/// ones the model was trained on.
MovieLens load_checkpoint_data(Checkpoint& ckpt, const std::string& data_dir);

/// Metrics as a JSON object, non-finite values as null.
nlohmann::ordered_json metrics_json(const std::map<std::string, double>& metrics);

}  // namespace dnnrec
