/* trace.c - one Chrome trace of a run on K ranks (--trace, trace_path):
 * each rank turns its events into text (its workers' tasks and spill I/O,
 * and its communication thread's sends and receives), with the rank as
 * the process ("pid", so Perfetto shows one group of rows per rank), and
 * rank 0 gathers the texts after the run and writes one file (temporary
 * name, then rename).
 *
 * Why gathered and not one file per rank merged later: the outputs of a
 * run need no shared directory but for the files they name, and a trace
 * should not either (per-rank files on node-local disks cannot be merged
 * by rank 0); one writer also keeps the file whole or absent, as the
 * other outputs are. The cost is the events' text crossing to rank 0 once,
 * after the run (about 100 bytes per task). Times are microseconds from a
 * moment the ranks share: right after the collective that starts the run
 * (its skew between ranks is that of an MPI_Allreduce, microseconds). */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>

#include "mpi-int.h"

#define TRACE_TAG 7

typedef struct text {
  char *p;
  size_t len, cap;
  int oom;
} text;

static void put_n(text *t, const char *s, size_t n) {
  if (t->oom || cask__grow((void **)&t->p, &t->cap, t->len + n + 1, 1)) {
    t->oom = 1;
    return;
  }
  memcpy(t->p + t->len, s, n);
  t->len += n;
  t->p[t->len] = '\0';
}

static void put(text *t, const char *s) { put_n(t, s, strlen(s)); }

/* This rank's events: a process name, the scheduler's events, the comm
 * thread's (one "send" per block and destination, one "recv" per block:
 * args block, peer, bytes). */
static void rank_events(cask__mpi_run *m, uint64_t base, text *t) {
  char num[256];
  int tid = m->rt->nworkers + 1;
  snprintf(num, sizeof num,
           ",\n{\"name\":\"process_name\",\"ph\":\"M\",\"pid\":%d,\"args\":{\"name\":\"rank %d\"}}"
           ",\n{\"name\":\"process_sort_index\",\"ph\":\"M\",\"pid\":%d,\"args\":{\"sort_index\":%d}}"
           ",\n{\"name\":\"thread_name\",\"ph\":\"M\",\"pid\":%d,\"tid\":%d,\"args\":{\"name\":\"MPI comm\"}}",
           m->rank, m->rank, m->rank, m->rank, m->rank, tid);
  put(t, num);
  char *ev = NULL;
  size_t n = 0;
  if (cask__trace_events(m->rt, m->local, m->rank, base, &ev, &n)) t->oom = 1;
  else put_n(t, ev, n); /* not NUL-terminated */
  cask__free(ev);
  for (size_t k = 0; k < m->nevents && !t->oom; k++) {
    const cask__mpi_event *e = &m->events[k];
    snprintf(num, sizeof num,
             ",\n{\"name\":\"%s\",\"cat\":\"mpi\",\"ph\":\"X\",\"pid\":%d,\"tid\":%d,\"ts\":%.3f,\"dur\":%.3f,"
             "\"args\":{\"peer\":%d,\"bytes\":%lld,\"block\":",
             e->recv ? "recv" : "send", m->rank, tid, ((double)e->start_ns - (double)base) / 1e3,
             (double)(e->end_ns - e->start_ns) / 1e3, e->peer, (long long)e->bytes);
    put(t, num);
    cask__trace_json_string(&t->p, &t->len, &t->cap, cask__key(m->full, e->gid), &t->oom);
    put(t, "}}"); /* (terminates the text again) */
  }
}

static int xfer(char *p, int64_t n, int peer, MPI_Comm comm, int sending) {
  for (int64_t off = 0; off < n; off += INT_MAX / 2) {
    int len = (int)(n - off < INT_MAX / 2 ? n - off : INT_MAX / 2);
    int rc = sending ? MPI_Send(p + off, len, MPI_BYTE, peer, TRACE_TAG, comm)
                     : MPI_Recv(p + off, len, MPI_BYTE, peer, TRACE_TAG, comm, MPI_STATUS_IGNORE);
    if (rc != MPI_SUCCESS) return CASK_EIO;
  }
  return CASK_OK;
}

