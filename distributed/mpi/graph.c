/* graph.c - the graph one rank runs: its own tasks (copied from the whole
 * graph: key, op, arguments, size, output mark), a root task per block it
 * receives, whose op hands over the block the communication thread made,
 * and a send task after each block other ranks need, whose op gives the
 * block to the communication thread. The scheduler then runs an ordinary
 * graph; the received roots are held back until their block arrives
 * (scheduler/remote.h). */
#include <stdio.h>
#include <stdlib.h>

#include "mpi-int.h"

typedef struct xfer_args {
  uintptr_t run; /* an address: the ops are private to this process */
  uint32_t index;
  uint32_t pad;
} xfer_args;

static const cask_op *op_recv, *op_send;

static void read_args(const cask_task_io *io, cask__mpi_run **m, uint32_t *i) {
  xfer_args a;
  memcpy(&a, io->args, sizeof a);
  *m = (cask__mpi_run *)a.run;
  *i = a.index;
}

/* The block arrived before this task was queued (remote.h): hand it over. */
static int recv_run(cask_task_io *io) {
  cask__mpi_run *m;
  uint32_t i;
  read_args(io, &m, &i);
  io->output = m->recvs[i].block;
  m->recvs[i].block = NULL;
  /* still counted as received (remote.h): the worker counts it out once
   * its slot has counted it in (run.c, cask__remote_taken) */
  return CASK_OK;
}

/* Queue the block for the communication thread, which sends it to every
 * rank that needs it and then releases it. Its bytes count against the
 * memory limit until then (remote.h), also after the producer's last local
 * use freed the slot's reference: MPI reads the block, which can be
 * neither spilled nor freed. */
static int send_run(cask_task_io *io) {
  cask__mpi_run *m;
  uint32_t i;
  read_args(io, &m, &i);
  m->sends[i].block = io->ninputs ? cask_block_retain(io->inputs[0]) : NULL;
  if (m->sends[i].block) cask__remote_send_hold(&m->remote, (int64_t)cask_block_nbytes(m->sends[i].block));
  uv_mutex_lock(&m->mu);
  m->outbox[m->nout++] = i;
  uv_mutex_unlock(&m->mu);
  /* posted now unless the thread or a worker is polling; only then is the
   * thread woken (it checks the outbox before each wait, so a poll of its
   * under way sees the block): a wake-up per send made the thread take
   * the core from a worker once per step of a chain across ranks */
  cask__mpi_progress(m);
  uv_mutex_lock(&m->mu);
  if (m->nout) uv_cond_signal(&m->cv);
  uv_mutex_unlock(&m->mu);
  return CASK_OK;
}

static void reg(void) {
  cask__op_register_private(&(cask_op){.name = "cask.mpi_recv", .run = recv_run, .args_size = sizeof(xfer_args)}, &op_recv);
  cask__op_register_private(&(cask_op){.name = "cask.mpi_send", .run = send_run, .args_size = sizeof(xfer_args)}, &op_send);
}

void cask__mpi_register_ops(void) {
  static uv_once_t once = UV_ONCE_INIT;
  uv_once(&once, reg);
}

/* Whether task v's block is kept in the whole graph. */
static int kept(const cask_graph *g, uint32_t v) { return cask__is_kept(g, v); }

static int add(cask__mpi_run *m, const char *key, const cask_op *op, const void *args, size_t len,
               const cask_task_id *deps, size_t ndeps, int64_t size, uint32_t gid) {
  cask_task_id id;
  int rc = cask__graph_add(m->local, key, op, args, len, deps, ndeps, &id); /* fused and private ops too */
  if (rc) return rc;
  if (size >= 0) cask_graph_set_size(m->local, id, size);
  m->to_global[id] = gid;
  return CASK_OK;
}

typedef struct pair_item {
  int peer;
  uint32_t at; /* index into the plan's list */
  uint64_t wire;
} pair_item;

static int by_peer_wire(const void *x, const void *y) {
  const pair_item *a = x, *b = y;
  if (a->peer != b->peer) return a->peer < b->peer ? -1 : 1;
  return (a->wire > b->wire) - (a->wire < b->wire);
}

static int by_wire(const void *x, const void *y) {
  const cask__mpi_wire *a = x, *b = y;
  return (a->wire > b->wire) - (a->wire < b->wire);
}

