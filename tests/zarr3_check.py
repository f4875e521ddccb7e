#!/usr/bin/env python3
"""zarr3_check.py CASK - Zarr v3 interop of the `cask` program with a peer.

The peer is zarrita (JavaScript, tests/zarr3/peer.mjs, installed by
scripts/install-deps.sh with `npm ci` in tests/zarr3). Three directions:
  1. stores zarrita writes (every codec chain it encodes: bytes either
     endianness, transpose, gzip, zstd, blosc; both key separators; six
     dtypes) read by `cask run` into .npy, compared with what zarrita wrote;
  2. sharded stores made here by hand after the Zarr v3 spec (numpy, zlib's
     gzip, a CRC-32C written here; missing inner chunks and shards; zarrita
     writes no shards) read by both cask and zarrita, compared with the values;
  3. stores `cask run` writes (v3, every compressor, sharded or not) read by
     zarrita, compared with the .npy cask wrote in the same run; the CRC of
     cask's shard indexes checked here.
Exits 77 (ctest: skipped) when node or zarrita is missing."""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import zlib

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
PEER = os.path.join(HERE, "zarr3", "peer.mjs")
NODE = shutil.which("node")
if not NODE or not os.path.isdir(os.path.join(HERE, "zarr3", "node_modules", "zarrita")):
    print("SKIP: node or zarrita is missing (scripts/install-deps.sh runs `npm ci` in tests/zarr3)")
    sys.exit(77)
CASK = sys.argv[1]
DTYPES = {"float64": "<f8", "float32": "<f4", "int64": "<i8", "int32": "<i4", "uint8": "|u1", "bool": "|b1"}
failures = []


def check(ok, what):
    if not ok:
        failures.append(what)
        print("FAIL:", what)


def same(a, b):
    return a.shape == b.shape and a.dtype == b.dtype and np.array_equal(a, b, equal_nan=a.dtype.kind == "f")


def cask_run(job, cwd):
    p = os.path.join(cwd, "job.json")
    with open(p, "w") as f:
        json.dump(job, f)
    r = subprocess.run([CASK, "run", p], cwd=cwd, capture_output=True, text=True)
    return r.returncode, r.stderr


def cask_read(store, cwd, chunks=None):
    """The store read by `cask run` into a .npy, loaded (None on failure)."""
    inp = {"source": "zarr", "path": store}
    if chunks:
        inp["chunks"] = chunks
    out = os.path.join(cwd, "read.npy")
    rc, err = cask_run({"inputs": {"x": inp}, "outputs": {"x": {"npy": out}}}, cwd)
    check(rc == 0, f"cask reads {store}: {err.strip()}")
    return np.load(out) if rc == 0 else None


def zarrita_read(store, cwd):
    out = os.path.join(cwd, "peer.bin")
    r = subprocess.run([NODE, PEER, "read", store, out], capture_output=True, text=True)
    check(r.returncode == 0, f"zarrita reads {store}: {r.stderr.strip()[-800:]}")
    if r.returncode:
        return None
    meta = json.loads(r.stdout)
    flat = np.fromfile(out, dtype=DTYPES[meta["dtype"]])
    w = flat.dtype.itemsize
    view = np.lib.stride_tricks.as_strided(flat, meta["shape"], [s * w for s in meta["stride"]], writeable=False)
    return np.ascontiguousarray(view).reshape(meta["shape"])  # ascontiguousarray makes a 0-d array 1-d


# ---- 1. zarrita writes, cask reads ------------------------------------------


def from_zarrita(tmp):
    d = os.path.join(tmp, "peer")
    os.mkdir(d)
    r = subprocess.run([NODE, PEER, "write", d], capture_output=True, text=True)
    check(r.returncode == 0, f"zarrita writes: {r.stderr.strip()[-800:]}")
    if r.returncode:
        return
    with open(os.path.join(d, "manifest.json")) as f:
        manifest = json.load(f)
    for m in manifest:
        want = np.fromfile(os.path.join(d, m["name"] + ".bin"), dtype=DTYPES[m["dtype"]]).reshape(m["shape"])
        store = os.path.join(d, m["name"] + ".zarr")
        for chunks in (None, [3] * len(m["shape"])):
            got = cask_read(store, tmp, chunks)
            check(got is not None and same(got, want), f"zarrita's {m['name']} read by cask (chunks {chunks})")
    print(f"1. {len(manifest)} stores written by zarrita read by cask")


