/* test_array_lapack.c - einsum, TSQR (qr, svd, lstsq), the one-block
 * LAPACK functions (cholesky, solve, inv, det, slogdet), norm and the
 * statistics nanargmin, nanargmax, cov against plain loops written here:
 * reconstruction and orthogonality for the factors (unique only up to
 * signs), residuals for the solvers, Gaussian elimination for det; ragged
 * last blocks, trees of several levels (split_every 2), float64 and
 * float32, bit-identical results for 1, 2 and 8 threads, and the errors.
 *
 * Tolerances: a factorization by Householder reflections is backward
 * stable, |QR - A| <= c m n eps |A| (Higham, 19.3); the checks use
 * 50 n eps max|A| per element, orthogonality 50 m eps. */
#include "test-util.h"
#include <check.h>
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cask/cask.h"

static cask_ctx *ctx_with(int threads, int split_every) {
  cask_options o = CASK_OPTIONS_DEFAULTS;
  o.threads = threads;
  o.split_every = split_every;
  cask_ctx *ctx;
  ck_assert_int_eq(cask_ctx_new(&o, &ctx), CASK_OK);
  return ctx;
}

static void release_free(void *user, void *data) {
  (void)user;
  free(data);
}

/* n values in [-1, 1) (plus shift), as doubles, from seed. */
static double *dvalues(int64_t n, uint64_t seed, double shift) {
  double *p = malloc((size_t)(n ? n : 1) * sizeof *p);
  for (int64_t i = 0; i < n; i++) p[i] = (double)(mix64(seed * 1000003 + (uint64_t)i) >> 11) / 4503599627370496.0 * 2 - 1 + shift;
  return p;
}

/* A 2-d array over a copy of v (converted to dt: F64 or F32). */
static cask_array *mat(cask_ctx *ctx, cask_dtype dt, const double *v, int64_t m, int64_t n, int64_t cm, int64_t cn) {
  void *p = malloc((size_t)(m * n > 0 ? m * n : 1) * cask_dtype_size(dt));
  for (int64_t i = 0; i < m * n; i++) {
    if (dt == CASK_F64) ((double *)p)[i] = v[i];
    else ((float *)p)[i] = (float)v[i];
  }
  cask_array *a;
  ck_assert_int_eq(cask_from_buffer(ctx, p, dt, 2, (int64_t[]){m, n}, (int64_t[]){cm, cn}, release_free, NULL, &a),
                   CASK_OK);
  return a;
}

/* a computed into doubles (any float dtype). */
static double *get(cask_array *a) {
  int64_t n = cask_array_size(a);
  cask_dtype dt = cask_array_dtype(a);
  void *buf = malloc((size_t)(n ? n : 1) * cask_dtype_size(dt));
  int rc = cask_compute(a, buf, (size_t)n * cask_dtype_size(dt));
  ck_assert_msg(rc == CASK_OK, "compute: %s", cask_strerror(rc));
  double *d = malloc((size_t)(n ? n : 1) * sizeof *d);
  for (int64_t i = 0; i < n; i++) d[i] = dt == CASK_F64 ? ((double *)buf)[i] : dt == CASK_F32 ? ((float *)buf)[i] : (double)((int64_t *)buf)[i];
  free(buf);
  return d;
}

static double eps_of(cask_dtype dt) { return dt == CASK_F32 ? FLT_EPSILON : DBL_EPSILON; }

/* Checks q (m x n), r (n x n) against a: q r = a, q.T q = I, r upper. */
static void check_qr(const double *a, const double *q, const double *r, int64_t m, int64_t n, double eps) {
  double amax = 1;
  for (int64_t i = 0; i < m * n; i++) amax = fmax(amax, fabs(a[i]));
  for (int64_t i = 0; i < m; i++)
    for (int64_t j = 0; j < n; j++) {
      double s = 0;
      for (int64_t k = 0; k < n; k++) s += q[i * n + k] * r[k * n + j];
      require(fabs(s - a[i * n + j]) <= 50 * (double)n * eps * amax, "qr(%lld, %lld) = %.17g, a = %.17g", (long long)i,
              (long long)j, s, a[i * n + j]);
    }
  for (int64_t i = 0; i < n; i++)
    for (int64_t j = 0; j < n; j++) {
      double s = 0;
      for (int64_t k = 0; k < m; k++) s += q[k * n + i] * q[k * n + j];
      require(fabs(s - (i == j)) <= 50 * (double)m * eps, "q.T q (%lld, %lld) = %.17g", (long long)i, (long long)j, s);
      if (i > j) require(r[i * n + j] == 0, "r is not upper triangular at (%lld, %lld)", (long long)i, (long long)j);
    }
}

