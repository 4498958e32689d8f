// The one configuration struct, its field table (name, help, range, flag) and YAML I/O.
// Precedence: built-in defaults < YAML file (--config) < command-line flags < --set key=value.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace dnnrec {

/// Where the data is and how it is split.
struct DataConfig {
  /// Folder in MovieLens layout (ratings.csv, movies.csv, tags.csv, links.csv).
  std::string dir = "data/ml-latest-small";
  /// Split method: random | temporal | leave-last.
  std::string split = "random";
  /// Fraction of ratings for validation (random, temporal), in [0, 1).
  double val_ratio = 0.1;
  /// Fraction of ratings for test (random, temporal), in [0, 1).
  double test_ratio = 0.1;
  /// Seed of the random split; separate from train.seed so seeds vary the model, not the test set.
  int64_t split_seed = 42;
  /// What a malformed CSV row does: fail (stop with file:line, exit 2) | skip (count and report).
  std::string on_bad_row = "fail";
  /// Lowest valid rating; predictions are clipped to [min_rating, max_rating].
  double min_rating = 0.5;
  /// Highest valid rating.
  double max_rating = 5.0;
  /// Keep a binary copy of the parsed CSVs in <dir>/.dnnrec-cache/ (rewritten whenever a CSV
  /// changes), so later runs skip parsing.
  bool cache = true;
};

/// How raw data becomes padded id sequences.
struct FeaturesConfig {
  /// Length L of the user history, >= 0: the user's latest L training ratings when a rating is
  /// evaluated or served; for a training example, see `history`.
  int history_len = 20;
  /// The history of a training example: others (the user's other training ratings, the latest
  /// L: SVD++'s N(u)) | before (the training ratings before it: sequential training) | auto
  /// (others for the random split, before for temporal and leave-last). before with the random
  /// split is refused: held-out ratings lie inside the timeline, which serving never sees.
  std::string history = "auto";
  /// Length of the genre sequence of a movie, >= 0.
  int genre_len = 10;
  /// Number T of most frequent tags kept per movie, >= 0.
  int tag_len = 10;
  /// Keras pad_sequences padding: pre | post.
  std::string padding = "pre";
  /// Keras pad_sequences truncating: pre | post.
  std::string truncating = "pre";
  /// Use the release year parsed from the title.
  bool use_year = true;
};

/// Which model and its shape.
struct ModelConfig {
  /// Model name from the registry (dnnrec config --models lists them).
  std::string name = "dnn";
  /// Embedding size of every id feature, >= 1.
  int embedding_dim = 32;
  /// Hidden layer sizes of the MLP tower, e.g. 256,128,64.
  std::vector<int64_t> hidden = {256, 128, 64};
  /// Tower activation: relu | gelu | tanh | sigmoid | leaky_relu.
  std::string activation = "relu";
  /// Dropout after each hidden layer, in [0, 1).
  double dropout = 0.2;
  /// Batch normalisation after each hidden linear layer.
  bool batch_norm = false;
  /// Add user and movie bias terms to the output (dnn, wide-deep, deepfm).
  bool bias_terms = true;
  /// dnn: add an SVD++-like implicit term, the movie factor times the mean of the user's
  /// history factors (training history only).
  bool implicit = false;
};

