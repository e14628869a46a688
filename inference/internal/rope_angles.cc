#include "inference/internal/rope_angles.h"

#include <cmath>

namespace engram::inference::internal {

void FillRopeAngles(std::span<const int64_t> positions, int rope_dim, float base, float freq_scale,
                    const std::vector<float>& factors, float* cos_out, float* sin_out) {
  const int half = rope_dim / 2;
  const float theta_scale = std::pow(base, -2.0f / static_cast<float>(rope_dim));
  for (size_t t = 0; t < positions.size(); ++t) {
    float theta = static_cast<float>(positions[t]);
    for (int i = 0; i < half; ++i) {
      float angle = factors.empty() ? theta : theta / factors[i];
      angle *= freq_scale;
      cos_out[t * half + i] = std::cos(angle);
      sin_out[t * half + i] = std::sin(angle);
      theta *= theta_scale;
    }
  }
}

}  // namespace engram::inference::internal
