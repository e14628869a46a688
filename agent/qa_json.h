// An Answer (agent/qa.h) as JSON: what `engram ask --json` prints and POST /v1/qa returns.
//   {"answer", "citations": [{"source","document","begin","end","snippet","supporting"}],
//    "mode", "extractive", "dropped_citations", "note", "timing": {...}}
#pragma once

#include <nlohmann/json.hpp>

#include "agent/qa.h"

namespace engram::agent {

nlohmann::ordered_json AnswerJson(const Answer& answer);

}  // namespace engram::agent
