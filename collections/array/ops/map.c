/* map.c - user kernels: cask_map_blocks (a C function applied block by
 * block to one or more broadcast inputs) and cask_map_overlap (the same on
 * one input whose blocks are first padded with a halo taken from their
 * neighbours, or made by a boundary rule at the array's edges).
 * The one thing to know: a task's arguments hold the caller's fn and user
 * pointers (so these ops are private: never written as JSON). A named
 * spec's task keys hold its name and token, not the pointers, so equal
 * named specs on equal inputs share their tasks (and keys do not depend on
 * where the program was loaded); an unnamed spec's keys hold fn and user
 * too, so two different kernels never share a task. Which input blocks a halo
 * reads along an axis is decided by one function (plan_axis), called both
 * when lowering (to choose the dependencies) and in the task (to gather). */
#include <ctype.h>
#include <stdio.h>
#include <uv.h>

#include "ops.h"
#include "../core/dtype.h"

#define NAME_MAX_LEN 100        /* keys are built in 512-byte buffers */
#define MAX_AXIS_BLOCKS 8       /* input blocks a halo touches along one axis
                                   (at most 7 when depth <= chunk) */
#define MAX_OVERLAP_DEPS 65536  /* input blocks of one map_overlap task: 3^10 */

/* A node's parameters. The class lives here, not in static storage: its
 * name is the key prefix of the node's blocks, and that is the spec's. */
typedef struct map_node {
  cask__node_class cls;
  char name[NAME_MAX_LEN + 1];
  cask_block_fn fn;
  void *user;
  int64_t depth[CASK_MAX_NDIM]; /* map_overlap */
  cask_boundary boundary;
  double value;
} map_node;

/* ---- checking a spec --------------------------------------------------- */

static int check_spec(cask_ctx *ctx, const char *what, const cask_map_spec *spec) {
  if (!spec) return cask__fail(ctx, CASK_EINVAL, "%s: spec is NULL", what);
  if (!spec->fn) return cask__fail(ctx, CASK_EINVAL, "%s: spec->fn is NULL", what);
  if (!spec->token)
    return cask__fail(ctx, CASK_EINVAL,
                      "%s: spec->token is 0 (unset): give a nonzero token naming what fn computes "
                      "with user (specs of equal name and token on equal inputs are computed once)",
                      what);
  if ((unsigned)spec->dtype >= CASK_DTYPE_COUNT)
    return cask__fail(ctx, CASK_EINVAL, "%s: spec->dtype %d is not a cask_dtype", what, (int)spec->dtype);
  const char *name = spec->name ? spec->name : what;
  size_t len = strlen(name);
  if (len == 0 || len > NAME_MAX_LEN)
    return cask__fail(ctx, CASK_EINVAL, "%s: spec->name has %zu characters, not 1 to %d", what, len,
                      NAME_MAX_LEN);
  for (size_t i = 0; i < len; i++)
    if ((unsigned char)name[i] < 0x20 || name[i] == 0x7f)
      return cask__fail(ctx, CASK_EINVAL, "%s: spec->name has a control character at %zu", what, i);
  return CASK_OK;
}

static map_node *map_node_new(const cask_map_spec *spec, const char *what,
                              int (*lower)(cask__lower *, cask_array *, const int64_t *,
                                           const char *, cask_task_id *)) {
  map_node *m = cask__calloc(1, sizeof *m);
  if (!m) return NULL;
  snprintf(m->name, sizeof m->name, "%s", spec->name ? spec->name : what);
  m->cls.name = m->name;
  m->cls.lower = lower;
  m->fn = spec->fn;
  m->user = spec->user;
  return m;
}

/* The node's token, and so its task keys: the spec's token and the halo,
 * and for an unnamed spec the fn and user pointers too. Without them two
 * unnamed specs of one token (map_blocks(plus1, x) + map_blocks(times10, x))
 * were one set of tasks and gave a wrong sum. */
static void seal_map(cask_array *a, const cask_map_spec *spec, int overlap) {
  const map_node *m = a->ext;
  struct {
    uint64_t token;
    int32_t overlap, boundary;
    double value;
    int64_t depth[CASK_MAX_NDIM];
    uintptr_t fn, user;
  } key;
  memset(&key, 0, sizeof key);
  key.token = spec->token;
  if (!spec->name) {
    key.fn = (uintptr_t)spec->fn;
    key.user = (uintptr_t)spec->user;
  }
  key.overlap = overlap;
  if (overlap) {
    key.boundary = (int32_t)m->boundary;
    key.value = m->boundary == CASK_BOUNDARY_CONSTANT ? m->value : 0.0;
    memcpy(key.depth, m->depth, sizeof key.depth);
  }
  cask__node_seal(a, &key, sizeof key);
}

