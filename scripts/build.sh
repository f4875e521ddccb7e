#!/usr/bin/env bash
# build.sh [BUILD_DIR] [CMAKE ARGS...] - configure and build cask (Release
# with debug info unless a build type is given).
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${1:-build}
shift || true
cmake -S . -B "$dir" "$@" >/dev/null
cmake --build "$dir" -j"$(nproc)"
