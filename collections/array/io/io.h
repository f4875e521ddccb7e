/* io.h - what io/ (.npy, Zarr, writers, cask_store) shares among its files
 * and gives the registrar: writer targets, the block reader of a file
 * node, and each file's op registrar. */
#ifndef CASK_ARRAY_IO_H
#define CASK_ARRAY_IO_H

#include "../core/array-int.h"

/* Writers (sink.c, store.c): where cask_store puts an array. A target kind
 * (npy.c, zarr.c, store.c's buffers) opens a writer before the run (a
 * temporary file or store, the writer op's argument bytes), sink.c adds a
 * writer task per block of the array, and finish runs after the run:
 * commit (rename into place) when ok, else remove every temporary. */
typedef void (*cask__sink_place)(void *args, const int64_t *bidx, const int64_t *off,
                                 const int64_t *ext);
typedef struct cask__writer cask__writer;
struct cask__writer {
  const char *what;    /* "to_npy", "to_zarr", "to_buffer": key prefix, messages */
  const char *path;    /* the caller's path (NULL for a buffer) */
  const cask_op *op;   /* the writer op; NULL: no writer tasks (an empty
                          Zarr array has no chunks) */
  void *args;          /* the op's argument bytes (cask__malloc'd, freed after) */
  size_t len;
  cask__sink_place place;
  /* after the run (ok: it succeeded); returns a code, with the context's
   * message set when it fails; also frees what open made */
  int (*finish)(cask__writer *w, cask_ctx *ctx, int ok);
  void *state;
};
int cask__npy_writer_open(cask_array *a, const char *path, cask__writer *w);
int cask__zarr_writer_open(cask_array *a, const char *path, const cask_zarr_options *opts, cask__writer *w);
/* The writer tasks of target number k for every block of a (each an
 * output of the graph, depending on the block's task). */
int cask__lower_writers(cask__lower *L, cask_array *a, int k, const cask__writer *w);
/* A writer's input is one block of extents ext (an error names its place:
 * "place in the file", "chunk"). */
int cask__sink_check_block(const cask_task_io *io, int ndim, const int64_t *ext, const char *place);

/* The task under key reading block bidx of a (an .npy or Zarr node): op
 * with a's parameters (the first len bytes of a->ext) as arguments, the
 * block's offsets and extents written over the int64_t[ndim] at byte
 * offsets off_at and ext_at (read.c). */
int cask__lower_read(cask__lower *L, cask_array *a, const int64_t *bidx, const char *key,
                     const cask_op *op, size_t len, size_t off_at, size_t ext_at,
                     cask_task_id *out);

/* The ops of each file, registered once per process by init.c's table. */
void cask__register_npy_ops(void);   /* npy.c */
void cask__register_zarr_ops(void);  /* zarr.c */
void cask__register_store_ops(void); /* store.c */

#endif
