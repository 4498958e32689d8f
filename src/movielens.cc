// MovieLens folder loading through fast-cpp-csv-parser, with every problem reported as
// "file:line: reason", and a deterministic generator of synthetic folders in the same layout.
#include "dnnrec/movielens.h"

#include <libfccp/csv.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>
#include <numeric>
#include <string_view>
#include <system_error>
#include <utility>

#include "dnnrec/error.h"
#include "dnnrec/random.h"

namespace dnnrec {
namespace {

namespace fs = std::filesystem;

constexpr size_t kMaxExamples = 5;
constexpr const char* kFetchHint =
    "run scripts/fetch-movielens.sh, or pass --data DIR pointing at a MovieLens folder";
constexpr const char* kNoGenres = "(no genres listed)";

// ---------------------------------------------------------------------------------------------
// Reading

// fccp's too_few_columns / too_many_columns exceptions do not say how many columns the row has,
// and by the time they are thrown the line is already cut up. This quote policy delegates to
// io::double_quote_escape and counts the columns it chops, so the message can say "found 3".
struct ColumnTrace {
  int chopped = 0;
  const char* last_end = nullptr;
};
thread_local ColumnTrace t_trace;

struct TracingQuote {
  using Base = io::double_quote_escape<',', '"'>;
  static const char* find_next_column_end(const char* begin) {
    const char* end = Base::find_next_column_end(begin);
    ++t_trace.chopped;
    t_trace.last_end = end;
    return end;
  }
  static void unescape(char*& begin, char*& end) { Base::unescape(begin, end); }
};

// Columns in an untouched rest of a line; never throws, an open quote just runs to the end.
int count_columns(const char* s) {
  int n = 1;
  bool quoted = false;
  for (; *s != '\0'; ++s) {
    if (*s == '"') {
      quoted = !quoted;
    } else if (*s == ',' && !quoted) {
      ++n;
    }
  }
  return n;
}

// A field as it appears in a message: quoted, and cut short so a garbage line stays readable.
std::string shown(std::string_view value) {
  constexpr size_t kMaxShown = 40;
  if (value.size() > kMaxShown) return "\"" + std::string(value.substr(0, kMaxShown)) + "...\"";
  return "\"" + std::string(value) + "\"";
}

// "0.5", "5": bounds as a person would write them.
std::string format_number(double x) {
  char buffer[32];
  std::snprintf(buffer, sizeof(buffer), "%g", x);
  return buffer;
}

// Rows the file probably holds, from the line density of its first 64 KiB, so the big columns
// are reserved once instead of growing by doubling (twice the memory at the peak for 25M rows).
size_t estimate_rows(const std::string& path) {
  std::error_code ec;
  const auto size = fs::file_size(path, ec);
  if (ec || size == 0) return 0;
  FILE* file = std::fopen(path.c_str(), "rb");
  if (file == nullptr) return 0;
  std::array<char, 1 << 16> buffer;
  const size_t n = std::fread(buffer.data(), 1, buffer.size(), file);
  std::fclose(file);
  const auto lines = std::count(buffer.data(), buffer.data() + n, '\n');
  if (n == size) return static_cast<size_t>(lines) + 1;
  if (lines < 2) return 0;
  const double bytes_per_line = static_cast<double>(n) / static_cast<double>(lines);
  return static_cast<size_t>(static_cast<double>(size) / bytes_per_line * 1.02) + 16;
}

// One CSV file with a fixed header: yields rows as trimmed, unquoted fields and turns every
// problem into a DataError or, under BadRowPolicy::kSkip, into a LoadReport entry.
template <unsigned N>
class CsvFile {
 public:
  using Fields = std::array<char*, N>;

  CsvFile(const std::string& path, std::string name, const std::array<const char*, N>& columns,
          BadRowPolicy policy, LoadReport* report)
      : name_(std::move(name)), columns_(columns), policy_(policy), report_(report) {
    try {
      reader_ = std::make_unique<Reader>(path);
    } catch (const io::error::can_not_open_file& e) {
      throw DataError(name_, 0, "cannot open " + path + ": " + std::strerror(e.errno_value));
    }
    read_header(std::make_index_sequence<N>{});
  }

