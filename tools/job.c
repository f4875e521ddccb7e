/* job.c - reading a job file (docs/jobs.md) into lazy arrays.
 * The one thing to know: every check happens here, before anything runs,
 * and every message names the field it is about as a path into the JSON
 * ("inputs.x.shape[1]", "steps.c" plus the column inside the expression),
 * so a mistake costs a second, not a run. Unknown fields are errors too: a
 * misspelt "chunk" must not be silently ignored. */
#include "job.h"
#include "job-int.h"

#include <ctype.h>
#include <errno.h>
#include <libgen.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>

int fail(reader *r, const char *field, const char *fmt, ...) {
  char what[1200];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(what, sizeof what, fmt, ap);
  va_end(ap);
  snprintf(r->err, r->cap, "%s: %s: %s", r->path, field, what);
  return CASK_EINVAL;
}

/* ---- small field readers ------------------------------------------------- */

/* Every member of obj is one of the allowed names, none repeated. */
int check_fields(reader *r, const char *field, const cJSON *obj, const char *const *allowed) {
  for (const cJSON *m = obj->child; m; m = m->next) {
    int ok = 0;
    for (int k = 0; allowed[k] && !ok; k++) ok = !strcmp(m->string, allowed[k]);
    if (!ok) {
      char list[300] = "";
      for (int k = 0; allowed[k]; k++)
        snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", k ? ", " : "", allowed[k]);
      return fail(r, field, "unknown field '%.100s' (expected one of: %s)", m->string, list);
    }
    for (const cJSON *p = obj->child; p != m; p = p->next)
      if (!strcmp(p->string, m->string)) return fail(r, field, "the field '%.100s' appears twice", m->string);
  }
  return CASK_OK;
}

static int get_int(reader *r, const char *field, const cJSON *v, int64_t lo, int64_t *out) {
  if (!cJSON_IsNumber(v) || v->valuedouble != floor(v->valuedouble) || v->valuedouble < (double)lo ||
      v->valuedouble > 9.0e15)
    return fail(r, field, "must be an integer >= %lld", (long long)lo);
  *out = (int64_t)v->valuedouble;
  return CASK_OK;
}

/* [a, b, ...] (or one integer, taken as [n]) of extents >= lo. */
static int get_ints(reader *r, const char *field, const cJSON *v, int64_t lo, int64_t *out, int *n) {
  if (cJSON_IsNumber(v)) {
    *n = 1;
    return get_int(r, field, v, lo, out);
  }
  if (!cJSON_IsArray(v)) return fail(r, field, "must be a list of integers, e.g. [1000, 500]");
  int count = cJSON_GetArraySize(v);
  if (count > CASK_MAX_NDIM) return fail(r, field, "has %d entries, at most %d axes are allowed", count, CASK_MAX_NDIM);
  int k = 0;
  for (const cJSON *e = v->child; e; e = e->next, k++) {
    char sub[300];
    snprintf(sub, sizeof sub, "%s[%d]", field, k);
    int rc = get_int(r, sub, e, lo, &out[k]);
    if (rc) return rc;
  }
  *n = count;
  return CASK_OK;
}

static int get_dtype(reader *r, const char *field, const cJSON *v, cask_dtype *out) {
  if (!v) {
    *out = CASK_F64;
    return CASK_OK;
  }
  if (cJSON_IsString(v))
    for (int d = 0; d < CASK_DTYPE_COUNT; d++)
      if (!strcmp(v->valuestring, cask_dtype_name((cask_dtype)d))) {
        *out = (cask_dtype)d;
        return CASK_OK;
      }
  return fail(r, field, "must be one of \"float64\", \"float32\", \"int64\", \"int32\", \"uint8\", \"bool\"");
}

static int is_name(const char *s) {
  if (!isalpha((unsigned char)*s) && *s != '_') return 0;
  for (const char *p = s; *p; p++)
    if (!isalnum((unsigned char)*p) && *p != '_') return 0;
  return strcmp(s, "True") && strcmp(s, "False") && strcmp(s, "None") && strlen(s) <= 64;
}

static int find_name(const job *j, const char *name) {
  for (int k = 0; k < j->nnames; k++)
    if (!strcmp(j->names[k], name)) return k;
  return -1;
}

