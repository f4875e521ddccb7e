/* mpi-int.h - what the files of distributed/mpi/ share: one executor, one
 * run's state, the message format and the communication thread.
 *
 * The one thing to know: during a run MPI is called only under the run's
 * poll_mu: by the communication thread (comm.c), and by workers polling
 * between tasks and while idle (cask__mpi_progress, a trylock: a worker
 * never waits for it); the calling thread calls MPI before (digest check,
 * the run's communicator) and after (the agreement on success, totals),
 * never at the same time, so MPI_THREAD_SERIALIZED is enough. Whoever
 * polls takes no scheduler lock: blocks go to the workers through the run's
 * remote queue (scheduler/remote.h) and come from the send tasks through
 * the outbox. */
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
  uint64_t wire; /* the hash of the block's task key: headers share one
                    tag (below), so the receiver learns which block it is;
                    the key, not a task id, since ranks that built only
                    their parts of a graph number tasks differently */
  int64_t shape[CASK_MAX_NDIM];
} cask__mpi_header;

/* Message tags: every header is 2, on the run's header communicator (a
 * source's headers fill the receiver's receives for it in the order they
 * come: comm.c), the data of a block (one message, or several of at most
 * split bytes, in order) 2 t + 3, t its place among the blocks the pair
 * of ranks exchanges in that direction, ordered by wire (both sides list
 * the same blocks: graph.c); 1 stops a run. */
#define CASK__MPI_TAG_ABORT 1
#define CASK__MPI_TAG_HDR 2
#define CASK__MPI_TAG_DATA(t) (2 * (int)(t) + 3)

/* Header receives tested per poll and source (comm.c, poll_headers). */
#define CASK__MPI_HDR_WINDOW 32

/* One header receive: where it lands and from whom. */
typedef struct cask__mpi_hdr_slot {
  cask__mpi_header hdr;
  int src;
} cask__mpi_hdr_slot;

typedef struct cask__mpi_wire {
  uint64_t wire;
  uint32_t index;
} cask__mpi_wire;

typedef struct cask__mpi_recv {
  uint32_t gid;   /* the producer's task in the rank's graph (whole, or its part with ghosts) */
  uint64_t wire;  /* its key's hash */
  int tag;        /* its data's tag */
  uint32_t prio;  /* the receiver's priority: its root's in the rank's graph (0 first) */
  int src;
  cask__mpi_header hdr;
  cask_block *block;
  int64_t left;   /* data messages still to come */
  uint32_t local; /* its root task in the local graph */
  int waited;     /* its data waited for room (counted once) */
  int got_hdr;    /* its header came (a second one is refused) */
  int leaked;     /* its data receive was freed uncompleted (comm.c, cancel_all): block kept */
  uint64_t t_start; /* header arrived (the trace) */
} cask__mpi_recv;

typedef struct cask__mpi_send {
  uint32_t gid;
  uint64_t wire;
  const cask_transfer *to; /* destinations: plan sends [to, to + ndest) */
  const int *tags;         /* ... the data's tag for each */
  int ndest;
  cask_block *block;       /* retained from the send task until every message is sent */
  cask__mpi_header *hdr;   /* what MPI_Isend reads: in m->hdrs, kept if a send is leaked */
  int64_t pending;         /* messages not yet complete */
  int64_t *dpending;       /* ... per destination (the trace's events), or NULL */
  uint64_t t_start;        /* when its first message was posted */
  int leaked;              /* a request MPI may still read from was freed: block and header kept */
} cask__mpi_send;

/* What a request in flight is for. */
enum { REQ_ABORT, REQ_DATA, REQ_SEND, REQ_ABORT_SEND };
typedef struct cask__mpi_req {
  int kind;
  uint32_t index;
  int dest; /* REQ_SEND: which of the send's destinations */
} cask__mpi_req;

/* What the comm thread did, for the trace (--trace): a block sent to a
 * rank (first message posted to last complete) or received from one
 * (header arrived to data complete: any wait for room included). */
typedef struct cask__mpi_event {
  uint64_t start_ns, end_ns;
  uint32_t gid;
  int peer;
  int recv;
  int64_t bytes;
} cask__mpi_event;

