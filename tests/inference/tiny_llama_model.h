// A TinyLlama loaded as an engine model (GGUF bytes parsed, weights bound), for tests that run
// LlamaContext on random tiny models.
#pragma once

#include <gtest/gtest.h>

#include <memory>

#include "inference/gguf.h"
#include "inference/llama_model.h"
#include "tests/inference/tiny_llama.h"

namespace engram::inference::testing {

struct LoadedTinyLlama {
  TinyLlama tiny;  // owns the bytes the model points into
  std::shared_ptr<const LlamaModel> model;
};

inline LoadedTinyLlama LoadTinyLlama(const TinyLlamaSpec& spec) {
  LoadedTinyLlama l{TinyLlama::Make(spec), nullptr};
  auto gguf = GgufFile::Parse(l.tiny.gguf, "tiny.gguf");
  EXPECT_TRUE(gguf.ok()) << gguf.status().ToString();
  if (!gguf.ok()) return l;
  auto model = LlamaModel::FromGguf(std::shared_ptr<const GgufFile>(std::move(*gguf)));
  EXPECT_TRUE(model.ok()) << model.status().ToString();
  if (model.ok()) l.model = *model;
  return l;
}

}  // namespace engram::inference::testing
