/* smoke.c - proves the MPI toolchain works with cask (tests/mpi_check.sh
 * runs it under `mpirun -np K`): every rank builds the same array job's
 * graph in its own process, the ranks agree on its digest (MPI_Allreduce of
 * the digest's min and max), and the plans each rank makes alone fit
 * together: the tasks of all ranks add up to the graph's, and the bytes
 * all ranks send add up to those they receive. Exit 0 on agreement. */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>

#include "cask/cask.h"
#include "cask/distributed.h"

/* The job's graph: a row-block elementwise step and a sum. No scalar
 * operand (x * 3): array kernels with one carry a byte of stack garbage in
 * their arguments (collections/array/kernel/kernel.c, .b of a unary
 * instruction), so their digest differs between processes; reported. */
static int build(cask_ctx **ctx, cask_graph **g) {
  cask_array *x = NULL, *y = NULL, *s = NULL;
  const int64_t shape[2] = {1200, 300}, chunks[2] = {100, 100};
  int rc = cask_ctx_new(NULL, ctx);
  if (!rc) rc = cask_random_uniform(*ctx, 11, CASK_F64, 2, shape, chunks, &x);
  if (!rc) rc = cask_eval(*ctx, "sqrt(x) * x + x", (const char *[]){"x"}, &x, 1, &y);
  if (!rc) rc = cask_eval(*ctx, "sum(y, axis=0)", (const char *[]){"y"}, &y, 1, &s);
  if (!rc) rc = cask_array_graph(s, g);
  cask_array_release(x);
  cask_array_release(y);
  cask_array_release(s);
  return rc;
}

int main(int argc, char **argv) {
  int rank, nranks, bad = 0;
  MPI_Init(&argc, &argv);
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &nranks);
  cask_ctx *ctx = NULL;
  cask_graph *g = NULL;
  cask_plan *p = NULL;
  if (build(&ctx, &g) || cask_plan_new(g, nranks, rank, &p)) {
    fprintf(stderr, "rank %d: building or planning failed: %s\n", rank, g ? cask_graph_errmsg(g) : cask_ctx_errmsg(ctx));
    MPI_Abort(MPI_COMM_WORLD, 1);
  }
  cask_plan_stats st;
  cask_plan_get_stats(p, &st);
  unsigned long long d = st.digest, lo, hi;
  MPI_Allreduce(&d, &lo, 1, MPI_UNSIGNED_LONG_LONG, MPI_MIN, MPI_COMM_WORLD);
  MPI_Allreduce(&d, &hi, 1, MPI_UNSIGNED_LONG_LONG, MPI_MAX, MPI_COMM_WORLD);
  long long mine[3] = {(long long)st.nlocal, st.bytes_sent, st.bytes_received}, all[3];
  MPI_Allreduce(mine, all, 3, MPI_LONG_LONG, MPI_SUM, MPI_COMM_WORLD);
  if (lo != hi) bad = fprintf(stderr, "rank %d: digests differ across ranks (%016llx..%016llx)\n", rank, lo, hi);
  if (all[0] != (long long)st.ntasks)
    bad = fprintf(stderr, "rank %d: ranks run %lld tasks of %zu\n", rank, all[0], st.ntasks);
  if (all[1] != all[2]) bad = fprintf(stderr, "rank %d: %lld bytes sent, %lld received\n", rank, all[1], all[2]);
  if (!bad && rank == 0)
    printf("mpi smoke: %d ranks agree on digest %016llx; %zu tasks; %lld bytes move\n", nranks, d, st.ntasks, all[1]);
  cask_plan_free(p);
  cask_graph_free(g);
  cask_ctx_free(ctx);
  MPI_Finalize();
  return bad ? 1 : 0;
}
