/* decomp.c - the public decompositions of linalg.h: each checks its
 * arguments (naming itself and the shapes), then picks one LAPACK call on
 * one block (lapack.c) or, for a tall-and-skinny matrix chunked along its
 * rows, TSQR (tsqr.c) with the small steps on R as one-block calls. The
 * one thing to know: "one block" means the input is chunked as one block
 * along both axes (or rechunked to one in cask__lapack when the chunked
 * path does not apply and it fits). */
#include <math.h>
#include <stdio.h>

#include "lapack.h"

int cask__tsqr(cask_array *a, const char *fn, cask_array **q, cask_array **r);

static int shape_fail(cask_array *a, const char *fn, const char *what) {
  char s[CASK_MAX_NDIM * 22 + 4];
  cask__shape_str(s, sizeof s, a->ndim, a->shape);
  return cask__fail(a->ctx, CASK_EINVAL, "%s: shape %s: %s", fn, s, what);
}

static int check_matrix(cask_array *a, const char *fn, int square) {
  if (a->ndim != 2) return shape_fail(a, fn, "expected a 2-d array (stacks of matrices are not supported)");
  if (square && a->shape[0] != a->shape[1]) return shape_fail(a, fn, "Last 2 dimensions of the array must be square");
  return CASK_OK;
}

/* Several row blocks: TSQR's case, unless the blocks are too short for it
 * (fewer rows than columns) and the matrix fits in one block, which a
 * single LAPACK call then factors (TSQR then reports why it cannot). */
static int chunked_rows(const cask_array *a) {
  if (cask__nblocks(a, 0) < 2) return 0;
  int64_t m = a->shape[0], n = a->shape[1], c = a->chunk[0], last = m - (cask__nblocks(a, 0) - 1) * c;
  int fits = cask_array_size(a) * (int64_t)cask_dtype_size(cask__linalg_dtype(a->dtype)) <= CASK_LINALG_MAX_BLOCK;
  return !fits || (n <= m && c >= n && last >= n);
}

int cask_cholesky(cask_array *a, cask_array **out) {
  if (!out || !a) return CASK_EINVAL;
  *out = NULL;
  int rc = check_matrix(a, "cholesky", 1);
  if (rc) return rc;
  int64_t sh[1][2] = {{a->shape[0], a->shape[1]}};
  return cask__lapack(CASK__F_CHOL, a, NULL, 0, 1, (int[]){2}, sh, NULL, 1, out);
}

int cask_inv(cask_array *a, cask_array **out) {
  if (!out || !a) return CASK_EINVAL;
  *out = NULL;
  int rc = check_matrix(a, "inv", 1);
  if (rc) return rc;
  int64_t sh[1][2] = {{a->shape[0], a->shape[1]}};
  return cask__lapack(CASK__F_INV, a, NULL, 0, 1, (int[]){2}, sh, NULL, 1, out);
}

int cask_solve(cask_array *a, cask_array *b, cask_array **out) {
  if (!out || !a || !b) return CASK_EINVAL;
  *out = NULL;
  int rc = check_matrix(a, "solve", 1);
  if (rc) return rc;
  if (b->ndim < 1 || b->ndim > 2 || b->shape[0] != a->shape[0]) {
    char s[CASK_MAX_NDIM * 22 + 4], t[CASK_MAX_NDIM * 22 + 4];
    cask__shape_str(s, sizeof s, a->ndim, a->shape);
    cask__shape_str(t, sizeof t, b->ndim, b->shape);
    return cask__fail(a->ctx, CASK_EINVAL, "solve: a of shape %s and b of shape %s do not fit (b must be (%lld,) or (%lld, k))",
                      s, t, (long long)a->shape[0], (long long)a->shape[0]);
  }
  cask_array *b2 = NULL;
  int64_t k = b->ndim == 2 ? b->shape[1] : 1;
  rc = b->ndim == 2 ? (b2 = cask_array_retain(b), CASK_OK) : cask_reshape(b, 2, (int64_t[]){b->shape[0], 1}, &b2);
  int64_t sh[1][2] = {{a->shape[0], k}};
  cask_array *x = NULL;
  if (!rc) rc = cask__lapack(CASK__F_SOLVE, a, b2, 0, 1, (int[]){2}, sh, NULL, 1, &x);
  if (!rc && b->ndim == 1) rc = cask_reshape(x, 1, (int64_t[]){a->shape[0]}, out);
  else if (!rc) *out = cask_array_retain(x);
  cask_array_release(x);
  cask_array_release(b2);
  return rc;
}

