#include "common/logging.h"

#include <gtest/gtest.h>

namespace engram {
namespace {

TEST(LoggingTest, ParsesEveryDocumentedLevel) {
  EXPECT_EQ(*ParseLogLevel("trace"), spdlog::level::trace);
  EXPECT_EQ(*ParseLogLevel("debug"), spdlog::level::debug);
  EXPECT_EQ(*ParseLogLevel("INFO"), spdlog::level::info);
  EXPECT_EQ(*ParseLogLevel("warn"), spdlog::level::warn);
  EXPECT_EQ(*ParseLogLevel("warning"), spdlog::level::warn);
  EXPECT_EQ(*ParseLogLevel("error"), spdlog::level::err);
  EXPECT_EQ(*ParseLogLevel("off"), spdlog::level::off);
}

TEST(LoggingTest, UnknownLevelListsTheValidOnes) {
  Result<spdlog::level::level_enum> level = ParseLogLevel("loud");
  ASSERT_FALSE(level.ok());
  EXPECT_EQ(level.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(level.status().message().find("'loud'"), std::string_view::npos);
  EXPECT_NE(level.status().message().find("trace, debug, info, warn, error, off"),
            std::string_view::npos);
}

TEST(LoggingTest, InitSetsLevelAndCanBeCalledAgain) {
  ASSERT_TRUE(InitLogging("debug").ok());
  EXPECT_EQ(spdlog::default_logger()->level(), spdlog::level::debug);
  ASSERT_TRUE(InitLogging("error").ok());
  EXPECT_EQ(spdlog::default_logger()->level(), spdlog::level::err);
  EXPECT_FALSE(InitLogging("nope").ok());
  EXPECT_EQ(spdlog::default_logger()->level(), spdlog::level::err);  // unchanged on failure
}

}  // namespace
}  // namespace engram
