/* test_hdf5.c - HDF5 and NetCDF-4 files (collections/array/io/hdf5*.c,
 * netcdf*.c, h5lib.c): every dtype written and read back through both
 * formats with odd chunks, gzip and shuffle; bad files, missing datasets
 * and variables, a file changed under a lazy array, a failed write leaving
 * nothing; fused elementwise writers spilling nothing under a small limit;
 * blocks dropped and read again under a memory limit; the lock's
 * counters. The TCase "python" is driven by tests/hdf5_check.py, which
 * writes files with h5py and netCDF4 and checks what cask writes with
 * h5py and xarray. */
#define _GNU_SOURCE
#include <check.h>
#include <dirent.h>
#include <fcntl.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cask/cask.h"
#include "test-util.h"

static char dir[256];
static cask_ctx *ctx;

static void setup(void) {
  test_tmpdir(dir, sizeof dir, "hdf5");
  ck_assert(cask_ctx_new(&(cask_options){.threads = 3}, &ctx) == CASK_OK);
}

/* The fixture's directory holds files only (no test makes a directory). */
static void teardown(void) {
  cask_ctx_free(ctx);
  ctx = NULL;
  DIR *h = opendir(dir);
  for (struct dirent *e; h && (e = readdir(h));)
    if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) unlinkat(dirfd(h), e->d_name, 0);
  if (h) closedir(h);
  rmdir(dir);
}

/* name in the fixture's directory; a ring of four, so one call can name
 * several files */
static const char *path_of(const char *name) {
  static char ring[4][600];
  static unsigned next;
  char *p = ring[next++ % 4];
  snprintf(p, 600, "%s/%s", dir, name);
  return p;
}

static int count_entries(const char *d) {
  DIR *h = opendir(d);
  int n = 0;
  for (struct dirent *e; h && (e = readdir(h));) n += e->d_name[0] != '.' || strstr(e->d_name, ".tmp-") != NULL;
  if (h) closedir(h);
  return n;
}

/* An array of dtype dt over shape 13 x 7 x 5 whose values use the dtype's
 * range (NaN and infinities in floats), blocks 4 x 3 x 5. */
static cask_array *values(cask_dtype dt) {
  static const int64_t shape[3] = {13, 7, 5}, chunks[3] = {4, 3, 5};
  cask_array *u = NULL, *x = NULL;
  ck_assert(cask_random_uniform(ctx, 7 + dt, CASK_F64, 3, shape, chunks, &u) == CASK_OK);
  double lo = dt == CASK_U8 || dt == CASK_BOOL ? 0 : -1e9, hi = dt == CASK_U8 ? 255 : dt == CASK_BOOL ? 1.5 : 1e9;
  cask_array *s = NULL;
  ck_assert(cask_binary_scalar(CASK_MUL, u, hi - lo, 0, &s) == CASK_OK);
  cask_array *t = NULL;
  ck_assert(cask_binary_scalar(CASK_ADD, s, lo, 0, &t) == CASK_OK);
  if (dt == CASK_F64 || dt == CASK_F32) { /* NaN where u < 0.05 */
    cask_array *c = NULL, *nan = NULL, *w = NULL;
    ck_assert(cask_binary_scalar(CASK_LESS, u, 0.05, 0, &c) == CASK_OK);
    ck_assert(cask_full(ctx, CASK_F64, NAN, 3, shape, chunks, &nan) == CASK_OK);
    ck_assert(cask_where(c, nan, t, &w) == CASK_OK);
    cask_array_release(c), cask_array_release(nan), cask_array_release(t);
    t = w;
  }
  ck_assert(cask_astype(t, dt, &x) == CASK_OK);
  cask_array_release(u), cask_array_release(s), cask_array_release(t);
  return x;
}

static void *compute(cask_array *a) {
  size_t n = (size_t)cask_array_size(a) * cask_dtype_size(cask_array_dtype(a));
  void *buf = malloc(n ? n : 1);
  ck_assert_msg(cask_compute(a, buf, n) == CASK_OK, "compute: %s", cask_ctx_errmsg(ctx));
  return buf;
}

