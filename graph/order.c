/* order.c - the static order: a priority per task, 0 first.
 *
 * A depth-first post-order from the outputs (then from the remaining sinks):
 * a task gets its number as soon as all its dependencies have theirs. So a
 * subtree is finished, and the memory its leaves hold released, before the
 * walk starts the roots of the next one; that is the property of
 * dask/order.py that matters most for memory. Dependencies are visited in
 * the order they were listed, which keeps the order deterministic and
 * follows the layout a builder gives (block (0,0) before (0,1)). */
#include "graph-int.h"

typedef struct frame {
  uint32_t v, next;
} frame;

static void walk_from(const cask_graph *g, uint32_t root, uint8_t *seen,
                      frame *stack, uint32_t *prio, uint32_t *counter) {
  size_t sp = 0;
  seen[root] = 1;
  stack[sp++] = (frame){root, 0};
  while (sp) {
    frame *f = &stack[sp - 1];
    const cask__task *t = &g->tasks[f->v];
    if (f->next < t->ndeps) {
      uint32_t d = g->dep_idx[t->deps_off + f->next++];
      if (!seen[d]) {
        seen[d] = 1;
        stack[sp++] = (frame){d, 0};
      }
      continue;
    }
    prio[f->v] = (*counter)++;
    sp--;
  }
}

int cask_graph_order(cask_graph *g) {
  if (!g) return CASK_EINVAL;
  int rc = cask_graph_validate(g);
  if (rc) return rc;
  size_t n = g->ntasks;
  frame *stack = cask__scratch(g, (n + 1) * (sizeof(frame) + 1));
  if (!stack || cask__grow((void **)&g->prio_buf, &g->prio_cap, n + 1, sizeof *g->prio_buf)) {
    cask__fmt(g->errmsg, sizeof g->errmsg, "order: out of memory");
    return CASK_ENOMEM;
  }
  uint8_t *seen = (uint8_t *)(stack + n + 1);
  memset(seen, 0, n);
  uint32_t *prio = g->prio_buf, counter = 0;
  for (size_t i = 0; i < n; i++)
    if ((g->tasks[i].flags & TASK_OUTPUT) && !seen[i])
      walk_from(g, (uint32_t)i, seen, stack, prio, &counter);
  for (size_t i = 0; i < n; i++)
    if (g->succ_off[i] == g->succ_off[i + 1] && !seen[i])
      walk_from(g, (uint32_t)i, seen, stack, prio, &counter);
  g->prio = prio;
  return CASK_OK;
}

int cask_graph_predicted_peak(const cask_graph *g, int64_t *bytes) {
  if (!g || !bytes || !g->prio || !g->validated) return CASK_EINVAL;
  size_t n = g->ntasks;
  uint32_t *by_prio = cask__malloc((n ? n : 1) * sizeof *by_prio);
  uint32_t *left = cask__malloc((n ? n : 1) * sizeof *left);
  if (!by_prio || !left) {
    cask__free(by_prio);
    cask__free(left);
    return CASK_ENOMEM;
  }
  for (size_t i = 0; i < n; i++) {
    by_prio[g->prio[i]] = (uint32_t)i;
    left[i] = g->succ_off[i + 1] - g->succ_off[i];
  }
  int64_t held = 0, peak = 0;
  for (size_t k = 0; k < n; k++) {
    uint32_t v = by_prio[k];
    const cask__task *t = &g->tasks[v];
    int64_t sz = t->size > 0 ? t->size : 0;
    held += sz;
    if (held > peak) peak = held;
    for (uint32_t j = 0; j < t->ndeps; j++) {
      uint32_t d = g->dep_idx[t->deps_off + j];
      if (--left[d] == 0 && !(g->tasks[d].flags & TASK_OUTPUT))
        held -= g->tasks[d].size > 0 ? g->tasks[d].size : 0;
    }
    if (left[v] == 0 && !(t->flags & TASK_OUTPUT)) held -= sz;
  }
  cask__free(by_prio);
  cask__free(left);
  *bytes = peak;
  return CASK_OK;
}

int cask_graph_optimize(cask_graph *g, unsigned passes) {
  if (!g || (passes & ~(unsigned)CASK_OPT_ALL)) return CASK_EINVAL;
  int rc = cask_graph_validate(g);
  if (!rc && (passes & CASK_OPT_CULL)) rc = cask_graph_cull(g);
  if (!rc && (passes & CASK_OPT_FUSE)) rc = cask_graph_fuse(g);
  if (!rc && (passes & CASK_OPT_ORDER)) rc = cask_graph_order(g);
  return rc;
}
