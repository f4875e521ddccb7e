/* lower.c - lowering array nodes to block tasks: the task keys of blocks
 * and the one dispatcher, which hands a block to its node's class.
 * The one thing to know: cask__lower_block is called for exactly the blocks
 * an output needs, recursively, and returns the existing task when a block
 * was lowered before (its key is in the graph), so a block is built once
 * however many consumers it has, and never when nothing needs it. */
#include <stdio.h>

#include "array-int.h"

void cask__block_key(char *buf, size_t cap, const char *kind, uint64_t token, int ndim,
                     const int64_t *bidx) {
  size_t off = (size_t)snprintf(buf, cap, "%s-%016llx-", kind, (unsigned long long)token);
  for (int i = 0; i < ndim && off < cap; i++)
    off += (size_t)snprintf(buf + off, cap - off, "%s%lld", i ? "," : "", (long long)bidx[i]);
}

void cask__node_block_key(const cask_array *a, const int64_t *bidx, char *buf, size_t cap) {
  cask__block_key(buf, cap, a->cls->prefix ? a->cls->prefix(a) : a->cls->name, a->token, a->ndim, bidx);
}

int cask__lower_block(cask__lower *L, cask_array *a, const int64_t *bidx, cask_task_id *out) {
  char key[512];
  cask__node_block_key(a, bidx, key, sizeof key);
  if (cask_graph_find(L->g, key, out) == CASK_OK) return CASK_OK;
  /* A rank's part holds the blocks of its reductions it makes (their
   * lower_part ran first); another rank's is a ghost. */
  if (L->nranks && a->cls->part_ghost) return a->cls->part_ghost(L, a, bidx, out);
  /* Every node kind lowers through its class: a new kind never edits this. */
  int rc = a->cls->lower(L, a, bidx, key, out);
  /* in a job on an anchor grid every root is a block of a node on it */
  if (!rc && L->G && cask__anchor_on(L->G, a)) rc = cask__stamp_root(L, *out, bidx);
  if (rc && !L->ctx->errmsg[0])
    cask__fail(L->ctx, rc, "building block %s: %s", key, cask_graph_errmsg(L->g));
  return rc;
}

/* ---- ghosts ------------------------------------------------------------ */

static const cask_op *op_ghost;

/* A ghost only stands in a rank's plan for another rank's task: running
 * one is a bug of the executor, reported, never a crash. */
static int ghost_run(cask_task_io *io) {
  cask__fmt(io->errmsg, io->errmsg_cap, "a ghost task (another rank's task) was run");
  return CASK_EINVAL;
}

void cask__register_ghost_ops(void) {
  cask_op_register(&(cask_op){.name = "array.ghost", .run = ghost_run}, &op_ghost);
}

int cask__ghost(cask__lower *L, const char *key, int owner, const cask_task_id *deps, size_t ndeps, int64_t size,
                cask_task_id *out) {
  /* a task this rank sends to and then receives from (a fold whose
   * blocks alternate between ranks) is one ghost */
  if (cask_graph_find(L->g, key, out) == CASK_OK) return CASK_OK;
  cask_place_hint h = {CASK_PLACE_RANK, (uint32_t)owner, 0, 0, 0};
  int rc = cask__graph_add(L->g, key, op_ghost, NULL, 0, deps, ndeps, out);
  if (!rc) cask_graph_set_size(L->g, *out, size);
  if (!rc) rc = cask_graph_set_place(L->g, *out, &h);
  if (!rc) rc = cask__graph_set_ghost(L->g, *out);
  return rc;
}
