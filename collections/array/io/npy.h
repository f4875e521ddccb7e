/* npy.h - the .npy header parser (npy.c), shared by the reader and the fuzz
 * target (fuzz/fuzz_npy.c).
 * The one thing to know: the parser sees bytes from the start of a file and
 * never trusts them; every refusal is CASK_EFORMAT with a message that
 * starts "byte N:" (N counted from the start of the file) and says what was
 * expected there. */
#ifndef CASK_ARRAY_NPY_H
#define CASK_ARRAY_NPY_H

#include <stddef.h>
#include <stdint.h>

#include "cask/block.h"
#include "../core/dtype.h"

/* The longest header cask reads: headers of the arrays it can hold are a
 * few hundred bytes; a longer one is padding or an attack on the reader. */
#define CASK__NPY_MAX_HEADER (1 << 20)

typedef struct cask__npy_header {
  int version;          /* major version: 1, 2 or 3 (minor is always 0) */
  cask_dtype dtype;
  int big_endian;       /* the file's byte order ('>'; '=' and '|' are the host's) */
  int fortran;          /* fortran_order: the data is in Fortran (column-major) order */
  int ndim;
  int64_t shape[CASK_MAX_NDIM];
  int64_t data_off;     /* the data starts here (the header's end) */
  int64_t data_bytes;   /* size * itemsize */
  char descr[40];       /* as written (cut short if longer), for messages */
} cask__npy_header;

/* From the first n bytes of a file (n >= 12 is always enough): the byte
 * offset where the data starts (magic + header length + header). Returns
 * CASK_OK or CASK_EFORMAT with a message in err. */
int cask__npy_data_offset(const void *buf, size_t n, int64_t *data_off, char *err, size_t cap);
/* Parse the header of a file whose first n bytes are buf (n may cover the
 * whole file; only the header is read). Returns CASK_OK or CASK_EFORMAT
 * with a message in err ("byte N: ..."). */
int cask__npy_parse(const void *buf, size_t n, cask__npy_header *h, char *err, size_t cap);
/* The header NumPy's np.save writes for an array of dtype and shape in C
 * order, byte for byte (padded so the data starts at a multiple of 64).
 * Returns its length, or 0 when it does not fit in cap. */
size_t cask__npy_make_header(cask_dtype dtype, int ndim, const int64_t *shape, char *out,
                             size_t cap);


#endif