/* A user function's failure as a cask error: the scheduler reports the
 * task key beside the message fn wrote. */
static int user_failure(cask_task_io *io, int rc) {
  cask_block_release(io->output);
  io->output = NULL;
  if (rc > 0) {
    if (!io->errmsg[0]) cask__fmt(io->errmsg, io->errmsg_cap, "the user function returned %d", rc);
    return CASK_ETASK;
  }
  return rc;
}

/* ---- map_blocks -------------------------------------------------------- */

/* Task arguments; v holds bidx, off and ext of the output block (ndim each),
 * and only 3 * ndim entries are stored. */
typedef struct blocks_args {
  cask_block_fn fn;
  void *user;
  int32_t ndim, dtype;
  int64_t v[3 * CASK_MAX_NDIM];
} blocks_args;

static int blocks_run(cask_task_io *io) {
  blocks_args a;
  size_t head = offsetof(blocks_args, v);
  if (io->args_len < head || io->args_len > sizeof a) return CASK_EINVAL;
  memcpy(&a, io->args, io->args_len);
  if (a.ndim < 0 || a.ndim > CASK_MAX_NDIM || io->args_len != head + 3 * (size_t)a.ndim * 8 ||
      (unsigned)a.dtype >= CASK_DTYPE_COUNT || !a.fn) {
    cask__fmt(io->errmsg, io->errmsg_cap, "malformed map_blocks arguments");
    return CASK_EINVAL;
  }
  for (size_t k = 0; k < io->ninputs; k++)
    if (!io->inputs[k]) {
      cask__fmt(io->errmsg, io->errmsg_cap, "input %zu produced no block", k);
      return CASK_EINVAL;
    }
  int nd = a.ndim;
  int rc = cask_block_new(a.dtype, nd, a.v + 2 * nd, &io->output);
  if (rc) return rc;
  cask_block_info info = {nd, a.v, a.v + nd, NULL, io->errmsg, io->errmsg_cap};
  rc = a.fn(a.user, (const cask_block *const *)io->inputs, (int)io->ninputs, io->output, &info);
  return rc ? user_failure(io, rc) : CASK_OK;
}

static const cask_op *op_blocks, *op_overlap;

/* The block of input x that output block bidx reads (ndim: the output's):
 * aligned at the right, block 0 where x has extent 1. */
static void input_block(const cask_array *x, int ndim, const int64_t *bidx, int64_t *xidx) {
  for (int j = 0; j < x->ndim; j++) xidx[j] = x->shape[j] == 1 ? 0 : bidx[j + ndim - x->ndim];
}

static int lower_blocks(cask__lower *L, cask_array *a, const int64_t *bidx, const char *key,
                        cask_task_id *out) {
  const map_node *m = a->ext;
  cask_task_id stack[8], *deps = stack;
  if (a->nin > 8 && !(deps = cask__malloc((size_t)a->nin * sizeof *deps)))
    return cask__fail(L->ctx, CASK_ENOMEM, "out of memory lowering %s", key);
  int rc = CASK_OK;
  for (int k = 0; k < a->nin && !rc; k++) {
    int64_t xidx[CASK_MAX_NDIM];
    input_block(a->in[k], a->ndim, bidx, xidx);
    rc = cask__lower_block(L, a->in[k], xidx, &deps[k]);
  }
  if (rc) goto out_free_deps;
  blocks_args x;
  memset(&x, 0, sizeof x);
  x.fn = m->fn;
  x.user = m->user;
  x.ndim = a->ndim;
  x.dtype = a->dtype;
  int nd = a->ndim;
  for (int i = 0; i < nd; i++) x.v[i] = bidx[i];
  cask__block_box(a, bidx, x.v + nd, x.v + 2 * nd);
  rc = cask__graph_add(L->g, key, op_blocks, &x, offsetof(blocks_args, v) + 3 * (size_t)nd * 8, deps,
                      (size_t)a->nin, out);
  if (!rc) {
    int64_t n = (int64_t)cask__itemsize(a);
    for (int i = 0; i < nd; i++) n *= x.v[2 * nd + i];
    cask_graph_set_size(L->g, *out, n);
  }
out_free_deps:
  if (deps != stack) cask__free(deps);
  return rc;
}

/* The block grid the inputs share: their broadcast shape, and along each
 * axis the chunk of the first input that spans it (extent other than 1). */
typedef struct grid {
  int ndim;
  int64_t shape[CASK_MAX_NDIM], chunk[CASK_MAX_NDIM];
  int ref[CASK_MAX_NDIM]; /* the input whose chunk the axis has, or -1 */
} grid;

