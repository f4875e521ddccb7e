/* exec.c - the MPI executor: made from a communicator, it runs a graph
 * across the ranks (cask_executor.run) and offers cask_store's writers
 * the collectives they need (agreement, broadcast, merging buffers).
 *
 * One run: every rank checks that all ranks hold the same graph (digests),
 * plans its part, makes its own graph (graph.c), starts the communication
 * thread (comm.c) on a communicator of its own, runs its graph on the
 * runtime's workers, and waits for the thread. Then the ranks agree:
 * the lowest rank that failed (if any) broadcasts its message, which every
 * rank returns, so rank 0 can print what failed on rank 2. Floating-point
 * values are never combined by MPI: totals are integers, and every block
 * is made by one rank with the tree of the graph, whatever K is. */
#define _GNU_SOURCE /* sched_yield */
#include <limits.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "mpi-int.h"

/* ---- collectives for writers ---------------------------------------------- */

static int all_ok(cask_executor *pub, int ok) {
  cask__mpi_exec *ex = (cask__mpi_exec *)pub;
  if (ex->broken) return 0;
  int in = ok != 0, out = 0;
  if (MPI_Allreduce(&in, &out, 1, MPI_INT, MPI_LAND, ex->comm) != MPI_SUCCESS) return 0;
  return out;
}

static int bcast(cask_executor *pub, void *buf, size_t len, int root) {
  cask__mpi_exec *ex = (cask__mpi_exec *)pub;
  if (ex->broken) return CASK_ECANCELED;
  for (size_t off = 0; off < len; off += INT_MAX / 2) {
    int n = (int)(len - off < INT_MAX / 2 ? len - off : INT_MAX / 2);
    if (MPI_Bcast((char *)buf + off, n, MPI_BYTE, root, ex->comm) != MPI_SUCCESS) return CASK_EIO;
  }
  return CASK_OK;
}

static int merge(cask_executor *pub, void *buf, size_t len) {
  cask__mpi_exec *ex = (cask__mpi_exec *)pub;
  if (ex->broken) return CASK_ECANCELED;
  for (size_t off = 0; off < len; off += INT_MAX / 2) {
    int n = (int)(len - off < INT_MAX / 2 ? len - off : INT_MAX / 2);
    if (MPI_Allreduce(MPI_IN_PLACE, (char *)buf + off, n, MPI_BYTE, MPI_BOR, ex->comm) != MPI_SUCCESS) return CASK_EIO;
  }
  return CASK_OK;
}

int cask_mpi_executor_new(MPI_Comm comm, cask_executor **out) {
  if (!out) return cask__create_fail(CASK_EINVAL, "cask_mpi_executor_new: out is NULL");
  *out = NULL;
  int inited = 0, level = 0;
  MPI_Initialized(&inited);
  if (!inited) return cask__create_fail(CASK_EINVAL, "cask_mpi_executor_new: MPI is not initialized");
  MPI_Query_thread(&level);
  if (level < MPI_THREAD_SERIALIZED)
    return cask__create_fail(CASK_EINVAL, "cask_mpi_executor_new: MPI was initialized with thread level %d; cask needs "
                                          "MPI_THREAD_SERIALIZED or more (MPI_Init_thread)", level);
  cask__mpi_exec *ex = cask__calloc(1, sizeof *ex);
  if (!ex) return cask__create_fail(CASK_ENOMEM, "out of memory making an MPI executor");
  MPI_Comm_dup(comm, &ex->comm);
  MPI_Comm_rank(ex->comm, &ex->pub.rank);
  MPI_Comm_size(ex->comm, &ex->pub.nranks);
  ex->peaks = cask__calloc((size_t)ex->pub.nranks, sizeof *ex->peaks);
  ex->tasks = cask__calloc((size_t)ex->pub.nranks, sizeof *ex->tasks);
  if (!ex->peaks || !ex->tasks) {
    cask_mpi_executor_free(&ex->pub);
    return cask__create_fail(CASK_ENOMEM, "out of memory making an MPI executor");
  }
  ex->pub.run = cask__mpi_run_graph;
  ex->pub.all_ok = all_ok;
  ex->pub.bcast = bcast;
  ex->pub.merge = merge;
  ex->pub.impl = ex;
  *out = &ex->pub;
  cask__create_ok();
  return CASK_OK;
}

void cask_mpi_executor_free(cask_executor *pub) {
  if (!pub) return;
  cask__mpi_exec *ex = (cask__mpi_exec *)pub;
  int fin = 0;
  MPI_Finalized(&fin);
  if (!fin && !ex->broken && ex->comm != MPI_COMM_NULL) MPI_Comm_free(&ex->comm);
  cask__free(ex->peaks);
  cask__free(ex->tasks);
  cask__free(ex->recv_order);
  cask__free(ex);
}

void cask_mpi_executor_set_give_up(cask_executor *pub, int on) {
  if (pub) ((cask__mpi_exec *)pub)->give_up = on != 0;
}

void cask_mpi_last_stats(const cask_executor *pub, cask_mpi_stats *out) {
  if (!out) return;
  memset(out, 0, sizeof *out);
  if (pub) *out = ((const cask__mpi_exec *)pub)->st;
}

