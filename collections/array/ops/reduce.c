/* reduce.c - reductions: the node, its class, and three block ops.
 *   array.partial   one input block -> a state per output element, fused
 *                   with the elementwise program that makes the input, so
 *                   sum(a*b) never materializes a*b;
 *   array.combine   states -> one, in a fixed order (a left fold: the running
 *                   state and the next partial);
 *   array.finalize  state -> value (mean = sum / n, std = sqrt(M2 / (n-ddof))).
 * A state is a few 8-byte words, doubles or int64s: integer sums,
 * products, minima and maxima are exact in int64 (NumPy's); means and
 * variances of integers are computed in doubles. Sums are pairwise within
 * a piece and cascaded across pieces; var combines (n, mean, M2) with
 * Chan's formula; argmin/argmax carry (value, index) and break ties by the
 * smaller index, so the combine order never changes which one wins. Every
 * order is fixed by the graph: results are bit-identical for any thread
 * count. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "../../../core/clones.h"
#include "../core/dtype.h"
#include "fused.h"
#include "ops.h"

/* Beyond the public cask_reduction: nanargmin and nanargmax (cask_nanargmin,
 * cask_nanargmax build them; cask_reduce does not take them). */
enum { NANARGMIN = CASK_REDUCTION_COUNT, NANARGMAX, RED_COUNT };
static const char *const red_names[RED_COUNT] = {
    "sum", "mean", "min", "max", "var", "std", "prod", "any", "all", "argmin", "argmax",
    "nansum", "nanmean", "nanmin", "nanmax", "nanargmin", "nanargmax"};
/* min and max carry (value, seen): an empty reduction (of a selection that
 * kept nothing) has no value and fails at run time, as NumPy's raises. */
static const int state_width[RED_COUNT] = {1, 2, 2, 2, 3, 3, 1, 1, 1, 2, 2, 1, 2, 2, 2, 2, 2};

typedef union word {
  double f;
  int64_t i;
} word;

static int is_nanarg(int op) { return op == NANARGMIN || op == NANARGMAX; }
static int is_arg(int op) { return op == CASK_ARGMIN || op == CASK_ARGMAX || is_nanarg(op); }
/* Ops whose integer input is turned into doubles first (NumPy's mean and
 * var of integers are float64 computations). */
static int wants_float(int op) {
  return op == CASK_MEAN || op == CASK_VAR || op == CASK_STD || op == CASK_NANMEAN;
}

/* The result dtype of op over dtype t (NumPy's). */
static cask_dtype result_dtype(int op, cask_dtype t) {
  int fl = cask__dtype_is_float(t);
  switch (op) {
  case CASK_SUM:
  case CASK_PROD:
  case CASK_NANSUM: return fl ? t : CASK_I64;
  case CASK_MIN:
  case CASK_MAX:
  case CASK_NANMIN:
  case CASK_NANMAX: return t;
  case CASK_ANY:
  case CASK_ALL: return CASK_BOOL;
  case CASK_ARGMIN:
  case CASK_ARGMAX:
  case NANARGMIN:
  case NANARGMAX: return CASK_I64;
  default: return fl ? t : CASK_F64;
  }
}

static int reduce_node(int op, cask_array *a, const int *axes, int naxes, int ddof, cask_array **out);

int cask_reduce(cask_reduction op, cask_array *a, const int *axes, int naxes, int ddof,
                cask_array **out) {
  if (!out) return CASK_EINVAL;
  *out = NULL;
  if (!a) return CASK_EINVAL;
  if ((unsigned)op >= CASK_REDUCTION_COUNT)
    return cask__fail(a->ctx, CASK_EINVAL, "reduce: %d is not a cask_reduction", (int)op);
  return reduce_node(op, a, axes, naxes, ddof, out);
}

/* NumPy's nanargmin / nanargmax: argmin / argmax over the non-NaN values;
 * an all-NaN slice fails the computation (NumPy's ValueError). */
int cask_nanargmin(cask_array *a, const int *axes, int naxes, cask_array **out) {
  if (!out) return CASK_EINVAL;
  *out = NULL;
  return a ? reduce_node(NANARGMIN, a, axes, naxes, 0, out) : CASK_EINVAL;
}

int cask_nanargmax(cask_array *a, const int *axes, int naxes, cask_array **out) {
  if (!out) return CASK_EINVAL;
  *out = NULL;
  return a ? reduce_node(NANARGMAX, a, axes, naxes, 0, out) : CASK_EINVAL;
}

static int reduce_node(int op, cask_array *a, const int *axes, int naxes, int ddof, cask_array **out) {
  const char *what = red_names[op];
  if (naxes < 0 || (naxes && !axes))
    return cask__fail(a->ctx, CASK_EINVAL, "%s: %d axes given%s", what, naxes, naxes > 0 ? " but axes is NULL" : "");
  if (ddof < 0) return cask__fail(a->ctx, CASK_EINVAL, "%s: ddof %d is negative", what, ddof);
  uint32_t mask = 0;
  if (naxes == 0) mask = a->ndim ? (uint32_t)((1ull << a->ndim) - 1) : 0;
  for (int k = 0; k < naxes; k++) {
    int ax = axes[k] < 0 ? axes[k] + a->ndim : axes[k];
    if (ax < 0 || ax >= a->ndim)
      return cask__fail(a->ctx, CASK_EINVAL, "%s: axis %d is out of range for an array of %d axes", what,
                        axes[k], a->ndim);
    if (mask & (1u << ax)) return cask__fail(a->ctx, CASK_EINVAL, "%s: axis %d is given twice", what, axes[k]);
    mask |= 1u << ax;
  }
  if (a->unknown && mask == 1u && ddof == 0) { /* sum(x[m]): a masked reduction of x */
    int rc = cask__masked_reduce(op, a, out);
    if (rc) return rc < 0 ? rc : CASK_OK;
  }
  int64_t shape[CASK_MAX_NDIM], chunk[CASK_MAX_NDIM];
  int nd = 0, no_identity = op == CASK_MIN || op == CASK_MAX || op == CASK_NANMIN || op == CASK_NANMAX || is_arg(op);
  for (int i = 0; i < a->ndim; i++) {
    if (mask & (1u << i)) {
      if (a->shape[i] == 0 && no_identity)
        return cask__fail(a->ctx, CASK_EINVAL, "%s: axis %d is empty and %s has no identity", what, i, what);
      continue;
    }
    shape[nd] = a->shape[i];
    chunk[nd++] = a->chunk[i];
  }
  if (is_arg(op) && (a->unknown & mask))
    return cask__need_sizes(a, what); /* the index needs the blocks' offsets */
  /* The nan- variants of integer data are the plain ones (no NaN there). */
  int iop = op;
  static const int plain[] = {CASK_SUM, CASK_MEAN, CASK_MIN, CASK_MAX, CASK_ARGMIN, CASK_ARGMAX};
  if (!cask__dtype_is_float(a->dtype) && op >= CASK_NANSUM) iop = plain[op - CASK_NANSUM];
  int rc = cask__node_new(a->ctx, CASK__NODE_REDUCE, &cask__reduce_class, iop, result_dtype(op, a->dtype), nd,
                          shape, chunk, a, NULL, out);
  if (rc) return rc;
  for (int i = 0, k = 0; i < a->ndim; i++)
    if (!(mask & (1u << i))) {
      if (a->unknown & (1u << i)) cask__set_unknown(*out, k, a->ublocks[i], a->ukey[i]);
      k++;
    }
  (*out)->p.reduce.axes = mask;
  (*out)->p.reduce.ddof = ddof;
  cask__node_seal(*out, &(*out)->p.reduce, sizeof (*out)->p.reduce);
  return CASK_OK;
}

