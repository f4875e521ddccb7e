/* test_array_npy.c - .npy files: cask_read_npy and cask_to_npy.
 * References are independent of the code under test: files are built here
 * byte by byte (big endian, Fortran order, headers of versions 1.0, 2.0 and
 * 3.0, odd spacing), the values compared with the ones put in, and files
 * cask writes are read back here with plain stdio. Malformed files must be
 * refused with CASK_EFORMAT (or CASK_EIO) and a message naming the file and
 * the byte offset of what was wrong. The TCase "numpy" is driven by
 * tests/npy_numpy_check.py (NumPy writes files, cask reads them and writes
 * what it read back for np.load to compare); run on its own it does
 * nothing.
 *
 * Every test works in a fresh temporary directory and removes it. */
#include "test-util.h"
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cask/array.h"
#include "cask/cask.h"

/* ---- fixtures ------------------------------------------------------------ */

static char dir[256];
static cask_ctx *ctx;

static void setup(void) {
  snprintf(dir, sizeof dir, "%s/cask-npy-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
  ck_assert_msg(mkdtemp(dir) != NULL, "mkdtemp: %s", strerror(errno));
  ck_assert(cask_ctx_new(&(cask_options){.threads = 2, .split_every = 0, .chunk_bytes = 0}, &ctx) == CASK_OK);
}

static void teardown(void) {
  cask_ctx_free(ctx);
  ctx = NULL;
  DIR *d = opendir(dir);
  if (!d) return;
  struct dirent *e;
  char p[600];
  while ((e = readdir(d)))
    if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
      snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
      unlink(p);
    }
  closedir(d);
  rmdir(dir);
}

static const char *path_of(const char *name) {
  static char p[4][600];
  static int k;
  k = (k + 1) % 4;
  snprintf(p[k], sizeof p[k], "%s/%s", dir, name);
  return p[k];
}

static void put_bytes(const char *path, const void *data, size_t n) {
  FILE *f = fopen(path, "wb");
  ck_assert_msg(f != NULL, "%s: %s", path, strerror(errno));
  ck_assert(fwrite(data, 1, n, f) == n);
  ck_assert(fclose(f) == 0);
}

static unsigned char *get_bytes(const char *path, size_t *n) {
  FILE *f = fopen(path, "rb");
  ck_assert_msg(f != NULL, "%s: %s", path, strerror(errno));
  fseek(f, 0, SEEK_END);
  long len = ftell(f);
  fseek(f, 0, SEEK_SET);
  unsigned char *b = malloc((size_t)len + 1);
  ck_assert((long)fread(b, 1, (size_t)len, f) == len);
  fclose(f);
  *n = (size_t)len;
  return b;
}

/* A .npy file built by hand: magic, version (major.0), the header length
 * in 2 (1.0) or 4 bytes little-endian, the dict text padded with spaces
 * and a newline to a multiple of 64, then the data. Returns the offset
 * of the data. */
static size_t put_npy(const char *path, int major, const char *dict, const void *data, size_t n) {
  size_t pre = major == 1 ? 10 : 12, len = strlen(dict);
  size_t hlen = len + 1, pad = (64 - (pre + hlen) % 64) % 64, total = pre + hlen + pad + n;
  unsigned char *b = malloc(total);
  memcpy(b, "\x93NUMPY", 6);
  b[6] = (unsigned char)major;
  b[7] = 0;
  for (size_t i = 0; i < pre - 8; i++) b[8 + i] = (unsigned char)((hlen + pad) >> (8 * i));
  memcpy(b + pre, dict, len);
  memset(b + pre + len, ' ', pad);
  b[pre + len + pad] = '\n';
  if (n) memcpy(b + pre + hlen + pad, data, n);
  put_bytes(path, b, total);
  free(b);
  return pre + hlen + pad;
}

static int64_t prod(int nd, const int64_t *s) {
  int64_t n = 1;
  for (int i = 0; i < nd; i++) n *= s[i];
  return n;
}

/* Distinct values of every byte pattern a dtype has: negative, large,
 * NaN and infinities for floats. */
static void fill_values(cask_dtype dt, int64_t n, void *buf) {
  for (int64_t i = 0; i < n; i++) switch (dt) {
    case CASK_F64: ((double *)buf)[i] = i % 11 == 5 ? NAN : i % 13 == 7 ? -INFINITY : (double)i * 1.25 - 3.5e10; break;
    case CASK_F32: ((float *)buf)[i] = i % 11 == 5 ? NAN : (float)i * -0.75f + 2.5f; break;
    case CASK_I64: ((int64_t *)buf)[i] = (int64_t)((uint64_t)i * 0x0123456789abcdefULL); break;
    case CASK_I32: ((int32_t *)buf)[i] = (int32_t)((uint32_t)i * 2654435761u); break;
    case CASK_U8: ((uint8_t *)buf)[i] = (uint8_t)(i * 37 + 3); break;
    default: ((uint8_t *)buf)[i] = i % 3 == 1; break;
  }
}

static cask_array *from_values(cask_dtype dt, int nd, const int64_t *shape, const int64_t *chunks, void **buf) {
  size_t nb = (size_t)prod(nd, shape) * cask_dtype_size(dt);
  *buf = malloc(nb ? nb : 1);
  fill_values(dt, prod(nd, shape), *buf);
  cask_array *a = NULL;
  int rc = cask_from_buffer(ctx, *buf, dt, nd, shape, chunks, NULL, NULL, &a);
  ck_assert_msg(rc == CASK_OK, "from_buffer: %s", cask_ctx_errmsg(ctx));
  return a;
}

