/* test_array.c - the array collection, checked against independent
 * references: the published Philox4x32-10 known answers for its random
 * generator, and plain C loops over the same numbers for everything else
 * (creation, elementwise operations and broadcasting, reductions, the task
 * graphs arrays lower to, errors). Arrays are computed with cask_compute and
 * recomputed here with loops; every tolerance is stated where it is used,
 * with its reason. The TCase "numpy" is driven by tests/array_numpy_check.py
 * (it reads inputs NumPy wrote and writes cask's results back for NumPy to
 * compare); run on its own it does nothing.
 *
 * ck_assert records a mark on every call (a write to a pipe), so loops over
 * elements count mismatches and assert once. */
#include "test-util.h"
#include <check.h>
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cask/array.h"
#include "cask/cask.h"
#include "collections/array/kernel/philox.h"


/* ======================================================================
 * Philox
 * ====================================================================== */

START_TEST(philox_matches_random123_known_answers) {
  /* Random123's kat_vectors, philox4x32 with 10 rounds. */
  static const uint32_t ctr[3][4] = {{0, 0, 0, 0},
                                     {0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff},
                                     {0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344}};
  static const uint32_t key[3][2] = {{0, 0}, {0xffffffff, 0xffffffff}, {0xa4093822, 0x299f31d0}};
  static const uint32_t want[3][4] = {{0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8},
                                      {0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd},
                                      {0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1}};
  for (int v = 0; v < 3; v++) {
    uint32_t out[4];
    cask__philox4x32(ctr[v], key[v], out);
    for (int i = 0; i < 4; i++) ck_assert_msg(out[i] == want[v][i], "vector %d word %d: %08x", v, i, out[i]);
  }
}
END_TEST

START_TEST(uniform_value_depends_only_on_seed_and_index) {
  enum { N = 10000 };
  double *whole = malloc(N * sizeof *whole), *part = malloc(N * sizeof *part);
  cask__philox_uniform(7, 0, 1, N, whole);
  /* Generate the same indices in uneven pieces, as blocks of any chunking
   * would, and in reverse piece order. */
  int64_t cuts[] = {0, 1, 17, 1000, 1001, 4096, 9999, N};
  for (int k = 6; k >= 0; k--) cask__philox_uniform(7, (uint64_t)cuts[k], 1, cuts[k + 1] - cuts[k], part + cuts[k]);
  int first_diff = -1;
  for (int i = N - 1; i >= 0; i--)
    if (whole[i] != part[i]) first_diff = i;
  ck_assert_msg(first_diff < 0, "index %d differs", first_diff);
  cask__philox_uniform(8, 0, 1, N, part);
  int same = 0;
  for (int i = 0; i < N; i++) same += whole[i] == part[i];
  ck_assert_msg(same < 3, "seed 7 and 8 share %d of %d values", same, N);
  free(whole);
  free(part);
}
END_TEST

START_TEST(uniform_is_in_unit_interval_with_uniform_moments) {
  enum { N = 1 << 20 };
  double *x = malloc(N * sizeof *x);
  cask__philox_uniform(42, 123456789, 1, N, x);
  double s = 0, s2 = 0;
  int bins[16] = {0}, outside = 0;
  for (int i = 0; i < N; i++) {
    if (!(x[i] >= 0.0 && x[i] < 1.0)) {
      outside++;
      continue;
    }
    s += x[i];
    s2 += x[i] * x[i];
    bins[(int)(x[i] * 16)]++;
  }
  ck_assert_msg(outside == 0, "%d values outside [0, 1)", outside);
  /* Mean 1/2 and variance 1/12, within 6 standard errors. */
  ck_assert_msg(fabs(s / N - 0.5) < 6 * sqrt(1.0 / 12 / N), "mean %g", s / N);
  ck_assert_msg(fabs(s2 / N - s * s / N / N - 1.0 / 12) < 6 * 0.0745 / sqrt(N), "variance %g", s2 / N - s * s / N / N);
  /* Chi-square over 16 bins: 15 degrees of freedom, 99.99th percentile 44. */
  double chi = 0, e = N / 16.0;
  for (int b = 0; b < 16; b++) chi += (bins[b] - e) * (bins[b] - e) / e;
  ck_assert_msg(chi < 44, "chi-square %g", chi);
  free(x);
}
END_TEST

START_TEST(normal_has_zero_mean_unit_variance_and_is_finite) {
  enum { N = 1 << 20 };
  double *x = malloc(N * sizeof *x);
  cask__philox_normal(3, 0, 1, N, x);
  double s = 0, s2 = 0;
  int tail = 0, infinite = 0;
  for (int i = 0; i < N; i++) {
    infinite += !isfinite(x[i]);
    s += x[i];
    s2 += x[i] * x[i];
    tail += fabs(x[i]) > 1.959964;
  }
  ck_assert_msg(infinite == 0, "%d values are not finite", infinite);
  ck_assert_msg(fabs(s / N) < 6 / sqrt(N), "mean %g", s / N);
  ck_assert_msg(fabs(s2 / N - 1) < 6 * sqrt(2.0 / N), "variance %g", s2 / N);
  /* 5% of a normal lies beyond 1.96 standard deviations. */
  ck_assert_msg(fabs(tail / (double)N - 0.05) < 6 * sqrt(0.05 * 0.95 / N), "tail %g", tail / (double)N);
  free(x);
}
END_TEST

/* ======================================================================
 * Helpers: everything a test makes is kept in a pool and freed by
 * cleanup() at the end of the test, so a test reads as the computation it
 * checks. A helper that fails aborts the test with the context's message.
 * ====================================================================== */

enum { POOL_MAX = 2048 };
static struct {
  cask_array *arrays[POOL_MAX];
  void *buffers[POOL_MAX];
  cask_ctx *ctxs[32];
  int narrays, nbuffers, nctxs;
} pool;
static cask_ctx *last_ctx; /* the context whose message a failing helper shows */

static void expect_ok(int rc, const char *what) {
  if (rc != CASK_OK) ck_abort_msg("%s: %s (%s)", what, cask_err_name(rc), cask_ctx_errmsg(last_ctx));
}

static cask_ctx *ctx_new(int threads, int split_every) {
  cask_ctx *ctx = NULL;
  int rc = cask_ctx_new(&(cask_options){.threads = threads, .split_every = split_every, .chunk_bytes = 0}, &ctx);
  ck_assert_msg(rc == CASK_OK, "cask_ctx_new(%d, %d): %s", threads, split_every, cask_err_name(rc));
  ck_assert(pool.nctxs < 32);
  pool.ctxs[pool.nctxs++] = ctx;
  last_ctx = ctx;
  return ctx;
}

static cask_array *kept(int rc, cask_array *a, const char *what) {
  expect_ok(rc, what);
  ck_assert_msg(a != NULL, "%s returned CASK_OK and no array", what);
  ck_assert(pool.narrays < POOL_MAX);
  pool.arrays[pool.narrays++] = a;
  return a;
}

static double *scratch(int64_t n) {
  double *d = malloc((size_t)(n > 0 ? n : 1) * sizeof *d);
  ck_assert(d != NULL && pool.nbuffers < POOL_MAX);
  pool.buffers[pool.nbuffers++] = d;
  return d;
}

static void cleanup(void) {
  while (pool.narrays) cask_array_release(pool.arrays[--pool.narrays]);
  while (pool.nbuffers) free(pool.buffers[--pool.nbuffers]);
  while (pool.nctxs) cask_ctx_free(pool.ctxs[--pool.nctxs]);
  last_ctx = NULL;
}

static cask_array *full(cask_ctx *c, double v, int nd, const int64_t *sh, const int64_t *ch) {
  cask_array *a = NULL;
  int rc = cask_full(c, CASK_F64, v, nd, sh, ch, &a);
  return kept(rc, a, "full");
}
static cask_array *runif(cask_ctx *c, uint64_t seed, int nd, const int64_t *sh, const int64_t *ch) {
  cask_array *a = NULL;
  int rc = cask_random_uniform(c, seed, CASK_F64, nd, sh, ch, &a);
  return kept(rc, a, "random_uniform");
}
static cask_array *rnorm(cask_ctx *c, uint64_t seed, int nd, const int64_t *sh, const int64_t *ch) {
  cask_array *a = NULL;
  int rc = cask_random_normal(c, seed, CASK_F64, nd, sh, ch, &a);
  return kept(rc, a, "random_normal");
}
/* The data must outlive the array (pool buffers do). */
static cask_array *wrap(cask_ctx *c, const double *data, int nd, const int64_t *sh, const int64_t *ch) {
  cask_array *a = NULL;
  int rc = cask_from_buffer(c, data, CASK_F64, nd, sh, ch, NULL, NULL, &a);
  return kept(rc, a, "from_buffer");
}
static cask_array *bin(cask_binop op, cask_array *x, cask_array *y) {
  cask_array *a = NULL;
  int rc = cask_binary(op, x, y, &a);
  return kept(rc, a, "binary");
}
static cask_array *bsc(cask_binop op, cask_array *x, double s, int scalar_first) {
  cask_array *a = NULL;
  int rc = cask_binary_scalar(op, x, s, scalar_first, &a);
  return kept(rc, a, "binary_scalar");
}
static cask_array *un(cask_unop op, cask_array *x) {
  cask_array *a = NULL;
  int rc = cask_unary(op, x, &a);
  return kept(rc, a, "unary");
}
static cask_array *red(cask_reduction op, cask_array *x, const int *axes, int naxes, int ddof) {
  cask_array *a = NULL;
  int rc = cask_reduce(op, x, axes, naxes, ddof, &a);
  return kept(rc, a, "reduce");
}

static double *fetch(cask_array *a) {
  int64_t n = cask_array_size(a);
  double *d = scratch(n);
  expect_ok(cask_compute(a, d, (size_t)n * sizeof *d), "compute");
  return d;
}

static int64_t prod(int nd, const int64_t *sh) {
  int64_t n = 1;
  for (int i = 0; i < nd; i++) n *= sh[i];
  return n;
}

static void expect_shape(const cask_array *a, int nd, const int64_t *sh, const int64_t *ch) {
  ck_assert_int_eq(cask_array_ndim(a), nd);
  for (int i = 0; i < nd; i++) {
    ck_assert_msg(cask_array_shape(a)[i] == sh[i], "axis %d: extent %lld, want %lld", i,
                  (long long)cask_array_shape(a)[i], (long long)sh[i]);
    if (ch)
      ck_assert_msg(cask_array_chunks(a)[i] == ch[i], "axis %d: chunk %lld, want %lld", i,
                    (long long)cask_array_chunks(a)[i], (long long)ch[i]);
  }
  ck_assert_int_eq(cask_array_size(a), prod(nd, sh));
}

/* |got - want| <= atol + rtol * |want|; a NaN must meet a NaN and an
 * infinity the same infinity. */
static int near(double got, double want, double rtol, double atol) {
  if (want != want || got != got) return want != want && got != got;
  if (isinf(want) || isinf(got)) return got == want;
  return fabs(got - want) <= atol + rtol * fabs(want);
}

static void expect_near(const double *got, const double *want, int64_t n, double rtol, double atol,
                        const char *what) {
  int64_t bad = 0, first = -1;
  for (int64_t i = 0; i < n; i++)
    if (!near(got[i], want[i], rtol, atol)) {
      if (first < 0) first = i;
      bad++;
    }
  ck_assert_msg(bad == 0, "%s: %lld of %lld elements differ; first [%lld]: got %.17g, want %.17g", what,
                (long long)bad, (long long)n, (long long)first, got[first], want[first]);
}

static void expect_equal(const double *got, const double *want, int64_t n, const char *what) {
  expect_near(got, want, n, 0, 0, what);
}

static void expect_bits(const double *got, const double *want, int64_t n, const char *what) {
  int64_t first = -1;
  for (int64_t i = n - 1; i >= 0; i--)
    if (memcmp(&got[i], &want[i], sizeof got[i])) first = i;
  ck_assert_msg(first < 0, "%s: element %lld differs in its bits: %a vs %a", what, (long long)first,
                got[first], want[first]);
}

/* The flat index, in an input of shape in[in_nd], of element `flat` of a
 * result of shape shape[nd] (NumPy broadcasting: aligned at the right, an
 * extent of 1 stretches). */
static int64_t bcast_index(int64_t flat, int nd, const int64_t *shape, int in_nd, const int64_t *in) {
  int64_t idx = 0, stride = 1;
  for (int i = nd - 1; i >= 0; i--) {
    int64_t k = flat % shape[i];
    flat /= shape[i];
    int j = i - (nd - in_nd);
    if (j < 0) continue;
    if (in[j] != 1) idx += k * stride;
    stride *= in[j];
  }
  return idx;
}

static double ref_unop(cask_unop op, double x) {
  switch (op) {
  case CASK_NEGATIVE: return -x;
  case CASK_ABS: return fabs(x);
  case CASK_SQRT: return sqrt(x);
  case CASK_EXP: return exp(x);
  case CASK_EXPM1: return expm1(x);
  case CASK_LOG: return log(x);
  case CASK_LOG1P: return log1p(x);
  case CASK_LOG2: return log2(x);
  case CASK_LOG10: return log10(x);
  case CASK_SIN: return sin(x);
  case CASK_COS: return cos(x);
  case CASK_TAN: return tan(x);
  case CASK_ARCSIN: return asin(x);
  case CASK_ARCCOS: return acos(x);
  case CASK_ARCTAN: return atan(x);
  case CASK_SINH: return sinh(x);
  case CASK_COSH: return cosh(x);
  case CASK_TANH: return tanh(x);
  case CASK_FLOOR: return floor(x);
  case CASK_CEIL: return ceil(x);
  default: return NAN;
  }
}

/* NumPy's semantics: maximum and minimum return a NaN from either side. */
static double ref_binop(cask_binop op, double x, double y) {
  switch (op) {
  case CASK_ADD: return x + y;
  case CASK_SUB: return x - y;
  case CASK_MUL: return x * y;
  case CASK_DIV: return x / y;
  case CASK_POW: return pow(x, y);
  case CASK_MAXIMUM: return isnan(x) ? x : isnan(y) ? y : x > y ? x : y;
  case CASK_MINIMUM: return isnan(x) ? x : isnan(y) ? y : x < y ? x : y;
  case CASK_ARCTAN2: return atan2(x, y);
  default: return NAN;
  }
}

/* Ops computed with IEEE arithmetic only: cask must give the same bits. */
static int binop_is_exact(cask_binop op) { return op != CASK_POW && op != CASK_ARCTAN2; }

/* glibc's vector math (libmvec), which cask's kernels call, is documented
 * within 4 ulp; the reference here is glibc's scalar libm (within 1 ulp).
 * 1e-14 relative (about 45 ulp) leaves room for both and still catches any
 * wrong function, argument or formula; near 0, 1e-15 absolute. */
static const double MATH_RTOL = 1e-14, MATH_ATOL = 1e-15;

/* Reference reduction in long double over the axes in `mask` of x (C
 * order, shape sh[nd]): two passes (sum and count, then M2 around the
 * mean) and NaN propagation as in NumPy. abs_sum (may be NULL) receives the
 * sum of |x| of each output element (divided by the count for mean), the
 * scale that bounds a floating-point sum's rounding error. */
static void ref_reduce(cask_reduction op, const double *x, int nd, const int64_t *sh, unsigned mask,
                       int ddof, double *out, double *abs_sum) {
  int64_t nout = 1, n = prod(nd, sh);
  for (int i = 0; i < nd; i++)
    if (!(mask & (1u << i))) nout *= sh[i];
  long double *sum = calloc((size_t)nout, sizeof *sum), *m2 = calloc((size_t)nout, sizeof *m2);
  long double *asum = calloc((size_t)nout, sizeof *asum);
  double *lo = malloc((size_t)nout * sizeof *lo), *hi = malloc((size_t)nout * sizeof *hi);
  int64_t *cnt = calloc((size_t)nout, sizeof *cnt), *oidx = malloc((size_t)(n ? n : 1) * sizeof *oidx);
  for (int64_t o = 0; o < nout; o++) lo[o] = INFINITY, hi[o] = -INFINITY;
  for (int64_t f = 0; f < n; f++) {
    int64_t rest = f, o = 0, ostride = 1;
    for (int i = nd - 1; i >= 0; i--) {
      int64_t k = rest % sh[i];
      rest /= sh[i];
      if (mask & (1u << i)) continue;
      o += k * ostride;
      ostride *= sh[i];
    }
    oidx[f] = o;
    double v = x[f];
    sum[o] += v;
    asum[o] += fabsl(v);
    cnt[o]++;
    if (isnan(v) || isnan(lo[o])) lo[o] = hi[o] = NAN;
    else {
      if (v < lo[o]) lo[o] = v;
      if (v > hi[o]) hi[o] = v;
    }
  }
  for (int64_t f = 0; f < n; f++) {
    long double d = x[f] - sum[oidx[f]] / cnt[oidx[f]];
    m2[oidx[f]] += d * d;
  }
  for (int64_t o = 0; o < nout; o++) {
    long double c = (long double)cnt[o];
    switch (op) {
    case CASK_SUM: out[o] = (double)sum[o]; break;
    case CASK_MEAN: out[o] = (double)(sum[o] / c); break;
    case CASK_MIN: out[o] = lo[o]; break;
    case CASK_MAX: out[o] = hi[o]; break;
    case CASK_VAR: out[o] = (double)(m2[o] / (c - ddof)); break;
    case CASK_STD: out[o] = (double)sqrtl(m2[o] / (c - ddof)); break;
    default: out[o] = NAN;
    }
    if (abs_sum) abs_sum[o] = (double)(op == CASK_MEAN ? asum[o] / c : asum[o]);
  }
  free(sum);
  free(m2);
  free(asum);
  free(lo);
  free(hi);
  free(cnt);
  free(oidx);
}

static const char *const red_name[] = {"sum", "mean", "min", "max", "var", "std"};

/* Sums: the library adds pairwise within a block and along a fixed tree
 * across blocks, the reference adds in long double in C order. Either is
 * within n * eps * sum|x| of the exact sum (n at most a few thousand here,
 * so below 1e-12 * sum|x|), while a missing or doubled element would be off
 * by about sum|x| / n. var and std (Chan's merge vs two passes) agree to
 * about n * eps relative on data whose mean is not much larger than its
 * spread, so 1e-12 relative. min and max are exact. */
