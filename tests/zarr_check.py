#!/usr/bin/python3
"""zarr_check.py - cask's Zarr v2 reader and writer against python3-zarr and dask.

Usage: zarr_check.py CASK_TESTS_BINARY

zarr (zarr.open, zarr.save) and dask (dask.array.to_zarr) write in_<name>
stores to a temporary directory: every dtype cask has with every compressor
(none, zlib, gzip, zstd, blosc lz4 with shuffle, blosc zstd with
bitshuffle), both key separators, a fill_value and chunks left unwritten
(missing chunk files), 0-d, 1-d, 3-d and empty arrays. Then the "python"
TCase of the array_zarr suite (tests/test_array_zarr.c) runs with
CASK_ZARR_DIR pointing there: it reads each store with cask_read_zarr (the
store's chunks and odd ones) and writes it back six times with
cask_to_zarr, once per compressor (out_<name>_<k>), and writes arrays it
made itself (cask_*). This script then opens every output with zarr.open
and dask.array.from_zarr and compares it exactly (dtype, shape, the bytes
of every value, NaN included) with what zarr holds, and checks each
.zarray says the compressor, separator and fill_value cask was asked for.

Exits 0 when everything matches, 1 on a mismatch (each one listed), 2 when
the test binary fails or leaves an output out.

Needs Debian's python3-zarr and python3-dask: run it with /usr/bin/python3.
"""
import json
import os
import subprocess
import sys
import tempfile

import numpy as np
import numcodecs
import zarr
import dask.array as da

DTYPES = ["f8", "f4", "i8", "i4", "u1", "b1"]
COMPRESSORS = [
    None,
    numcodecs.Zlib(level=1),
    numcodecs.GZip(level=5),
    numcodecs.Zstd(level=3),
    numcodecs.Blosc(cname="lz4", clevel=5, shuffle=numcodecs.Blosc.SHUFFLE),
    numcodecs.Blosc(cname="zstd", clevel=3, shuffle=numcodecs.Blosc.BITSHUFFLE),
]
# What cask_to_zarr writes for k = 0..5 (tests/test_array_zarr.c, write_back).
OUT_IDS = [None, ("zlib", 5), ("gzip", 5), ("zstd", 3), ("blosc", "lz4", 1), ("blosc", "zstd", 2)]


def values(rng, dt, shape):
    """Values that use every byte of the dtype; NaN, infinities, -0.0."""
    dt = np.dtype(dt)
    if dt.kind == "f":
        x = (rng.standard_normal(shape) * 1e3).astype(dt)
        flat = x.reshape(-1)
        for i, v in zip(range(0, flat.size, 7), [np.nan, np.inf, -np.inf, -0.0, 1e-30, 3.4e38]):
            flat[i] = v
        return x
    if dt.kind == "b":
        return rng.random(shape) > 0.5
    info = np.iinfo(dt)
    return rng.integers(info.min, info.max, size=shape, endpoint=True, dtype=dt)


def fill_for(dt):
    return {"f": np.nan, "b": True}.get(np.dtype(dt).kind, 3)


def inputs(d):
    """Write the inputs; returns name -> the array zarr holds."""
    rng = np.random.default_rng(20261125)
    names = []

    def path(name):
        names.append(name)
        return os.path.join(d, f"in_{name}")

    for dt in DTYPES:
        for c, comp in enumerate(COMPRESSORS):
            z = zarr.open(path(f"{dt}_c{c}"), mode="w", shape=(13, 7), chunks=(4, 3), dtype=dt,
                          compressor=comp, fill_value=fill_for(dt),
                          dimension_separator="/" if c % 2 else ".")
            z[:8] = values(rng, dt, (8, 7))  # rows 8..12: chunks never written
    zarr.save(path("save_f8"), values(rng, "f8", (50, 3)))  # zarr.save's defaults
    z = zarr.open(path("scalar_i4"), mode="w", shape=(), dtype="i4", compressor=numcodecs.Zstd(1))
    z[...] = -12345
    zarr.open(path("empty_f4"), mode="w", shape=(0, 5), chunks=(2, 2), dtype="f4")
    zarr.save(path("3d_u1"), values(rng, "u1", (4, 5, 6)))
    x = da.from_array(values(rng, "f8", (40, 30)), chunks=(7, 11))
    da.to_zarr(x, path("dask_f8"))
    y = da.from_array(values(rng, "i8", (33,)), chunks=(10,))
    da.to_zarr(y, path("dask_i8_zstd"), compressor=numcodecs.Zstd(1), dimension_separator="/")
    return {n: zarr.open(os.path.join(d, f"in_{n}"), mode="r")[...] for n in names}