/* Adds a named array (taking its reference). */
static int add_name(reader *r, const char *field, const char *name, cask_array *a) {
  job *j = r->j;
  char **names = realloc(j->names, (size_t)(j->nnames + 1) * sizeof *names);
  if (names) j->names = names;
  cask_array **values = realloc(j->values, (size_t)(j->nnames + 1) * sizeof *values);
  if (values) j->values = values;
  char *copy = strdup(name);
  if (!names || !values || !copy) {
    free(copy);
    cask_array_release(a);
    return fail(r, field, "out of memory");
  }
  j->names[j->nnames] = copy;
  j->values[j->nnames++] = a;
  return CASK_OK;
}

/* ---- inputs -------------------------------------------------------------- */

static int read_shape(reader *r, input_spec *s) {
  char f[300];
  snprintf(f, sizeof f, "%s.shape", s->field);
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(s->obj, "shape");
  if (!v) return fail(r, f, "missing (the array's extents, e.g. [1000, 1000])");
  return get_ints(r, f, v, 0, s->shape, &s->ndim);
}

/* "chunks": absent (whole axes) or one extent per axis. */
int read_chunks(reader *r, input_spec *s, int ndim) {
  char f[300];
  snprintf(f, sizeof f, "%s.chunks", s->field);
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(s->obj, "chunks");
  s->nchunks = 0;
  if (!v) return CASK_OK;
  int rc = get_ints(r, f, v, 1, s->chunks, &s->nchunks);
  if (!rc && ndim >= 0 && s->nchunks != ndim)
    return fail(r, f, "has %d entries, the shape has %d axes", s->nchunks, ndim);
  return rc;
}

static double get_number(reader *r, const input_spec *s, const char *name, double dflt, int required, int *rc) {
  char f[300];
  snprintf(f, sizeof f, "%s.%s", s->field, name);
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(s->obj, name);
  if (!v && !required) return dflt;
  if (!cJSON_IsNumber(v)) *rc = fail(r, f, v ? "must be a number" : "missing");
  return v ? v->valuedouble : 0;
}

static int input_random(reader *r, input_spec *s, int normal, cask_array **out) {
  static const char *const allowed[] = {"source", "shape", "chunks", "dtype", "seed", NULL};
  int64_t seed = 0;
  char f[300];
  snprintf(f, sizeof f, "%s.seed", s->field);
  const cJSON *sv = cJSON_GetObjectItemCaseSensitive(s->obj, "seed");
  int rc = check_fields(r, s->field, s->obj, allowed);
  if (!rc && sv) rc = get_int(r, f, sv, 0, &seed);
  if (!rc) rc = read_shape(r, s);
  if (!rc) rc = read_chunks(r, s, s->ndim);
  if (rc) return rc;
  if (s->dtype != CASK_F64 && s->dtype != CASK_F32)
    return fail(r, s->field, "random inputs are float64 or float32, not %s", cask_dtype_name(s->dtype));
  const int64_t *ch = s->nchunks ? s->chunks : NULL;
  return normal ? cask_random_normal(r->ctx, (uint64_t)seed, s->dtype, s->ndim, s->shape, ch, out)
                : cask_random_uniform(r->ctx, (uint64_t)seed, s->dtype, s->ndim, s->shape, ch, out);
}

static int input_fill(reader *r, input_spec *s, const char *source, cask_array **out) {
  static const char *const allowed[] = {"source", "shape", "chunks", "dtype", "value", NULL};
  static const char *const allowed_no_value[] = {"source", "shape", "chunks", "dtype", NULL};
  int full = !strcmp(source, "full");
  int rc = check_fields(r, s->field, s->obj, full ? allowed : allowed_no_value);
  double value = full ? get_number(r, s, "value", 0, 1, &rc) : !strcmp(source, "ones");
  if (!rc) rc = read_shape(r, s);
  if (!rc) rc = read_chunks(r, s, s->ndim);
  if (rc) return rc;
  return cask_full(r->ctx, s->dtype, value, s->ndim, s->shape, s->nchunks ? s->chunks : NULL, out);
}

