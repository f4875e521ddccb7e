/* netcdf.c - cask_read_netcdf: a lazy array over a variable of a NetCDF
 * file, each block task reading its box through libnetcdf (nc_get_vara),
 * with the CF conventions xarray decodes: scale_factor/add_offset unpack
 * to float64, _FillValue and missing_value read as NaN in float results.
 * The one thing to know: libnetcdf, not HDF5 directly, so the variable is
 * found by its NetCDF name whatever the group layout libnetcdf keeps in
 * the HDF5 file (dimension scales, _nc4 attributes), classic files read
 * too, and fill values follow NetCDF's rules; libnetcdf calls libhdf5
 * underneath, so every call is under the one HDF5/NetCDF lock (h5lib.c).
 * The variable is looked up and checked when the array is made. */
#include <math.h>
#include <stdio.h>

#include <netcdf.h>
#include <netcdf_filter.h>

#include "h5.h"
#include "cask/hdf5.h"

static const cask_op *op_read;

/* a->ext: cask__h5_args with an empty box, then "path\0variable". */
static const cask__reader_class netcdf_class = CASK__READER_CLASS("netcdf", cask__h5_args, &op_read);

/* ---- opening ------------------------------------------------------------- */

/* A double attribute, if the variable has it. */
static int att_double(int nc, int v, const char *name, double *out) {
  size_t len = 0;
  return nc_inq_attlen(nc, v, name, &len) == NC_NOERR && len == 1 && nc_get_att_double(nc, v, name, out) == NC_NOERR;
}

/* xarray writes bools as NC_BYTE with the attribute dtype = "bool". */
static int is_bool(int nc, int v) {
  char text[8] = "";
  size_t len = 0;
  return nc_inq_attlen(nc, v, "dtype", &len) == NC_NOERR && len == 4 && nc_get_att_text(nc, v, "dtype", text) == NC_NOERR &&
         !memcmp(text, "bool", 4);
}

/* The dtype a variable of type t reads as (widening exact integers), or
 * CASK_EFORMAT. */
static int dtype_of(nc_type t, int boolean, cask_dtype *dt) {
  switch (t) {
  case NC_DOUBLE: *dt = CASK_F64; return CASK_OK;
  case NC_FLOAT: *dt = CASK_F32; return CASK_OK;
  case NC_INT64: case NC_UINT: *dt = CASK_I64; return CASK_OK;
  case NC_UBYTE: *dt = CASK_U8; return CASK_OK;
  case NC_BYTE: *dt = boolean ? CASK_BOOL : CASK_I32; return CASK_OK;
  case NC_SHORT: case NC_USHORT: case NC_INT: *dt = CASK_I32; return CASK_OK;
  default: return CASK_EFORMAT;
  }
}

/* A variable by name: "t2m" in the root group, "/forecast/t2m" (or
 * "forecast/t2m") in a group. *grp: the group's ncid. A NetCDF status. */
static int find_var(int nc, const char *name, int *grp, int *v) {
  const char *slash = strrchr(name, '/');
  *grp = nc;
  if (slash && slash != name) {
    char g[CASK__H5_MAX_NAME + 1];
    int lead = name[0] != '/';
    if (lead) g[0] = '/';
    memcpy(g + lead, name, (size_t)(slash - name));
    g[lead + (slash - name)] = '\0';
    int st = nc_inq_grp_full_ncid(nc, g, grp);
    if (st != NC_NOERR) return st;
  }
  return nc_inq_varid(*grp, slash ? slash + 1 : name, v);
}

/* Every HDF5 filter of the variable is available to decode it. */
static int check_filters(cask_ctx *ctx, const char *path, const char *var, int nc, int v) {
  size_t n = 0;
  unsigned ids[32];
  if (nc_inq_var_filter_ids(nc, v, &n, NULL) != NC_NOERR || n > 32 || nc_inq_var_filter_ids(nc, v, &n, ids) != NC_NOERR)
    return CASK_OK; /* a classic file: no filters */
  for (size_t i = 0; i < n; i++)
    if (nc_inq_filter_avail(nc, ids[i]) != NC_NOERR)
      return cask__fail(ctx, CASK_EFORMAT,
                        "read_netcdf %s: variable %s: uses HDF5 filter %u, which this library cannot decode (not built in, no plugin for it in HDF5_PLUGIN_PATH)",
                        path, var, ids[i]);
  return CASK_OK;
}

