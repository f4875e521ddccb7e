/* elementwise.c - building elementwise nodes: NumPy broadcasting of shapes,
 * the chunk grid of the result, and NumPy's result dtypes. Nothing is
 * computed here; kernel.c fuses a tree of these nodes into one program per
 * block. Operands whose chunks differ on a shared axis are rechunked to the
 * larger operand's chunks (dask.array's unify_chunks picks a common grid
 * the same way). */
#include <math.h>
#include <stdio.h>

#include "ops.h"
#include "../core/dtype.h"

static const char *const binop_names[CASK_BINOP_COUNT] = {
    "add", "subtract", "multiply", "divide", "power", "maximum", "minimum", "arctan2",
    "floor_divide", "mod", "equal", "not_equal", "less", "less_equal", "greater",
    "greater_equal", "logical_and", "logical_or"};

const char *cask__binop_name(int op) { return (unsigned)op < CASK_BINOP_COUNT ? binop_names[op] : "?"; }

/* Right-aligned extent and chunk of axis i of an ndim-d result. */
static void axis_of(const cask_array *a, int ndim, int i, int64_t *ext, int64_t *chunk) {
  int j = i - (ndim - a->ndim);
  *ext = j >= 0 ? a->shape[j] : 1;
  *chunk = j >= 0 ? a->chunk[j] : 1;
}

/* The broadcast shape of n operands, and the chunks of the result: on each
 * axis the chunk of the largest operand spanning it (the first on a tie). */
static int broadcast(const char *what, int n, cask_array *const *x, int *ndim, int64_t *shape,
                     int64_t *chunk) {
  *ndim = 0;
  for (int k = 0; k < n; k++)
    if (x[k]->ndim > *ndim) *ndim = x[k]->ndim;
  int lead = 0;
  for (int k = 1; k < n; k++)
    if (cask_array_size(x[k]) > cask_array_size(x[lead])) lead = k;
  for (int i = 0; i < *ndim; i++) {
    shape[i] = 1;
    chunk[i] = 1;
    for (int k = 0; k < n; k++) {
      int64_t e, c;
      axis_of(x[k], *ndim, i, &e, &c);
      if (e != shape[i] && e != 1 && shape[i] != 1 && (e == CASK_UNKNOWN || shape[i] == CASK_UNKNOWN))
        return cask__fail(x[0]->ctx, CASK_EINVAL,
                          "%s: axis %d has blocks of unknown length (they depend on data, as after x[mask]) in one "
                          "operand and %lld elements in another: compute the sizes first (cask_compute_chunk_sizes, "
                          "compute_chunk_sizes(x) in an expression)",
                          what, i, (long long)(e == CASK_UNKNOWN ? shape[i] : e));
      if (e != shape[i] && e != 1 && shape[i] != 1) {
        char buf[CASK_MAX_NDIM * 3 * 22 + 64] = "";
        size_t off = 0;
        for (int m = 0; m < n && off < sizeof buf; m++) {
          char s[CASK_MAX_NDIM * 22 + 4];
          cask__shape_str(s, sizeof s, x[m]->ndim, x[m]->shape);
          off += (size_t)snprintf(buf + off, sizeof buf - off, "%s%s", m ? " and " : "", s);
        }
        return cask__fail(x[0]->ctx, CASK_EINVAL, "%s: shapes %s cannot be broadcast (axis %d: %lld vs %lld)",
                          what, buf, i, (long long)shape[i], (long long)e);
      }
      if (e != 1) shape[i] = e;
    }
    int64_t e, c;
    axis_of(x[lead], *ndim, i, &e, &c);
    if (e == shape[i]) chunk[i] = c;
    else
      for (int k = 0; k < n; k++) { /* the lead broadcasts here: first spanning operand */
        axis_of(x[k], *ndim, i, &e, &c);
        if (e == shape[i]) {
          chunk[i] = c;
          break;
        }
      }
  }
  return CASK_OK;
}

/* x[k] itself, or x[k] rechunked to the result's chunks where it spans an
 * axis with other chunks. The caller releases *out. */