/* Numbers the transfers of list t (n, to or from their peers) 0, 1, ...
 * per peer in the order of their wires into tag[at] (2 i + 3); the peer's
 * list holds the same blocks, so both number them alike. Two blocks of
 * one wire (two keys of one 64-bit hash) to one peer are refused. */
static int number_by_peer(cask__mpi_run *m, const cask_graph *g, const cask_transfer *t, size_t n, int *tag,
                          int *most) {
  pair_item *it = cask__malloc((n ? n : 1) * sizeof *it);
  if (!it) return CASK_ENOMEM;
  for (size_t i = 0; i < n; i++) it[i] = (pair_item){t[i].peer, (uint32_t)i, g->tasks[t[i].task].hash};
  qsort(it, n, sizeof *it, by_peer_wire);
  int rc = CASK_OK;
  for (size_t i = 0, first = 0; i < n; i++) {
    if (i && it[i].peer != it[i - 1].peer) first = i;
    if (i > first && it[i].wire == it[i - 1].wire) {
      cask__fmt(m->errmsg, sizeof m->errmsg, "rank %d: blocks '%s' and '%s' to or from rank %d have one key hash",
                m->rank, cask__key(g, t[it[i].at].task), cask__key(g, t[it[i - 1].at].task), it[i].peer);
      rc = CASK_EINVAL;
      break;
    }
    tag[it[i].at] = CASK__MPI_TAG_DATA(i - first);
    if (tag[it[i].at] > *most) *most = tag[it[i].at];
  }
  cask__free(it);
  return rc;
}

/* The wires and tags of the rank's transfers, and its receives by wire
 * (comm.c finds a header's block there). */
static int number_transfers(cask__mpi_run *m, const cask_graph *g, const cask_transfer *recvs, size_t nr,
                            const cask_transfer *sends, size_t ns) {
  int *rtag = cask__malloc((nr ? nr : 1) * sizeof *rtag);
  m->send_tags = cask__malloc((ns ? ns : 1) * sizeof *m->send_tags);
  m->recv_by_wire = cask__malloc((nr ? nr : 1) * sizeof *m->recv_by_wire);
  int rc = rtag && m->send_tags && m->recv_by_wire ? CASK_OK : CASK_ENOMEM;
  if (!rc) rc = number_by_peer(m, g, recvs, nr, rtag, &m->most_tag);
  if (!rc) rc = number_by_peer(m, g, sends, ns, m->send_tags, &m->most_tag);
  for (size_t i = 0; !rc && i < nr; i++) {
    m->recvs[i].wire = g->tasks[recvs[i].task].hash, m->recvs[i].tag = rtag[i];
    m->recv_by_wire[i] = (cask__mpi_wire){m->recvs[i].wire, (uint32_t)i};
  }
  if (!rc) qsort(m->recv_by_wire, nr, sizeof *m->recv_by_wire, by_wire);
  for (size_t i = 1; !rc && i < nr; i++)
    if (m->recv_by_wire[i].wire == m->recv_by_wire[i - 1].wire) {
      cask__fmt(m->errmsg, sizeof m->errmsg, "rank %d: received blocks '%s' and '%s' have one key hash", m->rank,
                cask__key(g, m->recvs[m->recv_by_wire[i].index].gid), cask__key(g, m->recvs[m->recv_by_wire[i - 1].index].gid));
      rc = CASK_EINVAL;
    }
  cask__free(rtag);
  return rc;
}

