/* create.c - creation of arrays (full, empty, arange, linspace, eye,
 * random, a caller's buffer): the source node, its class and the ops that
 * make its blocks (their values come from ../kernel/gen.c).
 * The one thing to know: every source computes an element from its flat
 * index in the source alone, read through the node's affine view (base +
 * index . fstride), so random values never depend on the chunking, and a
 * slice or transpose of a source is another source that generates only
 * the elements it keeps. */
#include <math.h>
#include <stdio.h>

#include "ops.h"
#include "../core/dtype.h"
#include "../kernel/gen.h"

static const char *const src_names[CASK__SRC_COUNT] = {"full", "empty", "arange", "linspace",
                                                 "eye", "random", "random", "buffer"};

static const char *source_name(const cask_array *a) { return src_names[a->op]; }

/* What a block task needs: the source's parameters (without its view) and
 * the block's first flat index and strides. */
typedef struct source_args {
  int32_t op, dtype, ndim, pad;
  int64_t ext[CASK_MAX_NDIM];
  int64_t first;                  /* flat source index of the block's first element */
  int64_t fstride[CASK_MAX_NDIM]; /* per block axis */
  double a, b, c;
  int64_t count;
  uint64_t seed;
  const void *data; /* BUFFER only (not serializable) */
} source_args;

static int check_shape(cask_ctx *ctx, const char *what, cask_dtype dtype, int ndim,
                       const int64_t *shape, const int64_t *chunks) {
  if (!ctx) return CASK_EINVAL;
  if ((unsigned)dtype >= CASK_DTYPE_COUNT)
    return cask__fail(ctx, CASK_EINVAL, "%s: dtype %d is not a cask_dtype", what, (int)dtype);
  if (ndim < 0 || ndim > CASK_MAX_NDIM || (ndim && !shape))
    return cask__fail(ctx, CASK_EINVAL, "%s: ndim %d is not in [0, %d]", what, ndim, CASK_MAX_NDIM);
  int64_t n = 1;
  for (int i = 0; i < ndim; i++) {
    if (shape[i] < 0)
      return cask__fail(ctx, CASK_EINVAL, "%s: the extent of axis %d is %lld, negative", what, i, (long long)shape[i]);
    if (chunks && chunks[i] < 0)
      return cask__fail(ctx, CASK_EINVAL, "%s: the chunk of axis %d is %lld, negative", what, i, (long long)chunks[i]);
    if (shape[i] && n > (INT64_MAX / 8) / shape[i])
      return cask__fail(ctx, CASK_ETOOBIG, "%s: the shape has more than 2^60 elements", what);
    n *= shape[i];
  }
  return CASK_OK;
}

/* A source node over C-order flat indices of shape (the identity view);
 * the caller sets the parameters in (*out)->p.source and seals it. */
static int make_source(cask_ctx *ctx, const char *what, cask__source_op op, cask_dtype dtype,
                       int ndim, const int64_t *shape, const int64_t *chunks, cask_array **out) {
  if (!out) return CASK_EINVAL;
  *out = NULL;
  int rc = check_shape(ctx, what, dtype, ndim, shape, chunks);
  if (rc) return rc;
  if ((rc = cask__node_new(ctx, CASK__NODE_SOURCE, &cask__source_class, op, dtype, ndim, shape, chunks, NULL,
                           NULL, out)))
    return rc;
  int64_t s = 1;
  for (int i = ndim - 1; i >= 0; i--) {
    (*out)->p.source.fstride[i] = s;
    s *= shape[i];
  }
  return CASK_OK;
}

/* Everything that defines the values, hashed into the token. A buffer
 * counts by its contents, not its address: the address differs between
 * processes, the contents are what MPI ranks must agree on (a rank given
 * other bytes holds other task keys, and the ranks' graph digests say
 * which task differs), and arrays over different bytes never share
 * blocks. */
static void seal_source(cask_array *a) {
  const cask__source *s = &a->p.source;
  struct {
    double a, b, c;
    int64_t count;
    uint64_t seed;
    uint64_t content;
    int64_t base;
    int64_t fstride[CASK_MAX_NDIM];
  } key;
  memset(&key, 0, sizeof key);
  key.a = s->a, key.b = s->b, key.c = s->c, key.count = s->count, key.seed = s->seed;
  key.content = s->content, key.base = s->base;
  memcpy(key.fstride, s->fstride, sizeof key.fstride[0] * (size_t)a->ndim);
  cask__node_seal(a, &key, sizeof key);
}

