#include "models/embedding_ops.h"
#include "simd_testing.h"

#include <gtest/gtest.h>

namespace dnnrec {
namespace {

// A table whose padding row is zero, as every model's is.
torch::Tensor table(int64_t rows, int64_t dim) {
  torch::manual_seed(3);
  torch::Tensor w = torch::randn({rows, dim});
  w[0].zero_();
  return w.requires_grad_();
}

torch::Tensor dense_grad(const torch::Tensor& w) {
  torch::Tensor g = w.grad();
  return g.is_sparse() ? g.to_dense() : g;
}

TEST(EmbeddingOps, RowsAreTorchsEmbeddingWithItsGradient) {
  const torch::Tensor ids = torch::tensor({4, 0, 2, 4, 1, 3}, torch::kLong).reshape({2, 3});
  const torch::Tensor weights = torch::arange(2 * 3 * 5, torch::kFloat).reshape({2, 3, 5});
  for (bool sparse : {false, true}) {
    torch::Tensor ours = table(6, 5), theirs = table(6, 5);
    torch::Tensor out = embedding_rows(ours, ids, sparse);
    torch::Tensor expected = torch::embedding(theirs, ids, /*padding_idx=*/0, false, sparse);
    EXPECT_TRUE(torch::equal(out, expected)) << sparse;
    (out * weights).sum().backward();
    (expected * weights).sum().backward();
    EXPECT_EQ(ours.grad().is_sparse(), sparse);
    EXPECT_TRUE(torch::allclose(dense_grad(ours), dense_grad(theirs))) << sparse;
    EXPECT_EQ(dense_grad(ours)[0].abs().sum().item<float>(), 0.0f);  // padding: no gradient
    EXPECT_GT(dense_grad(ours)[4].abs().sum().item<float>(), 0.0f);  // twice, summed
  }
}

TEST(EmbeddingOps, MeanIsEmbeddingBagInMeanModeWithPaddingLeftOut) {
  const torch::Tensor ids =
      torch::tensor({0, 0, 3, 2, 2, 5, 0, 0, 0, 7, 1, 0}, torch::kLong).reshape({4, 3});
  const torch::Tensor weights = torch::arange(4 * 6, torch::kFloat).reshape({4, 6});
  for (bool sparse : {false, true}) {
    torch::Tensor ours = table(8, 6), theirs = table(8, 6);
    torch::Tensor out = embedding_mean(ours, ids, sparse);
    torch::Tensor offsets = torch::arange(0, 12, 3, torch::kLong);
    torch::Tensor expected = std::get<0>(torch::embedding_bag(
        theirs, ids.reshape({-1}), offsets, false, /*mode=*/1, sparse, {}, false, 0));
    EXPECT_TRUE(torch::allclose(out, expected)) << sparse;
    EXPECT_EQ(out[2].abs().sum().item<float>(), 0.0f);              // all padding: zero
    EXPECT_TRUE(torch::allclose(out[0], ours[3]));                  // one id: its row
    EXPECT_TRUE(torch::allclose(out[3], (ours[7] + ours[1]) / 2));  // padding not counted
    (out * weights).sum().backward();
    (expected * weights).sum().backward();
    EXPECT_EQ(ours.grad().is_sparse(), sparse);
    EXPECT_TRUE(torch::allclose(dense_grad(ours), dense_grad(theirs))) << sparse;
    EXPECT_EQ(dense_grad(ours)[0].abs().sum().item<float>(), 0.0f);
  }
}

TEST(EmbeddingOps, BagMeanIsEmbeddingBagWithOneGradientRowPerDistinctId) {
  // Bags {4, 0, 4}, {}, {2}, {0, 1, 3, 4}: id 0 is a real row here; id 4 three times.
  const torch::Tensor items = torch::tensor({4, 0, 4, 2, 0, 1, 3, 4}, torch::kLong);
  const torch::Tensor offsets = torch::tensor({0, 3, 3, 4}, torch::kLong);
  const torch::Tensor weights = torch::arange(4 * 5, torch::kFloat).reshape({4, 5});
  for (bool sparse : {false, true}) {
    torch::manual_seed(5);
    torch::Tensor ours = torch::randn({6, 5}).requires_grad_();
    torch::Tensor theirs = ours.detach().clone().requires_grad_();
    torch::Tensor out = embedding_bag_mean(ours, items, offsets, sparse);
    torch::Tensor expected =
        std::get<0>(torch::embedding_bag(theirs, items, offsets, false, /*mean*/ 1, sparse));
    EXPECT_TRUE(torch::allclose(out, expected)) << sparse;
    EXPECT_EQ(out[1].abs().sum().item<float>(), 0.0f);  // the empty bag
    (out * weights).sum().backward();
    (expected * weights).sum().backward();
    ASSERT_EQ(ours.grad().is_sparse(), sparse);
    EXPECT_TRUE(torch::allclose(dense_grad(ours), dense_grad(theirs))) << sparse;
    if (sparse) {  // ids 4, 0, 2, 1, 3: five rows, where torch's gradient has eight
      EXPECT_EQ(ours.grad()._values().size(0), 5);
      EXPECT_EQ(dense_grad(ours)[5].abs().sum().item<float>(), 0.0f);
    }
  }
  torch::Tensor w = torch::randn({3, 2});
  EXPECT_THROW(embedding_bag_mean(w, torch::tensor({0, 3}, torch::kLong),
                                  torch::tensor({0}, torch::kLong), true),
               c10::Error);
  EXPECT_THROW(embedding_bag_mean(w, torch::tensor({0, 1}, torch::kLong),
                                  torch::tensor({0, 3}, torch::kLong), true),
               c10::Error);
}

TEST(EmbeddingOps, EmptySequencesPoolToZero) {
  torch::Tensor w = table(4, 3);
  torch::Tensor out = embedding_mean(w, torch::zeros({5, 0}, torch::kLong), true);
  EXPECT_EQ(out.sizes(), (std::vector<int64_t>{5, 3}));
  EXPECT_EQ(out.abs().sum().item<float>(), 0.0f);
}

TEST(EmbeddingOps, AnIdOutsideTheTableIsAnErrorNotACrash) {
  torch::Tensor w = table(4, 3);
  for (int64_t bad : {4, -1, 1000000}) {
    const torch::Tensor ids = torch::tensor({int64_t{1}, bad}, torch::kLong);
    EXPECT_THROW(embedding_rows(w, ids, true), c10::Error) << bad;
    EXPECT_THROW(embedding_mean(w, ids.reshape({1, 2}), true), c10::Error) << bad;
  }
  try {
    embedding_rows(w, torch::tensor({7}, torch::kLong), false);
    ADD_FAILURE() << "no error for id 7";
  } catch (const c10::Error& e) {
    EXPECT_NE(std::string(e.what()).find("embedding id 7 is out of range for a table of 4 rows"),
              std::string::npos)
        << e.what();
  }
}

TEST(EmbeddingOps, OtherDtypesTakeTorchsOps) {
  torch::Tensor w = table(5, 2).detach().to(torch::kDouble).requires_grad_();
  const torch::Tensor ids = torch::tensor({{1, 2}, {0, 4}}, torch::kLong);
  torch::Tensor out = embedding_mean(w, ids, false);
  EXPECT_EQ(out.scalar_type(), torch::kDouble);
  EXPECT_TRUE(torch::allclose(out[1], w[4]));
  out.sum().backward();
  EXPECT_EQ(w.grad()[0].abs().sum().item<double>(), 0.0);
}

TEST(EmbeddingOps, PoolingGivesTheSameBitsOnEveryKernelPath) {
  // Bags of every width up to 37 over rows of 1 to 70 floats: the vector loops' tails too.
  for (int64_t dim : {1, 7, 8, 33, 70}) {
    torch::manual_seed(dim);
    const torch::Tensor w = torch::randn({50, dim});
    const torch::Tensor ids = torch::randint(0, 50, {300, 37}, torch::kLong);
    const int paths = testing::expect_same_bits_on_every_path([&] {
      return std::vector<torch::Tensor>{embedding_mean(w, ids, false),
                                        embedding_mean(w, ids.slice(1, 0, 5), true)};
    });
    EXPECT_GE(paths, 1);
  }
}

}  // namespace
}  // namespace dnnrec
