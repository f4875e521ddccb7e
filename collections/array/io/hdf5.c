/* hdf5.c - cask_read_hdf5: a lazy array over a dataset of an HDF5 file,
 * each block task reading its hyperslab through libhdf5.
 * The one thing to know: everything is checked when the array is made
 * (the file opens, the dataset exists and has a type cask reads, every
 * filter it uses is available for decoding), so a run fails only on what
 * cannot be known before: a file changed since, a corrupt chunk. Tasks
 * reopen the file by path (their arguments are plain bytes, no HDF5 ids),
 * so the op is pure and the memory manager may drop a block and read it
 * again. Every libhdf5 call is made under the one HDF5/NetCDF lock
 * (h5lib.c); gzip (+ shuffle) chunks are read raw under it and decoded
 * after it is released (plan_raw, decode_raw), the rest by H5Dread. */
#include <stdio.h>
#include <stdlib.h>

#include <zlib.h>

#include "h5.h"
#include "cask/hdf5.h"

static const cask_op *op_read;

/* a->ext: cask__h5_args with an empty box, then "path\0dataset". */
static const cask__reader_class hdf5_class = CASK__READER_CLASS("hdf5", cask__h5_args, &op_read);

hid_t cask__h5_type(cask_dtype dt, int file) {
  switch (dt) {
  case CASK_F64: return H5Tcopy(file ? H5T_IEEE_F64LE : H5T_NATIVE_DOUBLE);
  case CASK_F32: return H5Tcopy(file ? H5T_IEEE_F32LE : H5T_NATIVE_FLOAT);
  case CASK_I64: return H5Tcopy(file ? H5T_STD_I64LE : H5T_NATIVE_INT64);
  case CASK_I32: return H5Tcopy(file ? H5T_STD_I32LE : H5T_NATIVE_INT32);
  case CASK_U8: return H5Tcopy(file ? H5T_STD_U8LE : H5T_NATIVE_UINT8);
  default: break;
  }
  hid_t t = H5Tenum_create(file ? H5T_STD_I8LE : H5T_NATIVE_INT8);
  signed char no = 0, yes = 1;
  if (t >= 0 && (H5Tenum_insert(t, "FALSE", &no) < 0 || H5Tenum_insert(t, "TRUE", &yes) < 0)) {
    H5Tclose(t);
    return -1;
  }
  return t;
}

/* ---- opening: the file, the dataset, its type, filters and layout ------ */

/* h5py's bool: an enum of one byte with exactly FALSE = 0 and TRUE = 1. */
static int is_bool_enum(hid_t t) {
  if (H5Tget_nmembers(t) != 2 || H5Tget_size(t) != 1) return 0;
  int ok = 1;
  for (unsigned i = 0; i < 2 && ok; i++) {
    char *name = H5Tget_member_name(t, i);
    signed char v = -1;
    ok = name && H5Tget_member_value(t, i, &v) >= 0 && !strcmp(name, i ? "TRUE" : "FALSE") && v == (signed char)i;
    H5free_memory(name);
  }
  return ok;
}

/* The dtype cask reads a file type as (widening exact integers), or a
 * description of a type it does not read in what. */
static int dtype_of(hid_t t, cask_dtype *dt, char *what, size_t cap) {
  H5T_class_t cls = H5Tget_class(t);
  size_t size = H5Tget_size(t);
  if (cls == H5T_FLOAT && (size == 8 || size == 4)) {
    *dt = size == 8 ? CASK_F64 : CASK_F32;
    return CASK_OK;
  }
  if (cls == H5T_INTEGER) {
    int sign = H5Tget_sign(t) == H5T_SGN_2;
    if (sign && size <= 8) {
      *dt = size == 8 ? CASK_I64 : CASK_I32;
      return CASK_OK;
    }
    if (!sign && size <= 4) {
      *dt = size == 1 ? CASK_U8 : size == 2 ? CASK_I32 : CASK_I64;
      return CASK_OK;
    }
    cask__fmt(what, cap, "%s %zu-byte integers", sign ? "signed" : "unsigned", size);
  } else if (cls == H5T_ENUM && is_bool_enum(t)) {
    *dt = CASK_BOOL;
    return CASK_OK;
  } else {
    static const char *const names[] = {"integer", "float", "time", "string", "bitfield", "opaque",
                                        "compound", "reference", "enum", "variable-length", "array"};
    cask__fmt(what, cap, "%zu-byte %s values", size,
              cls >= 0 && (size_t)cls < sizeof names / sizeof names[0] ? names[cls] : "unknown");
  }
  return CASK_EFORMAT;
}