static cask_array *read_npy(const char *path, const int64_t *chunks) {
  cask_array *a = NULL;
  int rc = cask_read_npy(ctx, path, chunks, &a);
  ck_assert_msg(rc == CASK_OK, "read_npy %s: %s: %s", path, cask_err_name(rc), cask_ctx_errmsg(ctx));
  return a;
}

static void *compute(cask_array *a) {
  size_t nb = (size_t)cask_array_size(a) * cask_dtype_size(cask_array_dtype(a));
  void *out = malloc(nb ? nb : 1);
  int rc = cask_compute(a, out, nb);
  ck_assert_msg(rc == CASK_OK, "compute: %s: %s", cask_err_name(rc), cask_ctx_errmsg(ctx));
  return out;
}

/* rc is want and the message names the file and says "byte <at>:". */
static void expect_refused(int rc, int want, const char *path, long at) {
  const char *msg = cask_ctx_errmsg(ctx);
  ck_assert_msg(rc == want, "%s: got %s, wanted %s (%s)", path, cask_err_name(rc), cask_err_name(want), msg);
  ck_assert_msg(strstr(msg, path) != NULL, "the message does not name %s: %s", path, msg);
  if (at >= 0) {
    char b[32];
    snprintf(b, sizeof b, "byte %ld:", at);
    ck_assert_msg(strstr(msg, b) != NULL, "the message does not say '%s': %s", b, msg);
  }
}

/* The offset in the file of the first occurrence of s in the dict. */
static long at_in(size_t pre, const char *dict, const char *s) {
  const char *p = strstr(dict, s);
  ck_assert_msg(p != NULL, "'%s' is not in the dict", s);
  return (long)(pre + (size_t)(p - dict));
}

static int only_file_in_dir(const char *name) {
  DIR *d = opendir(dir);
  struct dirent *e;
  int others = 0;
  while ((e = readdir(d)))
    if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..") && (!name || strcmp(e->d_name, name))) others++;
  closedir(d);
  return others == 0;
}

/* ---- round trips ----------------------------------------------------------- */

static const char *const descrs[CASK_DTYPE_COUNT] = {"<f8", "<f4", "<i8", "<i4", "|u1", "|b1"};

/* Written by cask_to_npy: the header says dtype and shape in NumPy's
 * words, the data starts at a multiple of 64, the values are the
 * buffer's bytes (this host is little-endian). */
static void check_written(const char *path, cask_dtype dt, int nd, const int64_t *shape, const void *want) {
  size_t n;
  unsigned char *b = get_bytes(path, &n);
  ck_assert_msg(n >= 10 && !memcmp(b, "\x93NUMPY\x01\x00", 8), "%s: not a version 1.0 .npy file", path);
  size_t hlen = b[8] | (size_t)b[9] << 8, data = 10 + hlen;
  ck_assert_msg(data % 64 == 0 && b[data - 1] == '\n', "%s: the data starts at %zu", path, data);
  char dict[512], sh[256] = "(";
  for (int i = 0; i < nd; i++)
    snprintf(sh + strlen(sh), sizeof sh - strlen(sh), "%s%lld", i ? ", " : "", (long long)shape[i]);
  strcat(sh, nd == 1 ? ",)" : ")");
  snprintf(dict, sizeof dict, "{'descr': '%s', 'fortran_order': False, 'shape': %s, }", descrs[dt], sh);
  ck_assert_msg(hlen >= strlen(dict) && !memcmp(b + 10, dict, strlen(dict)), "%s: header %.*s, wanted %s", path,
                (int)hlen, b + 10, dict);
  for (size_t i = 10 + strlen(dict); i < data - 1; i++) ck_assert_msg(b[i] == ' ', "%s: padding byte %zu", path, i);
  size_t nb = (size_t)prod(nd, shape) * cask_dtype_size(dt);
  ck_assert_msg(n == data + nb, "%s: %zu bytes, wanted %zu", path, n, data + nb);
  ck_assert_msg(!nb || !memcmp(b + data, want, nb), "%s: the data differs", path);
  free(b);
}

static void round_trip(cask_dtype dt, int nd, const int64_t *shape, const int64_t *wchunks, const int64_t *rchunks) {
  void *vals;
  cask_array *a = from_values(dt, nd, shape, wchunks, &vals);
  const char *p = path_of("rt.npy");
  int rc = cask_to_npy(a, p);
  ck_assert_msg(rc == CASK_OK, "to_npy %s: %s", cask_dtype_name(dt), cask_ctx_errmsg(ctx));
  check_written(p, dt, nd, shape, vals);
  size_t nb = (size_t)prod(nd, shape) * cask_dtype_size(dt);
  for (int k = 0; k < 2; k++) {
    cask_array *r = read_npy(p, k ? rchunks : NULL);
    ck_assert_int_eq(cask_array_dtype(r), dt);
    ck_assert_int_eq(cask_array_ndim(r), nd);
    for (int i = 0; i < nd; i++) ck_assert_int_eq(cask_array_shape(r)[i], shape[i]);
    void *got = compute(r);
    ck_assert_msg(!nb || !memcmp(got, vals, nb), "%s %dd: values read back differ", cask_dtype_name(dt), nd);
    free(got);
    cask_array_release(r);
  }
  cask_array_release(a);
  free(vals);
  ck_assert(only_file_in_dir("rt.npy"));
}

