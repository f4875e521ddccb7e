/* npy_reduction.c - an out-of-core style reduction over a .npy file: write
 * a random (ROWS, COLS) float64 array with cask_to_npy (each block written
 * in place by its own task), read it back lazily with cask_read_npy in
 * blocks of CHUNK rows (each task preads only its rows), reduce it (column
 * sums and the overall mean), and check the results against a plain loop
 * that reads the file with stdio.
 * Usage: npy_reduction [ROWS] [COLS] [CHUNK] */
#include <cask/cask.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static int check(cask_ctx *ctx, int rc, const char *what) {
  if (rc) fprintf(stderr, "npy_reduction: %s: %s: %s\n", what, cask_strerror(rc), cask_ctx_errmsg(ctx));
  return rc;
}

/* The reference: the file read with stdio, summed per column in long
 * double. The header length is bytes 8-9 of a version 1.0 file. */
static int loop_sums(const char *path, int64_t rows, int64_t cols, long double *sums, long double *mag) {
  FILE *f = fopen(path, "rb");
  unsigned char pre[10];
  if (!f || fread(pre, 1, 10, f) != 10 || pre[6] != 1) return -1;
  long data = 10 + (pre[8] | pre[9] << 8);
  double *row = malloc((size_t)cols * sizeof *row);
  int rc = row && fseek(f, data, SEEK_SET) == 0 ? 0 : -1;
  for (int64_t i = 0; i < rows && !rc; i++) {
    if (fread(row, sizeof *row, (size_t)cols, f) != (size_t)cols) rc = -1;
    for (int64_t j = 0; j < cols && !rc; j++) {
      sums[j] += row[j];
      mag[j] += fabs(row[j]);
    }
  }
  free(row);
  fclose(f);
  return rc;
}

int main(int argc, char **argv) {
  int64_t rows = argc > 1 ? atoll(argv[1]) : 1000000, cols = argc > 2 ? atoll(argv[2]) : 8;
  int64_t chunk = argc > 3 ? atoll(argv[3]) : 100000;
  if (rows < 1 || cols < 1 || chunk < 1) return 2;
  char dir[] = "/tmp/cask-npy-example-XXXXXX", path[64];
  if (!mkdtemp(dir)) return 1;
  snprintf(path, sizeof path, "%s/x.npy", dir);
  cask_ctx *ctx;
  if (cask_ctx_new(NULL, &ctx)) return 1;
  int64_t shape[2] = {rows, cols}, wchunks[2] = {chunk / 3 + 1, cols}, rchunks[2] = {chunk, 0};
  cask_array *x = NULL, *y = NULL, *colsum = NULL, *mean = NULL;
  double *got = malloc((size_t)cols * sizeof *got), m = 0;
  long double *sums = calloc((size_t)cols, sizeof *sums), *mag = calloc((size_t)cols, sizeof *mag);
  int bad = !got || !sums || !mag ||
            check(ctx, cask_random_normal(ctx, 42, CASK_F64, 2, shape, wchunks, &x), "random") ||
            check(ctx, cask_to_npy(x, path), "to_npy") ||
            check(ctx, cask_read_npy(ctx, path, rchunks, &y), "read_npy") ||
            check(ctx, cask_reduce(CASK_SUM, y, (int[]){0}, 1, 0, &colsum), "sum") ||
            check(ctx, cask_reduce(CASK_MEAN, y, NULL, 0, 0, &mean), "mean") ||
            check(ctx, cask_compute(colsum, got, (size_t)cols * sizeof *got), "compute sum") ||
            check(ctx, cask_compute_scalar(mean, &m), "compute mean") ||
            loop_sums(path, rows, cols, sums, mag) != 0;
  /* Rounding: a sum's error is bounded by n * eps * sum|x|; allow 1e-12. */
  long double total = 0, total_abs = 0;
  for (int64_t j = 0; !bad && j < cols; j++) {
    bad |= fabsl((long double)got[j] - sums[j]) > 1e-12L * mag[j];
    total += sums[j];
    total_abs += mag[j];
  }
  long double lm = total / (long double)(rows * cols);
  if (!bad) {
    printf("%lld x %lld float64 written by cask_to_npy, read back in blocks of %lld rows\n", (long long)rows,
           (long long)cols, (long long)chunk);
    printf("column 0 sum %.10f (loop %.10Lf), mean %.12f (loop %.12Lf)\n", got[0], sums[0], m, lm);
    bad = fabsl((long double)m - lm) > 1e-12L * total_abs / (long double)(rows * cols);
  }
  printf("%s\n", bad ? "DIFFERS from the loop (or failed)" : "matches the loop");
  cask_array_release(x);
  cask_array_release(y);
  cask_array_release(colsum);
  cask_array_release(mean);
  cask_ctx_free(ctx);
  free(got);
  free(sums);
  free(mag);
  unlink(path);
  rmdir(dir);
  return bad ? 1 : 0;
}
