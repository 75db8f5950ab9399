# SPDX-License-Identifier: MIT
"""Servers and sockets: TCP/UDP sockets of every supported state (inet_prog.py), python3's
http.server with a client before and after the restore, sqlite3 with a transaction open
across the checkpoint (sqlite_prog.py), redis-server if installed; refusals of raw and
netlink sockets; a taken port and a malformed image at restore."""
import glob
import os
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.request

from harness import (CaseSkip, case, check_no_fail, finish_restored, last_tick, run_case,
                     wait_gone)

HERE = os.path.dirname(os.path.abspath(__file__))
EXIT_INVALID, EXIT_ENV, EXIT_CKPT = 9, 11, 14


def python3():
    for p in ('/usr/bin/python3', shutil.which('python3'), sys.executable):
        if p and os.access(p, os.X_OK):
            return os.path.realpath(p)
    raise CaseSkip('no python3')


def free_port(family=socket.AF_INET, host='127.0.0.1'):
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def restore_stderr(rproc):
    return '\n'.join(rproc.err.snapshot())


# --- sockets of every state ------------------------------------------------

def _inet(ctx, v6):
    args = [python3(), os.path.join(HERE, 'inet_prog.py'), '40'] + (['v6'] if v6 else [])
    res = run_case(ctx, args, start_tick=5)
    out = res['restored'][0].lines()
    err = restore_stderr(res['restored'][0])
    for what in ('listener accepts', 'udp exchanges', 'conn reset:', 'peer reset:',
                 'queued reset:'):
        ctx.check(any(l.startswith(what) for l in out), 'restored program never printed %r' % what)
    addr = [l.split() for l in res['orig'].lines() if l.startswith('addr ')][0]
    host = '[%s]' % addr[1] if v6 else addr[1]
    port = addr[2]
    # one line per connection, naming the fd and both addresses
    h, any_port, lport = re.escape(host), r':\d+', ':' + port
    for fd, local, peer in (('11', h + any_port, h + lport), ('12', h + lport, h + any_port),
                            ('13', h + any_port, h + lport)):
        rx = (r'fd %s: TCP connection %s -> %s \(ESTABLISHED at the checkpoint\) is not '
              r'restored: it reads as reset by the peer \(ECONNRESET\)' % (fd, local, peer))
        ctx.check(len(re.findall(rx, err)) == 1, 'ckpt-restore did not log fd %s once as /%s/:\n%s'
                  % (fd, rx, err))
    ctx.check(re.search(r'fd 10: 1 connection waiting to be accepted on %s:%s at the checkpoint '
                        r'is lost' % (re.escape(host), port), err),
              'ckpt-restore did not warn about the lost queued connection:\n%s' % err)
    ctx.check(len(err.strip().splitlines()) == 4, 'ckpt-restore printed more than the 4 '
              'expected warnings:\n%s' % err)
    ctx.note([l for l in err.splitlines() if 'fd 11' in l][0])


@case('server_inet')
def server_inet(ctx):
    """IPv4: listening TCP (same port, options, O_NONBLOCK), bound and connected UDP, a fresh
    socket are rebuilt; 3 connections come back reset, one line each; queued one lost"""
    _inet(ctx, False)


@case('server_inet6')
def server_inet6(ctx):
    """the same on IPv6 (::1)"""
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
            s.bind(('::1', 0))
    except OSError as e:
        raise CaseSkip('no IPv6 loopback: %s' % e)
    _inet(ctx, True)


@case('server_inet_chain')
def server_inet_chain(ctx):
    """checkpoint the restored program (its connections now reset), kill it, restore that
    image: the listener and UDP sockets work again"""
    argv = [python3(), os.path.join(HERE, 'inet_prog.py'), '60']
    orig = ctx.start(argv)
    orig.wait_tick(4, ctx.left(10))
    t0 = last_tick(orig.lines())
    img1 = ctx.checkpoint(orig)
    ctx.kill(orig)
    r1 = ctx.restore(img1, name='first restore')
    r1.wait_line('queued reset', ctx.left(10))
    t1 = r1.wait_tick(t0 + 3, ctx.left(10))
    img2 = ctx.checkpoint(r1)
    ctx.kill_restored(r1)
    check_no_fail(ctx, r1)
    r2 = ctx.restore(img2, name='second restore')
    finish_restored(ctx, r2, t1, last_tick(r1.lines()), final=60)
    out = r2.lines()
    ctx.check('listener accepts' in out and 'udp exchanges' in out,
              'the second restore did not check the listener and UDP sockets')
    ctx.check(t0 < t1, 'ticks did not advance')


