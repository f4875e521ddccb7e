/* zarr.c - Zarr v2 directory stores: cask_read_zarr (a lazy array whose
 * block tasks read and decode the chunk files their block overlaps) and
 * cask_to_zarr (one task graph whose writer tasks each encode one block as
 * one chunk file, written atomically; .zarray written last).
 * The one thing to know: as in npy.c, a task's arguments carry everything
 * it needs as plain bytes (the store's absolute path, the metadata's
 * fields, the block's box), so a graph can be written as JSON and run
 * elsewhere; codecs live in zarr-codec.c. The format
 * (zarr-specs, v2): .zarray is a JSON object with zarr_format 2, shape,
 * chunks, dtype ('<f8', '|u1', ...), compressor (null or {"id": ...}),
 * fill_value, order ('C' or 'F'), filters (null or a list) and an optional
 * dimension_separator ('.' or '/'); chunk (i, j) is the file "i.j" (or
 * "i/j"), of the full chunk size also at the array's edges; a missing chunk
 * file holds fill_value everywhere. A 0-d array has one chunk, "0". */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stddef.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "io.h"
#include "../core/dtype.h"
#include "../ops/boxcopy.h"
#include "zarr.h"

#define ZARR_MAX_PATH 4096
#define ZARR_MAX_META (1 << 20)          /* bytes of .zarray: larger is not metadata */
#define ZARR_MAX_CHUNK_BYTES ((int64_t)1 << 40)


void cask__zarr_fill_pattern(void *dst, const unsigned char *fill, size_t w, int64_t n) {
  char *d = dst;
  for (int64_t i = 0; i < n; i++) memcpy(d + i * (int64_t)w, fill, w);
}

static int64_t prod(int ndim, const int64_t *v) {
  int64_t n = 1;
  for (int i = 0; i < ndim; i++) n *= v[i];
  return n;
}

void cask__zarr_chunk_key(char *buf, size_t cap, const char *prefix, int ndim, const int64_t *idx, char sep) {
  size_t len = 0;
  int w = prefix ? snprintf(buf, cap, "%s", prefix) : ndim ? 0 : snprintf(buf, cap, "0");
  if (w < 0 || (size_t)w >= cap) return;
  len = (size_t)w;
  for (int i = 0; i < ndim && len < cap; i++) {
    w = i || prefix ? snprintf(buf + len, cap - len, "%c%lld", sep, (long long)idx[i])
                    : snprintf(buf + len, cap - len, "%lld", (long long)idx[i]);
    if (w < 0) return;
    len += (size_t)w;
  }
}

/* ======================================================================
 * .zarray
 * ====================================================================== */

typedef cask__zarr_meta zarr_meta;

static const struct {
  const char *code;
  cask_dtype dtype;
} zarr_dtypes[] = {{"<f8", CASK_F64}, {"<f4", CASK_F32}, {"<i8", CASK_I64}, {"<i4", CASK_I32},
                   {"|u1", CASK_U8},  {"<u1", CASK_U8},  {"|b1", CASK_BOOL}, {"<b1", CASK_BOOL}};

static const char *dtype_code(cask_dtype dt) {
  for (size_t i = 0; i < sizeof zarr_dtypes / sizeof zarr_dtypes[0]; i++)
    if (zarr_dtypes[i].dtype == dt) return zarr_dtypes[i].code;
  return NULL;
}

