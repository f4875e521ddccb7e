/* test-util.h - what several suites share: whether a sanitizer is on (so
 * stress loops can shrink), and require(), a check that calls Check only on
 * failure (ck_assert logs every passing check, which in loops of a million
 * costs more than what is tested). */
#ifndef CASK_TEST_UTIL_H
#define CASK_TEST_UTIL_H

#include <check.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if defined(__SANITIZE_THREAD__) || defined(__SANITIZE_ADDRESS__)
#define SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer) || __has_feature(address_sanitizer)
#define SANITIZED 1
#endif
#endif
#ifndef SANITIZED
#define SANITIZED 0
#endif

#define require(cond, ...)                  \
  do {                                      \
    if (!(cond)) ck_abort_msg(__VA_ARGS__); \
  } while (0)

/* splitmix64's finalizer: the suites' source of well-mixed test values. */
static inline uint64_t mix64(uint64_t x) {
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ULL;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

/* A new directory "$TMPDIR/cask-WHAT-XXXXXX" (TMPDIR unset: /tmp) into dir,
 * for a fixture. */
static inline void test_tmpdir(char *dir, size_t cap, const char *what) {
  snprintf(dir, cap, "%s/cask-%s-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp", what);
  ck_assert_msg(mkdtemp(dir) != NULL, "mkdtemp: %s", strerror(errno));
}

#endif
