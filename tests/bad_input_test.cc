// The corpus of malformed MovieLens folders, generated here from a good sample folder: each
// case through the built binary gives its file:line message and exit 2, and with
// --on-bad-row skip the right count of skipped rows; never a crash or a hang.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "dnnrec/error.h"
#include "dnnrec/movielens.h"
#include "test_util.h"

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace dnnrec {
namespace {

struct Case {
  std::string name;
  std::string file;     ///< the file made malformed
  std::string content;  ///< its whole content
  std::string message;  ///< expected in the failure, after "file:line: " (or "file: ")
  long line;            ///< expected line, 0 for a whole-file problem
  int skipped;          ///< rows skipped with --on-bad-row skip; -1: fatal under skip too
};

const std::string kHeader = "userId,movieId,rating,timestamp\n";
const std::string kGood = "1,1,4.0,964982703\n2,1,3.0,964982704\n";

std::vector<Case> corpus(const std::string& good_movies, const std::string& good_tags) {
  std::string garbage;
  for (int i = 0; i < 4096; ++i) garbage += static_cast<char>((i * 7919 + 13) % 256);
  std::string movies_bad_title = good_movies;
  movies_bad_title.insert(movies_bad_title.find('\n') + 1,
                          "999001,\"Bad \xff\xfe title (1995)\",Comedy\n");
  return {
      {"binary garbage", "ratings.csv", garbage, "wrong header", 1, -1},
      {"a 10 MB single line", "ratings.csv", kHeader + kGood + std::string(10 << 20, '7') + "\n",
       "expected 4 columns (userId,movieId,rating,timestamp), found 1", 4, 1},
      {"NUL byte", "ratings.csv",
       kHeader + kGood +
           std::string("3,1,4.0,9649\0"
                       "82703\n",
                       18),
       "NUL byte in the row", 4, 1},
      {"negative id", "ratings.csv", kHeader + kGood + "-5,1,4.0,964982703\n",
       "column 'userId': \"-5\" is negative", 4, 1},
      {"huge id", "ratings.csv", kHeader + kGood + "99999999999999999999999,1,4.0,964982703\n",
       "column 'userId': \"99999999999999999999999\" is out of range", 4, 1},
      {"duplicate (user, movie)", "ratings.csv", kHeader + kGood + "1,1,2.0,964982799\n",
       "duplicate rating of user 1 for movie 1 (first on line 2)", 4, 1},
      {"timestamp before 1970", "ratings.csv", kHeader + kGood + "3,1,4.0,-1\n",
       "column 'timestamp': -1 is outside", 4, 1},
      {"timestamp after 2100", "ratings.csv", kHeader + kGood + "3,1,4.0,5000000000\n",
       "column 'timestamp': 5000000000 is outside", 4, 1},
      {"timestamp overflow", "ratings.csv", kHeader + kGood + "3,1,4.0,99999999999999999999\n",
       "column 'timestamp': \"99999999999999999999\" is out of range", 4, 1},
      {"rating 4.0.0", "ratings.csv", kHeader + kGood + "3,1,4.0.0,964982703\n",
       "column 'rating': \"4.0.0\" is not a number", 4, 1},
      {"rating nan", "ratings.csv", kHeader + kGood + "3,1,nan,964982703\n",
       "column 'rating': \"nan\" is not a finite number", 4, 1},
      {"rating inf", "ratings.csv", kHeader + kGood + "3,1,inf,964982703\n",
       "column 'rating': \"inf\" is not a finite number", 4, 1},
      {"invalid UTF-8 title", "movies.csv", movies_bad_title,
       "column 'title' is not valid UTF-8 (byte 0xFF at offset 4)", 2, 1},
      {"invalid UTF-8 tag", "tags.csv", good_tags + "1,1,bad\xff\xfetag,964982703\n",
       "column 'tag' is not valid UTF-8", -1, 1},
      {"empty ratings.csv", "ratings.csv", "", "empty file (no header row)", 0, -1},
      {"only a header", "ratings.csv", kHeader, "no ratings: the file has only its header row", 0,
       -1},
  };
}

testing::Shell dry_run(const std::string& folder, const std::string& extra) {
  return testing::shell("train --dry-run -q --json --set data.cache=false --data " + folder +
                            " --out " + folder + "/run " + extra,
                        "timeout 120");
}

TEST(BadInput, EveryMalformedCaseGivesFileLineAndExitTwoOrACountedSkip) {
  testing::TempDir tmp;
  const std::string good = tmp.file("good");
  write_sample_movielens(good, SampleOptions{50, 80, 2000, 100, 9});
  const std::string movies = testing::read_file(good + "/movies.csv");
  const std::string tags = testing::read_file(good + "/tags.csv");
  const int tag_lines = static_cast<int>(std::count(tags.begin(), tags.end(), '\n'));
  const std::vector<Case> cases = corpus(movies, tags);
  for (const Case& c : cases) {
    const std::string folder = tmp.file("case-" + std::to_string(&c - &cases[0]));
    fs::create_directories(folder);
    for (const char* name : {"ratings.csv", "movies.csv", "tags.csv", "links.csv"}) {
      fs::copy_file(good + "/" + name, folder + "/" + name);
    }
    // Cases on movies.csv or tags.csv keep the good ratings; cases on ratings.csv use their own
    // (with movie 1, which every sample has).
    testing::write_file(folder + "/" + c.file, c.content);
    const long line = c.line >= 0 ? c.line : tag_lines + 1;
    const std::string where =
        c.file + (line > 0 ? ":" + std::to_string(line) + ": " : ": ") + c.message;
    const testing::Shell fail = dry_run(folder, "");
    EXPECT_EQ(fail.code, kExitBadInput) << c.name << "\n" << fail.err;
    EXPECT_NE(fail.err.find(where), std::string::npos)
        << c.name << ": expected '" << where << "' in\n"
        << fail.err.substr(0, 400);
    const testing::Shell skip = dry_run(folder, "--on-bad-row skip");
    if (c.skipped < 0) {
      EXPECT_EQ(skip.code, kExitBadInput) << c.name << "\n" << skip.err.substr(0, 400);
      continue;
    }
    ASSERT_EQ(skip.code, 0) << c.name << "\n" << skip.err.substr(0, 400);
    EXPECT_EQ(json::parse(skip.out)["skipped_rows"], c.skipped) << c.name;
  }
}

TEST(BadInput, ByteOrderMarkAndAMissingLastNewlineAreFine) {
  testing::TempDir tmp;
  const std::string good = tmp.file("good");
  write_sample_movielens(good, SampleOptions{50, 80, 2000, 100, 9});
  std::string ratings = testing::read_file(good + "/ratings.csv");
  ratings.pop_back();  // no newline after the last row
  testing::write_file(good + "/ratings.csv", "\xef\xbb\xbf" + ratings);
  const testing::Shell r = dry_run(good, "");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(json::parse(r.out)["skipped_rows"], 0);
  const MovieLens loaded = load_movielens(good);
  EXPECT_EQ(loaded.ratings.size(), 2000u);  // every row, the last one included
}

}  // namespace
}  // namespace dnnrec
