/* zarr3.c - Zarr v3 directory stores: the reader (cask_read_zarr comes
 * here when a store holds zarr.json: block tasks read the chunk files, or
 * the inner chunks of shard files, their block overlaps) and the writer
 * (cask_to_zarr with zarr_format 3: one task per chunk, or per shard taking
 * the shard's blocks as inputs, so a shard file is written whole once).
 * The one thing to know: as in zarr.c, task arguments are plain bytes
 * checked on arrival; a shard's index is read first (its end or start),
 * checked (crc32c, bounds, overlaps: zarr3-codec.c), and only the inner
 * chunks the block needs are read. A missing chunk file, shard file or
 * index entry (2^64-1) reads as fill_value. */
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "io.h"
#include "../core/dtype.h"
#include "../ops/boxcopy.h"
#include "zarr.h"
#include "zarr3.h"

#define Z3_MAX_PATH 4096
#define Z3_MAX_META (1 << 20)
#define Z3_MAX_BYTES ((int64_t)1 << 40)
#define Z3_MAX_INNER ((int64_t)1 << 24)

static int64_t prod(int nd, const int64_t *v) {
  int64_t n = 1;
  for (int i = 0; i < nd; i++) n *= v[i];
  return n;
}

/* Extents: each positive, their product of w-byte elements within max. */
static int extents_ok(int nd, const int64_t *v, int64_t w, int64_t max) {
  for (int i = 0; i < nd; i++)
    if (v[i] < 1 || __builtin_mul_overflow(w, v[i], &w) || w > max) return 0;
  return 1;
}

/* ======================================================================
 * Reading: the "array.zarr3_read" op
 * ====================================================================== */

typedef struct read3_args {
  int32_t dtype, ndim, sep, v2_keys, sharded, index_crc, index_big_endian, index_at_start;
  int64_t shape[CASK_MAX_NDIM], grid[CASK_MAX_NDIM], inner[CASK_MAX_NDIM]; /* grid: chunks or shards */
  int64_t off[CASK_MAX_NDIM], ext[CASK_MAX_NDIM];                          /* the block's box */
  cask__zarr3_chain chain;                                                 /* of a chunk (inner when sharded) */
  unsigned char fill[8];                                                   /* little-endian */
  uint32_t path_len, pad;
} read3_args;

_Static_assert(offsetof(read3_args, path_len) == sizeof(read3_args) - 8, "path_len: cask__zarr_take_args");
static int check_read_args(const void *args, size_t len) {
  const read3_args *a = args;
  if (len < sizeof *a || len - sizeof *a != a->path_len || a->path_len == 0 || a->path_len >= Z3_MAX_PATH ||
      (unsigned)a->dtype >= CASK_DTYPE_COUNT || a->ndim < 0 || a->ndim > CASK_MAX_NDIM ||
      (a->sep != '.' && a->sep != '/') || (unsigned)a->v2_keys > 1 || (unsigned)a->sharded > 1 ||
      (unsigned)a->index_crc > 1 || (unsigned)a->index_big_endian > 1 || (unsigned)a->index_at_start > 1 ||
      cask__zarr3_chain_check(&a->chain, a->ndim))
    return CASK_EINVAL;
  int64_t w = (int64_t)cask_dtype_size((cask_dtype)a->dtype), cps[CASK_MAX_NDIM];
  for (int i = 0; i < a->ndim; i++) {
    if (a->shape[i] < 0 || a->off[i] < 0 || a->ext[i] < 0 || a->off[i] > a->shape[i] ||
        a->ext[i] > a->shape[i] - a->off[i] || a->inner[i] < 1 || a->grid[i] < 1 || a->grid[i] % a->inner[i] ||
        (!a->sharded && a->grid[i] != a->inner[i]))
      return CASK_EINVAL;
    cps[i] = a->grid[i] / a->inner[i];
  }
  if (!extents_ok(a->ndim, a->grid, w, Z3_MAX_BYTES) || !extents_ok(a->ndim, cps, 1, Z3_MAX_INNER)) return CASK_EINVAL;
  return CASK_OK;
}

typedef struct reader {
  const read3_args *a;
  const char *store;
  size_t w, want; /* bytes of an element and of a (inner) chunk */
  char *dst;      /* the block */
  char *tmp;      /* a chunk's bytes when it is not the block */
  char *err;
  size_t cap;
} reader;