/* Every filter of the dataset can decode here: else CASK_EFORMAT naming
 * the first one that cannot. */
static int check_filters(cask_ctx *ctx, const char *path, const char *dataset, hid_t dcpl) {
  int n = H5Pget_nfilters(dcpl);
  for (int i = 0; i < n; i++) {
    unsigned flags = 0, config = 0;
    size_t nelmts = 0;
    char name[128] = "";
    H5Z_filter_t id = H5Pget_filter2(dcpl, (unsigned)i, &flags, &nelmts, NULL, sizeof name, name, &config);
    if (id < 0) return cask__fail(ctx, CASK_EFORMAT, "read_hdf5 %s: dataset %s: cannot read its filter %d", path, dataset, i);
    unsigned info = 0;
    if (H5Zfilter_avail(id) <= 0 || H5Zget_filter_info(id, &info) < 0 || !(info & H5Z_FILTER_CONFIG_DECODE_ENABLED)) {
      H5Eclear2(H5E_DEFAULT);
      return cask__fail(ctx, CASK_EFORMAT,
                        "read_hdf5 %s: dataset %s: uses filter %d '%s', which this HDF5 library cannot decode (not built in, no plugin for it in HDF5_PLUGIN_PATH)",
                        path, dataset, (int)id, name[0] ? name : "(no name)");
    }
  }
  return CASK_OK;
}

/* The dataset's shape, dtype and chunks (under the lock). */
static int inspect(cask_ctx *ctx, const char *path, const char *dataset, hid_t d, cask__h5_args *info,
                   int64_t *chunk, int *chunked) {
  cask_dtype dtype;
  char what[128], err[512];
  hid_t t = H5Dget_type(d), s = H5Dget_space(d), dcpl = H5Dget_create_plist(d);
  int rc = CASK_OK;
  if (t < 0 || s < 0 || dcpl < 0) {
    cask__h5_errtext(err, sizeof err);
    rc = cask__fail(ctx, CASK_EFORMAT, "read_hdf5 %s: dataset %s: cannot read its type, shape or layout: %s", path,
                    dataset, err);
  } else if (dtype_of(t, &dtype, what, sizeof what)) {
    rc = cask__fail(ctx, CASK_EFORMAT,
                    "read_hdf5 %s: dataset %s: holds %s; cask reads float64, float32, integers of up to 8 bytes (unsigned: 4) and h5py's bool",
                    path, dataset, what);
  } else if (H5Sget_simple_extent_type(s) == H5S_NULL) {
    rc = cask__fail(ctx, CASK_EFORMAT, "read_hdf5 %s: dataset %s: has a null dataspace (no values)", path, dataset);
  } else if ((info->ndim = H5Sget_simple_extent_ndims(s)) < 0 || info->ndim > CASK_MAX_NDIM) {
    rc = cask__fail(ctx, CASK_EFORMAT, "read_hdf5 %s: dataset %s: has %d axes; cask holds at most %d", path, dataset,
                    info->ndim, CASK_MAX_NDIM);
  } else {
    hsize_t dims[CASK_MAX_NDIM], ch[CASK_MAX_NDIM];
    H5Sget_simple_extent_dims(s, dims, NULL);
    for (int i = 0; i < info->ndim; i++) info->shape[i] = (int64_t)dims[i];
    info->dtype = dtype;
    *chunked = H5Pget_layout(dcpl) == H5D_CHUNKED && H5Pget_chunk(dcpl, info->ndim, ch) == info->ndim;
    for (int i = 0; i < info->ndim && *chunked; i++) chunk[i] = (int64_t)ch[i];
    rc = check_filters(ctx, path, dataset, dcpl);
  }
  if (dcpl >= 0) H5Pclose(dcpl);
  if (s >= 0) H5Sclose(s);
  if (t >= 0) H5Tclose(t);
  return rc;
}

