#!/usr/bin/env bash
# demo.sh - install what is missing, build, and run the main demo.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
bash scripts/build.sh build
mkdir -p out
./build/examples/graph_demo 20000000 100000 out
