/* call-linalg.c - the statistics nanargmin, nanargmax, cov, corrcoef, and
 * einsum and the linear algebra of expressions (NumPy's names and
 * arguments): qr, svd, svdvals, svd_compressed, cholesky, solve, inv, det,
 * slogdet, lstsq, norm. An expression value is one array, so a function
 * that returns a tuple in NumPy (qr, svd, slogdet, lstsq, svd_compressed)
 * is indexed right after its call: qr(a)[0], svd(a)[1]; without an index
 * it is refused (except qr(a, mode='r') and svd(a, compute_uv=False),
 * which are one array in NumPy too). */
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "cask/linalg.h"
#include "expr-int.h"

static int nanarg(parser *ps, const char *at, const array_fn *fn, arg **b, value *out) {
  int axes[CASK_MAX_NDIM], n, ddof, keep;
  int rc = cask__expr_reduce_args(ps, fn, b, axes, &n, &ddof, &keep);
  if (rc) return rc;
  if (n > 1) return cask__expr_fail(ps, b[1]->at, "axis must be one integer or None");
  rc = fn->op ? cask_nanargmax(b[0]->v.a, axes, n < 0 ? 0 : n, &out->a) : cask_nanargmin(b[0]->v.a, axes, n < 0 ? 0 : n, &out->a);
  if (rc) return cask__expr_fail_ctx(ps, at);
  return keep ? cask__expr_keep_dims(ps, at, b[0]->v.a, axes, n, out) : CASK_OK;
}

/* True/False (or an integer) into *v; absent: leave *v. */
static int flag(parser *ps, const array_fn *fn, const char *param, const arg *g, int *v) {
  if (!g) return CASK_OK;
  if (g->kind != ARG_VALUE || g->v.a || !g->v.is_int) {
    char msg[160];
    snprintf(msg, sizeof msg, "%s: '%s' must be True or False", fn->name, param);
    return cask__expr_fail(ps, g->at, msg);
  }
  *v = g->v.num != 0;
  return CASK_OK;
}

static int opt_array(parser *ps, const array_fn *fn, const char *param, arg *g, cask_array **a) {
  *a = NULL;
  if (!g || g->kind == ARG_NONE) return CASK_OK;
  int rc = cask__expr_array_arg(ps, fn, param, g);
  if (!rc) *a = g->v.a;
  return rc;
}

static int do_cov(parser *ps, const char *at, const array_fn *fn, arg **b, value *out) {
  cask_array *y;
  int rowvar = 1, bias = 0, ddof = -1;
  int rc = opt_array(ps, fn, "y", b[1], &y);
  if (!rc) rc = flag(ps, fn, "rowvar", b[2], &rowvar);
  if (!rc && fn->op == 0) rc = flag(ps, fn, "bias", b[3], &bias);
  if (!rc && fn->op == 0 && b[4] && b[4]->kind != ARG_NONE) {
    int64_t d;
    if (b[4]->kind != ARG_VALUE || !cask__expr_int(&b[4]->v, &d) || d < 0 || d > 1000000000)
      return cask__expr_fail(ps, b[4]->at, "cov: ddof must be a non-negative integer or None");
    ddof = (int)d;
  }
  if (rc) return rc;
  rc = fn->op ? cask_corrcoef(b[0]->v.a, y, rowvar, &out->a) : cask_cov(b[0]->v.a, y, rowvar, bias, ddof, &out->a);
  return rc ? cask__expr_fail_ctx(ps, at) : CASK_OK;
}

int cask__expr_einsum(parser *ps, const char *at, arg *args, int n, value *out) {
  if (n < 2 || args[0].kind != ARG_STR || args[0].kw)
    return cask__expr_fail(ps, at, "einsum: expected einsum('subscripts', a, ...) with the subscripts as a string");
  cask_array *ops[MAX_ARGS];
  for (int k = 1; k < n; k++) {
    if (args[k].kw) return cask__expr_fail(ps, args[k].kw, "einsum: keyword arguments are not supported");
    if (args[k].kind != ARG_VALUE) return cask__expr_fail(ps, args[k].at, "einsum: the operands must be arrays");
    int rc = cask__expr_as_array(ps, &args[k].v);
    if (rc) return rc;
    ops[k - 1] = args[k].v.a;
  }
  return cask_einsum(args[0].str, n - 1, ops, &out->a) ? cask__expr_fail_ctx(ps, at) : CASK_OK;
}

/* The "[k]" after a call returning a tuple of n: k (negative from the
 * end), consumed; -1 when there is none. */
