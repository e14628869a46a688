// The checks every value entering memory::EpisodicStore goes through (private to memory/).
// Each returns kInvalidArgument with a one-line message naming the field, the value and the
// accepted range, or OK.
#pragma once

#include <cstdint>
#include <string_view>

#include "common/status.h"
#include "memory/episodic_store.h"

namespace engram::memory::internal {

// True when `s` is well-formed UTF-8 (no overlong forms, surrogates or code points past
// U+10FFFF), which is what a JSON string can hold.
bool ValidUtf8(std::string_view s);

// At most 256 bytes, no NUL.
Status CheckSession(std::string_view session);

// `ms` within [kMinTimeMs, kMaxTimeMs]; 0 passes too when `zero_ok` (0 meaning now / never).
Status CheckTime(std::string_view field, int64_t ms, bool zero_ok);

// Session, text size, importance, timestamp, expiry and UTF-8 of text, role, session, metadata.
Status CheckEpisode(const Episode& e);
Status CheckChanges(const EpisodeChanges& changes);
Status CheckRecallOptions(const RecallOptions& options);
Status CheckListOptions(const ListOptions& options);

}  // namespace engram::memory::internal
