#include "common/mmap_file.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

namespace engram {
namespace {

class MmapFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ =
        std::filesystem::temp_directory_path() / ("engram_mmap_test_" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::filesystem::path Write(const std::string& name, const std::string& content) {
    const std::filesystem::path p = dir_ / name;
    std::ofstream(p, std::ios::binary) << content;
    return p;
  }

  std::filesystem::path dir_;
};

TEST_F(MmapFileTest, MapsContentsExactly) {
  std::string content;
  for (int i = 0; i < 10000; ++i) content.push_back(static_cast<char>(i * 7));
  const auto path = Write("data.bin", content);
  Result<std::unique_ptr<MmapFile>> file = MmapFile::Open(path);
  ASSERT_TRUE(file.ok()) << file.status().ToString();
  ASSERT_EQ((*file)->size(), content.size());
  EXPECT_EQ((*file)->path(), path);
  EXPECT_EQ(std::string(reinterpret_cast<const char*>((*file)->data()), (*file)->size()), content);
  (*file)->Prefetch(100, 1 << 30);  // clipped, harmless
  (*file)->Prefetch(1 << 30, 10);
}

TEST_F(MmapFileTest, MissingFileIsNotFoundNamingThePath) {
  const auto path = dir_ / "does_not_exist.gguf";
  Result<std::unique_ptr<MmapFile>> file = MmapFile::Open(path);
  ASSERT_FALSE(file.ok());
  EXPECT_EQ(file.status().code(), StatusCode::kNotFound);
  EXPECT_NE(file.status().message().find(path.string()), std::string_view::npos);
  EXPECT_NE(file.status().message().find("No such file"), std::string_view::npos);
}

TEST_F(MmapFileTest, EmptyFileIsAClearError) {
  const auto path = Write("empty.gguf", "");
  Result<std::unique_ptr<MmapFile>> file = MmapFile::Open(path);
  ASSERT_FALSE(file.ok());
  EXPECT_EQ(file.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(file.status().message().find("empty"), std::string_view::npos);
  EXPECT_NE(file.status().message().find(path.string()), std::string_view::npos);
}

TEST_F(MmapFileTest, DirectoryIsAClearError) {
  Result<std::unique_ptr<MmapFile>> file = MmapFile::Open(dir_);
  ASSERT_FALSE(file.ok());
  EXPECT_EQ(file.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(file.status().message().find("is a directory"), std::string_view::npos);
}

TEST_F(MmapFileTest, MappingOutlivesTheFileName) {
  const auto path = Write("gone.bin", "still here");
  Result<std::unique_ptr<MmapFile>> file = MmapFile::Open(path);
  ASSERT_TRUE(file.ok());
  std::filesystem::remove(path);
  EXPECT_EQ(std::string(reinterpret_cast<const char*>((*file)->data()), (*file)->size()),
            "still here");
}

}  // namespace
}  // namespace engram
