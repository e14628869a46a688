// cuda::MatVec, MatMulTensorCores, MatMul and EmbedRows (kernels/cuda/matmul.cu) against the CPU
// reference: kernels::DequantizeRow, then dot products in double.
//
// Weights are random bytes in each GGML layout with the f16 scale fields overwritten by small
// positive values, so every quantized value is finite and |w| stays below ~4; plain types hold
// random values in [-2, 2]. Activations are in [-2, 2]. Tolerances are relative to
// Σ_i |w_i x_i| for each output, the scale rounding error grows with:
//   - MatVec accumulates in f32: error below k · 2^-24 · Σ|wx| in the worst case (6e-5 for
//     k = 1024, far less in practice); 1e-4 · Σ|wx| + 1e-5.
//   - Tensor cores round x and W to f16 (11-bit significands, relative error 2^-11 each), so a
//     product is off by up to ~2^-10 ≈ 9.8e-4 of its magnitude, then f32 accumulation;
//     2e-3 · Σ|wx| + 1e-5. bf16 weights in [-2, 2] convert to f16 exactly except those tiny
//     enough to become f16 subnormals, whose absolute error (< 2^-25) is negligible here.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "kernels/cuda/ops.h"
#include "kernels/half.h"
#include "kernels/quant.h"
#include "kernels/tensor_type.h"
#include "tests/cuda/cuda_test_util.h"

