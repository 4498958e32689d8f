// The model zoo: every registered model builds, predicts one score per example, learns on the
// sample data, and regularises only the embedding rows a batch touches.
#include <gtest/gtest.h>

#include <limits>

#include "data/split.h"
#include "dnnrec/error.h"
#include "sample_data.h"
#include "simd_testing.h"
#include "test_util.h"
#include "train/trainer.h"

namespace dnnrec {
namespace {

using testing::sample;

TEST(Models, RegistryListsTheZooAndSuggestsNames) {
  EXPECT_EQ(model_names(), (std::vector<std::string>{"bias", "deepfm", "dnn", "global-mean", "mf",
                                                     "neumf", "wide-deep"}));
  ModelConfig c;
  c.name = "deep-fm";
  try {
    make_model(c, sample().spec, 3.5);
    FAIL();
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("did you mean 'deepfm'?"), std::string::npos) << e.what();
  }
}

TEST(Models, EveryModelStartsNearTheOffsetAndLearns) {
  for (const std::string& name : model_names()) {
    SCOPED_TRACE(name);
    Config config = sample().config;
    config.model.name = name;
    config.train.epochs = 3;
    config.train.lr = name == "global-mean" || name == "bias" || name == "mf" ? 0.01 : 0.002;
    torch::manual_seed(3);
    RecModel model = make_model(config.model, sample().spec, 3.5);
    Trainer trainer(model, config, torch::kCPU);
    torch::Tensor raw = trainer.predict_raw(sample().val);
    ASSERT_EQ(raw.sizes(), (std::vector<int64_t>{sample().val.size()}));
    // Biases start at zero and embeddings small: the first predictions sit near the mean.
    EXPECT_NEAR(raw.mean().item<double>(), 3.5, 0.5);
    const double before = trainer.evaluate(sample().val).at("rmse");
    trainer.fit(sample().train, &sample().val, {});
    if (name == "global-mean") {
      // Nothing to learn but the constant: it moves to the mean training rating.
      const double mean = torch::tensor(sample().train.targets()).mean().item<double>();
      EXPECT_NEAR(trainer.predict_raw(sample().val)[0].item<double>(), mean, 0.02);
    } else {
      EXPECT_LT(trainer.evaluate(sample().val).at("rmse"), before - 0.01);
    }
  }
}

TEST(Models, EmbeddingPenaltyCoversTheTouchedRowsOnlyInTraining) {
  Config config = sample().config;
  config.model.name = "mf";
  RecModel model = make_model(config.model, sample().spec, 3.5);
  Batch batch = sample().train.slice(0, 8);
  model->track_penalty(true);
  model->train();
  model->forward(batch);
  // mf touches 4 tables per example: two factor rows and two bias rows (zero at the start).
  torch::Tensor expected = torch::zeros({});
  for (const auto& item : model->named_parameters()) {
    if (item.key() == "user.weight")
      expected += item.value().index_select(0, batch.user).pow(2).sum();
    if (item.key() == "movie.weight")
      expected += item.value().index_select(0, batch.movie).pow(2).sum();
  }
  EXPECT_NEAR(model->take_penalty().item<double>(), expected.item<double>() / 8, 1e-5);
  EXPECT_EQ(model->take_penalty().item<double>(), 0.0);  // taken
  model->eval();
  model->forward(batch);
  EXPECT_EQ(model->take_penalty().item<double>(), 0.0);  // not tracked in evaluation
}

TEST(Models, PooledIsTheMaskedMeanAndHasItsGradient) {
  struct Owner : RecModelImpl {
    torch::Tensor forward(const Batch&) override { return {}; }
  } owner;
  const torch::Tensor ids =
      torch::tensor({0, 0, 3, 2, 2, 5, 0, 0, 0}, torch::kLong).reshape({3, 3});
  for (bool sparse : {false, true}) {
    torch::manual_seed(5);
    auto table = make_embedding(8, 4, 0.5);
    table->options.sparse(sparse);
    torch::Tensor fused = owner.pooled(table, ids);
    (fused * torch::arange(12, torch::kFloat).reshape({3, 4})).sum().backward();
    torch::Tensor fused_grad = table->weight.grad().to_dense().clone();
    table->weight.mutable_grad() = torch::Tensor();
    torch::Tensor plain = masked_mean(table->forward(ids), ids);
    (plain * torch::arange(12, torch::kFloat).reshape({3, 4})).sum().backward();
    EXPECT_TRUE(torch::allclose(fused, plain)) << sparse;
    EXPECT_TRUE(torch::allclose(fused_grad, table->weight.grad().to_dense())) << sparse;
    EXPECT_EQ(fused[2].abs().sum().item<float>(), 0.0f);  // all padding: zero
    // Row 1 is the mean of rows 2, 2, 5: padding does not count.
    EXPECT_TRUE(torch::allclose(fused[0], table->weight[3]));
  }
}

TEST(Models, EveryEmbeddingTableIsUpdatedRowWise) {
  Config config = sample().config;
  RecModel model = make_model(config.model, sample().spec, 3.5);
  // user, movie, genre, tag, history, year tables plus the two bias tables.
  EXPECT_EQ(ModelOptimizer(config.train, *model).lazy_tables(), 8u);
  config.train.lazy_embeddings = false;
  EXPECT_EQ(ModelOptimizer(config.train, *model).lazy_tables(), 0u);
}

TEST(FastDropout, DropsAFractionPAndKeepsTheExpectation) {
  torch::manual_seed(11);
  FastDropout dropout(0.2);
  torch::Tensor x = torch::ones({1000, 1000}, torch::requires_grad());
  torch::Tensor y = dropout->forward(x);
  const double dropped = y.eq(0).to(torch::kDouble).mean().item<double>();
  EXPECT_NEAR(dropped, 0.2, 0.002);                  // 1e6 draws: the standard error is 0.0004
  EXPECT_NEAR(y.mean().item<double>(), 1.0, 0.005);  // kept units are scaled by 1 / 0.8
  EXPECT_FLOAT_EQ(y.max().item<float>(), 65536.0f / (65536.0f - 13107.0f));
  y.sum().backward();
  EXPECT_TRUE(torch::equal(x.grad(), y.detach()));     // the gradient is the mask
  EXPECT_FALSE(torch::equal(dropout->forward(x), y));  // a fresh mask each call
  dropout->eval();
  EXPECT_TRUE(torch::equal(dropout->forward(x), x));
  torch::manual_seed(11);
  FastDropout again(0.2);
  EXPECT_TRUE(torch::equal(again->forward(x), y));  // reproducible from torch's seed
}

TEST(Trainer, ClipNormLimitsEachStep) {
  Config config = sample().config;
  config.train.epochs = 1;
  config.train.optimizer = "sgd";
  config.train.momentum = 0;
  config.train.lr = 0.1;
  config.train.clip_norm = 1e-6;  // every step moves the weights by at most lr * 1e-6
  torch::manual_seed(5);
  RecModel model = make_model(config.model, sample().spec, 3.5);
  std::vector<torch::Tensor> before;
  for (const auto& p : model->parameters()) before.push_back(p.detach().clone());
  Trainer trainer(model, config, torch::kCPU);
  trainer.fit(sample().train, nullptr, {});
  double moved = 0;
  size_t i = 0;
  for (const auto& p : model->parameters()) moved += (p - before[i++]).pow(2).sum().item<double>();
  const int64_t steps = trainer.state().step;
  EXPECT_LE(std::sqrt(moved), steps * 0.1 * 1e-6 * 1.001);
  EXPECT_GT(moved, 0);
}

TEST(FastDropout, GivesTheSameBitsOnEveryKernelPath) {
  torch::Tensor x = torch::randn({77, 13});
  x[3][4] = std::numeric_limits<float>::quiet_NaN();
  x[5][1] = -0.0f;
  testing::expect_same_bits_on_every_path([&] {
    torch::manual_seed(12);
    FastDropout dropout(0.3);
    torch::Tensor relu = x.clone();
    relu_in_place(relu.data_ptr<float>(), relu.numel());
    torch::Tensor both = x.clone();
    dropout->relu_and_drop(both.data_ptr<float>(), both.numel());
    return std::vector<torch::Tensor>{dropout->forward(x), relu, both};
  });
}

}  // namespace
}  // namespace dnnrec
