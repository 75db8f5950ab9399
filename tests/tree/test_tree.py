# SPDX-License-Identifier: MIT
"""Process trees: a checkpoint of a process covers its libckpt descendants, and
ckpt-restore of the root image recreates the whole tree (pids, parents, groups and
sessions, zombies, pipes and socket pairs with their queued data, shared memory).

The program is tests/tree/tree_prog MODE (see there): the root prints "root PID" and
"member NAME PID PPID KIND" for every other process, then the tick protocol; it
checks the scenario's state on every tick and prints FAIL when it breaks.

Every case kills whole trees (the harness knows only the processes it started):
this process is made a child subreaper so that orphans come back to it and are reaped,
and no pid of a killed tree is left taken when it is restored.

By hand: python3 tests/integration/run.py --cases tests/tree/test_tree.py [-k NAME]
"""
import ctypes
import functools
import glob
import json
import os
import re
import shutil
import signal
import struct
import subprocess
import tempfile
import time

from harness import (EXIT, CaseFailure, case, check_no_fail, finish_restored, last_tick,
                     pstat, read_header)

SEC_TREE = 14                       # CKPT_SEC_TREE
TREE_FMT = '<iiiiIiQ256s'           # struct ckpt_tree_proc
TREE_SIZE = struct.calcsize(TREE_FMT)
TREE_LIVE, TREE_ZOMBIE = 1, 2
HDR_TREE_MEMBER = 0x1
PR_SET_CHILD_SUBREAPER = 36


def _become_subreaper():
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)


_become_subreaper()


# --- processes -------------------------------------------------------------

def prog(ctx):
    return os.path.join(ctx.b.dir, 'tests', 'tree', 'tree_prog')


def descendants(pid):
    kids = {}
    for d in os.listdir('/proc'):
        if d.isdigit():
            st = pstat(int(d))
            if st:
                kids.setdefault(st['ppid'], []).append(int(d))
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        for k in kids.get(p, []):
            if k not in out:
                out.append(k)
                todo.append(k)
    return out


def stop_and_kill_below(pid):
    """SIGSTOPs pid and all its descendants (so that none reacts to the others' end),
    then SIGKILLs the descendants. Returns them."""
    try:
        os.kill(pid, signal.SIGSTOP)
    except ProcessLookupError:
        return []
    seen = []
    for _ in range(10):
        new = [d for d in descendants(pid) if d not in seen]
        if not new:
            break
        for d in new:
            try:
                os.kill(d, signal.SIGSTOP)
            except ProcessLookupError:
                pass
            seen.append(d)
    for d in seen:
        try:
            os.kill(d, signal.SIGKILL)
        except ProcessLookupError:
            pass
    return seen


def reap(ctx, pids, timeout=5):
    """Waits until every pid is gone, reaping those that came to us."""
    end = time.monotonic() + timeout
    left = set(pids)
    while left:
        for p in list(left):
            try:
                os.waitpid(p, os.WNOHANG)
            except ChildProcessError:
                pass
            if not os.path.exists('/proc/%d' % p):
                left.discard(p)
        if not left:
            return
        if time.monotonic() > end:
            ctx.fail('processes of a killed tree still exist: %s' %
                     ', '.join('%d (%s)' % (p, (pstat(p) or {}).get('state')) for p in sorted(left)))
        time.sleep(0.005)


def kill_original_tree(ctx, orig):
    """Lets the original run one more tick, then kills the whole tree; returns L."""
    if orig.poll() is None:
        orig.wait_tick(last_tick(orig.lines()) + 1, ctx.left(10))
    below = stop_and_kill_below(orig.pid)
    ctx.kill(orig)
    reap(ctx, below)
    check_no_fail(ctx, orig)
    return last_tick(orig.lines())


def kill_restored_tree(ctx, rp):
    """Kills a restored tree (the root with SIGKILL last); ckpt-restore exits 137."""
    below = stop_and_kill_below(rp.app_pid)
    os.kill(rp.app_pid, signal.SIGKILL)
    rc = rp.wait(ctx.left(10))
    reap(ctx, below + [rp.app_pid])
    check_no_fail(ctx, rp)
    ctx.check(rc == 128 + signal.SIGKILL, '%s exited with %d when its tree was killed, want %d' %
              (rp.name, rc, 128 + signal.SIGKILL))
    return last_tick(rp.lines())


def cleanup_everything(ctx):
    """Kills whatever this case left below us, reaping what is not the harness's."""
    mine = set(p.pid for p in ctx.procs)
    below = []
    for p in descendants(os.getpid()):
        try:
            os.kill(p, signal.SIGSTOP)
            below.append(p)
        except ProcessLookupError:
            pass
    for p in below:
        try:
            os.kill(p, signal.SIGKILL)
        except ProcessLookupError:
            pass
    try:
        reap(ctx, [p for p in below if p not in mine], 5)
    except CaseFailure as e:
        ctx.note('cleanup: %s' % e)


