// Leave-one-group-out choice of a configuration, so that a quality figure is never scored on
// the data its configuration was chosen on (`eval memory --cross-validate`: groups are LoCoMo
// conversations; `eval retrieval --cross-validate`: SQuAD articles).
//
//   // score[c][i]: item i's score under configuration c; group[i]: i's group in [0, groups)
//   CrossValidation cv = LeaveOneGroupOut(score, group, groups);
//   cv.mean_over_folds;  // the held-out figure to report
//   cv.chosen[i];        // the configuration item i was scored with (chosen without its group)
#pragma once

#include <cstddef>
#include <vector>

namespace engram::bench {

struct Fold {
  int group = 0;             // the held-out group
  size_t chosen = 0;         // the configuration with the best mean over the other groups
  double train_mean = 0.0;   // its mean over the other groups' items
  double held_out_mean = 0.0;  // its mean over the held-out group's items
  size_t items = 0;          // the held-out group's items
};

struct CrossValidation {
  std::vector<Fold> folds;      // one per group that has items
  std::vector<size_t> chosen;   // per item: its fold's configuration
  double mean_over_folds = 0.0;  // the held-out means, averaged over folds
  double pooled = 0.0;           // the held-out scores, averaged over items
};

// Ties go to the lower configuration index (put the defaults first). Needs at least two groups
// with items; a group with no items gets no fold.
CrossValidation LeaveOneGroupOut(const std::vector<std::vector<double>>& score,
                                 const std::vector<int>& group, int groups);

}  // namespace engram::bench
