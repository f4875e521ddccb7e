/* h5.h - what the HDF5 and NetCDF-4 files of io/ (hdf5.c, hdf5-write.c,
 * netcdf.c) share: the one process-wide lock around both libraries, their
 * error texts, and the head of a reader task's arguments.
 * The one thing to know: Debian's libnetcdf is not thread-safe and calls
 * libhdf5 underneath, so every call into either library, from any thread,
 * is made between cask__h5_lock() and cask__h5_unlock(). HDF5 types stay
 * in these files: no public header names them. */
#ifndef CASK_ARRAY_IO_H5_H
#define CASK_ARRAY_IO_H5_H

#include <sys/stat.h>

#include <hdf5.h>

#include "io.h"

#define CASK__H5_MAX_PATH 4096
#define CASK__H5_MAX_NAME 1024

/* The lock (h5lib.c). The first lock also turns off HDF5's printing of
 * its error stack: errors are reported through cask's messages. */
void cask__h5_lock(void);
void cask__h5_unlock(void);
/* Under the lock: the innermost message of HDF5's error stack (what went
 * wrong, e.g. "unable to open file"/"file signature not found") into buf,
 * then the stack cleared; "" when the stack is empty. */
void cask__h5_errtext(char *buf, size_t cap);

/* A new HDF5 type for cask's dtype (the caller closes it): the native one
 * (memory), or the little-endian one h5py writes (file). bool is h5py's
 * enum {FALSE = 0, TRUE = 1} of int8 in both, so HDF5 converts between
 * h5py's bools and cask's by member name. */
hid_t cask__h5_type(cask_dtype dt, int file);

/* A reader task's arguments (the head of a reader node's a->ext), then
 * path_len bytes: the absolute path, a NUL, the dataset or variable name.
 * The identity fields are what the array's creation saw of the file. */
typedef struct cask__h5_args {
  int32_t dtype, ndim;
  int32_t packed;      /* netcdf.c: CF scale_factor/add_offset apply */
  int32_t has_fill;    /* netcdf.c: _FillValue reads as NaN */
  int32_t has_missing; /* netcdf.c: missing_value reads as NaN */
  int32_t nc_type;     /* netcdf.c: the variable's type */
  double scale, offset, fill, missing;
  int64_t file_size, mtime_s, mtime_ns, ino, dev;
  int64_t shape[CASK_MAX_NDIM];
  int64_t off[CASK_MAX_NDIM], ext[CASK_MAX_NDIM]; /* the block's box */
  uint32_t path_len, pad;
} cask__h5_args;

/* What opens a file at array creation (under the lock) and fills head's
 * dtype, ndim, shape and decoding fields, and the file's chunks (*chunked
 * 0: contiguous); messages name the file and the dataset or variable. */
typedef int (*cask__h5_open_fn)(cask_ctx *ctx, const char *path, const char *name, cask__h5_args *head,
                                int64_t *chunk, int *chunked);
/* cask_read_hdf5 and cask_read_netcdf (what: "read_hdf5", "read_netcdf"):
 * the arguments checked, the file found (CASK_EIO) and opened by
 * open_file, the chunks (NULL: the file's, grown along the first axis to
 * about 64 MiB) checked; a reader node of class cls whose token is sealed
 * from the file's absolute path and identity (size, mtime, inode). */
int cask__h5_node(cask_ctx *ctx, const cask__reader_class *cls, const char *what, const char *path, const char *name,
                  const int64_t *chunks, cask__h5_open_fn open_file, cask_array **out);
/* A read task's start: its arguments parsed into a, path and name, the
 * file checked unchanged (what made the array: "cask_read_hdf5"), the
 * output block made. A code, with the task's message set. */
int cask__h5_task_start(cask_task_io *io, const char *op, const char *what, cask__h5_args *a, char *path, char *name);

/* A writer task's arguments: the open file and object (HDF5 dataset id;
 * NetCDF ncid and varid) and where the block goes. */
typedef struct cask__h5_write_args {
  int64_t file, obj;
  int32_t dtype, ndim;
  int64_t off[CASK_MAX_NDIM], ext[CASK_MAX_NDIM];
} cask__h5_write_args;
void cask__h5_place(void *args, const int64_t *bidx, const int64_t *off, const int64_t *ext);
/* The writer a rank other than 0 makes for an HDF5/NetCDF output (what:
 * "to_hdf5" or "to_netcdf", op its write op): the same tasks, hinted to
 * rank 0, so the graphs digest alike; it opens no file. */
int cask__h5_writer_remote(cask_array *a, const char *path, const char *what, const cask_op *op,
                           cask__writer *w);
/* A writer task's arguments into a, and the block it writes in the
 * target's dtype (a converted copy in *tmp, for the caller to free); NULL
 * with *rc an error, or CASK_OK for an empty block (nothing to write). */
const void *cask__h5_write_src(cask_task_io *io, cask__h5_write_args *a, const char *place, void **tmp, int *rc);

/* Write targets: the temporary file a writer creates next to path
 * (mkstemp; the caller's library then truncates and writes it), and the
 * commit after the run: fsync, chmod 0644, rename, fsync of the directory;
 * or the removal of the temporary after a failure. */
int cask__h5_temp_file(cask_ctx *ctx, const char *what, const char *path, char **tmp);
int cask__h5_commit(cask_ctx *ctx, const char *what, const char *tmp, const char *path, int ok);

#endif
