#include "compress/compressor.h"

#include <chrono>
#include <cmath>

namespace engram::compress {
namespace {

double MillisecondsSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
      .count();
}

}  // namespace

Status ValidateCompressOptions(const CompressOptions& options) {
  auto bad = [](std::string what) { return Status::InvalidArgument("compress: " + what); };
  if (!(options.fine_share >= 0.0 && options.fine_share <= 4.0)) {
    return bad("fine_share " + std::to_string(options.fine_share) + " is out of range; use 0..4");
  }
  if (!(options.contrast_weight >= 0.0 && options.contrast_weight <= 100.0)) {
    return bad("contrast_weight " + std::to_string(options.contrast_weight) +
               " is out of range; use 0..100");
  }
  if (options.segment_tokens < 16 || options.segment_tokens > 4096) {
    return bad("segment_tokens " + std::to_string(options.segment_tokens) +
               " is out of range; use 16..4096");
  }
  return Status::OK();
}

Result<Compressed> Compress(std::string_view question, const std::vector<std::string>& documents,
                            const CompressOptions& options, const CompressModels& models) {
  if (Status s = ValidateCompressOptions(options); !s.ok()) return s;
  if (!models.count_tokens) return Status::InvalidArgument("compress: no token counter given");
  const auto start = std::chrono::steady_clock::now();
  CoarseOptions coarse = options.coarse;
  coarse.ratio = options.ratio;
  coarse.budget_tokens = options.budget_tokens;
  Result<Compressed> out =
      CompressCoarse(question, documents, coarse, models.count_tokens, models.embedder);
  if (!out.ok()) return out;
  out->coarse_ms = MillisecondsSince(start);
  return out;
}

}  // namespace engram::compress