static void expect_reduction(cask_reduction op, const double *got, const double *want,
                             const double *abs_sum, int64_t n, const char *what) {
  int64_t bad = 0, first = -1;
  for (int64_t i = 0; i < n; i++) {
    int ok;
    switch (op) {
    case CASK_SUM:
    case CASK_MEAN: ok = near(got[i], want[i], 0, 1e-12 * abs_sum[i]); break;
    case CASK_VAR:
    case CASK_STD: ok = near(got[i], want[i], 1e-12, 0); break;
    default: ok = near(got[i], want[i], 0, 0);
    }
    if (!ok && first < 0) first = i;
    bad += !ok;
  }
  ck_assert_msg(bad == 0, "%s %s: %lld of %lld outputs differ; first [%lld]: got %.17g, want %.17g", red_name[op],
                what, (long long)bad, (long long)n, (long long)first, got[first], want[first]);
}

/* Reduce x (a computed array with values xv) over the axes, and compare
 * with the reference. */
static void check_reduction(cask_reduction op, cask_array *x, const double *xv, const int *axes, int naxes,
                            int ddof, const char *what) {
  int nd = cask_array_ndim(x);
  const int64_t *sh = cask_array_shape(x);
  unsigned mask = 0;
  for (int k = 0; k < naxes; k++) mask |= 1u << (axes[k] < 0 ? axes[k] + nd : axes[k]);
  if (naxes == 0) mask = (1u << nd) - 1;
  cask_array *r = red(op, x, axes, naxes, ddof);
  int64_t want_shape[CASK_MAX_NDIM], want_chunk[CASK_MAX_NDIM];
  int rnd = 0;
  for (int i = 0; i < nd; i++)
    if (!(mask & (1u << i))) {
      want_shape[rnd] = sh[i];
      want_chunk[rnd++] = cask_array_chunks(x)[i];
    }
  expect_shape(r, rnd, want_shape, want_chunk);
  int64_t n = cask_array_size(r);
  double *got = fetch(r), *want = scratch(n), *scale = scratch(n);
  ref_reduce(op, xv, nd, sh, mask, ddof, want, scale);
  expect_reduction(op, got, want, scale, n, what);
}

/* ======================================================================
 * Creation
 * ====================================================================== */

START_TEST(full_zeros_and_ones_fill_every_element_with_uneven_chunks) {
  cask_ctx *ctx = ctx_new(2, 0);
  static const struct {
    int nd;
    int64_t shape[3], chunks[3], want_chunks[3];
  } cases[] = {
      {0, {0}, {0}, {0}},
      {1, {7}, {3}, {3}},
      {2, {7, 5}, {3, 2}, {3, 2}},
      {3, {7, 5, 3}, {3, 2, 3}, {3, 2, 3}},
      /* chunk 0 and chunks past the extent mean the whole axis */
      {3, {4, 6, 5}, {0, 4, 9}, {4, 4, 5}},
      /* an empty axis */
      {2, {0, 3}, {2, 2}, {1, 2}},
  };
  for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
    int nd = cases[c].nd;
    const int64_t *sh = cases[c].shape;
    int64_t n = prod(nd, sh);
    cask_array *a[3] = {NULL, NULL, NULL};
    double want_value[3] = {0.0, 1.0, -2.75};
    expect_ok(cask_zeros(ctx, CASK_F64, nd, sh, cases[c].chunks, &a[0]), "zeros");
    expect_ok(cask_ones(ctx, CASK_F64, nd, sh, cases[c].chunks, &a[1]), "ones");
    a[2] = full(ctx, -2.75, nd, sh, cases[c].chunks);
    kept(CASK_OK, a[0], "zeros");
    kept(CASK_OK, a[1], "ones");
    for (int k = 0; k < 3; k++) {
      expect_shape(a[k], nd, sh, cases[c].want_chunks);
      ck_assert_int_eq(cask_array_dtype(a[k]), CASK_F64);
      double *got = fetch(a[k]), *want = scratch(n);
      for (int64_t i = 0; i < n; i++) want[i] = want_value[k];
      char what[64];
      snprintf(what, sizeof what, "case %zu value %g", c, want_value[k]);
      expect_bits(got, want, n, what);
    }
  }
  /* A whole-array chunking (chunks NULL). */
  cask_array *w = full(ctx, 3.5, 2, (int64_t[]){5, 4}, NULL);
  expect_shape(w, 2, (int64_t[]){5, 4}, (int64_t[]){5, 4});
  double *got = fetch(w);
  for (int i = 0; i < 20; i++) ck_assert(got[i] == 3.5);
  cleanup();
}
END_TEST

START_TEST(arange_has_numpys_length_and_start_plus_i_step_values) {
  cask_ctx *ctx = ctx_new(2, 0);
  static const struct {
    double start, stop, step;
    int64_t want_len;
  } cases[] = {
      {0, 1, 0.1, 10},
      /* NumPy: len(np.arange(1, 1.3, 0.1)) == 4, as ceil(0.3000000000000000444 / 0.1) is 4 */
      {1, 1.3, 0.1, 4},
      {0.5, 7.25, 0.5, 14},
      {-2.5, 3.0, 0.75, 8},
      {10, 0, -3, 4},
      {0, 1e3, 1, 1000},
      /* empty when stop <= start (step > 0) or stop >= start (step < 0) */
      {5, 5, 1, 0},
      {5, 2, 1, 0},
      {2, 5, -1, 0},
  };
  for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
    cask_array *a = NULL;
    expect_ok(cask_arange(ctx, CASK_F64, cases[c].start, cases[c].stop, cases[c].step, 3, &a), "arange");
    kept(CASK_OK, a, "arange");
    int64_t n = cases[c].want_len;
    ck_assert_int_eq(cask_array_ndim(a), 1);
    ck_assert_msg(cask_array_shape(a)[0] == n, "arange(%g, %g, %g): length %lld, want %lld", cases[c].start,
                  cases[c].stop, cases[c].step, (long long)cask_array_shape(a)[0], (long long)n);
    double *got = fetch(a), *want = scratch(n);
    for (int64_t i = 0; i < n; i++) want[i] = cases[c].start + (double)i * cases[c].step;
    char what[96];
    snprintf(what, sizeof what, "arange(%g, %g, %g) in chunks of 3", cases[c].start, cases[c].stop, cases[c].step);
    expect_bits(got, want, n, what);
  }
  cleanup();
}
END_TEST

/* The same random array in several chunkings and thread counts, against the
 * generator itself: the value at flat index i is philox(seed, i). */
START_TEST(random_values_are_identical_for_any_chunking_and_thread_count) {
  const int64_t sh2[2] = {20, 30}, sh3[3] = {5, 6, 7};
  const int64_t chunks2[][2] = {{10, 10}, {7, 3}, {0, 0}, {20, 1}, {1, 30}};
  const int64_t chunks3[][3] = {{2, 4, 3}, {5, 6, 7}, {1, 1, 7}};
  double want_u[600], want_n[210];
  cask__philox_uniform(1234, 0, 1, 600, want_u);
  cask__philox_normal(99, 0, 1, 210, want_n);
  const int threads[] = {1, 2, 8};
  for (int t = 0; t < 3; t++) {
    cask_ctx *ctx = ctx_new(threads[t], 0);
    for (int c = 0; c < 5; c++) {
      char what[96];
      snprintf(what, sizeof what, "uniform (20, 30) chunks (%lld, %lld), %d threads", (long long)chunks2[c][0],
               (long long)chunks2[c][1], threads[t]);
      expect_bits(fetch(runif(ctx, 1234, 2, sh2, chunks2[c][0] ? chunks2[c] : NULL)), want_u, 600, what);
    }
    for (int c = 0; c < 3; c++) {
      char what[96];
      snprintf(what, sizeof what, "normal (5, 6, 7) chunks (%lld, %lld, %lld), %d threads", (long long)chunks3[c][0],
               (long long)chunks3[c][1], (long long)chunks3[c][2], threads[t]);
      expect_bits(fetch(rnorm(ctx, 99, 3, sh3, chunks3[c])), want_n, 210, what);
    }
  }
  /* Another seed gives other values. */
  double *other = fetch(runif(last_ctx, 1235, 2, sh2, NULL));
  int same = 0;
  for (int i = 0; i < 600; i++) same += other[i] == want_u[i];
  ck_assert_msg(same < 3, "seeds 1234 and 1235 share %d of 600 values", same);
  cleanup();
}
END_TEST

typedef struct release_log {
  int calls;
  void *user, *data;
} release_log;

static void log_release(void *user, void *data) {
  release_log *log = user;
  log->calls++;
  log->user = user;
  log->data = data;
}

START_TEST(from_buffer_round_trips_and_is_released_once_after_the_last_array) {
  cask_ctx *ctx = ctx_new(2, 0);
  const int64_t sh[3] = {7, 5, 3}, ch[3] = {3, 2, 2};
  double *data = scratch(105);
  for (int i = 0; i < 105; i++) data[i] = i * 1.5 - 30.25;
  release_log log = {0};
  cask_array *a = NULL;
  expect_ok(cask_from_buffer(ctx, data, CASK_F64, 3, sh, ch, log_release, &log, &a), "from_buffer");
  expect_shape(a, 3, sh, ch);
  double got[105];
  expect_ok(cask_compute(a, got, sizeof got), "compute");
  expect_bits(got, data, 105, "from_buffer (7, 5, 3) in chunks (3, 2, 2)");
  /* b and c keep a alive. */
  cask_array *b = NULL, *c = NULL;
  expect_ok(cask_binary_scalar(CASK_MUL, a, 2.0, 0, &b), "multiply");
  expect_ok(cask_reduce(CASK_SUM, b, (int[]){1}, 1, 0, &c), "sum");
  cask_array_release(a);
  ck_assert_int_eq(log.calls, 0);
  double sums[21];
  expect_ok(cask_compute(c, sums, sizeof sums), "compute the sum");
  for (int i = 0; i < 7; i++)
    for (int k = 0; k < 3; k++) {
      double s = 0;
      for (int j = 0; j < 5; j++) s += 2.0 * data[(i * 5 + j) * 3 + k];
      ck_assert_msg(fabs(sums[i * 3 + k] - s) <= 1e-12 * fabs(s), "sum [%d, %d]: %g vs %g", i, k, sums[i * 3 + k], s);
    }
  cask_array_release(c);
  ck_assert_int_eq(log.calls, 0);
  cask_array_release(b);
  ck_assert_int_eq(log.calls, 1);
  ck_assert_ptr_eq(log.user, &log);
  ck_assert_ptr_eq(log.data, data);
  /* A 0-d buffer, and a refused one: no array, so no release call. */
  double one = 4.25, v = 0;
  cask_array *s = wrap(ctx, &one, 0, NULL, NULL);
  expect_ok(cask_compute_scalar(s, &v), "compute a 0-d buffer");
  ck_assert(v == 4.25);
  release_log refused = {0};
  cask_array *bad = (cask_array *)&refused;
  ck_assert_int_eq(cask_from_buffer(ctx, NULL, CASK_F64, 1, (int64_t[]){4}, NULL, log_release, &refused, &bad), CASK_EINVAL);
  ck_assert_ptr_null(bad);
  ck_assert_int_eq(refused.calls, 0);
  cleanup();
}
END_TEST

/* ======================================================================
 * Elementwise
 * ====================================================================== */

enum { LIN, LOG, SYMLOG };
/* n values over [lo, hi]: evenly spaced (LIN), geometrically spaced (LOG,
 * lo > 0), or geometric magnitudes in [lo, hi] with alternating signs. */
static void fill_domain(double *x, int64_t n, int kind, double lo, double hi) {
  for (int64_t i = 0; i < n; i++) {
    double t = (double)i / (double)(n - 1);
    switch (kind) {
    case LIN: x[i] = lo + (hi - lo) * t; break;
    case LOG: x[i] = exp(log(lo) + (log(hi) - log(lo)) * t); break;
    default: x[i] = (i % 2 ? -1 : 1) * exp(log(lo) + (log(hi) - log(lo)) * t);
    }
  }
}

START_TEST(every_unary_op_matches_libm_over_its_domain) {
  static const struct {
    cask_unop op;
    const char *name;
    int kind;
    double lo, hi;
  } ops[] = {
      {CASK_NEGATIVE, "negative", LIN, -1e3, 1e3}, {CASK_ABS, "abs", LIN, -1e3, 1e3},
      {CASK_SQRT, "sqrt", LOG, 1e-300, 1e300},     {CASK_EXP, "exp", LIN, -700, 700},
      {CASK_EXPM1, "expm1", SYMLOG, 1e-12, 700},   {CASK_LOG, "log", LOG, 1e-300, 1e300},
      {CASK_LOG1P, "log1p", SYMLOG, 1e-15, 0.99},  {CASK_LOG2, "log2", LOG, 1e-300, 1e300},
      {CASK_LOG10, "log10", LOG, 1e-300, 1e300},   {CASK_SIN, "sin", LIN, -100, 100},
      {CASK_COS, "cos", LIN, -100, 100},           {CASK_TAN, "tan", LIN, -100, 100},
      {CASK_ARCSIN, "arcsin", LIN, -1, 1},         {CASK_ARCCOS, "arccos", LIN, -1, 1},
      {CASK_ARCTAN, "arctan", SYMLOG, 1e-10, 1e10}, {CASK_SINH, "sinh", SYMLOG, 1e-10, 700},
      {CASK_COSH, "cosh", LIN, -700, 700},         {CASK_TANH, "tanh", SYMLOG, 1e-10, 30},
      {CASK_FLOOR, "floor", LIN, -1e3, 1e3},       {CASK_CEIL, "ceil", LIN, -1e3, 1e3},
  };
  ck_assert_int_eq(sizeof ops / sizeof ops[0], CASK_CEIL + 1);
  cask_ctx *ctx = ctx_new(2, 0);
  /* 2500 values in blocks of 1000, 1000 and 500: whole vector loops and a
   * tail in each piece. */
  enum { N = 2500 };
  for (int k = 0; k <= CASK_CEIL; k++) {
    double *x = scratch(N), *want = scratch(N);
    fill_domain(x, N, ops[k].kind, ops[k].lo, ops[k].hi);
    for (int i = 0; i < N; i++) want[i] = ref_unop(ops[k].op, x[i]);
    double *got = fetch(un(ops[k].op, wrap(ctx, x, 1, (int64_t[]){N}, (int64_t[]){1000})));
    if (ops[k].op <= CASK_ABS || ops[k].op >= CASK_FLOOR)
      expect_bits(got, want, N, ops[k].name);
    else
      expect_near(got, want, N, MATH_RTOL, MATH_ATOL, ops[k].name);
  }
  cleanup();
}
END_TEST

/* Zeros, infinities, NaN, subnormals and the largest doubles: C99 Annex F
 * says what each function returns there, and libm does it. Also in a long
 * array (the vector loops), each special value repeated. */
START_TEST(unary_ops_handle_zeros_infinities_nan_and_subnormals_as_libm) {
  static const char *const names[] = {"negative", "abs", "sqrt", "exp", "expm1", "log", "log1p",
                                      "log2", "log10", "sin", "cos", "tan", "arcsin", "arccos",
                                      "arctan", "sinh", "cosh", "tanh", "floor", "ceil"};
  static const double special[] = {0.0, -0.0, INFINITY, -INFINITY, NAN, 4.9406564584124654e-324, -1e-310,
                                   2.2250738585072014e-308, 1.7976931348623157e308, -1.7976931348623157e308,
                                   1.0, -1.0, 0.5, 710.0, -745.5, 1e-300};
  enum { NS = sizeof special / sizeof special[0], N = 64 * NS };
  cask_ctx *ctx = ctx_new(2, 0);
  double *x = scratch(N);
  for (int i = 0; i < N; i++) x[i] = special[i % NS];
  cask_array *X = wrap(ctx, x, 1, (int64_t[]){N}, NULL);
  for (int op = 0; op <= CASK_CEIL; op++) {
    double *got = fetch(un(op, X)), *want = scratch(N);
    for (int i = 0; i < N; i++) want[i] = ref_unop(op, x[i]);
    int64_t bad = 0, first = -1;
    for (int i = 0; i < N; i++) {
      /* the sign of a zero result matters too (expm1(-0) is -0) */
      int ok = near(got[i], want[i], MATH_RTOL, 0) && (want[i] != 0 || signbit(got[i]) == signbit(want[i]));
      if (!ok && first < 0) first = i;
      bad += !ok;
    }
    ck_assert_msg(bad == 0, "%s: %lld of %d differ; first: %s(%a) = %a, libm %a", names[op], (long long)bad, N,
                  names[op], x[first], got[first], want[first]);
  }
  cleanup();
}
END_TEST

START_TEST(power_and_arctan2_handle_signs_zeros_and_infinities_as_libm) {
  static const double xs[] = {-2.0, -0.5, -0.0, 0.0, 0.5, 2.0, INFINITY, -INFINITY, NAN, 1.0, -1.0};
  static const double ys[] = {3.0, 2.0, -1.0, 0.0, -0.0, 0.5, -2.5, INFINITY, -INFINITY, NAN, 1e300};
  enum { NX = sizeof xs / sizeof xs[0], NY = sizeof ys / sizeof ys[0], N = 24 * NX * NY };
  cask_ctx *ctx = ctx_new(2, 0);
  double *x = scratch(N), *y = scratch(N);
  for (int i = 0; i < N; i++) {
    x[i] = xs[i % NX];
    y[i] = ys[(i / NX) % NY];
  }
  cask_array *X = wrap(ctx, x, 1, (int64_t[]){N}, NULL), *Y = wrap(ctx, y, 1, (int64_t[]){N}, NULL);
  const cask_binop ops[2] = {CASK_POW, CASK_ARCTAN2};
  for (int k = 0; k < 2; k++) {
    double *got = fetch(bin(ops[k], X, Y));
    int64_t bad = 0, first = -1;
    for (int i = 0; i < N; i++) {
      double w = ref_binop(ops[k], x[i], y[i]);
      int ok = near(got[i], w, MATH_RTOL, 0) && (w != 0 || signbit(got[i]) == signbit(w));
      if (!ok && first < 0) first = i;
      bad += !ok;
    }
    ck_assert_msg(bad == 0, "%s: %lld of %d differ; first: (%a, %a) -> %a, libm %a", k ? "arctan2" : "power",
                  (long long)bad, N, x[first], y[first], got[first], ref_binop(ops[k], x[first], y[first]));
  }
  cleanup();
}
END_TEST

