/* zarr3-meta.c - zarr.json of a Zarr v3 array: the strict parser
 * (outside input: every refusal names the field) and the text cask writes.
 * The format (zarr-specs, v3.0 core): zarr_format 3, node_type "array",
 * shape, data_type ("float64", ..., "bool"), chunk_grid {"name":
 * "regular", "configuration": {"chunk_shape": [...]}}, chunk_key_encoding
 * ("default": "c/0/1", or "v2": "0.1"), fill_value, codecs (array-to-array
 * codecs, exactly one array-to-bytes codec, bytes-to-bytes codecs; the
 * sharding_indexed codec is an array-to-bytes codec holding a codec list of
 * its own), optional attributes, dimension_names and an empty
 * storage_transformers; any other field must be an object saying
 * "must_understand": false.
 * The one thing to know: cask reads the codecs it can apply (transpose,
 * bytes, gzip, zstd, blosc, crc32c, one level of sharding_indexed) and
 * refuses the others by name, never guesses. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "../../../core/internal.h"
#include "zarr.h"
#include "zarr3.h"

#define MAX_CHUNK_BYTES ((int64_t)1 << 40)
#define MAX_INNER ((int64_t)1 << 24) /* inner chunks of one shard: a 256 MiB index */

static const struct {
  const char *name;
  cask_dtype dtype;
} dtypes[] = {{"float64", CASK_F64}, {"float32", CASK_F32}, {"int64", CASK_I64},
              {"int32", CASK_I32},   {"uint8", CASK_U8},    {"bool", CASK_BOOL}};

static const char *const bb_names[CASK__Z3_BB_END] = {NULL, "gzip", "zstd", "blosc", "crc32c"};

#define bad cask__zarr_bad

static const cJSON *item(const cJSON *o, const char *k) { return cJSON_GetObjectItemCaseSensitive(o, k); }

/* {"name": ..., "configuration": {...}}: the name, and the configuration
 * (NULL when absent; refused when not an object). */
static int named(const cJSON *v, const char *field, const char **name, const cJSON **conf, char *err, size_t cap) {
  if (!cJSON_IsObject(v) || !cJSON_IsString(item(v, "name")))
    return bad(err, cap, field, "expected an object with a string \"name\"");
  *name = item(v, "name")->valuestring;
  *conf = item(v, "configuration");
  if (*conf && !cJSON_IsObject(*conf)) return bad(err, cap, field, "\"configuration\" is not an object");
  return CASK_OK;
}

static int parse_dtype(const cJSON *v, cask__zarr3_meta *m, char *err, size_t cap) {
  if (!cJSON_IsString(v)) return bad(err, cap, "data_type", "expected a string such as \"float64\"");
  for (size_t i = 0; i < sizeof dtypes / sizeof dtypes[0]; i++)
    if (!strcmp(v->valuestring, dtypes[i].name)) {
      m->dtype = dtypes[i].dtype;
      return CASK_OK;
    }
  return bad(err, cap, "data_type", "'%s' is not a type cask reads (float64 float32 int64 int32 uint8 bool)",
             v->valuestring);
}

/* v3 also writes a float fill value as the hex of its bytes ("0x7fc00000"). */
static int parse_fill(const cJSON *v, cask__zarr3_meta *m, char *err, size_t cap) {
  size_t w = cask_dtype_size(m->dtype);
  int is_float = m->dtype == CASK_F64 || m->dtype == CASK_F32;
  if (!(cJSON_IsString(v) && is_float && !strncmp(v->valuestring, "0x", 2)))
    return cask__zarr_parse_fill(v, m->dtype, m->fill, err, cap);
  const char *h = v->valuestring + 2;
  if (strlen(h) != 2 * w || strspn(h, "0123456789abcdefABCDEF") != 2 * w)
    return bad(err, cap, "fill_value", "'%s' is not the hex of %zu bytes", v->valuestring, w);
  uint64_t bits = strtoull(h, NULL, 16);
  if (w == 8) memcpy(m->fill, &bits, 8);
  else {
    uint32_t b32 = (uint32_t)bits;
    memcpy(m->fill, &b32, 4);
  }
  return CASK_OK;
}

/* transpose's "order": a permutation of the axes (or "C"/"F", as early
 * zarr-python wrote it), composed with any transpose before it. */
