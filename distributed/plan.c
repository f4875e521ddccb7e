/* plan.c - one rank's part of the plan: the tasks it runs, the blocks it
 * sends and the blocks it receives.
 * The one thing to know: both lists are made by one walk over producers in
 * the static order, so a rank's sends to b and b's receives from it come
 * in the same order on both sides (an executor can match them by that
 * order), and each (block, destination) appears once however many of the
 * destination's tasks read the block. A rank's partial graph (ghosts:
 * graph/graph-int.h) plans by the same walk: a ghost producer on rank Q
 * that a task here reads is a receive from Q, a ghost reader on Q of a
 * task here a send to Q. */
#include "dist-int.h"

struct cask_plan {
  cask_plan_stats st;
  int *owner;
  cask_task_id *tasks;
  cask_transfer *sends, *recvs;
  size_t tasks_cap, sends_cap, recvs_cap;
};

static int push_transfer(cask_transfer **a, size_t *n, size_t *cap, cask_task_id t, int peer, int64_t nbytes) {
  if (cask__grow((void **)a, cap, *n + 1, sizeof **a)) return CASK_ENOMEM;
  (*a)[(*n)++] = (cask_transfer){t, peer, nbytes};
  return CASK_OK;
}

static void count_bytes(int64_t nbytes, int64_t *sum, size_t *unsized) {
  if (nbytes >= 0) *sum += nbytes;
  else (*unsized)++;
}

/* Sends of block t (owned here) to every other rank running a consumer of
 * it, once each, by destination. stamp[r] == t + 1: already sent to r. */
static int add_sends(cask_plan *p, const cask_graph *g, uint32_t t, uint32_t *stamp) {
  size_t first = p->st.nsends;
  int64_t nbytes = g->tasks[t].size;
  for (uint32_t k = g->succ_off[t]; k < g->succ_off[t + 1]; k++) {
    int r = p->owner[g->succ[k]];
    if (r == p->st.rank || stamp[r] == t + 1) continue;
    stamp[r] = t + 1;
    if (push_transfer(&p->sends, &p->st.nsends, &p->sends_cap, t, r, nbytes)) return CASK_ENOMEM;
    count_bytes(nbytes, &p->st.bytes_sent, &p->st.unsized);
  }
  for (size_t i = first + 1; i < p->st.nsends; i++) /* few destinations: insertion sort */
    for (size_t k = i; k > first && p->sends[k - 1].peer > p->sends[k].peer; k--) {
      cask_transfer x = p->sends[k];
      p->sends[k] = p->sends[k - 1], p->sends[k - 1] = x;
    }
  return CASK_OK;
}

/* A receive of block t (owned elsewhere) when a task here reads it. */
static int add_recv(cask_plan *p, const cask_graph *g, uint32_t t) {
  for (uint32_t k = g->succ_off[t]; k < g->succ_off[t + 1]; k++) {
    if (p->owner[g->succ[k]] != p->st.rank) continue;
    int64_t nbytes = g->tasks[t].size;
    count_bytes(nbytes, &p->st.bytes_received, &p->st.unsized);
    return push_transfer(&p->recvs, &p->st.nrecvs, &p->recvs_cap, t, p->owner[t], nbytes);
  }
  return CASK_OK;
}

static int make_lists(cask_plan *p, const cask_graph *g, const uint32_t *order) {
  uint32_t *stamp = cask__calloc((size_t)p->st.nranks, sizeof *stamp);
  int rc = stamp ? CASK_OK : CASK_ENOMEM;
  for (size_t i = 0; !rc && i < p->st.ntasks; i++) {
    uint32_t t = order[i];
    if (p->owner[t] != p->st.rank) {
      rc = add_recv(p, g, t);
      continue;
    }
    if (cask__grow((void **)&p->tasks, &p->tasks_cap, p->st.nlocal + 1, sizeof *p->tasks)) rc = CASK_ENOMEM;
    else p->tasks[p->st.nlocal++] = t, rc = add_sends(p, g, t, stamp);
  }
  cask__free(stamp);
  return rc;
}

