/* array.c - contexts and array nodes: creation of a node, its token, its
 * reference count, accessors, a context's lifetime and error message (a
 * context is created in ../init.c, after the ops are registered).
 * The one thing to know: a node's token hashes everything that defines its
 * values (kind, op, parameters, shape, chunks, inputs' tokens); lowering
 * names block tasks after it, so two equal nodes share their tasks. */
#include <stdarg.h>
#include <stdio.h>

#include "array-int.h"

/* Arrays hold their context: using one after cask_ctx_free crashed in
 * cask_run. The context (and its runtime's threads) now lives until its
 * last array is released. */
void cask__ctx_release(cask_ctx *ctx) {
  if (atomic_fetch_sub_explicit(&ctx->refs, 1, memory_order_acq_rel) != 1) return;
  cask_runtime_free(ctx->rt);
  cask__free(ctx);
}

void cask_ctx_free(cask_ctx *ctx) {
  if (ctx) cask__ctx_release(ctx);
}

const char *cask_ctx_errmsg(const cask_ctx *ctx) { return ctx ? ctx->errmsg : ""; }
cask_runtime *cask_ctx_runtime(cask_ctx *ctx) { return ctx ? ctx->rt : NULL; }

int cask__fail(cask_ctx *ctx, int rc, const char *fmt, ...) {
  if (ctx) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(ctx->errmsg, sizeof ctx->errmsg, fmt, ap);
    va_end(ap);
  }
  return rc;
}

void cask__shape_str(char *buf, size_t cap, int ndim, const int64_t *shape) {
  size_t off = (size_t)snprintf(buf, cap, "(");
  for (int i = 0; i < ndim && off < cap; i++)
    off += (size_t)snprintf(buf + off, cap - off, "%s%lld", i ? ", " : "", (long long)shape[i]);
  if (off < cap) snprintf(buf + off, cap - off, ndim == 1 ? ",)" : ")");
}

int64_t cask__nblocks(const cask_array *a, int axis) {
  if (a->unknown & (1u << axis)) return a->ublocks[axis];
  int64_t c = a->chunk[axis];
  return a->shape[axis] == 0 ? 1 : (a->shape[axis] + c - 1) / c;
}

int cask__next_block(const cask_array *a, int64_t *bidx) {
  int64_t nb[CASK_MAX_NDIM];
  for (int i = 0; i < a->ndim; i++) nb[i] = cask__nblocks(a, i);
  return cask__index_next(a->ndim, bidx, nb) >= 0;
}

/* Chunks giving a at most `target` blocks: the leading axes grow first
 * (whole rows are the cheapest blocks to read). */
static void chunks_for(const cask_array *a, int64_t target, int64_t *c) {
  int64_t need = 1, nb = 1;
  for (int i = 0; i < a->ndim; i++) nb *= cask__nblocks(a, i);
  need = (nb + target - 1) / target;
  for (int i = 0; i < a->ndim; i++) {
    int64_t n = cask__nblocks(a, i);
    c[i] = a->chunk[i];
    if (need <= 1) continue;
    if (n >= need) {
      int64_t keep = n / need; /* blocks left along this axis */
      c[i] = (a->shape[i] + keep - 1) / keep;
      need = 1;
    } else {
      c[i] = a->shape[i] ? a->shape[i] : 1;
      need = (need + n - 1) / n;
    }
  }
}

static int64_t block_count(const cask_array *a) {
  int64_t nb = 1;
  for (int i = 0; i < a->ndim && nb <= CASK__MAX_ARRAY_TASKS; i++) nb *= cask__nblocks(a, i);
  return nb;
}

typedef struct estimate {
  int64_t tasks, most;
  const cask_array *biggest;
  const cask_array **seen; /* an open-addressing set of nodes walked */
  size_t nseen, cap;       /* cap: a power of two, at least twice nseen */
} estimate;

/* Adds a to the set: 1 if new, 0 if there, <0 on no memory. A list took
 * a quadratic number of looks on expressions of thousands of nodes. */
static int seen_add(estimate *e, const cask_array *a) {
  if (2 * (e->nseen + 1) > e->cap) {
    size_t cap = e->cap ? 2 * e->cap : 64;
    const cask_array **t = cask__calloc(cap, sizeof *t);
    if (!t) return CASK_ENOMEM;
    for (size_t i = 0; i < e->cap; i++)
      if (e->seen[i])
        for (size_t h = cask__mix64((uintptr_t)e->seen[i]) & (cap - 1);; h = (h + 1) & (cap - 1))
          if (!t[h]) {
            t[h] = e->seen[i];
            break;
          }
    cask__free(e->seen);
    e->seen = t;
    e->cap = cap;
  }
  for (size_t h = cask__mix64((uintptr_t)a) & (e->cap - 1);; h = (h + 1) & (e->cap - 1)) {
    if (e->seen[h] == a) return 0;
    if (!e->seen[h]) {
      e->seen[h] = a;
      e->nseen++;
      return 1;
    }
  }
}

