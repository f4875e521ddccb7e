/* create.c - creation of arrays (full, arange, random, a caller's buffer)
 * and the ops that make their blocks.
 * Every block task carries the block's box (offset and extent) and the
 * array's global shape, so a block is computed from its global indices
 * alone: random values depend on the flat index, never on the chunking. */
#include <math.h>
#include <stdio.h>

#include "array-int.h"
#include "philox.h"

typedef struct source_args {
  int32_t kind, ndim;
  int64_t off[CASK_MAX_NDIM], ext[CASK_MAX_NDIM], gshape[CASK_MAX_NDIM];
  double a, b;   /* FULL: a = value; ARANGE: start, step */
  uint64_t seed; /* RANDOM */
  int32_t normal, pad;
  const double *data; /* BUFFER only (not serializable) */
} source_args;

static int check_shape(cask_ctx *ctx, const char *what, int ndim, const int64_t *shape,
                       const int64_t *chunks) {
  if (!ctx) return CASK_EINVAL;
  if (ndim < 0 || ndim > CASK_MAX_NDIM || (ndim && !shape))
    return cask__fail(ctx, CASK_EINVAL, "%s: ndim %d is not in [0, %d]", what, ndim, CASK_MAX_NDIM);
  int64_t n = 1;
  for (int i = 0; i < ndim; i++) {
    if (shape[i] < 0 || (chunks && chunks[i] < 0))
      return cask__fail(ctx, CASK_EINVAL, "%s: axis %d has extent %lld and chunk %lld", what, i,
                        (long long)shape[i], chunks ? (long long)chunks[i] : 0LL);
    if (shape[i] && n > (INT64_MAX / 8) / shape[i])
      return cask__fail(ctx, CASK_ETOOBIG, "%s: the shape has more than 2^60 elements", what);
    n *= shape[i];
  }
  return CASK_OK;
}

static int make_source(cask_ctx *ctx, const char *what, cask__kind kind, int ndim,
                       const int64_t *shape, const int64_t *chunks, cask_array **out) {
  if (!out) return CASK_EINVAL;
  *out = NULL;
  int rc = check_shape(ctx, what, ndim, shape, chunks);
  if (rc) return rc;
  return cask__node_new(ctx, kind, 0, ndim, shape, chunks, NULL, NULL, out);
}

int cask_full(cask_ctx *ctx, double value, int ndim, const int64_t *shape,
              const int64_t *chunks, cask_array **out) {
  int rc = make_source(ctx, "full", NODE_FULL, ndim, shape, chunks, out);
  if (rc) return rc;
  (*out)->p.value = value;
  cask__node_seal(*out, &value, sizeof value);
  return CASK_OK;
}

int cask_zeros(cask_ctx *ctx, int ndim, const int64_t *shape, const int64_t *chunks,
               cask_array **out) {
  return cask_full(ctx, 0.0, ndim, shape, chunks, out);
}

int cask_ones(cask_ctx *ctx, int ndim, const int64_t *shape, const int64_t *chunks,
              cask_array **out) {
  return cask_full(ctx, 1.0, ndim, shape, chunks, out);
}

int cask_arange(cask_ctx *ctx, double start, double stop, double step, int64_t chunk,
                cask_array **out) {
  if (!out) return CASK_EINVAL;
  *out = NULL;
  if (!(step != 0) || start != start || stop != stop || !(step == step))
    return cask__fail(ctx, CASK_EINVAL, "arange: step %g must be finite and non-zero", step);
  /* NumPy: length ceil((stop - start) / step), at least 0. */
  double len = ceil((stop - start) / step);
  if (!(len < 9.2e18)) return cask__fail(ctx, CASK_ETOOBIG, "arange: %g elements", len);
  int64_t n = len > 0 ? (int64_t)len : 0;
  int rc = make_source(ctx, "arange", NODE_ARANGE, 1, &n, &chunk, out);
  if (rc) return rc;
  (*out)->p.range.start = start;
  (*out)->p.range.step = step;
  cask__node_seal(*out, &(*out)->p.range, sizeof (*out)->p.range);
  return CASK_OK;
}

static int random_node(cask_ctx *ctx, uint64_t seed, int normal, int ndim,
                       const int64_t *shape, const int64_t *chunks, cask_array **out) {
  int rc = make_source(ctx, normal ? "random_normal" : "random_uniform", NODE_RANDOM, ndim,
                       shape, chunks, out);
  if (rc) return rc;
  (*out)->p.random.seed = seed;
  (*out)->p.random.normal = normal;
  cask__node_seal(*out, &(*out)->p.random, sizeof (*out)->p.random);
  return CASK_OK;
}

int cask_random_uniform(cask_ctx *ctx, uint64_t seed, int ndim, const int64_t *shape,
                        const int64_t *chunks, cask_array **out) {
  return random_node(ctx, seed, 0, ndim, shape, chunks, out);
}

int cask_random_normal(cask_ctx *ctx, uint64_t seed, int ndim, const int64_t *shape,
                       const int64_t *chunks, cask_array **out) {
  return random_node(ctx, seed, 1, ndim, shape, chunks, out);
}

int cask_from_buffer(cask_ctx *ctx, const double *data, int ndim, const int64_t *shape,
                     const int64_t *chunks, void (*release)(void *, void *), void *user,
                     cask_array **out) {
  int rc = make_source(ctx, "from_buffer", NODE_BUFFER, ndim, shape, chunks, out);
  if (rc) return rc;
  if (!data && cask_array_size(*out) > 0) {
    cask_array_release(*out);
    *out = NULL;
    return cask__fail(ctx, CASK_EINVAL, "from_buffer: data is NULL");
  }
  (*out)->p.buffer.data = data;
  (*out)->p.buffer.release = release;
  (*out)->p.buffer.user = user;
  /* The address identifies the values: two arrays over one buffer share
   * their blocks, arrays over different buffers never do. */
  cask__node_seal(*out, &data, sizeof data);
  return CASK_OK;
}

