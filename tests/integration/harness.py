#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Integration test harness for ckpt: checkpoint, kill, restore, compare.

A case gets a Case object (ctx) that owns a private temporary directory
(CKPT_DIR is ctx.img_dir), a 30 s deadline shared by everything the case
waits for, and every process the case starts, so that a failing or
overrunning case never leaves anything running.

Test programs (tests/progs) print "ready", then "tick N" with N going up
by one, check their own state on every tick and print "FAIL ..." when it
breaks; a restored program prints "resumed R" (R = the last tick it had
printed before the checkpoint) on its first tick after a restore.
check_continuation() turns that into a precise check:

  * T0 = the last tick the harness had read before it asked for the
    checkpoint; L = the last tick the original printed before it was
    killed. The image was taken after tick T0 was printed and before
    the kill, so T0 <= R <= L.
  * The restored output holds exactly one "resumed R"; before it at most
    one tick, and only tick R (a write that was in flight at the
    checkpoint is redone); the first tick after it is R + 1; ticks are
    consecutive up to the final one; "done" comes last.
  * Programs that do not print "resumed" (bash) must continue with
    T0 + 1 <= first tick <= L + 1, consecutively.

Command line, one program by hand (start, checkpoint(s), kill, restore, check):
  harness.py [--build DIR] [--start-tick N] [--checkpoints K] [--restore last|first|all|I]
             [--no-resumed] [--keep] PROG [ARGS...]