static int broadcast_grid(cask_ctx *ctx, int nin, cask_array *const *in, grid *g) {
  g->ndim = 0;
  for (int k = 0; k < nin; k++)
    if (in[k]->ndim > g->ndim) g->ndim = in[k]->ndim;
  for (int i = 0; i < g->ndim; i++) {
    g->shape[i] = 1, g->chunk[i] = 1, g->ref[i] = -1;
    for (int k = 0; k < nin; k++) {
      int j = i - (g->ndim - in[k]->ndim);
      if (j < 0 || in[k]->shape[j] == 1) continue;
      if (g->ref[i] < 0) {
        g->shape[i] = in[k]->shape[j], g->chunk[i] = in[k]->chunk[j], g->ref[i] = k;
        continue;
      }
      if (in[k]->shape[j] != g->shape[i]) {
        const cask_array *r = in[g->ref[i]];
        char s0[256], s1[256];
        cask__shape_str(s0, sizeof s0, r->ndim, r->shape);
        cask__shape_str(s1, sizeof s1, in[k]->ndim, in[k]->shape);
        return cask__fail(ctx, CASK_EINVAL,
                          "map_blocks: shapes %s (input %d) and %s (input %d) cannot be broadcast "
                          "(axis %d: %lld vs %lld)",
                          s0, g->ref[i], s1, k, i, (long long)g->shape[i], (long long)in[k]->shape[j]);
      }
    }
  }
  return CASK_OK;
}

/* The inputs on the grid's blocks: an input whose chunks differ from the
 * grid's along an axis it spans is rechunked to them (the chunks of the
 * first input spanning that axis). The caller releases every use[k]. */
static int align_chunks(int nin, cask_array *const *in, const grid *g, cask_array **use) {
  int rc = CASK_OK;
  for (int k = 0; k < nin; k++) use[k] = NULL;
  for (int k = 0; k < nin && !rc; k++) {
    int64_t want[CASK_MAX_NDIM];
    int same = 1;
    for (int j = 0; j < in[k]->ndim; j++) {
      int i = j + g->ndim - in[k]->ndim;
      want[j] = in[k]->shape[j] == 1 ? in[k]->chunk[j] : g->chunk[i];
      same &= want[j] == in[k]->chunk[j];
    }
    if (same) use[k] = cask_array_retain(in[k]);
    else rc = cask_rechunk(in[k], want, &use[k]);
  }
  return rc;
}

/* The output's shape and chunks: every block chunks[i] along axis i
 * (chunks[i] = 0, or chunks NULL: the grid's blocks). */
static int output_grid(cask_ctx *ctx, const int64_t *chunks, grid *g) {
  int64_t total = 1;
  for (int i = 0; i < g->ndim; i++) {
    int64_t c = chunks ? chunks[i] : 0;
    if (c < 0)
      return cask__fail(ctx, CASK_EINVAL, "map_blocks: spec->chunks[%d] is %lld, negative", i, (long long)c);
    if (c > 0) {
      int64_t nb = g->shape[i] == 0 ? 1 : (g->shape[i] + g->chunk[i] - 1) / g->chunk[i];
      if (c > INT64_MAX / 8 / nb)
        return cask__fail(ctx, CASK_ETOOBIG, "map_blocks: %lld blocks of %lld along axis %d", (long long)nb,
                          (long long)c, i);
      g->shape[i] = c * nb, g->chunk[i] = c;
    }
    if (g->shape[i] && total > INT64_MAX / 8 / g->shape[i])
      return cask__fail(ctx, CASK_ETOOBIG, "map_blocks: the output has more than 2^60 elements");
    total *= g->shape[i];
  }
  return CASK_OK;
}

static int check_inputs(const char *what, int nin, cask_array *const *in) {
  for (int k = 1; k < nin; k++) {
    if (!in[k]) return cask__fail(in[0]->ctx, CASK_EINVAL, "%s: input %d is NULL", what, k);
    if (in[k]->ctx != in[0]->ctx)
      return cask__fail(in[0]->ctx, CASK_EINVAL, "%s: input %d belongs to another context than input 0",
                        what, k);
  }
  return CASK_OK;
}

