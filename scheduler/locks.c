/* locks.c - the one per-thread set of scheduler locks held, which the
 * lock-order checks of debug builds read (locks.h); nothing otherwise. */
#include "locks.h"

#ifdef CASK_DEBUG_ASSERTS
_Thread_local unsigned cask__locks_held;
#endif
