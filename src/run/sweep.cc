// Sweeps: trial expansion, the trial hash, the child-process scheduler and the leaderboard.
#include "run/sweep.h"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <thread>

#include "base/config_value.h"
#include "base/hash.h"
#include "base/process.h"
#include "base/random.h"
#include "base/runtime.h"
#include "base/signals.h"
#include "data/csv_options.h"
#include "dnnrec/error.h"

namespace dnnrec {
namespace fs = std::filesystem;
using json = nlohmann::ordered_json;

namespace {

const FieldInfo& field_info(const std::string& key) {
  for (const FieldInfo& f : config_fields()) {
    if (f.key == key) return f;
  }
  throw ConfigError("unknown config key '" + key + "'");
}

std::vector<std::string> split(const std::string& text, char sep) {
  std::vector<std::string> parts;
  std::string part;
  std::istringstream in(text);
  while (std::getline(in, part, sep)) parts.push_back(part);
  if (!text.empty() && text.back() == sep) parts.emplace_back();
  return parts;
}

double to_double(const std::string& text, const std::string& what) {
  try {
    size_t used = 0;
    const double v = std::stod(text, &used);
    if (used == text.size() && std::isfinite(v)) return v;
  } catch (const std::exception&) {
  }
  throw ConfigError(what + ": '" + text + "' is not a finite number");
}

std::string format_value(double v, bool integer) {
  if (integer) return std::to_string(static_cast<int64_t>(v));
  char buffer[32];
  std::snprintf(buffer, sizeof(buffer), "%.4g", v);
  return buffer;
}

// Uniform in [0, 1): the top 53 bits of a draw.
double uniform(SplitMix64& rng) { return static_cast<double>(rng.next() >> 11) * 0x1.0p-53; }

std::string draw(const SweepRange& r, SplitMix64& rng) {
  const double u = uniform(rng);
  if (r.scale == "lin") return format_value(r.lo + u * (r.hi - r.lo), false);
  if (r.scale == "log") {
    return format_value(std::exp(std::log(r.lo) + u * (std::log(r.hi) - std::log(r.lo))), false);
  }
  if (r.scale == "int") {
    const double v = std::floor(r.lo + u * (r.hi - r.lo + 1));
    return format_value(std::min(v, r.hi), true);
  }
  // logint: log-uniform, rounded; the ends stay inside the range.
  const double v = std::round(std::exp(std::log(r.lo) + u * (std::log(r.hi) - std::log(r.lo))));
  return format_value(std::clamp(v, r.lo, r.hi), true);
}

// The ranking direction of a validation metric: the trainer's rule for train.monitor.
std::string mode_of(const std::string& metric) {
  Config c;
  c.train.monitor = metric;
  return c.effective_mode();
}

// "val_rmse" -> ("val", "rmse").
std::pair<std::string, std::string> split_metric(const std::string& metric) {
  const size_t underscore = metric.find('_');
  if (underscore == std::string::npos) return {"", metric};
  return {metric.substr(0, underscore), metric.substr(underscore + 1)};
}

std::string read_status(const std::string& dir) {
  std::ifstream in(dir + "/status");
  std::string status;
  in >> status;
  return status;
}

// A trial's leaderboard row from its directory.
TrialResult read_trial(const std::string& dir, const Trial& trial, const std::string& metric) {
  TrialResult r;
  r.id = trial.id;
  r.params = trial.params;
  r.run_dir = dir + "/run";
  r.score = std::nan("");
  r.status = read_status(dir);
  if (r.status.empty()) r.status = "pending";
  const std::string path = r.run_dir + "/metrics.json";
  if (!fs::exists(path)) return r;
  json doc;
  try {
    doc = json::parse(read_text_file(path));
  } catch (const json::exception& e) {
    spdlog::warn("{}: unreadable ({}); the trial will run again", path, e.what());
    r.status = "failed";
    return r;
  }
  r.status = "done";
  for (const std::string split : {"val", "test"}) {
    if (!doc.contains(split)) continue;
    for (const auto& [name, value] : doc[split].items()) {
      if (!value.is_number()) continue;
      MetricSummary s;
      s.mean = value.get<double>();
      const std::string std_key = split + "_std";
      if (doc.contains(std_key) && doc[std_key].contains(name) && doc[std_key][name].is_number()) {
        s.std = doc[std_key][name].get<double>();
      }
      r.metrics.emplace_back(split + "_" + name, s);
    }
  }
  for (const auto& [name, s] : r.metrics) {
    if (name == metric) r.score = s.mean;
  }
  return r;
}

// Starts `argv` as a child with stdout and stderr into files. The child dies with the sweep
// (PR_SET_PDEATHSIG), so a killed sweep leaves no trial running.
pid_t spawn(const std::vector<std::string>& args, const std::string& out_path,
            const std::string& err_path) {
  const int out = ::open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  const int err = ::open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (out < 0 || err < 0) {
    if (out >= 0) ::close(out);
    if (err >= 0) ::close(err);
    throw Error("cannot create " + out_path + " or " + err_path + ": " + std::strerror(errno));
  }
  pid_t pid = -1;
  try {
    pid = spawn_child(args, SIGKILL, "a trial", out, err);
  } catch (...) {
    ::close(out);
    ::close(err);
    throw;
  }
  ::close(out);
  ::close(err);
  return pid;
}

std::string fixed(double v) {
  if (std::isnan(v)) return "";
  char buffer[32];
  std::snprintf(buffer, sizeof(buffer), "%.4f", v);
  return buffer;
}

// The keys whose value differs between trials, in sweep order.
std::vector<std::string> varying_keys(const std::vector<TrialResult>& rows) {
  std::vector<std::string> keys;
  std::map<std::string, std::set<std::string>> values;
  for (const auto& row : rows) {
    for (const auto& [key, value] : row.params) {
      if (values.find(key) == values.end()) keys.push_back(key);
      values[key].insert(value);
    }
  }
  std::vector<std::string> out;
  for (const auto& key : keys) {
    if (values[key].size() > 1 || rows.size() == 1) out.push_back(key);
  }
  return out;
}

std::string param_of(const TrialResult& row, const std::string& key) {
  for (const auto& [k, v] : row.params) {
    if (k == key) return v;
  }
  return "";
}

// Every metric any finished row has, in first-seen order.
std::vector<std::string> metric_names(const std::vector<TrialResult>& rows) {
  std::vector<std::string> names;
  for (const auto& row : rows) {
    for (const auto& [name, unused] : row.metrics) {
      if (std::find(names.begin(), names.end(), name) == names.end()) names.push_back(name);
    }
  }
  return names;
}

const MetricSummary* metric_of(const TrialResult& row, const std::string& name) {
  for (const auto& [n, s] : row.metrics) {
    if (n == name) return &s;
  }
  return nullptr;
}

void rank(std::vector<TrialResult>& rows, const std::string& mode) {
  // Finished trials by score (ties by id, so the order is stable), then the rest.
  std::stable_sort(rows.begin(), rows.end(), [&](const TrialResult& a, const TrialResult& b) {
    const bool fa = !std::isnan(a.score), fb = !std::isnan(b.score);
    if (fa != fb) return fa;
    if (!fa) return a.id < b.id;
    if (a.score != b.score) return mode == "max" ? a.score > b.score : a.score < b.score;
    return a.id < b.id;
  });
  for (size_t i = 0; i < rows.size(); ++i) rows[i].rank = static_cast<int>(i + 1);
}

void write_leaderboard(const std::string& dir, const std::vector<TrialResult>& rows,
                       const std::string& metric, int seeds) {
  const std::vector<std::string> keys = varying_keys(rows);
  const std::vector<std::string> metrics = metric_names(rows);
  std::ostringstream csv;
  csv << "rank,trial,status";
  for (const auto& key : keys) csv << "," << key;
  for (const auto& m : metrics) csv << "," << m << "_mean," << m << "_std";
  csv << ",run_dir\n";
  for (const auto& row : rows) {
    csv << row.rank << "," << row.id << "," << row.status;
    for (const auto& key : keys) csv << "," << csv_field(param_of(row, key));
    for (const auto& m : metrics) {
      const MetricSummary* s = metric_of(row, m);
      csv << "," << (s ? fixed(s->mean) : "") << "," << (s ? fixed(s->std) : "");
    }
    csv << "," << csv_field(row.run_dir) << "\n";
  }
  atomic_write_file(dir + "/leaderboard.csv", csv.str());

  std::ostringstream md;
  md << "Ranked by " << metric << " (mean ± std over " << seeds << " seed"
     << (seeds == 1 ? "" : "s") << ").\n\n| rank | trial |";
  for (const auto& key : keys) md << " " << key << " |";
  for (const auto& m : metrics) md << " " << m << " |";
  md << " status |\n|";
  for (size_t i = 0; i < 3 + keys.size() + metrics.size(); ++i) md << " --- |";
  md << "\n";
  for (const auto& row : rows) {
    md << "| " << row.rank << " | " << row.id << " |";
    for (const auto& key : keys) md << " " << param_of(row, key) << " |";
    for (const auto& m : metrics) {
      const MetricSummary* s = metric_of(row, m);
      md << " " << (s ? fixed(s->mean) + " ± " + fixed(s->std) : "") << " |";
    }
    md << " " << row.status << " |\n";
  }
  atomic_write_file(dir + "/leaderboard.md", md.str());
}

}  // namespace

std::pair<std::string, std::vector<std::string>> parse_grid_axis(const std::string& text) {
  const size_t eq = text.find('=');
  if (eq == std::string::npos || eq == 0 || eq + 1 == text.size()) {
    throw ConfigError("--grid '" + text + "': expected KEY=V1,V2,... (e.g. --grid lr=0.001,0.003)");
  }
  const std::string key = resolve_config_key(text.substr(0, eq));
  // A list-valued key (model.hidden, model.member_weights) separates its alternatives with ';'.
  const char sep = config_value::is_list_type(field_info(key).type) ? ';' : ',';
  std::vector<std::string> values = split(text.substr(eq + 1), sep);
  for (const auto& v : values) {
    if (v.empty()) throw ConfigError("--grid '" + text + "': an empty value");
    Config probe;
    probe.set(key, v);  // a value the key does not take fails here, naming the key
  }
  std::set<std::string> seen;
  for (const auto& v : values) {
    if (!seen.insert(v).second) throw ConfigError("--grid '" + text + "': '" + v + "' twice");
  }
  return {key, values};
}

SweepRange parse_range(const std::string& text) {
  const size_t eq = text.find('=');
  if (eq == std::string::npos || eq == 0) {
    throw ConfigError("--range '" + text + "': expected KEY=LO:HI[:lin|log|int|logint]");
  }
  SweepRange r;
  r.key = resolve_config_key(text.substr(0, eq));
  const std::string& type = field_info(r.key).type;
  if (type != "int" && type != "float") {
    throw ConfigError("--range '" + text + "': " + r.key + " is not a number (use --grid)");
  }
  const std::vector<std::string> parts = split(text.substr(eq + 1), ':');
  if (parts.size() < 2 || parts.size() > 3) {
    throw ConfigError("--range '" + text + "': expected KEY=LO:HI[:lin|log|int|logint]");
  }
  r.lo = to_double(parts[0], "--range " + r.key);
  r.hi = to_double(parts[1], "--range " + r.key);
  r.scale = parts.size() == 3 ? parts[2] : (type == "int" ? "int" : "lin");
  if (r.scale != "lin" && r.scale != "log" && r.scale != "int" && r.scale != "logint") {
    throw ConfigError("--range '" + text + "': scale '" + r.scale +
                      "' is not one of lin, log, int, logint");
  }
  if (type == "int" && (r.scale == "lin" || r.scale == "log")) {
    r.scale = r.scale == "log" ? "logint" : "int";  // an integer key draws integers
  }
  if (!(r.lo < r.hi)) throw ConfigError("--range '" + text + "': LO must be below HI");
  if ((r.scale == "log" || r.scale == "logint") && r.lo <= 0) {
    throw ConfigError("--range '" + text + "': a log range needs LO > 0");
  }
  for (double end : {r.lo, r.hi}) {
    Config probe;
    probe.set(r.key, format_value(end, r.scale == "int" || r.scale == "logint"));
    probe.validate();  // the ends must be values the key takes
  }
  return r;
}

std::string trial_id(const Config& config) {
  Config c = config;
  c.train.threads = 0;
  c.data.cache = true;
  c.output = OutputConfig{};
  // Only the values that differ from the built-in defaults: a key added in a later version
  // (at its default) leaves every existing trial's id, and so a sweep's resume, unchanged.
  const Config defaults;
  std::string text;
  for (const FieldInfo& f : config_fields()) {
    const std::string value = c.get(f.key);
    if (value != defaults.get(f.key)) text += f.key + "=" + value + "\n";
  }
  return hex64(fnv1a(text.data(), text.size()));
}

std::vector<Trial> expand_trials(const SweepOptions& options) {
  if (!options.ranges.empty() && options.random <= 0) {
    throw ConfigError("--range needs --random N (the number of draws)");
  }
  if (options.random > 0 && options.ranges.empty()) {
    throw ConfigError("--random needs at least one --range KEY=LO:HI[:SCALE]");
  }
  std::set<std::string> keys;
  for (const auto& [key, unused] : options.grid) {
    if (!keys.insert(key).second) throw ConfigError("--grid " + key + " given twice");
  }
  for (const auto& r : options.ranges) {
    if (!keys.insert(r.key).second) throw ConfigError(r.key + " is swept twice");
  }
  std::vector<std::vector<std::pair<std::string, std::string>>> points = {{}};
  for (const auto& [key, values] : options.grid) {
    std::vector<std::vector<std::pair<std::string, std::string>>> next;
    for (const auto& point : points) {
      for (const auto& value : values) {
        next.push_back(point);
        next.back().emplace_back(key, value);
      }
    }
    points = std::move(next);
  }
  if (options.random > 0) {
    SplitMix64 rng(options.random_seed);
    std::vector<std::vector<std::pair<std::string, std::string>>> drawn;
    for (const auto& point : points) {
      for (int i = 0; i < options.random; ++i) {
        drawn.push_back(point);
        for (const auto& r : options.ranges) drawn.back().emplace_back(r.key, draw(r, rng));
      }
    }
    points = std::move(drawn);
  }
  std::vector<Trial> trials;
  std::set<std::string> ids;
  for (const auto& point : points) {
    Trial t;
    t.params = point;
    t.config = options.base;
    for (const auto& [key, value] : point) t.config.set(key, value);
    t.config.train.seeds = std::max(1, options.seeds);
    try {
      t.config.validate();
    } catch (const ConfigError& e) {
      std::string where;
      for (const auto& [key, value] : point) where += " " + key + "=" + value;
      throw ConfigError("trial" + where + ": " + e.what());
    }
    t.id = trial_id(t.config);
    if (ids.insert(t.id).second) trials.push_back(std::move(t));
  }
  return trials;
}

std::string SweepResult::to_json() const {
  json out;
  out["sweep_dir"] = dir;
  out["metric"] = metric;
  out["mode"] = mode;
  out["trials"] = trials;
  out["ran"] = ran;
  out["reused"] = reused;
  out["failed"] = failed;
  out["interrupted"] = interrupted;
  out["best_config"] = best_config;
  json rows = json::array();
  for (const auto& row : leaderboard) {
    json r;
    r["rank"] = row.rank;
    r["trial"] = row.id;
    r["status"] = row.status;
    json params = json::object();
    for (const auto& [key, value] : row.params) params[key] = value;
    r["params"] = params;
    json metrics = json::object();
    for (const auto& [name, s] : row.metrics) metrics[name] = {{"mean", s.mean}, {"std", s.std}};
    r["metrics"] = metrics;
    r["run_dir"] = row.run_dir;
    rows.push_back(r);
  }
  out["leaderboard"] = rows;
  return out.dump(2);
}

namespace {

// The result's directory, ranking metric and direction; throws ConfigError for bad options.
SweepResult new_result(const SweepOptions& options) {
  if (options.out.empty()) throw ConfigError("dnnrec sweep: --out DIR is required");
  if (options.jobs < 1) throw ConfigError("--jobs must be at least 1");
  SweepResult result;
  result.dir = options.out;
  result.metric = options.metric == "auto" ? options.base.effective_monitor() : options.metric;
  if (split_metric(result.metric).first != "val") {
    throw ConfigError("--metric '" + result.metric +
                      "': rank by a validation metric (val_rmse, val_mae, val_auc, ...)");
  }
  result.mode = mode_of(result.metric);
  return result;
}

// The sweep directory with command.txt and trials.csv: which trial is which, before any runs.
void write_sweep_files(const SweepOptions& options, const std::vector<Trial>& trials) {
  std::error_code ec;
  fs::create_directories(options.out + "/trials", ec);
  if (ec) throw Error("cannot create sweep directory " + options.out + ": " + ec.message());
  atomic_write_file(options.out + "/command.txt", options.command_line + "\n");
  std::ostringstream list;
  list << "trial";
  for (const auto& [key, unused] : trials.front().params) list << "," << key;
  list << "\n";
  for (const auto& t : trials) {
    list << t.id;
    for (const auto& [unused, value] : t.params) list << "," << csv_field(value);
    list << "\n";
  }
  atomic_write_file(options.out + "/trials.csv", list.str());
}

// The trials without a finished (done or diverged) run; the others count as reused.
std::vector<size_t> trials_to_run(const SweepOptions& options, const std::vector<Trial>& trials,
                                  SweepResult& result) {
  std::vector<size_t> todo;
  for (size_t i = 0; i < trials.size(); ++i) {
    const std::string dir = options.out + "/trials/" + trials[i].id;
    const TrialResult existing = read_trial(dir, trials[i], result.metric);
    if (existing.status == "done" || existing.status == "diverged") {
      ++result.reused;
    } else {
      todo.push_back(i);
    }
  }
  return todo;
}

// Runs trials as children, options.jobs at a time, and records how each ended. On an
// interrupt it starts no more and passes SIGTERM on to the running ones.
class Scheduler {
 public:
  Scheduler(const SweepOptions& options, const std::vector<Trial>& trials, std::vector<size_t> todo,
            int threads, SweepResult& result)
      : options_(options),
        trials_(trials),
        todo_(std::move(todo)),
        threads_(threads),
        result_(result) {}
  void run();