/* ---- states ----------------------------------------------------------- */

/* Pairwise sum of up to a few thousand values (NumPy's scheme: eight
 * partial sums below 128 values, halves above). nan: NaNs count as 0. */
static double pairwise(const double *x, int64_t n, int64_t stride) {
  if (n < 8) {
    double s = 0;
    for (int64_t i = 0; i < n; i++) s += x[i * stride];
    return s;
  }
  if (n <= 128) {
    double r[8];
    for (int k = 0; k < 8; k++) r[k] = x[k * stride];
    int64_t i = 8;
    for (; i + 8 <= n; i += 8)
      for (int k = 0; k < 8; k++) r[k] += x[(i + k) * stride];
    double s = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
    for (; i < n; i++) s += x[i * stride];
    return s;
  }
  int64_t h = (n / 2) & ~(int64_t)7;
  return pairwise(x, h, stride) + pairwise(x + h * stride, n - h, stride);
}

/* pairwise() of the products a[i] * b[i], in exactly its order: the same
 * bits as multiplying into a register piece and summing that (no fused
 * multiply-add: contraction is off), without writing the piece. */
__attribute__((optimize("fp-contract=off"))) static double pairwise_dot(const double *a, const double *b, int64_t n) {
  if (n < 8) {
    double s = 0;
    for (int64_t i = 0; i < n; i++) s += a[i] * b[i];
    return s;
  }
  if (n <= 128) {
    double r[8];
    for (int k = 0; k < 8; k++) r[k] = a[k] * b[k];
    int64_t i = 8;
    for (; i + 8 <= n; i += 8)
      for (int k = 0; k < 8; k++) r[k] += a[i + k] * b[i + k];
    double s = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
    for (; i < n; i++) s += a[i] * b[i];
    return s;
  }
  int64_t h = (n / 2) & ~(int64_t)7;
  return pairwise_dot(a, b, h) + pairwise_dot(a + h, b + h, n - h);
}

/* Sum of (x - m)^2 in eight independent accumulators: one accumulator is a
 * chain of dependent adds, which the add's latency, not memory, bounds. */
static double sum_sq_dev(const double *x, int64_t n, int64_t stride, double m) {
  double acc[8] = {0};
  int64_t i = 0;
  if (stride == 1)
    for (; i + 8 <= n; i += 8)
      for (int k = 0; k < 8; k++) acc[k] += (x[i + k] - m) * (x[i + k] - m);
  double tail = 0;
  for (; i < n; i++) tail += (x[i * stride] - m) * (x[i * stride] - m);
  return ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7])) + tail;
}

/* Sums of (x - shift) and (x - shift)^2 in eight lanes each, written with
 * gcc's vector types (the auto-vectorizer shuffled the eight scalar
 * accumulators) and compiled per ISA. */
typedef double v4d __attribute__((vector_size(32)));

CASK_CLONES static void shifted_sums(const double *x, int64_t n, double shift, double *s1, double *s2) {
  v4d a0 = {0}, a1 = {0}, b0 = {0}, b1 = {0}, sh = {shift, shift, shift, shift};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    v4d d0, d1;
    memcpy(&d0, x + i, sizeof d0);
    memcpy(&d1, x + i + 4, sizeof d1);
    d0 -= sh;
    d1 -= sh;
    a0 += d0;
    a1 += d1;
    b0 += d0 * d0;
    b1 += d1 * d1;
  }
  double ta = 0, tb = 0;
  for (; i < n; i++) {
    double d = x[i] - shift;
    ta += d;
    tb += d * d;
  }
  v4d a = a0 + a1, b = b0 + b1;
  *s1 = ((a[0] + a[1]) + (a[2] + a[3])) + ta;
  *s2 = ((b[0] + b[1]) + (b[2] + b[3])) + tb;
}

/* Chan et al.: merge (nb, mb, m2b) into the state (n, mean, M2). */
static void chan(word *st, double nb, double mb, double m2b) {
  double na = st[0].f, nn = na + nb;
  if (nb == 0) return;
  double d = mb - st[1].f;
  st[2].f += m2b + d * d * na * nb / nn;
  st[1].f += d * nb / nn;
  st[0].f = nn;
}

/* (value, index) candidates: the smaller (larger) value wins, a NaN wins
 * over any number (NumPy's argmin/argmax), ties go to the smaller index. */
static int arg_better(int op, double v, int64_t i, double bv, int64_t bi) {
  if (bi < 0) return 1;
  if (bv != bv) return v != v && i < bi;
  if (v != v) return 1;
  if (v == bv) return i < bi;
  return op == CASK_ARGMIN ? v < bv : v > bv;
}
static int arg_better_i(int op, int64_t v, int64_t i, int64_t bv, int64_t bi) {
  if (bi < 0 || (v == bv && i < bi)) return 1;
  return op == CASK_ARGMIN ? v < bv : v > bv;
}

/* Fold n doubles (stride 0 or 1) into one state; element k has reduced
 * index idx + k * istep (argmin/argmax only). */
