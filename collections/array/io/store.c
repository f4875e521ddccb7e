/* store.c - cask_store: several arrays into caller buffers, .npy files,
 * Zarr stores, HDF5 and NetCDF-4 files, in one graph and one run; cask_compute and
 * cask_compute_scalar on top of it, and cask_array_graph.
 * The one thing to know: every block goes to its target inside the run,
 * by a task that produces no block (a kernel writing into the buffer, a
 * copy, a file or chunk writer), so the block is freed once written and
 * nothing waits in memory for the end of the run. Files are committed (or
 * removed) by their writer's finish after the run. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io.h"
#include "../ops/boxcopy.h"
#include "../core/dtype.h"

/* ---- buffer targets ------------------------------------------------------ */

/* A copy task's arguments: where a block goes in the caller's buffer. */
typedef struct copy_args {
  uintptr_t dst; /* an address: the op is private */
  int32_t dtype, ndim;
  int64_t shape[CASK_MAX_NDIM], off[CASK_MAX_NDIM], ext[CASK_MAX_NDIM];
} copy_args;

static const cask_op *op_copy;

static int copy_run(cask_task_io *io) {
  copy_args a;
  if (io->args_len != sizeof a) return CASK_EINVAL;
  memcpy(&a, io->args, sizeof a);
  int rc = cask__sink_check_block(io, a.ndim, a.ext, "place in the buffer");
  if (rc) return rc;
  const cask_block *b = io->inputs[0];
  if (cask_block_dtype(b) != (cask_dtype)a.dtype) {
    cask__fmt(io->errmsg, io->errmsg_cap, "a %s block for a %s buffer", cask_dtype_name(cask_block_dtype(b)),
              cask_dtype_name((cask_dtype)a.dtype));
    return CASK_EINVAL;
  }
  if (cask_block_size(b) == 0) return CASK_OK;
  int64_t zero[CASK_MAX_NDIM] = {0}, step[CASK_MAX_NDIM];
  for (int i = 0; i < a.ndim; i++) step[i] = 1;
  cask__box_copy((char *)a.dst, a.shape, a.off, cask_block_data(b), a.ext, zero, step, a.ext, a.ndim,
                 cask_dtype_size((cask_dtype)a.dtype));
  return CASK_OK;
}

static void place_copy(void *args, const int64_t *bidx, const int64_t *off, const int64_t *ext) {
  copy_args *c = args;
  memcpy(c->off, off, sizeof c->off[0] * (size_t)c->ndim);
  memcpy(c->ext, ext, sizeof c->ext[0] * (size_t)c->ndim);
  (void)bidx;
}

static int finish_buffer(cask__writer *w, cask_ctx *ctx, int ok) {
  (void)ctx, (void)ok;
  cask__free(w->args);
  return CASK_OK;
}

/* Blocks of an elementwise array are computed straight into the buffer by
 * their kernels (no block at all); others are copied by a copy task. */
static int open_buffer(const cask_target *t, cask__writer *w) {
  cask_array *a = t->array;
  size_t want = (size_t)cask_array_size(a) * cask__itemsize(a);
  if (!t->buf && t->nbytes) return cask__fail(a->ctx, CASK_EINVAL, "compute: the buffer is NULL");
  if (t->nbytes != want) {
    char s[256];
    cask__shape_str(s, sizeof s, a->ndim, a->shape);
    return cask__fail(a->ctx, CASK_EINVAL, "compute: an array of shape %s and dtype %s needs %zu bytes, the buffer has %zu",
                      s, cask_dtype_name(a->dtype), want, t->nbytes);
  }
  copy_args *c = cask__calloc(1, sizeof *c);
  if (!c) return cask__fail(a->ctx, CASK_ENOMEM, "compute: out of memory");
  c->dst = (uintptr_t)t->buf, c->dtype = a->dtype, c->ndim = a->ndim;
  memcpy(c->shape, a->shape, sizeof c->shape[0] * (size_t)a->ndim);
  *w = (cask__writer){.what = "to_buffer", .op = op_copy, .args = c, .len = sizeof *c, .place = place_copy,
                      .finish = finish_buffer, .state = t->buf};
  return CASK_OK;
}

static int lower_into_buffer(cask__lower *L, cask_array *a, void *dst) {
  int64_t bidx[CASK_MAX_NDIM] = {0};
  for (;;) {
    cask_task_id id;
    int rc = cask__lower_into(L, a, bidx, dst, &id);
    if (rc || (rc = cask_graph_set_output(L->g, id, 1))) return rc;
    if (!cask__next_block(a, bidx)) return CASK_OK;
  }
}

