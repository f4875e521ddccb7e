/* mpi_metg.c - per-task overhead across MPI ranks in the style of Task
 * Bench's METG (the minimum effective task granularity: the smallest task
 * length at which 50 % efficiency holds), cask's MPI executor beside a
 * hand-written MPI stencil of the same shape, in the same run.
 *
 *   mpirun -np K cask-mpi-metg [WIDTH_PER_RANK STEPS]
 *
 * The graph is Task Bench's stencil: W = K x WIDTH_PER_RANK columns, STEPS
 * rows; task (t, i) reads (t-1, i-1), (t-1, i), (t-1, i+1) and spins for
 * the task length g (a calibrated loop), making 8 bytes. cask: the graph
 * built on every rank and run with cask_run_mpi, one worker per rank (its
 * communication thread beside it). Hand-written: each rank owns a run of
 * columns, exchanges its edge values with its neighbours each step
 * (MPI_Isend/Irecv of 8 bytes) and runs its tasks. Efficiency =
 * (W x STEPS x g / K) / wall; g goes 1000, 300, 100, 30, 10, 6, 3, 2, 1,
 * 0.5, 0.3, 0.1, 0.05 us; METG
 * is the smallest g with efficiency >= 0.5. Rank 0 prints a table on
 * stderr and a JSON line per system on stdout. */
#include <math.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cask/cask.h"
#include "cask/mpi.h"

static volatile double sink;
static double iters_per_us;

static double spin(long iters, double seed) {
  double x = seed;
  for (long i = 0; i < iters; i++) x = x * 1.0000001 + 1e-9;
  return x;
}

/* Iterations per microsecond: the best of 5 on each rank, the slowest
 * rank's (its tasks are the long ones). */
static void calibrate(MPI_Comm comm) {
  long n = 1000000;
  double dt = 1e9;
  for (int r = 0; r < 5; r++) {
    double t0 = MPI_Wtime();
    sink = spin(n, 1.0);
    double d = MPI_Wtime() - t0;
    if (d < dt) dt = d;
  }
  double rate = (double)n / (dt * 1e6), best;
  MPI_Allreduce(&rate, &best, 1, MPI_DOUBLE, MPI_MIN, comm);
  iters_per_us = best;
}

typedef struct kargs {
  int64_t iters;
  int64_t id;
} kargs;

static int kernel_run(cask_task_io *io) {
  kargs a;
  memcpy(&a, io->args, sizeof a);
  double s = (double)a.id;
  for (size_t k = 0; k < io->ninputs; k++) s += *(const double *)cask_block_data(io->inputs[k]);
  cask_block *b;
  if (cask_block_new(CASK_F64, 0, NULL, &b)) return CASK_ENOMEM;
  *(double *)cask_block_data(b) = spin(a.iters, s * 1e-9);
  io->output = b;
  return CASK_OK;
}

static const cask_op *op_kernel;

static cask_graph *stencil(int w, int steps, long iters) {
  cask_graph *g;
  cask_graph_new(&g);
  cask_graph_reserve(g, (size_t)w * (size_t)steps, (size_t)w * (size_t)steps * 3);
  for (int t = 0; t < steps; t++)
    for (int i = 0; i < w; i++) {
      cask_task_id deps[3], id;
      int nd = 0;
      if (t > 0)
        for (int d = -1; d <= 1; d++)
          if (i + d >= 0 && i + d < w) deps[nd++] = (cask_task_id)((t - 1) * w + i + d);
      kargs a = {iters, (int64_t)t * w + i};
      cask_graph_add(g, NULL, op_kernel, &a, sizeof a, deps, (size_t)nd, &id);
      cask_graph_set_size(g, id, 8);
      if (t == steps - 1) cask_graph_set_output(g, id, 1);
    }
  return g;
}

