/* json_read.c - a graph from JSON text: json_write.c's format, or one written
 * by hand or by another program, so treated as hostile input.
 *
 * cJSON parses the whole text (its nesting limit, 1000 levels, stops deep
 * input before it can exhaust the stack), then every task is checked field
 * by field so a rejection names the task index, its key and the field.
 * Unknown and repeated fields are errors: a typo such as "dep" would
 * otherwise drop dependencies without a word. Dependencies may name later
 * tasks; they are checked once every task is in, which lets a missing one be
 * reported with both keys (the graph keeps only a hash of a dependency's
 * key). Priorities are checked but not trusted: a graph that had them is
 * ordered again after reading.
 * The one thing to know: every failure frees everything and leaves *out
 * NULL; this runs under LSan in the tests and under a fuzzer (fuzz/). */
#include <cjson/cJSON.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>

#include "graph-int.h"

/* A JSON number is read as a double: from 2^53 on it is no longer exact, so
 * a size there would be silently changed; refuse it instead. */
#define EXACT_MAX 9007199254740991.0 /* 2^53 - 1 */

typedef struct reader {
  cask_graph *g;
  const char **deps; /* scratch: one task's dependency keys */
  size_t deps_cap;
  int ordered; /* some task had a "priority" */
  char msg[CASK__ERRMSG_CAP];
} reader;

enum { T_KEY, T_OP, T_ARGS, T_DEPS, T_OUTPUT, T_SIZE, T_PRIORITY, T_NFIELDS };
static const char *const task_fields[T_NFIELDS] = {"key",    "op",   "args",    "deps",
                                                   "output", "size", "priority"};
enum { D_VERSION, D_NTASKS, D_TASKS, D_NFIELDS };
static const char *const doc_fields[D_NFIELDS] = {"cask_graph", "ntasks", "tasks"};

__attribute__((format(printf, 3, 4))) static int fail(reader *r, int rc, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(r->msg, sizeof r->msg, fmt, ap);
  va_end(ap);
  return rc;
}

/* "task 3 (key 'x'): field "size": <what>"; key and field may be NULL. */
__attribute__((format(printf, 6, 7))) static int task_fail(reader *r, int rc, size_t idx,
                                                           const char *key, const char *field,
                                                           const char *fmt, ...) {
  char what[768], where[320];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(what, sizeof what, fmt, ap);
  va_end(ap);
  if (key)
    cask__fmt(where, sizeof where, "task %zu (key '%.200s')", idx, key);
  else
    cask__fmt(where, sizeof where, "task %zu", idx);
  if (field) return fail(r, rc, "%s: field \"%s\": %s", where, field, what);
  return fail(r, rc, "%s: %s", where, what);
}

/* ---- values ------------------------------------------------------------ */

/* A JSON number that is a whole number in [0, max]; NaN, negatives and
 * 1e300 all fail the range test. */
static int whole(const cJSON *item, double max, int64_t *out) {
  if (!cJSON_IsNumber(item)) return 0;
  double d = item->valuedouble;
  if (!(d >= 0 && d <= max)) return 0;
  int64_t v = (int64_t)d;
  if ((double)v != d) return 0;
  *out = v;
  return 1;
}

/* Sort obj's fields by name into found[] (NULL when absent). Returns the
 * name of the first unknown or repeated field, or NULL. */
static const char *sort_fields(const cJSON *obj, const char *const *names, size_t n,
                               const cJSON **found) {
  memset(found, 0, n * sizeof *found);
  for (const cJSON *f = obj->child; f; f = f->next) {
    const char *name = f->string ? f->string : "";
    size_t i = 0;
    while (i < n && strcmp(name, names[i]) != 0) i++;
    if (i == n || found[i]) return name;
    found[i] = f;
  }
  return NULL;
}

static const char *bad_field_why(const char *name, const char *const *names, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (strcmp(name, names[i]) == 0) return "appears twice";
  return "is not a known field";
}

/* ---- one task ---------------------------------------------------------- */

static int read_key(reader *r, size_t idx, const cJSON *item, const char **key) {
  const cJSON *k = cJSON_GetObjectItemCaseSensitive(item, "key");
  *key = NULL;
  if (!k) return task_fail(r, CASK_EJSON, idx, NULL, "key", "missing");
  if (!cJSON_IsString(k)) return task_fail(r, CASK_EJSON, idx, NULL, "key", "must be a string");
  if (!k->valuestring[0]) return task_fail(r, CASK_EJSON, idx, NULL, "key", "must not be empty");
  *key = k->valuestring;
  return CASK_OK;
}

