/* npy.c - NumPy's .npy files: the header parser, cask_read_npy (a lazy
 * array whose block tasks each pread their own part of the file) and
 * cask_to_npy (one task graph whose writer tasks pwrite each block in place
 * into a temporary file, renamed over the path when all are written).
 * The one thing to know: a task's arguments carry everything it needs as
 * plain bytes (the path, the header's fields, the block's box; no
 * pointers), so a reading graph can be written as JSON and run elsewhere;
 * a read task checks the file's size, mtime and inode against what
 * cask_read_npy saw, so a file changed since then gives an error, never
 * other values. The format (numpy/lib/format.py): "\x93NUMPY", a version
 * byte pair (1.0, 2.0 or 3.0), the header length (2 bytes in 1.0, 4 in the
 * others, little-endian), then a Python dict literal
 * {'descr': '<f8', 'fortran_order': False, 'shape': (3, 4), } padded with
 * spaces and a newline, then the data. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "io.h"
#include "../core/dtype.h"
#include "npy.h"

/* Default blocks: about this many bytes, cut along one axis. */
#define NPY_BLOCK_BYTES ((int64_t)64 << 20)
#define NPY_MAX_PATH 4096

/* ======================================================================
 * The header parser
 * ====================================================================== */

typedef struct parser {
  const unsigned char *buf; /* the file's first bytes: offsets count from here */
  size_t pos, end;          /* the header text is buf[pos .. end) */
  int version;
  char *err;
  size_t cap;
} parser;

