/* call-shape.c - the joining and shape functions of expressions, with
 * NumPy's parameter names: concatenate and stack (a list or tuple of
 * arrays), flip flipud fliplr roll squeeze expand_dims moveaxis swapaxes
 * broadcast_to reshape ravel tile repeat pad triu tril outer round. Each converts its
 * arguments (reporting a bad one at its column) and calls the C function
 * of the same name (include/cask/array.h). */
#include <stdio.h>
#include <string.h>

#include "expr-int.h"

static int done(parser *ps, const char *at, int rc) { return rc ? cask__expr_fail_ctx(ps, at) : CASK_OK; }

static int fail_param(parser *ps, const array_fn *fn, const arg *g, const char *what) {
  char msg[240];
  snprintf(msg, sizeof msg, "%s: %s", fn->name, what);
  return cask__expr_fail(ps, g->at, msg);
}

/* An integer argument param (absent: dflt). */
static int int_arg(parser *ps, const array_fn *fn, const char *param, const arg *g, int64_t dflt, int64_t *out) {
  *out = dflt;
  if (!g || (g->kind == ARG_VALUE && cask__expr_int(&g->v, out))) return CASK_OK;
  char what[120];
  snprintf(what, sizeof what, "'%s' must be an integer", param);
  return fail_param(ps, fn, g, what);
}

/* The arrays of a list or tuple argument (numbers become 0-d arrays), in
 * a new allocation *xs the caller frees (the arrays stay g's). */
static int list_arrays(parser *ps, const array_fn *fn, arg *g, cask_array ***xs, int *n) {
  *xs = NULL;
  if (g->kind != ARG_SEQ) return fail_param(ps, fn, g, "expected a list or tuple of arrays, as [a, b]");
  if (!g->nitems) return fail_param(ps, fn, g, "needs at least one array");
  for (int k = 0; k < g->nitems; k++) {
    int rc = cask__expr_array_arg(ps, fn, "arrays", &g->items[k]);
    if (rc) return rc;
  }
  if (!(*xs = cask__malloc((size_t)g->nitems * sizeof **xs))) return cask__fail(ps->ctx, CASK_ENOMEM, "out of memory");
  for (int k = 0; k < g->nitems; k++) (*xs)[k] = g->items[k].v.a;
  *n = g->nitems;
  return CASK_OK;
}

static int do_join(parser *ps, const char *at, const array_fn *fn, arg **b, value *out) {
  cask_array **xs, **flat = NULL;
  int n = 0, rc = list_arrays(ps, fn, b[0], &xs, &n);
  int flatten = !fn->op && b[1] && b[1]->kind == ARG_NONE; /* concatenate(axis=None) */
  int64_t ax = 0;
  if (!rc && !flatten) rc = int_arg(ps, fn, "axis", b[1], 0, &ax);
  if (!rc && (ax < -CASK_MAX_NDIM - 1 || ax > CASK_MAX_NDIM)) rc = fail_param(ps, fn, b[1], "axis is out of range");
  if (!rc && flatten) {
    if (!(flat = cask__calloc((size_t)n, sizeof *flat))) rc = cask__fail(ps->ctx, CASK_ENOMEM, "out of memory");
    for (int k = 0; k < n && !rc; k++)
      if (cask_reshape(xs[k], 1, (int64_t[]){-1}, &flat[k])) rc = cask__expr_fail_ctx(ps, at);
  }
  int axis = (int)ax;
  if (!rc)
    rc = done(ps, at, fn->op ? cask_stack(n, xs, axis, &out->a) : cask_concatenate(n, flat ? flat : xs, axis, &out->a));
  for (int k = 0; flat && k < n; k++) cask_array_release(flat[k]);
  cask__free(flat);
  cask__free(xs);
  return rc;
}

/* flip (op 0: axis=, 1: flipud, 2: fliplr) */
static int do_flip(parser *ps, const char *at, const array_fn *fn, arg **b, value *out) {
  int axes[CASK_MAX_NDIM], n = 1, rc = CASK_OK;
  cask_array *a = b[0]->v.a;
  if (fn->op) {
    axes[0] = fn->op - 1;
    if (cask_array_ndim(a) < fn->op) {
      char msg[120];
      snprintf(msg, sizeof msg, "%s: the array has %d axes, at least %d needed", fn->name, cask_array_ndim(a), fn->op);
      return cask__expr_fail(ps, at, msg);
    }
  } else if ((rc = cask__expr_axes(ps, fn, b[1], axes, &n))) {
    return rc;
  }
  return done(ps, at, cask_flip(a, n < 0 ? 0 : n, axes, &out->a));
}

