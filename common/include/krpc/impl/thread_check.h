// KRPC_ASSERT_IN_LOOP(cond): in debug builds (no NDEBUG, as the sanitizer builds are), aborts
// with the location when code documented as "owning thread only" runs on another thread, as
// muduo's assertInLoopThread() does. Compiles to nothing in release builds. Internal header.
#pragma once

#ifdef NDEBUG
#define KRPC_ASSERT_IN_LOOP(cond) ((void)0)
#else
#include <cstdio>
#include <cstdlib>
#define KRPC_ASSERT_IN_LOOP(cond)                                                                    \
  do {                                                                                               \
    if (!(cond)) {                                                                                   \
      std::fprintf(stderr, "%s:%d: %s: called off its owning thread (%s)\n", __FILE__, __LINE__,     \
                   __func__, #cond);                                                                 \
      std::abort();                                                                                  \
    }                                                                                                \
  } while (0)
#endif
