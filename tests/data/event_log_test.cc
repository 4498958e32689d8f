// data.format csv, a generic interaction log: its schema, string ids, implicit and untimed
// logs, item and user features, the cache, every bad row named by file:line, and the same
// ratings trained to the same metrics as through the MovieLens layout.
#include "data/event_log.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "data/csv_reader.h"
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

MovieLens load_log(const std::string& dir, const CsvSchema& schema,
                   BadRowPolicy policy = BadRowPolicy::kFail, bool cache = false) {
  LoadOptions options;
  options.format = "csv";
  options.csv = schema;
  options.on_bad_row = policy;
  options.cache = cache;
  return load_movielens(dir, options);
}

TEST(EventLog, StringKeysHashAboveEveryNumberTheSameEverywhere) {
  EXPECT_EQ(id_of_key("0"), 0);
  EXPECT_EQ(id_of_key("123"), 123);
  EXPECT_FALSE(is_hashed_id(id_of_key("123")));
  // Text, a leading zero (so "0123" and "123" stay apart), signs and huge numbers are strings.
  for (const char* key : {"abc", "0123", "-5", "+5", "4611686018427387904", "1.5", " 7"}) {
    SCOPED_TRACE(key);
    EXPECT_TRUE(is_hashed_id(id_of_key(key)));
    EXPECT_GE(id_of_key(key), 0);
  }
  EXPECT_NE(id_of_key("0123"), id_of_key("123"));
  // FNV-1a of the bytes: the same value on every machine, so checkpoints travel.
  EXPECT_EQ(id_of_key("sku-1"), 0x55ea9e427819cf8cLL) << std::hex << id_of_key("sku-1");
}

TEST(EventLog, DelimitedLinesHonourQuotes) {
  std::vector<std::string> f;
  ASSERT_TRUE(split_delimited("a,\"b,c\",\"say \"\"hi\"\"\",", ',', &f));
  EXPECT_EQ(f, (std::vector<std::string>{"a", "b,c", "say \"hi\"", ""}));
  ASSERT_TRUE(split_delimited("x\ty z\t", '\t', &f));
  EXPECT_EQ(f, (std::vector<std::string>{"x", "y z", ""}));
  EXPECT_FALSE(split_delimited("a,\"b", ',', &f));
  EXPECT_EQ(parse_delimiter("tab"), '\t');
  EXPECT_EQ(parse_delimiter(";"), ';');
  EXPECT_THROW(parse_delimiter(",,"), ConfigError);
  EXPECT_THROW(parse_delimiter("\""), ConfigError);
  const auto columns = parse_feature_columns("category,tags:|", "k");
  ASSERT_EQ(columns.size(), 2u);
  EXPECT_EQ(columns[1].column, "tags");
  EXPECT_EQ(columns[1].separator, "|");
  EXPECT_THROW(parse_feature_columns("a,,b", "k"), ConfigError);
  EXPECT_THROW(parse_feature_columns("tags:", "k"), ConfigError);
}

