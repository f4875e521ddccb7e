/* anchor.c - the anchor grid of an array job, for flat per-rank planning
 * (docs/flat-planning.md): which jobs a rank can lower its part of alone,
 * the order of their anchor blocks, and which rank owns which block.
 * The one thing to know: every root task of such a job (a source or file
 * block, a leafless kernel or partial) carries a RUN hint, "position p of
 * n anchor blocks", set the same way when the whole graph is built and
 * when one rank builds its part; placement splits positions into K equal
 * runs (place.c's root_rank), so a rank knows the owner of any block from
 * its index alone and the two builds place every task alike. */
#include <stdio.h>

#include "array-int.h"

/* ---- positions --------------------------------------------------------- */

int64_t cask__anchor_pos(const cask__anchor *G, const int64_t *abidx) {
  int64_t p = 0;
  for (int k = 0; k < G->ndim; k++) p = p * G->nb[G->perm[k]] + abidx[G->perm[k]];
  return p;
}

void cask__anchor_at(const cask__anchor *G, int64_t p, int64_t *abidx) {
  for (int k = G->ndim - 1; k >= 0; k--) {
    int i = G->perm[k];
    abidx[i] = p % G->nb[i];
    p /= G->nb[i];
  }
}

/* The same split as place.c's root_rank: the first count % K runs hold one
 * more position than the others. */
int cask__anchor_rank(const cask__anchor *G, int64_t p, int nranks) {
  int64_t q = G->count / nranks, r = G->count % nranks;
  if (p < r * (q + 1)) return (int)(p / (q + 1));
  return (int)(r + (p - r * (q + 1)) / q);
}

void cask__anchor_range(const cask__anchor *G, int nranks, int rank, int64_t *lo, int64_t *n) {
  int64_t q = G->count / nranks, r = G->count % nranks;
  *lo = rank * q + (rank < r ? rank : r);
  *n = q + (rank < r);
}

int cask__stamp_root(cask__lower *L, cask_task_id id, const int64_t *abidx) {
  if (!L->G || L->g->tasks[id].ndeps || L->g->tasks[id].place_kind) return CASK_OK;
  cask_place_hint h = {CASK_PLACE_RUN, (uint32_t)cask__anchor_pos(L->G, abidx), 0, (uint32_t)L->G->count, 0};
  return cask_graph_set_place(L->g, id, &h);
}

/* ---- the fragment ------------------------------------------------------ */

/* Nodes seen by the walk: a small open-addressed set of pointers. */
typedef struct seen {
  const cask_array **slot;
  size_t cap, n;
} seen;

static int seen_add(seen *s, const cask_array *a) {
  if (2 * (s->n + 1) > s->cap) {
    size_t cap = s->cap ? 2 * s->cap : 64;
    const cask_array **slot = cask__calloc(cap, sizeof *slot);
    if (!slot) return -1;
    for (size_t i = 0; i < s->cap; i++) {
      if (!s->slot[i]) continue;
      size_t h = ((uintptr_t)s->slot[i] >> 4) & (cap - 1);
      while (slot[h]) h = (h + 1) & (cap - 1);
      slot[h] = s->slot[i];
    }
    cask__free(s->slot);
    s->slot = slot, s->cap = cap;
  }
  size_t h = ((uintptr_t)a >> 4) & (s->cap - 1);
  for (; s->slot[h]; h = (h + 1) & (s->cap - 1))
    if (s->slot[h] == a) return 0;
  s->slot[h] = a, s->n++;
  return 1;
}

int cask__anchor_on(const cask__anchor *G, const cask_array *a) {
  if (a->ndim != G->ndim || a->unknown) return 0;
  for (int i = 0; i < a->ndim; i++)
    if (a->shape[i] != G->shape[i] || a->chunk[i] != G->chunk[i]) return 0;
  return 1;
}

static void set_grid(cask__anchor *G, const cask_array *a) {
  G->ndim = a->ndim;
  G->count = 1;
  for (int i = 0; i < a->ndim; i++) {
    G->shape[i] = a->shape[i], G->chunk[i] = a->chunk[i];
    G->count *= G->nb[i] = cask__nblocks(a, i);
    G->perm[i] = i;
  }
}

/* Checks the nodes under a (not a itself) for the rules of the fragment. */
static int check_under(const cask__anchor *G, const cask_array *a, seen *s, char *why, size_t cap) {
  for (int k = 0; k < a->nin; k++) {
    const cask_array *b = a->in[k];
    if (b->cls->lower_part) /* also when it is an output too, seen before */
      return snprintf(why, cap, "the result of a %s is an operand of another step", b->cls->name), 0;
    int fresh = seen_add(s, b);
    if (fresh < 0) return snprintf(why, cap, "out of memory"), 0;
    if (!fresh) continue;
    char shape[96];
    cask__shape_str(shape, sizeof shape, b->ndim, b->shape);
    if (!b->cls->aligned) return snprintf(why, cap, "a %s step has no partial lowering", b->cls->name), 0;
    if (!cask__anchor_on(G, b))
      return snprintf(why, cap, "a %s step of shape %s is not on the anchor grid of the outputs", b->cls->name,
                      shape), 0;
    if (!check_under(G, b, s, why, cap)) return 0;
  }
  return 1;
}

int cask__anchor_find(int n, cask_array *const *outs, cask__anchor *G, char *why, size_t cap) {
  memset(G, 0, sizeof *G);
  why[0] = '\0';
  /* the grid: the first output's, or its reduction's input's */
  const cask_array *first = outs[0]->cls->lower_part && outs[0]->nin == 1 ? outs[0]->in[0] : outs[0];
  set_grid(G, first);
  if (first->unknown) return snprintf(why, cap, "blocks of unknown length"), 0;
  if (G->count < 1) return snprintf(why, cap, "the outputs have no blocks"), 0;
  if (G->count > UINT32_MAX) return snprintf(why, cap, "more than 2^32 anchor blocks"), 0;
  /* Positions: the order the first output reaches its blocks; for a
   * reduction, its output blocks (the kept axes) slowest, then its fold. */
  if (first != outs[0] && outs[0]->kind == CASK__NODE_REDUCE) {
    int k = 0;
    for (int i = 0; i < G->ndim; i++)
      if (!(outs[0]->p.reduce.axes & (1u << i))) G->perm[k++] = i;
    for (int i = 0; i < G->ndim; i++)
      if (outs[0]->p.reduce.axes & (1u << i)) G->perm[k++] = i;
  }
  seen s = {NULL, 0, 0};
  int ok = 1;
  for (int k = 0; k < n && ok; k++) {
    const cask_array *a = outs[k];
    int fresh = seen_add(&s, a);
    if (fresh < 0) ok = 0, snprintf(why, cap, "out of memory");
    if (fresh <= 0) continue;
    if (a->cls->lower_part) {
      if (a->kind != CASK__NODE_REDUCE || a->nin != 1 || a->unknown || !cask__anchor_on(G, a->in[0]))
        ok = 0, snprintf(why, cap, "output %d: a %s whose input is not on the anchor grid", k, a->cls->name);
    } else if (!a->cls->aligned) {
      ok = 0, snprintf(why, cap, "output %d: a %s step has no partial lowering", k, a->cls->name);
    } else if (!cask__anchor_on(G, a)) {
      ok = 0, snprintf(why, cap, "output %d is not on the anchor grid of output 0", k);
    }
    if (ok) ok = check_under(G, a, &s, why, cap);
  }
  cask__free(s.slot);
  return ok;
}
