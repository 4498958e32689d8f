// Features: Keras pad_sequences semantics, vocabularies and unknown ids, per-movie features,
// and the no-leak guarantee of histories and tags.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <set>

#include "dnnrec/batch.h"
#include "dnnrec/error.h"
#include "dnnrec/features.h"
#include "dnnrec/split.h"
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
  /// Histories of 3, genres and tags of 2, fitted on the training rows.
  FeatureBuilder fitted() const {
    FeaturesConfig fc;
    fc.history_len = 3;
    fc.genre_len = 2;
    fc.tag_len = 2;
    FeatureBuilder builder(fc);
    builder.fit(data, split.train);
    return builder;
  }
};

TEST(Features, HistoriesUseOnlyEarlierTrainingRatings) {
  LeakFixture f;
  const FeatureBuilder builder = f.fitted();
  const auto& v = builder.vocabs();
  const int64_t m10 = v.movies.lookup(10), m12 = v.movies.lookup(12), m14 = v.movies.lookup(14);

  Columns train = builder.transform(f.data, f.split.train);
  // Row 4 (t=500) sees rows 0 and 2 only: row 1 (val, t=200) and row 3 (test) never appear.
  EXPECT_EQ(train.history_of(2), (Seq{0, m10, m12}));
  // Row 0 (t=100) has no earlier rating; row 6 does not see row 5 from the same second.
  EXPECT_EQ(train.history_of(0), (Seq{0, 0, 0}));
  EXPECT_EQ(train.history_of(4), (Seq{0, 0, 0}));

  // The test row (t=400, movie 13 not in training) maps its movie to unknown and sees the
  // training ratings before it.
  Columns test = builder.transform(f.data, f.split.test);
  EXPECT_EQ(test.movie[0], Vocab<int64_t>::kUnknown);
  EXPECT_EQ(test.history_of(0), (Seq{0, m10, m12}));
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

TEST(TensorData, BatchesCarryEveryFeatureOfTheirExamples) {
  LeakFixture f;
  const FeatureBuilder builder = f.fitted();
  Columns columns = builder.transform(f.data, f.split.train);
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
  FeatureBuilder builder(fc);
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
  DataConfig dc;
  Split split = split_ratings(data.ratings, dc);
  FeaturesConfig fc;
  fc.history_len = 50;
  FeatureBuilder builder(fc);
  builder.fit(data, split.train);
  Columns train = builder.transform(data, split.train);
  const auto& v = builder.vocabs();
  // (user index, movie index) -> timestamps of that user's training ratings of the movie.
  std::map<std::pair<int64_t, int64_t>, std::vector<int64_t>> train_times;
  for (int64_t row : split.train) {
    train_times[{v.users.lookup(data.ratings.user[row]), v.movies.lookup(data.ratings.movie[row])}]
        .push_back(data.ratings.timestamp[row]);
  }
  int64_t checked = 0;
  for (int64_t i = 0; i < train.rows; ++i) {
    const int64_t t = data.ratings.timestamp[split.train[i]];
    for (const int64_t movie : train.history_of(i)) {
      if (movie == 0) continue;
      auto it = train_times.find({train.user[i], movie});
      ASSERT_NE(it, train_times.end()) << "history item is not a training rating of the user";
      EXPECT_TRUE(std::any_of(it->second.begin(), it->second.end(), [t](int64_t time) {
        return time < t;
      })) << "history item is not strictly earlier";
      ++checked;
    }
  }
  EXPECT_GT(checked, 10000);
}

}  // namespace
}  // namespace dnnrec