// A shop's log with string ids, quotes, a repeated purchase, item and user files.
TEST(EventLog, ALogWithStringIdsAndFeaturesLoads) {
  TempDir tmp;
  write_file(tmp.file("events.csv"),
             "user_id,item_id,ts,extra\n"
             "alice,sku-1,1000,x\n"
             "\"bob, jr\",sku-2,1001,y\n"
             "alice,sku-2,1002,\n"
             "\n"
             "alice,sku-1,1500,again\n"
             "7,42,1003,numeric\n");
  write_file(tmp.file("items.csv"),
             "item_id,category,tags\n"
             "sku-1,shoes,red|sale\n"
             "sku-2,hats,\n"
             "sku-9,socks,blue\n");
  write_file(tmp.file("users.csv"), "user_id,country\nalice,FR\n\"bob, jr\",DE\n");
  CsvSchema s;
  s.timestamp = "ts";
  s.items = "items.csv";
  s.item_features = parse_feature_columns("category,tags:|", "k");
  s.users = "users.csv";
  s.user_features = parse_feature_columns("country", "k");
  const MovieLens ml = load_log(tmp.path(), s);
  EXPECT_EQ(ml.format, "csv");
  EXPECT_TRUE(ml.implicit);
  EXPECT_TRUE(ml.timed);
  // alice bought sku-1 twice: the latest is kept, in file order of the kept rows.
  ASSERT_EQ(ml.ratings.size(), 4u);
  const int64_t alice = id_of_key("alice"), sku1 = id_of_key("sku-1");
  EXPECT_EQ(ml.ratings.user[0], id_of_key("bob, jr"));
  EXPECT_EQ(ml.ratings.user[2], alice);
  EXPECT_EQ(ml.ratings.movie[2], sku1);
  EXPECT_EQ(ml.ratings.timestamp[2], 1500);
  EXPECT_EQ(ml.ratings.rating[2], 1.0f);
  EXPECT_EQ(ml.ratings.user[3], 7);  // numeric keys stay numbers
  EXPECT_EQ(ml.ratings.movie[3], 42);
  EXPECT_EQ(ml.name_of(alice), "alice");
  EXPECT_EQ(ml.name_of(id_of_key("bob, jr")), "bob, jr");
  EXPECT_EQ(ml.name_of(42), "42");
  // Items: the item file's (features as column=value tokens, sku-9 without events included),
  // then the log's others, without features.
  ASSERT_EQ(ml.movies.size(), 4u);
  EXPECT_EQ(ml.find_movie(sku1)->genres,
            (std::vector<std::string>{"category=shoes", "tags=red", "tags=sale"}));
  EXPECT_EQ(ml.find_movie(id_of_key("sku-2"))->genres, (std::vector<std::string>{"category=hats"}));
  EXPECT_NE(ml.find_movie(id_of_key("sku-9")), nullptr);
  EXPECT_TRUE(ml.find_movie(42)->genres.empty());
  ASSERT_NE(ml.find_user(alice), nullptr);
  EXPECT_EQ(ml.find_user(alice)->attributes, (std::vector<std::string>{"country=FR"}));
  // The cache gives back the same, names and flags included.
  testing::expect_same_load(load_log(tmp.path(), s, BadRowPolicy::kFail, /*cache=*/true), ml);
  EXPECT_TRUE(fs::exists(tmp.file(".dnnrec-cache")));
  testing::expect_same_load(load_log(tmp.path(), s, BadRowPolicy::kFail, /*cache=*/true), ml);
  // Another schema of the same files is another cache: with a rating column ... there is
  // none here, so naming one is an error, not a stale cache.
  CsvSchema rated = s;
  rated.rating = "score";
  try {
    load_log(tmp.path(), rated, BadRowPolicy::kFail, true);
    FAIL() << "no error";
  } catch (const DataError& e) {
    EXPECT_NE(std::string(e.what()).find("events.csv:1: no column 'score' (data.csv_rating)"),
              std::string::npos)
        << e.what();
  }
  // Without a header, tab-separated, columns by number; untimed, with ratings.
  write_file(tmp.file("log.tsv"), "a\tx\t4.5\nb\tx\t2\n");
  CsvSchema tsv;
  tsv.events = "log.tsv";
  tsv.delimiter = '\t';
  tsv.header = false;
  tsv.user = "1";
  tsv.item = "2";
  tsv.rating = "3";
  const MovieLens plain = load_log(tmp.path(), tsv);
  EXPECT_FALSE(plain.implicit);
  EXPECT_FALSE(plain.timed);
  EXPECT_EQ(plain.ratings.rating, (std::vector<float>{4.5f, 2.0f}));
  tsv.user = "user";
  EXPECT_THROW(load_log(tmp.path(), tsv), ConfigError);
}

