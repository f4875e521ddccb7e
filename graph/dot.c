/* dot.c - a validated graph as Graphviz DOT, for looking at it:
 *   digraph cask {
 *     t0 [label="load-0\nmy.load"];
 *     t1 [label="sum\nmy.sum", peripheries=2];
 *     t0 -> t1;
 *   }
 * Nodes are named by task index (t0, t1, ...) so keys never need to be DOT
 * identifiers; the key and op name appear only inside quoted labels, where
 * quote and backslash are escaped and a newline becomes "\n". Outputs get a
 * double border. The file is written whole to a temporary name, then
 * renamed, like the JSON. */
#include <stdio.h>

#include "graph-int.h"

typedef struct dbuf {
  char *p;
  size_t len, cap;
  int rc; /* sticky: after a failure every append is a no-op */
} dbuf;

static void put(dbuf *b, const char *s, size_t n) {
  if (b->rc) return;
  if (n > SIZE_MAX - b->len - 1) {
    b->rc = CASK_ETOOBIG;
    return;
  }
  if ((b->rc = cask__grow((void **)&b->p, &b->cap, b->len + n + 1, 1))) return;
  memcpy(b->p + b->len, s, n);
  b->len += n;
  b->p[b->len] = '\0';
}

static void put_lit(dbuf *b, const char *s) { put(b, s, strlen(s)); }

/* "t<index>": the node name of task i. */
static void put_node_name(dbuf *b, uint32_t i) {
  char tmp[16];
  int n = snprintf(tmp, sizeof tmp, "t%u", (unsigned)i);
  put(b, tmp, (size_t)n);
}

/* Label text: the DOT escapes for '"' and '\\'; a newline or carriage
 * return as the "\n" line break; other control bytes as a space, since
 * Graphviz has no escape for them. */
static void put_label_text(dbuf *b, const char *s) {
  const char *run = s;
  for (; *s; s++) {
    unsigned char c = (unsigned char)*s;
    const char *esc = c == '"' ? "\\\"" : c == '\\' ? "\\\\" : c == '\n' || c == '\r' ? "\\n"
                    : c < 0x20 ? " " : NULL;
    if (!esc) continue;
    put(b, run, (size_t)(s - run));
    put(b, esc, strlen(esc));
    run = s + 1;
  }
  put(b, run, (size_t)(s - run));
}

static void put_node(dbuf *b, const cask_graph *g, uint32_t i) {
  put_lit(b, "  ");
  put_node_name(b, i);
  put_lit(b, " [label=\"");
  put_label_text(b, cask__key(g, i));
  put_lit(b, "\\n");
  put_label_text(b, g->tasks[i].op->name);
  put_lit(b, "\"");
  if (g->tasks[i].flags & CASK__TASK_OUTPUT) put_lit(b, ", peripheries=2");
  put_lit(b, "];\n");
}

int cask_graph_write_dot(cask_graph *g, const char *path) {
  if (!g || !path) return CASK_EINVAL;
  int rc = cask_graph_validate(g);
  if (rc) return rc;
  dbuf b = {0};
  put_lit(&b, "digraph cask {\n");
  for (uint32_t i = 0; i < g->ntasks; i++) put_node(&b, g, i);
  for (uint32_t i = 0; i < g->ntasks; i++) {
    const cask__task *t = &g->tasks[i];
    for (uint32_t k = 0; k < t->ndeps; k++) {
      put_lit(&b, "  ");
      put_node_name(&b, g->dep_idx[t->deps_off + k]);
      put_lit(&b, " -> ");
      put_node_name(&b, i);
      put_lit(&b, ";\n");
    }
  }
  put_lit(&b, "}\n");
  rc = b.rc;
  if (rc)
    cask__fmt(g->errmsg, sizeof g->errmsg, "%s: writing DOT: %s", path, cask_strerror(rc));
  else
    rc = cask__write_file_atomic(path, b.p, b.len, g->errmsg, sizeof g->errmsg);
  cask__free(b.p);
  return rc;
}