static const cask_op *op_plan_writer;

/* A writer of a planned graph never runs (nothing was opened). */
static int plan_writer_run(cask_task_io *io) {
  cask__fmt(io->errmsg, io->errmsg_cap, "a writer of a graph built for planning only (cask_store_graph) was run");
  return CASK_EINVAL;
}

static void register_plan_writer(void) {
  cask__op_register_private(&(cask_op){.name = "array.plan_writer", .run = plan_writer_run}, &op_plan_writer);
}

void cask__register_store_ops(void) {
  cask__op_register_private(&(cask_op){.name = "array.copy_into", .run = copy_run}, &op_copy);
  register_plan_writer();
}

/* ---- cask_store ---------------------------------------------------------- */

static int check_targets(int n, const cask_target *t) {
  if (n < 1 || !t) return CASK_EINVAL;
  for (int k = 0; k < n; k++)
    if (!t[k].array || t[k].array->ctx != t[0].array->ctx || (unsigned)t[k].kind > CASK_TARGET_NETCDF)
      return CASK_EINVAL;
  return CASK_OK;
}

int cask__share_name(cask_executor *ex, int rc, char *name, size_t cap) {
  int code = rc;
  if (ex->bcast(ex, &code, sizeof code, 0) || ex->bcast(ex, name, cap, 0)) return CASK_EIO;
  name[cap - 1] = '\0';
  return code;
}

static int open_writer(const cask_target *t, cask_executor *ex, cask__writer *w) {
  int multi = ex && ex->nranks > 1;
  switch (t->kind) {
  case CASK_TARGET_BUFFER: return open_buffer(t, w);
  case CASK_TARGET_NPY: return cask__npy_writer_open(t->array, t->path, ex, w);
  case CASK_TARGET_ZARR: return cask__zarr_writer_open(t->array, t->path, t->zarr, ex, w);
  default: break;
  }
  /* HDF5, NetCDF: one library handle per file, so with several ranks rank 0
   * writes the whole file (its writer tasks hinted to rank 0, the blocks
   * sent to it); the others make the same tasks and open nothing. An open
   * that fails on rank 0 alone is met by the agreement before the run. */
  int hdf5 = t->kind == CASK_TARGET_HDF5, rc;
  if (multi && ex->rank != 0)
    return hdf5 ? cask__hdf5_writer_remote(t->array, t->path, w) : cask__netcdf_writer_remote(t->array, t->path, w);
  rc = hdf5 ? cask__hdf5_writer_open(t->array, t->path, t->name, t->hdf5, w)
            : cask__netcdf_writer_open(t->array, t->path, t->name, t->hdf5, w);
  if (!rc && multi) w->rank0 = 1;
  return rc;
}

/* Whether target k's array goes nowhere else: then an elementwise one is
 * computed straight into its buffer; else its blocks are made once and
 * copied (a kernel into the buffer makes no block the others could use).
 * By token: two arrays of one computation (the same expression built
 * twice, or over two buffers of the same bytes) share their keys, so only
 * one could be computed into its buffer. */
static int only_target(int n, const cask_target *t, int k) {
  for (int i = 0; i < n; i++)
    if (i != k && t[i].array->token == t[k].array->token) return 0;
  return 1;
}

/* The graph of every target's blocks and writers, optimized; a job on an
 * anchor grid gets its roots' RUN hints (G), as a rank's part does. */
static int build(int n, const cask_target *t, const cask__writer *w, const cask__anchor *G, cask_graph *g) {
  cask_ctx *ctx = t[0].array->ctx;
  cask__lower L = {g, ctx, G, 0, 0};
  int rc = CASK_OK;
  for (int k = 0; k < n && !rc; k++) {
    cask_array *a = t[k].array;
    if (t[k].kind == CASK_TARGET_BUFFER && cask__is_elementwise(a) && only_target(n, t, k))
      rc = lower_into_buffer(&L, a, t[k].buf);
    else if (w[k].op)
      rc = cask__lower_writers(&L, a, k, &w[k]);
  }
  if (rc && !ctx->errmsg[0]) cask__fail(ctx, rc, "%s", cask_graph_errmsg(g)); /* the graph said why */
  if (!rc && (rc = cask_graph_optimize(g, CASK_OPT_ALL)))
    cask__fail(ctx, rc, "optimizing the graph: %s", cask_graph_errmsg(g));
  return rc;
}