START_TEST(every_dtype_and_rank_round_trips_with_odd_chunks) {
  static const int64_t s1[] = {23}, c1[] = {5}, r1[] = {7};
  static const int64_t s2[] = {13, 7}, c2[] = {4, 3}, r2[] = {5, 2};
  static const int64_t s3[] = {6, 5, 4}, c3[] = {4, 2, 3}, r3[] = {1, 5, 3};
  static const int64_t s4[] = {3, 4, 5, 2}, c4[] = {2, 3, 2, 1}, r4[] = {3, 1, 4, 2};
  static const int64_t e2[] = {0, 3}, e2c[] = {2, 2};
  for (int dt = 0; dt < CASK_DTYPE_COUNT; dt++) {
    round_trip(dt, 0, NULL, NULL, NULL);
    round_trip(dt, 1, s1, c1, r1);
    round_trip(dt, 2, s2, c2, r2);
    round_trip(dt, 3, s3, c3, r3);
    round_trip(dt, 4, s4, c4, r4);
    round_trip(dt, 2, e2, e2c, e2c);
  }
}
END_TEST

START_TEST(default_chunks_cut_the_first_axis_and_user_chunks_are_kept) {
  static const int64_t s[] = {1000, 37}, c[] = {0, 0}, odd[] = {99, 10};
  void *vals;
  cask_array *a = from_values(CASK_F64, 2, s, c, &vals);
  const char *p = path_of("big.npy");
  ck_assert(cask_to_npy(a, p) == CASK_OK);
  cask_array *r = read_npy(p, NULL);
  /* 296 KB: one block of about 64 MiB along axis 0 holds it all. */
  ck_assert_int_eq(cask_array_chunks(r)[0], 1000);
  ck_assert_int_eq(cask_array_chunks(r)[1], 37);
  cask_array *q = read_npy(p, odd);
  ck_assert_int_eq(cask_array_chunks(q)[0], 99);
  ck_assert_int_eq(cask_array_chunks(q)[1], 10);
  double *x = compute(r), *y = compute(q);
  ck_assert(!memcmp(x, vals, sizeof(double) * 37000) && !memcmp(y, vals, sizeof(double) * 37000));
  free(x);
  free(y);
  cask_array_release(a);
  cask_array_release(r);
  cask_array_release(q);
  free(vals);
}
END_TEST

START_TEST(expressions_and_reductions_over_a_file_write_their_values) {
  /* float64 only: elementwise kernels and reductions take float64. */
  static const int64_t s[] = {120, 9}, c[] = {25, 4};
  void *vals;
  cask_array *a = from_values(CASK_F64, 2, s, NULL, &vals);
  double *v = vals;
  for (int i = 0; i < 120 * 9; i++) v[i] = (double)((i * 37) % 101) - 50.5;
  const char *p = path_of("x.npy");
  ck_assert(cask_to_npy(a, p) == CASK_OK);
  cask_array *x = read_npy(p, c), *e = NULL, *s0 = NULL;
  ck_assert(cask_binary_scalar(CASK_MUL, x, 2.0, 0, &e) == CASK_OK);
  ck_assert(cask_reduce(CASK_SUM, x, (int[]){0}, 1, 0, &s0) == CASK_OK);
  ck_assert_msg(cask_to_npy(e, path_of("e.npy")) == CASK_OK, "%s", cask_ctx_errmsg(ctx));
  ck_assert_msg(cask_to_npy(s0, path_of("s.npy")) == CASK_OK, "%s", cask_ctx_errmsg(ctx));
  double want_e[120 * 9], want_s[9] = {0};
  for (int i = 0; i < 120 * 9; i++) {
    want_e[i] = 2 * v[i];
    want_s[i % 9] += v[i]; /* integers: exact in any order */
  }
  check_written(path_of("e.npy"), CASK_F64, 2, s, want_e);
  check_written(path_of("s.npy"), CASK_F64, 1, (int64_t[]){9}, want_s);
  cask_array_release(a);
  cask_array_release(x);
  cask_array_release(e);
  cask_array_release(s0);
  free(vals);
}
END_TEST

START_TEST(many_blocks_are_written_in_parallel_by_four_threads) {
  cask_ctx_free(ctx);
  ck_assert(cask_ctx_new(&(cask_options){.threads = 4, .split_every = 0, .chunk_bytes = 0}, &ctx) == CASK_OK);
  static const int64_t s[] = {97, 61}, c[] = {5, 7};
  void *vals;
  cask_array *a = from_values(CASK_I32, 2, s, c, &vals);
  const char *p = path_of("par.npy");
  for (int rep = 0; rep < 3; rep++) {
    ck_assert(cask_to_npy(a, p) == CASK_OK);
    check_written(p, CASK_I32, 2, s, vals);
  }
  cask_array_release(a);
  free(vals);
}
END_TEST

/* ---- files written by hand ------------------------------------------------- */

static void be_store(unsigned char *dst, const void *src, size_t w) {
  for (size_t i = 0; i < w; i++) dst[i] = ((const unsigned char *)src)[w - 1 - i];
}

static void check_read(const char *path, cask_dtype dt, int nd, const int64_t *shape, const void *want,
                       const int64_t *chunks) {
  size_t nb = (size_t)prod(nd, shape) * cask_dtype_size(dt);
  for (int k = 0; k < 2; k++) {
    cask_array *a = read_npy(path, k ? chunks : NULL);
    ck_assert_int_eq(cask_array_dtype(a), dt);
    ck_assert_int_eq(cask_array_ndim(a), nd);
    for (int i = 0; i < nd; i++) ck_assert_int_eq(cask_array_shape(a)[i], shape[i]);
    void *got = compute(a);
    ck_assert_msg(!memcmp(got, want, nb), "%s (chunks %s): values differ", path, k ? "odd" : "default");
    free(got);
    cask_array_release(a);
  }
}