typedef struct cask__mpi_run {
  struct cask__mpi_exec *ex;
  MPI_Comm comm;  /* this run's own (duplicated) communicator: data and aborts */
  MPI_Comm hcomm; /* ... and one for headers (comm.c) */
  int rank, nranks;
  cask_runtime *rt;
  cask_graph *full, *local;
  cask_plan *plan;
  uint32_t *to_global; /* local task -> whole graph task (CASK__NO_TASK for sends) */
  uint8_t *held;       /* per local task: a received root */
  cask__remote remote;
  cask__mpi_recv *recvs;
  size_t nrecvs, recvs_done;
  cask__mpi_wire *recv_by_wire; /* (wire, index into recvs), sorted: a header's block */
  int *send_tags;               /* per plan send: its data's tag */
  int most_tag;                 /* the largest data tag (graph.c) */
  cask__mpi_hdr_slot *hslots; /* the header receives (comm.c), by source: hoff[r] .. hoff[r + 1] */
  MPI_Request *hreqs;         /* ... their requests (plain malloc, as reqs) */
  size_t nhslots;
  size_t *hoff, *hcur;        /* per source: its first slot; how many of its slots completed in order */
  cask__mpi_send *sends; /* one per local producer with remote consumers */
  cask__mpi_header *hdrs; /* the sends' headers (own allocation: leaked, never freed, if a send is) */
  int leaked_sends;       /* some send's request was freed uncompleted (cancel_all) */
  /* one abort message to each other rank, made before the thread starts
   * (telling the others must not need memory: a rank not told waits
   * forever); never cancelled, waited for on the way out */
  MPI_Request *abort_reqs;
  size_t nsends, planned_sends, sends_done; /* sends_done counts (block, destination) */
  int64_t split;         /* most bytes in one data message */
  /* The receive budget. A header that arrived waits in `deferred` until
   * its data may be received; then the one of best receiver priority
   * (recvs[i].prio) goes first, while received blocks not yet taken by
   * their task (remote.untaken) stay within `budget` (a quarter of the memory
   * limit) and the run's used bytes (remote.h: blocks held, reserved,
   * received, being sent) plus the block stay within the limit. When
   * nothing received is untaken one block always comes (else a rank
   * whose memory waits for a block would wait for ever). */
  int64_t budget;
  uint32_t *deferred;
  size_t ndeferred;
  size_t headers_in;
  int hold_recvs; /* CASK_MPI_RECV_HOLD=1 (tests): no data until every header is in */
  uint32_t *recv_order; /* gids in the order their data receives were posted (nrecv_order) */
  size_t nrecv_order;
  cask__mpi_event *events; /* the comm thread's, when tracing (NULL: not) */
  size_t nevents, events_cap;
  int tracing;
  /* Held by whoever calls MPI or touches the requests, receives, sends,
   * events and counters of the thread (comm.c); taken before mu. */
  uv_mutex_t poll_mu;
  atomic_uint_fast64_t moved_at; /* when a worker's poll last moved something (ns) */
  /* when a worker last polled everything (ns; 0: it parked since): the
   * thread then waits longer between its own polls (comm.c) */
  atomic_uint_fast64_t worker_polled_at;
  /* the outbox: send records whose block is ready (filled by send tasks,
   * which signal cv: the thread's short waits end early) */
  uv_mutex_t mu;
  uv_cond_t cv;
  int room_freed; /* under mu: memory was freed while a receive waited for room */
  int parked;     /* under mu: a worker stopped polling (cask__mpi_parking) */
  int stop;       /* under mu: the calling thread ended the run (cask__mpi_comm_end) */
  int ended;      /* under poll_mu: the run's requests are all done or cancelled; no MPI call after */
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
  uint32_t *recv_order;    /* this rank's, of the last run */
  cask_mpi_stats st;
  /* A collective was left unfinished (a canceled run's agreement that a
   * rank never joined: exec.c): no MPI call on ex->comm may follow, so
   * every later run and collective of this executor fails at once. */
  int broken;
  int give_up; /* cask_mpi_executor_set_give_up */
} cask__mpi_exec;

/* comm.c: the receives a run posts before anything else (the abort's and
 * every header's; a failure sets comm_error), by the calling thread before
 * the communication thread starts: posted by that thread, the first block
 * to arrive waited for its start (a new thread on a busy core: 110 us for
 * the first hop of bench/mpi_metg.c, 5-10 once running) */
void cask__mpi_comm_start(cask__mpi_run *m);
/* comm.c: the communication thread of a run */
void cask__mpi_comm_main(void *arg);
/* comm.c: the local run is over (the calling thread; its workers have
 * left it): if the thread is not polling, poll once and, when every
 * planned send and receive completed and nothing failed, end the run's
 * communication here (1): the thread then exits without another MPI call,
 * so the caller may go on to the agreement and join it later. Waking the
 * thread to do it cost its wake-up (23-31 us per run on 2 busy cores),
 * on the way to the agreement every rank waits in. 0: the thread ends it
 * (join it first). */
int cask__mpi_comm_end(cask__mpi_run *m);
/* remote.h's progress: one poll of the run's messages by a worker, unless
 * another thread polls (arg: the run) */
int cask__mpi_progress(void *arg);
/* remote.h's on_room: wakes the comm thread (arg: the run) */
void cask__mpi_room_freed(void *arg);
/* remote.h's parking: a worker stops polling; wakes the comm thread */
void cask__mpi_parking(void *arg);
/* graph.c: the rank's own graph (its tasks, received roots, send tasks) */
int cask__mpi_local_graph(cask__mpi_run *m);
void cask__mpi_register_ops(void);
/* trace.c: every rank's events to rank 0, which writes them to path
 * (collective; rank 0's outcome returned on every rank) */
int cask__mpi_write_trace(cask__mpi_run *m, const char *path, uint64_t base, char *msg, size_t cap);
/* exec.c */
int cask__mpi_run_graph(cask_executor *pub, cask_runtime *rt, cask_graph *g, const cask_run_options *opts,
                        cask_results **out);

#endif
