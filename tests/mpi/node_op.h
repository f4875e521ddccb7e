/* node_op.h - the test op the MPI test programs build their graphs of
 * (tests/mpi/exec.c, memory.c): one header so both compute the same thing.
 * args: seed (8 bytes) and length (8). Value i: a seeded nudge, then per
 * input k (in order) s = s / 2 + in_k[i % len_k] * (k + 1.5): not
 * associative on purpose, so a block combined in another order or on
 * other data shows in the bits. */
#ifndef CASK_TESTS_MPI_NODE_OP_H
#define CASK_TESTS_MPI_NODE_OP_H

#include <stdint.h>
#include <string.h>

#include "cask/cask.h"

static uint64_t mix(uint64_t x) {
  x ^= x >> 33, x *= 0xff51afd7ed558ccdULL, x ^= x >> 33, x *= 0xc4ceb9fe1a85ec53ULL;
  return x ^ (x >> 33);
}

static int node_run(cask_task_io *io) {
  int64_t a[2];
  memcpy(a, io->args, sizeof a);
  cask_block *b;
  if (cask_block_new(CASK_F64, 1, &a[1], &b)) return CASK_ENOMEM;
  double *o = cask_block_data(b);
  for (int64_t i = 0; i < a[1]; i++) {
    double s = (double)(mix((uint64_t)a[0] + (uint64_t)i) % 1000) / 7.0;
    for (size_t k = 0; k < io->ninputs; k++) {
      const double *x = cask_block_data(io->inputs[k]);
      s = s * 0.5 + x[i % cask_block_size(io->inputs[k])] * ((double)k + 1.5);
    }
    o[i] = s;
  }
  io->output = b;
  return CASK_OK;
}

#endif
