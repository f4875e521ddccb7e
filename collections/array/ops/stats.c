/* stats.c - NumPy's statistics that are compositions of the existing
 * reductions and elementwise nodes, so they add no op and reduce in the
 * same fixed-order trees: ptp (max - min, in the array's dtype),
 * count_nonzero (a sum of a != 0, int64) and nanprod (a product of
 * where(a != a, 1, a): NaN counts as 1), nanvar and nanstd (NumPy's two
 * passes: nanmean, then the squared deviations of the non-NaN values),
 * average (sum(a * w) / sum(w), w broadcast to a's shape). Each checks its arguments before building anything and names itself and
 * the shape. */
#include <math.h>

#include "ops.h"

/* The reduced axes of a as a mask, or CASK_EINVAL naming fn; empty: an
 * error when a reduced axis is empty (the reduction has no identity). */
static int check_axes(cask_array *a, const char *fn, const int *axes, int naxes, int no_identity) {
  if (naxes < 0 || (naxes && !axes)) return cask__fail(a->ctx, CASK_EINVAL, "%s: %d axes given", fn, naxes);
  int ax[CASK_MAX_NDIM];
  uint32_t mask = a->ndim ? (uint32_t)((1ull << a->ndim) - 1) : 0;
  int rc = naxes ? cask__axes(a, fn, naxes, axes, a->ndim, ax, &mask) : CASK_OK;
  for (int i = 0; i < a->ndim && !rc && no_identity; i++)
    if ((mask >> i) & 1 && a->shape[i] == 0) {
      char s[CASK_MAX_NDIM * 22 + 4];
      cask__shape_str(s, sizeof s, a->ndim, a->shape);
      rc = cask__fail(a->ctx, CASK_EINVAL, "%s: axis %d of shape %s is empty: a maximum and a minimum need an element",
                      fn, i, s);
    }
  return rc;
}

int cask_ptp(cask_array *a, const int *axes, int naxes, cask_array **out) {
  if (!out) return CASK_EINVAL;
  *out = NULL;
  if (!a) return CASK_EINVAL;
  if (a->dtype == CASK_BOOL) /* NumPy's subtract refuses bools */
    return cask__fail(a->ctx, CASK_EINVAL, "ptp: the array is bool, which has no subtraction (as in NumPy)");
  int rc = check_axes(a, "ptp", axes, naxes, 1);
  if (rc) return rc;
  cask_array *hi = NULL, *lo = NULL;
  rc = cask_reduce(CASK_MAX, a, axes, naxes, 0, &hi);
  if (!rc) rc = cask_reduce(CASK_MIN, a, axes, naxes, 0, &lo);
  if (!rc) rc = cask_binary(CASK_SUB, hi, lo, out); /* in a's dtype: uint8 wraps, as NumPy's */
  cask_array_release(hi);
  cask_array_release(lo);
  return rc;
}

int cask_count_nonzero(cask_array *a, const int *axes, int naxes, cask_array **out) {
  if (!out) return CASK_EINVAL;
  *out = NULL;
  if (!a) return CASK_EINVAL;
  int rc = check_axes(a, "count_nonzero", axes, naxes, 0);
  if (rc) return rc;
  cask_array *nz = NULL;
  rc = cask_binary_scalar_int(CASK_NOT_EQUAL, a, 0, 0, &nz); /* NaN counts: it is not 0 */
  if (!rc) rc = cask_reduce(CASK_SUM, nz, axes, naxes, 0, out);
  cask_array_release(nz);
  return rc;
}