 private:
  void start(size_t index);
  // Records the end of child `pid` (one of ours or not) with wait status `status`.
  void finish(pid_t pid, int status);
  std::string dir_of(const Trial& t) const { return options_.out + "/trials/" + t.id; }

  const SweepOptions& options_;
  const std::vector<Trial>& trials_;
  const std::vector<size_t> todo_;
  const int threads_;
  SweepResult& result_;
  std::map<pid_t, size_t> running_;
  std::map<pid_t, Clock::time_point> started_;
  size_t next_ = 0;
  bool forwarded_ = false;
  int finished_ = 0;
};

void Scheduler::run() {
  while (next_ < todo_.size() || !running_.empty()) {
    const bool stopping = interrupt_requested().load();
    if (stopping && !forwarded_) {
      // A SIGTERM to the sweep alone reaches the trials this way; each checkpoints and exits.
      for (const auto& [pid, unused] : running_) ::kill(pid, SIGTERM);
      forwarded_ = true;
      result_.interrupted = true;
    }
    while (!stopping && next_ < todo_.size() && static_cast<int>(running_.size()) < options_.jobs) {
      start(todo_[next_++]);
    }
    int status = 0;
    const pid_t pid = ::waitpid(-1, &status, WNOHANG);
    if (pid == 0 || (pid < 0 && errno == EINTR)) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
      continue;
    }
    if (pid < 0) break;  // no children left
    finish(pid, status);
  }
}

void Scheduler::start(size_t index) {
  const Trial& t = trials_[index];
  const std::string dir = dir_of(t);
  std::error_code ec;
  fs::remove_all(dir, ec);  // a trial that did not finish starts over
  fs::create_directories(dir, ec);
  if (ec) throw Error("cannot create trial directory " + dir + ": " + ec.message());
  Config c = t.config;
  c.train.threads = threads_;
  c.output.dir = dir + "/run";
  c.output.plots = false;  // the sweep draws its own
  atomic_write_file(dir + "/config.yaml", c.to_yaml());
  const pid_t pid =
      spawn({options_.binary, "train", "--config", dir + "/config.yaml", "-q", "--json"},
            dir + "/stdout.json", dir + "/stderr.log");
  running_[pid] = index;
  started_[pid] = Clock::now();
  std::string params;
  for (const auto& [key, value] : t.params) params += " " + key + "=" + value;
  spdlog::info("trial {} started:{}", t.id, params);
}

void Scheduler::finish(pid_t pid, int status) {
  auto it = running_.find(pid);
  if (it == running_.end()) return;
  const Trial& t = trials_[it->second];
  const std::string dir = dir_of(t);
  const double seconds = seconds_since(started_[pid]);
  running_.erase(it);
  ++finished_;
  const int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  if (code == kExitOk) {
    ++result_.ran;
    atomic_write_file(dir + "/status", "done\n");
    const TrialResult row = read_trial(dir, t, result_.metric);
    spdlog::info("trial {} done ({}/{}): {} {:.4f} ({})", t.id, finished_, todo_.size(),
                 result_.metric, row.score, format_duration(seconds));
  } else if (code == kExitDiverged) {
    ++result_.ran;
    atomic_write_file(dir + "/status", "diverged\n");
    spdlog::warn("trial {} diverged ({}/{}); see {}/stderr.log", t.id, finished_, todo_.size(),
                 dir);
  } else {
    ++result_.failed;
    atomic_write_file(dir + "/status", "failed\n");
    spdlog::warn("trial {} failed with exit code {} ({}/{}); see {}/stderr.log", t.id, code,
                 finished_, todo_.size(), dir);
  }
}

// best.yaml: the config of the leaderboard's first row, when it has a score.
void write_best(const SweepOptions& options, const std::vector<Trial>& trials,
                SweepResult& result) {
  const TrialResult& best = result.leaderboard.front();
  if (std::isnan(best.score)) return;
  const Trial& t =
      *std::find_if(trials.begin(), trials.end(), [&](const Trial& x) { return x.id == best.id; });
  Config c = t.config;
  c.train.threads = options.base.train.threads;
  c.output.dir = "";  // a new run directory for each use
  const MetricSummary* s = metric_of(best, result.metric);
  std::ostringstream yaml;
  yaml << "# The best trial (" << best.id << ") of the sweep " << options.out << ": "
       << result.metric << " " << fixed(s->mean) << " +- " << fixed(s->std) << " over "
       << c.train.seeds << " seed(s).\n# dnnrec train --config THIS_FILE\n"
       << c.to_yaml();
  result.best_config = options.out + "/best.yaml";
  atomic_write_file(result.best_config, yaml.str());
}

}  // namespace

