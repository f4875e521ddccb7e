/* keys.c - the key index: key hash -> task, an open-addressing table.
 *
 * Adding a task does not touch the table: on a graph of a million tasks
 * each insert would be a cache miss (the table is larger than the cache),
 * and that miss was most of the cost of building a graph. Tasks are
 * indexed in a batch by the first call that needs a lookup, prefetching the
 * slots a few tasks ahead so the misses overlap. A duplicate key is found
 * there: the first task keeps the key, and the error sticks until the
 * graph is cleared, so validation refuses the graph. */
#include "graph-int.h"

#define TAG(hash) ((hash) & 0xffffffff00000000ULL)
#define PREFETCH_AHEAD 16

/* Entries: (task index + 1) | the hash's high 32 bits; 0 = empty. The
 * tag lets a probe pass other keys without reading their task records. */
static size_t probe(const cask_graph *g, uint64_t hash, const char *key, size_t len) {
  size_t mask = g->table_cap - 1;
  for (size_t i = hash & mask;; i = (i + 1) & mask) {
    uint64_t e = g->table[i];
    if (!e) return i;
    if (TAG(e) != TAG(hash)) continue;
    const cask__task *t = &g->tasks[(uint32_t)e - 1];
    if (t->hash == hash && t->key_len == len && memcmp(g->keys + t->key_off, key, len) == 0)
      return i;
  }
}

static int resize(cask_graph *g, size_t ncap) {
  uint64_t *nt = cask__calloc(ncap, sizeof *nt);
  if (!nt) return CASK_ENOMEM;
  for (size_t k = 0; k < g->table_cap; k++) {
    uint64_t e = g->table[k];
    if (!e) continue;
    size_t j = g->tasks[(uint32_t)e - 1].hash & (ncap - 1);
    while (nt[j]) j = (j + 1) & (ncap - 1);
    nt[j] = e;
  }
  cask__free(g->table);
  g->table = nt;
  g->table_cap = ncap;
  return CASK_OK;
}

int cask__index_reserve(cask_graph *g, size_t ntasks) {
  size_t cap = g->table_cap ? g->table_cap : 1024;
  while (cap < ntasks * 2) cap *= 2; /* load factor at most 1/2 */
  return cap > g->table_cap ? resize(g, cap) : CASK_OK;
}

void cask__index_clear(cask_graph *g) {
  if (g->table) memset(g->table, 0, g->table_cap * sizeof *g->table);
  g->nindexed = 0;
  g->dup_task = 0;
}

static int dup_error(cask_graph *g) {
  uint32_t i = g->dup_task - 1;
  cask__fmt(g->errmsg, sizeof g->errmsg,
            "duplicate key '%s': task %u has the same key as an earlier task", cask__key(g, i), i);
  return CASK_EDUPKEY;
}

int cask__index_update(cask_graph *g) {
  if (g->nindexed < g->ntasks) {
    int rc = cask__index_reserve(g, g->ntasks);
    if (rc) return rc;
    size_t mask = g->table_cap - 1;
    for (size_t i = g->nindexed; i < g->ntasks; i++) {
      if (i + PREFETCH_AHEAD < g->ntasks)
        __builtin_prefetch(&g->table[g->tasks[i + PREFETCH_AHEAD].hash & mask], 1);
      const cask__task *t = &g->tasks[i];
      size_t slot = probe(g, t->hash, g->keys + t->key_off, t->key_len);
      if (g->table[slot]) {
        if (!g->dup_task) g->dup_task = (uint32_t)i + 1;
        continue;
      }
      g->table[slot] = TAG(t->hash) | ((uint64_t)i + 1);
    }
    g->nindexed = g->ntasks;
  }
  return g->dup_task ? dup_error(g) : CASK_OK;
}

int cask__index_lookup(cask_graph *g, uint64_t hash, const char *key, size_t len,
                       uint32_t *out) {
  *out = CASK__NO_TASK;
  int rc = cask__index_update(g);
  if (rc) return rc;
  if (!g->table_cap) return CASK_OK; /* an empty graph has no table yet */
  uint64_t e = g->table[probe(g, hash, key, len)];
  if (e) *out = (uint32_t)e - 1;
  return CASK_OK;
}

uint32_t cask__index_find_hash(const cask_graph *g, uint64_t hash) {
  if (!g->table_cap) return CASK__NO_TASK;
  size_t mask = g->table_cap - 1;
  for (size_t j = hash & mask; g->table[j]; j = (j + 1) & mask)
    if (TAG(g->table[j]) == TAG(hash) && g->tasks[(uint32_t)g->table[j] - 1].hash == hash)
      return (uint32_t)g->table[j] - 1;
  return CASK__NO_TASK;
}
