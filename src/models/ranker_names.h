// The ranking models' names and losses, without torch: config validation reads them.
#pragma once

#include <string>
#include <vector>

#include "dnnrec/config.h"

namespace dnnrec {

/// Names of the ranking models (train.task ranking), in registry order.
const std::vector<std::string>& ranker_names();

/// The loss a ranking model trains with ("none" for the closed-form ones); "" for other names.
std::string ranker_loss(const std::string& name);

/// Whether `name` is a ranking model only; the feature models (loss "bce") also serve the
/// rating and binary tasks.
bool ranks_only(const std::string& name);

/// A blend's member weights: model.member_weights, or 1 for each of model.members when empty.
std::vector<double> blend_weights(const ModelConfig& model);

}  // namespace dnnrec