e.g. harness.py build/tests/progs/prog_threads ticks=60
The whole suite: run.py (see there).
"""
import argparse
import os
import re
import shutil
import signal
import stat
import struct
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
CASE_TIMEOUT = 30.0

HEADER_FMT = '<8sIIIIQQIIQQiI16sQQ'
HEADER_SIZE = struct.calcsize(HEADER_FMT)          # 104: struct ckpt_header
SECTION_FMT = '<IIQQQ'
SECTION_SIZE = struct.calcsize(SECTION_FMT)        # 32: struct ckpt_section
SEC_NAMES = {1: 'proc', 2: 'threads', 3: 'regions', 4: 'runs', 5: 'fds', 6: 'timers',
             7: 'strings', 8: 'plugin', 9: 'pages', 10: 'fddata', 11: 'parent', 12: 'inherit',
             13: 'pagehash'}

EXIT = dict(OK=0, FAIL=1, USAGE=2, NOENT=3, FOREIGN=4, VERSION=5, ARCH=6, TRUNCATED=7,
            CORRUPT=8, INVALID=9, FILES=10, ENV=11, NOPROC=12, PERM=13, CKPT=14, TIMEOUT=15)


class CaseFailure(Exception):
    pass


REGISTRY = []


def case(name, root=True, timeout=CASE_TIMEOUT):
    """Registers a test case fn(ctx). root: it restores (needs CAP_CHECKPOINT_RESTORE)."""
    def deco(fn):
        REGISTRY.append(dict(name=name, fn=fn, root=root, timeout=timeout,
                             doc=(fn.__doc__ or '').strip().split('\n')[0]))
        return fn
    return deco


class CaseSkip(Exception):
    pass


class Build:
    """Paths of the built tools and test programs."""

    def __init__(self, build_dir=None):
        self.dir = os.path.abspath(build_dir or os.environ.get('CKPT_BUILD') or
                                   os.path.join(ROOT, 'build'))
        self.ckpt_run = os.path.join(self.dir, 'tools', 'ckpt-run')
        self.ckpt_ctl = os.path.join(self.dir, 'tools', 'ckpt-ctl')
        self.ckpt_restore = os.path.join(self.dir, 'src', 'restore', 'ckpt-restore')
        self.progs = os.path.join(self.dir, 'tests', 'progs')
        self.imgpatch = os.path.join(self.progs, 'imgpatch')

    def prog(self, name):
        return os.path.join(self.progs, name)

    def missing(self):
        return [p for p in (self.ckpt_run, self.ckpt_ctl, self.ckpt_restore, self.imgpatch)
                if not os.access(p, os.X_OK)]


class Stream:
    """Reads a pipe in a thread; lines are kept and can be waited for."""

    def __init__(self, f, name):
        self.f = f
        self.name = name
        self.lines = []
        self.eof = False
        self.cond = threading.Condition()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        try:
            for raw in iter(self.f.readline, b''):
                with self.cond:
                    self.lines.append(raw.decode('utf-8', 'replace').rstrip('\n'))
                    self.cond.notify_all()
        except (OSError, ValueError):
            pass
        with self.cond:
            self.eof = True
            self.cond.notify_all()

    def snapshot(self):
        with self.cond:
            return list(self.lines)

    def wait(self, pred, timeout, what):
        """Index of the first line satisfying pred; CaseFailure on timeout or EOF."""
        end = time.monotonic() + timeout
        i = 0
        with self.cond:
            while True:
                while i < len(self.lines):
                    if pred(self.lines[i]):
                        return i
                    i += 1
                if self.eof:
                    raise CaseFailure('%s: end of output while waiting for %s' % (self.name, what))
                left = end - time.monotonic()
                if left <= 0:
                    raise CaseFailure('%s: no %s within %.1f s' % (self.name, what, timeout))
                self.cond.wait(min(left, 0.2))

    def wait_eof(self, timeout):
        self.thread.join(timeout)
        return not self.thread.is_alive()


def tick_of(line):
    m = re.match(r'tick (\d+)$', line)
    return int(m.group(1)) if m else None


def ticks_in(lines):
    return [t for t in (tick_of(l) for l in lines) if t is not None]


def last_tick(lines):
    t = ticks_in(lines)
    return t[-1] if t else None


class Proc:
    """A process the case started, with its output streams."""

    def __init__(self, name, argv, popen, kind):
        self.name = name
        self.argv = argv
        self.p = popen
        self.pid = popen.pid
        self.kind = kind            # 'app' (under ckpt-run) or 'restore' (ckpt-restore)
        self.out = Stream(popen.stdout, name + ' stdout')
        self.err = Stream(popen.stderr, name + ' stderr')
        self.app_pid = None         # for 'restore': the restored program's pid

    def poll(self):
        return self.p.poll()

    def wait(self, timeout):
        try:
            rc = self.p.wait(timeout=max(timeout, 0.01))
        except subprocess.TimeoutExpired:
            raise CaseFailure('%s (pid %d) did not exit within %.1f s' % (self.name, self.pid, timeout))
        self.out.wait_eof(2)
        self.err.wait_eof(2)
        return rc

    def write_stdin(self, data):
        if self.p.stdin:
            self.p.stdin.write(data)
            self.p.stdin.flush()

    def lines(self):
        return self.out.snapshot()

    def wait_tick(self, n, timeout):
        self.out.wait(lambda l: (tick_of(l) or -1) >= n, timeout, 'tick >= %d' % n)
        return last_tick(self.out.snapshot())

    def wait_line(self, text, timeout):
        return self.out.wait(lambda l: l == text or l.startswith(text), timeout, repr(text))

    def describe(self, tail=60):
        rc = self.p.poll()
        s = ['--- %s: pid %d, %s, exit status %s' % (self.name, self.pid, ' '.join(self.argv),
                                                    'running' if rc is None else rc)]
        for st in (self.out, self.err):
            lines = st.snapshot()
            s.append('    [%s: %d lines%s]' % (st.name, len(lines),
                                               ', last %d' % tail if len(lines) > tail else ''))
            s.extend('    | ' + l for l in lines[-tail:])
        return '\n'.join(s)


def pstat(pid):
    """dict(state, ppid, pgid, sid, comm) of pid, or None if it does not exist."""
    try:
        with open('/proc/%d/stat' % pid) as f:
            s = f.read()
    except OSError:
        return None
    comm = s[s.index('(') + 1:s.rindex(')')]
    rest = s[s.rindex(')') + 2:].split()
    return dict(state=rest[0], ppid=int(rest[1]), pgid=int(rest[2]), sid=int(rest[3]),
                comm=comm)


def proc_stat(pid):
    """(state, ppid) of pid, or None if it does not exist."""
    st = pstat(pid)
    return (st['state'], st['ppid']) if st else None


def children_of(pid):
    kids = []
    for d in os.listdir('/proc'):
        if d.isdigit():
            st = proc_stat(int(d))
            if st and st[1] == pid:
                kids.append(int(d))
    return kids


def wait_gone(pid, timeout):
    end = time.monotonic() + timeout
    while os.path.exists('/proc/%d' % pid):
        if time.monotonic() > end:
            raise CaseFailure('pid %d still exists after %.1f s' % (pid, timeout))
        time.sleep(0.005)


def read_header(path):
    with open(path, 'rb') as f:
        data = f.read(HEADER_SIZE)
        h = dict(zip(('magic', 'version', 'arch', 'page_size', 'header_size', 'file_size',
                      'sections_off', 'nr_sections', 'flags', 'created_ns', 'pause_ns', 'pid',
                      'seq', 'comm', 'table_hash', 'header_hash'),
                     struct.unpack(HEADER_FMT, data)))
        f.seek(h['sections_off'])
        secs = []
        for i in range(h['nr_sections']):
            t, idx, off, size, hsh = struct.unpack(SECTION_FMT, f.read(SECTION_SIZE))
            secs.append(dict(type=t, name=SEC_NAMES.get(t, '?'), index=idx, offset=off,
                             size=size, hash=hsh))
    h['sections'] = secs
    return h


class Case:
    """Context of one test case: temp dir, deadline, processes, diagnostics."""

    def __init__(self, build, name, timeout=CASE_TIMEOUT, keep=False, verbose=False):
        self.b = build
        self.name = name
        self.deadline = time.monotonic() + timeout
        self.tmp = tempfile.mkdtemp(prefix='ckpt-it-%s-' % re.sub(r'[^\w]', '_', name))
        self.img_dir = os.path.join(self.tmp, 'images')
        os.mkdir(self.img_dir)
        self.procs = []
        self.log = []               # tool runs: (argv, rc, stdout, stderr)
        self.notes = []             # informational lines printed with the result
        self.mounts = []
        self.keep = keep
        self.verbose = verbose

    # --- time ---
    def left(self, cap=None):
        t = self.deadline - time.monotonic()
        if t <= 0:
            raise CaseFailure('case timeout (%.0f s) exceeded' % CASE_TIMEOUT)
        return min(t, cap) if cap else t

    def note(self, msg):
        self.notes.append(msg)

    def fail(self, msg):
        raise CaseFailure(msg)

    def check(self, cond, msg):
        if not cond:
            raise CaseFailure(msg)

    # --- processes ---
    def env(self, ckpt_dir=None, extra=None):
        e = {k: v for k, v in os.environ.items()
             if not k.startswith('CKPT_') and k != 'LD_PRELOAD'}
        e['CKPT_DIR'] = ckpt_dir or self.img_dir
        if extra:
            e.update(extra)
        return e

    def _popen(self, name, argv, kind, env=None, cwd=None, stdin=True, preexec_fn=None):
        p = subprocess.Popen(argv, stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, close_fds=True,
                             env=env, cwd=cwd, preexec_fn=preexec_fn)
        proc = Proc(name, argv, p, kind)
        self.procs.append(proc)
        return proc

    def start(self, argv, name=None, ckpt_dir=None, env=None, cwd=None, wait_ready=True,
              preexec_fn=None):
        """Starts argv under ckpt-run; stdin is a pipe that stays open and empty."""
        full = [self.b.ckpt_run] + list(argv)
        proc = self._popen(name or 'original', full, 'app', env=self.env(ckpt_dir, env), cwd=cwd,
                           preexec_fn=preexec_fn)
        if wait_ready:
            proc.wait_line('ready', self.left(10))
        return proc

    def tool(self, argv, timeout=None, expect=None, input=None):
        """Runs a tool to completion; returns (rc, stdout, stderr)."""
        t = self.left(timeout)
        try:
            r = subprocess.run(argv, stdin=subprocess.DEVNULL if input is None else None,
                               input=input, capture_output=True, close_fds=True, timeout=t)
        except subprocess.TimeoutExpired as e:
            self.log.append((argv, 'timeout', e.stdout or b'', e.stderr or b''))
            raise CaseFailure('%s did not finish within %.1f s' % (' '.join(argv), t))
        out = r.stdout.decode('utf-8', 'replace')
        err = r.stderr.decode('utf-8', 'replace')
        self.log.append((argv, r.returncode, out, err))
        if expect is not None and r.returncode != expect:
            raise CaseFailure('%s: exit status %d, want %d\n  stdout: %s\n  stderr: %s' %
                              (' '.join(argv), r.returncode, expect, out.strip(), err.strip()))
        return r.returncode, out, err

    def checkpoint(self, target, expect=0, timeout=10, img_dir=None):
        """ckpt-ctl checkpoint PID. With expect=0: checks the image and returns its path;
        otherwise returns (rc, stdout, stderr). target: a Proc (whose exit is noticed
        at once: a zombie child of ours would keep ckpt-ctl waiting) or a pid."""
        proc = target if isinstance(target, Proc) else None
        if proc:
            pid = (proc.app_pid or proc.pid) if proc.kind == 'restore' else proc.pid
        else:
            pid = target
        t = self.left(timeout)
        argv = [self.b.ckpt_ctl, 'checkpoint', '--timeout', str(int(max(1, t))), str(pid)]
        ctl = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, close_fds=True)
        end = time.monotonic() + t + 2
        app_exit = None
        while ctl.poll() is None and time.monotonic() < end:
            if proc and app_exit is None and proc.poll() is not None:
                app_exit = proc.poll()
                if app_exit != 0:
                    end = min(end, time.monotonic() + 1)
            time.sleep(0.005)
        if ctl.poll() is None:
            ctl.kill()
        out, err = ctl.communicate()
        out = out.decode('utf-8', 'replace')
        err = err.decode('utf-8', 'replace')
        rc = ctl.returncode
        self.log.append((argv, rc, out, err))
        if app_exit == 0 and rc == 0 and expect in (0, None):
            # it finished normally while the (independent) writer was still at work: the
            # image is complete; a slow machine. The caller finds proc has exited.
            self.note('%s finished while its image was being written' % proc.name)
            app_exit = None
        if app_exit is not None:
            proc.out.wait_eof(2)
            fails = [l for l in proc.out.snapshot() + proc.err.snapshot() if l.startswith('FAIL')]
            self.fail('%s exited (status %s%s) during ckpt-ctl checkpoint (ckpt-ctl: %s)%s' %
                      (proc.name, app_exit,
                       ', 128+%d' % (app_exit - 128) if app_exit > 128 else '', rc,
                       ': ' + fails[0] if fails else ''))
        if expect is None:
            return rc, out, err
        if rc != expect:
            self.fail('%s: exit status %s, want %d\n  stdout: %s\n  stderr: %s' %
                      (' '.join(argv), rc, expect, out.strip(), err.strip()))
        if expect != 0:
            return rc, out, err
        return self.checkpoint_result(out, img_dir, pid)

    def checkpoint_result(self, out, img_dir=None, pid=None):
        """Checks the image whose path ckpt-ctl printed; returns the path."""
        path = out.strip()
        d = img_dir or self.img_dir
        self.check(path and os.path.dirname(path) == d,
                   'ckpt-ctl printed %r, not an image in %s' % (path, d))
        try:
            st = os.stat(path)
        except OSError as e:
            self.fail('image %s: %s' % (path, e))
        self.check(stat.S_ISREG(st.st_mode), 'image %s is not a regular file' % path)
        self.check(stat.S_IMODE(st.st_mode) == 0o600,
                   'image %s has mode %o, want 600' % (path, stat.S_IMODE(st.st_mode)))
        self.check(st.st_uid == os.geteuid(), 'image %s is owned by uid %d' % (path, st.st_uid))
        h = read_header(path)
        self.check(h['magic'] == b'CKPTIMG\0' and h['file_size'] == st.st_size and
                   pid in (None, h['pid']),
                   'image %s: bad header %r' % (path, h))
        tmps = [f for f in os.listdir(d) if f.endswith('.tmp')]
        self.check(not tmps, 'temporary files left in %s: %s' % (d, tmps))
        return path

    def kill(self, proc):
        """SIGKILL the original and reap it (it is our child). Having finished normally
        already (exit 0, "done", on a slow machine) is accepted."""
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
        rc = proc.wait(self.left(10))
        finished = rc == 0 and proc.lines() and proc.lines()[-1] == 'done'
        self.check(rc == -signal.SIGKILL or finished,
                   '%s exited with %s before it was killed' % (proc.name, rc))
        wait_gone(proc.pid, self.left(5))
        return rc

    def checkpoint_and_kill(self, proc, at_tick, ticks_after=1):
        """Once proc printed tick at_tick: checkpoint it (T0 = its last tick then), let it
        print ticks_after more, kill it (a restored one through ckpt-restore). Returns
        (image, T0, L = its last tick)."""
        proc.wait_tick(at_tick, self.left(10))
        t0 = last_tick(proc.lines())
        img = self.checkpoint(proc)
        if ticks_after:
            proc.wait_tick(t0 + ticks_after, self.left(10))
        if proc.kind == 'restore':
            self.kill_restored(proc)
        else:
            self.kill(proc)
        return img, t0, last_tick(proc.lines())

    def restore(self, image, stdin_data=None, args=(), name=None, expect_pid=None):
        """Starts ckpt-restore IMAGE with pipes; stdin gets stdin_data and stays open."""
        argv = [self.b.ckpt_restore] + list(args) + [image]
        proc = self._popen(name or 'restore', argv, 'restore', env=self.env())
        proc.app_pid = expect_pid or read_header(image)['pid']
        if stdin_data:
            proc.write_stdin(stdin_data)
        return proc

    def kill_restored(self, rproc):
        """SIGKILL a restored program (child of ckpt-restore) and wait for ckpt-restore."""
        st = proc_stat(rproc.app_pid)
        self.check(st and st[1] == rproc.pid, 'pid %d is not a child of ckpt-restore %d' %
                   (rproc.app_pid, rproc.pid))
        os.kill(rproc.app_pid, signal.SIGKILL)
        rc = rproc.wait(self.left(10))
        wait_gone(rproc.app_pid, self.left(5))
        return rc

    def mount(self, argv, path):
        """Runs mount ARGV... PATH (root only); unmounted at cleanup. CaseSkip if it fails."""
        os.makedirs(path, exist_ok=True)
        r = subprocess.run(['mount'] + argv + [path], capture_output=True)
        if r.returncode:
            raise CaseSkip('cannot mount %s: %s' % (' '.join(argv), r.stderr.decode().strip()))
        self.mounts.append(path)

    def mount_tmpfs(self, path, size):
        self.mount(['-t', 'tmpfs', '-o', 'size=%s,mode=0700' % size, 'ckpt-it'], path)

    # --- end ---
    def cleanup(self):
        for proc in self.procs:
            if proc.poll() is not None:
                continue
            if proc.kind == 'restore':
                for kid in children_of(proc.pid):
                    try:
                        os.kill(kid, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
            try:
                proc.p.kill()
            except ProcessLookupError:
                pass
            try:
                proc.p.wait(5)
            except subprocess.TimeoutExpired:
                pass
        for proc in self.procs:
            for f in (proc.p.stdin, proc.p.stdout, proc.p.stderr):
                try:
                    if f:
                        f.close()
                except OSError:
                    pass
        for m in reversed(self.mounts):
            subprocess.run(['umount', '-l', m], capture_output=True)
        if not self.keep:
            shutil.rmtree(self.tmp, ignore_errors=True)

    def diagnostics(self):
        s = []
        for argv, rc, out, err in self.log:
            s.append('--- ran: %s -> exit status %s' % (' '.join(argv), rc))
            for l in (out.strip().splitlines() if isinstance(out, str) else [])[-20:]:
                s.append('    | stdout: ' + l)
            for l in (err.strip().splitlines() if isinstance(err, str) else [])[-20:]:
                s.append('    | stderr: ' + l)
        for p in self.procs:
            s.append(p.describe())
        if self.keep:
            s.append('--- files kept in %s' % self.tmp)
        return '\n'.join(s)


# --- output checks -------------------------------------------------------

def check_no_fail(ctx, proc):
    for st in (proc.out, proc.err):
        bad = [l for l in st.snapshot() if l.startswith('FAIL')]
        ctx.check(not bad, '%s printed: %s' % (st.name, bad[0] if bad else ''))


def check_continuation(ctx, rproc, t0, last_orig, final=None, resumed=True, done=True):
    """Checks the restored output against the original's (see the module doc). Returns R."""
    lines = rproc.lines()
    ticks = [(i, tick_of(l)) for i, l in enumerate(lines) if tick_of(l) is not None]
    ctx.check(ticks, '%s printed no tick' % rproc.name)
    r = None
    if resumed:
        res = [(i, int(l.split()[1])) for i, l in enumerate(lines) if re.match(r'resumed \d+$', l)]
        ctx.check(len(res) == 1, '%s: want exactly one "resumed" line, got %d' % (rproc.name, len(res)))
        ri, r = res[0]
        before = [n for i, n in ticks if i < ri]
        after = [n for i, n in ticks if i > ri]
        ctx.check(len(before) <= 1 and all(n == r for n in before),
                  '%s: ticks %s before "resumed %d"' % (rproc.name, before, r))
        ctx.check(after and after[0] == r + 1, '%s: first tick after "resumed %d" is %s, want %d' %
                  (rproc.name, r, after[0] if after else None, r + 1))
        ctx.check(t0 <= r <= last_orig,
                  '%s resumed after tick %d, but the checkpoint was taken after tick %d had been '
                  'printed and before the original stopped at tick %d' % (rproc.name, r, t0, last_orig))
    first = ticks[0][1]
    ctx.check(t0 + 1 <= first <= last_orig + 1 or (resumed and first == r),
              '%s: first tick %d, want one in [%d, %d]' % (rproc.name, first, t0 + 1, last_orig + 1))
    seq = [n for _, n in ticks]
    for a, b in zip(seq, seq[1:]):
        ctx.check(b == a + 1, '%s: tick %d followed by tick %d' % (rproc.name, a, b))
    if final is not None:
        ctx.check(seq[-1] == final, '%s: last tick %d, want %d' % (rproc.name, seq[-1], final))
    if done:
        ctx.check(lines and lines[-1] == 'done', '%s: last line %r, want "done"' %
                  (rproc.name, lines[-1] if lines else None))
    return r


