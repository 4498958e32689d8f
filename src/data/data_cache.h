// Binary cache of a loaded MovieLens folder: where it lives, when it is valid, and its layout.
// A second load of an unchanged folder reads one file instead of parsing the CSV files.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "data/movielens.h"

namespace dnnrec {

/// Version of the cache layout and of the loading rules whose result it holds; bump it on any
/// change to either, so that older caches are ignored.
constexpr uint32_t kMovieLensCacheVersion = 4;  // 3: layouts, user descriptions; 4: csv logs

/// The cache of one folder loaded with one set of LoadOptions.
///
/// It lives in `<dir>/.dnnrec-cache/movielens-v4-<layout>.bin` or, where that cannot be
/// written, in `$XDG_CACHE_HOME/dnnrec/` (else `~/.cache/dnnrec/`) as
/// `movielens-v4-<layout>-<hash of the folder's absolute path>.bin`. A csv log's layout name
/// carries a hash of its schema (data.csv_*), so each schema has its own cache. It is valid for the
/// same folder path and the same options that shape the result (on_bad_row, the rating range) while
/// every file of the layout keeps its size, mtime, ctime and inode, and its content too for a file
/// that had changed within `racy` of being stamped (a timestamp tick can hide a second change). A
/// checksum covers the whole file. A cache that fails any check is ignored and the next write
/// replaces it.
class MovieLensCache {
 public:
  /// Stamps the files of `dir` in `format`; do it before parsing them. Never throws: a folder that
  /// cannot be stamped is just not cached.
  MovieLensCache(const std::string& dir, const std::string& format, const LoadOptions& options,
                 std::chrono::nanoseconds racy = std::chrono::seconds(2));

  /// The cached folder (with `dir` as given here) when a cache matches the stamps; nullopt
  /// otherwise, with the reason logged at debug level.
  std::optional<MovieLens> read() const;

  /// Writes `ml`, the load of the stamped files, atomically (a temporary file renamed) to the
  /// first location that takes it. False when not written: a file changed since it was stamped,
  /// or no location is writable (a warning, once per process).
  bool write(const MovieLens& ml) const;

  /// The locations, in the order read and write try them; empty when the folder could not be
  /// stamped, one when neither XDG_CACHE_HOME nor HOME is set.
  const std::vector<std::string>& paths() const { return paths_; }

 private:
  struct Stamp {
    uint64_t present = 0;
    uint64_t size = 0;
    int64_t mtime_ns = 0;
    int64_t ctime_ns = 0;
    uint64_t inode = 0;
    uint64_t content = 0;  // a hash of the content of a file changed recently, else 0
  };

  std::optional<MovieLens> read_from(const std::string& path) const;
  bool write_any(const MovieLens& ml) const;
  bool write_to(const std::string& path, const std::string& header, uint64_t rest_size,
                const std::array<uint8_t, 8>& widths, const MovieLens& ml,
                std::string* failure) const;
  std::string header(uint64_t payload_size) const;

  std::string given_dir_;
  std::string dir_;  // absolute, symlinks resolved
  uint32_t policy_ = 0;
  float min_rating_ = 0;
  float max_rating_ = 0;
  std::string format_;                // the layout (movielens_formats.h)
  std::array<std::string, 4> names_;  // its files' names, "" for an unused slot
  std::array<std::string, 4> files_;
  std::array<Stamp, 4> stamps_;
  std::vector<std::string> paths_;
};

}  // namespace dnnrec
