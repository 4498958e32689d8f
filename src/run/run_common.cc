// Helpers that training (train_run.cc) and inference (inference.cc) share.
#include "run/run_common.h"

#include <spdlog/spdlog.h>

#include <cmath>
#include <cstdio>

#include "base/hash.h"
#include "data/load.h"
#include "dnnrec/error.h"

namespace dnnrec {

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

void check_data_fits(const Config& config, const MovieLens& data) {
  if (data.implicit && config.train.task != "ranking") {
    throw ConfigError("train.task " + config.train.task + ": the log " + config.data.csv_events +
                      " has no rating column (data.csv_rating is empty), so it is implicit "
                      "feedback; use --task ranking, or name the rating column (a 0/1 label "
                      "column with --task binary --set train.like_threshold=1)");
  }
  if (!data.timed) {
    const std::string& split = config.data.split;
    if (split == "temporal" || split == "leave-last") {
      throw ConfigError("data.split " + split + ": the log " + config.data.csv_events +
                        " has no timestamp column (data.csv_timestamp is empty); use random "
                        "or random-per-user, or name the timestamp column");
    }
    if (config.features.history == "before") {
      throw ConfigError("features.history before: the log " + config.data.csv_events +
                        " has no timestamp column (data.csv_timestamp is empty)");
    }
  }
}

MovieLens load_data(const Config& config) {
  LoadOptions options;
  options.format = config.data.format;
  options.on_bad_row = parse_bad_row_policy(config.data.on_bad_row);
  options.min_rating = static_cast<float>(config.data.min_rating);
  options.max_rating = static_cast<float>(config.data.max_rating);
  options.cache = config.data.cache;
  const DataConfig& d = config.data;
  if (d.format == "csv") {
    CsvSchema& s = options.csv;
    s.events = d.csv_events;
    s.delimiter = parse_delimiter(d.csv_delimiter);
    s.header = d.csv_header;
    s.user = d.csv_user;
    s.item = d.csv_item;
    s.rating = d.csv_rating;
    s.timestamp = d.csv_timestamp;
    s.items = d.csv_items;
    s.item_key = d.csv_item_key;
    s.item_features = parse_feature_columns(d.csv_item_features, "data.csv_item_features");
    s.users = d.csv_users;
    s.user_key = d.csv_user_key;
    s.user_features = parse_feature_columns(d.csv_user_features, "data.csv_user_features");
  }
  MovieLens data = load_movielens(config.data.dir, options);
  if (data.report.skipped > 0) spdlog::warn("{}", data.report.summary());
  check_data_fits(config, data);
  return data;
}

MovieLens load_checkpoint_data(Checkpoint& ckpt, const std::string& data_dir) {
  Config& config = ckpt.config;
  config.data.dir = data_dir.empty() ? ckpt.meta.data_dir : data_dir;
  spdlog::info("checkpoint {}: model {} (task {}), epoch {}, data {}", ckpt.path, config.model.name,
               config.train.task, ckpt.meta.epoch, config.data.dir);
  MovieLens data = load_data(config);
  const std::string print = fingerprint(data.ratings);
  if (print != ckpt.meta.data_fingerprint) {
    spdlog::warn(
        "the ratings in {} differ from the ones the model was trained on ({} vs {}): "
        "splits and histories may not match training",
        config.data.dir, print, ckpt.meta.data_fingerprint);
  }
  return data;
}

nlohmann::ordered_json metrics_json(const std::map<std::string, double>& metrics) {
  nlohmann::ordered_json out = nlohmann::ordered_json::object();
  for (const auto& [name, value] : metrics) {
    if (std::isfinite(value)) {
      out[name] = value;
    } else {
      out[name] = nullptr;
    }
  }
  return out;
}

}  // namespace dnnrec
