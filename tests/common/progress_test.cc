#include "common/progress.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <string>
#include <thread>
#include <vector>

namespace engram {
namespace {

std::string ReadAll(std::FILE* f) {
  std::fflush(f);
  std::rewind(f);
  std::string out;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) out.append(buf, n);
  return out;
}

TEST(ProgressTest, AutoModeIsSilentWhenNotATerminal) {
  std::FILE* f = std::tmpfile();
  ASSERT_NE(f, nullptr);
  {
    ProgressReporter progress("ingest", 10, {.display = ProgressOptions::Display::kAuto, .out = f});
    EXPECT_FALSE(progress.enabled());
    progress.Add(10);
  }
  EXPECT_EQ(ReadAll(f), "");
  std::fclose(f);
}

TEST(ProgressTest, FinalLineShowsLabelCountsAndPercent) {
  std::FILE* f = std::tmpfile();
  ASSERT_NE(f, nullptr);
  ProgressReporter progress(
      "ingest", 40, {.display = ProgressOptions::Display::kAlways, .out = f, .unit = "docs"});
  for (int i = 0; i < 40; ++i) progress.Add();
  progress.Finish();
  progress.Finish();  // idempotent
  const std::string out = ReadAll(f);
  EXPECT_NE(out.find("ingest"), std::string::npos);
  EXPECT_NE(out.find("100%"), std::string::npos);
  EXPECT_NE(out.find("40/40 docs"), std::string::npos);
  EXPECT_EQ(out.back(), '\n');
  EXPECT_EQ(out.find('\n'), out.size() - 1);  // redrawn in place: one line in the end
  std::fclose(f);
}

TEST(ProgressTest, UnknownTotalShowsCountWithoutPercent) {
  std::FILE* f = std::tmpfile();
  ProgressReporter progress("scan", 0, {.display = ProgressOptions::Display::kAlways, .out = f});
  progress.Add(5);
  progress.Finish();
  const std::string out = ReadAll(f);
  EXPECT_NE(out.find("5 items"), std::string::npos);
  EXPECT_EQ(out.find('%'), std::string::npos);
  std::fclose(f);
}

TEST(ProgressTest, ConcurrentAddsAreAllCounted) {
  ProgressReporter progress("work", 0, {.display = ProgressOptions::Display::kNever});
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 10000; ++i) progress.Add();
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(progress.done(), 80000u);
}

}  // namespace
}  // namespace engram