static void tsqr_case(cask_dtype dt, int64_t m, int64_t n, int64_t rows, int split_every) {
  cask_ctx *ctx = ctx_with(2, split_every);
  double *v = dvalues(m * n, (uint64_t)(m * 31 + n), 0);
  cask_array *a = mat(ctx, dt, v, m, n, rows, n), *q, *r;
  ck_assert_int_eq(cask_qr(a, &q, &r), CASK_OK);
  ck_assert_int_eq(cask_array_chunks(q)[0], rows);
  ck_assert_int_eq(cask_array_dtype(q), dt);
  double *qv = get(q), *rv = get(r), *av = get(a);
  check_qr(av, qv, rv, m, n, eps_of(dt));
  /* R is unique up to the signs of its rows: |R| matches one LAPACK call's */
  cask_array *one = mat(ctx, dt, v, m, n, m, n), *r1;
  ck_assert_int_eq(cask_qr(one, NULL, &r1), CASK_OK);
  double *r1v = get(r1);
  for (int64_t i = 0; i < n * n; i++)
    require(fabs(fabs(rv[i]) - fabs(r1v[i])) <= 50 * (double)(m) * eps_of(dt) * (1 + fabs(r1v[i])), "|r| differs at %lld: %.17g vs %.17g",
            (long long)i, rv[i], r1v[i]);
  free(qv), free(rv), free(av), free(r1v), free(v);
  cask_array_release(a), cask_array_release(q), cask_array_release(r), cask_array_release(one), cask_array_release(r1);
  cask_ctx_free(ctx);
}

START_TEST(tsqr_reconstructs_with_orthonormal_q_over_a_ragged_last_block) {
  tsqr_case(CASK_F64, 103, 7, 8, 8);  /* 13 blocks, the last of 7 rows: two levels */
  tsqr_case(CASK_F64, 65, 5, 5, 2);   /* blocks of exactly n rows; a binary tree of 4 levels */
  tsqr_case(CASK_F64, 40, 1, 1, 3);   /* one-row blocks of a single column */
  tsqr_case(CASK_F64, 9000, 64, 4500, 8); /* blocks above 2 MiB: factored by sub-blocks inside the task */
}
END_TEST

START_TEST(tsqr_of_float32_stays_float32_within_its_bound) {
  tsqr_case(CASK_F32, 97, 6, 11, 3);
  tsqr_case(CASK_F32, 17000, 64, 8500, 8); /* sub-blocks inside the tasks */
}
END_TEST

/* q, r, svd's s and u, and lstsq's x of one input at a thread count. */
static void decompositions(int threads, double **out, int64_t *sizes) {
  cask_ctx *ctx = ctx_with(threads, 3);
  double *v = dvalues(200 * 6, 7, 0);
  cask_array *a = mat(ctx, CASK_F64, v, 200, 6, 9, 6), *q, *r, *u, *s, *x, *b;
  double *bv = dvalues(200, 8, 0);
  ck_assert_int_eq(cask_from_buffer(ctx, bv, CASK_F64, 1, (int64_t[]){200}, (int64_t[]){9}, release_free, NULL, &b), CASK_OK);
  ck_assert_int_eq(cask_qr(a, &q, &r), CASK_OK);
  ck_assert_int_eq(cask_svd(a, &u, &s, NULL), CASK_OK);
  ck_assert_int_eq(cask_lstsq(a, b, &x, NULL, NULL, NULL), CASK_OK);
  cask_array *all[5] = {q, r, u, s, x};
  for (int i = 0; i < 5; i++) {
    out[i] = get(all[i]);
    sizes[i] = cask_array_size(all[i]);
    cask_array_release(all[i]);
  }
  free(v);
  cask_array_release(a), cask_array_release(b);
  cask_ctx_free(ctx);
}

START_TEST(tsqr_svd_and_lstsq_are_bit_identical_for_1_2_and_8_threads) {
  double *ref[5], *got[5];
  int64_t sizes[5];
  decompositions(1, ref, sizes);
  for (int t = 2; t <= 8; t *= 4) {
    decompositions(t, got, sizes);
    for (int i = 0; i < 5; i++) {
      ck_assert_msg(memcmp(ref[i], got[i], (size_t)sizes[i] * sizeof(double)) == 0, "result %d differs at %d threads", i, t);
      free(got[i]);
    }
  }
  for (int i = 0; i < 5; i++) free(ref[i]);
}
END_TEST

