/* call-select.c - selection in expressions: compress(condition, a,
 * axis=None), extract(condition, arr), take(a, indices, axis=None),
 * nonzero(a)[k], argwhere(a), flatnonzero(a) and compute_chunk_sizes(a);
 * and what parse.c's subscripts need for x[mask], x[[3, 1, 4], :] and
 * x[idx] (cask__expr_advanced). A step holds one array, so nonzero's tuple
 * is only reached through a subscript, nonzero(a)[k], or argwhere. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>

#include "expr-int.h"

/* A list argument of integers (any length) into *out (cask__malloc'd);
 * 0 when it is not one. */
static int int_list(const arg *g, int64_t **out, int64_t *n) {
  if (g->kind != ARG_SEQ) return 0;
  for (int k = 0; k < g->nitems; k++)
    if (g->items[k].kind != ARG_VALUE || g->items[k].v.a || g->items[k].v.is_int != 1) return 0;
  *out = cask__malloc((size_t)g->nitems * sizeof **out + 8);
  if (!*out) return 0;
  for (int k = 0; k < g->nitems; k++) (*out)[k] = g->items[k].v.i;
  *n = g->nitems;
  return 1;
}

static void free_data(void *user, void *data) {
  (void)user;
  cask__free(data);
}

/* A list of True/False as a bool array (1), 0 when it is not one. */
static int bool_list(parser *ps, const arg *g, cask_array **out) {
  if (g->kind != ARG_SEQ || g->nitems == 0) return 0;
  for (int k = 0; k < g->nitems; k++)
    if (g->items[k].kind != ARG_VALUE || g->items[k].v.a || g->items[k].v.is_int != 2) return 0;
  uint8_t *d = cask__malloc((size_t)g->nitems);
  if (!d) return 0;
  for (int k = 0; k < g->nitems; k++) d[k] = g->items[k].v.i != 0;
  int64_t n = g->nitems;
  if (cask_from_buffer(ps->ctx, d, CASK_BOOL, 1, &n, NULL, free_data, NULL, out)) {
    cask__free(d);
    return 0;
  }
  return 1;
}

int cask__expr_advanced(parser *ps, const char *at, cask_array *x, int axis, arg *g, cask_array **out) {
  int64_t *lit = NULL, n;
  cask_array *m = NULL;
  int rc;
  if (g->kind == ARG_SEQ) {
    if (bool_list(ps, g, &m)) {
      rc = cask__expr_advanced_array(ps, at, x, axis, m, out);
      cask_array_release(m);
      return rc;
    }
    if (!int_list(g, &lit, &n))
      return cask__expr_fail(ps, g->at, "an index list must hold integers (or True/False), none nested");
    rc = cask_take_list(x, n, lit, &axis, out);
    cask__free(lit);
    return rc ? cask__expr_fail_ctx(ps, at) : CASK_OK;
  }
  return cask__expr_advanced_array(ps, at, x, axis, g->v.a, out);
}

int cask__expr_advanced_array(parser *ps, const char *at, cask_array *x, int axis, cask_array *idx, cask_array **out) {
  int rc;
  if (cask_array_dtype(idx) == CASK_BOOL) {
    if (cask_array_ndim(idx) != 1) {
      char msg[200];
      snprintf(msg, sizeof msg, "a boolean index of %d axes must be the only index and have the array's shape",
               cask_array_ndim(idx));
      return cask__expr_fail(ps, at, msg);
    }
    const int64_t xs = cask_array_shape(x)[axis], ms = cask_array_shape(idx)[0];
    if (xs != ms) {
      char msg[300];
      snprintf(msg, sizeof msg, "boolean index did not match indexed array along dimension %d; dimension is %lld but "
               "corresponding boolean dimension is %lld (-1: unknown)", axis, (long long)xs, (long long)ms);
      return cask__expr_fail(ps, at, msg);
    }
    rc = cask_compress(idx, x, &axis, out);
  } else {
    rc = cask_take(x, idx, &axis, out);
  }
  return rc ? cask__expr_fail_ctx(ps, at) : CASK_OK;
}

static int one_axis(parser *ps, const array_fn *fn, arg *g, int *axis, int *has) {
  int axes[CASK_MAX_NDIM], n;
  *has = 0;
  int rc = cask__expr_axes(ps, fn, g, axes, &n);
  if (!rc && n > 1) {
    char msg[160];
    snprintf(msg, sizeof msg, "%s: axis must be one integer or None", fn->name);
    return cask__expr_fail(ps, g->at, msg);
  }
  if (!rc && n == 1) *axis = axes[0], *has = 1;
  return rc;
}

/* A condition: an array, or a list of bools or integers (nonzero: true)
 * made a bool array (*owned, released by the caller). */
static int cond_arg(parser *ps, const array_fn *fn, arg *g, cask_array **c, cask_array **owned) {
  *owned = NULL;
  if (g->kind == ARG_SEQ) {
    int64_t *lit, n;
    if (!bool_list(ps, g, owned) && int_list(g, &lit, &n)) {
      for (int k = 0; k < g->nitems; k++) {
        g->items[k].v.is_int = 2;
        g->items[k].v.i = lit[k] != 0;
      }
      cask__free(lit);
      bool_list(ps, g, owned);
    }
    if (!*owned) return cask__expr_fail(ps, g->at, "the condition must be an array or a list of bools or integers");
    *c = *owned;
    return CASK_OK;
  }
  int rc = cask__expr_array_arg(ps, fn, fn->params[0], g);
  *c = g->v.a;
  return rc;
}

