#!/usr/bin/python3
"""hdf5_check.py - cask's HDF5 and NetCDF-4 reader and writer against h5py,
netCDF4 and xarray.

Usage: hdf5_check.py CASK_TESTS_BINARY

h5py writes in_<name>.h5 files to a temporary directory: every dtype cask
has (and int8, int16, uint16, uint32, which cask widens), chunked with
gzip + shuffle, contiguous, big-endian, fletcher32, 0-d, 1-d and 3-d.
netCDF4 writes NetCDF-4 files: int16 packed with scale_factor/add_offset
and a _FillValue over an unlimited dimension, float32 with a _FillValue
and a missing_value,
plain double, int32 in a nested group, and a bool written by xarray.
Hostile files: truncated (twice), a corrupted chunk (under a fletcher32
checksum; in a deflate stream), a dataset name that does not exist, a
dataset compressed with LZF (h5py's own filter, which libhdf5 does not
have), a string dataset, a text file, a missing NetCDF variable and group. manifest.txt lists them; the "python" TCase of the hdf5 suite
(tests/test_hdf5.c) reads each with cask (odd chunks: shape // 2 + 1),
writes what it read to read_<name>.npy and writes it back with
cask_to_hdf5 (out_<name>.h5, dataset /data, gzip 4 + shuffle) or
cask_to_netcdf (out_<name>.nc, the dimension names of the manifest), and
for a hostile file checks the error and writes it to err_<name>.txt.

This script then compares exactly (dtype, shape, every byte, NaN
included): what cask read with what h5py (netCDF4, masked and unpacked)
holds, what cask wrote with h5py (and its chunks and filters), and opens
every NetCDF output with xarray.open_dataset checking dims and values.

Exits 0 when everything matches, 1 on a mismatch (each one listed), 2 when
the test binary fails, 77 (skipped) when NumPy, h5py, netCDF4 or xarray is not
installed. Run it with /usr/bin/python3 (Debian's packages).
"""
import os
import sys
import tempfile

try:
    import numpy as np
    import h5py
    import netCDF4
    import xarray

    from checkutil import run_case, same, values
except ImportError as e:
    print(f"hdf5_check: skipped: {e}")
    sys.exit(77)

WIDEN = {"i1": "i4", "i2": "i4", "u2": "i4", "u4": "i8"}


def native(a):
    """The array as cask holds it: widened, little-endian."""
    code = a.dtype.str[1:]
    return a.astype(np.dtype(WIDEN.get(code, code)).newbyteorder("<"))


