// Trainer and callbacks: learning, clipping, divergence, early stopping, best-weight restore,
// history rows and checkpoint name templates.
#include <gtest/gtest.h>

#include "dnnrec/callbacks.h"
#include "dnnrec/error.h"
#include "dnnrec/split.h"
#include "dnnrec/trainer.h"
#include "sample_data.h"
#include "test_util.h"

namespace dnnrec {
namespace {

using testing::sample;

RecModel fresh_model(const Config& config, double offset = 3.5) {
  torch::manual_seed(1);
  return make_model(config.model, sample().spec, offset);
}

TEST(Template, FormatsPythonStylePlaceholders) {
  EXPECT_EQ(
      format_template("epoch{epoch:04d}-{val_rmse:.4f}.pt", {{"epoch", 3}, {"val_rmse", 0.912345}}),
      "epoch0003-0.9123.pt");
  EXPECT_EQ(format_template("s{step}", {{"step", 250}}), "s250");
  EXPECT_EQ(format_template("plain.pt", {}), "plain.pt");
  EXPECT_THROW(format_template("{val_rmsee:.4f}", {{"val_rmse", 1}}), ConfigError);
  EXPECT_THROW(format_template("{epoch:04x}", {{"epoch", 1}}), ConfigError);
  EXPECT_THROW(format_template("{epoch", {{"epoch", 1}}), ConfigError);
  EXPECT_EQ(template_names("a{epoch:04d}b{val_mae:.3f}"),
            (std::vector<std::string>{"epoch", "val_mae"}));
}

TEST(Trainer, LearnsOnTheSampleAndLogsHistory) {
  Config config = sample().config;
  config.train.epochs = 3;
  Trainer trainer(fresh_model(config), config, torch::kCPU);
  const double before = trainer.evaluate(sample().val).at("rmse");
  auto history = std::make_shared<HistoryWriter>(sample().dir.file("history.csv"));
  trainer.fit(sample().train, &sample().val, {history});
  ASSERT_EQ(history->rows().size(), 3u);
  EXPECT_LT(history->rows()[2].at("train_loss"), history->rows()[0].at("train_loss"));
  EXPECT_LT(history->rows()[2].at("val_rmse"), before);
  EXPECT_GT(history->rows()[0].at("samples_per_sec"), 0);
  const std::string csv = testing::read_file(sample().dir.file("history.csv"));
  EXPECT_EQ(csv.substr(0, csv.find('\n')),
            "epoch,train_loss,val_loss,val_mae,val_rmse,lr,seconds,samples_per_sec");
  EXPECT_EQ(std::count(csv.begin(), csv.end(), '\n'), 4);
}

TEST(Trainer, SlicesOfABatchAddUpToTheWholeBatchsStep) {
  Config config = sample().config;
  config.model.dropout = 0.0;  // masks differ per slice; everything else must not
  config.train.epochs = 1;
  config.train.shuffle = false;
  config.train.embedding_l2 = 1e-3;
  config.train.threads = 1;
  Trainer one(fresh_model(config), config, torch::kCPU);
  EXPECT_EQ(one.slices(256), 1);
  one.fit(sample().train, nullptr, {});
  for (int threads : {2, 3}) {
    config.train.threads = threads;
    Trainer sliced(fresh_model(config), config, torch::kCPU);
    EXPECT_EQ(sliced.slices(256), threads);
    EXPECT_EQ(sliced.slices(40), 1);  // slices keep at least 32 examples
    sliced.fit(sample().train, nullptr, {});
    EXPECT_NEAR(sliced.state().running_loss, one.state().running_loss, 1e-5);
    auto a = one.model()->parameters(), b = sliced.model()->parameters();
    ASSERT_EQ(a.size(), b.size());
    for (size_t i = 0; i < a.size(); ++i) {
      EXPECT_TRUE(torch::allclose(a[i], b[i], 1e-3, 1e-5)) << "parameter " << i;
    }
  }
  config.model.batch_norm = true;
  EXPECT_EQ(Trainer(fresh_model(config), config, torch::kCPU).slices(256), 1);
}

TEST(Trainer, ClipsPredictedRatingsToTheRatingRange) {
  Config config = sample().config;
  Trainer high(fresh_model(config, /*offset=*/100.0), config, torch::kCPU);
  for (float p : high.predict(sample().val)) EXPECT_EQ(p, 5.0f);
  Trainer low(fresh_model(config, /*offset=*/-100.0), config, torch::kCPU);
  for (float p : low.predict(sample().val)) EXPECT_EQ(p, 0.5f);
}

TEST(Trainer, NonFiniteLossStopsWithDivergedError) {
  Config config = sample().config;
  config.train.optimizer = "sgd";
  config.train.lr = 1e12;
  Trainer trainer(fresh_model(config), config, torch::kCPU);
  try {
    trainer.fit(sample().train, nullptr, {});
    FAIL() << "expected DivergedError";
  } catch (const DivergedError& e) {
    EXPECT_NE(std::string(e.what()).find("epoch 1, batch"), std::string::npos) << e.what();
    EXPECT_EQ(e.exit_code(), kExitDiverged);
  }
}

TEST(EarlyStopping, StopsAfterPatienceEpochsWithoutImprovement) {
  Config config = sample().config;
  config.train.epochs = 10;
  config.train.optimizer = "sgd";
  config.train.lr = 1e-9;  // the metric barely moves: no change beats min_delta
  config.train.momentum = 0;
  config.train.patience = 2;
  config.train.min_delta = 0.5;
  Trainer trainer(fresh_model(config), config, torch::kCPU);
  auto stopper = std::make_shared<EarlyStopping>(config.train);
  auto history = std::make_shared<HistoryWriter>(sample().dir.file("h2.csv"));
  trainer.fit(sample().train, &sample().val, {history, stopper});
  EXPECT_EQ(stopper->stopped_epoch(), 3);  // epoch 1 sets the reference, 2 and 3 wait
  EXPECT_EQ(history->rows().size(), 3u);
}

TEST(EarlyStopping, RestoresTheWeightsOfTheBestEpoch) {
  Config config = sample().config;
  config.train.epochs = 4;
  config.train.lr = 0.02;  // large enough that validation RMSE moves from epoch to epoch
  Trainer trainer(fresh_model(config), config, torch::kCPU);
  auto stopper = std::make_shared<EarlyStopping>(config.train);
  auto history = std::make_shared<HistoryWriter>(sample().dir.file("h3.csv"));
  trainer.fit(sample().train, &sample().val, {history, stopper});
  int best = 1;
  for (int e = 1; e <= 4; ++e) {
    if (history->rows()[e - 1].at("val_rmse") < history->rows()[best - 1].at("val_rmse")) best = e;
  }
  EXPECT_EQ(stopper->best_epoch(), best);
  EXPECT_EQ(trainer.evaluate(sample().val).at("rmse"), history->rows()[best - 1].at("val_rmse"));
}

TEST(ModelCheckpoint, WritesPeriodicLastAndBest) {
  Config config = sample().config;
  config.train.epochs = 3;
  config.train.checkpoint_every = 2;
  testing::TempDir run;
  std::vector<std::string> saved;
  auto checkpoint = std::make_shared<ModelCheckpoint>(
      run.path(), config.train, [&](const std::string& path, bool weights_only) {
        saved.push_back(path.substr(run.path().size() + 1));
      });
  Trainer trainer(fresh_model(config), config, torch::kCPU);
  trainer.fit(sample().train, &sample().val, {checkpoint});
  ASSERT_EQ(checkpoint->written().size(), 1u);  // epoch 2 only
  EXPECT_EQ(checkpoint->written()[0].find(run.path() + "/checkpoints/epoch0002-0."), 0u);
  EXPECT_EQ(std::count(saved.begin(), saved.end(), "last.pt"), 3);
  EXPECT_GE(std::count(saved.begin(), saved.end(), "best.pt"), 1);
  // The first epoch is always the best so far; best.pt is written before last.pt, so the
  // resume state last.pt holds includes the epoch's best.
  EXPECT_EQ(saved[0], "best.pt");
  EXPECT_EQ(saved[1], "last.pt");
}

}  // namespace
}  // namespace dnnrec
