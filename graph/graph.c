/* graph.c - building and inspecting task graphs: the arenas, the key hash
 * table, and the public add / find / accessor calls.
 * The one thing to know: every change calls cask__invalidate, because the
 * derived arrays (dependents, order) describe the graph as it was. */
#include <stdio.h>

#include "graph-int.h"

#define KEY_SEED 0x6361736b6b657973ULL /* "caskkeys" */

uint64_t cask__key_hash(const char *key, size_t len) {
  return cask__hash(key, len, KEY_SEED);
}

int cask_graph_new(cask_graph **out) {
  if (!out) return CASK_EINVAL;
  cask__registry_init();
  *out = cask__calloc(1, sizeof **out);
  return *out ? CASK_OK : CASK_ENOMEM;
}

void cask__invalidate(cask_graph *g) {
  g->validated = 0;
  g->prio = NULL;
}

void *cask__scratch(cask_graph *g, size_t n) {
  if (cask__grow(&g->scratch, &g->scratch_cap, n ? n : 1, 1)) return NULL;
  return g->scratch;
}

int cask_graph_clear(cask_graph *g) {
  if (!g) return CASK_EINVAL;
  cask__invalidate(g);
  g->ntasks = g->keys_len = g->args_len = g->ndeps = g->noutputs = g->ndep_names = 0;
  g->acyclic = 0;
  g->part_ranks = g->part_rank = 0, g->part_digest = 0;
  cask__index_clear(g);
  g->errmsg[0] = '\0';
  return CASK_OK;
}

void cask__graph_clear(cask_graph *g) {
  cask__free(g->succ_off);
  cask__free(g->succ);
  cask__free(g->prio_buf);
  cask__free(g->scratch);
  cask__free(g->tasks);
  cask__free(g->keys);
  cask__free(g->args);
  cask__free(g->dep_hash);
  cask__free(g->dep_idx);
  cask__free(g->dep_idx2);
  cask__free(g->dep_names);
  cask__free(g->table);
  memset(g, 0, sizeof *g);
}

void cask_graph_free(cask_graph *g) {
  if (!g) return;
  cask__graph_clear(g);
  cask__free(g);
}

int cask_graph_reserve(cask_graph *g, size_t ntasks, size_t ndeps) {
  if (!g) return CASK_EINVAL;
  if (ntasks > UINT32_MAX - 1 || ndeps > UINT32_MAX) return CASK_ETOOBIG;
  int rc;
  if ((rc = cask__grow((void **)&g->tasks, &g->tasks_cap, ntasks, sizeof *g->tasks)) ||
      (rc = cask__grow((void **)&g->dep_hash, &g->deps_cap, ndeps, sizeof *g->dep_hash)) ||
      (rc = cask__grow((void **)&g->dep_idx, &g->dep_idx_cap, ndeps, sizeof *g->dep_idx)))
    return rc;
  return cask__index_reserve(g, ntasks);
}

/* Reserve room in every arena first, so a failure leaves the graph as it
 * was. */
static int reserve(cask_graph *g, size_t key_len, size_t args_len, size_t ndeps) {
  int rc;
  const char *full = g->ntasks >= UINT32_MAX - 1                  ? "2^32-2 tasks"
                     : g->keys_len + key_len + 1 > UINT32_MAX      ? "4 GiB of key text"
                     : g->args_len + args_len + 8 > UINT32_MAX     ? "4 GiB of task arguments"
                     : g->ndeps + ndeps > UINT32_MAX               ? "2^32-1 dependency edges"
                                                                   : NULL;
  if (full) {
    cask__fmt(g->errmsg, sizeof g->errmsg, "the graph is full: it holds at most %s (%zu tasks so far)", full,
              g->ntasks);
    return CASK_ETOOBIG;
  }
  if ((rc = cask__grow((void **)&g->tasks, &g->tasks_cap, g->ntasks + 1, sizeof *g->tasks)) ||
      (rc = cask__grow((void **)&g->keys, &g->keys_cap, g->keys_len + key_len + 1, 1)) ||
      (rc = cask__grow((void **)&g->args, &g->args_cap, g->args_len + args_len + 8, 1)))
    return rc;
  /* + 1: the dependency arrays exist even while no task has a dependency,
   * so pointers into them are never NULL + offset. */
  ndeps++;
  if ((rc = cask__grow((void **)&g->dep_hash, &g->deps_cap, g->ndeps + ndeps, sizeof *g->dep_hash)))
    return rc;
  if ((rc = cask__grow((void **)&g->dep_idx, &g->dep_idx_cap, g->ndeps + ndeps, sizeof *g->dep_idx)))
    return rc;
  return CASK_OK;
}

