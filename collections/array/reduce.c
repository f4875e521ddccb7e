/* reduce.c - reductions: the node, and three block ops.
 *   array.partial   one input block -> a state per output element, fused
 *                   with the elementwise program that makes the input, so
 *                   sum(a*b) never materializes a*b;
 *   array.combine   split_every states -> one, in a fixed order;
 *   array.finalize  state -> value (mean = sum / n, std = sqrt(M2 / (n-ddof))).
 * States: sum (sum), mean (sum, n), min / max (value), var / std (n, mean,
 * M2). Sums are pairwise within a piece and cascaded across pieces; var
 * combines (n, mean, M2) with Chan's formula. Every order is fixed by the
 * graph, so results are bit-identical for any thread count. */
#include <math.h>
#include <stdio.h>

#include "kernel.h"

static const char *const red_names[CASK_REDUCTION_COUNT] = {"sum", "mean", "min", "max", "var", "std"};
static const int state_width[CASK_REDUCTION_COUNT] = {1, 2, 1, 1, 3, 3};

int cask__lower_leaves(cask__lower *L, cask_array *a, const int64_t *bidx, cask_array **leaves,
                       uint32_t nleaves, cask_task_id *deps);
int cask__leaf_views(cask_task_io *io, int ndim, const int64_t *shape, cask__leaf_view *v);

int cask_reduce(cask_reduction op, cask_array *a, const int *axes, int naxes, int ddof,
                cask_array **out) {
  if (!out) return CASK_EINVAL;
  *out = NULL;
  if (!a || (unsigned)op >= CASK_REDUCTION_COUNT || naxes < 0 || (naxes && !axes) || ddof < 0)
    return CASK_EINVAL;
  const char *what = red_names[op];
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
  int64_t shape[CASK_MAX_NDIM], chunk[CASK_MAX_NDIM];
  int nd = 0;
  for (int i = 0; i < a->ndim; i++) {
    if (mask & (1u << i)) {
      if (a->shape[i] == 0 && (op == CASK_MIN || op == CASK_MAX))
        return cask__fail(a->ctx, CASK_EINVAL, "%s: axis %d is empty and %s has no identity", what, i, what);
      continue;
    }
    shape[nd] = a->shape[i];
    chunk[nd++] = a->chunk[i];
  }
  int rc = cask__node_new(a->ctx, NODE_REDUCE, op, CASK_F64, nd, shape, chunk, a, NULL, out);
  if (rc) return rc;
  (*out)->p.reduce.axes = mask;
  (*out)->p.reduce.ddof = ddof;
  cask__node_seal(*out, &(*out)->p.reduce, sizeof (*out)->p.reduce);
  return CASK_OK;
}

/* ---- states ----------------------------------------------------------- */

/* Pairwise sum of up to a few thousand values (NumPy's scheme: eight
 * partial sums below 128 values, halves above). */
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

/* Fold n values (stride 0 or 1) into one state. */
static void fold(int op, double *st, const double *x, int64_t n, int64_t stride) {
  switch (op) {
  case CASK_SUM: st[0] += pairwise(x, n, stride); break;
  case CASK_MEAN:
    st[0] += pairwise(x, n, stride);
    st[1] += (double)n;
    break;
  case CASK_MIN:
    for (int64_t i = 0; i < n; i++) {
      double v = x[i * stride];
      if (v < st[0] || v != v) st[0] = st[0] != st[0] ? st[0] : v;
    }
    break;
  case CASK_MAX:
    for (int64_t i = 0; i < n; i++) {
      double v = x[i * stride];
      if (v > st[0] || v != v) st[0] = st[0] != st[0] ? st[0] : v;
    }
    break;
  default: { /* var, std: the piece's own (n, mean, M2), then Chan */
    double m = pairwise(x, n, stride) / (double)n, m2 = sum_sq_dev(x, n, stride, m);
    double na = st[0], nb = (double)n, nn = na + nb, d = m - st[1];
    st[2] += m2 + d * d * na * nb / nn;
    st[1] += d * nb / nn;
    st[0] = nn;
  }
  }
}