START_TEST(every_binary_op_matches_c_arithmetic_and_libm) {
  static const char *const names[] = {"add", "subtract", "multiply", "divide", "power", "maximum", "minimum", "arctan2"};
  cask_ctx *ctx = ctx_new(2, 0);
  enum { N = 3000 };
  const int64_t sh[1] = {N}, ch[1] = {1100};
  double *pos = scratch(N), *s = scratch(N), *t = scratch(N);
  fill_domain(pos, N, LOG, 0.01, 100);
  for (int i = 0; i < N; i++) {
    s[i] = -4 + 8.0 * (double)((i * 7919) % N) / (N - 1);
    t[i] = 5 - 10.0 * (double)((i * 104729) % N) / (N - 1);
  }
  cask_array *P = wrap(ctx, pos, 1, sh, ch), *S = wrap(ctx, s, 1, sh, ch), *T = wrap(ctx, t, 1, sh, ch);
  for (int op = 0; op <= CASK_ARCTAN2; op++) {
    /* power on positive bases (a negative base to a fractional power is
     * NaN in both, which would test little) */
    const double *x = op == CASK_POW ? pos : s, *y = op == CASK_POW ? s : t;
    double *got = fetch(bin(op, op == CASK_POW ? P : S, op == CASK_POW ? S : T)), *want = scratch(N);
    for (int i = 0; i < N; i++) want[i] = ref_binop(op, x[i], y[i]);
    if (binop_is_exact(op))
      expect_bits(got, want, N, names[op]);
    else
      expect_near(got, want, N, MATH_RTOL, MATH_ATOL, names[op]);
  }
  cleanup();
}
END_TEST

START_TEST(maximum_and_minimum_propagate_nan_from_either_side) {
  cask_ctx *ctx = ctx_new(2, 0);
  /* Short arrays (one scalar-loop piece) and long ones (vector loops). */
  static const double xs[] = {NAN, 1, NAN, -INFINITY, 2, 3, NAN, INFINITY, 0, -1};
  static const double ys[] = {1, NAN, NAN, 2, -INFINITY, 3, -1, NAN, 5, -7};
  enum { N = 3001 };
  double *x = scratch(N), *y = scratch(N);
  for (int i = 0; i < N; i++) {
    x[i] = i % 7 == 0 ? NAN : sin(i * 0.37) * 10;
    y[i] = i % 5 == 0 ? NAN : cos(i * 0.11) * 10;
  }
  const int64_t lens[2] = {10, N};
  const double *xv[2] = {xs, x}, *yv[2] = {ys, y};
  for (int k = 0; k < 2; k++) {
    int64_t n = lens[k];
    cask_array *X = wrap(ctx, xv[k], 1, &n, (int64_t[]){n > 10 ? 1024 : 4});
    cask_array *Y = wrap(ctx, yv[k], 1, &n, (int64_t[]){n > 10 ? 1024 : 4});
    for (int op = CASK_MAXIMUM; op <= CASK_MINIMUM; op++) {
      const char *name = op == CASK_MAXIMUM ? "maximum" : "minimum";
      double *want = scratch(n);
      for (int64_t i = 0; i < n; i++) want[i] = ref_binop(op, xv[k][i], yv[k][i]);
      expect_equal(fetch(bin(op, X, Y)), want, n, name);
      for (int64_t i = 0; i < n; i++) want[i] = ref_binop(op, yv[k][i], xv[k][i]);
      expect_equal(fetch(bin(op, Y, X)), want, n, name);
      /* a NaN scalar on either side makes every element NaN */
      for (int64_t i = 0; i < n; i++) want[i] = NAN;
      expect_equal(fetch(bsc(op, X, NAN, 0)), want, n, "array op NaN");
      expect_equal(fetch(bsc(op, X, NAN, 1)), want, n, "NaN op array");
      /* an ordinary scalar keeps the array's NaNs */
      for (int64_t i = 0; i < n; i++) want[i] = ref_binop(op, xv[k][i], 0.5);
      expect_equal(fetch(bsc(op, X, 0.5, 0)), want, n, "array op 0.5");
      for (int64_t i = 0; i < n; i++) want[i] = ref_binop(op, 0.5, xv[k][i]);
      expect_equal(fetch(bsc(op, X, 0.5, 1)), want, n, "0.5 op array");
    }
  }
  cleanup();
}
END_TEST

/* a (shape sa) op b (shape sb) against the loop over broadcast indices. */
static void check_broadcast(cask_binop op, cask_array *a, cask_array *b, int want_nd, const int64_t *want_shape,
                            const int64_t *want_chunks, const char *what) {
  cask_array *r = bin(op, a, b);
  expect_shape(r, want_nd, want_shape, want_chunks);
  int64_t n = cask_array_size(r);
  double *av = fetch(a), *bv = fetch(b), *want = scratch(n);
  for (int64_t f = 0; f < n; f++)
    want[f] = ref_binop(op, av[bcast_index(f, want_nd, want_shape, cask_array_ndim(a), cask_array_shape(a))],
                        bv[bcast_index(f, want_nd, want_shape, cask_array_ndim(b), cask_array_shape(b))]);
  if (binop_is_exact(op))
    expect_bits(fetch(r), want, n, what);
  else
    expect_near(fetch(r), want, n, MATH_RTOL, MATH_ATOL, what);
}

START_TEST(broadcasting_aligns_shapes_at_the_right_and_stretches_ones) {
  cask_ctx *ctx = ctx_new(2, 0);
  cask_array *a415 = rnorm(ctx, 1, 3, (int64_t[]){4, 1, 5}, (int64_t[]){2, 1, 2});
  cask_array *b35 = rnorm(ctx, 2, 2, (int64_t[]){3, 5}, (int64_t[]){2, 2});
  check_broadcast(CASK_ADD, a415, b35, 3, (int64_t[]){4, 3, 5}, (int64_t[]){2, 2, 2}, "(4,1,5) + (3,5)");
  check_broadcast(CASK_SUB, b35, a415, 3, (int64_t[]){4, 3, 5}, (int64_t[]){2, 2, 2}, "(3,5) - (4,1,5)");
  check_broadcast(CASK_ARCTAN2, a415, b35, 3, (int64_t[]){4, 3, 5}, (int64_t[]){2, 2, 2}, "arctan2((4,1,5), (3,5))");

  cask_array *one = full(ctx, 2.5, 1, (int64_t[]){1}, NULL);
  cask_array *six = runif(ctx, 3, 1, (int64_t[]){6}, (int64_t[]){4});
  check_broadcast(CASK_MUL, one, six, 1, (int64_t[]){6}, (int64_t[]){4}, "(1,) * (6,)");
  check_broadcast(CASK_DIV, six, one, 1, (int64_t[]){6}, (int64_t[]){4}, "(6,) / (1,)");

  /* A 0-d array with anything, on either side. */
  double sv = -1.75;
  cask_array *s = wrap(ctx, &sv, 0, NULL, NULL);
  cask_array *x = rnorm(ctx, 4, 3, (int64_t[]){3, 4, 5}, (int64_t[]){2, 3, 2});
  check_broadcast(CASK_SUB, s, x, 3, (int64_t[]){3, 4, 5}, (int64_t[]){2, 3, 2}, "() - (3,4,5)");
  check_broadcast(CASK_DIV, x, s, 3, (int64_t[]){3, 4, 5}, (int64_t[]){2, 3, 2}, "(3,4,5) / ()");
  check_broadcast(CASK_MAXIMUM, s, six, 1, (int64_t[]){6}, (int64_t[]){4}, "maximum((), (6,))");
  check_broadcast(CASK_ADD, s, s, 0, NULL, NULL, "() + ()");

  /* Both operands stretch: an outer product. */
  cask_array *col = rnorm(ctx, 5, 2, (int64_t[]){5, 1}, (int64_t[]){2, 1});
  cask_array *row = rnorm(ctx, 6, 2, (int64_t[]){1, 4}, (int64_t[]){1, 3});
  check_broadcast(CASK_MUL, col, row, 2, (int64_t[]){5, 4}, (int64_t[]){2, 3}, "(5,1) * (1,4)");
  check_broadcast(CASK_POW, full(ctx, 1.5, 2, (int64_t[]){5, 1}, (int64_t[]){2, 1}), row, 2, (int64_t[]){5, 4},
                  (int64_t[]){2, 3}, "power((5,1), (1,4))");
  /* Broadcast operands inside a longer expression. */
  cask_array *c41 = rnorm(ctx, 7, 2, (int64_t[]){4, 1}, (int64_t[]){3, 1});
  cask_array *e = bin(CASK_ADD, bin(CASK_MUL, x, c41), un(CASK_SIN, s));
  expect_shape(e, 3, (int64_t[]){3, 4, 5}, (int64_t[]){2, 3, 2});
  double *xv = fetch(x), *cv = fetch(c41), want[60];
  for (int i = 0; i < 60; i++) want[i] = xv[i] * cv[(i / 5) % 4] + sin(sv);
  expect_near(fetch(e), want, 60, MATH_RTOL, MATH_ATOL, "(3,4,5) * (4,1) + sin(())");
  cleanup();
}
END_TEST

START_TEST(a_scalar_on_either_side_of_every_binary_op) {
  static const char *const names[] = {"add", "subtract", "multiply", "divide", "power", "maximum", "minimum", "arctan2"};
  cask_ctx *ctx = ctx_new(2, 0);
  enum { N = 1500 };
  double *x = scratch(N);
  fill_domain(x, N, LIN, 0.05, 6);
  x[7] = 2.5; /* equal to the scalar */
  cask_array *X = wrap(ctx, x, 2, (int64_t[]){30, 50}, (int64_t[]){7, 16});
  const double scalars[] = {2.5, -0.75};
  for (int op = 0; op <= CASK_ARCTAN2; op++)
    for (int k = 0; k < 2; k++)
      for (int first = 0; first < 2; first++) {
        double sv = scalars[k], *want = scratch(N);
        for (int i = 0; i < N; i++) want[i] = first ? ref_binop(op, sv, x[i]) : ref_binop(op, x[i], sv);
        double *got = fetch(bsc(op, X, sv, first));
        char what[64];
        snprintf(what, sizeof what, first ? "%s(%g, x)" : "%s(x, %g)", names[op], sv);
        if (binop_is_exact(op))
          expect_bits(got, want, N, what);
        else
          expect_near(got, want, N, MATH_RTOL, MATH_ATOL, what);
      }
  /* Spot values that tell the sides apart. */
  double v;
  cask_array *two = full(ctx, 2.0, 0, NULL, NULL);
  expect_ok(cask_compute_scalar(bsc(CASK_SUB, two, 5.0, 0), &v), "2 - 5");
  ck_assert(v == -3.0);
  expect_ok(cask_compute_scalar(bsc(CASK_SUB, two, 5.0, 1), &v), "5 - 2");
  ck_assert(v == 3.0);
  expect_ok(cask_compute_scalar(bsc(CASK_DIV, two, 8.0, 0), &v), "2 / 8");
  ck_assert(v == 0.25);
  expect_ok(cask_compute_scalar(bsc(CASK_DIV, two, 8.0, 1), &v), "8 / 2");
  ck_assert(v == 4.0);
  expect_ok(cask_compute_scalar(bsc(CASK_POW, two, 3.0, 0), &v), "2 ** 3");
  ck_assert(v == 8.0);
  expect_ok(cask_compute_scalar(bsc(CASK_POW, two, 3.0, 1), &v), "3 ** 2");
  ck_assert(v == 9.0);
  cleanup();
}
END_TEST

START_TEST(fused_expression_2a_plus_3bb_minus_sin_a_matches_the_loop) {
  cask_ctx *ctx = ctx_new(2, 0);
  const int64_t sh[2] = {37, 53}, ch[2] = {10, 16};
  cask_array *a = rnorm(ctx, 10, 2, sh, ch), *b = runif(ctx, 11, 2, sh, ch);
  /* 2*a + 3*b*b - sin(a), built as Python parses it */
  cask_array *e = bin(CASK_SUB, bin(CASK_ADD, bsc(CASK_MUL, a, 2, 1), bin(CASK_MUL, bsc(CASK_MUL, b, 3, 1), b)),
                      un(CASK_SIN, a));
  int64_t n = 37 * 53;
  double *av = fetch(a), *bv = fetch(b), *want = scratch(n);
  for (int64_t i = 0; i < n; i++) want[i] = 2 * av[i] + 3 * bv[i] * bv[i] - sin(av[i]);
  /* sin is within 4 ulp of |sin| <= 1: the sum is off by a few 1e-16 */
  expect_near(fetch(e), want, n, 1e-14, 1e-14, "2*a + 3*b*b - sin(a)");
  cleanup();
}
END_TEST

/* One step of a long expression: r = op(r, leaf), op(leaf, r), op(r, s),
 * op(s, r) or op(r). */
typedef struct step {
  enum { R_LEAF, LEAF_R, R_S, S_R, UN } form;
  int op, leaf;
  double s;
} step;

static double apply_step(const step *st, double r, const double *const *leaves, int64_t i) {
  switch (st->form) {
  case R_LEAF: return ref_binop(st->op, r, leaves[st->leaf][i]);
  case LEAF_R: return ref_binop(st->op, leaves[st->leaf][i], r);
  case R_S: return ref_binop(st->op, r, st->s);
  case S_R: return ref_binop(st->op, st->s, r);
  default: return ref_unop(st->op, r);
  }
}

static cask_array *build_step(const step *st, cask_array *r, cask_array *const *leaves) {
  switch (st->form) {
  case R_LEAF: return bin(st->op, r, leaves[st->leaf]);
  case LEAF_R: return bin(st->op, leaves[st->leaf], r);
  case R_S: return bsc(st->op, r, st->s, 0);
  case S_R: return bsc(st->op, r, st->s, 1);
  default: return un(st->op, r);
  }
}

/* A complete binary tree of the given depth over four leaves: every level
 * holds values on both sides, so the kernel needs depth + 2 registers. */
static const cask_binop tree_ops[] = {CASK_ADD, CASK_MUL, CASK_SUB, CASK_MAXIMUM, CASK_MINIMUM};
static cask_array *build_tree(int depth, int *next, cask_array *const *leaves) {
  if (depth == 0) return leaves[(*next)++ % 4];
  cask_array *l = build_tree(depth - 1, next, leaves), *r = build_tree(depth - 1, next, leaves);
  return bin(tree_ops[(depth + *next) % 5], l, r);
}
static double eval_tree(int depth, int *next, const double *const *leaves, int64_t i) {
  if (depth == 0) return leaves[(*next)++ % 4][i];
  double l = eval_tree(depth - 1, next, leaves, i), r = eval_tree(depth - 1, next, leaves, i);
  return ref_binop(tree_ops[(depth + *next) % 5], l, r);
}

START_TEST(expressions_of_twenty_and_more_operations_match_the_loop) {
  cask_ctx *ctx = ctx_new(2, 0);
  const int64_t sh[3] = {9, 11, 13}, ch[3] = {4, 5, 13};
  int64_t n = 9 * 11 * 13;
  cask_array *L[4] = {rnorm(ctx, 20, 3, sh, ch), runif(ctx, 21, 3, sh, ch), rnorm(ctx, 22, 3, sh, ch),
                      runif(ctx, 23, 3, sh, ch)};
  const double *lv[4] = {fetch(L[0]), fetch(L[1]), fetch(L[2]), fetch(L[3])};
  /* 26 operations, bounded by tanh / sin / atan so nothing overflows. */
  static const step steps[] = {
      {R_LEAF, CASK_MUL, 1, 0},    {R_S, CASK_ADD, 0, 0.5},      {UN, CASK_TANH, 0, 0},
      {LEAF_R, CASK_SUB, 2, 0},    {S_R, CASK_DIV, 0, 3.0},      {UN, CASK_ARCTAN, 0, 0},
      {R_LEAF, CASK_MAXIMUM, 3, 0}, {R_S, CASK_POW, 0, 2.0},     {UN, CASK_SQRT, 0, 0},
      {LEAF_R, CASK_MUL, 0, 0},    {UN, CASK_SIN, 0, 0},         {R_LEAF, CASK_ADD, 1, 0},
      {S_R, CASK_SUB, 0, 1.25},    {UN, CASK_ABS, 0, 0},         {R_S, CASK_MINIMUM, 0, 1.5},
      {UN, CASK_EXP, 0, 0},        {R_LEAF, CASK_ARCTAN2, 2, 0}, {UN, CASK_COS, 0, 0},
      {LEAF_R, CASK_MINIMUM, 3, 0}, {R_S, CASK_MUL, 0, -2.0},    {UN, CASK_NEGATIVE, 0, 0},
      {R_LEAF, CASK_DIV, 1, 0},    {UN, CASK_TANH, 0, 0},        {S_R, CASK_POW, 0, 2.0},
      {UN, CASK_FLOOR, 0, 0},      {R_LEAF, CASK_ADD, 0, 0},
  };
  enum { NSTEPS = sizeof steps / sizeof steps[0] };
  cask_array *r = L[0];
  for (int k = 0; k < NSTEPS; k++) r = build_step(&steps[k], r, L);
  double *want = scratch(n);
  for (int64_t i = 0; i < n; i++) {
    double v = lv[0][i];
    for (int k = 0; k < NSTEPS; k++) v = apply_step(&steps[k], v, lv, i);
    want[i] = v;
  }
  /* Exact but for the transcendental steps; floor can turn a last-bit
   * difference into 1, but the values floor sees here stay away from
   * whole numbers except in a negligible fraction (counted below). */
  double *got = fetch(r);
  int64_t off_by_floor = 0;
  for (int64_t i = 0; i < n; i++)
    if (!near(got[i], want[i], 1e-12, 1e-12) && fabs(fabs(got[i] - want[i]) - 1) < 1e-9) {
      got[i] = want[i];
      off_by_floor++;
    }
  ck_assert_msg(off_by_floor < n / 1000 + 2, "%lld elements differ by a floor step", (long long)off_by_floor);
  expect_near(got, want, n, 1e-12, 1e-12, "26-step chain");

  /* A balanced tree of depth 5: 32 loads of 4 leaves and 31 operations
   * (63 instructions, 7 registers), exact arithmetic. */
  int next = 0;
  cask_array *t = build_tree(5, &next, L);
  double *want_t = scratch(n);
  for (int64_t i = 0; i < n; i++) {
    next = 0;
    want_t[i] = eval_tree(5, &next, lv, i);
  }
  expect_bits(fetch(t), want_t, n, "balanced tree of depth 5");
  cleanup();
}
END_TEST

