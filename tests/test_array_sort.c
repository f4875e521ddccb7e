/* test_array_sort.c - sorting and order statistics of the C API (sort,
 * argsort, topk, quantiles, medians, unique, bincount, histogram,
 * digitize, searchsorted) against plain loops over odd chunkings, along
 * every axis and flattened; the external merge of a 1-d array
 * bit-identical at 1, 2 and 4 threads and under a memory limit a quarter
 * of the array's size (its runs and pieces spilled, the peak within the
 * limit and two blocks); bad arguments refused
 * before anything runs. NumPy checks of the same functions through
 * expressions are in tests/sort_numpy_check.py. */
#include <check.h>
#include <math.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include "cask/cask.h"
#include "test-util.h"

static cask_ctx *new_ctx(int threads, uint64_t limit, const char *dir) {
  cask_options o = CASK_OPTIONS_DEFAULTS;
  o.threads = threads;
  o.memory_limit = limit;
  o.spill_dir = dir;
  cask_ctx *ctx;
  ck_assert_int_eq(cask_ctx_new(&o, &ctx), CASK_OK);
  return ctx;
}

/* NumPy's order: NaN last, -0.0 equal to 0.0. */
static int before(double a, double b) { return isnan(a) ? 0 : isnan(b) ? 1 : a < b; }

/* Stable sort of idx[0..n) by x[idx[i] * stride] (insertion: the tests are small). */
static void loop_argsort(const double *x, int64_t stride, int64_t n, int64_t *idx) {
  for (int64_t i = 0; i < n; i++) idx[i] = i;
  for (int64_t i = 1; i < n; i++)
    for (int64_t j = i; j > 0 && before(x[idx[j] * stride], x[idx[j - 1] * stride]); j--) {
      int64_t t = idx[j];
      idx[j] = idx[j - 1];
      idx[j - 1] = t;
    }
}

#define N0 5
#define N1 7
#define N2 3
static const int64_t SHAPE[3] = {N0, N1, N2};
static const int64_t CHUNKINGS[][3] = {{2, 3, 2}, {1, 1, 1}, {9, 9, 9}, {5, 2, 3}};
#define NCH (sizeof CHUNKINGS / sizeof CHUNKINGS[0])

START_TEST(sort_and_argsort_match_loops_along_every_axis) {
  cask_ctx *ctx = new_ctx(3, 0, NULL);
  static double x[N0 * N1 * N2], got[N0 * N1 * N2];
  static int64_t gi[N0 * N1 * N2], idx[N0 * N1 * N2];
  for (int k = 0; k < N0 * N1 * N2; k++) x[k] = k % 13 == 4 ? NAN : (double)((k * 37) % 11 - 4); /* ties */
  for (size_t c = 0; c < NCH; c++) {
    cask_array *a;
    ck_assert_int_eq(cask_from_buffer(ctx, x, CASK_F64, 3, SHAPE, CHUNKINGS[c], NULL, NULL, &a), CASK_OK);
    for (int ax = 0; ax < 3; ax++) {
      cask_array *s, *as;
      ck_assert_int_eq(cask_sort(a, &ax, &s), CASK_OK);
      ck_assert_int_eq(cask_argsort(a, &ax, &as), CASK_OK);
      ck_assert(!memcmp(cask_array_chunks(s), cask_array_chunks(a), sizeof CHUNKINGS[c])); /* chunked like the input */
      ck_assert_int_eq(cask_compute(s, got, sizeof got), CASK_OK);
      ck_assert_int_eq(cask_compute(as, gi, sizeof gi), CASK_OK);
      int64_t stride = 1, n = SHAPE[ax];
      for (int i = ax + 1; i < 3; i++) stride *= SHAPE[i];
      for (int64_t lane = 0; lane < N0 * N1 * N2 / n; lane++) {
        int64_t first = lane / stride * stride * n + lane % stride;
        loop_argsort(x + first, stride, n, idx);
        for (int64_t i = 0; i < n; i++) {
          double w = x[first + idx[i] * stride], g = got[first + i * stride];
          require(gi[first + i * stride] == idx[i], "argsort axis %d chunking %zu lane %lld at %lld: %lld, want %lld", ax, c,
                  (long long)lane, (long long)i, (long long)gi[first + i * stride], (long long)idx[i]);
          require(g == w || (isnan(g) && isnan(w)), "sort axis %d chunking %zu lane %lld at %lld", ax, c, (long long)lane,
                  (long long)i);
        }
      }
      cask_array_release(s);
      cask_array_release(as);
    }
    cask_array_release(a);
  }
  cask_ctx_free(ctx);
}
END_TEST