/* Only the op's own state_width entries: the next state follows. */
static void init_state(int op, double *st) {
  st[0] = op == CASK_MIN ? INFINITY : op == CASK_MAX ? -INFINITY : 0;
  for (int i = 1; i < state_width[op]; i++) st[i] = 0;
}

/* Merge state b into a (a comes first in the fixed order). */
static void merge(int op, double *a, const double *b) {
  switch (op) {
  case CASK_SUM: a[0] += b[0]; break;
  case CASK_MEAN:
    a[0] += b[0];
    a[1] += b[1];
    break;
  case CASK_MIN: a[0] = (a[0] != a[0] || a[0] <= b[0]) ? a[0] : b[0]; break;
  case CASK_MAX: a[0] = (a[0] != a[0] || a[0] >= b[0]) ? a[0] : b[0]; break;
  default: {
    double na = a[0], nb = b[0], nn = na + nb;
    if (nb == 0) break;
    double d = b[1] - a[1];
    a[2] += b[2] + d * d * na * nb / nn;
    a[1] += d * nb / nn;
    a[0] = nn;
  }
  }
}

/* ---- array.partial ------------------------------------------------------ */

typedef struct partial_args {
  int32_t op, ndim;
  uint32_t axes, pad;
  int64_t shape[CASK_MAX_NDIM]; /* the input block's shape */
  cask__program prog;
} partial_args;

typedef struct partial_ctx {
  const partial_args *a;
  double *st;      /* [nout][width] */
  int width;
  int64_t ostride[CASK_MAX_NDIM]; /* output element stride per input axis; 0 if reduced */
  double (*scratch)[CASK__KERNEL_PIECE];
  /* reduce-all: a binary-counter cascade of piece sums, so the rounding
   * error grows with log(pieces), not with their number */
  double cascade[64];
  uint64_t have;
} partial_ctx;

