// Subcommand handlers: parse flags (declared once in the config field table), build the
// config, call one pipeline function, print the result to stdout.
#include "dnnrec/cli.h"

#include <spdlog/spdlog.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <csignal>
#include <cstdio>
#include <ctime>
#include <cxxopts.hpp>
#include <filesystem>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "dnnrec/checkpoint.h"
#include "dnnrec/config.h"
#include "dnnrec/distributed.h"
#include "dnnrec/error.h"
#include "dnnrec/launch.h"
#include "dnnrec/models.h"
#include "dnnrec/movielens.h"
#include "dnnrec/pipeline.h"
#include "dnnrec/runtime.h"
#include "dnnrec/signals.h"
#include "dnnrec/sweep.h"

namespace dnnrec::cli {
namespace {

using json = nlohmann::ordered_json;
namespace fs = std::filesystem;

constexpr const char* kUsage =
    "dnnrec: a DNN recommender trainer for MovieLens-style data\n"
    "\n"
    "usage: dnnrec <command> [options]   (dnnrec <command> --help for its options)\n"
    "\n"
    "commands:\n"
    "  train      train a model and write a run directory (config, history, checkpoints, metrics)\n"
    "  sweep      grid / random search over config keys, several seeds per trial, leaderboard\n"
    "  launch     start the ranks of a data-parallel training (launch --nproc N -- train ...)\n"
    "  evaluate   metrics of a checkpoint on the test, val or train split\n"
    "  predict    score (userId, movieId) pairs from a CSV\n"
    "  recommend  top-k movies a user has not rated\n"
    "  info       describe a checkpoint\n"
    "  sample     write a small synthetic dataset in MovieLens layout\n"
    "  config     print the effective config (YAML) or the table of every key (--markdown)\n"
    "\n"
    "exit codes: 0 ok, 1 internal or I/O failure, 2 bad input / config / checkpoint,\n"
    "            3 training diverged, 4 distributed training lost a rank, 130 interrupted\n";

std::string shell_quote(const std::string& arg) {
  if (!arg.empty() && arg.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                            "0123456789-_./=:,+@%") == std::string::npos) {
    return arg;
  }
  std::string out = "'";
  for (char c : arg) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

// One subcommand's options: cxxopts underneath, plus the list of names for did-you-mean.
class Command {
 public:
  Command(const std::string& name, const std::string& description)
      : name_(name), options_("dnnrec " + name, description) {
    options_.custom_help("[options]");
    add_flag("h,help", "Show this help");
    add("log-level", "Log level on stderr: trace|debug|info|warn|error|off (default: info)");
    add_flag("q,quiet", "Only warnings and errors on stderr (same as --log-level warn)");
  }

  void add(const std::string& spec, const std::string& help, const std::string& arg = "") {
    options_.add_options()(spec, help, cxxopts::value<std::string>(), arg);
    remember(spec);
  }
  void add_flag(const std::string& spec, const std::string& help) {
    options_.add_options()(spec, help, cxxopts::value<bool>()->default_value("false"));
    remember(spec);
  }
  // A boolean config option: "--save-best" means true, "--save-best=false" false.
  void add_bool(const std::string& spec, const std::string& help) {
    options_.add_options()(spec, help, cxxopts::value<std::string>()->implicit_value("true"));
    remember(spec);
  }

  cxxopts::ParseResult parse(const std::vector<std::string>& args) {
    for (const std::string& arg : args) {
      if (arg.rfind("--", 0) != 0 || arg == "--") continue;
      const std::string name =
          arg.substr(2, arg.find('=') == std::string::npos ? std::string::npos : arg.find('=') - 2);
      if (std::find(names_.begin(), names_.end(), name) == names_.end()) {
        std::string hint = nearest(name, names_);
        throw ConfigError("dnnrec " + name_ + ": unknown option '--" + name + "'" +
                          (hint.empty() ? "" : "; did you mean '--" + hint + "'?") +
                          " (see dnnrec " + name_ + " --help)");
      }
    }
    std::vector<const char*> argv;
    for (const auto& a : args) argv.push_back(a.c_str());
    try {
      auto result = options_.parse(static_cast<int>(argv.size()), argv.data());
      if (!result.unmatched().empty()) {
        throw ConfigError("dnnrec " + name_ + ": unexpected argument '" + result.unmatched()[0] +
                          "' (see dnnrec " + name_ + " --help)");
      }
      return result;
    } catch (const cxxopts::exceptions::exception& e) {
      throw ConfigError("dnnrec " + name_ + ": " + e.what());
    }
  }

  std::string help() const { return options_.help(); }

 private:
  void remember(const std::string& spec) {
    const size_t comma = spec.find(',');
    names_.push_back(comma == std::string::npos ? spec : spec.substr(comma + 1));
  }

