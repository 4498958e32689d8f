// MovieLens-layout CSV loading (ratings, movies, tags, links) with file:line errors,
// and a generator of small synthetic folders in the same layout for tests and demos.
#pragma once

#include <cstdint>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

namespace dnnrec {

/// What a malformed row does.
enum class BadRowPolicy { kFail, kSkip };

/// Parses "fail" | "skip"; throws ConfigError otherwise.
BadRowPolicy parse_bad_row_policy(const std::string& name);

/// Ratings as columns, in file order.
struct Ratings {
  std::vector<int64_t> user;
  std::vector<int64_t> movie;
  std::vector<float> rating;
  std::vector<int64_t> timestamp;
  size_t size() const { return user.size(); }
};

/// One row of movies.csv.
struct Movie {
  int64_t id = 0;
  std::string title;
  std::vector<std::string> genres;  ///< empty for "(no genres listed)"
  int year = 0;                     ///< release year from the title, 0 when absent
};

/// One row of tags.csv.
struct TagEvent {
  int64_t user = 0;
  int64_t movie = 0;
  std::string tag;  ///< normalised: trimmed and lower-cased
  int64_t timestamp = 0;
};

/// Rows skipped under BadRowPolicy::kSkip.
struct LoadReport {
  int64_t skipped = 0;                ///< total skipped rows over all files
  std::vector<std::string> examples;  ///< the first few "file:line: reason" messages
  std::vector<std::pair<std::string, int64_t>> per_file;  ///< skipped rows per file name
  /// Per-file counts and the first message on one line, e.g.
  /// "ratings.csv: 3 rows skipped, tags.csv: 1 row skipped (first: ratings.csv:5: ...)";
  /// empty when none.
  std::string summary() const;
  /// Counts one skipped row; `message` is "file:line: reason" (the file name is counted).
  void add(const std::string& message);
};

/// A loaded MovieLens folder.
struct MovieLens {
  std::string dir;
  Ratings ratings;
  std::vector<Movie> movies;                        ///< movies.csv order
  std::unordered_map<int64_t, size_t> movie_index;  ///< movieId -> position in movies
  std::vector<TagEvent> tags;                       ///< empty when tags.csv is absent
  LoadReport report;

  /// The movie with this id, or nullptr.
  const Movie* find_movie(int64_t id) const;
};

/// Options of load_movielens.
struct LoadOptions {
  BadRowPolicy on_bad_row = BadRowPolicy::kFail;
  float min_rating = 0.5f;
  float max_rating = 5.0f;
  /// Keep a binary copy of the loaded folder (data_cache.h) and load from it while the CSV files
  /// and the options above are unchanged.
  bool cache = false;
  /// Threads that parse ratings.csv and tags.csv, >= 0; 0: one per core. The result, errors
  /// included, does not depend on it.
  int threads = 0;
};

/// Loads a MovieLens folder. ratings.csv and movies.csv are required, tags.csv and links.csv
/// are optional (links.csv is only validated). Throws DataError "file:line: what is wrong"
/// (the first problem in file order); a missing folder or file names scripts/fetch-movielens.sh.
MovieLens load_movielens(const std::string& dir, const LoadOptions& options = {});

/// The release year in a title such as "Toy Story (1995)" or "Babylon 5 (1994) ", else 0.
int parse_year(const std::string& title);

/// Trims ASCII whitespace and lower-cases ASCII letters.
std::string normalize_tag(const std::string& tag);

/// Options of the synthetic MovieLens generator.
struct SampleOptions {
  int users = 200;
  int movies = 300;
  int64_t ratings = 20000;
  int64_t tags = 1000;
  uint64_t seed = 7;
};

/// Writes ratings.csv, movies.csv, tags.csv and links.csv in MovieLens layout into `dir`
/// (created if needed): power-law popularity and activity, genres, tags, timestamps, and
/// ratings that depend on user and movie so that models can learn something.
void write_sample_movielens(const std::string& dir, const SampleOptions& options = {});

}  // namespace dnnrec