static void same(cask_array *a, cask_array *b, const char *what) {
  ck_assert_int_eq(cask_array_dtype(a), cask_array_dtype(b));
  ck_assert_int_eq(cask_array_ndim(a), cask_array_ndim(b));
  for (int i = 0; i < cask_array_ndim(a); i++) ck_assert_int_eq(cask_array_shape(a)[i], cask_array_shape(b)[i]);
  size_t n = (size_t)cask_array_size(a) * cask_dtype_size(cask_array_dtype(a));
  void *x = compute(a), *y = compute(b);
  ck_assert_msg(!memcmp(x, y, n), "%s: the values differ", what);
  free(x), free(y);
}

/* ---- round trips ---------------------------------------------------------- */

START_TEST(every_dtype_round_trips_through_hdf5_with_odd_chunks) {
  static const int64_t odd[3] = {5, 2, 3};
  for (int dt = 0; dt < CASK_DTYPE_COUNT; dt++) {
    cask_array *x = values((cask_dtype)dt), *y = NULL, *z = NULL;
    const char *p = path_of("x.h5");
    cask_hdf5_options o = {.gzip_level = dt % 2 ? 4 : 0, .shuffle = dt % 3 == 0};
    ck_assert_msg(cask_to_hdf5(x, p, "/group/sub/x", &o) == CASK_OK, "to_hdf5: %s", cask_ctx_errmsg(ctx));
    ck_assert_msg(cask_read_hdf5(ctx, p, "/group/sub/x", odd, &y) == CASK_OK, "%s", cask_ctx_errmsg(ctx));
    ck_assert_msg(cask_read_hdf5(ctx, p, "group/sub/x", NULL, &z) == CASK_OK, "%s", cask_ctx_errmsg(ctx));
    /* the file's 4 x 3 x 5 chunks, grown along the first axis */
    ck_assert_int_eq(cask_array_chunks(z)[0], 13);
    ck_assert_int_eq(cask_array_chunks(z)[1], 3);
    ck_assert_int_eq(cask_array_chunks(z)[2], 5);
    same(x, y, cask_dtype_name((cask_dtype)dt));
    same(x, z, cask_dtype_name((cask_dtype)dt));
    cask_array_release(x), cask_array_release(y), cask_array_release(z);
  }
  ck_assert_int_eq(count_entries(dir), 1); /* no temporary left */
}
END_TEST

START_TEST(every_dtype_round_trips_through_netcdf) {
  static const int64_t odd[3] = {6, 7, 1};
  static const char *const dims[3] = {"time", "lat", "lon"};
  for (int dt = 0; dt < CASK_DTYPE_COUNT; dt++) {
    cask_array *x = values((cask_dtype)dt), *y = NULL;
    const char *p = path_of("x.nc");
    cask_hdf5_options o = {.gzip_level = dt % 2 ? 0 : 1, .shuffle = 1, .dims = dims};
    ck_assert_msg(cask_to_netcdf(x, p, "v", &o) == CASK_OK, "to_netcdf: %s", cask_ctx_errmsg(ctx));
    ck_assert_msg(cask_read_netcdf(ctx, p, "v", odd, &y) == CASK_OK, "%s", cask_ctx_errmsg(ctx));
    same(x, y, cask_dtype_name((cask_dtype)dt));
    cask_array_release(x), cask_array_release(y);
  }
}
END_TEST

START_TEST(scalars_and_empty_arrays_round_trip) {
  cask_array *s = NULL, *e = NULL, *r = NULL;
  ck_assert(cask_full(ctx, CASK_F64, 2.5, 0, NULL, NULL, &s) == CASK_OK);
  ck_assert(cask_to_hdf5(s, path_of("s.h5"), "s", NULL) == CASK_OK);
  ck_assert(cask_read_hdf5(ctx, path_of("s.h5"), "s", NULL, &r) == CASK_OK);
  double v = 0;
  ck_assert(cask_compute_scalar(r, &v) == CASK_OK);
  ck_assert(v == 2.5);
  cask_array_release(r);
  int64_t shape[2] = {0, 4};
  ck_assert(cask_zeros(ctx, CASK_I32, 2, shape, NULL, &e) == CASK_OK);
  ck_assert(cask_to_hdf5(e, path_of("e.h5"), "e", &(cask_hdf5_options){.gzip_level = 9}) == CASK_OK);
  ck_assert_msg(cask_read_hdf5(ctx, path_of("e.h5"), "e", NULL, &r) == CASK_OK, "%s", cask_ctx_errmsg(ctx));
  ck_assert_int_eq(cask_array_shape(r)[0], 0);
  ck_assert_int_eq(cask_array_shape(r)[1], 4);
  cask_array_release(r), cask_array_release(s), cask_array_release(e);
}
END_TEST