START_TEST(expressions_of_only_broadcast_scalars_compute) {
  cask_ctx *ctx = ctx_new(2, 0);
  double two = 2.0, three = 3.0, v = 0;
  cask_array *a = wrap(ctx, &two, 0, NULL, NULL), *b = full(ctx, 3.0, 0, NULL, NULL);
  /* 0-d with 0-d */
  expect_ok(cask_compute_scalar(bin(CASK_POW, a, b), &v), "2 ** 3");
  ck_assert(v == 8.0);
  expect_ok(cask_compute_scalar(un(CASK_SQRT, bin(CASK_MUL, a, bsc(CASK_ADD, b, 5, 1))), &v), "sqrt(2 * (5 + 3))");
  ck_assert(v == 4.0);
  /* 0-d, (1,) and (1, 1): every operand is one broadcast value */
  cask_array *c = wrap(ctx, &three, 1, (int64_t[]){1}, NULL);
  cask_array *d = full(ctx, 0.5, 2, (int64_t[]){1, 1}, NULL);
  cask_array *e = bin(CASK_SUB, bin(CASK_MUL, un(CASK_EXP, a), c), bin(CASK_DIV, d, a));
  expect_shape(e, 2, (int64_t[]){1, 1}, (int64_t[]){1, 1});
  expect_ok(cask_compute_scalar(e, &v), "exp(2) * 3 - 0.5 / 2");
  ck_assert_msg(near(v, exp(2.0) * 3 - 0.25, MATH_RTOL, 0), "got %.17g", v);
  /* A subexpression of scalars (sin(a) * 3) broadcast over a block whose
   * rows are split in pieces. */
  const int64_t sh[2] = {3, 2500}, ch[2] = {2, 1200};
  cask_array *x = rnorm(ctx, 30, 2, sh, ch);
  cask_array *y = bin(CASK_ADD, x, bin(CASK_MUL, un(CASK_SIN, a), c));
  cask_array *z = bin(CASK_MUL, un(CASK_COS, d), bin(CASK_SUB, y, un(CASK_NEGATIVE, a)));
  double *xv = fetch(x), *want = scratch(7500);
  for (int i = 0; i < 7500; i++) want[i] = cos(0.5) * ((xv[i] + sin(2.0) * 3) - -2.0);
  expect_near(fetch(z), want, 7500, 1e-14, 1e-14, "cos(d) * ((x + sin(a) * c) - -a)");
  cleanup();
}
END_TEST

/* ======================================================================
 * Reductions
 * ====================================================================== */

START_TEST(reductions_over_every_set_of_axes_match_loops) {
  cask_ctx *ctx = ctx_new(2, 0);
  const int64_t sh[3] = {7, 5, 6}, ch[3] = {3, 2, 4};
  /* normal values around 0.5: sums cancel partly, var is about 1 */
  cask_array *x = bsc(CASK_ADD, rnorm(ctx, 40, 3, sh, ch), 0.5, 0);
  double *xv = fetch(x);
  /* Every non-empty set of axes, given in several orders and with negative
   * axes, and naxes = 0 for all of them. */
  static const struct {
    int n, axes[3];
  } sets[] = {{1, {0}}, {1, {1}}, {1, {-1}}, {2, {0, 1}}, {2, {2, 0}}, {2, {-2, -1}},
              {3, {0, 1, 2}}, {3, {2, -3, 1}}, {0, {0}}};
  for (size_t s = 0; s < sizeof sets / sizeof sets[0]; s++)
    for (int op = 0; op <= CASK_STD; op++)
      for (int ddof = 0; ddof <= (op >= CASK_VAR); ddof++) {
        char what[64];
        snprintf(what, sizeof what, "axes set %zu (naxes %d), ddof %d", s, sets[s].n, ddof);
        check_reduction(op, x, xv, sets[s].axes, sets[s].n, ddof, what);
      }
  cleanup();
}
END_TEST

START_TEST(negative_axes_name_the_same_axes_as_positive_ones) {
  cask_ctx *ctx = ctx_new(2, 0);
  cask_array *x = rnorm(ctx, 41, 3, (int64_t[]){6, 5, 4}, (int64_t[]){4, 2, 3});
  static const int pos[][2] = {{2, 0}, {0, 2}, {0, 1}}, neg[][2] = {{-1, 0}, {-3, -1}, {1, -3}};
  static const int npos[] = {1, 2, 2};
  for (int k = 0; k < 3; k++) {
    cask_array *p = red(CASK_VAR, x, pos[k], npos[k], 1), *q = red(CASK_VAR, x, neg[k], npos[k], 1);
    expect_shape(q, cask_array_ndim(p), cask_array_shape(p), cask_array_chunks(p));
    expect_bits(fetch(q), fetch(p), cask_array_size(p), "negative axes");
  }
  cleanup();
}
END_TEST

START_TEST(var_and_std_divide_by_n_minus_ddof) {
  cask_ctx *ctx = ctx_new(2, 0);
  static const double v[] = {1, 2, 3, 4, 10};
  cask_array *x = wrap(ctx, v, 1, (int64_t[]){5}, (int64_t[]){2});
  /* mean 4, squared deviations 9 + 4 + 1 + 0 + 36 = 50 */
  const double want_var[3] = {10.0, 12.5, 50.0 / 3};
  for (int ddof = 0; ddof < 3; ddof++) {
    double var, sd;
    expect_ok(cask_compute_scalar(red(CASK_VAR, x, NULL, 0, ddof), &var), "var");
    expect_ok(cask_compute_scalar(red(CASK_STD, x, NULL, 0, ddof), &sd), "std");
    ck_assert_msg(near(var, want_var[ddof], 1e-15, 0), "var ddof %d: %.17g", ddof, var);
    ck_assert_msg(near(sd, sqrt(want_var[ddof]), 1e-15, 0), "std ddof %d: %.17g", ddof, sd);
  }
  cleanup();
}
END_TEST

START_TEST(nan_propagates_through_sum_mean_min_max_var) {
  cask_ctx *ctx = ctx_new(2, 0);
  const int64_t sh[3] = {6, 5, 4}, ch[3] = {4, 2, 3};
  double *x = scratch(120);
  for (int i = 0; i < 120; i++) x[i] = sin(i * 0.7) * 5;
  /* NaN as the first element of the first block, inside a block, and the
   * last element of the last block (fold and merge both see one). */
  x[0] = x[(3 * 5 + 1) * 4 + 2] = x[119] = NAN;
  cask_array *X = wrap(ctx, x, 3, sh, ch);
  static const struct {
    int n, axes[3];
  } sets[] = {{1, {0}}, {1, {1}}, {1, {2}}, {2, {0, 2}}, {2, {1, 2}}, {0, {0}}};
  for (size_t s = 0; s < sizeof sets / sizeof sets[0]; s++)
    for (int op = 0; op <= CASK_STD; op++) {
      char what[64];
      snprintf(what, sizeof what, "with NaNs, axes set %zu", s);
      check_reduction(op, X, x, sets[s].axes, sets[s].n, 0, what);
    }
  /* And a NaN in a block of its own that is not the first to be merged. */
  double *y = scratch(10);
  for (int i = 0; i < 10; i++) y[i] = i;
  y[9] = NAN;
  cask_array *Y = wrap(ctx, y, 1, (int64_t[]){10}, (int64_t[]){1});
  for (int op = 0; op <= CASK_STD; op++) {
    double v;
    expect_ok(cask_compute_scalar(red(op, Y, NULL, 0, 0), &v), red_name[op]);
    ck_assert_msg(isnan(v), "%s of [0..8, NaN] in blocks of 1: %g", red_name[op], v);
  }
  cleanup();
}
END_TEST

/* Results bit-identical whatever the thread count and run. */
START_TEST(reductions_are_bit_identical_across_threads_and_runs) {
  const int64_t sh[2] = {SANITIZED ? 120 : 400, SANITIZED ? 90 : 300}, ch[2] = {37, 29};
  static const struct {
    cask_reduction op;
    int n, axes[1], ddof;
  } reds[] = {{CASK_SUM, 0, {0}, 0}, {CASK_SUM, 1, {0}, 0}, {CASK_MEAN, 1, {1}, 0}, {CASK_VAR, 0, {0}, 1},
              {CASK_STD, 1, {0}, 0}, {CASK_MIN, 0, {0}, 0}, {CASK_MAX, 1, {1}, 0}};
  enum { NRED = sizeof reds / sizeof reds[0] };
  double *first[NRED];
  int64_t len[NRED];
  const int threads[] = {1, 2, 8};
  for (int t = 0; t < 3; t++) {
    cask_ctx *ctx = ctx_new(threads[t], 0);
    cask_array *x = rnorm(ctx, 50, 2, sh, ch);
    cask_array *e = bin(CASK_ADD, bin(CASK_MUL, x, x), un(CASK_SIN, x));
    for (int run = 0; run < 3; run++)
      for (int k = 0; k < NRED; k++) {
        cask_array *r = red(reds[k].op, e, reds[k].axes, reds[k].n, reds[k].ddof);
        double *got = fetch(r);
        if (t == 0 && run == 0) {
          first[k] = got;
          len[k] = cask_array_size(r);
          continue;
        }
        char what[96];
        snprintf(what, sizeof what, "%s #%d with %d threads, run %d vs 1 thread", red_name[reds[k].op], k,
                 threads[t], run);
        expect_bits(got, first[k], len[k], what);
      }
    if (t == 0) {
      /* and the 1-thread results are right */
      double *ev = fetch(e);
      for (int k = 0; k < NRED; k++) check_reduction(reds[k].op, e, ev, reds[k].axes, reds[k].n, reds[k].ddof, "1 thread");
    }
  }
  cleanup();
}
END_TEST

START_TEST(split_every_changes_only_the_rounding) {
  const int64_t sh[2] = {50, 40}, ch[2] = {7, 6};
  const int fanin[] = {2, 3, 8};
  double *got[3][4];
  for (int f = 0; f < 3; f++) {
    cask_ctx *ctx = ctx_new(2, fanin[f]);
    cask_array *x = bsc(CASK_ADD, rnorm(ctx, 60, 2, sh, ch), 1.0, 0);
    double *xv = fetch(x);
    got[f][0] = fetch(red(CASK_SUM, x, NULL, 0, 0));
    got[f][1] = fetch(red(CASK_SUM, x, (int[]){0}, 1, 0));
    got[f][2] = fetch(red(CASK_VAR, x, NULL, 0, 0));
    got[f][3] = fetch(red(CASK_MIN, x, (int[]){1}, 1, 0));
    char what[48];
    snprintf(what, sizeof what, "split_every %d", fanin[f]);
    check_reduction(CASK_SUM, x, xv, NULL, 0, 0, what);
    check_reduction(CASK_SUM, x, xv, (int[]){0}, 1, 0, what);
    check_reduction(CASK_MEAN, x, xv, (int[]){1}, 1, 0, what);
    check_reduction(CASK_VAR, x, xv, NULL, 0, 0, what);
    check_reduction(CASK_STD, x, xv, (int[]){0}, 1, 1, what);
    check_reduction(CASK_MIN, x, xv, (int[]){1}, 1, 0, what);
    check_reduction(CASK_MAX, x, xv, NULL, 0, 0, what);
  }
  /* With each other: sums within 1e-12 relative (the values are about 1,
   * so no cancellation), min exact. */
  for (int f = 1; f < 3; f++) {
    expect_near(got[f][0], got[0][0], 1, 1e-12, 0, "sum, split_every 3 / 8 vs 2");
    expect_near(got[f][1], got[0][1], 40, 1e-12, 0, "sum over axis 0, split_every 3 / 8 vs 2");
    expect_near(got[f][2], got[0][2], 1, 1e-12, 0, "var, split_every 3 / 8 vs 2");
    expect_equal(got[f][3], got[0][3], 50, "min over axis 1, split_every 3 / 8 vs 2");
  }
  cleanup();
}
END_TEST

START_TEST(sum_of_a_product_equals_the_loop) {
  cask_ctx *ctx = ctx_new(2, 0);
  const int64_t sh[3] = {31, 17, 9}, ch[3] = {8, 5, 4};
  int64_t n = 31 * 17 * 9;
  cask_array *a = rnorm(ctx, 70, 3, sh, ch), *b = runif(ctx, 71, 3, sh, ch);
  cask_array *ab = bin(CASK_MUL, a, b);
  double *av = fetch(a), *bv = fetch(b), *p = scratch(n);
  for (int64_t i = 0; i < n; i++) p[i] = av[i] * bv[i];
  check_reduction(CASK_SUM, ab, p, NULL, 0, 0, "sum(a*b)");
  check_reduction(CASK_SUM, ab, p, (int[]){0, 2}, 2, 0, "sum(a*b, axes (0, 2))");
  check_reduction(CASK_MAX, ab, p, (int[]){1}, 1, 0, "max(a*b, axis 1)");
  check_reduction(CASK_VAR, ab, p, (int[]){2}, 1, 0, "var(a*b, axis 2)");
  cleanup();
}
END_TEST

/* The reduced expression broadcasts (its leaves have stride 0 along some
 * axes), and kept rows longer than one kernel piece. */
START_TEST(reductions_of_broadcast_expressions_and_long_rows_match_the_loop) {
  cask_ctx *ctx = ctx_new(2, 0);
  cask_array *a = rnorm(ctx, 75, 3, (int64_t[]){4, 1, 5}, (int64_t[]){3, 1, 2});
  cask_array *b = rnorm(ctx, 76, 2, (int64_t[]){3, 5}, (int64_t[]){2, 2});
  cask_array *e = bin(CASK_MUL, bsc(CASK_ADD, a, 1, 0), b);
  const int64_t sh[3] = {4, 3, 5};
  double *av = fetch(a), *bv = fetch(b), ev[60];
  for (int f = 0; f < 60; f++)
    ev[f] = (av[bcast_index(f, 3, sh, 3, (int64_t[]){4, 1, 5})] + 1) * bv[bcast_index(f, 3, sh, 2, (int64_t[]){3, 5})];
  static const struct {
    int n, axes[2];
  } sets[] = {{1, {0}}, {1, {1}}, {1, {2}}, {2, {0, 2}}, {2, {1, 2}}, {0, {0}}};
  for (size_t s = 0; s < sizeof sets / sizeof sets[0]; s++)
    for (int op = 0; op <= CASK_STD; op++) {
      char what[64];
      snprintf(what, sizeof what, "(a + 1) * b broadcast, axes set %zu", s);
      check_reduction(op, e, ev, sets[s].axes, sets[s].n, 0, what);
    }
  /* Rows of 3000 split in pieces of 1024, the last axis kept or not; one
   * operand broadcast along the rows. */
  cask_array *x = rnorm(ctx, 77, 2, (int64_t[]){3, 3000}, (int64_t[]){2, 2500});
  cask_array *c = rnorm(ctx, 78, 2, (int64_t[]){3, 1}, (int64_t[]){2, 1});
  cask_array *y = bin(CASK_SUB, x, c);
  double *xv = fetch(x), *cv = fetch(c), *yv = scratch(9000);
  for (int i = 0; i < 9000; i++) yv[i] = xv[i] - cv[i / 3000];
  for (int op = 0; op <= CASK_STD; op++) {
    check_reduction(op, y, yv, (int[]){0}, 1, 1, "x - c over axis 0, rows of 3000");
    check_reduction(op, y, yv, (int[]){1}, 1, 1, "x - c over axis 1, rows of 3000");
    check_reduction(op, y, yv, NULL, 0, 1, "x - c over both axes, rows of 3000");
  }
  /* a 0-d array reduces to itself (var: one value, ddof 0) */
  double v, five = 5.0;
  cask_array *s = wrap(ctx, &five, 0, NULL, NULL);
  for (int op = 0; op <= CASK_STD; op++) {
    expect_ok(cask_compute_scalar(red(op, s, NULL, 0, 0), &v), red_name[op]);
    ck_assert_msg(v == (op >= CASK_VAR ? 0.0 : 5.0), "%s of a 0-d 5: %g", red_name[op], v);
  }
  cleanup();
}
END_TEST

/* An allocator that puts a guard word right after every allocation and
 * checks it on free. Its pointers are 64-byte aligned, so an aligned block
 * (cask__aligned_alloc over-allocates by 72 bytes and aligns to 64) ends 8
 * bytes before the guard: a write 16 bytes past such a block is caught. */
enum { GUARD_HEAD = 64 };
static const uint64_t GUARD = 0x5ca1ab1e0ddba11ull;
static atomic_long guard_broken;

static void *guard_malloc(size_t n) {
  char *raw = aligned_alloc(64, (GUARD_HEAD + n + sizeof GUARD + 63) & ~(size_t)63);
  if (!raw) return NULL;
  memcpy(raw, &n, sizeof n);
  memcpy(raw + GUARD_HEAD + n, &GUARD, sizeof GUARD);
  return raw + GUARD_HEAD;
}
static void guard_free(void *p) {
  if (!p) return;
  char *raw = (char *)p - GUARD_HEAD;
  size_t n;
  memcpy(&n, raw, sizeof n);
  if (memcmp(raw + GUARD_HEAD + n, &GUARD, sizeof GUARD)) atomic_fetch_add(&guard_broken, 1);
  free(raw);
}
static void *guard_calloc(size_t c, size_t n) {
  if (n && c > SIZE_MAX / n) return NULL;
  void *p = guard_malloc(c * n);
  if (p) memset(p, 0, c * n);
  return p;
}
static void *guard_realloc(void *p, size_t n) {
  void *q = guard_malloc(n);
  if (q && p) {
    size_t old;
    memcpy(&old, (char *)p - GUARD_HEAD, sizeof old);
    memcpy(q, p, old < n ? old : n);
    guard_free(p);
  }
  return q;
}

/* Regression: partial_run initialized every state with 3 doubles, whatever
 * the reduction's state width (1 for sum, min and max, 2 for mean), so the
 * last state of a partial block was written past the block's end. */
