/* outputs.c - one task graph for several arrays, with the key of the task
 * behind each of their blocks, for callers that run the graph themselves
 * (the `cask` tool: its own progress callbacks, trace and cancellation)
 * and collect the blocks from the results.
 * The one thing to know: a block's task is not always named after the
 * array (a lowering may hand back a task of an input that already holds
 * exactly that block), so the keys are read from the graph right after
 * each block is lowered; outputs keep their keys through cull and fuse. */
#include <stdio.h>

#include "array-int.h"

typedef struct keybuf {
  char *text; /* keys, each NUL-terminated, one after the other */
  size_t len, cap, count;
} keybuf;

static int keybuf_add(keybuf *k, const char *key) {
  size_t n = strlen(key) + 1;
  if (k->len + n > k->cap) {
    size_t cap = k->cap ? k->cap * 2 : 4096;
    while (cap < k->len + n) cap *= 2;
    char *t = cask__realloc(k->text, cap);
    if (!t) return CASK_ENOMEM;
    k->text = t;
    k->cap = cap;
  }
  memcpy(k->text + k->len, key, n);
  k->len += n;
  k->count++;
  return CASK_OK;
}

/* Lowers every block of a as an output of the graph, in C order. */
static int lower_all(cask__lower *L, cask_array *a, keybuf *keys) {
  int64_t idx[CASK_MAX_NDIM] = {0};
  for (;;) {
    cask_task_id id;
    int rc = cask__lower_block(L, a, idx, &id);
    if (!rc) rc = cask_graph_set_output(L->g, id, 1);
    if (!rc && keys) rc = keybuf_add(keys, cask_graph_key(L->g, id));
    if (rc) return rc;
    if (!cask__next_block(a, idx)) return CASK_OK;
  }
}

/* One allocation: the pointer array, then the strings it points into. */
static int keys_out(keybuf *k, char ***out) {
  size_t head = k->count * sizeof(char *);
  char **p = cask__malloc(head + k->len);
  if (!p) return CASK_ENOMEM;
  char *text = (char *)p + head;
  memcpy(text, k->text, k->len);
  for (size_t i = 0; i < k->count; i++) {
    p[i] = text;
    text += strlen(text) + 1;
  }
  *out = p;
  return CASK_OK;
}

static int check_arrays(int n, cask_array *const *arrays) {
  if (n < 1 || !arrays) return CASK_EINVAL;
  for (int k = 0; k < n; k++)
    if (!arrays[k] || arrays[k]->ctx != arrays[0]->ctx) return CASK_EINVAL;
  return CASK_OK;
}

int cask_arrays_graph(int n, cask_array *const *arrays, cask_graph **out, char ***block_keys) {
  if (!out) return CASK_EINVAL;
  *out = NULL;
  if (block_keys) *block_keys = NULL;
  int rc = check_arrays(n, arrays);
  if (rc) return rc;
  cask_ctx *ctx = arrays[0]->ctx;
  ctx->errmsg[0] = '\0';
  cask_graph *g;
  if ((rc = cask__check_block_count(n, arrays))) return rc;
  if ((rc = cask_graph_new(&g))) return cask__fail(ctx, rc, "arrays_graph: %s", cask_strerror(rc));
  /* roots of a job on an anchor grid carry their positions, so a rank
   * building only its part (cask_arrays_graph_part) places them alike */
  cask__anchor G;
  char why[256];
  cask__lower L = {g, ctx, cask__anchor_find(n, arrays, &G, why, sizeof why) ? &G : NULL, 0, 0};
  keybuf keys = {0};
  for (int k = 0; k < n && !rc; k++) rc = lower_all(&L, arrays[k], block_keys ? &keys : NULL);
  if (rc == CASK_ENOMEM && !ctx->errmsg[0]) cask__fail(ctx, rc, "arrays_graph: out of memory");
  if (rc && !ctx->errmsg[0]) cask__fail(ctx, rc, "arrays_graph: %s", cask_graph_errmsg(g));
  if (!rc && (rc = cask_graph_optimize(g, CASK_OPT_ALL)))
    cask__fail(ctx, rc, "optimizing the graph: %s", cask_graph_errmsg(g));
  if (!rc && block_keys && (rc = keys_out(&keys, block_keys)))
    cask__fail(ctx, rc, "arrays_graph: out of memory");
  cask__free(keys.text);
  if (rc) {
    cask_graph_free(g);
    return rc;
  }
  *out = g;
  return CASK_OK;
}

