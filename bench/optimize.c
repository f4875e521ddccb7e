/* optimize.c - the graph-preparation benchmark: build, validate, cull, fuse
 * and order a graph of 1.5 million tasks shaped like an array workload.
 *
 * The graph: C chunks, each a chain load -> map1 -> map2 (the array's
 * element-wise pipeline); a binary reduction tree over the map2 tails whose
 * root is the one output (x.map(f).map(g).sum()); and D "mean" tasks on the
 * first D loads that no output needs (a result computed but not asked for),
 * so that cull has work. Cull drops the D tasks; fuse then turns each chain
 * into one task (after cull each load has one consumer again); order runs on
 * what is left, 2C - 1 tasks. Each phase is timed on its own, and the counts
 * after cull and fuse are checked so no phase can silently do nothing. */
#include <stdio.h>
#include <string.h>

#include "bench.h"

#define CHUNK_BYTES (8 << 20)

typedef struct chunk_args {
  int64_t index[2]; /* a block position, as an array builder would pass */
} chunk_args;

typedef struct ops {
  const cask_op *load, *map, *sum, *mean;
} ops;

static int noop_run(cask_task_io *io) {
  (void)io;
  return CASK_OK;
}

static const cask_op *op_get(const char *name) {
  const cask_op *op = cask_op_find(name);
  if (op) return op;
  cask_op def = {name, noop_run, NULL, NULL, NULL, 0, 0};
  if (cask_op_register(&def, &op)) bench_die("cask_op_register", name);
  return op;
}

static void ops_init(ops *o) {
  o->load = op_get("bench.load");
  o->map = op_get("bench.map");
  o->sum = op_get("bench.sum");
  o->mean = op_get("bench.mean");
}

static cask_task_id add(cask_graph *g, const char *prefix, uint32_t i, const cask_op *op,
                        const cask_task_id *deps, size_t ndeps, int64_t bytes) {
  char key[48];
  bench_key(key, prefix, i);
  chunk_args a = {{i, 0}};
  cask_task_id id;
  if (cask_graph_add(g, key, op, &a, sizeof a, deps, ndeps, &id) ||
      cask_graph_set_size(g, id, bytes))
    bench_die("cask_graph_add", cask_graph_errmsg(g));
  return id;
}

/* Chunks and dead tasks for a graph of `tasks` tasks: 4C - 1 + D = tasks,
 * with D about tasks / 15. */
static void split(size_t tasks, size_t *c, size_t *d) {
  *c = (tasks - tasks / 15 + 1) / 4;
  *d = tasks + 1 - 4 * *c;
}

static void build(cask_graph *g, const ops *o, size_t tasks, uint32_t *cur) {
  size_t c, d;
  split(tasks, &c, &d);
  if (cask_graph_reserve(g, tasks, 3 * c + d)) bench_die("cask_graph_reserve", "failed");
  for (size_t i = 0; i < c; i++) {
    cask_task_id t = add(g, "load-", (uint32_t)i, o->load, NULL, 0, CHUNK_BYTES);
    t = add(g, "map1-", (uint32_t)i, o->map, &t, 1, CHUNK_BYTES);
    cur[i] = add(g, "map2-", (uint32_t)i, o->map, &t, 1, CHUNK_BYTES);
  }
  for (size_t i = 0; i < d; i++) {
    cask_task_id load = (cask_task_id)(3 * i);
    add(g, "mean-", (uint32_t)i, o->mean, &load, 1, 8);
  }
  uint32_t k = 0;
  for (size_t m = c; m > 1; m = (m + 1) / 2) {
    for (size_t j = 0; j + 1 < m; j += 2) cur[j / 2] = add(g, "sum-", k++, o->sum, &cur[j], 2, 8);
    if (m % 2) cur[m / 2] = cur[m - 1];
  }
  if (cask_graph_set_output(g, cur[0], 1)) bench_die("cask_graph_set_output", "failed");
}

static void check(const char *phase, size_t got, size_t want) {
  if (got == want) return;
  char msg[128];
  snprintf(msg, sizeof msg, "%zu tasks after %s, expected %zu", got, phase, want);
  bench_die("optimize", msg);
}

static uint64_t timed(int (*pass)(cask_graph *), cask_graph *g, const char *name) {
  uint64_t t0 = bench_now_ns();
  if (pass(g)) bench_die(name, cask_graph_errmsg(g));
  return bench_now_ns() - t0;
}

void bench_optimize(cask_graph *g, size_t tasks, bench_opt_times *t) {
  static ops o;
  if (!o.load) ops_init(&o);
  size_t c, d;
  split(tasks, &c, &d);
  bench_scratch cur;
  bench_scratch_init(&cur, 2 * c);
  if (cask_graph_clear(g)) bench_die("cask_graph_clear", "failed");
  memset(t, 0, sizeof *t);
  uint64_t faults = bench_page_faults();
  uint64_t t0 = bench_now_ns();
  build(g, &o, tasks, cur.ids);
  t->build = bench_now_ns() - t0;
  t->tasks = cask_graph_size(g);
  check("build", t->tasks, tasks);
  t->validate = timed(cask_graph_validate, g, "cask_graph_validate");
  t->cull = timed(cask_graph_cull, g, "cask_graph_cull");
  t->after_cull = cask_graph_size(g);
  check("cull", t->after_cull, tasks - d);
  t->fuse = timed(cask_graph_fuse, g, "cask_graph_fuse");
  t->after_fuse = cask_graph_size(g);
  check("fuse", t->after_fuse, 2 * c - 1);
  t->order = timed(cask_graph_order, g, "cask_graph_order");
  for (size_t i = 0; i < t->after_fuse; i++)
    if (cask_graph_priority(g, (cask_task_id)i) >= t->after_fuse) bench_die("order", "a task has no priority");
  t->total = t->build + t->validate + t->cull + t->fuse + t->order;
  t->faults = bench_page_faults() - faults;
  bench_scratch_destroy(&cur);
}
