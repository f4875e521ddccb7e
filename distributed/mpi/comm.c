/* comm.c - the communication thread of one rank's run: a header receive
 * is posted for every block the plan says this rank receives, on the run's
 * header communicator (and one for an abort from any rank), by the calling
 * thread before this one starts (cask__mpi_comm_start); it sends blocks
 * the send tasks queue, polls
 * everything with MPI_Testsome, waits 20 us at a time for 0.5 ms after
 * anything moved (a queued send wakes it), then sleeps while nothing moves,
 * doubling up to 1 ms (ranks
 * share cores in tests and on laptops: a spinning poller would take a core
 * from the workers; StarPU-MPI's polling made it 100-500x slower than
 * plain MPI here, issue 13). It never
 * holds a scheduler lock while in MPI: a block that arrived goes to the
 * workers through the run's remote queue after the MPI call returned.
 *
 * Workers poll too (cask__mpi_progress: between tasks and, idle while
 * blocks are to come, before they park; mpi-int.h has the lock), so a block
 * is taken within a task's time of its arrival on a rank that is working
 * or just ran dry, rather than after this thread's wait; the thread keeps
 * the rest: the start, failures, aborts and the end. While workers poll
 * and nothing in flight needs this thread, it waits 200 us at a time
 * rather than 20 (a worker that stops polling to park wakes it).
 *
 * Each block is a header (type, shape, bytes) then its data in messages of
 * at most m->split bytes (MPI counts are ints; tests set a tiny split).
 * The thread stops when the local run is over and every planned send and
 * receive is complete (the calling thread may end it first:
 * cask__mpi_comm_end), or on a failure: its own rank's (it tells every
 * other rank) or another's (it cancels the local run). */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "mpi-int.h"

/* After something moved the thread waits WAIT_NS at a time until QUIET_NS
 * passed without anything moving (see the loop in cask__mpi_comm_main). */
#define WAIT_NS 20000
#define QUIET_NS 500000
/* How long it waits at a time while workers poll (the loop): what a
 * header that arrives while every worker is inside a long task may wait
 * (a large block's transfer starts then) */
#define WORKERS_NS 200000

static int push_req(cask__mpi_run *m, int kind, uint32_t index, MPI_Request **slot) {
  if (m->nreqs == m->reqs_cap) {
    int cap = m->reqs_cap ? 2 * m->reqs_cap : 64;
    MPI_Request *r = realloc(m->reqs, (size_t)cap * sizeof *r);
    if (r) m->reqs = r;
    cask__mpi_req *w = realloc(m->what, (size_t)cap * sizeof *w);
    if (w) m->what = w;
    int *d = realloc(m->done_idx, (size_t)cap * sizeof *d);
    if (d) m->done_idx = d;
    if (!r || !w || !d) return CASK_ENOMEM;
    m->reqs_cap = cap;
  }
  m->what[m->nreqs] = (cask__mpi_req){kind, index, 0};
  *slot = &m->reqs[m->nreqs++];
  return CASK_OK;
}

static int fail(cask__mpi_run *m, int rc, const char *what) {
  if (!m->comm_error) {
    m->comm_error = rc;
    cask__fmt(m->errmsg, sizeof m->errmsg, "rank %d: %s", m->rank, what);
  }
  return rc;
}

static int make_block(cask__mpi_run *m, uint32_t i);
static void arrived(cask__mpi_run *m, uint32_t i);

static int post_data_recvs(cask__mpi_run *m, uint32_t i) {
  cask__mpi_recv *r = &m->recvs[i];
  char *p = cask_block_data(r->block);
  int64_t n = r->hdr.nbytes, split = r->hdr.split; /* the sender's (checked in make_block) */
  r->left = (n + split - 1) / split;
  for (int64_t off = 0; off < n; off += split) {
    MPI_Request *q;
    if (push_req(m, REQ_DATA, i, &q)) return fail(m, CASK_ENOMEM, "out of memory for MPI requests");
    int len = (int)(n - off < split ? n - off : split);
    MPI_Irecv(p + off, len, MPI_BYTE, r->src, r->tag, m->comm, q);
  }
  return CASK_OK;
}

