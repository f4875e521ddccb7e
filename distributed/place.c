/* place.c - owner-computes placement: which rank runs each task.
 * The one thing to know: the owner of a task is a function of the graph and
 * the rank count only (never of timing), so every rank computes the same
 * owners alone; and it is computed in one walk of the static order, which
 * reaches every task after all of its inputs (plus one counting walk when
 * some tasks read nothing but broadcasts). The rules and their reasons are
 * in docs/distributed.md. */
#include "dist-int.h"

/* Root j of nroots in a run of equal count: the first nroots % K runs hold
 * one more root than the others. */
static int root_rank(size_t j, size_t nroots, int nranks) {
  size_t q = nroots / (size_t)nranks, r = nroots % (size_t)nranks;
  if (j < r * (q + 1)) return (int)(j / (q + 1));
  return (int)(r + (j - r * (q + 1)) / q);
}

/* A broadcast: an input read by more tasks than a run holds roots (and by
 * two at least). Were all its readers to follow it, its rank would run
 * more of them than its share, so it does not vote: the majority rule
 * counts the other inputs. `limit` is that run length, ceil(roots / K);
 * SIZE_MAX makes every input vote. */
static int broadcast(const cask_graph *g, uint32_t b, size_t limit) {
  size_t readers = g->succ_off[b + 1] - g->succ_off[b];
  return readers >= 2 && readers > limit;
}

/* Bytes an input weighs in the vote of its consumer: its declared size. An
 * undeclared one counts as the largest declared size among the consumer's
 * voting inputs (a block of unknown size is most likely one like its
 * siblings: a reduction's first combine often has none), or 1 when none is
 * declared, so a task of unsized inputs follows most of them. */
static int64_t unknown_weight(const cask_graph *g, const uint32_t *deps, uint32_t nd, size_t limit) {
  int64_t w = 1;
  for (uint32_t k = 0; k < nd; k++)
    if (g->tasks[deps[k]].size > w && !broadcast(g, deps[k], limit)) w = g->tasks[deps[k]].size;
  return w;
}

/* Per-rank tallies of one task's input bytes. stamp[r] says which task the
 * tally acc[r] belongs to, so nothing is cleared between tasks and a task
 * costs its inputs, not the rank count. */
typedef struct tally {
  int64_t *acc;
  uint32_t *stamp;
  int *touched;
} tally;

/* The rank holding most of t's voting input bytes (t has one at least). */
static int majority_rank(const cask_graph *g, uint32_t t, const int *owner, tally *v, size_t limit) {
  const uint32_t *deps = g->dep_idx + g->tasks[t].deps_off;
  uint32_t nd = g->tasks[t].ndeps, stamp = t + 1;
  int ntouched = 0, best = -1;
  int64_t unknown = -1; /* found when first needed: most inputs are sized */
  for (uint32_t k = 0; k < nd; k++) {
    if (broadcast(g, deps[k], limit)) continue;
    int r = owner[deps[k]];
    int64_t w = g->tasks[deps[k]].size;
    if (w < 0) w = unknown < 0 ? (unknown = unknown_weight(g, deps, nd, limit)) : unknown;
    if (v->stamp[r] != stamp) v->stamp[r] = stamp, v->acc[r] = 0, v->touched[ntouched++] = r;
    v->acc[r] += w;
  }
  for (int k = 0; k < ntouched; k++) {
    int r = v->touched[k];
    if (best < 0 || v->acc[r] > v->acc[best] || (v->acc[r] == v->acc[best] && r < best)) best = r;
  }
  return best;
}

/* For a task without a hint all of whose inputs are broadcasts, the input
 * naming its group: the most read one, the earliest in the static order on
 * a tie (the second pass of x - mean(x) and (x - m) / s group by the
 * mean); CASK__NO_TASK for any other task. */
static uint32_t group_of(const cask_graph *g, uint32_t t, size_t limit) {
  const cask__task *r = &g->tasks[t];
  const uint32_t *deps = g->dep_idx + r->deps_off;
  uint32_t key = CASK__NO_TASK, most = 0;
  if (r->place_kind || !r->ndeps) return CASK__NO_TASK;
  for (uint32_t k = 0; k < r->ndeps; k++) {
    uint32_t b = deps[k], readers = g->succ_off[b + 1] - g->succ_off[b];
    if (!broadcast(g, b, limit)) return CASK__NO_TASK;
    if (key == CASK__NO_TASK || readers > most || (readers == most && g->prio[b] < g->prio[key]))
      key = b, most = readers;
  }
  return key;
}

/* The groups' sizes (count[b], the tasks grouped by input b) and how many
 * of each are placed (count[n + b]); NULL when no task is in a group. */
static int count_groups(const cask_graph *g, size_t limit, uint32_t **count) {
  size_t n = g->ntasks;
  *count = NULL;
  for (size_t i = 0; i < n; i++) {
    uint32_t key = group_of(g, (uint32_t)i, limit);
    if (key == CASK__NO_TASK) continue;
    if (!*count && !(*count = cask__calloc(2 * n, sizeof **count))) return CASK_ENOMEM;
    (*count)[key]++;
  }
  return CASK_OK;
}

/* The P x Q process grid (P * Q = K) for an ni x nj block grid: the one
 * giving blocks to the most ranks (min(P, ni) * min(Q, nj)), then the most
 * square, then the taller. It depends on K, ni and nj only. */
typedef struct grid {
  uint32_t ni, nj;
  int p, q;
} grid;