static int read_op(reader *r, size_t idx, const char *key, const cJSON *item,
                   const cask_op **op) {
  if (!item) return task_fail(r, CASK_EJSON, idx, key, "op", "missing");
  if (!cJSON_IsString(item))
    return task_fail(r, CASK_EJSON, idx, key, "op", "must be a string naming a registered op");
  *op = cask_op_find(item->valuestring);
  if (!*op)
    return task_fail(r, CASK_EUNKNOWNOP, idx, key, "op",
                     "unknown op '%.200s' (no op of that name is registered)", item->valuestring);
  return CASK_OK;
}

static int read_args(reader *r, size_t idx, const char *key, const cask_op *op,
                     const cJSON *item, void **args, size_t *len) {
  char err[512];
  int rc = cask__args_from_json(op, item, args, len, err, sizeof err);
  if (rc) return task_fail(r, rc, idx, key, "args", "op '%s': %s", op->name, err);
  return CASK_OK;
}

/* Fills r->deps, pointers into the cJSON tree. */
static int read_deps(reader *r, size_t idx, const char *key, const cJSON *item, size_t *n) {
  *n = 0;
  if (!item) return CASK_OK;
  if (!cJSON_IsArray(item))
    return task_fail(r, CASK_EJSON, idx, key, "deps", "must be an array of key strings");
  for (const cJSON *d = item->child; d; d = d->next) {
    if (!cJSON_IsString(d))
      return task_fail(r, CASK_EJSON, idx, key, "deps", "entry %zu is not a string", *n);
    if (cask__grow((void **)&r->deps, &r->deps_cap, *n + 1, sizeof *r->deps))
      return task_fail(r, CASK_ENOMEM, idx, key, "deps", "out of memory");
    r->deps[(*n)++] = d->valuestring;
  }
  return CASK_OK;
}

/* "output", "size" and "priority", checked before the task is added. */
static int check_marks(reader *r, size_t idx, const char *key, const cJSON **f) {
  int64_t v;
  if (f[T_OUTPUT] && !cJSON_IsBool(f[T_OUTPUT]))
    return task_fail(r, CASK_EJSON, idx, key, "output", "must be true or false");
  if (f[T_SIZE] && !whole(f[T_SIZE], EXACT_MAX, &v))
    return task_fail(r, CASK_EJSON, idx, key, "size",
                     "must be a whole number of bytes from 0 to 2^53-1");
  if (f[T_PRIORITY] && !whole(f[T_PRIORITY], (double)(UINT32_MAX - 1), &v))
    return task_fail(r, CASK_EJSON, idx, key, "priority",
                     "must be a whole number from 0 to 2^32-2");
  r->ordered |= f[T_PRIORITY] != NULL;
  return CASK_OK;
}

static int add_task(reader *r, size_t idx, const char *key, const cask_op *op,
                    const void *args, size_t len, size_t ndeps, const cJSON **f) {
  cask_task_id id;
  int rc = cask_graph_add_keyed(r->g, key, op, args, len, r->deps, ndeps, &id);
  if (rc) return task_fail(r, rc, idx, key, NULL, "%s", cask_graph_errmsg(r->g));
  if (cJSON_IsTrue(f[T_OUTPUT])) cask_graph_set_output(r->g, id, 1);
  if (f[T_SIZE]) cask_graph_set_size(r->g, id, (int64_t)f[T_SIZE]->valuedouble);
  return CASK_OK;
}

static int read_task(reader *r, size_t idx, const cJSON *item) {
  if (!cJSON_IsObject(item)) return task_fail(r, CASK_EJSON, idx, NULL, NULL, "must be an object");
  const char *key;
  int rc = read_key(r, idx, item, &key);
  if (rc) return rc;
  const cJSON *f[T_NFIELDS];
  const char *bad = sort_fields(item, task_fields, T_NFIELDS, f);
  if (bad)
    return task_fail(r, CASK_EJSON, idx, key, bad, "%s",
                     bad_field_why(bad, task_fields, T_NFIELDS));
  const cask_op *op;
  size_t ndeps, len;
  void *args = NULL;
  if ((rc = read_op(r, idx, key, f[T_OP], &op)) || (rc = read_deps(r, idx, key, f[T_DEPS], &ndeps)) ||
      (rc = check_marks(r, idx, key, f)) || (rc = read_args(r, idx, key, op, f[T_ARGS], &args, &len)))
    return rc;
  rc = add_task(r, idx, key, op, args, len, ndeps, f);
  cask__free(args);
  return rc;
}

/* ---- the document ------------------------------------------------------ */

/* Keys are unique. The graph finds a duplicate when it first indexes its
 * keys (see cask_graph_add); name both tasks, which it does not. */
