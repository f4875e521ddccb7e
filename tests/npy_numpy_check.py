#!/usr/bin/python3
"""npy_numpy_check.py - cask's .npy reader and writer against NumPy's.

Usage: npy_numpy_check.py CASK_TESTS_BINARY

NumPy writes in_<name>.npy files to a temporary directory (every dtype cask
has, C and Fortran order, little and big endian, format versions 1.0, 2.0
and 3.0, 0-d, empty, a (1000, 37) float64). Then the "numpy" TCase of the
array_npy suite (tests/test_array_npy.c,
numpy_reads_what_cask_writes_and_the_reverse) runs with CASK_NPY_DIR
pointing there: it reads each file with cask_read_npy (default chunks and
odd ones) and writes what it read back with cask_to_npy, and writes arrays
cask made itself (arange, eye, full, ...). This script then np.loads every
output and compares it exactly with what NumPy holds: dtype, shape and the
bytes of every value (NaN payloads included). A file cask writes must also
be byte for byte what np.save writes for the same array (NumPy >= 1.24
pads headers the same way). The only tolerance: a float64 sum over axis 0
(cask's pairwise tree differs from NumPy's in the last bits), within
1e-12 * sum(|x|).

Exits 0 when everything matches, 1 on a mismatch (each one listed), 2 when
the test binary fails or leaves an output out.

Needs Debian's python3-numpy: run it with /usr/bin/python3.
"""
import io
import os
import subprocess
import sys
import tempfile

import numpy as np

DTYPES = ["f8", "f4", "i8", "i4", "u1", "b1"]


def values(rng, dt, shape):
    """Values that use every byte of the dtype; NaN, infinities, -0.0."""
    dt = np.dtype(dt)
    if dt.kind == "f":
        x = rng.standard_normal(shape).astype(dt) * 1e3
        flat = x.reshape(-1)
        for i, v in zip(range(0, flat.size, 7), [np.nan, np.inf, -np.inf, -0.0, 1e-300, 3.4e38]):
            flat[i] = v
        return x
    if dt.kind == "b":
        return rng.random(shape) > 0.5
    info = np.iinfo(dt)
    return rng.integers(info.min, info.max, size=shape, endpoint=True, dtype=dt)


def save_version(path, a, version):
    with open(path, "wb") as f:
        np.lib.format.write_array(f, a, version=version)


def inputs(d):
    """Write the inputs; returns name -> the array NumPy wrote."""
    rng = np.random.default_rng(20261125)
    arrays = {}

    def put(name, a, version=None):
        path = os.path.join(d, f"in_{name}.npy")
        if version:
            save_version(path, a, version)
        else:
            np.save(path, a)
        arrays[name] = a

    for dt in DTYPES:
        put(f"c_{dt}", values(rng, dt, (7, 5)))
        put(f"f_{dt}", np.asfortranarray(values(rng, dt, (4, 5, 3))))
        put(f"be_{dt}", values(rng, dt, (6, 4)).astype(np.dtype(dt).newbyteorder(">")))
        put(f"fbe_{dt}", np.asfortranarray(values(rng, dt, (3, 4)).astype(np.dtype(dt).newbyteorder(">"))))
    put("big_f8", values(rng, "f8", (1000, 37)))
    put("bigf_f8", np.asfortranarray(rng.standard_normal((1000, 37))))
    put("scalar_f8", np.array(2.5))
    put("empty_i4", np.zeros((0, 3), dtype="i4"))
    put("one_u1", values(rng, "u1", (11,)))
    put("4d_i8", np.asfortranarray(values(rng, "i8", (2, 3, 4, 5)).astype(">i8")))
    put("v2_f4", values(rng, "f4", (9, 2)), version=(2, 0))
    put("v3_i8", values(rng, "i8", (5,)), version=(3, 0))
    # the writer must have written what the name says
    for name, a in arrays.items():
        with open(os.path.join(d, f"in_{name}.npy"), "rb") as f:
            np.lib.format.read_magic(f)
        if name.startswith(("f_", "fbe_", "bigf", "4d")) and a.ndim > 1:
            assert a.flags.f_contiguous and not a.flags.c_contiguous, name
    return arrays