START_TEST(svd_reconstructs_and_its_squares_sum_to_the_frobenius_norm) {
  cask_ctx *ctx = ctx_with(2, 4);
  for (int one = 0; one < 2; one++) {
    int64_t m = 57, n = 5;
    double *v = dvalues(m * n, 11, 0.25);
    cask_array *a = mat(ctx, CASK_F64, v, m, n, one ? m : 10, n), *u, *s, *vt;
    ck_assert_int_eq(cask_svd(a, &u, &s, &vt), CASK_OK);
    double *uv = get(u), *sv = get(s), *vv = get(vt), fro = 0, ss = 0;
    for (int64_t i = 0; i < m * n; i++) fro += v[i] * v[i];
    for (int64_t k = 0; k < n; k++) {
      ss += sv[k] * sv[k];
      if (k) require(sv[k] <= sv[k - 1] && sv[k] >= 0, "singular values not descending at %lld", (long long)k);
    }
    ck_assert_msg(fabs(ss - fro) <= 1e-12 * fro, "sum s^2 %.17g, |a|_F^2 %.17g", ss, fro);
    for (int64_t i = 0; i < m; i++)
      for (int64_t j = 0; j < n; j++) {
        double x = 0;
        for (int64_t k = 0; k < n; k++) x += uv[i * n + k] * sv[k] * vv[k * n + j];
        require(fabs(x - v[i * n + j]) <= 1e-12, "u s vt (%lld, %lld) = %.17g, a = %.17g", (long long)i, (long long)j, x,
                v[i * n + j]);
      }
    free(uv), free(sv), free(vv), free(v);
    cask_array_release(a), cask_array_release(u), cask_array_release(s), cask_array_release(vt);
  }
  cask_ctx_free(ctx);
}
END_TEST

START_TEST(svd_compressed_finds_the_leading_singular_values_of_a_low_rank_matrix) {
  cask_ctx *ctx = ctx_with(2, 4);
  /* a = x y.T of rank 3 (80 x 20): exactly 3 nonzero singular values */
  int64_t m = 80, n = 20;
  double *x = dvalues(m * 3, 3, 0), *y = dvalues(n * 3, 4, 0), *v = malloc((size_t)(m * n) * sizeof *v);
  for (int64_t i = 0; i < m; i++)
    for (int64_t j = 0; j < n; j++) v[i * n + j] = x[i * 3] * y[j * 3] + x[i * 3 + 1] * y[j * 3 + 1] + x[i * 3 + 2] * y[j * 3 + 2];
  cask_array *a = mat(ctx, CASK_F64, v, m, n, 40, n), *s, *s_ref;
  ck_assert_int_eq(cask_svd_compressed(a, 3, 2, 42, NULL, &s, NULL), CASK_OK);
  ck_assert_int_eq(cask_svdvals(a, &s_ref), CASK_OK);
  double *sv = get(s), *rv = get(s_ref);
  for (int k = 0; k < 3; k++) ck_assert_msg(fabs(sv[k] - rv[k]) <= 1e-10 * rv[0], "s[%d] = %.17g, exact %.17g", k, sv[k], rv[k]);
  free(sv), free(rv), free(x), free(y), free(v);
  cask_array_release(a), cask_array_release(s), cask_array_release(s_ref);
  cask_ctx_free(ctx);
}
END_TEST

/* Gaussian elimination with partial pivoting, in long double. */
static double det_loop(const double *a, int n) {
  long double m[16][16], d = 1;
  for (int i = 0; i < n; i++)
    for (int j = 0; j < n; j++) m[i][j] = a[i * n + j];
  for (int c = 0; c < n; c++) {
    int p = c;
    for (int i = c + 1; i < n; i++)
      if (fabsl(m[i][c]) > fabsl(m[p][c])) p = i;
    if (p != c) {
      for (int j = 0; j < n; j++) {
        long double t = m[c][j];
        m[c][j] = m[p][j], m[p][j] = t;
      }
      d = -d;
    }
    d *= m[c][c];
    if (m[c][c] == 0) return 0;
    for (int i = c + 1; i < n; i++) {
      long double f = m[i][c] / m[c][c];
      for (int j = c; j < n; j++) m[i][j] -= f * m[c][j];
    }
  }
  return (double)d;
}

