#!/usr/bin/env python3
"""ckpt benchmark for process trees: checkpoint and restart of a parent with N children.

usage: bench/tree.py [--build DIR] [--procs 1,4,16] [--size MIB] [--dir DIR]

The tree is a memhog (the root, which gets the commands) and N more memhogs it started, each
holding SIZE MiB of random data. Every figure is printed next to its reference from the same
run: the root's pause (measured by its own ticker thread) and the longest pause of any process
(from the images) next to the raw cost of fork() in the root; the time until every image is
complete next to dd writing the same number of bytes; the restart of the whole tree (until
every process has run again).
"""
import argparse
import glob
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from run import Hog, dd_seconds, header_times, timed  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def children(pid):
    out = []
    for task in glob.glob(f"/proc/{pid}/task/*/children"):
        try:
            with open(task) as f:
                out += [int(x) for x in f.read().split()]
        except OSError:
            pass
    return out


def kill_tree(pid):
    for c in children(pid):
        kill_tree(c)
    try:
        os.kill(pid, 9)
    except OSError:
        pass


def start_tree(b, n, size, env):
    hog = f"{b}/bench/memhog"
    script = (f'i=0; while [ $i -lt {n} ]; do {hog} {size} random stay </dev/null & '
              f'i=$((i+1)); done; exec {hog} {size} random')
    h = Hog([f"{b}/tools/ckpt-run", "sh", "-c", script], env)
    h.expect("ready")
    deadline = time.monotonic() + 120
    while len(children(h.p.pid)) < n and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.2 + size / 1024)     # the children fill their memory
    return h


def wait_resumed(p, want, timeout=120):
    """CLOCK_MONOTONIC ns of the last of `want` resumed_ns lines on p's stdout."""
    last, got, deadline = 0, 0, time.monotonic() + timeout
    while got < want and time.monotonic() < deadline:
        line = p.stdout.readline()
        if not line:
            raise RuntimeError(f"restore ended after {got} of {want} processes resumed")
        if line.startswith("resumed_ns"):
            last = max(last, int(line.split()[1]))
            got += 1
    if got < want:
        raise RuntimeError(f"only {got} of {want} processes resumed")
    return last


def restart_ms(b, img, want):
    t0 = time.monotonic_ns()
    p = subprocess.Popen([f"{b}/src/restore/ckpt-restore", "--no-verify", img],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.DEVNULL, text=True, bufsize=1)
    try:
        return (wait_resumed(p, want) - t0) / 1e6
    finally:
        kill_tree(p.pid)
        p.wait()


def one(b, n, size, workdir):
    ckdir = tempfile.mkdtemp(dir=workdir)
    env = dict(os.environ, CKPT_DIR=ckdir)
    r = {"procs": n + 1, "size": size}
    h = start_tree(b, n, size, env)
    try:
        r["fork_ms"] = statistics.median(int(h.ask("fork", "fork_us")) for _ in range(3)) / 1000
        h.ask("gap", "gap_us")
        t, img = timed([f"{b}/tools/ckpt-ctl", "checkpoint", "-q", str(h.p.pid)])
        created, lib_pause = header_times(img)
        r["pause_ms"] = int(h.ask(f"around {created} {lib_pause}", "around_us")) / 1000
        r["member_pause_ms"] = max([header_times(m)[1] for m in glob.glob(f"{ckdir}/*.img")]) / 1e6
        r["tree_s"] = t
        r["bytes"] = sum(os.path.getsize(m) for m in glob.glob(f"{ckdir}/*.img"))
        r["dd_s"] = dd_seconds(ckdir, r["bytes"])
        kill_tree(h.p.pid)
        h.p.wait()
        time.sleep(0.5)
        r["restart_ms"] = restart_ms(b, img, n + 1)
    finally:
        kill_tree(h.p.pid)
        h.p.wait()
        shutil.rmtree(ckdir, ignore_errors=True)
    return r


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--procs", default="1,4,16", help="children of the root")
    ap.add_argument("--size", type=int, default=256, help="MiB per process")
    ap.add_argument("--dir", default=None, help="where images go (default: a temporary dir)")
    a = ap.parse_args()
    b = os.path.abspath(a.build)
    workdir = a.dir or tempfile.mkdtemp(prefix="ckpt-bench-tree-")
    rows = [one(b, int(n), a.size, workdir) for n in a.procs.split(",")]
    print(f"| processes | MiB each | fork ms | root pause ms | max member pause ms | "
          f"all images s | dd s | image MiB | restart all ms |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['procs']} | {r['size']} | {r['fork_ms']:.2f} | {r['pause_ms']:.2f} | "
              f"{r['member_pause_ms']:.2f} | {r['tree_s']:.2f} | {r['dd_s']:.2f} | "
              f"{r['bytes'] / 2**20:.0f} | {r['restart_ms']:.1f} |")
    if not a.dir:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
