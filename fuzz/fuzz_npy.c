/* fuzz_npy.c - libFuzzer target for the .npy reader: the header parser
 * (cask__npy_parse) on the input's bytes, then cask_read_npy and
 * cask_compute on the input written to a file.
 *
 * Properties, each a call to abort() when broken (the fuzzer saves the
 * input): the parser accepts or refuses with CASK_EFORMAT and a message
 * "byte N: ..." with N inside the input (or at its end); cask_read_npy
 * agrees with it (refuses what the parser refuses, and a data section
 * shorter than the header promises); an accepted file computes, with a
 * chunking taken from the input, to exactly the values a direct decoding
 * here gives (C or Fortran order, either byte order, bool bytes as 0/1);
 * the header cask would write for that dtype and shape parses back to
 * them. Arrays over 1 MiB are parsed, not computed (time per input). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../collections/array/io/npy.h"
#include "cask/cask.h"

static cask_ctx *ctx;
static char dir[] = "/tmp/cask-fuzz-npy-XXXXXX", path[256];

static void remove_dir(void) {
  unlink(path);
  rmdir(dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc;
  (void)argv;
  if (!mkdtemp(dir) || cask_ctx_new(&(cask_options){.threads = 1, .split_every = 0, .chunk_bytes = 0}, &ctx) != CASK_OK) abort();
  snprintf(path, sizeof path, "%s/in.npy", dir);
  atexit(remove_dir);
  return 0;
}

static void put_file(const uint8_t *data, size_t size) {
  FILE *f = fopen(path, "wb");
  if (!f || (size && fwrite(data, 1, size, f) != size) || fclose(f) != 0) abort();
}

/* Element `c` (a C-order index of h's shape) as the file stores it,
 * converted to what cask holds. */
static void decode(const cask__npy_header *h, const uint8_t *data, int64_t c, uint8_t *out) {
  int64_t idx[CASK_MAX_NDIM], rest = c, f = 0, s = 1;
  for (int i = h->ndim - 1; i >= 0; i--) {
    idx[i] = rest % h->shape[i];
    rest /= h->shape[i];
  }
  for (int k = 0; k < h->ndim; k++) { /* the file's flat index */
    int i = h->fortran ? k : h->ndim - 1 - k;
    f += idx[i] * s;
    s *= h->shape[i];
  }
  size_t w = cask_dtype_size(h->dtype);
  const uint8_t *src = data + h->data_off + f * (int64_t)w;
  int swap = h->big_endian != cask__host_big_endian();
  for (size_t b = 0; b < w; b++) out[b] = src[swap ? w - 1 - b : b];
  if (h->dtype == CASK_BOOL) out[0] = out[0] != 0;
}

static void check_values(const cask__npy_header *h, const uint8_t *data, size_t size) {
  /* Chunks from the input's last bytes: an axis cut in up to 4 pieces,
   * at most 256 blocks in all. */
  int64_t chunks[CASK_MAX_NDIM], n = h->data_bytes / (int64_t)cask_dtype_size(h->dtype), blocks = 1;
  for (int i = 0; i < h->ndim; i++) {
    int pieces = 1 + (size > (size_t)i ? data[size - 1 - i] % 4 : 0);
    if (blocks * pieces > 256) pieces = 1;
    blocks *= pieces;
    chunks[i] = h->shape[i] / pieces + 1;
  }
  cask_array *a = NULL;
  if (cask_read_npy(ctx, path, chunks, &a) != CASK_OK) {
    fprintf(stderr, "the parser accepted what read_npy refuses: %s\n", cask_ctx_errmsg(ctx));
    abort();
  }
  uint8_t *got = malloc((size_t)h->data_bytes + 1), want[8];
  int rc = cask_compute(a, got, (size_t)h->data_bytes);
  if (rc != CASK_OK) {
    fprintf(stderr, "compute failed: %s\n", cask_ctx_errmsg(ctx));
    abort();
  }
  size_t w = cask_dtype_size(h->dtype);
  for (int64_t c = 0; c < n; c++) {
    decode(h, data, c, want);
    if (memcmp(got + c * (int64_t)w, want, w)) {
      fprintf(stderr, "element %lld differs from the direct decoding\n", (long long)c);
      abort();
    }
  }
  free(got);
  cask_array_release(a);
}

/* The header cask writes for this dtype and shape reads back as them. */
static void check_writer_header(const cask__npy_header *h) {
  char buf[2048], err[256];
  size_t len = cask__npy_make_header(h->dtype, h->ndim, h->shape, buf, sizeof buf);
  cask__npy_header back;
  if (!len || len % 64 || cask__npy_parse(buf, len, &back, err, sizeof err) != CASK_OK ||
      back.dtype != h->dtype || back.ndim != h->ndim || back.fortran || back.data_off != (int64_t)len ||
      memcmp(back.shape, h->shape, sizeof h->shape[0] * (size_t)h->ndim)) {
    fprintf(stderr, "the written header does not read back: %.*s\n", (int)len, buf);
    abort();
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  cask__npy_header h;
  char err[1024] = "";
  int rc = cask__npy_parse(data, size, &h, err, sizeof err);
  unsigned long at = 0;
  if (rc != CASK_OK && (rc != CASK_EFORMAT || sscanf(err, "byte %lu:", &at) != 1 || at > size)) {
    fprintf(stderr, "bad refusal %s: %s\n", cask_err_name(rc), err);
    abort();
  }
  if (rc == CASK_OK && (h.ndim > CASK_MAX_NDIM || h.data_off > (int64_t)size || h.data_off < 10 ||
                        cask_dtype_size(h.dtype) == 0))
    abort();
  put_file(data, size);
  cask_array *a = NULL;
  int rrc = cask_read_npy(ctx, path, NULL, &a);
  int complete = rc == CASK_OK && h.data_bytes <= (int64_t)size - h.data_off;
  if (rrc != (complete ? CASK_OK : CASK_EFORMAT) || (rrc && (a || !strstr(cask_ctx_errmsg(ctx), "byte ")))) {
    fprintf(stderr, "read_npy gave %s (%s), the parser %s\n", cask_err_name(rrc), cask_ctx_errmsg(ctx),
            cask_err_name(rc));
    abort();
  }
  cask_array_release(a);
  if (complete) {
    check_writer_header(&h);
    if (h.data_bytes <= (1 << 20)) check_values(&h, data, size);
  }
  return 0;
}
