/* json_write.c - a validated graph as JSON text, one task per line:
 *   {"cask_graph":1,"ntasks":N,"tasks":[
 *   {"key":..,"op":..,"args":{..},"deps":[..],"output":true,"size":B,"priority":P,
 *    "place":[kind,i,j,ni,nj]},
 *   ...]}
 * "output", "size", "priority" and "place" appear only when set (an output,
 * a known size, an ordered graph, a placement hint). json_read.c reads it back.
 * The one thing to know: the text is built by hand in one growable buffer,
 * not as a cJSON tree of the whole graph (tens of millions of small
 * allocations at a million tasks); only each task's "args" goes through
 * cJSON, because ops write their arguments as cJSON fields. Strings are
 * escaped as cJSON escapes them, so the two kinds of text read the same. */
#include <cjson/cJSON.h>
#include <limits.h>
#include <stdio.h>

#include "graph-int.h"

/* A growable text buffer with a sticky error: after a failure every append
 * is a no-op and the first error code is kept. */
typedef struct jbuf {
  char *p;
  size_t len, cap;
  int rc;
} jbuf;

static int reserve(jbuf *b, size_t extra) {
  if (b->rc) return b->rc;
  if (extra > SIZE_MAX - b->len - 1) return b->rc = CASK_ETOOBIG;
  return b->rc = cask__grow((void **)&b->p, &b->cap, b->len + extra + 1, 1);
}

static void put(jbuf *b, const char *s, size_t n) {
  if (reserve(b, n)) return;
  memcpy(b->p + b->len, s, n);
  b->len += n;
  b->p[b->len] = '\0';
}

static void puts_lit(jbuf *b, const char *s) { put(b, s, strlen(s)); }

static void put_i64(jbuf *b, int64_t v) {
  char tmp[24];
  int n = snprintf(tmp, sizeof tmp, "%lld", (long long)v);
  put(b, tmp, (size_t)n);
}

/* A JSON string with cJSON's escapes: quote, backslash, \b \f \n \r \t,
 * other bytes below 0x20 as \u00xx; everything else (UTF-8 included) as
 * is. Runs of plain bytes are copied in one go. */
static void put_str(jbuf *b, const char *s) {
  static const char hex[] = "0123456789abcdef";
  put(b, "\"", 1);
  const unsigned char *p = (const unsigned char *)s, *run = p;
  for (; *p; p++) {
    if (*p >= 0x20 && *p != '"' && *p != '\\') continue;
    put(b, (const char *)run, (size_t)(p - run));
    run = p + 1;
    char esc[7] = {'\\', 0, 0, 0, 0, 0, 0};
    size_t n = 2;
    switch (*p) {
    case '"': esc[1] = '"'; break;
    case '\\': esc[1] = '\\'; break;
    case '\b': esc[1] = 'b'; break;
    case '\f': esc[1] = 'f'; break;
    case '\n': esc[1] = 'n'; break;
    case '\r': esc[1] = 'r'; break;
    case '\t': esc[1] = 't'; break;
    default:
      memcpy(esc + 1, "u00", 3);
      esc[4] = hex[*p >> 4];
      esc[5] = hex[*p & 15];
      n = 6;
    }
    put(b, esc, n);
  }
  put(b, (const char *)run, (size_t)(p - run));
  put(b, "\"", 1);
}

/* The task's "args" object, printed by cJSON straight into the buffer. The
 * first guess at its length is usually right; cJSON asks for 5 bytes more
 * than it needs (cJSON.h, cJSON_PrintPreallocated). */
static int put_args(jbuf *b, const cask_graph *g, uint32_t i) {
  const cask__task *t = &g->tasks[i];
  cJSON *obj = cJSON_CreateObject();
  if (!obj) return b->rc = CASK_ENOMEM;
  int rc = cask__args_to_json(t->op, cask__args(g, i), t->args_len, obj);
  size_t want = 64 + 2 * (size_t)t->args_len;
  while (!rc && !(rc = reserve(b, want + 5))) {
    size_t room = b->cap - b->len < INT_MAX ? b->cap - b->len : INT_MAX;
    if (cJSON_PrintPreallocated(obj, b->p + b->len, (int)room, 0)) {
      b->len += strlen(b->p + b->len);
      break;
    }
    if (room == INT_MAX) rc = b->rc = CASK_ETOOBIG;
    want = 2 * room;
  }
  cJSON_Delete(obj);
  return rc;
}

