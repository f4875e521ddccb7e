/* viz.c - `cask viz GRAPH.json -o graph.html`: read a task graph written by
 * cask_graph_write_json (or by hand) and write one self-contained HTML page
 * that draws it (tools/viz_page.h), laid out by tools/viz_layout.c.
 * The one thing to know: the graph is read with cJSON directly, not with
 * cask_graph_from_json, because a graph's ops need not be registered in
 * this process to be drawn; the checks here are the ones drawing needs
 * (keys unique, deps known, no cycle), with messages naming file and task. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "viz-int.h"
#include "viz.h"
#include "viz_page.h"

#define MAX_TASKS_DEFAULT 10000u
#define ERRCAP 1024

static const char usage[] =
    "usage: cask viz GRAPH.json -o PAGE.html [options]\n"
    "\n"
    "Write one self-contained HTML page (no network needed to open it) that\n"
    "draws the task graph in GRAPH.json (as written by `cask graph`,\n"
    "`cask run --graph` or cask_graph_write_json): tasks in layers from the\n"
    "roots down, coloured by op, by run order or by memory, with pan (drag),\n"
    "zoom (mouse wheel) and details on hover. Graphs of --max-tasks tasks or\n"
    "more are drawn as array-operation layers instead: tasks grouped by the\n"
    "operation in their keys (\"<kind>-<token>-i,j\" -> \"<kind>-<token>\";\n"
    "\"add-3-7\" -> \"add-3\"), each drawn with its task count, and by op\n"
    "when even those are too many.\n"
    "\n"
    "options:\n"
    "  -o, --output FILE   the page to write (required); written to a\n"
    "                      temporary name and renamed when complete\n"
    "  --color MODE        first colouring: op (default), order, memory\n"
    "                      (bytes held when the task runs, tasks one at a\n"
    "                      time in order) or size (the task's result bytes);\n"
    "                      the page can switch between them\n"
    "  --max-tasks N       draw task by task below N tasks (default 10000)\n"
    "  --group             always draw the grouped layers\n"
    "  --title TEXT        the page title (default: the graph file's name)\n"
    "  -h, --help          this text\n"
    "\n"
    "exit codes: 0 written, 1 the page could not be written, 2 bad usage or\n"
    "a malformed graph file\n";

typedef struct viz_opts {
  const char *in, *out, *color, *title;
  uint32_t max_tasks;
  int group;
} viz_opts;

/* ---- command line --------------------------------------------------- */

static int bad_usage(const char *fmt, const char *arg) {
  fprintf(stderr, "cask viz: ");
  fprintf(stderr, fmt, arg);
  fprintf(stderr, "\n(try `cask viz --help`)\n");
  return 2;
}

static int parse_count(const char *s, uint32_t *out) {
  char *end;
  errno = 0;
  unsigned long v = strtoul(s, &end, 10);
  if (errno || end == s || *end || s[0] == '-' || v < 1 || v > UINT32_MAX) return -1;
  *out = (uint32_t)v;
  return 0;
}

/* An option's value: the next argument. */
static const char *value(int argc, char **argv, int *i) {
  return *i + 1 < argc ? argv[++*i] : NULL;
}

static int parse_args(int argc, char **argv, viz_opts *o) {
  *o = (viz_opts){.color = "op", .max_tasks = MAX_TASKS_DEFAULT};
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i], *v;
    if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
      fputs(usage, stdout);
      return 0;
    } else if (!strcmp(a, "-o") || !strcmp(a, "--output")) {
      if (!(o->out = value(argc, argv, &i))) return bad_usage("%s needs a file name", a);
    } else if (!strcmp(a, "--color")) {
      if (!(v = value(argc, argv, &i))) return bad_usage("%s needs a mode", a);
      if (strcmp(v, "op") && strcmp(v, "order") && strcmp(v, "memory") && strcmp(v, "size"))
        return bad_usage("--color '%s': expected op, order, memory or size", v);
      o->color = v;
    } else if (!strcmp(a, "--max-tasks")) {
      if (!(v = value(argc, argv, &i))) return bad_usage("%s needs a number", a);
      if (parse_count(v, &o->max_tasks))
        return bad_usage("--max-tasks '%s': expected a whole number of at least 1", v);
    } else if (!strcmp(a, "--group")) {
      o->group = 1;
    } else if (!strcmp(a, "--title")) {
      if (!(o->title = value(argc, argv, &i))) return bad_usage("%s needs a text", a);
    } else if (a[0] == '-' && a[1]) {
      return bad_usage("unknown option '%s'", a);
    } else if (o->in) {
      return bad_usage("one graph file only ('%s' is a second one)", a);
    } else {
      o->in = a;
    }
  }
  if (!o->in) return bad_usage("%s", "no graph file given");
  if (!o->out) return bad_usage("%s", "no output page given (-o PAGE.html)");
  return -1; /* go on */
}

