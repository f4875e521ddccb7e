#!/usr/bin/python3
"""capped_check.py - `cask run` in a memory cgroup smaller than its data.

Usage: capped_check.py CASK_BINARY

A 320 MB .npy input, about three times the cap of a fresh memory cgroup (112 MiB,
the page cache counted, the file dropped from the cache first), and a job
that needs x twice ((x - x.mean(axis=0)) * 2 to .npy and Zarr, and the std
of the centred x printed) under --memory-limit 40MiB: the run must end
without the OOM killer, and its outputs must equal NumPy's (within 1e-12 of
the largest value; the std within 1e-12 relative). Needs root and a
writable memory cgroup (v1 memory.limit_in_bytes or v2 memory.max): without
them it says why and exits 77, which CTest reports as skipped.
"""
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

CAP = 112 << 20
ROWS, COLS = 40000, 1000


def cgroup(name):
    v1 = "/sys/fs/cgroup/memory"
    if os.path.isfile(os.path.join(v1, "memory.limit_in_bytes")):
        path, limit = os.path.join(v1, name), "memory.limit_in_bytes"
    else:
        path, limit = os.path.join("/sys/fs/cgroup", name), "memory.max"
    os.mkdir(path)
    with open(os.path.join(path, limit), "w") as f:
        f.write(str(CAP))
    return path


def read(path, name):
    with open(os.path.join(path, name)) as f:
        return f.read()


def oom_kills(path):
    for name in ("memory.oom_control", "memory.events"):
        try:
            for line in read(path, name).splitlines():
                if line.startswith("oom_kill "):
                    return int(line.split()[1])
        except OSError:
            pass
    return 0


def remove(path):
    for _ in range(50):
        try:
            os.rmdir(path)
            return
        except OSError:
            time.sleep(0.1)


def main():
    cask = os.path.abspath(sys.argv[1])
    if os.geteuid() != 0:
        print("capped: skipped: not root (a memory cgroup needs it)")
        return 77
    try:
        g = cgroup("cask-capped-check-%d" % os.getpid())
    except OSError as e:
        print("capped: skipped: no memory cgroup can be made here: %s" % e)
        return 77
    try:
        with tempfile.TemporaryDirectory() as d:
            x = np.random.default_rng(3).standard_normal((ROWS, COLS)) * 2 + 5
            np.save(os.path.join(d, "x.npy"), x)
            fd = os.open(os.path.join(d, "x.npy"), os.O_RDONLY)
            os.fsync(fd)
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
            os.close(fd)
            os.mkdir(os.path.join(d, "spill"))
            job = {"inputs": {"x": {"source": "npy", "path": "x.npy", "chunks": [1000, 1000]}},
                   "steps": {"y": "(x - mean(x, axis=0)) * 2", "s": "std(x - mean(x, axis=0))"},
                   "outputs": {"y": {"npy": "y.npy", "zarr": "y.zarr", "compressor": "zstd", "level": 1},
                               "s": "print"}}
            with open(os.path.join(d, "job.json"), "w") as f:
                json.dump(job, f)
            env = {k: v for k, v in os.environ.items() if not k.startswith("CASK_")}
            t0 = time.time()
            r = subprocess.run([cask, "run", "--memory-limit", "40MiB", "--spill-dir", "spill", "job.json"], cwd=d,
                               env=env, capture_output=True, text=True, timeout=600,
                               preexec_fn=lambda: open(os.path.join(g, "cgroup.procs"), "w").write(str(os.getpid())))
            wall = time.time() - t0
            kills = oom_kills(g)
            peak = -1
            for name in ("memory.max_usage_in_bytes", "memory.peak"):
                try:
                    peak = int(read(g, name))
                    break
                except OSError:
                    pass
            fails = []
            if r.returncode != 0 or kills:
                fails.append("exit %d, OOM kills %d: %s" % (r.returncode, kills, r.stderr[-500:]))
            else:
                m = x.mean(axis=0)
                want_y = (x - m) * 2
                want_s = float(np.std(x - m))
                got_s = float(r.stdout.split("=", 1)[1])
                if abs(got_s - want_s) > 1e-12 * abs(want_s):
                    fails.append("s = %r, NumPy %r" % (got_s, want_s))
                import zarr
                for name, got in (("y.npy", np.load(os.path.join(d, "y.npy"))),
                                  ("y.zarr", zarr.open(os.path.join(d, "y.zarr"), mode="r")[:])):
                    worst = float(np.abs(got - want_y).max() / np.abs(want_y).max())
                    if worst > 1e-12:
                        fails.append("%s differs from NumPy's by %.2e of the largest value" % (name, worst))
            summary = [l for l in r.stderr.splitlines() if "done in" in l or "dropped" in l or "spilled" in l]
            print("capped: x %.0f MB in a cgroup of %.0f MiB (page cache counted), --memory-limit 40MiB: exit %d "
                  "in %.1f s, cgroup peak %.1f MiB, OOM kills %d" % (x.nbytes / 1e6, CAP / 2 ** 20, r.returncode,
                                                                     wall, peak / 2 ** 20, kills))
            for line in summary:
                print("  " + line)
            for f in fails:
                print("FAIL:", f)
            print("1 passed, 0 failed" if not fails else "0 passed, 1 failed")
            return 1 if fails else 0
    finally:
        remove(g)


if __name__ == "__main__":
    sys.exit(main())
