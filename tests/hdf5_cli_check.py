#!/usr/bin/python3
"""hdf5_cli_check.py - `cask run` jobs with HDF5 and NetCDF-4 inputs and
outputs (docs/jobs.md), against h5py, netCDF4, xarray and NumPy.

Usage: hdf5_cli_check.py CASK_BINARY

A job reads an HDF5 dataset (written by h5py, 8 MB) and a packed NetCDF-4
variable (netCDF4: int16 with scale_factor/add_offset, a _FillValue, an
unlimited dimension), under a memory_limit of a tenth of the HDF5 data,
computes x - mean(x) and t * 2, and writes an HDF5 file (gzip level 4) and
a NetCDF-4 file with named dimensions. Checked: the exit code, that the
summary says blocks were dropped and read again from the HDF5 file (and
gives the HDF5 lock's cost), h5py's and xarray's reading of the outputs
against NumPy; the graph `cask graph` writes of a job reading both runs
in another process from another directory and prints the same values.
Then jobs with mistakes (a dataset or variable that does not exist, dims
of the wrong length, "level" without gzip, chunks of the wrong length, a
Zarr store in the same output) exit 2 naming the field, before anything
runs, and write nothing.

Exits 0 when everything passes, 1 otherwise, 77 (skipped) when NumPy, h5py,
netCDF4 or xarray is not installed. Run it with /usr/bin/python3.
"""
import json
import os
import re
import subprocess
import sys
import tempfile

try:
    import numpy as np
    import h5py
    import netCDF4
    import xarray
except ImportError as e:
    print(f"hdf5_cli_check: skipped: {e}")
    sys.exit(77)

problems = []


def fail(msg):
    problems.append(msg)
    print("FAIL:", msg, file=sys.stderr)


def run(cask, d, job):
    with open(os.path.join(d, "job.json"), "w") as f:
        json.dump(job, f)
    # CASK_DROP=always: every block of the HDF5 reads is dropped rather than
    # spilled, whatever the cost model would pick on a loaded machine or
    # under a sanitizer; what is checked is that they can be read again
    env = dict(os.environ, CASK_DROP="always")
    return subprocess.run([cask, "run", "job.json"], cwd=d, capture_output=True, text=True, timeout=300, env=env)