int cask__add(cask_graph *g, const char *key, size_t key_len, uint64_t hash,
              const cask_op *op, const void *args, size_t args_len,
              const uint64_t *dep_hash, const uint32_t *dep_idx, size_t ndeps,
              cask_task_id *out) {
  if (op->args_size && args_len != op->args_size) {
    cask__fmt(g->errmsg, sizeof g->errmsg, "task '%.*s': op '%s' takes %zu bytes of arguments, not %zu",
              (int)(key_len > 200 ? 200 : key_len), key, op->name, op->args_size, args_len);
    return CASK_EINVAL;
  }
  int rc = reserve(g, key_len, args_len, ndeps);
  if (rc) {
    char why[200];
    cask__fmt(why, sizeof why, "%s", rc == CASK_ETOOBIG ? g->errmsg : cask_strerror(rc));
    cask__fmt(g->errmsg, sizeof g->errmsg, "cannot add task '%.*s': %s", (int)(key_len > 200 ? 200 : key_len),
              key, why);
    return rc;
  }
  cask__invalidate(g);
  g->acyclic = 0;
  uint32_t idx = (uint32_t)g->ntasks;
  cask__task *t = &g->tasks[idx];
  t->hash = hash;
  t->op = op;
  t->key_off = (uint32_t)g->keys_len;
  t->key_len = (uint32_t)key_len;
  memcpy(g->keys + g->keys_len, key, key_len);
  g->keys[g->keys_len + key_len] = '\0';
  g->keys_len += key_len + 1;
  t->args_off = (uint32_t)g->args_len;
  t->args_len = (uint32_t)args_len;
  if (args_len) memcpy(g->args + g->args_len, args, args_len);
  g->args_len += (args_len + 7) & ~(size_t)7;
  t->deps_off = (uint32_t)g->ndeps;
  t->ndeps = (uint32_t)ndeps;
  if (ndeps) memcpy(g->dep_hash + g->ndeps, dep_hash, ndeps * sizeof *dep_hash);
  for (size_t i = 0; i < ndeps; i++)
    g->dep_idx[g->ndeps + i] = dep_idx ? dep_idx[i] : CASK__NO_TASK;
  g->ndeps += ndeps;
  t->size = -1;
  t->flags = 0;
  t->place_kind = 0;
  memset(t->place, 0, sizeof t->place);
  g->ntasks++;
  if (out) *out = idx;
  return CASK_OK;
}

/* A derived key: the op name and a hash of (op, args, dependency keys). */
static size_t derive_key(char *buf, size_t cap, const cask_op *op,
                         const void *args, size_t args_len,
                         const uint64_t *dep_hash, size_t ndeps) {
  uint64_t h = cask__hash(op->name, strlen(op->name), 0x6f70);
  h = cask__hash(args, args_len, h);
  h = cask__hash(dep_hash, ndeps * sizeof *dep_hash, h);
  static const char hex[] = "0123456789abcdef";
  size_t n = strlen(op->name);
  if (n > cap - 18) n = cap - 18;
  memcpy(buf, op->name, n);
  buf[n++] = '-';
  for (int i = 15; i >= 0; i--) buf[n++] = hex[(h >> (i * 4)) & 15];
  buf[n] = '\0';
  return n;
}

/* Arguments within the per-task bound; and a private op's arguments hold
 * addresses that only cask may make: bytes from a caller (a crafted fused
 * blob whose op pointer is 0x4141...) would be followed as pointers. */
static int refuse_private(cask_graph *g, const char *key, const cask_op *op, size_t args_len) {
  if (g && op && args_len > CASK__MAX_TASK_ARGS) {
    cask__fmt(g->errmsg, sizeof g->errmsg,
              "task '%s': %zu bytes of arguments; one task's arguments may take at most %zu MiB "
              "(pass data as blocks from other tasks)",
              key ? key : op->name, args_len, CASK__MAX_TASK_ARGS >> 20);
    return CASK_ETOOBIG;
  }
  if (!g || !op || !cask__op_is_private(op)) return CASK_OK;
  cask__fmt(g->errmsg, sizeof g->errmsg,
            "task '%s': op '%s' is made only by cask (its arguments hold addresses); "
            "add the tasks it came from, or read the graph from JSON",
            key ? key : op->name, op->name);
  return CASK_EINVAL;
}

