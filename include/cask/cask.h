/* cask.h - the whole public API of cask, a task-graph runtime for chunked
 * arrays. Include this one header. */
#ifndef CASK_H
#define CASK_H

#include "cask/alloc.h"
#include "cask/array.h"
#include "cask/block.h"
#include "cask/distributed.h"
#include "cask/error.h"
#include "cask/graph.h"
#include "cask/hdf5.h"
#include "cask/linalg.h"
#include "cask/scheduler.h"
#include "cask/version.h"

#endif
