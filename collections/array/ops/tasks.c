/* tasks.c - arrays and a user's task graph in one graph: an array whose
 * blocks are tasks of the user's graph (dask's from_delayed and block),
 * and the blocks of an array as tasks of the user's graph, for the user's
 * tasks to take as inputs (to_delayed).
 * The one thing to know: cask_from_tasks copies the tasks its blocks need
 * (with everything they depend on, keys kept) when the array is made, so
 * the user's graph may change or go afterwards; lowering a block copies
 * its task's part into the graph being built and adds a check task, under
 * the block's own key, that the block has the declared dtype and shape. */
#include <stdio.h>

#include "ops.h"

typedef struct from_tasks {
  cask_graph *sub;  /* the tasks the blocks need, keys kept */
  uint32_t *block;  /* per block (C order): its task in sub */
} from_tasks;

static void free_from_tasks(void *ext) {
  from_tasks *f = ext;
  cask_graph_free(f->sub);
  cask__free(f->block);
  cask__free(f);
}

/* ---- the check task ------------------------------------------------------- */

typedef struct check_args {
  int32_t dtype, ndim;
  int64_t ext[CASK_MAX_NDIM];
} check_args;

static const cask_op *op_check;

static int check_run(cask_task_io *io) {
  check_args a;
  if (io->args_len != sizeof a || io->ninputs != 1) return CASK_EINVAL;
  memcpy(&a, io->args, sizeof a);
  const cask_block *b = io->inputs[0];
  int same = b && cask_block_dtype(b) == (cask_dtype)a.dtype && cask_block_ndim(b) == a.ndim;
  for (int i = 0; same && i < a.ndim; i++) same = cask_block_shape(b)[i] == a.ext[i];
  if (!same) {
    char got[300] = "no block", want[300];
    if (b) cask__shape_str(got, sizeof got, cask_block_ndim(b), cask_block_shape(b));
    cask__shape_str(want, sizeof want, a.ndim, a.ext);
    cask__fmt(io->errmsg, io->errmsg_cap, "the task made %s%s%s, the array declares a %s block of shape %s",
              b ? cask_dtype_name(cask_block_dtype(b)) : "", b ? " of shape " : "", got,
              cask_dtype_name((cask_dtype)a.dtype), want);
    return CASK_EINVAL;
  }
  io->output = cask_block_retain((cask_block *)b);
  return CASK_OK;
}

void cask__register_tasks_ops(void) {
  cask_op_register(&(cask_op){.name = "array.check_block", .run = check_run, .args_size = sizeof(check_args)},
                   &op_check);
}

/* ---- copying tasks -------------------------------------------------------- */

#define MAX_COPY_DEPTH 10000 /* recursion: far from the stack's end */

/* Task id of src and everything it depends on, into dst under the same keys
 * (a key dst has is taken as the same task). */
static int copy_task(cask_graph *dst, const cask_graph *src, uint32_t id, uint32_t *out, int depth) {
  const char *key = cask_graph_key(src, id);
  if (!cask_graph_find(dst, key, out)) return CASK_OK;
  if (depth > MAX_COPY_DEPTH) return CASK_ETOOBIG;
  size_t n, len;
  const cask_task_id *deps = cask_graph_deps(src, id, &n);
  const char *stack[16], **names = n <= 16 ? stack : cask__malloc(n * sizeof *names);
  if (!names) return CASK_ENOMEM;
  int rc = CASK_OK;
  for (size_t k = 0; k < n && !rc; k++) {
    uint32_t got;
    rc = copy_task(dst, src, deps[k], &got, depth + 1);
    names[k] = cask_graph_key(src, deps[k]);
  }
  const void *args = cask_graph_args(src, id, &len);
  if (!rc) rc = cask__graph_add_keyed(dst, key, cask_graph_op(src, id), args, len, names, n, out);
  if (!rc) rc = cask_graph_set_size(dst, *out, cask_graph_size_estimate(src, id));
  if (names != stack) cask__free(names);
  return rc;
}

/* ---- cask_from_tasks ------------------------------------------------------- */

static int from_tasks_lower(cask__lower *L, cask_array *a, const int64_t *bidx, const char *key,
                            cask_task_id *out) {
  const from_tasks *f = a->ext;
  int64_t k = 0, off[CASK_MAX_NDIM];
  for (int i = 0; i < a->ndim; i++) k = k * cask__nblocks(a, i) + bidx[i];
  check_args c;
  memset(&c, 0, sizeof c);
  c.dtype = a->dtype, c.ndim = a->ndim;
  cask__block_box(a, bidx, off, c.ext);
  uint32_t task;
  int rc = copy_task(L->g, f->sub, f->block[k], &task, 0);
  if (!rc) rc = cask__graph_add(L->g, key, op_check, &c, sizeof c, &task, 1, out);
  if (rc) return cask__fail(L->ctx, rc, "from_tasks: block %lld: %s", (long long)k, cask_graph_errmsg(L->g));
  int64_t bytes = (int64_t)cask__itemsize(a);
  for (int i = 0; i < a->ndim; i++) bytes *= c.ext[i];
  return cask_graph_set_size(L->g, *out, bytes);
}

