/* boxcopy.c - the block ops of the structural operations: array.gather (a
 * block assembled from pieces of input blocks, see boxcopy.h), array.transpose
 * (one block with its axes permuted), array.reshape and array.alias (an input
 * block seen with another shape or under another key, without a copy), and
 * the strided copies they run. Every op is dtype-generic: elements are
 * moved as bytes of the dtype's size.
 * The one thing to know: a task's arguments may come from a graph file, so
 * each op checks every index against the blocks it actually received before
 * copying a byte. */
#include <stdio.h>

#include "boxcopy.h"

/* ---- strided copies ---------------------------------------------------- */

/* n elements of w bytes, src walking by sstride elements, dst contiguous.
 * The constant sizes let the compiler turn each memcpy into one move. */
static void copy_row(char *d, const char *s, int64_t n, int64_t sstride, size_t w) {
  if (sstride == 1) {
    memcpy(d, s, (size_t)n * w);
    return;
  }
  int64_t st = sstride * (int64_t)w;
  switch (w) {
  case 8:
    for (int64_t i = 0; i < n; i++) memcpy(d + i * 8, s + i * st, 8);
    break;
  case 4:
    for (int64_t i = 0; i < n; i++) memcpy(d + i * 4, s + i * st, 4);
    break;
  case 2:
    for (int64_t i = 0; i < n; i++) memcpy(d + i * 2, s + i * st, 2);
    break;
  case 1:
    for (int64_t i = 0; i < n; i++) d[i] = s[i * st];
    break;
  default:
    for (int64_t i = 0; i < n; i++) memcpy(d + i * (int64_t)w, s + i * st, w);
  }
}

/* Move idx on to the next row of a box walked over its first n axes
 * (extents ext), and the element offsets d and s with it (strides dstr,
 * sstr); 0 when idx was the last row. */
static inline int next_row(int n, int64_t *idx, const int64_t *ext, const int64_t *dstr,
                           const int64_t *sstr, int64_t *d, int64_t *s) {
  int k = cask__index_next(n, idx, ext); /* the axes after k went back to 0 */
  if (k < 0) return 0;
  *d += dstr[k];
  *s += sstr[k];
  for (int i = k + 1; i < n; i++) {
    *d -= dstr[i] * (ext[i] - 1);
    *s -= sstr[i] * (ext[i] - 1);
  }
  return 1;
}

void cask__box_copy(char *dst, const int64_t *dshape, const int64_t *dstart, const char *src,
                    const int64_t *sshape, const int64_t *sstart, const int64_t *sstep,
                    const int64_t *count, int ndim, size_t w) {
  int64_t dstr[CASK_MAX_NDIM], sstr[CASK_MAX_NDIM], d = 0, s = 0, ds = 1, ss = 1;
  for (int i = ndim - 1; i >= 0; i--) {
    if (count[i] == 0) return;
    dstr[i] = ds;
    sstr[i] = ss * sstep[i];
    d += dstart[i] * ds;
    s += sstart[i] * ss;
    ds *= dshape[i];
    ss *= sshape[i];
  }
  if (ndim == 0) {
    memcpy(dst, src, w);
    return;
  }
  /* Trailing axes copied whole on both sides are one long row. */
  int inner = ndim - 1;
  int64_t row = count[inner], rs = sstr[inner];
  while (inner > 0 && sstep[inner] == 1 && sstep[inner - 1] == 1 && count[inner] == dshape[inner] &&
         count[inner] == sshape[inner]) {
    inner--;
    row *= count[inner];
    rs = 1;
  }
  int64_t idx[CASK_MAX_NDIM] = {0};
  for (;;) {
    copy_row(dst + d * (int64_t)w, src + s * (int64_t)w, row, rs, w);
    if (!next_row(inner, idx, count, dstr, sstr, &d, &s)) return;
  }
}

/* d[r * drs + c] = s[r + c * scs] for r < nr, c < nc, in 32 x 32 tiles so
 * both the rows written and the columns read stay in cache. */