int cask__zarr_bad(char *err, size_t cap, const char *field, const char *fmt, ...) {
  char what[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(what, sizeof what, fmt, ap);
  va_end(ap);
  cask__fmt(err, cap, "field '%s': %s", field, what);
  return CASK_EFORMAT;
}

int cask__zarr_parse_extents(const cJSON *v, const char *field, int64_t min, int64_t *out, int *n, char *err,
                         size_t cap) {
  if (!cJSON_IsArray(v)) return cask__zarr_bad(err, cap, field, "expected a list of integers");
  int k = 0;
  const cJSON *e;
  cJSON_ArrayForEach(e, v) {
    if (k == CASK_MAX_NDIM) return cask__zarr_bad(err, cap, field, "more than %d axes, cask's limit", CASK_MAX_NDIM);
    double d = e->valuedouble;
    if (!cJSON_IsNumber(e) || d != floor(d) || d < (double)min || d > 9007199254740992.0)
      return cask__zarr_bad(err, cap, field, "item %d is not an integer >= %lld", k, (long long)min);
    out[k++] = (int64_t)d;
  }
  *n = k;
  return CASK_OK;
}

static int parse_dtype(const cJSON *v, zarr_meta *m, char *err, size_t cap) {
  if (cJSON_IsArray(v)) return cask__zarr_bad(err, cap, "dtype", "a structured dtype; cask reads '<f8' '<f4' '<i8' '<i4' '|u1' '|b1'");
  if (!cJSON_IsString(v)) return cask__zarr_bad(err, cap, "dtype", "expected a string such as '<f8'");
  for (size_t i = 0; i < sizeof zarr_dtypes / sizeof zarr_dtypes[0]; i++)
    if (!strcmp(v->valuestring, zarr_dtypes[i].code)) {
      m->dtype = zarr_dtypes[i].dtype;
      return CASK_OK;
    }
  if (v->valuestring[0] == '>')
    return cask__zarr_bad(err, cap, "dtype", "'%s' is big-endian; cask reads little-endian '<f8' '<f4' '<i8' '<i4' '|u1' '|b1'",
               v->valuestring);
  return cask__zarr_bad(err, cap, "dtype", "'%s' is not a dtype cask reads ('<f8' '<f4' '<i8' '<i4' '|u1' '|b1')",
             v->valuestring);
}

static int parse_compressor(const cJSON *v, zarr_meta *m, char *err, size_t cap) {
  static const char *const ids[CASK__ZARR_CODEC_COUNT] = {NULL, "zlib", "gzip", "zstd", "blosc"};
  if (cJSON_IsNull(v)) {
    m->codec = CASK__ZARR_CODEC_NONE;
    return CASK_OK;
  }
  if (!cJSON_IsObject(v)) return cask__zarr_bad(err, cap, "compressor", "expected null or an object with an \"id\"");
  const cJSON *id = cJSON_GetObjectItemCaseSensitive(v, "id");
  if (!cJSON_IsString(id)) return cask__zarr_bad(err, cap, "compressor", "no string \"id\"");
  for (int c = 1; c < CASK__ZARR_CODEC_COUNT; c++)
    if (!strcmp(id->valuestring, ids[c])) {
      m->codec = c;
      return CASK_OK;
    }
  return cask__zarr_bad(err, cap, "compressor", "id '%s' is not a compressor cask reads (zlib, gzip, zstd, blosc)",
             id->valuestring);
}

int cask__zarr_parse_fill(const cJSON *v, cask_dtype dt, unsigned char *fill, char *err, size_t cap) {
  memset(fill, 0, 8);
  if (cJSON_IsNull(v)) return CASK_OK;
  double d;
  int is_float = dt == CASK_F64 || dt == CASK_F32;
  if (cJSON_IsBool(v)) {
    if (dt != CASK_BOOL) return cask__zarr_bad(err, cap, "fill_value", "true/false for a dtype that is not bool");
    d = cJSON_IsTrue(v);
  } else if (cJSON_IsString(v) && is_float) {
    const char *s = v->valuestring;
    if (!strcmp(s, "NaN")) d = NAN;
    else if (!strcmp(s, "Infinity")) d = INFINITY;
    else if (!strcmp(s, "-Infinity")) d = -INFINITY;
    else return cask__zarr_bad(err, cap, "fill_value", "the string '%s' (expected a number, \"NaN\", \"Infinity\" or \"-Infinity\")", s);
  } else if (cJSON_IsNumber(v)) {
    d = v->valuedouble;
  } else {
    return cask__zarr_bad(err, cap, "fill_value", "expected null or a value of the dtype");
  }
  if (!is_float) {
    double lo = dt == CASK_I64 ? -9223372036854775808.0 : dt == CASK_I32 ? -2147483648.0 : 0;
    double hi = dt == CASK_I64 ? 9223372036854775807.0 : dt == CASK_I32 ? 2147483647.0
                : dt == CASK_U8 ? 255 : 1;
    if (d != floor(d) || d < lo || d >= hi + 1)
      return cask__zarr_bad(err, cap, "fill_value", "%.17g is not a value of dtype %s", d, dtype_code(dt));
  }
  cask__cast(fill, dt, &d, CASK_F64, 1);
  return CASK_OK;
}

static int parse_field(const cJSON *v, zarr_meta *m, char *err, size_t cap, int *nshape, int *nchunks) {
  const char *k = v->string;
  if (!strcmp(k, "zarr_format")) {
    if (!cJSON_IsNumber(v) || v->valuedouble != 2)
      return cask__zarr_bad(err, cap, k, "expected 2 (cask reads Zarr v2 stores)");
    return CASK_OK;
  }
  if (!strcmp(k, "shape")) return cask__zarr_parse_extents(v, k, 0, m->shape, nshape, err, cap);
  if (!strcmp(k, "chunks")) return cask__zarr_parse_extents(v, k, 1, m->chunks, nchunks, err, cap);
  if (!strcmp(k, "dtype")) return parse_dtype(v, m, err, cap);
  if (!strcmp(k, "compressor")) return parse_compressor(v, m, err, cap);
  if (!strcmp(k, "fill_value")) return CASK_OK; /* after dtype: see parse_meta */
  if (!strcmp(k, "order")) {
    if (cJSON_IsString(v) && !strcmp(v->valuestring, "C")) return CASK_OK;
    if (cJSON_IsString(v) && !strcmp(v->valuestring, "F"))
      return cask__zarr_bad(err, cap, k, "'F' (Fortran order) is not supported; cask reads C order");
    return cask__zarr_bad(err, cap, k, "expected \"C\"");
  }
  if (!strcmp(k, "filters")) {
    if (cJSON_IsNull(v) || (cJSON_IsArray(v) && cJSON_GetArraySize(v) == 0)) return CASK_OK;
    return cask__zarr_bad(err, cap, k, "filters are not supported (expected null)");
  }
  if (!strcmp(k, "dimension_separator")) {
    if (cJSON_IsString(v) && (!strcmp(v->valuestring, ".") || !strcmp(v->valuestring, "/"))) {
      m->sep = v->valuestring[0];
      return CASK_OK;
    }
    return cask__zarr_bad(err, cap, k, "expected \".\" or \"/\"");
  }
  return cask__zarr_bad(err, cap, k, "not a field of Zarr v2 array metadata");
}

static const char *const required[] = {"zarr_format", "shape", "chunks", "dtype", "compressor", "fill_value",
                                       "order", "filters"};

int cask__zarr_parse_meta(const char *text, size_t n, cask__zarr_meta *m, char *err, size_t cap) {
  memset(m, 0, sizeof *m);
  m->sep = '.';
  const char *end = NULL;
  cJSON *root = cJSON_ParseWithLengthOpts(text, n, &end, 0);
  if (!root) {
    cask__fmt(err, cap, "not valid JSON (byte %lld)", (long long)(end ? end - text : 0));
    return CASK_EFORMAT;
  }
  int rc = CASK_OK, nshape = -1, nchunks = -1;
  if (!cJSON_IsObject(root)) {
    cask__fmt(err, cap, "not a JSON object");
    rc = CASK_EFORMAT;
  }
  for (size_t i = 0; !rc && i < sizeof required / sizeof required[0]; i++)
    if (!cJSON_GetObjectItemCaseSensitive(root, required[i])) rc = cask__zarr_bad(err, cap, required[i], "missing");
  const cJSON *v;
  if (!rc) cJSON_ArrayForEach(v, root) {
      if ((rc = parse_field(v, m, err, cap, &nshape, &nchunks))) break;
    }
  if (!rc && nshape != nchunks)
    rc = cask__zarr_bad(err, cap, "chunks", "%d extents for a shape of %d axes", nchunks, nshape);
  if (!rc) {
    m->ndim = nshape;
    rc = cask__zarr_parse_fill(cJSON_GetObjectItemCaseSensitive(root, "fill_value"), m->dtype, m->fill, err, cap);
  }
  /* Checked products: a crafted .zarray with chunks of 2^31 x 2^31 once
   * wrapped the signed product and passed the limit. */
  int64_t bytes = (int64_t)cask_dtype_size(m->dtype), total = bytes;
  for (int i = 0; !rc && i < m->ndim; i++) {
    if (__builtin_mul_overflow(bytes, m->chunks[i], &bytes) || bytes > ZARR_MAX_CHUNK_BYTES)
      rc = cask__zarr_bad(err, cap, "chunks", "a chunk of more than %lld bytes", (long long)ZARR_MAX_CHUNK_BYTES);
    else if (m->shape[i] && (__builtin_mul_overflow(total, m->shape[i], &total) || total > ((int64_t)1 << 61)))
      rc = cask__zarr_bad(err, cap, "shape", "more than 2^61 bytes");
  }
  cJSON_Delete(root);
  return rc;
}

/* ======================================================================
 * File helpers
 * ====================================================================== */

int cask__zarr_slurp(const char *dir, const char *name, int64_t max, char **out, size_t *n, struct stat *st, char *err,
                 size_t cap) {
  char p[ZARR_MAX_PATH + 64];
  cask__fmt(p, sizeof p, "%s/%s", dir, name);
  int fd = open(p, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    cask__fmt(err, cap, "%s: cannot open: %s", name, strerror(errno));
    return errno == ENOENT ? CASK_ENOTFOUND : CASK_EIO;
  }
  int rc = CASK_OK;
  char *buf = NULL;
  if (fstat(fd, st) != 0 || !S_ISREG(st->st_mode)) {
    cask__fmt(err, cap, "%s: not a regular file", name);
    rc = CASK_EIO;
  } else if (st->st_size > max) {
    cask__fmt(err, cap, "%s: %lld bytes, more than the %lld cask reads", name, (long long)st->st_size, (long long)max);
    rc = CASK_EFORMAT;
  } else if (!(buf = cask__malloc((size_t)st->st_size + 1))) {
    cask__fmt(err, cap, "%s: out of memory", name);
    rc = CASK_ENOMEM;
  } else if (cask__pread_full(fd, buf, (size_t)st->st_size, 0) != st->st_size) {
    cask__fmt(err, cap, "%s: reading: %s", name, strerror(errno));
    rc = CASK_EIO;
  }
  close(fd);
  if (rc) {
    cask__free(buf);
    return rc;
  }
  buf[st->st_size] = '\0';
  *out = buf;
  *n = (size_t)st->st_size;
  return CASK_OK;
}

/* ======================================================================
 * Reading: the "array.zarr_read" op
 * ====================================================================== */

/* A read task's arguments, followed by path_len bytes of the store's
 * absolute path (no NUL). */
typedef struct read_args {
  int32_t dtype, ndim, codec, sep;
  int64_t shape[CASK_MAX_NDIM], zchunk[CASK_MAX_NDIM]; /* the store's */
  int64_t off[CASK_MAX_NDIM], ext[CASK_MAX_NDIM];      /* the block's box */
  unsigned char fill[8];                               /* little-endian, as in a chunk file */
  uint32_t path_len, pad;
} read_args;

/* The arguments may come from a JSON file: check them before use. */
_Static_assert(offsetof(read_args, path_len) == sizeof(read_args) - 8, "path_len: cask__zarr_take_args");
static int check_read_args(const void *args, size_t len) {
  const read_args *a = args;
  if (len < sizeof *a || len - sizeof *a != a->path_len || a->path_len == 0 || a->path_len >= ZARR_MAX_PATH ||
      (unsigned)a->dtype >= CASK_DTYPE_COUNT || a->ndim < 0 || a->ndim > CASK_MAX_NDIM ||
      (unsigned)a->codec >= CASK__ZARR_CODEC_COUNT || (a->sep != '.' && a->sep != '/'))
    return CASK_EINVAL;
  int64_t bytes = (int64_t)cask_dtype_size((cask_dtype)a->dtype);
  for (int i = 0; i < a->ndim; i++) {
    if (a->shape[i] < 0 || a->zchunk[i] < 1 || a->off[i] < 0 || a->ext[i] < 0 || a->off[i] > a->shape[i] ||
        a->ext[i] > a->shape[i] - a->off[i] || a->zchunk[i] > ZARR_MAX_CHUNK_BYTES)
      return CASK_EINVAL;
    if (__builtin_mul_overflow(bytes, a->zchunk[i], &bytes) || bytes > ZARR_MAX_CHUNK_BYTES) return CASK_EINVAL;
  }
  return CASK_OK;
}

typedef struct reader {
  const read_args *a;
  const char *store;
  size_t w;
  char *err;
  size_t cap;
} reader;

int cask__zarr_read_file(const char *p, int64_t max, char **out, size_t *n, char *err, size_t cap) {
  int fd = open(p, O_RDONLY | O_CLOEXEC);
  if (fd < 0 && (errno == ENOENT || errno == ENOTDIR)) return CASK_ENOTFOUND;
  if (fd < 0) {
    cask__fmt(err, cap, "%s: cannot open: %s", p, strerror(errno));
    return CASK_EIO;
  }
  struct stat st;
  int rc = CASK_OK;
  char *buf = NULL;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    cask__fmt(err, cap, "%s: not a regular file", p);
    rc = CASK_EIO;
  } else if (st.st_size > max) {
    cask__fmt(err, cap, "%s: %lld bytes, too large for a chunk of this array", p, (long long)st.st_size);
    rc = CASK_EFORMAT;
  } else if (!(buf = cask__malloc_big((size_t)st.st_size + 1))) {
    cask__fmt(err, cap, "%s: out of memory", p);
    rc = CASK_ENOMEM;
  } else if (cask__pread_full(fd, buf, (size_t)st.st_size, 0) != st.st_size) {
    cask__fmt(err, cap, "%s: reading: %s", p, strerror(errno));
    rc = CASK_EIO;
  }
  close(fd);
  if (rc) {
    cask__free(buf);
    return rc;
  }
  *out = buf;
  *n = (size_t)st.st_size;
  return CASK_OK;
}

