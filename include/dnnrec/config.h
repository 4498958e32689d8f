// The one configuration struct, declared key by key (help, check, flag, default), and YAML I/O.
// Precedence: built-in defaults < YAML file (--config) < command-line flags < --set key=value.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace dnnrec {

// clang-format off
// Every option, declared once: X(section, type, name, default, CLI flag ("" = --set and YAML
// only), check, help). The structs below, the field table (config_fields: --set, YAML, flags,
// --help, `dnnrec config --markdown`, the README table) and validate() are all made from these
// rows. A check is one of check::none(), at_least(x), greater(x), unit() ([0, 1)), open_unit()
// ((0, 1)), finite(), one_of("a|b", alias "from=to"), non_empty(), layer_sizes(),
// positive_list(), non_negative_list() (config.cc);
// rules that tie several keys together live beside validate() in config.cc.
/// Where the data is and how it is split.
#define DNNREC_DATA_KEYS(X) \
  X(data, std::string, dir, "data/ml-latest-small", "data", none(), \
    "Folder of a MovieLens release in any of data.format's layouts.") \
  X(data, std::string, format, "auto", "", \
    one_of("auto|movielens-csv|ml-100k|ml-1m|ml-10m|csv"), \
    "The folder's layout: auto (detected: ratings.csv, u.data, ratings.dat with or without " \
    "users.dat) | movielens-csv (ml-latest, ml-20m, ml-25m, ml-32m) | ml-100k | ml-1m | " \
    "ml-10m | csv (any interaction log, described by the data.csv_* keys).") \
  X(data, std::string, split, "random", "split", \
    one_of("random|temporal|leave-last|random-per-user"), \
    "Split method: random | temporal | leave-last | random-per-user (each user's n rows " \
    "shuffled, then cut at floor((1 - val - test) n) and floor((1 - test) n)).") \
  X(data, double, val_ratio, 0.1, "", unit(), \
    "Fraction of ratings for validation (random, temporal, random-per-user), in [0, 1).") \
  X(data, double, test_ratio, 0.1, "", unit(), \
    "Fraction of ratings for test (random, temporal, random-per-user), in [0, 1).") \
  X(data, int64_t, split_seed, 42, "", none(), \
    "Seed of the random split; separate from train.seed so seeds vary the model, not the " \
    "test set.") \
  X(data, std::string, on_bad_row, "fail", "on-bad-row", one_of("fail|skip"), \
    "What a malformed CSV row does: fail (stop with file:line, exit 2) | skip (count and " \
    "report).") \
  X(data, double, min_rating, 0.5, "", none(), \
    "Lowest valid rating; predictions are clipped to [min_rating, max_rating].") \
  X(data, double, max_rating, 5.0, "", none(), \
    "Highest valid rating.") \
  X(data, double, min_interaction_rating, 3.0, "", finite(), \
    "Ranking task: a rating counts as an interaction when it is at least this (3 in " \
    "RecBole's protocol; the data's lowest rating keeps every rating).") \
  X(data, int64_t, min_user_interactions, 10, "", at_least(0), \
    "Ranking task: iterative k-core, users with fewer interactions are dropped; 0 = off.") \
  X(data, int64_t, min_item_interactions, 10, "", at_least(0), \
    "Ranking task: iterative k-core, movies with fewer interactions are dropped; 0 = off.") \
  X(data, bool, cache, true, "", none(), \
    "Keep a binary copy of the parsed CSVs in <dir>/.dnnrec-cache/ (rewritten whenever a " \
    "CSV changes), so later runs skip parsing.") \
  X(data, std::string, csv_events, "events.csv", "", none(), \
    "data.format csv: the interaction log, relative to data.dir (or absolute).") \
  X(data, std::string, csv_delimiter, ",", "", none(), \
    "data.format csv: the field delimiter of its files, one character or 'tab'; fields may " \
    "be double-quoted.") \
  X(data, bool, csv_header, true, "", none(), \
    "data.format csv: the files start with a header row; without one, columns are named by " \
    "number from 1.") \
  X(data, std::string, csv_user, "user_id", "", none(), \
    "data.format csv: the user column (ids may be any text).") \
  X(data, std::string, csv_item, "item_id", "", none(), \
    "data.format csv: the item column (ids may be any text).") \
  X(data, std::string, csv_rating, "", "", none(), \
    "data.format csv: the rating column; empty: implicit data, every row an interaction " \
    "(ranking task only).") \
  X(data, std::string, csv_timestamp, "", "", none(), \
    "data.format csv: the timestamp column (Unix seconds); empty: untimed, the temporal and " \
    "leave-last splits are refused.") \
  X(data, std::string, csv_items, "", "", none(), \
    "data.format csv: an item-feature file (one row per item), empty for none.") \
  X(data, std::string, csv_item_key, "item_id", "", none(), \
    "data.format csv: the item column of the item-feature file.") \
  X(data, std::string, csv_item_features, "", "", none(), \
    "data.format csv: its feature columns, comma-separated; COLUMN:SEP for a multi-valued " \
    "one (e.g. category,tags:|). They become the movies' genre tokens (column=value).") \
  X(data, std::string, csv_users, "", "", none(), \
    "data.format csv: a user-feature file (one row per user), empty for none.") \
  X(data, std::string, csv_user_key, "user_id", "", none(), \
    "data.format csv: the user column of the user-feature file.") \
  X(data, std::string, csv_user_features, "", "", none(), \
    "data.format csv: its feature columns, as csv_item_features; they become the profile " \
    "field (features.user_features).")