/* The (inner) chunk at element origin org: its bytes (chunk, decoded in
 * tmp or straight in the block when it is the block) copied into the box. */
static int is_block(const reader *r, const int64_t *org) {
  for (int i = 0; i < r->a->ndim; i++)
    if (org[i] != r->a->off[i] || r->a->inner[i] != r->a->ext[i]) return 0;
  return 1;
}

static void put(const reader *r, const int64_t *org) {
  const read3_args *a = r->a;
  int64_t ds[CASK_MAX_NDIM], ss[CASK_MAX_NDIM], step[CASK_MAX_NDIM], n[CASK_MAX_NDIM];
  for (int i = 0; i < a->ndim; i++) {
    int64_t s = org[i] > a->off[i] ? org[i] : a->off[i];
    int64_t e = org[i] + a->inner[i] < a->off[i] + a->ext[i] ? org[i] + a->inner[i] : a->off[i] + a->ext[i];
    ds[i] = s - a->off[i], ss[i] = s - org[i], step[i] = 1, n[i] = e - s;
  }
  cask__box_copy(r->dst, a->ext, ds, r->tmp, a->inner, ss, step, n, a->ndim, r->w);
}

/* enc NULL: the chunk is missing (fill value). where: for messages. */
static int one_chunk(const reader *r, const int64_t *org, const void *enc, size_t n, const char *where) {
  int direct = is_block(r, org);
  char *to = direct ? r->dst : r->tmp, why[512];
  if (!enc) {
    cask__zarr_fill_pattern(to, r->a->fill, r->w, (int64_t)(r->want / r->w));
  } else {
    int rc = cask__zarr3_decode(&r->a->chain, r->w, r->a->ndim, r->a->inner, enc, n, to, why, sizeof why);
    if (rc) {
      cask__fmt(r->err, r->cap, "%s: %s", where, why);
      return rc;
    }
  }
  if (!direct) put(r, org);
  return CASK_OK;
}

/* The range [lo, hi) of (inner) chunk indices of axis i the box overlaps
 * within [from, to) elements. */
static void overlap(const read3_args *a, int i, int64_t from, int64_t to, int64_t *lo, int64_t *n) {
  int64_t s = a->off[i] > from ? a->off[i] : from, e = a->off[i] + a->ext[i] < to ? a->off[i] + a->ext[i] : to;
  *lo = s / a->inner[i];
  *n = (e - 1) / a->inner[i] - *lo + 1;
}

/* Every inner chunk of the shard at grid index g the box overlaps, from
 * the shard file p (already open as fd, size bytes; fd < 0: missing). */