/* Chunk key's file into dst (the whole chunk, want bytes): decoded, or
 * the fill value when the file does not exist. */
static int read_chunk(const reader *r, const char *key, void *dst, size_t want) {
  char p[ZARR_MAX_PATH + 512];
  cask__fmt(p, sizeof p, "%s/%s", r->store, key);
  char *buf = NULL;
  size_t n = 0;
  int rc = cask__zarr_read_file(p, cask__zarr_max_encoded(want), &buf, &n, r->err, r->cap);
  if (rc == CASK_ENOTFOUND) {
    cask__zarr_fill_pattern(dst, r->a->fill, r->w, (int64_t)(want / r->w));
    return CASK_OK;
  }
  if (rc) return rc;
  char why[512];
  rc = cask__zarr_decode(r->a->codec, buf, n, dst, want, why, sizeof why);
  if (rc) cask__fmt(r->err, r->cap, "%s: %s", p, why);
  cask__free(buf);
  return rc;
}

/* Every chunk the box overlaps, in C order: decoded straight into the
 * block when the block is exactly that chunk, else into a chunk-sized
 * buffer and the overlap copied. */
static int read_chunks(const reader *r, char *dst) {
  const read_args *a = r->a;
  int nd = a->ndim;
  /* chunk c = lo + at, at walking over the nch chunks per axis */
  int64_t lo[CASK_MAX_NDIM], nch[CASK_MAX_NDIM], at[CASK_MAX_NDIM] = {0}, c[CASK_MAX_NDIM];
  int direct = 1;
  for (int i = 0; i < nd; i++) {
    lo[i] = c[i] = a->off[i] / a->zchunk[i];
    nch[i] = (a->off[i] + a->ext[i] - 1) / a->zchunk[i] - lo[i] + 1;
    direct &= a->off[i] % a->zchunk[i] == 0 && a->ext[i] == a->zchunk[i];
  }
  size_t want = (size_t)prod(nd, a->zchunk) * r->w;
  char *tmp = direct ? NULL : cask__malloc_big(want);
  if (!direct && !tmp) {
    cask__fmt(r->err, r->cap, "%s: out of memory for a chunk of %zu bytes", r->store, want);
    return CASK_ENOMEM;
  }
  int rc = CASK_OK;
  for (;;) {
    char key[512];
    cask__zarr_chunk_key(key, sizeof key, NULL, nd, c, (char)a->sep);
    if ((rc = read_chunk(r, key, direct ? dst : tmp, want))) break;
    if (!direct) {
      int64_t ds[CASK_MAX_NDIM], ss[CASK_MAX_NDIM], step[CASK_MAX_NDIM], n[CASK_MAX_NDIM];
      for (int i = 0; i < nd; i++) {
        int64_t cs = c[i] * a->zchunk[i], s = cs > a->off[i] ? cs : a->off[i];
        int64_t e = cs + a->zchunk[i] < a->off[i] + a->ext[i] ? cs + a->zchunk[i] : a->off[i] + a->ext[i];
        ds[i] = s - a->off[i], ss[i] = s - cs, step[i] = 1, n[i] = e - s;
      }
      cask__box_copy(dst, a->ext, ds, tmp, a->zchunk, ss, step, n, nd, r->w);
    }
    if (cask__index_next(nd, at, nch) < 0) break;
    for (int i = 0; i < nd; i++) c[i] = lo[i] + at[i];
  }
  cask__free(tmp);
  return rc;
}

