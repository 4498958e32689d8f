// Tests of MovieLens loading (values, bad-row policies, file:line messages, CRLF, BOM, the same
// result on any number of threads) and of parse_year / normalize_tag.
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
#include "data/sample.h"
#include "dnnrec/error.h"
#include "movielens_testing.h"
#include "test_util.h"

using dnnrec::BadRowPolicy;
using dnnrec::DataError;
using dnnrec::LoadOptions;
using dnnrec::MovieLens;
using dnnrec::testing::expect_same_load;
using dnnrec::testing::read_file;
using dnnrec::testing::TempDir;
using dnnrec::testing::write_file;

namespace {

const char* const kMovies =
    "movieId,title,genres\n"
    "1,Toy Story (1995),Adventure|Animation|Children\n"
    "2,\"American President, The (1995)\",Comedy|Drama|Romance\n"
    "3,Unknown Film,(no genres listed)\n"
    "5,Fawlty Towers (1975-1979) ,Comedy\n";

// Lines 2..6; the bad-row tests insert their row as line 4.
const char* const kRatingsHead =
    "userId,movieId,rating,timestamp\n"
    "1,1,4.0,964982703\n"
    "1,2,3.5,964981247\n";
const char* const kRatingsTail =
    "2,1,0.5,964982224\n"
    "2,5,5,1445714994\n"
    "3,3,2.5,1000000000\n";

const char* const kTags =
    "userId,movieId,tag,timestamp\n"
    "2,1,  Funny ,1445714994\n"
    "2,1,\" Highly Quotable\",1445714996\n"
    "3,5,\"dark, COMEDY\",1445715000\n";

const char* const kLinks =
    "movieId,imdbId,tmdbId\n"
    "1,0114709,862\n"
    "2,0112346,\n"
    "3,0000001,5\n"
    "5,0072500,100\n";

void write_folder(const TempDir& dir, const std::string& ratings,
                  const std::string& movies = kMovies, const std::string& tags = kTags,
                  const std::string& links = kLinks) {
  write_file(dir.file("movies.csv"), movies);
  write_file(dir.file("ratings.csv"), ratings);
  write_file(dir.file("tags.csv"), tags);
  write_file(dir.file("links.csv"), links);
}

LoadOptions skip() {
  LoadOptions options;
  options.on_bad_row = BadRowPolicy::kSkip;
  return options;
}

// The DataError message of loading `dir` under kFail; fails the test when nothing is thrown.
std::string load_error(const TempDir& dir, const LoadOptions& options = {}) {
  try {
    dnnrec::load_movielens(dir.path(), options);
  } catch (const DataError& e) {
    return e.what();
  }
  ADD_FAILURE() << "no DataError";
  return "";
}

bool starts_with(const std::string& s, const std::string& prefix) {
  return s.compare(0, prefix.size(), prefix) == 0;
}

// The five good rows of kRatingsHead + kRatingsTail, as (user, movie).
std::vector<std::pair<int64_t, int64_t>> good_pairs() {
  return {{1, 1}, {1, 2}, {2, 1}, {2, 5}, {3, 3}};
}

std::vector<std::pair<int64_t, int64_t>> pairs(const MovieLens& ml) {
  std::vector<std::pair<int64_t, int64_t>> out;
  for (size_t i = 0; i < ml.ratings.size(); ++i)
    out.emplace_back(ml.ratings.user[i], ml.ratings.movie[i]);
  return out;
}

// One bad ratings.csv row at line 4: kFail names ratings.csv:4 and the problem; kSkip drops
// exactly that row and keeps the five good ones in order.
void expect_bad_rating_row(const std::string& row, const std::string& problem) {
  SCOPED_TRACE(row);
  TempDir dir;
  write_folder(dir, std::string(kRatingsHead) + row + "\n" + kRatingsTail);
  const std::string message = load_error(dir);
  EXPECT_TRUE(starts_with(message, "ratings.csv:4: ")) << message;
  EXPECT_NE(message.find(problem), std::string::npos) << message;

  const MovieLens ml = dnnrec::load_movielens(dir.path(), skip());
  EXPECT_EQ(ml.report.skipped, 1);
  EXPECT_EQ(pairs(ml), good_pairs());
  ASSERT_EQ(ml.report.examples.size(), 1u);
  EXPECT_EQ(ml.report.examples[0], message);
  EXPECT_EQ(ml.report.summary(), "ratings.csv: 1 row skipped (first: " + message + ")");
}

LoadOptions with_threads(LoadOptions options, int threads) {
  options.threads = threads;
  return options;
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

std::string joined(const std::vector<std::string>& lines) {
  std::string text;
  for (const std::string& line : lines) text += line + "\n";
  return text;
}

// Puts rows[k] at line numbers[k] (increasing; the header is line 1).
void insert_rows(const std::string& path, const std::vector<size_t>& numbers,
                 const std::vector<std::string>& rows) {
  std::vector<std::string> lines = lines_of(read_file(path));
  for (size_t k = 0; k < numbers.size(); ++k) {
    lines.insert(lines.begin() + static_cast<std::ptrdiff_t>(numbers[k] - 1), rows[k]);
  }
  write_file(path, joined(lines));
}

}  // namespace

TEST(MovieLensLoad, LoadsHandWrittenFolder) {
  TempDir dir;
  write_folder(dir, std::string(kRatingsHead) + kRatingsTail);
  const MovieLens ml = dnnrec::load_movielens(dir.path());
  EXPECT_EQ(ml.dir, dir.path());
  EXPECT_EQ(ml.report.skipped, 0);
  EXPECT_EQ(ml.report.summary(), "");

  ASSERT_EQ(ml.ratings.size(), 5u);
  EXPECT_EQ(ml.ratings.user, (std::vector<int64_t>{1, 1, 2, 2, 3}));
  EXPECT_EQ(ml.ratings.movie, (std::vector<int64_t>{1, 2, 1, 5, 3}));
  EXPECT_EQ(ml.ratings.rating, (std::vector<float>{4.0f, 3.5f, 0.5f, 5.0f, 2.5f}));
  EXPECT_EQ(ml.ratings.timestamp,
            (std::vector<int64_t>{964982703, 964981247, 964982224, 1445714994, 1000000000}));

  ASSERT_EQ(ml.movies.size(), 4u);
  EXPECT_EQ(ml.movies[0].id, 1);
  EXPECT_EQ(ml.movies[0].title, "Toy Story (1995)");
  EXPECT_EQ(ml.movies[0].genres, (std::vector<std::string>{"Adventure", "Animation", "Children"}));
  EXPECT_EQ(ml.movies[0].year, 1995);
  EXPECT_EQ(ml.movies[1].title, "American President, The (1995)");
  EXPECT_EQ(ml.movies[1].genres, (std::vector<std::string>{"Comedy", "Drama", "Romance"}));
  EXPECT_EQ(ml.movies[1].year, 1995);
  EXPECT_EQ(ml.movies[2].title, "Unknown Film");
  EXPECT_TRUE(ml.movies[2].genres.empty());
  EXPECT_EQ(ml.movies[2].year, 0);
  EXPECT_EQ(ml.movies[3].id, 5);
  EXPECT_EQ(ml.movies[3].title, "Fawlty Towers (1975-1979)");  // unquoted: trimmed by the reader
  EXPECT_EQ(ml.movies[3].year, 1975);

  EXPECT_EQ(ml.movie_index.size(), 4u);
  EXPECT_EQ(ml.movie_index.at(5), 3u);
  ASSERT_NE(ml.find_movie(2), nullptr);
  EXPECT_EQ(ml.find_movie(2)->title, "American President, The (1995)");
  EXPECT_EQ(ml.find_movie(4), nullptr);

  ASSERT_EQ(ml.tags.size(), 3u);
  EXPECT_EQ(ml.tags[0].user, 2);
  EXPECT_EQ(ml.tags[0].movie, 1);
  EXPECT_EQ(ml.tags[0].tag, "funny");
  EXPECT_EQ(ml.tags[0].timestamp, 1445714994);
  EXPECT_EQ(ml.tags[1].tag, "highly quotable");
  EXPECT_EQ(ml.tags[2].tag, "dark, comedy");
  EXPECT_EQ(ml.tags[2].movie, 5);
}

TEST(MovieLensLoad, LargeMovieIdsUseTheSlowPathCorrectly) {
  TempDir dir;
  write_folder(dir, std::string(kRatingsHead) + "7,99999999999,3.0,1\n7,99999999998,3.0,1\n",
               std::string(kMovies) + "99999999999,Huge Id (2001),Drama\n", kTags, kLinks);
  EXPECT_EQ(load_error(dir), "ratings.csv:5: movieId 99999999998 is not in movies.csv");
  const MovieLens ml = dnnrec::load_movielens(dir.path(), skip());
  ASSERT_EQ(ml.ratings.size(), 3u);
  EXPECT_EQ(ml.ratings.movie[2], 99999999999);
  EXPECT_EQ(ml.find_movie(99999999999)->year, 2001);
}

TEST(MovieLensLoad, DataErrorCarriesFileAndLine) {
  TempDir dir;
  write_folder(dir, std::string(kRatingsHead) + "1,1,4.0\n");
  try {
    dnnrec::load_movielens(dir.path());
    FAIL() << "no DataError";
  } catch (const DataError& e) {
    EXPECT_EQ(e.file(), "ratings.csv");
    EXPECT_EQ(e.line(), 4);
    EXPECT_EQ(e.exit_code(), dnnrec::kExitBadInput);
  }
}

TEST(MovieLensLoad, TagsAndLinksAreOptional) {
  TempDir dir;
  write_file(dir.file("movies.csv"), kMovies);
  write_file(dir.file("ratings.csv"), std::string(kRatingsHead) + kRatingsTail);
  const MovieLens ml = dnnrec::load_movielens(dir.path());
  EXPECT_EQ(ml.ratings.size(), 5u);
  EXPECT_TRUE(ml.tags.empty());
}

TEST(MovieLensLoad, HeaderOnlyRatingsIsAnErrorNamingTheFile) {
  TempDir dir;
  write_folder(dir, "userId,movieId,rating,timestamp\n");
  try {
    dnnrec::load_movielens(dir.path());
    ADD_FAILURE() << "no error";
  } catch (const DataError& e) {
    EXPECT_STREQ(e.what(), "ratings.csv: no ratings: the file has only its header row");
  }
}

TEST(MovieLensLoad, CrlfLoadsLikeLf) {
  const auto crlf = [](const std::string& s) {
    std::string out;
    for (char c : s) out += c == '\n' ? std::string("\r\n") : std::string(1, c);
    return out;
  };
  TempDir lf_dir;
  TempDir crlf_dir;
  const std::string ratings = std::string(kRatingsHead) + kRatingsTail;
  write_folder(lf_dir, ratings);
  write_folder(crlf_dir, crlf(ratings), crlf(kMovies), crlf(kTags), crlf(kLinks));
  ASSERT_NE(read_file(crlf_dir.file("movies.csv")).find("\r\n"), std::string::npos);
  const MovieLens a = dnnrec::load_movielens(lf_dir.path());
  MovieLens b = dnnrec::load_movielens(crlf_dir.path());
  EXPECT_EQ(b.report.skipped, 0);
  b.dir = a.dir;  // the only field that may differ
  expect_same_load(a, b);

  // Line numbers stay physical lines with CRLF too.
  TempDir bad;
  write_folder(bad, crlf(std::string(kRatingsHead) + "1,2,x,5\n" + kRatingsTail));
  EXPECT_TRUE(
      starts_with(load_error(bad), "ratings.csv:4: column 'rating': \"x\" is not a number"));
}

TEST(MovieLensLoad, Utf8BomIsIgnored) {
  TempDir dir;
  write_folder(dir, "\xEF\xBB\xBF" + std::string(kRatingsHead) + kRatingsTail,
               "\xEF\xBB\xBF" + std::string(kMovies));
  const MovieLens ml = dnnrec::load_movielens(dir.path());
  EXPECT_EQ(pairs(ml), good_pairs());
  EXPECT_EQ(ml.movies.size(), 4u);
  EXPECT_EQ(ml.movies[0].id, 1);
}

TEST(MovieLensLoad, BlankLinesAreIgnoredButCounted) {
  TempDir dir;
  write_folder(dir, std::string(kRatingsHead) + "\n  \n" + kRatingsTail + "\n");
  EXPECT_EQ(pairs(dnnrec::load_movielens(dir.path())), good_pairs());
  write_folder(dir, std::string(kRatingsHead) + "\n1,2,9,5\n" + kRatingsTail);
  EXPECT_TRUE(starts_with(load_error(dir), "ratings.csv:5: rating 9 outside [0.5, 5]"));
}

TEST(MovieLensLoad, CustomRatingRange) {
  TempDir dir;
  write_folder(dir, std::string(kRatingsHead) + "4,3,7.5,1\n");
  LoadOptions options;
  options.min_rating = 1;
  options.max_rating = 10;
  EXPECT_EQ(dnnrec::load_movielens(dir.path(), options).ratings.size(), 3u);
  options.max_rating = 5;
  EXPECT_EQ(load_error(dir, options), "ratings.csv:4: rating 7.5 outside [1, 5]");
  options.min_rating = 6;
  EXPECT_THROW(dnnrec::load_movielens(dir.path(), options), dnnrec::ConfigError);
}

TEST(MovieLensLoad, MissingFolderNamesFetchScript) {
  TempDir dir;
  const std::string missing = dir.file("nope");
  try {
    dnnrec::load_movielens(missing);
    FAIL() << "no DataError";
  } catch (const DataError& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find("'" + missing + "' not found"), std::string::npos) << message;
    EXPECT_NE(message.find("scripts/fetch-movielens.sh"), std::string::npos) << message;
    EXPECT_NE(message.find("--data"), std::string::npos) << message;
    EXPECT_EQ(e.exit_code(), dnnrec::kExitBadInput);
  }
  // A folder without any ratings file names the layouts it looked for; one with ratings.csv but
  // without movies.csv names that file.
  const std::string empty = load_error(dir);
  EXPECT_NE(empty.find("holds no MovieLens ratings: none of ratings.csv"), std::string::npos)
      << empty;
  EXPECT_NE(empty.find("u.data (ml-100k)"), std::string::npos) << empty;
  write_file(dir.file("ratings.csv"), kRatingsHead);
  const std::string no_movies = load_error(dir);
  EXPECT_NE(no_movies.find("has no movies.csv"), std::string::npos) << no_movies;
  EXPECT_NE(no_movies.find("scripts/fetch-movielens.sh"), std::string::npos) << no_movies;
}

