#!/usr/bin/python3
"""mpi_jobs_check.py - `mpirun -np K cask run JOB` writes exactly what
`cask run JOB` writes (issue 13), for K = 1, 2, 3, 4 on every example job
but larger-than-memory.json (its source is 800 MB).

usage: mpi_jobs_check.py CASK JOBS_DIR

For each job: stdout and every file written are byte-identical to the local
run's and no temporary is left. Then, on basic.json at K = 3: the summary's
blocks sent equal the plans' (no (block, destination) sent twice) and the
fake-rank plans' (`--plan-ranks 3 --plan-rank R`) sends add up to them;
blocks split into 1000-byte messages (CASK_MPI_SPLIT) give the same bytes,
and so do 2 worker threads per rank (TSan builds: races of workers with the
communication thread);
a rank killed with SIGKILL makes the job exit non-zero without an output
file; under a 2 MiB limit per rank, linalg.json spills and received blocks
wait for room, same bytes; a task failing on one rank at K = 3 gives exit 1
and one message naming rank, task and op, with nothing left; a graph file's printed outputs (gathered to rank 0) are the local
run's; HDF5 and NetCDF outputs (written by rank 0, the other ranks'
blocks sent to it) hold the local run's contents at K = 1..3, also under a
2 MiB limit per rank (read with h5py and xarray; an unfiltered .h5: its
bytes); under a 1 MiB limit at K = 2, 3 the ranks sending their blocks to
rank 0's HDF5 writers stay within it plus two blocks (they wait for their
pending sends), with K = 1's contents; an elementwise array's HDF5 writers at K = 2 leave rank 1 its
blocks to make and send (locally they absorb them); a reduction of 400 blocks at K = 2, 3 keeps each rank's peak
within the segmented fold's bound and gives K = 1's bytes; --trace at K = 2, 3 writes one file with every
rank's tasks (each once, on its owner) and sends matching receives;
unique(...) (computed when called, on every rank, its values an array
over memory) and a True/False index list at K = 1..3 give the local run's
bytes and NumPy's values.
Exit 77 without mpirun. Sanitizer builds: no leak check (OpenMPI's
own allocations are reported as leaks)."""
import glob
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import numpy as np

CASK, JOBS = sys.argv[1], sys.argv[2]
MPIRUN = shutil.which("mpirun")
ENV = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1", CASK_NUM_THREADS="1",
           OMPI_MCA_rmaps_base_oversubscribe="1")
ENV["ASAN_OPTIONS"] = (ENV.get("ASAN_OPTIONS", "") + ":detect_leaks=0").lstrip(":")
ENV["TSAN_OPTIONS"] = (ENV.get("TSAN_OPTIONS", "") + ":suppressions=" +
                       os.path.join(os.path.dirname(os.path.abspath(__file__)), "mpi", "tsan.supp")).lstrip(":")
failures = []


def fail(msg):
    failures.append(msg)
    print("FAIL:", msg, flush=True)


def files(d):
    out = {}
    for root, _, names in os.walk(d):
        for n in names:
            p = os.path.join(root, n)
            with open(p, "rb") as f:
                out[os.path.relpath(p, d)] = f.read()
    return out


def inputs(d):
    # the inputs tests/cli_check.py makes for npy.json and friends
    np.save(os.path.join(d, "data.npy"), np.random.default_rng(20261125).standard_normal((400, 300)) * 3 + 1)
    try:
        import zarr
    except ImportError:  # zarr.json's local run then fails alike: reported
        return
    zarr.array(np.random.default_rng(20261126).standard_normal((400, 300)) * 2 - 1, chunks=(64, 100),
               store=os.path.join(d, "data.zarr"))


def run(cmd, d, env=ENV, timeout=120):
    return subprocess.run(cmd, cwd=d, env=env, capture_output=True, timeout=timeout)


def check_jobs(tmp):
    for job in sorted(glob.glob(os.path.join(JOBS, "*.json"))):
        name = os.path.basename(job)
        if name == "larger-than-memory.json":  # 800 MB of source
            continue
        if name == "zarr.json":
            try:
                import zarr  # noqa: F401
            except ImportError:
                print("zarr.json: skipped (no zarr module for its input)")
                continue
        ref_dir = os.path.join(tmp, name + ".local")
        os.makedirs(ref_dir)
        inputs(ref_dir)
        env1 = dict(ENV, CASK_MPI="0")
        r = run([CASK, "run", "-q", job], ref_dir, env1)
        if r.returncode:
            fail("%s: the local run failed: %s" % (name, r.stderr.decode()[-300:]))
            continue
        ref_out, ref_files = r.stdout, files(ref_dir)
        for k in (1, 2, 3, 4):
            d = os.path.join(tmp, "%s.%d" % (name, k))
            os.makedirs(d)
            inputs(d)
            r = run([MPIRUN, "--oversubscribe", "-np", str(k), CASK, "run", "-q", job], d)
            if r.returncode:
                fail("%s K=%d: exit %d: %s" % (name, k, r.returncode, r.stderr.decode()[-400:]))
                continue
            if r.stdout != ref_out:
                fail("%s K=%d: stdout differs: %r vs %r" % (name, k, r.stdout[:200], ref_out[:200]))
            got = files(d)
            if sorted(got) != sorted(ref_files):
                fail("%s K=%d: files %s, local %s" % (name, k, sorted(got), sorted(ref_files)))
            for f in ref_files:
                if f in got and got[f] != ref_files[f]:
                    fail("%s K=%d: %s differs from the local run's" % (name, k, f))
        print("%s: K = 1..4 identical to the local run" % name, flush=True)


# Jobs each rank builds only its part of (docs/distributed.md, "Planning in
# parts"): a .npy input and a generated one, reductions over either axis and
# all, outputs to .npy, Zarr and print, blocks alternating between ranks in
# a fold (a reduction over axis 0 with column-major positions), and
# reductions read back as operands (standardized columns).
PARTS_JOBS = [
    {"inputs": {"x": {"source": "npy", "path": "data.npy", "chunks": [50, 100]},
                "w": {"source": "normal", "seed": 5, "shape": [400, 300], "chunks": [50, 100]}},
     "steps": {"y": "x * w - x", "s": "sum(y, axis=1)", "m": "max(x, axis=0)", "v": "var(w)"},
     "outputs": {"s": {"print": True, "npy": "s.npy"}, "y": {"npy": "y.npy"}, "m": "print", "v": "print"}},
    {"inputs": {"x": {"source": "uniform", "seed": 9, "shape": [90, 70, 4], "chunks": [20, 30, 4]}},
     "steps": {"a": "mean(sin(x) + x, axis=0)", "b": "x * 3", "c": "argmax(x, axis=1)"},
     "outputs": {"a": {"npy": "a.npy"}, "b": {"zarr": "b.zarr"}, "c": {"npy": "c.npy"}}},
    # reductions read back as operands: each rank receives the means and
    # deviations of its columns
    {"inputs": {"x": {"source": "npy", "path": "data.npy", "chunks": [40, 100]}},
     "steps": {"mu": "mean(x, axis=0)", "sd": "std(x - mu, axis=0)", "z": "(x - mu) / sd",
               "t": "sum(abs(x - mean(x)))"},
     "outputs": {"z": {"npy": "z.npy"}, "sd": {"print": True, "npy": "sd.npy"}, "t": "print"}},
]


