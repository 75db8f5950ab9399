#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Checkpoint, kill and restore tests of the fd kinds (tests/fds/fd_*.c).

Each program sets up the state of one fd kind, prints "ready" and waits for
"verify" on its standard input, then checks that state and prints "ok".
Variants of a case:

  intact     checkpoint; the original verifies (the checkpoint must leave
             the state as it was) and exits; restore; the restored verifies
  kill       checkpoint; kill -9 the original; restore; the restored verifies
  twice      checkpoint, kill, restore; checkpoint the restored program, kill it,
             restore that image; the program verifies
  refused    ckpt-ctl must fail (exit 14) with a message naming the fd, and
             the original must verify unharmed
  bad-image  checkpoint, kill; the image's fd state is altered (imgpatch,
             checksums fixed) and ckpt-restore must refuse it (exit 9)

One line per case and variant, then "N passed, N failed". Needs root (a
restore takes the original pid).

  run.py [--build DIR] [-k SUBSTRING]
"""
import argparse
import fcntl
import os
import pty
import re
import select
import shutil
import socket
import subprocess
import sys
import tempfile
import termios
import threading
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
TIMEOUT = 20.0
EXIT_INVALID, EXIT_ENV, EXIT_CKPT = 9, 11, 14


class Failure(Exception):
    pass


class Tools:
    def __init__(self, build):
        build = os.path.abspath(build)
        self.run = os.path.join(build, 'tools', 'ckpt-run')
        self.ctl = os.path.join(build, 'tools', 'ckpt-ctl')
        self.restore = os.path.join(build, 'src', 'restore', 'ckpt-restore')
        self.progs = os.path.join(build, 'tests', 'fds')
        self.imgpatch = os.path.join(build, 'tests', 'progs', 'imgpatch')

    def prog(self, name):
        return os.path.join(self.progs, name)


class Lines:
    """Lines from a pipe or a pty master, read with timeouts."""

    def __init__(self, fd, name):
        self.fd = fd
        self.name = name
        self.buf = b''
        self.lines = []

    def _fill(self, timeout):
        if not select.select([self.fd], [], [], timeout)[0]:
            return
        try:
            data = os.read(self.fd, 65536)
        except OSError:
            data = b''
        if not data:
            raise Failure('%s: end of output, last lines %r' % (self.name, self.lines[-5:]))
        self.buf += data
        while b'\n' in self.buf:
            line, self.buf = self.buf.split(b'\n', 1)
            self.lines.append(line.decode('utf-8', 'replace').rstrip('\r'))

    def wait(self, want):
        end = time.monotonic() + TIMEOUT
        seen = 0
        while True:
            for line in self.lines[seen:]:
                if line.startswith('FAIL'):
                    raise Failure('%s: %s' % (self.name, line))
                if line == want:
                    return
            seen = len(self.lines)
            if time.monotonic() > end:
                raise Failure('%s: no "%s" within %.0f s, last lines %r' %
                              (self.name, want, TIMEOUT, self.lines[-5:]))
            self._fill(end - time.monotonic())


class Case:
    def __init__(self, name, prog, args=(), variants=('intact', 'kill', 'twice'), setup=None,
                 refuse=None, restore_warn=None, restore_fail=None, tty=False, patch=None,
                 stdout=None):
        self.name = name
        self.prog = prog
        self.args = list(args)
        self.variants = variants
        self.setup = setup                # fn(ctx) -> extra args; may ctx.give() fds
        self.refuse = refuse              # ckpt-ctl's refusal must match this
        self.restore_warn = restore_warn  # ckpt-restore's stderr must match this
        self.restore_fail = restore_fail  # (exit code, regex) ckpt-restore must fail with
        self.tty = tty                    # ckpt-restore runs on a terminal
        self.patch = patch                # bad-image: (imgpatch args, regex)
        self.stdout = stdout              # a line the restored program prints before "ok"


class Ctx:
    """One run of a case: its temporary directory, processes and fds."""

    def __init__(self, tools):
        self.t = tools
        self.tmp = tempfile.mkdtemp(prefix='ckpt-fds-')
        self.procs = []
        self.fds = []
        self.given = []             # fds passed to the program, closed here once it runs

    def env(self):
        e = {k: v for k, v in os.environ.items() if not k.startswith('CKPT_') and k != 'LD_PRELOAD'}
        e['CKPT_DIR'] = self.tmp
        return e

    def keep(self, fd):
        self.fds.append(fd)
        return fd

    def give(self, fd):
        self.given.append(fd)
        return fd

    def popen(self, argv, stdin=subprocess.PIPE, pass_fds=(), tty=False):
        """tty: stdin is a terminal that becomes the process's controlling terminal."""
        p = subprocess.Popen(argv, stdin=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             close_fds=True, pass_fds=pass_fds, env=self.env(),
                             start_new_session=tty,
                             preexec_fn=(lambda: fcntl.ioctl(0, termios.TIOCSCTTY, 0)) if tty else None)
        self.procs.append(p)
        return p

    def tool(self, argv):
        r = subprocess.run(argv, capture_output=True, close_fds=True, timeout=TIMEOUT, env=self.env())
        return r.returncode, r.stdout.decode(errors='replace'), r.stderr.decode(errors='replace')

    def cleanup(self):
        for p in self.procs:
            if p.poll() is None:
                p.kill()
                p.wait()
        for fd in self.fds + self.given:
            try:
                os.close(fd)
            except OSError:
                pass
        shutil.rmtree(self.tmp, ignore_errors=True)