static double run_cask(cask_runtime *rt, int w, int steps, long iters) {
  cask_graph *g = stencil(w, steps, iters);
  cask_graph_validate(g);
  cask_graph_order(g);
  cask_results *res = NULL;
  MPI_Barrier(MPI_COMM_WORLD);
  double t0 = MPI_Wtime();
  /* CASK_METG_TRACE=FILE: a trace of the runs (the last one written
   * stays: the smallest grain), to see where a hop's time goes */
  cask_run_options o = CASK_RUN_OPTIONS_DEFAULTS;
  o.trace_path = getenv("CASK_METG_TRACE");
  int rc = cask_run_mpi(rt, g, MPI_COMM_WORLD, &o, &res);
  double dt = MPI_Wtime() - t0, worst;
  if (rc) fprintf(stderr, "cask-mpi-metg: %s\n", cask_runtime_errmsg(rt));
  MPI_Allreduce(&dt, &worst, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
  cask_results_free(res);
  cask_graph_free(g);
  return worst;
}

/* The same stencil by hand: columns [lo, hi) here, edges from the neighbours. */
static double run_hand(int w, int steps, long iters, int rank, int k) {
  int per = w / k, lo = rank * per, hi = lo + per, n = hi - lo;
  double *cur = calloc((size_t)n + 2, sizeof *cur), *next = calloc((size_t)n + 2, sizeof *next);
  MPI_Barrier(MPI_COMM_WORLD);
  double t0 = MPI_Wtime();
  for (int t = 0; t < steps; t++) {
    MPI_Request rq[4];
    int nr = 0;
    if (t > 0 && rank > 0) {
      MPI_Irecv(&cur[0], 1, MPI_DOUBLE, rank - 1, t, MPI_COMM_WORLD, &rq[nr++]);
      MPI_Isend(&cur[1], 1, MPI_DOUBLE, rank - 1, t, MPI_COMM_WORLD, &rq[nr++]);
    }
    if (t > 0 && rank < k - 1) {
      MPI_Irecv(&cur[n + 1], 1, MPI_DOUBLE, rank + 1, t, MPI_COMM_WORLD, &rq[nr++]);
      MPI_Isend(&cur[n], 1, MPI_DOUBLE, rank + 1, t, MPI_COMM_WORLD, &rq[nr++]);
    }
    MPI_Waitall(nr, rq, MPI_STATUSES_IGNORE);
    for (int i = 1; i <= n; i++) {
      double s = (double)((int64_t)t * w + lo + i - 1);
      if (t > 0) s += cur[i - 1] + cur[i] + cur[i + 1];
      next[i] = spin(iters, s * 1e-9);
    }
    double *tmp = cur;
    cur = next, next = tmp;
  }
  double dt = MPI_Wtime() - t0, worst;
  MPI_Allreduce(&dt, &worst, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
  sink = cur[1];
  free(cur);
  free(next);
  return worst;
}

int main(int argc, char **argv) {
  int level, rank, k;
  MPI_Init_thread(&argc, &argv, MPI_THREAD_SERIALIZED, &level);
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &k);
  int wper = argc > 1 ? atoi(argv[1]) : 4, steps = argc > 2 ? atoi(argv[2]) : 50, w = wper * k;
  cask_op_register(&(cask_op){.name = "metg.kernel", .run = kernel_run, .args_size = sizeof(kargs)}, &op_kernel);
  cask_runtime *rt;
  cask_runtime_options ro = {1, CASK_MEMORY_UNLIMITED, NULL, 0};
  cask_runtime_new(&ro, &rt);
  calibrate(MPI_COMM_WORLD);
  /* 6 us and 2 us down to 0.05 us: between and below the old grid's last
   * points, whose floor (3 us) the hand-written stencil reached with room
   * to spare (0.9-1.0; it holds 0.6-0.7 at 0.1 us): a METG ratio needs
   * both ends measured */
  static const double grains[] = {1000, 300, 100, 30, 10, 6, 3, 2, 1, 0.5, 0.3, 0.1, 0.05};
  double metg[2] = {NAN, NAN};
  if (!rank)
    fprintf(stderr, "\nMETG (Task Bench style): stencil %d x %d on %d ranks, 1 worker each\n%8s %12s %12s %10s %10s\n", w,
            steps, k, "g us", "cask s", "MPI s", "cask eff", "MPI eff");
  /* CASK_METG_GRAIN=G: that task length alone (with CASK_METG_TRACE, a
   * trace of it) */
  const char *only = getenv("CASK_METG_GRAIN");
  for (size_t i = 0; i < sizeof grains / sizeof grains[0]; i++) {
    if (only && atof(only) != grains[i]) continue;
    long iters = (long)(grains[i] * iters_per_us);
    double ideal = (double)w * steps * grains[i] * 1e-6 / k;
    double tc = run_cask(rt, w, steps, iters), th = run_hand(w, steps, iters, rank, k);
    double ec = ideal / tc, eh = ideal / th;
    /* sweeping down: METG is the last g before efficiency first drops below 50 % */
    if (ec >= 0.5 && (i == 0 || metg[0] == grains[i - 1])) metg[0] = grains[i];
    if (eh >= 0.5 && (i == 0 || metg[1] == grains[i - 1])) metg[1] = grains[i];
    if (!rank) {
      fprintf(stderr, "%8g %12.6f %12.6f %10.2f %10.2f\n", grains[i], tc, th, ec, eh);
      printf("{\"bench\":\"mpi_metg\",\"ranks\":%d,\"grain_us\":%g,\"cask_s\":%.6f,\"mpi_s\":%.6f,"
             "\"cask_eff\":%.3f,\"mpi_eff\":%.3f}\n", k, grains[i], tc, th, ec, eh);
    }
  }
  if (!rank) {
    fprintf(stderr, "METG: cask %g us, hand-written MPI %g us (smallest g at 50%% efficiency; nan: none)\n", metg[0],
            metg[1]);
    printf("{\"bench\":\"mpi_metg_summary\",\"ranks\":%d,\"cask_metg_us\":%g,\"mpi_metg_us\":%g}\n", k, metg[0], metg[1]);
  }
  cask_runtime_free(rt);
  MPI_Finalize();
  return 0;
}
