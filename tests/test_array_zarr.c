/* test_array_zarr.c - Zarr v2 directory stores: cask_read_zarr and
 * cask_to_zarr.
 * References are independent of the code under test: stores are built
 * here by hand (.zarray text, raw or zlib/zstd-compressed chunk files made
 * with the libraries directly), values compared with the ones put in, and
 * chunk files cask writes are decoded here. Malformed stores must be
 * refused with CASK_EFORMAT and a message naming the store (or the chunk
 * file) and the field. The TCase "python" is driven by tests/zarr_check.py
 * (python3-zarr and dask write stores, cask reads them and writes what it
 * read back for zarr to compare); run on its own it does nothing.
 *
 * Every test works in a fresh temporary directory and removes it. */
#define _XOPEN_SOURCE 700
#include "test-util.h"
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>
#include <zstd.h>

#include "cask/array.h"
#include "cask/cask.h"

/* ---- fixtures ------------------------------------------------------------ */

static char dir[256];
static cask_ctx *ctx;

static void setup(void) {
  snprintf(dir, sizeof dir, "%s/cask-zarr-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
  ck_assert_msg(mkdtemp(dir) != NULL, "mkdtemp: %s", strerror(errno));
  ck_assert(cask_ctx_new(&(cask_options){.threads = 2, .split_every = 0, .chunk_bytes = 0}, &ctx) == CASK_OK);
}

static int rm_one(const char *p, const struct stat *st, int flag, struct FTW *f) { return remove(p); }

static void teardown(void) {
  cask_ctx_free(ctx);
  ctx = NULL;
  nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
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
  b[len] = 0;
  *n = (size_t)len;
  return b;
}

/* A store by hand: the directory and its .zarray. */
static const char *put_store(const char *name, const char *zarray) {
  const char *p = path_of(name);
  mkdir(p, 0755);
  char m[700];
  snprintf(m, sizeof m, "%s/.zarray", p);
  put_bytes(m, zarray, strlen(zarray));
  return p;
}

static void put_chunk(const char *store, const char *key, const void *data, size_t n) {
  char p[800];
  snprintf(p, sizeof p, "%s/%s", store, key);
  put_bytes(p, data, n);
}

static int64_t prod(int nd, const int64_t *s) {
  int64_t n = 1;
  for (int i = 0; i < nd; i++) n *= s[i];
  return n;
}

/* Distinct values using every byte of the dtype; NaN and -inf for floats. */
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

static cask_array *read_zarr(const char *path, const int64_t *chunks) {
  cask_array *a = NULL;
  int rc = cask_read_zarr(ctx, path, chunks, &a);
  ck_assert_msg(rc == CASK_OK, "read_zarr %s: %s: %s", path, cask_err_name(rc), cask_ctx_errmsg(ctx));
  return a;
}

static void *compute(cask_array *a) {
  size_t nb = (size_t)cask_array_size(a) * cask_dtype_size(cask_array_dtype(a));
  void *out = malloc(nb ? nb : 1);
  int rc = cask_compute(a, out, nb);
  ck_assert_msg(rc == CASK_OK, "compute: %s: %s", cask_err_name(rc), cask_ctx_errmsg(ctx));
  return out;
}

static int exists(const char *store, const char *key) {
  char p[800];
  struct stat st;
  snprintf(p, sizeof p, "%s/%s", store, key);
  return stat(p, &st) == 0;
}

/* No file under the store has ".tmp-" in its name. */
static int tmp_found;
static int find_tmp(const char *p, const struct stat *st, int flag, struct FTW *f) {
  if (strstr(p, ".tmp-")) tmp_found = 1;
  return 0;
}
static int no_temporaries(const char *store) {
  tmp_found = 0;
  nftw(store, find_tmp, 16, FTW_PHYS);
  return !tmp_found;
}

/* ---- round trips ----------------------------------------------------------- */

static const cask_zarr_compressor compressors[] = {CASK_ZARR_NONE, CASK_ZARR_ZLIB, CASK_ZARR_GZIP,
                                                   CASK_ZARR_ZSTD, CASK_ZARR_BLOSC_LZ4, CASK_ZARR_BLOSC_ZSTD};

static void round_trip(cask_dtype dt, int nd, const int64_t *shape, const int64_t *chunks, const int64_t *rchunks,
                       const cask_zarr_options *o) {
  void *vals;
  cask_array *a = from_values(dt, nd, shape, chunks, &vals);
  const char *p = path_of("rt.zarr");
  int rc = cask_to_zarr(a, p, o);
  ck_assert_msg(rc == CASK_OK, "to_zarr %s: %s", cask_dtype_name(dt), cask_ctx_errmsg(ctx));
  ck_assert(no_temporaries(p));
  size_t nb = (size_t)prod(nd, shape) * cask_dtype_size(dt);
  for (int k = 0; k < 2; k++) {
    cask_array *r = read_zarr(p, k ? rchunks : NULL);
    ck_assert_int_eq(cask_array_dtype(r), dt);
    ck_assert_int_eq(cask_array_ndim(r), nd);
    for (int i = 0; i < nd; i++) ck_assert_int_eq(cask_array_shape(r)[i], shape[i]);
    void *got = compute(r);
    ck_assert_msg(!nb || !memcmp(got, vals, nb), "%s %dd compressor %d sep %c: values read back differ",
                  cask_dtype_name(dt), nd, (int)o->compressor, o->separator);
    free(got);
    cask_array_release(r);
  }
  cask_array_release(a);
  free(vals);
  nftw(p, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

START_TEST(every_dtype_compressor_and_separator_round_trips_with_odd_chunks) {
  static const int64_t s2[] = {13, 7}, c2[] = {4, 3}, r2[] = {5, 2};
  for (int dt = 0; dt < CASK_DTYPE_COUNT; dt++)
    for (size_t c = 0; c < sizeof compressors / sizeof compressors[0]; c++)
      for (int sep = 0; sep < 2; sep++) {
        cask_zarr_options o = CASK_ZARR_OPTIONS_DEFAULTS;
        o.compressor = compressors[c];
        o.level = compressors[c] == CASK_ZARR_NONE ? 0 : 3;
        o.shuffle = (int)c % 3;
        o.separator = sep ? '/' : '.';
        round_trip((cask_dtype)dt, 2, s2, c2, r2, &o);
      }
}
END_TEST

START_TEST(ranks_0_1_and_4_and_empty_arrays_round_trip) {
  static const int64_t s0[1] = {0}, s1[] = {23}, c1[] = {5}, r1[] = {7};
  static const int64_t s4[] = {3, 4, 5, 2}, c4[] = {2, 3, 2, 1}, r4[] = {3, 1, 4, 2};
  static const int64_t se[] = {0, 3}, ce[] = {1, 2};
  cask_zarr_options o = CASK_ZARR_OPTIONS_DEFAULTS;
  round_trip(CASK_F64, 0, s0, NULL, NULL, &o);
  round_trip(CASK_I32, 1, s1, c1, r1, &o);
  o.separator = '/';
  o.compressor = CASK_ZARR_ZSTD;
  round_trip(CASK_I64, 4, s4, c4, r4, &o);
  round_trip(CASK_U8, 2, se, ce, ce, &o);
}
END_TEST

START_TEST(chunk_files_are_named_by_the_separator_and_zarray_says_what_was_written) {
  static const int64_t shape[] = {5, 7}, chunks[] = {2, 3};
  void *vals;
  cask_array *a = from_values(CASK_I32, 2, shape, chunks, &vals);
  cask_zarr_options o = {CASK_ZARR_GZIP, 6, 0, '/', -7, 2, {0}};
  const char *p = path_of("named.zarr");
  ck_assert_msg(cask_to_zarr(a, p, &o) == CASK_OK, "%s", cask_ctx_errmsg(ctx));
  ck_assert(exists(p, "0/0") && exists(p, "2/2") && !exists(p, "0.0") && !exists(p, "3/0") && !exists(p, "0/3"));
  char m[700];
  size_t n;
  snprintf(m, sizeof m, "%s/.zarray", p);
  char *text = (char *)get_bytes(m, &n);
  const char *want[] = {"\"zarr_format\":\t2", "\"dtype\":\t\"<i4\"", "\"order\":\t\"C\"", "\"id\":\t\"gzip\"",
                        "\"level\":\t6", "\"dimension_separator\":\t\"/\"", "\"fill_value\":\t-7",
                        "\"filters\":\tnull"};
  for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
    ck_assert_msg(strstr(text, want[i]) != NULL, ".zarray lacks %s:\n%s", want[i], text);
  free(text);
  /* The edge chunk (4..5, 6..7) is a full chunk padded with the fill
   * value; decoded here with zlib itself. */
  snprintf(m, sizeof m, "%s/2/2", p);
  unsigned char *gz = get_bytes(m, &n);
  int32_t chunk[6];
  z_stream z = {0};
  ck_assert(inflateInit2(&z, 31) == Z_OK);
  z.next_in = gz, z.avail_in = (uInt)n, z.next_out = (Bytef *)chunk, z.avail_out = sizeof chunk;
  ck_assert(inflate(&z, Z_FINISH) == Z_STREAM_END && z.total_out == sizeof chunk);
  inflateEnd(&z);
  const int32_t *v = vals;
  ck_assert_int_eq(chunk[0], v[4 * 7 + 6]);
  for (int i = 1; i < 6; i++) ck_assert_int_eq(chunk[i], -7);
  free(gz);
  cask_array_release(a);
  free(vals);
}
END_TEST

START_TEST(many_blocks_are_written_in_parallel_and_an_expression_is_stored) {
  static const int64_t shape[] = {300, 40}, chunks[] = {7, 9};
  cask_array *x = NULL, *y = NULL, *s = NULL;
  ck_assert(cask_random_uniform(ctx, 42, CASK_F64, 2, shape, chunks, &x) == CASK_OK);
  ck_assert(cask_binary(CASK_MUL, x, x, &y) == CASK_OK);
  cask_zarr_options o = CASK_ZARR_OPTIONS_DEFAULTS;
  o.compressor = CASK_ZARR_BLOSC_ZSTD;
  const char *p = path_of("expr.zarr");
  ck_assert_msg(cask_to_zarr(y, p, &o) == CASK_OK, "%s", cask_ctx_errmsg(ctx));
  ck_assert(no_temporaries(p));
  double *want = compute(x);
  cask_array *r = read_zarr(p, NULL);
  double *got = compute(r);
  for (int64_t i = 0; i < 300 * 40; i++) require(got[i] == want[i] * want[i], "element %lld", (long long)i);
  /* A reduction over the store (float64 only: see common rules). */
  ck_assert(cask_reduce(CASK_SUM, r, (const int[]){0}, 1, 0, &s) == CASK_OK);
  double *col = compute(s);
  for (int j = 0; j < 40; j++) {
    double ref = 0;
    for (int i = 0; i < 300; i++) ref += got[i * 40 + j];
    ck_assert_msg(fabs(col[j] - ref) <= 1e-12 * fabs(ref), "column %d: %.17g vs %.17g", j, col[j], ref);
  }
  free(want), free(got), free(col);
  cask_array_release(s), cask_array_release(r), cask_array_release(y), cask_array_release(x);
}
END_TEST

/* ---- stores built by hand ------------------------------------------------- */

#define ZARRAY(shape, chunks, dtype, comp, fill, extra)                                                      \
  "{\"zarr_format\": 2, \"shape\": " shape ", \"chunks\": " chunks ", \"dtype\": \"" dtype                    \
  "\", \"compressor\": " comp ", \"fill_value\": " fill ", \"order\": \"C\", \"filters\": null" extra "}"

START_TEST(missing_chunks_read_as_fill_value_also_through_other_chunks) {
  /* (5, 4) float64 in chunks (2, 3): chunk (1, 0) and (2, 1) missing, the
   * others raw; fill NaN. */
  const char *p = put_store("fill.zarr", ZARRAY("[5, 4]", "[2, 3]", "<f8", "null", "\"NaN\"", ""));
  double full[6][6], want[5][4];
  for (int i = 0; i < 6; i++)
    for (int j = 0; j < 6; j++) full[i][j] = i * 10 + j;
  for (int ci = 0; ci < 3; ci++)
    for (int cj = 0; cj < 2; cj++) {
      if ((ci == 1 && cj == 0) || (ci == 2 && cj == 1)) continue;
      double c[2][3];
      for (int i = 0; i < 2; i++)
        for (int j = 0; j < 3; j++) c[i][j] = full[ci * 2 + i][cj * 3 + j];
      char key[16];
      snprintf(key, sizeof key, "%d.%d", ci, cj);
      put_chunk(p, key, c, sizeof c);
    }
  for (int i = 0; i < 5; i++)
    for (int j = 0; j < 4; j++)
      want[i][j] = (i / 2 == 1 && j / 3 == 0) || (i / 2 == 2 && j / 3 == 1) ? NAN : full[i][j];
  static const int64_t other[][2] = {{0, 0}, {3, 2}, {1, 4}, {5, 1}};
  for (int k = 0; k < 4; k++) {
    cask_array *r = read_zarr(p, k ? other[k] : NULL);
    double *got = compute(r);
    for (int i = 0; i < 20; i++)
      ck_assert_msg(memcmp(&got[i], &want[i / 4][i % 4], 8) == 0, "chunks %d: element %d is %g", k, i, got[i]);
    free(got);
    cask_array_release(r);
  }
}
END_TEST

START_TEST(zlib_and_zstd_chunks_made_by_the_libraries_read) {
  /* int64 (6,) chunks (4,): chunk 0 zlib, chunk 1 (the padded edge) too;
   * then the same data with zstd and '/' (no effect on 1-d keys). */
  int64_t c0[4] = {-1, 2, INT64_MIN, INT64_MAX}, c1[4] = {5, 6, 99, 99};
  unsigned char buf[256];
  uLongf n = sizeof buf;
  const char *p = put_store("zl.zarr", ZARRAY("[6]", "[4]", "<i8", "{\"id\": \"zlib\", \"level\": 1}", "0", ""));
  ck_assert(compress2(buf, &n, (const Bytef *)c0, sizeof c0, 9) == Z_OK);
  put_chunk(p, "0", buf, n);
  n = sizeof buf;
  ck_assert(compress2(buf, &n, (const Bytef *)c1, sizeof c1, 1) == Z_OK);
  put_chunk(p, "1", buf, n);
  const char *q = put_store("zs.zarr", ZARRAY("[6]", "[4]", "<i8", "{\"id\": \"zstd\", \"level\": 1}", "0",
                                              ", \"dimension_separator\": \"/\""));
  size_t m = ZSTD_compress(buf, sizeof buf, c0, sizeof c0, 3);
  put_chunk(q, "0", buf, m);
  m = ZSTD_compress(buf, sizeof buf, c1, sizeof c1, 3);
  put_chunk(q, "1", buf, m);
  const int64_t want[6] = {-1, 2, INT64_MIN, INT64_MAX, 5, 6};
  for (int k = 0; k < 2; k++) {
    cask_array *r = read_zarr(k ? q : p, (const int64_t[]){5});
    int64_t *got = compute(r);
    for (int i = 0; i < 6; i++) ck_assert_msg(got[i] == want[i], "%s element %d", k ? "zstd" : "zlib", i);
    free(got);
    cask_array_release(r);
  }
}
END_TEST

START_TEST(a_zero_d_store_and_bool_and_u1_fill_values_read) {
  const char *p = put_store("z0.zarr", ZARRAY("[]", "[]", "<f8", "null", "0.0", ""));
  double v = -2.5;
  put_chunk(p, "0", &v, 8);
  cask_array *r = read_zarr(p, NULL);
  double got;
  ck_assert_int_eq(cask_array_ndim(r), 0);
  ck_assert(cask_compute(r, &got, 8) == CASK_OK && got == -2.5);
  cask_array_release(r);
  const char *b = put_store("b.zarr", ZARRAY("[3]", "[2]", "|b1", "null", "true", ""));
  const char *u = put_store("u.zarr", ZARRAY("[3]", "[2]", "|u1", "null", "200", ""));
  put_chunk(b, "0", "\0\x07", 2);
  put_chunk(u, "1", "\x05\x06", 2);
  unsigned char *gb = compute(r = read_zarr(b, NULL));
  ck_assert(gb[0] == 0 && gb[1] == 1 && gb[2] == 1);
  cask_array_release(r);
  unsigned char *gu = compute(r = read_zarr(u, NULL));
  ck_assert(gu[0] == 200 && gu[1] == 200 && gu[2] == 5);
  cask_array_release(r);
  free(gb), free(gu);
}
END_TEST

/* ---- errors ----------------------------------------------------------------- */

/* rc is want and the message names what (the store or a chunk) and says
 * field (when not NULL). */
static void expect_refused(int rc, int want, const char *what, const char *field) {
  const char *msg = cask_ctx_errmsg(ctx);
  ck_assert_msg(rc == want, "%s: got %s, wanted %s (%s)", what, cask_err_name(rc), cask_err_name(want), msg);
  ck_assert_msg(strstr(msg, what) != NULL, "the message does not name %s: %s", what, msg);
  if (field) ck_assert_msg(strstr(msg, field) != NULL, "the message does not say %s: %s", field, msg);
}

START_TEST(bad_metadata_is_refused_naming_the_store_and_the_field) {
  static const struct {
    const char *zarray, *field;
  } cases[] = {
      {"{\"zarr_format\": 2,", "not valid JSON"},
      {"[1, 2]", "not a JSON object"},
      {ZARRAY("[5]", "[2]", "<f8", "null", "0", ""), NULL}, /* the good one, as a control */
      {"{\"zarr_format\": 2, \"shape\": [5], \"chunks\": [2], \"dtype\": \"<f8\", \"compressor\": null, \"order\": \"C\", \"filters\": null}",
       "'fill_value': missing"},
      {ZARRAY("[5]", "[2]", ">f8", "null", "0", ""), "'dtype': '>f8' is big-endian"},
      {ZARRAY("[5]", "[2]", "<c16", "null", "0", ""), "'dtype': '<c16'"},
      {ZARRAY("[5]", "[2]", "<i2", "null", "0", ""), "'dtype': '<i2'"},
      {ZARRAY("[5]", "[2]", "<f8", "{\"id\": \"lz4\"}", "0", ""), "'compressor': id 'lz4'"},
      {ZARRAY("[5]", "[2]", "<f8", "{\"level\": 1}", "0", ""), "'compressor'"},
      {ZARRAY("[5]", "[2]", "<f8", "null", "0", ", \"extra\": 1"), "'extra': not a field"},
      {ZARRAY("[5]", "[2, 2]", "<f8", "null", "0", ""), "'chunks'"},
      {ZARRAY("[5]", "[0]", "<f8", "null", "0", ""), "'chunks': item 0"},
      {ZARRAY("[-5]", "[2]", "<f8", "null", "0", ""), "'shape': item 0"},
      {ZARRAY("[5.5]", "[2]", "<f8", "null", "0", ""), "'shape'"},
      {ZARRAY("[5]", "[2]", "<i4", "null", "1.5", ""), "'fill_value'"},
      {ZARRAY("[5]", "[2]", "|u1", "null", "300", ""), "'fill_value'"},
      {ZARRAY("[5]", "[2]", "<f8", "null", "\"nan\"", ""), "'fill_value'"},
      {ZARRAY("[5]", "[2]", "<f8", "null", "0", ", \"dimension_separator\": \"-\""), "'dimension_separator'"},
      {"{\"zarr_format\": 3, \"shape\": [5], \"chunks\": [2], \"dtype\": \"<f8\", \"compressor\": null, \"fill_value\": 0, \"order\": \"C\", \"filters\": null}",
       "'zarr_format'"},
      {"{\"zarr_format\": 2, \"shape\": [5], \"chunks\": [2], \"dtype\": \"<f8\", \"compressor\": null, \"fill_value\": 0, \"order\": \"F\", \"filters\": null}",
       "'order': 'F'"},
      {"{\"zarr_format\": 2, \"shape\": [5], \"chunks\": [2], \"dtype\": \"<f8\", \"compressor\": null, \"fill_value\": 0, \"order\": \"C\", \"filters\": [{\"id\": \"delta\"}]}",
       "'filters'"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    char name[32];
    snprintf(name, sizeof name, "bad%zu.zarr", i);
    const char *p = put_store(name, cases[i].zarray);
    cask_array *r = NULL;
    int rc = cask_read_zarr(ctx, p, NULL, &r);
    if (!cases[i].field) {
      ck_assert_msg(rc == CASK_OK, "control: %s", cask_ctx_errmsg(ctx));
      cask_array_release(r);
      continue;
    }
    ck_assert(r == NULL);
    char what[700];
    snprintf(what, sizeof what, "%s/.zarray", p);
    expect_refused(rc, CASK_EFORMAT, what, cases[i].field);
  }
}
END_TEST

/* Chunks of 2^31 x 2^31 float64s wrapped the signed chunk-size product to a
 * small number, passed the limit, and the read crashed in the box copy. */
START_TEST(regress_zarr_chunk_size_overflow_segfault) {
  static const struct {
    const char *shape, *chunks, *field;
  } cases[] = {
      {"[10, 10]", "[2147483648, 2147483648]", "'chunks'"},
      {"[10, 10, 10]", "[4294967296, 4294967296, 4294967296]", "'chunks'"},
      {"[10]", "[9223372036854775807]", "'chunks'"},
      {"[9223372036854775807, 2]", "[1, 1]", "'shape'"},
      {"[4611686018427387904, 4611686018427387904]", "[1, 1]", "'shape'"},
      {"[10]", "[-2147483648]", "'chunks'"},
      {"[10]", "[9007199254740993]", "'chunks'"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    char name[32], zarray[512];
    snprintf(name, sizeof name, "overflow%zu.zarr", i);
    snprintf(zarray, sizeof zarray, ZARRAY("%s", "%s", "<f8", "null", "0.0", ""), cases[i].shape, cases[i].chunks);
    const char *p = put_store(name, zarray);
    cask_array *r = NULL, *s = NULL;
    int rc = cask_read_zarr(ctx, p, NULL, &r);
    if (rc == CASK_OK) { /* it must then sum without touching memory it lacks */
      ck_assert_int_eq(cask_reduce(CASK_SUM, r, NULL, 0, 0, &s), CASK_OK);
      double v;
      rc = cask_compute_scalar(s, &v);
    }
    cask_array_release(s);
    cask_array_release(r);
    char what[700];
    snprintf(what, sizeof what, "%s/.zarray", p);
    expect_refused(rc, CASK_EFORMAT, what, cases[i].field);
  }
}
END_TEST

START_TEST(corrupt_truncated_and_wrong_size_chunks_fail_naming_the_file) {
  static const cask_zarr_compressor ours[] = {CASK_ZARR_NONE, CASK_ZARR_ZLIB, CASK_ZARR_GZIP, CASK_ZARR_ZSTD,
                                              CASK_ZARR_BLOSC_LZ4};
  static const int64_t shape[] = {64};
  for (int c = 0; c < 5; c++) {
    /* A good chunk from cask_to_zarr, then cut short, then garbled. */
    cask_array *a = NULL;
    ck_assert(cask_arange(ctx, CASK_I32, 0, 64, 1, 64, &a) == CASK_OK);
    const char *p = path_of("bad.zarr");
    cask_zarr_options o = {ours[c], c == 3 ? 1 : 5, 1, '.', 0, 2, {0}};
    ck_assert_msg(cask_to_zarr(a, p, &o) == CASK_OK, "%s", cask_ctx_errmsg(ctx));
    cask_array_release(a);
    char chunk[700];
    snprintf(chunk, sizeof chunk, "%s/0", p);
    size_t n;
    unsigned char *good = get_bytes(chunk, &n);
    for (int k = 0; k < 2; k++) {
      if (k == 0) put_bytes(chunk, good, n - 3);
      else {
        unsigned char *g = malloc(n);
        memcpy(g, good, n);
        for (size_t i = n / 2; i < n; i++) g[i] ^= 0x5a;
        if (c == 0) put_bytes(chunk, g, n - 1); /* a raw chunk can only be the wrong size */
        else put_bytes(chunk, g, n);
        free(g);
      }
      cask_array *r = read_zarr(p, shape);
      void *out = malloc(256);
      int rc = cask_compute(r, out, 256);
      /* Blosc1 checksums nothing: garbled data behind a valid header may
       * decode to other values; what must never happen is a crash or a
       * silently short chunk. */
      if (rc != CASK_OK || c != 4) expect_refused(rc, CASK_EFORMAT, chunk, NULL);
      free(out);
      cask_array_release(r);
    }
    free(good);
    nftw(p, rm_one, 16, FTW_DEPTH | FTW_PHYS);
  }
}
END_TEST

START_TEST(missing_stores_groups_and_bad_arguments_are_refused) {
  cask_array *r = (cask_array *)1;
  const char *none = path_of("none.zarr");
  expect_refused(cask_read_zarr(ctx, none, NULL, &r), CASK_EIO, none, NULL);
  ck_assert(r == NULL);
  const char *g = path_of("group.zarr");
  mkdir(g, 0755);
  put_chunk(g, ".zgroup", "{\"zarr_format\": 2}", 18);
  expect_refused(cask_read_zarr(ctx, g, NULL, &r), CASK_EFORMAT, g, "group");
  const char *v3 = path_of("v3.zarr");
  mkdir(v3, 0755);
  put_chunk(v3, "zarr.json", "{}", 2);
  expect_refused(cask_read_zarr(ctx, v3, NULL, &r), CASK_EFORMAT, v3, "v3");
  const char *file = path_of("file");
  put_bytes(file, "x", 1);
  expect_refused(cask_read_zarr(ctx, file, NULL, &r), CASK_EIO, file, "not a directory");
  ck_assert(cask_read_zarr(ctx, NULL, NULL, &r) == CASK_EINVAL);
  ck_assert(cask_read_zarr(NULL, g, NULL, &r) == CASK_EINVAL);
  ck_assert(cask_read_zarr(ctx, g, NULL, NULL) == CASK_EINVAL);
  const char *p = put_store("ok.zarr", ZARRAY("[5]", "[2]", "<f8", "null", "0", ""));
  expect_refused(cask_read_zarr(ctx, p, (const int64_t[]){-1}, &r), CASK_EINVAL, p, "negative");

  cask_array *a = NULL;
  ck_assert(cask_arange(ctx, CASK_I32, 0, 10, 1, 3, &a) == CASK_OK);
  expect_refused(cask_to_zarr(a, file, NULL), CASK_EIO, file, "not a directory");
  static const cask_zarr_options bad[] = {{CASK_ZARR_ZLIB, 10, 0, '.', 0, 2, {0}}, {CASK_ZARR_ZSTD, 0, 0, '.', 0, 2, {0}},
                                          {CASK_ZARR_BLOSC_LZ4, 5, 3, '.', 0, 2, {0}}, {CASK_ZARR_NONE, 0, 0, '-', 0, 2, {0}},
                                          {CASK_ZARR_NONE, 0, 0, '.', 0.5, 2, {0}}, {(cask_zarr_compressor)9, 0, 0, '.', 0, 2, {0}}};
  const char *out = path_of("out.zarr");
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
    expect_refused(cask_to_zarr(a, out, &bad[i]), CASK_EINVAL, out, NULL);
  ck_assert(cask_to_zarr(a, NULL, NULL) == CASK_EINVAL && cask_to_zarr(NULL, out, NULL) == CASK_EINVAL);
  cask_array_release(a);
}
END_TEST

START_TEST(a_failed_write_leaves_no_temporary_and_no_zarray) {
  /* A chunk key taken by a directory: its rename fails; the other writers
   * finish, no temporary is left and .zarray is not written. */
  cask_array *a = NULL;
  ck_assert(cask_arange(ctx, CASK_F64, 0, 10, 1, 3, &a) == CASK_OK);
  const char *p = path_of("fail.zarr");
  mkdir(p, 0755);
  char sub[700];
  snprintf(sub, sizeof sub, "%s/2", p);
  mkdir(sub, 0755);
  snprintf(sub, sizeof sub, "%s/2/x", p);
  put_bytes(sub, "x", 1);
  int rc = cask_to_zarr(a, p, NULL);
  ck_assert_msg(rc != CASK_OK, "writing over a directory succeeded");
  ck_assert_msg(strstr(cask_ctx_errmsg(ctx), p) != NULL, "%s", cask_ctx_errmsg(ctx));
  ck_assert(no_temporaries(p));
  ck_assert(!exists(p, ".zarray"));
  cask_array_release(a);
}
END_TEST

START_TEST(the_read_graph_has_a_task_per_block_and_runs_from_json) {
  static const int64_t shape[] = {10, 6}, chunks[] = {4, 4};
  void *vals;
  cask_array *a = from_values(CASK_F32, 2, shape, chunks, &vals);
  const char *p = path_of("json.zarr");
  ck_assert(cask_to_zarr(a, p, NULL) == CASK_OK);
  cask_array *r = read_zarr(p, NULL);
  cask_graph *g = NULL;
  ck_assert(cask_array_graph(r, &g) == CASK_OK);
  ck_assert_int_eq(cask_graph_size(g), 6);
  char *json = NULL, *err = NULL;
  size_t len = 0;
  ck_assert(cask_graph_to_json(g, &json, &len) == CASK_OK);
  cask_graph *g2 = NULL;
  ck_assert_msg(cask_graph_from_json(json, len, &g2, &err) == CASK_OK, "%s", err ? err : "");
  cask_results *res = NULL;
  ck_assert(cask_run(cask_ctx_runtime(ctx), g2, NULL, &res) == CASK_OK);
  /* Block (2, 1): rows 8..9, columns 4..5. */
  char key[128];
  const char *k0 = cask_graph_key(g, 0);
  snprintf(key, sizeof key, "%.*s2,1", (int)(strrchr(k0, '-') - k0 + 1), k0);
  const cask_block *b = cask_results_get_key(res, key);
  ck_assert_msg(b != NULL, "no block %s", key);
  ck_assert(cask_block_shape(b)[0] == 2 && cask_block_shape(b)[1] == 2);
  const float *bv = cask_block_data(b), *v = vals;
  for (int i = 0; i < 2; i++)
    for (int j = 0; j < 2; j++) ck_assert(!memcmp(&bv[i * 2 + j], &v[(8 + i) * 6 + 4 + j], 4));
  cask_results_free(res);
  cask_graph_free(g2);
  cask_free(json);
  cask_graph_free(g);
  cask_array_release(r);
  cask_array_release(a);
  free(vals);
}
END_TEST

/* ---- python3-zarr and dask (driven by tests/zarr_check.py) ---------------- */

/* CASK_ZARR_DIR holds stores in_<name> written by zarr and dask. Each is
 * read (its own chunks and odd ones) and written back six times, out_<name>_<k>
 * with compressor k (separator '/' for odd k), for zarr_check.py to compare
 * with what Python holds; cask_<name> are arrays cask made itself. */
static void write_back(cask_array *a, const char *out_dir, const char *name, int k) {
  char p[900];
  snprintf(p, sizeof p, "%s/out_%s_%d", out_dir, name, k);
  cask_zarr_options o = CASK_ZARR_OPTIONS_DEFAULTS;
  o.compressor = compressors[k];
  o.level = k == 0 ? 0 : k == 3 ? 3 : 5;
  o.shuffle = k == 5 ? 2 : 1;
  o.separator = k % 2 ? '/' : '.';
  o.fill_value = 7;
  ck_assert_msg(cask_to_zarr(a, p, &o) == CASK_OK, "to_zarr %s: %s", p, cask_ctx_errmsg(ctx));
}

START_TEST(python_reads_what_cask_writes_and_the_reverse) {
  const char *pydir = getenv("CASK_ZARR_DIR");
  if (!pydir) return;
  DIR *d = opendir(pydir);
  ck_assert_msg(d != NULL, "%s: %s", pydir, strerror(errno));
  struct dirent *e;
  int n = 0;
  while ((e = readdir(d))) {
    if (strncmp(e->d_name, "in_", 3)) continue;
    char p[900];
    snprintf(p, sizeof p, "%s/%s", pydir, e->d_name);
    cask_array *a = read_zarr(p, NULL);
    /* Odd chunks: each block overlaps several chunks of the store. */
    int64_t odd[CASK_MAX_NDIM];
    for (int i = 0; i < cask_array_ndim(a); i++) odd[i] = cask_array_shape(a)[i] / 2 + 1;
    cask_array *b = read_zarr(p, odd);
    for (int k = 0; k < 6; k++) write_back(k % 2 ? b : a, pydir, e->d_name + 3, k);
    cask_array_release(a);
    cask_array_release(b);
    n++;
  }
  closedir(d);
  ck_assert_msg(n > 0, "no in_* stores in %s", pydir);
  cask_array *x = NULL;
  ck_assert(cask_arange(ctx, CASK_I64, 0, 1000, 1, 77, &x) == CASK_OK);
  char p[900];
  snprintf(p, sizeof p, "%s/cask_arange_i8", pydir);
  ck_assert(cask_to_zarr(x, p, NULL) == CASK_OK);
  cask_array_release(x);
  ck_assert(cask_eye(ctx, CASK_F32, 9, 11, 1, 4, &x) == CASK_OK);
  snprintf(p, sizeof p, "%s/cask_eye_f4", pydir);
  ck_assert(cask_to_zarr(x, p, &(cask_zarr_options){CASK_ZARR_ZSTD, 1, 0, '/', NAN, 2, {0}}) == CASK_OK);
  cask_array_release(x);
}
END_TEST

Suite *array_zarr_suite(void) {
  Suite *s = suite_create("array_zarr");
  TCase *tc = tcase_create("round_trip");
  tcase_add_checked_fixture(tc, setup, teardown);
  tcase_add_test(tc, every_dtype_compressor_and_separator_round_trips_with_odd_chunks);
  tcase_add_test(tc, ranks_0_1_and_4_and_empty_arrays_round_trip);
  tcase_add_test(tc, chunk_files_are_named_by_the_separator_and_zarray_says_what_was_written);
  tcase_add_test(tc, many_blocks_are_written_in_parallel_and_an_expression_is_stored);
  tcase_set_timeout(tc, 60);
  suite_add_tcase(s, tc);

  tc = tcase_create("by_hand");
  tcase_add_checked_fixture(tc, setup, teardown);
  tcase_add_test(tc, missing_chunks_read_as_fill_value_also_through_other_chunks);
  tcase_add_test(tc, zlib_and_zstd_chunks_made_by_the_libraries_read);
  tcase_add_test(tc, a_zero_d_store_and_bool_and_u1_fill_values_read);
  suite_add_tcase(s, tc);

  tc = tcase_create("errors");
  tcase_add_checked_fixture(tc, setup, teardown);
  tcase_add_test(tc, bad_metadata_is_refused_naming_the_store_and_the_field);
  tcase_add_test(tc, regress_zarr_chunk_size_overflow_segfault);
  tcase_add_test(tc, corrupt_truncated_and_wrong_size_chunks_fail_naming_the_file);
  tcase_add_test(tc, missing_stores_groups_and_bad_arguments_are_refused);
  tcase_add_test(tc, a_failed_write_leaves_no_temporary_and_no_zarray);
  suite_add_tcase(s, tc);

  tc = tcase_create("graph");
  tcase_add_checked_fixture(tc, setup, teardown);
  tcase_add_test(tc, the_read_graph_has_a_task_per_block_and_runs_from_json);
  suite_add_tcase(s, tc);

  tc = tcase_create("python");
  tcase_add_checked_fixture(tc, setup, teardown);
  tcase_add_test(tc, python_reads_what_cask_writes_and_the_reverse);
  tcase_set_timeout(tc, 60);
  suite_add_tcase(s, tc);
  return s;
}