/* ---- a rank's part (docs/distributed.md, "Planning in parts") ---------- */

/* CASK_MPI_PARTS: unset or 1/true/yes/on, parts allowed (1); 0/false/
 * no/off, not (0); anything else is refused (-1, the context's message). */
static int parts_allowed(cask_ctx *ctx) {
  static const char *on[] = {"1", "true", "yes", "on"}, *off[] = {"0", "false", "no", "off"};
  const char *v = getenv("CASK_MPI_PARTS");
  if (!v || !*v) return 1;
  for (int i = 0; i < 4; i++) {
    if (!strcmp(v, on[i])) return 1;
    if (!strcmp(v, off[i])) return 0;
  }
  cask__fail(ctx, CASK_EINVAL, "CASK_MPI_PARTS='%s': expected 1/0, true/false, yes/no or on/off", v);
  return -1;
}

/* Whether a job on anchor grid G is built in parts on nranks ranks: at
 * least min_ranks of them (a plan of one rank's part is one too), a block
 * per rank at least, targets whose writers follow their blocks (not HDF5
 * or NetCDF, written by rank 0; not Zarr v3 shards, written by groups),
 * and CASK_MPI_PARTS not off (allowed). why says what stopped it. */
static int by_parts(int n, const cask_target *t, const cask__writer *w, const cask__anchor *G, int nranks,
                    int min_ranks, int allowed, char *why, size_t cap) {
  const char *no = NULL;
  if (nranks < min_ranks) no = "one rank";
  else if (G->count < nranks) snprintf(why, cap, "%d ranks but %lld anchor blocks", nranks, (long long)G->count);
  else if (!allowed) no = "CASK_MPI_PARTS is off";
  for (int k = 0; k < n && !no && G->count >= nranks; k++) {
    if (w[k].rank0) no = "an HDF5 or NetCDF output (rank 0 writes every block)";
    for (int i = 0; i < t[k].array->ndim && !no; i++)
      if (w[k].op && w[k].group[i] > 1) no = "a Zarr v3 output of shards (a writer per group of blocks)";
  }
  if (no) snprintf(why, cap, "%s", no);
  return !no && G->count >= nranks;
}

typedef struct part_target {
  const cask_target *t;
  const cask__writer *w;
  int k, into;
} part_target;

static int lower_part_block(cask__lower *L, cask_array *a, const int64_t *bidx, void *arg) {
  const part_target *p = arg;
  cask_task_id id;
  if (!p->into) return cask__lower_writer_of(L, a, p->k, p->w, bidx);
  int rc = cask__lower_into(L, a, bidx, p->t->buf, &id);
  return rc ? rc : cask_graph_set_output(L->g, id, 1);
}

/* The rank's part: its blocks of every target with their writers, the
 * other ranks' neighbours as ghosts; optimized without cull (a task whose
 * only reader is a ghost is needed). */
static int build_part(int n, const cask_target *t, const cask__writer *w, const cask__anchor *G, int nranks, int rank,
                      cask_array *const *arrays, cask_graph *g) {
  cask_ctx *ctx = t[0].array->ctx;
  int64_t lo, npos;
  cask__anchor_range(G, nranks, rank, &lo, &npos);
  int64_t *pos = cask__malloc((size_t)(npos ? npos : 1) * sizeof *pos);
  int *kinds = cask__malloc((size_t)n * sizeof *kinds);
  if (!pos || !kinds) {
    cask__free(pos);
    cask__free(kinds);
    return cask__fail(ctx, CASK_ENOMEM, "store: out of memory");
  }
  for (int64_t k = 0; k < npos; k++) pos[k] = lo + k;
  cask__lower L = {g, ctx, G, nranks, rank};
  int rc = cask__part_lower(&L, n, arrays, pos, (size_t)npos);
  for (int k = 0; k < n && !rc; k++) {
    kinds[k] = (int)t[k].kind;
    cask_array *a = t[k].array;
    part_target p = {&t[k], &w[k], k, t[k].kind == CASK_TARGET_BUFFER && cask__is_elementwise(a) && only_target(n, t, k)};
    if (p.into || w[k].op) rc = cask__part_blocks(&L, a, pos, (size_t)npos, lower_part_block, &p);
  }
  g->part_ranks = nranks, g->part_rank = rank, g->part_digest = cask__part_digest(n, arrays, kinds, G, nranks);
  cask__free(pos);
  cask__free(kinds);
  if (rc && !ctx->errmsg[0]) cask__fail(ctx, rc, "%s", cask_graph_errmsg(g));
  if (!rc && (rc = cask_graph_optimize(g, CASK_OPT_FUSE | CASK_OPT_ORDER)))
    cask__fail(ctx, rc, "optimizing the graph: %s", cask_graph_errmsg(g));
  return rc;
}