int cask_run_mpi(cask_runtime *rt, cask_graph *g, MPI_Comm comm, const cask_run_options *opts, cask_results **out) {
  cask_executor *ex;
  if (!rt || !g || !out) return CASK_EINVAL;
  int rc = cask_mpi_executor_new(comm, &ex);
  if (rc) {
    cask__fmt(rt->errmsg, sizeof rt->errmsg, "%s", cask_create_errmsg());
    return rc;
  }
  cask_run_options o = CASK_RUN_OPTIONS_DEFAULTS;
  if (opts) o = *opts;
  o.executor = ex;
  rc = cask_run(rt, g, &o, out);
  cask_mpi_executor_free(ex);
  return rc;
}

/* ---- one run ---------------------------------------------------------------- */

/* Whether task t reads an array over memory (cask_from_buffer): its own
 * op, one of a fused task's, or a product reading the buffer in place. */
static int reads_buffer(cask_graph *g, uint32_t t) {
  static const char *const ops[] = {"array.buffer", "array.matmul_product_view"};
  const cask__task *r = &g->tasks[t];
  for (size_t k = 0; k < sizeof ops / sizeof ops[0]; k++)
    if (!strcmp(r->op->name, ops[k])) return 1;
  if (r->op != cask__op_fused) return 0;
  size_t pos = 0;
  const cask_op *op;
  const char *key;
  const void *args;
  uint32_t key_len, args_len;
  while (cask__fused_next(cask__args(g, t), r->args_len, &pos, &op, &key, &key_len, &args, &args_len))
    for (size_t k = 0; k < sizeof ops / sizeof ops[0]; k++)
      if (!strcmp(op->name, ops[k])) return 1;
  return 0;
}

/* Ranks that built only their parts of an array job (g->part_ranks)
 * compare the job's digest instead: their graphs differ by design. A part
 * made for another rank or rank count is refused. */
static int check_part_digests(cask__mpi_exec *ex, cask_graph *g, char *msg, size_t cap) {
  int bad = g->part_ranks != ex->pub.nranks || g->part_rank != ex->pub.rank, anybad;
  MPI_Allreduce(&bad, &anybad, 1, MPI_INT, MPI_LOR, ex->comm);
  if (anybad) {
    cask__fmt(msg, cap, "rank %d: %s", ex->pub.rank,
              bad ? "its graph is the part of another rank or rank count" : "another rank's graph is another's part");
    return CASK_EINVAL;
  }
  uint64_t d = g->part_digest, lo, hi;
  MPI_Allreduce(&d, &lo, 1, MPI_UINT64_T, MPI_MIN, ex->comm);
  MPI_Allreduce(&d, &hi, 1, MPI_UINT64_T, MPI_MAX, ex->comm);
  if (lo == hi) return CASK_OK;
  cask__fmt(msg, cap, "the ranks built parts of different jobs (digests %016llx to %016llx; rank %d's is %016llx): every "
            "rank must build the same arrays and outputs", (unsigned long long)lo, (unsigned long long)hi, ex->pub.rank,
            (unsigned long long)d);
  return CASK_EINVAL;
}

/* A digest of one transfer, the same on its two ranks. */
static uint64_t transfer_hash(uint64_t wire, int src, int dst, int64_t bytes) {
  uint64_t h = wire ^ ((uint64_t)(uint32_t)src << 32 | (uint32_t)dst);
  h = (h ^ (uint64_t)bytes) * 0x9e3779b97f4a7c15ull;
  return h ^ (h >> 29);
}

/* Every send some rank plans is a receive its destination plans (called
 * by every rank, each having made its graph): the sum over ranks of their
 * sends' digests minus their receives' is 0. Ranks that built only their
 * parts find their sends and receives from different graphs, so a send
 * nobody receives (a hang) would otherwise go unseen. */
static int check_balance(cask__mpi_run *m, char *msg, size_t cap) {
  uint64_t b = 0, all = 0;
  for (size_t i = 0; i < m->nsends; i++)
    for (int d = 0; d < m->sends[i].ndest; d++)
      b += transfer_hash(m->sends[i].wire, m->rank, m->sends[i].to[d].peer, m->sends[i].to[d].nbytes);
  size_t nr;
  const cask_transfer *r = cask_plan_recvs(m->plan, &nr);
  for (size_t i = 0; i < nr; i++) b -= transfer_hash(m->recvs[i].wire, r[i].peer, m->rank, r[i].nbytes);
  MPI_Allreduce(&b, &all, 1, MPI_UINT64_T, MPI_SUM, m->ex->comm);
  if (!all) return CASK_OK;
  cask__fmt(msg, cap, "internal error: the ranks' planned sends and receives do not match (rank %d: %zu sends, %zu "
            "receives)", m->rank, m->planned_sends, m->nrecvs);
  return CASK_EINVAL;
}

/* Whether every rank built its part, or every rank the whole graph: the
 * two checks below enter different collectives, so ranks that differ
 * (CASK_MPI_PARTS=0 on some ranks only, or a job on one grid of blocks on
 * some ranks only: different inputs) must learn it first, or MPI fails
 * with a truncated message (or hangs) instead of saying why. */
static int check_modes(cask__mpi_exec *ex, const cask_graph *g, char *msg, size_t cap) {
  int mine[2] = {g->part_ranks > 0, g->part_ranks <= 0}, all[2];
  MPI_Allreduce(mine, all, 2, MPI_INT, MPI_MAX, ex->comm);
  if (!all[0] || !all[1]) return CASK_OK;
  cask__fmt(msg, cap, "rank %d built %s, another rank %s: every rank must run the same job with the same "
            "CASK_MPI_PARTS", ex->pub.rank, mine[0] ? "its part of the graph" : "the whole graph",
            mine[0] ? "the whole graph" : "its part");
  return CASK_EINVAL;
}

