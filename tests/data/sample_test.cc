// Tests of the synthetic MovieLens generator: the same seed gives the same bytes, the folder
// loads cleanly, every user gets ratings, and the ratings carry a signal models can learn.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "data/load.h"
#include "data/movielens.h"
#include "data/sample.h"
#include "dnnrec/error.h"
#include "test_util.h"

using dnnrec::LoadOptions;
using dnnrec::MovieLens;
using dnnrec::testing::read_file;
using dnnrec::testing::TempDir;

TEST(SampleGenerator, SameSeedSameBytes) {
  TempDir a;
  TempDir b;
  TempDir c;
  dnnrec::write_sample_movielens(a.file("ml"));
  dnnrec::write_sample_movielens(b.file("ml"));
  dnnrec::SampleOptions other;
  other.seed = 8;
  dnnrec::write_sample_movielens(c.file("ml"), other);
  for (const char* name : {"ratings.csv", "movies.csv", "tags.csv", "links.csv"}) {
    const std::string first = read_file(a.file("ml/") + name);
    EXPECT_FALSE(first.empty()) << name;
    EXPECT_EQ(first, read_file(b.file("ml/") + name)) << name;
  }
  EXPECT_NE(read_file(a.file("ml/ratings.csv")), read_file(c.file("ml/ratings.csv")));
}

TEST(SampleGenerator, LoadsCleanly) {
  TempDir dir;
  const dnnrec::SampleOptions options;
  dnnrec::write_sample_movielens(dir.path(), options);
  const MovieLens ml = dnnrec::load_movielens(dir.path());
  EXPECT_EQ(ml.report.skipped, 0);
  EXPECT_EQ(static_cast<int64_t>(ml.ratings.size()), options.ratings);
  EXPECT_EQ(static_cast<int>(ml.movies.size()), options.movies);
  EXPECT_EQ(static_cast<int64_t>(ml.tags.size()), options.tags);

  std::map<int64_t, int> per_user;
  std::set<std::pair<int64_t, int64_t>> seen;
  for (size_t i = 0; i < ml.ratings.size(); ++i) {
    ++per_user[ml.ratings.user[i]];
    EXPECT_TRUE(seen.emplace(ml.ratings.user[i], ml.ratings.movie[i]).second)
        << "duplicate " << ml.ratings.user[i] << "," << ml.ratings.movie[i];
    const float r = ml.ratings.rating[i];
    EXPECT_TRUE(r >= 0.5f && r <= 5.0f && r * 2 == static_cast<float>(static_cast<int>(r * 2)));
    EXPECT_GE(ml.ratings.timestamp[i], 946684800);   // 2000-01-01
    EXPECT_LE(ml.ratings.timestamp[i], 1609459199);  // 2020-12-31
  }
  EXPECT_EQ(static_cast<int>(per_user.size()), options.users);
  for (const auto& [user, count] : per_user) EXPECT_GE(count, 5) << "user " << user;
  // Power-law activity: the busiest user rates far more than the least busy one.
  const auto [least, most] =
      std::minmax_element(per_user.begin(), per_user.end(),
                          [](const auto& a, const auto& b) { return a.second < b.second; });
  EXPECT_GT(most->second, 3 * least->second);

  // Titles needing quotes, titles without a year, movies without genres all occur.
  int with_comma = 0, without_year = 0, without_genres = 0;
  for (const dnnrec::Movie& movie : ml.movies) {
    with_comma += movie.title.find(',') != std::string::npos;
    without_year += movie.year == 0;
    without_genres += movie.genres.empty();
    EXPECT_LE(movie.genres.size(), 3u);
  }
  EXPECT_GT(with_comma, 0);
  EXPECT_GT(without_year, 0);
  EXPECT_GT(without_genres, 0);
  std::set<std::string> words;
  for (const dnnrec::TagEvent& tag : ml.tags) {
    words.insert(tag.tag);
    EXPECT_EQ(tag.tag, dnnrec::normalize_tag(tag.tag));
    EXPECT_TRUE(seen.count({tag.user, tag.movie})) << "tag on an unrated movie";
  }
  EXPECT_GT(words.size(), 20u);
  EXPECT_TRUE(words.count("quirky, dark"));
}

TEST(SampleGenerator, EveryUserGetsFiveEvenWhenFewRatingsAsked) {
  TempDir dir;
  dnnrec::SampleOptions options;
  options.users = 50;
  options.movies = 5;
  options.ratings = 10;
  options.tags = 0;
  dnnrec::write_sample_movielens(dir.file("deep/er"), options);
  const MovieLens ml = dnnrec::load_movielens(dir.file("deep/er"));
  EXPECT_EQ(ml.ratings.size(), 250u);  // each of the 50 users rates all 5 movies
  EXPECT_TRUE(ml.tags.empty());
  options.movies = 4;
  options.tags = -1;
  try {
    dnnrec::write_sample_movielens(dir.path(), options);
    FAIL() << "no ConfigError";
  } catch (const dnnrec::ConfigError& e) {
    EXPECT_STREQ(e.what(),
                 "sample: movies must be in [5, 10000000], got 4; tags must be in [0, 100000000], "
                 "got -1");
  }
}

// Ratings depend on user and movie: movie means spread far more than noise alone would give.
TEST(SampleGenerator, RatingsCarrySignal) {
  TempDir dir;
  dnnrec::write_sample_movielens(dir.path());
  const MovieLens ml = dnnrec::load_movielens(dir.path());
  std::map<int64_t, std::pair<double, int>> by_movie;
  for (size_t i = 0; i < ml.ratings.size(); ++i) {
    auto& [sum, n] = by_movie[ml.ratings.movie[i]];
    sum += ml.ratings.rating[i];
    ++n;
  }
  double lo = 5, hi = 0;
  for (const auto& [movie, sum_n] : by_movie) {
    if (sum_n.second < 50) continue;
    const double mean = sum_n.first / sum_n.second;
    lo = std::min(lo, mean);
    hi = std::max(hi, mean);
  }
  EXPECT_GT(hi - lo, 1.0);
}
