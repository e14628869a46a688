// Where a named collection lives, checked the same way by every command that opens one.
#pragma once

#include <string>

#include "app/cli.h"
#include "common/result.h"
#include "retrieval/collection.h"

namespace engram::app {

// The collection's directory, or why it cannot be opened in `mode` (checked before the embedder
// is loaded). A missing collection names the ones there are and how to create it.
Result<std::string> CheckedCollectionPath(const GlobalFlags& global, const std::string& name,
                                          retrieval::OpenMode mode);

}  // namespace engram::app
