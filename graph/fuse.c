/* fuse.c - fuse linear chains. A task v fuses into its consumer c when v is
 * not an output, c is v's only consumer and v is c's only input; a maximal
 * run of such links becomes one "cask.fused" task that keeps the tail's key
 * (consumers and callers refer to the tail) and takes the head's
 * dependencies; but never a task into a consumer pinned to a rank (a RANK
 * hint) unless it is pinned there too, and never a ghost (graph-int.h) or
 * into one. Already fused tasks are flattened into the new chain. The
 * graph is changed in place (compact.c). */
#include "graph-int.h"

static int fusable(const cask_graph *g, uint32_t v) {
  if (g->tasks[v].flags & CASK__TASK_OUTPUT) return 0;
  if (g->succ_off[v + 1] - g->succ_off[v] != 1) return 0;
  uint32_t c = g->succ[g->succ_off[v]];
  if (g->tasks[c].ndeps != 1) return 0;
  /* A ghost stands for another rank's task and has only the edges this
   * rank knows: "its only consumer" or "its only input" may be false in
   * the whole graph, and either way the fused task would mix two ranks'
   * work. */
  if ((g->tasks[v].flags | g->tasks[c].flags) & CASK__TASK_GHOST) return 0;
  /* A RANK hint pins its own task (rank 0's HDF5 writer: the file handle
   * is there), not the work before it: fused in, an unpinned producer
   * would run on that rank too, so every rank's blocks would be made on
   * one rank. Such a producer stays apart, made where placement puts it
   * and sent. Without hints (one process) nothing changes. */
  const cask__task *tc = &g->tasks[c], *tv = &g->tasks[v];
  if (tc->place_kind == CASK_PLACE_RANK &&
      (tv->place_kind != CASK_PLACE_RANK || tv->place[0] != tc->place[0]))
    return 0;
  return 1;
}

static int append_task(const cask_graph *g, uint32_t v, unsigned char **blob,
                       size_t *len, size_t *cap) {
  const cask__task *t = &g->tasks[v];
  if (t->op != cask__op_fused)
    return cask__fused_append(blob, len, cap, t->op, cask__key(g, v), t->key_len,
                              cask__args(g, v), t->args_len);
  size_t pos = 0;
  const cask_op *op;
  const char *key;
  uint32_t kl, al;
  const void *args;
  int rc = CASK_OK;
  while (!rc && cask__fused_next(cask__args(g, v), t->args_len, &pos, &op, &key, &kl, &args, &al))
    rc = cask__fused_append(blob, len, cap, op, key, kl, args, al);
  return rc;
}

/* Make the chain ending at tail (if longer than the tail) one fused task in
 * tail's record: its args become the chain's blob, appended to the args
 * arena; its dependencies will be the head's (deps_from). */
static int fuse_chain(cask_graph *g, uint32_t tail, uint32_t *chain, uint32_t *deps_from,
                      unsigned char **blob, size_t *cap) {
  size_t n = 0;
  chain[n++] = tail;
  for (uint32_t v = tail; g->tasks[v].ndeps == 1;) {
    uint32_t d = g->dep_idx[g->tasks[v].deps_off];
    if (!fusable(g, d)) break;
    chain[n++] = v = d;
  }
  deps_from[tail] = chain[n - 1];
  if (n == 1) return CASK_OK;
  size_t len = 0;
  int rc = CASK_OK;
  for (size_t i = n; i-- > 0 && !rc;) rc = append_task(g, chain[i], blob, &len, cap);
  if (rc) return rc;
  /* The blob is built apart and copied in: growing the arena may move it,
   * and the chain's own arguments are read from there. */
  if (len > UINT32_MAX || g->args_len + len + 8 > UINT32_MAX) return CASK_ETOOBIG;
  if ((rc = cask__grow((void **)&g->args, &g->args_cap, g->args_len + len + 8, 1))) return rc;
  memcpy(g->args + g->args_len, *blob, len);
  cask__task *t = &g->tasks[tail];
  /* The placement hint nearest the tail; a FOLLOW names an input of its
   * own task, so only the head's (whose inputs the fused task takes) holds.
   * GRID, RANK and RUN name no input: a root (RUN) fused into its only
   * consumer keeps its position in the runs, the fused task being a root. */
  uint32_t kind = 0, place[4] = {0, 0, 0, 0};
  for (size_t i = 0; i < n && !kind; i++) {
    const cask__task *c = &g->tasks[chain[i]];
    if (c->place_kind == CASK_PLACE_FOLLOW && i != n - 1) continue;
    kind = c->place_kind, memcpy(place, c->place, sizeof place);
  }
  t->place_kind = kind, memcpy(t->place, place, sizeof place);
  t->op = cask__op_fused;
  t->args_off = (uint32_t)g->args_len;
  t->args_len = (uint32_t)len;
  g->args_len += (len + 7) & ~(size_t)7;
  return CASK_OK;
}

int cask_graph_fuse(cask_graph *g) {
  if (!g) return CASK_EINVAL;
  int rc = cask_graph_validate(g);
  if (rc) return rc;
  size_t n = g->ntasks, kept = 0;
  uint32_t *map = cask__scratch(g, 3 * (n + 1) * sizeof *map);
  if (!map) return CASK_ENOMEM;
  uint32_t *deps_from = map + n + 1, *chain = deps_from + n + 1;
  for (size_t i = 0; i < n; i++)
    map[i] = fusable(g, (uint32_t)i) ? CASK__NO_TASK : (uint32_t)kept++;
  if (kept == n) return CASK_OK;
  unsigned char *blob = NULL;
  size_t cap = 0;
  for (size_t i = 0; i < n && !rc; i++)
    if (map[i] != CASK__NO_TASK) rc = fuse_chain(g, (uint32_t)i, chain, deps_from, &blob, &cap);
  cask__free(blob);
  if (!rc) rc = cask__compact(g, map, deps_from);
  if (rc) {
    /* Fused records may already point at new blobs: the graph is no longer
     * the one that was validated, so make it unusable rather than wrong. */
    cask_graph_clear(g);
    cask__fmt(g->errmsg, sizeof g->errmsg, "fuse: %s (the graph was cleared)", cask_strerror(rc));
    return rc;
  }
  return cask_graph_validate(g);
}