/* Do all ranks hold the same graph? On a mismatch every rank names the
 * first differing task by its own key. */
static int check_digests(cask__mpi_exec *ex, cask_graph *g, char *msg, size_t cap) {
  int rc = check_modes(ex, g, msg, cap);
  if (rc) return rc;
  if (g->part_ranks) return check_part_digests(ex, g, msg, cap);
  uint64_t d = 0, lo, hi;
  rc = cask_graph_digest(g, &d);
  int bad = rc != 0, anybad;
  MPI_Allreduce(&bad, &anybad, 1, MPI_INT, MPI_LOR, ex->comm);
  if (anybad) {
    cask__fmt(msg, cap, "rank %d: %s", ex->pub.rank, rc ? cask_graph_errmsg(g) : "another rank's graph is not valid");
    return rc ? rc : CASK_EINVAL;
  }
  MPI_Allreduce(&d, &lo, 1, MPI_UINT64_T, MPI_MIN, ex->comm);
  MPI_Allreduce(&d, &hi, 1, MPI_UINT64_T, MPI_MAX, ex->comm);
  if (lo == hi) return CASK_OK;
  /* rank 0's task digests to everyone; each finds its first difference */
  uint64_t n = g->ntasks, n0 = n;
  MPI_Bcast(&n0, 1, MPI_UINT64_T, 0, ex->comm);
  uint64_t *mine = cask__malloc((n ? n : 1) * sizeof *mine), *theirs = cask__malloc((n0 ? n0 : 1) * sizeof *theirs);
  unsigned long long first = ULLONG_MAX, lowest;
  /* every rank must enter the broadcast: agree on the allocations first */
  int got = mine && theirs, all_got = 0;
  MPI_Allreduce(&got, &all_got, 1, MPI_INT, MPI_LAND, ex->comm);
  if (!all_got) {
    cask__free(mine);
    cask__free(theirs);
    cask__fmt(msg, cap, "the ranks hold different graphs (digests %016llx to %016llx); a rank ran out of memory finding the "
              "first difference", (unsigned long long)lo, (unsigned long long)hi);
    return CASK_EINVAL;
  }
  if (!cask_graph_task_digests(g, mine) && ex->pub.rank == 0) memcpy(theirs, mine, n * sizeof *mine);
  MPI_Bcast(theirs, (int)n0, MPI_UINT64_T, 0, ex->comm);
  size_t i = cask_digests_first_difference(mine, n, theirs, n0);
  if (i != SIZE_MAX) first = i;
  MPI_Allreduce(&first, &lowest, 1, MPI_UNSIGNED_LONG_LONG, MPI_MIN, ex->comm);
  /* the key of a buffer's block comes from the buffer's bytes: say that
   * the ranks' contents differ rather than "different graphs" */
  if (lowest < n && reads_buffer(g, (uint32_t)lowest))
    cask__fmt(msg, cap, "task %llu ('%s' on rank %d) reads an array made from memory (cask_from_buffer, or values "
              "computed while the graph was built: unique, histogram's bin edges, a True/False index list) whose bytes "
              "differ between the ranks (digests %016llx to %016llx): every rank must give the same contents",
              lowest, cask__key(g, (uint32_t)lowest), ex->pub.rank, (unsigned long long)lo, (unsigned long long)hi);
  else if (lowest < n)
    cask__fmt(msg, cap, "the ranks hold different graphs (digests %016llx to %016llx): task %llu differs first; on rank %d it "
              "is '%s' (op %s): every rank must build the same graph",
              (unsigned long long)lo, (unsigned long long)hi, lowest, ex->pub.rank, cask__key(g, (uint32_t)lowest),
              g->tasks[lowest].op->name);
  else
    cask__fmt(msg, cap, "the ranks hold different graphs (digests %016llx to %016llx): rank %d has %llu tasks, rank 0 %llu",
              (unsigned long long)lo, (unsigned long long)hi, ex->pub.rank, (unsigned long long)n, (unsigned long long)n0);
  cask__free(mine);
  cask__free(theirs);
  return CASK_EINVAL;
}

static int64_t split_limit(void) {
  /* CASK_MPI_SPLIT: bytes per data message, for tests of split blocks */
  const char *s = getenv("CASK_MPI_SPLIT");
  long long v = s ? atoll(s) : 0;
  return v > 0 && v < INT_MAX ? v : INT_MAX;
}

static void free_run(cask__mpi_run *m) {
  for (size_t i = 0; m->recvs && i < m->nrecvs; i++)
    if (!m->recvs[i].leaked) cask_block_release(m->recvs[i].block);
  /* blocks of sends that never started, or completed while the thread was
   * failing; a send whose request was freed in flight keeps its block and
   * the headers (MPI may still read them: a leak, never a use after free) */
  for (size_t j = 0; m->sends && j < m->nsends; j++)
    if (!m->sends[j].leaked) cask_block_release(m->sends[j].block), cask__free(m->sends[j].dpending);
  if (!m->leaked_sends) free(m->hdrs);
  free(m->abort_reqs);
  cask_graph_free(m->local);
  cask_plan_free(m->plan);
  cask__free(m->to_global);
  cask__free(m->held);
  cask__free(m->recvs);
  cask__free(m->sends);
  cask__free(m->outbox);
  cask__free(m->deferred);
  cask__free(m->recv_order);
  cask__free(m->events);
  cask__free(m->recv_by_wire);
  cask__free(m->send_tags);
  cask__free(m->hslots);
  free(m->hreqs);
  cask__free(m->hoff);
  cask__free(m->hcur);
  free(m->reqs);
  free(m->what);
  free(m->done_idx);
}

