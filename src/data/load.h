// Loading a MovieLens folder: from the binary cache (data_cache.h) when it matches, else by
// parsing the CSV files (movielens.h). The one place that knows both, so neither needs the other.
#pragma once

#include <string>

#include "data/movielens.h"

namespace dnnrec {

/// Loads a MovieLens folder. ratings.csv and movies.csv are required, tags.csv and links.csv
/// are optional (links.csv is only validated). Throws DataError "file:line: what is wrong"
/// (the first problem in file order); a missing folder or file names scripts/fetch-movielens.sh.
/// With options.cache, a matching cache is read instead of the CSV files, and written after a
/// parse.
MovieLens load_movielens(const std::string& dir, const LoadOptions& options = {});

}  // namespace dnnrec
