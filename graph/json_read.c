/* json_read.c - a graph from JSON text: json_write.c's format, or one written
 * by hand or by another program, so hostile input.
 *
 * A small scanner walks the top-level object and the "tasks" array, finding
 * where each value ends (strings and brackets matched, nothing more), and
 * cJSON parses one task at a time: a cJSON tree of a million-task graph is
 * tens of millions of allocations and was ten times slower than everything
 * else. cJSON checks every byte, and its nesting limit (1000) stops deep
 * input before it exhausts the stack. Each field is checked so a rejection
 * names the task index, key and field; unknown and repeated fields are
 * errors (a typo such as "dep" would otherwise drop dependencies quietly).
 * A missing dependency is found by validation; the tasks are then walked
 * again to name its entry. Priorities are not trusted: a graph that had them
 * is ordered again.
 * The one thing to know: the input is never copied whole and never NUL-
 * terminated; the scanner reads past the end as NUL, sound only because a
 * NUL inside the text is refused first. Every failure frees everything and
 * leaves *out NULL (LSan in the tests, and fuzz/). */
#include <cjson/cJSON.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/stat.h>

#include "graph-int.h"

/* A JSON number is read as a double: from 2^53 on it is no longer exact, so
 * a size there would be silently changed; refuse it instead. */
#define EXACT_MAX 9007199254740991.0 /* 2^53 - 1 */

typedef struct reader {
  const char *text; /* the caller's, not NUL-terminated */
  size_t len;
  char *buf; /* one value at a time for cJSON, NUL-terminated */
  size_t buf_cap;
  size_t tasks_at, tasks_end; /* the "tasks" array: '[' to just past ']' */
  int64_t ntasks;             /* the "ntasks" field, -1 when absent */
  size_t ntasks_read;
  cask_graph *g;
  const char **deps; /* scratch: one task's dependency keys */
  size_t deps_cap;
  int ordered; /* some task had a "priority" */
  char msg[CASK__ERRMSG_CAP];
} reader;

typedef int (*task_fn)(reader *r, size_t idx, const cJSON *task);

enum { T_KEY, T_OP, T_ARGS, T_DEPS, T_OUTPUT, T_SIZE, T_PRIORITY, T_PLACE, T_NFIELDS };
static const char *const task_fields[T_NFIELDS] = {"key",    "op",   "args",     "deps",
                                                   "output", "size", "priority", "place"};
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
  if (cask__op_is_private(*op) && !(*op)->args_from_json)
    return task_fail(r, CASK_EJSON, idx, key, "op",
                     "op '%s' cannot be read from a graph file: its arguments hold addresses in "
                     "the process that made them", (*op)->name);
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
  if (f[T_PLACE]) {
    int n = cJSON_IsArray(f[T_PLACE]) ? cJSON_GetArraySize(f[T_PLACE]) : 0;
    for (int k = 0; k < n && n == 5; k++)
      if (!whole(cJSON_GetArrayItem(f[T_PLACE], k), (double)UINT32_MAX, &v)) n = 0;
    if (n != 5)
      return task_fail(r, CASK_EJSON, idx, key, "place",
                       "must be [kind, i, j, ni, nj], whole numbers from 0 to 2^32-1");
  }
  return CASK_OK;
}

static int add_task(reader *r, size_t idx, const char *key, const cask_op *op,
                    const void *args, size_t len, size_t ndeps, const cJSON **f) {
  cask_task_id id;
  /* A private op read here has JSON hooks that rebuilt its addresses from
   * names (read_op refuses the others). */
  int rc = cask__graph_add_keyed(r->g, key, op, args, len, r->deps, ndeps, &id);
  if (rc) return task_fail(r, rc, idx, key, NULL, "%s", cask_graph_errmsg(r->g));
  if (cJSON_IsTrue(f[T_OUTPUT])) cask_graph_set_output(r->g, id, 1);
  if (f[T_SIZE]) cask_graph_set_size(r->g, id, (int64_t)f[T_SIZE]->valuedouble);
  if (f[T_PLACE]) {
    uint32_t v[5];
    for (int k = 0; k < 5; k++) v[k] = (uint32_t)cJSON_GetArrayItem(f[T_PLACE], k)->valuedouble;
    cask_place_hint h = {(int)v[0], v[1], v[2], v[3], v[4]};
    if (cask_graph_set_place(r->g, id, &h))
      return task_fail(r, CASK_EJSON, idx, key, "place", "%s", cask_graph_errmsg(r->g));
  }
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
  const cask_op *op = NULL;
  size_t ndeps, len;
  void *args = NULL;
  if ((rc = read_op(r, idx, key, f[T_OP], &op)) || (rc = read_deps(r, idx, key, f[T_DEPS], &ndeps)) ||
      (rc = check_marks(r, idx, key, f)) || (rc = read_args(r, idx, key, op, f[T_ARGS], &args, &len)))
    return rc;
  rc = add_task(r, idx, key, op, args, len, ndeps, f);
  cask__free(args);
  return rc;
}

