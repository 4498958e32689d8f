// The subcommands: one table {name, summary, handler} that the usage text, dispatch and the
// did-you-mean suggestion read. Each handler parses its flags, builds the config, calls one
// library function and prints the result to stdout.
#include "cli/cli.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstdio>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>

#include "base/config_value.h"
#include "base/runtime.h"
#include "base/signals.h"
#include "cli/command.h"
#include "cli/plots.h"
#include "data/event_log.h"
#include "data/sample.h"
#include "dnnrec/config.h"
#include "dnnrec/error.h"
#include "dnnrec/pipeline.h"
#include "models/models.h"
#include "models/ranker_names.h"
#include "run/launch.h"
#include "run/resume.h"
#include "run/sweep.h"
#include "train/distributed.h"

namespace dnnrec::cli {
namespace {

using json = nlohmann::ordered_json;

void add_train_flags(Command& cmd) {
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
}

DistOptions dist_options_of(const cxxopts::ParseResult& r) {
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
  return dist;
}

void print_train_result(std::ostream& out, const TrainResult& result, bool dry_run, bool as_json) {
  if (as_json) {
    out << result.to_json() << "\n";
  } else if (dry_run) {
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
}

int train(std::vector<std::string> args, std::ostream& out) {
  const auto sets = extract_sets(args);
  Command cmd("train", "Train a model on a MovieLens folder and write a run directory.");
  add_train_flags(cmd);
  const auto parsed =
      cmd.start(args, out,
                "\nAny key of the config (see configs/default.yaml) can be set with "
                "--set section.key=value.\n");
  if (!parsed) return kExitOk;
  const cxxopts::ParseResult& r = *parsed;
  const Config config = config_from(r, sets);
  const bool dry_run = r["dry-run"].as<bool>();
  const DistOptions dist = dist_options_of(r);
  // --world-size 1 is the single-process path itself; a dry run trains nothing to share.
  std::unique_ptr<ProcessGroup> group;
  if (dist.world_size > 1 && !dry_run) {
    set_rank_logging(dist.rank);
    spdlog::info("joining a group of {} at {}", dist.world_size, dist.master);
    group = ProcessGroup::join(dist);
    spdlog::info("rank {} of {} joined", dist.rank, dist.world_size);
  }
  const bool lead = dist.rank == 0;
  const bool data_given = r.count("data") > 0;
  ResumePlan plan{config, ""};
  if (r.count("resume") && lead) {
    plan = plan_resume(config, r["resume"].as<std::string>(), data_given);
  }
  if (group != nullptr) plan.config = share_run_config(*group, plan.config, config, data_given);
  const TrainResult result = with_interrupts([&] {
    return run_train(plan.config, command_line_of(args, sets), dry_run, plan.checkpoint,
                     group.get());
  });
  if (!lead && group != nullptr) return kExitOk;  // rank 0 reports for the group
  if (!dry_run && plan.config.output.plots) draw_plots(result.run_dir);
  print_train_result(out, result, dry_run, r["json"].as<bool>());
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
  const auto parsed =
      cmd.start(args, out,
                "\nEvery train option sets the base config of each trial; --seeds is the seeds per "
                "trial and --out the sweep directory (required).\n");
  if (!parsed) return kExitOk;
  const cxxopts::ParseResult& r = *parsed;
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

int evaluate(std::vector<std::string> args, std::ostream& out) {
  Command cmd("evaluate",
              "Metrics of a checkpoint (or of every run of a run or sweep "
              "directory) on a split of its data.");
  cmd.add_checkpoint_flags(
      "Checkpoint file (best.pt, last.pt, ...), run directory or sweep directory", "PATH");
  cmd.add("split", "Split to evaluate: test|val|train (default: test)", "NAME");
  cmd.add("predictions",
          "Also write userId,movieId,rating,prediction for every row of the split (what "
          "predict returns for those pairs); one checkpoint only",
          "FILE");
  cmd.add_flag("json", "Print one JSON object to stdout");
  const auto parsed = cmd.start(args, out);
  if (!parsed) return kExitOk;
  const cxxopts::ParseResult& r = *parsed;
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

int predict(std::vector<std::string> args, std::ostream& out) {
  Command cmd("predict", "Score (userId, movieId) pairs: a CSV with header userId,movieId.");
  cmd.add_checkpoint_flags("Checkpoint file (or run directory)", "FILE");
  cmd.add("input", "CSV of pairs with header userId,movieId", "PAIRS.csv");
  cmd.add("output", "Where to write userId,movieId,prediction; - for stdout (default: -)", "FILE");
  cmd.add_flag("json", "Print a JSON summary (rows, unknown ids) to stdout; needs --output FILE");
  const auto parsed = cmd.start(args, out);
  if (!parsed) return kExitOk;
  const cxxopts::ParseResult& r = *parsed;
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

int recommend(std::vector<std::string> args, std::ostream& out) {
  Command cmd("recommend", "Top-k movies a user has not rated, with titles and scores.");
  cmd.add_checkpoint_flags("Checkpoint file (or run directory)", "FILE");
  cmd.add("user", "Raw userId", "ID");
  cmd.add("users",
          "Batch mode: 'all' (every user the model can rank) or a CSV file with a userId column",
          "all|FILE");
  cmd.add("output", "Batch mode: write userId,rank,movieId,score here (default: stdout)", "FILE");
  cmd.add("k", "Number of movies (default: 10)", "N");
  cmd.add("candidates",
          "Ranking models: serve (every item the user has no interaction with; default) | test "
          "| val (exactly what test or val evaluation ranks: the lists those metrics measured)",
          "serve|test|val");
  cmd.add_flag("json", "Print one JSON object to stdout");
  const auto parsed = cmd.start(args, out);
  if (!parsed) return kExitOk;
  const cxxopts::ParseResult& r = *parsed;
  const int k = static_cast<int>(to_int(get(r, "k", "10"), "k"));
  const std::string candidates = get(r, "candidates", "serve");
  if (r.count("users")) {
    if (r.count("user")) throw ConfigError("recommend: give --user or --users, not both");
    const std::string users = get(r, "users");
    const std::string checkpoint = require(r, "checkpoint", "recommend");
    const auto lists =
        users == "all"
            ? run_recommend_users(checkpoint, get(r, "data"), std::vector<int64_t>{}, k, candidates)
            : run_recommend_users_file(checkpoint, get(r, "data"), users, k, candidates);
    const std::string text = recommendations_csv(lists);
    const std::string output = get(r, "output");
    if (output.empty() || output == "-") {
      out << text;
    } else {
      atomic_write_file(output, text);
      spdlog::info("{} lists of {} written to {}", lists.size(), k, output);
    }
    return kExitOk;
  }
  if (r.count("output")) throw ConfigError("recommend: --output goes with --users");
  const std::string user_key = require(r, "user", "recommend");
  const int64_t user = id_of_key(user_key);
  auto recs = run_recommend_users(require(r, "checkpoint", "recommend"), get(r, "data"), {user}, k,
                                  candidates)
                  .front()
                  .items;
  if (r["json"].as<bool>()) {
    json items = json::array();
    for (const auto& rec : recs) {
      // A csv log's string id stays a string; MovieLens ids are numbers.
      const json movie_id = is_hashed_id(rec.movie) ? json(rec.id) : json(rec.movie);
      json item = json::object();
      item["movieId"] = movie_id;
      item["title"] = rec.title;
      item["genres"] = rec.genres;
      item["score"] = rec.score;
      item["predicted"] = rec.predicted;
      items.push_back(std::move(item));
    }
    const json user_id = is_hashed_id(user) ? json(user_key) : json(user);
    out << json{{"user", user_id}, {"k", k}, {"recommendations", items}}.dump(2) << "\n";
  } else {
    char buffer[96];
    out << "rank  movieId   score  predicted  title\n";
    for (size_t i = 0; i < recs.size(); ++i) {
      // The id right-aligned in 7 columns, a longer one (a csv log's key) whole.
      std::string id = recs[i].id;
      if (id.size() < 7) id.insert(0, 7 - id.size(), ' ');
      std::snprintf(buffer, sizeof(buffer), "%4zu  ", i + 1);
      out << buffer << id;
      std::snprintf(buffer, sizeof(buffer), "  %6.3f  %9.3f  ", recs[i].score, recs[i].predicted);
      out << buffer << recs[i].title << "\n";
    }
  }
  return kExitOk;
}

int export_model(std::vector<std::string> args, std::ostream& out) {
  Command cmd("export",
              "Export a checkpoint for serving: a TorchScript module in Triton's layout, or "
              "user and item vectors for nearest-neighbour search.");
  cmd.add_checkpoint_flags("Checkpoint file (or run directory)", "FILE");
  cmd.add("format",
          "torchscript (DIR/NAME/1/model.pt + DIR/NAME/config.pbtxt; every model) | embeddings "
          "(users.npy, items.npy, users.tsv, items.tsv: mf, bpr, two-tower, sasrec); default "
          "torchscript",
          "torchscript|embeddings");
  cmd.add("out", "Folder to write into (a Triton model repository for torchscript)", "DIR");
  cmd.add("name", "The model's name in the repository (default: dnnrec-<model>)", "NAME");
  cmd.add_flag("json", "Print one JSON object (files written) to stdout");
  const auto parsed = cmd.start(args, out);
  if (!parsed) return kExitOk;
  const cxxopts::ParseResult& r = *parsed;
  const ExportResult result =
      run_export(require(r, "checkpoint", "export"), get(r, "data"),
                 get(r, "format", "torchscript"), require(r, "out", "export"), get(r, "name"));
  if (r["json"].as<bool>()) {
    out << result.to_json() << "\n";
  } else {
    for (const auto& file : result.files) out << file << "\n";
  }
  return kExitOk;
}

int info(std::vector<std::string> args, std::ostream& out) {
  Command cmd("info", "Describe a checkpoint: format, model, data, epoch, metrics, config.");
  cmd.add_checkpoint_flags("Checkpoint file (or run directory)", "FILE", /*data=*/false);
  cmd.add_flag("json", "Print one JSON object to stdout");
  const auto parsed = cmd.start(args, out);
  if (!parsed) return kExitOk;
  const cxxopts::ParseResult& r = *parsed;
  const std::string text = checkpoint_info_json(require(r, "checkpoint", "info"));
  if (r["json"].as<bool>()) {
    out << text << "\n";
    return kExitOk;
  }
  json doc = json::parse(text);
  for (const auto& [key, value] : doc.items()) {
    if (key == "config") continue;
    if (key == "members") {  // a blend's: model and weight each (--json has their configs)
      std::string list;
      for (const auto& m : value) {
        list += (list.empty() ? "" : ", ") + m["model"].get<std::string>() + " (weight " +
                m["weight"].dump() + ")";
      }
      out << "members: " << list << "\n";
      continue;
    }
    out << key << ": " << (value.is_string() ? value.get<std::string>() : value.dump()) << "\n";
  }
  out << "config:\n" << doc["config"].get<std::string>();
  return kExitOk;
}

int sample(std::vector<std::string> args, std::ostream& out) {
  Command cmd("sample", "Write a synthetic dataset in MovieLens layout (for tests and demos).");
  cmd.add("out", "Folder to write ratings.csv, movies.csv, tags.csv, links.csv into", "DIR");
  cmd.add("users", "Number of users (default: 200)", "N");
  cmd.add("movies", "Number of movies (default: 300)", "N");
  cmd.add("ratings", "Number of ratings (default: 20000)", "N");
  cmd.add("tags", "Number of tag applications (default: 1000)", "N");
  cmd.add("seed", "Random seed (default: 7)", "N");
  cmd.add("format",
          "Layout: movielens-csv (default) | ml-100k | ml-1m | ml-10m: the same ratings in each "
          "(whole stars in ml-100k and ml-1m, which also describe their users) | csv: a shop's "
          "purchase log with string ids, items.csv and users.csv (configs/shop.yaml)",
          "NAME");
  cmd.add_flag("json", "Print what was written as one JSON object");
  const auto parsed = cmd.start(args, out);
  if (!parsed) return kExitOk;
  const cxxopts::ParseResult& r = *parsed;
  SampleOptions options;
  options.users = static_cast<int>(to_int(get(r, "users", "200"), "users"));
  options.movies = static_cast<int>(to_int(get(r, "movies", "300"), "movies"));
  options.ratings = to_int(get(r, "ratings", "20000"), "ratings");
  options.tags = to_int(get(r, "tags", "1000"), "tags");
  options.seed = static_cast<uint64_t>(to_int(get(r, "seed", "7"), "seed"));
  options.format = get(r, "format", "movielens-csv");
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
    } else if (config_value::is_list_type(f.type)) {
      v = json::array();
      std::istringstream in(value);
      std::string item;
      while (std::getline(in, item, ',')) {
        if (item.empty()) continue;
        if (f.type == "string_list") {
          v.push_back(item);
        } else {
          v.push_back(json::parse(item));
        }
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
  const auto parsed = cmd.start(args, out);
  if (!parsed) return kExitOk;
  const cxxopts::ParseResult& r = *parsed;
  if (r["models"].as<bool>()) {
    if (r["json"].as<bool>()) {
      out << json{{"models", model_names()}, {"ranking_models", ranker_names()}}.dump(2) << "\n";
      return kExitOk;
    }
    for (const std::string& name : model_names()) out << name << "\n";
    for (const std::string& name : ranker_names()) {
      if (ranks_only(name)) out << name << " (train.task ranking)\n";
    }
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
  const auto parsed = cmd.start(args, out);
  if (!parsed) return kExitOk;
  const cxxopts::ParseResult& r = *parsed;
  LaunchOptions options;
  options.nproc = static_cast<int>(to_int(get(r, "nproc", "2"), "nproc"));
  options.world_size = static_cast<int>(to_int(get(r, "world-size", "0"), "world-size"));
  options.first_rank = static_cast<int>(to_int(get(r, "first-rank", "0"), "first-rank"));
  options.master = get(r, "master", "");
  if (!options.master.empty()) parse_host_port(options.master, "--master");
  options.args = command;
  return run_launch(options, self_path());
}

/// One subcommand: its name, its line in `dnnrec --help`, and its handler (args[0] is
/// "dnnrec NAME").
struct Subcommand {
  const char* name;
  const char* summary;
  int (*handler)(std::vector<std::string> args, std::ostream& out);
};

const Subcommand kSubcommands[] = {
    {"train", "train a model and write a run directory (config, history, checkpoints, metrics)",
     train},
    {"sweep", "grid / random search over config keys, several seeds per trial, leaderboard", sweep},
    {"launch", "start the ranks of a data-parallel training (launch --nproc N -- train ...)",
     launch},
    {"evaluate", "metrics of a checkpoint on the test, val or train split", evaluate},
    {"predict", "score (userId, movieId) pairs from a CSV", predict},
    {"recommend", "top-k movies a user has not rated", recommend},
    {"info", "describe a checkpoint", info},
    {"export", "a checkpoint as TorchScript (Triton layout) or as embeddings (.npy)", export_model},
    {"sample", "write a small synthetic dataset in MovieLens layout", sample},
    {"config", "print the effective config (YAML) or the table of every key (--markdown)", config},
};

std::string usage() {
  std::string text =
      "dnnrec: a DNN recommender trainer for MovieLens-style data\n"
      "\n"
      "usage: dnnrec <command> [options]   (dnnrec <command> --help for its options)\n"
      "\n"
      "commands:\n";
  char line[160];
  for (const Subcommand& command : kSubcommands) {
    std::snprintf(line, sizeof(line), "  %-9s  %s\n", command.name, command.summary);
    text += line;
  }
  return text +
         "\n"
         "exit codes: 0 ok, 1 internal or I/O failure, 2 bad input / config / checkpoint,\n"
         "            3 training diverged, 4 distributed training lost a rank, 130 interrupted\n";
}

}  // namespace

int run(const std::vector<std::string>& args, std::ostream& out) {
  if (args.size() < 2 || args[1] == "-h" || args[1] == "--help" || args[1] == "help") {
    out << usage();
    return kExitOk;
  }
  if (args[1] == "--version") {
    // The machine line is what a bug report needs, and what scripts/test-cpu-paths.sh reads to
    // know which kernel path `make test` has already run.
    out << "dnnrec " << kVersion << "\n" << machine_info().summary() << "\n";
    return kExitOk;
  }
  const std::string name = args[1];
  std::vector<std::string> rest = {"dnnrec " + name};
  rest.insert(rest.end(), args.begin() + 2, args.end());
  std::vector<std::string> names;
  for (const Subcommand& command : kSubcommands) {
    if (name == command.name) return command.handler(rest, out);
    names.push_back(command.name);
  }
  const std::string hint = nearest(name, names);
  throw ConfigError("unknown command '" + name + "'" +
                    (hint.empty() ? "" : "; did you mean '" + hint + "'?") +
                    " (dnnrec --help lists the commands)");
}

int run(int argc, char** argv) {
  std::vector<std::string> args(argv, argv + argc);
  return run(args, std::cout);
}

}  // namespace dnnrec::cli
