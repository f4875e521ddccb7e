/* call-sort.c - sorting and order statistics in expressions, with NumPy's
 * (and dask's, for topk) arguments: sort, argsort (a, axis=-1), topk,
 * argtopk (a, k, axis=-1), percentile, quantile, nanpercentile,
 * nanquantile (a, q, axis=None, keepdims=False, method='linear'), median,
 * nanmedian (a, axis=None, keepdims=False), unique (a), bincount (x,
 * weights=None, minlength=0), histogram (a, bins=10, range=None: the
 * counts), digitize (x, bins, right=False), searchsorted (a, v,
 * side='left'). Each converts its arguments (reporting a bad one at its
 * column) and calls the C function (include/cask/array.h). */
#include <stdio.h>
#include <string.h>

#include "expr-int.h"

static int failf(parser *ps, const char *at, const char *fn, const char *what) {
  char msg[200];
  snprintf(msg, sizeof msg, "%s: %s", fn, what);
  return cask__expr_fail(ps, at, msg);
}

/* One integer axis or None (n = -1); dflt when not given. */
static int axis_arg(parser *ps, const array_fn *fn, arg *g, int dflt_none, int *axis, int *none) {
  int axes[CASK_MAX_NDIM], n;
  *none = dflt_none;
  *axis = -1;
  if (!g) return CASK_OK;
  int rc = cask__expr_axes(ps, fn, g, axes, &n);
  if (rc) return rc;
  if (n > 1 || n == 0) return failf(ps, g->at, fn->name, "axis must be one integer or None");
  *none = n < 0;
  if (n == 1) *axis = axes[0];
  return CASK_OK;
}

static int bool_arg(parser *ps, const array_fn *fn, const char *param, const arg *g, int *out) {
  *out = 0;
  if (!g) return CASK_OK;
  if (g->kind != ARG_VALUE || g->v.a || !g->v.is_int) {
    char what[80];
    snprintf(what, sizeof what, "'%s' must be True or False", param);
    return failf(ps, g->at, fn->name, what);
  }
  *out = g->v.num != 0;
  return CASK_OK;
}

static int int_arg(parser *ps, const array_fn *fn, const char *param, const arg *g, int64_t *out) {
  if (g->kind == ARG_VALUE && cask__expr_int(&g->v, out)) return CASK_OK;
  char what[80];
  snprintf(what, sizeof what, "'%s' must be an integer", param);
  return failf(ps, g->at, fn->name, what);
}

/* A number, or a list or tuple of numbers (at most max): *scalar for one
 * number given bare. */
static int numbers(parser *ps, const array_fn *fn, const char *param, const arg *g, double *out, int max, int *n,
                   int *scalar) {
  char what[120];
  snprintf(what, sizeof what, "'%s' must be a number or a list of at most %d numbers", param, max);
  *scalar = g->kind == ARG_VALUE;
  if (g->kind == ARG_VALUE && !g->v.a) {
    out[0] = g->v.num;
    *n = 1;
    return CASK_OK;
  }
  if (g->kind != ARG_SEQ || g->nitems > max) return failf(ps, g->at, fn->name, what);
  for (int k = 0; k < g->nitems; k++) {
    if (g->items[k].kind != ARG_VALUE || g->items[k].v.a) return failf(ps, g->items[k].at, fn->name, what);
    out[k] = g->items[k].v.num;
  }
  *n = g->nitems;
  return CASK_OK;
}

static int done(parser *ps, const char *at, int rc) { return rc ? cask__expr_fail_ctx(ps, at) : CASK_OK; }

static int do_sort(parser *ps, const char *at, const array_fn *fn, arg **b, value *out) {
  int axis, none;
  int rc = axis_arg(ps, fn, b[1], 0, &axis, &none);
  if (rc) return rc;
  rc = fn->op ? cask_argsort(b[0]->v.a, none ? NULL : &axis, &out->a) : cask_sort(b[0]->v.a, none ? NULL : &axis, &out->a);
  return done(ps, at, rc);
}

static int do_topk(parser *ps, const char *at, const array_fn *fn, arg **b, value *out) {
  int64_t k;
  int axis, none, rc = int_arg(ps, fn, "k", b[1], &k);
  if (!rc) rc = axis_arg(ps, fn, b[2], 0, &axis, &none);
  if (!rc && none) rc = failf(ps, b[2]->at, fn->name, "axis must be an integer, not None");
  if (rc) return rc;
  return done(ps, at, fn->op ? cask_argtopk(b[0]->v.a, k, axis, &out->a) : cask_topk(b[0]->v.a, k, axis, &out->a));
}

/* fn->op: CASK_QUANTILE_* flags (percent, nan) */
static int do_quantile(parser *ps, const char *at, const array_fn *fn, arg **b, value *out) {
  double q[256];
  int nq = 0, scalar = 0, axis, none, keep;
  int rc = numbers(ps, fn, "q", b[1], q, 256, &nq, &scalar);
  if (!rc) rc = axis_arg(ps, fn, b[2], 1, &axis, &none);
  if (!rc) rc = bool_arg(ps, fn, "keepdims", b[3], &keep);
  if (!rc && b[4] && (b[4]->kind != ARG_STR || strcmp(b[4]->str, "linear")))
    rc = failf(ps, b[4]->at, fn->name, "only method='linear' (NumPy's default) is supported");
  if (rc) return rc;
  int flags = fn->op | (scalar ? CASK_QUANTILE_SCALAR : 0) | (keep ? CASK_QUANTILE_KEEPDIMS : 0);
  return done(ps, at, cask_quantile(b[0]->v.a, q, nq, flags, none ? NULL : &axis, &out->a));
}

