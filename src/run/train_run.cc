// `dnnrec train`, read top to bottom as named stages: start the run, load and featurise,
// build the model, make the callbacks, resume, fit, evaluate the test split, write results.
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "dnnrec/error.h"
#include "dnnrec/pipeline.h"
#include "run/ranking_run.h"
#include "run/resume.h"
#include "run/run_common.h"
#include "run/train_run.h"
#include "train/distributed.h"
#include "train/metrics.h"

namespace fs = std::filesystem;
using json = nlohmann::ordered_json;

namespace dnnrec {

TrainRun::TrainRun(Config run_config, ProcessGroup* process_group)
    : config(std::move(run_config)),
      group(process_group),
      lead(process_group == nullptr || process_group->rank() == 0) {}

std::string TrainResult::to_json() const {
  json out;
  out["val"] = metrics_json(val);
  out["test"] = metrics_json(test);
  if (per_seed.empty()) out["best_epoch"] = best_epoch;
  out["epochs_run"] = epochs_run;
  out["train_samples_per_sec"] = train_samples_per_sec;
  out["model"] = model;
  if (per_seed.empty()) out["checkpoint"] = checkpoint;
  out["run_dir"] = run_dir;
  out["load_seconds"] = load_seconds;
  out["train_seconds"] = train_seconds;
  out["seconds_per_epoch"] = seconds_per_epoch;
  out["peak_rss_mib"] = peak_rss_mib;
  if (!machine.empty()) out["machine"] = machine;
  out["parameters"] = parameters;
  out["skipped_rows"] = skipped_rows;
  out["seeds"] = seeds;
  if (world_size > 1) {
    out["world_size"] = world_size;
    out["rank_weights_digests"] = rank_weights_digests;
  }
  if (!per_seed.empty()) {
    out["val_std"] = metrics_json(val_std);
    out["test_std"] = metrics_json(test_std);
    json runs = json::array();
    for (const auto& r : per_seed) runs.push_back(json::parse(r.to_json()));
    out["per_seed"] = runs;
  }
  return out.dump(2);
}

namespace {

// The trainer's and every callback's state, so --resume continues exactly.
std::string resume_state_json(const TrainRun& run) {
  json state;
  state["trainer"] = json::parse(run.trainer->resume_state());
  json parts = json::array();
  for (const auto& cb : run.callbacks) parts.push_back(cb->save_state());
  state["callbacks"] = parts;
  return state.dump();
}

}  // namespace

CheckpointMeta checkpoint_meta(const TrainRun& run, int epoch,
                               const std::map<std::string, double>& metrics, bool weights_only) {
  CheckpointMeta meta;
  meta.dnnrec_version = kVersion;
  meta.created_at = now_iso8601();
  meta.config_yaml = run.config.to_yaml();
  meta.data_dir = run.data_dir;
  meta.data_fingerprint = run.data_fingerprint;
  meta.epoch = epoch;
  meta.step = run.trainer->state().step;
  meta.monitor = run.config.effective_monitor();
  meta.offset = run.offset;
  meta.metrics = metrics;
  if (!weights_only) meta.resume_state = resume_state_json(run);
  return meta;
}

void start_run(TrainRun& run, const std::string& command_line) {
  const Config& config = run.config;
  TrainResult& result = run.result;
  run.command_line = command_line;
  result.run_dir = config.output.dir;
  if (run.lead) run.log_file.emplace(result.run_dir + "/train.log");
  spdlog::info("dnnrec {} train: run directory {}", kVersion, result.run_dir);
  spdlog::debug("command: {}", command_line);
  if (run.lead) {
    atomic_write_file(result.run_dir + "/command.txt", command_line + "\n");
    atomic_write_file(result.run_dir + "/config.yaml", config.to_yaml());
  }
  spdlog::debug("effective config:\n{}", config.to_yaml());
  check_blas();
  const int threads = configure_threads(config.train.threads);
  keep_freed_memory();
  run.device = select_device(config.train.device);
  torch::manual_seed(static_cast<uint64_t>(config.train.seed));
  spdlog::info("seed {}, {} threads, device {}", config.train.seed, threads, run.device.str());
  result.machine = machine_info().summary();
  spdlog::info("machine: {}", result.machine);
}

namespace {

// Loads, splits and featurises the data: the three splits as tensors on the run's device.
void load_and_featurise(TrainRun& run) {
  const Config& config = run.config;
  const auto load_start = Clock::now();
  run.data = load_data(config);
  run.result.skipped_rows = run.data.report.skipped;
  run.split = split_ratings(run.data.ratings, config.data);
  if (config.train.task == "binary") {
    drop_unlabelled(run.data.ratings, config.train.dislike_threshold, config.train.like_threshold,
                    &run.split);
  }
  run.features = std::make_unique<FeatureBuilder>(config.features, config.data.split);
  FeatureBuilder& features = *run.features;
  features.fit(run.data, run.split.train);
  run.spec = features.spec(config.data);
  const std::string& task = config.train.task;
  const double threshold = config.train.like_threshold;
  run.train =
      TensorData(features.transform_train(run.data, run.split.train), task, threshold, run.device);
  run.val = TensorData(features.transform(run.data, run.split.val), task, threshold, run.device);
  run.test = TensorData(features.transform(run.data, run.split.test), task, threshold, run.device);
  run.result.load_seconds = seconds_since(load_start);
  spdlog::info(
      "{}: {} ratings, {} users, {} movies, {} tags; split {} -> train {}, val {}, "
      "test {} ({:.2f}s)",
      config.data.dir, run.data.ratings.size(), run.spec.n_users - 2, run.spec.n_movies - 2,
      run.data.tags.size(), config.data.split, run.split.train.size(), run.split.val.size(),
      run.split.test.size(), run.result.load_seconds);
}

// The output offset: mean training rating, or the logit of the training "liked" rate.
double output_offset(const Config& config, const MovieLens& data,
                     const std::vector<int64_t>& train_rows, double global_mean) {
  if (config.train.task != "binary") return global_mean;
  double liked = 0;
  for (int64_t row : train_rows) liked += data.ratings.rating[row] >= config.train.like_threshold;
  const double p = std::clamp(liked / std::max<double>(1.0, train_rows.size()), 1e-4, 1 - 1e-4);
  return std::log(p / (1 - p));
}

// Builds the model and compiles its trainer.
void build_model(TrainRun& run) {
  const Config& config = run.config;
  run.offset = output_offset(config, run.data, run.split.train, run.spec.global_mean);
  run.model = make_model(config.model, run.spec, run.offset);
  for (const auto& p : run.model->parameters()) run.result.parameters += p.numel();
  spdlog::info("model {}: {} parameters; optimizer {} lr {}, loss {}, batch {}", config.model.name,
               run.result.parameters, config.train.optimizer, config.train.lr,
               config.effective_loss(), config.train.batch_size);
  run.trainer = std::make_unique<Trainer>(run.model, config, run.device);
  run.trainer->set_process_group(run.group);
  run.result.model = config.model.name;
}

// Room for a few checkpoints, checked before training rather than found missing after an
// epoch (a checkpoint is the weights plus two optimizer moments).
void check_disk_space(const TrainRun& run) {
  const std::string& dir = run.result.run_dir;
  const uint64_t checkpoint_bytes =
      static_cast<uint64_t>(run.result.parameters) * 4 * 3 + (1 << 20);
  const uint64_t free_bytes = run.lead ? free_disk_bytes(dir) : UINT64_MAX;
  if (free_bytes < 3 * checkpoint_bytes) {
    throw Error("not enough disk space in " + dir + " for checkpoints: each needs about " +
                std::to_string(checkpoint_bytes >> 20) + " MiB, " +
                std::to_string(free_bytes >> 20) + " MiB are free");
  }
}

// Writes one checkpoint of the run (the checkpointer's save function).
void save_run_checkpoint(TrainRun& run, const std::string& path, bool weights_only) {
  const TrainState& state = run.trainer->state();
  const CheckpointMeta meta = checkpoint_meta(run, state.epoch, state.logs, weights_only);
  try {
    save_checkpoint(path, meta, run.features->vocabs(), *run.trainer->model(),
                    weights_only ? nullptr : &run.trainer->optimizer());
  } catch (const Error& e) {
    throw Error(std::string(e.what()) + "; the last good checkpoint is " +
                    (run.last_good.empty() ? std::string("none yet") : run.last_good),
                e.exit_code());
  }
  run.last_good = path;
}

// What the checkpoints will say about the data, the disk check, and the callbacks.
void make_callbacks(TrainRun& run) {
  // Absolute, so evaluate / predict / recommend find the data from any working directory.
  run.data_dir = fs::absolute(run.config.data.dir).lexically_normal().string();
  run.data_fingerprint = fingerprint(run.data.ratings);
  check_disk_space(run);
  auto checkpointer = std::make_shared<ModelCheckpoint>(
      run.result.run_dir, run.config.train, [&run](const std::string& path, bool weights_only) {
        save_run_checkpoint(run, path, weights_only);
      });
  run.stopper = std::make_shared<EarlyStopping>(run.config.train);
  run.history = std::make_shared<HistoryWriter>(run.result.run_dir + "/history.csv");
  // The stopper before the checkpointer: the state last.pt holds includes its epoch. The
  // other ranks of a group only stop early with rank 0 (the same logs, the same decision).
  run.callbacks = {std::make_shared<ProgressLogger>(live_progress()), run.history, run.stopper,
                   checkpointer};
  if (!run.lead) run.callbacks = {run.stopper};
}

// In a group, the other ranks take rank 0's stopper state (the weights, optimizer and trainer
// state follow in fit).
void share_stopper_state(TrainRun& run) {
  if (run.group == nullptr) return;
  const std::string state = run.group->broadcast_bytes(run.lead ? run.stopper->save_state() : "");
  if (!run.lead && !state.empty()) run.stopper->load_state(state);
}

// Fails on a bad checkpoint name before training rather than after the first epoch.
void check_checkpoint_name(const Config& config) {
  std::map<std::string, double> names = {{"epoch", 0}, {"step", 0},     {"train_loss", 0},
                                         {"lr", 0},    {"val_loss", 0}, {"monitor", 0}};
  for (const auto& metric : task_metrics(config.train.task)) names["val_" + metric] = 0;
  format_template(config.train.checkpoint_name, names);
}

void fit(TrainRun& run) {
  const auto train_start = Clock::now();
  run.trainer->fit(run.train, &run.val, run.callbacks);
  run.result.train_seconds = seconds_since(train_start);
  run.result.world_size = run.group != nullptr ? run.group->world_size() : 1;
  run.result.rank_weights_digests = run.trainer->rank_digests();
}

// The end of training on a rank other than 0, which evaluates and writes for the group.
TrainResult finish_other_rank(const TrainRun& run) {
  if (run.trainer->interrupted()) {
    throw Error("interrupted during epoch " + std::to_string(run.trainer->state().epoch) +
                    "; rank 0 saved the state",
                kExitInterrupted);
  }
  spdlog::info("training done; rank 0 evaluates and writes the results");
  return run.result;
}

// Epochs run and throughput, from history.csv's rows.
void summarise_history(TrainRun& run) {
  TrainResult& result = run.result;
  result.epochs_run = static_cast<int>(run.history->rows().size());
  double samples = 0, seconds = 0;
  for (const auto& row : run.history->rows()) {
    samples += row.at("samples_per_sec") * row.at("seconds");
    seconds += row.at("seconds");
  }
  result.train_samples_per_sec = seconds > 0 ? samples / seconds : 0.0;
  result.seconds_per_epoch = result.epochs_run > 0 ? seconds / result.epochs_run : 0.0;
  result.seeds = {run.config.train.seed};
}

// An interrupted run: saves the state at the interrupt to interrupted.pt and throws.
[[noreturn]] void save_interrupted(TrainRun& run) {
  const std::string path = run.result.run_dir + "/interrupted.pt";
  const Trainer& trainer = *run.trainer;
  const int epoch = trainer.state().epoch;
  const CheckpointMeta meta = checkpoint_meta(run, epoch - 1, {}, /*weights_only=*/false);
  save_checkpoint(path, meta, run.features->vocabs(), *trainer.model(), &run.trainer->optimizer());
  throw Error("interrupted during epoch " + std::to_string(epoch) +
                  "; the state at the interrupt is in " + path + "; continue with: " +
                  (run.group != nullptr
                       ? "dnnrec launch --nproc " + std::to_string(run.group->world_size()) + " -- "
                       : std::string("dnnrec ")) +
                  "train --resume " + run.result.run_dir,
              kExitInterrupted);
}

// The test split is read once, at the end, with the weights of the chosen checkpoint. With
// restore_best the weights are now those of the best epoch, which best.pt holds too.
void evaluate_and_write(TrainRun& run) {
  const TrainConfig& train = run.config.train;
  TrainResult& result = run.result;
  result.best_epoch = run.stopper->best_epoch();
  if (!train.restore_best) {
    result.checkpoint = result.run_dir + "/last.pt";
  } else if (train.save_best) {
    result.checkpoint = result.run_dir + "/best.pt";
  }
  result.val = run.trainer->evaluate(run.val);
  result.test = run.trainer->evaluate(run.test);
  std::string line;
  for (const auto& [name, value] : result.test) line += fmt::format(" {} {:.4f}", name, value);
  spdlog::info("test ({} examples, weights of epoch {}):{}", run.test.size(),
               train.restore_best ? result.best_epoch : result.epochs_run, line);
  result.peak_rss_mib = peak_rss_mib();
  atomic_write_file(result.run_dir + "/metrics.json", result.to_json() + "\n");
  // Repeated at the end, where it is seen: the model was trained without these rows.
  if (run.data.report.skipped > 0) spdlog::warn("{}", run.data.report.summary());
}

// One training run into an existing run directory.
TrainResult train_one(Config config, const std::string& command_line, bool dry_run,
                      const std::string& resume = "", ProcessGroup* group = nullptr) {
  TrainRun run(std::move(config), group);
  start_run(run, command_line);
  if (run.config.train.task == "ranking") return train_ranking(run, dry_run, resume);
  load_and_featurise(run);
  build_model(run);
  if (dry_run) {
    run.result.peak_rss_mib = peak_rss_mib();
    spdlog::info("dry run: data and model are ready ({:.0f} MiB); stopping before training",
                 run.result.peak_rss_mib);
    return run.result;
  }
  make_callbacks(run);
  if (run.lead && !resume.empty()) load_resume_point(run, resume);
  share_stopper_state(run);
  check_checkpoint_name(run.config);
  fit(run);
  if (!run.lead) return finish_other_rank(run);
  summarise_history(run);
  if (run.trainer->interrupted()) save_interrupted(run);
  evaluate_and_write(run);
  return run.result;
}

std::map<std::string, double> mean_over(const std::vector<TrainResult>& runs,
                                        std::map<std::string, double> TrainResult::*part,
                                        bool std_dev) {
  std::map<std::string, double> out;
  for (const auto& [name, unused] : runs.front().*part) {
    double sum = 0, sq = 0;
    for (const auto& r : runs) sum += (r.*part).at(name);
    const double mean = sum / runs.size();
    for (const auto& r : runs) sq += std::pow((r.*part).at(name) - mean, 2);
    // Sample standard deviation (n - 1), as numpy.std(ddof=1) and most papers report.
    out[name] = std_dev ? (runs.size() > 1 ? std::sqrt(sq / (runs.size() - 1)) : 0.0) : mean;
  }
  return out;
}

// Several seeds' runs as one result: mean +- std of every metric, sums and means of the rest.
TrainResult combine_seeds(const Config& config, const std::vector<TrainResult>& runs) {
  TrainResult result;
  result.run_dir = config.output.dir;
  result.model = config.model.name;
  result.val = mean_over(runs, &TrainResult::val, false);
  result.test = mean_over(runs, &TrainResult::test, false);
  result.val_std = mean_over(runs, &TrainResult::val, true);
  result.test_std = mean_over(runs, &TrainResult::test, true);
  for (const auto& r : runs) {
    result.seeds.push_back(r.seeds.front());
    result.epochs_run += r.epochs_run;
    result.train_samples_per_sec += r.train_samples_per_sec / runs.size();
    result.seconds_per_epoch += r.seconds_per_epoch / runs.size();
    result.load_seconds += r.load_seconds;
    result.train_seconds += r.train_seconds;
  }
  result.parameters = runs.front().parameters;
  result.peak_rss_mib = peak_rss_mib();
  result.skipped_rows = runs.front().skipped_rows;
  result.machine = runs.front().machine;
  result.per_seed = runs;
  return result;
}

// Several seeds: one sub-run per seed (seed-N), then mean +- std of every metric.
TrainResult train_seeds(const Config& config, const std::string& command_line) {
  ScopedLogFile log_file(config.output.dir + "/train.log");
  atomic_write_file(config.output.dir + "/command.txt", command_line + "\n");
  atomic_write_file(config.output.dir + "/config.yaml", config.to_yaml());
  std::vector<TrainResult> runs;
  for (int k = 0; k < config.train.seeds; ++k) {
    Config one = config;
    one.train.seed = config.train.seed + k;
    one.train.seeds = 1;
    one.output.dir = make_run_dir(config.output.dir + "/seed-" + std::to_string(one.train.seed));
    spdlog::info("seed {} of {}: {}", k + 1, config.train.seeds, one.output.dir);
    runs.push_back(train_one(one, command_line, false));
  }
  TrainResult result = combine_seeds(config, runs);
  std::string line;
  for (const auto& [name, value] : result.test) {
    line += fmt::format(" {} {:.4f} +- {:.4f}", name, value, result.test_std.at(name));
  }
  spdlog::info("test over {} seeds:{}", runs.size(), line);
  atomic_write_file(result.run_dir + "/metrics.json", result.to_json() + "\n");
  return result;
}

}  // namespace

TrainResult run_train(const Config& input_config, const std::string& command_line, bool dry_run,
                      const std::string& resume, ProcessGroup* group) {
  Config config = input_config;
  config.validate();
  // The run's config.yaml and checkpoints name the history its training examples got.
  config.features.history = config.effective_history();
  if (group != nullptr) {
    if (config.train.seeds > 1) {
      throw ConfigError(
          "train.seeds > 1 with --world-size > 1: run the seeds one after another "
          "(--seed N)");
    }
    if (group->rank() == 0) config.output.dir = make_run_dir(config.output.dir);
    return train_one(config, command_line, dry_run, group->rank() == 0 ? resume : "", group);
  }
  config.output.dir = make_run_dir(config.output.dir);
  if (!resume.empty()) {
    if (config.train.seeds > 1) {
      throw ConfigError("--resume continues one run: give a seed's run directory (seed-N)");
    }
    return train_one(config, command_line, false, resume);
  }
  if (config.train.seeds <= 1 || dry_run) return train_one(config, command_line, dry_run);
  return train_seeds(config, command_line);
}

}  // namespace dnnrec
