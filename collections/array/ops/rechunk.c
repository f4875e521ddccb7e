/* rechunk.c - cask_rechunk: the same values on another regular chunk grid.
 * Each output block is one array.gather task over the input blocks it
 * overlaps (an output block that is exactly an input block is that block,
 * under an alias). A source is rechunked for free (another view of it).
 * The one thing to know: a task receives whole input blocks, so an output
 * block crossing many of them holds them all at once; where that would
 * exceed the context's chunk_bytes (the (N, 1) -> (1, N) case holds the
 * whole array), plan() puts an intermediate grid in between, as Dask's
 * plan_rechunk does, so that each of the two passes gathers about
 * chunk_bytes at most (docs/structure.md). */
#include <stdio.h>

#include "boxcopy.h"

static int rechunk_lower(cask__lower *L, cask_array *a, const int64_t *bidx, const char *key,
                         cask_task_id *out);
static const cask__node_class rechunk_class = {.name = "rechunk", .lower = rechunk_lower};

/* If block bidx of a is exactly one block of its input, that block's index. */
static int whole_block(const cask_array *a, const int64_t *off, const int64_t *ext, int64_t *ibidx) {
  const cask_array *in = a->in[0];
  for (int i = 0; i < a->ndim; i++) {
    if (off[i] % in->chunk[i]) return 0;
    ibidx[i] = off[i] / in->chunk[i];
    int64_t iext = in->shape[i] - off[i] < in->chunk[i] ? in->shape[i] - off[i] : in->chunk[i];
    if (iext != ext[i]) return 0;
  }
  return 1;
}

static int rechunk_lower(cask__lower *L, cask_array *a, const int64_t *bidx, const char *key,
                         cask_task_id *out) {
  cask_array *in = a->in[0];
  int64_t off[CASK_MAX_NDIM], ext[CASK_MAX_NDIM], step[CASK_MAX_NDIM], np[CASK_MAX_NDIM], total = 0;
  cask__block_box(a, bidx, off, ext);
  if (whole_block(a, off, ext, np)) {
    cask_task_id dep;
    int rc = cask__lower_block(L, in, np, &dep);
    return rc ? rc : cask__lower_alias(L, key, dep, out);
  }
  for (int i = 0; i < a->ndim; i++) {
    step[i] = 1;
    np[i] = cask__axis_pieces(off[i], 1, ext[i], in->chunk[i], 0, NULL, 0);
    total += np[i];
  }
  cask__axis_piece *pc = cask__malloc((size_t)(total ? total : 1) * sizeof *pc);
  if (!pc) return cask__fail(L->ctx, CASK_ENOMEM, "out of memory lowering %s", key);
  for (int i = 0, k = 0; i < a->ndim; k += (int)np[i], i++)
    cask__axis_pieces(off[i], 1, ext[i], in->chunk[i], 0, pc + k, np[i]);
  int rc = cask__lower_gather(L, key, a->dtype, a->ndim, ext, step, 0, np, pc, &in, out);
  cask__free(pc);
  return rc;
}

/* One direct rechunk of a to chunk (normalized, different from a's). */
static int rechunk_node(cask_array *a, const int64_t *chunk, cask_array **out) {
  if (cask__is_source(a))
    return cask__source_view(a, a->ndim, a->shape, chunk, a->p.source.base, a->p.source.fstride, out);
  int rc = cask__node_new_ext(a->ctx, &rechunk_class, NULL, a->dtype, a->ndim, a->shape, chunk, 1, &a,
                              out);
  if (!rc) cask__node_seal(*out, NULL, 0);
  return rc;
}

/* ---- the plan ----------------------------------------------------------- */

/* Elements along an axis of extent s that an output block of chunk n may
 * gather from input blocks of chunk o: the input blocks it can overlap,
 * whole. */
static int64_t span(int64_t o, int64_t n, int64_t s) {
  int64_t nb = (s + o - 1) / o;
  int64_t t = n % o == 0 ? n / o : (n + o - 2) / o + 1; /* ceil((n - 1) / o) + 1 */
  if (t > nb) t = nb;
  return t * o < s ? t * o : s;
}

/* Elements one task holds, at most, going from chunks o to chunks n. */
static int64_t gathered(int nd, const int64_t *o, const int64_t *n, const int64_t *s) {
  int64_t g = 1;
  for (int i = 0; i < nd; i++) g *= span(o[i], n[i], s[i]);
  return g;
}

static int64_t block_elems(int nd, const int64_t *c) {
  int64_t g = 1;
  for (int i = 0; i < nd; i++) g *= c[i];
  return g;
}

typedef struct plan {
  int nd;
  const int64_t *o, *n, *s;
  int64_t limit; /* elements a task of either pass may gather */
} plan;

static int fits(const plan *p, const int64_t *c) {
  return gathered(p->nd, p->o, c, p->s) <= p->limit && gathered(p->nd, c, p->n, p->s) <= p->limit;
}

/* Axis i of c as k units (the finer of the old and new chunks), at most the
 * coarser of the two. */
static int64_t axis_chunk(const plan *p, int i, int64_t k) {
  int64_t u = p->o[i] < p->n[i] ? p->o[i] : p->n[i], hi = p->o[i] > p->n[i] ? p->o[i] : p->n[i];
  return k > hi / u ? hi : k * u;
}

