// The ranking task end to end: prepare the interactions, fit or train a ranking model with
// early stopping on a validation ranking metric, measure val and test, and restore it for
// evaluate and recommend.
#include "run/ranking_run.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <unordered_map>

#include "base/config_value.h"
#include "base/random.h"
#include "base/runtime.h"
#include "base/signals.h"
#include "data/features.h"
#include "data/interactions.h"
#include "dnnrec/error.h"
#include "models/models.h"
#include "run/resume.h"
#include "run/run_common.h"
#include "run/train_run.h"
#include "train/callbacks.h"
#include "train/lr_schedule.h"
#include "train/metrics.h"
#include "train/optimizer.h"
#include "train/ranking_metrics.h"

namespace fs = std::filesystem;

namespace dnnrec {

// Blocks of about 24 MiB of scores, 16 to 512 users: small enough that the allocator serves
// them from its heap (reused block after block) rather than fresh mmaps whose pages are faulted
// in and cleared every block (measured at ml-25m size: 100 s against 20 s for one ranking).
int64_t user_block_size(int64_t n_items) {
  return std::clamp<int64_t>((int64_t{24} << 20) / (4 * std::max<int64_t>(n_items, 1)), 16, 512);
}

namespace {

std::vector<int> topk_of(const Config& config) {
  return std::vector<int>(config.eval.topk.begin(), config.eval.topk.end());
}

// Each item's genre ids and year id, from vocabularies of the catalogue's genres and years
// (sorted, so the same data gives the same ids).
void add_item_features(const MovieLens& data, RankingData& out) {
  const auto& items = out.index.items;
  std::set<std::string> genre_names;
  std::set<int> years;
  for (int64_t id : items) {
    if (const Movie* m = data.find_movie(id)) {
      genre_names.insert(m->genres.begin(), m->genres.end());
      if (m->year > 0) years.insert(m->year);
    }
  }
  const std::vector<std::string> genre_list(genre_names.begin(), genre_names.end());
  const std::vector<int> year_list(years.begin(), years.end());
  size_t width = 1;
  for (int64_t id : items) {
    if (const Movie* m = data.find_movie(id)) width = std::max(width, m->genres.size());
  }
  const auto n = static_cast<int64_t>(items.size());
  out.item_genres = torch::zeros({n, static_cast<int64_t>(width)}, torch::kLong);
  out.item_year = torch::zeros({n}, torch::kLong);
  auto genres = out.item_genres.accessor<int64_t, 2>();
  auto year = out.item_year.accessor<int64_t, 1>();
  for (int64_t i = 0; i < n; ++i) {
    const Movie* m = data.find_movie(items[static_cast<size_t>(i)]);
    if (m == nullptr) continue;
    for (size_t g = 0; g < m->genres.size(); ++g) {
      const auto at = std::lower_bound(genre_list.begin(), genre_list.end(), m->genres[g]);
      genres[i][static_cast<int64_t>(g)] = 1 + (at - genre_list.begin());
    }
    if (m->year > 0) {
      year[i] =
          1 + (std::lower_bound(year_list.begin(), year_list.end(), m->year) - year_list.begin());
    }
  }
  out.n_genres = static_cast<int64_t>(genre_list.size());
  out.n_years = static_cast<int64_t>(year_list.size());
}

// Each user's description tokens (features.user_features), from a vocabulary of the tokens of
// the index's users (sorted, so the same data gives the same ids).
void add_user_features(const MovieLens& data, const FeaturesConfig& features, RankingData& out) {
  if (!features.user_features || data.users.empty()) return;
  const auto& users = out.index.users;
  std::vector<std::vector<std::string>> tokens(users.size());
  std::set<std::string> names;
  size_t width = 0;
  for (size_t u = 0; u < users.size(); ++u) {
    if (const UserInfo* user = data.find_user(users[u]))
      tokens[u] = user_tokens(*user, features.zip_prefix);
    names.insert(tokens[u].begin(), tokens[u].end());
    width = std::max(width, tokens[u].size());
  }
  if (names.empty()) return;
  const std::vector<std::string> list(names.begin(), names.end());
  out.user_profile =
      torch::zeros({static_cast<int64_t>(users.size()), static_cast<int64_t>(width)}, torch::kLong);
  auto ids = out.user_profile.accessor<int64_t, 2>();
  for (size_t u = 0; u < users.size(); ++u) {
    for (size_t k = 0; k < tokens[u].size(); ++k) {
      const auto at = std::lower_bound(list.begin(), list.end(), tokens[u][k]);
      ids[static_cast<int64_t>(u)][static_cast<int64_t>(k)] = 1 + (at - list.begin());
    }
  }
  out.n_profile = static_cast<int64_t>(list.size());
}

// The index's user and item of a rating row, built once for the passes below.
class RowIndex {
 public:
  explicit RowIndex(const InteractionIndex& index) {
    for (int64_t u = 0; u < index.n_users(); ++u) user_of_[index.users[u]] = u;
    for (int64_t i = 0; i < index.n_items(); ++i) item_of_[index.items[i]] = i;
  }
  /// False when the row's user or movie is not in the index (filtered out).
  bool find(const Ratings& ratings, int64_t row, int64_t& user, int64_t& item) const {
    const auto u = user_of_.find(ratings.user[row]);
    const auto i = item_of_.find(ratings.movie[row]);
    if (u == user_of_.end() || i == item_of_.end()) return false;
    user = u->second;
    item = i->second;
    return true;
  }