#define NL 20011
/* Values with many ties across blocks, NaNs and both zeros. */
static double long_value(int64_t k) {
  return k % 101 == 7 ? NAN : k % 53 == 3 ? -0.0 : (double)((k * 7919) % 613) - 300;
}

/* The stable order of long_value's values (integers in [-300, 312], NaN
 * last) by counting. */
static void counting_reference(const double *x, int64_t n, int64_t *idx) {
  int64_t at = 0;
  for (int v = -300; v <= 312; v++)
    for (int64_t k = 0; k < n; k++)
      if (x[k] == v) idx[at++] = k;
  for (int64_t k = 0; k < n; k++)
    if (isnan(x[k])) idx[at++] = k;
  ck_assert_int_eq(at, n);
}

/* One block of 10^5 elements: the radix sort's top-digit scatter, then
 * LSD passes per bucket. */
START_TEST(a_large_block_sorts_stably) {
  enum { NB = 100003 };
  static double x[NB], got[NB];
  static int64_t gi[NB], idx[NB];
  for (int64_t k = 0; k < NB; k++) x[k] = long_value(k);
  cask_ctx *ctx = new_ctx(2, 0, NULL);
  cask_array *a, *s, *as;
  ck_assert_int_eq(cask_from_buffer(ctx, x, CASK_F64, 1, (int64_t[]){NB}, NULL, NULL, NULL, &a), CASK_OK);
  ck_assert_int_eq(cask_sort(a, NULL, &s), CASK_OK);
  ck_assert_int_eq(cask_argsort(a, NULL, &as), CASK_OK);
  ck_assert_int_eq(cask_compute(s, got, sizeof got), CASK_OK);
  ck_assert_int_eq(cask_compute(as, gi, sizeof gi), CASK_OK);
  counting_reference(x, NB, idx);
  for (int64_t i = 0; i < NB; i++) {
    double w = x[idx[i]];
    require(gi[i] == idx[i], "argsort at %lld: %lld, want %lld", (long long)i, (long long)gi[i], (long long)idx[i]);
    require(got[i] == w || (isnan(got[i]) && isnan(w)), "sort at %lld: %g, want %g", (long long)i, got[i], w);
  }
  cask_array_release(s);
  cask_array_release(as);
  cask_array_release(a);
  cask_ctx_free(ctx);
}
END_TEST