static int read_shard(const reader *r, const int64_t *g, int fd, uint64_t size, const char *p) {
  const read3_args *a = r->a;
  int nd = a->ndim;
  int64_t cps[CASK_MAX_NDIM], lo[CASK_MAX_NDIM], nch[CASK_MAX_NDIM], at[CASK_MAX_NDIM] = {0}, org[CASK_MAX_NDIM];
  for (int i = 0; i < nd; i++) {
    cps[i] = a->grid[i] / a->inner[i];
    overlap(a, i, g[i] * a->grid[i], g[i] * a->grid[i] + a->grid[i], &lo[i], &nch[i]);
  }
  int64_t n = prod(nd, cps);
  size_t ib = cask__zarr3_index_bytes(n, a->index_crc);
  uint64_t *idx = NULL;
  unsigned char *raw = NULL;
  char why[600];
  int rc = CASK_OK;
  if (fd >= 0) {
    if (!(idx = cask__malloc((size_t)n * 16)) || !(raw = cask__malloc(ib))) {
      cask__fmt(r->err, r->cap, "%s: out of memory for the shard index of %lld chunks", p, (long long)n);
      rc = CASK_ENOMEM;
    } else if (size < ib) {
      cask__fmt(r->err, r->cap, "%s: %llu bytes, fewer than its index's %zu", p, (unsigned long long)size, ib);
      rc = CASK_EFORMAT;
    } else if (cask__pread_full(fd, raw, ib, a->index_at_start ? 0 : (int64_t)(size - ib)) != (int64_t)ib) {
      cask__fmt(r->err, r->cap, "%s: reading the shard index: %s", p, strerror(errno));
      rc = CASK_EIO;
    } else if ((rc = cask__zarr3_parse_index(raw, ib, n, a->index_crc, a->index_big_endian, size, a->index_at_start,
                                             idx, why, sizeof why))) {
      cask__fmt(r->err, r->cap, "%s: %s", p, why);
    }
  }
  cask__free(raw);
  char *enc = NULL;
  int64_t max = cask__zarr_max_encoded(r->want) + 16;
  while (!rc) {
    int64_t j = 0; /* the inner chunk's place in the shard, C order */
    for (int i = 0; i < nd; i++) {
      int64_t c = lo[i] + at[i];
      org[i] = c * a->inner[i];
      j = j * cps[i] + (c - g[i] * cps[i]);
    }
    uint64_t off = idx ? idx[2 * j] : CASK__Z3_MISSING, nb = idx ? idx[2 * j + 1] : CASK__Z3_MISSING;
    char where[Z3_MAX_PATH + 640];
    cask__fmt(where, sizeof where, "%s (inner chunk %lld)", p, (long long)j);
    if (off == CASK__Z3_MISSING) {
      rc = one_chunk(r, org, NULL, 0, where);
    } else if ((int64_t)nb > max) {
      cask__fmt(r->err, r->cap, "%s: %llu bytes, too many for a chunk of %zu", where, (unsigned long long)nb, r->want);
      rc = CASK_EFORMAT;
    } else if (!(enc = cask__malloc_big(nb + 1))) {
      cask__fmt(r->err, r->cap, "%s: out of memory", where);
      rc = CASK_ENOMEM;
    } else if (cask__pread_full(fd, enc, nb, (int64_t)off) != (int64_t)nb) {
      cask__fmt(r->err, r->cap, "%s: reading: %s", where, strerror(errno));
      rc = CASK_EIO;
    } else {
      rc = one_chunk(r, org, enc, nb, where);
    }
    cask__free(enc);
    enc = NULL;
    if (cask__index_next(nd, at, nch) < 0) break;
  }
  cask__free(idx);
  return rc;
}

/* The chunk or shard file at grid index g: a chunk decoded whole; a shard
 * through its index. */
static int read_grid_cell(const reader *r, const int64_t *g) {
  const read3_args *a = r->a;
  char key[512], p[Z3_MAX_PATH + 520];
  cask__zarr_chunk_key(key, sizeof key, a->v2_keys ? NULL : "c", a->ndim, g, (char)a->sep);
  cask__fmt(p, sizeof p, "%s/%s", r->store, key);
  int64_t org[CASK_MAX_NDIM];
  for (int i = 0; i < a->ndim; i++) org[i] = g[i] * a->grid[i];
  if (!a->sharded) {
    char *buf = NULL;
    size_t n = 0;
    int rc = cask__zarr_read_file(p, cask__zarr_max_encoded(r->want) + 16, &buf, &n, r->err, r->cap);
    if (rc == CASK_ENOTFOUND) return one_chunk(r, org, NULL, 0, p);
    if (!rc) rc = one_chunk(r, org, buf, n, p);
    cask__free(buf);
    return rc;
  }
  int fd = open(p, O_RDONLY | O_CLOEXEC);
  if (fd < 0 && errno != ENOENT && errno != ENOTDIR) {
    cask__fmt(r->err, r->cap, "%s: cannot open: %s", p, strerror(errno));
    return CASK_EIO;
  }
  struct stat st = {0};
  if (fd >= 0 && (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode))) {
    close(fd);
    cask__fmt(r->err, r->cap, "%s: not a regular file", p);
    return CASK_EIO;
  }
  int rc = read_shard(r, g, fd, (uint64_t)st.st_size, p);
  if (fd >= 0) close(fd);
  return rc;
}