int cask__zarr_take_args(const cask_task_io *io, void *a, size_t head, int (*check)(const void *a, size_t len),
                         const char *op, char *store) {
  if (io->args_len < head) return CASK_EINVAL;
  memcpy(a, io->args, head);
  if (check(a, io->args_len)) {
    cask__fmt(io->errmsg, io->errmsg_cap, "malformed %s arguments", op);
    return CASK_EINVAL;
  }
  uint32_t n; /* checked: < ZARR_MAX_PATH */
  memcpy(&n, (const char *)a + head - 8, sizeof n);
  memcpy(store, (const char *)io->args + head, n);
  store[n] = '\0';
  return CASK_OK;
}

static int read_run(cask_task_io *io) {
  read_args a;
  char store[ZARR_MAX_PATH];
  if (cask__zarr_take_args(io, &a, sizeof a, check_read_args, "zarr_read", store)) return CASK_EINVAL;
  int rc = cask_block_new((cask_dtype)a.dtype, a.ndim, a.ext, &io->output);
  int64_t n = rc ? 0 : cask_block_size(io->output);
  if (rc || n == 0) return rc;
  reader r = {&a, store, cask_dtype_size((cask_dtype)a.dtype), io->errmsg, io->errmsg_cap};
  char *dst = cask_block_data(io->output);
  if ((rc = read_chunks(&r, dst))) return rc;
  if (cask__host_big_endian()) cask__byteswap(dst, r.w, n);
  if (a.dtype == CASK_BOOL) /* a bool byte that is not 0 or 1 reads as True */
    for (int64_t i = 0; i < n; i++) dst[i] = dst[i] != 0;
  return CASK_OK;
}

/* ---- the node ------------------------------------------------------------ */

static const cask_op *op_read, *op_write;

/* a->ext: read_args with an empty box, followed by the path. */
static const cask__reader_class zarr_class = CASK__READER_CLASS("zarr", read_args, &op_read);

/* The store's .zarray into m; also refuses groups clearly. *v3: the store
 * holds zarr.json and no .zarray (nothing parsed; zarr3.c reads it). */
static int open_store(cask_ctx *ctx, const char *path, char *abs, zarr_meta *m, struct stat *st, int *v3) {
  struct stat ds;
  if (stat(path, &ds) != 0) return cask__fail(ctx, CASK_EIO, "read_zarr %s: %s", path, strerror(errno));
  if (!S_ISDIR(ds.st_mode)) return cask__fail(ctx, CASK_EIO, "read_zarr %s: not a directory (a Zarr v2 directory store)", path);
  if (!realpath(path, abs)) return cask__fail(ctx, CASK_EIO, "read_zarr %s: cannot resolve the path: %s", path, strerror(errno));
  char err[768], *text = NULL;
  size_t n = 0;
  int rc = cask__zarr_slurp(abs, ".zarray", ZARR_MAX_META, &text, &n, st, err, sizeof err);
  if (rc == CASK_ENOTFOUND) {
    char p[ZARR_MAX_PATH + 16];
    struct stat s2;
    cask__fmt(p, sizeof p, "%s/zarr.json", abs);
    if ((*v3 = stat(p, &s2) == 0)) return CASK_OK;
    cask__fmt(p, sizeof p, "%s/.zgroup", abs);
    return cask__fail(ctx, CASK_EFORMAT, "read_zarr %s: no .zarray or zarr.json: %s", path,
                      stat(p, &s2) == 0 ? "a Zarr group, not an array (open one of its arrays)" : "not a Zarr array");
  }
  if (rc) return cask__fail(ctx, rc, "read_zarr %s: %s", path, err);
  rc = cask__zarr_parse_meta(text, n, m, err, sizeof err);
  cask__free(text);
  if (rc) return cask__fail(ctx, rc, "read_zarr %s/.zarray: %s", path, err);
  return CASK_OK;
}

