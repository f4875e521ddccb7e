/* json_args.c - an op's argument blob as JSON fields, and back.
 *
 * An op with args_to_json / args_from_json writes and reads its own fields;
 * any other op's blob is written as one lowercase hex string, "args_hex"
 * (left out for an empty blob). "cask.fused" is such an op with its own
 * functions: its fields are {"chain": [{"key", "op", "args"}...]}, each
 * element's args going back through these same two functions.
 * The one thing to know: a blob handed back comes from cask__malloc (NULL
 * when empty) and an op that fails must hand nothing back. */
#include <cjson/cJSON.h>

#include "graph-int.h"

/* ---- hex fallback ------------------------------------------------------ */

static int hex_to_json(const void *args, size_t len, cJSON *obj) {
  static const char digits[] = "0123456789abcdef";
  if (len == 0) return CASK_OK;
  if (len > (SIZE_MAX - 1) / 2) return CASK_ETOOBIG;
  char *s = cask__malloc(2 * len + 1);
  if (!s) return CASK_ENOMEM;
  const unsigned char *b = args;
  for (size_t i = 0; i < len; i++) {
    s[2 * i] = digits[b[i] >> 4];
    s[2 * i + 1] = digits[b[i] & 15];
  }
  s[2 * len] = '\0';
  cJSON *item = cJSON_AddStringToObject(obj, "args_hex", s);
  cask__free(s);
  return item ? CASK_OK : CASK_ENOMEM;
}

static int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

/* Strict: an op without its own reader has no other fields, so anything
 * else is a graph written where the op had a different definition. */
static int hex_check_fields(const cJSON *obj, char *err, size_t errcap) {
  for (const cJSON *f = obj ? obj->child : NULL; f; f = f->next)
    if (!f->string || strcmp(f->string, "args_hex") != 0) {
      cask__fmt(err, errcap,
                "unexpected field \"%.100s\": this op reads its arguments only from \"args_hex\"",
                f->string ? f->string : "");
      return CASK_EJSON;
    }
  return CASK_OK;
}

static int hex_from_json(const cJSON *obj, void **args, size_t *len, char *err,
                         size_t errcap) {
  int rc = hex_check_fields(obj, err, errcap);
  if (rc) return rc;
  const cJSON *item = obj ? cJSON_GetObjectItemCaseSensitive(obj, "args_hex") : NULL;
  if (!item) return CASK_OK;
  if (!cJSON_IsString(item)) {
    cask__fmt(err, errcap, "field \"args_hex\" must be a string of hex digits");
    return CASK_EJSON;
  }
  const char *s = item->valuestring;
  size_t n = strlen(s);
  if (n % 2) {
    cask__fmt(err, errcap, "field \"args_hex\" has an odd number of hex digits (%zu)", n);
    return CASK_EJSON;
  }
  if (n == 0) return CASK_OK;
  if (n / 2 > CASK__MAX_TASK_ARGS) {
    cask__fmt(err, errcap, "field \"args_hex\" holds %zu bytes: one task's arguments may take at most %zu MiB",
              n / 2, CASK__MAX_TASK_ARGS >> 20);
    return CASK_EJSON;
  }
  unsigned char *b = cask__malloc(n / 2);
  if (!b) return CASK_ENOMEM;
  for (size_t i = 0; i < n; i += 2) {
    int hi = hex_value(s[i]), lo = hex_value(s[i + 1]);
    if (hi < 0 || lo < 0) {
      cask__fmt(err, errcap, "field \"args_hex\": character %zu is not a hex digit",
                hi < 0 ? i : i + 1);
      cask__free(b);
      return CASK_EJSON;
    }
    b[i / 2] = (unsigned char)(hi << 4 | lo);
  }
  *args = b;
  *len = n / 2;
  return CASK_OK;
}

/* ---- dispatch ---------------------------------------------------------- */

int cask__args_to_json(const cask_op *op, const void *args, size_t len,
                       struct cJSON *obj) {
  if (!op || !obj || (len && !args)) return CASK_EINVAL;
  if (!op->args_to_json) return hex_to_json(args, len, obj);
  int rc = op->args_to_json(args, len, obj);
  return rc > 0 ? CASK_ENOTSERIAL : rc;
}

/* The op's own reader. obj is NULL when the task had no "args": the op
 * still gets an (empty) object, since it may have defaults to fill in. */
static int op_from_json(const cask_op *op, const cJSON *obj, void **args,
                        size_t *len, char *err, size_t errcap) {
  cJSON *empty = NULL;
  if (!obj && !(obj = empty = cJSON_CreateObject())) return CASK_ENOMEM;
  int rc = op->args_from_json(obj, args, len, err, errcap);
  if (err && errcap) err[errcap - 1] = '\0'; /* the op's message may run to the end */
  cJSON_Delete(empty);
  if (rc > 0) rc = CASK_EJSON;
  if (!rc && *len && !*args) {
    cask__fmt(err, errcap, "op '%s' read %zu argument bytes but returned no blob",
              op->name, *len);
    rc = CASK_EINVAL;
  }
  if (rc) {
    /* Nothing is handed over on failure (see the file comment). */
    *args = NULL;
    *len = 0;
  }
  return rc;
}

