// Tests of the ranking models on hand-made interactions: the user blocks they read, the
// closed-form scores, and that the trained ones learn a planted preference.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "dnnrec/config.h"
#include "dnnrec/error.h"
#include "models/rankers.h"
#include "train/optimizer.h"

namespace dnnrec {
namespace {

// Users 0..5; items 0..5. Even users interact with items 0, 1, 2, odd users with 3, 4, 5, each
// missing one (user u misses item u % 3 of its group).
RankingData planted() {
  RankingData d;
  for (int64_t u = 0; u < 6; ++u) {
    d.index.users.push_back(100 + u);
    std::vector<int64_t> items;
    for (int64_t j = 0; j < 3; ++j) {
      const int64_t item = (u % 2) * 3 + j;
      if (j != (u / 2) % 3) items.push_back(item);
    }
    d.index.train.push_back(items);
    d.train_sequence.push_back(items);
  }
  for (int64_t i = 0; i < 6; ++i) d.index.items.push_back(200 + i);
  d.index.val.resize(6);
  d.index.test.resize(6);
  d.item_genres = torch::zeros({6, 1}, torch::kLong);
  for (int64_t i = 0; i < 6; ++i) d.item_genres[i][0] = 1 + i / 3;  // genre by group
  d.item_year = torch::ones({6}, torch::kLong);
  d.n_genres = 2;
  d.n_years = 1;
  return d;
}

TEST(Rankers, UserBlocksListEachUsersTrainingItems) {
  const RankingData d = planted();
  const UserBlock block = user_block(d.index, {1, 0, 1});
  EXPECT_EQ(block.offsets.sizes(), torch::IntArrayRef({3}));
  EXPECT_EQ(block.counts.sum().item<int64_t>(), 6);
  const torch::Tensor dense = block.dense(6);
  // User 1 (odd, missing item 3 + 0) has items 4 and 5; user 0 items 1 and 2.
  EXPECT_TRUE(torch::equal(dense[0], torch::tensor({0.f, 0.f, 0.f, 0.f, 1.f, 1.f})));
  EXPECT_TRUE(torch::equal(dense[1], torch::tensor({0.f, 1.f, 1.f, 0.f, 0.f, 0.f})));
  EXPECT_TRUE(torch::equal(dense[2], dense[0]));
}

// Config validation reads the names and losses (ranker_names.cc, without torch); make_ranker
// builds from its own table: every listed name must build, and nothing else.
TEST(Rankers, EveryListedNameBuildsAndHasALoss) {
  const RankingData d = planted();
  Config c;
  c.train.task = "ranking";
  c.features.history_len = 3;
  Config pop = c, ease = c;
  pop.model.name = "pop";
  ease.model.name = "ease";
  for (const std::string& name : ranker_names()) {
    c.model.name = name;
    if (name == "blend") {
      c.model.members = {"pop.yaml", "ease.yaml"};
      EXPECT_NE(make_ranker(c, d, {pop, ease}), nullptr);
      EXPECT_THROW(make_ranker(c, d), ConfigError);  // no member configs
    } else {
      EXPECT_NE(make_ranker(c, d), nullptr) << name;
    }
    EXPECT_FALSE(ranker_loss(name).empty()) << name;
  }
  c.model.members.clear();
  EXPECT_EQ(ranker_loss("wide-deep"), "");
  c.model.name = "wide-deep";
  EXPECT_THROW(make_ranker(c, d), ConfigError);
  // Only the feature models also serve the other tasks.
  EXPECT_TRUE(ranks_only("ease"));
  EXPECT_TRUE(ranks_only("sasrec"));
  EXPECT_FALSE(ranks_only("dnn"));
  EXPECT_FALSE(ranks_only("wide-deep"));
}

TEST(Rankers, ClosedFormModelsScoreTheHeldOutItemOfTheUsersGroupFirst) {
  const RankingData d = planted();
  Config c;
  c.train.task = "ranking";
  c.model.neighbours = 5;
  c.model.ease_lambda = 1.0;
  for (const char* name : {"itemknn", "ease"}) {
    c.model.name = name;
    Ranker model = make_ranker(c, d);
    model->fit(d);
    const torch::Tensor scores = model->score(user_block(d.index, 0, 6));
    for (int64_t u = 0; u < 6; ++u) {
      const int64_t missing = (u % 2) * 3 + (u / 2) % 3;
      // The best item the user has not seen is the missing one of its own group.
      torch::Tensor s = scores[u].clone();
      for (int64_t item : d.index.train[u]) s[item] = -1e9;
      EXPECT_EQ(s.argmax().item<int64_t>(), missing) << name << " user " << u;
    }
  }
  c.model.name = "pop";
  Ranker pop = make_ranker(c, d);
  pop->fit(d);
  EXPECT_TRUE(torch::equal(pop->score(user_block(d.index, 0, 2))[1],
                           torch::tensor({2.f, 2.f, 2.f, 2.f, 2.f, 2.f})));
  const RankBatch empty;
  EXPECT_THROW(pop->loss(empty, 0.0), Error);
}

// An item's rank is how many allowed items score strictly higher: ties share it, whatever their
// order; excluded items rank after every allowed one.
TEST(Rankers, CompetitionRanksCountTheAllowedItemsScoredHigher) {
  const torch::Tensor scores = torch::tensor({3.f, 1.f, 3.f, 2.f, 5.f, 0.5f}).reshape({1, 6});
  const torch::Tensor excluded =
      torch::tensor({false, false, false, true, true, false}).reshape({1, 6});
  const torch::Tensor ranks = competition_ranks(scores, excluded);
  EXPECT_EQ(ranks.scalar_type(), torch::kLong);
  EXPECT_TRUE(torch::equal(ranks, torch::tensor({0L, 2L, 0L, 4L, 4L, 3L}).reshape({1, 6})))
      << ranks;
  // Rows are ranked apart.
  const torch::Tensor two =
      competition_ranks(torch::stack({scores[0], -scores[0]}), torch::zeros({2, 6}, torch::kBool));
  EXPECT_TRUE(torch::equal(two[1], torch::tensor({3L, 1L, 3L, 2L, 5L, 0L}))) << two;
}

// A blend scores -sum_m w_m ln(1 + rank_m), each member ranking the items outside the user's
// excluded ones for the block's part; members read their own length of the shared history.
TEST(Rankers, BlendFusesItsMembersRanksOfTheItemsAListMayHold) {
  RankingData d = planted();
  d.index.val = {{}, {}, {}, {}, {}, {}};
  d.index.val[1] = {4};  // for test, user 1's validation item is excluded too
  d.val_sequence = d.index.val;
  d.test_sequence.assign(6, {});
  Config pop, ease, blend;
  for (Config* c : {&pop, &ease, &blend}) c->train.task = "ranking";
  pop.model.name = "pop";
  ease.model.name = "ease";
  ease.model.ease_lambda = 1.0;
  ease.model.recency_tau = 2.0;  // reads the latest 2 items of the history
  ease.features.history_len = 2;
  blend.model.name = "blend";
  blend.model.members = {"pop", "ease"};
  blend.model.member_weights = {0.25, 0.75};
  Ranker model = make_ranker(blend, d, {pop, ease});
  const std::vector<Ranker> members = blend_members(*model);
  ASSERT_EQ(members.size(), 2u);
  for (auto& m : members) m->fit(d);
  EXPECT_EQ(model->sequence_length(), 2);
  EXPECT_FALSE(model->trainable());
  const std::vector<int64_t> users = {0, 1, 2, 3, 4, 5};
  for (const char* part : {"val", "test"}) {
    const UserBlock block = user_block(d, users, part, model->sequence_length());
    const torch::Tensor fused = model->score(block);
    const torch::Tensor pop_scores = members[0]->score(block);
    const torch::Tensor ease_scores = members[1]->score(block);
    for (int64_t u = 0; u < 6; ++u) {
      std::vector<bool> out(6, false);
      for (int64_t item : excluded_items(d.index, u, part)) out[static_cast<size_t>(item)] = true;
      const int64_t allowed = std::count(out.begin(), out.end(), false);
      auto rank = [&](const torch::Tensor& s, int64_t item) {
        if (out[static_cast<size_t>(item)]) return allowed;
        int64_t above = 0;
        for (int64_t j = 0; j < 6; ++j) {
          above += !out[static_cast<size_t>(j)] && s[u][j].item<float>() > s[u][item].item<float>();
        }
        return above;
      };
      for (int64_t item = 0; item < 6; ++item) {
        const double expected = -(0.25 * std::log1p(static_cast<double>(rank(pop_scores, item))) +
                                  0.75 * std::log1p(static_cast<double>(rank(ease_scores, item))));
        EXPECT_NEAR(fused[u][item].item<float>(), expected, 1e-6)
            << part << " user " << u << " item " << item;
      }
    }
  }
  // A member of weight 0 does not count; without weights every member counts 1.
  blend.model.member_weights = {0.0, 1.0};
  Ranker ease_only = make_ranker(blend, d, {pop, ease});
  for (auto& m : blend_members(*ease_only)) m->fit(d);
  const UserBlock block = user_block(d, users, "val", 2);
  const torch::Tensor ease_ranks =
      competition_ranks(blend_members(*ease_only)[1]->score(block), block.dense(6) > 0);
  EXPECT_TRUE(
      torch::allclose(ease_only->score(block), -torch::log1p(ease_ranks.to(torch::kFloat))));
  blend.model.member_weights.clear();
  Ranker equal = make_ranker(blend, d, {pop, ease});
  for (auto& m : blend_members(*equal)) m->fit(d);
  const torch::Tensor pop_ranks =
      competition_ranks(blend_members(*equal)[0]->score(block), block.dense(6) > 0);
  EXPECT_TRUE(torch::allclose(equal->score(block), -torch::log1p(pop_ranks.to(torch::kFloat)) -
                                                       torch::log1p(ease_ranks.to(torch::kFloat))));
  // A blend's members are never blends, and blend_members refuses other models.
  Config nested = blend;
  EXPECT_THROW(make_ranker(blend, d, {pop, nested}), ConfigError);
  EXPECT_THROW(blend_members(*members[0]), Error);
}

// model.recency_tau: itemknn and ease score from the user's latest features.history_len items,
// the k-th newest weighted exp(-k / tau); for test the validation item is the newest.
TEST(Rankers, RecencyWeightedItemItemScoresTheLatestItemsByAge) {
  RankingData d = planted();
  d.val_sequence.assign(6, {});
  d.val_sequence[0] = {0};  // user 0 trained on 1, 2 (in that order); 0 came next
  d.test_sequence.assign(6, {});
  Config c;
  c.train.task = "ranking";
  c.model.ease_lambda = 1.0;
  c.features.history_len = 2;
  for (const char* name : {"itemknn", "ease"}) {
    SCOPED_TRACE(name);
    c.model.name = name;
    c.model.recency_tau = 0.0;
    Ranker plain = make_ranker(c, d);
    EXPECT_EQ(plain->sequence_length(), 0);
    plain->fit(d);
    c.model.recency_tau = 0.5;
    Ranker recent = make_ranker(c, d);
    ASSERT_EQ(recent->sequence_length(), 2);
    recent->fit(d);
    const torch::Tensor w = plain->named_buffers()["weights"];
    EXPECT_TRUE(torch::equal(recent->named_buffers()["weights"], w));
    const float older = std::exp(-1.0f / 0.5f);
    // val: the training items 1 then 2; 2 is the newest.
    torch::Tensor row = torch::zeros({1, 6});
    row[0][1] = older;
    row[0][2] = 1.0f;
    EXPECT_TRUE(torch::allclose(recent->score(user_block(d, {0}, "val", 2)), row.matmul(w)));
    // test: the history ends with the validation item 0 and holds the latest two, 2 and 0.
    row.zero_();
    row[0][2] = older;
    row[0][0] = 1.0f;
    EXPECT_TRUE(torch::allclose(recent->score(user_block(d, {0}, "test", 2)), row.matmul(w)));
  }
}

// model.sequence_window: itemknn and ease add the sequential rules to their item-item matrix,
// alpha s T with T[i][j] the row-normalised count of j following i within the window (1 / gap
// each), and s a positive scale fixed by the data, so alpha doubles the addition.
TEST(Rankers, SequentialRulesAddTheNormalisedFollowerCounts) {
  const RankingData d = planted();  // sequences: [1, 2], [4, 5], [0, 2], [3, 5], [0, 1], [3, 4]
  torch::Tensor rules = torch::zeros({6, 6});
  rules[1][2] = 1.0f;                // 2 follows 1 (user 0)
  rules[0][2] = rules[0][1] = 0.5f;  // 2 and 1 each follow 0 once (users 2, 4)
  rules[4][5] = 1.0f;
  rules[3][5] = rules[3][4] = 0.5f;
  Config c;
  c.train.task = "ranking";
  c.model.ease_lambda = 1.0;
  for (const char* name : {"itemknn", "ease"}) {
    SCOPED_TRACE(name);
    c.model.name = name;
    c.model.sequence_window = 0;
    Ranker plain = make_ranker(c, d);
    plain->fit(d);
    const torch::Tensor base = plain->named_buffers()["weights"].clone();
    c.model.sequence_window = 3;  // longer than any sequence: the same rules as a window of 1
    c.model.sequence_weight = 1.0;
    Ranker ruled = make_ranker(c, d);
    ruled->fit(d);
    const torch::Tensor added = ruled->named_buffers()["weights"] - base;
    const float scale = added[1][2].item<float>();
    EXPECT_GT(scale, 0.0f);
    EXPECT_TRUE(torch::allclose(added, rules * scale, 1e-4, 1e-6)) << added;
    c.model.sequence_weight = 2.0;
    Ranker twice = make_ranker(c, d);
    twice->fit(d);
    EXPECT_TRUE(torch::allclose(twice->named_buffers()["weights"] - base, added * 2, 1e-4, 1e-6));
  }
  // A window of 1 counts only the next item: in [0, 1, 2], 2 no longer follows 0.
  RankingData longer = planted();
  longer.train_sequence[0] = {0, 1, 2};
  longer.index.train[0] = {0, 1, 2};
  c.model.name = "ease";
  c.model.sequence_weight = 1.0;
  c.model.sequence_window = 0;
  Ranker plain = make_ranker(c, longer);
  plain->fit(longer);
  c.model.sequence_window = 1;
  Ranker next_only = make_ranker(c, longer);
  next_only->fit(longer);
  const torch::Tensor added =
      next_only->named_buffers()["weights"] - plain->named_buffers()["weights"];
  // 0 is followed by 1 (users 0, 4) and by 2 (user 2): 2/3 and 1/3.
  EXPECT_NEAR(added[0][1].item<float>() / added[0][2].item<float>(), 2.0, 1e-4);
}

// Trains a model a few hundred steps on every training pair; each user's training items must
// then outscore every item of the other group, and with `missing_too` (negatives drawn from the
// other group only, as bpr's and the feature models' here) so must the user's missing item of its
// own group. In-batch negatives (two-tower) include that item, so there it is not checked.
// Trains `name` 300 steps on every training pair of `d`, negatives from the other group.
Ranker train_planted(const RankingData& d, const std::string& name, Config& c) {
  c.train.task = "ranking";
  c.model.name = name;
  c.model.embedding_dim = 8;
  c.model.hidden = {};
  c.train.lr = 0.05;
  c.train.negatives = 2;
  c.features.history_len = 0;
  if (!ranks_only(name)) {
    // A feature model is additive in user and item without a hidden layer; it pools the
    // latest item of the history (the other one of a positive's own group).
    c.model.hidden = {16};
    c.model.dropout = 0.0;
    c.features.history_len = 1;
  }
  torch::manual_seed(1);
  Ranker model = make_ranker(c, d);
  EXPECT_TRUE(model->trainable());
  const bool per_example = ranker_loss(name) != "sampled-softmax";
  ModelOptimizer optimizer(c.train, *model);
  std::vector<int64_t> users, items;
  for (int64_t u = 0; u < d.index.n_users(); ++u) {
    for (int64_t item : d.index.train[u]) {
      users.push_back(u);
      items.push_back(item);
    }
  }
  double first = 0, last = 0;
  for (int step = 0; step < 300; ++step) {
    RankBatch batch;
    // As make_batch: the history without the example's positive, when the model reads one.
    batch.users = model->sequence_length() > 0
                      ? user_block(d, users, "train", model->sequence_length(), &items)
                      : user_block(d.index, users, name == "two-tower" ? &items : nullptr);
    batch.items = torch::tensor(items);
    // Negatives: the other group's items.
    std::vector<int64_t> negatives;
    for (int64_t u : users) {
      negatives.push_back((1 - u % 2) * 3 + step % 3);
      negatives.push_back((1 - u % 2) * 3 + (step + 1) % 3);
    }
    batch.negatives = per_example ? torch::tensor(negatives).view({-1, 2})
                                  : torch::tensor(std::vector<int64_t>{step % 6});
    optimizer.zero_grad();
    const torch::Tensor loss = model->loss(batch, 0.0);
    (step == 0 ? first : last) = loss.item<double>();
    loss.backward();
    optimizer.step();
  }
  EXPECT_LT(last, first) << name;
  model->eval();
  return model;
}

void expect_learns(const std::string& name, bool missing_too) {
  const RankingData d = planted();
  Config c;
  Ranker model = train_planted(d, name, c);
  torch::NoGradGuard no_grad;
  model->freeze_items(true);
  const std::vector<int64_t> all = {0, 1, 2, 3, 4, 5};
  const int64_t length = model->sequence_length();
  EXPECT_EQ(length, c.features.history_len * !ranks_only(name));
  const torch::Tensor scores = model->score(user_block(d, all, "val", length));
  model->freeze_items(false);
  EXPECT_TRUE(torch::allclose(scores, model->score(user_block(d, all, "val", length))));
  for (int64_t u = 0; u < 6; ++u) {
    std::vector<int64_t> own = d.index.train[u];
    if (missing_too) own.push_back((u % 2) * 3 + (u / 2) % 3);
    for (int64_t item : own) {
      for (int64_t other = 0; other < 3; ++other) {
        EXPECT_GT(scores[u][item].item<float>(), scores[u][(1 - u % 2) * 3 + other].item<float>())
            << name << " user " << u << " item " << item;
      }
    }
  }
}

// Users 6 and 7 have no training item, only a description naming their group, as users 0..5
// have: the models that read descriptions (two-tower's user tower, the feature models' profile
// field) score the cold users' group above the other, which their untrained ids and empty
// histories cannot.
TEST(Rankers, DescriptionsScoreAColdUsersGroupAboveTheOther) {
  RankingData d = planted();
  for (int64_t u = 6; u < 8; ++u) {
    d.index.users.push_back(100 + u);
    d.index.train.emplace_back();
    d.train_sequence.emplace_back();
  }
  d.index.val.resize(8);
  d.index.test.resize(8);
  d.user_profile = torch::zeros({8, 2}, torch::kLong);
  for (int64_t u = 0; u < 8; ++u) d.user_profile[u][0] = 1 + u % 2;  // token "group"; one pad
  d.n_profile = 2;
  for (const char* name : {"two-tower", "dnn", "deepfm"}) {
    SCOPED_TRACE(name);
    Config c;
    Ranker model = train_planted(d, name, c);
    // The description is a parameter of the model.
    bool has_profile = false;
    for (const auto& p : model->named_parameters()) {
      has_profile |= p.key().find("profile") != std::string::npos;
    }
    EXPECT_TRUE(has_profile);
    torch::NoGradGuard no_grad;
    const torch::Tensor scores =
        model->score(user_block(d, {6, 7}, "val", model->sequence_length()));
    for (int64_t u = 6; u < 8; ++u) {
      const torch::Tensor own = scores[u - 6].slice(0, (u % 2) * 3, (u % 2) * 3 + 3);
      const torch::Tensor other = scores[u - 6].slice(0, (1 - u % 2) * 3, (1 - u % 2) * 3 + 3);
      EXPECT_GT(own.mean().item<float>(), other.mean().item<float>()) << "user " << u;
    }
  }
}

TEST(Rankers, BprLearnsThePlantedGroups) { expect_learns("bpr", /*missing_too=*/true); }
TEST(Rankers, TwoTowerLearnsThePlantedGroups) { expect_learns("two-tower", false); }
TEST(Rankers, FeatureModelsLearnThePlantedGroups) {
  for (const char* name : {"dnn", "deepfm", "neumf"}) expect_learns(name, /*missing_too=*/true);
}

}  // namespace
}  // namespace dnnrec