static read_args *make_ext(const zarr_meta *m, const char *abs) {
  size_t len = strlen(abs);
  read_args *a = cask__calloc(1, sizeof *a + len);
  if (!a) return NULL;
  a->dtype = m->dtype, a->ndim = m->ndim, a->codec = m->codec, a->sep = m->sep;
  memcpy(a->shape, m->shape, sizeof m->shape);
  memcpy(a->zchunk, m->chunks, sizeof m->chunks);
  memcpy(a->fill, m->fill, sizeof a->fill);
  /* As a chunk's bytes: a block is swapped to the host's order whole. */
  if (cask__host_big_endian()) cask__byteswap(a->fill, cask_dtype_size(m->dtype), 1);
  a->path_len = (uint32_t)len;
  memcpy(a + 1, abs, len);
  return a;
}

int cask_read_zarr(cask_ctx *ctx, const char *path, const int64_t *chunks, cask_array **out) {
  if (!out) return CASK_EINVAL;
  *out = NULL;
  if (!ctx) return CASK_EINVAL;
  if (!path || !*path) return cask__fail(ctx, CASK_EINVAL, "read_zarr: the path is NULL or empty");
  if (strlen(path) >= ZARR_MAX_PATH) return cask__fail(ctx, CASK_EINVAL, "read_zarr: the path is too long");
  char abs[ZARR_MAX_PATH];
  zarr_meta m;
  struct stat st;
  int v3 = 0, rc = open_store(ctx, path, abs, &m, &st, &v3);
  if (rc) return rc;
  if (v3) return cask__zarr3_open(ctx, path, abs, chunks, out);
  for (int i = 0; chunks && i < m.ndim; i++)
    if (chunks[i] < 0)
      return cask__fail(ctx, CASK_EINVAL, "read_zarr %s: chunk %lld on axis %d is negative", path,
                        (long long)chunks[i], i);
  read_args *ext = make_ext(&m, abs);
  if (!ext) return cask__fail(ctx, CASK_ENOMEM, "read_zarr %s: out of memory", path);
  rc = cask__node_new_ext(ctx, &zarr_class.cls, ext, m.dtype, m.ndim, m.shape, chunks ? chunks : m.chunks, 0, NULL, out);
  if (rc) return rc;
  /* The token: the path, the metadata and .zarray's identity (a store
   * rewritten since gets other tasks); the node adds shape and chunks. */
  struct {
    read_args head;
    uint64_t path_hash;
    int64_t size, mtime_s, mtime_ns, ino;
  } seal;
  memset(&seal, 0, sizeof seal);
  memcpy(&seal.head, ext, sizeof seal.head);
  seal.path_hash = cask__hash(abs, strlen(abs), 0x7a617272);
  seal.size = st.st_size, seal.mtime_s = st.st_mtim.tv_sec, seal.mtime_ns = st.st_mtim.tv_nsec;
  seal.ino = (int64_t)st.st_ino;
  cask__node_seal(*out, &seal, sizeof seal);
  return CASK_OK;
}

/* ======================================================================
 * Writing: the "array.zarr_write" op and cask_to_zarr
 * ====================================================================== */

/* A writer task's arguments, followed by path_len bytes of the store's
 * path: one block of the array, encoded as one chunk file. */
typedef struct write_args {
  int32_t dtype, ndim, codec, level, shuffle, blosc_zstd, sep, pad;
  int64_t zchunk[CASK_MAX_NDIM], ext[CASK_MAX_NDIM], bidx[CASK_MAX_NDIM];
  unsigned char fill[8];
  uint32_t path_len, pad2;
} write_args;

_Static_assert(offsetof(write_args, path_len) == sizeof(write_args) - 8, "path_len: cask__zarr_take_args");
static int check_write_args(const void *args, size_t len) {
  const write_args *a = args;
  if (len < sizeof *a || len - sizeof *a != a->path_len || a->path_len == 0 || a->path_len >= ZARR_MAX_PATH ||
      (unsigned)a->dtype >= CASK_DTYPE_COUNT || a->ndim < 0 || a->ndim > CASK_MAX_NDIM ||
      (unsigned)a->codec >= CASK__ZARR_CODEC_COUNT || (a->sep != '.' && a->sep != '/') || (unsigned)a->shuffle > 2)
    return CASK_EINVAL;
  int64_t bytes = (int64_t)cask_dtype_size((cask_dtype)a->dtype);
  for (int i = 0; i < a->ndim; i++) {
    if (a->zchunk[i] < 1 || a->ext[i] < 0 || a->ext[i] > a->zchunk[i] || a->bidx[i] < 0) return CASK_EINVAL;
    if (__builtin_mul_overflow(bytes, a->zchunk[i], &bytes) || bytes > ZARR_MAX_CHUNK_BYTES) return CASK_EINVAL;
  }
  return CASK_OK;
}

/* The whole chunk (zchunk extents, the array's dtype, little-endian) in a
 * new buffer: the block converted, an edge chunk padded with the fill
 * value as zarr pads it. */
char *cask__zarr_chunk_bytes(cask_dtype dt, int ndim, const int64_t *zchunk, const int64_t *ext,
                             const unsigned char *fill, const cask_block *b) {
  size_t w = cask_dtype_size(dt);
  int64_t n = prod(ndim, zchunk), nb = cask_block_size(b);
  char *chunk = cask__malloc((size_t)n * w + 1), *conv = NULL;
  if (!chunk) return NULL;
  const char *src = cask_block_data(b);
  int whole = nb == n;
  if (cask_block_dtype(b) != dt) {
    if (!whole && !(conv = cask__malloc((size_t)nb * w + 1))) {
      cask__free(chunk);
      return NULL;
    }
    cask__cast(whole ? chunk : conv, dt, src, cask_block_dtype(b), nb);
    src = whole ? NULL : conv;
  } else if (whole && n) {
    memcpy(chunk, src, (size_t)n * w);
    src = NULL;
  }
  if (src) {
    int64_t zero[CASK_MAX_NDIM] = {0}, step[CASK_MAX_NDIM];
    for (int i = 0; i < ndim; i++) step[i] = 1;
    cask__zarr_fill_pattern(chunk, fill, w, n);
    cask__box_copy(chunk, zchunk, zero, src, ext, zero, step, ext, ndim, w);
  }
  cask__free(conv);
  if (cask__host_big_endian()) cask__byteswap(chunk, w, n);
  return chunk;
}

/* path's bytes written under a temporary name next to it, renamed into
 * place: a reader never sees half a chunk, and a failed write leaves no
 * temporary. Unlike cask__write_file_atomic there is no fsync (neither
 * zarr nor dask syncs chunks): a store is as durable as any file the
 * program writes, and thousands of chunks do not wait for the disk. */
