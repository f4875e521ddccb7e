/* zarr.h - the .zarray parser (zarr.c) and the chunk codecs of Zarr v2
 * stores (zarr-codec.c), shared by the reader, the writer and a fuzz
 * target.
 * The one thing to know: a decoder never trusts the bytes it is given; it
 * must produce exactly the chunk's size (a chunk that decodes to fewer or
 * more bytes, or with bytes left over, is CASK_EFORMAT), and every refusal
 * comes with a message saying what was wrong. */
#ifndef CASK_ARRAY_ZARR_H
#define CASK_ARRAY_ZARR_H

#include <stddef.h>
#include <stdint.h>

#include "cask/block.h"

/* How chunk files are compressed (the "compressor" of .zarray). Reading
 * blosc needs no cname: the Blosc1 header says how a chunk was made. */
typedef enum cask__zarr_codec {
  CASK__ZARR_CODEC_NONE, CASK__ZARR_CODEC_ZLIB, CASK__ZARR_CODEC_GZIP, CASK__ZARR_CODEC_ZSTD,
  CASK__ZARR_CODEC_BLOSC,
  CASK__ZARR_CODEC_COUNT
} cask__zarr_codec;

/* What .zarray says, as cask__zarr_parse_meta found it. */
typedef struct cask__zarr_meta {
  cask_dtype dtype;
  int ndim;
  int codec; /* cask__zarr_codec */
  char sep;  /* dimension_separator: '.' or '/' */
  int64_t shape[CASK_MAX_NDIM], chunks[CASK_MAX_NDIM];
  unsigned char fill[8]; /* fill_value in the dtype, host byte order (null: 0) */
} cask__zarr_meta;

/* Parse the n bytes of .zarray's text (not NUL-terminated; outside input:
 * trusts nothing, for the fuzz target too) strictly: every field present,
 * of its type, no other. Returns CASK_OK or CASK_EFORMAT with a message
 * "field 'name': ..." in err. */
int cask__zarr_parse_meta(const char *text, size_t n, cask__zarr_meta *m, char *err, size_t cap);

/* Decode n bytes of src into exactly want bytes at dst. */
int cask__zarr_decode(int codec, const void *src, size_t n, void *dst, size_t want, char *err,
                      size_t cap);
/* Encode n bytes of src into a new buffer *out (cask__free it) of *outn
 * bytes. level: the codec's; blosc_cname "lz4" or "zstd", shuffle 0, 1 or
 * 2 and typesize for blosc only. CASK__ZARR_CODEC_NONE copies. */
int cask__zarr_encode(int codec, int level, const char *blosc_cname, int shuffle, size_t typesize,
                      const void *src, size_t n, void **out, size_t *outn, char *err, size_t cap);

/* ---- what zarr.c gives the Zarr v3 files (zarr3*.c) ---------------------- */
struct cJSON;
/* err = "field 'field': ...". Returns CASK_EFORMAT. */
int cask__zarr_bad(char *err, size_t cap, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* A JSON list of at most CASK_MAX_NDIM integers >= min into out, *n of them. */
int cask__zarr_parse_extents(const struct cJSON *v, const char *field, int64_t min, int64_t *out, int *n,
                             char *err, size_t cap);
/* fill_value as dtype dt's 8 bytes: null (0), a number, "NaN", "Infinity"
 * or "-Infinity" (floats), true or false (bool); and back to JSON. */
int cask__zarr_parse_fill(const struct cJSON *v, cask_dtype dt, unsigned char *fill, char *err, size_t cap);
struct cJSON *cask__zarr_fill_json(cask_dtype dt, const unsigned char *fill);
struct cJSON *cask__zarr_int_list(int n, const int64_t *v);
/* A chunk's key: prefix (NULL: none, "0" for a 0-d array) then the
 * indices, each after sep (the first without one when there is no prefix). */
void cask__zarr_chunk_key(char *buf, size_t cap, const char *prefix, int ndim, const int64_t *idx, char sep);
/* n copies of the w-byte fill. */
void cask__zarr_fill_pattern(void *dst, const unsigned char *fill, size_t w, int64_t n);
/* No compressor makes a chunk much larger than its data: a bigger file is
 * not a chunk of this array (and must not be read whole). */
static inline int64_t cask__zarr_max_encoded(size_t want) { return (int64_t)want + (int64_t)want / 8 + 4096; }
/* The file at p whole (at most max bytes) in a new buffer (cask__free it):
 * CASK_OK, CASK_ENOTFOUND when there is no such file (no message), or a
 * code with a message naming p. */
int cask__zarr_read_file(const char *p, int64_t max, char **out, size_t *n, char *err, size_t cap);
/* The small file dir/name whole, NUL-terminated; st: its stat. */
struct stat;
int cask__zarr_slurp(const char *dir, const char *name, int64_t max, char **out, size_t *n, struct stat *st,
                     char *err, size_t cap);
/* The chunk of extents zchunk for block b of extents ext (<= zchunk): in
 * dtype dt, little-endian, padded with fill; NULL when out of memory. */
char *cask__zarr_chunk_bytes(cask_dtype dt, int ndim, const int64_t *zchunk, const int64_t *ext,
                             const unsigned char *fill, const cask_block *b);
/* path written atomically (temporary name, rename; no fsync), and the
 * directories of key "i/j/k" made under store. */
int cask__zarr_write_file(const char *path, const void *data, size_t len, char *err, size_t cap);
int cask__zarr_make_parents(const char *store, const char *key, char *err, size_t cap);
/* A task's arguments: the fixed head (head bytes, ending in uint32_t
 * path_len and 4 bytes of padding) into a, checked by check (a message
 * "malformed OP arguments" when it refuses), then the path into store. */
struct cask_task_io;
int cask__zarr_take_args(const struct cask_task_io *io, void *a, size_t head, int (*check)(const void *a, size_t len),
                         const char *op, char *store);

#endif
