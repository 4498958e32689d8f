// The fused tower against its modules run one by one.
#include "models/tower.h"

#include <gtest/gtest.h>

#include "models/models.h"
#include "simd_testing.h"

namespace dnnrec {
namespace {

// Two identical towers (same weights, same dropout seeds).
std::pair<torch::nn::Sequential, torch::nn::Sequential> twins(const std::string& activation,
                                                              double dropout, int64_t output) {
  torch::manual_seed(17);
  auto a = make_tower(12, {16, 8}, activation, dropout, /*batch_norm=*/false, output);
  torch::manual_seed(17);
  auto b = make_tower(12, {16, 8}, activation, dropout, /*batch_norm=*/false, output);
  return {a, b};
}

// Runs x through the tower (fused or not) under the dropout stream `seed`, and returns the
// output and the gradients of a weighted sum of it with respect to x and every parameter.
std::vector<torch::Tensor> run(torch::nn::Sequential& tower, const torch::Tensor& input, bool fused,
                               uint64_t seed) {
  torch::Tensor x = input.clone().requires_grad_();
  DropoutStream stream(seed);
  torch::Tensor y = fused ? run_tower(tower, x) : tower->forward(x);
  torch::Tensor weights = torch::linspace(-1, 2, y.numel()).reshape(y.sizes());
  std::vector<torch::Tensor> inputs = {x};
  for (const auto& p : tower->parameters()) inputs.push_back(p);
  std::vector<torch::Tensor> out = {y.detach()};
  for (const auto& g : torch::autograd::grad({(y * weights).sum()}, inputs)) out.push_back(g);
  return out;
}

TEST(Tower, FusedIsTheModulesOneByOne) {
  torch::manual_seed(2);
  const torch::Tensor x = torch::randn({40, 12});
  for (double dropout : {0.0, 0.3}) {
    for (int64_t output : {1, 0}) {
      auto [fused, plain] = twins("relu", dropout, output);
      for (bool training : {true, false}) {
        fused->train(training);
        plain->train(training);
        const auto a = run(fused, x, true, 99), b = run(plain, x, false, 99);
        ASSERT_EQ(a.size(), b.size());
        for (size_t i = 0; i < a.size(); ++i) {
          EXPECT_TRUE(torch::allclose(a[i], b[i], 1e-5, 1e-6))
              << "dropout " << dropout << " output " << output << " training " << training
              << " tensor " << i << ": " << (a[i] - b[i]).abs().max().item<float>();
        }
      }
      if (dropout > 0) {  // a different stream, a different mask
        fused->train();
        EXPECT_FALSE(torch::equal(run(fused, x, true, 1)[0], run(fused, x, true, 2)[0]));
      }
    }
  }
}

TEST(Tower, ReluGradientIsZeroWhereTheUnitIsOff) {
  // A unit at zero passes no gradient, even a non-finite one (as torch's relu).
  auto tower = make_tower(2, {3}, "relu", 0.0, false, 1);
  {
    torch::NoGradGuard no_grad;
    for (auto& p : tower->parameters()) p.fill_(-1.0);  // every hidden unit off
  }
  torch::Tensor x = torch::ones({4, 2}, torch::requires_grad());
  torch::Tensor y = run_tower(tower, x);
  EXPECT_TRUE(torch::equal(y, torch::full({4, 1}, -1.0f)));
  y.sum().backward();
  EXPECT_EQ(x.grad().abs().sum().item<float>(), 0.0f);
}

TEST(Tower, OtherTowersRunModuleByModule) {
  // gelu and batch norm are not fused; their results are the modules' own.
  torch::manual_seed(4);
  const torch::Tensor x = torch::randn({10, 12});
  auto [a, b] = twins("gelu", 0.0, 1);
  EXPECT_TRUE(torch::equal(run_tower(a, x), b->forward(x)));
  torch::manual_seed(5);
  auto norm = make_tower(12, {6}, "relu", 0.0, /*batch_norm=*/true, 1);
  norm->eval();
  EXPECT_TRUE(torch::equal(run_tower(norm, x), norm->forward(x)));
  // A double input is not the float kernels' either.
  auto [c, d] = twins("relu", 0.0, 1);
  c->to(torch::kDouble);
  d->to(torch::kDouble);
  EXPECT_TRUE(torch::equal(run_tower(c, x.to(torch::kDouble)), d->forward(x.to(torch::kDouble))));
}

TEST(Tower, GivesTheSameBitsOnEveryKernelPath) {
  // relu, dropout and their gradients: every hand-written kernel of the tower.
  torch::manual_seed(6);
  const torch::Tensor x = torch::randn({45, 12});
  for (double dropout : {0.0, 0.3}) {
    auto [tower, unused] = twins("relu", dropout, 1);
    tower->train();
    testing::expect_same_bits_on_every_path([&] { return run(tower, x, true, 7); });
  }
}

}  // namespace
}  // namespace dnnrec