static void event(cask__mpi_run *m, uint64_t start, uint32_t gid, int peer, int recv, int64_t bytes) {
  if (!m->tracing) return;
  if (cask__grow((void **)&m->events, &m->events_cap, m->nevents + 1, sizeof *m->events)) {
    m->tracing = 0; /* out of memory: the trace loses the comm thread's events, the run goes on */
    return;
  }
  m->events[m->nevents++] = (cask__mpi_event){start, cask__now_ns(), gid, peer, recv, bytes};
}

static void arrived(cask__mpi_run *m, uint32_t i) {
  cask__mpi_recv *r = &m->recvs[i];
  m->recvs_done++;
  event(m, r->t_start, r->gid, r->src, 1, r->hdr.ndim < 0 ? 0 : r->hdr.nbytes);
  cask__remote_arrive(&m->remote, r->local);
}

/* Whether the data of a block of n bytes may be received now (the budget,
 * mpi-int.h); if so its bytes are counted held (remote.h) from now on. */
static int claim(cask__mpi_run *m, int64_t n) {
  /* asked before the claim: memory freed after a failed claim wakes the
   * thread (remote.h), rather than the end of a timed wait */
  cask__remote_want_room(&m->remote);
  int64_t now = (int64_t)atomic_load(&m->remote.untaken);
  int ok = !(now > 0 && now + n > m->budget) && cask__remote_claim(&m->remote, n, now == 0);
  if (ok) {
    atomic_store(&m->remote.room_wanted, 0);
    /* on its way in from now on (its task takes it: graph.c): counted
     * untaken at once, so the spill thread, which waits for such blocks
     * (spill.c, room_may_come), never sees it nowhere (reviewer) */
    atomic_fetch_add(&m->remote.untaken, (int_fast64_t)n);
  }
  return ok;
}

/* memory was freed while a receive waited for room (remote.h's on_room,
 * set by exec.c: any thread; m->mu is a leaf) */
void cask__mpi_room_freed(void *arg) {
  cask__mpi_run *m = arg;
  uv_mutex_lock(&m->mu);
  m->room_freed = 1;
  uv_cond_signal(&m->cv);
  uv_mutex_unlock(&m->mu);
}

/* ---- header receives ------------------------------------------------------- */

/* The receive of the block of that wire: its index in m->recvs, or
 * SIZE_MAX (graph.c sorted them and refused equal wires). */
static size_t recv_index(const cask__mpi_run *m, uint64_t wire) {
  size_t lo = 0, hi = m->nrecvs;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (m->recv_by_wire[mid].wire < wire) lo = mid + 1;
    else hi = mid;
  }
  return lo < m->nrecvs && m->recv_by_wire[lo].wire == wire ? m->recv_by_wire[lo].index : SIZE_MAX;
}

/* Every header receive is posted at the start, on a communicator of
 * their own (m->hcomm) and with one tag: an arriving header matches the
 * first receive posted for its source, and a data message (on m->comm) is
 * matched against data receives only. One tag per block on one
 * communicator made OpenMPI's ob1 match each message against a list as
 * long as the receives left (20k blocks from one rank: 11 s, 40k: 59 s).
 * Posting a few at a time per source was tried: headers then wait in MPI
 * as unexpected messages, and past about 65536 unmatched messages from one
 * rank ob1 (16-bit sequence numbers) stopped matching: 40k blocks hung.
 * Receives from one source with one tag complete in the order posted, so
 * only the first CASK__MPI_HDR_WINDOW pending of each source are tested
 * (poll_headers): a poll costs the same with 40k posted. */
static int start_headers(cask__mpi_run *m) {
  size_t n = m->nrecvs, K = (size_t)m->nranks;
  m->hoff = cask__calloc(K + 1, sizeof *m->hoff);
  m->hcur = cask__calloc(K, sizeof *m->hcur);
  m->hslots = cask__calloc(n ? n : 1, sizeof *m->hslots);
  MPI_Request *reqs = malloc((n ? n : 1) * sizeof *reqs);
  if (!m->hoff || !m->hcur || !m->hslots || !reqs) {
    free(reqs);
    return fail(m, CASK_ENOMEM, "out of memory for the receives");
  }
  for (size_t i = 0; i < n; i++) m->hoff[m->recvs[i].src + 1]++;
  for (size_t r = 0; r < K; r++) m->hoff[r + 1] += m->hoff[r];
  for (size_t r = 0; r < K; r++)
    for (size_t k = m->hoff[r]; k < m->hoff[r + 1]; k++) {
      m->hslots[k].src = (int)r;
      MPI_Irecv(&m->hslots[k].hdr, sizeof m->hslots[k].hdr, MPI_BYTE, (int)r, CASK__MPI_TAG_HDR, m->hcomm, &reqs[k]);
    }
  m->hreqs = reqs, m->nhslots = n;
  return CASK_OK;
}