def send(p, data):
    p.stdin.write(data)
    p.stdin.flush()


def stderr_of(p):
    return p.stderr.read().decode(errors='replace')


def finish(p, out, what):
    """p prints "ok" and exits 0."""
    out.wait('ok')
    try:
        rc = p.wait(TIMEOUT)
    except subprocess.TimeoutExpired:
        raise Failure('%s did not exit' % what)
    if rc != 0:
        raise Failure('%s exited with %d: %s' % (what, rc, stderr_of(p).strip()[-500:]))


def pid_in_use(pid):
    """pid is a process, or the process group or session of one (restore needs it free)."""
    if os.path.exists('/proc/%d' % pid):
        return True
    for d in os.listdir('/proc'):
        try:
            with open('/proc/%s/stat' % d) as f:
                fields = f.read().rsplit(')', 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[2]) == pid or int(fields[3]) == pid:
            return True
    return False


def wait_pid_free(pid):
    end = time.monotonic() + TIMEOUT
    while pid_in_use(pid):
        if time.monotonic() > end:
            raise Failure('pid %d still in use' % pid)
        time.sleep(0.01)


def read_pid(image):
    """The pid in an image's header (struct ckpt_header.pid at offset 64)."""
    with open(image, 'rb') as f:
        f.seek(64)
        return int.from_bytes(f.read(4), 'little', signed=True)


def checkpoint(ctx, case, orig, out, pid=None):
    """The image path, or None and the message of a refusal that went as expected."""
    rc, so, se = ctx.tool([ctx.t.ctl, 'checkpoint', str(pid or orig.pid)])
    if case.refuse:
        if rc != EXIT_CKPT or not re.search(case.refuse, se):
            raise Failure('ckpt-ctl: exit %d, %r; want %d and /%s/' %
                          (rc, se.strip(), EXIT_CKPT, case.refuse))
        send(orig, b'verify\n')
        finish(orig, out, 'original after the refused checkpoint')
        return None, se.strip().splitlines()[-1]
    if rc != 0:
        raise Failure('ckpt-ctl: exit %d: %s' % (rc, se.strip()))
    return so.strip(), None


def restore_bad(ctx, case, image):
    args, rx = case.patch
    rc, _, se = ctx.tool([ctx.t.imgpatch, image] + args)
    if rc:
        raise Failure('imgpatch %s: %s' % (' '.join(args), se.strip()))
    rc, _, se = ctx.tool([ctx.t.restore, image])
    if rc != EXIT_INVALID or not re.search(rx, se):
        raise Failure('ckpt-restore of the altered image: exit %d, %r; want %d and /%s/' %
                      (rc, se.strip(), EXIT_INVALID, rx))
    return se.strip().splitlines()[-1]