static int parse_transpose(const cJSON *conf, int ndim, cask__zarr3_chain *c, const char *field, char *err,
                           size_t cap) {
  const cJSON *o = conf ? item(conf, "order") : NULL;
  int32_t p[CASK_MAX_NDIM], seen[CASK_MAX_NDIM] = {0};
  if (cJSON_IsString(o) && (!strcmp(o->valuestring, "C") || !strcmp(o->valuestring, "F"))) {
    for (int i = 0; i < ndim; i++) p[i] = o->valuestring[0] == 'C' ? i : ndim - 1 - i;
  } else {
    if (!cJSON_IsArray(o) || cJSON_GetArraySize(o) != ndim)
      return bad(err, cap, field, "transpose: \"order\" must list the %d axes", ndim);
    int k = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, o) {
      double d = e->valuedouble;
      if (!cJSON_IsNumber(e) || d != floor(d) || d < 0 || d >= ndim || seen[(int)d]++)
        return bad(err, cap, field, "transpose: \"order\" is not a permutation of 0..%d", ndim - 1);
      p[k++] = (int32_t)d;
    }
  }
  int32_t prev[CASK_MAX_NDIM];
  for (int i = 0; i < ndim; i++) prev[i] = c->transposed ? c->perm[i] : i;
  for (int i = 0; i < ndim; i++) c->perm[i] = prev[p[i]];
  c->transposed = 1;
  return CASK_OK;
}

static int parse_bytes(const cJSON *conf, int32_t *big, const char *field, char *err, size_t cap) {
  const cJSON *e = conf ? item(conf, "endian") : NULL;
  *big = 0;
  if (!e) return CASK_OK; /* one-byte types need none */
  if (cJSON_IsString(e) && !strcmp(e->valuestring, "little")) return CASK_OK;
  if (cJSON_IsString(e) && !strcmp(e->valuestring, "big")) return *big = 1, CASK_OK;
  return bad(err, cap, field, "bytes: \"endian\" must be \"little\" or \"big\"");
}

static int parse_sharding(const cJSON *conf, cask__zarr3_meta *m, const char *field, char *err, size_t cap);

/* A codec list. m: the array's metadata when this is the outer list (a
 * sharding_indexed codec may appear), NULL inside a shard. */
static int parse_chain(const cJSON *list, const char *field, int ndim, cask__zarr3_chain *c, cask__zarr3_meta *m,
                       char *err, size_t cap) {
  memset(c, 0, sizeof *c);
  if (!cJSON_IsArray(list)) return bad(err, cap, field, "expected a list of codecs");
  int phase = 0, compressors = 0; /* 0: array-to-array, 1: after the array-to-bytes codec */
  const cJSON *v;
  cJSON_ArrayForEach(v, list) {
    const char *name;
    const cJSON *conf;
    int rc = named(v, field, &name, &conf, err, cap);
    if (rc) return rc;
    int bb = 0;
    for (int k = 1; k < CASK__Z3_BB_END; k++)
      if (!strcmp(name, bb_names[k])) bb = k;
    if (!strcmp(name, "transpose")) {
      if (phase) return bad(err, cap, field, "transpose after the array-to-bytes codec");
      if ((rc = parse_transpose(conf, ndim, c, field, err, cap))) return rc;
    } else if (!strcmp(name, "bytes") || !strcmp(name, "sharding_indexed")) {
      if (phase) return bad(err, cap, field, "a second array-to-bytes codec ('%s')", name);
      phase = 1;
      if (name[0] == 'b') rc = parse_bytes(conf, &c->big_endian, field, err, cap);
      else if (!m) rc = bad(err, cap, field, "sharding_indexed inside a shard is not supported");
      else if (c->transposed) rc = bad(err, cap, field, "transpose before sharding_indexed is not supported");
      else rc = parse_sharding(conf, m, field, err, cap);
      if (rc) return rc;
    } else if (bb) {
      if (!phase) return bad(err, cap, field, "%s before the array-to-bytes codec (bytes)", name);
      if (c->nbb == CASK__Z3_MAX_BB) return bad(err, cap, field, "more than %d bytes-to-bytes codecs", CASK__Z3_MAX_BB);
      if (bb != CASK__Z3_CRC32C && compressors++)
        return bad(err, cap, field, "two compressors in one chain are not supported ('%s')", name);
      c->bb[c->nbb++] = bb;
    } else {
      return bad(err, cap, field, "codec '%s' is not one cask reads (transpose, bytes, sharding_indexed, gzip, zstd, "
                 "blosc, crc32c)", name);
    }
  }
  if (!phase) return bad(err, cap, field, "no array-to-bytes codec (bytes or sharding_indexed)");
  return CASK_OK;
}