/* ---- a dataset that is not there: say what the file holds instead ------- */

typedef struct names {
  char *buf;
  size_t cap, len;
  int n;
} names;

static herr_t add_name(hid_t g, const char *name, const H5L_info_t *info, void *user) {
  names *l = user;
  (void)g, (void)info;
  if (l->n++ < 12) {
    cask__fmt(l->buf + l->len, l->cap - l->len, "%s%s", l->n > 1 ? ", " : "", name);
    l->len += strlen(l->buf + l->len);
  }
  return 0;
}

/* Why dataset cannot be opened in f (under the lock), when part of its path
 * does not exist: that part, and what the group above it holds (else out
 * stays empty: HDF5's own message says it, e.g. "not a dataset"). */
static void why_missing(hid_t f, const char *dataset, char *out, size_t cap) {
  char part[CASK__H5_MAX_NAME + 2];
  size_t len = 0;
  for (const char *s = dataset;;) { /* each prefix, so H5Lexists never looks below a missing group */
    while (*s == '/') s++;
    if (!*s) break;
    size_t before = len;
    part[len++] = '/';
    while (*s && *s != '/' && len < sizeof part - 1) part[len++] = *s++;
    part[len] = '\0';
    if (H5Lexists(f, part, H5P_DEFAULT) <= 0) {
      char missing[sizeof part], list[600] = "";
      memcpy(missing, part, len + 1);
      part[before] = '\0';
      const char *parent = before ? part : "/";
      names l = {list, sizeof list, 0, 0};
      hid_t g = H5Gopen2(f, parent, H5P_DEFAULT);
      if (g < 0) {
        cask__fmt(out, cap, "no %s in the file (%s is a dataset, not a group)", missing, parent);
        return;
      }
      H5Literate(g, H5_INDEX_NAME, H5_ITER_INC, NULL, add_name, &l);
      H5Gclose(g);
      cask__fmt(out, cap, "no %s in the file (%s holds %s%s)", missing, parent, l.n ? list : "nothing",
                l.n > 12 ? ", ..." : "");
      return;
    }
  }
}

static int open_dataset(cask_ctx *ctx, const char *path, const char *dataset, cask__h5_args *info, int64_t *chunk,
                        int *chunked) {
  char err[512];
  int rc = CASK_OK;
  cask__h5_lock();
  hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT), d = -1;
  if (f < 0) {
    cask__h5_errtext(err, sizeof err);
    rc = cask__fail(ctx, CASK_EFORMAT, "read_hdf5 %s: not an HDF5 file libhdf5 can open (truncated or another format): %s",
                    path, err);
  } else if ((d = H5Dopen2(f, dataset, H5P_DEFAULT)) < 0) {
    cask__h5_errtext(err, sizeof err);
    char why[800] = "";
    why_missing(f, dataset, why, sizeof why);
    rc = cask__fail(ctx, CASK_EFORMAT, "read_hdf5 %s: dataset %s: cannot open it: %s", path, dataset, why[0] ? why : err);
  } else {
    rc = inspect(ctx, path, dataset, d, info, chunk, chunked);
  }
  if (d >= 0) H5Dclose(d);
  if (f >= 0) H5Fclose(f);
  H5Eclear2(H5E_DEFAULT);
  cask__h5_unlock();
  return rc;
}