/* Finish every opened writer; the first failure is what the caller sees
 * (a failed run's message stays: finish after a failure only cleans). */
static int finish_all(int n, cask__writer *w, cask_ctx *ctx, int rc) {
  for (int k = 0; k < n; k++) {
    if (!w[k].finish) continue;
    int frc = w[k].finish(&w[k], ctx, rc == CASK_OK);
    if (!rc) rc = frc;
  }
  return rc;
}

/* Arrays of unknown block lengths (after x[mask]) going to files get their
 * sizes first: a counting pass, run now, then regular blocks made of
 * theirs (cask_compute_chunk_sizes). *out: NULL when every size is known,
 * else a copy of the targets holding a reference to each array. A buffer
 * of such an array is refused: its caller could not have known its size. */
static int known_sizes(int n, const cask_target *t, const cask_run_options *opts, cask_target **out) {
  int any = 0, rc = CASK_OK;
  *out = NULL;
  for (int k = 0; k < n; k++) {
    if (!t[k].array->unknown) continue;
    if (t[k].kind == CASK_TARGET_BUFFER) return cask__need_sizes(t[k].array, "compute into a buffer");
    any = 1;
  }
  if (!any) return CASK_OK;
  cask_target *c = cask__calloc((size_t)n, sizeof *c);
  if (!c) return cask__fail(t[0].array->ctx, CASK_ENOMEM, "store: out of memory");
  for (int k = 0; k < n; k++) {
    c[k] = t[k];
    c[k].array = NULL;
  }
  for (int k = 0; k < n && !rc; k++) {
    int j = 0;
    while (j < k && t[j].array != t[k].array) j++; /* an array going to several targets is counted once */
    if (j < k) c[k].array = cask_array_retain(c[j].array);
    else rc = cask__compute_chunk_sizes(t[k].array, opts, &c[k].array);
  }
  if (rc) {
    for (int k = 0; k < n; k++) cask_array_release(c[k].array);
    cask__free(c);
    return rc;
  }
  *out = c;
  return CASK_OK;
}

/* With several ranks, a buffer is filled into a zeroed scratch buffer of
 * each rank's (its blocks only), the scratches merged after the run
 * (bitwise OR) and copied into the caller's buffer only on success: the
 * caller's buffer is never cleared (it may hold an input of the run) and
 * keeps its bytes after a failure. */
static int scratch_buffers(int n, const cask_target *t, cask_target **out) {
  cask_target *c = cask__calloc((size_t)n, sizeof *c);
  if (!c) return CASK_ENOMEM;
  for (int k = 0; k < n; k++) {
    c[k] = t[k];
    if (t[k].kind != CASK_TARGET_BUFFER || !t[k].nbytes) continue;
    if (!(c[k].buf = cask__calloc(1, t[k].nbytes))) {
      while (k-- > 0)
        if (c[k].buf != t[k].buf) cask__free(c[k].buf);
      cask__free(c);
      return CASK_ENOMEM;
    }
  }
  *out = c;
  return CASK_OK;
}

static void free_scratch(int n, const cask_target *t, cask_target *c) {
  if (!c) return;
  for (int k = 0; k < n; k++)
    if (c[k].buf != t[k].buf) cask__free(c[k].buf);
  cask__free(c);
}

/* After the run, with several ranks: every rank's flush (its writes made
 * durable) is part of the agreement, so rank 0 renames only files every
 * rank wrote in full. */
static int flush_and_agree(int n, cask__writer *w, cask_executor *ex, cask_ctx *ctx, int rc) {
  for (int k = 0; k < n; k++) {
    int frc = w[k].flush ? w[k].flush(&w[k], ctx) : CASK_OK;
    if (!rc) rc = frc;
  }
  if (!ex->all_ok(ex, rc == CASK_OK) && !rc) rc = cask__fail(ctx, CASK_EIO, "store: another MPI rank failed");
  return rc;
}

