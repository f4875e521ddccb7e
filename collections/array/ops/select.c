/* select.c - the tasks of NumPy's selection: boolean masks (x[mask],
 * compress, extract), nonzero, argwhere, flatnonzero ("array.select"),
 * integer indexes ("array.take"), the counting pass ("array.count_true")
 * and the regular blocks made of blocks of unknown length ("array.join");
 * their node classes. The C functions building them are in select-api.c.
 * The one thing to know: a selection's block k holds what input block (a
 * block row, the input's other axes whole) k selects, so its length is
 * known only once its task ran. The node says so (array-int.h: unknown,
 * ukey); when the lengths are needed, a pass counting the masks block by
 * block gives them (cask_compute_chunk_sizes) and a "regrid" node joins
 * the blocks into regular ones. Every copy keeps C order, so results do
 * not depend on the thread count. */
#include <stdio.h>

#include "../core/dtype.h"
#include "select.h"

/* ---- run time ---------------------------------------------------------- */

/* Whether each element of b is nonzero (NaN is), into m (NULL: only
 * counted); the count. */
static int64_t truth(const cask_block *b, uint8_t *m) {
  int64_t n = cask_block_size(b), c = 0;
  const void *d = cask_block_data(b);
#define TRUTH(T)                                     \
  do {                                               \
    const T *x = d;                                  \
    if (m)                                           \
      for (int64_t i = 0; i < n; i++) c += m[i] = x[i] != 0; \
    else                                             \
      for (int64_t i = 0; i < n; i++) c += x[i] != 0; \
  } while (0)
  switch (cask_block_dtype(b)) {
  case CASK_F64: TRUTH(double); break;
  case CASK_F32: TRUTH(float); break;
  case CASK_I64: TRUTH(int64_t); break;
  case CASK_I32: TRUTH(int32_t); break;
  default: TRUTH(uint8_t); break; /* u8, bool */
  }
#undef TRUTH
  return c;
}

/* dst = the elements of src (n of w bytes) where m is 1, in order. The
 * writes do not branch on m (half-true masks mispredict otherwise); each
 * lands at the next free place, so none is beyond the last true one's. */
static void compact(char *dst, const char *src, const uint8_t *m, int64_t n, size_t w) {
  while (n > 0 && !m[n - 1]) n--;
  int64_t k = 0;
#define COMPACT(T)                     \
  do {                                 \
    T *o = (T *)dst;                   \
    const T *x = (const T *)src;       \
    for (int64_t i = 0; i < n; i++) {  \
      o[k] = x[i];                     \
      k += m[i];                       \
    }                                  \
  } while (0)
  switch (w) {
  case 8: COMPACT(uint64_t); break;
  case 4: COMPACT(uint32_t); break;
  default: COMPACT(uint8_t); break;
  }
#undef COMPACT
}

typedef struct select_args {
  int32_t mode, axis, coord, pad;
  int64_t off0; /* the block row's first index along axis 0 */
} select_args;

/* The block's 0/1 mask: its own bytes when it is a bool block. */
static const uint8_t *mask_of(const cask_block *b, uint8_t **owned, int64_t *count) {
  *owned = NULL;
  if (cask_block_dtype(b) == CASK_BOOL) {
    *count = truth(b, NULL);
    return cask_block_data(b);
  }
  if (!(*owned = cask__malloc((size_t)cask_block_size(b) + 1))) return NULL;
  *count = truth(b, *owned);
  return *owned;
}

static int same_shape(const cask_block *a, const cask_block *b) {
  if (cask_block_ndim(a) != cask_block_ndim(b)) return 0;
  for (int i = 0; i < cask_block_ndim(a); i++)
    if (cask_block_shape(a)[i] != cask_block_shape(b)[i]) return 0;
  return 1;
}

/* The slices along axis where m is 1, from x (shape s) into out. */
static void copy_slices(char *out, const char *x, int nd, const int64_t *s, int axis, const uint8_t *m, size_t w) {
  int64_t outer = 1, inner = (int64_t)w;
  for (int i = 0; i < axis; i++) outer *= s[i];
  for (int i = axis + 1; i < nd; i++) inner *= s[i];
  for (int64_t o = 0; o < outer; o++)
    for (int64_t j = 0; j < s[axis]; j++)
      if (m[j]) {
        memcpy(out, x + (o * s[axis] + j) * inner, (size_t)inner);
        out += inner;
      }
}