def tree_case(name, timeout=30.0):
    """@case that kills every tree it made at the end, passed or not."""
    def deco(fn):
        @functools.wraps(fn)
        def wrapped(ctx):
            try:
                fn(ctx)
            finally:
                cleanup_everything(ctx)
        return case(name, timeout=timeout)(wrapped)
    return deco


# --- the program's tree ------------------------------------------------------

class Tree:
    """What the root printed before "ready": its pid and its members."""

    def __init__(self, ctx, proc):
        self.root = None
        self.members = {}           # name -> dict(pid, ppid, kind)
        for l in proc.lines():
            if l == 'ready':
                break
            w = l.split()
            if w[0] == 'root':
                self.root = int(w[1])
            elif w[0] == 'member':
                self.members[w[1]] = dict(pid=int(w[2]), ppid=int(w[3]), kind=w[4])
        if self.root is None:
            self.root = proc.pid
        ctx.check(self.root == proc.pid, 'the program says its pid is %d, not %d' %
                  (self.root, proc.pid))
        # groups and sessions now, for the image and the restored tree
        self.ids = {}
        for pid in self.pids():
            st = pstat(pid)
            ctx.check(st, 'member %s (pid %d) does not exist' % (self.name(pid), pid))
            self.ids[pid] = (st['pgid'], st['sid'])

    def pid(self, name):
        return self.members[name]['pid']

    def pids(self):
        return [self.root] + [m['pid'] for m in self.members.values()]

    def name(self, pid):
        if pid == self.root:
            return 'root'
        for n, m in self.members.items():
            if m['pid'] == pid:
                return n
        return str(pid)


def start(ctx, mode, *args, ticks=40, preexec_fn=None):
    orig = ctx.start([prog(ctx), mode, 'ticks=%d' % ticks] + list(args),
                     name='original %s tree' % mode, preexec_fn=preexec_fn)
    return orig, Tree(ctx, orig)


def take(ctx, proc, tick):
    """Checkpoint once tick `tick` is out; returns (image, T0)."""
    proc.wait_tick(tick, ctx.left(15))
    t0 = last_tick(proc.lines())
    check_no_fail(ctx, proc)
    return ctx.checkpoint(proc), t0