int cask_det(cask_array *a, cask_array **out) {
  if (!out || !a) return CASK_EINVAL;
  *out = NULL;
  int rc = check_matrix(a, "det", 1);
  if (rc) return rc;
  int64_t sh[1][2] = {{0, 0}};
  return cask__lapack(CASK__F_DET, a, NULL, 0, 1, (int[]){0}, sh, NULL, 1, out);
}

int cask_slogdet(cask_array *a, cask_array **sign, cask_array **logabsdet) {
  if (!a || (!sign && !logabsdet)) return CASK_EINVAL;
  if (sign) *sign = NULL;
  if (logabsdet) *logabsdet = NULL;
  int rc = check_matrix(a, "slogdet", 1);
  if (rc) return rc;
  int64_t sh[2][2] = {{0, 0}, {0, 0}};
  cask_array *o[2];
  rc = cask__lapack(CASK__F_SLOGDET, a, NULL, 0, 2, (int[]){0, 0}, sh, NULL, (sign ? 1u : 0) | (logabsdet ? 2u : 0), o);
  if (sign) *sign = o[0];
  if (logabsdet) *logabsdet = o[1];
  return rc;
}

int cask_qr(cask_array *a, cask_array **q, cask_array **r) {
  if (!a || (!q && !r)) return CASK_EINVAL;
  if (q) *q = NULL;
  if (r) *r = NULL;
  int rc = check_matrix(a, "qr", 0);
  if (rc) return rc;
  if (chunked_rows(a)) return cask__tsqr(a, "qr", q, r);
  int64_t m = a->shape[0], n = a->shape[1], k = m < n ? m : n;
  int64_t sh[2][2] = {{m, k}, {k, n}};
  cask_array *o[2];
  rc = cask__lapack(CASK__F_QR, a, NULL, 0, 2, (int[]){2, 2}, sh, NULL, (q ? 1u : 0) | (r ? 2u : 0), o);
  if (q) *q = o[0];
  if (r) *r = o[1];
  return rc;
}

/* The SVD of a one-block a: u, s, vt as wanted. */
static int svd_block(cask_array *a, cask_array **u, cask_array **s, cask_array **vt) {
  int64_t m = a->shape[0], n = a->shape[1], k = m < n ? m : n;
  int64_t sh[3][2] = {{m, k}, {k, 0}, {k, n}};
  cask_array *o[3];
  int rc;
  if (!u && !vt) {
    rc = cask__lapack(CASK__F_SVDVALS, a, NULL, 0, 1, (int[]){1}, sh + 1, NULL, 1, o);
    if (s) *s = o[0];
    return rc;
  }
  rc = cask__lapack(CASK__F_SVD, a, NULL, 0, 3, (int[]){2, 1, 2}, sh, NULL,
                    (u ? 1u : 0) | (s ? 2u : 0) | (vt ? 4u : 0), o);
  if (u) *u = o[0];
  if (s) *s = o[1];
  if (vt) *vt = o[2];
  return rc;
}

int cask_svd(cask_array *a, cask_array **u, cask_array **s, cask_array **vt) {
  if (!a || (!u && !s && !vt)) return CASK_EINVAL;
  if (u) *u = NULL;
  if (s) *s = NULL;
  if (vt) *vt = NULL;
  int rc = check_matrix(a, "svd", 0);
  if (rc) return rc;
  if (!chunked_rows(a)) return svd_block(a, u, s, vt);
  /* TSQR: a = q r, r = u_r s vt, so u = q u_r */
  cask_array *q = NULL, *r = NULL, *ur = NULL;
  rc = cask__tsqr(a, "svd", u ? &q : NULL, &r);
  if (!rc) rc = svd_block(r, u ? &ur : NULL, s, vt);
  if (!rc && u) rc = cask_matmul(q, ur, u);
  cask_array_release(q);
  cask_array_release(r);
  cask_array_release(ur);
  return rc;
}

int cask_svdvals(cask_array *a, cask_array **out) {
  if (!out) return CASK_EINVAL;
  return cask_svd(a, NULL, out, NULL);
}