/* Rank 0's finish (rename, fsync) to every rank: its code (and its
 * message where this rank had none), so all ranks return the same code; a
 * failure of another rank's finish (a close) fails every rank too. Called
 * by every rank that passed flush_and_agree, whatever its rc. */
static int share_finish(cask_executor *ex, cask_ctx *ctx, int rc) {
  int all = ex->all_ok(ex, rc == CASK_OK), code = rc;
  char msg[sizeof ctx->errmsg];
  cask__fmt(msg, sizeof msg, "%s", ctx->errmsg);
  if (ex->bcast(ex, &code, sizeof code, 0)) return rc ? rc : cask__fail(ctx, CASK_EIO, "store: a broadcast failed");
  if (code) {
    if (ex->bcast(ex, msg, sizeof msg, 0)) return rc ? rc : cask__fail(ctx, CASK_EIO, "store: a broadcast failed");
    msg[sizeof msg - 1] = '\0';
    if (!rc) cask__fail(ctx, code, "rank 0: %s", msg);
    return code;
  }
  if (!all && !rc) rc = cask__fail(ctx, CASK_EIO, "store: another MPI rank failed finishing the outputs");
  return rc;
}

/* What decides the collectives cask_store makes before the run: the
 * targets' count, kinds and buffer sizes (a writer's open broadcasts, a
 * buffer's merge), and each array's dtype, grid and unknown axes (the
 * block count check, the counting pass). Ranks of different jobs would
 * otherwise enter different collectives and wait for each other forever;
 * what the arrays compute is left to the run's digest check, which names
 * the first differing task. */
static uint64_t store_signature(int n, const cask_target *t) {
  uint64_t h = cask__hash(&n, sizeof n, 0x5707e);
  for (int k = 0; k < n; k++) {
    const cask_array *a = t[k].array;
    int64_t f[5 + 2 * CASK_MAX_NDIM] = {(int64_t)t[k].kind, (int64_t)t[k].nbytes, a->dtype, a->ndim, a->unknown};
    for (int i = 0; i < a->ndim; i++) f[5 + 2 * i] = a->shape[i], f[6 + 2 * i] = a->chunk[i];
    h = cask__hash(f, sizeof f, h);
  }
  return h;
}

/* With several ranks, before any other collective: do all ranks store the
 * same kinds of outputs of the same shapes, and did all get their memory? */
static int agree_targets(int n, const cask_target *t, cask_executor *ex, cask_ctx *ctx, int rc) {
  uint64_t mine = store_signature(n, t), rank0 = mine;
  int brc = ex->bcast(ex, &rank0, sizeof rank0, 0);
  int same = !brc && rank0 == mine;
  int all_same = ex->all_ok(ex, same), all_ok = ex->all_ok(ex, rc == CASK_OK);
  if (rc) return rc;
  if (brc) return cask__fail(ctx, CASK_EIO, "store: a broadcast failed");
  if (!same)
    return cask__fail(ctx, CASK_EINVAL, "store: rank %d stores other outputs than rank 0 (their number, kinds, dtypes, "
                      "shapes or chunks differ): every rank must run the same job", ex->rank);
  if (!all_same)
    return cask__fail(ctx, CASK_EINVAL, "store: the ranks store different outputs (their number, kinds, dtypes, shapes "
                      "or chunks differ from rank 0's): every rank must run the same job");
  if (!all_ok) return cask__fail(ctx, CASK_ENOMEM, "store: another MPI rank ran out of memory");
  return CASK_OK;
}

/* The graph of the targets on nranks ranks, as rank `rank`: its part
 * when by_parts allows (*parts = 1), else the whole graph; why says why
 * not in parts. */
static int build_for(int n, const cask_target *t, const cask__writer *w, cask_array *const *arrays, int nranks,
                     int rank, int min_ranks, int allowed, char *why, size_t cap, cask_graph *g, int *parts) {
  cask__anchor G;
  int on_grid = cask__anchor_find(n, arrays, &G, why, cap);
  *parts = on_grid && by_parts(n, t, w, &G, nranks, min_ranks, allowed, why, cap);
  return *parts ? build_part(n, t, w, &G, nranks, rank, arrays, g) : build(n, t, w, on_grid ? &G : NULL, g);
}