  /// Reads the next good row into `fields` (valid until the next call); false at the end.
  bool next(Fields& fields) { return next_row(fields, std::make_index_sequence<N>{}); }

  /// The physical line of the row last read (the header is line 1).
  long line() const { return static_cast<long>(reader_->get_file_line()); }

  /// Rejects the current row: throws under kFail, counts it under kSkip.
  void bad_row(const std::string& message) {
    if (policy_ == BadRowPolicy::kFail) throw DataError(name_, line(), message);
    report_->add(DataError::format(name_, line(), message));
  }

  /// A non-negative integer id; false (after bad_row) otherwise.
  bool id(const Fields& fields, size_t column, int64_t* out) {
    if (!integer(fields, column, out)) return false;
    if (*out < 0) {
      bad_row(column_prefix(column) + shown(fields[column]) + " is negative");
      return false;
    }
    return true;
  }

  /// Any integer; false (after bad_row) otherwise.
  bool integer(const Fields& fields, size_t column, int64_t* out) {
    const char* begin = fields[column];
    // Fast path for the usual plain digits (18 cannot overflow); the rest goes to from_chars.
    int64_t value = 0;
    const char* p = begin;
    while (*p >= '0' && *p <= '9' && p - begin < 18) value = value * 10 + (*p++ - '0');
    if (*p == '\0' && p != begin) {
      *out = value;
      return true;
    }
    const char* end = begin + std::strlen(begin);
    if (begin == end) {
      bad_row("column '" + std::string(columns_[column]) + "' is empty");
      return false;
    }
    const auto [ptr, ec] = std::from_chars(begin, end, *out);
    if (ec == std::errc::result_out_of_range) {
      bad_row(column_prefix(column) + shown(begin) + " is out of range");
      return false;
    }
    if (ec != std::errc() || ptr != end) {
      bad_row(column_prefix(column) + shown(begin) + " is not an integer");
      return false;
    }
    return true;
  }

  /// A finite number; false (after bad_row) otherwise.
  bool number(const Fields& fields, size_t column, double* out) {
    const char* begin = fields[column];
    const char* end = begin + std::strlen(begin);
    if (begin == end) {
      bad_row("column '" + std::string(columns_[column]) + "' is empty");
      return false;
    }
    const auto [ptr, ec] = std::from_chars(begin, end, *out);
    if (ec != std::errc() || ptr != end) {
      bad_row(column_prefix(column) + shown(begin) + " is not a number");
      return false;
    }
    if (!std::isfinite(*out)) {
      bad_row(column_prefix(column) + shown(begin) + " is not a finite number");
      return false;
    }
    return true;
  }

 private:
  // Blank lines are skipped (a trailing empty line is common in hand-edited files); they still
  // count in line numbers.
  using Reader = io::CSVReader<N, io::trim_chars<' ', '\t'>, TracingQuote, io::throw_on_overflow,
                               io::empty_line_comment>;

  std::string column_prefix(size_t column) const {
    return "column '" + std::string(columns_[column]) + "': ";
  }

  std::string header_text() const {
    std::string text;
    for (unsigned i = 0; i < N; ++i) text += (i ? "," : "") + std::string(columns_[i]);
    return text;
  }

  // A wrong header is fatal under either policy: there is no row to skip, and reading on would
  // misinterpret every row.
  [[noreturn]] void wrong_header(const std::string& detail) {
    throw DataError(name_, std::max(1L, line()),
                    "wrong header: expected " + header_text() + " (" + detail + ")");
  }