START_TEST(external_merge_is_exact_and_bit_identical_at_any_thread_count) {
  static double x[NL], got[3][NL];
  static int64_t gi[3][NL], idx[NL];
  for (int64_t k = 0; k < NL; k++) x[k] = long_value(k);
  const int threads[3] = {1, 2, 4};
  for (int t = 0; t < 3; t++) {
    cask_ctx *ctx = new_ctx(threads[t], 0, NULL);
    cask_array *a, *s, *as;
    ck_assert_int_eq(cask_from_buffer(ctx, x, CASK_F64, 1, (int64_t[]){NL}, (int64_t[]){333}, NULL, NULL, &a), CASK_OK);
    ck_assert_int_eq(cask_sort(a, NULL, &s), CASK_OK);
    ck_assert_int_eq(cask_argsort(a, (int[]){0}, &as), CASK_OK);
    ck_assert_int_eq(cask_compute(s, got[t], sizeof got[t]), CASK_OK);
    ck_assert_int_eq(cask_compute(as, gi[t], sizeof gi[t]), CASK_OK);
    cask_array_release(s);
    cask_array_release(as);
    cask_array_release(a);
    cask_ctx_free(ctx);
  }
  counting_reference(x, NL, idx);
  for (int64_t i = 0; i < NL; i++) {
    double w = x[idx[i]];
    require(gi[0][i] == idx[i], "argsort at %lld: %lld, want %lld", (long long)i, (long long)gi[0][i], (long long)idx[i]);
    require(got[0][i] == w || (isnan(got[0][i]) && isnan(w)), "sort at %lld: %g, want %g", (long long)i, got[0][i], w);
  }
  for (int t = 1; t < 3; t++) {
    ck_assert(!memcmp(got[0], got[t], sizeof got[0]));
    ck_assert(!memcmp(gi[0], gi[t], sizeof gi[0]));
  }
}
END_TEST

/* Blocks of 200 KB, so that its pieces (25 KB) are above the size the
 * memory manager spills (4 KiB); a limit of two blocks. */
START_TEST(a_1d_sort_four_times_the_memory_limit_spills_and_is_exact) {
  char dir[256];
  test_tmpdir(dir, sizeof dir, "sortspill");
  int64_t n = 200000, chunk = 25000, limit = 400 << 10;
  cask_ctx *ctx = new_ctx(2, (uint64_t)limit, dir); /* the array is 1.6 MB */
  cask_array *a, *s;
  ck_assert_int_eq(cask_random_uniform(ctx, 7, CASK_F64, 1, &n, &chunk, &a), CASK_OK);
  ck_assert_int_eq(cask_sort(a, NULL, &s), CASK_OK);
  double *got = malloc((size_t)n * sizeof *got), *x = malloc((size_t)n * sizeof *x);
  ck_assert_int_eq(cask_compute(a, x, (size_t)n * sizeof *x), CASK_OK);
  ck_assert_int_eq(cask_compute(s, got, (size_t)n * sizeof *got), CASK_OK);
  cask_run_stats st;
  cask_runtime_last_stats(cask_ctx_runtime(ctx), &st);
  require(st.spilled_blocks > 0, "nothing spilled under a limit of a quarter of the array");
  /* a running merge holds its pieces (a block) and its output (a block) */
  require(st.peak_bytes <= (uint64_t)(limit + 2 * chunk * 8), "peak %llu for a limit of %lld",
          (unsigned long long)st.peak_bytes, (long long)limit);
  fprintf(stderr, "sort under a limit of %llu bytes: peak %llu bytes held, %llu blocks spilled (%llu bytes), %llu read back\n",
          (unsigned long long)st.memory_limit, (unsigned long long)st.peak_bytes, (unsigned long long)st.spilled_blocks,
          (unsigned long long)st.spilled_bytes, (unsigned long long)st.loaded_blocks);
  double sum_x = 0, sum_g = 0;
  for (int64_t i = 0; i < n; i++) {
    sum_x += x[i];
    sum_g += got[i];
    if (i) require(got[i - 1] <= got[i], "not sorted at %lld", (long long)i);
  }
  require(fabs(sum_x - sum_g) < 1e-6, "the sorted values are not the values");
  free(got);
  free(x);
  cask_array_release(s);
  cask_array_release(a);
  cask_ctx_free(ctx);
  rmdir(dir);
}
END_TEST

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

/* NumPy's linear quantile of sorted v[0..c) at q, float64 data. */
static double loop_quantile(const double *v, int64_t c, double q) {
  double vi = (double)(c - 1) * q, p = floor(vi);
  int64_t ip = (int64_t)p, in = ip + 1;
  if (vi >= (double)(c - 1)) ip = in = -1;
  double g = vi - (double)ip, a = v[ip < 0 ? c - 1 : ip], b = v[in < 0 ? c - 1 : in], d = b - a;
  return g >= 0.5 ? b - d * (1 - g) : a + d * g;
}

