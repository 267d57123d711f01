/* Check macros shared by the C test programs: each counts passes and
 * failures and prints the library's last error message on a failure. A
 * program includes this once and reports `passed`/`failed` at exit. */
#ifndef AZMX_TESTS_CHECK_H
#define AZMX_TESTS_CHECK_H

#include <stdio.h>

#include "azmx_sync.h"

static int passed, failed;

#define CHECK(cond)                                                         \
  do {                                                                      \
    if (cond) {                                                             \
      passed++;                                                             \
    } else {                                                                \
      failed++;                                                             \
      fprintf(stderr, "FAIL %s:%d: %s (last error: %s)\n", __FILE__,        \
              __LINE__, #cond, azmx_last_error_message());                  \
    }                                                                       \
  } while (0)

#define CHECK_STATUS(expr, want)                                            \
  do {                                                                      \
    AzmxStatus got_ = (expr);                                               \
    if (got_ == (want)) {                                                   \
      passed++;                                                             \
    } else {                                                                \
      failed++;                                                             \
      fprintf(stderr, "FAIL %s:%d: %s returned %s, expected %s (%s)\n",     \
              __FILE__, __LINE__, #expr, azmx_status_name(got_),            \
              azmx_status_name(want), azmx_last_error_message());           \
    }                                                                       \
  } while (0)

#endif
