#!/usr/bin/env python3
"""ckpt benchmark: pause, image write, image size, restart, incremental.

usage: bench/run.py [--build DIR] [--sizes 64,1024,4096] [--patterns random,zero,half,reserve]
                    [--dir DIR] [--write docs/performance.md]

Every figure is printed next to its reference measured in the same run on
the same machine: the pause next to the raw cost of fork() of the same
process, the write next to dd of the same number of bytes (fsynced, like
the image), the restart next to mmap and cat of the image.
"""
import argparse
import mmap
import os
import shutil
import signal
import statistics
import struct
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class Hog:
    """A memhog process, talked to over pipes."""

    def __init__(self, argv, env=None):
        self.p = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=subprocess.DEVNULL, text=True, bufsize=1,
                                  close_fds=True, env=env)

    def expect(self, prefix, timeout=120):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            line = self.p.stdout.readline()
            if not line:
                raise RuntimeError(f"memhog ended while waiting for {prefix!r}")
            if line.startswith(prefix):
                return line.split()[-1]
        raise RuntimeError(f"timeout waiting for {prefix!r}")

    def ask(self, cmd, reply):
        self.p.stdin.write(cmd + "\n")
        self.p.stdin.flush()
        return self.expect(reply)

    def kill(self):
        if self.p.poll() is None:
            self.p.kill()
        self.p.wait()


def timed(argv):
    t = time.monotonic()
    out = subprocess.run(argv, check=True, capture_output=True, text=True, close_fds=True)
    return time.monotonic() - t, out.stdout.strip()


def dd_seconds(directory, nbytes):
    path = os.path.join(directory, "dd.tmp")
    mib = max(1, nbytes >> 20)
    t, _ = timed(["dd", "if=/dev/zero", f"of={path}", "bs=1M", f"count={mib}", "conv=fsync",
                  "status=none"])
    os.unlink(path)
    return t


def cat_seconds(path):
    t, _ = timed(["sh", "-c", f"cat '{path}' > /dev/null"])
    return t


def mmap_us(path):
    with open(path, "rb") as f:
        t = time.monotonic()
        m = mmap.mmap(f.fileno(), 0, prot=mmap.PROT_READ)
        t = time.monotonic() - t
        m.close()
    return t * 1e6


def header_times(path):
    """created_ns and pause_ns from an image header (include/ckpt/image.h)."""
    with open(path, "rb") as f:
        h = f.read(64)
    return struct.unpack_from("<QQ", h, 48)


def one_case(b, size, pattern, workdir, thp=False, extra_env=None):
    ckdir = tempfile.mkdtemp(dir=workdir)
    env = dict(os.environ, CKPT_DIR=ckdir, **(extra_env or {}))
    argv = [f"{b}/tools/ckpt-run", f"{b}/bench/memhog", str(size), pattern] + (["thp"] if thp else [])
    hog = Hog(argv, env)
    r = {"size": size, "pattern": pattern + ("+thp" if thp else "") +
         ("+" + "+".join(v.split(":")[0] if k == "CKPT_COMPRESS" else "incr"
                         for k, v in (extra_env or {}).items()) if extra_env else "")}
    try:
        hog.expect("ready")
        r["fork_ms"] = statistics.median(int(hog.ask("fork", "fork_us")) for _ in range(3)) / 1000
        hog.ask("gap", "gap_us")
        t, img = timed([f"{b}/tools/ckpt-ctl", "checkpoint", "-q", str(hog.p.pid)])
        created, lib_pause = header_times(img)
        # the largest gap in the program's ticks within the checkpoint's own pause window
        r["pause_ms"] = int(hog.ask(f"around {created} {lib_pause}", "around_us")) / 1000
        r["lib_pause_ms"] = lib_pause / 1e6
        r["max_gap_ms"] = int(hog.ask("gap", "gap_us")) / 1000
        r["write_s"] = t
        r["image_bytes"] = os.path.getsize(img)
        r["dd_s"] = dd_seconds(ckdir, r["image_bytes"])
        r["mmap_us"] = mmap_us(img)
        r["cat_s"] = cat_seconds(img)
        hog.ask("dirty 1", "dirtied")
        t, img2 = timed([f"{b}/tools/ckpt-ctl", "checkpoint", "-q", str(hog.p.pid)])
        r["incr_s"] = t
        r["incr_bytes"] = os.path.getsize(img2)
        hog.kill()
        time.sleep(0.3)  # memhog recognises its restart by a gap of over 200 ms
        for flags, key in ((["--no-verify"], "restart"), ([], "restart_verified")):
            t0 = time.monotonic_ns()  # before the fork: includes starting ckpt-restore
            rst = Hog([f"{b}/src/restore/ckpt-restore"] + flags + [img])
            try:
                resumed = int(rst.expect("resumed_ns", 60))
                touched = int(rst.ask("touch", "touched_ns"))
                r[key + "_ms"] = (resumed - t0) / 1e6
                r[key + "_touch_ms"] = (touched - t0) / 1e6
            finally:
                rst.kill()
    finally:
        hog.kill()
        shutil.rmtree(ckdir, ignore_errors=True)
    return r


