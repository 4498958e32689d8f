// The whole job, read top to bottom: load, split, featurise, build, fit, test, write.
#include "dnnrec/pipeline.h"

#include <libfccp/csv.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <unordered_set>

#include "dnnrec/batch.h"
#include "dnnrec/callbacks.h"
#include "dnnrec/checkpoint.h"
#include "dnnrec/distributed.h"
#include "dnnrec/error.h"
#include "dnnrec/features.h"
#include "dnnrec/metrics.h"
#include "dnnrec/movielens.h"
#include "dnnrec/runtime.h"
#include "dnnrec/split.h"
#include "dnnrec/trainer.h"
#include "hash.h"

namespace fs = std::filesystem;
using json = nlohmann::ordered_json;

namespace dnnrec {
namespace {

constexpr const char* kVersion = "0.1.0";
using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

torch::Device select_device(const std::string& name) {
  if (name == "cpu") return torch::kCPU;
  if (name == "cuda") {
    if (!torch::cuda::is_available()) {
      throw ConfigError("--device cuda: no CUDA device is available to this libtorch build");
    }
    return torch::kCUDA;
  }
  if (name == "auto") return torch::cuda::is_available() ? torch::kCUDA : torch::kCPU;
  throw ConfigError("train.device: unknown device '" + name + "' (cpu | cuda | auto)");
}

// Count and FNV-1a hash of the ratings: a changed data folder is noticed at evaluation. The
// seed is not FNV's offset basis (a digit short since the first release); it stays, so the
// fingerprints in existing checkpoints still match their data.
std::string fingerprint(const Ratings& r) {
  uint64_t h = 1469598103934665603ULL;
  auto mix = [&h](uint64_t v) { h = fnv1a_u64(v, h); };
  for (size_t i = 0; i < r.size(); ++i) {
    mix(static_cast<uint64_t>(r.user[i]));
    mix(static_cast<uint64_t>(r.movie[i]));
    mix(static_cast<uint64_t>(std::lround(r.rating[i] * 2)));
    mix(static_cast<uint64_t>(r.timestamp[i]));
  }
  char buffer[64];
  std::snprintf(buffer, sizeof(buffer), "%zu:%016llx", r.size(),
                static_cast<unsigned long long>(h));
  return buffer;
}

MovieLens load_data(const Config& config) {
  LoadOptions options;
  options.on_bad_row = parse_bad_row_policy(config.data.on_bad_row);
  options.min_rating = static_cast<float>(config.data.min_rating);
  options.max_rating = static_cast<float>(config.data.max_rating);
  options.cache = config.data.cache;
  MovieLens data = load_movielens(config.data.dir, options);
  if (data.report.skipped > 0) spdlog::warn("{}", data.report.summary());
  return data;
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

json metrics_json(const std::map<std::string, double>& metrics) {
  json out = json::object();
  for (const auto& [name, value] : metrics) {
    if (std::isfinite(value)) {
      out[name] = value;
    } else {
      out[name] = nullptr;
    }
  }
  return out;
}

// Everything evaluate / predict / recommend rebuild from a checkpoint and the data folder.
struct Restored {
  Checkpoint ckpt;
  MovieLens data;
  Split split;
  std::unique_ptr<FeatureBuilder> features;
  FeatureSpec spec;
  std::unique_ptr<Trainer> trainer;
};

Restored restore(const std::string& checkpoint, const std::string& data_dir) {
  Restored r;
  r.ckpt = load_checkpoint(checkpoint);
  Config& config = r.ckpt.config;
  config.data.dir = data_dir.empty() ? r.ckpt.meta.data_dir : data_dir;
  spdlog::info("checkpoint {}: model {}, epoch {}, data {}", checkpoint, config.model.name,
               r.ckpt.meta.epoch, config.data.dir);
  r.data = load_data(config);
  const std::string print = fingerprint(r.data.ratings);
  if (print != r.ckpt.meta.data_fingerprint) {
    spdlog::warn(
        "the ratings in {} differ from the ones the model was trained on ({} vs {}): "
        "splits and histories may not match training",
        config.data.dir, print, r.ckpt.meta.data_fingerprint);
  }
  r.split = split_ratings(r.data.ratings, config.data);
  r.features = std::make_unique<FeatureBuilder>(config.features, config.data.split);
  r.features->restore(r.ckpt.vocabs, r.data, r.split.train);
  r.spec = r.features->spec(config.data);
  configure_threads(config.train.threads);
  RecModel model = r.ckpt.make_model(r.spec);
  r.trainer = std::make_unique<Trainer>(model, config, select_device(config.train.device));
  return r;
}

}  // namespace

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

// One training run into an existing run directory.
TrainResult train_one(Config config, const std::string& command_line, bool dry_run,
                      const std::string& resume = "", ProcessGroup* group = nullptr) {
  // In a group only rank 0 (the lead) writes files; the others train alongside it.
  const bool lead = group == nullptr || group->rank() == 0;
  TrainResult result;
  result.run_dir = config.output.dir;
  std::optional<ScopedLogFile> log_file;
  if (lead) log_file.emplace(result.run_dir + "/train.log");
  spdlog::info("dnnrec {} train: run directory {}", kVersion, result.run_dir);
  spdlog::debug("command: {}", command_line);
  if (lead) {
    atomic_write_file(result.run_dir + "/command.txt", command_line + "\n");
    atomic_write_file(result.run_dir + "/config.yaml", config.to_yaml());
  }
  spdlog::debug("effective config:\n{}", config.to_yaml());
  check_blas();
  const int threads = configure_threads(config.train.threads);
  keep_freed_memory();
  const torch::Device device = select_device(config.train.device);
  torch::manual_seed(static_cast<uint64_t>(config.train.seed));
  spdlog::info("seed {}, {} threads, device {}", config.train.seed, threads, device.str());
  result.machine = machine_info().summary();
  spdlog::info("machine: {}", result.machine);

  // Load, split and featurise.
  const auto load_start = Clock::now();
  MovieLens data = load_data(config);
  result.skipped_rows = data.report.skipped;
  Split split = split_ratings(data.ratings, config.data);
  FeatureBuilder features(config.features, config.data.split);
  features.fit(data, split.train);
  const FeatureSpec spec = features.spec(config.data);
  const std::string& task = config.train.task;
  const double threshold = config.train.like_threshold;
  TensorData train(features.transform_train(data, split.train), task, threshold, device);
  TensorData val(features.transform(data, split.val), task, threshold, device);
  TensorData test(features.transform(data, split.test), task, threshold, device);
  result.load_seconds = seconds_since(load_start);
  spdlog::info(
      "{}: {} ratings, {} users, {} movies, {} tags; split {} -> train {}, val {}, "
      "test {} ({:.2f}s)",
      config.data.dir, data.ratings.size(), spec.n_users - 2, spec.n_movies - 2, data.tags.size(),
      config.data.split, split.train.size(), split.val.size(), split.test.size(),
      result.load_seconds);

  // Build and compile the model.
  const double offset = output_offset(config, data, split.train, spec.global_mean);
  RecModel model = make_model(config.model, spec, offset);
  for (const auto& p : model->parameters()) result.parameters += p.numel();
  spdlog::info("model {}: {} parameters; optimizer {} lr {}, loss {}, batch {}", config.model.name,
               result.parameters, config.train.optimizer, config.train.lr, config.effective_loss(),
               config.train.batch_size);
  Trainer trainer(model, config, device);
  trainer.set_process_group(group);
  result.model = config.model.name;
  if (dry_run) {
    result.peak_rss_mib = peak_rss_mib();
    spdlog::info("dry run: data and model are ready ({:.0f} MiB); stopping before training",
                 result.peak_rss_mib);
    return result;
  }

  CheckpointMeta base;
  base.dnnrec_version = kVersion;
  base.config_yaml = config.to_yaml();
  // Absolute, so evaluate / predict / recommend find the data from any working directory.
  base.data_dir = fs::absolute(config.data.dir).lexically_normal().string();
  base.data_fingerprint = fingerprint(data.ratings);
  base.monitor = config.effective_monitor();
  base.offset = offset;
  // Checkpoints hold the trainer's and every callback's state, so --resume continues exactly.
  std::vector<CallbackPtr> callbacks;
  auto resume_json = [&] {
    json state;
    state["trainer"] = json::parse(trainer.resume_state());
    json parts = json::array();
    for (const auto& cb : callbacks) parts.push_back(cb->save_state());
    state["callbacks"] = parts;
    return state.dump();
  };
  // Room for a few checkpoints, checked before training rather than found missing after an
  // epoch (a checkpoint is the weights plus two optimizer moments).
  const uint64_t checkpoint_bytes = static_cast<uint64_t>(result.parameters) * 4 * 3 + (1 << 20);
  const uint64_t free_bytes = lead ? free_disk_bytes(result.run_dir) : UINT64_MAX;
  if (free_bytes < 3 * checkpoint_bytes) {
    throw Error("not enough disk space in " + result.run_dir +
                " for checkpoints: each needs about " + std::to_string(checkpoint_bytes >> 20) +
                " MiB, " + std::to_string(free_bytes >> 20) + " MiB are free");
  }
  std::string last_good;  // the last checkpoint written, named when a write fails
  auto checkpointer = std::make_shared<ModelCheckpoint>(
      result.run_dir, config.train, [&](const std::string& path, bool weights_only) {
        CheckpointMeta meta = base;
        meta.created_at = now_iso8601();
        meta.epoch = trainer.state().epoch;
        meta.step = trainer.state().step;
        meta.metrics = trainer.state().logs;
        if (!weights_only) meta.resume_state = resume_json();
        try {
          save_checkpoint(path, meta, features.vocabs(), *trainer.model(),
                          weights_only ? nullptr : &trainer.optimizer());
        } catch (const Error& e) {
          throw Error(std::string(e.what()) + "; the last good checkpoint is " +
                          (last_good.empty() ? std::string("none yet") : last_good),
                      e.exit_code());
        }
        last_good = path;
      });
  auto stopper = std::make_shared<EarlyStopping>(config.train);
  auto history = std::make_shared<HistoryWriter>(result.run_dir + "/history.csv");
  // The stopper before the checkpointer: the state last.pt holds includes its epoch. The
  // other ranks of a group only stop early with rank 0 (the same logs, the same decision).
  callbacks = {std::make_shared<ProgressLogger>(live_progress()), history, stopper, checkpointer};
  if (!lead) callbacks = {stopper};
  if (lead && !resume.empty()) {
    const Checkpoint ckpt = load_checkpoint(resume);
    if (ckpt.meta.resume_state.empty()) {
      throw CheckpointError(resume +
                            ": holds no training state to resume from (weights only, "
                            "or written before --resume existed)");
    }
    if (ckpt.meta.data_fingerprint != base.data_fingerprint) {
      throw CheckpointError(resume + ": trained on other ratings (" + ckpt.meta.data_fingerprint +
                            ") than " + config.data.dir + " holds now (" + base.data_fingerprint +
                            "); a resumed run must see the same data");
    }
    ckpt.load_model(*model);
    ckpt.load_optimizer(trainer.optimizer());
    const json state = json::parse(ckpt.meta.resume_state);
    trainer.resume(state.at("trainer").dump());
    const auto& parts = state.at("callbacks");
    for (size_t i = 0; i < callbacks.size() && i < parts.size(); ++i) {
      const std::string part = parts[i].get<std::string>();
      if (!part.empty()) callbacks[i]->load_state(part);
    }
    // The best epoch's weights, restored at the end, are best.pt's.
    if (config.train.restore_best && stopper->best_epoch() > 0) {
      const std::string best = result.run_dir + "/best.pt";
      bool found = false;
      if (fs::exists(best)) {
        const Checkpoint b = load_checkpoint(best);
        if (b.meta.epoch == stopper->best_epoch()) {
          RecModel copy = make_model(config.model, spec, offset);
          b.load_model(*copy);
          stopper->set_best_weights(*copy);
          found = true;
        }
      }
      if (!found) {
        spdlog::warn("best.pt of epoch {} is missing: the end of the run keeps its last weights",
                     stopper->best_epoch());
      }
    }
    spdlog::info("resumed from {}: epoch {}, step {}", resume, ckpt.meta.epoch, ckpt.meta.step);
  }
  if (group != nullptr) {
    // The weights, optimizer and trainer state follow in fit; the stopper's state here.
    const std::string state = group->broadcast_bytes(lead ? stopper->save_state() : "");
    if (!lead && !state.empty()) stopper->load_state(state);
  }
  // Fail on a bad checkpoint name before training rather than after the first epoch.
  std::map<std::string, double> names = {{"epoch", 0}, {"step", 0},     {"train_loss", 0},
                                         {"lr", 0},    {"val_loss", 0}, {"monitor", 0}};
  for (const auto& metric : task_metrics(task)) names["val_" + metric] = 0;
  format_template(config.train.checkpoint_name, names);

  const auto train_start = Clock::now();
  trainer.fit(train, &val, callbacks);
  result.train_seconds = seconds_since(train_start);
  result.world_size = group != nullptr ? group->world_size() : 1;
  result.rank_weights_digests = trainer.rank_digests();
  if (!lead) {
    if (trainer.interrupted()) {
      throw Error("interrupted during epoch " + std::to_string(trainer.state().epoch) +
                      "; rank 0 saved the state",
                  kExitInterrupted);
    }
    spdlog::info("training done; rank 0 evaluates and writes the results");
    return result;
  }
  result.epochs_run = static_cast<int>(history->rows().size());
  double samples = 0, seconds = 0;
  for (const auto& row : history->rows()) {
    samples += row.at("samples_per_sec") * row.at("seconds");
    seconds += row.at("seconds");
  }
  result.train_samples_per_sec = seconds > 0 ? samples / seconds : 0.0;
  result.seconds_per_epoch = result.epochs_run > 0 ? seconds / result.epochs_run : 0.0;
  result.seeds = {config.train.seed};
  if (trainer.interrupted()) {
    const std::string path = result.run_dir + "/interrupted.pt";
    CheckpointMeta meta = base;
    meta.created_at = now_iso8601();
    meta.epoch = trainer.state().epoch - 1;
    meta.step = trainer.state().step;
    meta.resume_state = resume_json();
    save_checkpoint(path, meta, features.vocabs(), *trainer.model(), &trainer.optimizer());
    throw Error("interrupted during epoch " + std::to_string(trainer.state().epoch) +
                    "; the state at the interrupt is in " + path + "; continue with: " +
                    (group != nullptr
                         ? "dnnrec launch --nproc " + std::to_string(group->world_size()) + " -- "
                         : std::string("dnnrec ")) +
                    "train --resume " + result.run_dir,
                kExitInterrupted);
  }

  // The test split is read once, at the end, with the weights of the chosen checkpoint.
  // With restore_best the weights are now those of the best epoch, which best.pt holds too.
  result.best_epoch = stopper->best_epoch();
  if (!config.train.restore_best) {
    result.checkpoint = result.run_dir + "/last.pt";
  } else if (config.train.save_best) {
    result.checkpoint = result.run_dir + "/best.pt";
  }
  result.val = trainer.evaluate(val);
  result.test = trainer.evaluate(test);
  std::string line;
  for (const auto& [name, value] : result.test) line += fmt::format(" {} {:.4f}", name, value);
  spdlog::info("test ({} examples, weights of epoch {}):{}", test.size(),
               config.train.restore_best ? result.best_epoch : result.epochs_run, line);
  result.peak_rss_mib = peak_rss_mib();
  atomic_write_file(result.run_dir + "/metrics.json", result.to_json() + "\n");
  // Repeated at the end, where it is seen: the model was trained without these rows.
  if (data.report.skipped > 0) spdlog::warn("{}", data.report.summary());
  return result;
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

}  // namespace

std::string find_resume_checkpoint(const std::string& path) {
  std::error_code ec;
  if (!fs::is_directory(path, ec)) {
    load_checkpoint(path);  // a clear error now for a missing or damaged file
    return path;
  }
  // The newest good resume point of a run directory: interrupted.pt, last.pt or a periodic
  // checkpoint, by step.
  std::vector<std::string> candidates = {(fs::path(path) / "interrupted.pt").string(),
                                         (fs::path(path) / "last.pt").string()};
  if (fs::is_directory(fs::path(path) / "checkpoints", ec)) {
    for (const auto& entry : fs::directory_iterator(fs::path(path) / "checkpoints", ec)) {
      if (entry.path().extension() == ".pt") candidates.push_back(entry.path().string());
    }
  }
  std::string best;
  int64_t best_step = -1;
  for (const std::string& candidate : candidates) {
    if (!fs::exists(candidate, ec)) continue;
    try {
      const Checkpoint c = load_checkpoint(candidate);
      if (c.meta.resume_state.empty()) {
        spdlog::warn("{}: no training state (weights only); skipped", candidate);
        continue;
      }
      if (c.meta.step > best_step) {
        best_step = c.meta.step;
        best = candidate;
      }
    } catch (const Error& e) {
      spdlog::warn("{}; skipped", e.what());
    }
  }
  return best;
}

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

