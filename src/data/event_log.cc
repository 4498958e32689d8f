// The generic interaction log (data.format csv): its schema, string ids, and a loader that
// checks every row as the MovieLens loaders do (file:line messages, skip mode).
#include "data/event_log.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <charconv>
#include <filesystem>
#include <numeric>
#include <unordered_map>
#include <utility>

#include "base/hash.h"
#include "data/csv_reader.h"
#include "data/movielens.h"
#include "data/movielens_rows.h"
#include "dnnrec/error.h"

namespace dnnrec {

namespace fs = std::filesystem;

std::string CsvSchema::fingerprint() const {
  std::string out = events + '\x1f' + std::string(1, delimiter) + '\x1f' + (header ? "1" : "0");
  for (const std::string* s :
       {&user, &item, &rating, &timestamp, &items, &item_key, &users, &user_key}) {
    out += '\x1f' + *s;
  }
  for (const auto* list : {&item_features, &user_features}) {
    out += '\x1e';
    for (const CsvFeatureColumn& c : *list) out += c.column + ':' + c.separator + '\x1f';
  }
  return out;
}

std::vector<std::string> CsvSchema::files() const {
  std::vector<std::string> out = {events};
  if (!items.empty()) out.push_back(items);
  if (!users.empty()) out.push_back(users);
  return out;
}

std::vector<CsvFeatureColumn> parse_feature_columns(const std::string& text,
                                                    const std::string& key) {
  std::vector<CsvFeatureColumn> out;
  if (text.empty()) return out;
  size_t at = 0;
  while (at <= text.size()) {
    const size_t comma = std::min(text.find(',', at), text.size());
    const std::string part = text.substr(at, comma - at);
    const size_t colon = part.find(':');
    CsvFeatureColumn column{part.substr(0, colon),
                            colon == std::string::npos ? "" : part.substr(colon + 1)};
    if (column.column.empty() || (colon != std::string::npos && column.separator.empty())) {
      throw ConfigError(key + ": '" + part +
                        "' is not COLUMN or COLUMN:SEPARATOR (e.g. \"category,tags:|\")");
    }
    out.push_back(std::move(column));
    at = comma + 1;
  }
  return out;
}

char parse_delimiter(const std::string& text) {
  if (text == "tab" || text == "\\t" || text == "\t") return '\t';
  if (text.size() == 1 && text[0] != '"' && text[0] != '\n' && text[0] != '\r') return text[0];
  throw ConfigError(
      "data.csv_delimiter: one character (other than a quote or a line break) or "
      "'tab', got '" +
      text + "'");
}

int64_t id_of_key(std::string_view key) {
  int64_t value = 0;
  const auto [end, ec] = std::from_chars(key.data(), key.data() + key.size(), value);
  if (ec == std::errc() && end == key.data() + key.size() && value >= 0 && !is_hashed_id(value) &&
      (key.size() == 1 || key[0] != '0')) {
    return value;
  }
  const uint64_t h = fnv1a(key.data(), key.size());
  return static_cast<int64_t>((h & ((uint64_t{1} << 62) - 1)) | (uint64_t{1} << 62));
}

bool split_delimited(std::string_view line, char delimiter, std::vector<std::string>* fields) {
  fields->clear();
  std::string field;
  bool quoted = false, was_quoted = false;
  for (size_t i = 0; i < line.size(); ++i) {
    const char c = line[i];
    if (quoted) {
      if (c != '"') {
        field += c;
      } else if (i + 1 < line.size() && line[i + 1] == '"') {
        field += '"';
        ++i;
      } else {
        quoted = false;
      }
    } else if (c == '"' && field.empty() && !was_quoted) {
      quoted = was_quoted = true;
    } else if (c == delimiter) {
      fields->push_back(std::move(field));
      field.clear();
      was_quoted = false;
    } else {
      field += c;
    }
  }
  if (quoted) return false;
  fields->push_back(std::move(field));
  return true;
}

namespace {

// One delimited file of the log: its header (or column numbers), and each row's fields checked
// for count, NUL bytes, quotes and UTF-8, with the file:line rules of the MovieLens loaders.
class LogFile {
 public:
  /// `file` (relative to `dir`) of the log options.csv describes; check_movielens_folder has
  /// checked that it exists.
  LogFile(const std::string& dir, const std::string& file, const LoadOptions& options,
          LoadReport* report)
      : path_((fs::path(dir) / file).string()),
        name_(fs::path(file).filename().string()),
        schema_(options.csv),
        options_(options),
        report_(report) {}