/* Totals over the ranks (integers only). */
static void gather_stats(cask__mpi_exec *ex, cask__mpi_run *m, cask_runtime *rt) {
  cask_run_stats st;
  cask_runtime_last_stats(rt, &st);
  uint64_t mine[7] = {st.tasks_run, m->blocks_sent, m->planned_sends, m->bytes_sent, m->messages_sent, st.spilled_bytes,
                      m->recvs_waited};
  uint64_t sum[7];
  MPI_Allreduce(mine, sum, 7, MPI_UINT64_T, MPI_SUM, ex->comm);
  MPI_Allgather(&st.peak_bytes, 1, MPI_UINT64_T, ex->peaks, 1, MPI_UINT64_T, ex->comm);
  MPI_Allgather(&st.tasks_run, 1, MPI_UINT64_T, ex->tasks, 1, MPI_UINT64_T, ex->comm);
  cask_mpi_stats *s = &ex->st;
  *s = (cask_mpi_stats){.nranks = ex->pub.nranks, .tasks_run = sum[0], .blocks_sent = sum[1], .planned_sends = sum[2],
                        .bytes_sent = sum[3], .messages_sent = sum[4], .spilled_bytes = sum[5], .recvs_waited = sum[6],
                        .peak_bytes = ex->peaks, .rank_tasks = ex->tasks, .parts = m->full->part_ranks > 0};
  for (int r = 0; r < ex->pub.nranks; r++)
    if (ex->peaks[r] > s->peak_bytes_max) s->peak_bytes_max = ex->peaks[r];
  /* this rank's receive order: kept by the executor (the run's goes) */
  cask__free(ex->recv_order);
  ex->recv_order = m->recv_order;
  m->recv_order = NULL;
  s->recv_order = ex->recv_order;
  s->nrecv_order = m->nrecv_order;
}

/* The rank's static order, which its workers follow, puts what other
 * ranks wait for first: each task is keyed by the first (in the order of
 * graph/order.c) producer of a sent block that it leads to (itself
 * included; none: after all that do), and tasks are numbered by (key,
 * the old order). A task leads to everything its inputs lead to, so an
 * input's key is never larger than its reader's: the order stays
 * topological. Each send task comes right after its producer, each
 * received root right before its first reader.
 *
 * Why: a send task is a sink, so the old order put it last and the
 * workers ran every other ready task of the rank before it (9.7 us per hop
 * across ranks in bench/mpi_metg.c at g = 3 us); and the producer of a
 * sent block came wherever graph/order.c put it: in the stencil of
 * bench/mpi_metg.c a rank's boundary task of step t came after its
 * interior ones (and the interior column beside the boundary, which the
 * next step's boundary reads, after the others), so the neighbour, whose
 * step t + 1 waits for that boundary, waited for the whole step: each step
 * paid a hop plus the rank's work rather than the larger of the two. */
static int by_key_prio(const void *a, const void *b, void *arg) {
  const uint64_t *key = arg;
  uint64_t x = key[*(const uint32_t *)a], y = key[*(const uint32_t *)b];
  return x < y ? -1 : x > y;
}

static int sends_first(cask__mpi_run *m) {
  cask_graph *g = m->local;
  size_t n = g->ntasks;
  uint32_t *by_prio = cask__malloc((n ? n : 1) * sizeof *by_prio), *send_of = cask__malloc((n ? n : 1) * sizeof *send_of);
  uint64_t *key = cask__malloc((n ? n : 1) * sizeof *key);
  if (!by_prio || !send_of || !key) {
    cask__free(by_prio);
    cask__free(send_of);
    cask__free(key);
    return CASK_ENOMEM;
  }
  for (size_t i = 0; i < n; i++) by_prio[g->prio[i]] = (uint32_t)i, send_of[i] = CASK__NO_TASK;
  for (size_t i = 0; i < n; i++)
    if (m->to_global[i] == CASK__NO_TASK) send_of[g->dep_idx[g->tasks[i].deps_off]] = (uint32_t)i;
  /* key = (first sent producer reached, as an old position; n: none) << 32
   * | old position, computed readers first (the old order reversed) */
  for (size_t k = n; k-- > 0;) {
    uint32_t v = by_prio[k];
    uint64_t first = send_of[v] != CASK__NO_TASK ? k : n;
    for (uint32_t s = g->succ_off[v]; s < g->succ_off[v + 1]; s++) {
      uint32_t c = g->succ[s];
      if (m->to_global[c] != CASK__NO_TASK && key[c] >> 32 < first) first = key[c] >> 32;
    }
    key[v] = first << 32 | k;
  }
  /* sends and received roots are placed with their producer and reader */
  size_t nk = 0;
  for (size_t k = 0; k < n; k++)
    if (m->to_global[by_prio[k]] != CASK__NO_TASK && !m->held[by_prio[k]]) by_prio[nk++] = by_prio[k];
  qsort_r(by_prio, nk, sizeof *by_prio, by_key_prio, key);
  uint32_t next = 0;
  const uint32_t placed = UINT32_MAX;
  for (size_t i = 0; i < n; i++)
    if (m->held[i]) key[i] = 0; /* not yet numbered */
  for (size_t k = 0; k < nk; k++) {
    uint32_t v = by_prio[k];
    const cask__task *t = &g->tasks[v];
    for (uint32_t d = 0; d < t->ndeps; d++) {
      uint32_t u = g->dep_idx[t->deps_off + d];
      if (m->held[u] && key[u] != placed) g->prio[u] = next++, key[u] = placed;
    }
    g->prio[v] = next++;
    if (send_of[v] != CASK__NO_TASK) g->prio[send_of[v]] = next++;
  }
  for (size_t i = 0; i < n; i++) /* a received root nothing reads */
    if (m->held[i] && key[i] != placed) g->prio[i] = next++;
  CASK__ASSERT(next == n);
  cask__free(by_prio);
  cask__free(send_of);
  cask__free(key);
  return CASK_OK;
}

