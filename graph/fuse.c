/* fuse.c - fuse linear chains. A task v fuses into its consumer c when v is
 * not an output, c is v's only consumer and v is c's only input; a maximal
 * run of such links becomes one "cask.fused" task that keeps the tail's key
 * (consumers and callers refer to the tail) and takes the head's
 * dependencies. Already fused tasks are flattened into the new chain. */
#include "graph-int.h"

static int fusable(const cask_graph *g, uint32_t v) {
  if (g->tasks[v].flags & TASK_OUTPUT) return 0;
  if (g->succ_off[v + 1] - g->succ_off[v] != 1) return 0;
  uint32_t c = g->succ[g->succ_off[v]];
  return g->tasks[c].ndeps == 1;
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

/* Add the chain ending at tail as one fused task. */
static int add_chain(cask_graph *out, const cask_graph *g, uint32_t tail,
                     const uint32_t *map, uint32_t *chain) {
  size_t n = 0;
  chain[n++] = tail;
  for (uint32_t v = tail; g->tasks[v].ndeps == 1;) {
    uint32_t d = g->dep_idx[g->tasks[v].deps_off];
    if (!fusable(g, d)) break;
    chain[n++] = v = d;
  }
  if (n == 1) return cask__copy_task(out, g, tail, map);
  unsigned char *blob = NULL;
  size_t len = 0, cap = 0;
  int rc = CASK_OK;
  for (size_t i = n; i-- > 0 && !rc;) rc = append_task(g, chain[i], &blob, &len, &cap);
  if (rc) goto done;
  const cask__task *head = &g->tasks[chain[n - 1]], *t = &g->tasks[tail];
  if (len > UINT32_MAX) {
    rc = CASK_ETOOBIG;
    goto done;
  }
  uint32_t stackbuf[16];
  uint32_t *di = head->ndeps <= 16 ? stackbuf : cask__malloc(head->ndeps * sizeof *di);
  if (!di) {
    rc = CASK_ENOMEM;
    goto done;
  }
  for (uint32_t k = 0; k < head->ndeps; k++) di[k] = map[g->dep_idx[head->deps_off + k]];
  cask_task_id id;
  rc = cask__add(out, cask__key(g, tail), t->key_len, t->hash, cask__op_fused, blob, len,
                 g->dep_hash + head->deps_off, di, head->ndeps, &id);
  if (di != stackbuf) cask__free(di);
  if (!rc) {
    out->tasks[id].size = t->size;
    out->tasks[id].flags = t->flags;
    if (t->flags & TASK_OUTPUT) out->noutputs++;
  }
done:
  cask__free(blob);
  return rc;
}

int cask_graph_fuse(cask_graph *g) {
  if (!g) return CASK_EINVAL;
  int rc = cask_graph_validate(g);
  if (rc) return rc;
  size_t n = g->ntasks, kept = 0;
  uint32_t *map = cask__malloc((n ? n : 1) * sizeof *map);
  uint32_t *chain = cask__malloc((n ? n : 1) * sizeof *chain);
  cask_graph out = {0};
  rc = CASK_ENOMEM;
  if (!map || !chain) goto done;
  for (size_t i = 0; i < n; i++)
    map[i] = fusable(g, (uint32_t)i) ? CASK__NO_TASK : (uint32_t)kept++;
  rc = CASK_OK;
  if (kept == n) goto done;
  for (size_t i = 0; i < n && !rc; i++)
    if (map[i] != CASK__NO_TASK) rc = add_chain(&out, g, (uint32_t)i, map, chain);
  if (rc) {
    cask__fmt(g->errmsg, sizeof g->errmsg, "fuse: %s", cask_strerror(rc));
    goto done;
  }
  cask__graph_swap(g, &out);
  rc = cask_graph_validate(g);
done:
  cask__graph_clear(&out);
  cask__free(map);
  cask__free(chain);
  return rc;
}