def read_tree(path):
    """The entries of the TREE section, or None without one."""
    h = read_header(path)
    secs = [s for s in h['sections'] if s['type'] == SEC_TREE]
    if not secs:
        return None
    with open(path, 'rb') as f:
        f.seek(secs[0]['offset'])
        data = f.read(secs[0]['size'])
    out = []
    for i in range(len(data) // TREE_SIZE):
        pid, ppid, pgid, sid, state, ws, hh, img = struct.unpack_from(TREE_FMT, data,
                                                                      i * TREE_SIZE)
        out.append(dict(pid=pid, ppid=ppid, pgid=pgid, sid=sid, state=state, wait_status=ws,
                        header_hash=hh, image=img.split(b'\0')[0].decode('utf-8', 'replace')))
    return out


def check_image(ctx, img, tree, zombies=None, skip=()):
    """The root image lists every member (but `skip`) with its parent, group, session and
    state; live ones have an image of their own in the same directory, which is that very
    file. zombies: name -> wait status. Returns name -> member image path."""
    zombies = zombies or {}
    h = read_header(img)
    ctx.check(h['pid'] == tree.root, 'image %s is of pid %d, want %d' % (img, h['pid'], tree.root))
    entries = read_tree(img)
    ctx.check(entries is not None, 'image %s has no tree section' % img)
    want = {m['pid']: n for n, m in tree.members.items() if n not in skip}
    got = [e['pid'] for e in entries]
    ctx.check(sorted(got) == sorted(want),
              'image %s lists pids %s, want %s (%s)' % (
                  img, sorted(got), sorted(want),
                  ', '.join('%s=%d' % (n, p) for p, n in sorted(want.items()))))
    paths = {}
    seen = {tree.root}
    for e in entries:
        n = want[e['pid']]
        m = tree.members[n]
        what = 'image %s: tree entry of %s (pid %d)' % (os.path.basename(img), n, e['pid'])
        ctx.check(e['ppid'] == m['ppid'], '%s: parent %d, want %d' % (what, e['ppid'], m['ppid']))
        ctx.check(e['ppid'] in seen, '%s comes before its parent %d' % (what, e['ppid']))
        seen.add(e['pid'])
        ctx.check((e['pgid'], e['sid']) == tree.ids[e['pid']],
                  '%s: pgid %d sid %d, /proc said %s' % (what, e['pgid'], e['sid'],
                                                         tree.ids[e['pid']]))
        if n in zombies:
            ctx.check(e['state'] == TREE_ZOMBIE and e['wait_status'] == zombies[n],
                      '%s: state %d wait status %#x, want a zombie (%d) with %#x' %
                      (what, e['state'], e['wait_status'], TREE_ZOMBIE, zombies[n]))
            ctx.check(not e['image'], '%s: a zombie with an image %r' % (what, e['image']))
            continue
        ctx.check(e['state'] == TREE_LIVE, '%s: state %d, want live (%d)' %
                  (what, e['state'], TREE_LIVE))
        ctx.check(e['image'] and '/' not in e['image'], '%s: image name %r' % (what, e['image']))
        path = os.path.join(os.path.dirname(img), e['image'])
        ctx.check(os.path.isfile(path), '%s: its image %s does not exist' % (what, path))
        mh = read_header(path)
        ctx.check(mh['pid'] == e['pid'] and mh['flags'] & HDR_TREE_MEMBER and
                  mh['header_hash'] == e['header_hash'],
                  '%s: image %s has pid %d, flags %#x, header hash %#x (listed: %#x)' %
                  (what, e['image'], mh['pid'], mh['flags'], mh['header_hash'],
                   e['header_hash']))
        paths[n] = path
    return paths


def check_restored(ctx, rp, tree, zombies=(), skip=(), timeout=3):
    """Every process of the tree is back with its pid and parent (the root: ckpt-restore's
    child), zombies as zombies, groups and sessions as before (one that named a process
    outside the tree is ckpt-restore's)."""
    end = time.monotonic() + min(timeout, ctx.left())
    while True:
        bad = restored_mismatch(rp, tree, zombies, skip)
        if not bad:
            return
        if time.monotonic() > end or rp.poll() is not None:
            ctx.fail('restored tree: %s' % bad)
        time.sleep(0.02)


def restored_mismatch(rp, tree, zombies, skip):
    top = pstat(rp.pid)
    if not top:
        return 'ckpt-restore (pid %d) has exited' % rp.pid
    pids = set(tree.pids())
    for pid in tree.pids():
        n = tree.name(pid)
        if n in skip:
            continue
        st = pstat(pid)
        if not st:
            return '%s (pid %d) does not exist' % (n, pid)
        want_ppid = rp.pid if pid == tree.root else tree.members[n]['ppid']
        if st['ppid'] != want_ppid:
            return '%s (pid %d): parent %d, want %d' % (n, pid, st['ppid'], want_ppid)
        if (st['state'] == 'Z') != (n in zombies):
            return '%s (pid %d) is in state %s, want %s' % (
                n, pid, st['state'], 'a zombie (Z)' if n in zombies else 'alive')
        pg0, sid0 = tree.ids[pid]
        want_pg = pg0 if pg0 in pids else top['pgid']
        want_sid = sid0 if sid0 in pids else top['sid']
        if (st['pgid'], st['sid']) != (want_pg, want_sid):
            return ('%s (pid %d): pgid %d sid %d, want %d %d (before: %d %d; ckpt-restore\'s: '
                    '%d %d)' % (n, pid, st['pgid'], st['sid'], want_pg, want_sid, pg0, sid0,
                                top['pgid'], top['sid']))
    return None


def lines_like(proc, prefix):
    return [l for l in proc.lines() if l.startswith(prefix)]


def restore_tree(ctx, img, tree, zombies=(), name='restore'):
    rp = ctx.restore(img, name=name)
    try:
        rp.wait_line('resumed', ctx.left(10))
    except CaseFailure as e:
        check_no_fail(ctx, rp)
        raise e
    check_restored(ctx, rp, tree, zombies)
    return rp


def tree_flow(ctx, mode, *args, zombies=None, tick=5, preexec_fn=None):
    """Start, checkpoint the tree at `tick`, check the image, kill the tree, restore it,
    check the processes and let it finish."""
    orig, tree = start(ctx, mode, *args, preexec_fn=preexec_fn)
    img, t0 = take(ctx, orig, tick)
    check_image(ctx, img, tree, zombies)
    last = kill_original_tree(ctx, orig)
    rp = restore_tree(ctx, img, tree, zombies or ())
    finish_restored(ctx, rp, t0, last)
    return rp, tree, img


# --- cases -------------------------------------------------------------------

@tree_case('tree-basic')
def basic(ctx):
    """root, two children, a grandchild: one image each, all back with pids and parents;
    ckpt-info --json lists the same tree as the image"""
    rp, tree, img = tree_flow(ctx, 'basic')
    ctx.check(len(set(os.listdir(ctx.img_dir))) == 4,
              'images: %s, want the root\'s and 3 members\'' % sorted(os.listdir(ctx.img_dir)))
    info = os.path.join(ctx.b.dir, 'tools', 'ckpt-info')
    rc, out, err = ctx.tool([info, '--json', '--no-backtrace', img])
    ctx.check(rc == 0, 'ckpt-info: exit %d (%s)' % (rc, err.strip()))
    shown = [(m['pid'], m['ppid'], m['state'], m.get('image'))
             for m in json.loads(out)['image']['tree']]
    want = [(m['pid'], m['ppid'], 'live' if m['state'] == 1 else 'zombie', m['image'])
            for m in read_tree(img)]
    ctx.check(shown == want, 'ckpt-info shows the tree %s, the image holds %s' % (shown, want))


@tree_case('tree-off')
def tree_off(ctx):
    """CKPT_TREE=0: the root is checkpointed alone, its children run on untouched"""
    orig = ctx.start([prog(ctx), 'basic', 'ticks=40'], name='original basic tree',
                     env={'CKPT_TREE': '0'})
    tree = Tree(ctx, orig)
    img, t0 = take(ctx, orig, 5)
    ctx.check(read_tree(img) is None, '%s has a tree section' % img)
    ctx.check(os.listdir(ctx.img_dir) == [os.path.basename(img)],
              'images: %s, want the root\'s alone' % os.listdir(ctx.img_dir))
    for name in tree.members:
        ctx.check(pstat(tree.pid(name))['state'] not in 'TZX', '%s is not running' % name)


@tree_case('tree-periodic')
def periodic(ctx):
    """CKPT_INTERVAL=1 in a tree: only the root takes periodic checkpoints, each covering
    the whole tree (every other image is a member image its root listed)"""
    orig = ctx.start([prog(ctx), 'basic', 'ticks=400', 'tick_ms=10'], name='periodic tree',
                     env={'CKPT_INTERVAL': '1'})
    tree = Tree(ctx, orig)
    end = time.monotonic() + min(8, ctx.left())
    roots = []
    while time.monotonic() < end and len(roots) < 3:
        time.sleep(0.2)
        roots = [p for p in glob.glob(os.path.join(ctx.img_dir, 'ckpt_*_%d_*.img' % tree.root))]
    ctx.check(len(roots) >= 3, 'only %d periodic root images in 8 s' % len(roots))
    listed = set()
    for r in roots:
        listed |= set(m['image'] for m in read_tree(r) or [])
    time.sleep(0.3)     # the images of a checkpoint being written now
    for img in glob.glob(os.path.join(ctx.img_dir, 'ckpt_*.img')):
        h = read_header(img)
        if h['pid'] == tree.root:
            continue
        ctx.check(h['flags'] & 1 or os.path.basename(img) in listed,
                  '%s (pid %d) is not a member image of a root checkpoint: a member took '
                  'periodic checkpoints of its own' % (img, h['pid']))
    for name in tree.members:
        ctx.check(len(glob.glob(os.path.join(ctx.img_dir, 'ckpt_*_%d_*.img' % tree.pid(name))))
                  <= len(roots) + 1, '%s has more images than the root' % name)


@tree_case('tree-refuse-stopped')
def refuse_stopped(ctx):
    """a stopped child: ckpt-ctl exits 14 naming it; once continued, the checkpoint works"""
    orig, tree = start(ctx, 'basic', ticks=60)
    a = tree.pid('A')
    orig.wait_tick(3, ctx.left(10))
    os.kill(a, signal.SIGSTOP)
    rc, out, err = ctx.checkpoint(orig, expect=None)
    os.kill(a, signal.SIGCONT)
    ctx.check(rc == EXIT['CKPT'] and re.search(r'process %d .*stopped' % a, out + err),
              'checkpoint with A (pid %d) stopped: exit %d (%s)' % (a, rc, (out + err).strip()))
    img, t0 = take(ctx, orig, last_tick(orig.lines()) + 1)
    check_image(ctx, img, tree)


def check_streams(ctx, rp, names, dgram=()):
    """Records were queued both ways at the checkpoint (see tree_prog.c, pipes); every
    one arrived exactly once (the root checks it) and the root saw them all."""
    for n in names:
        inf = [l for l in rp.lines() if l.startswith('inflight %s ' % n)]
        ctx.check(len(inf) == 1, '%s: %d "inflight %s" lines, want 1' % (rp.name, len(inf), n))
        ctx.note('%s: %s' % (rp.name, inf[0]))
        m = re.match(r'inflight \S+ unanswered=(\d+) down=(-?\d+) up=(-?\d+)$', inf[0])
        ctx.check(m, '%s: %r' % (rp.name, inf[0]))
        # at least one record was queued for the child at the checkpoint (at most one
        # other was in its hands)
        ctx.check(int(m.group(1)) >= 2, '%s: no record was queued for the child on %s at the '
                  'checkpoint (%s)' % (rp.name, n, inf[0]))
        # the root always leaves the last 4 answers of a stream queued
        ctx.check(n in dgram or int(m.group(3)) >= 4 * 32,
                  '%s: fewer than 4 answers queued for the root on %s at the restore (%s)' %
                  (rp.name, n, inf[0]))
        st = [l for l in rp.lines() if l.startswith('stream %s ' % n)]
        ctx.check(st, '%s: no "stream %s" summary' % (rp.name, n))
        m = re.match(r'stream \S+ sent=(\d+) answered=(\d+)$', st[0])
        ctx.check(m and m.group(1) == m.group(2) and int(m.group(1)) > 100,
                  '%s: %s' % (rp.name, st[0]))


@tree_case('tree-pipes')
def pipes(ctx):
    """pipes both ways between the root and two children, records in flight: each arrives once, in order"""
    rp, tree, img = tree_flow(ctx, 'pipes')
    check_streams(ctx, rp, ['A', 'B'])


@tree_case('tree-zombies')
def zombies(ctx):
    """children that exited (42) and were killed (SIGTERM), not waited for: zombies again, same statuses"""
    z = {'Z1': 42 << 8, 'Z2': signal.SIGTERM}
    rp, tree, img = tree_flow(ctx, 'zombies', zombies=z)
    reaped = lines_like(rp, 'reaped ')
    ctx.check(reaped == ['reaped Z1 exited 42', 'reaped Z2 killed %d' % signal.SIGTERM,
                         'reaped L exited 7'],
              'restored root reaped: %s' % reaped)


@tree_case('tree-groups-sessions')
def groups(ctx):
    """setsid() child with its own child, a process group of two: groups and sessions kept"""
    want = 'groups root=out/out S=S/S G=S/S P1=P1/out P2=P1/out'
    rp, tree, img = tree_flow(ctx, 'groups')
    got = lines_like(rp, 'groups ')
    ctx.check(got == [want], 'restored root printed %s, want [%r]' % (got, want))


@tree_case('tree-groups-root-leads-session')
def groups_root_session(ctx):
    """the same with the root leading its own session (started with setsid)"""
    want = 'groups root=root/root S=S/S G=S/S P1=P1/root P2=P1/root'
    rp, tree, img = tree_flow(ctx, 'groups', preexec_fn=os.setsid)
    ctx.check(tree.ids[tree.root] == (tree.root, tree.root),
              'the root does not lead its session: %s' % (tree.ids[tree.root],))
    got = lines_like(rp, 'groups ')
    ctx.check(got == [want], 'restored root printed %s, want [%r]' % (got, want))


def shm_inodes(ctx, tree, addr):
    """(dev, inode) of the mapping at addr in each process of the tree."""
    out = {}
    for pid in tree.pids():
        with open('/proc/%d/maps' % pid) as f:
            for l in f:
                w = l.split()
                if int(w[0].split('-')[0], 16) == addr:
                    out[tree.name(pid)] = (w[3], w[4], ' '.join(w[5:]))
        ctx.check(tree.name(pid) in out, '%s: no mapping at %#x' % (tree.name(pid), addr))
    return out


@tree_case('tree-shared-memory')
def shm(ctx):
    """MAP_SHARED|MAP_ANONYMOUS from before fork: still one memory for root and children"""
    orig, tree = start(ctx, 'shm')
    addr = int(lines_like(orig, 'shm ')[0].split()[1], 16)
    before = shm_inodes(ctx, tree, addr)
    ctx.check(len(set(before.values())) == 1, 'before: %s' % before)
    img, t0 = take(ctx, orig, 5)
    check_image(ctx, img, tree)
    last = kill_original_tree(ctx, orig)
    rp = restore_tree(ctx, img, tree)
    after = shm_inodes(ctx, tree, addr)
    one = len(set(after.values())) == 1
    try:
        finish_restored(ctx, rp, t0, last)
    except CaseFailure as e:
        if not one:
            raise CaseFailure('%s\n  and the restored mapping is not one object: %s' % (e, after))
        raise
    ctx.check(one, 'restored: the shared mapping is not one object: %s' % after)
    ctx.check(lines_like(rp, 'shm counts '), 'no "shm counts" line')


@tree_case('tree-socketpairs')
def sockets(ctx):
    """SOCK_STREAM and SOCK_DGRAM socketpairs between root and child, data queued both ways"""
    rp, tree, img = tree_flow(ctx, 'sockets')
    check_streams(ctx, rp, ['stream', 'dgram'], dgram=['dgram'])


@tree_case('tree-tcp')
def tcp(ctx):
    """a TCP connection over loopback between root and child, data queued both ways"""
    rp, tree, img = tree_flow(ctx, 'tcp')
    check_streams(ctx, rp, ['tcp'])
    err = '\n'.join(rp.err.snapshot())
    ctx.check('reset' not in err, 'the connection was not restored: %s' % err)


@tree_case('tree-eventfd')
def eventfd(ctx):
    """two eventfds made before the fork stay shared: the child answers through them"""
    rp, tree, img = tree_flow(ctx, 'eventfd')


def real_program_flow(ctx, interpreter, script, arg, tick, what):
    """A program of tests/tree run by an interpreter (no "resumed" lines): checkpoint at
    `tick`, at least two live members (`what`), kill, restore, every tick exactly once."""
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), script)
    orig = ctx.start([shutil.which(interpreter), path, arg], name='original ' + script)
    img, t0 = take(ctx, orig, tick)
    members = read_tree(img) or []
    ctx.check(len([m for m in members if m['state'] == 1]) >= 2,
              'tree: %s, want %s at least' % (members, what))
    last = kill_original_tree(ctx, orig)
    rp = ctx.restore(img, name='restored ' + script)
    finish_restored(ctx, rp, t0, last, resumed=False)