/* Indices of the nonzero elements of a block of shape s (nd axes): the
 * coordinate along coord (-1: every coordinate, argwhere's rows; -2: the
 * flat index), global by off0 along axis 0 (the other axes are whole). */
static void indices(int64_t *out, const uint8_t *m, int64_t n, int nd, const int64_t *s, int coord, int64_t off0) {
  int64_t stride[CASK_MAX_NDIM], row = 1;
  for (int i = nd - 1; i >= 0; i--) {
    stride[i] = row;
    row *= s[i];
  }
  int64_t flat0 = nd ? off0 * stride[0] : 0;
  for (int64_t i = 0; i < n; i++) {
    if (!m[i]) continue;
    if (coord == -2) {
      *out++ = flat0 + i;
    } else if (coord >= 0) {
      *out++ = (i / stride[coord]) % s[coord] + (coord == 0 ? off0 : 0);
    } else {
      for (int d = 0; d < nd; d++) *out++ = (i / stride[d]) % s[d] + (d == 0 ? off0 : 0);
    }
  }
}

static int select_run(cask_task_io *io) {
  select_args a;
  int two = 0;
  if (io->args_len != sizeof a) return CASK_EINVAL;
  memcpy(&a, io->args, sizeof a);
  two = a.mode == CASK__SEL_MASK || a.mode == CASK__SEL_AXIS;
  if (io->ninputs != (size_t)(1 + two) || !io->inputs[0] || (two && !io->inputs[1])) return CASK_EINVAL;
  const cask_block *x = io->inputs[0], *mb = two ? io->inputs[1] : x;
  int nd = cask_block_ndim(x);
  const int64_t *s = cask_block_shape(x);
  if (a.mode == CASK__SEL_MASK && !same_shape(x, mb)) {
    cask__fmt(io->errmsg, io->errmsg_cap, "the mask block has %lld elements, the block %lld",
              (long long)cask_block_size(mb), (long long)cask_block_size(x));
    return CASK_EINVAL;
  }
  if (a.mode == CASK__SEL_AXIS &&
      (a.axis < 0 || a.axis >= nd || cask_block_ndim(mb) != 1 || cask_block_shape(mb)[0] != s[a.axis])) {
    cask__fmt(io->errmsg, io->errmsg_cap, "the condition's block does not match the block's axis %d", a.axis);
    return CASK_EINVAL;
  }
  uint8_t *owned;
  int64_t count;
  const uint8_t *m = mask_of(mb, &owned, &count);
  if (!m) return CASK_ENOMEM;
  int rc;
  size_t w = cask_dtype_size(cask_block_dtype(x));
  if (a.mode == CASK__SEL_MASK) {
    if (!(rc = cask_block_new(cask_block_dtype(x), 1, &count, &io->output)))
      compact(cask_block_data(io->output), cask_block_data(x), m, cask_block_size(x), w);
  } else if (a.mode == CASK__SEL_AXIS) {
    int64_t os[CASK_MAX_NDIM];
    memcpy(os, s, sizeof os[0] * (size_t)nd);
    os[a.axis] = count;
    if (!(rc = cask_block_new(cask_block_dtype(x), nd, os, &io->output)))
      copy_slices(cask_block_data(io->output), cask_block_data(x), nd, s, a.axis, m, w);
  } else {
    int argw = a.mode == CASK__SEL_ARGWHERE;
    int64_t os[2] = {count, nd};
    if (!(rc = cask_block_new(CASK_I64, 1 + argw, os, &io->output)))
      indices(cask_block_data(io->output), m, cask_block_size(x), nd, s,
              argw ? -1 : a.mode == CASK__SEL_FLAT ? -2 : a.coord, a.off0);
  }
  cask__free(owned);
  return rc;
}