# --- python3 -m http.server --------------------------------------------------

def _fetch(port, name, timeout=5):
    with urllib.request.urlopen('http://127.0.0.1:%d/%s' % (port, name), timeout=timeout) as r:
        return r.status, r.read()


def _fetch_until(ctx, port, name, want, secs):
    end = time.monotonic() + secs
    last = None
    while time.monotonic() < end:
        try:
            st, body = _fetch(port, name, timeout=min(5, ctx.left()))
            if st == 200 and body == want:
                return
            last = 'status %d, %d bytes' % (st, len(body))
        except OSError as e:
            last = str(e)
        time.sleep(0.05)
    ctx.fail('GET /%s on port %d: no good answer within %.0f s (last: %s)' % (name, port, secs,
                                                                              last))


@case('server_http')
def server_http(ctx):
    """python3 -m http.server (a thread per request): fetch before, after the checkpoint, and
    from the restored server; a client connection left idle at the checkpoint is reset"""
    www = os.path.join(ctx.tmp, 'www')
    os.mkdir(www)
    body = os.urandom(100000)
    with open(os.path.join(www, 'file.bin'), 'wb') as f:
        f.write(body)
    port = free_port()
    orig = ctx.start([python3(), '-u', '-m', 'http.server', '--bind', '127.0.0.1', str(port),
                      '--directory', www], wait_ready=False)
    orig.wait_line('Serving HTTP on 127.0.0.1 port %d' % port, ctx.left(10))
    for _ in range(5):
        _fetch_until(ctx, port, 'file.bin', body, ctx.left(5))
    # an idle client: its handler thread waits in recv when the checkpoint is taken
    idle = socket.create_connection(('127.0.0.1', port))
    time.sleep(0.2)
    img = ctx.checkpoint(orig)
    for _ in range(5):
        _fetch_until(ctx, port, 'file.bin', body, ctx.left(5))   # the original goes on
    ctx.kill(orig)
    idle.close()
    r = ctx.restore(img)
    for _ in range(10):
        _fetch_until(ctx, port, 'file.bin', body, ctx.left(10))
    ctx.check(r.poll() is None, 'ckpt-restore exited: %s' % r.poll())
    err = restore_stderr(r)
    resets = re.findall(r'fd (\d+): TCP connection 127\.0\.0\.1:%d -> 127\.0\.0\.1:\d+ '
                        r'\(ESTABLISHED at the checkpoint\) is not restored' % port, err)
    ctx.check(len(resets) == 1, 'want one reset line for the idle connection, got:\n%s' % err)
    # its handler thread, blocked in recv at the checkpoint, sees the reset
    r.err.wait(lambda l: l.startswith('ConnectionResetError'), ctx.left(5),
               "the idle connection's handler thread failing with ConnectionResetError")
    # the restored server logs the requests it answered (to its stderr, ckpt-restore's)
    gets = [l for l in r.err.snapshot() if '"GET /file.bin HTTP/1.1" 200' in l]
    ctx.check(len(gets) >= 10, 'the restored server logged %d requests, want 10' % len(gets))
    ctx.note('idle connection at fd %s reset; %d requests answered after the restore' %
             (resets[0], len(gets)))
    rc = ctx.kill_restored(r)
    ctx.check(rc == 128 + signal.SIGKILL, 'ckpt-restore exited with %d' % rc)


# --- unix sockets bound to a path and an abstract name -------------------------

def _unix_ask(addr, line, timeout=5):
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as c:
        c.settimeout(timeout)
        c.connect(addr)
        c.sendall(line.encode() + b'\n')
        buf = b''
        while not buf.endswith(b'\n'):
            data = c.recv(4096)
            if not data:
                break
            buf += data
        return buf.decode().strip()


