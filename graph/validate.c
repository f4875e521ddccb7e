/* validate.c - resolve dependency keys, build the dependents (CSR) arrays
 * and reject cycles. Kahn's algorithm finds whether a cycle exists; a walk
 * through the tasks Kahn could not free then names the tasks on one. */
#include <stdio.h>

#include "graph-int.h"

static int resolve(cask_graph *g) {
  int rc = cask__index_update(g);
  if (rc) return rc;
  for (size_t i = 0; i < g->ntasks; i++) {
    const cask__task *t = &g->tasks[i];
    for (uint32_t k = 0; k < t->ndeps; k++) {
      size_t d = t->deps_off + k;
      if (g->dep_idx[d] != CASK__NO_TASK) continue;
      /* With the key text at hand compare it too, so a 64-bit hash
       * collision cannot connect the wrong task. */
      const char *name = cask__dep_name(g, d);
      uint32_t found;
      if (name) {
        if ((rc = cask__index_lookup(g, g->dep_hash[d], name, strlen(name), &found))) return rc;
      } else {
        found = cask__index_find_hash(g, g->dep_hash[d]);
      }
      if (found == CASK__NO_TASK) {
        if (name)
          cask__fmt(g->errmsg, sizeof g->errmsg,
                    "task '%s' depends on '%s', which is not in the graph",
                    cask__key(g, (uint32_t)i), name);
        else
          cask__fmt(g->errmsg, sizeof g->errmsg,
                    "task '%s' depends on a key that is not in the graph (dependency %u, key hash %016llx)",
                    cask__key(g, (uint32_t)i), k, (unsigned long long)g->dep_hash[d]);
        return CASK_EMISSINGDEP;
      }
      g->dep_idx[d] = found;
    }
  }
  return CASK_OK;
}

static int build_dependents(cask_graph *g) {
  size_t n = g->ntasks;
  if (cask__grow((void **)&g->succ_off, &g->succ_off_cap, n + 1, sizeof *g->succ_off) ||
      cask__grow((void **)&g->succ, &g->succ_cap, g->ndeps + 1, sizeof *g->succ))
    return CASK_ENOMEM;
  memset(g->succ_off, 0, (n + 1) * sizeof *g->succ_off);
  for (size_t d = 0; d < g->ndeps; d++) g->succ_off[g->dep_idx[d] + 1]++;
  for (size_t i = 0; i < n; i++) g->succ_off[i + 1] += g->succ_off[i];
  /* Fill with a moving cursor per task, then shift back: keeps dependents
   * in task order, which makes everything downstream deterministic. */
  for (size_t i = 0; i < n; i++) {
    const cask__task *t = &g->tasks[i];
    for (uint32_t k = 0; k < t->ndeps; k++) {
      uint32_t d = g->dep_idx[t->deps_off + k];
      g->succ[g->succ_off[d]++] = (uint32_t)i;
    }
  }
  for (size_t i = n; i > 0; i--) g->succ_off[i] = g->succ_off[i - 1];
  g->succ_off[0] = 0;
  return CASK_OK;
}

/* Some task is left with unfinished dependencies: follow unfinished
 * dependencies until a task repeats; the tasks from its first visit on form
 * a cycle. */
static void name_cycle(cask_graph *g, const uint32_t *left) {
  size_t n = g->ntasks;
  uint32_t *seen = cask__calloc(n, sizeof *seen); /* step number + 1 */
  uint32_t *path = cask__malloc(n * sizeof *path);
  uint32_t v = 0;
  while (v < n && left[v] == 0) v++;
  if (!seen || !path || v == n) {
    cask__fmt(g->errmsg, sizeof g->errmsg, "the graph has a cycle");
    goto done;
  }
  uint32_t step = 0;
  while (!seen[v]) {
    seen[v] = ++step;
    path[step - 1] = v;
    const cask__task *t = &g->tasks[v];
    uint32_t next = v;
    for (uint32_t k = 0; k < t->ndeps; k++) {
      uint32_t d = g->dep_idx[t->deps_off + k];
      if (left[d]) {
        next = d;
        break;
      }
    }
    v = next;
  }
  size_t off = 0;
  off += snprintf(g->errmsg, sizeof g->errmsg, "cycle: ");
  uint32_t from = seen[v] - 1, shown = 0;
  for (uint32_t s = from; s < step && off < sizeof g->errmsg - 64; s++, shown++)
    off += snprintf(g->errmsg + off, sizeof g->errmsg - off, "'%s' depends on ",
                    cask__key(g, path[s]));
  if (off < sizeof g->errmsg - 1)
    snprintf(g->errmsg + off, sizeof g->errmsg - off, "'%s'", cask__key(g, v));
done:
  cask__free(seen);
  cask__free(path);
}

static int check_acyclic(cask_graph *g) {
  size_t n = g->ntasks;
  uint32_t *left = cask__scratch(g, 2 * (n + 1) * sizeof *left);
  if (!left) return CASK_ENOMEM;
  uint32_t *queue = left + n + 1;
  int rc;
  size_t head = 0, tail = 0;
  for (size_t i = 0; i < n; i++) {
    left[i] = g->tasks[i].ndeps;
    if (!left[i]) queue[tail++] = (uint32_t)i;
  }
  while (head < tail) {
    uint32_t v = queue[head++];
    for (uint32_t s = g->succ_off[v]; s < g->succ_off[v + 1]; s++)
      if (--left[g->succ[s]] == 0) queue[tail++] = g->succ[s];
  }
  rc = CASK_OK;
  if (tail != n) {
    name_cycle(g, left);
    rc = CASK_ECYCLE;
  }
  return rc;
}

int cask_graph_validate(cask_graph *g) {
  if (!g) return CASK_EINVAL;
  if (g->validated) return CASK_OK;
  cask__invalidate(g);
  int rc = resolve(g);
  if (!rc) rc = build_dependents(g);
  if (!rc && !g->acyclic) rc = check_acyclic(g);
  if (rc) {
    if (rc == CASK_ENOMEM) cask__fmt(g->errmsg, sizeof g->errmsg, "out of memory validating the graph");
    cask__invalidate(g);
    return rc;
  }
  g->validated = 1;
  return CASK_OK;
}