  // Several seeds: one sub-run per seed, then mean +- std of every metric.
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
  std::string line;
  for (const auto& [name, value] : result.test) {
    line += fmt::format(" {} {:.4f} +- {:.4f}", name, value, result.test_std.at(name));
  }
  spdlog::info("test over {} seeds:{}", runs.size(), line);
  atomic_write_file(result.run_dir + "/metrics.json", result.to_json() + "\n");
  return result;
}

std::string EvalResult::to_json() const {
  json out;
  out["checkpoint"] = checkpoint;
  out["split"] = split;
  out["examples"] = examples;
  out[split] = metrics_json(metrics);
  return out.dump(2);
}

namespace {

// A prediction as text that reads back to the same float (9 significant digits).
void append_number(std::string& text, double value) {
  char buffer[32];
  std::snprintf(buffer, sizeof(buffer), "%.9g", value);
  text += buffer;
}

// userId,movieId[,rating],prediction rows: predict's output and evaluate --predictions.
std::string predictions_csv(const std::vector<int64_t>& users, const std::vector<int64_t>& movies,
                            const std::vector<float>* ratings, const std::vector<float>& scores) {
  std::string text = ratings ? "userId,movieId,rating,prediction\n" : "userId,movieId,prediction\n";
  text.reserve(text.size() + users.size() * 32);
  for (size_t i = 0; i < users.size(); ++i) {
    text += std::to_string(users[i]);
    text += ',';
    text += std::to_string(movies[i]);
    text += ',';
    if (ratings) {
      append_number(text, (*ratings)[i]);
      text += ',';
    }
    append_number(text, scores[i]);
    text += '\n';
  }
  return text;
}

}  // namespace

EvalResult run_evaluate(const std::string& checkpoint, const std::string& data_dir,
                        const std::string& split_name, const std::string& predictions) {
  Restored r = restore(checkpoint, data_dir);
  const std::vector<int64_t>* rows = nullptr;
  if (split_name == "test") rows = &r.split.test;
  if (split_name == "val") rows = &r.split.val;
  if (split_name == "train") rows = &r.split.train;
  if (rows == nullptr)
    throw ConfigError("--split: unknown split '" + split_name + "' (test | val | train)");
  const Config& c = r.ckpt.config;
  // The rows' (user, movie) pairs encoded as predict serves them (FeatureBuilder::transform).
  TensorData data(r.features->transform(r.data, *rows), c.train.task, c.train.like_threshold,
                  r.trainer->device());
  EvalResult result;
  result.checkpoint = checkpoint;
  result.split = split_name;
  result.examples = data.size();
  std::vector<float> scores;
  result.metrics = r.trainer->evaluate(data, predictions.empty() ? nullptr : &scores);
  if (!predictions.empty()) {
    const Ratings& ratings = r.data.ratings;
    std::vector<int64_t> users, movies;
    std::vector<float> stars;
    for (int64_t row : *rows) {
      users.push_back(ratings.user[row]);
      movies.push_back(ratings.movie[row]);
      stars.push_back(ratings.rating[row]);
    }
    atomic_write_file(predictions, predictions_csv(users, movies, &stars, scores));
    spdlog::info("{} predictions of the {} split written to {}", rows->size(), split_name,
                 predictions);
  }
  return result;
}

namespace {

// The checkpoint a run directory's metrics came from: metrics.json's, else best.pt, last.pt.
std::vector<std::string> run_checkpoints(const fs::path& dir) {
  const fs::path metrics = dir / "metrics.json";
  if (fs::exists(metrics)) {
    json doc;
    try {
      doc = json::parse(read_text_file(metrics.string()));
    } catch (const json::exception& e) {
      throw CheckpointError(metrics.string() + ": not valid JSON (" + e.what() + ")");
    }
    if (doc.contains("per_seed")) {  // several seeds: each sub-run's
      std::vector<std::string> all;
      for (const auto& run : doc["per_seed"]) {
        if (run.contains("checkpoint")) all.push_back(run["checkpoint"].get<std::string>());
      }
      if (!all.empty()) return all;
    } else if (doc.contains("checkpoint") && fs::exists(doc["checkpoint"].get<std::string>())) {
      return {doc["checkpoint"].get<std::string>()};
    }
  }
  for (const char* name : {"best.pt", "last.pt"}) {
    if (fs::exists(dir / name)) return {(dir / name).string()};
  }
  return {};
}

}  // namespace

std::vector<std::string> checkpoints_of(const std::string& path) {
  std::error_code ec;
  if (!fs::is_directory(path, ec)) return {path};
  std::vector<std::string> out;
  const fs::path trials = fs::path(path) / "trials";
  if (fs::is_directory(trials, ec)) {
    // A sweep: every finished trial, in leaderboard order when there is one.
    std::vector<fs::path> runs;
    const fs::path board = fs::path(path) / "leaderboard.csv";
    if (fs::exists(board)) {
      std::istringstream in(read_text_file(board.string()));
      std::string line;
      std::getline(in, line);  // header
      while (std::getline(in, line)) {
        const size_t a = line.find(','), b = line.find(',', a + 1);
        if (a == std::string::npos || b == std::string::npos) continue;
        runs.push_back(trials / line.substr(a + 1, b - a - 1) / "run");
      }
    } else {
      for (const auto& entry : fs::directory_iterator(trials)) runs.push_back(entry.path() / "run");
      std::sort(runs.begin(), runs.end());
    }
    for (const auto& run : runs) {
      for (auto& c : run_checkpoints(run)) out.push_back(std::move(c));
    }
    if (out.empty()) throw CheckpointError(path + ": a sweep directory without finished trials");
    return out;
  }
  out = run_checkpoints(path);
  if (out.empty()) {
    throw CheckpointError(path +
                          ": a directory without best.pt, last.pt or metrics.json (give "
                          "a checkpoint file, a run directory or a sweep directory)");
  }
  return out;
}

PredictResult run_predict(const std::string& checkpoint, const std::string& data_dir,
                          const std::string& input, const std::string& output) {
  Restored r = restore(checkpoint, data_dir);
  std::vector<int64_t> users, movies;
  const std::string name = fs::path(input).filename().string();
  try {
    io::CSVReader<2, io::trim_chars<' ', '\t'>, io::double_quote_escape<',', '"'>> reader(input);
    reader.read_header(io::ignore_extra_column, "userId", "movieId");
    std::string user_text, movie_text;
    while (reader.read_row(user_text, movie_text)) {
      auto parse = [&](const std::string& text, const char* column) {
        char* end = nullptr;
        errno = 0;
        const long long v = std::strtoll(text.c_str(), &end, 10);
        if (text.empty() || *end != '\0' || errno != 0 || v < 0) {
          throw DataError(
              name, reader.get_file_line(),
              std::string("column '") + column + "': \"" + text + "\" is not a valid id");
        }
        return static_cast<int64_t>(v);
      };
      users.push_back(parse(user_text, "userId"));
      movies.push_back(parse(movie_text, "movieId"));
    }
  } catch (const io::error::base& e) {
    throw DataError(name + ": " + e.what());
  }
  PredictResult result;
  result.rows = static_cast<int64_t>(users.size());
  const FeatureVocabs& v = r.features->vocabs();
  for (size_t i = 0; i < users.size(); ++i) {
    result.unknown_users += v.users.lookup(users[i]) == Vocab<int64_t>::kUnknown;
    result.unknown_movies += v.movies.lookup(movies[i]) == Vocab<int64_t>::kUnknown;
  }
  const Config& c = r.ckpt.config;
  TensorData data(r.features->transform_pairs(r.data, users, movies), c.train.task,
                  c.train.like_threshold, r.trainer->device());
  const std::string text = predictions_csv(users, movies, nullptr, r.trainer->predict(data));
  if (output == "-" || output.empty()) {
    std::cout << text << std::flush;
  } else {
    atomic_write_file(output, text);
  }
  if (result.unknown_users || result.unknown_movies) {
    spdlog::warn("{} pairs with a user and {} with a movie unseen in training (scored as unknown)",
                 result.unknown_users, result.unknown_movies);
  }
  return result;
}

std::vector<Recommendation> run_recommend(const std::string& checkpoint,
                                          const std::string& data_dir, int64_t user, int k) {
  if (k <= 0) throw ConfigError("-k must be at least 1");
  Restored r = restore(checkpoint, data_dir);
  const Ratings& ratings = r.data.ratings;
  std::unordered_set<int64_t> rated;
  for (size_t i = 0; i < ratings.size(); ++i) {
    if (ratings.user[i] == user) rated.insert(ratings.movie[i]);
  }
  if (rated.empty()) {
    throw DataError("user " + std::to_string(user) + " has no ratings in " +
                    r.ckpt.config.data.dir + "/ratings.csv");
  }
  if (r.features->vocabs().users.lookup(user) == Vocab<int64_t>::kUnknown) {
    spdlog::warn("user {} has no training ratings: scores are those of an unknown user", user);
  }
  std::vector<int64_t> users, movies;
  for (const Movie& movie : r.data.movies) {
    if (rated.count(movie.id)) continue;
    users.push_back(user);
    movies.push_back(movie.id);
  }
  const Config& c = r.ckpt.config;
  TensorData data(r.features->transform_pairs(r.data, users, movies), c.train.task,
                  c.train.like_threshold, r.trainer->device());
  // Rank by the raw output: clipping would tie every score above the top of the scale.
  const torch::Tensor output = r.trainer->predict_raw(data);
  const std::vector<float> shown = r.trainer->to_predictions(output);
  const torch::Tensor raw = output.to(torch::kCPU).contiguous();
  std::vector<size_t> order(movies.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  const float* score = raw.data_ptr<float>();
  const size_t top = std::min<size_t>(k, order.size());
  std::partial_sort(order.begin(), order.begin() + top, order.end(), [&](size_t a, size_t b) {
    return score[a] != score[b] ? score[a] > score[b] : movies[a] < movies[b];
  });
  std::vector<Recommendation> result;
  for (size_t i = 0; i < top; ++i) {
    const Movie* movie = r.data.find_movie(movies[order[i]]);
    Recommendation rec;
    rec.movie = movies[order[i]];
    rec.title = movie->title;
    for (size_t g = 0; g < movie->genres.size(); ++g)
      rec.genres += (g ? "|" : "") + movie->genres[g];
    rec.score = score[order[i]];
    rec.predicted = shown[order[i]];
    result.push_back(rec);
  }
  return result;
}

std::string checkpoint_info_json(const std::string& checkpoint) {
  Checkpoint ckpt = load_checkpoint(checkpoint);
  const CheckpointMeta& m = ckpt.meta;
  json out;
  out["checkpoint"] = checkpoint;
  out["format_version"] = m.format_version;
  out["dnnrec_version"] = m.dnnrec_version;
  out["created_at"] = m.created_at;
  out["model"] = ckpt.config.model.name;
  out["task"] = ckpt.config.train.task;
  out["data_dir"] = m.data_dir;
  out["data_fingerprint"] = m.data_fingerprint;
  out["epoch"] = m.epoch;
  out["step"] = m.step;
  out["monitor"] = m.monitor;
  out["weights_only"] = m.weights_only;
  out["weights_digest"] = ckpt.weights_digest();
  out["resumable"] = !m.resume_state.empty();
  out["metrics"] = metrics_json(m.metrics);
  out["vocab"] = {{"users", ckpt.vocabs.users.size() - 2},
                  {"movies", ckpt.vocabs.movies.size() - 2},
                  {"genres", ckpt.vocabs.genres.size() - 2},
                  {"tags", ckpt.vocabs.tags.size() - 2},
                  {"movies_with_tags", ckpt.vocabs.movie_tags.size()}};
  out["global_mean"] = ckpt.vocabs.global_mean;
  out["config"] = m.config_yaml;
  return out.dump(2);
}

}  // namespace dnnrec