START_TEST(solve_inv_det_slogdet_and_cholesky_match_plain_loops) {
  cask_ctx *ctx = ctx_with(2, 8);
  int n = 7;
  double *v = dvalues(n * n, 21, 0), *spd = malloc((size_t)(n * n) * sizeof *spd), *bv = dvalues(n * 2, 22, 0);
  for (int i = 0; i < n; i++)
    for (int j = 0; j < n; j++) {
      double s = i == j ? n : 0;
      for (int k = 0; k < n; k++) s += v[k * n + i] * v[k * n + j];
      spd[i * n + j] = s;
    }
  cask_array *a = mat(ctx, CASK_F64, v, n, n, 3, 2), *p = mat(ctx, CASK_F64, spd, n, n, 4, 4);
  cask_array *b = mat(ctx, CASK_F64, bv, n, 2, 3, 1), *x, *inv, *det, *sign, *logdet, *l;
  ck_assert_int_eq(cask_solve(a, b, &x), CASK_OK);
  ck_assert_int_eq(cask_inv(a, &inv), CASK_OK);
  ck_assert_int_eq(cask_det(a, &det), CASK_OK);
  ck_assert_int_eq(cask_slogdet(a, &sign, &logdet), CASK_OK);
  ck_assert_int_eq(cask_cholesky(p, &l), CASK_OK);
  double *xv = get(x), *iv = get(inv), *dv = get(det), *sv = get(sign), *lv = get(logdet), *cv = get(l);
  for (int i = 0; i < n; i++)
    for (int j = 0; j < 2; j++) {
      double s = 0;
      for (int k = 0; k < n; k++) s += v[i * n + k] * xv[k * 2 + j];
      require(fabs(s - bv[i * 2 + j]) <= 1e-12, "a x - b at (%d, %d): %.3g", i, j, s - bv[i * 2 + j]);
    }
  for (int i = 0; i < n; i++)
    for (int j = 0; j < n; j++) {
      double s = 0, t = 0;
      for (int k = 0; k < n; k++) s += v[i * n + k] * iv[k * n + j], t += cv[i * n + k] * cv[j * n + k];
      require(fabs(s - (i == j)) <= 1e-12, "a inv(a) at (%d, %d): %.17g", i, j, s);
      require(fabs(t - spd[i * n + j]) <= 1e-12 * n * n, "l l.T at (%d, %d): %.17g vs %.17g", i, j, t, spd[i * n + j]);
      if (j > i) require(cv[i * n + j] == 0, "cholesky's factor is not lower triangular");
    }
  double want = det_loop(v, n);
  ck_assert_msg(fabs(dv[0] - want) <= 1e-12 * fabs(want), "det %.17g, loop %.17g", dv[0], want);
  ck_assert_msg(sv[0] == (want < 0 ? -1 : 1) && fabs(lv[0] - log(fabs(want))) <= 1e-12, "slogdet (%g, %.17g)", sv[0], lv[0]);
  free(xv), free(iv), free(dv), free(sv), free(lv), free(cv), free(v), free(spd), free(bv);
  cask_array *all[] = {a, p, b, x, inv, det, sign, logdet, l};
  for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) cask_array_release(all[i]);
  cask_ctx_free(ctx);
}
END_TEST

START_TEST(lstsq_by_tsqr_satisfies_the_normal_equations) {
  cask_ctx *ctx = ctx_with(2, 2);
  int64_t m = 120, n = 4;
  double *v = dvalues(m * n, 31, 0), *bv = dvalues(m, 32, 0);
  cask_array *a = mat(ctx, CASK_F64, v, m, n, 7, n), *b, *x, *res, *rank, *sv;
  ck_assert_int_eq(cask_from_buffer(ctx, bv, CASK_F64, 1, (int64_t[]){m}, (int64_t[]){13}, release_free, NULL, &b), CASK_OK);
  ck_assert_int_eq(cask_lstsq(a, b, &x, &res, &rank, &sv), CASK_OK);
  ck_assert_int_eq(cask_array_ndim(res), 1);
  ck_assert_int_eq(cask_array_shape(res)[0], 1);
  ck_assert_int_eq(cask_array_dtype(rank), CASK_I64);
  double *xv = get(x), *rv = get(res), *kv = get(rank), r2 = 0;
  double resid[120];
  for (int64_t i = 0; i < m; i++) {
    double s = 0;
    for (int64_t k = 0; k < n; k++) s += v[i * n + k] * xv[k];
    resid[i] = bv[i] - s;
    r2 += resid[i] * resid[i];
  }
  for (int64_t k = 0; k < n; k++) { /* a.T (b - a x) = 0 */
    double s = 0;
    for (int64_t i = 0; i < m; i++) s += v[i * n + k] * resid[i];
    ck_assert_msg(fabs(s) <= 1e-12, "normal equation %lld: %.3g", (long long)k, s);
  }
  ck_assert_msg(fabs(rv[0] - r2) <= 1e-12 * r2, "residuals %.17g, loop %.17g", rv[0], r2);
  ck_assert(kv[0] == 4);
  free(xv), free(rv), free(kv), free(v);
  cask_array *all[] = {a, b, x, res, rank, sv};
  for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) cask_array_release(all[i]);
  cask_ctx_free(ctx);
}
END_TEST

