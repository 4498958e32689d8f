// Tests of the MovieLens data cache: a hit gives exactly what a parse gives; edited files, other
// options and corrupted caches are never trusted; unwritable folders fall back or go uncached.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "data/data_cache.h"
#include "data/load.h"
#include "data/sample.h"
#include "dnnrec/error.h"
#include "movielens_testing.h"
#include "test_util.h"

using dnnrec::BadRowPolicy;
using dnnrec::LoadOptions;
using dnnrec::MovieLens;
using dnnrec::MovieLensCache;
using dnnrec::testing::expect_same_load;
using dnnrec::testing::read_file;
using dnnrec::testing::TempDir;
using dnnrec::testing::write_file;

namespace fs = std::filesystem;

namespace {

void append_file(const std::string& path, const std::string& text) {
  write_file(path, read_file(path) + text);
}

// A sample folder with a bad row in three files, so that the report has something to cache.
std::string make_folder(const TempDir& tmp) {
  const std::string dir = tmp.file("ml");
  dnnrec::SampleOptions sample;
  sample.ratings = 5000;
  sample.tags = 300;
  dnnrec::write_sample_movielens(dir, sample);
  append_file(dir + "/movies.csv", "x9,Bad Id (2001),Drama\n");
  append_file(dir + "/ratings.csv", "1,1,9.5,1\n");
  append_file(dir + "/tags.csv", "1,999999,nice,1\n");
  return dir;
}

LoadOptions skip(bool cache) {
  LoadOptions options;
  options.on_bad_row = BadRowPolicy::kSkip;
  options.cache = cache;
  return options;
}

MovieLens parse(const std::string& dir) { return dnnrec::load_movielens(dir, skip(false)); }

std::string in_folder_cache(const std::string& dir) {
  return dir + "/.dnnrec-cache/movielens-v4-movielens-csv.bin";
}

// Sets an environment variable for a scope.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const std::string& value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    ::setenv(name, value.c_str(), 1);
  }
  ~ScopedEnv() {
    if (old_) {
      ::setenv(name_, old_->c_str(), 1);
    } else {
      ::unsetenv(name_);
    }
  }

 private:
  const char* name_;
  std::optional<std::string> old_;
};

}  // namespace

TEST(DataCache, OffByDefault) {
  TempDir tmp;
  const std::string dir = make_folder(tmp);
  dnnrec::load_movielens(dir, skip(false));
  EXPECT_FALSE(fs::exists(dir + "/.dnnrec-cache"));
}

TEST(DataCache, HitGivesWhatAParseGives) {
  TempDir tmp;
  const std::string dir = make_folder(tmp);
  const MovieLens fresh = parse(dir);
  EXPECT_EQ(fresh.report.skipped, 3);

  expect_same_load(dnnrec::load_movielens(dir, skip(true)), fresh);  // a miss: parses and writes
  ASSERT_TRUE(fs::exists(in_folder_cache(dir)));
  EXPECT_EQ(MovieLensCache(dir, "movielens-csv", skip(true)).paths().front(),
            fs::weakly_canonical(in_folder_cache(dir)).string());

  const std::optional<MovieLens> hit = MovieLensCache(dir, "movielens-csv", skip(true)).read();
  ASSERT_TRUE(hit.has_value());
  expect_same_load(*hit, fresh);
  expect_same_load(dnnrec::load_movielens(dir, skip(true)), fresh);
  EXPECT_EQ(dnnrec::load_movielens(dir, skip(true)).report.summary(), fresh.report.summary());
}

// The folder path as given, not as cached; another spelling of the same folder hits.
TEST(DataCache, DirIsAsGiven) {
  TempDir tmp;
  const std::string dir = make_folder(tmp);
  dnnrec::load_movielens(dir, skip(true));
  const std::string other = tmp.path() + "/./ml/";
  ASSERT_TRUE(MovieLensCache(other, "movielens-csv", skip(true)).read().has_value());
  EXPECT_EQ(dnnrec::load_movielens(other, skip(true)).dir, other);
}

TEST(DataCache, EditedRatingsInvalidate) {
  TempDir tmp;
  const std::string dir = make_folder(tmp);
  const std::string ratings = dir + "/ratings.csv";
  dnnrec::load_movielens(dir, skip(true));
  ASSERT_TRUE(MovieLensCache(dir, "movielens-csv", skip(true)).read().has_value());

  // A new row: another size.
  const std::string movie = std::to_string(parse(dir).movies.front().id);
  append_file(ratings, "2," + movie + ",3.5,7\n");
  EXPECT_FALSE(MovieLensCache(dir, "movielens-csv", skip(true)).read().has_value());
  const MovieLens grown = dnnrec::load_movielens(dir, skip(true));
  expect_same_load(grown, parse(dir));
  EXPECT_EQ(grown.ratings.timestamp.back(), 7);
  ASSERT_TRUE(MovieLensCache(dir, "movielens-csv", skip(true)).read().has_value());  // rewritten

  // The same size and the old mtime put back: the change still shows (ctime, content).
  const auto mtime = fs::last_write_time(ratings);
  std::string text = read_file(ratings);
  text.replace(text.rfind(",3.5,7"), 6, ",4.5,7");
  write_file(ratings, text);
  fs::last_write_time(ratings, mtime);
  EXPECT_FALSE(MovieLensCache(dir, "movielens-csv", skip(true)).read().has_value());
  EXPECT_EQ(dnnrec::load_movielens(dir, skip(true)).ratings.rating.back(), 4.5f);
}