/* The receiver's priority of each block it receives: its root's in the
 * rank's graph, whose static order the workers follow (graph/order.c: the
 * root is numbered right before the first task that reads it; sends_first
 * keeps that). */
static int receive_priorities(cask__mpi_run *m) {
  int rc = cask_graph_order(m->local);
  if (!rc) rc = sends_first(m);
  if (rc) {
    cask__fmt(m->errmsg, sizeof m->errmsg, "rank %d: ordering its graph: %s", m->rank,
              rc == CASK_ENOMEM ? "out of memory" : cask_graph_errmsg(m->local));
    return rc;
  }
  for (size_t i = 0; i < m->nrecvs; i++) m->recvs[i].prio = cask_graph_priority(m->local, m->recvs[i].local);
  if (!(m->recv_order = cask__malloc((m->nrecvs ? m->nrecvs : 1) * sizeof *m->recv_order))) {
    cask__fmt(m->errmsg, sizeof m->errmsg, "rank %d: out of memory", m->rank);
    return CASK_ENOMEM;
  }
  const char *hold = getenv("CASK_MPI_RECV_HOLD"); /* tests: a receive order no timing decides */
  m->hold_recvs = hold && !strcmp(hold, "1");
  return CASK_OK;
}

/* How long the agreement waits once the runtime was canceled from outside
 * (cask_runtime_cancel), on an executor told to give up
 * (cask_mpi_executor_set_give_up: `cask run` does). When a rank is killed,
 * mpirun (OpenMPI 4.1) sends SIGTERM to the others a second later and
 * SIGKILL about 160 ms after that (measured), and the dead rank never
 * joins: the others must give up and remove their outputs' temporary
 * files before then. Ranks canceled together (Ctrl-C to mpirun) that give
 * up end with the cancel's exit code too. */
#define AGREE_CANCELED_NS 20000000ull

/* How long wait_sleeping tests with sched_yield between tests before it
 * sleeps: a collective of two ranks takes a round trip per step, and each
 * step that found the other rank asleep waited for its wake-up (20, 40,
 * 80 us doubling, plus the timer's slack): 200-360 us for the agreement
 * after every run, on a stencil of 50 steps of 12 us (bench/mpi_metg.c). */
#define WAIT_YIELD_NS 200000

/* Wait for req: tests with sched_yield between them for WAIT_YIELD_NS,
 * then with sleeps that double from 20 us to 1 ms. The collectives after
 * a run are where a rank that finished early waits for the slowest one,
 * and OpenMPI's blocking collectives poll: an idle rank burned a core
 * there (about 1 s of CPU in a 2 s run of two ranks on two cores), taken
 * from the ranks still working (200 us of yielding tests are not that:
 * bounded, then it sleeps). With cancel
 * (NULL: wait for ever), once *cancel is set it waits AGREE_CANCELED_NS
 * more and returns CASK_ECANCELED with req pending (its buffers must then
 * be leaked: MPI may still write them). */
static int wait_sleeping(MPI_Request *req, atomic_int *cancel) {
  uint64_t give_up = 0, yield_until = cask__now_ns() + WAIT_YIELD_NS;
  for (long ns = 20000;;) {
    int done = 0;
    if (MPI_Test(req, &done, MPI_STATUS_IGNORE) != MPI_SUCCESS) return CASK_EIO;
    if (done) return CASK_OK;
    uint64_t now = cask__now_ns();
    if (cancel && !give_up && atomic_load(cancel)) give_up = now + AGREE_CANCELED_NS;
    if (give_up && now >= give_up) return CASK_ECANCELED;
    if (now < yield_until) {
      sched_yield();
      continue;
    }
    nanosleep(&(struct timespec){0, ns}, NULL);
    if (ns < 1000000) ns *= 2;
  }
}

/* What the agreement's collectives read and write, on the heap: leaked
 * when one is left pending. */
typedef struct agreement {
  int mine, lowest, code;
  char msg[CASK__RUN_ERRMSG_CAP];
} agreement;

/* The lowest failing rank's code and message on every rank. On an
 * executor that gives up, a run canceled from outside whose agreement a
 * rank does not finish within AGREE_CANCELED_NS (killed, or still in a
 * long task) returns rc with the executor broken: no MPI call may follow
 * on this rank, so the ranks left waiting in it are never released into
 * a broadcast that will not come (they give up alike, or mpirun ends
 * them when this process exits). */