@tree_case('tree-shell-pipeline')
def shell_pipeline(ctx):
    """bash with a subshell piping numbers into python3 (and sleep running): none lost"""
    real_program_flow(ctx, 'bash', 'pipeline.sh', '120', 10, 'the subshell and python3')


@tree_case('tree-python-multiprocessing')
def python_multiprocessing(ctx):
    """python3 multiprocessing: a Pool, a Queue, a Lock (POSIX semaphores) across a restore"""
    real_program_flow(ctx, 'python3', 'mp_pool.py', '60', 8, 'the two pool workers')


@tree_case('tree-churn')
def churn(ctx):
    """a shell starting a short-lived child every 10 ms or so (sleep 0.01): every checkpoint
    succeeds (a tree that changed while it was being stopped is taken again; a child that
    exits meanwhile is noticed at once) and the newest image restores"""
    script = ('echo ready; i=0; while [ $i -lt 600 ]; do sleep 0.01; i=$((i+1)); '
              'case $i in *0) echo tick $((i/10));; esac; done; echo done')
    orig = ctx.start([shutil.which('bash'), '-c', script], name='churn')
    for k in range(5):
        orig.wait_tick(3 + 3 * k, ctx.left(10))
        t0 = last_tick(orig.lines())
        rc, out, err = ctx.checkpoint(orig, expect=None)
        ctx.check(rc == 0, 'checkpoint %d of a churning tree: exit %d (%s)' % (k + 1, rc,
                                                                             err.strip()))
    last = kill_original_tree(ctx, orig)
    rp = ctx.restore(out.strip(), name='restored churn')
    finish_restored(ctx, rp, t0, last, resumed=False)