static int input_arange(reader *r, input_spec *s, cask_array **out) {
  static const char *const allowed[] = {"source", "start", "stop", "step", "chunks", "dtype", NULL};
  int rc = check_fields(r, s->field, s->obj, allowed);
  double start = get_number(r, s, "start", 0, 0, &rc), stop = get_number(r, s, "stop", 0, 1, &rc),
         step = get_number(r, s, "step", 1, 0, &rc);
  if (!rc) rc = read_chunks(r, s, 1);
  if (rc) return rc;
  if (step == 0) return fail(r, s->field, "step must not be 0");
  return cask_arange(r->ctx, s->dtype, start, stop, step, s->nchunks ? s->chunks[0] : 0, out);
}

typedef int (*file_reader)(cask_ctx *, const char *, const int64_t *, cask_array **);

/* A .npy file or a Zarr store (cask_read_npy, cask_read_zarr: the same
 * arguments), read block by block when the job runs; its header or
 * .zarray is read and checked now. */
static int input_file(reader *r, input_spec *s, file_reader read, const char *what, cask_array **out) {
  static const char *const allowed[] = {"source", "path", "chunks", NULL};
  int rc = check_fields(r, s->field, s->obj, allowed);
  const cJSON *p = cJSON_GetObjectItemCaseSensitive(s->obj, "path");
  char f[300];
  snprintf(f, sizeof f, "%s.path", s->field);
  if (!rc && !cJSON_IsString(p)) rc = fail(r, f, p ? "must be a string" : "missing (the %s to read)", what);
  if (!rc) rc = read_chunks(r, s, -1);
  if (rc) return rc;
  if (access(p->valuestring, R_OK)) return fail(r, f, "cannot read '%.300s': %s", p->valuestring, strerror(errno));
  if ((rc = read(r->ctx, p->valuestring, s->nchunks ? s->chunks : NULL, out)))
    return fail(r, s->field, "%s", cask_ctx_errmsg(r->ctx));
  return CASK_OK;
}

#define SOURCES "\"uniform\", \"normal\", \"zeros\", \"ones\", \"full\", \"arange\", \"npy\", \"zarr\", \"hdf5\", \"netcdf\""

static int read_input(reader *r, const cJSON *obj) {
  input_spec s = {.obj = obj};
  snprintf(s.field, sizeof s.field, "inputs.%.100s", obj->string);
  if (!is_name(obj->string)) return fail(r, s.field, "an input's name must be a Python-style identifier");
  if (find_name(r->j, obj->string) >= 0) return fail(r, s.field, "the name is defined twice");
  if (!cJSON_IsObject(obj)) return fail(r, s.field, "must be an object, e.g. {\"source\": \"uniform\", \"shape\": [100]}");
  const cJSON *src = cJSON_GetObjectItemCaseSensitive(obj, "source");
  char f[300];
  snprintf(f, sizeof f, "%s.source", s.field);
  if (!cJSON_IsString(src))
    return fail(r, f, "%s (one of %s)", src ? "must be a string" : "missing", SOURCES);
  char fd[300];
  snprintf(fd, sizeof fd, "%s.dtype", s.field);
  int rc = get_dtype(r, fd, cJSON_GetObjectItemCaseSensitive(obj, "dtype"), &s.dtype);
  if (rc) return rc;
  const char *kind = src->valuestring;
  cask_array *a = NULL;
  if (!strcmp(kind, "uniform") || !strcmp(kind, "normal")) rc = input_random(r, &s, kind[0] == 'n', &a);
  else if (!strcmp(kind, "zeros") || !strcmp(kind, "ones") || !strcmp(kind, "full")) rc = input_fill(r, &s, kind, &a);
  else if (!strcmp(kind, "arange")) rc = input_arange(r, &s, &a);
  else if (!strcmp(kind, "npy")) rc = input_file(r, &s, cask_read_npy, ".npy file", &a);
  else if (!strcmp(kind, "zarr")) rc = input_file(r, &s, cask_read_zarr, "Zarr store", &a);
  else if (!strcmp(kind, "hdf5")) rc = job_input_h5(r, &s, 0, &a);
  else if (!strcmp(kind, "netcdf")) rc = job_input_h5(r, &s, 1, &a);
  else return fail(r, f, "unknown source '%.60s' (one of %s)", kind, SOURCES);
  if (rc && !r->err[0]) fail(r, s.field, "%s", cask_ctx_errmsg(r->ctx));
  return rc ? rc : add_name(r, s.field, obj->string, a);
}