TEST(MovieLensLoad, EmptyFileIsFatalEvenUnderSkip) {
  TempDir dir;
  write_folder(dir, "");
  EXPECT_EQ(load_error(dir), "ratings.csv: empty file (no header row)");
  EXPECT_EQ(load_error(dir, skip()), "ratings.csv: empty file (no header row)");
  write_folder(dir, std::string(kRatingsHead) + kRatingsTail, kMovies, "\n");
  EXPECT_EQ(load_error(dir, skip()), "tags.csv: empty file (no header row)");
}

TEST(MovieLensLoad, WrongHeaderIsFatalEvenUnderSkip) {
  TempDir dir;
  write_folder(dir, std::string("userId,movieId,score,timestamp\n") + kRatingsTail);
  const std::string expected =
      "ratings.csv:1: wrong header: expected userId,movieId,rating,timestamp";
  EXPECT_TRUE(starts_with(load_error(dir), expected)) << load_error(dir);
  EXPECT_NE(load_error(dir).find("\"score\""), std::string::npos);
  EXPECT_TRUE(starts_with(load_error(dir, skip()), expected));

  // Data where the header should be, a missing column, a duplicated one.
  write_folder(dir, std::string("1,1,4.0,964982703\n") + kRatingsTail);
  EXPECT_TRUE(starts_with(load_error(dir, skip()), expected));
  write_folder(dir, std::string("userId,movieId,rating\n") + kRatingsTail);
  EXPECT_TRUE(starts_with(load_error(dir, skip()), expected));
  write_folder(dir, std::string(kRatingsHead) + kRatingsTail, "movieId,title,genres,extra\n");
  EXPECT_TRUE(starts_with(load_error(dir, skip()),
                          "movies.csv:1: wrong header: expected movieId,title,genres"));
}