START_TEST(big_endian_files_are_swapped) {
  double d[12], want[12];
  unsigned char raw[96];
  for (int i = 0; i < 12; i++) {
    want[i] = d[i] = i * 1.5 - 7.25;
    be_store(raw + 8 * i, &d[i], 8);
  }
  const char *p = path_of("be.npy");
  put_npy(p, 1, "{'descr': '>f8', 'fortran_order': False, 'shape': (3, 4), }", raw, sizeof raw);
  check_read(p, CASK_F64, 2, (int64_t[]){3, 4}, want, (int64_t[]){2, 3});
  int32_t iw[5] = {1, -2, 0x12345678, INT32_MIN, 7};
  unsigned char r4[20];
  for (int i = 0; i < 5; i++) be_store(r4 + 4 * i, &iw[i], 4);
  put_npy(p, 1, "{'descr': '>i4', 'fortran_order': False, 'shape': (5,), }", r4, sizeof r4);
  check_read(p, CASK_I32, 1, (int64_t[]){5}, iw, (int64_t[]){2});
  float fw[3] = {1.5f, -0.0f, 3e30f};
  unsigned char rf[12];
  for (int i = 0; i < 3; i++) be_store(rf + 4 * i, &fw[i], 4);
  put_npy(p, 1, "{'descr': '>f4', 'fortran_order': False, 'shape': (3,), }", rf, sizeof rf);
  check_read(p, CASK_F32, 1, (int64_t[]){3}, fw, (int64_t[]){1});
}
END_TEST

START_TEST(fortran_order_files_are_transposed_into_c_order) {
  /* (3, 4, 2) int32: element (i, j, k) = 100i + 10j + k, stored at
   * i + 3j + 12k. */
  int32_t file[24], want[24];
  for (int i = 0; i < 3; i++)
    for (int j = 0; j < 4; j++)
      for (int k = 0; k < 2; k++) file[i + 3 * j + 12 * k] = want[(i * 4 + j) * 2 + k] = 100 * i + 10 * j + k;
  const char *p = path_of("f.npy");
  put_npy(p, 1, "{'descr': '<i4', 'fortran_order': True, 'shape': (3, 4, 2), }", file, sizeof file);
  check_read(p, CASK_I32, 3, (int64_t[]){3, 4, 2}, want, (int64_t[]){2, 3, 1});
  /* Default chunks of a Fortran-order file cut the last axis. */
  cask_array *a = read_npy(p, NULL);
  ck_assert_int_eq(cask_array_chunks(a)[0], 3);
  cask_array_release(a);
  /* Big-endian and Fortran-order together: (2, 3) int64. */
  int64_t w2[6];
  unsigned char r2[48];
  for (int i = 0; i < 2; i++)
    for (int j = 0; j < 3; j++) {
      w2[i * 3 + j] = (int64_t)(i + 1) * 1000000000000LL + j;
      be_store(r2 + 8 * (i + 2 * j), &w2[i * 3 + j], 8);
    }
  put_npy(p, 1, "{'descr': '>i8', 'fortran_order': True, 'shape': (2, 3), }", r2, sizeof r2);
  check_read(p, CASK_I64, 2, (int64_t[]){2, 3}, w2, (int64_t[]){1, 2});
  /* A (1000, 37) float64 in Fortran order, read in odd blocks. */
  double *fd = malloc(37000 * 8), *cw = malloc(37000 * 8);
  for (int i = 0; i < 1000; i++)
    for (int j = 0; j < 37; j++) fd[i + 1000 * j] = cw[i * 37 + j] = i * 0.5 - j * 3.0;
  put_npy(p, 1, "{'descr': '<f8', 'fortran_order': True, 'shape': (1000, 37), }", fd, 37000 * 8);
  check_read(p, CASK_F64, 2, (int64_t[]){1000, 37}, cw, (int64_t[]){333, 5});
  free(fd);
  free(cw);
}
END_TEST

START_TEST(version_2_and_3_headers_odd_spacing_and_key_order_read) {
  float f[5] = {1, 2, 3, 4, 5.5f};
  const char *p = path_of("v.npy");
  put_npy(p, 2, "{'descr': '<f4', 'fortran_order': False, 'shape': (5,), }", f, sizeof f);
  check_read(p, CASK_F32, 1, (int64_t[]){5}, f, (int64_t[]){2});
  uint8_t u[4] = {0, 255, 7, 128};
  put_npy(p, 3, "{ \"shape\" :(2,2) ,\n\t'fortran_order' : False, \"descr\":'|u1'}", u, sizeof u);
  check_read(p, CASK_U8, 2, (int64_t[]){2, 2}, u, (int64_t[]){1, 1});
  /* Python 2's long integers in a version 1.0 header, '=' byte order. */
  int64_t l[6] = {1, 2, 3, -4, 5, 6};
  put_npy(p, 1, "{'descr': '=i8', 'fortran_order': False, 'shape': (3L, 2L), }", l, sizeof l);
  check_read(p, CASK_I64, 2, (int64_t[]){3, 2}, l, (int64_t[]){2, 2});
  /* A header longer than the first 4 KiB cask reads of a file. */
  char *dict = malloc(12000);
  snprintf(dict, 12000, "{'descr': '<f4', %*s'fortran_order': False, 'shape': (5,), }", 10000, "");
  put_npy(p, 2, dict, f, sizeof f);
  check_read(p, CASK_F32, 1, (int64_t[]){5}, f, (int64_t[]){3});
  free(dict);
  /* A 0-d array and bool bytes other than 0 and 1 (read as True). */
  double s = 2.75;
  put_npy(p, 1, "{'descr': '<f8', 'fortran_order': False, 'shape': (), }", &s, 8);
  check_read(p, CASK_F64, 0, NULL, &s, NULL);
  uint8_t bb[4] = {0, 1, 2, 255}, bw[4] = {0, 1, 1, 1};
  put_npy(p, 1, "{'descr': '|b1', 'fortran_order': False, 'shape': (4,), }", bb, sizeof bb);
  check_read(p, CASK_BOOL, 1, (int64_t[]){4}, bw, (int64_t[]){3});
}
END_TEST