# ---- 2. hand-made sharded stores, read by both ------------------------------

CRC_TABLE = []
for i in range(256):
    c = i
    for _ in range(8):
        c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
    CRC_TABLE.append(c)


def crc32c(b):
    c = 0xFFFFFFFF
    for x in b:
        c = CRC_TABLE[(c ^ x) & 0xFF] ^ (c >> 8)
    return c ^ 0xFFFFFFFF


def gzip(b):
    z = zlib.compressobj(6, zlib.DEFLATED, 31)
    return z.compress(b) + z.flush()


def sharded_store(path, values, shard, inner, codecs, encode, fill, missing):
    """values into shards of `shard`, inner chunks `inner`, index (bytes
    little, crc32c) at the end; inner chunks in `missing` (global chunk
    indices) and shards wholly missing are left out."""
    os.makedirs(path)
    meta = {"zarr_format": 3, "node_type": "array", "shape": list(values.shape),
            "data_type": [k for k, v in DTYPES.items() if np.dtype(v) == values.dtype][0],
            "chunk_grid": {"name": "regular", "configuration": {"chunk_shape": list(shard)}},
            "chunk_key_encoding": {"name": "default", "configuration": {"separator": "/"}},
            "fill_value": fill,
            "codecs": [{"name": "sharding_indexed", "configuration": {
                "chunk_shape": list(inner), "codecs": codecs,
                "index_codecs": [{"name": "bytes", "configuration": {"endian": "little"}}, {"name": "crc32c"}],
                "index_location": "end"}}],
            "attributes": {}}
    with open(os.path.join(path, "zarr.json"), "w") as f:
        json.dump(meta, f)
    cps = [s // c for s, c in zip(shard, inner)]
    nshards = [-(-n // s) for n, s in zip(values.shape, shard)]
    for sidx in np.ndindex(*nshards):
        body, index = b"", []
        for cidx in np.ndindex(*cps):
            g = tuple(s * k + c for s, k, c in zip(sidx, cps, cidx))
            lo = [gi * c for gi, c in zip(g, inner)]
            if any(l >= n for l, n in zip(lo, values.shape)) or g in missing:
                index += [2**64 - 1, 2**64 - 1]
                continue
            chunk = np.full(inner, fill, dtype=values.dtype)
            part = values[tuple(slice(l, l + c) for l, c in zip(lo, inner))]
            chunk[tuple(slice(0, n) for n in part.shape)] = part
            enc = encode(chunk)
            index += [len(body), len(enc)]
            body += enc
        if len(body) == 0:
            continue  # a shard of missing chunks is not written, as zarr-python does
        idx = np.array(index, dtype="<u8").tobytes()
        key = os.path.join(path, "c", *map(str, sidx))
        os.makedirs(os.path.dirname(key), exist_ok=True)
        with open(key, "wb") as f:
            f.write(body + idx + crc32c(idx).to_bytes(4, "little"))


def by_hand(tmp):
    rng = np.random.default_rng(3)
    cases = [
        ("sh_f8_gzip_crc", rng.standard_normal((9, 11)), (4, 6), (2, 3),
         [{"name": "bytes", "configuration": {"endian": "little"}}, {"name": "gzip", "configuration": {"level": 6}},
          {"name": "crc32c"}],
         lambda c: (lambda g: g + crc32c(g).to_bytes(4, "little"))(gzip(c.astype("<f8").tobytes())), "NaN",
         {(0, 1), (4, 3)}),
        ("sh_i4_transpose_big", np.arange(7 * 5 * 4, dtype="<i4").reshape(7, 5, 4) * -3, (4, 4, 4), (2, 2, 2),
         [{"name": "transpose", "configuration": {"order": [2, 0, 1]}},
          {"name": "bytes", "configuration": {"endian": "big"}}],
         lambda c: np.ascontiguousarray(c.transpose(2, 0, 1)).astype(">i4").tobytes(), 9, {(1, 1, 1)}),
        ("sh_u1_raw", (np.arange(40) % 251).astype("u1").reshape(40), (16,), (4,),
         [{"name": "bytes"}], lambda c: c.tobytes(), 0, {(9,)}),
    ]
    for name, values, shard, inner, codecs, encode, fill, missing in cases:
        store = os.path.join(tmp, name)
        sharded_store(store, values, shard, inner, codecs, encode, fill, missing)
        want = values.copy()
        fv = np.nan if fill == "NaN" else fill
        for g in missing:
            want[tuple(slice(gi * c, gi * c + c) for gi, c in zip(g, inner))] = fv
        peer = zarrita_read(store, tmp)
        check(peer is not None and same(peer, want), f"{name} (made here) read by zarrita")
        for chunks in (None, [3] * values.ndim):
            got = cask_read(store, tmp, chunks)
            check(got is not None and same(got, want), f"{name} (made here) read by cask (chunks {chunks})")
    print(f"2. {len(cases)} sharded stores made here read by zarrita and cask")


# ---- 3. cask writes, zarrita reads ---------------------------------------------


def shard_crcs_ok(store):
    """Every shard file's index (at its end) has the right crc32c."""
    meta = json.load(open(os.path.join(store, "zarr.json")))
    conf = meta["codecs"][0]["configuration"]
    n = int(np.prod([s // c for s, c in zip(meta["chunk_grid"]["configuration"]["chunk_shape"], conf["chunk_shape"])]))
    files = [os.path.join(r, f) for r, _, fs in os.walk(os.path.join(store, "c")) for f in fs]
    for p in files:
        b = open(p, "rb").read()
        idx = b[-(16 * n + 4):-4]
        if crc32c(idx) != int.from_bytes(b[-4:], "little"):
            return False
    return len(files) > 0


def from_cask(tmp):
    outs, inputs = {}, {
        "x": {"source": "uniform", "seed": 5, "shape": [37, 23], "chunks": [8, 5]},
        "i": {"source": "arange", "start": -40, "stop": 1000, "step": 3, "chunks": 16, "dtype": "int32"},
        "b": {"source": "ones", "shape": [5, 6, 7], "chunks": [2, 3, 4], "dtype": "uint8"},
        "s": {"source": "full", "shape": [], "value": -2.25},
    }
    specs = [("x", "none", None), ("x", "gzip", None), ("x", "zstd", None), ("x", "blosc-lz4", None),
             ("x", "blosc-zstd", [16, 10]), ("x", "gzip", [8, 25]), ("i", "zstd", [64]), ("i", "none", [16]),
             ("b", "gzip", [4, 6, 8]), ("s", "gzip", None)]
    steps, stores = {}, []
    for k, (src, comp, shards) in enumerate(specs):
        name = f"o{k}"
        steps[name] = src
        o = {"zarr": os.path.join(tmp, f"cask{k}.zarr"), "zarr_format": 3, "compressor": comp,
             "npy": os.path.join(tmp, f"cask{k}.npy")}
        if shards:
            o["shards"] = shards
        outs[name] = o
        stores.append((o["zarr"], o["npy"], shards))
    rc, err = cask_run({"inputs": inputs, "steps": steps, "outputs": outs}, tmp)
    check(rc == 0, f"cask writes v3 stores: {err.strip()}")
    if rc:
        return
    for store, npy, shards in stores:
        want = np.load(npy)
        got = zarrita_read(store, tmp)
        check(got is not None and same(got, want), f"{os.path.basename(store)} (cask, shards {shards}) read by zarrita")
        if shards:
            check(shard_crcs_ok(store), f"{os.path.basename(store)}: the shard indexes' crc32c")
    print(f"3. {len(stores)} stores written by cask read by zarrita")


def main():
    version = subprocess.run([NODE, PEER, "version"], capture_output=True, text=True).stdout.strip()
    print(f"peer: zarrita {version}, node {subprocess.run([NODE, '--version'], capture_output=True, text=True).stdout.strip()}")
    tmp = tempfile.mkdtemp(prefix="cask-zarr3-")
    try:
        from_zarrita(tmp)
        by_hand(tmp)
        from_cask(tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if failures:
        print(f"{len(failures)} failures")
        sys.exit(1)
    print("ok")


main()
