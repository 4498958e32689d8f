// The ranking models' names and losses, without torch (rankers.cc holds their constructors).
#include "models/ranker_names.h"

#include <utility>

namespace dnnrec {
namespace {

// In registry order; make_ranker (rankers.cc) builds each name listed here.
const std::vector<std::pair<std::string, std::string>>& ranker_losses() {
  static const std::vector<std::pair<std::string, std::string>> table = {
      {"pop", "none"},
      {"itemknn", "none"},
      {"ease", "none"},
      {"bpr", "bpr"},
      {"two-tower", "sampled-softmax"},
      {"sasrec", "softmax"},
      // The feature models of the rating task, scoring (user, item) pairs: each positive
      // against train.negatives uniform negatives, binary cross-entropy.
      {"dnn", "bce"},
      {"deepfm", "bce"},
      {"neumf", "bce"},
      // Ranks of its members' lists, fused; the members train or fit alone.
      {"blend", "none"},
  };
  return table;
}

}  // namespace

const std::vector<std::string>& ranker_names() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> out;
    for (const auto& [name, loss] : ranker_losses()) out.push_back(name);
    return out;
  }();
  return names;
}

std::string ranker_loss(const std::string& name) {
  for (const auto& [n, loss] : ranker_losses()) {
    if (n == name) return loss;
  }
  return "";
}

bool ranks_only(const std::string& name) {
  const std::string loss = ranker_loss(name);
  return !loss.empty() && loss != "bce";
}

std::vector<double> blend_weights(const ModelConfig& model) {
  if (!model.member_weights.empty()) return model.member_weights;
  return std::vector<double>(model.members.size(), 1.0);
}

}  // namespace dnnrec