@tree_case('tree-pidns')
def pidns(ctx):
    """--pidns=always while the original runs on: pipes, zombies and groups come back in a pid
    namespace of their own (the root checks every pid, parent and group from inside)"""
    for mode in ('pipes', 'zombies', 'groups'):
        orig, tree = start(ctx, mode)
        img, t0 = take(ctx, orig, 5)
        rp = ctx.restore(img, args=['--pidns=always'], name='restore %s in a pid namespace' % mode)
        rp.wait_line('resumed', ctx.left(10))
        # the original runs on beside it, with the same pids
        orig.wait_tick(last_tick(orig.lines()) + 2, ctx.left(10))
        check_no_fail(ctx, orig)
        last = kill_original_tree(ctx, orig)
        finish_restored(ctx, rp, t0, last)


@tree_case('tree-unprivileged')
def unprivileged(ctx):
    """an ordinary user checkpoints and restores the pipes tree (user + pid namespace)"""
    nobody = 65534
    setpriv = ['setpriv', '--reuid=%d' % nobody, '--regid=%d' % nobody, '--clear-groups']
    d = tempfile.mkdtemp(prefix='ckpt-tree-nobody-')    # ctx.tmp is root's alone
    try:
        os.chown(d, nobody, nobody)
        env = ctx.env(d)
        p = subprocess.Popen(setpriv + [ctx.b.ckpt_run, prog(ctx), 'pipes', 'ticks=40'],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             stdin=subprocess.PIPE,
                             close_fds=True, env=env, text=True)
        try:
            lines = []
            while not lines or not lines[-1].startswith('tick 5'):
                lines.append(p.stdout.readline().strip())
                ctx.check(lines[-1] or p.poll() is None, 'the tree as nobody: %s' % lines)
            r = subprocess.run(setpriv + [ctx.b.ckpt_ctl, 'checkpoint', str(p.pid)],
                               capture_output=True, text=True, timeout=ctx.left(10))
            ctx.check(r.returncode == 0, 'ckpt-ctl as nobody: %d %s' % (r.returncode, r.stderr))
            img = r.stdout.strip()
            members = read_tree(img) or []
            ctx.check(len(members) == 2 and all(os.stat(os.path.join(d, m['image'])).st_uid ==
                                                nobody for m in members),
                      'tree of %s: %s' % (img, members))
        finally:
            for pid in descendants(p.pid) + [p.pid]:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            p.wait()
        r = subprocess.run(setpriv + [ctx.b.ckpt_restore, img], capture_output=True, text=True,
                           timeout=ctx.left(20), env=env)
        ctx.check(r.returncode == 0 and 'resumed' in r.stdout and r.stdout.endswith('done\n') and
                  'FAIL' not in r.stdout, 'restore as nobody: exit %d\n%s\n%s' %
                  (r.returncode, r.stdout[-500:], r.stderr[-500:]))
    finally:
        shutil.rmtree(d, ignore_errors=True)