START_TEST(reduction_states_stay_inside_their_blocks) {
  /* The op registry allocates once, for the whole process: with the
   * default allocator, as a program would. */
  ck_assert_ptr_nonnull(cask_op_find("cask.noop"));
  ck_assert_int_eq(cask_set_allocator(guard_malloc, guard_realloc, guard_calloc, guard_free), CASK_OK);
  cask_ctx *ctx = NULL;
  cask_array *x = NULL;
  int rc = cask_ctx_new(&(cask_options){.threads = 2, .split_every = 0, .chunk_bytes = 0}, &ctx);
  if (!rc) rc = cask_random_normal(ctx, 5, CASK_F64, 2, (int64_t[]){6, 5}, (int64_t[]){3, 5}, &x);
  for (int op = 0; op <= CASK_STD && !rc; op++)
    for (int ax = 0; ax < 3 && !rc; ax++) {
      cask_array *r = NULL;
      double out[6];
      rc = cask_reduce(op, x, (int[]){ax}, ax < 2, 0, &r);
      if (!rc) rc = cask_compute(r, out, (size_t)cask_array_size(r) * sizeof *out);
      cask_array_release(r);
    }
  cask_array_release(x);
  cask_ctx_free(ctx);
  ck_assert_int_eq(cask_set_allocator(malloc, realloc, calloc, free), CASK_OK);
  ck_assert_msg(rc == CASK_OK, "%s", cask_err_name(rc));
  ck_assert_msg(atomic_load(&guard_broken) == 0, "%ld allocations were written past their end",
                atomic_load(&guard_broken));
}
END_TEST

START_TEST(reductions_of_reductions_match_the_loop) {
  cask_ctx *ctx = ctx_new(2, 0);
  const int64_t sh[3] = {9, 8, 7}, ch[3] = {4, 3, 2};
  cask_array *x = rnorm(ctx, 80, 3, sh, ch);
  double *xv = fetch(x);
  /* mean(sum(x, axis 0)) */
  double s0[56], scale[56], want = 0, scale_all = 0;
  ref_reduce(CASK_SUM, xv, 3, sh, 1u, 0, s0, scale);
  for (int i = 0; i < 56; i++) {
    want += s0[i] / 56;
    scale_all += scale[i] / 56;
  }
  double got;
  expect_ok(cask_compute_scalar(red(CASK_MEAN, red(CASK_SUM, x, (int[]){0}, 1, 0), NULL, 0, 0), &got), "mean(sum)");
  ck_assert_msg(near(got, want, 0, 1e-12 * scale_all), "mean(sum(x, 0)): %.17g vs %.17g", got, want);
  /* sum(max(x, axis 2), axis 0) */
  double m2[72], want_s[8], sc[8];
  ref_reduce(CASK_MAX, xv, 3, sh, 4u, 0, m2, NULL);
  ref_reduce(CASK_SUM, m2, 2, (int64_t[]){9, 8}, 1u, 0, want_s, sc);
  cask_array *r = red(CASK_SUM, red(CASK_MAX, x, (int[]){2}, 1, 0), (int[]){0}, 1, 0);
  expect_shape(r, 1, (int64_t[]){8}, (int64_t[]){3});
  expect_reduction(CASK_SUM, fetch(r), want_s, sc, 8, "sum(max(x, 2), 0)");
  cleanup();
}
END_TEST

START_TEST(subtracting_the_mean_broadcasts_a_reduction_back) {
  cask_ctx *ctx = ctx_new(2, 0);
  const int64_t sh[3] = {9, 8, 7}, ch[3] = {4, 3, 7};
  cask_array *x = bsc(CASK_MUL, rnorm(ctx, 90, 3, sh, ch), 3, 0);
  cask_array *m = red(CASK_MEAN, x, (int[]){0}, 1, 0);
  cask_array *c = bin(CASK_SUB, x, m);
  expect_shape(c, 3, sh, ch);
  double *xv = fetch(x), mean[56], want[504], maxabs = 0;
  ref_reduce(CASK_MEAN, xv, 3, sh, 1u, 0, mean, NULL);
  for (int i = 0; i < 504; i++) {
    want[i] = xv[i] - mean[i % 56];
    maxabs = fmax(maxabs, fabs(xv[i]));
  }
  expect_near(fetch(c), want, 504, 0, 1e-13 * maxabs, "x - mean(x, 0)");
  /* and the columns of the result sum to about 0 */
  double *cs = fetch(red(CASK_SUM, c, (int[]){0}, 1, 0)), zero[56] = {0};
  expect_near(cs, zero, 56, 0, 1e-12 * maxabs, "sum(x - mean(x, 0), 0)");
  cleanup();
}
END_TEST

START_TEST(reductions_over_empty_axes_give_numpys_identities) {
  cask_ctx *ctx = ctx_new(2, 0);
  cask_array *e = full(ctx, 1.0, 2, (int64_t[]){0, 4}, (int64_t[]){3, 3});
  cask_array *s = red(CASK_SUM, e, (int[]){0}, 1, 0);
  expect_shape(s, 1, (int64_t[]){4}, NULL);
  double zeros[4] = {0, 0, 0, 0}, nans[4] = {NAN, NAN, NAN, NAN};
  expect_bits(fetch(s), zeros, 4, "sum over an empty axis");
  expect_equal(fetch(red(CASK_MEAN, e, (int[]){0}, 1, 0)), nans, 4, "mean over an empty axis");
  double v = -1;
  expect_ok(cask_compute_scalar(red(CASK_SUM, e, NULL, 0, 0), &v), "sum of an empty array");
  ck_assert(v == 0.0);
  /* max over the non-empty axis: an empty result */
  cask_array *m = red(CASK_MAX, e, (int[]){1}, 1, 0);
  expect_shape(m, 1, (int64_t[]){0}, NULL);
  expect_ok(cask_compute(m, NULL, 0), "compute an empty result");
  /* elementwise over an empty array, into no buffer or a buffer of 0 bytes */
  cask_array *e1 = un(CASK_EXP, bsc(CASK_ADD, e, 1, 0));
  expect_shape(e1, 2, (int64_t[]){0, 4}, NULL);
  expect_ok(cask_compute(e1, NULL, 0), "compute an empty elementwise result");
  expect_ok(cask_compute(e1, &v, 0), "compute an empty elementwise result into a buffer");
  cleanup();
}
END_TEST

/* ======================================================================
 * Keys and graphs
 * ====================================================================== */

static cask_graph *graph_of(cask_array *a) {
  cask_graph *g = NULL;
  expect_ok(cask_array_graph(a, &g), "cask_array_graph");
  return g;
}

static size_t graph_size_of(cask_array *a) {
  cask_graph *g = graph_of(a);
  size_t n = cask_graph_size(g);
  cask_graph_free(g);
  return n;
}

START_TEST(the_same_expression_built_twice_lowers_to_the_same_tasks) {
  cask_ctx *ctx = ctx_new(2, 8);
  const int64_t sh[2] = {8, 8}, ch[2] = {2, 2};
  /* f(x) = sum(sin(x) * 2), built twice from scratch */
  cask_array *f1 = red(CASK_SUM, bsc(CASK_MUL, un(CASK_SIN, runif(ctx, 1, 2, sh, ch)), 2, 0), NULL, 0, 0);
  cask_array *f2 = red(CASK_SUM, bsc(CASK_MUL, un(CASK_SIN, runif(ctx, 1, 2, sh, ch)), 2, 0), NULL, 0, 0);
  /* the same with another seed */
  cask_array *g1 = red(CASK_SUM, bsc(CASK_MUL, un(CASK_SIN, runif(ctx, 2, 2, sh, ch)), 2, 0), NULL, 0, 0);
  size_t one = graph_size_of(f1);
  /* 16 blocks: 16 fused source+partial tasks, a fold of 15 combines, the
   * last fused into the finalize (see the next test). */
  ck_assert_int_eq(one, 31);
  ck_assert_int_eq(graph_size_of(f2), one);
  /* f1 + f2: the 31 tasks once, and the add */
  cask_array *same = bin(CASK_ADD, f1, f2);
  ck_assert_int_eq(graph_size_of(same), one + 1);
  /* every task of f1's graph is in it, under the same key */
  cask_graph *a = graph_of(f1), *b = graph_of(same);
  for (cask_task_id i = 0; i < cask_graph_size(a); i++) {
    cask_task_id id;
    ck_assert_msg(cask_graph_find(b, cask_graph_key(a, i), &id) == CASK_OK, "key %s missing",
                  cask_graph_key(a, i));
  }
  cask_graph_free(a);
  cask_graph_free(b);
  /* f1 + g1 (another seed) shares no task: two trees and the add */
  ck_assert_int_eq(graph_size_of(bin(CASK_ADD, f1, g1)), 2 * one + 1);
  /* and the values agree */
  double v1, v2, v;
  expect_ok(cask_compute_scalar(f1, &v1), "f1");
  expect_ok(cask_compute_scalar(f2, &v2), "f2");
  expect_ok(cask_compute_scalar(same, &v), "f1 + f2");
  ck_assert(v1 == v2 && v == v1 + v2);
  cleanup();
}
END_TEST

/* Arrays alike but for their chunks, a scalar, a fill value or a seed have
 * different blocks: none may stand in for another in one graph. */
START_TEST(arrays_differing_in_chunks_scalars_values_or_seeds_share_no_blocks) {
  cask_ctx *ctx = ctx_new(2, 0);
  const int64_t sh[2] = {8, 8};
  cask_array *x2 = runif(ctx, 9, 2, sh, (int64_t[]){2, 2}), *x4 = runif(ctx, 9, 2, sh, (int64_t[]){4, 4});
  double xv[64], sum_x, max_x, scale, v;
  cask__philox_uniform(9, 0, 1, 64, xv);
  ref_reduce(CASK_SUM, xv, 2, sh, 3u, 0, &sum_x, &scale);
  ref_reduce(CASK_MAX, xv, 2, sh, 3u, 0, &max_x, NULL);
  /* sum over 2x2 blocks plus max over 4x4 blocks of the same values */
  expect_ok(cask_compute_scalar(bin(CASK_ADD, red(CASK_SUM, x2, NULL, 0, 0), red(CASK_MAX, x4, NULL, 0, 0)), &v),
            "sum(x2) + max(x4)");
  ck_assert_msg(near(v, sum_x + max_x, 0, 1e-12 * scale), "sum(x2) + max(x4) = %.17g, want %.17g", v, sum_x + max_x);
  expect_ok(cask_compute_scalar(bin(CASK_SUB, red(CASK_MAX, x4, NULL, 0, 0), red(CASK_SUM, x2, NULL, 0, 0)), &v),
            "max(x4) - sum(x2)");
  ck_assert_msg(near(v, max_x - sum_x, 0, 1e-12 * scale), "max(x4) - sum(x2) = %.17g, want %.17g", v, max_x - sum_x);
  /* sum(x + 1) - sum(x + 2) = -64 */
  expect_ok(cask_compute_scalar(bin(CASK_SUB, red(CASK_SUM, bsc(CASK_ADD, x2, 1, 0), NULL, 0, 0),
                                    red(CASK_SUM, bsc(CASK_ADD, x2, 2, 0), NULL, 0, 0)),
                                &v),
            "sum(x + 1) - sum(x + 2)");
  ck_assert_msg(near(v, -64, 0, 1e-12 * (scale + 192)), "sum(x + 1) - sum(x + 2) = %.17g", v);
  /* x - 1 and 1 - x, alone and under the same 60 operations (too many for
   * one kernel: parts of both chains become tasks of their own) */
  expect_ok(cask_compute_scalar(bin(CASK_SUB, red(CASK_SUM, bsc(CASK_SUB, x2, 1, 0), NULL, 0, 0),
                                    red(CASK_SUM, bsc(CASK_SUB, x2, 1, 1), NULL, 0, 0)),
                                &v),
            "sum(x - 1) - sum(1 - x)");
  ck_assert_msg(near(v, 2 * sum_x - 128, 0, 1e-12 * (scale + 128)), "sum(x - 1) - sum(1 - x) = %.17g", v);
  cask_array *p = bsc(CASK_SUB, x2, 1, 0), *q = bsc(CASK_SUB, x2, 1, 1);
  for (int i = 0; i < 60; i++) {
    p = i % 2 ? bsc(CASK_MUL, p, 1.01, 0) : bsc(CASK_ADD, p, 0.001, 0);
    q = i % 2 ? bsc(CASK_MUL, q, 1.01, 0) : bsc(CASK_ADD, q, 0.001, 0);
  }
  double pv[64], qv[64], want_p, want_q, sp, sq;
  for (int k = 0; k < 64; k++) {
    pv[k] = xv[k] - 1;
    qv[k] = 1 - xv[k];
    for (int i = 0; i < 60; i++) {
      pv[k] = i % 2 ? pv[k] * 1.01 : pv[k] + 0.001;
      qv[k] = i % 2 ? qv[k] * 1.01 : qv[k] + 0.001;
    }
  }
  ref_reduce(CASK_SUM, pv, 2, sh, 3u, 0, &want_p, &sp);
  ref_reduce(CASK_SUM, qv, 2, sh, 3u, 0, &want_q, &sq);
  expect_ok(cask_compute_scalar(bin(CASK_SUB, red(CASK_SUM, p, NULL, 0, 0), red(CASK_SUM, q, NULL, 0, 0)), &v),
            "sum(chain(x - 1)) - sum(chain(1 - x))");
  ck_assert_msg(near(v, want_p - want_q, 0, 1e-12 * (sp + sq)), "sum(chain(x - 1)) - sum(chain(1 - x)) = %.17g, want %.17g",
                v, want_p - want_q);
  double *pq = fetch(bin(CASK_SUB, p, q)), want_pq[64];
  for (int k = 0; k < 64; k++) want_pq[k] = pv[k] - qv[k];
  expect_bits(pq, want_pq, 64, "chain(x - 1) - chain(1 - x)");
  /* full(1) and full(2); seeds 9 and 10 */
  cask_array *one = full(ctx, 1, 2, sh, (int64_t[]){2, 2}), *two = full(ctx, 2, 2, sh, (int64_t[]){2, 2});
  expect_ok(cask_compute_scalar(bin(CASK_ADD, red(CASK_SUM, one, NULL, 0, 0), red(CASK_MAX, two, NULL, 0, 0)), &v),
            "sum(ones) + max(twos)");
  ck_assert_msg(v == 66, "sum(ones) + max(twos) = %.17g", v);
  cask_array *y = runif(ctx, 10, 2, sh, (int64_t[]){2, 2});
  double yv[64], sum_y;
  cask__philox_uniform(10, 0, 1, 64, yv);
  ref_reduce(CASK_SUM, yv, 2, sh, 3u, 0, &sum_y, NULL);
  expect_ok(cask_compute_scalar(bin(CASK_SUB, red(CASK_SUM, x2, NULL, 0, 0), red(CASK_SUM, y, NULL, 0, 0)), &v),
            "sum(x) - sum(y)");
  ck_assert_msg(near(v, sum_x - sum_y, 0, 1e-12 * 128), "sum(x) - sum(y) = %.17g, want %.17g", v, sum_x - sum_y);
  cleanup();
}
END_TEST

static int count_op(const cask_graph *g, const char *name) {
  int n = 0;
  for (cask_task_id i = 0; i < cask_graph_size(g); i++) n += strcmp(cask_graph_op(g, i)->name, name) == 0;
  return n;
}

/* The graph of sum(x) over 4x4 blocks of a random x: the random values are
 * computed inside the 16 partials (no source tasks), then a fold of 15
 * combines, whatever split_every: two segments of 8 blocks, each a left
 * fold (the running state and the next partial, in block order), and a
 * combine of the two segments' states (docs/distributed.md, "Reductions"),
 * which fusion merges into the finalize: 16 + 14 + 1 = 31 tasks. Each
 * combine follows its input 1 when placed on ranks (a FOLLOW hint). */
START_TEST(a_sum_lowers_to_partials_a_combine_fold_and_a_fused_finalize) {
  static const struct {
    int split_every;
    size_t tasks;
    int combines, fused;
  } cases[] = {{2, 31, 14, 1}, {3, 31, 14, 1}, {8, 31, 14, 1}, {16, 31, 14, 1}};
  for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
    cask_ctx *ctx = ctx_new(2, cases[c].split_every);
    cask_array *x = runif(ctx, 5, 2, (int64_t[]){8, 8}, (int64_t[]){2, 2});
    cask_array *s = red(CASK_SUM, x, NULL, 0, 0);
    cask_graph *g = graph_of(s);
    size_t n = cask_graph_size(g);
    ck_assert_msg(n == cases[c].tasks, "split_every %d: %zu tasks, want %zu", cases[c].split_every, n,
                  cases[c].tasks);
    ck_assert_int_eq(count_op(g, "array.combine"), cases[c].combines);
    ck_assert_int_eq(count_op(g, "cask.fused"), cases[c].fused);
    /* ordered: the priorities are 0..n-1, each task after its deps, and
     * exactly one output */
    char *seen = calloc(n, 1);
    int outputs = 0;
    for (cask_task_id i = 0; i < n; i++) {
      uint32_t p = cask_graph_priority(g, i);
      ck_assert_msg(p < n && !seen[p], "task %u has priority %u", i, p);
      seen[p] = 1;
      size_t nd;
      const cask_task_id *deps = cask_graph_deps(g, i, &nd);
      for (size_t k = 0; k < nd; k++) ck_assert(cask_graph_priority(g, deps[k]) < p);
      outputs += cask_graph_is_output(g, i);
      cask_place_hint h;
      ck_assert(cask_graph_get_place(g, i, &h) == CASK_OK);
      if (strcmp(cask_graph_op(g, i)->name, "array.combine") == 0) {
        ck_assert_int_eq(nd, 2); /* the running state, then the partial */
        ck_assert(strcmp(cask_graph_op(g, deps[1])->name, "array.partial") == 0);
        ck_assert(h.kind == CASK_PLACE_FOLLOW && h.i == 1);
      }
    }
    ck_assert_int_eq(outputs, 1);
    free(seen);
    cask_graph_free(g);
    /* and it computes the sum */
    double *xv = fetch(x), v;
    expect_ok(cask_compute_scalar(s, &v), "sum");
    double want, scale;
    ref_reduce(CASK_SUM, xv, 2, (int64_t[]){8, 8}, 3u, 0, &want, &scale);
    ck_assert_msg(near(v, want, 0, 1e-12 * scale), "sum %.17g, want %.17g", v, want);
  }
  cleanup();
}
END_TEST