@case('server_unix')
def server_unix(ctx):
    """unix_prog.py: listeners on a path (mode 0640) and an abstract name come back and answer;
    queued datagrams of a bound datagram socket are kept; its connection to its own listener
    works (a pair); its client connection to another
    process and the idle connection of a client of ours come back reset, one line each"""
    d = os.path.join(ctx.tmp, 'unix')
    os.mkdir(d)
    path = os.path.join(d, 'srv.sock')
    abstract = 'ckpt-test-%d-%d' % (os.getpid(), time.monotonic_ns())
    ext_path = os.path.join(d, 'ext.sock')
    ext = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    ext.bind(ext_path)
    ext.listen(1)
    orig = ctx.start([python3(), os.path.join(HERE, 'unix_prog.py'), d, abstract, ext_path])
    ext_conn, _ = ext.accept()
    fds = dict(kv.split('=') for kv in
               [l for l in orig.lines() if l.startswith('fds ')][0].split()[1:])
    ctx.check(_unix_ask(path, 'one') == 'echo one', 'no answer on %s' % path)
    ctx.check(_unix_ask('\0' + abstract, 'two') == 'echo two', 'no answer on @%s' % abstract)
    ctx.check(_unix_ask(path, 'SELF') == 'self ping', 'no answer through its own connection')
    idle = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    idle.settimeout(5)
    idle.connect(path)
    idle.sendall(b'idle\n')
    ctx.check(idle.recv(100) == b'echo idle\n', 'the idle client got no answer')
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as dg:
        for m in (b'first', b'second', b'third'):
            dg.sendto(m, os.path.join(d, 'dgram.sock'))
    time.sleep(0.2)
    img = ctx.checkpoint(orig)
    ctx.kill(orig)
    idle.close()
    ext_conn.close()
    ctx.check(os.path.exists(path), 'the killed server left no socket file to remove')
    r = ctx.restore(img)
    got = None
    end = time.monotonic() + ctx.left(10)
    while time.monotonic() < end:
        try:
            got = _unix_ask(path, 'three')
            break
        except OSError:
            time.sleep(0.05)
    ctx.check(got == 'echo three', 'the restored server answered %r on %s' % (got, path))
    ctx.check(_unix_ask('\0' + abstract, 'four') == 'echo four',
              'the restored server did not answer on @%s' % abstract)
    dgrams = _unix_ask(path, 'DGRAM')
    ctx.check(dgrams == 'dgrams first,second,third',
              'queued datagrams after the restore: %r' % dgrams)
    # its connection to itself comes back as a pair
    ctx.check(_unix_ask(path, 'SELF') == 'self ping', 'no answer through its own connection '
              'after the restore')
    mode = os.stat(path).st_mode & 0o7777
    ctx.check(mode == 0o640, '%s has mode %o after the restore, want 640' % (path, mode))
    # both connections to other processes read as reset
    for name in ('client', path):
        r.out.wait(lambda l, n=name: l == 'reset %s ConnectionResetError' % n, ctx.left(5),
                   'the connection %s reset' % name)
    err = restore_stderr(r)
    rx = (r'fd (\d+): unix stream connection on %s is not restored: it reads as reset by the '
          r'peer \(ECONNRESET\)')
    for p in (path, ext_path):
        n = len(re.findall(rx % re.escape(p), err))
        ctx.check(n == 1, 'want one reset line for %s, got %d:\n%s' % (p, n, err))
    client = re.search(rx % re.escape(ext_path), err).group(1)
    ctx.check(client == fds['client'], 'the reset line names fd %s, the client is fd %s' %
              (client, fds['client']))
    ctx.check(len(err.strip().splitlines()) == 2, 'ckpt-restore printed more than the 2 '
              'expected warnings:\n%s' % err)
    ctx.note('answers on %s and @%s, 3 datagrams kept; %s' % (path, abstract,
                                                             err.strip().replace('\n', '; ')))
    ext.close()
    rc = ctx.kill_restored(r)
    ctx.check(rc == 128 + signal.SIGKILL, 'ckpt-restore exited with %d' % rc)