static const cask__node_class from_tasks_class = {.name = "from_tasks", .lower = from_tasks_lower,
                                                  .free_ext = free_from_tasks};

int cask_from_tasks(cask_ctx *ctx, cask_graph *g, const cask_task_id *ids, cask_dtype dtype, int ndim,
                    const int64_t *shape, const int64_t *chunks, cask_array **out) {
  if (!out) return CASK_EINVAL;
  *out = NULL;
  if (!ctx) return CASK_EINVAL;
  if (!g || !ids || ndim < 0 || ndim > CASK_MAX_NDIM || (ndim && (!shape || !chunks)))
    return cask__fail(ctx, CASK_EINVAL, "from_tasks: g, ids, shape and chunks must be given (ndim %d)", ndim);
  int64_t nb = 1;
  for (int i = 0; i < ndim; i++) {
    if (shape[i] < 0 || chunks[i] < 1)
      return cask__fail(ctx, CASK_EINVAL, "from_tasks: axis %d has extent %lld and chunk %lld", i, (long long)shape[i],
                        (long long)chunks[i]);
    int64_t n = shape[i] ? (shape[i] + chunks[i] - 1) / chunks[i] : 1;
    if (__builtin_mul_overflow(nb, n, &nb) || nb > CASK__MAX_ARRAY_TASKS)
      return cask__fail(ctx, CASK_ETOOBIG, "from_tasks: more than %lld blocks", (long long)CASK__MAX_ARRAY_TASKS);
  }
  int rc = cask_graph_validate(g);
  if (rc) return cask__fail(ctx, rc, "from_tasks: the task graph: %s", cask_graph_errmsg(g));
  from_tasks *f = cask__calloc(1, sizeof *f);
  if (!f || !(f->block = cask__calloc((size_t)nb, sizeof *f->block)) || cask_graph_new(&f->sub)) {
    if (f) free_from_tasks(f);
    return cask__fail(ctx, CASK_ENOMEM, "from_tasks: out of memory");
  }
  for (int64_t k = 0; k < nb && !rc; k++) {
    if (ids[k] >= cask_graph_size(g)) rc = CASK_EINVAL;
    else rc = copy_task(f->sub, g, ids[k], &f->block[k], 0);
  }
  if (!rc) rc = cask_graph_validate(f->sub);
  if (rc) {
    char msg[600];
    cask__fmt(msg, sizeof msg, "%s", cask_graph_errmsg(f->sub));
    free_from_tasks(f);
    return cask__fail(ctx, rc, "from_tasks: %s", rc == CASK_EINVAL && !msg[0] ? "a task id is not in the graph" : msg);
  }
  if ((rc = cask__node_new_ext(ctx, &from_tasks_class, f, dtype, ndim, shape, chunks, 0, NULL, out))) return rc;
  /* the token: the blocks' task keys (and, through the node, shape and chunks) */
  uint64_t h = 0x7461736b;
  for (int64_t k = 0; k < nb; k++) {
    const char *key = cask_graph_key(f->sub, f->block[k]);
    h = cask__hash(key, strlen(key), h);
  }
  cask__node_seal(*out, &h, sizeof h);
  return CASK_OK;
}

/* ---- cask_graph_add_array -------------------------------------------------- */

int cask_graph_add_array(cask_graph *g, cask_array *a, cask_task_id *ids, size_t nids) {
  if (!g || !a || (nids && !ids)) return CASK_EINVAL;
  cask_ctx *ctx = a->ctx;
  ctx->errmsg[0] = '\0';
  int64_t nb = 1;
  for (int i = 0; i < a->ndim; i++) nb *= cask__nblocks(a, i);
  if ((size_t)nb != nids)
    return cask__fail(ctx, CASK_EINVAL, "graph_add_array: the array has %lld blocks, ids has room for %zu", (long long)nb,
                      nids);
  int rc = cask__check_block_count(1, &a);
  if (rc) return rc;
  cask__lower L = {g, ctx, NULL, 0, 0};
  int64_t idx[CASK_MAX_NDIM] = {0};
  for (size_t k = 0; k < nids; k++) {
    if ((rc = cask__lower_block(&L, a, idx, &ids[k]))) {
      if (!ctx->errmsg[0]) cask__fail(ctx, rc, "graph_add_array: %s", cask_graph_errmsg(g));
      return rc;
    }
    cask__next_block(a, idx);
  }
  return CASK_OK;
}