  template <size_t... I>
  void read_header(std::index_sequence<I...>) {
    try {
      reader_->read_header(io::ignore_no_column, columns_[I]...);
    } catch (const io::error::header_missing&) {
      throw DataError(name_, 0, "empty file (no header row)");
    } catch (const io::error::extra_column_in_header& e) {
      wrong_header(std::string("unexpected column \"") + e.column_name + "\"");
    } catch (const io::error::missing_column_in_header& e) {
      wrong_header(std::string("missing column \"") + e.column_name + "\"");
    } catch (const io::error::duplicated_column_in_header& e) {
      wrong_header(std::string("column \"") + e.column_name + "\" appears twice");
    } catch (const io::error::escaped_string_not_closed&) {
      wrong_header("unterminated quoted field");
    } catch (const io::error::line_length_limit_exceeded&) {
      throw DataError(name_, line(), "line longer than the 16 MiB limit");
    } catch (const io::error::base& e) {
      throw DataError(name_, line(), e.what());
    }
  }

  template <size_t... I>
  bool next_row(Fields& fields, std::index_sequence<I...>) {
    for (;;) {
      t_trace = ColumnTrace{};
      // Every exception below is thrown after the reader has consumed the line, so reading on
      // continues with the next line; the one exception is the over-long line.
      try {
        return reader_->read_row(fields[I]...);
      } catch (const io::error::too_few_columns&) {
        bad_row(column_count_message(t_trace.chopped));
      } catch (const io::error::too_many_columns&) {
        bad_row(column_count_message(static_cast<int>(N) + count_columns(t_trace.last_end + 1)));
      } catch (const io::error::escaped_string_not_closed&) {
        bad_row("unterminated quoted field");
      } catch (const io::error::line_length_limit_exceeded&) {
        // fccp does not advance past such a line, so skipping it would loop forever.
        throw DataError(name_, line(), "line longer than the 16 MiB limit");
      } catch (const io::error::base& e) {
        throw DataError(name_, line(), e.what());
      }
    }
  }

  std::string column_count_message(int found) const {
    return "expected " + std::to_string(N) + " columns (" + header_text() + "), found " +
           std::to_string(found);
  }

  std::string name_;
  std::array<const char*, N> columns_;
  BadRowPolicy policy_;
  LoadReport* report_;
  std::unique_ptr<Reader> reader_;
};

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
    Movie movie;
    movie.id = id;
    movie.title = f[1];
    movie.genres = split_genres(f[2]);
    movie.year = parse_year(movie.title);
    ml->movies.push_back(std::move(movie));
    lines.push_back(csv.line());
  }
}

void load_ratings(const std::string& path, const LoadOptions& options, const MovieIdSet& movies,
                  MovieLens* ml) {
  CsvFile<4> csv(path, "ratings.csv", {"userId", "movieId", "rating", "timestamp"},
                 options.on_bad_row, &ml->report);
  Ratings& r = ml->ratings;
  const size_t estimate = estimate_rows(path);
  r.user.reserve(estimate);
  r.movie.reserve(estimate);
  r.rating.reserve(estimate);
  r.timestamp.reserve(estimate);
  const double min_rating = options.min_rating;
  const double max_rating = options.max_rating;
  CsvFile<4>::Fields f;
  while (csv.next(f)) {
    int64_t user, movie, timestamp;
    double rating;
    if (!csv.id(f, 0, &user) || !csv.id(f, 1, &movie) || !csv.number(f, 2, &rating) ||
        !csv.integer(f, 3, &timestamp)) {
      continue;
    }
    if (rating < min_rating || rating > max_rating) {
      csv.bad_row("rating " + std::string(f[2]).substr(0, 40) + " outside [" +
                  format_number(min_rating) + ", " + format_number(max_rating) + "]");
      continue;
    }
    if (!movies.contains(movie)) {
      csv.bad_row(not_in_movies(movie));
      continue;
    }
    r.user.push_back(user);
    r.movie.push_back(movie);
    r.rating.push_back(static_cast<float>(rating));
    r.timestamp.push_back(timestamp);
  }
}