int cask_map_blocks(const cask_map_spec *spec, int nin, cask_array *const *in, cask_array **out) {
  if (!out) return CASK_EINVAL;
  *out = NULL;
  if (nin < 1 || !in || !in[0]) return CASK_EINVAL; /* no array: no context for a message */
  cask_ctx *ctx = in[0]->ctx;
  grid g;
  int rc = check_inputs("map_blocks", nin, in);
  if (!rc) rc = check_spec(ctx, "map_blocks", spec);
  if (!rc) rc = broadcast_grid(ctx, nin, in, &g);
  if (rc) return rc;
  cask_array *stack[8], **use = stack;
  if (nin > 8 && !(use = cask__calloc((size_t)nin, sizeof *use)))
    return cask__fail(ctx, CASK_ENOMEM, "map_blocks: out of memory for %d inputs", nin);
  rc = align_chunks(nin, in, &g, use);
  if (!rc) rc = output_grid(ctx, spec->chunks, &g);
  if (rc) goto out_release_use;
  map_node *m = map_node_new(spec, "map_blocks", lower_blocks);
  if (!m) {
    rc = cask__fail(ctx, CASK_ENOMEM, "map_blocks: out of memory");
    goto out_release_use;
  }
  rc = cask__node_new_ext(ctx, &m->cls, m, spec->dtype, g.ndim, g.shape, g.chunk, nin, use, out);
  if (!rc) seal_map(*out, spec, 0);
out_release_use:
  for (int k = 0; k < nin; k++) cask_array_release(use[k]);
  if (use != stack) cask__free(use);
  return rc;
}

/* ---- map_overlap: the halo plan ---------------------------------------- */

/* One axis of one block's padded box. */
typedef struct axis_plan {
  int64_t off, ext; /* the block's own elements */
  int64_t lo, hi;   /* halo before and after them */
  int nblk;
  int64_t blk[MAX_AXIS_BLOCKS]; /* input blocks read along the axis, ascending */
} axis_plan;

/* The element padded global index j (outside [0, n) by at most n) reads,
 * or -1 for the constant. */
static int64_t source_index(int64_t j, int64_t n, cask_boundary b) {
  if (j >= 0 && j < n) return j;
  switch (b) {
  case CASK_BOUNDARY_NEAREST: return j < 0 ? 0 : n - 1;
  case CASK_BOUNDARY_REFLECT: return j < 0 ? -1 - j : 2 * n - 1 - j; /* edge repeated */
  case CASK_BOUNDARY_PERIODIC: return j < 0 ? j + n : j - n;
  default: return -1;
  }
}

static int add_block(axis_plan *p, int64_t b) {
  int i = 0;
  while (i < p->nblk && p->blk[i] < b) i++;
  if (i < p->nblk && p->blk[i] == b) return CASK_OK;
  if (p->nblk == MAX_AXIS_BLOCKS) return CASK_ETOOBIG;
  memmove(p->blk + i + 1, p->blk + i, (size_t)(p->nblk - i) * sizeof *p->blk);
  p->blk[i] = b;
  p->nblk++;
  return CASK_OK;
}

/* The blocks holding the padded indices [from, to) (outside [0, n): mapped
 * by the boundary rule, which maps a run outside the array to a run). */
static int add_range(axis_plan *p, int64_t from, int64_t to, int64_t n, int64_t c, cask_boundary b) {
  if (from >= to) return CASK_OK;
  int64_t s0 = source_index(from, n, b), s1 = source_index(to - 1, n, b);
  if (s0 < 0) return CASK_OK;
  int64_t lo = s0 < s1 ? s0 : s1, hi = s0 < s1 ? s1 : s0;
  int rc = CASK_OK;
  for (int64_t k = lo / c; k <= hi / c && !rc; k++) rc = add_block(p, k);
  return rc;
}

/* Block b of an axis of extent n and chunk c with halo d: its box and the
 * input blocks its padded box reads. d <= c <= n (or n = 0), so a halo
 * leaves the array by at most n and one reflection or wrap is enough. */
static int plan_axis(int64_t n, int64_t c, int64_t b, int64_t d, cask_boundary bd, axis_plan *p) {
  p->off = b * c;
  p->ext = n - p->off < c ? n - p->off : c;
  if (n == 0) p->ext = 0, d = 0;
  p->lo = p->hi = d;
  if (bd == CASK_BOUNDARY_NONE) {
    p->lo = d < p->off ? d : p->off;
    int64_t after = n - p->off - p->ext;
    p->hi = d < after ? d : after;
  }
  p->nblk = 0;
  int64_t from = p->off - p->lo, to = p->off + p->ext + p->hi;
  int rc = add_block(p, b);
  if (!rc) rc = add_range(p, from, 0 < from ? from : 0, n, c, bd);
  if (!rc) rc = add_range(p, from > 0 ? from : 0, to < n ? to : n, n, c, bd);
  if (!rc) rc = add_range(p, n > from ? n : from, to, n, c, bd);
  return rc;
}

