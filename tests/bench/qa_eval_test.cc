// The readable table of `engram eval qa` (FormatQaEval) and its option checks; nothing here
// loads a model.
#include "bench/qa_eval.h"

#include <gtest/gtest.h>

#include <string>

namespace engram::bench {
namespace {

nlohmann::ordered_json Result() {
  return nlohmann::ordered_json::parse(R"({
    "modes": {
      "rag": {"squad_em": 0.25, "squad_f1": 0.5, "quality_accuracy": 0.5, "nq_em": 0.0,
              "nq_f1": 0.125, "ttft_ms_cold": 1234.0, "ttft_ms_cached": null,
              "tokens_per_answer": 1700.0, "seconds_per_question": 12.5, "skipped": 0},
      "long:full": {"squad_em": 0.5, "squad_f1": 0.75, "quality_accuracy": 0.75, "nq_em": null,
                    "nq_f1": null, "ttft_ms_cold": 90000.0, "ttft_ms_cached": 800.0,
                    "tokens_per_answer": 6000.0, "seconds_per_question": 30.0, "skipped": 3}},
    "datasets": {"squad": {"questions": 4, "documents": 2}, "quality": {"questions": 4, "documents": 2},
                 "nq": {"questions": 3, "documents": 1}},
    "config": {"quality_choice": "mean log-probability per option token"},
    "model": "m.gguf", "commit": "abc1234"})");
}

TEST(FormatQaEval, OneRowPerModeWithDashesForMissingFigures) {
  const std::string table = FormatQaEval(Result());
  EXPECT_NE(table.find("squad 4 questions / 2 docs"), std::string::npos) << table;
  EXPECT_NE(table.find("commit abc1234"), std::string::npos) << table;
  const size_t rag = table.find("\nrag "), full = table.find("\nlong:full ");
  ASSERT_NE(rag, std::string::npos) << table;
  ASSERT_NE(full, std::string::npos) << table;
  const std::string rag_row = table.substr(rag + 1, table.find('\n', rag + 1) - rag - 1);
  const std::string full_row = table.substr(full + 1, table.find('\n', full + 1) - full - 1);
  EXPECT_NE(rag_row.find("0.250"), std::string::npos) << rag_row;
  EXPECT_NE(rag_row.find("1234 ms"), std::string::npos) << rag_row;
  EXPECT_NE(rag_row.find(" - "), std::string::npos) << rag_row;  // no cached TTFT in rag
  EXPECT_NE(full_row.find("800 ms"), std::string::npos) << full_row;
  EXPECT_EQ(full_row.back(), '3') << full_row;  // skipped
  EXPECT_NE(table.find("chance level 0.25"), std::string::npos) << table;
}

TEST(ValidateQaEvalOptions, NamesTheFlag) {
  QaEvalOptions o;
  EXPECT_NE(ValidateQaEvalOptions(o).ToString().find("--squad"), std::string::npos);
  o.squad_file = "x.json";
  EXPECT_TRUE(ValidateQaEvalOptions(o).ok());
  o.modes = {"long:quest", "auto:retrieval:exact", "none", "rag"};
  EXPECT_TRUE(ValidateQaEvalOptions(o).ok());
  o.modes = {"none:full"};
  EXPECT_NE(ValidateQaEvalOptions(o).ToString().find("only long and auto"), std::string::npos);
  o.modes = {"rag"};
  o.split = "half";
  EXPECT_NE(ValidateQaEvalOptions(o).ToString().find("--split"), std::string::npos);
  o.split = "odd";
  o.documents = -1;
  EXPECT_NE(ValidateQaEvalOptions(o).ToString().find("--documents"), std::string::npos);
}

}  // namespace
}  // namespace engram::bench