static int fail_at(parser *p, size_t at, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail_at(parser *p, size_t at, const char *fmt, ...) {
  char what[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(what, sizeof what, fmt, ap);
  va_end(ap);
  cask__fmt(p->err, p->cap, "byte %zu: %s", at, what);
  return CASK_EFORMAT;
}

/* "expected X, found Y" at the current position. */
static int expected(parser *p, const char *what) {
  char found[32];
  if (p->pos >= p->end) {
    snprintf(found, sizeof found, "the end of the header");
  } else {
    unsigned c = p->buf[p->pos];
    if (c >= 0x20 && c < 0x7f) snprintf(found, sizeof found, "'%c'", (char)c);
    else snprintf(found, sizeof found, "byte 0x%02x", c);
  }
  return fail_at(p, p->pos, "expected %s, found %s", what, found);
}

static int is_space(unsigned c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }
static int is_ident(unsigned c) {
  return c == '_' || (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c >= 0x80;
}

static void skip_ws(parser *p) {
  while (p->pos < p->end && is_space(p->buf[p->pos])) p->pos++;
}

/* Skip whitespace, then take c if it is next. */
static int take(parser *p, char c) {
  skip_ws(p);
  if (p->pos < p->end && p->buf[p->pos] == (unsigned char)c) {
    p->pos++;
    return 1;
  }
  return 0;
}

/* A Python string literal in single or double quotes, without escapes
 * (nothing NumPy writes has one). Copies at most cap - 1 bytes to out. */
static int parse_string(parser *p, const char *what, char *out, size_t cap) {
  skip_ws(p);
  if (p->pos >= p->end || (p->buf[p->pos] != '\'' && p->buf[p->pos] != '"')) return expected(p, what);
  size_t start = p->pos;
  unsigned char q = p->buf[p->pos++];
  size_t n = 0;
  for (;;) {
    if (p->pos >= p->end || p->buf[p->pos] == '\n')
      return fail_at(p, start, "the string starting here is not closed");
    unsigned char c = p->buf[p->pos];
    if (c == '\\') return fail_at(p, p->pos, "escape sequences in strings are not supported");
    p->pos++;
    if (c == q) break;
    if (n + 1 < cap) out[n++] = (char)c;
  }
  out[n] = '\0';
  return CASK_OK;
}

static int parse_bool(parser *p, int *out) {
  skip_ws(p);
  size_t left = p->end - p->pos;
  const char *s = (const char *)p->buf + p->pos;
  size_t len = left >= 4 && !memcmp(s, "True", 4) ? 4 : left >= 5 && !memcmp(s, "False", 5) ? 5 : 0;
  if (!len || (len < left && is_ident((unsigned char)s[len])))
    return expected(p, "True or False as the value of 'fortran_order'");
  *out = len == 4;
  p->pos += len;
  return CASK_OK;
}

/* A non-negative decimal integer (Python 2 writers of versions 1.0 and
 * 2.0 may have added an 'L', which NumPy's reader drops too). */
static int parse_extent(parser *p, int64_t *out) {
  skip_ws(p);
  size_t start = p->pos;
  if (p->pos < p->end && p->buf[p->pos] == '-')
    return fail_at(p, start, "a shape extent is negative");
  int64_t v = 0;
  while (p->pos < p->end && p->buf[p->pos] >= '0' && p->buf[p->pos] <= '9') {
    if (v > (INT64_MAX / 16 - 9) / 10) return fail_at(p, start, "a shape extent is larger than 2^59");
    v = v * 10 + (p->buf[p->pos++] - '0');
  }
  if (p->pos == start) return expected(p, "an integer extent");
  if (p->buf[start] == '0' && p->pos - start > 1)
    return fail_at(p, start, "an extent has a leading zero (not a Python integer)");
  if (p->version < 3 && p->pos < p->end && (p->buf[p->pos] == 'L' || p->buf[p->pos] == 'l')) p->pos++;
  if (p->pos < p->end && (is_ident(p->buf[p->pos]) || p->buf[p->pos] == '.'))
    return expected(p, "',' or ')' after an integer extent");
  *out = v;
  return CASK_OK;
}

/* A tuple of integers: (), (3,), (3, 4) or (3, 4,). */
static int parse_shape(parser *p, cask__npy_header *h) {
  skip_ws(p);
  size_t start = p->pos;
  if (!take(p, '(')) return expected(p, "'(' opening the shape tuple");
  if (take(p, ')')) return CASK_OK;
  for (;;) {
    if (h->ndim == CASK_MAX_NDIM) return fail_at(p, start, "the shape has more than %d axes, cask's limit", CASK_MAX_NDIM);
    int rc = parse_extent(p, &h->shape[h->ndim++]);
    if (rc) return rc;
    if (take(p, ',')) {
      if (take(p, ')')) return CASK_OK;
      continue;
    }
    if (take(p, ')')) {
      if (h->ndim == 1)
        return fail_at(p, start, "the shape is an integer in parentheses, not a tuple (a 1-d shape is written (n,))");
      return CASK_OK;
    }
    return expected(p, "',' or ')' in the shape tuple");
  }
}

static const struct {
  const char *code;
  cask_dtype dtype;
} npy_codes[] = {{"f8", CASK_F64}, {"f4", CASK_F32}, {"i8", CASK_I64},
                 {"i4", CASK_I32}, {"u1", CASK_U8},  {"b1", CASK_BOOL}};

/* '<f8', '>i4', '|u1', ...: an optional byte order ('<' little, '>' big,
 * '=' and '|' the host's) and one of cask's dtypes. */
static int parse_descr(parser *p, cask__npy_header *h) {
  skip_ws(p);
  size_t start = p->pos;
  if (p->pos < p->end && p->buf[p->pos] == '[')
    return fail_at(p, start, "descr is a list (a structured dtype); cask reads '<f8' '<f4' '<i8' '<i4' '|u1' '|b1' in either byte order");
  int rc = parse_string(p, "a string as the value of 'descr'", h->descr, sizeof h->descr);
  if (rc) return rc;
  const char *s = h->descr;
  h->big_endian = cask__host_big_endian();
  if (*s == '<' || *s == '>' || *s == '=' || *s == '|') {
    if (*s != '=' && *s != '|') h->big_endian = *s == '>';
    s++;
  }
  for (size_t i = 0; i < sizeof npy_codes / sizeof npy_codes[0]; i++)
    if (!strcmp(s, npy_codes[i].code)) {
      h->dtype = npy_codes[i].dtype;
      return CASK_OK;
    }
  return fail_at(p, start, "descr '%s' is not a dtype cask reads ('<f8' '<f4' '<i8' '<i4' '|u1' '|b1', either byte order)",
                 h->descr);
}

enum { KEY_DESCR, KEY_FORTRAN, KEY_SHAPE, KEY_COUNT };
static const char *const key_names[KEY_COUNT] = {"descr", "fortran_order", "shape"};

static int parse_entry(parser *p, cask__npy_header *h, unsigned *seen) {
  skip_ws(p);
  size_t at = p->pos;
  char key[32];
  int rc = parse_string(p, "a key ('descr', 'fortran_order' or 'shape') or '}'", key, sizeof key);
  if (rc) return rc;
  int k = 0;
  while (k < KEY_COUNT && strcmp(key, key_names[k])) k++;
  if (k == KEY_COUNT) return fail_at(p, at, "unknown key '%s' (the header has 'descr', 'fortran_order' and 'shape')", key);
  if (*seen & (1u << k)) return fail_at(p, at, "the key '%s' appears twice", key);
  *seen |= 1u << k;
  if (!take(p, ':')) {
    char what[64];
    snprintf(what, sizeof what, "':' after the key '%s'", key);
    return expected(p, what);
  }
  return k == KEY_DESCR ? parse_descr(p, h) : k == KEY_FORTRAN ? parse_bool(p, &h->fortran) : parse_shape(p, h);
}

static int parse_dict(parser *p, cask__npy_header *h) {
  if (!take(p, '{')) return expected(p, "'{' opening the header's dict");
  unsigned seen = 0;
  size_t close = p->pos;
  if (!take(p, '}')) {
    for (;;) {
      int rc = parse_entry(p, h, &seen);
      if (rc) return rc;
      if (take(p, ',')) {
        if (take(p, '}')) break;
        continue;
      }
      if (take(p, '}')) break;
      return expected(p, "',' or '}' after a value");
    }
    close = p->pos - 1;
  }
  skip_ws(p);
  if (p->pos < p->end) return expected(p, "only spaces and newlines after the header's '}'");
  for (int k = 0; k < KEY_COUNT; k++)
    if (!(seen & (1u << k))) return fail_at(p, close, "the header's dict ends without the key '%s'", key_names[k]);
  return CASK_OK;
}

static uint32_t load_le(const unsigned char *b, int n) {
  uint32_t v = 0;
  for (int i = n - 1; i >= 0; i--) v = v << 8 | b[i];
  return v;
}

int cask__npy_data_offset(const void *buf, size_t n, int64_t *data_off, char *err, size_t cap) {
  static const unsigned char magic[6] = {0x93, 'N', 'U', 'M', 'P', 'Y'};
  const unsigned char *b = buf;
  for (size_t i = 0; i < 6; i++) {
    if (i >= n) {
      cask__fmt(err, cap, "byte %zu: the file ends inside the magic string \\x93NUMPY", i);
      return CASK_EFORMAT;
    }
    if (b[i] != magic[i]) {
      cask__fmt(err, cap, "byte %zu: expected the magic string \\x93NUMPY of a .npy file, found byte 0x%02x", i, b[i]);
      return CASK_EFORMAT;
    }
  }
  if (n < 8) {
    cask__fmt(err, cap, "byte %zu: the file ends before the format version (bytes 6 and 7)", n);
    return CASK_EFORMAT;
  }
  if (b[6] < 1 || b[6] > 3 || b[7] != 0) {
    cask__fmt(err, cap, "byte 6: format version %u.%u; cask reads versions 1.0, 2.0 and 3.0", b[6], b[7]);
    return CASK_EFORMAT;
  }
  int lenbytes = b[6] == 1 ? 2 : 4;
  if (n < (size_t)(8 + lenbytes)) {
    cask__fmt(err, cap, "byte %zu: the file ends inside the header length (bytes 8 to %d)", n, 7 + lenbytes);
    return CASK_EFORMAT;
  }
  uint32_t hlen = load_le(b + 8, lenbytes);
  if (hlen > CASK__NPY_MAX_HEADER) {
    cask__fmt(err, cap, "byte 8: the header length is %u bytes; cask reads headers of at most %d bytes", hlen,
              CASK__NPY_MAX_HEADER);
    return CASK_EFORMAT;
  }
  *data_off = 8 + lenbytes + (int64_t)hlen;
  return CASK_OK;
}

int cask__npy_parse(const void *buf, size_t n, cask__npy_header *h, char *err, size_t cap) {
  memset(h, 0, sizeof *h);
  int rc = cask__npy_data_offset(buf, n, &h->data_off, err, cap);
  if (rc) return rc;
  if ((uint64_t)h->data_off > n) {
    cask__fmt(err, cap, "byte %zu: the file ends inside the header, which should end at byte %lld", n,
              (long long)h->data_off);
    return CASK_EFORMAT;
  }
  const unsigned char *b = buf;
  h->version = b[6];
  parser p = {b, h->version == 1 ? 10 : 12, (size_t)h->data_off, h->version, err, cap};
  if ((rc = parse_dict(&p, h))) return rc;
  /* Elements times itemsize must be a size a file can have, also without
   * the empty axes (blocks and chunks are computed from the others). */
  int64_t bytes = (int64_t)cask_dtype_size(h->dtype);
  int empty = 0;
  for (int i = 0; i < h->ndim; i++) {
    if (!h->shape[i]) {
      empty = 1;
      continue;
    }
    if (bytes > (INT64_MAX / 4) / h->shape[i]) {
      cask__fmt(err, cap, "byte %u: the shape holds more than 2^61 bytes of %s", h->version == 1 ? 10 : 12, h->descr);
      return CASK_EFORMAT;
    }
    bytes *= h->shape[i];
  }
  h->data_bytes = empty ? 0 : bytes;
  return CASK_OK;
}

/* ---- writing a header ---------------------------------------------------- */

static const char *descr_of(cask_dtype dt) {
  static const char *const d[CASK_DTYPE_COUNT] = {"<f8", "<f4", "<i8", "<i4", "|u1", "|b1"};
  return (unsigned)dt < CASK_DTYPE_COUNT ? d[dt] : NULL;
}

/* What np.save writes (NumPy 1.24): the dict with sorted keys, then room
 * for the first extent to grow to 21 digits (so a writer can append rows
 * in place), then spaces and a newline up to a multiple of 64 bytes; at
 * least one space (a header already aligned gets 64 more). Version 1.0
 * unless the header needs more than 65535 bytes. */
size_t cask__npy_make_header(cask_dtype dtype, int ndim, const int64_t *shape, char *out, size_t cap) {
  const char *descr = descr_of(dtype);
  if (!descr || ndim < 0 || ndim > CASK_MAX_NDIM) return 0;
  char dict[1024];
  size_t n = (size_t)snprintf(dict, sizeof dict, "{'descr': '%s', 'fortran_order': False, 'shape': (", descr);
  for (int i = 0; i < ndim; i++)
    n += (size_t)snprintf(dict + n, sizeof dict - n, "%s%lld", i ? ", " : "", (long long)shape[i]);
  n += (size_t)snprintf(dict + n, sizeof dict - n, "%s), }", ndim == 1 ? "," : "");
  if (ndim > 0) {
    int digits = snprintf(NULL, 0, "%lld", (long long)shape[0]);
    for (int i = digits; i < 21; i++) dict[n++] = ' ';
  }
  size_t hlen = n + 1; /* the newline */
  size_t prefix = 10, pad = 64 - (prefix + hlen) % 64;
  if (hlen + pad > 65535) {
    prefix = 12;
    pad = 64 - (prefix + hlen) % 64;
  }
  size_t total = prefix + hlen + pad;
  if (total > cap) return 0;
  memcpy(out, "\x93NUMPY", 6);
  out[6] = (char)(prefix == 10 ? 1 : 2);
  out[7] = 0;
  uint32_t len = (uint32_t)(hlen + pad);
  for (size_t i = 0; i < prefix - 8; i++) out[8 + i] = (char)(len >> (8 * i));
  memcpy(out + prefix, dict, n);
  memset(out + prefix + n, ' ', pad);
  out[total - 1] = '\n';
  return total;
}

/* ======================================================================
 * Block geometry and file I/O
 * ====================================================================== */

/* Called for each run of a block's elements that is contiguous both in a
 * C-order file and in the C-order block: n elements from file element
 * `file_elem`, at block element `block_elem`. */
/* Runs of at least this many bytes are announced to the kernel before
 * they are read (read_run_piece). */
#define NPY_WILLNEED_MIN ((int64_t)1 << 20)

typedef int (*run_fn)(void *user, int64_t file_elem, int64_t block_elem, int64_t n);

/* The box (off, ext) of a C-order array of shape as runs. Trailing axes
 * the box spans whole coalesce with the first one it does not: a block of
 * whole rows is one run (one pread). */
static int for_runs(int ndim, const int64_t *shape, const int64_t *off, const int64_t *ext, run_fn fn,
                    void *user) {
  int64_t total = 1, stride[CASK_MAX_NDIM] = {0}, idx[CASK_MAX_NDIM] = {0};
  for (int i = 0; i < ndim; i++) total *= ext[i];
  if (total == 0) return CASK_OK;
  if (ndim == 0) return fn(user, 0, 0, 1);
  int64_t s = 1;
  for (int i = ndim - 1; i >= 0; i--) {
    stride[i] = s;
    s *= shape[i];
  }
  int k = ndim - 1;
  while (k > 0 && ext[k] == shape[k]) k--;
  int64_t run = ext[k] * stride[k];
  for (int64_t done = 0; done < total; done += run) {
    int64_t f = off[k] * stride[k];
    for (int i = 0; i < k; i++) f += (off[i] + idx[i]) * stride[i];
    int rc = fn(user, f, done, run);
    if (rc) return rc;
    cask__index_next(k, idx, ext);
  }
  return CASK_OK;
}

/* pread until n bytes or the end of the file; returns the bytes read, or
 * -1 with errno. */
static int pwrite_full(int fd, const void *buf, size_t n, int64_t off) {
  size_t done = 0;
  while (done < n) {
    ssize_t w = pwrite(fd, (const char *)buf + done, n - done, (off_t)(off + (int64_t)done));
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) {
      if (w == 0) errno = EIO;
      return -1;
    }
    done += (size_t)w;
  }
  return 0;
}

/* dst (C order, extents ext) from src, the same block in Fortran order:
 * element (i0, ..., in-1) is at src offset sum(ik * prod(ext[0..k-1])). */
static void fortran_to_c(void *dst, const void *src, int ndim, const int64_t *ext, size_t w) {
  int64_t fs[CASK_MAX_NDIM], idx[CASK_MAX_NDIM] = {0}, s = 1, total = 1;
  for (int i = 0; i < ndim; i++) {
    fs[i] = s;
    s *= ext[i];
    total *= ext[i];
  }
  if (total == 0) return;
  int64_t len = ext[ndim - 1], step = fs[ndim - 1];
  for (int64_t o = 0; o < total; o += len) {
    int64_t base = 0;
    for (int i = 0; i < ndim - 1; i++) base += idx[i] * fs[i];
    char *d = (char *)dst + o * (int64_t)w;
    const char *sp = (const char *)src + base * (int64_t)w;
    if (w == 8)
      for (int64_t j = 0; j < len; j++) memcpy(d + 8 * j, sp + 8 * j * step, 8);
    else if (w == 4)
      for (int64_t j = 0; j < len; j++) memcpy(d + 4 * j, sp + 4 * j * step, 4);
    else
      for (int64_t j = 0; j < len; j++) d[j] = sp[j * step];
    cask__index_next(ndim - 1, idx, ext);
  }
}

/* ======================================================================
 * Reading: the "array.npy_read" op
 * ====================================================================== */

/* A read task's arguments, followed by path_len bytes of the path (no
 * NUL). The file's identity fields are what cask_read_npy saw. */
typedef struct read_args {
  int32_t dtype, ndim, fortran, big_endian;
  int64_t data_off, file_size, mtime_s, mtime_ns, ino, dev;
  int64_t shape[CASK_MAX_NDIM]; /* the file's (C order of the axes) */
  int64_t off[CASK_MAX_NDIM], ext[CASK_MAX_NDIM]; /* the block's box */
  uint32_t path_len, pad;
} read_args;

typedef struct read_ctx {
  int fd;
  int64_t data_off;
  size_t w;
  char *dst;
  const char *path;
  char *err;
  size_t cap;
} read_ctx;

static int read_run_piece(void *user, int64_t file_elem, int64_t block_elem, int64_t n) {
  read_ctx *c = user;
  int64_t at = c->data_off + file_elem * (int64_t)c->w, want = n * (int64_t)c->w;
  /* One large pread is served by the kernel's read-ahead window (a few
   * MiB) at a time: telling it the whole run first keeps the disk's queue
   * full, 1.3 -> 1.7 GB/s from one thread on this VM's disk. */
  if (want >= NPY_WILLNEED_MIN) (void)posix_fadvise(c->fd, (off_t)at, (off_t)want, POSIX_FADV_WILLNEED);
  int64_t got = cask__pread_full(c->fd, c->dst + block_elem * (int64_t)c->w, (size_t)want, at);
  if (got < 0) {
    cask__fmt(c->err, c->cap, "%s: reading %lld bytes at byte %lld: %s", c->path, (long long)want, (long long)at,
              strerror(errno));
    return CASK_EIO;
  }
  if (got < want) {
    cask__fmt(c->err, c->cap, "%s: byte %lld: the file ends inside its data (expected %lld bytes from byte %lld)",
              c->path, (long long)(at + got), (long long)want, (long long)at);
    return CASK_EFORMAT;
  }
  return CASK_OK;
}

/* The arguments come from a graph, maybe from a JSON file: check that
 * every field describes a block inside a file before touching memory. */
static int check_read_args(const read_args *a, size_t args_len) {
  if (args_len < sizeof *a || args_len - sizeof *a != a->path_len || a->path_len == 0 ||
      a->path_len >= NPY_MAX_PATH || (unsigned)a->dtype >= CASK_DTYPE_COUNT || a->ndim < 0 ||
      a->ndim > CASK_MAX_NDIM || a->data_off < 0 || a->file_size < a->data_off)
    return CASK_EINVAL;
  /* The parser's limit: the extents that are not 0 hold at most 2^61 bytes. */
  int64_t bytes = (int64_t)cask_dtype_size((cask_dtype)a->dtype);
  int empty = 0;
  for (int i = 0; i < a->ndim; i++) {
    if (a->shape[i] < 0 || a->off[i] < 0 || a->ext[i] < 0 || a->off[i] > a->shape[i] ||
        a->ext[i] > a->shape[i] - a->off[i])
      return CASK_EINVAL;
    empty |= a->shape[i] == 0;
    if (a->shape[i] && bytes > (INT64_MAX / 4) / a->shape[i]) return CASK_EINVAL;
    bytes *= a->shape[i] ? a->shape[i] : 1;
  }
  return (empty ? 0 : bytes) <= a->file_size - a->data_off ? CASK_OK : CASK_EINVAL;
}

/* The file must be the one cask_read_npy parsed: same inode, size and
 * modification time. (A rewrite within the file system's timestamp
 * granularity, keeping the size, is beyond what stat can see.) */
static int check_unchanged(int fd, const read_args *a, const char *path, char *err, size_t cap) {
  struct stat st;
  if (fstat(fd, &st) != 0) {
    cask__fmt(err, cap, "%s: stat: %s", path, strerror(errno));
    return CASK_EIO;
  }
  if ((int64_t)st.st_size != a->file_size || (int64_t)st.st_ino != a->ino || (int64_t)st.st_dev != a->dev ||
      (int64_t)st.st_mtim.tv_sec != a->mtime_s || (int64_t)st.st_mtim.tv_nsec != a->mtime_ns) {
    cask__fmt(err, cap, "%s changed since cask_read_npy read its header (then %lld bytes, modified %lld.%09lld; now %lld bytes, modified %lld.%09lld%s)",
              path, (long long)a->file_size, (long long)a->mtime_s, (long long)a->mtime_ns,
              (long long)st.st_size, (long long)st.st_mtim.tv_sec, (long long)st.st_mtim.tv_nsec,
              (int64_t)st.st_ino != a->ino ? ", another inode" : "");
    return CASK_EIO;
  }
  return CASK_OK;
}

/* Read the box into dst (C order). A Fortran-order file is the C-order
 * file of the reversed axes: read the reversed box, then transpose. */
static int read_box(read_ctx *c, const read_args *a, char *dst) {
  int nd = a->ndim;
  int long_axes = 0;
  for (int i = 0; i < nd; i++) long_axes += a->ext[i] > 1;
  if (!a->fortran || long_axes <= 1) {
    int64_t rs[CASK_MAX_NDIM], ro[CASK_MAX_NDIM], re[CASK_MAX_NDIM];
    for (int i = 0; i < nd; i++) {
      int j = a->fortran ? nd - 1 - i : i;
      rs[i] = a->shape[j], ro[i] = a->off[j], re[i] = a->ext[j];
    }
    c->dst = dst;
    return for_runs(nd, rs, ro, re, read_run_piece, c);
  }
  int64_t n = 1, rs[CASK_MAX_NDIM], ro[CASK_MAX_NDIM], re[CASK_MAX_NDIM];
  for (int i = 0; i < nd; i++) {
    rs[i] = a->shape[nd - 1 - i], ro[i] = a->off[nd - 1 - i], re[i] = a->ext[nd - 1 - i];
    n *= a->ext[i];
  }
  char *tmp = cask__malloc_big((size_t)n * c->w);
  if (!tmp) {
    cask__fmt(c->err, c->cap, "%s: out of memory for a block of %lld bytes", c->path, (long long)n * (long long)c->w);
    return CASK_ENOMEM;
  }
  c->dst = tmp;
  int rc = for_runs(nd, rs, ro, re, read_run_piece, c);
  if (!rc) fortran_to_c(dst, tmp, nd, a->ext, c->w);
  cask__free(tmp);
  return rc;
}

static void fix_values(const read_args *a, void *data, int64_t n) {
  if (a->big_endian != cask__host_big_endian()) cask__byteswap(data, cask_dtype_size((cask_dtype)a->dtype), n);
  if (a->dtype == CASK_BOOL) { /* a bool byte that is not 0 or 1 reads as True */
    unsigned char *b = data;
    for (int64_t i = 0; i < n; i++) b[i] = b[i] != 0;
  }
}

static int read_run(cask_task_io *io) {
  read_args a;
  if (io->args_len < sizeof a) return CASK_EINVAL;
  memcpy(&a, io->args, sizeof a);
  if (check_read_args(&a, io->args_len)) {
    cask__fmt(io->errmsg, io->errmsg_cap, "malformed npy_read arguments");
    return CASK_EINVAL;
  }
  char path[NPY_MAX_PATH];
  memcpy(path, (const char *)io->args + sizeof a, a.path_len);
  path[a.path_len] = '\0';
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    cask__fmt(io->errmsg, io->errmsg_cap, "%s: cannot open: %s", path, strerror(errno));
    return CASK_EIO;
  }
  int rc = check_unchanged(fd, &a, path, io->errmsg, io->errmsg_cap);
  if (!rc) rc = cask_block_new((cask_dtype)a.dtype, a.ndim, a.ext, &io->output);
  if (!rc) {
    read_ctx c = {fd, a.data_off, cask_dtype_size((cask_dtype)a.dtype), NULL, path, io->errmsg, io->errmsg_cap};
    rc = read_box(&c, &a, cask_block_data(io->output));
  }
  if (!rc) fix_values(&a, cask_block_data(io->output), cask_block_size(io->output));
  close(fd);
  return rc;
}

/* ---- the node ------------------------------------------------------------ */

static const cask_op *op_read, *op_write;

/* a->ext: read_args with an empty box, followed by the path. */
static const cask__reader_class npy_class = CASK__READER_CLASS("npy", read_args, &op_read);

typedef struct npy_file {
  cask__npy_header h;
  struct stat st;
  char path[NPY_MAX_PATH]; /* absolute: a graph may run with another working directory */
} npy_file;

/* Read the header of the open file fd: its first bytes, then the rest of
 * a header longer than those. */
static int read_header(cask_ctx *ctx, const char *path, int fd, npy_file *f) {
  size_t want = f->st.st_size < 4096 ? (size_t)f->st.st_size : 4096;
  unsigned char *buf = cask__malloc_big(want ? want : 1);
  if (!buf) return cask__fail(ctx, CASK_ENOMEM, "read_npy %s: out of memory", path);
  char err[768];
  int64_t got = cask__pread_full(fd, buf, want, 0), off = 0;
  int rc = got < 0 ? CASK_EIO : cask__npy_data_offset(buf, (size_t)got, &off, err, sizeof err);
  if (!rc && off > got && off <= f->st.st_size) {
    unsigned char *more = cask__realloc(buf, (size_t)off);
    if (!more) rc = CASK_ENOMEM;
    else buf = more;
    if (!rc && (got = cask__pread_full(fd, buf, (size_t)off, 0)) < 0) rc = CASK_EIO;
  }
  int read_errno = errno;
  if (!rc) rc = cask__npy_parse(buf, (size_t)got, &f->h, err, sizeof err);
  cask__free(buf);
  if (rc == CASK_EIO) return cask__fail(ctx, rc, "read_npy %s: reading the header: %s", path, strerror(read_errno));
  if (rc == CASK_ENOMEM) return cask__fail(ctx, rc, "read_npy %s: out of memory for the header", path);
  if (rc) return cask__fail(ctx, rc, "read_npy %s: %s", path, err);
  if (f->h.data_bytes > f->st.st_size - f->h.data_off) {
    char s[400];
    cask__shape_str(s, sizeof s, f->h.ndim, f->h.shape);
    return cask__fail(ctx, CASK_EFORMAT,
                      "read_npy %s: byte %lld: the file ends inside its data (shape %s of '%s' needs %lld bytes from byte %lld, up to byte %lld)",
                      path, (long long)f->st.st_size, s, f->h.descr, (long long)f->h.data_bytes,
                      (long long)f->h.data_off, (long long)(f->h.data_off + f->h.data_bytes));
  }
  return CASK_OK;
}

static int open_npy(cask_ctx *ctx, const char *path, npy_file *f) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return cask__fail(ctx, CASK_EIO, "read_npy %s: cannot open: %s", path, strerror(errno));
  int rc = CASK_OK;
  if (fstat(fd, &f->st) != 0) rc = cask__fail(ctx, CASK_EIO, "read_npy %s: stat: %s", path, strerror(errno));
  else if (!S_ISREG(f->st.st_mode)) rc = cask__fail(ctx, CASK_EIO, "read_npy %s: not a regular file", path);
  else if (!realpath(path, f->path))
    rc = cask__fail(ctx, CASK_EIO, "read_npy %s: cannot resolve the path: %s", path, strerror(errno));
  if (!rc) rc = read_header(ctx, path, fd, f);
  close(fd);
  return rc;
}

