#include "common/result.h"

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

namespace engram {
namespace {

Result<int> ParsePositive(int x) {
  if (x <= 0) return Status::InvalidArgument("must be positive, got " + std::to_string(x));
  return x;
}

Result<std::unique_ptr<std::string>> MakeOwned(const char* text) {
  return std::make_unique<std::string>(text);
}

TEST(ResultTest, HoldsValueOnSuccess) {
  Result<int> r = ParsePositive(7);
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r.status().ok());
  EXPECT_EQ(*r, 7);
  EXPECT_EQ(r.value(), 7);
  EXPECT_EQ(r.value_or(-1), 7);
}

TEST(ResultTest, HoldsStatusOnError) {
  Result<int> r = ParsePositive(-3);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(r.status().message(), "must be positive, got -3");
  EXPECT_EQ(r.value_or(-1), -1);
}

TEST(ResultTest, ConvertsFromConstructibleValues) {
  Result<std::string> s = "literal";  // const char* -> std::string
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->size(), 7u);
  Result<std::vector<int>> v = std::vector<int>{1, 2, 3};
  EXPECT_EQ(v->size(), 3u);
}

TEST(ResultTest, MoveOnlyValuesMoveOut) {
  Result<std::unique_ptr<std::string>> r = MakeOwned("owned");
  ASSERT_TRUE(r.ok());
  std::unique_ptr<std::string> owned = std::move(r).value();
  ASSERT_NE(owned, nullptr);
  EXPECT_EQ(*owned, "owned");
}

TEST(ResultTest, StatusCanBeMovedOutOfAnError) {
  Result<int> r = ParsePositive(0);
  Status s = std::move(r).status();
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
}

TEST(ResultDeathTest, ReadingTheValueOfAnErrorAbortsWithItsMessage) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  Result<int> r = ParsePositive(-1);
  EXPECT_DEATH((void)r.value(), "must be positive, got -1");
}

TEST(ResultDeathTest, ConstructingFromOkStatusAborts) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_DEATH(
      {
        Result<int> r(Status::OK());
        (void)r;
      },
      "OK Status");
}

}  // namespace
}  // namespace engram