START_TEST(quantiles_and_medians_match_loops) {
  static double x[NL], sorted[NL];
  for (int64_t k = 0; k < NL; k++) x[k] = sin((double)k) * 100;
  memcpy(sorted, x, sizeof x);
  qsort(sorted, NL, sizeof sorted[0], cmp_double);
  cask_ctx *ctx = new_ctx(2, 0, NULL);
  const int64_t chunks[] = {NL, 1000, 4999};
  const double q[] = {0, 1, 33.3, 50, 99, 100};
  for (int c = 0; c < 3; c++) {
    cask_array *a, *r, *m;
    ck_assert_int_eq(cask_from_buffer(ctx, x, CASK_F64, 1, (int64_t[]){NL}, &chunks[c], NULL, NULL, &a), CASK_OK);
    ck_assert_int_eq(cask_quantile(a, q, 6, CASK_QUANTILE_PERCENT, NULL, &r), CASK_OK);
    ck_assert_int_eq(cask_median(a, NULL, CASK_QUANTILE_NAN, &m), CASK_OK);
    double got[6], med;
    ck_assert_int_eq(cask_compute(r, got, sizeof got), CASK_OK);
    ck_assert_int_eq(cask_compute_scalar(m, &med), CASK_OK);
    for (int i = 0; i < 6; i++) {
      double w = loop_quantile(sorted, NL, q[i] / 100);
      require(got[i] == w, "chunk %lld percentile %g: %.17g, want %.17g", (long long)chunks[c], q[i], got[i], w);
    }
    require(med == sorted[NL / 2], "chunk %lld median %.17g", (long long)chunks[c], med);
    cask_array_release(r);
    cask_array_release(m);
    cask_array_release(a);
  }
  cask_ctx_free(ctx);
}
END_TEST

START_TEST(topk_takes_the_ends_of_the_sort) {
  cask_ctx *ctx = new_ctx(2, 0, NULL);
  int32_t x[12] = {5, 1, 9, 3, 9, 0, -2, 7, 1, 8, 4, 6};
  cask_array *a, *t, *at;
  ck_assert_int_eq(cask_from_buffer(ctx, x, CASK_I32, 1, (int64_t[]){12}, (int64_t[]){5}, NULL, NULL, &a), CASK_OK);
  int32_t g[3];
  int64_t gi[3];
  ck_assert_int_eq(cask_topk(a, 3, 0, &t), CASK_OK);
  ck_assert_int_eq(cask_compute(t, g, sizeof g), CASK_OK);
  ck_assert(g[0] == 9 && g[1] == 9 && g[2] == 8);
  ck_assert_int_eq(cask_argtopk(a, -2, -1, &at), CASK_OK);
  ck_assert_int_eq(cask_compute(at, gi, 2 * sizeof gi[0]), CASK_OK);
  ck_assert(gi[0] == 6 && gi[1] == 5);
  cask_array_release(t);
  cask_array_release(at);
  ck_assert_int_eq(cask_topk(a, 13, 0, &t), CASK_EINVAL);
  ck_assert_ptr_null(t);
  ck_assert(strstr(cask_ctx_errmsg(ctx), "topk: k=13"));
  cask_array_release(a);
  /* topk is a reduction: 2500 blocks (more than the external merge takes) */
  static double y[5000], sorted[5000];
  for (int i = 0; i < 5000; i++) y[i] = i % 331 == 5 ? NAN : (double)((i * 7919) % 4001);
  memcpy(sorted, y, sizeof y);
  for (int i = 1; i < 5000; i++) /* NaN last: insertion on the order of before() */
    for (int j = i; j > 0 && before(sorted[j], sorted[j - 1]); j--) {
      double tmp = sorted[j];
      sorted[j] = sorted[j - 1];
      sorted[j - 1] = tmp;
    }
  ck_assert_int_eq(cask_from_buffer(ctx, y, CASK_F64, 1, (int64_t[]){5000}, (int64_t[]){2}, NULL, NULL, &a), CASK_OK);
  double top[20];
  for (int sign = -1; sign <= 1; sign += 2) {
    ck_assert_int_eq(cask_topk(a, sign * 20, 0, &t), CASK_OK);
    ck_assert_int_eq(cask_compute(t, top, sizeof top), CASK_OK);
    for (int i = 0; i < 20; i++) {
      double w = sign > 0 ? sorted[4999 - i] : sorted[i];
      require(top[i] == w || (isnan(top[i]) && isnan(w)), "topk(%d) at %d: %g, want %g", sign * 20, i, top[i], w);
    }
    cask_array_release(t);
  }
  cask_array_release(a);
  cask_ctx_free(ctx);
}
END_TEST

