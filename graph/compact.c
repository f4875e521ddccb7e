/* compact.c - remove tasks from a validated graph in place (cull and fuse).
 * Kept tasks keep their relative order, their keys and their arguments
 * where they are in the arenas; only the task records and the dependency
 * lists move. The dependency lists are written into a second buffer that
 * the graph keeps (and swaps with the first), because a fused task takes
 * another task's list, which an in-place copy could already have
 * overwritten. Reusing the graph's own memory matters here: on this
 * project's machines a fresh page costs more to touch than tens of tasks
 * cost to process, and rebuilding through cask_graph_add made cull and fuse
 * the slowest passes. */
#include "graph-int.h"

int cask__compact(cask_graph *g, const uint32_t *map, const uint32_t *deps_from) {
  size_t n = g->ntasks, nd = 0, kept = 0;
  for (size_t i = 0; i < n; i++)
    if (map[i] != CASK__NO_TASK) nd += g->tasks[deps_from ? deps_from[i] : i].ndeps;
  if (cask__grow((void **)&g->dep_idx2, &g->dep_idx2_cap, nd + 1, sizeof *g->dep_idx2))
    return CASK_ENOMEM;
  size_t w = 0;
  for (size_t i = 0; i < n; i++) {
    if (map[i] == CASK__NO_TASK) continue;
    const cask__task *src = &g->tasks[deps_from ? deps_from[i] : i];
    uint32_t off = (uint32_t)w, cnt = src->ndeps;
    for (uint32_t k = 0; k < cnt; k++) g->dep_idx2[w++] = map[g->dep_idx[src->deps_off + k]];
    g->tasks[i].deps_off = off;
    g->tasks[i].ndeps = cnt;
  }
  /* Records move to lower or equal indices, in order: a forward copy. */
  g->noutputs = 0;
  for (size_t i = 0; i < n; i++) {
    if (map[i] == CASK__NO_TASK) continue;
    g->tasks[kept++] = g->tasks[i];
    g->noutputs += (g->tasks[i].flags & CASK__TASK_OUTPUT) != 0;
  }
  uint32_t *t = g->dep_idx;
  size_t tc = g->dep_idx_cap;
  g->dep_idx = g->dep_idx2;
  g->dep_idx_cap = g->dep_idx2_cap;
  g->dep_idx2 = t;
  g->dep_idx2_cap = tc;
  g->ntasks = kept;
  g->ndeps = nd;
  for (size_t k = 0; k < nd; k++) g->dep_hash[k] = g->tasks[g->dep_idx[k]].hash;
  g->ndep_names = 0; /* every dependency is resolved */
  cask__invalidate(g);
  cask__index_clear(g);
  /* Removing tasks, or contracting chains, from a DAG leaves a DAG. */
  g->acyclic = 1;
  return CASK_OK;
}
