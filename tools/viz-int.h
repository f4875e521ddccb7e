/* viz-int.h - what the parts of `cask viz` share: the task graph as read
 * from JSON (viz_graph, tools/viz.c), the picture drawn from it (viz_view,
 * tools/viz_layout.c) and a small string-to-index map.
 * The one thing to know: a view node is a task, or (large graphs) a group
 * of tasks; either way the page gets only the view, never the raw graph, so
 * the HTML stays small whatever the number of tasks. */
#ifndef CASK_TOOL_VIZ_INT_H
#define CASK_TOOL_VIZ_INT_H

#include <stddef.h>
#include <stdint.h>

#define VIZ_NONE UINT32_MAX

/* The task graph. Strings point into the parsed JSON tree, which outlives
 * the graph. deps are task indices in CSR form (dep_off has n + 1 entries). */
typedef struct viz_graph {
  uint32_t n;
  const char **key;
  const char **op;
  uint32_t *dep_off, *dep;
  int64_t *size;          /* -1: not declared */
  int64_t *prio;          /* -1: not in the file */
  unsigned char *output;
} viz_graph;

/* What the page draws. Per node: label (owned), op (index into ops, or
 * VIZ_NONE for a group of several ops), tasks in it, known bytes (-1 none
 * known), first position in the run order, most bytes held while its tasks
 * run (one task at a time, in order), and its layer and position in the
 * layer. Edges carry the number of task edges they stand for. */
typedef struct viz_view {
  uint32_t n;
  char **label;
  uint32_t *op, *count, *layer, *pos;
  int64_t *bytes, *order, *held;
  uint32_t nops;
  const char **ops;
  uint32_t nedges;
  uint32_t *esrc, *edst, *ecount;
  int grouped;            /* 0 tasks, 1 by key prefix, 2 by op */
  int has_prio;           /* order is the file's priorities (else topological) */
  uint32_t ntasks;
  uint64_t ntask_edges;
  int64_t peak;           /* predicted peak bytes */
} viz_view;

/* Open addressing over indices into a caller's array of NUL-terminated
 * names; a lookup key is (s, len), so a prefix of a string can be looked up
 * without copying it. */
typedef struct viz_map {
  uint32_t *slots;        /* index + 1; 0 is empty */
  size_t mask;
} viz_map;

int viz_map_init(viz_map *m, size_t n);
void viz_map_destroy(viz_map *m);
/* The index of (s, len) among names, or VIZ_NONE. */
uint32_t viz_map_find(const viz_map *m, const char *const *names, const char *s, size_t len);
/* Add idx (names[idx] must be the string); returns the index already there
 * for an equal string, else idx. The map holds at most the n it was made for. */
uint32_t viz_map_add(viz_map *m, const char *const *names, uint32_t idx);

/* Build the view: task by task when g->n < max_tasks and !force_group,
 * else by array operation ("<kind>-<token>-..." -> "<kind>-<token>"; other
 * keys lose trailing block indices: "add-3-7" -> "add-3"), and by op
 * when even the prefixes number max_tasks or more. Returns 0, 1 for a cycle
 * (err names a task on it) or -1 for no memory; v is empty after a failure. */
int viz_build_view(const viz_graph *g, uint32_t max_tasks, int force_group, viz_view *v,
                   char *err, size_t errcap);
void viz_view_destroy(viz_view *v);

#endif