static int tuple_index(parser *ps, const array_fn *fn, int n, int *k) {
  const char *p = ps->p;
  while (isspace((unsigned char)*p)) p++;
  *k = -1;
  if (*p != '[') return CASK_OK;
  const char *at = p++;
  while (isspace((unsigned char)*p)) p++;
  int neg = *p == '-';
  p += neg;
  if (!isdigit((unsigned char)*p)) return CASK_OK; /* not an integer: leave it to the caller's subscript */
  long v = 0;
  while (isdigit((unsigned char)*p) && v < 1000) v = v * 10 + (*p++ - '0');
  while (isspace((unsigned char)*p)) p++;
  if (*p != ']') return CASK_OK;
  if (neg) v = -v;
  if (v < -n || v >= n) {
    char msg[160];
    snprintf(msg, sizeof msg, "%s returns %d arrays: index %ld is out of range", fn->name, n, v);
    return cask__expr_fail(ps, at, msg);
  }
  *k = (int)(v < 0 ? v + n : v);
  ps->p = p + 1;
  return CASK_OK;
}

static int need_index(parser *ps, const char *at, const array_fn *fn, int n, int *k, const char *parts) {
  int rc = tuple_index(ps, fn, n, k);
  if (rc || *k >= 0) return rc;
  char msg[200];
  snprintf(msg, sizeof msg, "%s returns %d arrays (%s): take one, e.g. %s(...)[0]", fn->name, n, parts, fn->name);
  return cask__expr_fail(ps, at, msg);
}

static int do_qr(parser *ps, const char *at, const array_fn *fn, arg **b, value *out) {
  int k = 1, r_only = 0;
  if (b[1]) {
    if (b[1]->kind != ARG_STR || (strcmp(b[1]->str, "reduced") && strcmp(b[1]->str, "r")))
      return cask__expr_fail(ps, b[1]->at, "qr: mode must be 'reduced' or 'r'");
    r_only = !strcmp(b[1]->str, "r");
  }
  int rc = r_only ? CASK_OK : need_index(ps, at, fn, 2, &k, "Q, R");
  if (rc) return rc;
  rc = cask_qr(b[0]->v.a, k == 0 ? &out->a : NULL, k == 1 ? &out->a : NULL);
  return rc ? cask__expr_fail_ctx(ps, at) : CASK_OK;
}

static int do_svd(parser *ps, const char *at, const array_fn *fn, arg **b, value *out) {
  int full = 1, uv = 1, k = 1, rc = flag(ps, fn, "full_matrices", b[1], &full);
  if (!rc) rc = flag(ps, fn, "compute_uv", b[2], &uv);
  if (!rc && uv) rc = need_index(ps, at, fn, 3, &k, "U, S, Vh");
  if (rc) return rc;
  cask_array *a = b[0]->v.a;
  const int64_t *s = cask_array_shape(a);
  if (full && k != 1 && cask_array_ndim(a) == 2 && s[0] != s[1])
    return cask__expr_fail(ps, at, "svd: full_matrices=True of a non-square matrix is not supported: pass full_matrices=False");
  rc = cask_svd(a, k == 0 ? &out->a : NULL, k == 1 ? &out->a : NULL, k == 2 ? &out->a : NULL);
  return rc ? cask__expr_fail_ctx(ps, at) : CASK_OK;
}

static int do_svd_compressed(parser *ps, const char *at, const array_fn *fn, arg **b, value *out) {
  int64_t k, it = 0, seed = 0;
  if (b[1]->kind != ARG_VALUE || !cask__expr_int(&b[1]->v, &k))
    return cask__expr_fail(ps, b[1]->at, "svd_compressed: k must be an integer");
  if (b[2] && (b[2]->kind != ARG_VALUE || !cask__expr_int(&b[2]->v, &it) || it < 0 || it > 1000))
    return cask__expr_fail(ps, b[2]->at, "svd_compressed: n_power_iter must be a non-negative integer");
  if (b[3] && b[3]->kind != ARG_NONE && (b[3]->kind != ARG_VALUE || !cask__expr_int(&b[3]->v, &seed)))
    return cask__expr_fail(ps, b[3]->at, "svd_compressed: seed must be an integer");
  int part, rc = need_index(ps, at, fn, 3, &part, "U, S, Vh");
  if (rc) return rc;
  rc = cask_svd_compressed(b[0]->v.a, k, (int)it, (uint64_t)seed, part == 0 ? &out->a : NULL,
                           part == 1 ? &out->a : NULL, part == 2 ? &out->a : NULL);
  return rc ? cask__expr_fail_ctx(ps, at) : CASK_OK;
}

static int do_one(parser *ps, const char *at, const array_fn *fn, arg **b, value *out) {
  static int (*const f[])(cask_array *, cask_array **) = {cask_svdvals, cask_cholesky, cask_inv, cask_det};
  return f[fn->op](b[0]->v.a, &out->a) ? cask__expr_fail_ctx(ps, at) : CASK_OK;
}

static int do_solve(parser *ps, const char *at, const array_fn *fn, arg **b, value *out) {
  int rc = cask__expr_array_arg(ps, fn, "b", b[1]);
  if (rc) return rc;
  return cask_solve(b[0]->v.a, b[1]->v.a, &out->a) ? cask__expr_fail_ctx(ps, at) : CASK_OK;
}