/* Blocks of about NPY_BLOCK_BYTES along the axis that is contiguous in
 * the file: the first one in C order, the last one in Fortran order. */
static void default_chunks(const cask__npy_header *h, int64_t *chunks) {
  int axis = h->fortran ? h->ndim - 1 : 0;
  int64_t slab = (int64_t)cask_dtype_size(h->dtype);
  for (int i = 0; i < h->ndim; i++) {
    chunks[i] = 0;
    if (i != axis) slab *= h->shape[i];
  }
  if (h->ndim && slab > 0) chunks[axis] = NPY_BLOCK_BYTES / slab > 0 ? NPY_BLOCK_BYTES / slab : 1;
}

static read_args *make_ext(const npy_file *f, size_t path_len) {
  read_args *a = cask__calloc(1, sizeof *a + path_len);
  if (!a) return NULL;
  a->dtype = f->h.dtype;
  a->ndim = f->h.ndim;
  a->fortran = f->h.fortran;
  a->big_endian = f->h.big_endian;
  a->data_off = f->h.data_off;
  a->file_size = f->st.st_size;
  a->mtime_s = f->st.st_mtim.tv_sec;
  a->mtime_ns = f->st.st_mtim.tv_nsec;
  a->ino = (int64_t)f->st.st_ino;
  a->dev = (int64_t)f->st.st_dev;
  for (int i = 0; i < f->h.ndim; i++) a->shape[i] = f->h.shape[i];
  a->path_len = (uint32_t)path_len;
  memcpy(a + 1, f->path, path_len);
  return a;
}

