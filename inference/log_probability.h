// log p(token) under one row of logits (a numerically stable log-softmax at one index), for the
// scorers that read a model's probabilities rather than sample from them (compress/token_scorer.h,
// inference/lm_reranker.h).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <span>

namespace engram::inference {

inline double LogProbability(std::span<const float> row, int32_t token) {
  float max = -INFINITY;
  for (float v : row) max = std::max(max, v);
  double sum = 0.0;
  for (float v : row) sum += std::exp(static_cast<double>(v - max));
  return static_cast<double>(row[static_cast<size_t>(token)] - max) - std::log(sum);
}

}  // namespace engram::inference
