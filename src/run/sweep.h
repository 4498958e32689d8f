// Hyperparameter sweeps: grid and random trials over config keys, several seeds each, run as
// child `dnnrec train` processes a few at a time, resumable, ranked in a leaderboard.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "dnnrec/config.h"

namespace dnnrec {

/// A random-search range: key=LO:HI[:SCALE], SCALE lin (default), log, int or logint.
struct SweepRange {
  std::string key;  ///< full config key
  double lo = 0.0, hi = 0.0;
  std::string scale = "lin";
};

/// Parses "lr=0.0003,0.001" into (full key, values); throws ConfigError.
std::pair<std::string, std::vector<std::string>> parse_grid_axis(const std::string& text);
/// Parses "lr=1e-4:1e-2:log"; throws ConfigError.
SweepRange parse_range(const std::string& text);

struct SweepOptions {
  Config base;  ///< every trial starts from it (train flags, --config, --set)
  std::vector<std::pair<std::string, std::vector<std::string>>> grid;
  std::vector<SweepRange> ranges;
  int random = 0;            ///< draws per grid point from `ranges` (0: grid only)
  uint64_t random_seed = 0;  ///< the draws are a function of it: a re-run draws the same trials
  int seeds = 1;
  int jobs = 1;
  std::string metric = "auto";  ///< a validation metric: val_rmse, val_auc, ... (auto: monitor)
  std::string out;              ///< the sweep directory
  std::string binary;           ///< the dnnrec executable that runs each trial
  std::string command_line;
};

/// One trial: the values it sets and its effective config.
struct Trial {
  std::vector<std::pair<std::string, std::string>> params;  ///< (full key, value), sweep order
  Config config;
  std::string id;  ///< trial_id(config)
};

/// The trials of a sweep: the grid's cartesian product (first axis slowest), each point
/// followed by `random` draws over the ranges when there are ranges. Validates every config.
std::vector<Trial> expand_trials(const SweepOptions& options);

/// A 16-hex-digit hash of the config's values that differ from the built-in defaults, without
/// the keys that do not change results (train.threads, data.cache, output.*): trials are
/// keyed by it, and a new key at its default does not change it.
std::string trial_id(const Config& config);

/// Mean and standard deviation over seeds of one metric.
struct MetricSummary {
  double mean = 0.0, std = 0.0;
};

/// One leaderboard row.
struct TrialResult {
  std::string id;
  std::vector<std::pair<std::string, std::string>> params;
  std::string status;  ///< done | diverged | failed
  std::string run_dir;
  std::vector<std::pair<std::string, MetricSummary>> metrics;  ///< val_*, test_*
  double score = 0.0;  ///< the ranking metric's mean (NaN when missing)
  int rank = 0;
};

/// What `dnnrec sweep` did.
struct SweepResult {
  std::string dir;
  std::string metric;
  std::string mode;  ///< min | max
  int trials = 0, ran = 0, reused = 0, failed = 0;
  bool interrupted = false;
  std::vector<TrialResult> leaderboard;  ///< ranked, best first
  std::string best_config;               ///< path of best.yaml ("" when no trial finished)
  std::string to_json() const;
};

/// Runs (or resumes) a sweep: trials with a finished run in `out`/trials/<id> are read, not
/// re-run; others run `binary train` with up to `jobs` at once, train.threads split between
/// them. Writes sweep.yaml, trials.csv, leaderboard.csv, leaderboard.md and best.yaml.
SweepResult run_sweep(const SweepOptions& options);

}  // namespace dnnrec