static void header_slot_in(cask__mpi_run *m, size_t k);

/* Headers that arrived: per source, its first pending receives. */
static int poll_headers(cask__mpi_run *m) {
  if (!m->hreqs) return 0;
  int moved = 0, idx[CASK__MPI_HDR_WINDOW];
  for (int r = 0; r < m->nranks && !m->comm_error; r++) {
    size_t a = m->hoff[r] + m->hcur[r], e = m->hoff[r + 1];
    if (a == e) continue;
    int w = e - a < CASK__MPI_HDR_WINDOW ? (int)(e - a) : CASK__MPI_HDR_WINDOW, got = 0;
    MPI_Testsome(w, &m->hreqs[a], &got, idx, MPI_STATUSES_IGNORE);
    if (got == MPI_UNDEFINED || got <= 0) continue;
    for (int k = 0; k < got && !m->comm_error; k++) header_slot_in(m, a + (size_t)idx[k]);
    while (m->hoff[r] + m->hcur[r] < e && m->hreqs[m->hoff[r] + m->hcur[r]] == MPI_REQUEST_NULL) m->hcur[r]++;
    moved += got;
  }
  return moved;
}

static void header_in(cask__mpi_run *m, uint32_t i);

/* Header receive k completed: which block (checked). */
static void header_slot_in(cask__mpi_run *m, size_t k) {
  cask__mpi_hdr_slot *h = &m->hslots[k];
  size_t i = recv_index(m, h->hdr.wire);
  if (i == SIZE_MAX || m->recvs[i].src != h->src || m->recvs[i].got_hdr) {
    char msg[256];
    cask__fmt(msg, sizeof msg, "rank %d sent a header for the block of key hash %016llx, which this rank %s", h->src,
              (unsigned long long)h->hdr.wire,
              i == SIZE_MAX ? "does not receive" : m->recvs[i].got_hdr ? "already received" : "receives from another rank");
    fail(m, CASK_EINVAL, msg);
    return;
  }
  m->recvs[i].got_hdr = 1;
  m->recvs[i].hdr = h->hdr;
  header_in(m, (uint32_t)i);
}

static void header_in(cask__mpi_run *m, uint32_t i) {
  cask__mpi_recv *r = &m->recvs[i];
  m->headers_in++;
  r->t_start = cask__now_ns();
  if (r->hdr.ndim < 0) {
    m->recv_order[m->nrecv_order++] = r->gid;
    arrived(m, i);
    return;
  }
  m->deferred[m->ndeferred++] = i; /* taken by priority (take_deferred) */
}

/* Headers that arrived, best receiver priority first, while they fit. */
static int take_deferred(cask__mpi_run *m) {
  int moved = 0;
  if (m->hold_recvs && m->headers_in < m->nrecvs) return 0;
  while (m->ndeferred && !m->comm_error) {
    size_t best = 0;
    for (size_t k = 1; k < m->ndeferred; k++)
      if (m->recvs[m->deferred[k]].prio < m->recvs[m->deferred[best]].prio) best = k;
    uint32_t i = m->deferred[best];
    if (!claim(m, m->recvs[i].hdr.nbytes)) {
      if (!m->recvs[i].waited) m->recvs[i].waited = 1, m->recvs_waited++;
      break;
    }
    m->deferred[best] = m->deferred[--m->ndeferred];
    make_block(m, i);
    moved++;
  }
  return moved;
}