// Every bad row names the file, its line and what is wrong; under skip it is counted instead.
TEST(EventLog, EveryBadRowNamesFileAndLine) {
  struct Case {
    const char* file;
    const char* row;
    const char* message;
  };
  const std::vector<Case> cases = {
      {"events.csv", "u1,i1,4", "expected 4 fields separated by ',', got 3"},
      {"events.csv", "u1,i1,4,100,9", "expected 4 fields separated by ',', got 5"},
      {"events.csv", ",i1,4,100", "column 'user' is empty"},
      {"events.csv", "u1,,4,100", "column 'item' is empty"},
      {"events.csv", "u1,i1,four,100", "column 'stars'"},
      {"events.csv", "u1,i1,9,100", "rating \"9\" outside [0.5, 5]"},
      {"events.csv", "u1,i1,4,soon", "column 'time'"},
      {"events.csv", "u1,i1,4,-5", "column 'time': -5 is outside [0, "},
      {"events.csv", "u1,\"i1,4,100", "a quote is left open"},
      {"events.csv", "u1,i\xff,4,100", "not valid UTF-8"},
      {"items.csv", "i1,x", "item 'i1' appears twice in items.csv"},
      {"items.csv", ",x", "column 'item' is empty"},
      {"users.csv", "u1,y", "user 'u1' appears twice in users.csv"},
      {"users.csv", "u1", "expected 2 fields separated by ',', got 1"},
  };
  CsvSchema s;
  s.user = "user";
  s.item = "item";
  s.rating = "stars";
  s.timestamp = "time";
  s.items = "items.csv";
  s.item_key = "item";
  s.item_features = parse_feature_columns("kind", "k");
  s.users = "users.csv";
  s.user_key = "user";
  s.user_features = parse_feature_columns("group", "k");
  for (const Case& c : cases) {
    SCOPED_TRACE(c.row);
    TempDir tmp;
    std::string events = "user,item,stars,time\nu1,i1,4,100\nu2,i2,3,200\n";
    std::string items = "item,kind\ni1,x\ni2,y\n";
    std::string users = "user,group\nu1,a\nu2,b\n";
    std::string& target = std::string(c.file) == "events.csv"  ? events
                          : std::string(c.file) == "items.csv" ? items
                                                               : users;
    target += std::string(c.row) + "\n";  // line 4
    write_file(tmp.file("events.csv"), events);
    write_file(tmp.file("items.csv"), items);
    write_file(tmp.file("users.csv"), users);
    try {
      load_log(tmp.path(), s);
      ADD_FAILURE() << "no error";
    } catch (const DataError& e) {
      const std::string what = e.what();
      EXPECT_NE(what.find(std::string(c.file) + ":4: "), std::string::npos) << what;
      EXPECT_NE(what.find(c.message), std::string::npos) << what;
    }
    const MovieLens skipped = load_log(tmp.path(), s, BadRowPolicy::kSkip);
    EXPECT_EQ(skipped.report.skipped, 1);
    EXPECT_EQ(skipped.ratings.size(), 2u);
  }
  // The CLI: exit code 2 naming file:line.
  TempDir tmp;
  write_file(tmp.file("events.csv"), "user_id,item_id\nu1,i1\nu2\n");
  const testing::Shell run =
      testing::shell("train --data " + tmp.path() +
                     " --set data.format=csv --task ranking --split random-per-user --epochs 1");
  EXPECT_EQ(run.code, kExitBadInput);
  EXPECT_NE(run.err.find("events.csv:3: expected 2 fields"), std::string::npos) << run.err;
}

// What a log lacks, the run refuses clearly: an implicit log serves only the ranking task, an
// untimed one no temporal or leave-last split.
TEST(EventLog, TasksAndSplitsTheLogCannotServeAreRefused) {
  TempDir tmp;
  write_file(tmp.file("events.csv"), "user_id,item_id\nu1,i1\nu2,i1\n");
  const testing::Shell rating =
      testing::shell("train --data " + tmp.path() + " --set data.format=csv --epochs 1");
  EXPECT_EQ(rating.code, kExitBadInput);
  EXPECT_NE(rating.err.find("has no rating column"), std::string::npos) << rating.err;
  const testing::Shell last = testing::shell("train --data " + tmp.path() +
                                             " --set data.format=csv --task ranking"
                                             " --split leave-last --epochs 1");
  EXPECT_EQ(last.code, kExitBadInput);
  EXPECT_NE(last.err.find("has no timestamp column"), std::string::npos) << last.err;
}