TEST(MovieLensBadRow, MissingColumn) {
  expect_bad_rating_row("4,1,3.0", "expected 4 columns (userId,movieId,rating,timestamp), found 3");
}

TEST(MovieLensBadRow, ExtraColumn) {
  expect_bad_rating_row("4,1,3.0,964982703,x,y",
                        "expected 4 columns (userId,movieId,rating,timestamp), found 6");
}

TEST(MovieLensBadRow, NonNumericId) {
  expect_bad_rating_row("abc,1,3.0,964982703", "column 'userId': \"abc\" is not an integer");
  expect_bad_rating_row("4,1x,3.0,964982703", "column 'movieId': \"1x\" is not an integer");
  expect_bad_rating_row("4,,3.0,964982703", "column 'movieId' is empty");
  expect_bad_rating_row("99999999999999999999,1,3.0,1",
                        "column 'userId': \"99999999999999999999\" is out of range");
}

TEST(MovieLensBadRow, NegativeId) {
  expect_bad_rating_row("-4,1,3.0,964982703", "column 'userId': \"-4\" is negative");
}

TEST(MovieLensBadRow, RatingOutOfRange) {
  expect_bad_rating_row("4,1,7.5,964982703", "rating 7.5 outside [0.5, 5]");
  expect_bad_rating_row("4,1,0,964982703", "rating 0 outside [0.5, 5]");
  expect_bad_rating_row("4,1,-1,964982703", "rating -1 outside [0.5, 5]");
}