/* dask's compression_matrix then svd_compressed (Halko, Martinsson and
 * Tropp, algorithm 4.3 with power iterations, 10 extra columns). */
int cask_svd_compressed(cask_array *a, int64_t k, int n_power_iter, uint64_t seed, cask_array **u, cask_array **s,
                        cask_array **vt) {
  if (!a || (!u && !s && !vt)) return CASK_EINVAL;
  if (u) *u = NULL;
  if (s) *s = NULL;
  if (vt) *vt = NULL;
  int rc = check_matrix(a, "svd_compressed", 0);
  if (rc) return rc;
  int64_t m = a->shape[0], n = a->shape[1], mn = m < n ? m : n;
  if (k < 1 || k > mn || n_power_iter < 0) {
    char msg[160];
    snprintf(msg, sizeof msg, "k = %lld must be in 1 .. %lld and n_power_iter = %d not negative", (long long)k,
             (long long)mn, n_power_iter);
    return shape_fail(a, "svd_compressed", msg);
  }
  int64_t comp = k + 10 < mn ? k + 10 : mn;
  cask_dtype dt = cask__linalg_dtype(a->dtype);
  enum { X, OM, H, T1, T2, Q, QT, B, UB, SB, VB, UF, N };
  cask_array *t[N] = {NULL};
  rc = a->dtype == dt ? (t[X] = cask_array_retain(a), CASK_OK) : cask_astype(a, dt, &t[X]);
  if (!rc) rc = cask_random_normal(a->ctx, seed, dt, 2, (int64_t[]){n, comp}, (int64_t[]){a->chunk[1], comp}, &t[OM]);
  if (!rc) rc = cask_matmul(t[X], t[OM], &t[H]);
  for (int it = 0; it < n_power_iter && !rc; it++) { /* H = A (A^T H) */
    cask_array *at = NULL, *h2 = NULL;
    rc = cask_transpose(t[X], NULL, &at);
    if (!rc) rc = cask_matmul(at, t[H], &t[T1]);
    if (!rc) rc = cask_matmul(t[X], t[T1], &h2);
    cask_array_release(at);
    cask_array_release(t[T1]);
    t[T1] = NULL;
    if (!rc) {
      cask_array_release(t[H]);
      t[H] = h2;
    }
  }
  if (!rc) rc = chunked_rows(t[H]) ? cask__tsqr(t[H], "svd_compressed", &t[Q], NULL) : cask_qr(t[H], &t[Q], NULL);
  if (!rc) rc = cask_transpose(t[Q], NULL, &t[QT]);
  if (!rc) rc = cask_matmul(t[QT], t[X], &t[B]); /* comp x n: small */
  if (!rc) rc = svd_block(t[B], &t[UB], &t[SB], &t[VB]);
  if (!rc && u) rc = cask_matmul(t[Q], t[UB], &t[UF]);
  if (!rc && u) rc = cask_slice(t[UF], 2, (cask_index[]){CASK_COLON, CASK_SLICE(0, k, 1)}, u);
  if (!rc && s) rc = cask_slice(t[SB], 1, (cask_index[]){CASK_SLICE(0, k, 1)}, s);
  if (!rc && vt) rc = cask_slice(t[VB], 2, (cask_index[]){CASK_SLICE(0, k, 1), CASK_COLON}, vt);
  for (int i = 0; i < N; i++) cask_array_release(t[i]);
  if (rc) {
    if (u) cask_array_release(*u), *u = NULL;
    if (s) cask_array_release(*s), *s = NULL;
    if (vt) cask_array_release(*vt), *vt = NULL;
  }
  return rc;
}

