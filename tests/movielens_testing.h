// Comparing two loaded MovieLens folders field by field, for the loader and cache tests, and
// training a small model on a folder, for the layout tests.
#pragma once

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>

#include "data/movielens.h"
#include "test_util.h"

namespace dnnrec::testing {

/// The user descriptions of two loads.
inline void expect_same_users(const MovieLens& a, const MovieLens& b) {
  ASSERT_EQ(a.users.size(), b.users.size());
  for (size_t i = 0; i < a.users.size(); ++i) {
    EXPECT_EQ(a.users[i].id, b.users[i].id);
    EXPECT_EQ(a.users[i].gender, b.users[i].gender);
    EXPECT_EQ(a.users[i].age, b.users[i].age);
    EXPECT_EQ(a.users[i].occupation, b.users[i].occupation);
    EXPECT_EQ(a.users[i].zip, b.users[i].zip);
    EXPECT_EQ(a.users[i].attributes, b.users[i].attributes);
  }
  EXPECT_EQ(a.user_index, b.user_index);
}

/// The data of two loads, what every layout holds alike: ratings, movies (ids, titles, genres,
/// years) and tags.
inline void expect_same_data(const MovieLens& a, const MovieLens& b) {
  EXPECT_EQ(a.ratings.user, b.ratings.user);
  EXPECT_EQ(a.ratings.movie, b.ratings.movie);
  EXPECT_EQ(a.ratings.rating, b.ratings.rating);
  EXPECT_EQ(a.ratings.timestamp, b.ratings.timestamp);
  ASSERT_EQ(a.movies.size(), b.movies.size());
  for (size_t i = 0; i < a.movies.size(); ++i) {
    EXPECT_EQ(a.movies[i].id, b.movies[i].id);
    EXPECT_EQ(a.movies[i].title, b.movies[i].title);
    EXPECT_EQ(a.movies[i].genres, b.movies[i].genres) << a.movies[i].id;
    EXPECT_EQ(a.movies[i].year, b.movies[i].year) << a.movies[i].id;
  }
  ASSERT_EQ(a.tags.size(), b.tags.size());
  for (size_t i = 0; i < a.tags.size(); ++i) {
    EXPECT_EQ(a.tags[i].user, b.tags[i].user);
    EXPECT_EQ(a.tags[i].movie, b.tags[i].movie);
    EXPECT_EQ(a.tags[i].tag, b.tags[i].tag);
    EXPECT_EQ(a.tags[i].timestamp, b.tags[i].timestamp);
  }
}

/// Every field of two loads: the data, movie_index, users, the layout, a log's flags and id
/// names, the bad-row report and dir.
inline void expect_same_load(const MovieLens& a, const MovieLens& b) {
  EXPECT_EQ(a.dir, b.dir);
  expect_same_data(a, b);
  EXPECT_EQ(a.movie_index, b.movie_index);
  expect_same_users(a, b);
  EXPECT_EQ(a.format, b.format);
  EXPECT_EQ(a.implicit, b.implicit);
  EXPECT_EQ(a.timed, b.timed);
  EXPECT_EQ(a.names, b.names);
  EXPECT_EQ(a.report.skipped, b.report.skipped);
  EXPECT_EQ(a.report.examples, b.report.examples);
  EXPECT_EQ(a.report.per_file, b.report.per_file);
}

/// `dnnrec train ARGS` with a small, fast model (2 epochs, 16 hidden units, 8-dimensional
/// embeddings; ARGS come last, so they may override these), as its --json result; null after a
/// failed expectation when the run fails.
inline nlohmann::json train_small_json(const std::string& args) {
  const Shell run = shell(
      "train --epochs 2 --hidden 16 --embedding-dim 8 --threads 2 --batch-size 256"
      " --set output.plots=false -q --json " +
      args);
  EXPECT_EQ(run.code, 0) << run.err;
  return run.code == 0 ? nlohmann::json::parse(run.out) : nlohmann::json();
}

}  // namespace dnnrec::testing
