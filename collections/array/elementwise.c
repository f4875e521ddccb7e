/* elementwise.c - building elementwise nodes: NumPy broadcasting of shapes,
 * and the chunk grid of the result. Nothing is computed here; lower.c fuses
 * a tree of these nodes into one kernel per block. */
#include <stdio.h>

#include "array-int.h"

static const char *const binop_names[CASK_BINOP_COUNT] = {
    "add", "subtract", "multiply", "divide", "power", "maximum", "minimum", "arctan2"};
static const char *const unop_names[CASK_UNOP_COUNT] = {
    "negative", "abs", "sqrt", "exp", "expm1", "log", "log1p", "log2", "log10", "sin",
    "cos", "tan", "arcsin", "arccos", "arctan", "sinh", "cosh", "tanh", "floor", "ceil"};

/* Right-aligned extent and chunk of axis i of an ndim-d result. */
static void axis_of(const cask_array *a, int ndim, int i, int64_t *ext, int64_t *chunk) {
  int j = i - (ndim - a->ndim);
  *ext = j >= 0 ? a->shape[j] : 1;
  *chunk = j >= 0 ? a->chunk[j] : 1;
}

static int broadcast(const char *what, cask_array *a, cask_array *b, int *ndim,
                     int64_t *shape, int64_t *chunk) {
  *ndim = a->ndim > b->ndim ? a->ndim : b->ndim;
  for (int i = 0; i < *ndim; i++) {
    int64_t ea, ca, eb, cb;
    axis_of(a, *ndim, i, &ea, &ca);
    axis_of(b, *ndim, i, &eb, &cb);
    char sa[256], sb[256];
    if (ea != eb && ea != 1 && eb != 1) {
      cask__shape_str(sa, sizeof sa, a->ndim, a->shape);
      cask__shape_str(sb, sizeof sb, b->ndim, b->shape);
      return cask__fail(a->ctx, CASK_EINVAL, "%s: shapes %s and %s cannot be broadcast (axis %d: %lld vs %lld)",
                        what, sa, sb, i, (long long)ea, (long long)eb);
    }
    if (ea == eb && ea > 1 && ca != cb) {
      cask__shape_str(sa, sizeof sa, a->ndim, a->chunk);
      cask__shape_str(sb, sizeof sb, b->ndim, b->chunk);
      return cask__fail(a->ctx, CASK_EINVAL,
                        "%s: chunks %s and %s differ on axis %d (%lld vs %lld); give both the same chunks",
                        what, sa, sb, i, (long long)ca, (long long)cb);
    }
    shape[i] = ea == 1 ? eb : ea;
    chunk[i] = ea == 1 ? cb : ca;
  }
  return CASK_OK;
}

int cask_binary(cask_binop op, cask_array *a, cask_array *b, cask_array **out) {
  if (!out) return CASK_EINVAL;
  *out = NULL;
  if (!a || !b || (unsigned)op >= CASK_BINOP_COUNT) return CASK_EINVAL;
  if (a->ctx != b->ctx)
    return cask__fail(a->ctx, CASK_EINVAL, "%s: the arrays belong to different contexts", binop_names[op]);
  int ndim;
  int64_t shape[CASK_MAX_NDIM], chunk[CASK_MAX_NDIM];
  int rc = broadcast(binop_names[op], a, b, &ndim, shape, chunk);
  if (rc) return rc;
  if ((rc = cask__node_new(a->ctx, NODE_BINARY, op, ndim, shape, chunk, a, b, out))) return rc;
  cask__node_seal(*out, NULL, 0);
  return CASK_OK;
}

int cask_binary_scalar(cask_binop op, cask_array *a, double s, int scalar_first,
                       cask_array **out) {
  if (!out) return CASK_EINVAL;
  *out = NULL;
  if (!a || (unsigned)op >= CASK_BINOP_COUNT) return CASK_EINVAL;
  int rc = cask__node_new(a->ctx, NODE_SCALAR_BINARY, op, a->ndim, a->shape, a->chunk, a, NULL, out);
  if (rc) return rc;
  (*out)->p.value = s;
  (*out)->scalar_first = !!scalar_first;
  double params[2] = {s, (double)!!scalar_first};
  cask__node_seal(*out, params, sizeof params);
  return CASK_OK;
}

int cask_unary(cask_unop op, cask_array *a, cask_array **out) {
  if (!out) return CASK_EINVAL;
  *out = NULL;
  if (!a || (unsigned)op >= CASK_UNOP_COUNT) return CASK_EINVAL;
  int rc = cask__node_new(a->ctx, NODE_UNARY, op, a->ndim, a->shape, a->chunk, a, NULL, out);
  if (rc) return rc;
  cask__node_seal(*out, NULL, 0);
  return CASK_OK;
}

const char *cask__unop_name(int op) { return (unsigned)op < CASK_UNOP_COUNT ? unop_names[op] : "?"; }
const char *cask__binop_name(int op) { return (unsigned)op < CASK_BINOP_COUNT ? binop_names[op] : "?"; }
