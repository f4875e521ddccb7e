/* cull.c - drop the tasks no output needs: a backward walk from the
 * outputs (or, with none marked, from every sink), then an in-place
 * compaction that keeps the surviving tasks in their old relative order. */
#include "graph-int.h"

int cask_graph_cull(cask_graph *g) {
  if (!g) return CASK_EINVAL;
  int rc = cask_graph_validate(g);
  if (rc) return rc;
  size_t n = g->ntasks;
  uint32_t *map = cask__scratch(g, 2 * (n + 1) * sizeof *map);
  if (!map) return CASK_ENOMEM;
  uint32_t *stack = map + n + 1;
  size_t sp = 0, kept = 0;
  for (size_t i = 0; i < n; i++) {
    int root = g->noutputs ? (g->tasks[i].flags & CASK__TASK_OUTPUT) != 0
                           : g->succ_off[i] == g->succ_off[i + 1];
    map[i] = root ? 0 : CASK__NO_TASK;
    if (root) stack[sp++] = (uint32_t)i;
  }
  while (sp) {
    const cask__task *t = &g->tasks[stack[--sp]];
    for (uint32_t k = 0; k < t->ndeps; k++) {
      uint32_t d = g->dep_idx[t->deps_off + k];
      if (map[d] == CASK__NO_TASK) {
        map[d] = 0;
        stack[sp++] = d;
      }
    }
  }
  for (size_t i = 0; i < n; i++)
    if (map[i] != CASK__NO_TASK) map[i] = (uint32_t)kept++;
  if (kept == n) return CASK_OK; /* nothing to drop: keep the validated graph */
  if ((rc = cask__compact(g, map, NULL))) {
    cask__fmt(g->errmsg, sizeof g->errmsg, "cull: %s", cask_strerror(rc));
    return rc;
  }
  return cask_graph_validate(g);
}