/* Rank 0 learns the total size (and any rank out of memory) first, takes
 * all the memory it needs, and tells every rank whether to send: no rank
 * sends what rank 0 cannot take (a receive of less than was sent is
 * MPI_ERR_TRUNCATE, which ends the job), and no rank waits in a send rank 0
 * never receives. Without room the trace is not written and the run says
 * why; the job goes on. CASK_MPI_TRACE_NOMEM=1 (tests) makes rank 0's
 * allocation fail. */
int cask__mpi_write_trace(cask__mpi_run *m, const char *path, uint64_t base, char *msg, size_t cap) {
  if (!path) path = "";
  MPI_Comm comm = m->ex->comm;
  text t = {0};
  rank_events(m, base, &t);
  int64_t len = t.oom ? -1 : (int64_t)t.len, total = 0, *lens = NULL;
  int rc = CASK_OK, root = m->rank == 0;
  /* the sum of the sizes, and the lowest rank out of memory */
  int64_t mine = len > 0 ? len : 0;
  int oom_rank = len < 0 ? m->rank : INT_MAX, first_oom = INT_MAX;
  MPI_Reduce(&mine, &total, 1, MPI_INT64_T, MPI_SUM, 0, comm);
  MPI_Reduce(&oom_rank, &first_oom, 1, MPI_INT, MPI_MIN, 0, comm);
  text all = {0};
  int go = 1;
  if (root) {
    const char *nomem = getenv("CASK_MPI_TRACE_NOMEM");
    int fake = nomem && !strcmp(nomem, "1");
    size_t want = (size_t)total + 64;
    if (first_oom != INT_MAX) {
      rc = CASK_ENOMEM, cask__fmt(msg, cap, "%s: rank %d ran out of memory making its trace: no trace written", path, first_oom);
    } else if (fake || !(lens = cask__malloc((size_t)m->nranks * sizeof *lens)) ||
               cask__grow((void **)&all.p, &all.cap, want, 1)) {
      rc = CASK_ENOMEM;
      cask__fmt(msg, cap, "%s: rank 0 is out of memory for the trace (%lld bytes from %d ranks): no trace written", path,
                (long long)want, m->nranks);
    }
    go = rc == CASK_OK;
  }
  MPI_Bcast(&go, 1, MPI_INT, 0, comm);
  if (go) {
    MPI_Gather(&len, 1, MPI_INT64_T, lens, 1, MPI_INT64_T, 0, comm);
    if (!root) {
      if (len > 0) rc = xfer(t.p, len, 0, comm, 1);
    } else {
      put(&all, "{\"displayTimeUnit\":\"ns\",\"traceEvents\":[\n");
      put(&all, t.len > 2 ? t.p + 2 : ""); /* the first event without its ",\n" */
      for (int r = 1; r < m->nranks; r++) {
        if (lens[r] <= 0) continue;
        /* the room was taken above: no allocation between the gather and
         * the receives */
        CASK__ASSERT(all.len + (size_t)lens[r] < all.cap);
        if (xfer(all.p + all.len, lens[r], r, comm, 0) && !rc)
          rc = CASK_EIO, cask__fmt(msg, cap, "%s: receiving rank %d's trace failed", path, r);
        all.len += (size_t)lens[r];
        all.p[all.len] = '\0';
      }
      put(&all, "\n]}\n");
      if (!rc && all.oom) rc = CASK_ENOMEM, cask__fmt(msg, cap, "%s: out of memory building the trace", path);
      if (!rc && *path) rc = cask__write_file_atomic(path, all.p, all.len, msg, cap);
    }
  }
  cask__free(all.p);
  cask__free(lens);
  cask__free(t.p);
  /* every rank returns rank 0's outcome */
  int code = rc;
  MPI_Bcast(&code, 1, MPI_INT, 0, comm);
  if (code) {
    char buf[512];
    cask__fmt(buf, sizeof buf, "%s", root ? msg : "");
    MPI_Bcast(buf, sizeof buf, MPI_CHAR, 0, comm);
    buf[sizeof buf - 1] = '\0';
    cask__fmt(msg, cap, "%s", buf);
  }
  return code;
}