@case('server_unix_taken')
def server_unix_taken(ctx):
    """the path is a live socket, then a regular file, the abstract name is taken: exit 11
    naming the fd; once all are free, the image restores and answers"""
    d = os.path.join(ctx.tmp, 'unix')
    os.mkdir(d)
    path = os.path.join(d, 'srv.sock')
    abstract = 'ckpt-test-%d-%d' % (os.getpid(), time.monotonic_ns())
    ext_path = os.path.join(d, 'ext.sock')
    ext = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    ext.bind(ext_path)
    ext.listen(1)
    orig = ctx.start([python3(), os.path.join(HERE, 'unix_prog.py'), d, abstract, ext_path])
    fds = dict(kv.split('=') for kv in
               [l for l in orig.lines() if l.startswith('fds ')][0].split()[1:])
    img = ctx.checkpoint(orig)
    ctx.kill(orig)
    # a server answering on the path
    os.unlink(path)
    live = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    live.bind(path)
    live.listen(1)
    rc, _, err = ctx.tool([ctx.b.ckpt_restore, img])
    live.close()
    rx = r'fd %s: cannot bind unix stream socket %s again: Address already in use' % (
        fds['listen'], re.escape(path))
    ctx.check(rc == EXIT_ENV and re.search(rx, err), 'a live socket at the path: exit %d, %r; '
              'want %d and /%s/' % (rc, err.strip(), EXIT_ENV, rx))
    # a regular file at the path is not removed
    os.unlink(path)
    with open(path, 'w') as f:
        f.write('keep')
    rc, _, err = ctx.tool([ctx.b.ckpt_restore, img])
    ctx.check(rc == EXIT_ENV and 'fd %s: cannot bind' % fds['listen'] in err and
              open(path).read() == 'keep', 'a regular file at the path: exit %d, %r' %
              (rc, err.strip()))
    os.unlink(path)
    # the abstract name taken
    blocker = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    blocker.bind('\0' + abstract)
    rc, _, err = ctx.tool([ctx.b.ckpt_restore, img])
    blocker.close()
    rx = r'fd %s: cannot bind unix stream socket @%s again: Address already in use' % (
        fds['abstract'], re.escape(abstract))
    ctx.check(rc == EXIT_ENV and re.search(rx, err), 'the abstract name taken: exit %d, %r; '
              'want %d and /%s/' % (rc, err.strip(), EXIT_ENV, rx))
    r = ctx.restore(img)
    got = None
    end = time.monotonic() + ctx.left(10)
    while time.monotonic() < end:
        try:
            got = _unix_ask('\0' + abstract, 'again')
            break
        except OSError:
            time.sleep(0.05)
    ctx.check(got == 'echo again', 'the restored server answered %r' % got)
    ext.close()
    ctx.kill_restored(r)