static int do_roll(parser *ps, const char *at, const array_fn *fn, arg **b, value *out) {
  int64_t shifts[CASK_MAX_NDIM];
  int axes[CASK_MAX_NDIM], ns, n, rc = cask__expr_ints(ps, fn, "shift", b[1], 0, shifts, &ns);
  if (!rc) rc = cask__expr_axes(ps, fn, b[2], axes, &n);
  if (rc) return rc;
  if (n < 0) {
    if (ns != 1) return fail_param(ps, fn, b[1], "without axis, 'shift' must be one integer");
    return done(ps, at, cask_roll(b[0]->v.a, 1, shifts, NULL, &out->a));
  }
  /* NumPy broadcasts one shift to every axis, or one axis to every shift */
  if (ns != n && ns != 1 && n != 1) return fail_param(ps, fn, b[1], "'shift' and 'axis' have different lengths");
  int m = ns > n ? ns : n;
  for (int k = m - 1; k >= 0; k--) {
    shifts[k] = shifts[ns == 1 ? 0 : k];
    axes[k] = axes[n == 1 ? 0 : k];
  }
  return done(ps, at, cask_roll(b[0]->v.a, m, shifts, axes, &out->a));
}

/* squeeze (op 0) and expand_dims (op 1) */
static int do_unit_axes(parser *ps, const char *at, const array_fn *fn, arg **b, value *out) {
  int axes[CASK_MAX_NDIM], n, rc = cask__expr_axes(ps, fn, b[1], axes, &n);
  if (rc) return rc;
  if (fn->op && n < 0) return fail_param(ps, fn, b[1], "axis must be an integer or a tuple of integers");
  n = n < 0 ? 0 : n;
  cask_array *a = b[0]->v.a;
  return done(ps, at, fn->op ? cask_expand_dims(a, n, axes, &out->a) : cask_squeeze(a, n, axes, &out->a));
}

static int do_moveaxis(parser *ps, const char *at, const array_fn *fn, arg **b, value *out) {
  int64_t s[CASK_MAX_NDIM], d[CASK_MAX_NDIM];
  int src[CASK_MAX_NDIM], dst[CASK_MAX_NDIM], ns, nd;
  int rc = cask__expr_ints(ps, fn, "source", b[1], 0, s, &ns);
  if (!rc) rc = cask__expr_ints(ps, fn, "destination", b[2], 0, d, &nd);
  if (rc) return rc;
  if (ns != nd) return fail_param(ps, fn, b[2], "'source' and 'destination' must have the same number of elements");
  for (int k = 0; k < ns; k++) {
    if (s[k] < -CASK_MAX_NDIM || s[k] >= CASK_MAX_NDIM || d[k] < -CASK_MAX_NDIM || d[k] >= CASK_MAX_NDIM)
      return fail_param(ps, fn, b[1], "an axis is out of range");
    src[k] = (int)s[k];
    dst[k] = (int)d[k];
  }
  return done(ps, at, cask_moveaxis(b[0]->v.a, ns, src, dst, &out->a));
}

static int do_swapaxes(parser *ps, const char *at, const array_fn *fn, arg **b, value *out) {
  int64_t i, j;
  int rc = int_arg(ps, fn, "axis1", b[1], 0, &i);
  if (!rc) rc = int_arg(ps, fn, "axis2", b[2], 0, &j);
  if (rc) return rc;
  if (i < INT32_MIN || i > INT32_MAX || j < INT32_MIN || j > INT32_MAX)
    return fail_param(ps, fn, b[1], "an axis is out of range");
  return done(ps, at, cask_swapaxes(b[0]->v.a, (int)i, (int)j, &out->a));
}

static int do_broadcast_to(parser *ps, const char *at, const array_fn *fn, arg **b, value *out) {
  int64_t shape[CASK_MAX_NDIM];
  int n, rc = cask__expr_ints(ps, fn, "shape", b[1], 0, shape, &n);
  return rc ? rc : done(ps, at, cask_broadcast_to(b[0]->v.a, n, shape, &out->a));
}

/* reshape (op 0) and ravel (op 1) */
static int do_reshape(parser *ps, const char *at, const array_fn *fn, arg **b, value *out) {
  int64_t shape[CASK_MAX_NDIM] = {-1};
  int n = 1, rc = fn->op ? CASK_OK : cask__expr_ints(ps, fn, "newshape", b[1], 0, shape, &n);
  return rc ? rc : done(ps, at, cask_reshape(b[0]->v.a, n, shape, &out->a));
}