static int agree(cask__mpi_exec *ex, int rc, char *msg, size_t cap, atomic_int *cancel) {
  agreement *a = malloc(sizeof *a);
  if (!a) MPI_Abort(ex->comm, 1);
  a->mine = rc ? ex->pub.rank : INT_MAX;
  a->code = rc;
  cask__fmt(a->msg, sizeof a->msg, "%s", msg);
  if (!ex->give_up) cancel = NULL;
  MPI_Request req[3];
  int e = MPI_Iallreduce(&a->mine, &a->lowest, 1, MPI_INT, MPI_MIN, ex->comm, &req[0]) ? CASK_EIO
                                                                                        : wait_sleeping(&req[0], cancel);
  if (!e && a->lowest != INT_MAX) {
    if (MPI_Ibcast(&a->code, 1, MPI_INT, a->lowest, ex->comm, &req[1]) ||
        MPI_Ibcast(a->msg, sizeof a->msg, MPI_CHAR, a->lowest, ex->comm, &req[2]))
      e = CASK_EIO;
    if (!e) e = wait_sleeping(&req[1], cancel);
    if (!e) e = wait_sleeping(&req[2], cancel);
  }
  if (e == CASK_ECANCELED) { /* a is leaked: MPI may still write it */
    ex->broken = 1;
    if (!rc) rc = CASK_ECANCELED, cask__fmt(msg, cap, "the run was canceled");
    char local[CASK__RUN_ERRMSG_CAP];
    cask__fmt(local, sizeof local, "%s", msg);
    cask__fmt(msg, cap, "%s (rank %d: canceled, and the ranks did not all agree within %llu ms: one may have died)",
              local, ex->pub.rank, AGREE_CANCELED_NS / 1000000);
    return rc;
  }
  if (e) MPI_Abort(ex->comm, 1);
  int code = CASK_OK;
  if (a->lowest != INT_MAX) {
    a->msg[sizeof a->msg - 1] = '\0';
    cask__fmt(msg, cap, "%s", a->msg);
    code = a->code;
  }
  free(a);
  return code;
}

