// The older MovieLens layouts (ml-100k, ml-1m, ml-10m): each detected from its files, each read
// to the same ratings as the CSV layout and trained to identical metrics, Latin-1 titles decoded,
// users described, the cache, and every bad row named by file:line in every layout.
#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

#include "base/random.h"
#include "data/load.h"
#include "data/movielens_formats.h"
#include "data/sample.h"
#include "dnnrec/error.h"
#include "movielens_testing.h"
#include "test_util.h"

namespace dnnrec {
namespace {

namespace fs = std::filesystem;
using testing::TempDir;
using testing::write_file;

const std::vector<std::string> kLayouts = {"movielens-csv", "ml-100k", "ml-1m", "ml-10m"};

MovieLens load(const std::string& dir, const std::string& format = "auto",
               BadRowPolicy policy = BadRowPolicy::kFail) {
  LoadOptions options;
  options.format = format;
  options.on_bad_row = policy;
  options.cache = false;
  return load_movielens(dir, options);
}

nlohmann::json train_json(const std::string& data, const std::string& out,
                          const std::string& flags = "") {
  return testing::train_small_json("--data " + data + " --out " + out + " " + flags);
}

// One sample (ml-100k's: whole stars, its 19 genres, users described) written in every layout:
// each folder is detected as its layout, loads the same ratings, movies and years, and trains to
// the same metrics bit for bit: without the user descriptions in every layout, and with them in
// the two layouts that have them.
TEST(MovieLensFormats, EveryLayoutLoadsTheSameDataAndTrainsToIdenticalMetrics) {
  TempDir tmp;
  SampleOptions sample{80, 120, 4000, 0, 11};
  sample.format = "ml-100k";
  write_sample_movielens(tmp.file("ml-100k"), sample);
  const MovieLens base = load(tmp.file("ml-100k"));
  EXPECT_EQ(base.format, "ml-100k");
  ASSERT_EQ(base.users.size(), 80u);
  EXPECT_NE(base.find_user(1), nullptr);
  nlohmann::json metrics, described;
  for (const std::string& layout : kLayouts) {
    SCOPED_TRACE(layout);
    const std::string dir = tmp.file("as-" + layout);
    write_movielens_folder(base, dir, layout);
    EXPECT_EQ(detect_movielens_format(dir), layout);
    const MovieLens again = load(dir);
    EXPECT_EQ(again.format, layout);
    testing::expect_same_data(base, again);
    // The layouts that describe users keep them.
    const bool has_users = layout == "ml-100k" || layout == "ml-1m";
    if (has_users) testing::expect_same_users(base, again);
    const nlohmann::json result =
        train_json(dir, tmp.file("run-" + layout), "--set features.user_features=false");
    if (metrics.is_null()) {
      metrics = result["test"];
    } else {
      EXPECT_EQ(result["test"], metrics);
    }
    if (!has_users) continue;
    const nlohmann::json with = train_json(dir, tmp.file("users-" + layout))["test"];
    EXPECT_NE(with, metrics);  // the descriptions are used
    if (described.is_null()) {
      described = with;
    } else {
      EXPECT_EQ(with, described);
    }
  }
  // Tags travel between the CSV layout and ml-10m's tags.dat.
  write_sample_movielens(tmp.file("csv"), SampleOptions{60, 100, 3000, 200, 5});
  const MovieLens csv = load(tmp.file("csv"));
  ASSERT_GT(csv.tags.size(), 100u);
  write_movielens_folder(csv, tmp.file("as-10m"), "ml-10m");
  testing::expect_same_data(csv, load(tmp.file("as-10m")));
}

// A planted user-feature signal, in ml-1m's layout: women like the dramas and men the comedies
// (nine times in ten), every user rates 6 movies at random, so a user's id and history say
// little and the description says most. The users' descriptions must raise val AUC, for every
// feature model.
TEST(MovieLensFormats, UserFeaturesHelpOnAPlantedSignal) {
  TempDir tmp;
  MovieLens ml;
  SplitMix64 rng(3);
  for (int64_t m = 1; m <= 100; ++m) {
    ml.movies.push_back(
        {m, "Movie " + std::to_string(m) + " (1995)", {m % 2 ? "Drama" : "Comedy"}, 1995});
  }
  const char* kOccupations[] = {"writer", "lawyer", "programmer", "other"};
  for (int64_t u = 1; u <= 1500; ++u) {
    const bool woman = rng.below(2) == 0;
    ml.users.push_back({u, woman ? "F" : "M", 25, kOccupations[rng.below(4)],
                        std::to_string(10000 + rng.below(90000))});
    for (int k = 0; k < 6; ++k) {
      const int64_t movie = 1 + static_cast<int64_t>(rng.below(100));
      const bool likes = (movie % 2 == 1) == woman;
      const bool flip = rng.below(10) == 0;
      ml.ratings.user.push_back(u);
      ml.ratings.movie.push_back(movie);
      ml.ratings.rating.push_back(likes != flip ? 5.0f : 1.0f);
      ml.ratings.timestamp.push_back(978300000 + u * 100 + k);
    }
  }
  // A user may draw a movie twice: keep the first.
  std::set<std::pair<int64_t, int64_t>> seen;
  Ratings unique;
  for (size_t i = 0; i < ml.ratings.size(); ++i) {
    if (!seen.insert({ml.ratings.user[i], ml.ratings.movie[i]}).second) continue;
    unique.user.push_back(ml.ratings.user[i]);
    unique.movie.push_back(ml.ratings.movie[i]);
    unique.rating.push_back(ml.ratings.rating[i]);
    unique.timestamp.push_back(ml.ratings.timestamp[i]);
  }
  ml.ratings = unique;
  const std::string dir = tmp.file("planted");
  write_movielens_folder(ml, dir, "ml-1m");
  for (const char* model : {"dnn", "deepfm", "wide-deep"}) {
    SCOPED_TRACE(model);
    const std::string flags = std::string("--task binary --epochs 10 --model ") + model;
    const double with =
        train_json(dir, tmp.file(std::string("with-") + model), flags)["val"]["auc"];
    const double without = train_json(dir, tmp.file(std::string("without-") + model),
                                      flags + " --set features.user_features=false")["val"]["auc"];
    EXPECT_GT(with, 0.8);
    EXPECT_GT(with, without + 0.1);
  }
}

// configs/ctr-ml1m.yaml (RecBole's CTR protocol) runs on a folder in ml-1m's layout: the 3s
// are left out, so every example is liked (4, 5) or not (1, 2), in training and in evaluate.
TEST(MovieLensFormats, TheCtrConfigRunsOnAnMl1mFolder) {
  TempDir tmp;
  const std::string dir = tmp.file("ml-1m");
  const testing::Shell sampled = testing::shell("sample --format ml-1m --out " + dir +
                                                " --users 300 --movies 200 --ratings 9000");
  ASSERT_EQ(sampled.code, 0) << sampled.err;
  const std::string config = std::string(DNNREC_SOURCE_DIR) + "/configs/ctr-ml1m.yaml";
  const testing::Shell run =
      testing::shell("train --config " + config + " --data " + dir + " --out " + tmp.file("run") +
                     " --epochs 2 --set output.plots=false -q --json");
  ASSERT_EQ(run.code, 0) << run.err;
  const nlohmann::json result = nlohmann::json::parse(run.out);
  EXPECT_GT(result["val"]["auc"].get<double>(), 0.5);
  // The test split, as evaluate scores it, holds no 3.
  const testing::Shell evaluated =
      testing::shell("evaluate --checkpoint " + tmp.file("run/best.pt") + " --split test" +
                     " --predictions " + tmp.file("test.csv") + " -q --json");
  ASSERT_EQ(evaluated.code, 0) << evaluated.err;
  const auto rows = testing::read_csv(tmp.file("test.csv"));
  ASSERT_GT(rows.size(), 100u);
  size_t threes = 0;
  for (size_t i = 1; i < rows.size(); ++i) threes += rows[i][2] == "3";
  EXPECT_EQ(threes, 0u);
  EXPECT_EQ(nlohmann::json::parse(evaluated.out)["test"]["auc"], result["test"]["auc"]);
}

// `dnnrec sample --format` writes each layout; the extra files GroupLens ships beside the data
// (README, u.genre, u1.base, ...) do not disturb the detection, and `train --data DIR` trains
// with no other flag.
TEST(MovieLensFormats, GroupLensFoldersAreDetectedAndTrainWithNoOtherFlag) {
  TempDir tmp;
  for (const std::string& layout : {std::string("ml-100k"), std::string("ml-1m")}) {
    SCOPED_TRACE(layout);
    const std::string dir = tmp.file(layout);
    const testing::Shell sampled = testing::shell("sample --format " + layout + " --out " + dir +
                                                  " --users 60 --movies 90 --ratings 2500");
    ASSERT_EQ(sampled.code, 0) << sampled.err;
    write_file(dir + "/README", "MovieLens " + layout + "\n");
    if (layout == "ml-100k") {
      write_file(dir + "/u.genre", "unknown|0\nAction|1\n");
      write_file(dir + "/u1.base", "1\t1\t5\t874965758\n");
    }
    const testing::Shell run =
        testing::shell("train --data " + dir + " --out " + tmp.file("run-" + layout) +
                       " --epochs 1 --set output.plots=false -q --json");
    ASSERT_EQ(run.code, 0) << run.err;
    EXPECT_GT(nlohmann::json::parse(run.out)["test"]["rmse"].get<double>(), 0.0);
  }
  // A folder without any ratings file names every layout it looked for.
  fs::create_directories(tmp.file("empty"));
  const testing::Shell none = testing::shell("train --data " + tmp.file("empty") + " --epochs 1");
  EXPECT_EQ(none.code, kExitBadInput);
  EXPECT_NE(none.err.find("u.data (ml-100k)"), std::string::npos) << none.err;
  // An explicit layout whose files are not there names the missing one.
  const testing::Shell wrong =
      testing::shell("train --data " + tmp.file("ml-100k") + " --set data.format=ml-1m --epochs 1");
  EXPECT_EQ(wrong.code, kExitBadInput);
  EXPECT_NE(wrong.err.find("has no ratings.dat (data.format ml-1m)"), std::string::npos)
      << wrong.err;
}

TEST(MovieLensFormats, TitlesAreDecodedToUtf8AndUsersDescribed) {
  TempDir tmp;
  // ml-100k: Latin-1 titles, a title without its year takes the release date's, genre flags.
  fs::create_directories(tmp.file("100k"));
  const std::string flags_comedy = "|0|0|0|0|0|1|0|0|0|0|0|0|0|0|0|0|0|0|0";
  const std::string flags_none = "|1|0|0|0|0|0|0|0|0|0|0|0|0|0|0|0|0|0|0";
  const std::string flags_kids = "|0|0|0|1|1|0|0|0|0|0|0|0|0|0|0|0|0|0|0";
  write_file(tmp.file("100k/u.item"), "1|Mis\xe9rables, Les (1995)|01-Jan-1995||http://x" +
                                          flags_comedy + "\n" + "2|unknown|||" + flags_none + "\n" +
                                          "3|Toy Story|22-Nov-1995||" + flags_kids + "\n");
  write_file(tmp.file("100k/u.data"), "1\t1\t5\t874965758\n2\t3\t3\t876893171\n");
  write_file(tmp.file("100k/u.user"), "1|24|M|technician|85711\n2|53|F|other|94043\n");
  const MovieLens ml = load(tmp.file("100k"));
  EXPECT_EQ(ml.movies[0].title, "Mis\xc3\xa9rables, Les (1995)");
  EXPECT_EQ(ml.movies[0].genres, std::vector<std::string>{"Comedy"});
  EXPECT_TRUE(ml.movies[1].genres.empty());  // "unknown" is no genre
  EXPECT_EQ(ml.movies[2].genres, (std::vector<std::string>{"Animation", "Children"}));
  EXPECT_EQ(ml.movies[2].year, 1995);
  ASSERT_NE(ml.find_user(2), nullptr);
  EXPECT_EQ(ml.find_user(2)->age, 53);
  EXPECT_EQ(ml.find_user(2)->gender, "F");
  EXPECT_EQ(ml.find_user(1)->occupation, "technician");
  EXPECT_EQ(ml.find_user(1)->zip, "85711");
  // ml-1m: "::" separators, Latin-1 titles, occupation codes named, "Children's" as later.
  fs::create_directories(tmp.file("1m"));
  write_file(tmp.file("1m/movies.dat"), "1::Caf\xe9 (1999)::Animation|Children's\n");
  write_file(tmp.file("1m/ratings.dat"), "1::1::4::978300760\n");
  write_file(tmp.file("1m/users.dat"), "1::F::1::10::48067\n");
  const MovieLens one = load(tmp.file("1m"));
  EXPECT_EQ(one.format, "ml-1m");
  EXPECT_EQ(one.movies[0].title, "Caf\xc3\xa9 (1999)");
  EXPECT_EQ(one.movies[0].genres, (std::vector<std::string>{"Animation", "Children"}));
  EXPECT_EQ(one.find_user(1)->occupation, "K-12 student");
  EXPECT_EQ(one.find_user(1)->age, 1);
  // ml-10m: UTF-8 titles stay as they are, tags.dat is read.
  fs::create_directories(tmp.file("10m"));
  write_file(tmp.file("10m/movies.dat"), "5::Caf\xc3\xa9 (2001)::(no genres listed)\n");
  write_file(tmp.file("10m/ratings.dat"), "7::5::3.5::1230000000\n");
  write_file(tmp.file("10m/tags.dat"), "7::5::Funny ::1230000001\n");
  const MovieLens ten = load(tmp.file("10m"));
  EXPECT_EQ(ten.format, "ml-10m");
  EXPECT_EQ(ten.movies[0].title, "Caf\xc3\xa9 (2001)");
  EXPECT_TRUE(ten.movies[0].genres.empty());
  EXPECT_FLOAT_EQ(ten.ratings.rating[0], 3.5f);
  ASSERT_EQ(ten.tags.size(), 1u);
  EXPECT_EQ(ten.tags[0].tag, "funny");
  EXPECT_TRUE(ten.users.empty());
}

// The binary cache of an older layout holds everything, users included, and a changed file
// is read again.
TEST(MovieLensFormats, TheCacheHoldsEveryLayoutUsersIncluded) {
  TempDir tmp;
  for (const std::string& layout : {std::string("ml-100k"), std::string("ml-1m")}) {
    SCOPED_TRACE(layout);
    SampleOptions sample{40, 60, 1500, 0, 3};
    sample.format = layout;
    const std::string dir = tmp.file(layout);
    write_sample_movielens(dir, sample);
    LoadOptions options;
    options.cache = true;
    const MovieLens first = load_movielens(dir, options);
    ASSERT_TRUE(fs::exists(dir + "/.dnnrec-cache/movielens-v4-" + layout + ".bin"));
    const MovieLens cached = load_movielens(dir, options);
    testing::expect_same_load(first, cached);
    EXPECT_EQ(cached.users.size(), 40u);
  }
}

struct BadCase {
  std::string layout;
  std::string file;     // the file the bad line goes into
  std::string line;     // inserted as the second line
  std::string message;  // part of the error
};

// A small good folder of each layout (two movies, three ratings, users where the layout has
// them), with `bad.line` inserted as line 2 of `bad.file`.
void write_layout(const std::string& dir, const BadCase& bad) {
  fs::create_directories(dir);
  const std::string none = "|0|0|0|0|0|0|0|0|0|0|0|0|0|0|0|0|0|0|0";
  std::vector<std::pair<std::string, std::vector<std::string>>> files;
  if (bad.layout == "ml-100k") {
    files = {{"u.item", {"1|A (1990)|||" + none, "2|B (1991)|||" + none}},
             {"u.data", {"1\t1\t5\t874965758", "1\t2\t3\t874965759", "2\t1\t4\t874965760"}},
             {"u.user", {"1|24|M|technician|85711", "2|30|F|writer|10001"}}};
  } else if (bad.layout == "ml-1m") {
    files = {{"movies.dat", {"1::A (1990)::Drama", "2::B (1991)::Comedy"}},
             {"ratings.dat", {"1::1::5::978300760", "1::2::3::978300761", "2::1::4::978300762"}},
             {"users.dat", {"1::F::1::10::48067", "2::M::25::12::10001"}}};
  } else {
    files = {{"movies.dat", {"1::A (1990)::Drama", "2::B (1991)::Comedy"}},
             {"ratings.dat", {"1::1::5::978300760", "1::2::3.5::978300761", "2::1::4::978300762"}},
             {"tags.dat", {"1::1::good::978300763", "2::2::fun::978300764"}}};
  }
  for (auto& [name, lines] : files) {
    if (name == bad.file) lines.insert(lines.begin() + 1, bad.line);
    std::string text;
    for (const std::string& line : lines) text += line + "\n";
    write_file(dir + "/" + name, text);
  }
}

// Every bad row of every layout: a DataError "file:2: reason" and exit code 2 from the CLI;
// under skip it is counted and the rest is kept.
TEST(MovieLensFormats, EveryBadRowNamesFileAndLineInEveryLayout) {
  const std::string none = "|0|0|0|0|0|0|0|0|0|0|0|0|0|0|0|0|0|0|0";
  const std::vector<BadCase> cases = {
      {"ml-100k", "u.data", "1\t2\t3", "expected 4 fields separated by '\t', got 3"},
      {"ml-100k", "u.data", "x\t2\t3\t874965758", "is not an integer"},
      {"ml-100k", "u.data", "3\t2\t9\t874965758", "rating 9 outside [0.5, 5]"},
      {"ml-100k", "u.data", "3\t7\t3\t874965758", "movieId 7 is not in u.item"},
      {"ml-100k", "u.data", "3\t2\t3\t99999999999", "is outside [0, 4102444800)"},
      {"ml-100k", "u.data", "1\t1\t2\t874965758", "duplicate rating of user 1 for movie 1"},
      {"ml-100k", "u.item", "3|C (1992)|||" + none.substr(0, none.size() - 2) + "|2",
       "column 'Western': expected 0 or 1"},
      {"ml-100k", "u.item", "1|A again (1990)|||" + none, "movie id 1 appears twice in u.item"},
      {"ml-100k", "u.user", "3|24|X|technician|85711", "gender: expected M or F"},
      {"ml-100k", "u.user", "3|-4|M|technician|85711", "age -4 is outside [0, 150]"},
      {"ml-100k", "u.user", "1|24|M|technician|85711", "user id 1 appears twice in u.user"},
      {"ml-1m", "ratings.dat", "1::2", "expected 4 fields separated by '::', got 2"},
      {"ml-1m", "ratings.dat", "3::9::4::978300760", "movieId 9 is not in movies.dat"},
      {"ml-1m", "ratings.dat", "3::1::0::978300760", "rating 0 outside [0.5, 5]"},
      {"ml-1m", "movies.dat", "3::C (1992)", "expected 3 fields separated by '::', got 2"},
      {"ml-1m", "movies.dat", "x::C (1992)::Drama", "is not an integer"},
      {"ml-1m", "users.dat", "3::F::1::21::48067", "is not a code from 0 to 20"},
      {"ml-1m", "users.dat", "3::F::a::2::48067", "is not an integer"},
      {"ml-10m", "ratings.dat", "3::1::4.5::-5", "is outside [0, 4102444800)"},
      {"ml-10m", "ratings.dat", std::string("3::1::4\0::978300760", 19), "NUL byte"},
      {"ml-10m", "tags.dat", "3::9::good::978300763", "movieId 9 is not in movies.dat"},
      {"ml-10m", "tags.dat", "3::1::   ::978300763", "column 'tag' is empty"},
      {"ml-10m", "movies.dat", "3::C (1992)::Dra\xffma", "not valid UTF-8"},
  };
  for (const BadCase& bad : cases) {
    SCOPED_TRACE(bad.layout + " " + bad.file + ": " + bad.message);
    TempDir tmp;
    const std::string dir = tmp.file(bad.layout);
    write_layout(dir, bad);
    std::string message;
    try {
      load(dir, bad.layout);
    } catch (const DataError& e) {
      message = e.what();
      EXPECT_EQ(e.exit_code(), kExitBadInput);
    }
    EXPECT_NE(message.find(bad.file + ":"), std::string::npos) << message;
    EXPECT_NE(message.find(bad.message), std::string::npos) << message;
    // Under skip the row is counted and the rest kept (a duplicate keeps its first rating).
    const MovieLens skipped = load(dir, bad.layout, BadRowPolicy::kSkip);
    EXPECT_EQ(skipped.report.skipped, 1) << skipped.report.summary();
    EXPECT_EQ(skipped.ratings.size(), 3u);
  }
  // The CLI's exit code for one case of each layout.
  for (const size_t i : {size_t{1}, size_t{12}, size_t{18}}) {
    TempDir tmp;
    write_layout(tmp.file("d"), cases[i]);
    const testing::Shell run =
        testing::shell("train --data " + tmp.file("d") + " --epochs 1 --out " + tmp.file("r"));
    EXPECT_EQ(run.code, kExitBadInput) << run.err;
    EXPECT_NE(run.err.find(cases[i].file + ":2:"), std::string::npos) << run.err;
  }
}

// scripts/fetch-movielens.sh NAME for the older releases: it copies a mirror's folder, checks the
// release's files and its number of ratings, and refuses a copy with another count.
TEST(MovieLensFormats, FetchScriptChecksEachReleasesFilesAndRatingCount) {
  TempDir tmp;
  SampleOptions sample{943, 1682, 100000, 0, 1};
  sample.format = "ml-100k";
  write_sample_movielens(tmp.file("mirror/ml-100k"), sample);
  sample = SampleOptions{100, 200, 5000, 0, 1};
  sample.format = "ml-1m";
  write_sample_movielens(tmp.file("mirror/ml-1m"), sample);
  const std::string script = std::string(DNNREC_SOURCE_DIR) + "/scripts/fetch-movielens.sh";
  const std::string env = "DNNREC_MOVIELENS_MIRROR=" + tmp.file("mirror") +
                          " DNNREC_DATA_ROOT=" + tmp.file("data") + " ";
  const testing::Shell good = testing::run_command(env + script + " ml-100k");
  EXPECT_EQ(good.code, 0) << good.out << good.err;
  EXPECT_NE(good.out.find("100000 ratings"), std::string::npos) << good.out;
  EXPECT_EQ(detect_movielens_format(tmp.file("data/ml-100k")), "ml-100k");
  const testing::Shell short_copy = testing::run_command(env + script + " ml-1m");
  EXPECT_NE(short_copy.code, 0);
  EXPECT_NE(short_copy.err.find("ratings.dat holds 5000 ratings, expected 1000209"),
            std::string::npos)
      << short_copy.err;
  EXPECT_FALSE(fs::exists(tmp.file("data/ml-1m")));
}

}  // namespace
}  // namespace dnnrec
