# SPDX-License-Identifier: MIT
"""Servers and sockets: TCP/UDP sockets of every supported state (inet_prog.py), TCP
connections of a program to itself with bytes queued both ways (tcp_pair_prog.py), python3's
http.server with a client before and after the restore, sqlite3 with a transaction open
across the checkpoint (sqlite_prog.py), redis-server if installed; refusals of raw and
netlink sockets; a taken port and a malformed image at restore."""
import ctypes
import glob
import json
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
    for what in ('listener accepts', 'udp exchanges', 'conn exchanges', 'queued reset:'):
        ctx.check(any(l.startswith(what) for l in out), 'restored program never printed %r' % what)
    addr = [l.split() for l in res['orig'].lines() if l.startswith('addr ')][0]
    host = '[%s]' % addr[1] if v6 else addr[1]
    port = addr[2]
    # one line for the connection whose other end is no fd (waiting to be accepted), naming
    # the fd and both addresses; the connection of conn and peer comes back
    h, any_port, lport = re.escape(host), r':\d+', ':' + port
    rx = (r'fd 13: TCP connection %s -> %s \(ESTABLISHED at the checkpoint\) is not '
          r'restored: it reads as reset by the peer \(ECONNRESET\)' % (h + any_port, h + lport))
    ctx.check(len(re.findall(rx, err)) == 1, 'ckpt-restore did not log fd 13 once as /%s/:\n%s'
              % (rx, err))
    ctx.check(re.search(r'fd 10: 1 connection waiting to be accepted on %s:%s at the checkpoint '
                        r'is lost' % (re.escape(host), port), err),
              'ckpt-restore did not warn about the lost queued connection:\n%s' % err)
    ctx.check(len(err.strip().splitlines()) == 2, 'ckpt-restore printed more than the 2 '
              'expected warnings:\n%s' % err)
    ctx.note([l for l in err.splitlines() if 'fd 13' in l][0])


@case('server_inet')
def server_inet(ctx):
    """IPv4: listening TCP (same port, options, O_NONBLOCK), bound and connected UDP, a fresh
    socket are rebuilt; the program's connection to itself comes back (its client end's
    TIME_WAIT left by the killed original is passed); the connection waiting in the accept
    queue comes back reset, one line; the queued one is lost"""
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
    """checkpoint the restored program (one connection now reset, one rebuilt), kill it,
    restore that image: the listener, UDP sockets and the rebuilt connection work again"""
    argv = [python3(), os.path.join(HERE, 'inet_prog.py'), '60']
    orig = ctx.start(argv)
    orig.wait_tick(4, ctx.left(10))
    t0 = last_tick(orig.lines())
    img1 = ctx.checkpoint(orig)
    ctx.kill(orig)
    r1 = ctx.restore(img1, name='first restore')
    r1.wait_line('queued reset', ctx.left(10))
    ctx.check('conn exchanges' in r1.lines(), 'conn and peer did not exchange after the first '
              'restore')
    t1 = r1.wait_tick(t0 + 3, ctx.left(10))
    img2 = ctx.checkpoint(r1)
    ctx.kill_restored(r1)
    check_no_fail(ctx, r1)
    r2 = ctx.restore(img2, name='second restore')
    finish_restored(ctx, r2, t1, last_tick(r1.lines()), final=60)
    out = r2.lines()
    ctx.check('listener accepts' in out and 'udp exchanges' in out and 'conn exchanges' in out,
              'the second restore did not check the listener, UDP sockets and connection')
    ctx.check(t0 < t1, 'ticks did not advance')


# --- TCP connections of the program to itself ---------------------------------------

def _pair_argv(*modes, ticks=40):
    return [python3(), os.path.join(HERE, 'tcp_pair_prog.py'), str(ticks)] + list(modes)


def _fds_of(proc):
    return dict(kv.split('=') for kv in
                [l for l in proc.lines() if l.startswith('fds ')][0].split()[1:])