int cask_store(int n, const cask_target *targets, const cask_run_options *opts) {
  if (check_targets(n, targets)) return CASK_EINVAL;
  cask_ctx *ctx = targets[0].array->ctx;
  ctx->errmsg[0] = '\0';
  cask_executor *ex = opts ? opts->executor : NULL;
  int multi = ex && ex->nranks > 1, together = 0;
  cask_array *stack[8], **arrays = n <= 8 ? stack : cask__malloc((size_t)n * sizeof *arrays);
  cask__writer *w = cask__calloc((size_t)n, sizeof *w);
  cask_graph *g = NULL;
  cask_target *sized = NULL, *scratch = NULL;
  const cask_target *caller = targets;
  int rc = CASK_OK;
  if (!arrays || !w) rc = cask__fail(ctx, CASK_ENOMEM, "store: out of memory");
  /* Every path of a rank that fails before the run meets the others at an
   * agreement (never a `return` past a collective the others enter): here
   * (this rank's memory), and after building (opening, building). The
   * counting pass of known_sizes runs its own agreed runs. */
  if (multi) rc = agree_targets(n, targets, ex, ctx, rc);
  if (rc) goto done;
  for (int k = 0; k < n; k++) arrays[k] = targets[k].array;
  if ((rc = known_sizes(n, targets, opts, &sized))) goto done;
  if (sized) {
    targets = sized;
    for (int k = 0; k < n; k++) arrays[k] = targets[k].array;
  }
  if ((rc = cask__check_block_count(n, arrays))) goto done; /* the same on every rank */
  if (multi && (rc = scratch_buffers(n, targets, &scratch))) cask__fail(ctx, rc, "store: out of memory");
  if (scratch) targets = scratch;
  /* with several ranks every rank opens every writer (their broadcasts
   * pair up) and all agree before running */
  for (int k = 0; k < n && (!rc || multi); k++) {
    int orc = open_writer(&targets[k], ex, &w[k]);
    if (!rc) rc = orc;
  }
  if (!rc && (rc = cask_graph_new(&g))) cask__fail(ctx, rc, "store: out of memory");
  char why[256];
  int allowed = multi ? parts_allowed(ctx) : 0, parts;
  if (!rc && allowed < 0) rc = CASK_EINVAL; /* met by the agreement below */
  if (!rc)
    rc = build_for(n, targets, w, arrays, multi ? ex->nranks : 1, multi ? ex->rank : 0, 2, allowed, why, sizeof why,
                   g, &parts);
  if (multi && !ex->all_ok(ex, rc == CASK_OK) && !rc)
    rc = cask__fail(ctx, CASK_EIO, "store: another MPI rank could not open the outputs or build the graph");
  if (rc) goto done;
  cask_results *res = NULL;
  if ((rc = cask_run(ctx->rt, g, opts, &res))) {
    if (n == 1 && w[0].path) /* cask_to_npy, cask_to_zarr: name the file */
      cask__fail(ctx, rc, "%s %s: %s", w[0].what, w[0].path, cask_runtime_errmsg(ctx->rt));
    else
      cask__fail(ctx, rc, "%s", cask_runtime_errmsg(ctx->rt));
  }
  cask_results_free(res); /* writers and kernels into buffers make no block */
  if (multi) { /* every rank's blocks are in before the buffers are copied and rank 0 renames */
    for (int k = 0; k < n; k++) /* a collective: entered by every rank, whatever rc (the run agreed it) */
      if (targets[k].kind == CASK_TARGET_BUFFER && targets[k].nbytes && ex->merge(ex, targets[k].buf, targets[k].nbytes) &&
          !rc)
        rc = cask__fail(ctx, CASK_EIO, "store: merging a buffer across MPI ranks failed");
    rc = flush_and_agree(n, w, ex, ctx, rc);
    together = 1;
    for (int k = 0; !rc && k < n; k++)
      if (targets[k].kind == CASK_TARGET_BUFFER && targets[k].nbytes) memcpy(caller[k].buf, targets[k].buf, targets[k].nbytes);
  }
done:
  if (w) rc = finish_all(n, w, ctx, rc);
  if (together) rc = share_finish(ex, ctx, rc);
  free_scratch(n, caller, scratch);
  cask_graph_free(g);
  cask__free(w);
  if (arrays != stack) cask__free(arrays);
  if (sized) {
    for (int k = 0; k < n; k++) cask_array_release(sized[k].array);
    cask__free(sized);
  }
  return rc;
}

/* ---- the graph a run would build, for planning -------------------------- */


