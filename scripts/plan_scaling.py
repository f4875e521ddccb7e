#!/usr/bin/python3
"""plan_scaling.py - per-rank planning time of a weakly scaled job, K = 1
to 1024 ranks, with `cask run --plan-ranks K --plan-rank R --plan-json`
(no MPI, one process per plan). docs/distributed.md shows its output.

Usage: plan_scaling.py CASK_BINARY [MAX_K] [REPEATS] [MODE]

MODE is --plan-mode's: auto (default; this job plans in parts: each rank
builds only its part of the graph), whole (every rank builds the whole
graph) or part.

The job: per rank, 16 row blocks of 100 x 100 float64 in each of two
columns of blocks (x, w: 3.2 MB per rank), y = x * w + x written out
(elementwise: moves nothing) and s = sum(y, axis=0): at least one partial
per column from every rank but one must move (the minimum printed); the
array library's fold over the row blocks moves exactly that. For each K it plans ranks 0 and K-1, the best of
REPEATS runs each, and prints a Markdown table: the mode, the tasks of the
graph the rank built (the whole graph, or its part with ghosts), the rank's
tasks, sends, receives, bytes sent and received, the analytical minimum of
bytes moved over all ranks and what all ranks move, the times (graph
build, placement, planning = placement + the rank's lists) and the plan
process's peak RSS (its memory, graph build included)."""
import json
import os
import subprocess
import sys
import tempfile

ROWS_PER_RANK, COLS, CHUNK = 16, 2, 100


def job(k):
    shape = [k * ROWS_PER_RANK * CHUNK, COLS * CHUNK]
    src = lambda name, seed: {"source": name, "seed": seed, "shape": shape, "chunks": [CHUNK, CHUNK]}
    return {"inputs": {"x": src("uniform", 1), "w": src("normal", 2)},
            "steps": {"y": "x * w + x", "s": "sum(y, axis=0)"},
            "outputs": {"y": {"npy": "y.npy"}, "s": "print"}}


def plan(cask, path, k, r, repeats, mode):
    """The rank's plan of the run with the least planning time, with the
    largest peak RSS of the runs (KiB: the process's whole memory, graph
    build included; wait4's rusage of that one process)."""
    best, rss = None, 0
    for _ in range(repeats):
        proc = subprocess.Popen([cask, "run", "--plan-ranks", str(k), "--plan-rank", str(r), "--plan-json",
                                 "--plan-mode", mode, path],
                                stdout=subprocess.PIPE, text=True)
        out = proc.stdout.read()
        proc.stdout.close()
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.returncode:
            sys.exit("plan K=%d R=%d failed (exit %d)" % (k, r, proc.returncode))
        p = json.loads(out)
        rss = max(rss, usage.ru_maxrss)
        if best is None or p["plan_seconds"] < best["plan_seconds"]:
            best = p
    best["peak_rss_kib"] = rss
    return best


def main():
    cask = os.path.abspath(sys.argv[1])
    max_k = int(sys.argv[2]) if len(sys.argv) > 2 else 1024
    repeats = int(sys.argv[3]) if len(sys.argv) > 3 else 3
    mode = sys.argv[4] if len(sys.argv) > 4 else "auto"
    print("| K | mode | graph tasks | rank | tasks | sends | receives | bytes sent | bytes received | "
          "all ranks move (bytes) | minimum (bytes) | build ms | placement ms | planning ms | planning ns/task | "
          "peak RSS MiB |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as d:
        k = 1
        while k <= max_k:
            path = os.path.join(d, "job%d.json" % k)
            with open(path, "w") as f:
                json.dump(job(k), f)
            # every rank's bytes (one fast pass) for the total, then timings
            total = sum(plan(cask, path, k, r, 1, mode)["bytes_sent"] for r in range(k)) if k <= 64 else None
            # each rank holds partials of every column: all ranks but the
            # one finishing a column send at least one partial (100 float64) of it
            minimum = COLS * (k - 1) * CHUNK * 8
            for r in sorted({0, k - 1}):
                p = plan(cask, path, k, r, repeats, mode)
                print("| %d | %s | %d | %d | %d | %d | %d | %d | %d | %s | %d | %.2f | %.2f | %.2f | %.1f | %.1f |" % (
                    k, p["mode"], p["graph_tasks"], r, p["tasks"], p["sends"], p["receives"], p["bytes_sent"],
                    p["bytes_received"], "-" if total is None else str(total), minimum, p["build_seconds"] * 1e3,
                    p["place_seconds"] * 1e3, p["plan_seconds"] * 1e3, p["plan_seconds"] * 1e9 / p["graph_tasks"],
                    p["peak_rss_kib"] / 1024))
                sys.stdout.flush()
            k *= 2


if __name__ == "__main__":
    main()
