/* fused.c - the class of elementwise nodes: a tree of them lowers to one
 * task per block running a kernel program ("array.kernel"), or writing
 * straight into a caller's buffer ("array.kernel_into").
 * The one thing to know: the tree's leaves (every node that is not
 * elementwise) are lowered as the task's inputs; the sources inside the
 * tree are computed in place by the program, never lowered. */
#include <stdio.h>

#include "fused.h"
#include "ops.h"

/* The block of leaf l that block bidx of an ndim-d result reads: aligned at
 * the right, block 0 along axes where the leaf broadcasts. */
static void leaf_block(const cask_array *leaf, int ndim, const int64_t *shape,
                       const int64_t *bidx, int64_t *lidx) {
  for (int j = 0; j < leaf->ndim; j++) {
    int i = j + ndim - leaf->ndim;
    lidx[j] = leaf->shape[j] == 1 && shape[i] != 1 ? 0 : bidx[i];
  }
}

/* Lower the leaves of program p for block bidx of a (ndim, shape: a's). */
int cask__lower_leaves(cask__lower *L, cask_array *a, const int64_t *bidx, cask_array **leaves,
                       uint32_t nleaves, cask_task_id *deps) {
  for (uint32_t l = 0; l < nleaves; l++) {
    int64_t lidx[CASK_MAX_NDIM];
    leaf_block(leaves[l], a->ndim, a->shape, bidx, lidx);
    int rc = cask__lower_block(L, leaves[l], lidx, &deps[l]);
    if (rc) return rc;
  }
  return CASK_OK;
}

int cask__mark_unknown_extents(const cask_array *a, cask_array *const *leaves, uint32_t nleaves, int64_t *ext) {
  for (int i = 0; i < a->ndim; i++) {
    if (!(a->unknown & (1u << i))) continue;
    uint32_t l = 0;
    for (; l < nleaves; l++) {
      int j = i - (a->ndim - leaves[l]->ndim);
      if (j >= 0 && (leaves[l]->unknown & (1u << j))) break;
    }
    if (l == nleaves) return cask__fail(a->ctx, CASK_EINVAL, "no input gives the length of axis %d", i);
    ext[i] = -(int64_t)(1 + l);
  }
  return CASK_OK;
}

int cask__resolve_extents(cask_task_io *io, int ndim, int64_t *shape) {
  for (int i = 0; i < ndim; i++) {
    if (shape[i] >= 0) continue;
    uint64_t l = (uint64_t)(-(shape[i] + 1));
    const cask_block *b = l < io->ninputs ? io->inputs[l] : NULL;
    int j = b ? i - (ndim - cask_block_ndim(b)) : -1;
    if (j < 0) {
      cask__fmt(io->errmsg, io->errmsg_cap, "axis %d's length names no input", i);
      return CASK_EINVAL;
    }
    shape[i] = cask_block_shape(b)[j];
  }
  return CASK_OK;
}

int64_t cask__block_bytes(cask__lower *L, const cask_array *a, const int64_t *ext, cask_array *const *leaves,
                          const cask_task_id *deps) {
  int64_t n = 1;
  for (int i = 0; i < a->ndim; i++) {
    if (ext[i] >= 0) {
      n *= ext[i];
      continue;
    }
    /* at most the unknown leaf's block, which is at most what it holds */
    int64_t l = -(ext[i] + 1);
    int64_t e = cask_graph_size_estimate(L->g, deps[l]);
    return e > 0 ? e / (int64_t)cask__itemsize(leaves[l]) * (int64_t)cask__itemsize(a) : 0;
  }
  return n * (int64_t)cask__itemsize(a);
}

/* ---- the fused elementwise op ---------------------------------------- */

typedef struct kernel_args {
  int32_t ndim, pad;
  int64_t shape[CASK_MAX_NDIM];
  cask__program prog; /* only prog.ninsn instructions are stored */
} kernel_args;

/* Strides of each leaf block against the evaluated block's axes; each
 * leaf must have the dtype its load in p expects. */
int cask__leaf_views(cask_task_io *io, const cask__program *p, int ndim, const int64_t *shape,
                     cask__leaf_view *v) {
  for (size_t l = 0; l < io->ninputs; l++) {
    const cask_block *b = io->inputs[l];
    int want = cask__program_leaf_dtype(p, (uint32_t)l);
    if (!b || (int)cask_block_dtype(b) != want || cask_block_ndim(b) > ndim) {
      cask__fmt(io->errmsg, io->errmsg_cap, "input %zu is not a %s block of at most %d axes", l,
                want >= 0 ? cask_dtype_name((cask_dtype)want) : "?", ndim);
      return CASK_EINVAL;
    }
    int bn = cask_block_ndim(b);
    const int64_t *bs = cask_block_shape(b);
    int64_t s = 1;
    v[l].data = cask_block_data(b);
    v[l].itemsize = cask_dtype_size(cask_block_dtype(b));
    for (int i = ndim - 1; i >= 0; i--) {
      int j = i - (ndim - bn);
      if (j < 0) {
        v[l].stride[i] = 0;
        continue;
      }
      if (bs[j] != shape[i] && bs[j] != 1) {
        cask__fmt(io->errmsg, io->errmsg_cap, "input %zu has extent %lld on axis %d, the block %lld", l,
                  (long long)bs[j], i, (long long)shape[i]);
        return CASK_EINVAL;
      }
      v[l].stride[i] = bs[j] == 1 && shape[i] != 1 ? 0 : s;
      s *= bs[j];
    }
  }
  return CASK_OK;
}

