/* leftovers.c - temporary names that carry the writer's PID, and removal of
 * the temporaries a killed process left behind.
 *
 * A process stopped by SIGKILL (or a crash) cannot remove its temporaries:
 * a half-written "out.npy.tmp-PID-XXXXXX" or a spill directory
 * "cask-spill-PID-XXXXXX" stays. Because the name carries the PID, the next
 * cask process that writes the same path or spills into the same directory
 * removes it once that PID is no longer a running process. A PID reused by
 * another process keeps its leftover a while longer: never a wrong removal. */
#define _GNU_SOURCE /* nftw's FTW_PHYS */
#include <dirent.h>
#include <sys/stat.h>
#include <errno.h>
#include <ftw.h>
#include <libgen.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "internal.h"

int cask__temp_name(char *buf, size_t cap, const char *path) {
  int n = snprintf(buf, cap, "%s.tmp-%ld-XXXXXX", path, (long)getpid());
  return n < 0 || (size_t)n >= cap ? CASK_EINVAL : CASK_OK;
}

/* Whether pid names a live process (EPERM: alive, someone else's). */
static int process_alive(long pid) {
  if (pid <= 0 || pid == (long)getpid()) return 1;
  return kill((pid_t)pid, 0) == 0 || errno == EPERM;
}

/* The PID in "<digits>-..." at s, or -1. */
static long pid_at(const char *s) {
  char *end;
  if (*s < '0' || *s > '9') return -1;
  errno = 0;
  long pid = strtol(s, &end, 10);
  return errno || *end != '-' ? -1 : pid;
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
  (void)st, (void)flag, (void)ftw;
  remove(path);
  return 0;
}

/* Which PID left the entry `name`: after `prefix`, or (prefix NULL) after
 * the last ".tmp-" in it; -1 if it is not such a temporary. */
static long leftover_pid(const char *name, const char *prefix) {
  if (prefix) {
    size_t n = strlen(prefix);
    return strncmp(name, prefix, n) ? -1 : pid_at(name + n);
  }
  const char *tmp = NULL;
  for (const char *p = name; (p = strstr(p, ".tmp-")); p++) tmp = p;
  return tmp ? pid_at(tmp + 5) : -1;
}

void cask__remove_tree(const char *path) { nftw(path, remove_entry, 16, FTW_DEPTH | FTW_PHYS); }

/* Copies of path for dirname and basename, which may write into their
 * argument; NULL when out of memory (*d and *b freed by the caller). */
static int split_path(const char *path, char **d, char **b, const char **dir, const char **base) {
  size_t n = strlen(path) + 1;
  *d = cask__malloc(n);
  *b = cask__malloc(n);
  if (!*d || !*b) return 0;
  memcpy(*d, path, n);
  memcpy(*b, path, n);
  *dir = dirname(*d);
  *base = basename(*b);
  return 1;
}

int cask__temp_dir(const char *path, const char *what, char *out, size_t cap) {
  char *d, *b;
  const char *dir, *base;
  int made = 0;
  if (split_path(path, &d, &b, &dir, &base))
    for (int k = 0; k < 1000 && !made; k++) {
      if (snprintf(out, cap, "%s/.%s.%s-%ld-%d", dir, base, what, (long)getpid(), k) >= (int)cap) break;
      made = mkdir(out, 0777) == 0;
      if (!made && errno != EEXIST) break;
    }
  int err = errno;
  cask__free(d);
  cask__free(b);
  errno = err;
  return made ? CASK_OK : CASK_EIO;
}

int cask__remove_leftovers(const char *dir, const char *prefix) {
  DIR *d = opendir(dir);
  if (!d) return 0;
  int removed = 0;
  struct dirent *e;
  char path[4400];
  while ((e = readdir(d))) {
    long pid = leftover_pid(e->d_name, prefix);
    if (pid < 0 || process_alive(pid)) continue;
    if (snprintf(path, sizeof path, "%s/%s", dir, e->d_name) >= (int)sizeof path) continue;
    nftw(path, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
    removed++;
  }
  closedir(d);
  return removed;
}

int cask__remove_leftovers_of(const char *path) {
  char *d, *b, prefix[4200];
  const char *dir, *base;
  int removed = 0;
  if (split_path(path, &d, &b, &dir, &base) && snprintf(prefix, sizeof prefix, "%s.tmp-", base) < (int)sizeof prefix)
    removed = cask__remove_leftovers(dir, prefix);
  cask__free(d);
  cask__free(b);
  return removed;
}
