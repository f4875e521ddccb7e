/* error.h - the one error enum of cask.
 * Every public function returns 0 (CASK_OK) or a negative code from this list.
 * Objects that can fail with context (a graph, a runtime, an array context)
 * also keep a message naming what was wrong: cask_graph_errmsg(),
 * cask_runtime_errmsg(), cask_ctx_errmsg(); a creation that failed has no
 * object to ask: cask_create_errmsg(). */
#ifndef CASK_ERROR_H
#define CASK_ERROR_H

#include "cask/export.h"

#ifdef __cplusplus
extern "C" {
#endif

/* X(name, value, text): the single list that makes the enum, cask_strerror
 * and cask_err_name. Values are stable: append only. */
#define CASK_ERRNO_MAP(X)                                                   \
  X(EINVAL, -1, "invalid argument")                                         \
  X(ENOMEM, -2, "out of memory")                                            \
  X(ECYCLE, -3, "the graph has a cycle")                                    \
  X(EMISSINGDEP, -4, "a task depends on a key that is not in the graph")    \
  X(EDUPKEY, -5, "two tasks have the same key")                             \
  X(EUNKNOWNOP, -6, "unknown op")                                           \
  X(EJSON, -7, "malformed graph JSON")                                      \
  X(EIO, -8, "input/output error")                                          \
  X(ETASK, -9, "a task failed")                                             \
  X(ECANCELED, -10, "the run was canceled")                                 \
  X(ENOTFOUND, -11, "no such key")                                          \
  X(ETOOBIG, -12, "size limit exceeded")                                    \
  X(EBUSY, -13, "resource busy")                                            \
  X(EOPEXISTS, -14, "an op of that name is already registered")             \
  X(ENOTSERIAL, -15, "the op's arguments cannot be written as JSON")        \
  X(ETHREAD, -16, "could not start a thread")                              \
  X(EFORMAT, -17, "a file is malformed or truncated")

typedef enum cask_err {
  CASK_OK = 0,
#define CASK__ERR_ENUM(name, val, text) CASK_##name = (val),
  CASK_ERRNO_MAP(CASK__ERR_ENUM)
#undef CASK__ERR_ENUM
} cask_err;

/* A sentence for the code, e.g. "the graph has a cycle"; never NULL (an
 * unknown code gives "unknown error"). Static storage. Thread-safe. */
CASK_API const char *cask_strerror(int err);
/* The code's name, e.g. "CASK_ECYCLE"; never NULL. Thread-safe. */
CASK_API const char *cask_err_name(int err);
/* The message of the last cask_runtime_new or cask_ctx_new that failed on
 * the calling thread ("" after one that succeeded): what was wrong, e.g.
 * "CASK_NUM_THREADS='abc' is not a thread count from 1 to 1024".
 * Thread-safe (one message per thread). */
CASK_API const char *cask_create_errmsg(void);

#ifdef __cplusplus
}
#endif
#endif