static int align(cask_array *x, int ndim, const int64_t *chunk, cask_array **out) {
  int64_t want[CASK_MAX_NDIM];
  int differs = 0;
  for (int j = 0; j < x->ndim; j++) {
    int i = j + ndim - x->ndim;
    want[j] = x->shape[j] == 1 ? 1 : chunk[i];
    int64_t have = x->chunk[j] < x->shape[j] ? x->chunk[j] : x->shape[j];
    int64_t need = want[j] < x->shape[j] ? want[j] : x->shape[j];
    if (x->shape[j] > 1 && have != need) differs = 1;
  }
  if (!differs) {
    *out = cask_array_retain(x);
    return CASK_OK;
  }
  return cask_rechunk(x, want, out);
}

/* A node of kind over n operands, aligned and broadcast. */
static int make_node(const char *what, cask__kind kind, int op, cask_dtype dtype, int n,
                     cask_array *const *x, cask_array **out) {
  for (int k = 0; k < n; k++)
    if (!x[k]) return CASK_EINVAL;
  for (int k = 1; k < n; k++)
    if (x[k]->ctx != x[0]->ctx)
      return cask__fail(x[0]->ctx, CASK_EINVAL, "%s: the arrays belong to different contexts", what);
  int ndim;
  int64_t shape[CASK_MAX_NDIM], chunk[CASK_MAX_NDIM];
  int rc = broadcast(what, n, x, &ndim, shape, chunk);
  if (rc) return rc;
  cask_array *al[3] = {NULL, NULL, NULL};
  for (int k = 0; k < n && !rc; k++) rc = align(x[k], ndim, chunk, &al[k]);
  if (!rc)
    rc = cask__node_new_n(x[0]->ctx, kind, &cask__elementwise_class, op, dtype, ndim, shape, chunk, n, al, out);
  for (int k = 0; k < n; k++) cask_array_release(al[k]);
  if (!rc) cask__node_seal(*out, NULL, 0);
  return rc;
}

static int is_float(cask_dtype d) { return cask__dtype_is_float(d); }
/* An int64 value (the range test first: converting beyond it is undefined). */
static int integral(double s) { return s >= -0x1p63 && s < 0x1p63 && s == (double)(int64_t)s; }
static int is_compare(int op) { return op >= CASK_EQUAL && op <= CASK_LOGICAL_OR; }

/* NumPy's result dtype of a binary op on operands promoted to t. */
static int binop_dtype(cask_ctx *ctx, int op, cask_dtype t, cask_dtype *out) {
  if (is_compare(op)) {
    *out = CASK_BOOL;
    return CASK_OK;
  }
  if (op == CASK_DIV || op == CASK_ARCTAN2) {
    *out = is_float(t) ? t : CASK_F64;
    return CASK_OK;
  }
  if (t == CASK_BOOL) {
    /* NumPy: + and maximum are "or", * and minimum "and" on bools. */
    if (op == CASK_ADD || op == CASK_MUL || op == CASK_MAXIMUM || op == CASK_MINIMUM) {
      *out = CASK_BOOL;
      return CASK_OK;
    }
    return cask__fail(ctx, CASK_EINVAL, "%s: not defined for two bool operands; use astype first",
                      binop_names[op]);
  }
  *out = t;
  return CASK_OK;
}

int cask_binary(cask_binop op, cask_array *a, cask_array *b, cask_array **out) {
  if (!out) return CASK_EINVAL;
  *out = NULL;
  if (!a || !b || (unsigned)op >= CASK_BINOP_COUNT) return CASK_EINVAL;
  cask_dtype t;
  int rc = binop_dtype(a->ctx, op, cask_promote(a->dtype, b->dtype), &t);
  if (rc) return rc;
  return make_node(binop_names[op], CASK__NODE_BINARY, op, t, 2, (cask_array *[]){a, b}, out);
}

/* The range of an integer dtype; int64 (and bool, whose scalar makes
 * int64) holds every int64. */
static int int_fits(cask_dtype dt, int64_t v) {
  switch (dt) {
  case CASK_I32: return v >= INT32_MIN && v <= INT32_MAX;
  case CASK_U8: return v >= 0 && v <= 255;
  default: return 1;
  }
}

/* a op s (or s op a): s as a double f and, for an integer scalar, exactly
 * as i (a double holds integers exactly only up to 2^53). */
