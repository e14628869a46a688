// The fine stage with the default generator as the scorer: token spans tile the text, the
// question's contrast is real (a question that contains the text makes it far likelier), and a
// whole compression of an L-Eval document meets its budget with an exact source map.
#include <gtest/gtest.h>

#include <cmath>
#include <memory>

#include "bench/eval_data.h"
#include "common/paths.h"
#include "compress/compressor.h"
#include "compress/token_scorer.h"
#include "inference/engine.h"

namespace engram::compress {
namespace {

inference::Engine& DefaultEngine() {
  static const std::unique_ptr<inference::Engine> engine = [] {
    inference::EngineOptions options;
    options.context.n_threads = 2;
    Result<std::unique_ptr<inference::Engine>> e = inference::Engine::Load(options);
    EXPECT_TRUE(e.ok()) << e.status().ToString();
    return e.ok() ? std::move(*e) : nullptr;
  }();
  return *engine;
}

TokenScorer& Scorer() {
  static const std::unique_ptr<TokenScorer> scorer = [] {
    Result<std::unique_ptr<TokenScorer>> s = TokenScorer::Create(DefaultEngine(), 2);
    EXPECT_TRUE(s.ok()) << s.status().ToString();
    return s.ok() ? std::move(*s) : nullptr;
  }();
  return *scorer;
}

double MeanContrast(const std::vector<ScoredToken>& tokens) {
  double sum = 0;
  for (const ScoredToken& t : tokens) sum += t.contrast;
  return sum / static_cast<double>(tokens.size());
}

TEST(TokenScorerTest, TokensTileTheTextAndTheQuestionMatters) {
  const std::string text =
      "The lighthouse keeper, Marta Quill, painted the tower blue in the spring of 1911. Ships "
      "from Porto could see it from eleven miles out.";
  Result<std::vector<ScoredToken>> echoed = Scorer().Score(text, text, 16);
  ASSERT_TRUE(echoed.ok()) << echoed.status().ToString();
  ASSERT_GT(echoed->size(), 20u);
  size_t at = 0;
  for (const ScoredToken& t : *echoed) {
    EXPECT_EQ(t.begin, at);
    EXPECT_GT(t.end, t.begin);
    EXPECT_TRUE(std::isfinite(t.self_information) && std::isfinite(t.contrast));
    EXPECT_GE(t.self_information, 0.0);
    at = t.end;
  }
  EXPECT_EQ(at, text.size());
  Result<std::vector<ScoredToken>> unrelated = Scorer().Score("How do bees make honey?", text, 16);
  ASSERT_TRUE(unrelated.ok());
  // A question holding the text makes it much likelier (the model copies); an unrelated one
  // barely moves it.
  EXPECT_GT(MeanContrast(*echoed), 1.0);
  EXPECT_LT(std::abs(MeanContrast(*unrelated)), MeanContrast(*echoed) / 2);
  // The unconditioned pass does not depend on the question.
  for (size_t i = 0; i < echoed->size(); ++i) {
    EXPECT_NEAR((*echoed)[i].self_information, (*unrelated)[i].self_information, 1e-3);
  }
  Result<std::vector<ScoredToken>> bad = Scorer().Score("q", text, 8);
  EXPECT_EQ(bad.status().code(), StatusCode::kInvalidArgument);
}

TEST(CompressModelTest, AnLEvalDocumentMeetsItsBudgetWithAnExactMap) {
  Result<std::vector<bench::LevalDocument>> docs = bench::ReadLevalFile(
      (ResolveSharedDataDir() / "leval" / "quality.shared.jsonl").string(), "test");
  ASSERT_TRUE(docs.ok()) << docs.status().ToString();
  // The first 6,000 bytes, as three documents.
  const std::string& input = docs->front().input;
  const std::vector<std::string> documents = {input.substr(0, 2000), input.substr(2000, 2000),
                                              input.substr(4000, 2000)};
  const inference::Engine& engine = DefaultEngine();
  CompressModels models;
  models.count_tokens = [&](std::string_view s) {
    return static_cast<int>(engine.tokenizer().Encode(s).size());
  };
  models.scorer = &Scorer();
  CompressOptions options;
  options.ratio = 4;
  Result<Compressed> c = Compress(docs->front().instructions.front(), documents, options, models);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_LE(c->tokens_out, c->tokens_in / 4);
  EXPECT_GT(c->tokens_out, c->tokens_in / 6);
  EXPECT_GT(c->words_dropped, 0u);
  EXPECT_GT(c->fine_ms, 0.0);
  for (const MappedSpan& s : c->map.spans()) {
    ASSERT_LT(s.document, documents.size());
    EXPECT_EQ(c->text.substr(s.out_begin, s.out_end - s.out_begin),
              documents[s.document].substr(s.begin, s.end - s.begin));
  }
}

}  // namespace
}  // namespace engram::compress