/* cask_store: an HDF5 file, a NetCDF file and a buffer of one step in one
 * run; each file holds what the buffer holds. */
START_TEST(one_run_writes_hdf5_netcdf_and_a_buffer) {
  cask_array *x = values(CASK_F32), *y = NULL, *h = NULL, *n = NULL;
  ck_assert(cask_binary_scalar(CASK_MUL, x, 2, 0, &y) == CASK_OK);
  size_t nbytes = (size_t)cask_array_size(y) * sizeof(float);
  float *buf = malloc(nbytes);
  cask_hdf5_options gz = {.gzip_level = 1, .shuffle = 1};
  cask_target t[] = {CASK_TO_HDF5(y, path_of("y.h5"), "/a/y", &gz), CASK_TO_NETCDF(y, path_of("y.nc"), "y", NULL),
                     CASK_TO_BUFFER(y, buf, nbytes)};
  ck_assert_msg(cask_store(3, t, NULL) == CASK_OK, "%s", cask_ctx_errmsg(ctx));
  ck_assert(cask_read_hdf5(ctx, path_of("y.h5"), "/a/y", NULL, &h) == CASK_OK);
  ck_assert(cask_read_netcdf(ctx, path_of("y.nc"), "y", NULL, &n) == CASK_OK);
  void *hv = compute(h), *nv = compute(n);
  ck_assert(!memcmp(hv, buf, nbytes) && !memcmp(nv, buf, nbytes));
  free(hv), free(nv), free(buf);
  cask_array_release(x), cask_array_release(y), cask_array_release(h), cask_array_release(n);
}
END_TEST

/* ---- errors --------------------------------------------------------------- */

static void expect_fail(int rc, int code, const char *a, const char *b) {
  const char *m = cask_ctx_errmsg(ctx);
  ck_assert_msg(rc == code, "rc %s (%s), expected %s", cask_err_name(rc), m, cask_err_name(code));
  ck_assert_msg(strstr(m, a) && (!b || strstr(m, b)), "message '%s' lacks '%s' or '%s'", m, a, b ? b : "");
}