int cask_read_npy(cask_ctx *ctx, const char *path, const int64_t *chunks, cask_array **out) {
  if (!out) return CASK_EINVAL;
  *out = NULL;
  if (!ctx) return CASK_EINVAL;
  if (!path || !*path) return cask__fail(ctx, CASK_EINVAL, "read_npy: the path is NULL or empty");
  npy_file *f = cask__malloc(sizeof *f);
  if (!f) return cask__fail(ctx, CASK_ENOMEM, "read_npy %s: out of memory", path);
  int rc = open_npy(ctx, path, f);
  int64_t ch[CASK_MAX_NDIM];
  if (!rc && chunks) {
    for (int i = 0; i < f->h.ndim && !rc; i++)
      if (chunks[i] < 0)
        rc = cask__fail(ctx, CASK_EINVAL, "read_npy %s: chunk %lld on axis %d is negative", path,
                        (long long)chunks[i], i);
  } else if (!rc) {
    default_chunks(&f->h, ch);
  }
  read_args *ext = rc ? NULL : make_ext(f, strlen(f->path));
  if (!rc && !ext) rc = cask__fail(ctx, CASK_ENOMEM, "read_npy %s: out of memory", path);
  if (!rc)
    rc = cask__node_new_ext(ctx, &npy_class.cls, ext, f->h.dtype, f->h.ndim, f->h.shape, chunks ? chunks : ch, 0,
                            NULL, out);
  cask__free(f);
  if (rc) return rc;
  /* The token: the path, the file's identity (size, mtime, inode) and the
   * header's fields; the node adds shape, dtype and chunks. */
  struct {
    read_args head;
    uint64_t path_hash;
  } seal;
  memcpy(&seal.head, ext, sizeof seal.head);
  seal.path_hash = cask__hash(ext + 1, ext->path_len, 0x6e7079);
  cask__node_seal(*out, &seal, sizeof seal);
  return CASK_OK;
}

