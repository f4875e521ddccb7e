/* zarr-codec.c - the compressors of Zarr v2 chunks, as numcodecs writes
 * them: zlib (a zlib stream), gzip (one gzip member), zstd (one frame that
 * records its content size) and blosc (the Blosc1 format of Debian's
 * libblosc). The one thing to know: these run inside block tasks on many
 * threads at once, so only the libraries' reentrant calls are used
 * (blosc_*_ctx with one internal thread, never blosc_compress, which keeps
 * global state). */
#include <limits.h>
#include <stdint.h>
#include <blosc.h>
#include <zlib.h>
#include <zstd.h>

#include "../../../core/internal.h"
#include "zarr.h"

/* ---- zlib and gzip ------------------------------------------------------- */

/* windowBits 15: a zlib stream; 31: a gzip member. */
static int inflate_exact(const void *src, size_t n, void *dst, size_t want, int window_bits, const char *name,
                         char *err, size_t cap) {
  if (n > UINT_MAX || want > UINT_MAX) {
    cask__fmt(err, cap, "%s: a chunk of %zu bytes (%zu compressed) is larger than zlib's 4 GiB", name, want, n);
    return CASK_ETOOBIG;
  }
  z_stream z;
  memset(&z, 0, sizeof z);
  if (inflateInit2(&z, window_bits) != Z_OK) {
    cask__fmt(err, cap, "%s: out of memory", name);
    return CASK_ENOMEM;
  }
  z.next_in = (Bytef *)src;
  z.avail_in = (uInt)n;
  z.next_out = dst;
  z.avail_out = (uInt)want;
  int zr = inflate(&z, Z_FINISH);
  int rc = CASK_OK;
  if (zr == Z_MEM_ERROR) {
    cask__fmt(err, cap, "%s: out of memory", name);
    rc = CASK_ENOMEM;
  } else if (zr == Z_STREAM_END && z.total_out == want && z.avail_in == 0) {
    rc = CASK_OK;
  } else if (zr == Z_STREAM_END) {
    cask__fmt(err, cap, "%s: the stream decodes to %lu bytes with %u bytes left over; the chunk has %zu", name,
              z.total_out, z.avail_in, want);
    rc = CASK_EFORMAT;
  } else if (zr == Z_BUF_ERROR && z.avail_out == 0) {
    cask__fmt(err, cap, "%s: the stream decodes to more than the chunk's %zu bytes", name, want);
    rc = CASK_EFORMAT;
  } else {
    cask__fmt(err, cap, "%s: corrupt or truncated stream (%s, after %lu of %zu bytes)", name,
              z.msg ? z.msg : zr == Z_BUF_ERROR ? "it ends early" : "bad data", z.total_out, want);
    rc = CASK_EFORMAT;
  }
  inflateEnd(&z);
  return rc;
}

