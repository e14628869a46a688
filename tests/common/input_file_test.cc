// The input layer against every kind of path a user can hand engram: each must end in a value
// or a clear kInvalidArgument / kNotFound, quickly, never a hang or an unbounded read.
#include "common/input_file.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>

#include "common/machine_info.h"

namespace engram {
namespace {

namespace fs = std::filesystem;

class InputFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("engram_input_test_" + std::to_string(::getpid()));
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  fs::path Write(const std::string& name, const std::string& content) {
    const fs::path p = dir_ / name;
    std::ofstream(p, std::ios::binary) << content;
    return p;
  }

  fs::path dir_;
};

// Every path that is not a regular file is refused by kind, whatever the caller does with it.
TEST_F(InputFileTest, EveryKindOfNonRegularFileIsRefusedByName) {
  const fs::path fifo = dir_ / "model.gguf";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  const fs::path to_zero = dir_ / "zero.txt";
  fs::create_symlink("/dev/zero", to_zero);
  const fs::path to_dir = dir_ / "dir-link.txt";
  fs::create_directory_symlink(dir_, to_dir);
  const struct {
    fs::path path;
    const char* kind;
  } cases[] = {{dir_, "is a directory"},
               {fifo, "is a FIFO"},
               {"/dev/zero", "is a character device"},
               {"/dev/null", "is a character device"},
               {to_zero, "is a character device"},
               {to_dir, "is a directory"}};
  for (const auto& c : cases) {
    const auto start = std::chrono::steady_clock::now();
    Result<std::string> text = ReadFileBounded(c.path, 1 << 20, "document");
    ASSERT_FALSE(text.ok()) << c.path;
    EXPECT_EQ(text.status().code(), StatusCode::kInvalidArgument) << c.path;
    EXPECT_NE(text.status().message().find(c.kind), std::string_view::npos)
        << text.status().message();
    EXPECT_NE(text.status().message().find("document '" + c.path.string() + "'"),
              std::string_view::npos)
        << text.status().message();
    Result<ScopedFd> fd = OpenRegularFile(c.path, "model file");
    EXPECT_FALSE(fd.ok()) << c.path;
    EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5)) << c.path;
  }
}

TEST_F(InputFileTest, MissingAndEmptyPathsAreClear) {
  Result<std::string> missing = ReadFileBounded(dir_ / "nope.txt", 100, "prompt file");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
  EXPECT_NE(missing.status().message().find("nope.txt"), std::string_view::npos);
  Result<std::string> empty = ReadFileBounded("", 100, "prompt file");
  ASSERT_FALSE(empty.ok());
  EXPECT_EQ(empty.status().code(), StatusCode::kInvalidArgument);
}

TEST_F(InputFileTest, ReadsRegularFilesUpToTheLimitAndRefusesLarger) {
  const fs::path p = Write("a.txt", std::string(1000, 'x'));
  Result<std::string> text = ReadFileBounded(p, 1000, "document");
  ASSERT_TRUE(text.ok()) << text.status().ToString();
  EXPECT_EQ(text->size(), 1000u);
  Result<std::string> too_big = ReadFileBounded(p, 999, "document");
  ASSERT_FALSE(too_big.ok());
  EXPECT_EQ(too_big.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(too_big.status().message().find("larger than the limit of 999 B"),
            std::string_view::npos)
      << too_big.status().message();
  // An empty regular file is a valid, empty input.
  Result<std::string> none = ReadFileBounded(Write("empty.txt", ""), 10, "document");
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty());
}

// A stream (stdin, a pipe from /dev/zero) is cut off at the limit, not read to exhaustion.
TEST_F(InputFileTest, StreamsAreBounded) {
  const int zero = ::open("/dev/zero", O_RDONLY | O_CLOEXEC);
  ASSERT_GE(zero, 0);
  Result<std::string> endless = ReadStreamBounded(zero, 1 << 20, "memory text", "from standard input");
  ::close(zero);
  ASSERT_FALSE(endless.ok());
  EXPECT_EQ(endless.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(endless.status().message().find("1 MiB"), std::string_view::npos)
      << endless.status().message();

  int pipe_fds[2];
  ASSERT_EQ(::pipe(pipe_fds), 0);
  ASSERT_EQ(::write(pipe_fds[1], "hello", 5), 5);
  ::close(pipe_fds[1]);
  Result<std::string> text = ReadStreamBounded(pipe_fds[0], 5, "text", "from standard input");
  ::close(pipe_fds[0]);
  ASSERT_TRUE(text.ok()) << text.status().ToString();
  EXPECT_EQ(*text, "hello");
}

TEST_F(InputFileTest, OpenRegularFileGivesABlockingDescriptor) {
  const fs::path p = Write("b.bin", "abc");
  Result<ScopedFd> fd = OpenRegularFile(p, "model file");
  ASSERT_TRUE(fd.ok()) << fd.status().ToString();
  EXPECT_EQ(::fcntl(fd->get(), F_GETFL) & O_NONBLOCK, 0);
  Result<uint64_t> size = FileSize(fd->get(), p, "model file");
  ASSERT_TRUE(size.ok());
  EXPECT_EQ(*size, 3u);
}

TEST(FormatBytesTest, LimitsReadAsWholeUnits) {
  EXPECT_EQ(FormatBytes(999), "999 B");
  EXPECT_EQ(FormatBytes(1 << 20), "1 MiB");
  EXPECT_EQ(FormatBytes(uint64_t{256} << 20), "256 MiB");
  EXPECT_EQ(FormatBytes(1536), "1.5 KiB");
  EXPECT_EQ(FormatBytes(uint64_t{10} << 30), "10 GiB");
}

}  // namespace
}  // namespace engram
