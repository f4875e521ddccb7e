/* hdf5-write.c - the HDF5 output target of cask_store (cask_to_hdf5): a
 * dataset chunked as the array's blocks, optionally shuffled and deflated,
 * written block by block by writer tasks in the run.
 * The one thing to know: the file is created (under a temporary name next
 * to the path) and the dataset defined before the run; each writer task
 * writes its block's hyperslab under the one HDF5/NetCDF lock; after the
 * run the file is closed and renamed into place, or removed after a
 * failure, so nothing half-written is ever at the path. The writer op
 * carries an open dataset id, so it is private (never written as JSON). */
#include <stdio.h>

#include "h5.h"
#include "cask/hdf5.h"

static const cask_op *op_write;

/* A writer task's arguments: cask__h5_write_args, obj the dataset id. */
static int write_run(cask_task_io *io) {
  cask__h5_write_args a;
  void *tmp;
  int rc;
  const void *src = cask__h5_write_src(io, &a, "place in the dataset", &tmp, &rc);
  if (!src) return rc;
  hsize_t start[CASK_MAX_NDIM], count[CASK_MAX_NDIM];
  for (int i = 0; i < a.ndim; i++) start[i] = (hsize_t)a.off[i], count[i] = (hsize_t)a.ext[i];
  cask__h5_lock();
  hid_t d = (hid_t)a.obj, fs = H5Dget_space(d), ms = -1, mt = -1;
  herr_t ok = -1;
  if (fs >= 0 && (a.ndim == 0 || H5Sselect_hyperslab(fs, H5S_SELECT_SET, start, NULL, count, NULL) >= 0) &&
      (ms = a.ndim ? H5Screate_simple(a.ndim, count, NULL) : H5Screate(H5S_SCALAR)) >= 0 &&
      (mt = cask__h5_type((cask_dtype)a.dtype, 0)) >= 0)
    ok = H5Dwrite(d, mt, ms, fs, H5P_DEFAULT, src);
  char err[512] = "";
  if (ok < 0) cask__h5_errtext(err, sizeof err);
  if (mt >= 0) H5Tclose(mt);
  if (ms >= 0) H5Sclose(ms);
  if (fs >= 0) H5Sclose(fs);
  cask__h5_unlock();
  cask__free(tmp);
  if (ok >= 0) return CASK_OK;
  char box[400];
  cask__shape_str(box, sizeof box, a.ndim, a.off);
  cask__fmt(io->errmsg, io->errmsg_cap, "writing the block at %s: %s", box, err);
  return CASK_EIO;
}

/* The open temporary file and its dataset. */
typedef struct h5_target {
  char *tmp;
  hid_t file, dset;
} h5_target;

static int finish_hdf5(cask__writer *w, cask_ctx *ctx, int ok) {
  h5_target *t = w->state;
  char err[512] = "";
  cask__h5_lock();
  herr_t closed = H5Dclose(t->dset);
  if (H5Fclose(t->file) < 0) closed = -1; /* flushes the metadata */
  if (closed < 0) cask__h5_errtext(err, sizeof err);
  cask__h5_unlock();
  int rc = CASK_OK;
  if (closed < 0 && ok) rc = cask__fail(ctx, CASK_EIO, "to_hdf5 %s: closing the file: %s", w->path, err);
  int crc = cask__h5_commit(ctx, "to_hdf5", t->tmp, w->path, ok && !rc);
  cask__free(t->tmp);
  cask__free(t);
  cask__free(w->args);
  return rc ? rc : crc;
}

/* The dataset's creation properties: no times, chunks = the array's blocks (HDF5
 * needs every chunk extent in 1..the axis), then shuffle and deflate, or
 * early allocation without them. An empty or 0-d array is contiguous:
 * HDF5 filters need chunks. */
static hid_t make_dcpl(const cask_array *a, const cask_hdf5_options *o) {
  hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
  int chunked = a->ndim > 0;
  hsize_t ch[CASK_MAX_NDIM];
  for (int i = 0; i < a->ndim; i++) {
    chunked &= a->shape[i] > 0;
    int64_t c = a->chunk[i] < a->shape[i] ? a->chunk[i] : a->shape[i];
    ch[i] = (hsize_t)(c > 0 ? c : 1);
  }
  /* no modification times in the object header: the same array makes the
   * same file bytes in every run (and on every rank count) */
  if (dcpl >= 0 && H5Pset_obj_track_times(dcpl, 0) < 0) {
    H5Pclose(dcpl);
    return -1;
  }
  if (dcpl < 0 || !chunked) return dcpl;
  /* Writers run in completion order (one may start as soon as its block
   * exists), and HDF5 places a chunk in the file when it is first written.
   * Unfiltered chunks have a known size, so early allocation lays them all
   * out (and the chunk index) at creation, in chunk order, and the file's
   * bytes do not depend on that order; no fill is written, every value is.
   * Filtered chunks' sizes are known only when written: their layout, not
   * their values, follows the order (docs/hdf5.md, "What is the same"). */
  int filtered = o->shuffle || o->gzip_level > 0;
  if (H5Pset_chunk(dcpl, a->ndim, ch) < 0 || (o->shuffle && H5Pset_shuffle(dcpl) < 0) ||
      (o->gzip_level > 0 && H5Pset_deflate(dcpl, (unsigned)o->gzip_level) < 0) ||
      (!filtered && (H5Pset_alloc_time(dcpl, H5D_ALLOC_TIME_EARLY) < 0 ||
                     H5Pset_fill_time(dcpl, H5D_FILL_TIME_NEVER) < 0))) {
    H5Pclose(dcpl);
    return -1;
  }
  return dcpl;
}

