/* transpose_demo.c - dask.array's classic example in C:
 *   x = random((N, N), chunks=C); (x + x.T)[::2, N/4:].mean(axis=1)
 * The slice is pushed through the addition and the transpose down to the
 * random source, so only the kept elements are ever generated. The first
 * rows are checked against a plain loop over x's own row and column.
 * Usage: transpose_demo [N] [CHUNK]   (default 20000 1000, as Dask's docs) */
#include <cask/cask.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

static int check(cask_ctx *ctx, int rc, const char *what) {
  if (rc) fprintf(stderr, "transpose_demo: %s: %s: %s\n", what, cask_strerror(rc), cask_ctx_errmsg(ctx));
  return rc;
}

/* x[i, j0:] and x[j0:, i] through integer and slice indexes. */
static int row_and_column(cask_ctx *ctx, cask_array *x, int64_t i, int64_t j0, double *row, double *col,
                          int64_t n) {
  cask_index r[2] = {CASK_AT(i), CASK_SLICE(j0, CASK_NONE, 1)};
  cask_index c[2] = {CASK_SLICE(j0, CASK_NONE, 1), CASK_AT(i)};
  cask_array *rs = NULL, *cs = NULL;
  int rc = check(ctx, cask_slice(x, 2, r, &rs), "row") || check(ctx, cask_slice(x, 2, c, &cs), "column") ||
           check(ctx, cask_compute(rs, row, (size_t)n * sizeof *row), "compute row") ||
           check(ctx, cask_compute(cs, col, (size_t)n * sizeof *col), "compute column");
  cask_array_release(rs);
  cask_array_release(cs);
  return rc;
}

int main(int argc, char **argv) {
  int64_t n = argc > 1 ? atoll(argv[1]) : 20000, chunk = argc > 2 ? atoll(argv[2]) : 1000;
  if (n < 4 || chunk < 1) return 2;
  cask_ctx *ctx;
  if (cask_ctx_new(NULL, &ctx)) return 1;
  int64_t shape[2] = {n, n}, chunks[2] = {chunk, chunk}, j0 = n / 4;
  cask_index idx[2] = {CASK_SLICE(CASK_NONE, CASK_NONE, 2), CASK_SLICE(j0, CASK_NONE, 1)};
  int axis = 1;
  cask_array *x, *xt, *s, *sl, *m;
  if (check(ctx, cask_random_uniform(ctx, 42, CASK_F64, 2, shape, chunks, &x), "random") ||
      check(ctx, cask_transpose(x, NULL, &xt), "transpose") || check(ctx, cask_binary(CASK_ADD, x, xt, &s), "add") ||
      check(ctx, cask_slice(s, 2, idx, &sl), "slice") || check(ctx, cask_reduce(CASK_MEAN, sl, &axis, 1, 0, &m), "mean"))
    return 1;
  int64_t rows = cask_array_shape(m)[0], kept = n - j0;
  double *out = malloc((size_t)rows * sizeof *out), *row = malloc((size_t)kept * sizeof *row),
         *col = malloc((size_t)kept * sizeof *col);
  if (!out || !row || !col || check(ctx, cask_compute(m, out, (size_t)rows * sizeof *out), "compute")) return 1;
  int bad = 0;
  for (int64_t k = 0; k < 3 && k < rows; k++) {
    if (row_and_column(ctx, x, 2 * k, j0, row, col, kept)) return 1;
    double want = 0;
    for (int64_t j = 0; j < kept; j++) want += row[j] + col[j];
    want /= (double)kept;
    /* Pairwise sums vs this running sum: both within kept * eps of exact. */
    if (!(fabs(out[k] - want) <= 1e-12 * fabs(want))) {
      fprintf(stderr, "transpose_demo: row %lld: %.17g, the loop gives %.17g\n", (long long)k, out[k], want);
      bad = 1;
    }
  }
  printf("(x + x.T)[::2, %lld:].mean(axis=1) over %lldx%lld: %lld rows, first %.6f %.6f %.6f\n",
         (long long)j0, (long long)n, (long long)n, (long long)rows, out[0], out[1], out[2]);
  free(out);
  free(row);
  free(col);
  cask_array_release(m);
  cask_array_release(sl);
  cask_array_release(s);
  cask_array_release(xt);
  cask_array_release(x);
  cask_ctx_free(ctx);
  return bad;
}
