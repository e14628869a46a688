// Clang thread-safety annotations (no-ops elsewhere), as in leveldb's port/thread_annotations.h.
// They document which mutex guards which member; clang's -Wthread-safety checks them when the
// mutex type is annotated.
#pragma once

#if defined(__clang__)
#define ENGRAM_THREAD_ANNOTATION(x) __attribute__((x))
#else
#define ENGRAM_THREAD_ANNOTATION(x)
#endif

#define GUARDED_BY(x) ENGRAM_THREAD_ANNOTATION(guarded_by(x))
#define PT_GUARDED_BY(x) ENGRAM_THREAD_ANNOTATION(pt_guarded_by(x))
#define EXCLUSIVE_LOCKS_REQUIRED(...) \
  ENGRAM_THREAD_ANNOTATION(exclusive_locks_required(__VA_ARGS__))
#define LOCKS_EXCLUDED(...) ENGRAM_THREAD_ANNOTATION(locks_excluded(__VA_ARGS__))