def _info_inet(ctx, img):
    """fd number -> the inet members of ckpt-info --json for the image."""
    _, out, _ = ctx.tool([os.path.join(ctx.b.dir, 'tools', 'ckpt-info'), '--json',
                          '--no-backtrace', img], expect=0)
    return {f['fd']: f for f in json.loads(out)['fds'] if f['kind'] == 'inet'}


def _pair(ctx, modes, what):
    res = run_case(ctx, _pair_argv(*modes), start_tick=5)
    r = res['restored'][0]
    out = r.lines()
    err = restore_stderr(r)
    for w in what:
        ctx.check(any(l.startswith(w) for l in out), 'restored program never printed %r' % w)
    ctx.check(not err.strip(), 'ckpt-restore warned:\n%s' % err)
    fds = _fds_of(res['orig'])
    info = _info_inet(ctx, res['images'][0][0])
    for n in ('client', 'server', 'hclient', 'hserver'):
        f = info[int(fds[n])]
        ctx.check(f['state'] == 'connection' and f['tcp_state'] in
                  {'client': ('ESTABLISHED',), 'server': ('ESTABLISHED',),
                   'hclient': ('FIN_WAIT1', 'FIN_WAIT2'), 'hserver': ('CLOSE_WAIT',)}[n],
                  'ckpt-info shows %s (fd %s) as %s, %s' % (n, fds[n], f['state'],
                                                            f['tcp_state']))
    c, sv = info[int(fds['client'])], info[int(fds['server'])]
    ctx.check(c['received'] == 16 and (sv['received'] == 16 or 'big' in modes),
              'ckpt-info: client and server had %d and %d bytes unread, want 16 each' %
              (c['received'], sv['received']))
    ctx.check(info[int(fds['hserver'])]['received'] == 4, 'hserver had not "half" queued')
    return res, info, fds


@case('server_tcp_pair')
def server_tcp_pair(ctx):
    """tcp_pair_prog.py: a loopback connection of the program to itself with two messages
    unread each way at the checkpoint comes back on the same fds and addresses with exactly
    those bytes, its options (TCP_NODELAY, keepalive, buffer sizes, TCP_USER_TIMEOUT,
    SO_LINGER), and goes on; a half-closed one (FIN_WAIT2 / CLOSE_WAIT) keeps its "half" and
    end of file; no warning"""
    res, info, fds = _pair(ctx, [], ('pair continues', 'half closed kept'))
    ctx.note('client %s, server %s: %d and %d bytes unread' % (
        info[int(fds['client'])]['local'], info[int(fds['server'])]['local'],
        info[int(fds['client'])]['received'], info[int(fds['server'])]['received']))


@case('server_tcp_pair_v6_late')
def server_tcp_pair_v6_late(ctx):
    """the same over ::1, with the listener at a higher fd than its accepted connections (it
    is built first, for them) and SO_REUSEADDR on it and them"""
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
            s.bind(('::1', 0))
    except OSError as e:
        raise CaseSkip('no IPv6 loopback: %s' % e)
    _pair(ctx, ['v6', 'late', 'reuse'], ('pair continues', 'half closed kept'))


@case('server_tcp_backlog')
def server_tcp_backlog(ctx):
    """1 MiB written by one end and not read by the other: most of it is in the writer's send
    queue (SIOCOUTQ > 0, read with TCP_REPAIR, which leaves the writer's SO_REUSEADDR as it
    was); after the restore the reader gets all of it, byte for byte, then the numbered
    messages"""
    res, info, fds = _pair(ctx, ['big', 'reuse'], ('backlog intact 1048576', 'pair continues',
                                                   'half closed kept'))
    outq = int([l for l in res['orig'].lines() if l.startswith('outq ')][0].split()[1])
    c = info[int(fds['client'])]
    ctx.check(outq > 0 and c['unacked'] > 0 and c['unacked_saved'] >= c['unacked'] and
              not c['send_queue_unread'],
              'want a send queue saved: outq %d, ckpt-info %s' % (outq, c))
    ctx.note('send queue at the checkpoint %d bytes (%d saved), %d bytes received not read' %
             (c['unacked'], c['unacked_saved'], info[int(fds['server'])]['received']))


