/* job_hdf5.c - the HDF5 and NetCDF-4 fields of job files (docs/jobs.md):
 * the sources {"source": "hdf5", "path", "dataset", "chunks"} and
 * {"source": "netcdf", "path", "variable", "chunks"}, and the outputs
 * {"hdf5": FILE, "dataset"} and {"netcdf": FILE, "variable", "dims"} with
 * "compression" ("gzip" or "none"), "level" and "shuffle".
 * The one thing to know: as in job.c, everything is checked before the
 * job runs: the file is opened and the dataset or variable found now
 * (cask_read_hdf5, cask_read_netcdf), an output's directory must be
 * writable and its dims must name every axis. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "job-int.h"

/* A required, non-empty string field of obj (what says what it is). */
static int get_string(reader *r, const char *field, const cJSON *obj, const char *name, const char *what,
                      const char **out) {
  char f[300];
  snprintf(f, sizeof f, "%s.%s", field, name);
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);
  if (!cJSON_IsString(v) || !v->valuestring[0]) return fail(r, f, v ? "must be a non-empty string" : "missing (%s)", what);
  *out = v->valuestring;
  return CASK_OK;
}

int job_input_h5(reader *r, input_spec *s, int netcdf, cask_array **out) {
  const char *name_field = netcdf ? "variable" : "dataset";
  const char *const allowed[] = {"source", "path", name_field, "chunks", NULL};
  const char *path = NULL, *name = NULL;
  int rc = check_fields(r, s->field, s->obj, allowed);
  if (!rc) rc = get_string(r, s->field, s->obj, "path", netcdf ? "the NetCDF file to read" : "the HDF5 file to read", &path);
  if (!rc)
    rc = get_string(r, s->field, s->obj, name_field,
                    netcdf ? "the variable's name, e.g. \"t2m\"" : "the dataset inside the file, e.g. \"/fields/temperature\"", &name);
  if (!rc) rc = read_chunks(r, s, -1);
  if (rc) return rc;
  char f[300];
  snprintf(f, sizeof f, "%s.path", s->field);
  if (access(path, R_OK)) return fail(r, f, "cannot read '%.300s': %s", path, strerror(errno));
  const int64_t *ch = s->nchunks ? s->chunks : NULL;
  if ((rc = netcdf ? cask_read_netcdf(r->ctx, path, name, ch, out) : cask_read_hdf5(r->ctx, path, name, ch, out)))
    return fail(r, s->field, "%s", cask_ctx_errmsg(r->ctx));
  if (s->nchunks && s->nchunks != cask_array_ndim(*out)) {
    snprintf(f, sizeof f, "%s.chunks", s->field);
    rc = fail(r, f, "has %d entries, the %s has %d axes", s->nchunks, netcdf ? "variable" : "dataset",
                  cask_array_ndim(*out));
    cask_array_release(*out);
    *out = NULL;
  }
  return rc;
}

/* "dims": one distinct name per axis of the output's array. */
static int read_dims(reader *r, const char *f, const cJSON *d, job_output *o) {
  char sub[300];
  snprintf(sub, sizeof sub, "%s.dims", f);
  int ndim = cask_array_ndim(o->a);
  if (!cJSON_IsArray(d) || cJSON_GetArraySize(d) != ndim)
    return fail(r, sub, "must be a list of %d dimension names (one per axis of '%.100s'), e.g. [\"time\", \"lat\", \"lon\"]",
                    ndim, o->name);
  int k = 0;
  for (const cJSON *e = d->child; e; e = e->next, k++) {
    if (!cJSON_IsString(e) || !e->valuestring[0] || strlen(e->valuestring) > 256)
      return fail(r, sub, "entry %d must be a non-empty name of at most 256 bytes", k);
    for (int i = 0; i < k; i++)
      if (!strcmp(o->dims[i], e->valuestring)) return fail(r, sub, "the name '%s' appears twice", e->valuestring);
    if (!(o->dims[k] = strdup(e->valuestring))) return fail(r, sub, "out of memory");
  }
  o->h5_opts.dims = ndim ? (const char *const *)o->dims : NULL;
  return CASK_OK;
}

