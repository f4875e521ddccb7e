/* util.c - hashing, the monotonic clock, atomic file writes, and keeping
 * written files out of the page cache. */
#define _GNU_SOURCE /* sync_file_range */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>
#include <uv.h>

#include "internal.h"

static inline uint64_t load64(const unsigned char *p) {
  uint64_t v;
  memcpy(&v, p, 8);
  return v;
}

/* Eight bytes per step, each word multiplied into the state and the state
 * remixed; the tail is zero-padded and the length folded in, so "a" and
 * "a\0" differ. Quality matters more than speed here: keys are short. */
uint64_t cask__hash(const void *data, size_t len, uint64_t seed) {
  const unsigned char *p = data;
  uint64_t h = seed ^ (0x9e3779b97f4a7c15ULL * (len + 1));
  while (len >= 8) {
    h = cask__mix64(h ^ (load64(p) * 0xff51afd7ed558ccdULL));
    p += 8;
    len -= 8;
  }
  if (len) {
    uint64_t tail = 0;
    memcpy(&tail, p, len);
    h = cask__mix64(h ^ (tail * 0xc4ceb9fe1a85ec53ULL) ^ len);
  }
  return cask__mix64(h);
}

uint64_t cask__now_ns(void) { return uv_hrtime(); }

int cask__write_file_atomic(const char *path, const void *data, size_t len,
                            char *err, size_t errcap) {
  size_t cap = strlen(path) + 48;
  char *tmp = cask__malloc(cap);
  if (!tmp) return CASK_ENOMEM;
  cask__temp_name(tmp, cap, path);
  cask__remove_leftovers_of(path);
  int fd = mkstemp(tmp);
  if (fd < 0) {
    cask__fmt(err, errcap, "%s: cannot create a temporary file: %s", path, strerror(errno));
    cask__free(tmp);
    return CASK_EIO;
  }
  const char *p = data;
  size_t left = len;
  while (left > 0) {
    ssize_t w = write(fd, p, left);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) {
      cask__fmt(err, errcap, "%s: write failed: %s", path, w < 0 ? strerror(errno) : "no progress");
      goto fail_close;
    }
    p += w;
    left -= (size_t)w;
  }
  /* mkstemp makes the file 0600; outputs are meant to be shared like any
   * file the user writes. fsync before the rename: after a crash the name
   * holds either the old file or the whole new one. */
  if (fchmod(fd, 0644) != 0 || fsync(fd) != 0) {
    cask__fmt(err, errcap, "%s: cannot finish the file: %s", path, strerror(errno));
    goto fail_close;
  }
  if (close(fd) != 0) {
    cask__fmt(err, errcap, "%s: cannot close the file: %s", path, strerror(errno));
    goto fail_unlink;
  }
  if (rename(tmp, path) != 0) {
    cask__fmt(err, errcap, "%s: cannot rename into place: %s", path, strerror(errno));
    goto fail_unlink;
  }
  cask__free(tmp);
  return CASK_OK;
fail_close:
  close(fd);
fail_unlink:
  unlink(tmp);
  cask__free(tmp);
  return CASK_EIO;
}

int64_t cask__pread_full(int fd, void *buf, size_t n, int64_t off) {
  size_t got = 0;
  while (got < n) {
    ssize_t r = pread(fd, (char *)buf + got, n - got, (off_t)(off + (int64_t)got));
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) return -1;
    if (r == 0) break;
    got += (size_t)r;
  }
  return (int64_t)got;
}

void cask__drop_cached(int fd, int64_t off, int64_t len, int written) {
  if (len <= 0) return;
  if (written) /* DONTNEED drops only clean pages: write them out first */
    (void)sync_file_range(fd, off, len, SYNC_FILE_RANGE_WAIT_BEFORE | SYNC_FILE_RANGE_WRITE |
                                            SYNC_FILE_RANGE_WAIT_AFTER);
  (void)posix_fadvise(fd, off, len, POSIX_FADV_DONTNEED);
}