static void count(estimate *e, const cask_array *a, int64_t nb) {
  e->tasks += nb < CASK__MAX_ARRAY_TASKS ? nb : CASK__MAX_ARRAY_TASKS + 1;
  if (nb > e->most) e->most = nb, e->biggest = a;
}

/* Tasks the nodes below a make when every block of a is wanted: a task per
 * block of each node that is not fused into a kernel (elementwise nodes and
 * sources are), a partial per input block of a reduction; below a slice
 * only some blocks are made, so nothing is counted there. */
static int walk(estimate *e, const cask_array *a) {
  int fresh = seen_add(e, a);
  if (fresh <= 0) return fresh;
  if (a->kind == CASK__NODE_REDUCE) count(e, a->in[0], block_count(a->in[0]));
  else if (!cask__is_elementwise(a) && a->kind != CASK__NODE_SOURCE) count(e, a, block_count(a));
  if (a->kind == CASK__NODE_EXT && a->cls->selects) return CASK_OK;
  for (int k = 0; k < a->nin && e->tasks <= CASK__MAX_ARRAY_TASKS; k++) {
    int rc = walk(e, a->in[k]);
    if (rc) return rc;
  }
  return CASK_OK;
}

int cask__check_block_count(int n, cask_array *const *arrays) {
  estimate e = {0};
  int rc = CASK_OK;
  for (int k = 0; k < n && !rc; k++) {
    if (cask__is_elementwise(arrays[k]) || arrays[k]->kind == CASK__NODE_SOURCE)
      count(&e, arrays[k], block_count(arrays[k])); /* its kernels */
    rc = walk(&e, arrays[k]);
  }
  cask__free(e.seen);
  if (rc) return cask__fail(arrays[0]->ctx, rc, "out of memory estimating the graph's size");
  if (e.tasks <= CASK__MAX_ARRAY_TASKS) return CASK_OK;
  const cask_array *a = e.biggest;
  int64_t c[CASK_MAX_NDIM];
  chunks_for(a, CASK__MAX_ARRAY_TASKS / 4, c);
  char shape[256], chunks[256], better[256];
  cask__shape_str(shape, sizeof shape, a->ndim, a->shape);
  cask__shape_str(chunks, sizeof chunks, a->ndim, a->chunk);
  cask__shape_str(better, sizeof better, a->ndim, c);
  return cask__fail(a->ctx, CASK_ETOOBIG,
                    "the graph would have more than %lld tasks (an array of shape %s in chunks %s alone has "
                    "%s%lld blocks): an array graph is built for at most %lld (2^23) tasks, whose keys and "
                    "arguments fill 4 GiB arenas; use larger chunks, e.g. %s",
                    (long long)CASK__MAX_ARRAY_TASKS, shape, chunks, e.most > CASK__MAX_ARRAY_TASKS ? "more than " : "",
                    (long long)(e.most > CASK__MAX_ARRAY_TASKS ? CASK__MAX_ARRAY_TASKS : e.most),
                    (long long)CASK__MAX_ARRAY_TASKS, better);
}

void cask__block_box(const cask_array *a, const int64_t *bidx, int64_t *off, int64_t *ext) {
  for (int i = 0; i < a->ndim; i++) {
    if (a->unknown & (1u << i)) { /* known when the block exists */
      off[i] = 0;
      ext[i] = CASK_UNKNOWN;
      continue;
    }
    off[i] = bidx[i] * a->chunk[i];
    int64_t end = off[i] + a->chunk[i];
    ext[i] = (end < a->shape[i] ? end : a->shape[i]) - off[i];
  }
}

void cask__set_unknown(cask_array *a, int axis, int64_t nblocks, uint64_t key) {
  a->unknown |= 1u << axis;
  a->shape[axis] = a->chunk[axis] = CASK_UNKNOWN;
  a->ublocks[axis] = nblocks;
  a->ukey[axis] = key;
}