int cask__mpi_run_graph(cask_executor *pub, cask_runtime *rt, cask_graph *g, const cask_run_options *opts,
                        cask_results **out) {
  cask__mpi_exec *ex = (cask__mpi_exec *)pub;
  *out = NULL;
  memset(&ex->st, 0, sizeof ex->st);
  char *msg = rt->errmsg;
  size_t cap = sizeof rt->errmsg;
  msg[0] = '\0';
  cask__mpi_run m = {.ex = ex, .rank = pub->rank, .nranks = pub->nranks, .rt = rt, .full = g, .split = split_limit()};
  cask_memory_stats ms;
  cask_runtime_memory(rt, &ms);
  m.budget = ms.limit == CASK_MEMORY_UNLIMITED ? INT64_MAX : (int64_t)(ms.limit / 4);
  if (ex->broken) {
    cask__fmt(msg, cap, "rank %d: an earlier run on this MPI executor was canceled while a rank did not answer: "
              "its communicator cannot be used again", pub->rank);
    return CASK_ECANCELED;
  }
  atomic_store(&rt->cancel_seen, 0); /* a cancel from now on counts (agree; cask run's watcher cancels again) */
  int rc = check_digests(ex, g, msg, cap);
  if (rc) return rc; /* every rank knows: no agreement needed */
  int tag_ub = 0, *ub = NULL, flag = 0;
  MPI_Comm_get_attr(ex->comm, MPI_TAG_UB, &ub, &flag);
  if (flag && ub) tag_ub = *ub;
  if ((rc = cask_plan_new(g, pub->nranks, pub->rank, &m.plan))) /* a part: without the broadcast walk */
    cask__fmt(msg, cap, "rank %d: planning: %s", pub->rank, cask_graph_errmsg(g));
  else if ((rc = cask__mpi_local_graph(&m)) || (rc = receive_priorities(&m)))
    cask__fmt(msg, cap, "%s", m.errmsg);
  else if (m.most_tag > tag_ub) {
    cask__fmt(msg, cap, "rank %d: its transfers need MPI tags up to %d; this MPI allows %d", pub->rank, m.most_tag, tag_ub);
    rc = CASK_ETOOBIG;
  }
  else if ((rc = cask__remote_init(&m.remote, rt, m.held, m.nrecvs)))
    cask__fmt(msg, cap, "rank %d: out of memory", pub->rank);
  else
    m.remote.on_room = cask__mpi_room_freed, m.remote.room_ctx = &m; /* wakes the comm thread */
  int started = 0, inited = !rc, ended = 0;
  if (!rc && !(m.abort_reqs = malloc((size_t)pub->nranks * sizeof *m.abort_reqs))) {
    rc = CASK_ENOMEM;
    cask__fmt(msg, cap, "rank %d: out of memory", pub->rank);
  }
  for (int r = 0; !rc && r < pub->nranks; r++) m.abort_reqs[r] = MPI_REQUEST_NULL;
  uv_thread_t comm_thread;
  /* collective from here: every rank must know that every rank could plan */
  if (!all_ok(pub, rc == 0) && !rc) {
    rc = CASK_EINVAL;
    cask__fmt(msg, cap, "rank %d: another rank could not plan its part", pub->rank);
  } else if (!rc) {
    rc = check_balance(&m, msg, cap); /* every rank is here: the same sum on all */
  }
  /* a trace when rank 0 asks (its path names the file: trace.c); the
   * other ranks' paths are ignored: with "any rank" a path on rank 1 alone
   * made every rank record and nothing was written. Times from here, a
   * moment the ranks share within a broadcast */
  int tracing = opts && opts->trace_path;
  MPI_Bcast(&tracing, 1, MPI_INT, 0, ex->comm);
  uint64_t base = cask__now_ns();
  m.tracing = tracing;
  if (inited) m.remote.trace_by_caller = 1;
  if (!rc) {
    uv_mutex_init(&m.mu);
    uv_mutex_init(&m.poll_mu);
    uv_cond_init(&m.cv);
    atomic_init(&m.moved_at, 0);
    m.remote.progress = cask__mpi_progress, m.remote.progress_ctx = &m; /* workers poll too: comm.c */
    m.remote.parking = cask__mpi_parking;
    atomic_init(&m.worker_polled_at, 0);
    MPI_Comm_dup(ex->comm, &m.comm); /* collective: this run's messages never meet another's */
    MPI_Comm_dup(ex->comm, &m.hcomm); /* headers apart from data: comm.c */
    cask__mpi_comm_start(&m); /* (no other thread calls MPI yet) */
    if (uv_thread_create(&comm_thread, cask__mpi_comm_main, &m)) {
      /* the others wait for this rank's blocks: end the job */
      fprintf(stderr, "cask: rank %d: cannot start the communication thread\n", pub->rank);
      MPI_Abort(ex->comm, 1);
    }
    started = 1;
  }
  cask_results *res = NULL;
  if (started) {
    cask_run_options o = opts ? *opts : (cask_run_options)CASK_RUN_OPTIONS_DEFAULTS;
    /* the run records its events (any path) and trace.c writes them */
    o.trace_path = tracing ? "(the MPI executor's trace)" : NULL;
    rc = cask__run_with(rt, m.local, &o, &m.remote, &res);
    if (rc && !atomic_load(&m.aborted)) {
      char local[CASK__RUN_ERRMSG_CAP];
      cask__fmt(local, sizeof local, "%s", rt->errmsg);
      cask__fmt(msg, cap, "rank %d: %s", pub->rank, local);
      atomic_store(&m.local_failed, 1);
    }
    uv_mutex_lock(&m.mu);
    atomic_store(&m.local_over, 1);
    uv_mutex_unlock(&m.mu);
    if (!(ended = cask__mpi_comm_end(&m))) { /* the thread ends it: wake it, wait for it */
      uv_mutex_lock(&m.mu);
      uv_cond_signal(&m.cv);
      uv_mutex_unlock(&m.mu);
      uv_thread_join(&comm_thread);
    } /* else joined at the end (it makes no MPI call) */
    int aborted = atomic_load(&m.aborted), failed = atomic_load(&m.local_failed);
    if (m.comm_error && !failed) { /* this rank's thread failed (and told the others) */
      rc = m.comm_error;
      cask__fmt(msg, cap, "%s", m.errmsg);
    } else if (aborted && !failed) { /* stopped by another rank's failure (agree names it) */
      rc = CASK_ECANCELED;
    } else if (!rc && (m.sends_done != m.planned_sends || m.recvs_done != m.nrecvs)) {
      rc = CASK_EINVAL;
      cask__fmt(msg, cap, "internal error: rank %d sent %zu blocks of %zu planned and received %zu of %zu", pub->rank,
                m.sends_done, m.planned_sends, m.recvs_done, m.nrecvs);
    }
  }
  /* the results' ids in the whole graph before the agreement: a rank
   * failing here (out of memory) must fail every rank */
  if (!rc && res && (rc = cask__results_rebase(res, g, m.to_global)))
    cask__fmt(msg, cap, "rank %d: out of memory collecting results", pub->rank);
  /* Every rank gets here (a failed one told the others), so the agreement
   * is a plain collective. A rank cancelled by another reports it with a
   * code above every other, so the failing rank's message wins. */
  int mine = rc;
  if (rc == CASK_ECANCELED && atomic_load(&m.aborted) && !atomic_load(&m.local_failed) && !m.comm_error)
    mine = 0; /* not a cause */
  int agreed = agree(ex, mine, msg, cap, &rt->cancel_seen);
  if (!agreed && rc) agreed = rc, cask__fmt(msg, cap, "rank %d: the run was canceled", pub->rank);
  if (!agreed) gather_stats(ex, &m, rt);
  if (!agreed && tracing && (agreed = cask__mpi_write_trace(&m, opts ? opts->trace_path : NULL, base, msg, cap)))
    rc = agreed;
  if (started && !ex->broken) {
    MPI_Comm_free(&m.comm);
    MPI_Comm_free(&m.hcomm);
  }
  if (ended) uv_thread_join(&comm_thread); /* it makes no MPI call (cask__mpi_comm_end) */
  if (started) {
    uv_cond_destroy(&m.cv);
    uv_mutex_destroy(&m.poll_mu);
    uv_mutex_destroy(&m.mu);
  }
  if (inited) cask__remote_destroy(&m.remote);
  if (agreed) cask_results_free(res);
  else *out = res;
  free_run(&m);
  return agreed;
}