START_TEST(bad_files_and_names_fail_before_anything_runs_naming_them) {
  cask_array *a = NULL, *x = values(CASK_F64);
  ck_assert(cask_to_hdf5(x, path_of("x.h5"), "/d", NULL) == CASK_OK);
  expect_fail(cask_read_hdf5(ctx, path_of("none.h5"), "/d", NULL, &a), CASK_EIO, "none.h5", "No such file");
  expect_fail(cask_read_hdf5(ctx, path_of("x.h5"), "/nope", NULL, &a), CASK_EFORMAT, "x.h5", "no /nope in the file (/ holds d)");
  expect_fail(cask_read_hdf5(ctx, path_of("x.h5"), "/d/e", NULL, &a), CASK_EFORMAT, "/d/e", "/d is a dataset, not a group");
  expect_fail(cask_read_hdf5(ctx, path_of("x.h5"), "", NULL, &a), CASK_EINVAL, "x.h5", "dataset");
  expect_fail(cask_read_netcdf(ctx, path_of("x.h5"), "nope", NULL, &a), CASK_EFORMAT, "x.h5", "nope");
  ck_assert(a == NULL);
  FILE *f = fopen(path_of("text.h5"), "w");
  fputs("not an HDF5 file at all\n", f);
  fclose(f);
  expect_fail(cask_read_hdf5(ctx, path_of("text.h5"), "/d", NULL, &a), CASK_EFORMAT, "text.h5", "not an HDF5 file");
  expect_fail(cask_read_netcdf(ctx, path_of("text.h5"), "d", NULL, &a), CASK_EFORMAT, "text.h5", "NetCDF");
  /* truncated: the superblock is there, the rest is not */
  struct stat st;
  ck_assert(stat(path_of("x.h5"), &st) == 0);
  ck_assert(truncate(path_of("x.h5"), st.st_size / 2) == 0);
  int rc = cask_read_hdf5(ctx, path_of("x.h5"), "/d", NULL, &a);
  if (rc == CASK_OK) { /* the metadata survived: reading the data fails */
    double *buf = malloc(13 * 7 * 5 * 8);
    rc = cask_compute(a, buf, 13 * 7 * 5 * 8);
    free(buf);
    cask_array_release(a);
  }
  ck_assert_msg(rc != CASK_OK && strstr(cask_ctx_errmsg(ctx), "x.h5"), "truncated: %s", cask_ctx_errmsg(ctx));
  int64_t shape[1] = {5};
  cask_array *u = NULL;
  ck_assert(cask_zeros(ctx, CASK_U8, 1, shape, NULL, &u) == CASK_OK);
  expect_fail(cask_to_hdf5(u, path_of("no/such/dir.h5"), "/u", NULL), CASK_EIO, "no/such/dir.h5", NULL);
  expect_fail(cask_to_hdf5(u, path_of("u.h5"), "/u", &(cask_hdf5_options){.gzip_level = 12}), CASK_EINVAL, "gzip level 12", NULL);
  static const char *const twice[3] = {"t", "y", "t"};
  expect_fail(cask_to_netcdf(x, path_of("u.nc"), "u", &(cask_hdf5_options){.dims = twice}), CASK_EINVAL, "u.nc",
              "'t' is given twice");
  cask_array_release(u), cask_array_release(x);
}
END_TEST

/* A lazy array over a file replaced since: the run fails naming the file,
 * and an output it was going to leaves nothing behind. */
START_TEST(a_changed_file_fails_the_run_and_the_output_is_not_written) {
  cask_array *x = values(CASK_I32), *a = NULL, *y = NULL;
  ck_assert(cask_to_hdf5(x, path_of("in.h5"), "/d", NULL) == CASK_OK);
  ck_assert(cask_read_hdf5(ctx, path_of("in.h5"), "/d", NULL, &a) == CASK_OK);
  ck_assert(cask_binary_scalar(CASK_ADD, x, 1, 0, &y) == CASK_OK);
  usleep(20000); /* another mtime */
  ck_assert(cask_to_hdf5(y, path_of("in.h5"), "/d", &(cask_hdf5_options){.gzip_level = 1}) == CASK_OK);
  int rc = cask_to_hdf5(a, path_of("out.h5"), "/d", NULL);
  ck_assert_msg(rc != CASK_OK && strstr(cask_ctx_errmsg(ctx), "changed since"), "%s", cask_ctx_errmsg(ctx));
  rc = cask_to_netcdf(a, path_of("out.nc"), "d", NULL);
  ck_assert_msg(rc != CASK_OK && strstr(cask_ctx_errmsg(ctx), "in.h5"), "%s", cask_ctx_errmsg(ctx));
  ck_assert_int_eq(count_entries(dir), 1); /* in.h5 alone: no out.h5, no temporary */
  cask_array_release(x), cask_array_release(a), cask_array_release(y);
}
END_TEST

/* ---- under a memory limit ------------------------------------------------- */

/* x - x.mean() over an HDF5 file ten times the limit: the blocks read in
 * the first pass are dropped and read again in the second, and the result
 * is the same as without a limit. */
