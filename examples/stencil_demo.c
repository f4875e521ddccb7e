/* stencil_demo.c - a user kernel with a halo: the 5-point Laplacian of a
 * chunked random 2-d array with cask_map_overlap (depth 1 on both axes,
 * edge values repeated beyond the array: the 'nearest' boundary), checked
 * against a plain loop over the whole array.
 * Usage: stencil_demo [N] [CHUNK]   (an N x N array in CHUNK x CHUNK blocks) */
#include <cask/cask.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

/* The kernel: in[0] is the block padded by info->depth elements on each
 * side (the halo), out the block itself. Runs on any worker thread. */
static int laplacian(void *user, const cask_block *const *in, int nin, cask_block *out,
                     const cask_block_info *info) {
  const double *p = cask_block_data(in[0]);
  double *o = cask_block_data(out);
  int64_t pw = cask_block_shape(in[0])[1]; /* padded row length */
  int64_t rows = cask_block_shape(out)[0], cols = cask_block_shape(out)[1];
  int64_t d0 = info->depth[0], d1 = info->depth[1];
  for (int64_t i = 0; i < rows; i++)
    for (int64_t j = 0; j < cols; j++) {
      const double *c = p + (i + d0) * pw + (j + d1);
      o[i * cols + j] = c[-pw] + c[pw] + c[-1] + c[1] - 4 * c[0];
    }
  return 0;
}

static int check(cask_ctx *ctx, int rc, const char *what) {
  if (rc) fprintf(stderr, "stencil_demo: %s: %s: %s\n", what, cask_strerror(rc), cask_ctx_errmsg(ctx));
  return rc;
}

int main(int argc, char **argv) {
  int64_t n = argc > 1 ? atoll(argv[1]) : 1000;
  int64_t chunk = argc > 2 ? atoll(argv[2]) : 256;
  if (n < 1 || chunk < 1) return 2;
  cask_ctx *ctx;
  if (cask_ctx_new(NULL, &ctx)) return 1;
  int64_t shape[2] = {n, n}, chunks[2] = {chunk, chunk}, depth[2] = {1, 1};
  cask_array *a, *lap;
  cask_map_spec spec = {laplacian, NULL, "laplacian", 1, CASK_F64, NULL};
  if (check(ctx, cask_random_uniform(ctx, 1, CASK_F64, 2, shape, chunks, &a), "random") ||
      check(ctx, cask_map_overlap(&spec, a, depth, CASK_BOUNDARY_NEAREST, 0, &lap), "map_overlap"))
    return 1;
  size_t nbytes = (size_t)(n * n) * sizeof(double);
  double *x = malloc(nbytes), *got = malloc(nbytes);
  if (!x || !got || check(ctx, cask_compute(a, x, nbytes), "compute a") ||
      check(ctx, cask_compute(lap, got, nbytes), "compute laplacian"))
    return 1;
  /* The loop: the same sum in the same order, so the bits must agree. */
  double worst = 0;
  for (int64_t i = 0; i < n; i++)
    for (int64_t j = 0; j < n; j++) {
      int64_t up = i > 0 ? i - 1 : 0, down = i < n - 1 ? i + 1 : n - 1;
      int64_t left = j > 0 ? j - 1 : 0, right = j < n - 1 ? j + 1 : n - 1;
      double want = x[up * n + j] + x[down * n + j] + x[i * n + left] + x[i * n + right] - 4 * x[i * n + j];
      double err = fabs(got[i * n + j] - want);
      worst = err > worst ? err : worst;
    }
  printf("5-point Laplacian of a %lld x %lld float64 array in %lld x %lld blocks (nearest boundary): "
         "largest difference from the loop %g: %s\n",
         (long long)n, (long long)n, (long long)chunk, (long long)chunk, worst,
         worst == 0 ? "matches the loop" : "DIFFERS from the loop");
  cask_array_release(lap);
  cask_array_release(a);
  cask_ctx_free(ctx);
  free(x);
  free(got);
  return worst == 0 ? 0 : 1;
}