START_TEST(counting_functions_match_loops) {
  cask_ctx *ctx = new_ctx(2, 0, NULL);
  enum { N = 1001 };
  static int64_t x[N];
  static double f[N];
  for (int i = 0; i < N; i++) x[i] = (i * 31) % 17, f[i] = (double)((i * 13) % 29) / 4 - 2;
  cask_array *a, *fa, *r, *e, *cnt;
  ck_assert_int_eq(cask_from_buffer(ctx, x, CASK_I64, 1, (int64_t[]){N}, (int64_t[]){100}, NULL, NULL, &a), CASK_OK);
  ck_assert_int_eq(cask_from_buffer(ctx, f, CASK_F64, 1, (int64_t[]){N}, (int64_t[]){77}, NULL, NULL, &fa), CASK_OK);
  int64_t want[40] = {0}, got[40];
  for (int i = 0; i < N; i++) want[x[i]]++;
  ck_assert_int_eq(cask_bincount(a, NULL, 20, &r), CASK_OK); /* minlength above max + 1 = 17 */
  ck_assert_int_eq(cask_array_shape(r)[0], 20);
  ck_assert_int_eq(cask_compute(r, got, 20 * sizeof got[0]), CASK_OK);
  ck_assert(!memcmp(got, want, 20 * sizeof got[0]));
  cask_array_release(r);
  ck_assert_int_eq(cask_unique(a, &r, &cnt), CASK_OK); /* 0..16, each counted */
  ck_assert_int_eq(cask_array_shape(r)[0], 17);
  int64_t u[17], uc[17];
  ck_assert_int_eq(cask_compute(r, u, sizeof u), CASK_OK);
  ck_assert_int_eq(cask_compute(cnt, uc, sizeof uc), CASK_OK);
  for (int i = 0; i < 17; i++) require(u[i] == i && uc[i] == want[i], "unique %d: %lld x %lld", i, (long long)u[i], (long long)uc[i]);
  cask_array_release(r);
  cask_array_release(cnt);
  /* histogram over (-2, 5) in 7 equal bins: [k-2, k-1), the last closed */
  ck_assert_int_eq(cask_histogram(fa, 7, NULL, (double[]){-2, 5}, &r, &e), CASK_OK);
  ck_assert_int_eq(cask_compute(r, got, 7 * sizeof got[0]), CASK_OK);
  double edges[8];
  ck_assert_int_eq(cask_compute(e, edges, sizeof edges), CASK_OK);
  for (int b = 0; b < 7; b++) {
    int64_t w = 0;
    for (int i = 0; i < N; i++) w += f[i] >= b - 2 && (f[i] < b - 1 || (b == 6 && f[i] <= 5));
    require(got[b] == w && edges[b] == b - 2, "histogram bin %d: %lld, want %lld", b, (long long)got[b], (long long)w);
  }
  cask_array_release(r);
  cask_array_release(e);
  /* equal values of magnitude 2^52: the range's +-0.5 rounds away, every
   * edge is the value (scaling would multiply 0 by infinity: the fuzzer's
   * UBSan report; NumPy 1.24 indexes out of bounds). All in the last bin. */
  static const double big[3] = {4686018427387904.0, 4686018427387904.0, 4686018427387904.0};
  cask_array *ba;
  ck_assert_int_eq(cask_from_buffer(ctx, big, CASK_F64, 1, (int64_t[]){3}, NULL, NULL, NULL, &ba), CASK_OK);
  ck_assert_int_eq(cask_histogram(ba, 3, NULL, NULL, &r, NULL), CASK_OK);
  ck_assert_int_eq(cask_compute(r, got, 3 * sizeof got[0]), CASK_OK);
  require(got[0] == 0 && got[1] == 0 && got[2] == 3, "histogram of equal 2^52 values: %lld %lld %lld",
          (long long)got[0], (long long)got[1], (long long)got[2]);
  cask_array_release(r);
  cask_array_release(ba);
  /* digitize and searchsorted against counts of smaller values */
  const double bins[] = {-1, 0, 0.5, 3};
  ck_assert_int_eq(cask_digitize(fa, bins, 4, 0, &r), CASK_OK);
  static int64_t d[N];
  ck_assert_int_eq(cask_compute(r, d, sizeof d), CASK_OK);
  for (int i = 0; i < N; i++) {
    int64_t w = 0;
    for (int b = 0; b < 4; b++) w += bins[b] <= f[i];
    require(d[i] == w, "digitize at %d: %lld, want %lld", i, (long long)d[i], (long long)w);
  }
  cask_array_release(r);
  cask_array *s;
  ck_assert_int_eq(cask_sort(fa, NULL, &s), CASK_OK);
  ck_assert_int_eq(cask_searchsorted(s, fa, 1, &r), CASK_OK);
  ck_assert_int_eq(cask_compute(r, d, sizeof d), CASK_OK);
  for (int i = 0; i < N; i += 7) {
    int64_t w = 0;
    for (int j = 0; j < N; j++) w += f[j] <= f[i];
    require(d[i] == w, "searchsorted right at %d: %lld, want %lld", i, (long long)d[i], (long long)w);
  }
  cask_array_release(r);
  cask_array_release(s);
  cask_array_release(fa);
  cask_array_release(a);
  cask_ctx_free(ctx);
}
END_TEST