 private:
  std::unordered_map<int64_t, int64_t> user_of_, item_of_;
};

// Each user's training, validation and test items in time order (ties in file order).
void add_sequences(const Ratings& ratings, const Split& split, const RowIndex& rows_of,
                   RankingData& out) {
  auto fill = [&](std::vector<int64_t> rows, std::vector<std::vector<int64_t>>& sequences,
                  std::vector<std::vector<int64_t>>* times) {
    std::stable_sort(rows.begin(), rows.end(), [&](int64_t a, int64_t b) {
      return ratings.timestamp[a] < ratings.timestamp[b];
    });
    sequences.assign(out.index.users.size(), {});
    if (times != nullptr) times->assign(out.index.users.size(), {});
    int64_t u = 0, i = 0;
    for (int64_t row : rows) {
      if (!rows_of.find(ratings, row, u, i)) continue;
      sequences[u].push_back(i);
      if (times != nullptr) (*times)[u].push_back(ratings.timestamp[row]);
    }
  };
  fill(split.train, out.train_sequence, &out.train_times);
  fill(split.val, out.val_sequence, nullptr);
  fill(split.test, out.test_sequence, nullptr);
}

// eval.exclude rated: each user's movies of the catalogue rated below the interaction threshold
// are left out of their lists (they are seen, and can never be a held-out interaction).
void add_rated_exclusions(const Ratings& ratings, double threshold, const RowIndex& rows_of,
                          RankingData& out) {
  out.index.also_excluded.assign(out.index.users.size(), {});
  int64_t u = 0, i = 0;
  for (size_t row = 0; row < ratings.size(); ++row) {
    if (ratings.rating[row] >= threshold) continue;
    if (rows_of.find(ratings, static_cast<int64_t>(row), u, i))
      out.index.also_excluded[u].push_back(i);
  }
}

}  // namespace

RankingData prepare_ranking(const Config& config, const MovieLens& data) {
  const DataConfig& d = config.data;
  // An implicit log (no rating column) is all interactions.
  const double threshold = data.implicit ? -INFINITY : d.min_interaction_rating;
  std::vector<int64_t> rows = interaction_rows(data.ratings, threshold);
  const size_t interactions = rows.size();
  rows = k_core(data.ratings, rows, d.min_user_interactions, d.min_item_interactions);
  if (rows.empty()) {
    throw DataError("ranking: no interactions left after keeping ratings >= " +
                    std::to_string(d.min_interaction_rating) + " and the " +
                    std::to_string(d.min_user_interactions) + "/" +
                    std::to_string(d.min_item_interactions) +
                    "-core filter (data.min_interaction_rating, data.min_user_interactions, "
                    "data.min_item_interactions)");
  }
  Split split;
  if (d.split == "leave-last") {
    split = split_leave_last(data.ratings, rows);
  } else if (d.split == "random-per-user") {
    split = split_random_per_user(data.ratings, rows, d.val_ratio, d.test_ratio,
                                  static_cast<uint64_t>(d.split_seed));
  } else {
    throw ConfigError("data.split: the ranking task needs random-per-user or leave-last, got " +
                      d.split);
  }
  RankingData out;
  out.index = index_interactions(data.ratings, split);
  const RowIndex rows_of(out.index);
  add_sequences(data.ratings, split, rows_of, out);
  if (config.eval.exclude == "rated") {
    add_rated_exclusions(data.ratings, d.min_interaction_rating, rows_of, out);
  }
  add_item_features(data, out);
  add_user_features(data, config.features, out);
  spdlog::info(
      "ranking data: {} interactions (rating >= {}), {} after the {}/{}-core: {} users, {} "
      "items; split {} -> train {}, val {}, test {}",
      interactions, d.min_interaction_rating, rows.size(), d.min_user_interactions,
      d.min_item_interactions, out.index.n_users(), out.index.n_items(), d.split,
      split.train.size(), split.val.size(), split.test.size());
  return out;
}

namespace {

std::map<std::string, double> evaluate_model(Ranker& model, const RankingData& data,
                                             const std::string& part, const std::vector<int>& ks) {
  torch::NoGradGuard no_grad;
  const auto start = Clock::now();
  model->eval();
  model->freeze_items(true);
  const auto metrics = evaluate_ranking(
      data.index,
      [&](int64_t begin, int64_t end) {
        std::vector<int64_t> users(static_cast<size_t>(end - begin));
        for (int64_t u = begin; u < end; ++u) users[static_cast<size_t>(u - begin)] = u;
        return model->score(user_block(data, users, part, model->sequence_length()));
      },
      part, ks, user_block_size(data.index.n_items()));
  model->freeze_items(false);
  spdlog::debug("{}: full ranking of {} users x {} items in {:.2f}s", part, data.index.n_users(),
                data.index.n_items(), seconds_since(start));
  return metrics;
}

// A trained ranker's fit: its state between epochs.
struct RankingFit {
  RankingFit(TrainRun& r, RankingData& d, Ranker m) : run(r), data(d), model(std::move(m)) {}
  TrainRun& run;
  RankingData& data;
  Ranker model;
  std::unique_ptr<ModelOptimizer> optimizer;
  LrSchedule schedule;
  double lr = 0.0;                                     // the rate of the latest step
  std::vector<int64_t> pair_user, pair_item;           // every training interaction
  std::vector<std::vector<int64_t>> sorted_train;      // per user, for rejecting negatives
  std::vector<std::map<std::string, double>> history;  // one row per epoch
  std::vector<std::pair<std::string, torch::Tensor>> best_state;
  std::map<std::string, double> best_val, last_val;  // val metrics of those epochs
  double best = 0.0;
  int best_epoch = 0;
  int64_t steps = 0;
  int first_epoch = 1;  // after a resume, the epoch after the resume point's
  SplitMix64 rng{0};
  uint64_t dropout_seed = 0;  // each step's dropout masks come from (dropout_seed, step)
  std::vector<std::string> member_configs;  // a blend's members' effective configs (YAML)
};

// Negatives for one batch: bpr and the feature models, train.negatives per example, never the
// user's own training items; two-tower, train.negatives shared uniform items (the in-batch ones
// come free).
torch::Tensor draw_negatives(RankingFit& f, const std::vector<int64_t>& users) {
  const int n = f.run.config.train.negatives;
  const auto n_items = static_cast<uint64_t>(f.data.index.n_items());
  if (ranker_loss(f.run.config.model.name) == "sampled-softmax") {
    std::vector<int64_t> shared(static_cast<size_t>(n));
    for (auto& item : shared) item = static_cast<int64_t>(f.rng.below(n_items));
    return torch::tensor(shared, torch::kLong);
  }
  std::vector<int64_t> out(users.size() * static_cast<size_t>(std::max(n, 1)));
  for (size_t i = 0; i < out.size(); ++i) {
    const auto& seen = f.sorted_train[static_cast<size_t>(users[i / std::max(n, 1)])];
    int64_t item = 0;
    for (int tries = 0; tries < 100; ++tries) {
      item = static_cast<int64_t>(f.rng.below(n_items));
      if (!std::binary_search(seen.begin(), seen.end(), item)) break;
    }
    out[i] = item;
  }
  return torch::tensor(out, torch::kLong)
      .view({static_cast<int64_t>(users.size()), std::max(n, 1)});
}

// The batch of examples [begin, end) of the epoch's order: interactions, or users for a model
// that trains on users' sequences.
RankBatch make_batch(RankingFit& f, const int64_t* perm, int64_t begin, int64_t end) {
  RankBatch batch;
  std::vector<int64_t> users, items;
  if (f.model->trains_on_users()) {
    for (int64_t j = begin; j < end; ++j) users.push_back(perm[j]);
    batch.users = user_block(f.data, users, "train", f.model->sequence_length() + 1);
    return batch;
  }
  for (int64_t j = begin; j < end; ++j) {
    users.push_back(f.pair_user[static_cast<size_t>(perm[j])]);
    items.push_back(f.pair_item[static_cast<size_t>(perm[j])]);
  }
  if (f.model->trains_on_history()) {
    batch.users = user_block(f.data.index, users, &items);
  } else if (f.model->sequence_length() > 0) {
    batch.users = user_block(f.data, users, "train", f.model->sequence_length(), &items);
  } else {
    batch.users.users = torch::tensor(users, torch::kLong);
  }
  batch.items = torch::tensor(items, torch::kLong);
  batch.negatives = draw_negatives(f, users);
  return batch;
}

// Examples of an epoch: training interactions, or users.
int64_t epoch_examples(const RankingFit& f) {
  return f.model->trains_on_users() ? f.data.index.n_users()
                                    : static_cast<int64_t>(f.pair_user.size());
}

// One epoch of shuffled training examples, each step at the schedule's rate; returns the mean
// loss.
double train_epoch(RankingFit& f, int epoch) {
  const TrainConfig& t = f.run.config.train;
  const int64_t n = epoch_examples(f);
  const torch::Tensor order = t.shuffle ? torch::randperm(n, torch::kLong) : torch::arange(n);
  const int64_t* perm = order.data_ptr<int64_t>();
  f.model->train();
  double loss_sum = 0.0;
  for (int64_t begin = 0; begin < n; begin += t.batch_size) {
    if (interrupt_requested()) break;
    const int64_t end = std::min(n, begin + static_cast<int64_t>(t.batch_size));
    const RankBatch batch = make_batch(f, perm, begin, end);
    f.lr = f.schedule.rate(f.steps, epoch);
    f.optimizer->set_lr(f.lr);
    f.optimizer->zero_grad();
    // The step's dropout masks depend on the seed and the step alone, so a resumed run draws
    // the masks the uninterrupted one drew.
    DropoutStream masks(
        SplitMix64(f.dropout_seed ^ (static_cast<uint64_t>(f.steps) * 0x9E3779B97F4A7C15ULL))
            .next());
    const torch::Tensor loss = f.model->loss(batch, t.embedding_l2);
    const double value = loss.item<double>();
    if (!std::isfinite(value)) {
      throw DivergedError("the loss became " + std::to_string(value) + " at step " +
                          std::to_string(f.steps + 1) + "; lower train.lr");
    }
    loss.backward();
    f.optimizer->step();
    ++f.steps;
    loss_sum += value * static_cast<double>(end - begin);
  }
  return loss_sum / static_cast<double>(std::max<int64_t>(n, 1));
}

std::vector<std::pair<std::string, torch::Tensor>> copy_state(torch::nn::Module& m) {
  std::vector<std::pair<std::string, torch::Tensor>> out;
  for (const auto& p : m.named_parameters()) out.emplace_back(p.key(), p.value().detach().clone());
  for (const auto& b : m.named_buffers()) out.emplace_back("buffer:" + b.key(), b.value().clone());
  return out;
}

void restore_state(torch::nn::Module& m,
                   const std::vector<std::pair<std::string, torch::Tensor>>& s) {
  torch::NoGradGuard no_grad;
  auto params = m.named_parameters();
  auto buffers = m.named_buffers();
  for (const auto& [name, value] : s) {
    if (name.rfind("buffer:", 0) == 0) {
      buffers[name.substr(7)].copy_(value);
    } else {
      params[name].copy_(value);
    }
  }
}

// Where a ranking fit stands at the end of an epoch, as a checkpoint's resume state: the two
// random generators (torch's for shuffles, dropout; the negatives' SplitMix64), the history,
// the best epoch and its val metrics, and the schedule. The weights and the optimizer state are
// the checkpoint's own.
std::string ranking_resume_state(const RankingFit& f) {
  nlohmann::json j;
  j["task"] = "ranking";
  j["epoch"] = static_cast<int>(f.history.size());
  j["steps"] = f.steps;
  j["torch_rng"] = torch_generator_state();
  j["negatives_rng"] = std::to_string(f.rng.state());  // as text: JSON numbers are doubles
  j["history"] = f.history;
  j["best"] = f.best;
  j["best_epoch"] = f.best_epoch;
  j["best_val"] = f.best_val;
  j["last_val"] = f.last_val;
  j["lr"] = f.lr;
  j["schedule"] = f.schedule.save_state();
  return j.dump();
}

// Continues `f`, a trained ranker's fit, from a checkpoint of its run written at the end of an
// epoch.
void load_ranking_resume_point(RankingFit& f, const std::string& path) {
  const Checkpoint ckpt = load_checkpoint(path);
  check_resume_data(ckpt, fingerprint(f.run.data.ratings), f.run.config.data.dir);
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(ckpt.meta.resume_state);
  } catch (const nlohmann::json::exception&) {
    j = nullptr;
  }
  if (!j.is_object() || j.value("task", "") != "ranking") {
    throw CheckpointError(path + ": holds no ranking training state to resume from");
  }
  try {
    ckpt.load_model(*f.model);
    if (!ckpt.load_optimizer(*f.optimizer)) {
      throw CheckpointError(path + ": holds no optimizer state");
    }
    f.steps = j.at("steps").get<int64_t>();
    set_torch_generator_state(j.at("torch_rng").get<std::string>());
    f.rng = SplitMix64(std::stoull(j.at("negatives_rng").get<std::string>()));
    f.history = j.at("history").get<std::vector<std::map<std::string, double>>>();
    f.best = j.at("best").get<double>();
    f.best_epoch = j.at("best_epoch").get<int>();
    f.best_val = j.at("best_val").get<std::map<std::string, double>>();
    f.last_val = j.at("last_val").get<std::map<std::string, double>>();
    f.lr = j.at("lr").get<double>();
    f.schedule.load_state(j.at("schedule").get<std::string>());
    f.first_epoch = j.at("epoch").get<int>() + 1;
  } catch (const nlohmann::json::exception& e) {
    throw CheckpointError(path + ": bad ranking resume state (" + e.what() + ")");
  } catch (const std::logic_error& e) {  // stoull
    throw CheckpointError(path + ": bad ranking resume state (" + e.what() + ")");
  }
  if (static_cast<int>(f.history.size()) != f.first_epoch - 1) {
    throw CheckpointError(path + ": bad ranking resume state (history and epoch disagree)");
  }
  // restore_best ends the run with the best epoch's weights, which best.pt holds.
  if (f.run.config.train.restore_best && f.best_epoch > 0) {
    if (const auto best = best_checkpoint(f.run.result.run_dir, f.best_epoch)) {
      const auto now = copy_state(*f.model);
      best->load_model(*f.model);
      f.best_state = copy_state(*f.model);
      restore_state(*f.model, now);
    }
  }
  spdlog::info("resumed from {}: epoch {}, step {}", path, f.first_epoch - 1, f.steps);
}

CheckpointMeta ranking_meta(const TrainRun& run, int epoch, int64_t steps,
                            const std::map<std::string, double>& metrics) {
  CheckpointMeta meta;
  meta.dnnrec_version = kVersion;
  meta.created_at = now_iso8601();
  meta.config_yaml = run.config.to_yaml();
  meta.data_dir = fs::absolute(run.config.data.dir).lexically_normal().string();
  meta.data_fingerprint = fingerprint(run.data.ratings);
  meta.epoch = epoch;
  meta.step = steps;
  meta.monitor = run.config.effective_monitor();
  meta.metrics = metrics;
  return meta;
}

// A checkpoint at the end of `epoch`, with the optimizer and the resume state unless
// train.save_weights_only.
void save_ranking_checkpoint(const RankingFit& f, const std::string& path, int epoch,
                             const std::map<std::string, double>& metrics) {
  CheckpointMeta meta = ranking_meta(f.run, epoch, f.steps, metrics);
  meta.resume_state = ranking_resume_state(f);
  meta.member_configs = f.member_configs;
  const bool weights_only = f.run.config.train.save_weights_only;  // then no resume point
  save_checkpoint(path, meta, FeatureVocabs{}, *f.model,
                  weights_only ? nullptr : f.optimizer.get());
}

void write_history(const TrainRun& run, const std::vector<std::map<std::string, double>>& rows) {
  std::vector<std::string> columns = {"epoch", "train_loss"};
  for (const auto& [name, unused] : rows.front()) {
    if (name != "epoch" && name != "train_loss") columns.push_back(name);
  }
  std::string csv;
  for (size_t c = 0; c < columns.size(); ++c) csv += (c ? "," : "") + columns[c];
  csv += "\n";
  for (const auto& row : rows) {
    for (size_t c = 0; c < columns.size(); ++c) {
      const auto it = row.find(columns[c]);
      csv += (c ? "," : "") + (it == row.end() ? std::string() : fmt::format("{:.6g}", it->second));
    }
    csv += "\n";
  }
  atomic_write_file(run.result.run_dir + "/history.csv", csv);
}

// One epoch's row: train loss, val metrics, time; true when it is the best so far.
bool end_epoch(RankingFit& f, int epoch, double loss, double seconds, int64_t samples) {
  const Config& c = f.run.config;
  std::map<std::string, double> row;
  row["epoch"] = epoch;
  row["train_loss"] = loss;
  f.last_val = evaluate_model(f.model, f.data, "val", topk_of(c));
  for (const auto& [name, value] : f.last_val) row["val_" + name] = value;
  row["lr"] = f.model->trainable() ? f.lr : c.train.lr;
  row["seconds"] = seconds;
  row["samples_per_sec"] = seconds > 0 ? static_cast<double>(samples) / seconds : 0.0;
  f.history.push_back(row);
  const std::string monitor = c.effective_monitor();
  const double value = row.at(monitor);
  const bool maximize = c.effective_mode() == "max";
  const bool better = f.best_epoch == 0 || (maximize ? value > f.best + c.train.min_delta
                                                     : value < f.best - c.train.min_delta);
  spdlog::info("epoch {}/{}: loss {:.4f} {} {:.4f}{} ({:.1f}s, {:.0f} samples/s)", epoch,
               c.train.epochs, loss, monitor, value, better ? " (best)" : "", seconds,
               row["samples_per_sec"]);
  if (better) {
    f.best = value;
    f.best_epoch = epoch;
    f.best_val = f.last_val;
    if (f.model->trainable()) f.best_state = copy_state(*f.model);
  }
  f.schedule.end_epoch(value);  // before the checkpoints, whose resume state holds it
  if (f.run.lead) {
    write_history(f.run, f.history);
    save_ranking_checkpoint(f, f.run.result.run_dir + "/last.pt", epoch, row);
    if (better && c.train.save_best) {
      save_ranking_checkpoint(f, f.run.result.run_dir + "/best.pt", epoch, row);
    }
    // Periodic checkpoints of a trained ranker, named as the rating loop names them.
    const int every = c.train.checkpoint_every;
    if (f.model->trainable() && every > 0 && epoch % every == 0) {
      const std::string path = periodic_checkpoint_path(
          f.run.result.run_dir, c.train.checkpoint_name, row, epoch, f.steps, value);
      save_ranking_checkpoint(f, path, epoch, row);
    }
  }
  return better;
}

void fit_trained(RankingFit& f, const std::string& resume) {
  const TrainConfig& t = f.run.config.train;
  const InteractionIndex& index = f.data.index;
  for (int64_t u = 0; u < index.n_users(); ++u) {
    auto sorted = index.train[static_cast<size_t>(u)];
    for (int64_t item : sorted) {
      f.pair_user.push_back(u);
      f.pair_item.push_back(item);
    }
    std::sort(sorted.begin(), sorted.end());
    f.sorted_train.push_back(std::move(sorted));
  }
  f.rng = SplitMix64(static_cast<uint64_t>(t.seed) * 0x9E3779B97F4A7C15ull + 1);
  f.dropout_seed = SplitMix64(static_cast<uint64_t>(t.seed) * 0x9E3779B97F4A7C15ull + 2).next();
  f.optimizer = std::make_unique<ModelOptimizer>(t, *f.model);
  const int64_t examples = epoch_examples(f);
  f.schedule = LrSchedule(f.run.config, (examples + t.batch_size - 1) / t.batch_size);
  if (!resume.empty()) load_ranking_resume_point(f, resume);
  // Epochs since the best one: the patience count, which a resumed run takes up where it was.
  int wait = f.best_epoch > 0 ? static_cast<int>(f.history.size()) - f.best_epoch : 0;
  const bool stopped_before = t.patience > 0 && wait >= t.patience;
  for (int epoch = f.first_epoch; epoch <= t.epochs && !stopped_before; ++epoch) {
    const auto start = Clock::now();
    const double loss = train_epoch(f, epoch);
    if (interrupt_requested()) {
      throw Error("interrupted during epoch " + std::to_string(epoch) +
                      "; the last finished epoch is in " + f.run.result.run_dir +
                      "/last.pt (continue with --resume " + f.run.result.run_dir + ")",
                  kExitInterrupted);
    }
    const bool better = end_epoch(f, epoch, loss, seconds_since(start), examples);
    wait = better ? 0 : wait + 1;
    if (t.patience > 0 && wait >= t.patience) {
      spdlog::info("early stopping after epoch {}: no improvement of {} for {} epochs", epoch,
                   f.run.config.effective_monitor(), t.patience);
      break;
    }
  }
  if (t.restore_best && !f.best_state.empty()) restore_state(*f.model, f.best_state);
}

void fit_closed_form(RankingFit& f) {
  const auto start = Clock::now();
  f.model->fit(f.data);
  end_epoch(f, 1, 0.0, seconds_since(start), 0);
}

// --- a blend's members ------------------------------------------------------------------------

// Member i of a blend: a config file this run trains, or a trained checkpoint used as it is.
struct BlendMember {
  Config config;                      // the effective config once trained or loaded
  std::optional<Checkpoint> trained;  // read once; none until trained (and in a dry run)
};

bool is_config_file(const std::string& path) {
  const std::string ext = fs::path(path).extension().string();
  return ext == ".yaml" || ext == ".yml";
}

// "model.members: member 2 'PATH'" for a listed path; a checkpoint's resolved file unquoted.
std::string member_label(size_t i, const std::string& path, bool quoted = true) {
  return "model.members: member " + std::to_string(i + 1) + " " +
         (quoted ? "'" + path + "'" : path);
}

// What a member shares with its blend: the data section (which interactions, which split), the
// eval section (what a list leaves out) and the users' profile.
bool shared_with_blend(const std::string& key) {
  return key.rfind("data.", 0) == 0 || key.rfind("eval.", 0) == 0 ||
         key == "features.user_features";
}

// The shared keys a trained member must match: all but where and how its files were read (the
// ratings themselves are compared by fingerprint).
bool must_match_blend(const std::string& key) {
  return shared_with_blend(key) && key != "data.dir" && key != "data.cache" &&
         key != "data.on_bad_row";
}

// A member config file on top of the defaults, with the blend's shared keys, seed, threads and
// device, into <run>/members/<i>-<model>/.
Config member_config_file(const TrainRun& run, size_t i, const std::string& path) {
  const Config& blend = run.config;
  if (!fs::is_regular_file(path))
    throw ConfigError(member_label(i, path) + ": no such config file");
  Config c;
  c.merge_yaml_file(path);
  for (const FieldInfo& f : config_fields()) {
    if (shared_with_blend(f.key)) c.set(f.key, blend.get(f.key));
  }
  c.train.task = "ranking";
  c.train.seed = blend.train.seed;
  c.train.seeds = 1;
  c.train.threads = blend.train.threads;
  c.train.device = blend.train.device;
  c.output.plots = blend.output.plots;
  c.output.dir = run.result.run_dir + "/members/" + std::to_string(i) + "-" + c.model.name;
  try {
    c.validate();
  } catch (const ConfigError& e) {
    throw ConfigError(member_label(i, path) + ": " + e.what());
  }
  return c;
}

// Refuses a trained member unless it ranks the blend's interactions and split.
void check_member_checkpoint(const Config& blend, size_t i, const Checkpoint& ckpt) {
  const std::string what = member_label(i, ckpt.path, /*quoted=*/false);
  if (ckpt.config.train.task != "ranking") {
    throw ConfigError(what + ": a " + ckpt.config.train.task +
                      " model; a blend's members are ranking models");
  }
  std::vector<std::string> differ;
  for (const FieldInfo& f : config_fields()) {
    if (must_match_blend(f.key) && ckpt.config.get(f.key) != blend.get(f.key)) {
      differ.push_back(f.key + " " + ckpt.config.get(f.key) + " (blend: " + blend.get(f.key) + ")");
    }
  }
  if (!differ.empty()) {
    throw ConfigError(what +
                      ": trained on other data or split: " + config_value::join(differ, ", "));
  }
}

// The blend's members, the config files trained first (unless dry_run), each in its own run.
std::vector<BlendMember> prepare_blend_members(TrainRun& run, bool dry_run) {
  const Config& blend = run.config;
  std::vector<BlendMember> members(blend.model.members.size());
  for (size_t i = 0; i < members.size(); ++i) {
    const std::string& path = blend.model.members[i];
    BlendMember& m = members[i];
    if (is_config_file(path)) {
      m.config = member_config_file(run, i, path);
    } else {
      m.trained = load_checkpoint(single_checkpoint(path));
      check_member_checkpoint(blend, i, *m.trained);
      m.config = m.trained->config;
    }
    if (m.config.model.name == "blend") {
      throw ConfigError(member_label(i, path) + " is a blend itself; list its members instead");
    }
  }
  for (size_t i = 0; i < members.size() && !dry_run; ++i) {
    BlendMember& m = members[i];
    if (m.trained) continue;
    spdlog::info("blend member {} of {}: training {} ({}) in {}", i + 1, members.size(),
                 m.config.model.name, blend.model.members[i], m.config.output.dir);
    const TrainResult result = run_train(m.config, run.command_line);
    if (result.checkpoint.empty()) {
      throw ConfigError(member_label(i, blend.model.members[i]) +
                        " keeps no checkpoint of its weights (train.save_best false with " +
                        "restore_best): set save_best true");
    }
    m.trained = load_checkpoint(result.checkpoint);
    m.config = m.trained->config;
  }
  return members;
}

// Loads each trained member's weights into the blend; refuses members trained on other ratings.
void load_blend_members(RankingFit& f, const std::vector<BlendMember>& members) {
  const std::vector<Ranker> parts = blend_members(*f.model);
  const std::string print = fingerprint(f.run.data.ratings);
  for (size_t i = 0; i < members.size(); ++i) {
    const Checkpoint& ckpt = *members[i].trained;
    if (ckpt.meta.data_fingerprint != print) {
      throw ConfigError(member_label(i, ckpt.path, /*quoted=*/false) +
                        " was trained on other ratings (" + ckpt.meta.data_fingerprint +
                        "; this data: " + print + ")");
    }
    ckpt.load_model(*parts[i]);
    f.member_configs.push_back(members[i].config.to_yaml());
    spdlog::info("blend member {}: {} from {} (val {})", i + 1, members[i].config.model.name,
                 ckpt.path, ckpt.meta.best_value);
  }
}

}  // namespace