/* The number of nonzero elements of a block, as a (1,) int64 block. */
static int count_run(cask_task_io *io) {
  if (io->ninputs != 1 || !io->inputs[0]) return CASK_EINVAL;
  int rc = cask_block_new(CASK_I64, 1, (int64_t[]){1}, &io->output);
  if (!rc) *(int64_t *)cask_block_data(io->output) = truth(io->inputs[0], NULL);
  return rc;
}

/* A block of known shape made of pieces of the input blocks along axis. */
typedef struct join_args {
  int32_t ndim, axis, npieces, pad; /* pad: the dtype */
  int64_t shape[CASK_MAX_NDIM];
  int64_t piece[]; /* (first, count) per input */
} join_args;

static int join_run(cask_task_io *io) {
  const join_args *a = io->args;
  if (io->args_len < sizeof *a || a->ndim < 1 || a->ndim > CASK_MAX_NDIM || a->axis < 0 || a->axis >= a->ndim ||
      a->npieces < 0 || io->args_len != sizeof *a + 16 * (size_t)a->npieces || io->ninputs != (size_t)a->npieces)
    return CASK_EINVAL;
  int64_t shape[CASK_MAX_NDIM], at = 0;
  memcpy(shape, a->shape, sizeof shape);
  cask_dtype dt = (cask_dtype)a->pad; /* the dtype */
  if ((unsigned)dt >= CASK_DTYPE_COUNT) return CASK_EINVAL;
  int rc = cask_block_new(dt, a->ndim, shape, &io->output);
  for (int32_t p = 0; p < a->npieces && !rc; p++) {
    const cask_block *b = io->inputs[p];
    int64_t first = a->piece[2 * p], n = a->piece[2 * p + 1];
    int ok = b && cask_block_dtype(b) == dt && cask_block_ndim(b) == a->ndim && first >= 0 && n >= 0 &&
             first + n <= cask_block_shape(b)[a->axis];
    for (int i = 0; ok && i < a->ndim; i++) ok = i == a->axis || cask_block_shape(b)[i] == shape[i];
    if (!ok) {
      cask__fmt(io->errmsg, io->errmsg_cap, "input %d does not hold the piece (%lld, %lld) of the block", p,
                (long long)first, (long long)n);
      cask_block_release(io->output);
      io->output = NULL;
      return CASK_EINVAL;
    }
    int64_t dst0[CASK_MAX_NDIM] = {0}, src0[CASK_MAX_NDIM] = {0}, step[CASK_MAX_NDIM], cnt[CASK_MAX_NDIM];
    for (int i = 0; i < a->ndim; i++) step[i] = 1, cnt[i] = shape[i];
    dst0[a->axis] = at, src0[a->axis] = first, cnt[a->axis] = n;
    if (n)
      cask__box_copy(cask_block_data(io->output), shape, dst0, cask_block_data(b), cask_block_shape(b), src0, step,
                     cnt, a->ndim, cask_dtype_size(dt));
    at += n;
  }
  return rc;
}

/* take: output position p along axis is element local[p] of input dep[p]
 * (literal indexes, known when built) or idx[p] of the index block
 * (input 0) in the input blocks after it. */
typedef struct take_args {
  int32_t ndim, axis, literal, dtype;
  int64_t n, xlen, xchunk;
  int64_t shape[CASK_MAX_NDIM]; /* the output block's */
  int64_t pos[];                /* literal: (dep, local) per position */
} take_args;