def _monitor(path, timeout=10):
    """"info status" on QEMU's human monitor at the unix socket path; the answer line."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as c:
        c.settimeout(timeout)
        c.connect(path)
        c.sendall(b'info status\n')
        buf = b''
        while b'VM status:' not in buf or not buf.split(b'VM status:', 1)[1].count(b'\n'):
            data = c.recv(4096)
            if not data:
                break
            buf += data
        m = re.search(rb'VM status: [^\r\n]*', buf)
        return m.group(0).decode() if m else buf.decode('utf-8', 'replace')


@case('server_qemu_monitor', timeout=60)
def server_qemu_monitor(ctx):
    """qemu-system-x86_64 (tcg) with its monitor on a listening unix socket
    (-monitor unix:PATH,server,nowait) and the boot sector guest of tests/qemu: the monitor
    answers "info status" before the checkpoint and from the restored QEMU"""
    qemu = shutil.which('qemu-system-x86_64')
    if not qemu:
        raise CaseSkip('qemu-system-x86_64 is not installed')
    for tool in ('as', 'ld'):
        if not shutil.which(tool):
            raise CaseSkip('%s (binutils) is not installed' % tool)
    guest = os.path.join(HERE, '..', 'qemu', 'guest.S')
    obj, img = os.path.join(ctx.tmp, 'guest.o'), os.path.join(ctx.tmp, 'guest.img')
    ctx.tool(['as', '--32', guest, '-o', obj], expect=0)
    ctx.tool(['ld', '-m', 'elf_i386', '-Ttext', '0x7c00', '--oformat', 'binary', obj, '-o',
              img], expect=0)
    mon = os.path.join(ctx.tmp, 'monitor.sock')
    orig = ctx.start([qemu, '-accel', 'tcg', '-m', '64', '-display', 'none', '-nodefaults',
                      '-no-reboot', '-serial', 'stdio', '-monitor',
                      'unix:%s,server,nowait' % mon,
                      '-drive', 'file=%s,format=raw,if=floppy' % img], name='qemu',
                     wait_ready=False)
    tick = re.compile(r'tick (\d+)$')
    orig.out.wait(lambda l: tick.match(l), ctx.left(20), 'the first tick')
    st = _monitor(mon)
    ctx.check(st == 'VM status: running', 'the monitor answered %r' % st)
    image = ctx.checkpoint(orig)
    ctx.kill(orig)
    r = ctx.restore(image)
    n = len([l for l in orig.lines() if tick.match(l)])
    st, end = None, time.monotonic() + ctx.left(10)
    while time.monotonic() < end:
        try:
            st = _monitor(mon)
            break
        except OSError:
            time.sleep(0.1)
    ctx.check(st == 'VM status: running', 'the restored monitor answered %r' % st)
    r.out.wait(lambda l: tick.match(l), ctx.left(10), 'a tick from the restored guest')
    ctx.note('%d ticks before the kill; restored monitor: %s' % (n, st))
    ctx.kill_restored(r)


# --- sqlite3 -------------------------------------------------------------------

def _posix_locks(pid):
    """Lines of /proc/locks held by pid."""
    with open('/proc/locks') as f:
        return [l.strip() for l in f if re.search(r'\bPOSIX\b.*\b%d\b' % pid, l)]


def _lock_set(lines):
    """(type, inode, start, end) of /proc/locks lines, without the ids and pids."""
    out = []
    for l in lines:
        w = l.split()
        out.append((w[3], w[5], w[6], w[7]))
    return sorted(out)


@case('server_sqlite')
def server_sqlite(ctx):
    """sqlite3: checkpoint inside an uncommitted transaction, kill, restore; the restored
    program commits, and the database holds exactly one row per tick"""
    db = os.path.join(ctx.tmp, 'test.db')
    state = {}

    def after_kill(ctx, images):
        state['journal'] = os.path.exists(db + '-journal')

    res = run_case(ctx, [python3(), os.path.join(HERE, 'sqlite_prog.py'), db, '60'],
                   start_tick=8, final=60, after_kill=after_kill)
    ctx.check(any(l == 'committed 60' for l in res['restored'][0].lines()),
              'the restored program did not commit 60 rows')
    con = sqlite3.connect(db)
    try:
        n, lo, hi = con.execute('SELECT count(*), min(n), max(n) FROM t').fetchone()
        ok = con.execute('PRAGMA integrity_check').fetchone()[0]
    finally:
        con.close()
    ctx.check((n, lo, hi) == (60, 1, 60), 'database holds %d rows (%s..%s), want 60' % (n, lo, hi))
    ctx.check(ok == 'ok', 'integrity_check: %s' % ok)
    ctx.check(not os.path.exists(db + '-journal'), 'journal left after the commit')
    ctx.note('rollback journal present at the kill: %s' % state.get('journal'))


@case('server_sqlite_locks')
def server_sqlite_locks(ctx):
    """sqlite3's POSIX record locks (fcntl F_SETLK) inside a transaction: the restored program
    holds the same locks (type and range on the same file, from /proc/locks) as the original"""
    db = os.path.join(ctx.tmp, 'test.db')
    orig = ctx.start([python3(), os.path.join(HERE, 'sqlite_prog.py'), db, '200'])
    orig.wait_tick(4, ctx.left(10))
    before = _posix_locks(orig.pid)
    ctx.check(before, 'the original holds no POSIX lock inside its transaction (/proc/locks)')
    img = ctx.checkpoint(orig)
    ctx.kill(orig)
    r = ctx.restore(img)
    r.wait_line('resumed', ctx.left(10))
    after = _posix_locks(r.app_pid)
    ctx.kill_restored(r)
    ctx.check(_lock_set(after) == _lock_set(before),
              'the restored program holds POSIX locks %s, the original held %s' % (after, before))
    ctx.note('locks before and after the restore: %s' % _lock_set(before))


# --- redis-server (if installed) ------------------------------------------------

def _redis(port, *words, timeout=5):
    """One RESP command; the reply's first line."""
    with socket.create_connection(('127.0.0.1', port), timeout=timeout) as s:
        cmd = b'*%d\r\n' % len(words) + b''.join(b'$%d\r\n%s\r\n' % (len(w), w) for w in words)
        s.sendall(cmd)
        data = b''
        while not data.endswith(b'\r\n'):
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
        return data