/* ---- steps and outputs --------------------------------------------------- */

static int read_step(reader *r, const cJSON *step) {
  char f[200];
  snprintf(f, sizeof f, "steps.%.100s", step->string);
  if (!is_name(step->string)) return fail(r, f, "a step's name must be a Python-style identifier");
  if (find_name(r->j, step->string) >= 0) return fail(r, f, "the name is defined twice");
  if (!cJSON_IsString(step)) return fail(r, f, "must be an expression string, e.g. \"sum(x * y, axis=0)\"");
  cask_array *a;
  if (cask_eval(r->ctx, step->valuestring, (const char *const *)r->j->names, r->j->values, (size_t)r->j->nnames, &a)) {
    /* a later step's name: say why it is unknown here */
    const char *msg = cask_ctx_errmsg(r->ctx);
    char unknown[200];
    for (const cJSON *n = step->next; n; n = n->next) {
      snprintf(unknown, sizeof unknown, "unknown name '%.64s'", n->string);
      if (strstr(msg, unknown))
        return fail(r, f, "%s; steps are evaluated in file order, and '%.64s' is defined after this one", msg,
                    n->string);
    }
    return fail(r, f, "%s", msg);
  }
  return add_name(r, f, step->string, a);
}

int job_dir_writable(const char *path, char *msg, size_t cap) {
  char *copy = strdup(path);
  if (!copy) return snprintf(msg, cap, "out of memory"), -1;
  const char *dir = dirname(copy);
  struct stat st;
  int rc = 0;
  /* (as root, access() on a plain file says EACCES: it is no directory) */
  if (stat(dir, &st) == 0 && !S_ISDIR(st.st_mode))
    rc = -1, snprintf(msg, cap, "'%.300s' is not a directory", dir);
  else if (access(dir, W_OK | X_OK))
    rc = -1, snprintf(msg, cap, "cannot write into the directory '%.300s': %s", dir, strerror(errno));
  free(copy);
  return rc;
}

/* The directory of an output file must exist and be writable now. */
int check_writable(reader *r, const char *field, const char *path) {
  char msg[512];
  return job_dir_writable(path, msg, sizeof msg) ? fail(r, field, "%s", msg) : CASK_OK;
}

/* cask_zarr_compressor's names, in its order. */
static const char *const compressors[] = {"none", "zlib", "gzip", "zstd", "blosc-lz4", "blosc-zstd", NULL};

static int read_level(reader *r, const char *f, const cJSON *l, job_output *o) {
  char sub[300];
  snprintf(sub, sizeof sub, "%s.level", f);
  int c = (int)o->zarr_opts.compressor, lo = c == CASK_ZARR_ZSTD, hi = c == CASK_ZARR_ZSTD ? 22 : 9;
  if (c == CASK_ZARR_NONE) return fail(r, sub, "the compressor \"none\" takes no level");
  if (!cJSON_IsNumber(l) || l->valuedouble != floor(l->valuedouble) || l->valuedouble < lo || l->valuedouble > hi)
    return fail(r, sub, "must be an integer from %d to %d for the compressor \"%s\"", lo, hi, compressors[c]);
  o->zarr_opts.level = (int)l->valuedouble;
  return CASK_OK;
}

/* "zarr_format" (2 or 3) and "shards" (v3: a shard's extents in
 * elements, multiples of the array's chunks; cask_to_zarr checks them
 * against the array). */
static int read_format(reader *r, const char *f, const cJSON *fmt, const cJSON *sh, job_output *o) {
  char sub[300];
  snprintf(sub, sizeof sub, "%s.zarr_format", f);
  if (fmt && !(cJSON_IsNumber(fmt) && (fmt->valuedouble == 2 || fmt->valuedouble == 3)))
    return fail(r, sub, "must be 2 or 3");
  if (fmt) o->zarr_opts.zarr_format = (int)fmt->valuedouble;
  if (!sh) return CASK_OK;
  snprintf(sub, sizeof sub, "%s.shards", f);
  if (o->zarr_opts.zarr_format != 3) return fail(r, sub, "needs \"zarr_format\": 3 (Zarr v2 has no sharding)");
  if (!cJSON_IsArray(sh) || cJSON_GetArraySize(sh) > CASK_MAX_NDIM)
    return fail(r, sub, "must be a list of at most %d shard extents (elements)", CASK_MAX_NDIM);
  int i = 0;
  const cJSON *e;
  cJSON_ArrayForEach(e, sh) {
    if (!cJSON_IsNumber(e) || e->valuedouble != floor(e->valuedouble) || e->valuedouble < 1 || e->valuedouble > 9e15)
      return fail(r, sub, "item %d must be a positive integer", i);
    o->zarr_opts.shards[i++] = (int64_t)e->valuedouble;
  }
  return CASK_OK;
}

