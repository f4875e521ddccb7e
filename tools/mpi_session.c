/* mpi_session.c - `cask run` on MPI ranks (mpi_session.h). Built with
 * MPI when cask is (CASK_MPI); else, at the end, the one-process session
 * (rank 0 of 1, no executor; CASK_MPI=1 refused with a message). */
#include "mpi_session.h"
#include "run.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <errno.h>
#include <time.h>

int mpi_session_other_rank(void) {
  static const char *vars[] = {"OMPI_COMM_WORLD_RANK", "PMIX_RANK", "PMI_RANK", "SLURM_PROCID"};
  for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++) {
    const char *v = getenv(vars[i]);
    if (v && *v) return strcmp(v, "0") != 0;
  }
  return 0;
}

int mpi_session_usage_exit(int code) {
  if (code == EXIT_USAGE && mpi_session_other_rank()) {
    struct timespec t = {2, 0};
    while (nanosleep(&t, &t) && errno == EINTR) {
    }
  }
  return code;
}

/* CASK_MPI: 1 (or true, yes, on) forces MPI, 0 (false, no, off) runs
 * alone, unset or empty decides by the launcher's variables; -1 (with a
 * message) for anything else: "CASK_MPI=false" once meant MPI on. */
static int forced(void) {
  static const char *const on[] = {"1", "true", "yes", "on"}, *const off[] = {"0", "false", "no", "off"};
  const char *v = getenv("CASK_MPI");
  if (!v || !*v) return 2;
  for (int i = 0; i < 4; i++) {
    if (!strcasecmp(v, on[i])) return 1;
    if (!strcasecmp(v, off[i])) return 0;
  }
  if (!mpi_session_other_rank()) /* every rank meets it: rank 0 says it */
    fprintf(stderr, "cask: CASK_MPI='%s' is not one of 1, 0, true, false, yes, no, on, off\n", v);
  return -1;
}

#ifdef CASK_TOOL_MPI
#include "cask/mpi.h"

static cask_executor *ex;
static int started;

int mpi_session_start(int *argc, char ***argv) {
  int force = forced();
  if (force < 0) return EXIT_USAGE;
  if (force == 2) force = getenv("OMPI_COMM_WORLD_SIZE") || getenv("PMI_SIZE") || getenv("PMIX_RANK");
  if (!force) return 0;
  int level = 0;
  /* SERIALIZED: during a run cask's threads call MPI one at a time, this
   * thread before and after it (include/cask/mpi.h) */
  if (MPI_Init_thread(argc, argv, MPI_THREAD_SERIALIZED, &level) != MPI_SUCCESS) {
    fprintf(stderr, "cask: MPI_Init_thread failed\n");
    return 2;
  }
  started = 1;
  if (cask_mpi_executor_new(MPI_COMM_WORLD, &ex)) {
    fprintf(stderr, "cask: %s\n", cask_create_errmsg());
    MPI_Finalize();
    started = 0;
    return 2;
  }
  /* interrupted, cask exits right after: its outputs' temporaries must go
   * before mpirun's SIGKILL (mpi_session_end skips MPI_Finalize then) */
  cask_mpi_executor_set_give_up(ex, 1);
  return 0;
}

cask_executor *mpi_session_executor(void) { return ex; }
int mpi_session_rank(void) { return ex ? ex->rank : 0; }
int mpi_session_ranks(void) { return ex ? ex->nranks : 1; }

static void fmt_bytes(char *buf, size_t cap, uint64_t b) {
  if (b >= (1ull << 30)) snprintf(buf, cap, "%.2f GiB", (double)b / (1ull << 30));
  else if (b >= (1ull << 20)) snprintf(buf, cap, "%.1f MiB", (double)b / (1ull << 20));
  else if (b >= 1024) snprintf(buf, cap, "%.1f KiB", (double)b / 1024);
  else snprintf(buf, cap, "%llu B", (unsigned long long)b);
}

void mpi_session_summary(void) {
  if (!ex || ex->rank != 0) return;
  cask_mpi_stats st;
  cask_mpi_last_stats(ex, &st);
  char sent[32], spilled[32], peak[32];
  fmt_bytes(sent, sizeof sent, st.bytes_sent);
  fmt_bytes(spilled, sizeof spilled, st.spilled_bytes);
  fprintf(stderr,
          "cask: %d ranks (%s): %llu tasks, sent %llu blocks of %llu planned (%s in %llu messages), %llu received "
          "blocks waited for room, spilled %s; per rank:",
          st.nranks, st.parts ? "each built its part of the graph" : "each built the whole graph", (unsigned long long)st.tasks_run, (unsigned long long)st.blocks_sent,
          (unsigned long long)st.planned_sends, sent, (unsigned long long)st.messages_sent,
          (unsigned long long)st.recvs_waited, spilled);
  for (int r = 0; r < st.nranks && r < 64; r++) {
    fmt_bytes(peak, sizeof peak, st.peak_bytes[r]);
    fprintf(stderr, " %d: %llu tasks, peak %s%s", r, (unsigned long long)st.rank_tasks[r], peak,
            r + 1 < st.nranks ? ";" : "");
  }
  fprintf(stderr, "%s\n", st.nranks > 64 ? " ..." : "");
}

int mpi_session_gather(cask_results *res) {
  return ex && ex->nranks > 1 ? cask_mpi_gather_results(ex, res, 0) : 0;
}

int mpi_session_all_ok(int failed, int *speaker) {
  *speaker = failed;
  if (!ex || ex->nranks < 2) return !failed;
  int mine = failed ? ex->rank : ex->nranks, lowest = mine;
  MPI_Allreduce(&mine, &lowest, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
  *speaker = failed && lowest == ex->rank;
  return lowest == ex->nranks;
}

int mpi_session_end(int code) {
  if (!started) return code;
  cask_mpi_executor_free(ex);
  ex = NULL;
  /* Interrupted (a signal: mpirun sends SIGTERM to every rank when one
   * died): the run's last agreement may have been left unfinished by a
   * dead rank (distributed/mpi/exec.c), and MPI_Finalize would wait for it
   * until mpirun's SIGKILL. The outputs' temporaries are gone by now. */
  if (code != EXIT_INTERRUPTED) MPI_Finalize();
  return code;
}

#else

int mpi_session_start(int *argc, char ***argv) {
  (void)argc, (void)argv;
  int force = forced();
  if (force < 0) return EXIT_USAGE;
  if (force == 1) {
    fprintf(stderr, "cask: CASK_MPI=%s but this cask was built without MPI (configure with CASK_MPI=ON)\n",
            getenv("CASK_MPI"));
    return EXIT_USAGE;
  }
  return 0;
}
cask_executor *mpi_session_executor(void) { return NULL; }
int mpi_session_rank(void) { return 0; }
int mpi_session_ranks(void) { return 1; }
void mpi_session_summary(void) {}
int mpi_session_gather(cask_results *res) {
  (void)res;
  return 0;
}
int mpi_session_all_ok(int failed, int *speaker) {
  *speaker = failed;
  return !failed;
}
int mpi_session_end(int code) { return code; }

#endif
