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
};

/// Writes ratings.csv, movies.csv, tags.csv and links.csv in MovieLens layout into `dir`
/// (created if needed): power-law popularity and activity, genres, tags, timestamps, and
/// ratings that depend on user and movie so that models can learn something.
void write_sample_movielens(const std::string& dir, const SampleOptions& options = {});

}  // namespace dnnrec