static int do_median(parser *ps, const char *at, const array_fn *fn, arg **b, value *out) {
  int axis, none, keep;
  int rc = axis_arg(ps, fn, b[1], 1, &axis, &none);
  if (!rc) rc = bool_arg(ps, fn, "keepdims", b[2], &keep);
  if (rc) return rc;
  return done(ps, at, cask_median(b[0]->v.a, none ? NULL : &axis, fn->op | (keep ? CASK_QUANTILE_KEEPDIMS : 0), &out->a));
}


static int do_unique(parser *ps, const char *at, const array_fn *fn, arg **b, value *out) {
  int counts;
  int rc = bool_arg(ps, fn, "return_counts", b[1], &counts);
  if (!rc && counts)
    rc = failf(ps, b[1]->at, fn->name, "return_counts=True gives two arrays: use cask_unique in C (an expression has one result)");
  return rc ? rc : done(ps, at, cask_unique(b[0]->v.a, &out->a, NULL));
}

static int do_bincount(parser *ps, const char *at, const array_fn *fn, arg **b, value *out) {
  int64_t minlength = 0;
  int rc = b[2] ? int_arg(ps, fn, "minlength", b[2], &minlength) : CASK_OK;
  cask_array *w = NULL;
  if (!rc && b[1] && b[1]->kind != ARG_NONE) {
    rc = cask__expr_array_arg(ps, fn, "weights", b[1]);
    w = rc ? NULL : b[1]->v.a;
  }
  return rc ? rc : done(ps, at, cask_bincount(b[0]->v.a, w, minlength, &out->a));
}

static int do_histogram(parser *ps, const char *at, const array_fn *fn, arg **b, value *out) {
  double edges[1025], range[2];
  int n = 1, scalar = 1, nr = 0, sr;
  int64_t bins = 10;
  int rc = b[1] ? numbers(ps, fn, "bins", b[1], edges, 1025, &n, &scalar) : CASK_OK;
  if (!rc && b[1] && scalar && !cask__expr_int(&b[1]->v, &bins)) rc = failf(ps, b[1]->at, fn->name, "'bins' must be an integer or a list of edges");
  if (!rc && !scalar && n < 2) rc = failf(ps, b[1]->at, fn->name, "'bins' as edges needs at least 2 of them");
  if (!rc && b[2] && b[2]->kind != ARG_NONE) {
    rc = numbers(ps, fn, "range", b[2], range, 2, &nr, &sr);
    if (!rc && (sr || nr != 2)) rc = failf(ps, b[2]->at, fn->name, "'range' must be (min, max)");
  }
  if (rc) return rc;
  rc = cask_histogram(b[0]->v.a, scalar ? bins : n - 1, scalar ? NULL : edges, nr ? range : NULL, &out->a, NULL);
  return done(ps, at, rc);
}

static int side_arg(parser *ps, const array_fn *fn, const arg *g, int *right) {
  *right = 0;
  if (!g) return CASK_OK;
  if (g->kind == ARG_STR && (!strcmp(g->str, "left") || !strcmp(g->str, "right"))) {
    *right = g->str[0] == 'r';
    return CASK_OK;
  }
  return failf(ps, g->at, fn->name, "side must be 'left' or 'right'");
}

static int do_digitize(parser *ps, const char *at, const array_fn *fn, arg **b, value *out) {
  double bins[1024];
  int n, scalar, right;
  int rc = numbers(ps, fn, "bins", b[1], bins, 1024, &n, &scalar);
  if (!rc && scalar) rc = failf(ps, b[1]->at, fn->name, "'bins' must be a list of numbers (1-d)");
  if (!rc) rc = bool_arg(ps, fn, "right", b[2], &right);
  return rc ? rc : done(ps, at, cask_digitize(b[0]->v.a, bins, n, right, &out->a));
}

static int do_searchsorted(parser *ps, const char *at, const array_fn *fn, arg **b, value *out) {
  int right, rc = cask__expr_array_arg(ps, fn, "v", b[1]);
  if (!rc) rc = side_arg(ps, fn, b[2], &right);
  return rc ? rc : done(ps, at, cask_searchsorted(b[0]->v.a, b[1]->v.a, right, &out->a));
}

#define QF(n, flags) {n, do_quantile, flags, {"a", "q", "axis", "keepdims", "method"}, 2, 3, 0}
const array_fn cask__expr_sort_fns[] = {
    {"sort", do_sort, 0, {"a", "axis"}, 1, 0, 0},
    {"argsort", do_sort, 1, {"a", "axis"}, 1, 0, 0},
    {"topk", do_topk, 0, {"a", "k", "axis"}, 2, 0, 0},
    {"argtopk", do_topk, 1, {"a", "k", "axis"}, 2, 0, 0},
    QF("percentile", CASK_QUANTILE_PERCENT),
    QF("quantile", 0),
    QF("nanpercentile", CASK_QUANTILE_PERCENT | CASK_QUANTILE_NAN),
    QF("nanquantile", CASK_QUANTILE_NAN),
    {"median", do_median, 0, {"a", "axis", "keepdims"}, 1, 2, 0},
    {"nanmedian", do_median, CASK_QUANTILE_NAN, {"a", "axis", "keepdims"}, 1, 2, 0},
    {"unique", do_unique, 0, {"ar", "return_counts"}, 1, 1, 0},
    {"bincount", do_bincount, 0, {"x", "weights", "minlength"}, 1, 0, 0},
    {"histogram", do_histogram, 0, {"a", "bins", "range"}, 1, 0, 0},
    {"digitize", do_digitize, 0, {"x", "bins", "right"}, 2, 0, 0},
    {"searchsorted", do_searchsorted, 0, {"a", "v", "side"}, 2, 0, 0},
};
#undef QF
const size_t cask__expr_sort_nfns = sizeof cask__expr_sort_fns / sizeof cask__expr_sort_fns[0];