static int deflate_all(const void *src, size_t n, int level, int window_bits, void **out, size_t *outn,
                       const char *name, char *err, size_t cap) {
  if (n > UINT_MAX / 2) {
    cask__fmt(err, cap, "%s: a chunk of %zu bytes is larger than zlib's limit", name, n);
    return CASK_ETOOBIG;
  }
  z_stream z;
  memset(&z, 0, sizeof z);
  if (deflateInit2(&z, level, Z_DEFLATED, window_bits, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
    cask__fmt(err, cap, "%s: cannot start compressing at level %d", name, level);
    return CASK_EINVAL;
  }
  size_t bound = deflateBound(&z, (uLong)n) + 32; /* + the gzip header and trailer */
  unsigned char *buf = cask__malloc_big(bound);
  int rc = CASK_OK;
  if (!buf) {
    cask__fmt(err, cap, "%s: out of memory for %zu bytes", name, bound);
    rc = CASK_ENOMEM;
  } else {
    z.next_in = (Bytef *)src;
    z.avail_in = (uInt)n;
    z.next_out = buf;
    z.avail_out = (uInt)bound;
    if (deflate(&z, Z_FINISH) != Z_STREAM_END) {
      cask__fmt(err, cap, "%s: compressing %zu bytes failed", name, n);
      rc = CASK_EIO;
      cask__free(buf);
    } else {
      *out = buf;
      *outn = z.total_out;
    }
  }
  deflateEnd(&z);
  return rc;
}

/* ---- zstd ------------------------------------------------------------------ */

static int zstd_decode(const void *src, size_t n, void *dst, size_t want, char *err, size_t cap) {
  unsigned long long size = ZSTD_getFrameContentSize(src, n);
  if (size == ZSTD_CONTENTSIZE_ERROR) {
    cask__fmt(err, cap, "zstd: not a zstd frame (corrupt or truncated)");
    return CASK_EFORMAT;
  }
  if (size == ZSTD_CONTENTSIZE_UNKNOWN) {
    cask__fmt(err, cap, "zstd: the frame does not record its content size (numcodecs writes it)");
    return CASK_EFORMAT;
  }
  if (size != want) {
    cask__fmt(err, cap, "zstd: the frame holds %llu bytes; the chunk has %zu", size, want);
    return CASK_EFORMAT;
  }
  size_t got = ZSTD_decompress(dst, want, src, n);
  if (ZSTD_isError(got)) {
    cask__fmt(err, cap, "zstd: corrupt or truncated frame: %s", ZSTD_getErrorName(got));
    return CASK_EFORMAT;
  }
  if (got != want) {
    cask__fmt(err, cap, "zstd: the frames decode to %zu bytes; the chunk has %zu", got, want);
    return CASK_EFORMAT;
  }
  return CASK_OK;
}

static int zstd_encode(const void *src, size_t n, int level, void **out, size_t *outn, char *err, size_t cap) {
  size_t bound = ZSTD_compressBound(n);
  void *buf = cask__malloc_big(bound ? bound : 1);
  if (!buf) {
    cask__fmt(err, cap, "zstd: out of memory for %zu bytes", bound);
    return CASK_ENOMEM;
  }
  /* ZSTD_compress writes the content size into the frame header, which
   * numcodecs' decoder needs. */
  size_t got = ZSTD_compress(buf, bound, src, n, level);
  if (ZSTD_isError(got)) {
    cask__fmt(err, cap, "zstd: compressing %zu bytes at level %d: %s", n, level, ZSTD_getErrorName(got));
    cask__free(buf);
    return CASK_EIO;
  }
  *out = buf;
  *outn = got;
  return CASK_OK;
}

/* ---- blosc ----------------------------------------------------------------- */

static int blosc_decode(const void *src, size_t n, void *dst, size_t want, char *err, size_t cap) {
  size_t nbytes = 0;
  if (blosc_cbuffer_validate(src, n, &nbytes) != 0) {
    cask__fmt(err, cap, "blosc: not a Blosc1 buffer of %zu bytes (corrupt or truncated header)", n);
    return CASK_EFORMAT;
  }
  if (nbytes != want) {
    cask__fmt(err, cap, "blosc: the buffer holds %zu bytes; the chunk has %zu", nbytes, want);
    return CASK_EFORMAT;
  }
  if (want == 0) return CASK_OK;
  int got = blosc_decompress_ctx(src, dst, want, 1);
  if (got < 0 || (size_t)got != want) {
    cask__fmt(err, cap, "blosc: corrupt buffer (decompression returned %d, expected %zu bytes)", got, want);
    return CASK_EFORMAT;
  }
  return CASK_OK;
}

static int blosc_encode(const void *src, size_t n, int level, const char *cname, int shuffle, size_t typesize,
                        void **out, size_t *outn, char *err, size_t cap) {
  if (n > BLOSC_MAX_BUFFERSIZE) {
    cask__fmt(err, cap, "blosc: a chunk of %zu bytes is larger than Blosc1's limit of %d", n, BLOSC_MAX_BUFFERSIZE);
    return CASK_ETOOBIG;
  }
  size_t bound = n + BLOSC_MAX_OVERHEAD;
  void *buf = cask__malloc_big(bound);
  if (!buf) {
    cask__fmt(err, cap, "blosc: out of memory for %zu bytes", bound);
    return CASK_ENOMEM;
  }
  int got = blosc_compress_ctx(level, shuffle, typesize, n, src, buf, bound, cname, 0, 1);
  if (got <= 0) {
    cask__fmt(err, cap, "blosc: compressing %zu bytes with %s failed (%d)", n, cname, got);
    cask__free(buf);
    return CASK_EIO;
  }
  *out = buf;
  *outn = (size_t)got;
  return CASK_OK;
}

/* ---- dispatch ---------------------------------------------------------------- */

int cask__zarr_decode(int codec, const void *src, size_t n, void *dst, size_t want, char *err, size_t cap) {
  switch (codec) {
    case CASK__ZARR_CODEC_NONE:
      if (n != want) {
        cask__fmt(err, cap, "the uncompressed chunk has %zu bytes; it should have %zu", n, want);
        return CASK_EFORMAT;
      }
      if (n) memcpy(dst, src, n);
      return CASK_OK;
    case CASK__ZARR_CODEC_ZLIB: return inflate_exact(src, n, dst, want, 15, "zlib", err, cap);
    case CASK__ZARR_CODEC_GZIP: return inflate_exact(src, n, dst, want, 31, "gzip", err, cap);
    case CASK__ZARR_CODEC_ZSTD: return zstd_decode(src, n, dst, want, err, cap);
    case CASK__ZARR_CODEC_BLOSC: return blosc_decode(src, n, dst, want, err, cap);
    default: cask__fmt(err, cap, "unknown codec %d", codec); return CASK_EINVAL;
  }
}

int cask__zarr_encode(int codec, int level, const char *blosc_cname, int shuffle, size_t typesize,
                      const void *src, size_t n, void **out, size_t *outn, char *err, size_t cap) {
  switch (codec) {
    case CASK__ZARR_CODEC_NONE:
      if (!(*out = cask__malloc_big(n ? n : 1))) {
        cask__fmt(err, cap, "out of memory for %zu bytes", n);
        return CASK_ENOMEM;
      }
      if (n) memcpy(*out, src, n);
      *outn = n;
      return CASK_OK;
    case CASK__ZARR_CODEC_ZLIB: return deflate_all(src, n, level, 15, out, outn, "zlib", err, cap);
    case CASK__ZARR_CODEC_GZIP: return deflate_all(src, n, level, 31, out, outn, "gzip", err, cap);
    case CASK__ZARR_CODEC_ZSTD: return zstd_encode(src, n, level, out, outn, err, cap);
    case CASK__ZARR_CODEC_BLOSC: return blosc_encode(src, n, level, blosc_cname, shuffle, typesize, out, outn, err, cap);
    default: cask__fmt(err, cap, "unknown codec %d", codec); return CASK_EINVAL;
  }
}
