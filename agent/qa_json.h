// An Answer (agent/qa.h) as JSON: what `engram ask --json` prints and POST /v1/qa returns.
//   {"answer", "citations": [{"source","document","begin","end","snippet","supporting",
//    "spans"? ([[begin, end], ...] when the source was compressed)}], "mode", "extractive",
//    "dropped_citations", "note", "sources" (numbered in the prompt), "compression":
//    {"applied","sources_in","sources_out","tokens_in","tokens_out"}, "timing": {...}}
#pragma once

#include <nlohmann/json.hpp>

#include "agent/qa.h"

namespace engram::agent {

nlohmann::ordered_json AnswerJson(const Answer& answer);

}  // namespace engram::agent