def native(a):
    """What cask holds: the same values, little-endian, C order."""
    return a.astype(a.dtype.newbyteorder("<"), order="C")  # (ascontiguousarray makes 0-d 1-d)


def np_save_bytes(a):
    buf = io.BytesIO()
    np.save(buf, a)
    return buf.getvalue()


def compare(path, want, problems, exact_file=True):
    if not os.path.exists(path):
        print(f"{os.path.basename(path)}: cask wrote no output", file=sys.stderr)
        return False
    got = np.load(path)
    name = os.path.basename(path)
    if got.dtype != want.dtype or got.shape != want.shape:
        problems.append(f"{name}: {got.dtype}{got.shape}, NumPy {want.dtype}{want.shape}")
    elif got.tobytes() != want.tobytes():
        bad = np.argwhere(got.view(np.uint8).reshape(-1) != want.view(np.uint8).reshape(-1))
        problems.append(f"{name}: values differ (first differing byte {int(bad[0][0])})")
    elif exact_file:
        with open(path, "rb") as f:
            if f.read() != np_save_bytes(want):
                problems.append(f"{name}: the file is not byte for byte what np.save writes")
    return True


def own_expected():
    """What cask made itself (the C TCase's calls), as NumPy makes it."""
    out = {
        "arange_i64": np.arange(0, 100, 1, dtype=np.int64),
        "arange_f64": np.arange(-3, 40, 1, dtype=np.float64),
        "eye_f32": np.eye(5, 7, k=1, dtype=np.float32),
        "eye_u8": np.eye(6, 6, k=-2, dtype=np.uint8),
        "scalar_i32": np.array(-7, dtype=np.int32),
        "empty_f64": np.zeros((0, 5)),
    }
    for dt in ["float64", "float32", "int64", "int32", "uint8", "bool"]:
        out[f"full_{dt}"] = np.full((4, 3), 3, dtype=dt)
    return out


def main():
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    binary = sys.argv[1]
    exact_file = hasattr(np.lib.format, "GROWTH_AXIS_MAX_DIGITS")
    with tempfile.TemporaryDirectory(prefix="cask-npy-") as d:
        arrays = inputs(d)
        env = dict(os.environ, CASK_NPY_DIR=d, CK_RUN_CASE="numpy")
        env.pop("CK_RUN_SUITE", None)
        run = subprocess.run([binary, "array_npy"], env=env, capture_output=True, text=True)
        sys.stdout.write(run.stdout)
        sys.stderr.write(run.stderr)
        if run.returncode != 0 or "Checks: 1, Failures: 0, Errors: 0" not in run.stdout:
            print(f"{binary} array_npy (CK_RUN_CASE=numpy) failed with status {run.returncode}", file=sys.stderr)
            return 2
        problems, checked = [], 0
        for name, a in arrays.items():
            want = native(a)
            for suffix in ("", "_odd"):
                if not compare(os.path.join(d, f"out_{name}{suffix}.npy"), want, problems, exact_file):
                    return 2
                checked += 1
            if a.dtype.kind == "f" and a.dtype.itemsize == 8 and a.ndim == 2:
                path = os.path.join(d, f"out_{name}_sum0.npy")
                if not os.path.exists(path):
                    print(f"out_{name}_sum0.npy: cask wrote no output", file=sys.stderr)
                    return 2
                got, ref = np.load(path), np.sum(want, axis=0)
                tol = 1e-12 * np.sum(np.abs(want), axis=0)
                with np.errstate(invalid="ignore"):
                    ok = (got == ref) | (np.abs(got - ref) <= tol) | (np.isnan(got) & np.isnan(ref))
                if got.shape != ref.shape or not ok.all():
                    problems.append(f"out_{name}_sum0.npy: differs from np.sum(axis=0)")
                checked += 1
        for name, want in own_expected().items():
            if not compare(os.path.join(d, f"cask_{name}.npy"), want, problems, exact_file):
                return 2
            checked += 1
    for p in problems:
        print(p)
    print(f"npy_numpy_check: {checked - len(problems)} of {checked} files match NumPy"
          + ("" if exact_file else " (headers not compared byte for byte: NumPy < 1.24)"))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