/* ---- malformed files ------------------------------------------------------- */

/* A file with this dict (no data) must be refused at the offset of `at`
 * in the dict. */
static void refuse_dict(const char *dict, const char *at, int major) {
  const char *p = path_of("bad.npy");
  size_t pre = major == 1 ? 10 : 12;
  put_npy(p, major, dict, NULL, 0);
  cask_array *a = NULL;
  int rc = cask_read_npy(ctx, p, NULL, &a);
  expect_refused(rc, CASK_EFORMAT, p, at ? at_in(pre, dict, at) : -1);
  ck_assert(a == NULL);
}

START_TEST(bad_dicts_are_refused_at_the_offending_byte) {
  refuse_dict("{'descr': '<c16', 'fortran_order': False, 'shape': (3,), }", "'<c16'", 1);
  ck_assert_msg(strstr(cask_ctx_errmsg(ctx), "'<c16'") != NULL, "the descr is not named: %s", cask_ctx_errmsg(ctx));
  refuse_dict("{'descr': '|i1', 'fortran_order': False, 'shape': (3,), }", "'|i1'", 1);
  refuse_dict("{'descr': [('a', '<f8')], 'fortran_order': False, 'shape': (3,), }", "[", 1);
  refuse_dict("{'descr': '<f8', 'fortran_order': False, 'shape': (3), }", "(3)", 1);
  refuse_dict("{'descr': '<f8', 'fortran_order': False, 'shape': [3, 4], }", "[3", 1);
  refuse_dict("{'descr': '<f8', 'fortran_order': False, 'shape': (3, -4), }", "-4", 1);
  refuse_dict("{'descr': '<f8', 'fortran_order': False, 'shape': (3, 4.0), }", ".0", 1);
  refuse_dict("{'descr': '<f8', 'fortran_order': False, 'shape': (3,, 4), }", ", 4", 1);
  refuse_dict("{'descr': '<f8', 'fortran_order': 0, 'shape': (3,), }", "0,", 1);
  refuse_dict("{'descr': '<f8', 'fortran_order': Falsey, 'shape': (3,), }", "Falsey", 1);
  refuse_dict("{'descr': '<f8', 'fortran_order': False, 'shape': (3,), 'extra': 1}", "'extra'", 1);
  refuse_dict("{'descr': '<f8', 'fortran_order': False, 'descr': '<f8', 'shape': (3,)}", "'descr': '<f8', 'shape'", 1);
  refuse_dict("{'descr': '<f8', 'fortran_order': False}", "}", 1);
  refuse_dict("{'descr': '<f8' 'fortran_order': False, 'shape': (3,)}", "'fortran_order'", 1);
  refuse_dict("{'descr': '<f8', 'fortran_order': False, 'shape': (3,)} x", "x", 1);
  refuse_dict("['descr', '<f8']", "[", 1);
  refuse_dict("{'descr': '<f8, 'fortran_order': False, 'shape': (3,)}", NULL, 1);
  refuse_dict("{'descr': '<f8', 'fortran_order': False, 'shape': (3L,)}", "L", 3);
  refuse_dict("{'descr': '<f8', 'fortran_order': False, 'shape': (1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1)}", "(1", 1);
}
END_TEST

START_TEST(bad_magic_versions_and_truncations_are_refused_with_the_offset) {
  const char *p = path_of("m.npy");
  cask_array *a = NULL;
  put_bytes(p, "\x93NUMPX\x01\x00", 8);
  expect_refused(cask_read_npy(ctx, p, NULL, &a), CASK_EFORMAT, p, 5);
  put_bytes(p, "PK\x03\x04", 4); /* an .npz is a zip file */
  expect_refused(cask_read_npy(ctx, p, NULL, &a), CASK_EFORMAT, p, 0);
  put_bytes(p, "", 0);
  expect_refused(cask_read_npy(ctx, p, NULL, &a), CASK_EFORMAT, p, 0);
  put_bytes(p, "\x93NUMPY\x04\x00\x10\x00", 10);
  expect_refused(cask_read_npy(ctx, p, NULL, &a), CASK_EFORMAT, p, 6);
  put_bytes(p, "\x93NUMPY\x01\x00\x10", 9);
  expect_refused(cask_read_npy(ctx, p, NULL, &a), CASK_EFORMAT, p, 9);
  /* The header length points past the end of the file. */
  put_bytes(p, "\x93NUMPY\x01\x00\x76\x00{'descr'", 17);
  expect_refused(cask_read_npy(ctx, p, NULL, &a), CASK_EFORMAT, p, 17);
  /* A header longer than cask reads. */
  put_bytes(p, "\x93NUMPY\x02\x00\x00\x00\x00\x10", 12);
  expect_refused(cask_read_npy(ctx, p, NULL, &a), CASK_EFORMAT, p, 8);
  /* The data section is shorter than 10 float64: the message gives the
   * file's end, where data was expected. */
  double d[10] = {0};
  long data = (long)put_npy(p, 1, "{'descr': '<f8', 'fortran_order': False, 'shape': (10,), }", d, 72);
  expect_refused(cask_read_npy(ctx, p, NULL, &a), CASK_EFORMAT, p, data + 72);
  char says[64];
  snprintf(says, sizeof says, "80 bytes from byte %ld", data);
  ck_assert_msg(strstr(cask_ctx_errmsg(ctx), says) != NULL, "%s", cask_ctx_errmsg(ctx));
  ck_assert(a == NULL);
}
END_TEST