def finish_restored(ctx, rproc, t0, last_orig, final=None, resumed=True, done=True, rc=0,
                    timeout=25):
    """Waits for ckpt-restore, checks exit status, FAIL lines and continuation."""
    got = rproc.wait(ctx.left(timeout))
    check_no_fail(ctx, rproc)
    ctx.check(got == rc, '%s exited with %d, want %d' % (rproc.name, got, rc))
    return check_continuation(ctx, rproc, t0, last_orig, final, resumed, done)


def run_case(ctx, argv, start_tick=5, checkpoints=1, gap=3, restore='last', final=None,
             resumed=True, stdin_data=None, max_image_bytes=None, after_kill=None, name=None,
             env=None):
    """Start argv under ckpt-run, take `checkpoints` checkpoints (the first once tick
    start_tick was printed, then every `gap` ticks), kill the original, restore.

    restore: 'last', 'first', an index, or 'all' (each image in turn). env: more
    environment for the program (CKPT_INCREMENTAL=1...). Returns a dict
    with the images, their T0s, L, and the restored Procs.
    """
    orig = ctx.start(argv, name=name, env=env)
    images = []
    for k in range(checkpoints):
        if k and orig.poll() is not None:
            ctx.fail('%s finished before checkpoint %d could be taken (a very slow machine?)'
                     % (orig.name, k + 1))
        orig.wait_tick(start_tick + k * gap, ctx.left(15))
        t0 = last_tick(orig.lines())
        check_no_fail(ctx, orig)
        img = ctx.checkpoint(orig)
        if max_image_bytes:
            sz = os.path.getsize(img)
            ctx.check(sz <= max_image_bytes, 'image %s is %d bytes, more than %d' %
                      (img, sz, max_image_bytes))
        images.append((img, t0))
    # let the original run on a little: a checkpoint must not harm it
    if orig.poll() is None:
        try:
            orig.wait_tick(last_tick(orig.lines()) + 1, ctx.left(10))
        except CaseFailure:
            # it may just have finished (a slow machine): ctx.kill accepts exit 0 + done
            if not orig.out.eof:
                raise
    ctx.kill(orig)
    check_no_fail(ctx, orig)
    last_orig = last_tick(orig.lines())
    if after_kill:
        after_kill(ctx, images)
    if restore == 'all':
        which = list(range(len(images)))
    elif restore == 'first':
        which = [0]
    elif restore == 'last':
        which = [len(images) - 1]
    else:
        which = [restore]
    restored, rs = [], []
    for k in which:
        img, t0 = images[k]
        rp = ctx.restore(img, stdin_data=stdin_data, name='restore of image %d' % (k + 1))
        r = finish_restored(ctx, rp, t0, last_orig, final=final, resumed=resumed)
        restored.append(rp)
        rs.append(r)
    if resumed and len(rs) > 1:
        ctx.check(rs == sorted(rs), 'images resumed at ticks %s, not in the order taken' % rs)
    return dict(orig=orig, images=images, last_orig=last_orig, restored=restored, resumed=rs)


