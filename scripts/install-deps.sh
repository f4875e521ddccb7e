#!/usr/bin/env bash
# install-deps.sh - install, from Debian 12's archive, whatever cask needs
# to build, test, fuzz and benchmark that is not installed yet. Run as root.
# One exception to Debian's archive: the Zarr v3 peer of the interop test,
# zarrita (JavaScript; Debian has no Zarr v3 implementation), installed from
# the npm registry into tests/zarr3/node_modules with `npm ci`, at the
# versions tests/zarr3/package-lock.json pins.
set -euo pipefail
packages=(
  build-essential cmake pkg-config   # compiler (with libgomp, ASan, TSan, UBSan), build
  libuv1-dev libcjson-dev            # threads/locks/clock, graph JSON
  libopenblas-dev libgfortran-12-dev # CBLAS for matmul (openblas.pc's static libs name -lgfortran)
  liblapacke-dev                     # LAPACKE (qr, svd, cholesky, solve, ...) over OpenBLAS's LAPACK
  zlib1g-dev libzstd-dev libblosc-dev # Zarr chunk codecs
  check                              # unit tests
  openmpi-bin libopenmpi-dev         # MPI (mpicc, mpirun): distributed runs, tests/mpi_check.sh
  clang libclang-rt-14-dev           # libFuzzer target
  python3 python3-numpy              # interop checks against NumPy
  python3-numexpr python3-dask       # benchmark anchors (cask-bench)
  python3-distributed python3-psutil # the dask.distributed anchor of the memory benchmark (psutil: its RSS)
  python3-zarr                       # Zarr interop checks (tests/zarr_check.py)
  nodejs                             # the Zarr v3 peer, zarrita (tests/zarr3_check.py)
  libhdf5-dev                        # HDF5 files (collections/array/io/hdf5*.c), serial flavor
  libnetcdf-dev                      # NetCDF-4 files (collections/array/io/netcdf*.c)
  python3-h5py                       # HDF5 interop checks (tests/hdf5_check.py)
  python3-netcdf4                    # NetCDF-4 files with CF packing for tests/hdf5_check.py
  python3-xarray                     # opens cask's NetCDF output by dimension name (tests/hdf5_check.py)
  chromium                           # headless check of `cask viz` pages (tests/viz_check.py)
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
# npm: Debian's package, unless a node build that brings its own (NodeSource's) is there
command -v npm >/dev/null || missing+=(npm)
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: every Debian package is installed"
else
  echo "install-deps: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
# zarrita, unless the lock file's versions are there already
zarr3=$(cd "$(dirname "$0")/../tests/zarr3" && pwd)
if ! cmp -s "$zarr3/package-lock.json" "$zarr3/node_modules/.package-lock.json.ci" 2>/dev/null; then
  echo "install-deps: npm ci in $zarr3"
  # The npm registry out of reach is not a build failure: the one test that
  # needs zarrita (zarr3_peer) then says so and is skipped.
  if ! (cd "$zarr3" && npm ci --no-audit --no-fund --loglevel=error &&
    cp package-lock.json node_modules/.package-lock.json.ci); then
    echo "install-deps: WARNING: npm ci failed in $zarr3; the zarr3_peer test will be skipped" >&2
  fi
fi
