#include "memory/internal/checks.h"

#include <cmath>
#include <cstdio>
#include <limits>
#include <string>

namespace engram::memory::internal {
namespace {

constexpr size_t kMaxSessionBytes = 256;

std::string Number(double v) {
  if (std::isnan(v)) return "nan";
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  char buf[64];
  std::snprintf(buf, sizeof buf, "%g", v);
  return buf;
}

// A finite value in [min, max] (or (min, max] when `open_min`).
Status CheckNumber(std::string_view field, double v, double min, double max, bool open_min) {
  const bool ok = std::isfinite(v) && (open_min ? v > min : v >= min) && v <= max;
  if (ok) return Status::OK();
  return Status::InvalidArgument("memory: " + std::string(field) + " " + Number(v) +
                                 " is not a finite number in " + (open_min ? "(" : "[") +
                                 Number(min) + ", " + Number(max) + "]");
}

Status CheckCount(std::string_view field, int64_t v, int64_t min, int64_t max) {
  if (v >= min && v <= max) return Status::OK();
  return Status::InvalidArgument("memory: " + std::string(field) + " " + std::to_string(v) +
                                 " is outside [" + std::to_string(min) + ", " +
                                 std::to_string(max) + "]");
}

// A range bound: its open default (the type's min or max) or a time.
Status CheckBound(std::string_view field, int64_t ms, int64_t open_value) {
  return ms == open_value ? Status::OK() : CheckTime(field, ms, /*zero_ok=*/false);
}

Status CheckRange(std::string_view what, int64_t from_ms, int64_t to_ms) {
  if (Status s = CheckBound(std::string(what) + ".from_ms", from_ms,
                            std::numeric_limits<int64_t>::min());
      !s.ok()) {
    return s;
  }
  if (Status s = CheckBound(std::string(what) + ".to_ms", to_ms,
                            std::numeric_limits<int64_t>::max());
      !s.ok()) {
    return s;
  }
  if (from_ms > to_ms) {
    return Status::InvalidArgument("memory: " + std::string(what) + ".from_ms " +
                                   std::to_string(from_ms) + " is later than to_ms " +
                                   std::to_string(to_ms));
  }
  return Status::OK();
}

Status CheckUtf8(std::string_view field, std::string_view s) {
  if (ValidUtf8(s)) return Status::OK();
  return Status::InvalidArgument("memory: the episode's " + std::string(field) +
                                 " is not valid UTF-8; convert it first");
}

}  // namespace

bool ValidUtf8(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    size_t n = 0;
    uint32_t cp = 0;
    if (c < 0x80) {
      ++i;
      continue;
    } else if (c >= 0xC2 && c <= 0xDF) {
      n = 1, cp = c & 0x1F;
    } else if (c >= 0xE0 && c <= 0xEF) {
      n = 2, cp = c & 0x0F;
    } else if (c >= 0xF0 && c <= 0xF4) {
      n = 3, cp = c & 0x07;
    } else {
      return false;
    }
    if (i + n >= s.size()) return false;  // truncated sequence
    for (size_t k = 1; k <= n; ++k) {
      const auto cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3F);
    }
    const uint32_t min_cp = n == 1 ? 0x80 : n == 2 ? 0x800 : 0x10000;
    if (cp < min_cp || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    i += n + 1;
  }
  return true;
}

Status CheckTime(std::string_view field, int64_t ms, bool zero_ok) {
  if ((zero_ok && ms == 0) || (ms >= kMinTimeMs && ms <= kMaxTimeMs)) return Status::OK();
  return Status::InvalidArgument(
      "memory: " + std::string(field) + " " + std::to_string(ms) +
      " is not a time from 1970-01-01T00:00:00Z to 9999-12-31T23:59:59.999Z (epoch ms " +
      std::to_string(kMinTimeMs) + " to " + std::to_string(kMaxTimeMs) + ")");
}

Status CheckSession(std::string_view session) {
  if (session.size() > kMaxSessionBytes || session.find('\0') != std::string_view::npos) {
    return Status::InvalidArgument("memory: a session id must be at most 256 bytes without NUL");
  }
  return Status::OK();
}

