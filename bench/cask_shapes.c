/* cask_shapes.c - the four overhead shapes as cask graphs of "cask.noop"
 * tasks, built the way a user would (explicit keys "t<i>", dependencies by
 * id), run, and checked.
 *
 * The timed span is graph build + cask_run (which validates and orders) +
 * cask_results_free: everything between "I have a workload" and "it ran".
 * Fusion is deliberately not applied: a chain of no-ops fuses into one task
 * and would measure nothing. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"

#define KEY_CAP 32

void bench_scratch_init(bench_scratch *s, size_t n) {
  s->cap = n / 2 + 1;
  s->ids = bench_xmalloc(s->cap * sizeof *s->ids);
  memset(s->ids, 0, s->cap * sizeof *s->ids); /* fault it in before timing */
}

void bench_scratch_destroy(bench_scratch *s) {
  free(s->ids);
  s->ids = NULL;
  s->cap = 0;
}

static cask_task_id add(cask_graph *g, const cask_op *op, uint32_t i,
                        const cask_task_id *deps, size_t ndeps) {
  char key[KEY_CAP];
  cask_task_id id;
  bench_key(key, "t", i);
  int rc = cask_graph_add(g, key, op, NULL, 0, deps, ndeps, &id);
  if (rc) bench_die("cask_graph_add", cask_graph_errmsg(g));
  return id;
}

static void mark_output(cask_graph *g, cask_task_id id) {
  if (cask_graph_set_output(g, id, 1)) bench_die("cask_graph_set_output", "failed");
}

static void build_independent(cask_graph *g, const cask_op *op, size_t n) {
  for (size_t i = 0; i < n; i++) add(g, op, (uint32_t)i, NULL, 0);
  /* no output marked: every task is a sink and counts as one */
}

static void build_chain(cask_graph *g, const cask_op *op, size_t n) {
  cask_task_id prev = add(g, op, 0, NULL, 0);
  for (size_t i = 1; i < n; i++) prev = add(g, op, (uint32_t)i, &prev, 1);
  mark_output(g, prev);
}

/* Leaves first, then each level pairs its neighbours; an odd one out moves
 * up a level unchanged. */
static void build_tree(cask_graph *g, const cask_op *op, size_t n, uint32_t *cur) {
  size_t m = n / 2;
  uint32_t next = 0;
  for (size_t i = 0; i < m; i++) cur[i] = add(g, op, next++, NULL, 0);
  while (m > 1) {
    for (size_t j = 0; j + 1 < m; j += 2) cur[j / 2] = add(g, op, next++, &cur[j], 2);
    if (m % 2) cur[m / 2] = cur[m - 1];
    m = (m + 1) / 2;
  }
  mark_output(g, cur[0]);
}

/* Row-major; cell (i,j) has id i*side+j because ids are given in order. */
static void build_wavefront(cask_graph *g, const cask_op *op, size_t n) {
  size_t side = bench_isqrt(n);
  for (size_t i = 0; i < side; i++)
    for (size_t j = 0; j < side; j++) {
      cask_task_id deps[2];
      size_t nd = 0;
      if (i) deps[nd++] = (cask_task_id)((i - 1) * side + j);
      if (j) deps[nd++] = (cask_task_id)(i * side + j - 1);
      add(g, op, (uint32_t)(i * side + j), deps, nd);
    }
  mark_output(g, (cask_task_id)(side * side - 1));
}

static void build(cask_graph *g, bench_shape s, size_t n, bench_scratch *scratch) {
  static const cask_op *noop;
  if (!noop && !(noop = cask_op_find("cask.noop"))) bench_die("cask_op_find", "no cask.noop");
  if (cask_graph_reserve(g, bench_shape_tasks(s, n), bench_shape_edges(s, n)))
    bench_die("cask_graph_reserve", "failed");
  switch (s) {
  case SHAPE_INDEPENDENT:
    build_independent(g, noop, n);
    break;
  case SHAPE_CHAIN:
    build_chain(g, noop, n);
    break;
  case SHAPE_TREE:
    build_tree(g, noop, n, scratch->ids);
    break;
  default:
    build_wavefront(g, noop, n);
    break;
  }
}

uint64_t bench_cask_shape(cask_runtime *rt, cask_graph *g, bench_shape s, size_t n,
                          bench_scratch *scratch, uint64_t *build_ns) {
  cask_results *res;
  uint64_t t0 = bench_now_ns();
  build(g, s, n, scratch);
  *build_ns = bench_now_ns() - t0;
  int rc = cask_run(rt, g, NULL, &res);
  if (rc) bench_die("cask_run", cask_runtime_errmsg(rt));
  cask_results_free(res);
  uint64_t t1 = bench_now_ns();
  cask_run_stats st;
  cask_runtime_last_stats(rt, &st);
  size_t want = bench_shape_tasks(s, n);
  if (cask_graph_size(g) != want || st.tasks_run != want) {
    char msg[160];
    snprintf(msg, sizeof msg, "%s: built %zu tasks and ran %llu, expected %zu", bench_shape_name(s),
             cask_graph_size(g), (unsigned long long)st.tasks_run, want);
    bench_die("check", msg);
  }
  return t1 - t0;
}