START_TEST(blocks_are_dropped_and_read_again_under_a_memory_limit) {
  static const int64_t shape[2] = {400, 1000}, chunks[2] = {20, 1000};
  cask_array *u = NULL;
  ck_assert(cask_random_uniform(ctx, 5, CASK_F64, 2, shape, chunks, &u) == CASK_OK);
  ck_assert(cask_to_hdf5(u, path_of("big.h5"), "/u", NULL) == CASK_OK);
  cask_ctx *small = NULL;
  uint64_t limit = 400 * 1000 * 8 / 10;
  /* every block of a pure root dropped, not only those the cost model
   * picks (timings differ under sanitizers): what is tested is that HDF5
   * blocks can be dropped and read again (this test runs in its own process) */
  setenv("CASK_DROP", "always", 1);
  ck_assert(cask_ctx_new(&(cask_options){.threads = 2, .memory_limit = limit, .spill_dir = dir}, &small) == CASK_OK);
  cask_array *a = NULL, *m = NULL, *d = NULL;
  ck_assert_msg(cask_read_hdf5(small, path_of("big.h5"), "/u", chunks, &a) == CASK_OK, "%s", cask_ctx_errmsg(small));
  ck_assert(cask_reduce(CASK_MEAN, a, NULL, 0, 0, &m) == CASK_OK);
  ck_assert(cask_binary(CASK_SUB, a, m, &d) == CASK_OK);
  cask_hdf5_lock_stats before, after;
  cask_hdf5_lock_cost(&before);
  ck_assert_msg(cask_to_npy(d, path_of("d.npy")) == CASK_OK, "%s", cask_ctx_errmsg(small));
  cask_hdf5_lock_cost(&after);
  cask_run_stats st;
  cask_runtime_last_stats(cask_ctx_runtime(small), &st);
  ck_assert_msg(st.dropped_blocks > 0 && st.remade_blocks > 0, "%llu dropped, %llu read again",
                (unsigned long long)st.dropped_blocks, (unsigned long long)st.remade_blocks);
  ck_assert_msg(after.acquired >= before.acquired + 20 + st.remade_blocks, "lock taken %llu times",
                (unsigned long long)(after.acquired - before.acquired));
  ck_assert(after.held_ns > before.held_ns && after.wait_ns >= before.wait_ns);
  cask_array *r = NULL, *m2 = NULL, *d2 = NULL, *back = NULL;
  ck_assert(cask_reduce(CASK_MEAN, u, NULL, 0, 0, &m2) == CASK_OK);
  ck_assert(cask_binary(CASK_SUB, u, m2, &d2) == CASK_OK);
  ck_assert(cask_read_npy(ctx, path_of("d.npy"), NULL, &back) == CASK_OK);
  ck_assert(cask_binary(CASK_SUB, back, d2, &r) == CASK_OK);
  cask_array *mx = NULL, *ab = NULL;
  ck_assert(cask_unary(CASK_ABS, r, &ab) == CASK_OK);
  ck_assert(cask_reduce(CASK_MAX, ab, NULL, 0, 0, &mx) == CASK_OK);
  double err = 1;
  ck_assert(cask_compute_scalar(mx, &err) == CASK_OK);
  ck_assert_msg(err < 1e-12, "max error %g", err);
  cask_array *arrs[] = {u, a, m, d, r, m2, d2, back, mx, ab};
  for (size_t i = 0; i < sizeof arrs / sizeof arrs[0]; i++) cask_array_release(arrs[i]);
  cask_ctx_free(small);
}
END_TEST

/* ---- raw chunks decoded outside the lock ---------------------------------- */

/* h5py writes gzip+shuffle datasets with ragged edge chunks, a chunk never
 * written (the fill value) and chunks written raw with a filter skipped
 * (H5Dwrite_chunk's mask), and what H5Dread returns for them (h5py reads
 * through it) beside; cask's reads, decoded outside the lock, are equal,
 * and two threads hold the lock for less than the run's time. */
static uint64_t test_now_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

static const char *const raw_py =
    "import sys, zlib\n"
    "try:\n"
    "    import numpy as np, h5py\n"
    "except ImportError:\n"
    "    sys.exit(77)\n"
    "d = sys.argv[1]\n"
    "with h5py.File(d + '/raw.h5', 'w') as f:\n"
    "    for name, dt, fill in (('f', 'f8', -7.5), ('i', 'i4', 42), ('s', 'i2', -3)):\n"
    "        x = f.create_dataset(name, (203, 157), dtype=dt, chunks=(37, 40), compression='gzip', shuffle=True, fillvalue=fill)\n"
    "        v = (np.arange(203 * 157).reshape(203, 157) * 7 % 1000 - 300).astype(dt)\n"
    "        x[:37, :] = v[:37, :]\n"
    "        x[74:, :] = v[74:, :]\n"
    "        x[37:74, :40] = v[37:74, :40]\n"
    "        x[37:74, 80:] = v[37:74, 80:]\n"
    "        c = np.ascontiguousarray(v[:37, 40:80] + 1)\n"
    "        x.id.write_direct_chunk((0, 40), zlib.compress(c.tobytes()), filter_mask=1)\n"
    "        c = np.ascontiguousarray(v[:37, 80:120] + 2)\n"
    "        x.id.write_direct_chunk((0, 80), c.tobytes(), filter_mask=3)\n"
    "        np.save(d + '/raw_' + name + '.npy', x[...].astype('i4' if dt == 'i2' else dt))\n";

