// Trainer and callbacks: learning, clipping, divergence, early stopping, best-weight restore,
// history rows and checkpoint name templates.
#include <gtest/gtest.h>

#include "data/split.h"
#include "dnnrec/error.h"
#include "sample_data.h"
#include "simd_testing.h"
#include "test_util.h"
#include "train/callbacks.h"
#include "train/trainer.h"

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

// S from a batch of each example alone: the gradient of its mean loss is N times its term
// in the batch's mean. `summed` adds the terms up in double.
struct ExampleTerms {
  std::vector<torch::Tensor> magnitude, summed;
  double loss_magnitude = 0;
};

ExampleTerms example_terms(Trainer& trainer, int64_t batch, size_t parameters) {
  ExampleTerms t;
  t.magnitude.resize(parameters);
  t.summed.resize(parameters);
  for (int64_t n = 0; n < batch; ++n) {
    double loss = 0;
    const auto g = trainer.batch_gradient(sample().train, n, n + 1, &loss);
    t.loss_magnitude += std::abs(loss) / batch;
    for (size_t i = 0; i < g.size(); ++i) {
      if (!g[i].defined()) continue;
      const torch::Tensor term = g[i].to(torch::kDouble) / batch;
      t.magnitude[i] = t.magnitude[i].defined() ? t.magnitude[i] + term.abs() : term.abs();
      t.summed[i] = t.summed[i].defined() ? t.summed[i] + term : term;
    }
  }
  return t;
}

// D: the additions in a gradient term's chain, the tower's fan-ins plus the embedding width.
int64_t chain_length(const Config& config, Trainer& trainer) {
  int64_t chain = config.model.embedding_dim;
  for (const auto& p : trainer.model()->named_parameters()) {
    if (p.value().dim() == 2 && p.key().rfind("tower.", 0) == 0) chain += p.value().size(1);
  }
  return chain;
}

// Sliced and whole-batch gradients are the same sums added in different orders (each slice's
// matrix products sum over its own examples, then the parts are added), so they differ by
// rounding, and by how much depends on the CPU's BLAS kernels. Training amplifies that: an
// epoch of Adam turns the noise in a near-zero gradient into steps the size of the learning
// rate, and a unit near zero can switch its relu for one example and not the other. So the
// test compares one step's gradients, within a bound that holds for every order of summation:
// a float32 sum of n terms is within n u (the sum of the terms' magnitudes) of the exact sum,
// u = 2^-24 (Higham, Accuracy and Stability of Numerical Algorithms, 2nd ed., 3.1). Each
// gradient element sums one term per example (N), each term the end of a chain of products
// whose additions number at most the tower's fan-ins plus the embedding width (D). Two ways of
// computing it are then within 2 (N + D) u S of each other, S being the sum over examples of
// the terms' magnitudes, measured here from each example's own gradient. The bound is taken
// per parameter tensor in the 2-norm, because a term's own chain can cancel to almost nothing
// (an element of an embedding row can be 1e-4 of its row's largest), and the bound on such
// an element is relative to the magnitudes inside the chain, which S does not see.
TEST(Trainer, SlicesOfABatchAddUpToTheWholeBatchsGradient) {
  Config config = sample().config;
  config.model.dropout = 0.0;  // masks differ per slice; everything else must not
  config.train.embedding_l2 = 1e-3;
  config.train.threads = 1;
  constexpr int64_t kBatch = 256;
  Trainer one(fresh_model(config), config, torch::kCPU);
  EXPECT_EQ(one.slices(kBatch), 1);
  double whole_loss = 0;
  const std::vector<torch::Tensor> whole =
      one.batch_gradient(sample().train, 0, kBatch, &whole_loss);

  const ExampleTerms terms = example_terms(one, kBatch, whole.size());
  const std::vector<torch::Tensor>& magnitude = terms.magnitude;
  const std::vector<torch::Tensor>& summed = terms.summed;
  const double loss_magnitude = terms.loss_magnitude;
  const int64_t chain = chain_length(config, one);
  const double u = std::ldexp(1.0, -24), factor = 2.0 * static_cast<double>(kBatch + chain) * u;
  // Whether `b` is within the bound of the whole batch's gradient, parameter by parameter;
  // the worst ratio of a difference to its bound goes to *worst.
  auto within = [&](const std::vector<torch::Tensor>& b, double* worst) {
    bool ok = true;
    for (size_t i = 0; i < whole.size(); ++i) {
      if (whole[i].defined() != b[i].defined()) return false;
      if (!whole[i].defined()) continue;
      const double bound = factor * magnitude[i].norm().item<double>();
      const double difference =
          (whole[i].to(torch::kDouble) - b[i].to(torch::kDouble)).norm().item<double>();
      const double ratio = bound > 0 ? difference / bound : (difference > 0 ? INFINITY : 0.0);
      *worst = std::max(*worst, ratio);
      ok = ok && ratio <= 1.0;
    }
    return ok;
  };

  // The bound is tight enough to matter: within 1% of every parameter's gradient, so that a
  // lost slice, a slice counted twice or a penalty scaled wrongly falls far outside it.
  for (size_t i = 0; i < whole.size(); ++i) {
    if (!whole[i].defined()) continue;
    const double norm = whole[i].norm().item<double>();
    if (norm > 0) EXPECT_LT(factor * magnitude[i].norm().item<double>(), 0.01 * norm) << i;
  }
  {
    std::vector<torch::Tensor> half = one.batch_gradient(sample().train, 0, kBatch / 2);
    for (auto& g : half) {
      if (g.defined()) g = g / 2;  // the first half's share of the whole batch's mean
    }
    double worst = 0;
    EXPECT_FALSE(within(half, &worst));
    EXPECT_GT(worst, 100.0);
  }

  double worst = 0;
  EXPECT_TRUE(within(summed, &worst)) << "the worst difference is " << worst << " of its bound";
  for (int threads : {2, 3, 8}) {
    config.train.threads = threads;
    Trainer sliced(fresh_model(config), config, torch::kCPU);
    EXPECT_EQ(sliced.slices(kBatch), threads);
    EXPECT_EQ(sliced.slices(40), 1);  // slices keep at least 32 examples
    double loss = 0;
    EXPECT_TRUE(within(sliced.batch_gradient(sample().train, 0, kBatch, &loss), &worst))
        << threads << " slices: the worst difference is " << worst << " of its bound";
    EXPECT_LE(std::abs(loss - whole_loss), factor * loss_magnitude) << threads;
  }
  std::printf("[          ] the worst difference is %.3g of its float32 bound\n", worst);

  config.model.batch_norm = true;
  EXPECT_EQ(Trainer(fresh_model(config), config, torch::kCPU).slices(256), 1);
}

TEST(Trainer, AnEpochGivesTheSameBitsOnEveryKernelPath) {
  // Every hand-written kernel at a real model's sizes (embeddings, pooling, the tower with
  // dropout, the row-wise optimizer), in slices on two threads.
  Config config = sample().config;
  config.train.epochs = 1;
  config.train.threads = 2;
  testing::expect_same_bits_on_every_path([&] {
    Trainer trainer(fresh_model(config), config, torch::kCPU);
    trainer.fit(sample().train, nullptr, {});
    std::vector<torch::Tensor> out;
    for (const auto& p : trainer.model()->parameters()) out.push_back(p.detach().clone());
    return out;
  });
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