/* Task arguments; v holds n, c, b, d per axis (4 * ndim entries stored). */
typedef struct overlap_args {
  cask_block_fn fn;
  void *user;
  int32_t ndim, in_dtype, out_dtype, boundary;
  double value;
  int64_t v[4 * CASK_MAX_NDIM];
} overlap_args;

#define ARG_N(a, i) ((a)->v[4 * (i)])
#define ARG_C(a, i) ((a)->v[4 * (i) + 1])
#define ARG_B(a, i) ((a)->v[4 * (i) + 2])
#define ARG_D(a, i) ((a)->v[4 * (i) + 3])

/* Every axis's plan and the number of input blocks (their product). */
static int plan_block(const overlap_args *a, axis_plan *p, int64_t *ndeps) {
  *ndeps = 1;
  for (int i = 0; i < a->ndim; i++) {
    int rc = plan_axis(ARG_N(a, i), ARG_C(a, i), ARG_B(a, i), ARG_D(a, i), (cask_boundary)a->boundary, &p[i]);
    if (rc) return rc;
    *ndeps *= p[i].nblk;
    if (*ndeps > MAX_OVERLAP_DEPS) return CASK_ETOOBIG;
  }
  return CASK_OK;
}

/* The number of blocks each axis of a plan reads. */
static void plan_counts(int nd, const axis_plan *p, int64_t *nblk) {
  for (int i = 0; i < nd; i++) nblk[i] = p[i].nblk;
}

static int lower_deps(cask__lower *L, cask_array *in, const axis_plan *p, int64_t ndeps,
                      cask_task_id *deps) {
  int nd = in->ndim;
  int64_t slot[CASK_MAX_NDIM] = {0}, nblk[CASK_MAX_NDIM];
  plan_counts(nd, p, nblk);
  for (int64_t k = 0; k < ndeps; k++) {
    int64_t idx[CASK_MAX_NDIM];
    for (int i = 0; i < nd; i++) idx[i] = p[i].blk[slot[i]];
    int rc = cask__lower_block(L, in, idx, &deps[k]);
    if (rc) return rc;
    cask__index_next(nd, slot, nblk); /* C order: the last axis fastest */
  }
  return CASK_OK;
}

static int lower_overlap(cask__lower *L, cask_array *a, const int64_t *bidx, const char *key,
                         cask_task_id *out) {
  const map_node *m = a->ext;
  cask_array *in = a->in[0];
  overlap_args x;
  memset(&x, 0, sizeof x);
  x.fn = m->fn, x.user = m->user, x.ndim = a->ndim;
  x.in_dtype = in->dtype, x.out_dtype = a->dtype, x.boundary = (int32_t)m->boundary, x.value = m->value;
  for (int i = 0; i < a->ndim; i++)
    ARG_N(&x, i) = in->shape[i], ARG_C(&x, i) = in->chunk[i], ARG_B(&x, i) = bidx[i], ARG_D(&x, i) = m->depth[i];
  axis_plan p[CASK_MAX_NDIM];
  int64_t ndeps;
  if (plan_block(&x, p, &ndeps))
    return cask__fail(L->ctx, CASK_ETOOBIG, "map_overlap: block %s would read more than %d input blocks",
                      key, MAX_OVERLAP_DEPS);
  cask_task_id *deps = cask__malloc((size_t)ndeps * sizeof *deps);
  if (!deps) return cask__fail(L->ctx, CASK_ENOMEM, "out of memory lowering %s", key);
  int rc = lower_deps(L, in, p, ndeps, deps);
  if (!rc)
    rc = cask__graph_add(L->g, key, op_overlap, &x, offsetof(overlap_args, v) + 4 * (size_t)a->ndim * 8,
                        deps, (size_t)ndeps, out);
  if (!rc) {
    int64_t n = (int64_t)cask__itemsize(a);
    for (int i = 0; i < a->ndim; i++) n *= p[i].ext;
    cask_graph_set_size(L->g, *out, n);
  }
  cask__free(deps);
  return rc;
}

/* ---- map_overlap: the task --------------------------------------------- */