static int scalar_node(cask_binop op, cask_array *a, double f, int64_t i, int flags, cask_array **out) {
  int is_bool = !!(flags & CASK_SCALAR_BOOL), is_int = is_bool ? 2 : !!(flags & CASK_SCALAR_INT);
  if (is_bool && f != 0 && f != 1)
    return cask__fail(a->ctx, CASK_EINVAL, "%s: scalar %g is flagged a bool but is not 0 or 1",
                      binop_names[op], f);
  /* NEP 50: the scalar is weak: a bool scalar takes the array's dtype; an
   * int scalar takes an integer array's
   * dtype (a bool array's becomes int64), a float scalar a float array's;
   * a float scalar with an integer array gives float64. An int scalar the
   * array's dtype cannot hold is an error (NumPy 2's OverflowError), not a
   * silent wrap; comparisons are exact, as NumPy 2's. */
  if (is_int == 1 && !is_float(a->dtype) && !int_fits(a->dtype, i) && !(op >= CASK_EQUAL && op <= CASK_GREATER_EQUAL))
    return cask__fail(a->ctx, CASK_EINVAL,
                      "%s: the integer %lld does not fit the array's dtype %s (NEP 50: a Python integer "
                      "takes the array's dtype); convert the array first, e.g. astype(x, 'int64')",
                      binop_names[op], (long long)i, cask_dtype_name(a->dtype));
  cask_dtype st = is_bool  ? a->dtype
                  : is_int ? (a->dtype == CASK_BOOL ? CASK_I64 : a->dtype)
                           : (is_float(a->dtype) ? a->dtype : CASK_F64);
  cask_dtype t;
  int rc = binop_dtype(a->ctx, op, cask_promote(a->dtype, st), &t);
  if (rc) return rc;
  if ((rc = cask__node_new(a->ctx, CASK__NODE_SCALAR_BINARY, &cask__elementwise_class, op, t, a->ndim,
                           a->shape, a->chunk, a, NULL, out)))
    return rc;
  (*out)->p.scalar.value = f;
  (*out)->p.scalar.ivalue = is_int == 1 ? i : 0;
  (*out)->scalar_first = !!(flags & CASK_SCALAR_FIRST);
  (*out)->scalar_int = is_int;
  struct {
    double f;
    int64_t i, first, is_int;
  } params = {f, (*out)->p.scalar.ivalue, (*out)->scalar_first, is_int};
  cask__node_seal(*out, &params, sizeof params);
  return CASK_OK;
}

static int scalar_args_ok(cask_binop op, const cask_array *a, int flags, cask_array **out) {
  if (!out) return 0;
  *out = NULL;
  return a && (unsigned)op < CASK_BINOP_COUNT &&
         !(flags & ~(CASK_SCALAR_FIRST | CASK_SCALAR_INT | CASK_SCALAR_BOOL));
}

int cask_binary_scalar(cask_binop op, cask_array *a, double s, int flags, cask_array **out) {
  if (!scalar_args_ok(op, a, flags, out)) return CASK_EINVAL;
  int64_t i = 0;
  if ((flags & CASK_SCALAR_INT) && !(flags & CASK_SCALAR_BOOL)) {
    if (!integral(s) || !(fabs(s) < 9223372036854775808.0))
      return cask__fail(a->ctx, CASK_EINVAL, "%s: scalar %g is flagged an integer but is not one of int64",
                        binop_names[op], s);
    i = (int64_t)s;
  }
  return scalar_node(op, a, s, i, flags, out);
}

int cask_binary_scalar_int(cask_binop op, cask_array *a, int64_t s, int flags, cask_array **out) {
  if (!scalar_args_ok(op, a, flags, out) || (flags & CASK_SCALAR_BOOL)) return CASK_EINVAL;
  return scalar_node(op, a, (double)s, s, flags | CASK_SCALAR_INT, out);
}

