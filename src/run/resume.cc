// Resuming: finding a run's newest good resume point, choosing what `--resume` continues,
// sharing rank 0's config with a group, and reloading a resume point into a run.
#include "run/resume.h"

#include <spdlog/spdlog.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "dnnrec/error.h"
#include "dnnrec/pipeline.h"
#include "run/train_run.h"
#include "train/checkpoint.h"
#include "train/distributed.h"

namespace fs = std::filesystem;
using json = nlohmann::ordered_json;

namespace dnnrec {

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

ResumePlan plan_resume(const Config& config, const std::string& target, bool data_flag_given) {
  ResumePlan plan{config, ""};
  if (target == "auto") {
    if (config.output.dir.empty()) throw ConfigError("--resume auto needs --out DIR");
    if (fs::exists(config.output.dir)) plan.checkpoint = find_resume_checkpoint(config.output.dir);
    if (plan.checkpoint.empty()) {
      spdlog::info("nothing to resume in {}: starting a new run", config.output.dir);
    }
  } else {
    plan.checkpoint = find_resume_checkpoint(target);
    if (plan.checkpoint.empty()) {
      throw CheckpointError(target + ": no checkpoint to resume from (interrupted.pt or last.pt)");
    }
  }
  if (!plan.checkpoint.empty()) {
    const Checkpoint ckpt = load_checkpoint(plan.checkpoint);
    plan.config = ckpt.config;  // the run's own config: the same run, continued
    plan.config.output.dir = fs::path(plan.checkpoint).parent_path().string();
    plan.config.data.dir = data_flag_given ? config.data.dir : ckpt.meta.data_dir;
    spdlog::info("resuming {} from {}", plan.config.output.dir, plan.checkpoint);
  }
  return plan;
}

Config share_run_config(ProcessGroup& group, const Config& run_config, const Config& own,
                        bool data_flag_given) {
  // Every rank trains rank 0's config (its flags', or the resumed run's); each keeps its own
  // threads and device, and its own data folder when --data is given.
  const bool lead = group.rank() == 0;
  const std::string yaml = group.broadcast_bytes(lead ? run_config.to_yaml() : "");
  if (lead) return run_config;
  Config from_lead;
  from_lead.merge_yaml_string(yaml, "rank 0's config");
  if (data_flag_given) from_lead.data.dir = own.data.dir;
  from_lead.train.threads = own.train.threads;
  from_lead.train.device = own.train.device;
  from_lead.output.dir = "";
  return from_lead;
}

void check_resume_data(const Checkpoint& ckpt, const std::string& now,
                       const std::string& data_dir) {
  if (ckpt.meta.data_fingerprint != now) {
    throw CheckpointError(ckpt.path + ": trained on other ratings (" + ckpt.meta.data_fingerprint +
                          ") than " + data_dir + " holds now (" + now +
                          "); a resumed run must see the same data");
  }
}

std::optional<Checkpoint> best_checkpoint(const std::string& run_dir, int best_epoch) {
  const std::string best = run_dir + "/best.pt";
  if (fs::exists(best)) {
    Checkpoint b = load_checkpoint(best);
    if (b.meta.epoch == best_epoch) return b;
  }
  spdlog::warn("best.pt of epoch {} is missing: the end of the run keeps its last weights",
               best_epoch);
  return std::nullopt;
}

namespace {

// The best epoch's weights, restored at the end of a resumed run, are best.pt's.
void reload_best_weights(TrainRun& run) {
  if (const auto b = best_checkpoint(run.result.run_dir, run.stopper->best_epoch())) {
    RecModel copy = make_model(run.config.model, run.spec, run.offset);
    b->load_model(*copy);
    run.stopper->set_best_weights(*copy);
  }
}

}  // namespace

void load_resume_point(TrainRun& run, const std::string& resume) {
  const Checkpoint ckpt = load_checkpoint(resume);
  if (ckpt.meta.resume_state.empty()) {
    throw CheckpointError(resume +
                          ": holds no training state to resume from (weights only, "
                          "or written before --resume existed)");
  }
  check_resume_data(ckpt, run.data_fingerprint, run.config.data.dir);
  ckpt.load_model(*run.model);
  ckpt.load_optimizer(run.trainer->optimizer());
  const json state = json::parse(ckpt.meta.resume_state);
  run.trainer->resume(state.at("trainer").dump());
  const auto& parts = state.at("callbacks");
  for (size_t i = 0; i < run.callbacks.size() && i < parts.size(); ++i) {
    const std::string part = parts[i].get<std::string>();
    if (!part.empty()) run.callbacks[i]->load_state(part);
  }
  if (run.config.train.restore_best && run.stopper->best_epoch() > 0) reload_best_weights(run);
  spdlog::info("resumed from {}: epoch {}, step {}", resume, ckpt.meta.epoch, ckpt.meta.step);
}

}  // namespace dnnrec