static int parse_overlap(cask_task_io *io, overlap_args *a) {
  size_t head = offsetof(overlap_args, v);
  if (io->args_len < head || io->args_len > sizeof *a) return CASK_EINVAL;
  memcpy(a, io->args, io->args_len);
  int ok = a->ndim >= 0 && a->ndim <= CASK_MAX_NDIM && io->args_len == head + 4 * (size_t)a->ndim * 8 &&
           a->fn && (unsigned)a->in_dtype < CASK_DTYPE_COUNT && (unsigned)a->out_dtype < CASK_DTYPE_COUNT &&
           (unsigned)a->boundary <= CASK_BOUNDARY_NONE;
  for (int i = 0; ok && i < a->ndim; i++) {
    int64_t n = ARG_N(a, i), c = ARG_C(a, i), b = ARG_B(a, i), d = ARG_D(a, i);
    ok = n >= 0 && c >= 1 && (n == 0 ? b == 0 : c <= n && b >= 0 && b <= (n - 1) / c) && d >= 0 && d <= c;
  }
  if (!ok) cask__fmt(io->errmsg, io->errmsg_cap, "malformed map_overlap arguments");
  return ok ? CASK_OK : CASK_EINVAL;
}

/* The inputs are the planned blocks, in plan order, with their shapes. */
static int check_neighbours(cask_task_io *io, const overlap_args *a, const axis_plan *p) {
  int nd = a->ndim;
  int64_t slot[CASK_MAX_NDIM] = {0}, nblk[CASK_MAX_NDIM];
  plan_counts(nd, p, nblk);
  for (size_t k = 0; k < io->ninputs; k++) {
    const cask_block *b = io->inputs[k];
    int ok = b && cask_block_dtype(b) == (cask_dtype)a->in_dtype && cask_block_ndim(b) == nd;
    for (int i = 0; ok && i < nd; i++) {
      int64_t off = p[i].blk[slot[i]] * ARG_C(a, i), n = ARG_N(a, i), c = ARG_C(a, i);
      ok = cask_block_shape(b)[i] == (n - off < c ? n - off : c);
    }
    if (!ok) {
      cask__fmt(io->errmsg, io->errmsg_cap, "input %zu is not the neighbouring %s block expected", k,
                cask_dtype_name((cask_dtype)a->in_dtype));
      return CASK_EINVAL;
    }
    cask__index_next(nd, slot, nblk);
  }
  return CASK_OK;
}

/* Per axis and padded position: the slot (index in the axis's block list,
 * -1 for the constant) and the index within that block. */
typedef struct axis_map {
  int64_t *slot, *loc, len;
} axis_map;

static void map_axis(const overlap_args *a, int i, const axis_plan *p, axis_map *m) {
  int64_t n = ARG_N(a, i), c = ARG_C(a, i);
  for (int64_t q = 0; q < m->len; q++) {
    int64_t s = source_index(p->off - p->lo + q, n, (cask_boundary)a->boundary);
    m->slot[q] = -1;
    if (s < 0) continue;
    int k = 0;
    while (k < p->nblk && p->blk[k] != s / c) k++; /* found: plan_axis added it */
    if (k == p->nblk) continue;
    m->slot[q] = k;
    m->loc[q] = s - p->blk[k] * c;
  }
}

typedef struct gather_ctx {
  int nd;
  size_t w;
  const axis_map *m;
  cask_block *const *in;
  int64_t dstride[CASK_MAX_NDIM]; /* of the slots, in the inputs' order */
  unsigned char fill[8];          /* the constant in the input's dtype */
} gather_ctx;

/* Elements [q, q + len) of the padded row at outer position idx, all from
 * one input block (dep) at consecutive indices of its last axis. */
static void copy_run(const gather_ctx *g, const int64_t *idx, int64_t dep, int64_t q, int64_t len, char *dst) {
  const cask_block *b = g->in[dep];
  const int64_t *shape = cask_block_shape(b);
  int64_t src = 0, last = g->nd - 1;
  for (int i = 0; i < last; i++) src = src * shape[i] + g->m[i].loc[idx[i]];
  src = src * shape[last] + g->m[last].loc[q];
  memcpy(dst, (const char *)cask_block_data(b) + src * (int64_t)g->w, (size_t)len * g->w);
}

/* One padded row along the last axis, cut into runs read with one memcpy. */
static void gather_row(const gather_ctx *g, const int64_t *idx, char *dst) {
  const axis_map *ml = &g->m[g->nd - 1];
  int64_t dep = 0, outside = 0;
  for (int i = 0; i < g->nd - 1; i++) {
    outside |= g->m[i].slot[idx[i]] < 0;
    dep += g->m[i].slot[idx[i]] * g->dstride[i];
  }
  for (int64_t q = 0; q < ml->len;) {
    int64_t r = q + 1;
    if (outside || ml->slot[q] < 0) {
      memcpy(dst + q * (int64_t)g->w, g->fill, g->w);
      q = r;
      continue;
    }
    while (r < ml->len && ml->slot[r] == ml->slot[q] && ml->loc[r] == ml->loc[r - 1] + 1) r++;
    copy_run(g, idx, dep + ml->slot[q], q, r - q, dst + q * (int64_t)g->w);
    q = r;
  }
}

