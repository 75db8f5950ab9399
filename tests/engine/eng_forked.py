#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""A program that fork()s without exec: the child (which prints the ticks, and
whose pid it prints first) is checkpointed and restored on its own."""
import os
import sys
import time

ticks = int(dict(a.split('=') for a in sys.argv[1:]).get('ticks', 40))
pid = os.fork()
if pid:
    os.waitpid(pid, 0)
    sys.exit(0)
ppid = os.getppid()
print('child %d' % os.getpid(), flush=True)
print('ready', flush=True)
total = 0
for t in range(1, ticks + 1):
    if os.getppid() != ppid:
        ppid = os.getppid()
        print('resumed %d' % (t - 1), flush=True)
    total += t
    if total != t * (t + 1) // 2:
        print('FAIL sum %d at tick %d' % (total, t), flush=True)
        sys.exit(1)
    print('tick %d' % t, flush=True)
    time.sleep(0.05)
print('done', flush=True)