namespace engram::kernels::cuda {
namespace {

using cuda::testing::CudaKernelTest;
using cuda::testing::DeviceVector;

constexpr TensorType kTypes[] = {TensorType::kF32,  TensorType::kF16,  TensorType::kBF16,
                                 TensorType::kQ4_0, TensorType::kQ4_1, TensorType::kQ5_0,
                                 TensorType::kQ8_0, TensorType::kQ4_K, TensorType::kQ6_K};

constexpr double kMatVecTolerance = 1e-4;
constexpr double kTensorCoreTolerance = 2e-3;
constexpr double kAbsoluteSlack = 1e-5;
constexpr float kSentinel = -12345.0f;  // y padding that must stay untouched

void PutF16(uint8_t* p, float v) {
  const uint16_t h = Fp32ToFp16(v);
  std::memcpy(p, &h, sizeof(h));
}

// rows x k weights of `type`, row after row (see the file comment for the value ranges).
std::vector<uint8_t> RandomMatrix(TensorType type, int64_t rows, int64_t k, std::mt19937& rng) {
  const int64_t row_bytes = TensorRowBytes(type, k).value();
  std::vector<uint8_t> m(static_cast<size_t>(rows * row_bytes));
  std::uniform_int_distribution<int> byte(0, 255);
  for (uint8_t& b : m) b = static_cast<uint8_t>(byte(rng));
  std::uniform_real_distribution<float> value(-2.0f, 2.0f);
  const int64_t elems = rows * k;
  switch (type) {
    case TensorType::kF32:
      for (int64_t i = 0; i < elems; ++i) {
        const float v = value(rng);
        std::memcpy(&m[4 * i], &v, sizeof(v));
      }
      return m;
    case TensorType::kF16:
      for (int64_t i = 0; i < elems; ++i) PutF16(&m[2 * i], value(rng));
      return m;
    case TensorType::kBF16:
      for (int64_t i = 0; i < elems; ++i) {
        const uint16_t h = Fp32ToBf16(value(rng));
        std::memcpy(&m[2 * i], &h, sizeof(h));
      }
      return m;
    default:
      break;
  }
  // Quantized: overwrite the f16 scale fields of every block (offsets as in quant_blocks.h).
  std::uniform_real_distribution<float> scale(0.01f, 0.03f);  // 32-element blocks
  std::uniform_real_distribution<float> k_scale(0.0005f, 0.002f);  // q4_K: d * 63 * 15
  std::uniform_real_distribution<float> q6_scale(0.0002f, 0.0008f);  // q6_K: d * 128 * 32
  const int64_t block_bytes = FindTensorType(static_cast<uint32_t>(type))->block_bytes;
  for (size_t b = 0; b < m.size(); b += static_cast<size_t>(block_bytes)) {
    uint8_t* block = &m[b];
    switch (type) {
      case TensorType::kQ4_1:
        PutF16(block, scale(rng));
        PutF16(block + 2, 0.5f * value(rng));  // the offset m
        break;
      case TensorType::kQ4_K:
        PutF16(block, k_scale(rng));
        PutF16(block + 2, k_scale(rng));  // dmin
        break;
      case TensorType::kQ6_K:
        PutF16(block + 208, q6_scale(rng));
        break;
      default:  // q4_0, q5_0, q8_0: d first
        PutF16(block, scale(rng));
        break;
    }
  }
  return m;
}

// Inputs: n rows of k values at stride x_stride; the padding is NaN, so reading it shows.
std::vector<float> RandomInputs(int64_t n, int64_t k, int64_t x_stride, std::mt19937& rng) {
  std::vector<float> x(static_cast<size_t>(n * x_stride),
                       std::numeric_limits<float>::quiet_NaN());
  std::uniform_real_distribution<float> value(-2.0f, 2.0f);
  for (int64_t t = 0; t < n; ++t)
    for (int64_t i = 0; i < k; ++i) x[t * x_stride + i] = value(rng);
  return x;
}

enum class Path { kMatVec, kTensorCores, kMatMul };

struct Case {
  TensorType type;
  int64_t rows, k, n;
  int64_t x_stride = 0;  // 0: k
  int64_t y_stride = 0;  // 0: rows
  int offset = 0;        // bytes between the allocation and the matrix: 1 makes rows unaligned
};

std::string Describe(const Case& c, Path path) {
  const char* names[] = {"MatVec", "MatMulTensorCores", "MatMul"};
  return std::string(names[static_cast<int>(path)]) + " type=" +
         std::string(TensorTypeName(c.type)) + " rows=" + std::to_string(c.rows) +
         " k=" + std::to_string(c.k) + " n=" + std::to_string(c.n) +
         " x_stride=" + std::to_string(c.x_stride) + " y_stride=" + std::to_string(c.y_stride) +
         " offset=" + std::to_string(c.offset);
}

class MatMulCudaTest : public CudaKernelTest {
 protected:
  // Runs `path` on a random case and compares every output with the CPU reference.
  void Check(Case c, Path path, double tolerance) {
    if (c.x_stride == 0) c.x_stride = c.k;
    if (c.y_stride == 0) c.y_stride = c.rows;
    SCOPED_TRACE(Describe(c, path));
    std::mt19937 rng(static_cast<uint32_t>(c.rows * 131 + c.k * 7 + c.n));
    const int64_t row_bytes = TensorRowBytes(c.type, c.k).value();
    std::vector<uint8_t> host_w = RandomMatrix(c.type, c.rows, c.k, rng);
    const std::vector<float> x = RandomInputs(c.n, c.k, c.x_stride, rng);

    std::vector<uint8_t> padded(static_cast<size_t>(c.offset), 0);
    padded.insert(padded.end(), host_w.begin(), host_w.end());
    DeviceVector<uint8_t> dev_w(padded);
    DeviceVector<float> dev_x(x);
    DeviceVector<float> dev_y(std::vector<float>(static_cast<size_t>(c.n * c.y_stride), kSentinel));
    const DeviceMatrix w{c.type, dev_w.get() + c.offset, c.rows, c.k,
                         static_cast<size_t>(row_bytes)};
    switch (path) {
      case Path::kMatVec:
        MatVec(w, dev_x.get(), c.x_stride, c.n, dev_y.get(), c.y_stride, stream());
        break;
      case Path::kTensorCores:
        MatMulTensorCores(w, dev_x.get(), c.x_stride, c.n, dev_y.get(), c.y_stride, stream());
        break;
      case Path::kMatMul:
        MatMul(w, dev_x.get(), c.x_stride, c.n, dev_y.get(), c.y_stride, stream());
        break;
    }
    ASSERT_NO_FATAL_FAILURE(Sync());
    const std::vector<float> y = dev_y.Download();

    std::vector<float> wf(static_cast<size_t>(c.k));
    int failures = 0;
    for (int64_t r = 0; r < c.rows; ++r) {
      DequantizeRow(c.type, host_w.data() + r * row_bytes, wf.data(), c.k);
      for (int64_t t = 0; t < c.n; ++t) {
        double dot = 0.0, magnitude = 0.0;
        for (int64_t i = 0; i < c.k; ++i) {
          const double p = static_cast<double>(wf[i]) * x[t * c.x_stride + i];
          dot += p;
          magnitude += std::fabs(p);
        }
        const double got = y[t * c.y_stride + r];
        const double bound = tolerance * magnitude + kAbsoluteSlack;
        if (!(std::fabs(got - dot) <= bound) && ++failures <= 5) {
          ADD_FAILURE() << "y[t=" << t << "][r=" << r << "] = " << got << ", expected " << dot
                        << " (bound " << bound << ")";
        }
      }
    }
    for (int64_t t = 0; t < c.n; ++t)
      for (int64_t r = c.rows; r < c.y_stride; ++r)
        if (y[t * c.y_stride + r] != kSentinel && ++failures <= 5)
          ADD_FAILURE() << "padding y[t=" << t << "][" << r << "] was written";
    EXPECT_EQ(failures, 0);
  }
};

// (rows, k) pairs: one row; rows that leave partial blocks and tiles; k giving 8, 16 and 32
// lanes per row in MatVec; k = 2560 (80 chunks) needs several x slabs for n > 1, the last
// one partial.
struct Shape {
  int64_t rows, k;
};
constexpr Shape kShapes[] = {{1, 256}, {37, 256}, {37, 512}, {300, 1024}, {37, 2560}};

TEST_F(MatMulCudaTest, MatVecMatchesCpu) {
  for (TensorType type : kTypes)
    for (const Shape& s : kShapes)
      for (int64_t n : {1, 3, 8}) Check({type, s.rows, s.k, n}, Path::kMatVec, kMatVecTolerance);
}

TEST_F(MatMulCudaTest, TensorCoresMatchCpu) {
  for (TensorType type : kTypes)
    for (const Shape& s : kShapes)
      for (int64_t n : {1, 9, 64, 77}) {
        Check({type, s.rows, s.k, n}, Path::kTensorCores, kTensorCoreTolerance);
      }
}

// Padded input and output rows, and a matrix at an odd address (every load takes the byte path).
TEST_F(MatMulCudaTest, StridesAndUnalignedRows) {
  for (TensorType type : kTypes) {
    for (int offset : {0, 1}) {
      Check({type, 37, 512, 3, 512 + 5, 37 + 3, offset}, Path::kMatVec, kMatVecTolerance);
      Check({type, 37, 512, 77, 512 + 5, 37 + 3, offset}, Path::kTensorCores,
            kTensorCoreTolerance);
    }
  }
}

TEST_F(MatMulCudaTest, MatMulPicksPathByRowCount) {
  for (TensorType type : {TensorType::kQ4_K, TensorType::kQ8_0, TensorType::kF16}) {
    Check({type, 70, 512, kMatVecMaxRows}, Path::kMatMul, kMatVecTolerance);
    Check({type, 70, 512, kMatVecMaxRows + 1}, Path::kMatMul, kTensorCoreTolerance);
  }
}

TEST_F(MatMulCudaTest, ZeroInputRowsWriteNothing) {
  std::mt19937 rng(1);
  const int64_t rows = 5, k = 256;
  DeviceVector<uint8_t> w_bytes(RandomMatrix(TensorType::kQ4_0, rows, k, rng));
  DeviceVector<float> x(static_cast<size_t>(k));
  DeviceVector<float> y(std::vector<float>(rows, kSentinel));
  const DeviceMatrix w{TensorType::kQ4_0, w_bytes.get(), rows, k,
                       static_cast<size_t>(TensorRowBytes(TensorType::kQ4_0, k).value())};
  MatMul(w, x.get(), k, 0, y.get(), rows, stream());
  MatVec(w, x.get(), k, 0, y.get(), rows, stream());
  MatMulTensorCores(w, x.get(), k, 0, y.get(), rows, stream());
  ASSERT_NO_FATAL_FAILURE(Sync());
  EXPECT_EQ(y.Download(), std::vector<float>(rows, kSentinel));
}

TEST(MatMulSupportedTest, ListsTheChunkTypes) {
  for (TensorType type : kTypes) EXPECT_TRUE(MatMulSupported(type)) << TensorTypeName(type);
  for (TensorType type : {TensorType::kQ5_K, TensorType::kQ2_K, TensorType::kIQ2_XXS,
                          TensorType::kQ5_1, TensorType::kI8}) {
    EXPECT_FALSE(MatMulSupported(type)) << TensorTypeName(type);
  }
}

// Bit-exact: the GPU dequantizes exactly as DequantizeRow and multiplies once by the scale.
TEST_F(MatMulCudaTest, EmbedRowsEqualsDequantizeRow) {
  const int64_t rows = 50;
  const std::vector<int32_t> tokens = {3, 0, 49, 3, 17};
  const float scale = 22.627417f;  // sqrt(512), as Gemma scales its embeddings
  for (TensorType type : kTypes) {
    for (int64_t cols : {256, 1024}) {
      for (int offset : {0, 1}) {
        SCOPED_TRACE(std::string(TensorTypeName(type)) + " cols=" + std::to_string(cols) +
                     " offset=" + std::to_string(offset));
        std::mt19937 rng(static_cast<uint32_t>(cols + offset));
        const int64_t row_bytes = TensorRowBytes(type, cols).value();
        const std::vector<uint8_t> table = RandomMatrix(type, rows, cols, rng);
        std::vector<uint8_t> padded(static_cast<size_t>(offset), 0);
        padded.insert(padded.end(), table.begin(), table.end());
        DeviceVector<uint8_t> dev_table(padded);
        DeviceVector<int32_t> dev_tokens(tokens);
        DeviceVector<float> dev_out(tokens.size() * static_cast<size_t>(cols));
        const DeviceMatrix m{type, dev_table.get() + offset, rows, cols,
                             static_cast<size_t>(row_bytes)};
        EmbedRows(m, dev_tokens.get(), static_cast<int64_t>(tokens.size()), scale,
                  dev_out.get(), stream());
        ASSERT_NO_FATAL_FAILURE(Sync());
        const std::vector<float> out = dev_out.Download();

        std::vector<float> expected(out.size());
        for (size_t t = 0; t < tokens.size(); ++t) {
          float* dst = expected.data() + t * cols;
          DequantizeRow(type, table.data() + tokens[t] * row_bytes, dst, cols);
          for (int64_t i = 0; i < cols; ++i) dst[i] = scale * dst[i];
        }
        EXPECT_EQ(out, expected);
      }
    }
  }
}

}  // namespace
}  // namespace engram::kernels::cuda