int cask_nanprod(cask_array *a, const int *axes, int naxes, cask_array **out) {
  if (!out) return CASK_EINVAL;
  *out = NULL;
  if (!a) return CASK_EINVAL;
  int rc = check_axes(a, "nanprod", axes, naxes, 0);
  if (rc) return rc;
  if (a->dtype != CASK_F64 && a->dtype != CASK_F32) return cask_reduce(CASK_PROD, a, axes, naxes, 0, out);
  cask_array *nan = NULL, *one = NULL, *x = NULL;
  rc = cask_binary(CASK_NOT_EQUAL, a, a, &nan);
  if (!rc) rc = cask_ones(a->ctx, a->dtype, 0, NULL, NULL, &one); /* a's dtype: float32 stays float32 */
  if (!rc) rc = cask_where(nan, one, a, &x);
  if (!rc) rc = cask_reduce(CASK_PROD, x, axes, naxes, 0, out);
  cask_array_release(nan);
  cask_array_release(one);
  cask_array_release(x);
  return rc;
}

/* NumPy's _nanvar: the mean of the non-NaN values, the sum of their
 * squared deviations, divided by their count - ddof (NaN where that is not
 * positive). Integers have no NaN: var. */
static int nanvar(const char *fn, cask_array *a, const int *axes, int naxes, int ddof, int root, cask_array **out) {
  if (!out) return CASK_EINVAL;
  *out = NULL;
  if (!a) return CASK_EINVAL;
  if (ddof < 0) return cask__fail(a->ctx, CASK_EINVAL, "%s: ddof %d is negative", fn, ddof);
  int rc = check_axes(a, fn, axes, naxes, 0);
  if (rc) return rc;
  if (a->dtype != CASK_F64 && a->dtype != CASK_F32)
    return cask_reduce(root ? CASK_STD : CASK_VAR, a, axes, naxes, ddof, out);
  int ax[CASK_MAX_NDIM], nk = 0;
  uint32_t mask = 0;
  if (naxes) cask__axes(a, fn, naxes, axes, a->ndim, ax, &mask);
  for (int i = 0; i < a->ndim; i++)
    if (!naxes || (mask >> i) & 1) ax[nk++] = i; /* the reduced axes in order, for the mean kept as (.., 1, ..) */
  enum { MEAN, KEPT, VALID, DEV, ZERO, KEEP, SQ, SS, COUNT, DOF, DOFF, BAD, NAN_, VAR, ROOT, N };
  cask_array *t[N] = {NULL};
  rc = cask_reduce(CASK_NANMEAN, a, axes, naxes, 0, &t[MEAN]);
  if (!rc) rc = cask_expand_dims(t[MEAN], nk, ax, &t[KEPT]);
  if (!rc) rc = cask_binary(CASK_EQUAL, a, a, &t[VALID]);
  if (!rc) rc = cask_binary(CASK_SUB, a, t[KEPT], &t[DEV]);
  if (!rc) rc = cask_zeros(a->ctx, a->dtype, 0, NULL, NULL, &t[ZERO]);
  if (!rc) rc = cask_where(t[VALID], t[DEV], t[ZERO], &t[KEEP]);
  if (!rc) rc = cask_binary(CASK_MUL, t[KEEP], t[KEEP], &t[SQ]);
  if (!rc) rc = cask_reduce(CASK_SUM, t[SQ], axes, naxes, 0, &t[SS]);
  if (!rc) rc = cask_reduce(CASK_SUM, t[VALID], axes, naxes, 0, &t[COUNT]);
  if (!rc) rc = cask_binary_scalar_int(CASK_SUB, t[COUNT], ddof, 0, &t[DOF]);
  if (!rc) rc = cask_astype(t[DOF], a->dtype, &t[DOFF]); /* float32 stays float32 */
  if (!rc) rc = cask_binary_scalar_int(CASK_LESS_EQUAL, t[DOF], 0, 0, &t[BAD]);
  if (!rc) rc = cask_full(a->ctx, a->dtype, NAN, 0, NULL, NULL, &t[NAN_]);
  if (!rc) rc = cask_binary(CASK_DIV, t[SS], t[DOFF], &t[VAR]);
  if (!rc && root) rc = cask_unary(CASK_SQRT, t[VAR], &t[ROOT]);
  if (!rc) rc = cask_where(t[BAD], t[NAN_], t[root ? ROOT : VAR], out);
  for (int k = 0; k < N; k++) cask_array_release(t[k]);
  return rc;
}