int cask_unary(cask_unop op, cask_array *a, cask_array **out) {
  if (!out) return CASK_EINVAL;
  *out = NULL;
  if (!a || (unsigned)op >= CASK_UNOP_COUNT) return CASK_EINVAL;
  cask_dtype t = a->dtype;
  switch (op) {
  case CASK_ISNAN:
  case CASK_ISFINITE:
  case CASK_LOGICAL_NOT: t = CASK_BOOL; break;
  case CASK_NEGATIVE:
    if (t == CASK_BOOL)
      return cask__fail(a->ctx, CASK_EINVAL, "negative: not defined for bool; use logical_not");
    break;
  case CASK_ABS:
  case CASK_ROUND: /* integers stay integers; bool rounds to a float (NumPy:
                      float16, which cask lacks: float64) */
    if (op == CASK_ROUND && t == CASK_BOOL) t = CASK_F64;
    break;
  default:
    if (!is_float(t)) t = CASK_F64; /* NumPy's float functions of integers */
  }
  int rc = cask__node_new(a->ctx, CASK__NODE_UNARY, &cask__elementwise_class, op, t, a->ndim, a->shape,
                          a->chunk, a, NULL, out);
  if (rc) return rc;
  cask__node_seal(*out, NULL, 0);
  return CASK_OK;
}

int cask_where(cask_array *cond, cask_array *a, cask_array *b, cask_array **out) {
  if (!out) return CASK_EINVAL;
  *out = NULL;
  if (!cond || !a || !b) return CASK_EINVAL;
  return make_node("where", CASK__NODE_WHERE, 0, cask_promote(a->dtype, b->dtype), 3,
                   (cask_array *[]){cond, a, b}, out);
}

int cask_clip(cask_array *a, double lo, double hi, cask_array **out) {
  if (!out) return CASK_EINVAL;
  *out = NULL;
  if (!a) return CASK_EINVAL;
  if (lo != lo || hi != hi) return cask__fail(a->ctx, CASK_EINVAL, "clip: a bound is NaN");
  cask_array *t;
  int fl = is_float(a->dtype) || !integral(lo) || !integral(hi) ? 0 : CASK_SCALAR_INT;
  if (fl && (a->dtype == CASK_U8 || a->dtype == CASK_I32)) {
    /* bounds past the dtype's range clip nothing there: clamp them into it
     * (as scalars they would not fit the dtype, NEP 50) */
    double min = a->dtype == CASK_U8 ? 0 : INT32_MIN, max = a->dtype == CASK_U8 ? 255 : INT32_MAX;
    lo = lo < min ? min : lo > max ? max : lo;
    hi = hi < min ? min : hi > max ? max : hi;
  }
  int rc = cask_binary_scalar(CASK_MAXIMUM, a, lo, fl, &t);
  if (rc) return rc;
  rc = cask_binary_scalar(CASK_MINIMUM, t, hi, fl, out);
  cask_array_release(t);
  return rc;
}

int cask_astype(cask_array *a, cask_dtype dtype, cask_array **out) {
  if (!out) return CASK_EINVAL;
  *out = NULL;
  if (!a) return CASK_EINVAL;
  if ((unsigned)dtype >= CASK_DTYPE_COUNT)
    return cask__fail(a->ctx, CASK_EINVAL, "astype: dtype %d is not a cask_dtype", (int)dtype);
  if (dtype == a->dtype) {
    *out = cask_array_retain(a);
    return CASK_OK;
  }
  int rc = cask__node_new(a->ctx, CASK__NODE_CAST, &cask__elementwise_class, 0, dtype, a->ndim, a->shape,
                          a->chunk, a, NULL, out);
  if (rc) return rc;
  cask__node_seal(*out, NULL, 0);
  return CASK_OK;
}

int cask__elementwise_like(const cask_array *a, cask_array *const *x, cask_array **out) {
  int flags = (a->scalar_first ? CASK_SCALAR_FIRST : 0) |
              (a->scalar_int == 2 ? CASK_SCALAR_BOOL : a->scalar_int ? CASK_SCALAR_INT : 0);
  switch (a->kind) {
  case CASK__NODE_UNARY: return cask_unary(a->op, x[0], out);
  case CASK__NODE_BINARY: return cask_binary(a->op, x[0], x[1], out);
  case CASK__NODE_SCALAR_BINARY:
    return a->scalar_int == 1 ? cask_binary_scalar_int(a->op, x[0], a->p.scalar.ivalue, flags, out)
                              : cask_binary_scalar(a->op, x[0], a->p.scalar.value, flags, out);
  case CASK__NODE_WHERE: return cask_where(x[0], x[1], x[2], out);
  case CASK__NODE_CAST: return cask_astype(x[0], a->dtype, out);
  default: return cask__fail(a->ctx, CASK_EINVAL, "not an elementwise node");
  }
}