static void gather(const gather_ctx *g, char *dst) {
  int nd = g->nd;
  int64_t rows = 1, idx[CASK_MAX_NDIM] = {0}, len[CASK_MAX_NDIM], row = g->m[nd - 1].len;
  for (int i = 0; i < nd; i++) rows *= len[i] = g->m[i].len;
  if (rows == 0) return;
  rows /= row;
  for (int64_t r = 0; r < rows; r++, dst += row * (int64_t)g->w) {
    gather_row(g, idx, dst);
    cask__index_next(nd - 1, idx, len);
  }
}

/* The padded block of a task with a halo (ndim >= 1). */
static int pad_block(cask_task_io *io, const overlap_args *a, const axis_plan *p, cask_block **out) {
  int nd = a->ndim;
  int64_t shape[CASK_MAX_NDIM], total = 0;
  for (int i = 0; i < nd; i++) total += shape[i] = p[i].lo + p[i].ext + p[i].hi;
  int64_t *buf = cask__malloc((size_t)(2 * total + 1) * sizeof *buf);
  if (!buf) return CASK_ENOMEM;
  gather_ctx g = {nd, cask_dtype_size((cask_dtype)a->in_dtype), NULL, io->inputs, {0}, {0}};
  axis_map m[CASK_MAX_NDIM];
  int64_t *at = buf, s = 1;
  for (int i = nd - 1; i >= 0; i--) {
    m[i] = (axis_map){at, at + shape[i], shape[i]};
    at += 2 * shape[i];
    map_axis(a, i, &p[i], &m[i]);
    g.dstride[i] = s;
    s *= p[i].nblk;
  }
  g.m = m;
  cask__fill_f64(g.fill, (cask_dtype)a->in_dtype, a->value, 1);
  int rc = cask_block_new((cask_dtype)a->in_dtype, nd, shape, out);
  if (!rc) gather(&g, cask_block_data(*out));
  cask__free(buf);
  return rc;
}

static int overlap_run(cask_task_io *io) {
  overlap_args a;
  int rc = parse_overlap(io, &a);
  if (rc) return rc;
  axis_plan p[CASK_MAX_NDIM];
  int64_t ndeps;
  if (plan_block(&a, p, &ndeps) || (size_t)ndeps != io->ninputs) {
    cask__fmt(io->errmsg, io->errmsg_cap, "the task has %zu inputs, its halo plan another number",
              io->ninputs);
    return CASK_EINVAL;
  }
  if ((rc = check_neighbours(io, &a, p))) return rc;
  int nd = a.ndim, halo = 0;
  int64_t bidx[CASK_MAX_NDIM], off[CASK_MAX_NDIM], ext[CASK_MAX_NDIM], lo[CASK_MAX_NDIM];
  for (int i = 0; i < nd; i++) {
    bidx[i] = ARG_B(&a, i), off[i] = p[i].off, ext[i] = p[i].ext, lo[i] = p[i].lo;
    halo |= p[i].lo || p[i].hi;
  }
  /* Without a halo the block is its own padded block: no copy. */
  cask_block *padded = NULL;
  if (halo && (rc = pad_block(io, &a, p, &padded))) return rc;
  const cask_block *arg = padded ? padded : io->inputs[0];
  if ((rc = cask_block_new((cask_dtype)a.out_dtype, nd, ext, &io->output))) goto out_release_padded;
  cask_block_info info = {nd, bidx, off, lo, io->errmsg, io->errmsg_cap};
  rc = a.fn(a.user, &arg, 1, io->output, &info);
  if (rc) rc = user_failure(io, rc);
out_release_padded:
  cask_block_release(padded);
  return rc;
}

/* ---- map_overlap: the node --------------------------------------------- */

static int check_overlap(cask_ctx *ctx, const cask_map_spec *spec, const cask_array *in,
                         const int64_t *depth, cask_boundary boundary) {
  char s[256], c[256];
  cask__shape_str(s, sizeof s, in->ndim, in->shape);
  cask__shape_str(c, sizeof c, in->ndim, in->chunk);
  if ((unsigned)boundary > CASK_BOUNDARY_NONE)
    return cask__fail(ctx, CASK_EINVAL, "map_overlap: boundary %d is not a cask_boundary", (int)boundary);
  if (!depth && in->ndim)
    return cask__fail(ctx, CASK_EINVAL, "map_overlap: depth is NULL (the input has shape %s)", s);
  for (int i = 0; i < in->ndim; i++) {
    if (depth[i] < 0 || depth[i] > in->chunk[i])
      return cask__fail(ctx, CASK_EINVAL,
                        "map_overlap: depth %lld on axis %d is not in [0, %lld], the chunk along that "
                        "axis (shape %s, chunks %s); rechunk to larger blocks for a deeper halo",
                        (long long)depth[i], i, (long long)in->chunk[i], s, c);
    if (spec->chunks && spec->chunks[i] && spec->chunks[i] != in->chunk[i])
      return cask__fail(ctx, CASK_EINVAL,
                        "map_overlap: spec->chunks[%d] is %lld; the output keeps the input's chunks %s "
                        "(spec->chunks NULL)",
                        i, (long long)spec->chunks[i], c);
  }
  return CASK_OK;
}

