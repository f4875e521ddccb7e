/* test_array_scan.c - cumulative functions of the C API (cumsum, cumprod,
 * nancumsum, nancumprod, diff) and the statistics composed of reductions
 * (ptp, count_nonzero, nanprod, nanvar, average) against plain loops over
 * odd chunkings (ragged blocks, one-element chunks, chunks larger than the
 * array), along every axis and flattened; float scans bit-identical at 1, 2 and 4
 * threads; bad arguments refused before anything runs. NumPy checks of the
 * same functions through expressions are in tests/scan_numpy_check.py. */
#include <check.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "cask/cask.h"
#include "test-util.h"

static cask_ctx *new_ctx(int threads) {
  cask_options o = CASK_OPTIONS_DEFAULTS;
  o.threads = threads;
  cask_ctx *ctx;
  ck_assert_int_eq(cask_ctx_new(&o, &ctx), CASK_OK);
  return ctx;
}

#define N0 5
#define N1 7
#define N2 3
static const int64_t SHAPE[3] = {N0, N1, N2};
static const int64_t CHUNKINGS[][3] = {{2, 3, 2}, {1, 1, 1}, {9, 9, 9}, {5, 2, 3}};
#define NCH (sizeof CHUNKINGS / sizeof CHUNKINGS[0])

/* The int64 scan of x (shape SHAPE) along ax by loops; ax -1: flattened. */
static void loop_scan(const int32_t *x, int ax, int prod, int64_t *want) {
  int64_t n = N0 * N1 * N2;
  if (ax < 0) {
    for (int64_t k = 0; k < n; k++) want[k] = k ? (prod ? want[k - 1] * x[k] : want[k - 1] + x[k]) : x[k];
    return;
  }
  int64_t stride = 1;
  for (int i = ax + 1; i < 3; i++) stride *= SHAPE[i];
  for (int64_t k = 0; k < n; k++) {
    int64_t i = (k / stride) % SHAPE[ax];
    want[k] = i ? (prod ? want[k - stride] * x[k] : want[k - stride] + x[k]) : x[k];
  }
}

START_TEST(integer_scans_match_loops_along_every_axis) {
  cask_ctx *ctx = new_ctx(3);
  int32_t x[N0 * N1 * N2];
  for (int k = 0; k < N0 * N1 * N2; k++) x[k] = (k * 37) % 11 - 4; /* products wrap: as NumPy's int64 */
  int64_t got[N0 * N1 * N2], want[N0 * N1 * N2];
  for (size_t c = 0; c < NCH; c++) {
    cask_array *a;
    ck_assert_int_eq(cask_from_buffer(ctx, x, CASK_I32, 3, SHAPE, CHUNKINGS[c], NULL, NULL, &a), CASK_OK);
    for (int op = 0; op < CASK_SCAN_COUNT; op++)
      for (int ax = -1; ax < 3; ax++) {
        cask_array *r;
        ck_assert_int_eq(cask_cumulative((cask_scan_op)op, a, ax < 0 ? NULL : &ax, &r), CASK_OK);
        ck_assert_int_eq(cask_array_dtype(r), CASK_I64);
        ck_assert_int_eq(cask_array_ndim(r), ax < 0 ? 1 : 3);
        ck_assert_int_eq(cask_compute(r, got, sizeof got), CASK_OK);
        loop_scan(x, ax, op == CASK_CUMPROD || op == CASK_NANCUMPROD, want);
        for (int k = 0; k < N0 * N1 * N2; k++)
          require(got[k] == want[k], "op %d axis %d chunking %zu at %d: %lld, want %lld", op, ax, c, k,
                  (long long)got[k], (long long)want[k]);
        cask_array_release(r);
      }
    cask_array_release(a);
  }
  cask_ctx_free(ctx);
}
END_TEST