static int do_tile(parser *ps, const char *at, const array_fn *fn, arg **b, value *out) {
  int64_t reps[CASK_MAX_NDIM];
  int n, rc = cask__expr_ints(ps, fn, "reps", b[1], 0, reps, &n);
  return rc ? rc : done(ps, at, cask_tile(b[0]->v.a, n, reps, &out->a));
}

static int do_repeat(parser *ps, const char *at, const array_fn *fn, arg **b, value *out) {
  int64_t r;
  int axes[CASK_MAX_NDIM], n, rc = int_arg(ps, fn, "repeats", b[1], 0, &r);
  if (!rc) rc = cask__expr_axes(ps, fn, b[2], axes, &n);
  if (rc) return rc;
  if (n > 1) return fail_param(ps, fn, b[2], "axis must be one integer or None");
  return done(ps, at, cask_repeat(b[0]->v.a, r, n < 0 ? NULL : axes, &out->a));
}

/* The (before, after) leaves of pad's argument param for axis i, as
 * NumPy's _as_pairs reads it: x, (x,), (before, after), or one such per
 * axis ((b0, a0), (b1, a1), ...), a single one for every axis. Each leaf
 * must be a number (an integer when ints). */
static int pad_pair(parser *ps, const array_fn *fn, const char *param, arg *g, int nd, int i, int ints, arg **pair) {
  char what[200];
  int per_axis = g->kind == ARG_SEQ && g->nitems > 0 && g->items[0].kind == ARG_SEQ;
  if (per_axis && g->nitems != 1 && g->nitems != nd) {
    snprintf(what, sizeof what, "'%s' has %d pairs, the array has %d axes", param, g->nitems, nd);
    return fail_param(ps, fn, g, what);
  }
  arg *p = per_axis ? &g->items[g->nitems == 1 ? 0 : i] : g;
  if (p->kind == ARG_SEQ && p->nitems != 1 && p->nitems != 2) {
    snprintf(what, sizeof what, "'%s' must be (before, after) or one %s", param, ints ? "width" : "value");
    return fail_param(ps, fn, p, what);
  }
  pair[0] = p->kind == ARG_SEQ ? &p->items[0] : p;
  pair[1] = p->kind == ARG_SEQ ? &p->items[p->nitems - 1] : p;
  int64_t v;
  for (int k = 0; k < 2; k++)
    if (pair[k]->kind != ARG_VALUE || pair[k]->v.a || (ints && !cask__expr_int(&pair[k]->v, &v))) {
      snprintf(what, sizeof what, "'%s' must be %s, a pair (before, after) or one pair per axis", param,
               ints ? "an integer or a tuple of integers" : "a number");
      return fail_param(ps, fn, p, what);
    }
  return CASK_OK;
}

/* A constant pad whose constants differ by axis or side: one axis and one
 * side after the other, in NumPy's order (a later axis fills the corners). */
static int pad_constants(cask_array *a, const int64_t *before, const int64_t *after, const double *vb, const double *va,
                         cask_array **out) {
  int nd = cask_array_ndim(a);
  int64_t w0[CASK_MAX_NDIM] = {0}, w1[CASK_MAX_NDIM] = {0};
  cask_array *cur = cask_array_retain(a);
  for (int i = 0; i < 2 * nd; i++) {
    cask_array *next;
    w1[i / 2] = i % 2 ? after[i / 2] : before[i / 2];
    int rc = cask_pad(cur, i % 2 ? w0 : w1, i % 2 ? w1 : w0, CASK_PAD_CONSTANT, i % 2 ? va[i / 2] : vb[i / 2], &next);
    w1[i / 2] = 0;
    cask_array_release(cur);
    if (rc) return rc;
    cur = next;
  }
  *out = cur;
  return CASK_OK;
}