SweepResult run_sweep(const SweepOptions& options) {
  SweepResult result = new_result(options);
  const std::vector<Trial> trials = expand_trials(options);
  result.trials = static_cast<int>(trials.size());
  write_sweep_files(options, trials);

  // Threads: split the cores between the jobs unless train.threads was given.
  const int cores = std::max(1u, std::thread::hardware_concurrency());
  const int threads = options.base.train.threads > 0
                          ? options.base.train.threads
                          : std::max(1, cores / std::min<int>(options.jobs, result.trials));
  std::vector<size_t> todo = trials_to_run(options, trials, result);
  spdlog::info(
      "sweep {}: {} trials x {} seed(s), {} finished before, {} to run, {} at a time, "
      "{} thread(s) each",
      options.out, trials.size(), std::max(1, options.seeds), result.reused, todo.size(),
      options.jobs, threads);
  Scheduler(options, trials, std::move(todo), threads, result).run();
  if (interrupt_requested().load()) result.interrupted = true;

  // The leaderboard of every trial of the sweep, run now or before.
  for (const Trial& t : trials) {
    result.leaderboard.push_back(read_trial(options.out + "/trials/" + t.id, t, result.metric));
  }
  rank(result.leaderboard, result.mode);
  write_leaderboard(options.out, result.leaderboard, result.metric, std::max(1, options.seeds));
  write_best(options, trials, result);
  return result;
}

}  // namespace dnnrec