#define NF 10007
START_TEST(float_scans_are_bit_identical_at_any_thread_count) {
  static double x[NF], got[3][NF];
  float xf[NF], gotf[NF];
  for (int k = 0; k < NF; k++) {
    x[k] = k % 97 == 5 ? NAN : sin(k * 0.37) * 100;
    xf[k] = (float)(1.0 + 1e-4 * cos(k * 0.1));
  }
  const int threads[3] = {1, 2, 4};
  for (int t = 0; t < 3; t++) {
    cask_ctx *ctx = new_ctx(threads[t]);
    cask_array *a, *r;
    ck_assert_int_eq(cask_from_buffer(ctx, x, CASK_F64, 1, (int64_t[]){NF}, (int64_t[]){333}, NULL, NULL, &a), CASK_OK);
    ck_assert_int_eq(cask_cumulative(CASK_NANCUMSUM, a, NULL, &r), CASK_OK);
    ck_assert_int_eq(cask_compute(r, got[t], sizeof got[t]), CASK_OK);
    cask_array_release(r);
    cask_array_release(a);
    if (t == 0) { /* float32 stays float32; close to a sequential float32 product */
      ck_assert_int_eq(cask_from_buffer(ctx, xf, CASK_F32, 1, (int64_t[]){NF}, (int64_t[]){1000}, NULL, NULL, &a),
                       CASK_OK);
      ck_assert_int_eq(cask_cumulative(CASK_CUMPROD, a, (int[]){0}, &r), CASK_OK);
      ck_assert_int_eq(cask_array_dtype(r), CASK_F32);
      ck_assert_int_eq(cask_compute(r, gotf, sizeof gotf), CASK_OK);
      float p = 1;
      for (int k = 0; k < NF; k++) {
        p *= xf[k];
        require(fabsf(gotf[k] - p) <= 1e-4f * fabsf(p), "float32 cumprod at %d: %g, want %g", k, gotf[k], p);
      }
      cask_array_release(r);
      cask_array_release(a);
    }
    cask_ctx_free(ctx);
  }
  double s = 0;
  for (int k = 0; k < NF; k++) {
    s += isnan(x[k]) ? 0 : x[k];
    require(fabs(got[0][k] - s) <= 1e-12 * 100 * NF, "nancumsum at %d: %.17g, want %.17g", k, got[0][k], s);
  }
  ck_assert(!memcmp(got[0], got[1], sizeof got[0]));
  ck_assert(!memcmp(got[0], got[2], sizeof got[0]));
}
END_TEST

START_TEST(diff_matches_loops) {
  cask_ctx *ctx = new_ctx(3);
  double x[N0][N1], got[N0 * N1];
  for (int i = 0; i < N0; i++)
    for (int j = 0; j < N1; j++) x[i][j] = (i + 1) * (j + 2) * (j + 1) + i * i;
  for (size_t c = 0; c < NCH; c++) {
    cask_array *a, *r;
    ck_assert_int_eq(cask_from_buffer(ctx, x, CASK_F64, 2, SHAPE, CHUNKINGS[c], NULL, NULL, &a), CASK_OK);
    ck_assert_int_eq(cask_diff(a, 2, -1, &r), CASK_OK); /* second difference along the rows */
    ck_assert_int_eq(cask_array_shape(r)[1], N1 - 2);
    ck_assert_int_eq(cask_compute(r, got, N0 * (N1 - 2) * sizeof got[0]), CASK_OK);
    for (int i = 0; i < N0; i++)
      for (int j = 0; j < N1 - 2; j++)
        require(got[i * (N1 - 2) + j] == x[i][j + 2] - 2 * x[i][j + 1] + x[i][j], "diff n=2 at %d,%d", i, j);
    cask_array_release(r);
    ck_assert_int_eq(cask_diff(a, 1, 0, &r), CASK_OK);
    ck_assert_int_eq(cask_compute(r, got, (N0 - 1) * N1 * sizeof got[0]), CASK_OK);
    for (int i = 0; i < N0 - 1; i++)
      for (int j = 0; j < N1; j++) require(got[i * N1 + j] == x[i + 1][j] - x[i][j], "diff axis 0 at %d,%d", i, j);
    cask_array_release(r);
    ck_assert_int_eq(cask_diff(a, 9, 0, &r), CASK_OK); /* more differences than elements: empty */
    ck_assert_int_eq(cask_array_shape(r)[0], 0);
    cask_array_release(r);
    cask_array_release(a);
  }
  cask_ctx_free(ctx);
}
END_TEST