/* The writers of an elementwise array absorb it (fusion: one task per
 * block computes and writes it) and run as blocks complete, so a limit of
 * two blocks spills nothing and holds nothing back. A chain of writers
 * (each after the one before it, so that chunks are laid out in order)
 * kept fusion from merging them: 2 tasks per block, blocks spilled while
 * they waited their turn. The files hold the values. */
START_TEST(fused_elementwise_writers_spill_nothing_under_a_small_limit) {
  static const int64_t shape[2] = {240, 500}, chunks[2] = {10, 500}; /* 24 blocks of 40 KB */
  cask_ctx *small = NULL;
  ck_assert(cask_ctx_new(&(cask_options){.threads = 2, .memory_limit = 2 * 10 * 500 * 8, .spill_dir = dir}, &small) ==
            CASK_OK);
  cask_hdf5_options gz = CASK_HDF5_OPTIONS_DEFAULTS;
  gz.gzip_level = 1, gz.shuffle = 1;
  for (int fmt = 0; fmt < 2; fmt++) {
    cask_array *u = NULL, *s = NULL, *e = NULL, *y = NULL, *back = NULL;
    ck_assert(cask_random_normal(small, 11, CASK_F64, 2, shape, chunks, &u) == CASK_OK);
    ck_assert(cask_unary(CASK_SIN, u, &s) == CASK_OK);
    ck_assert(cask_unary(CASK_EXP, u, &e) == CASK_OK);
    ck_assert(cask_binary(CASK_MUL, s, e, &y) == CASK_OK);
    const char *path = path_of(fmt ? "fused.nc" : "fused.h5");
    int rc = fmt ? cask_to_netcdf(y, path, "y", &gz) : cask_to_hdf5(y, path, "/y", &gz);
    ck_assert_msg(rc == CASK_OK, "%s", cask_ctx_errmsg(small));
    cask_run_stats st;
    cask_runtime_last_stats(cask_ctx_runtime(small), &st);
    ck_assert_msg(st.tasks_run == 24, "%s: %llu tasks run, want 24 (one fused task per block)", path,
                  (unsigned long long)st.tasks_run);
    ck_assert_msg(st.spilled_bytes == 0 && st.held_back == 0, "%s: spilled %llu bytes, roots held back %llu times",
                  path, (unsigned long long)st.spilled_bytes, (unsigned long long)st.held_back);
    rc = fmt ? cask_read_netcdf(ctx, path, "y", NULL, &back) : cask_read_hdf5(ctx, path, "/y", NULL, &back);
    ck_assert_msg(rc == CASK_OK, "%s", cask_ctx_errmsg(ctx));
    same(back, y, path);
    cask_array *arrs[] = {u, s, e, y, back};
    for (size_t i = 0; i < sizeof arrs / sizeof arrs[0]; i++) cask_array_release(arrs[i]);
  }
  cask_ctx_free(small);
}
END_TEST