START_TEST(bad_arguments_are_refused_naming_function_and_shape) {
  cask_ctx *ctx = new_ctx(1, 0, NULL);
  cask_array *a, *r = NULL;
  ck_assert_int_eq(cask_zeros(ctx, CASK_F64, 2, (int64_t[]){4, 3}, NULL, &a), CASK_OK);
  ck_assert_int_eq(cask_sort(a, (int[]){2}, &r), CASK_EINVAL);
  ck_assert(strstr(cask_ctx_errmsg(ctx), "sort: axis 2 is out of bounds for 2 axes (the array's shape is (4, 3))"));
  ck_assert_int_eq(cask_quantile(a, (double[]){50, 101}, 2, CASK_QUANTILE_PERCENT, NULL, &r), CASK_EINVAL);
  ck_assert(strstr(cask_ctx_errmsg(ctx), "percentile: q=101 is outside [0, 100]"));
  ck_assert_int_eq(cask_histogram(a, 2, (double[]){0, 2, 1}, NULL, &r, NULL), CASK_EINVAL);
  ck_assert(strstr(cask_ctx_errmsg(ctx), "histogram: bins must increase monotonically"));
  ck_assert_int_eq(cask_digitize(a, (double[]){0, 2, 1}, 3, 0, &r), CASK_EINVAL);
  ck_assert(strstr(cask_ctx_errmsg(ctx), "digitize: bins"));
  ck_assert_int_eq(cask_searchsorted(a, a, 0, &r), CASK_EINVAL);
  ck_assert(strstr(cask_ctx_errmsg(ctx), "searchsorted: a must be 1-d, not of shape (4, 3)"));
  ck_assert_int_eq(cask_bincount(a, NULL, 0, &r), CASK_EINVAL);
  ck_assert(strstr(cask_ctx_errmsg(ctx), "bincount: x must be 1-d, not of shape (4, 3)"));
  ck_assert_ptr_null(r);
  cask_array_release(a);
  /* a piece per pair of blocks: 3000 blocks would be 9 million tasks */
  ck_assert_int_eq(cask_arange(ctx, CASK_F64, 0, 3000, 1, 1, &a), CASK_OK);
  ck_assert_int_eq(cask_sort(a, NULL, &r), CASK_ETOOBIG);
  ck_assert(strstr(cask_ctx_errmsg(ctx), "sort: 3000 blocks") && strstr(cask_ctx_errmsg(ctx), "use larger chunks, e.g. (2,)"));
  ck_assert_int_eq(cask_median(a, NULL, 0, &r), CASK_OK); /* a selection makes no pieces */
  double m;
  ck_assert_int_eq(cask_compute_scalar(r, &m), CASK_OK);
  ck_assert(m == 1499.5);
  cask_array_release(r);
  cask_array_release(a);
  cask_ctx_free(ctx);
}
END_TEST