TrainResult train_ranking(TrainRun& run, bool dry_run, const std::string& resume) {
  const Config& config = run.config;
  if (run.group != nullptr) {
    throw ConfigError("the ranking task trains in one process: run it without dnnrec launch");
  }
  const bool blend = config.model.name == "blend";
  const auto members_start = Clock::now();
  const std::vector<BlendMember> members =
      blend ? prepare_blend_members(run, dry_run) : std::vector<BlendMember>{};
  const double members_seconds = seconds_since(members_start);
  const auto load_start = Clock::now();
  run.data = load_data(config);
  run.result.skipped_rows = run.data.report.skipped;
  RankingData data = prepare_ranking(config, run.data);
  run.result.load_seconds = seconds_since(load_start);
  std::vector<Config> member_configs;
  for (const auto& m : members) member_configs.push_back(m.config);
  RankingFit f(run, data, make_ranker(config, data, member_configs));
  if (blend && !dry_run) load_blend_members(f, members);
  for (const auto& p : f.model->parameters()) run.result.parameters += p.numel();
  for (const auto& b : f.model->buffers()) run.result.parameters += b.numel();
  run.result.model = config.model.name;
  spdlog::info("model {}: {} weights; loss {}", config.model.name, run.result.parameters,
               config.effective_loss());
  if (dry_run) {
    run.result.peak_rss_mib = peak_rss_mib();
    return run.result;
  }
  const auto train_start = Clock::now();
  if (f.model->trainable()) {
    fit_trained(f, resume);
  } else {
    fit_closed_form(f);  // its checkpoints hold no optimizer, so no resume point leads here
  }
  TrainResult& result = run.result;
  result.train_seconds = seconds_since(train_start) + members_seconds;  // a blend's members too
  result.epochs_run = static_cast<int>(f.history.size());
  result.best_epoch = f.best_epoch;
  result.seeds = {config.train.seed};
  double samples = 0, seconds = 0;
  for (const auto& row : f.history) {
    samples += row.at("samples_per_sec") * row.at("seconds");
    seconds += row.at("seconds");
  }
  result.train_samples_per_sec = seconds > 0 ? samples / seconds : 0.0;
  result.seconds_per_epoch = result.epochs_run > 0 ? seconds / result.epochs_run : 0.0;
  // The checkpoint whose weights give the test metrics, as for the rating task: last.pt without
  // restore_best, best.pt with it (none when best.pt is not kept).
  const bool best = config.train.restore_best;
  if (!best) {
    result.checkpoint = result.run_dir + "/last.pt";
  } else if (config.train.save_best) {
    result.checkpoint = result.run_dir + "/best.pt";
  }
  const std::vector<int> ks = topk_of(config);
  // The val metrics of the epoch whose weights the model ends with, measured at its end.
  result.val = config.train.restore_best && !f.best_val.empty() ? f.best_val : f.last_val;
  result.test = evaluate_model(f.model, data, "test", ks);
  std::string line;
  for (const auto& [name, value] : result.test) line += fmt::format(" {} {:.4f}", name, value);
  spdlog::info("test (weights of epoch {}):{}", best ? f.best_epoch : result.epochs_run, line);
  result.peak_rss_mib = peak_rss_mib();
  atomic_write_file(result.run_dir + "/metrics.json", result.to_json() + "\n");
  return result;
}