/* ======================================================================
 * Writing: the "array.npy_write" op and cask_to_npy
 * ====================================================================== */

/* A block written is taken out of the page cache from this size on: a
 * container's limit counts the cache, and an output larger than memory
 * would otherwise fill it with dirty pages (small blocks are not worth a
 * wait for the disk). */
#define DROP_CACHED_BYTES ((int64_t)1 << 20)

/* A writer task's arguments: the open temporary file (so never written as
 * JSON) and where the block goes. */
typedef struct write_args {
  int32_t fd, dtype, ndim, pad;
  int64_t data_off;
  int64_t shape[CASK_MAX_NDIM], off[CASK_MAX_NDIM], ext[CASK_MAX_NDIM];
} write_args;

typedef struct write_ctx {
  const write_args *a;
  const char *src;
  size_t w;
  char *err;
  size_t cap;
} write_ctx;

static int write_run_piece(void *user, int64_t file_elem, int64_t block_elem, int64_t n) {
  write_ctx *c = user;
  int64_t at = c->a->data_off + file_elem * (int64_t)c->w;
  if (pwrite_full(c->a->fd, c->src + block_elem * (int64_t)c->w, (size_t)n * c->w, at) != 0) {
    cask__fmt(c->err, c->cap, "writing %lld bytes at byte %lld: %s", (long long)n * (long long)c->w, (long long)at,
              strerror(errno));
    return CASK_EIO;
  }
  return CASK_OK;
}