def same(got, want):
    return got.dtype == want.dtype and got.shape == want.shape and got.tobytes() == want.tobytes()


def check_meta(path, k, dtype, problems):
    with open(os.path.join(path, ".zarray")) as f:
        meta = json.load(f)
    name = os.path.basename(path)
    comp, want = meta["compressor"], OUT_IDS[k]
    if want is None:
        ok = comp is None
    elif want[0] == "blosc":
        ok = comp["id"] == "blosc" and comp["cname"] == want[1] and comp["shuffle"] == want[2]
    else:
        ok = comp["id"] == want[0] and comp["level"] == want[1]
    if not ok:
        problems.append(f"{name}: compressor {comp}, wanted {want}")
    if meta.get("dimension_separator", ".") != ("/" if k % 2 else "."):
        problems.append(f"{name}: dimension_separator {meta.get('dimension_separator')}")
    fill = zarr.open(path, mode="r").fill_value
    if fill != np.array(7).astype(dtype):
        problems.append(f"{name}: fill_value {fill!r}, wanted 7 as {dtype}")


def compare(path, want, problems):
    name = os.path.basename(path)
    if not os.path.exists(os.path.join(path, ".zarray")):
        print(f"{name}: cask wrote no store", file=sys.stderr)
        return False
    got = zarr.open(path, mode="r")[...]
    if not same(got, want):
        problems.append(f"{name}: zarr reads {got.dtype}{got.shape}, differing from {want.dtype}{want.shape}")
    if want.ndim > 0:  # dask's from_zarr of a 0-d store gives a 0-d array too, but keep to n-d here
        dgot = da.from_zarr(path).compute(scheduler="sync")
        if not same(dgot, want):
            problems.append(f"{name}: dask.array.from_zarr reads other values")
    return True


def main():
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    binary = sys.argv[1]
    with tempfile.TemporaryDirectory(prefix="cask-zarr-") as d:
        arrays = inputs(d)
        env = dict(os.environ, CASK_ZARR_DIR=d, CK_RUN_CASE="python")
        env.pop("CK_RUN_SUITE", None)
        run = subprocess.run([binary, "array_zarr"], env=env, capture_output=True, text=True)
        sys.stdout.write(run.stdout)
        sys.stderr.write(run.stderr)
        if run.returncode != 0 or "Checks: 1, Failures: 0, Errors: 0" not in run.stdout:
            print(f"{binary} array_zarr (CK_RUN_CASE=python) failed with status {run.returncode}", file=sys.stderr)
            return 2
        problems, checked = [], 0
        for name, want in arrays.items():
            for k in range(6):
                path = os.path.join(d, f"out_{name}_{k}")
                if not compare(path, want, problems):
                    return 2
                check_meta(path, k, want.dtype, problems)
                checked += 1
        own = {
            "cask_arange_i8": (np.arange(1000, dtype="i8"), (77,), "blosc"),
            "cask_eye_f4": (np.eye(9, 11, k=1, dtype="f4"), (4, 4), "zstd"),
        }
        for name, (want, chunks, comp) in own.items():
            path = os.path.join(d, name)
            if not compare(path, want, problems):
                return 2
            z = zarr.open(path, mode="r")
            if z.chunks != chunks or z.compressor.codec_id != comp:
                problems.append(f"{name}: chunks {z.chunks} compressor {z.compressor}")
            checked += 1
        if not np.isnan(zarr.open(os.path.join(d, "cask_eye_f4"), mode="r").fill_value):
            problems.append("cask_eye_f4: fill_value is not NaN")
    for p in problems:
        print(p)
    print(f"zarr_check: {checked - len(problems)} of {checked} stores match zarr and dask")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
