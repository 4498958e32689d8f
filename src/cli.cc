// Subcommand handlers: parse flags (declared once in the config field table), build the
// config, call one pipeline function, print the result to stdout.
#include "dnnrec/cli.h"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <atomic>
#include <csignal>
#include <cstdio>
#include <ctime>
#include <cxxopts.hpp>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "dnnrec/config.h"
#include "dnnrec/error.h"
#include "dnnrec/models.h"
#include "dnnrec/movielens.h"
#include "dnnrec/pipeline.h"
#include "dnnrec/runtime.h"
#include "dnnrec/trainer.h"

namespace dnnrec::cli {
namespace {

using json = nlohmann::ordered_json;

constexpr const char* kUsage =
    "dnnrec: a DNN recommender trainer for MovieLens-style data\n"
    "\n"
    "usage: dnnrec <command> [options]   (dnnrec <command> --help for its options)\n"
    "\n"
    "commands:\n"
    "  train      train a model and write a run directory (config, history, checkpoints, metrics)\n"
    "  evaluate   metrics of a checkpoint on the test, val or train split\n"
    "  predict    score (userId, movieId) pairs from a CSV\n"
    "  recommend  top-k movies a user has not rated\n"
    "  info       describe a checkpoint\n"
    "  sample     write a small synthetic dataset in MovieLens layout\n"
    "  config     print the effective config (YAML) or the table of every key (--markdown)\n"
    "\n"
    "exit codes: 0 ok, 1 internal or I/O failure, 2 bad input / config / checkpoint,\n"
    "            3 training diverged, 130 interrupted\n";

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

// Splits every "--set K=V" out of args so that cxxopts never splits values on commas.
std::vector<std::pair<std::string, std::string>> extract_sets(std::vector<std::string>& args) {
  std::vector<std::pair<std::string, std::string>> sets;
  std::vector<std::string> rest;
  for (size_t i = 0; i < args.size(); ++i) {
    std::string value;
    if (args[i] == "--set") {
      if (i + 1 >= args.size()) throw ConfigError("--set needs KEY=VALUE");
      value = args[++i];
    } else if (args[i].rfind("--set=", 0) == 0) {
      value = args[i].substr(6);
    } else {
      rest.push_back(args[i]);
      continue;
    }
    const size_t eq = value.find('=');
    if (eq == std::string::npos || eq == 0) {
      throw ConfigError("--set '" + value + "': expected KEY=VALUE, e.g. --set train.lr=0.003");
    }
    sets.emplace_back(value.substr(0, eq), value.substr(eq + 1));
  }
  args = rest;
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
    Trainer::interrupt_flag().store(true);  // first signal: stop after the current batch, save
  } else if (now - first >= 100'000'000) {
    ::_exit(kExitInterrupted);  // a second one: leave at once
  }
  // Within 100 ms it is the same interrupt delivered twice, not a second request: timeout and
  // kill(0) signal both the process and its group, and each of its threads can take one.
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

int train(std::vector<std::string> args, std::ostream& out) {
  const auto sets = extract_sets(args);
  Command cmd("train", "Train a model on a MovieLens folder and write a run directory.");
  cmd.add("config", "YAML config file (default: built-in defaults, as configs/default.yaml)",
          "FILE");
  cmd.add("set", "Set any config key: --set train.lr=0.003 (repeatable; wins over flags)",
          "KEY=VALUE");
  cmd.add_flag("json", "Print metrics.json to stdout");
  cmd.add_flag("dry-run",
               "Load, split and featurise the data and build the model, then stop (checks a "
               "config and data; times loading)");
  const Config defaults;
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
  auto r = cmd.parse(args);
  if (r["help"].as<bool>()) {
    out << cmd.help()
        << "\nAny key of the config (see configs/default.yaml) can be set with "
           "--set section.key=value.\n";
    return kExitOk;
  }
  start_logging(r);
  Config config;
  if (r.count("config")) config.merge_yaml_file(r["config"].as<std::string>());
  for (const FieldInfo& field : config_fields()) {
    if (!field.flag.empty() && r.count(field.flag)) {
      config.set(field.key, r[field.flag].as<std::string>());
    }
  }
  for (const auto& [key, value] : sets) config.set(key, value);
  config.validate();

  std::string command_line = args[0];  // "dnnrec train"
  for (size_t i = 1; i < args.size(); ++i) command_line += " " + shell_quote(args[i]);
  for (const auto& [key, value] : sets) command_line += " --set " + shell_quote(key + "=" + value);

  first_interrupt_ns.store(0);
  Trainer::interrupt_flag().store(false);
  auto previous_int = std::signal(SIGINT, on_interrupt);
  auto previous_term = std::signal(SIGTERM, on_interrupt);
  TrainResult result;
  try {
    result = run_train(config, command_line, r["dry-run"].as<bool>());
  } catch (...) {
    std::signal(SIGINT, previous_int);
    std::signal(SIGTERM, previous_term);
    throw;
  }
  std::signal(SIGINT, previous_int);
  std::signal(SIGTERM, previous_term);
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

int evaluate(const std::vector<std::string>& args, std::ostream& out) {
  Command cmd("evaluate", "Metrics of a checkpoint on a split of its data.");
  cmd.add("checkpoint", "Checkpoint file (best.pt, last.pt, ...)", "FILE");
  cmd.add("data", "MovieLens folder (default: the one stored in the checkpoint)", "DIR");
  cmd.add("split", "Split to evaluate: test|val|train (default: test)", "NAME");
  cmd.add_flag("json", "Print one JSON object to stdout");
  auto r = cmd.parse(args);
  if (r["help"].as<bool>()) return out << cmd.help(), kExitOk;
  start_logging(r);
  EvalResult result =
      run_evaluate(require(r, "checkpoint", "evaluate"), get(r, "data"), get(r, "split", "test"));
  if (r["json"].as<bool>()) {
    out << result.to_json() << "\n";
  } else {
    print_metrics(out, result.split + " (" + std::to_string(result.examples) + " examples)",
                  result.metrics);
  }
  return kExitOk;
}

int predict(const std::vector<std::string>& args, std::ostream& out) {
  Command cmd("predict", "Score (userId, movieId) pairs: a CSV with header userId,movieId.");
  cmd.add("checkpoint", "Checkpoint file", "FILE");
  cmd.add("data", "MovieLens folder (default: the one stored in the checkpoint)", "DIR");
  cmd.add("input", "CSV of pairs with header userId,movieId", "PAIRS.csv");
  cmd.add("output", "Where to write userId,movieId,prediction; - for stdout (default: -)", "FILE");
  auto r = cmd.parse(args);
  if (r["help"].as<bool>()) return out << cmd.help(), kExitOk;
  start_logging(r);
  const std::string output = get(r, "output", "-");
  PredictResult result = run_predict(require(r, "checkpoint", "predict"), get(r, "data"),
                                     require(r, "input", "predict"), output);
  if (output != "-") spdlog::info("{} predictions written to {}", result.rows, output);
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
  out << dir << "\n";
  return kExitOk;
}

int config(std::vector<std::string> args, std::ostream& out) {
  const auto sets = extract_sets(args);
  Command cmd("config", "Print the effective config as YAML, or every key as a Markdown table.");
  cmd.add("config", "YAML config file to start from", "FILE");
  cmd.add("set", "Set any config key: --set train.lr=0.003 (repeatable)", "KEY=VALUE");
  cmd.add_flag("markdown", "Print the table of every key (the README's config table)");
  cmd.add_flag("models", "List the model names --model accepts");
  auto r = cmd.parse(args);
  if (r["help"].as<bool>()) return out << cmd.help(), kExitOk;
  start_logging(r);
  if (r["models"].as<bool>()) {
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
  out << c.to_yaml();
  return kExitOk;
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
  if (command == "evaluate") return evaluate(rest, out);
  if (command == "predict") return predict(rest, out);
  if (command == "recommend") return recommend(rest, out);
  if (command == "info") return info(rest, out);
  if (command == "sample") return sample(rest, out);
  if (command == "config") return config(rest, out);
  const std::string hint =
      nearest(command, {"train", "evaluate", "predict", "recommend", "info", "sample", "config"});
  throw ConfigError("unknown command '" + command + "'" +
                    (hint.empty() ? "" : "; did you mean '" + hint + "'?") +
                    " (dnnrec --help lists the commands)");
}

int run(int argc, char** argv) {
  std::vector<std::string> args(argv, argv + argc);
  return run(args, std::cout);
}

}  // namespace dnnrec::cli