typedef struct store_ctx {
  const cask__program *p;
  char *dst;
  size_t itemsize;
  cask__regbuf *scratch;
} store_ctx;

static int store_piece(void *user, const cask__piece *pc, int64_t off, const int64_t *row) {
  store_ctx *s = user;
  cask__program_eval(s->p, pc, s->scratch, s->dst + (size_t)off * s->itemsize);
  return CASK_OK;
}

static int kernel_run(cask_task_io *io) {
  kernel_args a;
  size_t head = offsetof(kernel_args, prog);
  if (io->args_len < head || io->args_len > sizeof a) return CASK_EINVAL;
  memcpy(&a, io->args, io->args_len);
  if (a.ndim < 0 || a.ndim > CASK_MAX_NDIM ||
      cask__program_check(&a.prog, io->args_len - head, (uint32_t)io->ninputs)) {
    cask__fmt(io->errmsg, io->errmsg_cap, "malformed kernel arguments");
    return CASK_EINVAL;
  }
  cask__leaf_view views[CASK__MAX_LEAVES];
  int rc = cask__resolve_extents(io, a.ndim, a.shape);
  if (!rc) rc = cask__leaf_views(io, &a.prog, a.ndim, a.shape, views);
  if (rc) return rc;
  if ((rc = cask_block_new((cask_dtype)a.prog.dtype, a.ndim, a.shape, &io->output))) return rc;
  /* The registers live on the worker's stack (128 KiB): allocating them
   * per task would fault in fresh pages every time. */
  _Alignas(64) cask__regbuf scratch[CASK__KERNEL_REGS];
  store_ctx s = {&a.prog, cask_block_data(io->output), cask_dtype_size((cask_dtype)a.prog.dtype), scratch};
  return cask__for_pieces(a.ndim, a.shape, (uint32_t)io->ninputs, views, !cask__program_has_gen(&a.prog),
                          store_piece, &s);
}

/* "array.kernel_into": the same kernel writing straight into the caller's
 * buffer of a cask_compute (no result block: on a machine where first
 * touching a page costs microseconds, fresh result blocks and a copy cost
 * more than the arithmetic). Holds a pointer, so it is never serialized. */
typedef struct into_args {
  char *dst;
  int64_t gshape[CASK_MAX_NDIM], off[CASK_MAX_NDIM];
  kernel_args k; /* variable length: last */
} into_args;

typedef struct into_ctx {
  const into_args *a;
  cask__regbuf *scratch;
  size_t w; /* itemsize */
  int64_t gstride[CASK_MAX_NDIM];
  int64_t base; /* flat offset of the block's first element */
  int contiguous; /* the block is one run of the destination */
} into_ctx;

/* Pieces are cut exactly as kernel_run cuts them (the block's own layout),
 * so a result has the same bits whether it lands in a block or in the
 * caller's buffer: a vector loop's tail runs the scalar math functions, and
 * where the tail falls must not depend on the destination. */
static int into_piece(void *user, const cask__piece *pc, int64_t off, const int64_t *row) {
  into_ctx *c = user;
  const kernel_args *k = &c->a->k;
  if (c->contiguous) {
    cask__program_eval(&k->prog, pc, c->scratch, c->a->dst + (size_t)(c->base + off) * c->w);
    return CASK_OK;
  }
  _Alignas(64) char v[CASK__KERNEL_PIECE * 8];
  cask__program_eval(&k->prog, pc, c->scratch, v);
  int nd = k->ndim;
  int64_t last = k->shape[nd - 1];
  /* Block-local flat offset -> destination, one row segment at a time. */
  for (int64_t done = 0; done < pc->n;) {
    int64_t at = off + done, rest = at, dst = c->base;
    for (int i = nd - 1; i >= 0; i--) {
      dst += (rest % k->shape[i]) * c->gstride[i];
      rest /= k->shape[i];
    }
    int64_t len = last - at % last;
    if (len > pc->n - done) len = pc->n - done;
    memcpy(c->a->dst + (size_t)dst * c->w, v + (size_t)done * c->w, (size_t)len * c->w);
    done += len;
  }
  (void)row;
  return CASK_OK;
}

