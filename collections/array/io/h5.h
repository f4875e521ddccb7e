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
  int32_t file_type;  /* hdf5.c: how the file stores a bool (see there) */
  int32_t packed;     /* netcdf.c: CF scale_factor/add_offset apply */
  int32_t has_fill;   /* netcdf.c: _FillValue reads as NaN */
  int32_t nc_type;    /* netcdf.c: the variable's type */
  double scale, offset, fill;
  int64_t file_size, mtime_s, mtime_ns, ino, dev;
  int64_t shape[CASK_MAX_NDIM];
  int64_t off[CASK_MAX_NDIM], ext[CASK_MAX_NDIM]; /* the block's box */
  uint32_t path_len, pad;
} cask__h5_args;

/* The file's identity into a (from st) and the tail after the head:
 * "path\0name". Returns the head followed by the tail (cask__malloc'd), or
 * NULL when out of memory or the names are too long. */
cask__h5_args *cask__h5_args_new(const cask__h5_args *head, const struct stat *st, const char *path,
                                 const char *name);
/* A task's arguments checked and split: the head copied to *a, the path
 * and the name into their buffers. CASK_EINVAL when malformed. */
int cask__h5_args_parse(const cask_task_io *io, cask__h5_args *a, char *path, char *name);
/* The file at path is the one the array's creation saw (size, mtime,
 * inode): else CASK_EIO with a message naming what changed. */
int cask__h5_check_unchanged(const cask__h5_args *a, const char *path, const char *what, char *err, size_t cap);
/* The absolute path of an existing regular file (a graph may run from
 * another working directory) and its stat; messages start with what. */
int cask__h5_resolve(cask_ctx *ctx, const char *what, const char *path, char *abs, struct stat *st);
/* Default chunks: the file's own chunk (or a row when contiguous, chunk
 * NULL) repeated along the first axis up to about 64 MiB. */
void cask__h5_default_chunks(int ndim, const int64_t *shape, const int64_t *chunk, size_t itemsize,
                             int64_t *out);
/* Write targets: the temporary file a writer creates next to path
 * (mkstemp; the caller's library then truncates and writes it), and the
 * commit after the run: fsync, chmod 0644, rename, fsync of the directory;
 * or the removal of the temporary after a failure. */
int cask__h5_temp_file(cask_ctx *ctx, const char *what, const char *path, char **tmp);
int cask__h5_commit(cask_ctx *ctx, const char *what, const char *tmp, const char *path, int ok);

#endif