/* ---- reading the graph ---------------------------------------------- */

static char *read_file(const char *path, size_t *len, char *err) {
  FILE *f = fopen(path, "rb");
  if (!f) {
    snprintf(err, ERRCAP, "%s: cannot open: %s", path, strerror(errno));
    return NULL;
  }
  size_t cap = 1 << 16, n = 0;
  char *buf = malloc(cap);
  while (buf) {
    n += fread(buf + n, 1, cap - n - 1, f);
    if (n < cap - 1) break;
    char *nb = realloc(buf, cap * 2);
    if (!nb) free(buf);
    buf = nb;
    cap *= 2;
  }
  int bad = !buf || ferror(f);
  if (bad) snprintf(err, ERRCAP, "%s: cannot read: %s", path, buf ? strerror(errno) : "out of memory");
  fclose(f);
  if (bad) {
    free(buf);
    return NULL;
  }
  buf[n] = '\0';
  *len = n;
  return buf;
}

/* Line and column (from 1) of a byte offset, for parse errors. */
static void line_col(const char *text, size_t off, unsigned *line, unsigned *col) {
  *line = 1;
  *col = 1;
  for (size_t i = 0; i < off; i++) {
    if (text[i] == '\n') {
      (*line)++;
      *col = 1;
    } else {
      (*col)++;
    }
  }
}

static cJSON *parse_json(const char *path, const char *text, size_t len, char *err) {
  if (memchr(text, '\0', len)) {
    size_t off = (size_t)((const char *)memchr(text, '\0', len) - text);
    unsigned l, c;
    line_col(text, off, &l, &c);
    snprintf(err, ERRCAP, "%s:%u:%u: malformed graph JSON: a NUL byte", path, l, c);
    return NULL;
  }
  const char *end = NULL;
  cJSON *root = cJSON_ParseWithLengthOpts(text, len, &end, 0);
  const char *at = root ? end : cJSON_GetErrorPtr();
  size_t off = at ? (size_t)(at - text) : len;
  while (root && off < len && strchr(" \t\r\n", text[off])) off++;
  if (root && off == len) return root;
  size_t tail = len; /* cJSON points at the last byte of a truncated text */
  while (tail > 0 && strchr(" \t\r\n", text[tail - 1])) tail--;
  unsigned l, c;
  line_col(text, off < len ? off : len, &l, &c);
  snprintf(err, ERRCAP, "%s:%u:%u: malformed graph JSON: %s", path, l, c,
           root ? "text after the graph" : off + 1 >= tail ? "the text ends early" : "syntax error");
  cJSON_Delete(root);
  return NULL;
}

/* A whole number in [0, 2^53) from an optional field; -1 when absent. */
static int whole_number(const cJSON *t, const char *field, int64_t *out) {
  const cJSON *x = cJSON_GetObjectItemCaseSensitive(t, field);
  *out = -1;
  if (!x) return 0;
  if (!cJSON_IsNumber(x) || x->valuedouble < 0 || x->valuedouble >= 9007199254740992.0 ||
      x->valuedouble != (double)(int64_t)x->valuedouble)
    return -1;
  *out = (int64_t)x->valuedouble;
  return 0;
}

static void graph_free(viz_graph *g) {
  free(g->key);
  free(g->op);
  free(g->dep_off);
  free(g->dep);
  free(g->size);
  free(g->prio);
  free(g->output);
  memset(g, 0, sizeof *g);
}

static int graph_alloc(viz_graph *g, size_t n, size_t ndeps) {
  g->n = (uint32_t)n;
  g->key = malloc((n + 1) * sizeof *g->key);
  g->op = malloc((n + 1) * sizeof *g->op);
  g->dep_off = calloc(n + 1, sizeof *g->dep_off);
  g->dep = malloc((ndeps + 1) * sizeof *g->dep);
  g->size = malloc((n + 1) * sizeof *g->size);
  g->prio = malloc((n + 1) * sizeof *g->prio);
  g->output = calloc(n + 1, 1);
  return g->key && g->op && g->dep_off && g->dep && g->size && g->prio && g->output ? 0 : -1;
}

