// What the CSV reader (csv_reader.h) does with a malformed row, the options it reads a file with,
// and the report of the rows it skipped. Kept apart from csv_reader.h so that the schemas built on
// it (movielens.h) do not pull the parser's templates into every file. Defined in csv_reader.cc.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace dnnrec {

/// What a malformed row does.
enum class BadRowPolicy { kFail, kSkip };

/// Parses "fail" | "skip"; throws ConfigError otherwise.
BadRowPolicy parse_bad_row_policy(const std::string& name);

/// Options of the CSV reader.
struct CsvOptions {
  BadRowPolicy on_bad_row = BadRowPolicy::kFail;
  /// Threads that parse one file (ParallelCsv), >= 0; 0: one per core, fewer for a small file.
  /// The result, errors included, does not depend on it.
  int threads = 0;
};

/// Appends a CSV field, quoted when it holds a comma, a quote, a line break or edge spaces.
void append_csv_field(std::string& out, std::string_view field);
/// The field as append_csv_field writes it.
std::string csv_field(std::string_view field);

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

}  // namespace dnnrec
