/* netcdf-write.c - the NetCDF-4 output target of cask_store
 * (cask_to_netcdf): one variable over named dimensions, chunked as the
 * array's blocks, optionally shuffled and deflated, written block by block
 * by writer tasks through libnetcdf (nc_put_vara).
 * The one thing to know: as hdf5-write.c, the file is defined under a
 * temporary name before the run, each writer task writes under the one
 * HDF5/NetCDF lock, and the file is renamed into place only after a
 * complete run (removed otherwise). libnetcdf, not HDF5 directly, writes
 * the dimension scales and attributes NetCDF readers (xarray) expect. */
#include <stdio.h>

#include <netcdf.h>

#include "h5.h"
#include "cask/hdf5.h"

static const cask_op *op_write;

static int put_box(const cask__h5_write_args *a, const void *src) {
  size_t start[CASK_MAX_NDIM], count[CASK_MAX_NDIM];
  for (int i = 0; i < a->ndim; i++) start[i] = (size_t)a->off[i], count[i] = (size_t)a->ext[i];
  switch ((cask_dtype)a->dtype) {
  case CASK_F64: return nc_put_vara_double((int)a->file, (int)a->obj, start, count, src);
  case CASK_F32: return nc_put_vara_float((int)a->file, (int)a->obj, start, count, src);
  case CASK_I64: return nc_put_vara_longlong((int)a->file, (int)a->obj, start, count, src);
  case CASK_I32: return nc_put_vara_int((int)a->file, (int)a->obj, start, count, src);
  case CASK_U8: return nc_put_vara_uchar((int)a->file, (int)a->obj, start, count, src);
  default: return nc_put_vara_schar((int)a->file, (int)a->obj, start, count, src); /* bool: 0 and 1 */
  }
}

/* A writer task's arguments: cask__h5_write_args, file the ncid, obj the
 * varid. */
static int write_run(cask_task_io *io) {
  cask__h5_write_args a;
  void *tmp;
  int rc;
  const void *src = cask__h5_write_src(io, &a, "place in the variable", &tmp, &rc);
  if (!src) return rc;
  cask__h5_lock();
  int st = put_box(&a, src);
  H5Eclear2(H5E_DEFAULT);
  cask__h5_unlock();
  cask__free(tmp);
  if (st == NC_NOERR) return CASK_OK;
  char box[400];
  cask__shape_str(box, sizeof box, a.ndim, a.off);
  cask__fmt(io->errmsg, io->errmsg_cap, "writing the block at %s: %s", box, nc_strerror(st));
  return CASK_EIO;
}

typedef struct nc_target {
  char *tmp;
  int nc;
} nc_target;

static int finish_netcdf(cask__writer *w, cask_ctx *ctx, int ok) {
  nc_target *t = w->state;
  cask__h5_lock();
  int st = nc_close(t->nc);
  H5Eclear2(H5E_DEFAULT);
  cask__h5_unlock();
  int rc = CASK_OK;
  if (st != NC_NOERR && ok) rc = cask__fail(ctx, CASK_EIO, "to_netcdf %s: closing the file: %s", w->path, nc_strerror(st));
  int crc = cask__h5_commit(ctx, "to_netcdf", t->tmp, w->path, ok && !rc);
  cask__free(t->tmp);
  cask__free(t);
  cask__free(w->args);
  return rc ? rc : crc;
}

static nc_type type_of(cask_dtype dt) {
  static const nc_type types[CASK_DTYPE_COUNT] = {NC_DOUBLE, NC_FLOAT, NC_INT64, NC_INT, NC_UBYTE, NC_BYTE};
  return types[dt];
}

/* The dimensions, the variable, its chunks and filters; then out of
 * define mode (under the lock). A NetCDF status; *step says what failed. */
static int define(const cask_array *a, const char *var, const cask_hdf5_options *o, int nc, int *varid,
                  const char **step) {
  int dims[CASK_MAX_NDIM], st = NC_NOERR, chunked = a->ndim > 0;
  size_t ch[CASK_MAX_NDIM];
  for (int i = 0; i < a->ndim && st == NC_NOERR; i++) {
    char def[32];
    snprintf(def, sizeof def, "dim_%d", i);
    *step = "defining a dimension";
    st = nc_def_dim(nc, o->dims ? o->dims[i] : def, (size_t)a->shape[i], &dims[i]);
    chunked &= a->shape[i] > 0;
    int64_t c = a->chunk[i] < a->shape[i] ? a->chunk[i] : a->shape[i];
    ch[i] = (size_t)(c > 0 ? c : 1);
  }
  if (st == NC_NOERR) *step = "defining the variable", st = nc_def_var(nc, var, type_of(a->dtype), a->ndim, dims, varid);
  if (st == NC_NOERR && a->dtype == CASK_BOOL) st = nc_put_att_text(nc, *varid, "dtype", 4, "bool");
  if (st == NC_NOERR && chunked) {
    *step = "setting the chunks and filters";
    st = nc_def_var_chunking(nc, *varid, NC_CHUNKED, ch);
    if (st == NC_NOERR && (o->shuffle || o->gzip_level > 0))
      st = nc_def_var_deflate(nc, *varid, o->shuffle != 0, o->gzip_level > 0, o->gzip_level);
  }
  if (st == NC_NOERR) st = nc_def_var_fill(nc, *varid, NC_NOFILL, NULL); /* every value is written */
  if (st == NC_NOERR) *step = "leaving define mode", st = nc_enddef(nc);
  return st;
}