def check_parts(tmp):
    """Jobs in parts at K = 2..4: the files and printed values of the local
    run, and the summary says each rank built its part."""
    import json
    for i, job in enumerate(PARTS_JOBS):
        path = os.path.join(tmp, "parts%d.json" % i)
        with open(path, "w") as f:
            json.dump(job, f)
        ref_dir = os.path.join(tmp, "parts%d.local" % i)
        os.makedirs(ref_dir)
        inputs(ref_dir)
        r = run([CASK, "run", "-q", path], ref_dir, dict(ENV, CASK_MPI="0"))
        if r.returncode:
            fail("parts job %d: the local run failed: %s" % (i, r.stderr.decode()[-300:]))
            continue
        ref_out, ref_files = r.stdout, files(ref_dir)
        for k in (2, 3, 4):
            d = os.path.join(tmp, "parts%d.%d" % (i, k))
            os.makedirs(d)
            inputs(d)
            r = run([MPIRUN, "--oversubscribe", "-np", str(k), CASK, "run", path], d)
            if r.returncode or b"each built its part of the graph" not in r.stderr:
                fail("parts job %d K=%d: exit %d: %s" % (i, k, r.returncode, r.stderr.decode()[-400:]))
                continue
            if r.stdout != ref_out or files(d) != ref_files:
                fail("parts job %d K=%d: output differs from the local run's" % (i, k))
    # ranks given different jobs (MPMD: one file each) compare the jobs' digests
    a, b = os.path.join(tmp, "parts_a.json"), os.path.join(tmp, "parts_b.json")
    for path, seed in ((a, 1), (b, 2)):
        with open(path, "w") as f:
            json.dump({"inputs": {"x": {"source": "uniform", "seed": seed, "shape": [400, 60], "chunks": [50, 30]}},
                       "steps": {"s": "sum(x, axis=0)"}, "outputs": {"s": "print"}}, f)
    r = run([MPIRUN, "--oversubscribe", "-np", "1", CASK, "run", a, ":", "-np", "1", CASK, "run", b], tmp)
    said = r.stderr.count(b"the ranks built parts of different jobs")
    if r.returncode == 0 or said != 1:
        fail("different jobs in parts at K = 2: exit %d, said %d times: %r" % (r.returncode, said, r.stderr[-400:]))
    check_mismatched_ranks(tmp, a)
    print("parts: %d jobs at K = 2..4 built in parts, identical to the local run; different jobs refused" %
          len(PARTS_JOBS), flush=True)


def check_mismatched_ranks(tmp, a):
    """Ranks whose collectives before the run would not pair up are refused,
    once, with nothing left behind: jobs with other outputs (before: rank 0
    broadcast a Zarr store's name while rank 1 waited in an agreement, for
    ever), in parts and whole, and CASK_MPI_PARTS=0 on one rank only
    (before: the part's digest check met the whole graph's, for ever)."""
    import json
    d = os.path.join(tmp, "mismatch")
    os.makedirs(d)
    c = os.path.join(d, "other.json")
    with open(c, "w") as f:
        json.dump({"inputs": {"x": {"source": "uniform", "seed": 1, "shape": [400, 60], "chunks": [50, 30]}},
                   "steps": {"m": "mean(x, axis=0)", "y": "x - m", "t": "sum(x)"},
                   "outputs": {"m": {"zarr": "m.zarr"}, "y": {"npy": "y.npy"}, "t": "print"}}, f)
    cases = (("other outputs", [CASK, "run", c, ":", "-np", "1", CASK, "run", a], {},
              b"the ranks store different outputs"),
             ("other outputs, whole", [CASK, "run", a, ":", "-np", "1", CASK, "run", c], {"CASK_MPI_PARTS": "0"},
              b"the ranks store different outputs"),
             ("CASK_MPI_PARTS=0 on rank 1", [CASK, "run", c, ":", "-np", "1", "env", "CASK_MPI_PARTS=0", CASK, "run", c],
              {}, b"every rank must run the same job with the same CASK_MPI_PARTS"))
    for what, cmd, env, said_what in cases:
        try:
            r = run([MPIRUN, "--oversubscribe", "-np", "1"] + cmd, d, dict(ENV, **env), timeout=60)
        except subprocess.TimeoutExpired:
            fail("%s at K = 2: no answer in 60 s (a hang)" % what)
            continue
        said = r.stderr.count(said_what)
        if r.returncode != 1 or said != 1:
            fail("%s at K = 2: exit %d, said %d times: %r" % (what, r.returncode, said, r.stderr[-400:]))
        left = [n for n in os.listdir(d) if n != "other.json"]
        if left:
            fail("%s at K = 2: left %s" % (what, left))


HDF5_JOB = """{"inputs": {"x": {"source": "npy", "path": "data.npy", "chunks": [50, 100]}},
 "steps": {"y": "x * 2 + 1", "s": "sum(x, axis=0)", "z": "x - 3"},
 "outputs": {"y": {"hdf5": "y.h5", "dataset": "/g/y", "compression": "gzip", "level": 3},
             "s": {"netcdf": "s.nc", "variable": "s"}, "x": {"netcdf": "x.nc", "variable": "x", "dims": ["r", "c"]},
             "z": {"hdf5": "z.h5", "dataset": "z"}}}"""
# unfiltered HDF5 datasets are allocated at creation, so their layout (and
# the file's bytes) does not depend on the order the writers ran in
SAME_BYTES = ("z.h5",)


