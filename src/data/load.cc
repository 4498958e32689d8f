// load_movielens: the checks, then the data cache or a parse of the CSV files.
#include "data/load.h"

#include <optional>
#include <utility>

#include "data/data_cache.h"

namespace dnnrec {

MovieLens load_movielens(const std::string& dir, const LoadOptions& options) {
  const std::string format = check_movielens_folder(dir, options);
  if (!options.cache) return parse_movielens_folder(dir, format, options);

  // The files' identity is taken before they are parsed, so that a change during the parse
  // leaves no cache behind that claims the new files.
  const MovieLensCache cache(dir, format, options);
  if (std::optional<MovieLens> cached = cache.read()) {
    cached->dir = dir;
    return std::move(*cached);
  }
  MovieLens ml = parse_movielens_folder(dir, format, options);
  cache.write(ml);
  return ml;
}

}  // namespace dnnrec
