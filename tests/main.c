/* main.c - runs every Check suite in suite-list.h, or the ones named on the
 * command line (`cask-tests graph scheduler`). Each test runs in its own
 * process (Check's fork mode) unless CK_FORK=no. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "suite-list.h"

#define DECLARE(name) Suite *name##_suite(void);
CASK_TEST_SUITES(DECLARE)

typedef struct {
  const char *name;
  Suite *(*make)(void);
} entry;

#define ENTRY(name) {#name, name##_suite},
static const entry suites[] = {CASK_TEST_SUITES(ENTRY)};

int main(int argc, char **argv) {
  SRunner *sr = NULL;
  size_t n = sizeof suites / sizeof suites[0];
  for (size_t i = 0; i < n; i++) {
    int wanted = argc < 2;
    for (int a = 1; a < argc; a++) wanted |= strcmp(argv[a], suites[i].name) == 0;
    if (!wanted) continue;
    if (!sr)
      sr = srunner_create(suites[i].make());
    else
      srunner_add_suite(sr, suites[i].make());
  }
  if (!sr) {
    fprintf(stderr, "no suite matches; suites:");
    for (size_t i = 0; i < n; i++) fprintf(stderr, " %s", suites[i].name);
    fprintf(stderr, "\n");
    return 2;
  }
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