int cask_read_hdf5(cask_ctx *ctx, const char *path, const char *dataset, const int64_t *chunks,
                   cask_array **out) {
  return cask__h5_node(ctx, &hdf5_class, "read_hdf5", path, dataset, chunks, open_dataset, out);
}

/* ---- the "array.hdf5_read" op --------------------------------------------- */

/* ---- raw chunks decoded outside the lock ---------------------------------- */

/* A block of a chunked dataset whose pipeline is deflate, optionally after
 * shuffle, and whose file type is the native type of cask's dtype: its
 * chunks are read raw (H5Dread_chunk) under the lock and inflated,
 * unshuffled and copied into the block after it, so threads decode in
 * parallel. Anything else reads through H5Dread. */
typedef struct raw_chunk {
  hsize_t coord[CASK_MAX_NDIM]; /* the chunk's first element */
  unsigned mask;                /* filter i skipped: bit i */
  size_t size;                  /* 0: never written, reads as the fill value */
  unsigned char *data;
} raw_chunk;

typedef struct raw_plan {
  int n, shuffle_at, deflate_at; /* shuffle_at -1: no shuffle */
  size_t itemsize, chunk_bytes;
  hsize_t ch[CASK_MAX_NDIM];
  unsigned char fill[16];
  raw_chunk *chunks;
} raw_plan;

static void plan_free(raw_plan *p) {
  for (int i = 0; p->chunks && i < p->n; i++) cask__free(p->chunks[i].data);
  cask__free(p->chunks);
  p->chunks = NULL;
  p->n = 0;
}

/* Under the lock: 1 (p filled, the raw chunks read) when the block can be
 * decoded outside it; 0 to read through H5Dread; -1 on an error. */
