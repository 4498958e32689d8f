// The MovieLens schema: ratings, movies, tags and links read from a MovieLens folder through the
// CSV reader (csv_reader.h), each problem reported as "file:line: reason". load.h adds the binary
// cache; sample.h writes synthetic folders in the same layout.
#pragma once

#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

#include "data/csv_options.h"
#include "data/event_log.h"

namespace dnnrec {

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

/// One user of a release that describes its users (ml-100k's u.user, ml-1m's users.dat), or of
/// a log's user-feature file (data.format csv).
struct UserInfo {
  int64_t id = 0;
  std::string gender;      ///< "F" or "M"
  int age = 0;             ///< years (ml-100k), or the lower bound of ml-1m's age group
  std::string occupation;  ///< its name (ml-1m's codes are mapped to the names of its README)
  std::string zip;         ///< the zip code as written
  /// A log's user features as "column=value" tokens (one per value of a multi-valued column).
  std::vector<std::string> attributes;
};

/// A loaded MovieLens folder.
struct MovieLens {
  std::string dir;
  /// The layout it was read in: movielens-csv | ml-100k | ml-1m | ml-10m | csv.
  std::string format;
  Ratings ratings;
  std::vector<Movie> movies;                        ///< movies.csv order
  std::unordered_map<int64_t, size_t> movie_index;  ///< movieId -> position in movies
  std::vector<TagEvent> tags;                       ///< empty when tags.csv is absent
  std::vector<UserInfo> users;  ///< where the release describes its users, in file order
  std::unordered_map<int64_t, size_t> user_index;  ///< userId -> position in users
  /// A log without a rating column: every row is an interaction (rating 1), for the ranking
  /// task only.
  bool implicit = false;
  /// False for a log without a timestamp column (every timestamp 0): no temporal or leave-last
  /// split.
  bool timed = true;
  /// The text of every id that came from a string key (id_of_key), users and items alike.
  std::unordered_map<int64_t, std::string> names;
  LoadReport report;

  /// The movie with this id, or nullptr.
  const Movie* find_movie(int64_t id) const;
  /// The user with this id, or nullptr (always for a release without user descriptions).
  const UserInfo* find_user(int64_t id) const;
  /// An id as the user wrote it: its string key, or the number.
  std::string name_of(int64_t id) const;
};

/// Options of load_movielens.
struct LoadOptions {
  /// The folder's layout: auto (detected from its files) | movielens-csv (ml-latest, ml-20m,
  /// ml-25m, ml-32m) | ml-100k | ml-1m | ml-10m | csv (an interaction log read by `csv`).
  std::string format = "auto";
  CsvSchema csv;  ///< data.format csv: the log's files and columns
  BadRowPolicy on_bad_row = BadRowPolicy::kFail;
  float min_rating = 0.5f;
  float max_rating = 5.0f;
  /// Keep a binary copy of the loaded folder (data_cache.h) and load from it while the CSV files
  /// and the options above are unchanged; read by load_movielens (load.h) only.
  bool cache = false;
  /// Threads that parse ratings.csv and tags.csv, >= 0; 0: one per core. The result, errors
  /// included, does not depend on it.
  int threads = 0;
};

/// The genres field of a movie that has none.
inline constexpr char kNoGenres[] = "(no genres listed)";

/// The checks load_movielens makes before anything is read: throws ConfigError for an empty or
/// non-finite rating range, negative threads or an unknown format, and DataError naming
/// scripts/fetch-movielens.sh for a missing folder or a missing required file of its layout.
/// Returns the layout (options.format, or the one detected from the files for auto).
std::string check_movielens_folder(const std::string& dir, const LoadOptions& options);

/// Parses the files of a folder that check_movielens_folder accepted in `format`, ignoring
/// options.cache. movielens-csv: ratings.csv and movies.csv are required, tags.csv and links.csv
/// are optional (links.csv is only validated); the other layouts: movielens_formats.h. Throws
/// DataError "file:line: what is wrong" (the first problem in file order).
MovieLens parse_movielens_folder(const std::string& dir, const std::string& format,
                                 const LoadOptions& options);

/// The release year in a title such as "Toy Story (1995)" or "Babylon 5 (1994) ", else 0.
int parse_year(const std::string& title);

/// Trims ASCII whitespace and lower-cases ASCII letters.
std::string normalize_tag(const std::string& tag);

}  // namespace dnnrec
