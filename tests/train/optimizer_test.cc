// Row-wise (lazy) updates of embedding tables against torch's dense optimizers, clipping,
// and saving and loading the optimizer state.
#include <gtest/gtest.h>

#include "dnnrec/error.h"
#include "simd_testing.h"
#include "train/optimizer.h"

namespace dnnrec {
namespace {

// One embedding table of 6 rows (row 0 is padding) feeding a linear layer.
class TinyImpl : public RecModelImpl {
 public:
  TinyImpl()
      : table_(register_module("table", make_embedding(6, 4, 0.5))),
        out_(register_module("out", torch::nn::Linear(4, 1))) {}
  torch::Tensor forward(const Batch& b) override {
    return out_->forward(lookup(table_, b.movie)).squeeze(1);
  }

 private:
  torch::nn::Embedding table_;
  torch::nn::Linear out_;
};
TORCH_MODULE(Tiny);

Tiny tiny() {
  torch::manual_seed(3);
  return Tiny();
}

// The examples with these movie ids, targets 1, 2, 3, ...
Batch tiny_batch(const std::vector<int64_t>& ids) {
  Batch b;
  b.movie = torch::tensor(ids, torch::kLong);
  b.target = torch::arange(1, static_cast<int64_t>(ids.size()) + 1, torch::kFloat);
  return b;
}

// One step on tiny_batch(ids).
void train_step(Tiny& model, ModelOptimizer& optimizer, const std::vector<int64_t>& ids) {
  const Batch b = tiny_batch(ids);
  optimizer.zero_grad();
  torch::mse_loss(model->forward(b), b.target).backward();
  optimizer.step();
}

torch::Tensor table(Tiny& model) { return model->named_parameters()["table.weight"].detach(); }

TrainConfig rule(const std::string& name, bool lazy, double momentum = 0.0) {
  TrainConfig c;
  c.optimizer = name;
  c.lr = 0.05;
  c.momentum = momentum;
  c.lazy_embeddings = lazy;
  return c;
}

TEST(ModelOptimizer, EveryRuleIsTorchsRule) {
  namespace optim = torch::optim;
  for (const std::string name : {"adam", "adamw", "sgd", "adagrad", "rmsprop"}) {
    TrainConfig c = rule(name, /*lazy=*/false, /*momentum=*/0.9);
    c.weight_decay = 0.01;
    Tiny mine = tiny();
    ModelOptimizer fused(c, *mine);
    // torch's optimizer on an identical model; the table (parameter 0) is never decayed.
    Tiny theirs = tiny();
    auto params = theirs->parameters();
    auto groups = [&](auto options) {
      std::vector<optim::OptimizerParamGroup> g;
      g.emplace_back(std::vector<torch::Tensor>{params[1], params[2]},
                     std::make_unique<decltype(options)>(options));
      g.emplace_back(std::vector<torch::Tensor>{params[0]},
                     std::make_unique<decltype(options)>(options.weight_decay(0.0)));
      return g;
    };
    std::unique_ptr<optim::Optimizer> reference;
    if (name == "adam") {
      auto o = optim::AdamOptions(0.05).weight_decay(0.01);
      reference = std::make_unique<optim::Adam>(groups(o), o);
    } else if (name == "adamw") {
      auto o = optim::AdamWOptions(0.05).weight_decay(0.01);
      reference = std::make_unique<optim::AdamW>(groups(o), o);
    } else if (name == "sgd") {
      auto o = optim::SGDOptions(0.05).momentum(0.9).weight_decay(0.01);
      reference = std::make_unique<optim::SGD>(groups(o), o);
    } else if (name == "adagrad") {
      auto o = optim::AdagradOptions(0.05).weight_decay(0.01);
      reference = std::make_unique<optim::Adagrad>(groups(o), o);
    } else {
      auto o = optim::RMSpropOptions(0.05).momentum(0.9).weight_decay(0.01);
      reference = std::make_unique<optim::RMSprop>(groups(o), o);
    }
    for (const auto& ids : std::vector<std::vector<int64_t>>{{1, 2}, {2, 2, 5}, {4}, {1, 3}}) {
      train_step(mine, fused, ids);
      const Batch b = tiny_batch(ids);
      reference->zero_grad();
      torch::mse_loss(theirs->forward(b), b.target).backward();
      reference->step();
    }
    for (size_t i = 0; i < params.size(); ++i) {
      EXPECT_TRUE(torch::allclose(mine->parameters()[i], params[i], 1e-4, 1e-5))
          << name << " parameter " << i << ": "
          << (mine->parameters()[i] - params[i]).abs().max().item<float>();
    }
  }
  Tiny model = tiny();
  EXPECT_EQ(ModelOptimizer(rule("adam", true), *model).lazy_tables(), 1u);
  EXPECT_EQ(ModelOptimizer(rule("adam", false), *model).lazy_tables(), 0u);
  EXPECT_THROW(ModelOptimizer(rule("adamax", true), *model), ConfigError);
}

TEST(ModelOptimizer, WeightDecayNeverTouchesEmbeddingTables) {
  for (bool lazy : {true, false}) {
    TrainConfig c = rule("sgd", lazy);
    c.weight_decay = 0.5;
    Tiny model = tiny();
    ModelOptimizer optimizer(c, *model);
    const torch::Tensor start = table(model).clone();
    const torch::Tensor bias = model->parameters()[2].detach().clone();
    train_step(model, optimizer, {2});
    EXPECT_TRUE(torch::equal(table(model)[4], start[4])) << lazy;  // no gradient, no decay
    EXPECT_FALSE(torch::equal(model->parameters()[2], bias)) << lazy;
  }
}

TEST(ModelOptimizer, LazyAdamIsDenseAdamWhenEveryRowIsTouched) {
  Tiny a = tiny(), b = tiny();
  ModelOptimizer lazy(rule("adam", true), *a);
  ModelOptimizer dense(rule("adam", false), *b);
  for (int step = 0; step < 5; ++step) {
    train_step(a, lazy, {1, 2, 3, 4, 5, 3});  // duplicates sum
    train_step(b, dense, {1, 2, 3, 4, 5, 3});
  }
  EXPECT_TRUE(torch::allclose(table(a), table(b), 1e-5, 1e-6));
  EXPECT_TRUE(torch::allclose(a->parameters()[1], b->parameters()[1], 1e-5, 1e-6));
  EXPECT_EQ(table(a)[0].abs().sum().item<float>(), 0.0f);  // padding never moves
}

TEST(ModelOptimizer, LazyRowsMoveOnlyWhenTouched) {
  Tiny a = tiny(), b = tiny();
  ModelOptimizer lazy(rule("adam", true), *a);
  ModelOptimizer dense(rule("adam", false), *b);
  const torch::Tensor start = table(a).clone();
  train_step(a, lazy, {2, 3});
  train_step(b, dense, {2, 3});
  EXPECT_TRUE(torch::equal(table(a)[1], start[1]));
  EXPECT_FALSE(torch::equal(table(a)[2], start[2]));
  const torch::Tensor row3 = table(a)[3].clone();
  train_step(a, lazy, {2});
  train_step(b, dense, {2});
  EXPECT_TRUE(torch::equal(table(a)[3], row3));  // lazy: untouched, unchanged
  // Dense Adam keeps moving row 3 on its momentum: the one place the two differ.
  EXPECT_FALSE(torch::allclose(table(b)[3], row3));
}

TEST(ModelOptimizer, LazyAdagradAndPlainSgdAreExactlyTheDenseRules) {
  for (const std::string name : {"adagrad", "sgd"}) {
    Tiny a = tiny(), b = tiny();
    ModelOptimizer lazy(rule(name, true), *a);
    ModelOptimizer dense(rule(name, false), *b);
    for (const auto& ids : std::vector<std::vector<int64_t>>{{1, 2}, {2, 2, 5}, {4}, {1, 3}}) {
      train_step(a, lazy, ids);
      train_step(b, dense, ids);
    }
    EXPECT_TRUE(torch::allclose(table(a), table(b), 1e-5, 1e-7)) << name;
  }
}

TEST(ModelOptimizer, ClippingCountsTableRowsInTheGlobalNorm) {
  Tiny a = tiny(), b = tiny();
  TrainConfig lazy_rule = rule("sgd", true), dense_rule = rule("sgd", false);
  lazy_rule.clip_norm = dense_rule.clip_norm = 1e-3;
  ModelOptimizer lazy(lazy_rule, *a);
  ModelOptimizer dense(dense_rule, *b);
  const torch::Tensor start = table(a).clone();
  train_step(a, lazy, {1, 2, 2});
  train_step(b, dense, {1, 2, 2});
  EXPECT_TRUE(torch::allclose(table(a), table(b), 1e-5, 1e-8));
  // sgd moves by lr * gradient; the whole gradient's norm is clipped to 1e-3.
  EXPECT_LE((table(a) - start).norm().item<double>(), 0.05 * 1e-3 * 1.0001);
}

TEST(ModelOptimizer, GradientPartsAreSummedInOrder) {
  // Two slices' gradients given as parts make the same step as the whole batch's gradient,
  // for row-wise and dense tables alike, with clipping on.
  for (bool lazy : {true, false}) {
    TrainConfig c = rule("adam", lazy);
    c.clip_norm = 0.5;
    Tiny whole = tiny(), sliced = tiny();
    ModelOptimizer one(c, *whole), two(c, *sliced);
    const std::vector<int64_t> ids = {1, 2, 2, 5, 3};
    train_step(whole, one, ids);
    std::vector<std::vector<torch::Tensor>> parts;
    for (auto [begin, end] : {std::pair<int64_t, int64_t>{0, 2}, {2, 5}}) {
      Batch part = tiny_batch(std::vector<int64_t>(ids.begin() + begin, ids.begin() + end));
      part.target += static_cast<float>(begin);  // the whole batch's targets 1, 2, 3, ...
      torch::Tensor loss = (sliced->forward(part) - part.target).pow(2).sum() / 5.0;
      parts.push_back(torch::autograd::grad({loss}, sliced->parameters()));
    }
    EXPECT_TRUE(parts[0][0].is_sparse());
    two.step(parts);
    for (size_t i = 0; i < whole->parameters().size(); ++i) {
      EXPECT_TRUE(torch::allclose(whole->parameters()[i], sliced->parameters()[i], 1e-5, 1e-7))
          << lazy << " parameter " << i;
    }
    // A part without a gradient for a parameter is skipped.
    parts[1][0] = torch::Tensor();
    EXPECT_NO_THROW(two.step(parts));
    parts[1].pop_back();
    EXPECT_THROW(two.step(parts), c10::Error);
  }
}

TEST(ModelOptimizer, SavedStateContinuesExactly) {
  for (const std::string name : {"adam", "rmsprop", "sgd", "adagrad"}) {
    Tiny a = tiny();
    ModelOptimizer first(rule(name, true, 0.9), *a);
    train_step(a, first, {1, 2});
    train_step(a, first, {2, 4});
    torch::serialize::OutputArchive out;
    first.save(out);
    std::ostringstream bytes;
    out.save_to(bytes);

    Tiny b = tiny();
    {
      torch::NoGradGuard no_grad;
      for (size_t i = 0; i < a->parameters().size(); ++i) {
        b->parameters()[i].copy_(a->parameters()[i]);
      }
    }
    ModelOptimizer second(rule(name, true, 0.9), *b);
    torch::serialize::InputArchive in;
    std::istringstream read(bytes.str());
    in.load_from(read);
    second.load(in);
    EXPECT_EQ(second.steps(), 2);
    train_step(a, first, {2, 3});
    train_step(b, second, {2, 3});
    EXPECT_TRUE(torch::equal(table(a), table(b))) << name;
  }
}

TEST(ModelOptimizer, EveryRuleGivesTheSameBitsOnEveryKernelPath) {
  for (const std::string name : {"adam", "adamw", "sgd", "adagrad", "rmsprop"}) {
    for (bool lazy : {true, false}) {
      testing::expect_same_bits_on_every_path([&] {
        TrainConfig c = rule(name, lazy, /*momentum=*/0.9);
        c.weight_decay = 0.01;
        Tiny model = tiny();
        ModelOptimizer optimizer(c, *model);
        for (const auto& ids : std::vector<std::vector<int64_t>>{{1, 2}, {2, 2, 5}, {4}}) {
          train_step(model, optimizer, ids);
        }
        std::vector<torch::Tensor> out;
        for (const auto& p : model->parameters()) out.push_back(p.detach().clone());
        return out;
      });
    }
  }
}

}  // namespace
}  // namespace dnnrec
