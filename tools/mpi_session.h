/* mpi_session.h - `cask run` under an MPI launcher (mpirun, srun): MPI
 * started and an executor over MPI_COMM_WORLD made before the job runs,
 * MPI finished after. Without CASK_MPI (or outside a launcher) every call
 * is a no-op and the program runs alone, as always. */
#ifndef CASK_TOOL_MPI_SESSION_H
#define CASK_TOOL_MPI_SESSION_H

#include "cask/cask.h"

/* Whether this process is a rank other than 0 of an MPI launch (mpirun,
 * srun), read from the launcher's environment (OMPI_COMM_WORLD_RANK,
 * PMIX_RANK, PMI_RANK, SLURM_PROCID): the command line is read before MPI
 * starts, and every rank meets the same usage error, which rank 0 alone
 * says (the others exit 2 quietly). */
int mpi_session_other_rank(void);
/* Returns code; first, on a rank other than 0 when code is a usage error
 * met before MPI started, waits 2 s: mpirun ends the job when a rank exits
 * non-zero, and a rank 0 that had not yet said the error (still starting,
 * on a loaded machine) was ended silently. Rank 0's exit ends the wait. */
int mpi_session_usage_exit(int code);
/* Starts MPI when launched by mpirun or srun (OMPI_COMM_WORLD_SIZE,
 * PMI_SIZE or PMIX_RANK in the environment) unless CASK_MPI=0, or when
 * CASK_MPI=1. 0, or an exit code (MPI could not start). */
int mpi_session_start(int *argc, char ***argv);
/* The executor for cask_run_options, or NULL when running alone. */
cask_executor *mpi_session_executor(void);
/* This process's rank (0 alone) and the rank count (1 alone). */
int mpi_session_rank(void);
int mpi_session_ranks(void);
/* Collective: whether every rank's `failed` is 0; when not, *speaker is
 * set to whether this rank is the lowest that failed (it alone prints its
 * message, so an error every rank meets is printed once). Alone: !failed,
 * *speaker = failed. */
int mpi_session_all_ok(int failed, int *speaker);
/* After a run that succeeded: every rank's outputs to rank 0's res
 * (collective); 0 or CASK_E*. */
int mpi_session_gather(cask_results *res);
/* Rank 0: totals over the ranks of the last run, on stderr. */
void mpi_session_summary(void);
/* Finishes MPI; returns code. */
int mpi_session_end(int code);

#endif