@case('server_redis')
def server_redis(ctx):
    """redis-server (Debian's, if installed): INCR before and after the checkpoint; the
    restored server continues from the checkpoint's value"""
    exe = shutil.which('redis-server')
    if not exe:
        raise CaseSkip('redis-server is not installed (apt-get install redis-server)')
    port = free_port()
    orig = ctx.start([exe, '--port', str(port), '--bind', '127.0.0.1', '--save', '',
                      '--appendonly', 'no', '--dir', ctx.tmp, '--daemonize', 'no',
                      '--protected-mode', 'no'], wait_ready=False)
    end = time.monotonic() + ctx.left(10)
    while True:
        try:
            if _redis(port, b'PING') == b'+PONG\r\n':
                break
        except OSError:
            pass
        ctx.check(time.monotonic() < end and orig.poll() is None, 'redis-server did not start')
        time.sleep(0.05)
    for k in range(1, 6):
        ctx.check(_redis(port, b'INCR', b'n') == b':%d\r\n' % k, 'INCR before the checkpoint')
    img = ctx.checkpoint(orig)
    for k in range(6, 9):
        ctx.check(_redis(port, b'INCR', b'n') == b':%d\r\n' % k, 'INCR after the checkpoint')
    ctx.kill(orig)
    r = ctx.restore(img)
    end = time.monotonic() + ctx.left(10)
    while True:
        try:
            got = _redis(port, b'INCR', b'n')
            break
        except OSError:
            ctx.check(time.monotonic() < end and r.poll() is None,
                      'the restored redis-server does not answer: %s' % restore_stderr(r))
            time.sleep(0.05)
    ctx.check(got == b':6\r\n', 'restored INCR gave %r, want :6 (the value at the checkpoint '
              'plus one)' % got)
    ctx.check(_redis(port, b'INCR', b'n') == b':7\r\n', 'second INCR after the restore')
    ctx.kill_restored(r)


# --- refusals and restore errors -------------------------------------------------

REFUSE = r'''
import os, socket, sys, time
kind = sys.argv[1]
if kind == 'raw':
    s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
elif kind == 'netlink':
    s = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 0)
elif kind == 'scm':
    # a bound datagram socket with a descriptor queued for it (SCM_RIGHTS)
    import array
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.bind('\0ckpt-scm-%d' % os.getpid())
    c = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    c.sendmsg([b'x'], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array('i', [0]))], 0,
              '\0ckpt-scm-%d' % os.getpid())
    c.close()
os.dup2(s.fileno(), 10)
s.close()
print('ready', flush=True)
for t in range(1, 201):
    os.fstat(10)
    print('tick %d' % t, flush=True)
    time.sleep(0.05)
print('done', flush=True)
'''


def _refuse(ctx, kind, rx):
    script = os.path.join(ctx.tmp, 'refuse.py')
    with open(script, 'w') as f:
        f.write(REFUSE)
    orig = ctx.start([python3(), script, kind])
    t = orig.wait_tick(3, ctx.left(10))
    rc, out, err = ctx.checkpoint(orig, expect=None)
    ctx.check(rc == EXIT_CKPT and re.search(rx, err), 'ckpt-ctl: exit %d, %r; want %d and /%s/' %
              (rc, err.strip(), EXIT_CKPT, rx))
    ctx.check(not glob.glob(os.path.join(ctx.img_dir, '*')), 'files left in the image directory')
    orig.wait_tick(t + 3, ctx.left(10))
    check_no_fail(ctx, orig)
    ctx.note(err.strip())