/* The variable's shape, type, CF attributes and chunks into a and chunk
 * (under the lock). */
static int inspect(cask_ctx *ctx, const char *path, const char *var, int nc, cask__h5_args *a, int64_t *chunk,
                   int *chunked) {
  int v, dimids[NC_MAX_VAR_DIMS], st;
  nc_type t;
  if ((st = find_var(nc, var, &nc, &v)) != NC_NOERR) /* nc: the variable's group from here on */
    return cask__fail(ctx, CASK_EFORMAT, "read_netcdf %s: variable %s: %s", path, var, nc_strerror(st));
  if ((st = nc_inq_var(nc, v, NULL, &t, &a->ndim, NULL, NULL)) != NC_NOERR)
    return cask__fail(ctx, CASK_EFORMAT, "read_netcdf %s: variable %s: %s", path, var, nc_strerror(st));
  if (a->ndim > CASK_MAX_NDIM)
    return cask__fail(ctx, CASK_EFORMAT, "read_netcdf %s: variable %s: has %d dimensions; cask holds at most %d", path,
                      var, a->ndim, CASK_MAX_NDIM);
  nc_inq_vardimid(nc, v, dimids);
  for (int i = 0; i < a->ndim; i++) {
    size_t len = 0;
    if ((st = nc_inq_dimlen(nc, dimids[i], &len)) != NC_NOERR)
      return cask__fail(ctx, CASK_EFORMAT, "read_netcdf %s: variable %s: dimension %d: %s", path, var, i, nc_strerror(st));
    a->shape[i] = (int64_t)len;
  }
  cask_dtype dt;
  if (dtype_of(t, is_bool(nc, v), &dt))
    return cask__fail(ctx, CASK_EFORMAT,
                      "read_netcdf %s: variable %s: has NetCDF type %d; cask reads double, float, int64, int, short, byte, ubyte, ushort and uint",
                      path, var, (int)t);
  a->nc_type = t;
  a->scale = 1, a->offset = 0;
  int has_scale = att_double(nc, v, "scale_factor", &a->scale), has_offset = att_double(nc, v, "add_offset", &a->offset);
  a->packed = has_scale || has_offset;
  if (a->packed) dt = CASK_F64;
  a->dtype = dt;
  int is_float = dt == CASK_F64 || dt == CASK_F32;
  a->has_fill = is_float && att_double(nc, v, "_FillValue", &a->fill);
  a->has_missing = is_float && att_double(nc, v, "missing_value", &a->missing);
  int storage = NC_CONTIGUOUS;
  size_t cs[NC_MAX_VAR_DIMS];
  *chunked = a->ndim > 0 && nc_inq_var_chunking(nc, v, &storage, cs) == NC_NOERR && storage == NC_CHUNKED;
  for (int i = 0; i < a->ndim && *chunked; i++) chunk[i] = (int64_t)cs[i];
  return check_filters(ctx, path, var, nc, v);
}

static int open_variable(cask_ctx *ctx, const char *path, const char *var, cask__h5_args *a, int64_t *chunk,
                         int *chunked) {
  int nc, rc, st;
  cask__h5_lock();
  if ((st = nc_open(path, NC_NOWRITE, &nc)) != NC_NOERR) {
    rc = cask__fail(ctx, CASK_EFORMAT, "read_netcdf %s: not a NetCDF file libnetcdf can open (truncated or another format): %s",
                    path, nc_strerror(st));
  } else {
    rc = inspect(ctx, path, var, nc, a, chunk, chunked);
    nc_close(nc);
  }
  H5Eclear2(H5E_DEFAULT);
  cask__h5_unlock();
  return rc;
}