static int make_block(cask__mpi_run *m, uint32_t i) {
  cask__mpi_recv *r = &m->recvs[i];
  if (r->hdr.split <= 0 || r->hdr.split > INT_MAX) {
    char msg[256];
    cask__fmt(msg, sizeof msg, "a bad header for '%s' from rank %d (%lld bytes per message)", cask__key(m->full, r->gid),
              r->src, (long long)r->hdr.split);
    return fail(m, CASK_EINVAL, msg);
  }
  if (r->hdr.ndim > CASK_MAX_NDIM || cask_block_new((cask_dtype)r->hdr.dtype, r->hdr.ndim, r->hdr.shape, &r->block) ||
      (int64_t)cask_block_nbytes(r->block) != r->hdr.nbytes) {
    char msg[256];
    cask__fmt(msg, sizeof msg, "cannot make the block of '%s' received from rank %d (%lld bytes)", cask__key(m->full, r->gid),
              r->src, (long long)r->hdr.nbytes);
    return fail(m, CASK_ENOMEM, msg);
  }
  /* (counted held and untaken since its claim in take_deferred) */
  m->recv_order[m->nrecv_order++] = r->gid; /* the order priority decides */
  if (r->hdr.nbytes == 0) {
    arrived(m, i);
    return CASK_OK;
  }
  return post_data_recvs(m, i);
}

static int start_send(cask__mpi_run *m, uint32_t j) {
  cask__mpi_send *s = &m->sends[j];
  const cask_block *b = s->block;
  cask__mpi_header *h = s->hdr;
  memset(h, 0, sizeof *h);
  h->ndim = b ? cask_block_ndim(b) : -1;
  h->split = m->split;
  h->wire = s->wire;
  if (b) {
    h->dtype = (int32_t)cask_block_dtype(b);
    h->nbytes = (int64_t)cask_block_nbytes(b);
    memcpy(h->shape, cask_block_shape(b), sizeof h->shape[0] * (size_t)h->ndim);
  }
  char *p = b ? cask_block_data(b) : NULL;
  s->t_start = cask__now_ns();
  if (m->tracing) s->dpending = cask__calloc((size_t)s->ndest, sizeof *s->dpending); /* NULL: no events */
  for (int d = 0; d < s->ndest; d++) {
    int dest = s->to[d].peer;
    MPI_Request *q;
    if (push_req(m, REQ_SEND, j, &q)) return fail(m, CASK_ENOMEM, "out of memory for MPI requests");
    m->what[m->nreqs - 1].dest = d;
    MPI_Isend(h, sizeof *h, MPI_BYTE, dest, CASK__MPI_TAG_HDR, m->hcomm, q);
    s->pending++;
    if (s->dpending) s->dpending[d]++;
    for (int64_t off = 0; off < h->nbytes; off += m->split) {
      if (push_req(m, REQ_SEND, j, &q)) return fail(m, CASK_ENOMEM, "out of memory for MPI requests");
      m->what[m->nreqs - 1].dest = d;
      if (s->dpending) s->dpending[d]++;
      int len = (int)(h->nbytes - off < m->split ? h->nbytes - off : m->split);
      MPI_Isend(p + off, len, MPI_BYTE, dest, s->tags[d], m->comm, q);
      s->pending++;
      m->messages_sent++;
    }
    m->bytes_sent += (uint64_t)h->nbytes;
    m->blocks_sent++;
  }
  return CASK_OK;
}

/* One message of send j (to its destination d) completed. The block was
 * counted held from its send task on (graph.c) and is counted out once
 * the last message to every destination completed. */
static void send_done(cask__mpi_run *m, uint32_t j, int d) {
  cask__mpi_send *s = &m->sends[j];
  if (s->dpending && --s->dpending[d] == 0)
    event(m, s->t_start, s->gid, s->to[d].peer, 0, s->block ? (int64_t)cask_block_nbytes(s->block) : 0);
  if (--s->pending) return;
  if (s->block) cask__remote_send_hold(&m->remote, -(int64_t)cask_block_nbytes(s->block));
  cask_block_release(s->block);
  s->block = NULL;
  cask__free(s->dpending);
  s->dpending = NULL;
  m->sends_done += (size_t)s->ndest;
}

/* Drop finished requests (MPI_REQUEST_NULL) from the arrays. */
static void compact(cask__mpi_run *m) {
  int k = 0;
  for (int i = 0; i < m->nreqs; i++)
    if (m->reqs[i] != MPI_REQUEST_NULL) m->reqs[k] = m->reqs[i], m->what[k++] = m->what[i];
  m->nreqs = k;
}