/* Combines down input 0 from t until a partial: a segment's chain. */
static int chain_length(const cask_graph *g, cask_task_id t) {
  int n = 0;
  while (strcmp(cask_graph_op(g, t)->name, "array.combine") == 0) {
    size_t nd;
    const cask_task_id *deps = cask_graph_deps(g, t, &nd);
    ck_assert_int_eq(nd, 2);
    ck_assert_msg(strcmp(cask_graph_op(g, deps[1])->name, "array.partial") == 0, "%s: input 1 is not a partial",
                  cask_graph_key(g, t));
    t = deps[0], n++;
  }
  ck_assert(strcmp(cask_graph_op(g, t)->name, "array.partial") == 0);
  return n;
}

/* sum(x, axis=0) over 100 row blocks: the fold runs in 10 segments of 10
 * blocks (S = max(8, ceil(sqrt(100)))), each a chain of 9 combines over
 * its partials in block order, then a chain of 9 combines of the segment
 * states (the last fused into the finalize): 99 combines in all, as one
 * chain. The sum is the same bits for 1 and 3 threads and near a plain
 * loop's. */
START_TEST(a_fold_of_many_blocks_runs_in_segments_of_sqrt_n_blocks) {
  const int64_t sh[2] = {100, 3}, ch[2] = {1, 3};
  cask_ctx *ctx = ctx_new(3, 0);
  cask_array *x = runif(ctx, 9, 2, sh, ch), *s = red(CASK_SUM, x, (int[]){0}, 1, 0);
  cask_graph *g = graph_of(s);
  ck_assert_int_eq(count_op(g, "array.partial"), 100);
  ck_assert_int_eq(count_op(g, "array.combine"), 98);
  ck_assert_int_eq(count_op(g, "cask.fused"), 1);
  cask_task_id t = UINT32_MAX;
  for (cask_task_id i = 0; i < cask_graph_size(g); i++)
    if (cask_graph_is_output(g, i)) t = i;
  ck_assert(t != UINT32_MAX && strcmp(cask_graph_op(g, t)->name, "cask.fused") == 0);
  int segments = 1;
  for (;;) { /* down the top fold: input 0 the states before, input 1 a segment's */
    size_t nd;
    const cask_task_id *deps = cask_graph_deps(g, t, &nd);
    ck_assert_int_eq(nd, 2);
    ck_assert_int_eq(chain_length(g, deps[1]), 9);
    segments++;
    size_t nd0;
    const cask_task_id *d0 = cask_graph_deps(g, deps[0], &nd0);
    if (nd0 != 2 || strcmp(cask_graph_op(g, d0[1])->name, "array.combine") != 0) {
      ck_assert_int_eq(chain_length(g, deps[0]), 9); /* segment 0 */
      break;
    }
    t = deps[0];
  }
  ck_assert_int_eq(segments, 10);
  cask_graph_free(g);
  double *v3 = fetch(s), *xv = fetch(x), want[3], scale[3];
  cask_ctx *one = ctx_new(1, 0);
  cask_array *x1 = runif(one, 9, 2, sh, ch), *s1 = red(CASK_SUM, x1, (int[]){0}, 1, 0);
  double *v1 = fetch(s1);
  ck_assert_msg(memcmp(v1, v3, 3 * sizeof *v1) == 0, "1 and 3 threads differ: %.17g %.17g", v1[0], v3[0]);
  ref_reduce(CASK_SUM, xv, 2, sh, 1u, 0, want, scale);
  for (int k = 0; k < 3; k++) ck_assert_msg(near(v3[k], want[k], 0, 1e-12 * scale[k]), "%.17g vs %.17g", v3[k], want[k]);
  cleanup();
}
END_TEST

START_TEST(a_graph_writes_to_json_and_runs_from_it_unless_it_reads_a_buffer) {
  cask_ctx *ctx = ctx_new(2, 0);
  cask_array *x = rnorm(ctx, 7, 2, (int64_t[]){30, 20}, (int64_t[]){8, 6});
  cask_array *s = red(CASK_VAR, bin(CASK_MUL, x, un(CASK_COS, x)), (int[]){1}, 1, 1);
  cask_graph *g = graph_of(s);
  char *json = NULL;
  size_t len = 0;
  int rc = cask_graph_to_json(g, &json, &len);
  ck_assert_msg(rc == CASK_OK, "%s: %s", cask_err_name(rc), cask_graph_errmsg(g));
  ck_assert(strstr(json, "array.partial") && strstr(json, "array.combine") && strstr(json, "array.finalize"));
  /* Read it back and run it: the same bits as cask_compute. */
  cask_graph *back = NULL;
  char *err = NULL;
  rc = cask_graph_from_json(json, len, &back, &err);
  ck_assert_msg(rc == CASK_OK, "%s: %s", cask_err_name(rc), err ? err : "");
  cask_results *res = NULL;
  rc = cask_run(cask_ctx_runtime(ctx), back, NULL, &res);
  ck_assert_msg(rc == CASK_OK, "%s: %s", cask_err_name(rc), cask_runtime_errmsg(cask_ctx_runtime(ctx)));
  double *want = fetch(s), got[30];
  int blocks = 0;
  for (cask_task_id i = 0; i < cask_graph_size(back); i++) {
    if (!cask_graph_is_output(back, i)) continue;
    /* output keys end in the block index along the one kept axis */
    const char *key = cask_graph_key(back, i);
    int b = atoi(strrchr(key, '-') + 1);
    const cask_block *blk = cask_results_get(res, i);
    ck_assert(blk && b >= 0 && b < 4);
    memcpy(got + 8 * b, cask_block_data(blk), cask_block_nbytes(blk));
    blocks++;
  }
  ck_assert_int_eq(blocks, 4);
  expect_bits(got, want, 30, "var computed from the graph's JSON");
  cask_results_free(res);
  cask_graph_free(back);
  cask_free(json);
  cask_graph_free(g);

  /* An elementwise result: its graph holds block kernels (cask_compute
   * writes into the caller's buffer instead); both give the same bits. */
  cask_array *ew = bin(CASK_SUB, un(CASK_TANH, x), bsc(CASK_MUL, x, 0.5, 0));
  g = graph_of(ew);
  ck_assert_int_eq(cask_graph_size(g), 16); /* 4 x 4 blocks, each source fused into its kernel */
  rc = cask_graph_to_json(g, &json, &len);
  ck_assert_msg(rc == CASK_OK, "%s: %s", cask_err_name(rc), cask_graph_errmsg(g));
  ck_assert_int_eq(cask_graph_from_json(json, len, &back, &err), CASK_OK);
  rc = cask_run(cask_ctx_runtime(ctx), back, NULL, &res);
  ck_assert_msg(rc == CASK_OK, "%s: %s", cask_err_name(rc), cask_runtime_errmsg(cask_ctx_runtime(ctx)));
  double *direct = fetch(ew), *via = scratch(600);
  blocks = 0;
  for (cask_task_id i = 0; i < cask_graph_size(back); i++) {
    if (!cask_graph_is_output(back, i)) continue;
    int bi, bj;
    ck_assert(sscanf(strrchr(cask_graph_key(back, i), '-') + 1, "%d,%d", &bi, &bj) == 2);
    const cask_block *blk = cask_results_get(res, i);
    const int64_t *bs = cask_block_shape(blk);
    for (int64_t r = 0; r < bs[0]; r++)
      memcpy(via + (bi * 8 + r) * 20 + bj * 6, (const double *)cask_block_data(blk) + r * bs[1],
             (size_t)bs[1] * sizeof(double));
    blocks++;
  }
  ck_assert_int_eq(blocks, 16);
  expect_bits(via, direct, 600, "tanh(x) - x * 0.5 from the graph's JSON");
  cask_results_free(res);
  cask_graph_free(back);
  cask_free(json);
  cask_graph_free(g);

  /* A caller's buffer is an address: the graph cannot be written. */
  double *data = scratch(600);
  for (int i = 0; i < 600; i++) data[i] = i;
  cask_array *bs = red(CASK_SUM, bin(CASK_MUL, x, wrap(ctx, data, 2, (int64_t[]){30, 20}, (int64_t[]){8, 6})), NULL,
                       0, 0);
  g = graph_of(bs);
  json = NULL;
  rc = cask_graph_to_json(g, &json, &len);
  ck_assert_msg(rc == CASK_ENOTSERIAL, "to_json of a buffer's graph: %s", cask_err_name(rc));
  ck_assert_ptr_null(json);
  ck_assert_msg(strstr(cask_graph_errmsg(g), "cannot be written as JSON"), "message: %s", cask_graph_errmsg(g));
  cask_graph_free(g);
  cleanup();
}
END_TEST

/* ======================================================================
 * Errors
 * ====================================================================== */

static void expect_msg(cask_ctx *ctx, const char *part) {
  ck_assert_msg(strstr(cask_ctx_errmsg(ctx), part) != NULL, "message \"%s\" does not contain \"%s\"",
                cask_ctx_errmsg(ctx), part);
}

START_TEST(broadcast_mismatch_is_refused_and_names_both_shapes) {
  cask_ctx *ctx = ctx_new(1, 0);
  cask_array *a = full(ctx, 1, 2, (int64_t[]){4, 3}, NULL), *b = full(ctx, 1, 1, (int64_t[]){5}, NULL);
  cask_array *out = a;
  ck_assert_int_eq(cask_binary(CASK_ADD, a, b, &out), CASK_EINVAL);
  ck_assert_ptr_null(out);
  expect_msg(ctx, "(4, 3)");
  expect_msg(ctx, "(5,)");
  cask_array *c = full(ctx, 1, 3, (int64_t[]){2, 1, 7}, NULL);
  ck_assert_int_eq(cask_binary(CASK_MUL, c, a, &out), CASK_EINVAL);
  expect_msg(ctx, "(2, 1, 7)");
  expect_msg(ctx, "(4, 3)");
  cleanup();
}
END_TEST

START_TEST(different_chunks_on_a_shared_axis_are_rechunked) {
  cask_ctx *ctx = ctx_new(2, 0);
  /* 37 x 11 with chunks (5, 4) against (7, 11): the larger operand's grid
   * wins on a tie of sizes, the first; values as the plain loop says. */
  cask_array *a = rnorm(ctx, 61, 2, (int64_t[]){37, 11}, (int64_t[]){5, 4});
  cask_array *b = rnorm(ctx, 62, 2, (int64_t[]){37, 11}, (int64_t[]){7, 11});
  double *av = fetch(a), *bv = fetch(b);
  cask_array *d = bin(CASK_SUB, a, b);
  expect_shape(d, 2, (int64_t[]){37, 11}, (int64_t[]){5, 4});
  double *dv = fetch(d);
  int bad = 0;
  for (int i = 0; i < 37 * 11; i++) bad += dv[i] != av[i] - bv[i];
  ck_assert_msg(bad == 0, "%d elements differ", bad);
  /* an axis of extent 1 stretches, whatever the other's chunks */
  cask_array *c = full(ctx, 1, 2, (int64_t[]){1, 6}, (int64_t[]){1, 2});
  cask_array *e = full(ctx, 1, 2, (int64_t[]){5, 6}, (int64_t[]){3, 2});
  expect_shape(bin(CASK_ADD, c, e), 2, (int64_t[]){5, 6}, (int64_t[]){3, 2});
  cleanup();
}
END_TEST

START_TEST(bad_reduction_axes_are_refused_and_named) {
  cask_ctx *ctx = ctx_new(1, 0);
  cask_array *x = full(ctx, 1, 3, (int64_t[]){2, 3, 4}, NULL), *out = x;
  ck_assert_int_eq(cask_reduce(CASK_SUM, x, (int[]){3}, 1, 0, &out), CASK_EINVAL);
  ck_assert_ptr_null(out);
  expect_msg(ctx, "axis 3");
  expect_msg(ctx, "out of range");
  ck_assert_int_eq(cask_reduce(CASK_MEAN, x, (int[]){-4}, 1, 0, &out), CASK_EINVAL);
  expect_msg(ctx, "axis -4");
  ck_assert_int_eq(cask_reduce(CASK_MAX, x, (int[]){1, 1}, 2, 0, &out), CASK_EINVAL);
  expect_msg(ctx, "twice");
  ck_assert_int_eq(cask_reduce(CASK_MAX, x, (int[]){0, -3}, 2, 0, &out), CASK_EINVAL);
  expect_msg(ctx, "twice");
  ck_assert_int_eq(cask_reduce(CASK_SUM, x, (int[]){0}, 1, -1, &out), CASK_EINVAL);
  ck_assert_int_eq(cask_reduce(CASK_SUM, x, (int[]){0}, -1, 0, &out), CASK_EINVAL);
  ck_assert_int_eq(cask_reduce(CASK_REDUCTION_COUNT, x, NULL, 0, 0, &out), CASK_EINVAL);
  ck_assert_int_eq(cask_reduce(CASK_SUM, x, NULL, 2, 0, &out), CASK_EINVAL);
  cleanup();
}
END_TEST

START_TEST(min_and_max_of_an_empty_axis_are_refused) {
  cask_ctx *ctx = ctx_new(1, 0);
  cask_array *e = full(ctx, 1, 2, (int64_t[]){3, 0}, NULL), *out = e;
  ck_assert_int_eq(cask_reduce(CASK_MIN, e, (int[]){1}, 1, 0, &out), CASK_EINVAL);
  ck_assert_ptr_null(out);
  expect_msg(ctx, "empty");
  ck_assert_int_eq(cask_reduce(CASK_MAX, e, NULL, 0, 0, &out), CASK_EINVAL);
  expect_msg(ctx, "empty");
  ck_assert_int_eq(cask_reduce(CASK_MIN, e, (int[]){-1, 0}, 2, 0, &out), CASK_EINVAL);
  /* min over the non-empty axis is fine (an empty result) */
  expect_shape(red(CASK_MIN, e, (int[]){0}, 1, 0), 1, (int64_t[]){0}, NULL);
  cleanup();
}
END_TEST

START_TEST(compute_with_a_wrong_buffer_size_names_the_shape) {
  cask_ctx *ctx = ctx_new(1, 0);
  cask_array *x = full(ctx, 1, 3, (int64_t[]){7, 5, 3}, NULL);
  double buf[106];
  ck_assert_int_eq(cask_compute(x, buf, 104 * sizeof(double)), CASK_EINVAL);
  expect_msg(ctx, "(7, 5, 3)");
  ck_assert_int_eq(cask_compute(x, buf, sizeof buf), CASK_EINVAL);
  expect_msg(ctx, "(7, 5, 3)");
  ck_assert_int_eq(cask_compute(x, NULL, 105 * sizeof(double)), CASK_EINVAL);
  ck_assert_int_eq(cask_compute(x, buf, 105 * sizeof(double)), CASK_OK);
  double v;
  ck_assert_int_eq(cask_compute_scalar(x, &v), CASK_EINVAL);
  expect_msg(ctx, "(7, 5, 3)");
  cleanup();
}
END_TEST

START_TEST(null_and_invalid_arguments_are_einval) {
  cask_ctx *ctx = ctx_new(1, 0), *bad_ctx = (cask_ctx *)1;
  ck_assert_int_eq(cask_ctx_new(NULL, NULL), CASK_EINVAL);
  ck_assert_int_eq(cask_ctx_new(&(cask_options){.threads = 1, .split_every = 1, .chunk_bytes = 0}, &bad_ctx), CASK_EINVAL);
  ck_assert_ptr_null(bad_ctx);
  ck_assert_int_eq(cask_ctx_new(&(cask_options){.threads = 1, .split_every = -2, .chunk_bytes = 0}, &bad_ctx), CASK_EINVAL);
  ck_assert_str_eq(cask_ctx_errmsg(NULL), "");
  const int64_t sh[2] = {3, 4};
  cask_array *x = full(ctx, 1, 2, sh, NULL), *out = x;
  ck_assert_int_eq(cask_full(NULL, CASK_F64, 1, 2, sh, NULL, &out), CASK_EINVAL);
  ck_assert_ptr_null(out);
  ck_assert_int_eq(cask_full(ctx, CASK_F64, 1, 2, sh, NULL, NULL), CASK_EINVAL);
  ck_assert_int_eq(cask_full(ctx, CASK_F64, 1, 2, NULL, NULL, &out), CASK_EINVAL);
  ck_assert_int_eq(cask_full(ctx, CASK_F64, 1, -1, sh, NULL, &out), CASK_EINVAL);
  ck_assert_int_eq(cask_full(ctx, CASK_F64, 1, CASK_MAX_NDIM + 1, sh, NULL, &out), CASK_EINVAL);
  ck_assert_int_eq(cask_full(ctx, CASK_F64, 1, 2, (int64_t[]){3, -4}, NULL, &out), CASK_EINVAL);
  ck_assert_int_eq(cask_full(ctx, CASK_F64, 1, 2, sh, (int64_t[]){1, -1}, &out), CASK_EINVAL);
  ck_assert_int_eq(cask_zeros(NULL, CASK_F64, 2, sh, NULL, &out), CASK_EINVAL);
  ck_assert_int_eq(cask_ones(ctx, CASK_F64, 2, sh, NULL, NULL), CASK_EINVAL);
  ck_assert_int_eq(cask_arange(ctx, CASK_F64, 0, 1, 0, 0, &out), CASK_EINVAL);
  ck_assert_int_eq(cask_arange(ctx, CASK_F64, 0, 1, NAN, 0, &out), CASK_EINVAL);
  ck_assert_int_eq(cask_arange(ctx, CASK_F64, NAN, 1, 1, 0, &out), CASK_EINVAL);
  ck_assert_int_eq(cask_arange(ctx, CASK_F64, 0, 1, 1, 0, NULL), CASK_EINVAL);
  ck_assert_int_eq(cask_arange(NULL, CASK_F64, 0, 1, 1, 0, &out), CASK_EINVAL);
  ck_assert_int_eq(cask_random_uniform(NULL, 1, CASK_F64, 2, sh, NULL, &out), CASK_EINVAL);
  ck_assert_int_eq(cask_random_normal(ctx, 1, CASK_F64, 2, sh, NULL, NULL), CASK_EINVAL);
  ck_assert_int_eq(cask_from_buffer(ctx, NULL, CASK_F64, 2, sh, NULL, NULL, NULL, &out), CASK_EINVAL);
  ck_assert_int_eq(cask_binary(CASK_ADD, NULL, x, &out), CASK_EINVAL);
  ck_assert_int_eq(cask_binary(CASK_ADD, x, NULL, &out), CASK_EINVAL);
  ck_assert_int_eq(cask_binary(CASK_ADD, x, x, NULL), CASK_EINVAL);
  ck_assert_int_eq(cask_binary(CASK_BINOP_COUNT, x, x, &out), CASK_EINVAL);
  ck_assert_int_eq(cask_binary((cask_binop)-1, x, x, &out), CASK_EINVAL);
  ck_assert_int_eq(cask_binary_scalar(CASK_ADD, NULL, 1, 0, &out), CASK_EINVAL);
  ck_assert_int_eq(cask_binary_scalar(CASK_BINOP_COUNT, x, 1, 0, &out), CASK_EINVAL);
  ck_assert_int_eq(cask_binary_scalar(CASK_ADD, x, 1, 0, NULL), CASK_EINVAL);
  ck_assert_int_eq(cask_unary(CASK_SIN, NULL, &out), CASK_EINVAL);
  ck_assert_int_eq(cask_unary(CASK_UNOP_COUNT, x, &out), CASK_EINVAL);
  ck_assert_int_eq(cask_unary(CASK_SIN, x, NULL), CASK_EINVAL);
  ck_assert_int_eq(cask_reduce(CASK_SUM, NULL, NULL, 0, 0, &out), CASK_EINVAL);
  ck_assert_int_eq(cask_reduce(CASK_SUM, x, NULL, 0, 0, NULL), CASK_EINVAL);
  ck_assert_ptr_null(out);
  double v;
  ck_assert_int_eq(cask_compute(NULL, &v, sizeof v), CASK_EINVAL);
  ck_assert_int_eq(cask_compute_scalar(NULL, &v), CASK_EINVAL);
  ck_assert_int_eq(cask_compute_scalar(x, NULL), CASK_EINVAL);
  cask_graph *g = (cask_graph *)1;
  ck_assert_int_eq(cask_array_graph(NULL, &g), CASK_EINVAL);
  ck_assert_int_eq(cask_array_graph(x, NULL), CASK_EINVAL);
  /* arrays of two contexts do not mix */
  cask_ctx *other = ctx_new(1, 0);
  cask_array *y = full(other, 1, 2, sh, NULL);
  ck_assert_int_eq(cask_binary(CASK_ADD, x, y, &out), CASK_EINVAL);
  ck_assert_ptr_null(out);
  /* accessors of NULL, and releasing NULL */
  ck_assert_int_eq(cask_array_ndim(NULL), 0);
  ck_assert_ptr_null(cask_array_shape(NULL));
  ck_assert_int_eq(cask_array_size(NULL), 0);
  ck_assert_ptr_null(cask_array_retain(NULL));
  cask_array_release(NULL);
  cask_ctx_free(NULL);
  cleanup();
}
END_TEST