TEST(MovieLensBadRow, NonNumericRating) {
  expect_bad_rating_row("4,1,abc,964982703", "column 'rating': \"abc\" is not a number");
  expect_bad_rating_row("4,1,3.0.1,964982703", "column 'rating': \"3.0.1\" is not a number");
  expect_bad_rating_row("4,1,nan,964982703", "column 'rating': \"nan\" is not a finite number");
  expect_bad_rating_row("4,1,inf,964982703", "column 'rating': \"inf\" is not a finite number");
}

TEST(MovieLensBadRow, NonIntegerTimestamp) {
  expect_bad_rating_row("4,1,3.0,9649.5", "column 'timestamp': \"9649.5\" is not an integer");
}

TEST(MovieLensBadRow, BrokenQuote) {
  expect_bad_rating_row("4,\"1,3.0,964982703", "unterminated quoted field");
}

TEST(MovieLensBadRow, MovieAbsentFromMovies) {
  expect_bad_rating_row("4,99999,3.0,964982703", "movieId 99999 is not in movies.csv");
  expect_bad_rating_row("4,4,3.0,964982703", "movieId 4 is not in movies.csv");
}

TEST(MovieLensBadRow, QuotedNumbersAreFine) {
  TempDir dir;
  write_folder(dir, std::string(kRatingsHead) + "\"4\", 1 ,\"3.0\",964982703\n");
  const MovieLens ml = dnnrec::load_movielens(dir.path());
  ASSERT_EQ(ml.ratings.size(), 3u);
  EXPECT_EQ(ml.ratings.user[2], 4);
  EXPECT_EQ(ml.ratings.movie[2], 1);
}