/* Poll; returns how many requests completed. */
static int poll_requests(cask__mpi_run *m) {
  if (!m->nreqs) return 0;
  int n = 0;
  MPI_Testsome(m->nreqs, m->reqs, &n, m->done_idx, MPI_STATUSES_IGNORE);
  if (n == MPI_UNDEFINED || n <= 0) return 0;
  for (int k = 0; k < n && !m->comm_error; k++) {
    cask__mpi_req w = m->what[m->done_idx[k]];
    switch (w.kind) {
    case REQ_ABORT: m->abort_flag = 1; break;
    case REQ_DATA:
      if (--m->recvs[w.index].left == 0) arrived(m, w.index);
      break;
    case REQ_SEND: send_done(m, w.index, w.dest); break;
    default: break; /* an abort message of ours went out */
    }
  }
  compact(m);
  return n;
}

/* Send records the send tasks queued, taken under the outbox lock and
 * sent after it is released. */
static int drain_outbox(cask__mpi_run *m, uint32_t *batch, size_t cap) {
  uv_mutex_lock(&m->mu);
  size_t n = m->nout < cap ? m->nout : cap;
  memcpy(batch, m->outbox + m->nout - n, n * sizeof *batch);
  m->nout -= n;
  uv_mutex_unlock(&m->mu);
  for (size_t i = 0; i < n && !m->comm_error; i++) start_send(m, batch[n - 1 - i]);
  return (int)n;
}

/* How long the way out of a run waits for sends and abort messages; 10 ms
 * when the run was canceled from outside on an executor that gives up (a
 * signal to `cask run`: mpirun's SIGKILL may follow within 160 ms, exec.c),
 * whose sends may go to a dead rank. */
#define DRAIN_NS 100000000
static uint64_t drain_ns(const cask__mpi_run *m) {
  return m->ex->give_up && atomic_load(&m->rt->cancel_seen) ? 10000000 : DRAIN_NS;
}

/* After a failure (or at the end, when nothing is left): every request is
 * cancelled first, then all are waited for together against one deadline
 * (one by one, N stuck sends cost N deadlines). A request still incomplete
 * at the deadline (a send, or a data receive already matched to a sender
 * that died: neither cancels) is freed and its buffers are kept (leaked:
 * MPI may still read or write them), never freed under MPI. */
static void cancel_all(cask__mpi_run *m) {
  for (int i = 0; i < m->nreqs; i++) {
    if (m->reqs[i] == MPI_REQUEST_NULL) continue;
    MPI_Cancel(&m->reqs[i]);
    /* the abort receive (any source, 4 bytes into the run's m->abort_in)
     * completes once cancelled: never freed pending */
    if (m->what[i].kind == REQ_ABORT) MPI_Wait(&m->reqs[i], MPI_STATUS_IGNORE);
  }
  uint64_t until = cask__now_ns() + drain_ns(m);
  for (;;) {
    int left = 0;
    for (int i = 0; i < m->nreqs; i++) {
      if (m->reqs[i] == MPI_REQUEST_NULL) continue;
      int done = 0;
      MPI_Test(&m->reqs[i], &done, MPI_STATUS_IGNORE);
      if (done && m->what[i].kind == REQ_SEND) send_done(m, m->what[i].index, m->what[i].dest);
      left += !done;
    }
    if (!left) break;
    if (cask__now_ns() >= until) {
      for (int i = 0; i < m->nreqs; i++) {
        if (m->reqs[i] == MPI_REQUEST_NULL) continue;
        MPI_Request_free(&m->reqs[i]);
        if (m->what[i].kind == REQ_SEND) m->sends[m->what[i].index].leaked = 1, m->leaked_sends = 1;
        /* a receive matched to a block whose sender died mid-way does not
         * cancel: MPI may still write into its block, which is kept */
        if (m->what[i].kind == REQ_DATA) m->recvs[m->what[i].index].leaked = 1;
      }
      break;
    }
    nanosleep(&(struct timespec){0, 1000000}, NULL);
  }
  m->nreqs = 0;
  for (size_t k = 0; m->hreqs && k < m->nhslots; k++) /* header receives not complete: never sent */
    if (m->hreqs[k] != MPI_REQUEST_NULL) MPI_Cancel(&m->hreqs[k]), MPI_Wait(&m->hreqs[k], MPI_STATUS_IGNORE);
}