/* compress(condition, a, axis=None) and extract(condition, arr). */
static int do_compress(parser *ps, const char *at, const array_fn *fn, arg **b, value *out) {
  cask_array *c = NULL, *owned = NULL;
  int axis, has, rc = cask__expr_array_arg(ps, fn, fn->params[1], b[1]);
  if (!rc) rc = one_axis(ps, fn, b[2], &axis, &has);
  if (!rc) rc = cond_arg(ps, fn, b[0], &c, &owned);
  if (!rc && (fn->op ? cask_extract(c, b[1]->v.a, &out->a) : cask_compress(c, b[1]->v.a, has ? &axis : NULL, &out->a)))
    rc = cask__expr_fail_ctx(ps, at);
  cask_array_release(owned);
  return rc;
}

/* take(a, indices, axis=None): a list, an integer array or one integer. */
static int do_take(parser *ps, const char *at, const array_fn *fn, arg **b, value *out) {
  int axis, has, rc = one_axis(ps, fn, b[2], &axis, &has);
  if (rc) return rc;
  cask_array *x = b[0]->v.a, *x1 = NULL;
  int64_t i;
  if (b[1]->kind == ARG_VALUE && cask__expr_int(&b[1]->v, &i)) { /* the axis goes, as x[..., i, ...] */
    if (!has) {
      int64_t sz = cask_array_size(x);
      if (cask_reshape(x, 1, &sz, &x1)) return cask__expr_fail_ctx(ps, at);
      x = x1, axis = 0;
    }
    int ax = axis < 0 ? axis + cask_array_ndim(x) : axis;
    if (ax < 0 || ax >= cask_array_ndim(x)) {
      cask_array_release(x1);
      return cask__expr_fail(ps, b[2] ? b[2]->at : at, "take: axis out of range");
    }
    cask_array *t = NULL;
    rc = cask_take_list(x, 1, &i, &ax, &t);
    if (!rc) rc = cask_squeeze(t, 1, &ax, &out->a);
    cask_array_release(t), cask_array_release(x1);
    return rc ? cask__expr_fail_ctx(ps, at) : CASK_OK;
  }
  if (b[1]->kind == ARG_SEQ) {
    int64_t *lit = NULL, n = 0;
    if (!int_list(b[1], &lit, &n)) return cask__expr_fail(ps, b[1]->at, "take: the indices must be integers");
    rc = cask_take_list(x, n, lit, has ? &axis : NULL, &out->a);
    cask__free(lit);
  } else {
    if ((rc = cask__expr_array_arg(ps, fn, "indices", b[1]))) return rc;
    rc = cask_take(x, b[1]->v.a, has ? &axis : NULL, &out->a);
  }
  return rc ? cask__expr_fail_ctx(ps, at) : CASK_OK;
}

/* nonzero(a)[k]: the subscript is read here (ps->p is after the ')'). */
static int do_nonzero(parser *ps, const char *at, const array_fn *fn, arg **b, value *out) {
  (void)fn;
  const char *p = ps->p;
  while (isspace((unsigned char)*p)) p++;
  char *end;
  long long k = -1;
  if (*p == '[') {
    const char *q = p + 1;
    while (isspace((unsigned char)*q)) q++;
    k = strtoll(q, &end, 10);
    if (end == q) k = -1;
    else {
      while (isspace((unsigned char)*end)) end++;
      if (*end != ']') k = -1;
      else p = end + 1;
    }
  }
  cask_array *a = b[0]->v.a;
  int nd = cask_array_ndim(a) ? cask_array_ndim(a) : 1;
  if (k < 0 || k >= nd) {
    char msg[200];
    snprintf(msg, sizeof msg, "nonzero gives a tuple of %d arrays: take one with nonzero(a)[k], 0 <= k < %d (or use "
             "argwhere(a))", nd, nd);
    return cask__expr_fail(ps, at, msg);
  }
  ps->p = p;
  cask_array *r[CASK_MAX_NDIM];
  if (cask_nonzero(a, r)) return cask__expr_fail_ctx(ps, at);
  out->a = r[k];
  for (int d = 0; d < nd; d++)
    if (d != k) cask_array_release(r[d]);
  return CASK_OK;
}

static int do_index_fn(parser *ps, const char *at, const array_fn *fn, arg **b, value *out) {
  int rc = fn->op == 0   ? cask_argwhere(b[0]->v.a, &out->a)
           : fn->op == 1 ? cask_flatnonzero(b[0]->v.a, &out->a)
                         : cask_compute_chunk_sizes(b[0]->v.a, &out->a);
  return rc ? cask__expr_fail_ctx(ps, at) : CASK_OK;
}

const array_fn cask__expr_select_fns[] = {
    {"compress", do_compress, 0, {"condition", "a", "axis"}, 2, 0, 1},
    {"extract", do_compress, 1, {"condition", "arr"}, 2, 0, 1},
    {"take", do_take, 0, {"a", "indices", "axis"}, 2, 0, 0},
    {"nonzero", do_nonzero, 0, {"a"}, 1, 0, 0},
    {"argwhere", do_index_fn, 0, {"a"}, 1, 0, 0},
    {"flatnonzero", do_index_fn, 1, {"a"}, 1, 0, 0},
    {"compute_chunk_sizes", do_index_fn, 2, {"a"}, 1, 0, 0},
};
const size_t cask__expr_select_nfns = sizeof cask__expr_select_fns / sizeof cask__expr_select_fns[0];
