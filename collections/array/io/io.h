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
  /* blocks per writer task along each axis (0: 1): a Zarr v3 shard is
   * written whole by one task taking its blocks, in C order, as inputs;
   * place then gets the group's index and box */
  int64_t group[CASK_MAX_NDIM];
  /* with several ranks: before the agreement, make this rank's writes
   * durable (fsync), so rank 0 renames only complete files; or NULL.
   * A failure (the context's message set) fails every rank's store. */
  int (*flush)(cask__writer *w, cask_ctx *ctx);
  /* the writer tasks carry a RANK 0 placement hint: a file format one
   * process writes (HDF5, NetCDF) with several ranks */
  int rank0;
};
/* ex: the run's executor over many ranks, or NULL. With more than one
 * rank, rank 0 makes the temporary file or store and broadcasts its name
 * (every rank calls open, also after a failure, so the broadcasts match),
 * every rank's writer tasks write their blocks into it, and finish (called
 * with the agreement of all ranks) has rank 0 alone rename or remove it. */
int cask__npy_writer_open(cask_array *a, const char *path, cask_executor *ex, cask__writer *w);
int cask__zarr_writer_open(cask_array *a, const char *path, const cask_zarr_options *opts, cask_executor *ex,
                           cask__writer *w);
/* Rank 0's code and temporary name to every rank (store.c). */
int cask__share_name(cask_executor *ex, int rc, char *name, size_t cap);
/* hdf5-write.c, netcdf-write.c: name is the dataset or the variable. */
int cask__hdf5_writer_open(cask_array *a, const char *path, const char *name,
                           const struct cask_hdf5_options *opts, cask__writer *w);
int cask__netcdf_writer_open(cask_array *a, const char *path, const char *name,
                             const struct cask_hdf5_options *opts, cask__writer *w);
/* With several ranks, an HDF5 or NetCDF file is written by rank 0 alone:
 * the other ranks make the same writer tasks (their arguments zeroed) with
 * these, which open nothing; finish frees the arguments. */
int cask__hdf5_writer_remote(cask_array *a, const char *path, cask__writer *w);
int cask__netcdf_writer_remote(cask_array *a, const char *path, cask__writer *w);
/* The writer tasks of target number k for every block (or group of
 * blocks) of a, each an output of the graph depending on its blocks' tasks. */
int cask__lower_writers(cask__lower *L, cask_array *a, int k, const cask__writer *w);
/* A complete temporary file tmp (open as fd) made the file at path: made
 * 0644, fsynced, renamed, its directory fsynced. CASK_EIO with the
 * context's message ("WHAT PATH: ...") when a step fails. */
int cask__finish_file(cask_ctx *ctx, const char *what, int fd, const char *tmp, const char *path);
/* A writer's input is one block of extents ext (an error names its place:
 * "place in the file", "chunk"); cask__sink_check_input: input k of several. */
int cask__sink_check_block(const cask_task_io *io, int ndim, const int64_t *ext, const char *place);
int cask__sink_check_input(const cask_task_io *io, int k, int ndim, const int64_t *ext, const char *place);

/* The class of a node read from a file or store (.npy, Zarr): a->ext
 * holds its read op's arguments, a fixed head (with the box of a block,
 * empty, and the path's length) then the path. Every block lowers to that
 * op with the block's box stamped into a copy of them (read.c). */
typedef struct cask__reader_class {
  cask__node_class cls; /* first: a->cls points here */
  const cask_op **op;   /* where the file's registrar put the read op */
  size_t head;          /* bytes of the head */
  size_t off_at, ext_at; /* the box: int64_t[CASK_MAX_NDIM] each */
  size_t path_len_at;   /* uint32_t */
} cask__reader_class;
int cask__lower_read(cask__lower *L, cask_array *a, const int64_t *bidx, const char *key,
                     cask_task_id *out);
/* The reader class called kind for a head of type head_t with fields off,
 * ext and path_len, running the op *op_ptr. */
#define CASK__READER_CLASS(kind, head_t, op_ptr)                                        \
  {{.name = (kind), .lower = cask__lower_read, .aligned = 1}, (op_ptr), sizeof(head_t),              \
   offsetof(head_t, off), offsetof(head_t, ext), offsetof(head_t, path_len)}

/* The ops of each file, registered once per process by init.c's table. */
void cask__register_npy_ops(void);   /* npy.c */
void cask__register_zarr_ops(void);  /* zarr.c */
void cask__register_zarr3_ops(void); /* zarr3.c */

/* Zarr v3 (zarr3.c), for zarr.c's cask_read_zarr and cask_to_zarr: the
 * array over the store at abs (path: for messages), which holds zarr.json;
 * the checks of the v3 options (shards), zarr.json's text, and the writer
 * op's arguments (blocks per writer into group). */
int cask__zarr3_open(cask_ctx *ctx, const char *path, const char *abs, const int64_t *chunks, cask_array **out);
int cask__zarr3_check_options(cask_ctx *ctx, const char *path, const cask_array *a, const cask_zarr_options *o);
char *cask__zarr3_writer_meta(const cask_array *a, const cask_zarr_options *o, const unsigned char *fill);
void *cask__zarr3_writer_args(const cask_array *a, const cask_zarr_options *o, const unsigned char *fill,
                              const char *abs, size_t *len, const cask_op **op, int64_t *group);
void cask__zarr3_place(void *args, const int64_t *gidx, const int64_t *off, const int64_t *ext);
void cask__register_store_ops(void); /* store.c */
void cask__register_hdf5_ops(void);        /* hdf5.c */
void cask__register_hdf5_write_ops(void);  /* hdf5-write.c */
void cask__register_netcdf_ops(void);      /* netcdf.c */
void cask__register_netcdf_write_ops(void); /* netcdf-write.c */

#endif