static int plan_raw(const cask__h5_args *a, hid_t d, raw_plan *p) {
  if (a->ndim < 1 || a->dtype == CASK_BOOL || getenv("CASK_HDF5_NO_RAW")) return 0;
  int ok = 0;
  hid_t dcpl = H5Dget_create_plist(d), ft = H5Dget_type(d), mt = cask__h5_type((cask_dtype)a->dtype, 0);
  if (dcpl < 0 || ft < 0 || mt < 0 || H5Pget_layout(dcpl) != H5D_CHUNKED || H5Tequal(ft, mt) <= 0) goto out;
  p->itemsize = H5Tget_size(mt);
  if (p->itemsize == 0 || p->itemsize > sizeof p->fill || H5Pget_chunk(dcpl, a->ndim, p->ch) != a->ndim) goto out;
  unsigned opts = 0;
  if (H5Pget_chunk_opts(dcpl, &opts) < 0 || opts) goto out; /* partial edge chunks left unfiltered */
  int nf = H5Pget_nfilters(dcpl);
  p->shuffle_at = p->deflate_at = -1;
  for (int i = 0; i < nf; i++) {
    unsigned flags = 0, cd[8] = {0}, config = 0;
    size_t ncd = 8;
    char name[64];
    H5Z_filter_t id = H5Pget_filter2(dcpl, (unsigned)i, &flags, &ncd, cd, sizeof name, name, &config);
    if (id == H5Z_FILTER_SHUFFLE && i == 0 && (ncd < 1 || cd[0] == p->itemsize)) p->shuffle_at = i;
    else if (id == H5Z_FILTER_DEFLATE && i == nf - 1) p->deflate_at = i;
    else goto out;
  }
  if (p->deflate_at < 0) goto out;
  H5D_fill_value_t fv = H5D_FILL_VALUE_UNDEFINED;
  H5D_fill_time_t ftime = H5D_FILL_TIME_IFSET;
  int have_fill = H5Pfill_value_defined(dcpl, &fv) >= 0 && fv != H5D_FILL_VALUE_UNDEFINED &&
                  H5Pget_fill_time(dcpl, &ftime) >= 0 && ftime != H5D_FILL_TIME_NEVER &&
                  H5Pget_fill_value(dcpl, mt, p->fill) >= 0;
  p->chunk_bytes = p->itemsize;
  int64_t lo[CASK_MAX_NDIM], hi[CASK_MAX_NDIM], n = 1;
  for (int i = 0; i < a->ndim; i++) {
    if (p->ch[i] == 0) goto out;
    p->chunk_bytes *= p->ch[i];
    lo[i] = a->off[i] / (int64_t)p->ch[i];
    hi[i] = (a->off[i] + a->ext[i] - 1) / (int64_t)p->ch[i];
    n *= hi[i] - lo[i] + 1;
  }
  if (!(p->chunks = cask__calloc((size_t)n, sizeof *p->chunks))) goto out;
  int64_t c[CASK_MAX_NDIM];
  memcpy(c, lo, sizeof c[0] * (size_t)a->ndim);
  for (int64_t k = 0; k < n; k++) {
    raw_chunk *r = &p->chunks[p->n++];
    for (int i = 0; i < a->ndim; i++) r->coord[i] = (hsize_t)c[i] * p->ch[i];
    haddr_t addr = HADDR_UNDEF;
    hsize_t size = 0;
    if (H5Dget_chunk_info_by_coord(d, r->coord, &r->mask, &addr, &size) < 0) {
      ok = -1;
      goto out;
    }
    if (addr == HADDR_UNDEF || size == 0) {
      if (!have_fill) goto out; /* what H5Dread leaves there: its business */
      r->size = 0;
    } else {
      uint32_t mask = 0;
      r->size = (size_t)size;
      if (!(r->data = cask__malloc(r->size)) || H5Dread_chunk(d, H5P_DEFAULT, r->coord, &mask, r->data) < 0) {
        ok = -1;
        goto out;
      }
      r->mask = mask;
    }
    for (int i = a->ndim - 1; i >= 0; i--) { /* the next chunk, in C order */
      if (++c[i] <= hi[i]) break;
      c[i] = lo[i];
    }
  }
  ok = 1;
out:
  if (ok < 1) plan_free(p);
  if (mt >= 0) H5Tclose(mt);
  if (ft >= 0) H5Tclose(ft);
  if (dcpl >= 0) H5Pclose(dcpl);
  if (ok >= 0) H5Eclear2(H5E_DEFAULT); /* else its message is the task's */
  return ok;
}

/* HDF5's shuffle undone: byte j of element i was at j*n + i. */
static void unshuffle(unsigned char *restrict t, const unsigned char *restrict s, size_t n, size_t isz) {
#define UNSHUFFLE(W)                                                                                   \
  for (size_t i = 0; i < n; i++)                                                                       \
    for (size_t j = 0; j < (W); j++) t[i * (W) + j] = s[j * n + i];
  switch (isz) {
  case 2: UNSHUFFLE(2) break;
  case 4: UNSHUFFLE(4) break;
  case 8: UNSHUFFLE(8) break;
  default: UNSHUFFLE(isz) break;
  }
#undef UNSHUFFLE
}

/* Outside the lock: every chunk of p decoded and its part copied into dst
 * (the block a's box, C order). */
