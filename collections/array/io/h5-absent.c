/* h5-absent.c - the HDF5 and NetCDF-4 calls of a build without libhdf5
 * and libnetcdf (cmake -DCASK_HDF5=OFF): each fails with CASK_EINVAL
 * saying so, and no op is registered, so the rest of the API links and
 * works unchanged. Compiled only in such a build. */
#include "io.h"
#include "cask/hdf5.h"

#define ABSENT "cask was built without HDF5 and NetCDF (CASK_HDF5=OFF)"

int cask_read_hdf5(cask_ctx *ctx, const char *path, const char *dataset, const int64_t *chunks, cask_array **out) {
  (void)path, (void)dataset, (void)chunks;
  if (out) *out = NULL;
  return ctx ? cask__fail(ctx, CASK_EINVAL, "read_hdf5: %s", ABSENT) : CASK_EINVAL;
}

int cask_read_netcdf(cask_ctx *ctx, const char *path, const char *variable, const int64_t *chunks, cask_array **out) {
  (void)path, (void)variable, (void)chunks;
  if (out) *out = NULL;
  return ctx ? cask__fail(ctx, CASK_EINVAL, "read_netcdf: %s", ABSENT) : CASK_EINVAL;
}

int cask__hdf5_writer_open(cask_array *a, const char *path, const char *name, const cask_hdf5_options *opts,
                           cask__writer *w) {
  (void)path, (void)name, (void)opts, (void)w;
  return cask__fail(a->ctx, CASK_EINVAL, "to_hdf5: %s", ABSENT);
}

int cask__netcdf_writer_open(cask_array *a, const char *path, const char *name, const cask_hdf5_options *opts,
                             cask__writer *w) {
  (void)path, (void)name, (void)opts, (void)w;
  return cask__fail(a->ctx, CASK_EINVAL, "to_netcdf: %s", ABSENT);
}

int cask__hdf5_writer_remote(cask_array *a, const char *path, cask__writer *w) {
  (void)path, (void)w;
  return cask__fail(a->ctx, CASK_EINVAL, "to_hdf5: %s", ABSENT);
}

int cask__netcdf_writer_remote(cask_array *a, const char *path, cask__writer *w) {
  (void)path, (void)w;
  return cask__fail(a->ctx, CASK_EINVAL, "to_netcdf: %s", ABSENT);
}

int cask_to_hdf5(cask_array *a, const char *path, const char *dataset, const cask_hdf5_options *opts) {
  return a ? cask_store(1, &CASK_TO_HDF5(a, path, dataset, opts), NULL) : CASK_EINVAL;
}

int cask_to_netcdf(cask_array *a, const char *path, const char *variable, const cask_hdf5_options *opts) {
  return a ? cask_store(1, &CASK_TO_NETCDF(a, path, variable, opts), NULL) : CASK_EINVAL;
}

void cask_hdf5_lock_cost(cask_hdf5_lock_stats *out) {
  if (out) *out = (cask_hdf5_lock_stats){0, 0, 0, 0};
}

void cask__register_hdf5_ops(void) {}
void cask__register_hdf5_write_ops(void) {}
void cask__register_netcdf_ops(void) {}
void cask__register_netcdf_write_ops(void) {}