// Files changed long ago are known by their stamps alone; any stamp change is a miss.
TEST(DataCache, StampsOfOldFiles) {
  TempDir tmp;
  const std::string dir = make_folder(tmp);
  const std::chrono::nanoseconds no_racy_window(0);
  ASSERT_TRUE(MovieLensCache(dir, "movielens-csv", skip(true), no_racy_window).write(parse(dir)));
  ASSERT_TRUE(MovieLensCache(dir, "movielens-csv", skip(true), no_racy_window).read().has_value());
  // Without a content hash, only the stamps could tell: a touched mtime is a miss.
  fs::last_write_time(dir + "/links.csv",
                      fs::last_write_time(dir + "/links.csv") - std::chrono::hours(1));
  EXPECT_FALSE(MovieLensCache(dir, "movielens-csv", skip(true), no_racy_window).read().has_value());

  ASSERT_TRUE(MovieLensCache(dir, "movielens-csv", skip(true), no_racy_window).write(parse(dir)));
  fs::remove(dir + "/tags.csv");
  EXPECT_FALSE(MovieLensCache(dir, "movielens-csv", skip(true), no_racy_window).read().has_value());
  const MovieLens without_tags = dnnrec::load_movielens(dir, skip(true));
  EXPECT_TRUE(without_tags.tags.empty());
}

TEST(DataCache, OtherOptionsMiss) {
  TempDir tmp;
  const std::string dir = make_folder(tmp);
  dnnrec::load_movielens(dir, skip(true));
  // The thread count does not shape the result: a hit.
  LoadOptions threads = skip(true);
  threads.threads = 3;
  EXPECT_TRUE(MovieLensCache(dir, "movielens-csv", threads).read().has_value());

  LoadOptions fail = skip(true);
  fail.on_bad_row = BadRowPolicy::kFail;
  EXPECT_FALSE(MovieLensCache(dir, "movielens-csv", fail).read().has_value());
  // The cached rows skipped under kSkip are errors under kFail.
  EXPECT_THROW(dnnrec::load_movielens(dir, fail), dnnrec::DataError);
  LoadOptions range = skip(true);
  range.max_rating = 4.5f;
  EXPECT_FALSE(MovieLensCache(dir, "movielens-csv", range).read().has_value());
  EXPECT_LT(dnnrec::load_movielens(dir, range).ratings.size(), parse(dir).ratings.size());
  // One cache per folder: the last options' load replaced it.
  EXPECT_TRUE(MovieLensCache(dir, "movielens-csv", range).read().has_value());
  EXPECT_FALSE(MovieLensCache(dir, "movielens-csv", skip(true)).read().has_value());
}

TEST(DataCache, CorruptedCacheIsIgnoredAndRewritten) {
  TempDir tmp;
  const std::string dir = make_folder(tmp);
  const MovieLens fresh = parse(dir);
  dnnrec::load_movielens(dir, skip(true));
  const std::string path = in_folder_cache(dir);
  const std::string good = read_file(path);
  ASSERT_GT(good.size(), 100000u);

  std::vector<std::pair<std::string, std::string>> damaged;
  for (size_t at : {size_t{0}, size_t{12}, size_t{40}, size_t{300}, good.size() / 3,
                    good.size() - 2000, good.size() - 1}) {
    std::string flipped = good;
    flipped[at] = static_cast<char>(flipped[at] ^ 0x10);
    damaged.emplace_back("byte " + std::to_string(at) + " flipped", flipped);
  }
  for (size_t size : {size_t{0}, size_t{7}, size_t{240}, good.size() / 2, good.size() - 1}) {
    damaged.emplace_back("cut to " + std::to_string(size), good.substr(0, size));
  }
  damaged.emplace_back("overlong", good + "x");
  for (const auto& [what, bytes] : damaged) {
    SCOPED_TRACE(what);
    write_file(path, bytes);
    EXPECT_FALSE(MovieLensCache(dir, "movielens-csv", skip(true)).read().has_value());
    expect_same_load(dnnrec::load_movielens(dir, skip(true)), fresh);
    // Rewritten: a whole cache of the same data. Not necessarily good's bytes: a file that
    // changed within 2 s of a stamp has its content hash in the header, and under a slow
    // (sanitized) build the files can age past that between the two writes.
    EXPECT_NE(read_file(path), bytes);
    const std::optional<MovieLens> again = MovieLensCache(dir, "movielens-csv", skip(true)).read();
    ASSERT_TRUE(again.has_value());
    expect_same_load(*again, fresh);
  }
}