static int check_dims(cask_array *a, const char *path, const cask_hdf5_options *o) {
  for (int i = 0; o->dims && i < a->ndim; i++) {
    if (!o->dims[i] || !*o->dims[i] || strlen(o->dims[i]) > NC_MAX_NAME)
      return cask__fail(a->ctx, CASK_EINVAL, "to_netcdf %s: dimension name %d is NULL, empty or longer than %d bytes", path,
                        i, NC_MAX_NAME);
    for (int j = 0; j < i; j++)
      if (!strcmp(o->dims[i], o->dims[j]))
        return cask__fail(a->ctx, CASK_EINVAL, "to_netcdf %s: dimension name '%s' is given twice", path, o->dims[i]);
  }
  return CASK_OK;
}

int cask__netcdf_writer_open(cask_array *a, const char *path, const char *var, const cask_hdf5_options *opts,
                             cask__writer *w) {
  cask_ctx *ctx = a->ctx;
  cask_hdf5_options o = opts ? *opts : (cask_hdf5_options)CASK_HDF5_OPTIONS_DEFAULTS;
  if (!path || !*path) return cask__fail(ctx, CASK_EINVAL, "to_netcdf: the path is NULL or empty");
  if (!var || !*var) return cask__fail(ctx, CASK_EINVAL, "to_netcdf %s: the variable name is NULL or empty", path);
  if (o.gzip_level < 0 || o.gzip_level > 9)
    return cask__fail(ctx, CASK_EINVAL, "to_netcdf %s: gzip level %d is not 0 (none) to 9", path, o.gzip_level);
  int rc = check_dims(a, path, &o);
  if (rc) return rc;
  nc_target *t = cask__calloc(1, sizeof *t);
  cask__h5_write_args *args = cask__calloc(1, sizeof *args);
  rc = !t || !args ? cask__fail(ctx, CASK_ENOMEM, "to_netcdf %s: out of memory", path)
                   : cask__h5_temp_file(ctx, "to_netcdf", path, &t->tmp);
  int varid = -1;
  if (!rc) {
    const char *step = "creating the file";
    cask__h5_lock();
    int st = nc_create(t->tmp, NC_NETCDF4 | NC_CLOBBER, &t->nc);
    if (st == NC_NOERR && (st = define(a, var, &o, t->nc, &varid, &step)) != NC_NOERR) nc_close(t->nc);
    H5Eclear2(H5E_DEFAULT);
    cask__h5_unlock();
    if (st != NC_NOERR) {
      rc = cask__fail(ctx, CASK_EIO, "to_netcdf %s: variable %s: %s: %s", path, var, step, nc_strerror(st));
      cask__h5_commit(ctx, "to_netcdf", t->tmp, path, 0); /* removes it */
    }
  }
  if (rc) {
    if (t) cask__free(t->tmp);
    cask__free(t);
    cask__free(args);
    return rc;
  }
  args->file = t->nc, args->obj = varid, args->dtype = a->dtype, args->ndim = a->ndim;
  *w = (cask__writer){.what = "to_netcdf", .path = path, .op = op_write, .args = args, .len = sizeof *args, .place = cask__h5_place, .finish = finish_netcdf, .state = t};
  return CASK_OK;
}

int cask__netcdf_writer_remote(cask_array *a, const char *path, cask__writer *w) {
  return cask__h5_writer_remote(a, path, "to_netcdf", op_write, w);
}

int cask_to_netcdf(cask_array *a, const char *path, const char *variable, const cask_hdf5_options *opts) {
  if (!a) return CASK_EINVAL;
  return cask_store(1, &CASK_TO_NETCDF(a, path, variable, opts), NULL);
}

void cask__register_netcdf_write_ops(void) {
  /* the NetCDF ids in the arguments mean nothing in another process */
  cask__op_register_private(&(cask_op){.name = "array.netcdf_write", .run = write_run}, &op_write);
}