/* Fields of task i other than deps; deps are resolved once all keys are. */
static int read_task(const char *path, const cJSON *t, uint32_t i, viz_graph *g, char *err) {
  const cJSON *key = cJSON_GetObjectItemCaseSensitive(t, "key");
  const cJSON *op = cJSON_GetObjectItemCaseSensitive(t, "op");
  const cJSON *deps = cJSON_GetObjectItemCaseSensitive(t, "deps");
  const cJSON *out = cJSON_GetObjectItemCaseSensitive(t, "output");
  const char *what = NULL;
  if (!cJSON_IsObject(t)) what = "is not an object";
  else if (!cJSON_IsString(key) || !key->valuestring[0]) what = "\"key\" is missing or not a non-empty string";
  else if (!cJSON_IsString(op)) what = "\"op\" is missing or not a string";
  else if (deps && !cJSON_IsArray(deps)) what = "\"deps\" is not an array";
  else if (out && !cJSON_IsBool(out)) what = "\"output\" is not true or false";
  else if (whole_number(t, "size", &g->size[i])) what = "\"size\" is not a whole number of bytes";
  else if (whole_number(t, "priority", &g->prio[i])) what = "\"priority\" is not a whole number";
  if (what) {
    snprintf(err, ERRCAP, "%s: task %u%s%s%s: %s", path, (unsigned)i,
             cJSON_IsString(key) ? " '" : "", cJSON_IsString(key) ? key->valuestring : "",
             cJSON_IsString(key) ? "'" : "", what);
    return -1;
  }
  g->key[i] = key->valuestring;
  g->op[i] = op->valuestring;
  g->output[i] = cJSON_IsTrue(out);
  return 0;
}

static int resolve_deps(const char *path, const cJSON *tasks, viz_graph *g, const viz_map *m,
                        char *err) {
  uint32_t i = 0, e = 0;
  for (const cJSON *t = tasks->child; t; t = t->next, i++) {
    const cJSON *d;
    cJSON_ArrayForEach(d, cJSON_GetObjectItemCaseSensitive(t, "deps")) {
      uint32_t k = cJSON_IsString(d) ? viz_map_find(m, g->key, d->valuestring, strlen(d->valuestring))
                                     : VIZ_NONE;
      if (k == VIZ_NONE) {
        snprintf(err, ERRCAP, "%s: task %u '%s': \"deps\" names %s%s%s, which is not a task key", path,
                 (unsigned)i, g->key[i], cJSON_IsString(d) ? "'" : "a non-string",
                 cJSON_IsString(d) ? d->valuestring : "", cJSON_IsString(d) ? "'" : "");
        return -1;
      }
      g->dep[e++] = k;
    }
    g->dep_off[i + 1] = e;
  }
  return 0;
}

static int read_tasks(const char *path, const cJSON *tasks, viz_graph *g, char *err) {
  size_t n = 0, ndeps = 0;
  for (const cJSON *t = tasks->child; t; t = t->next, n++)
    ndeps += (size_t)cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(t, "deps"));
  if (n >= UINT32_MAX || ndeps >= UINT32_MAX) {
    snprintf(err, ERRCAP, "%s: too many tasks or deps to draw", path);
    return -1;
  }
  viz_map m = {0};
  if (graph_alloc(g, n, ndeps) || viz_map_init(&m, n)) {
    snprintf(err, ERRCAP, "out of memory reading %s", path);
    return -1;
  }
  uint32_t i = 0;
  int rc = 0;
  for (const cJSON *t = tasks->child; t && !rc; t = t->next, i++) {
    rc = read_task(path, t, i, g, err);
    uint32_t k = rc ? i : viz_map_add(&m, g->key, i);
    if (k != i) {
      snprintf(err, ERRCAP, "%s: task %u: key '%s' is also the key of task %u", path, (unsigned)i,
               g->key[i], (unsigned)k);
      rc = -1;
    }
  }
  if (!rc) rc = resolve_deps(path, tasks, g, &m, err);
  viz_map_destroy(&m);
  return rc;
}

