#include "bench/cross_validation.h"

namespace engram::bench {

CrossValidation LeaveOneGroupOut(const std::vector<std::vector<double>>& score,
                                 const std::vector<int>& group, int groups) {
  const size_t configs = score.size(), items = group.size();
  // sum[c][g], count[g]: each group's totals, so a fold's training mean is a subtraction.
  std::vector<std::vector<double>> sum(configs, std::vector<double>(groups, 0.0));
  std::vector<size_t> count(groups, 0);
  for (size_t i = 0; i < items; ++i) {
    ++count[group[i]];
    for (size_t c = 0; c < configs; ++c) sum[c][group[i]] += score[c][i];
  }
  CrossValidation cv;
  cv.chosen.assign(items, 0);
  size_t all_items = 0;
  for (int g = 0; g < groups; ++g) all_items += count[g];
  double held_out_total = 0.0;
  for (int g = 0; g < groups; ++g) {
    if (count[g] == 0 || count[g] == all_items) continue;
    Fold fold{.group = g, .items = count[g]};
    double best = -1.0;
    for (size_t c = 0; c < configs; ++c) {
      double train = 0.0;
      for (int h = 0; h < groups; ++h) train += h == g ? 0.0 : sum[c][h];
      train /= static_cast<double>(all_items - count[g]);
      if (train > best) best = train, fold.chosen = c;
    }
    fold.train_mean = best;
    fold.held_out_mean = sum[fold.chosen][g] / static_cast<double>(count[g]);
    held_out_total += sum[fold.chosen][g];
    cv.folds.push_back(fold);
  }
  for (size_t i = 0; i < items; ++i) {
    for (const Fold& f : cv.folds) {
      if (f.group == group[i]) cv.chosen[i] = f.chosen;
    }
  }
  for (const Fold& f : cv.folds) cv.mean_over_folds += f.held_out_mean;
  if (!cv.folds.empty()) {
    cv.mean_over_folds /= static_cast<double>(cv.folds.size());
    size_t scored = 0;
    for (const Fold& f : cv.folds) scored += f.items;
    cv.pooled = held_out_total / static_cast<double>(scored);
  }
  return cv;
}

}  // namespace engram::bench
