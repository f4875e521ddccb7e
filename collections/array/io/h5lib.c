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
#include "../core/dtype.h"

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

/* The file's identity (from st) into a copy of head, followed by the tail
 * "path\0name"; NULL when out of memory or the names are too long. */
static cask__h5_args *cask__h5_args_new(const cask__h5_args *head, const struct stat *st, const char *path,
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

/* A task's arguments checked and split: the head copied to *a, the path
 * and the name into their buffers. CASK_EINVAL when malformed. */
static int cask__h5_args_parse(const cask_task_io *io, cask__h5_args *a, char *path, char *name) {
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

/* The file at path is the one the array's creation saw (size, mtime,
 * inode): else CASK_EIO with a message naming what changed. */
static int cask__h5_check_unchanged(const cask__h5_args *a, const char *path, const char *what, char *err, size_t cap) {
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

/* The absolute path of an existing regular file (a graph may run from
 * another working directory) and its stat; messages start with what. */
static int cask__h5_resolve(cask_ctx *ctx, const char *what, const char *path, char *abs, struct stat *st) {
  if (stat(path, st) != 0) return cask__fail(ctx, CASK_EIO, "%s %s: cannot open: %s", what, path, strerror(errno));
  if (!S_ISREG(st->st_mode)) return cask__fail(ctx, CASK_EIO, "%s %s: not a regular file", what, path);
  if (strlen(path) >= CASK__H5_MAX_PATH || !realpath(path, abs))
    return cask__fail(ctx, CASK_EIO, "%s %s: cannot resolve the path: %s", what, path, strerror(errno));
  return CASK_OK;
}

/* About this many bytes per default block, as .npy files. */
#define H5_BLOCK_BYTES ((int64_t)64 << 20)

/* Default chunks: the file's own chunk (or a row when contiguous, chunk
 * NULL) repeated along the first axis up to about 64 MiB. */
static void cask__h5_default_chunks(int ndim, const int64_t *shape, const int64_t *chunk, size_t itemsize,
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

int cask__h5_commit(cask_ctx *ctx, const char *what, const char *tmp, const char *path, int ok) {
  int rc = CASK_OK;
  if (ok) {
    int fd = open(tmp, O_RDONLY | O_CLOEXEC);
    rc = fd < 0 ? cask__fail(ctx, CASK_EIO, "%s %s: reopening the written file: %s", what, path, strerror(errno))
                : cask__finish_file(ctx, what, fd, tmp, path);
    if (fd >= 0) close(fd);
  }
  if (!ok || rc) unlink(tmp);
  return rc;
}

/* ---- writer tasks -------------------------------------------------------- */

void cask__h5_place(void *args, const int64_t *bidx, const int64_t *off, const int64_t *ext) {
  cask__h5_write_args *w = args;
  memcpy(w->off, off, sizeof w->off[0] * (size_t)w->ndim);
  memcpy(w->ext, ext, sizeof w->ext[0] * (size_t)w->ndim);
  (void)bidx;
}

static int finish_remote(cask__writer *w, cask_ctx *ctx, int ok) {
  (void)ctx, (void)ok;
  cask__free(w->args);
  return CASK_OK;
}

int cask__h5_writer_remote(cask_array *a, const char *path, const char *what, const cask_op *op,
                           cask__writer *w) {
  cask__h5_write_args *args = cask__calloc(1, sizeof *args);
  if (!args) return cask__fail(a->ctx, CASK_ENOMEM, "%s %s: out of memory", what, path);
  args->dtype = a->dtype, args->ndim = a->ndim;
  *w = (cask__writer){.what = what, .path = path, .op = op, .args = args, .len = sizeof *args,
                      .place = cask__h5_place, .finish = finish_remote, .rank0 = 1};
  return CASK_OK;
}

const void *cask__h5_write_src(cask_task_io *io, cask__h5_write_args *a, const char *place, void **tmp, int *rc) {
  *tmp = NULL;
  *rc = CASK_EINVAL;
  if (io->args_len != sizeof *a) return NULL;
  memcpy(a, io->args, sizeof *a);
  if ((unsigned)a->dtype >= CASK_DTYPE_COUNT || a->ndim < 0 || a->ndim > CASK_MAX_NDIM) return NULL;
  if ((*rc = cask__sink_check_block(io, a->ndim, a->ext, place))) return NULL;
  const cask_block *b = io->inputs[0];
  int64_t n = cask_block_size(b);
  if (n == 0) return NULL; /* nothing to write: *rc is CASK_OK */
  if (cask_block_dtype(b) == (cask_dtype)a->dtype) return cask_block_data(b);
  /* a block of another dtype than the array's */
  if (!(*tmp = cask__malloc_big((size_t)n * cask_dtype_size((cask_dtype)a->dtype)))) {
    *rc = CASK_ENOMEM;
    return NULL;
  }
  cask__cast(*tmp, (cask_dtype)a->dtype, cask_block_data(b), cask_block_dtype(b), n);
  return *tmp;
}

/* ---- reader nodes and tasks ---------------------------------------------- */

int cask__h5_node(cask_ctx *ctx, const cask__reader_class *cls, const char *what, const char *path, const char *name,
                  const int64_t *chunks, cask__h5_open_fn open_file, cask_array **out) {
  if (!out) return CASK_EINVAL;
  *out = NULL;
  if (!ctx) return CASK_EINVAL;
  const char *noun = strcmp(cls->cls.name, "netcdf") ? "dataset" : "variable";
  if (!path || !*path) return cask__fail(ctx, CASK_EINVAL, "%s: the path is NULL or empty", what);
  if (!name || !*name) return cask__fail(ctx, CASK_EINVAL, "%s %s: the %s name is NULL or empty", what, path, noun);
  if (strlen(name) >= CASK__H5_MAX_NAME)
    return cask__fail(ctx, CASK_EINVAL, "%s %s: the %s name is longer than %d bytes", what, path, noun, CASK__H5_MAX_NAME - 1);
  char abs[CASK__H5_MAX_PATH];
  struct stat st;
  cask__h5_args h = {0}, *head = &h;
  int64_t file_chunk[CASK_MAX_NDIM];
  int chunked = 0;
  int rc = cask__h5_resolve(ctx, what, path, abs, &st);
  if (!rc) rc = open_file(ctx, path, name, head, file_chunk, &chunked);
  for (int i = 0; !rc && chunks && i < head->ndim; i++)
    if (chunks[i] < 0)
      rc = cask__fail(ctx, CASK_EINVAL, "%s %s: %s: chunk %lld on axis %d is negative", what, path, name,
                      (long long)chunks[i], i);
  if (rc) return rc;
  int64_t ch[CASK_MAX_NDIM];
  if (!chunks)
    cask__h5_default_chunks(head->ndim, head->shape, chunked ? file_chunk : NULL, cask_dtype_size((cask_dtype)head->dtype), ch);
  cask__h5_args *ext = cask__h5_args_new(head, &st, abs, name);
  if (!ext) return cask__fail(ctx, CASK_ENOMEM, "%s %s: out of memory", what, path);
  rc = cask__node_new_ext(ctx, &cls->cls, ext, (cask_dtype)head->dtype, head->ndim, head->shape, chunks ? chunks : ch,
                          0, NULL, out);
  if (rc) return rc;
  /* The token: the file's identity, the name and how values are decoded;
   * the node adds shape, dtype and chunks. */
  struct {
    cask__h5_args head;
    uint64_t tail_hash;
  } seal;
  memcpy(&seal.head, ext, sizeof seal.head);
  seal.tail_hash = cask__hash(ext + 1, ext->path_len, cask__hash(what, strlen(what), 0x683566));
  cask__node_seal(*out, &seal, sizeof seal);
  return CASK_OK;
}

int cask__h5_task_start(cask_task_io *io, const char *op, const char *what, cask__h5_args *a, char *path, char *name) {
  if (cask__h5_args_parse(io, a, path, name)) {
    cask__fmt(io->errmsg, io->errmsg_cap, "malformed %s arguments", op);
    return CASK_EINVAL;
  }
  int rc = cask__h5_check_unchanged(a, path, what, io->errmsg, io->errmsg_cap);
  return rc ? rc : cask_block_new((cask_dtype)a->dtype, a->ndim, a->ext, &io->output);
}