/// How raw data becomes padded id sequences.
#define DNNREC_FEATURES_KEYS(X) \
  X(features, int, history_len, 20, "seq-len", at_least(0), \
    "Length L of the user history, >= 0: the user's latest L training ratings when a rating" \
    " is evaluated or served; for a training example, see history. sasrec: the items its " \
    "attention reads (>= 1).") \
  X(features, std::string, history, "auto", "history", one_of("auto|others|before"), \
    "The history of a training example: others (the user's other training ratings, the " \
    "latest L: SVD++'s N(u)) | before (the training ratings before it: sequential training)" \
    " | auto (others for the random split, before for temporal and leave-last). before with" \
    " the random split is refused: held-out ratings lie inside the timeline, which serving " \
    "never sees.") \
  X(features, int, genre_len, 10, "", at_least(0), \
    "Length of the genre sequence of a movie, >= 0.") \
  X(features, int, tag_len, 10, "", at_least(0), \
    "Number T of most frequent tags kept per movie, >= 0.") \
  X(features, std::string, padding, "pre", "", one_of("pre|post"), \
    "Keras pad_sequences padding: pre | post.") \
  X(features, std::string, truncating, "pre", "", one_of("pre|post"), \
    "Keras pad_sequences truncating: pre | post.") \
  X(features, bool, use_year, true, "", none(), \
    "Use the release year parsed from the title.") \
  X(features, bool, user_features, true, "", none(), \
    "Use the users' descriptions where the data has them (ml-100k, ml-1m: gender, age " \
    "group, occupation, zip prefix; csv: the user file's columns) as one pooled field of " \
    "column=value tokens, as genres are for movies. No effect on data without them.") \
  X(features, int, zip_prefix, 2, "", at_least(0), \
    "Leading characters of the zip code kept as a user feature, >= 0 (0: no zip).")

