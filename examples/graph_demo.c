/* graph_demo.c - the task-graph API in one page: sum of i*i for i < N,
 * split into blocks, mapped in parallel and reduced as a binary tree.
 * Prints the result next to the closed form, the run statistics, and writes
 * the graph (JSON and DOT) and a trace (open it in https://ui.perfetto.dev).
 * Usage: graph_demo [N] [BLOCK] [OUTDIR] */
#include <cask/cask.h>
#include <cjson/cJSON.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct range_args {
  int64_t start, stop;
} range_args;

/* A block of float64 values start, start+1, ..., stop-1. */
static int range_run(cask_task_io *io) {
  range_args a;
  memcpy(&a, io->args, sizeof a);
  int64_t n = a.stop - a.start;
  int rc = cask_block_new(CASK_F64, 1, &n, &io->output);
  if (rc) return rc;
  double *x = cask_block_data(io->output);
  for (int64_t i = 0; i < n; i++) x[i] = (double)(a.start + i);
  return CASK_OK;
}

/* The arguments as JSON fields, so a written graph reads
 * {"start":0,"stop":100000} instead of hex bytes, and reads back. */
static int range_to_json(const void *args, size_t len, cJSON *obj) {
  range_args a;
  if (len != sizeof a) return CASK_EINVAL;
  memcpy(&a, args, sizeof a);
  if (!cJSON_AddNumberToObject(obj, "start", (double)a.start) ||
      !cJSON_AddNumberToObject(obj, "stop", (double)a.stop))
    return CASK_ENOMEM;
  return CASK_OK;
}

static int range_from_json(const cJSON *obj, void **args, size_t *len, char *err, size_t errcap) {
  const cJSON *start = cJSON_GetObjectItemCaseSensitive(obj, "start");
  const cJSON *stop = cJSON_GetObjectItemCaseSensitive(obj, "stop");
  if (!cJSON_IsNumber(start) || !cJSON_IsNumber(stop) || start->valuedouble > stop->valuedouble) {
    snprintf(err, errcap, "demo.range needs numbers \"start\" <= \"stop\"");
    return CASK_EJSON;
  }
  range_args *a = cask_malloc(sizeof *a);
  if (!a) return CASK_ENOMEM;
  a->start = (int64_t)start->valuedouble;
  a->stop = (int64_t)stop->valuedouble;
  *args = a;
  *len = sizeof *a;
  return CASK_OK;
}

/* Sum of squares of a block, as a scalar block. */
static int sumsq_run(cask_task_io *io) {
  const double *x = cask_block_data(io->inputs[0]);
  int64_t n = cask_block_size(io->inputs[0]);
  double s = 0;
  for (int64_t i = 0; i < n; i++) s += x[i] * x[i];
  int rc = cask_block_new(CASK_F64, 0, NULL, &io->output);
  if (!rc) *(double *)cask_block_data(io->output) = s;
  return rc;
}

/* Sum of scalar inputs. */
static int add_run(cask_task_io *io) {
  double s = 0;
  for (size_t i = 0; i < io->ninputs; i++) s += *(const double *)cask_block_data(io->inputs[i]);
  int rc = cask_block_new(CASK_F64, 0, NULL, &io->output);
  if (!rc) *(double *)cask_block_data(io->output) = s;
  return rc;
}

static int check(int rc, const char *what, const char *msg) {
  if (rc) fprintf(stderr, "graph_demo: %s: %s%s%s\n", what, cask_strerror(rc), msg && *msg ? ": " : "", msg ? msg : "");
  return rc;
}

