/* many.c - many tiny blocks received by one rank (tests/mpi_check.sh runs
 * it under `mpirun -np K`, K = 1, 2, 3): N one-value blocks made on rank 1
 * (a RANK hint; rank 0 when K = 1), each read by a task of rank 0, which
 * sums them in a tree of fan-in 16. A receive per block posted at the start
 * made MPI's matching of arrived messages linear in the receives posted:
 * 20k receives took 18 s. Checked: the sum has the bits of a local run,
 * rank 0 received N blocks and rank 1 sent N (each once). Exit 0 when all
 * hold. argv[1] or CASK_TEST_MANY_N sets N (bench/timing by hand). */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
  int n = env && atoi(env) > 0 ? atoi(env) : 20000;
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