/* index_codecs: bytes, then crc32c or nothing: cask reads the index as
 * the fixed-size table zarr-python writes. */
static int parse_index_codecs(const cJSON *list, cask__zarr3_meta *m, char *err, size_t cap) {
  const char *f = "sharding_indexed.index_codecs";
  cask__zarr3_chain c;
  int rc = parse_chain(list, f, 0, &c, NULL, err, cap);
  if (rc) return rc;
  if (c.nbb > 1 || (c.nbb == 1 && c.bb[0] != CASK__Z3_CRC32C))
    return bad(err, cap, f, "expected bytes and an optional crc32c (the index must have a fixed size)");
  m->index_crc = c.nbb == 1;
  m->index_big_endian = c.big_endian;
  return CASK_OK;
}

static int parse_sharding(const cJSON *conf, cask__zarr3_meta *m, const char *field, char *err, size_t cap) {
  const char *f = "sharding_indexed.chunk_shape";
  if (!conf) return bad(err, cap, field, "sharding_indexed without a configuration");
  int n = -1;
  int rc = cask__zarr_parse_extents(item(conf, "chunk_shape"), f, 1, m->inner, &n, err, cap);
  if (rc) return rc;
  if (n != m->ndim) return bad(err, cap, f, "%d extents for an array of %d axes", n, m->ndim);
  int64_t count = 1;
  for (int i = 0; i < n; i++) {
    if (m->chunks[i] % m->inner[i])
      return bad(err, cap, f, "%lld on axis %d does not divide the shard's %lld", (long long)m->inner[i], i,
                 (long long)m->chunks[i]);
    if ((count *= m->chunks[i] / m->inner[i]) > MAX_INNER)
      return bad(err, cap, f, "more than %lld chunks in one shard", (long long)MAX_INNER);
  }
  const cJSON *loc = item(conf, "index_location");
  if (loc && !(cJSON_IsString(loc) && (!strcmp(loc->valuestring, "end") || !strcmp(loc->valuestring, "start"))))
    return bad(err, cap, "sharding_indexed.index_location", "expected \"end\" or \"start\"");
  m->index_at_start = loc && !strcmp(loc->valuestring, "start");
  if (!item(conf, "index_codecs")) return bad(err, cap, "sharding_indexed.index_codecs", "missing");
  if ((rc = parse_index_codecs(item(conf, "index_codecs"), m, err, cap))) return rc;
  m->sharded = 1;
  return parse_chain(item(conf, "codecs"), "sharding_indexed.codecs", m->ndim, &m->chain, NULL, err, cap);
}

static int parse_grid(const cJSON *v, cask__zarr3_meta *m, char *err, size_t cap) {
  const char *name;
  const cJSON *conf;
  int rc = named(v, "chunk_grid", &name, &conf, err, cap), n = -1;
  if (rc) return rc;
  if (strcmp(name, "regular")) return bad(err, cap, "chunk_grid", "'%s' is not a grid cask reads (regular)", name);
  if (!conf) return bad(err, cap, "chunk_grid", "no configuration");
  rc = cask__zarr_parse_extents(item(conf, "chunk_shape"), "chunk_grid.chunk_shape", 1, m->chunks, &n, err, cap);
  if (!rc && n != m->ndim)
    rc = bad(err, cap, "chunk_grid.chunk_shape", "%d extents for a shape of %d axes", n, m->ndim);
  return rc;
}