START_TEST(missing_files_directories_and_bad_arguments_are_refused) {
  cask_array *a = NULL;
  const char *p = path_of("none.npy");
  expect_refused(cask_read_npy(ctx, p, NULL, &a), CASK_EIO, p, -1);
  expect_refused(cask_read_npy(ctx, dir, NULL, &a), CASK_EIO, dir, -1);
  ck_assert_int_eq(cask_read_npy(ctx, NULL, NULL, &a), CASK_EINVAL);
  ck_assert_int_eq(cask_read_npy(NULL, p, NULL, &a), CASK_EINVAL);
  ck_assert_int_eq(cask_read_npy(ctx, p, NULL, NULL), CASK_EINVAL);
  double d[4] = {0};
  put_npy(p, 1, "{'descr': '<f8', 'fortran_order': False, 'shape': (4,), }", d, sizeof d);
  ck_assert_int_eq(cask_read_npy(ctx, p, (int64_t[]){-1}, &a), CASK_EINVAL);
  ck_assert(a == NULL);
  a = read_npy(p, NULL);
  ck_assert_int_eq(cask_to_npy(a, NULL), CASK_EINVAL);
  ck_assert_int_eq(cask_to_npy(NULL, p), CASK_EINVAL);
  const char *nodir = path_of("no/such/dir/x.npy");
  expect_refused(cask_to_npy(a, nodir), CASK_EIO, nodir, -1);
  cask_array_release(a);
  ck_assert(only_file_in_dir("none.npy"));
}
END_TEST

/* ---- a file changed after cask_read_npy ------------------------------------ */

static void expect_compute_fails(cask_array *a, int want, const char *path, const char *says) {
  double out[64];
  int rc = cask_compute(a, out, (size_t)cask_array_size(a) * 8);
  expect_refused(rc, want, path, -1);
  ck_assert_msg(strstr(cask_ctx_errmsg(ctx), says) != NULL, "the message does not say '%s': %s", says,
                cask_ctx_errmsg(ctx));
}

START_TEST(a_file_changed_after_read_npy_is_an_error_not_other_values) {
  double d[8] = {1, 2, 3, 4, 5, 6, 7, 8};
  const char *p = path_of("c.npy");
  char real[4096];
  off_t data = (off_t)put_npy(p, 1, "{'descr': '<f8', 'fortran_order': False, 'shape': (8,), }", d, sizeof d);
  ck_assert(realpath(p, real) != NULL);
  cask_array *a = read_npy(p, (int64_t[]){3});
  /* Truncated inside the data. */
  ck_assert(truncate(p, data + 40) == 0);
  expect_compute_fails(a, CASK_EIO, real, "changed since cask_read_npy");
  /* Same size, other values, another modification time. */
  put_npy(p, 1, "{'descr': '<f8', 'fortran_order': False, 'shape': (8,), }", d, sizeof d);
  cask_array_release(a);
  a = read_npy(p, (int64_t[]){3});
  double e[8] = {9, 9, 9, 9, 9, 9, 9, 9};
  int fd = open(p, O_WRONLY);
  ck_assert(fd >= 0 && pwrite(fd, e, sizeof e, data) == sizeof e);
  struct timespec ts[2] = {{0, UTIME_OMIT}, {1234567890, 5}};
  ck_assert(futimens(fd, ts) == 0);
  close(fd);
  expect_compute_fails(a, CASK_EIO, real, "changed since cask_read_npy");
  /* Replaced by another file of the same size and time (a rename). */
  cask_array_release(a);
  a = read_npy(p, NULL);
  const char *q = path_of("c2.npy");
  put_npy(q, 1, "{'descr': '<f8', 'fortran_order': False, 'shape': (8,), }", e, sizeof e);
  struct stat st;
  ck_assert(stat(p, &st) == 0);
  struct timespec same[2] = {st.st_atim, st.st_mtim};
  ck_assert(utimensat(AT_FDCWD, q, same, 0) == 0 && rename(q, p) == 0);
  expect_compute_fails(a, CASK_EIO, real, "another inode");
  /* Deleted. */
  unlink(p);
  expect_compute_fails(a, CASK_EIO, real, "cannot open");
  cask_array_release(a);
}
END_TEST

START_TEST(the_token_follows_the_path_and_the_files_identity) {
  double d[4] = {1, 2, 3, 4};
  const char *p = path_of("t.npy");
  put_npy(p, 1, "{'descr': '<f8', 'fortran_order': False, 'shape': (4,), }", d, sizeof d);
  cask_array *a = read_npy(p, NULL), *b = read_npy(p, NULL);
  cask_graph *ga, *gb, *gc;
  ck_assert(cask_array_graph(a, &ga) == CASK_OK && cask_array_graph(b, &gb) == CASK_OK);
  ck_assert_str_eq(cask_graph_key(ga, 0), cask_graph_key(gb, 0));
  ck_assert_msg(strncmp(cask_graph_key(ga, 0), "npy-", 4) == 0, "key %s", cask_graph_key(ga, 0));
  int fd = open(p, O_WRONLY);
  struct timespec ts[2] = {{0, UTIME_OMIT}, {1000000000, 0}};
  ck_assert(fd >= 0 && futimens(fd, ts) == 0);
  close(fd);
  cask_array *c = read_npy(p, NULL);
  ck_assert(cask_array_graph(c, &gc) == CASK_OK);
  ck_assert_str_ne(cask_graph_key(ga, 0), cask_graph_key(gc, 0));
  cask_graph_free(ga);
  cask_graph_free(gb);
  cask_graph_free(gc);
  cask_array_release(a);
  cask_array_release(b);
  cask_array_release(c);
}
END_TEST