START_TEST(statistics_match_loops) {
  cask_ctx *ctx = new_ctx(3);
  double x[N0][N1], got[N1];
  for (int i = 0; i < N0; i++)
    for (int j = 0; j < N1; j++) x[i][j] = (i * 3 + j) % 4 == 0 ? (j % 3 ? NAN : 0) : (i - 2) * 0.5 + j;
  for (size_t c = 0; c < NCH; c++) {
    cask_array *a, *r, *d;
    ck_assert_int_eq(cask_from_buffer(ctx, x, CASK_F64, 2, SHAPE, CHUNKINGS[c], NULL, NULL, &a), CASK_OK);
    for (int f = 0; f < 4; f++) { /* ptp, count_nonzero, nanprod, nanvar (ddof 1) along axis 0 */
      int rc = f == 0   ? cask_ptp(a, (int[]){0}, 1, &r)
               : f == 1 ? cask_count_nonzero(a, (int[]){-2}, 1, &r)
               : f == 2 ? cask_nanprod(a, (int[]){0}, 1, &r)
                        : cask_nanvar(a, (int[]){0}, 1, 1, &r);
      ck_assert_int_eq(rc, CASK_OK);
      ck_assert_int_eq(cask_array_dtype(r), f == 1 ? CASK_I64 : CASK_F64);
      ck_assert_int_eq(cask_astype(r, CASK_F64, &d), CASK_OK);
      ck_assert_int_eq(cask_compute(d, got, sizeof got), CASK_OK);
      for (int j = 0; j < N1; j++) {
        double hi = -INFINITY, lo = INFINITY, n = 0, p = 1, m = 0, k = 0, ss = 0;
        int nan = 0;
        for (int i = 0; i < N0; i++) {
          double v = x[i][j];
          nan |= isnan(v);
          hi = v > hi ? v : hi;
          lo = v < lo ? v : lo;
          n += v != 0;
          p *= isnan(v) ? 1 : v;
          m += isnan(v) ? 0 : v;
          k += !isnan(v);
        }
        for (int i = 0; i < N0; i++) ss += isnan(x[i][j]) ? 0 : (x[i][j] - m / k) * (x[i][j] - m / k);
        double want = f == 0 ? (nan ? NAN : hi - lo) : f == 1 ? n : f == 2 ? p : k - 1 > 0 ? ss / (k - 1) : NAN;
        require(fabs(got[j] - want) <= 1e-12 * fabs(want) || (isnan(got[j]) && isnan(want)),
                "stat %d chunking %zu at %d: %g, want %g", f, c, j, got[j], want);
      }
      cask_array_release(d);
      cask_array_release(r);
    }
    cask_array_release(a);
  }
  cask_ctx_free(ctx);
}
END_TEST

START_TEST(average_with_weights_matches_loops) {
  cask_ctx *ctx = new_ctx(3);
  int32_t x[N0][N1];
  double w[N1], got[N0];
  for (int j = 0; j < N1; j++) w[j] = j * 0.5 + 1;
  for (int i = 0; i < N0; i++)
    for (int j = 0; j < N1; j++) x[i][j] = (i * 7 + j * 3) % 10 - 3;
  for (size_t c = 0; c < NCH; c++) {
    cask_array *a, *wa, *r;
    ck_assert_int_eq(cask_from_buffer(ctx, x, CASK_I32, 2, SHAPE, CHUNKINGS[c], NULL, NULL, &a), CASK_OK);
    ck_assert_int_eq(cask_from_buffer(ctx, w, CASK_F64, 1, (int64_t[]){N1}, &CHUNKINGS[c][1], NULL, NULL, &wa),
                     CASK_OK);
    ck_assert_int_eq(cask_average(a, (int[]){-1}, 1, wa, &r), CASK_OK); /* 1-d weights along the rows */
    ck_assert_int_eq(cask_array_dtype(r), CASK_F64);
    ck_assert_int_eq(cask_compute(r, got, sizeof got), CASK_OK);
    for (int i = 0; i < N0; i++) {
      double num = 0, den = 0;
      for (int j = 0; j < N1; j++) {
        num += x[i][j] * w[j];
        den += w[j];
      }
      require(fabs(got[i] - num / den) <= 1e-12 * fabs(num / den) + 1e-15, "average chunking %zu at %d: %g, want %g",
              c, i, got[i], num / den);
    }
    cask_array_release(r);
    cask_array_release(wa);
    cask_array_release(a);
  }
  cask_ctx_free(ctx);
}
END_TEST

