/* sink.c - computing an array into writer tasks, as cask_to_npy and
 * cask_to_zarr do: one graph where every block of the array feeds a writer
 * task of its own (which produces no block), run on the context's runtime.
 * The one thing to know: the writer's argument bytes are the caller's; a
 * place function stamps each block's index and box into a copy of them. */
#include <stdio.h>

#include "array-int.h"

static int lower_writers(cask__lower *L, cask_array *a, const char *what, const cask_op *op, void *args,
                         size_t len, cask__sink_place place) {
  int64_t bidx[CASK_MAX_NDIM] = {0}, off[CASK_MAX_NDIM], ext[CASK_MAX_NDIM];
  for (;;) {
    cask_task_id in, id;
    char key[512];
    int rc = cask__lower_block(L, a, bidx, &in);
    if (rc) return rc;
    cask__block_box(a, bidx, off, ext);
    place(args, bidx, off, ext);
    cask__block_key(key, sizeof key, what, a->token, a->ndim, bidx);
    if ((rc = cask__graph_add(L->g, key, op, args, len, &in, 1, &id)) || (rc = cask_graph_set_output(L->g, id, 1)))
      return cask__fail(L->ctx, rc, "%s: adding the writer of block %s: %s", what, key, cask_graph_errmsg(L->g));
    int i = a->ndim - 1;
    for (; i >= 0; i--) {
      if (++bidx[i] < cask__nblocks(a, i)) break;
      bidx[i] = 0;
    }
    if (i < 0) return CASK_OK;
  }
}

int cask__run_sinks(cask_array *a, const char *what, const char *path, const cask_op *op, void *args,
                    size_t len, cask__sink_place place) {
  cask_ctx *ctx = a->ctx;
  cask_graph *g;
  int rc = cask__check_block_count(1, &a);
  if (rc) {
    char msg[sizeof ctx->errmsg];
    cask__fmt(msg, sizeof msg, "%s", ctx->errmsg);
    return cask__fail(ctx, rc, "%s %s: %s", what, path, msg);
  }
  if ((rc = cask_graph_new(&g))) return cask__fail(ctx, rc, "%s %s: out of memory", what, path);
  cask__lower L = {g, ctx};
  if ((rc = lower_writers(&L, a, what, op, args, len, place))) {
    char msg[sizeof ctx->errmsg];
    cask__fmt(msg, sizeof msg, "%s", ctx->errmsg);
    cask__fail(ctx, rc, "%s %s: %s", what, path, msg);
  } else if ((rc = cask_graph_optimize(g, CASK_OPT_ALL))) {
    cask__fail(ctx, rc, "%s %s: optimizing the graph: %s", what, path, cask_graph_errmsg(g));
  } else {
    cask_results *res;
    if ((rc = cask_run(ctx->rt, g, NULL, &res)))
      cask__fail(ctx, rc, "%s %s: %s", what, path, cask_runtime_errmsg(ctx->rt));
    else
      cask_results_free(res);
  }
  cask_graph_free(g);
  return rc;
}

int cask__sink_check_block(const cask_task_io *io, int ndim, const int64_t *ext, const char *place) {
  const cask_block *b = io->ninputs == 1 ? io->inputs[0] : NULL;
  if (!b) {
    cask__fmt(io->errmsg, io->errmsg_cap, "the block to write is missing");
    return CASK_EINVAL;
  }
  int same = cask_block_ndim(b) == ndim;
  for (int i = 0; same && i < ndim; i++) same = cask_block_shape(b)[i] == ext[i];
  if (!same) {
    char got[400], want[400];
    cask__shape_str(got, sizeof got, cask_block_ndim(b), cask_block_shape(b));
    cask__shape_str(want, sizeof want, ndim, ext);
    cask__fmt(io->errmsg, io->errmsg_cap, "the block has shape %s, its %s %s", got, place, want);
    return CASK_EINVAL;
  }
  return CASK_OK;
}