@case('server_refuse_raw')
def server_refuse_raw(ctx):
    """a raw IPv4 socket is refused naming its fd; the program runs on"""
    _refuse(ctx, 'raw', r'fd 10: socket:\[\d+\] is a raw IPv4 socket')


@case('server_refuse_scm_rights')
def server_refuse_scm_rights(ctx):
    """a bound unix socket with a descriptor in flight (SCM_RIGHTS) is refused naming its fd"""
    _refuse(ctx, 'scm', r'fd 10: unix socket socket:\[\d+\] has file descriptors in flight '
            r'\(SCM_RIGHTS\), not supported')


@case('server_refuse_netlink')
def server_refuse_netlink(ctx):
    """a netlink socket is refused naming its fd; the program runs on"""
    _refuse(ctx, 'netlink', r'fd 10: socket:\[\d+\] is a socket of address family 16')


def _checkpoint_killed(ctx, argv):
    orig = ctx.start(argv)
    orig.wait_tick(3, ctx.left(10))
    t0 = last_tick(orig.lines())
    img = ctx.checkpoint(orig)
    ctx.kill(orig)
    return orig, img, t0


@case('server_port_taken')
def server_port_taken(ctx):
    """the listening port is taken by another process at restore: exit 11 naming the fd and
    the address; once it is free, the same image restores"""
    orig, img, t0 = _checkpoint_killed(ctx, [python3(), os.path.join(HERE, 'inet_prog.py'),
                                             '40'])
    addr = [l.split() for l in orig.lines() if l.startswith('addr ')][0]
    blocker = socket.socket()
    blocker.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    blocker.bind((addr[1], int(addr[2])))
    blocker.listen(1)
    try:
        rc, _, err = ctx.tool([ctx.b.ckpt_restore, img])
    finally:
        blocker.close()
    rx = r'fd 10: cannot bind TCP %s:%s again: Address already in use' % (re.escape(addr[1]),
                                                                        addr[2])
    ctx.check(rc == EXIT_ENV and re.search(rx, err), 'ckpt-restore with the port taken: exit '
              '%d, %r; want %d and /%s/' % (rc, err.strip(), EXIT_ENV, rx))
    wait_gone(orig.pid, ctx.left(5))
    finish_restored(ctx, ctx.restore(img), t0, last_tick(orig.lines()), final=40)


@case('server_bad_image')
def server_bad_image(ctx):
    """an image whose TCP/UDP state is malformed (state, family, address) is refused, exit 9"""
    patch = os.path.join(ctx.b.dir, 'tests', 'fds', 'fd_imgpatch')
    if not os.access(patch, os.X_OK):
        raise CaseSkip('fd_imgpatch is not built')
    orig, img, _ = _checkpoint_killed(ctx, [python3(), os.path.join(HERE, 'inet_prog.py'), '40'])
    with open(img, 'rb') as f:
        pristine = f.read()
    # struct ckpt_fd_inet: family 0, type 4, protocol 8, state 12, opts 16, tcp_state 20,
    # backlog 24, pending 28, local 32 (addr 16, port 48, pad 50, scope 52), peer 56
    for fd, off, size, val, what in ((10, 12, 4, 99, 'unknown state'),
                                     (10, 0, 4, 1, 'address family AF_UNIX'),
                                     (10, 8, 4, 17, 'TCP socket with protocol UDP'),
                                     (10, 16, 4, 0x40, 'unknown option'),
                                     (10, 36, 1, 1, 'IPv4 address with bytes beyond 4'),
                                     (10, 48, 2, 0, 'listening on port 0'),
                                     (14, 28, 4, 5, 'pending connections on UDP'),
                                     (14, 12, 4, 3, 'UDP socket listening'),
                                     (15, 72, 2, 0, 'connected UDP without a peer port'),
                                     (16, 60, 2, 80, 'new socket with a peer')):
        with open(img, 'wb') as f:
            f.write(pristine)
        ctx.tool([patch, img, 'data', str(fd), str(off), str(size), str(val)], expect=0)
        rc, _, err = ctx.tool([ctx.b.ckpt_restore, img])
        ctx.check(rc == EXIT_INVALID and re.search(r'fd %d: bad inet state' % fd, err),
                  '%s (fd %d, byte %d = %d): ckpt-restore exit %d, %r; want %d, "bad inet state"'
                  % (what, fd, off, val, rc, err.strip(), EXIT_INVALID))
    # data length other than the struct's
    with open(img, 'wb') as f:
        f.write(pristine)
    ctx.tool([patch, img, 'fd', '10', 'data_len', '72'], expect=0)
    rc, _, err = ctx.tool([ctx.b.ckpt_restore, img])
    ctx.check(rc == EXIT_INVALID, 'short inet data: ckpt-restore exit %d, %r' % (rc, err.strip()))