def h5_contents(path):
    """What cask guarantees of an HDF5 or NetCDF-4 file for any run and K:
    every object's name, every dataset's dtype, shape, chunks, filters and
    values (bytes), every attribute (references by their shape: they hold
    file addresses, which the layout decides)."""
    import h5py
    out = {}

    def has_ref(dt):  # an object reference, or a compound holding one (REFERENCE_LIST)
        return dt.kind == "O" or h5py.check_dtype(ref=dt) is not None or \
            any(has_ref(f[0]) for f in (dt.fields or {}).values())

    def attrs(obj):
        got = {}
        for k in obj.attrs:
            v = np.asarray(obj.attrs[k])
            got[k] = (v.shape,) if has_ref(v.dtype) else (v.dtype.str, v.shape, v.tobytes())
        return got

    def visit(name, obj):
        if isinstance(obj, h5py.Dataset):
            out[name] = (obj.dtype.str, obj.shape, obj.chunks, obj.compression, obj.compression_opts, obj.shuffle,
                         obj[()].tobytes() if obj.dtype.kind != "O" else None, attrs(obj))
        else:
            out[name] = attrs(obj)

    with h5py.File(path, "r") as f:
        out["/"] = attrs(f)
        f.visititems(visit)
    return out


def check_hdf5(tmp):
    """HDF5 and NetCDF outputs on several ranks: written by rank 0 (its
    writer tasks hinted there, the blocks of the other ranks sent to it),
    in the order blocks arrive. At K = 1..3, also under a 2 MiB limit:
    the same objects, dtypes, shapes, chunks, filters, attributes and
    values (bit for bit) as the local run, read with h5py; and the same
    file bytes for the unfiltered HDF5 dataset (allocated early); xarray
    reads the .nc files' values."""
    d0 = os.path.join(tmp, "h5.local")
    os.makedirs(d0)
    inputs(d0)
    with open(os.path.join(d0, "job.json"), "w") as f:
        f.write(HDF5_JOB)
    r = run([CASK, "run", "-q", "job.json"], d0, dict(ENV, CASK_MPI="0"))
    if r.returncode:
        if b"built without HDF5" in r.stderr:
            print("hdf5: skipped (built without HDF5)")
            return
        fail("hdf5: the local run failed: %s" % r.stderr.decode()[-300:])
        return
    try:
        import h5py  # noqa: F401
    except ImportError:
        print("hdf5: skipped (no h5py to read the files)")
        return
    ref = files(d0)
    want = {f: h5_contents(os.path.join(d0, f)) for f in ref if f.endswith((".h5", ".nc"))}
    x = np.load(os.path.join(d0, "data.npy"))
    if want["x.nc"]["x"][6] != x.tobytes() or want["z.h5"]["z"][6] != (x - 3).tobytes():
        fail("hdf5: the local run's x.nc or z.h5 does not hold the input's values")
    for k, extra in ((1, []), (2, []), (3, []), (3, ["--memory-limit", "2MiB"])):
        d = os.path.join(tmp, "h5.%d%s" % (k, "m" if extra else ""))
        os.makedirs(d)
        inputs(d)
        with open(os.path.join(d, "job.json"), "w") as f:
            f.write(HDF5_JOB)
        r = run([MPIRUN, "--oversubscribe", "-np", str(k), CASK, "run"] + extra + ["job.json"], d)
        if r.returncode:
            fail("hdf5 K=%d %s: exit %d: %s" % (k, extra, r.returncode, r.stderr.decode()[-400:]))
            continue
        got = files(d)
        if sorted(got) != sorted(ref):
            fail("hdf5 K=%d: files %s, local %s" % (k, sorted(got), sorted(ref)))
        for f in want:
            if f not in got:
                continue
            if h5_contents(os.path.join(d, f)) != want[f]:
                fail("hdf5 K=%d %s: %s holds other contents than the local run's" % (k, extra, f))
            if f in SAME_BYTES and got[f] != ref[f]:
                fail("hdf5 K=%d %s: %s (unfiltered) differs from the local run's bytes" % (k, extra, f))
        try:
            import xarray
            for f in ("x.nc", "s.nc"):
                with xarray.open_dataset(os.path.join(d, f)) as a, xarray.open_dataset(os.path.join(d0, f)) as b:
                    if not a.identical(b):
                        fail("hdf5 K=%d %s: xarray reads %s otherwise than the local run's" % (k, extra, f))
        except ImportError:
            pass
        m = re.search(rb"sent (\d+) blocks", r.stderr)
        if k > 1 and not (m and int(m.group(1)) > 0):
            fail("hdf5 K=%d: no block sent to rank 0: %r" % (k, r.stderr[-300:]))
    print("hdf5: .h5 and .nc outputs at K = 1..3 hold the local run's contents (z.h5: its bytes)", flush=True)


SPREAD_JOB = """{"inputs": {"a": {"source": "normal", "seed": 3, "shape": [600, 200], "chunks": [20, 200]}},
 "steps": {"b": "sin(a) * 2 + cos(a)"}, "outputs": {"b": {"hdf5": "b.h5", "dataset": "b", "compression": "gzip"}}}"""


def check_hdf5_spread(tmp):
    """An elementwise array written to HDF5 at K = 2: one task per block
    locally (the writer absorbs the expression), while on ranks the
    writers (pinned to rank 0) absorb nothing, so rank 1 makes its half of
    the blocks and sends them; the same contents as the local run."""
    d0, d = os.path.join(tmp, "spread.local"), os.path.join(tmp, "spread.2")
    for x in (d0, d):
        os.makedirs(x)
        with open(os.path.join(x, "job.json"), "w") as f:
            f.write(SPREAD_JOB)
    r = run([CASK, "run", "job.json"], d0, dict(ENV, CASK_MPI="0"))
    if r.returncode:
        if b"built without HDF5" not in r.stderr:
            fail("spread: the local run failed: %s" % r.stderr.decode()[-300:])
        return
    if not re.search(rb"done in [^:]*: 30 tasks", r.stderr):
        fail("spread: the local run is not 30 fused tasks: %r" % r.stderr[-300:])
    r = run([MPIRUN, "--oversubscribe", "-np", "2", CASK, "run", "job.json"], d)
    m = re.search(rb"sent (\d+) blocks.*per rank: 0: (\d+) tasks.*; 1: (\d+) tasks", r.stderr)
    if r.returncode or not m or int(m.group(1)) < 10 or int(m.group(3)) < 10:
        fail("spread K=2: exit %d, rank 1 did not make and send its blocks: %r" % (r.returncode, r.stderr[-400:]))
    elif h5_contents(os.path.join(d, "b.h5")) != h5_contents(os.path.join(d0, "b.h5")):
        fail("spread K=2: b.h5 holds other contents than the local run's")
    else:
        print("spread: K=2 made %s blocks on rank 1 and sent them; same contents" % m.group(1).decode(), flush=True)


SEND_JOB = """{"inputs": {"x": {"source": "npy", "path": "x.npy", "chunks": [125, 500]}},
 "steps": {"y": "(x - mean(x, axis=0)) / std(x, axis=0)"},
 "outputs": {"y": {"hdf5": "y.h5", "dataset": "/y"}}}"""