def others():
    found = []
    for name, tool in (("DMTCP", "dmtcp_launch"), ("CRIU", "criu")):
        found.append(f"{name}: {'installed at ' + shutil.which(tool) if shutil.which(tool) else 'not installed'}")
    return found


def fmt_bytes(n):
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024


def table(rows):
    head = ("| memory | pattern | pause | fork | pause/fork | largest gap while writing | "
            "image done | dd same bytes | "
            "write vs dd | image size | restart (map, no verify) | + touch all | "
            "restart (verified) | + touch all | mmap image | cat image | 2nd ckpt after 1% dirty |")
    sep = "|" + "---|" * 17
    lines = [head, sep]
    for r in rows:
        lines.append(
            f"| {r['size']} MiB | {r['pattern']} | {r['pause_ms']:.2f} ms | {r['fork_ms']:.2f} ms | "
            f"{r['pause_ms'] / max(r['fork_ms'], 0.001):.2f}x | {r['max_gap_ms']:.1f} ms | "
            f"{r['write_s'] * 1000:.0f} ms | "
            f"{r['dd_s'] * 1000:.0f} ms | {100 * r['dd_s'] / max(r['write_s'], 1e-6):.0f}% | "
            f"{fmt_bytes(r['image_bytes'])} | {r['restart_ms']:.1f} ms | "
            f"{r['restart_touch_ms']:.0f} ms | {r['restart_verified_ms']:.1f} ms | "
            f"{r['restart_verified_touch_ms']:.0f} ms | {r['mmap_us']:.0f} us | "
            f"{r['cat_s'] * 1000:.0f} ms | {fmt_bytes(r['incr_bytes'])} in {r['incr_s'] * 1000:.0f} ms |")
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--sizes", default="64,1024")
    ap.add_argument("--patterns", default="random,zero,half,reserve")
    ap.add_argument("--thp", action="store_true", help="also run random memory with MADV_HUGEPAGE")
    ap.add_argument("--incremental", action="store_true",
                    help="also run half-random memory with CKPT_INCREMENTAL=1")
    ap.add_argument("--compress", action="store_true",
                    help="also run half-random memory with CKPT_COMPRESS=zstd")
    ap.add_argument("--dir", default=None, help="where images go (default: a temp dir in /var/tmp)")
    ap.add_argument("--write", default=None, help="append the table to this markdown file")
    a = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("bench: run as root (ckpt-restore restores the same pid)")
    b = os.path.abspath(a.build)
    work = a.dir or tempfile.mkdtemp(prefix="ckpt-bench.", dir="/var/tmp")
    rows = []
    for size in (int(s) for s in a.sizes.split(",")):
        for pattern in a.patterns.split(","):
            rows.append(one_case(b, size, pattern, work))
            print(f"done {size} MiB {pattern}", file=sys.stderr)
        if a.thp:
            rows.append(one_case(b, size, "random", work, thp=True))
        if a.incremental:
            rows.append(one_case(b, size, "half", work, extra_env={"CKPT_INCREMENTAL": "1"}))
        if a.compress:
            rows.append(one_case(b, size, "half", work, extra_env={"CKPT_COMPRESS": "zstd"}))
    out = table(rows)
    note = "; ".join(others())
    print(out)
    print("\n" + note)
    if a.write:
        with open(a.write, "a") as f:
            f.write(f"\n`{' '.join(sys.argv)}` on {time.strftime('%Y-%m-%d')}, "
                    f"{os.cpu_count()} CPUs; images in {work}\n\n{out}\n\n{note}\n")
    if not a.dir:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
