// RoPE angles, computed on the host for the CPU and GPU paths alike. Internal to inference.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

namespace engram::inference::internal {

// The cosine and sine of each rotation angle of each position, rope_dim / 2 per position
// (cos_out[t * rope_dim / 2 + i]), as GGML computes them: theta_i = pos * base^(-2i/dim), the
// power built by repeated float multiplication, divided by the llama3 frequency factor (if
// any), times freq_scale.
void FillRopeAngles(std::span<const int64_t> positions, int rope_dim, float base, float freq_scale,
                    const std::vector<float>& factors, float* cos_out, float* sin_out);

}  // namespace engram::inference::internal