_Static_assert(CASK_PLAN_NO_BROADCAST == CASK__PLACE_NO_BROADCAST, "plan and placement flags differ");

int cask_plan_new_flags(cask_graph *g, int nranks, int rank, unsigned flags, cask_plan **out) {
  if (!g || !out) return CASK_EINVAL;
  *out = NULL;
  if (nranks >= 1 && (rank < 0 || rank >= nranks)) {
    cask__fmt(g->errmsg, sizeof g->errmsg, "plan: rank %d is not one of the ranks 0 to %d", rank, nranks - 1);
    return CASK_EINVAL;
  }
  /* a part (cask_arrays_graph_part) holds one rank's tasks and its
   * neighbours as ghosts: planned as another rank or rank count, it would
   * give a plan of nothing real, without a word */
  if (g->part_ranks && (g->part_ranks != nranks || g->part_rank != rank)) {
    cask__fmt(g->errmsg, sizeof g->errmsg, "plan: the graph is rank %d's part of %d ranks (cask_arrays_graph_part), "
              "not rank %d's of %d: plan it as rank %d of %d", g->part_rank, g->part_ranks, rank, nranks, g->part_rank,
              g->part_ranks);
    return CASK_EINVAL;
  }
  if (g->part_ranks) flags |= CASK_PLAN_NO_BROADCAST; /* a part cannot see the whole graph's shares */
  uint64_t t0 = cask__now_ns();
  cask_plan *p = cask__calloc(1, sizeof *p);
  uint32_t *order = NULL;
  if (!p || !(p->owner = cask__malloc((g->ntasks ? g->ntasks : 1) * sizeof *p->owner))) {
    cask_plan_free(p);
    cask__fmt(g->errmsg, sizeof g->errmsg, "plan: out of memory for %zu tasks", g->ntasks);
    return CASK_ENOMEM;
  }
  int rc = cask__place_opts(g, nranks, p->owner, &order, flags);
  uint64_t t1 = cask__now_ns();
  p->st.nranks = nranks, p->st.rank = rank, p->st.ntasks = g->ntasks;
  if (!rc && (rc = make_lists(p, g, order)))
    cask__fmt(g->errmsg, sizeof g->errmsg, "plan: out of memory for rank %d's lists", rank);
  uint64_t t2 = cask__now_ns();
  /* the digest is what ranks compare before running, not part of planning */
  if (!rc) rc = cask_graph_digest(g, &p->st.digest);
  cask__free(order);
  if (rc) {
    cask_plan_free(p);
    return rc;
  }
  p->st.place_seconds = (double)(t1 - t0) * 1e-9;
  p->st.plan_seconds = (double)(t2 - t0) * 1e-9;
  *out = p;
  return CASK_OK;
}

int cask_plan_new(cask_graph *g, int nranks, int rank, cask_plan **out) {
  return cask_plan_new_flags(g, nranks, rank, 0, out);
}

void cask_plan_free(cask_plan *p) {
  if (!p) return;
  cask__free(p->owner);
  cask__free(p->tasks);
  cask__free(p->sends);
  cask__free(p->recvs);
  cask__free(p);
}

void cask_plan_get_stats(const cask_plan *p, cask_plan_stats *st) { *st = p->st; }

const cask_task_id *cask_plan_tasks(const cask_plan *p, size_t *n) {
  *n = p->st.nlocal;
  return p->tasks;
}

const cask_transfer *cask_plan_sends(const cask_plan *p, size_t *n) {
  *n = p->st.nsends;
  return p->sends;
}

const cask_transfer *cask_plan_recvs(const cask_plan *p, size_t *n) {
  *n = p->st.nrecvs;
  return p->recvs;
}

const int *cask_plan_owners(const cask_plan *p) { return p->owner; }
