/* h5lib.c - the one lock around libhdf5 and libnetcdf, its cost counters
 * (cask_hdf5_lock_stats), HDF5's error text, and what the HDF5 and NetCDF
 * readers and writers share: their task arguments, the check that a file
 * did not change, temporary files and their commit.
 * The one thing to know: libnetcdf is not thread-safe and uses libhdf5
 * underneath (and a thread-safe libhdf5 serializes on a global lock of its
 * own anyway), so one process-wide mutex covers both libraries; the time
 * spent waiting for it is counted apart from the time it is held, so the
 * cost of the serialization can be read off a run. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <hdf5.h>
#include <uv.h>

#include "h5.h"
#include "cask/hdf5.h"

static uv_once_t once = UV_ONCE_INIT;
static uv_mutex_t mutex;
static uint64_t held_since; /* written only by the holder */
static _Atomic uint64_t n_acquired, n_contended, wait_ns, held_ns;

static void init_once(void) {
  if (uv_mutex_init(&mutex) != 0) abort(); /* cannot happen on Linux: no resources are allocated */
}

void cask__h5_lock(void) {
  uv_once(&once, init_once);
  uint64_t t0 = cask__now_ns();
  if (uv_mutex_trylock(&mutex) != 0) {
    atomic_fetch_add_explicit(&n_contended, 1, memory_order_relaxed);
    uv_mutex_lock(&mutex);
  }
  uint64_t t1 = cask__now_ns();
  atomic_fetch_add_explicit(&wait_ns, t1 - t0, memory_order_relaxed);
  atomic_fetch_add_explicit(&n_acquired, 1, memory_order_relaxed);
  /* Errors come back as cask messages, not on stderr. A thread-safe
   * libhdf5 keeps the setting per thread: set it on each thread. */
  static _Thread_local int quiet;
  if (!quiet) quiet = H5Eset_auto2(H5E_DEFAULT, NULL, NULL) >= 0;
  held_since = t1;
}

void cask__h5_unlock(void) {
  atomic_fetch_add_explicit(&held_ns, cask__now_ns() - held_since, memory_order_relaxed);
  uv_mutex_unlock(&mutex);
}

void cask_hdf5_lock_cost(cask_hdf5_lock_stats *out) {
  if (!out) return;
  out->acquired = atomic_load(&n_acquired);
  out->contended = atomic_load(&n_contended);
  out->wait_ns = atomic_load(&wait_ns);
  out->held_ns = atomic_load(&held_ns);
}

/* ---- HDF5's error stack -------------------------------------------------- */

typedef struct err_walk {
  char *buf;
  size_t cap;
} err_walk;

/* Walked upward, the first entry is the innermost: the most specific. */
static herr_t take_first(unsigned n, const H5E_error2_t *e, void *user) {
  err_walk *w = user;
  if (n > 0 || w->buf[0]) return 0;
  char minor[160] = "";
  if (H5Eget_msg(e->min_num, NULL, minor, sizeof minor) < 0) minor[0] = '\0';
  cask__fmt(w->buf, w->cap, "%s%s%s", e->desc ? e->desc : "", minor[0] ? ": " : "", minor);
  return 0;
}

void cask__h5_errtext(char *buf, size_t cap) {
  buf[0] = '\0';
  err_walk w = {buf, cap};
  H5Ewalk2(H5E_DEFAULT, H5E_WALK_UPWARD, take_first, &w);
  H5Eclear2(H5E_DEFAULT);
}

/* ---- reader arguments ---------------------------------------------------- */

cask__h5_args *cask__h5_args_new(const cask__h5_args *head, const struct stat *st, const char *path,
                                 const char *name) {
  size_t pl = strlen(path), nl = strlen(name);
  if (pl >= CASK__H5_MAX_PATH || nl >= CASK__H5_MAX_NAME) return NULL;
  cask__h5_args *a = cask__calloc(1, sizeof *a + pl + 1 + nl);
  if (!a) return NULL;
  *a = *head;
  a->file_size = st->st_size;
  a->mtime_s = st->st_mtim.tv_sec;
  a->mtime_ns = st->st_mtim.tv_nsec;
  a->ino = (int64_t)st->st_ino;
  a->dev = (int64_t)st->st_dev;
  a->path_len = (uint32_t)(pl + 1 + nl);
  char *tail = (char *)(a + 1);
  memcpy(tail, path, pl + 1);
  memcpy(tail + pl + 1, name, nl);
  return a;
}

int cask__h5_args_parse(const cask_task_io *io, cask__h5_args *a, char *path, char *name) {
  if (io->args_len < sizeof *a) return CASK_EINVAL;
  memcpy(a, io->args, sizeof *a);
  if (io->args_len != sizeof *a + a->path_len || (unsigned)a->dtype >= CASK_DTYPE_COUNT || a->ndim < 0 ||
      a->ndim > CASK_MAX_NDIM)
    return CASK_EINVAL;
  const char *tail = (const char *)io->args + sizeof *a;
  const char *nul = memchr(tail, '\0', a->path_len);
  if (!nul) return CASK_EINVAL;
  size_t pl = (size_t)(nul - tail), nl = a->path_len - pl - 1;
  if (pl >= CASK__H5_MAX_PATH || nl >= CASK__H5_MAX_NAME) return CASK_EINVAL;
  memcpy(path, tail, pl + 1);
  memcpy(name, nul + 1, nl);
  name[nl] = '\0';
  for (int i = 0; i < a->ndim; i++)
    if (a->off[i] < 0 || a->ext[i] < 0 || a->off[i] + a->ext[i] > a->shape[i]) return CASK_EINVAL;
  return CASK_OK;
}

