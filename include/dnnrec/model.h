// dnnrec as a library: a trained checkpoint loaded once, then scored and asked for lists from
// C++, as `dnnrec predict` and `dnnrec recommend` do. Installed with `cmake --install` and found
// with find_package(dnnrec) (target dnnrec::dnnrec); see examples/cpp-consumer/.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "dnnrec/pipeline.h"

namespace dnnrec {

/// A checkpoint with the data it was trained on, ready to serve. Not thread-safe: one Model per
/// thread, or a lock around it. Logs go through spdlog's default logger; unless the program has
/// set one, load() sets one that writes warnings and errors to stderr.
class Model {
 public:
  /// Loads a checkpoint file, or a run directory's checkpoint (checkpoints_of), and rebuilds its
  /// features from the data: data_dir, or the folder stored in the checkpoint when empty.
  /// Throws CheckpointError (a missing, truncated or foreign file), DataError or ConfigError.
  static Model load(const std::string& path, const std::string& data_dir = "");

  Model(Model&&) noexcept;
  Model& operator=(Model&&) noexcept;
  ~Model();

  /// The model's name (model.name) and task (rating | binary | ranking).
  const std::string& name() const;
  const std::string& task() const;

  /// Scores (raw user id, raw movie id) pairs: for a rating or binary model exactly `dnnrec
  /// predict`'s predictions (the rating clipped to the scale, or the probability of "liked";
  /// unknown ids scored as unknown); for a ranking model the scores `recommend` ranks by (NaN
  /// for a user or item the model does not know). Throws ConfigError when the sizes differ.
  std::vector<float> predict(const std::vector<int64_t>& users, const std::vector<int64_t>& movies);

  /// `dnnrec recommend --user USER -k K`: the k best movies the user has not seen, best first.
  /// Throws DataError for a user the model cannot rank.
  std::vector<Recommendation> recommend(int64_t user, int k);

 private:
  struct State;
  explicit Model(std::unique_ptr<State> state);
  std::unique_ptr<State> state_;
};

}  // namespace dnnrec