/* full, zeros and ones: errors name the call the user made */
static int full_named(cask_ctx *ctx, const char *what, cask_dtype dtype, double value, int ndim,
                      const int64_t *shape, const int64_t *chunks, cask_array **out) {
  int rc = make_source(ctx, what, CASK__SRC_FULL, dtype, ndim, shape, chunks, out);
  if (rc) return rc;
  (*out)->p.source.a = value;
  seal_source(*out);
  return CASK_OK;
}

int cask_full(cask_ctx *ctx, cask_dtype dtype, double value, int ndim, const int64_t *shape,
              const int64_t *chunks, cask_array **out) {
  return full_named(ctx, "full", dtype, value, ndim, shape, chunks, out);
}

int cask_zeros(cask_ctx *ctx, cask_dtype dtype, int ndim, const int64_t *shape,
               const int64_t *chunks, cask_array **out) {
  return full_named(ctx, "zeros", dtype, 0.0, ndim, shape, chunks, out);
}

int cask_ones(cask_ctx *ctx, cask_dtype dtype, int ndim, const int64_t *shape,
              const int64_t *chunks, cask_array **out) {
  return full_named(ctx, "ones", dtype, 1.0, ndim, shape, chunks, out);
}

int cask_empty(cask_ctx *ctx, cask_dtype dtype, int ndim, const int64_t *shape,
               const int64_t *chunks, cask_array **out) {
  int rc = make_source(ctx, "empty", CASK__SRC_EMPTY, dtype, ndim, shape, chunks, out);
  if (!rc) seal_source(*out);
  return rc;
}

int cask_arange(cask_ctx *ctx, cask_dtype dtype, double start, double stop, double step,
                int64_t chunk, cask_array **out) {
  if (!out) return CASK_EINVAL;
  *out = NULL;
  if (!(step != 0) || start != start || stop != stop || !(step == step) || isinf(start) || isinf(step))
    return cask__fail(ctx, CASK_EINVAL, "arange: start %g and step %g must be finite, step non-zero",
                      start, step);
  /* NumPy: length ceil((stop - start) / step), at least 0. */
  double len = ceil((stop - start) / step);
  if (!(len < 9.2e18)) return cask__fail(ctx, CASK_ETOOBIG, "arange: %g elements", len);
  int64_t n = len > 0 ? (int64_t)len : 0;
  int rc = make_source(ctx, "arange", CASK__SRC_ARANGE, dtype, 1, &n, &chunk, out);
  if (rc) return rc;
  (*out)->p.source.a = start;
  (*out)->p.source.b = step;
  seal_source(*out);
  return CASK_OK;
}

int cask_linspace(cask_ctx *ctx, cask_dtype dtype, double start, double stop, int64_t num,
                  int endpoint, int64_t chunk, cask_array **out) {
  if (!out) return CASK_EINVAL;
  *out = NULL;
  if (num < 0) return cask__fail(ctx, CASK_EINVAL, "linspace: num %lld is negative", (long long)num);
  int rc = make_source(ctx, "linspace", CASK__SRC_LINSPACE, dtype, 1, &num, &chunk, out);
  if (rc) return rc;
  /* NumPy: step = (stop - start) / div, y = start + i * step, and the last
   * value set to stop exactly when endpoint. */
  int64_t div = endpoint ? num - 1 : num;
  cask__source *s = &(*out)->p.source;
  s->a = start;
  s->b = div > 0 ? (stop - start) / (double)div : NAN;
  s->c = endpoint && num > 1 ? stop : start + (double)(num - 1) * s->b;
  if (num == 1) s->c = start;
  s->count = num;
  seal_source(*out);
  return CASK_OK;
}

int cask_eye(cask_ctx *ctx, cask_dtype dtype, int64_t n, int64_t m, int64_t k, int64_t chunk,
             cask_array **out) {
  int64_t shape[2] = {n, m}, chunks[2] = {chunk, chunk};
  int rc = make_source(ctx, "eye", CASK__SRC_EYE, dtype, 2, shape, chunks, out);
  if (rc) return rc;
  (*out)->p.source.a = (double)k;
  (*out)->p.source.b = (double)m;
  seal_source(*out);
  return CASK_OK;
}