static int parse_keys(const cJSON *v, cask__zarr3_meta *m, char *err, size_t cap) {
  const char *name;
  const cJSON *conf;
  int rc = named(v, "chunk_key_encoding", &name, &conf, err, cap);
  if (rc) return rc;
  if (strcmp(name, "default") && strcmp(name, "v2"))
    return bad(err, cap, "chunk_key_encoding", "'%s' is not an encoding cask reads (default, v2)", name);
  m->v2_keys = name[0] == 'v';
  m->sep = m->v2_keys ? '.' : '/';
  const cJSON *s = conf ? item(conf, "separator") : NULL;
  if (!s) return CASK_OK;
  if (!cJSON_IsString(s) || (strcmp(s->valuestring, ".") && strcmp(s->valuestring, "/")))
    return bad(err, cap, "chunk_key_encoding", "\"separator\" must be \".\" or \"/\"");
  m->sep = s->valuestring[0];
  return CASK_OK;
}

/* Fields not parsed in order: attributes, dimension_names, extensions. */
static int check_other(const cJSON *v, int ndim, char *err, size_t cap) {
  static const char *const known[] = {"zarr_format", "node_type",  "shape",      "data_type",
                                      "chunk_grid",  "chunk_key_encoding", "fill_value", "codecs"};
  const char *k = v->string;
  for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
    if (!strcmp(k, known[i])) return CASK_OK;
  if (!strcmp(k, "attributes"))
    return cJSON_IsObject(v) ? CASK_OK : bad(err, cap, k, "expected an object");
  if (!strcmp(k, "dimension_names"))
    return cJSON_IsNull(v) || (cJSON_IsArray(v) && cJSON_GetArraySize(v) == ndim)
               ? CASK_OK : bad(err, cap, k, "expected a list of %d names", ndim);
  if (!strcmp(k, "storage_transformers"))
    return cJSON_IsArray(v) && cJSON_GetArraySize(v) == 0 ? CASK_OK
                                                          : bad(err, cap, k, "storage transformers are not supported");
  const cJSON *mu = cJSON_IsObject(v) ? item(v, "must_understand") : NULL;
  if (cJSON_IsFalse(mu)) return CASK_OK;
  return bad(err, cap, k, "not a field of Zarr v3 array metadata (and not marked \"must_understand\": false)");
}

static int parse_root(const cJSON *root, cask__zarr3_meta *m, char *err, size_t cap) {
  static const char *const required[] = {"zarr_format", "node_type",          "shape",      "data_type",
                                         "chunk_grid",  "chunk_key_encoding", "fill_value", "codecs"};
  const cJSON *v = item(root, "zarr_format");
  if (!cJSON_IsNumber(v) || v->valuedouble != 3)
    return bad(err, cap, "zarr_format", v ? "expected 3" : "missing");
  v = item(root, "node_type");
  if (cJSON_IsString(v) && !strcmp(v->valuestring, "group"))
    return bad(err, cap, "node_type", "a Zarr group, not an array (open one of its arrays)");
  if (!cJSON_IsString(v) || strcmp(v->valuestring, "array"))
    return bad(err, cap, "node_type", v ? "expected \"array\"" : "missing");
  for (size_t i = 0; i < sizeof required / sizeof required[0]; i++)
    if (!item(root, required[i])) return bad(err, cap, required[i], "missing");
  int rc = cask__zarr_parse_extents(item(root, "shape"), "shape", 0, m->shape, &m->ndim, err, cap);
  if (!rc) rc = parse_dtype(item(root, "data_type"), m, err, cap);
  if (!rc) rc = parse_grid(item(root, "chunk_grid"), m, err, cap);
  if (!rc) rc = parse_keys(item(root, "chunk_key_encoding"), m, err, cap);
  if (!rc) rc = parse_fill(item(root, "fill_value"), m, err, cap);
  if (!rc) {
    cask__zarr3_chain outer;
    rc = parse_chain(item(root, "codecs"), "codecs", m->ndim, &outer, m, err, cap);
    if (!rc && !m->sharded) m->chain = outer;
    if (!rc && m->sharded && outer.nbb)
      rc = bad(err, cap, "codecs", "bytes-to-bytes codecs after sharding_indexed are not supported");
  }
  cJSON_ArrayForEach(v, root) {
    if (rc) break;
    rc = check_other(v, m->ndim, err, cap);
  }
  return rc;
}

