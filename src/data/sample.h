// A deterministic generator of synthetic MovieLens folders for tests and demos: power-law
// popularity and activity, genres and tags, and ratings from hidden latent factors.
#pragma once

#include <cstdint>
#include <string>

namespace dnnrec {

/// Options of the synthetic MovieLens generator.
struct SampleOptions {
  int users = 200;
  int movies = 300;
  int64_t ratings = 20000;
  int64_t tags = 1000;
  uint64_t seed = 7;
  /// The layout written: movielens-csv | ml-100k | ml-1m | ml-10m (movielens_formats.h) | csv.
  /// The same ratings in each (whole stars, rounded up, in ml-100k and ml-1m, which also describe
  /// their users: gender, age group, occupation and zip code, drawn so that they carry signal);
  /// csv: a shop's purchase log of the ratings of 3.5 or more, with string ids, item and user
  /// features (events.csv, items.csv, users.csv; configs/shop.yaml reads it).
  std::string format = "movielens-csv";
};

/// Writes ratings.csv, movies.csv, tags.csv and links.csv in MovieLens layout (or the files of
/// options.format) into `dir`
/// (created if needed): power-law popularity and activity, genres, tags, timestamps, and
/// ratings that depend on user and movie so that models can learn something.
void write_sample_movielens(const std::string& dir, const SampleOptions& options = {});

}  // namespace dnnrec
