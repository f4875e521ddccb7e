/* zarr3.h - Zarr v3 arrays: zarr.json's parser (zarr3-meta.c), the codec
 * chain of a chunk and the shard index (zarr3-codec.c), the Castagnoli CRC
 * (crc32c.c); shared by the reader and writer (zarr3.c) and a fuzz target.
 * The one thing to know: a chain is plain bytes (no pointers) because it
 * travels in task arguments, and it is checked again when it arrives
 * (cask__zarr3_chain_check): graph files are outside input too. */
#ifndef CASK_ARRAY_ZARR3_H
#define CASK_ARRAY_ZARR3_H

#include <stddef.h>
#include <stdint.h>

#include "cask/block.h"

#define CASK__Z3_MAX_BB 4 /* bytes-to-bytes codecs in one chain */

/* The bytes-to-bytes codecs cask reads and writes. */
enum { CASK__Z3_GZIP = 1, CASK__Z3_ZSTD, CASK__Z3_BLOSC, CASK__Z3_CRC32C, CASK__Z3_BB_END };

/* How one chunk is encoded: an optional transpose, the bytes codec's
 * endianness, then nbb bytes-to-bytes codecs in the order they encode (at
 * most one compressor, so every size in the chain is known but the
 * compressed one). */
typedef struct cask__zarr3_chain {
  int32_t transposed;
  int32_t perm[CASK_MAX_NDIM]; /* axis k of the encoded chunk is axis perm[k] */
  int32_t big_endian;
  int32_t nbb;
  int32_t bb[CASK__Z3_MAX_BB];
  int32_t level, shuffle, blosc_zstd; /* writing: the compressor's settings */
} cask__zarr3_chain; /* a multiple of 8 bytes: task arguments stay packed */

/* What zarr.json says. chunks: the chunk grid's (the shards when
 * sharded); inner: sharding's chunk_shape. */
typedef struct cask__zarr3_meta {
  cask_dtype dtype;
  int ndim;
  int64_t shape[CASK_MAX_NDIM], chunks[CASK_MAX_NDIM], inner[CASK_MAX_NDIM];
  char sep;    /* the chunk key separator, '/' or '.' */
  int v2_keys; /* chunk_key_encoding "v2": "0.1", no "c" prefix */
  int sharded;
  int index_crc, index_big_endian, index_at_start;
  cask__zarr3_chain chain; /* of a chunk, or of an inner chunk when sharded */
  _Alignas(8) unsigned char fill[8]; /* fill_value in the dtype, host byte order (cast in place) */
} cask__zarr3_meta;

/* Parse n bytes of zarr.json (outside input, not NUL-terminated) strictly.
 * CASK_OK, or CASK_EFORMAT with "field 'name': ..." in err. */
int cask__zarr3_parse_meta(const char *text, size_t n, cask__zarr3_meta *m, char *err, size_t cap);
/* zarr.json's text for m (cJSON_free it), written by cask. */
char *cask__zarr3_meta_text(const cask__zarr3_meta *m);
/* A chain from a task's arguments: CASK_OK or CASK_EINVAL. */
int cask__zarr3_chain_check(const cask__zarr3_chain *c, int ndim);

/* One chunk of ndim extents shape and w-byte elements: n bytes of src
 * decoded into exactly the chunk's bytes at dst (C order, little-endian),
 * or dst encoded into a new buffer *out (cask__free it). */
int cask__zarr3_decode(const cask__zarr3_chain *c, size_t w, int ndim, const int64_t *shape, const void *src,
                       size_t n, void *dst, char *err, size_t cap);
int cask__zarr3_encode(const cask__zarr3_chain *c, size_t w, int ndim, const int64_t *shape, const void *src,
                       void **out, size_t *outn, char *err, size_t cap);

/* The shard index of n inner chunks: its size in bytes, and its len bytes
 * decoded into out[2n] (offset, nbytes pairs; both 2^64-1 for a missing
 * chunk), checked against a shard file of fsize bytes whose index sits at
 * its start or end: the CRC, every chunk inside the file and outside the
 * index, no two chunks overlapping. CASK_OK or CASK_EFORMAT. */
#define CASK__Z3_MISSING UINT64_MAX
size_t cask__zarr3_index_bytes(int64_t n, int crc);
int cask__zarr3_parse_index(const void *p, size_t len, int64_t n, int crc, int big_endian, uint64_t fsize,
                            int at_start, uint64_t *out, char *err, size_t cap);
/* out[2n] as index bytes (little-endian, the CRC after them when crc). */
void cask__zarr3_write_index(const uint64_t *idx, int64_t n, int crc, unsigned char *out);

/* CRC-32C (Castagnoli) of n bytes, as the crc32c codec appends it. */
uint32_t cask__crc32c(const void *p, size_t n);

#endif
