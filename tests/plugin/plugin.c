/* plugin.c - a plugin of the cask program for tests/cli_check.py (cli_plugin):
 * `cask run --plugin libcask_test_plugin.so` calls cask_plugin_init, which
 * registers an op for graph files ("plugin.const": an int64 scalar whose
 * value is its argument, with JSON hooks) and a kernel for steps
 * (map_blocks('twice_plus_one', x): 2x + 1 in the output's dtype). */
#include <cask/cask.h>
#include <cjson/cJSON.h>
#include <string.h>

static int const_run(cask_task_io *io) {
  int64_t v = 0;
  if (io->args_len != sizeof v) return CASK_EINVAL;
  memcpy(&v, io->args, sizeof v);
  for (size_t i = 0; i < io->ninputs; i++) /* plus its inputs' values */
    if (io->inputs[i]) v += *(const int64_t *)cask_block_data(io->inputs[i]);
  int rc = cask_block_new(CASK_I64, 0, NULL, &io->output);
  if (!rc) *(int64_t *)cask_block_data(io->output) = v;
  return rc;
}

static int const_to_json(const void *args, size_t len, struct cJSON *obj) {
  int64_t v;
  if (len != sizeof v) return CASK_EINVAL;
  memcpy(&v, args, sizeof v);
  return cJSON_AddNumberToObject(obj, "value", (double)v) ? CASK_OK : CASK_ENOMEM;
}

static int const_from_json(const struct cJSON *obj, void **args, size_t *len, char *err, size_t cap) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, "value");
  if (!cJSON_IsNumber(v)) {
    strncpy(err, "\"value\" must be a number", cap - 1);
    err[cap - 1] = '\0';
    return CASK_EJSON;
  }
  int64_t *p = cask_malloc(sizeof *p);
  if (!p) return CASK_ENOMEM;
  *p = (int64_t)v->valuedouble;
  *args = p;
  *len = sizeof *p;
  return CASK_OK;
}

/* out = 2 * in + 1, converting float64 input to the output's dtype */
static int twice_plus_one(void *user, const cask_block *const *in, int nin, cask_block *out,
                          const cask_block_info *info) {
  (void)user, (void)nin, (void)info;
  if (cask_block_dtype(in[0]) != CASK_F64) return CASK_EINVAL;
  const double *x = cask_block_data(in[0]);
  int64_t n = cask_block_size(out);
  if (cask_block_dtype(out) == CASK_F32) {
    float *o = cask_block_data(out);
    for (int64_t i = 0; i < n; i++) o[i] = (float)(2 * x[i] + 1);
  } else if (cask_block_dtype(out) == CASK_F64) {
    double *o = cask_block_data(out);
    for (int64_t i = 0; i < n; i++) o[i] = 2 * x[i] + 1;
  } else {
    return CASK_EINVAL;
  }
  return 0;
}

int cask_plugin_init(void) {
  int rc = cask_op_register(&(cask_op){.name = "plugin.const", .run = const_run, .args_to_json = const_to_json,
                                       .args_from_json = const_from_json},
                            NULL);
  if (rc && rc != CASK_EOPEXISTS) return rc;
  rc = cask_kernel_register("twice_plus_one", twice_plus_one, NULL, 1);
  return rc == CASK_EOPEXISTS ? CASK_OK : rc;
}
