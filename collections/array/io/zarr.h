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

#endif
