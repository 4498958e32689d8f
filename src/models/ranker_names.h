// The ranking models' names and losses, without torch: config validation reads them.
#pragma once

#include <string>
#include <vector>

namespace dnnrec {

/// Names of the ranking models (train.task ranking), in registry order.
const std::vector<std::string>& ranker_names();

/// The loss a ranking model trains with ("none" for the closed-form ones); "" for other names.
std::string ranker_loss(const std::string& name);

/// Whether `name` is a ranking model only; the feature models (loss "bce") also serve the
/// rating and binary tasks.
bool ranks_only(const std::string& name);

}  // namespace dnnrec