def odd_chunks(shape):
    return tuple(n // 2 + 1 for n in shape)


def write_inputs(d):
    """The input files and the manifest; returns (hdf5 name -> array,
    netcdf name -> (decoded array, dims, variable), error name -> expected
    text). Manifest tokens hold no spaces ('_' stands for one in an
    expected error text)."""
    rng = np.random.default_rng(20261206)
    h5, nc, errs, lines = {}, {}, {}, []

    def h5file(name, data, dataset="/data", **kw):
        path = os.path.join(d, f"in_{name}.h5")
        with h5py.File(path, "w") as f:
            f.create_dataset(dataset, data=data, **kw)
        h5[name] = native(np.asarray(data))
        lines.append(f"h5 {name} {path} {dataset}")
        return path

    for dt in ["f8", "f4", "i8", "i4", "u1", "b1", "i1", "i2", "u2", "u4"]:
        x = values(rng, dt, (13, 7))
        h5file(f"{dt}_gzip", x, "/g/x", chunks=(4, 3), compression="gzip", compression_opts=6, shuffle=True)
        h5file(f"{dt}_contiguous", x)
        if dt != "b1":
            h5file(f"{dt}_big", x.astype(x.dtype.newbyteorder(">")), chunks=(5, 7))
    h5file("f8_fletcher_3d", values(rng, "f8", (6, 5, 4)), chunks=(2, 5, 3), fletcher32=True, compression="gzip")
    h5file("i8_1d", values(rng, "i8", (101,)), chunks=(10,))
    h5file("f4_scalar", np.float32(2.75))

    # hostile files
    good = h5file("f8_for_truncation", values(rng, "f8", (200, 50)), chunks=(20, 50))
    raw = open(good, "rb").read()
    for name, size in [("cut_header", 600), ("cut_data", len(raw) * 3 // 4)]:
        path = os.path.join(d, f"bad_{name}.h5")
        open(path, "wb").write(raw[:size])
        errs[name] = "truncated"
        lines.append(f"err {name} {path} /data truncated")
    errs["no_dataset"] = "/missing"
    lines.append(f"err no_dataset {good} /missing /missing")
    path = os.path.join(d, "bad_lzf.h5")
    with h5py.File(path, "w") as f:
        f.create_dataset("data", data=values(rng, "f4", (30, 30)), chunks=(10, 10), compression="lzf")
    errs["lzf"] = "lzf"
    lines.append(f"err lzf {path} /data lzf")
    # a chunk corrupted on disk: the checksum, then the deflate stream
    for name, kw, text in [("fletcher", dict(fletcher32=True), "Fletcher32"),
                           ("inflate", dict(compression="gzip"), "inflate()")]:
        path = os.path.join(d, f"bad_{name}.h5")
        with h5py.File(path, "w") as f:
            ds = f.create_dataset("data", data=np.arange(400.0).reshape(20, 20), chunks=(10, 20), **kw)
            info = ds.id.get_chunk_info(1)
        raw = bytearray(open(path, "rb").read())
        mid = info.byte_offset + info.size // 2
        raw[mid:mid + 8] = bytes(b ^ 0x5A for b in raw[mid:mid + 8])
        open(path, "wb").write(bytes(raw))
        errs[name] = text
        lines.append(f"err {name} {path} /data {text}")
    path = os.path.join(d, "bad_strings.h5")
    with h5py.File(path, "w") as f:
        f.create_dataset("data", data=np.array([b"a", b"bc"]))
    errs["strings"] = "string"
    lines.append(f"err strings {path} /data string")
    path = os.path.join(d, "bad_text.h5")
    open(path, "w").write("a text file\n" * 100)
    errs["text"] = "not an HDF5 file"
    lines.append(f"err text {path} /data not_an_HDF5_file")

    # NetCDF-4
    path = os.path.join(d, "in_packed.nc")
    with netCDF4.Dataset(path, "w") as f:
        f.createDimension("time", None)  # unlimited
        f.createDimension("lat", 9)
        f.createDimension("lon", 11)
        v = f.createVariable("t2m", "i2", ("time", "lat", "lon"), fill_value=np.int16(-32767),
                             chunksizes=(3, 9, 11), zlib=True)
        v.scale_factor = np.float64(0.0025)
        v.add_offset = np.float64(270.5)
        v.set_auto_maskandscale(False)
        raw16 = values(rng, "i2", (7, 9, 11))
        raw16[raw16 == -32767] = 0
        raw16[2, 3, :] = -32767  # missing
        v[0:7] = raw16
    with netCDF4.Dataset(path) as f:
        want = f["t2m"][:]
    nc["packed"] = (np.ma.filled(want.astype("f8"), np.nan), ("time", "lat", "lon"), "t2m")
    lines.append(f"nc packed {path} t2m time,lat,lon")
    path = os.path.join(d, "in_filled.nc")
    with netCDF4.Dataset(path, "w") as f:
        f.createDimension("y", 20)
        f.createDimension("x", 6)
        v = f.createVariable("sst", "f4", ("y", "x"), fill_value=np.float32(-999.0))
        v.missing_value = np.float32(-1.0)
        v.set_auto_maskandscale(False)
        x = values(rng, "f4", (20, 6))
        x[::4, 1] = -999.0
        x[1::5, 2] = -1.0
        v[:] = x
    with netCDF4.Dataset(path) as f:
        want = f["sst"][:]
    nc["filled"] = (np.ma.filled(want, np.float32(np.nan)).astype("f4"), ("y", "x"), "sst")
    lines.append(f"nc filled {path} sst y,x")
    path = os.path.join(d, "in_plain.nc")
    x = values(rng, "f8", (5, 4, 3))
    with netCDF4.Dataset(path, "w") as f:
        for n, k in zip("abc", x.shape):
            f.createDimension(n, k)
        f.createVariable("v", "f8", ("a", "b", "c"), fill_value=False)[:] = x
    nc["plain"] = (x, ("a", "b", "c"), "v")
    lines.append(f"nc plain {path} v a,b,c")
    path = os.path.join(d, "in_group.nc")
    x = values(rng, "i4", (8, 3))
    with netCDF4.Dataset(path, "w") as f:
        f.createDimension("n", 8)
        g = f.createGroup("forecast").createGroup("surface")
        g.createDimension("k", 3)
        g.createVariable("runs", "i4", ("n", "k"))[:] = x
    nc["group"] = (x, ("n", "k"), "runs")
    lines.append(f"nc group {path} /forecast/surface/runs n,k")
    path = os.path.join(d, "in_bool.nc")
    x = values(rng, "b1", (17,))
    xarray.Dataset({"flag": (("n",), x)}).to_netcdf(path, engine="netcdf4")
    nc["bool"] = (x, ("n",), "flag")
    lines.append(f"nc bool {path} flag n")
    lines.append(f"ncerr no_variable {os.path.join(d, 'in_plain.nc')} nope nope")
    errs["no_variable"] = "nope"
    lines.append(f"ncerr no_group {os.path.join(d, 'in_group.nc')} /forecast/nope/runs /forecast/nope/runs")
    errs["no_group"] = "/forecast/nope/runs"
    with open(os.path.join(d, "manifest.txt"), "w") as f:
        f.write("\n".join(lines) + "\n")
    return h5, nc, errs


def check_h5_output(d, name, want, problems):
    path = os.path.join(d, f"out_{name}.h5")
    if not os.path.exists(path):
        problems.append(f"{name}: cask wrote no {path}")
        return
    with h5py.File(path, "r") as f:
        ds = f["/data"]
        got = ds[()]
        got = np.asarray(got)
        if not same(native(got), want) or got.dtype.str[1:] != want.dtype.str[1:]:
            problems.append(f"out_{name}.h5: h5py reads {got.dtype}{got.shape}, differing from {want.dtype}{want.shape}")
        if want.ndim and want.size:
            if ds.chunks != odd_chunks(want.shape):
                problems.append(f"out_{name}.h5: chunks {ds.chunks}, wanted {odd_chunks(want.shape)}")
            if ds.compression != "gzip" or ds.compression_opts != 4 or not ds.shuffle:
                problems.append(f"out_{name}.h5: filters {ds.compression} {ds.compression_opts} shuffle={ds.shuffle}")


def main():
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    binary = sys.argv[1]
    with tempfile.TemporaryDirectory(prefix="cask-hdf5-") as d:
        h5, nc, errs = write_inputs(d)
        if not run_case(binary, "hdf5", "python", "CASK_HDF5_DIR", d):
            return 2
        problems = []
        for name, want in h5.items():
            got = np.load(os.path.join(d, f"read_{name}.npy"))
            if not same(got, want):
                problems.append(f"in_{name}.h5: cask read {got.dtype}{got.shape}, differing from h5py's {want.dtype}{want.shape}")
            check_h5_output(d, name, want, problems)
        for name, (want, dims, vname) in nc.items():
            got = np.load(os.path.join(d, f"read_{name}.npy"))
            if not same(got, want):
                problems.append(f"in_{name}.nc: cask read {got.dtype}{got.shape}, differing from netCDF4's {want.dtype}{want.shape}")
            path = os.path.join(d, f"out_{name}.nc")
            with xarray.open_dataset(path) as ds:
                var = ds[vname]
                if var.dims != dims:
                    problems.append(f"out_{name}.nc: xarray sees dims {var.dims}, wanted {dims}")
                if not same(var.values, want):
                    problems.append(f"out_{name}.nc: xarray reads {var.values.dtype}{var.values.shape}, differing")
        for name, text in errs.items():
            msg = open(os.path.join(d, f"err_{name}.txt")).read()
            if text not in msg:
                problems.append(f"{name}: the error '{msg}' does not say '{text}'")
            print(f"hostile {name}: {msg}")
        for p in problems:
            print(p, file=sys.stderr)
        print(f"hdf5_check: {len(h5)} HDF5 and {len(nc)} NetCDF files read and written back, {len(errs)} hostile files: "
              f"{len(problems)} problems")
        return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