static int partial_piece(void *user, const cask__piece *pc, int64_t off, const int64_t *row) {
  partial_ctx *c = user;
  const partial_args *a = c->a;
  const double *x = cask__program_eval(&a->prog, pc, c->scratch, NULL);
  int last = a->ndim - 1;
  if (!row && a->op == CASK_SUM) { /* flat: everything reduced */
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
  int64_t o = 0;
  if (row)
    for (int i = 0; i < last; i++) o += row[i] * c->ostride[i];
  if (!row || (a->axes & (1u << last))) {
    fold(a->op, c->st + o * c->width, x, pc->n, 1);
    return CASK_OK;
  }
  /* The last axis is kept: each element goes to its own state. */
  o += row[last] * c->ostride[last];
  for (int64_t k = 0; k < pc->n; k++) fold(a->op, c->st + (o + k) * c->width, x + k, 1, 1);
  return CASK_OK;
}

static int partial_run(cask_task_io *io) {
  partial_args a;
  size_t head = offsetof(partial_args, prog);
  if (io->args_len < head || io->args_len > sizeof a) return CASK_EINVAL;
  memcpy(&a, io->args, io->args_len);
  if ((unsigned)a.op >= CASK_REDUCTION_COUNT || a.ndim < 0 || a.ndim > CASK_MAX_NDIM ||
      cask__program_check(&a.prog, io->args_len - head, (uint32_t)io->ninputs)) {
    cask__fmt(io->errmsg, io->errmsg_cap, "malformed reduction arguments");
    return CASK_EINVAL;
  }
  cask__leaf_view views[CASK__MAX_LEAVES];
  int rc = cask__leaf_views(io, a.ndim, a.shape, views);
  if (rc) return rc;
  partial_ctx c = {.a = &a, .width = state_width[a.op]};
  int64_t nout = 1;
  for (int i = a.ndim - 1; i >= 0; i--) {
    c.ostride[i] = (a.axes & (1u << i)) ? 0 : nout;
    if (!(a.axes & (1u << i))) nout *= a.shape[i];
  }
  if ((rc = cask_block_new(CASK_F64, 2, (int64_t[]){nout, c.width}, &io->output))) return rc;
  c.st = cask_block_data(io->output);
  for (int64_t k = 0; k < nout; k++) init_state(a.op, c.st + k * c.width);
  _Alignas(64) double scratch[CASK__KERNEL_REGS][CASK__KERNEL_PIECE]; /* on the stack: see lower.c */
  c.scratch = scratch;
  uint32_t all = a.ndim ? (uint32_t)((1ull << a.ndim) - 1) : 0;
  rc = cask__for_pieces(a.ndim, a.shape, (uint32_t)io->ninputs, views, a.axes == all, partial_piece, &c);
  if (c.have) { /* the cascade, smallest level first */
    double s = 0;
    for (int i = 0; i < 64; i++)
      if (c.have & (1ull << i)) s += c.cascade[i];
    c.st[0] += s;
  }
  return rc;
}

/* ---- array.combine and array.finalize -------------------------------- */

typedef struct combine_args {
  int32_t op, ddof;
} combine_args;

static int combine_run(cask_task_io *io) {
  combine_args a;
  if (io->args_len != sizeof a || io->ninputs == 0) return CASK_EINVAL;
  memcpy(&a, io->args, sizeof a);
  if ((unsigned)a.op >= CASK_REDUCTION_COUNT) return CASK_EINVAL;
  const cask_block *first = io->inputs[0];
  for (size_t i = 0; i < io->ninputs; i++)
    if (!io->inputs[i] || cask_block_size(io->inputs[i]) != cask_block_size(first)) return CASK_EINVAL;
  int rc = cask_block_new(CASK_F64, 2, cask_block_shape(first), &io->output);
  if (rc) return rc;
  double *st = cask_block_data(io->output);
  memcpy(st, cask_block_data(first), cask_block_nbytes(first));
  int w = state_width[a.op];
  int64_t nout = cask_block_size(first) / w;
  for (size_t i = 1; i < io->ninputs; i++) {
    const double *b = cask_block_data(io->inputs[i]);
    for (int64_t k = 0; k < nout; k++) merge(a.op, st + k * w, b + k * w);
  }
  return CASK_OK;
}

typedef struct finalize_args {
  int32_t op, ddof, ndim, pad;
  int64_t shape[CASK_MAX_NDIM];
} finalize_args;

static int finalize_run(cask_task_io *io) {
  finalize_args a;
  if (io->args_len != sizeof a || io->ninputs != 1 || !io->inputs[0]) return CASK_EINVAL;
  memcpy(&a, io->args, sizeof a);
  if ((unsigned)a.op >= CASK_REDUCTION_COUNT || a.ndim < 0 || a.ndim > CASK_MAX_NDIM) return CASK_EINVAL;
  int rc = cask_block_new(CASK_F64, a.ndim, a.shape, &io->output);
  if (rc) return rc;
  int w = state_width[a.op];
  const double *st = cask_block_data(io->inputs[0]);
  double *d = cask_block_data(io->output);
  int64_t n = cask_block_size(io->output);
  if (cask_block_size(io->inputs[0]) != n * w) {
    cask_block_release(io->output);
    io->output = NULL;
    cask__fmt(io->errmsg, io->errmsg_cap, "state block has %lld values, expected %lld",
              (long long)cask_block_size(io->inputs[0]), (long long)(n * w));
    return CASK_EINVAL;
  }
  for (int64_t k = 0; k < n; k++) {
    const double *s = st + k * w;
    switch (a.op) {
    case CASK_MEAN: d[k] = s[0] / s[1]; break;
    case CASK_VAR: d[k] = s[2] / (s[0] - a.ddof); break;
    case CASK_STD: d[k] = sqrt(s[2] / (s[0] - a.ddof)); break;
    default: d[k] = s[0];
    }
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

/* Bytes of the states of one input block: a state per kept element. */
static int64_t partial_bytes(const cask_array *r, const int64_t *shape) {
  int64_t n = 1;
  for (int i = 0; i < r->in[0]->ndim; i++)
    if (!(r->p.reduce.axes & (1u << i))) n *= shape[i];
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
  int64_t off[CASK_MAX_NDIM];
  cask__block_box(in, ibidx, off, a.shape);
  cask_array *leaves[CASK__MAX_LEAVES];
  int rc = cask__program_compile(in, &a.prog, leaves);
  cask_task_id deps[CASK__MAX_LEAVES];
  if (!rc) rc = cask__lower_leaves(L, in, ibidx, leaves, a.prog.nleaves, deps);
  if (rc) return rc;
  size_t len = offsetof(partial_args, prog) + cask__program_size(&a.prog);
  rc = cask_graph_add(L->g, key, op_partial, &a, len, deps, a.prog.nleaves, out);
  if (!rc) cask_graph_set_size(L->g, *out, partial_bytes(r, a.shape));
  return rc;
}

int cask__lower_reduce(cask__lower *L, cask_array *r, const int64_t *bidx, const char *key,
                       cask_task_id *out) {
  cask_array *in = r->in[0];
  uint32_t axes = r->p.reduce.axes;
  /* Input blocks: kept axes at this output block, reduced axes over all
   * their blocks in C order (the fixed combine order). */
  int64_t ibidx[CASK_MAX_NDIM], count = 1;
  for (int i = 0, k = 0; i < in->ndim; i++) {
    if (axes & (1u << i)) {
      ibidx[i] = 0;
      count *= cask__nblocks(in, i);
    } else {
      ibidx[i] = bidx[k++];
    }
  }
  cask_task_id *level = cask__malloc((size_t)count * sizeof *level);
  if (!level) return cask__fail(L->ctx, CASK_ENOMEM, "out of memory lowering %s", key);
  int rc = CASK_OK;
  for (int64_t j = 0; j < count && !rc; j++) {
    rc = lower_partial(L, r, ibidx, &level[j]);
    for (int i = in->ndim - 1; i >= 0; i--) { /* next reduced block */
      if (!(axes & (1u << i))) continue;
      if (++ibidx[i] < cask__nblocks(in, i)) break;
      ibidx[i] = 0;
    }
  }
  combine_args ca = {r->op, r->p.reduce.ddof};
  char ckey[600];
  for (int depth = 0; !rc && count > 1; depth++) {
    int64_t n = 0;
    for (int64_t j = 0; j < count && !rc; j += L->ctx->split_every, n++) {
      int64_t m = count - j < L->ctx->split_every ? count - j : L->ctx->split_every;
      snprintf(ckey, sizeof ckey, "%s-combine-%d-%lld", key, depth, (long long)n);
      rc = cask_graph_add(L->g, ckey, op_combine, &ca, sizeof ca, level + j, (size_t)m, &level[n]);
      if (!rc) cask_graph_set_size(L->g, level[n], cask_graph_size_estimate(L->g, level[j]));
    }
    count = n;
  }
  if (!rc) {
    finalize_args fa;
    memset(&fa, 0, sizeof fa);
    fa.op = r->op;
    fa.ddof = r->p.reduce.ddof;
    fa.ndim = r->ndim;
    int64_t off[CASK_MAX_NDIM];
    cask__block_box(r, bidx, off, fa.shape);
    rc = cask_graph_add(L->g, key, op_finalize, &fa, sizeof fa, level, 1, out);
    int64_t n = 8;
    for (int i = 0; i < r->ndim; i++) n *= fa.shape[i];
    if (!rc) cask_graph_set_size(L->g, *out, n);
  }
  cask__free(level);
  return rc;
}