/* The graph in root (a parsed file); strings stay in root. */
static int read_graph(const char *path, const cJSON *root, viz_graph *g, char *err) {
  const cJSON *tasks = cJSON_GetObjectItemCaseSensitive(root, "tasks");
  const cJSON *nt = cJSON_GetObjectItemCaseSensitive(root, "ntasks");
  if (!cJSON_IsObject(root) || !cJSON_IsArray(tasks)) {
    snprintf(err, ERRCAP, "%s: not a cask task graph: expected an object with a \"tasks\" array", path);
    return -1;
  }
  if (nt && (!cJSON_IsNumber(nt) || nt->valuedouble != cJSON_GetArraySize(tasks))) {
    snprintf(err, ERRCAP, "%s: \"ntasks\" is %g but \"tasks\" holds %d", path,
             cJSON_IsNumber(nt) ? nt->valuedouble : -1.0, cJSON_GetArraySize(tasks));
    return -1;
  }
  return read_tasks(path, tasks, g, err);
}

/* ---- writing the page ----------------------------------------------- */

static int add_numbers(cJSON *obj, const char *name, const int64_t *v64, const uint32_t *v32,
                       uint32_t n) {
  cJSON *a = cJSON_AddArrayToObject(obj, name);
  for (uint32_t i = 0; a && i < n; i++) {
    double x = v64 ? (double)v64[i] : v32[i] == VIZ_NONE ? -1.0 : (double)v32[i];
    cJSON *num = cJSON_CreateNumber(x);
    if (!num || !cJSON_AddItemToArray(a, num)) return -1;
  }
  return a ? 0 : -1;
}

/* The page's data: one array per node field, edges as [src, dst, count]
 * triples flattened. */
static cJSON *view_json(const viz_view *v, const viz_opts *o) {
  cJSON *d = cJSON_CreateObject(), *nodes = cJSON_AddObjectToObject(d, "nodes");
  cJSON *ops = cJSON_AddArrayToObject(d, "ops"), *labels = cJSON_AddArrayToObject(nodes, "label");
  cJSON *edges = cJSON_AddArrayToObject(d, "edges");
  int bad = !d || !nodes || !ops || !labels || !edges;
  bad |= !cJSON_AddStringToObject(d, "title", o->title);
  bad |= !cJSON_AddStringToObject(d, "color", o->color);
  bad |= !cJSON_AddNumberToObject(d, "grouped", v->grouped);
  bad |= !cJSON_AddBoolToObject(d, "has_prio", v->has_prio);
  bad |= !cJSON_AddNumberToObject(d, "ntasks", v->ntasks);
  bad |= !cJSON_AddNumberToObject(d, "ntask_edges", (double)v->ntask_edges);
  bad |= !cJSON_AddNumberToObject(d, "peak", (double)v->peak);
  for (uint32_t i = 0; !bad && i < v->nops; i++)
    bad |= !cJSON_AddItemToArray(ops, cJSON_CreateString(v->ops[i]));
  for (uint32_t i = 0; !bad && i < v->n; i++)
    bad |= !cJSON_AddItemToArray(labels, cJSON_CreateString(v->label[i]));
  for (uint32_t i = 0; !bad && i < v->nedges; i++) {
    bad |= !cJSON_AddItemToArray(edges, cJSON_CreateNumber(v->esrc[i]));
    bad |= !cJSON_AddItemToArray(edges, cJSON_CreateNumber(v->edst[i]));
    bad |= !cJSON_AddItemToArray(edges, cJSON_CreateNumber(v->ecount[i]));
  }
  if (!bad)
    bad = add_numbers(nodes, "op", NULL, v->op, v->n) || add_numbers(nodes, "count", NULL, v->count, v->n) ||
          add_numbers(nodes, "layer", NULL, v->layer, v->n) || add_numbers(nodes, "pos", NULL, v->pos, v->n) ||
          add_numbers(nodes, "bytes", v->bytes, NULL, v->n) || add_numbers(nodes, "order", v->order, NULL, v->n) ||
          add_numbers(nodes, "held", v->held, NULL, v->n);
  if (bad) {
    cJSON_Delete(d);
    return NULL;
  }
  return d;
}

/* Write s with every '<' as \u003c: inside a <script> element no key can
 * then close the element ("</script>") or open a comment. '<' only occurs
 * inside JSON strings, where the escape means the same character. */