static int random_node(cask_ctx *ctx, uint64_t seed, cask__source_op op, cask_dtype dtype,
                       int ndim, const int64_t *shape, const int64_t *chunks, cask_array **out) {
  const char *what = op == CASK__SRC_NORMAL ? "random_normal" : "random_uniform";
  if (ctx && dtype != CASK_F64 && dtype != CASK_F32) {
    if (out) *out = NULL;
    return cask__fail(ctx, CASK_EINVAL, "%s: dtype %s is not float64 or float32", what,
                      cask_dtype_name(dtype) ? cask_dtype_name(dtype) : "?");
  }
  int rc = make_source(ctx, what, op, dtype, ndim, shape, chunks, out);
  if (rc) return rc;
  (*out)->p.source.seed = seed;
  seal_source(*out);
  return CASK_OK;
}

int cask_random_uniform(cask_ctx *ctx, uint64_t seed, cask_dtype dtype, int ndim,
                        const int64_t *shape, const int64_t *chunks, cask_array **out) {
  return random_node(ctx, seed, CASK__SRC_UNIFORM, dtype, ndim, shape, chunks, out);
}

int cask_random_normal(cask_ctx *ctx, uint64_t seed, cask_dtype dtype, int ndim,
                       const int64_t *shape, const int64_t *chunks, cask_array **out) {
  return random_node(ctx, seed, CASK__SRC_NORMAL, dtype, ndim, shape, chunks, out);
}

/* A hash of a buffer's bytes, for its token: four independent lanes of
 * xxHash64's round (the word's product is off the lane's chain), so it
 * reads at about the speed of a copy rather than of one chain of
 * multiplications (cask_from_buffer reads the whole buffer once). */
static uint64_t content_hash(const void *data, size_t len) {
  if (!len) return 0;
  const uint64_t p1 = 0x9e3779b185ebca87ULL, p2 = 0xc2b2ae3d27d4eb4fULL;
  const unsigned char *p = data;
  uint64_t h[4] = {0x243f6a8885a308d3ULL, 0x13198a2e03707344ULL, 0xa4093822299f31d0ULL, 0x082efa98ec4e6c89ULL};
  size_t i = 0;
  for (; i + 32 <= len; i += 32)
    for (int k = 0; k < 4; k++) {
      uint64_t v;
      memcpy(&v, p + i + 8 * k, 8);
      h[k] += v * p2;
      h[k] = ((h[k] << 31) | (h[k] >> 33)) * p1;
    }
  uint64_t r = cask__hash(p + i, len - i, len);
  for (int k = 0; k < 4; k++) r = cask__mix64(r ^ cask__mix64(h[k] + (uint64_t)k));
  return r;
}

int cask_from_buffer(cask_ctx *ctx, const void *data, cask_dtype dtype, int ndim,
                     const int64_t *shape, const int64_t *chunks,
                     void (*release)(void *, void *), void *user, cask_array **out) {
  int rc = make_source(ctx, "from_buffer", CASK__SRC_BUFFER, dtype, ndim, shape, chunks, out);
  if (rc) return rc;
  if (!data && cask_array_size(*out) > 0) {
    cask_array_release(*out);
    *out = NULL;
    return cask__fail(ctx, CASK_EINVAL, "from_buffer: data is NULL");
  }
  cask__source *s = &(*out)->p.source;
  s->data = data;
  s->content = content_hash(data, (size_t)cask_array_size(*out) * cask_dtype_size(dtype));
  s->release = release;
  s->user = user;
  seal_source(*out);
  return CASK_OK;
}

int cask__source_view(cask_array *src, int ndim, const int64_t *shape, const int64_t *chunk,
                      int64_t base, const int64_t *fstride, cask_array **out) {
  /* The view keeps src alive through its input (never lowered: a source
   * has no dependencies), so a buffer is released once, by src. */
  int rc = cask__node_new(src->ctx, CASK__NODE_SOURCE, &cask__source_class, src->op, src->dtype, ndim, shape,
                          chunk, src, NULL, out);
  if (rc) return rc;
  cask__source *s = &(*out)->p.source;
  *s = src->p.source;
  s->release = NULL;
  s->user = NULL;
  s->base = base;
  for (int i = 0; i < ndim; i++) s->fstride[i] = fstride[i];
  seal_source(*out);
  return CASK_OK;
}

/* ---- block ops --------------------------------------------------------- */

static int64_t box_size(const source_args *s) {
  int64_t n = 1;
  for (int i = 0; i < s->ndim; i++) n *= s->ext[i];
  return n;
}

/* One row of n elements (flat indices first + i * stride) into dst, in
 * the block's dtype: a caller's buffer is copied, the rest generated. */
