/* fuzz_zarr3.c - libFuzzer target for what a Zarr v3 store hands cask: the
 * zarr.json parser (cask__zarr3_parse_meta), the shard index parser
 * (cask__zarr3_parse_index) and a chunk through a codec chain
 * (cask__zarr3_decode).
 *
 * Byte 0 picks the target. 0: the rest is zarr.json text. 1: byte 1 is the
 * index's chunk count (1..64), byte 2 its flags (bit 0 crc32c, 1
 * big-endian, 2 at the start), bytes 3-4 the shard file's size beyond the
 * index, the rest the index bytes. 2: bytes 1-4 a chain (transposed 2-D
 * or not, endianness, two bytes-to-bytes codecs), bytes 5-6 the 2-D
 * chunk's extents (1..16 each), byte 7 the element size (1, 4 or 8), the
 * rest the encoded chunk. Properties, each an abort() when broken: an
 * answer is CASK_OK or CASK_EFORMAT (CASK_ENOMEM allowed) and a refusal
 * says why; an accepted zarr.json has a dtype, 0..CASK_MAX_NDIM axes,
 * positive chunks (inner chunks dividing the shards) and a chain that
 * cask__zarr3_chain_check accepts; an accepted index has every chunk
 * inside the file, outside the index and apart from the others. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../collections/array/io/zarr3.h"
#include "cask/cask.h"

static int answer_ok(int rc, const char *err) {
  if (rc == CASK_OK || rc == CASK_ENOMEM) return 1;
  return rc == CASK_EFORMAT && err[0] != '\0';
}

static void meta(const uint8_t *data, size_t size) {
  char err[512] = "";
  cask__zarr3_meta m;
  int rc = cask__zarr3_parse_meta((const char *)data, size, &m, err, sizeof err);
  if (!answer_ok(rc, err)) abort();
  if (rc != CASK_OK) return;
  if ((unsigned)m.dtype >= CASK_DTYPE_COUNT || m.ndim < 0 || m.ndim > CASK_MAX_NDIM ||
      (m.sep != '.' && m.sep != '/') || cask__zarr3_chain_check(&m.chain, m.ndim))
    abort();
  for (int i = 0; i < m.ndim; i++)
    if (m.chunks[i] < 1 || m.shape[i] < 0 || (m.sharded && (m.inner[i] < 1 || m.chunks[i] % m.inner[i])))
      abort();
}

static void index_(const uint8_t *data, size_t size) {
  if (size < 5) return;
  int64_t n = data[1] % 64 + 1;
  int crc = data[2] & 1, big = data[2] >> 1 & 1, start = data[2] >> 2 & 1;
  uint64_t fsize = cask__zarr3_index_bytes(n, crc) + (data[3] | (uint64_t)data[4] << 8);
  uint64_t out[128];
  char err[512] = "";
  int rc = cask__zarr3_parse_index(data + 5, size - 5, n, crc, big, fsize, start, out, err, sizeof err);
  if (!answer_ok(rc, err)) abort();
  if (rc != CASK_OK) return;
  uint64_t ib = cask__zarr3_index_bytes(n, crc), lo = start ? ib : 0, hi = start ? fsize : fsize - ib;
  for (int64_t i = 0; i < n; i++) {
    uint64_t off = out[2 * i], nb = out[2 * i + 1];
    if (off == CASK__Z3_MISSING && nb == CASK__Z3_MISSING) continue;
    if (off < lo || off > hi || nb > hi - off) abort();
    for (int64_t j = 0; j < i; j++) {
      uint64_t o2 = out[2 * j], n2 = out[2 * j + 1];
      if (o2 == CASK__Z3_MISSING && n2 == CASK__Z3_MISSING) continue;
      if (nb && n2 && off < o2 + n2 && o2 < off + nb) abort();
    }
  }
}

static void chunk(const uint8_t *data, size_t size) {
  if (size < 8) return;
  cask__zarr3_chain c;
  memset(&c, 0, sizeof c);
  c.transposed = data[1] & 1;
  c.perm[0] = 1, c.perm[1] = 0;
  c.big_endian = data[1] >> 1 & 1;
  for (int k = 0; k < 2; k++)
    if (data[2 + k] % 5) c.bb[c.nbb++] = data[2 + k] % 5;
  if (cask__zarr3_chain_check(&c, 2)) return; /* two compressors: refused by the parser too */
  int64_t shape[2] = {data[5] % 16 + 1, data[6] % 16 + 1};
  size_t w = data[7] % 3 == 0 ? 1 : data[7] % 3 == 1 ? 4 : 8;
  unsigned char *dst = malloc((size_t)(shape[0] * shape[1]) * w);
  if (!dst) return;
  char err[512] = "";
  int rc = cask__zarr3_decode(&c, w, 2, shape, data + 8, size - 8, dst, err, sizeof err);
  free(dst);
  if (!answer_ok(rc, err)) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1 || size > 65536) return 0;
  if (data[0] == 0) meta(data + 1, size - 1);
  else if (data[0] == 1) index_(data, size);
  else chunk(data, size);
  return 0;
}
