/* compose.c - NumPy functions that are elementwise expressions over the
 * array and index generators: triu and tril (a where() against a mask
 * compared from two aranges, computed inside the fused kernel), outer (a
 * product of the operands flattened and broadcast against each other) and
 * round with decimals (NumPy's scale, rint, unscale, in the array's own
 * float dtype), and diff (slices a[1:] and a[:-1] subtracted, n times). */
#include "ops.h"

/* x where (col - row) compares to k as keep says, else 0; NumPy's triu
 * and tril over the last two axes (a 1-d x is the row of an n x n). */
static int tri(const char *fn, cask_array *x, int64_t k, int upper, cask_array **out) {
  if (!out) return CASK_EINVAL;
  *out = NULL;
  if (!x) return CASK_EINVAL;
  if (x->ndim < 1) return cask__fail(x->ctx, CASK_EINVAL, "%s: the array is 0-d; it needs at least 1 axis", fn);
  int rc0 = cask__need_sizes(x, fn); /* the masks are aranges of the axes' lengths */
  if (rc0) return rc0;
  int nd = x->ndim;
  int64_t n = nd >= 2 ? x->shape[nd - 2] : x->shape[0], m = x->shape[nd - 1];
  int64_t rc_chunk = nd >= 2 ? x->chunk[nd - 2] : x->chunk[0];
  cask_array *rows = NULL, *cols = NULL, *r2 = NULL, *diff = NULL, *mask = NULL, *zero = NULL;
  int rc = cask_arange(x->ctx, CASK_I64, 0, (double)n, 1, rc_chunk, &rows);
  if (!rc) rc = cask_arange(x->ctx, CASK_I64, 0, (double)m, 1, x->chunk[nd - 1], &cols);
  if (!rc) rc = cask_reshape(rows, 2, (int64_t[]){n, 1}, &r2);
  if (!rc) rc = cask_binary(CASK_SUB, cols, r2, &diff);
  if (!rc) rc = cask_binary_scalar_int(upper ? CASK_GREATER_EQUAL : CASK_LESS_EQUAL, diff, k, 0, &mask);
  if (!rc) rc = cask_zeros(x->ctx, x->dtype, 0, NULL, NULL, &zero);
  if (!rc) rc = cask_where(mask, x, zero, out);
  cask_array *all[] = {rows, cols, r2, diff, mask, zero};
  for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) cask_array_release(all[i]);
  return rc;
}

int cask_triu(cask_array *x, int64_t k, cask_array **out) { return tri("triu", x, k, 1, out); }
int cask_tril(cask_array *x, int64_t k, cask_array **out) { return tri("tril", x, k, 0, out); }

int cask_outer(cask_array *a, cask_array *b, cask_array **out) {
  if (!out) return CASK_EINVAL;
  *out = NULL;
  if (!a || !b) return CASK_EINVAL;
  cask_array *col = NULL, *row = NULL;
  int rc = cask_reshape(a, 2, (int64_t[]){-1, 1}, &col);
  if (!rc) rc = cask_reshape(b, 2, (int64_t[]){1, -1}, &row);
  if (!rc) rc = cask_binary(CASK_MUL, col, row, out);
  cask_array_release(col);
  cask_array_release(row);
  return rc;
}

int cask_round(cask_array *a, int decimals, cask_array **out) {
  if (!out) return CASK_EINVAL;
  *out = NULL;
  if (!a) return CASK_EINVAL;
  int is_float = cask_array_dtype(a) == CASK_F64 || cask_array_dtype(a) == CASK_F32;
  if (decimals == 0 || a->dtype == CASK_BOOL || (!is_float && decimals > 0)) /* integers: unchanged */
    return cask_unary(CASK_ROUND, a, out);
  if (decimals > 308 || decimals < -308)
    return cask__fail(a->ctx, CASK_EINVAL, "round: decimals=%d is beyond a double's exponents", decimals);
  double f = 1;
  for (int i = 0; i < (decimals < 0 ? -decimals : decimals); i++) f *= 10; /* NumPy's power_of_ten */
  cask_array *s = NULL, *r = NULL, *y = NULL;
  int rc = cask_binary_scalar(decimals > 0 ? CASK_MUL : CASK_DIV, a, f, 0, &s);
  if (!rc) rc = cask_unary(CASK_ROUND, s, &r);
  if (!rc) rc = cask_binary_scalar(decimals > 0 ? CASK_DIV : CASK_MUL, r, f, 0, is_float ? out : &y);
  if (!rc && !is_float) rc = cask_astype(y, a->dtype, out); /* integers keep their dtype */
  cask_array_release(s);
  cask_array_release(r);
  cask_array_release(y);
  return rc;
}

int cask_diff(cask_array *a, int64_t n, int axis, cask_array **out) {
  if (!out) return CASK_EINVAL;
  *out = NULL;
  if (!a) return CASK_EINVAL;
  char s[CASK_MAX_NDIM * 22 + 4];
  cask__shape_str(s, sizeof s, a->ndim, a->shape);
  if (n < 0) return cask__fail(a->ctx, CASK_EINVAL, "diff: order n=%lld is negative (shape %s)", (long long)n, s);
  if (a->ndim < 1) return cask__fail(a->ctx, CASK_EINVAL, "diff: the array is 0-d (shape %s); it needs at least 1 axis", s);
  int ax;
  int rc = cask__axis(a, "diff", axis, a->ndim, &ax);
  if (rc) return rc;
  /* the loop's bound and slices need the length (-1 for an unknown one
   * made the loop run 0 times: diff(x[m]) returned x[m] unchanged) */
  if (n > 0 && (rc = cask__need_sizes(a, "diff"))) return rc;
  cask_array *cur = cask_array_retain(a);
  cask_index idx[CASK_MAX_NDIM];
  for (int i = 0; i < a->ndim; i++) idx[i] = CASK_COLON;
  /* past the axis' length every further difference is empty */
  for (int64_t k = 0; k < n && k < a->shape[ax] + 1 && !rc; k++) {
    cask_array *hi = NULL, *lo = NULL, *next = NULL;
    idx[ax] = CASK_SLICE(1, CASK_NONE, 1);
    rc = cask_slice(cur, cur->ndim, idx, &hi);
    idx[ax] = CASK_SLICE(CASK_NONE, -1, 1);
    if (!rc) rc = cask_slice(cur, cur->ndim, idx, &lo);
    if (!rc) rc = cask_binary(a->dtype == CASK_BOOL ? CASK_NOT_EQUAL : CASK_SUB, hi, lo, &next);
    cask_array_release(hi);
    cask_array_release(lo);
    cask_array_release(cur);
    cur = next;
  }
  if (!rc) *out = cur;
  return rc;
}
