/* order.c - the static order: a priority per task, 0 first.
 *
 * A depth-first post-order from the outputs (then from the remaining sinks):
 * a task gets its number as soon as all its dependencies have theirs. So a
 * subtree is finished, and the memory its leaves hold released, before the
 * walk starts the roots of the next one; that is the property of
 * dask/order.py that matters most for memory. Of a task's dependencies the
 * tallest is walked first (a first walk computes heights); ties go in the
 * order they were listed, which keeps the order deterministic and follows
 * the layout a builder gives (block (0,0) before (0,1)). */
#include "graph-int.h"

typedef struct frame {
  uint32_t v, next;
} frame;

/* Up to this many dependencies the walk picks the tallest unvisited one
 * each time (a scan per pick); above it, it takes them as listed. */
#define PICK_MAX_DEPS 32

/* The next unvisited dependency of f's task to walk into, or CASK__NO_TASK.
 * With heights: the tallest (longest chain of tasks below it) first, ties
 * as listed. Like Sethi and Ullman's order for expression trees, the
 * deeper operand first: while it runs, the other operand's result is not
 * yet made, so it is not held (a fold acc = f(acc, x_i) written with x_i
 * first otherwise computes every x_i before the chain reaches it). */
static uint32_t next_dep(const cask_graph *g, frame *f, const uint8_t *seen, const uint32_t *height) {
  const cask__task *t = &g->tasks[f->v];
  const uint32_t *deps = g->dep_idx + t->deps_off;
  if (height && t->ndeps <= PICK_MAX_DEPS) {
    uint32_t best = CASK__NO_TASK;
    for (uint32_t k = 0; k < t->ndeps; k++)
      if (!seen[deps[k]] && (best == CASK__NO_TASK || height[deps[k]] > height[best])) best = deps[k];
    return best;
  }
  while (f->next < t->ndeps) {
    uint32_t d = deps[f->next++];
    if (!seen[d]) return d;
  }
  return CASK__NO_TASK;
}

/* A depth-first walk from root. Without `height` it computes heights (at
 * post time every dependency has its own); with it, it numbers tasks. */
static void walk_from(const cask_graph *g, uint32_t root, uint8_t *seen, frame *stack,
                      uint32_t *height, uint32_t *prio, uint32_t *counter) {
  size_t sp = 0;
  seen[root] = 1;
  stack[sp++] = (frame){root, 0};
  while (sp) {
    frame *f = &stack[sp - 1];
    uint32_t d = next_dep(g, f, seen, prio ? height : NULL);
    if (d != CASK__NO_TASK) {
      seen[d] = 1;
      stack[sp++] = (frame){d, 0};
      continue;
    }
    if (prio) {
      prio[f->v] = (*counter)++;
    } else {
      const cask__task *t = &g->tasks[f->v];
      uint32_t h = 0;
      for (uint32_t k = 0; k < t->ndeps; k++) {
        uint32_t hd = height[g->dep_idx[t->deps_off + k]] + 1;
        if (hd > h) h = hd;
      }
      height[f->v] = h;
    }
    sp--;
  }
}

/* Walk from the outputs, then from the remaining sinks. */
static void walk_all(const cask_graph *g, uint8_t *seen, frame *stack, uint32_t *height,
                     uint32_t *prio) {
  size_t n = g->ntasks;
  uint32_t counter = 0;
  memset(seen, 0, n);
  for (size_t i = 0; i < n; i++)
    if ((g->tasks[i].flags & CASK__TASK_OUTPUT) && !seen[i])
      walk_from(g, (uint32_t)i, seen, stack, height, prio, &counter);
  for (size_t i = 0; i < n; i++)
    if (g->succ_off[i] == g->succ_off[i + 1] && !seen[i])
      walk_from(g, (uint32_t)i, seen, stack, height, prio, &counter);
}

int cask_graph_order(cask_graph *g) {
  if (!g) return CASK_EINVAL;
  int rc = cask_graph_validate(g);
  if (rc) return rc;
  size_t n = g->ntasks;
  frame *stack = cask__scratch(g, (n + 1) * (sizeof(frame) + sizeof(uint32_t) + 1));
  if (!stack || cask__grow((void **)&g->prio_buf, &g->prio_cap, n + 1, sizeof *g->prio_buf)) {
    cask__fmt(g->errmsg, sizeof g->errmsg, "order: out of memory");
    return CASK_ENOMEM;
  }
  uint32_t *height = (uint32_t *)(stack + n + 1);
  uint8_t *seen = (uint8_t *)(height + n + 1);
  walk_all(g, seen, stack, height, NULL);
  walk_all(g, seen, stack, height, g->prio_buf);
  g->prio = g->prio_buf;
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
      if (--left[d] == 0 && !(g->tasks[d].flags & CASK__TASK_OUTPUT))
        held -= g->tasks[d].size > 0 ? g->tasks[d].size : 0;
    }
    if (left[v] == 0 && !(t->flags & CASK__TASK_OUTPUT)) held -= sz;
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