static void put_deps(jbuf *b, const cask_graph *g, uint32_t i) {
  const cask__task *t = &g->tasks[i];
  puts_lit(b, ",\"deps\":[");
  for (uint32_t k = 0; k < t->ndeps; k++) {
    if (k) put(b, ",", 1);
    put_str(b, cask__key(g, g->dep_idx[t->deps_off + k]));
  }
  put(b, "]", 1);
}

static int put_task(jbuf *b, cask_graph *g, uint32_t i) {
  const cask__task *t = &g->tasks[i];
  /* A ghost (graph-int.h) read back would be a task of its own with only
   * the edges one rank knows, planned as if it were real: refuse rather
   * than write it or drop the mark. Partial graphs are not for files. */
  if (t->flags & CASK__TASK_GHOST) {
    cask__fmt(g->errmsg, sizeof g->errmsg,
              "task %u '%s' is a ghost of another rank's task (a rank's partial graph): such a graph is not "
              "written as JSON", (unsigned)i, cask__key(g, i));
    return b->rc = CASK_ENOTSERIAL;
  }
  puts_lit(b, "{\"key\":");
  put_str(b, cask__key(g, i));
  puts_lit(b, ",\"op\":");
  put_str(b, t->op->name);
  puts_lit(b, ",\"args\":");
  int rc = put_args(b, g, i);
  if (rc) {
    cask__fmt(g->errmsg, sizeof g->errmsg,
              "task %u '%s': the arguments of op '%s' cannot be written as JSON: %s",
              (unsigned)i, cask__key(g, i), t->op->name, cask_strerror(rc));
    return b->rc = rc;
  }
  put_deps(b, g, i);
  if (t->flags & CASK__TASK_OUTPUT) puts_lit(b, ",\"output\":true");
  if (t->size >= 0) {
    puts_lit(b, ",\"size\":");
    put_i64(b, t->size);
  }
  if (g->prio) {
    puts_lit(b, ",\"priority\":");
    put_i64(b, g->prio[i]);
  }
  if (t->place_kind) {
    puts_lit(b, ",\"place\":[");
    put_i64(b, t->place_kind);
    for (int k = 0; k < 4; k++) {
      put(b, ",", 1);
      put_i64(b, t->place[k]);
    }
    put(b, "]", 1);
  }
  put(b, "}", 1);
  return b->rc;
}

int cask_graph_to_json(cask_graph *g, char **out, size_t *len) {
  if (!g || !out) return CASK_EINVAL;
  *out = NULL;
  int rc = cask_graph_validate(g);
  if (rc) return rc;
  g->errmsg[0] = '\0'; /* so a message put_task leaves is not overwritten */
  jbuf b = {0};
  puts_lit(&b, "{\"cask_graph\":1,\"ntasks\":");
  put_i64(&b, (int64_t)g->ntasks);
  puts_lit(&b, ",\"tasks\":[\n");
  for (uint32_t i = 0; i < g->ntasks && !b.rc; i++) {
    if (put_task(&b, g, i)) break;
    puts_lit(&b, i + 1 < g->ntasks ? ",\n" : "\n");
  }
  puts_lit(&b, "]}\n");
  if (b.rc) {
    if (!g->errmsg[0])
      cask__fmt(g->errmsg, sizeof g->errmsg, "writing JSON: %s", cask_strerror(b.rc));
    cask__free(b.p);
    return b.rc;
  }
  *out = b.p;
  if (len) *len = b.len;
  return CASK_OK;
}

int cask_graph_write_json(cask_graph *g, const char *path) {
  if (!g || !path) return CASK_EINVAL;
  char *text;
  size_t len;
  int rc = cask_graph_to_json(g, &text, &len);
  if (rc) return rc;
  rc = cask__write_file_atomic(path, text, len, g->errmsg, sizeof g->errmsg);
  cask__free(text);
  return rc;
}
