/* call.c - the array functions of expressions: their table (reductions,
 * transpose, rechunk, astype, matmul, dot here; joining and shape functions
 * in call-shape.c, cumulative functions in call-stats.c), the binding of
 * arguments by position or keyword as NumPy's signatures take them, and
 * the conversions of arguments (arrays, integers, axes) that report a bad
 * one at its column. */
#include <stdio.h>
#include <string.h>

#include "expr-int.h"

int cask__expr_array_arg(parser *ps, const array_fn *fn, const char *param, arg *g) {
  if (g->kind != ARG_VALUE) {
    char msg[200];
    snprintf(msg, sizeof msg, "%s: '%s' must be an array, not %s", fn->name, param,
             g->kind == ARG_STR ? "a string" : g->kind == ARG_NONE ? "None" : g->open == '[' ? "a list" : "a tuple");
    return cask__expr_fail(ps, g->at, msg);
  }
  return cask__expr_as_array(ps, &g->v);
}

int cask__expr_ints(parser *ps, const array_fn *fn, const char *param, arg *g, int allow_none, int64_t *ints,
                    int *n) {
  if (g->kind == ARG_NONE && allow_none) {
    *n = -1;
    return CASK_OK;
  }
  if (g->kind == ARG_SEQ && g->nints >= 0) {
    memcpy(ints, g->ints, sizeof g->ints);
    *n = g->nints;
    return CASK_OK;
  }
  if (g->kind == ARG_VALUE && cask__expr_int(&g->v, &ints[0])) {
    *n = 1;
    return CASK_OK;
  }
  char msg[200];
  snprintf(msg, sizeof msg, "%s: '%s' must be an integer or a tuple of at most %d integers%s", fn->name, param,
           CASK_MAX_NDIM, allow_none ? " or None" : "");
  return cask__expr_fail(ps, g->at, msg);
}

int cask__expr_axes(parser *ps, const array_fn *fn, arg *g, int *axes, int *n) {
  int64_t ax[CASK_MAX_NDIM];
  *n = -1;
  int rc = g ? cask__expr_ints(ps, fn, "axis", g, 1, ax, n) : CASK_OK;
  for (int k = 0; !rc && k < *n; k++) {
    if (ax[k] < -CASK_MAX_NDIM || ax[k] >= CASK_MAX_NDIM) {
      char msg[200];
      snprintf(msg, sizeof msg, "%s: axis %lld is out of range", fn->name, (long long)ax[k]);
      return cask__expr_fail(ps, g->at, msg);
    }
    axes[k] = (int)ax[k];
  }
  return rc;
}

static int count_is_ndim(parser *ps, const array_fn *fn, const char *param, const arg *g, int n, const cask_array *a) {
  if (n == cask_array_ndim(a)) return CASK_OK;
  char msg[200];
  snprintf(msg, sizeof msg, "%s: '%s' has %d entries, the array has %d axes", fn->name, param, n, cask_array_ndim(a));
  return cask__expr_fail(ps, g->at, msg);
}

/* keepdims=True: the reduced axes back, with extent 1. */
int cask__expr_keep_dims(parser *ps, const char *at, const cask_array *a, const int *axes, int n, value *out) {
  int nd = cask_array_ndim(a), pos[CASK_MAX_NDIM], np = 0;
  uint32_t mask = 0;
  for (int k = 0; k < n; k++) mask |= 1u << (axes[k] < 0 ? axes[k] + nd : axes[k]);
  for (int i = 0; i < nd; i++)
    if (n <= 0 || (mask >> i) & 1) pos[np++] = i;
  cask_array *r;
  if (cask_expand_dims(out->a, np, pos, &r)) return cask__expr_fail_ctx(ps, at);
  cask_array_release(out->a);
  out->a = r;
  return CASK_OK;
}

/* A bool argument (True, False, or an integer as Python takes it). */
static int bool_arg(parser *ps, const array_fn *fn, const char *param, const arg *g, int *out) {
  if (g->kind != ARG_VALUE || g->v.a || !g->v.is_int) {
    char msg[200];
    snprintf(msg, sizeof msg, "%s: '%s' must be True or False", fn->name, param);
    return cask__expr_fail(ps, g->at, msg);
  }
  *out = g->v.num != 0;
  return CASK_OK;
}

int cask__expr_reduce_args(parser *ps, const array_fn *fn, arg **b, int *axes, int *n, int *ddof, int *keep) {
  *ddof = *keep = 0;
  int rc = cask__expr_axes(ps, fn, b[1], axes, n);
  if (rc) return rc;
  if (*n == 0) return cask__expr_fail(ps, b[1]->at, "axis=() (reduce no axis) is not supported");
  arg *d = fn->params[3] ? b[2] : NULL, *k = fn->params[3] ? b[3] : b[2];
  if (d) {
    if (d->kind != ARG_VALUE || d->v.a || d->v.is_int != 1 || d->v.num < 0 || d->v.num > 1e9)
      return cask__expr_fail(ps, d->at, "ddof must be a non-negative integer");
    *ddof = (int)d->v.num;
  }
  return k ? bool_arg(ps, fn, "keepdims", k, keep) : CASK_OK;
}

