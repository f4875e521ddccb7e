/* cov.c - NumPy's cov and corrcoef, composed of existing nodes: the
 * variables as rows of a float64 matrix X (m at least 2-d, transposed when
 * not rowvar, y's rows appended), the row means subtracted (a fused
 * elementwise node), then X @ X.T by the blocked matmul (one gemm per block
 * pair, a fixed-order sum) divided by N - ddof. corrcoef divides by the
 * outer product of the square roots of the diagonal and clips to [-1, 1],
 * as NumPy does. The one thing to know: NumPy computes in float64 whatever
 * the input (float32 included), and so does this. */
#include <math.h>

#include "ops.h"

/* v as the rows-are-variables float64 matrix NumPy's cov makes of it. */
static int as_rows(cask_array *v, int rowvar, const char *fn, cask_array **out) {
  char s[CASK_MAX_NDIM * 22 + 4];
  cask__shape_str(s, sizeof s, v->ndim, v->shape);
  *out = NULL;
  if (v->ndim > 2)
    return cask__fail(v->ctx, CASK_EINVAL, "%s: an array of shape %s has more than 2 dimensions", fn, s);
  cask_array *f = NULL, *r = NULL;
  int rc = cask_astype(v, CASK_F64, &f);
  if (!rc && v->ndim < 2) {
    int64_t shape[2] = {1, v->ndim ? v->shape[0] : 1};
    rc = cask_reshape(f, 2, shape, &r);
  } else if (!rc) {
    r = cask_array_retain(f);
  }
  /* NumPy: a 1-d array is one variable whatever rowvar says */
  if (!rc && !rowvar && v->ndim == 2) rc = cask_transpose(r, NULL, out);
  else if (!rc) *out = cask_array_retain(r);
  cask_array_release(f);
  cask_array_release(r);
  return rc;
}

int cask__diagonal(cask_array *a, cask_array **out) {
  *out = NULL;
  if (a->ndim != 2) {
    char s[CASK_MAX_NDIM * 22 + 4];
    cask__shape_str(s, sizeof s, a->ndim, a->shape);
    return cask__fail(a->ctx, CASK_EINVAL, "diagonal: shape %s is not 2-d", s);
  }
  int64_t n = a->shape[0] < a->shape[1] ? a->shape[0] : a->shape[1];
  cask_array *sq = NULL, *eye = NULL, *zero = NULL, *w = NULL;
  int rc = cask_slice(a, 2, (cask_index[]){CASK_SLICE(0, n, 1), CASK_SLICE(0, n, 1)}, &sq);
  /* where(eye, a, 0) summed along rows: each sum has one term, exact */
  if (!rc) rc = cask_eye(a->ctx, CASK_BOOL, n, n, 0, sq->chunk[0], &eye);
  if (!rc) rc = cask_zeros(a->ctx, a->dtype, 0, NULL, NULL, &zero);
  if (!rc) rc = cask_where(eye, sq, zero, &w);
  if (!rc) rc = cask_reduce(CASK_SUM, w, (int[]){1}, 1, 0, out);
  cask_array_release(sq);
  cask_array_release(eye);
  cask_array_release(zero);
  cask_array_release(w);
  return rc;
}

int cask_cov(cask_array *m, cask_array *y, int rowvar, int bias, int ddof, cask_array **out) {
  if (!out) return CASK_EINVAL;
  *out = NULL;
  if (!m) return CASK_EINVAL;
  if (y && y->ctx != m->ctx) return cask__fail(m->ctx, CASK_EINVAL, "cov: m and y belong to different contexts");
  if (ddof < -1) return cask__fail(m->ctx, CASK_EINVAL, "cov: ddof %d is negative", ddof);
  if (ddof == -1) ddof = bias ? 0 : 1;
  enum { XM, XY, X, MEAN, KEPT, XC, XT, P, N };
  cask_array *t[N] = {NULL};
  int rc = as_rows(m, rowvar, "cov", &t[XM]);
  if (!rc && y) rc = as_rows(y, rowvar, "cov", &t[XY]);
  if (!rc && y) {
    if (t[XY]->shape[1] != t[XM]->shape[1]) {
      char s[CASK_MAX_NDIM * 22 + 4], u[CASK_MAX_NDIM * 22 + 4];
      cask__shape_str(s, sizeof s, m->ndim, m->shape);
      cask__shape_str(u, sizeof u, y->ndim, y->shape);
      rc = cask__fail(m->ctx, CASK_EINVAL, "cov: m of shape %s and y of shape %s have %lld and %lld observations", s,
                      u, (long long)t[XM]->shape[1], (long long)t[XY]->shape[1]);
    } else {
      rc = cask_concatenate(2, (cask_array *[]){t[XM], t[XY]}, 0, &t[X]);
    }
  } else if (!rc) {
    t[X] = cask_array_retain(t[XM]);
  }
  if (!rc) rc = cask_reduce(CASK_MEAN, t[X], (int[]){1}, 1, 0, &t[MEAN]);
  if (!rc) rc = cask_expand_dims(t[MEAN], 1, (int[]){1}, &t[KEPT]);
  if (!rc) rc = cask_binary(CASK_SUB, t[X], t[KEPT], &t[XC]);
  if (!rc) rc = cask_transpose(t[XC], NULL, &t[XT]);
  if (!rc) rc = cask_matmul(t[XC], t[XT], &t[P]);
  if (!rc) {
    /* NumPy divides by N - ddof (inf or NaN when that is not positive,
     * with a warning) */
    double fact = (double)(t[X]->shape[1] - ddof);
    cask_array *c = NULL;
    rc = cask_binary_scalar(CASK_MUL, t[P], 1.0 / (fact > 0 ? fact : 0.0), 0, &c);
    if (!rc && t[X]->shape[0] == 1) { /* one variable: a 0-d result, as NumPy's squeeze */
      rc = cask_reshape(c, 0, NULL, out);
      cask_array_release(c);
    } else if (!rc) {
      *out = c;
    }
  }
  for (int k = 0; k < N; k++) cask_array_release(t[k]);
  return rc;
}

int cask_corrcoef(cask_array *x, cask_array *y, int rowvar, cask_array **out) {
  if (!out) return CASK_EINVAL;
  *out = NULL;
  cask_array *c = NULL;
  int rc = cask_cov(x, y, rowvar, 0, -1, &c);
  if (rc) return rc;
  if (c->ndim == 0) { /* NumPy: c / c */
    rc = cask_binary(CASK_DIV, c, c, out);
    cask_array_release(c);
    return rc;
  }
  enum { D, SD, ROW, COL, A, B, N };
  cask_array *t[N] = {NULL};
  rc = cask__diagonal(c, &t[D]);
  if (!rc) rc = cask_unary(CASK_SQRT, t[D], &t[SD]);
  if (!rc) rc = cask_expand_dims(t[SD], 1, (int[]){1}, &t[ROW]);
  if (!rc) rc = cask_expand_dims(t[SD], 1, (int[]){0}, &t[COL]);
  if (!rc) rc = cask_binary(CASK_DIV, c, t[ROW], &t[A]);
  if (!rc) rc = cask_binary(CASK_DIV, t[A], t[COL], &t[B]);
  if (!rc) rc = cask_clip(t[B], -1.0, 1.0, out);
  for (int k = 0; k < N; k++) cask_array_release(t[k]);
  cask_array_release(c);
  return rc;
}