START_TEST(a_read_graph_has_a_task_per_block_and_runs_from_json) {
  static const int64_t s[] = {50, 6};
  void *vals;
  cask_array *src = from_values(CASK_I64, 2, s, NULL, &vals);
  const char *p = path_of("j.npy");
  ck_assert(cask_to_npy(src, p) == CASK_OK);
  cask_array *a = read_npy(p, (int64_t[]){7, 4});
  cask_graph *g = NULL, *back = NULL;
  ck_assert(cask_array_graph(a, &g) == CASK_OK);
  ck_assert_int_eq(cask_graph_size(g), 8 * 2);
  const char *jp = path_of("j.json");
  ck_assert(cask_graph_write_json(g, jp) == CASK_OK);
  char *err = NULL;
  ck_assert_msg(cask_graph_read_json(jp, &back, &err) == CASK_OK, "%s", err ? err : "");
  cask_results *res;
  ck_assert(cask_run(cask_ctx_runtime(ctx), back, NULL, &res) == CASK_OK);
  /* Block (2, 1): rows 14..20, columns 4..5. */
  const cask_block *b = cask_results_get_key(res, cask_graph_key(g, 0));
  ck_assert(b != NULL);
  char key[128];
  snprintf(key, sizeof key, "%.*s2,1", (int)(strrchr(cask_graph_key(g, 0), '-') - cask_graph_key(g, 0) + 1),
           cask_graph_key(g, 0));
  b = cask_results_get_key(res, key);
  ck_assert_msg(b != NULL, "no block %s", key);
  ck_assert_int_eq(cask_block_shape(b)[0], 7);
  ck_assert_int_eq(cask_block_shape(b)[1], 2);
  const int64_t *bv = cask_block_data(b), *v = vals;
  for (int i = 0; i < 7; i++)
    for (int j = 0; j < 2; j++) ck_assert(bv[i * 2 + j] == v[(14 + i) * 6 + 4 + j]);
  cask_results_free(res);
  cask_graph_free(back);
  cask_graph_free(g);
  cask_array_release(a);
  cask_array_release(src);
  free(vals);
}
END_TEST

/* ---- failed writes ---------------------------------------------------------- */

START_TEST(a_failed_write_leaves_the_old_file_and_no_temporary) {
  double d[8] = {1, 2, 3, 4, 5, 6, 7, 8};
  const char *in = path_of("in.npy"), *out = path_of("out.npy");
  put_npy(in, 1, "{'descr': '<f8', 'fortran_order': False, 'shape': (8,), }", d, sizeof d);
  put_bytes(out, "precious", 8);
  cask_array *a = read_npy(in, (int64_t[]){3});
  ck_assert(truncate(in, 70) == 0); /* every read task now fails */
  expect_refused(cask_to_npy(a, out), CASK_EIO, out, -1);
  size_t n;
  unsigned char *b = get_bytes(out, &n);
  ck_assert(n == 8 && !memcmp(b, "precious", 8));
  free(b);
  /* With nothing at the path, nothing is left there. */
  unlink(out);
  expect_refused(cask_to_npy(a, out), CASK_EIO, out, -1);
  ck_assert(access(out, F_OK) != 0);
  ck_assert(only_file_in_dir("in.npy"));
  /* A directory at the path: the rename fails, the temporary goes. */
  ck_assert(mkdir(out, 0755) == 0);
  cask_array *z = NULL;
  ck_assert(cask_zeros(ctx, CASK_F64, 1, (int64_t[]){4}, NULL, &z) == CASK_OK);
  expect_refused(cask_to_npy(z, out), CASK_EIO, out, -1);
  rmdir(out);
  ck_assert(only_file_in_dir("in.npy"));
  cask_array_release(z);
  cask_array_release(a);
}
END_TEST

/* ======================================================================
 * NumPy interop (driven by tests/npy_numpy_check.py)
 *
 * CASK_NPY_DIR holds in_<name>.npy files NumPy wrote. Each is read with
 * the default chunks and with odd ones (about a third of every axis) and
 * written back as out_<name>.npy and out_<name>_odd.npy; float64 2-d
 * inputs also give out_<name>_sum0.npy (the sum over axis 0). Arrays cask
 * makes itself are written as cask_<name>.npy.
 * ====================================================================== */

static void numpy_one(const char *npdir, const char *name) {
  char in[600], out[600];
  snprintf(in, sizeof in, "%s/%s", npdir, name);
  size_t stem = strlen(name) - 4; /* without ".npy" */
  cask_array *a = read_npy(in, NULL);
  int64_t odd[CASK_MAX_NDIM];
  for (int i = 0; i < cask_array_ndim(a); i++) odd[i] = cask_array_shape(a)[i] / 3 + 1;
  cask_array *b = read_npy(in, odd);
  snprintf(out, sizeof out, "%s/out_%.*s.npy", npdir, (int)stem - 3, name + 3);
  ck_assert_msg(cask_to_npy(a, out) == CASK_OK, "%s: %s", out, cask_ctx_errmsg(ctx));
  snprintf(out, sizeof out, "%s/out_%.*s_odd.npy", npdir, (int)stem - 3, name + 3);
  ck_assert_msg(cask_to_npy(b, out) == CASK_OK, "%s: %s", out, cask_ctx_errmsg(ctx));
  if (cask_array_dtype(a) == CASK_F64 && cask_array_ndim(a) == 2) {
    cask_array *s = NULL;
    ck_assert(cask_reduce(CASK_SUM, b, (int[]){0}, 1, 0, &s) == CASK_OK);
    snprintf(out, sizeof out, "%s/out_%.*s_sum0.npy", npdir, (int)stem - 3, name + 3);
    ck_assert_msg(cask_to_npy(s, out) == CASK_OK, "%s: %s", out, cask_ctx_errmsg(ctx));
    cask_array_release(s);
  }
  cask_array_release(a);
  cask_array_release(b);
}