/* ---- one rank's part --------------------------------------------------- */

static int mark_output(cask__lower *L, cask_array *a, const int64_t *bidx, void *arg) {
  (void)arg;
  cask_task_id id;
  int rc = cask__lower_block(L, a, bidx, &id);
  return rc ? rc : cask_graph_set_output(L->g, id, 1);
}

int cask_arrays_graph_part(int n, cask_array *const *arrays, int nranks, int rank, cask_graph **out, char *why,
                           size_t why_cap) {
  if (!out) return CASK_EINVAL;
  *out = NULL;
  int rc = check_arrays(n, arrays);
  if (rc) return rc;
  if (!why || !why_cap)
    return cask__fail(arrays[0]->ctx, CASK_EINVAL, "arrays_graph_part: why is NULL (it receives the reason a job "
                      "cannot be built in parts)");
  why[0] = '\0';
  cask_ctx *ctx = arrays[0]->ctx;
  ctx->errmsg[0] = '\0';
  if (nranks < 1 || rank < 0 || rank >= nranks)
    return cask__fail(ctx, CASK_EINVAL, "arrays_graph_part: rank %d of %d ranks", rank, nranks);
  cask__anchor G;
  if (!cask__anchor_find(n, arrays, &G, why, why_cap)) return CASK_OK;
  if (G.count < nranks) {
    /* more ranks than anchor blocks: the whole graph's placement may find
     * broadcasts, which a part cannot see */
    snprintf(why, why_cap, "%d ranks but %lld anchor blocks", nranks, (long long)G.count);
    return CASK_OK;
  }
  int64_t lo, npos;
  cask__anchor_range(&G, nranks, rank, &lo, &npos);
  int64_t *pos = cask__malloc((size_t)(npos ? npos : 1) * sizeof *pos);
  cask_graph *g = NULL;
  if (!pos || (rc = cask_graph_new(&g))) {
    cask__free(pos);
    return cask__fail(ctx, CASK_ENOMEM, "arrays_graph_part: out of memory");
  }
  for (int64_t k = 0; k < npos; k++) pos[k] = lo + k;
  cask__lower L = {g, ctx, &G, nranks, rank};
  rc = cask__part_lower(&L, n, arrays, pos, (size_t)npos);
  for (int k = 0; k < n && !rc; k++) rc = cask__part_blocks(&L, arrays[k], pos, (size_t)npos, mark_output, NULL);
  cask__free(pos);
  g->part_ranks = nranks, g->part_rank = rank, g->part_digest = cask__part_digest(n, arrays, NULL, &G, nranks);
  if (rc == CASK_ENOMEM && !ctx->errmsg[0]) cask__fail(ctx, rc, "arrays_graph_part: out of memory");
  if (rc && !ctx->errmsg[0]) cask__fail(ctx, rc, "arrays_graph_part: %s", cask_graph_errmsg(g));
  /* no cull: a task whose only reader is another rank's is needed */
  if (!rc && (rc = cask_graph_optimize(g, CASK_OPT_FUSE | CASK_OPT_ORDER)))
    cask__fail(ctx, rc, "optimizing the graph: %s", cask_graph_errmsg(g));
  if (rc) {
    cask_graph_free(g);
    return rc;
  }
  *out = g;
  return CASK_OK;
}