static int take_run(cask_task_io *io) {
  const take_args *a = io->args;
  if (io->args_len < sizeof *a || a->ndim < 1 || a->ndim > CASK_MAX_NDIM || a->axis < 0 || a->axis >= a->ndim ||
      a->n < 0 || a->xchunk < 1 || (unsigned)a->dtype >= CASK_DTYPE_COUNT ||
      io->args_len != sizeof *a + (a->literal ? 16 * (size_t)a->n : 0))
    return CASK_EINVAL;
  int64_t *idx = NULL;
  size_t first = a->literal ? 0 : 1;
  if (!a->literal) {
    const cask_block *ib = io->ninputs ? io->inputs[0] : NULL;
    if (!ib || cask_block_size(ib) != a->n) return CASK_EINVAL;
    if (!(idx = cask__malloc((size_t)a->n * 8 + 8))) return CASK_ENOMEM;
    cask__cast(idx, CASK_I64, cask_block_data(ib), cask_block_dtype(ib), a->n);
    for (int64_t p = 0; p < a->n; p++) {
      int64_t v = idx[p] < 0 ? idx[p] + a->xlen : idx[p];
      if (v < 0 || v >= a->xlen) {
        cask__fmt(io->errmsg, io->errmsg_cap, "take: index %lld is out of bounds for axis %d with size %lld",
                  (long long)idx[p], a->axis, (long long)a->xlen);
        cask__free(idx);
        return CASK_EINVAL;
      }
      idx[p] = v;
    }
  }
  size_t w = cask_dtype_size((cask_dtype)a->dtype);
  int64_t outer = 1, inner = (int64_t)w;
  for (int i = 0; i < a->axis; i++) outer *= a->shape[i];
  for (int i = a->axis + 1; i < a->ndim; i++) inner *= a->shape[i];
  int rc = cask_block_new((cask_dtype)a->dtype, a->ndim, a->shape, &io->output);
  char *out = rc ? NULL : cask_block_data(io->output);
  for (int64_t p = 0; p < a->n && !rc; p++) {
    int64_t dep = a->literal ? a->pos[2 * p] : (int64_t)first + idx[p] / a->xchunk;
    int64_t local = a->literal ? a->pos[2 * p + 1] : idx[p] % a->xchunk;
    const cask_block *b = dep >= 0 && (size_t)dep < io->ninputs ? io->inputs[dep] : NULL;
    int ok = b && cask_block_dtype(b) == (cask_dtype)a->dtype && cask_block_ndim(b) == a->ndim && local >= 0 &&
             local < cask_block_shape(b)[a->axis];
    for (int i = 0; ok && i < a->ndim; i++) ok = i == a->axis || cask_block_shape(b)[i] == a->shape[i];
    if (!ok) {
      cask__fmt(io->errmsg, io->errmsg_cap, "take: input %lld does not hold position %lld", (long long)dep,
                (long long)p);
      rc = CASK_EINVAL;
      break;
    }
    int64_t xe = cask_block_shape(b)[a->axis];
    const char *src = cask_block_data(b);
    for (int64_t o = 0; o < outer; o++)
      memcpy(out + (o * a->n + p) * inner, src + (o * xe + local) * inner, (size_t)inner);
  }
  cask__free(idx);
  if (rc && io->output) {
    cask_block_release(io->output);
    io->output = NULL;
  }
  return rc;
}

static const cask_op *op_select, *op_count, *op_join, *op_take;

void cask__register_select_ops(void) {
  cask_op_register(&(cask_op){.name = "array.select", .run = select_run, .flags = CASK_OP_PURE,
                              .args_size = sizeof(select_args)},
                   &op_select);
  cask_op_register(&(cask_op){.name = "array.count_true", .run = count_run, .flags = CASK_OP_PURE}, &op_count);
  cask_op_register(&(cask_op){.name = "array.join", .run = join_run, .flags = CASK_OP_PURE}, &op_join);
  cask_op_register(&(cask_op){.name = "array.take", .run = take_run, .flags = CASK_OP_PURE}, &op_take);
}

/* ---- lowering ------------------------------------------------------------ */

static int lower_select(cask__lower *L, cask_array *a, const int64_t *bidx, const char *key, cask_task_id *out) {
  const cask__select_ext *e = a->ext;
  cask_array *x = a->in[0];
  int64_t ib[CASK_MAX_NDIM] = {0};
  if (e->mode == CASK__SEL_AXIS) memcpy(ib, bidx, sizeof ib[0] * (size_t)x->ndim);
  else if (x->ndim) ib[0] = bidx[0]; /* a block row: x's other axes are whole */
  cask_task_id deps[2];
  int nd = 1, rc = cask__lower_block(L, x, ib, &deps[0]);
  if (!rc && e->mode == CASK__SEL_MASK) rc = cask__lower_block(L, a->in[1], ib, &deps[nd++]);
  if (!rc && e->mode == CASK__SEL_AXIS) rc = cask__lower_block(L, a->in[1], &bidx[e->axis], &deps[nd++]);
  if (rc) return rc;
  select_args sa = {e->mode, e->axis, e->coord, 0, x->ndim && !x->unknown ? ib[0] * x->chunk[0] : 0};
  if ((rc = cask__graph_add(L->g, key, op_select, &sa, sizeof sa, deps, (size_t)nd, out))) return rc;
  /* at most the input block (argwhere: ndim indices per element) */
  int64_t bytes = cask_graph_size_estimate(L->g, deps[0]);
  if (bytes > 0 && e->mode >= CASK__SEL_NONZERO)
    bytes = bytes / (int64_t)cask__itemsize(x) * 8 * (e->mode == CASK__SEL_ARGWHERE ? x->ndim : 1);
  cask_graph_set_size(L->g, *out, bytes > 0 ? bytes : 0);
  return CASK_OK;
}

