/* distributed.h - running one task graph on many processes (ranks): which
 * rank runs each task (placement), what one rank runs, sends and receives
 * (its plan), and a digest of the graph that the ranks compare before they
 * start (docs/distributed.md).
 *
 * Every rank builds the same graph; placement is a function of the graph
 * and the rank count alone, so each rank computes the same owners without
 * talking to the others. Nothing here uses MPI: a plan for rank R of K can
 * be made in one process (`cask run --plan-ranks K --plan-rank R`), which
 * is how plans for a thousand ranks are checked without a cluster.
 * The functions here are not thread-safe on the same graph (they validate
 * and order it, as cask_graph_optimize does); different graphs may be
 * planned on different threads. */
#ifndef CASK_DISTRIBUTED_H
#define CASK_DISTRIBUTED_H

#include <stddef.h>
#include <stdint.h>

#include "cask/export.h"
#include "cask/graph.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The most ranks a plan may have. */
#define CASK_MAX_RANKS (1 << 20)

/* ---- placement ---------------------------------------------------------- */

/* The owner (0..nranks-1) of every task of g, in owner[0..ntasks-1]
 * (caller's array of cask_graph_size(g) entries). Owner-computes:
 * - tasks without inputs (roots) are taken in the graph's static order
 *   (priorities; g is ordered if it was not) and split into nranks
 *   contiguous runs of equal count (the first ntasks % nranks runs one
 *   longer): the static order finishes one output block's subtree before
 *   the next, so neighbouring roots feed the same tasks;
 * - a task with inputs goes to the rank holding most of its input bytes
 *   (declared sizes, cask_graph_set_size; an undeclared size counts as the
 *   largest declared one among the task's inputs, or 1 when none is), the
 *   lowest such rank on a tie. Elementwise results follow their
 *   inputs, a reduction's partials follow their blocks, and each combine
 *   of a reduction tree is placed by where its inputs are, which is fixed
 *   by block indices, never by arrival;
 * - a task with a placement hint (cask_graph_set_place) takes its rank;
 * - a broadcast (a task read by two or more that carries more than the
 *   longest run's share of the roots, e.g. a mean over all blocks) does
 *   not vote, and tasks reading only broadcasts are split over the runs of
 *   the roots their broadcast is made from, like roots.
 * docs/distributed.md, "Placement", has the rules and their reasons.
 * Validates g: its errors (CASK_EMISSINGDEP, CASK_ECYCLE, ...). nranks
 * outside 1..CASK_MAX_RANKS: CASK_EINVAL with the graph's message saying so. */
CASK_API int cask_graph_place(cask_graph *g, int nranks, int *owner);

/* ---- one rank's plan ---------------------------------------------------- */

typedef struct cask_plan cask_plan;

/* A block that moves: the task that makes it, the other rank (destination
 * of a send, source of a receive) and its declared bytes (-1: unknown). */
typedef struct cask_transfer {
  cask_task_id task;
  int peer;
  int64_t nbytes;
} cask_transfer;

typedef struct cask_plan_stats {
  int nranks, rank;
  size_t ntasks;         /* tasks of the graph */
  size_t nlocal;         /* tasks this rank runs */
  size_t nsends, nrecvs; /* blocks it sends (one per block and destination)
                            and receives (one per block) */
  int64_t bytes_sent, bytes_received; /* declared sizes, unknown ones as 0 */
  size_t unsized;        /* transfers of blocks without a declared size */
  double place_seconds;  /* placing every task (validation and order included) */
  double plan_seconds;   /* placement plus this rank's lists */
  uint64_t digest;       /* cask_graph_digest of the graph */
} cask_plan_stats;

/* Rank `rank`'s part of the plan of g on nranks ranks: the tasks it runs
 * (in the static order), its sends (each block to each other rank that
 * needs it, once, in the producer's static order, then by destination)
 * and its receives (each block it needs from elsewhere, once, in the static
 * order of the producer). Sends of rank a to b are exactly the receives
 * of b from a. g must not change while the plan is used (the plan names
 * its task ids). Free with cask_plan_free (NULL is a no-op).
 * Errors: those of cask_graph_place; CASK_EINVAL when rank is not in
 * 0..nranks-1; CASK_ENOMEM. */
CASK_API int cask_plan_new(cask_graph *g, int nranks, int rank, cask_plan **out);
/* Placement without the broadcast rule: no task is a broadcast and none is
 * grouped; roots without hints go in runs, hinted tasks by their hints, the
 * others by the majority of all their inputs. For one rank's part of a
 * graph (docs/flat-planning.md), where the shares the rule needs are not
 * known; on a graph without broadcasts (or K = 1) it changes nothing. */
#define CASK_PLAN_NO_BROADCAST 1u
/* cask_plan_new with flags: 0 or CASK_PLAN_NO_BROADCAST (another bit:
 * CASK_EINVAL, with the graph's message naming it). A rank's part
 * (cask_arrays_graph_part, cask_store_graph) is always planned without
 * the broadcast rule, by cask_plan_new too, and only as its rank of its
 * rank count (others: CASK_EINVAL). */
CASK_API int cask_plan_new_flags(cask_graph *g, int nranks, int rank, unsigned flags, cask_plan **out);
CASK_API void cask_plan_free(cask_plan *p);
/* Counts, bytes, times and the digest. */
CASK_API void cask_plan_get_stats(const cask_plan *p, cask_plan_stats *st);
/* The plan's arrays, valid until cask_plan_free; *n receives the count. */
CASK_API const cask_task_id *cask_plan_tasks(const cask_plan *p, size_t *n);
CASK_API const cask_transfer *cask_plan_sends(const cask_plan *p, size_t *n);
CASK_API const cask_transfer *cask_plan_recvs(const cask_plan *p, size_t *n);
/* The owner of every task (cask_graph_place's answer), ntasks entries. */
CASK_API const int *cask_plan_owners(const cask_plan *p);

/* ---- digests: do all ranks hold the same graph? -------------------------- */

/* A 64-bit hash per task of its key, op name, arguments, dependency keys,
 * output mark and declared size, in out[0..ntasks-1]. Arguments of cask's
 * private ops (which hold addresses valid in one process only) count by
 * their length; a fused task counts by the ops, keys and arguments it
 * holds. Validates g. */
CASK_API int cask_graph_task_digests(cask_graph *g, uint64_t *out);
/* One hash of the task count and every task digest in task order. */
CASK_API int cask_graph_digest(cask_graph *g, uint64_t *out);
/* The first index where two vectors of task digests differ (the shorter
 * length when one is a prefix of the other), or SIZE_MAX when they are
 * equal. What ranks run on the vectors they exchange. */
CASK_API size_t cask_digests_first_difference(const uint64_t *a, size_t na, const uint64_t *b, size_t nb);
/* Compare two graphs: 0 when their digests are equal, 1 when they differ,
 * with msg (cap bytes, may be NULL) naming the first differing task:
 * "task 12 differs: 'sum-00ab..-0' (op array.combine) against 'sum-..'";
 * a negative error when either graph is invalid. */
CASK_API int cask_graph_compare(cask_graph *a, cask_graph *b, char *msg, size_t cap);

#ifdef __cplusplus
}
#endif
#endif