/* lstsq of a tall-and-skinny chunked a: x = r^-1 (q.T b) (dask's lstsq). */
static int lstsq_tsqr(cask_array *a, cask_array *b2, int b1d, cask_array **x, cask_array **res, cask_array **rank,
                      cask_array **sv) {
  int64_t n = a->shape[1], k = b2->shape[1];
  enum { Q, R, QT, Y, X2, AX, D, SQ, N };
  cask_array *t[N] = {NULL};
  int rc = cask__tsqr(a, "lstsq", &t[Q], &t[R]);
  if (!rc) rc = cask_transpose(t[Q], NULL, &t[QT]);
  if (!rc) rc = cask_matmul(t[QT], b2, &t[Y]);
  int64_t sh[1][2] = {{n, k}};
  if (!rc) rc = cask__lapack(CASK__F_TRSOLVE, t[R], t[Y], 0, 1, (int[]){2}, sh, NULL, 1, &t[X2]);
  if (!rc && b1d) rc = cask_reshape(t[X2], 1, (int64_t[]){n}, x);
  else if (!rc) *x = cask_array_retain(t[X2]);
  if (!rc && res) { /* m > n here: the squared norms of b - a x per column */
    cask_array *bf = NULL;
    rc = cask_matmul(a, t[X2], &t[AX]);
    if (!rc) rc = cask_astype(b2, t[AX]->dtype, &bf);
    if (!rc) rc = cask_binary(CASK_SUB, bf, t[AX], &t[D]);
    if (!rc) rc = cask_binary(CASK_MUL, t[D], t[D], &t[SQ]);
    if (!rc) rc = cask_reduce(CASK_SUM, t[SQ], (int[]){0}, 1, 0, res);
    cask_array_release(bf);
  }
  int64_t rs[1][2] = {{0, 0}};
  cask_dtype i64 = CASK_I64;
  if (!rc && rank)
    rc = cask__lapack(CASK__F_RANK, t[R], NULL, (double)n, 1, (int[]){0}, rs, &i64, 1, rank);
  if (!rc && sv) rc = svd_block(t[R], NULL, sv, NULL);
  for (int i = 0; i < N; i++) cask_array_release(t[i]);
  return rc;
}

int cask_lstsq(cask_array *a, cask_array *b, cask_array **x, cask_array **residuals, cask_array **rank,
               cask_array **sv) {
  if (!a || !b || !x) return CASK_EINVAL;
  *x = NULL;
  if (residuals) *residuals = NULL;
  if (rank) *rank = NULL;
  if (sv) *sv = NULL;
  int rc = check_matrix(a, "lstsq", 0);
  if (rc) return rc;
  if (b->ndim < 1 || b->ndim > 2 || b->shape[0] != a->shape[0]) {
    char s[CASK_MAX_NDIM * 22 + 4], t[CASK_MAX_NDIM * 22 + 4];
    cask__shape_str(s, sizeof s, a->ndim, a->shape);
    cask__shape_str(t, sizeof t, b->ndim, b->shape);
    return cask__fail(a->ctx, CASK_EINVAL, "lstsq: a of shape %s and b of shape %s do not fit (Incompatible dimensions)", s, t);
  }
  int64_t m = a->shape[0], n = a->shape[1], k = b->ndim == 2 ? b->shape[1] : 1, mn = m < n ? m : n;
  cask_array *b2 = NULL, *o[4] = {NULL};
  rc = b->ndim == 2 ? (b2 = cask_array_retain(b), CASK_OK) : cask_reshape(b, 2, (int64_t[]){m, 1}, &b2);
  if (!rc && chunked_rows(a) && m > n) {
    rc = lstsq_tsqr(a, b2, b->ndim == 1, x, residuals, rank, sv);
    cask_array_release(b2);
    return rc;
  }
  int64_t sh[4][2] = {{n, k}, {m > n ? k : 0, 0}, {0, 0}, {mn, 0}};
  cask_dtype dt = cask__linalg_dtype(cask_promote(a->dtype, b->dtype));
  cask_dtype dts[4] = {dt, dt, CASK_I64, dt};
  if (!rc)
    rc = cask__lapack(CASK__F_LSTSQ, a, b2, 0, 4, (int[]){2, 1, 0, 1}, sh, dts,
                      1u | (residuals ? 2u : 0) | (rank ? 4u : 0) | (sv ? 8u : 0), o);
  if (!rc && b->ndim == 1) rc = cask_reshape(o[0], 1, (int64_t[]){n}, x);
  else if (!rc) *x = cask_array_retain(o[0]);
  if (!rc) {
    if (residuals) *residuals = o[1], o[1] = NULL;
    if (rank) *rank = o[2], o[2] = NULL;
    if (sv) *sv = o[3], o[3] = NULL;
  }
  for (int i = 0; i < 4; i++) cask_array_release(o[i]);
  cask_array_release(b2);
  return rc;
}