static void fold_f(int op, word *st, const double *x, int64_t n, int64_t stride, int64_t idx,
                   int64_t istep) {
  switch (op) {
  case CASK_SUM: st[0].f += pairwise(x, n, stride); break;
  case CASK_MEAN:
    st[0].f += pairwise(x, n, stride);
    st[1].f += (double)n;
    break;
  case CASK_MIN:
    for (int64_t i = 0; i < n; i++) {
      double v = x[i * stride];
      if (v < st[0].f || v != v) st[0].f = st[0].f != st[0].f ? st[0].f : v;
    }
    st[1].i |= n > 0;
    break;
  case CASK_MAX:
    for (int64_t i = 0; i < n; i++) {
      double v = x[i * stride];
      if (v > st[0].f || v != v) st[0].f = st[0].f != st[0].f ? st[0].f : v;
    }
    st[1].i |= n > 0;
    break;
  case CASK_PROD:
    for (int64_t i = 0; i < n; i++) st[0].f *= x[i * stride];
    break;
  case CASK_ANY:
    for (int64_t i = 0; i < n && !st[0].i; i++) st[0].i = x[i * stride] != 0;
    break;
  case CASK_ALL:
    for (int64_t i = 0; i < n && st[0].i; i++) st[0].i = x[i * stride] != 0;
    break;
  case CASK_ARGMIN:
  case CASK_ARGMAX:
    for (int64_t i = 0; i < n; i++)
      if (arg_better(op, x[i * stride], idx + i * istep, st[0].f, st[1].i)) {
        st[0].f = x[i * stride];
        st[1].i = idx + i * istep;
      }
    break;
  case CASK_NANSUM:
  case CASK_NANMEAN:
    for (int64_t i = 0; i < n; i++) {
      double v = x[i * stride];
      if (v == v) {
        st[0].f += v;
        if (op == CASK_NANMEAN) st[1].f += 1;
      }
    }
    break;
  case NANARGMIN:
  case NANARGMAX: /* NaNs skipped; ties go to the smaller index */
    for (int64_t i = 0; i < n; i++) {
      double v = x[i * stride];
      int64_t j = idx + i * istep;
      if (v != v) continue;
      if (st[1].i < 0 || (v == st[0].f ? j < st[1].i : op == NANARGMIN ? v < st[0].f : v > st[0].f)) {
        st[0].f = v;
        st[1].i = j;
      }
    }
    break;
  case CASK_NANMIN:
  case CASK_NANMAX:
    for (int64_t i = 0; i < n; i++) {
      double v = x[i * stride];
      if (v != v) continue;
      if (!st[1].i || (op == CASK_NANMIN ? v < st[0].f : v > st[0].f)) st[0].f = v;
      st[1].i = 1;
    }
    break;
  default: { /* var, std: the piece's own (n, mean, M2), then Chan */
    if (stride == 1 && n >= 64) {
      /* One pass over the piece, shifted by a value near the mean (the
       * running mean, or the piece's first element): M2 = S2 - S1^2 / n of
       * the shifted values loses nothing to cancellation while the shift
       * is within a few deviations of the mean. */
      double shift = st[0].f > 0 ? st[1].f : x[0], s1, s2;
      shifted_sums(x, n, shift, &s1, &s2);
      double md = s1 / (double)n;
      chan(st, (double)n, shift + md, s2 - s1 * md);
      break;
    }
    double m = pairwise(x, n, stride) / (double)n;
    chan(st, (double)n, m, sum_sq_dev(x, n, stride, m));
  }
  }
}

/* The same over int64 values (sum, prod, min, max, any, all, argmin,
 * argmax: the ops integers keep exact). Sums and products wrap. */
static void fold_i(int op, word *st, const int64_t *x, int64_t n, int64_t stride, int64_t idx,
                   int64_t istep) {
  switch (op) {
  case CASK_SUM: {
    uint64_t s = (uint64_t)st[0].i;
    for (int64_t i = 0; i < n; i++) s += (uint64_t)x[i * stride];
    st[0].i = (int64_t)s;
    break;
  }
  case CASK_PROD: {
    uint64_t s = (uint64_t)st[0].i;
    for (int64_t i = 0; i < n; i++) s *= (uint64_t)x[i * stride];
    st[0].i = (int64_t)s;
    break;
  }
  case CASK_MIN:
    for (int64_t i = 0; i < n; i++) st[0].i = x[i * stride] < st[0].i ? x[i * stride] : st[0].i;
    st[1].i |= n > 0;
    break;
  case CASK_MAX:
    for (int64_t i = 0; i < n; i++) st[0].i = x[i * stride] > st[0].i ? x[i * stride] : st[0].i;
    st[1].i |= n > 0;
    break;
  case CASK_ANY:
    for (int64_t i = 0; i < n && !st[0].i; i++) st[0].i = x[i * stride] != 0;
    break;
  case CASK_ALL:
    for (int64_t i = 0; i < n && st[0].i; i++) st[0].i = x[i * stride] != 0;
    break;
  default: /* argmin, argmax */
    for (int64_t i = 0; i < n; i++)
      if (arg_better_i(op, x[i * stride], idx + i * istep, st[0].i, st[1].i)) {
        st[0].i = x[i * stride];
        st[1].i = idx + i * istep;
      }
  }
}

/* Only the op's own state_width words: the next state follows. */
static void init_state(int op, int isint, word *st) {
  for (int i = 0; i < state_width[op]; i++) st[i].i = 0;
  switch (op) {
  case CASK_MIN:
    if (isint) st[0].i = INT64_MAX;
    else st[0].f = INFINITY;
    break;
  case CASK_MAX:
    if (isint) st[0].i = INT64_MIN;
    else st[0].f = -INFINITY;
    break;
  case CASK_PROD:
    if (isint) st[0].i = 1;
    else st[0].f = 1;
    break;
  case CASK_ALL: st[0].i = 1; break;
  case CASK_ARGMIN:
  case CASK_ARGMAX:
  case NANARGMIN:
  case NANARGMAX: st[1].i = -1; break; /* no candidate yet */
  case CASK_SUM:
  case CASK_NANSUM:
  case CASK_MEAN:
  case CASK_NANMEAN:
  case CASK_VAR:
  case CASK_STD: if (!isint) for (int i = 0; i < state_width[op]; i++) st[i].f = 0; break;
  default: break;
  }
}