static int read_run(cask_task_io *io) {
  read3_args a;
  char store[Z3_MAX_PATH];
  if (cask__zarr_take_args(io, &a, sizeof a, check_read_args, "zarr3_read", store)) return CASK_EINVAL;
  int rc = cask_block_new((cask_dtype)a.dtype, a.ndim, a.ext, &io->output);
  int64_t n = rc ? 0 : cask_block_size(io->output);
  if (rc || n == 0) return rc;
  size_t w = cask_dtype_size((cask_dtype)a.dtype), want = (size_t)prod(a.ndim, a.inner) * w;
  reader r = {&a, store, w, want, cask_block_data(io->output), cask__malloc_big(want + 1), io->errmsg, io->errmsg_cap};
  if (!r.tmp) {
    cask__fmt(io->errmsg, io->errmsg_cap, "%s: out of memory for a chunk of %zu bytes", store, want);
    return CASK_ENOMEM;
  }
  int64_t lo[CASK_MAX_NDIM], nch[CASK_MAX_NDIM], at[CASK_MAX_NDIM] = {0}, g[CASK_MAX_NDIM];
  for (int i = 0; i < a.ndim; i++) {
    lo[i] = a.off[i] / a.grid[i];
    nch[i] = (a.off[i] + a.ext[i] - 1) / a.grid[i] - lo[i] + 1;
  }
  for (;;) {
    for (int i = 0; i < a.ndim; i++) g[i] = lo[i] + at[i];
    if ((rc = read_grid_cell(&r, g)) || cask__index_next(a.ndim, at, nch) < 0) break;
  }
  cask__free(r.tmp);
  if (rc) return rc;
  if (cask__host_big_endian()) cask__byteswap(r.dst, w, n);
  if (a.dtype == CASK_BOOL) /* a bool byte that is not 0 or 1 reads as True */
    for (int64_t i = 0; i < n; i++) r.dst[i] = r.dst[i] != 0;
  return CASK_OK;
}

/* ---- the node ------------------------------------------------------------ */

static const cask_op *op_read, *op_write;
static const cask__reader_class zarr3_class = CASK__READER_CLASS("zarr3", read3_args, &op_read);

/* A shard as one block when it is at most this large, else its inner
 * chunks: one task then reads a shard file once. */
#define Z3_SHARD_BLOCK_BYTES ((int64_t)64 << 20)

int cask__zarr3_open(cask_ctx *ctx, const char *path, const char *abs, const int64_t *chunks, cask_array **out) {
  char err[768], *text = NULL;
  size_t n = 0;
  struct stat st;
  int rc = cask__zarr_slurp(abs, "zarr.json", Z3_MAX_META, &text, &n, &st, err, sizeof err);
  if (rc) return cask__fail(ctx, rc, "read_zarr %s: %s", path, err);
  cask__zarr3_meta m;
  rc = cask__zarr3_parse_meta(text, n, &m, err, sizeof err);
  cask__free(text);
  if (rc) return cask__fail(ctx, rc, "read_zarr %s/zarr.json: %s", path, err);
  for (int i = 0; chunks && i < m.ndim; i++)
    if (chunks[i] < 0)
      return cask__fail(ctx, CASK_EINVAL, "read_zarr %s: chunk %lld on axis %d is negative", path,
                        (long long)chunks[i], i);
  size_t len = strlen(abs);
  read3_args *a = cask__calloc(1, sizeof *a + len);
  if (!a) return cask__fail(ctx, CASK_ENOMEM, "read_zarr %s: out of memory", path);
  a->dtype = m.dtype, a->ndim = m.ndim, a->sep = m.sep, a->v2_keys = m.v2_keys, a->sharded = m.sharded;
  a->index_crc = m.index_crc, a->index_big_endian = m.index_big_endian, a->index_at_start = m.index_at_start;
  memcpy(a->shape, m.shape, sizeof a->shape);
  memcpy(a->grid, m.chunks, sizeof a->grid);
  memcpy(a->inner, m.sharded ? m.inner : m.chunks, sizeof a->inner);
  a->chain = m.chain;
  memcpy(a->fill, m.fill, sizeof a->fill);
  if (cask__host_big_endian()) cask__byteswap(a->fill, cask_dtype_size(m.dtype), 1);
  a->path_len = (uint32_t)len;
  memcpy(a + 1, abs, len);
  const int64_t *dflt = m.sharded && prod(m.ndim, m.chunks) * (int64_t)cask_dtype_size(m.dtype) > Z3_SHARD_BLOCK_BYTES
                            ? m.inner : m.chunks;
  rc = cask__node_new_ext(ctx, &zarr3_class.cls, a, m.dtype, m.ndim, m.shape, chunks ? chunks : dflt, 0, NULL, out);
  if (rc) return rc;
  /* The token: the path, the metadata and zarr.json's identity. */
  struct {
    read3_args head;
    uint64_t path_hash;
    int64_t size, mtime_s, mtime_ns, ino;
  } seal;
  memset(&seal, 0, sizeof seal);
  memcpy(&seal.head, a, sizeof seal.head);
  seal.path_hash = cask__hash(abs, len, 0x7a617233);
  seal.size = st.st_size, seal.mtime_s = st.st_mtim.tv_sec, seal.mtime_ns = st.st_mtim.tv_nsec;
  seal.ino = (int64_t)st.st_ino;
  cask__node_seal(*out, &seal, sizeof seal);
  return CASK_OK;
}

