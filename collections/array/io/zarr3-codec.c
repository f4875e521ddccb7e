/* zarr3-codec.c - a Zarr v3 chunk through its codec chain (transpose,
 * bytes with its endianness, gzip/zstd/blosc and crc32c), and the shard
 * index of the sharding_indexed codec.
 * The one thing to know: decoding runs the chain backwards and knows the
 * size of every stage because a chain holds at most one compressor (the
 * parser refuses more): crc32c adds 4 bytes, the compressors decode into
 * the size the stages before them made. The compressors themselves are
 * zarr-codec.c's, as numcodecs and zarr-python 3 write them. */
#include <stdlib.h>
#include <string.h>

#include "../../../core/index.h"
#include "../../../core/internal.h"
#include "../core/dtype.h"
#include "zarr.h"
#include "zarr3.h"

static int to_v2_codec(int bb) {
  return bb == CASK__Z3_GZIP ? CASK__ZARR_CODEC_GZIP : bb == CASK__Z3_ZSTD ? CASK__ZARR_CODEC_ZSTD
                                                                           : CASK__ZARR_CODEC_BLOSC;
}

/* Element i of the encoded (transposed) chunk is element of decoded index
 * j with j[perm[k]] = i[k]: walk i in C order, keep j's offset. to_dec: from
 * encoded src into decoded dst (else the reverse). */
static void permute(const cask__zarr3_chain *c, size_t w, int nd, const int64_t *shape, const char *src, char *dst,
                    int to_dec) {
  int64_t dstride[CASK_MAX_NDIM], eshape[CASK_MAX_NDIM], i[CASK_MAX_NDIM] = {0}, n = 1;
  for (int a = nd - 1; a >= 0; a--) dstride[a] = n, n *= shape[a];
  if (n == 0) return;
  for (int k = 0; k < nd; k++) eshape[k] = shape[c->perm[k]];
  for (int64_t e = 0;; e++) {
    int64_t d = 0;
    for (int k = 0; k < nd; k++) d += i[k] * dstride[c->perm[k]];
    if (to_dec) memcpy(dst + d * (int64_t)w, src + e * (int64_t)w, w);
    else memcpy(dst + e * (int64_t)w, src + d * (int64_t)w, w);
    if (cask__index_next(nd, i, eshape) < 0) break;
  }
}

static int64_t count(int nd, const int64_t *shape) {
  int64_t n = 1;
  for (int i = 0; i < nd; i++) n *= shape[i];
  return n;
}

int cask__zarr3_decode(const cask__zarr3_chain *c, size_t w, int nd, const int64_t *shape, const void *src,
                       size_t n, void *dst, char *err, size_t cap) {
  size_t want = (size_t)count(nd, shape) * w, size[CASK__Z3_MAX_BB + 1];
  size[0] = want; /* size[k]: the input of bb codec k when encoding */
  for (int k = 0; k < c->nbb; k++) size[k + 1] = c->bb[k] == CASK__Z3_CRC32C ? size[k] + 4 : 0;
  const unsigned char *cur = src;
  unsigned char *buf = NULL; /* what cur points into when not src */
  int rc = CASK_OK;
  for (int k = c->nbb - 1; k >= 0 && !rc; k--) {
    if (c->bb[k] == CASK__Z3_CRC32C) {
      uint32_t got, stored;
      if (n < 4) {
        cask__fmt(err, cap, "crc32c: %zu bytes, fewer than the checksum's 4", n);
        rc = CASK_EFORMAT;
        break;
      }
      n -= 4;
      memcpy(&stored, cur + n, 4);
      if (cask__host_big_endian()) stored = __builtin_bswap32(stored);
      if ((got = cask__crc32c(cur, n)) != stored) {
        cask__fmt(err, cap, "crc32c: the checksum is %08x, the bytes give %08x (corrupt chunk)", stored, got);
        rc = CASK_EFORMAT;
      }
      continue;
    }
    unsigned char *out = cask__malloc_big(size[k] ? size[k] : 1);
    if (!out) {
      cask__fmt(err, cap, "out of memory for %zu bytes", size[k]);
      rc = CASK_ENOMEM;
      break;
    }
    rc = cask__zarr_decode(to_v2_codec(c->bb[k]), cur, n, out, size[k], err, cap);
    cask__free(buf);
    cur = buf = out, n = size[k];
  }
  if (!rc && n != want) {
    cask__fmt(err, cap, "the chunk has %zu bytes; it should have %zu", n, want);
    rc = CASK_EFORMAT;
  }
  if (!rc) {
    if (c->transposed) {
      unsigned char *tmp = NULL;
      if (c->big_endian && w > 1) { /* swap a copy: cur may be the caller's */
        if (!(tmp = cask__malloc_big(want ? want : 1))) {
          cask__fmt(err, cap, "out of memory for %zu bytes", want);
          rc = CASK_ENOMEM;
        } else {
          memcpy(tmp, cur, want);
          cask__byteswap(tmp, w, (int64_t)(want / w));
        }
      }
      if (!rc) permute(c, w, nd, shape, tmp ? (const char *)tmp : (const char *)cur, dst, 1);
      cask__free(tmp);
    } else {
      if (want) memmove(dst, cur, want);
      if (c->big_endian && w > 1) cask__byteswap(dst, w, (int64_t)(want / w));
    }
  }
  cask__free(buf);
  return rc;
}