int cask__zarr3_parse_meta(const char *text, size_t n, cask__zarr3_meta *m, char *err, size_t cap) {
  memset(m, 0, sizeof *m);
  m->sep = '/';
  const char *end = NULL;
  cJSON *root = cJSON_ParseWithLengthOpts(text, n, &end, 0);
  if (!root) {
    cask__fmt(err, cap, "not valid JSON (byte %lld)", (long long)(end ? end - text : 0));
    return CASK_EFORMAT;
  }
  int rc = cJSON_IsObject(root) ? parse_root(root, m, err, cap) : (cask__fmt(err, cap, "not a JSON object"), CASK_EFORMAT);
  cJSON_Delete(root);
  /* Checked products, as for .zarray: a chunk (inner when sharded) and a
   * shard within the reader's limit, the array within 2^61 bytes. */
  const int64_t *chunk = m->sharded ? m->inner : m->chunks;
  int64_t cb = (int64_t)cask_dtype_size(m->dtype), sb = cb, total = cb;
  for (int i = 0; !rc && i < m->ndim; i++) {
    if (__builtin_mul_overflow(cb, chunk[i], &cb) || cb > MAX_CHUNK_BYTES ||
        __builtin_mul_overflow(sb, m->chunks[i], &sb) || sb > MAX_CHUNK_BYTES)
      rc = bad(err, cap, "chunk_grid.chunk_shape", "a chunk or shard of more than %lld bytes",
               (long long)MAX_CHUNK_BYTES);
    else if (m->shape[i] && (__builtin_mul_overflow(total, m->shape[i], &total) || total > ((int64_t)1 << 61)))
      rc = bad(err, cap, "shape", "more than 2^61 bytes");
  }
  return rc;
}

int cask__zarr3_chain_check(const cask__zarr3_chain *c, int ndim) {
  if ((unsigned)c->transposed > 1 || (unsigned)c->big_endian > 1 || c->nbb < 0 || c->nbb > CASK__Z3_MAX_BB)
    return CASK_EINVAL;
  int seen[CASK_MAX_NDIM] = {0}, compressors = 0;
  for (int i = 0; c->transposed && i < ndim; i++)
    if (c->perm[i] < 0 || c->perm[i] >= ndim || seen[c->perm[i]]++) return CASK_EINVAL;
  for (int k = 0; k < c->nbb; k++) {
    if (c->bb[k] < CASK__Z3_GZIP || c->bb[k] >= CASK__Z3_BB_END) return CASK_EINVAL;
    if (c->bb[k] != CASK__Z3_CRC32C && compressors++) return CASK_EINVAL;
  }
  return CASK_OK;
}

/* ---- writing --------------------------------------------------------------- */

/* {"name": name, "configuration": conf}; conf is taken (freed on failure). */
static cJSON *codec(const char *name, cJSON *conf) {
  cJSON *o = cJSON_CreateObject();
  if (!o || !cJSON_AddStringToObject(o, "name", name) || (conf && !cJSON_AddItemToObject(o, "configuration", conf))) {
    cJSON_Delete(o);
    cJSON_Delete(conf);
    return NULL;
  }
  return o;
}

static cJSON *chain_json(const cask__zarr3_chain *c, int ndim, size_t w, int with_bytes_endian) {
  cJSON *l = cJSON_CreateArray(), *conf;
  int ok = l != NULL;
  if (ok && c->transposed) {
    int64_t p[CASK_MAX_NDIM];
    for (int i = 0; i < ndim; i++) p[i] = c->perm[i];
    ok = (conf = cJSON_CreateObject()) && cJSON_AddItemToObject(conf, "order", cask__zarr_int_list(ndim, p)) &&
         cJSON_AddItemToArray(l, codec("transpose", conf));
  }
  if (ok) {
    conf = cJSON_CreateObject();
    ok = conf && (!with_bytes_endian || cJSON_AddStringToObject(conf, "endian", c->big_endian ? "big" : "little")) &&
         cJSON_AddItemToArray(l, codec("bytes", conf));
  }
  for (int k = 0; ok && k < c->nbb; k++) {
    conf = NULL;
    if (c->bb[k] == CASK__Z3_GZIP) {
      ok = (conf = cJSON_CreateObject()) && cJSON_AddNumberToObject(conf, "level", c->level);
    } else if (c->bb[k] == CASK__Z3_ZSTD) {
      ok = (conf = cJSON_CreateObject()) && cJSON_AddNumberToObject(conf, "level", c->level) &&
           cJSON_AddFalseToObject(conf, "checksum");
    } else if (c->bb[k] == CASK__Z3_BLOSC) {
      static const char *const shuffles[] = {"noshuffle", "shuffle", "bitshuffle"};
      ok = (conf = cJSON_CreateObject()) && cJSON_AddStringToObject(conf, "cname", c->blosc_zstd ? "zstd" : "lz4") &&
           cJSON_AddNumberToObject(conf, "clevel", c->level) &&
           cJSON_AddStringToObject(conf, "shuffle", shuffles[c->shuffle >= 0 && c->shuffle <= 2 ? c->shuffle : 0]) &&
           cJSON_AddNumberToObject(conf, "typesize", (double)w) && cJSON_AddNumberToObject(conf, "blocksize", 0);
    }
    ok = ok && cJSON_AddItemToArray(l, codec(bb_names[c->bb[k]], conf));
  }
  if (!ok) cJSON_Delete(l);
  return ok ? l : NULL;
}