TEST(MovieLensBadRow, BadTagRows) {
  TempDir dir;
  const std::string ratings = std::string(kRatingsHead) + kRatingsTail;
  write_folder(
      dir, ratings, kMovies,
      std::string(kTags) + "4,1,\"   \",1\n4,77,nice,1\n4,1,ok,2\n4,1,bad,soon\n4,1,more\n");
  EXPECT_EQ(load_error(dir), "tags.csv:5: column 'tag' is empty");
  const MovieLens ml = dnnrec::load_movielens(dir.path(), skip());
  EXPECT_EQ(ml.report.skipped, 4);
  ASSERT_EQ(ml.tags.size(), 4u);
  EXPECT_EQ(ml.tags[3].tag, "ok");
  ASSERT_EQ(ml.report.examples.size(), 4u);
  EXPECT_EQ(ml.report.examples[1], "tags.csv:6: movieId 77 is not in movies.csv");
  EXPECT_EQ(ml.report.examples[2], "tags.csv:8: column 'timestamp': \"soon\" is not an integer");
  EXPECT_EQ(ml.report.examples[3],
            "tags.csv:9: expected 4 columns (userId,movieId,tag,timestamp), found 3");
}

TEST(MovieLensBadRow, BadMovieRows) {
  TempDir dir;
  const std::string ratings = std::string(kRatingsHead) + kRatingsTail;
  // Line 6 repeats movieId 1; line 7 has an unquoted comma in its title; line 8 a bad id.
  write_folder(dir, ratings,
               std::string(kMovies) + "1,Toy Story again (1995),Comedy\n" +
                   "7,Bird, The (2001),Drama\n" + "x8,Film (2001),Drama\n" +
                   "9,Fine (2001),Drama\n");
  EXPECT_EQ(load_error(dir),
            "movies.csv:6: movieId 1 appears twice in movies.csv (first on line 2)");
  const MovieLens ml = dnnrec::load_movielens(dir.path(), skip());
  EXPECT_EQ(ml.report.skipped, 3);
  EXPECT_EQ(ml.movies.size(), 5u);
  EXPECT_EQ(ml.find_movie(1)->title, "Toy Story (1995)");
  EXPECT_EQ(ml.find_movie(9)->year, 2001);
  EXPECT_EQ(ml.report.examples[1],
            "movies.csv:7: expected 3 columns (movieId,title,genres), found 4");
  EXPECT_EQ(ml.report.examples[2], "movies.csv:8: column 'movieId': \"x8\" is not an integer");
}