@tree_case('tree-pipeline')
def pipeline(ctx):
    """a full pipe between two siblings (writer blocked), a pipe with two writers to the root"""
    rp, tree, img = tree_flow(ctx, 'pipeline')
    got = lines_like(rp, 'pipeline ')
    ctx.check(len(got) == 1 and int(re.match(r'pipeline forwarded=(\d+)', got[0]).group(1)) > 100,
              'restored root: %s' % got)


@tree_case('tree-shared-file-offset')
def shared_file(ctx):
    """a file opened before fork: root and children keep writing at one shared offset"""
    path = os.path.join(ctx.tmp, 'shared.log')
    rp, tree, img = tree_flow(ctx, 'sharedfile', 'file=' + path)
    got = lines_like(rp, 'sharedfile ')
    ctx.check(len(got) == 1, 'restored root: %s' % got)
    ctx.note(got[0])


@tree_case('tree-exec')
def exec_(ctx):
    """a child's child exec'd prog_counter (stdout a pipe to the root): own image, continues"""
    rp, tree, img = tree_flow(ctx, 'exec', 'exec=' + ctx.b.prog('prog_counter'))
    paths = check_image(ctx, img, tree)
    h = read_header(paths['E'])
    ctx.check(h['comm'].split(b'\0')[0] == b'prog_counter',
              'E\'s image %s is of %r, want prog_counter' % (paths['E'], h['comm']))
    ctx.check(lines_like(rp, 'exec ticks ') == ['exec ticks 300'],
              'restored root: %s' % lines_like(rp, 'exec '))