/* Merge state b into a (a comes first in the fixed order). */
static void merge(int op, int isint, word *a, const word *b) {
  if ((op == CASK_MIN || op == CASK_MAX) && !b[1].i) return; /* b saw nothing */
  if (isint) { /* sum, prod, min, max, any, all, argmin, argmax */
    if (!is_arg(op) || b[1].i >= 0) fold_i(op, a, &b[0].i, 1, 1, b[1 % state_width[op]].i, 0);
    return;
  }
  switch (op) {
  case CASK_SUM:
  case CASK_NANSUM: a[0].f += b[0].f; break;
  case CASK_MEAN:
  case CASK_NANMEAN:
    a[0].f += b[0].f;
    a[1].f += b[1].f;
    break;
  case CASK_MIN:
    a[0].f = (a[0].f != a[0].f || a[0].f <= b[0].f) ? a[0].f : b[0].f;
    a[1].i = 1;
    break;
  case CASK_MAX:
    a[0].f = (a[0].f != a[0].f || a[0].f >= b[0].f) ? a[0].f : b[0].f;
    a[1].i = 1;
    break;
  case CASK_PROD: a[0].f *= b[0].f; break;
  case CASK_ANY: a[0].i = a[0].i || b[0].i; break;
  case CASK_ALL: a[0].i = a[0].i && b[0].i; break;
  case CASK_ARGMIN:
  case CASK_ARGMAX:
  case NANARGMIN:
  case NANARGMAX:
    if (b[1].i >= 0) fold_f(op, a, &b[0].f, 1, 1, b[1].i, 0);
    break;
  case CASK_NANMIN:
  case CASK_NANMAX:
    if (b[1].i) fold_f(op, a, &b[0].f, 1, 1, 0, 0);
    break;
  default: chan(a, b[0].f, b[1].f, b[2].f);
  }
}

/* ---- array.partial ------------------------------------------------------ */

typedef struct partial_args {
  int32_t op, ndim;
  uint32_t axes, pad;
  int64_t shape[CASK_MAX_NDIM];  /* the input block's shape */
  int64_t off[CASK_MAX_NDIM];    /* its offset in the input (argmin/argmax) */
  int64_t rstride[CASK_MAX_NDIM]; /* reduced-index stride per input axis, 0 if kept */
  cask__program prog;
} partial_args;

typedef struct partial_ctx {
  const partial_args *a;
  word *st;      /* [nout][width] */
  int width, isint, tofloat;
  int dot, l0, l1; /* a float64 sum of leaf l0 times leaf l1: pairwise_dot */
  int64_t ostride[CASK_MAX_NDIM]; /* output element stride per input axis; 0 if reduced */
  cask__regbuf *scratch;
  double conv[CASK__KERNEL_PIECE]; /* integers as doubles for mean/var */
  /* reduce-all: a binary-counter cascade of piece sums, so the rounding
   * error grows with log(pieces), not with their number */
  double cascade[64];
  uint64_t have;
} partial_ctx;

static void fold(partial_ctx *c, word *st, const void *x, int64_t n, int64_t idx, int64_t istep) {
  if (c->isint) fold_i(c->a->op, st, x, n, 1, idx, istep);
  else fold_f(c->a->op, st, x, n, 1, idx, istep);
}

/* sum(a * b) over float64 leaves (einsum 'ij,ij->i', sum(x * y)): the
 * program is two loads and a multiply. */
static int is_dot(const partial_args *a, int *l0, int *l1) {
  const cask__program *p = &a->prog;
  const cask__insn *in = p->insn;
  if (a->op != CASK_SUM || p->ninsn != 3 || p->dtype != CASK_F64 || in[0].code != CASK__K_LOAD ||
      in[1].code != CASK__K_LOAD || in[0].dt != CASK_F64 || in[1].dt != CASK_F64 || in[2].code != CASK__K_BINARY ||
      in[2].op != CASK_MUL || p->result != in[2].dst || in[2].a != in[0].dst || in[2].b != in[1].dst ||
      in[0].dst == in[1].dst)
    return 0;
  *l0 = in[0].a, *l1 = in[1].a;
  return 1;
}

static int partial_piece(void *user, const cask__piece *pc, int64_t off, const int64_t *row) {
  partial_ctx *c = user;
  const partial_args *a = c->a;
  int last = a->ndim - 1;
  if (c->dot && pc->src_stride[c->l0] == 1 && pc->src_stride[c->l1] == 1 && (!row || (a->axes & (1u << last)))) {
    /* one pass over both leaves, no register piece; the same bits */
    double v = pairwise_dot(pc->src[c->l0], pc->src[c->l1], pc->n);
    if (!row) {
      int i = 0;
      for (; c->have & (1ull << i); i++) {
        v = c->cascade[i] + v;
        c->have &= ~(1ull << i);
      }
      c->cascade[i] = v;
      c->have |= 1ull << i;
      return CASK_OK;
    }
    int64_t o = 0;
    for (int i = 0; i < last; i++) o += row[i] * c->ostride[i];
    c->st[o * c->width].f += v;
    return CASK_OK;
  }
  const void *x = cask__program_eval(&a->prog, pc, c->scratch, NULL);
  if (c->tofloat) {
    const int64_t *v = x;
    for (int64_t k = 0; k < pc->n; k++) c->conv[k] = (double)v[k];
    x = c->conv;
  }
  if (!row && a->op == CASK_SUM && !c->isint) { /* flat: everything reduced */
    double v = pairwise(x, pc->n, 1);
    int i = 0;
    for (; c->have & (1ull << i); i++) {
      v = c->cascade[i] + v;
      c->have &= ~(1ull << i);
    }
    c->cascade[i] = v;
    c->have |= 1ull << i;
    return CASK_OK;
  }
  int64_t o = 0, ridx = 0;
  if (row)
    for (int i = 0; i < last; i++) {
      o += row[i] * c->ostride[i];
      ridx += (a->off[i] + row[i]) * a->rstride[i];
    }
  if (!row || (a->axes & (1u << last))) {
    if (row) ridx += (a->off[last] + row[last]) * a->rstride[last];
    fold(c, c->st + o * c->width, x, pc->n, ridx, row ? a->rstride[last] : 0);
    return CASK_OK;
  }
  /* The last axis is kept: each element goes to its own state. */
  o += row[last] * c->ostride[last];
  size_t w = 8;
  for (int64_t k = 0; k < pc->n; k++) fold(c, c->st + (o + k) * c->width, (const char *)x + k * w, 1, ridx, 0);
  return CASK_OK;
}