TEST(DataCache, FileChangedDuringTheLoadIsNotCached) {
  TempDir tmp;
  const std::string dir = make_folder(tmp);
  const MovieLensCache cache(dir, "movielens-csv", skip(true));
  const MovieLens ml = parse(dir);
  append_file(dir + "/tags.csv", "1,1,late,2\n");
  EXPECT_FALSE(cache.write(ml));
  EXPECT_FALSE(fs::exists(in_folder_cache(dir)));
}

// Where `<dir>/.dnnrec-cache` cannot be made (here a regular file is in the way, which holds
// for root too), the cache goes to $XDG_CACHE_HOME/dnnrec.
TEST(DataCache, FallsBackToTheUserCacheFolder) {
  TempDir tmp;
  TempDir user;
  const ScopedEnv xdg("XDG_CACHE_HOME", user.path());
  const std::string dir = make_folder(tmp);
  write_file(dir + "/.dnnrec-cache", "in the way");
  const MovieLens fresh = parse(dir);

  expect_same_load(dnnrec::load_movielens(dir, skip(true)), fresh);
  const MovieLensCache cache(dir, "movielens-csv", skip(true));
  ASSERT_EQ(cache.paths().size(), 2u);
  EXPECT_EQ(fs::path(cache.paths()[1]).parent_path(), fs::path(user.path()) / "dnnrec");
  EXPECT_EQ(fs::path(cache.paths()[1]).filename().string().rfind("movielens-v4-movielens-csv-", 0),
            0u);
  EXPECT_TRUE(fs::exists(cache.paths()[1]));
  ASSERT_TRUE(cache.read().has_value());
  expect_same_load(*cache.read(), fresh);

  // Another folder gets another file.
  TempDir tmp2;
  const std::string dir2 = make_folder(tmp2);
  EXPECT_NE(MovieLensCache(dir2, "movielens-csv", skip(true)).paths()[1], cache.paths()[1]);
}

// Nowhere to write: the load still succeeds, uncached (a warning, once).
TEST(DataCache, NowhereToWriteStillLoads) {
  TempDir tmp;
  const std::string dir = make_folder(tmp);
  write_file(dir + "/.dnnrec-cache", "in the way");
  const ScopedEnv xdg("XDG_CACHE_HOME", dir + "/.dnnrec-cache/under-a-file");
  const MovieLens fresh = parse(dir);
  for (int i = 0; i < 2; ++i) expect_same_load(dnnrec::load_movielens(dir, skip(true)), fresh);
  EXPECT_FALSE(MovieLensCache(dir, "movielens-csv", skip(true)).read().has_value());
}

// Ids beyond 32 bits and timestamps beyond int32 take the wide column layout.
TEST(DataCache, WideValuesRoundTrip) {
  TempDir tmp;
  const std::string dir = tmp.file("ml");
  fs::create_directories(dir);
  write_file(dir + "/movies.csv",
             "movieId,title,genres\n1,A (1999),Drama\n99999999999,B (2001),\n");
  write_file(dir + "/ratings.csv",
             "userId,movieId,rating,timestamp\n3000000000,1,4.5,5\n7,99999999999,3,4102444799\n"
             "8,1,2,1\n");
  const MovieLens fresh = parse(dir);
  ASSERT_EQ(fresh.ratings.size(), 3u);
  dnnrec::load_movielens(dir, skip(true));
  const std::optional<MovieLens> hit = MovieLensCache(dir, "movielens-csv", skip(true)).read();
  ASSERT_TRUE(hit.has_value());
  expect_same_load(*hit, fresh);
  EXPECT_EQ(hit->ratings.user[0], 3000000000);
  EXPECT_EQ(hit->ratings.movie[1], 99999999999);
  EXPECT_EQ(hit->ratings.timestamp[0], 5);
  EXPECT_EQ(hit->ratings.timestamp[1], 4102444799);  // the last valid second, beyond int32
}

TEST(DataCache, LoadErrorsAreNotCached) {
  TempDir tmp;
  const std::string dir = make_folder(tmp);
  LoadOptions fail = skip(true);
  fail.on_bad_row = BadRowPolicy::kFail;
  for (int i = 0; i < 2; ++i) EXPECT_THROW(dnnrec::load_movielens(dir, fail), dnnrec::DataError);
  EXPECT_FALSE(fs::exists(in_folder_cache(dir)));
}