/// Which model and its shape.
#define DNNREC_MODEL_KEYS(X) \
  X(model, std::string, name, "dnn", "model", none(), \
    "Model name from the registry (dnnrec config --models lists them).") \
  X(model, int, embedding_dim, 32, "embedding-dim", at_least(1), \
    "Embedding size of every id feature, >= 1.") \
  X(model, std::vector<int64_t>, hidden, (std::vector<int64_t>{256, 128, 64}), "hidden", \
    layer_sizes(), \
    "Hidden layer sizes of the MLP tower, e.g. 256,128,64.") \
  X(model, std::string, activation, "relu", "", one_of("relu|gelu|tanh|sigmoid|leaky_relu"), \
    "Tower activation: relu | gelu | tanh | sigmoid | leaky_relu.") \
  X(model, double, dropout, 0.2, "dropout", unit(), \
    "Dropout after each hidden layer, in [0, 1).") \
  X(model, bool, batch_norm, false, "", none(), \
    "Batch normalisation after each hidden linear layer.") \
  X(model, bool, bias_terms, true, "", none(), \
    "Add user and movie bias terms to the output (dnn, wide-deep, deepfm).") \
  X(model, bool, implicit, false, "", none(), \
    "dnn: add an SVD++-like implicit term, the movie factor times the mean of the user's " \
    "history factors (training history only).") \
  X(model, int, neighbours, 100, "", at_least(1), \
    "itemknn: most similar items (cosine) each item keeps, >= 1.") \
  X(model, double, ease_lambda, 200.0, "", greater(0), \
    "ease: L2 regularisation lambda of the closed form (X^T X + lambda I)^-1, > 0.") \
  X(model, double, ease_tau, 0.0, "", at_least(0), \
    "ease: time kernel in seconds; > 0 weighs each co-occurrence of two items in a user's " \
    "training interactions by exp(-|t_i - t_j| / tau) in X^T X (items rated together count " \
    "most); 0 = plain EASE.") \
  X(model, double, recency_tau, 0.0, "", at_least(0), \
    "itemknn, ease: > 0 builds the user's row from their latest features.history_len items " \
    "(for test, the validation items last; when serving, every interaction), the k-th " \
    "newest weighted exp(-k / recency_tau), k = 0 for the newest; 0 = every training item, " \
    "weight 1.") \
  X(model, int, sequence_window, 0, "", at_least(0), \
    "itemknn, ease: > 0 adds sequential rules (Ludewig & Jannach 2018) to the item-item " \
    "matrix: T[i][j] counts item j following item i within this many positions of a user's " \
    "training sequence, each weighted 1 / gap, rows normalised to sum 1; 0 = off.") \
  X(model, double, sequence_weight, 1.0, "", at_least(0), \
    "itemknn, ease with sequence_window: the rules' weight, alpha in B + alpha s T, where s " \
    "makes the training rows' scores by T spread as widely (standard deviation) as by B.") \
  X(model, double, temperature, 0.1, "", greater(0), \
    "two-tower: softmax temperature; scores are divided by it while training, > 0.") \
  X(model, bool, logq, true, "", none(), \
    "two-tower: log-Q correction, each sampled item's logit minus the log of its sampling " \
    "probability (Yi et al. 2019).") \
  X(model, int, blocks, 2, "", at_least(1), \
    "sasrec: self-attention blocks, >= 1.") \
  X(model, int, heads, 1, "", at_least(1), \
    "sasrec: attention heads (embedding_dim must be a multiple), >= 1.") \
  X(model, std::vector<std::string>, members, (std::vector<std::string>{}), "", none(), \
    "blend: its member models, two or more, each a config file (.yaml or .yml: trained by " \
    "this run into members/<i>-<model>/, with this config's data and eval sections, " \
    "features.user_features and train.seed, threads and device) or a trained ranking " \
    "checkpoint or run directory (used as it is; trained on the same data, split and eval " \
    "keys). A relative path in a config file is taken from that file's folder, one given " \
    "with --set from the working directory.") \
  X(model, std::vector<double>, member_weights, (std::vector<double>{}), "", \
    non_negative_list(), \
    "blend: each member's weight w in the fused score -sum w ln(1 + rank), rank the item's " \
    "place (0 = first) in the member's ranking of the items the list may hold; empty = " \
    "equal weights.")

