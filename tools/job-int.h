/* job-int.h - what job.c shares with the readers of its other files
 * (job_hdf5.c): the reader's state, the message of a failed field, and
 * the field checks every input and output uses. They keep job.c's short
 * names (this is the cask program, not the library: nothing else links
 * them), so job.c's many call sites stay as they were. */
#ifndef CASK_TOOL_JOB_INT_H
#define CASK_TOOL_JOB_INT_H

#include <cjson/cJSON.h>

#include "job.h"

typedef struct reader {
  cask_ctx *ctx; /* started once the top level is read */
  const cask_options *opts;
  const char *path;
  char *err;
  size_t cap;
  job *j;
} reader;

typedef struct input_spec {
  const cJSON *obj;
  char field[200];
  cask_dtype dtype;
  int ndim, nchunks;
  int64_t shape[CASK_MAX_NDIM], chunks[CASK_MAX_NDIM];
} input_spec;

/* "PATH: FIELD: what" into r->err; returns CASK_EINVAL. */
int fail(reader *r, const char *field, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Every member of obj is one of the allowed names (NULL-terminated), none
 * repeated. */
int check_fields(reader *r, const char *field, const cJSON *obj, const char *const *allowed);
/* "chunks": absent (whole axes) or one extent per axis (ndim -1: any). */
int read_chunks(reader *r, input_spec *s, int ndim);
/* The directory of an output file must exist and be writable now. */
int check_writable(reader *r, const char *field, const char *path);

/* job_hdf5.c: the "hdf5" and "netcdf" sources, and the outputs' "hdf5"
 * and "netcdf" fields (*used: the output has one of them; an output
 * without them must not have their fields either). */
int job_input_h5(reader *r, input_spec *s, int netcdf, cask_array **out);
int job_h5_output(reader *r, const char *f, const cJSON *v, job_output *o, int *used);

#endif