#define TILE 32
static void tile2d(char *d, const char *s, int64_t nr, int64_t nc, int64_t drs, int64_t scs,
                   size_t w) {
  int64_t W = (int64_t)w;
  for (int64_t r0 = 0; r0 < nr; r0 += TILE) {
    int64_t r1 = r0 + TILE < nr ? r0 + TILE : nr;
    for (int64_t c0 = 0; c0 < nc; c0 += TILE) {
      int64_t c1 = c0 + TILE < nc ? c0 + TILE : nc;
      for (int64_t r = r0; r < r1; r++) {
        char *dr = d + r * drs * W;
        const char *sr = s + r * W;
        switch (w) {
        case 8:
          for (int64_t c = c0; c < c1; c++) memcpy(dr + c * 8, sr + c * scs * 8, 8);
          break;
        case 4:
          for (int64_t c = c0; c < c1; c++) memcpy(dr + c * 4, sr + c * scs * 4, 4);
          break;
        case 1:
          for (int64_t c = c0; c < c1; c++) dr[c] = sr[c * scs];
          break;
        default:
          for (int64_t c = c0; c < c1; c++) memcpy(dr + c * W, sr + c * scs * W, w);
        }
      }
    }
  }
}

void cask__transpose_copy(char *dst, const char *src, int ndim, const int64_t *sshape,
                          const int *perm, size_t w) {
  int64_t sin[CASK_MAX_NDIM], dall[CASK_MAX_NDIM], n = 1;
  for (int i = ndim - 1; i >= 0; i--) {
    sin[i] = n;
    n *= sshape[i];
  }
  if (n == 0) return;
  int64_t ds = 1;
  for (int i = ndim - 1; i >= 0; i--) {
    dall[i] = ds;
    ds *= sshape[perm[i]];
  }
  /* Axes of extent 1 do not move anything: keep the others. The last kept
   * output axis has destination stride 1. */
  int k = 0, a = -1;
  int64_t ext[CASK_MAX_NDIM], dstr[CASK_MAX_NDIM], sstr[CASK_MAX_NDIM];
  for (int i = 0; i < ndim; i++) {
    if (sshape[perm[i]] == 1) continue;
    ext[k] = sshape[perm[i]];
    dstr[k] = dall[i];
    sstr[k] = sin[perm[i]];
    if (sstr[k] == 1) a = k;
    k++;
  }
  if (k == 0) {
    memcpy(dst, src, w);
    return;
  }
  /* The outer axes (all but the source-contiguous axis a and the last),
   * walked with an odometer; each step copies a 2-d tile or a row. */
  int64_t idx[CASK_MAX_NDIM] = {0}, walk[CASK_MAX_NDIM], d = 0, s = 0;
  int last = k - 1;
  for (int i = 0; i < last; i++) walk[i] = i == a ? 1 : ext[i];
  for (;;) {
    if (a == last || a < 0)
      copy_row(dst + d * (int64_t)w, src + s * (int64_t)w, ext[last], sstr[last], w);
    else
      tile2d(dst + d * (int64_t)w, src + s * (int64_t)w, ext[a], ext[last], dstr[a], sstr[last], w);
    if (!next_row(last, idx, walk, dstr, sstr, &d, &s)) return;
  }
}

/* ---- pieces ------------------------------------------------------------ */

int64_t cask__axis_pieces(int64_t first, int64_t step, int64_t ext, int64_t chunk, int32_t input,
                          cask__axis_piece *out, int64_t max) {
  int64_t n = 0;
  for (int64_t k = 0; k < ext;) {
    int64_t idx = first + k * step, blk = idx / chunk, run;
    if (step > 0) run = ((blk + 1) * chunk - 1 - idx) / step + 1;
    else run = (idx - blk * chunk) / -step + 1;
    if (run > ext - k) run = ext - k;
    if (out && n < max) out[n] = (cask__axis_piece){blk, idx - blk * chunk, run, input};
    n++;
    k += run;
  }
  return n;
}

/* ---- array.gather ------------------------------------------------------ */

typedef struct gather_head {
  int32_t dtype, ndim;
  uint32_t drop, pad;
  int64_t ext[CASK_MAX_NDIM], step[CASK_MAX_NDIM], npieces[CASK_MAX_NDIM];
} gather_head; /* then (src, n) per piece, axis 0's first */

