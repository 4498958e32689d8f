// Features: Keras pad_sequences semantics, vocabularies and unknown ids, per-movie features,
// and the no-leak guarantee of histories and tags.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <set>

#include "data/batch.h"
#include "data/features.h"
#include "data/load.h"
#include "data/sample.h"
#include "data/split.h"
#include "dnnrec/error.h"
#include "test_util.h"

namespace dnnrec {
namespace {

using Seq = std::vector<int64_t>;

TEST(PadSequences, MatchesKerasPreAndPost) {
  // keras.utils.pad_sequences([[1,2,3],[4],[5,6,7,8,9]], maxlen=4, padding=p, truncating=t)
  const std::vector<Seq> seqs = {{1, 2, 3}, {4}, {5, 6, 7, 8, 9}};
  EXPECT_EQ(pad_sequences(seqs, 4, PadSide::kPre, PadSide::kPre),
            (Seq{0, 1, 2, 3, /**/ 0, 0, 0, 4, /**/ 6, 7, 8, 9}));
  EXPECT_EQ(pad_sequences(seqs, 4, PadSide::kPost, PadSide::kPre),
            (Seq{1, 2, 3, 0, /**/ 4, 0, 0, 0, /**/ 6, 7, 8, 9}));
  EXPECT_EQ(pad_sequences(seqs, 4, PadSide::kPre, PadSide::kPost),
            (Seq{0, 1, 2, 3, /**/ 0, 0, 0, 4, /**/ 5, 6, 7, 8}));
  EXPECT_EQ(pad_sequences(seqs, 4, PadSide::kPost, PadSide::kPost),
            (Seq{1, 2, 3, 0, /**/ 4, 0, 0, 0, /**/ 5, 6, 7, 8}));
}

TEST(PadSequences, EmptySequencesCustomValueAndZeroLength) {
  EXPECT_EQ(pad_sequences({{}, {7}}, 2, PadSide::kPre, PadSide::kPre, -1), (Seq{-1, -1, -1, 7}));
  EXPECT_TRUE(pad_sequences({{1, 2}}, 0).empty());
  EXPECT_EQ(parse_pad_side("post"), PadSide::kPost);
  EXPECT_THROW(parse_pad_side("middle"), Error);
}

TEST(Vocab, ReservesPaddingAndUnknown) {
  Vocab<int64_t> v;
  EXPECT_EQ(v.add(42), 2);
  EXPECT_EQ(v.add(7), 3);
  EXPECT_EQ(v.add(42), 2);
  EXPECT_EQ(v.lookup(7), 3);
  EXPECT_EQ(v.lookup(999), Vocab<int64_t>::kUnknown);
  EXPECT_EQ(v.size(), 4);  // two keys + padding + unknown
  EXPECT_EQ(year_bucket(0), Vocab<int64_t>::kUnknown);
  EXPECT_EQ(year_bucket(1995), 2 + 19);  // (1995 - 1900) / 5 = 19
  EXPECT_EQ(year_bucket(1850), 2);       // clamped to the first bucket
}

// One user whose ratings alternate between splits, so any leak would show in the history.
struct LeakFixture {
  MovieLens data;
  Split split;
  LeakFixture() {
    data.movies = {{10, "A (1990)", {"Drama"}, 1990},
                   {11, "B (2001)", {"Comedy", "Drama"}, 2001},
                   {12, "C", {"Horror"}, 0},
                   {13, "D (1970)", {"Western"}, 1970},
                   {14, "E (1980)", {}, 1980}};
    for (size_t i = 0; i < data.movies.size(); ++i) data.movie_index[data.movies[i].id] = i;
    auto add = [&](int64_t u, int64_t m, float rating, int64_t t) {
      data.ratings.user.push_back(u);
      data.ratings.movie.push_back(m);
      data.ratings.rating.push_back(rating);
      data.ratings.timestamp.push_back(t);
    };
    add(1, 10, 4.0f, 100);  // row 0 train
    add(1, 11, 3.0f, 200);  // row 1 val
    add(1, 12, 5.0f, 300);  // row 2 train
    add(1, 13, 2.0f, 400);  // row 3 test
    add(1, 14, 1.0f, 500);  // row 4 train
    add(2, 10, 3.0f, 150);  // row 5 train
    add(2, 12, 3.0f, 150);  // row 6 train, same second as row 5
    split.train = {0, 2, 4, 5, 6};
    split.val = {1};
    split.test = {3};
    // Tags: on a training pair (kept), on the val pair (leak: dropped), by a user on a movie
    // nobody holds out (kept), and one newer than every training rating (dropped).
    data.tags = {{1, 10, "classic", 110}, {2, 10, "classic", 160}, {1, 11, "funny", 210},
                 {3, 12, "gory", 120},    {3, 12, "Gory", 130},    {3, 10, "slow", 140},
                 {3, 12, "future", 9999}};
    data.tags[4].tag = "gory";  // the loader normalises tags
  }
  /// Histories of 3, genres and tags of 2, fitted on the training rows; `split_name` picks the
  /// history of training examples (auto: random -> others, temporal -> before).
  FeatureBuilder fitted(const std::string& split_name = "temporal") const {
    FeaturesConfig fc;
    fc.history_len = 3;
    fc.genre_len = 2;
    fc.tag_len = 2;
    FeatureBuilder builder(fc, split_name);
    builder.fit(data, split.train);
    return builder;
  }
};

TEST(Features, BeforeHistoriesUseOnlyEarlierTrainingRatings) {
  LeakFixture f;
  const FeatureBuilder builder = f.fitted("temporal");
  EXPECT_EQ(builder.history_mode(), HistoryMode::kBefore);
  const auto& v = builder.vocabs();
  const int64_t m10 = v.movies.lookup(10), m12 = v.movies.lookup(12), m14 = v.movies.lookup(14);

  Columns train = builder.transform_train(f.data, f.split.train);
  // Row 4 (t=500) sees rows 0 and 2 only: row 1 (val, t=200) and row 3 (test) never appear.
  EXPECT_EQ(train.history_of(2), (Seq{0, m10, m12}));
  // Row 0 (t=100) has no earlier rating; row 6 does not see row 5 from the same second.
  EXPECT_EQ(train.history_of(0), (Seq{0, 0, 0}));
  EXPECT_EQ(train.history_of(4), (Seq{0, 0, 0}));

  // The test row (movie 13 not in training) maps its movie to unknown. Like any served pair it
  // gets the user's latest training ratings, the last 3; val and test ratings never appear.
  Columns test = builder.transform(f.data, f.split.test);
  EXPECT_EQ(test.movie[0], Vocab<int64_t>::kUnknown);
  EXPECT_EQ(test.history_of(0), (Seq{m10, m12, m14}));
  EXPECT_EQ(test.rating[0], 2.0f);
  // Genres are catalogue metadata, but "Western" only occurs on a held-out movie: unknown.
  EXPECT_EQ(test.genres_of(0), (Seq{0, Vocab<int64_t>::kUnknown}));
  // Prediction pairs see the whole training history, the last 3.
  Columns pair = builder.transform_pairs(f.data, {1}, {10});
  EXPECT_EQ(pair.history_of(0), (Seq{m10, m12, m14}));
  // An unseen user maps to unknown, with an empty history.
  Columns stranger = builder.transform_pairs(f.data, {77}, {10});
  EXPECT_EQ(stranger.user[0], Vocab<int64_t>::kUnknown);
  EXPECT_EQ(stranger.history_of(0), (Seq{0, 0, 0}));
}

TEST(Features, OthersHistoriesAreTheUsersOtherTrainingRatings) {
  LeakFixture f;
  const FeatureBuilder builder = f.fitted("random");
  EXPECT_EQ(builder.history_mode(), HistoryMode::kOthers);
  const auto& v = builder.vocabs();
  const int64_t m10 = v.movies.lookup(10), m12 = v.movies.lookup(12), m14 = v.movies.lookup(14);
  // Training rows 0, 2, 4 (user 1) and 5, 6 (user 2, the same second): each sees the user's
  // training ratings but itself, in time order; never the val or test rating.
  Columns train = builder.transform_train(f.data, f.split.train);
  EXPECT_EQ(train.history_of(0), (Seq{0, m12, m14}));
  EXPECT_EQ(train.history_of(1), (Seq{0, m10, m14}));
  EXPECT_EQ(train.history_of(2), (Seq{0, m10, m12}));
  EXPECT_EQ(train.history_of(3), (Seq{0, 0, m12}));
  EXPECT_EQ(train.history_of(4), (Seq{0, 0, m10}));
  // Held-out rows are served rows: the latest training ratings, whatever the mode.
  Columns test = builder.transform(f.data, f.split.test);
  EXPECT_EQ(test.history_of(0), (Seq{m10, m12, m14}));
  // A row that features were not fitted on has no "self" to leave out.
  EXPECT_THROW(builder.transform_train(f.data, f.split.val), Error);
}

TEST(Features, OthersKeepsTheNewestOrOldestByTruncating) {
  LeakFixture f;
  FeaturesConfig fc;
  fc.history_len = 1;
  for (const char* truncating : {"pre", "post"}) {
    for (const char* padding : {"pre", "post"}) {
      fc.truncating = truncating;
      fc.padding = padding;
      FeatureBuilder builder(fc, "random");
      builder.fit(f.data, f.split.train);
      const auto& v = builder.vocabs();
      Columns train = builder.transform_train(f.data, f.split.train);
      const bool newest = std::string(truncating) == "pre";
      SCOPED_TRACE(std::string(truncating) + "/" + padding);
      // Row 0 (m10): others m12, m14. Row 4 (m14): others m10, m12.
      EXPECT_EQ(train.history_of(0), (Seq{v.movies.lookup(newest ? 14 : 12)}));
      EXPECT_EQ(train.history_of(2), (Seq{v.movies.lookup(newest ? 12 : 10)}));
    }
  }
}

TEST(Features, HeldOutRowsAreEncodedExactlyAsServedPairs) {
  testing::TempDir dir;
  write_sample_movielens(dir.path(), SampleOptions{60, 90, 3000, 200, 5});
  MovieLens data = load_movielens(dir.path());
  for (const char* split_name : {"random", "temporal", "leave-last"}) {
    SCOPED_TRACE(split_name);
    DataConfig dc;
    dc.split = split_name;
    Split split = split_ratings(data.ratings, dc);
    FeaturesConfig fc;
    fc.history_len = 7;
    FeatureBuilder builder(fc, split_name);
    builder.fit(data, split.train);
    std::vector<int64_t> rows = split.test;
    rows.insert(rows.end(), split.val.begin(), split.val.end());
    std::vector<int64_t> users, movies;
    for (int64_t row : rows) {
      users.push_back(data.ratings.user[row]);
      movies.push_back(data.ratings.movie[row]);
    }
    const Columns held = builder.transform(data, rows);
    const Columns served = builder.transform_pairs(data, users, movies);
    ASSERT_EQ(held.rows, served.rows);
    EXPECT_EQ(held.user, served.user);
    EXPECT_EQ(held.movie, served.movie);
    EXPECT_EQ(held.item, served.item);
    EXPECT_EQ(held.history, served.history);
    EXPECT_EQ(held.exclude, served.exclude);
    for (size_t i = 0; i < rows.size(); ++i) {
      EXPECT_EQ(held.rating[i], data.ratings.rating[rows[i]]);
    }
  }
}

TEST(Features, UserDescriptionsBecomeProfileTokens) {
  // Ages in years fall into ml-1m's groups; its groups map to themselves.
  EXPECT_EQ(age_group(7), 1);
  EXPECT_EQ(age_group(18), 18);
  EXPECT_EQ(age_group(24), 18);
  EXPECT_EQ(age_group(34), 25);
  EXPECT_EQ(age_group(49), 45);
  EXPECT_EQ(age_group(55), 50);
  EXPECT_EQ(age_group(73), 56);
  for (int group : {1, 18, 25, 35, 45, 50, 56}) EXPECT_EQ(age_group(group), group);
  EXPECT_EQ(age_group(0), 0);
  const UserInfo user{5, "F", 29, "writer", "55117-1234"};
  EXPECT_EQ(user_tokens(user, 2),
            (std::vector<std::string>{"gender=F", "age=25", "occupation=writer", "zip=55"}));
  EXPECT_EQ(user_tokens(user, 0).size(), 3u);  // zip_prefix 0: no zip
  EXPECT_EQ(user_tokens(user, 20).back(), "zip=55117-1234");
  // What is not known contributes nothing.
  EXPECT_EQ(user_tokens(UserInfo{6, "", 0, "", "T8H1N"}, 3), (std::vector<std::string>{"zip=T8H"}));
}

// The profile field: every described user's tokens, from the training users' vocabulary, for
// training rows, held-out rows and served pairs alike; a user without training ratings still
// gets their description, a user the data does not describe gets none.
TEST(Features, TheProfileColumnCarriesTheUsersDescription) {
  LeakFixture f;
  f.data.users = {{2, "M", 35, "lawyer", "10001"},
                  {1, "F", 25, "writer", "55117"},
                  {9, "F", 50, "doctor", "90210"}};  // no rating at all
  for (size_t i = 0; i < f.data.users.size(); ++i) f.data.user_index[f.data.users[i].id] = i;
  const FeatureBuilder builder = f.fitted();
  const auto& v = builder.vocabs();
  // Tokens of the training users (1, then 2: first seen in training), never user 9's own.
  EXPECT_EQ(v.profile.keys(),
            (std::vector<std::string>{"gender=F", "age=25", "occupation=writer", "zip=55",
                                      "gender=M", "age=35", "occupation=lawyer", "zip=10"}));
  const FeatureSpec spec = builder.spec(DataConfig{});
  EXPECT_TRUE(spec.use_profile);
  EXPECT_EQ(spec.n_profile, 10);
  auto ids = [&](const std::vector<std::string>& tokens) {
    Seq out;
    for (const auto& t : tokens) out.push_back(v.profile.lookup(t));
    return out;
  };
  const Seq user1 = ids({"gender=F", "age=25", "occupation=writer", "zip=55"});
  const Seq user2 = ids({"gender=M", "age=35", "occupation=lawyer", "zip=10"});
  Columns train = builder.transform_train(f.data, f.split.train);  // rows 0, 2, 4 (user 1), 5, 6
  EXPECT_EQ(train.ids_of("profile", 0), user1);
  EXPECT_EQ(train.ids_of("profile", 3), user2);
  EXPECT_EQ(builder.transform(f.data, f.split.test).ids_of("profile", 0), user1);
  // User 9: known tokens where the training users had them, unknown for the rest.
  const int64_t unknown = Vocab<int64_t>::kUnknown;
  EXPECT_EQ(builder.transform_pairs(f.data, {9}, {10}).ids_of("profile", 0),
            (Seq{v.profile.lookup("gender=F"), unknown, unknown, unknown}));
  EXPECT_EQ(builder.transform_pairs(f.data, {77}, {10}).ids_of("profile", 0), (Seq{0, 0, 0, 0}));
  // The batch carries the column.
  TensorData data(train, "rating", 4.0);
  const torch::Tensor batch = data.slice(0, 5).column("profile");
  ASSERT_EQ(batch.sizes(), torch::IntArrayRef({5, 4}));
  EXPECT_EQ(Seq(batch[3].data_ptr<int64_t>(), batch[3].data_ptr<int64_t>() + 4), user2);
  // features.user_features off, or data without descriptions: no profile field at all.
  FeaturesConfig off;
  off.user_features = false;
  FeatureBuilder without(off, "temporal");
  without.fit(f.data, f.split.train);
  EXPECT_TRUE(without.vocabs().profile.keys().empty());
  EXPECT_FALSE(without.spec(DataConfig{}).use_profile);
  EXPECT_EQ(without.transform_pairs(f.data, {1}, {10}).ids_of("profile", 0), Seq{});
  LeakFixture plain;
  EXPECT_FALSE(plain.fitted().spec(DataConfig{}).use_profile);
}

TEST(Features, HistoryModeFollowsTheSplitAndRefusesBeforeWithRandom) {
  EXPECT_EQ(resolve_history_mode("auto", "random"), HistoryMode::kOthers);
  EXPECT_EQ(resolve_history_mode("auto", "temporal"), HistoryMode::kBefore);
  EXPECT_EQ(resolve_history_mode("auto", "leave-last"), HistoryMode::kBefore);
  EXPECT_EQ(resolve_history_mode("others", "leave-last"), HistoryMode::kOthers);
  EXPECT_EQ(resolve_history_mode("before", "temporal"), HistoryMode::kBefore);
  try {
    resolve_history_mode("before", "random");
    FAIL() << "before with the random split was accepted";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("timeline"), std::string::npos) << e.what();
  }
  EXPECT_THROW(resolve_history_mode("sometimes", "random"), ConfigError);
  FeaturesConfig fc;
  fc.history = "before";
  EXPECT_THROW(FeatureBuilder(fc, "random"), ConfigError);
}

TEST(TensorData, BatchesCarryEveryFeatureOfTheirExamples) {
  LeakFixture f;
  const FeatureBuilder builder = f.fitted();
  Columns columns = builder.transform_train(f.data, f.split.train);
  TensorData data(columns, "binary", 4.0);
  ASSERT_EQ(data.size(), 5);
  EXPECT_EQ(data.targets(), (std::vector<float>{1, 1, 0, 0, 0}));  // ratings 4, 5, 1, 3, 3
  auto as_seq = [](const torch::Tensor& t) {
    torch::Tensor c = t.contiguous();
    return Seq(c.data_ptr<int64_t>(), c.data_ptr<int64_t>() + c.numel());
  };
  const std::vector<std::pair<Batch, Seq>> cases = {
      {data.gather(torch::tensor({4, 2, 2}, torch::kLong)), {4, 2, 2}},
      {data.slice(2, 5), {2, 3, 4}}};
  for (const auto& [b, rows] : cases) {
    ASSERT_EQ(b.size(), 3);
    for (int64_t i = 0; i < 3; ++i) {
      const int64_t row = rows[i];
      SCOPED_TRACE(row);
      EXPECT_EQ(b.user[i].item<int64_t>(), columns.user[row]);
      EXPECT_EQ(b.movie[i].item<int64_t>(), columns.movie[row]);
      EXPECT_EQ(b.year[i].item<int64_t>(), columns.year_of(row));
      EXPECT_EQ(as_seq(b.genres[i]), columns.genres_of(row));
      EXPECT_EQ(as_seq(b.tags[i]), columns.tags_of(row));
      EXPECT_EQ(as_seq(b.history[i]), columns.history_of(row));
      EXPECT_EQ(b.target[i].item<float>(), data.targets()[row]);
    }
  }
  EXPECT_THROW(data.gather(torch::tensor({5}, torch::kLong)), c10::Error);
}

TEST(Features, VocabulariesAndTagsComeFromTrainingOnly) {
  LeakFixture f;
  FeaturesConfig fc;
  fc.tag_len = 2;
  FeatureBuilder builder(fc, "random");
  builder.fit(f.data, f.split.train);
  const auto& v = builder.vocabs();
  EXPECT_EQ(v.movies.lookup(11), Vocab<int64_t>::kUnknown);  // only rated in val
  EXPECT_EQ(v.movies.lookup(13), Vocab<int64_t>::kUnknown);  // only rated in test
  EXPECT_EQ(v.users.size(), 4);                              // users 1, 2 + pad + unknown
  EXPECT_EQ(v.genres.lookup("Comedy"), Vocab<int64_t>::kUnknown);
  EXPECT_EQ(v.tags.lookup("funny"), Vocab<int64_t>::kUnknown);   // tag on the val pair
  EXPECT_EQ(v.tags.lookup("future"), Vocab<int64_t>::kUnknown);  // newer than training
  // Movie 10: "classic" twice, "slow" once -> most frequent first.
  EXPECT_EQ(v.movie_tags.at(10), (Seq{v.tags.lookup("classic"), v.tags.lookup("slow")}));
  EXPECT_EQ(v.movie_tags.at(12), (Seq{v.tags.lookup("gory")}));
  // Mean of the training ratings 4, 5, 1, 3, 3.
  EXPECT_DOUBLE_EQ(v.global_mean, 16.0 / 5.0);
  // Padding is "pre" by default: tags at the end.
  Columns c = builder.transform(f.data, {0});
  EXPECT_EQ(c.tags_of(0), (Seq{v.tags.lookup("classic"), v.tags.lookup("slow")}));
  EXPECT_EQ(c.year_of(0), year_bucket(1990));
}

TEST(Features, NoHeldOutRatingReachesAnyTrainingFeatureOnSampleData) {
  testing::TempDir dir;
  write_sample_movielens(dir.path(), SampleOptions{});
  MovieLens data = load_movielens(dir.path());
  for (const char* split_name : {"random", "temporal"}) {
    SCOPED_TRACE(split_name);
    DataConfig dc;
    dc.split = split_name;
    Split split = split_ratings(data.ratings, dc);
    FeaturesConfig fc;
    fc.history_len = 50;
    FeatureBuilder builder(fc, split_name);
    builder.fit(data, split.train);
    const bool before = builder.history_mode() == HistoryMode::kBefore;
    Columns train = builder.transform_train(data, split.train);
    const auto& v = builder.vocabs();
    // (user index, movie index) -> the training rows of that user and movie.
    std::map<std::pair<int64_t, int64_t>, std::vector<int64_t>> train_rows;
    for (int64_t row : split.train) {
      train_rows[{v.users.lookup(data.ratings.user[row]), v.movies.lookup(data.ratings.movie[row])}]
          .push_back(row);
    }
    int64_t checked = 0;
    for (int64_t i = 0; i < train.rows; ++i) {
      const int64_t self = split.train[i];
      const int64_t t = data.ratings.timestamp[self];
      std::map<int64_t, int> seen;  // history item -> times it appears
      for (const int64_t movie : train.history_of(i)) {
        if (movie == 0) continue;
        auto it = train_rows.find({train.user[i], movie});
        ASSERT_NE(it, train_rows.end()) << "history item is not a training rating of the user";
        // The rows this history item can stand for: earlier ones (before), any but the
        // example itself (others).
        const auto usable = std::count_if(it->second.begin(), it->second.end(), [&](int64_t row) {
          return before ? data.ratings.timestamp[row] < t : row != self;
        });
        EXPECT_LE(++seen[movie], usable) << "history item is the example itself or later";
        ++checked;
      }
    }
    EXPECT_GT(checked, 10000);
  }
}

}  // namespace
}  // namespace dnnrec