START_TEST(gzip_shuffle_chunks_decode_outside_the_lock_as_h5dread_does) {
  char cmd[1200], p[700];
  snprintf(p, sizeof p, "%s/raw.py", dir);
  FILE *f = fopen(p, "w");
  ck_assert(f != NULL);
  fputs(raw_py, f);
  fclose(f);
  snprintf(cmd, sizeof cmd, "/usr/bin/python3 %s %s", p, dir);
  int st = system(cmd);
  if (WIFEXITED(st) && WEXITSTATUS(st) == 77) return; /* no h5py */
  ck_assert_msg(st == 0, "%s: %d", cmd, st);
  unlink(p);
  cask_ctx *two = NULL;
  ck_assert(cask_ctx_new(&(cask_options){.threads = 2}, &two) == CASK_OK);
  static const int64_t odd[2] = {50, 33}, whole[2] = {203, 157};
  const int64_t *chunkings[3] = {NULL, odd, whole};
  const char *names[3] = {"f", "i", "s"};
  for (int k = 0; k < 3; k++) {
    cask_array *want = NULL;
    ck_assert(cask_read_npy(two, path_of(k == 0 ? "raw_f.npy" : k == 1 ? "raw_i.npy" : "raw_s.npy"), NULL, &want) ==
              CASK_OK);
    size_t n = (size_t)cask_array_size(want) * cask_dtype_size(cask_array_dtype(want));
    void *w = malloc(n), *g = malloc(n);
    ck_assert(cask_compute(want, w, n) == CASK_OK);
    for (int c = 0; c < 3; c++) {
      cask_array *got = NULL;
      ck_assert_msg(cask_read_hdf5(two, path_of("raw.h5"), names[k], chunkings[c], &got) == CASK_OK, "%s",
                    cask_ctx_errmsg(two));
      ck_assert_int_eq(cask_array_dtype(got), cask_array_dtype(want));
      cask_hdf5_lock_stats before, after;
      cask_hdf5_lock_cost(&before);
      uint64_t t0 = test_now_ns();
      ck_assert_msg(cask_compute(got, g, n) == CASK_OK, "%s", cask_ctx_errmsg(two));
      uint64_t wall = test_now_ns() - t0;
      cask_hdf5_lock_cost(&after);
      ck_assert_msg(!memcmp(w, g, n), "%s, chunking %d: cask's read differs from H5Dread's", names[k], c);
      ck_assert(after.acquired > before.acquired);
      ck_assert_msg(after.held_ns - before.held_ns < wall, "lock held %llu ns of a %llu ns run",
                    (unsigned long long)(after.held_ns - before.held_ns), (unsigned long long)wall);
      cask_array_release(got);
    }
    free(w), free(g);
    cask_array_release(want);
  }
  cask_ctx_free(two);
}
END_TEST

/* ---- h5py, netCDF4 and xarray (driven by tests/hdf5_check.py) ----------- */

static void odd_chunks(const cask_array *a, int64_t *odd) {
  for (int i = 0; i < cask_array_ndim(a); i++) odd[i] = cask_array_shape(a)[i] / 2 + 1;
}

/* One manifest line: read the file with odd chunks into read_<name>.npy and
 * write it back; or expect an error (expected: '_' for spaces). */