/* Grow axis i of c as far as the limit allows (c valid before and after). */
static void grow_axis(const plan *p, int64_t *c, int i) {
  int64_t u = p->o[i] < p->n[i] ? p->o[i] : p->n[i], hi = p->o[i] > p->n[i] ? p->o[i] : p->n[i];
  int64_t lo = c[i] / u, top = (hi + u - 1) / u, keep = c[i];
  while (lo < top) { /* the largest valid k: lo stays valid */
    int64_t mid = lo + (top - lo + 1) / 2;
    c[i] = axis_chunk(p, i, mid);
    if (fits(p, c)) lo = mid;
    else top = mid - 1;
  }
  c[i] = lo == keep / u ? keep : axis_chunk(p, i, lo);
}

/* The intermediate chunks c between o and n, or 0 when going directly is
 * as good: start from the finer chunk on every axis (each pass then holds
 * about one old or one new block) and merge on each axis in turn, doubling,
 * then as far as possible, while both passes stay under the limit. */
static int plan_rechunk(int nd, const int64_t *o, const int64_t *n, const int64_t *s, int64_t limit,
                        int64_t *c) {
  int64_t direct = gathered(nd, o, n, s);
  if (direct <= limit) return 0;
  /* Dask's rule: a limit below the old or new blocks themselves is raised
   * to them. */
  if (limit < block_elems(nd, o)) limit = block_elems(nd, o);
  if (limit < block_elems(nd, n)) limit = block_elems(nd, n);
  for (int i = 0; i < nd; i++) c[i] = o[i] < n[i] ? o[i] : n[i];
  plan p = {nd, o, n, s, limit};
  int64_t g1 = gathered(nd, o, c, s), g2 = gathered(nd, c, n, s);
  if (g1 > p.limit) p.limit = g1;
  if (g2 > p.limit) p.limit = g2;
  for (int changed = 1; changed;) {
    changed = 0;
    for (int i = 0; i < nd; i++) {
      int64_t keep = c[i], u = o[i] < n[i] ? o[i] : n[i];
      c[i] = axis_chunk(&p, i, 2 * (keep / u));
      if (c[i] != keep && fits(&p, c)) changed = 1;
      else c[i] = keep;
    }
  }
  for (int i = 0; i < nd; i++) grow_axis(&p, c, i);
  int same_o = 1, same_n = 1;
  for (int i = 0; i < nd; i++) {
    same_o &= c[i] == o[i];
    same_n &= c[i] == n[i];
  }
  g1 = gathered(nd, o, c, s);
  g2 = gathered(nd, c, n, s);
  /* Worth a second pass over the data only if it at least halves what a
   * task holds (a grid merely straddling the old one costs at most 2^ndim
   * blocks). */
  return !same_o && !same_n && 2 * (g1 > g2 ? g1 : g2) <= direct;
}

/* The intermediate chunks for rechunking a to chunk, if a plan is needed. */
static int plan_for(const cask_array *a, const int64_t *chunk, int64_t *mid) {
  for (int i = 0; i < a->ndim; i++)
    if (a->shape[i] == 0) return 0;
  int64_t limit = a->ctx->chunk_bytes / (int64_t)cask__itemsize(a);
  return plan_rechunk(a->ndim, a->chunk, chunk, a->shape, limit > 0 ? limit : 1, mid);
}

static const char *shape_str(char *buf, size_t cap, int ndim, const int64_t *v) {
  cask__shape_str(buf, cap, ndim, v);
  return buf;
}

int cask_rechunk(cask_array *a, const int64_t *chunks, cask_array **out) {
  if (!out) return CASK_EINVAL;
  *out = NULL;
  if (!a) return CASK_EINVAL;
  if (a->unknown) return cask__need_sizes(a, "rechunk");
  int64_t c[CASK_MAX_NDIM];
  for (int i = 0; i < a->ndim; i++) {
    if (chunks && chunks[i] < 0) {
      char s[CASK_MAX_NDIM * 22 + 4], t[CASK_MAX_NDIM * 22 + 4];
      return cask__fail(a->ctx, CASK_EINVAL, "rechunk: chunks %s for an array of shape %s: axis %d is negative",
                        shape_str(t, sizeof t, a->ndim, chunks), shape_str(s, sizeof s, a->ndim, a->shape), i);
    }
    c[i] = cask__norm_chunk(a->shape[i], chunks ? chunks[i] : 0);
  }
  /* A rechunk of a rechunk starts from the original grid. */
  while (a->kind == CASK__NODE_EXT && a->cls == &rechunk_class) a = a->in[0];
  if (!memcmp(c, a->chunk, sizeof c[0] * (size_t)a->ndim)) {
    *out = cask_array_retain(a);
    return CASK_OK;
  }
  int64_t mid[CASK_MAX_NDIM];
  if (cask__is_source(a) || !plan_for(a, c, mid)) return rechunk_node(a, c, out);
  cask_array *m;
  int rc = rechunk_node(a, mid, &m);
  if (rc) return rc;
  rc = rechunk_node(m, c, out);
  cask_array_release(m);
  return rc;
}