void load_tags(const std::string& path, const LoadOptions& options, const MovieIdSet& movies,
               MovieLens* ml) {
  CsvFile<4> csv(path, "tags.csv", {"userId", "movieId", "tag", "timestamp"}, options.on_bad_row,
                 &ml->report);
  ml->tags.reserve(estimate_rows(path));
  CsvFile<4>::Fields f;
  while (csv.next(f)) {
    TagEvent event;
    if (!csv.id(f, 0, &event.user) || !csv.id(f, 1, &event.movie) ||
        !csv.integer(f, 3, &event.timestamp)) {
      continue;
    }
    event.tag = normalize_tag(f[2]);
    if (event.tag.empty()) {
      csv.bad_row("column 'tag' is empty");
      continue;
    }
    if (!movies.contains(event.movie)) {
      csv.bad_row(not_in_movies(event.movie));
      continue;
    }
    ml->tags.push_back(std::move(event));
  }
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

// ---------------------------------------------------------------------------------------------
// Writing the synthetic folder. Integer arithmetic only, so that a seed gives the same bytes on
// every platform and compiler (no libm, no std:: distributions, no FMA contraction).

/// Draws rank k in [0, n) with probability proportional to 1 / (k + offset).
class Zipf {
 public:
  Zipf(size_t n, uint64_t offset) {
    cumulative_.reserve(n);
    uint64_t total = 0;
    for (size_t k = 0; k < n; ++k) {
      total += (uint64_t{1} << 32) / (k + offset);
      cumulative_.push_back(total);
    }
  }
  size_t sample(SplitMix64& rng) const {
    const uint64_t r = rng.below(cumulative_.back());
    return static_cast<size_t>(std::upper_bound(cumulative_.begin(), cumulative_.end(), r) -
                               cumulative_.begin());
  }
  uint64_t weight(size_t k) const { return cumulative_[k] - (k ? cumulative_[k - 1] : 0); }
  uint64_t total() const { return cumulative_.back(); }

 private:
  std::vector<uint64_t> cumulative_;
};

template <typename T>
void shuffle(std::vector<T>& items, SplitMix64& rng) {
  for (size_t i = items.size(); i > 1; --i) std::swap(items[i - 1], items[rng.below(i)]);
}

int64_t floor_div(int64_t a, int64_t b) { return a / b - ((a % b != 0) && ((a < 0) != (b < 0))); }

void append_field(std::string& out, std::string_view field) {
  const bool quote = field.find_first_of(",\"\n\r") != std::string_view::npos ||
                     (!field.empty() && (field.front() == ' ' || field.back() == ' '));
  if (!quote) {
    out += field;
    return;
  }
  out += '"';
  for (char c : field) {
    if (c == '"') out += '"';
    out += c;
  }
  out += '"';
}

void write_text(const fs::path& path, const std::string& text) {
  fs::path temp = path;
  temp += ".tmp";
  FILE* file = std::fopen(temp.c_str(), "wb");
  if (file == nullptr) {
    throw Error("cannot write " + temp.string() + ": " + std::strerror(errno));
  }
  bool ok = std::fwrite(text.data(), 1, text.size(), file) == text.size();
  const int write_errno = errno;
  ok = std::fclose(file) == 0 && ok;
  if (!ok) {
    std::error_code ignored;
    fs::remove(temp, ignored);
    throw Error("cannot write " + temp.string() + ": " + std::strerror(write_errno));
  }
  std::error_code ec;
  fs::rename(temp, path, ec);
  if (ec)
    throw Error("cannot rename " + temp.string() + " to " + path.string() + ": " + ec.message());
}

constexpr int kFactors = 4;
constexpr int64_t kFirstTime = 946684800;   // 2000-01-01
constexpr int64_t kLastStart = 1514764800;  // 2018-01-01: leaves room for a user's history
constexpr int64_t kLastTime = 1609459199;   // 2020-12-31

constexpr std::array<const char*, 19> kGenres = {
    "Action", "Adventure", "Animation", "Children", "Comedy",  "Crime",   "Documentary",
    "Drama",  "Fantasy",   "Film-Noir", "Horror",   "Musical", "Mystery", "Romance",
    "Sci-Fi", "Thriller",  "War",       "Western",  "IMAX"};
// The first genre of a movie comes from the group of its strongest latent factor, so genres
// carry some of the signal the ratings do.
constexpr std::array<std::array<int, 5>, kFactors> kGenreGroups = {{
    {0, 1, 14, 15, 16},  // Action Adventure Sci-Fi Thriller War
    {2, 3, 4, 11, 13},   // Animation Children Comedy Musical Romance
    {5, 6, 7, 9, 17},    // Crime Documentary Drama Film-Noir Western
    {8, 10, 12, 18, 7},  // Fantasy Horror Mystery IMAX Drama
}};

// Mixed case, surrounding spaces and a comma exercise normalize_tag and CSV quoting.
// clang-format off
constexpr std::array<const char*, 50> kTagWords = {
    "funny", "atmospheric", "Twist Ending", "sci-fi", " dark comedy ", "thought-provoking", "Funny",
    "visually appealing", "classic", "BORING", "quirky, dark", "based on a book", "action",
    "romance", "predictable", "cult film", "Great Soundtrack", "slow", "violent", "dialogue",
    "cinematography", "philosophical", "surreal", "feel-good", "nostalgic", "overrated",
    "underrated", "  Beautiful", "dystopia", "time travel", "space", "animation", "Pixar", "Disney",
    "superhero", "psychology", "Stylized", "dark", "heartwarming", "family", "war", "history",
    "true story", "musical", "zombies", "remake ", "Atmospheric", "twist ending", "Classic",
    "great soundtrack",
};
// clang-format on

// The hidden truth behind a synthetic folder; biases and factors in thousandths of a star.
struct SampleWorld {
  std::vector<int64_t> movie_id;  // increasing, with gaps as in MovieLens
  std::vector<std::array<int64_t, kFactors>> movie_factor;
  std::vector<int64_t> movie_bias;
  std::vector<std::array<int64_t, kFactors>> user_factor;
  std::vector<int64_t> user_bias;
};

struct SampleRating {
  int64_t user_id;
  int64_t movie_id;
  int half_stars;  // 1..10
  int64_t timestamp;
};

SampleWorld make_world(int64_t users, int64_t movies, SplitMix64& rng) {
  SampleWorld world;
  world.movie_id.resize(movies);
  world.movie_factor.resize(movies);
  world.movie_bias.resize(movies);
  for (int64_t m = 0, id = 0; m < movies; ++m) {
    id += 1 + (rng.below(4) == 0 ? static_cast<int64_t>(rng.below(5)) : 0);
    world.movie_id[m] = id;
    for (auto& q : world.movie_factor[m]) q = rng.between(-1000, 1000);
    world.movie_bias[m] = rng.between(-700, 700);
  }
  world.user_factor.resize(users);
  world.user_bias.resize(users);
  for (int64_t u = 0; u < users; ++u) {
    for (auto& p : world.user_factor[u]) p = rng.between(-1000, 1000);
    world.user_bias[u] = rng.between(-500, 500);
  }
  return world;
}

// Titles with a year, some "..., The (1997)" (quoted in the CSV), a few with quotes, a year
// range or no year; 1-3 genres, a few "(no genres listed)".
std::string movies_csv(const SampleWorld& world, SplitMix64& rng) {
  std::string text = "movieId,title,genres\n";
  text.reserve(world.movie_id.size() * 64);
  for (size_t m = 0; m < world.movie_id.size(); ++m) {
    const std::string number = std::to_string(world.movie_id[m]);
    const int64_t year = 2019 - std::min(rng.between(0, 99), rng.between(0, 99));
    const uint64_t kind = rng.below(100);
    std::string title;
    if (kind < 6) {
      title = "Synthetic Movie " + number + ", The (" + std::to_string(year) + ")";
    } else if (kind < 9) {
      title = "Synthetic Movie " + number;
    } else if (kind < 11) {
      title = "Synthetic Series " + number + " (" + std::to_string(year) + "-" +
              std::to_string(std::min<int64_t>(year + 1, 2020)) + ")";
    } else if (kind < 13) {
      title = "Synthetic \"Movie\" " + number + " (" + std::to_string(year) + ")";
    } else {
      title = "Synthetic Movie " + number + " (" + std::to_string(year) + ")";
    }
    std::string genres;
    if (rng.below(50) == 0) {
      genres = kNoGenres;
    } else {
      const auto& factor = world.movie_factor[m];
      const auto strongest = std::max_element(factor.begin(), factor.end()) - factor.begin();
      std::vector<int> picked = {kGenreGroups[strongest][rng.below(5)]};
      const uint64_t extra = rng.below(3);
      for (uint64_t i = 0; i < extra; ++i) {
        const int g = static_cast<int>(rng.below(kGenres.size()));
        if (std::find(picked.begin(), picked.end(), g) == picked.end()) picked.push_back(g);
      }
      for (size_t i = 0; i < picked.size(); ++i) {
        genres += (i ? "|" : "") + std::string(kGenres[picked[i]]);
      }
    }
    text += number;
    text += ',';
    append_field(text, title);
    text += ',';
    append_field(text, genres);
    text += '\n';
  }
  return text;
}

// Ratings per user: 5 each, the rest by a power law over a random ranking of users, at most
// one per movie; `total` ratings in all (5 * users <= total <= users * movies).
std::vector<int64_t> rating_counts(int64_t users, int64_t movies, int64_t total, SplitMix64& rng) {
  std::vector<int64_t> count(users, 5);
  std::vector<int64_t> by_activity(users);
  std::iota(by_activity.begin(), by_activity.end(), 0);
  shuffle(by_activity, rng);
  const Zipf activity(static_cast<size_t>(users), 10);
  const int64_t extra = total - 5 * users;
  // Weights are below 2^29 and extra below 2^30, so the product fits in 64 bits.
  int64_t left = extra;
  for (int64_t r = 0; r < users; ++r) {
    const int64_t u = by_activity[r];
    const int64_t share =
        static_cast<int64_t>(static_cast<uint64_t>(extra) * activity.weight(r) / activity.total());
    const int64_t add = std::min({share, movies - count[u], left});
    count[u] += add;
    left -= add;
  }
  // Rounding and the per-user cap leave some over: spread it in passes over users with room.
  while (left > 0) {
    int64_t with_room = 0;
    for (int64_t u = 0; u < users; ++u) with_room += count[u] < movies;
    const int64_t step = std::max<int64_t>(1, left / std::max<int64_t>(1, with_room));
    for (int64_t r = 0; r < users && left > 0; ++r) {
      const int64_t u = by_activity[r];
      const int64_t add = std::min({step, movies - count[u], left});
      count[u] += add;
      left -= add;
    }
  }
  return count;
}

// Each user's movies drawn by popularity (a power law over a random ranking of movies), rated
// from the latent factors plus noise, in sessions over the years; listed by user, then movie.
std::vector<SampleRating> sample_ratings(const SampleWorld& world,
                                         const std::vector<int64_t>& count, SplitMix64& rng) {
  const int64_t movies = static_cast<int64_t>(world.movie_id.size());
  std::vector<int64_t> by_popularity(movies);
  std::iota(by_popularity.begin(), by_popularity.end(), 0);
  shuffle(by_popularity, rng);
  const Zipf popularity(static_cast<size_t>(movies), 3);

  std::vector<SampleRating> rows;
  rows.reserve(static_cast<size_t>(std::accumulate(count.begin(), count.end(), int64_t{0})));
  std::vector<int64_t> taken(movies, -1);  // the last user who took each movie
  std::vector<int64_t> chosen;
  for (int64_t u = 0; u < static_cast<int64_t>(count.size()); ++u) {
    const size_t want = static_cast<size_t>(count[u]);
    chosen.clear();
    // A heavy user may exhaust the popular movies: after enough misses the rest is filled in
    // popularity order.
    for (size_t attempts = 0; chosen.size() < want && attempts < 30 * want + 100; ++attempts) {
      const int64_t m = by_popularity[popularity.sample(rng)];
      if (taken[m] == u) continue;
      taken[m] = u;
      chosen.push_back(m);
    }
    for (int64_t r = 0; r < movies && chosen.size() < want; ++r) {
      const int64_t m = by_popularity[r];
      if (taken[m] == u) continue;
      taken[m] = u;
      chosen.push_back(m);
    }
    // Chosen order is the user's chronological order: minutes apart, with pauses of days.
    int64_t t = rng.between(kFirstTime, kLastStart);
    const size_t first = rows.size();
    for (const int64_t m : chosen) {
      int64_t score = 3500 + world.user_bias[u] + world.movie_bias[m];
      for (int k = 0; k < kFactors; ++k) {
        score += world.user_factor[u][k] * world.movie_factor[m][k] / 1000;
      }
      for (int k = 0; k < 4; ++k) score += rng.between(-500, 500);  // roughly normal noise
      const int64_t half_stars = std::clamp<int64_t>(floor_div(score + 250, 500), 1, 10);
      rows.push_back({u + 1, world.movie_id[m], static_cast<int>(half_stars), t});
      t = std::min(kLastTime,
                   t + (rng.below(20) == 0 ? rng.between(3600, 30 * 86400) : rng.between(20, 600)));
    }
    std::sort(rows.begin() + static_cast<std::ptrdiff_t>(first), rows.end(),
              [](const SampleRating& a, const SampleRating& b) { return a.movie_id < b.movie_id; });
  }
  return rows;
}

std::string ratings_csv(const std::vector<SampleRating>& rows) {
  std::string text = "userId,movieId,rating,timestamp\n";
  text.reserve(rows.size() * 28);
  for (const SampleRating& r : rows) {
    text += std::to_string(r.user_id);
    text += ',';
    text += std::to_string(r.movie_id);
    text += ',';
    text += std::to_string(r.half_stars / 2);
    text += r.half_stars % 2 ? ".5," : ".0,";
    text += std::to_string(r.timestamp);
    text += '\n';
  }
  return text;
}

// Tags on rated movies, words by a power law; listed by user and movie like MovieLens.
std::string tags_csv(const std::vector<SampleRating>& rows, int64_t count, SplitMix64& rng) {
  std::string text = "userId,movieId,tag,timestamp\n";
  if (rows.empty()) return text;
  struct SampleTag {
    size_t rating;
    int64_t timestamp;
    size_t word;
  };
  const Zipf words(kTagWords.size(), 2);
  std::vector<SampleTag> tags(static_cast<size_t>(count));
  for (SampleTag& tag : tags) {
    tag.rating = static_cast<size_t>(rng.below(rows.size()));
    tag.timestamp = rows[tag.rating].timestamp + rng.between(0, 3600);
    tag.word = words.sample(rng);
  }
  std::sort(tags.begin(), tags.end(), [](const SampleTag& a, const SampleTag& b) {
    return a.rating != b.rating ? a.rating < b.rating : a.timestamp < b.timestamp;
  });
  text.reserve(tags.size() * 40);
  for (const SampleTag& tag : tags) {
    text += std::to_string(rows[tag.rating].user_id);
    text += ',';
    text += std::to_string(rows[tag.rating].movie_id);
    text += ',';
    append_field(text, kTagWords[tag.word]);
    text += ',';
    text += std::to_string(tag.timestamp);
    text += '\n';
  }
  return text;
}

// Seven-digit zero-padded imdbIds; tmdbId missing now and then, as in MovieLens.
std::string links_csv(const SampleWorld& world, SplitMix64& rng) {
  std::string text = "movieId,imdbId,tmdbId\n";
  for (size_t m = 0; m < world.movie_id.size(); ++m) {
    char imdb[24];
    std::snprintf(imdb, sizeof(imdb), "%07lld",
                  static_cast<long long>(100000 + m * 37 + rng.below(31)));
    text += std::to_string(world.movie_id[m]) + "," + imdb + ",";
    if (rng.below(40) != 0) text += std::to_string(1000 + m * 13 + rng.below(10));
    text += '\n';
  }
  return text;
}

}  // namespace