static int check_keys(reader *r) {
  int rc = cask__index_update(r->g);
  if (rc != CASK_EDUPKEY) return rc ? fail(r, rc, "%s", cask_graph_errmsg(r->g)) : CASK_OK;
  uint32_t dup = r->g->dup_task - 1, first = 0;
  const char *key = cask__key(r->g, dup);
  while (first < dup && strcmp(cask__key(r->g, first), key) != 0) first++;
  return task_fail(r, rc, dup, key, "key", "duplicate: task %u has the same key", (unsigned)first);
}

/* Every dependency names a task; done after all tasks are in because
 * dependencies may point forward. */
static int check_deps(reader *r, const cJSON *tasks) {
  size_t idx = 0;
  for (const cJSON *t = tasks->child; t; t = t->next, idx++) {
    const cJSON *deps = cJSON_GetObjectItemCaseSensitive(t, "deps");
    size_t k = 0;
    for (const cJSON *d = deps ? deps->child : NULL; d; d = d->next, k++) {
      cask_task_id id;
      int rc = cask_graph_find(r->g, d->valuestring, &id);
      if (rc == CASK_ENOTFOUND)
        return task_fail(r, CASK_EMISSINGDEP, idx, cask_graph_key(r->g, (cask_task_id)idx), "deps",
                         "entry %zu, '%.200s', is not the key of any task", k, d->valuestring);
      if (rc) return fail(r, rc, "%s", cask_graph_errmsg(r->g));
    }
  }
  return CASK_OK;
}

static int read_header(reader *r, const cJSON *root, const cJSON **f, size_t *ntasks) {
  int64_t v;
  if (!cJSON_IsObject(root))
    return fail(r, CASK_EJSON,
                "the document must be a JSON object {\"cask_graph\": 1, \"tasks\": [...]}");
  const char *bad = sort_fields(root, doc_fields, D_NFIELDS, f);
  if (bad)
    return fail(r, CASK_EJSON, "top-level field \"%.200s\" %s", bad,
                bad_field_why(bad, doc_fields, D_NFIELDS));
  if (f[D_VERSION] && !(whole(f[D_VERSION], 1e9, &v) && v == 1))
    return fail(r, CASK_EJSON, "field \"cask_graph\": unsupported format version (this reader reads 1)");
  if (!f[D_TASKS]) return fail(r, CASK_EJSON, "field \"tasks\": missing");
  if (!cJSON_IsArray(f[D_TASKS]))
    return fail(r, CASK_EJSON, "field \"tasks\": must be an array of task objects");
  size_t n = 0;
  for (const cJSON *t = f[D_TASKS]->child; t; t = t->next) n++;
  if (f[D_NTASKS] && !(whole(f[D_NTASKS], EXACT_MAX, &v) && (uint64_t)v == n))
    return fail(r, CASK_EJSON, "field \"ntasks\": does not match the %zu entries of \"tasks\" (a truncated file?)", n);
  *ntasks = n;
  return CASK_OK;
}

static int read_doc(reader *r, const cJSON *root) {
  const cJSON *f[D_NFIELDS];
  size_t n = 0;
  int rc = read_header(r, root, f, &n);
  if (rc) return rc;
  if ((rc = cask_graph_new(&r->g)) || (rc = cask_graph_reserve(r->g, n, 0)))
    return fail(r, rc, "cannot make a graph of %zu tasks: %s", n, cask_strerror(rc));
  size_t idx = 0;
  for (const cJSON *t = f[D_TASKS]->child; t; t = t->next)
    if ((rc = read_task(r, idx++, t))) return rc;
  if ((rc = check_keys(r)) || (rc = check_deps(r, f[D_TASKS]))) return rc;
  if ((rc = cask_graph_validate(r->g)) || (r->ordered && (rc = cask_graph_order(r->g))))
    return fail(r, rc, "%s", cask_graph_errmsg(r->g));
  return CASK_OK;
}

/* ---- text -------------------------------------------------------------- */

/* Bytes cJSON would accept but that would silently change a key: a NUL
 * byte (never valid JSON) and the escape \u0000 (keys are C strings, so the
 * key would be cut short there). */
static int check_bytes(reader *r, const char *text, size_t len) {
  const char *nul = memchr(text, '\0', len);
  if (nul) return fail(r, CASK_EJSON, "malformed JSON: NUL byte at offset %zu", (size_t)(nul - text));
  for (size_t i = 0; i < len; i++) {
    if (text[i] != '\\') continue;
    if (len - i >= 6 && memcmp(text + i, "\\u0000", 6) == 0)
      return fail(r, CASK_EJSON, "\\u0000 at offset %zu: keys and strings cannot contain NUL", i);
    i++; /* skip the escaped character: "\\\\u0000" is a backslash, then text */
  }
  return CASK_OK;
}

/* Whether the text nests deeper than cJSON accepts (it reports that as a
 * plain parse failure). */
