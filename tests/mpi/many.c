/* many.c - many tiny blocks received by one rank, and traces (tests/
 * mpi_check.sh runs it under `mpirun -np K`, K = 1, 2, 3): N one-value
 * blocks made on rank 1 (a RANK hint; rank 0 when K = 1), each read by a
 * task of rank 0, which sums them in a tree of fan-in 16. With a header
 * receive per block and tag on the data's communicator, MPI's matching was
 * linear in the receives left: 20k blocks took 11 s. Checked: the sum has
 * the bits of a local run, rank 0 received N blocks and rank 1 sent N
 * (each once). Then traces of a smaller run (1000 blocks: rank 1's text
 * passes 64 KiB): a trace_path on the other ranks alone is ignored (run
 * OK, no file); rank 0 out of memory for the trace (CASK_MPI_TRACE_NOMEM=1)
 * fails every rank with CASK_ENOMEM and "no trace written", no file, no
 * abort; rank 0's path alone writes one file holding every rank. Exit 0
 * when all hold. argv[1] sets N (timing by hand: the run's time is
 * printed; 10000 by default, small enough for sanitizer builds). */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cask/cask.h"
#include "cask/mpi.h"

#include "node_op.h"

static const cask_op *op_node;

static cask_task_id add(cask_graph *g, const char *key, int64_t seed, const cask_task_id *deps, size_t nd, int rank) {
  int64_t a[2] = {seed, 1};
  cask_task_id id;
  cask_graph_add(g, key, op_node, a, sizeof a, deps, nd, &id);
  cask_graph_set_size(g, id, 8);
  cask_graph_set_place(g, id, &(cask_place_hint){.kind = CASK_PLACE_RANK, .i = (uint32_t)rank});
  return id;
}

static cask_graph *build(int n, cask_task_id *sum);

static int file_size(const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f) return -1;
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fclose(f);
  return (int)n;
}

/* The trace checks (above); 0 when they hold. */
static int traces(cask_runtime *rt, int rank, int nranks) {
  cask_task_id sum;
  cask_graph *g = build(1000, &sum);
  char dir[256] = "/tmp/cask-mpi-many-XXXXXX", path[300];
  if (rank == 0 && !mkdtemp(dir)) dir[0] = '\0';
  MPI_Bcast(dir, sizeof dir, MPI_CHAR, 0, MPI_COMM_WORLD);
  snprintf(path, sizeof path, "%s/t.json", dir);
  cask_executor *ex;
  cask_mpi_executor_new(MPI_COMM_WORLD, &ex);
  cask_run_options o = CASK_RUN_OPTIONS_DEFAULTS;
  o.executor = ex;
  cask_results *res = NULL;
  int bad = !dir[0] && fprintf(stderr, "rank %d: no temporary directory\n", rank);
  /* 1. the other ranks ask, rank 0 does not: ignored */
  o.trace_path = rank == 0 ? NULL : path;
  int rc = cask_run(rt, g, &o, &res);
  if (rc) bad = fprintf(stderr, "rank %d: trace on the other ranks: %s\n", rank, cask_runtime_errmsg(rt));
  if (rank == 0 && file_size(path) >= 0) bad = fprintf(stderr, "rank 0: a trace asked by other ranks was written\n");
  cask_results_free(res), res = NULL;
  /* 2. rank 0 out of memory for the trace: every rank fails with its message */
  o.trace_path = rank == 0 ? path : NULL;
  setenv("CASK_MPI_TRACE_NOMEM", "1", 1);
  rc = cask_run(rt, g, &o, &res);
  unsetenv("CASK_MPI_TRACE_NOMEM");
  if (rc != CASK_ENOMEM || !strstr(cask_runtime_errmsg(rt), "no trace written"))
    bad = fprintf(stderr, "rank %d: rank 0 out of memory for the trace: %d (%s)\n", rank, rc, cask_runtime_errmsg(rt));
  if (res) bad = fprintf(stderr, "rank %d: results from a failed run\n", rank);
  if (rank == 0 && file_size(path) >= 0) bad = fprintf(stderr, "rank 0: a trace out of memory was written\n");
  cask_results_free(res), res = NULL;
  /* 3. rank 0's path: one file, every rank in it */
  rc = cask_run(rt, g, &o, &res);
  if (rc) bad = fprintf(stderr, "rank %d: trace: %s\n", rank, cask_runtime_errmsg(rt));
  if (rank == 0) {
    int n = file_size(path);
    char *text = n > 0 ? calloc(1, (size_t)n + 1) : NULL;
    FILE *f = text ? fopen(path, "rb") : NULL;
    if (!f || fread(text, 1, (size_t)n, f) != (size_t)n) bad = fprintf(stderr, "rank 0: no trace at %s\n", path);
    for (int r = 0; f && r < nranks; r++) {
      char want[64];
      snprintf(want, sizeof want, "\"args\":{\"name\":\"rank %d\"}", r);
      if (!strstr(text, want)) bad = fprintf(stderr, "rank 0: the trace lacks rank %d\n", r);
    }
    if (f) fclose(f);
    free(text);
    if (nranks > 1 && n < 65536) bad = fprintf(stderr, "rank 0: a trace of %d bytes: the test wants over 64 KiB\n", n);
    remove(path);
    rmdir(dir);
  }
  cask_results_free(res);
  cask_mpi_executor_free(ex);
  cask_graph_free(g);
  return bad != 0;
}

