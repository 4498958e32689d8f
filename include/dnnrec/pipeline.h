// The whole job, end to end: load -> split -> features -> model -> fit -> test -> files.
// Each subcommand of the CLI is one call here.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "dnnrec/config.h"

namespace dnnrec {

class ProcessGroup;

/// What `dnnrec train` produced.
struct TrainResult {
  std::string run_dir;
  std::string model;
  std::string checkpoint;  ///< the checkpoint whose weights gave `test` (best.pt or last.pt)
  std::map<std::string, double> val;
  std::map<std::string, double> test;
  int best_epoch = 0;
  int epochs_run = 0;
  double train_samples_per_sec = 0.0;
  double load_seconds = 0.0;
  double train_seconds = 0.0;
  double seconds_per_epoch = 0.0;
  double peak_rss_mib = 0.0;
  std::string machine;  ///< machine_info().summary(): CPU, BLAS kernels, kernel paths
  int64_t parameters = 0;
  int64_t skipped_rows = 0;
  std::vector<int64_t> seeds;  ///< train.seed of each run
  /// With train.seeds > 1: val and test hold means over seeds, these the standard deviations
  /// (n - 1), and per_seed each run.
  std::map<std::string, double> val_std;
  std::map<std::string, double> test_std;
  std::vector<TrainResult> per_seed;
  /// Ranks that trained it (1: one process), and each rank's weights digest at the end of
  /// training (equal: the ranks held the same weights).
  int world_size = 1;
  std::vector<std::string> rank_weights_digests;
  /// The metrics.json document.
  std::string to_json() const;
};

/// Trains a model as configured and writes the run directory (config.yaml, command.txt,
/// history.csv, metrics.json, checkpoints/, best.pt, last.pt, train.log). dry_run stops
/// after loading, featurising and building the model (the result has load_seconds,
/// parameters and peak_rss_mib; the run directory only config.yaml, command.txt, train.log).
///
/// With a process group (data-parallel training, `dnnrec launch`), every rank calls it with
/// the same config; only rank 0 writes files and evaluates the test split, and only rank 0
/// resumes from `resume` (the others receive its state). The others return an empty result.
TrainResult run_train(const Config& config, const std::string& command_line, bool dry_run = false,
                      const std::string& resume = "", ProcessGroup* group = nullptr);

/// The checkpoint `--resume PATH` continues from: PATH itself when it is a file (throws
/// CheckpointError when it cannot be read); for a run directory the newest good resume point
/// (interrupted.pt, last.pt or checkpoints/*.pt, by step), skipping damaged or weights-only files
/// with a warning; "" when there is none.
std::string find_resume_checkpoint(const std::string& path);

/// What `dnnrec evaluate` measured.
struct EvalResult {
  std::string checkpoint;
  std::string split;
  int64_t examples = 0;
  std::map<std::string, double> metrics;
  std::string to_json() const;
};

/// Evaluates a checkpoint on a split of the data it was trained on (data_dir empty: the
/// folder stored in the checkpoint). Each row is scored as run_predict serves its (user,
/// movie) pair. With `predictions`, also writes userId,movieId,rating,prediction for every row
/// of the split, in split order; each prediction equals run_predict's for the pair, bit for bit.
EvalResult run_evaluate(const std::string& checkpoint, const std::string& data_dir,
                        const std::string& split, const std::string& predictions = "");

/// The checkpoints `path` stands for: a checkpoint file itself; a run directory's checkpoint
/// (the one its metrics.json names, else best.pt, else last.pt; each seed's with several
/// seeds); a sweep directory's finished trials' checkpoints in leaderboard order. Throws
/// CheckpointError for a directory with none.
std::vector<std::string> checkpoints_of(const std::string& path);

/// The one checkpoint `path` stands for (checkpoints_of); ConfigError when it holds several
/// (several seeds or a sweep).
std::string single_checkpoint(const std::string& path);

/// What `dnnrec predict` did.
struct PredictResult {
  int64_t rows = 0;
  int64_t unknown_users = 0;
  int64_t unknown_movies = 0;
};

/// `checkpoint` in run_predict, run_recommend*, and checkpoint_info_json: a checkpoint file, or
/// a run directory standing for one (single_checkpoint).
///
/// Scores (userId, movieId) pairs from a CSV with that header; writes
/// userId,movieId,prediction to `output` ("-" = stdout), each prediction with 9 significant
/// digits (reads back to the same float).
PredictResult run_predict(const std::string& checkpoint, const std::string& data_dir,
                          const std::string& input, const std::string& output);

/// One recommended movie.
struct Recommendation {
  int64_t movie = 0;
  std::string id;  ///< the movie's id as the data writes it (a csv log's string key)
  std::string title;
  std::string genres;      ///< "A|B|C"
  double score = 0.0;      ///< the model's raw output, which ranks the list (may exceed the scale)
  double predicted = 0.0;  ///< predicted rating clipped to the scale, or probability of "liked"
};

/// The top-k movies for a user, best first. A rating or binary model ranks the movies of
/// movies.csv the user has not rated; a ranking model every item of its catalogue the user has
/// no interaction with in any split (and, with eval.exclude rated, has not rated at all), with
/// the scores evaluation ranks by.
std::vector<Recommendation> run_recommend(const std::string& checkpoint,
                                          const std::string& data_dir, int64_t user, int k);

/// One user's list of run_recommend_users.
struct UserRecommendations {
  int64_t user = 0;
  std::string user_id;  ///< the user's id as the data writes it
  std::vector<Recommendation> items;
};

/// run_recommend for many users with one restore. `users` empty: every user the model can
/// rank (a ranking model's users, in its order; else every user with ratings, ascending).
/// Users it cannot rank are left out with a warning. For a ranking model, `candidates` "serve"
/// gives run_recommend's lists; "test" ranks exactly what test evaluation ranks (the test
/// split's items stay candidates, a sequential model's history ends with the validation
/// item): the lists the test metrics measured.
std::vector<UserRecommendations> run_recommend_users(const std::string& checkpoint,
                                                     const std::string& data_dir,
                                                     const std::vector<int64_t>& users, int k,
                                                     const std::string& candidates = "serve");

/// The userId column of a CSV file with a header (other columns ignored); DataError with
/// file:line for a bad id. With `keys` (a csv log's model), any text is an id (id_of_key).
std::vector<int64_t> read_user_ids(const std::string& path, bool keys = false);
/// run_recommend_users for the users of a userId file, read as the model's data writes ids.
std::vector<UserRecommendations> run_recommend_users_file(const std::string& checkpoint,
                                                          const std::string& data_dir,
                                                          const std::string& users_file, int k,
                                                          const std::string& candidates = "serve");

/// Lists as CSV: userId,rank,movieId,score (rank from 1; scores with 9 significant digits).
std::string recommendations_csv(const std::vector<UserRecommendations>& lists);

/// What `dnnrec export` wrote.
struct ExportResult {
  std::string format;  ///< torchscript | embeddings
  std::string model;
  std::string name;  ///< the Triton model name (folder under out_dir)
  std::string out_dir;
  std::vector<std::string> files;
  std::string to_json() const;
};

/// Exports a checkpoint, or a run directory's (single_checkpoint; data_dir empty: the folder
/// stored in it). format "torchscript":
/// out_dir/<name>/1/model.pt, a TorchScript module built in C++ whose forward(user_ids,
/// movie_ids) (int64 raw ids) returns what `dnnrec predict` returns for a rating or binary model
/// and the scores `recommend` ranks by for a ranking model, which also has recommend(user_id, k)
/// -> (movie ids, scores), `recommend`'s list; and out_dir/<name>/config.pbtxt for Triton's
/// pytorch_libtorch backend. name empty: "dnnrec-<model>". format "embeddings": users.npy,
/// items.npy (float32; a user's inner products rank the items as the model does), users.tsv and
/// items.tsv (row -> id) and embeddings.json, for the models of embedding_models().
ExportResult run_export(const std::string& checkpoint, const std::string& data_dir,
                        const std::string& format, const std::string& out_dir,
                        const std::string& name = "");

/// The models `export --format embeddings` takes: mf (rating and binary task) and the ranking
/// task's dot-product models.
const std::vector<std::string>& embedding_models();

/// A description of a checkpoint (format, config, vocabulary sizes, epoch, metrics) as JSON.
std::string checkpoint_info_json(const std::string& checkpoint);

}  // namespace dnnrec
