/* fuzz_zarr.c - libFuzzer target for what a Zarr store hands cask: the
 * .zarray parser (cask__zarr_parse_meta) and the chunk decoders
 * (cask__zarr_decode: zlib, gzip, zstd, blosc, none).
 *
 * The first byte picks the target. 0: the rest is .zarray text. Otherwise
 * the codec is byte 0 modulo CASK__ZARR_CODEC_COUNT, bytes 1-2 the decoded size
 * wanted (at most 64 KiB), the rest a chunk file. Properties, each an
 * abort() when broken: an answer is CASK_OK or CASK_EFORMAT (CASK_ENOMEM
 * allowed) and a refusal says why; an accepted .zarray has a dtype,
 * 0..CASK_MAX_NDIM axes, positive chunks of at most 2^40 bytes and a '.' or
 * '/' separator. The decoders may not read or write outside their buffers (ASan checks). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../collections/array/io/zarr.h"
#include "cask/cask.h"

static int answer_ok(int rc, const char *err) {
  if (rc == CASK_OK || rc == CASK_ENOMEM) return 1;
  return rc == CASK_EFORMAT && err[0] != '\0';
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1 || size > 65536) return 0;
  char err[512] = "";
  if (data[0] == 0) {
    cask__zarr_meta m;
    int rc = cask__zarr_parse_meta((const char *)data + 1, size - 1, &m, err, sizeof err);
    if (!answer_ok(rc, err)) abort();
    if (rc == CASK_OK) {
      if ((unsigned)m.dtype >= CASK_DTYPE_COUNT || m.ndim < 0 || m.ndim > CASK_MAX_NDIM ||
          (m.sep != '.' && m.sep != '/'))
        abort();
      /* a chunk's bytes, as a checked product, within the reader's limit */
      int64_t bytes = (int64_t)cask_dtype_size(m.dtype);
      for (int i = 0; i < m.ndim; i++)
        if (m.chunks[i] < 1 || m.shape[i] < 0 || __builtin_mul_overflow(bytes, m.chunks[i], &bytes) ||
            bytes > ((int64_t)1 << 40))
          abort();
    }
    return 0;
  }
  if (size < 3) return 0;
  int codec = data[0] % CASK__ZARR_CODEC_COUNT;
  size_t want = (size_t)data[1] | (size_t)data[2] << 8;
  unsigned char *dst = malloc(want ? want : 1);
  if (!dst) return 0;
  int rc = cask__zarr_decode(codec, data + 3, size - 3, dst, want, err, sizeof err);
  free(dst);
  if (!answer_ok(rc, err)) abort();
  return 0;
}