/* einsum(subs, a, b) against loop(a, b) over m x n (and n x p) inputs. */
START_TEST(einsum_matches_plain_loops_on_both_routes) {
  cask_ctx *ctx = ctx_with(2, 3);
  int64_t m = 9, n = 7;
  double *av = dvalues(m * n, 41, 0), *bv = dvalues(m * n, 42, 0), *cv = dvalues(n * n, 43, 0);
  cask_array *a = mat(ctx, CASK_F64, av, m, n, 4, 3), *b = mat(ctx, CASK_F64, bv, m, n, 2, 5);
  cask_array *c = mat(ctx, CASK_F64, cv, n, n, 3, 3), *r;
  /* 'ij,ij->i': the fused product and sum */
  ck_assert_int_eq(cask_einsum("ij,ij->i", 2, (cask_array *[]){a, b}, &r), CASK_OK);
  double *rv = get(r);
  for (int64_t i = 0; i < m; i++) {
    double s = 0;
    for (int64_t j = 0; j < n; j++) s += av[i * n + j] * bv[i * n + j];
    require(fabs(rv[i] - s) <= 1e-14 * n, "ij,ij->i at %lld", (long long)i);
  }
  free(rv), cask_array_release(r);
  /* 'ij,kj': implicit output ik, a matrix product (BLAS) */
  ck_assert_int_eq(cask_einsum("ij,kj", 2, (cask_array *[]){a, b}, &r), CASK_OK);
  ck_assert_int_eq(cask_array_shape(r)[1], m);
  rv = get(r);
  for (int64_t i = 0; i < m; i++)
    for (int64_t k = 0; k < m; k++) {
      double s = 0;
      for (int64_t j = 0; j < n; j++) s += av[i * n + j] * bv[k * n + j];
      require(fabs(rv[i * m + k] - s) <= 1e-14 * n, "ij,kj at (%lld, %lld)", (long long)i, (long long)k);
    }
  free(rv), cask_array_release(r);
  /* 'ii->i', 'ii' and 'ij,jk,kl->il' (three operands) */
  ck_assert_int_eq(cask_einsum("ii->i", 1, &c, &r), CASK_OK);
  rv = get(r);
  double tr = 0;
  for (int64_t i = 0; i < n; i++) {
    require(rv[i] == cv[i * n + i], "diagonal at %lld", (long long)i);
    tr += cv[i * n + i];
  }
  free(rv), cask_array_release(r);
  ck_assert_int_eq(cask_einsum("ii", 1, &c, &r), CASK_OK);
  rv = get(r);
  ck_assert_msg(fabs(rv[0] - tr) <= 1e-14 * n, "trace %.17g, loop %.17g", rv[0], tr);
  free(rv), cask_array_release(r);
  ck_assert_int_eq(cask_einsum("ij,jk,kl->il", 3, (cask_array *[]){a, c, c}, &r), CASK_OK);
  rv = get(r);
  for (int64_t i = 0; i < m; i++)
    for (int64_t l = 0; l < n; l++) {
      double s = 0;
      for (int64_t j = 0; j < n; j++)
        for (int64_t k = 0; k < n; k++) s += av[i * n + j] * cv[j * n + k] * cv[k * n + l];
      require(fabs(rv[i * n + l] - s) <= 1e-13 * n * n, "ij,jk,kl->il at (%lld, %lld)", (long long)i, (long long)l);
    }
  free(rv), cask_array_release(r);
  free(av), free(bv), free(cv);
  cask_array_release(a), cask_array_release(b), cask_array_release(c);
  cask_ctx_free(ctx);
}
END_TEST

