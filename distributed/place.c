/* place.c - owner-computes placement: which rank runs each task.
 * The one thing to know: the owner of a task is a function of the graph and
 * the rank count only (never of timing), so every rank computes the same
 * owners alone; and it is computed in walks of the static order, which
 * reaches every task after all of its inputs (on K > 1 ranks, one walk
 * finds the broadcasts first, unless CASK__PLACE_NO_BROADCAST). The rules
 * and their reasons are in docs/distributed.md. */
#include "dist-int.h"

/* Root j of nroots in a run of equal count: the first nroots % K runs hold
 * one more root than the others. */
static int root_rank(size_t j, size_t nroots, int nranks) {
  size_t q = nroots / (size_t)nranks, r = nroots % (size_t)nranks;
  if (j < r * (q + 1)) return (int)(j / (q + 1));
  return (int)(r + (j - r * (q + 1)) / q);
}

/* Broadcasts and the groups of tasks that read nothing else. A task's
 * share is the part of the roots that flows through it: a root has one,
 * every task hands its share out evenly to its readers (in fixed point,
 * rounded down, so every rank computes the same bits). A broadcast is a
 * task read by two or more whose share exceeds the longest run of roots
 * (ceil(roots / K)): were all its readers to follow it, its rank would run
 * more than any rank's share of their pass. It does not vote in the
 * majority rule. */
#define SHARE_ONE ((uint64_t)1 << 20) /* a root's share; 2^32 roots fit */
#define NO_ROOT UINT32_MAX

/* What flows out of a task: the share it hands each reader, and the first
 * and last of the roots in the runs (numbered as they are split) it is
 * made from (NO_ROOT, 0: none). One record, so an input costs one cache
 * line. */
typedef struct flow {
  uint64_t out;
  uint32_t lo, hi;
} flow;

typedef struct groups {
  uint8_t *bcast; /* per task: 1 for a broadcast; NULL when K = 1 */
  flow *flow;     /* per task */
  /* count[2b]: tasks grouped by b; count[2b + 1]: of them placed so far;
   * NULL: no group */
  uint32_t *count;
} groups;

static uint32_t readers(const cask_graph *g, uint32_t b) { return g->succ_off[b + 1] - g->succ_off[b]; }

static int broadcast(const groups *gr, uint32_t b) { return gr && gr->bcast && gr->bcast[b]; }

/* Bytes an input weighs in the vote of its consumer: its declared size. An
 * undeclared one counts as the largest declared size among the consumer's
 * voting inputs (a block of unknown size is most likely one like its
 * siblings: a reduction's first combine often has none), or 1 when none is
 * declared, so a task of unsized inputs follows most of them. */
