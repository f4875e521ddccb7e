/* order.c - the C API of sorting and order statistics: cask_sort,
 * cask_argsort, cask_topk, cask_argtopk, cask_quantile (percentile,
 * nanquantile, nanpercentile with flags) and cask_median. Each checks its
 * arguments before building anything (naming itself and the shape), then
 * builds the node of sort.c: axis=None flattens to 1-d (the pipeline when
 * there are several blocks); an n-d array whose axis spans several chunks
 * is rechunked to one chunk along the axis, sorted lane by lane, and (for
 * sort and argsort) rechunked back to its own chunks. */
#include <stdio.h>
#include <string.h>

#include "../core/dtype.h"
#include "sort-int.h"

static int check_out(cask_array *a, cask_array **out) {
  if (!out) return CASK_EINVAL;
  *out = NULL;
  return a ? CASK_OK : CASK_EINVAL;
}

/* x: a flattened (axis NULL) or a itself, with the axis in one chunk;
 * *ax the axis of x. */
static int prepare(cask_array *a, const char *fn, const int *axis, cask_array **x, int *ax) {
  *ax = 0;
  if (!axis) return cask_reshape(a, 1, (int64_t[]){-1}, x);
  int rc = cask__axis(a, fn, *axis, a->ndim, ax);
  if (rc) return rc;
  if (a->ndim == 1 || cask__nblocks(a, *ax) == 1) {
    *x = cask_array_retain(a);
    return CASK_OK;
  }
  int64_t ch[CASK_MAX_NDIM];
  memcpy(ch, a->chunk, (size_t)a->ndim * sizeof ch[0]);
  ch[*ax] = 0; /* the whole axis */
  return cask_rechunk(a, ch, x);
}

static int sort_or_arg(cask_array *a, const int *axis, int mode, cask_array **out) {
  int rc = check_out(a, out);
  if (rc) return rc;
  const char *fn = mode == CASK__SORT_SORT ? "sort" : "argsort";
  cask_array *x, *s;
  int ax;
  if ((rc = cask__need_sizes(a, fn)) || (rc = prepare(a, fn, axis, &x, &ax))) return rc;
  cask__sort_ext e = {.mode = mode, .axis = ax};
  rc = cask__sort_node(x, &e, &s);
  cask_array_release(x);
  if (rc) return rc;
  if (!axis || a->ndim <= 1 || cask__nblocks(a, ax) == 1 || !memcmp(s->chunk, a->chunk, (size_t)a->ndim * 8)) {
    *out = s;
    return CASK_OK;
  }
  rc = cask_rechunk(s, a->chunk, out); /* the input's chunks back */
  cask_array_release(s);
  return rc;
}

int cask_sort(cask_array *a, const int *axis, cask_array **out) { return sort_or_arg(a, axis, CASK__SORT_SORT, out); }
int cask_argsort(cask_array *a, const int *axis, cask_array **out) {
  return sort_or_arg(a, axis, CASK__SORT_ARGSORT, out);
}

/* topk as dask computes it, a reduction: each block's |k| ends (a TOPK
 * node), blocks of those joined split_every at a time (a rechunk) and cut
 * again, until one block is left, whose cut is the result. No sort of the
 * whole axis, and any number of blocks. */
static int topk_reduce(cask_array *a, int64_t k, int ax, cask_array **out) {
  cask_array *x = cask_array_retain(a);
  int64_t m = k < 0 ? -k : k;
  for (;;) {
    cask__sort_ext e = {.mode = CASK__SORT_TOPK, .axis = ax, .topk = k};
    cask_array *p;
    int last = cask__nblocks(x, ax) == 1, rc = cask__sort_node(x, &e, &p);
    cask_array_release(x);
    if (rc || last) {
      *out = rc ? NULL : p;
      return rc;
    }
    int64_t ch[CASK_MAX_NDIM];
    memcpy(ch, p->chunk, (size_t)p->ndim * sizeof ch[0]);
    ch[ax] = m * a->ctx->split_every;
    rc = cask_rechunk(p, ch, &x);
    cask_array_release(p);
    if (rc) return rc;
  }
}

/* dask's topk: the k largest along axis, largest first (k > 0), or the -k
 * smallest, smallest first (k < 0): topk by its reduction, argtopk from
 * the argsort's ends. */
static int top(cask_array *a, int64_t k, int axis, int arg, cask_array **out) {
  int rc = check_out(a, out);
  if (rc) return rc;
  const char *fn = arg ? "argtopk" : "topk";
  int ax;
  if ((rc = cask__need_sizes(a, fn)) || (rc = cask__axis(a, fn, axis, a->ndim, &ax))) return rc;
  int64_t n = a->shape[ax], m = k < 0 ? -k : k;
  if (k == 0 || m > n) {
    char s[CASK_MAX_NDIM * 22 + 4];
    cask__shape_str(s, sizeof s, a->ndim, a->shape);
    return cask__fail(a->ctx, CASK_EINVAL, "%s: k=%lld must be nonzero and at most the %lld elements of axis %d (shape %s)",
                      fn, (long long)k, (long long)n, ax, s);
  }
  cask_array *s;
  if (!arg) return topk_reduce(a, k, ax, out);
  if ((rc = sort_or_arg(a, &ax, CASK__SORT_ARGSORT, &s))) return rc;
  cask_index idx[CASK_MAX_NDIM];
  for (int i = 0; i < a->ndim; i++) idx[i] = CASK_COLON;
  idx[ax] = k > 0 ? CASK_SLICE(n - 1, n - 1 - k < 0 ? CASK_NONE : n - 1 - k, -1) : CASK_SLICE(0, m, 1);
  rc = cask_slice(s, a->ndim, idx, out);
  cask_array_release(s);
  return rc;
}