Status CheckEpisode(const Episode& e) {
  if (Status s = CheckSession(e.session); !s.ok()) return s;
  if (e.text.size() > kMaxEpisodeTextBytes) {
    return Status::InvalidArgument("memory: episode text is " + std::to_string(e.text.size()) +
                                   " bytes; the limit is 1 MiB (split it or summarise it)");
  }
  if (Status s = CheckNumber("importance", e.importance, 0.0, 1.0, false); !s.ok()) return s;
  if (Status s = CheckTime("timestamp_ms", e.timestamp_ms, /*zero_ok=*/true); !s.ok()) return s;
  if (Status s = CheckTime("expires_ms", e.expires_ms, /*zero_ok=*/true); !s.ok()) return s;
  for (const auto& [field, value] : {std::pair<const char*, const std::string*>{"text", &e.text},
                                     {"role", &e.role},
                                     {"session", &e.session}}) {
    if (Status s = CheckUtf8(field, *value); !s.ok()) return s;
  }
  for (const auto& [key, value] : e.metadata) {
    if (!ValidUtf8(key) || !ValidUtf8(value)) {
      return Status::InvalidArgument("memory: the episode's metadata is not valid UTF-8; convert "
                                     "it first");
    }
  }
  return Status::OK();
}

Status CheckChanges(const EpisodeChanges& c) {
  if (c.text && c.text->size() > kMaxEpisodeTextBytes) {
    return Status::InvalidArgument("memory: episode text is " + std::to_string(c.text->size()) +
                                   " bytes; the limit is 1 MiB (split it or summarise it)");
  }
  if (c.importance) {
    if (Status s = CheckNumber("importance", *c.importance, 0.0, 1.0, false); !s.ok()) return s;
  }
  if (c.expires_ms) {
    if (Status s = CheckTime("expires_ms", *c.expires_ms, /*zero_ok=*/true); !s.ok()) return s;
  }
  return Status::OK();
}

Status CheckRecallOptions(const RecallOptions& o) {
  if (Status s = CheckCount("recall k", o.k, 1, kMaxRecallK); !s.ok()) return s;
  const std::pair<const char*, double> weights[] = {
      {"relevance_weight", o.relevance_weight},
      {"bm25_weight", o.bm25_weight},
      {"recency_weight", o.recency_weight},
      {"importance_weight", o.importance_weight},
      {"feedback_weight", o.feedback_weight},
      {"dense_feedback_weight", o.dense_feedback_weight},
      {"role_weight", o.role_weight}};
  for (const auto& [field, value] : weights) {
    if (Status s = CheckNumber(field, value, 0.0, kMaxRecallWeight, false); !s.ok()) return s;
  }
  if (Status s = CheckNumber("half_life_hours", o.half_life_hours, 0.0, kMaxHalfLifeHours, true);
      !s.ok()) {
    return s;
  }
  if (Status s = CheckTime("now_ms", o.now_ms, /*zero_ok=*/true); !s.ok()) return s;
  if (Status s = CheckRange("recall", o.from_ms, o.to_ms); !s.ok()) return s;
  if (Status s = CheckCount("recall feedback_terms", o.feedback_terms, 0, kMaxFeedbackTerms);
      !s.ok()) {
    return s;
  }
  if (Status s =
          CheckCount("recall feedback_episodes", o.feedback_episodes, 1, kMaxFeedbackTerms);
      !s.ok()) {
    return s;
  }
  return CheckCount("recall candidates", o.candidates, 0, kMaxRecallCandidates);
}

Status CheckListOptions(const ListOptions& o) {
  if (o.limit < 1 || o.limit > kMaxListLimit) {
    return Status::InvalidArgument("memory: list limit " + std::to_string(o.limit) +
                                   " is outside [1, " + std::to_string(kMaxListLimit) + "]");
  }
  return CheckRange("list", o.from_ms, o.to_ms);
}

}  // namespace engram::memory::internal
