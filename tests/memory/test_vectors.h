// Deterministic embeddings for store tests: a unit vector determined by the text (unrelated texts
// are nearly orthogonal), so tests can pass embeddings in and query by them.
#pragma once

#include <cmath>
#include <functional>
#include <random>
#include <string>
#include <vector>

namespace engram::memory::testing {

inline constexpr int kTestDim = 16;

inline std::vector<float> VectorFor(const std::string& text, int dim = kTestDim) {
  std::mt19937_64 rng(std::hash<std::string>{}(text));
  std::normal_distribution<float> normal;
  std::vector<float> v(static_cast<size_t>(dim));
  double norm = 0;
  for (float& x : v) {
    x = normal(rng);
    norm += x * x;
  }
  for (float& x : v) x = static_cast<float>(x / std::sqrt(norm));
  return v;
}

}  // namespace engram::memory::testing
