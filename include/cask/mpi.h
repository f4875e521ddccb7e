/* mpi.h - running a graph on the ranks of an MPI communicator
 * (docs/distributed.md). Include it only with MPI: it includes <mpi.h>;
 * programs without MPI never see it. Built when cask is configured with
 * CASK_MPI (on where an MPI C library is found).
 *
 * Owner-computes: every rank builds the same graph, plans its part
 * (cask_plan_new: the tasks it owns, the blocks it sends and receives) and
 * runs its tasks on its own runtime's workers; a communication thread
 * sends each block another rank needs once per (block, rank) as soon as it
 * is made, and receives the blocks this rank needs. Results are the same
 * bits for any rank count: reduction trees are fixed by block indices.
 *
 * MPI must be initialized with at least MPI_THREAD_SERIALIZED: during a
 * run cask's communication thread and its workers call MPI, one at a time
 * (under one lock), the calling thread before and after it; the program
 * must make no MPI call of its own on other threads while a run lasts. */
#ifndef CASK_MPI_H
#define CASK_MPI_H

#include <mpi.h>
#include <stdint.h>

#include "cask/export.h"
#include "cask/scheduler.h"

#ifdef __cplusplus
extern "C" {
#endif

/* An executor (cask_executor, scheduler.h) over the ranks of comm (the
 * communicator is duplicated: cask's messages never mix with the
 * caller's). Put it in cask_run_options.executor: cask_run and cask_store
 * then run across the ranks, every rank calling them alike.
 * Errors: CASK_EINVAL (MPI not initialized, or with a thread level below
 * MPI_THREAD_SERIALIZED; cask_create_errmsg says which), CASK_ENOMEM. */
CASK_API int cask_mpi_executor_new(MPI_Comm comm, cask_executor **out);
CASK_API void cask_mpi_executor_free(cask_executor *ex);

/* For a program that exits right after a canceled run (`cask run` on a
 * signal). With on set, a run canceled by cask_runtime_cancel waits at
 * most 20 ms for the other ranks to agree on its outcome (a killed rank
 * never does; mpirun kills the others soon after) and then returns
 * CASK_ECANCELED with the executor spent: every later run and collective
 * of it fails at once, and the program must make no more MPI calls, not
 * even MPI_Finalize (the agreement it left pending could release other
 * ranks into a collective it will not join). Off by default: a canceled
 * run waits for every rank. */
CASK_API void cask_mpi_executor_set_give_up(cask_executor *ex, int on);

/* Totals of the executor's last run over every rank (the same on all). */
typedef struct cask_mpi_stats {
  int nranks;
  uint64_t tasks_run;      /* ops run by all ranks */
  uint64_t blocks_sent;    /* (block, destination) pairs sent by all ranks */
  uint64_t planned_sends;  /* what the plans said: equal to blocks_sent */
  uint64_t bytes_sent;     /* block bytes sent (headers not counted) */
  uint64_t messages_sent;  /* data messages (blocks over the split limit are several) */
  uint64_t spilled_bytes;  /* written to spill files by all ranks */
  uint64_t recvs_waited;   /* received blocks that waited for room (blocks received
                              but not yet taken stay within a quarter of the memory
                              limit, and everything held within the limit) */
  uint64_t peak_bytes_max; /* the largest of the ranks' peaks */
  const uint64_t *peak_bytes; /* each rank's peak bytes: blocks held, received and not
                                 yet taken, and being sent (nranks entries; valid
                                 until the next run or free) */
  const uint64_t *rank_tasks; /* each rank's tasks run */
  const uint32_t *recv_order; /* this rank's received blocks (their producers' ids in
                                 the run's graph) in the order their data receives
                                 were posted (the receiver's priority decides it) */
  size_t nrecv_order;
  int parts;                  /* 1: each rank built only its part of the graph (an
                                 array job on one grid of blocks: docs/distributed.md,
                                 "Planning in parts"); 0: every rank the whole graph */
} cask_mpi_stats;
CASK_API void cask_mpi_last_stats(const cask_executor *ex, cask_mpi_stats *out);

/* Bring every rank's outputs to rank root (collective, after a run on ex
 * that succeeded): root's res then holds every output of the graph, the
 * others' res none. For printing small outputs (`cask run GRAPH.json`);
 * cask_store fills buffers on every rank without it.
 * Errors: CASK_ENOMEM, CASK_EIO (MPI failed). */
CASK_API int cask_mpi_gather_results(cask_executor *ex, cask_results *res, int root);

/* Shorthand: run g once across the ranks of comm (an executor made and
 * freed around cask_run). */
CASK_API int cask_run_mpi(cask_runtime *rt, cask_graph *g, MPI_Comm comm, const cask_run_options *opts,
                          cask_results **out);

#ifdef __cplusplus
}
#endif
#endif
