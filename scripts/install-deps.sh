#!/usr/bin/env bash
# install-deps.sh - install, from Debian 12's archive, whatever cask needs
# to build, test, fuzz and benchmark that is not installed yet. Run as root.
# Nothing is downloaded from anywhere else.
set -euo pipefail
packages=(
  build-essential cmake pkg-config   # compiler (with libgomp, ASan, TSan, UBSan), build
  libuv1-dev libcjson-dev            # threads/locks/clock, graph JSON
  libopenblas-dev libgfortran-12-dev # CBLAS for matmul (openblas.pc's static libs name -lgfortran)
  zlib1g-dev libzstd-dev libblosc-dev # Zarr chunk codecs
  check                              # unit tests
  openmpi-bin libopenmpi-dev         # MPI (mpicc, mpirun): distributed runs, tests/mpi_check.sh
  clang libclang-rt-14-dev           # libFuzzer target
  python3 python3-numpy              # interop checks against NumPy
  python3-numexpr python3-dask       # benchmark anchors (cask-bench)
  python3-distributed python3-psutil # the dask.distributed anchor of the memory benchmark (psutil: its RSS)
  python3-zarr                       # Zarr interop checks (tests/zarr_check.py)
  chromium                           # headless check of `cask viz` pages (tests/viz_check.py)
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: everything is installed"
  exit 0
fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}"