const cask__node_class cask__select_class = {.name = "select", .lower = lower_select, .unknown_ok = 1};

/* Block k of the counts: the nonzero elements of block row k of in[0]. */
static int lower_count(cask__lower *L, cask_array *a, const int64_t *bidx, const char *key, cask_task_id *out) {
  cask_array *m = a->in[0];
  int64_t ib[CASK_MAX_NDIM] = {0};
  ib[0] = bidx[0];
  cask_task_id dep;
  int rc = cask__lower_block(L, m, ib, &dep);
  if (!rc) rc = cask__graph_add(L->g, key, op_count, NULL, 0, &dep, 1, out);
  if (!rc) cask_graph_set_size(L->g, *out, 8);
  return rc;
}

const cask__node_class cask__count_class = {.name = "selcount", .lower = lower_count, .unknown_ok = 1};

static void free_regrid(void *p) {
  cask__regrid_ext *e = p;
  cask__free(e->starts);
  cask__free(e);
}

/* Output block bidx: the pieces of the input blocks its range along the
 * axis covers (starts: where each input block begins). */
static int lower_regrid(cask__lower *L, cask_array *a, const int64_t *bidx, const char *key, cask_task_id *out) {
  const cask__regrid_ext *e = a->ext;
  cask_array *in = a->in[0];
  int ax = e->axis;
  int64_t off[CASK_MAX_NDIM], ext[CASK_MAX_NDIM];
  cask__block_box(a, bidx, off, ext);
  int64_t lo = off[ax], hi = off[ax] + ext[ax], np = 0;
  int64_t first = 0, last = e->nin; /* the first input block ending after lo: a binary search */
  while (first < last) {
    int64_t mid = first + (last - first) / 2;
    if (e->starts[mid + 1] > lo) last = mid;
    else first = mid + 1;
  }
  for (int64_t b = first; b < e->nin && e->starts[b] < hi; b++)
    if (e->starts[b + 1] > lo) np++;
  join_args *ja = cask__calloc(1, sizeof *ja + 16 * (size_t)np);
  cask_task_id *deps = cask__calloc((size_t)np + 1, sizeof *deps);
  int rc = ja && deps ? CASK_OK : cask__fail(L->ctx, CASK_ENOMEM, "out of memory lowering %s", key);
  if (rc) goto done;
  ja->ndim = a->ndim, ja->axis = ax, ja->npieces = (int32_t)np, ja->pad = a->dtype;
  memcpy(ja->shape, ext, sizeof ext[0] * (size_t)a->ndim);
  int64_t ib[CASK_MAX_NDIM];
  memcpy(ib, bidx, sizeof ib[0] * (size_t)a->ndim);
  np = 0;
  for (int64_t b = first; b < e->nin && e->starts[b] < hi && !rc; b++) {
    if (e->starts[b + 1] <= lo) continue; /* empty */
    int64_t s = e->starts[b] > lo ? e->starts[b] : lo, t = e->starts[b + 1] < hi ? e->starts[b + 1] : hi;
    ja->piece[2 * np] = s - e->starts[b];
    ja->piece[2 * np + 1] = t - s;
    ib[ax] = b;
    rc = cask__lower_block(L, in, ib, &deps[np++]);
  }
  if (!rc) rc = cask__graph_add(L->g, key, op_join, ja, sizeof *ja + 16 * (size_t)np, deps, (size_t)np, out);
  if (!rc) {
    int64_t n = (int64_t)cask__itemsize(a);
    for (int i = 0; i < a->ndim; i++) n *= ext[i];
    cask_graph_set_size(L->g, *out, n);
  }
done:
  cask__free(ja);
  cask__free(deps);
  return rc;
}