int cask__zarr_write_file(const char *path, const void *data, size_t len, char *err, size_t cap) {
  char tmp[ZARR_MAX_PATH + 600];
  cask__temp_name(tmp, sizeof tmp, path);
  int fd = mkstemp(tmp);
  if (fd < 0) {
    cask__fmt(err, cap, "%s: cannot create a temporary file: %s", path, strerror(errno));
    return CASK_EIO;
  }
  size_t done = 0;
  while (done < len) {
    ssize_t w = write(fd, (const char *)data + done, len - done);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) {
      cask__fmt(err, cap, "%s: writing %zu bytes: %s", path, len, w < 0 ? strerror(errno) : "no progress");
      goto fail;
    }
    done += (size_t)w;
  }
  /* a large chunk leaves the page cache (see cask__drop_cached) */
  if (len >= ((size_t)1 << 20)) cask__drop_cached(fd, 0, (int64_t)len, 1);
  /* mkstemp makes the file 0600; a store is shared like any file. */
  if (fchmod(fd, 0644) != 0) {
    cask__fmt(err, cap, "%s: chmod: %s", path, strerror(errno));
    goto fail;
  }
  if (close(fd) != 0) {
    fd = -1;
    cask__fmt(err, cap, "%s: closing: %s", path, strerror(errno));
    goto fail;
  }
  fd = -1;
  if (rename(tmp, path) != 0) {
    cask__fmt(err, cap, "%s: renaming the temporary file into place: %s", path, strerror(errno));
    goto fail;
  }
  return CASK_OK;
fail:
  if (fd >= 0) close(fd);
  unlink(tmp);
  return CASK_EIO;
}

int cask__zarr_make_parents(const char *store, const char *key, char *err, size_t cap) {
  char p[ZARR_MAX_PATH + 512];
  for (const char *s = strchr(key, '/'); s; s = strchr(s + 1, '/')) {
    cask__fmt(p, sizeof p, "%s/%.*s", store, (int)(s - key), key);
    if (mkdir(p, 0755) != 0 && errno != EEXIST) {
      cask__fmt(err, cap, "%s: cannot create the directory: %s", p, strerror(errno));
      return CASK_EIO;
    }
  }
  return CASK_OK;
}

static int write_run(cask_task_io *io) {
  write_args a;
  char store[ZARR_MAX_PATH], key[512], p[ZARR_MAX_PATH + 512];
  if (cask__zarr_take_args(io, &a, sizeof a, check_write_args, "zarr_write", store)) return CASK_EINVAL;
  int rc = cask__sink_check_block(io, a.ndim, a.ext, "chunk");
  if (rc) return rc;
  cask__zarr_chunk_key(key, sizeof key, NULL, a.ndim, a.bidx, (char)a.sep);
  cask__fmt(p, sizeof p, "%s/%s", store, key);
  size_t w = cask_dtype_size((cask_dtype)a.dtype), n = (size_t)prod(a.ndim, a.zchunk) * w;
  char *chunk = cask__zarr_chunk_bytes((cask_dtype)a.dtype, a.ndim, a.zchunk, a.ext, a.fill, io->inputs[0]);
  if (!chunk) {
    cask__fmt(io->errmsg, io->errmsg_cap, "%s: out of memory for a chunk of %zu bytes", p, n);
    return CASK_ENOMEM;
  }
  void *enc = NULL;
  size_t encn = 0;
  char why[512];
  rc = cask__zarr_encode(a.codec, a.level, a.blosc_zstd ? "zstd" : "lz4", a.shuffle, w, chunk, n, &enc, &encn, why,
                         sizeof why);
  cask__free(chunk);
  if (rc) {
    cask__fmt(io->errmsg, io->errmsg_cap, "%s: %s", p, why);
    return rc;
  }
  if (!(rc = cask__zarr_make_parents(store, key, io->errmsg, io->errmsg_cap))) {
    rc = cask__zarr_write_file(p, enc, encn, io->errmsg, io->errmsg_cap);
  }
  cask__free(enc);
  return rc;
}

/* ---- cask_to_zarr ------------------------------------------------------- */

static void place_block(void *args, const int64_t *bidx, const int64_t *off, const int64_t *ext) {
  write_args *w = args;
  memcpy(w->ext, ext, sizeof w->ext[0] * (size_t)w->ndim);
  memcpy(w->bidx, bidx, sizeof w->bidx[0] * (size_t)w->ndim);
  (void)off;
}

cJSON *cask__zarr_int_list(int n, const int64_t *v) {
  cJSON *l = cJSON_CreateArray();
  for (int i = 0; l && i < n; i++) {
    cJSON *e = cJSON_CreateNumber((double)v[i]);
    if (!e || !cJSON_AddItemToArray(l, e)) {
      cJSON_Delete(e);
      cJSON_Delete(l);
      return NULL;
    }
  }
  return l;
}

static cJSON *compressor_json(const cask_zarr_options *o) {
  if (o->compressor == CASK_ZARR_NONE) return cJSON_CreateNull();
  static const char *const ids[] = {NULL, "zlib", "gzip", "zstd", "blosc", "blosc"};
  cJSON *c = cJSON_CreateObject();
  if (!c) return NULL;
  int ok = cJSON_AddStringToObject(c, "id", ids[o->compressor]) != NULL;
  if (o->compressor >= CASK_ZARR_BLOSC_LZ4) {
    ok = ok && cJSON_AddStringToObject(c, "cname", o->compressor == CASK_ZARR_BLOSC_LZ4 ? "lz4" : "zstd") &&
         cJSON_AddNumberToObject(c, "clevel", o->level) && cJSON_AddNumberToObject(c, "shuffle", o->shuffle) &&
         cJSON_AddNumberToObject(c, "blocksize", 0);
  } else {
    ok = ok && cJSON_AddNumberToObject(c, "level", o->level);
  }
  if (!ok) {
    cJSON_Delete(c);
    return NULL;
  }
  return c;
}

cJSON *cask__zarr_fill_json(cask_dtype dt, const unsigned char *fill) {
  double d;
  cask__cast(&d, CASK_F64, fill, dt, 1);
  if (dt == CASK_BOOL) return cJSON_CreateBool(d != 0);
  if (isnan(d)) return cJSON_CreateString("NaN");
  if (isinf(d)) return cJSON_CreateString(d > 0 ? "Infinity" : "-Infinity");
  return cJSON_CreateNumber(d);
}

