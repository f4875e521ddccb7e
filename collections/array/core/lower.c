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
  /* Every node kind lowers through its class: a new kind never edits this. */
  int rc = a->cls->lower(L, a, bidx, key, out);
  if (rc && !L->ctx->errmsg[0])
    cask__fail(L->ctx, rc, "building block %s: %s", key, cask_graph_errmsg(L->g));
  return rc;
}