def main():
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    cask = os.path.abspath(sys.argv[1])
    rng = np.random.default_rng(15)
    with tempfile.TemporaryDirectory(prefix="cask-hdf5-cli-") as d:
        x = rng.standard_normal((400, 2500))
        with h5py.File(os.path.join(d, "run.h5"), "w") as f:
            f.create_dataset("/fields/temperature", data=x, chunks=(40, 2500))
        with netCDF4.Dataset(os.path.join(d, "era5.nc"), "w") as f:
            f.createDimension("time", None)
            f.createDimension("lat", 30)
            f.createDimension("lon", 40)
            v = f.createVariable("t2m", "i2", ("time", "lat", "lon"), fill_value=np.int16(-32767))
            v.scale_factor, v.add_offset = np.float64(0.01), np.float64(280.0)
            v.set_auto_maskandscale(False)
            raw = rng.integers(-20000, 20000, size=(12, 30, 40), dtype="i2")
            raw[5, :, 7] = -32767
            v[0:12] = raw
        with netCDF4.Dataset(os.path.join(d, "era5.nc")) as f:
            t = np.ma.filled(f["t2m"][:].astype("f8"), np.nan)
        job = {
            "inputs": {
                "x": {"source": "hdf5", "path": "run.h5", "dataset": "/fields/temperature", "chunks": [20, 2500]},
                "t": {"source": "netcdf", "path": "era5.nc", "variable": "t2m", "chunks": [4, 30, 40]},
            },
            "steps": {"y": "x - mean(x)", "z": "t * 2"},
            "outputs": {
                "y": {"hdf5": "out.h5", "dataset": "/y", "compression": "gzip", "level": 4},
                "z": {"netcdf": "out.nc", "variable": "z", "dims": ["time", "lat", "lon"]},
            },
            "memory_limit": f"{x.nbytes // 10}B",
        }
        r = run(cask, d, job)
        if r.returncode != 0:
            fail(f"the job: exit {r.returncode}: {r.stderr}")
            return 1
        m = re.search(r"dropped \S+ (\S+)? ?\((\d+) blocks\) instead of spilling, made again from their sources \S+ (\S+ )?\((\d+) blocks\)",
                      r.stderr)
        if not m or int(m.group(2)) == 0 or int(m.group(4)) == 0:
            fail(f"the summary does not say blocks were dropped and read again: {r.stderr}")
        if "HDF5/NetCDF calls:" not in r.stderr:
            fail(f"the summary lacks the HDF5 lock's cost: {r.stderr}")
        print(r.stderr.strip())
        with h5py.File(os.path.join(d, "out.h5"), "r") as f:
            y = f["/y"]
            if y.compression != "gzip" or y.compression_opts != 4 or y.chunks != (20, 2500):
                fail(f"out.h5 /y: {y.compression} {y.compression_opts} chunks {y.chunks}")
            if not np.allclose(y[()], x - x.mean(), rtol=0, atol=1e-12):
                fail("out.h5 /y differs from NumPy's x - x.mean()")
        with xarray.open_dataset(os.path.join(d, "out.nc")) as ds:
            if ds["z"].dims != ("time", "lat", "lon"):
                fail(f"out.nc: xarray sees dims {ds['z'].dims}")
            want = t * 2
            got = ds["z"].values
            if got.dtype != np.float64 or got.tobytes() != want.tobytes():
                fail("out.nc z differs from netCDF4's decoded t2m * 2")
        # the graph of a job reading HDF5 and NetCDF, written by `cask graph`,
        # run by another process from another directory (the read tasks'
        # arguments are plain bytes with the absolute paths)
        small = {"inputs": job["inputs"], "steps": {"s": "sum(x)", "u": "nansum(t)"},
                 "outputs": {"s": "print", "u": "print"}}
        with open(os.path.join(d, "small.json"), "w") as f:
            json.dump(small, f)
        direct = subprocess.run([cask, "run", "-q", "small.json"], cwd=d, capture_output=True, text=True)
        g = subprocess.run([cask, "graph", "-q", "-o", "g.json", "small.json"], cwd=d, capture_output=True, text=True)
        again = subprocess.run([cask, "run", "-q", os.path.join(d, "g.json")], cwd="/", capture_output=True, text=True)
        printed = dict(line.split(" = ") for line in direct.stdout.splitlines())
        again_vals = sorted(float(line.split(" = ")[1]) for line in again.stdout.splitlines())
        if direct.returncode or g.returncode or again.returncode or \
                again_vals != sorted(float(v) for v in printed.values()) or len(again_vals) != 2:
            fail(f"cask graph + cask run GRAPH.json: {direct.stdout!r} vs {again.stdout!r} {g.stderr} {again.stderr}")
        if not np.isclose(float(printed.get("s", "nan")), x.sum(), rtol=1e-12) or \
                not np.isclose(float(printed.get("u", "nan")), np.nansum(t), rtol=1e-12):
            fail(f"printed {printed}, NumPy sum(x) {x.sum()}, nansum(t) {np.nansum(t)}")
        # mistakes: exit 2 naming the field, nothing written
        os.remove(os.path.join(d, "out.h5"))
        os.remove(os.path.join(d, "out.nc"))
        bad = [
            (("inputs", "x", "dataset"), "/fields/nope", "inputs.x", "/fields/nope"),
            (("inputs", "t", "variable"), "nope", "inputs.t", "nope"),
            (("outputs", "z", "dims"), ["time", "lat"], "outputs.z.dims", "3 dimension names"),
            (("outputs", "y", "compression"), "none", "outputs.y.level", "only goes with"),
            (("outputs", "y", "dataset"), None, "outputs.y.dataset", "missing"),
            (("inputs", "x", "chunks"), [20], "inputs.x.chunks", "has 1 entries, the dataset has 2 axes"),
            (("outputs", "z", "zarr"), "z.zarr", "outputs.z.zarr", "cannot go with"),
        ]
        for keys, value, field, text in bad:
            j = json.loads(json.dumps(job))
            if value is None:
                del j[keys[0]][keys[1]][keys[2]]
            else:
                j[keys[0]][keys[1]][keys[2]] = value
            r = run(cask, d, j)
            if r.returncode != 2 or field not in r.stderr or text not in r.stderr:
                fail(f"{field} = {value!r}: exit {r.returncode}, {r.stderr!r}")
            left = [n for n in os.listdir(d) if n.startswith("out")]
            if left:
                fail(f"{field} = {value!r}: left {left}")
    print(f"hdf5_cli_check: {len(problems)} problems")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