static char *meta_text(cask_array *a, const cask_zarr_options *o, const unsigned char *fill) {
  cJSON *m = cJSON_CreateObject();
  char sep[2] = {o->separator, '\0'};
  int ok = m && cJSON_AddItemToObject(m, "chunks", cask__zarr_int_list(a->ndim, a->chunk)) &&
           cJSON_AddItemToObject(m, "compressor", compressor_json(o)) &&
           cJSON_AddStringToObject(m, "dimension_separator", sep) &&
           cJSON_AddStringToObject(m, "dtype", dtype_code(a->dtype)) &&
           cJSON_AddItemToObject(m, "fill_value", cask__zarr_fill_json(a->dtype, fill)) && cJSON_AddNullToObject(m, "filters") &&
           cJSON_AddStringToObject(m, "order", "C") && cJSON_AddItemToObject(m, "shape", cask__zarr_int_list(a->ndim, a->shape)) &&
           cJSON_AddNumberToObject(m, "zarr_format", 2);
  char *text = ok ? cJSON_Print(m) : NULL;
  cJSON_Delete(m);
  return text;
}

static int check_options(cask_ctx *ctx, const char *path, const cask_zarr_options *o, const cask_array *a,
                         unsigned char *fill) {
  cask_dtype dt = a->dtype;
  int c = (int)o->compressor, lv = o->level;
  if (c < CASK_ZARR_NONE || c > CASK_ZARR_BLOSC_ZSTD)
    return cask__fail(ctx, CASK_EINVAL, "to_zarr %s: compressor %d is not a cask_zarr_compressor", path, c);
  if ((c == CASK_ZARR_ZLIB || c == CASK_ZARR_GZIP || c >= CASK_ZARR_BLOSC_LZ4) && (lv < 0 || lv > 9))
    return cask__fail(ctx, CASK_EINVAL, "to_zarr %s: level %d is not in 0..9", path, lv);
  if (c == CASK_ZARR_ZSTD && (lv < 1 || lv > 22))
    return cask__fail(ctx, CASK_EINVAL, "to_zarr %s: zstd level %d is not in 1..22", path, lv);
  if (c >= CASK_ZARR_BLOSC_LZ4 && (o->shuffle < 0 || o->shuffle > 2))
    return cask__fail(ctx, CASK_EINVAL, "to_zarr %s: shuffle %d is not 0, 1 or 2", path, o->shuffle);
  if (o->separator != '.' && o->separator != '/')
    return cask__fail(ctx, CASK_EINVAL, "to_zarr %s: the separator must be '.' or '/'", path);
  if (o->zarr_format != 0 && o->zarr_format != 2 && o->zarr_format != 3)
    return cask__fail(ctx, CASK_EINVAL, "to_zarr %s: zarr_format %d is not 2 or 3", path, o->zarr_format);
  for (int i = 0; o->zarr_format != 3 && i < CASK_MAX_NDIM; i++)
    if (o->shards[i])
      return cask__fail(ctx, CASK_EINVAL, "to_zarr %s: shards need zarr_format 3 (Zarr v2 has no sharding)", path);
  double f = o->fill_value;
  int is_int = dt == CASK_I64 || dt == CASK_I32 || dt == CASK_U8;
  double lo = dt == CASK_I64 ? -9223372036854775808.0 : dt == CASK_I32 ? -2147483648.0 : 0;
  double hi = dt == CASK_I64 ? 9223372036854775808.0 : dt == CASK_I32 ? 2147483648.0 : 256;
  if (is_int && !(f == floor(f) && f >= lo && f < hi))
    return cask__fail(ctx, CASK_EINVAL, "to_zarr %s: fill_value %g is not a value of dtype %s", path, f, dtype_code(dt));
  memset(fill, 0, 8);
  cask__cast(fill, dt, &f, CASK_F64, 1);
  return o->zarr_format == 3 ? cask__zarr3_check_options(ctx, path, a, o) : CASK_OK;
}

/* Whether path can take a new store: nothing there, an empty directory,
 * or a Zarr store (replaced whole). Anything else is the user's. */
static int check_target(cask_ctx *ctx, const char *path) {
  struct stat st;
  if (stat(path, &st) != 0) return CASK_OK;
  char meta[ZARR_MAX_PATH + 16], meta3[ZARR_MAX_PATH + 16];
  cask__fmt(meta, sizeof meta, "%s/.zarray", path);
  cask__fmt(meta3, sizeof meta3, "%s/zarr.json", path);
  if (S_ISDIR(st.st_mode) && (access(meta, F_OK) == 0 || access(meta3, F_OK) == 0 || rmdir(path) == 0))
    return CASK_OK;
  return cask__fail(ctx, CASK_EIO, "to_zarr %s: exists and is %s (it is not replaced)", path,
                    S_ISDIR(st.st_mode) ? "a directory but not a Zarr store" : "not a directory");
}

/* Renames the directory tmp to path. rename() replaces only an empty
 * directory: a store at path is renamed aside first, and removed once the
 * new one is in (or put back if that fails). */
static int replace_dir(const char *tmp, const char *path) {
  char old[ZARR_MAX_PATH + 64];
  if (!rename(tmp, path)) return 0;
  if ((errno != ENOTEMPTY && errno != EEXIST) || cask__temp_dir(path, "old", old, sizeof old)) return -1;
  int e = 0;
  if (rename(path, old)) {
    e = errno;
    rmdir(old);
  } else if (rename(tmp, path)) {
    e = errno;
    rename(old, path);
  } else {
    cask__remove_tree(old);
  }
  errno = e;
  return e ? -1 : 0;
}

/* The temporary store a run writes into, and the metadata's name
 * (.zarray, zarr.json) and text. */
typedef struct zarr_target {
  int lead; /* rank 0 of several, or the only process: writes the metadata, renames */
  char tmp[ZARR_MAX_PATH + 64];
  const char *meta_name;
  char *meta;
} zarr_target;

static int finish_zarr(cask__writer *w, cask_ctx *ctx, int ok) {
  zarr_target *t = w->state;
  int rc = CASK_OK;
  if (!t->lead) goto done; /* chunks written: rank 0 finishes the store */
  if (ok) {
    char p[ZARR_MAX_PATH + 80], err[768];
    cask__fmt(p, sizeof p, "%s/%s", t->tmp, t->meta_name);
    if ((rc = cask__write_file_atomic(p, t->meta, strlen(t->meta), err, sizeof err)))
      cask__fail(ctx, rc, "to_zarr %s: %s", w->path, err);
    else if (replace_dir(t->tmp, w->path))
      rc = cask__fail(ctx, CASK_EIO, "to_zarr %s: cannot rename the written store into place: %s", w->path,
                      strerror(errno));
  }
  if (!ok || rc) cask__remove_tree(t->tmp);
done:
  cJSON_free(t->meta);
  cask__free(t);
  cask__free(w->args);
  return rc;
}