int cask__mpi_local_graph(cask__mpi_run *m) {
  cask__mpi_register_ops();
  cask_graph *g = m->full;
  size_t nt, nr, ns;
  const cask_task_id *tasks = cask_plan_tasks(m->plan, &nt);
  const cask_transfer *recvs = cask_plan_recvs(m->plan, &nr);
  const cask_transfer *sends = cask_plan_sends(m->plan, &ns);
  /* one send record per producer: the plan lists a producer's
   * destinations together */
  size_t nprod = 0;
  for (size_t i = 0; i < ns; i++) nprod += i == 0 || sends[i].task != sends[i - 1].task;
  size_t nlocal = nt + nr + nprod;
  uint32_t *loc = cask__malloc((g->ntasks ? g->ntasks : 1) * sizeof *loc);
  cask_task_id *deps = NULL;
  size_t deps_cap = 0;
  m->to_global = cask__malloc((nlocal ? nlocal : 1) * sizeof *m->to_global);
  m->held = cask__calloc(nlocal ? nlocal : 1, 1);
  m->recvs = cask__calloc(nr ? nr : 1, sizeof *m->recvs);
  m->sends = cask__calloc(nprod ? nprod : 1, sizeof *m->sends);
  m->hdrs = calloc(nprod ? nprod : 1, sizeof *m->hdrs); /* plain calloc: may be leaked on purpose (free_run) */
  m->outbox = cask__malloc((nprod ? nprod : 1) * sizeof *m->outbox);
  m->deferred = cask__malloc((nr ? nr : 1) * sizeof *m->deferred);
  int rc = CASK_ENOMEM;
  if (!loc || !m->to_global || !m->held || !m->recvs || !m->sends || !m->hdrs || !m->outbox || !m->deferred ||
      cask_graph_new(&m->local) ||
      cask_graph_reserve(m->local, nlocal, nlocal * 2))
    goto done;
  m->nrecvs = nr, m->nsends = nprod, m->planned_sends = ns;
  for (size_t i = 0; i < g->ntasks; i++) loc[i] = CASK__NO_TASK;
  for (size_t i = 0; i < nr; i++) {
    xfer_args a = {(uintptr_t)m, (uint32_t)i, 0};
    uint32_t gid = recvs[i].task;
    m->recvs[i] = (cask__mpi_recv){.gid = gid, .src = recvs[i].peer, .local = (uint32_t)cask_graph_size(m->local)};
    m->held[m->recvs[i].local] = 1;
    loc[gid] = m->recvs[i].local;
    if ((rc = add(m, cask__key(g, gid), op_recv, &a, sizeof a, NULL, 0, g->tasks[gid].size, gid))) goto done;
  }
  for (size_t i = 0; i < nt; i++) {
    uint32_t v = tasks[i];
    const cask__task *t = &g->tasks[v];
    if (cask__grow((void **)&deps, &deps_cap, t->ndeps + 1, sizeof *deps)) {
      rc = CASK_ENOMEM;
      goto done;
    }
    for (uint32_t k = 0; k < t->ndeps; k++) {
      uint32_t d = g->dep_idx[t->deps_off + k];
      if (loc[d] == CASK__NO_TASK) { /* the plan is wrong: never run on */
        cask__fmt(m->errmsg, sizeof m->errmsg, "internal error: rank %d runs '%s' but neither runs nor receives '%s'",
                  m->rank, cask__key(g, v), cask__key(g, d));
        rc = CASK_EINVAL;
        goto done;
      }
      deps[k] = loc[d];
    }
    loc[v] = (uint32_t)cask_graph_size(m->local);
    if ((rc = add(m, cask__key(g, v), t->op, cask__args(g, v), t->args_len, deps, t->ndeps, t->size, v))) goto done;
    if (kept(g, v)) cask_graph_set_output(m->local, loc[v], 1);
  }
  if ((rc = number_transfers(m, g, recvs, nr, sends, ns))) goto done;
  char key[96];
  for (size_t i = 0, j = 0; i < ns; j++) {
    size_t e = i;
    while (e < ns && sends[e].task == sends[i].task) e++;
    uint32_t gid = sends[i].task;
    m->sends[j] = (cask__mpi_send){.gid = gid, .wire = g->tasks[gid].hash, .to = &sends[i], .ndest = (int)(e - i),
                                   .tags = m->send_tags + i, .hdr = &m->hdrs[j]};
    xfer_args a = {(uintptr_t)m, (uint32_t)j, 0};
    /* a key no task of the graph has: a user may have named one
     * "cask.mpi_send-N"; then '~' until free (never a digit: the keys of
     * two sends never meet) */
    size_t kn = (size_t)snprintf(key, sizeof key, "cask.mpi_send-%u", gid);
    cask_task_id clash;
    while (cask_graph_find(g, key, &clash) == CASK_OK && kn + 1 < sizeof key) key[kn++] = '~', key[kn] = '\0';
    if ((rc = add(m, key, op_send, &a, sizeof a, &(cask_task_id){loc[gid]}, 1, 0, CASK__NO_TASK))) goto done;
    i = e;
  }
  rc = CASK_OK;
done:
  if (rc && !m->errmsg[0])
    cask__fmt(m->errmsg, sizeof m->errmsg, "rank %d: making its graph: %s", m->rank,
              m->local && cask_graph_errmsg(m->local)[0] ? cask_graph_errmsg(m->local) : cask_strerror(rc));
  cask__free(loc);
  cask__free(deps);
  return rc;
}
