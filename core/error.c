/* error.c - text and names for the error codes, generated from the one
 * X-macro list in include/cask/error.h; the message formatter; and the
 * message of a failed creation, kept per thread because there is no object
 * yet to keep it in. */
#include <stdarg.h>
#include <stdio.h>

#include "internal.h"

const char *cask_strerror(int err) {
  switch (err) {
  case CASK_OK:
    return "success";
#define CASK__ERR_TEXT(name, val, text) \
  case CASK_##name:                     \
    return text;
    CASK_ERRNO_MAP(CASK__ERR_TEXT)
#undef CASK__ERR_TEXT
  }
  return "unknown error";
}

const char *cask_err_name(int err) {
  switch (err) {
  case CASK_OK:
    return "CASK_OK";
#define CASK__ERR_NAME(name, val, text) \
  case CASK_##name:                     \
    return "CASK_" #name;
    CASK_ERRNO_MAP(CASK__ERR_NAME)
#undef CASK__ERR_NAME
  }
  return "CASK_UNKNOWN";
}

void cask__fmt(char *buf, size_t cap, const char *fmt, ...) {
  if (!buf || cap == 0) return;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf, cap, fmt, ap);
  va_end(ap);
}

static _Thread_local char create_msg[1024];

const char *cask_create_errmsg(void) { return create_msg; }

int cask__create_fail(int rc, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(create_msg, sizeof create_msg, fmt, ap);
  va_end(ap);
  return rc;
}

void cask__create_ok(void) { create_msg[0] = '\0'; }
