#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Measures checkpoint and restart of QEMU (the tests' boot sector guest):
python3 bench/qemu.py [--build DIR] [--runs N] [--mem 64,1024] [--accel tcg,kvm]

For each accelerator and guest size, N times: start QEMU under ckpt-run, wait
for the guest to count, then
  pause       the application's pause, from the image header (pause_ns)
  checkpoint  ckpt-ctl checkpoint PID, wall time until the image is complete
              (written, fsync'ed, renamed)
  size        the image file
then kill -9 and ckpt-restore IMAGE with "Ctrl-A c, info status" already
waiting on its standard input:
  monitor     until QEMU's monitor answers (the main loop runs again)
  tick        until the guest prints its next tick (up to one tick period,
              ~110 ms, is the guest's own wait)
Prints one line per configuration: medians (min-max).
"""
import argparse
import os
import statistics
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, 'tests', 'qemu'))
sys.path.insert(0, os.path.join(ROOT, 'tests', 'integration'))
import harness  # noqa: E402
import test_qemu  # noqa: E402


def one(b, accel, mem):
    ctx = harness.Case(b, 'measure-%s-%d' % (accel, mem), timeout=90)
    try:
        orig = test_qemu.start(ctx, accel, mem=mem)
        t = time.monotonic()
        img = ctx.checkpoint(orig, timeout=60)
        ckpt = time.monotonic() - t
        pause = harness.read_header(img)['pause_ns'] / 1e9
        size = os.path.getsize(img)
        ctx.kill(orig)
        t = time.monotonic()
        r = ctx.restore(img, stdin_data=b'\x01cinfo status\n', name='restore')
        r.out.wait(lambda l: 'VM status: running' in l, ctx.left(30), 'monitor answer')
        mon = time.monotonic() - t
        r.out.wait(lambda l: test_qemu.TICK.match(l), ctx.left(30), 'a tick')
        tick = time.monotonic() - t
        ctx.kill_restored(r)
        return dict(pause=pause, ckpt=ckpt, size=size, mon=mon, tick=tick)
    except harness.CaseFailure:
        print(ctx.diagnostics(), file=sys.stderr)
        raise
    finally:
        ctx.cleanup()


def fmt(vals, scale, unit):
    v = [x * scale for x in vals]
    return '%.1f %s (%.1f-%.1f)' % (statistics.median(v), unit, min(v), max(v))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--build')
    ap.add_argument('--runs', type=int, default=3)
    ap.add_argument('--mem', default='64,1024')
    ap.add_argument('--accel', default='tcg,kvm')
    a = ap.parse_args()
    b = harness.Build(a.build)
    print('| accel | guest RAM | pause | checkpoint (image complete) | image size | '
          'restart until monitor answers | until next guest tick |')
    print('|---|---|---|---|---|---|---|')
    for accel in a.accel.split(','):
        for mem in (int(m) for m in a.mem.split(',')):
            res = [one(b, accel, mem) for _ in range(a.runs)]
            print('| %s | %d MiB | %s | %s | %.1f MiB | %s | %s |' % (
                accel, mem, fmt([r['pause'] for r in res], 1e3, 'ms'),
                fmt([r['ckpt'] for r in res], 1e3, 'ms'),
                statistics.median(r['size'] for r in res) / 2**20,
                fmt([r['mon'] for r in res], 1e3, 'ms'),
                fmt([r['tick'] for r in res], 1e3, 'ms')), flush=True)
    return 0


if __name__ == '__main__':
    sys.exit(main())
