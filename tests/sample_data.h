// The generated sample dataset, split and featurised once per test binary run, for the tests
// that train models.
#pragma once

#include "data/batch.h"
#include "data/features.h"
#include "data/load.h"
#include "data/sample.h"
#include "data/split.h"
#include "dnnrec/config.h"
#include "test_util.h"

namespace dnnrec::testing {

/// write_sample_movielens with default options, split and featurised with the default config.
struct SampleData {
  TempDir dir;
  Config config;
  FeatureSpec spec;
  TensorData train, val;

  SampleData() {
    write_sample_movielens(dir.path(), SampleOptions{});
    MovieLens data = load_movielens(dir.path());
    Split split = split_ratings(data.ratings, config.data);
    FeatureBuilder builder(config.features, config.data.split);
    builder.fit(data, split.train);
    spec = builder.spec(config.data);
    train = TensorData(builder.transform_train(data, split.train), "rating", 4.0);
    val = TensorData(builder.transform(data, split.val), "rating", 4.0);
  }
};

/// The one shared instance (never destroyed: tests may use it until exit).
inline const SampleData& sample() {
  static SampleData* data = new SampleData();
  return *data;
}

}  // namespace dnnrec::testing
