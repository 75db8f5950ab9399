# SPDX-License-Identifier: MIT
"""sqlite3 with a transaction open across the checkpoint.

  sqlite_prog.py DB TICKS [TICK_MS]

Opens DB, creates table t, BEGINs a transaction and inserts one row per tick without
committing, checking inside the transaction that the table holds exactly one row per tick
so far. Output follows tests/progs/common.h: ready, tick N, "resumed N" on the first tick
after a restore (getppid() changed), FAIL ..., done. At the end it COMMITs and checks from a
second connection that the database holds exactly TICKS rows, numbered 1..TICKS.
"""
import os
import sqlite3
import sys
import time

DB = sys.argv[1]
TICKS = int(sys.argv[2])
TICK_S = (int(sys.argv[3]) if len(sys.argv) > 3 else 50) / 1000.0


def fail(msg):
    print('FAIL ' + msg, flush=True)
    sys.exit(1)


con = sqlite3.connect(DB, isolation_level=None)
con.execute('CREATE TABLE IF NOT EXISTS t (n INTEGER PRIMARY KEY, pid INTEGER, at REAL)')
if con.execute('SELECT count(*) FROM t').fetchone()[0]:
    fail('the table is not empty at the start')
con.execute('BEGIN')
print('ready', flush=True)
ppid = os.getppid()
tick = 0
while tick < TICKS:
    if os.getppid() != ppid:
        ppid = os.getppid()
        print('resumed %d' % tick, flush=True)
    if not con.in_transaction:
        fail('tick %d: no transaction open' % tick)
    n, top = con.execute('SELECT count(*), coalesce(max(n), 0) FROM t').fetchone()
    if n != tick or top != tick:
        fail('tick %d: the transaction holds %d rows, last %d' % (tick, n, top))
    tick += 1
    con.execute('INSERT INTO t VALUES (?, ?, ?)', (tick, os.getpid(), time.time()))
    print('tick %d' % tick, flush=True)
    time.sleep(TICK_S)
con.execute('COMMIT')
con.close()
other = sqlite3.connect(DB)
n, lo, hi = other.execute('SELECT count(*), min(n), max(n) FROM t').fetchone()
other.close()
if (n, lo, hi) != (TICKS, 1, TICKS):
    fail('after COMMIT: %d rows, n from %s to %s; want %d rows 1..%d' % (n, lo, hi, TICKS, TICKS))
print('committed %d' % n, flush=True)
print('done', flush=True)