int cask_graph_add(cask_graph *g, const char *key, const cask_op *op,
                   const void *args, size_t args_len, const cask_task_id *deps,
                   size_t ndeps, cask_task_id *out) {
  int rc = refuse_private(g, key, op, args_len);
  return rc ? rc : cask__graph_add(g, key, op, args, args_len, deps, ndeps, out);
}

int cask__graph_add(cask_graph *g, const char *key, const cask_op *op,
                    const void *args, size_t args_len, const cask_task_id *deps,
                    size_t ndeps, cask_task_id *out) {
  if (!g || !op || (ndeps && !deps) || (args_len && !args)) return CASK_EINVAL;
  uint64_t stackbuf[16];
  uint64_t *dh = ndeps <= 16 ? stackbuf : cask__malloc(ndeps * sizeof *dh);
  if (!dh) return CASK_ENOMEM;
  int rc = CASK_OK;
  for (size_t i = 0; i < ndeps; i++) {
    if (deps[i] >= g->ntasks) {
      cask__fmt(g->errmsg, sizeof g->errmsg, "task '%s': dependency %zu is id %u, but the graph has %zu tasks",
                key ? key : op->name, i, (unsigned)deps[i], g->ntasks);
      rc = CASK_EINVAL;
      goto done;
    }
    dh[i] = g->tasks[deps[i]].hash;
  }
  if (key) {
    size_t n = strlen(key);
    rc = cask__add(g, key, n, cask__key_hash(key, n), op, args, args_len, dh, deps, ndeps, out);
  } else {
    char kbuf[128];
    size_t n = derive_key(kbuf, sizeof kbuf, op, args, args_len, dh, ndeps);
    uint64_t h = cask__key_hash(kbuf, n);
    uint32_t found;
    if ((rc = cask__index_lookup(g, h, kbuf, n, &found))) goto done;
    if (found != CASK__NO_TASK) {
      if (out) *out = found;
    } else {
      rc = cask__add(g, kbuf, n, h, op, args, args_len, dh, deps, ndeps, out);
    }
  }
done:
  if (dh != stackbuf) cask__free(dh);
  return rc;
}

/* Keep the text of the dependency keys of the task just added (its edges
 * are the last ndeps), to name a missing one at validation. */
static int keep_dep_names(cask_graph *g, const char *const *dep_keys, size_t ndeps) {
  size_t bytes = 0;
  for (size_t i = 0; i < ndeps; i++) bytes += strlen(dep_keys[i]) + 1;
  if (g->keys_len + bytes > UINT32_MAX) return CASK_ETOOBIG;
  int rc;
  if ((rc = cask__grow((void **)&g->keys, &g->keys_cap, g->keys_len + bytes, 1)) ||
      (rc = cask__grow((void **)&g->dep_names, &g->dep_names_cap, g->ndep_names + ndeps,
                       sizeof *g->dep_names)))
    return rc;
  for (size_t i = 0; i < ndeps; i++) {
    size_t n = strlen(dep_keys[i]) + 1;
    g->dep_names[g->ndep_names++] = (uint64_t)(g->ndeps - ndeps + i) << 32 | g->keys_len;
    memcpy(g->keys + g->keys_len, dep_keys[i], n);
    g->keys_len += n;
  }
  return CASK_OK;
}

const char *cask__dep_name(const cask_graph *g, size_t edge) {
  size_t lo = 0, hi = g->ndep_names;
  while (lo < hi) {
    size_t mid = (lo + hi) / 2;
    if ((g->dep_names[mid] >> 32) < edge) lo = mid + 1;
    else hi = mid;
  }
  if (lo < g->ndep_names && (g->dep_names[lo] >> 32) == edge)
    return g->keys + (uint32_t)g->dep_names[lo];
  return NULL;
}

