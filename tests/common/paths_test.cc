#include "common/paths.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>
#include <map>
#include <memory>
#include <string>

namespace engram {
namespace {

// An environment made of a map, so tests do not depend on (or change) the real one.
EnvLookup FakeEnv(std::map<std::string, std::string> vars) {
  auto shared = std::make_shared<std::map<std::string, std::string>>(std::move(vars));
  return [shared](const char* name) -> const char* {
    auto it = shared->find(name);
    return it == shared->end() ? nullptr : it->second.c_str();
  };
}

TEST(PathsTest, DataDirFlagBeatsEnvBeatsDefault) {
  EXPECT_EQ(ResolveDataDir("/flag", FakeEnv({{"ENGRAM_DATA_DIR", "/env"}})), "/flag");
  EXPECT_EQ(ResolveDataDir("", FakeEnv({{"ENGRAM_DATA_DIR", "/env"}})), "/env");
  EXPECT_EQ(ResolveDataDir("", FakeEnv({})), "engram-data");
  EXPECT_EQ(ResolveDataDir("", FakeEnv({{"ENGRAM_DATA_DIR", ""}})),
            "engram-data");  // empty = unset
}

TEST(PathsTest, ModelsDirFromEnvOrHome) {
  Result<std::filesystem::path> from_env =
      ResolveModelsDir(FakeEnv({{"ENGRAM_MODELS_DIR", "/models"}, {"HOME", "/home/u"}}));
  ASSERT_TRUE(from_env.ok());
  EXPECT_EQ(*from_env, "/models");

  Result<std::filesystem::path> from_home = ResolveModelsDir(FakeEnv({{"HOME", "/home/u"}}));
  ASSERT_TRUE(from_home.ok());
  EXPECT_EQ(*from_home, "/home/u/.cache/engram/models");
}

TEST(PathsTest, ModelsDirWithoutEnvOrHomeIsAClearError) {
  Result<std::filesystem::path> dir = ResolveModelsDir(FakeEnv({}));
  ASSERT_FALSE(dir.ok());
  EXPECT_EQ(dir.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(dir.status().message().find("ENGRAM_MODELS_DIR"), std::string_view::npos);
}

TEST(PathsTest, SharedDataFromEnvOrBesideTheSourceTree) {
  EXPECT_EQ(ResolveSharedDataDir(FakeEnv({{"ENGRAM_SHARED_DATA", "/data"}})), "/data");
  EXPECT_EQ(ResolveSharedDataDir(FakeEnv({})),
            (SourceDir() / ".." / "shared" / "data").lexically_normal());
}

TEST(PathsTest, RequireSharedDataNamesFolderAndVariableWhenMissing) {
  const auto env = FakeEnv({{"ENGRAM_SHARED_DATA", "/nonexistent/engram/shared"}});
  Result<std::filesystem::path> p = RequireSharedData("squad/dev-v1.1.shared.json", env);
  ASSERT_FALSE(p.ok());
  EXPECT_EQ(p.status().code(), StatusCode::kNotFound);
  const std::string_view msg = p.status().message();
  EXPECT_NE(msg.find("squad/dev-v1.1.shared.json"), std::string_view::npos);
  EXPECT_NE(msg.find("/nonexistent/engram/shared"), std::string_view::npos);
  EXPECT_NE(msg.find("ENGRAM_SHARED_DATA"), std::string_view::npos);
}

TEST(PathsTest, RequireSharedDataFindsExistingFiles) {
  const auto dir = std::filesystem::temp_directory_path() /
                   ("engram_paths_test_shared_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir / "squad");
  { std::ofstream(dir / "squad" / "x.json") << "{}"; }
  Result<std::filesystem::path> p =
      RequireSharedData("squad/x.json", FakeEnv({{"ENGRAM_SHARED_DATA", dir.string()}}));
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  EXPECT_EQ(*p, dir / "squad/x.json");
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace engram

namespace engram {
namespace {

TEST(PathsTest, DataDirLayoutHasOneOwner) {
  const std::filesystem::path data = "/srv/engram-data";
  EXPECT_EQ(CollectionsDir(data), "/srv/engram-data/collections");
  EXPECT_EQ(MemoryDir(data), "/srv/engram-data/memory");
  EXPECT_EQ(KvCacheDir(data), "/srv/engram-data/kv");
}

}  // namespace
}  // namespace engram
