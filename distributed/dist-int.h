/* dist-int.h - what the files of distributed/ share: placement with the
 * static order it walked, for the plan to walk again. */
#ifndef CASK_DIST_INT_H
#define CASK_DIST_INT_H

#include "cask/distributed.h"
#include "../graph/graph-int.h"

/* cask_graph_place, also handing over the tasks in static order
 * (by_prio[p] = the task of priority p; ntasks entries from cask__malloc,
 * the caller frees them with cask__free). */
int cask__place(cask_graph *g, int nranks, int *owner, uint32_t **by_prio);
int cask__place_opts(cask_graph *g, int nranks, int *owner, uint32_t **by_prio, unsigned flags); /* TEMP */

#endif
