#!/bin/sh
# run-fuzz.sh SECONDS - build the fuzz target with clang in build-fuzz/ and
# run it for SECONDS on a scratch copy of fuzz/corpus (the seeds stay as they
# are). Exits non-zero when the fuzzer finds a crash, leak, timeout or
# sanitizer report; the input that caused it is saved in build-fuzz/findings/.
set -eu

secs=${1:?usage: run-fuzz.sh SECONDS}
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
build=$root/build-fuzz

CC=clang cmake -S "$root" -B "$build" -DCASK_BUILD_FUZZ=ON -DCASK_BUILD_TESTS=OFF \
  -DCASK_BUILD_BENCH=OFF -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$build" --target fuzz_graph_json -j "$(nproc)"

work=$(mktemp -d "${TMPDIR:-/tmp}/cask-fuzz-XXXXXX")
trap 'rm -rf "$work"' EXIT
cp "$here"/corpus/* "$work"/
mkdir -p "$build/findings"

status=0
"$build/fuzz/fuzz_graph_json" -max_total_time="$secs" -max_len=16384 -timeout=10 \
  -dict="$here/graph_json.dict" -artifact_prefix="$build/findings/" \
  -print_final_stats=1 "$work" || status=$?
if [ "$status" -ne 0 ]; then
  echo "run-fuzz.sh: the fuzzer failed (status $status); see $build/findings/" >&2
fi
exit "$status"
