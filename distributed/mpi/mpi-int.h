/* mpi-int.h - what the files of distributed/mpi/ share: one executor, one
 * run's state, the message format and the communication thread.
 *
 * The one thing to know: during a run only the communication thread calls
 * MPI (comm.c); the calling thread calls it before (digest check, the run's
 * communicator) and after (the agreement on success, totals), never at the
 * same time, so MPI_THREAD_SERIALIZED is enough. The comm thread takes no
 * scheduler lock: it hands blocks to the workers through the run's remote
 * queue (scheduler/remote.h) and takes them from the send tasks through its
 * own outbox. */
#ifndef CASK_DIST_MPI_INT_H
#define CASK_DIST_MPI_INT_H

#include <mpi.h>
#include <stdatomic.h>
#include <uv.h>

#include "cask/mpi.h"
#include "../../scheduler/internal.h"

/* What precedes a block's data: its type and shape (the receiver makes
 * the block from it). ndim -1: the producer made no block. */
typedef struct cask__mpi_header {
  int32_t dtype, ndim;
  int64_t nbytes;
  int64_t split; /* the sender's most bytes per data message: the receiver
                    posts its receives from it, so ranks need not agree on
                    CASK_MPI_SPLIT */
  int64_t shape[CASK_MAX_NDIM];
} cask__mpi_header;

/* Message tags: the header of block t is 2 t + 2, its data (one message,
 * or several of at most split bytes, in order) 2 t + 3; 1 stops a run. */
#define CASK__MPI_TAG_ABORT 1
#define CASK__MPI_TAG_HDR(t) (2 * (int)(t) + 2)
#define CASK__MPI_TAG_DATA(t) (2 * (int)(t) + 3)

typedef struct cask__mpi_recv {
  uint32_t gid;   /* the producer's task in the whole graph */
  int src;
  cask__mpi_header hdr;
  cask_block *block;
  int64_t left;   /* data messages still to come */
  uint32_t local; /* its root task in the local graph */
} cask__mpi_recv;

typedef struct cask__mpi_send {
  uint32_t gid;
  const cask_transfer *to; /* destinations: plan sends [to, to + ndest) */
  int ndest;
  cask_block *block;       /* retained from the send task until every message is sent */
  cask__mpi_header *hdr;   /* what MPI_Isend reads: in m->hdrs, kept if a send is leaked */
  int64_t pending;         /* messages not yet complete */
  int leaked;              /* a request MPI may still read from was freed: block and header kept */
} cask__mpi_send;

/* What a request in flight is for. */
enum { REQ_ABORT, REQ_HDR, REQ_DATA, REQ_SEND, REQ_ABORT_SEND };
typedef struct cask__mpi_req {
  int kind;
  uint32_t index;
} cask__mpi_req;

typedef struct cask__mpi_run {
  struct cask__mpi_exec *ex;
  MPI_Comm comm; /* this run's own (duplicated) communicator */
  int rank, nranks;
  cask_runtime *rt;
  cask_graph *full, *local;
  cask_plan *plan;
  uint32_t *to_global; /* local task -> whole graph task (CASK__NO_TASK for sends) */
  uint8_t *held;       /* per local task: a received root */
  cask__remote remote;
  cask__mpi_recv *recvs;
  size_t nrecvs, recvs_done;
  cask__mpi_send *sends; /* one per local producer with remote consumers */
  cask__mpi_header *hdrs; /* the sends' headers (own allocation: leaked, never freed, if a send is) */
  int leaked_sends;       /* some send's request was freed uncompleted (cancel_all) */
  /* one abort message to each other rank, made before the thread starts
   * (telling the others must not need memory: a rank not told waits
   * forever); never cancelled, waited for on the way out */
  MPI_Request *abort_reqs;
  size_t nsends, planned_sends, sends_done; /* sends_done counts (block, destination) */
  int64_t split;         /* most bytes in one data message */
  /* Received blocks not yet handed to their task: at most `budget` bytes
   * (a quarter of the memory limit; at least one block at a time).
   * Headers past it wait in `deferred` (plan order: the producers' static
   * order), their senders' data unmatched until room is made. */
  int64_t budget;
  atomic_int_fast64_t inflight; /* the comm thread adds, recv tasks subtract */
  uint32_t *deferred;
  size_t ndeferred;
  /* the outbox: send records whose block is ready (filled by send tasks,
   * which signal cv: the thread's short waits end early) */
  uv_mutex_t mu;
  uv_cond_t cv;
  uint32_t *outbox;
  size_t nout;
  /* requests in flight; free slots are MPI_REQUEST_NULL */
  MPI_Request *reqs;
  cask__mpi_req *what;
  int nreqs, reqs_cap;
  int *done_idx;
  int abort_flag;          /* the comm thread's: an abort message */
  int abort_in;
  atomic_int local_over;   /* the main thread: the local run returned */
  atomic_int local_failed; /* ... and failed */
  atomic_int aborted;      /* another rank failed: cancel the local run */
  int comm_error;          /* an internal error of the comm thread (message in errmsg) */
  char errmsg[512];
  uint64_t bytes_sent, messages_sent, blocks_sent, recvs_waited;
} cask__mpi_run;

typedef struct cask__mpi_exec {
  cask_executor pub; /* first */
  MPI_Comm comm;
  uint64_t *peaks, *tasks; /* per rank, of the last run */
  cask_mpi_stats st;
} cask__mpi_exec;

/* comm.c: the communication thread of a run */
void cask__mpi_comm_main(void *arg);
/* graph.c: the rank's own graph (its tasks, received roots, send tasks) */
int cask__mpi_local_graph(cask__mpi_run *m);
void cask__mpi_register_ops(void);
/* exec.c */
int cask__mpi_run_graph(cask_executor *pub, cask_runtime *rt, cask_graph *g, const cask_run_options *opts,
                        cask_results **out);

#endif