static int write_run(cask_task_io *io) {
  write_args a;
  if (io->args_len != sizeof a) return CASK_EINVAL;
  memcpy(&a, io->args, sizeof a);
  if ((unsigned)a.dtype >= CASK_DTYPE_COUNT || a.ndim < 0 || a.ndim > CASK_MAX_NDIM) return CASK_EINVAL;
  int rc = cask__sink_check_block(io, a.ndim, a.ext, "place in the file");
  if (rc) return rc;
  const cask_block *b = io->inputs[0];
  size_t w = cask_dtype_size((cask_dtype)a.dtype);
  int64_t n = cask_block_size(b);
  const char *src = cask_block_data(b);
  char *tmp = NULL;
  /* The file holds the array's dtype, little-endian: convert a block of
   * another dtype, swap on a big-endian host. */
  int cast = cask_block_dtype(b) != (cask_dtype)a.dtype, swap = cask__host_big_endian() && w > 1;
  if ((cast || swap) && n > 0) {
    if (!(tmp = cask__malloc_big((size_t)n * w))) return CASK_ENOMEM;
    if (cast) cask__cast(tmp, (cask_dtype)a.dtype, src, cask_block_dtype(b), n);
    else memcpy(tmp, src, (size_t)n * w);
    if (swap) cask__byteswap(tmp, w, n);
    src = tmp;
  }
  write_ctx c = {&a, src, w, io->errmsg, io->errmsg_cap};
  rc = for_runs(a.ndim, a.shape, a.off, a.ext, write_run_piece, &c);
  cask__free(tmp);
  if (!rc && n * (int64_t)w >= DROP_CACHED_BYTES) { /* out of the page cache: see cask__drop_cached */
    int64_t first = 0, last = 0, stride = 1;
    for (int i = a.ndim - 1; i >= 0; i--) {
      first += a.off[i] * stride;
      last += (a.off[i] + a.ext[i] - 1) * stride;
      stride *= a.shape[i];
    }
    cask__drop_cached(a.fd, a.data_off + first * (int64_t)w, (last - first + 1) * (int64_t)w, 1);
  }
  return rc;
}

