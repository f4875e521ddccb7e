#!/bin/sh
# run-fuzz.sh SECONDS [TARGET...] - build the fuzz targets with clang in
# build-fuzz/ and run each for SECONDS on a scratch copy of its corpus
# (fuzz/corpus/<name>/, where the target is fuzz_<name>; the seeds stay as
# they are). Targets: graph_json, array_eval, npy, zarr, zarr3 (default: all). Exits non-zero
# when a fuzzer finds a crash, leak, timeout or sanitizer report; the input
# that caused it is saved in build-fuzz/findings/.
set -eu

secs=${1:?usage: run-fuzz.sh SECONDS [graph_json|array_eval|npy|zarr|zarr3 ...]}
shift
targets=${*:-graph_json array_eval npy zarr zarr3}
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
build=$root/build-fuzz

CC=clang cmake -S "$root" -B "$build" -DCASK_BUILD_FUZZ=ON -DCASK_BUILD_TESTS=OFF \
  -DCASK_BUILD_BENCH=OFF -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
mkdir -p "$build/findings"
status=0
for name in $targets; do
  cmake --build "$build" --target "fuzz_$name" -j "$(nproc)"
  work=$(mktemp -d "${TMPDIR:-/tmp}/cask-fuzz-XXXXXX")
  cp "$here/corpus/$name"/* "$work"/
  "$build/fuzz/fuzz_$name" -max_total_time="$secs" -max_len=16384 -timeout=10 \
    -dict="$here/$name.dict" -artifact_prefix="$build/findings/$name-" \
    -print_final_stats=1 "$work" || status=$?
  rm -rf "$work"
  if [ "$status" -ne 0 ]; then
    echo "run-fuzz.sh: fuzz_$name failed (status $status); see $build/findings/" >&2
    exit "$status"
  fi
done
exit 0