/* The head's fields, and that the arguments hold exactly its pieces. */
static int gather_check_head(const cask_task_io *io, const gather_head *h, int64_t *npc) {
  if (io->args_len < sizeof *h || h->ndim < 0 || h->ndim > CASK_MAX_NDIM ||
      (unsigned)h->dtype >= CASK_DTYPE_COUNT || (h->drop >> h->ndim))
    return CASK_EINVAL;
  *npc = 0;
  for (int i = 0; i < h->ndim; i++) {
    if (h->npieces[i] < 0 || h->npieces[i] > (int64_t)(io->args_len / 16) || h->ext[i] < 0 ||
        h->step[i] == 0 || h->step[i] == INT64_MIN || ((h->drop >> i & 1) && h->ext[i] != 1))
      return CASK_EINVAL;
    *npc += h->npieces[i];
  }
  return io->args_len == sizeof *h + (size_t)*npc * 16 ? CASK_OK : CASK_EINVAL;
}

/* The pieces of each axis tile its extent, and there is one input per
 * combination of pieces. */
static int gather_check_pieces(const cask_task_io *io, const gather_head *h, const int64_t (*pc)[2],
                               int64_t *total) {
  int64_t prod = 1;
  for (int i = 0, p = 0; i < h->ndim; i++) {
    int64_t sum = 0;
    for (int64_t j = 0; j < h->npieces[i]; j++, p++) {
      if (pc[p][1] < 1 || pc[p][1] > h->ext[i] - sum) return CASK_EINVAL;
      sum += pc[p][1];
    }
    if (sum != h->ext[i] || __builtin_mul_overflow(prod, h->npieces[i], &prod)) return CASK_EINVAL;
  }
  *total = prod;
  return prod == (int64_t)io->ninputs ? CASK_OK : CASK_EINVAL;
}

/* Whether src, src + step, ..., src + (n-1) * step all lie in [0, len). */
static int run_in_range(int64_t src, int64_t n, int64_t step, int64_t len) {
  int64_t span, last;
  if (src < 0 || src >= len) return 0;
  if (__builtin_mul_overflow(n - 1, step, &span) || __builtin_add_overflow(src, span, &last))
    return 0;
  return last >= 0 && last < len;
}

/* Copy every input's pieces into the output block. */
static int gather_copy(cask_task_io *io, const gather_head *h, const int64_t (*pc)[2], int64_t total) {
  size_t w = cask_dtype_size(h->dtype);
  int64_t first[CASK_MAX_NDIM], p[CASK_MAX_NDIM] = {0}, dpos[CASK_MAX_NDIM] = {0};
  for (int i = 0, off = 0; i < h->ndim; off += (int)h->npieces[i], i++) first[i] = off;
  for (int64_t j = 0; j < total; j++) {
    const cask_block *b = io->inputs[j];
    if (!b || cask_block_dtype(b) != (cask_dtype)h->dtype || cask_block_ndim(b) != h->ndim) {
      cask__fmt(io->errmsg, io->errmsg_cap, "input %lld is not a %s block of %d axes", (long long)j,
                cask_dtype_name(h->dtype), h->ndim);
      return CASK_EINVAL;
    }
    const int64_t *bs = cask_block_shape(b);
    int64_t src[CASK_MAX_NDIM], cnt[CASK_MAX_NDIM];
    for (int i = 0; i < h->ndim; i++) {
      src[i] = pc[first[i] + p[i]][0];
      cnt[i] = pc[first[i] + p[i]][1];
      if (!run_in_range(src[i], cnt[i], h->step[i], bs[i])) {
        cask__fmt(io->errmsg, io->errmsg_cap,
                  "input %lld: %lld elements from %lld by %lld leave axis %d of extent %lld",
                  (long long)j, (long long)cnt[i], (long long)src[i], (long long)h->step[i], i,
                  (long long)bs[i]);
        return CASK_EINVAL;
      }
    }
    cask__box_copy(cask_block_data(io->output), h->ext, dpos, cask_block_data(b), bs, src, h->step,
                   cnt, h->ndim, w);
    /* the next combination, C order: it lands after this one's pieces */
    int k = cask__index_next(h->ndim, p, h->npieces);
    if (k >= 0) dpos[k] += cnt[k];
    for (int i = k + 1; i < h->ndim; i++) dpos[i] = 0;
  }
  return CASK_OK;
}