#define REFUSED(call, msg)                                                               \
  do {                                                                                   \
    cask_array *r_ = (cask_array *)1;                                                    \
    ck_assert_int_eq(call(&r_), CASK_EINVAL);                                            \
    ck_assert_ptr_null(r_);                                                              \
    ck_assert_msg(strstr(cask_ctx_errmsg(ctx), msg), "%s", cask_ctx_errmsg(ctx));        \
  } while (0)

START_TEST(bad_arguments_name_the_function_and_shape) {
  cask_ctx *ctx = new_ctx(2);
  cask_array *x, *s;
  ck_assert_int_eq(cask_zeros(ctx, CASK_F64, 2, (int64_t[]){4, 6}, (int64_t[]){3, 3}, &x), CASK_OK);
  ck_assert_int_eq(cask_zeros(ctx, CASK_I32, 0, NULL, NULL, &s), CASK_OK);
  cask_array *e;
  ck_assert_int_eq(cask_zeros(ctx, CASK_F32, 2, (int64_t[]){3, 0}, NULL, &e), CASK_OK);
#define CUMSUM_AXIS_2(o) cask_cumulative(CASK_CUMSUM, x, (int[]){2}, o)
#define CUMPROD_0D(o) cask_cumulative(CASK_NANCUMPROD, s, (int[]){0}, o)
#define BAD_OP(o) cask_cumulative(CASK_SCAN_COUNT, x, NULL, o)
#define DIFF_NEG(o) cask_diff(x, -1, -1, o)
#define DIFF_0D(o) cask_diff(s, 1, -1, o)
#define DIFF_AXIS(o) cask_diff(x, 1, -3, o)
#define PTP_EMPTY(o) cask_ptp(e, (int[]){1}, 1, o)
#define COUNT_AXIS(o) cask_count_nonzero(x, (int[]){5}, 1, o)
#define AVERAGE_W(o) cask_average(x, (int[]){0}, 1, e, o)
  REFUSED(CUMSUM_AXIS_2, "cumsum: axis 2 is out of bounds for 2 axes (the array's shape is (4, 6))");
  REFUSED(CUMPROD_0D, "nancumprod: axis 0 is out of bounds for 0 axes (the array's shape is ())");
  REFUSED(BAD_OP, "cumulative: 4 is not a cask_scan_op");
  REFUSED(DIFF_NEG, "diff: order n=-1 is negative (shape (4, 6))");
  REFUSED(DIFF_0D, "diff: the array is 0-d (shape ())");
  REFUSED(DIFF_AXIS, "diff: axis -3 is out of bounds for 2 axes (the array's shape is (4, 6))");
  REFUSED(PTP_EMPTY, "ptp: axis 1 of shape (3, 0) is empty");
  REFUSED(AVERAGE_W, "average: weights of shape (3, 0) for an array of shape (4, 6) must be 1-d along one given axis");
  REFUSED(COUNT_AXIS, "count_nonzero: axis 5 is out of bounds for 2 axes (the array's shape is (4, 6))");
  cask_array_release(e);
  cask_array *r;
  ck_assert_int_eq(cask_cumulative(CASK_CUMSUM, s, NULL, &r), CASK_OK); /* axis None: a 0-d array is one element */
  ck_assert_int_eq(cask_array_ndim(r), 1);
  cask_array_release(r);
  cask_array_release(s);
  cask_array_release(x);
  cask_ctx_free(ctx);
}
END_TEST

Suite *array_scan_suite(void) {
  Suite *s = suite_create("array_scan");
  TCase *tc = tcase_create("scan");
  tcase_set_timeout(tc, 120);
  tcase_add_test(tc, integer_scans_match_loops_along_every_axis);
  tcase_add_test(tc, float_scans_are_bit_identical_at_any_thread_count);
  tcase_add_test(tc, diff_matches_loops);
  tcase_add_test(tc, statistics_match_loops);
  tcase_add_test(tc, average_with_weights_matches_loops);
  tcase_add_test(tc, bad_arguments_name_the_function_and_shape);
  suite_add_tcase(s, tc);
  return s;
}