/// compile + fit settings and callbacks.
struct TrainConfig {
  /// rating (regression on the rating) | binary (liked = rating >= like_threshold).
  std::string task = "rating";
  /// Threshold of the binary task's "liked" target.
  double like_threshold = 4.0;
  /// Number of epochs, >= 1.
  int epochs = 5;
  /// Mini-batch size, >= 1.
  int batch_size = 256;
  /// Batch size for evaluation and prediction, >= 1.
  int eval_batch_size = 8192;
  /// Learning rate, > 0.
  double lr = 1e-3;
  /// Optimizer: adam | adamw | sgd | adagrad | rmsprop.
  std::string optimizer = "adam";
  /// L2 weight decay of the dense (non-embedding) weights (decoupled for adamw), >= 0.
  double weight_decay = 0.0;
  /// L2 penalty on the embedding rows each batch touches (per example), >= 0; embedding tables
  /// are never decayed densely.
  double embedding_l2 = 0.0;
  /// Learning-rate schedule: none | step | cosine | plateau.
  std::string lr_schedule = "none";
  /// step: multiply the rate by lr_gamma every lr_step_epochs epochs, >= 1.
  int lr_step_epochs = 5;
  /// Factor of step and plateau decays, in (0, 1).
  double lr_gamma = 0.5;
  /// plateau: decay after this many epochs without improvement of the monitored metric, >= 1.
  int lr_patience = 1;
  /// Floor of every schedule (cosine ends here), >= 0.
  double min_lr = 0.0;
  /// Linear warm-up of the rate over the first N epochs (fractions allowed), >= 0.
  double warmup_epochs = 0.0;
  /// Clip the global gradient norm to this value; 0 = off.
  double clip_norm = 0.0;
  /// Row-wise (lazy) updates of embedding tables: a step changes only the rows its batch
  /// touched. false: torch's dense update of every row at every step (slower: it costs the
  /// size of the tables).
  bool lazy_embeddings = true;
  /// Train this many seeds (seed, seed+1, ...) and report mean +- std of every metric, >= 1.
  int seeds = 1;
  /// Momentum of sgd and rmsprop, in [0, 1).
  double momentum = 0.9;
  /// Loss: auto (mse for rating, bce for binary) | mse | huber | bce.
  std::string loss = "auto";
  /// Delta of the huber loss, > 0.
  double huber_delta = 1.0;
  /// Shuffle the training data every epoch.
  bool shuffle = true;
  /// Seed of torch, the shuffler and every other random source of training.
  int64_t seed = 42;
  /// Threads; 0 = all cores. Training splits each batch into up to this many slices whose
  /// forward and backward passes run in parallel.
  int threads = 0;
  /// Device: cpu | cuda | auto (cuda when available).
  std::string device = "cpu";
  /// Write a periodic checkpoint every N epochs into checkpoints/; 0 = never.
  int checkpoint_every = 1;
  /// last.pt every N steps within an epoch (a mid-epoch resume point); 0 = epoch ends only.
  int checkpoint_every_steps = 0;
  /// File name template of periodic checkpoints; placeholders {epoch:04d}, {val_rmse:.4f},
  /// {monitor:.4f} (the monitored metric), {step}, {train_loss:.4f}, ...
  std::string checkpoint_name = "epoch{epoch:04d}-{monitor:.4f}.pt";
  /// Keep best.pt: the checkpoint with the best monitored metric.
  bool save_best = true;
  /// Metric watched by save_best and early stopping: auto (val_rmse for rating, val_auc for
  /// binary) | val_<metric> | train_loss.
  std::string monitor = "auto";
  /// auto (max for auc and accuracy, min otherwise) | min | max.
  std::string mode = "auto";
  /// Checkpoints hold weights only (no optimizer state).
  bool save_weights_only = false;
  /// Early stopping patience in epochs; 0 = off.
  int patience = 0;
  /// Smallest change of the monitored metric that counts as an improvement, >= 0.
  double min_delta = 0.0;
  /// At the end of training, restore the weights of the best epoch (when best is tracked).
  bool restore_best = true;
};

/// Where results go.
struct OutputConfig {
  /// Run directory; empty = runs/<timestamp>.
  std::string dir = "";
  /// Learning-curve PNGs by scripts/plot.py at the end of a run (when matplotlib is there).
  bool plots = true;
};

/// The whole effective configuration of a run.
struct Config {
  DataConfig data;
  FeaturesConfig features;
  ModelConfig model;
  TrainConfig train;
  OutputConfig output;

  /// Checks every field; throws one ConfigError listing every problem.
  void validate() const;
  /// Sets "section.key" (or a key unique across sections) from its string form.
  void set(const std::string& key, const std::string& value);
  /// The string form of "section.key".
  std::string get(const std::string& key) const;
  /// Applies a YAML document (sections of keys); unknown keys are errors with a suggestion.
  void merge_yaml_string(const std::string& yaml, const std::string& source = "<yaml>");
  /// Applies a YAML file.
  void merge_yaml_file(const std::string& path);
  /// The effective config as YAML, every key present.
  std::string to_yaml() const;
  /// The loss actually used ("auto" resolved by task).
  std::string effective_loss() const;
  /// features.history with auto resolved by data.split: others | before (resolve_history).
  std::string effective_history() const;
  /// The monitored metric actually used ("auto" resolved by task).
  std::string effective_monitor() const;
  /// The monitor mode actually used ("auto" resolved by metric name): "min" or "max".
  std::string effective_mode() const;
};

/// One declared option: the single source for YAML keys, --set, CLI flags and help.
struct FieldInfo {
  std::string key;   ///< "section.name"
  std::string flag;  ///< CLI flag without dashes, or empty when only --set reaches it
  std::string type;  ///< int | float | string | bool | int_list
  std::string help;  ///< one line: meaning and range
  std::string default_value;
};

/// Every field of Config, in declaration order.
const std::vector<FieldInfo>& config_fields();

/// Resolves a user-written key ("lr" or "train.lr") to its full key; throws with a suggestion.
std::string resolve_config_key(const std::string& key);

/// The candidate closest to `word` by edit distance, or "" when nothing is close.
std::string nearest(const std::string& word, const std::vector<std::string>& candidates);

/// A features.history value with "auto" resolved by the split (data.split): "others" for the
/// random split, "before" for temporal and leave-last. Throws ConfigError for an unknown value
/// and for "before" with the random split (held-out ratings lie inside the timeline).
std::string resolve_history(const std::string& history, const std::string& split);

}  // namespace dnnrec
