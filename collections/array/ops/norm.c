/* norm.c - NumPy's linalg.norm as compositions of reductions and
 * elementwise nodes (one fused pass per reduction), with the singular
 * values (decomp.c) for the matrix 2-norm, -2 and 'nuc'. The one thing to
 * know: NumPy computes norms of integers in float64 and keeps float32, and
 * picks vector or matrix norms by the number of axes (None: every axis,
 * which must then be 1 or 2 unless ord is None). */
#include <math.h>
#include <stdio.h>

#include "lapack.h"

static int fail_ord(cask_array *x, const char *what) {
  return cask__fail(x->ctx, CASK_EINVAL, "norm: %s", what);
}

/* sum(|x|^p) ^ (1/p) and the other vector norms over axes ax[0..na). */
static int vector_norm(cask_array *x, cask_norm_kind kind, double ord, const int *ax, int na, cask_array **out) {
  if (kind == CASK_NORM_FRO || kind == CASK_NORM_NUC)
    return fail_ord(x, kind == CASK_NORM_FRO ? "Invalid norm order 'fro' for vectors" : "Invalid norm order 'nuc' for vectors");
  enum { A, P, S, N };
  cask_array *t[N] = {NULL};
  int rc;
  if (kind == CASK_NORM_DEFAULT || ord == 2) {
    rc = cask_binary(CASK_MUL, x, x, &t[P]);
    if (!rc) rc = cask_reduce(CASK_SUM, t[P], ax, na, 0, &t[S]);
    if (!rc) rc = cask_unary(CASK_SQRT, t[S], out);
  } else if (isinf(ord)) {
    rc = cask_unary(CASK_ABS, x, &t[A]);
    if (!rc) rc = cask_reduce(ord > 0 ? CASK_MAX : CASK_MIN, t[A], ax, na, 0, out);
  } else if (ord == 0) {
    rc = cask_binary_scalar_int(CASK_NOT_EQUAL, x, 0, 0, &t[P]);
    if (!rc) rc = cask_astype(t[P], x->dtype, &t[A]);
    if (!rc) rc = cask_reduce(CASK_SUM, t[A], ax, na, 0, out);
  } else if (ord == 1) {
    rc = cask_unary(CASK_ABS, x, &t[A]);
    if (!rc) rc = cask_reduce(CASK_SUM, t[A], ax, na, 0, out);
  } else {
    rc = cask_unary(CASK_ABS, x, &t[A]);
    if (!rc) rc = cask_binary_scalar(CASK_POW, t[A], ord, 0, &t[P]);
    if (!rc) rc = cask_reduce(CASK_SUM, t[P], ax, na, 0, &t[S]);
    if (!rc) rc = cask_binary_scalar(CASK_POW, t[S], 1.0 / ord, 0, out);
  }
  for (int i = 0; i < N; i++) cask_array_release(t[i]);
  return rc;
}

/* Matrix norms over axes (r, c) of x. */
static int matrix_norm(cask_array *x, cask_norm_kind kind, double ord, int r, int c, cask_array **out) {
  enum { A, S, T, SV, N };
  cask_array *t[N] = {NULL};
  int rc = CASK_OK;
  if (kind == CASK_NORM_DEFAULT || kind == CASK_NORM_FRO)
    return vector_norm(x, CASK_NORM_DEFAULT, 2, (int[]){r, c}, 2, out);
  if (kind == CASK_NORM_NUC || ord == 2 || ord == -2) {
    if (x->ndim != 2) return fail_ord(x, "the 2-norm, -2 and 'nuc' of stacks of matrices are not supported");
    if (r > c) rc = cask_transpose(x, NULL, &t[T]);
    else t[T] = cask_array_retain(x);
    if (!rc) rc = cask_svdvals(t[T], &t[SV]);
    if (!rc) rc = cask_reduce(kind == CASK_NORM_NUC ? CASK_SUM : ord > 0 ? CASK_MAX : CASK_MIN, t[SV], NULL, 0, 0, out);
  } else if (ord == 1 || ord == -1 || isinf(ord)) {
    /* 1: the largest column sum (sum over rows r, then the extreme over c) */
    int sum_axis = isinf(ord) ? c : r, ext_axis = isinf(ord) ? r : c;
    if (ext_axis > sum_axis) ext_axis--;
    rc = cask_unary(CASK_ABS, x, &t[A]);
    if (!rc) rc = cask_reduce(CASK_SUM, t[A], &sum_axis, 1, 0, &t[S]);
    if (!rc) rc = cask_reduce(ord > 0 ? CASK_MAX : CASK_MIN, t[S], &ext_axis, 1, 0, out);
  } else {
    char m[120];
    snprintf(m, sizeof m, "Invalid norm order %g for matrices", ord);
    rc = fail_ord(x, m);
  }
  for (int i = 0; i < N; i++) cask_array_release(t[i]);
  return rc;
}

int cask_norm(cask_array *x, cask_norm_kind kind, double ord, const int *axes, int naxes, int keepdims,
              cask_array **out) {
  if (!out || !x) return CASK_EINVAL;
  *out = NULL;
  if ((unsigned)kind > CASK_NORM_NUC || (kind == CASK_NORM_ORD && isnan(ord)) || naxes < 0 || (naxes && !axes))
    return fail_ord(x, "invalid arguments");
  int ax[2], na = naxes, rc;
  uint32_t mask = 0;
  char s[CASK_MAX_NDIM * 22 + 4];
  cask__shape_str(s, sizeof s, x->ndim, x->shape);
  if (naxes > 2) return cask__fail(x->ctx, CASK_EINVAL, "norm: Improper number of dimensions to norm (%d axes)", naxes);
  if (naxes && (rc = cask__axes(x, "norm", naxes, axes, x->ndim, ax, &mask))) return rc;
  cask_dtype dt = cask__linalg_dtype(x->dtype);
  cask_array *f = NULL, *r = NULL;
  rc = x->dtype == dt ? (f = cask_array_retain(x), CASK_OK) : cask_astype(x, dt, &f);
  if (rc) return rc;
  if (!naxes) {
    if (kind == CASK_NORM_DEFAULT) { /* the 2-norm of x flattened */
      rc = vector_norm(f, kind, 2, NULL, 0, &r);
      na = x->ndim;
      for (int i = 0; i < x->ndim && i < 2; i++) ax[i] = i;
    } else if (x->ndim == 1 || x->ndim == 2) {
      na = x->ndim;
      ax[0] = 0, ax[1] = 1;
      rc = na == 1 ? vector_norm(f, kind, ord, ax, 1, &r) : matrix_norm(f, kind, ord, 0, 1, &r);
    } else {
      rc = cask__fail(x->ctx, CASK_EINVAL, "norm: Improper number of dimensions to norm (shape %s)", s);
    }
  } else if (na == 1) {
    rc = vector_norm(f, kind, ord, ax, 1, &r);
  } else {
    rc = matrix_norm(f, kind, ord, ax[0], ax[1], &r);
  }
  cask_array_release(f);
  if (rc || !keepdims) {
    *out = r;
    return rc;
  }
  int pos[CASK_MAX_NDIM], np = 0;
  for (int i = 0; i < x->ndim; i++)
    if (!naxes || (mask >> i) & 1) pos[np++] = i;
  rc = cask_expand_dims(r, np, pos, out);
  cask_array_release(r);
  return rc;
}