// The sample's ratings as a log (numeric ids, the genres as a multi-valued item column) train
// to exactly the metrics of the MovieLens folder they came from.
TEST(EventLog, TheSameRatingsAsALogTrainToIdenticalMetrics) {
  TempDir tmp;
  write_sample_movielens(tmp.file("ml"), SampleOptions{80, 120, 4000, 0, 11});
  LoadOptions options;
  options.cache = false;
  const MovieLens ml = load_movielens(tmp.file("ml"), options);
  fs::create_directories(tmp.file("log"));
  std::string events = "uid;mid;stars;when\n", items = "mid;genres\n";
  for (size_t i = 0; i < ml.ratings.size(); ++i) {
    events += std::to_string(ml.ratings.user[i]) + ";" + std::to_string(ml.ratings.movie[i]) + ";" +
              format_number(ml.ratings.rating[i]) + ";" + std::to_string(ml.ratings.timestamp[i]) +
              "\n";
  }
  for (const Movie& m : ml.movies) {
    items += std::to_string(m.id) + ";";
    for (size_t g = 0; g < m.genres.size(); ++g) items += (g ? "|" : "") + m.genres[g];
    items += "\n";
  }
  write_file(tmp.file("log/events.csv"), events);
  write_file(tmp.file("log/items.csv"), items);
  const std::string common = " --set features.use_year=false --split temporal";
  const nlohmann::json base = testing::train_small_json("--data " + tmp.file("ml") + " --out " +
                                                        tmp.file("run-ml") + common);
  const nlohmann::json log = testing::train_small_json(
      "--data " + tmp.file("log") + " --out " + tmp.file("run-log") + common +
      " --set data.format=csv --set data.csv_delimiter=';' --set data.csv_user=uid"
      " --set data.csv_item=mid --set data.csv_rating=stars --set data.csv_timestamp=when"
      " --set data.csv_items=items.csv --set data.csv_item_key=mid"
      " --set 'data.csv_item_features=genres:|'");
  ASSERT_FALSE(base.is_null());
  ASSERT_FALSE(log.is_null());
  EXPECT_EQ(log["test"], base["test"]);
}

// `dnnrec sample --format csv` and configs/shop.yaml: a ranking model trains on string ids with
// item and user features, and `recommend` writes the ids as the log spells them.
TEST(EventLog, TheShopSampleTrainsAndRecommendsByItsOwnIds) {
  TempDir tmp;
  const std::string dir = tmp.file("shop");
  const testing::Shell sampled = testing::shell("sample --format csv --out " + dir +
                                                " --users 120 --movies 150 --ratings 6000");
  ASSERT_EQ(sampled.code, 0) << sampled.err;
  EXPECT_TRUE(fs::exists(dir + "/events.csv"));
  EXPECT_FALSE(fs::exists(dir + "/ratings.csv"));
  const std::string config = std::string(DNNREC_SOURCE_DIR) + "/configs/shop.yaml";
  const nlohmann::json result = testing::train_small_json("--config " + config + " --data " + dir +
                                                          " --out " + tmp.file("run"));
  ASSERT_FALSE(result.is_null());
  EXPECT_GT(result["test"]["ndcg@10"].get<double>(), 0.0);
  const testing::Shell recs = testing::shell("recommend --checkpoint " + tmp.file("run/best.pt") +
                                             " --users all -k 5 --output " + tmp.file("recs.csv"));
  ASSERT_EQ(recs.code, 0) << recs.err;
  const auto rows = testing::read_csv(tmp.file("recs.csv"));
  ASSERT_GT(rows.size(), 100u);
  EXPECT_EQ(rows[0], (std::vector<std::string>{"userId", "rank", "movieId", "score"}));
  EXPECT_EQ(rows[1][0].rfind("u", 0), 0u) << rows[1][0];
  EXPECT_EQ(rows[1][2].rfind("sku-", 0), 0u) << rows[1][2];
  const testing::Shell one = testing::shell("recommend --checkpoint " + tmp.file("run/best.pt") +
                                            " --user " + rows[1][0] + " -k 5 --json");
  ASSERT_EQ(one.code, 0) << one.err;
  const nlohmann::json list = nlohmann::json::parse(one.out);
  EXPECT_EQ(list["user"], rows[1][0]);
  EXPECT_EQ(list["recommendations"][0]["movieId"], rows[1][2]);
}

}  // namespace
}  // namespace dnnrec