static int partial_run(cask_task_io *io) {
  partial_args a;
  size_t head = offsetof(partial_args, prog);
  if (io->args_len < head || io->args_len > sizeof a) return CASK_EINVAL;
  memcpy(&a, io->args, io->args_len);
  if ((unsigned)a.op >= RED_COUNT || a.ndim < 0 || a.ndim > CASK_MAX_NDIM ||
      cask__program_check(&a.prog, io->args_len - head, (uint32_t)io->ninputs)) {
    cask__fmt(io->errmsg, io->errmsg_cap, "malformed reduction arguments");
    return CASK_EINVAL;
  }
  cask__leaf_view views[CASK__MAX_LEAVES];
  int rc = cask__resolve_extents(io, a.ndim, a.shape);
  if (!rc) rc = cask__leaf_views(io, &a.prog, a.ndim, a.shape, views);
  if (rc) return rc;
  int isint = cask__program_isint(&a.prog);
  partial_ctx c = {.a = &a, .width = state_width[a.op], .isint = isint && !wants_float(a.op),
                   .tofloat = isint && wants_float(a.op)};
  if (c.isint && (a.op >= CASK_NANSUM || wants_float(a.op))) return CASK_EINVAL;
  c.dot = !isint && is_dot(&a, &c.l0, &c.l1);
  int64_t nout = 1;
  for (int i = a.ndim - 1; i >= 0; i--) {
    c.ostride[i] = (a.axes & (1u << i)) ? 0 : nout;
    if (!(a.axes & (1u << i))) nout *= a.shape[i];
  }
  if ((rc = cask_block_new(CASK_F64, 2, (int64_t[]){nout, c.width}, &io->output))) return rc;
  c.st = cask_block_data(io->output);
  for (int64_t k = 0; k < nout; k++) init_state(a.op, c.isint, c.st + k * c.width);
  _Alignas(64) cask__regbuf scratch[CASK__KERNEL_REGS]; /* on the stack: see fused.c */
  c.scratch = scratch;
  uint32_t all = a.ndim ? (uint32_t)((1ull << a.ndim) - 1) : 0;
  /* argmin/argmax need each element's index: rows, never one flat run. */
  rc = cask__for_pieces(a.ndim, a.shape, (uint32_t)io->ninputs, views,
                        a.axes == all && !is_arg(a.op) && !cask__program_has_gen(&a.prog),
                        partial_piece, &c);
  if (c.have) { /* the cascade, smallest level first */
    double s = 0;
    for (int i = 0; i < 64; i++)
      if (c.have & (1ull << i)) s += c.cascade[i];
    c.st[0].f += s;
  }
  return rc;
}

/* ---- array.combine and array.finalize -------------------------------- */

typedef struct combine_args {
  int32_t op, isint; /* isint: the state's values are int64 */
} combine_args;

static int combine_run(cask_task_io *io) {
  combine_args a;
  if (io->args_len != sizeof a || io->ninputs == 0) return CASK_EINVAL;
  memcpy(&a, io->args, sizeof a);
  if ((unsigned)a.op >= RED_COUNT) return CASK_EINVAL;
  const cask_block *first = io->inputs[0];
  int w = state_width[a.op];
  for (size_t i = 0; i < io->ninputs; i++)
    if (!io->inputs[i] || cask_block_size(io->inputs[i]) != cask_block_size(first) ||
        cask_block_dtype(io->inputs[i]) != CASK_F64 || cask_block_size(first) % w)
      return CASK_EINVAL;
  int rc = cask_block_new(CASK_F64, 2, cask_block_shape(first), &io->output);
  if (rc) return rc;
  word *st = cask_block_data(io->output);
  memcpy(st, cask_block_data(first), cask_block_nbytes(first));
  int64_t nout = cask_block_size(first) / w;
  for (size_t i = 1; i < io->ninputs; i++) {
    const word *b = cask_block_data(io->inputs[i]);
    for (int64_t k = 0; k < nout; k++) merge(a.op, a.isint, st + k * w, b + k * w);
  }
  return CASK_OK;
}

typedef struct finalize_args {
  int32_t op, ddof, ndim, isint, dtype, pad;
  int64_t shape[CASK_MAX_NDIM];
} finalize_args;

/* The value of one state, as a double or an int64 (*isint says which). */
static word finish(const finalize_args *a, const word *s, int *isint) {
  word v;
  *isint = a->isint;
  switch (a->op) {
  case CASK_MEAN:
  case CASK_NANMEAN: v.f = s[0].f / s[1].f; break;
  /* NumPy divides by max(n - ddof, 0): inf (nan for no spread) when
   * ddof >= n, never a negative variance */
  case CASK_VAR: v.f = s[2].f / fmax(s[0].f - a->ddof, 0.0); break;
  case CASK_STD: v.f = sqrt(s[2].f / fmax(s[0].f - a->ddof, 0.0)); break;
  case CASK_ANY:
  case CASK_ALL:
    v.i = s[0].i;
    *isint = 1;
    break;
  case CASK_ARGMIN:
  case CASK_ARGMAX:
  case NANARGMIN:
  case NANARGMAX:
    v.i = s[1].i;
    *isint = 1;
    break;
  case CASK_NANMIN:
  case CASK_NANMAX: v.f = s[1].i ? s[0].f : NAN; break; /* all-NaN slice: NaN */
  default: v = s[0];
  }
  return v;
}

static int finalize_run(cask_task_io *io) {
  finalize_args a;
  if (io->args_len != sizeof a || io->ninputs != 1 || !io->inputs[0]) return CASK_EINVAL;
  memcpy(&a, io->args, sizeof a);
  if ((unsigned)a.op >= RED_COUNT || a.ndim < 0 || a.ndim > CASK_MAX_NDIM ||
      (unsigned)a.dtype >= CASK_DTYPE_COUNT)
    return CASK_EINVAL;
  int w = state_width[a.op];
  int64_t n = 1, known = 1;
  for (int i = 0; i < a.ndim; i++) known *= a.shape[i] < 0 ? 1 : a.shape[i];
  for (int i = 0; i < a.ndim; i++) /* an axis of unknown length: what the states say */
    if (a.shape[i] < 0) a.shape[i] = known ? cask_block_size(io->inputs[0]) / w / known : 0;
  for (int i = 0; i < a.ndim; i++) n *= a.shape[i];
  if (cask_block_size(io->inputs[0]) != n * w || cask_block_dtype(io->inputs[0]) != CASK_F64) {
    cask__fmt(io->errmsg, io->errmsg_cap, "state block has %lld values, expected %lld",
              (long long)cask_block_size(io->inputs[0]), (long long)(n * w));
    return CASK_EINVAL;
  }
  int rc = cask_block_new((cask_dtype)a.dtype, a.ndim, a.shape, &io->output);
  if (rc) return rc;
  const word *st = cask_block_data(io->inputs[0]);
  char *d = cask_block_data(io->output);
  size_t dw = cask_dtype_size((cask_dtype)a.dtype);
  for (int64_t k = 0; k < n; k++) {
    int isint;
    if (is_nanarg(a.op) && st[k * w + 1].i < 0) { /* NumPy raises ValueError */
      cask__fmt(io->errmsg, io->errmsg_cap, "%s: All-NaN slice encountered (output element %lld)", red_names[a.op],
                (long long)k);
      cask_block_release(io->output);
      io->output = NULL;
      return CASK_EINVAL;
    }
    if ((a.op == CASK_MIN || a.op == CASK_MAX) && !st[k * w + 1].i) { /* NumPy raises the same */
      cask_block_release(io->output);
      io->output = NULL;
      cask__fmt(io->errmsg, io->errmsg_cap,
                "zero-size array to reduction operation %s which has no identity (%s of a selection that kept no "
                "elements)", a.op == CASK_MIN ? "minimum" : "maximum", red_names[a.op]);
      return CASK_EINVAL;
    }
    word v = finish(&a, st + k * w, &isint);
    cask__cast(d + (size_t)k * dw, (cask_dtype)a.dtype, &v, isint ? CASK_I64 : CASK_F64, 1);
  }
  return CASK_OK;
}

