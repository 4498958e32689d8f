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

// Membership of movieId in movies.csv on the hot path of ratings.csv: a byte per id when the
// ids are dense enough (MovieLens ids stay below 300k), the hash map otherwise.
class MovieIdSet {
 public:
  explicit MovieIdSet(const MovieLens& ml) : index_(ml.movie_index) {
    constexpr int64_t kMaxDense = int64_t{1} << 24;
    int64_t max_id = -1;
    for (const Movie& movie : ml.movies) max_id = std::max(max_id, movie.id);
    if (max_id >= 0 && max_id < kMaxDense) {
      dense_.assign(static_cast<size_t>(max_id) + 1, 0);
      for (const Movie& movie : ml.movies) dense_[static_cast<size_t>(movie.id)] = 1;
    }
  }
  bool contains(int64_t id) const {
    if (!dense_.empty() || index_.empty()) {
      return id >= 0 && static_cast<size_t>(id) < dense_.size() && dense_[id] != 0;
    }
    return index_.count(id) != 0;
  }

 private:
  const std::unordered_map<int64_t, size_t>& index_;
  std::vector<uint8_t> dense_;
};

std::string not_in_movies(int64_t movie) {
  return "movieId " + std::to_string(movie) + " is not in movies.csv";
}

std::vector<std::string> split_genres(std::string_view text) {
  std::vector<std::string> genres;
  if (text == kNoGenres) return genres;
  while (!text.empty()) {
    const size_t bar = text.find('|');
    const std::string_view genre = text.substr(0, bar);
    if (!genre.empty()) genres.emplace_back(genre);
    if (bar == std::string_view::npos) break;
    text.remove_prefix(bar + 1);
  }
  return genres;
}

std::string normalized_tag(std::string_view tag) {
  const auto is_space = [](char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
  };
  while (!tag.empty() && is_space(tag.front())) tag.remove_prefix(1);
  while (!tag.empty() && is_space(tag.back())) tag.remove_suffix(1);
  std::string out(tag);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

// Timestamps are Unix seconds from 1970 up to 2100: anything else is a broken value, and one
// far outside would wreck a temporal split.
constexpr int64_t kMaxTimestamp = 4102444800;  // 2100-01-01

bool timestamp_in_range(int64_t t) { return t >= 0 && t < kMaxTimestamp; }

std::string timestamp_message(int64_t t) {
  return "column 'timestamp': " + std::to_string(t) + " is outside [0, " +
         std::to_string(kMaxTimestamp) + ") (1970 to 2100)";
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

// ratings.csv rows into the Ratings columns.
class RatingsSink {
 public:
  RatingsSink(Ratings* ratings, const MovieIdSet& movies, const LoadOptions& options)
      : r_(ratings), movies_(movies), min_(options.min_rating), max_(options.max_rating) {}

  void resize(size_t n) {
    r_->user.resize(n);
    r_->movie.resize(n);
    r_->rating.resize(n);
    r_->timestamp.resize(n);
  }

  // The usual good row, "123,456,4.5,1234567890": no quotes, blanks, signs or exponents, parsed
  // in place. Everything else, bad rows included, takes the general path, which writes the
  // messages.
  bool fast(const char* p, const char* end, size_t slot) {
    int64_t user, movie, timestamp;
    double rating;
    if (!plain_integer(p, end, &user) || !comma(p, end) || !plain_integer(p, end, &movie) ||
        !comma(p, end) || !plain_decimal(p, end, &rating) || !comma(p, end) ||
        !plain_integer(p, end, &timestamp)) {
      return false;
    }
    if (p != end && !(*p == '\r' && p + 1 == end)) return false;
    if (rating < min_ || rating > max_ || !movies_.contains(movie) ||
        !timestamp_in_range(timestamp)) {
      return false;
    }
    store(slot, user, movie, rating, timestamp);
    return true;
  }

  bool row(RowRules& rules, char* const* f, size_t slot) {
    int64_t user, movie, timestamp;
    double rating;
    if (!rules.id(f, 0, &user) || !rules.id(f, 1, &movie) || !rules.number(f, 2, &rating) ||
        !rules.integer(f, 3, &timestamp)) {
      return false;
    }
    if (rating < min_ || rating > max_) {
      rules.bad_row("rating " + std::string(f[2]).substr(0, 40) + " outside [" +
                    format_number(min_) + ", " + format_number(max_) + "]");
      return false;
    }
    if (!movies_.contains(movie)) {
      rules.bad_row(not_in_movies(movie));
      return false;
    }
    if (!timestamp_in_range(timestamp)) {
      rules.bad_row(timestamp_message(timestamp));
      return false;
    }
    store(slot, user, movie, rating, timestamp);
    return true;
  }

  void move(size_t from, size_t to, size_t count) {
    if (from == to || count == 0) return;
    move_column(r_->user, from, to, count);
    move_column(r_->movie, from, to, count);
    move_column(r_->rating, from, to, count);
    move_column(r_->timestamp, from, to, count);
  }

  void truncate(size_t n) {
    resize(n);
    // Many skipped rows leave much unused room; a few (blank lines, a bad row) are not worth
    // a copy.
    if (n + n / 16 < r_->user.capacity()) {
      r_->user.shrink_to_fit();
      r_->movie.shrink_to_fit();
      r_->rating.shrink_to_fit();
      r_->timestamp.shrink_to_fit();
    }
  }

 private:
  template <typename T>
  static void move_column(std::vector<T>& column, size_t from, size_t to, size_t count) {
    std::memmove(column.data() + to, column.data() + from, count * sizeof(T));
  }

  void store(size_t slot, int64_t user, int64_t movie, double rating, int64_t timestamp) {
    r_->user[slot] = user;
    r_->movie[slot] = movie;
    r_->rating[slot] = static_cast<float>(rating);
    r_->timestamp[slot] = timestamp;
  }

  Ratings* r_;
  const MovieIdSet& movies_;
  double min_;
  double max_;
};

// tags.csv rows into TagEvents.
class TagsSink {
 public:
  TagsSink(std::vector<TagEvent>* tags, const MovieIdSet& movies) : tags_(tags), movies_(movies) {}

  void resize(size_t n) { tags_->resize(n); }

  bool fast(const char*, const char*, size_t) { return false; }

  bool row(RowRules& rules, char* const* f, size_t slot) {
    TagEvent event;
    if (!rules.id(f, 0, &event.user) || !rules.id(f, 1, &event.movie) ||
        !rules.integer(f, 3, &event.timestamp)) {
      return false;
    }
    const size_t bad = invalid_utf8(f[2]);
    if (bad != std::string_view::npos) {
      rules.bad_row(utf8_message("tag", f[2], bad));
      return false;
    }
    if (!timestamp_in_range(event.timestamp)) {
      rules.bad_row(timestamp_message(event.timestamp));
      return false;
    }
    event.tag = normalized_tag(f[2]);
    if (event.tag.empty()) {
      rules.bad_row("column 'tag' is empty");
      return false;
    }
    if (!movies_.contains(event.movie)) {
      rules.bad_row(not_in_movies(event.movie));
      return false;
    }
    (*tags_)[slot] = std::move(event);
    return true;
  }

  void move(size_t from, size_t to, size_t count) {
    if (from == to || count == 0) return;
    const auto begin = tags_->begin();
    std::move(begin + static_cast<std::ptrdiff_t>(from),
              begin + static_cast<std::ptrdiff_t>(from + count),
              begin + static_cast<std::ptrdiff_t>(to));
  }

  void truncate(size_t n) {
    tags_->resize(n);
    if (n + n / 16 < tags_->capacity()) tags_->shrink_to_fit();
  }

 private:
  std::vector<TagEvent>* tags_;
  const MovieIdSet& movies_;
};

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
    if (!movies.contains(movie)) csv.bad_row(not_in_movies(movie));
  }
}

