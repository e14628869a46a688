// LoCoMo (Maharana et al., 2024) as `engram eval memory` and bench/peer_mem0.py read it: each
// conversation's turns in session order ("<speaker>: <text>", dated by their session) and its
// questions that name evidence turns. A turn that shares an image carries the image's caption
// (the dataset's "blip_caption", as LoCoMo's own RAG baselines read it): "<speaker>: <text>
// [shared a photo of a painting of a sunset]". 38% of the evidence turns share one, and the
// question is often about what it shows ("What did Melanie paint?").
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/result.h"

namespace engram::bench {

struct LocomoTurn {
  std::string session, dia_id, text;  // text: "<speaker>: <text>[ [shared <caption>]]"
  std::string speaker;
  int64_t time_ms = 0;
};

struct LocomoQuestion {
  std::string text, category;
  std::vector<std::string> evidence;  // dia_ids
};

struct LocomoConversation {
  std::string id;  // sample_id
  std::vector<LocomoTurn> turns;
  std::vector<LocomoQuestion> questions;  // those with a question and evidence
  int64_t last_session_ms = 0;
};

struct LocomoReadOptions {
  bool captions = true;  // append each shared image's caption to its turn's text
};

// A LoCoMo JSON file (a list of conversations); kInvalidArgument naming the place on bad data.
Result<std::vector<LocomoConversation>> ReadLocomo(const std::string& path,
                                                   const LocomoReadOptions& options = {});

// "1:56 pm on 8 May, 2023" (LoCoMo's session dates) -> Unix epoch ms, read as UTC.
Result<int64_t> ParseLocomoDateTime(const std::string& text);

}  // namespace engram::bench
