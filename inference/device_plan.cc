#include "inference/device_plan.h"

#include <algorithm>
#include <cstdio>

#include "inference/llama_context.h"
#include "inference/llama_model.h"

namespace engram::inference {
namespace {

uint64_t MatrixBytes(const WeightMatrix& w) { return static_cast<uint64_t>(w.row_bytes) * w.rows; }

uint64_t FloatBytes(const std::vector<float>& v) { return sizeof(float) * v.size(); }

uint64_t LayerWeightBytes(const LlamaLayerWeights& w) {
  uint64_t bytes = MatrixBytes(w.wq) + MatrixBytes(w.wk) + MatrixBytes(w.wv) + MatrixBytes(w.wo) +
                   MatrixBytes(w.w_gate) + MatrixBytes(w.w_up) + MatrixBytes(w.w_down);
  for (const std::vector<float>* v : {&w.attn_norm, &w.ffn_norm, &w.bq, &w.bk, &w.bv, &w.q_norm,
                                      &w.k_norm, &w.post_attn_norm, &w.post_ffn_norm}) {
    bytes += FloatBytes(*v);
  }
  return bytes;
}

std::string Gib(uint64_t bytes) {
  char text[32];
  std::snprintf(text, sizeof(text), "%.2f", static_cast<double>(bytes) / (1ull << 30));
  return text;
}

}  // namespace

Result<Device> ParseDevice(std::string_view name) {
  if (name == "cpu") return Device::kCpu;
  if (name == "cuda") return Device::kCuda;
  if (name == "auto") return Device::kAuto;
  return Status::InvalidArgument("device '" + std::string(name) +
                                 "' is not one of cpu, cuda, auto");
}

std::string_view DeviceName(Device device) {
  switch (device) {
    case Device::kCpu:
      return "cpu";
    case Device::kCuda:
      return "cuda";
    case Device::kAuto:
      return "auto";
  }
  return "cpu";
}

DeviceMemoryPlan PlanDeviceMemory(const LlamaModel& model, const ContextOptions& options) {
  const LlamaConfig& c = model.config();
  DeviceMemoryPlan plan;
  plan.weights = MatrixBytes(model.token_embedding()) + FloatBytes(model.output_norm());
  if (model.output().data != model.token_embedding().data) plan.weights += MatrixBytes(model.output());
  for (const LlamaLayerWeights& w : model.layers()) plan.weights += LayerWeightBytes(w);

  const int64_t n_ctx = options.n_ctx > 0 ? options.n_ctx : c.n_ctx_train;
  const int64_t pool = options.kv_pool_positions > 0 ? options.kv_pool_positions : 2 * n_ctx;
  const int64_t block = std::max(1, options.kv_block_size);
  const int64_t pool_positions = (pool + block - 1) / block * block;
  const int64_t device_positions =
      options.kv_offload ? OffloadResidentBlocks(model, options) * block : pool_positions;
  plan.kv_cache = static_cast<uint64_t>(device_positions) * c.n_layer * c.n_kv_head *
                  c.head_dim * 2 /* k and v */ * 2 /* f16 */;

  // Activations (x, norm, q, k, v, attention output, gate, up) for n_ubatch rows, logits for a
  // chunk of rows, step inputs (tokens, slots, angles, key ranges, block tables), and the
  // decode partials: generous rather than exact.
  const uint64_t rows = static_cast<uint64_t>(std::max(1, options.n_ubatch));
  const uint64_t q_dim = static_cast<uint64_t>(c.n_head) * c.head_dim;
  const uint64_t kv_dim = static_cast<uint64_t>(c.n_kv_head) * c.head_dim;
  const uint64_t row_floats = 2ull * c.n_embd + 2 * q_dim + 2 * kv_dim + 2ull * c.n_ff;
  const uint64_t logit_rows = std::min<uint64_t>(rows, 32);
  const uint64_t tables = rows * static_cast<uint64_t>((n_ctx + block - 1) / block);
  const uint64_t inputs = rows * (8 + 2ull * c.rope_dim) + tables;
  const uint64_t partials = rows * c.n_head * (c.head_dim + 2ull) * 64;
  plan.scratch = sizeof(float) * (rows * row_floats + logit_rows * c.n_vocab + inputs + partials);
  return plan;
}

int64_t OffloadResidentBlocks(const LlamaModel& model, const ContextOptions& options) {
  const AttentionOptions& a = options.attention;
  const int64_t block = std::max(1, options.kv_block_size);
  const int64_t recent =
      std::max<int64_t>(a.window + a.index_batch, model.config().sliding_window) + block;
  return (a.sinks + block - 1) / block + (recent + block - 1) / block + 2;
}

std::string DescribeShortfall(const DeviceMemoryPlan& plan, int64_t kv_positions,
                              std::string_view device_name, uint64_t free_bytes) {
  return "the context needs " + Gib(plan.total()) + " GiB of GPU memory (weights " +
         Gib(plan.weights) + ", KV cache " + Gib(plan.kv_cache) + " for " +
         std::to_string(kv_positions) + " positions, scratch " + Gib(plan.scratch) + ") but " +
         std::string(device_name) + " has " + Gib(free_bytes) + " GiB free";
}

uint64_t DecodeBytesRead(const LlamaModel& model, int64_t length, TensorType kv_type) {
  const LlamaConfig& c = model.config();
  uint64_t bytes = MatrixBytes(model.output()) + model.token_embedding().row_bytes;
  const uint64_t entry = kv_type == TensorType::kF32 ? 4 : 2;
  for (const LlamaLayerWeights& w : model.layers()) {
    bytes += LayerWeightBytes(w);
    const int64_t keys = w.sliding && c.sliding_window > 0
                             ? std::min<int64_t>(length, c.sliding_window)
                             : length;
    bytes += static_cast<uint64_t>(keys) * c.n_kv_head * c.head_dim * 2 * entry;
  }
  return bytes;
}

}  // namespace engram::inference
