# SPDX-License-Identifier: MIT
"""What the server tests' programs share (the protocol of tests/progs/common.h).

run(ticks, check_static, check_after_restore, each_tick): prints ready, then "tick N" every
50 ms; a changed getppid() means a restore: "resumed N", check_static('after restore') and
check_after_restore(first restore?); every tick check_static('tick N') then each_tick();
"done" at the end. fail(msg): "FAIL msg" and exit 1. at(sock, fd): sock moved to fd.
"""
import os
import socket
import sys
import time


def fail(msg):
    print('FAIL ' + msg, flush=True)
    sys.exit(1)


def at(sock, fd):
    """Moves sock to fd number fd (a dup), returns a socket object on fd."""
    os.dup2(sock.fileno(), fd, inheritable=False)
    s = socket.socket(fileno=fd)
    sock.close()
    return s


def run(ticks, check_static, check_after_restore, each_tick=None):
    print('ready', flush=True)
    ppid = os.getppid()
    tick = 0
    restores = 0
    while tick < ticks:
        if os.getppid() != ppid:
            ppid = os.getppid()
            print('resumed %d' % tick, flush=True)
            check_static('after restore')
            restores += 1
            check_after_restore(restores == 1)
        check_static('tick %d' % tick)
        if each_tick:
            each_tick()
        tick += 1
        print('tick %d' % tick, flush=True)
        time.sleep(0.05)
    print('done', flush=True)
