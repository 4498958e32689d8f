// Self-describing checkpoint files: magic, format version, checksum, effective config,
// vocabularies, model weights, optimizer state, epoch and best metric, in one file.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <limits>
#include <map>
#include <string>
#include <vector>

#include "data/features.h"
#include "dnnrec/config.h"
#include "models/models.h"
#include "train/optimizer.h"

namespace dnnrec {

/// Bumped whenever the layout changes; newer files are refused, older ones upgraded.
constexpr uint32_t kCheckpointFormat = 1;

/// Everything in a checkpoint besides tensors.
struct CheckpointMeta {
  uint32_t format_version = kCheckpointFormat;
  std::string dnnrec_version;
  std::string created_at;
  std::string config_yaml;       ///< the effective config of the run
  std::string data_dir;          ///< the data folder the model was trained on
  std::string data_fingerprint;  ///< count and hash of the ratings it was trained on
  int epoch = 0;                 ///< epochs completed
  int64_t step = 0;              ///< optimizer steps completed
  std::string monitor;
  double best_value = std::numeric_limits<double>::quiet_NaN();
  int best_epoch = 0;
  bool weights_only = false;
  double offset = 0.0;                    ///< the model's output offset
  std::map<std::string, double> metrics;  ///< end-of-epoch logs of `epoch`
  /// Where training stood, for --resume (JSON: the trainer's resume_state and each
  /// callback's state); "" in weights-only checkpoints and files from before resume existed.
  std::string resume_state;
  /// A blend's members' effective configs (YAML), in member order; empty for other models.
  std::vector<std::string> member_configs;
};

/// A loaded checkpoint: metadata and config are parsed; tensors load on demand.
struct Checkpoint {
  std::string path;
  CheckpointMeta meta;
  Config config;
  FeatureVocabs vocabs;
  /// A blend's members' configs (meta.member_configs, parsed).
  std::vector<Config> members;

  /// Builds the model named in the config and loads its weights.
  RecModel make_model(const FeatureSpec& spec) const;
  /// Loads weights into an already built model of the right shape.
  void load_model(torch::nn::Module& model) const;
  /// Loads optimizer state; false when the checkpoint holds weights only.
  bool load_optimizer(ModelOptimizer& optimizer) const;
  /// A checksum of the model's weights alone (8 hex digits): equal weights, equal digest,
  /// whatever else the files hold (dates, optimizer state).
  std::string weights_digest() const;

  std::string payload;  ///< the torch archive bytes
};

/// Writes a checkpoint atomically (temporary file, flush, rename). optimizer may be null.
void save_checkpoint(const std::string& path, const CheckpointMeta& meta,
                     const FeatureVocabs& vocabs, torch::nn::Module& model,
                     const ModelOptimizer* optimizer);

/// Reads and verifies a checkpoint; throws CheckpointError for a missing, truncated,
/// corrupted, foreign or newer-format file.
Checkpoint load_checkpoint(const std::string& path);

/// torch's CPU generator state (shuffles, dropout, initialisation) as hex text, for resume
/// states; set_torch_generator_state restores it (CheckpointError for malformed text).
std::string torch_generator_state();
void set_torch_generator_state(const std::string& text);

/// CRC-32 (IEEE) of a byte range.
uint32_t crc32(const void* data, size_t size);

}  // namespace dnnrec
