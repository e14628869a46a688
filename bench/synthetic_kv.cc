#include "bench/synthetic_kv.h"

#include <unistd.h>

#include <filesystem>
#include <random>
#include <vector>

namespace engram::bench {

namespace fs = std::filesystem;

Status WriteSyntheticCache(const inference::LlamaContext& ctx, int64_t length,
                           const std::string& path) {
  const auto& c = ctx.model().config();
  Result<std::unique_ptr<inference::PagedKvCache>> cache = inference::PagedKvCache::Create(
      {c.n_layer, c.n_kv_head, c.head_dim}, {.block_size = 16, .max_positions = length});
  if (!cache.ok()) return cache.status();
  Result<inference::SequenceId> seq = (*cache)->NewSequence();
  if (!seq.ok()) return seq.status();
  if (Status s = (*cache)->Reserve(*seq, length); !s.ok()) return s;
  // Noise drawn once and reused at co-prime strides: long caches (a million positions) are
  // written in seconds, and neighbouring positions still differ.
  const size_t width = static_cast<size_t>(c.n_kv_head) * c.head_dim;
  constexpr size_t kNoiseRows = 1021;  // prime
  std::mt19937 rng(7);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> directions(4 * width), noise(kNoiseRows * width);
  for (float& d : directions) d = normal(rng);
  for (float& n : noise) n = normal(rng);
  std::vector<float> k(width);
  for (int layer = 0; layer < c.n_layer; ++layer) {
    for (int64_t pos = 0; pos < length; ++pos) {
      const float* dir = directions.data() + (pos % 4) * width;
      const float* key_noise = noise.data() + ((pos * 7 + layer) % kNoiseRows) * width;
      const float* value = noise.data() + ((pos * 13 + layer + 1) % kNoiseRows) * width;
      for (size_t i = 0; i < width; ++i) k[i] = 2.0f * dir[i] + key_noise[i];
      (*cache)->Store(*seq, layer, pos, k.data(), value);
    }
  }
  (*cache)->Commit(*seq, length);
  return (*cache)->Save(*seq, path, ctx.ModelFingerprint());
}

Status LoadSyntheticCache(inference::LlamaContext& ctx, int64_t length,
                          const std::string& work_dir) {
  const fs::path dir = work_dir.empty() ? fs::temp_directory_path() : fs::path(work_dir);
  const fs::path file = dir / ("engram-synthetic-" + std::to_string(::getpid()) + ".kv");
  Status s = WriteSyntheticCache(ctx, length, file.string());
  if (s.ok()) s = ctx.LoadCache(file.string());
  std::error_code ec;
  fs::remove(file, ec);
  return s;
}

}  // namespace engram::bench