static int do_pad(parser *ps, const char *at, const array_fn *fn, arg **b, value *out) {
  static const char *const modes[] = {"constant", "edge", "reflect", "symmetric", "wrap"};
  cask_array *a = b[0]->v.a;
  int64_t before[CASK_MAX_NDIM], after[CASK_MAX_NDIM];
  double vb[CASK_MAX_NDIM] = {0}, va[CASK_MAX_NDIM] = {0};
  int nd = cask_array_ndim(a), mode = 0, same = 1, rc;
  arg *pair[2];
  for (int i = 0; i < (nd ? nd : 1); i++) { /* a 0-d array: the argument still checked */
    if ((rc = pad_pair(ps, fn, "pad_width", b[1], nd, i, 1, pair))) return rc;
    before[i] = pair[0]->v.i;
    after[i] = pair[1]->v.i;
  }
  if (b[2]) {
    for (mode = 0; mode < 5 && (b[2]->kind != ARG_STR || strcmp(b[2]->str, modes[mode])); mode++) {}
    if (mode == 5)
      return fail_param(ps, fn, b[2], "mode must be 'constant', 'edge', 'reflect', 'symmetric' or 'wrap'");
  }
  if (b[3] && mode) return fail_param(ps, fn, b[3], "constant_values is for mode='constant' only");
  for (int i = 0; b[3] && i < (nd ? nd : 1); i++) {
    if ((rc = pad_pair(ps, fn, "constant_values", b[3], nd, i, 0, pair))) return rc;
    vb[i] = pair[0]->v.num;
    va[i] = pair[1]->v.num;
    same &= vb[i] == vb[0] && va[i] == vb[0];
  }
  if (!same) return done(ps, at, pad_constants(a, before, after, vb, va, &out->a));
  return done(ps, at, cask_pad(a, before, after, (cask_pad_mode)mode, vb[0], &out->a));
}

/* triu (op 0), tril (op 1) */
static int do_tri(parser *ps, const char *at, const array_fn *fn, arg **b, value *out) {
  int64_t k;
  int rc = int_arg(ps, fn, "k", b[1], 0, &k);
  if (rc) return rc;
  return done(ps, at, fn->op ? cask_tril(b[0]->v.a, k, &out->a) : cask_triu(b[0]->v.a, k, &out->a));
}

static int do_outer(parser *ps, const char *at, const array_fn *fn, arg **b, value *out) {
  int rc = cask__expr_array_arg(ps, fn, "b", b[1]);
  return rc ? rc : done(ps, at, cask_outer(b[0]->v.a, b[1]->v.a, &out->a));
}

static int do_round(parser *ps, const char *at, const array_fn *fn, arg **b, value *out) {
  int64_t d;
  int rc = int_arg(ps, fn, "decimals", b[1], 0, &d);
  if (rc) return rc;
  if (d < -400 || d > 400) return fail_param(ps, fn, b[1], "decimals is out of range");
  return done(ps, at, cask_round(b[0]->v.a, (int)d, &out->a));
}

const array_fn cask__expr_shape_fns[] = {
    {"concatenate", do_join, 0, {"arrays", "axis"}, 1, 0, 1},
    {"stack", do_join, 1, {"arrays", "axis"}, 1, 0, 1},
    {"flip", do_flip, 0, {"m", "axis"}, 1, 0, 0},
    {"flipud", do_flip, 1, {"m"}, 1, 0, 0},
    {"fliplr", do_flip, 2, {"m"}, 1, 0, 0},
    {"roll", do_roll, 0, {"a", "shift", "axis"}, 2, 0, 0},
    {"squeeze", do_unit_axes, 0, {"a", "axis"}, 1, 0, 0},
    {"expand_dims", do_unit_axes, 1, {"a", "axis"}, 2, 0, 0},
    {"moveaxis", do_moveaxis, 0, {"a", "source", "destination"}, 3, 0, 0},
    {"swapaxes", do_swapaxes, 0, {"a", "axis1", "axis2"}, 3, 0, 0},
    {"broadcast_to", do_broadcast_to, 0, {"array", "shape"}, 2, 0, 0},
    {"reshape", do_reshape, 0, {"a", "newshape"}, 2, 0, 0},
    {"ravel", do_reshape, 1, {"a"}, 1, 0, 0},
    {"tile", do_tile, 0, {"A", "reps"}, 2, 0, 0},
    {"repeat", do_repeat, 0, {"a", "repeats", "axis"}, 2, 0, 0},
    {"pad", do_pad, 0, {"array", "pad_width", "mode", "constant_values"}, 2, 3, 0},
    {"triu", do_tri, 0, {"m", "k"}, 1, 0, 0},
    {"tril", do_tri, 1, {"m", "k"}, 1, 0, 0},
    {"outer", do_outer, 0, {"a", "b"}, 2, 0, 0},
    {"round", do_round, 0, {"a", "decimals"}, 1, 0, 0},
    {"around", do_round, 0, {"a", "decimals"}, 1, 0, 0},
};
const size_t cask__expr_shape_nfns = sizeof cask__expr_shape_fns / sizeof cask__expr_shape_fns[0];