static const cask_op *op_partial, *op_combine, *op_finalize;

void cask__register_reduce_ops(void) {
  cask_op_register(&(cask_op){.name = "array.partial", .run = partial_run}, &op_partial);
  cask_op_register(&(cask_op){.name = "array.combine", .run = combine_run}, &op_combine);
  cask_op_register(&(cask_op){.name = "array.finalize", .run = finalize_run}, &op_finalize);
}

/* ---- lowering -------------------------------------------------------- */

/* Whether r's states hold int64 values (an integer input, kept exact). */
static int state_isint(const cask_array *r) {
  return !cask__dtype_is_float(r->in[0]->dtype) && !wants_float(r->op);
}

/* Bytes of the states of one input block: a state per kept element. */
static int64_t partial_bytes(const cask_array *r, const int64_t *shape) {
  int64_t n = 1;
  for (int i = 0; i < r->in[0]->ndim; i++)
    if (!(r->p.reduce.axes & (1u << i))) n *= shape[i] < 0 ? 1 : shape[i]; /* unknown: a guess */
  return n * state_width[r->op] * 8;
}

/* The partial of input block ibidx. */
static int lower_partial(cask__lower *L, cask_array *r, const int64_t *ibidx, cask_task_id *out) {
  cask_array *in = r->in[0];
  char key[512];
  cask__block_key(key, sizeof key, "reduce-partial", r->token, in->ndim, ibidx);
  if (cask_graph_find(L->g, key, out) == CASK_OK) return CASK_OK;
  partial_args a;
  memset(&a, 0, sizeof a);
  a.op = r->op;
  a.ndim = in->ndim;
  a.axes = r->p.reduce.axes;
  cask__block_box(in, ibidx, a.off, a.shape);
  int64_t rs = 1;
  for (int i = in->ndim - 1; i >= 0; i--)
    if (a.axes & (1u << i)) {
      a.rstride[i] = rs;
      rs *= in->shape[i];
    }
  cask_array *leaves[CASK__MAX_LEAVES];
  int rc = cask__program_compile(in, &a.prog, leaves);
  cask__program_place(&a.prog, in->ndim, a.off);
  if (!rc && in->unknown) rc = cask__mark_unknown_extents(in, leaves, a.prog.nleaves, a.shape);
  cask_task_id deps[CASK__MAX_LEAVES];
  if (!rc) rc = cask__lower_leaves(L, in, ibidx, leaves, a.prog.nleaves, deps);
  if (rc) return rc;
  size_t len = offsetof(partial_args, prog) + cask__program_size(&a.prog);
  rc = cask__graph_add(L->g, key, op_partial, &a, len, deps, a.prog.nleaves, out);
  if (!rc) cask_graph_set_size(L->g, *out, partial_bytes(r, a.shape));
  if (!rc) rc = cask__stamp_root(L, *out, ibidx); /* a partial of generated blocks */
  if (!rc) rc = cask__stamp_reader(L, *out, ibidx, leaves, a.prog.nleaves);
  return rc;
}

/* The segment length of a fold over n partials: ceil(sqrt(n)), which
 * minimises S + n / S (the partials of a straddling segment plus the
 * segment states a rank may hold waiting), and at least 8 so a reduction
 * of up to 64 blocks keeps at most 8 segments and one of up to 8 blocks
 * is a single chain (the top fold adds a boundary crossing). */
static int64_t fold_segment(int64_t n) {
  int64_t s = (int64_t)ceil(sqrt((double)n));
  while (s > 1 && (s - 1) * (s - 1) >= n) s--; /* exact for any double rounding */
  while (s * s < n) s++;
  return s < 8 ? 8 : s;
}

/* One combine of a and b (in that order) into *out, its size b's. Each
 * combine follows its input 1 (its partial, or the segment's state): a tie
 * of two equal states would otherwise keep the fold on the first rank. */
static int add_combine(cask__lower *L, const char *key, const combine_args *ca, cask_task_id a, cask_task_id b,
                       cask_task_id *out) {
  static const cask_place_hint follow_input1 = {CASK_PLACE_FOLLOW, 1, 0, 0, 0};
  cask_task_id in[2] = {a, b};
  int rc = cask__graph_add(L->g, key, op_combine, ca, sizeof *ca, in, 2, out);
  if (!rc) cask_graph_set_size(L->g, *out, cask_graph_size_estimate(L->g, b));
  if (!rc) rc = cask_graph_set_place(L->g, *out, &follow_input1);
  return rc;
}

/* The bytes of output block bidx of r. */
static int64_t final_bytes(const cask_array *r, const int64_t *bidx) {
  int64_t off[CASK_MAX_NDIM], ext[CASK_MAX_NDIM], n = (int64_t)cask__itemsize(r);
  cask__block_box(r, bidx, off, ext);
  for (int i = 0; i < r->ndim; i++) n *= ext[i] < 0 ? 1 : ext[i]; /* unknown: a guess */
  return n;
}