def check_send_limit(tmp):
    """HDF5 output under a tight limit (1 MiB, two blocks of y) at K = 2, 3:
    the ranks above 0 make their blocks of y and send each to rank 0, which
    receives them one at a time. A sender waits for its pending sends
    rather than make more blocks past its limit: before, rank 1 went on
    making them while the ones before waited for rank 0 (1.9 to 7.6 MiB
    here; 32 MiB under 4 MiB with 2 MB blocks). Each sender's reported peak
    stays within the limit plus two blocks (seen: 0.9 over; a block whose
    send task runs counts in its slot and in the send for that moment, and
    a block being spilled for the next task may be pinned by its send task
    meanwhile), rank 0's within three (the receiver's slack, as in
    tests/mpi/memory.c); y.h5 holds K = 1's contents (h5py)."""
    limit, block = 1 << 20, 125 * 500 * 8
    ref, most = None, [0.0, 0.0]  # the most over the limit, in blocks: rank 0, the senders
    for k in (1, 2, 3):
        d = os.path.join(tmp, "send.%d" % k)
        os.makedirs(d)
        np.save(os.path.join(d, "x.npy"), np.random.default_rng(20261207).standard_normal((6000, 500)))
        with open(os.path.join(d, "job.json"), "w") as f:
            f.write(SEND_JOB)
        r = run([MPIRUN, "--oversubscribe", "-np", str(k), CASK, "run", "-m", "1MiB", "job.json"], d)
        if r.returncode:
            if b"built without HDF5" not in r.stderr:
                fail("send limit K=%d: exit %d: %s" % (k, r.returncode, r.stderr.decode()[-400:]))
            else:
                print("send limit: skipped (built without HDF5)")
            return
        try:
            got = h5_contents(os.path.join(d, "y.h5"))
        except ImportError:
            print("send limit: skipped (no h5py to read the files)")
            return
        ref = ref or got
        if got != ref:
            fail("send limit K=%d: y.h5 holds other contents than K=1's" % k)
        if k == 1:
            continue
        for rank, held in rank_peaks(r.stderr, k, "send limit"):
            slack = (2 if rank else 3) * block
            most[rank > 0] = max(most[rank > 0], (held - limit) / block)
            if held > limit + slack:
                fail("send limit K=%d: rank %d peaked at %.0f bytes, over its limit %d plus %d" %
                     (k, rank, held, limit, slack))
    print("send limit: HDF5 output under 1 MiB per rank at K = 2, 3: senders at most %.2f blocks over it "
          "(rank 0: %.2f), same contents as K = 1" % (most[1], most[0]), flush=True)


FOLD_JOB = """{"inputs": {"a": {"source": "normal", "seed": 1, "shape": [2000, 2000], "chunks": [5, 2000]}},
 "steps": {"s": "std(a, axis=0)"}, "outputs": {"s": {"npy": "s.npy"}}}"""
UNITS = {b"B": 1, b"KiB": 1 << 10, b"MiB": 1 << 20, b"GiB": 1 << 30}


def rank_peaks(stderr, k, what):
    """(rank, peak bytes) of each of k ranks from the summary's "per rank"
    part; [] (and a failure) when it does not list k ranks."""
    peaks = re.findall(rb"(\d+): \d+ tasks, peak ([\d.]+) (B|KiB|MiB|GiB)", stderr)
    if len(peaks) != k:
        fail("%s K=%d: no peak per rank in %r" % (what, k, stderr[-300:]))
        return []
    return [(int(rank), float(v) * UNITS[unit]) for rank, v, unit in peaks]