/* Our abort messages: complete? (4 bytes: sent eagerly, they complete
 * without the receiver; the buffer is static, so one freed at the
 * deadline is never read after the run.) */
static int aborts_pending(cask__mpi_run *m) {
  int all = 1;
  MPI_Testall(m->nranks, m->abort_reqs, &all, MPI_STATUSES_IGNORE);
  return !all;
}

static void wait_aborts(cask__mpi_run *m) {
  uint64_t until = cask__now_ns() + drain_ns(m);
  while (aborts_pending(m)) {
    if (cask__now_ns() >= until) {
      for (int r = 0; r < m->nranks; r++)
        if (m->abort_reqs[r] != MPI_REQUEST_NULL) MPI_Request_free(&m->abort_reqs[r]);
      return;
    }
    nanosleep(&(struct timespec){0, 1000000}, NULL);
  }
}

/* Tell every other rank that this one failed: one small message each, on
 * requests made before the thread started (no allocation here). */
static void tell_others(cask__mpi_run *m) {
  static const int one = 1;
  for (int r = 0; r < m->nranks; r++)
    if (r != m->rank) MPI_Isend(&one, 1, MPI_INT, r, CASK__MPI_TAG_ABORT, m->comm, &m->abort_reqs[r]);
}

/* Sends in flight a worker's poll tests: with thousands, MPI_Testsome
 * walks them all (ob1), a cost left to the thread. */
#define WORKER_MAX_REQS 256

int cask__mpi_progress(void *arg) {
  cask__mpi_run *m = arg;
  if (uv_mutex_trylock(&m->poll_mu)) return 0; /* the thread or another worker polls */
  int moved = 0, stop = m->comm_error || m->abort_flag;
  if (!stop) {
    uint32_t batch[16];
    moved = drain_outbox(m, batch, 16) + poll_headers(m) + take_deferred(m);
    /* (the abort receive alone, always first, is left to the thread: one
     * MPI call less per poll, and an abort is the thread's to act on) */
    if (m->nreqs > 1 && m->nreqs <= WORKER_MAX_REQS) moved += poll_requests(m);
    stop = m->comm_error || m->abort_flag;
  }
  int more = !stop && m->recvs_done < m->nrecvs, all = !stop && m->nreqs <= WORKER_MAX_REQS;
  uv_mutex_unlock(&m->poll_mu);
  uint64_t now = moved || all ? cask__now_ns() : 0;
  if (moved) atomic_store_explicit(&m->moved_at, now, memory_order_relaxed);
  if (all) atomic_store_explicit(&m->worker_polled_at, now, memory_order_relaxed);
  if (stop) { /* a failure or an abort: the thread acts on it (the run's end is its) */
    uv_mutex_lock(&m->mu);
    uv_cond_signal(&m->cv);
    uv_mutex_unlock(&m->mu);
  }
  return moved ? 1 : more ? 0 : -1;
}

void cask__mpi_parking(void *arg) {
  cask__mpi_run *m = arg;
  atomic_store_explicit(&m->worker_polled_at, 0, memory_order_relaxed);
  uv_mutex_lock(&m->mu);
  m->parked = 1;
  uv_cond_signal(&m->cv);
  uv_mutex_unlock(&m->mu);
}

void cask__mpi_comm_start(cask__mpi_run *m) {
  MPI_Request *q;
  if (push_req(m, REQ_ABORT, 0, &q)) fail(m, CASK_ENOMEM, "out of memory for MPI requests");
  else MPI_Irecv(&m->abort_in, 1, MPI_INT, MPI_ANY_SOURCE, CASK__MPI_TAG_ABORT, m->comm, q);
  if (!m->comm_error) start_headers(m);
}

int cask__mpi_comm_end(cask__mpi_run *m) {
  if (uv_mutex_trylock(&m->poll_mu)) return 0; /* the thread polls: it ends the run */
  int done = 0;
  if (!m->ended) {
    uint32_t batch[64];
    drain_outbox(m, batch, 64), poll_headers(m), poll_requests(m), take_deferred(m);
    if (!m->comm_error && !m->abort_flag && !atomic_load(&m->local_failed) && m->sends_done == m->planned_sends &&
        m->recvs_done == m->nrecvs) {
      cancel_all(m);
      m->ended = done = 1;
    }
  }
  uv_mutex_unlock(&m->poll_mu);
  if (done) {
    uv_mutex_lock(&m->mu);
    m->stop = 1;
    uv_cond_signal(&m->cv);
    uv_mutex_unlock(&m->mu);
  }
  return done;
}