int cask_read_netcdf(cask_ctx *ctx, const char *path, const char *variable, const int64_t *chunks,
                     cask_array **out) {
  return cask__h5_node(ctx, &netcdf_class, "read_netcdf", path, variable, chunks, open_variable, out);
}

/* ---- the "array.netcdf_read" op ------------------------------------------- */

/* The box into dst, converted by libnetcdf to the block's dtype (under the
 * lock): a NetCDF status. */
static int get_box(const cask__h5_args *a, int nc, int v, void *dst) {
  size_t start[CASK_MAX_NDIM], count[CASK_MAX_NDIM];
  for (int i = 0; i < a->ndim; i++) start[i] = (size_t)a->off[i], count[i] = (size_t)a->ext[i];
  switch ((cask_dtype)a->dtype) {
  case CASK_F64: return nc_get_vara_double(nc, v, start, count, dst);
  case CASK_F32: return nc_get_vara_float(nc, v, start, count, dst);
  case CASK_I64: return nc_get_vara_longlong(nc, v, start, count, dst);
  case CASK_I32: return nc_get_vara_int(nc, v, start, count, dst);
  case CASK_U8: return nc_get_vara_uchar(nc, v, start, count, dst);
  default: return nc_get_vara_schar(nc, v, start, count, dst);
  }
}

/* CF decoding, as xarray does it: _FillValue and missing_value -> NaN
 * (compared with the raw values), then unpack. */
static void decode(const cask__h5_args *a, void *data, int64_t n) {
  if (a->dtype == CASK_BOOL) {
    unsigned char *b = data;
    for (int64_t i = 0; i < n; i++) b[i] = b[i] != 0;
  } else if (a->dtype == CASK_F32 && (a->has_fill || a->has_missing)) {
    float *f = data, fill = (float)a->fill, missing = (float)a->missing;
    for (int64_t i = 0; i < n; i++)
      if ((a->has_fill && f[i] == fill) || (a->has_missing && f[i] == missing)) f[i] = NAN;
  } else if (a->dtype == CASK_F64 && (a->has_fill || a->has_missing || a->packed)) {
    double *d = data;
    for (int64_t i = 0; i < n; i++)
      d[i] = (a->has_fill && d[i] == a->fill) || (a->has_missing && d[i] == a->missing) ? NAN
                                                                                       : d[i] * a->scale + a->offset;
  }
}

static int read_run(cask_task_io *io) {
  cask__h5_args a;
  char path[CASK__H5_MAX_PATH], var[CASK__H5_MAX_NAME];
  int rc = cask__h5_task_start(io, "netcdf_read", "cask_read_netcdf", &a, path, var);
  if (rc || cask_block_size(io->output) == 0) return rc;
  int nc, grp, v, st;
  const char *step = "opening the file";
  cask__h5_lock();
  if ((st = nc_open(path, NC_NOWRITE, &nc)) == NC_NOERR) {
    if ((step = "finding the variable", st = find_var(nc, var, &grp, &v)) == NC_NOERR)
      step = "reading", st = get_box(&a, grp, v, cask_block_data(io->output));
    nc_close(nc);
  }
  H5Eclear2(H5E_DEFAULT);
  cask__h5_unlock();
  if (st != NC_NOERR) {
    char box[400];
    cask__shape_str(box, sizeof box, a.ndim, a.off);
    cask__fmt(io->errmsg, io->errmsg_cap, "%s: variable %s: block at %s: %s: %s", path, var, box, step, nc_strerror(st));
    return CASK_EIO;
  }
  decode(&a, cask_block_data(io->output), cask_block_size(io->output));
  return CASK_OK;
}

void cask__register_netcdf_ops(void) {
  /* pure, and each read checks the file is the one cask_read_netcdf saw */
  cask_op_register(&(cask_op){.name = "array.netcdf_read", .run = read_run, .flags = CASK_OP_PURE | CASK_OP_CHECKS_SOURCE},
                   &op_read);
}
