// Inference from a checkpoint: restoring a run's model and features, evaluate, predict,
// recommend, finding the checkpoints a path stands for, and describing one.
#include <libfccp/csv.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <limits>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>
#include <unordered_map>
#include <unordered_set>

#include "base/runtime.h"
#include "data/batch.h"
#include "data/features.h"
#include "data/movielens.h"
#include "data/split.h"
#include "dnnrec/error.h"
#include "dnnrec/model.h"
#include "dnnrec/pipeline.h"
#include "models/ranker_names.h"
#include "run/inference.h"
#include "run/ranking_run.h"
#include "run/run_common.h"
#include "train/checkpoint.h"
#include "train/trainer.h"

namespace fs = std::filesystem;
using json = nlohmann::ordered_json;

namespace dnnrec {

Restored restore(Checkpoint ckpt, const std::string& data_dir) {
  Restored r;
  r.ckpt = std::move(ckpt);
  const Config& config = r.ckpt.config;
  r.data = load_checkpoint_data(r.ckpt, data_dir);
  r.split = split_ratings(r.data.ratings, config.data);
  if (config.train.task == "binary") {
    drop_unlabelled(r.data.ratings, config.train.dislike_threshold, config.train.like_threshold,
                    &r.split);
  }
  r.features = std::make_unique<FeatureBuilder>(config.features, config.data.split);
  r.features->restore(r.ckpt.vocabs, r.data, r.split.train);
  r.spec = r.features->spec(config.data);
  configure_threads(config.train.threads);
  RecModel model = r.ckpt.make_model(r.spec);
  r.trainer = std::make_unique<Trainer>(model, config, select_device(config.train.device));
  return r;
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
// Ids as the data writes them (a csv log's string keys quoted when they need it).
std::string predictions_csv(const MovieLens& names, const std::vector<int64_t>& users,
                            const std::vector<int64_t>& movies, const std::vector<float>* ratings,
                            const std::vector<float>& scores) {
  std::string text = ratings ? "userId,movieId,rating,prediction\n" : "userId,movieId,prediction\n";
  text.reserve(text.size() + users.size() * 32);
  for (size_t i = 0; i < users.size(); ++i) {
    append_csv_field(text, names.name_of(users[i]));
    text += ',';
    append_csv_field(text, names.name_of(movies[i]));
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

// An id from a CSV field: a non-negative number, or with `keys` (a csv log's data) any text,
// as id_of_key maps it; DataError naming file:line otherwise.
int64_t parse_id(const std::string& text, const char* column, const std::string& file, int64_t line,
                 bool keys) {
  if (keys && !text.empty()) return id_of_key(text);
  char* end = nullptr;
  errno = 0;
  const long long v = std::strtoll(text.c_str(), &end, 10);
  if (text.empty() || *end != '\0' || errno != 0 || v < 0) {
    throw DataError(file, line,
                    std::string("column '") + column + "': \"" + text + "\" is not a valid id");
  }
  return static_cast<int64_t>(v);
}

}  // namespace

std::vector<int64_t> read_user_ids(const std::string& path, bool keys) {
  std::vector<int64_t> users;
  const std::string name = fs::path(path).filename().string();
  try {
    io::CSVReader<1, io::trim_chars<' ', '\t'>, io::double_quote_escape<',', '"'>> reader(path);
    reader.read_header(io::ignore_extra_column, "userId");
    std::string text;
    while (reader.read_row(text)) {
      users.push_back(parse_id(text, "userId", name, reader.get_file_line(), keys));
    }
  } catch (const io::error::base& e) {
    throw DataError(name + ": " + e.what());
  }
  return users;
}

std::string recommendations_csv(const std::vector<UserRecommendations>& lists) {
  std::string text = "userId,rank,movieId,score\n";
  for (const auto& list : lists) {
    for (size_t i = 0; i < list.items.size(); ++i) {
      append_csv_field(text, list.user_id.empty() ? std::to_string(list.user) : list.user_id);
      text += "," + std::to_string(i + 1) + ",";
      append_csv_field(
          text, list.items[i].id.empty() ? std::to_string(list.items[i].movie) : list.items[i].id);
      text += ",";
      append_number(text, list.items[i].score);
      text += '\n';
    }
  }
  return text;
}

EvalResult run_evaluate(const std::string& checkpoint, const std::string& data_dir,
                        const std::string& split_name, const std::string& predictions) {
  Checkpoint ckpt = load_checkpoint(checkpoint);
  if (ckpt.config.train.task == "ranking") {
    if (!predictions.empty()) {
      throw ConfigError("--predictions writes rating predictions; for a ranking model write " +
                        std::string("the lists with dnnrec recommend --users all --output"));
    }
    RestoredRanking r = restore_ranking(std::move(ckpt), data_dir);
    EvalResult result;
    result.checkpoint = checkpoint;
    result.split = split_name;
    const auto start = Clock::now();
    result.metrics = evaluate_restored(r, split_name, &result.examples);
    spdlog::info("{}: full ranking of {} users x {} items in {:.2f}s", split_name,
                 r.ranking.index.n_users(), r.ranking.index.n_items(), seconds_since(start));
    return result;
  }
  Restored r = restore(std::move(ckpt), data_dir);
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
    atomic_write_file(predictions, predictions_csv(r.data, users, movies, &stars, scores));
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

namespace {

// predict's predictions of (raw user, raw movie) pairs.
std::vector<float> predict_pairs(Restored& r, const std::vector<int64_t>& users,
                                 const std::vector<int64_t>& movies) {
  const Config& c = r.ckpt.config;
  TensorData data(r.features->transform_pairs(r.data, users, movies), c.train.task,
                  c.train.like_threshold, r.trainer->device());
  return r.trainer->predict(data);
}

}  // namespace

std::string single_checkpoint(const std::string& path) {
  const std::vector<std::string> checkpoints = checkpoints_of(path);
  if (checkpoints.size() != 1) {
    throw ConfigError(path + " holds " + std::to_string(checkpoints.size()) +
                      " checkpoints (several seeds or a sweep); give one checkpoint file");
  }
  return checkpoints.front();
}

PredictResult run_predict(const std::string& checkpoint, const std::string& data_dir,
                          const std::string& input, const std::string& output) {
  Checkpoint ckpt = load_checkpoint(single_checkpoint(checkpoint));
  if (ckpt.config.train.task == "ranking") {
    throw ConfigError(checkpoint + " is a ranking model: it ranks items rather than predicting " +
                      "ratings; use dnnrec recommend");
  }
  Restored r = restore(std::move(ckpt), data_dir);
  std::vector<int64_t> users, movies;
  const std::string name = fs::path(input).filename().string();
  try {
    io::CSVReader<2, io::trim_chars<' ', '\t'>, io::double_quote_escape<',', '"'>> reader(input);
    reader.read_header(io::ignore_extra_column, "userId", "movieId");
    std::string user_text, movie_text;
    while (reader.read_row(user_text, movie_text)) {
      const bool keys = r.data.format == "csv";
      users.push_back(parse_id(user_text, "userId", name, reader.get_file_line(), keys));
      movies.push_back(parse_id(movie_text, "movieId", name, reader.get_file_line(), keys));
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
  const std::string text =
      predictions_csv(r.data, users, movies, nullptr, predict_pairs(r, users, movies));
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

namespace {

Recommendation recommendation(const MovieLens& data, int64_t movie_id, double score,
                              double predicted) {
  Recommendation rec;
  rec.movie = movie_id;
  rec.id = data.name_of(movie_id);
  if (const Movie* movie = data.find_movie(movie_id)) {
    rec.title = movie->title;
    for (size_t g = 0; g < movie->genres.size(); ++g)
      rec.genres += (g ? "|" : "") + movie->genres[g];
  }
  rec.score = score;
  rec.predicted = predicted;
  return rec;
}

// A rating or binary model's list for one user: every unrated movie scored, best first.
std::vector<Recommendation> recommend_one(Restored& r, int64_t user, int k) {
  const Ratings& ratings = r.data.ratings;
  std::unordered_set<int64_t> rated;
  for (size_t i = 0; i < ratings.size(); ++i) {
    if (ratings.user[i] == user) rated.insert(ratings.movie[i]);
  }
  if (rated.empty()) {
    throw DataError("user " + r.data.name_of(user) + " has no ratings in " +
                    r.ckpt.config.data.dir);
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
    result.push_back(recommendation(r.data, movies[order[i]], score[order[i]], shown[order[i]]));
  }
  return result;
}

// Each id's position in `ids`.
std::unordered_map<int64_t, int64_t> positions(const std::vector<int64_t>& ids) {
  std::unordered_map<int64_t, int64_t> out;
  for (size_t i = 0; i < ids.size(); ++i) out[ids[i]] = static_cast<int64_t>(i);
  return out;
}

// A ranking model's lists: its users (all of them for an empty `users`), unknown ones skipped.
std::vector<UserRecommendations> recommend_restored(RestoredRanking& r,
                                                    const std::vector<int64_t>& users, int k,
                                                    const std::string& candidates) {
  const InteractionIndex& index = r.ranking.index;
  std::vector<int64_t> rows;
  if (users.empty()) {
    for (int64_t u = 0; u < index.n_users(); ++u) rows.push_back(u);
  } else {
    const auto row_of = positions(index.users);
    int64_t unknown = 0;
    for (int64_t user : users) {
      const auto it = row_of.find(user);
      if (it == row_of.end()) {
        ++unknown;
        if (users.size() == 1) {
          throw DataError("user " + r.data.name_of(user) + " has no training interactions in " +
                          "this model's data (interactions are ratings >= " +
                          std::to_string(r.ckpt.config.data.min_interaction_rating) +
                          " after the k-core filter)");
        }
        continue;
      }
      rows.push_back(it->second);
    }
    if (unknown > 0) spdlog::warn("{} users without training interactions left out", unknown);
  }
  std::vector<std::vector<float>> scores;
  const auto lists = rank_users(r, rows, k, candidates, &scores);
  std::vector<UserRecommendations> out;
  for (size_t j = 0; j < rows.size(); ++j) {
    UserRecommendations recs;
    recs.user = index.users[static_cast<size_t>(rows[j])];
    recs.user_id = r.data.name_of(recs.user);
    for (size_t i = 0; i < lists[j].size(); ++i) {
      const auto movie = index.items[static_cast<size_t>(lists[j][i])];
      recs.items.push_back(recommendation(r.data, movie, scores[j][i], scores[j][i]));
    }
    out.push_back(std::move(recs));
  }
  return out;
}

std::vector<UserRecommendations> recommend_ranking(Checkpoint ckpt, const std::string& data_dir,
                                                   const std::vector<int64_t>& users, int k,
                                                   const std::string& candidates) {
  RestoredRanking r = restore_ranking(std::move(ckpt), data_dir);
  return recommend_restored(r, users, k, candidates);
}

}  // namespace

namespace {

std::vector<UserRecommendations> recommend_users(Checkpoint ckpt, const std::string& data_dir,
                                                 const std::vector<int64_t>& users, int k,
                                                 const std::string& candidates) {
  if (ckpt.config.train.task == "ranking") {
    return recommend_ranking(std::move(ckpt), data_dir, users, k, candidates);
  }
  Restored r = restore(std::move(ckpt), data_dir);
  std::vector<int64_t> wanted = users;
  if (wanted.empty()) {
    wanted = r.data.ratings.user;
    std::sort(wanted.begin(), wanted.end());
    wanted.erase(std::unique(wanted.begin(), wanted.end()), wanted.end());
  }
  std::vector<UserRecommendations> out;
  int64_t unknown = 0;
  for (int64_t user : wanted) {
    try {
      out.push_back({user, r.data.name_of(user), recommend_one(r, user, k)});
    } catch (const DataError&) {
      if (wanted.size() == 1) throw;
      ++unknown;
    }
  }
  if (unknown > 0) spdlog::warn("{} users without ratings left out", unknown);
  return out;
}

}  // namespace

std::vector<UserRecommendations> run_recommend_users(const std::string& checkpoint,
                                                     const std::string& data_dir,
                                                     const std::vector<int64_t>& users, int k,
                                                     const std::string& candidates) {
  if (k <= 0) throw ConfigError("-k must be at least 1");
  return recommend_users(load_checkpoint(single_checkpoint(checkpoint)), data_dir, users, k,
                         candidates);
}

std::vector<UserRecommendations> run_recommend_users_file(const std::string& checkpoint,
                                                          const std::string& data_dir,
                                                          const std::string& users_file, int k,
                                                          const std::string& candidates) {
  if (k <= 0) throw ConfigError("-k must be at least 1");
  Checkpoint ckpt = load_checkpoint(single_checkpoint(checkpoint));
  const bool keys = ckpt.config.data.format == "csv";
  return recommend_users(std::move(ckpt), data_dir, read_user_ids(users_file, keys), k, candidates);
}

std::vector<Recommendation> run_recommend(const std::string& checkpoint,
                                          const std::string& data_dir, int64_t user, int k) {
  return run_recommend_users(checkpoint, data_dir, {user}, k).front().items;
}

std::string checkpoint_info_json(const std::string& checkpoint) {
  Checkpoint ckpt = load_checkpoint(single_checkpoint(checkpoint));
  const CheckpointMeta& m = ckpt.meta;
  json out;
  out["checkpoint"] = ckpt.path;
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
  if (!ckpt.members.empty()) {
    out["members"] = json::array();
    const std::vector<double> weights = blend_weights(ckpt.config.model);
    for (size_t i = 0; i < ckpt.members.size(); ++i) {
      out["members"].push_back({{"model", ckpt.members[i].model.name},
                                {"weight", weights[i]},
                                {"config", m.member_configs[i]}});
    }
  }
  return out.dump(2);
}

// The library's Model: one restore, then predict and recommend as the CLI runs them.
struct Model::State {
  std::string name, task;
  std::unique_ptr<Restored> rating;
  std::unique_ptr<RestoredRanking> ranking;
};

Model::Model(std::unique_ptr<State> state) : state_(std::move(state)) {}
Model::Model(Model&&) noexcept = default;
Model& Model::operator=(Model&&) noexcept = default;
Model::~Model() = default;

Model Model::load(const std::string& path, const std::string& data_dir) {
  // dnnrec logs through spdlog's default logger. spdlog's own writes to stdout, which is the
  // program's: unless the program has set a logger of its own, warnings go to stderr.
  if (spdlog::default_logger()->name().empty()) init_logging("warn");
  Checkpoint ckpt = load_checkpoint(single_checkpoint(path));
  auto state = std::make_unique<State>();
  state->name = ckpt.config.model.name;
  state->task = ckpt.config.train.task;
  if (state->task == "ranking") {
    state->ranking = std::make_unique<RestoredRanking>(restore_ranking(std::move(ckpt), data_dir));
  } else {
    state->rating = std::make_unique<Restored>(restore(std::move(ckpt), data_dir));
  }
  return Model(std::move(state));
}

const std::string& Model::name() const { return state_->name; }
const std::string& Model::task() const { return state_->task; }

std::vector<float> Model::predict(const std::vector<int64_t>& users,
                                  const std::vector<int64_t>& movies) {
  if (users.size() != movies.size()) {
    throw ConfigError("predict: " + std::to_string(users.size()) + " users but " +
                      std::to_string(movies.size()) + " movies");
  }
  if (state_->rating) return predict_pairs(*state_->rating, users, movies);
  // A ranking model: each known user's scores of every item, as recommend computes them.
  RestoredRanking& r = *state_->ranking;
  const InteractionIndex& index = r.ranking.index;
  const auto user_row = positions(index.users), item_row = positions(index.items);
  std::vector<int64_t> wanted;  // the known users, each once
  std::unordered_map<int64_t, size_t> slot;
  for (int64_t user : users) {
    const auto it = user_row.find(user);
    if (it != user_row.end() && slot.emplace(it->second, wanted.size()).second) {
      wanted.push_back(it->second);
    }
  }
  torch::Tensor scores = torch::empty({static_cast<int64_t>(wanted.size()), index.n_items()});
  score_blocks(r, wanted, "serve",
               [&](size_t begin, const std::vector<int64_t>& block, const torch::Tensor& rows) {
                 const auto from = static_cast<int64_t>(begin);
                 scores.slice(0, from, from + static_cast<int64_t>(block.size())).copy_(rows);
               });
  const auto table = scores.accessor<float, 2>();
  std::vector<float> out(users.size(), std::numeric_limits<float>::quiet_NaN());
  for (size_t j = 0; j < users.size(); ++j) {
    const auto u = user_row.find(users[j]);
    const auto i = item_row.find(movies[j]);
    if (u == user_row.end() || i == item_row.end()) continue;
    out[j] = table[static_cast<int64_t>(slot.at(u->second))][i->second];
  }
  return out;
}

std::vector<Recommendation> Model::recommend(int64_t user, int k) {
  if (k <= 0) throw ConfigError("recommend: k must be at least 1");
  if (state_->rating) return recommend_one(*state_->rating, user, k);
  return recommend_restored(*state_->ranking, {user}, k, "serve").front().items;
}

}  // namespace dnnrec