static void grid_shape(grid *c, int nranks, uint32_t ni, uint32_t nj) {
  if (c->p && c->ni == ni && c->nj == nj) return; /* most hints share a grid */
  int64_t best_use = -1;
  c->ni = ni, c->nj = nj;
  for (int p = 1; p <= nranks; p++) {
    if (nranks % p) continue;
    int q = nranks / p;
    int64_t use = (int64_t)(p < (int64_t)ni ? p : (int64_t)ni) * (q < (int64_t)nj ? q : (int64_t)nj);
    int diff = p > q ? p - q : q - p, bdiff = c->p > c->q ? c->p - c->q : c->q - c->p;
    if (use > best_use || (use == best_use && (diff < bdiff || (diff == bdiff && p > c->p))))
      best_use = use, c->p = p, c->q = q;
  }
}

/* The rank a hint names, or -1 for none. */
static int hinted_rank(const cask_graph *g, uint32_t t, const int *owner, int nranks, grid *c) {
  const cask__task *r = &g->tasks[t];
  switch (r->place_kind) {
  case CASK_PLACE_GRID:
    grid_shape(c, nranks, r->place[2], r->place[3]);
    return (int)(r->place[0] % (uint32_t)c->p) * c->q + (int)(r->place[1] % (uint32_t)c->q);
  case CASK_PLACE_FOLLOW:
    return owner && r->place[0] < r->ndeps ? owner[g->dep_idx[r->deps_off + r->place[0]]] : -1;
  case CASK_PLACE_RANK: return (int)(r->place[0] % (uint32_t)nranks);
  default: return -1;
  }
}

/* A root without a hint whose consumers all carry GRID hints naming one
 * rank goes there (a matmul operand's file block is read where the operand
 * block is made); -1 otherwise. Not for RANK hints: a writer hinted to
 * rank 0 would draw every block it writes there, computed by one rank. */
static int root_by_consumers(const cask_graph *g, uint32_t t, int nranks, grid *c) {
  int r = -1;
  for (uint32_t k = g->succ_off[t]; k < g->succ_off[t + 1]; k++) {
    uint32_t u = g->succ[k], kind = g->tasks[u].place_kind;
    if (kind != CASK_PLACE_GRID) return -1;
    int h = hinted_rank(g, u, NULL, nranks, c);
    if (r >= 0 && h != r) return -1;
    r = h;
  }
  return r;
}

/* The ranks of roots that have one from a hint (theirs or their
 * consumers'), -1 for the others; returns how many others (the roots split
 * into runs) and counts all roots in *all. */
static size_t place_roots(const cask_graph *g, int nranks, int *owner, grid *c, size_t *all) {
  size_t n = 0;
  *all = 0;
  for (size_t i = 0; i < g->ntasks; i++) {
    if (g->tasks[i].ndeps) continue;
    uint32_t t = (uint32_t)i;
    owner[t] = g->tasks[t].place_kind ? hinted_rank(g, t, NULL, nranks, c) : root_by_consumers(g, t, nranks, c);
    n += owner[t] < 0;
    ++*all;
  }
  return n;
}

/* The owner of task t with inputs, its inputs placed: its hint's rank; for
 * a task of a group of two or more, its place in the group's runs; else
 * the majority of its voting inputs, or of all when none votes. */
static int task_rank(const cask_graph *g, uint32_t t, const int *owner, int nranks, size_t limit, uint32_t *count,
                     tally *v, grid *c) {
  int h = g->tasks[t].place_kind ? hinted_rank(g, t, owner, nranks, c) : -1;
  if (h >= 0) return h;
  uint32_t key = count ? group_of(g, t, limit) : CASK__NO_TASK;
  if (key == CASK__NO_TASK) return majority_rank(g, t, owner, v, limit);
  if (count[key] < 2) return majority_rank(g, t, owner, v, SIZE_MAX);
  return root_rank(count[g->ntasks + key]++, count[key], nranks);
}

int cask__place(cask_graph *g, int nranks, int *owner, uint32_t **by_prio) {
  if (!g || !owner) return CASK_EINVAL;
  if (nranks < 1 || nranks > CASK_MAX_RANKS) {
    cask__fmt(g->errmsg, sizeof g->errmsg, "place: %d ranks: expected 1 to %d", nranks, CASK_MAX_RANKS);
    return CASK_EINVAL;
  }
  int rc = g->prio && g->validated ? CASK_OK : cask_graph_order(g);
  if (rc) return rc;
  grid c = {0, 0, 0, 0};
  size_t n = g->ntasks, all, nroots = place_roots(g, nranks, owner, &c, &all), j = 0;
  size_t limit = (all + (size_t)nranks - 1) / (size_t)nranks; /* a run's roots */
  uint32_t *order = cask__malloc(n * sizeof *order), *count = NULL;
  tally v = {cask__malloc((size_t)nranks * sizeof *v.acc), cask__calloc((size_t)nranks, sizeof *v.stamp),
             cask__malloc((size_t)nranks * sizeof *v.touched)};
  if (!order || !v.acc || !v.stamp || !v.touched || count_groups(g, limit, &count)) {
    cask__fmt(g->errmsg, sizeof g->errmsg, "place: out of memory for %zu tasks on %d ranks", n, nranks);
    rc = CASK_ENOMEM;
    goto free_all;
  }
  for (size_t i = 0; i < n; i++) order[g->prio[i]] = (uint32_t)i;
  for (size_t p = 0; p < n; p++) {
    uint32_t t = order[p];
    if (!g->tasks[t].ndeps) {
      if (owner[t] < 0) owner[t] = root_rank(j++, nroots, nranks);
      continue;
    }
    owner[t] = task_rank(g, t, owner, nranks, limit, count, &v, &c);
  }
  if (by_prio) *by_prio = order, order = NULL;
free_all:
  cask__free(order);
  cask__free(count);
  cask__free(v.acc);
  cask__free(v.stamp);
  cask__free(v.touched);
  return rc;
}

int cask_graph_place(cask_graph *g, int nranks, int *owner) { return cask__place(g, nranks, owner, NULL); }