static int do_slogdet(parser *ps, const char *at, const array_fn *fn, arg **b, value *out) {
  int k, rc = need_index(ps, at, fn, 2, &k, "sign, logabsdet");
  if (rc) return rc;
  rc = cask_slogdet(b[0]->v.a, k == 0 ? &out->a : NULL, k == 1 ? &out->a : NULL);
  return rc ? cask__expr_fail_ctx(ps, at) : CASK_OK;
}

static int do_lstsq(parser *ps, const char *at, const array_fn *fn, arg **b, value *out) {
  int rc = cask__expr_array_arg(ps, fn, "b", b[1]);
  if (!rc && b[2] && b[2]->kind != ARG_NONE)
    return cask__expr_fail(ps, b[2]->at, "lstsq: only rcond=None (machine precision) is supported");
  int k;
  if (!rc) rc = need_index(ps, at, fn, 4, &k, "x, residuals, rank, s");
  if (rc) return rc;
  cask_array *parts[4] = {NULL};
  rc = cask_lstsq(b[0]->v.a, b[1]->v.a, &parts[0], k == 1 ? &parts[1] : NULL, k == 2 ? &parts[2] : NULL,
                  k == 3 ? &parts[3] : NULL);
  if (rc) return cask__expr_fail_ctx(ps, at);
  out->a = parts[k];
  parts[k] = NULL;
  for (int i = 0; i < 4; i++) cask_array_release(parts[i]);
  return CASK_OK;
}

static int do_norm(parser *ps, const char *at, const array_fn *fn, arg **b, value *out) {
  cask_norm_kind kind = CASK_NORM_DEFAULT;
  double ord = 0;
  if (b[1] && b[1]->kind == ARG_STR) {
    if (!strcmp(b[1]->str, "fro")) kind = CASK_NORM_FRO;
    else if (!strcmp(b[1]->str, "nuc")) kind = CASK_NORM_NUC;
    else return cask__expr_fail(ps, b[1]->at, "norm: ord must be None, a number, 'fro' or 'nuc'");
  } else if (b[1] && b[1]->kind == ARG_VALUE && !b[1]->v.a) {
    kind = CASK_NORM_ORD;
    ord = b[1]->v.num;
  } else if (b[1] && b[1]->kind != ARG_NONE) {
    return cask__expr_fail(ps, b[1]->at, "norm: ord must be None, a number, 'fro' or 'nuc'");
  }
  int axes[CASK_MAX_NDIM], n, keep = 0;
  int rc = cask__expr_axes(ps, fn, b[2], axes, &n);
  if (!rc) rc = flag(ps, fn, "keepdims", b[3], &keep);
  if (rc) return rc;
  if (n == 0 || n > 2) return cask__expr_fail(ps, b[2]->at, "norm: axis must be None, an integer or a pair of integers");
  rc = cask_norm(b[0]->v.a, kind, ord, axes, n < 0 ? 0 : n, keep, &out->a);
  return rc ? cask__expr_fail_ctx(ps, at) : CASK_OK;
}

const array_fn cask__expr_linalg_fns[] = {
    {"nanargmin", nanarg, 0, {"a", "axis", "keepdims"}, 1, 2, 0},
    {"nanargmax", nanarg, 1, {"a", "axis", "keepdims"}, 1, 2, 0},
    {"cov", do_cov, 0, {"m", "y", "rowvar", "bias", "ddof"}, 1, 0, 0},
    {"corrcoef", do_cov, 1, {"x", "y", "rowvar"}, 1, 0, 0},
    {"qr", do_qr, 0, {"a", "mode"}, 1, 0, 0},
    {"svd", do_svd, 0, {"a", "full_matrices", "compute_uv"}, 1, 0, 0},
    {"svd_compressed", do_svd_compressed, 0, {"a", "k", "n_power_iter", "seed"}, 2, 0, 0},
    {"svdvals", do_one, 0, {"a"}, 1, 0, 0},
    {"cholesky", do_one, 1, {"a"}, 1, 0, 0},
    {"inv", do_one, 2, {"a"}, 1, 0, 0},
    {"det", do_one, 3, {"a"}, 1, 0, 0},
    {"solve", do_solve, 0, {"a", "b"}, 2, 0, 0},
    {"slogdet", do_slogdet, 0, {"a"}, 1, 0, 0},
    {"lstsq", do_lstsq, 0, {"a", "b", "rcond"}, 2, 0, 0},
    {"norm", do_norm, 0, {"x", "ord", "axis", "keepdims"}, 1, 0, 0},
};
const size_t cask__expr_linalg_nfns = sizeof cask__expr_linalg_fns / sizeof cask__expr_linalg_fns[0];
