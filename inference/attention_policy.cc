#include "inference/attention_policy.h"

#include <cmath>
#include <cstdio>

#include "inference/key_selection.h"

namespace engram::inference {

std::string_view AttentionKindName(AttentionKind kind) {
  switch (kind) {
    case AttentionKind::kFull: return "full";
    case AttentionKind::kWindow: return "window";
    case AttentionKind::kQuest: return "quest";
    case AttentionKind::kRetrieval: return "retrieval";
  }
  return "?";
}

Result<AttentionKind> ParseAttentionKind(std::string_view name) {
  for (AttentionKind k : {AttentionKind::kFull, AttentionKind::kWindow, AttentionKind::kQuest,
                          AttentionKind::kRetrieval}) {
    if (name == AttentionKindName(k)) return k;
  }
  return Status::InvalidArgument("attention policy '" + std::string(name) +
                                 "' is unknown; use full, window, quest or retrieval");
}

Result<AttentionOptions> ParseAttentionPolicy(std::string_view spec, AttentionOptions base) {
  const size_t colon = spec.find(':');
  Result<AttentionKind> kind = ParseAttentionKind(spec.substr(0, colon));
  if (!kind.ok()) return kind.status();
  base.kind = *kind;
  if (colon != std::string_view::npos) {
    if (base.kind != AttentionKind::kRetrieval) {
      return Status::InvalidArgument("attention policy '" + std::string(spec) +
                                     "': only retrieval takes an index (retrieval:aware)");
    }
    Result<retrieval::KeyIndexKind> index = retrieval::ParseKeyIndexKind(spec.substr(colon + 1));
    if (!index.ok()) return index.status();
    base.index = *index;
  }
  return base;
}

Status ValidateAttentionOptions(const AttentionOptions& o) {
  auto bad = [](std::string_view field, const std::string& value, std::string_view range) {
    return Status::InvalidArgument("attention: " + std::string(field) + " " + value +
                                   " is out of range; use " + std::string(range));
  };
  if (Status s = ValidateKeyBudget("attention", o.budget, o.sinks, o.window); !s.ok()) return s;
  if (!(o.candidate_factor >= 1.0 && o.candidate_factor <= 1000.0)) {
    return bad("candidate factor", std::to_string(o.candidate_factor), "1..1000");
  }
  if (o.index_batch < 1 || o.index_batch > 4096) {
    return bad("index batch", std::to_string(o.index_batch), "1..4096");
  }
  if (o.query_samples < 0 || o.query_samples > 1 << 20) {
    return bad("query samples", std::to_string(o.query_samples), "0..1048576");
  }
  if (!(o.page_candidates >= 0.0 && o.page_candidates <= 1000.0)) {
    return bad("page candidates", std::to_string(o.page_candidates), "0..1000");
  }
  if (o.successors < 0 || o.successors > 1024) {
    return bad("successors", std::to_string(o.successors), "0..1024");
  }
  return Status::OK();
}

std::string DescribeAttention(const AttentionOptions& o) {
  std::string s(AttentionKindName(o.kind));
  if (o.kind == AttentionKind::kFull) return s;
  if (o.kind == AttentionKind::kRetrieval) {
    s += "(" + std::string(retrieval::KeyIndexKindName(o.index)) + ")";
  }
  char buf[96];
  std::snprintf(buf, sizeof buf, " budget %g, sinks %d, window %d", o.budget, o.sinks, o.window);
  return s + buf;
}

}  // namespace engram::inference