int cask__need_sizes(const cask_array *a, const char *fn) {
  if (!a->unknown) return CASK_OK;
  int axis = __builtin_ctz(a->unknown);
  char s[256];
  cask__shape_str(s, sizeof s, a->ndim, a->shape);
  return cask__fail(a->ctx, CASK_EINVAL,
                    "%s: the array of shape %s (-1: unknown) has blocks of unknown length along axis %d (their sizes "
                    "depend on data, as after x[mask]); %s needs them: compute them first with "
                    "cask_compute_chunk_sizes (compute_chunk_sizes(x) in an expression)",
                    fn, s, axis, fn);
}

/* An elementwise node's axes take their inputs' unknown lengths (right
 * aligned; an input of extent 1 there broadcasts); two inputs of unknown
 * lengths on one axis must have the same blocks. Other kinds refuse inputs
 * of unknown lengths unless their class takes them; reductions set theirs
 * (cask_reduce). */
static int inherit_unknown(cask_array *a, const cask__node_class *cls) {
  for (int k = 0; k < a->nin; k++) {
    const cask_array *x = a->in[k];
    if (!x->unknown) continue;
    if (!cask__is_elementwise(a)) {
      if (a->kind == CASK__NODE_REDUCE || (cls && cls->unknown_ok)) continue;
      return cask__need_sizes(x, cls && cls->name ? cls->name : "this operation");
    }
    for (int j = 0; j < x->ndim; j++) {
      if (!(x->unknown & (1u << j))) continue;
      int i = j + a->ndim - x->ndim;
      if ((a->unknown & (1u << i)) && a->ukey[i] != x->ukey[j])
        return cask__fail(a->ctx, CASK_EINVAL,
                          "two arrays of unknown block lengths along axis %d come from different selections: "
                          "their elements cannot be matched without computing the sizes "
                          "(cask_compute_chunk_sizes, compute_chunk_sizes(x) in an expression) and rechunking", i);
      cask__set_unknown(a, i, x->ublocks[j], x->ukey[j]);
    }
  }
  if (a->unknown & (a->unknown - 1)) { /* compute_chunk_sizes, and so every write, handles one such axis */
    char s[256];
    cask__shape_str(s, sizeof s, a->ndim, a->shape);
    return cask__fail(a->ctx, CASK_EINVAL,
                      "an elementwise result of shape %s (-1: unknown) would have two axes of unknown block lengths "
                      "(broadcasting two selections against each other); cask handles one: compute the sizes of "
                      "one operand first (cask_compute_chunk_sizes, compute_chunk_sizes(x) in an expression)", s);
  }
  return CASK_OK;
}

int cask__node_new_n(cask_ctx *ctx, cask__kind kind, const cask__node_class *cls, int op,
                     cask_dtype dtype, int ndim, const int64_t *shape, const int64_t *chunk,
                     int nin, cask_array *const *in, cask_array **out) {
  *out = NULL;
  if ((unsigned)dtype >= CASK_DTYPE_COUNT)
    return cask__fail(ctx, CASK_EINVAL, "dtype %d is not a cask_dtype", (int)dtype);
  cask_array *a = cask__calloc(1, sizeof *a);
  if (!a) return cask__fail(ctx, CASK_ENOMEM, "out of memory creating an array");
  a->in = a->in_inline;
  if (nin > 2 && !(a->in = cask__calloc((size_t)nin, sizeof *a->in))) {
    cask__free(a);
    return cask__fail(ctx, CASK_ENOMEM, "out of memory creating an array of %d inputs", nin);
  }
  atomic_init(&a->refs, 1);
  a->ctx = ctx;
  atomic_fetch_add_explicit(&ctx->refs, 1, memory_order_relaxed);
  a->kind = kind;
  a->cls = cls;
  a->op = op;
  a->dtype = dtype;
  a->ndim = ndim;
  for (int i = 0; i < ndim; i++) {
    a->shape[i] = shape[i];
    /* 0 (or larger than the axis) means one chunk over the whole axis; an
     * empty axis keeps chunk 1 so block arithmetic never divides by 0. */
    int64_t c = chunk && chunk[i] > 0 && chunk[i] < shape[i] ? chunk[i] : shape[i];
    a->chunk[i] = c > 0 ? c : 1;
  }
  /* Bounded depth keeps lowering's recursion far from the stack's end. */
  int depth = 0;
  for (int i = 0; i < nin; i++)
    if (in[i]) {
      a->in[a->nin++] = cask_array_retain(in[i]);
      if (in[i]->depth > depth) depth = in[i]->depth;
    }
  a->depth = 1 + depth;
  int rc = inherit_unknown(a, cls);
  if (rc) {
    cask_array_release(a);
    return rc;
  }
  if (a->depth > CASK__MAX_DEPTH) {
    cask_array_release(a);
    return cask__fail(ctx, CASK_ETOOBIG, "the expression is more than %d operations deep; compute a part first",
                      CASK__MAX_DEPTH);
  }
  *out = a;
  return CASK_OK;
}