START_TEST(einsum_of_int32_keeps_int32_and_wraps_like_numpy) {
  cask_ctx *ctx = ctx_with(2, 8);
  int32_t *p = malloc(6 * sizeof *p);
  for (int i = 0; i < 6; i++) p[i] = 2000000000 - i;
  cask_array *a, *r;
  ck_assert_int_eq(cask_from_buffer(ctx, p, CASK_I32, 2, (int64_t[]){2, 3}, (int64_t[]){1, 2}, release_free, NULL, &a), CASK_OK);
  ck_assert_int_eq(cask_einsum("ij->i", 1, &a, &r), CASK_OK);
  ck_assert_int_eq(cask_array_dtype(r), CASK_I32);
  int32_t got[2];
  ck_assert_int_eq(cask_compute(r, got, sizeof got), CASK_OK);
  for (int i = 0; i < 2; i++) {
    uint32_t s = 0;
    for (int j = 0; j < 3; j++) s += (uint32_t)p[i * 3 + j];
    ck_assert_int_eq(got[i], (int32_t)s);
  }
  cask_array_release(a), cask_array_release(r);
  cask_ctx_free(ctx);
}
END_TEST

START_TEST(nanargmin_and_nanargmax_skip_nans_across_blocks_and_refuse_all_nan) {
  cask_ctx *ctx = ctx_with(2, 2);
  double v[12] = {NAN, 3, 1, NAN, 1, 7, 7, NAN, -2, NAN, -2, 0};
  double *p = malloc(sizeof v);
  memcpy(p, v, sizeof v);
  cask_array *a, *r;
  ck_assert_int_eq(cask_from_buffer(ctx, p, CASK_F64, 1, (int64_t[]){12}, (int64_t[]){5}, release_free, NULL, &a), CASK_OK);
  int64_t got;
  ck_assert_int_eq(cask_nanargmin(a, NULL, 0, &r), CASK_OK);
  ck_assert_int_eq(cask_compute(r, &got, sizeof got), CASK_OK);
  ck_assert_int_eq(got, 8); /* -2 at 8 and 10: the first */
  cask_array_release(r);
  ck_assert_int_eq(cask_nanargmax(a, NULL, 0, &r), CASK_OK);
  ck_assert_int_eq(cask_compute(r, &got, sizeof got), CASK_OK);
  ck_assert_int_eq(got, 5); /* 7 at 5 and 6, in two blocks */
  cask_array_release(r);
  cask_array *nan, *x;
  ck_assert_int_eq(cask_full(ctx, CASK_F64, NAN, 2, (int64_t[]){3, 4}, (int64_t[]){2, 2}, &nan), CASK_OK);
  ck_assert_int_eq(cask_nanargmin(nan, (int[]){0}, 1, &x), CASK_OK);
  int64_t out[4];
  ck_assert_int_eq(cask_compute(x, out, sizeof out), CASK_EINVAL);
  ck_assert_ptr_nonnull(strstr(cask_ctx_errmsg(ctx), "All-NaN slice encountered"));
  cask_array_release(a), cask_array_release(nan), cask_array_release(x);
  cask_ctx_free(ctx);
}
END_TEST

START_TEST(cov_and_norm_match_plain_loops) {
  cask_ctx *ctx = ctx_with(2, 3);
  int64_t m = 4, n = 11;
  double *v = dvalues(m * n, 51, 0);
  cask_array *a = mat(ctx, CASK_F64, v, m, n, 3, 4), *c, *nrm, *n1;
  ck_assert_int_eq(cask_cov(a, NULL, 1, 0, -1, &c), CASK_OK);
  ck_assert_int_eq(cask_norm(a, CASK_NORM_DEFAULT, 0, NULL, 0, 0, &nrm), CASK_OK);
  ck_assert_int_eq(cask_norm(a, CASK_NORM_ORD, 1, NULL, 0, 0, &n1), CASK_OK);
  double *cv = get(c), *nv = get(nrm), *ov = get(n1), mean[4], fro = 0, col = 0;
  for (int64_t i = 0; i < m; i++) {
    mean[i] = 0;
    for (int64_t k = 0; k < n; k++) mean[i] += v[i * n + k] / n;
  }
  for (int64_t i = 0; i < m; i++)
    for (int64_t j = 0; j < m; j++) {
      double s = 0;
      for (int64_t k = 0; k < n; k++) s += (v[i * n + k] - mean[i]) * (v[j * n + k] - mean[j]);
      require(fabs(cv[i * m + j] - s / (n - 1)) <= 1e-14, "cov (%lld, %lld)", (long long)i, (long long)j);
    }
  for (int64_t k = 0; k < n; k++) {
    double s = 0;
    for (int64_t i = 0; i < m; i++) s += fabs(v[i * n + k]), fro += v[i * n + k] * v[i * n + k];
    col = fmax(col, s);
  }
  ck_assert_msg(fabs(nv[0] - sqrt(fro)) <= 1e-14 * sqrt(fro), "fro %.17g", nv[0]);
  ck_assert_msg(fabs(ov[0] - col) <= 1e-14 * col, "1-norm %.17g, loop %.17g", ov[0], col);
  free(cv), free(nv), free(ov), free(v);
  cask_array_release(a), cask_array_release(c), cask_array_release(nrm), cask_array_release(n1);
  cask_ctx_free(ctx);
}
END_TEST

