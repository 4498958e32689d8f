// Evaluation metrics on plain vectors: rmse, mae for ratings; auc, logloss, accuracy for binary.
#pragma once

#include <map>
#include <string>
#include <vector>

namespace dnnrec {

double rmse(const std::vector<float>& pred, const std::vector<float>& target);
double mae(const std::vector<float>& pred, const std::vector<float>& target);
/// ROC AUC of scores against 0/1 labels, ties counted as half; 0.5 when one class is absent.
double auc(const std::vector<float>& score, const std::vector<float>& label);
/// Mean binary cross-entropy of probabilities (clipped to [1e-7, 1-1e-7]) against 0/1 labels.
double logloss(const std::vector<float>& prob, const std::vector<float>& label);
/// Fraction of probabilities on the right side of 0.5.
double accuracy(const std::vector<float>& prob, const std::vector<float>& label);

/// A metric of a task: every metric is declared once, in metric_table().
struct MetricInfo {
  const char* name;  ///< "rmse", ...; val_<name> is its monitor spelling
  const char* task;  ///< rating | binary
  double (*fn)(const std::vector<float>& pred, const std::vector<float>& target);
  bool higher_is_better;
};

/// Every metric, in the order reports list them.
const std::vector<MetricInfo>& metric_table();

/// A ranking metric at a cut-off K, named "<name>@K" (ranking_metrics.h computes them).
struct RankingMetricInfo {
  const char* name;  ///< ndcg, recall, mrr, hit, precision, coverage, popularity
  bool higher_is_better;
};

/// Every ranking metric, in the order reports list them.
const std::vector<RankingMetricInfo>& ranking_metric_table();

/// Metric names of a task: rating -> rmse, mae; binary -> auc, logloss, accuracy; ranking ->
/// each ranking metric at each K of `ks` (ndcg@10, recall@10, ..., ndcg@20, ...).
std::vector<std::string> task_metrics(const std::string& task, const std::vector<int>& ks = {});

/// Every metric of the task, by name. Throws Error on size mismatch.
std::map<std::string, double> compute_metrics(const std::string& task,
                                              const std::vector<float>& pred,
                                              const std::vector<float>& target);

/// True when larger is better (auc, accuracy, ndcg@10); accepts the monitor spelling
/// (val_auc).
bool metric_higher_is_better(const std::string& name);

}  // namespace dnnrec