static int gather_run(cask_task_io *io) {
  gather_head h;
  int64_t npc, total;
  int64_t(*pc)[2] = NULL;
  memset(&h, 0, sizeof h);
  if (io->args_len >= sizeof h) memcpy(&h, io->args, sizeof h);
  int rc = gather_check_head(io, &h, &npc);
  /* A copy: the pieces are read as int64 whatever the blob's alignment. */
  if (!rc && !(pc = cask__malloc((size_t)npc * 16 + 16))) return CASK_ENOMEM;
  if (!rc) {
    memcpy(pc, (const char *)io->args + sizeof h, (size_t)npc * 16);
    rc = gather_check_pieces(io, &h, (const int64_t(*)[2])pc, &total);
  }
  if (rc) {
    cask__fmt(io->errmsg, io->errmsg_cap, "malformed gather arguments for %zu inputs", io->ninputs);
    cask__free(pc);
    return CASK_EINVAL;
  }
  int64_t oshape[CASK_MAX_NDIM];
  int ond = 0;
  for (int i = 0; i < h.ndim; i++)
    if (!(h.drop >> i & 1)) oshape[ond++] = h.ext[i];
  if (!(rc = cask_block_new(h.dtype, ond, oshape, &io->output)))
    rc = gather_copy(io, &h, (const int64_t(*)[2])pc, total);
  cask__free(pc);
  return rc;
}

static const cask_op *op_gather, *op_transpose, *op_reshape, *op_alias;

/* The input blocks of every combination of pieces, in C order. */
static int lower_pieces(cask__lower *L, int ndim, const int64_t *npieces, const cask__axis_piece *pieces,
                        cask_array *const *inputs, int64_t total, cask_task_id *deps) {
  int64_t p[CASK_MAX_NDIM] = {0}, first[CASK_MAX_NDIM];
  for (int i = 0, off = 0; i < ndim; off += (int)npieces[i], i++) first[i] = off;
  for (int64_t j = 0; j < total; j++) {
    int64_t bidx[CASK_MAX_NDIM];
    int input = 0;
    for (int i = 0; i < ndim; i++) {
      bidx[i] = pieces[first[i] + p[i]].block;
      input += pieces[first[i] + p[i]].input;
    }
    int rc = cask__lower_block(L, inputs[input], bidx, &deps[j]);
    if (rc) return rc;
    cask__index_next(ndim, p, npieces);
  }
  return CASK_OK;
}

int cask__lower_gather(cask__lower *L, const char *key, cask_dtype dtype, int ndim,
                       const int64_t *ext, const int64_t *step, uint32_t drop,
                       const int64_t *npieces, const cask__axis_piece *pieces,
                       cask_array *const *inputs, cask_task_id *out) {
  gather_head h;
  memset(&h, 0, sizeof h);
  h.dtype = dtype;
  h.ndim = ndim;
  h.drop = drop;
  int64_t npc = 0, total = 1, elems = 1;
  for (int i = 0; i < ndim; i++) {
    h.ext[i] = ext[i];
    h.step[i] = step[i];
    h.npieces[i] = npieces[i];
    npc += npieces[i];
    elems *= ext[i];
    if (total && npieces[i] > (int64_t)(UINT32_MAX / 4) / total)
      return cask__fail(L->ctx, CASK_ETOOBIG, "%s: a block would gather from more than 2^30 input blocks", key);
    total *= npieces[i];
  }
  size_t len = sizeof h + (size_t)npc * 16;
  char *args = cask__malloc(len);
  cask_task_id *deps = cask__malloc((size_t)(total ? total : 1) * sizeof *deps);
  int rc = CASK_OK;
  if (!args || !deps) {
    rc = cask__fail(L->ctx, CASK_ENOMEM, "out of memory lowering %s", key);
    goto fail_free;
  }
  memcpy(args, &h, sizeof h);
  for (int64_t j = 0; j < npc; j++) {
    int64_t pr[2] = {pieces[j].src, pieces[j].n};
    memcpy(args + sizeof h + (size_t)j * 16, pr, 16);
  }
  if (total && (rc = lower_pieces(L, ndim, npieces, pieces, inputs, total, deps))) goto fail_free;
  rc = cask__graph_add(L->g, key, op_gather, args, len, deps, (size_t)total, out);
  if (!rc) cask_graph_set_size(L->g, *out, elems * (int64_t)cask_dtype_size(dtype));
fail_free:
  cask__free(args);
  cask__free(deps);
  return rc;
}