@case('server_tcp_pair_chain')
def server_tcp_pair_chain(ctx):
    """checkpoint the restored program, kill it, restore that image: its rebuilt connections
    are saved and rebuilt again, with their bytes"""
    orig = ctx.start(_pair_argv(ticks=60))
    orig.wait_tick(4, ctx.left(10))
    t0 = last_tick(orig.lines())
    img1 = ctx.checkpoint(orig)
    ctx.kill(orig)
    r1 = ctx.restore(img1, name='first restore')
    r1.wait_line('half closed kept', ctx.left(10))
    t1 = r1.wait_tick(t0 + 3, ctx.left(10))
    img2 = ctx.checkpoint(r1)
    ctx.kill_restored(r1)
    check_no_fail(ctx, r1)
    r2 = ctx.restore(img2, name='second restore')
    finish_restored(ctx, r2, t1, last_tick(r1.lines()), final=60)
    ctx.check(any(l.startswith('pair continues') for l in r2.lines()),
              'the second restore did not go on with the connection')
    err = restore_stderr(r1) + restore_stderr(r2)
    ctx.check(not err.strip(), 'ckpt-restore warned:\n%s' % err)


@case('server_tcp_pair_alive')
def server_tcp_pair_alive(ctx):
    """the original still runs and holds the connection's addresses and ports (its listener
    closed): the restore fails with exit 11 naming the fd and the addresses; once it is
    killed, the same image restores"""
    orig = ctx.start(_pair_argv('nolisten'))
    orig.wait_tick(3, ctx.left(10))
    t0 = last_tick(orig.lines())
    img = ctx.checkpoint(orig)
    rc, _, err = ctx.tool([ctx.b.ckpt_restore, img])
    fds = _fds_of(orig)
    rx = (r'fd (%s|%s): cannot connect TCP 127\.0\.0\.1:\d+ -> 127\.0\.0\.1:\d+ again \(its '
          r'other end is fd \d+\): .*: (Address already in use|Cannot assign requested address)'
          % (fds['client'], fds['server']))
    ctx.check(rc == EXIT_ENV and re.search(rx, err), 'restore beside the original: exit %d, %r; '
              'want %d and /%s/' % (rc, err.strip(), EXIT_ENV, rx))
    ctx.note(err.strip().splitlines()[-1])
    orig.wait_tick(t0 + 2, ctx.left(10))
    check_no_fail(ctx, orig)
    ctx.kill(orig)
    finish_restored(ctx, ctx.restore(img), t0, last_tick(orig.lines()), final=40)


