// The rows every MovieLens layout shares, checked the same way whatever the file looks like:
// movie ids against the movie file, ratings into the Ratings columns, tag events, timestamps,
// and one rating per (user, movie). Internal to the loaders (movielens.cc, movielens_formats.cc).
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "data/csv_reader.h"
#include "data/movielens.h"

namespace dnnrec {

// Membership of movieId in movies.csv on the hot path of ratings.csv: a byte per id when the
// ids are dense enough (MovieLens ids stay below 300k), the hash map otherwise.
class MovieIdSet {
 public:
  /// `file`: where the ids come from, for the messages of rows that name another id.
  explicit MovieIdSet(const MovieLens& ml, std::string file = "movies.csv")
      : index_(ml.movie_index), file_(std::move(file)) {
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
  const std::string& file() const { return file_; }

 private:
  const std::unordered_map<int64_t, size_t>& index_;
  std::string file_;
  std::vector<uint8_t> dense_;
};

inline std::string not_in_movies(int64_t movie, const std::string& movies_file) {
  return "movieId " + std::to_string(movie) + " is not in " + movies_file;
}

inline std::vector<std::string> split_genres(std::string_view text) {
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

inline std::string normalized_tag(std::string_view tag) {
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

inline bool timestamp_in_range(int64_t t) { return t >= 0 && t < kMaxTimestamp; }

inline std::string timestamp_message(int64_t t, const std::string& column = "timestamp") {
  return "column '" + column + "': " + std::to_string(t) + " is outside [0, " +
         std::to_string(kMaxTimestamp) + ") (1970 to 2100)";
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
      rules.bad_row(not_in_movies(movie, movies_.file()));
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
      rules.bad_row(not_in_movies(event.movie, movies_.file()));
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

/// The physical line of data row `row` (0-based; blank lines and, with `header`, the first line
/// not counted).
long line_of_row(const std::string& path, size_t row, bool header);

/// One rating per (user, movie): a second one is a DataError "name:line" (or, when skipping,
/// dropped, the first kept). `path` is read again only to name the lines.
void check_duplicates(const std::string& path, const std::string& name, bool header,
                      const LoadOptions& options, MovieLens* ml);

/// Throws DataError "name: no ratings ..." when the ratings file gave none: after skipping bad
/// rows (their count), or because it holds none (`when_empty` says how it looks then).
void check_some_ratings(const std::string& name, const MovieLens& ml, const char* when_empty);

}  // namespace dnnrec