/* ---- array.transpose --------------------------------------------------- */

typedef struct transpose_args {
  int32_t ndim;
  int32_t perm[CASK_MAX_NDIM];
} transpose_args;

static int transpose_run(cask_task_io *io) {
  transpose_args a;
  if (io->args_len != sizeof a || io->ninputs != 1 || !io->inputs[0]) return CASK_EINVAL;
  memcpy(&a, io->args, sizeof a);
  const cask_block *b = io->inputs[0];
  uint32_t seen = 0;
  int perm[CASK_MAX_NDIM];
  int bad = a.ndim != cask_block_ndim(b);
  for (int i = 0; i < a.ndim && !bad; i++) {
    bad = a.perm[i] < 0 || a.perm[i] >= a.ndim || (seen >> a.perm[i] & 1);
    seen |= 1u << (a.perm[i] & 31);
    perm[i] = a.perm[i];
  }
  if (bad) {
    cask__fmt(io->errmsg, io->errmsg_cap, "the permutation does not fit a block of %d axes", cask_block_ndim(b));
    return CASK_EINVAL;
  }
  const int64_t *bs = cask_block_shape(b);
  int64_t shape[CASK_MAX_NDIM];
  for (int i = 0; i < a.ndim; i++) shape[i] = bs[perm[i]];
  int rc = cask_block_new(cask_block_dtype(b), a.ndim, shape, &io->output);
  if (rc) return rc;
  cask__transpose_copy(cask_block_data(io->output), cask_block_data(b), a.ndim, bs, perm,
                       cask_dtype_size(cask_block_dtype(b)));
  return CASK_OK;
}

int cask__lower_transpose_block(cask__lower *L, const char *key, cask_array *a,
                                const int64_t *bidx, const int *perm, cask_task_id *out) {
  cask_task_id dep;
  int rc = cask__lower_block(L, a, bidx, &dep);
  if (rc) return rc;
  transpose_args t;
  memset(&t, 0, sizeof t);
  t.ndim = a->ndim;
  for (int i = 0; i < a->ndim; i++) t.perm[i] = perm[i];
  rc = cask__graph_add(L->g, key, op_transpose, &t, sizeof t, &dep, 1, out);
  if (!rc) cask_graph_set_size(L->g, *out, cask_graph_size_estimate(L->g, dep));
  return rc;
}

/* ---- array.reshape and array.alias: views ------------------------------ */

typedef struct reshape_args {
  int32_t ndim, pad;
  int64_t shape[CASK_MAX_NDIM];
} reshape_args;

static void release_held(void *user, void *data) { cask_block_release(user); }

static int reshape_run(cask_task_io *io) {
  reshape_args a;
  if (io->args_len != sizeof a || io->ninputs != 1 || !io->inputs[0]) return CASK_EINVAL;
  memcpy(&a, io->args, sizeof a);
  cask_block *b = io->inputs[0];
  int64_t n = 1;
  int bad = a.ndim < 0 || a.ndim > CASK_MAX_NDIM, unknown = -1;
  for (int i = 0; i < a.ndim && !bad; i++) {
    if (a.shape[i] == CASK_UNKNOWN && unknown < 0) { /* an axis of unknown length: the block's */
      unknown = i;
      continue;
    }
    bad = a.shape[i] < 0 || (a.shape[i] && n > INT64_MAX / a.shape[i]);
    n *= a.shape[i];
  }
  if (!bad && unknown >= 0) {
    a.shape[unknown] = n ? cask_block_size(b) / n : 0;
    n *= a.shape[unknown];
  }
  if (bad || n != cask_block_size(b)) {
    cask__fmt(io->errmsg, io->errmsg_cap, "a block of %lld elements cannot take the new shape",
              (long long)cask_block_size(b));
    return CASK_EINVAL;
  }
  /* The view holds the input block: it lives as long as the view does. */
  int rc = cask_block_wrap(cask_block_data(b), cask_block_dtype(b), a.ndim, a.shape, release_held,
                           cask_block_retain(b), &io->output);
  if (rc) cask_block_release(b);
  return rc;
}