int cask__args_from_json(const cask_op *op, const struct cJSON *obj,
                         void **args, size_t *len, char *err, size_t errcap) {
  if (!op || !args || !len) return CASK_EINVAL;
  *args = NULL;
  *len = 0;
  if (err && errcap) err[0] = '\0';
  if (obj && !cJSON_IsObject(obj)) {
    cask__fmt(err, errcap, "arguments must be a JSON object");
    return CASK_EJSON;
  }
  int rc = op->args_from_json ? op_from_json(op, obj, args, len, err, errcap)
                              : hex_from_json(obj, args, len, err, errcap);
  if (rc && err && errcap && !err[0]) cask__fmt(err, errcap, "%s", cask_strerror(rc));
  return rc;
}

/* ---- the fused op ------------------------------------------------------ */

/* key is NUL-terminated inside the blob (cask__fused_append pads it). */
static int elem_to_json(cJSON *chain, const cask_op *op, const char *key,
                        const void *args, uint32_t args_len) {
  cJSON *e = cJSON_CreateObject();
  if (!e) return CASK_ENOMEM;
  cJSON_AddItemToArray(chain, e);
  cJSON *a;
  if (!cJSON_AddStringToObject(e, "key", key) || !cJSON_AddStringToObject(e, "op", op->name) ||
      !(a = cJSON_AddObjectToObject(e, "args")))
    return CASK_ENOMEM;
  return cask__args_to_json(op, args, args_len, a);
}

int cask__fused_to_json(const void *args, size_t len, struct cJSON *obj) {
  cJSON *chain = cJSON_AddArrayToObject(obj, "chain");
  if (!chain) return CASK_ENOMEM;
  size_t pos = 0;
  const cask_op *op;
  const char *key;
  uint32_t kl, al;
  const void *a;
  while (cask__fused_next(args, len, &pos, &op, &key, &kl, &a, &al)) {
    int rc = elem_to_json(chain, op, key, a, al);
    if (rc) return rc;
  }
  return pos == len && len > 0 ? CASK_OK : CASK_ENOTSERIAL;
}

/* The op of chain element i: a registered op other than "cask.fused" (a
 * chain is flat; fuse flattens nested chains). */
static int elem_op(const cJSON *e, int i, const char *key, const cask_op **op,
                   char *err, size_t errcap) {
  const cJSON *name = cJSON_GetObjectItemCaseSensitive(e, "op");
  if (!cJSON_IsString(name)) {
    cask__fmt(err, errcap, "\"chain\"[%d] (key '%.200s'): field \"op\" must be a string", i, key);
    return CASK_EJSON;
  }
  *op = cask_op_find(name->valuestring);
  if (!*op) {
    cask__fmt(err, errcap, "\"chain\"[%d] (key '%.200s'): unknown op '%.200s'", i, key,
              name->valuestring);
    return CASK_EUNKNOWNOP;
  }
  if (*op == cask__op_fused) {
    cask__fmt(err, errcap, "\"chain\"[%d] (key '%.200s'): a chain cannot contain \"cask.fused\"",
              i, key);
    return CASK_EJSON;
  }
  return CASK_OK;
}

static int elem_from_json(const cJSON *e, int i, unsigned char **blob,
                          size_t *blen, size_t *cap, char *err, size_t errcap) {
  if (!cJSON_IsObject(e)) {
    cask__fmt(err, errcap, "\"chain\"[%d] must be an object", i);
    return CASK_EJSON;
  }
  const cJSON *key = cJSON_GetObjectItemCaseSensitive(e, "key");
  if (!cJSON_IsString(key) || !key->valuestring[0]) {
    cask__fmt(err, errcap, "\"chain\"[%d]: field \"key\" must be a non-empty string", i);
    return CASK_EJSON;
  }
  const char *k = key->valuestring;
  const cask_op *op;
  int rc = elem_op(e, i, k, &op, err, errcap);
  if (rc) return rc;
  void *a;
  size_t al;
  char inner[512];
  rc = cask__args_from_json(op, cJSON_GetObjectItemCaseSensitive(e, "args"), &a, &al, inner,
                            sizeof inner);
  if (rc) {
    cask__fmt(err, errcap, "\"chain\"[%d] (key '%.200s'): field \"args\": %s", i, k, inner);
    return rc;
  }
  size_t kl = strlen(k);
  rc = kl > UINT32_MAX || al > UINT32_MAX
           ? CASK_ETOOBIG
           : cask__fused_append(blob, blen, cap, op, k, (uint32_t)kl, a, (uint32_t)al);
  cask__free(a);
  if (rc) cask__fmt(err, errcap, "\"chain\"[%d] (key '%.200s'): %s", i, k, cask_strerror(rc));
  return rc;
}

int cask__fused_from_json(const struct cJSON *obj, void **args, size_t *len,
                          char *err, size_t errcap) {
  const cJSON *chain = cJSON_GetObjectItemCaseSensitive(obj, "chain");
  if (!cJSON_IsArray(chain) || !chain->child) {
    cask__fmt(err, errcap, "field \"chain\" must be a non-empty array of {\"key\", \"op\", \"args\"}");
    return CASK_EJSON;
  }
  unsigned char *blob = NULL;
  size_t blen = 0, cap = 0;
  int i = 0;
  for (const cJSON *e = chain->child; e; e = e->next, i++) {
    int rc = elem_from_json(e, i, &blob, &blen, &cap, err, errcap);
    if (rc) {
      cask__free(blob);
      return rc;
    }
  }
  *args = blob;
  *len = blen;
  return CASK_OK;
}