static int kernel_into_run(cask_task_io *io) {
  into_args a;
  size_t head = offsetof(into_args, k) + offsetof(kernel_args, prog);
  if (io->args_len < head || io->args_len > sizeof a) return CASK_EINVAL;
  memcpy(&a, io->args, io->args_len);
  if (a.k.ndim < 0 || a.k.ndim > CASK_MAX_NDIM ||
      cask__program_check(&a.k.prog, io->args_len - head, (uint32_t)io->ninputs))
    return CASK_EINVAL;
  cask__leaf_view views[CASK__MAX_LEAVES];
  int rc = cask__leaf_views(io, &a.k.prog, a.k.ndim, a.k.shape, views);
  if (rc) return rc;
  into_ctx c = {&a, NULL, cask_dtype_size((cask_dtype)a.k.prog.dtype), {0}, 0, 1};
  int64_t s = 1;
  for (int i = a.k.ndim - 1; i >= 0; i--) {
    c.gstride[i] = s;
    c.base += a.off[i] * s;
    s *= a.gshape[i];
  }
  int i = 0;
  while (i < a.k.ndim && a.k.shape[i] == 1) i++;
  for (int j = i + 1; j < a.k.ndim; j++) c.contiguous &= a.k.shape[j] == a.gshape[j];
  _Alignas(64) cask__regbuf scratch[CASK__KERNEL_REGS]; /* see kernel_run */
  c.scratch = scratch;
  return cask__for_pieces(a.k.ndim, a.k.shape, (uint32_t)io->ninputs, views,
                          !cask__program_has_gen(&a.k.prog), into_piece, &c);
}

static const cask_op *op_kernel, *op_kernel_into;

int cask__lower_into(cask__lower *L, cask_array *a, const int64_t *bidx, void *dst,
                     cask_task_id *out) {
  into_args x;
  memset(&x, 0, sizeof x);
  cask_array *leaves[CASK__MAX_LEAVES];
  int rc = cask__program_compile(a, &x.k.prog, leaves);
  cask_task_id deps[CASK__MAX_LEAVES];
  if (!rc) rc = cask__lower_leaves(L, a, bidx, leaves, x.k.prog.nleaves, deps);
  if (rc) return rc;
  x.dst = dst;
  x.k.ndim = a->ndim;
  cask__block_box(a, bidx, x.off, x.k.shape);
  cask__program_place(&x.k.prog, a->ndim, x.off);
  for (int i = 0; i < a->ndim; i++) x.gshape[i] = a->shape[i];
  char key[512]; /* not the block's key: the task holds no block another task could use */
  cask__block_key(key, sizeof key, "to_buffer", a->token, a->ndim, bidx);
  size_t len = offsetof(into_args, k) + offsetof(kernel_args, prog) + cask__program_size(&x.k.prog);
  rc = cask__graph_add(L->g, key, op_kernel_into, &x, len, deps, x.k.prog.nleaves, out);
  if (!rc) rc = cask__stamp_reader(L, *out, bidx, leaves, x.k.prog.nleaves);
  if (!rc) { /* what it writes, though it holds no block */
    int64_t n = 1;
    for (int i = 0; i < a->ndim; i++) n *= x.k.shape[i];
    cask_graph_set_size(L->g, *out, n * (int64_t)cask__itemsize(a));
    if (L->G && cask__anchor_on(L->G, a)) rc = cask__stamp_root(L, *out, bidx); /* a kernel of generated blocks */
  }
  return rc;
}

static int lower_elementwise(cask__lower *L, cask_array *a, const int64_t *bidx, const char *key,
                             cask_task_id *out) {
  kernel_args k;
  memset(&k, 0, sizeof k);
  cask_array *leaves[CASK__MAX_LEAVES];
  int rc = cask__program_compile(a, &k.prog, leaves);
  if (rc) return rc;
  cask_task_id deps[CASK__MAX_LEAVES];
  if ((rc = cask__lower_leaves(L, a, bidx, leaves, k.prog.nleaves, deps))) return rc;
  int64_t off[CASK_MAX_NDIM];
  k.ndim = a->ndim;
  cask__block_box(a, bidx, off, k.shape);
  if (a->unknown && (rc = cask__mark_unknown_extents(a, leaves, k.prog.nleaves, k.shape))) return rc;
  cask__program_place(&k.prog, a->ndim, off);
  size_t len = offsetof(kernel_args, prog) + cask__program_size(&k.prog);
  rc = cask__graph_add(L->g, key, op_kernel, &k, len, deps, k.prog.nleaves, out);
  if (!rc) cask_graph_set_size(L->g, *out, cask__block_bytes(L, a, k.shape, leaves, deps));
  if (!rc) rc = cask__stamp_reader(L, *out, bidx, leaves, k.prog.nleaves);
  return rc;
}

const cask__node_class cask__elementwise_class = {.name = "elementwise", .lower = lower_elementwise,
                                                  .aligned = 1};

void cask__register_kernel_ops(void) {
  cask_op_register(&(cask_op){.name = "array.kernel", .run = kernel_run, .flags = CASK_OP_PURE}, &op_kernel);
  /* writes into a caller's buffer, whose address its arguments hold */
  cask__op_register_private(&(cask_op){.name = "array.kernel_into", .run = kernel_into_run},
                            &op_kernel_into);
}
