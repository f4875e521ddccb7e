#!/usr/bin/env bash
# test.sh - install what is missing, build, and run the whole test suite
# (every Check suite, the examples and the install test) with ctest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
bash scripts/build.sh build
ctest --test-dir build --output-on-failure
