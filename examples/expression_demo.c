/* expression_demo.c - NumExpr-style arrays: evaluate "2*a + 3*b*b - sin(a)"
 * over two chunked random arrays into a buffer in one fused pass per block,
 * then reduce the result, and check both against plain C loops.
 * Usage: expression_demo [N] [CHUNK] */
#include <cask/cask.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

static int check(cask_ctx *ctx, int rc, const char *what) {
  if (rc) fprintf(stderr, "expression_demo: %s: %s: %s\n", what, cask_strerror(rc), cask_ctx_errmsg(ctx));
  return rc;
}

int main(int argc, char **argv) {
  int64_t n = argc > 1 ? atoll(argv[1]) : 10000000;
  int64_t chunk = argc > 2 ? atoll(argv[2]) : 1000000;
  if (n < 1 || chunk < 1) return 2;
  cask_ctx *ctx;
  if (cask_ctx_new(NULL, &ctx)) return 1;
  cask_array *a, *b, *e, *mean, *std;
  if (check(ctx, cask_random_uniform(ctx, 1, CASK_F64, 1, &n, &chunk, &a), "random a") ||
      check(ctx, cask_random_normal(ctx, 2, CASK_F64, 1, &n, &chunk, &b), "random b"))
    return 1;
  const char *names[] = {"a", "b"};
  cask_array *values[] = {a, b};
  if (check(ctx, cask_eval(ctx, "2*a + 3*b*b - sin(a)", names, values, 2, &e), "eval") ||
      check(ctx, cask_reduce(CASK_MEAN, e, NULL, 0, 0, &mean), "mean") ||
      check(ctx, cask_reduce(CASK_STD, e, NULL, 0, 0, &std), "std"))
    return 1;
  double *out = malloc((size_t)n * sizeof *out), *ra = malloc((size_t)n * sizeof *ra),
         *rb = malloc((size_t)n * sizeof *rb);
  double m, s;
  if (!out || !ra || !rb || check(ctx, cask_compute(e, out, (size_t)n * sizeof *out), "compute") ||
      check(ctx, cask_compute_scalar(mean, &m), "mean") || check(ctx, cask_compute_scalar(std, &s), "std") ||
      check(ctx, cask_compute(a, ra, (size_t)n * sizeof *ra), "a") ||
      check(ctx, cask_compute(b, rb, (size_t)n * sizeof *rb), "b"))
    return 1;
  /* The same with loops: glibc's vector sin (libmvec) is within 4 ulp of
   * the scalar one, so allow a few ulp of the result. */
  double worst = 0, sum = 0, m2 = 0;
  for (int64_t i = 0; i < n; i++) {
    double want = 2 * ra[i] + 3 * rb[i] * rb[i] - sin(ra[i]);
    double err = fabs(out[i] - want) / fmax(fabs(want), 1e-300);
    worst = err > worst ? err : worst;
    sum += want;
  }
  double lm = sum / (double)n;
  for (int64_t i = 0; i < n; i++) m2 += (out[i] - lm) * (out[i] - lm);
  double ls = sqrt(m2 / (double)n);
  printf("2*a + 3*b*b - sin(a) over %lld float64 in blocks of %lld: worst relative error %.1e\n",
         (long long)n, (long long)chunk, worst);
  printf("mean %.12f (loop %.12f), std %.12f (loop %.12f)\n", m, lm, s, ls);
  int ok = worst < 1e-13 && fabs(m - lm) <= 1e-9 * fabs(lm) && fabs(s - ls) <= 1e-9 * ls;
  cask_array_release(a);
  cask_array_release(b);
  cask_array_release(e);
  cask_array_release(mean);
  cask_array_release(std);
  cask_ctx_free(ctx);
  free(out);
  free(ra);
  free(rb);
  printf("%s\n", ok ? "matches the loops" : "DIFFERS from the loops");
  return ok ? 0 : 1;
}