/* ======================================================================
 * Limits: expressions a NumPy user writes that must still compute
 * ====================================================================== */

START_TEST(an_elementwise_chain_of_200_operations_computes) {
  cask_ctx *ctx = ctx_new(2, 0);
  cask_array *x = rnorm(ctx, 100, 1, (int64_t[]){50}, (int64_t[]){20}), *r = x;
  for (int i = 0; i < 200; i++) r = i % 2 ? bsc(CASK_MUL, r, 0.999, 0) : bsc(CASK_ADD, r, 0.01, 0);
  double *xv = fetch(x), want[50];
  for (int k = 0; k < 50; k++) {
    double v = xv[k];
    for (int i = 0; i < 200; i++) v = i % 2 ? v * 0.999 : v + 0.01;
    want[k] = v;
  }
  int64_t n = cask_array_size(r);
  double *got = scratch(n);
  int rc = cask_compute(r, got, (size_t)n * sizeof *got);
  ck_assert_msg(rc == CASK_OK, "200 chained operations: %s (%s)", cask_err_name(rc), cask_ctx_errmsg(ctx));
  expect_bits(got, want, 50, "200 chained operations");
  cleanup();
}
END_TEST

START_TEST(a_sum_of_40_distinct_arrays_computes) {
  cask_ctx *ctx = ctx_new(2, 0);
  const int64_t sh[1] = {30}, ch[1] = {7};
  cask_array *r = NULL;
  double want[30] = {0};
  for (int k = 0; k < 40; k++) {
    cask_array *x = runif(ctx, 200 + (uint64_t)k, 1, sh, ch);
    double *xv = fetch(x);
    for (int i = 0; i < 30; i++) want[i] = k ? want[i] + xv[i] : xv[i];
    r = k ? bin(CASK_ADD, r, x) : x;
  }
  double got[30];
  int rc = cask_compute(r, got, sizeof got);
  ck_assert_msg(rc == CASK_OK, "40 inputs: %s (%s)", cask_err_name(rc), cask_ctx_errmsg(ctx));
  expect_bits(got, want, 30, "sum of 40 arrays");
  cleanup();
}
END_TEST

/* Newton's iteration for sqrt(a): x = 0.5 * (x + a / x). x is used twice per
 * step, so the expression is a DAG of 3 * 40 nodes whose tree has about
 * 2^40 leaves. */
START_TEST(newton_iteration_reusing_x_forty_times_computes) {
  cask_ctx *ctx = ctx_new(2, 0);
  cask_array *a = bsc(CASK_ADD, runif(ctx, 300, 1, (int64_t[]){10}, NULL), 1.0, 0), *x = a;
  for (int i = 0; i < 40; i++) x = bsc(CASK_MUL, bin(CASK_ADD, x, bin(CASK_DIV, a, x)), 0.5, 0);
  double *av = fetch(a), got[10], want[10];
  for (int k = 0; k < 10; k++) {
    double v = av[k];
    for (int i = 0; i < 40; i++) v = 0.5 * (v + av[k] / v);
    want[k] = v;
  }
  int rc = cask_compute(x, got, sizeof got);
  ck_assert_msg(rc == CASK_OK, "40 Newton steps: %s (%s)", cask_err_name(rc), cask_ctx_errmsg(ctx));
  expect_bits(got, want, 10, "40 Newton steps");
  cleanup();
}
END_TEST

/* Two threads, each with its own context (what the header allows). */
typedef struct ctx_worker {
  uint64_t seed;
  int rounds, failures;
  double first;
} ctx_worker;

static void *run_own_context(void *arg) {
  ctx_worker *w = arg;
  for (int r = 0; r < w->rounds; r++) {
    cask_ctx *ctx = NULL;
    cask_array *x = NULL, *s = NULL;
    double v = NAN;
    int rc = cask_ctx_new(&(cask_options){.threads = 2, .split_every = 0, .chunk_bytes = 0}, &ctx);
    if (!rc) rc = cask_random_normal(ctx, w->seed, CASK_F64, 2, (int64_t[]){64, 64}, (int64_t[]){16, 16}, &x);
    if (!rc) rc = cask_reduce(CASK_SUM, x, NULL, 0, 0, &s);
    if (!rc) rc = cask_compute_scalar(s, &v);
    if (r == 0) w->first = v;
    w->failures += rc != CASK_OK || memcmp(&v, &w->first, sizeof v) != 0;
    cask_array_release(s);
    cask_array_release(x);
    cask_ctx_free(ctx);
  }
  return NULL;
}

START_TEST(contexts_on_two_threads_compute_independently) {
  ctx_worker w[2] = {{1, SANITIZED ? 10 : 40, 0, 0}, {2, SANITIZED ? 10 : 40, 0, 0}};
  pthread_t t[2];
  for (int i = 0; i < 2; i++) ck_assert_int_eq(pthread_create(&t[i], NULL, run_own_context, &w[i]), 0);
  for (int i = 0; i < 2; i++) pthread_join(t[i], NULL);
  for (int i = 0; i < 2; i++) {
    ck_assert_msg(w[i].failures == 0, "thread %d: %d of %d rounds failed or differed", i, w[i].failures, w[i].rounds);
    double want, scale, xv[4096];
    cask__philox_normal(w[i].seed, 0, 1, 4096, xv);
    ref_reduce(CASK_SUM, xv, 2, (int64_t[]){64, 64}, 3u, 0, &want, &scale);
    ck_assert_msg(near(w[i].first, want, 0, 1e-12 * scale), "thread %d: sum %.17g, want %.17g", i, w[i].first, want);
  }
}
END_TEST

/* ======================================================================
 * NumPy interop (driven by tests/array_numpy_check.py)
 *
 * Files are "CASKF64\0", int64 ndim, int64 shape[ndim], then the values as
 * float64, C order, all little-endian: a header numpy.fromfile reads too.
 * ====================================================================== */

static double *read_raw(const char *dir, const char *name, int *nd, int64_t *shape) {
  char path[1024];
  snprintf(path, sizeof path, "%s/%s.f64", dir, name);
  FILE *f = fopen(path, "rb");
  ck_assert_msg(f != NULL, "%s: %s", path, strerror(errno));
  char magic[8];
  int64_t n64;
  ck_assert_msg(fread(magic, 1, 8, f) == 8 && memcmp(magic, "CASKF64", 8) == 0, "%s: not a CASKF64 file", path);
  ck_assert(fread(&n64, sizeof n64, 1, f) == 1 && n64 >= 0 && n64 <= CASK_MAX_NDIM);
  *nd = (int)n64;
  ck_assert(fread(shape, sizeof *shape, (size_t)*nd, f) == (size_t)*nd);
  int64_t n = prod(*nd, shape);
  double *d = scratch(n);
  ck_assert_msg(fread(d, sizeof *d, (size_t)n, f) == (size_t)n, "%s: short file", path);
  fclose(f);
  return d;
}

static void write_raw(const char *dir, const char *name, cask_array *a) {
  double *d = fetch(a);
  char path[1024];
  snprintf(path, sizeof path, "%s/out_%s.f64", dir, name);
  FILE *f = fopen(path, "wb");
  ck_assert_msg(f != NULL, "%s: %s", path, strerror(errno));
  int64_t nd = cask_array_ndim(a);
  fwrite("CASKF64", 1, 8, f);
  fwrite(&nd, sizeof nd, 1, f);
  fwrite(cask_array_shape(a), sizeof(int64_t), (size_t)nd, f);
  size_t n = (size_t)cask_array_size(a);
  ck_assert_msg(fwrite(d, sizeof *d, n, f) == n && fclose(f) == 0, "%s: write failed", path);
}

static cask_array *read_input(cask_ctx *ctx, const char *dir, const char *name, const int64_t *chunks) {
  int nd;
  int64_t shape[CASK_MAX_NDIM];
  double *d = read_raw(dir, name, &nd, shape);
  return wrap(ctx, d, nd, shape, chunks);
}

START_TEST(numpy_computes_the_same_as_cask) {
  const char *dir = getenv("CASK_NUMPY_DIR");
  if (!dir || !*dir) return; /* run by tests/array_numpy_check.py */
  cask_ctx *ctx = ctx_new(2, 0);
  const int64_t ch3[3] = {4, 3, 2}, ch2[2] = {3, 2};
  /* a: normal (6, 7, 5); b: normal (7, 5); c: positive (6, 7, 5);
   * u: in [-1, 1] (6, 7, 5); n: (7, 5) with NaNs */
  cask_array *a = read_input(ctx, dir, "a", ch3), *b = read_input(ctx, dir, "b", ch2);
  cask_array *c = read_input(ctx, dir, "c", ch3), *u = read_input(ctx, dir, "u", ch3);
  cask_array *n = read_input(ctx, dir, "n", ch2);
  write_raw(dir, "add", bin(CASK_ADD, a, b));
  write_raw(dir, "sub_rev", bsc(CASK_SUB, a, 2.5, 1));
  write_raw(dir, "div_rev", bsc(CASK_DIV, c, 3.0, 1));
  write_raw(dir, "pow", bsc(CASK_POW, c, 1.5, 0));
  write_raw(dir, "rpow", bsc(CASK_POW, a, 1.5, 1));
  write_raw(dir, "expr", bin(CASK_SUB, bin(CASK_ADD, bsc(CASK_MUL, a, 2, 1), bin(CASK_MUL, bsc(CASK_MUL, b, 3, 1), b)),
                             un(CASK_SIN, a)));
  write_raw(dir, "maximum", bin(CASK_MAXIMUM, a, n));
  write_raw(dir, "minimum", bin(CASK_MINIMUM, n, a));
  write_raw(dir, "arctan2", bin(CASK_ARCTAN2, a, b));
  static const char *const unames[] = {"negative", "abs",   "sqrt",   "exp",    "expm1",  "log",  "log1p",
                                       "log2",     "log10", "sin",    "cos",    "tan",    "arcsin", "arccos",
                                       "arctan",   "sinh",  "cosh",   "tanh",   "floor",  "ceil"};
  for (int op = 0; op <= CASK_CEIL; op++) {
    int positive = op == CASK_SQRT || op == CASK_LOG || op == CASK_LOG1P || op == CASK_LOG2 || op == CASK_LOG10;
    int unit = op == CASK_ARCSIN || op == CASK_ARCCOS;
    write_raw(dir, unames[op], un(op, positive ? c : unit ? u : a));
  }
  write_raw(dir, "sum_all", red(CASK_SUM, a, NULL, 0, 0));
  write_raw(dir, "sum_0", red(CASK_SUM, a, (int[]){0}, 1, 0));
  write_raw(dir, "sum_02", red(CASK_SUM, a, (int[]){0, 2}, 2, 0));
  write_raw(dir, "sum_neg1", red(CASK_SUM, a, (int[]){-1}, 1, 0));
  write_raw(dir, "mean_1", red(CASK_MEAN, a, (int[]){1}, 1, 0));
  write_raw(dir, "var_01_ddof1", red(CASK_VAR, a, (int[]){0, 1}, 2, 1));
  write_raw(dir, "std_2", red(CASK_STD, a, (int[]){2}, 1, 0));
  write_raw(dir, "min_2", red(CASK_MIN, a, (int[]){2}, 1, 0));
  write_raw(dir, "max_all", red(CASK_MAX, a, NULL, 0, 0));
  write_raw(dir, "max_n_0", red(CASK_MAX, n, (int[]){0}, 1, 0));
  write_raw(dir, "min_n_all", red(CASK_MIN, n, NULL, 0, 0));
  write_raw(dir, "sum_n_1", red(CASK_SUM, n, (int[]){1}, 1, 0));
  write_raw(dir, "sum_ab", red(CASK_SUM, bin(CASK_MUL, a, b), NULL, 0, 0));
  write_raw(dir, "mean_of_sum", red(CASK_MEAN, red(CASK_SUM, a, (int[]){0}, 1, 0), NULL, 0, 0));
  write_raw(dir, "centered", bin(CASK_SUB, a, red(CASK_MEAN, a, (int[]){0}, 1, 0)));
  cask_array *r = NULL;
  expect_ok(cask_arange(ctx, CASK_F64, 0.5, 7.3, 0.35, 4, &r), "arange");
  write_raw(dir, "arange", kept(CASK_OK, r, "arange"));
  cleanup();
}
END_TEST

/* ---- expression strings ------------------------------------------------ */

static cask_array *eval2(cask_ctx *c, const char *expr, cask_array *a, cask_array *b) {
  static const char *const names[] = {"a", "b"};
  cask_array *vals[] = {a, b}, *out = NULL;
  int rc = cask_eval(c, expr, names, vals, 2, &out);
  return kept(rc, out, expr);
}

START_TEST(eval_builds_the_same_nodes_as_the_calls) {
  cask_ctx *c = ctx_new(2, 0);
  int64_t n = 5000, ch = 1200;
  cask_array *a = runif(c, 11, 1, &n, &ch), *b = rnorm(c, 12, 1, &n, &ch);
  cask_array *e = eval2(c, "2*a + 3*b*b - sin(a)", a, b);
  /* The same expression through the calls, operand for operand. */
  cask_array *t1 = NULL, *t2 = NULL, *t3 = NULL, *t4 = NULL, *t5 = NULL, *t6 = NULL;
  int rc = cask_binary_scalar(CASK_MUL, a, 2, 1, &t1);
  kept(rc, t1, "2*a");
  rc = cask_binary_scalar(CASK_MUL, b, 3, 1, &t2);
  kept(rc, t2, "3*b");
  rc = cask_binary(CASK_MUL, t2, b, &t3);
  kept(rc, t3, "3*b*b");
  rc = cask_binary(CASK_ADD, t1, t3, &t4);
  kept(rc, t4, "2*a + 3*b*b");
  rc = cask_unary(CASK_SIN, a, &t5);
  kept(rc, t5, "sin(a)");
  rc = cask_binary(CASK_SUB, t4, t5, &t6);
  kept(rc, t6, "... - sin(a)");
  double *x = scratch(n), *y = scratch(n);
  expect_ok(cask_compute(e, x, (size_t)n * 8), "compute eval");
  expect_ok(cask_compute(t6, y, (size_t)n * 8), "compute calls");
  ck_assert_msg(memcmp(x, y, (size_t)n * 8) == 0, "eval and calls differ");
  /* Same nodes, same tokens: the graphs are the same size. */
  cask_graph *g1, *g2;
  expect_ok(cask_array_graph(e, &g1), "graph eval");
  expect_ok(cask_array_graph(t6, &g2), "graph calls");
  ck_assert_uint_eq(cask_graph_size(g1), cask_graph_size(g2));
  ck_assert_str_eq(cask_graph_key(g1, 0), cask_graph_key(g2, 0));
  cask_graph_free(g1);
  cask_graph_free(g2);
  cleanup();
}
END_TEST

