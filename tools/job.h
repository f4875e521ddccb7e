/* job.h - job files for `cask run` and `cask graph`: a JSON file naming
 * inputs, steps (expressions) and outputs (docs/jobs.md), read and checked
 * completely, and every array built (lazily: nothing computed), before
 * anything runs. */
#ifndef CASK_TOOL_JOB_H
#define CASK_TOOL_JOB_H

#include <stddef.h>
#include <stdint.h>

#include "cask/cask.h"

#define JOB_PRINT_MAX 10000 /* elements an output may print */

/* Whether a file can be made at path now: 0, or -1 with msg ("cannot
 * write into the directory 'd': ..." or "'d' is not a directory"). */
int job_dir_writable(const char *path, char *msg, size_t cap);

typedef struct job_output {
  char *name;    /* the input or step it shows */
  cask_array *a; /* borrowed from the job's names */
  int print;     /* print the values on stdout */
  char *npy;     /* write a .npy file there, or NULL */
  char *zarr;    /* write a Zarr store there (no trailing '/'), or NULL */
  cask_zarr_options zarr_opts;
  char *hdf5, *dataset;   /* write an HDF5 file with that dataset, or NULL */
  char *netcdf, *variable; /* write a NetCDF-4 file with that variable, or NULL */
  char *dims[CASK_MAX_NDIM]; /* the NetCDF dimension names (NULL: dim_0, ...) */
  cask_hdf5_options h5_opts; /* both files' chunks, compression and dims */
} job_output;

typedef struct job {
  int nnames; /* inputs then steps, in file order */
  char **names;
  cask_array **values;
  int nout;
  job_output *out;
  uint64_t memory_limit; /* the file's "memory_limit"; 0: none given */
} job;

/* Read the job file at path, start the context its arrays live in (opts,
 * with the file's "memory_limit" when opts->memory_limit is 0: the file is
 * read before the runtime starts) and build the arrays there. On error, err
 * receives "PATH: FIELD: what is wrong", the result is nonzero (the caller
 * exits with 2), *ctx is NULL and *j empty. Free with job_free, then
 * cask_ctx_free. */
int job_load(const char *path, const cask_options *opts, cask_ctx **ctx, job *j, char *err, size_t cap);
void job_free(job *j);

#endif
