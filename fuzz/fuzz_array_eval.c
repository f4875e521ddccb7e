/* fuzz_array_eval.c - libFuzzer target for the array expression parser
 * (cask_eval), which reads strings a user or a job file writes.
 *
 * Every input must parse or be refused without a crash, leak or sanitizer
 * report; a refusal must say where ("column N"). An expression that parses
 * is computed over two small arrays (4 x 3 and a broadcast row of 3) when
 * it has at most 4096 elements and its lowering few blocks (below),
 * and must compute (or be refused as too many tasks: CASK_ETOOBIG, or
 * fail as NumPy's LinAlgError or ValueError would: a singular matrix, an
 * all-NaN slice, the min of an empty selection);
 * one of unknown block lengths (a selection) has its sizes counted first. The
 * one thing to know: abort() is how a broken property is reported. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../collections/array/core/array-int.h" /* the node graph, to bound what is computed */
#include "cask/cask.h"

static cask_ctx *ctx;
static cask_array *vars[2];

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc;
  (void)argv;
  if (cask_ctx_new(&(cask_options){.threads = 1}, &ctx)) abort();
  int64_t s2[2] = {4, 3}, c2[2] = {2, 3}, s1 = 3;
  if (cask_random_uniform(ctx, 1, CASK_F64, 2, s2, c2, &vars[0]) || cask_random_normal(ctx, 2, CASK_F64, 1, &s1, NULL, &vars[1]))
    abort();
  return 0;
}

/* Whether lowering a makes few enough blocks to compute within the
 * fuzzer's timeout: its nodes' blocks, counted with repeats and cut off at
 * the budget (pad(a, 10**6) in a's chunks of 2 rows is half a million
 * tasks; such arrays are only built). */
static int small_enough(const cask_array *a, int64_t *budget) {
  int64_t blocks = 1;
  for (int i = 0; i < a->ndim; i++) {
    int64_t nb = cask__nblocks(a, i);
    if (nb > *budget) return 0;
    blocks *= nb; /* at most budget^2: no overflow */
    if (blocks > *budget) return 0;
  }
  if ((*budget -= blocks) < 0) return 0;
  for (int k = 0; k < a->nin; k++)
    if (!small_enough(a->in[k], budget)) return 0;
  return 1;
}

/* The failures that depend on the values, not the expression (NumPy's
 * LinAlgError and ValueError): the run may end with them. */
static int data_dependent(const char *msg) {
  static const char *const known[] = {"Singular matrix", "not positive definite", "All-NaN slice", "did not converge",
                                      "holds NaN", "is singular (a is rank deficient)",
                                      /* min/max of a selection that kept nothing */
                                      "zero-size array to reduction operation",
                                      /* an index array's values (x[i] with i computed): NumPy's IndexError */
                                      "is out of bounds for axis"};
  for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
    if (strstr(msg, known[i])) return 1;
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size > 4096) return 0;
  char *text = malloc(size + 1);
  if (!text) return 0;
  memcpy(text, data, size);
  text[size] = '\0'; /* a NUL inside simply ends the expression */
  static const char *const names[] = {"a", "b"};
  cask_array *out = NULL;
  int rc = cask_eval(ctx, text, names, vars, 2, &out);
  if (rc) {
    if (out || (rc != CASK_EINVAL && rc != CASK_ETOOBIG && rc != CASK_ENOMEM)) abort();
    if (rc == CASK_EINVAL && !strstr(cask_ctx_errmsg(ctx), "column")) abort();
  } else {
    if (!out || cask_array_ndim(out) > CASK_MAX_NDIM) abort();
    int64_t n = cask_array_size(out), budget0 = 20000;
    if (n == CASK_UNKNOWN && small_enough(out, &budget0)) { /* x[mask]: the counting pass first */
      cask_array *k = NULL;
      rc = cask_compute_chunk_sizes(out, &k);
      if (rc != CASK_OK && rc != CASK_ETOOBIG && rc != CASK_EINVAL) abort();
      if (rc == CASK_EINVAL && !strstr(cask_ctx_errmsg(ctx), "compute_chunk_sizes")) abort();
      cask_array_release(out);
      out = k;
      n = k ? cask_array_size(k) : 0;
    }
    if (!out) n = 1 << 30;
    int64_t budget = 20000;
    if (n <= 4096 && small_enough(out, &budget)) {
      _Alignas(8) static char buf[4096 * 8]; /* any dtype: comparisons give bool, literals int64 */
      rc = cask_compute(out, buf, (size_t)n * cask_dtype_size(cask_array_dtype(out)));
      if (rc != CASK_OK && rc != CASK_ETOOBIG && !(rc == CASK_EINVAL && data_dependent(cask_ctx_errmsg(ctx)))) abort();
    }
    if (out) cask_array_release(out);
  }
  free(text);
  return 0;
}