/* One writer task per block of a, each depending on the block's task. */
static void place_block(void *args, const int64_t *bidx, const int64_t *off, const int64_t *ext) {
  write_args *w = args;
  memcpy(w->off, off, sizeof w->off[0] * (size_t)w->ndim);
  memcpy(w->ext, ext, sizeof w->ext[0] * (size_t)w->ndim);
  (void)bidx;
}

/* The temporary file a run writes into; with several ranks, only rank 0
 * (lead) made it and renames or removes it. */
typedef struct npy_target {
  char *tmp;
  int fd;
  int lead;
} npy_target;

/* Rank 0 fsyncs in its finish (cask__finish_file); the others here, and a
 * failed write-back (EIO, ENOSPC of delayed allocation) fails the store. */
static int flush_npy(cask__writer *w, cask_ctx *ctx) {
  npy_target *t = w->state;
  if (t->lead || fsync(t->fd) == 0) return CASK_OK;
  return cask__fail(ctx, CASK_EIO, "to_npy %s: writing back its blocks into %s: %s", w->path, t->tmp, strerror(errno));
}

static int finish_npy(cask__writer *w, cask_ctx *ctx, int ok) {
  npy_target *t = w->state;
  int rc = CASK_OK;
  if (t->lead) {
    rc = ok ? cask__finish_file(ctx, "to_npy", t->fd, t->tmp, w->path) : CASK_OK;
    if (!ok || rc) unlink(t->tmp);
  }
  if (close(t->fd) != 0 && ok && !rc) /* renamed already: the data is fsynced, report only */
    rc = cask__fail(ctx, CASK_EIO, "to_npy %s: closing the file: %s", w->path, strerror(errno));
  cask__free(t->tmp);
  cask__free(t);
  cask__free(w->args);
  return rc;
}