/* The task of output block bidx (under key) from the fold's state. */
static int add_finalize(cask__lower *L, cask_array *r, const int64_t *bidx, const char *key, cask_task_id state,
                        cask_task_id *out) {
  finalize_args fa;
  memset(&fa, 0, sizeof fa);
  fa.op = r->op;
  fa.ddof = r->p.reduce.ddof;
  fa.ndim = r->ndim;
  fa.isint = state_isint(r);
  fa.dtype = r->dtype;
  int64_t off[CASK_MAX_NDIM];
  cask__block_box(r, bidx, off, fa.shape);
  int rc = cask__graph_add(L->g, key, op_finalize, &fa, sizeof fa, &state, 1, out);
  if (!rc) cask_graph_set_size(L->g, *out, final_bytes(r, bidx));
  return rc;
}

/* The fold of output block b: its n input blocks, number j in C order over
 * the reduced axes (the kept axes at b's indices). */
typedef struct fold_plan {
  cask_array *r;
  int64_t bidx[CASK_MAX_NDIM]; /* the output block */
  int64_t n, seg;              /* input blocks; segment length */
  char key[512];               /* the output block's task key */
} fold_plan;

static void fold_init(fold_plan *f, cask_array *r, const int64_t *bidx) {
  cask_array *in = r->in[0];
  f->r = r;
  f->n = 1;
  for (int i = 0; i < in->ndim; i++)
    if (r->p.reduce.axes & (1u << i)) f->n *= cask__nblocks(in, i);
  memcpy(f->bidx, bidx, sizeof f->bidx[0] * (size_t)r->ndim);
  f->seg = fold_segment(f->n);
  cask__node_block_key(r, bidx, f->key, sizeof f->key);
}

/* Input block j of the fold. */
static void fold_block(const fold_plan *f, int64_t j, int64_t *ibidx) {
  const cask_array *in = f->r->in[0];
  for (int i = in->ndim - 1, k = f->r->ndim - 1; i >= 0; i--) {
    if (f->r->p.reduce.axes & (1u << i)) {
      int64_t nb = cask__nblocks(in, i);
      ibidx[i] = j % nb;
      j /= nb;
    } else {
      ibidx[i] = f->bidx[k--];
    }
  }
}

static int lower_reduce(cask__lower *L, cask_array *r, const int64_t *bidx, const char *key,
                       cask_task_id *out) {
  fold_plan f;
  fold_init(&f, r, bidx);
  int64_t count = f.n, ibidx[CASK_MAX_NDIM];
  cask_task_id *level = cask__malloc((size_t)count * sizeof *level);
  if (!level) return cask__fail(L->ctx, CASK_ENOMEM, "out of memory lowering %s", key);
  int rc = CASK_OK;
  for (int64_t j = 0; j < count && !rc; j++) {
    fold_block(&f, j, ibidx);
    rc = lower_partial(L, r, ibidx, &level[j]);
  }
  /* A two-level fold over the partials in block order (docs/distributed.md,
   * "Reductions"): the blocks split into segments of S consecutive blocks,
   * S = fold_segment(count) from the count alone; a left fold inside each
   * segment (combine j merges the segment's running state with partial j),
   * then a left fold of the segments' states. The order is fixed by block
   * indices, so results are the same bits for every rank and thread count.
   * On ranks holding contiguous runs of blocks a boundary is crossed by at
   * most 2 states (the straddling segment's and the top fold's), and a
   * segment's chain advances as its partials complete, so a rank keeps at
   * most about S partials and count / S segment states waiting for an
   * earlier rank (a single chain would keep all its partials). The states
   * are small (a value per kept element and field), so the serial merges
   * cost little beside the partials. lower_reduce_part builds the same
   * tasks, under the same keys, for one rank's blocks. */
  combine_args ca = {r->op, state_isint(r)};
  char ckey[600];
  int64_t seg = f.seg;
  for (int64_t s0 = 0; !rc && s0 < count; s0 += seg) {
    int64_t end = s0 + seg < count ? s0 + seg : count;
    for (int64_t j = s0 + 1; !rc && j < end; j++) { /* level[s0]: the segment's state */
      snprintf(ckey, sizeof ckey, "%s-combine-%lld", key, (long long)j);
      rc = add_combine(L, ckey, &ca, level[s0], level[j], &level[s0]);
    }
    if (rc || s0 == 0) continue;
    snprintf(ckey, sizeof ckey, "%s-combine-seg-%lld", key, (long long)(s0 / seg));
    rc = add_combine(L, ckey, &ca, level[0], level[s0], &level[0]); /* the top fold */
  }
  if (!rc) rc = add_finalize(L, r, bidx, key, level[0], out);
  cask__free(level);
  return rc;
}

/* ---- one rank's part of the folds (flat planning) ---------------------- */

/* The key of the state after input j of f (partial j at a segment's
 * start, else combine j). */
static void state_key(const fold_plan *f, int64_t j, char *buf, size_t cap) {
  if (j % f->seg) {
    snprintf(buf, cap, "%s-combine-%lld", f->key, (long long)j);
  } else {
    int64_t ibidx[CASK_MAX_NDIM];
    fold_block(f, j, ibidx);
    cask__block_key(buf, cap, "reduce-partial", f->r->token, f->r->in[0]->ndim, ibidx);
  }
}

/* The key of the top fold's state after segment s (s's own state for 0). */
static void acc_key(const fold_plan *f, int64_t s, char *buf, size_t cap) {
  if (s) snprintf(buf, cap, "%s-combine-seg-%lld", f->key, (long long)s);
  else state_key(f, (f->seg < f->n ? f->seg : f->n) - 1, buf, cap);
}

/* The rank making input j's partial, and every state after j. */
static int fold_owner(const cask__lower *L, const fold_plan *f, int64_t j) {
  int64_t ibidx[CASK_MAX_NDIM];
  fold_block(f, j, ibidx);
  return cask__anchor_rank(L->G, cask__anchor_pos(L->G, ibidx), L->nranks);
}

/* The bytes of the state after input j (its partial's, as add_combine
 * sizes a combine by its input 1). */
static int64_t state_size(const fold_plan *f, int64_t j) {
  int64_t ibidx[CASK_MAX_NDIM], off[CASK_MAX_NDIM], ext[CASK_MAX_NDIM];
  fold_block(f, j, ibidx);
  cask__block_box(f->r->in[0], ibidx, off, ext);
  return partial_bytes(f->r, ext);
}

/* The state task after input `at` (its producer `at`, top fold s when
 * seg_state), this rank's or a ghost of its owner's. */