/// compile + fit settings and callbacks.
#define DNNREC_TRAIN_KEYS(X) \
  X(train, std::string, task, "rating", "task", one_of("rating|binary|ranking"), \
    "rating (regression on the rating) | binary (liked = rating >= like_threshold) | " \
    "ranking (top-K lists from implicit interactions, full-ranking metrics).") \
  X(train, double, like_threshold, 4.0, "", finite(), \
    "Threshold of the binary task's \"liked\" target.") \
  X(train, double, dislike_threshold, -1.0, "", finite(), \
    "Binary task: ratings <= this are the negatives, and the ones between it and " \
    "like_threshold are left out of every split (RecBole's CTR protocol on ml-1m: 2, dropping " \
    "the 3s); < 0 (default): every rating below like_threshold is a negative.") \
  X(train, int, epochs, 5, "epochs", at_least(1), \
    "Number of epochs, >= 1.") \
  X(train, int, batch_size, 256, "batch-size", at_least(1), \
    "Mini-batch size, >= 1.") \
  X(train, int, eval_batch_size, 8192, "", at_least(1), \
    "Batch size for evaluation and prediction, >= 1.") \
  X(train, double, lr, 1e-3, "lr", greater(0), \
    "Learning rate, > 0.") \
  X(train, std::string, optimizer, "adam", "optimizer", one_of("adam|adamw|sgd|adagrad|rmsprop"), \
    "Optimizer: adam | adamw | sgd | adagrad | rmsprop.") \
  X(train, double, weight_decay, 0.0, "", at_least(0), \
    "L2 weight decay of the dense (non-embedding) weights (decoupled for adamw), >= 0.") \
  X(train, double, embedding_l2, 0.0, "", at_least(0), \
    "L2 penalty on the embedding rows each batch touches (per example), >= 0; embedding " \
    "tables are never decayed densely.") \
  X(train, std::string, lr_schedule, "none", "", one_of("none|step|cosine|plateau"), \
    "Learning-rate schedule: none | step | cosine | plateau.") \
  X(train, int, lr_step_epochs, 5, "", at_least(1), \
    "step: multiply the rate by lr_gamma every lr_step_epochs epochs, >= 1.") \
  X(train, double, lr_gamma, 0.5, "", open_unit(), \
    "Factor of step and plateau decays, in (0, 1).") \
  X(train, int, lr_patience, 1, "", at_least(1), \
    "plateau: decay after this many epochs without improvement of the monitored metric, >= " \
    "1.") \
  X(train, double, min_lr, 0.0, "", at_least(0), \
    "Floor of every schedule (cosine ends here), >= 0.") \
  X(train, double, warmup_epochs, 0.0, "", at_least(0), \
    "Linear warm-up of the rate over the first N epochs (fractions allowed), >= 0.") \
  X(train, double, clip_norm, 0.0, "", at_least(0), \
    "Clip the global gradient norm to this value; 0 = off.") \
  X(train, bool, lazy_embeddings, true, "", none(), \
    "Row-wise (lazy) optimizer updates of embedding tables: a step changes only the rows " \
    "its batch touched; false = dense updates of every row (slower).") \
  X(train, int, seeds, 1, "seeds", at_least(1), \
    "Train this many seeds (seed, seed+1, ...) and report mean +- std of every metric, >= " \
    "1.") \
  X(train, double, momentum, 0.9, "", unit(), \
    "Momentum of sgd and rmsprop, in [0, 1).") \
  X(train, std::string, loss, "auto", "loss", one_of("auto|mse|huber|bce"), \
    "Loss: auto (mse for rating, bce for binary) | mse | huber | bce.") \
  X(train, int, negatives, 1, "negatives", at_least(0), \
    "Ranking task: sampled negatives; bpr, dnn, deepfm and neumf pair each positive with " \
    "this many uniform negatives (>= 1), two-tower adds this many shared uniform negatives " \
    "to a batch's in-batch ones.") \
  X(train, double, huber_delta, 1.0, "", greater(0), \
    "Delta of the huber loss, > 0.") \
  X(train, bool, shuffle, true, "", none(), \
    "Shuffle the training data every epoch.") \
  X(train, int64_t, seed, 42, "seed", none(), \
    "Seed of torch, the shuffler and every other random source of training.") \
  X(train, int, threads, 0, "threads", at_least(0), \
    "Threads; 0 = all cores. Training runs slices of each batch in parallel.") \
  X(train, std::string, device, "cpu", "device", one_of("cpu|cuda|auto", /*alias=*/"gpu=cuda"), \
    "Device: cpu | cuda | auto (cuda when available).") \
  X(train, int, checkpoint_every, 1, "checkpoint-every", at_least(0), \
    "Write a periodic checkpoint every N epochs into checkpoints/; 0 = never.") \
  X(train, int, checkpoint_every_steps, 0, "checkpoint-every-steps", at_least(0), \
    "Also write last.pt every N optimizer steps within an epoch, a point --resume continues" \
    " from exactly; 0 = only at epoch ends.") \
  X(train, std::string, checkpoint_name, "epoch{epoch:04d}-{monitor:.4f}.pt", "", non_empty(), \
    "File name template of periodic checkpoints; placeholders {epoch:04d}, {val_rmse:.4f}, " \
    "{monitor:.4f} (the monitored metric), {step}, ...") \
  X(train, bool, save_best, true, "save-best", none(), \
    "Keep best.pt: the checkpoint with the best monitored metric.") \
  X(train, std::string, monitor, "auto", "monitor", none(), \
    "Metric watched by save_best and early stopping: auto (val_rmse for rating, val_auc for" \
    " binary, val_ndcg@K with the first eval.topk for ranking) | val_<metric> | " \
    "train_loss.") \
  X(train, std::string, mode, "auto", "", one_of("auto|min|max"), \
    "auto (max for auc and accuracy, min otherwise) | min | max.") \
  X(train, bool, save_weights_only, false, "", none(), \
    "Checkpoints hold weights only (no optimizer state).") \
  X(train, int, patience, 0, "patience", at_least(0), \
    "Early stopping patience in epochs; 0 = off.") \
  X(train, double, min_delta, 0.0, "", at_least(0), \
    "Smallest change of the monitored metric that counts as an improvement, >= 0.") \
  X(train, bool, restore_best, true, "", none(), \
    "At the end of training, restore the weights of the best epoch (when best is tracked).")