static void plan_place(void *args, const int64_t *gidx, const int64_t *off, const int64_t *ext) {
  (void)args, (void)gidx, (void)off, (void)ext;
}

/* The writer cask_store would open for t, described only: the key's name,
 * the grouping (Zarr v3 shards) and rank 0's pin (HDF5, NetCDF on several
 * ranks), with an op that never runs. */
static void plan_writer(const cask_target *t, int multi, cask__writer *w) {
  static const char *what[] = {"to_buffer", "to_npy", "to_zarr", "to_hdf5", "to_netcdf"};
  *w = (cask__writer){.what = what[t->kind], .op = op_plan_writer, .place = plan_place};
  if (t->kind == CASK_TARGET_ZARR && cask_array_size(t->array) == 0) w->op = NULL; /* no chunks */
  if (t->kind == CASK_TARGET_ZARR && t->zarr && t->zarr->zarr_format == 3)
    for (int i = 0; i < t->array->ndim; i++)
      w->group[i] = t->zarr->shards[i] ? t->zarr->shards[i] / t->array->chunk[i] : 1;
  w->rank0 = multi && (t->kind == CASK_TARGET_HDF5 || t->kind == CASK_TARGET_NETCDF);
}

int cask_store_graph(int n, const cask_target *targets, int nranks, int rank, int *parts, char *why, size_t why_cap,
                     cask_graph **out) {
  if (!out || check_targets(n, targets)) return CASK_EINVAL;
  *out = NULL;
  if (parts) *parts = 0;
  if (why && why_cap) why[0] = '\0';
  cask_ctx *ctx = targets[0].array->ctx;
  ctx->errmsg[0] = '\0';
  if (nranks < 1 || rank < 0 || rank >= nranks)
    return cask__fail(ctx, CASK_EINVAL, "store_graph: rank %d of %d ranks", rank, nranks);
  for (int k = 0; k < n; k++)
    if (targets[k].array->unknown) return cask__need_sizes(targets[k].array, "plan the writers of");
  cask_array *stack[8], **arrays = n <= 8 ? stack : cask__malloc((size_t)n * sizeof *arrays);
  cask__writer *w = cask__calloc((size_t)n, sizeof *w);
  cask_graph *g = NULL;
  int rc = arrays && w ? CASK_OK : cask__fail(ctx, CASK_ENOMEM, "store_graph: out of memory");
  for (int k = 0; !rc && k < n; k++) arrays[k] = targets[k].array;
  if (!rc) rc = cask__check_block_count(n, arrays);
  if (!rc && (rc = cask_graph_new(&g))) cask__fail(ctx, rc, "store_graph: out of memory");
  int allowed = parts ? parts_allowed(ctx) : 0, in_parts = 0;
  if (!rc && allowed < 0) rc = CASK_EINVAL;
  for (int k = 0; !rc && k < n; k++) plan_writer(&targets[k], nranks > 1, &w[k]);
  char local[256];
  if (!rc)
    rc = build_for(n, targets, w, arrays, nranks, rank, 1, allowed, why && why_cap ? why : local,
                   why && why_cap ? why_cap : sizeof local, g, &in_parts);
  if (!rc && parts) *parts = in_parts;
  cask__free(w);
  if (arrays != stack) cask__free(arrays);
  if (rc) {
    cask_graph_free(g);
    return rc;
  }
  *out = g;
  return CASK_OK;
}

int cask_compute(cask_array *a, void *buf, size_t nbytes) {
  if (!a || (!buf && nbytes)) return CASK_EINVAL;
  return cask_store(1, &CASK_TO_BUFFER(a, buf, nbytes), NULL);
}

int cask_compute_scalar(cask_array *a, double *out) {
  if (!a || !out) return CASK_EINVAL;
  if (cask_array_size(a) != 1) {
    char s[256];
    cask__shape_str(s, sizeof s, a->ndim, a->shape);
    return cask__fail(a->ctx, CASK_EINVAL, "compute_scalar: the array has shape %s, not one element", s);
  }
  _Alignas(8) unsigned char v[8];
  int rc = cask_compute(a, v, cask__itemsize(a));
  if (!rc) cask__cast(out, CASK_F64, v, a->dtype, 1);
  return rc;
}

int cask_array_graph(cask_array *a, cask_graph **out) {
  if (!a || !out) return CASK_EINVAL;
  return cask_arrays_graph(1, &a, out, NULL);
}
