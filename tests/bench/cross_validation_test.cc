// Leave-one-group-out selection: each fold chooses without its own group, ties go to the first
// configuration, and the held-out figures are what the chosen configurations score there.
#include "bench/cross_validation.h"

#include <gtest/gtest.h>

namespace engram::bench {
namespace {

TEST(CrossValidationTest, EachFoldChoosesWithoutItsOwnGroup) {
  // Config 1 wins everywhere but in group 2, where config 0 is far better; config 0 still loses
  // the other folds' training means, and group 2's fold (trained on 0 and 1) picks config 1.
  const std::vector<int> group = {0, 0, 1, 1, 2, 2};
  const std::vector<std::vector<double>> score = {{0.2, 0.2, 0.2, 0.2, 1.0, 1.0},
                                                  {0.6, 0.6, 0.6, 0.6, 0.0, 0.0}};
  const CrossValidation cv = LeaveOneGroupOut(score, group, 3);
  ASSERT_EQ(cv.folds.size(), 3u);
  // Fold 0 trains on groups 1 and 2: config 0 has (0.4 + 2) / 4 = 0.6, config 1 (1.2 + 0) / 4
  // = 0.3.
  EXPECT_EQ(cv.folds[0].chosen, 0u);
  EXPECT_DOUBLE_EQ(cv.folds[0].train_mean, 0.6);
  EXPECT_DOUBLE_EQ(cv.folds[0].held_out_mean, 0.2);
  EXPECT_EQ(cv.folds[1].chosen, 0u);
  EXPECT_EQ(cv.folds[2].chosen, 1u);  // trained on groups 0 and 1 only
  EXPECT_DOUBLE_EQ(cv.folds[2].held_out_mean, 0.0);
  EXPECT_DOUBLE_EQ(cv.mean_over_folds, (0.2 + 0.2 + 0.0) / 3);
  EXPECT_EQ(cv.chosen, (std::vector<size_t>{0, 0, 0, 0, 1, 1}));
  // The in-sample best (config 0 over everything: 0.467) is higher than the held-out figure.
  EXPECT_LT(cv.pooled, 0.467);
}

TEST(CrossValidationTest, TiesGoToTheFirstConfigurationAndEmptyGroupsGetNoFold) {
  const std::vector<int> group = {0, 2, 2};
  const std::vector<std::vector<double>> score = {{0.5, 0.5, 0.5}, {0.5, 0.5, 0.5}};
  const CrossValidation cv = LeaveOneGroupOut(score, group, 3);
  ASSERT_EQ(cv.folds.size(), 2u);
  EXPECT_EQ(cv.folds[0].group, 0);
  EXPECT_EQ(cv.folds[1].group, 2);
  EXPECT_EQ(cv.folds[1].items, 2u);
  for (const Fold& f : cv.folds) EXPECT_EQ(f.chosen, 0u);
  EXPECT_DOUBLE_EQ(cv.pooled, 0.5);
}

TEST(CrossValidationTest, OneGroupHasNothingToHoldOut) {
  const CrossValidation cv = LeaveOneGroupOut({{1.0, 0.0}}, {0, 0}, 1);
  EXPECT_TRUE(cv.folds.empty());
  EXPECT_EQ(cv.mean_over_folds, 0.0);
}

}  // namespace
}  // namespace engram::bench
