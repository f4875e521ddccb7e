/* fuzz_graph_json.c - libFuzzer target for the graph JSON reader
 * (cask_graph_from_json), the parser cask exposes to outside input.
 *
 * Every input must be read or refused without a crash, leak or sanitizer
 * report, and a refusal must come with a known error code and a message.
 * An input that reads must also survive a round trip: writing the graph,
 * reading that text and writing again gives the same text. Two ops are
 * registered so inputs reach both kinds of argument reader: "fuzz.scale"
 * with its own JSON ({"factor": number}) and "fuzz.raw" with hex bytes.
 * The one thing to know: abort() is how a broken property is reported; the
 * fuzzer saves the input that caused it. */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cask/cask.h"

static int noop_run(cask_task_io *io) {
  (void)io;
  return CASK_OK;
}

static int scale_to_json(const void *args, size_t len, cJSON *obj) {
  double f;
  if (len != sizeof f) return CASK_ENOTSERIAL;
  memcpy(&f, args, sizeof f);
  return cJSON_AddNumberToObject(obj, "factor", f) ? CASK_OK : CASK_ENOMEM;
}

/* Finite numbers only: cJSON writes infinity as null, which would not read
 * back, and that is this op's limit, not the reader's. */
static int scale_from_json(const cJSON *obj, void **args, size_t *len, char *err, size_t cap) {
  const cJSON *f = cJSON_GetObjectItemCaseSensitive(obj, "factor");
  if (!cJSON_IsNumber(f) || !isfinite(f->valuedouble)) {
    snprintf(err, cap, "\"factor\" must be a finite number");
    return CASK_EJSON;
  }
  double *d = cask_malloc(sizeof *d);
  if (!d) return CASK_ENOMEM;
  *d = f->valuedouble;
  *args = d;
  *len = sizeof *d;
  return CASK_OK;
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc;
  (void)argv;
  static const cask_op ops[] = {
      {"fuzz.scale", noop_run, scale_to_json, scale_from_json, NULL, 0, 0},
      {"fuzz.raw", noop_run, NULL, NULL, NULL, 0, 0},
  };
  for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++)
    if (cask_op_register(&ops[i], NULL) != CASK_OK) abort();
  return 0;
}

static int expected_refusal(int rc) {
  return rc == CASK_EJSON || rc == CASK_EUNKNOWNOP || rc == CASK_EDUPKEY ||
         rc == CASK_EMISSINGDEP || rc == CASK_ECYCLE || rc == CASK_ETOOBIG || rc == CASK_ENOMEM;
}

static void check_round_trip(cask_graph *g) {
  char *first, *second, *err = NULL;
  size_t n1, n2;
  cask_graph *again = NULL;
  if (cask_graph_to_json(g, &first, &n1) != CASK_OK) abort();
  int rc = cask_graph_from_json(first, n1, &again, &err);
  if (rc != CASK_OK) {
    fprintf(stderr, "written graph does not read back: %s: %s\n%s\n", cask_err_name(rc),
            err ? err : "", first);
    abort();
  }
  if (cask_graph_to_json(again, &second, &n2) != CASK_OK) abort();
  if (n1 != n2 || memcmp(first, second, n1) != 0 || cask_graph_size(g) != cask_graph_size(again)) {
    fprintf(stderr, "round trip changed the graph:\n%s\n---\n%s\n", first, second);
    abort();
  }
  cask_free(first);
  cask_free(second);
  cask_graph_free(again);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  cask_graph *g = NULL;
  char *err = NULL;
  int rc = cask_graph_from_json((const char *)data, size, &g, &err);
  if (rc != CASK_OK) {
    if (g || !err || !err[0] || !expected_refusal(rc)) {
      fprintf(stderr, "bad refusal: %s, graph %p, message %s\n", cask_err_name(rc), (void *)g,
              err ? err : "(none)");
      abort();
    }
    cask_free(err);
    return 0;
  }
  if (err) abort();
  check_round_trip(g);
  cask_graph_free(g);
  return 0;
}
