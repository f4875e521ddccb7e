/* call-stats.c - the cumulative functions of expressions: cumsum, cumprod,
 * nancumsum, nancumprod (a, axis=None) and diff (a, n=1, axis=-1), and
 * the statistics ptp, count_nonzero, nanprod (a, axis=None,
 * keepdims=False), nanvar, nanstd (also ddof=0), average (a, axis=None,
 * weights=None), as NumPy takes them. Each converts its arguments (reporting a bad one at
 * its column) and calls the C function (include/cask/array.h). */
#include <stdio.h>

#include "expr-int.h"

/* One integer axis or None (n = -1); a tuple is refused as NumPy does. */
static int one_axis(parser *ps, const array_fn *fn, arg *g, int *axis, int *n) {
  int rc = cask__expr_axes(ps, fn, g, axis, n);
  if (!rc && *n > 1) {
    char msg[160];
    snprintf(msg, sizeof msg, "%s: axis must be one integer or None", fn->name);
    return cask__expr_fail(ps, g->at, msg);
  }
  return rc;
}

static int do_cumulative(parser *ps, const char *at, const array_fn *fn, arg **b, value *out) {
  int axes[CASK_MAX_NDIM], n;
  int rc = one_axis(ps, fn, b[1], axes, &n);
  if (rc) return rc;
  rc = cask_cumulative((cask_scan_op)fn->op, b[0]->v.a, n < 0 ? NULL : axes, &out->a);
  return rc ? cask__expr_fail_ctx(ps, at) : CASK_OK;
}

static int do_diff(parser *ps, const char *at, const array_fn *fn, arg **b, value *out) {
  int64_t order = 1;
  if (b[1] && (b[1]->kind != ARG_VALUE || !cask__expr_int(&b[1]->v, &order)))
    return cask__expr_fail(ps, b[1]->at, "diff: 'n' must be an integer");
  int axes[CASK_MAX_NDIM] = {-1}, n = 1;
  if (b[2]) {
    int rc = one_axis(ps, fn, b[2], axes, &n);
    if (rc) return rc;
    if (n < 0) return cask__expr_fail(ps, b[2]->at, "diff: axis must be an integer, not None");
  }
  return cask_diff(b[0]->v.a, order, axes[0], &out->a) ? cask__expr_fail_ctx(ps, at) : CASK_OK;
}

/* The statistics over axes as cask_reduce takes them, by fn->op; those
 * with ddof (fn->params[3] is keepdims) after them. */
static int (*const stats[])(cask_array *, const int *, int, cask_array **) = {cask_ptp, cask_count_nonzero,
                                                                              cask_nanprod};
static int (*const stats_ddof[])(cask_array *, const int *, int, int, cask_array **) = {cask_nanvar, cask_nanstd};

static int do_stat(parser *ps, const char *at, const array_fn *fn, arg **b, value *out) {
  int axes[CASK_MAX_NDIM], n, ddof, keep;
  int rc = cask__expr_reduce_args(ps, fn, b, axes, &n, &ddof, &keep);
  if (rc) return rc;
  rc = fn->params[3] ? stats_ddof[fn->op](b[0]->v.a, axes, n < 0 ? 0 : n, ddof, &out->a)
                     : stats[fn->op](b[0]->v.a, axes, n < 0 ? 0 : n, &out->a);
  if (rc) return cask__expr_fail_ctx(ps, at);
  return keep ? cask__expr_keep_dims(ps, at, b[0]->v.a, axes, n, out) : CASK_OK;
}

static int do_average(parser *ps, const char *at, const array_fn *fn, arg **b, value *out) {
  int axes[CASK_MAX_NDIM], n;
  int rc = cask__expr_axes(ps, fn, b[1], axes, &n);
  if (!rc && n == 0) return cask__expr_fail(ps, b[1]->at, "axis=() (reduce no axis) is not supported");
  if (!rc && b[2] && b[2]->kind != ARG_NONE) rc = cask__expr_array_arg(ps, fn, "weights", b[2]);
  if (rc) return rc;
  cask_array *w = b[2] && b[2]->kind != ARG_NONE ? b[2]->v.a : NULL;
  return cask_average(b[0]->v.a, axes, n < 0 ? 0 : n, w, &out->a) ? cask__expr_fail_ctx(ps, at) : CASK_OK;
}

/* NumPy's cumsum takes dtype and out after axis: only a and axis by position. */
const array_fn cask__expr_stats_fns[] = {
    {"cumsum", do_cumulative, CASK_CUMSUM, {"a", "axis"}, 1, 2, 0},
    {"cumprod", do_cumulative, CASK_CUMPROD, {"a", "axis"}, 1, 2, 0},
    {"nancumsum", do_cumulative, CASK_NANCUMSUM, {"a", "axis"}, 1, 2, 0},
    {"nancumprod", do_cumulative, CASK_NANCUMPROD, {"a", "axis"}, 1, 2, 0},
    {"diff", do_diff, 0, {"a", "n", "axis"}, 1, 0, 0},
    {"ptp", do_stat, 0, {"a", "axis", "keepdims"}, 1, 2, 0},
    {"count_nonzero", do_stat, 1, {"a", "axis", "keepdims"}, 1, 2, 0},
    {"nanprod", do_stat, 2, {"a", "axis", "keepdims"}, 1, 2, 0},
    {"nanvar", do_stat, 0, {"a", "axis", "ddof", "keepdims"}, 1, 2, 0},
    {"nanstd", do_stat, 1, {"a", "axis", "ddof", "keepdims"}, 1, 2, 0},
    {"average", do_average, 0, {"a", "axis", "weights"}, 1, 0, 0},
};
const size_t cask__expr_stats_nfns = sizeof cask__expr_stats_fns / sizeof cask__expr_stats_fns[0];