  const std::string& name() const { return name_; }

  /// The index of `column` (a header name, or a 1-based number without a header); `key` is the
  /// config key that named it.
  size_t column(const std::string& column, const std::string& key) const {
    if (schema_.header) {
      const auto it = std::find(names_.begin(), names_.end(), column);
      if (it != names_.end()) return static_cast<size_t>(it - names_.begin());
      std::string list;
      for (const std::string& n : names_) list += (list.empty() ? "" : ", ") + n;
      throw DataError(name_, 1, "no column '" + column + "' (" + key + "); the header has " + list);
    }
    size_t number = 0;
    const auto [end, ec] = std::from_chars(column.data(), column.data() + column.size(), number);
    if (ec != std::errc() || end != column.data() + column.size() || number == 0) {
      throw ConfigError(key + ": '" + column +
                        "' must be a column number from 1 (data.csv_header is false)");
    }
    if (number > names_.size()) {
      throw DataError(name_, 1,
                      key + ": column " + column + " but the first row has " +
                          std::to_string(names_.size()) + " fields");
    }
    return number - 1;
  }

  /// Reads the header (or the first row's width); then `read` calls on_row(rules, fields) for
  /// every good data row.
  void open() {
    file_ = std::make_unique<csv_detail::File>(path_, name_);
    bool first = true;
    csv_detail::for_each_line(*file_, 0, file_->size(), 1, [&](const csv_detail::Line& line) {
      std::string_view text(line.begin, static_cast<size_t>(line.end - line.begin));
      if (!text.empty() && text.back() == '\r') text.remove_suffix(1);
      if (text.empty()) return true;
      std::vector<std::string> fields;
      if (!split_delimited(text, schema_.delimiter, &fields)) {
        throw DataError(name_, line.number, "a quote is left open");
      }
      if (schema_.header) {
        for (std::string& f : fields) {
          while (!f.empty() && (f.back() == ' ' || f.back() == '\t')) f.pop_back();
          while (!f.empty() && (f.front() == ' ' || f.front() == '\t')) f.erase(0, 1);
        }
        if (!fields.empty() && fields[0].rfind("\xEF\xBB\xBF", 0) == 0) fields[0].erase(0, 3);
        names_ = std::move(fields);
        header_line_ = line.number;
      } else {
        names_.resize(fields.size());
        for (size_t i = 0; i < fields.size(); ++i) names_[i] = "column " + std::to_string(i + 1);
      }
      first = false;
      return false;
    });
    if (first) throw DataError(name_, 1, "the file is empty");
    c_names_.clear();
    for (const std::string& n : names_) c_names_.push_back(n.c_str());
  }

  template <typename OnRow>
  void read(OnRow&& on_row) {
    RowRules rules(name_, c_names_, options_.on_bad_row, report_);
    std::vector<std::string> fields;
    std::vector<char*> pointers;
    csv_detail::for_each_line(*file_, 0, file_->size(), 1, [&](const csv_detail::Line& line) {
      if (line.number <= header_line_) return true;
      std::string_view text(line.begin, static_cast<size_t>(line.end - line.begin));
      if (!text.empty() && text.back() == '\r') text.remove_suffix(1);
      rules.set_line(line.number);
      if (text.empty()) return true;
      if (text.find('\0') != std::string_view::npos) {
        rules.bad_row("NUL byte in the row");
        return true;
      }
      if (!split_delimited(text, schema_.delimiter, &fields)) {
        rules.bad_row("a quote is left open");
        return true;
      }
      if (fields.size() != names_.size()) {
        rules.bad_row("expected " + std::to_string(names_.size()) + " fields separated by '" +
                      std::string(1, schema_.delimiter) + "', got " +
                      std::to_string(fields.size()));
        return true;
      }
      for (size_t i = 0; i < fields.size(); ++i) {
        const size_t bad = invalid_utf8(fields[i]);
        if (bad != std::string_view::npos) {
          rules.bad_row(utf8_message(c_names_[i], fields[i], bad));
          return true;
        }
      }
      pointers.resize(fields.size());
      for (size_t i = 0; i < fields.size(); ++i) pointers[i] = fields[i].data();
      on_row(rules, pointers.data(), fields);
      return true;
    });
  }

