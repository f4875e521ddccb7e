#!/usr/bin/env bash
# demo.sh - install what is missing, build, and run the main demo: a job on
# generated data larger than the memory limit it sets (progress, spilling
# and the summary; a trace in out/), then the graph demo.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
bash scripts/build.sh build
mkdir -p out
./build/tools/cask run --trace out/larger-than-memory.trace.json examples/jobs/larger-than-memory.json
./build/examples/graph_demo 20000000 100000 out