def start_restore(ctx, case, image):
    """ckpt-restore IMAGE, and a function that writes to its stdin."""
    if not case.tty:
        rst = ctx.popen([ctx.t.restore, image])
        return rst, lambda data: send(rst, data), None
    master, slave = pty.openpty()
    ctx.keep(master)
    rst = ctx.popen([ctx.t.restore, image], stdin=slave, tty=True)
    os.close(slave)
    return rst, lambda data: os.write(master, data), master


def restore(ctx, case, image, again):
    rst, write, master = start_restore(ctx, case, image)
    if case.restore_fail:
        code, rx = case.restore_fail
        try:
            rc = rst.wait(TIMEOUT)
        except subprocess.TimeoutExpired:
            raise Failure('ckpt-restore did not fail')
        err = stderr_of(rst)
        if rc != code or not re.search(rx, err):
            raise Failure('ckpt-restore: exit %d, %r; want %d and /%s/' % (rc, err.strip(), code, rx))
        return err.strip().splitlines()[-1]
    out = Lines(rst.stdout.fileno(), 'restored')
    if again:
        # once it answers, the restored program waits for its next command: checkpoint it there
        write(b'ping\n')
        out.wait('pong')
        image, _ = checkpoint(ctx, case, rst, None, pid=read_pid(image))
        os.kill(read_pid(image), 9)
        rst.wait(TIMEOUT)
        wait_pid_free(read_pid(image))
        return restore(ctx, case, image, False)
    write(b'verify\n')
    if case.stdout:
        out.wait(case.stdout)
    finish(rst, out, 'restored program')
    if master is not None:
        Lines(master, 'terminal').wait('tty-ok')
    err = stderr_of(rst)
    if case.restore_warn and not re.search(case.restore_warn, err):
        raise Failure('ckpt-restore stderr %r lacks /%s/' % (err.strip(), case.restore_warn))
    return case.restore_warn and re.search(case.restore_warn, err).group(0)


def run_case(t, case, variant):
    ctx = Ctx(t)
    try:
        args = case.setup(ctx) if case.setup else []
        orig = ctx.popen([t.run, t.prog(case.prog)] + case.args + args, pass_fds=ctx.given)
        for fd in ctx.given:
            os.close(fd)
        ctx.given = []
        out = Lines(orig.stdout.fileno(), 'original')
        out.wait('ready')
        image, refusal = checkpoint(ctx, case, orig, out)
        if image is None:
            return refusal
        if variant == 'intact':
            send(orig, b'verify\n')
            finish(orig, out, 'original after the checkpoint')
        else:
            orig.kill()
            orig.wait()
        wait_pid_free(orig.pid)
        if variant == 'bad-image':
            return restore_bad(ctx, case, image)
        return restore(ctx, case, image, variant == 'twice')
    finally:
        ctx.cleanup()


# --- setups: extra arguments, fds handed to the program ---------------------------

def tmpdir(ctx):
    return [ctx.tmp]


def fifo_path(ctx):
    return [os.path.join(ctx.tmp, 'fifo')]


def ext_pipe(end):
    """The program gets one end of a pipe the runner wrote into; the runner keeps the other."""
    def setup(ctx):
        r, w = os.pipe()
        os.write(w, b'hello from outside\n')
        theirs, mine = (r, w) if end == 'read' else (w, r)
        ctx.keep(mine)
        return [str(ctx.give(theirs))]
    return setup


def ext_socket(ctx):
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    a.sendall(b'from outside')
    ctx.keep(a.detach())
    return [str(ctx.give(b.detach()))]


def inotify_dir(ctx):
    d = os.path.join(ctx.tmp, 'watched')
    os.mkdir(d)
    open(os.path.join(d, 'file'), 'w').close()
    return [d]