START_TEST(eval_follows_pythons_precedence_and_associativity) {
  cask_ctx *c = ctx_new(1, 0);
  int64_t n = 257;
  cask_array *a = runif(c, 3, 1, &n, NULL), *b = rnorm(c, 4, 1, &n, NULL);
  double *av = scratch(n), *bv = scratch(n), *r = scratch(n);
  expect_ok(cask_compute(a, av, (size_t)n * 8), "a");
  expect_ok(cask_compute(b, bv, (size_t)n * 8), "b");
  static const char *const exprs[] = {"-a**2", "a - b - a", "a / b / 2", "2**3**2 * a", "-(a + b) * +b",
                                      "2**-1*a", "(((a)))", "1e-3 * a + .5", "maximum(a, -b) ** 2"};
  for (size_t k = 0; k < sizeof exprs / sizeof exprs[0]; k++) {
    cask_array *e = eval2(c, exprs[k], a, b);
    expect_ok(cask_compute(e, r, (size_t)n * 8), exprs[k]);
    for (int64_t i = 0; i < n; i++) {
      double x = av[i], y = bv[i], want = 0;
      switch (k) {
      case 0: want = -(x * x); break;
      case 1: want = (x - y) - x; break;
      case 2: want = (x / y) / 2; break;
      case 3: want = 512 * x; break;
      case 4: want = -(x + y) * y; break;
      case 5: want = 0.5 * x; break;
      case 6: want = x; break;
      case 7: want = 1e-3 * x + .5; break;
      case 8: want = (x > -y ? x : -y) * (x > -y ? x : -y); break;
      }
      /* '**' on arrays is glibc's vector pow (within 4 ulp); everything
       * else here is exact IEEE arithmetic. */
      double tol = (k == 0 || k == 8) ? 4 * 0x1p-52 * fabs(want) : 0;
      ck_assert_msg(fabs(r[i] - want) <= tol, "%s at %lld: %.17g, want %.17g", exprs[k], (long long)i, r[i],
                    want);
    }
  }
  cleanup();
}
END_TEST

START_TEST(eval_errors_name_the_column) {
  cask_ctx *c = ctx_new(1, 0);
  int64_t n = 4;
  cask_array *a = runif(c, 1, 1, &n, NULL), *b = runif(c, 2, 1, &n, NULL);
  static const struct {
    const char *expr, *column, *what;
  } bad[] = {{"a +", "column 4:", "ends too early"},
             {"a + c", "column 5:", "unknown name 'c'"},
             {"sin(a, b)", "column 6:", "expected ')'"},
             {"foo(a)", "column 1:", "unknown function 'foo'"},
             {"(a", "column 3:", "expected ')'"},
             {"1a", "column 2:", "runs into a name"},
             {"a < ", "column 5:", "ends too early"},
             {"clip(a, b, 1)", "column 1:", "bounds must be numbers"},
             {"where(a, b)", "column 11:", "expected ','"},
             {"a b", "column 3:", "unexpected text"},
             {"maximum(a)", "column 10:", "expected ','"},
             {"", "column 1:", "ends too early"}};
  static const char *const names[] = {"a", "b"};
  cask_array *vals[] = {a, b};
  for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
    cask_array *out = (cask_array *)1;
    ck_assert_int_eq(cask_eval(c, bad[k].expr, names, vals, 2, &out), CASK_EINVAL);
    ck_assert_msg(out == NULL, "'%s': *out not NULL", bad[k].expr);
    const char *m = cask_ctx_errmsg(c);
    ck_assert_msg(strstr(m, bad[k].column) && strstr(m, bad[k].what), "'%s' gave: %s", bad[k].expr, m);
  }
  /* A variable name table with a NULL array, and a shape mismatch inside. */
  int64_t n3 = 3;
  cask_array *d = runif(c, 9, 1, &n3, NULL);
  cask_array *vals2[] = {a, d}, *out = NULL;
  ck_assert_int_eq(cask_eval(c, "a + b", names, vals2, 2, &out), CASK_EINVAL);
  ck_assert_msg(strstr(cask_ctx_errmsg(c), "column 3:") && strstr(cask_ctx_errmsg(c), "(4,) and (3,)"), "%s",
                cask_ctx_errmsg(c));
  cleanup();
}
END_TEST

/* Regression: a chain of thousands of operations lowered one kernel per
 * operation, recursing until the stack overflowed; a doubling DAG (x = x + x)
 * made a kernel with more leaves than registers, which the argument check
 * refused. */
START_TEST(long_chains_and_doubling_dags_compute_and_depth_is_limited) {
  cask_ctx *c = ctx_new(2, 0);
  int64_t n = 3000, ch = 700;
  cask_array *x = runif(c, 5, 1, &n, &ch);
  double *xv = scratch(n), *r = scratch(n);
  expect_ok(cask_compute(x, xv, (size_t)n * 8), "x");
  cask_array *a = cask_array_retain(x), *t = NULL;
  for (int i = 0; i < 4000; i++) {
    expect_ok(cask_binary_scalar(CASK_ADD, a, 1.0, 0, &t), "a + 1");
    cask_array_release(a);
    a = t;
  }
  kept(CASK_OK, a, "chain");
  expect_ok(cask_compute(a, r, (size_t)n * 8), "chain of 4000");
  for (int64_t i = 0; i < n; i++) ck_assert_msg(fabs(r[i] - (xv[i] + 4000)) < 1e-9, "chain at %lld", (long long)i);
  /* Past the depth limit the operation is refused, not the computation. */
  cask_array *b = cask_array_retain(a);
  int rc = CASK_OK;
  for (int i = 0; i < 200 && rc == CASK_OK; i++) {
    rc = cask_binary_scalar(CASK_ADD, b, 1.0, 0, &t);
    if (rc == CASK_OK) {
      cask_array_release(b);
      b = t;
    }
  }
  cask_array_release(b);
  ck_assert_int_eq(rc, CASK_ETOOBIG);
  ck_assert_msg(strstr(cask_ctx_errmsg(c), "deep"), "%s", cask_ctx_errmsg(c));
  cask_array *d = cask_array_retain(x);
  for (int i = 0; i < 60; i++) {
    expect_ok(cask_binary(CASK_ADD, d, d, &t), "d + d");
    cask_array_release(d);
    d = t;
  }
  kept(CASK_OK, d, "doubling");
  expect_ok(cask_compute(d, r, (size_t)n * 8), "doubling 60 times");
  for (int64_t i = 0; i < n; i++) ck_assert_msg(r[i] == ldexp(xv[i], 60), "doubling at %lld", (long long)i);
  cleanup();
}
END_TEST

/* sum(zeros(10^8)) in chunks of 1 ran 18 s and 5 GB before a bare "size
 * limit exceeded": the task count is checked before anything is built, and
 * the message names the limit and chunks that fit. */
START_TEST(regress_graph_too_big_fails_after_seconds_with_a_bare_message) {
  cask_ctx *ctx = ctx_new(1, 0);
  int64_t n = 100000000, one = 1, ok = 1000000;
  cask_array *x, *s, *y;
  ck_assert_int_eq(cask_zeros(ctx, CASK_F64, 1, &n, &one, &x), CASK_OK);
  ck_assert_int_eq(cask_reduce(CASK_SUM, x, NULL, 0, 0, &s), CASK_OK);
  double v;
  ck_assert_int_eq(cask_compute_scalar(s, &v), CASK_ETOOBIG);
  const char *msg = cask_ctx_errmsg(ctx);
  ck_assert_msg(strstr(msg, "(100000000,)") && strstr(msg, "chunks (1,)") && strstr(msg, "8388608") &&
                    strstr(msg, "use larger chunks"),
                "%s", msg);
  cask_graph *g = NULL;
  ck_assert_int_eq(cask_array_graph(x, &g), CASK_ETOOBIG); /* the array itself */
  ck_assert_ptr_null(g);
  /* a slice of it needs few blocks: fine */
  ck_assert_int_eq(cask_slice(x, 1, &CASK_SLICE(0, 5, 1), &y), CASK_OK);
  double five[5] = {1};
  ck_assert_int_eq(cask_compute(y, five, sizeof five), CASK_OK);
  ck_assert(five[0] == 0 && five[4] == 0);
  cask_array_release(y);
  cask_array_release(s);
  cask_array_release(x);
  /* the chunks the message suggests are accepted */
  ck_assert_int_eq(cask_zeros(ctx, CASK_F64, 1, &n, &ok, &x), CASK_OK);
  ck_assert_int_eq(cask_array_graph(x, &g), CASK_OK);
  cask_graph_free(g);
  cask_array_release(x);
  cask_ctx_free(ctx);
}
END_TEST

/* cask_ctx_new's failures have a message although there is no context:
 * the README's example printed an empty line and exited 0. */
START_TEST(ctx_creation_errors_have_a_message) {
  cask_ctx *ctx = (cask_ctx *)1;
  ck_assert_int_eq(cask_ctx_new(&(cask_options){.split_every = 1}, &ctx), CASK_EINVAL);
  ck_assert_ptr_null(ctx);
  ck_assert_msg(strstr(cask_create_errmsg(), "split_every 1"), "%s", cask_create_errmsg());
  setenv("CASK_NUM_THREADS", "abc", 1);
  ck_assert_int_eq(cask_ctx_new(NULL, &ctx), CASK_EINVAL);
  unsetenv("CASK_NUM_THREADS");
  ck_assert_msg(strstr(cask_create_errmsg(), "CASK_NUM_THREADS='abc'"), "%s", cask_create_errmsg());
  ck_assert_int_eq(cask_ctx_new(NULL, &ctx), CASK_OK);
  ck_assert_str_eq(cask_create_errmsg(), "");
  /* every failing call leaves its own message */
  cask_array *x, *r = NULL;
  ck_assert_int_eq(cask_zeros(ctx, CASK_F64, 1, (int64_t[]){-3}, NULL, &x), CASK_EINVAL);
  ck_assert_msg(strstr(cask_ctx_errmsg(ctx), "zeros: the extent of axis 0 is -3"), "%s", cask_ctx_errmsg(ctx));
  ck_assert_int_eq(cask_ones(ctx, CASK_F64, 1, (int64_t[]){4}, NULL, &x), CASK_OK);
  ck_assert_int_eq(cask_reduce(CASK_SUM, x, (int[]){5}, 1, 0, &r), CASK_EINVAL); /* a first message */
  ck_assert_int_eq(cask_reduce(CASK_VAR, x, NULL, 0, -1, &r), CASK_EINVAL);
  ck_assert_msg(strstr(cask_ctx_errmsg(ctx), "var: ddof -1 is negative"), "%s", cask_ctx_errmsg(ctx));
  ck_assert_int_eq(cask_reduce((cask_reduction)99, x, NULL, 0, 0, &r), CASK_EINVAL);
  ck_assert_msg(strstr(cask_ctx_errmsg(ctx), "99 is not a cask_reduction"), "%s", cask_ctx_errmsg(ctx));
  /* ddof >= n: NumPy's inf (and nan where nothing varies), never -nan */
  cask_array *a;
  double v;
  ck_assert_int_eq(cask_arange(ctx, CASK_F64, 0, 4, 1, 0, &a), CASK_OK);
  ck_assert_int_eq(cask_reduce(CASK_VAR, a, NULL, 0, 4, &r), CASK_OK);
  ck_assert_int_eq(cask_compute_scalar(r, &v), CASK_OK);
  ck_assert(isinf(v) && v > 0);
  cask_array_release(r);
  ck_assert_int_eq(cask_reduce(CASK_STD, a, NULL, 0, 6, &r), CASK_OK);
  ck_assert_int_eq(cask_compute_scalar(r, &v), CASK_OK);
  ck_assert(isinf(v) && v > 0);
  cask_array_release(r);
  ck_assert_int_eq(cask_reduce(CASK_VAR, x, NULL, 0, 4, &r), CASK_OK);
  ck_assert_int_eq(cask_compute_scalar(r, &v), CASK_OK);
  ck_assert(isnan(v));
  cask_array_release(r);
  cask_array_release(a);
  cask_array_release(x);
  cask_ctx_free(ctx);
}
END_TEST

/* An array used after cask_ctx_free crashed in cask_run: arrays hold their
 * context, which goes with the last of them. */
START_TEST(arrays_keep_their_context_alive_after_ctx_free) {
  cask_ctx *ctx;
  ck_assert_int_eq(cask_ctx_new(&(cask_options){.threads = 2}, &ctx), CASK_OK);
  cask_array *x, *y;
  ck_assert_int_eq(cask_arange(ctx, CASK_F64, 0, 1000, 1, 100, &x), CASK_OK);
  const char *names[] = {"x"};
  ck_assert_int_eq(cask_eval(ctx, "sum(x * 2)", names, &x, 1, &y), CASK_OK);
  cask_ctx_free(ctx); /* the arrays still hold it */
  double v;
  ck_assert_int_eq(cask_compute_scalar(y, &v), CASK_OK);
  ck_assert(v == 999000.0);
  cask_array_release(x);
  ck_assert_int_eq(cask_compute_scalar(y, &v), CASK_OK); /* y holds x and the context */
  cask_array_release(y); /* the context goes now (ASan checks nothing leaks) */
}
END_TEST

Suite *array_suite(void) {
  Suite *s = suite_create("array");
  TCase *tc = tcase_create("random");
  tcase_add_test(tc, philox_matches_random123_known_answers);
  tcase_add_test(tc, regress_graph_too_big_fails_after_seconds_with_a_bare_message);
  tcase_add_test(tc, ctx_creation_errors_have_a_message);
  tcase_add_test(tc, arrays_keep_their_context_alive_after_ctx_free);
  tcase_add_test(tc, uniform_value_depends_only_on_seed_and_index);
  tcase_add_test(tc, uniform_is_in_unit_interval_with_uniform_moments);
  tcase_add_test(tc, normal_has_zero_mean_unit_variance_and_is_finite);
  tcase_set_timeout(tc, 60);
  suite_add_tcase(s, tc);

  tc = tcase_create("create");
  tcase_add_test(tc, full_zeros_and_ones_fill_every_element_with_uneven_chunks);
  tcase_add_test(tc, arange_has_numpys_length_and_start_plus_i_step_values);
  tcase_add_test(tc, random_values_are_identical_for_any_chunking_and_thread_count);
  tcase_add_test(tc, from_buffer_round_trips_and_is_released_once_after_the_last_array);
  tcase_set_timeout(tc, 60);
  suite_add_tcase(s, tc);

  tc = tcase_create("elementwise");
  tcase_add_test(tc, every_unary_op_matches_libm_over_its_domain);
  tcase_add_test(tc, unary_ops_handle_zeros_infinities_nan_and_subnormals_as_libm);
  tcase_add_test(tc, every_binary_op_matches_c_arithmetic_and_libm);
  tcase_add_test(tc, power_and_arctan2_handle_signs_zeros_and_infinities_as_libm);
  tcase_add_test(tc, maximum_and_minimum_propagate_nan_from_either_side);
  tcase_add_test(tc, broadcasting_aligns_shapes_at_the_right_and_stretches_ones);
  tcase_add_test(tc, a_scalar_on_either_side_of_every_binary_op);
  tcase_add_test(tc, fused_expression_2a_plus_3bb_minus_sin_a_matches_the_loop);
  tcase_add_test(tc, expressions_of_twenty_and_more_operations_match_the_loop);
  tcase_add_test(tc, expressions_of_only_broadcast_scalars_compute);
  tcase_set_timeout(tc, 60);
  suite_add_tcase(s, tc);

  tc = tcase_create("reduce");
  tcase_add_test(tc, reductions_over_every_set_of_axes_match_loops);
  tcase_add_test(tc, negative_axes_name_the_same_axes_as_positive_ones);
  tcase_add_test(tc, var_and_std_divide_by_n_minus_ddof);
  tcase_add_test(tc, nan_propagates_through_sum_mean_min_max_var);
  tcase_add_test(tc, reductions_are_bit_identical_across_threads_and_runs);
  tcase_add_test(tc, split_every_changes_only_the_rounding);
  tcase_add_test(tc, sum_of_a_product_equals_the_loop);
  tcase_add_test(tc, reductions_of_broadcast_expressions_and_long_rows_match_the_loop);
  tcase_add_test(tc, reductions_of_reductions_match_the_loop);
  tcase_add_test(tc, subtracting_the_mean_broadcasts_a_reduction_back);
  tcase_add_test(tc, reductions_over_empty_axes_give_numpys_identities);
  tcase_add_test(tc, reduction_states_stay_inside_their_blocks);
  tcase_set_timeout(tc, 60);
  suite_add_tcase(s, tc);

  tc = tcase_create("graph");
  tcase_add_test(tc, the_same_expression_built_twice_lowers_to_the_same_tasks);
  tcase_add_test(tc, arrays_differing_in_chunks_scalars_values_or_seeds_share_no_blocks);
  tcase_add_test(tc, a_sum_lowers_to_partials_a_combine_fold_and_a_fused_finalize);
  tcase_add_test(tc, a_fold_of_many_blocks_runs_in_segments_of_sqrt_n_blocks);
  tcase_add_test(tc, a_graph_writes_to_json_and_runs_from_it_unless_it_reads_a_buffer);
  tcase_set_timeout(tc, 60);
  suite_add_tcase(s, tc);

  tc = tcase_create("errors");
  tcase_add_test(tc, broadcast_mismatch_is_refused_and_names_both_shapes);
  tcase_add_test(tc, different_chunks_on_a_shared_axis_are_rechunked);
  tcase_add_test(tc, bad_reduction_axes_are_refused_and_named);
  tcase_add_test(tc, min_and_max_of_an_empty_axis_are_refused);
  tcase_add_test(tc, compute_with_a_wrong_buffer_size_names_the_shape);
  tcase_add_test(tc, null_and_invalid_arguments_are_einval);
  suite_add_tcase(s, tc);

  tc = tcase_create("limits");
  tcase_add_test(tc, an_elementwise_chain_of_200_operations_computes);
  tcase_add_test(tc, a_sum_of_40_distinct_arrays_computes);
  tcase_add_test(tc, newton_iteration_reusing_x_forty_times_computes);
  tcase_add_test(tc, contexts_on_two_threads_compute_independently);
  tcase_set_timeout(tc, 10);
  suite_add_tcase(s, tc);

  tc = tcase_create("eval");
  tcase_add_test(tc, eval_builds_the_same_nodes_as_the_calls);
  tcase_add_test(tc, eval_follows_pythons_precedence_and_associativity);
  tcase_add_test(tc, eval_errors_name_the_column);
  tcase_add_test(tc, long_chains_and_doubling_dags_compute_and_depth_is_limited);
  tcase_set_timeout(tc, 60);
  suite_add_tcase(s, tc);

  tc = tcase_create("numpy");
  tcase_add_test(tc, numpy_computes_the_same_as_cask);
  tcase_set_timeout(tc, 60);
  suite_add_tcase(s, tc);
  return s;
}