int cask_topk(cask_array *a, int64_t k, int axis, cask_array **out) { return top(a, k, axis, 0, out); }
int cask_argtopk(cask_array *a, int64_t k, int axis, cask_array **out) { return top(a, k, axis, 1, out); }

/* keepdims: the reduced axes back with extent 1 after the q axis (if any). */
static int keep_dims(cask_array *a, const int *axis, int ax, int qoff, cask_array **r) {
  int pos[CASK_MAX_NDIM], np = 0;
  if (axis) pos[np++] = ax + qoff;
  else
    for (int i = 0; i < a->ndim; i++) pos[np++] = i + qoff;
  cask_array *k;
  int rc = cask_expand_dims(*r, np, pos, &k);
  cask_array_release(*r);
  *r = rc ? NULL : k;
  return rc;
}

static int order_stat(cask_array *a, const char *fn, cask__sort_ext *e, const int *axis, int keepdims,
                      cask_array **out) {
  int rc = check_out(a, out);
  if (rc) return rc;
  if ((rc = cask__need_sizes(a, fn))) return rc;
  char s[CASK_MAX_NDIM * 22 + 4];
  cask__shape_str(s, sizeof s, a->ndim, a->shape);
  if (e->mode == CASK__SORT_QUANTILE && a->dtype == CASK_BOOL)
    return cask__fail(a->ctx, CASK_EINVAL, "%s: the array is bool (shape %s), which has no subtraction (as in NumPy)",
                      fn, s);
  cask_array *x, *r;
  int ax;
  if ((rc = prepare(a, fn, axis, &x, &ax))) return rc;
  int64_t lanes = 1;
  for (int i = 0; i < x->ndim; i++) lanes *= i == ax ? 1 : x->shape[i];
  if (e->mode == CASK__SORT_QUANTILE && !(e->flags & CASK__SORT_NAN) && x->shape[ax] == 0 && lanes > 0) {
    cask_array_release(x);
    return cask__fail(a->ctx, CASK_EINVAL, "%s: the %s is empty (shape %s): no element to take (NumPy raises too)", fn,
                      axis ? "axis" : "array", s);
  }
  e->axis = ax;
  if ((e->flags & CASK__SORT_NAN) && e->mode == CASK__SORT_QUANTILE && cask_array_size(a) == 0) {
    cask_array_release(x); /* NumPy's nanquantile of an empty array is its nanmean, whatever q */
    rc = cask_reduce(CASK_NANMEAN, a, axis, axis ? 1 : 0, 0, &r);
    if (!rc && keepdims) rc = keep_dims(a, axis, ax, 0, &r);
    if (!rc) *out = r;
    return rc;
  }
  rc = cask__sort_node(x, e, &r);
  cask_array_release(x);
  int qoff = e->mode == CASK__SORT_QUANTILE && !(e->flags & CASK__SORT_QSCALAR);
  if (!rc && keepdims) rc = keep_dims(a, axis, ax, qoff, &r);
  if (!rc) *out = r;
  return rc;
}

int cask_quantile(cask_array *a, const double *q, int nq, int flags, const int *axis, cask_array **out) {
  int rc = check_out(a, out);
  if (rc) return rc;
  int pct = flags & CASK_QUANTILE_PERCENT, nan = flags & CASK_QUANTILE_NAN;
  char s[CASK_MAX_NDIM * 22 + 4];
  cask__shape_str(s, sizeof s, a->ndim, a->shape);
  const char *fn = pct ? (nan ? "nanpercentile" : "percentile") : (nan ? "nanquantile" : "quantile");
  if (nq < 1 || nq > CASK__MAX_Q || !q)
    return cask__fail(a->ctx, CASK_EINVAL, "%s: %d quantiles given (1 to %d)", fn, nq, CASK__MAX_Q);
  if ((flags & CASK_QUANTILE_SCALAR) && nq != 1)
    return cask__fail(a->ctx, CASK_EINVAL, "%s: a scalar q is one value, not %d", fn, nq);
  cask__sort_ext e = {.mode = CASK__SORT_QUANTILE, .nq = nq};
  e.flags = (nan ? CASK__SORT_NAN : 0) | (flags & CASK_QUANTILE_SCALAR ? CASK__SORT_QSCALAR : 0);
  if ((flags & CASK_QUANTILE_SCALAR) && !nan && (!axis || a->ndim == 1)) e.flags |= CASK__SORT_F32;
  for (int i = 0; i < nq; i++) {
    double v = pct ? q[i] / 100 : q[i];
    if (!(v >= 0 && v <= 1))
      return cask__fail(a->ctx, CASK_EINVAL, "%s: q=%g is outside [0, %s] (the array's shape is %s)", fn, q[i],
                        pct ? "100" : "1", s);
    e.q[i] = v;
  }
  return order_stat(a, fn, &e, axis, flags & CASK_QUANTILE_KEEPDIMS, out);
}

int cask_median(cask_array *a, const int *axis, int flags, cask_array **out) {
  cask__sort_ext e = {.mode = CASK__SORT_MEDIAN, .flags = flags & CASK_QUANTILE_NAN ? CASK__SORT_NAN : 0};
  return order_stat(a, flags & CASK_QUANTILE_NAN ? "nanmedian" : "median", &e, axis, flags & CASK_QUANTILE_KEEPDIMS,
                    out);
}