static cJSON *named_json(const char *name, const char *key, cJSON *value) {
  cJSON *conf = cJSON_CreateObject();
  if (!conf || !cJSON_AddItemToObject(conf, key, value)) {
    cJSON_Delete(conf);
    return NULL;
  }
  return codec(name, conf);
}

static cJSON *sharding_json(const cask__zarr3_meta *m, size_t w) {
  cask__zarr3_chain idx = {.nbb = m->index_crc, .bb = {CASK__Z3_CRC32C}};
  cJSON *conf = cJSON_CreateObject();
  int ok = conf && cJSON_AddItemToObject(conf, "chunk_shape", cask__zarr_int_list(m->ndim, m->inner)) &&
           cJSON_AddItemToObject(conf, "codecs", chain_json(&m->chain, m->ndim, w, w > 1)) &&
           cJSON_AddItemToObject(conf, "index_codecs", chain_json(&idx, 0, 8, 1)) &&
           cJSON_AddStringToObject(conf, "index_location", m->index_at_start ? "start" : "end");
  if (!ok) {
    cJSON_Delete(conf);
    return NULL;
  }
  return codec("sharding_indexed", conf);
}

char *cask__zarr3_meta_text(const cask__zarr3_meta *m) {
  size_t w = cask_dtype_size(m->dtype);
  const char *dt = NULL;
  for (size_t i = 0; i < sizeof dtypes / sizeof dtypes[0]; i++)
    if (dtypes[i].dtype == m->dtype) dt = dtypes[i].name;
  char sep[2] = {m->sep, '\0'};
  cJSON *codecs = m->sharded ? cJSON_CreateArray() : chain_json(&m->chain, m->ndim, w, w > 1);
  if (codecs && m->sharded && !cJSON_AddItemToArray(codecs, sharding_json(m, w))) {
    cJSON_Delete(codecs);
    codecs = NULL;
  }
  cJSON *o = cJSON_CreateObject();
  int ok = o && dt && cJSON_AddNumberToObject(o, "zarr_format", 3) && cJSON_AddStringToObject(o, "node_type", "array") &&
           cJSON_AddItemToObject(o, "shape", cask__zarr_int_list(m->ndim, m->shape)) &&
           cJSON_AddStringToObject(o, "data_type", dt) &&
           cJSON_AddItemToObject(o, "chunk_grid",
                                 named_json("regular", "chunk_shape", cask__zarr_int_list(m->ndim, m->chunks))) &&
           cJSON_AddItemToObject(o, "chunk_key_encoding",
                                 named_json(m->v2_keys ? "v2" : "default", "separator", cJSON_CreateString(sep))) &&
           cJSON_AddItemToObject(o, "fill_value", cask__zarr_fill_json(m->dtype, m->fill)) &&
           cJSON_AddItemToObject(o, "codecs", codecs) && cJSON_AddItemToObject(o, "attributes", cJSON_CreateObject());
  if (!ok && o && !cJSON_GetObjectItemCaseSensitive(o, "codecs")) cJSON_Delete(codecs);
  char *text = ok ? cJSON_Print(o) : NULL;
  cJSON_Delete(o);
  return text;
}