/// How the ranking task is measured.
#define DNNREC_EVAL_KEYS(X) \
  X(eval, std::string, exclude, "interactions", "", one_of("interactions|rated"), \
    "Ranking task: what a user's list leaves out, in evaluation and recommend alike: " \
    "interactions (the training interactions, and for test the validation ones: RecBole's " \
    "protocol) | rated (also every movie the user rated below data.min_interaction_rating, " \
    "as a served list would; random-per-user split only).") \
  X(eval, std::vector<int64_t>, topk, (std::vector<int64_t>{10, 20}), "topk", positive_list(), \
    "Ranking task: the cut-offs K of ndcg@K, recall@K, mrr@K, hit@K, precision@K, " \
    "coverage@K and popularity@K, e.g. 10,20.")

/// Where results go.
#define DNNREC_OUTPUT_KEYS(X) \
  X(output, std::string, dir, "", "out", none(), \
    "Run directory; empty = runs/<timestamp>.") \
  X(output, bool, plots, true, "plots", none(), \
    "Draw learning curves (PNG) into the run directory with scripts/plot.py when " \
    "python3-matplotlib is installed.")

// clang-format on

#define DNNREC_CONFIG_MEMBER(section, type, name, default_value, flag, check, help) \
  type name = default_value;

/// Where the data is and how it is split.
struct DataConfig {
  DNNREC_DATA_KEYS(DNNREC_CONFIG_MEMBER)
};

/// How raw data becomes padded id sequences.
struct FeaturesConfig {
  DNNREC_FEATURES_KEYS(DNNREC_CONFIG_MEMBER)
};

/// Which model and its shape.
struct ModelConfig {
  DNNREC_MODEL_KEYS(DNNREC_CONFIG_MEMBER)
};

/// compile + fit settings and callbacks.
struct TrainConfig {
  DNNREC_TRAIN_KEYS(DNNREC_CONFIG_MEMBER)
};

/// How the ranking task is measured.
struct EvalConfig {
  DNNREC_EVAL_KEYS(DNNREC_CONFIG_MEMBER)
};

/// Where results go.
struct OutputConfig {
  DNNREC_OUTPUT_KEYS(DNNREC_CONFIG_MEMBER)
};

#undef DNNREC_CONFIG_MEMBER

/// The whole effective configuration of a run.
struct Config {
  DataConfig data;
  FeaturesConfig features;
  ModelConfig model;
  TrainConfig train;
  EvalConfig eval;
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