static int do_reduce(parser *ps, const char *at, const array_fn *fn, arg **b, value *out) {
  int axes[CASK_MAX_NDIM], n, ddof, keep;
  int rc = cask__expr_reduce_args(ps, fn, b, axes, &n, &ddof, &keep);
  if (rc) return rc;
  if (cask_reduce(fn->op, b[0]->v.a, axes, n < 0 ? 0 : n, ddof, &out->a)) return cask__expr_fail_ctx(ps, at);
  return keep ? cask__expr_keep_dims(ps, at, b[0]->v.a, axes, n, out) : CASK_OK;
}

int cask__expr_dtype(const char *s, cask_dtype *dt) {
  static const struct {
    const char *alias;
    cask_dtype dt;
  } aliases[] = {{"f8", CASK_F64}, {"f4", CASK_F32}, {"i8", CASK_I64}, {"i4", CASK_I32},
                 {"u1", CASK_U8},  {"?", CASK_BOOL}, {"float", CASK_F64}, {"int", CASK_I64}};
  for (int d = 0; d < CASK_DTYPE_COUNT; d++)
    if (!strcmp(s, cask_dtype_name((cask_dtype)d))) {
      *dt = (cask_dtype)d;
      return 1;
    }
  for (size_t k = 0; k < sizeof aliases / sizeof aliases[0]; k++)
    if (!strcmp(s, aliases[k].alias)) {
      *dt = aliases[k].dt;
      return 1;
    }
  return 0;
}

static int do_astype(parser *ps, const char *at, const array_fn *fn, arg **b, value *out) {
  (void)fn;
  cask_dtype dt;
  if (b[1]->kind != ARG_STR || !cask__expr_dtype(b[1]->str, &dt))
    return cask__expr_fail(ps, b[1]->at,
                           "astype: the dtype must be a string: 'float64', 'float32', 'int64', 'int32', 'uint8' or 'bool'");
  return cask_astype(b[0]->v.a, dt, &out->a) ? cask__expr_fail_ctx(ps, at) : CASK_OK;
}

static int do_product(parser *ps, const char *at, const array_fn *fn, arg **b, value *out) {
  int rc = cask__expr_array_arg(ps, fn, "b", b[1]);
  if (rc) return rc;
  rc = fn->op ? cask_dot(b[0]->v.a, b[1]->v.a, &out->a) : cask_matmul(b[0]->v.a, b[1]->v.a, &out->a);
  return rc ? cask__expr_fail_ctx(ps, at) : CASK_OK;
}

static int do_transpose(parser *ps, const char *at, const array_fn *fn, arg **b, value *out) {
  int64_t ints[CASK_MAX_NDIM];
  int n = 0, perm[CASK_MAX_NDIM], rc;
  cask_array *a = b[0]->v.a;
  if (b[1] && b[1]->kind != ARG_NONE) {
    if ((rc = cask__expr_ints(ps, fn, "axes", b[1], 0, ints, &n)) || (rc = count_is_ndim(ps, fn, "axes", b[1], n, a)))
      return rc;
    for (int k = 0; k < n; k++) perm[k] = ints[k] < 0 || ints[k] >= CASK_MAX_NDIM ? -1 : (int)ints[k];
  }
  rc = cask_transpose(a, b[1] && b[1]->kind != ARG_NONE ? perm : NULL, &out->a);
  return rc ? cask__expr_fail_ctx(ps, at) : CASK_OK;
}

static int do_rechunk(parser *ps, const char *at, const array_fn *fn, arg **b, value *out) {
  int64_t ints[CASK_MAX_NDIM];
  int n, rc;
  if ((rc = cask__expr_ints(ps, fn, "chunks", b[1], 0, ints, &n)) ||
      (rc = count_is_ndim(ps, fn, "chunks", b[1], n, b[0]->v.a)))
    return rc;
  return cask_rechunk(b[0]->v.a, ints, &out->a) ? cask__expr_fail_ctx(ps, at) : CASK_OK;
}

/* NumPy's reductions take dtype and out after axis: only a and axis by
 * position. */