START_TEST(bad_arguments_and_unfactorable_matrices_name_the_function_and_shape) {
  cask_ctx *ctx = ctx_with(2, 8);
  cask_array *a, *z, *r, *big, *q;
  ck_assert_int_eq(cask_zeros(ctx, CASK_F64, 2, (int64_t[]){4, 3}, NULL, &a), CASK_OK);
  ck_assert_int_eq(cask_einsum("ij,jk->ik", 2, (cask_array *[]){a, a}, &r), CASK_EINVAL);
  ck_assert_str_eq(cask_ctx_errmsg(ctx),
                   "einsum: 'ij,jk->ik' with shapes (4, 3), (4, 3): label 'j' has extent 3 in one place and 4 in another");
  ck_assert_int_eq(cask_inv(a, &r), CASK_EINVAL);
  ck_assert_str_eq(cask_ctx_errmsg(ctx), "inv: shape (4, 3): Last 2 dimensions of the array must be square");
  /* TSQR's rule: blocks of fewer rows than columns, and too big for one block */
  ck_assert_int_eq(cask_zeros(ctx, CASK_F64, 2, (int64_t[]){1 << 20, 200}, (int64_t[]){100, 200}, &big), CASK_OK);
  ck_assert_int_eq(cask_qr(big, &q, &r), CASK_EINVAL);
  ck_assert_ptr_nonnull(strstr(cask_ctx_errmsg(ctx), "qr: shape (1048576, 200) in row chunks of 100: every row block needs at least 200 rows"));
  /* singular and not positive definite: the run fails, naming them */
  ck_assert_int_eq(cask_zeros(ctx, CASK_F64, 2, (int64_t[]){3, 3}, (int64_t[]){2, 2}, &z), CASK_OK);
  double out[9];
  ck_assert_int_eq(cask_inv(z, &r), CASK_OK);
  ck_assert_int_eq(cask_compute(r, out, sizeof out), CASK_EINVAL);
  ck_assert_ptr_nonnull(strstr(cask_ctx_errmsg(ctx), "inv: Singular matrix (shape (3, 3))"));
  cask_array_release(r);
  ck_assert_int_eq(cask_cholesky(z, &r), CASK_OK);
  ck_assert_int_eq(cask_compute(r, out, sizeof out), CASK_EINVAL);
  ck_assert_ptr_nonnull(strstr(cask_ctx_errmsg(ctx), "cholesky: Matrix is not positive definite (shape (3, 3))"));
  cask_array_release(r);
  ck_assert_int_eq(cask_det(z, &r), CASK_OK); /* singular: det 0, as NumPy */
  ck_assert_int_eq(cask_compute(r, out, sizeof(double)), CASK_OK);
  ck_assert(out[0] == 0);
  cask_array_release(r), cask_array_release(a), cask_array_release(z), cask_array_release(big);
  cask_ctx_free(ctx);
}
END_TEST

/* The TSQR, LAPACK and einsum ops are registered by name with plain
 * arguments: a graph of them written as JSON, read back and run gives the
 * same bits as cask_compute. */