/* ---- gathering outputs ---------------------------------------------------------- */

typedef struct gather_head {
  uint32_t id;
  uint32_t pad;
  cask__mpi_header h;
} gather_head;

static int send_bytes(const char *p, int64_t n, int to, MPI_Comm comm) {
  for (int64_t off = 0; off < n; off += INT_MAX / 2) {
    int len = (int)(n - off < INT_MAX / 2 ? n - off : INT_MAX / 2);
    if (MPI_Send(p + off, len, MPI_BYTE, to, 1, comm) != MPI_SUCCESS) return CASK_EIO;
  }
  return CASK_OK;
}

static int recv_bytes(char *p, int64_t n, int from, MPI_Comm comm) {
  for (int64_t off = 0; off < n; off += INT_MAX / 2) {
    int len = (int)(n - off < INT_MAX / 2 ? n - off : INT_MAX / 2);
    if (MPI_Recv(p + off, len, MPI_BYTE, from, 1, comm, MPI_STATUS_IGNORE) != MPI_SUCCESS) return CASK_EIO;
  }
  return CASK_OK;
}

static int by_first(const void *a, const void *b) {
  uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
  return x < y ? -1 : x > y;
}

/* The root cannot take a rank's blocks: the senders would wait in MPI_Send
 * forever and there is no way to tell them (they only send): end the job
 * (MPI_Abort) with a message rather than hang. */
static void gather_oom(cask__mpi_exec *ex, int from) {
  fprintf(stderr, "cask: cask_mpi_gather_results: rank %d: out of memory taking rank %d's blocks: ending the job\n",
          ex->pub.rank, from);
  MPI_Abort(ex->comm, 1);
}

/* Root: each other rank's count, then per block a head and its bytes
 * (ranks in order, point to point: outputs gathered this way are small). */
int cask_mpi_gather_results(cask_executor *pub, cask_results *res, int root) {
  if (!pub || !res || root < 0 || root >= pub->nranks) return CASK_EINVAL;
  cask__mpi_exec *ex = (cask__mpi_exec *)pub;
  if (ex->broken) return CASK_ECANCELED;
  int rc = CASK_OK;
  if (pub->rank != root) {
    uint64_t n = res->n;
    if (MPI_Send(&n, 1, MPI_UINT64_T, root, 1, ex->comm) != MPI_SUCCESS) return CASK_EIO;
    for (size_t i = 0; i < res->n && !rc; i++) {
      const cask_block *b = res->blocks[i];
      gather_head gh = {.id = res->ids[i]};
      gh.h.dtype = (int32_t)cask_block_dtype(b), gh.h.ndim = cask_block_ndim(b);
      gh.h.nbytes = (int64_t)cask_block_nbytes(b);
      memcpy(gh.h.shape, cask_block_shape(b), sizeof gh.h.shape[0] * (size_t)gh.h.ndim);
      if (MPI_Send(&gh, sizeof gh, MPI_BYTE, root, 1, ex->comm) != MPI_SUCCESS) rc = CASK_EIO;
      else rc = send_bytes(cask_block_data(b), gh.h.nbytes, root, ex->comm);
    }
    for (size_t i = 0; i < res->n; i++) cask_block_release(res->blocks[i]);
    res->n = 0;
    return rc;
  }
  for (int r = 0; r < pub->nranks; r++) {
    if (r == root) continue;
    uint64_t n = 0;
    if (MPI_Recv(&n, 1, MPI_UINT64_T, r, 1, ex->comm, MPI_STATUS_IGNORE) != MPI_SUCCESS) return CASK_EIO;
    uint32_t *ids = cask__realloc(res->ids, (res->n + n + 1) * sizeof *ids);
    if (ids) res->ids = ids;
    cask_block **blocks = cask__realloc(res->blocks, (res->n + n + 1) * sizeof *blocks);
    if (blocks) res->blocks = blocks;
    if (!ids || !blocks) gather_oom(ex, r); /* ends the job */
    for (uint64_t i = 0; i < n; i++) {
      gather_head gh;
      cask_block *b = NULL;
      if (MPI_Recv(&gh, sizeof gh, MPI_BYTE, r, 1, ex->comm, MPI_STATUS_IGNORE) != MPI_SUCCESS) return CASK_EIO;
      if (gh.h.ndim < 0 || gh.h.ndim > CASK_MAX_NDIM || cask_block_new((cask_dtype)gh.h.dtype, gh.h.ndim, gh.h.shape, &b))
        gather_oom(ex, r);
      if ((rc = recv_bytes(cask_block_data(b), gh.h.nbytes, r, ex->comm))) {
        cask_block_release(b);
        return rc;
      }
      res->ids[res->n] = gh.id;
      res->blocks[res->n++] = b;
    }
  }
  /* ids ascending again: sort (id, block) pairs */
  struct pair {
    uint32_t id;
    cask_block *b;
  } *pairs = cask__malloc((res->n ? res->n : 1) * sizeof *pairs);
  if (!pairs) return CASK_ENOMEM;
  for (size_t i = 0; i < res->n; i++) pairs[i] = (struct pair){res->ids[i], res->blocks[i]};
  qsort(pairs, res->n, sizeof *pairs, by_first);
  for (size_t i = 0; i < res->n; i++) res->ids[i] = pairs[i].id, res->blocks[i] = pairs[i].b;
  cask__free(pairs);
  return CASK_OK;
}
