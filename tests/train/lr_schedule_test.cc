// The learning-rate schedule: warm-up, step, cosine and plateau, against rates worked out by hand.
#include "train/lr_schedule.h"

#include <gtest/gtest.h>

namespace dnnrec {
namespace {

TEST(LrSchedule, WarmupStepCosineAndPlateau) {
  Config c;
  c.train.lr = 0.1;
  c.train.epochs = 4;
  c.train.lr_schedule = "step";
  c.train.lr_step_epochs = 2;
  c.train.lr_gamma = 0.5;
  LrSchedule step(c, /*steps_per_epoch=*/10);
  EXPECT_DOUBLE_EQ(step.rate(0, 1), 0.1);
  EXPECT_DOUBLE_EQ(step.rate(15, 2), 0.1);
  EXPECT_DOUBLE_EQ(step.rate(25, 3), 0.05);  // 0.1 * 0.5^((3 - 1) / 2)

  c.train.lr_schedule = "cosine";
  c.train.min_lr = 0.0;
  LrSchedule cosine(c, 10);  // 40 steps in all
  EXPECT_DOUBLE_EQ(cosine.rate(0, 1), 0.1);
  EXPECT_NEAR(cosine.rate(20, 3), 0.05, 1e-12);  // half way: 0.1 * (1 + cos(pi / 2)) / 2
  EXPECT_NEAR(cosine.rate(40, 4), 0.0, 1e-12);

  c.train.lr_schedule = "none";
  c.train.warmup_epochs = 0.5;  // 5 steps
  LrSchedule warm(c, 10);
  EXPECT_DOUBLE_EQ(warm.rate(0, 1), 0.1 / 5);
  EXPECT_DOUBLE_EQ(warm.rate(4, 1), 0.1);
  EXPECT_DOUBLE_EQ(warm.rate(9, 1), 0.1);

  c.train.warmup_epochs = 0;
  c.train.lr_schedule = "plateau";
  c.train.lr_patience = 2;
  c.train.min_lr = 0.03;
  LrSchedule plateau(c, 10);  // monitor val_rmse: lower is better
  plateau.end_epoch(0.9);
  plateau.end_epoch(0.8);
  plateau.end_epoch(0.85);
  EXPECT_DOUBLE_EQ(plateau.rate(30, 4), 0.1);
  plateau.end_epoch(0.81);  // second epoch without improvement
  EXPECT_DOUBLE_EQ(plateau.rate(40, 5), 0.05);
  plateau.end_epoch(0.9);
  plateau.end_epoch(0.9);
  EXPECT_DOUBLE_EQ(plateau.rate(60, 7), 0.03);  // 0.025 floored at min_lr
}

}  // namespace
}  // namespace dnnrec