 private:
  std::string path_, name_;
  const CsvSchema& schema_;
  const LoadOptions& options_;
  LoadReport* report_;
  std::unique_ptr<csv_detail::File> file_;
  std::vector<std::string> names_;
  std::vector<const char*> c_names_;
  long header_line_ = 0;
};

// A key field: its id, the text remembered for a string key; false (after bad_row) when empty.
bool key_of(RowRules& rules, const std::vector<std::string>& fields, size_t column,
            const char* name, MovieLens* ml, int64_t* id) {
  const std::string& key = fields[column];
  if (key.empty()) {
    rules.bad_row("column '" + std::string(name) + "' is empty");
    return false;
  }
  *id = id_of_key(key);
  if (is_hashed_id(*id)) {
    const auto [it, added] = ml->names.emplace(*id, key);
    if (!added && it->second != key) {
      rules.bad_row("ids '" + it->second + "' and '" + key + "' hash alike; rename one");
      return false;
    }
  }
  return true;
}

// The "column=value" tokens of a feature row.
struct FeatureReader {
  std::vector<std::pair<size_t, CsvFeatureColumn>> columns;

  FeatureReader(const LogFile& file, const std::vector<CsvFeatureColumn>& features,
                const std::string& key) {
    for (const CsvFeatureColumn& f : features) columns.emplace_back(file.column(f.column, key), f);
  }
  std::vector<std::string> tokens(const std::vector<std::string>& fields) const {
    std::vector<std::string> out;
    for (const auto& [index, c] : columns) {
      std::string_view value = fields[index];
      if (c.separator.empty()) {
        if (!value.empty()) out.push_back(c.column + "=" + std::string(value));
        continue;
      }
      while (true) {
        const size_t at = value.find(c.separator);
        const std::string_view part = value.substr(0, at);
        if (!part.empty()) out.push_back(c.column + "=" + std::string(part));
        if (at == std::string_view::npos) break;
        value.remove_prefix(at + c.separator.size());
      }
    }
    return out;
  }
};

// A feature file of the log (items or users): its key and feature columns.
struct FeatureFile {
  const std::string& file;
  const std::string& key;
  const std::vector<CsvFeatureColumn>& features;
  const char* kind;  ///< "item" | "user": the data.csv_<kind>_* keys that name the columns
};

// Calls add(id, key, tokens) for every row of a feature file whose key `index` does not hold
// yet; a repeated key is a bad row naming the file.
template <typename Add>
void read_feature_file(const std::string& dir, const FeatureFile& f, const LoadOptions& options,
                       const std::unordered_map<int64_t, size_t>& index, MovieLens* ml, Add&& add) {
  LogFile file(dir, f.file, options, &ml->report);
  file.open();
  const std::string keys = std::string("data.csv_") + f.kind;
  const size_t key = file.column(f.key, keys + "_key");
  const FeatureReader features(file, f.features, keys + "_features");
  file.read([&](RowRules& rules, char* const*, const std::vector<std::string>& fields) {
    int64_t id;
    if (!key_of(rules, fields, key, f.key.c_str(), ml, &id)) return;
    if (index.count(id)) {
      rules.bad_row(std::string(f.kind) + " '" + fields[key] + "' appears twice in " + file.name());
      return;
    }
    add(id, fields[key], features.tokens(fields));
  });
}

// Repeated (user, item) rows, usual in a log (a second click, a re-rating), become one: the
// latest (by time, then file order). Returns how many rows were merged away.
size_t merge_repeats(Ratings* r) {
  std::vector<size_t> order(r->size());
  std::iota(order.begin(), order.end(), size_t{0});
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    if (r->user[a] != r->user[b]) return r->user[a] < r->user[b];
    if (r->movie[a] != r->movie[b]) return r->movie[a] < r->movie[b];
    return r->timestamp[a] < r->timestamp[b];
  });
  std::vector<char> keep(r->size(), 1);
  size_t merged = 0;
  for (size_t k = 1; k < order.size(); ++k) {
    const size_t a = order[k - 1], b = order[k];
    if (r->user[a] == r->user[b] && r->movie[a] == r->movie[b]) {
      keep[a] = 0;
      ++merged;
    }
  }
  if (merged == 0) return 0;
  size_t out = 0;
  for (size_t i = 0; i < r->size(); ++i) {
    if (!keep[i]) continue;
    r->user[out] = r->user[i];
    r->movie[out] = r->movie[i];
    r->rating[out] = r->rating[i];
    r->timestamp[out] = r->timestamp[i];
    ++out;
  }
  r->user.resize(out);
  r->movie.resize(out);
  r->rating.resize(out);
  r->timestamp.resize(out);
  return merged;
}

}  // namespace