int cask_nanvar(cask_array *a, const int *axes, int naxes, int ddof, cask_array **out) {
  return nanvar("nanvar", a, axes, naxes, ddof, 0, out);
}

int cask_nanstd(cask_array *a, const int *axes, int naxes, int ddof, cask_array **out) {
  return nanvar("nanstd", a, axes, naxes, ddof, 1, out);
}

/* weights seen with a's shape: the same shape, or (NumPy's one other
 * case) 1-d along the one reduced axis. */
static int weights_like(cask_array *a, const int *axes, int naxes, cask_array *w, cask_array **out) {
  int rc0 = cask__need_sizes(a, "average with weights"); /* the weights' shape is compared with a's */
  if (rc0 || (rc0 = cask__need_sizes(w, "average with weights"))) return rc0;
  int same = w->ndim == a->ndim;
  for (int i = 0; i < a->ndim && same; i++) same = w->shape[i] == a->shape[i];
  if (same) return cask_broadcast_to(w, a->ndim, a->shape, out);
  char s[CASK_MAX_NDIM * 22 + 4], t[CASK_MAX_NDIM * 22 + 4];
  cask__shape_str(s, sizeof s, a->ndim, a->shape);
  cask__shape_str(t, sizeof t, w->ndim, w->shape);
  int ax;
  if (naxes != 1 || w->ndim != 1)
    return cask__fail(a->ctx, CASK_EINVAL,
                      "average: weights of shape %s for an array of shape %s must be 1-d along one given axis", t, s);
  if (cask__axis(a, "average", axes[0], a->ndim, &ax)) return CASK_EINVAL;
  if (w->shape[0] != a->shape[ax])
    return cask__fail(a->ctx, CASK_EINVAL, "average: weights of shape %s do not fit axis %d of shape %s", t, ax, s);
  int64_t shape[CASK_MAX_NDIM];
  for (int i = 0; i < a->ndim; i++) shape[i] = i == ax ? w->shape[0] : 1;
  cask_array *r = NULL;
  int rc = cask_reshape(w, a->ndim, shape, &r);
  if (!rc) rc = cask_broadcast_to(r, a->ndim, a->shape, out);
  cask_array_release(r);
  return rc;
}

int cask_average(cask_array *a, const int *axes, int naxes, cask_array *weights, cask_array **out) {
  if (!out) return CASK_EINVAL;
  *out = NULL;
  if (!a) return CASK_EINVAL;
  int rc = check_axes(a, "average", axes, naxes, 0);
  if (rc || !weights) return rc ? rc : cask_reduce(CASK_MEAN, a, axes, naxes, 0, out);
  /* NumPy's dtype: float64 for an integer a, else the promotion of both */
  cask_dtype t = a->dtype == CASK_F64 || a->dtype == CASK_F32 ? cask_promote(a->dtype, weights->dtype) : CASK_F64;
  enum { W, X, WT, XW, NUM, DEN, N };
  cask_array *v[N] = {NULL};
  rc = weights_like(a, axes, naxes, weights, &v[W]);
  if (!rc) rc = cask_astype(a, t, &v[X]);
  if (!rc) rc = cask_astype(v[W], t, &v[WT]);
  if (!rc) rc = cask_binary(CASK_MUL, v[X], v[WT], &v[XW]);
  if (!rc) rc = cask_reduce(CASK_SUM, v[XW], axes, naxes, 0, &v[NUM]);
  if (!rc) rc = cask_reduce(CASK_SUM, v[WT], axes, naxes, 0, &v[DEN]);
  if (!rc) rc = cask_binary(CASK_DIV, v[NUM], v[DEN], out); /* weights summing to 0: inf or NaN, not NumPy's error */
  for (int k = 0; k < N; k++) cask_array_release(v[k]);
  return rc;
}