static int put_json(FILE *f, const char *s) {
  for (const char *p; (p = strchr(s, '<')); s = p + 1) {
    if (fwrite(s, 1, (size_t)(p - s), f) != (size_t)(p - s) || fputs("\\u003c", f) < 0) return -1;
  }
  return fputs(s, f) < 0 ? -1 : 0;
}

/* The same escape for the <title> text: HTML-escape &, < and >. */
static int put_html_text(FILE *f, const char *s) {
  int rc = 0;
  for (; *s && rc >= 0; s++)
    rc = *s == '&' ? fputs("&amp;", f) : *s == '<' ? fputs("&lt;", f) : *s == '>' ? fputs("&gt;", f)
                                                                                : fputc(*s, f);
  return rc < 0 ? -1 : 0;
}

static int write_page(FILE *f, const char *title, const char *data) {
  if (fputs(viz_page_head, f) < 0 || put_html_text(f, title) || fputs(viz_page_mid, f) < 0 ||
      put_json(f, data) || fputs(viz_page_tail, f) < 0)
    return -1;
  return 0;
}

/* Temporary name next to out, then rename: a reader never sees half a page. */
static int write_atomic(const char *out, const char *title, const char *data, char *err) {
  size_t n = strlen(out);
  char *tmp = malloc(n + 16);
  if (!tmp) {
    snprintf(err, ERRCAP, "%s: out of memory", out);
    return -1;
  }
  snprintf(tmp, n + 16, "%s.tmp-XXXXXX", out);
  int fd = mkstemp(tmp);
  FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
  if (!f) {
    snprintf(err, ERRCAP, "%s: cannot create a temporary file: %s", out, strerror(errno));
    if (fd >= 0) close(fd);
    goto fail_unlink;
  }
  int bad = write_page(f, title, data) || fflush(f) || fchmod(fd, 0644) || fsync(fd);
  bad |= fclose(f) != 0;
  if (bad || rename(tmp, out)) {
    snprintf(err, ERRCAP, "%s: cannot write the page: %s", out, strerror(errno));
    goto fail_unlink;
  }
  free(tmp);
  return 0;
fail_unlink:
  if (fd >= 0) unlink(tmp);
  free(tmp);
  return -1;
}

static const char *base_name(const char *path) {
  const char *s = strrchr(path, '/');
  return s ? s + 1 : path;
}

/* Returns the exit code. */
static int render(const viz_opts *o, const viz_graph *g, char *err) {
  viz_view v;
  int rc = viz_build_view(g, o->max_tasks, o->group, &v, err, ERRCAP);
  if (rc) {
    fprintf(stderr, "cask viz: %s: %s\n", o->in, err);
    return rc > 0 ? 2 : 1; /* a cycle is a bad graph file */
  }
  cJSON *d = view_json(&v, o);
  char *text = d ? cJSON_PrintUnformatted(d) : NULL;
  if (!text) {
    fprintf(stderr, "cask viz: %s: out of memory\n", o->out);
    rc = 1;
  } else if (write_atomic(o->out, o->title, text, err)) {
    fprintf(stderr, "cask viz: %s\n", err);
    rc = 1;
  } else {
    printf("cask viz: wrote %s (%u tasks, %u %s)\n", o->out, (unsigned)v.ntasks, (unsigned)v.n,
           v.grouped == 0 ? "nodes" : v.grouped == 1 ? "array operations" : "groups by op");
  }
  cJSON_free(text);
  cJSON_Delete(d);
  viz_view_destroy(&v);
  return rc;
}

int cask_tool_viz(int argc, char **argv) {
  viz_opts o;
  int rc = parse_args(argc, argv, &o);
  if (rc >= 0) return rc;
  if (!o.title) o.title = base_name(o.in);
  char *err = malloc(ERRCAP);
  size_t len = 0;
  char *text = err ? read_file(o.in, &len, err) : NULL;
  cJSON *root = text ? parse_json(o.in, text, len, err) : NULL;
  viz_graph g = {0};
  if (!err) {
    fprintf(stderr, "cask viz: out of memory\n");
    rc = 1;
  } else if (!root || read_graph(o.in, root, &g, err)) {
    fprintf(stderr, "cask viz: %s\n", err);
    rc = 2;
  } else {
    rc = render(&o, &g, err);
  }
  graph_free(&g);
  cJSON_Delete(root);
  free(text);
  free(err);
  return rc;
}