// The physical line of data row `row` (0-based, header and blank lines not counted).
long line_of_row(const std::string& path, size_t row) {
  std::ifstream in(path, std::ios::binary);
  std::string line;
  long number = 0;
  size_t seen = 0;
  std::getline(in, line);  // the header
  ++number;
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
void check_duplicates(const std::string& path, const LoadOptions& options, MovieLens* ml) {
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
      throw DataError(
          "ratings.csv", line_of_row(path, i),
          message + " (first on line " + std::to_string(line_of_row(path, it->second)) + ")");
    }
    ml->report.add(DataError::format("ratings.csv", 0, message + " (the first is kept)"));
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

}  // namespace

const Movie* MovieLens::find_movie(int64_t id) const {
  const auto it = movie_index.find(id);
  return it == movie_index.end() ? nullptr : &movies[it->second];
}

void check_movielens_folder(const std::string& dir, const LoadOptions& options) {
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
  if (!fs::is_directory(root, ec) || !fs::exists(root / "ratings.csv", ec)) {
    throw DataError("data folder '" + dir + "' not found (or has no ratings.csv): " + kFetchHint);
  }
  if (!fs::exists(root / "movies.csv", ec)) {
    throw DataError("data folder '" + dir + "' has no movies.csv: " + kFetchHint);
  }
}

MovieLens parse_movielens_folder(const std::string& dir, const LoadOptions& options) {
  const fs::path root(dir);
  std::error_code ec;
  MovieLens ml;
  ml.dir = dir;
  load_movies((root / "movies.csv").string(), options, &ml);
  const MovieIdSet movies(ml);
  load_ratings((root / "ratings.csv").string(), options, movies, &ml);
  check_duplicates((root / "ratings.csv").string(), options, &ml);
  if (ml.ratings.size() == 0) {
    throw DataError("ratings.csv", 0,
                    ml.report.skipped > 0 ? "no ratings left after skipping " +
                                                std::to_string(ml.report.skipped) + " bad rows"
                                          : "no ratings: the file has only its header row");
  }
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
