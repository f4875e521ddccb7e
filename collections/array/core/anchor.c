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
#include <stdlib.h>
#include <string.h>

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

int cask__stamp_reader(cask__lower *L, cask_task_id id, const int64_t *abidx, cask_array *const *leaves, uint32_t n) {
  if (!L->G || L->g->tasks[id].place_kind) return CASK_OK;
  for (uint32_t k = 0; k < n; k++)
    if (leaves[k]->cls->lower_part) {
      cask_place_hint h = {CASK_PLACE_RUN, (uint32_t)cask__anchor_pos(L->G, abidx), 0, (uint32_t)L->G->count, 0};
      return cask_graph_set_place(L->g, id, &h);
    }
  return CASK_OK;
}

int cask__anchor_operand(const cask__anchor *G, const cask_array *a) {
  for (int k = 0; k < G->nops; k++)
    if (G->ops[k] == a || (G->ops[k]->token == a->token && G->ops[k]->cls == a->cls)) return 1;
  return 0;
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

/* Whether reduction r, read by an elementwise step on the grid, is read
 * by the blocks of its own fold: it reduces the leading axes of a node on
 * the grid, so broadcasting it back (aligned at the right) puts its block
 * b under exactly the anchor blocks its fold reads. */
static int operand_ok(const cask__anchor *G, const cask_array *r) {
  if (r->kind != CASK__NODE_REDUCE || r->nin != 1 || r->unknown || !cask__anchor_on(G, r->in[0])) return 0;
  int lead = G->ndim - r->ndim;
  return lead >= 1 && r->p.reduce.axes == (uint32_t)((1u << lead) - 1);
}

static int check_under(cask__anchor *G, const cask_array *a, seen *s, char *why, size_t cap);

/* A reduction read by elementwise step a: allowed when operand_ok, listed
 * in G->ops after the reductions its input reads. */
static int check_operand(cask__anchor *G, const cask_array *a, const cask_array *r, seen *s, char *why, size_t cap) {
  if (!cask__is_elementwise(a) || !operand_ok(G, r))
    return snprintf(why, cap, "the result of a %s is an operand of %s %s step, not broadcast back over the leading "
                    "axes it reduces", r->cls->name, strchr("aeiou", a->cls->name[0]) ? "an" : "a", a->cls->name), 0;
  if (cask__anchor_operand(G, r)) return 1;
  if (!check_under(G, r, s, why, cap)) return 0;
  if (G->nops == CASK__MAX_OPERAND_REDUCTIONS)
    return snprintf(why, cap, "more than %d reductions read as operands", CASK__MAX_OPERAND_REDUCTIONS), 0;
  G->ops[G->nops++] = (cask_array *)r;
  return 1;
}

/* Checks the nodes under a (not a itself) for the rules of the fragment. */
static int check_under(cask__anchor *G, const cask_array *a, seen *s, char *why, size_t cap) {
  for (int k = 0; k < a->nin; k++) {
    const cask_array *b = a->in[k];
    if (b->cls->lower_part) { /* also when it is an output too, seen before */
      if (!check_operand(G, a, b, s, why, cap)) return 0;
      continue;
    }
    int fresh = seen_add(s, b);
    if (fresh < 0) return snprintf(why, cap, "out of memory"), 0;
    if (!fresh) continue;
    char shape[96];
    cask__shape_str(shape, sizeof shape, b->ndim, b->shape);
    if (!b->cls->aligned)
      return snprintf(why, cap, "%s %s step has no partial lowering", strchr("aeiou", b->cls->name[0]) ? "an" : "a",
                      b->cls->name), 0;
    if (!cask__anchor_on(G, b))
      return snprintf(why, cap, "%s %s step of shape %s is not on the anchor grid of the outputs",
                      strchr("aeiou", b->cls->name[0]) ? "an" : "a", b->cls->name, shape), 0;
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
      ok = 0, snprintf(why, cap, "output %d: %s %s step has no partial lowering", k,
                       strchr("aeiou", a->cls->name[0]) ? "an" : "a", a->cls->name);
    } else if (!cask__anchor_on(G, a)) {
      ok = 0, snprintf(why, cap, "output %d is not on the anchor grid of output 0", k);
    }
    if (ok) ok = check_under(G, a, &s, why, cap);
  }
  cask__free(s.slot);
  return ok;
}

