// The MovieLens schema on the CSV reader (csv_reader.h): movies.csv first, then ratings.csv and
// tags.csv on several threads checked against it, links.csv validated; duplicate ratings, ids,
// ranges, timestamps and UTF-8 checked, with every problem reported as "file:line: reason".
#include "data/movielens.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string_view>
#include <system_error>
#include <unordered_map>
#include <utility>

#include "data/csv_reader.h"
#include "data/movielens_formats.h"
#include "data/movielens_rows.h"
#include "dnnrec/error.h"

namespace dnnrec {
namespace {

namespace fs = std::filesystem;

constexpr const char* kFetchHint =
    "run scripts/fetch-movielens.sh, or pass --data DIR pointing at a MovieLens folder";

// The CSV reader's share of the load options.
CsvOptions csv_options(const LoadOptions& options) {
  return CsvOptions{options.on_bad_row, options.threads};
}

void load_movies(const std::string& path, const LoadOptions& options, MovieLens* ml) {
  CsvFile<3> csv(path, "movies.csv", {"movieId", "title", "genres"}, options.on_bad_row,
                 &ml->report);
  const size_t estimate = estimate_rows(path);
  ml->movies.reserve(estimate);
  ml->movie_index.reserve(estimate);
  std::vector<long> lines;  // of each kept movie, for the duplicate message
  lines.reserve(estimate);
  CsvFile<3>::Fields f;
  while (csv.next(f)) {
    int64_t id;
    if (!csv.id(f, 0, &id)) continue;
    const auto [it, inserted] = ml->movie_index.emplace(id, ml->movies.size());
    if (!inserted) {
      csv.bad_row("movieId " + std::to_string(id) + " appears twice in movies.csv (first on line " +
                  std::to_string(lines[it->second]) + ")");
      continue;
    }
    for (const auto& [column, value] :
         {std::pair<const char*, const char*>{"title", f[1]}, {"genres", f[2]}}) {
      const size_t bad = invalid_utf8(value);
      if (bad != std::string_view::npos) {
        csv.bad_row(utf8_message(column, value, bad));
        goto next_movie;
      }
    }
    {
      Movie movie;
      movie.id = id;
      movie.title = f[1];
      movie.genres = split_genres(f[2]);
      movie.year = parse_year(movie.title);
      ml->movies.push_back(std::move(movie));
      lines.push_back(csv.line());
    }
  next_movie:;
  }
}

void load_ratings(const std::string& path, const LoadOptions& options, const MovieIdSet& movies,
                  MovieLens* ml) {
  ParallelCsv<4> csv(path, "ratings.csv", {"userId", "movieId", "rating", "timestamp"},
                     csv_options(options), &ml->report);
  RatingsSink sink(&ml->ratings, movies, options);
  csv.parse(&sink);
}

void load_tags(const std::string& path, const LoadOptions& options, const MovieIdSet& movies,
               MovieLens* ml) {
  ParallelCsv<4> csv(path, "tags.csv", {"userId", "movieId", "tag", "timestamp"},
                     csv_options(options), &ml->report);
  TagsSink sink(&ml->tags, movies);
  csv.parse(&sink);
}

void check_links(const std::string& path, const LoadOptions& options, const MovieIdSet& movies,
                 MovieLens* ml) {
  CsvFile<3> csv(path, "links.csv", {"movieId", "imdbId", "tmdbId"}, options.on_bad_row,
                 &ml->report);
  CsvFile<3>::Fields f;
  while (csv.next(f)) {
    int64_t movie, imdb, tmdb;
    if (!csv.id(f, 0, &movie) || !csv.id(f, 1, &imdb)) continue;
    if (f[2][0] != '\0' && !csv.id(f, 2, &tmdb)) continue;  // tmdbId is often missing
    if (!movies.contains(movie)) csv.bad_row(not_in_movies(movie, movies.file()));
  }
}

}  // namespace

long line_of_row(const std::string& path, size_t row, bool header) {
  std::ifstream in(path, std::ios::binary);
  std::string line;
  long number = 0;
  size_t seen = 0;
  if (header) {
    std::getline(in, line);
    ++number;
  }
  while (std::getline(in, line)) {
    ++number;
    if (line.empty() || line == "\r") continue;
    if (seen++ == row) return number;
  }
  return 0;
}

// One rating per (user, movie): a second one is an error (or, when skipping, dropped, the
// first kept). Sorting packed keys finds out whether there is any at all cheaply; only then
// is the file order worked out.
void check_duplicates(const std::string& path, const std::string& name, bool header,
                      const LoadOptions& options, MovieLens* ml) {
  Ratings& r = ml->ratings;
  const size_t n = r.size();
  bool packable = true;
  for (size_t i = 0; i < n && packable; ++i) {
    packable = r.user[i] < (int64_t{1} << 32) && r.movie[i] < (int64_t{1} << 32);
  }
  auto key = [&](size_t i) {
    return (static_cast<uint64_t>(r.user[i]) << 32) | static_cast<uint64_t>(r.movie[i]);
  };
  if (packable) {
    std::vector<uint64_t> keys(n);
    for (size_t i = 0; i < n; ++i) keys[i] = key(i);
    std::sort(keys.begin(), keys.end());
    if (std::adjacent_find(keys.begin(), keys.end()) == keys.end()) return;
  }
  struct PairHash {
    size_t operator()(const std::pair<int64_t, int64_t>& p) const {
      return std::hash<int64_t>()(p.first) * 0x9E3779B97F4A7C15ULL ^ std::hash<int64_t>()(p.second);
    }
  };
  std::unordered_map<std::pair<int64_t, int64_t>, size_t, PairHash> first;
  first.reserve(n);
  std::vector<char> drop(n, 0);
  bool any = false;
  for (size_t i = 0; i < n; ++i) {
    const auto [it, inserted] = first.emplace(std::make_pair(r.user[i], r.movie[i]), i);
    if (inserted) continue;
    const std::string message = "duplicate rating of user " + std::to_string(r.user[i]) +
                                " for movie " + std::to_string(r.movie[i]);
    if (options.on_bad_row == BadRowPolicy::kFail) {
      throw DataError(name, line_of_row(path, i, header),
                      message + " (first on line " +
                          std::to_string(line_of_row(path, it->second, header)) + ")");
    }
    ml->report.add(DataError::format(name, 0, message + " (the first is kept)"));
    drop[i] = 1;
    any = true;
  }
  if (!any) return;
  size_t out = 0;
  for (size_t i = 0; i < n; ++i) {
    if (drop[i]) continue;
    r.user[out] = r.user[i];
    r.movie[out] = r.movie[i];
    r.rating[out] = r.rating[i];
    r.timestamp[out] = r.timestamp[i];
    ++out;
  }
  r.user.resize(out);
  r.movie.resize(out);
  r.rating.resize(out);
  r.timestamp.resize(out);
}

void check_some_ratings(const std::string& name, const MovieLens& ml, const char* when_empty) {
  if (ml.ratings.size() > 0) return;
  throw DataError(name, 0,
                  ml.report.skipped > 0 ? "no ratings left after skipping " +
                                              std::to_string(ml.report.skipped) + " bad rows"
                                        : std::string("no ratings: ") + when_empty);
}

const Movie* MovieLens::find_movie(int64_t id) const {
  const auto it = movie_index.find(id);
  return it == movie_index.end() ? nullptr : &movies[it->second];
}

const UserInfo* MovieLens::find_user(int64_t id) const {
  const auto it = user_index.find(id);
  return it == user_index.end() ? nullptr : &users[it->second];
}

std::string MovieLens::name_of(int64_t id) const {
  const auto it = names.find(id);
  return it == names.end() ? std::to_string(id) : it->second;
}

std::string check_movielens_folder(const std::string& dir, const LoadOptions& options) {
  if (!std::isfinite(options.min_rating) || !std::isfinite(options.max_rating) ||
      options.min_rating > options.max_rating) {
    throw ConfigError("rating range [" + format_number(options.min_rating) + ", " +
                      format_number(options.max_rating) + "] is empty or not finite");
  }
  if (options.threads < 0) {
    throw ConfigError("threads must be >= 0 (0: one per core), got " +
                      std::to_string(options.threads));
  }
  const fs::path root(dir);
  std::error_code ec;
  if (!fs::is_directory(root, ec)) {
    throw DataError("data folder '" + dir + "' not found: " + kFetchHint);
  }
  std::string format = options.format;
  if (format == "auto") {
    format = detect_movielens_format(dir);
    if (format.empty()) {
      throw DataError("data folder '" + dir +
                      "' holds no MovieLens ratings: none of ratings.csv (ml-latest, ml-20m, "
                      "ml-25m, ml-32m), u.data (ml-100k) or ratings.dat (ml-1m, ml-10m); " +
                      kFetchHint);
    }
  }
  for (const std::string& file : movielens_format_files(format, options).required) {
    if (!fs::exists(root / file, ec)) {
      throw DataError("data folder '" + dir + "' has no " + file + " (data.format " + format +
                      (format == "csv" ? ": data.csv_events, data.csv_items, data.csv_users)"
                                       : "): " + std::string(kFetchHint)));
    }
  }
  return format;
}

MovieLens parse_movielens_folder(const std::string& dir, const std::string& format,
                                 const LoadOptions& options) {
  if (format == "csv") return load_event_log(dir, options);
  if (format != "movielens-csv") return parse_legacy_movielens(dir, format, options);
  const fs::path root(dir);
  std::error_code ec;
  MovieLens ml;
  ml.dir = dir;
  ml.format = format;
  load_movies((root / "movies.csv").string(), options, &ml);
  const MovieIdSet movies(ml);
  load_ratings((root / "ratings.csv").string(), options, movies, &ml);
  check_duplicates((root / "ratings.csv").string(), "ratings.csv", true, options, &ml);
  check_some_ratings("ratings.csv", ml, "the file has only its header row");
  if (fs::exists(root / "tags.csv", ec)) {
    load_tags((root / "tags.csv").string(), options, movies, &ml);
  }
  if (fs::exists(root / "links.csv", ec)) {
    check_links((root / "links.csv").string(), options, movies, &ml);
  }
  return ml;
}

int parse_year(const std::string& title) {
  size_t end = title.size();
  while (end > 0 && (title[end - 1] == ' ' || title[end - 1] == '\t' || title[end - 1] == '\r' ||
                     title[end - 1] == '\n')) {
    --end;
  }
  if (end == 0 || title[end - 1] != ')') return 0;
  const size_t open = title.rfind('(', end - 1);
  if (open == std::string::npos) return 0;
  // Between the parentheses: "YYYY", or a range "YYYY-YYYY" / "YYYY-" whose start counts.
  const std::string_view inside(title.data() + open + 1, end - 1 - (open + 1));
  const auto is_year = [](std::string_view s) {
    return s.size() == 4 &&
           std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
  };
  if (inside.size() < 4 || !is_year(inside.substr(0, 4))) return 0;
  std::string_view rest = inside.substr(4);
  if (!rest.empty()) {
    // MovieLens writes ranges with '-' and, in a few titles, with an en dash (UTF-8 E2 80 93).
    const std::string_view en_dash = "\xE2\x80\x93";
    if (rest[0] == '-') {
      rest.remove_prefix(1);
    } else if (rest.substr(0, en_dash.size()) == en_dash) {
      rest.remove_prefix(en_dash.size());
    } else {
      return 0;
    }
    if (!rest.empty() && !is_year(rest)) return 0;
  }
  const int year = (inside[0] - '0') * 1000 + (inside[1] - '0') * 100 + (inside[2] - '0') * 10 +
                   (inside[3] - '0');
  return year >= 1800 && year <= 2100 ? year : 0;
}

std::string normalize_tag(const std::string& tag) { return normalized_tag(tag); }

}  // namespace dnnrec