/* rc: the call that made *a (evaluated before this function reads *a). */
static void numpy_write_own(const char *npdir, const char *name, int rc, cask_array **pa) {
  char out[600];
  cask_array *a = *pa;
  ck_assert_msg(rc == CASK_OK, "%s: %s", name, cask_ctx_errmsg(ctx));
  snprintf(out, sizeof out, "%s/cask_%s.npy", npdir, name);
  ck_assert_msg(cask_to_npy(a, out) == CASK_OK, "%s: %s", out, cask_ctx_errmsg(ctx));
  cask_array_release(a);
}

START_TEST(numpy_reads_what_cask_writes_and_the_reverse) {
  const char *npdir = getenv("CASK_NPY_DIR");
  if (!npdir || !*npdir) return; /* run by tests/npy_numpy_check.py */
  DIR *d = opendir(npdir);
  ck_assert_msg(d != NULL, "%s: %s", npdir, strerror(errno));
  struct dirent *e;
  int n = 0;
  while ((e = readdir(d))) {
    size_t len = strlen(e->d_name);
    if (len > 7 && !strncmp(e->d_name, "in_", 3) && !strcmp(e->d_name + len - 4, ".npy")) {
      numpy_one(npdir, e->d_name);
      n++;
    }
  }
  closedir(d);
  ck_assert_msg(n > 0, "no in_*.npy in %s", npdir);
  cask_array *a = NULL;
  numpy_write_own(npdir, "arange_i64", cask_arange(ctx, CASK_I64, 0, 100, 1, 7, &a), &a);
  numpy_write_own(npdir, "arange_f64", cask_arange(ctx, CASK_F64, -3, 40, 1, 9, &a), &a);
  numpy_write_own(npdir, "eye_f32", cask_eye(ctx, CASK_F32, 5, 7, 1, 3, &a), &a);
  numpy_write_own(npdir, "eye_u8", cask_eye(ctx, CASK_U8, 6, 6, -2, 4, &a), &a);
  static const int64_t sh[] = {4, 3}, ch[] = {3, 2};
  for (int dt = 0; dt < CASK_DTYPE_COUNT; dt++) {
    char name[32];
    snprintf(name, sizeof name, "full_%s", cask_dtype_name(dt));
    numpy_write_own(npdir, name, cask_full(ctx, dt, 3, 2, sh, ch, &a), &a);
  }
  numpy_write_own(npdir, "scalar_i32", cask_full(ctx, CASK_I32, -7, 0, NULL, NULL, &a), &a);
  numpy_write_own(npdir, "empty_f64", cask_zeros(ctx, CASK_F64, 2, (int64_t[]){0, 5}, NULL, &a), &a);
}
END_TEST

Suite *array_npy_suite(void) {
  Suite *s = suite_create("array_npy");
  TCase *tc = tcase_create("round_trip");
  tcase_add_checked_fixture(tc, setup, teardown);
  tcase_add_test(tc, every_dtype_and_rank_round_trips_with_odd_chunks);
  tcase_add_test(tc, default_chunks_cut_the_first_axis_and_user_chunks_are_kept);
  tcase_add_test(tc, expressions_and_reductions_over_a_file_write_their_values);
  tcase_add_test(tc, many_blocks_are_written_in_parallel_by_four_threads);
  tcase_set_timeout(tc, 60);
  suite_add_tcase(s, tc);

  tc = tcase_create("by_hand");
  tcase_add_checked_fixture(tc, setup, teardown);
  tcase_add_test(tc, big_endian_files_are_swapped);
  tcase_add_test(tc, fortran_order_files_are_transposed_into_c_order);
  tcase_add_test(tc, version_2_and_3_headers_odd_spacing_and_key_order_read);
  suite_add_tcase(s, tc);

  tc = tcase_create("errors");
  tcase_add_checked_fixture(tc, setup, teardown);
  tcase_add_test(tc, bad_dicts_are_refused_at_the_offending_byte);
  tcase_add_test(tc, bad_magic_versions_and_truncations_are_refused_with_the_offset);
  tcase_add_test(tc, missing_files_directories_and_bad_arguments_are_refused);
  tcase_add_test(tc, a_file_changed_after_read_npy_is_an_error_not_other_values);
  tcase_add_test(tc, a_failed_write_leaves_the_old_file_and_no_temporary);
  suite_add_tcase(s, tc);

  tc = tcase_create("graph");
  tcase_add_checked_fixture(tc, setup, teardown);
  tcase_add_test(tc, the_token_follows_the_path_and_the_files_identity);
  tcase_add_test(tc, a_read_graph_has_a_task_per_block_and_runs_from_json);
  suite_add_tcase(s, tc);

  tc = tcase_create("numpy");
  tcase_add_checked_fixture(tc, setup, teardown);
  tcase_add_test(tc, numpy_reads_what_cask_writes_and_the_reverse);
  tcase_set_timeout(tc, 60);
  suite_add_tcase(s, tc);
  return s;
}