const cask__node_class cask__regrid_class = {.name = "regrid", .lower = lower_regrid, .free_ext = free_regrid,
                                             .unknown_ok = 1};

static void free_take(void *p) {
  cask__take_ext *e = p;
  cask__free(e->lit);
  cask__free(e);
}

/* Output block bidx: literal indexes read only the input blocks they fall
 * in (in order of first use); an index array's block reads every input
 * block along the axis. */
static int lower_take(cask__lower *L, cask_array *a, const int64_t *bidx, const char *key, cask_task_id *out) {
  const cask__take_ext *e = a->ext;
  cask_array *x = a->in[0];
  int ax = e->axis;
  int64_t off[CASK_MAX_NDIM], ext[CASK_MAX_NDIM], n;
  cask__block_box(a, bidx, off, ext);
  n = ext[ax];
  int64_t nbx = cask__nblocks(x, ax), xc = x->chunk[ax];
  size_t extra = e->lit ? 16 * (size_t)n : 0, cap = 16;
  while (e->lit && cap < 2 * (size_t)n) cap *= 2;
  take_args *ta = cask__calloc(1, sizeof *ta + extra);
  /* x block -> its dep: an open-addressing table of (block + 1, dep), as
   * big as the block's positions (an array over x's blocks cost each
   * output block a pass over all of them) */
  int64_t *slot = e->lit ? cask__calloc(2 * cap, sizeof *slot) : NULL;
  cask_task_id *deps = cask__calloc((size_t)(e->lit ? (n < nbx ? n : nbx) : nbx + 1) + 1, sizeof *deps);
  int rc = ta && deps && (slot || !e->lit) ? CASK_OK : cask__fail(L->ctx, CASK_ENOMEM, "out of memory lowering %s", key);
  size_t nd = 0;
  if (rc) goto done;
  *ta = (take_args){.ndim = a->ndim, .axis = ax, .literal = e->lit != NULL, .dtype = a->dtype, .n = n,
                    .xlen = x->shape[ax], .xchunk = xc};
  memcpy(ta->shape, ext, sizeof ext[0] * (size_t)a->ndim);
  int64_t ib[CASK_MAX_NDIM];
  memcpy(ib, bidx, sizeof ib[0] * (size_t)a->ndim);
  if (e->lit) {
    for (int64_t p = 0; p < n && !rc; p++) {
      int64_t v = e->lit[off[ax] + p], b = v / xc;
      size_t h = (size_t)cask__mix64((uint64_t)b) & (cap - 1);
      while (slot[2 * h] && slot[2 * h] != b + 1) h = (h + 1) & (cap - 1);
      if (!slot[2 * h]) {
        ib[ax] = b;
        slot[2 * h] = b + 1;
        slot[2 * h + 1] = (int64_t)nd;
        rc = cask__lower_block(L, x, ib, &deps[nd++]);
      }
      ta->pos[2 * p] = slot[2 * h + 1];
      ta->pos[2 * p + 1] = v % xc;
    }
  } else {
    rc = cask__lower_block(L, a->in[1], &bidx[ax], &deps[nd++]);
    for (int64_t b = 0; b < nbx && !rc; b++) {
      ib[ax] = b;
      rc = cask__lower_block(L, x, ib, &deps[nd++]);
    }
  }
  if (!rc) rc = cask__graph_add(L->g, key, op_take, ta, sizeof *ta + extra, deps, nd, out);
  if (!rc) {
    int64_t bytes = (int64_t)cask__itemsize(a);
    for (int i = 0; i < a->ndim; i++) bytes *= ext[i];
    cask_graph_set_size(L->g, *out, bytes);
  }
done:
  cask__free(ta);
  cask__free(slot);
  cask__free(deps);
  return rc;
}

const cask__node_class cask__take_class = {.name = "take", .lower = lower_take, .free_ext = free_take};