@tree_case('tree-refuse-without-libckpt')
def refuse(ctx):
    """a child without LD_PRELOAD: ckpt-ctl exits 14 naming it, the tree runs on; without it, fine"""
    orig, tree = start(ctx, 'refuse', ticks=60)
    n = tree.pid('N')
    with open('/proc/%d/maps' % n) as f:
        ctx.check('libckpt' not in f.read(), 'N (pid %d) runs libckpt after all' % n)
    orig.wait_tick(4, ctx.left(10))
    rc, out, err = ctx.checkpoint(orig, expect=None)
    ctx.check(rc == EXIT['CKPT'], 'ckpt-ctl checkpoint of a tree with N: exit %d, want %d (%s)' %
              (rc, EXIT['CKPT'], (out + err).strip()))
    ctx.check(re.search(r'\b%d\b' % n, out + err),
              'ckpt-ctl\'s message does not name N (pid %d): %s' % (n, (out + err).strip()))
    # the tree runs on: ticks go on, nobody failed, N and L are there
    orig.wait_tick(last_tick(orig.lines()) + 3, ctx.left(10))
    check_no_fail(ctx, orig)
    for name in ('N', 'L'):
        st = pstat(tree.pid(name))
        ctx.check(st and st['state'] not in 'ZX' and st['ppid'] == tree.root,
                  '%s (pid %d) after the refused checkpoint: %s' % (name, tree.pid(name), st))
    os.kill(n, signal.SIGTERM)
    orig.wait_line('plain child reaped', ctx.left(10))
    img, t0 = take(ctx, orig, last_tick(orig.lines()) + 1)
    check_image(ctx, img, tree, skip=('N',))
    last = kill_original_tree(ctx, orig)
    rp = ctx.restore(img)
    rp.wait_line('resumed', ctx.left(10))
    check_restored(ctx, rp, tree, skip=('N',))
    finish_restored(ctx, rp, t0, last)


def copy_images(ctx, img, paths, name):
    d = os.path.join(ctx.tmp, name)
    os.mkdir(d, 0o700)
    for p in [img] + list(paths.values()):
        shutil.copy2(p, d)
    return d


def expect_refused(ctx, img, tree, code, words):
    rc, out, err = ctx.tool([ctx.b.ckpt_restore, img], timeout=15)
    ctx.check(rc == code, 'ckpt-restore %s: exit %d, want %d (%s)' % (img, rc, code, err.strip()))
    for w in words:
        ctx.check(w in err, 'ckpt-restore %s: the message does not name %s: %s' %
                  (img, w, err.strip()))
    time.sleep(0.05)
    left = [p for p in tree.pids() if pstat(p)]
    ctx.check(not left, 'after the refused restore, pids %s exist' % left)