int cask_graph_add_keyed(cask_graph *g, const char *key, const cask_op *op,
                         const void *args, size_t args_len,
                         const char *const *dep_keys, size_t ndeps,
                         cask_task_id *out) {
  int rc = refuse_private(g, key, op, args_len);
  return rc ? rc : cask__graph_add_keyed(g, key, op, args, args_len, dep_keys, ndeps, out);
}

int cask__graph_add_keyed(cask_graph *g, const char *key, const cask_op *op,
                          const void *args, size_t args_len,
                          const char *const *dep_keys, size_t ndeps,
                          cask_task_id *out) {
  if (!g || !key || !op || (ndeps && !dep_keys) || (args_len && !args)) return CASK_EINVAL;
  uint64_t stackbuf[16];
  uint64_t *dh = ndeps <= 16 ? stackbuf : cask__malloc(ndeps * sizeof *dh);
  int rc = CASK_ENOMEM;
  if (!dh) goto done;
  for (size_t i = 0; i < ndeps; i++) {
    if (!dep_keys[i]) {
      cask__fmt(g->errmsg, sizeof g->errmsg, "task '%s': dependency %zu is NULL", key, i);
      rc = CASK_EINVAL;
      goto done;
    }
    dh[i] = cask__key_hash(dep_keys[i], strlen(dep_keys[i]));
  }
  size_t n = strlen(key);
  /* Dependencies stay unresolved until validation: they may be added later. */
  rc = cask__add(g, key, n, cask__key_hash(key, n), op, args, args_len, dh, NULL, ndeps, out);
  if (!rc && ndeps && (rc = keep_dep_names(g, dep_keys, ndeps))) {
    /* Undo the add so a failure leaves the graph as it was. */
    g->ntasks--;
    g->ndeps -= ndeps;
    g->keys_len = g->tasks[g->ntasks].key_off;
    g->args_len = g->tasks[g->ntasks].args_off;
  }
done:
  if (dh && dh != stackbuf) cask__free(dh);
  return rc;
}

int cask_graph_set_output(cask_graph *g, cask_task_id id, int is_output) {
  if (!g || id >= g->ntasks) return CASK_EINVAL;
  cask__task *t = &g->tasks[id];
  int was = (t->flags & CASK__TASK_OUTPUT) != 0;
  if (was == !!is_output) return CASK_OK;
  if (is_output) {
    t->flags |= CASK__TASK_OUTPUT;
    g->noutputs++;
  } else {
    t->flags &= ~CASK__TASK_OUTPUT;
    g->noutputs--;
  }
  /* The order depends on outputs; the dependency arrays do not. */
  g->prio = NULL;
  return CASK_OK;
}

int cask_graph_set_size(cask_graph *g, cask_task_id id, int64_t nbytes) {
  if (!g || id >= g->ntasks || nbytes < -1) return CASK_EINVAL;
  g->tasks[id].size = nbytes;
  return CASK_OK;
}

int cask_graph_set_place(cask_graph *g, cask_task_id id, const cask_place_hint *h) {
  if (!g || !h || id >= g->ntasks) return CASK_EINVAL;
  cask__task *t = &g->tasks[id];
  int ok = h->kind == CASK_PLACE_NONE || h->kind == CASK_PLACE_RANK ||
           (h->kind == CASK_PLACE_FOLLOW && h->i < t->ndeps) ||
           (h->kind == CASK_PLACE_GRID && h->ni && h->nj) ||
           (h->kind == CASK_PLACE_RUN && h->i < h->ni && !h->j && !h->nj);
  if (!ok) {
    cask__fmt(g->errmsg, sizeof g->errmsg,
              "cask_graph_set_place: task '%s': hint kind %d (%u, %u of %u x %u) is not one of: none; rank; "
              "follow an input below %u; grid block of a grid of ni, nj >= 1 blocks; run position i < ni "
              "with j = nj = 0",
              cask__key(g, id), h->kind, h->i, h->j, h->ni, h->nj, t->ndeps);
    return CASK_EINVAL;
  }
  /* A ghost stands for a task of the rank its RANK hint names: another
   * hint would move it off that rank (graph-int.h). */
  if ((t->flags & CASK__TASK_GHOST) && h->kind != CASK_PLACE_RANK) {
    cask__fmt(g->errmsg, sizeof g->errmsg,
              "cask_graph_set_place: task '%s' is a ghost of another rank's task: its hint stays RANK, not kind %d",
              cask__key(g, id), h->kind);
    return CASK_EINVAL;
  }
  t->place_kind = (uint32_t)h->kind;
  uint32_t v[4] = {h->i, h->j, h->ni, h->nj};
  memcpy(t->place, v, sizeof v);
  if (h->kind != CASK_PLACE_GRID && h->kind != CASK_PLACE_RUN) t->place[2] = t->place[3] = 0;
  if (h->kind == CASK_PLACE_NONE) memset(t->place, 0, sizeof t->place);
  return CASK_OK;
}