#define RED(n, op) {n, do_reduce, op, {"a", "axis", "keepdims"}, 1, 2, 0}
#define RED_DDOF(n, op) {n, do_reduce, op, {"a", "axis", "ddof", "keepdims"}, 1, 2, 0}
static const array_fn array_fns[] = {
    RED("sum", CASK_SUM),       RED("mean", CASK_MEAN),     RED("min", CASK_MIN),
    RED("max", CASK_MAX),       RED_DDOF("var", CASK_VAR),  RED_DDOF("std", CASK_STD),
    RED("prod", CASK_PROD),     RED("any", CASK_ANY),       RED("all", CASK_ALL),
    RED("argmin", CASK_ARGMIN), RED("argmax", CASK_ARGMAX), RED("nansum", CASK_NANSUM),
    RED("nanmean", CASK_NANMEAN), RED("nanmin", CASK_NANMIN), RED("nanmax", CASK_NANMAX),
    {"transpose", do_transpose, 0, {"a", "axes"}, 1, 0, 0},
    {"rechunk", do_rechunk, 0, {"a", "chunks"}, 2, 0, 0},
    {"astype", do_astype, 0, {"a", "dtype"}, 2, 0, 0},
    {"matmul", do_product, 0, {"a", "b"}, 2, 0, 0},
    {"dot", do_product, 1, {"a", "b"}, 2, 0, 0},
};
#undef RED
#undef RED_DDOF

/* Puts the arguments in parameter order (bound[k] NULL: not given). */
static int bind(parser *ps, const char *at, const array_fn *fn, arg *args, int n, arg **bound) {
  char msg[200];
  int np = 0, npos;
  while (np < MAX_PARAMS && fn->params[np]) np++;
  npos = fn->npos ? fn->npos : np;
  for (int k = 0; k < n; k++) {
    int slot = k;
    if (args[k].kw) {
      for (slot = 0; slot < np; slot++)
        if (strlen(fn->params[slot]) == args[k].kwlen && !memcmp(fn->params[slot], args[k].kw, args[k].kwlen)) break;
      if (slot == np) {
        snprintf(msg, sizeof msg, "%s: unknown keyword '%.*s'", fn->name, (int)(args[k].kwlen > 64 ? 64 : args[k].kwlen),
                 args[k].kw);
        return cask__expr_fail(ps, args[k].kw, msg);
      }
    } else if (k > 0 && args[k - 1].kw) {
      return cask__expr_fail(ps, args[k].at, "a positional argument after a keyword argument");
    }
    if (slot >= npos && !args[k].kw) {
      snprintf(msg, sizeof msg, "%s takes at most %d arguments%s", fn->name, npos,
               npos < np ? " by position (give the others by keyword)" : "");
      return cask__expr_fail(ps, args[k].at, msg);
    }
    if (bound[slot]) {
      snprintf(msg, sizeof msg, "%s: '%s' is given twice", fn->name, fn->params[slot]);
      return cask__expr_fail(ps, args[k].kw ? args[k].kw : args[k].at, msg);
    }
    bound[slot] = &args[k];
  }
  for (int k = 0; k < fn->nreq; k++)
    if (!bound[k]) {
      snprintf(msg, sizeof msg, "%s: missing argument '%s'", fn->name, fn->params[k]);
      return cask__expr_fail(ps, at, msg);
    }
  return CASK_OK;
}

static const array_fn *find(const array_fn *t, size_t n, const char *name, size_t len) {
  for (size_t f = 0; f < n; f++)
    if (strlen(t[f].name) == len && !memcmp(t[f].name, name, len)) return &t[f];
  return NULL;
}

int cask__expr_call(parser *ps, const char *name, size_t len, const char *at, arg *args, int n, value *out,
                    int *found) {
  if (len == 6 && !memcmp(name, "einsum", 6)) { /* a string, then any number of arrays */
    *found = 1;
    return cask__expr_einsum(ps, at, args, n, out);
  }
  const array_fn *fn = find(array_fns, sizeof array_fns / sizeof array_fns[0], name, len);
  if (!fn) fn = find(cask__expr_shape_fns, cask__expr_shape_nfns, name, len);
  if (!fn) fn = find(cask__expr_stats_fns, cask__expr_stats_nfns, name, len);
  if (!fn) fn = find(cask__expr_sort_fns, cask__expr_sort_nfns, name, len);
  if (!fn) fn = find(cask__expr_select_fns, cask__expr_select_nfns, name, len);
  if (!fn) fn = find(cask__expr_linalg_fns, cask__expr_linalg_nfns, name, len);
  *found = fn != NULL;
  if (!fn) return CASK_OK;
  arg *bound[MAX_PARAMS] = {NULL};
  int rc = bind(ps, at, fn, args, n, bound);
  if (!rc && !fn->list) rc = cask__expr_array_arg(ps, fn, fn->params[0], bound[0]);
  return rc ? rc : fn->apply(ps, at, fn, bound, out);
}
