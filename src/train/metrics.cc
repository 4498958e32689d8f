// Evaluation metrics on plain vectors, accumulated in double; the metric names of each task.
#include "train/metrics.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "dnnrec/error.h"

namespace dnnrec {
namespace {

void check_sizes(const char* metric, const std::vector<float>& pred,
                 const std::vector<float>& target) {
  if (pred.size() != target.size()) {
    throw Error(std::string(metric) + ": " + std::to_string(pred.size()) + " predictions but " +
                std::to_string(target.size()) + " targets");
  }
  if (pred.empty()) throw Error(std::string(metric) + ": no examples to evaluate");
}

bool is_positive(float label) { return label > 0.5f; }

}  // namespace

double rmse(const std::vector<float>& pred, const std::vector<float>& target) {
  check_sizes("rmse", pred, target);
  double sum = 0;
  for (size_t i = 0; i < pred.size(); ++i) {
    const double d = static_cast<double>(pred[i]) - target[i];
    sum += d * d;
  }
  return std::sqrt(sum / pred.size());
}

double mae(const std::vector<float>& pred, const std::vector<float>& target) {
  check_sizes("mae", pred, target);
  double sum = 0;
  for (size_t i = 0; i < pred.size(); ++i)
    sum += std::abs(static_cast<double>(pred[i]) - target[i]);
  return sum / pred.size();
}

// Mann-Whitney U: sort by score once, give each tie group its average rank, then
// AUC = (sum of positive ranks - n_pos (n_pos + 1) / 2) / (n_pos n_neg).
double auc(const std::vector<float>& score, const std::vector<float>& label) {
  check_sizes("auc", score, label);
  for (size_t i = 0; i < score.size(); ++i) {
    // NaN would break the sort's ordering; a diverged model is reported, not silently ranked.
    if (std::isnan(score[i])) throw Error("auc: score " + std::to_string(i) + " is NaN");
  }
  std::vector<size_t> order(score.size());
  std::iota(order.begin(), order.end(), size_t{0});
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return score[a] < score[b]; });

  double positive_rank_sum = 0;
  double n_pos = 0;
  for (size_t begin = 0; begin < order.size();) {
    size_t end = begin;
    double group_pos = 0;
    while (end < order.size() && score[order[end]] == score[order[begin]]) {
      group_pos += is_positive(label[order[end]]) ? 1 : 0;
      ++end;
    }
    // Ranks begin+1 .. end (1-based) share their mean.
    const double mean_rank = (static_cast<double>(begin + 1) + static_cast<double>(end)) / 2;
    positive_rank_sum += group_pos * mean_rank;
    n_pos += group_pos;
    begin = end;
  }
  const double n_neg = static_cast<double>(score.size()) - n_pos;
  if (n_pos == 0 || n_neg == 0) return 0.5;
  return (positive_rank_sum - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg);
}

double logloss(const std::vector<float>& prob, const std::vector<float>& label) {
  check_sizes("logloss", prob, label);
  constexpr double kEps = 1e-7;
  double sum = 0;
  for (size_t i = 0; i < prob.size(); ++i) {
    const double p = std::clamp(static_cast<double>(prob[i]), kEps, 1 - kEps);
    const double y = label[i];
    sum -= y * std::log(p) + (1 - y) * std::log(1 - p);
  }
  return sum / prob.size();
}

// As Keras' binary_accuracy: a probability above 0.5 predicts the positive class.
double accuracy(const std::vector<float>& prob, const std::vector<float>& label) {
  check_sizes("accuracy", prob, label);
  size_t correct = 0;
  for (size_t i = 0; i < prob.size(); ++i) {
    correct += (prob[i] > 0.5f) == is_positive(label[i]) ? 1 : 0;
  }
  return static_cast<double>(correct) / prob.size();
}

const std::vector<MetricInfo>& metric_table() {
  // clang-format off
  static const std::vector<MetricInfo> table = {
      // name       task      fn        higher is better
      {"rmse",     "rating", rmse,     false},
      {"mae",      "rating", mae,      false},
      {"auc",      "binary", auc,      true},
      {"logloss",  "binary", logloss,  false},
      {"accuracy", "binary", accuracy, true},
  };
  // clang-format on
  return table;
}

const std::vector<RankingMetricInfo>& ranking_metric_table() {
  static const std::vector<RankingMetricInfo> table = {
      {"ndcg", true},      {"recall", true},   {"mrr", true},         {"hit", true},
      {"precision", true}, {"coverage", true}, {"popularity", false},
  };
  return table;
}

std::vector<std::string> task_metrics(const std::string& task, const std::vector<int>& ks) {
  std::vector<std::string> names;
  if (task == "ranking") {
    for (int k : ks) {
      for (const RankingMetricInfo& m : ranking_metric_table()) {
        names.push_back(std::string(m.name) + "@" + std::to_string(k));
      }
    }
    return names;
  }
  for (const MetricInfo& m : metric_table()) {
    if (task == m.task) names.push_back(m.name);
  }
  if (names.empty()) throw ConfigError("unknown task '" + task + "' (rating | binary | ranking)");
  return names;
}

std::map<std::string, double> compute_metrics(const std::string& task,
                                              const std::vector<float>& pred,
                                              const std::vector<float>& target) {
  task_metrics(task);  // throws for an unknown task
  if (pred.size() != target.size()) {
    throw Error("evaluation: " + std::to_string(pred.size()) + " predictions but " +
                std::to_string(target.size()) + " targets");
  }
  if (pred.empty()) throw Error("no examples to evaluate");
  std::map<std::string, double> out;
  for (const MetricInfo& m : metric_table()) {
    if (task == m.task) out[m.name] = m.fn(pred, target);
  }
  return out;
}

bool metric_higher_is_better(const std::string& name) {
  // Accepts the monitor spelling too ("val_auc").
  std::string base = name;
  for (const std::string prefix : {"val_", "train_"}) {
    if (base.rfind(prefix, 0) == 0) base = base.substr(prefix.size());
  }
  for (const MetricInfo& m : metric_table()) {
    if (base == m.name) return m.higher_is_better;
  }
  const std::string ranking = base.substr(0, base.find('@'));
  for (const RankingMetricInfo& m : ranking_metric_table()) {
    if (ranking == m.name && base.size() > ranking.size()) return m.higher_is_better;
  }
  return false;  // losses
}

}  // namespace dnnrec