static int decode_raw(const cask__h5_args *a, const raw_plan *p, void *dst, char *err, size_t cap) {
  unsigned char *buf = cask__malloc_big(p->chunk_bytes), *tmp = NULL;
  if (!buf) return CASK_ENOMEM;
  int rc = CASK_OK, nd = a->ndim;
  size_t isz = p->itemsize;
  for (int k = 0; k < p->n && !rc; k++) {
    const raw_chunk *r = &p->chunks[k];
    const unsigned char *src = buf;
    /* the intersection of the chunk and the block */
    int64_t lo[CASK_MAX_NDIM] = {0}, len[CASK_MAX_NDIM] = {0}, idx[CASK_MAX_NDIM] = {0};
    int64_t rows = 1;
    int whole = 1; /* the whole chunk, its rows contiguous in the block: decoded in place */
    for (int i = 0; i < nd; i++) {
      int64_t c0 = (int64_t)r->coord[i], b0 = a->off[i];
      lo[i] = c0 > b0 ? c0 : b0;
      int64_t e = c0 + (int64_t)p->ch[i], be = b0 + a->ext[i];
      len[i] = (e < be ? e : be) - lo[i];
      if (i < nd - 1) rows *= len[i];
      whole &= len[i] == (int64_t)p->ch[i] && (i == 0 || len[i] == a->ext[i]);
    }
    unsigned char *place = whole ? (unsigned char *)dst + (size_t)(lo[0] - a->off[0]) * (p->chunk_bytes / p->ch[0]) : NULL;
    int shuffled = p->shuffle_at >= 0 && !(r->mask & (1u << p->shuffle_at)) && isz > 1;
    unsigned char *out = place && !shuffled ? place : buf; /* where the inflated bytes go */
    if (r->size == 0) {
      for (size_t i = 0; i < p->chunk_bytes; i += isz) memcpy(buf + i, p->fill, isz);
    } else {
      const unsigned char *in = r->data;
      size_t in_len = r->size;
      if (!(r->mask & (1u << p->deflate_at))) {
        uLongf out_len = (uLongf)p->chunk_bytes;
        int z = uncompress(out, &out_len, in, (uLong)in_len);
        if (z != Z_OK || out_len != p->chunk_bytes) {
          rc = CASK_EIO;
          int64_t at[CASK_MAX_NDIM];
          char where[400];
          for (int i = 0; i < nd; i++) at[i] = (int64_t)r->coord[i];
          cask__shape_str(where, sizeof where, nd, at);
          cask__fmt(err, cap, "the chunk at %s: inflate() failed: %s (%lu of %zu bytes)", where,
                    z == Z_OK ? "too short" : zError(z), (unsigned long)out_len, p->chunk_bytes);
          break;
        }
      } else if (in_len == p->chunk_bytes) {
        memcpy(out, in, in_len);
      } else {
        rc = CASK_EIO;
        cask__fmt(err, cap, "a chunk at row %llu is stored uncompressed with %zu bytes, not %zu",
                  (unsigned long long)r->coord[0], in_len, p->chunk_bytes);
        break;
      }
      if (shuffled) {
        if (!place && !tmp && !(tmp = cask__malloc_big(p->chunk_bytes))) {
          rc = CASK_ENOMEM;
          break;
        }
        unshuffle(place ? place : tmp, buf, p->chunk_bytes / isz, isz);
        src = place ? place : tmp;
      } else {
        src = out;
      }
    }
    if (place && r->size) continue; /* decoded where it goes */
    /* the intersection into the block, a run of the last axis at a time */
    size_t run = (size_t)len[nd - 1] * isz;
    for (int64_t q = 0; q < rows; q++) {
      size_t so = 0, dof = 0;
      for (int i = 0; i < nd; i++) {
        int64_t x = lo[i] + (i < nd - 1 ? idx[i] : 0);
        so = so * p->ch[i] + (size_t)(x - (int64_t)r->coord[i]);
        dof = dof * (size_t)a->ext[i] + (size_t)(x - a->off[i]);
      }
      memcpy((unsigned char *)dst + dof * isz, src + so * isz, run);
      for (int i = nd - 2; i >= 0; i--) {
        if (++idx[i] < len[i]) break;
        idx[i] = 0;
      }
    }
  }
  cask__free(tmp);
  cask__free(buf);
  return rc;
}

/* The box of a block as a hyperslab of the file's dataspace, read into a
 * C-order buffer of the block's extents; or, when plan_raw takes it, its
 * raw chunks into p for decode_raw. Under the lock. */