static cask_graph *build(int n, cask_task_id *sum) {
  cask_graph *g;
  cask_graph_new(&g);
  char key[64];
  cask_task_id *level = malloc((size_t)n * sizeof *level);
  for (int i = 0; i < n; i++) {
    snprintf(key, sizeof key, "y-%d", i);
    cask_task_id y = add(g, key, 1000 + i, NULL, 0, 1);
    snprintf(key, sizeof key, "x-%d", i);
    level[i] = add(g, key, 7, &y, 1, 0); /* read on rank 0 */
  }
  for (int m = n, depth = 0; m > 1; depth++) {
    int k = 0;
    for (int i = 0; i < m; i += 16, k++) {
      int nd = m - i < 16 ? m - i : 16;
      snprintf(key, sizeof key, "s-%d-%d", depth, k);
      level[k] = add(g, key, 3, &level[i], (size_t)nd, 0);
    }
    m = k;
  }
  *sum = level[0];
  cask_graph_set_output(g, *sum, 1);
  free(level);
  return g;
}

int main(int argc, char **argv) {
  int level, rank, nranks, bad = 0;
  MPI_Init_thread(&argc, &argv, MPI_THREAD_SERIALIZED, &level);
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &nranks);
  const char *env = argc > 1 ? argv[1] : getenv("CASK_TEST_MANY_N");
  int n = env && atoi(env) > 0 ? atoi(env) : 10000; /* small for CI under sanitizers */
  cask_op_register(&(cask_op){.name = "test.node", .run = node_run, .args_size = 16}, &op_node);
  cask_task_id sum;
  cask_graph *g = build(n, &sum);
  cask_runtime *rt;
  cask_runtime_options ro = {1, CASK_MEMORY_UNLIMITED, NULL, 0};
  cask_runtime_new(&ro, &rt);
  cask_results *local = NULL, *dist = NULL;
  if (cask_run(rt, g, NULL, &local)) bad = fprintf(stderr, "rank %d: local run: %s\n", rank, cask_runtime_errmsg(rt));
  cask_executor *ex;
  cask_mpi_executor_new(MPI_COMM_WORLD, &ex);
  cask_run_options o = CASK_RUN_OPTIONS_DEFAULTS;
  o.executor = ex;
  double t0 = MPI_Wtime();
  if (cask_run(rt, g, &o, &dist)) bad = fprintf(stderr, "rank %d: %s\n", rank, cask_runtime_errmsg(rt));
  double t1 = MPI_Wtime();
  cask_mpi_stats st;
  cask_mpi_last_stats(ex, &st);
  if (!bad && rank == 0) {
    const cask_block *a = cask_results_get(local, sum), *b = cask_results_get(dist, sum);
    if (!a || !b || memcmp(cask_block_data(a), cask_block_data(b), 8))
      bad = fprintf(stderr, "rank 0: the sum differs from the local run\n");
  }
  uint64_t want = nranks > 1 ? (uint64_t)n : 0;
  if (!bad && (st.blocks_sent != want || st.planned_sends != want))
    bad = fprintf(stderr, "rank %d: %llu blocks sent (%llu planned), want %llu\n", rank,
                  (unsigned long long)st.blocks_sent, (unsigned long long)st.planned_sends, (unsigned long long)want);
  if (!bad && rank == 0 && nranks > 1 && st.nrecv_order != (size_t)n)
    bad = fprintf(stderr, "rank 0: received %zu blocks, want %d\n", st.nrecv_order, n);
  if (argc <= 1) bad |= traces(rt, rank, nranks);
  int any;
  MPI_Allreduce(&bad, &any, 1, MPI_INT, MPI_LOR, MPI_COMM_WORLD);
  if (!any && rank == 0)
    printf("mpi many: %d ranks: %d blocks to rank 0 in %.2f s, the sum as the local run\n", nranks, n, t1 - t0);
  cask_mpi_executor_free(ex);
  cask_results_free(local);
  cask_results_free(dist);
  cask_graph_free(g);
  cask_runtime_free(rt);
  MPI_Finalize();
  return any;
}
