# SPDX-License-Identifier: MIT
"""Core cases beyond the integration suite: periodic checkpoints, a restore by an
unprivileged user (user + pid namespace), who may checkpoint, ckpt-info backtraces
of a real image, progress for long writes."""
import glob
import json
import os
import subprocess
import tempfile
import time

from harness import CaseSkip, case, finish_restored, last_tick, run_case

NOBODY = 65534


def prog(ctx, name):
    return os.path.join(ctx.b.dir, 'tests', 'engine', name)


@case('core-periodic-checkpoints')
def periodic(ctx):
    """CKPT_INTERVAL=1: images keep coming, and the newest restores"""
    orig = ctx.start([prog(ctx, 'eng_memory'), 'random=1', 'ticks=120', 'tick_ms=50'],
                     env={'CKPT_INTERVAL': '1'})
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and len(glob.glob(ctx.img_dir + '/ckpt_*.img')) < 3:
        time.sleep(0.05)
    images = sorted(glob.glob(ctx.img_dir + '/ckpt_*.img'), key=os.path.getmtime)
    ctx.check(len(images) >= 3, 'only %d periodic images in 5 s' % len(images))
    t0 = 0
    orig.wait_tick(last_tick(orig.lines()) + 1, ctx.left(5))
    ctx.kill(orig)
    last = last_tick(orig.lines())
    finish_restored(ctx, ctx.restore(images[-1]), t0, last)


def as_nobody(argv):
    return ['setpriv', '--reuid=%d' % NOBODY, '--regid=%d' % NOBODY, '--clear-groups'] + argv


@case('core-unprivileged-restore')
def unprivileged(ctx):
    """checkpoint and restore as an ordinary user: restored in its own user+pid namespace"""
    d = tempfile.mkdtemp(prefix='ckpt-nobody-')
    os.chown(d, NOBODY, NOBODY)
    os.chmod(d, 0o700)
    env = dict(ctx.env(d))
    p = subprocess.Popen(as_nobody([ctx.b.ckpt_run, prog(ctx, 'eng_memory'), 'random=1',
                                    'ticks=40']), stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, stdin=subprocess.PIPE, close_fds=True, env=env)
    try:
        line = p.stdout.readline()
        ctx.check(line.strip() == b'ready', 'program as nobody printed %r' % line)
        for _ in range(5):
            p.stdout.readline()
        r = subprocess.run(as_nobody([ctx.b.ckpt_ctl, 'checkpoint', str(p.pid)]),
                           capture_output=True, timeout=ctx.left(10))
        ctx.check(r.returncode == 0, 'ckpt-ctl as nobody: %d %s' % (r.returncode, r.stderr))
        img = r.stdout.decode().strip()
        ctx.check(os.stat(img).st_uid == NOBODY, 'image not owned by nobody')
    finally:
        p.kill()
        p.wait()
    r = subprocess.run(as_nobody([ctx.b.ckpt_restore, img]), capture_output=True,
                       timeout=ctx.left(20), env=env)
    out = r.stdout.decode()
    ctx.check(r.returncode == 0 and 'resumed' in out and 'done' in out and 'FAIL' not in out,
              'restore as nobody: exit %d\n%s\n%s' % (r.returncode, out[-500:],
                                                     r.stderr.decode()[-500:]))


@case('core-other-user-refused')
def other_user(ctx):
    """ckpt-ctl run by another ordinary user cannot checkpoint the program"""
    orig = ctx.start([prog(ctx, 'eng_memory'), 'random=1', 'ticks=40'])
    orig.wait_tick(3, ctx.left(10))
    r = subprocess.run(as_nobody([ctx.b.ckpt_ctl, 'checkpoint', str(orig.pid)]),
                       capture_output=True, timeout=ctx.left(10))
    ctx.check(r.returncode == 13, 'ckpt-ctl as nobody on a root process: exit %d, want 13 (%s)' %
              (r.returncode, r.stderr.decode().strip()))
    ctx.check(not glob.glob(ctx.img_dir + '/ckpt_*.img'), 'an image was written anyway')
    orig.wait_tick(last_tick(orig.lines()) + 1, ctx.left(5))


@case('core-info-backtraces')
def info_backtraces(ctx):
    """ckpt-info --json of a real image: every thread unwinds into the program's own functions"""
    res = run_case(ctx, [ctx.b.prog('prog_threads'), 'ticks=20'], restore='last')
    img = res['images'][0][0]
    rc, out, err = ctx.tool([ctx.b.dir + '/tools/ckpt-info', '--json', img], expect=0)
    j = json.loads(out)
    text = json.dumps(j['threads'])
    ctx.check('main' in text and 'prog_threads' in text,
              'backtraces do not reach main in prog_threads: %s' % text[:600])


@case('core-progress-for-long-writes')
def progress(ctx):
    """CKPT_LOG=info: a 200 MiB image reports its progress, and ckpt-ctl shows it"""
    orig = ctx.start([prog(ctx, 'eng_memory'), 'random=200', 'ticks=60'],
                     env={'CKPT_LOG': 'info'})
    orig.wait_tick(3, ctx.left(20))
    ctx.checkpoint(orig)
    orig.wait_tick(last_tick(orig.lines()) + 1, ctx.left(10))
    ctx.kill(orig)
    err = '\n'.join(orig.err.snapshot())
    ctx.check('MiB written' in err, 'no progress lines from the writer: %s' % err[-400:])


@case('core-new-dir-is-private')
def private_dir(ctx):
    """a CKPT_DIR that ckpt creates is 0700, its images 0600"""
    d = os.path.join(ctx.img_dir, 'new', 'sub')
    os.makedirs(os.path.dirname(d))
    orig = ctx.start([prog(ctx, 'eng_memory'), 'random=1', 'ticks=40'], ckpt_dir=d)
    orig.wait_tick(3, ctx.left(10))
    img = ctx.checkpoint(orig, img_dir=d)
    mode = os.stat(d).st_mode & 0o777
    ctx.check(mode == 0o700, 'created CKPT_DIR has mode %o, want 700' % mode)
    ctx.check(os.stat(img).st_mode & 0o777 == 0o600, 'image mode is not 600')
    orig.wait_tick(last_tick(orig.lines()) + 1, ctx.left(5))


@case('core-forked-child')
def forked_child(ctx):
    """a child made by fork() without exec is checkpointed and restored on its own"""
    orig = ctx.start(['python3', os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                              'eng_forked.py'), 'ticks=40'], wait_ready=False)
    orig.wait_line('ready', ctx.left(10))
    child = int([l for l in orig.lines() if l.startswith('child ')][0].split()[1])
    orig.wait_tick(5, ctx.left(10))
    t0 = last_tick(orig.lines())
    img = ctx.checkpoint(child)
    os.kill(child, 9)
    orig.wait(ctx.left(10))
    last = last_tick(orig.lines())
    from harness import wait_gone
    wait_gone(child, ctx.left(5))
    finish_restored(ctx, ctx.restore(img), t0, last)