int cask__lower_reshape_block(cask__lower *L, const char *key, cask_task_id dep, int ndim,
                              const int64_t *shape, cask_task_id *out) {
  reshape_args a;
  memset(&a, 0, sizeof a);
  a.ndim = ndim;
  for (int i = 0; i < ndim; i++) a.shape[i] = shape[i];
  return cask__graph_add(L->g, key, op_reshape, &a, sizeof a, &dep, 1, out);
}

static int alias_run(cask_task_io *io) {
  if (io->ninputs != 1 || !io->inputs[0]) return CASK_EINVAL;
  io->output = cask_block_retain(io->inputs[0]);
  return CASK_OK;
}

int cask__lower_alias(cask__lower *L, const char *key, cask_task_id dep, cask_task_id *out) {
  return cask__graph_add(L->g, key, op_alias, NULL, 0, &dep, 1, out);
}

/* ---- the pushdown memo ------------------------------------------------- */

#define MEMO_PARAMS (CASK_MAX_NDIM * 32)

struct cask__memo_entry {
  const cask_array *node; /* NULL: a free slot */
  cask_array *result;
  uint64_t h;
  size_t len;
  unsigned char params[MEMO_PARAMS];
};

static uint64_t memo_hash(const cask_array *node, const void *params, size_t len) {
  return cask__hash(params, len, cask__mix64((uint64_t)(uintptr_t)node));
}

cask_array *cask__memo_get(const cask__memo *m, const cask_array *node, const void *params,
                           size_t len) {
  if (!m->cap) return NULL;
  uint64_t h = memo_hash(node, params, len);
  for (size_t i = h & (m->cap - 1);; i = (i + 1) & (m->cap - 1)) {
    const struct cask__memo_entry *e = &m->e[i];
    if (!e->node) return NULL;
    if (e->h == h && e->node == node && e->len == len && !memcmp(e->params, params, len))
      return e->result;
  }
}

static void memo_insert(struct cask__memo_entry *tab, size_t cap, const struct cask__memo_entry *x) {
  size_t i = x->h & (cap - 1);
  while (tab[i].node) i = (i + 1) & (cap - 1);
  tab[i] = *x;
}

int cask__memo_put(cask__memo *m, const cask_array *node, const void *params, size_t len,
                   cask_array *result) {
  if (len > MEMO_PARAMS) return CASK_EINVAL;
  if (2 * (m->n + 1) > m->cap) { /* at most half full: probes stay short */
    size_t cap = m->cap ? 2 * m->cap : 16;
    struct cask__memo_entry *t = cask__calloc(cap, sizeof *t);
    if (!t) return CASK_ENOMEM;
    for (size_t i = 0; i < m->cap; i++)
      if (m->e[i].node) memo_insert(t, cap, &m->e[i]);
    cask__free(m->e);
    m->e = t;
    m->cap = cap;
  }
  struct cask__memo_entry x;
  x.node = node;
  x.result = cask_array_retain(result);
  x.h = memo_hash(node, params, len);
  x.len = len;
  memcpy(x.params, params, len);
  memo_insert(m->e, m->cap, &x);
  m->n++;
  return CASK_OK;
}

void cask__memo_free(cask__memo *m) {
  for (size_t i = 0; i < m->cap; i++)
    if (m->e[i].node) cask_array_release(m->e[i].result);
  cask__free(m->e);
  m->e = NULL;
  m->cap = m->n = 0;
}

void cask__register_structure_ops(void) {
  cask_op_register(&(cask_op){.name = "array.gather", .run = gather_run, .flags = CASK_OP_PURE}, &op_gather);
  cask_op_register(&(cask_op){.name = "array.transpose", .run = transpose_run, .flags = CASK_OP_PURE}, &op_transpose);
  cask_op_register(&(cask_op){.name = "array.reshape", .run = reshape_run, .flags = CASK_OP_PURE}, &op_reshape);
  cask_op_register(&(cask_op){.name = "array.alias", .run = alias_run}, &op_alias);
}
