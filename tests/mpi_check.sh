#!/usr/bin/env bash
# mpi_check.sh SMOKE - runs tests/mpi/smoke.c's program under
# `mpirun --oversubscribe -np K` for K = 1, 2, 3 (oversubscribed: CI has 2
# cores, and runs as root, which OpenMPI refuses unless told). Exit 77
# (skipped) when there is no mpirun.
set -euo pipefail
command -v mpirun >/dev/null || { echo "mpi_check: no mpirun: skipped"; exit 77; }
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
# one thread per process: ranks share the cores
export CASK_NUM_THREADS=1
# In a sanitizer build, no leak check: in an MPI process LeakSanitizer
# reports what MPI_Init allocates and never frees (OpenMPI, hwloc, its
# plugins), and also cask's op registry, which lives for the process and is
# not reported outside MPI. cask's leaks are the Check suites' to find.
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0"
# In a TSan build: OpenMPI's own lock orders and races (its frames only).
export TSAN_OPTIONS="${TSAN_OPTIONS:+$TSAN_OPTIONS:}suppressions=$(dirname "$0")/mpi/tsan.supp"
for k in 1 2 3; do
  mpirun --oversubscribe -np "$k" "$1"
done