/* Create the temporary file and the dataset (under the lock). */
static int create(cask_array *a, const char *path, const char *dataset, const cask_hdf5_options *o, h5_target *t) {
  hsize_t dims[CASK_MAX_NDIM];
  for (int i = 0; i < a->ndim; i++) dims[i] = (hsize_t)a->shape[i];
  hid_t space = a->ndim ? H5Screate_simple(a->ndim, dims, NULL) : H5Screate(H5S_SCALAR);
  hid_t type = cask__h5_type(a->dtype, 1), dcpl = make_dcpl(a, o), lcpl = H5Pcreate(H5P_LINK_CREATE);
  t->file = t->dset = -1;
  const char *step = "creating the file";
  if (space >= 0 && type >= 0 && dcpl >= 0 && lcpl >= 0 && H5Pset_create_intermediate_group(lcpl, 1) >= 0 &&
      (t->file = H5Fcreate(t->tmp, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT)) >= 0)
    step = "creating the dataset", t->dset = H5Dcreate2(t->file, dataset, type, space, lcpl, dcpl, H5P_DEFAULT);
  char err[512] = "";
  if (t->dset < 0) cask__h5_errtext(err, sizeof err);
  if (lcpl >= 0) H5Pclose(lcpl);
  if (dcpl >= 0) H5Pclose(dcpl);
  if (type >= 0) H5Tclose(type);
  if (space >= 0) H5Sclose(space);
  if (t->dset >= 0) return CASK_OK;
  if (t->file >= 0) H5Fclose(t->file);
  return cask__fail(a->ctx, CASK_EIO, "to_hdf5 %s: dataset %s: %s: %s", path, dataset, step, err);
}

int cask__hdf5_writer_open(cask_array *a, const char *path, const char *dataset, const cask_hdf5_options *opts,
                           cask__writer *w) {
  cask_ctx *ctx = a->ctx;
  cask_hdf5_options o = opts ? *opts : (cask_hdf5_options)CASK_HDF5_OPTIONS_DEFAULTS;
  if (!path || !*path) return cask__fail(ctx, CASK_EINVAL, "to_hdf5: the path is NULL or empty");
  if (!dataset || !*dataset) return cask__fail(ctx, CASK_EINVAL, "to_hdf5 %s: the dataset name is NULL or empty", path);
  if (o.gzip_level < 0 || o.gzip_level > 9)
    return cask__fail(ctx, CASK_EINVAL, "to_hdf5 %s: gzip level %d is not 0 (none) to 9", path, o.gzip_level);
  h5_target *t = cask__calloc(1, sizeof *t);
  cask__h5_write_args *args = cask__calloc(1, sizeof *args);
  int rc = !t || !args ? cask__fail(ctx, CASK_ENOMEM, "to_hdf5 %s: out of memory", path)
                       : cask__h5_temp_file(ctx, "to_hdf5", path, &t->tmp);
  if (!rc) {
    cask__h5_lock();
    rc = create(a, path, dataset, &o, t);
    cask__h5_unlock();
    if (rc) cask__h5_commit(ctx, "to_hdf5", t->tmp, path, 0); /* removes it */
  }
  if (rc) {
    if (t) cask__free(t->tmp);
    cask__free(t);
    cask__free(args);
    return rc;
  }
  args->file = (int64_t)t->file, args->obj = (int64_t)t->dset, args->dtype = a->dtype, args->ndim = a->ndim;
  *w = (cask__writer){.what = "to_hdf5", .path = path, .op = op_write, .args = args, .len = sizeof *args, .place = cask__h5_place, .finish = finish_hdf5, .state = t};
  return CASK_OK;
}

int cask__hdf5_writer_remote(cask_array *a, const char *path, cask__writer *w) {
  return cask__h5_writer_remote(a, path, "to_hdf5", op_write, w);
}

int cask_to_hdf5(cask_array *a, const char *path, const char *dataset, const cask_hdf5_options *opts) {
  if (!a) return CASK_EINVAL;
  return cask_store(1, &CASK_TO_HDF5(a, path, dataset, opts), NULL);
}

void cask__register_hdf5_write_ops(void) {
  /* the dataset id in the arguments means nothing in another process */
  cask__op_register_private(&(cask_op){.name = "array.hdf5_write", .run = write_run}, &op_write);
}