def check_fold_memory(tmp):
    """A reduction of 400 blocks on K = 2, 3 ranks (one thread each): no
    rank holds more than the segmented fold's bound of states waiting for
    an earlier rank (S partials of the straddling segment, n / S segment
    states, S = 20 here) plus a few; a single left fold kept every partial
    of ranks above 0 (200 states of 48 kB, 9.1 MiB, at K = 2). The result
    is the same bytes at K = 1, 2, 3."""
    n, s, state = 400, 20, 2000 * 3 * 8  # (count, mean, M2) per column
    bound = (s + n // s + 4) * state
    ref = None
    for k in (1, 2, 3):
        d = os.path.join(tmp, "fold.%d" % k)
        os.makedirs(d)
        with open(os.path.join(d, "job.json"), "w") as f:
            f.write(FOLD_JOB)
        r = run([MPIRUN, "--oversubscribe", "-np", str(k), CASK, "run", "job.json"], d)
        if r.returncode:
            fail("fold K=%d: exit %d: %s" % (k, r.returncode, r.stderr.decode()[-400:]))
            continue
        out = files(d)["s.npy"]
        ref = ref or out
        if out != ref:
            fail("fold K=%d: the result differs from K=1's" % k)
        if k == 1:
            continue
        for rank, held in rank_peaks(r.stderr, k, "fold"):
            if held > bound:
                fail("fold K=%d: rank %d peaked at %.0f bytes, over the fold's bound %d" % (k, rank, held, bound))
    print("fold: 400 blocks at K = 2, 3 within %d bytes per rank, same result as K = 1" % bound, flush=True)


# Output 0 reduces axis 1, so positions run over (i, k, j) and the folds of
# b over (j, k) in C order visit their blocks out of position order: at
# K = 3 a fold's blocks alternate between two ranks (a rank hands its state
# to the other and gets the next one back: one ghost both reads and
# produces; 4 such in the plans), and c folds over axes 0 and 2.
ALTERNATING_JOB = """{"inputs": {"x": {"source": "normal", "seed": 3, "shape": [8, 9, 12], "chunks": [4, 3, 3]}},
 "steps": {"a": "sum(x, axis=1)", "b": "sum(x * 2, axis=(1, 2))", "c": "max(x, axis=(0, 2))",
           "d": "argmin(x, axis=2)", "e": "mean(x)"},
 "outputs": {"a": {"npy": "a.npy"}, "b": {"print": true, "npy": "b.npy"}, "c": "print", "d": {"npy": "d.npy"},
             "e": "print"}}"""


def check_alternating_folds(tmp):
    """ALTERNATING_JOB at K = 3 with each rank building its part, and with
    each building the whole graph: the bytes and the printout of the local
    run."""
    outs = {}
    for name, cmd, env in (("local", [CASK, "run", "-q", "job.json"], dict(ENV, CASK_MPI="0")),
                           ("parts", [MPIRUN, "--oversubscribe", "-np", "3", CASK, "run", "-q", "job.json"], ENV),
                           ("whole", [MPIRUN, "--oversubscribe", "-np", "3", "-x", "CASK_MPI_PARTS=0", CASK, "run", "-q",
                                      "job.json"], dict(ENV, CASK_MPI_PARTS="0"))):
        d = os.path.join(tmp, "alternating." + name)
        os.makedirs(d)
        with open(os.path.join(d, "job.json"), "w") as f:
            f.write(ALTERNATING_JOB)
        r = run(cmd, d, env)
        if r.returncode:
            fail("alternating folds (%s): exit %d: %s" % (name, r.returncode, r.stderr.decode()[-400:]))
            return
        outs[name] = (files(d), r.stdout)
    if outs["parts"] != outs["local"] or outs["whole"] != outs["local"]:
        fail("alternating folds at K=3: parts same %s, whole same %s" % (outs["parts"] == outs["local"],
                                                                         outs["whole"] == outs["local"]))
    else:
        print("alternating folds at K=3: parts and whole graphs give the local run's bytes", flush=True)


def check_counts(tmp):
    job = os.path.join(JOBS, "basic.json")
    d = os.path.join(tmp, "counts")
    os.makedirs(d)
    r = run([MPIRUN, "--oversubscribe", "-np", "3", CASK, "run", job], d)
    m = re.search(rb"3 ranks \(each built (its part of|the whole) the graph\): (\d+) tasks, sent (\d+) blocks of (\d+) "
                  rb"planned", r.stderr)
    if r.returncode or not m or m.group(1) != b"its part of":
        fail("summary at K=3 (basic.json plans in parts): exit %d, %r" % (r.returncode, r.stderr[-400:]))
        return
    m = re.search(rb"(\d+) tasks, sent (\d+) blocks of (\d+) planned", r.stderr)
    sent, planned = int(m.group(2)), int(m.group(3))
    fake = 0
    for rank in range(3):
        p = run([CASK, "run", "--plan-ranks", "3", "--plan-rank", str(rank), job], d, dict(ENV, CASK_MPI="0"))
        fake += int(re.search(rb"sends: (\d+) blocks", p.stdout).group(1))
    if sent != planned or planned != fake:
        fail("K=3: %d blocks sent, %d planned, fake-rank plans %d" % (sent, planned, fake))
    else:
        print("K=3: %d blocks sent = planned = the fake-rank plans' sends" % sent)
    ref = files(d)
    # HDF5 and NetCDF outputs: rank 0 writes every block, so the whole graph
    # runs; the fake-rank plans (writers included) send what the run sends
    dh = os.path.join(tmp, "counts_h5")
    os.makedirs(dh)
    inputs(dh)
    with open(os.path.join(dh, "h5.json"), "w") as f:
        f.write(HDF5_JOB)
    r = run([MPIRUN, "--oversubscribe", "-np", "3", CASK, "run", "h5.json"], dh)
    m = re.search(rb"3 ranks \(each built the whole graph\): \d+ tasks, sent (\d+) blocks", r.stderr)
    fake = 0
    for rank in range(3):
        p = run([CASK, "run", "--plan-ranks", "3", "--plan-rank", str(rank), "h5.json"], dh, dict(ENV, CASK_MPI="0"))
        got = re.search(rb"sends: (\d+) blocks", p.stdout)
        fake += int(got.group(1)) if got else -1000
    if r.returncode or not m or int(m.group(1)) != fake:
        fail("HDF5 job K=3: exit %d, %r, fake-rank plans %d" % (r.returncode, r.stderr[-300:], fake))
    else:
        print("HDF5 job K=3: %d blocks sent = the fake-rank plans' sends (the whole graph)" % fake)
    # the same run with every rank building the whole graph: the same bytes
    d3 = os.path.join(tmp, "whole")
    os.makedirs(d3)
    r = run([MPIRUN, "--oversubscribe", "-np", "3", "-x", "CASK_MPI_PARTS=0", CASK, "run", job], d3,
            dict(ENV, CASK_MPI_PARTS="0"))
    if r.returncode or b"each built the whole graph" not in r.stderr or files(d3) != ref:
        fail("CASK_MPI_PARTS=0 at K=3: exit %d, same files %s, %r" % (r.returncode, files(d3) == ref, r.stderr[-300:]))
    else:
        print("K=3: each rank building its part or the whole graph: the same files")
    # ranks that disagree (CASK_MPI_PARTS=0 on rank 0 only): the same
    # message on the ranks, no MPI error (their digest checks enter
    # different collectives), nothing left
    dm = os.path.join(tmp, "mixed")
    os.makedirs(dm)
    r = run([MPIRUN, "--oversubscribe", "-np", "1", "-x", "CASK_MPI_PARTS=0", CASK, "run", "-q", job, ":",
             "-np", "1", "-x", "CASK_MPI_PARTS=1", CASK, "run", "-q", job], dm)
    err = r.stderr.decode(errors="replace")
    if r.returncode != 1 or "every rank must run the same job with the same CASK_MPI_PARTS" not in err \
            or "MPI_ERR" in err or os.listdir(dm):
        fail("CASK_MPI_PARTS=0 on one rank of 2: exit %d, left %s, %r" % (r.returncode, os.listdir(dm), err[-400:]))
    else:
        print("CASK_MPI_PARTS=0 on one rank of 2: exit 1 naming the mismatch")
    d2 = os.path.join(tmp, "split")
    os.makedirs(d2)
    r = run([MPIRUN, "--oversubscribe", "-np", "2", "-x", "CASK_MPI_SPLIT=1000", CASK, "run", job], d2,
            dict(ENV, CASK_MPI_SPLIT="1000"))
    m = re.search(rb"sent (\d+) blocks of \d+ planned \([^)]* in (\d+) messages", r.stderr)
    if r.returncode or files(d2) != ref or not m or int(m.group(2)) <= int(m.group(1)):
        fail("split messages: exit %d, same files %s, %r" % (r.returncode, files(d2) == ref, r.stderr[-300:]))
    else:
        print("split into 1000-byte messages: %s blocks in %s messages, same bytes" % (m.group(1).decode(), m.group(2).decode()))
    # two workers per rank (elsewhere one: the ranks share 2 cores): under
    # TSan, workers writing blocks beside the communication thread's sends
    d3 = os.path.join(tmp, "threads")
    os.makedirs(d3)
    r = run([MPIRUN, "--oversubscribe", "-np", "2", "-x", "CASK_NUM_THREADS=2", CASK, "run", job], d3,
            dict(ENV, CASK_NUM_THREADS="2"))
    if r.returncode or files(d3) != ref:
        fail("2 threads per rank: exit %d, same files %s, %r" % (r.returncode, files(d3) == ref, r.stderr[-300:]))
    else:
        print("K=2 with 2 threads per rank: same bytes")


def check_trace(tmp):
    # --trace at K = 2, 3: one file from rank 0 holding every rank (the rank
    # is the pid); each task of the plan once, on its owner rank (counted
    # against --plan-ranks K --plan-rank R, names unique over the ranks);
    # every send has its receive (block, from, to, bytes), as many as the
    # plans' sends; the outputs as without a trace
    import collections
    import json
    job = os.path.join(JOBS, "basic.json")
    for k in (2, 3):
        d = os.path.join(tmp, "trace%d" % k)
        os.makedirs(d)
        r = run([MPIRUN, "--oversubscribe", "-np", str(k), CASK, "run", "-q", "--trace", "t.json", job], d)
        if r.returncode:
            fail("trace K=%d: exit %d: %r" % (k, r.returncode, r.stderr[-300:]))
            continue
        try:
            with open(os.path.join(d, "t.json")) as f:
                ev = json.load(f)["traceEvents"]
        except (OSError, ValueError) as e:
            fail("trace K=%d: %s" % (k, e))
            continue
        bad = []
        pids = sorted({e["pid"] for e in ev})
        if pids != list(range(k)):
            bad.append("pids %s" % pids)
        tasks = [e for e in ev if e["ph"] == "X" and e.get("cat") not in ("mpi", "spill")
                 and not e.get("cat", "").startswith("cask.mpi_")]
        names = collections.Counter(e["name"] for e in tasks)
        twice = [n for n, c in names.items() if c > 1]
        if twice:
            bad.append("tasks traced more than once: %s" % twice[:3])
        planned_sends = 0
        for rank in range(k):
            p = run([CASK, "run", "--plan-ranks", str(k), "--plan-rank", str(rank), "--plan-json", job], d,
                    dict(ENV, CASK_MPI="0"))
            plan = json.loads(p.stdout)
            planned_sends += plan["sends"]
            mine = sum(1 for e in tasks if e["pid"] == rank)
            if mine != plan["tasks"]:
                bad.append("rank %d: %d tasks traced, its plan runs %d" % (rank, mine, plan["tasks"]))
        sends = collections.Counter((e["args"]["block"], e["pid"], e["args"]["peer"], e["args"]["bytes"])
                                    for e in ev if e.get("cat") == "mpi" and e["name"] == "send")
        recvs = collections.Counter((e["args"]["block"], e["args"]["peer"], e["pid"], e["args"]["bytes"])
                                    for e in ev if e.get("cat") == "mpi" and e["name"] == "recv")
        if sends != recvs or sum(sends.values()) != planned_sends:
            bad.append("%d sends, %d receives, plans %d, unmatched %s" % (
                sum(sends.values()), sum(recvs.values()), planned_sends, list((sends - recvs) + (recvs - sends))[:3]))
        got = files(d)
        got.pop("t.json", None)
        ref = files(os.path.join(tmp, "counts"))
        if got != ref:
            bad.append("outputs differ from the run without a trace")
        if bad:
            fail("trace K=%d: %s" % (k, "; ".join(bad)))
        else:
            print("trace K=%d: %d ranks, %d tasks once each on their owner, %d sends = receives = planned" % (
                k, k, len(tasks), planned_sends), flush=True)


def check_memory_limit(tmp):
    """Under a per-rank limit of 2 MiB, linalg.json spills and received
    blocks wait for room, with the outputs of the unlimited local run."""
    job = os.path.join(JOBS, "linalg.json")
    ref_dir, d = os.path.join(tmp, "limit.local"), os.path.join(tmp, "limit.3")
    os.makedirs(ref_dir)
    os.makedirs(d)
    ref = run([CASK, "run", "-q", job], ref_dir, dict(ENV, CASK_MPI="0"))
    r = run([MPIRUN, "--oversubscribe", "-np", "3", CASK, "run", "--memory-limit", "2MiB", job], d)
    m = re.search(rb"(\d+) received blocks waited for room, spilled ([0-9.]+ \w+);", r.stderr)
    if r.returncode or r.stdout != ref.stdout or files(d) != files(ref_dir) or not m or int(m.group(1)) == 0 \
            or m.group(2) == b"0 B":
        fail("memory limit at K=3: exit %d, same %s, %r" % (r.returncode, files(d) == files(ref_dir), r.stderr[-300:]))
    else:
        print("linalg.json under 2 MiB per rank at K=3: %s blocks waited, %s spilled, same bytes" %
              (m.group(1).decode(), m.group(2).decode()))


def check_failure(tmp):
    """A task failing on one rank at K=3 (a Zarr chunk file of garbage):
    exit 1, rank 0 prints the message naming the rank, the task and its op,
    and no output or temporary is left."""
    d = os.path.join(tmp, "failure")
    os.makedirs(d)
    src = os.path.join(d, "src.json")
    with open(src, "w") as f:
        f.write('{"inputs": {"x": {"source": "normal", "seed": 3, "shape": [400, 100], "chunks": [50, 100]}},'
                ' "outputs": {"x": {"zarr": "x.zarr", "compressor": "zlib"}}}')
    r = run([CASK, "run", "-q", src], d, dict(ENV, CASK_MPI="0"))
    chunk = os.path.join(d, "x.zarr", "7.0")
    if r.returncode or not os.path.exists(chunk):
        fail("failure: making the input: %r" % r.stderr[-300:])
        return
    with open(chunk, "wb") as f:
        f.write(b"not zlib at all" * 10)
    job = os.path.join(d, "bad.json")
    with open(job, "w") as f:
        f.write('{"inputs": {"x": {"source": "zarr", "path": "x.zarr", "chunks": [50, 100]}},'
                ' "steps": {"y": "x * 2", "s": "sum(x)"}, "outputs": {"y": {"npy": "y.npy"}, "s": "print"}}')
    r = run([MPIRUN, "--oversubscribe", "-np", "3", CASK, "run", "-q", job], d)
    err = r.stderr.decode()
    m = re.search(r"cask: the run failed: rank (\d): task '[^']+' \(op [\w.]+\) failed", err)
    left = [n for n in os.listdir(d) if n.startswith("y.npy")]
    if r.returncode != 1 or not m or left or err.count("cask: the run failed") != 1:
        fail("failure at K=3: exit %d, files %s, stderr %r" % (r.returncode, left, err[-500:]))
    else:
        print("a failing task at K=3: exit 1, one message naming rank %s, its task and op; nothing left" % m.group(1))


def check_graph_files(tmp):
    """cask run GRAPH.json: the outputs gathered to rank 0, printed as alone."""
    for name in ("reductions.json", "basic.json"):
        d = os.path.join(tmp, "graph-" + name)
        os.makedirs(d)
        alone = dict(ENV, CASK_MPI="0")
        r = run([CASK, "graph", "-q", "-o", "g.json", os.path.join(JOBS, name)], d, alone)
        ref = run([CASK, "run", "-q", "g.json"], d, alone)
        if r.returncode or ref.returncode:
            fail("graph file of %s: %r %r" % (name, r.stderr[-200:], ref.stderr[-200:]))
            continue
        for k in (2, 3):
            got = run([MPIRUN, "--oversubscribe", "-np", str(k), CASK, "run", "-q", "g.json"], d)
            if got.returncode or got.stdout != ref.stdout:
                fail("graph file of %s at K=%d: exit %d, stdout %s" % (name, k, got.returncode,
                                                                     "same" if got.stdout == ref.stdout else "differs"))
        print("graph file of %s: K = 2, 3 print what the local run prints" % name)


def check_env_flag(tmp):
    """CASK_MPI takes 1/0, true/false, yes/no, on/off; anything else is bad
    usage (exit 2, naming the value): "false" once meant MPI on."""
    job = os.path.join(JOBS, "basic.json")
    for v in ("no", "FALSE", "off", "0"):
        r = run([CASK, "run", "-q", job], tmp, dict(ENV, CASK_MPI=v))
        if r.returncode:
            fail("CASK_MPI=%s: exit %d: %r" % (v, r.returncode, r.stderr[-300:]))
    r = run([CASK, "run", "-q", job], tmp, dict(ENV, CASK_MPI="maybe"))
    if r.returncode != 2 or b"CASK_MPI='maybe'" not in r.stderr:
        fail("CASK_MPI=maybe: exit %d: %r" % (r.returncode, r.stderr[-300:]))
    # every rank meets it: rank 0 alone says it (once said by every rank)
    r = run([MPIRUN, "--oversubscribe", "-np", "3", "-x", "CASK_MPI=maybe", CASK, "run", "-q", job], tmp)
    said = r.stderr.count(b"CASK_MPI='maybe'")
    if r.returncode != 2 or said != 1:
        fail("CASK_MPI=maybe at K = 3: exit %d, said %d times: %r" % (r.returncode, said, r.stderr[-300:]))
    # CASK_MPI_PARTS the same way (read by the library: the run fails, once)
    r = run([MPIRUN, "--oversubscribe", "-np", "2", "-x", "CASK_MPI_PARTS=maybe", CASK, "run", "-q", job], tmp,
            dict(ENV, CASK_MPI_PARTS="maybe"))
    said = r.stderr.count(b"CASK_MPI_PARTS='maybe'")
    if r.returncode != 1 or said != 1:
        fail("CASK_MPI_PARTS=maybe at K = 2: exit %d, said %d times: %r" % (r.returncode, said, r.stderr[-300:]))


def check_said_once(tmp):
    """What every rank meets is said once at K = 3: a job file error (exit
    2, its message once), a bad option (read before MPI starts: rank 0
    says it; the others wait before exiting, or mpirun could end rank 0
    before it said it: 1 run in 10 to 20 on a loaded machine) and
    --dry-run's plan (the K = 1 plan's lines)."""
    d = os.path.join(tmp, "once")
    os.makedirs(d)
    bad = os.path.join(d, "bad.json")
    with open(bad, "w") as f:
        f.write('{"inputs": {"x": {"source": "npy", "path": "nope.npy"}}, "outputs": {"x": "print"}}')
    r = run([MPIRUN, "--oversubscribe", "-np", "3", CASK, "run", bad], d)
    said = r.stderr.count(b"cannot read 'nope.npy'")
    if r.returncode != 2 or said != 1:
        fail("a bad job at K = 3: exit %d, its message %d times: %r" % (r.returncode, said, r.stderr[-400:]))
    r = run([MPIRUN, "--oversubscribe", "-np", "3", CASK, "run", "--bogus", bad], d)
    said = r.stderr.count(b"unknown option or missing value: '--bogus'")
    if r.returncode != 2 or said != 1:
        fail("a bad option at K = 3: exit %d, its message %d times: %r" % (r.returncode, said, r.stderr[-400:]))
    job = os.path.join(JOBS, "basic.json")
    one = run([CASK, "run", "--dry-run", job], d, dict(ENV, CASK_MPI="0"))
    three = run([MPIRUN, "--oversubscribe", "-np", "3", CASK, "run", "--dry-run", job], d)
    if one.returncode or three.returncode or one.stdout != three.stdout:
        fail("--dry-run at K = 3 printed %d bytes, alone %d" % (len(three.stdout), len(one.stdout)))


def in_syscall(pid, nr):
    """Whether a thread of pid is blocked in system call nr."""
    for tid in glob.glob("/proc/%d/task/*" % pid):
        try:
            with open(tid + "/syscall") as f:
                if f.read().split()[0] == str(nr):
                    return True
        except (OSError, IndexError):
            pass
    return False


def rank_pid(pids, rank):
    """The one of pids (of mpirun's children) that is rank `rank`, or None."""
    for pid in pids:
        try:
            with open("/proc/%s/environ" % pid, "rb") as f:
                env = f.read().split(b"\0")
        except OSError:
            continue
        if ("OMPI_COMM_WORLD_RANK=%d" % rank).encode() in env:
            return int(pid)
    return None


def check_kill(tmp):
    """A rank killed mid-run. The run cannot finish on its own: one chunk
    file of its Zarr input is a FIFO no one writes, so the task reading it
    (on rank 1) blocks in its open(), where rank 1 is killed; no timing
    decides the outcome. Ranks 0 and 2 are past every collective before
    the run then, and wait for rank 1 in the run's last agreement (or
    finish their tasks first). They get SIGTERM here right after the kill
    (as mpirun sends it, by default a second later, followed by SIGKILL
    about 160 ms after that: docs/distributed.md; here mpirun's own
    signals come 4 s later, so a loaded machine cannot fail the test) and
    must give up waiting, remove the output's temporary and exit."""
    d = os.path.join(tmp, "kill")
    os.makedirs(d)
    src = os.path.join(d, "src.json")
    with open(src, "w") as f:
        f.write('{"inputs": {"x": {"source": "normal", "seed": 3, "shape": [400, 100], "chunks": [50, 100]}},'
                ' "outputs": {"x": {"zarr": "x.zarr", "compressor": "none"}}}')
    r = run([CASK, "run", "-q", src], d, dict(ENV, CASK_MPI="0"))
    chunk = os.path.join(d, "x.zarr", "5.0")
    if r.returncode or not os.path.exists(chunk):
        fail("kill: making the input: %r" % r.stderr[-300:])
        return
    os.unlink(chunk)
    os.mkfifo(chunk)
    job = os.path.join(d, "stuck.json")
    with open(job, "w") as f:
        f.write('{"inputs": {"x": {"source": "zarr", "path": "x.zarr", "chunks": [50, 100]}},'
                ' "steps": {"y": "x * 2"}, "outputs": {"y": {"npy": "y.npy"}}}')
    p = subprocess.Popen([MPIRUN, "--oversubscribe", "--mca", "odls_base_sigkill_timeout", "4", "-np", "3", CASK,
                          "run", "-q", job], cwd=d, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    victim, survivors = None, []
    for _ in range(1500):  # until rank 1 is in the open() of the FIFO: its run started
        time.sleep(0.02)
        ranks = subprocess.run(["pgrep", "-f", "^" + CASK + " run -q " + job], capture_output=True,
                               text=True).stdout.split()
        one = rank_pid(ranks, 1) if len(ranks) >= 3 else None
        if one and in_syscall(one, 257) and glob.glob(os.path.join(d, "y.npy.tmp-*")):  # 257: openat (x86-64)
            victim, survivors = one, [rank_pid(ranks, 0), rank_pid(ranks, 2)]
            break
    if victim is None:
        p.kill()
        p.communicate()
        fail("kill: the ranks did not start")
        return
    os.kill(victim, signal.SIGKILL)
    for pid in survivors:
        if pid:
            os.kill(pid, signal.SIGTERM)
    t0 = time.time()
    err = b""
    try:
        err = p.communicate(timeout=60)[1]
    except subprocess.TimeoutExpired:
        p.kill()
        p.communicate()
        fail("kill: the job still runs 60 s after a rank was killed")
        return
    if p.returncode == 0 or os.path.exists(os.path.join(d, "y.npy")):
        fail("kill: exit %d, y.npy %s" % (p.returncode, os.path.exists(os.path.join(d, "y.npy"))))
    else:
        print("a killed rank: exit %d after %.1f s, no output" % (p.returncode, time.time() - t0))
    left = glob.glob(os.path.join(d, "y.npy.tmp-*"))
    if left:  # rank 0 hung in the agreement until SIGKILL
        fail("kill: the survivors left the output's temporary %s: %r" % (left, err[-500:]))
    # the next run of the job writes its output
    with open(job, "w") as f:
        f.write('{"inputs": {"x": {"source": "normal", "seed": 3, "shape": [40, 10], "chunks": [5, 10]}},'
                ' "outputs": {"x": {"npy": "y.npy"}}}')
    r = run([MPIRUN, "--oversubscribe", "-np", "2", CASK, "run", "-q", job], d)
    left = glob.glob(os.path.join(d, "y.npy.tmp-*"))
    if r.returncode or left or not os.path.exists(os.path.join(d, "y.npy")):
        fail("after the kill: exit %d, temporaries %s" % (r.returncode, left))


MEMORY_JOB = """{"inputs": {"g": {"source": "normal", "seed": 3, "shape": [500], "chunks": [64]},
            "i": {"source": "arange", "stop": 300, "chunks": [50], "dtype": "int64"},
            "x": {"source": "npy", "path": "data.npy", "chunks": [64, 100]}},
 "steps": {"ug": "unique(g > 0)", "ui": "unique(i % 17)", "ux": "unique(floor(x))",
           "uy": "unique(i % 17) * 2 + i[:17]", "s": "sum(unique(i % 7))",
           "b": "i[:6][[True, False, True, True, False, True]]"},
 "outputs": {"g": {"npy": "g.npy"}, "ug": {"npy": "ug.npy"}, "ui": {"npy": "ui.npy"}, "ux": {"npy": "ux.npy"},
             "uy": {"npy": "uy.npy"}, "s": "print", "b": {"npy": "b.npy"}}}"""


def check_memory_jobs(tmp):
    """unique computes when called, on every rank, and its values become an
    array over memory, as does a True/False index list: at K = 1..3 the
    files are the local run's bytes and hold NumPy's values."""
    job = os.path.join(tmp, "memory.json")
    with open(job, "w") as f:
        f.write(MEMORY_JOB)
    ref = None
    for k in (0, 1, 2, 3):
        d = os.path.join(tmp, "memory.%d" % k)
        os.makedirs(d)
        inputs(d)
        cmd = [CASK, "run", "-q", job] if k == 0 else [MPIRUN, "--oversubscribe", "-np", str(k), CASK, "run", "-q", job]
        r = run(cmd, d, dict(ENV, CASK_MPI="0") if k == 0 else ENV)
        if r.returncode:
            fail("memory.json K=%d: exit %d: %s" % (k, r.returncode, r.stderr.decode()[-400:]))
            continue
        got = (r.stdout, files(d))
        if k == 0:
            ref = got
            load = {n: np.load(os.path.join(d, n + ".npy")) for n in ("g", "ug", "ui", "ux", "uy", "b")}
            x, i = np.load(os.path.join(d, "data.npy")), np.arange(300, dtype=np.int64)
            want = {"ug": np.unique(load["g"] > 0), "ui": np.unique(i % 17), "ux": np.unique(np.floor(x)),
                    "uy": np.unique(i % 17) * 2 + i[:17], "b": i[:6][[True, False, True, True, False, True]]}
            for n, w in want.items():
                if load[n].dtype != w.dtype or not np.array_equal(load[n], w):
                    fail("memory.json: %s is %r (%s), NumPy's %r (%s)" % (n, load[n][:8], load[n].dtype, w[:8], w.dtype))
            if r.stdout.decode().strip() != "s = %d" % np.unique(i % 7).sum():
                fail("memory.json: printed %r" % r.stdout)
        elif ref and got != ref:
            fail("memory.json K=%d: output differs from the local run's (stdout %r, files %s)" %
                 (k, r.stdout, [n for n in ref[1] if got[1].get(n) != ref[1][n]]))
    print("memory.json (unique, a True/False list): K = 1..3 identical to the local run and to NumPy", flush=True)


def main():
    if not MPIRUN:
        print("no mpirun: skipped")
        return 77
    with tempfile.TemporaryDirectory() as tmp:
        check_jobs(tmp)
        check_hdf5(tmp)
        check_hdf5_spread(tmp)
        check_send_limit(tmp)
        check_parts(tmp)
        check_fold_memory(tmp)
        check_counts(tmp)
        check_alternating_folds(tmp)
        check_trace(tmp)
        check_graph_files(tmp)
        check_memory_jobs(tmp)
        check_memory_limit(tmp)
        check_failure(tmp)
        check_kill(tmp)
        check_env_flag(tmp)
        check_said_once(tmp)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