/* "zarr": the store to write, with "compressor" and "level" (numcodecs'
 * codecs and ranges; default zarr's own: blosc-lz4, level 5), "zarr_format"
 * and "shards". A store
 * already there is replaced once the job has run; anything else there is
 * refused now, as it would be lost. */
static int read_zarr_output(reader *r, const char *f, const cJSON *v, job_output *o) {
  const cJSON *z = cJSON_GetObjectItemCaseSensitive(v, "zarr"), *c = cJSON_GetObjectItemCaseSensitive(v, "compressor"),
              *l = cJSON_GetObjectItemCaseSensitive(v, "level"), *fmt = cJSON_GetObjectItemCaseSensitive(v, "zarr_format"),
              *sh = cJSON_GetObjectItemCaseSensitive(v, "shards");
  char sub[300];
  if (!z && (c || l || fmt || sh)) {
    snprintf(sub, sizeof sub, "%s.%s", f, c ? "compressor" : l ? "level" : fmt ? "zarr_format" : "shards");
    return fail(r, sub, "only goes with \"zarr\" (the Zarr store to write)");
  }
  if (!z) return CASK_OK;
  snprintf(sub, sizeof sub, "%s.zarr", f);
  if (!cJSON_IsString(z) || !z->valuestring[0]) return fail(r, sub, "must be a directory name (the store)");
  size_t n = strlen(z->valuestring);
  while (n > 1 && z->valuestring[n - 1] == '/') n--;
  if (!(o->zarr = strndup(z->valuestring, n))) return fail(r, sub, "out of memory");
  int rc = check_writable(r, sub, o->zarr);
  if (rc) return rc;
  struct stat st;
  char meta[4200], meta3[4200];
  snprintf(meta, sizeof meta, "%s/.zarray", o->zarr);
  snprintf(meta3, sizeof meta3, "%s/zarr.json", o->zarr);
  if (stat(o->zarr, &st) == 0 && (!S_ISDIR(st.st_mode) || (access(meta, F_OK) && access(meta3, F_OK))))
    return fail(r, sub, "'%.300s' exists and is not a Zarr store (it is not replaced)", o->zarr);
  o->zarr_opts = (cask_zarr_options)CASK_ZARR_OPTIONS_DEFAULTS;
  if (c) {
    snprintf(sub, sizeof sub, "%s.compressor", f);
    int k = -1;
    for (int i = 0; cJSON_IsString(c) && compressors[i]; i++)
      if (!strcmp(c->valuestring, compressors[i])) k = i;
    if (k < 0)
      return fail(r, sub, "must be one of \"zstd\", \"zlib\", \"gzip\", \"blosc-lz4\", \"blosc-zstd\", \"none\"");
    o->zarr_opts.compressor = (cask_zarr_compressor)k;
  }
  if (l && (rc = read_level(r, f, l, o))) return rc;
  return read_format(r, f, fmt, sh, o);
}