/* ======================================================================
 * Writing: the "array.zarr3_write" op
 * ====================================================================== */

/* One writer: the chunk of one block, or the shard of a group of blocks. */
typedef struct write3_args {
  int32_t dtype, ndim, sep, sharded, index_crc, pad;
  int64_t zchunk[CASK_MAX_NDIM]; /* a block's (inner) chunk */
  int64_t cps[CASK_MAX_NDIM];    /* chunks per shard (1 unsharded) */
  int64_t gidx[CASK_MAX_NDIM], gext[CASK_MAX_NDIM]; /* the shard's index, its box's extents */
  cask__zarr3_chain chain;
  unsigned char fill[8];
  uint32_t path_len, pad2;
} write3_args;

_Static_assert(offsetof(write3_args, path_len) == sizeof(write3_args) - 8, "path_len: cask__zarr_take_args");
static int check_write_args(const void *args, size_t len) {
  const write3_args *a = args;
  if (len < sizeof *a || len - sizeof *a != a->path_len || a->path_len == 0 || a->path_len >= Z3_MAX_PATH ||
      (unsigned)a->dtype >= CASK_DTYPE_COUNT || a->ndim < 0 || a->ndim > CASK_MAX_NDIM ||
      (a->sep != '.' && a->sep != '/') || (unsigned)a->sharded > 1 || (unsigned)a->index_crc > 1 ||
      cask__zarr3_chain_check(&a->chain, a->ndim))
    return CASK_EINVAL;
  if (!extents_ok(a->ndim, a->zchunk, (int64_t)cask_dtype_size((cask_dtype)a->dtype), Z3_MAX_BYTES) ||
      !extents_ok(a->ndim, a->cps, 1, Z3_MAX_INNER))
    return CASK_EINVAL;
  for (int i = 0; i < a->ndim; i++)
    if (a->gidx[i] < 0 || a->gext[i] < 0 || a->gext[i] > a->zchunk[i] * a->cps[i] || (!a->sharded && a->cps[i] != 1))
      return CASK_EINVAL;
  return CASK_OK;
}

void cask__zarr3_place(void *args, const int64_t *gidx, const int64_t *off, const int64_t *ext) {
  write3_args *w = args;
  memcpy(w->gidx, gidx, sizeof w->gidx[0] * (size_t)w->ndim);
  memcpy(w->gext, ext, sizeof w->gext[0] * (size_t)w->ndim);
  (void)off;
}

/* Input k (C order over the blocks present, nb per axis) encoded as one
 * chunk: at bidx within the shard. */
static int encode_block(cask_task_io *io, const write3_args *a, const int64_t *bidx, int k, void **enc, size_t *n,
                        const char *p) {
  int64_t ext[CASK_MAX_NDIM];
  for (int i = 0; i < a->ndim; i++) {
    int64_t left = a->gext[i] - bidx[i] * a->zchunk[i];
    ext[i] = left < a->zchunk[i] ? left : a->zchunk[i];
  }
  int rc = cask__sink_check_input(io, k, a->ndim, ext, "chunk");
  if (rc) return rc;
  size_t w = cask_dtype_size((cask_dtype)a->dtype);
  char *chunk = cask__zarr_chunk_bytes((cask_dtype)a->dtype, a->ndim, a->zchunk, ext, a->fill, io->inputs[k]);
  if (!chunk) {
    cask__fmt(io->errmsg, io->errmsg_cap, "%s: out of memory for a chunk", p);
    return CASK_ENOMEM;
  }
  char why[512];
  rc = cask__zarr3_encode(&a->chain, w, a->ndim, a->zchunk, chunk, enc, n, why, sizeof why);
  cask__free(chunk);
  if (rc) cask__fmt(io->errmsg, io->errmsg_cap, "%s: %s", p, why);
  return rc;
}