void cask__mpi_comm_main(void *arg) {
  cask__mpi_run *m = arg;
  uint32_t batch[64];
  long sleep_ns = WAIT_NS;
  uint64_t quiet_since = cask__now_ns();
  int told = 0;
  for (;;) {
    uv_mutex_lock(&m->poll_mu);
    if (m->ended) { /* by the calling thread (cask__mpi_comm_end): no MPI call from here on */
      uv_mutex_unlock(&m->poll_mu);
      return;
    }
    int moved = drain_outbox(m, batch, 64) + poll_headers(m) + poll_requests(m) + take_deferred(m);
    int over = atomic_load(&m->local_over), failed = atomic_load(&m->local_failed);
    if ((failed || m->comm_error) && !told) { /* this rank failed: the others must know, also if one told us */
      told = 1;
      tell_others(m);
    }
    if (m->comm_error && !over) {
      atomic_store(&m->aborted, 1);
      cask__runtime_stop(m->rt);
    }
    if (m->abort_flag) {
      /* another rank failed: stop the local run (it may not have started
       * yet: again until it returned) */
      atomic_store(&m->aborted, 1);
      if (over) break;
      cask__runtime_stop(m->rt);
    } else if (failed || m->comm_error) {
      if (over) break;
    } else if (over && m->sends_done == m->planned_sends && m->recvs_done == m->nrecvs) {
      break;
    }
    /* nothing in flight that needs this thread's polls to progress (only
     * the abort receive; no header waiting for room) */
    int settled = m->nreqs <= 1 && !m->ndeferred;
    uv_mutex_unlock(&m->poll_mu);
    /* Right after something moved, more usually follows soon (the next
     * step of a chain of tasks across ranks): the thread waits WAIT_NS at
     * a time (a send task that could not post its block wakes it) until
     * QUIET_NS passed without anything moving, then sleeps longer,
     * doubling up to 1 ms. A yielding poll here kept a steady trickle of
     * messages at near 100 % of a core on oversubscribed ranks; a sleep
     * of 1 ms per hop made a 50-step stencil across 2 ranks take 70 ms
     * more (bench/mpi_metg.c). */
    uint64_t now = cask__now_ns(), seen = atomic_load_explicit(&m->moved_at, memory_order_relaxed);
    /* Workers poll (one polled everything, and none parked since) and
     * nothing in flight needs this thread: the workers see what comes
     * (between their tasks, and idle before they park, which wakes this
     * thread), so it waits WORKERS_NS at a time rather than take a core
     * from them every 20 us (90 with the timer's slack) for as long as
     * messages keep moving: at g = 100 us in bench/mpi_metg.c it woke
     * every 92 us, 16 us of CPU each (an MPI poll), preempting the worker
     * computing beside it as often. */
    int workers = settled && atomic_load_explicit(&m->worker_polled_at, memory_order_relaxed);
    if (moved || seen > quiet_since) { /* ours, or a worker's poll's */
      sleep_ns = WAIT_NS;
      quiet_since = moved ? now : seen;
      if (moved) continue;
    }
    uv_mutex_lock(&m->mu);
    if (!m->nout && !m->room_freed && !m->parked && !m->stop && atomic_load(&m->local_over) == over)
      uv_cond_timedwait(&m->cv, &m->mu, (uint64_t)(workers && sleep_ns < WORKERS_NS ? WORKERS_NS : sleep_ns));
    /* a receive may go now; a worker stopped polling */
    if (m->room_freed || m->parked) sleep_ns = WAIT_NS, quiet_since = now;
    m->room_freed = m->parked = 0;
    uv_mutex_unlock(&m->mu);
    if (now - quiet_since >= QUIET_NS) sleep_ns = sleep_ns * 2 > 1000000 ? 1000000 : sleep_ns * 2;
  }
  /* (poll_mu held: the local run is over, no worker polls any more) */
  cancel_all(m);
  if (told) wait_aborts(m);
  m->ended = 1;
  uv_mutex_unlock(&m->poll_mu);
}