int cask__h5_check_unchanged(const cask__h5_args *a, const char *path, const char *what, char *err, size_t cap) {
  struct stat st;
  if (stat(path, &st) != 0) {
    cask__fmt(err, cap, "%s: stat: %s", path, strerror(errno));
    return CASK_EIO;
  }
  if ((int64_t)st.st_size != a->file_size || (int64_t)st.st_ino != a->ino || (int64_t)st.st_dev != a->dev ||
      (int64_t)st.st_mtim.tv_sec != a->mtime_s || (int64_t)st.st_mtim.tv_nsec != a->mtime_ns) {
    cask__fmt(err, cap, "%s changed since %s opened it (then %lld bytes, modified %lld.%09lld; now %lld bytes, modified %lld.%09lld%s)",
              path, what, (long long)a->file_size, (long long)a->mtime_s, (long long)a->mtime_ns,
              (long long)st.st_size, (long long)st.st_mtim.tv_sec, (long long)st.st_mtim.tv_nsec,
              (int64_t)st.st_ino != a->ino ? ", another inode" : "");
    return CASK_EIO;
  }
  return CASK_OK;
}

int cask__h5_resolve(cask_ctx *ctx, const char *what, const char *path, char *abs, struct stat *st) {
  if (stat(path, st) != 0) return cask__fail(ctx, CASK_EIO, "%s %s: cannot open: %s", what, path, strerror(errno));
  if (!S_ISREG(st->st_mode)) return cask__fail(ctx, CASK_EIO, "%s %s: not a regular file", what, path);
  if (strlen(path) >= CASK__H5_MAX_PATH || !realpath(path, abs))
    return cask__fail(ctx, CASK_EIO, "%s %s: cannot resolve the path: %s", what, path, strerror(errno));
  return CASK_OK;
}

/* About this many bytes per default block, as .npy files. */
#define H5_BLOCK_BYTES ((int64_t)64 << 20)

void cask__h5_default_chunks(int ndim, const int64_t *shape, const int64_t *chunk, size_t itemsize,
                             int64_t *out) {
  int64_t slab = (int64_t)itemsize;
  for (int i = 0; i < ndim; i++) {
    out[i] = chunk ? chunk[i] : i ? shape[i] : 1;
    if (i) slab *= out[i] > 0 ? out[i] : 1;
  }
  if (ndim && slab > 0) {
    int64_t rows = H5_BLOCK_BYTES / slab, c0 = out[0] > 0 ? out[0] : 1;
    if (rows > c0) out[0] = rows / c0 * c0; /* whole chunks of the file */
  }
}

/* ---- writing ------------------------------------------------------------- */

int cask__h5_temp_file(cask_ctx *ctx, const char *what, const char *path, char **tmp) {
  size_t cap = strlen(path) + 48;
  if (!(*tmp = cask__malloc(cap))) return cask__fail(ctx, CASK_ENOMEM, "%s %s: out of memory", what, path);
  cask__temp_name(*tmp, cap, path);
  cask__remove_leftovers_of(path); /* of a killed writer of the same path */
  int fd = mkstemp(*tmp);
  if (fd < 0) {
    int e = errno;
    cask__free(*tmp);
    *tmp = NULL;
    return cask__fail(ctx, CASK_EIO, "%s %s: cannot create a temporary file next to it: %s", what, path, strerror(e));
  }
  close(fd);
  return CASK_OK;
}

/* After a crash the path holds the old file or the whole new one: fsync
 * the data before the rename, and the directory after it. */
int cask__h5_commit(cask_ctx *ctx, const char *what, const char *tmp, const char *path, int ok) {
  int rc = CASK_OK;
  if (ok) {
    int fd = open(tmp, O_RDONLY | O_CLOEXEC);
    if (fd < 0 || fchmod(fd, 0644) != 0 || fsync(fd) != 0)
      rc = cask__fail(ctx, CASK_EIO, "%s %s: finishing the file: %s", what, path, strerror(errno));
    if (fd >= 0) close(fd);
    if (!rc && rename(tmp, path) != 0)
      rc = cask__fail(ctx, CASK_EIO, "%s %s: renaming the temporary file into place: %s", what, path, strerror(errno));
  }
  if (!ok || rc) {
    unlink(tmp);
    return rc;
  }
  char dir[CASK__H5_MAX_PATH];
  const char *slash = strrchr(path, '/');
  cask__fmt(dir, sizeof dir, "%.*s", slash ? (int)(slash - path) + 1 : 1, slash ? path : ".");
  int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) { /* best effort: the file is complete either way */
    (void)fsync(dfd);
    close(dfd);
  }
  return CASK_OK;
}