static void gen_row(const source_args *s, int64_t first, int64_t stride, int64_t n, void *dst) {
  size_t w = cask_dtype_size(s->dtype);
  if (s->op == CASK__SRC_BUFFER) {
    const char *src = s->data;
    if (stride == 1) {
      memcpy(dst, src + (size_t)first * w, (size_t)n * w);
      return;
    }
    for (int64_t i = 0; i < n; i++) memcpy((char *)dst + i * (int64_t)w, src + (first + i * stride) * (int64_t)w, w);
    return;
  }
  cask__source_fill(s->op, s->dtype, s->a, s->b, s->c, s->count, s->seed, first, stride, n, dst);
}

/* The block's elements are one run of the buffer: every axis after the
 * first non-trivial one is whole and unit-strided in C order. */
static int box_contiguous(const source_args *s) {
  int64_t want = 1;
  for (int i = s->ndim - 1; i >= 0; i--) {
    if (s->ext[i] != 1 && s->fstride[i] != want) return 0;
    want *= s->ext[i];
  }
  return 1;
}

static int source_run(cask_task_io *io) {
  source_args s;
  if (io->args_len != sizeof s) return CASK_EINVAL;
  memcpy(&s, io->args, sizeof s);
  if (s.ndim < 0 || s.ndim > CASK_MAX_NDIM || (unsigned)s.op >= CASK__SRC_COUNT ||
      (unsigned)s.dtype >= CASK_DTYPE_COUNT || (s.op == CASK__SRC_BUFFER && !s.data && box_size(&s))) {
    cask__fmt(io->errmsg, io->errmsg_cap, "malformed source arguments");
    return CASK_EINVAL;
  }
  if (s.op == CASK__SRC_BUFFER && box_contiguous(&s))
    /* No copy: the block is a view of the caller's buffer, which the array
     * node keeps alive for as long as a computation can run. */
    return cask_block_wrap((char *)s.data + s.first * (int64_t)cask_dtype_size(s.dtype), s.dtype,
                           s.ndim, s.ext, NULL, NULL, &io->output);
  int rc = cask_block_new(s.dtype, s.ndim, s.ext, &io->output);
  if (rc) return rc;
  char *d = cask_block_data(io->output);
  int64_t total = box_size(&s);
  if (total == 0) return CASK_OK;
  int nd = s.ndim;
  size_t w = cask_dtype_size(s.dtype);
  if (nd == 0) {
    gen_row(&s, s.first, 1, 1, d);
    return CASK_OK;
  }
  /* Row by row along the last axis; an odometer over the others. */
  int64_t idx[CASK_MAX_NDIM] = {0}, len = s.ext[nd - 1];
  for (int64_t o = 0; o < total; o += len) {
    int64_t flat = s.first;
    for (int i = 0; i < nd - 1; i++) flat += idx[i] * s.fstride[i];
    gen_row(&s, flat, s.fstride[nd - 1], len, d + o * (int64_t)w);
    cask__index_next(nd - 1, idx, s.ext);
  }
  return CASK_OK;
}

static const cask_op *op_source, *op_buffer;

void cask__register_source_ops(void) {
  cask_op_register(&(cask_op){.name = "array.source", .run = source_run, .flags = CASK_OP_PURE}, &op_source);
  /* a caller's buffer: its address means nothing in another process */
  cask__op_register_private(&(cask_op){.name = "array.buffer", .run = source_run, .flags = CASK_OP_PURE}, &op_buffer);
}

static int lower_source(cask__lower *L, cask_array *a, const int64_t *bidx, const char *key,
                       cask_task_id *out) {
  const cask__source *p = &a->p.source;
  source_args s;
  memset(&s, 0, sizeof s);
  s.op = a->op;
  s.dtype = a->dtype;
  s.ndim = a->ndim;
  int64_t off[CASK_MAX_NDIM];
  cask__block_box(a, bidx, off, s.ext);
  s.first = p->base;
  for (int i = 0; i < a->ndim; i++) {
    s.first += off[i] * p->fstride[i];
    s.fstride[i] = p->fstride[i];
  }
  s.a = p->a, s.b = p->b, s.c = p->c, s.count = p->count, s.seed = p->seed, s.data = p->data;
  int rc = cask__graph_add(L->g, key, a->op == CASK__SRC_BUFFER ? op_buffer : op_source, &s, sizeof s, NULL,
                          0, out);
  if (!rc) cask_graph_set_size(L->g, *out, box_size(&s) * (int64_t)cask_dtype_size(a->dtype));
  return rc;
}

const cask__node_class cask__source_class = {.name = "source", .lower = lower_source, .prefix = source_name,
                                             .aligned = 1};