int main(int argc, char **argv) {
  int64_t n = argc > 1 ? atoll(argv[1]) : 10000000;
  int64_t block = argc > 2 ? atoll(argv[2]) : 100000;
  const char *outdir = argc > 3 ? argv[3] : ".";
  if (n < 1 || block < 1) {
    fprintf(stderr, "usage: graph_demo [N >= 1] [BLOCK >= 1] [OUTDIR]\n");
    return 2;
  }
  const cask_op *range, *sumsq, *add;
  cask_op_register(&(cask_op){.name = "demo.range", .run = range_run, .args_to_json = range_to_json,
                              .args_from_json = range_from_json},
                   &range);
  cask_op_register(&(cask_op){.name = "demo.sumsq", .run = sumsq_run}, &sumsq);
  cask_op_register(&(cask_op){.name = "demo.add", .run = add_run}, &add);

  cask_graph *g;
  if (check(cask_graph_new(&g), "graph", NULL)) return 1;
  int64_t nblocks = (n + block - 1) / block;
  cask_task_id *level = malloc((size_t)nblocks * sizeof *level);
  char key[64];
  for (int64_t b = 0; b < nblocks; b++) {
    range_args a = {b * block, (b + 1) * block < n ? (b + 1) * block : n};
    cask_task_id r;
    snprintf(key, sizeof key, "range-%" PRId64, b);
    cask_graph_add(g, key, range, &a, sizeof a, NULL, 0, &r);
    snprintf(key, sizeof key, "sumsq-%" PRId64, b);
    cask_graph_add(g, key, sumsq, NULL, 0, &r, 1, &level[b]);
  }
  /* Binary-tree reduction: pairs of partial sums until one is left. */
  int depth = 0;
  for (int64_t m = nblocks; m > 1; m = (m + 1) / 2, depth++)
    for (int64_t i = 0; i < m; i += 2) {
      snprintf(key, sizeof key, "add-%d-%" PRId64, depth, i / 2);
      cask_graph_add(g, key, add, NULL, 0, &level[i], i + 1 < m ? 2 : 1, &level[i / 2]);
    }
  cask_task_id total = level[0];
  free(level);
  char total_key[64];
  snprintf(total_key, sizeof total_key, "%s", cask_graph_key(g, total));
  cask_graph_set_output(g, total, 1);
  size_t before = cask_graph_size(g);
  if (check(cask_graph_optimize(g, CASK_OPT_ALL), "optimize", cask_graph_errmsg(g))) return 1;
  printf("graph: %zu tasks, %zu after culling and fusing chains\n", before, cask_graph_size(g));

  char path[4096];
  snprintf(path, sizeof path, "%s/graph_demo.json", outdir);
  if (!check(cask_graph_write_json(g, path), "write json", cask_graph_errmsg(g))) printf("graph written to %s\n", path);
  snprintf(path, sizeof path, "%s/graph_demo.dot", outdir);
  if (!check(cask_graph_write_dot(g, path), "write dot", cask_graph_errmsg(g))) printf("graph written to %s\n", path);

  cask_runtime *rt;
  if (check(cask_runtime_new(NULL, &rt), "runtime", NULL)) return 1;
  cask_results *res;
  snprintf(path, sizeof path, "%s/graph_demo.trace.json", outdir);
  cask_run_options opts = CASK_RUN_OPTIONS_DEFAULTS;
  opts.trace_path = path;
  if (check(cask_run(rt, g, &opts, &res), "run", cask_runtime_errmsg(rt))) return 1;
  double got = *(const double *)cask_block_data(cask_results_get_key(res, total_key));
  /* sum_{i<n} i^2 = (n-1) n (2n-1) / 6, computed exactly in long double. */
  long double ln = (long double)n;
  double want = (double)((ln - 1) * ln * (2 * ln - 1) / 6);
  cask_run_stats st;
  cask_runtime_last_stats(rt, &st);
  printf("sum of i*i for i < %" PRId64 " = %.17g (closed form %.17g, relative error %.1e)\n", n, got, want,
         want ? (got - want) / want : 0.0);
  printf("ran %" PRIu64 " tasks on %d threads in %.3f ms (%" PRIu64 " stolen), peak %" PRIu64 " blocks / %" PRIu64 " bytes held\n",
         st.tasks_run, cask_runtime_threads(rt), st.wall_ns / 1e6, st.steals, st.peak_blocks, st.peak_bytes);
  printf("trace written to %s (open it in Perfetto)\n", path);

  /* The JSON file is a complete description: read it back and run it. */
  snprintf(path, sizeof path, "%s/graph_demo.json", outdir);
  cask_graph *g2;
  char *err = NULL;
  cask_results *res2;
  if (check(cask_graph_read_json(path, &g2, &err), "read json", err)) return 1;
  if (check(cask_run(rt, g2, NULL, &res2), "run of the graph read back", cask_runtime_errmsg(rt))) return 1;
  double again = *(const double *)cask_block_data(cask_results_get_key(res2, total_key));
  printf("graph read back from %s and run again: %.17g (%s)\n", path, again,
         again == got ? "bit-identical" : "DIFFERENT");
  cask_results_free(res2);
  cask_graph_free(g2);
  if (again != got) return 1;
  cask_results_free(res);
  cask_runtime_free(rt);
  cask_graph_free(g);
  /* Partial sums are exact integers below 2^53 for small N; beyond, the
   * tree keeps the rounding error far below this bound. */
  return fabs(got - want) <= 1e-10 * want ? 0 : 1;
}