int cask_map_overlap(const cask_map_spec *spec, cask_array *in, const int64_t *depth,
                     cask_boundary boundary, double value, cask_array **out) {
  if (!out) return CASK_EINVAL;
  *out = NULL;
  if (!in) return CASK_EINVAL;
  cask_ctx *ctx = in->ctx;
  int rc = check_spec(ctx, "map_overlap", spec);
  if (!rc) rc = check_overlap(ctx, spec, in, depth, boundary);
  if (rc) return rc;
  map_node *m = map_node_new(spec, "map_overlap", lower_overlap);
  if (!m) return cask__fail(ctx, CASK_ENOMEM, "map_overlap: out of memory");
  for (int i = 0; i < in->ndim; i++) m->depth[i] = depth[i];
  m->boundary = boundary;
  m->value = value;
  rc = cask__node_new_ext(ctx, &m->cls, m, spec->dtype, in->ndim, in->shape, in->chunk, 1, &in, out);
  if (!rc) seal_map(*out, spec, 1);
  return rc;
}

/* ---- registration ------------------------------------------------------ */

/* fn and user are addresses in this process: private ops. */
void cask__register_map_ops(void) {
  cask__op_register_private(&(cask_op){.name = "array.map_blocks", .run = blocks_run}, &op_blocks);
  cask__op_register_private(&(cask_op){.name = "array.map_overlap", .run = overlap_run}, &op_overlap);
}

/* ---- kernels by name (cask_kernel_register) ----------------------------- */

#define MAX_KERNELS 4096
#define KERNEL_NAME_MAX 23 /* an expression's string argument holds 23 */

typedef struct named_kernel {
  char name[KERNEL_NAME_MAX + 1];
  cask_block_fn fn;
  void *user;
  uint64_t token;
} named_kernel;

static uv_once_t kernels_once = UV_ONCE_INIT;
static uv_rwlock_t kernels_lock;
static named_kernel *kernels;
static size_t nkernels;

static void kernels_init(void) { uv_rwlock_init(&kernels_lock); }

static int kernel_name_ok(const char *name) {
  size_t n = name ? strlen(name) : 0;
  if (n == 0 || n > KERNEL_NAME_MAX) return 0;
  for (size_t i = 0; i < n; i++)
    if (!isalnum((unsigned char)name[i]) && name[i] != '_' && name[i] != '.') return 0;
  return 1;
}

int cask_kernel_register(const char *name, cask_block_fn fn, void *user, uint64_t token) {
  if (!kernel_name_ok(name) || !fn || !token) return CASK_EINVAL;
  uv_once(&kernels_once, kernels_init);
  uv_rwlock_wrlock(&kernels_lock);
  int rc = CASK_OK;
  for (size_t i = 0; i < nkernels && !rc; i++)
    if (!strcmp(kernels[i].name, name)) rc = CASK_EOPEXISTS;
  if (!rc && nkernels == MAX_KERNELS) rc = CASK_ETOOBIG;
  if (!rc && !kernels && !(kernels = cask__calloc(MAX_KERNELS, sizeof *kernels))) rc = CASK_ENOMEM;
  if (!rc) {
    named_kernel *k = &kernels[nkernels++];
    snprintf(k->name, sizeof k->name, "%s", name);
    k->fn = fn, k->user = user, k->token = token;
  }
  uv_rwlock_wrunlock(&kernels_lock);
  return rc;
}

int cask__kernel_find(const char *name, cask_map_spec *spec) {
  uv_once(&kernels_once, kernels_init);
  uv_rwlock_rdlock(&kernels_lock);
  int found = 0;
  for (size_t i = 0; i < nkernels && !found; i++)
    if (!strcmp(kernels[i].name, name)) {
      spec->fn = kernels[i].fn, spec->user = kernels[i].user, spec->token = kernels[i].token;
      spec->name = kernels[i].name; /* never removed: the pointer stays valid */
      found = 1;
    }
  uv_rwlock_rdunlock(&kernels_lock);
  return found;
}