/* ---- block ops --------------------------------------------------------- */

static int64_t box_size(const source_args *s) {
  int64_t n = 1;
  for (int i = 0; i < s->ndim; i++) n *= s->ext[i];
  return n;
}

/* Flat global index of the first element of each row of the box, row by
 * row (rows along the last axis), passed to fn with the row's length. */
static void for_rows(const source_args *s, double *out,
                     void (*fn)(const source_args *, int64_t first, int64_t n, double *dst)) {
  int nd = s->ndim;
  if (nd == 0) {
    fn(s, 0, 1, out);
    return;
  }
  int64_t idx[CASK_MAX_NDIM] = {0}, total = box_size(s), len = s->ext[nd - 1];
  for (int64_t o = 0; o < total; o += len) {
    int64_t flat = 0;
    for (int i = 0; i < nd; i++) flat = flat * s->gshape[i] + s->off[i] + idx[i];
    fn(s, flat, len, out + o);
    for (int i = nd - 2; i >= 0; i--) {
      if (++idx[i] < s->ext[i]) break;
      idx[i] = 0;
    }
  }
}

static void row_arange(const source_args *s, int64_t first, int64_t n, double *d) {
  for (int64_t i = 0; i < n; i++) d[i] = s->a + (double)(first + i) * s->b;
}
static void row_random(const source_args *s, int64_t first, int64_t n, double *d) {
  (s->normal ? cask__philox_normal : cask__philox_uniform)(s->seed, (uint64_t)first, n, d);
}
static void row_buffer(const source_args *s, int64_t first, int64_t n, double *d) {
  memcpy(d, s->data + first, (size_t)n * sizeof *d);
}

/* A box is one contiguous run of a C-order array when every axis after its
 * first non-trivial one is whole. */
static int box_contiguous(const source_args *s, int64_t *first) {
  int i = 0;
  while (i < s->ndim && s->ext[i] == 1) i++;
  for (int j = i + 1; j < s->ndim; j++)
    if (s->ext[j] != s->gshape[j]) return 0;
  int64_t flat = 0;
  for (int j = 0; j < s->ndim; j++) flat = flat * s->gshape[j] + s->off[j];
  *first = flat;
  return 1;
}

static int source_run(cask_task_io *io) {
  source_args s;
  if (io->args_len != sizeof s) return CASK_EINVAL;
  memcpy(&s, io->args, sizeof s);
  if (s.ndim < 0 || s.ndim > CASK_MAX_NDIM) return CASK_EINVAL;
  int64_t first;
  if (s.kind == NODE_BUFFER && box_contiguous(&s, &first))
    /* No copy: the block is a view of the caller's buffer, which the array
     * node keeps alive for as long as a computation can run. */
    return cask_block_wrap((double *)s.data + first, CASK_F64, s.ndim, s.ext, NULL, NULL, &io->output);
  int rc = cask_block_new(CASK_F64, s.ndim, s.ext, &io->output);
  if (rc) return rc;
  double *d = cask_block_data(io->output);
  int64_t n = box_size(&s);
  switch (s.kind) {
  case NODE_FULL:
    for (int64_t i = 0; i < n; i++) d[i] = s.a;
    break;
  case NODE_ARANGE: for_rows(&s, d, row_arange); break;
  case NODE_RANDOM: for_rows(&s, d, row_random); break;
  case NODE_BUFFER: for_rows(&s, d, row_buffer); break;
  default:
    cask_block_release(io->output);
    io->output = NULL;
    cask__fmt(io->errmsg, io->errmsg_cap, "unknown source kind %d", s.kind);
    return CASK_EINVAL;
  }
  return CASK_OK;
}

/* A caller's buffer must never be written to or read from a graph file:
 * its address means nothing in another process. */
static int buffer_to_json(const void *args, size_t len, struct cJSON *obj) { return CASK_ENOTSERIAL; }

static const cask_op *op_source, *op_buffer;

void cask__register_array_sources(void) {
  cask_op_register(&(cask_op){.name = "array.source", .run = source_run}, &op_source);
  cask_op_register(&(cask_op){.name = "array.buffer", .run = source_run, .args_to_json = buffer_to_json},
                   &op_buffer);
}

int cask__lower_source(cask__lower *L, cask_array *a, const int64_t *bidx, const char *key,
                       cask_task_id *out) {
  source_args s;
  memset(&s, 0, sizeof s);
  s.kind = a->kind;
  s.ndim = a->ndim;
  cask__block_box(a, bidx, s.off, s.ext);
  for (int i = 0; i < a->ndim; i++) s.gshape[i] = a->shape[i];
  switch (a->kind) {
  case NODE_FULL: s.a = a->p.value; break;
  case NODE_ARANGE:
    s.a = a->p.range.start;
    s.b = a->p.range.step;
    break;
  case NODE_RANDOM:
    s.seed = a->p.random.seed;
    s.normal = a->p.random.normal;
    break;
  case NODE_BUFFER: s.data = a->p.buffer.data; break;
  default: return CASK_EINVAL;
  }
  int rc = cask_graph_add(L->g, key, a->kind == NODE_BUFFER ? op_buffer : op_source, &s, sizeof s,
                          NULL, 0, out);
  if (!rc) cask_graph_set_size(L->g, *out, box_size(&s) * 8);
  return rc;
}
