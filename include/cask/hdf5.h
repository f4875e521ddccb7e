/* hdf5.h - HDF5 and NetCDF-4 files: lazy arrays over a dataset or a
 * variable, and outputs written block by block (docs/hdf5.md).
 * Both go through the libraries themselves (libhdf5, libnetcdf), whose
 * calls are serialized behind one process-wide lock: reads and writes of
 * these files do not run in parallel, the computation around them does.
 * No HDF5 or NetCDF type appears here. */
#ifndef CASK_HDF5_H
#define CASK_HDF5_H

#include <stdint.h>

#include "cask/export.h"
#include "cask/array.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A lazy array over the dataset (a path inside the file, e.g.
 * "/fields/temperature") of the HDF5 file at path: the file and the
 * dataset are opened and checked now; each block task reads its own
 * hyperslab (H5Dread), HDF5 converting the byte order and decoding the
 * filters (deflate, shuffle, fletcher32, ...). Chunked or contiguous.
 * dtype: float64, float32, int64, int32, uint8 as stored; int8, int16 and
 * uint16 read as int32, uint32 as int64; h5py's bool enum as bool.
 * chunks NULL: the dataset's chunks repeated along the first axis up to
 * about 64 MiB (rows of the same size for a contiguous dataset).
 * Errors name the file and the dataset: CASK_EIO (no such file),
 * CASK_EFORMAT (not HDF5, truncated, no such dataset, a type cask does not
 * read, a filter this HDF5 library does not have, named). A block task
 * fails with CASK_EIO if the file changed since (size, mtime, inode). */
CASK_API int cask_read_hdf5(cask_ctx *ctx, const char *path, const char *dataset, const int64_t *chunks,
                   cask_array **out);

/* How an HDF5 dataset or NetCDF variable is written: chunked as the
 * array's blocks, optionally deflated (gzip level 1..9, 0: none) after a
 * byte shuffle. dims: NetCDF only, ndim dimension names (NULL: "dim_0",
 * "dim_1", ...). */
typedef struct cask_hdf5_options {
  int gzip_level;
  int shuffle;
  const char *const *dims;
} cask_hdf5_options;
#define CASK_HDF5_OPTIONS_DEFAULTS {0, 0, NULL}

/* Compute a into the dataset (intermediate groups created) of a new HDF5
 * file at path, written block by block by writer tasks in the run into a
 * temporary file next to path, renamed over it when every block is
 * written; after a failure nothing is at path (an existing file there is
 * untouched). Little-endian types as h5py writes them (bool: h5py's enum).
 * cask_store of one CASK_TO_HDF5 target. */
CASK_API int cask_to_hdf5(cask_array *a, const char *path, const char *dataset, const cask_hdf5_options *opts);
#define CASK_TO_HDF5(a, path, dataset, opts) \
  ((cask_target){CASK_TARGET_HDF5, (a), NULL, 0, (path), NULL, (dataset), (opts)})

/* The variable of a NetCDF file (NetCDF-4, or a classic file libnetcdf
 * reads; "t2m" in the root group, "/forecast/t2m" in a group), through
 * libnetcdf: the variable is looked up now, each block
 * task reads its box (nc_get_vara). CF conventions: a variable with
 * scale_factor or add_offset reads as float64 (raw * scale_factor +
 * add_offset); values equal to _FillValue or missing_value read as NaN
 * when the result is float. Unpacked types as cask_read_hdf5 (NC_BYTE with the attribute
 * dtype = "bool", as xarray writes bools: bool). chunks as above. */
CASK_API int cask_read_netcdf(cask_ctx *ctx, const char *path, const char *variable, const int64_t *chunks,
                     cask_array **out);
/* Compute a into the variable of a new NetCDF-4 file at path with the
 * dimensions opts->dims (xarray.open_dataset shows them); written as
 * cask_to_hdf5 writes (temporary file, rename). bool: NC_BYTE with the
 * attribute dtype = "bool" (xarray's encoding). */
CASK_API int cask_to_netcdf(cask_array *a, const char *path, const char *variable, const cask_hdf5_options *opts);
#define CASK_TO_NETCDF(a, path, variable, opts) \
  ((cask_target){CASK_TARGET_NETCDF, (a), NULL, 0, (path), NULL, (variable), (opts)})

/* What the one lock around libhdf5 and libnetcdf cost this process so
 * far: acquisitions, those that found it taken, the time spent waiting for
 * it and the time it was held (ns, summed over threads). */
typedef struct cask_hdf5_lock_stats {
  uint64_t acquired, contended;
  uint64_t wait_ns, held_ns;
} cask_hdf5_lock_stats;
CASK_API void cask_hdf5_lock_cost(cask_hdf5_lock_stats *out);

#ifdef __cplusplus
}
#endif
#endif