MovieLens load_event_log(const std::string& dir, const LoadOptions& options) {
  const CsvSchema& s = options.csv;
  MovieLens ml;
  ml.dir = dir;
  ml.format = "csv";
  ml.implicit = s.rating.empty();
  ml.timed = !s.timestamp.empty();
  if (!s.items.empty()) {
    read_feature_file(dir, {s.items, s.item_key, s.item_features, "item"}, options, ml.movie_index,
                      &ml,
                      [&](int64_t id, const std::string& key, std::vector<std::string> tokens) {
                        ml.movie_index.emplace(id, ml.movies.size());
                        ml.movies.push_back(Movie{id, key, std::move(tokens), 0});
                      });
  }
  LogFile events(dir, s.events, options, &ml.report);
  events.open();
  const size_t user = events.column(s.user, "data.csv_user");
  const size_t item = events.column(s.item, "data.csv_item");
  const size_t rating = ml.implicit ? 0 : events.column(s.rating, "data.csv_rating");
  const size_t time = ml.timed ? events.column(s.timestamp, "data.csv_timestamp") : 0;
  Ratings& r = ml.ratings;
  events.read([&](RowRules& rules, char* const* f, const std::vector<std::string>& fields) {
    int64_t u, i, t = 0;
    double value = 1.0;
    if (!key_of(rules, fields, user, s.user.c_str(), &ml, &u) ||
        !key_of(rules, fields, item, s.item.c_str(), &ml, &i)) {
      return;
    }
    if (!ml.implicit) {
      if (!rules.number(f, rating, &value)) return;
      if (value < options.min_rating || value > options.max_rating) {
        rules.bad_row("rating " + shown(fields[rating]) + " outside [" +
                      format_number(options.min_rating) + ", " + format_number(options.max_rating) +
                      "] (data.min_rating, data.max_rating)");
        return;
      }
    }
    if (ml.timed) {
      if (!rules.integer(f, time, &t)) return;
      if (!timestamp_in_range(t)) {
        rules.bad_row(timestamp_message(t, s.timestamp));
        return;
      }
    }
    r.user.push_back(u);
    r.movie.push_back(i);
    r.rating.push_back(static_cast<float>(value));
    r.timestamp.push_back(t);
  });
  check_some_ratings(events.name(), ml, "the file has no data row");
  const size_t merged = merge_repeats(&r);
  if (merged > 0) {
    spdlog::info("{}: {} repeated (user, item) rows merged into the latest one", events.name(),
                 merged);
  }
  // Every item of the log is in the catalogue; those the item file does not list have no
  // features.
  for (size_t k = 0; k < r.size(); ++k) {
    if (ml.movie_index.count(r.movie[k])) continue;
    ml.movie_index.emplace(r.movie[k], ml.movies.size());
    ml.movies.push_back(Movie{r.movie[k], ml.name_of(r.movie[k]), {}, 0});
  }
  if (!s.users.empty()) {
    read_feature_file(dir, {s.users, s.user_key, s.user_features, "user"}, options, ml.user_index,
                      &ml, [&](int64_t id, const std::string&, std::vector<std::string> tokens) {
                        UserInfo user;
                        user.id = id;
                        user.attributes = std::move(tokens);
                        ml.user_index.emplace(id, ml.users.size());
                        ml.users.push_back(std::move(user));
                      });
  }
  return ml;
}

}  // namespace dnnrec
