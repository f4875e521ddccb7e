#!/usr/bin/env bash
# install-test.sh BUILD_DIR - install cask from BUILD_DIR into a staging
# prefix, then build tests/consumer against it twice: with find_package
# (shared and static) and with pkg-config, and run the programs.
set -euo pipefail
build=${1:?usage: install-test.sh BUILD_DIR}
src=$(cd "$(dirname "$0")/.." && pwd)
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
cmake --install "$build" --prefix "$stage/prefix" >/dev/null
cmake -S "$src/tests/consumer" -B "$stage/consumer" -DCMAKE_PREFIX_PATH="$stage/prefix" >/dev/null
cmake --build "$stage/consumer" -j2 >/dev/null
LD_LIBRARY_PATH="$stage/prefix/lib:${LD_LIBRARY_PATH:-}" "$stage/consumer/consumer_cmake"
"$stage/consumer/consumer_cmake_static"
export PKG_CONFIG_PATH="$stage/prefix/lib/pkgconfig"
cc $(pkg-config --cflags cask) "$src/tests/consumer/consumer.c" -o "$stage/consumer_pc" $(pkg-config --libs cask)
LD_LIBRARY_PATH="$stage/prefix/lib" "$stage/consumer_pc"
# --libs, not only -l: Debian keeps libhdf5 in a directory of its own (-L.../hdf5/serial)
cc $(pkg-config --cflags cask) "$src/tests/consumer/consumer.c" -o "$stage/consumer_pc_static" \
  "$stage/prefix/lib/libcask.a" $(pkg-config --libs --static cask | sed 's/-lcask\>//')
"$stage/consumer_pc_static"
# The installed cask program runs without LD_LIBRARY_PATH (its RPATH), and a
# graph file of arrays it writes is read and run by a fresh process that
# makes no array context.
printf '%s\n' '{"inputs": {"x": {"source": "arange", "start": 0, "stop": 1000, "chunks": [100]}},' \
  '"steps": {"y": "sum(x * 2)"}, "outputs": {"y": "print"}}' > "$stage/job.json"
(cd "$stage" && env -u LD_LIBRARY_PATH "$stage/prefix/bin/cask" graph -q -o g.json job.json)
LD_LIBRARY_PATH="$stage/prefix/lib" "$stage/consumer/consumer_cmake" "$stage/g.json"
echo "install test: find_package (shared, static) and pkg-config (shared, static) consumers, the installed"
echo "cask program without LD_LIBRARY_PATH, and an array graph read by a fresh process: OK"