START_TEST(the_external_merge_runs_from_its_graph_json) {
  cask_ctx *ctx = new_ctx(2, 0, NULL);
  int64_t n = 10007;
  cask_array *a, *p;
  ck_assert_int_eq(cask_random_normal(ctx, 3, CASK_F64, 1, &n, (int64_t[]){1000}, &a), CASK_OK);
  ck_assert_int_eq(cask_quantile(a, (double[]){0.01, 0.5, 0.99}, 3, 0, NULL, &p), CASK_OK);
  double want[3];
  ck_assert_int_eq(cask_compute(p, want, sizeof want), CASK_OK);
  cask_graph *g, *back;
  char *json, *err = NULL;
  size_t len;
  ck_assert_int_eq(cask_array_graph(p, &g), CASK_OK);
  ck_assert_int_eq(cask_graph_to_json(g, &json, &len), CASK_OK);
  ck_assert_int_eq(cask_graph_from_json(json, len, &back, &err), CASK_OK);
  cask_results *res;
  ck_assert_int_eq(cask_run(cask_ctx_runtime(ctx), back, NULL, &res), CASK_OK);
  int outputs = 0;
  for (cask_task_id i = 0; i < cask_graph_size(back); i++)
    if (cask_graph_is_output(back, i)) {
      const cask_block *b = cask_results_get(res, i);
      ck_assert_int_eq(cask_block_size(b), 3);
      ck_assert(!memcmp(cask_block_data(b), want, sizeof want));
      outputs++;
    }
  ck_assert_int_eq(outputs, 1);
  cask_results_free(res);
  cask_graph_free(back);
  cask_free(json);
  cask_graph_free(g);
  cask_array_release(p);
  cask_array_release(a);
  cask_ctx_free(ctx);
}
END_TEST

Suite *array_sort_suite(void) {
  Suite *s = suite_create("array_sort");
  TCase *tc = tcase_create("sort");
  tcase_set_timeout(tc, 120);
  tcase_add_test(tc, sort_and_argsort_match_loops_along_every_axis);
  tcase_add_test(tc, a_large_block_sorts_stably);
  tcase_add_test(tc, external_merge_is_exact_and_bit_identical_at_any_thread_count);
  tcase_add_test(tc, a_1d_sort_four_times_the_memory_limit_spills_and_is_exact);
  tcase_add_test(tc, quantiles_and_medians_match_loops);
  tcase_add_test(tc, topk_takes_the_ends_of_the_sort);
  tcase_add_test(tc, counting_functions_match_loops);
  tcase_add_test(tc, bad_arguments_are_refused_naming_function_and_shape);
  tcase_add_test(tc, the_external_merge_runs_from_its_graph_json);
  suite_add_tcase(s, tc);
  return s;
}