/* "compression", "level" and "shuffle". */
static int read_filters(reader *r, const char *f, const cJSON *v, job_output *o) {
  const cJSON *c = cJSON_GetObjectItemCaseSensitive(v, "compression"), *l = cJSON_GetObjectItemCaseSensitive(v, "level"),
              *s = cJSON_GetObjectItemCaseSensitive(v, "shuffle");
  char sub[300];
  int gzip = 0;
  if (c) {
    snprintf(sub, sizeof sub, "%s.compression", f);
    if (!cJSON_IsString(c) || (strcmp(c->valuestring, "gzip") && strcmp(c->valuestring, "none")))
      return fail(r, sub, "must be \"gzip\" or \"none\"");
    gzip = !strcmp(c->valuestring, "gzip");
  }
  o->h5_opts.gzip_level = gzip ? 4 : 0;
  o->h5_opts.shuffle = gzip;
  if (l) {
    snprintf(sub, sizeof sub, "%s.level", f);
    if (!gzip) return fail(r, sub, "only goes with \"compression\": \"gzip\"");
    if (!cJSON_IsNumber(l) || l->valuedouble != (int)l->valuedouble || l->valuedouble < 1 || l->valuedouble > 9)
      return fail(r, sub, "must be an integer from 1 to 9 for gzip");
    o->h5_opts.gzip_level = (int)l->valuedouble;
  }
  if (s) {
    snprintf(sub, sizeof sub, "%s.shuffle", f);
    if (!cJSON_IsBool(s)) return fail(r, sub, "must be true or false");
    o->h5_opts.shuffle = cJSON_IsTrue(s);
  }
  return CASK_OK;
}

/* The file field (what: "hdf5" or "netcdf") and its name field. */
static int read_file(reader *r, const char *f, const cJSON *v, const char *what, const char *name_field,
                     char **file, char **name) {
  const char *path = NULL, *n = NULL;
  char sub[300];
  snprintf(sub, sizeof sub, "%s.%s", f, what);
  int rc = get_string(r, f, v, what, "the file to write", &path);
  if (!rc) rc = check_writable(r, sub, path);
  if (!rc)
    rc = get_string(r, f, v, name_field,
                    *what == 'h' ? "the dataset to write, e.g. \"/y\"" : "the variable to write, e.g. \"y\"", &n);
  if (!rc && (!(*file = strdup(path)) || !(*name = strdup(n)))) rc = fail(r, sub, "out of memory");
  return rc;
}

int job_h5_output(reader *r, const char *f, const cJSON *v, job_output *o, int *used) {
  static const char *const own[] = {"dataset", "variable", "dims", "compression", "shuffle", NULL};
  static const char *const with[] = {"hdf5", "netcdf", "netcdf", "hdf5\" or \"netcdf", "hdf5\" or \"netcdf"};
  const cJSON *h = cJSON_GetObjectItemCaseSensitive(v, "hdf5"), *n = cJSON_GetObjectItemCaseSensitive(v, "netcdf");
  char sub[300];
  for (int k = 0; own[k]; k++) /* a field without the file it is about */
    if (cJSON_GetObjectItemCaseSensitive(v, own[k]) && !(k == 0 ? h != NULL : k <= 2 ? n != NULL : h || n)) {
      snprintf(sub, sizeof sub, "%s.%s", f, own[k]);
      return fail(r, sub, "only goes with \"%s\"", with[k]);
    }
  *used = h || n;
  if (!*used) return CASK_OK;
  if (cJSON_GetObjectItemCaseSensitive(v, "zarr")) {
    snprintf(sub, sizeof sub, "%s.zarr", f);
    return fail(r, sub, "cannot go with \"hdf5\" or \"netcdf\" in one output (their \"level\" would be ambiguous)");
  }
  if (cJSON_GetObjectItemCaseSensitive(v, "compressor")) {
    snprintf(sub, sizeof sub, "%s.compressor", f);
    return fail(r, sub, "is Zarr's; HDF5 and NetCDF outputs take \"compression\": \"gzip\" or \"none\"");
  }
  int rc = read_filters(r, f, v, o);
  if (!rc && h) rc = read_file(r, f, v, "hdf5", "dataset", &o->hdf5, &o->dataset);
  if (!rc && n) rc = read_file(r, f, v, "netcdf", "variable", &o->netcdf, &o->variable);
  const cJSON *d = cJSON_GetObjectItemCaseSensitive(v, "dims");
  if (!rc && d) rc = read_dims(r, f, d, o);
  return rc;
}