# --- command line: one case -------------------------------------------------

def main():
    ap = argparse.ArgumentParser(description='checkpoint, kill and restore one program')
    ap.add_argument('--build', help='meson build directory (default: build)')
    ap.add_argument('--start-tick', type=int, default=5)
    ap.add_argument('--checkpoints', type=int, default=1)
    ap.add_argument('--restore', default='last', help="'last', 'first', 'all' or an index")
    ap.add_argument('--no-resumed', action='store_true',
                    help='the program does not print "resumed N"')
    ap.add_argument('--keep', action='store_true', help='keep the temporary directory')
    ap.add_argument('argv', nargs=argparse.REMAINDER)
    a = ap.parse_args()
    if not a.argv:
        ap.error('no program given')
    b = Build(a.build)
    ctx = Case(b, 'cli', keep=a.keep)
    restore = int(a.restore) if a.restore.isdigit() else a.restore
    try:
        res = run_case(ctx, a.argv, start_tick=a.start_tick, checkpoints=a.checkpoints,
                       restore=restore, resumed=not a.no_resumed)
        print('PASS: images %s, original stopped at tick %d, resumed at %s' %
              ([os.path.basename(i) for i, _ in res['images']], res['last_orig'], res['resumed']))
        return 0
    except CaseFailure as e:
        print('FAIL: %s' % e)
        print(ctx.diagnostics())
        return 1
    finally:
        ctx.cleanup()


if __name__ == '__main__':
    sys.exit(main())
