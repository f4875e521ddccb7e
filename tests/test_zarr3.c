/* test_zarr3.c - Zarr v3 stores: cask_read_zarr of zarr.json stores (every
 * codec cask reads, sharding with missing chunks and shards, the index at
 * either end) and cask_to_zarr with zarr_format 3 and shards.
 * References are independent of the code under test: chunk and shard
 * files are built here by hand (the transpose, byte swap, gzip, zstd and
 * blosc calls of the libraries, a bitwise CRC-32C), values compared with
 * the ones put in; shard files cask writes are taken apart here. Hostile
 * metadata and shard indexes must be refused with CASK_EFORMAT naming the
 * store and the field or the shard. The peer test (zarrita, a Zarr v3
 * implementation) is tests/zarr3_check.sh. */
#define _XOPEN_SOURCE 700
#include "test-util.h"
#include <blosc.h>
#include <check.h>
#include <errno.h>
#include <ftw.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>
#include <zstd.h>

#include "cask/array.h"
#include "cask/cask.h"
#include "collections/array/io/zarr3.h"

static char dir[256];
static cask_ctx *ctx;

static void setup(void) {
  snprintf(dir, sizeof dir, "%s/cask-zarr3-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
  ck_assert_msg(mkdtemp(dir) != NULL, "mkdtemp: %s", strerror(errno));
  ck_assert(cask_ctx_new(&(cask_options){.threads = 2}, &ctx) == CASK_OK);
}

static int rm_entry(const char *p, const struct stat *st, int flag, struct FTW *f) { return remove(p); }

static void teardown(void) {
  cask_ctx_free(ctx);
  nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* dir/rel written with n bytes, its parent directories made. */
static void put_file(const char *rel, const void *data, size_t n) {
  char p[800];
  snprintf(p, sizeof p, "%s/%s", dir, rel);
  for (char *s = strchr(p + strlen(dir) + 1, '/'); s; s = strchr(s + 1, '/')) {
    *s = '\0';
    mkdir(p, 0755);
    *s = '/';
  }
  FILE *f = fopen(p, "wb");
  ck_assert_msg(f && fwrite(data, 1, n, f) == n && fclose(f) == 0, "%s: %s", p, strerror(errno));
}

static unsigned char *get_file(const char *rel, size_t *n) {
  char p[800];
  snprintf(p, sizeof p, "%s/%s", dir, rel);
  FILE *f = fopen(p, "rb");
  ck_assert_msg(f != NULL, "%s: %s", p, strerror(errno));
  unsigned char *b = malloc(1 << 20);
  *n = fread(b, 1, 1 << 20, f);
  fclose(f);
  return b;
}

/* The bitwise CRC-32C: not cask's table. */
static uint32_t crc_ref(const unsigned char *p, size_t n) {
  uint32_t c = 0xffffffffu;
  for (size_t i = 0; i < n; i++) {
    c ^= p[i];
    for (int k = 0; k < 8; k++) c = c & 1 ? (c >> 1) ^ 0x82f63b78u : c >> 1;
  }
  return ~c;
}

static size_t add_crc(unsigned char *p, size_t n) {
  uint32_t c = crc_ref(p, n);
  for (int k = 0; k < 4; k++) p[n + k] = (unsigned char)(c >> (8 * k));
  return n + 4;
}

/* ---- building chunks by hand -------------------------------------------- */

enum { RAW, GZIP, ZSTD, BLOSC };

typedef struct recipe {
  int transpose; /* 2-D: order [1, 0] */
  int big;       /* bytes codec big-endian */
  int comp;      /* RAW, GZIP, ZSTD, BLOSC */
  int crc;
} recipe;

/* The chunk of r x c doubles (C order) as the codecs would write it. */
static size_t encode_ref(const recipe *rc, const double *v, int64_t r, int64_t c, unsigned char *out) {
  size_t n = (size_t)(r * c) * 8;
  unsigned char *raw = malloc(n);
  for (int64_t i = 0; i < r; i++)
    for (int64_t j = 0; j < c; j++) {
      double x = v[i * c + j];
      int64_t at = rc->transpose ? j * r + i : i * c + j;
      unsigned char b[8];
      memcpy(b, &x, 8);
      for (int k = 0; k < 8; k++) raw[at * 8 + k] = rc->big ? b[7 - k] : b[k];
    }
  size_t m = n;
  if (rc->comp == RAW) memcpy(out, raw, n);
  if (rc->comp == GZIP) {
    z_stream z = {0};
    ck_assert(deflateInit2(&z, 6, Z_DEFLATED, 31, 8, Z_DEFAULT_STRATEGY) == Z_OK);
    z.next_in = raw, z.avail_in = (uInt)n, z.next_out = out, z.avail_out = (uInt)(n + 256);
    ck_assert(deflate(&z, Z_FINISH) == Z_STREAM_END);
    m = z.total_out;
    deflateEnd(&z);
  }
  if (rc->comp == ZSTD) m = ZSTD_compress(out, n + 256, raw, n, 3);
  if (rc->comp == BLOSC) m = (size_t)blosc_compress_ctx(5, 1, 8, n, raw, out, n + 256, "lz4", 0, 1);
  free(raw);
  return rc->crc ? add_crc(out, m) : m;
}

static const char *codecs_json(const recipe *r, char *buf, size_t cap) {
  static const char *const comp[] = {"", ", {\"name\": \"gzip\", \"configuration\": {\"level\": 6}}",
                                     ", {\"name\": \"zstd\", \"configuration\": {\"level\": 3, \"checksum\": false}}",
                                     ", {\"name\": \"blosc\", \"configuration\": {\"cname\": \"lz4\", \"clevel\": 5, "
                                     "\"shuffle\": \"shuffle\", \"typesize\": 8, \"blocksize\": 0}}"};
  snprintf(buf, cap, "[%s{\"name\": \"bytes\", \"configuration\": {\"endian\": \"%s\"}}%s%s]",
           r->transpose ? "{\"name\": \"transpose\", \"configuration\": {\"order\": [1, 0]}}, " : "",
           r->big ? "big" : "little", comp[r->comp], r->crc ? ", {\"name\": \"crc32c\"}" : "");
  return buf;
}

static void put_meta(const char *store, const char *shape, const char *dtype, const char *grid, const char *keys,
                     const char *fill, const char *codecs) {
  char m[4096], rel[300];
  snprintf(m, sizeof m,
           "{\"zarr_format\": 3, \"node_type\": \"array\", \"shape\": %s, \"data_type\": \"%s\", "
           "\"chunk_grid\": {\"name\": \"regular\", \"configuration\": {\"chunk_shape\": %s}}, "
           "\"chunk_key_encoding\": %s, \"fill_value\": %s, \"codecs\": %s, \"attributes\": {}}",
           shape, dtype, grid, keys, fill, codecs);
  snprintf(rel, sizeof rel, "%s/zarr.json", store);
  put_file(rel, m, strlen(m));
}

static cask_array *open_store(const char *store, const int64_t *chunks) {
  char p[600];
  snprintf(p, sizeof p, "%s/%s", dir, store);
  cask_array *a = NULL;
  int rc = cask_read_zarr(ctx, p, chunks, &a);
  ck_assert_msg(rc == CASK_OK, "read_zarr %s: %s", p, cask_ctx_errmsg(ctx));
  return a;
}

static double value_at(int64_t i, int64_t j) { return (double)(i * 100 + j) + 0.5; }

/* ---- reading -------------------------------------------------------------- */

START_TEST(chunks_through_every_codec_read_as_put) {
  static const recipe recipes[] = {{0, 0, RAW, 0}, {1, 1, GZIP, 1}, {0, 1, ZSTD, 0},
                                   {1, 0, BLOSC, 1}, {0, 0, GZIP, 1}};
  for (size_t k = 0; k < sizeof recipes / sizeof recipes[0]; k++) {
    const recipe *r = &recipes[k];
    char store[32], codecs[600];
    snprintf(store, sizeof store, "s%zu", k);
    int v2keys = k == 4; /* "v2" keys "i.j" */
    put_meta(store, "[5, 7]", "float64", "[2, 3]",
             v2keys ? "{\"name\": \"v2\", \"configuration\": {\"separator\": \".\"}}"
                    : "{\"name\": \"default\", \"configuration\": {\"separator\": \"/\"}}",
             "\"NaN\"", codecs_json(r, codecs, sizeof codecs));
    for (int64_t ci = 0; ci < 3; ci++)
      for (int64_t cj = 0; cj < 3; cj++) {
        if (ci == 2 && cj == 1) continue; /* missing: fill value */
        double v[6];
        for (int64_t i = 0; i < 2; i++)
          for (int64_t j = 0; j < 3; j++) v[i * 3 + j] = value_at(ci * 2 + i, cj * 3 + j);
        unsigned char enc[1024];
        size_t n = encode_ref(r, v, 2, 3, enc);
        char rel[100];
        snprintf(rel, sizeof rel, v2keys ? "%s/%lld.%lld" : "%s/c/%lld/%lld", store, (long long)ci, (long long)cj);
        put_file(rel, enc, n);
      }
    for (int pass = 0; pass < 2; pass++) {
      cask_array *a = open_store(store, pass ? (int64_t[]){3, 4} : NULL);
      double out[35];
      ck_assert_msg(cask_compute(a, out, sizeof out) == CASK_OK, "%s: %s", store, cask_ctx_errmsg(ctx));
      for (int64_t i = 0; i < 5; i++)
        for (int64_t j = 0; j < 7; j++) {
          int missing = i / 2 == 2 && j / 3 == 1;
          ck_assert_msg(missing ? isnan(out[i * 7 + j]) : out[i * 7 + j] == value_at(i, j), "%s [%lld,%lld]: %g", store,
                        (long long)i, (long long)j, out[i * 7 + j]);
        }
      cask_array_release(a);
    }
  }
}
END_TEST

/* Shards of 4x4 int32 with inner chunks 2x2 over a 6x5 array: shard
 * (1,1) has no file, inner chunk 1 of shard (0,0) is marked missing; the
 * index at the end with a crc32c, or at the start without. */
static void put_sharded(const char *store, int at_start) {
  char codecs[800];
  snprintf(codecs, sizeof codecs,
           "[{\"name\": \"sharding_indexed\", \"configuration\": {\"chunk_shape\": [2, 2], "
           "\"codecs\": [{\"name\": \"bytes\", \"configuration\": {\"endian\": \"little\"}}, {\"name\": \"gzip\", "
           "\"configuration\": {\"level\": 1}}], \"index_codecs\": [{\"name\": \"bytes\", \"configuration\": "
           "{\"endian\": \"little\"}}%s], \"index_location\": \"%s\"}}]",
           at_start ? "" : ", {\"name\": \"crc32c\"}", at_start ? "start" : "end");
  put_meta(store, "[6, 5]", "int32", "[4, 4]", "{\"name\": \"default\"}", "7", codecs);
  for (int si = 0; si < 2; si++)
    for (int sj = 0; sj < 2; sj++) {
      if (si == 1 && sj == 1) continue;
      unsigned char data[4096];
      uint64_t idx[8];
      size_t used = 0, ib = at_start ? 64 : 68;
      for (int t = 0; t < 4; t++) {
        int ci = si * 2 + t / 2, cj = sj * 2 + t % 2;
        idx[2 * t] = idx[2 * t + 1] = UINT64_MAX;
        if ((si == 0 && sj == 0 && t == 1) || ci * 2 >= 6 || cj * 2 >= 5) continue;
        int32_t v[4];
        for (int k = 0; k < 4; k++) v[k] = (ci * 2 + k / 2) * 10 + cj * 2 + k % 2;
        z_stream z = {0};
        ck_assert(deflateInit2(&z, 1, Z_DEFLATED, 31, 8, Z_DEFAULT_STRATEGY) == Z_OK);
        z.next_in = (Bytef *)v, z.avail_in = sizeof v, z.next_out = data + (at_start ? ib : 0) + used;
        z.avail_out = 500;
        ck_assert(deflate(&z, Z_FINISH) == Z_STREAM_END);
        idx[2 * t] = (at_start ? ib : 0) + used, idx[2 * t + 1] = z.total_out;
        used += z.total_out;
        deflateEnd(&z);
      }
      unsigned char *ip = data + (at_start ? 0 : used);
      memcpy(ip, idx, 64); /* a little-endian host */
      if (!at_start) add_crc(ip, 64);
      char rel[100];
      snprintf(rel, sizeof rel, "%s/c/%d/%d", store, si, sj);
      put_file(rel, data, used + ib);
    }
}

static void check_sharded(const char *store, const int64_t *chunks) {
  cask_array *a = open_store(store, chunks);
  int32_t out[30];
  ck_assert_msg(cask_compute(a, out, sizeof out) == CASK_OK, "%s: %s", store, cask_ctx_errmsg(ctx));
  for (int i = 0; i < 6; i++)
    for (int j = 0; j < 5; j++) {
      int missing = (i >= 4 && j >= 4) || (i < 2 && j >= 2 && j < 4);
      ck_assert_msg(out[i * 5 + j] == (missing ? 7 : i * 10 + j), "%s [%d,%d] = %d", store, i, j, out[i * 5 + j]);
    }
  cask_array_release(a);
}

START_TEST(shards_with_missing_chunks_and_the_index_at_either_end_read_as_put) {
  put_sharded("end", 0);
  put_sharded("start", 1);
  check_sharded("end", NULL);
  check_sharded("end", (int64_t[]){3, 2}); /* blocks across shards and inner chunks */
  check_sharded("start", (int64_t[]){6, 5});
}
END_TEST

START_TEST(the_crc32c_is_castagnolis) {
  ck_assert_uint_eq(cask__crc32c("123456789", 9), 0xe3069283u);
  unsigned char b[1000];
  for (int i = 0; i < 1000; i++) b[i] = (unsigned char)(i * 7 + 1);
  ck_assert_uint_eq(cask__crc32c(b, sizeof b), crc_ref(b, sizeof b));
}
END_TEST

/* ---- writing ---------------------------------------------------------------- */

START_TEST(cask_writes_v3_stores_and_whole_shards_that_read_back) {
  static const int64_t shape[2] = {7, 10}, chunks[2] = {2, 3};
  double v[70];
  for (int i = 0; i < 70; i++) v[i] = value_at(i / 10, i % 10);
  cask_array *x = NULL;
  ck_assert(cask_from_buffer(ctx, v, CASK_F64, 2, shape, chunks, NULL, NULL, &x) == CASK_OK);
  static const cask_zarr_compressor comps[] = {CASK_ZARR_NONE, CASK_ZARR_GZIP, CASK_ZARR_ZSTD, CASK_ZARR_BLOSC_LZ4};
  for (int k = 0; k < 8; k++) {
    cask_zarr_options o = CASK_ZARR_OPTIONS_DEFAULTS;
    o.compressor = comps[k % 4], o.level = k % 4 == 2 ? 3 : 5, o.zarr_format = 3, o.fill_value = -1;
    if (k >= 4) o.shards[0] = 4, o.shards[1] = 6; /* 2 x 2 chunks a shard */
    char p[600];
    snprintf(p, sizeof p, "%s/w%d", dir, k);
    ck_assert_msg(cask_to_zarr(x, p, &o) == CASK_OK, "%s: %s", p, cask_ctx_errmsg(ctx));
    cask_array *y = open_store(p + strlen(dir) + 1, NULL);
    double out[70];
    ck_assert_msg(cask_compute(y, out, sizeof out) == CASK_OK, "%s", cask_ctx_errmsg(ctx));
    ck_assert(!memcmp(out, v, sizeof v));
    cask_array_release(y);
  }
  /* Shard (1, 1) of the uncompressed store: chunks (2,2) (2,3) (3,2) (3,3)
   * of the chunk grid, rows 4..7 and columns 6..11, each partly inside
   * the 7 x 10 array, so present and padded with the fill value. */
  size_t n;
  unsigned char *b = get_file("w4/c/1/1", &n);
  ck_assert(n > 68);
  ck_assert_uint_eq(crc_ref(b + n - 68, 64), (uint32_t)b[n - 4] | (uint32_t)b[n - 3] << 8 |
                                                 (uint32_t)b[n - 2] << 16 | (uint32_t)b[n - 1] << 24);
  uint64_t idx[8];
  memcpy(idx, b + n - 68, 64);
  for (int t = 0; t < 4; t++) {
    ck_assert_uint_eq(idx[2 * t + 1], 48); /* uncompressed 2x3 doubles */
    ck_assert(idx[2 * t] + 48 <= n - 68);
    double c[6];
    memcpy(c, b + idx[2 * t], 48);
    int ci = 2 + t / 2, cj = 2 + t % 2;
    for (int e = 0; e < 6; e++) {
      int64_t i = ci * 2 + e / 3, j = cj * 3 + e % 3;
      ck_assert(c[e] == (i < 7 && j < 10 ? value_at(i, j) : -1)); /* padded with the fill value */
    }
  }
  free(b);
  cask_array_release(x);
}
END_TEST

START_TEST(an_edge_shard_marks_chunks_beyond_the_array_missing) {
  static const int64_t shape[1] = {5}, chunks[1] = {2};
  int32_t v[5] = {1, 2, 3, 4, 5};
  cask_array *x = NULL;
  ck_assert(cask_from_buffer(ctx, v, CASK_I32, 1, shape, chunks, NULL, NULL, &x) == CASK_OK);
  cask_zarr_options o = CASK_ZARR_OPTIONS_DEFAULTS;
  o.compressor = CASK_ZARR_NONE, o.zarr_format = 3, o.shards[0] = 8; /* 4 chunks; chunk 3 (6..7) is beyond */
  char p[600];
  snprintf(p, sizeof p, "%s/e", dir);
  ck_assert_msg(cask_to_zarr(x, p, &o) == CASK_OK, "%s", cask_ctx_errmsg(ctx));
  size_t n;
  unsigned char *b = get_file("e/c/0", &n);
  ck_assert_uint_eq(n, 3 * 8 + 4 * 16 + 4);
  uint64_t idx[8];
  memcpy(idx, b + 24, 64);
  ck_assert(idx[6] == UINT64_MAX && idx[7] == UINT64_MAX);
  int32_t last[2];
  memcpy(last, b + idx[4], 8);
  ck_assert(last[0] == 5 && last[1] == 0); /* padded with fill 0 */
  free(b);
  /* a v3 store replaces a v3 store; shards that do not fit are refused */
  ck_assert(cask_to_zarr(x, p, &o) == CASK_OK);
  o.shards[0] = 3;
  ck_assert_int_eq(cask_to_zarr(x, p, &o), CASK_EINVAL);
  ck_assert(strstr(cask_ctx_errmsg(ctx), "shards[0]"));
  o.shards[0] = 8, o.compressor = CASK_ZARR_ZLIB;
  ck_assert_int_eq(cask_to_zarr(x, p, &o), CASK_EINVAL);
  o.compressor = CASK_ZARR_NONE, o.zarr_format = 2;
  ck_assert_int_eq(cask_to_zarr(x, p, &o), CASK_EINVAL);
  cask_array_release(x);
}
END_TEST

/* A sharded store's read graph: a task per shard (the default blocks),
 * written as JSON, read back and run elsewhere (the arguments are bytes). */
START_TEST(the_read_graph_has_a_task_per_shard_and_runs_from_json) {
  static const int64_t shape[2] = {7, 10}, chunks[2] = {2, 3};
  double v[70];
  for (int i = 0; i < 70; i++) v[i] = value_at(i / 10, i % 10);
  cask_array *x = NULL;
  ck_assert(cask_from_buffer(ctx, v, CASK_F64, 2, shape, chunks, NULL, NULL, &x) == CASK_OK);
  cask_zarr_options o = CASK_ZARR_OPTIONS_DEFAULTS;
  o.zarr_format = 3, o.shards[0] = 4, o.shards[1] = 6;
  char p[600];
  snprintf(p, sizeof p, "%s/g", dir);
  ck_assert(cask_to_zarr(x, p, &o) == CASK_OK);
  cask_array *r = open_store("g", NULL);
  cask_graph *g = NULL, *g2 = NULL;
  ck_assert(cask_array_graph(r, &g) == CASK_OK);
  ck_assert_int_eq(cask_graph_size(g), 4);
  char *json = NULL, *err = NULL;
  size_t len = 0;
  ck_assert(cask_graph_to_json(g, &json, &len) == CASK_OK);
  ck_assert_msg(cask_graph_from_json(json, len, &g2, &err) == CASK_OK, "%s", err ? err : "");
  cask_results *res = NULL;
  ck_assert(cask_run(cask_ctx_runtime(ctx), g2, NULL, &res) == CASK_OK);
  char key[128];
  const char *k0 = cask_graph_key(g, 0);
  snprintf(key, sizeof key, "%.*s1,1", (int)(strrchr(k0, '-') - k0 + 1), k0);
  const cask_block *b = cask_results_get_key(res, key); /* rows 4..6, columns 6..9 */
  ck_assert_msg(b != NULL && cask_block_shape(b)[0] == 3 && cask_block_shape(b)[1] == 4, "block %s", key);
  const double *bv = cask_block_data(b);
  for (int i = 0; i < 3; i++)
    for (int j = 0; j < 4; j++) ck_assert(bv[i * 4 + j] == value_at(4 + i, 6 + j));
  cask_results_free(res);
  cask_graph_free(g2);
  cask_free(json);
  cask_graph_free(g);
  cask_array_release(r);
  cask_array_release(x);
}
END_TEST

/* ---- hostile input ------------------------------------------------------------ */

START_TEST(bad_metadata_is_refused_naming_the_store_and_the_field) {
  static const struct {
    const char *field, *text;
  } cases[] = {
      {"zarr_format", "{\"zarr_format\": 2, \"node_type\": \"array\"}"},
      {"node_type", "{\"zarr_format\": 3, \"node_type\": \"group\"}"},
      {"data_type", "DT\"complex128\""},
      {"chunk_grid", "GRID{\"name\": \"rectilinear\", \"configuration\": {\"chunk_shape\": [2]}}"},
      {"chunk_grid.chunk_shape", "GRID{\"name\": \"regular\", \"configuration\": {\"chunk_shape\": [2, 2]}}"},
      {"chunk_key_encoding", "KEYS{\"name\": \"default\", \"configuration\": {\"separator\": \"-\"}}"},
      {"fill_value", "FILL\"Nope\""},
      {"codecs", "CODECS[{\"name\": \"gzip\"}, {\"name\": \"bytes\"}]"},
      {"codecs", "CODECS[{\"name\": \"bytes\"}, {\"name\": \"lzma\"}]"},
      {"codecs", "CODECS[{\"name\": \"transpose\", \"configuration\": {\"order\": [0, 0]}}, {\"name\": \"bytes\"}]"},
      {"sharding_indexed.chunk_shape",
       "CODECS[{\"name\": \"sharding_indexed\", \"configuration\": {\"chunk_shape\": [3], \"codecs\": [{\"name\": "
       "\"bytes\"}], \"index_codecs\": [{\"name\": \"bytes\"}]}}]"},
      {"sharding_indexed.index_codecs",
       "CODECS[{\"name\": \"sharding_indexed\", \"configuration\": {\"chunk_shape\": [2], \"codecs\": [{\"name\": "
       "\"bytes\"}], \"index_codecs\": [{\"name\": \"bytes\"}, {\"name\": \"gzip\"}]}}]"},
      {"storage_transformers", "EXTRA\"storage_transformers\": [{\"name\": \"x\"}]"},
      {"mystery", "EXTRA\"mystery\": 1"},
  };
  for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
    const char *t = cases[k].text, *dt = "\"float64\"", *grid = "{\"name\": \"regular\", \"configuration\": {\"chunk_shape\": [4]}}";
    const char *keys = "{\"name\": \"default\"}", *fill = "0", *codecs = "[{\"name\": \"bytes\"}]", *extra = "";
    if (!strncmp(t, "DT", 2)) dt = t + 2;
    if (!strncmp(t, "GRID", 4)) grid = t + 4;
    if (!strncmp(t, "KEYS", 4)) keys = t + 4;
    if (!strncmp(t, "FILL", 4)) fill = t + 4;
    if (!strncmp(t, "CODECS", 6)) codecs = t + 6;
    if (!strncmp(t, "EXTRA", 5)) extra = t + 5;
    char m[2048], rel[64];
    if (t[0] == '{') snprintf(m, sizeof m, "%s", t);
    else
      snprintf(m, sizeof m,
               "{\"zarr_format\": 3, \"node_type\": \"array\", \"shape\": [8], \"data_type\": %s, \"chunk_grid\": %s, "
               "\"chunk_key_encoding\": %s, \"fill_value\": %s, \"codecs\": %s%s%s}",
               dt, grid, keys, fill, codecs, *extra ? ", " : "", extra);
    snprintf(rel, sizeof rel, "bad%zu/zarr.json", k);
    put_file(rel, m, strlen(m));
    char p[600], want[100];
    snprintf(p, sizeof p, "%s/bad%zu", dir, k);
    cask_array *a = NULL;
    int rc = cask_read_zarr(ctx, p, NULL, &a);
    snprintf(want, sizeof want, "field '%s'", cases[k].field);
    ck_assert_msg(rc == CASK_EFORMAT && strstr(cask_ctx_errmsg(ctx), p) && strstr(cask_ctx_errmsg(ctx), want),
                  "case %zu (%s): %s: %s", k, cases[k].field, cask_err_name(rc), cask_ctx_errmsg(ctx));
  }
}
END_TEST

/* A one-shard store of 4 inner chunks of 2 uint8 each, raw, index at the
 * end with a crc32c; idx as given (the crc fixed unless bad_crc). */
static int read_shard_with(const char *store, const uint64_t *idx, int bad_crc) {
  put_meta(store, "[8]", "uint8", "[8]", "{\"name\": \"default\"}", "0",
           "[{\"name\": \"sharding_indexed\", \"configuration\": {\"chunk_shape\": [2], \"codecs\": [{\"name\": "
           "\"bytes\"}], \"index_codecs\": [{\"name\": \"bytes\", \"configuration\": {\"endian\": \"little\"}}, "
           "{\"name\": \"crc32c\"}]}}]");
  unsigned char b[8 + 68] = {1, 2, 3, 4, 5, 6, 7, 8};
  memcpy(b + 8, idx, 64);
  add_crc(b + 8, 64);
  if (bad_crc) b[8 + 64] ^= 1;
  char rel[64];
  snprintf(rel, sizeof rel, "%s/c/0", store);
  put_file(rel, b, sizeof b);
  cask_array *a = open_store(store, NULL);
  unsigned char out[8];
  int rc = cask_compute(a, out, sizeof out);
  if (rc == CASK_OK) ck_assert(!memcmp(out, (unsigned char[]){1, 2, 3, 4, 5, 6, 7, 8}, 8));
  cask_array_release(a);
  return rc;
}

START_TEST(bad_shard_indexes_fail_naming_the_shard) {
  uint64_t good[8] = {0, 2, 2, 2, 4, 2, 6, 2};
  ck_assert_int_eq(read_shard_with("ok", good, 0), CASK_OK);
  ck_assert_int_eq(read_shard_with("crc", good, 1), CASK_EFORMAT);
  ck_assert(strstr(cask_ctx_errmsg(ctx), "crc32c") && strstr(cask_ctx_errmsg(ctx), "crc/c/0"));
  uint64_t outside[8] = {0, 2, 2, 2, 4, 2, 7, 2}; /* into the index */
  ck_assert_int_eq(read_shard_with("outside", outside, 0), CASK_EFORMAT);
  ck_assert(strstr(cask_ctx_errmsg(ctx), "outside") && strstr(cask_ctx_errmsg(ctx), "shard index"));
  uint64_t huge[8] = {0, 2, 2, 2, 4, 2, UINT64_MAX - 1, 4};
  ck_assert_int_eq(read_shard_with("huge", huge, 0), CASK_EFORMAT);
  uint64_t overlap[8] = {0, 3, 2, 2, 4, 2, 6, 2};
  ck_assert_int_eq(read_shard_with("overlap", overlap, 0), CASK_EFORMAT);
  ck_assert(strstr(cask_ctx_errmsg(ctx), "overlap"));
  uint64_t half[8] = {0, 2, 2, 2, 4, 2, UINT64_MAX, 2}; /* only one half says missing */
  ck_assert_int_eq(read_shard_with("half", half, 0), CASK_EFORMAT);
  uint64_t short_chunk[8] = {0, 2, 2, 1, 4, 2, 6, 2}; /* a raw chunk of 1 byte */
  ck_assert_int_eq(read_shard_with("short", short_chunk, 0), CASK_EFORMAT);
  /* a shard file shorter than its index */
  put_file("short/c/0", "abc", 3);
  cask_array *a = open_store("short", NULL);
  unsigned char out[8];
  ck_assert_int_eq(cask_compute(a, out, sizeof out), CASK_EFORMAT);
  cask_array_release(a);
}
END_TEST

Suite *zarr3_suite(void) {
  Suite *s = suite_create("zarr3");
  TCase *tc = tcase_create("read");
  tcase_add_checked_fixture(tc, setup, teardown);
  tcase_add_test(tc, chunks_through_every_codec_read_as_put);
  tcase_add_test(tc, shards_with_missing_chunks_and_the_index_at_either_end_read_as_put);
  tcase_add_test(tc, the_crc32c_is_castagnolis);
  suite_add_tcase(s, tc);
  tc = tcase_create("write");
  tcase_add_checked_fixture(tc, setup, teardown);
  tcase_add_test(tc, cask_writes_v3_stores_and_whole_shards_that_read_back);
  tcase_add_test(tc, an_edge_shard_marks_chunks_beyond_the_array_missing);
  tcase_add_test(tc, the_read_graph_has_a_task_per_shard_and_runs_from_json);
  suite_add_tcase(s, tc);
  tc = tcase_create("hostile");
  tcase_add_checked_fixture(tc, setup, teardown);
  tcase_add_test(tc, bad_metadata_is_refused_naming_the_store_and_the_field);
  tcase_add_test(tc, bad_shard_indexes_fail_naming_the_shard);
  suite_add_tcase(s, tc);
  return s;
}
