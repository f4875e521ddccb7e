/* sink.c - writer tasks: one per block of an array, each depending on the
 * block's task, writing it to its target (a file, a store, a buffer) and
 * producing no block, so the block is freed as soon as it is written.
 * The one thing to know: the writer's argument bytes are its target's; a
 * place function stamps each block's index and box into a copy of them.
 * Also the commit of a written file (fsync, rename, fsync of the
 * directory) that the file targets share. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../../core/index.h"

#include "io.h"

/* The tasks of the blocks of group gidx (sizes g), C order, into in[];
 * the group's box into off/ext. */
static int lower_group(cask__lower *L, cask_array *a, const int64_t *gidx, const int64_t *g, cask_task_id *in,
                       int *nin, int64_t *off, int64_t *ext) {
  int nd = a->ndim;
  int64_t at[CASK_MAX_NDIM] = {0}, n[CASK_MAX_NDIM], bidx[CASK_MAX_NDIM], o[CASK_MAX_NDIM], e[CASK_MAX_NDIM];
  for (int i = 0; i < nd; i++) {
    int64_t left = cask__nblocks(a, i) - gidx[i] * g[i];
    n[i] = left < g[i] ? left : g[i];
  }
  *nin = 0;
  for (;;) {
    for (int i = 0; i < nd; i++) bidx[i] = gidx[i] * g[i] + at[i];
    int rc = cask__lower_block(L, a, bidx, &in[(*nin)++]);
    if (rc) return rc;
    cask__block_box(a, bidx, o, e);
    for (int i = 0; i < nd; i++) {
      if (!at[i]) off[i] = o[i], ext[i] = 0;
      if (at[i] == n[i] - 1) ext[i] = o[i] + e[i] - off[i];
    }
    if (cask__index_next(nd, at, n) < 0) return CASK_OK;
  }
}

/* The writer of group gidx of a's blocks (group sizes g) into target k. */
static int lower_writer(cask__lower *L, cask_array *a, int k, const cask__writer *w, const int64_t *gidx,
                        const int64_t *g, cask_task_id *in) {
  int nd = a->ndim, nin;
  int64_t off[CASK_MAX_NDIM], ext[CASK_MAX_NDIM];
  char what[64], key[512];
  snprintf(what, sizeof what, "%s.%d", w->what, k); /* two targets of one array differ */
  cask_task_id id;
  int rc = lower_group(L, a, gidx, g, in, &nin, off, ext);
  if (rc) return rc;
  w->place(w->args, gidx, off, ext);
  cask__block_key(key, sizeof key, what, a->token, nd, gidx);
  if ((rc = cask__graph_add(L->g, key, w->op, w->args, w->len, in, nin, &id)) ||
      (rc = cask_graph_set_output(L->g, id, 1)) ||
      (w->rank0 && (rc = cask_graph_set_place(L->g, id, &(cask_place_hint){CASK_PLACE_RANK, 0, 0, 0, 0}))))
    rc = cask__fail(L->ctx, rc, "%s: adding the writer of block %s: %s", w->what, key, cask_graph_errmsg(L->g));
  return rc;
}

int cask__lower_writers(cask__lower *L, cask_array *a, int k, const cask__writer *w) {
  int nd = a->ndim;
  int64_t per = 1;
  int64_t g[CASK_MAX_NDIM], ng[CASK_MAX_NDIM], gidx[CASK_MAX_NDIM] = {0};
  for (int i = 0; i < nd; i++) {
    g[i] = w->group[i] > 0 ? w->group[i] : 1;
    ng[i] = (cask__nblocks(a, i) + g[i] - 1) / g[i];
    per *= g[i]; /* the writer's opener keeps a group within 2^24 blocks */
  }
  cask_task_id *in = cask__malloc(sizeof *in * (size_t)per);
  if (!in) return cask__fail(L->ctx, CASK_ENOMEM, "%s: out of memory for the writers", w->what);
  int rc;
  do rc = lower_writer(L, a, k, w, gidx, g, in);
  while (!rc && cask__index_next(nd, gidx, ng) >= 0);
  cask__free(in);
  return rc;
}

int cask__lower_writer_of(cask__lower *L, cask_array *a, int k, const cask__writer *w, const int64_t *bidx) {
  int64_t one[CASK_MAX_NDIM];
  cask_task_id in;
  for (int i = 0; i < a->ndim; i++) one[i] = 1;
  return lower_writer(L, a, k, w, bidx, one, &in);
}

int cask__sink_check_block(const cask_task_io *io, int ndim, const int64_t *ext, const char *place) {
  if (io->ninputs != 1) {
    cask__fmt(io->errmsg, io->errmsg_cap, "the block to write is missing");
    return CASK_EINVAL;
  }
  return cask__sink_check_input(io, 0, ndim, ext, place);
}

int cask__sink_check_input(const cask_task_io *io, int k, int ndim, const int64_t *ext, const char *place) {
  const cask_block *b = (size_t)k < (size_t)io->ninputs ? io->inputs[k] : NULL;
  if (!b) {
    cask__fmt(io->errmsg, io->errmsg_cap, "the block to write is missing");
    return CASK_EINVAL;
  }
  int same = cask_block_ndim(b) == ndim;
  for (int i = 0; same && i < ndim; i++) same = cask_block_shape(b)[i] == ext[i];
  if (!same) {
    char got[400], want[400];
    cask__shape_str(got, sizeof got, cask_block_ndim(b), cask_block_shape(b));
    cask__shape_str(want, sizeof want, ndim, ext);
    cask__fmt(io->errmsg, io->errmsg_cap, "the block has shape %s, its %s %s", got, place, want);
    return CASK_EINVAL;
  }
  return CASK_OK;
}

/* After a crash the path holds the old file or the whole new one: fsync
 * the data before the rename, and the directory after it. */
int cask__finish_file(cask_ctx *ctx, const char *what, int fd, const char *tmp, const char *path) {
  /* mkstemp makes the file 0600; a result is meant to be shared like any
   * file the user writes (as cask__write_file_atomic does). */
  if (fchmod(fd, 0644) != 0 || fsync(fd) != 0)
    return cask__fail(ctx, CASK_EIO, "%s %s: finishing the file: %s", what, path, strerror(errno));
  if (rename(tmp, path) != 0)
    return cask__fail(ctx, CASK_EIO, "%s %s: renaming the temporary file into place: %s", what, path, strerror(errno));
  char dir[4096];
  const char *slash = strrchr(path, '/');
  cask__fmt(dir, sizeof dir, "%.*s", slash ? (int)(slash - path) + 1 : 1, slash ? path : ".");
  int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) { /* best effort: the file is complete either way */
    (void)fsync(dfd);
    close(dfd);
  }
  return CASK_OK;
}
