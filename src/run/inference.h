// A rating or binary checkpoint rebuilt with its data, split, features and trainer: what
// evaluate, predict, recommend and export score with.
#pragma once

#include <memory>
#include <string>

#include "data/features.h"
#include "data/movielens.h"
#include "data/split.h"
#include "train/checkpoint.h"
#include "train/trainer.h"

namespace dnnrec {

/// Everything evaluate / predict / recommend rebuild from a checkpoint and the data folder.
struct Restored {
  Checkpoint ckpt;
  MovieLens data;
  Split split;
  std::unique_ptr<FeatureBuilder> features;
  FeatureSpec spec;
  std::unique_ptr<Trainer> trainer;
};

/// A loaded rating or binary checkpoint with its data (data_dir empty: the folder stored in the
/// checkpoint), split, features and trainer.
Restored restore(Checkpoint ckpt, const std::string& data_dir);

}  // namespace dnnrec