static void run_line(const char *pydir, const char *kind, const char *name, const char *file, const char *obj,
                     char *extra) {
  char p[900];
  cask_array *a = NULL, *b = NULL;
  int nc = !strcmp(kind, "nc") || !strcmp(kind, "ncerr");
  if (!strcmp(kind, "err") || !strcmp(kind, "ncerr")) {
    int rc = nc ? cask_read_netcdf(ctx, file, obj, NULL, &a) : cask_read_hdf5(ctx, file, obj, NULL, &a);
    if (rc == CASK_OK) { /* the metadata read: the data must fail */
      snprintf(p, sizeof p, "%s/read_%s.npy", pydir, name);
      rc = cask_to_npy(a, p);
      cask_array_release(a);
      ck_assert_msg(access(p, F_OK) != 0, "%s: a failed read left %s", name, p);
    }
    const char *m = cask_ctx_errmsg(ctx);
    for (char *c = extra; *c; c++) *c = *c == '_' ? ' ' : *c;
    ck_assert_msg(rc != CASK_OK && strstr(m, file) && strstr(m, extra), "%s: rc %s, message '%s' (wanted '%s')", name,
                  cask_err_name(rc), m, extra);
    snprintf(p, sizeof p, "%s/err_%s.txt", pydir, name);
    FILE *f = fopen(p, "w");
    fputs(m, f);
    fclose(f);
    return;
  }
  int rc = nc ? cask_read_netcdf(ctx, file, obj, NULL, &a) : cask_read_hdf5(ctx, file, obj, NULL, &a);
  ck_assert_msg(rc == CASK_OK, "%s: %s", name, cask_ctx_errmsg(ctx));
  int64_t odd[CASK_MAX_NDIM];
  odd_chunks(a, odd);
  rc = nc ? cask_read_netcdf(ctx, file, obj, odd, &b) : cask_read_hdf5(ctx, file, obj, odd, &b);
  ck_assert_msg(rc == CASK_OK, "%s: %s", name, cask_ctx_errmsg(ctx));
  same(a, b, name);
  snprintf(p, sizeof p, "%s/read_%s.npy", pydir, name);
  ck_assert_msg(cask_to_npy(b, p) == CASK_OK, "%s: %s", name, cask_ctx_errmsg(ctx));
  if (nc) {
    const char *dims[CASK_MAX_NDIM];
    int n = 0;
    for (char *t = strtok(extra, ","); t && n < CASK_MAX_NDIM; t = strtok(NULL, ",")) dims[n++] = t;
    ck_assert_int_eq(n, cask_array_ndim(b));
    snprintf(p, sizeof p, "%s/out_%s.nc", pydir, name);
    const char *base = strrchr(obj, '/') ? strrchr(obj, '/') + 1 : obj; /* a variable in a group: in the root */
    rc = cask_to_netcdf(b, p, base, &(cask_hdf5_options){.gzip_level = 2, .shuffle = 1, .dims = dims});
  } else {
    snprintf(p, sizeof p, "%s/out_%s.h5", pydir, name);
    rc = cask_to_hdf5(b, p, "/data", &(cask_hdf5_options){.gzip_level = 4, .shuffle = 1});
  }
  ck_assert_msg(rc == CASK_OK, "%s: %s", name, cask_ctx_errmsg(ctx));
  cask_array_release(a), cask_array_release(b);
}

START_TEST(python_reads_what_cask_writes_and_the_reverse) {
  const char *pydir = getenv("CASK_HDF5_DIR");
  if (!pydir) return;
  char p[900], line[2048];
  snprintf(p, sizeof p, "%s/manifest.txt", pydir);
  FILE *f = fopen(p, "r");
  ck_assert_msg(f != NULL, "%s: %s", p, strerror(errno));
  int n = 0;
  while (fgets(line, sizeof line, f)) {
    char kind[16], name[128], file[900], obj[256], extra[256] = "";
    if (sscanf(line, "%15s %127s %899s %255s %255s", kind, name, file, obj, extra) < 4) continue;
    run_line(pydir, kind, name, file, obj, extra);
    n++;
  }
  fclose(f);
  ck_assert_msg(n > 0, "an empty manifest in %s", pydir);
}
END_TEST

Suite *hdf5_suite(void) {
  Suite *s = suite_create("hdf5");
#ifdef CASK_TEST_NO_HDF5
  return s; /* a build with CASK_HDF5=OFF has no HDF5 files to test */
#endif
  TCase *tc = tcase_create("files");
  tcase_add_checked_fixture(tc, setup, teardown);
  tcase_set_timeout(tc, 120);
  tcase_add_test(tc, every_dtype_round_trips_through_hdf5_with_odd_chunks);
  tcase_add_test(tc, every_dtype_round_trips_through_netcdf);
  tcase_add_test(tc, scalars_and_empty_arrays_round_trip);
  tcase_add_test(tc, one_run_writes_hdf5_netcdf_and_a_buffer);
  tcase_add_test(tc, bad_files_and_names_fail_before_anything_runs_naming_them);
  tcase_add_test(tc, a_changed_file_fails_the_run_and_the_output_is_not_written);
  tcase_add_test(tc, blocks_are_dropped_and_read_again_under_a_memory_limit);
  tcase_add_test(tc, gzip_shuffle_chunks_decode_outside_the_lock_as_h5dread_does);
  tcase_add_test(tc, fused_elementwise_writers_spill_nothing_under_a_small_limit);
  suite_add_tcase(s, tc);
  tc = tcase_create("python");
  tcase_add_checked_fixture(tc, setup, teardown);
  tcase_set_timeout(tc, 300);
  tcase_add_test(tc, python_reads_what_cask_writes_and_the_reverse);
  suite_add_tcase(s, tc);
  return s;
}