@case('server_bad_image_unix')
def server_bad_image_unix(ctx):
    """an image whose named unix socket state is malformed (state, name, mode, type) is
    refused, exit 9"""
    patch = os.path.join(ctx.b.dir, 'tests', 'fds', 'fd_imgpatch')
    if not os.access(patch, os.X_OK):
        raise CaseSkip('fd_imgpatch is not built')
    d = os.path.join(ctx.tmp, 'unix')
    os.mkdir(d)
    ext_path = os.path.join(d, 'ext.sock')
    ext = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    ext.bind(ext_path)
    ext.listen(1)
    orig = ctx.start([python3(), os.path.join(HERE, 'unix_prog.py'), d,
                      'ckpt-test-%d-%d' % (os.getpid(), time.monotonic_ns()), ext_path])
    ext_conn, _ = ext.accept()      # accepted: the client's peer is a named socket
    img = ctx.checkpoint(orig)
    ctx.kill(orig)
    ext_conn.close()
    ext.close()
    fds = dict(kv.split('=') for kv in
               [l for l in orig.lines() if l.startswith('fds ')][0].split()[1:])
    lp, ab, dg, cl = (int(fds[k]) for k in ('listen', 'abstract', 'dgram', 'client'))
    with open(img, 'rb') as f:
        pristine = f.read()
    # struct ckpt_fd_unix: peer_ino 0, type 8, shutdown 12, ..., nr_msgs 32, state 36,
    # queued 40; struct ckpt_unix_name at 48: len 48, mode 52, backlog 56, pending 60,
    # name 64 (108 bytes), pad 172
    for fd, off, size, val, what in ((lp, 36, 4, 9, 'unknown state'),
                                     (lp, 48, 4, 0, 'empty name'),
                                     (lp, 48, 4, 109, 'name longer than sun_path'),
                                     (lp, 64, 1, ord('r'), 'relative path'),
                                     (lp, 52, 4, 0o100644, 'mode of a regular file'),
                                     (lp, 8, 4, 2, 'listening datagram socket'),
                                     (lp, 56, 4, 0x80000000, 'backlog over INT_MAX'),
                                     (ab, 52, 4, 0o140600, 'mode on an abstract name'),
                                     (dg, 36, 4, 0, 'bound socket read as a pair'),
                                     (dg, 32, 4, 7, 'more datagrams than saved'),
                                     (cl, 0, 8, 12345, 'reset socket with a peer'),
                                     (cl, 172, 4, 1, 'padding set')):
        with open(img, 'wb') as f:
            f.write(pristine)
        ctx.tool([patch, img, 'data', str(fd), str(off), str(size), str(val)], expect=0)
        rc, _, err = ctx.tool([ctx.b.ckpt_restore, img])
        ctx.check(rc == EXIT_INVALID and re.search(r'fd %d: bad unix state' % fd, err),
                  '%s (fd %d, byte %d = %d): ckpt-restore exit %d, %r; want %d, "bad unix state"'
                  % (what, fd, off, val, rc, err.strip(), EXIT_INVALID))
    with open(img, 'wb') as f:
        f.write(pristine)
    ctx.tool([patch, img, 'fd', str(lp), 'data_len', '48'], expect=0)
    rc, _, err = ctx.tool([ctx.b.ckpt_restore, img])
    ctx.check(rc == EXIT_INVALID, 'short unix data: ckpt-restore exit %d, %r' % (rc, err.strip()))