static int read_box(const cask__h5_args *a, const char *path, const char *dataset, void *dst, raw_plan *p,
                    char *err, size_t cap) {
  hsize_t start[CASK_MAX_NDIM], count[CASK_MAX_NDIM];
  for (int i = 0; i < a->ndim; i++) start[i] = (hsize_t)a->off[i], count[i] = (hsize_t)a->ext[i];
  hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT), d = -1, fs = -1, ms = -1, mt = -1;
  herr_t ok = -1;
  const char *step = "opening the file";
  int raw = 0;
  if (f >= 0 && (step = "opening the dataset", d = H5Dopen2(f, dataset, H5P_DEFAULT)) >= 0 &&
      (step = "reading raw chunks", raw = plan_raw(a, d, p)) != 0)
    ok = raw > 0 ? 0 : -1;
  else if (f >= 0 && d >= 0 &&
      (step = "selecting the block", fs = H5Dget_space(d)) >= 0 &&
      (a->ndim == 0 || H5Sselect_hyperslab(fs, H5S_SELECT_SET, start, NULL, count, NULL) >= 0) &&
      (ms = a->ndim ? H5Screate_simple(a->ndim, count, NULL) : H5Screate(H5S_SCALAR)) >= 0 &&
      (mt = cask__h5_type((cask_dtype)a->dtype, 0)) >= 0)
    ok = (step = "reading (decoding its chunks)", H5Dread(d, mt, ms, fs, H5P_DEFAULT, dst));
  char h5err[512] = "";
  if (ok < 0) cask__h5_errtext(h5err, sizeof h5err);
  if (mt >= 0) H5Tclose(mt);
  if (ms >= 0) H5Sclose(ms);
  if (fs >= 0) H5Sclose(fs);
  if (d >= 0) H5Dclose(d);
  if (f >= 0) H5Fclose(f);
  if (ok >= 0) return CASK_OK;
  char box[400];
  cask__shape_str(box, sizeof box, a->ndim, a->off);
  cask__fmt(err, cap, "%s: dataset %s: block at %s: %s: %s", path, dataset, box, step, h5err);
  return CASK_EIO;
}

static int read_run(cask_task_io *io) {
  cask__h5_args a;
  char path[CASK__H5_MAX_PATH], dataset[CASK__H5_MAX_NAME];
  int rc = cask__h5_task_start(io, "hdf5_read", "cask_read_hdf5", &a, path, dataset);
  if (rc || cask_block_size(io->output) == 0) return rc;
  cask__h5_lock();
  raw_plan p = {0};
  rc = read_box(&a, path, dataset, cask_block_data(io->output), &p, io->errmsg, io->errmsg_cap);
  cask__h5_unlock();
  if (!rc && p.chunks) { /* decoded here, outside the lock: in parallel with other tasks */
    char why[400] = "";
    rc = decode_raw(&a, &p, cask_block_data(io->output), why, sizeof why);
    if (rc) {
      char box[400];
      cask__shape_str(box, sizeof box, a.ndim, a.off);
      cask__fmt(io->errmsg, io->errmsg_cap, "%s: dataset %s: block at %s: %s", path, dataset, box,
                rc == CASK_ENOMEM ? "out of memory" : why);
    }
  }
  plan_free(&p);
  if (!rc && a.dtype == CASK_BOOL) { /* an enum value HDF5 could not map reads as 0xff: True, as 0/1 */
    unsigned char *b = cask_block_data(io->output);
    for (int64_t i = 0; i < cask_block_size(io->output); i++) b[i] = b[i] != 0;
  }
  return rc;
}

void cask__register_hdf5_ops(void) {
  /* pure, and each read checks the file is the one cask_read_hdf5 saw */
  cask_op_register(&(cask_op){.name = "array.hdf5_read", .run = read_run, .flags = CASK_OP_PURE | CASK_OP_CHECKS_SOURCE},
                   &op_read);
}