def _drop_net_admin():
    """preexec_fn: the program runs without CAP_NET_ADMIN (out of the bounding set)."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(24, 12, 0, 0, 0):     # PR_CAPBSET_DROP, CAP_NET_ADMIN
        raise OSError(ctypes.get_errno(), 'PR_CAPBSET_DROP')


@case('server_tcp_no_net_admin')
def server_tcp_no_net_admin(ctx):
    """without CAP_NET_ADMIN a send queue cannot be read: with 1 MiB not yet received by the
    other end the checkpoint fails naming the fd, addresses and bytes, and the program runs
    on; with only the usual bytes in flight the checkpoint and restore work"""
    orig = ctx.start(_pair_argv('big'), preexec_fn=_drop_net_admin)
    t = orig.wait_tick(3, ctx.left(10))
    with open('/proc/%d/status' % orig.pid) as f:
        capeff = int([l for l in f if l.startswith('CapEff:')][0].split()[1], 16)
    ctx.check(not capeff & (1 << 12), 'the program still has CAP_NET_ADMIN')
    fds = _fds_of(orig)
    rc, _, err = ctx.checkpoint(orig, expect=None)
    rx = (r'fd %s: TCP connection 127\.0\.0\.1:\d+ -> 127\.0\.0\.1:\d+: (\d+) bytes written are '
          r'not yet received by its other end \(fd %s\) and reading them needs CAP_NET_ADMIN '
          r'\(TCP_REPAIR\)' % (fds['client'], fds['server']))
    m = re.search(rx, err)
    ctx.check(rc == EXIT_CKPT and m and int(m.group(1)) > 0,
              'ckpt-ctl: exit %d, %r; want %d and /%s/' % (rc, err.strip(), EXIT_CKPT, rx))
    ctx.check(not glob.glob(os.path.join(ctx.img_dir, '*')), 'files left in the image directory')
    orig.wait_tick(t + 3, ctx.left(10))
    check_no_fail(ctx, orig)
    ctx.note(err.strip())
    ctx.kill(orig)
    # the same program without the backlog
    orig = ctx.start(_pair_argv(), name='second original', preexec_fn=_drop_net_admin)
    orig.wait_tick(5, ctx.left(10))
    t0 = last_tick(orig.lines())
    img = ctx.checkpoint(orig)
    ctx.kill(orig)
    r = ctx.restore(img)
    finish_restored(ctx, r, t0, last_tick(orig.lines()), final=40)
    ctx.check(any(l.startswith('pair continues') for l in r.lines()),
              'the restored program did not go on with the connection')


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
    # the restored server logs the requests it answered (to its stderr, ckpt-restore's),
    # each just after its answer went out
    end = time.monotonic() + ctx.left(5)
    while True:
        gets = [l for l in r.err.snapshot() if '"GET /file.bin HTTP/1.1" 200' in l]
        if len(gets) >= 10 or time.monotonic() >= end:
            break
        time.sleep(0.05)
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


def _start_unix_prog(ctx):
    """unix_prog.py in ctx.tmp/unix, with an outside listener (ext) it connects to; returns
    (dir, its listener path, its abstract name, ext, the process, its fds by name)."""
    d = os.path.join(ctx.tmp, 'unix')
    os.mkdir(d)
    abstract = 'ckpt-test-%d-%d' % (os.getpid(), time.monotonic_ns())
    ext_path = os.path.join(d, 'ext.sock')
    ext = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    ext.bind(ext_path)
    ext.listen(1)
    orig = ctx.start([python3(), os.path.join(HERE, 'unix_prog.py'), d, abstract, ext_path])
    fds = dict(kv.split('=') for kv in
               [l for l in orig.lines() if l.startswith('fds ')][0].split()[1:])
    return d, os.path.join(d, 'srv.sock'), abstract, ext, orig, fds


@case('server_unix')
def server_unix(ctx):
    """unix_prog.py: listeners on a path (mode 0640) and an abstract name come back and answer;
    queued datagrams of a bound datagram socket are kept; its connection to its own listener
    works (a pair); its client connection to another
    process and the idle connection of a client of ours come back reset, one line each"""
    d, path, abstract, ext, orig, fds = _start_unix_prog(ctx)
    ext_path = ext.getsockname()
    ext_conn, _ = ext.accept()
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
    d, path, abstract, ext, orig, fds = _start_unix_prog(ctx)
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
    img, t0, _ = ctx.checkpoint_and_kill(orig, 3, ticks_after=0)
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
    patch = ctx.b.imgpatch
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
                                     (16, 60, 2, 80, 'new socket with a peer'),
                                     # fd 11: a connection; struct ckpt_inet_conn at 80:
                                     # read_off 80, write_off 88, recv_len 96, send_len 104,
                                     # unacked 112, flags 120, sndbuf 124, rcvbuf 128,
                                     # peek_off 132, linger 136, keepidle 140, keepintvl 144,
                                     # keepcnt 148, user_timeout 152, cork 156
                                     (11, 20, 4, 2, 'connection in SYN_SENT'),
                                     (11, 72, 2, 0, 'connection without a peer port'),
                                     (11, 96, 8, 1 << 40, 'more bytes received than saved'),
                                     (11, 104, 8, 8, 'a send queue longer than the data'),
                                     (11, 120, 4, 2, 'unknown connection flag'),
                                     (11, 124, 4, 0, 'send buffer of 0'),
                                     (11, 132, 4, -2, 'peek offset -2'),
                                     (11, 156, 4, 2, 'TCP_CORK 2'),
                                     (12, 12, 4, 7, 'state beyond the last')):
        with open(img, 'wb') as f:
            f.write(pristine)
        ctx.tool([patch, img, 'data', str(fd), str(off), str(size), str(val)], expect=0)
        rc, _, err = ctx.tool([ctx.b.ckpt_restore, img])
        ctx.check(rc == EXIT_INVALID and re.search(r'fd %d: bad inet state' % fd, err),
                  '%s (fd %d, byte %d = %d): ckpt-restore exit %d, %r; want %d, "bad inet state"'
                  % (what, fd, off, val, rc, err.strip(), EXIT_INVALID))
    # data length other than the struct's; a connection without its ckpt_inet_conn
    for fd, n in ((10, 72), (11, 80)):
        with open(img, 'wb') as f:
            f.write(pristine)
        ctx.tool([patch, img, 'fd', str(fd), 'data_len', str(n)], expect=0)
        rc, _, err = ctx.tool([ctx.b.ckpt_restore, img])
        ctx.check(rc == EXIT_INVALID, 'short inet data (fd %d, %d bytes): ckpt-restore exit %d, '
                  '%r' % (fd, n, rc, err.strip()))


@case('server_tcp_unjoined')
def server_tcp_unjoined(ctx):
    """two saved ends whose queues do not join up (one end's write offset patched below what
    the other had received) come back reset, one line each saying why"""
    patch = ctx.b.imgpatch
    orig, img, _ = _checkpoint_killed(ctx, _pair_argv())
    fds = _fds_of(orig)
    # struct ckpt_inet_conn.write_off, after the 80 bytes of ckpt_fd_inet
    ctx.tool([patch, img, 'data', fds['client'], '88', '8', '0'], expect=0)
    r = ctx.restore(img)
    rx = (r'fd (%s|%s): TCP connection 127\.0\.0\.1:\d+ -> 127\.0\.0\.1:\d+ \(ESTABLISHED at the '
          r'checkpoint\) is not restored \(fd %s had received \d+ bytes more than fd %s had '
          r'written\): it reads as reset by the peer \(ECONNRESET\)' % (
              fds['client'], fds['server'], fds['server'], fds['client']))
    for n in ('client', 'server'):
        r.err.wait(lambda l, fd=fds[n]: re.search(rx, l) and ('fd %s:' % fd) in l,
                   ctx.left(10), 'a reset line for fd %s' % fds[n])
    r.out.wait(lambda l: l.startswith('resumed'), ctx.left(10), 'the program resuming')
    ctx.note([l for l in r.err.snapshot() if 'fd %s:' % fds['client'] in l][0])
    # the program finds its connection reset (getpeername fails): it exits
    rc = r.wait(ctx.left(10))
    ctx.check(rc != 0, 'the program did not notice its connection reset')


@case('server_bad_image_unix')
def server_bad_image_unix(ctx):
    """an image whose named unix socket state is malformed (state, name, mode, type) is
    refused, exit 9"""
    patch = ctx.b.imgpatch
    d, path, abstract, ext, orig, fds = _start_unix_prog(ctx)
    ext_conn, _ = ext.accept()      # accepted: the client's peer is a named socket
    img = ctx.checkpoint(orig)
    ctx.kill(orig)
    ext_conn.close()
    ext.close()
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
