// Where a context runs (--device cpu|cuda|auto) and what running there costs: the device memory
// a model and its cache need, and the bytes one decode step reads (the bandwidth roofline that
// `engram bench decode` measures against). Pure arithmetic on the model's shape: the same in
// every build, with or without a GPU.
//
//   Result<Device> d = ParseDevice("auto");
//   DeviceMemoryPlan plan = PlanDeviceMemory(model, options);   // weights + KV + scratch
//   uint64_t bytes = DecodeBytesRead(model, 32768, TensorType::kF16);
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "common/result.h"
#include "kernels/tensor_type.h"

namespace engram::inference {

class LlamaModel;
struct ContextOptions;

enum class Device {
  kCpu,   // the CPU path (the default)
  kCuda,  // the GPU; an error when none can run the context
  kAuto,  // the GPU when one can run the context, else the CPU with one line saying why
};

// "cpu", "cuda" or "auto"; kInvalidArgument naming the three otherwise.
Result<Device> ParseDevice(std::string_view name);
std::string_view DeviceName(Device device);

// Device memory a context needs, in bytes.
struct DeviceMemoryPlan {
  uint64_t weights = 0;   // every matrix in its GGUF type, norms and biases as f32
  uint64_t kv_cache = 0;  // the whole pool (kv_pool_positions), f16
  uint64_t scratch = 0;   // activations of n_ubatch rows, logits, step inputs
  uint64_t total() const { return weights + kv_cache + scratch; }
};
DeviceMemoryPlan PlanDeviceMemory(const LlamaModel& model, const ContextOptions& options);

// Cache blocks an offloaded context (ContextOptions::kv_offload) keeps on the GPU per sequence:
// the sinks' and the recent window's (with room for keys waiting to be indexed, and for a
// sliding-window layer's window), each rounded out to whole blocks.
int64_t OffloadResidentBlocks(const LlamaModel& model, const ContextOptions& options);

// "the context needs 1.2 GiB of GPU memory (weights 0.1, KV cache 1.0 for 65536 positions,
// scratch 0.1) but NVIDIA H200 has 0.5 GiB free": the first half of an out-of-memory error.
std::string DescribeShortfall(const DeviceMemoryPlan& plan, int64_t kv_positions,
                              std::string_view device_name, uint64_t free_bytes);

// Bytes one decode step at cache length `length` reads from memory: every weight matrix once
// (the token embedding's one row aside) plus the keys and values each layer attends (a
// sliding-window layer only its window), entries of `kv_type`.
uint64_t DecodeBytesRead(const LlamaModel& model, int64_t length, TensorType kv_type);

}  // namespace engram::inference
