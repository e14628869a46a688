// A model's weights in GPU memory, in their GGUF types, uploaded once per (model, GPU) and
// shared by every context that runs that model there. Internal to inference; CUDA builds only.
#pragma once

#include <memory>
#include <vector>

#include "common/result.h"
#include "inference/llama_model.h"
#include "kernels/cuda/ops.h"
#include "kernels/cuda/runtime.h"

namespace engram::inference::internal {

struct DeviceLayerWeights {
  kernels::cuda::DeviceMatrix wq, wk, wv, wo, w_gate, w_up, w_down;
  // f32 vectors in device memory; null when the model has none (biases, Gemma's extra norms).
  const float* attn_norm = nullptr;
  const float* ffn_norm = nullptr;
  const float* bq = nullptr;
  const float* bk = nullptr;
  const float* bv = nullptr;
  const float* q_norm = nullptr;
  const float* k_norm = nullptr;
  const float* post_attn_norm = nullptr;
  const float* post_ffn_norm = nullptr;
  bool sliding = false;
};

struct DeviceWeights {
  std::shared_ptr<const LlamaModel> model;  // kept alive: the registry is keyed by its address
  int gpu = 0;
  kernels::cuda::DeviceBuffer memory;  // everything below points into it
  kernels::cuda::DeviceMatrix token_embedding, output;
  const float* output_norm = nullptr;
  std::vector<DeviceLayerWeights> layers;
  uint64_t bytes = 0;
};

// The first matrix whose type no GPU kernel multiplies, as "blk.0.ffn_down.weight (q5_K)", or
// empty when every one is supported.
std::string UnsupportedWeight(const LlamaModel& model);

// The model's weights on `gpu` (current device), uploading them when no context holds them yet.
// kResourceExhausted when they do not fit.
Result<std::shared_ptr<const DeviceWeights>> SharedDeviceWeights(
    const std::shared_ptr<const LlamaModel>& model, int gpu);

}  // namespace engram::inference::internal