START_TEST(tsqr_svd_and_einsum_graphs_round_trip_through_json) {
  cask_ctx *ctx = ctx_with(2, 2);
  cask_array *x, *q, *r, *u, *s, *e, *parts[3];
  ck_assert_int_eq(cask_random_normal(ctx, 5, CASK_F64, 2, (int64_t[]){40, 4}, (int64_t[]){6, 4}, &x), CASK_OK);
  ck_assert_int_eq(cask_qr(x, &q, &r), CASK_OK);
  ck_assert_int_eq(cask_svd(x, &u, &s, NULL), CASK_OK);
  ck_assert_int_eq(cask_einsum("ij,ij->i", 2, (cask_array *[]){x, x}, &e), CASK_OK);
  parts[0] = q, parts[1] = s, parts[2] = e;
  for (int k = 0; k < 3; k++) {
    double *want = get(parts[k]);
    cask_graph *g, *g2;
    char *json, *err = NULL, **keys;
    size_t len;
    ck_assert_int_eq(cask_arrays_graph(1, &parts[k], &g, &keys), CASK_OK);
    ck_assert_int_eq(cask_graph_to_json(g, &json, &len), CASK_OK);
    ck_assert_msg(cask_graph_from_json(json, len, &g2, &err) == CASK_OK, "%s", err ? err : "");
    cask_results *res;
    ck_assert_int_eq(cask_run(cask_ctx_runtime(ctx), g2, NULL, &res), CASK_OK);
    cask_task_id id; /* the first block: its rows of the result */
    ck_assert_int_eq(cask_graph_find(g2, keys[0], &id), CASK_OK);
    const cask_block *blk = cask_results_get(res, id);
    ck_assert_ptr_nonnull(blk);
    ck_assert_msg(memcmp(cask_block_data(blk), want, (size_t)cask_block_nbytes(blk)) == 0, "result %d differs after JSON", k);
    cask_results_free(res);
    cask_graph_free(g2);
    cask_graph_free(g);
    cask_free(keys);
    free(json);
    free(want);
  }
  cask_array *all[] = {x, q, r, u, s, e};
  for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) cask_array_release(all[i]);
  cask_ctx_free(ctx);
}
END_TEST

START_TEST(a_matrix_too_big_for_one_block_is_refused_before_anything_runs) {
  cask_ctx *ctx = ctx_with(1, 8);
  cask_array *a, *d;
  ck_assert_int_eq(cask_zeros(ctx, CASK_F64, 2, (int64_t[]){20000, 20000}, (int64_t[]){1000, 1000}, &a), CASK_OK);
  ck_assert_int_eq(cask_det(a, &d), CASK_ETOOBIG);
  ck_assert_ptr_null(d);
  ck_assert_str_eq(cask_ctx_errmsg(ctx),
                   "det: a matrix of shape (20000, 20000) (3200000000 bytes) does not fit in one block of at most 1073741824 bytes");
  cask_array_release(a);
  cask_ctx_free(ctx);
}
END_TEST

Suite *array_lapack_suite(void) {
  Suite *s = suite_create("array_lapack");
  TCase *tc = tcase_create("tsqr");
  tcase_set_timeout(tc, 60);
  tcase_add_test(tc, tsqr_reconstructs_with_orthonormal_q_over_a_ragged_last_block);
  tcase_add_test(tc, tsqr_of_float32_stays_float32_within_its_bound);
  tcase_add_test(tc, tsqr_svd_and_lstsq_are_bit_identical_for_1_2_and_8_threads);
  tcase_add_test(tc, svd_reconstructs_and_its_squares_sum_to_the_frobenius_norm);
  tcase_add_test(tc, svd_compressed_finds_the_leading_singular_values_of_a_low_rank_matrix);
  tcase_add_test(tc, lstsq_by_tsqr_satisfies_the_normal_equations);
  suite_add_tcase(s, tc);
  tc = tcase_create("lapack");
  tcase_add_test(tc, solve_inv_det_slogdet_and_cholesky_match_plain_loops);
  tcase_add_test(tc, bad_arguments_and_unfactorable_matrices_name_the_function_and_shape);
  tcase_add_test(tc, tsqr_svd_and_einsum_graphs_round_trip_through_json);
  tcase_add_test(tc, a_matrix_too_big_for_one_block_is_refused_before_anything_runs);
  suite_add_tcase(s, tc);
  tc = tcase_create("einsum_stats");
  tcase_add_test(tc, einsum_matches_plain_loops_on_both_routes);
  tcase_add_test(tc, einsum_of_int32_keeps_int32_and_wraps_like_numpy);
  tcase_add_test(tc, nanargmin_and_nanargmax_skip_nans_across_blocks_and_refuse_all_nan);
  tcase_add_test(tc, cov_and_norm_match_plain_loops);
  suite_add_tcase(s, tc);
  return s;
}
