// Checkpoints: round trip of every part, and clear refusal of truncated, corrupted, foreign
// and newer-format files.
#include <gtest/gtest.h>

#include <fstream>

#include "data/load.h"
#include "data/sample.h"
#include "data/split.h"
#include "dnnrec/error.h"
#include "test_util.h"
#include "train/checkpoint.h"
#include "train/trainer.h"

namespace dnnrec {
namespace {

struct Saved {
  testing::TempDir dir;
  std::string path;
  Config config;
  FeatureVocabs vocabs;
  RecModel model;
  CheckpointMeta meta;

  Saved() {
    write_sample_movielens(dir.file("data"), SampleOptions{50, 80, 2000, 200, 3});
    MovieLens data = load_movielens(dir.file("data"));
    Split split = split_ratings(data.ratings, config.data);
    FeatureBuilder builder(config.features, config.data.split);
    builder.fit(data, split.train);
    vocabs = builder.vocabs();
    model = make_model(config.model, builder.spec(config.data), 3.5);
    config.train.epochs = 1;
    Trainer trainer(model, config, torch::kCPU);
    TensorData train(builder.transform_train(data, split.train), "rating", 4.0);
    trainer.fit(train, nullptr, {});  // so the optimizer has state to save
    meta.dnnrec_version = "test";
    meta.created_at = "2026-01-01T00:00:00";
    meta.config_yaml = config.to_yaml();
    meta.data_dir = dir.file("data");
    meta.data_fingerprint = "2000:abc";
    meta.epoch = 7;
    meta.step = 1234;
    meta.monitor = "val_rmse";
    meta.best_value = 0.8765;
    meta.best_epoch = 6;
    meta.offset = 3.5;
    meta.metrics = {{"val_rmse", 0.8765}, {"train_loss", 0.7}};
    path = dir.file("model.pt");
    save_checkpoint(path, meta, vocabs, *model, &trainer.optimizer());
  }
};

TEST(Checkpoint, RoundTripsEveryPart) {
  Saved s;
  Checkpoint c = load_checkpoint(s.path);
  EXPECT_EQ(c.meta.format_version, kCheckpointFormat);
  EXPECT_EQ(c.meta.config_yaml, s.config.to_yaml());
  EXPECT_EQ(c.config.to_yaml(), s.config.to_yaml());
  EXPECT_EQ(c.meta.data_dir, s.meta.data_dir);
  EXPECT_EQ(c.meta.data_fingerprint, "2000:abc");
  EXPECT_EQ(c.meta.epoch, 7);
  EXPECT_EQ(c.meta.step, 1234);
  EXPECT_EQ(c.meta.best_epoch, 6);
  EXPECT_DOUBLE_EQ(c.meta.best_value, 0.8765);
  EXPECT_DOUBLE_EQ(c.meta.offset, 3.5);
  EXPECT_EQ(c.meta.metrics, s.meta.metrics);
  EXPECT_FALSE(c.meta.weights_only);
  EXPECT_EQ(c.vocabs.users.keys(), s.vocabs.users.keys());
  EXPECT_EQ(c.vocabs.movies.keys(), s.vocabs.movies.keys());
  EXPECT_EQ(c.vocabs.genres.keys(), s.vocabs.genres.keys());
  EXPECT_EQ(c.vocabs.tags.keys(), s.vocabs.tags.keys());
  EXPECT_EQ(c.vocabs.movie_tags, s.vocabs.movie_tags);
  EXPECT_FALSE(c.vocabs.movie_tags.empty());
  EXPECT_DOUBLE_EQ(c.vocabs.global_mean, s.vocabs.global_mean);

  FeatureSpec spec;
  spec.n_users = c.vocabs.users.size();
  spec.n_movies = c.vocabs.movies.size();
  spec.n_genres = c.vocabs.genres.size();
  spec.n_tags = c.vocabs.tags.size();
  spec.n_years = kYearBuckets;
  RecModel loaded = c.make_model(spec);
  auto a = s.model->named_parameters();
  auto b = loaded->named_parameters();
  ASSERT_EQ(a.size(), b.size());
  for (const auto& item : a) EXPECT_TRUE(torch::equal(item.value(), b[item.key()])) << item.key();
  Trainer trainer(loaded, c.config, torch::kCPU);
  EXPECT_TRUE(c.load_optimizer(trainer.optimizer()));
}

TEST(Checkpoint, RefusesTruncatedCorruptedForeignAndNewerFiles) {
  Saved s;
  const std::string bytes = testing::read_file(s.path);
  auto message = [&](const std::string& content) -> std::string {
    testing::write_file(s.dir.file("bad.pt"), content);
    try {
      load_checkpoint(s.dir.file("bad.pt"));
    } catch (const CheckpointError& e) {
      return e.what();
    }
    return "no error";
  };
  EXPECT_NE(message(bytes.substr(0, bytes.size() / 2)).find("truncated"), std::string::npos);
  std::string flipped = bytes;
  flipped[bytes.size() / 2] ^= 0x5A;
  EXPECT_NE(message(flipped).find("checksum"), std::string::npos);
  EXPECT_NE(message("userId,movieId\n1,2\n").find("not a dnnrec checkpoint"), std::string::npos);
  EXPECT_NE(message("").find("not a dnnrec checkpoint"), std::string::npos);
  std::string newer = bytes;
  newer[8] = static_cast<char>(kCheckpointFormat + 1);
  EXPECT_NE(message(newer).find("newer"), std::string::npos);
  EXPECT_THROW(load_checkpoint(s.dir.file("missing.pt")), CheckpointError);
}

TEST(Checkpoint, WeightsOnlyHasNoOptimizerState) {
  Saved s;
  save_checkpoint(s.dir.file("w.pt"), s.meta, s.vocabs, *s.model, nullptr);
  Checkpoint c = load_checkpoint(s.dir.file("w.pt"));
  EXPECT_TRUE(c.meta.weights_only);
  Trainer trainer(s.model, c.config, torch::kCPU);
  EXPECT_FALSE(c.load_optimizer(trainer.optimizer()));
}

TEST(Checkpoint, Crc32MatchesTheStandardCheckValue) {
  EXPECT_EQ(crc32("123456789", 9), 0xCBF43926u);
}

}  // namespace
}  // namespace dnnrec