static int read_output_fields(reader *r, const char *f, const cJSON *v, job_output *o) {
  static const char *const allowed[] = {"print", "npy", "zarr", "compressor", "level", "zarr_format", "shards", "hdf5",
                                        "dataset", "netcdf", "variable", "dims", "compression", "shuffle", NULL};
  if (cJSON_IsString(v) && !strcmp(v->valuestring, "print")) {
    o->print = 1;
    return CASK_OK;
  }
  if (!cJSON_IsObject(v))
    return fail(r, f, "must be \"print\" or an object like {\"npy\": \"out.npy\"}, {\"zarr\": \"out.zarr\"}, {\"hdf5\": \"out.h5\", \"dataset\": \"/y\"}");
  int rc = check_fields(r, f, v, allowed);
  int h5 = 0;
  if (!rc) rc = job_h5_output(r, f, v, o, &h5); /* "hdf5", "netcdf" and their fields */
  if (!rc && !h5) rc = read_zarr_output(r, f, v, o);
  if (rc) return rc;
  const cJSON *p = cJSON_GetObjectItemCaseSensitive(v, "print"), *n = cJSON_GetObjectItemCaseSensitive(v, "npy");
  char sub[300];
  snprintf(sub, sizeof sub, "%s.print", f);
  if (p && !cJSON_IsBool(p)) return fail(r, sub, "must be true or false");
  o->print = cJSON_IsTrue(p);
  snprintf(sub, sizeof sub, "%s.npy", f);
  if (n && (!cJSON_IsString(n) || !n->valuestring[0])) return fail(r, sub, "must be a file name");
  if (n && (rc = check_writable(r, sub, n->valuestring))) return rc;
  if (n && !(o->npy = strdup(n->valuestring))) return fail(r, sub, "out of memory");
  if (!o->print && !o->npy && !o->zarr && !o->hdf5 && !o->netcdf)
    return fail(r, f,
                    "says nothing to do (give \"print\": true, \"npy\": FILE, \"zarr\": STORE, \"hdf5\": FILE or \"netcdf\": FILE)");
  return CASK_OK;
}

static int read_output(reader *r, const cJSON *v) {
  job *j = r->j;
  char f[200];
  snprintf(f, sizeof f, "outputs.%.100s", v->string);
  int k = find_name(j, v->string);
  if (k < 0) return fail(r, f, "'%.100s' is not an input or a step", v->string);
  job_output *o = &j->out[j->nout];
  memset(o, 0, sizeof *o);
  if (!(o->name = strdup(v->string))) return fail(r, f, "out of memory");
  o->a = j->values[k];
  j->nout++;
  int rc = read_output_fields(r, f, v, o);
  if (rc) return rc;
  if (o->print && cask_array_size(o->a) == CASK_UNKNOWN) { /* x[mask]: its size is counted now (a first run) */
    cask_array *sized;
    if (cask_compute_chunk_sizes(o->a, &sized))
      return fail(r, f, "counting the elements to print: %s", cask_ctx_errmsg(r->ctx));
    cask_array_release(j->values[k]);
    j->values[k] = o->a = sized;
  }
  int64_t n = cask_array_size(o->a);
  if (o->print && n > JOB_PRINT_MAX)
    return fail(r, f, "the array has %lld elements, at most %d can be printed (write it with \"npy\" or \"zarr\")",
                (long long)n, JOB_PRINT_MAX);
  return CASK_OK;
}

/* ---- the file ------------------------------------------------------------ */

static int read_section(reader *r, const cJSON *root, const char *name, int required, int (*each)(reader *, const cJSON *)) {
  const cJSON *sec = cJSON_GetObjectItemCaseSensitive(root, name);
  if (!sec && !required) return CASK_OK;
  if (!cJSON_IsObject(sec)) return fail(r, name, sec ? "must be an object of named entries" : "missing");
  if (required && !sec->child) return fail(r, name, "is empty");
  for (const cJSON *m = sec->child; m; m = m->next) {
    for (const cJSON *p = sec->child; p != m; p = p->next)
      if (!strcmp(p->string, m->string)) {
        char f[200];
        snprintf(f, sizeof f, "%s.%.100s", name, m->string);
        return fail(r, f, "appears twice");
      }
    int rc = each(r, m);
    if (rc) return rc;
  }
  return CASK_OK;
}

/* Line and column of the byte at off, for a JSON syntax error. */
static void line_col(const char *text, size_t off, int *line, int *colno) {
  *line = 1;
  *colno = 1;
  for (size_t i = 0; i < off && text[i]; i++) {
    if (text[i] == '\n') {
      (*line)++;
      *colno = 1;
    } else {
      (*colno)++;
    }
  }
}