/* The shard: every inner chunk of the shard grid that holds array
 * elements, encoded one after another, then the index (chunks beyond the
 * array's edge are missing: 2^64-1). */
static int write_shard(cask_task_io *io, const write3_args *a, const int64_t *nb, const char *p) {
  int nd = a->ndim;
  int64_t n = prod(nd, a->cps), at[CASK_MAX_NDIM] = {0};
  size_t ib = cask__zarr3_index_bytes(n, a->index_crc), used = 0, cap = 0;
  uint64_t *idx = cask__malloc((size_t)n * 16);
  unsigned char *buf = NULL;
  int rc = idx ? CASK_OK : CASK_ENOMEM;
  for (int64_t j = 0; !rc; j++) {
    int inside = 1, k = 0;
    for (int i = 0; i < nd; i++) {
      inside &= at[i] < nb[i];
      k = k * (int)nb[i] + (int)at[i];
    }
    idx[2 * j] = idx[2 * j + 1] = CASK__Z3_MISSING;
    if (inside) {
      void *enc = NULL;
      size_t en = 0;
      if ((rc = encode_block(io, a, at, k, &enc, &en, p))) break;
      if ((rc = cask__grow((void **)&buf, &cap, used + en + ib, 1)) == CASK_OK) {
        memcpy(buf + used, enc, en);
        idx[2 * j] = used, idx[2 * j + 1] = en;
        used += en;
      }
      cask__free(enc);
    }
    if (cask__index_next(nd, at, a->cps) < 0) break;
  }
  if (rc == CASK_ENOMEM && !io->errmsg[0]) cask__fmt(io->errmsg, io->errmsg_cap, "%s: out of memory", p);
  if (!rc && !(rc = cask__grow((void **)&buf, &cap, used + ib, 1))) {
    cask__zarr3_write_index(idx, n, a->index_crc, buf + used);
    rc = cask__zarr_write_file(p, buf, used + ib, io->errmsg, io->errmsg_cap);
  }
  cask__free(idx);
  cask__free(buf);
  return rc;
}

static int write_run(cask_task_io *io) {
  write3_args a;
  char store[Z3_MAX_PATH], key[512], p[Z3_MAX_PATH + 520];
  if (cask__zarr_take_args(io, &a, sizeof a, check_write_args, "zarr3_write", store)) return CASK_EINVAL;
  cask__zarr_chunk_key(key, sizeof key, "c", a.ndim, a.gidx, (char)a.sep);
  cask__fmt(p, sizeof p, "%s/%s", store, key);
  int64_t nb[CASK_MAX_NDIM];
  for (int i = 0; i < a.ndim; i++) nb[i] = a.gext[i] ? (a.gext[i] + a.zchunk[i] - 1) / a.zchunk[i] : 1;
  if (prod(a.ndim, nb) != (int64_t)io->ninputs) {
    cask__fmt(io->errmsg, io->errmsg_cap, "%s: %zu blocks to write, the shard holds %lld", p, (size_t)io->ninputs,
              (long long)prod(a.ndim, nb));
    return CASK_EINVAL;
  }
  int rc = cask__zarr_make_parents(store, key, io->errmsg, io->errmsg_cap);
  if (rc) return rc;
  if (a.sharded) return write_shard(io, &a, nb, p);
  void *enc = NULL;
  size_t en = 0;
  int64_t zero[CASK_MAX_NDIM] = {0};
  if (!(rc = encode_block(io, &a, zero, 0, &enc, &en, p))) rc = cask__zarr_write_file(p, enc, en, io->errmsg, io->errmsg_cap);
  cask__free(enc);
  return rc;
}

/* ---- what cask_to_zarr's opener takes from here --------------------------- */