// ---------------------------------------------------------------------------------------------

BadRowPolicy parse_bad_row_policy(const std::string& name) {
  if (name == "fail") return BadRowPolicy::kFail;
  if (name == "skip") return BadRowPolicy::kSkip;
  throw ConfigError("unknown bad-row policy '" + name + "': allowed values are fail, skip");
}

void LoadReport::add(const std::string& message) {
  ++skipped;
  const std::string file = message.substr(0, message.find(':'));
  auto it = std::find_if(per_file.begin(), per_file.end(),
                         [&](const auto& entry) { return entry.first == file; });
  if (it == per_file.end()) {
    per_file.emplace_back(file, 1);
  } else {
    ++it->second;
  }
  if (examples.size() < kMaxExamples) examples.push_back(message);
}

std::string LoadReport::summary() const {
  if (skipped == 0) return "";
  std::string text;
  for (const auto& [file, count] : per_file) {
    if (!text.empty()) text += ", ";
    text += file + ": " + std::to_string(count) + (count == 1 ? " row" : " rows") + " skipped";
  }
  if (!examples.empty()) text += " (first: " + examples.front() + ")";
  return text;
}

const Movie* MovieLens::find_movie(int64_t id) const {
  const auto it = movie_index.find(id);
  return it == movie_index.end() ? nullptr : &movies[it->second];
}

