// Progress, ModelCheckpoint, EarlyStopping and history callbacks.
#include "train/callbacks.h"

#include <spdlog/spdlog.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <limits>
#include <nlohmann/json.hpp>
#include <sstream>

#include "base/runtime.h"
#include "dnnrec/error.h"

namespace dnnrec {
namespace {

Config with_train(const TrainConfig& train) {
  Config c;
  c.train = train;
  return c;
}

bool improved(double value, double best, bool maximize, double min_delta) {
  if (!std::isfinite(value)) return false;
  return maximize ? value > best + min_delta : value < best - min_delta;
}

std::string format_logs(const std::map<std::string, double>& logs) {
  std::ostringstream out;
  char buffer[64];
  for (const auto& [name, value] : logs) {
    if (name == "lr") continue;
    std::snprintf(buffer, sizeof(buffer), "%.4f", value);
    out << " - " << name << " " << buffer;
  }
  return out.str();
}

}  // namespace

std::vector<std::string> template_names(const std::string& pattern) {
  std::vector<std::string> names;
  size_t pos = 0;
  while ((pos = pattern.find('{', pos)) != std::string::npos) {
    size_t close = pattern.find('}', pos);
    if (close == std::string::npos) throw ConfigError("template '" + pattern + "': unclosed '{'");
    std::string field = pattern.substr(pos + 1, close - pos - 1);
    names.push_back(field.substr(0, field.find(':')));
    pos = close + 1;
  }
  return names;
}

std::string format_template(const std::string& pattern,
                            const std::map<std::string, double>& values) {
  std::string out;
  size_t pos = 0;
  while (pos < pattern.size()) {
    size_t open = pattern.find('{', pos);
    if (open == std::string::npos) {
      out += pattern.substr(pos);
      break;
    }
    out += pattern.substr(pos, open - pos);
    size_t close = pattern.find('}', open);
    if (close == std::string::npos) throw ConfigError("template '" + pattern + "': unclosed '{'");
    std::string field = pattern.substr(open + 1, close - open - 1);
    const size_t colon = field.find(':');
    const std::string name = field.substr(0, colon);
    std::string spec = colon == std::string::npos ? "" : field.substr(colon + 1);
    auto it = values.find(name);
    if (it == values.end()) {
      std::vector<std::string> known;
      for (const auto& entry : values) known.push_back(entry.first);
      std::string hint = nearest(name, known);
      throw ConfigError("template '" + pattern + "': unknown placeholder '{" + name + "}'" +
                        (hint.empty() ? "" : "; did you mean '{" + hint + "}'?"));
    }
    const char kind = spec.empty() ? 'g' : spec.back();
    const std::string flags = spec.empty() ? "" : spec.substr(0, spec.size() - 1);
    if (flags.find_first_not_of("0123456789.") != std::string::npos ||
        std::string("dfeg").find(kind) == std::string::npos) {
      throw ConfigError("template '" + pattern + "': unsupported format '" + spec +
                        "' (use d, f, e or g, e.g. {epoch:04d} or {val_rmse:.4f})");
    }
    char buffer[128];
    if (kind == 'd') {
      std::snprintf(buffer, sizeof(buffer), ("%" + flags + "lld").c_str(),
                    static_cast<long long>(std::llround(it->second)));
    } else {
      std::snprintf(buffer, sizeof(buffer), ("%" + flags + kind).c_str(), it->second);
    }
    out += buffer;
    pos = close + 1;
  }
  return out;
}

double monitored_value(const Trainer& trainer, const std::string& monitor) {
  const auto& logs = trainer.state().logs;
  auto it = logs.find(monitor);
  if (it == logs.end()) {
    throw ConfigError("train.monitor: '" + monitor +
                      "' is not logged (is the validation split empty?)");
  }
  return it->second;
}

ProgressLogger::ProgressLogger(bool live_bar) : live_bar_(live_bar) {}

void ProgressLogger::on_epoch_begin(Trainer& trainer) { last_draw_ = -1.0; }

void ProgressLogger::on_batch_end(Trainer& trainer) {
  const TrainState& s = trainer.state();
  if (!live_bar_) return;
  if (s.batch != s.batches && s.epoch_seconds - last_draw_ < 0.1) return;
  last_draw_ = s.epoch_seconds;
  const int width = 30;
  const int filled = static_cast<int>(width * s.batch / std::max<int64_t>(s.batches, 1));
  const double eta = s.epoch_seconds / s.batch * (s.batches - s.batch);
  std::fprintf(stderr, "\r\033[Kepoch %d/%d [%s%s] %lld/%lld - loss %.4f - %.0f samples/s - ETA %s",
               s.epoch, s.epochs, std::string(filled, '=').c_str(),
               std::string(width - filled, '.').c_str(), static_cast<long long>(s.batch),
               static_cast<long long>(s.batches), s.running_loss, s.samples_per_sec,
               format_duration(eta).c_str());
  std::fflush(stderr);
}

void ProgressLogger::on_epoch_end(Trainer& trainer) {
  const TrainState& s = trainer.state();
  if (live_bar_) std::fprintf(stderr, "\r\033[K");
  const double per_epoch = s.elapsed_seconds / s.epoch;
  const double eta = per_epoch * (s.epochs - s.epoch);
  spdlog::info("epoch {}/{}{} - {:.0f} samples/s - {} elapsed - ETA {}", s.epoch, s.epochs,
               format_logs(s.logs), s.samples_per_sec, format_duration(s.elapsed_seconds),
               format_duration(eta));
}

ModelCheckpoint::ModelCheckpoint(std::string run_dir, const TrainConfig& config, SaveFn save)
    : run_dir_(std::move(run_dir)),
      config_(config),
      save_(std::move(save)),
      monitor_(with_train(config).effective_monitor()),
      maximize_(with_train(config).effective_mode() == "max"),
      best_(maximize_ ? -std::numeric_limits<double>::infinity()
                      : std::numeric_limits<double>::infinity()) {}

std::string periodic_checkpoint_path(const std::string& run_dir, const std::string& pattern,
                                     std::map<std::string, double> values, int epoch, int64_t step,
                                     double monitor) {
  values["epoch"] = epoch;
  values["step"] = static_cast<double>(step);
  values["monitor"] = monitor;
  const std::string dir = run_dir + "/checkpoints";
  std::filesystem::create_directories(dir);
  return dir + "/" + format_template(pattern, values);
}

void ModelCheckpoint::on_epoch_end(Trainer& trainer) {
  const TrainState& s = trainer.state();
  const bool weights_only = config_.save_weights_only;
  // The best first, so the state every checkpoint holds for a resume includes this epoch.
  if (config_.save_best) {
    const double value = monitored_value(trainer, monitor_);
    if (best_epoch_ == 0 || improved(value, best_, maximize_, 0.0)) {
      best_ = value;
      best_epoch_ = s.epoch;
      save_(run_dir_ + "/best.pt", weights_only);
      spdlog::info("{} improved to {:.4f}: best.pt written (epoch {})", monitor_, value, s.epoch);
    }
  }
  if (config_.checkpoint_every > 0 && s.epoch % config_.checkpoint_every == 0) {
    const std::string path =
        periodic_checkpoint_path(run_dir_, config_.checkpoint_name, s.logs, s.epoch, s.step,
                                 monitored_value(trainer, monitor_));
    written_.push_back(path);
    save_(path, weights_only);
    spdlog::debug("checkpoint written: {}", path);
  }
  save_(run_dir_ + "/last.pt", weights_only);
}

void ModelCheckpoint::on_batch_end(Trainer& trainer) {
  const TrainState& s = trainer.state();
  // Mid-epoch resume points for long epochs; the epoch's end writes last.pt anyway.
  if (config_.checkpoint_every_steps <= 0 || s.batch == s.batches ||
      s.step % config_.checkpoint_every_steps != 0) {
    return;
  }
  save_(run_dir_ + "/last.pt", config_.save_weights_only);
  spdlog::debug("last.pt written at step {} (epoch {}, batch {})", s.step, s.epoch, s.batch);
}

std::string ModelCheckpoint::save_state() const {
  return nlohmann::json{{"best", best_}, {"best_epoch", best_epoch_}, {"written", written_}}.dump();
}

void ModelCheckpoint::load_state(const std::string& text) {
  const auto j = nlohmann::json::parse(text);
  // JSON has no infinity: the starting value (before any epoch) is written as null.
  if (!j.at("best").is_null()) best_ = j.at("best").get<double>();
  best_epoch_ = j.at("best_epoch").get<int>();
  written_ = j.at("written").get<std::vector<std::string>>();
}

EarlyStopping::EarlyStopping(const TrainConfig& config)
    : config_(config),
      monitor_(with_train(config).effective_monitor()),
      maximize_(with_train(config).effective_mode() == "max"),
      best_(maximize_ ? -std::numeric_limits<double>::infinity()
                      : std::numeric_limits<double>::infinity()) {}

void EarlyStopping::on_epoch_end(Trainer& trainer) {
  const double value = monitored_value(trainer, monitor_);
  const int epoch = trainer.state().epoch;
  // The best epoch (restored at the end) is the best value, like best.pt; min_delta only
  // decides what resets the patience counter. The first epoch always counts.
  if (best_epoch_ == 0 || improved(value, best_, maximize_, 0.0)) {
    best_ = value;
    best_epoch_ = epoch;
    if (config_.restore_best) set_best_weights(*trainer.model());
  }
  if (epoch == 1 || improved(value, reference_, maximize_, config_.min_delta)) {
    reference_ = value;
    wait_ = 0;
    return;
  }
  ++wait_;
  if (config_.patience > 0 && wait_ >= config_.patience) {
    stopped_epoch_ = epoch;
    spdlog::info(
        "early stopping at epoch {}: {} has not improved by more than {} for {} epochs "
        "(best {:.4f} at epoch {})",
        stopped_epoch_, monitor_, config_.min_delta, config_.patience, best_, best_epoch_);
    trainer.stop_training();
  }
}

std::string EarlyStopping::save_state() const {
  return nlohmann::json{{"best", best_},
                        {"reference", reference_},
                        {"best_epoch", best_epoch_},
                        {"wait", wait_},
                        {"stopped_epoch", stopped_epoch_}}
      .dump();
}

void EarlyStopping::load_state(const std::string& text) {
  const auto j = nlohmann::json::parse(text);
  if (!j.at("best").is_null()) best_ = j.at("best").get<double>();  // null: infinity
  if (!j.at("reference").is_null()) reference_ = j.at("reference").get<double>();
  best_epoch_ = j.at("best_epoch").get<int>();
  wait_ = j.at("wait").get<int>();
  stopped_epoch_ = j.at("stopped_epoch").get<int>();
  best_weights_.clear();  // set_best_weights gives them back
}

void EarlyStopping::set_best_weights(const RecModelImpl& model) {
  torch::NoGradGuard no_grad;
  best_weights_.clear();
  for (const auto& p : model.parameters()) best_weights_.push_back(p.detach().clone());
  for (const auto& b : model.buffers()) best_weights_.push_back(b.detach().clone());
}

void EarlyStopping::on_train_end(Trainer& trainer) {
  // An interrupted run keeps its last weights: interrupted.pt holds them with the optimizer
  // state they belong to, so that --resume continues exactly.
  if (!config_.restore_best || best_weights_.empty() || trainer.interrupted()) return;
  if (best_epoch_ == trainer.state().epoch) return;  // already the best weights
  torch::NoGradGuard no_grad;
  size_t i = 0;
  for (auto& p : trainer.model()->parameters()) p.copy_(best_weights_[i++]);
  for (auto& b : trainer.model()->buffers()) b.copy_(best_weights_[i++]);
  spdlog::info("restored the weights of epoch {} ({} {:.4f})", best_epoch_, monitor_, best_);
}

HistoryWriter::HistoryWriter(std::string path) : path_(std::move(path)) {}

std::string HistoryWriter::save_state() const { return nlohmann::json(rows_).dump(); }

void HistoryWriter::load_state(const std::string& text) {
  rows_ = nlohmann::json::parse(text).get<std::vector<std::map<std::string, double>>>();
}

void HistoryWriter::on_epoch_end(Trainer& trainer) {
  const TrainState& s = trainer.state();
  std::map<std::string, double> row = s.logs;
  row["epoch"] = s.epoch;
  row["seconds"] = s.epoch_seconds;
  row["samples_per_sec"] = s.samples_per_sec;
  rows_.push_back(row);
  // Fixed leading columns, then the metrics in name order.
  std::vector<std::string> columns = {"epoch", "train_loss"};
  for (const auto& entry : row) {
    const std::string& name = entry.first;
    if (name.rfind("val_", 0) == 0) columns.push_back(name);
  }
  for (const char* name : {"lr", "seconds", "samples_per_sec"}) columns.push_back(name);
  std::ostringstream out;
  for (size_t i = 0; i < columns.size(); ++i) out << (i ? "," : "") << columns[i];
  out << "\n";
  char buffer[64];
  for (const auto& r : rows_) {
    for (size_t i = 0; i < columns.size(); ++i) {
      auto it = r.find(columns[i]);
      if (columns[i] == "epoch") {
        std::snprintf(buffer, sizeof(buffer), "%d", static_cast<int>(it->second));
      } else {
        std::snprintf(buffer, sizeof(buffer), "%.6g", it == r.end() ? NAN : it->second);
      }
      out << (i ? "," : "") << buffer;
    }
    out << "\n";
  }
  atomic_write_file(path_, out.str());
}

}  // namespace dnnrec