static int64_t unknown_weight(const cask_graph *g, const uint32_t *deps, uint32_t nd, const groups *gr) {
  int64_t w = 1;
  for (uint32_t k = 0; k < nd; k++)
    if (g->tasks[deps[k]].size > w && !broadcast(gr, deps[k])) w = g->tasks[deps[k]].size;
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

/* The rank holding most of t's voting input bytes (t has one at least;
 * gr NULL: every input votes). */
static int majority_rank(const cask_graph *g, uint32_t t, const int *owner, tally *v, const groups *gr) {
  const uint32_t *deps = g->dep_idx + g->tasks[t].deps_off;
  uint32_t nd = g->tasks[t].ndeps, stamp = t + 1;
  int ntouched = 0, best = -1;
  int64_t unknown = -1; /* found when first needed: most inputs are sized */
  for (uint32_t k = 0; k < nd; k++) {
    if (broadcast(gr, deps[k])) continue;
    int r = owner[deps[k]];
    int64_t w = g->tasks[deps[k]].size;
    if (w < 0) w = unknown < 0 ? (unknown = unknown_weight(g, deps, nd, gr)) : unknown;
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
static uint32_t group_of(const cask_graph *g, uint32_t t, const groups *gr) {
  const cask__task *r = &g->tasks[t];
  const uint32_t *deps = g->dep_idx + r->deps_off;
  uint32_t key = CASK__NO_TASK, most = 0;
  if (r->place_kind || !r->ndeps) return CASK__NO_TASK;
  for (uint32_t k = 0; k < r->ndeps; k++) {
    uint32_t b = deps[k], d;
    if (!broadcast(gr, b)) return CASK__NO_TASK;
    d = readers(g, b);
    if (key == CASK__NO_TASK || d > most || (d == most && g->prio[b] < g->prio[key])) key = b, most = d;
  }
  return key;
}

/* Marks the broadcasts and counts the groups in one walk of the static
 * order, which reaches a task after its inputs, numbering the roots of the
 * runs as the placement walk does (owner < 0). With run_pos, the roots in
 * the runs are the RUN-hinted ones, numbered by their hint's position (see
 * cask__place_opts). Nothing to do on one rank. */
static int find_groups(const cask_graph *g, const uint32_t *order, const int *owner, size_t nroots, int nranks,
                       int run_pos, groups *gr) {
  size_t n = g->ntasks;
  uint64_t run = (nroots + (uint64_t)nranks - 1) / (uint64_t)nranks * SHARE_ONE;
  uint32_t j = 0;
  if (nranks == 1 || !n) return CASK_OK;
  gr->bcast = cask__malloc(n * sizeof *gr->bcast);
  gr->flow = cask__malloc(n * sizeof *gr->flow);
  if (!gr->bcast || !gr->flow) return CASK_ENOMEM;
  for (size_t p = 0; p < n; p++) {
    uint32_t t = order[p], nd = g->tasks[t].ndeps, d = readers(g, t), key;
    const uint32_t *deps = g->dep_idx + g->tasks[t].deps_off;
    flow *f = &gr->flow[t];
    const cask__task *r = &g->tasks[t];
    /* a root without a rank from a hint, or (run_pos) one with a RUN hint */
    int in_runs = !nd && (run_pos ? r->place_kind == CASK_PLACE_RUN : owner[t] < 0);
    uint64_t share = nd ? 0 : SHARE_ONE;
    uint32_t at = !in_runs ? 0 : run_pos ? r->place[0] : j++;
    f->lo = in_runs ? at : NO_ROOT, f->hi = at;
    for (uint32_t k = 0; k < nd; k++) {
      const flow *in = &gr->flow[deps[k]];
      share += in->out;
      if (in->lo < f->lo) f->lo = in->lo;
      if (in->lo != NO_ROOT && in->hi > f->hi) f->hi = in->hi;
    }
    f->out = d > 1 ? share / d : share; /* most tasks have one reader: no division */
    gr->bcast[t] = d >= 2 && share > run;
    if ((key = group_of(g, t, gr)) == CASK__NO_TASK) continue;
    if (!gr->count && !(gr->count = cask__calloc(2 * n, sizeof *gr->count))) return CASK_ENOMEM;
    gr->count[2 * (size_t)key]++;
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
  case CASK_PLACE_RUN: return root_rank(r->place[0], r->place[2], nranks); /* 0 <= i < ni: set_place */
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
 * into runs) and counts all roots in *all. *run_n: the count n of the RUN
 * hints of roots when they all have the same one, 0 when there is none,
 * UINT32_MAX when two differ. */
static size_t place_roots(const cask_graph *g, int nranks, int *owner, grid *c, size_t *all, uint32_t *run_n) {
  size_t n = 0;
  *all = 0, *run_n = 0;
  for (size_t i = 0; i < g->ntasks; i++) {
    const cask__task *r = &g->tasks[i];
    if (r->ndeps) continue;
    uint32_t t = (uint32_t)i;
    owner[t] = r->place_kind ? hinted_rank(g, t, NULL, nranks, c) : root_by_consumers(g, t, nranks, c);
    if (r->place_kind == CASK_PLACE_RUN) *run_n = !*run_n || *run_n == r->place[2] ? r->place[2] : UINT32_MAX;
    n += owner[t] < 0;
    ++*all;
  }
  return n;
}

/* The rank of the i-th (in the static order) of the tasks grouped by b:
 * the runs of the roots b is made from, split evenly among the group
 * (i-th of as many: the i-th root's rank, so a second pass lines up with
 * the first), or all K runs when b is made from none of their roots. */
static int group_rank(const groups *gr, uint32_t b, size_t nroots, int nranks) {
  uint32_t *c = gr->count + 2 * (size_t)b, i = c[1]++;
  const flow *f = &gr->flow[b];
  if (f->lo == NO_ROOT) return root_rank(i, c[0], nranks);
  return root_rank(f->lo + (uint64_t)i * (f->hi - f->lo + 1) / c[0], nroots, nranks);
}

/* The owner of task t with inputs, its inputs placed: its hint's rank; for
 * a task of a group of two or more, its place in the group's runs; else
 * the majority of its voting inputs, or of all when none votes. */
static int task_rank(const cask_graph *g, uint32_t t, const int *owner, int nranks, size_t nroots, groups *gr,
                     tally *v, grid *c) {
  int h = g->tasks[t].place_kind ? hinted_rank(g, t, owner, nranks, c) : -1;
  if (h >= 0) return h;
  uint32_t key = gr->count ? group_of(g, t, gr) : CASK__NO_TASK;
  if (key == CASK__NO_TASK) return majority_rank(g, t, owner, v, gr);
  if (gr->count[2 * (size_t)key] < 2) return majority_rank(g, t, owner, v, NULL);
  return group_rank(gr, key, nroots, nranks);
}

/* Spans of RUN-hinted roots (find_groups). A group's members are spread
 * over the runs of the roots its broadcast is made from, numbered lo..hi
 * among nroots; root_rank maps a number to a rank. The plain runs number
 * unhinted roots 0..nroots-1 in the static order, a RUN hint numbers its
 * root p of n: two scales that cannot be mixed in one span. So when no
 * root is in the plain runs and every RUN-hinted root has the same n (an
 * array job planned flat: the library hints all its roots, p = the anchor
 * block's position, n = the anchor blocks), spans use p and the groups'
 * ranks root_rank(., n, K): a group lines up with its roots' RUN ranks as
 * it does with the plain runs. Otherwise RUN roots count as hinted roots
 * (like RANK ones): outside the spans, which keep the plain numbering.
 * Graphs without RUN hints are placed as before. */
int cask__place_opts(cask_graph *g, int nranks, int *owner, uint32_t **by_prio, unsigned flags) {
  if (!g || !owner) return CASK_EINVAL;
  if (nranks < 1 || nranks > CASK_MAX_RANKS) {
    cask__fmt(g->errmsg, sizeof g->errmsg, "place: %d ranks: expected 1 to %d", nranks, CASK_MAX_RANKS);
    return CASK_EINVAL;
  }
  if (flags & ~(unsigned)CASK__PLACE_NO_BROADCAST) {
    cask__fmt(g->errmsg, sizeof g->errmsg, "place: unknown flags 0x%x", flags & ~(unsigned)CASK__PLACE_NO_BROADCAST);
    return CASK_EINVAL;
  }
  int rc = g->prio && g->validated ? CASK_OK : cask_graph_order(g);
  if (rc) return rc;
  grid c = {0, 0, 0, 0};
  uint32_t run_n;
  size_t n = g->ntasks, all, nroots = place_roots(g, nranks, owner, &c, &all, &run_n), j = 0;
  int run_pos = nroots == 0 && run_n && run_n != UINT32_MAX;
  size_t span_n = run_pos ? run_n : nroots; /* what group spans number */
  uint32_t *order = cask__malloc(n * sizeof *order);
  groups gr = {NULL, NULL, NULL};
  tally v = {cask__malloc((size_t)nranks * sizeof *v.acc), cask__calloc((size_t)nranks, sizeof *v.stamp),
             cask__malloc((size_t)nranks * sizeof *v.touched)};
  if (order)
    for (size_t i = 0; i < n; i++) order[g->prio[i]] = (uint32_t)i;
  if (!order || !v.acc || !v.stamp || !v.touched ||
      (!(flags & CASK__PLACE_NO_BROADCAST) && find_groups(g, order, owner, all, nranks, run_pos, &gr))) {
    cask__fmt(g->errmsg, sizeof g->errmsg, "place: out of memory for %zu tasks on %d ranks", n, nranks);
    rc = CASK_ENOMEM;
    goto free_all;
  }
  for (size_t p = 0; p < n; p++) {
    uint32_t t = order[p];
    if (!g->tasks[t].ndeps) {
      if (owner[t] < 0) owner[t] = root_rank(j++, nroots, nranks);
      continue;
    }
    owner[t] = task_rank(g, t, owner, nranks, span_n, &gr, &v, &c);
  }
  if (by_prio) *by_prio = order, order = NULL;
free_all:
  cask__free(order);
  cask__free(gr.bcast);
  cask__free(gr.flow);
  cask__free(gr.count);
  cask__free(v.acc);
  cask__free(v.stamp);
  cask__free(v.touched);
  return rc;
}

int cask__place(cask_graph *g, int nranks, int *owner, uint32_t **by_prio) {
  return cask__place_opts(g, nranks, owner, by_prio, 0);
}

int cask_graph_place(cask_graph *g, int nranks, int *owner) { return cask__place(g, nranks, owner, NULL); }