MovieLens load_movielens(const std::string& dir, const LoadOptions& options) {
  if (!std::isfinite(options.min_rating) || !std::isfinite(options.max_rating) ||
      options.min_rating > options.max_rating) {
    throw ConfigError("rating range [" + format_number(options.min_rating) + ", " +
                      format_number(options.max_rating) + "] is empty or not finite");
  }
  const fs::path root(dir);
  std::error_code ec;
  if (!fs::is_directory(root, ec) || !fs::exists(root / "ratings.csv", ec)) {
    throw DataError("data folder '" + dir + "' not found (or has no ratings.csv): " + kFetchHint);
  }
  if (!fs::exists(root / "movies.csv", ec)) {
    throw DataError("data folder '" + dir + "' has no movies.csv: " + kFetchHint);
  }

  MovieLens ml;
  ml.dir = dir;
  load_movies((root / "movies.csv").string(), options, &ml);
  const MovieIdSet movies(ml);
  load_ratings((root / "ratings.csv").string(), options, movies, &ml);
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

std::string normalize_tag(const std::string& tag) {
  const auto is_space = [](char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
  };
  size_t begin = 0;
  size_t end = tag.size();
  while (begin < end && is_space(tag[begin])) ++begin;
  while (end > begin && is_space(tag[end - 1])) --end;
  std::string out = tag.substr(begin, end - begin);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

void write_sample_movielens(const std::string& dir, const SampleOptions& options) {
  const int64_t users = options.users;
  const int64_t movies = options.movies;
  // Bounds keep every product in 64 bits and every loop finite; each problem is reported.
  std::string problems;
  const auto check = [&](const char* what, int64_t value, int64_t lo, int64_t hi) {
    if (value < lo || value > hi) {
      problems += std::string(problems.empty() ? "" : "; ") + what + " must be in [" +
                  std::to_string(lo) + ", " + std::to_string(hi) + "], got " +
                  std::to_string(value);
    }
  };
  check("users", users, 1, 10'000'000);
  check("movies", movies, 5, 10'000'000);
  check("ratings", options.ratings, 0, 1'000'000'000);
  check("tags", options.tags, 0, 100'000'000);
  if (!problems.empty()) throw ConfigError("sample: " + problems);
  SplitMix64 rng(options.seed);
  const SampleWorld world = make_world(users, movies, rng);
  const std::string movies_text = movies_csv(world, rng);
  const int64_t total = std::clamp<int64_t>(options.ratings, 5 * users, users * movies);
  const std::vector<SampleRating> rows =
      sample_ratings(world, rating_counts(users, movies, total, rng), rng);
  const std::string tags_text = tags_csv(rows, options.tags, rng);
  const std::string links_text = links_csv(world, rng);

  const fs::path root(dir);
  std::error_code ec;
  fs::create_directories(root, ec);
  if (ec) throw Error("cannot create " + dir + ": " + ec.message());
  write_text(root / "movies.csv", movies_text);
  write_text(root / "ratings.csv", ratings_csv(rows));
  write_text(root / "tags.csv", tags_text);
  write_text(root / "links.csv", links_text);
}

}  // namespace dnnrec