/* ---- scanning ---------------------------------------------------------- */

/* The byte at i; the end of the text reads as NUL. */
static char at(const reader *r, size_t i) { return i < r->len ? r->text[i] : '\0'; }

static int is_ws(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

static size_t skip_ws(const reader *r, size_t i) {
  while (is_ws(at(r, i))) i++;
  return i;
}

/* Just past the string that opens at i, or 0 if the text ends first. A
 * quote ends the string unless an odd run of backslashes precedes it;
 * memchr finds the candidates, since most of the text is inside strings. */
static size_t string_end(const reader *r, size_t i) {
  const char *t = r->text;
  for (size_t from = i + 1; from < r->len;) {
    const char *q = memchr(t + from, '"', r->len - from);
    if (!q) return 0;
    size_t j = (size_t)(q - t), bs = 0;
    while (j - bs > i + 1 && t[j - bs - 1] == '\\') bs++;
    if (bs % 2 == 0) return j + 1;
    from = j + 1;
  }
  return 0;
}

/* Just past the value that starts at i, or 0: a string or a bracketed
 * value runs to its match, anything else to the next delimiter. */
static size_t value_end(const reader *r, size_t i) {
  static const char bracket_or_quote[256] = {['"'] = 1, ['{'] = 1, ['}'] = 1, ['['] = 1, [']'] = 1};
  char c = at(r, i);
  if (c == '"') return string_end(r, i);
  if (c != '{' && c != '[') {
    size_t start = i;
    for (; (c = at(r, i)) && !is_ws(c) && c != ',' && c != ']' && c != '}'; i++) continue;
    return i > start ? i : 0;
  }
  size_t depth = 0;
  while (i < r->len) {
    c = r->text[i];
    if (!bracket_or_quote[(unsigned char)c]) {
      i++;
    } else if (c == '"') {
      if (!(i = string_end(r, i))) return 0;
    } else {
      i++;
      if (c == '{' || c == '[')
        depth++;
      else if (--depth == 0)
        return i;
    }
  }
  return 0;
}

/* Whether the text nests deeper than cJSON accepts (it reports that as a
 * plain parse failure). */
static int too_deep(const reader *r) {
  size_t depth = 0;
  for (size_t i = 0; i < r->len; i++) {
    char c = r->text[i];
    if (c == '"') {
      if (!(i = string_end(r, i))) return 0;
      i--;
    } else if (c == '[' || c == '{') {
      if (++depth > CJSON_NESTING_LIMIT) return 1;
    } else if ((c == ']' || c == '}') && depth) {
      depth--;
    }
  }
  return 0;
}

static int syntax_error(reader *r, size_t off) {
  size_t line = 1, col = 1;
  for (size_t i = 0; i < off && i < r->len; i++) {
    col = r->text[i] == '\n' ? 1 : col + 1;
    line += r->text[i] == '\n';
  }
  if (too_deep(r))
    return fail(r, CASK_EJSON, "malformed JSON: nested deeper than %d levels", CJSON_NESTING_LIMIT);
  if (off >= r->len)
    return fail(r, CASK_EJSON, "malformed JSON: the text ends early (line %zu, column %zu)", line, col);
  return fail(r, CASK_EJSON, "malformed JSON at line %zu, column %zu (byte %zu)", line, col, off);
}

/* Where a value that value_end could not close went wrong: an unclosed
 * string or bracket runs to the end of the text. */
static int unclosed(reader *r, size_t i) {
  char c = at(r, i);
  return syntax_error(r, c == '"' || c == '[' || c == '{' ? r->len : i);
}

/* cJSON on text[start, end), copied out with two NULs after it: cJSON must
 * use exactly the range (require_null_terminated), and cJSON 1.7.15 may read
 * a byte past the length it is given (cJSON issue #800), the second NUL. */
static int parse_range(reader *r, size_t start, size_t end, cJSON **out) {
  size_t n = end - start;
  *out = NULL;
  if (cask__grow((void **)&r->buf, &r->buf_cap, n + 2, 1))
    return fail(r, CASK_ENOMEM, "out of memory reading JSON");
  memcpy(r->buf, r->text + start, n);
  r->buf[n] = r->buf[n + 1] = '\0';
  const char *stop = NULL;
  *out = cJSON_ParseWithLengthOpts(r->buf, n + 1, &stop, 1);
  if (*out) return CASK_OK;
  return syntax_error(r, start + (stop && stop >= r->buf ? (size_t)(stop - r->buf) : 0));
}

/* ---- the top level ------------------------------------------------------- */

static int read_header_value(reader *r, int field, size_t v, size_t v_end) {
  int64_t n;
  cJSON *item;
  int rc = parse_range(r, v, v_end, &item);
  if (rc) return rc;
  if (field == D_VERSION && !(whole(item, 1e9, &n) && n == 1))
    rc = fail(r, CASK_EJSON, "field \"cask_graph\": unsupported format version (this reader reads 1)");
  else if (field == D_NTASKS && !whole(item, EXACT_MAX, &r->ntasks))
    rc = fail(r, CASK_EJSON, "field \"ntasks\": must be a whole number");
  cJSON_Delete(item);
  return rc;
}

/* One "name": value of the top-level object. */
static int read_header_field(reader *r, size_t name, size_t name_end, size_t v, size_t v_end,
                             int *seen) {
  cJSON *item;
  int rc = parse_range(r, name, name_end, &item);
  if (rc) return rc;
  int f = 0;
  while (f < D_NFIELDS && strcmp(item->valuestring, doc_fields[f]) != 0) f++;
  if (f == D_NFIELDS || seen[f])
    rc = fail(r, CASK_EJSON, "top-level field \"%.200s\" %s", item->valuestring,
              bad_field_why(item->valuestring, doc_fields, D_NFIELDS));
  cJSON_Delete(item);
  if (rc) return rc;
  seen[f] = 1;
  if (f != D_TASKS) return read_header_value(r, f, v, v_end);
  if (at(r, v) != '[') return fail(r, CASK_EJSON, "field \"tasks\": must be an array of task objects");
  r->tasks_at = v;
  r->tasks_end = v_end;
  return CASK_OK;
}

/* Anything but an object: say so if it is JSON at all. */
static int not_an_object(reader *r, size_t i) {
  cJSON *item;
  int rc = i < r->len ? parse_range(r, 0, r->len, &item) : syntax_error(r, i);
  if (rc) return rc;
  cJSON_Delete(item);
  return fail(r, CASK_EJSON,
              "the document must be a JSON object {\"cask_graph\": 1, \"tasks\": [...]}");
}

/* The top-level object; the tasks are only located, not read. */
static int read_top(reader *r) {
  int seen[D_NFIELDS] = {0}, rc;
  /* A UTF-8 byte order mark, as some editors write, is not text. */
  size_t i = skip_ws(r, r->len >= 3 && memcmp(r->text, "\xef\xbb\xbf", 3) == 0 ? 3 : 0);
  if (at(r, i) != '{') return not_an_object(r, i);
  i = skip_ws(r, i + 1);
  while (at(r, i) != '}') {
    size_t name_end = at(r, i) == '"' ? string_end(r, i) : 0;
    if (!name_end) return at(r, i) == '"' ? unclosed(r, i) : syntax_error(r, i);
    size_t colon = skip_ws(r, name_end);
    if (at(r, colon) != ':') return syntax_error(r, colon);
    size_t v = skip_ws(r, colon + 1), v_end = value_end(r, v);
    if (!v_end) return unclosed(r, v);
    if ((rc = read_header_field(r, i, name_end, v, v_end, seen))) return rc;
    i = skip_ws(r, v_end);
    if (at(r, i) == '}') break;
    if (at(r, i) != ',') return syntax_error(r, i);
    i = skip_ws(r, i + 1); /* a field must follow: "}" after "," is an error */
    if (at(r, i) == '}') return syntax_error(r, i);
  }
  i = skip_ws(r, i + 1);
  if (i < r->len) return syntax_error(r, i);
  if (!seen[D_TASKS]) return fail(r, CASK_EJSON, "field \"tasks\": missing");
  return CASK_OK;
}

/* Parse each entry of "tasks" in turn and hand it to fn. */
static int each_task(reader *r, task_fn fn) {
  size_t i = skip_ws(r, r->tasks_at + 1), idx = 0;
  while (at(r, i) != ']') {
    size_t end = value_end(r, i);
    if (!end || end > r->tasks_end) return unclosed(r, i);
    cJSON *task;
    int rc = parse_range(r, i, end, &task);
    if (rc) return rc;
    rc = fn(r, idx++, task);
    cJSON_Delete(task);
    if (rc) return rc;
    i = skip_ws(r, end);
    if (at(r, i) == ']') break;
    if (at(r, i) != ',') return syntax_error(r, i);
    i = skip_ws(r, i + 1); /* a task must follow: "]" after "," is an error */
    if (at(r, i) == ']') return syntax_error(r, i);
  }
  if (i + 1 != r->tasks_end) return syntax_error(r, i);
  r->ntasks_read = idx;
  return CASK_OK;
}

/* ---- the graph ----------------------------------------------------------- */

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

/* A task_fn for the second walk, after validation found a missing
 * dependency: name it. The first walk checked that "deps" holds strings. */
static int name_missing_dep(reader *r, size_t idx, const cJSON *task) {
  const cJSON *deps = cJSON_GetObjectItemCaseSensitive(task, "deps");
  size_t k = 0;
  for (const cJSON *d = deps ? deps->child : NULL; d; d = d->next, k++) {
    cask_task_id id;
    if (cask_graph_find(r->g, d->valuestring, &id) == CASK_ENOTFOUND)
      return task_fail(r, CASK_EMISSINGDEP, idx, cask_graph_key(r->g, (cask_task_id)idx), "deps",
                       "entry %zu, '%.200s', is not the key of any task", k, d->valuestring);
  }
  return CASK_OK;
}

static int new_graph(reader *r) {
  /* Room for the tasks "ntasks" announces, but no more than the text could
   * hold (the smallest task, {"key":"k","op":"o"}, is 20 bytes): the
   * field is not trusted. */
  size_t hint = r->ntasks > 0 ? (size_t)r->ntasks : 0;
  if (hint > r->len / 20) hint = r->len / 20;
  int rc = cask_graph_new(&r->g);
  if (!rc) rc = cask_graph_reserve(r->g, hint, 0);
  return rc ? fail(r, rc, "cannot make a graph of %zu tasks: %s", hint, cask_strerror(rc)) : CASK_OK;
}

static int read_doc(reader *r) {
  int rc;
  if ((rc = read_top(r)) || (rc = new_graph(r)) || (rc = each_task(r, read_task))) return rc;
  if (r->ntasks >= 0 && (uint64_t)r->ntasks != r->ntasks_read)
    return fail(r, CASK_EJSON, "field \"ntasks\": is %lld but \"tasks\" has %zu entries (a truncated file?)",
                (long long)r->ntasks, r->ntasks_read);
  if ((rc = check_keys(r))) return rc;
  rc = cask_graph_validate(r->g);
  if (rc == CASK_EMISSINGDEP) {
    int named = each_task(r, name_missing_dep);
    if (named) return named;
  }
  if (!rc && r->ordered) rc = cask_graph_order(r->g);
  return rc ? fail(r, rc, "%s", cask_graph_errmsg(r->g)) : CASK_OK;
}

/* ---- text ---------------------------------------------------------------- */

/* Bytes cJSON would accept but that would silently change a key: a NUL
 * byte (never valid JSON; the scanner also takes NUL as the end) and the
 * escape \u0000 (keys are C strings, so the key would be cut short). */
static int check_bytes(reader *r) {
  const char *t = r->text, *nul = memchr(t, '\0', r->len);
  if (nul) return fail(r, CASK_EJSON, "malformed JSON: NUL byte at offset %zu", (size_t)(nul - t));
  for (const char *p = t; p < t + r->len && (p = memchr(p, '\\', r->len - (size_t)(p - t)));) {
    if (r->len - (size_t)(p - t) >= 6 && memcmp(p, "\\u0000", 6) == 0)
      return fail(r, CASK_EJSON, "\\u0000 at offset %zu: keys and strings cannot contain NUL",
                  (size_t)(p - t));
    p += 2; /* past the escaped character: "\\\\u0000" is a backslash, then text */
  }
  return CASK_OK;
}

static int finish(reader *r, int rc, cask_graph **out, char **errmsg) {
  cask__free(r->deps);
  cask__free(r->buf);
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
  reader r = {.text = text ? text : "", .len = len, .ntasks = -1};
  int rc = check_bytes(&r);
  if (!rc) rc = read_doc(&r);
  return finish(&r, rc, out, errmsg);
}

/* ---- files ------------------------------------------------------------- */

/* The whole file, in one allocation when its size is known up front. */
static int slurp(reader *r, const char *path, char **text, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f) return fail(r, CASK_EIO, "%s: cannot open: %s", path, strerror(errno));
  struct stat st;
  size_t cap = 0, step = fstat(fileno(f), &st) == 0 && st.st_size > 0 ? (size_t)st.st_size + 1 : 65536;
  int rc = CASK_OK;
  *text = NULL;
  *len = 0;
  for (;;) {
    if (*len == cap && (rc = cask__grow((void **)text, &cap, *len + step, 1))) break;
    size_t got = fread(*text + *len, 1, cap - *len, f);
    *len += got;
    if (got == 0) break;
  }
  if (!rc && ferror(f)) rc = CASK_EIO;
  int err = errno;
  fclose(f);
  if (rc) {
    cask__free(*text);
    *text = NULL;
    return fail(r, rc, "%s: cannot read: %s", path, rc == CASK_EIO ? strerror(err) : cask_strerror(rc));
  }
  return CASK_OK;
}

int cask_graph_read_json(const char *path, cask_graph **out, char **errmsg) {
  if (errmsg) *errmsg = NULL;
  if (!out) return CASK_EINVAL;
  *out = NULL;
  if (!path) return CASK_EINVAL;
  reader r = {.ntasks = -1};
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