int cask__zarr3_check_options(cask_ctx *ctx, const char *path, const cask_array *a, const cask_zarr_options *o) {
  if (o->compressor == CASK_ZARR_ZLIB)
    return cask__fail(ctx, CASK_EINVAL, "to_zarr %s: zlib is not a Zarr v3 codec (use gzip)", path);
  int sharded = 0;
  int64_t cps = 1;
  for (int i = 0; i < a->ndim; i++) sharded |= o->shards[i] != 0;
  for (int i = 0; sharded && i < a->ndim; i++) {
    if (o->shards[i] < 1 || o->shards[i] % a->chunk[i])
      return cask__fail(ctx, CASK_EINVAL,
                        "to_zarr %s: shards[%d] = %lld is not a positive multiple of the chunk %lld (the array's "
                        "chunks are the inner chunks: rechunk first for others)",
                        path, i, (long long)o->shards[i], (long long)a->chunk[i]);
    if ((cps *= o->shards[i] / a->chunk[i]) > Z3_MAX_INNER)
      return cask__fail(ctx, CASK_EINVAL, "to_zarr %s: more than %lld chunks in one shard", path,
                        (long long)Z3_MAX_INNER);
  }
  for (int i = a->ndim; i < CASK_MAX_NDIM; i++)
    if (o->shards[i])
      return cask__fail(ctx, CASK_EINVAL, "to_zarr %s: shards[%d] is set for an array of %d axes", path, i, a->ndim);
  return CASK_OK;
}

/* The options' compressor as a chain: bytes (little-endian), then it. */
static cask__zarr3_chain writer_chain(const cask_zarr_options *o) {
  static const int bb[] = {0, 0, CASK__Z3_GZIP, CASK__Z3_ZSTD, CASK__Z3_BLOSC, CASK__Z3_BLOSC};
  cask__zarr3_chain c = {.level = o->level, .shuffle = o->shuffle, .blosc_zstd = o->compressor == CASK_ZARR_BLOSC_ZSTD};
  if (o->compressor != CASK_ZARR_NONE) c.bb[c.nbb++] = bb[o->compressor];
  return c;
}

char *cask__zarr3_writer_meta(const cask_array *a, const cask_zarr_options *o, const unsigned char *fill) {
  cask__zarr3_meta m;
  memset(&m, 0, sizeof m);
  m.dtype = a->dtype, m.ndim = a->ndim, m.sep = '/';
  memcpy(m.shape, a->shape, sizeof m.shape);
  memcpy(m.fill, fill, sizeof m.fill);
  for (int i = 0; i < a->ndim; i++) m.sharded |= o->shards[i] != 0;
  memcpy(m.chunks, m.sharded ? o->shards : a->chunk, sizeof m.chunks);
  memcpy(m.inner, a->chunk, sizeof m.inner);
  m.index_crc = 1; /* zarr-python's default index codecs: bytes, crc32c */
  m.chain = writer_chain(o);
  return cask__zarr3_meta_text(&m);
}

void *cask__zarr3_writer_args(const cask_array *a, const cask_zarr_options *o, const unsigned char *fill,
                              const char *abs, size_t *len, const cask_op **op, int64_t *group) {
  size_t n = strlen(abs);
  write3_args *w = cask__calloc(1, sizeof *w + n);
  if (!w) return NULL;
  w->dtype = a->dtype, w->ndim = a->ndim, w->sep = '/', w->index_crc = 1;
  memcpy(w->zchunk, a->chunk, sizeof w->zchunk);
  for (int i = 0; i < a->ndim; i++) {
    w->sharded |= o->shards[i] != 0;
    w->cps[i] = o->shards[i] ? o->shards[i] / a->chunk[i] : 1;
    group[i] = w->cps[i];
  }
  w->chain = writer_chain(o);
  memcpy(w->fill, fill, sizeof w->fill); /* host order: a chunk is swapped whole */
  w->path_len = (uint32_t)n;
  memcpy(w + 1, abs, n);
  *len = sizeof *w + n;
  *op = op_write;
  return w;
}

void cask__register_zarr3_ops(void) {
  cask_op_register(&(cask_op){.name = "array.zarr3_read", .run = read_run, .flags = CASK_OP_PURE}, &op_read);
  cask_op_register(&(cask_op){.name = "array.zarr3_write", .run = write_run}, &op_write);
}
