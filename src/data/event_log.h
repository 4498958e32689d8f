// A generic interaction log (data.format csv): any delimited file of (user, item[, rating]
// [, timestamp]) rows, described by a schema in the config, with optional item- and
// user-feature files. Ids may be strings. It loads into the same MovieLens structure as the
// MovieLens layouts, so everything downstream is shared.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace dnnrec {

struct MovieLens;
struct LoadOptions;

/// A feature column of an item or user file: its name (or 1-based number without a header),
/// and the separator of a multi-valued column ("" for a single value).
struct CsvFeatureColumn {
  std::string column;
  std::string separator;
};

/// The schema of a log: the data.csv_* keys. Columns are named by their header, or by their
/// 1-based number when the files have none.
struct CsvSchema {
  std::string events = "events.csv";  ///< the log, relative to the data folder
  char delimiter = ',';
  bool header = true;
  std::string user = "user_id";
  std::string item = "item_id";
  std::string rating;     ///< "": implicit data (every row an interaction)
  std::string timestamp;  ///< "": untimed (no temporal or leave-last split)
  std::string items;      ///< item-feature file, "" for none
  std::string item_key = "item_id";
  std::vector<CsvFeatureColumn> item_features;
  std::string users;  ///< user-feature file, "" for none
  std::string user_key = "user_id";
  std::vector<CsvFeatureColumn> user_features;

  /// Everything above as one line: what the cache stamps.
  std::string fingerprint() const;
  /// The files it reads, events first.
  std::vector<std::string> files() const;
};

/// Parses "category,tags:|" into feature columns (a ':' ends the name and starts the
/// separator); throws ConfigError for an empty name or separator.
std::vector<CsvFeatureColumn> parse_feature_columns(const std::string& text,
                                                    const std::string& key);

/// Parses data.csv_delimiter: one character, or "tab" / "\t"; throws ConfigError.
char parse_delimiter(const std::string& text);

/// The id of a key of the log: a decimal integer below 2^62 is itself (so numeric logs keep
/// their ids), anything else a 64-bit hash of the text with bit 62 set, the same in every run and
/// on every machine. Never negative.
int64_t id_of_key(std::string_view key);
/// Whether `id` came from a string key (id_of_key's hash range).
inline bool is_hashed_id(int64_t id) { return id >= (int64_t{1} << 62); }

/// Reads the log of options.csv in `dir`: its events, then the item and user files. Rows are
/// checked as the MovieLens loaders check theirs (DataError "file:line: what is wrong", or
/// skipped under skip); repeated (user, item) rows are merged into the latest. Every item of
/// the log is a movie of the result (title: its key; genres: its feature tokens).
MovieLens load_event_log(const std::string& dir, const LoadOptions& options);

/// Splits one line at `delimiter`, honouring double quotes ("a,b" and "" inside quotes);
/// false for a quote left open.
bool split_delimited(std::string_view line, char delimiter, std::vector<std::string>* fields);

}  // namespace dnnrec