int cask__zarr_writer_open(cask_array *a, const char *path, const cask_zarr_options *opts, cask_executor *ex,
                           cask__writer *w) {
  cask_ctx *ctx = a->ctx;
  static const cask_zarr_options defaults = CASK_ZARR_OPTIONS_DEFAULTS;
  const cask_zarr_options *o = opts ? opts : &defaults;
  if (!path || !*path) return cask__fail(ctx, CASK_EINVAL, "to_zarr: the path is NULL or empty");
  if (strlen(path) >= ZARR_MAX_PATH - 64) return cask__fail(ctx, CASK_EINVAL, "to_zarr: the path is too long");
  unsigned char fill[8];
  int rc = check_options(ctx, path, o, a, fill);
  if (rc) return rc; /* the same on every rank */
  int multi = ex && ex->nranks > 1, lead = !multi || ex->rank == 0;
  if (lead) rc = check_target(ctx, path);
  zarr_target *t = rc ? NULL : cask__calloc(1, sizeof *t);
  char abs[ZARR_MAX_PATH] = "";
  write_args *args = NULL;
  int v3 = o->zarr_format == 3;
  if (t) t->meta_name = v3 ? "zarr.json" : ".zarray", t->lead = lead;
  if (!rc && (!t || !(t->meta = v3 ? cask__zarr3_writer_meta(a, o, fill) : meta_text(a, o, fill))))
    rc = cask__fail(ctx, CASK_ENOMEM, "to_zarr %s: out of memory", path);
  if (!rc && lead) {
    /* ".NAME.tmp-PID-N" and ".NAME.old-PID-N" of a killed writer of the
     * same path go first */
    char prefix[ZARR_MAX_PATH + 16];
    const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path, *slash = strrchr(path, '/');
    cask__fmt(abs, sizeof abs, "%.*s", slash ? (int)(slash - path) + 1 : 1, slash ? path : ".");
    cask__fmt(prefix, sizeof prefix, ".%s.tmp-", base);
    cask__remove_leftovers(abs, prefix);
    cask__fmt(prefix, sizeof prefix, ".%s.old-", base); /* a store being replaced */
    cask__remove_leftovers(abs, prefix);
    if (cask__temp_dir(path, "tmp", t->tmp, sizeof t->tmp) || !realpath(t->tmp, abs))
      rc = cask__fail(ctx, CASK_EIO, "to_zarr %s: cannot make a temporary store next to it: %s", path, strerror(errno));
  }
  if (multi) { /* rank 0's temporary store to the others, whose chunks go there */
    char names[2 * ZARR_MAX_PATH + 128] = "";
    if (!rc && lead) memcpy(names, t->tmp, sizeof t->tmp), memcpy(names + sizeof t->tmp, abs, sizeof abs);
    int shared = cask__share_name(ex, rc, names, sizeof names);
    if (!rc && shared) {
      if (lead) rmdir(t->tmp); /* made, empty: the broadcast of its name failed */
      rc = cask__fail(ctx, shared, "to_zarr %s: rank 0 could not make the temporary store", path);
    }
    if (!rc && !lead) memcpy(t->tmp, names, sizeof t->tmp), memcpy(abs, names + sizeof t->tmp, sizeof abs);
  }
  if (rc) goto fail;
  size_t len = strlen(abs);
  if (v3) {
    const cask_op *op3 = NULL;
    int64_t group[CASK_MAX_NDIM] = {0};
    void *args3 = cask__zarr3_writer_args(a, o, fill, abs, &len, &op3, group);
    if (!args3) {
      rc = cask__fail(ctx, CASK_ENOMEM, "to_zarr %s: out of memory", path);
      if (lead) rmdir(t->tmp);
      goto fail;
    }
    *w = (cask__writer){.what = "to_zarr", .path = path, .op = cask_array_size(a) > 0 ? op3 : NULL, .args = args3,
                        .len = len, .place = cask__zarr3_place, .finish = finish_zarr, .state = t};
    memcpy(w->group, group, sizeof group);
    return CASK_OK;
  }
  if (!(args = cask__calloc(1, sizeof *args + len))) {
    rc = cask__fail(ctx, CASK_ENOMEM, "to_zarr %s: out of memory", path);
    if (lead) rmdir(t->tmp);
    goto fail;
  }
  static const int codec[] = {CASK__ZARR_CODEC_NONE, CASK__ZARR_CODEC_ZLIB, CASK__ZARR_CODEC_GZIP,
                              CASK__ZARR_CODEC_ZSTD, CASK__ZARR_CODEC_BLOSC, CASK__ZARR_CODEC_BLOSC};
  args->dtype = a->dtype, args->ndim = a->ndim, args->codec = codec[o->compressor], args->level = o->level;
  args->shuffle = o->shuffle, args->blosc_zstd = o->compressor == CASK_ZARR_BLOSC_ZSTD, args->sep = o->separator;
  memcpy(args->zchunk, a->chunk, sizeof args->zchunk);
  memcpy(args->fill, fill, sizeof fill);
  args->path_len = (uint32_t)len;
  memcpy(args + 1, abs, len);
  /* an empty array has no chunks: its writer tasks are never made */
  *w = (cask__writer){.what = "to_zarr", .path = path, .op = cask_array_size(a) > 0 ? op_write : NULL, .args = args,
                      .len = sizeof *args + len, .place = place_block, .finish = finish_zarr, .state = t};
  return CASK_OK;
fail:
  if (t) cJSON_free(t->meta);
  cask__free(t);
  return rc;
}

int cask_to_zarr(cask_array *a, const char *path, const cask_zarr_options *opts) {
  if (!a) return CASK_EINVAL;
  return cask_store(1, &CASK_TO_ZARR(a, path, opts), NULL);
}

void cask__register_zarr_ops(void) {
  cask_op_register(&(cask_op){.name = "array.zarr_read", .run = read_run, .flags = CASK_OP_PURE}, &op_read);
  cask_op_register(&(cask_op){.name = "array.zarr_write", .run = write_run}, &op_write);
}