TEST(MovieLensBadRow, BadLinkRows) {
  TempDir dir;
  write_folder(dir, std::string(kRatingsHead) + kRatingsTail, kMovies, kTags,
               std::string(kLinks) + "6,0000002,7\n1,tt01,3\n1,0000003,x\n");
  EXPECT_EQ(load_error(dir), "links.csv:6: movieId 6 is not in movies.csv");
  const MovieLens ml = dnnrec::load_movielens(dir.path(), skip());
  EXPECT_EQ(ml.report.skipped, 3);
  EXPECT_EQ(ml.report.summary(),
            "links.csv: 3 rows skipped (first: links.csv:6: movieId 6 is not in movies.csv)");
}

// Every kind of reader exception leaves the reader on the next line, so skipping goes on.
TEST(MovieLensBadRow, SkipContinuesAfterEveryKindOfBadRow) {
  TempDir dir;
  std::string ratings = "userId,movieId,rating,timestamp\n";
  const std::vector<std::string> bad = {
      "1,2",        "1,2,3,4,5",   "\"1,2,3,4",     "1,2,\"3,4",
      "1,2,3,\"4",  "a,1,3,4",     "1,b,3,4",       "1,1,c,4",
      "1,1,3,d",    "1,1,9,4",     "1,4,3,4",       "-1,1,3,4",
      "1,1,3,4\"x", "\"",          ",,,",           std::string("1,1\0,3,4", 8),
      "1,1,nan,1",  "1,1,1e999,1", "\"\"\"\",1,1,1"};
  int64_t good = 0;
  for (const std::string& row : bad) {
    ratings += row + "\n" + std::to_string(100 + good) + ",1,4.0,1\n";
    ++good;
  }
  write_folder(dir, ratings);
  const MovieLens ml = dnnrec::load_movielens(dir.path(), skip());
  EXPECT_EQ(ml.report.skipped, static_cast<int64_t>(bad.size()));
  ASSERT_EQ(ml.ratings.size(), static_cast<size_t>(good));
  for (int64_t i = 0; i < good; ++i) EXPECT_EQ(ml.ratings.user[i], 100 + i);
  EXPECT_EQ(ml.report.examples.size(), 5u);  // at most five kept
  EXPECT_EQ(ml.report.examples[0],
            "ratings.csv:2: expected 4 columns (userId,movieId,rating,timestamp), found 2");
  EXPECT_EQ(ml.report.examples[2], "ratings.csv:6: unterminated quoted field");
  EXPECT_EQ(ml.report.summary(), "ratings.csv: " + std::to_string(bad.size()) +
                                     " rows skipped (first: " + ml.report.examples[0] + ")");
}

// Garbage never crashes or hangs the loader: it loads or throws DataError.
TEST(MovieLensBadRow, GarbageNeverCrashes) {
  TempDir dir;
  write_folder(dir, "");
  uint64_t state = 12345;
  const std::string alphabet = "0123456789,,,\"\"\n\r .-e|x\t";
  for (int round = 0; round < 80; ++round) {
    std::string garbage = round % 2 ? "userId,movieId,rating,timestamp\n" : "";
    const int length = round * 8;
    for (int i = 0; i < length; ++i) {
      state = state * 6364136223846793005ULL + 1442695040888963407ULL;
      garbage += alphabet[(state >> 33) % alphabet.size()];
    }
    write_file(dir.file("ratings.csv"), garbage);
    write_file(dir.file("tags.csv"),
               round % 3 ? kTags : "userId,movieId,tag,timestamp\n" + garbage);
    for (const LoadOptions& options : {LoadOptions{}, skip()}) {
      try {
        dnnrec::load_movielens(dir.path(), options);
      } catch (const DataError&) {
      }
    }
  }
}

TEST(MovieLensBadRow, OverlongLineIsFatalNotAHang) {
  TempDir dir;
  write_folder(dir,
               std::string(kRatingsHead) + std::string((1 << 24) + 10, '7') + "\n" + kRatingsTail);
  EXPECT_EQ(load_error(dir, skip()), "ratings.csv:4: line longer than the 16 MiB limit");
}