/* ---- a rank's part ------------------------------------------------------ */

static int cmp_i64(const void *x, const void *y) {
  int64_t a = *(const int64_t *)x, b = *(const int64_t *)y;
  return (a > b) - (a < b);
}

int cask__part_blocks(cask__lower *L, cask_array *a, const int64_t *pos, size_t npos,
                      int (*fn)(cask__lower *L, cask_array *a, const int64_t *bidx, void *arg), void *arg) {
  int64_t bidx[CASK_MAX_NDIM];
  if (!a->cls->lower_part) {
    for (size_t k = 0; k < npos; k++) {
      cask__anchor_at(L->G, pos[k], bidx);
      int rc = fn(L, a, bidx, arg);
      if (rc) return rc;
    }
    return CASK_OK;
  }
  /* a reduction: the output blocks (kept axes) of the rank's anchor
   * blocks, each once, whose task the rank made (its fold ends here) */
  const cask_array *in = a->in[0];
  int64_t *b = cask__malloc((npos ? npos : 1) * sizeof *b);
  if (!b) return cask__fail(L->ctx, CASK_ENOMEM, "out of memory listing a rank's blocks");
  for (size_t k = 0; k < npos; k++) {
    int64_t abidx[CASK_MAX_NDIM], f = 0;
    cask__anchor_at(L->G, pos[k], abidx);
    for (int i = 0; i < in->ndim; i++)
      if (!(a->p.reduce.axes & (1u << i))) f = f * cask__nblocks(in, i) + abidx[i];
    b[k] = f;
  }
  qsort(b, npos, sizeof *b, cmp_i64);
  int rc = CASK_OK;
  for (size_t k = 0; k < npos && !rc; k++) {
    if (k && b[k] == b[k - 1]) continue;
    int64_t f = b[k];
    for (int i = a->ndim - 1; i >= 0; i--) {
      bidx[i] = f % cask__nblocks(a, i);
      f /= cask__nblocks(a, i);
    }
    char key[512];
    cask_task_id id;
    cask__node_block_key(a, bidx, key, sizeof key);
    /* (a ghost there: another rank's block this rank reads as an operand) */
    if (cask_graph_find(L->g, key, &id) == CASK_OK && !cask__graph_is_ghost(L->g, id)) rc = fn(L, a, bidx, arg);
  }
  cask__free(b);
  return rc;
}

int cask__part_lower(cask__lower *L, int n, cask_array *const *arrays, const int64_t *pos, size_t npos) {
  int rc = CASK_OK;
  /* reductions read as operands first (their readers find their blocks
   * made, or make ghosts of them), in the order their inputs need */
  for (int k = 0; k < L->G->nops && !rc; k++) rc = L->G->ops[k]->cls->lower_part(L, L->G->ops[k], pos, npos);
  for (int k = 0; k < n && !rc; k++) {
    if (!arrays[k]->cls->lower_part || cask__anchor_operand(L->G, arrays[k])) continue;
    int seen_before = 0;
    for (int i = 0; i < k; i++)
      seen_before |= arrays[i]->token == arrays[k]->token && arrays[i]->cls == arrays[k]->cls;
    if (!seen_before) rc = arrays[k]->cls->lower_part(L, arrays[k], pos, npos);
  }
  return rc;
}

static uint64_t mix(uint64_t h, uint64_t v) {
  h ^= v + 0x9e3779b97f4a7c15ull + (h << 6) + (h >> 2);
  h *= 0xff51afd7ed558ccdull;
  return h ^ (h >> 33);
}

uint64_t cask__part_digest(int n, cask_array *const *arrays, const int *kinds, const cask__anchor *G, int nranks) {
  uint64_t h = mix(0x63736b70617274ull, (uint64_t)nranks); /* the arrays' tokens hash whole expressions */
  h = mix(h, (uint64_t)G->count);
  for (int k = 0; k < n; k++) h = mix(mix(h, arrays[k]->token), (uint64_t)(kinds ? kinds[k] : -1));
  return h ? h : 1;
}
