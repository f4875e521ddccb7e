/* dist-int.h - what the files of distributed/ share: placement with the
 * static order it walked, for the plan to walk again; and the placement
 * options the array library's flat planning uses. */
#ifndef CASK_DIST_INT_H
#define CASK_DIST_INT_H

#include "cask/distributed.h"
#include "../graph/graph-int.h"

/* cask_graph_place, also handing over the tasks in static order
 * (by_prio[p] = the task of priority p; ntasks entries from cask__malloc,
 * the caller frees them with cask__free). */
int cask__place(cask_graph *g, int nranks, int *owner, uint32_t **by_prio);

/* Placement options. CASK__PLACE_NO_BROADCAST: no walk for broadcasts and
 * groups (so none exist): roots without hints in runs, hinted tasks
 * (RUN, RANK, GRID, FOLLOW) by their hints, every other task by the
 * majority of all its inputs. What a rank's partial graph is placed with
 * (docs/flat-planning.md): the shares the walk needs are those of the
 * whole graph, and the fragment planned flat has no broadcast. Equal to
 * the public CASK_PLAN_NO_BROADCAST. */
#define CASK__PLACE_NO_BROADCAST 1u
/* cask__place with flags (0: cask__place); unknown flags: CASK_EINVAL. */
int cask__place_opts(cask_graph *g, int nranks, int *owner, uint32_t **by_prio, unsigned flags);

#endif