int cask__node_new(cask_ctx *ctx, cask__kind kind, const cask__node_class *cls, int op,
                   cask_dtype dtype, int ndim, const int64_t *shape, const int64_t *chunk,
                   cask_array *in0, cask_array *in1, cask_array **out) {
  cask_array *in[2] = {in0, in1};
  return cask__node_new_n(ctx, kind, cls, op, dtype, ndim, shape, chunk, 2, in, out);
}

static void free_ext(const cask__node_class *cls, void *ext) {
  if (!ext) return;
  if (cls && cls->free_ext) cls->free_ext(ext);
  else cask__free(ext);
}

int cask__node_new_ext(cask_ctx *ctx, const cask__node_class *cls, void *ext, cask_dtype dtype,
                       int ndim, const int64_t *shape, const int64_t *chunk, int nin,
                       cask_array *const *in, cask_array **out) {
  int rc = cask__node_new_n(ctx, CASK__NODE_EXT, cls, 0, dtype, ndim, shape, chunk, nin, in, out);
  if (rc) {
    free_ext(cls, ext);
    return rc;
  }
  (*out)->ext = ext;
  return CASK_OK;
}

void cask__node_seal(cask_array *a, const void *params, size_t len) {
  uint64_t h = cask__hash(&a->kind, sizeof a->kind, 0x617272);
  h = cask__hash(&a->op, sizeof a->op, h);
  h = cask__hash(&a->dtype, sizeof a->dtype, h);
  /* the built-in kinds are told apart by kind alone (tokens, hence task
   * keys, are as they were before every node had a class) */
  if (a->kind == CASK__NODE_EXT) h = cask__hash(a->cls->name, strlen(a->cls->name), h);
  h = cask__hash(&a->ndim, sizeof a->ndim, h);
  h = cask__hash(a->shape, sizeof a->shape[0] * (size_t)a->ndim, h);
  h = cask__hash(a->chunk, sizeof a->chunk[0] * (size_t)a->ndim, h);
  if (a->unknown) { /* tokens of arrays of known lengths are as before */
    h = cask__hash(&a->unknown, sizeof a->unknown, h);
    h = cask__hash(a->ublocks, sizeof a->ublocks[0] * (size_t)a->ndim, h);
    h = cask__hash(a->ukey, sizeof a->ukey[0] * (size_t)a->ndim, h);
  }
  h = cask__hash(params, len, h);
  h = cask__hash(&a->nin, sizeof a->nin, h);
  for (int i = 0; i < a->nin; i++) h = cask__hash(&a->in[i]->token, sizeof a->in[i]->token, h);
  a->token = h;
}

cask_array *cask_array_retain(cask_array *a) {
  if (a) atomic_fetch_add_explicit(&a->refs, 1, memory_order_relaxed);
  return a;
}

void cask_array_release(cask_array *a) {
  while (a && atomic_fetch_sub_explicit(&a->refs, 1, memory_order_acq_rel) == 1) {
    if (a->kind == CASK__NODE_SOURCE && a->p.source.release)
      a->p.source.release(a->p.source.user, (void *)a->p.source.data);
    free_ext(a->cls, a->ext);
    cask_array *next = a->nin ? a->in[0] : NULL;
    /* Iterate on the first input, recurse on the others: a long chain of
     * operations never deepens the stack. */
    for (int i = 1; i < a->nin; i++) cask_array_release(a->in[i]);
    if (a->in != a->in_inline) cask__free(a->in);
    cask_ctx *ctx = a->ctx;
    cask__free(a);
    cask__ctx_release(ctx);
    a = next;
  }
}

int cask_array_ndim(const cask_array *a) { return a ? a->ndim : 0; }
const int64_t *cask_array_shape(const cask_array *a) { return a ? a->shape : NULL; }
const int64_t *cask_array_chunks(const cask_array *a) { return a ? a->chunk : NULL; }
cask_dtype cask_array_dtype(const cask_array *a) { return a ? a->dtype : CASK_DTYPE_COUNT; }
int64_t cask_array_size(const cask_array *a) {
  if (!a) return 0;
  if (a->unknown) return CASK_UNKNOWN;
  int64_t n = 1;
  for (int i = 0; i < a->ndim; i++) n *= a->shape[i];
  return n;
}
int64_t cask_array_nblocks(const cask_array *a, int axis) {
  return a && axis >= 0 && axis < a->ndim ? cask__nblocks(a, axis) : 0;
}
