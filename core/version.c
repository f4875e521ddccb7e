/* version.c - the run-time version. */
#include "internal.h"

#define CASK__STR2(x) #x
#define CASK__STR(x) CASK__STR2(x)

unsigned cask_version(void) { return CASK_VERSION_HEX; }
const char *cask_version_string(void) {
  return CASK__STR(CASK_VERSION_MAJOR) "." CASK__STR(CASK_VERSION_MINOR) "." CASK__STR(CASK_VERSION_PATCH);
}