@tree_case('tree-bad-member-images')
def bad_members(ctx):
    """a missing member image: exit 3 naming it; a member replaced by an older one: exit 9"""
    orig, tree = start(ctx, 'basic')
    img1, _ = take(ctx, orig, 4)
    paths1 = check_image(ctx, img1, tree)
    img2, t0 = take(ctx, orig, last_tick(orig.lines()) + 2)
    paths2 = check_image(ctx, img2, tree)
    last = kill_original_tree(ctx, orig)
    # missing: the grandchild's image
    d = copy_images(ctx, img2, paths2, 'missing')
    gone = os.path.basename(paths2['BB'])
    os.unlink(os.path.join(d, gone))
    expect_refused(ctx, os.path.join(d, os.path.basename(img2)), tree, EXIT['NOENT'], [gone])
    # replaced: A's image from the first checkpoint under the second one's name
    ctx.check(read_header(paths1['A'])['header_hash'] != read_header(paths2['A'])['header_hash'],
              'both checkpoints gave A the same image')
    d = copy_images(ctx, img2, paths2, 'replaced')
    shutil.copy2(paths1['A'], os.path.join(d, os.path.basename(paths2['A'])))
    expect_refused(ctx, os.path.join(d, os.path.basename(img2)), tree, EXIT['INVALID'],
                   [os.path.basename(paths2['A'])])
    # the intact images still restore
    rp = ctx.restore(img2)
    rp.wait_line('resumed', ctx.left(10))
    check_restored(ctx, rp, tree)
    finish_restored(ctx, rp, t0, last)


@tree_case('tree-member-alone')
def member_alone(ctx):
    """a member's image restored on its own: it runs (a warning says the rest is not restored)"""
    orig = ctx.start([prog(ctx), 'alone', 'ticks=40'], name='original alone tree')
    tree = Tree(ctx, orig)
    k = tree.pid('K')
    img, t0 = take(ctx, orig, 5)
    paths = check_image(ctx, img, tree)
    last = kill_original_tree(ctx, orig)
    rp = ctx.restore(paths['K'], name='restore of K alone')
    ctx.check(rp.app_pid == k, 'K\'s image is of pid %d, want %d' % (rp.app_pid, k))
    finish_restored(ctx, rp, t0, last)
    ctx.check(any('warning' in l for l in rp.err.snapshot()),
              'no warning from ckpt-restore of a member alone: %s' % rp.err.snapshot())
    ctx.check(not pstat(tree.root), 'the root (pid %d) was restored too' % tree.root)


@tree_case('tree-restore-twice')
def twice(ctx):
    """the same tree image restored twice, one after the other: in-flight data both times"""
    orig, tree = start(ctx, 'pipes')
    img, t0 = take(ctx, orig, 5)
    check_image(ctx, img, tree)
    last = kill_original_tree(ctx, orig)
    for k in (1, 2):
        rp = restore_tree(ctx, img, tree, name='restore %d' % k)
        finish_restored(ctx, rp, t0, last)
        check_streams(ctx, rp, ['A', 'B'])
        reap(ctx, tree.pids())


def second_generation(ctx, mode, zombies=None):
    orig, tree = start(ctx, mode, ticks=50)
    img, t0 = take(ctx, orig, 5)
    check_image(ctx, img, tree, zombies)
    last = kill_original_tree(ctx, orig)
    rp1 = restore_tree(ctx, img, tree, zombies or (), name='restore 1')
    resumed = int(lines_like(rp1, 'resumed ')[0].split()[1])
    img2, t1 = take(ctx, rp1, resumed + 3)
    ctx.check(img2 != img, 'the second checkpoint wrote %s again' % img2)
    check_image(ctx, img2, tree, zombies)
    last1 = kill_restored_tree(ctx, rp1)
    rp2 = restore_tree(ctx, img2, tree, zombies or (), name='restore 2')
    finish_restored(ctx, rp2, t1, last1)
    return rp2


@tree_case('tree-second-generation')
def second_gen(ctx):
    """a restored tree (pipes) checkpointed again, killed, restored from that image"""
    rp = second_generation(ctx, 'pipes')
    check_streams(ctx, rp, ['A', 'B'])


@tree_case('tree-second-generation-zombies')
def second_gen_zombies(ctx):
    """restored zombies are zombies in the next checkpoint too, with their statuses"""
    rp = second_generation(ctx, 'zombies', {'Z1': 42 << 8, 'Z2': signal.SIGTERM})
    ctx.check(lines_like(rp, 'reaped ') == ['reaped Z1 exited 42',
                                           'reaped Z2 killed %d' % signal.SIGTERM,
                                           'reaped L exited 7'],
              'restored root reaped: %s' % lines_like(rp, 'reaped '))