static char *read_text(reader *r) {
  FILE *f = fopen(r->path, "rb");
  if (!f) {
    snprintf(r->err, r->cap, "%s: cannot open the job file: %s", r->path, strerror(errno));
    return NULL;
  }
  char *text = NULL;
  size_t len = 0, cap = 0, n;
  char buf[65536];
  while ((n = fread(buf, 1, sizeof buf, f)) > 0) {
    if (len + n + 1 > cap) {
      cap = (len + n + 1) * 2;
      char *t = realloc(text, cap);
      if (!t) break;
      text = t;
    }
    memcpy(text + len, buf, n);
    len += n;
  }
  int bad = ferror(f) || (n > 0);
  fclose(f);
  if (bad || !text) {
    if (!bad && !text) return strdup(""); /* empty file: reported as a syntax error */
    free(text);
    snprintf(r->err, r->cap, "%s: cannot read the job file", r->path);
    return NULL;
  }
  text[len] = '\0';
  return text;
}

#define LIMIT_FORMS "a size (\"1.5GiB\", \"800MB\"), a fraction of the machine's memory (\"0.5\", \"50%%\") or \"none\""

/* The runtime starts here, once the file's memory limit is known. */
static int start_ctx(reader *r, const cJSON *root) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, "memory_limit");
  if (v && !cJSON_IsString(v)) return fail(r, "memory_limit", "must be a string: " LIMIT_FORMS);
  if (v && cask_parse_memory_limit(v->valuestring, &r->j->memory_limit))
    return fail(r, "memory_limit", "'%.60s' is not a memory limit: expected " LIMIT_FORMS, v->valuestring);
  cask_options o = *r->opts;
  if (!o.memory_limit) o.memory_limit = r->j->memory_limit;
  int rc = cask_ctx_new(&o, &r->ctx);
  if (rc) snprintf(r->err, r->cap, "cannot start the runtime: %s", cask_create_errmsg());
  return rc;
}

static int read_root(reader *r, const cJSON *root) {
  static const char *const allowed[] = {"description", "memory_limit", "inputs", "steps", "outputs", NULL};
  if (!cJSON_IsObject(root)) return fail(r, "(top level)", "the job must be a JSON object");
  int rc = check_fields(r, "(top level)", root, allowed);
  if (!rc) rc = start_ctx(r, root);
  const cJSON *outs = cJSON_GetObjectItemCaseSensitive(root, "outputs");
  if (!rc && cJSON_IsObject(outs)) {
    r->j->out = calloc((size_t)cJSON_GetArraySize(outs) + 1, sizeof *r->j->out);
    if (!r->j->out) return fail(r, "outputs", "out of memory");
  }
  if (!rc) rc = read_section(r, root, "inputs", 1, read_input);
  if (!rc) rc = read_section(r, root, "steps", 0, read_step);
  if (!rc) rc = read_section(r, root, "outputs", 1, read_output);
  return rc;
}

int job_load(const char *path, const cask_options *opts, cask_ctx **ctx, job *j, char *err, size_t cap) {
  reader r = {NULL, opts, path, err, cap, j};
  memset(j, 0, sizeof *j);
  *ctx = NULL;
  err[0] = '\0';
  char *text = read_text(&r);
  if (!text) return CASK_EIO;
  const char *end = NULL;
  cJSON *root = cJSON_ParseWithOpts(text, &end, 1);
  int rc;
  if (!root) {
    int line, colno;
    line_col(text, end ? (size_t)(end - text) : 0, &line, &colno);
    snprintf(err, cap, "%s: line %d, column %d: not valid JSON", path, line, colno);
    rc = CASK_EINVAL;
  } else {
    rc = read_root(&r, root);
  }
  cJSON_Delete(root);
  free(text);
  if (rc) {
    job_free(j);
    cask_ctx_free(r.ctx);
    r.ctx = NULL;
  }
  *ctx = r.ctx;
  return rc;
}

void job_free(job *j) {
  for (int k = 0; k < j->nout; k++) {
    free(j->out[k].name);
    free(j->out[k].npy);
    free(j->out[k].zarr);
    free(j->out[k].hdf5);
    free(j->out[k].netcdf);
    free(j->out[k].dataset);
    free(j->out[k].variable);
    for (int d = 0; d < CASK_MAX_NDIM; d++) free(j->out[k].dims[d]);
  }
  free(j->out);
  for (int k = 0; k < j->nnames; k++) {
    free(j->names[k]);
    cask_array_release(j->values[k]);
  }
  free(j->names);
  free(j->values);
  memset(j, 0, sizeof *j);
}