// Bad rows spread over the file land in different ranges of a split: the rows kept, the report
// and, under kFail, the error (the one with the smallest line number) do not depend on it.
TEST(MovieLensThreads, AnyThreadCountGivesTheSameFolderAndFirstError) {
  TempDir dir;
  dnnrec::write_sample_movielens(dir.path());  // 20000 ratings, 1000 tags
  insert_rows(dir.file("ratings.csv"), {50, 5000, 5001, 12000, 19990},
              {"7,1,abc,5", "\"1,2,3,4", "", "1,2", "3,99999999,4.0,1"});
  insert_rows(dir.file("tags.csv"), {10, 900}, {"1,1,\"  \",5", "1,1,x,soon"});

  const MovieLens one = dnnrec::load_movielens(dir.path(), with_threads(skip(), 1));
  EXPECT_EQ(one.report.skipped, 6);
  EXPECT_EQ(one.report.examples[0], "ratings.csv:50: column 'rating': \"abc\" is not a number");
  EXPECT_EQ(one.report.examples[1], "ratings.csv:5000: unterminated quoted field");
  EXPECT_EQ(one.report.examples[4], "tags.csv:10: column 'tag' is empty");
  EXPECT_EQ(one.report.per_file,
            (std::vector<std::pair<std::string, int64_t>>{{"ratings.csv", 4}, {"tags.csv", 2}}));
  EXPECT_EQ(one.ratings.size(), 20000u);
  EXPECT_EQ(one.tags.size(), 1000u);
  for (int threads : {2, 3, 4, 7, 0}) {
    SCOPED_TRACE(threads);
    expect_same_load(dnnrec::load_movielens(dir.path(), with_threads(skip(), threads)), one);
    EXPECT_EQ(load_error(dir, with_threads(LoadOptions{}, threads)),
              "ratings.csv:50: column 'rating': \"abc\" is not a number");
  }

  // Only the last range has bad rows.
  dnnrec::write_sample_movielens(dir.path());
  insert_rows(dir.file("ratings.csv"), {19999, 20001}, {"1,2,3", "1,2,3,4,5"});
  for (int threads : {1, 2, 3, 4, 7}) {
    SCOPED_TRACE(threads);
    EXPECT_EQ(load_error(dir, with_threads(LoadOptions{}, threads)),
              "ratings.csv:19999: expected 4 columns (userId,movieId,rating,timestamp), found 3");
  }
}

// A fatal error in a later range wins over rows skipped in earlier ones, on any thread count.
TEST(MovieLensThreads, OverlongLineAfterSkippedRows) {
  TempDir dir;
  write_folder(dir, std::string(kRatingsHead) + "1,2,x,5\n" + kRatingsTail +
                        std::string((1 << 24) + 10, '7') + "\n" + kRatingsTail);
  for (int threads : {1, 2, 4}) {
    EXPECT_EQ(load_error(dir, with_threads(skip(), threads)),
              "ratings.csv:8: line longer than the 16 MiB limit");
  }
}

// Garbage loads, or fails with the same message, whatever the number of threads.
TEST(MovieLensThreads, GarbageGivesTheSameOutcome) {
  TempDir dir;
  write_folder(dir, "");
  uint64_t state = 987;
  const std::string alphabet = "0123456789,,,\"\"\n\n\n\r .-e|x\t";
  const auto outcome = [&](const LoadOptions& options, MovieLens* ml) -> std::string {
    try {
      *ml = dnnrec::load_movielens(dir.path(), options);
      return "";
    } catch (const DataError& e) {
      return e.what();
    }
  };
  for (int round = 0; round < 60; ++round) {
    std::string garbage = "userId,movieId,rating,timestamp\n";
    for (int i = 0; i < round * 20; ++i) {
      state = state * 6364136223846793005ULL + 1442695040888963407ULL;
      garbage += (state >> 60) < 12 ? std::string("1,1,4.0,5\n")
                                    : std::string(1, alphabet[(state >> 33) % alphabet.size()]);
    }
    write_file(dir.file("ratings.csv"), garbage);
    for (const LoadOptions& options : {LoadOptions{}, skip()}) {
      MovieLens one;
      const std::string first = outcome(with_threads(options, 1), &one);
      for (int threads : {2, 3}) {
        SCOPED_TRACE("round " + std::to_string(round) + ", threads " + std::to_string(threads));
        MovieLens many;
        EXPECT_EQ(outcome(with_threads(options, threads), &many), first);
        if (first.empty()) expect_same_load(many, one);
      }
    }
  }
}

TEST(MovieLensThreads, NegativeThreadCountIsAConfigError) {
  TempDir dir;
  write_folder(dir, std::string(kRatingsHead) + kRatingsTail);
  EXPECT_THROW(dnnrec::load_movielens(dir.path(), with_threads(LoadOptions{}, -1)),
               dnnrec::ConfigError);
}