static int too_deep(const char *text, size_t len) {
  size_t depth = 0;
  int in_str = 0;
  for (size_t i = 0; i < len; i++) {
    char c = text[i];
    if (in_str) {
      if (c == '\\') i++;
      else if (c == '"') in_str = 0;
    } else if (c == '"') {
      in_str = 1;
    } else if (c == '[' || c == '{') {
      if (++depth > CJSON_NESTING_LIMIT) return 1;
    } else if ((c == ']' || c == '}') && depth) {
      depth--;
    }
  }
  return 0;
}

static int syntax_error(reader *r, const char *text, size_t len, const char *at) {
  size_t off = at && at >= text && at <= text + len ? (size_t)(at - text) : 0, line = 1, col = 1;
  for (size_t i = 0; i < off; i++) {
    col = text[i] == '\n' ? 1 : col + 1;
    line += text[i] == '\n';
  }
  if (too_deep(text, len))
    return fail(r, CASK_EJSON, "malformed JSON: nested deeper than %d levels", CJSON_NESTING_LIMIT);
  return fail(r, CASK_EJSON, "malformed JSON at line %zu, column %zu (byte %zu)", line, col, off);
}

/* cJSON 1.7.15 may read a byte past the length it is given (cJSON issue
 * #800), so the copy ends in two NULs and the length given counts one: the
 * parse must end exactly at that terminator, which also rejects trailing
 * text. */
static int parse(reader *r, const char *text, size_t len, cJSON **root) {
  int rc = check_bytes(r, text, len);
  if (rc) return rc;
  if (len > SIZE_MAX - 2) return fail(r, CASK_ETOOBIG, "JSON text too large");
  char *copy = cask__malloc(len + 2);
  if (!copy) return fail(r, CASK_ENOMEM, "out of memory copying %zu bytes of JSON", len);
  memcpy(copy, text, len);
  copy[len] = copy[len + 1] = '\0';
  const char *end = NULL;
  *root = cJSON_ParseWithLengthOpts(copy, len + 1, &end, 1);
  rc = *root ? CASK_OK : syntax_error(r, copy, len, end);
  cask__free(copy);
  return rc;
}

static int finish(reader *r, int rc, cask_graph **out, char **errmsg) {
  cask__free(r->deps);
  if (rc) {
    cask_graph_free(r->g);
    r->g = NULL;
    if (!r->msg[0]) cask__fmt(r->msg, sizeof r->msg, "%s", cask_strerror(rc));
    if (errmsg) *errmsg = cask__strdup(r->msg);
  }
  *out = r->g;
  return rc;
}

int cask_graph_from_json(const char *text, size_t len, cask_graph **out, char **errmsg) {
  if (errmsg) *errmsg = NULL;
  if (!out) return CASK_EINVAL;
  *out = NULL;
  if (!text && len) return CASK_EINVAL;
  reader r = {0};
  cJSON *root = NULL;
  int rc = parse(&r, text ? text : "", len, &root);
  if (!rc) rc = read_doc(&r, root);
  cJSON_Delete(root);
  return finish(&r, rc, out, errmsg);
}

/* ---- files ------------------------------------------------------------- */

static int slurp(reader *r, const char *path, char **text, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f) return fail(r, CASK_EIO, "%s: cannot open: %s", path, strerror(errno));
  size_t cap = 0;
  int rc = CASK_OK;
  *text = NULL;
  *len = 0;
  for (;;) {
    if ((rc = cask__grow((void **)text, &cap, *len + 65536, 1))) break;
    size_t got = fread(*text + *len, 1, cap - *len, f);
    *len += got;
    if (got == 0) break;
  }
  if (!rc && ferror(f)) rc = CASK_EIO;
  fclose(f);
  if (rc) {
    cask__free(*text);
    *text = NULL;
    return fail(r, rc, "%s: cannot read: %s", path, rc == CASK_EIO ? strerror(errno) : cask_strerror(rc));
  }
  return CASK_OK;
}

int cask_graph_read_json(const char *path, cask_graph **out, char **errmsg) {
  if (errmsg) *errmsg = NULL;
  if (!out) return CASK_EINVAL;
  *out = NULL;
  if (!path) return CASK_EINVAL;
  reader r = {0};
  char *text = NULL;
  size_t len = 0;
  int rc = slurp(&r, path, &text, &len);
  if (rc) return finish(&r, rc, out, errmsg);
  rc = cask_graph_from_json(text, len, out, errmsg);
  cask__free(text);
  if (rc && errmsg && *errmsg) {
    /* Name the file too. */
    char *named = cask__malloc(strlen(path) + strlen(*errmsg) + 3);
    if (named) {
      sprintf(named, "%s: %s", path, *errmsg);
      cask__free(*errmsg);
      *errmsg = named;
    }
  }
  return rc;
}
