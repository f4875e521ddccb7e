/* version.h - compile-time and run-time version of cask.
 * Compare CASK_VERSION_HEX at build time with cask_version() at run time
 * to detect a header/library mismatch. */
#ifndef CASK_VERSION_H
#define CASK_VERSION_H

#include "cask/export.h"

#define CASK_VERSION_MAJOR 0
#define CASK_VERSION_MINOR 1
#define CASK_VERSION_PATCH 0
#define CASK_VERSION_HEX                                                   \
  ((CASK_VERSION_MAJOR << 16) | (CASK_VERSION_MINOR << 8) | CASK_VERSION_PATCH)

#ifdef __cplusplus
extern "C" {
#endif

/* The library's version as CASK_VERSION_HEX would give it. Thread-safe. */
CASK_API unsigned cask_version(void);
/* The same as "MAJOR.MINOR.PATCH"; a static string. Thread-safe. */
CASK_API const char *cask_version_string(void);

#ifdef __cplusplus
}
#endif
#endif