TEST(LoadReport, SummaryCountsPerFile) {
  dnnrec::LoadReport report;
  EXPECT_EQ(report.summary(), "");
  for (int i = 0; i < 7; ++i) report.add("ratings.csv:" + std::to_string(i + 2) + ": bad");
  report.add("tags.csv:3: worse");
  EXPECT_EQ(report.skipped, 8);
  EXPECT_EQ(report.examples.size(), 5u);
  EXPECT_EQ(report.summary(),
            "ratings.csv: 7 rows skipped, tags.csv: 1 row skipped (first: ratings.csv:2: bad)");
}

TEST(ParseBadRowPolicy, Parses) {
  EXPECT_EQ(dnnrec::parse_bad_row_policy("fail"), BadRowPolicy::kFail);
  EXPECT_EQ(dnnrec::parse_bad_row_policy("skip"), BadRowPolicy::kSkip);
  try {
    dnnrec::parse_bad_row_policy("ignore");
    FAIL() << "no ConfigError";
  } catch (const dnnrec::ConfigError& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find("'ignore'"), std::string::npos) << message;
    EXPECT_NE(message.find("fail, skip"), std::string::npos) << message;
  }
}

TEST(ParseYear, Cases) {
  EXPECT_EQ(dnnrec::parse_year("Toy Story (1995)"), 1995);
  EXPECT_EQ(dnnrec::parse_year("Babylon 5 (1994) "), 1994);
  EXPECT_EQ(dnnrec::parse_year("Dracula (Bram Stoker's Dracula) (1992)"), 1992);
  EXPECT_EQ(dnnrec::parse_year("Road to Ruin (1995) (1996)"), 1996);
  EXPECT_EQ(dnnrec::parse_year("Planet Earth (2006-2007)"), 2006);
  EXPECT_EQ(dnnrec::parse_year("Still Running (2007-)"), 2007);
  EXPECT_EQ(dnnrec::parse_year("Death Note: Desu n\xC3\xB4to (2006\xE2\x80\x93"
                               "2007)"),
            2006);
  EXPECT_EQ(dnnrec::parse_year("En Dash Open (2006\xE2\x80\x93)"), 2006);
  EXPECT_EQ(dnnrec::parse_year("Other Dash (2006\xE2\x80\x94"
                               "2007)"),
            0);
  EXPECT_EQ(dnnrec::parse_year("1800 (1800)"), 1800);
  EXPECT_EQ(dnnrec::parse_year("Far Future (2100)"), 2100);
  EXPECT_EQ(dnnrec::parse_year("Old (1799)"), 0);
  EXPECT_EQ(dnnrec::parse_year("Too Far (2101)"), 0);
  EXPECT_EQ(dnnrec::parse_year("Unknown Film"), 0);
  EXPECT_EQ(dnnrec::parse_year("2001: A Space Odyssey"), 0);
  EXPECT_EQ(dnnrec::parse_year("Cut (1995) (Director's Cut)"), 0);
  EXPECT_EQ(dnnrec::parse_year("Short (95)"), 0);
  EXPECT_EQ(dnnrec::parse_year("Long (19955)"), 0);
  EXPECT_EQ(dnnrec::parse_year("Open (1995"), 0);
  EXPECT_EQ(dnnrec::parse_year("Letters (19a5)"), 0);
  EXPECT_EQ(dnnrec::parse_year("Half range (1995-07)"), 0);
  EXPECT_EQ(dnnrec::parse_year("()"), 0);
  EXPECT_EQ(dnnrec::parse_year(")"), 0);
  EXPECT_EQ(dnnrec::parse_year(""), 0);
}

TEST(NormalizeTag, TrimsAndLowerCases) {
  EXPECT_EQ(dnnrec::normalize_tag("  Funny "), "funny");
  EXPECT_EQ(dnnrec::normalize_tag("\tSci-Fi\r\n"), "sci-fi");
  EXPECT_EQ(dnnrec::normalize_tag("Highly Quotable"), "highly quotable");
  EXPECT_EQ(dnnrec::normalize_tag("already"), "already");
  EXPECT_EQ(dnnrec::normalize_tag("   "), "");
  EXPECT_EQ(dnnrec::normalize_tag(""), "");
  EXPECT_EQ(dnnrec::normalize_tag("\xC3\x84RGER"), "\xC3\x84rger");  // non-ASCII bytes kept
}