static int input_state(cask__lower *L, const fold_plan *f, int64_t at, int64_t s, int top, cask_task_id *out) {
  char key[600];
  if (top) acc_key(f, s, key, sizeof key);
  else state_key(f, at, key, sizeof key);
  int owner = fold_owner(L, f, at);
  if (owner == L->rank) {
    int rc = cask_graph_find(L->g, key, out);
    return rc ? cask__fail(L->ctx, CASK_EINVAL, "lowering %s: state %s of this rank is missing", f->key, key) : rc;
  }
  return cask__ghost(L, key, owner, NULL, 0, state_size(f, at), out);
}

/* A ghost of the reader of state `id` when it is on another rank: the
 * combine after input at + 1 (top: the top fold of segment s + 1). */
static int remote_reader(cask__lower *L, const fold_plan *f, int64_t at, int64_t s, int top, cask_task_id id) {
  char key[600];
  int64_t next = top ? ((s + 2) * f->seg < f->n ? (s + 2) * f->seg : f->n) - 1 : at + 1;
  int owner = fold_owner(L, f, next);
  if (owner == L->rank) return CASK_OK;
  if (top) snprintf(key, sizeof key, "%s-combine-seg-%lld", f->key, (long long)(s + 1));
  else snprintf(key, sizeof key, "%s-combine-%lld", f->key, (long long)next);
  cask_task_id ghost;
  return cask__ghost(L, key, owner, &id, 1, state_size(f, next), &ghost);
}

/* This rank's tasks of fold f for its input j (ascending within f): the
 * partial, the combine taking it in, the top fold of a segment ending at
 * j, the output block after the last; ghosts for the states read from and
 * handed to other ranks (the closed form of lower_reduce's edges). */
static int fold_part(cask__lower *L, const fold_plan *f, int64_t j) {
  int64_t ibidx[CASK_MAX_NDIM], s = j / f->seg, start = s * f->seg;
  int64_t end = (start + f->seg < f->n ? start + f->seg : f->n) - 1, last = (f->n - 1) / f->seg;
  combine_args ca = {f->r->op, state_isint(f->r)};
  char key[600];
  cask_task_id p, in, state, acc;
  fold_block(f, j, ibidx);
  int rc = lower_partial(L, f->r, ibidx, &p);
  state = p;
  if (!rc && j != start && !(rc = input_state(L, f, j - 1, 0, 0, &in))) {
    snprintf(key, sizeof key, "%s-combine-%lld", f->key, (long long)j);
    rc = add_combine(L, key, &ca, in, p, &state);
  }
  if (rc || j != end) return rc ? rc : remote_reader(L, f, j, 0, 0, state);
  acc = state; /* the segment's state, read by the top fold on this rank */
  if (s && !(rc = input_state(L, f, (s * f->seg) - 1, s - 1, 1, &in))) {
    snprintf(key, sizeof key, "%s-combine-seg-%lld", f->key, (long long)s);
    rc = add_combine(L, key, &ca, in, state, &acc);
  }
  if (rc) return rc;
  if (s != last) return remote_reader(L, f, j, s, 1, acc);
  cask_task_id out; /* the driver marks it an output, or adds its writer */
  if ((rc = add_finalize(L, f->r, f->bidx, f->key, acc, &out)) || !cask__anchor_operand(L->G, f->r)) return rc;
  /* Read as an operand: by the tasks at every block of its fold. One
   * ghost reader per other rank holding such blocks (the block goes to
   * each once); its key is this rank's own name for the send. */
  for (int64_t k = 0, last_owner = -1; k < f->n && !rc; k++) {
    int owner = fold_owner(L, f, k);
    if (owner == L->rank || owner == last_owner) continue;
    last_owner = owner;
    snprintf(key, sizeof key, "%s-to-rank-%d", f->key, owner);
    cask_task_id ghost;
    rc = cask__ghost(L, key, owner, &out, 1, -1, &ghost);
  }
  return rc;
}

/* Block bidx of r made by another rank, for this rank's readers: the rank
 * its fold ends on makes it (lower_reduce_part). */
static int reduce_part_ghost(cask__lower *L, cask_array *r, const int64_t *bidx, cask_task_id *out) {
  fold_plan f;
  fold_init(&f, r, bidx);
  int owner = fold_owner(L, &f, f.n - 1);
  if (owner == L->rank)
    return cask__fail(L->ctx, CASK_EINVAL, "lowering a part: block %s of this rank was not made", f.key);
  return cask__ghost(L, f.key, owner, NULL, 0, final_bytes(r, bidx), out);
}

typedef struct fold_at {
  int64_t b, j; /* output block (C order) and input number in its fold */
} fold_at;

static int cmp_fold_at(const void *x, const void *y) {
  const fold_at *a = x, *b = y;
  if (a->b != b->b) return a->b < b->b ? -1 : 1;
  return (a->j > b->j) - (a->j < b->j);
}

/* The rank's part of every fold reading its anchor blocks, fold by fold
 * and in each in input order (a combine finds its rank's input made). */
static int lower_reduce_part(cask__lower *L, cask_array *r, const int64_t *pos, size_t npos) {
  cask_array *in = r->in[0];
  fold_at *at = cask__malloc((npos ? npos : 1) * sizeof *at);
  if (!at) return cask__fail(L->ctx, CASK_ENOMEM, "out of memory lowering a part of a reduction");
  for (size_t k = 0; k < npos; k++) {
    int64_t ibidx[CASK_MAX_NDIM], b = 0, j = 0;
    cask__anchor_at(L->G, pos[k], ibidx);
    for (int i = 0; i < in->ndim; i++) {
      int64_t nb = cask__nblocks(in, i);
      if (r->p.reduce.axes & (1u << i)) j = j * nb + ibidx[i];
      else b = b * nb + ibidx[i];
    }
    at[k] = (fold_at){b, j};
  }
  qsort(at, npos, sizeof *at, cmp_fold_at);
  int rc = CASK_OK;
  fold_plan f;
  for (size_t k = 0; k < npos && !rc; k++) {
    if (!k || at[k].b != at[k - 1].b) {
      int64_t bidx[CASK_MAX_NDIM], b = at[k].b;
      for (int i = r->ndim - 1; i >= 0; i--) {
        int64_t nb = cask__nblocks(r, i);
        bidx[i] = b % nb;
        b /= nb;
      }
      fold_init(&f, r, bidx);
    }
    rc = fold_part(L, &f, at[k].j);
  }
  cask__free(at);
  return rc;
}

const cask__node_class cask__reduce_class = {.name = "reduce", .lower = lower_reduce, .lower_part = lower_reduce_part,
                                           .part_ghost = reduce_part_ghost};