  std::string name_;
  cxxopts::Options options_;
  std::vector<std::string> names_;
};

std::string get(const cxxopts::ParseResult& r, const std::string& name,
                const std::string& fallback = "") {
  return r.count(name) ? r[name].as<std::string>() : fallback;
}

std::string require(const cxxopts::ParseResult& r, const std::string& name,
                    const std::string& command) {
  if (!r.count(name)) {
    throw ConfigError("dnnrec " + command + ": --" + name + " is required (see dnnrec " + command +
                      " --help)");
  }
  return r[name].as<std::string>();
}

int64_t to_int(const std::string& text, const std::string& flag) {
  try {
    size_t used = 0;
    const long long v = std::stoll(text, &used);
    if (used == text.size()) return v;
  } catch (const std::exception&) {
  }
  throw ConfigError("--" + flag + ": '" + text + "' is not an integer");
}

void start_logging(const cxxopts::ParseResult& r) {
  init_logging(r["quiet"].as<bool>() ? "warn" : get(r, "log-level", "info"));
}

// Takes every "--NAME VALUE" / "--NAME=VALUE" out of args (in order), so that cxxopts never
// splits the values on commas.
std::vector<std::string> extract_repeated(std::vector<std::string>& args, const std::string& name) {
  const std::string flag = "--" + name;
  std::vector<std::string> values, rest;
  for (size_t i = 0; i < args.size(); ++i) {
    if (args[i] == flag) {
      if (i + 1 >= args.size()) throw ConfigError(flag + " needs a value");
      values.push_back(args[++i]);
    } else if (args[i].rfind(flag + "=", 0) == 0) {
      values.push_back(args[i].substr(flag.size() + 1));
    } else {
      rest.push_back(args[i]);
    }
  }
  args = rest;
  return values;
}

// Every "--set K=V" of args, split into (K, V).
std::vector<std::pair<std::string, std::string>> extract_sets(std::vector<std::string>& args) {
  std::vector<std::pair<std::string, std::string>> sets;
  for (const std::string& value : extract_repeated(args, "set")) {
    const size_t eq = value.find('=');
    if (eq == std::string::npos || eq == 0) {
      throw ConfigError("--set '" + value + "': expected KEY=VALUE, e.g. --set train.lr=0.003");
    }
    sets.emplace_back(value.substr(0, eq), value.substr(eq + 1));
  }
  return sets;
}

// Monotonic nanoseconds of a run's first SIGINT / SIGTERM; 0 before it.
std::atomic<int64_t> first_interrupt_ns{0};

void on_interrupt(int) {
  timespec ts;
  ::clock_gettime(CLOCK_MONOTONIC, &ts);  // async-signal-safe
  const int64_t now = ts.tv_sec * int64_t{1'000'000'000} + ts.tv_nsec;
  int64_t first = 0;
  if (first_interrupt_ns.compare_exchange_strong(first, now)) {
    interrupt_requested().store(true);  // first signal: stop after the current batch, save
    static const char kFirst[] =
        "dnnrec: interrupted: finishing the current batch, then saving a checkpoint "
        "(interrupt again to leave at once)\n";
    [[maybe_unused]] const ssize_t n = ::write(STDERR_FILENO, kFirst, sizeof(kFirst) - 1);
  } else if (now - first >= 100'000'000) {
    // A second one: leave at once. A checkpoint being written is dropped (its temporary file
    // removed); every file already in place is whole, being written by rename.
    remove_unfinished_write();
    static const char kSecond[] =
        "dnnrec: interrupted again: leaving at once, without a new checkpoint\n";
    [[maybe_unused]] const ssize_t n = ::write(STDERR_FILENO, kSecond, sizeof(kSecond) - 1);
    ::_exit(kExitInterrupted);
  }
  // Within 100 ms it is the same interrupt delivered twice, not a second request: timeout and
  // kill(0) signal both the process and its group, and each of its threads can take one.
}

// The dnnrec executable (for the sweep's trials).
std::string self_path() {
  std::error_code ec;
  const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (ec) throw Error("cannot find the dnnrec executable (/proc/self/exe): " + ec.message());
  return exe.string();
}

// scripts/plot.py: $DNNREC_PLOT_SCRIPT, else beside the executable's source tree (build/dnnrec
// -> scripts/plot.py) or an installed share/dnnrec/plot.py.
std::string plot_script() {
  if (const char* env = std::getenv("DNNREC_PLOT_SCRIPT")) return env;
  fs::path exe;
  try {
    exe = self_path();
  } catch (const Error&) {
    return "";  // plots are optional: no executable path, no script
  }
  std::error_code ec;
  for (const fs::path& candidate : {exe.parent_path().parent_path() / "scripts" / "plot.py",
                                    exe.parent_path().parent_path() / "share/dnnrec/plot.py"}) {
    if (fs::exists(candidate, ec)) return candidate.string();
  }
  return "";
}

// Learning curves (and for a sweep its comparison plots) as PNGs in dir, by scripts/plot.py.
// Plots are a convenience: failing to draw them is logged, never an error. DNNREC_NO_PLOTS=1
// turns them off (the test suite sets it).
void draw_plots(const std::string& dir) {
  const char* off = std::getenv("DNNREC_NO_PLOTS");
  if (off != nullptr && std::string(off) != "0" && std::string(off) != "") return;
  const std::string script = plot_script();
  if (script.empty()) {
    spdlog::info("plots skipped: scripts/plot.py not found (set DNNREC_PLOT_SCRIPT)");
    return;
  }
  // Debian's python3 (where python3-matplotlib lives) before whatever python3 PATH finds.
  std::string python = "python3";
  if (const char* env = std::getenv("DNNREC_PYTHON")) {
    python = env;
  } else if (::access("/usr/bin/python3", X_OK) == 0) {
    python = "/usr/bin/python3";
  }
  const std::string log = dir + "/plot.log";
  const std::string command = shell_quote(python) + " " + shell_quote(script) + " " +
                              shell_quote(dir) + " > " + shell_quote(log) + " 2>&1";
  const int status = std::system(command.c_str());
  const int code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  if (code == 0) {
    spdlog::info("plots written to {}", dir);
  } else if (code == 3) {
    spdlog::info("plots skipped: python3-matplotlib is not installed");
  } else {
    spdlog::warn("plots failed (exit {}); see {}", code, log);
  }
}

void print_metrics(std::ostream& out, const std::string& label,
                   const std::map<std::string, double>& metrics,
                   const std::map<std::string, double>& std_dev = {}) {
  out << label << ":";
  char buffer[96];
  for (const auto& [name, value] : metrics) {
    std::snprintf(buffer, sizeof(buffer), " %s %.4f", name.c_str(), value);
    out << buffer;
    auto it = std_dev.find(name);
    if (it != std_dev.end()) {
      std::snprintf(buffer, sizeof(buffer), " +- %.4f", it->second);
      out << buffer;
    }
  }
  out << "\n";
}

// The flags of every config field that has one (train's options, and sweep's base).
void add_config_flags(Command& cmd) {
  cmd.add("config", "YAML config file (default: built-in defaults, as configs/default.yaml)",
          "FILE");
  cmd.add("set", "Set any config key: --set train.lr=0.003 (repeatable; wins over flags)",
          "KEY=VALUE");
  for (const FieldInfo& field : config_fields()) {
    if (field.flag.empty()) continue;
    const std::string help =
        field.help + " [" + field.key + ", default: " + field.default_value + "]";
    if (field.type == "bool") {
      cmd.add_bool(field.flag, help);
    } else {
      const std::string& t = field.type;
      cmd.add(field.flag, help,
              t == "int_list" ? "N,N,..."
              : t == "int"    ? "N"
              : t == "float"  ? "X"
                              : "VALUE");
    }
  }
}

// defaults < --config FILE < flags < --set.
Config config_from(const cxxopts::ParseResult& r,
                   const std::vector<std::pair<std::string, std::string>>& sets) {
  Config config;
  if (r.count("config")) config.merge_yaml_file(r["config"].as<std::string>());
  for (const FieldInfo& field : config_fields()) {
    if (!field.flag.empty() && r.count(field.flag)) {
      config.set(field.key, r[field.flag].as<std::string>());
    }
  }
  for (const auto& [key, value] : sets) config.set(key, value);
  config.validate();
  return config;
}

std::string command_line_of(const std::vector<std::string>& args,
                            const std::vector<std::pair<std::string, std::string>>& sets,
                            const std::vector<std::pair<std::string, std::string>>& more = {}) {
  std::string line = args[0];  // "dnnrec train"
  for (size_t i = 1; i < args.size(); ++i) line += " " + shell_quote(args[i]);
  for (const auto& [key, value] : sets) line += " --set " + shell_quote(key + "=" + value);
  for (const auto& [flag, value] : more) line += " --" + flag + " " + shell_quote(value);
  return line;
}

// Runs body with SIGINT / SIGTERM turned into the trainer's interrupt flag, restoring the
// previous handlers afterwards.
template <class Body>
auto with_interrupts(Body&& body) {
  first_interrupt_ns.store(0);
  interrupt_requested().store(false);
  const ScopedInterruptHandler handler(on_interrupt);
  return body();
}

int train(std::vector<std::string> args, std::ostream& out) {
  const auto sets = extract_sets(args);
  Command cmd("train", "Train a model on a MovieLens folder and write a run directory.");
  cmd.add_flag("json", "Print metrics.json to stdout");
  cmd.add_flag("dry-run",
               "Load, split and featurise the data and build the model, then stop (checks a "
               "config and data; times loading)");
  cmd.add("resume",
          "Continue a run exactly where it stopped: its run directory, a checkpoint, or auto "
          "(the newest good checkpoint in --out; a new run when there is none). The run's "
          "stored config is used.",
          "DIR|FILE|auto");
  cmd.add("world-size",
          "Processes of a data-parallel training, over every host (default 1: this one alone; "
          "dnnrec launch sets it)",
          "N");
  cmd.add("rank", "This process's rank, 0..world-size-1 (rank 0 writes the run directory)", "R");
  cmd.add("master",
          "HOST:PORT where rank 0 serves the rendezvous store; every rank gives the same "
          "(default 127.0.0.1:29500)",
          "HOST:PORT");
  cmd.add("bind",
          "Address this rank's Gloo transport listens on (default: 127.0.0.1 with a loopback "
          "master, else the address of the host name)",
          "ADDR");
  cmd.add("dist-timeout", "Seconds a collective waits for a peer before the run stops (default 30)",
          "S");
  add_config_flags(cmd);
  auto r = cmd.parse(args);
  if (r["help"].as<bool>()) {
    out << cmd.help()
        << "\nAny key of the config (see configs/default.yaml) can be set with "
           "--set section.key=value.\n";
    return kExitOk;
  }
  start_logging(r);
  const Config config = config_from(r, sets);

  const std::string command_line = command_line_of(args, sets);
  const bool dry_run = r["dry-run"].as<bool>();
  DistOptions dist;
  dist.world_size = static_cast<int>(to_int(get(r, "world-size", "1"), "world-size"));
  dist.rank = static_cast<int>(to_int(get(r, "rank", "0"), "rank"));
  dist.master = get(r, "master", dist.master);
  dist.bind = get(r, "bind", "");
  dist.timeout_seconds = static_cast<int>(to_int(get(r, "dist-timeout", "30"), "dist-timeout"));
  if (dist.world_size < 1) throw ConfigError("--world-size must be >= 1");
  if (dist.rank < 0 || dist.rank >= dist.world_size) {
    throw ConfigError("--rank " + std::to_string(dist.rank) + " is outside 0.." +
                      std::to_string(dist.world_size - 1));
  }
  // --world-size 1 is the single-process path itself; a dry run trains nothing to share.
  std::unique_ptr<ProcessGroup> group;
  if (dist.world_size > 1 && !dry_run) {
    set_rank_logging(dist.rank);
    spdlog::info("joining a group of {} at {}", dist.world_size, dist.master);
    group = ProcessGroup::join(dist);
    spdlog::info("rank {} of {} joined", dist.rank, dist.world_size);
  }
  const bool lead = dist.rank == 0;
  Config run_config = config;
  std::string resume_from;
  if (r.count("resume") && lead) {
    const std::string target = r["resume"].as<std::string>();
    if (target == "auto") {
      if (config.output.dir.empty()) throw ConfigError("--resume auto needs --out DIR");
      if (fs::exists(config.output.dir)) resume_from = find_resume_checkpoint(config.output.dir);
      if (resume_from.empty()) {
        spdlog::info("nothing to resume in {}: starting a new run", config.output.dir);
      }
    } else {
      resume_from = find_resume_checkpoint(target);
      if (resume_from.empty()) {
        throw CheckpointError(target +
                              ": no checkpoint to resume from (interrupted.pt or last.pt)");
      }
    }
    if (!resume_from.empty()) {
      const Checkpoint ckpt = load_checkpoint(resume_from);
      run_config = ckpt.config;  // the run's own config: the same run, continued
      run_config.output.dir = fs::path(resume_from).parent_path().string();
      run_config.data.dir = r.count("data") ? config.data.dir : ckpt.meta.data_dir;
      spdlog::info("resuming {} from {}", run_config.output.dir, resume_from);
    }
  }
  if (group != nullptr) {
    // Every rank trains rank 0's config (its flags', or the resumed run's); each keeps its own
    // threads and device, and its own data folder when --data is given.
    const std::string yaml = group->broadcast_bytes(lead ? run_config.to_yaml() : "");
    if (!lead) {
      Config from_lead;
      from_lead.merge_yaml_string(yaml, "rank 0's config");
      if (r.count("data")) from_lead.data.dir = config.data.dir;
      from_lead.train.threads = config.train.threads;
      from_lead.train.device = config.train.device;
      from_lead.output.dir = "";
      run_config = from_lead;
    }
  }
  const TrainResult result = with_interrupts(
      [&] { return run_train(run_config, command_line, dry_run, resume_from, group.get()); });
  if (!lead && group != nullptr) return kExitOk;  // rank 0 reports for the group
  if (!dry_run && run_config.output.plots) draw_plots(result.run_dir);
  if (r["json"].as<bool>()) {
    out << result.to_json() << "\n";
  } else if (r["dry-run"].as<bool>()) {
    out << "dry run: loaded and featurised in " << result.load_seconds << " s, model "
        << result.model << " with " << result.parameters << " parameters, peak RSS "
        << static_cast<int64_t>(result.peak_rss_mib) << " MiB\n"
        << "run directory: " << result.run_dir << "\n";
  } else {
    print_metrics(out, "val", result.val, result.val_std);
    print_metrics(out, "test", result.test, result.test_std);
    if (result.per_seed.empty()) {
      out << "best epoch " << result.best_epoch << " of " << result.epochs_run << ", ";
    } else {
      out << result.per_seed.size() << " seeds (mean +- std), ";
    }
    out << static_cast<int64_t>(result.train_samples_per_sec) << " samples/s\n"
        << "run directory: " << result.run_dir << "\n";
    if (result.skipped_rows > 0) {
      out << result.skipped_rows << " malformed rows were skipped (see " << result.run_dir
          << "/train.log)\n";
    }
  }
  return kExitOk;
}

int sweep(std::vector<std::string> args, std::ostream& out) {
  const auto sets = extract_sets(args);
  const std::vector<std::string> grids = extract_repeated(args, "grid");
  const std::vector<std::string> ranges = extract_repeated(args, "range");
  Command cmd("sweep",
              "Train one run per trial of a grid or random search (several seeds each, some "
              "at once) and rank them in a leaderboard. Re-running the same command resumes.");
  cmd.add("grid",
          "KEY=V1,V2,...: a grid axis over a config key (repeatable; lr or train.lr; "
          "a list key separates its values with ';': hidden=256,128;128,64)",
          "KEY=V,...");
  cmd.add("range", "KEY=LO:HI[:lin|log|int|logint]: a random-search range (repeatable)",
          "KEY=LO:HI");
  cmd.add("random", "Random draws over the --range keys per grid point (default: 0)", "N");
  cmd.add("sweep-seed", "Seed of the random draws (default: 0)", "N");
  cmd.add("jobs", "Trials at once; the cores are split between them (default: 1)", "N");
  cmd.add("metric",
          "Validation metric to rank by: val_rmse, val_auc, ... (default: the "
          "monitored metric)",
          "NAME");
  cmd.add_flag("json", "Print the sweep's summary and leaderboard as one JSON object");
  add_config_flags(cmd);
  auto r = cmd.parse(args);
  if (r["help"].as<bool>()) {
    out << cmd.help()
        << "\nEvery train option sets the base config of each trial; --seeds is the seeds per "
           "trial and --out the sweep directory (required).\n";
    return kExitOk;
  }
  start_logging(r);
  SweepOptions options;
  options.base = config_from(r, sets);
  for (const auto& g : grids) options.grid.push_back(parse_grid_axis(g));
  for (const auto& range : ranges) options.ranges.push_back(parse_range(range));
  options.random = static_cast<int>(to_int(get(r, "random", "0"), "random"));
  options.random_seed = static_cast<uint64_t>(to_int(get(r, "sweep-seed", "0"), "sweep-seed"));
  options.jobs = static_cast<int>(to_int(get(r, "jobs", "1"), "jobs"));
  options.metric = get(r, "metric", "auto");
  options.seeds = options.base.train.seeds;
  options.out = options.base.output.dir;
  if (options.out.empty()) throw ConfigError("dnnrec sweep: --out DIR is required");
  if (options.grid.empty() && options.ranges.empty()) {
    throw ConfigError(
        "dnnrec sweep: nothing to sweep; give --grid KEY=V1,V2 or --range with "
        "--random N");
  }
  options.binary = self_path();
  std::vector<std::pair<std::string, std::string>> swept;
  for (const auto& g : grids) swept.emplace_back("grid", g);
  for (const auto& range : ranges) swept.emplace_back("range", range);
  options.command_line = command_line_of(args, sets, swept);
  const SweepResult result = with_interrupts([&] { return run_sweep(options); });
  if (options.base.output.plots && !result.leaderboard.empty()) draw_plots(result.dir);
  if (r["json"].as<bool>()) {
    out << result.to_json() << "\n";
  } else {
    std::string text = read_text_file(result.dir + "/leaderboard.md");
    out << text << "\n"
        << result.trials << " trials: " << result.ran << " run now, " << result.reused
        << " finished before, " << result.failed << " failed\n";
    if (!result.best_config.empty()) out << "best config: " << result.best_config << "\n";
  }
  if (result.interrupted) {
    spdlog::warn("sweep interrupted; run the same command again to finish it");
    return kExitInterrupted;
  }
  return result.failed > 0 ? kExitFailure : kExitOk;
}

int evaluate(const std::vector<std::string>& args, std::ostream& out) {
  Command cmd("evaluate",
              "Metrics of a checkpoint (or of every run of a run or sweep "
              "directory) on a split of its data.");
  cmd.add("checkpoint", "Checkpoint file (best.pt, last.pt, ...), run directory or sweep directory",
          "PATH");
  cmd.add("data", "MovieLens folder (default: the one stored in the checkpoint)", "DIR");
  cmd.add("split", "Split to evaluate: test|val|train (default: test)", "NAME");
  cmd.add("predictions",
          "Also write userId,movieId,rating,prediction for every row of the split (what "
          "predict returns for those pairs); one checkpoint only",
          "FILE");
  cmd.add_flag("json", "Print one JSON object to stdout");
  auto r = cmd.parse(args);
  if (r["help"].as<bool>()) return out << cmd.help(), kExitOk;
  start_logging(r);
  const std::string path = require(r, "checkpoint", "evaluate");
  const std::vector<std::string> checkpoints = checkpoints_of(path);
  const std::string predictions = get(r, "predictions");
  if (!predictions.empty() && checkpoints.size() > 1) {
    throw ConfigError("dnnrec evaluate --predictions writes one checkpoint's predictions, but " +
                      path + " holds " + std::to_string(checkpoints.size()) +
                      ": give one checkpoint file or a run directory of one seed");
  }
  std::vector<EvalResult> results;
  for (const auto& checkpoint : checkpoints) {
    results.push_back(
        run_evaluate(checkpoint, get(r, "data"), get(r, "split", "test"), predictions));
  }
  const bool single = checkpoints.size() == 1 && checkpoints.front() == path;
  if (r["json"].as<bool>()) {
    if (single) {
      out << results.front().to_json() << "\n";
    } else {
      json all = json::array();
      for (const auto& result : results) all.push_back(json::parse(result.to_json()));
      out << json{{"path", path}, {"results", all}}.dump(2) << "\n";
    }
  } else if (single) {
    const EvalResult& result = results.front();
    print_metrics(out, result.split + " (" + std::to_string(result.examples) + " examples)",
                  result.metrics);
  } else {
    // One row per checkpoint, the metrics as columns.
    out << "| checkpoint | examples |";
    for (const auto& [name, unused] : results.front().metrics) out << " " << name << " |";
    out << "\n| --- | --- |";
    for (size_t i = 0; i < results.front().metrics.size(); ++i) out << " --- |";
    out << "\n";
    char buffer[32];
    for (const auto& result : results) {
      out << "| " << result.checkpoint << " | " << result.examples << " |";
      for (const auto& [name, value] : result.metrics) {
        std::snprintf(buffer, sizeof(buffer), " %.4f |", value);
        out << buffer;
      }
      out << "\n";
    }
  }
  return kExitOk;
}

int predict(const std::vector<std::string>& args, std::ostream& out) {
  Command cmd("predict", "Score (userId, movieId) pairs: a CSV with header userId,movieId.");
  cmd.add("checkpoint", "Checkpoint file", "FILE");
  cmd.add("data", "MovieLens folder (default: the one stored in the checkpoint)", "DIR");
  cmd.add("input", "CSV of pairs with header userId,movieId", "PAIRS.csv");
  cmd.add("output", "Where to write userId,movieId,prediction; - for stdout (default: -)", "FILE");
  cmd.add_flag("json", "Print a JSON summary (rows, unknown ids) to stdout; needs --output FILE");
  auto r = cmd.parse(args);
  if (r["help"].as<bool>()) return out << cmd.help(), kExitOk;
  start_logging(r);
  const std::string output = get(r, "output", "-");
  const bool as_json = r["json"].as<bool>();
  if (as_json && output == "-") {
    throw ConfigError(
        "dnnrec predict: --json prints a summary on stdout, so the predictions "
        "need --output FILE");
  }
  PredictResult result = run_predict(require(r, "checkpoint", "predict"), get(r, "data"),
                                     require(r, "input", "predict"), output);
  if (output != "-") spdlog::info("{} predictions written to {}", result.rows, output);
  if (as_json) {
    out << json{{"output", output},
                {"rows", result.rows},
                {"unknown_users", result.unknown_users},
                {"unknown_movies", result.unknown_movies}}
               .dump(2)
        << "\n";
  }
  return kExitOk;
}

int recommend(const std::vector<std::string>& args, std::ostream& out) {
  Command cmd("recommend", "Top-k movies a user has not rated, with titles and scores.");
  cmd.add("checkpoint", "Checkpoint file", "FILE");
  cmd.add("data", "MovieLens folder (default: the one stored in the checkpoint)", "DIR");
  cmd.add("user", "Raw userId", "ID");
  cmd.add("k", "Number of movies (default: 10)", "N");
  cmd.add_flag("json", "Print one JSON object to stdout");
  auto r = cmd.parse(args);
  if (r["help"].as<bool>()) return out << cmd.help(), kExitOk;
  start_logging(r);
  const int64_t user = to_int(require(r, "user", "recommend"), "user");
  const int k = static_cast<int>(to_int(get(r, "k", "10"), "k"));
  auto recs = run_recommend(require(r, "checkpoint", "recommend"), get(r, "data"), user, k);
  if (r["json"].as<bool>()) {
    json items = json::array();
    for (const auto& rec : recs) {
      items.push_back({{"movieId", rec.movie},
                       {"title", rec.title},
                       {"genres", rec.genres},
                       {"score", rec.score},
                       {"predicted", rec.predicted}});
    }
    out << json{{"user", user}, {"k", k}, {"recommendations", items}}.dump(2) << "\n";
  } else {
    char buffer[96];
    out << "rank  movieId   score  predicted  title\n";
    for (size_t i = 0; i < recs.size(); ++i) {
      std::snprintf(buffer, sizeof(buffer), "%4zu  %7lld  %6.3f  %9.3f  ", i + 1,
                    static_cast<long long>(recs[i].movie), recs[i].score, recs[i].predicted);
      out << buffer << recs[i].title << "\n";
    }
  }
  return kExitOk;
}

int info(const std::vector<std::string>& args, std::ostream& out) {
  Command cmd("info", "Describe a checkpoint: format, model, data, epoch, metrics, config.");
  cmd.add("checkpoint", "Checkpoint file", "FILE");
  cmd.add_flag("json", "Print one JSON object to stdout");
  auto r = cmd.parse(args);
  if (r["help"].as<bool>()) return out << cmd.help(), kExitOk;
  start_logging(r);
  const std::string text = checkpoint_info_json(require(r, "checkpoint", "info"));
  if (r["json"].as<bool>()) {
    out << text << "\n";
    return kExitOk;
  }
  json doc = json::parse(text);
  for (const auto& [key, value] : doc.items()) {
    if (key == "config") continue;
    out << key << ": " << (value.is_string() ? value.get<std::string>() : value.dump()) << "\n";
  }
  out << "config:\n" << doc["config"].get<std::string>();
  return kExitOk;
}

int sample(const std::vector<std::string>& args, std::ostream& out) {
  Command cmd("sample", "Write a synthetic dataset in MovieLens layout (for tests and demos).");
  cmd.add("out", "Folder to write ratings.csv, movies.csv, tags.csv, links.csv into", "DIR");
  cmd.add("users", "Number of users (default: 200)", "N");
  cmd.add("movies", "Number of movies (default: 300)", "N");
  cmd.add("ratings", "Number of ratings (default: 20000)", "N");
  cmd.add("tags", "Number of tag applications (default: 1000)", "N");
  cmd.add("seed", "Random seed (default: 7)", "N");
  cmd.add_flag("json", "Print what was written as one JSON object");
  auto r = cmd.parse(args);
  if (r["help"].as<bool>()) return out << cmd.help(), kExitOk;
  start_logging(r);
  SampleOptions options;
  options.users = static_cast<int>(to_int(get(r, "users", "200"), "users"));
  options.movies = static_cast<int>(to_int(get(r, "movies", "300"), "movies"));
  options.ratings = to_int(get(r, "ratings", "20000"), "ratings");
  options.tags = to_int(get(r, "tags", "1000"), "tags");
  options.seed = static_cast<uint64_t>(to_int(get(r, "seed", "7"), "seed"));
  const std::string dir = require(r, "out", "sample");
  write_sample_movielens(dir, options);
  if (r["json"].as<bool>()) {
    out << json{{"out", dir},
                {"users", options.users},
                {"movies", options.movies},
                {"ratings", options.ratings},
                {"tags", options.tags},
                {"seed", options.seed}}
               .dump(2)
        << "\n";
  } else {
    out << dir << "\n";
  }
  return kExitOk;
}

// The config as {section: {name: value}}, each value with its JSON type.
json config_json(const Config& c) {
  json doc = json::object();
  for (const FieldInfo& f : config_fields()) {
    const size_t dot = f.key.find('.');
    const std::string section = f.key.substr(0, dot), name = f.key.substr(dot + 1);
    const std::string value = c.get(f.key);
    json v = value;
    if (f.type == "int" || f.type == "float" || f.type == "bool") {
      v = json::parse(value);
    } else if (f.type == "int_list") {
      v = json::array();
      std::istringstream in(value);
      std::string item;
      while (std::getline(in, item, ',')) {
        if (!item.empty()) v.push_back(std::stoll(item));
      }
    }
    doc[section][name] = v;
  }
  return doc;
}

int config(std::vector<std::string> args, std::ostream& out) {
  const auto sets = extract_sets(args);
  Command cmd("config", "Print the effective config as YAML, or every key as a Markdown table.");
  cmd.add("config", "YAML config file to start from", "FILE");
  cmd.add("set", "Set any config key: --set train.lr=0.003 (repeatable)", "KEY=VALUE");
  cmd.add_flag("markdown", "Print the table of every key (the README's config table)");
  cmd.add_flag("models", "List the model names --model accepts");
  cmd.add_flag("json", "Print the effective config (or with --models the names) as JSON");
  auto r = cmd.parse(args);
  if (r["help"].as<bool>()) return out << cmd.help(), kExitOk;
  start_logging(r);
  if (r["models"].as<bool>()) {
    if (r["json"].as<bool>()) {
      out << json{{"models", model_names()}}.dump(2) << "\n";
      return kExitOk;
    }
    for (const std::string& name : model_names()) out << name << "\n";
    return kExitOk;
  }
  if (r["markdown"].as<bool>()) {
    out << "| key | flag | default | meaning |\n| --- | --- | --- | --- |\n";
    for (const FieldInfo& f : config_fields()) {
      std::string help = f.help;
      for (size_t pos = 0; (pos = help.find('|', pos)) != std::string::npos; pos += 2) {
        help.replace(pos, 1, "\\|");
      }
      out << "| `" << f.key << "` | " << (f.flag.empty() ? "" : "`--" + f.flag + "`") << " | `"
          << (f.default_value.empty() ? "\"\"" : f.default_value) << "` | " << help << " |\n";
    }
    return kExitOk;
  }
  Config c;
  if (r.count("config")) c.merge_yaml_file(r["config"].as<std::string>());
  for (const auto& [key, value] : sets) c.set(key, value);
  c.validate();
  if (r["json"].as<bool>()) {
    out << config_json(c).dump(2) << "\n";
    return kExitOk;
  }
  out << c.to_yaml();
  return kExitOk;
}

int launch(std::vector<std::string> args, std::ostream& out) {
  // Everything after "--" is the train command, passed on untouched.
  std::vector<std::string> command;
  const auto dash = std::find(args.begin(), args.end(), "--");
  if (dash != args.end()) {
    command.assign(dash + 1, args.end());
    args.erase(dash, args.end());
  }
  Command cmd("launch",
              "Start the ranks of a data-parallel training on this host and wait for them: "
              "dnnrec launch --nproc N -- train [train flags]. Each rank is dnnrec train with "
              "--world-size, --rank and --master added (and --threads = cores / N unless "
              "given); --batch-size is the global batch, cut between the ranks.");
  cmd.add("nproc", "Ranks to start on this host (default 2)", "N");
  cmd.add("world-size", "Ranks over every host (default: --nproc, all on this host)", "W");
  cmd.add("first-rank",
          "The first rank started on this host (default 0; e.g. 4 on the second of two hosts "
          "with 4 each)",
          "K");
  cmd.add("master",
          "HOST:PORT of rank 0's rendezvous store (default 127.0.0.1 and a free port; needed "
          "when ranks run on other hosts)",
          "HOST:PORT");
  auto r = cmd.parse(args);
  if (r["help"].as<bool>()) {
    out << cmd.help();
    return kExitOk;
  }
  start_logging(r);
  LaunchOptions options;
  options.nproc = static_cast<int>(to_int(get(r, "nproc", "2"), "nproc"));
  options.world_size = static_cast<int>(to_int(get(r, "world-size", "0"), "world-size"));
  options.first_rank = static_cast<int>(to_int(get(r, "first-rank", "0"), "first-rank"));
  options.master = get(r, "master", "");
  if (!options.master.empty()) parse_host_port(options.master, "--master");
  options.args = command;
  return run_launch(options, self_path());
}

}  // namespace

int run(const std::vector<std::string>& args, std::ostream& out) {
  if (args.size() < 2 || args[1] == "-h" || args[1] == "--help" || args[1] == "help") {
    out << kUsage;
    return kExitOk;
  }
  if (args[1] == "--version") {
    out << "dnnrec 0.1.0\n";
    return kExitOk;
  }
  const std::string command = args[1];
  std::vector<std::string> rest = {"dnnrec " + command};
  rest.insert(rest.end(), args.begin() + 2, args.end());
  if (command == "train") return train(rest, out);
  if (command == "sweep") return sweep(rest, out);
  if (command == "launch") return launch(rest, out);
  if (command == "evaluate") return evaluate(rest, out);
  if (command == "predict") return predict(rest, out);
  if (command == "recommend") return recommend(rest, out);
  if (command == "info") return info(rest, out);
  if (command == "sample") return sample(rest, out);
  if (command == "config") return config(rest, out);
  const std::string hint = nearest(command, {"train", "sweep", "launch", "evaluate", "predict",
                                             "recommend", "info", "sample", "config"});
  throw ConfigError("unknown command '" + command + "'" +
                    (hint.empty() ? "" : "; did you mean '" + hint + "'?") +
                    " (dnnrec --help lists the commands)");
}

int run(int argc, char** argv) {
  std::vector<std::string> args(argv, argv + argc);
  return run(args, std::cout);
}

}  // namespace dnnrec::cli