RestoredRanking restore_ranking(Checkpoint ckpt, const std::string& data_dir) {
  RestoredRanking r;
  r.ckpt = std::move(ckpt);
  const Config& config = r.ckpt.config;
  r.data = load_checkpoint_data(r.ckpt, data_dir);
  r.ranking = prepare_ranking(config, r.data);
  configure_threads(config.train.threads);
  keep_freed_memory();  // score blocks reuse their memory instead of faulting it in anew
  r.model = make_ranker(config, r.ranking, r.ckpt.members);
  r.ckpt.load_model(*r.model);
  r.model->eval();
  return r;
}

std::map<std::string, double> evaluate_restored(RestoredRanking& r, const std::string& part,
                                                int64_t* users) {
  if (part != "val" && part != "test") {
    throw ConfigError("--split: a ranking model is measured on val or test, got " + part);
  }
  if (users != nullptr) {
    const auto& held_out = part == "val" ? r.ranking.index.val : r.ranking.index.test;
    *users = std::count_if(held_out.begin(), held_out.end(),
                           [](const auto& list) { return !list.empty(); });
  }
  return evaluate_model(r.model, r.ranking, part, topk_of(r.ckpt.config));
}

void score_blocks(
    RestoredRanking& r, const std::vector<int64_t>& users, const std::string& part,
    const std::function<void(size_t, const std::vector<int64_t>&, const torch::Tensor&)>& fn) {
  torch::NoGradGuard no_grad;
  r.model->eval();
  r.model->freeze_items(true);
  // Blocks as evaluate_ranking's, so every user's scores come from the same products.
  const auto block_size = static_cast<size_t>(user_block_size(r.ranking.index.n_items()));
  for (size_t begin = 0; begin < users.size(); begin += block_size) {
    const size_t end = std::min(users.size(), begin + block_size);
    const std::vector<int64_t> block(users.begin() + begin, users.begin() + end);
    fn(begin, block,
       r.model->score(user_block(r.ranking, block, part, r.model->sequence_length()))
           .to(torch::kFloat)
           .contiguous());
  }
  r.model->freeze_items(false);
}

std::vector<std::vector<int64_t>> rank_users(RestoredRanking& r, const std::vector<int64_t>& users,
                                             int k, const std::string& candidates,
                                             std::vector<std::vector<float>>* scores_out) {
  if (candidates != "serve" && candidates != "test" && candidates != "val") {
    throw ConfigError("--candidates: serve, test or val, got " + candidates);
  }
  const InteractionIndex& index = r.ranking.index;
  std::vector<std::vector<int64_t>> lists;
  score_blocks(r, users, candidates,
               [&](size_t, const std::vector<int64_t>& block, const torch::Tensor& scores) {
                 auto block_lists = top_k_lists(index, scores, block, candidates, k);
                 for (size_t j = 0; j < block_lists.size(); ++j) {
                   if (scores_out != nullptr) {
                     const float* row =
                         scores.data_ptr<float>() + static_cast<int64_t>(j) * index.n_items();
                     std::vector<float> picked;
                     for (int64_t item : block_lists[j]) picked.push_back(row[item]);
                     scores_out->push_back(std::move(picked));
                   }
                   lists.push_back(std::move(block_lists[j]));
                 }
               });
  return lists;
}

}  // namespace dnnrec