int cask__graph_set_ghost(cask_graph *g, cask_task_id id) {
  if (!g || id >= g->ntasks) return CASK_EINVAL;
  cask__task *t = &g->tasks[id];
  if (t->place_kind != CASK_PLACE_RANK) {
    cask__fmt(g->errmsg, sizeof g->errmsg,
              "ghost: task '%s' has no RANK hint naming the rank that owns it (set it first)", cask__key(g, id));
    return CASK_EINVAL;
  }
  t->flags |= CASK__TASK_GHOST;
  return CASK_OK;
}

int cask__graph_is_ghost(const cask_graph *g, cask_task_id id) {
  return g && id < g->ntasks && (g->tasks[id].flags & CASK__TASK_GHOST);
}

int cask_graph_get_place(const cask_graph *g, cask_task_id id, cask_place_hint *h) {
  if (!g || !h || id >= g->ntasks) return CASK_EINVAL;
  const cask__task *t = &g->tasks[id];
  *h = (cask_place_hint){(int)t->place_kind, t->place[0], t->place[1], t->place[2], t->place[3]};
  return CASK_OK;
}

size_t cask_graph_size(const cask_graph *g) { return g ? g->ntasks : 0; }

int cask_graph_find(const cask_graph *g, const char *key, cask_task_id *out) {
  if (!g || !key || !out) return CASK_EINVAL;
  size_t n = strlen(key);
  uint32_t i;
  /* The index is a cache: bringing it up to date is not a change of the
   * graph, hence the cast. */
  int rc = cask__index_lookup((cask_graph *)g, cask__key_hash(key, n), key, n, &i);
  if (rc) return rc;
  if (i == CASK__NO_TASK) return CASK_ENOTFOUND;
  *out = i;
  return CASK_OK;
}

const char *cask_graph_key(const cask_graph *g, cask_task_id id) {
  return g && id < g->ntasks ? cask__key(g, id) : NULL;
}
const cask_op *cask_graph_op(const cask_graph *g, cask_task_id id) {
  return g && id < g->ntasks ? g->tasks[id].op : NULL;
}
const void *cask_graph_args(const cask_graph *g, cask_task_id id, size_t *len) {
  if (!g || id >= g->ntasks) {
    if (len) *len = 0;
    return NULL;
  }
  if (len) *len = g->tasks[id].args_len;
  return cask__args(g, id);
}
int cask_graph_is_output(const cask_graph *g, cask_task_id id) {
  return g && id < g->ntasks && (g->tasks[id].flags & CASK__TASK_OUTPUT);
}
int64_t cask_graph_size_estimate(const cask_graph *g, cask_task_id id) {
  return g && id < g->ntasks ? g->tasks[id].size : -1;
}
const cask_task_id *cask_graph_deps(const cask_graph *g, cask_task_id id, size_t *n) {
  if (!g || id >= g->ntasks || !g->validated) {
    if (n) *n = 0;
    return NULL;
  }
  if (n) *n = g->tasks[id].ndeps;
  return g->dep_idx + g->tasks[id].deps_off;
}
const cask_task_id *cask_graph_dependents(const cask_graph *g, cask_task_id id, size_t *n) {
  if (!g || id >= g->ntasks || !g->validated) {
    if (n) *n = 0;
    return NULL;
  }
  if (n) *n = g->succ_off[id + 1] - g->succ_off[id];
  return g->succ + g->succ_off[id];
}
const char *cask_graph_errmsg(const cask_graph *g) { return g ? g->errmsg : ""; }
uint32_t cask_graph_priority(const cask_graph *g, cask_task_id id) {
  return g && g->prio && id < g->ntasks ? g->prio[id] : UINT32_MAX;
}
