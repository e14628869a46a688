#include "common/result.h"

#include <cstdio>
#include <cstdlib>

namespace engram::internal {

void DieOnBadResultAccess(const Status& status) {
  std::fprintf(stderr, "engram: bug: value() read from a Result holding an error: %s\n",
               status.ToString().c_str());
  std::abort();
}

void DieOnOkStatusInResult() {
  std::fprintf(stderr, "engram: bug: Result constructed from an OK Status (no value)\n");
  std::abort();
}

}  // namespace engram::internal