def pty_slave(ctx):
    master, slave = pty.openpty()
    ctx.keep(master)
    name = os.ttyname(slave)
    os.close(slave)
    return [name]


def lock_taken_meanwhile(ctx):
    """DIR; a thread here takes DIR/flock (LOCK_EX) as soon as the original, which holds it,
    is gone: the restore must fail"""
    path = os.path.join(ctx.tmp, 'flock')
    open(path, 'w').close()
    fd = os.open(path, os.O_RDONLY)
    ctx.keep(fd)

    def grab():
        seen = False
        end = time.monotonic() + TIMEOUT
        while time.monotonic() < end:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                if seen:
                    return
                fcntl.flock(fd, fcntl.LOCK_UN)
            except OSError:
                seen = True
            time.sleep(0.002)
    threading.Thread(target=grab, daemon=True).start()
    return [ctx.tmp]


def bad(name, prog, args, patch, rx, setup=None):
    return Case('bad-image-' + name, prog, args, variants=('bad-image',), setup=setup,
                patch=(patch, rx))


PEER_GONE = r'fd 20: the other end of pipe:\[\d+\] was not in the process'
CASES = [
    Case('pipe', 'fd_pipe', ['pipe']),
    Case('pipe-full', 'fd_pipe', ['full']),
    Case('fifo', 'fd_pipe', ['fifo'], setup=fifo_path),
    Case('pipe-ext-read', 'fd_pipe', ['ext-read'], setup=ext_pipe('read'), restore_warn=PEER_GONE),
    Case('pipe-ext-write', 'fd_pipe', ['ext-write'], setup=ext_pipe('write'),
         restore_warn=PEER_GONE),
    Case('socketpair-stream', 'fd_socketpair', ['stream']),
    Case('socketpair-dgram', 'fd_socketpair', ['dgram']),
    Case('socketpair-seqpacket', 'fd_socketpair', ['seqpacket']),
    Case('socketpair-shutdown', 'fd_socketpair', ['shutdown']),
    Case('socketpair-ext', 'fd_socketpair', ['ext'], setup=ext_socket,
         restore_warn=r'fd 20: the peer of unix socket socket:\[\d+\] was not in the process'),
    Case('eventfd', 'fd_eventfd'),
    Case('timerfd', 'fd_timerfd'),
    Case('signalfd', 'fd_signalfd'),
    Case('epoll', 'fd_epoll'),
    Case('inotify', 'fd_inotify', setup=inotify_dir),
    Case('memfd', 'fd_memfd'),
    Case('deleted', 'fd_deleted', setup=tmpdir),
    Case('dup-and-simple', 'fd_misc', setup=tmpdir, stdout='via fd 7'),
    Case('locks', 'fd_locks', setup=tmpdir),
    Case('locks-taken-meanwhile', 'fd_locks', setup=lock_taken_meanwhile, variants=('kill',),
         restore_fail=(10, r'fd 12: flock write lock on \S+/flock \(bytes 0 to the end\) is held '
                           r'by another process now')),
    Case('tty', 'fd_tty', setup=pty_slave, tty=True),
    Case('tty-no-terminal', 'fd_tty', setup=pty_slave, variants=('kill',),
         restore_fail=(EXIT_ENV, r'fd 5 was the controlling terminal /dev/pts/\d+; .* not a terminal')),
    Case('refuse-nested-epoll', 'fd_refuse', ['nested-epoll'], variants=('refused',),
         refuse=r'fd 11: epoll watches epoll fd 10'),
    Case('refuse-pty-master', 'fd_refuse', ['pty-master'], variants=('refused',),
         refuse=r'fd 10: /dev/(pts/)?ptmx is a terminal but not the controlling terminal'),
    # a listening unix socket bound to a path is saved now (tests/server: server_unix)
    Case('unix-listen-path', 'fd_refuse', ['named-socket'], setup=tmpdir),
    Case('refuse-inet-socket', 'fd_refuse', ['inet-socket'], variants=('refused',),
         refuse=r'fd 10: socket:\[\d+\] is a raw IPv4 socket'),
    Case('refuse-packet-pipe', 'fd_refuse', ['packet-pipe'], variants=('refused',),
         refuse=r'fd 11: packet-mode pipe'),
    Case('refuse-pidfd', 'fd_refuse', ['pidfd'], variants=('refused',),
         refuse=r'fd 10: \S*pidfd\S* is a kind of file the core cannot save yet'),
    Case('refuse-deleted-mapped', 'fd_refuse', ['deleted-mapped'], variants=('refused',),
         setup=tmpdir, refuse=r'fd 10: deleted file \S+/dm \(deleted\) is also mapped shared'),
    bad('kind', 'fd_pipe', ['pipe'], ['fd', '10', 'kind', '1000'], r'fd entry 3 is malformed'),
    bad('data-len', 'fd_pipe', ['pipe'], ['fd', '10', 'data_len', '0x7fffffff'],
        r'fd entry 3 is malformed'),
    bad('dup-later', 'fd_pipe', ['pipe'], ['fd', '12', 'dup_of', '13'],
        r'fd 12: bad duplicate of fd 13'),
    bad('pipe-queued', 'fd_pipe', ['pipe'], ['data', '10', '8', '8', '99999'],
        r'fd 10: bad pipe state'),
    bad('unix-record', 'fd_socketpair', ['stream'], ['data', '11', '48', '4', '0xfffffff0'],
        r'fd 11: bad unix state'),
    bad('unix-peer', 'fd_socketpair', ['stream'], ['data', '10', '0', '8', '12345'],
        r'fd 10: bad unix state'),
    bad('eventfd-count', 'fd_eventfd', [], ['data', '10', '0', '8', '0xffffffffffffffff'],
        r'fd 10: bad eventfd state'),
    bad('timerfd-nsec', 'fd_timerfd', [], ['data', '10', '24', '8', '1000000000'],
        r'fd 10: bad timerfd state'),
    bad('timerfd-size', 'fd_timerfd', [], ['fd', '10', 'data_len', '0'], r'fd 10: bad timerfd state'),
    bad('signalfd-size', 'fd_signalfd', [], ['fd', '10', 'data_len', '4'],
        r'fd 10: bad signalfd state'),
    bad('epoll-target', 'fd_epoll', [], ['data', '10', '8', '4', '99'], r'fd 10: bad epoll state'),
    bad('inotify-wd', 'fd_inotify', [], ['data', '10', '8', '4', '0'], r'fd 10: bad inotify state',
        setup=inotify_dir),
    bad('lock-kind', 'fd_locks', [], ['data', '10', '0', '4', '7'], r'fd 10: bad file state',
        setup=tmpdir),
    bad('lock-range', 'fd_locks', [], ['data', '10', '16', '8', '3'], r'fd 10: bad file state',
        setup=tmpdir),
    bad('memfd-extent', 'fd_memfd', [], ['data', '10', '24', '8', str(1 << 40)],
        r'fd 10: bad memfd state'),
]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--build', default=os.environ.get('CKPT_BUILD') or os.path.join(ROOT, 'build'))
    ap.add_argument('-k', dest='only', default='', help='run cases whose name contains this')
    a = ap.parse_args()
    t = Tools(a.build)
    passed = failed = 0
    for case in CASES:
        for variant in case.variants:
            name = '%s/%s' % (case.name, variant)
            if a.only not in name:
                continue
            if os.geteuid() != 0:
                print('SKIP %s: restoring a pid needs root' % name, flush=True)
                continue
            start = time.monotonic()
            try:
                note = run_case(t, case, variant)
                passed += 1
                print('PASS %s (%.2f s)%s' % (name, time.monotonic() - start,
                                              ': ' + note if note else ''), flush=True)
            except Exception as e:
                failed += 1
                msg = str(e) if isinstance(e, Failure) else traceback.format_exc().strip()
                print('FAIL %s: %s' % (name, msg.replace('\n', ' | ')), flush=True)
    print('%d passed, %d failed' % (passed, failed), flush=True)
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main())
