// The interface through which retrieval's callers rerank candidates with a model retrieval never
// sees (inference/lm_reranker.h implements it with the default language model).
//
//   Result<std::vector<double>> scores = reranker.Score("where does Ana live?", passages);
//   // scores[i]: how relevant passages[i] is to the query; higher is more relevant
//
// Scores compare passages of one query only. Thread safety: implementations document their own.
#pragma once

#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace engram::retrieval {

class Reranker {
 public:
  virtual ~Reranker() = default;

  virtual std::string_view Name() const = 0;
  // A relevance score for each of `passages` given `query`, in order.
  virtual Result<std::vector<double>> Score(std::string_view query,
                                            std::span<const std::string> passages) = 0;
};

}  // namespace engram::retrieval