int cask__zarr3_encode(const cask__zarr3_chain *c, size_t w, int nd, const int64_t *shape, const void *src,
                       void **out, size_t *outn, char *err, size_t cap) {
  size_t n = (size_t)count(nd, shape) * w;
  unsigned char *cur = cask__malloc_big(n + 4 * (size_t)c->nbb + 1);
  if (!cur) {
    cask__fmt(err, cap, "out of memory for %zu bytes", n);
    return CASK_ENOMEM;
  }
  if (c->transposed) permute(c, w, nd, shape, src, (char *)cur, 0);
  else if (n) memcpy(cur, src, n);
  if (c->big_endian && w > 1) cask__byteswap(cur, w, (int64_t)(n / w));
  for (int k = 0; k < c->nbb; k++) {
    if (c->bb[k] == CASK__Z3_CRC32C) { /* room was left for it */
      uint32_t crc = cask__crc32c(cur, n);
      if (cask__host_big_endian()) crc = __builtin_bswap32(crc);
      memcpy(cur + n, &crc, 4);
      n += 4;
      continue;
    }
    void *enc = NULL;
    size_t encn = 0;
    int rc = cask__zarr_encode(to_v2_codec(c->bb[k]), c->level, c->blosc_zstd ? "zstd" : "lz4", c->shuffle, w, cur,
                               n, &enc, &encn, err, cap);
    cask__free(cur);
    if (rc) return rc;
    unsigned char *grown = cask__malloc_big(encn + 4 * (size_t)c->nbb + 1);
    if (!grown) {
      cask__free(enc);
      cask__fmt(err, cap, "out of memory for %zu bytes", encn);
      return CASK_ENOMEM;
    }
    memcpy(grown, enc, encn);
    cask__free(enc);
    cur = grown, n = encn;
  }
  *out = cur;
  *outn = n;
  return CASK_OK;
}

/* ---- the shard index ------------------------------------------------------- */

size_t cask__zarr3_index_bytes(int64_t n, int crc) { return (size_t)n * 16 + (crc ? 4 : 0); }

static int by_offset(const void *a, const void *b) {
  uint64_t x = ((const uint64_t *)a)[0], y = ((const uint64_t *)b)[0];
  return x < y ? -1 : x > y;
}

int cask__zarr3_parse_index(const void *p, size_t len, int64_t n, int crc, int big_endian, uint64_t fsize,
                            int at_start, uint64_t *out, char *err, size_t cap) {
  size_t need = cask__zarr3_index_bytes(n, crc);
  if (len != need || fsize < need) {
    cask__fmt(err, cap, "shard index: %zu bytes in a file of %llu; %lld chunks need %zu", len,
              (unsigned long long)fsize, (long long)n, need);
    return CASK_EFORMAT;
  }
  const unsigned char *b = p;
  if (crc) {
    uint32_t stored, got = cask__crc32c(b, need - 4);
    memcpy(&stored, b + need - 4, 4);
    if (cask__host_big_endian()) stored = __builtin_bswap32(stored);
    if (stored != got) {
      cask__fmt(err, cap, "shard index: the crc32c is %08x, the index gives %08x (corrupt index)", stored, got);
      return CASK_EFORMAT;
    }
  }
  memcpy(out, b, (size_t)n * 16);
  if (big_endian != cask__host_big_endian())
    for (int64_t i = 0; i < 2 * n; i++) out[i] = __builtin_bswap64(out[i]);
  /* chunks live in [lo, hi): the file without the index */
  uint64_t lo = at_start ? need : 0, hi = at_start ? fsize : fsize - need;
  uint64_t *span = cask__malloc((size_t)n * 16 + 1);
  if (!span) {
    cask__fmt(err, cap, "shard index: out of memory for %lld entries", (long long)n);
    return CASK_ENOMEM;
  }
  int64_t k = 0;
  int rc = CASK_OK;
  for (int64_t i = 0; i < n && !rc; i++) {
    uint64_t off = out[2 * i], nb = out[2 * i + 1];
    if (off == CASK__Z3_MISSING && nb == CASK__Z3_MISSING) continue;
    if (off < lo || off > hi || nb > hi - off) {
      cask__fmt(err, cap, "shard index: chunk %lld at bytes %llu..+%llu is outside the shard's chunk bytes %llu..%llu",
                (long long)i, (unsigned long long)off, (unsigned long long)nb, (unsigned long long)lo,
                (unsigned long long)hi);
      rc = CASK_EFORMAT;
    }
    span[2 * k] = off, span[2 * k + 1] = nb, k++;
  }
  if (!rc) qsort(span, (size_t)k, 16, by_offset);
  for (int64_t i = 1; i < k && !rc; i++)
    if (span[2 * i - 2] + span[2 * i - 1] > span[2 * i]) {
      cask__fmt(err, cap, "shard index: chunks at bytes %llu..+%llu and %llu overlap",
                (unsigned long long)span[2 * i - 2], (unsigned long long)span[2 * i - 1],
                (unsigned long long)span[2 * i]);
      rc = CASK_EFORMAT;
    }
  cask__free(span);
  return rc;
}

void cask__zarr3_write_index(const uint64_t *idx, int64_t n, int crc, unsigned char *out) {
  for (int64_t i = 0; i < 2 * n; i++) {
    uint64_t v = cask__host_big_endian() ? __builtin_bswap64(idx[i]) : idx[i];
    memcpy(out + 8 * i, &v, 8);
  }
  if (crc) {
    uint32_t c = cask__crc32c(out, (size_t)n * 16);
    if (cask__host_big_endian()) c = __builtin_bswap32(c);
    memcpy(out + n * 16, &c, 4);
  }
}
