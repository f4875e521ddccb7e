/* place.c - owner-computes placement: which rank runs each task.
 * The one thing to know: the owner of a task is a function of the graph and
 * the rank count only (never of timing), so every rank computes the same
 * owners alone; and it is computed in one walk of the static order, which
 * reaches every task after all of its inputs. The rules and their reasons
 * are in docs/distributed.md. */
#include "dist-int.h"

/* Root j of nroots in a run of equal count: the first nroots % K runs hold
 * one more root than the others. */
static int root_rank(size_t j, size_t nroots, int nranks) {
  size_t q = nroots / (size_t)nranks, r = nroots % (size_t)nranks;
  if (j < r * (q + 1)) return (int)(j / (q + 1));
  return (int)(r + (j - r * (q + 1)) / q);
}

/* Bytes an input weighs in the vote of its consumer: its declared size. An
 * undeclared one counts as the largest declared size among the consumer's
 * inputs (a block of unknown size is most likely one like its siblings: a
 * reduction's first combine often has none), or 1 when none is declared,
 * so a task of unsized inputs follows most of them. */
static int64_t unknown_weight(const cask_graph *g, const uint32_t *deps, uint32_t nd) {
  int64_t w = 1;
  for (uint32_t k = 0; k < nd; k++)
    if (g->tasks[deps[k]].size > w) w = g->tasks[deps[k]].size;
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

static int majority_rank(const cask_graph *g, uint32_t t, const int *owner, tally *v) {
  const uint32_t *deps = g->dep_idx + g->tasks[t].deps_off;
  uint32_t nd = g->tasks[t].ndeps, stamp = t + 1;
  int ntouched = 0, best = -1;
  int64_t unknown = -1; /* found when first needed: most inputs are sized */
  for (uint32_t k = 0; k < nd; k++) {
    int r = owner[deps[k]];
    int64_t w = g->tasks[deps[k]].size;
    if (w < 0) w = unknown < 0 ? (unknown = unknown_weight(g, deps, nd)) : unknown;
    if (v->stamp[r] != stamp) v->stamp[r] = stamp, v->acc[r] = 0, v->touched[ntouched++] = r;
    v->acc[r] += w;
  }
  for (int k = 0; k < ntouched; k++) {
    int r = v->touched[k];
    if (best < 0 || v->acc[r] > v->acc[best] || (v->acc[r] == v->acc[best] && r < best)) best = r;
  }
  return best;
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
 * into runs). */
static size_t place_roots(const cask_graph *g, int nranks, int *owner, grid *c) {
  size_t n = 0;
  for (size_t i = 0; i < g->ntasks; i++) {
    if (g->tasks[i].ndeps) continue;
    uint32_t t = (uint32_t)i;
    owner[t] = g->tasks[t].place_kind ? hinted_rank(g, t, NULL, nranks, c) : root_by_consumers(g, t, nranks, c);
    n += owner[t] < 0;
  }
  return n;
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
  size_t n = g->ntasks, nroots = place_roots(g, nranks, owner, &c), j = 0;
  uint32_t *order = cask__malloc(n * sizeof *order);
  tally v = {cask__malloc((size_t)nranks * sizeof *v.acc), cask__calloc((size_t)nranks, sizeof *v.stamp),
             cask__malloc((size_t)nranks * sizeof *v.touched)};
  if (!order || !v.acc || !v.stamp || !v.touched) {
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
    int h = g->tasks[t].place_kind ? hinted_rank(g, t, owner, nranks, &c) : -1;
    owner[t] = h >= 0 ? h : majority_rank(g, t, owner, &v);
  }
  if (by_prio) *by_prio = order, order = NULL;
free_all:
  cask__free(order);
  cask__free(v.acc);
  cask__free(v.stamp);
  cask__free(v.touched);
  return rc;
}

int cask_graph_place(cask_graph *g, int nranks, int *owner) { return cask__place(g, nranks, owner, NULL); }