/* Rank 0 (or a run on one process): a new temporary file, its header
 * written and its size set. */
static int make_npy_temp(cask_ctx *ctx, const char *path, npy_target *t, const char *header, size_t hlen, int64_t nbytes) {
  cask__remove_leftovers_of(path); /* of a killed writer of the same path */
  if ((t->fd = mkstemp(t->tmp)) < 0)
    return cask__fail(ctx, CASK_EIO, "to_npy %s: cannot create a temporary file next to it: %s", path, strerror(errno));
  fcntl(t->fd, F_SETFD, FD_CLOEXEC); /* keep it out of child processes */
  if (pwrite_full(t->fd, header, hlen, 0) != 0 || ftruncate(t->fd, (off_t)((int64_t)hlen + nbytes)) != 0) {
    int rc = cask__fail(ctx, CASK_EIO, "to_npy %s: writing the header and sizing the file to %lld bytes: %s", path,
                        (long long)((int64_t)hlen + nbytes), strerror(errno));
    close(t->fd);
    t->fd = -1;
    unlink(t->tmp);
    return rc;
  }
  return CASK_OK;
}

int cask__npy_writer_open(cask_array *a, const char *path, cask_executor *ex, cask__writer *w) {
  cask_ctx *ctx = a->ctx;
  if (!path || !*path) return cask__fail(ctx, CASK_EINVAL, "to_npy: the path is NULL or empty");
  char header[1024];
  size_t hlen = cask__npy_make_header(a->dtype, a->ndim, a->shape, header, sizeof header);
  int64_t nbytes = cask_array_size(a) * (int64_t)cask__itemsize(a);
  if (!hlen) return cask__fail(ctx, CASK_EINVAL, "to_npy %s: no header for dtype %d", path, (int)a->dtype);
  size_t cap = strlen(path) + 48 + (path[0] == '/' ? 0 : PATH_MAX);
  npy_target *t = cask__calloc(1, sizeof *t);
  write_args *args = cask__calloc(1, sizeof *args);
  int multi = ex && ex->nranks > 1, rc = CASK_OK;
  if (!t || !args || !(t->tmp = cask__calloc(1, cap))) rc = cask__fail(ctx, CASK_ENOMEM, "to_npy %s: out of memory", path);
  if (t) t->lead = !multi || ex->rank == 0, t->fd = -1;
  if (!rc && t->lead) {
    /* absolute with several ranks: theirs need not share rank 0's cwd */
    char cwd[PATH_MAX] = "";
    if (multi && path[0] != '/' && !getcwd(cwd, sizeof cwd))
      rc = cask__fail(ctx, CASK_EIO, "to_npy %s: cannot get the working directory: %s", path, strerror(errno));
    size_t off = cwd[0] ? (size_t)snprintf(t->tmp, cap, "%s/", cwd) : 0;
    if (!rc) cask__temp_name(t->tmp + off, cap - off, path);
    if (!rc) rc = make_npy_temp(ctx, path, t, header, hlen, nbytes);
  }
  if (multi) { /* rank 0's name to the others, which write into it */
    char name[4096] = "";
    if (!rc && t->lead) cask__fmt(name, sizeof name, "%s", t->tmp);
    int shared = cask__share_name(ex, rc, name, sizeof name);
    if (!rc && shared) rc = cask__fail(ctx, shared, "to_npy %s: rank 0 could not make the temporary file", path);
    if (!rc && !t->lead) cask__fmt(t->tmp, cap, "%s", name); /* for messages */
    if (!rc && !t->lead && (t->fd = open(name, O_WRONLY | O_CLOEXEC)) < 0)
      rc = cask__fail(ctx, CASK_EIO, "to_npy %s: rank %d cannot open rank 0's temporary file %s: %s", path, ex->rank, name,
                      strerror(errno));
  }
  if (rc) {
    if (t && t->lead && t->fd >= 0) close(t->fd), unlink(t->tmp);
    cask__free(t ? t->tmp : NULL);
    cask__free(t);
    cask__free(args);
    return rc;
  }
  args->fd = t->fd, args->dtype = a->dtype, args->ndim = a->ndim, args->data_off = (int64_t)hlen;
  memcpy(args->shape, a->shape, sizeof args->shape[0] * (size_t)a->ndim);
  *w = (cask__writer){.what = "to_npy", .path = path, .op = op_write, .args = args, .len = sizeof *args,
                      .place = place_block, .finish = finish_npy, .state = t, .flush = flush_npy};
  return CASK_OK;
}

int cask_to_npy(cask_array *a, const char *path) {
  if (!a) return CASK_EINVAL;
  return cask_store(1, &CASK_TO_NPY(a, path), NULL);
}

void cask__register_npy_ops(void) {
  /* pure, and each read checks the file is the one cask_read_npy saw */
  cask_op_register(&(cask_op){.name = "array.npy_read", .run = read_run, .flags = CASK_OP_PURE | CASK_OP_CHECKS_SOURCE},
                   &op_read);
  /* the fd in the arguments means nothing in another process */
  cask__op_register_private(&(cask_op){.name = "array.npy_write", .run = write_run}, &op_write);
}
