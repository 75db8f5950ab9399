# SPDX-License-Identifier: MIT
"""Real programs nobody here wrote: python3 with threads, bash loops."""
import os
import shutil
import sys

from harness import case, run_case, CaseSkip

PY_WORKERS = r'''
import os, sys, threading, time

ITER = int(sys.argv[1])
NW = 4
counts = [0] * NW
sums = [0] * NW
lock = threading.Lock()


def work(i):
    for k in range(ITER):
        with lock:
            counts[i] += 1
            sums[i] += k
        time.sleep(0.004)


def check(where):
    for i in range(NW):
        c = counts[i]
        if sums[i] != c * (c - 1) // 2:
            print('FAIL worker %d: sum %d after %d increments (%s)' % (i, sums[i], c, where),
                  flush=True)
            sys.exit(1)


threads = [threading.Thread(target=work, args=(i,), name='worker-%d' % i) for i in range(NW)]
print('ready', flush=True)
for t in threads:
    t.start()
ppid = os.getppid()
tick = 0
at_resume = None
while any(t.is_alive() for t in threads):
    if os.getppid() != ppid:
        ppid = os.getppid()
        print('resumed %d' % tick, flush=True)
        with lock:
            at_resume = list(counts)
    with lock:
        check('tick %d' % tick)
    tick += 1
    print('tick %d' % tick, flush=True)
    time.sleep(0.05)
for t in threads:
    t.join()
check('end')
for i in range(NW):
    if counts[i] != ITER:
        print('FAIL worker %d counted %d, want %d' % (i, counts[i], ITER), flush=True)
        sys.exit(1)
    if at_resume is not None and counts[i] <= at_resume[i]:
        print('FAIL worker %d made no progress after the restore' % i, flush=True)
        sys.exit(1)
print('total %d sum %d' % (sum(counts), sum(sums)), flush=True)
print('done', flush=True)
'''

BASH_LOOP = ('echo ready; i=0; while [ $i -lt 60 ]; do echo tick $i; i=$((i+1)); sleep 0.05; '
             'done; echo done')

# As a script file: bash keeps it open on fd 255 (a regular file at an offset).
# It detects the restore by its parent changing, read from /proc/$$/stat without
# forking, and prints "resumed N" like the C test programs.
BASH_SCRIPT = r'''echo ready
read -r _ _ _ ppid0 _ < /proc/$$/stat
i=1
while [ $i -le 60 ]; do
    read -r _ _ _ ppid _ < /proc/$$/stat
    if [ "$ppid" != "$ppid0" ]; then echo "resumed $((i - 1))"; ppid0=$ppid; fi
    echo "tick $i"
    i=$((i + 1))
    sleep 0.05
done
echo done
'''


def python3():
    for p in ('/usr/bin/python3', shutil.which('python3'), sys.executable):
        if p and os.access(p, os.X_OK):
            return os.path.realpath(p)
    raise CaseSkip('no python3')


def bash():
    p = shutil.which('bash')
    if not p:
        raise CaseSkip('no bash')
    return p


@case('python3_threads')
def python3_threads(ctx):
    """python3 with 4 threading.Thread workers: counts and sums continue, exit 0"""
    script = os.path.join(ctx.tmp, 'workers.py')
    with open(script, 'w') as f:
        f.write(PY_WORKERS)
    res = run_case(ctx, [python3(), script, '500'], start_tick=5)
    total = [l for l in res['restored'][0].lines() if l.startswith('total')]
    ctx.check(total == ['total 2000 sum %d' % (4 * 500 * 499 // 2)], 'final sums: %s' % total)
    ctx.note('%s; %s' % (python3(), total[0]))


@case('bash_loop')
def bash_loop(ctx):
    """bash -c 'while ...; do echo tick $i; sleep 0.05; done' (external sleep children)"""
    run_case(ctx, [bash(), '-c', BASH_LOOP], resumed=False, final=59)


@case('bash_script')
def bash_script(ctx):
    """bash running a script file (fd 255 open on it), precise resume check"""
    script = os.path.join(ctx.tmp, 'loop.sh')
    with open(script, 'w') as f:
        f.write(BASH_SCRIPT)
    run_case(ctx, [bash(), script], final=60)


@case('bash_read_timeout')
def bash_read_timeout(ctx):
    """bash loop sleeping with the builtin `read -t 0.05` (pselect, bash's own SIGUSR2 handler)"""
    run_case(ctx, [bash(), '-c', BASH_LOOP.replace('sleep 0.05', 'read -t 0.05 x')],
             resumed=False, final=59)
